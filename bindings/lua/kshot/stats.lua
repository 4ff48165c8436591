--- kshot.stats: statistics over repeats (seeds, episodes) for honest
-- small-sample reporting (notes/small-sample-protocols.md).
--
-- Inputs are Lua lists of numbers (one value per seed or episode) or 1-D tensors.
--  * mean, sd (ddof = 1, the sample sd, unless asked)
--  * interval(xs, {level=0.95, method="auto"|"t"|"normal"|"bootstrap"}):
--      t          mean ± t(1 - a/2, n-1) · s / sqrt(n), s = sample sd (ddof = 1)
--      normal     mean ± z(1 - a/2) · σ / sqrt(n), σ = population sd (ddof = 0),
--                 the convention of the few-shot literature for hundreds of episodes
--      bootstrap  percentile interval of the mean over `resamples` seeded resamples
--      auto       t below 100 values, normal from 100 on
--    The result says which (fields method, sigma, text).
--  * paired_t(a, b), wilcoxon(a, b) (exact p-values by enumerating the null
--    distribution up to 50 non-zero differences by default, at most 60 on request
--    (the counts are exact 64-bit integers up to there), ties included), holm(pvalues).
-- Bad input (wrong types, unknown options, NaN, out-of-range levels) raises an
-- error naming the argument or option. Sums of finite values never overflow:
-- when the plain sum is not finite the mean and sd are recomputed with the
-- values scaled by their largest magnitude (results for ordinary data are
-- the plain sums, bit for bit).
-- Quantiles of Student's t come from the regularised incomplete beta
-- function (continued fraction) inverted by bisection.
local options = require "kshot.options"

local M = {}

-- ---------------------------------------------------------------- checks
-- A 1-D tensor is read as the list of its values (float64 Lua numbers).
local function tensor_list(xs, fname, what)
  local ok, ks = pcall(require, "kshot")
  if not (ok and ks.is_tensor(xs)) then return nil end
  if xs:dim() ~= 1 then
    error(("%s: %s must be a list of numbers or a 1-D tensor, got a tensor of shape [%s]"):format(fname, what,
      table.concat(xs:shape(), ", ")), 4)
  end
  if xs:dtype() == "bool" then
    error(("%s: %s must be a list of numbers or a 1-D numeric tensor, got a bool tensor"):format(fname, what), 4)
  end
  return xs:totable()
end

-- the values as a Lua list and their count; errors name the function and argument
local function check_list(xs, fname, what, min_n)
  what = what or "values"
  if type(xs) == "userdata" then xs = tensor_list(xs, fname, what) or xs end
  if type(xs) ~= "table" then
    error(("%s: %s must be a list of numbers or a 1-D tensor, got %s"):format(fname, what, type(xs)), 3)
  end
  local n = #xs
  for i = 1, n do
    if type(xs[i]) ~= "number" or xs[i] ~= xs[i] then
      error(("%s: %s[%d] is not a number (%s)"):format(fname, what, i, tostring(xs[i])), 3)
    end
  end
  if n < (min_n or 1) then
    error(("%s: needs at least %d %s, got %d"):format(fname, min_n or 1, what, n), 3)
  end
  return n, xs
end

-- opts must be nil or a table whose keys are all in `known` (a list): the
-- shared check of kshot.options
local function check_opts(opts, fname, known, level)
  local o = options.check(opts, fname, known, (level or 2) + 1)
  return o -- not a tail call: error levels count this frame
end

local function finite(v) return v == v and v ~= math.huge and v ~= -math.huge end

local function max_abs(xs, n)
  local big = 0.0
  for i = 1, n do
    local a = math.abs(xs[i] + 0.0)
    if not finite(a) then return nil end -- an inf in the data: the plain result stands
    if a > big then big = a end
  end
  return big
end

-- ---------------------------------------------------------------- basics
-- the mean of n checked values (floats: integer sums would wrap); the scaled
-- path only when the plain sum overflowed although every value is finite
local function mean_of(xs, n)
  local s = 0.0
  for i = 1, n do s = s + xs[i] end
  if finite(s) then return s / n end
  local big = max_abs(xs, n)
  if not big or big == 0 then return s / n end
  local t = 0.0
  for i = 1, n do t = t + xs[i] / big end
  return t / n * big
end

--- stats.mean(xs)
function M.mean(xs)
  local n, list = check_list(xs, "mean")
  return mean_of(list, n)
end

--- stats.sd(xs[, ddof=1]): standard deviation with n - ddof in the denominator
-- (ddof a non-negative integer, n > ddof)
function M.sd(xs, ddof)
  if ddof == nil then ddof = 1 end
  if type(ddof) ~= "number" or math.tointeger(ddof) == nil or ddof < 0 then
    error(("sd: ddof must be a non-negative integer, got %s (%s)"):format(tostring(ddof), type(ddof)), 2)
  end
  local n
  n, xs = check_list(xs, "sd", nil, math.tointeger(ddof) + 1)
  local m, ss = mean_of(xs, n), 0
  for i = 1, n do ss = ss + (xs[i] - m) ^ 2 end
  if not finite(ss) and finite(m) then -- squares overflowed: scale by the largest magnitude
    local big = max_abs(xs, n)
    if big and big > 0 then
      local t, mb = 0.0, m / big
      for i = 1, n do t = t + (xs[i] / big - mb) ^ 2 end
      return math.sqrt(t / (n - ddof)) * big
    end
  end
  return math.sqrt(ss / (n - ddof))
end

-- ------------------------------------------------ special functions
-- log Gamma(x), x > 0 (Lanczos, g = 7, 9 terms; |error| < 1e-14)
local LANCZOS = { 0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7 }
local function lgamma(x)
  if x < 0.5 then return math.log(math.pi / math.abs(math.sin(math.pi * x))) - lgamma(1 - x) end
  x = x - 1
  local a, t = LANCZOS[1], x + 7.5
  for i = 1, 8 do a = a + LANCZOS[i + 1] / (x + i) end
  return 0.5 * math.log(2 * math.pi) + (x + 0.5) * math.log(t) - t + math.log(a)
end
M.lgamma = lgamma

-- continued fraction of the incomplete beta (modified Lentz)
local function beta_cf(a, b, x)
  local tiny, eps = 1e-300, 1e-15
  local qab, qap, qam = a + b, a + 1, a - 1
  local c, d = 1, 1 - qab * x / qap
  if math.abs(d) < tiny then d = tiny end
  d = 1 / d
  local h = d
  for m = 1, 500 do
    local m2 = 2 * m
    local aa = m * (b - m) * x / ((qam + m2) * (a + m2))
    d = 1 + aa * d; if math.abs(d) < tiny then d = tiny end
    c = 1 + aa / c; if math.abs(c) < tiny then c = tiny end
    d = 1 / d
    h = h * d * c
    aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
    d = 1 + aa * d; if math.abs(d) < tiny then d = tiny end
    c = 1 + aa / c; if math.abs(c) < tiny then c = tiny end
    d = 1 / d
    local del = d * c
    h = h * del
    if math.abs(del - 1) < eps then break end
  end
  return h
end

--- stats.betainc(a, b, x): regularised incomplete beta I_x(a, b)
function M.betainc(a, b, x)
  if x <= 0 then return 0 end
  if x >= 1 then return 1 end
  local front = math.exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * math.log(x) + b * math.log(1 - x))
  -- the fraction converges fast for x < (a + 1) / (a + b + 2); use the symmetry otherwise
  if x < (a + 1) / (a + b + 2) then return front * beta_cf(a, b, x) / a end
  return 1 - front * beta_cf(b, a, 1 - x) / b
end

local function check_df(fname, df)
  if type(df) ~= "number" or not (df > 0) then
    error(("%s: df must be a number > 0, got %s"):format(fname, tostring(df)), 3)
  end
end

-- P(T > t) for t >= 0 (t a float: an integer t * t would wrap)
local function t_tail(t, df)
  local x = df / (df + t * t)
  if x < 1e-280 and t < math.huge then
    -- far tail (t * t overflows or x underflows): I_x(a, 1/2) -> x^a / (a B(a, 1/2)) as x -> 0,
    -- with log x = log df - 2 log|t| computed without forming t * t
    local a = df / 2
    return 0.5 * math.exp(lgamma(a + 0.5) - lgamma(a) - lgamma(0.5) + a * (math.log(df) - 2 * math.log(math.abs(t)))) / a
  end
  return 0.5 * M.betainc(df / 2, 0.5, x)
end

--- stats.t_cdf(t, df): P(T <= t) for Student's t with df degrees of freedom
function M.t_cdf(t, df)
  if type(t) ~= "number" then error("t_cdf: t must be a number, got " .. type(t), 2) end
  check_df("t_cdf", df)
  t = t + 0.0
  local tail = t_tail(t, df)
  return t >= 0 and 1 - tail or tail
end

-- bisection on [0, hi] for the t where below(t) flips from true to false;
-- hi doubles from 1.0 (a float) up to 2^1023 (beyond: inf), every loop is bounded
local function bisect(below)
  local lo, hi = 0.0, 1.0
  while below(hi) do
    if hi >= 2.0 ^ 1023 then return math.huge end
    lo, hi = hi, hi * 2
  end
  for _ = 1, 1100 do
    local mid = 0.5 * (lo + hi)
    if below(mid) then lo = mid else hi = mid end
    if hi - lo < 1e-12 * math.max(1, hi) then break end
  end
  return 0.5 * (lo + hi)
end

--- stats.t_quantile(p, df): the t with P(T <= t) = p (bisection on the tail probability, relative error < 1e-10)
function M.t_quantile(p, df)
  if type(p) ~= "number" or not (p > 0 and p < 1) then error("t_quantile: p must be in (0, 1), got " .. tostring(p), 2) end
  check_df("t_quantile", df)
  if p == 0.5 then return 0 end
  -- searched on the tail probability itself, which keeps its digits where
  -- 1 - tail would lose them; 1 - p is exact for p >= 0.5 (Sterbenz)
  if p < 0.5 then return -bisect(function(t) return t_tail(t, df) > p end) end
  local q = 1 - p
  return bisect(function(t) return t_tail(t, df) > q end)
end

--- stats.normal_cdf(z) and stats.normal_quantile(p)
function M.normal_cdf(z)
  -- Phi(z) = (1 + sign(z) P(1/2, z^2/2)) / 2, P = regularised lower incomplete gamma
  local a, x, p = 0.5, z * z / 2, 0
  if x == 0 then
    p = 0
  elseif x < 1.5 then -- series: e^-x x^a / Gamma(a+1) * sum_n x^n / ((a+1)...(a+n))
    local sum, term = 1, 1
    for n = 1, 500 do
      term = term * x / (a + n)
      sum = sum + term
      if term < sum * 1e-17 then break end
    end
    p = sum * math.exp(-x + a * math.log(x) - lgamma(a + 1))
  else -- continued fraction of the upper gamma Q (modified Lentz)
    local tiny = 1e-300
    local b = x + 1 - a
    local c, d = 1 / tiny, 1 / b
    local h = d
    for i = 1, 500 do
      local an = -i * (i - a)
      b = b + 2
      d = an * d + b; if math.abs(d) < tiny then d = tiny end
      c = b + an / c; if math.abs(c) < tiny then c = tiny end
      d = 1 / d
      local del = d * c
      h = h * del
      if math.abs(del - 1) < 1e-16 then break end
    end
    -- the tail Q itself: 1 - (1 - Q) would round a far tail (z = -10: 7.6e-24) to 0
    local q = math.exp(-x + a * math.log(x) - lgamma(a)) * h
    return z >= 0 and 1 - 0.5 * q or 0.5 * q
  end
  return z >= 0 and 0.5 * (1 + p) or 0.5 * (1 - p)
end

function M.normal_quantile(p)
  if type(p) ~= "number" or not (p > 0 and p < 1) then error("normal_quantile: p must be in (0, 1), got " .. tostring(p), 2) end
  local lo, hi = -40, 40
  for _ = 1, 200 do
    local mid = 0.5 * (lo + hi)
    if M.normal_cdf(mid) < p then lo = mid else hi = mid end
    if hi - lo < 1e-13 then break end
  end
  return 0.5 * (lo + hi)
end

-- ---------------------------------------------------- seeded generator
-- splitmix64 on Lua's wrapping 64-bit integers: a private stream, so the
-- bootstrap never touches math.random's global state.
local function rng(seed)
  local s = math.tointeger(seed) or error("bootstrap: seed must be an integer, got " .. tostring(seed), 3)
  return function(n) -- uniform integer in [1, n]
    s = s + 0x9E3779B97F4A7C15
    local z = s
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    z = z ~ (z >> 31)
    return 1 + math.floor(((z >> 11) * 2.0 ^ -53) * n)
  end
end
M.rng = rng

-- ------------------------------------------------------------ intervals
local function fmt(v) return ("%.4g"):format(v) end

-- An interval prints short: "0.92 ± 0.06703 (95% Student t, n = 5)"; its
-- `text` field keeps the long form that spells out the formula.
local Interval = { __name = "kshot.stats.Interval" }
local SHORT = { t = "Student t", normal = "normal, population sd" }
function Interval.__tostring(r)
  local pct = ("%g%%"):format(r.level * 100)
  if r.n < 2 then return r.text end
  if r.method == "bootstrap" then
    return ("%s [%s, %s] (%s percentile bootstrap, n = %d)"):format(fmt(r.mean), fmt(r.lo), fmt(r.hi), pct, r.n)
  end
  return ("%s ± %s (%s %s, n = %d)"):format(fmt(r.mean), fmt(r.half), pct, SHORT[r.method], r.n)
end

--- stats.interval(xs, {level=0.95, method="auto", seed=0, resamples=10000})
-- xs: a Lua list of numbers or a 1-D tensor (as do mean, sd, paired_t, wilcoxon, holm).
-- -> {mean, sd (ddof 1), n, level, lo, hi, half (nil for bootstrap, which may
-- be asymmetric), method, sigma (which sd the half-width uses), text}; it
-- prints (tostring) as "0.92 ± 0.06703 (95% Student t, n = 5)".
function M.interval(xs, opts)
  opts = check_opts(opts, "interval", { "level", "method", "seed", "resamples" })
  local n
  n, xs = check_list(xs, "interval", nil, 1)
  local level = opts.level or 0.95
  if type(level) ~= "number" or not (level > 0 and level < 1) then
    error("interval: level must be in (0, 1), got " .. tostring(level), 2)
  end
  local method = opts.method or "auto"
  if type(method) ~= "string" then error("interval: option 'method' must be a string (auto, t, normal or bootstrap), got " .. type(method), 2) end
  if method == "auto" then method = n >= 100 and "normal" or "t" end
  if method ~= "t" and method ~= "normal" and method ~= "bootstrap" then
    error(("interval: unknown method '%s' (auto, t, normal or bootstrap)"):format(method), 2)
  end
  if opts.seed ~= nil and math.type(opts.seed) ~= "integer" then
    error(("interval: option 'seed' must be an integer, got %s (%s)"):format(tostring(opts.seed), type(opts.seed)), 2)
  end
  local m = M.mean(xs)
  local r = setmetatable({ mean = m, n = n, level = level, method = method, sd = n > 1 and M.sd(xs) or 0 }, Interval)
  local pct = ("%g%%"):format(level * 100)
  if n < 2 then
    r.lo, r.hi, r.half, r.sigma = m, m, nil, "none"
    r.text = ("%s (n = 1: no interval)"):format(fmt(m))
    return r
  end
  if method == "t" then
    local q = M.t_quantile(1 - (1 - level) / 2, n - 1)
    r.half = q * r.sd / math.sqrt(n)
    if not finite(r.half) and finite(r.sd) then r.half = q * (r.sd / math.sqrt(n)) end -- q * sd overflowed
    r.sigma = "sample sd (ddof = 1)"
    r.quantile = q
    r.text = ("%s ± %s (%s interval: t(%d df) = %.4f · s / sqrt(%d), s = sample sd, ddof = 1)")
      :format(fmt(m), fmt(r.half), pct, n - 1, q, n)
  elseif method == "normal" then
    local q = M.normal_quantile(1 - (1 - level) / 2)
    local sigma = M.sd(xs, 0)
    r.half = q * sigma / math.sqrt(n)
    if not finite(r.half) and finite(sigma) then r.half = q * (sigma / math.sqrt(n)) end
    r.sigma = "population sd (ddof = 0)"
    r.quantile = q
    r.text = ("%s ± %s (%s interval: %.2f · σ / sqrt(%d), σ = population sd, ddof = 0)")
      :format(fmt(m), fmt(r.half), pct, q, n)
  elseif method == "bootstrap" then
    local b = opts.resamples or 10000
    if math.type(b) ~= "integer" or b < 100 then
      error("interval: resamples must be an integer >= 100, got " .. tostring(b), 2)
    end
    local draw, means = rng(opts.seed or 0), {}
    for j = 1, b do
      local s = 0
      for _ = 1, n do s = s + xs[draw(n)] end
      means[j] = s / n
    end
    table.sort(means)
    local a = (1 - level) / 2
    -- percentile interval: order statistics at a and 1 - a (nearest rank)
    r.lo = means[math.max(1, math.floor(a * b + 0.5))]
    r.hi = means[math.min(b, math.floor((1 - a) * b + 0.5))]
    r.sigma = "bootstrap (percentile)"
    r.resamples, r.seed = b, opts.seed or 0
    r.text = ("%s [%s, %s] (%s percentile bootstrap interval of the mean, %d resamples, seed %d)")
      :format(fmt(m), fmt(r.lo), fmt(r.hi), pct, b, r.seed)
    return r
  else
    error(("interval: unknown method '%s' (auto, t, normal or bootstrap)"):format(tostring(method)), 2)
  end
  r.lo, r.hi = m - r.half, m + r.half
  return r
end

--- stats.summary(xs, opts): alias of interval (mean, sd, interval in one table)
M.summary = M.interval

-- ---------------------------------------------------- paired comparisons
local function diffs(a, b, fname)
  local n, nb
  n, a = check_list(a, fname, "a", 1)
  nb, b = check_list(b, fname, "b", 1)
  if n ~= nb then
    error(("%s: paired samples must have the same length, got %d and %d"):format(fname, n, nb), 3)
  end
  local d = {}
  for i = 1, n do
    local v = a[i] - b[i]
    if v ~= v then
      error(("%s: the difference a[%d] - b[%d] = %s - %s is not a number"):format(fname, i, i, tostring(a[i]), tostring(b[i])), 3)
    end
    d[i] = v
  end
  return d, n
end

--- stats.paired_t(a, b) -> {t, df, p (two-sided), mean_diff, sd_diff, n}
-- tests mean(a - b) = 0 over pairs (same seeds or episodes).
function M.paired_t(a, b)
  local d, n = diffs(a, b, "paired_t")
  if n < 2 then error("paired_t: needs at least 2 pairs, got " .. n, 2) end
  for i = 1, n do
    if not finite(d[i]) then
      error(("paired_t: the difference a[%d] - b[%d] = %s - %s is %s; a t-test needs finite differences (wilcoxon ranks them)")
        :format(i, i, tostring(a[i]), tostring(b[i]), tostring(d[i])), 2)
    end
  end
  local m, s = M.mean(d), M.sd(d)
  local r = { n = n, df = n - 1, mean_diff = m, sd_diff = s }
  if s == 0 then
    r.t = m == 0 and 0 or (m > 0 and math.huge or -math.huge)
    r.p = m == 0 and 1 or 0
  else
    r.t = m / (s / math.sqrt(n))
    r.p = M.betainc((n - 1) / 2, 0.5, (n - 1) / (n - 1 + r.t * r.t))
  end
  return r
end

-- average ranks (1-based) of |d|, ties share the mean rank
local function abs_ranks(d)
  local n, order = #d, {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(x, y)
    local ax, ay = math.abs(d[x]), math.abs(d[y])
    if ax ~= ay then return ax < ay end
    return x < y
  end)
  local ranks, i, ties = {}, 1, false
  while i <= n do
    local j = i
    while j < n and math.abs(d[order[j + 1]]) == math.abs(d[order[i]]) do j = j + 1 end
    if j > i then ties = true end
    for k = i, j do ranks[order[k]] = (i + j) / 2 end
    i = j + 1
  end
  return ranks, ties
end

--- stats.wilcoxon(a, b[, {exact=}]) -> {statistic (min(W+, W-)), w_plus, w_minus, n (non-zero
-- differences), p (two-sided), exact (bool)}. Zero differences are dropped (Wilcoxon's
-- convention). The exact null distribution of W+ (every sign pattern equally likely) is
-- counted by dynamic programming over the (mid)ranks, so ties are handled exactly; used
-- by default when n <= 50; exact = true allows up to 60 (beyond, the counts of 2^n sign patterns
-- would overflow 64-bit integers: an error), exact = false forces the normal approximation with
-- tie correction, the default above 50.
local WILCOXON_EXACT_MAX = 60
function M.wilcoxon(a, b, opts)
  opts = check_opts(opts, "wilcoxon", { "exact" })
  if opts.exact ~= nil and type(opts.exact) ~= "boolean" then
    error("wilcoxon: option 'exact' must be a boolean (or nil: exact up to 50 differences), got " .. type(opts.exact), 2)
  end
  local all = diffs(a, b, "wilcoxon")
  local d = {}
  for _, v in ipairs(all) do if v ~= 0 then d[#d + 1] = v end end
  local n = #d
  local r = { n = n, zeros = #all - n }
  if n == 0 then
    r.statistic, r.w_plus, r.w_minus, r.p, r.exact = 0, 0, 0, 1, true
    return r
  end
  local ranks, ties = abs_ranks(d)
  local wp, wm = 0, 0
  for i = 1, n do
    if d[i] > 0 then wp = wp + ranks[i] else wm = wm + ranks[i] end
  end
  r.w_plus, r.w_minus, r.statistic, r.ties = wp, wm, math.min(wp, wm), ties
  local exact = opts.exact
  if exact == nil then exact = n <= 50 end
  if exact and n > WILCOXON_EXACT_MAX then
    error(("wilcoxon: exact = true supports at most %d non-zero differences (the null counts overflow beyond), got %d; use exact = false or leave it unset for the normal approximation")
      :format(WILCOXON_EXACT_MAX, n), 2)
  end
  r.exact = exact
  if exact then
    -- doubled ranks are integers; count sign patterns by their sum of positive ranks
    local counts, total = { [0] = 1 }, 0
    for i = 1, n do
      local rk = math.tointeger(2 * ranks[i])
      local nxt = {}
      for s = 0, total do
        local c = counts[s]
        if c then
          nxt[s] = (nxt[s] or 0) + c
          nxt[s + rk] = (nxt[s + rk] or 0) + c
        end
      end
      counts, total = nxt, total + rk
    end
    local w2 = math.tointeger(2 * r.statistic)
    local below = 0
    for s = 0, w2 do below = below + (counts[s] or 0) end
    r.p = math.min(1, 2 * below / 2.0 ^ n)
  else
    local mean = n * (n + 1) / 4
    local var = n * (n + 1) * (2 * n + 1) / 24
    -- tie correction: subtract sum(t^3 - t)/48 over groups of tied |d|
    local seen = {}
    for i = 1, n do seen[ranks[i]] = (seen[ranks[i]] or 0) + 1 end
    for _, t in pairs(seen) do var = var - (t ^ 3 - t) / 48 end
    local z = (r.statistic - mean) / math.sqrt(var)
    r.z = z
    r.p = math.min(1, 2 * M.normal_cdf(z))
  end
  return r
end

--- stats.holm(pvalues[, alpha=0.05]) -> adjusted p-values (same order), reject flags
-- Holm's step-down: sort ascending, p_(i) * (m - i + 1), running maximum, capped at 1.
function M.holm(ps, alpha)
  local m
  m, ps = check_list(ps, "holm", "p-values", 1)
  if alpha == nil then alpha = 0.05 end
  if type(alpha) ~= "number" or not (alpha >= 0 and alpha <= 1) then
    error(("holm: alpha must be a number in [0, 1], got %s (%s)"):format(tostring(alpha), type(alpha)), 2)
  end
  local order = {}
  for i = 1, m do
    if ps[i] < 0 or ps[i] > 1 then error(("holm: p-values[%d] = %s is not in [0, 1]"):format(i, ps[i]), 2) end
    order[i] = i
  end
  table.sort(order, function(x, y) if ps[x] ~= ps[y] then return ps[x] < ps[y] end return x < y end)
  local adj, reject, running = {}, {}, 0
  for rank, i in ipairs(order) do
    running = math.max(running, math.min(1, ps[i] * (m - rank + 1)))
    adj[i] = running
  end
  for i = 1, m do reject[i] = adj[i] <= alpha end
  return adj, reject
end

return M
