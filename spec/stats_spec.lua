-- kshot.stats against textbook / hand-computed values
require "kshot"
local stats = require "kshot.stats"

local function near(a, b, tol) assert.is_true(math.abs(a - b) <= (tol or 1e-9), ("%.17g vs %.17g"):format(a, b)) end

local function err(f, pat)
  local ok, msg = pcall(f)
  assert.is_false(ok)
  assert.matches(pat, tostring(msg), 1, true)
end

describe("kshot.stats", function()
  it("mean and sd (sample and population)", function()
    near(3, stats.mean { 1, 2, 3, 4, 5 })
    near(math.sqrt(2.5), stats.sd { 1, 2, 3, 4, 5 })
    near(math.sqrt(2), stats.sd({ 1, 2, 3, 4, 5 }, 0))
  end)

  it("special functions", function()
    near(math.log(24), stats.lgamma(5), 1e-12)
    near(0.5 * math.log(math.pi), stats.lgamma(0.5), 1e-12)
    near(0.5248, stats.betainc(2, 3, 0.4), 1e-12) -- P(Bin(4, 0.4) >= 2)
    near(0.975002104851780, stats.normal_cdf(1.96), 1e-12)
    near(0.158655253931457, stats.normal_cdf(-1), 1e-12)
    -- far tails keep their digits (0.5 * erfc(-z / sqrt(2)) in Python's math): a p-value is never rounded to 0
    near(7.619853024160593e-24, stats.normal_cdf(-10), 1e-35)
    near(2.7536241186063314e-89, stats.normal_cdf(-20), 1e-100)
    assert.equal(1, stats.normal_cdf(10))
    near(1.959963984540054, stats.normal_quantile(0.975), 1e-9)
  end)

  it("Student t quantiles match the tables", function()
    local table_975 = { [1] = 12.706204736, [2] = 4.302652730, [4] = 2.776445105, [9] = 2.262157163,
      [29] = 2.045229642, [100] = 1.983971519 }
    for df, q in pairs(table_975) do near(q, stats.t_quantile(0.975, df), 1e-8) end
    near(-2.776445105, stats.t_quantile(0.025, 4), 1e-8)
    near(1.533206274, stats.t_quantile(0.9, 4), 1e-8)
    near(0.5, stats.t_cdf(0, 7), 1e-15)
  end)

  it("t interval for a handful of seeds says which sd", function()
    local r = stats.interval { 1, 2, 3, 4, 5 }
    assert.equal("t", r.method)
    assert.equal("sample sd (ddof = 1)", r.sigma)
    near(2.776445105 * math.sqrt(2.5) / math.sqrt(5), r.half, 1e-8)
    near(3 - r.half, r.lo)
    assert.matches("t%(4 df%)", r.text)
    assert.matches("sample sd, ddof = 1", r.text)
  end)

  it("normal interval for hundreds of episodes uses the population sd", function()
    local xs = {}
    for i = 1, 200 do xs[i] = i % 2 end -- mean 0.5, population sd 0.5
    local r = stats.interval(xs)
    assert.equal("normal", r.method)
    assert.equal("population sd (ddof = 0)", r.sigma)
    near(1.959963984540054 * 0.5 / math.sqrt(200), r.half, 1e-9)
    assert.matches("σ = population sd, ddof = 0", r.text)
    local t = stats.interval(xs, { method = "t" })
    assert.is_true(t.half > r.half)
  end)

  it("bootstrap interval is seeded and brackets the mean", function()
    local xs = { 3, 1, 4, 1, 5, 9, 2, 6 }
    local a = stats.interval(xs, { method = "bootstrap", seed = 7, resamples = 2000 })
    local b = stats.interval(xs, { method = "bootstrap", seed = 7, resamples = 2000 })
    local c = stats.interval(xs, { method = "bootstrap", seed = 8, resamples = 2000 })
    assert.equal(a.lo, b.lo)
    assert.equal(a.hi, b.hi)
    assert.is_true(a.lo ~= c.lo or a.hi ~= c.hi)
    assert.is_true(a.lo < 3.875 and 3.875 < a.hi)
    assert.is_true(a.lo >= 1 and a.hi <= 9)
    assert.matches("percentile bootstrap", a.text)
    assert.equal("bootstrap (percentile)", a.sigma)
  end)

  it("paired t-test", function()
    -- differences 1..5: t = 3 / (sqrt(2.5) / sqrt(5)) = 4.2426, df 4, p = 0.0132356 (scipy)
    local r = stats.paired_t({ 2, 4, 6, 8, 10 }, { 1, 2, 3, 4, 5 })
    near(3 * math.sqrt(2), r.t, 1e-12)
    assert.equal(4, r.df)
    near(0.013235599563683, r.p, 1e-9)
    near(1, stats.paired_t({ 1, 2 }, { 1, 2 }).p)
    near(0, stats.paired_t({ 2, 3 }, { 1, 2 }).p)
  end)

  it("Wilcoxon signed-rank: exact p-values", function()
    near(2 / 32, stats.wilcoxon({ 1, 2, 3, 4, 5 }, { 0, 0, 0, 0, 0 }).p)
    near(2 / 64, stats.wilcoxon({ 1, 2, 3, 4, 5, 6 }, { 0, 0, 0, 0, 0, 0 }).p)
    -- scipy.stats.wilcoxon docs example: statistic 24, p = 0.041259765625 (exact)
    local d = { 6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75 }
    local zero = {}
    for i = 1, #d do zero[i] = 0 end
    local r = stats.wilcoxon(d, zero)
    assert.equal(24, r.statistic)
    assert.is_true(r.exact)
    near(0.041259765625, r.p, 1e-15)
    -- ties: |d| = 1, 2, 2, 3 -> ranks 1, 2.5, 2.5, 4; W- = 2.5; 4 of 16 sign patterns <= 2.5
    r = stats.wilcoxon({ 1, -2, 2, 3 }, { 0, 0, 0, 0 })
    near(2.5, r.statistic)
    near(7.5, r.w_plus)
    near(0.5, r.p)
    -- zero differences are dropped
    r = stats.wilcoxon({ 1, 2, 3, 4, 5, 7 }, { 0, 0, 0, 0, 0, 7 })
    assert.equal(5, r.n)
    assert.equal(1, r.zeros)
    near(2 / 32, r.p)
    -- normal approximation on request
    -- 600 differences all of one sign (the normal approximation, z = -21.2): a tiny p, not 0
    local many, none = {}, {}
    for i = 1, 600 do many[i], none[i] = i, 0 end
    local far = stats.wilcoxon(many, none).p
    assert.is_true(far > 0 and far < 1e-90, tostring(far))
    local a = stats.wilcoxon(d, zero, { exact = false })
    assert.is_false(a.exact)
    assert.is_true(math.abs(a.p - 0.0413) < 0.01)
  end)

  it("Holm's correction", function()
    local adj, rej = stats.holm { 0.01, 0.04, 0.03, 0.005 }
    for i, v in ipairs { 0.03, 0.06, 0.06, 0.02 } do near(v, adj[i], 1e-15) end
    assert.same({ true, false, false, true }, rej)
    assert.same({ 1, 1 }, (stats.holm { 0.7, 0.9 })) -- capped at 1, monotone
  end)

  describe("bad inputs", function()
    it("names the problem", function()
      assert.has_error(function() stats.mean {} end, "mean: needs at least 1 values, got 0")
      assert.has_error(function() stats.mean(nil) end, "mean: values must be a list of numbers or a 1-D tensor, got nil")
      assert.has_error(function() stats.mean { 1, "x" } end, "mean: values[2] is not a number (x)")
      assert.has_error(function() stats.paired_t({ 1, 2 }, { 1 }) end,
        "paired_t: paired samples must have the same length, got 2 and 1")
      assert.has_error(function() stats.wilcoxon({ 1 }, { 1, 2 }) end)
      assert.has_error(function() stats.interval({ 1, 2 }, { method = "magic" }) end,
        "interval: unknown method 'magic' (auto, t, normal or bootstrap)")
      assert.has_error(function() stats.interval({ 1, 2 }, { level = 95 }) end)
      assert.has_error(function() stats.holm { 0.5, 2 } end)
      assert.has_error(function() stats.t_quantile(1, 3) end)
      assert.has_error(function() stats.interval({ 1, 2 }, { method = "bootstrap", seed = 1.5 }) end)
    end)

    it("options and argument types are checked, naming them", function()
      err(function() stats.wilcoxon({ 1, 2, 3 }, { 0, 0, 0 }, 5) end, "wilcoxon: options must be a table, got number")
      err(function() stats.wilcoxon({ 1, 2, 3 }, { 0, 0, 0 }, { exact = "no" }) end,
        "wilcoxon: option 'exact' must be a boolean")
      err(function() stats.wilcoxon({ 1, 2, 3 }, { 0, 0, 0 }, { exakt = true }) end,
        "wilcoxon: unknown option 'exakt' (known: exact)")
      err(function() stats.holm({ 0.01 }, "x") end, "holm: alpha must be a number in [0, 1], got x (string)")
      err(function() stats.holm({ 0.01 }, 0 / 0) end, "holm: alpha must be a number in [0, 1]")
      err(function() stats.sd({ 1, 2, 3 }, "x") end, "sd: ddof must be a non-negative integer, got x (string)")
      err(function() stats.sd({ 1, 2, 3 }, 0.5) end, "sd: ddof must be a non-negative integer, got 0.5")
      err(function() stats.sd({ 1, 2, 3 }, "1") end, "sd: ddof must be a non-negative integer, got 1 (string)")
      err(function() stats.interval({ 1, 2, 3 }, { lvl = 0.5 }) end,
        "interval: unknown option 'lvl' (known: level, method, seed, resamples)")
      err(function() stats.interval({ 1, 2, 3 }, { method = 5 }) end, "interval: option 'method' must be a string")
      err(function() stats.interval({ 1 }, { method = "bogus" }) end, "interval: unknown method 'bogus'")
      err(function() stats.interval({ 1, 2 }, { method = "bootstrap", seed = "a" }) end,
        "interval: option 'seed' must be an integer, got a (string)")
      err(function() stats.t_quantile(0.9, "x") end, "t_quantile: df must be a number > 0, got x")
      err(function() stats.t_cdf("x", 3) end, "t_cdf: t must be a number, got string")
      -- inf - inf is named as the difference at its position, not as a NaN inside mean
      err(function() stats.paired_t({ math.huge, 1 }, { math.huge, 2 }) end,
        "paired_t: the difference a[1] - b[1] = inf - inf is not a number")
      err(function() stats.wilcoxon({ 1, math.huge }, { 0, math.huge }) end,
        "wilcoxon: the difference a[2] - b[2] = inf - inf is not a number")
      err(function() stats.paired_t({ 1e308, 1 }, { -1e308, 2 }) end,
        "paired_t: the difference a[1] - b[1] = 1e+308 - -1e+308 is inf")
    end)
  end)

  describe("extreme inputs", function()
    it("t quantiles and cdf at levels close to 0 and 1 terminate (float search, no integer wrap)", function()
      near(0.5 + math.atan(4294967296.0) / math.pi, stats.t_cdf(4294967296, 1), 1e-15) -- integer t: t * t wrapped to 0
      -- Cauchy (df = 1): t_p = tan(pi (p - 1/2))
      -- exact closed forms in the tail q = 1 - p (exact for p >= 0.5): df 1 cot(pi q), df 2 (1 - 2q) / sqrt(2q(1 - q))
      for _, p in ipairs { 1 - 1e-6, 1 - 1e-11, 1 - 2 ^ -50 } do
        local tq = 1 - p
        local c1, c2 = 1 / math.tan(math.pi * tq), (1 - 2 * tq) / math.sqrt(2 * tq * (1 - tq))
        near(c1, stats.t_quantile(p, 1), 1e-10 * c1)
        near(c2, stats.t_quantile(p, 2), 1e-10 * c2)
        near(-c1, stats.t_quantile(tq, 1), 1e-10 * c1) -- the lower tail, symmetric
      end
      near(-1 / math.tan(math.pi * 1e-11), stats.t_quantile(1e-11, 1), 1e-10 / (math.pi * 1e-11))
      local r = stats.interval({ 1, 2 }, { level = 1 - 1e-11 })
      assert.is_true(r.hi > 1e10 and r.hi < math.huge)
      local hi = stats.t_quantile(1 - 1e-16, 1)
      assert.is_true(hi > 1e15 and hi < 1e16)
      -- p below 2^-53 (1 - p would round to 1): the lower tail is searched directly
      local lo = stats.t_quantile(1e-200, 1)
      near(-1 / (math.pi * 1e-200), lo, 1e-6 * math.abs(lo))
      assert.is_true(stats.t_quantile(1e-300, 3) < -1e99)
      assert.equal(-math.huge, stats.t_quantile(1e-320, 1)) -- beyond the largest double
      err(function() stats.t_quantile(0, 3) end, "t_quantile: p must be in (0, 1), got 0")
    end)

    it("sums do not overflow or wrap", function()
      assert.equal(math.maxinteger + 0.0, stats.mean { math.maxinteger, math.maxinteger })
      local r = stats.interval { 1e308, 1e308, 1e308 }
      assert.equal(1e308, r.mean)
      assert.equal(0, r.half)
      assert.equal(1e308, r.lo)
      assert.equal(1e308, r.hi)
      near(1e308 / 3, stats.mean { 1e308, -1e308, 1e308 }, 1e293)
      -- population sd of {1, -1, 1} * 1e308: sqrt(8/9) * 1e308, with a finite half-width
      local rn = stats.interval({ 1e308, -1e308, 1e308 }, { method = "normal" })
      near(math.sqrt(8 / 9) * 1e308, stats.sd({ 1e308, -1e308, 1e308 }, 0), 1e294)
      assert.is_true(rn.half < math.huge and rn.lo > -math.huge)
      -- ordinary integer data: the same value as before
      assert.equal(2.5, stats.mean { 1, 2, 3, 4 })
    end)

    it("wilcoxon: exact counts only where 64-bit counts are exact (n <= 60)", function()
      local a, b = {}, {}
      for i = 1, 61 do a[i], b[i] = (i % 2 == 0) and 1 or -1, 0 end
      err(function() stats.wilcoxon(a, b, { exact = true }) end,
        "wilcoxon: exact = true supports at most 60 non-zero differences")
      local r = stats.wilcoxon(a, b) -- default above 50: the normal approximation
      assert.is_false(r.exact)
      assert.is_true(r.p > 0 and r.p <= 1)
      -- n = 60 exact: every difference positive, p = 2 / 2^60
      local c, z = {}, {}
      for i = 1, 60 do c[i], z[i] = i, 0 end
      local e = stats.wilcoxon(c, z, { exact = true })
      assert.is_true(e.exact)
      assert.equal(2 / 2.0 ^ 60, e.p)
    end)
  end)
end)

describe("printing and tensors", function()
  local ks = require "kshot"
  it("an interval prints as mean ± half-width with the method and n", function()
    local r = stats.interval { 0.9, 0.95, 0.92, 0.88, 0.94 }
    assert.equal("0.918 ± 0.03556 (95% Student t, n = 5)", tostring(r))
    assert.equal("2 ± 0.7754 (90% normal, population sd, n = 3)",
      tostring(stats.interval({ 1, 2, 3 }, { method = "normal", level = 0.9 })))
    assert.equal("3 [1.8, 4.2] (95% percentile bootstrap, n = 5)",
      tostring(stats.interval({ 1, 2, 3, 4, 5 }, { method = "bootstrap" })))
    assert.equal("1 (n = 1: no interval)", tostring(stats.interval { 1 }))
    assert.matches("t%(4 df%)", r.text) -- the long form stays in .text
  end)

  it("accepts a 1-D tensor wherever a list is taken", function()
    local xs = { 1, 2, 4, 8, 16 }
    local t = ks.tensor(xs)
    assert.equal(stats.mean(xs), stats.mean(t))
    assert.equal(stats.sd(xs), stats.sd(t))
    assert.equal(stats.sd(xs, 0), stats.sd(t, 0))
    local a, b = stats.interval(xs), stats.interval(t)
    assert.equal(a.half, b.half)
    assert.equal(tostring(a), tostring(b))
    assert.equal(stats.mean(xs), stats.mean(ks.tensor(xs, "int64")))
    assert.equal(stats.paired_t(xs, { 0, 1, 1, 2, 3 }).p, stats.paired_t(t, ks.tensor { 0, 1, 1, 2, 3 }).p)
    assert.equal(stats.wilcoxon(xs, { 0, 1, 1, 2, 3 }).p, stats.wilcoxon(t, { 0, 1, 1, 2, 3 }).p)
    assert.same(stats.holm { 0.5, 0.25 }, stats.holm(ks.tensor { 0.5, 0.25 }))
  end)

  it("rejects tensors that are not 1-D numbers, naming the shape", function()
    assert.has_error(function() stats.mean(ks.zeros(2, 2)) end,
      "mean: values must be a list of numbers or a 1-D tensor, got a tensor of shape [2, 2]")
    assert.has_error(function() stats.mean(ks.tensor { true, false }) end,
      "mean: values must be a list of numbers or a 1-D numeric tensor, got a bool tensor")
    assert.has_error(function() stats.interval(ks.empty(0)) end, "interval: needs at least 1 values, got 0")
    assert.has_error(function() stats.mean(ks.tensor { 1, 0 / 0 }) end)
  end)
end)
