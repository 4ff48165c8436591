-- Linear layers (runtime/core/ks_nn_linear.c: OpenBLAS GEMMs split in
-- size-determined column blocks, the bias gradient):
-- forward and gradients against a plain matmul formulation at shapes with
-- odd remainders, and bit-identical results for 1 and 2 threads.
local ks = require "kshot"
local F = ks.functional

local function max_rel_diff(a, b)
  return ((a - b):abs():max() / (b:abs():max() + 1e-6)):item()
end

local function same(a, b)
  assert.same(a:shape(), b:shape())
  assert.same(a:totable(), b:totable())
end

-- {rows M, in K, out N}: MLP layers at batch 32, odd remainders, the CNN head,
-- a large batch (OpenBLAS forward), tiny reductions
local shapes = {
  {32, 784, 256}, {32, 256, 128}, {7, 29, 37}, {5, 100, 17}, {3, 8, 20}, {33, 1000, 33}, {2, 3136, 128},
  {128, 784, 40}, {1, 17, 19}, {4, 9, 300},
}

local function run(M, K, N)
  ks.manual_seed(M * 1000 + K + N)
  local x = ks.randn(M, K):requires_grad_()
  local w = ks.randn(N, K):requires_grad_()
  local b = ks.randn(N):requires_grad_()
  local gy = ks.randn(M, N)
  local y = F.linear(x, w, b)
  y:backward(gy)
  return x, w, b, gy, y
end

describe("linear: the layer's kernels agree with matmul", function()
  local n0
  before_each(function() n0 = ks.get_num_threads() end)
  after_each(function() ks.set_num_threads(n0) end)

  for _, s in ipairs(shapes) do
    local M, K, N = s[1], s[2], s[3]
    it(string.format("forward and gradients at %dx%d -> %d", M, K, N), function()
      local x, w, b, gy, y = run(M, K, N)
      local ref = ks.no_grad(function() return x:matmul(w:t()) + b end)
      assert.is_true(max_rel_diff(y:detach(), ref) < 1e-5)
      assert.is_true(max_rel_diff(x.grad, gy:matmul(w:detach())) < 1e-5)
      assert.is_true(max_rel_diff(w.grad, gy:t():matmul(x:detach())) < 1e-5)
      assert.is_true(max_rel_diff(b.grad, gy:sum(0)) < 1e-5)
    end)

    it(string.format("same bits for 1 and 2 threads at %dx%d -> %d", M, K, N), function()
      ks.set_num_threads(1)
      local x1, w1, b1, _, y1 = run(M, K, N)
      ks.set_num_threads(2)
      local x2, w2, b2, _, y2 = run(M, K, N)
      same(y1:detach(), y2:detach())
      same(x1.grad, x2.grad)
      same(w1.grad, w2.grad)
      same(b1.grad, b2.grad)
    end)
  end

  it("a fresh output holding NaN is overwritten, not accumulated into", function()
    -- outputs are written (beta = 0), never accumulated into; repeated steps
    -- reuse freed blocks, so a NaN left in one must not leak into the next
    local w = ks.randn(64, 48):requires_grad_()
    for _ = 1, 3 do
      local x = ks.full({32, 48}, 0 / 0)
      F.linear(x, w):sum():backward()
    end
    w.grad = nil
    local x = ks.ones(32, 48)
    local y = F.linear(x, w)
    y:sum():backward()
    assert.is_false(y:isnan():any():item())
    assert.is_false(w.grad:isnan():any():item())
    local ref = ks.no_grad(function() return x:matmul(w:t()) end)
    assert.is_true(max_rel_diff(y:detach(), ref) < 1e-5)
  end)
end)

describe("linear with zero-size dims", function()
  it("handles 0 input features, 0 rows and 0 outputs, forward and backward, without a crash", function()
    local x = ks.zeros(3, 0):requires_grad_()
    local w = ks.zeros(4, 0):requires_grad_()
    local b = ks.ones(4):requires_grad_()
    local y = F.linear(x, w, b)
    assert.same({{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}}, y:totable())
    y:sum():backward()
    assert.same({3, 0}, x.grad:shape())
    assert.same({4, 0}, w.grad:shape())
    assert.same({3, 3, 3, 3}, b.grad:totable())
    assert.same({{0, 0}}, F.linear(ks.zeros(1, 0), ks.zeros(2, 0)):totable())
    local x0 = ks.zeros(0, 5)
    local w0 = ks.ones(2, 5):requires_grad_()
    F.linear(x0, w0):sum():backward()
    assert.same({{0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}}, w0.grad:totable())
    assert.same({2, 0}, F.linear(ks.zeros(2, 3), ks.zeros(0, 3)):shape())
  end)
end)
