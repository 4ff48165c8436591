--- kshot.model_selection: cross-validation and hyper-parameter selection by
-- inner cross-validation on the labelled examples only.
--
-- `data` is {labels = int64 tensor, indices = int64 tensor of the rows that
-- may be used (optional: all rows)}, or a labels tensor. Only labels[indices]
-- are ever read: a test set that shares the labels tensor stays unseen.
--
-- A recipe is a Lua function(train_rows, val_rows, info) -> number or
-- {metric = number, ...}; rows are int64 tensors of row ids into labels;
-- info = {fold =, ["repeat"] =, seed =} (1-based fold / repeat numbers).
-- select's recipe takes the config first: function(config, train_rows, val_rows, info).
--
--   local best, sel = model_selection.select(function(cfg, tr, va)
--     return {accuracy = fit_and_score(cfg, tr, va)}
--   end, {lr = {0.1, 0.01}, weight_decay = {0, 1e-2}}, {labels = y, indices = labelled}, {folds = 5})
--   -- best = {lr = ..., weight_decay = ...}; sel.configs[i].score, sel.best
-- Limits: folds >= 2, repeats in [1, 2^20] (checked before any work).
local ks = require "kshot"
local stats = require "kshot.stats"
local options = require "kshot.options"

local M = {}

-- -------------------------------------------------------------- grids
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "string" then error(("grid: keys must be option names (strings), got %s"):format(type(k)), 4) end
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

--- model_selection.expand_grid(grid) -> list of configs
-- grid: {name = {v1, v2, ...}, ...} (the cartesian product, keys in sorted
-- order, the LAST key varying fastest), or a list of config tables (kept as
-- is), or {} (one empty config). A scalar value counts as a one-value list.
-- An empty list of values is an error naming the option.
function M.expand_grid(grid)
  if type(grid) ~= "table" then error(("grid: a table expected, got %s"):format(type(grid)), 2) end
  if #grid > 0 then
    for i, cfg in ipairs(grid) do
      if type(cfg) ~= "table" then error(("grid: config %d is a %s, not a table"):format(i, type(cfg)), 2) end
    end
    return grid
  end
  local keys = sorted_keys(grid)
  local configs = { {} }
  for _, k in ipairs(keys) do
    local values = grid[k]
    if type(values) ~= "table" then values = { values } end
    if #values == 0 then error(("grid: option '%s' has an empty list of values"):format(k), 2) end
    local nxt = {}
    for _, cfg in ipairs(configs) do
      for _, v in ipairs(values) do
        local c = {}
        for kk, vv in pairs(cfg) do c[kk] = vv end
        c[k] = v
        nxt[#nxt + 1] = c
      end
    end
    configs = nxt
  end
  return configs
end

-- a table value as text: a flat list of strings/numbers joins with "+"
-- ({1, 2} -> "1+2"); anything else (nested tables, booleans, named fields)
-- as {a=..,b=..} with sorted keys, lists as {1+2}
local function value_text(v, depth)
  if type(v) ~= "table" then return tostring(v) end
  if depth > 32 then error("config_key: a config value nests tables too deeply (a cycle?)", 4) end
  local n, flat, count = #v, true, 0
  for k, x in pairs(v) do
    count = count + 1
    if math.type(k) ~= "integer" or k < 1 or k > n or (type(x) ~= "string" and type(x) ~= "number") then
      flat = false
    end
  end
  if flat and count == n then return table.concat(v, "+") end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "number" or type(a) == "string") then return a < b end
    return type(a) < type(b)
  end)
  local parts = {}
  for _, k in ipairs(keys) do
    local x = value_text(v[k], depth + 1)
    parts[#parts + 1] = (math.type(k) == "integer" and k >= 1 and k <= n) and x or (tostring(k) .. "=" .. x)
  end
  return "{" .. table.concat(parts, "+") .. "}"
end

--- model_selection.config_key(cfg) -> canonical string "a=1,b=x" (sorted keys)
-- (a list value {1, 2} gives "1+2"; nested tables give {k=v+...} text)
function M.config_key(cfg)
  local parts = {}
  for _, k in ipairs(sorted_keys(cfg)) do
    parts[#parts + 1] = k .. "=" .. value_text(cfg[k], 0)
  end
  return #parts > 0 and table.concat(parts, ",") or "default"
end

-- -------------------------------------------------------------- folds
local function check_data(data, fname)
  if ks.is_tensor(data) then return data, nil end
  if type(data) ~= "table" or not ks.is_tensor(data.labels) then
    error(("%s: data must be a labels tensor or {labels = tensor, indices = tensor}, got %s"):format(fname,
      type(data) == "table" and "a table without a labels tensor" or type(data)), 3)
  end
  if data.indices ~= nil and not ks.is_tensor(data.indices) then
    error(("%s: data.indices must be an int64 tensor, got %s"):format(fname, type(data.indices)), 3)
  end
  return data.labels, data.indices
end

local MAX_REPEATS = 1 << 20

local FOLD_KEYS = { "folds", "repeats", "stratified", "seed" }
local SELECT_KEYS = { "folds", "repeats", "stratified", "seed", "metric", "minimize", "progress" }

local function check_folds_opts(opts, fname)
  opts = options.check(opts, fname, FOLD_KEYS, 3)
  local k, r = opts.folds or 5, opts["repeats"] or 1
  if math.type(k) ~= "integer" or k < 2 then error(("%s: folds must be an integer >= 2, got %s"):format(fname, tostring(k)), 3) end
  if math.type(r) ~= "integer" or r < 1 or r > MAX_REPEATS then
    error(("%s: repeats must be an integer in [1, %d] (2^20), got %s"):format(fname, MAX_REPEATS, tostring(r)), 3)
  end
  local seed = opts.seed or 0
  if math.type(seed) ~= "integer" then error(("%s: seed must be an integer, got %s"):format(fname, tostring(seed)), 3) end
  return k, r, seed, opts.stratified ~= false
end

-- plain (unstratified) k-fold: a seeded shuffle of the rows cut into k parts
local function plain_folds(labels, indices, k, repeats, seed)
  local rows = indices and indices:totable() or nil
  if not rows then
    rows = {}
    for i = 1, labels:size(0) do rows[i] = i - 1 end
  end
  local n = #rows
  if n < k then error(("cross_validate: %d rows cannot make %d folds"):format(n, k), 4) end
  local draw, folds = stats.rng(seed), {}
  for _ = 1, repeats do
    local perm = {}
    for i = 1, n do perm[i] = rows[i] end
    for i = n, 2, -1 do
      local j = draw(i)
      perm[i], perm[j] = perm[j], perm[i]
    end
    for f = 0, k - 1 do
      local lo, hi = (f * n) // k, ((f + 1) * n) // k -- fold f holds positions [lo, hi)
      local tr, va = {}, {}
      for i = 1, n do
        if i > lo and i <= hi then va[#va + 1] = perm[i] else tr[#tr + 1] = perm[i] end
      end
      table.sort(tr)
      table.sort(va)
      folds[#folds + 1] = { train = ks.tensor(tr, "int64"), val = ks.tensor(va, "int64") }
    end
  end
  return folds
end

local function raw_folds(data, opts)
  local labels, indices = check_data(data, "folds")
  local k, r, seed, strat = check_folds_opts(opts, "folds")
  if strat then
    return ks.data.stratified_kfold(labels, k, { seed = seed, indices = indices, repeats = r })
  end
  return plain_folds(labels, indices, k, r, seed)
end

-- the folds, with a bad `data` or option raised at the user's line (options.raise) and named after the
-- public function called: cross_validate's user never called stratified_kfold, and a position inside
-- this file does not help her
local function folds_for(data, opts, fname)
  local ok, res = pcall(raw_folds, data, opts)
  if ok then return res end
  if ks.is_interrupt and ks.is_interrupt(res) then error(res, 0) end
  local msg = tostring(res):gsub("^[^\n]-:%d+: ", "", 1)
  msg = msg:gsub("^folds: ", "", 1):gsub("^stratified_kfold: ", "", 1):gsub("^k must be", "folds must be", 1)
  options.raise(fname .. ": " .. msg)
end

-- a warning when stratified folds cannot hold every class (as scikit-learn's StratifiedKFold warns): the
-- smallest class of the rows cross-validated has fewer rows than folds, so some validation folds miss it
local function small_class_warning(data, opts)
  opts = opts or {}
  if opts.stratified == false then return nil end
  local k = opts.folds or 5
  local labels = data
  if not ks.is_tensor(data) then
    labels = data.indices and data.labels:index_select(0, data.indices) or data.labels
  end
  local counts = {}
  for _, c in ipairs(labels:totable()) do counts[c] = (counts[c] or 0) + 1 end
  local least, n
  for c, m in pairs(counts) do
    if not n or m < n or (m == n and c < least) then least, n = c, m end
  end
  if not n or n >= k then return nil end
  return ("the least populated class (label %d) has only %d row%s, fewer than folds = %d: some validation folds "
    .. "have none of it"):format(least, n, n == 1 and "" or "s", k)
end

--- model_selection.folds(data, {folds=5, repeats=1, stratified=true, seed=0})
-- -> list of repeats * folds {train = rows, val = rows}
function M.folds(data, opts) return folds_for(data, opts, "folds") end

-- -------------------------------------------------------- cross-validation
local function as_metrics(v, fname, where)
  if type(v) == "number" then return { score = v } end
  if type(v) ~= "table" then
    options.raise(("%s: the recipe must return a number or a table of numbers, got %s (%s)"):format(fname, type(v),
      where))
  end
  for name, x in pairs(v) do
    if type(x) ~= "number" then
      options.raise(("%s: the recipe returned a non-number for metric '%s' (%s)"):format(fname, tostring(name), where))
    end
  end
  return v
end

--- model_selection.cross_validate(recipe, data, {folds=5, repeats=1, stratified=true, seed=0})
-- -> {folds = {{fold=, ["repeat"]=, metrics={...}}, ...}, summary = {metric = stats.interval},
--     mean = {metric = mean}, names = sorted metric names, warnings = list of strings}
-- A recipe returning a plain number reports it as metric "score". The
-- summary interval treats folds as independent, which they are not (the
-- training sets overlap): read it as a spread, not a calibrated interval.
-- Stratified folds with a class of fewer rows than folds (some validation
-- folds miss it, as scikit-learn's StratifiedKFold warns) add a warning to
-- `warnings` and write it to stderr.
-- warnings: a list of messages (see small_class_warning), also written to stderr when `say`
local function warnings_of(fname, data, opts, say)
  local w = small_class_warning(data, opts)
  if w and say then io.stderr:write(fname, ": warning: ", w, "\n") end
  return { w }
end

-- the recipe run on folds made once by the caller (select scores every config on the same ones): k folds per
-- repeat, seed as info.seed
local function cross_validate(recipe, folds, k, seed, warnings)
  local result, per_metric = { folds = {}, summary = {}, mean = {}, warnings = warnings }, {}
  for i, f in ipairs(folds) do
    local info = { fold = (i - 1) % k + 1, ["repeat"] = (i - 1) // k + 1, seed = seed }
    local m = as_metrics(recipe(f.train, f.val, info), "cross_validate",
      ("fold %d of repeat %d"):format(info.fold, info["repeat"]))
    result.folds[i] = { fold = info.fold, ["repeat"] = info["repeat"], metrics = m }
    for name, v in pairs(m) do
      per_metric[name] = per_metric[name] or {}
      per_metric[name][i] = v
    end
  end
  local names = {}
  for name, vs in pairs(per_metric) do
    if #vs ~= #folds then options.raise(("cross_validate: metric '%s' is missing from some folds"):format(name)) end
    names[#names + 1] = name
    result.summary[name] = stats.interval(vs)
    result.mean[name] = result.summary[name].mean
  end
  table.sort(names)
  result.names = names
  return result
end

function M.cross_validate(recipe, data, opts)
  if type(recipe) ~= "function" then
    error(("cross_validate: recipe must be a function(train_rows, val_rows, info), got %s"):format(type(recipe)), 2)
  end
  local k, _, seed = check_folds_opts(opts, "cross_validate")
  local folds = folds_for(data, opts, "cross_validate")
  return cross_validate(recipe, folds, k, seed, warnings_of("cross_validate", data, opts, true))
end

-- ------------------------------------------------------------ selection
--- model_selection.select(recipe, grid, data, {folds=5, repeats=1, stratified=true, seed=0,
--   metric=, minimize=false, progress=function(i, n, cfg, cv)})
-- recipe(config, train_rows, val_rows, info) -> number or metrics table.
-- Every config is scored by the SAME folds (paired); the best mean of `metric`
-- (default: the only metric, or "accuracy", or "score") wins; ties keep the
-- earlier config. Returns best_config, {configs = {{config=, key=, cv=, score=}}, best = index,
-- warnings = list} (warnings: as cross_validate's, written to stderr once).
function M.select(recipe, grid, data, opts)
  if type(recipe) ~= "function" then
    error(("select: recipe must be a function(config, train_rows, val_rows, info), got %s"):format(type(recipe)), 2)
  end
  local configs = M.expand_grid(grid)
  opts = options.check(opts, "select", SELECT_KEYS)
  local cv_opts = { folds = opts.folds, ["repeats"] = opts["repeats"], stratified = opts.stratified, seed = opts.seed }
  -- made once, before any work (a bad data or option: an error at the user's select line), and shared by every
  -- config: the comparison is paired
  local folds = folds_for(data, cv_opts, "select")
  local k, _, seed = check_folds_opts(cv_opts, "select")
  local warnings = warnings_of("select", data, cv_opts, true)
  local results, best, best_score = {}, nil, nil
  for i, cfg in ipairs(configs) do
    local cv = cross_validate(function(tr, va, info) return recipe(cfg, tr, va, info) end, folds, k, seed, warnings)
    local metric = opts.metric
    if not metric then
      metric = (#cv.names == 1 and cv.names[1]) or (cv.mean.accuracy and "accuracy") or "score"
    end
    local score = cv.mean[metric]
    if score == nil then
      error(("select: the recipe did not report metric '%s' (it reported: %s)"):format(metric,
        table.concat(cv.names, ", ")), 2)
    end
    results[i] = { config = cfg, key = M.config_key(cfg), cv = cv, score = score, metric = metric }
    local better = best_score == nil or (opts.minimize and score < best_score) or (not opts.minimize and score > best_score)
    if better then best, best_score = i, score end
    if opts.progress then opts.progress(i, #configs, cfg, cv) end
  end
  return configs[best], { configs = results, best = best, warnings = warnings }
end

return M
