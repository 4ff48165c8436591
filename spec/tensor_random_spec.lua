-- Random tensors and fills: Philox streams, generators, reproducibility,
-- thread-count independence, statistics, bad inputs.
local ks = require "kshot"

local function flat(t) return t:reshape(-1):totable() end

local function same_values(a, b)
  local x, y = flat(a), flat(b)
  if #x ~= #y then return false end
  for i = 1, #x do
    if x[i] ~= y[i] then return false end
  end
  return true
end

local function errmsg(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

local function mean_var(t)
  local v = flat(t)
  local s, n = 0, #v
  for i = 1, n do s = s + v[i] end
  local m = s / n
  local q = 0
  for i = 1, n do q = q + (v[i] - m) ^ 2 end
  return m, q / (n - 1)
end

describe("rand / randn", function()
  it("shapes, dtypes and ranges", function()
    local r = ks.rand(2, 3)
    assert.are.equal("float32", r:dtype())
    assert.are.same({2, 3}, r:shape())
    for _, v in ipairs(flat(ks.rand{1000})) do assert.is_true(v >= 0 and v < 1) end
    assert.are.same({4, 5}, ks.randn{4, 5}:shape())
    assert.are.equal(0, ks.rand():dim())
  end)

  it("are reproducible from a seed and differ between seeds", function()
    ks.manual_seed(123)
    local a = ks.randn(100)
    ks.manual_seed(123)
    local b = ks.randn(100)
    ks.manual_seed(124)
    local c = ks.randn(100)
    assert.is_true(same_values(a, b))
    assert.is_false(same_values(a, c))
  end)

  it("continue the stream: two draws differ", function()
    ks.manual_seed(5)
    local a, b = ks.rand(50), ks.rand(50)
    assert.is_false(same_values(a, b))
  end)

  it("a fill of n then m equals the values a fresh stream gives in order", function()
    -- each fill reserves ceil(n/4) blocks: a draw of 8 then 8 is one draw of 16
    local g1, g2 = ks.Generator(9), ks.Generator(9)
    local a = ks.rand(8, {generator = g1})
    local b = ks.rand(8, {generator = g1})
    local whole = flat(ks.rand(16, {generator = g2}))
    local av, bv = flat(a), flat(b)
    for i = 1, 8 do
      assert.are.equal(whole[i], av[i])
      assert.are.equal(whole[8 + i], bv[i])
    end
  end)

  it("uniform values have 24 random bits (multiples of 2^-24)", function()
    for _, v in ipairs(flat(ks.rand(100))) do
      assert.are.equal(0, (v * 2 ^ 24) % 1)
    end
  end)

  it("statistics: randn mean 0 var 1, rand mean 1/2 var 1/12 (within 4 sigma)", function()
    ks.manual_seed(2024)
    local n = 100000
    local m, v = mean_var(ks.randn(n))
    assert.is_true(math.abs(m) < 4 / math.sqrt(n), "mean " .. m)
    assert.is_true(math.abs(v - 1) < 4 * math.sqrt(2 / n), "var " .. v)
    local mu, vu = mean_var(ks.rand(n))
    assert.is_true(math.abs(mu - 0.5) < 4 * math.sqrt(1 / 12 / n), "mean " .. mu)
    assert.is_true(math.abs(vu - 1 / 12) < 4 * math.sqrt(1 / 180 / n), "var " .. vu)
  end)

  it("rand_like / randn_like", function()
    local base = ks.zeros(3, 2)
    local r = ks.rand_like(base)
    assert.are.same({3, 2}, r:shape())
    assert.are.equal("float32", r:dtype())
    local g1, g2 = ks.Generator(1), ks.Generator(1)
    assert.is_true(same_values(ks.randn_like(base, {generator = g1}), ks.randn(3, 2, {generator = g2})))
    assert.matches("only float32", errmsg(ks.rand_like, ks.zeros(2, "int64")))
  end)

  it("reject bad arguments", function()
    assert.matches("only float32 is supported, got int64", errmsg(ks.rand, 2, "int64"))
    assert.matches("only float32", errmsg(ks.randn, {2}, {dtype = "bool"}))
    assert.matches("negative size", errmsg(ks.rand, -2))
    assert.matches("generator must be a kshot.Generator, got number", errmsg(ks.rand, 2, {generator = 5}))
    assert.matches("unknown option 'gen'", errmsg(ks.rand, 2, {gen = ks.Generator(1)}))
  end)
end)

describe("thread-count independence", function()
  local has_threads = ks.set_num_threads ~= nil

  it("the same fill with 1 and 2 threads is bit-identical", function()
    if not has_threads then return pending("ks.set_num_threads not available") end
    local old = ks.get_num_threads and ks.get_num_threads() or 1
    local results = {}
    for _, nt in ipairs({1, 2}) do
      ks.set_num_threads(nt)
      local g = ks.Generator(77)
      local u = ks.rand(200003, {generator = g})
      local n = ks.randn(100001, {generator = g})
      local i = ks.randint(-5, 5, {50001}, {generator = g})
      local b = ks.zeros(70001):bernoulli_(0.3, {generator = g})
      local t = ks.empty(300, 301):t() -- non-contiguous fill
      t:normal_(1, 2, {generator = g})
      results[nt] = {u, n, i, b, t}
    end
    ks.set_num_threads(old)
    for k = 1, 5 do
      assert.is_true(same_values(results[1][k], results[2][k]), "fill " .. k)
    end
  end)
end)

describe("Generator", function()
  it("two generators with one seed agree; different seeds differ", function()
    local a, b, c = ks.Generator(42), ks.Generator(42), ks.Generator(43)
    local x = ks.rand(20, {generator = a})
    assert.is_true(same_values(x, ks.rand(20, {generator = b})))
    assert.is_false(same_values(x, ks.rand(20, {generator = c})))
  end)

  it("a generator is independent of the default stream", function()
    local g = ks.Generator(3)
    ks.manual_seed(3)
    local first = ks.rand(10, {generator = g})
    ks.rand(10) -- advances the default generator only
    local g2 = ks.Generator(3)
    assert.is_true(same_values(first, ks.rand(10, {generator = g2})))
    assert.is_false(same_values(ks.rand(10, {generator = g}), first))
  end)

  it("seed, manual_seed, initial_seed", function()
    local g = ks.Generator(11)
    assert.are.equal(11, g:seed())
    assert.are.equal(g, g:manual_seed(12))
    assert.are.equal(12, g:seed())
    assert.are.equal(12, g:initial_seed())
    assert.are.equal(0, ks.Generator():seed())
    ks.manual_seed(99)
    assert.are.equal(99, ks.initial_seed())
    assert.are.equal(99, ks.default_generator():seed())
  end)

  it("get_state/set_state round-trips and continues the same stream", function()
    local g = ks.Generator(7)
    ks.rand(13, {generator = g})
    local s = g:get_state()
    assert.are.equal("string", type(s))
    local a = ks.randn(10, {generator = g})
    g:set_state(s)
    local b = ks.randn(10, {generator = g})
    assert.is_true(same_values(a, b))
    -- a state moves to another generator too
    local h = ks.Generator(1)
    h:set_state(s)
    assert.is_true(same_values(a, ks.randn(10, {generator = h})))
    assert.are.equal(g:get_state(), h:get_state())
  end)

  it("default generator state via ks.get_rng_state / ks.set_rng_state", function()
    ks.manual_seed(1)
    local s = ks.get_rng_state()
    local a = ks.rand(5)
    ks.set_rng_state(s)
    assert.is_true(same_values(a, ks.rand(5)))
  end)

  it("forked streams are independent of each other and of the parent", function()
    local g = ks.Generator(5)
    local f1, f2, f1b = g:fork(1), g:fork(2), g:fork(1)
    local a = ks.rand(20, {generator = f1})
    assert.is_true(same_values(a, ks.rand(20, {generator = f1b})))
    assert.is_false(same_values(a, ks.rand(20, {generator = f2})))
    assert.is_false(same_values(a, ks.rand(20, {generator = ks.Generator(5)})))
    assert.are.equal(5, g:seed()) -- the parent is unchanged
  end)

  it("default_generator is one handle on the state's generator", function()
    local d = ks.default_generator()
    assert.are.equal(d, ks.default_generator())
    assert.are.equal(d, ks.manual_seed(8))
    d:manual_seed(21)
    assert.are.equal(21, ks.initial_seed())
    local a = ks.rand(4)
    d:manual_seed(21)
    assert.is_true(same_values(a, ks.rand(4, {generator = d})))
    assert.matches("kshot.Generator", tostring(d))
  end)

  it("rejects bad seeds and states", function()
    assert.matches("integer seed expected", errmsg(ks.Generator, 1.5))
    assert.matches("integer seed expected, got string", errmsg(ks.manual_seed, "x"))
    local g = ks.Generator(1)
    assert.matches("not a generator state", errmsg(g.set_state, g, "philox:zz"))
    assert.matches("not a generator state", errmsg(g.set_state, g, g:get_state() .. "0"))
    assert.matches("string expected", errmsg(g.set_state, g, {}))
    assert.matches("number expected", errmsg(g.fork, g, "a"))
    assert.matches("kshot.Generator expected", errmsg(g.seed, {}))
  end)
end)

describe("randint / randperm", function()
  it("randint is int64 in [low, high)", function()
    local t = ks.randint(3, 7, {2000})
    assert.are.equal("int64", t:dtype())
    local seen = {}
    for _, v in ipairs(flat(t)) do
      assert.is_true(v >= 3 and v < 7)
      seen[v] = true
    end
    for v = 3, 6 do assert.is_true(seen[v], "value " .. v) end
    local h = ks.randint(5, {3, 4})
    assert.are.same({3, 4}, h:shape())
    for _, v in ipairs(flat(h)) do assert.is_true(v >= 0 and v < 5) end
    for _, v in ipairs(flat(ks.randint(-3, -1, {100}))) do assert.is_true(v == -3 or v == -2) end
    assert.are.equal("float32", ks.randint(0, 2, {3}, "float32"):dtype())
  end)

  it("randint extreme range works", function()
    local t = ks.randint(math.mininteger, math.maxinteger, {10})
    assert.are.equal(10, t:numel())
  end)

  it("randperm is a permutation", function()
    for _, n in ipairs({0, 1, 2, 10, 1000}) do
      local p = flat(ks.randperm(n))
      assert.are.equal(n, #p)
      local seen = {}
      for _, v in ipairs(p) do
        assert.is_true(v >= 0 and v < n and not seen[v])
        seen[v] = true
      end
    end
    assert.are.equal("int64", ks.randperm(3):dtype())
    ks.manual_seed(4)
    local a = flat(ks.randperm(50))
    ks.manual_seed(4)
    assert.are.same(a, flat(ks.randperm(50)))
  end)

  it("reject bad arguments", function()
    assert.matches("low %(5%) must be less than high %(5%)", errmsg(ks.randint, 5, 5, {2}))
    assert.matches("shape table expected", errmsg(ks.randint, 0, 5, 2))
    assert.matches("number expected", errmsg(ks.randint, "a", {2}))
    assert.matches("non%-negative", errmsg(ks.randperm, -1))
    assert.matches("too large for dtype uint8", errmsg(ks.randperm, 300, "uint8"))
  end)
end)

describe("in-place fills", function()
  it("uniform_ respects the range and writes through views", function()
    local t = ks.zeros(4, 6)
    local col = t:select(1, 2)
    col:uniform_(5, 6)
    for r, row in ipairs(t:totable()) do
      for c, v in ipairs(row) do
        if c == 3 then assert.is_true(v >= 5 and v < 6) else assert.are.equal(0, v) end
      end
    end
    assert.are.equal(col, col:uniform_())
  end)

  it("normal_ with mean and std", function()
    ks.manual_seed(31)
    local n = 50000
    local m, v = mean_var(ks.empty(n):normal_(10, 3))
    assert.is_true(math.abs(m - 10) < 4 * 3 / math.sqrt(n), "mean " .. m)
    assert.is_true(math.abs(v - 9) < 4 * 9 * math.sqrt(2 / n), "var " .. v)
    local z = ks.empty(10):normal_(2, 0)
    assert.are.same({2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, flat(z))
  end)

  it("bernoulli_ with a number or a tensor, any dtype", function()
    assert.are.same({0, 0, 0, 0}, flat(ks.empty(4):bernoulli_(0)))
    assert.are.same({1, 1, 1, 1}, flat(ks.empty(4):bernoulli_(1)))
    local b = ks.empty(3, "bool"):bernoulli_(1)
    assert.are.same({true, true, true}, flat(b))
    local p = ks.tensor{0, 1, 0, 1}
    assert.are.same({0, 1, 0, 1}, flat(ks.empty(4, "int64"):bernoulli_(p)))
    ks.manual_seed(3)
    local m = mean_var(ks.zeros(40000):bernoulli_(0.25))
    assert.is_true(math.abs(m - 0.25) < 4 * math.sqrt(0.25 * 0.75 / 40000), "mean " .. m)
    -- broadcast a row of probabilities over rows
    local rows = ks.zeros(3, 2):bernoulli_(ks.tensor{0, 1})
    assert.are.same({{0, 1}, {0, 1}, {0, 1}}, rows:totable())
  end)

  it("ks.bernoulli and ks.multinomial", function()
    local p = ks.tensor{{0, 1}, {1, 0}}
    local s = ks.bernoulli(p)
    assert.are.equal("float32", s:dtype())
    assert.are.same({{0, 1}, {1, 0}}, s:totable())
    local w = ks.tensor{0, 0, 5, 0}
    assert.are.same({2, 2, 2}, flat(ks.multinomial(w, 3, true)))
    local perm = flat(ks.multinomial(ks.tensor{1, 1, 1, 1}, 4))
    table.sort(perm)
    assert.are.same({0, 1, 2, 3}, perm)
    local rows = ks.multinomial(ks.tensor{{1, 0}, {0, 1}}, 2, true)
    assert.are.same({{0, 0}, {1, 1}}, rows:totable())
    assert.matches("cannot draw 2 samples without replacement from 1 non%-zero", errmsg(ks.multinomial, w, 2))
    assert.matches("non%-negative", errmsg(ks.multinomial, ks.tensor{1, -1}, 1))
    assert.matches("sum of probabilities", errmsg(ks.multinomial, ks.tensor{0, 0}, 1, true))
  end)

  it("reject bad arguments", function()
    local t = ks.zeros(3)
    assert.matches("from <= to", errmsg(t.uniform_, t, 2, 1))
    assert.matches("std >= 0", errmsg(t.normal_, t, 0, -1))
    assert.matches("0 <= p <= 1", errmsg(t.bernoulli_, t, 1.5))
    assert.matches("probabilities in %[0, 1%]", errmsg(t.bernoulli_, t, ks.tensor{0.5, 2, 0}))
    assert.matches("cannot be broadcast", errmsg(t.bernoulli_, t, ks.tensor{0.5, 0.5}))
    local i = ks.zeros(3, "int64")
    assert.matches("floating point", errmsg(i.uniform_, i))
    assert.matches("floating point", errmsg(i.normal_, i))
    assert.matches("only a generator option", errmsg(t.uniform_, t, 0, 1, "int64"))
    local e = ks.zeros(1):expand(3)
    assert.matches("expanded tensor", errmsg(e.normal_, e))
    assert.matches("kshot.Tensor expected", errmsg(ks.bernoulli, 0.5))
  end)
end)
