-- The C kernels and fast paths under the tensor functions composed in Lua (ks._isclose, ks._histc,
-- ks._searchsorted in bindings/ks_lua_composed_kernels.c; t:view_as / t:reshape_as and ks._diagonal in
-- bindings/ks_lua_tensor.c; the plain-argument paths of movedim, broadcast_to, take, diff and
-- linalg.solve / inv / det): the same answers, gradients and errors as the general paths. Torch
-- values printed by spec/fixtures/torch_refs/composed_fast_paths.py (torch 1.13).
local ks = require "kshot"
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

local nan = 0 / 0

local function bools(t) return t:to(ks.float32) end

-- d(sum(f(x) * w))/dx for a fresh leaf x of the given values
local function grad_of(values, f, w)
  local x = ks.tensor(values):requires_grad_()
  local y = f(x)
  ;(w and (y * w) or y):sum():backward()
  return x.grad
end

describe("kernels under isclose, histc, bucketize and searchsorted", function()
  it("isclose converts ints, broadcasts, treats NaN and inf as torch", function()
    close({1, 1, 0}, bools(ks.isclose(ks.tensor({1, 2, 3}, ks.int64), ks.tensor({1, 2.00001, math.huge}))))
    close({1, 1, 0}, bools(ks.isclose(ks.tensor({1e-8, nan, 1}), ks.tensor({0, nan, 1.0001}), {equal_nan = true})))
    close({1, 0, 0}, bools(ks.isclose(ks.tensor({1e-8, nan, 1}), ks.tensor({0, nan, 1.0001}))))
    local r = ks.isclose(ks.ones(2, 1), ks.ones(3))
    assert.are.same({2, 3}, r:shape())
    assert.are.equal("bool", r:dtype())
    assert.is_false(ks.isclose(ks.ones(2):requires_grad_(), ks.ones(2)).requires_grad)
    close({1, 0}, bools(ks.isclose(ks.tensor({1, 1}), ks.tensor({1.05, 1.2}), {rtol = 0.1, atol = 0})))
    assert.matches("isclose: shapes %[2%] and %[3%] do not broadcast", err_of(ks.isclose, ks.ones(2), ks.ones(3)))
    assert.matches("isclose: unknown option 'tol'", err_of(ks.isclose, ks.ones(2), ks.ones(2), {tol = 1}))
  end)

  it("histc bins as torch, ignores values outside the range and NaN, rejects a non-finite range", function()
    close({1, 1, 1, 0, 0, 0, 1, 0, 0, 1}, ks.histc(ks.tensor({0.1, 0.2, 0.30000001, 0.7, 1.0}), 10, 0.1, 1.0))
    close({0, 2}, ks.histc(ks.tensor({3, 3}), 2))
    close({1, 0, 1, 1}, ks.histc(ks.tensor({-1, 0, 1, 2, 5}), 4, 0, 2))
    close({1, 0, 1, 1}, ks.histc(ks.tensor({-1, 0, nan, 1, 2, 5}), 4, 0, 2)) -- (torch 1.13 counts NaN in bin 0)
    close({1, 1, 1}, ks.histc(ks.tensor({0, 2, 1}, ks.int64), 3)) -- own range [0, 2]
    close({0, 0}, ks.histc(ks.zeros(0), 2))
    assert.are.equal("float32", ks.histc(ks.ones(3, 2):t(), 3):dtype()) -- a strided input
    assert.matches("histc: range of %[%-?inf, 1%] is not finite", err_of(ks.histc, ks.ones(2), 2, -math.huge, 1))
    assert.matches("histc: bins must be an integer >= 1", err_of(ks.histc, ks.ones(2), 1.5))
  end)

  it("searchsorted and bucketize search as torch (NaN at the end, rows, int64, strided)", function()
    local seq = ks.tensor({0, 1, 2})
    close({3, 1, 0}, ks.searchsorted(seq, ks.tensor({nan, 1, -5})):float())
    close({3, 2}, ks.searchsorted(seq, ks.tensor({nan, 1}), {right = true}):float())
    local rows = ks.tensor({{0, 2, 4}, {1, 3, 5}}, ks.int64)
    close({2, 2, 0, 2}, ks.searchsorted(rows, ks.tensor({{3, 4}, {0, 5}}, ks.int64)):float())
    close({2, 2, 0, 2}, ks.searchsorted(rows:float():t():contiguous():t(), ks.tensor({{3, 4}, {0, 5}})):float())
    close({1, 3}, ks.bucketize(ks.tensor({{0.5}, {5}}), seq):float())
    assert.are.same({2, 1}, ks.bucketize(ks.tensor({{0.5}, {5}}), seq):shape())
    assert.are.equal(0, ks.bucketize(-1, seq):dim())
    close({0, 0}, ks.searchsorted(ks.zeros(0), ks.ones(2)):float())
    -- the kernel checks the rows itself (never reads out of bounds)
    assert.matches("searchsorted: sorted_sequence %[2, 3%] and values %[3, 2%] must share all dims but the last",
      err_of(ks._searchsorted, rows, ks.ones(3, 2)))
    assert.matches("sorted_sequence must have at least 1 dim", err_of(ks._searchsorted, ks.tensor(1), ks.ones(2)))
  end)
end)

describe("fast paths of the view-like functions", function()
  it("view_as and reshape_as are C methods with the other's shape and gradients", function()
    local x = ks.arange(6):float()
    assert.are.same({2, 3}, x:view_as(ks.ones(2, 3)):shape())
    assert.are.same({3, 2}, ks.ones(2, 3):t():reshape_as(ks.ones(3, 2)):shape())
    close({1, 2, 3, 4}, grad_of({1, 2, 3, 4}, function(t) return t:view_as(ks.ones(2, 2)) end, ks.tensor({{1, 2}, {3, 4}})))
    assert.matches("view", err_of(function() return ks.ones(2, 3):t():view_as(ks.ones(6)) end))
    assert.has_error(function() return ks.ones(2):view_as(3) end)
  end)

  it("movedim's one-dim path gives torch's permutation for any rank, one call after another", function()
    assert.are.same({3, 4, 2}, ks.ones(2, 3, 4):movedim(0, 2):shape())
    assert.are.same({4, 2, 3}, ks.ones(2, 3, 4):movedim(-1, 0):shape())
    assert.are.same({3, 2}, ks.ones(2, 3):movedim(1, 0):shape()) -- after a 3-d call: no stale entries
    assert.are.same({2, 3, 4, 5}, ks.ones(2, 3, 4, 5):movedim(1, 1):shape())
    close({0, 3, 1, 4, 2, 5}, ks.arange(6):reshape(2, 3):movedim(0, -1):float())
    assert.matches("movedim: dim 2 out of range", err_of(ks.movedim, ks.ones(2, 3), 2, 0))
  end)

  it("broadcast_to names its arguments when expand fails", function()
    assert.are.same({2, 2, 3}, ks.broadcast_to(ks.ones(3), {2, 2, 3}):shape())
    assert.matches("broadcast_to: cannot broadcast %[3%] to %[2, 4%]", err_of(ks.broadcast_to, ks.ones(3), {2, 4}))
    assert.matches("broadcast_to: argument 'shape' must be a list", err_of(ks.broadcast_to, ks.ones(3), ks.ones(3)))
    assert.matches("broadcast_to: argument 'input' must be a tensor", err_of(ks.broadcast_to, 3, {3}))
  end)

  it("diagonal of a matrix is a view (as torch) with torch's gradient; strided and empty cases", function()
    local m = ks.arange(6):float():reshape(2, 3)
    local d = m:diagonal()
    d:fill_(9)
    close({9, 1, 2, 3, 9, 5}, m)
    close({1, 5}, ks.arange(6):reshape(2, 3):diagonal(1))
    close({1, 5}, ks.arange(6):reshape(2, 3):t():diagonal(-1)) -- a transposed matrix: from a copy
    assert.are.same({0}, ks.ones(2, 3):diagonal(math.mininteger):shape())
    assert.are.same({0}, ks.ones(2, 3):diagonal(math.maxinteger):shape())
    close({0, 2, 0, 0, 0, 3}, grad_of({{0, 1, 2}, {3, 4, 5}}, function(t) return t:diagonal(1) end, ks.tensor({2, 3})))
    close({8}, ks.tensor({{1, 2}, {3, 7}}):trace())
    assert.matches("diagonal: input must have at least 2 dims, got %[3%]", err_of(ks.diagonal, ks.ones(3)))
    assert.matches("diagonal: input must have at least 2 dims, got %[3%]", err_of(ks._diagonal, ks.ones(3), 0))
  end)

  it("take wraps negative positions and keeps its range message", function()
    local x = ks.arange(6):float():reshape(2, 3)
    close({5, 0, 4}, ks.take(x, ks.tensor({-1, 0, 4}, ks.int64)))
    assert.are.same({1, 2}, ks.take(x, ks.tensor({{-6, 5}}, ks.int64)):shape())
    assert.matches("take: index %-7 out of range for a tensor of 6 elements", err_of(ks.take, x, ks.tensor({-7}, ks.int64)))
    assert.matches("take: index 6 out of range", err_of(ks.take, x, ks.tensor({{6}}, ks.int64)))
  end)

  it("diff's plain path equals the general one", function()
    local x = ks.tensor({{1, 4, 9}, {2, 2, 7}})
    close({3, 5, 0, 5}, x:diff())
    close({3, 5, 0, 5}, x:diff(1, -1))
    close({0, 1}, ks.tensor({true, true, false}):diff():float())
    assert.are.same({2, 0}, ks.ones(2, 0):diff():shape())
    close({-1, 0, 1}, grad_of({1, 4, 9}, function(t) return t:diff() end))
  end)
end)

describe("linalg's single-matrix paths", function()
  local A = {{2, 1}, {1, 3}}

  it("solve, inv and det of one matrix: torch's values and gradients", function()
    close({0.2, 0.6}, ks.linalg.solve(ks.tensor(A), ks.tensor({1, 2})))
    assert.are.same({2, 1}, ks.linalg.solve(ks.tensor(A), ks.tensor({{1}, {2}})):shape())
    local a, b = ks.tensor(A):requires_grad_(), ks.tensor({1, 2}):requires_grad_()
    ks.linalg.solve(a, b):sum():backward()
    close({-0.08, -0.24, -0.04, -0.12}, a.grad)
    close({0.4, 0.2}, b.grad)
    close({0.6, -0.2, -0.2, 0.4}, ks.linalg.inv(ks.tensor(A)))
    close({-0.16, -0.08, -0.08, -0.04}, grad_of(A, ks.linalg.inv))
    local d = ks.linalg.det(ks.tensor(A))
    assert.are.equal(0, d:dim())
    close({5}, d)
    close({3, -1, -1, 2}, grad_of(A, ks.linalg.det))
    close({0.6, -0.2, -0.2, 0.4}, ks.linalg.inv(ks.tensor(A):t())) -- a transposed (strided) matrix
    assert.is_false(ks.no_grad(function() return ks.linalg.inv(ks.tensor(A):requires_grad_()) end).requires_grad)
  end)

  it("keeps the general path's errors", function()
    assert.matches("singular", err_of(ks.linalg.solve, ks.zeros(2, 2), ks.ones(2)))
    assert.matches("singular", err_of(ks.linalg.inv, ks.zeros(2, 2)))
    assert.matches("do not match", err_of(ks.linalg.solve, ks.tensor(A), ks.ones(3)))
    assert.matches("do not match", err_of(ks.linalg.solve, ks.tensor(A), ks.tensor(1))) -- a 0-d B
    assert.matches("must be float32, got int64", err_of(ks.linalg.inv, ks.ones(2, 2):long()))
    assert.matches("square", err_of(ks.linalg.det, ks.ones(2, 3)))
  end)
end)
