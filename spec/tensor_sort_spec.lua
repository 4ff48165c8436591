-- sort, argsort, topk, kthvalue, median, unique: exact hand-computed results,
-- PyTorch's NaN order, stability, dims other than the last, views, errors.
local ks = require "kshot"

local NaN = 0 / 0
local function isnan(x) return x ~= x end
local function long(t) return ks.tensor(t, "int64") end

-- table with NaN replaced by the string "nan" (so assert.same can compare)
local function mark(t)
  if type(t) == "table" then
    local r = {}
    for i, v in ipairs(t) do r[i] = mark(v) end
    return r
  end
  if type(t) == "number" and isnan(t) then return "nan" end
  return t
end

local function vals(t) return mark(t:totable()) end

-- reference: stable sort of a Lua array (NaN largest), returns values, 0-based indices
local function ref_sort(a, desc)
  local idx = {}
  for i = 1, #a do idx[i] = i end
  local function key_less(x, y)
    if isnan(x) then return false end
    if isnan(y) then return true end
    return x < y
  end
  table.sort(idx, function(i, j)
    local x, y = a[i], a[j]
    local lt, gt
    if desc then lt, gt = key_less(y, x), key_less(x, y) else lt, gt = key_less(x, y), key_less(y, x) end
    if lt then return true end
    if gt then return false end
    return i < j
  end)
  local v, z = {}, {}
  for k, i in ipairs(idx) do v[k] = a[i]; z[k] = i - 1 end
  return v, z
end

describe("sort", function()
  it("sorts the last dim ascending by default and returns int64 indices", function()
    local v, i = ks.tensor{3, 1, 2}:sort()
    assert.same({1, 2, 3}, v:totable())
    assert.same({1, 2, 0}, i:totable())
    assert.equal("int64", i:dtype())
    assert.equal("float32", v:dtype())
  end)

  it("puts NaN last ascending and first descending (PyTorch)", function()
    local x = ks.tensor{3, NaN, -1, NaN, 2}
    local v, i = x:sort()
    assert.same({-1, 2, 3, "nan", "nan"}, vals(v))
    assert.same({2, 4, 0, 1, 3}, i:totable())
    v, i = x:sort(0, true)
    assert.same({"nan", "nan", 3, 2, -1}, vals(v))
    assert.same({1, 3, 0, 4, 2}, i:totable())
  end)

  it("orders infinities around the finite values", function()
    local v = ks.tensor{1, math.huge, -math.huge, NaN, 0}:sort()
    assert.same({-math.huge, 0, 1, math.huge, "nan"}, vals(v))
  end)

  it("is stable for ties in both directions, -0.0 equal to 0.0", function()
    local x = ks.tensor{1, 0, 1, -0.0, 1, 0}
    local _, i = x:sort()
    assert.same({1, 3, 5, 0, 2, 4}, i:totable())
    _, i = x:sort{descending = true}
    assert.same({0, 2, 4, 1, 3, 5}, i:totable())
  end)

  it("sorts along dim 0 and along a transposed view", function()
    local x = ks.tensor{{3, 1}, {1, 2}, {2, 0}}
    local v, i = x:sort(0)
    assert.same({{1, 0}, {2, 1}, {3, 2}}, v:totable())
    assert.same({{1, 2}, {2, 0}, {0, 1}}, i:totable())
    local xt = x:t()  -- [[3,1,2],[1,2,0]], not contiguous
    assert.is_false(xt:is_contiguous())
    v, i = xt:sort(-1, true)
    assert.same({{3, 2, 1}, {2, 1, 0}}, v:totable())
    assert.same({{0, 2, 1}, {1, 0, 2}}, i:totable())
  end)

  it("sorts a middle dim of a 3-D tensor", function()
    local x = ks.tensor{{{5, 1}, {2, 7}, {3, 3}}}
    local v, i = ks.sort(x, 1)
    assert.same({{{2, 1}, {3, 3}, {5, 7}}}, v:totable())
    assert.same({{{1, 0}, {2, 2}, {0, 1}}}, i:totable())
  end)

  it("sorts int64 (negative and large), uint8 and bool", function()
    local v, i = long{5, -3, 9007199254740993, -9007199254740993, 0}:sort()
    assert.same({-9007199254740993, -3, 0, 5, 9007199254740993}, v:totable())
    assert.same({3, 1, 4, 0, 2}, i:totable())
    assert.equal("int64", v:dtype())
    v = ks.tensor({200, 3, 255, 0}, "uint8"):sort(0, true)
    assert.same({255, 200, 3, 0}, v:totable())
    assert.equal("uint8", v:dtype())
    v, i = ks.tensor{true, false, true, false}:sort()
    assert.same({false, false, true, true}, v:totable())
    assert.same({1, 3, 0, 2}, i:totable())
  end)

  it("handles empty tensors, 0-d tensors and stable=false", function()
    local v, i = ks.zeros(0):sort()
    assert.same({0}, v:shape())
    assert.same({0}, i:shape())
    v, i = ks.zeros(2, 0):sort(1)
    assert.same({2, 0}, v:shape())
    v, i = ks.tensor(4.5):sort()
    assert.equal(4.5, v:item())
    assert.equal(0, i:item())
    v, i = ks.tensor{2, 1}:sort{stable = false}
    assert.same({1, 2}, v:totable())
  end)

  it("matches a reference stable sort on long rows with ties and NaN (radix path)", function()
    local a, b = {}, {}
    local s = 12345
    for k = 1, 3000 do
      s = (s * 1103515245 + 12345) % 2147483648
      local r = s % 97
      a[k] = r == 0 and NaN or (r - 48) / 4  -- many ties, some NaN, negatives
    end
    for desc = 0, 1 do
      local v, i = ks.tensor(a):sort(0, desc == 1)
      local rv, ri = ref_sort(a, desc == 1)
      assert.same(mark(rv), vals(v))
      assert.same(ri, i:totable())
    end
    -- int64 with wide values
    s = 7
    for k = 1, 2000 do
      s = (s * 1103515245 + 12345) % 2147483648
      b[k] = (s % 1000 - 500) * 4294967296 + s % 3
    end
    local v, i = long(b):sort()
    local rv, ri = ref_sort(b, false)
    assert.same(rv, v:totable())
    assert.same(ri, i:totable())
  end)

  it("sorts many rows in parallel with the same result for any thread count", function()
    if not ks.set_num_threads then return end
    ks.manual_seed(3)
    local x = ks.randint(0, 10, {300, 400}):float()
    local old = ks.get_num_threads()
    ks.set_num_threads(1)
    local v1, i1 = x:sort(1)
    local t1 = x:t():sort(1)
    ks.set_num_threads(2)
    local v2, i2 = x:sort(1)
    local t2 = x:t():sort(1)
    ks.set_num_threads(old)
    assert.same(v1:totable(), v2:totable())
    assert.same(i1:totable(), i2:totable())
    assert.same(t1:totable(), t2:totable())
    -- each row is sorted and the indices pick the values
    local row, irow, src = v2:totable()[7], i2:totable()[7], x:totable()[7]
    for k = 2, #row do assert.is_true(row[k - 1] <= row[k]) end
    for k = 1, #row do assert.equal(src[irow[k] + 1], row[k]) end
  end)

  it("rejects bad arguments", function()
    local x = ks.tensor{{1, 2}, {3, 4}}
    assert.has_error(function() x:sort(2) end)
    local ok, err = pcall(function() x:sort(5) end)
    assert.is_false(ok)
    assert.matches("dimension out of range", err)
    ok, err = pcall(function() x:sort("a") end)
    assert.matches("'dim' must be an integer", err)
    ok, err = pcall(function() x:sort(0, 1) end)
    assert.matches("'descending' must be a boolean", err)
    ok, err = pcall(function() x:sort{dims = 1} end)
    assert.matches("unknown option 'dims'", err)
    ok, err = pcall(function() ks.sort(nil) end)
    assert.matches("kshot.Tensor expected", err)
  end)
end)

describe("argsort", function()
  it("returns the sort indices only", function()
    local i = ks.tensor{{2, 9, 1}, {0, 0, -1}}:argsort()
    assert.same({{2, 0, 1}, {2, 0, 1}}, i:totable())
    i = ks.argsort(ks.tensor{2, 9, 1}, {descending = true})
    assert.same({1, 0, 2}, i:totable())
    i = ks.tensor{{2, 9}, {1, 0}}:argsort(0)
    assert.same({{1, 1}, {0, 0}}, i:totable())
  end)
end)

describe("topk", function()
  it("returns the k largest in order with stable ties", function()
    local v, i = ks.tensor{1, 5, 3, 5, 2}:topk(3)
    assert.same({5, 5, 3}, v:totable())
    assert.same({1, 3, 2}, i:totable())
  end)

  it("returns the k smallest with largest=false (positional or table)", function()
    local x = ks.tensor{4, 1, 3, 1, 2}
    local v, i = x:topk(2, -1, false)
    assert.same({1, 1}, v:totable())
    assert.same({1, 3}, i:totable())
    v, i = x:topk(3, {largest = false, sorted = true})
    assert.same({1, 1, 2}, v:totable())
    assert.same({1, 3, 4}, i:totable())
  end)

  it("treats NaN as the largest value", function()
    local x = ks.tensor{1, NaN, 3, 2}
    local v, i = x:topk(2)
    assert.same({"nan", 3}, vals(v))
    assert.same({1, 2}, i:totable())
    v, i = x:topk(2, {largest = false})
    assert.same({1, 2}, v:totable())
    assert.same({0, 3}, i:totable())
  end)

  it("works along dim 0 of a transposed view", function()
    local x = ks.tensor{{1, 8, 3}, {7, 2, 9}}:t() -- [[1,7],[8,2],[3,9]]
    local v, i = x:topk(2, 0)
    assert.same({{8, 9}, {3, 7}}, v:totable())
    assert.same({{1, 2}, {2, 0}}, i:totable())
  end)

  it("agrees with sort for small k on long rows (heap path)", function()
    ks.manual_seed(11)
    local x = ks.randint(0, 50, {4, 1000}):float()
    local sv, si = x:sort(1, true)
    local v, i = x:topk(5, 1)
    local v2, i2 = x:topk(5, 1, false)
    local av, ai = x:sort(1)
    for r = 1, 4 do
      for k = 1, 5 do
        assert.equal(sv:totable()[r][k], v:totable()[r][k])
        assert.equal(si:totable()[r][k], i:totable()[r][k])
        assert.equal(av:totable()[r][k], v2:totable()[r][k])
        assert.equal(ai:totable()[r][k], i2:totable()[r][k])
      end
    end
  end)

  it("agrees with sort for int64 and uint8 rows (heap path)", function()
    ks.manual_seed(12)
    for _, dt in ipairs{"int64", "uint8"} do
      local x = ks.randint(0, 200, {3, 800}):to(dt)
      local sv, si = x:sort(1, true)
      local v, i = x:topk(4, 1)
      for r = 1, 3 do
        for k = 1, 4 do
          assert.equal(sv:totable()[r][k], v:totable()[r][k])
          assert.equal(si:totable()[r][k], i:totable()[r][k])
        end
      end
      assert.equal(dt, v:dtype())
    end
  end)

  it("accepts k = 0 and k = size, rejects k > size naming k and the size", function()
    local x = ks.tensor{3, 1, 2}
    local v, i = x:topk(0)
    assert.same({0}, v:shape())
    v = x:topk(3)
    assert.same({3, 2, 1}, v:totable())
    local ok, err = pcall(function() x:topk(4) end)
    assert.is_false(ok)
    assert.matches("k %(4%) is out of range for dimension 0 of size 3", err)
    ok, err = pcall(function() x:topk(-1) end)
    assert.matches("k %(%-1%)", err)
    ok, err = pcall(function() x:topk() end)
    assert.matches("number expected", err)
  end)
end)

describe("kthvalue and median", function()
  it("kthvalue counts k from 1 like PyTorch", function()
    local v, i = ks.tensor{5, 1, 4, 2}:kthvalue(1)
    assert.equal(1, v:item())
    assert.equal(1, i:item())
    v, i = ks.tensor{{5, 1, 4}, {2, 8, 2}}:kthvalue(2, 1)
    assert.same({4, 2}, v:totable())
    assert.same({2, 2}, i:totable())
    v, i = ks.tensor{{5, 1, 4}, {2, 8, 2}}:kthvalue(1, 0, true)
    assert.same({{2, 1, 2}}, v:totable())
    assert.same({{1, 0, 1}}, i:totable())
    local ok, err = pcall(function() ks.tensor{1, 2}:kthvalue(3) end)
    assert.is_false(ok)
    assert.matches("k %(3%) is out of range", err)
    ok = pcall(function() ks.tensor{1, 2}:kthvalue(0) end)
    assert.is_false(ok)
  end)

  it("median returns the lower median", function()
    assert.equal(2, ks.tensor{5, 1, 4, 2}:median():item())
    assert.equal(3, ks.median(ks.tensor{{3, 9}, {1, 7}, {5, 0}}):item()) -- {0,1,3,5,7,9}
    local v, i = ks.tensor{{5, 1, 4}, {2, 0, 1}}:median(1)
    assert.same({4, 1}, v:totable())
    assert.same({2, 2}, i:totable())
    v, i = ks.tensor{{5, 1, 4}, {2, 0, 1}}:median{dim = 0, keepdim = true}
    assert.same({{2, 0, 1}}, v:totable())
    assert.same({{1, 1, 1}}, i:totable())
    assert.equal(3, ks.tensor({7, 3, 1}, "int64"):median():item())
  end)

  it("median propagates NaN with the index of the first NaN", function()
    local v, i = ks.tensor{{1, NaN, 2, NaN}, {4, 3, 2, 1}}:median(1)
    assert.same({"nan", 2}, vals(v))
    assert.same({1, 2}, i:totable())
    assert.is_true(isnan(ks.tensor{1, NaN}:median():item()))
  end)

  it("median of an empty tensor is an error", function()
    local ok, err = pcall(function() ks.zeros(0):median() end)
    assert.is_false(ok)
    assert.matches("empty", err)
  end)
end)

describe("unique", function()
  it("returns sorted unique values, inverse and counts", function()
    local v, inv, cnt = ks.tensor{{3, 1}, {2, 3}, {1, 1}}:unique(true, true, true)
    assert.same({1, 2, 3}, v:totable())
    assert.same({{2, 0}, {1, 2}, {0, 0}}, inv:totable())
    assert.same({3, 1, 2}, cnt:totable())
    v, cnt = ks.unique(long{5, -2, 5}, {return_counts = true})
    assert.same({-2, 5}, v:totable())
    assert.equal("int64", v:dtype())
    assert.same({1, 2}, cnt:totable())
  end)

  it("treats every NaN as distinct and handles views and empty tensors", function()
    local v, cnt = ks.tensor{NaN, 1, NaN}:unique{return_counts = true}
    assert.same({1, "nan", "nan"}, vals(v))
    assert.same({1, 1, 1}, cnt:totable())
    v = ks.tensor{{2, 1}, {1, 0}}:t():unique()
    assert.same({0, 1, 2}, v:totable())
    v = ks.zeros(0):unique()
    assert.same({0}, v:shape())
    local ok, err = pcall(function() ks.tensor{1}:unique{dim = 0} end)
    assert.is_false(ok)
    assert.matches("not supported", err)
  end)
end)

describe("autograd through sort values", function()
  -- d/dx of sum(w * f(x)) against central differences (distinct values: no ties)
  local function check(f, x)
    local xr = x:clone():requires_grad_()
    local y = f(xr)
    local n = y:numel()
    local w = {}
    for k = 1, n do w[k] = k - n / 2 end
    y:backward(ks.tensor(w):reshape(y:shape()))
    local g = xr.grad:reshape(-1):totable()
    local xs = x:reshape(-1):totable()
    local function L(vals)
      local out = f(ks.tensor(vals):reshape(x:shape())):reshape(-1):totable()
      local s = 0
      for k = 1, #out do s = s + w[k] * out[k] end
      return s
    end
    for k = 1, #xs do
      local p, m = {table.unpack(xs)}, {table.unpack(xs)}
      p[k], m[k] = xs[k] + 1e-2, xs[k] - 1e-2
      local num = (L(p) - L(m)) / 2e-2
      assert.is_true(math.abs(num - g[k]) < 1e-2, ("element %d: numeric %g, autograd %g"):format(k, num, g[k]))
    end
  end
  local x = ks.tensor{{0.3, -1.2, 2.5, 0.9}, {1.7, 0.4, -0.8, 3.1}}

  it("sort, topk, kthvalue and median route gradients to the chosen places", function()
    check(function(t) return (t:sort(1, true)) end, x)
    check(function(t) return (t:sort(0)) end, x)
    check(function(t) return (t:t():topk(1, 0)) end, x)
    check(function(t) return (t:topk(2, {largest = false})) end, x)
    check(function(t) return (t:kthvalue(2, 1)) end, x)
    check(function(t) return (t:kthvalue(1, 0, true)) end, x)
    check(function(t) return (t:median(1)) end, x)
    check(function(t) return t:median() end, x)
  end)
end)
