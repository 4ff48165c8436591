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

-- Session 14 (h81): clip_grad_norm_ in one C call (ks._clip_grad_norm_: bindings/ks_lua_optim.c,
-- runtime/core/ks_grad_clip.c), the linalg norms' default call (ks._plain_norm), index_put / index_put_
-- without accumulate (ks._index_put), logspace (ks._logspace) and unflatten (ks._unflatten). The general
-- path is forced with an options table (or a list with a metatable for index_put). Torch 1.13 values:
-- spec/fixtures/torch_refs/norm_clip_fast.py.
describe("clip_grad_norm_ in one C call", function()
  local reg = require "kshot.regularize"

  -- fresh parameters holding clones of the gradients (nil: no grad; a number: reuse that earlier grad)
  local function params_of(grads)
    local ps = {}
    for i, g in ipairs(grads) do
      local shape = type(g) == "number" and grads[g]:shape() or g == false and {2} or g:shape()
      ps[i] = ks.zeros(shape):requires_grad_()
      if type(g) == "number" then ps[i].grad = ps[g].grad
      elseif g then ps[i].grad = g:clone() end
    end
    return ps
  end

  local function same_grads(ps, qs)
    for i = 1, #ps do
      if ps[i].grad then same(ps[i].grad, qs[i].grad) else assert.is_nil(qs[i].grad) end
    end
  end

  it("gives the general path's total and gradients to the bit", function()
    ks.manual_seed(5)
    local big = ks.randn(16384 * 2 + 7) * 3 -- three partials of the reduction
    local cases = {
      { ks.randn(2, 3) },
      { ks.randn(2, 3), false, ks.randn(4) * 100, ks.randn(1, 1) },
      { big, ks.randn(16384), ks.randn(5):abs() * 1e-3 },
      { ks.randn(3, 5):t(), ks.randn(6)[{ { 0, 6, 2 } }] }, -- not contiguous
      { ks.randn(3), 1 },                                    -- one gradient listed twice
      { ks.zeros(0), ks.randn(2) },                          -- an empty gradient (norm 2)
      { ks.tensor({ 1, 0 / 0, 2 }), ks.randn(2) },           -- NaN
      { ks.tensor({ 1, math.huge }), ks.randn(2) },          -- inf
    }
    for ci, grads in ipairs(cases) do
      for _, nt in ipairs({ 2, math.huge }) do
        for _, mx in ipairs({ 1e9, 0.5, 0 }) do
          if not (nt == math.huge and ci == 6) then
            local ps, qs = params_of(grads), params_of(grads)
            local fast = reg.clip_grad_norm_(ps, mx, nt)
            local general = reg.clip_grad_norm_(qs, mx, { norm_type = nt })
            same(fast, general)
            same_grads(ps, qs)
            local rs = params_of(grads) -- the kernel itself, not only the Lua function that may call it
            same(ks._clip_grad_norm_(rs, mx, nt, false), general)
            same_grads(rs, qs)
          end
        end
      end
    end
  end)

  it("adds the squares in ks_sum's order (4 accumulators, partials of 16384)", function()
    -- 3072^2 + 0.5 is a float32 tie (rounds down to 3072^2) unless the 2^-30 squares survive in double:
    -- they do when added to each other first, not to 3072^2 (where they are half an ulp)
    local function vec(n, set)
      local t = ks.zeros(n)
      for k, v in pairs(set) do t[k] = v end
      return t
    end
    local e = 2 ^ -15
    local cases = {
      { vec(8, { [0] = 3072, [1] = 0.5, [5] = 0.5, [2] = e, [3] = e }), 3072.000244 },           -- (s0 + s1) + (s2 + s3)
      { vec(16392, { [0] = 3072, [1] = 0.5, [5] = 0.5, [16384] = e, [16388] = e }), 3072.000244 }, -- a second partial
      { vec(16392, { [0] = 3072, [1] = 0.5, [5] = 0.5, [16376] = e, [16380] = e }), 3072 },        -- still the first
    }
    for _, case in ipairs(cases) do
      local ps, qs = params_of({ case[1] }), params_of({ case[1] })
      close({ case[2] }, reg.clip_grad_norm_(qs, 1e9, { norm_type = 2 }), 1e-6)
      same(ks._clip_grad_norm_(ps, 1e9, 2, false), reg.clip_grad_norm_(qs, 1e9, { norm_type = 2 }))
    end
  end)

  it("gives torch's values; takes a tensor, a module, 'inf' and no gradients", function()
    local function two()
      return params_of({ ks.tensor({ { 1, -2, 3 }, { 0.5, 4, -6 } }), ks.tensor({ -7, 2.5 }) })
    end
    local ps = two()
    local total = reg.clip_grad_norm_(ps, 5.0)
    assert.are.equal("float32", total:dtype())
    assert.are.equal(0, total:dim())
    close({ 11.0227032 }, total)
    close({ 0.453609198, -0.907218397, 1.36082757, 0.226804599, 1.81443679, -2.72165513 }, ps[1].grad)
    close({ -3.17526436, 1.13402295 }, ps[2].grad)
    ps = two()
    close({ 7 }, reg.clip_grad_norm_(ps, 2.0, "inf"))
    close({ -1.99999964, 0.714285612 }, ps[2].grad)
    local p = two()[2]
    close({ math.sqrt(55.25) }, reg.clip_grad_norm_(p, 1e9)) -- a tensor
    local nn = require "kshot.nn"
    local lin = nn.Linear(2, 1)
    lin.weight.grad, lin.bias.grad = ks.tensor({ { 3, 0 } }), ks.tensor({ 4 })
    close({ 5 }, reg.clip_grad_norm_(lin, 1)) -- a module
    close({ 0.6, 0, 0.8 }, ks.cat({ lin.weight.grad:reshape(-1), lin.bias.grad }), 1e-6)
    same(ks.tensor(0), reg.clip_grad_norm_({ ks.zeros(2):requires_grad_() }, 1)) -- no gradients
    same(ks.tensor(0), reg.clip_grad_norm_({}, 1))
  end)

  it("keeps the general path's errors; error_if_nonfinite leaves the gradients alone", function()
    local ps = params_of({ ks.tensor({ 1, math.huge }) })
    assert.matches("clip_grad_norm_: the total norm of order 2 of the gradients is inf, so it cannot be clipped",
      err_of(reg.clip_grad_norm_, ps, 1, 2, true))
    same(ks.tensor({ 1, math.huge }), ps[1].grad)
    assert.matches("the total norm of order inf of the gradients is nan",
      err_of(reg.clip_grad_norm_, params_of({ ks.tensor({ 0 / 0 }) }), 1, "inf", true))
    assert.matches("clip_grad_norm_: params%[1%] is a number, not a tensor",
      err_of(reg.clip_grad_norm_, { ks.ones(1), 3 }, 1))
    assert.matches("clip_grad_norm_: params must be a tensor, a list of tensors or a module, got string",
      err_of(reg.clip_grad_norm_, "w", 1))
    assert.matches("max_norm must be a number >= 0, got %-1", err_of(reg.clip_grad_norm_, {}, -1))
    assert.matches("max%(%): cannot reduce the empty tensor", err_of(reg.clip_grad_norm_, params_of({ ks.zeros(0) }), 1, "inf"))
    assert.is_nil(ks._clip_grad_norm_({ ks.ones(1), "x" }, 1, 2, false)) -- declines: the Lua path names it
    assert.is_nil(ks._clip_grad_norm_(params_of({ ks.ones(2) }), 1, 3, false)) -- p = 3: the Lua path
  end)
end)

describe("the linalg norms' default call in one C call", function()
  it("equals the general path to the bit, records gradients and gives torch's values", function()
    ks.manual_seed(9)
    for _, x in ipairs({ ks.randn(2, 3), ks.randn(7), ks.randn(3, 4):t(), ks.randn(2, 3, 4), ks.zeros(0, 3) }) do
      same(L.vector_norm(x), L.vector_norm(x, {}))
      same(L.vector_norm(x, 2), L.vector_norm(x, {}))
      same(L.norm(x), L.norm(x, {}))
      same(ks._plain_norm(x, false), L.vector_norm(x, {}))
      if x:dim() >= 2 then
        same(L.matrix_norm(x), L.matrix_norm(x, {}))
        same(L.matrix_norm(x, "fro"), L.matrix_norm(x, {}))
        same(ks._plain_norm(x, true), L.matrix_norm(x, {}))
      end
    end
    local x = ks.tensor({ { 1, -2, 3 }, { 0.5, 4, -6 } }):requires_grad_()
    local n = L.vector_norm(x)
    close({ 8.13941002 }, n)
    n:backward()
    close({ 0.122859031, -0.245718062, 0.368577093, 0.0614295155, 0.491436124, -0.737154186 }, x.grad)
    close({ 3.7416575, 11.2249718 }, L.matrix_norm(ks.arange(8):float():reshape(2, 2, 2)))
    close({ 13 }, L.norm(ks.tensor({ 3, 4, 12 })))
    same(ks.tensor(2), L.vector_norm(ks.tensor(-2))) -- 0-d: the general path (|x|)
    assert.is_nil(ks._plain_norm(ks.tensor(-2), false))
    assert.is_nil(ks._plain_norm(ks.ones(3), true))
  end)

  it("keeps the general path's errors", function()
    assert.matches("linalg.vector_norm: argument 'x' must be float32, got int64", err_of(L.vector_norm, ks.ones(2, ks.int64)))
    assert.matches("linalg.norm: argument 'A' must be a tensor, got table", err_of(L.norm, { 1 }))
    assert.matches("linalg.matrix_norm: A must have at least 2 dims, got %[3%]", err_of(L.matrix_norm, ks.ones(3)))
  end)
end)

describe("index_put, logspace and unflatten in one C call", function()
  -- the indices list with a metatable: index_put's Lua path (its checks and the assignment)
  local function general(list) return setmetatable({ table.unpack(list) }, {}) end

  it("index_put / index_put_ equal the Lua path to the bit", function()
    ks.manual_seed(2)
    local x = ks.randn(3, 4)
    local cases = {
      { { ks.tensor({ 0, 2 }, ks.int64), ks.tensor({ 3, -1 }, ks.int64) }, 1.5 },
      { { ks.tensor({ { 0 }, { 2 } }, ks.int64), ks.tensor({ 1, 0, 3 }, ks.int64) }, ks.tensor({ 7, 8, 9 }) },
      { { ks.tensor({ -1, 0 }, ks.int64) }, ks.tensor({ 1, 2, 3, 4 }) },
      { { x:gt(0) }, -2 },
      { { ks.tensor({ 1 }, ks.int64), ks.tensor({ true, false, true, false }) }, true },
      { { ks.tensor({ 2, 2 }, ks.int64):expand(3, 2), ks.tensor({ 0, 1 }, ks.int64) }, ks.tensor(4) },
    }
    for _, case in ipairs(cases) do
      local idx, v = case[1], case[2]
      same(x:index_put(idx, v), x:index_put(general(idx), v))
      same(ks._index_put(x, idx, v, false), x:index_put(general(idx), v))
      local a, b = x:clone(), x:clone()
      assert.are.equal(a, a:index_put_(idx, v))
      b:index_put_(general(idx), v)
      same(a, b)
    end
    local xt = x:t() -- a strided input
    same(xt:index_put({ ks.tensor({ 1, 3 }, ks.int64) }, 0), xt:index_put(general({ ks.tensor({ 1, 3 }, ks.int64) }), 0))
    close({ 5, 0, 5, 5, 0, 5 }, ks.zeros(2, 3):index_put({ ks.tensor({ { 0 }, { 1 } }, ks.int64), ks.tensor({ 2, 0 }, ks.int64) },
      ks.tensor(5))) -- torch 1.13
    local ints = ks.zeros(2, 2, ks.int64):index_put({ ks.tensor({ 1 }, ks.int64) }, 7)
    assert.are.same({ { 0, 0 }, { 7, 7 } }, ints:totable())
  end)

  it("index_put keeps its errors and the untouched input", function()
    local x = ks.zeros(2, 3)
    local i01 = ks.tensor({ 0, 1 }, ks.int64)
    assert.matches("index 3 is out of bounds for dimension 1 with size 3",
      err_of(ks.index_put, x, { i01, ks.tensor({ 0, 3 }, ks.int64) }, 1))
    assert.matches("shape mismatch: index tensors could not be broadcast together: %[2%] and %[3%]",
      err_of(ks.index_put, x, { i01, ks.tensor({ 0, 1, 2 }, ks.int64) }, 1))
    assert.matches("shape mismatch: value tensor of shape %[4%] cannot be broadcast to indexing result of shape %[2, 3%]",
      err_of(ks.index_put, x, { i01 }, ks.ones(4)))
    assert.matches("index_put_: indices%[1%] must be an int64 or bool tensor, got float32", err_of(ks.index_put_, x, { ks.ones(1) }, 1))
    assert.matches("index_put: 3 index tensors for a 2%-d tensor", err_of(ks.index_put, x, { i01, i01, i01 }, 1))
    assert.matches("index_put: argument 'indices' must be a non%-empty list", err_of(ks.index_put, x, {}, 1))
    assert.matches("cannot assign nil", err_of(ks.index_put, x, { i01 }))
    same(ks.zeros(2, 3), x)
    local leaf = ks.ones(2):requires_grad_()
    assert.matches("in%-place assignment to a tensor that requires grad", err_of(ks.index_put, leaf, { i01 }, 0))
    assert.is_nil(ks._index_put(leaf, { i01 }, 0, false)) -- its clone records: the Lua path
  end)

  it("logspace equals pow(base, linspace) to the bit; torch's values; errors kept", function()
    for _, case in ipairs({ { 0, 1, 4 }, { -1, 1.5, 5 }, { 2, 2, 1 }, { 0, 3, 0 }, { 3, -3, 7 } }) do
      local a, b, n = table.unpack(case)
      same(ks.logspace(a, b, n), ks.pow(10, ks.linspace(a, b, n)))
      same(ks.logspace(a, b, n), ks.logspace(a, b, n, {}))
    end
    same(ks._logspace(0, 1, 3, 2.5), ks.pow(2.5, ks.linspace(0, 1, 3)))
    close({ 0.100000001, 0.421696514, 1.77827942, 7.4989419, 31.622776 }, ks.logspace(-1, 1.5, 5), 1e-6)
    assert.matches("logspace: argument 'steps' must be an integer >= 0, got 2.5", err_of(ks.logspace, 0, 1, 2.5))
    assert.matches("logspace: argument 'start' must be a number, got string", err_of(ks.logspace, "0", 1, 2))
    assert.is_nil(ks._logspace(0, 1, -1, 10))
  end)

  it("unflatten: the reshape, with gradients; -1 and errors through the Lua path", function()
    local x = ks.arange(24):float():reshape(2, 12)
    same(x:unflatten(1, { 3, 4 }), x:reshape(2, 3, 4))
    same(x:unflatten(-1, { 2, 2, 3 }), x:reshape(2, 2, 2, 3))
    same(x:t():unflatten(0, { 4, 3 }), x:t():reshape(4, 3, 2)) -- a copy, as reshape
    assert.are.same({ 2, 3, 4 }, x:unflatten(1, { 3, -1 }):shape())
    assert.are.same({ 2, 0, 5 }, ks.zeros(2, 0):unflatten(1, { 0, 5 }):shape())
    local leaf = x:clone():requires_grad_()
    local u = leaf:unflatten(1, { 3, 4 })
    assert.is_true(u.requires_grad)
    ;(u * 2):sum():backward()
    close(ks.full({ 24 }, 2):totable(), leaf.grad)
    assert.matches("unflatten: sizes {5, 2} multiply to 10, not dim 1's size 12", err_of(ks.unflatten, x, 1, { 5, 2 }))
    assert.matches("unflatten: sizes%[1%] must be an integer >= %-1, got 3.0", err_of(ks.unflatten, x, 1, { 3.0, 4 }))
    assert.is_nil(ks._unflatten(x, 2, { 1 }))
    assert.is_nil(ks._unflatten(x, 1, { 3, -1 }))
  end)
end)
