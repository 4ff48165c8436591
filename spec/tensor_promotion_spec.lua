-- Type promotion of elementwise ops (PyTorch's rules, expectations written by hand).
local ks = require "kshot"

local DTYPES = {"bool", "uint8", "int64", "float32"}
local RANK = {bool = 1, uint8 = 2, int64 = 3, float32 = 4}

local function sample(dt)
  if dt == "bool" then return ks.tensor({true, false}) end
  return ks.tensor({3, 1}, dt)
end

local function err_of(f, ...)
  local ok, msg = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function higher(a, b) return RANK[a] >= RANK[b] and a or b end

describe("promotion between tensor dtypes", function()
  for _, da in ipairs(DTYPES) do
    for _, db in ipairs(DTYPES) do
      local a, b = sample(da), sample(db)
      local common = higher(da, db)
      it(("%s with %s"):format(da, db), function()
        assert.are.equal(common, ks.add(a, b):dtype())
        assert.are.equal(common, ks.mul(a, b):dtype())
        assert.are.equal(common, ks.maximum(a, b):dtype())
        assert.are.equal("float32", ks.div(a, b):dtype())
        for _, cmp in ipairs({"eq", "ne", "lt", "le", "gt", "ge"}) do
          assert.are.equal("bool", a[cmp](a, b):dtype())
        end
        assert.are.equal("bool", ks.logical_and(a, b):dtype())
        if common == "bool" then
          assert.matches("bool", err_of(ks.sub, a, b))
        else
          assert.are.equal(common, ks.sub(a, b):dtype())
        end
        if common == "float32" then
          assert.matches("float32", err_of(ks.bitwise_and, a, b))
        else
          assert.are.equal(common, ks.bitwise_or(a, b):dtype())
        end
      end)
    end
  end

  it("values are computed in the common dtype", function()
    -- uint8 + int64 computes in int64: no wrap
    assert.are.same({203, 201}, (ks.tensor({200, 200}, "uint8") + ks.tensor({3, 1}, "int64")):totable())
    -- uint8 + uint8 wraps
    assert.are.same({4, 144}, (ks.tensor({250, 200}, "uint8") + ks.tensor({10, 200}, "uint8")):totable())
    assert.are.same({251}, (ks.tensor({5}, "uint8") - ks.tensor({10}, "uint8")):totable())
    -- bool + bool is a logical or, bool * bool a logical and
    assert.are.same({true, true, false}, (ks.tensor({true, false, false}) + ks.tensor({true, true, false})):totable())
    assert.are.same({true, false}, (ks.tensor({true, true}) * ks.tensor({true, false})):totable())
    -- int / int is true division
    assert.are.same({2.5}, (ks.tensor({5}, "int64") / ks.tensor({2}, "uint8")):totable())
  end)
end)

describe("promotion with Lua numbers", function()
  local b, u, i, f = ks.tensor({true, false}), ks.tensor({5, 200}, "uint8"), ks.tensor({7, -7}, "int64"), ks.tensor({1.5, -2})

  it("integers keep integer tensors' dtype", function()
    assert.are.equal("uint8", (u + 1):dtype())
    assert.are.equal("int64", (i + 1):dtype())
    assert.are.equal("float32", (f + 1):dtype())
    assert.are.equal("int64", (b + 1):dtype()) -- bool is a lower category than integer
    assert.are.same({2, 1}, (b + 1):totable())
  end)

  it("floats make float32", function()
    assert.are.equal("float32", (u + 1.5):dtype())
    assert.are.same({6.5, 201.5}, (u + 1.5):totable())
    assert.are.equal("float32", (i * 0.5):dtype())
    assert.are.same({3.5, -3.5}, (i * 0.5):totable())
    assert.are.equal("float32", (b + 0.5):dtype())
    assert.are.equal("float32", (i / 2):dtype())
    assert.are.same({3.5, -3.5}, (i / 2):totable())
    assert.are.equal("float32", (2 / i):dtype())
  end)

  it("an integral float (2.0) is still a float", function()
    assert.are.equal("float32", (i * 2.0):dtype())
    assert.are.equal("int64", (i * 2):dtype())
  end)

  it("booleans do not promote", function()
    assert.are.equal("bool", (b + true):dtype())
    assert.are.equal("int64", (i + true):dtype())
    assert.are.same({8, -6}, (i + true):totable())
    assert.are.same({true, false}, (b & true):totable())
  end)

  it("scalars wrap to uint8 like PyTorch", function()
    assert.are.same({5, 200}, (u + 256):totable())
    assert.are.same({4, 199}, (u + (-1)):totable())
    assert.are.same({10, 144}, (u * 2):totable())
    -- -1 becomes 255 in uint8, so nothing is greater
    assert.are.same({false, false}, u:gt(-1):totable())
  end)

  it("int64 scalars stay exact beyond 2^53", function()
    local big = (1 << 53) + 1
    assert.are.same({big + 7}, (ks.tensor({7}, "int64") + big):totable())
    assert.are.same({true}, ks.tensor({big}, "int64"):eq(big):totable())
  end)

  it("comparisons against numbers", function()
    assert.are.same({true, false}, i:gt(0):totable())
    assert.are.same({false, true}, i:lt(0.5):totable())
    assert.are.same({true, false}, f:eq(1.5):totable())
    assert.are.same({false, true}, b:eq(0):totable())
  end)
end)

describe("0-dim tensors rank between tensors and numbers", function()
  local u = ks.tensor({5, 200}, "uint8")
  it("same category: the dimensioned tensor wins", function()
    assert.are.equal("uint8", (u + ks.tensor(3, "int64")):dtype())
    assert.are.same({8, 203}, (u + ks.tensor(3, "int64")):totable())
  end)
  it("higher category: the 0-d tensor wins", function()
    assert.are.equal("float32", (u + ks.tensor(1.5)):dtype())
    assert.are.equal("int64", (ks.tensor({true}) + ks.tensor(2, "int64")):dtype())
    assert.are.equal("uint8", (ks.tensor({true}) + ks.tensor(2, "uint8")):dtype())
  end)
  it("two 0-d tensors promote normally", function()
    assert.are.equal("int64", (ks.tensor(1, "uint8") + ks.tensor(2, "int64")):dtype())
  end)
  it("a 0-d tensor beats a number of the same category", function()
    local r = ks.tensor(5, "uint8") + 256
    assert.are.equal("uint8", r:dtype())
    assert.are.equal(5, r:item())
  end)
end)

describe("in-place castability", function()
  it("float results cannot go into integer tensors", function()
    local i = ks.tensor({1}, "int64")
    local msg = err_of(function() return i:add_(0.5) end)
    assert.matches("float32", msg)
    assert.matches("int64", msg)
    assert.matches("uint8", err_of(function() return ks.tensor({1}, "uint8"):mul_(ks.tensor({2})) end))
    assert.matches("can't be cast", err_of(function() return i:div_(1) end))
  end)
  it("nothing but bool goes into bool tensors", function()
    assert.matches("bool", err_of(function() return ks.tensor({true}):add_(ks.tensor({1}, "uint8")) end))
    local m = ks.tensor({true, false})
    m:logical_or_(ks.tensor({false, true}))
    assert.are.same({true, true}, m:totable())
  end)
  it("integers widen into float and narrow within integers", function()
    local f = ks.tensor({0.5})
    f:add_(ks.tensor({2}, "int64"))
    assert.are.same({2.5}, f:totable())
    local u = ks.tensor({1}, "uint8")
    u:add_(300)
    assert.are.same({45}, u:totable())
  end)
end)

describe("unary dtypes", function()
  it("float functions of integers give float32", function()
    for _, dt in ipairs({"bool", "uint8", "int64"}) do
      for _, op in ipairs({"exp", "log", "sqrt", "sin", "sigmoid", "reciprocal", "erf"}) do
        assert.are.equal("float32", ks[op](sample(dt)):dtype())
      end
    end
  end)
  it("sign-like functions keep the dtype", function()
    for _, op in ipairs({"abs", "sign", "floor", "ceil", "round", "trunc", "square"}) do
      assert.are.equal("uint8", ks[op](sample("uint8")):dtype())
      assert.are.equal("int64", ks[op](sample("int64")):dtype())
    end
    assert.are.equal("int64", ks.square(sample("bool")):dtype())
  end)
  it("predicates give bool", function()
    for _, dt in ipairs(DTYPES) do
      for _, op in ipairs({"isnan", "isinf", "isfinite", "logical_not"}) do
        assert.are.equal("bool", ks[op](sample(dt)):dtype())
      end
    end
  end)
end)
