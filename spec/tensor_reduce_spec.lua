-- Reductions and scans: values against hand-computed results, dtypes,
-- keepdim, negative dims, empty tensors, NaN, and bad inputs.
local ks = require "kshot"

local nan, inf = 0 / 0, math.huge

local function close_to(exp, got, tol, path)
  path = path or "value"
  if type(exp) == "table" then
    assert(type(got) == "table", path .. ": expected a table, got " .. tostring(got))
    assert(#exp == #got, path .. ": expected " .. #exp .. " entries, got " .. #got)
    for i = 1, #exp do close_to(exp[i], got[i], tol, path .. "[" .. i .. "]") end
    return
  end
  if exp ~= exp then
    assert(got ~= got, path .. ": expected NaN, got " .. tostring(got))
  elseif exp == inf or exp == -inf or tol == 0 then
    assert(got == exp, path .. ": expected " .. tostring(exp) .. ", got " .. tostring(got))
  else
    assert(math.abs(exp - got) <= tol * math.max(1, math.abs(exp)),
      path .. ": expected " .. tostring(exp) .. ", got " .. tostring(got))
  end
end

-- exact comparison of a tensor's values, and optionally its shape and dtype
local function same(t, exp, shape, dtype)
  close_to(exp, t:totable(), 0)
  if shape then assert.same(shape, t:shape()) end
  if dtype then assert.equal(dtype, t:dtype()) end
end

local function near(t, exp, tol) close_to(exp, t:totable(), tol or 1e-6) end

-- 0..23 as a [2, 3, 4] float32 tensor: x[i][j][k] = 12i + 4j + k
local function x3() return ks.arange(24):float():reshape(2, 3, 4) end

describe("sum", function()
  it("reduces every element to a 0-d tensor", function()
    same(x3():sum(), 276, {}, "float32")
    same(ks.sum(x3()), 276, {})
  end)

  it("reduces each dim of a 3-D tensor, with and without keepdim", function()
    local x = x3()
    same(x:sum(0), {{12, 14, 16, 18}, {20, 22, 24, 26}, {28, 30, 32, 34}}, {3, 4})
    same(x:sum(1), {{12, 15, 18, 21}, {48, 51, 54, 57}}, {2, 4})
    same(x:sum(2), {{6, 22, 38}, {54, 70, 86}}, {2, 3})
    same(x:sum(0, true), {{{12, 14, 16, 18}, {20, 22, 24, 26}, {28, 30, 32, 34}}}, {1, 3, 4})
    same(x:sum(1, true), {{{12, 15, 18, 21}}, {{48, 51, 54, 57}}}, {2, 1, 4})
    same(x:sum(2, true), {{{6}, {22}, {38}}, {{54}, {70}, {86}}}, {2, 3, 1})
  end)

  it("accepts negative dims and lists of dims", function()
    local x = x3()
    same(x:sum(-1), {{6, 22, 38}, {54, 70, 86}}, {2, 3})
    same(x:sum(-3), x:sum(0):totable(), {3, 4})
    same(x:sum({0, 2}), {60, 92, 124}, {3})
    same(x:sum({-1, 0}), {60, 92, 124}, {3})
    same(x:sum({1, 2}, true), {{{66}}, {{210}}}, {2, 1, 1})
    same(x:sum({0, 1, 2}), 276, {})
    same(x:sum({}), 276, {})
    same(x:sum(nil, true), {{{276}}}, {1, 1, 1})
  end)

  it("takes an options table", function()
    local x = x3()
    same(x:sum{dim = 1, keepdim = true}, {{{12, 15, 18, 21}}, {{48, 51, 54, 57}}}, {2, 1, 4})
    same(x:sum{dim = {0, 2}}, {60, 92, 124}, {3})
    same(ks.sum(x, {keepdim = true}), {{{276}}}, {1, 1, 1})
  end)

  it("works on non-contiguous views", function()
    local x = x3()
    same(x:transpose(0, 2):sum(0), {{6, 54}, {22, 70}, {38, 86}}, {3, 2})
    same(x:transpose(0, 2):sum({1, 2}), {60, 66, 72, 78}, {4})
    same(x:narrow(2, 1, 2):sum(2), {{3, 11, 19}, {27, 35, 43}}, {2, 3})
  end)

  it("sums columns of a tall matrix across chunk boundaries", function()
    local t = ks.ones(40000, 3)
    same(t:sum(0), {40000, 40000, 40000}, {3})
    same(t:t():sum(1), {40000, 40000, 40000}, {3})
    same(t:sum(), 120000, {})
    local r = ks.arange(40000):float():reshape(20000, 2)
    -- column 0: even numbers 0..39998, column 1: odd numbers 1..39999
    same(r:sum(0), {399980000, 400000000}, {2})
    same(r:mean(0), {19999, 20000}, {2})
  end)

  it("gives int64 for integer and bool input, without overflow", function()
    same(ks.tensor({{1, 2}, {3, 4}}, "int64"):sum(), 10, {}, "int64")
    same(ks.tensor({200, 100, 250}, "uint8"):sum(), 550, {}, "int64")
    same(ks.tensor({true, false, true}):sum(), 2, {}, "int64")
    same(ks.tensor({{1, 2}, {3, 4}}, "int64"):sum(1), {3, 7}, {2}, "int64")
    local big = ks.tensor({9007199254740993, 1}, "int64"):sum():item()
    assert.equal(9007199254740994, big)
    assert.is_true(math.type(big) == "integer")
  end)

  it("of an empty tensor is 0", function()
    same(ks.zeros(0):sum(), 0, {})
    same(ks.zeros(2, 0):sum(1), {0, 0}, {2})
    same(ks.zeros(0, 3):sum(0), {0, 0, 0}, {3})
    same(ks.zeros(0, 3):sum(1), {}, {0})
  end)

  it("of a 0-d tensor is itself", function()
    same(ks.tensor(5):sum(), 5, {})
    same(ks.tensor(5):sum(0), 5, {})
    same(ks.tensor(5):sum(-1, true), 5, {})
  end)

  it("propagates NaN", function()
    same(ks.tensor({1, nan, 2}):sum(), nan)
  end)
end)

describe("mean", function()
  it("reduces all, each dim and several dims", function()
    local x = x3()
    same(x:mean(), 11.5, {}, "float32")
    same(x:mean(2), {{1.5, 5.5, 9.5}, {13.5, 17.5, 21.5}}, {2, 3})
    same(x:mean(0), {{6, 7, 8, 9}, {10, 11, 12, 13}, {14, 15, 16, 17}}, {3, 4})
    same(x:mean(1, true), {{{4, 5, 6, 7}}, {{16, 17, 18, 19}}}, {2, 1, 4})
    same(x:mean({0, 2}), {7.5, 11.5, 15.5}, {3})
    same(ks.mean(x, -1), {{1.5, 5.5, 9.5}, {13.5, 17.5, 21.5}})
  end)

  it("of an empty tensor is NaN", function()
    same(ks.zeros(0):mean(), nan, {})
  end)

  it("refuses integer tensors like PyTorch", function()
    assert.has_error(function() ks.tensor({1, 2}, "int64"):mean() end)
    local ok, err = pcall(ks.mean, ks.tensor({1, 2}, "int64"))
    assert.is_false(ok)
    assert.matches("mean%(%): could not infer output dtype", err)
    assert.matches("int64", err)
  end)
end)

describe("prod", function()
  local m = function() return ks.tensor({{1, 2, 3}, {4, 5, 6}}) end
  it("reduces all and each dim", function()
    same(m():prod(), 720, {}, "float32")
    same(m():prod(0), {4, 10, 18}, {3})
    same(m():prod(1), {6, 120}, {2})
    same(m():prod(-1, true), {{6}, {120}}, {2, 1})
  end)
  it("of integers is int64, of empty is 1", function()
    same(ks.tensor({{1, 2, 3}, {4, 5, 6}}, "int64"):prod(1), {6, 120}, {2}, "int64")
    same(ks.tensor({3, 4}, "uint8"):prod(), 12, {}, "int64")
    same(ks.zeros(0):prod(), 1, {})
    same(ks.zeros(2, 0):prod(1), {1, 1}, {2})
  end)
end)

describe("amax / amin", function()
  it("reduce one or several dims", function()
    local x = x3()
    same(x:amax(1), {{8, 9, 10, 11}, {20, 21, 22, 23}}, {2, 4})
    same(x:amin({0, 1}), {0, 1, 2, 3}, {4})
    same(x:amax(), 23, {})
    same(x:amin(-1, true), {{{0}, {4}, {8}}, {{12}, {16}, {20}}}, {2, 3, 1})
    same(ks.tensor({5, 200, 7}, "uint8"):amax(), 200, {}, "uint8")
  end)
  it("propagate NaN and refuse empty reductions", function()
    same(ks.tensor({1, nan, 3}):amax(), nan)
    same(ks.tensor({{1, nan}, {2, 3}}):amin(1), {nan, 2})
    assert.has_error(function() ks.zeros(0):amax() end)
    local ok, err = pcall(function() return ks.zeros(3, 0):amin(1) end)
    assert.is_false(ok)
    assert.matches("amin%(%): expected reduction dim 1 to have non%-zero size", err)
  end)
end)

describe("max / min", function()
  local m = function() return ks.tensor({{1, 3, 3}, {5, 2, 5}}) end
  it("without a dim return one value", function()
    same(m():max(), 5, {}, "float32")
    same(m():min(), 1, {})
    same(ks.max(x3()), 23, {})
    same(ks.tensor({4, 9, 2}, "int64"):max(), 9, {}, "int64")
  end)

  it("with a dim return values and first-occurrence indices", function()
    local v, i = m():max(1)
    same(v, {3, 5}, {2}, "float32")
    same(i, {1, 0}, {2}, "int64")
    v, i = m():max(0)
    same(v, {5, 3, 5}, {3})
    same(i, {1, 0, 1}, {3})
    v, i = m():min(1, true)
    same(v, {{1}, {2}}, {2, 1})
    same(i, {{0}, {1}}, {2, 1})
    v, i = ks.min(m(), -2)
    same(v, {1, 2, 3})
    same(i, {0, 1, 0})
    v, i = m():max{dim = 1, keepdim = true}
    same(i, {{1}, {0}}, {2, 1})
  end)

  it("over each dim of a 3-D tensor", function()
    local x = x3()
    local v, i = x:max(0)
    same(v, x:select(0, 1):totable(), {3, 4})
    same(i, {{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}})
    v, i = x:min(1)
    same(v, {{0, 1, 2, 3}, {12, 13, 14, 15}})
    same(i, {{0, 0, 0, 0}, {0, 0, 0, 0}})
    v, i = x:max(2, true)
    same(v, {{{3}, {7}, {11}}, {{15}, {19}, {23}}}, {2, 3, 1})
    same(i, {{{3}, {3}, {3}}, {{3}, {3}, {3}}})
  end)

  it("propagate NaN with the index of the first NaN", function()
    local t = ks.tensor({1, nan, 3, nan})
    same(t:max(), nan)
    same(t:min(), nan)
    local v, i = ks.tensor({{1, nan, nan}, {2, 3, 1}}):max(1)
    same(v, {nan, 3})
    same(i, {1, 1})
    v, i = ks.tensor({{nan, 1}, {2, nan}}):min(0)
    same(v, {nan, nan})
    same(i, {0, 1})
  end)

  it("of an empty tensor is an error", function()
    local ok, err = pcall(function() return ks.zeros(0):max() end)
    assert.is_false(ok)
    assert.matches("max%(%): cannot reduce the empty tensor", err)
    assert.has_error(function() ks.zeros(2, 0):min(1) end)
    local v, i = ks.zeros(0, 3):max(1)
    same(v, {}, {0})
    same(i, {}, {0})
  end)
end)

describe("argmax / argmin", function()
  it("index the flattened tensor without a dim", function()
    same(x3():argmax(), 23, {}, "int64")
    same(x3():argmin(), 0, {}, "int64")
    same(ks.tensor({{1, 9}, {9, 2}}):argmax(), 1)
    same(ks.tensor({{1, 9}, {9, 2}}):argmax(nil, true), {{1}}, {1, 1})
    same(ks.tensor({3, nan, 5, nan}):argmax(), 1)
    same(ks.tensor({3, nan, 5, nan}):argmin(), 1)
  end)
  it("index along a dim", function()
    local m = ks.tensor({{1, 3, 3}, {5, 2, 5}})
    same(m:argmax(1), {1, 0}, {2}, "int64")
    same(m:argmin(0), {0, 1, 0}, {3})
    same(ks.argmax(m, -1, true), {{1}, {0}}, {2, 1})
    same(x3():argmax(1), {{2, 2, 2, 2}, {2, 2, 2, 2}})
    same(ks.tensor({{1, 7}, {7, 1}}, "int64"):argmax(1), {1, 0})
  end)
  it("refuse empty input", function()
    assert.has_error(function() ks.zeros(0):argmax() end)
    assert.has_error(function() ks.zeros(2, 0):argmin(1) end)
  end)
end)

describe("var / std", function()
  local m = function() return ks.tensor({{1, 2, 3, 4}, {2, 4, 6, 8}}) end
  it("over all elements with correction 1 (default) and 0", function()
    near(m():var(), 37.5 / 7)
    near(m():var(nil, 0), 4.6875)
    near(m():std(), math.sqrt(37.5 / 7))
    near(m():std(nil, 0), math.sqrt(4.6875))
    assert.equal("float32", m():var():dtype())
  end)
  it("over each dim, with keepdim", function()
    near(m():var(1), {5 / 3, 20 / 3})
    near(m():var(1, 0), {1.25, 5})
    near(m():var(0), {0.5, 2, 4.5, 8})
    near(m():var(0, 0, true), {{0.25, 1, 2.25, 4}})
    assert.same({1, 4}, m():var(0, 0, true):shape())
    near(m():std(-1), {math.sqrt(5 / 3), math.sqrt(20 / 3)})
    near(m():std(1, 0, true), {{math.sqrt(1.25)}, {math.sqrt(5)}})
    -- for each j: 4j + {0..3} and 12 + 4j + {0..3}, deviations +-4.5..7.5: 298 / 7
    near(x3():var({0, 2}), {298 / 7, 298 / 7, 298 / 7})
  end)
  it("takes an options table", function()
    near(m():var{dim = 1, unbiased = false}, {1.25, 5})
    near(m():var{dim = 1, correction = 0, keepdim = true}, {{1.25}, {5}})
    near(ks.std(m(), {dim = 0}), {math.sqrt(0.5), math.sqrt(2), math.sqrt(4.5), math.sqrt(8)})
  end)
  it("var_mean / std_mean return both results", function()
    local v, mu = m():var_mean(1)
    near(v, {5 / 3, 20 / 3})
    same(mu, {2.5, 5}, {2}, "float32")
    v, mu = ks.std_mean(m(), nil, 0)
    near(v, math.sqrt(4.6875))
    same(mu, 3.75, {})
    v, mu = m():var_mean{dim = 0, unbiased = false, keepdim = true}
    near(v, {{0.25, 1, 2.25, 4}})
    same(mu, {{1.5, 3, 4.5, 6}}, {1, 4})
    v, mu = ks.zeros(0):var_mean()
    same(v, nan)
    same(mu, nan)
    assert.has_error(function() ks.tensor({1}, "int64"):std_mean() end)
  end)

  it("is NaN when N <= correction and for NaN input", function()
    same(ks.tensor({3}):var(), nan)
    same(ks.tensor({3}):var(nil, 0), 0)
    same(ks.zeros(0):var(), nan)
    same(ks.tensor({1, nan}):std(), nan)
  end)
  it("is accurate for a large offset (two-pass, double)", function()
    near(ks.tensor({1e4 + 1, 1e4 + 2, 1e4 + 3}):var(), 1, 1e-6)
  end)
  it("refuses integer tensors", function()
    local ok, err = pcall(function() return ks.tensor({1, 2}, "int64"):var() end)
    assert.is_false(ok)
    assert.matches("var%(%)", err)
    assert.matches("floating point", err)
    assert.has_error(function() ks.tensor({1, 2}, "uint8"):std() end)
  end)
end)

describe("var / std argument forms", function()
  -- rows {1, 2, 3, 4} and {2, 4, 6, 8}; over dim 1: var {5/3, 20/3} (correction 1), {1.25, 5} (0)
  local m = function() return ks.tensor({{1, 2, 3, 4}, {2, 4, 6, 8}}) end
  local v1, v0 = {5 / 3, 20 / 3}, {1.25, 5}
  local function col(v) return {{v[1]}, {v[2]}} end
  it("a lone boolean after dim is PyTorch's unbiased, not keepdim", function()
    near(m():var(1, true), v1)
    assert.same({2}, m():var(1, true):shape())
    near(m():var(1, false), v0) -- torch: x.var(1, False) is the population variance
    near(m():std(1, false), {math.sqrt(1.25), math.sqrt(5)})
    assert.same({2}, m():std(1, false):shape())
  end)
  it("(dim, correction[, keepdim])", function()
    near(m():var(1, 0), v0)
    near(m():var(1, 0, true), col(v0))
    near(m():var(1, 2), {2.5, 10})
    near(m():var(1, nil, true), col(v1))
  end)
  it("PyTorch's (dim, unbiased, keepdim) and (unbiased)", function()
    near(m():var(1, false, true), col(v0))
    near(m():var(1, true, false), v1)
    near(m():var(1, false, false), v0)
    near(m():var(false), 4.6875)
    near(m():var(true), 37.5 / 7)
    near(ks.std(m(), false), math.sqrt(4.6875))
  end)
  it("a trailing options table after dim", function()
    near(m():std(0, {keepdim = true}), {{math.sqrt(0.5), math.sqrt(2), math.sqrt(4.5), math.sqrt(8)}})
    near(m():var(1, {unbiased = false}), v0)
    near(m():var(1, {correction = 0, keepdim = true}), col(v0))
    near(m():var(1, {}), v1)
    near(m():var(nil, {correction = 0}), 4.6875)
    local v, mu = m():var_mean(1, {keepdim = true, unbiased = false})
    near(v, col(v0))
    same(mu, {{2.5}, {5}}, {2, 1})
    v, mu = ks.std_mean(m(), 1, true, true)
    same(mu, {{2.5}, {5}}, {2, 1})
  end)
  it("name what is wrong", function()
    local function err_of(f)
      local ok, e = pcall(f)
      assert.is_false(ok, "expected an error")
      return tostring(e)
    end
    local x = m()
    assert.matches("bad argument #2 to 'std' %(dim is given twice %(before and in the options table%)%)",
      err_of(function() return x:std(0, {dim = 1}) end))
    assert.matches("give either 'correction' or 'unbiased', not both",
      err_of(function() return x:var{unbiased = true, correction = 0} end))
    assert.matches("give either 'correction' or 'unbiased', not both",
      err_of(function() return x:var(0, {unbiased = true, correction = 0}) end))
    assert.matches("unknown option 'keep_dim' %(expected: correction, unbiased, keepdim%)",
      err_of(function() return x:var(0, {keep_dim = true}) end))
    assert.matches("unknown option 'keep_dim' %(expected: dim, correction, unbiased, keepdim%)",
      err_of(function() return x:var{keep_dim = true} end))
    assert.matches("keepdim must be a boolean, got number", err_of(function() return x:std(0, true, 1) end))
    assert.matches("keepdim must be a boolean, got string", err_of(function() return x:std(0, 1, "yes") end))
    assert.matches("unbiased must be a boolean, got number", err_of(function() return x:std{unbiased = 1} end))
    assert.matches("correction must be a number, got boolean", err_of(function() return x:std{correction = true} end))
    assert.matches("bad argument #4 to 'std' %(unexpected extra argument %(number%)%)",
      err_of(function() return x:std(0, 1, true, 5) end))
    assert.matches("bad argument #2 to 'var' %(unexpected extra argument %(number%)%)",
      err_of(function() return x:var(true, 1) end))
    assert.matches("bad argument #3 to 'std' %(unexpected extra argument %(table%)%)",
      err_of(function() return x:std(0, {}, {}) end))
    assert.matches("dim must be an integer or a table of dims, got string", err_of(function() return x:std("a") end))
  end)
end)

describe("norm", function()
  local v = function() return ks.tensor({3, -4}) end
  it("computes p = 2 (default), 1, inf, -inf, 0 and other p", function()
    same(v():norm(), 5, {}, "float32")
    same(v():norm(1), 7)
    same(v():norm(math.huge), 4)
    same(v():norm(-math.huge), 3)
    same(ks.tensor({3, 0, -4}):norm(0), 2)
    near(v():norm(3), 91 ^ (1 / 3))
    near(v():norm(0.5), (math.sqrt(3) + 2) ^ 2, 1e-6)
    same(v():norm("fro"), 5)
  end)
  it("reduces dims", function()
    local m = ks.tensor({{3, 4}, {6, 8}})
    same(m:norm(2, 1), {5, 10}, {2})
    near(m:norm(2, 0), {math.sqrt(45), math.sqrt(80)})
    same(m:norm(1, -1, true), {{7}, {14}}, {2, 1})
    same(m:norm(math.huge, {0, 1}), 8, {})
    same(m:norm{p = 1, dim = 0}, {9, 12})
  end)
  it("handles empty and NaN input", function()
    same(ks.zeros(0):norm(), 0)
    assert.has_error(function() ks.zeros(0):norm(math.huge) end)
    same(ks.tensor({1, nan, 2}):norm(math.huge), nan)
    same(ks.tensor({1, nan, 2}):norm(), nan)
  end)
  it("refuses integer tensors and bad p", function()
    assert.has_error(function() ks.tensor({1, 2}, "int64"):norm() end)
    local ok, err = pcall(function() return v():norm("nuc") end)
    assert.is_false(ok)
    assert.matches("p must be a number", err)
  end)
end)

describe("logsumexp", function()
  it("is exact on easy values and stable on large ones", function()
    near(ks.tensor({0, 0}):logsumexp(), math.log(2))
    near(ks.tensor({1000, 1000}):logsumexp(), 1000 + math.log(2))
    near(ks.tensor({-1000, -1000}):logsumexp(), -1000 + math.log(2))
    near(ks.tensor({{1, 2, 3}}):logsumexp(1), {3 + math.log(1 + math.exp(-1) + math.exp(-2))})
  end)
  it("reduces dims with keepdim", function()
    local m = ks.tensor({{0, math.log(3)}, {math.log(2), math.log(2)}})
    near(m:logsumexp(1), {math.log(4), math.log(4)})
    near(m:logsumexp(0, true), {{math.log(3), math.log(5)}})
    assert.same({1, 2}, m:logsumexp(0, true):shape())
    near(m:logsumexp({0, 1}), math.log(8))
  end)
  it("handles infinities, NaN, empty and integers", function()
    same(ks.tensor({-inf, -inf}):logsumexp(), -inf)
    same(ks.tensor({1, inf}):logsumexp(), inf)
    same(ks.tensor({1, nan}):logsumexp(), nan)
    same(ks.zeros(0):logsumexp(), -inf)
    local r = ks.tensor({0, 0}, "int64"):logsumexp()
    assert.equal("float32", r:dtype())
    near(r, math.log(2))
  end)
end)

describe("cumsum / cumprod", function()
  it("scan along a dim", function()
    same(ks.tensor({1, 2, 3, 4}):cumsum(0), {1, 3, 6, 10}, {4}, "float32")
    local m = ks.tensor({{1, 2}, {3, 4}})
    same(m:cumsum(0), {{1, 2}, {4, 6}})
    same(m:cumsum(1), {{1, 3}, {3, 7}})
    same(ks.cumsum(m, -1), {{1, 3}, {3, 7}})
    same(m:t():cumsum(1), {{1, 4}, {2, 6}})
    same(ks.tensor({1, 2, 3, 4}):cumprod(0), {1, 2, 6, 24})
    same(m:cumprod(0), {{1, 2}, {3, 8}})
    same(m:cumsum{dim = 1}, {{1, 3}, {3, 7}})
  end)
  it("of each dim of a 3-D tensor", function()
    local x = x3()
    local c0 = x:cumsum(0)
    same(c0:select(0, 1), x:sum(0):totable())
    same(x:cumsum(2):select(2, 3), x:sum(2):totable())
    same(x:cumsum(1):select(1, 2), x:sum(1):totable())
  end)
  it("give int64 for integers and keep empty shapes", function()
    same(ks.tensor({200, 100}, "uint8"):cumsum(0), {200, 300}, {2}, "int64")
    same(ks.tensor({true, true, false}):cumsum(0), {1, 2, 2}, nil, "int64")
    same(ks.tensor({2, 3}, "int64"):cumprod(-1), {2, 6}, nil, "int64")
    same(ks.zeros(0, 3):cumsum(1), {}, {0, 3})
    same(ks.tensor(5):cumsum(0), 5, {})
  end)
  it("need a dim", function()
    local ok, err = pcall(function() return ks.tensor({1}):cumsum() end)
    assert.is_false(ok)
    assert.matches("dim expected", err)
  end)
end)

describe("any / all / count_nonzero", function()
  local m = function() return ks.tensor({{0, 1}, {0, 0}}) end
  it("reduce to bool", function()
    same(m():any(), true, {}, "bool")
    same(m():all(), false, {}, "bool")
    same(m():any(1), {true, false}, {2})
    same(m():all(0), {false, false})
    same(m():any(0, true), {{false, true}}, {1, 2})
    same(ks.tensor({{1, 2}}):all(), true)
    same(ks.tensor({true, false}):any(), true)
    same(ks.tensor({0.5, 0}, "float32"):any(), true)
    same(ks.tensor({nan}):all(), true)
    same(ks.tensor({3, 0}, "uint8"):all(), false)
  end)
  it("of empty tensors: any false, all true", function()
    same(ks.zeros(0):any(), false)
    same(ks.zeros(0):all(), true)
  end)
  it("count non-zeros", function()
    local t = ks.tensor({{0, 1, 2}, {0, 0, 3}})
    same(t:count_nonzero(), 3, {}, "int64")
    same(t:count_nonzero(0), {0, 1, 2}, {3})
    same(ks.count_nonzero(t, 1), {2, 1})
    same(t:count_nonzero({0, 1}), 3)
    same(ks.zeros(0):count_nonzero(), 0)
  end)
end)

-- Every reduction over every dim and dim list of a 3-D tensor, with and
-- without keepdim, against a plain Lua reference.
describe("every reduction against a Lua reference", function()
  local S = {2, 3, 4}
  -- values 1..5 (finite products) and 0..2 (zeros for any/all/count)
  local function val(i, j, k) return (12 * i + 4 * j + k) * 7 % 5 + 1 end
  local function val0(i, j, k) return (12 * i + 4 * j + k) * 5 % 3 end

  local function build(f)
    local t = {}
    for i = 0, 1 do
      t[i + 1] = {}
      for j = 0, 2 do
        t[i + 1][j + 1] = {}
        for k = 0, 3 do t[i + 1][j + 1][k + 1] = f(i, j, k) end
      end
    end
    return t
  end

  -- reduce the nested table over the set `red` (0-based dims); fold(list) -> value
  local function ref(f, red, keepdim, fold)
    local groups, order = {}, {}
    for i = 0, 1 do for j = 0, 2 do for k = 0, 3 do
      local idx, key = {i, j, k}, {}
      for d = 0, 2 do
        if not red[d] then key[#key + 1] = idx[d + 1] elseif keepdim then key[#key + 1] = 0 end
      end
      local ks_ = table.concat(key, ",")
      if not groups[ks_] then groups[ks_] = {}; order[#order + 1] = key end
      table.insert(groups[ks_], f(i, j, k))
    end end end
    local out = nil
    for _, key in ipairs(order) do
      local v = fold(groups[table.concat(key, ",")])
      if #key == 0 then return v end
      out = out or {}
      local node = out
      for d = 1, #key - 1 do
        node[key[d] + 1] = node[key[d] + 1] or {}
        node = node[key[d] + 1]
      end
      node[key[#key] + 1] = v
    end
    return out
  end

  local function sum(l) local s = 0 for _, v in ipairs(l) do s = s + v end return s end
  local function mean(l) return sum(l) / #l end
  local function var(l)
    local m, s = mean(l), 0
    for _, v in ipairs(l) do s = s + (v - m) ^ 2 end
    return s / (#l - 1)
  end
  local folds = {
    sum = sum, mean = mean, var = var,
    prod = function(l) local p = 1 for _, v in ipairs(l) do p = p * v end return p end,
    amax = function(l) return math.max(table.unpack(l)) end,
    amin = function(l) return math.min(table.unpack(l)) end,
    std = function(l) return math.sqrt(var(l)) end,
    norm = function(l) local s = 0 for _, v in ipairs(l) do s = s + v * v end return math.sqrt(s) end,
    logsumexp = function(l)
      local m = math.max(table.unpack(l))
      local s = 0
      for _, v in ipairs(l) do s = s + math.exp(v - m) end
      return m + math.log(s)
    end,
  }
  local bool_folds = {
    any = function(l) for _, v in ipairs(l) do if v ~= 0 then return true end end return false end,
    all = function(l) for _, v in ipairs(l) do if v == 0 then return false end end return true end,
    count_nonzero = function(l) local n = 0 for _, v in ipairs(l) do if v ~= 0 then n = n + 1 end end return n end,
  }
  local dim_sets = {{0}, {1}, {2}, {-1}, {0, 1}, {0, 2}, {1, 2}, {2, 0}, {0, 1, 2}}

  local function red_set(dims)
    local r = {}
    for _, d in ipairs(dims) do r[d % 3] = true end
    return r
  end

  -- the same values as a permuted (non-contiguous) view of a [4, 3, 2] tensor
  local function permuted(f)
    local t = {}
    for k = 0, 3 do
      t[k + 1] = {}
      for j = 0, 2 do t[k + 1][j + 1] = {f(0, j, k), f(1, j, k)} end
    end
    local v = ks.tensor(t):permute(2, 1, 0)
    assert.is_false(v:is_contiguous())
    return v
  end

  it("float folds, contiguous and permuted", function()
    for _, x in ipairs({ks.tensor(build(val)), permuted(val)}) do
      for name, fold in pairs(folds) do
        for _, dims in ipairs(dim_sets) do
          for _, keep in ipairs({false, true}) do
            local want = ref(val, red_set(dims), keep, fold)
            local arg = #dims == 1 and dims[1] or dims
            local got
            if name == "var" or name == "std" then got = x[name](x, arg, 1, keep)
            elseif name == "norm" then got = x:norm(2, arg, keep)
            else got = x[name](x, arg, keep) end
            close_to(want, got:totable(), 1e-6, name .. " dims " .. table.concat(dims, ",") .. " keepdim " ..
              tostring(keep))
          end
        end
      end
    end
  end)

  it("bool and count folds", function()
    local x = ks.tensor(build(val0), "int64")
    for name, fold in pairs(bool_folds) do
      for _, dims in ipairs(dim_sets) do
        for _, keep in ipairs({false, true}) do
          local want = ref(val0, red_set(dims), keep, fold)
          local got = x[name](x, dims, keep):totable()
          assert.same(want, got, name .. " dims " .. table.concat(dims, ","))
        end
      end
    end
  end)

  it("max / min / argmax / argmin along each dim", function()
    local x = ks.tensor(build(val))
    local function first_ext(l, better)
      local bi = 1
      for i = 2, #l do if better(l[i], l[bi]) then bi = i end end
      return bi
    end
    for _, d in ipairs({0, 1, 2, -1, -2, -3}) do
      for _, keep in ipairs({false, true}) do
        for _, case in ipairs({{"max", "argmax", function(a, b) return a > b end},
                               {"min", "argmin", function(a, b) return a < b end}}) do
          local fv = function(l) return l[first_ext(l, case[3])] end
          local fi = function(l) return first_ext(l, case[3]) - 1 end
          local v, i = x[case[1]](x, d, keep)
          assert.same(ref(val, red_set({d}), keep, fv), v:totable())
          assert.same(ref(val, red_set({d}), keep, fi), i:totable())
          assert.same(ref(val, red_set({d}), keep, fi), x[case[2]](x, d, keep):totable())
        end
      end
    end
  end)

  it("cumsum / cumprod along each dim", function()
    local x = ks.tensor(build(val))
    for _, d in ipairs({0, 1, 2, -1}) do
      local dd = d % 3
      local cs, cp = x:cumsum(d):totable(), x:cumprod(d):totable()
      for i = 0, 1 do for j = 0, 2 do for k = 0, 3 do
        local idx = {i, j, k}
        local s, p = 0, 1
        for m = 0, idx[dd + 1] do
          local at = {i, j, k}
          at[dd + 1] = m
          local v = val(at[1], at[2], at[3])
          s, p = s + v, p * v
        end
        assert.equal(s, cs[i + 1][j + 1][k + 1])
        assert.equal(p, cp[i + 1][j + 1][k + 1])
      end end end
    end
  end)
end)

describe("gradients through the bindings", function()
  local x
  local function grad(f)
    x = ks.tensor({{1, 2, 3}, {4, 5, 6}}):requires_grad_()
    f():backward()
    return x.grad:totable()
  end

  it("flow through the differentiable reductions", function()
    same(ks.tensor(grad(function() return x:sum(1):sum() end)), {{1, 1, 1}, {1, 1, 1}})
    near(ks.tensor(grad(function() return x:mean() end)), {{1 / 6, 1 / 6, 1 / 6}, {1 / 6, 1 / 6, 1 / 6}})
    same(ks.tensor(grad(function() return (x:max(1)):sum() end)), {{0, 0, 1}, {0, 0, 1}})
    same(ks.tensor(grad(function() return x:amin() end)), {{1, 0, 0}, {0, 0, 0}})
    -- d var / dx = 2 (x - 3.5) / 5
    near(ks.tensor(grad(function() return x:var() end)), {{-1, -0.6, -0.2}, {0.2, 0.6, 1}})
    near(ks.tensor(grad(function() local v, m = x:var_mean(); return v + m end)),
      {{-1 + 1 / 6, -0.6 + 1 / 6, -0.2 + 1 / 6}, {0.2 + 1 / 6, 0.6 + 1 / 6, 1 + 1 / 6}})
    same(ks.tensor(grad(function() return x:cumsum(1):sum() end)), {{3, 2, 1}, {3, 2, 1}})
    same(ks.tensor(grad(function() return x:prod() end)), {{720, 360, 240}, {180, 144, 120}})
  end)

  it("do not flow through indices and predicates", function()
    local t = ks.tensor({1, 2}):requires_grad_()
    assert.is_true(t:sum().requires_grad)
    assert.is_true(t:norm().requires_grad)
    assert.is_true(t:logsumexp().requires_grad)
    assert.is_false(t:argmax().requires_grad)
    assert.is_false(t:any().requires_grad)
    assert.is_false(select(2, t:max(0)).requires_grad)
  end)
end)

describe("interrupts", function()
  it("stop long reductions and scans with an error, then clear", function()
    local x = ks.ones(200000)
    local m = ks.ones(1000, 1000)
    for _, f in ipairs({function() return x:sum() end, function() return m:sum(1) end,
                        function() return m:sum(0) end, function() return m:cumsum(1) end}) do
      ks.interrupt()
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches("interrupted", err)
    end
    same(x:sum(), 200000)
  end)
end)

describe("bad inputs", function()
  local function err_of(f, ...)
    local ok, e = pcall(f, ...)
    assert.is_false(ok)
    return tostring(e)
  end

  it("name the dim range", function()
    local x = x3()
    assert.matches("%[%-3, 2%].*got 3", err_of(function() return x:sum(3) end))
    assert.matches("%[%-3, 2%].*got %-4", err_of(function() return x:mean({0, -4}) end))
    assert.matches("%[%-3, 2%]", err_of(function() return x:max(5) end))
    assert.matches("%[%-3, 2%]", err_of(function() return x:argmax(3) end))
    assert.matches("%[%-3, 2%]", err_of(function() return x:cumsum(3) end))
    assert.matches("%[%-3, 2%]", err_of(function() return x:var{dim = 7} end))
    assert.matches("%[%-1, 0%]", err_of(function() return ks.tensor(1):sum(1) end))
  end)

  it("reject repeated dims", function()
    assert.matches("dim 1 appears multiple times", err_of(function() return x3():sum({1, -2}) end))
  end)

  it("take torch's elementwise form t:max(other) / t:min(other) (= ks.maximum / ks.minimum)", function()
    local a, b = ks.tensor({1, 5, -3}), ks.tensor({4, 2, -3})
    assert.are.same({4, 5, -3}, a:max(b):totable())
    assert.are.same({1, 2, -3}, a:min(b):totable())
    assert.are.same({4, 5, -3}, ks.max(a, b):totable())
    assert.are.same({1, 2, -3}, a:min(ks.tensor(2, ks.int64)):totable()) -- broadcasts, promotes
    local w = a:clone():requires_grad_()
    w:max(b):sum():backward() -- torch 1.13: ties split the gradient
    assert.are.same({0, 1, 0.5}, w.grad:totable())
  end)

  it("name wrong argument types", function()
    local x = x3()
    assert.matches("Tensor expected, got no value", err_of(ks.sum))
    assert.matches("Tensor expected, got string", err_of(ks.mean, "x"))
    assert.matches("Tensor expected, got nil", err_of(ks.max, nil, 0))
    assert.matches("dim must be an integer or a table of dims, got string", err_of(function() return x:sum("a") end))
    assert.matches("dim must be an integer, got 1.5", err_of(function() return x:sum(1.5) end))
    assert.matches("dim must be an integer, got boolean", err_of(function() return x:sum({0, true}) end))
    assert.matches("keepdim must be a boolean, got string", err_of(function() return x:sum(0, "yes") end))
    assert.matches("unknown option 'dims'", err_of(function() return x:sum{dims = 1} end))
    assert.matches("unknown option 'p'", err_of(function() return x:sum{p = 1} end))
    assert.matches("dim must be an integer, got table", err_of(function() return x:max({0, 1}) end))
    assert.matches("max%(other%): the elementwise form takes one tensor, got 1 extra", err_of(function() return x:max(x, 0) end))
    assert.matches("cannot be broadcast", err_of(function() return x:min(ks.ones(7)) end))
    assert.matches("bad argument #2 to 'var' %(expected a correction %(number%), keepdim %(boolean%) or an options table, got string%)",
      err_of(function() return x:var(0, "1") end))
    assert.matches("dim must be an integer, got table", err_of(function() return x:cumsum({0}) end))
  end)

  it("refuse released tensors", function()
    local x = x3()
    x:close()
    assert.matches("released", err_of(function() return x:sum() end))
    assert.matches("released", err_of(ks.max, x))
    assert.matches("released", err_of(ks.cumsum, x, 0))
  end)
end)
