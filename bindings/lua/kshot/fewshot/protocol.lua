--- kshot.fewshot.protocol: N-way K-shot episodes (protocol 2 of
-- notes/small-sample-protocols.md) -- evaluate, compare, tune.
--
-- Episodes come from ks.data.episode driven by ONE generator seeded with
-- `seed`, so for a seed and a pool the e-th episode is the same whatever the
-- methods: comparisons are paired. Accuracies are in percent; the 95%
-- interval (ci95, its half-width) is the few-shot literature's mean +- 1.96 *
-- sigma / sqrt(n) with sigma the POPULATION standard deviation (ddof = 0)
-- from 100 episodes on, and Student's t with n - 1 degrees of freedom and the
-- sample sd below (the normal rule would be too narrow there; kshot.stats'
-- "auto"); NaN for a single episode. Each summary says which (sigma =
-- "population" | "sample").
local ks = require "kshot"
local options = require "kshot.options"
local stats = require "kshot.stats"
local Bk = require "kshot.fewshot.backbone"
local H = require "kshot.fewshot.heads"
local Me = require "kshot.fewshot.methods"
local adapt = require "kshot.fewshot.adapt"

local P = {}

local function fail(fmt, ...) options.raise(string.format(fmt, ...)) end

-- ------------------------------------------------------------ inputs
--- A pool {images=, labels=} (or {images, labels}) -> images, int64 labels.
function P.pool(p, what, where)
  if type(p) ~= "table" then fail("%s: %s must be a table {images=, labels=}, got %s", where, what, type(p)) end
  local x, y = p.images or p[1], p.labels or p[2]
  local pre = what and (what .. ".") or ""
  if not ks.is_tensor(x) then fail("%s: %simages must be a tensor, got %s", where, pre, type(x)) end
  if not ks.is_tensor(y) or y:dim() ~= 1 then
    fail("%s: %slabels must be a 1-D tensor, got %s", where, pre, ks.is_tensor(y) and
      ("shape [" .. table.concat(y:shape(), ", ") .. "]") or type(y))
  end
  if x:dim() < 1 then
    fail("%s: %simages must have the images along dim 0 ([N, H, W] or [N, C, H, W]), got a 0-dimensional tensor "
      .. "(shape [])", where, pre)
  end
  if x:size(0) ~= y:size(0) then
    fail("%s: %s has %d images but %d labels (shapes [%s] and [%s])", where, what or "the input", x:dim() > 0 and x:size(0) or 0,
      y:size(0), table.concat(x:shape(), ", "), table.concat(y:shape(), ", "))
  end
  return x, P.check_labels(y, pre .. "labels", where)
end

local LABEL_LIMIT = 1 << 31 -- class ids index per-class counts: keep them in a sane range

--- Labels -> int64 labels: integral values (any numeric dtype) in [0, 2^31).
function P.check_labels(y, what, where)
  if y:dtype() ~= "int64" then
    local yl = y:long()
    if y:dtype() == "float32" and y:numel() > 0 and yl:float():ne(y):any():item() then
      for i, v in ipairs(y:totable()) do
        if v ~= math.floor(v) or v == math.huge or v == -math.huge then
          fail("%s: %s must be integer class ids, got %s at index %d", where, what, tostring(v), i - 1)
        end
      end
    end
    y = yl
  end
  if y:numel() > 0 then
    local lo, hi = y:min():item(), y:max():item()
    if lo < 0 then fail("%s: %s must be class ids >= 0, got %d", where, what, lo) end
    if hi >= LABEL_LIMIT then fail("%s: %s must be class ids < 2^31, got %d", where, what, hi) end
  end
  return y
end

--- A class list: non-empty, distinct integers >= 0.
function P.class_list(classes, where)
  if type(classes) ~= "table" then fail("%s: classes must be a list of class ids, got %s", where, type(classes)) end
  if #classes == 0 then fail("%s: classes is empty", where) end
  local seen = {}
  for i, c in ipairs(classes) do
    if math.type(c) ~= "integer" or c < 0 then
      fail("%s: classes[%d] must be an integer >= 0, got %s", where, i, tostring(c))
    end
    if seen[c] then fail("%s: class %d is listed twice in classes", where, c) end
    seen[c] = true
  end
  return classes
end

-- Counts per class (Lua table id -> count) of an int64 label tensor.
local function counts_of(y)
  local n = {}
  if y:numel() == 0 then return n end
  local bc = ks.bincount(y):totable()
  for i, v in ipairs(bc) do if v > 0 then n[i - 1] = v end end
  return n
end

-- Rows of y whose label is in classes (int64 tensor).
local function rows_in(y, classes)
  local mask = ks.zeros({y:size(0)}, "bool")
  for _, c in ipairs(classes) do mask = mask:logical_or(y:eq(c)) end
  return mask:nonzero():reshape(-1)
end

local function positive(v, what, where)
  if math.type(v) ~= "integer" or v < 1 then fail("%s: %s must be an integer >= 1, got %s", where, what, tostring(v)) end
  return v
end

local function callable(f)
  if type(f) == "function" then return true end
  local mt = type(f) == "table" and getmetatable(f)
  return mt and mt.__call ~= nil or false
end

--- The base classes (CL2N's centring mean): base_pool, base_classes (nil: every
-- label of base_pool that is not an episode class) and the episode classes
-- -> {images, labels, classes, rows}. Shared by evaluate / compare / tune and fit.
function P.base_setup(base_pool, base_classes, classes, where)
  local bx, by = P.pool(base_pool, "base_pool", where)
  local novel, bcl, counts = {}, base_classes, counts_of(by)
  for _, c in ipairs(classes) do novel[c] = true end
  if bcl == nil then
    bcl = {}
    for c in pairs(counts) do if not novel[c] then bcl[#bcl + 1] = c end end
    table.sort(bcl)
    if #bcl == 0 then
      fail("%s: base_pool has no class other than the episode classes (pass base_classes= or another base_pool)",
        where)
    end
  end
  P.class_list(bcl, where .. ": base_classes")
  for _, c in ipairs(bcl) do
    if novel[c] then fail("%s: class %d is both a base class and an episode class", where, c) end
  end
  local rows = rows_in(by, bcl)
  if rows:numel() == 0 then
    fail("%s: base_pool has no image of the base classes (base_classes = {%s})", where, table.concat(bcl, ", "))
  end
  for _, c in ipairs(bcl) do
    if not counts[c] then fail("%s: class %d of base_classes has no image in base_pool", where, c) end
  end
  return {images = bx, labels = by, classes = bcl, rows = rows}
end

-- ------------------------------------------------------------ features
local function make_backbone(o)
  local opts = {layer = o.layer, pool = o.pool, mean = o.mean, std = o.std, transform = o.transform, batch = o.batch}
  return Bk.new(o.backbone, opts)
end
P.make_backbone = make_backbone

-- Features of a pool's images restricted to some rows, cached by backbone,
-- the pool's images tensor and a key naming the rows, when cache is a table.
local function cached_features(cache, bb, images, key, compute)
  if not cache then return compute() end
  local per_bb = cache[bb.key]
  if not per_bb then per_bb = setmetatable({}, {__mode = "k"}); cache[bb.key] = per_bb end
  local per_img = per_bb[images]
  if not per_img then per_img = {}; per_bb[images] = per_img end
  if not per_img[key] then per_img[key] = compute() end
  return per_img[key]
end
P.cached_features = cached_features

--- The base-class mean feature (CL2N's centre) of a base pool.
function P.base_mean(bb, base, cache, where)
  if not base then fail("%s: CL2N needs base_pool= (the base classes' training images) for its centring mean", where) end
  local key = "base-mean:" .. table.concat(base.classes, ",")
  return cached_features(cache or {}, bb, base.images, key, function()
    local f = bb:features(base.images:index_select(0, base.rows))
    return f:mean(0)
  end)
end

-- ------------------------------------------------------------ one episode
local function accuracy(scores, ql)
  return 100 * scores:argmax(1):eq(ql):sum():item() / ql:size(0)
end

-- Run an adapting method (bn / finetune / lora) on one episode; the module is restored after.
local function run_adapted(m, bb, simgs, sl, qimgs, ql, way, base_mean, seed)
  local snap = Bk.snapshot(bb.model)
  local ok, res = pcall(function()
    local x = bb:prepare(simgs)
    local head
    if m.name == "bn" then
      adapt.bn(bb, x)
      head = Me.fit_head(m, bb:features(simgs), sl, way, base_mean)
    else
      local o = {}
      for k, v in pairs(m.opts) do o[k] = v end
      o.seed = seed
      head = (m.name == "lora" and adapt.lora or adapt.finetune)(bb, x, sl, way, o)
    end
    return accuracy(H.scores(head, bb:features(qimgs)), ql)
  end)
  Bk.restore(bb.model, snap)
  if not ok then error(res, 0) end
  return res
end

-- ------------------------------------------------------------ summaries
local function summary(xs)
  local n, s = #xs, 0
  for i = 1, n do s = s + xs[i] end
  local mean, ss = s / n, 0
  for i = 1, n do ss = ss + (xs[i] - mean) ^ 2 end
  if n >= 100 then
    local sd = math.sqrt(ss / n) -- population sd (ddof = 0)
    return {mean = mean, sd = sd, ci95 = 1.96 * sd / math.sqrt(n), n = n, per_episode = xs, sigma = "population"}
  end
  local sd = n > 1 and math.sqrt(ss / (n - 1)) or 0 -- sample sd (ddof = 1)
  local half = n > 1 and stats.t_quantile(0.975, n - 1) * sd / math.sqrt(n) or 0 / 0
  return {mean = mean, sd = sd, ci95 = half, n = n, per_episode = xs, sigma = "sample"}
end
P.summary = summary

local function paired(a_label, b_label, a, b)
  local d, wins, losses = {}, 0, 0
  for i = 1, #a do
    d[i] = b[i] - a[i]
    if d[i] > 0 then wins = wins + 1 elseif d[i] < 0 then losses = losses + 1 end
  end
  local s = summary(d)
  return {a = a_label, b = b_label, mean = s.mean, ci95 = s.ci95, sd = s.sd, n = s.n, wins = wins, losses = losses,
    ties = #a - wins - losses, per_episode = d}
end

-- ------------------------------------------------------------ compare / evaluate
local DEFAULTS = {way = 5, shot = 1, query = 15, episodes = 600, seed = 0}
local KNOWN = {backbone = true, layer = true, pool = true, mean = true, std = true, transform = true, batch = true,
  method = true, methods = true, way = true, shot = true, query = true, episodes = true, classes = true,
  support_pool = true, query_pool = true, base_pool = true, base_classes = true, seed = true, cache = true,
  progress = true}

-- Check the options and restrict the pools to the episode classes.
local function setup(o, where)
  if type(o) ~= "table" then fail("%s: options table expected, got %s", where, type(o)) end
  for k in pairs(o) do if not KNOWN[k] then fail("%s", options.message(where, k, KNOWN)) end end
  local cfg = {}
  for k, v in pairs(DEFAULTS) do cfg[k] = o[k] == nil and v or o[k] end
  for _, k in ipairs({"way", "shot", "query", "episodes"}) do positive(cfg[k], k, where) end
  if math.type(cfg.seed) ~= "integer" then fail("%s: seed must be an integer, got %s", where, tostring(cfg.seed)) end
  if o.support_pool == nil then fail("%s: support_pool= is required ({images=, labels=})", where) end
  local sx, sy = P.pool(o.support_pool, "support_pool", where)
  local qx, qy
  if o.query_pool ~= nil then qx, qy = P.pool(o.query_pool, "query_pool", where) end
  local classes = o.classes
  if classes == nil then
    classes = {}
    for c in pairs(counts_of(sy)) do classes[#classes + 1] = c end
    table.sort(classes)
  end
  P.class_list(classes, where)
  if cfg.way > #classes then
    fail("%s: way = %d is larger than the number of classes (%d)", where, cfg.way, #classes)
  end
  local sc, qc = counts_of(sy), qy and counts_of(qy) or nil
  for _, c in ipairs(classes) do
    local need = qy and cfg.shot or cfg.shot + cfg.query
    if not sc[c] then
      fail("%s: class %d has no image in support_pool (a class of classes= is missing from its labels)", where, c)
    end
    if sc[c] < need then
      fail("%s: class %d has %d images in support_pool, fewer than %s = %d", where, c, sc[c],
        qy and "shot" or "shot + query", need)
    end
    if qy and not qc[c] then
      fail("%s: class %d has no image in query_pool (a class of classes= is missing from its labels)", where, c)
    end
    if qy and qc[c] < cfg.query then
      fail("%s: class %d has %d images in query_pool, fewer than query = %d", where, c, qc[c], cfg.query)
    end
  end
  cfg.classes = classes
  -- episodes index the pools restricted to the classes; the restricted images
  -- are made only when needed (cache misses, uncached or adapting methods)
  local srows = rows_in(sy, classes)
  cfg.spool, cfg.slabels = {images = sx, rows = srows}, sy:index_select(0, srows)
  if qy then
    local qrows = rows_in(qy, classes)
    cfg.qpool, cfg.qlabels = {images = qx, rows = qrows}, qy:index_select(0, qrows)
  end
  cfg.ckey = table.concat(classes, ",")
  if o.base_pool ~= nil then cfg.base = P.base_setup(o.base_pool, o.base_classes, classes, where) end
  if o.progress ~= nil and not callable(o.progress) then
    fail("%s: progress must be a function(episode, episodes), got %s", where, type(o.progress))
  end
  local cache = o.cache
  if cache == nil or cache == true then cache = {} end
  if cache ~= false and type(cache) ~= "table" then
    fail("%s: cache must be true, false or a table, got %s", where, type(cache))
  end
  cfg.cache = cache
  return cfg
end

--- compare{... methods = {spec, ...}} -> {order, results = {[label] = summary}, paired = {...}, ...}
-- results[label]: {mean, ci95, sd, n, per_episode, sigma} (sd is the sd the
-- interval uses: population from 100 episodes on, else sample).
-- paired: one entry per pair of methods in `order` (i < j): {a = order[i],
-- b = order[j], mean, ci95, sd, n of the per-episode DIFFERENCE b - a, wins
-- (episodes where b beats a), losses, ties, per_episode}; r:diff(a, b) gives
-- the same for any two labels. No p-value: stats.paired_t or stats.wilcoxon of
-- results[a].per_episode and results[b].per_episode give one.
function P.compare(o, where)
  where = where or "fewshot.compare"
  if type(o) ~= "table" then fail("%s: options table expected, got %s", where, type(o)) end
  local specs = o.methods or (o.method ~= nil and {o.method}) or fail("%s: methods= is required", where)
  if type(specs) ~= "table" or #specs == 0 then fail("%s: methods must be a non-empty list", where) end
  local methods, order, per = {}, {}, {}
  for i, s in ipairs(specs) do
    local m = Me.parse(s, where)
    if per[m.label] then fail("%s: two methods are both named '%s' (give one a label=)", where, m.label) end
    methods[i], order[i], per[m.label] = m, m.label, {}
  end
  local cfg = setup(o, where)
  local bb = make_backbone(o)
  for _, m in ipairs(methods) do
    if m.needs_base and not cfg.base then
      fail("%s: method %s needs base_pool= (the base classes' training images) for its centring mean", where, m.label)
    end
    if not m.frozen and bb.kind ~= "module" then
      fail("%s: method %s needs an nn.Module backbone (got %s)", where, m.label,
        bb.kind == "pixels" and "raw pixels" or "a function")
    end
  end
  local bmean -- once per call, even with cache = false (it is not per-episode work)
  local base_mean = function()
    bmean = bmean or P.base_mean(bb, cfg.base, cfg.cache or nil, where)
    return bmean
  end
  local function restricted(pool)
    pool.sub = pool.sub or pool.images:index_select(0, pool.rows)
    return pool.sub
  end
  local qpool = cfg.qpool or cfg.spool
  -- images of an episode's rows (indices into the restricted pool)
  local function episode_images(pool, idx) return pool.images:index_select(0, pool.rows:index_select(0, idx)) end
  local FS, FQ
  local function pool_features(pool)
    return cached_features(cfg.cache, bb, pool.images, cfg.ckey, function() return bb:features(restricted(pool)) end)
  end
  local function frozen_features(si, qi)
    if not cfg.cache then
      return bb:features(episode_images(cfg.spool, si)), bb:features(episode_images(qpool, qi))
    end
    FS = FS or pool_features(cfg.spool)
    FQ = FQ or (cfg.qpool and pool_features(cfg.qpool) or FS)
    return FS:index_select(0, si), FQ:index_select(0, qi)
  end
  local g = ks.Generator(cfg.seed)
  local any_frozen = false
  for _, m in ipairs(methods) do any_frozen = any_frozen or m.frozen end
  local solver
  for e = 1, cfg.episodes do
    local si, sl, qi, ql = ks.data.episode(cfg.slabels, {way = cfg.way, shot = cfg.shot, query = cfg.query,
      classes = cfg.classes, query_labels = cfg.qlabels, generator = g})
    local fs, fq
    if any_frozen then fs, fq = frozen_features(si, qi) end
    for _, m in ipairs(methods) do
      local acc
      if m.frozen then
        local head = Me.fit_head(m, fs, sl, cfg.way, base_mean)
        solver = solver or head.solver
        acc = accuracy(H.scores(head, fq), ql)
      else
        acc = run_adapted(m, bb, episode_images(cfg.spool, si), sl, episode_images(qpool, qi), ql, cfg.way,
          base_mean, cfg.seed * 1000003 + e)
      end
      local list = per[m.label]
      list[#list + 1] = acc
    end
    if o.progress then o.progress(e, cfg.episodes) end
    if e % 20 == 0 then collectgarbage("step") end
  end
  local out = {order = order, results = {}, paired = {}, way = cfg.way, shot = cfg.shot, query = cfg.query,
    episodes = cfg.episodes, seed = cfg.seed, classes = cfg.classes, solver = solver,
    sigma = cfg.episodes >= 100 and "population" or "sample",
    interval = cfg.episodes >= 100 and "mean +- 1.96 * sigma / sqrt(n), sigma = population sd (ddof = 0)"
      or "mean +- t(0.975, n - 1) * s / sqrt(n), s = sample sd (ddof = 1)"}
  for _, label in ipairs(order) do out.results[label] = summary(per[label]) end
  for i = 1, #order do
    for j = i + 1, #order do
      out.paired[#out.paired + 1] = paired(order[i], order[j], per[order[i]], per[order[j]])
    end
  end
  -- r.diff(a, b): the paired difference b - a of two methods (a method of
  -- the metatable, so the result stays plain data for JSON)
  local function diff(a, b, c)
    if rawequal(a, out) then a, b = b, c end -- r:diff(a, b) as well as r.diff(a, b)
    if per[a] and per[b] then return paired(a, b, per[a], per[b]) end
    fail("%s: no methods '%s' and '%s' in this comparison", where, tostring(a), tostring(b))
  end
  return setmetatable(out, {__index = {diff = diff}})
end

--- evaluate{... method = spec} -> {mean, ci95, sd, n, per_episode, sigma, method, solver}
function P.evaluate(o)
  if type(o) ~= "table" then fail("fewshot.evaluate: options table expected, got %s", type(o)) end
  if o.method == nil then fail("fewshot.evaluate: method= is required") end
  if o.methods ~= nil then fail("fewshot.evaluate: use method= (one method); compare takes methods=") end
  local r = P.compare(o, "fewshot.evaluate")
  local s = r.results[r.order[1]]
  s.method, s.solver, s.way, s.shot, s.query = r.order[1], r.solver, r.way, r.shot, r.query
  return s
end

--- tune{method = spec, grid = {option = {values}}, base_pool =, base_classes =, way, shot, query,
-- episodes = 50, seed, backbone...}: every combination of the grid on episodes of the BASE
-- classes (support and query both from base_pool, disjoint); never sees novel classes:
-- pass base_classes= when base_pool also holds other classes (default: all of its labels).
-- Returns the best spec (highest mean accuracy; first on ties) and the comparison.
local TUNE_KNOWN = {method = true, grid = true, base_pool = true, base_classes = true, way = true, shot = true,
  query = true, episodes = true, seed = true, progress = true, backbone = true, layer = true, pool = true, mean = true,
  std = true, transform = true, batch = true, cache = true}
function P.tune(o)
  local where = "fewshot.tune"
  if type(o) ~= "table" then fail("%s: options table expected, got %s", where, type(o)) end
  for k in pairs(o) do
    if k == "support_pool" or k == "query_pool" or k == "classes" then
      fail("%s: %s is not an option of tune: tuning uses base-class episodes only (pass base_pool= and "
        .. "base_classes=)", where, tostring(k))
    end
    if not TUNE_KNOWN[k] then fail("%s", options.message(where, k, TUNE_KNOWN)) end
  end
  if type(o.grid) ~= "table" then fail("%s: grid= {option = {values...}} is required", where) end
  if o.base_pool == nil then fail("%s: base_pool= is required (tuning uses base-class episodes only)", where) end
  local base = Me.parse(o.method, where)
  local keys = {}
  for k, v in pairs(o.grid) do
    if type(v) ~= "table" or #v == 0 then fail("%s: grid.%s must be a non-empty list", where, tostring(k)) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  local specs = {{}}
  for _, k in ipairs(keys) do
    local nxt = {}
    for _, s in ipairs(specs) do
      for _, v in ipairs(o.grid[k]) do
        local c = {}
        for kk, vv in pairs(s) do c[kk] = vv end
        c[k] = v
        nxt[#nxt + 1] = c
      end
    end
    specs = nxt
  end
  local methods = {}
  for i, s in ipairs(specs) do
    local spec, parts = {base.name}, {}
    for k, v in pairs(base.opts) do spec[k] = v end
    for _, k in ipairs(keys) do spec[k] = s[k]; parts[#parts + 1] = k .. "=" .. tostring(s[k]) end
    spec.label = base.name .. "(" .. table.concat(parts, ",") .. ")"
    methods[i] = spec
  end
  local bx, by = P.pool(o.base_pool, "base_pool", where)
  local copts = {methods = methods, support_pool = {images = bx, labels = by}, classes = o.base_classes,
    way = o.way, shot = o.shot, query = o.query, episodes = o.episodes or 50, seed = o.seed, progress = o.progress}
  for _, k in ipairs({"backbone", "layer", "pool", "mean", "std", "transform", "batch", "cache"}) do copts[k] = o[k] end
  local r = P.compare(copts, where)
  local best
  for i, label in ipairs(r.order) do
    if not best or r.results[label].mean > r.results[r.order[best]].mean then best = i end
  end
  local chosen = methods[best]
  chosen.label = nil
  return chosen, r
end

return P
