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
