-- Batch norm, max pool and dropout kernels (runtime/core/ks_nn_norm.c,
-- ks_nn_pool.c, ks_nn_dropout.c): values and gradients against plain Lua
-- references computed in double, bit-identical results for 1 and 2 threads,
-- and the dropout mask tied to the generator stream (the same draws as rand).
local ks = require "kshot"
local F = ks.functional

local bits = require "spec.helpers.same_bits"
local function flat(t) return t:reshape(-1):totable() end
local with_threads = bits.with_threads
local function same_bits(a, b, what) bits.assert_same(a, b, what) end

local function max_abs_diff(got, want)
  local worst = 0
  for i = 1, #want do worst = math.max(worst, math.abs(got[i] - want[i])) end
  return worst
end

-- batch norm in training mode, in double: y, batch mean, biased var, and the
-- gradients for upstream gradient gy (x, gy, w, b flat tables; x is [N, C, S])
local function bn_reference(x, gy, w, b, N, C, S, eps)
  local y, dx, dw, db, mean, var = {}, {}, {}, {}, {}, {}
  local M = N * S
  local function at(n, c, s) return (n * C + c) * S + s + 1 end
  for c = 0, C - 1 do
    local s1 = 0
    for n = 0, N - 1 do for s = 0, S - 1 do s1 = s1 + x[at(n, c, s)] end end
    local m = s1 / M
    local s2 = 0
    for n = 0, N - 1 do for s = 0, S - 1 do s2 = s2 + (x[at(n, c, s)] - m) ^ 2 end end
    local v = s2 / M
    local inv = 1 / math.sqrt(v + eps)
    local sg, sgx = 0, 0
    for n = 0, N - 1 do
      for s = 0, S - 1 do
        local k = at(n, c, s)
        local xh = (x[k] - m) * inv
        y[k] = xh * w[c + 1] + b[c + 1]
        sg = sg + gy[k]
        sgx = sgx + gy[k] * xh
      end
    end
    for n = 0, N - 1 do
      for s = 0, S - 1 do
        local k = at(n, c, s)
        local xh = (x[k] - m) * inv
        dx[k] = w[c + 1] * inv * (gy[k] - sg / M - xh * sgx / M)
      end
    end
    mean[c + 1], var[c + 1], dw[c + 1], db[c + 1] = m, v, sgx, sg
  end
  return y, dx, dw, db, mean, var
end

-- forward + backward of training-mode batch norm with upstream gradient gy
local function bn_run(x0, w0, b0, gy)
  local C = x0:shape()[2]
  local x, w, b = x0:clone():requires_grad_(), w0:clone():requires_grad_(), b0:clone():requires_grad_()
  local rm, rv = ks.zeros(C), ks.ones(C)
  local y = F.batch_norm(x, rm, rv, w, b, {training = true, momentum = 1})
  ;(y * gy):sum():backward()
  return y, x.grad, w.grad, b.grad, rm, rv
end

describe("batch_norm kernel", function()
  it("matches a double reference on data with a large offset (two-pass statistics)", function()
    -- S = 37 and 300 exercise partial lane groups; 1000 + 10 x needs the centred second pass
    for _, shp in ipairs({{4, 3, 37}, {3, 2, 300}, {5, 4, 1}}) do
      local N, C, S = shp[1], shp[2], shp[3]
      ks.manual_seed(N * 100 + S)
      local x0 = ks.randn(N, C, S) * 10 + 1000
      local w0, b0, gy = ks.randn(C) * 0.2 + 1, ks.randn(C), ks.randn(N, C, S)
      local y, dx, dw, db, rm, rv = bn_run(x0, w0, b0, gy)
      local ry, rdx, rdw, rdb, rmean, rvar = bn_reference(flat(x0), flat(gy), flat(w0), flat(b0), N, C, S, 1e-5)
      assert.is_true(max_abs_diff(flat(y), ry) < 1e-5, "y")
      local M = N * S
      for c = 1, C do
        assert.is_true(math.abs(flat(rm)[c] - rmean[c]) < 1e-4, "running_mean")   -- float32 ulp at 1000 is 6e-5
        local unbiased = rvar[c] * M / (M - 1)
        assert.is_true(math.abs(flat(rv)[c] - unbiased) < 1e-5 * unbiased, "running_var")
      end
      assert.is_true(max_abs_diff(flat(dx), rdx) < 1e-5, "dx")
      assert.is_true(max_abs_diff(flat(dw), rdw) < 1e-4, "dweight")
      assert.is_true(max_abs_diff(flat(db), rdb) < 1e-4, "dbias")
    end
  end)

  it("gives bit-identical outputs, statistics and gradients for 1 and 2 threads", function()
    ks.manual_seed(7)
    local x0 = ks.randn(32, 64, 14, 14) * 3 + 5
    local w0, b0, gy = ks.randn(64), ks.randn(64), ks.randn(32, 64, 14, 14)
    local one, two = with_threads(function() return bn_run(x0, w0, b0, gy) end)
    local names = {"y", "dx", "dweight", "dbias", "running_mean", "running_var"}
    for k = 1, #names do same_bits(one[k], two[k], names[k]) end
    -- a 2-D [N, C] input (planes of one element)
    local x2, gy2 = ks.randn(4096, 64) * 2 - 1, ks.randn(4096, 64)
    one, two = with_threads(function() return bn_run(x2, w0, b0, gy2) end)
    for k = 1, #names do same_bits(one[k], two[k], "2-D " .. names[k]) end
    -- eval mode, no affine parameters, a 2-D input
    local xe = ks.randn(4096, 64)
    local rm, rv = ks.randn(64), ks.rand(64) + 0.5
    one, two = with_threads(function() return F.batch_norm(xe, rm, rv, nil, nil, {training = false}) end)
    same_bits(one[1], two[1], "eval y")
  end)

  it("keeps its errors", function()
    local ok, err = pcall(F.batch_norm, ks.ones(4, 3, 2), ks.zeros(3), ks.ones(3), ks.ones(5))
    assert.is_false(ok)
    assert.matches("weight of shape %[5%] does not match input %[4, 3, 2%]", err)
    ok, err = pcall(F.batch_norm, ks.ones(1, 3), ks.zeros(3), ks.ones(3), nil, nil, {training = true})
    assert.is_false(ok)
    assert.matches("more than 1 value per channel", err)
    ok, err = pcall(F.batch_norm, ks.ones(4, 3, 2):long(), ks.zeros(3), ks.ones(3))
    assert.is_false(ok)
    assert.matches("float32", err)
  end)
end)

describe("max_pool2d 2x2 kernel", function()
  -- first maximum in scan order (strict >), a NaN wins and stops the scan
  local function pool_reference(x, P, H, W)
    local Ho, Wo = H // 2, W // 2
    local y, idx = {}, {}
    for p = 0, P - 1 do
      for oy = 0, Ho - 1 do
        for ox = 0, Wo - 1 do
          local best, bi
          for _, o in ipairs({{0, 0}, {0, 1}, {1, 0}, {1, 1}}) do
            local i = (2 * oy + o[1]) * W + 2 * ox + o[2]
            local v = x[p * H * W + i + 1]
            if bi == nil or v > best or v ~= v then best, bi = v, i end
            if v ~= v then break end
          end
          y[#y + 1], idx[#idx + 1] = best, p * H * W + bi + 1
        end
      end
    end
    return y, idx
  end

  it("matches a reference with ties, NaN and odd sizes, forward and backward", function()
    -- integer data in 0..2 ties often; W = 21 leaves a tail after groups of 4 cells
    for _, shp in ipairs({{2, 3, 10, 21}, {1, 2, 7, 9}, {3, 1, 16, 16}}) do
      local N, C, H, W = shp[1], shp[2], shp[3], shp[4]
      ks.manual_seed(H * W)
      local x0 = ks.randint(0, 3, {N, C, H, W}):float()
      local xt = flat(x0)
      xt[W + 4] = 0 / 0 -- a NaN in plane 0, second input row
      x0 = ks.tensor(xt):reshape(N, C, H, W)
      local x = x0:clone():requires_grad_()
      local y = F.max_pool2d(x, 2)
      local gy = ks.randn(table.unpack(y:shape()))
      ;(y * gy):sum():backward()
      local ry, ridx = pool_reference(xt, N * C, H, W)
      same_bits(y, ks.tensor(ry):reshape(table.unpack(y:shape())), "y")
      local rdx, g = {}, flat(gy)
      for i = 1, #xt do rdx[i] = 0 end
      for k = 1, #ridx do rdx[ridx[k]] = rdx[ridx[k]] + g[k] end
      same_bits(x.grad, ks.tensor(rdx):reshape(N, C, H, W), "dx")
    end
  end)

  it("is bit-identical for 1 and 2 threads", function()
    ks.manual_seed(5)
    local x0 = ks.randn(32, 32, 28, 28)
    local gy = ks.randn(32, 32, 14, 14)
    local one, two = with_threads(function()
      local x = x0:clone():requires_grad_()
      local y = F.max_pool2d(x, 2)
      ;(y * gy):sum():backward()
      return y, x.grad
    end)
    same_bits(one[1], two[1], "y")
    same_bits(one[2], two[2], "dx")
  end)
end)

describe("dropout kernel", function()
  it("draws its mask from the generator stream (keep where rand >= p)", function()
    local n, p = 4099, 0.3 -- not a multiple of 4: the last Philox block is partial
    ks.manual_seed(11)
    local x = ks.randn(n) -- consumes the same blocks as rand(n)
    local y = F.dropout(x, p, true)
    ks.manual_seed(11)
    ks.randn(n)
    local u2 = flat(ks.rand(n)) -- the draws dropout used
    local xs, ys = flat(x), flat(y)
    local scale = ks.tensor({1 / (1 - p)}):item()
    local kept = 0
    for i = 1, n do
      local want = u2[i] >= p and ks.tensor({xs[i]}):mul(scale):item() or 0
      if ys[i] ~= want then error(("element %d: %.9g, want %.9g"):format(i, ys[i], want)) end
      if u2[i] >= p then kept = kept + 1 end
    end
    assert.is_true(kept > 0.65 * n and kept < 0.75 * n)
  end)

  it("is bit-identical for 1 and 2 threads and its gradient is the mask", function()
    local x0 = ks.randn(32, 3136)
    local gy = ks.randn(32, 3136)
    local one, two = with_threads(function()
      ks.manual_seed(99)
      local x = x0:clone():requires_grad_()
      local y = F.dropout(x, 0.3, true)
      ;(y * gy):sum():backward()
      return y, x.grad
    end)
    same_bits(one[1], two[1], "y")
    same_bits(one[2], two[2], "dx")
    -- dx = gy * mask, y = x * mask: mask = where(y ~= 0) 1/(1-p)
    local mask = one[1]:ne(0):float() * ks.tensor({1 / 0.7}):item()
    same_bits(one[2], gy * mask, "dx vs mask")
  end)

  it("p = 1 zeroes everything; p outside [0, 1] is an error", function()
    local y = F.dropout(ks.randn(10), 1, true)
    assert.same(flat(ks.zeros(10)), flat(y))
    local ok, err = pcall(F.dropout, ks.ones(3), -0.1, true)
    assert.is_false(ok)
    assert.matches("between 0 and 1", err)
  end)
end)
