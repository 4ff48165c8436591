-- The one-call paths of session 13 (h74) under ks.linalg's single-matrix calls (ks.linalg._plain_*,
-- bindings/ks_lua_lapack.c), unbind and the two-vector meshgrid (ks._unbind, ks._meshgrid2), the
-- number form of ks.normal (ks._normal) and cov / corrcoef without gradient (ks._cov, ks._corrcoef:
-- runtime/core/ks_cov.c). Each must give the general path's values to the bit (the general path is
-- forced with a batch of one matrix, an options table or an input that requires grad), keep its
-- errors and leave gradients to the differentiable composition. Exact values are torch 1.13's.
local ks = require "kshot"
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of
local L = ks.linalg

-- same shape and every element equal to the bit (NaN to NaN, -0 to -0)
local function same(a, b)
  assert.are.same(b:shape(), a:shape())
  local fa, fb = a:reshape(-1):totable(), b:reshape(-1):totable()
  for i = 1, #fb do
    local x, y = fa[i], fb[i]
    local eq = (x == y and (x ~= 0 or 1 / x == 1 / y)) or (x ~= x and y ~= y)
    if not eq then error(string.format("element %d: %.9g vs %.9g", i - 1, x, y), 2) end
  end
end

-- the general path's answer: the op on a [1, m, n] stack of the one matrix, its batch dim removed
local function batched(f, a, ...)
  local rs = table.pack(f(a:unsqueeze(0), ...))
  for i = 1, rs.n do rs[i] = rs[i][0] end
  return table.unpack(rs, 1, rs.n)
end

describe("linalg on one plain matrix", function()
  local S = ks.tensor({{4, 2, 0.5}, {2, 3, 0.25}, {0.5, 0.25, 2}})
  local G = ks.tensor({{1.5, -2, 0.3}, {0.7, 2.2, -1}, {3, 0.1, 0.9}})

  it("equals the batched general path to the bit (also strided)", function()
    for _, a in ipairs({S, G:t(), S:t():contiguous():t()}) do
      local sym = (a + a:t()) * 0.5 + ks.eye(3) * 4
      same(L.det(a), batched(L.det, a))
      same(L.inv(a), batched(L.inv, a))
      same(L.solve(a, ks.tensor({1, -2, 0.5})), batched(L.solve, a, ks.tensor({{1, -2, 0.5}})))
      same(L.solve(a, G[{{}, {0, 2}}]), batched(L.solve, a, G[{{}, {0, 2}}]))
      same(L.cholesky(sym), batched(L.cholesky, sym))
      local w, v = L.eigh(sym)
      local bw, bv = batched(L.eigh, sym)
      same(w, bw)
      same(v, bv)
      same(L.eigvalsh(sym), bw)
      local u, s, vh = L.svd(a)
      local bu, bs, bvh = batched(L.svd, a)
      same(u, bu); same(s, bs); same(vh, bvh)
      same(L.svdvals(a), batched(L.svdvals, a))
    end
    local u, s, vh = L.svd(G[{{0, 2}}]) -- [2, 3]: U [2, 2], S [2], Vh [3, 3] (full matrices)
    assert.are.same({{2, 2}, {2}, {3, 3}}, {u:shape(), s:shape(), vh:shape()})
    same(L.svdvals(G[{{0, 2}}]), s)
  end)

  it("gives torch's values and shapes", function()
    close({2, 0, 1, math.sqrt(2)}, L.cholesky(ks.tensor({{4, 2}, {2, 3}})))
    close({1, 3}, L.eigvalsh(ks.tensor({{2, 1}, {1, 2}})))
    close({4, 3}, L.svdvals(ks.tensor({{3, 0}, {0, 4}})))
    close({0.6, -0.2, -0.2, 0.4}, L.inv(ks.tensor({{2, 1}, {1, 3}})))
    local d = L.det(ks.tensor({{2, 1}, {1, 3}}))
    assert.are.equal(0, d:dim())
    close({5}, d)
    assert.are.same({0, 0}, L.inv(ks.zeros(0, 0)):shape())
    close({1}, L.det(ks.zeros(0, 0)))
  end)

  it("records gradients through the general path and none under no_grad", function()
    local a = ks.tensor({{4, 2}, {2, 3}}):requires_grad_()
    assert.is_true(L.cholesky(a).requires_grad)
    assert.is_true(L.eigvalsh(a).requires_grad)
    assert.is_true(L.svdvals(a).requires_grad)
    L.eigvalsh(a):sum():backward()
    close({1, 0, 0, 1}, a.grad) -- d trace / dA = I
    a.grad = nil
    L.cholesky(a):sum():backward()
    close({0.2134, 0.0732, 0.0732, 0.3536}, a.grad, 1e-4) -- torch 1.13
    ks.no_grad(function()
      assert.is_false(L.cholesky(a).requires_grad)
      local w, v = L.eigh(a)
      assert.is_false(w.requires_grad or v.requires_grad)
      assert.is_false(L.svd(a).requires_grad)
    end)
  end)

  it("keeps the general path's errors", function()
    assert.matches("linalg.cholesky: .*not positive%-definite %(batch element 0: the leading minor of order 2",
      err_of(L.cholesky, ks.tensor({{1, 2}, {2, 1}})))
    assert.matches("linalg.cholesky: argument 'A' must be float32, got int64", err_of(L.cholesky, ks.eye(2, ks.int64)))
    assert.matches("linalg.eigh: A must be batches of square matrices, but they are 2 by 3", err_of(L.eigh, ks.ones(2, 3)))
    assert.matches("linalg.eigvalsh: A must have at least 2 dims, got %[3%]", err_of(L.eigvalsh, ks.ones(3)))
    assert.matches("linalg.svdvals: argument 'A' must be a tensor, got table", err_of(L.svdvals, {{1}}))
    assert.matches("linalg.svd: A must have at least 2 dims", err_of(L.svd, ks.tensor(1)))
    assert.matches("the input matrix is singular", err_of(L.inv, ks.ones(2, 2)))
    assert.matches("linalg.solve: A %[2, 2%] and B %[3%] do not match", err_of(L.solve, ks.eye(2), ks.ones(3)))
    assert.matches("linalg.solve: argument 'B' must be float32", err_of(L.solve, ks.eye(2), ks.ones(2):long()))
  end)
end)

describe("unbind and meshgrid made in C", function()
  it("unbind gives select's views along any dim, with gradients", function()
    local x = ks.arange(6):float():reshape(2, 3)
    local cols = x:unbind(1)
    assert.are.equal(3, #cols)
    close({1, 4}, cols[2])
    close({2, 5}, ks.unbind(x, -1)[3])
    cols[1]:fill_(9) -- views, as torch's
    close({9, 1, 2, 9, 4, 5}, x)
    assert.are.same({}, ks.ones(0, 2):unbind())
    local leaf = ks.tensor({{1, 2}, {3, 4}}):requires_grad_()
    local rows = leaf:unbind()
    assert.is_true(rows[1].requires_grad)
    ;(rows[1] * 2 + rows[2] * 3):sum():backward()
    close({2, 2, 3, 3}, leaf.grad)
  end)

  it("unbind keeps its errors", function()
    assert.matches("unbind: dim 2 out of range for a 2%-d tensor", err_of(ks.unbind, ks.ones(2, 3), 2))
    assert.matches("unbind: a 0%-d tensor has no dim to unbind", err_of(ks.unbind, ks.tensor(1)))
    assert.matches("unbind: argument 'input' must be a tensor, got table", err_of(ks.unbind, {1}))
    assert.matches("unbind: argument 'dim' must be an integer, got 0.5", err_of(ks.unbind, ks.ones(2), 0.5))
  end)

  it("meshgrid of two vectors: torch's grids (views) and gradients", function()
    local a, b = ks.tensor({1, 2, 3}), ks.tensor({4, 5})
    local g = ks.meshgrid(a, b)
    close({1, 1, 2, 2, 3, 3}, g[1])
    close({4, 5, 4, 5, 4, 5}, g[2])
    assert.are.same({3, 2}, g[2]:shape())
    same(g[1], ks.meshgrid({a, b})[1]) -- the general path
    same(g[2], ks.meshgrid(a, b, {indexing = "ij"})[2])
    local xa, xb = a:clone():requires_grad_(), b:clone():requires_grad_()
    local ga = ks.meshgrid(xa, xb)
    ;(ga[1] * ga[2]):sum():backward()
    close({9, 9, 9}, xa.grad)
    close({6, 6}, xb.grad)
    assert.are.same({2, 3}, ks.meshgrid(a, b, {indexing = "xy"})[1]:shape())
    assert.matches("meshgrid: tensors must be 0%-d or 1%-d, got %[1, 2%] for tensor 2",
      err_of(ks.meshgrid, a, ks.ones(1, 2)))
  end)
end)

describe("normal, cov and corrcoef in one C call", function()
  it("normal(mean, std, size) draws what the general path draws", function()
    for _, case in ipairs({{0, 1, {2, 3}}, {0.5, 2.5, {4}}, {-3, 0, {2, 2}}, {1, 0.1, {0}}}) do
      ks.manual_seed(7)
      local fast = ks.normal(case[1], case[2], case[3])
      ks.manual_seed(7)
      same(fast, ks.normal(case[1], case[2], case[3], {})) -- an options table: the general path
    end
    assert.are.equal("float32", ks.normal(0, 1, {2}):dtype())
    assert.matches("normal: std must be >= 0, got %-1", err_of(ks.normal, 0, -1, {2}))
    assert.matches("normal: give a size", err_of(ks.normal, 0, 1))
    assert.matches("normal: give a size", err_of(ks.normal, 0, 1, {}))
    assert.matches("normal: argument 'mean' must be a number or a tensor", err_of(ks.normal, "0", 1, {2}))
    assert.has_error(function() ks.normal(0, 1, {-1}) end)
  end)

  it("cov and corrcoef equal the differentiable composition to the bit", function()
    ks.manual_seed(3)
    for _, shape in ipairs({{2, 3}, {4, 7}, {5}, {1, 1}, {3, 1}, {3, 0}, {0, 3}}) do
      local x = ks.randn(shape) * 3 + 1
      same(x:cov(), x:cov({})) -- options: the Lua composition
      same(x:corrcoef(), x:clone():requires_grad_():corrcoef():detach())
      if x:dim() == 2 then same(x:t():contiguous():t():cov(), x:cov({})) end -- strided
    end
  end)

  it("cov and corrcoef: torch's values; gradients still recorded", function()
    local x = ks.tensor({{1, 2, 4}, {2, 0, 1}})
    close({2.333333, -0.5, -0.5, 1}, x:cov()) -- torch 1.13
    close({1, -0.327327, -0.327327, 1}, x:corrcoef())
    close({7 / 3}, ks.tensor({1, 2, 4}):cov())
    local leaf = x:clone():requires_grad_()
    assert.is_true(leaf:cov().requires_grad)
    leaf:cov():sum():backward()
    close({-1 / 3, -4 / 3, 5 / 3, -1 / 3, -4 / 3, 5 / 3}, leaf.grad) -- torch 1.13
    assert.is_false(ks.no_grad(function() return leaf:corrcoef() end).requires_grad)
    close({1, 0.5, 0.5, 1}, ks.tensor({{0, 1, 2}, {0, 2, 1}}, ks.int64):cov()) -- int64: the general path
    assert.matches("cov: expects a 1%-d or 2%-d input, got %[1, 1, 2%]", err_of(ks.cov, ks.ones(1, 1, 2)))
    assert.matches("corrcoef: argument 'input' must be a tensor", err_of(ks.corrcoef, 3))
  end)
end)
