-- index_select, gather, scatter*, index_add_/copy_/fill_, masked_*, nonzero,
-- one_hot, bincount, cdist: hand-computed results, views, empty tensors, errors.
local ks = require "kshot"

local function long(t) return ks.tensor(t, "int64") end
local function err_of(f)
  local ok, err = pcall(f)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end
local function near(expected, actual, tol)
  tol = tol or 1e-5
  if type(expected) == "table" then
    assert.equal(#expected, #actual)
    for i = 1, #expected do near(expected[i], actual[i], tol) end
    return
  end
  assert.is_true(math.abs(expected - actual) <= tol * math.max(1, math.abs(expected)),
    ("expected %s, got %s"):format(expected, actual))
end

describe("index_select", function()
  local x = ks.tensor{{1, 2, 3}, {4, 5, 6}}

  it("selects along dim 0 and dim 1 (negative dims too), with repeats", function()
    assert.same({{4, 5, 6}, {1, 2, 3}, {4, 5, 6}}, x:index_select(0, long{1, 0, 1}):totable())
    assert.same({{3, 1}, {6, 4}}, x:index_select(1, long{2, 0}):totable())
    assert.same({{3, 1}, {6, 4}}, ks.index_select(x, -1, long{2, 0}):totable())
    assert.same({{2}, {5}}, x:index_select(1, 1):totable())       -- Lua integer index
    assert.same({{4, 5, 6}}, x:index_select(0, {1}):totable())   -- Lua list index
  end)

  it("reads non-contiguous views and keeps the dtype", function()
    local xt = x:t() -- [[1,4],[2,5],[3,6]]
    assert.same({{3, 6}, {1, 4}}, xt:index_select(0, long{2, 0}):totable())
    assert.same({{4}, {5}, {6}}, xt:index_select(1, long{1}):totable())
    local xi = long{{10, 20}, {30, 40}}
    local r = xi:index_select(0, long{1})
    assert.equal("int64", r:dtype())
    assert.same({{30, 40}}, r:totable())
    local xb = ks.tensor({7, 8, 9}, "uint8"):index_select(0, long{2, 2})
    assert.same({9, 9}, xb:totable())
  end)

  it("copies whole rows of contiguous tensors and of views alike (strided index, 0-d, large)", function()
    -- dim 0 of a contiguous tensor takes a row-copy path; the same selection through a
    -- non-contiguous view (the general walk) must agree
    local t3 = ks.arange(24):reshape(4, 3, 2)
    local strided = long{3, 9, 0, 9, 1}[{{0, nil, 2}}] -- {3, 0, 1}, stride 2
    local want = {t3[3]:totable(), t3[0]:totable(), t3[1]:totable()}
    assert.same(want, t3:index_select(0, strided):totable())
    assert.same(want, t3:transpose(1, 2):index_select(0, strided):transpose(1, 2):totable())
    assert.same({{{12, 13}, {14, 15}, {16, 17}}}, t3:index_select(0, long(2)):totable()) -- 0-d index: size 1, as torch
    local big = ks.arange(40000):reshape(20000, 2) -- above the one-thread size: the general walk
    local rows = long{19999, 0, 7}
    assert.same({{39998, 39999}, {0, 1}, {14, 15}}, big:index_select(0, rows):totable())
    local many = ks.arange(20000, {dtype = ks.int64}):flip(0)
    local sel = big:index_select(0, many)
    assert.same({39998, 39999}, sel[0]:totable())
    assert.same({0, 1}, sel[19999]:totable())
    assert.same({"uint8", {{3}, {1}}}, {ks.tensor({{1}, {2}, {3}}, "uint8"):index_select(0, long{2, 0}):dtype(),
      ks.tensor({{1}, {2}, {3}}, "uint8"):index_select(0, long{2, 0}):totable()})
  end)

  it("handles an empty index and an empty tensor", function()
    assert.same({2, 0}, x:index_select(1, ks.zeros(0, "int64")):shape())
    assert.same({0, 2}, ks.zeros(0, 3):index_select(1, long{0, 2}):shape())
  end)

  it("rejects out-of-range indices naming the value and the size", function()
    local e = err_of(function() x:index_select(1, long{0, 3}) end)
    assert.matches("index 3 is out of bounds for dimension 1 with size 3", e)
    e = err_of(function() x:index_select(0, long{-1}) end)
    assert.matches("index %-1 is out of bounds for dimension 0 with size 2", e)
  end)

  it("rejects a wrong index dtype, rank, or type naming the argument", function()
    assert.matches("argument 'index' must be an int64 tensor, got float32",
      err_of(function() x:index_select(0, ks.tensor{0}) end))
    assert.matches("'index' must be 0%-d or 1%-D", err_of(function() x:index_select(0, long{{0}}) end))
    assert.matches("kshot.Tensor expected", err_of(function() x:index_select(0, "a") end))
    assert.matches("dimension out of range", err_of(function() x:index_select(2, long{0}) end))
    assert.matches("kshot.Tensor expected", err_of(function() ks.index_select(nil, 0, long{0}) end))
  end)
end)

describe("gather", function()
  local x = ks.tensor{{1, 2}, {3, 4}}

  it("gathers along dim 1 and dim 0 (torch.gather examples)", function()
    assert.same({{1, 1}, {4, 3}}, x:gather(1, long{{0, 0}, {1, 0}}):totable())
    assert.same({{3, 2}, {1, 4}, {3, 4}}, ks.gather(x, 0, long{{1, 0}, {0, 1}, {1, 1}}):totable())
  end)

  it("accepts an index smaller than the input outside dim, and transposed inputs", function()
    local y = ks.tensor{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}
    assert.same({{3}, {4}}, y:gather(1, long{{2}, {0}}):totable())
    -- y:t() = [[1,4,7],[2,5,8],[3,6,9]]
    assert.same({{7, 1}, {5, 8}}, y:t():gather(1, long{{2, 0}, {1, 2}}):totable())
    -- non-contiguous index
    assert.same({{1, 1}, {4, 3}}, x:gather(1, long{{0, 1}, {0, 0}}:t()):totable())
  end)

  it("rejects bad shapes naming both shapes, and out-of-range values", function()
    local e = err_of(function() x:gather(1, long{0, 1}) end)
    assert.matches("index shape %[2%] does not fit input shape %[2, 2%]", e)
    e = err_of(function() x:gather(1, long{{0}, {0}, {0}}) end)
    assert.matches("%[3, 1%].*%[2, 2%]", e)
    e = err_of(function() x:gather(0, long{{2, 0}}) end)
    assert.matches("index 2 is out of bounds for dimension 0 with size 2", e)
    assert.matches("'index' must be an int64", err_of(function() x:gather(0, ks.zeros(1, 1)) end))
  end)
end)

describe("scatter and scatter_add", function()
  it("scatter_ writes src along dim 0 (torch.scatter_ example)", function()
    local src = ks.tensor{{1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}}
    local r = ks.zeros(3, 5):scatter_(0, long{{0, 1, 2, 0}}, src)
    assert.same({{1, 0, 0, 4, 0}, {0, 2, 0, 0, 0}, {0, 0, 3, 0, 0}}, r:totable())
  end)

  it("scatter with a value, out of place, leaves the input alone", function()
    local x = ks.zeros(2, 4)
    local r = x:scatter(1, long{{1}, {3}}, 1.5)
    assert.same({{0, 1.5, 0, 0}, {0, 0, 0, 1.5}}, r:totable())
    assert.same({{0, 0, 0, 0}, {0, 0, 0, 0}}, x:totable())
    local y = ks.zeros(2, 2)
    y:scatter_(1, long{{1}, {0}}, ks.tensor(7))
    assert.same({{0, 7}, {7, 0}}, y:totable())
  end)

  it("scatter_add_ accumulates repeated indices in order", function()
    local x = ks.zeros(3)
    x:scatter_add_(0, long{0, 2, 0, 0}, ks.tensor{1, 2, 3, 4})
    assert.same({8, 0, 2}, x:totable())
    local y = ks.zeros(2, 3, "int64")
    local r = ks.scatter_add(y, 1, long{{0, 0, 2}, {1, 1, 1}}, long{{1, 2, 3}, {4, 5, 6}})
    assert.same({{3, 0, 3}, {0, 15, 0}}, r:totable())
    assert.same({{0, 0, 0}, {0, 0, 0}}, y:totable())
  end)

  it("scatter_add_ into a transposed view writes through it", function()
    local base = ks.zeros(3, 2)
    local v = base:t() -- [2, 3]
    v:scatter_add_(1, long{{2, 2}, {0, 1}}, ks.tensor{{1, 1}, {5, 6}})
    assert.same({{0, 5}, {0, 6}, {2, 0}}, base:totable())
  end)

  it("rejects mismatched dtypes, shapes and out-of-range indices", function()
    local x = ks.zeros(2, 2)
    assert.matches("self %(float32%) and src %(int64%) must have the same dtype",
      err_of(function() x:scatter_add_(0, long{{0}}, long{{1}}) end))
    assert.matches("index shape %[1, 3%] does not fit src shape %[1, 2%]",
      err_of(function() x:scatter_(1, long{{0, 0, 0}}, ks.zeros(1, 2)) end))
    assert.matches("index 5 is out of bounds for dimension 1 with size 2",
      err_of(function() x:scatter_(1, long{{5}}, 0) end))
    assert.same({{0, 0}, {0, 0}}, x:totable()) -- untouched after the errors
    assert.matches("value must be a number", err_of(function() x:scatter_(1, long{{0}}, "z") end))
  end)
end)

describe("index_add_, index_copy_, index_fill_", function()
  it("index_add_ adds rows with alpha, accumulating repeats", function()
    local x = ks.ones(3, 2)
    x:index_add_(0, long{0, 2, 0}, ks.tensor{{1, 2}, {3, 4}, {5, 6}})
    assert.same({{7, 9}, {1, 1}, {4, 5}}, x:totable())
    local r = ks.zeros(2, 3):index_add(1, long{2}, ks.tensor{{1}, {2}}, 2)
    assert.same({{0, 0, 2}, {0, 0, 4}}, r:totable())
    r = ks.zeros(2, 3):index_add(1, long{2}, ks.tensor{{1}, {2}}, {alpha = -1})
    assert.same({{0, 0, -1}, {0, 0, -2}}, r:totable())
    local xi = ks.zeros(3, "int64"):index_add_(0, long{1, 1}, long{5, 6})
    assert.same({0, 11, 0}, xi:totable())
  end)

  it("index_copy_ and index_fill_ along dims, through views", function()
    local x = ks.zeros(2, 3)
    x:index_copy_(1, long{2, 0}, ks.tensor{{1, 2}, {3, 4}})
    assert.same({{2, 0, 1}, {4, 0, 3}}, x:totable())
    local base = ks.zeros(2, 3)
    base:t():index_fill_(0, long{1}, -1) -- fills column 1
    assert.same({{0, -1, 0}, {0, -1, 0}}, base:totable())
    local r = ks.index_fill(ks.zeros(2, 2, "int64"), 0, long{1}, 9)
    assert.same({{0, 0}, {9, 9}}, r:totable())
    local b = ks.index_fill(ks.zeros(3, "bool"), 0, long{0, 2}, true)
    assert.same({true, false, true}, b:totable())
  end)

  it("rejects a source of the wrong shape naming both shapes", function()
    local x = ks.zeros(4, 3)
    local e = err_of(function() x:index_add_(0, long{0, 1}, ks.zeros(3, 3)) end)
    assert.matches("source shape %[3, 3%] does not match self shape %[4, 3%]", e)
    e = err_of(function() x:index_copy_(0, long{0}, ks.zeros(1, 2)) end)
    assert.matches("source shape %[1, 2%] does not match self shape %[4, 3%]", e)
    assert.matches("alpha must be an integer for int64 tensors, got 0.5",
      err_of(function() ks.zeros(2, "int64"):index_add_(0, long{0}, long{1}, 0.5) end))
    assert.matches("self %(float32%) and source %(int64%)",
      err_of(function() x:index_add_(0, long{0}, ks.zeros(1, 3, "int64")) end))
    assert.matches("index 4 is out of bounds for dimension 0 with size 4",
      err_of(function() x:index_fill_(0, long{4}, 1) end))
  end)
end)

describe("masks", function()
  local x = ks.tensor{{1, 2, 3}, {4, 5, 6}}

  it("masked_select returns a 1-D copy, broadcasting the mask", function()
    local m = ks.tensor{{true, false, true}, {false, true, false}}
    assert.same({1, 3, 5}, x:masked_select(m):totable())
    assert.same({1, 3, 4, 6}, x:masked_select(ks.tensor{true, false, true}):totable())
    assert.same({2, 5}, ks.masked_select(x, ks.tensor({0, 1, 0}, "uint8")):totable())
    assert.same({3, 6}, x:t():masked_select(ks.tensor{{false, false}, {false, false}, {true, true}}):totable())
    assert.same({0}, x:masked_select(ks.zeros(2, 3, "bool")):shape())
    -- input broadcast to the mask's larger shape
    assert.same({7, 7}, ks.tensor{7}:masked_select(ks.tensor{true, false, true}):totable())
  end)

  it("masked_fill and masked_fill_", function()
    local m = ks.tensor{true, false, true}
    assert.same({{0, 2, 0}, {0, 5, 0}}, x:masked_fill(m, 0):totable())
    assert.same({{1, 2, 3}, {4, 5, 6}}, x:totable())
    local y = x:clone()
    assert.equal(y, y:masked_fill_(ks.tensor{{false}, {true}}, -2.5))
    assert.same({{1, 2, 3}, {-2.5, -2.5, -2.5}}, y:totable())
    local xi = long{1, 2, 3}:masked_fill(ks.tensor{false, true, false}, ks.tensor(9))
    assert.same({1, 9, 3}, xi:totable())
    local r = ks.tensor{1}:masked_fill(ks.tensor{true, false}, 3) -- broadcasts to [2]
    assert.same({3, 1}, r:totable())
    local base = ks.zeros(2, 2)
    base:t():masked_fill_(ks.tensor{{true, false}, {false, false}}, 1)
    assert.same({{1, 0}, {0, 0}}, base:totable())
  end)

  it("masked_scatter_ fills selected places from source in order", function()
    local y = ks.zeros(2, 3)
    y:masked_scatter_(ks.tensor{{true, false, true}, {false, true, false}}, ks.tensor{10, 20, 30, 40})
    assert.same({{10, 0, 20}, {0, 30, 0}}, y:totable())
    local e = err_of(function() y:masked_scatter_(ks.ones(2, 3, "bool"), ks.tensor{1, 2}) end)
    assert.matches("source has 2 elements but the mask selects 6", e)
  end)

  it("rejects a non-bool mask and a mask that does not broadcast, naming both shapes", function()
    assert.matches("argument 'mask' must be a bool or uint8 tensor, got float32",
      err_of(function() x:masked_fill_(ks.tensor{1, 0, 1}, 0) end))
    assert.matches("mask of shape %[2%] cannot be broadcast to self of shape %[2, 3%]",
      err_of(function() x:clone():masked_fill_(ks.tensor{true, false}, 0) end))
    assert.matches("%[4%].*%[2, 3%]", err_of(function() x:masked_select(ks.zeros(4, "bool")) end))
    assert.matches("value must be a number", err_of(function() x:masked_fill(ks.tensor{true, true, true}, nil) end))
    assert.matches("value 300 cannot be converted to uint8 without overflow",
      err_of(function() ks.zeros(2, "uint8"):masked_fill_(ks.tensor{true, false}, 300) end))
    assert.matches("value %-?nan cannot be converted to int64",
      err_of(function() ks.zeros(2, "int64"):index_fill_(0, long{0}, 0 / 0) end))
    assert.matches("value inf cannot be converted to int64",
      err_of(function() ks.zeros(2, 1, "int64"):scatter_(0, long{{0}}, math.huge) end))
  end)
end)

describe("in-place writes", function()
  it("refuse a self whose elements share memory (expanded), naming the op", function()
    local e = ks.zeros(1, 3):expand(2, 3)
    assert.matches("masked_fill_%(%): cannot write in place.*share memory",
      err_of(function() e:masked_fill_(ks.tensor{true, false, true}, 1) end))
    assert.matches("index_fill_%(%): cannot write in place", err_of(function() e:index_fill_(1, long{0}, 1) end))
    assert.matches("scatter_add_%(%): cannot write in place",
      err_of(function() e:scatter_add_(1, long{{0}, {0}}, ks.ones(2, 1)) end))
    -- out-of-place variants work on the expanded input
    assert.same({{1, 0, 1}, {1, 0, 1}}, e:masked_fill(ks.tensor{true, false, true}, 1):totable())
  end)

  it("give the same results with 1 and 2 threads on large inputs", function()
    if not ks.set_num_threads then return end
    ks.manual_seed(9)
    local src = ks.rand(64, 3000)
    local idx = ks.randint(0, 50, {64, 3000})
    local sel = ks.randint(0, 64, {500})
    local old = ks.get_num_threads()
    local res = {}
    for n = 1, 2 do
      ks.set_num_threads(n)
      res[n] = {
        ks.zeros(64, 50):scatter_add_(1, idx, src):totable(),
        src:gather(1, idx):sum():item(),
        src:index_select(0, sel):sum():item(),
        src:t():index_select(0, sel):sum():item(),
      }
    end
    ks.set_num_threads(old)
    assert.same(res[1], res[2])
  end)
end)

describe("nonzero and argwhere", function()
  it("lists coordinates row-major as int64 [n, ndim]", function()
    local x = ks.tensor{{0, 1, 0}, {2, 0, 0 / 0}}
    local r = x:nonzero()
    assert.equal("int64", r:dtype())
    assert.same({{0, 1}, {1, 0}, {1, 2}}, r:totable())
    assert.same({{0, 1}, {1, 0}, {1, 2}}, ks.argwhere(x):totable())
    assert.same({{0, 1}, {1, 0}, {2, 1}}, x:t():nonzero():totable()) -- x:t() = {{0,2},{1,0},{0,nan}}
    assert.same({0, 1}, ks.zeros(3):nonzero():shape())
    assert.same({{1}, {3}}, ks.tensor{false, true, false, true}:nonzero():totable())
    assert.same({1, 0}, ks.tensor(5):nonzero():shape())
  end)

  it("as_tuple returns one index tensor per dim", function()
    local rows, cols = ks.tensor{{0, 1}, {1, 1}}:nonzero{as_tuple = true}
    assert.same({0, 1, 1}, rows:totable())
    assert.same({1, 0, 1}, cols:totable())
  end)
end)

describe("one_hot", function()
  it("infers num_classes as max + 1, or takes it", function()
    assert.same({{1, 0, 0}, {0, 0, 1}, {0, 1, 0}}, ks.one_hot(long{0, 2, 1}):totable())
    local r = ks.one_hot(long{{1}, {0}}, 4)
    assert.same({2, 1, 4}, r:shape())
    assert.equal("int64", r:dtype())
    assert.same({{{0, 1, 0, 0}}, {{1, 0, 0, 0}}}, r:totable())
    assert.same({{0, 1}}, long{1}:one_hot{num_classes = 2}:totable())
    assert.same({0, 3}, ks.one_hot(ks.zeros(0, "int64"), 3):shape())
  end)

  it("rejects negative labels, labels >= num_classes, non-integer labels", function()
    assert.matches("non%-negative, got label %-1", err_of(function() ks.one_hot(long{0, -1}) end))
    assert.matches("label 3 is out of range for num_classes 3", err_of(function() ks.one_hot(long{3, 0}, 3) end))
    assert.matches("argument 'labels' must be an int64", err_of(function() ks.one_hot(ks.tensor{0, 1}) end))
    assert.matches("empty", err_of(function() ks.one_hot(ks.zeros(0, "int64")) end))
    assert.matches("label 9223372036854775807 is too large", err_of(function() ks.one_hot(long{math.maxinteger}) end))
  end)
end)

describe("bincount", function()
  it("counts values, with minlength and weights", function()
    assert.same({1, 0, 2, 0, 0, 1}, ks.bincount(long{0, 2, 2, 5}):totable())
    assert.same({0, 2, 0, 0}, long{1, 1}:bincount(nil, 4):totable())
    assert.same({0, 2, 0, 0}, long{1, 1}:bincount{minlength = 4}:totable())
    local w = ks.bincount(long{0, 1, 1}, ks.tensor{0.5, 0.25, 1})
    assert.equal("float32", w:dtype())
    assert.same({0.5, 1.25}, w:totable())
    assert.same({0, 0, 1}, ks.tensor({2}, "uint8"):bincount():totable())
    assert.same({0}, ks.zeros(0, "int64"):bincount():shape())
  end)

  it("rejects negative values, 2-D input and mismatched weights naming both shapes", function()
    assert.matches("non%-negative, got %-2", err_of(function() ks.bincount(long{1, -2}) end))
    assert.matches("must be 1%-D, got shape %[1, 1%]", err_of(function() ks.bincount(long{{1}}) end))
    assert.matches("weights of shape %[3%] must have the shape of the input %[2%]",
      err_of(function() ks.bincount(long{1, 2}, ks.tensor{1, 2, 3}) end))
    assert.matches("argument 'input' must be an int64 or uint8", err_of(function() ks.bincount(ks.tensor{1}) end))
    assert.matches("value 9223372036854775807 is too large", err_of(function() ks.bincount(long{math.maxinteger}) end))
  end)
end)

describe("cdist", function()
  local a = ks.tensor{{0, 0}, {1, 1}}
  local b = ks.tensor{{1, 0}, {3, 4}, {0, 0}}

  it("computes p = 2, 1, inf, 0 and general p distances", function()
    near({{1, 5, 0}, {1, math.sqrt(13), math.sqrt(2)}}, ks.cdist(a, b):totable())
    near({{1, 7, 0}, {1, 5, 2}}, ks.cdist(a, b, 1):totable())
    near({{1, 4, 0}, {1, 3, 1}}, a:cdist(b, math.huge):totable())
    near({{1, 2, 0}, {1, 2, 2}}, a:cdist(b, {p = 0}):totable())
    near({{1, (27 + 64) ^ (1 / 3), 0}, {1, (8 + 27) ^ (1 / 3), 2 ^ (1 / 3)}}, ks.cdist(a, b, 3):totable())
  end)

  it("uses the matrix-product form for many rows with the same results (clamped at 0)", function()
    ks.manual_seed(5)
    local x1, x2 = ks.randn(40, 8), ks.randn(30, 8)
    local d = ks.cdist(x1, x2):totable()
    local t1, t2 = x1:totable(), x2:totable()
    for i = 1, 40, 7 do
      for j = 1, 30, 5 do
        local s = 0
        for k = 1, 8 do s = s + (t1[i][k] - t2[j][k]) ^ 2 end
        near(math.sqrt(s), d[i][j], 1e-4)
      end
    end
    local self = ks.cdist(x1, x1):totable()
    for i = 1, 40 do assert.is_true(self[i][i] >= 0 and self[i][i] < 1e-2) end
    -- NaN propagates through the clamp (both paths)
    x1:select(0, 1):select(0, 0):fill_(0 / 0)
    local dn = ks.cdist(x1, x2):totable()
    assert.is_true(dn[2][1] ~= dn[2][1] and dn[2][30] ~= dn[2][30])
    assert.is_true(dn[1][1] == dn[1][1])
    local ds = ks.cdist(x1:narrow(0, 0, 3), x2:narrow(0, 0, 3)):totable()
    assert.is_true(ds[2][1] ~= ds[2][1] and ds[1][1] == ds[1][1])
  end)

  it("handles batches (broadcast) and transposed inputs", function()
    local x1 = ks.tensor{{{0, 0}}, {{1, 1}}}       -- [2, 1, 2]
    local x2 = ks.tensor{{{1, 0}, {0, 3}}}         -- [1, 2, 2] broadcast
    local d = ks.cdist(x1, x2)
    assert.same({2, 1, 2}, d:shape())
    near({{{1, 3}}, {{1, math.sqrt(5)}}}, d:totable())
    local at = ks.tensor{{0, 1}, {0, 1}}:t()   -- rows {0,0} and {1,1}
    near({{1, 5, 0}, {1, math.sqrt(13), math.sqrt(2)}}, ks.cdist(at, b):totable())
    assert.same({0, 3}, ks.cdist(ks.zeros(0, 2), b):shape())
  end)

  it("rejects mismatched columns naming both shapes, wrong dtype, bad p", function()
    assert.matches("x1 %[2, 2%] and x2 %[1, 3%]", err_of(function() ks.cdist(a, ks.zeros(1, 3)) end))
    assert.matches("must be float32, got int64", err_of(function() ks.cdist(long{{1}}, long{{1}}) end))
    assert.matches("p must be >= 0", err_of(function() ks.cdist(a, b, -1) end))
    assert.matches("at least 2%-D", err_of(function() ks.cdist(ks.zeros(2), b) end))
    assert.matches("kshot.Tensor expected", err_of(function() ks.cdist(a) end))
  end)
end)

-- finite differences: L(x) = sum(w * f(x)) with a fixed upstream gradient w
local function flat(t, out)
  out = out or {}
  if type(t) ~= "table" then out[#out + 1] = t return out end
  for _, v in ipairs(t) do flat(v, out) end
  return out
end

local function grad_check(f, x, tol)
  tol = tol or 2e-2
  local shape, xs = x:shape(), flat(x:totable())
  local xr = x:clone():requires_grad_()
  local y = f(xr)
  assert.is_true(y.requires_grad)
  local ys = y:shape()
  local w = {}
  for k = 1, y:numel() do w[k] = ((k * 7919) % 13 - 6) / 4 end
  y:backward(ks.tensor(w):reshape(ys))
  local g = flat(xr.grad:totable())
  local function L(vals)
    local out = flat(f(ks.tensor(vals):reshape(shape)):totable())
    local s = 0
    for k = 1, #out do s = s + w[k] * out[k] end
    return s
  end
  local eps = 1e-2
  for k = 1, #xs do
    local p, m = {table.unpack(xs)}, {table.unpack(xs)}
    p[k], m[k] = xs[k] + eps, xs[k] - eps
    local num = (L(p) - L(m)) / (2 * eps)
    assert.is_true(math.abs(num - g[k]) <= tol * math.max(1, math.abs(num)),
      ("element %d: numeric %g, autograd %g"):format(k, num, g[k]))
  end
end

describe("autograd through selection ops", function()
  local x = ks.tensor{{0.3, -1.2, 2.5}, {1.7, 0.4, -0.8}}

  it("index_select and gather (repeated indices accumulate)", function()
    grad_check(function(t) return t:index_select(1, long{2, 0, 2}) end, x)
    grad_check(function(t) return t:t():index_select(0, long{1}) end, x)
    grad_check(function(t) return t:gather(1, long{{0, 0}, {2, 1}}) end, x)
  end)

  it("masked_fill (broadcast) and masked_select", function()
    grad_check(function(t) return t:masked_fill(ks.tensor{true, false, true}, 5) end, x)
    grad_check(function(t) return t:masked_fill(ks.tensor{{{true}}, {{false}}}, 1) end, x) -- [2, 2, 3]
    grad_check(function(t) return t:masked_select(ks.tensor{{true, false, true}, {false, true, true}}) end, x)
  end)

  it("index_add and scatter_add (class sums) to self and source", function()
    local src = ks.tensor{{1.5, -0.5, 2.0}, {0.7, 0.1, -1.1}, {0.2, 0.3, 0.4}, {-1, 2, 0.5}}
    grad_check(function(t) return ks.zeros(2, 3):index_add(0, long{1, 0, 1, 1}, t, 0.5) end, src)
    grad_check(function(t) return t:index_add(1, long{2, 2}, ks.ones(2, 2)) end, x)
    grad_check(function(t) return ks.zeros(2, 3):scatter_add(0, long{{1, 0}, {1, 1}}, t) end, src) -- src larger
    grad_check(function(t) return t:scatter_add(1, long{{0}, {2}}, ks.ones(2, 1)) end, x)
  end)

  it("cdist for p = 2 (both paths), 1, 3 and inf, with batch broadcast", function()
    local y = ks.tensor{{1.1, 0.2, -0.5}, {-2.0, 1.3, 0.9}, {0.5, 0.5, 0.5}}
    for _, p in ipairs{2, 1, 3, math.huge} do
      grad_check(function(t) return ks.cdist(t, y, p) end, x)
      grad_check(function(t) return ks.cdist(x, t, p) end, y)
    end
    ks.manual_seed(4)
    local many = ks.randn(30, 3)
    grad_check(function(t) return ks.cdist(t, many) end, x, 5e-2) -- matrix-product path
    grad_check(function(t) return ks.cdist(t:reshape(2, 1, 3), y) end, x)
  end)

  it("scatter-like and in-place ops refuse inputs that require grad, but run under no_grad", function()
    local p = ks.zeros(3):requires_grad_()
    assert.matches("scatter_add_: not differentiable here",
      err_of(function() p:scatter_add_(0, long{0}, ks.ones(1)) end))
    assert.matches("index_copy: not differentiable here",
      err_of(function() ks.zeros(3):index_copy(0, long{0}, p:narrow(0, 0, 1)) end))
    assert.matches("scatter: not differentiable here", err_of(function() p:scatter(0, long{0}, 2) end))
    assert.matches("masked_fill_: not differentiable here",
      err_of(function() p:masked_fill_(ks.tensor{true, false, false}, 1) end))
    ks.no_grad(function() p:masked_fill_(ks.tensor{true, false, false}, 1) end)
    assert.same({1, 0, 0}, p:detach():totable())
    -- index tensors and outputs of non-differentiable ops never require grad
    local v, i = p:topk(1)
    assert.is_true(v.requires_grad)
    assert.is_false(i.requires_grad)
    assert.is_false(p:argsort().requires_grad)
  end)
end)
