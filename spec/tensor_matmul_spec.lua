-- matmul, mm, bmm, mv, dot, outer, addmm: every rank combination against a
-- naive Lua product, BLAS layouts (transposed views, copies), integers,
-- empty dims and errors.
local ks = require "kshot"

-- small integer-valued entries: float32 products are then exact
local function values(n, seed)
  local v = {}
  for i = 1, n do v[i] = ((i * 7 + seed * 13) % 11) - 5 end
  return v
end

-- nested Lua table of the given shape filled from a flat list
local function nest(shape, flat, d, pos)
  d, pos = d or 1, pos or {0}
  if d > #shape then pos[1] = pos[1] + 1; return flat[pos[1]] end
  local t = {}
  for i = 1, shape[d] do t[i] = nest(shape, flat, d + 1, pos) end
  return t
end

local function numel(shape) local n = 1 for _, s in ipairs(shape) do n = n * s end return n end

local function make(shape, seed, dtype)
  local flat = values(numel(shape), seed)
  return ks.tensor(nest(shape, flat), dtype), flat
end

-- naive [M,K] @ [K,N] on nested tables
local function naive_mm(a, b)
  local M, K, N = #a, #b, #b[1]
  local c = {}
  for i = 1, M do
    c[i] = {}
    for j = 1, N do
      local s = 0
      for k = 1, K do s = s + a[i][k] * b[k][j] end
      c[i][j] = s
    end
  end
  return c
end

local function assert_same(expect, got, tol, path)
  path = path or "x"
  if type(expect) == "table" then
    assert.are.equal("table", type(got), path)
    assert.are.equal(#expect, #got, path .. " length")
    for i = 1, #expect do assert_same(expect[i], got[i], tol, path .. "[" .. i .. "]") end
  else
    local err = math.abs(expect - got)
    if err > (tol or 0) * math.max(1, math.abs(expect)) then
      error(string.format("%s: expected %s, got %s", path, tostring(expect), tostring(got)), 2)
    end
  end
end

local function shape_of(t) return table.concat(t:shape(), ",") end

describe("matmul ranks", function()
  it("1-D x 1-D is a 0-d dot product", function()
    local r = ks.matmul(ks.tensor{1, 2, 3}, ks.tensor{4, 5, 6})
    assert.are.equal(0, r:dim())
    assert.are.equal(32, r:item())
  end)

  it("2-D x 2-D matches the naive product", function()
    local a = make({5, 7}, 1)
    local b = make({7, 3}, 2)
    local r = a:matmul(b)
    assert.are.equal("5,3", shape_of(r))
    assert_same(naive_mm(a:totable(), b:totable()), r:totable())
  end)

  it("2-D x 1-D removes the appended dim", function()
    local a = ks.tensor{{1, 2, 3}, {4, 5, 6}}
    local r = a:matmul(ks.tensor{1, 0, -1})
    assert.are.equal("2", shape_of(r))
    assert.are.same({-2, -2}, r:totable())
  end)

  it("1-D x 2-D removes the prepended dim", function()
    local b = ks.tensor{{1, 2, 3}, {4, 5, 6}}
    local r = ks.matmul(ks.tensor{2, -1}, b)
    assert.are.equal("3", shape_of(r))
    assert.are.same({-2, -1, 0}, r:totable())
  end)

  it("N-D x 2-D folds the batch (one gemm) and matches per batch", function()
    local a = make({2, 3, 4, 5}, 3)
    local b = make({5, 6}, 4)
    local r = a:matmul(b)
    assert.are.equal("2,3,4,6", shape_of(r))
    local at, rt, bt = a:totable(), r:totable(), b:totable()
    for i = 1, 2 do for j = 1, 3 do assert_same(naive_mm(at[i][j], bt), rt[i][j]) end end
  end)

  it("N-D x 1-D and 1-D x N-D", function()
    local a = make({2, 3, 4}, 5)
    local v = ks.tensor{1, -2, 3, 0}
    local r = a:matmul(v)
    assert.are.equal("2,3", shape_of(r))
    local at = a:totable()
    for i = 1, 2 do for j = 1, 3 do
      local s = 0
      for k = 1, 4 do s = s + at[i][j][k] * v:totable()[k] end
      assert.are.equal(s, r:totable()[i][j])
    end end
    local w = ks.tensor{1, 2, 3}
    local r2 = ks.matmul(w, (make({2, 3, 4}, 6)))
    assert.are.equal("2,4", shape_of(r2))
  end)

  it("broadcasts batch dims", function()
    local a = make({2, 1, 3, 4}, 7)
    local b = make({5, 4, 2}, 8)
    local r = a:matmul(b)
    assert.are.equal("2,5,3,2", shape_of(r))
    local at, bt, rt = a:totable(), b:totable(), r:totable()
    for i = 1, 2 do for j = 1, 5 do assert_same(naive_mm(at[i][1], bt[j]), rt[i][j]) end end
  end)

  it("2-D x N-D broadcasts the matrix over b's batch", function()
    local a = make({3, 4}, 9)
    local b = make({2, 4, 5}, 10)
    local r = a:matmul(b)
    assert.are.equal("2,3,5", shape_of(r))
    for i = 1, 2 do assert_same(naive_mm(a:totable(), b:totable()[i]), r:totable()[i]) end
  end)

  it("computes many small batched matrices (64 x 32x32) exactly, for 1 and 2 threads", function()
    local a = make({64, 32, 32}, 11)
    local b = make({64, 32, 32}, 12)
    local at, bt = a:totable(), b:totable()
    local results = {}
    for _, n in ipairs({1, 2}) do
      if ks.set_num_threads then ks.set_num_threads(n) end
      local rt = a:matmul(b):totable()
      for _, i in ipairs({1, 2, 33, 64}) do assert_same(naive_mm(at[i], bt[i]), rt[i]) end
      results[n] = rt
    end
    assert.are.same(results[1], results[2])
  end)

  it("spreads a large batch of small matrices over threads with identical results", function()
    local a = make({300, 32, 32}, 13)   -- 300 * 32^3 multiply-adds: the pool path
    local b = make({300, 32, 32}, 14)
    local r = {}
    for _, n in ipairs({1, 2}) do
      if ks.set_num_threads then ks.set_num_threads(n) end
      r[n] = a:matmul(b)
      for _, i in ipairs({0, 150, 299}) do
        assert_same(naive_mm(a:select(0, i):totable(), b:select(0, i):totable()), r[n]:select(0, i):totable())
      end
    end
    assert.are.same(r[1]:totable(), r[2]:totable())
  end)

  it("matches a naive product on random values within 1e-5 relative", function()
    local a, b = ks.randn(17, 33), ks.randn(33, 9)
    local expect = naive_mm(a:totable(), b:totable())
    local got = a:matmul(b):totable()
    for i = 1, 17 do for j = 1, 9 do
      local e = expect[i][j]
      assert.is_true(math.abs(e - got[i][j]) <= 1e-5 * math.max(1, math.abs(e)), ("entry %d,%d"):format(i, j))
    end end
  end)
end)

describe("matmul layouts", function()
  it("uses transposed views (a:t(), b:t(), both)", function()
    local a = make({6, 4}, 13)   -- a:t() is [4, 6]
    local b = make({5, 6}, 14)   -- b:t() is [6, 5]
    local at, bt = a:totable(), b:totable()
    local function tr(m) local r = {} for j = 1, #m[1] do r[j] = {} for i = 1, #m do r[j][i] = m[i][j] end end return r end
    assert_same(naive_mm(tr(at), tr(bt)), a:t():matmul(b:t()):totable())
    local d = make({4, 3}, 15)
    assert_same(naive_mm(at, d:totable()), a:matmul(d:t():t()):totable())
    local c = make({4, 6}, 16)
    assert_same(naive_mm(c:totable(), tr(bt)), c:matmul(b:t()):totable())
    assert_same(naive_mm(tr(at), c:t():totable()), a:t():matmul(c:t()):totable())
    -- vector shapes (gemv) with transposed matrices
    local v6 = ks.tensor{1, -2, 3, 0, 2, 1}
    local col = {} for i, x in ipairs(v6:totable()) do col[i] = {x} end
    local mv = naive_mm(tr(at), col)
    local got = a:t():matmul(v6):totable()
    for i = 1, 4 do assert.are.equal(mv[i][1], got[i]) end
    assert_same(naive_mm({v6:totable()}, tr(bt))[1], v6:matmul(b:t()):totable())
    assert_same(naive_mm({{1, 2, 3, 4}}, tr(at))[1], ks.tensor{{1, 2, 3, 4}}:matmul(a:t()):totable()[1])
  end)

  it("handles batched transposes and permuted operands", function()
    local a = make({3, 5, 4}, 17)  -- transpose(1, 2) -> [3, 4, 5]
    local b = make({3, 5, 2}, 18)
    local r = a:transpose(1, 2):matmul(b)
    assert.are.equal("3,4,2", shape_of(r))
    for i = 1, 3 do
      assert_same(naive_mm(a:transpose(1, 2):contiguous():totable()[i], b:totable()[i]), r:totable()[i])
    end
    local p = make({4, 3, 5}, 19):permute(1, 0, 2) -- [3, 4, 5], batch stride not outermost
    local r2 = p:matmul((make({5, 2}, 20)))
    for i = 1, 3 do assert_same(naive_mm(p:contiguous():totable()[i], make({5, 2}, 20):totable()), r2:totable()[i]) end
  end)

  it("handles narrowed, stepped, flipped and expanded (stride 0) operands", function()
    local base = make({6, 8}, 21)
    local a = base:narrow(1, 2, 5):narrow(0, 1, 4)          -- row stride 8, not contiguous
    local b = make({5, 3, 2}, 22):select(2, 1)              -- column stride 2: copied
    assert_same(naive_mm(a:contiguous():totable(), b:contiguous():totable()), a:matmul(b):totable())
    local f = make({4, 5}, 23):flip({0, 1})                  -- negative strides
    assert_same(naive_mm(f:contiguous():totable(), b:contiguous():totable()), f:matmul(b):totable())
    local e = ks.tensor{{1, 2, 3, 4, 5}}:expand(4, 5)          -- row stride 0
    assert_same(naive_mm(e:contiguous():totable(), b:contiguous():totable()), e:matmul(b):totable())
    local v = make({5, 2}, 24):select(1, 0)                 -- 1-D with stride 2
    local r = a:matmul(v)
    local col = {} for i, x in ipairs(v:totable()) do col[i] = {x} end
    local e = naive_mm(a:totable(), col)
    for i = 1, #e do assert.are.equal(e[i][1], r:totable()[i]) end
    local rv = v:matmul((make({5, 3}, 27)))                  -- stepped 1-D on the left
    assert_same(naive_mm({v:totable()}, make({5, 3}, 27):totable())[1], rv:totable())
    local vv = make({5, 2}, 28):select(1, 1)
    assert.are.equal(naive_mm({v:totable()}, {{vv:totable()[1]}, {vv:totable()[2]}, {vv:totable()[3]},
      {vv:totable()[4]}, {vv:totable()[5]}})[1][1], v:dot(vv):item())
    local eb = make({1, 5, 3}, 25):expand(4, 5, 3)            -- batch broadcast by expand
    local ra = make({4, 2, 5}, 26):matmul(eb)
    for i = 1, 4 do
      assert_same(naive_mm(make({4, 2, 5}, 26):totable()[i], make({1, 5, 3}, 25):totable()[1]), ra:totable()[i])
    end
  end)
end)

describe("matmul dtypes", function()
  it("multiplies int64 exactly with an int64 result", function()
    local a = ks.tensor({{1, 2}, {3, 4}, {5, 6}}, "int64")
    local b = ks.tensor({{7, 8, 9}, {10, 11, 12}}, "int64")
    local r = a:matmul(b)
    assert.are.equal("int64", r:dtype())
    assert.are.same({{27, 30, 33}, {61, 68, 75}, {95, 106, 117}}, r:totable())
    local big = ks.tensor({3000000000}, "int64")
    assert.are.equal(9000000000000000000, ks.dot(big, big):item())
  end)

  it("uint8 products wrap like PyTorch's; mixed dtypes promote", function()
    local u = ks.tensor({{16, 1}}, "uint8")
    local r = u:matmul(ks.tensor({{16}, {3}}, "uint8"))
    assert.are.equal("uint8", r:dtype())
    assert.are.equal((256 + 3) % 256, r:item())
    local m = ks.tensor({{1, 2}}, "int64"):matmul(ks.tensor{{0.5}, {0.25}})
    assert.are.equal("float32", m:dtype())
    assert.are.equal(1, m:item())
  end)

  it("refuses bool tensors", function()
    local bt = ks.tensor{{true, false}}
    local ok, err = pcall(ks.matmul, bt, ks.tensor{{true}, {true}})
    assert.is_false(ok)
    assert.matches("matmul: not implemented for bool", err)
  end)
end)

describe("matmul empty dims", function()
  it("K = 0 gives zeros", function()
    local r = ks.zeros(3, 0):matmul(ks.zeros(0, 2))
    assert.are.same({{0, 0}, {0, 0}, {0, 0}}, r:totable())
    local ri = ks.zeros({2, 0}, "int64"):matmul(ks.zeros({0, 2}, "int64"))
    assert.are.same({{0, 0}, {0, 0}}, ri:totable())
    assert.are.equal(0, ks.dot(ks.zeros(0), ks.zeros(0)):item())
  end)

  it("M = 0, N = 0 and an empty batch give empty results", function()
    assert.are.equal("0,4", shape_of(ks.zeros(0, 3):matmul(ks.zeros(3, 4))))
    assert.are.equal("2,0", shape_of(ks.zeros(2, 3):matmul(ks.zeros(3, 0))))
    assert.are.equal("0,2,4", shape_of(ks.zeros(0, 2, 3):matmul(ks.zeros(3, 4))))
    assert.are.equal("0,2,4", shape_of(ks.zeros(0, 2, 3):matmul(ks.zeros(1, 3, 4))))
  end)
end)

describe("matmul out", function()
  it("writes into an existing tensor and returns it", function()
    local a, b = make({3, 4}, 27), make({4, 2}, 28)
    local out = ks.zeros(3, 2)
    local r = ks.matmul(a, b, out)
    assert.are.equal(out, r)
    assert_same(naive_mm(a:totable(), b:totable()), out:totable())
    local out2 = ks.zeros(2, 3):t()                   -- non-contiguous out
    a:matmul(b, {out = out2})
    assert_same(naive_mm(a:totable(), b:totable()), out2:totable())
  end)

  it("is correct when out aliases an input", function()
    local a = ks.tensor{{1, 2}, {3, 4}}
    local expect = naive_mm(a:totable(), a:totable())
    ks.matmul(a, a, a)
    assert.are.same(expect, a:totable())
  end)

  it("rejects an out of the wrong shape or dtype", function()
    local ok, err = pcall(ks.matmul, ks.zeros(2, 3), ks.zeros(3, 4), ks.zeros(2, 5))
    assert.is_false(ok)
    assert.matches("out has shape %[2, 5%] and dtype float32, expected %[2, 4%] and float32", err)
    ok, err = pcall(ks.matmul, ks.zeros(2, 3), ks.zeros(3, 4), ks.zeros({2, 4}, "int64"))
    assert.is_false(ok)
    assert.matches("expected %[2, 4%] and float32", err)
  end)
end)

describe("matmul errors", function()
  it("names both shapes when the inner sizes differ", function()
    local ok, err = pcall(ks.matmul, ks.zeros(2, 3), ks.zeros(4, 5))
    assert.is_false(ok)
    assert.matches("matmul: shapes %[2, 3%] and %[4, 5%] cannot be multiplied %(3 != 4%)", err)
    ok, err = pcall(ks.matmul, ks.zeros(3), ks.zeros(4))
    assert.matches("shapes %[3%] and %[4%] cannot be multiplied", err)
  end)

  it("names both shapes when batch dims do not broadcast", function()
    local ok, err = pcall(ks.matmul, ks.zeros(2, 3, 4), ks.zeros(3, 4, 5))
    assert.is_false(ok)
    assert.matches("batch dimensions of shapes %[2, 3, 4%] and %[3, 4, 5%] cannot be broadcast", err)
  end)

  it("refuses 0-d tensors and non-tensors", function()
    local ok, err = pcall(ks.matmul, ks.tensor(2), ks.zeros(2))
    assert.is_false(ok)
    assert.matches("at least 1 dimension, got 0D and 1D", err)
    ok, err = pcall(ks.matmul, ks.zeros(2), 3)
    assert.is_false(ok)
    assert.matches("bad argument #2.*kshot.Tensor expected, got number", err)
    ok, err = pcall(ks.matmul, nil, ks.zeros(2))
    assert.matches("bad argument #1.*kshot.Tensor expected, got nil", err)
    ok, err = pcall(ks.matmul, ks.zeros(2), ks.zeros(2), "out")
    assert.matches("bad argument #3", err)
  end)
end)

describe("mm, bmm, mv, dot, outer", function()
  it("compute the products", function()
    local a, b = make({3, 4}, 29), make({4, 2}, 30)
    assert_same(naive_mm(a:totable(), b:totable()), ks.mm(a, b):totable())
    local ba, bb = make({2, 3, 4}, 31), make({2, 4, 5}, 32)
    local r = ba:bmm(bb)
    for i = 1, 2 do assert_same(naive_mm(ba:totable()[i], bb:totable()[i]), r:totable()[i]) end
    assert.are.same({5, 11}, ks.mv(ks.tensor{{1, 2}, {3, 4}}, ks.tensor{1, 2}):totable())
    assert.are.equal(11, ks.dot(ks.tensor{1, 2}, ks.tensor{3, 4}):item())
    assert.are.same({{3, 4, 5}, {6, 8, 10}}, ks.outer(ks.tensor{1, 2}, ks.tensor{3, 4, 5}):totable())
    assert.are.same({{3, 4}, {6, 8}}, ks.outer(ks.tensor({1, 2}, "int64"), ks.tensor({3, 4}, "int64")):totable())
  end)

  it("check their ranks and sizes", function()
    local ok, err = pcall(ks.mm, ks.zeros(2, 3, 4), ks.zeros(4, 5))
    assert.is_false(ok)
    assert.matches("mm: expected 2D and 2D tensors, got shapes %[2, 3, 4%] and %[4, 5%]", err)
    ok, err = pcall(ks.bmm, ks.zeros(2, 3, 4), ks.zeros(3, 4, 5))
    assert.matches("bmm: shapes %[2, 3, 4%] and %[3, 4, 5%] have different batch sizes %(2 != 3%)", err)
    ok, err = pcall(ks.mv, ks.zeros(2, 3), ks.zeros(2))
    assert.matches("mv: shapes %[2, 3%] and %[2%] cannot be multiplied %(3 != 2%)", err)
    ok, err = pcall(ks.dot, ks.zeros(3), ks.zeros(4))
    assert.matches("dot: shapes %[3%] and %[4%] cannot be multiplied", err)
    ok, err = pcall(ks.outer, ks.zeros(2, 2), ks.zeros(2))
    assert.matches("outer: expected 1D and 1D tensors", err)
  end)
end)

-- h79: an extra argument used to be dropped (ks.mm(a, b, {out = r}) returned a new tensor and left r alone);
-- now {out = r} writes into r as ks.add's does, and anything else is an error
describe("mm, bmm, mv, dot, outer with out", function()
  it("write into out and return it", function()
    local a, b = make({3, 4}, 41), make({4, 2}, 42)
    local r = ks.zeros(3, 2)
    assert.are.equal(r, ks.mm(a, b, {out = r}))
    assert_same(naive_mm(a:totable(), b:totable()), r:totable())
    local rt = ks.zeros(2, 3):t() -- non-contiguous out
    assert.are.equal(rt, a:mm(b, {out = rt}))
    assert_same(naive_mm(a:totable(), b:totable()), rt:totable())
    local ba, bb = make({2, 3, 4}, 43), make({2, 4, 5}, 44)
    local br = ks.zeros(2, 3, 5)
    ks.bmm(ba, bb, {out = br})
    assert_same(ks.bmm(ba, bb):totable(), br:totable())
    local v = ks.zeros(2)
    assert.are.equal(v, ks.mv(ks.tensor{{1, 2}, {3, 4}}, ks.tensor{1, 2}, {out = v}))
    assert.are.same({5, 11}, v:totable())
    local d = ks.tensor(0.0)
    ks.dot(ks.tensor{1, 2}, ks.tensor{3, 4}, {out = d})
    assert.are.equal(11, d:item())
    local o = ks.zeros({2, 3}, "int64")
    ks.tensor({1, 2}, "int64"):outer(ks.tensor({3, 4, 5}, "int64"), {out = o})
    assert.are.same({{3, 4, 5}, {6, 8, 10}}, o:totable())
    local sq = ks.tensor{{1, 2}, {3, 4}} -- out aliasing the inputs
    ks.mm(sq, sq, {out = sq})
    assert.are.same({{7, 10}, {15, 22}}, sq:totable())
    assert_same(naive_mm(a:totable(), b:totable()), ks.mm(a, b, {}):totable()) -- no out: a new tensor
  end)

  it("reject a wrong out, an unknown option, an extra argument and autograd through out", function()
    local a, b = ks.ones(2, 3), ks.ones(3, 4)
    local function err_of(f, ...) local ok, e = pcall(f, ...); assert.is_false(ok); return e end
    assert.matches("mm: out has shape [2, 5] and dtype float32, expected [2, 4] and float32",
      err_of(ks.mm, a, b, {out = ks.zeros(2, 5)}), 1, true)
    assert.matches("outer: out has shape [2, 2] and dtype int64, expected [2, 2] and float32",
      err_of(ks.outer, ks.ones(2), ks.ones(2), {out = ks.zeros({2, 2}, "int64")}), 1, true)
    assert.matches("bmm: expected 3D and 3D tensors", err_of(ks.bmm, a, b, {out = ks.zeros(2, 4)}), 1, true)
    for _, name in ipairs({"mm", "bmm", "mv", "dot", "outer"}) do
      assert.matches(name .. ": unknown option 'ot' (known: out); did you mean 'out'?", err_of(ks[name], a, b, {ot = 1}),
        1, true)
      local e = err_of(ks[name], a, b, 3)
      assert.matches("bad argument #3 to '[%w.]*" .. name .. "'", e)
      assert.matches("(options table {out = r} expected, got number)", e, 1, true)
      assert.matches(name .. " takes (a, b[, {out = r}]), got 4 arguments", err_of(ks[name], a, b, {}, 1), 1, true)
    end
    local r = ks.zeros(2, 4)
    assert.matches("mm(): functions with out=... arguments don't support automatic differentiation",
      err_of(ks.mm, ks.ones(2, 3, {requires_grad = true}), b, {out = r}), 1, true)
    assert.matches("mm(): functions with out=",
      err_of(ks.mm, a, b, {out = ks.zeros(2, 4, {requires_grad = true})}), 1, true)
    ks.no_grad(function() ks.mm(ks.ones(2, 3, {requires_grad = true}), b, {out = r}) end)
    assert.are.same({3, 3, 3, 3}, r[0]:totable())
  end)
end)

describe("addmm", function()
  it("computes beta * input + alpha * a @ b with a broadcast bias", function()
    local a, b = ks.tensor{{1, 2}, {3, 4}}, ks.tensor{{1, 0, 1}, {0, 1, 1}}
    assert.are.same({{11, 22, 33}, {13, 24, 37}}, ks.addmm(ks.tensor{10, 20, 30}, a, b):totable())
    assert.are.same({{22, 44, 66}, {26, 48, 74}}, ks.addmm(ks.tensor{10, 20, 30}, a, b, 2, 2):totable())
    assert.are.same({{4, 8, 12}, {12, 16, 28}}, ks.addmm(ks.tensor{10, 20, 30}, a, b, {beta = 0, alpha = 4}):totable())
    assert.are.same({{2, 3, 4}, {4, 5, 8}}, ks.addmm(1, a, b):totable())
  end)

  it("ignores NaN in input when beta = 0, and handles vector shapes and transposed weights", function()
    local nan = ks.tensor{0 / 0}
    local r = ks.addmm(nan, ks.tensor{{1, 2}}, ks.tensor{{3}, {4}}, 0, 1)
    assert.are.equal(11, r:item())
    local x, w = make({4, 6}, 33), make({3, 6}, 34)        -- Linear: x @ W:t() + bias
    local bias = ks.tensor{1, 2, 3}
    local expect = naive_mm(x:totable(), w:t():contiguous():totable())
    for i = 1, 4 do for j = 1, 3 do expect[i][j] = expect[i][j] + j end end
    assert_same(expect, ks.addmm(bias, x, w:t()):totable())
  end)

  it("works on int64 and checks shapes", function()
    local a = ks.tensor({{1, 2}}, "int64")
    local r = ks.addmm(ks.tensor({{5}}, "int64"), a, ks.tensor({{3}, {4}}, "int64"), 2, 3)
    assert.are.equal("int64", r:dtype())
    assert.are.equal(43, r:item())
    local ok, err = pcall(ks.addmm, ks.zeros(3), ks.zeros(2, 2), ks.zeros(2, 4))
    assert.is_false(ok)
    assert.matches("addmm: input of shape %[3%] cannot be broadcast to the product's shape %[2, 4%]", err)
    ok, err = pcall(ks.addmm, ks.zeros(4), ks.zeros(2, 3), ks.zeros(2, 4))
    assert.matches("addmm: shapes %[2, 3%] and %[2, 4%] cannot be multiplied %(3 != 2%)", err)
    ok, err = pcall(ks.addmm, ks.tensor({1}, "int64"), a, ks.tensor({{1}, {1}}, "int64"), 0.5)
    assert.matches("alpha and beta must be integers", err)
    ok, err = pcall(ks.addmm, ks.zeros(2), ks.zeros(2, 2), ks.zeros(2, 2), {beta = "x"})
    assert.matches("field 'beta' must be a number", err)
  end)
end)
