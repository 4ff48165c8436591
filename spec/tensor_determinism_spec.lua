-- Reductions give bit-identical results with 1 and 2 threads: chunk
-- boundaries depend only on sizes and partials are combined in order.
local ks = require "kshot"

local bits = require "spec.helpers.same_bits"

-- run f with 1 and then 2 threads; every returned tensor must match bit for bit
local function same_bits(f)
  local one, two = bits.with_threads(f)
  assert.equal(#one, #two)
  for k = 1, #one do bits.assert_same(one[k], two[k], ("output %d (1 vs 2 threads)"):format(k)) end
  return one
end

describe("reductions are bit-identical for 1 and 2 threads", function()
  local x, m
  setup(function()
    ks.manual_seed(1234)
    x = ks.randn(1000000) * 3 + 1
    m = x:reshape(1000, 1000)
  end)

  it("over all 10^6 elements", function()
    local r = same_bits(function()
      return x:sum(), x:mean(), x:var(), x:std(nil, 0), x:norm(), x:norm(1), x:norm(3), x:logsumexp(),
             x:amax(), x:argmin(), x:prod(), x:count_nonzero(), x:var_mean()
    end)
    -- sanity: the values are what the data says (mean ~ 1, std ~ 3)
    assert.is_true(math.abs(r[2]:item() - 1) < 0.02)
    assert.is_true(math.abs(r[4]:item() - 3) < 0.02)
  end)

  it("over each dim of a 1000 x 1000 matrix and of its transpose", function()
    same_bits(function()
      local v, mu = m:std_mean(0)
      return m:sum(0), m:sum(1), m:mean(0), m:var(1), m:norm(2, 0), m:logsumexp(1), m:amax(0), v, mu, m:max(1)
    end)
    same_bits(function()
      local t = m:t()
      return t:sum(0), t:sum(1), t:var(0, 0), t:logsumexp(0), select(2, t:min(1))
    end)
  end)

  it("over a few long rows and many short ones", function()
    same_bits(function()
      local few, many = x:reshape(4, 250000), x:reshape(250000, 4)
      return few:sum(1), few:var(1), few:norm(2, 1), few:logsumexp(1), many:sum(0), many:mean(0), many:std(0),
             many:sum(1), select(2, few:max(1))
    end)
  end)

  it("for cumsum and cumprod", function()
    same_bits(function()
      return x:cumsum(0), m:cumsum(0), m:cumsum(1), m:t():cumsum(1), (m / 100 + 1):cumprod(1)
    end)
  end)

  it("even on order-sensitive data (huge cancelling values)", function()
    -- 2^60 first, -2^60 last, 0.1 between: each partial added to +-2^60 is
    -- rounded, so any other combination order changes the float32 result
    local vals = {}
    for i = 1, 300000 do vals[i] = 0.1 end
    vals[1], vals[300000] = 2 ^ 60, -2 ^ 60
    local t = ks.tensor(vals)
    local r = same_bits(function() return t:sum(), t:mean(), t:norm(1), t:var(), t:logsumexp() end)
    assert.is_true(math.abs(r[1]:item() - 30000) < 5000)
  end)

  it("and accurate: the float32 sum is accumulated in double", function()
    local v = ks.ones(3000000) * 0.1
    local want = 0
    local tenth = ks.tensor(0.1):item()
    for _ = 1, 3000000 do want = want + tenth end
    local got = same_bits(function() return v:sum() end)[1]:item()
    assert.is_true(math.abs(got - want) <= 1e-7 * want, "sum " .. got .. " vs " .. want)
  end)
end)

describe("matrix products and convolutions are bit-identical for 1 and 2 threads", function()
  -- OpenBLAS's own threads change the rounding with the thread count (a
  -- 64x784x288 sgemm differs between 1 and 2 threads), so kshot keeps it
  -- single-threaded and splits products into size-determined blocks itself
  local F = ks.functional

  it("matmul: small, mid-sized, huge, few columns, vector and batched", function()
    ks.manual_seed(7)
    local a, b = ks.randn(64, 288), ks.randn(288, 784)
    local big_a, big_b = ks.randn(600, 700), ks.randn(700, 500)      -- 2.1e8 multiply-adds: many blocks
    local tall, narrow = ks.randn(20000, 400), ks.randn(400, 10)      -- 8e7, 10 columns: blocks of rows
    local v = ks.randn(700)
    local ba, bb = ks.randn(6, 40, 50), ks.randn(6, 50, 30)
    same_bits(function()
      return a:matmul(b), b:t():matmul(a:t()), big_a:matmul(big_b), big_a:t():matmul(big_a), tall:matmul(narrow),
             big_a:matmul(v), ba:matmul(bb), ks.cdist(a:narrow(0, 0, 60), a:narrow(0, 4, 60))
    end)
  end)

  it("linear: forward and gradients, mid-sized and huge (a test-set chunk through a 3136 -> 128 layer)", function()
    for _, s in ipairs { { 32, 3136, 128 }, { 1000, 3136, 128 }, { 5000, 400, 10 } } do
      ks.manual_seed(3)
      local x, w0, b0 = ks.randn(s[1], s[2]), ks.randn(s[3], s[2]) * 0.02, ks.randn(s[3])
      same_bits(function()
        local w, b = w0:clone():requires_grad_(), b0:clone():requires_grad_()
        local y = F.linear(x, w, b)
        y:pow(2):sum():backward()
        return y:detach(), w.grad, b.grad
      end)
    end
  end)

  it("conv2d: forward, input and weight gradients, one-image and multi-image blocks, groups", function()
    ks.manual_seed(11)
    local cases = {
      { x = { 32, 9, 28, 28 }, w = { 32, 9, 3, 3 }, o = { padding = 1 } },   -- one image per block
      { x = { 32, 32, 14, 14 }, w = { 64, 32, 3, 3 }, o = { padding = 1 } }, -- several images per block, 4 waves
      { x = { 20, 4, 9, 9 }, w = { 6, 2, 3, 3 }, o = { groups = 2, stride = 2 } },
    }
    for _, cs in ipairs(cases) do
      local x0, w0 = ks.randn(table.unpack(cs.x)), ks.randn(table.unpack(cs.w)) * 0.1
      same_bits(function()
        local x, w = x0:clone():requires_grad_(), w0:clone():requires_grad_()
        local y = F.conv2d(x, w, nil, cs.o)
        y:pow(2):sum():backward()
        return y:detach(), x.grad, w.grad
      end)
      same_bits(function() -- inference: no columns kept
        return ks.no_grad(function() return F.conv2d(x0, w0, nil, cs.o) end)
      end)
    end
  end)
end)
