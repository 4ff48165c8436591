--- kshot.regression: regression tests that pin what an experiment must reach.
--
-- A recipe is your experiment at reduced size: a function of the seed that
-- returns its metrics ({accuracy = 71.2, log_loss = 0.93}), run for a fixed
-- list of seeds. Its baseline, recorded once on purpose, is kept in a JSON
-- file (default spec/baselines.json relative to the working directory, or
-- $KSHOT_BASELINES, or the option `baselines`): per recipe and metric the
-- values over the seeds (and the seeds), their mean and sd (sample, ddof = 1).
-- A check passes when, for every metric of the baseline,
--   |mean(current) - mean(baseline)| <= tolerance
-- The seeds are fixed, so the check is PAIRED by seed when it can be (the
-- baseline recorded its seeds, as record_all does, and the same seeds were
-- measured): d_i = current_i - baseline_i and
--   tolerance = max(points, 3 * sd(d) / sqrt(n))
-- so a change that moves every seed the same way (half the training steps)
-- fails as soon as it exceeds `points`, while a change that only reshuffles
-- the seeds' results (another summation order) is held to 3 standard errors
-- of its own differences. The spread of the baseline across seeds (how hard
-- each seed's data draw is) is not noise for a fixed seed, so it does not
-- widen a paired check. On the machine that recorded the baseline a seeded
-- recipe gives the same values to the bit, so only a real change moves them;
-- on another machine (another BLAS kernel, another thread count in a
-- recipe that depends on it) training can land a point or two elsewhere per
-- seed, and with 3 seeds 3 standard errors of such noise are a loose guard
-- (about 1 false alarm in 10 when that noise exceeds the 2-point floor):
-- record where you check, or measure more seeds. When the baseline has no seeds (an entry recorded
-- by regression.record without opts.seeds, from a {measure = ...} recipe
-- without `seeds`, or by an older kshot) the check is unpaired: tolerance = max(points, 3 * sd of the baseline values across
-- seeds), which lets a shift of several points through (the report says
-- "unpaired"; re-record with record_all to pair it).
-- points = 2 by default (the floor for a percentage; give another floor per
-- metric with points = {log_loss = 0.05}, stored in the entry). The check
-- is two-sided: an unexplained improvement also asks for a deliberate
-- re-record (regression.record / regression.record_all print the diff).
--
--   local regression = require "kshot.regression"       -- also ks.regression
--   local recipe = {seeds = {0, 1, 2}, run = function(seed) ... return {accuracy = acc} end}
--   regression.assert_stable("my_logreg", recipe)       -- in a busted it(): raises with the report
--   local ok, report = regression.check("my_logreg", regression.measure(recipe))
--   regression.record_all({my_logreg = recipe})          -- (re-)record on purpose, prints the diff
--
-- The baselines file is written with sorted keys, so its diffs stay small.
-- Bad input (values that are not numbers, an empty seed list, a baselines file
-- that is not valid JSON) raises an error naming what was wrong.
local json = require "dkjson"
local options = require "kshot.options"

local M = {}

M.POINTS = 2 -- the default minimum tolerance, in the metric's points
M.DEFAULT_BASELINES = "spec/baselines.json"

-- ------------------------------------------------------------ statistics
local function mean(xs)
  local s = 0
  for _, x in ipairs(xs) do s = s + x end
  return s / #xs
end

local function sd(xs)
  if #xs < 2 then return 0 end
  local m, ss = mean(xs), 0
  for _, x in ipairs(xs) do ss = ss + (x - m) ^ 2 end
  return math.sqrt(ss / (#xs - 1))
end

--- regression.mean(xs), regression.sd(xs): mean and sample sd (ddof = 1; 0 for one value) of a list
M.mean, M.sd = mean, sd

--- regression.tolerance(values[, points]) -> max(points, 3 * sd(values)); points defaults to 2
-- The tolerance of an unpaired check (baseline values without their seeds).
function M.tolerance(values, points)
  return math.max(points or M.POINTS, 3 * sd(values))
end

--- regression.paired_tolerance(diffs[, points]) -> max(points, 3 * sd(diffs) / sqrt(#diffs))
-- The tolerance of a paired check: diffs are current - baseline per seed (points for one seed).
function M.paired_tolerance(diffs, points)
  return math.max(points or M.POINTS, 3 * sd(diffs) / math.sqrt(#diffs))
end

local function sorted(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- "a, b, c" of at most 10 values (then "...")
local function list_text(xs, fmt)
  local parts = {}
  for i = 1, math.min(#xs, 10) do parts[i] = fmt:format(xs[i]) end
  if #xs > 10 then parts[#parts + 1] = "..." end
  return table.concat(parts, ", ")
end

-- what a value is, for messages: a tensor says so (the usual slip is a 0-d
-- loss tensor where loss:item() was meant)
local function describe(v)
  if type(v) == "userdata" then
    local ok, ks = pcall(require, "kshot")
    if ok and ks.is_tensor(v) then return "a tensor; use t:item() for a number" end
  end
  if v ~= v then return "nan" end
  return type(v) == "number" and tostring(v) or type(v)
end

-- values = {metric = {v1, v2, ...}}: a non-empty list of numbers per metric
local function check_values(values, fname, finite)
  if type(values) ~= "table" then
    error(("%s: values must be a table {metric = {value per seed, ...}}, got %s"):format(fname, describe(values)), 3)
  end
  local n = 0
  for metric, vs in pairs(values) do
    n = n + 1
    if type(metric) ~= "string" then
      error(("%s: values must be keyed by metric name, got key %s"):format(fname, tostring(metric)), 3)
    end
    if type(vs) ~= "table" or #vs == 0 then
      error(("%s: values.%s must be a non-empty list of numbers (one per seed), got %s"):format(fname, metric,
        type(vs) == "table" and "an empty table" or describe(vs)), 3)
    end
    for i = 1, #vs do
      local v = vs[i]
      if type(v) ~= "number" or (finite and (v ~= v or v == math.huge or v == -math.huge)) then
        error(("%s: values.%s[%d] is not a %snumber (%s)"):format(fname, metric, i, finite and "finite " or "",
          describe(v)), 3)
      end
    end
  end
  if n == 0 then error(("%s: values has no metric"):format(fname), 3) end
end

-- ------------------------------------------------------------ baselines file
--- regression.path([opts]) -> the baselines file: opts.baselines (when a path), else $KSHOT_BASELINES,
-- else "spec/baselines.json" (relative to the working directory)
function M.path(opts)
  if opts and type(opts.baselines) == "string" then return opts.baselines end
  return os.getenv("KSHOT_BASELINES") or M.DEFAULT_BASELINES
end

--- regression.load([path]) -> the baselines table ({} when the file does not exist or is empty), existed
-- A file that is not valid JSON is an error naming the file and where dkjson stopped.
function M.load(path)
  path = path or M.path()
  local f = io.open(path, "rb")
  if not f then return {}, false end
  local text = f:read("a")
  f:close()
  if not text:find("%S") then return {}, true end -- an empty file (touch, os.tmpname) holds no baseline yet
  local t, pos, err = json.decode(text)
  if type(t) ~= "table" then
    error(("regression: %s is not valid JSON (offset %s: %s)"):format(path, tostring(pos),
      err or "not a JSON object"), 0)
  end
  return t, true
end

--- regression.encode(t) -> JSON text of a baselines table, keys sorted at every level (stable diffs)
function M.encode(t)
  local order, seen = {}, {}
  local function collect(x)
    if type(x) ~= "table" then return end
    for k, v in pairs(x) do
      if type(k) == "string" and not seen[k] then seen[k], order[#order + 1] = true, k end
      collect(v)
    end
  end
  collect(t)
  table.sort(order)
  return json.encode(t, { indent = true, keyorder = order }) .. "\n"
end

-- seeds: nil or a list of numbers, one per value of every metric
local function check_seeds(seeds, values, fname)
  if seeds == nil then return end
  if type(seeds) ~= "table" or #seeds == 0 then
    error(("%s: seeds must be a non-empty list of numbers, got %s"):format(fname,
      type(seeds) == "table" and "an empty list" or describe(seeds)), 3)
  end
  for i = 1, #seeds do
    if type(seeds[i]) ~= "number" then
      error(("%s: seeds[%d] is not a number (%s)"):format(fname, i, describe(seeds[i])), 3)
    end
  end
  for metric, vs in pairs(values) do
    if #vs ~= #seeds then
      error(("%s: values.%s has %d values for %d seeds"):format(fname, metric, #vs, #seeds), 3)
    end
  end
end

--- regression.entry(values[, points[, seeds]]) -> the baseline entry of measured values
-- values = {metric = {value per seed}}; points = {metric = minimum tolerance} (default 2); seeds = the
-- seeds the values were measured with, in order (what makes later checks paired). Each metric holds
-- values, mean, sd, points, and seeds when given, else the unpaired tolerance.
function M.entry(values, points, seeds)
  check_values(values, "regression.entry", true)
  check_seeds(seeds, values, "regression.entry")
  local e = {}
  for _, k in ipairs(sorted(values)) do
    local vs = values[k]
    local pt = points and points[k] or M.POINTS
    e[k] = { values = vs, mean = mean(vs), sd = sd(vs), points = pt }
    -- a paired check's tolerance depends on the measurement it checks: stored only for unpaired entries
    if seeds then e[k].seeds = { table.unpack(seeds) } else e[k].tolerance = M.tolerance(vs, pt) end
  end
  return e
end

--- regression.save(t[, path]): write a baselines table (sorted keys), atomically (a temporary file renamed)
function M.save(t, path)
  local p = path or M.path()
  local f, err = io.open(p .. ".tmp", "wb")
  if not f then error(("regression: cannot write %s: %s"):format(p, err), 2) end
  f:write(M.encode(t))
  f:close()
  local ok, rerr = os.rename(p .. ".tmp", p)
  if not ok then error(("regression: cannot write %s: %s"):format(p, rerr), 2) end
end

-- the file keeps 14 significant digits: a re-recorded identical mean may differ in the last bits
local function differs(a, b) return math.abs(a - b) > 1e-9 * math.max(1, math.abs(a), math.abs(b)) end

--- regression.diff(old, new) -> text of what changed between two baselines tables
-- One line per metric: "~" changed, "=" unchanged, "+" new, "-" removed.
function M.diff(old, new)
  local lines, names = {}, {}
  for k in pairs(old) do names[k] = true end
  for k in pairs(new) do names[k] = true end
  for _, name in ipairs(sorted(names)) do
    local o, n = old[name], new[name]
    if not o then lines[#lines + 1] = ("+ %s (new)"):format(name) o = {} end
    if not n then lines[#lines + 1] = ("- %s (removed)"):format(name) n = {} end
    local metrics = {}
    for k in pairs(o) do metrics[k] = true end
    for k in pairs(n) do metrics[k] = true end
    for _, m in ipairs(sorted(metrics)) do
      local a, b = o[m], n[m]
      if a and b then
        local changed = differs(a.mean, b.mean) or differs(a.sd, b.sd)
        local sa, sb = a.seeds and list_text(a.seeds, "%s"), b.seeds and list_text(b.seeds, "%s")
        local seeds = "" -- what changes how the next check pairs
        if sa ~= sb then
          seeds = sb and (sa and (", seeds {%s} -> {%s}"):format(sa, sb) or (", now paired by seed {%s}"):format(sb))
            or ", no seeds now (unpaired)"
        end
        lines[#lines + 1] = ("%s %s.%s: mean %.3f -> %.3f (%+.3f), sd %.3f -> %.3f%s"):format(
          (changed or seeds ~= "") and "~" or "=", name, m, a.mean, b.mean, b.mean - a.mean, a.sd, b.sd, seeds)
      elseif b then
        lines[#lines + 1] = ("+ %s.%s: mean %.3f, sd %.3f"):format(name, m, b.mean, b.sd)
      else
        lines[#lines + 1] = ("- %s.%s"):format(name, m)
      end
    end
  end
  return table.concat(lines, "\n")
end

-- ------------------------------------------------------------ measuring
local function seed_rng(seed)
  local ok, ks = pcall(require, "kshot")
  if ok then ks.manual_seed(seed) end
end

--- regression.measure(recipe[, opts]) -> {metric -> {value per seed}}
-- recipe: a function(seed, i) -> {metric = number}, or a table {run = that function, seeds = {...},
-- points = {...}} (its seeds are the default), or {measure = function(opts) -> values} for an experiment
-- that loops over its seeds itself (e.g. regression.run_script). opts: seeds = the list of seeds (required
-- for a bare function, never empty); manual_seed = false skips ks.manual_seed(seed) before each run.
function M.measure(recipe, opts)
  opts = options.check(opts, "regression.measure", { "seeds", "manual_seed" })
  local fn, seeds = recipe, opts.seeds
  if type(recipe) == "table" then
    if type(recipe.measure) == "function" then
      local values = recipe.measure(opts)
      check_values(values, "regression.measure", false)
      return values
    end
    fn, seeds = recipe.run, seeds or recipe.seeds
  end
  if type(fn) ~= "function" then
    error(("regression.measure: recipe must be a function(seed) -> metrics or a table {run = function, seeds = "
      .. "{...}}, got %s"):format(type(recipe) == "table" and "a table without run" or type(recipe)), 2)
  end
  if type(seeds) ~= "table" or #seeds == 0 then
    error(("regression.measure: seeds must be a non-empty list of numbers, got %s"):format(
      type(seeds) == "table" and "an empty list" or type(seeds)), 2)
  end
  local values = {}
  for i, seed in ipairs(seeds) do
    if type(seed) ~= "number" then
      error(("regression.measure: seeds[%d] is not a number (%s)"):format(i, describe(seed)), 2)
    end
    if opts.manual_seed ~= false then seed_rng(seed) end
    local m = fn(seed, i)
    if type(m) ~= "table" then
      error(("regression.measure: the recipe returned %s for seed %s (expected a table {metric = number})")
        :format(describe(m), tostring(seed)), 2)
    end
    for k, v in pairs(m) do
      if type(v) ~= "number" then
        error(("regression.measure: metric '%s' of seed %s is not a number (%s)"):format(tostring(k),
          tostring(seed), describe(v)), 2)
      end
      values[k] = values[k] or {}
      values[k][i] = v
    end
  end
  for k, vs in pairs(values) do -- counted, not #vs: a metric missing for the first seed leaves a hole
    local n = 0
    for _ in pairs(vs) do n = n + 1 end
    if n ~= #seeds then
      error(("regression.measure: metric '%s' was returned for %d of %d seeds"):format(k, n, #seeds), 2)
    end
  end
  return values
end

-- the kshot host for scripts: $KSHOT_BIN, else the one running this code (or
-- the one beside kshot.so under a stock lua5.4), else `kshot` on PATH
local function default_host()
  local env = os.getenv("KSHOT_BIN")
  if env and env ~= "" then return env end
  local home = debug.getregistry()["kshot.home"]
  if not home then
    local so = package.searchpath("kshot", package.cpath)
    home = so and so:match("^(.*)/[^/]*$")
  end
  local candidate = home and home .. "/kshot"
  local f = candidate and io.open(candidate, "rb")
  if f then f:close() return candidate end
  return "kshot"
end

--- regression.host() -> the kshot interpreter run_script uses: $KSHOT_BIN, else the running one, else "kshot"
M.host = default_host

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function slurp(path)
  local f = io.open(path, "rb")
  local text = f and f:read("a")
  if f then f:close() end
  return text
end

--- regression.run_script(script, args[, opts]) -> the decoded JSON the script wrote
-- Runs `<host> script args... --json <tmp>` (the script must accept --json FILE and write its results
-- there), standard output discarded. opts.host overrides regression.host(). A failing script is an
-- error holding the command and the end of its standard error.
function M.run_script(script, args, opts)
  opts = options.check(opts, "regression.run_script", { "host" })
  if type(script) ~= "string" then
    error(("regression.run_script: script must be a path, got %s"):format(type(script)), 2)
  end
  local out = os.tmpname()
  local parts = { shell_quote(opts.host or default_host()), shell_quote(script) }
  for _, a in ipairs(args or {}) do parts[#parts + 1] = shell_quote(a) end
  parts[#parts + 1] = "--json"
  parts[#parts + 1] = shell_quote(out)
  local cmd = table.concat(parts, " ") .. " >/dev/null 2>" .. shell_quote(out .. ".err")
  local ok = os.execute(cmd)
  local text, err = slurp(out), slurp(out .. ".err") or ""
  os.remove(out)
  os.remove(out .. ".err")
  if not ok or not text or text == "" then
    error(("regression: '%s' failed: %s"):format(cmd, err:sub(-2000)), 0)
  end
  local v, pos, jerr = json.decode(text)
  if v == nil then error(("regression: bad JSON from %s (offset %s: %s)"):format(script, tostring(pos), jerr), 0) end
  return v
end

-- ------------------------------------------------------------ checking
-- the baselines of opts.baselines: a path or an already loaded table
local function baselines_of(opts)
  if type(opts.baselines) == "table" then return opts.baselines, "the given baselines", true end
  if opts.baselines ~= nil and type(opts.baselines) ~= "string" then
    error(("regression: option baselines must be a path or a baselines table, got %s"):format(
      type(opts.baselines)), 3)
  end
  local path = M.path(opts)
  local t, existed = M.load(path)
  return t, path, existed
end

local function same_list(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- one metric's report line; unpaired_why: nil when paired, else why not
local function check_metric(name, metric, b, cur, seeds)
  local m = mean(cur)
  local diff = m - b.mean
  local tol, how, why
  if type(b.seeds) ~= "table" then
    why = "the baseline has no seeds"
  elseif #b.seeds ~= #b.values or #cur ~= #b.values then
    why = ("%d values measured for the baseline's %d seeds"):format(#cur, #b.values)
  elseif seeds and not same_list(seeds, b.seeds) then
    why = ("seeds {%s} measured, the baseline's are {%s}"):format(list_text(seeds, "%s"), list_text(b.seeds, "%s"))
  end
  if why then
    tol = M.tolerance(b.values, b.points)
    how = ("sd %.3f over %d seeds"):format(sd(b.values), #b.values)
  else
    local d = {}
    for i = 1, #cur do d[i] = cur[i] - b.values[i] end
    tol = M.paired_tolerance(d, b.points)
    how = ("paired over %d seeds, per-seed diff %s"):format(#d, list_text(d, "%+.3f"))
  end
  local pass = math.abs(diff) <= tol -- false for NaN: a diverged run fails
  return pass, ("%s %s.%s: %.3f vs baseline %.3f (%s), diff %+.3f, tolerance %.3f%s"):format(
    pass and "ok  " or "FAIL", name, metric, m, b.mean, how, diff, tol,
    pass and "" or (diff < 0 and "  <- dropped" or "  <- rose: re-record on purpose if intended")), why
end

--- regression.check(name, values[, opts]) -> ok, report
-- values = {metric = {value per seed}} (regression.measure's result). opts.baselines: the baselines file
-- (default regression.path()) or a loaded baselines table; opts.seeds: the seeds measured, checked against
-- the baseline's (assert_stable passes the recipe's). The check is paired by seed when the baseline has
-- seeds and as many values were measured (see the module's doc). The report has one line per metric of
-- the baseline, e.g. "FAIL r.acc: 67.833 vs baseline 71.000 (paired over 3 seeds, per-seed diff -3.000,
-- -3.000, -3.500), diff -3.167, tolerance 2.000  <- dropped" (unpaired: "(sd 1.000 over 3 seeds)" and a
-- note saying why); a name without a baseline is a failure saying how to record it.
function M.check(name, values, opts)
  opts = options.check(opts, "regression.check", { "baselines", "seeds" })
  if type(name) ~= "string" then error(("regression.check: name must be a string, got %s"):format(type(name)), 2) end
  check_values(values, "regression.check", false)
  check_seeds(opts.seeds, values, "regression.check")
  local baselines, where, existed = baselines_of(opts)
  local base = baselines[name]
  if not base then
    return false, ("regression: no baseline for '%s' in %s%s; record it once with regression.record(\"%s\", "
      .. "values) or regression.record_all(recipes), which write the file and print the diff"):format(name, where,
      existed and "" or " (no such file)", name)
  end
  local ok, lines, unpaired = true, {}, nil
  for _, metric in ipairs(sorted(base)) do
    local b, cur = base[metric], values[metric]
    if type(b) ~= "table" or type(b.values) ~= "table" or #b.values == 0 then
      error(("regression: baseline %s.%s in %s has no values (re-record it)"):format(name, metric, where), 2)
    end
    if not cur then
      ok = false
      lines[#lines + 1] = ("FAIL %s.%s: not measured"):format(name, metric)
    else
      local pass, line, why = check_metric(name, metric, b, cur, opts.seeds)
      ok = ok and pass
      lines[#lines + 1] = line
      unpaired = unpaired or why
    end
  end
  if unpaired then
    lines[#lines + 1] = ("note: unpaired check (%s): the tolerance is 3 sd of the baseline across seeds, "
      .. "so a shift smaller than that passes; re-record with regression.record_all (or record with "
      .. "{seeds = ...}) to check seed by seed"):format(unpaired)
  end
  return ok, table.concat(lines, "\n")
end

--- regression.assert_stable(name, values_or_recipe[, opts]) -> report; raises "regression detected:\n" .. report
-- For a busted it(): values_or_recipe is measured values or a recipe (measured first, see
-- regression.measure; opts.seeds, opts.manual_seed go there), checked against opts.baselines.
function M.assert_stable(name, values, opts)
  opts = options.check(opts, "regression.assert_stable", { "baselines", "seeds", "manual_seed" })
  local is_recipe = type(values) == "function" or (type(values) == "table"
    and (type(values.run) == "function" or type(values.measure) == "function"))
  local seeds = opts.seeds
  if is_recipe then
    seeds = seeds or (type(values) == "table" and values.seeds or nil)
    values = M.measure(values, { seeds = opts.seeds, manual_seed = opts.manual_seed })
  end
  local ok, report = M.check(name, values, { baselines = opts.baselines, seeds = seeds })
  if not ok then error("regression detected:\n" .. report, 2) end
  return report
end

-- ------------------------------------------------------------ recording
--- regression.record(name, values[, path_or_opts]) -> diff text
-- Writes the entry of the measured values under name into the baselines file (other entries kept) and
-- returns the diff against what was there. The third argument is the file, or {baselines = path,
-- points = {metric = minimum tolerance}, seeds = the seeds measured (in order; makes checks paired)}.
function M.record(name, values, opts)
  if type(opts) == "string" then opts = { baselines = opts } end
  opts = options.check(opts, "regression.record", { "baselines", "points", "seeds" })
  if type(name) ~= "string" then error(("regression.record: name must be a string, got %s"):format(type(name)), 2) end
  check_values(values, "regression.record", true)
  check_seeds(opts.seeds, values, "regression.record")
  local path = M.path(opts)
  local old = M.load(path)
  local new = {}
  for k, v in pairs(old) do new[k] = v end
  new[name] = M.entry(values, opts.points, opts.seeds)
  M.save(new, path)
  return M.diff(old, new)
end

--- regression.record_all(recipes[, opts]) -> diff text: measure named recipes, write them, print the diff
-- recipes: {name = recipe} (see regression.measure; a recipe table's `points` is kept in its entry), or the
-- path of a Lua file returning that table -- the same file your spec uses, so one command re-records:
--   kshot -e 'require("kshot.regression").record_all("spec/recipes.lua")'
-- opts: baselines = the file (default regression.path()), only = {names} (default all), dry_run = true
-- measures and prints the diff but writes nothing, quiet = true prints nothing.
function M.record_all(recipes, opts)
  opts = options.check(opts, "regression.record_all", { "baselines", "only", "dry_run", "quiet" })
  if type(recipes) == "string" then
    local chunk, err = loadfile(recipes)
    if not chunk then error(("regression.record_all: cannot load %s: %s"):format(recipes, err), 2) end
    recipes = chunk()
  end
  if type(recipes) ~= "table" then
    error(("regression.record_all: recipes must be a table {name = recipe} or a Lua file returning one, got %s")
      :format(type(recipes)), 2)
  end
  local names = opts.only or sorted(recipes)
  for _, name in ipairs(names) do -- every name checked before the first (slow) measurement
    if recipes[name] == nil then
      error(("regression.record_all: unknown recipe '%s' (known: %s)"):format(tostring(name),
        table.concat(sorted(recipes), ", ")), 2)
    end
  end
  local path = M.path(opts)
  local old = M.load(path)
  local new = {}
  for k, v in pairs(old) do new[k] = v end
  for _, name in ipairs(names) do
    if not opts.quiet then io.stderr:write(("recording %s ...\n"):format(name)) end
    local r = recipes[name]
    -- the recipe's seeds are stored, so later checks are paired seed by seed
    new[name] = M.entry(M.measure(r), type(r) == "table" and r.points or nil, type(r) == "table" and r.seeds or nil)
  end
  local d = M.diff(old, new)
  if not opts.dry_run then M.save(new, path) end
  if not opts.quiet then
    print(d)
    print(opts.dry_run and ("(dry run: " .. path .. " not written)") or ("wrote " .. path))
  end
  return d
end

return M
