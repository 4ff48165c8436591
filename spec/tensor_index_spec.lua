-- t[i], t[{...}] reads (views where PyTorch gives views) and t[key] = value.
local ks = require "kshot"

local function errmsg(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function get(t, k) return t[k] end
local function set(t, k, v) t[k] = v end
local function I(v) return ks.tensor(v, "int64") end

local function grid() return ks.arange(12):reshape(3, 4) end -- {{0..3},{4..7},{8..11}}

describe("reading with integers", function()
  it("t[i] selects along dim 0 (negative from the end) as a view", function()
    local t = grid()
    assert.are.same({4, 5, 6, 7}, t[1]:totable())
    assert.are.same({8, 9, 10, 11}, t[-1]:totable())
    assert.is_true(t[1]:shares_storage(t))
  end)

  it("t[i] on a 1-D tensor is a 0-d view (use :item())", function()
    local v = ks.arange(5)
    local e = v[2]
    assert.are.equal(0, e:dim())
    assert.are.equal(2, e:item())
    assert.is_true(e:shares_storage(v))
  end)

  it("t[{i, j}] selects one element per dim", function()
    local t = grid()
    assert.are.equal(6, t[{1, 2}]:item())
    assert.are.equal(11, t[{-1, -1}]:item())
    assert.are.same({3, 7, 11}, t[{{}, 3}]:totable())
  end)

  it("out-of-range indices name the dim, the index and the size", function()
    local t = grid()
    assert.matches("index 3 is out of bounds for dimension 0 with size 3", errmsg(get, t, 3))
    assert.matches("index %-4 is out of bounds for dimension 0 with size 3", errmsg(get, t, -4))
    assert.matches("index 4 is out of bounds for dimension 1 with size 4", errmsg(get, t, {0, 4}))
    assert.matches("index 9 is out of bounds for dimension 1 with size 4", errmsg(get, t, {{}, 9}))
    assert.matches("too many indices for tensor of dimension 2 %(got 3%)", errmsg(get, t, {0, 0, 0}))
    assert.matches("invalid index of a 0%-dim tensor", errmsg(get, ks.tensor(1), 0))
    assert.matches("index must be an integer, got 1.5", errmsg(get, t, 1.5))
  end)

  it("one past the end says indices are 0-based and how to loop", function()
    local t = grid()
    local e = errmsg(get, t, 3)
    assert.truthy(e:find("index 3 is out of bounds for dimension 0 with size 3; tensor indices are 0-based: "
      .. "loop with `for i = 0, #t - 1 do ... t[i] ... end` (ipairs(t) starts at 1 and skips row 0)", 1, true), e)
    assert.truthy(errmsg(get, t, {0, 4}):find("size 4; tensor indices are 0-based (0 to size - 1)", 1, true))
    assert.truthy(errmsg(set, t, 3, 1):find("size 3; tensor indices are 0-based: loop with", 1, true))
    -- further out or negative: no hint
    assert.matches("with size 3$", errmsg(get, t, 4))
    assert.matches("with size 3$", errmsg(get, t, -4))
  end)

  it("the error carries the Lua caller's file:line, also under ipairs", function()
    local t, rows, line = ks.arange(6):view(3, 2), {}, nil
    local ok, e = pcall(function()
      line = debug.getinfo(1, "l").currentline; for i, row in ipairs(t) do rows[i] = row:totable() end
    end)
    assert.is_false(ok)
    assert.same({nil, {2, 3}, {4, 5}}, {rows[0], rows[1], rows[2]}) -- ipairs skipped row 0
    assert.truthy(e:find("tensor_index_spec.lua:" .. line .. ": index 3 is out of bounds for dimension 0 with size 3", 1, true), e)
    assert.truthy(e:find("for i = 0, #t - 1 do", 1, true), e)
    -- direct reads too
    ok, e = pcall(function() line = debug.getinfo(1, "l").currentline; return t[7] end)
    assert.truthy(e:find("tensor_index_spec.lua:" .. line .. ": index 7 is out of bounds", 1, true), e)
    -- the loop the message suggests visits every row
    local seen = {}
    for i = 0, #t - 1 do seen[#seen + 1] = t[i][0]:item() end
    assert.same({0, 2, 4}, seen)
  end)
end)

describe("slices", function()
  it("{start, stop} with stop exclusive, negative and clamped", function()
    local v = ks.arange(10)
    assert.are.same({2, 3, 4}, v[{{2, 5}}]:totable())
    assert.are.same({7, 8, 9}, v[{{-3}}]:totable())
    assert.are.same({0, 1}, v[{{nil, 2}}]:totable())
    assert.are.same({8}, v[{{-2, -1}}]:totable())
    assert.are.same({5, 6, 7, 8, 9}, v[{{5, 100}}]:totable())
    assert.are.same({}, v[{{6, 3}}]:totable())
    assert.are.same({0, 1, 2}, v[{{-100, 3}}]:totable())
  end)

  it("steps, including negative steps", function()
    local v = ks.arange(10)
    assert.are.same({0, 3, 6, 9}, v[{{nil, nil, 3}}]:totable())
    assert.are.same({1, 3, 5}, v[{{1, 7, 2}}]:totable())
    assert.are.same({9, 8, 7, 6, 5, 4, 3, 2, 1, 0}, v[{{nil, nil, -1}}]:totable())
    assert.are.same({8, 6, 4}, v[{{8, 2, -2}}]:totable())
    assert.are.same({9, 6, 3, 0}, v[{{nil, nil, -3}}]:totable())
    assert.are.same({}, v[{{2, 8, -1}}]:totable())
    assert.are.same({0}, v[{{0, 10, math.maxinteger}}]:totable())
    assert.are.same({9}, v[{{nil, nil, math.mininteger}}]:totable())
    assert.are.same({}, v[{{math.maxinteger, math.mininteger}}]:totable())
  end)

  it("slices are views sharing storage, whole dims with {} / ':' / '...'", function()
    local t = grid()
    local s = t[{{1, 3}, {nil, nil, 2}}]
    assert.are.same({{4, 6}, {8, 10}}, s:totable())
    assert.is_true(s:shares_storage(t))
    assert.are.same({1, 5, 9}, t[{{}, 1}]:totable())
    assert.are.same({1, 5, 9}, t[{":", 1}]:totable())
    assert.are.same({1, 5, 9}, t[{"...", 1}]:totable())
    assert.are.same({4, 5, 6, 7}, t[{1, "..."}]:totable())
    assert.are.same({3, 4}, t[{}]:shape())
    local c = ks.arange(24):reshape(2, 3, 4)
    assert.are.same({{1, 5, 9}, {13, 17, 21}}, c[{"...", 1}]:totable())
  end)

  it("rejects bad slices", function()
    local v = ks.arange(5)
    assert.matches("slice step cannot be zero", errmsg(get, v, {{0, 5, 0}}))
    assert.matches("slice start must be an integer, got string", errmsg(get, v, {{"a", 2}}))
    assert.matches("more than 3 entries", errmsg(get, v, {{0, 1, 1, 1}}))
    assert.matches("index entry 2 is nil", errmsg(get, grid(), {0, nil, 1}))
    assert.matches("unknown string 'x'", errmsg(get, v, {"x"}))
    assert.matches("single ellipsis", errmsg(get, grid(), {"...", "..."}))
    assert.matches("expected an integer, a slice table", errmsg(get, v, {true}))
    assert.matches("got boolean", errmsg(get, v, true))
  end)
end)

describe("masks and index tensors (copies)", function()
  it("a full bool mask selects elements row-major", function()
    local t = grid()
    local m = ks.tensor{{true, false, false, true}, {false, false, false, false}, {false, true, false, false}}
    local r = t[m]
    assert.are.same({0, 3, 9}, r:totable())
    assert.is_false(r:shares_storage(t))
  end)

  it("a mask over leading or inner dims", function()
    local t = grid()
    assert.are.same({{0, 1, 2, 3}, {8, 9, 10, 11}}, t[ks.tensor{true, false, true}]:totable())
    assert.are.same({{1, 2}, {5, 6}, {9, 10}}, t[{{}, ks.tensor{false, true, true, false}}]:totable())
    assert.are.same({0, 4, 8}, t[{{}, ks.tensor{true, false, false, false}}]:reshape(-1):totable())
    local u8 = ks.tensor({1, 0, 1}, "uint8")
    assert.are.same({2, 4}, t[u8]:shape())
    assert.are.same({0, 4}, t[ks.tensor{false, false, false}]:shape())
  end)

  it("an int64 index tensor gathers along its dim (result takes the index's shape)", function()
    local t = grid()
    assert.are.same({{8, 9, 10, 11}, {0, 1, 2, 3}}, t[I{2, 0}]:totable())
    assert.are.same({{8, 9, 10, 11}}, t[I{-1}]:totable())
    assert.are.same({{3, 0}, {7, 4}, {11, 8}}, t[{{}, I{3, 0}}]:totable())
    assert.are.same({3, 2, 2}, t[{{}, I{{3, 0}, {1, 1}}}]:shape())
    assert.are.same({6, 4}, t[{1, I{2, 0}}]:totable())
    assert.are.same({4}, t[I(1)]:shape()) -- a 0-d index drops the dim
  end)

  it("the result is a new tensor: later writes to the index or the source do not reach it", function()
    -- t[idx] reads through the index itself when its values need no wrapping (no copy of it)
    local t, idx = grid(), I{2, 0}
    local r, rt = t[idx], t[{{}, idx}]
    local same = t[{":"}] -- no index tensor: a view, but a tensor of its own
    idx[0] = 1
    t:fill_(-1)
    assert.are.same({{8, 9, 10, 11}, {0, 1, 2, 3}}, r:totable())
    assert.are.same({{2, 0}, {6, 4}, {10, 8}}, rt:totable())
    assert.is_false(r:shares_storage(t))
    assert.is_true(same:shares_storage(t))
    local f = ks.ones(3)
    local g = f[{":"}]
    g.requires_grad = true
    assert.is_false(f.requires_grad)
    local v = ks.arange(4)
    assert.are.same({3, 0}, v[ks.arange(6)[{{3, nil, -3}}]]:totable()) -- a strided index
  end)

  it("rejects bad masks and indices", function()
    local t = grid()
    assert.matches("shape of the mask %[2%] at index 0 does not match the shape of the indexed tensor %[3, 4%] at index 0",
      errmsg(get, t, ks.tensor{true, false}))
    assert.matches("index 3 is out of bounds for dimension 0 with size 3", errmsg(get, t, I{0, 3}))
    assert.matches("index %-5 is out of bounds for dimension 1 with size 4", errmsg(get, t, {{}, I{-5}}))
    assert.matches("must be int64 %(index%) or bool/uint8 %(mask%), got float32", errmsg(get, t, ks.tensor{0, 1}))
    -- several index tensors: see "index tensors with slices and integers" below
    local t8 = ks.zeros(1, 1, 1, 1, 1, 1, 1, 2)
    assert.matches("would have 9 dims %(at most 8%)", errmsg(get, t8, I{{0}, {0}}))
    assert.matches("would have 9 dims", errmsg(set, t8, I{{0}, {0}}, ks.zeros(1)))
    assert.matches("at most 8", errmsg(get, t8, ks.tensor(true)))
  end)
end)

describe("assignment", function()
  it("numbers into elements, rows, slices and strided views", function()
    local t = ks.zeros(3, 4, "int64")
    t[{0, 0}] = 5
    t[2] = 7
    t[{{}, 3}] = -1
    t[{1, {nil, nil, 2}}] = 9
    assert.are.same({{5, 0, 0, -1}, {9, 0, 9, -1}, {7, 7, 7, -1}}, t:totable())
    local v = ks.zeros(5)
    v[-1] = 2.5
    v[0] = true
    assert.are.same({1, 0, 0, 0, 2.5}, v:totable())
  end)

  it("tensors broadcast to the selected region, with dtype conversion", function()
    local t = ks.zeros(3, 4)
    t[{{}, {1, 3}}] = ks.tensor{1, 2}
    assert.are.same({{0, 1, 2, 0}, {0, 1, 2, 0}, {0, 1, 2, 0}}, t:totable())
    t[0] = I{4, 5, 6, 7}
    assert.are.same({4, 5, 6, 7}, t[0]:totable())
    t[{{nil, nil, -1}, 0}] = ks.tensor{10, 20, 30} -- negative step
    assert.are.same({30, 20, 10}, t[{{}, 0}]:totable())
  end)

  it("nested tables are accepted as values", function()
    local t = ks.zeros(2, 2, "int64")
    t[{}] = {{1, 2}, {3, 4}}
    assert.are.same({{1, 2}, {3, 4}}, t:totable())
    t[1] = {9, 8}
    assert.are.same({{1, 2}, {9, 8}}, t:totable())
  end)

  it("writes go through views into the base", function()
    local base = ks.zeros(3, 3)
    local col = base:t()[1] -- column 1 of base
    col[{}] = 4
    assert.are.same({{0, 4, 0}, {0, 4, 0}, {0, 4, 0}}, base:totable())
    local d = base[{{1}, {1}}]
    d[{0, 0}] = -1
    assert.are.equal(-1, base[{1, 1}]:item())
  end)

  it("overlapping source and destination (copy of the source first)", function()
    local v = ks.arange(5)
    v[{}] = v:flip{0}
    assert.are.same({4, 3, 2, 1, 0}, v:totable())
    local w = ks.arange(6)
    w[{{1, 6}}] = w[{{0, 5}}]
    assert.are.same({0, 0, 1, 2, 3, 4}, w:totable())
  end)

  it("masks: fill with a number, scatter a tensor", function()
    local t = grid()
    t[ks.tensor{{true, false, false, false}, {false, true, false, false}, {false, false, true, true}}] = -1
    assert.are.same({{-1, 1, 2, 3}, {4, -1, 6, 7}, {8, 9, -1, -1}}, t:totable())
    local u = grid()
    u[ks.tensor{true, false, true}] = 0 -- rows
    assert.are.same({{0, 0, 0, 0}, {4, 5, 6, 7}, {0, 0, 0, 0}}, u:totable())
    local w = grid()
    w[{{}, ks.tensor{false, true, false, true}}] = I{{10, 20}, {30, 40}, {50, 60}}
    assert.are.same({{0, 10, 2, 20}, {4, 30, 6, 40}, {8, 50, 10, 60}}, w:totable())
    local m = ks.zeros(4)
    m[ks.tensor{true, false, true, true}] = ks.tensor{1, 2, 3}
    assert.are.same({1, 0, 2, 3}, m:totable())
  end)

  it("masks write through non-contiguous views", function()
    local base = grid()
    local tv = base:t() -- 4x3 view
    tv[{{}, ks.tensor{true, false, true}}] = 0
    assert.are.same({{0, 0, 0, 0}, {4, 5, 6, 7}, {0, 0, 0, 0}}, base:totable())
  end)

  it("index tensors: fill and copy along a dim", function()
    local t = grid()
    t[I{0, 2}] = 0
    assert.are.same({{0, 0, 0, 0}, {4, 5, 6, 7}, {0, 0, 0, 0}}, t:totable())
    local u = grid()
    u[{{}, I{3, 0}}] = I{100, 200}
    assert.are.same({{200, 1, 2, 100}, {200, 5, 6, 100}, {200, 9, 10, 100}}, u:totable())
    local v = grid()
    v[{1, I{-1}}] = 42
    assert.are.equal(42, v[{1, 3}]:item())
  end)

  it("an index tensor sharing the target's storage is read before the write", function()
    local t = ks.tensor({1, 0, 3, 2}, ks.int64)
    t[t[{{0, 2}}]] = ks.tensor({7, 9}, ks.int64) -- positions {1, 0} read before t[0], t[1] change
    assert.are.same({9, 7, 3, 2}, t:totable())
    local u = ks.tensor({2, 0, 1}, ks.int64)
    u[u] = 5
    assert.are.same({5, 5, 5}, u:totable())
  end)

  it("rejects wrong value shapes naming both shapes", function()
    local t = ks.zeros(3, 4)
    assert.matches("shape %[2%] cannot be broadcast to %[3%]", errmsg(set, t, {{}, 1}, ks.tensor{1, 2}))
    assert.matches("shape %[3%] cannot be broadcast to %[4%]", errmsg(set, t, 0, {1, 2, 3}))
    assert.matches("value tensor of shape %[3%] cannot be broadcast to indexing result of shape %[2, 4%]",
      errmsg(set, t, ks.tensor{true, false, true}, ks.tensor{1, 2, 3}))
    assert.matches("value tensor of shape %[5%] cannot be broadcast to indexing result of shape %[3, 2%]",
      errmsg(set, t, {{}, I{0, 1}}, ks.zeros(5)))
  end)

  it("rejects bad values and keys", function()
    local t = ks.zeros(3)
    assert.matches("cannot assign nil", errmsg(set, t, {{}}, nil))
    assert.matches("tensor, number, boolean or table expected, got string", errmsg(set, t, 0, "x"))
    assert.matches("index 3 is out of bounds for dimension 0 with size 3", errmsg(set, t, 3, 1))
    assert.matches("index 5 is out of bounds", errmsg(set, t, I{5}, 1))
    assert.matches("element 2 is a string", errmsg(set, t, {}, {1, "a", 3}))
    assert.matches("cannot set field 'foo'", errmsg(set, t, "foo", 1))
  end)

  it("refuses numbers an int64/uint8 tensor cannot hold, on every path (no silent wrap)", function()
    local u = ks.tensor({1, 2, 3}, "uint8")
    assert.matches("fill_%(%): value 300 cannot be converted to uint8 without overflow", errmsg(set, u, 0, 300)) -- was 44
    assert.matches("fill_%(%): value %-1 cannot be converted to uint8", errmsg(set, u, {-1}, -1))
    assert.matches("fill_%(%): value 256 cannot be converted to uint8", errmsg(set, u, {{0, 2}}, 256))
    assert.matches("fill_%(%): value %-?nan cannot be converted to uint8", errmsg(set, u, {}, 0 / 0))
    assert.matches("value 256 cannot be converted to uint8", errmsg(set, u, ks.tensor{true, false, true}, 256))
    assert.matches("value 300 cannot be converted to uint8", errmsg(set, u, I{0, 2}, 300))
    assert.matches("element 2 %(value 300%) cannot be converted to uint8", errmsg(set, u, {{}}, {1, 300, 2}))
    assert.are.same({1, 2, 3}, u:totable())
    local m = ks.zeros(2, 2, "uint8")
    assert.matches("fill_%(%): value 300 cannot be converted to uint8", errmsg(set, m, {1, 1}, 300))
    local l = ks.tensor({1, 2}, "int64")
    assert.matches("fill_%(%): value 1e%+300 cannot be converted to int64 without overflow", errmsg(set, l, 0, 1e300))
    assert.matches("fill_%(%): value %-?nan cannot be converted to int64", errmsg(set, l, -1, 0 / 0))
    assert.matches("fill_%(%): value inf cannot be converted to int64", errmsg(set, l, {{}}, math.huge))
    assert.are.same({1, 2}, l:totable())
    -- what fits still goes in exactly: limits, truncated fractions, integers beyond 2^53 through masks/indices
    u[0] = 255; u[1] = 0; u[2] = 7.9
    assert.are.same({255, 0, 7}, u:totable())
    l[0] = math.maxinteger; l[1] = -2.0 ^ 63
    assert.are.same({math.maxinteger, math.mininteger}, l:totable())
    l[ks.tensor{true, false}] = (1 << 53) + 1
    l[I{1}] = math.maxinteger
    assert.are.same({(1 << 53) + 1, math.maxinteger}, l:totable())
    local b = ks.zeros(2, "bool")
    b[0] = 300
    assert.are.same({true, false}, b:totable())
  end)

  it("refuses in-place writes to tensors that require grad (unless grad is off)", function()
    local w = ks.zeros({2}, {requires_grad = true})
    assert.matches("requires grad", errmsg(set, w, 0, 1))
    if ks.no_grad then
      ks.no_grad(function() w[0] = 1 end)
      assert.are.equal(1, w:totable()[1])
    end
  end)
end)

describe("indexing and autograd", function()
  it("select and slice views pass gradients", function()
    if not ks.no_grad then return pending("autograd not available") end
    local x = ks.tensor({{1, 2}, {3, 4}}, {requires_grad = true})
    local y = x[1][{{0, 1}}]
    assert.is_true(y.requires_grad)
    y:backward(ks.ones(1))
    assert.are.same({{0, 0}, {1, 0}}, x.grad:totable())
    local z = x[{{}, 1}]
    z:backward(ks.tensor{10, 20})
    assert.are.same({{0, 10}, {1, 20}}, x.grad:totable())
    local w = x[{{nil, nil, -1}, {1}}] -- negative step, recorded as slices
    assert.are.same({{4}, {2}}, w:totable())
    w:backward(ks.tensor{{100}, {200}})
    assert.are.same({{0, 210}, {1, 120}}, x.grad:totable())
  end)

  it("index and mask reads carry gradients (repeated indices accumulate)", function()
    local x = ks.tensor({{1, 2, 3}, {4, 5, 6}}, {requires_grad = true})
    local y = x[{{}, I{2, 0, 2}}]
    assert.are.same({{3, 1, 3}, {6, 4, 6}}, y:totable())
    y:backward(ks.tensor{{1, 10, 100}, {1000, 10000, 100000}})
    assert.are.same({{10, 0, 101}, {10000, 0, 101000}}, x.grad:totable())
    x.grad = nil
    local m = x[x:detach():gt(2.5)]
    assert.are.same({3, 4, 5, 6}, m:totable())
    m:sum():backward()
    assert.are.same({{0, 0, 1}, {1, 1, 1}}, x.grad:totable())
    -- the gradient goes to the positions read, whatever happens to the index afterwards
    x.grad = nil
    local idx = I{1, 1}
    local r = x[idx]
    idx:fill_(0)
    r:sum():backward()
    assert.are.same({{0, 0, 0}, {2, 2, 2}}, x.grad:totable())
    local gc = require("kshot.autograd").gradcheck
    local z = ks.randn({3, 4, 2}, {generator = ks.Generator(1)}):requires_grad_()
    local ok, report = gc(function(t) return (t[{I{1, 1, 0}, {1, 3}}] * 2):sin() end, {z})
    assert.is_true(ok, report)
  end)
end)

-- torch 1.13's numbers: spec/fixtures/torch_refs/index_mixed.py (x = arange(120):reshape(2, 3, 4, 5))
local ref = require "spec.helpers.torch_reference"
describe("index tensors with slices and integers (PyTorch's rules)", function()
  local function x4() return ks.arange(2 * 3 * 4 * 5):reshape(2, 3, 4, 5) end
  local function check(shape, flat, r)
    assert.are.same(shape, r:shape())
    assert.are.same(flat, r:reshape(-1):totable())
  end
  -- every element of t is sparse[flat position] or 0 (the torch script prints the non-zeros)
  local function check_sparse(sparse, t)
    local got = t:reshape(-1):totable()
    for k = 1, #got do assert.are.equal(sparse[k - 1] or 0, got[k], "element " .. (k - 1)) end
  end
  local i, m = I{1, 0}, ks.tensor{true, false, true}

  it("integers select first; adjacent index dims stay in place, separated ones go first", function()
    local x = x4()
    check({3, 2, 5}, {5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 25, 26, 27, 28, 29, 20, 21, 22, 23, 24, 45, 46, 47, 48, 49, 40, 41,
      42, 43, 44}, x[{0, ":", i}])
    check({2, 3, 5}, {70, 71, 72, 73, 74, 90, 91, 92, 93, 94, 110, 111, 112, 113, 114, 15, 16, 17, 18, 19, 35, 36, 37,
      38, 39, 55, 56, 57, 58, 59}, x[{i, ":", I{2, -1}}])
    check({2, 2, 4}, {24, 29, 34, 39, 84, 89, 94, 99, 0, 5, 10, 15, 60, 65, 70, 75}, x[{":", i, ":", I{4, 0}}])
    check({2, 2}, {28, 5, 88, 65}, x[{":", i, 1, I{3, 0}}]) -- adjacent once the integer has selected
    check({2, 2, 2, 5}, {80, 81, 82, 83, 84, 100, 101, 102, 103, 104, 20, 21, 22, 23, 24, 40, 41, 42, 43, 44, 95, 96,
      97, 98, 99, 115, 116, 117, 118, 119, 35, 36, 37, 38, 39, 55, 56, 57, 58, 59}, x[{i, {1, 3}, I{{0}, {3}}}])
    check({2, 3, 4}, {61, 66, 71, 76, 81, 86, 91, 96, 101, 106, 111, 116, 4, 9, 14, 19, 24, 29, 34, 39, 44, 49, 54, 59},
      x[{i, "...", I{1, 4}}])
    check({2, 2, 4}, {100, 105, 110, 115, 60, 65, 70, 75, 41, 46, 51, 56, 1, 6, 11, 16},
      x[{i, {nil, nil, -2}, ":", I{0, 1}}])
    -- "..." covering no dim leaves the index tensors adjacent (torch; NumPy would move them first)
    assert.are.same({3, 2}, ks.zeros(3, 4, 5)[{":", I{0, 1}, "...", I{0, 1}}]:shape())
    assert.is_false(x[{i, ":", i}]:shares_storage(x))
  end)

  it("a mask joined by index tensors indexes by its set positions", function()
    local x = x4()
    check({2, 2, 4}, {1, 6, 11, 16, 61, 66, 71, 76, 43, 48, 53, 58, 103, 108, 113, 118}, x[{":", m, ":", I{1, 3}}])
    check({2, 5}, {60, 61, 62, 63, 64, 110, 111, 112, 113, 114}, x[{1, m, I{0, 2}}])
    local m2 = ks.tensor{{true, false, false, true}, {false, true, false, false}, {false, false, false, true}}
    check({2, 4}, {0, 16, 29, 57, 60, 76, 89, 117}, x[{":", m2, I{0, 1, 4, 2}}])
    -- an empty mask: its [0] coordinates broadcast with [2, 1] to [2, 0], moved first
    assert.are.same({2, 0, 2, 4}, ks.zeros(2, 3, 4, 5)[{":", ks.zeros(3, "bool"), ":", I{{1}, {2}}}]:shape())
  end)

  it("writes broadcast the value to the result; a repeated position keeps the last value", function()
    local y = ks.zeros(3, 4, 5)
    y[{I{0, 2}, ":", I{1, 4}}] = ks.arange(4):float()
    check_sparse({[6] = 1, [11] = 2, [16] = 3, [49] = 1, [54] = 2, [59] = 3}, y)
    y = ks.zeros(3, 4, 5)
    y[{I{1, 1, 1}, ":", I{2, 2, 2}}] = ks.arange(12):float():reshape(3, 4)
    check_sparse({[22] = 8, [27] = 9, [32] = 10, [37] = 11}, y)
    y = ks.zeros(3, 4, 5)
    y[{m, 1, I{0, 3}}] = 7.5
    check_sparse({[5] = 7.5, [48] = 7.5}, y)
    local base = ks.zeros(3, 4, 5)
    local tv = base:transpose(0, 2) -- writes go through a non-contiguous view
    tv[{I{0, 4}, {1, 3}, I{2, 0}}] = ks.tensor{{1}, {2}}
    check_sparse({[9] = 2, [14] = 2, [45] = 1, [50] = 1}, base)
    local n = ks.zeros(2, 3, 2, "int64")
    n[{I{1}, ":", I{1}}] = (1 << 53) + 1 -- integers stay exact
    assert.are.equal((1 << 53) + 1, n[{1, 2, 1}]:item())
    assert.are.equal(0, n[{0, 2, 1}]:item())
  end)

  it("reads carry gradients (repeated positions accumulate), checked by finite differences", function()
    local g = (ks.arange(24):float() * 0.37):sin():reshape(2, 3, 4):requires_grad_()
    local r = g[{I{0, 1, 0}, ":", I{2, 2, 2}}]
    ref.close({0.674288, 0.796565, -0.529836, -0.892648, 0.367960, 0.959375, 0.674288, 0.796565, -0.529836}, r)
    r:backward((ks.arange(9):float() + 1):reshape(3, 3))
    ref.close({0, 0, 8, 0, 0, 0, 10, 0, 0, 0, 12, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0, 6, 0}, g.grad)
    g.grad = nil
    r = g[{ks.tensor{true, false}, {1}, I{3, 1}}]
    ref.close({0.524044, -0.800667, 0.961275, -0.187295}, r)
    r:backward(ks.tensor{{1, 2}, {3, 4}})
    ref.close({0, 0, 0, 0, 0, 3, 0, 1, 0, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, g.grad)
    local gc = require("kshot.autograd").gradcheck
    local z = ks.randn({3, 4, 2, 3}, {generator = ks.Generator(2)}):requires_grad_()
    for _, key in ipairs({{I{1, 1, 0}, ":", I{1, 0, 1}}, {1, {1, 4}, I{{0}, {1}}, I{2, 2}},
                          {ks.tensor{true, false, true}, ":", 0, I{1, 2}}}) do
      local ok, report = gc(function(t) return (t[key] * 2):sin() end, {z})
      assert.is_true(ok, report)
    end
  end)

  it("errors name the dim, the index and the size; float indices; shapes that do not broadcast", function()
    local x = ks.zeros(3, 4, 5)
    assert.matches("index 7 is out of bounds for dimension 2 with size 5", errmsg(get, x, {I{0, 1}, ":", I{0, 7}}))
    assert.matches("index %-4 is out of bounds for dimension 0 with size 3", errmsg(get, x, {I{-4}, 0, I{0}}))
    assert.matches("index 9 is out of bounds for dimension 2 with size 5", errmsg(set, x, {I{0}, ":", I{9}}, 1))
    assert.matches("index entry 3: tensors used as indices must be int64 %(index%) or bool/uint8 %(mask%), got float32",
      errmsg(get, x, {I{0, 1}, ":", ks.tensor{0, 1}}))
    assert.matches("index tensors could not be broadcast together: %[2%] and %[3%]",
      errmsg(get, x, {I{0, 1}, ":", I{0, 1, 2}}))
    assert.matches("value tensor of shape %[3%] cannot be broadcast to indexing result of shape %[2, 4%]",
      errmsg(set, x, {I{0, 1}, ":", I{0, 1}}, ks.zeros(3)))
    assert.matches("the shape of the mask %[2%] at index 0 does not match the shape of the indexed tensor %[4, 5%] "
      .. "at index 1",
      errmsg(get, x, {0, ks.tensor{true, false}, I{1}}))
    assert.matches("index entry 1: a 0%-dim mask cannot be combined with other index tensors",
      errmsg(get, x, {ks.tensor(true), I{1}}))
    assert.are.same({0, 0, 0, 0, 0}, x:sum(0):sum(0):totable()) -- failed writes left x untouched
  end)
end)
