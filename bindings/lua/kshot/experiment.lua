--- kshot.experiment: named sweeps of configurations x seeds with run
-- records, resume, and a report (tables, paired tests, SVG plots).
--
--   local exp = experiment.new {
--     name = "tricks", seed = 1,                 -- the experiment seed
--     grid = { lr = {0.1, 0.01} },              -- configs keyed "lr=0.1", "lr=0.01"; or
--                                               -- configs = { {name = "base", ...}, ... }
--     seeds = 5,                                -- replicates 0..4 (or a list of replicate ids)
--     run = function(config, ctx) ... return { accuracy = 0.81 } end,
--     metric = "accuracy", baseline = "lr=0.1", -- name or key of a config
--   }
--   exp:run()          -- runs what is not recorded yet
--   print(exp:report())  -- the Markdown text, then the summary as a plain-text table
--
-- Run key: "<config key>/rep-<r>", where the config key is config.name if
-- given, else "a=1,b=2" (sorted options). Seeds (both derived only from the
-- experiment seed and strings, so any subset or order of runs gives the same
-- results):
--   ctx.seed      from (experiment seed, "rep-<r>"): the SAME for every config
--                 of replicate r: use it for data draws so comparisons are paired
--   ctx.run_seed  from (experiment seed, run key): unique to the run
-- ctx.log{epoch=, ...} appends a row to the per-epoch curve (a key first seen
-- in a later row adds a column: the file is rewritten with the union of the
-- keys, earlier rows blank there); ctx.key, ctx.dir, ctx.replicate, ctx.config
-- are given too.
--
-- Checked at experiment.new: seeds is a count in [1, 2^20] or a list of at
-- most 2^20 distinct integer replicate ids; configs hold only JSON values
-- (strings, numbers, booleans, tables of them; no functions, tensors or cycles:
-- config.json stores them); the experiment name and config keys cannot be "."
-- or ".."; two config keys that map to the same run folder (a key's characters
-- other than letters, digits and . - _ = , + @ become "_", so "a/b" and "a_b"
-- collide) are an error naming both.
-- Metrics must be finite numbers: a run returning NaN or +-inf (JSON cannot
-- store them) is recorded as failed with a message naming the metric. A
-- record.json that is not valid JSON, not an object, or an "ok" record without
-- a table of numeric metrics is an error naming the file (delete it to re-run).
-- A report on a `metric` that no recorded run reports is an error listing the
-- metrics that exist; the sweep already warns (on its progress output) when
-- the first run that succeeds does not report it.
--
-- Record of a run: <root>/<experiment>/<key>/ (root default "runs"):
--   config.json   the config
--   curve.csv     per-epoch rows logged with ctx.log
--   record.json   {key, config_key, replicate, seed, run_seed, status = "ok"|"failed",
--                  metrics = {...}, error = message, kshot_version}; written last
--                  (temporary file + rename): its presence marks the run as recorded
--   provenance.json {started (UTC, ISO 8601), seconds (wall time), threads,
--                  command (the script and its arguments), kshot_version,
--                  lua_version, host (gethostname), git_commit (the commit
--                  checked out where the script lives, read from .git
--                  without running git; absent outside a repository; whether
--                  the tree had uncommitted changes is NOT recorded: that
--                  needs git itself)}: kept apart, so record.json is the same
--                  whatever the order, timing or machine of the runs
--   traceback.txt  a failed run's error with the stack where it was raised
--                  (the sweep's log names the file)
-- and <root>/<experiment>/results.jsonl holds one line per recorded run: a
-- new run appends its line (one write of a complete line, then flush; a
-- killed sweep never leaves half a line), a run that replaces its earlier
-- record (force, retry_failed, a stale config) rewrites the file without the
-- old line (temporary file + rename), so there are no duplicates. (Two
-- processes sweeping the same experiment folder at once can lose a line to
-- such a rewrite; the records themselves are per run and stay safe.)
-- The report of all the configs and replicates run in the folder is
-- <root>/<experiment>/report.md (+ comparison.svg, curves.svg); a report of a
-- part of them goes to report-<id>.md and so on (exp:report_files).
-- A re-run skips recorded runs unless run{force = true} (or
-- run{retry_failed = true} for failed ones); a run whose recorded config.json
-- differs from its config now (a recipe edited under the same name) is re-run
-- and counted in the summary's `stale` field. A run that raises is recorded as
-- failed with its message and the sweep goes on, except for an interrupt
-- (Ctrl-C: ks.is_interrupt(err), see runtime/host/kshot.h): that run gets no
-- record, exp:run says on stderr how many runs are recorded and rethrows the
-- interrupt (the kshot command then exits with 130); running the same sweep
-- again resumes it. A resume that finds every run recorded, or recorded
-- failures it will not retry, says so through the progress channel.
-- The report reads the records from disk only (no timings), so an
-- interrupted-and-resumed sweep reports exactly what an uninterrupted one does.
local ks = require "kshot"
local json = require "dkjson"
local ms = require "kshot.model_selection"
local progress = require "kshot.progress"
local options = require "kshot.options"
local record_files = require "kshot.experiment.files"
local keys = require "kshot.experiment.keys"
local provenance = require("kshot.experiment.provenance").provenance
local report = require "kshot.experiment.report"
local plots = require "kshot.experiment.plots"

local mkdir_p, exists, read_file, write_atomic = record_files.mkdir_p, record_files.exists, record_files.read_file,
  record_files.write_atomic
local sorted_keys, encode_sorted, csv_cell, result_keys = record_files.sorted_keys, record_files.encode_sorted,
  record_files.csv_cell, record_files.result_keys
local hash_seed, safe_dir, reserved, MAX_REPLICATES = keys.derive_seed, keys.safe_dir, keys.reserved,
  keys.MAX_REPLICATES

local M = {}

-- The host's interrupt test (kshot.h: Ctrl-C raises "interrupted!"). Under
-- lua5.4 with kshot.so there is no host: lua.c's hook and a kernel stopped by
-- the context flag raise "<position>: interrupted!", so apply the same rule.
local is_interrupt = ks.is_interrupt or function(err)
  return type(err) == "string" and (err == "interrupted!" or err:sub(-14) == ": interrupted!")
end
M.is_interrupt = is_interrupt

-- configs are stored as config.json: only JSON values, no cycles. Returns nil
-- or a message naming the field path.
local function non_json(v, path, active)
  local tv = type(v)
  if tv == "string" or tv == "number" or tv == "boolean" then return nil end
  if tv ~= "table" then
    return ("field '%s' is a %s"):format(path, tv)
  end
  if active[v] then return ("field '%s' refers back to an enclosing table (a cycle)"):format(path) end
  active[v] = true
  for k, x in pairs(v) do
    if type(k) ~= "string" and math.type(k) ~= "integer" then
      active[v] = nil
      return ("field '%s' has a %s key"):format(path, type(k))
    end
    local err = non_json(x, path == "" and tostring(k) or (path .. "." .. tostring(k)), active)
    if err then active[v] = nil return err end
  end
  active[v] = nil
  return nil
end

-- ------------------------------------------------------------ setup
local Experiment = {}
Experiment.__index = Experiment

--- experiment.new{name=, run=function(config, ctx), grid= | configs=, seeds=5, seed=0,
--   root="runs", metric=, maximize=true, baseline=, preregistered=, metric_range={lo, hi},
--   curve_metric=, progress=true|false}
-- metric_range: the metric's possible values (e.g. {0, 100} for a percentage):
-- the comparison plot's axis stays inside it, whiskers leaving it are cut
-- with an arrowhead (a t interval over 2 replicates can span -100..200).
-- preregistered: the name or key of the one config chosen before the runs
-- (the recipe the experiment is about); its row is marked "(fixed beforehand)".
-- The row with the best observed mean is marked "(highest mean)" ("(lowest
-- mean)" when maximize = false): a description of these replicates, not a
-- choice made in advance (picking it after looking is optimistic).
function M.new(spec)
  if type(spec) ~= "table" then error("experiment.new: a table expected, got " .. type(spec), 2) end
  options.check(spec, "experiment.new", { "name", "run", "grid", "configs", "seeds", "seed", "root", "metric",
    "maximize", "baseline", "curve_metric", "progress", "preregistered", "metric_range" })
  local name = spec.name
  if type(name) ~= "string" or not name:match("^[%w%._%-]+$") or name == "." or name == ".." then
    error("experiment.new: name must be a non-empty string of letters, digits, '.', '_' or '-' (not '.' or '..'), got "
      .. tostring(name), 2)
  end
  if type(spec.run) ~= "function" then
    error("experiment.new: run must be a function(config, ctx), got " .. type(spec.run), 2)
  end
  if spec.grid ~= nil and spec.configs ~= nil then error("experiment.new: give grid or configs, not both", 2) end
  local configs
  if spec.configs ~= nil then
    if type(spec.configs) ~= "table" or #spec.configs == 0 then
      error("experiment.new: configs must be a non-empty list of tables", 2)
    end
    configs = ms.expand_grid(spec.configs)
  else
    configs = ms.expand_grid(spec.grid or {})
  end
  local seeds = spec.seeds or 5
  local reps = {}
  if math.type(seeds) == "integer" then
    if seeds < 1 then error("experiment.new: seeds must be >= 1, got " .. seeds, 2) end
    if seeds > MAX_REPLICATES then
      error(("experiment.new: seeds must be a count in [1, %d] (2^20), got %d"):format(MAX_REPLICATES, seeds), 2)
    end
    for r = 0, seeds - 1 do reps[#reps + 1] = r end
  elseif type(seeds) == "table" and #seeds > 0 then
    if #seeds > MAX_REPLICATES then
      error(("experiment.new: at most %d (2^20) replicate ids in seeds, got %d"):format(MAX_REPLICATES, #seeds), 2)
    end
    local seen = {}
    for i, r in ipairs(seeds) do
      if math.type(r) ~= "integer" then error(("experiment.new: seeds[%d] is not an integer"):format(i), 2) end
      if seen[r] then
        error(("experiment.new: seeds[%d] = %d repeats seeds[%d] (replicate ids must be distinct)"):format(i, r,
          seen[r]), 2)
      end
      seen[r], reps[i] = i, r
    end
  else
    error("experiment.new: seeds must be a count >= 1 or a non-empty list of integers, got " .. tostring(seeds), 2)
  end
  local seed = spec.seed or 0
  if math.type(seed) ~= "integer" then error("experiment.new: seed must be an integer, got " .. tostring(seed), 2) end
  local self = setmetatable({ name = name, run_fn = spec.run, configs = configs, replicates = reps, seed = seed,
    root = spec.root or "runs", metric = spec.metric, maximize = spec.maximize ~= false, baseline = spec.baseline,
    curve_metric = spec.curve_metric, show_progress = spec.progress, preregistered = spec.preregistered,
    keys = {}, by_key = {} }, Experiment)
  local folders = {}
  for i, cfg in ipairs(configs) do
    local key = cfg.name and tostring(cfg.name) or ms.config_key(cfg)
    if self.by_key[key] then error(("experiment.new: two configs have the key '%s'"):format(key), 2) end
    local bad = non_json(cfg, "", {})
    if bad then
      error(("experiment.new: config '%s' (configs[%d]): %s; configs are saved as JSON (strings, numbers, "
        .. "booleans and tables of them)"):format(key, i, bad), 2)
    end
    local folder = safe_dir(key)
    if folder == "" or folder == "." or folder == ".." or reserved(folder) then
      error(("experiment.new: config key '%s' cannot name a run folder (not empty, '.', '..' or a file of "
        .. "the experiment: results.jsonl, report[-<id>].md, comparison[-<id>].svg, curves[-<id>].svg)"):format(key), 2)
    end
    if folders[folder] then
      error(("experiment.new: configs '%s' and '%s' would share the run folder '%s' (characters other than "
        .. "letters, digits and . - _ = , + @ become '_'): rename one"):format(folders[folder], key, folder), 2)
    end
    folders[folder] = key
    self.keys[i], self.by_key[key] = key, i
  end
  if self.baseline ~= nil and not self.by_key[self.baseline] then
    error(("experiment.new: baseline '%s' is not a config (configs: %s)"):format(tostring(self.baseline),
      table.concat(self.keys, "; ")), 2)
  end
  local range = spec.metric_range
  if range ~= nil then
    local a, b = type(range) == "table" and range[1], type(range) == "table" and range[2]
    if type(range) ~= "table" or #range ~= 2 or type(a) ~= "number" or type(b) ~= "number" or a ~= a or b ~= b
      or a == -math.huge or b == math.huge or not (a < b) then
      error("experiment.new: metric_range must be {lo, hi} with finite numbers lo < hi (e.g. {0, 100}), got "
        .. (type(range) == "table" and ("{%s}"):format(table.concat((function()
          local t = {}
          for k = 1, #range do t[k] = tostring(range[k]) end
          return t
        end)(), ", ")) or tostring(range)), 2)
    end
    self.metric_range = { a, b }
  end
  if self.preregistered ~= nil and not self.by_key[self.preregistered] then
    error(("experiment.new: preregistered '%s' is not a config (configs: %s)"):format(tostring(self.preregistered),
      table.concat(self.keys, "; ")), 2)
  end
  self.dir = self.root .. "/" .. name
  return self
end

--- exp:runs() -> list of {key, config_key, config, replicate} in canonical order
function Experiment:runs()
  local list = {}
  for i, cfg in ipairs(self.configs) do
    for _, r in ipairs(self.replicates) do
      list[#list + 1] = { key = self.keys[i] .. "/rep-" .. r, config_key = self.keys[i], config = cfg, replicate = r }
    end
  end
  return list
end

function Experiment:run_dir(run)
  return self.dir .. "/" .. safe_dir(run.config_key) .. "/rep-" .. run.replicate
end

--- exp:record(run) -> the record table read from disk, or nil
function Experiment:record(run)
  local s = read_file(self:run_dir(run) .. "/record.json")
  if not s then return nil end
  local rec, _, err = json.decode(s)
  if rec ~= nil and type(rec) ~= "table" then err = "not a JSON object (a " .. type(rec) .. ")" end
  if type(rec) == "table" then
    if rec.status ~= "ok" and rec.status ~= "failed" then
      err = "status is " .. tostring(rec.status) .. ", expected \"ok\" or \"failed\""
    elseif rec.status == "ok" then
      if type(rec.metrics) ~= "table" then
        err = "an ok record without a metrics object"
      else
        for k, v in pairs(rec.metrics) do
          if type(k) ~= "string" or type(v) ~= "number" then
            err = ("metric '%s' is %s, not a number"):format(tostring(k), json.encode(v) or tostring(v))
            break
          end
        end
      end
    end
  end
  if err then
    error(("experiment: broken record %s/record.json: %s (delete the file to re-run it)"):format(self:run_dir(run),
      err), 0)
  end
  return rec
end

-- seconds of wall-clock time: the benchmark clock (monotonic) when the host has it
local function wall_clock() return ks._bench_clock and ks._bench_clock() or os.time() end

-- results.jsonl keeps one line per run key. A run recorded for the first
-- time appends its line (one write of a whole line, then flush: a kill never
-- leaves half a line); a run that replaces an earlier record (--fresh, a
-- retried failure, a stale config) rewrites the file without the old line
-- (temporary file + rename: a kill leaves the old file or the new one).
local function add_result(self, rec)
  local path = self.dir .. "/results.jsonl"
  local line = json.encode(rec, { keyorder = sorted_keys(rec) }) .. "\n"
  local keys = self.result_keys
  if not keys then
    keys = result_keys(read_file(path))
    self.result_keys = keys
  end
  if keys[rec.key] then
    local kept = {}
    for old in (read_file(path) or ""):gmatch("[^\n]+") do
      local r = json.decode(old)
      if not (type(r) == "table" and r.key == rec.key) then kept[#kept + 1] = old .. "\n" end
    end
    kept[#kept + 1] = line
    write_atomic(path, table.concat(kept))
    return
  end
  local f = io.open(path, "ab")
  if f then
    f:write(line)
    f:flush()
    f:close()
  end
  keys[rec.key] = true
end

local function run_one(self, run)
  local dir = self:run_dir(run)
  mkdir_p(dir)
  write_atomic(dir .. "/config.json", encode_sorted(run.config))
  local curve_path = dir .. "/curve.csv"
  local curve, header = nil, nil
  local ctx = { key = run.key, config = run.config, replicate = run.replicate, dir = dir,
    seed = hash_seed(self.seed, "rep-" .. run.replicate), run_seed = hash_seed(self.seed, run.key),
    experiment = self.name }
  function ctx.log(row)
    if type(row) ~= "table" then error("ctx.log: a table of named numbers expected, got " .. type(row), 2) end
    if not curve then
      curve = assert(io.open(curve_path, "wb"))
      header = sorted_keys(row)
      -- epoch (or step) first
      for i, k in ipairs(header) do
        if k == "epoch" or k == "step" then table.remove(header, i); table.insert(header, 1, k); break end
      end
      curve:write(table.concat(header, ","), "\n")
    else
      -- keys not seen before become new columns: rewrite the file with the union
      local known, new = {}, {}
      for _, k in ipairs(header) do known[k] = true end
      for _, k in ipairs(sorted_keys(row)) do if not known[k] then new[#new + 1] = k end end
      if #new > 0 then -- rare: read the rows back once rather than keep them all in memory
        curve:close()
        local old = read_file(curve_path)
        local pad = (","):rep(#new)
        for _, k in ipairs(new) do header[#header + 1] = k end
        curve = assert(io.open(curve_path, "wb"))
        curve:write(table.concat(header, ","), "\n")
        for line in old:match("^[^\n]*\n(.*)$"):gmatch("([^\n]*)\n") do curve:write(line, pad, "\n") end
      end
    end
    local cells = {}
    for i, k in ipairs(header) do cells[i] = row[k] == nil and "" or csv_cell(row[k]) end
    curve:write(table.concat(cells, ","), "\n")
    curve:flush()
  end
  os.remove(curve_path)
  local started, t0 = os.time(), wall_clock()
  -- xpcall: a failed run keeps where it failed (traceback.txt), not only its message
  local trace
  local ok, result = xpcall(self.run_fn, function(e)
    if not is_interrupt(e) and type(debug) == "table" then
      trace = debug.traceback(type(e) == "string" and e or tostring(e), 2)
    end
    return e
  end, run.config, ctx)
  local seconds = wall_clock() - t0
  if curve then curve:close() end
  -- Ctrl-C is not a failure of the run: no record, so a resume runs it again
  if not ok and is_interrupt(result) then return nil, result end
  local rec = { key = run.key, config_key = run.config_key, replicate = run.replicate, seed = ctx.seed,
    run_seed = ctx.run_seed, experiment_seed = self.seed, kshot_version = ks.__version or "unknown" }
  if ok then
    if type(result) ~= "table" then
      ok, result = false, "run returned " .. type(result) .. ", expected a table of metrics"
    else
      for k, v in pairs(result) do
        if type(k) ~= "string" or type(v) ~= "number" then
          ok, result = false, ("run returned a non-number metric '%s'"):format(tostring(k))
          break
        end
        if v ~= v or v == math.huge or v == -math.huge then
          ok, result = false, ("run returned a non-finite value for metric '%s' (%s): records are JSON, which "
            .. "cannot hold NaN or infinity"):format(k, tostring(v))
          break
        end
      end
    end
  end
  if ok then
    rec.status, rec.metrics = "ok", result
  else
    local mt = getmetatable(result)
    local plain = type(result) == "table" and not (type(mt) == "table" and mt.__tostring)
    -- an error object that is a plain table is recorded with its contents, not its address
    rec.status, rec.error = "failed", plain and require("kshot.pretty").format(result) or tostring(result)
  end
  -- where a failed run stopped, kept out of record.json like the provenance (paths and lines of this machine)
  local tb_path = rec.status == "failed" and trace and dir .. "/traceback.txt" or nil
  if tb_path then write_atomic(tb_path, trace .. "\n") else os.remove(dir .. "/traceback.txt") end
  -- when, how long, how: kept out of record.json, which stays the same for any order or timing of the runs
  write_atomic(dir .. "/provenance.json", encode_sorted(provenance(started, seconds)))
  write_atomic(dir .. "/record.json", encode_sorted(rec))
  add_result(self, rec)
  return rec, nil, tb_path
end

--- exp:run{force=false, retry_failed=false, only=function(run) -> bool, order="canonical"|"reverse"}
-- -> {ran = n, skipped = n, failed = n[, stale = n when recorded configs changed]}
function Experiment:run(opts)
  opts = opts or {}
  options.check(opts, "exp:run", { "only", "order", "force", "retry_failed", "progress_mode" })
  if opts.only ~= nil and type(opts.only) ~= "function" then
    error("exp:run: option 'only' must be a function(run) -> boolean, got " .. type(opts.only), 2)
  end
  if opts.order ~= nil and opts.order ~= "canonical" and opts.order ~= "reverse" then
    error(("exp:run: option 'order' must be \"canonical\" or \"reverse\", got %s"):format(tostring(opts.order)), 2)
  end
  mkdir_p(self.dir)
  self.result_keys = nil -- read results.jsonl afresh (another process may have added lines)
  local runs = self:runs()
  if opts.order == "reverse" then
    local rev = {}
    for i = #runs, 1, -1 do rev[#rev + 1] = runs[i] end
    runs = rev
  end
  local pending, had_record = {}, {}
  local summary = { ran = 0, skipped = 0, failed = 0, recorded_failed = 0 }
  for _, run in ipairs(runs) do
    if not opts.only or opts.only(run) then
      local rec = not opts.force and self:record(run)
      -- a record made with another config under the same name is stale: re-run it
      if rec and read_file(self:run_dir(run) .. "/config.json") ~= encode_sorted(run.config) then
        rec = nil
        summary.stale = (summary.stale or 0) + 1
      end
      if rec and (rec.status == "ok" or not opts.retry_failed) then
        summary.skipped = summary.skipped + 1
        if rec.status ~= "ok" then summary.recorded_failed = summary.recorded_failed + 1 end
      else
        pending[#pending + 1] = run
        had_record[run] = exists(self:run_dir(run) .. "/record.json") -- re-run: forced, stale or failed
      end
    end
  end
  local bar = progress.new { total = #pending, label = self.name, silent = self.show_progress == false,
    mode = opts.progress_mode }
  local total = summary.skipped + #pending
  if #pending == 0 and total > 0 then
    -- name the API: a user's script need not have kshot's scripts' --fresh / --retry-failed flags
    bar:log(("%s: all %d runs loaded from the records, none run now; exp:run{force = true} re-runs them "
      .. "(--fresh in kshot's scripts)"):format(self.name, total))
  end
  if summary.recorded_failed > 0 and not opts.retry_failed then
    bar:log(("%s: %d failed run%s recorded; exp:run{retry_failed = true} re-runs %s"):format(self.name,
      summary.recorded_failed, summary.recorded_failed == 1 and " is" or "s are",
      summary.recorded_failed == 1 and "it" or "them"))
  end
  summary.recorded_failed = nil
  local current = 0 -- index in pending of the run in progress
  local metric_checked = false -- once: the first run that succeeds reports the metric the report needs
  local ok, err = pcall(function()
    for i, run in ipairs(pending) do
      current = i
      local rec, interrupt, tb_path = run_one(self, run)
      if not rec then error(interrupt, 0) end
      summary.ran = summary.ran + 1
      if rec.status == "ok" and self.metric and not metric_checked then
        metric_checked = true
        if rec.metrics[self.metric] == nil then
          local names = {}
          for k in pairs(rec.metrics) do names[#names + 1] = k end
          table.sort(names)
          bar:log(("warning: run %s reports no metric '%s' (it reports %s): the report needs it; is experiment.new's "
            .. "metric misspelled?"):format(run.key, self.metric, #names > 0 and table.concat(names, ", ") or "none"))
        end
      end
      if rec.status ~= "ok" then
        summary.failed = summary.failed + 1
        bar:log(("run %s failed: %s%s"):format(run.key, rec.error, tb_path and " (traceback: " .. tb_path .. ")" or ""))
      end
      bar:update(i, { failed = summary.failed })
    end
  end)
  if not ok then
    -- Ctrl-C lands anywhere in the loop, also outside the run function's
    -- pcall: say where the sweep stands (even with progress = false), then
    -- rethrow. The run in progress counts if its record is complete on disk.
    if is_interrupt(err) then
      local recorded = summary.skipped + current - 1
      local cur = pending[current]
      if cur and not had_record[cur] and exists(self:run_dir(cur) .. "/record.json") then recorded = recorded + 1 end
      if bar.mode == "bar" then io.stderr:write("\r\27[K") end
      io.stderr:write(("interrupted: %d of %d runs recorded under %s; run the same command again to resume\n")
        :format(recorded, total, self.dir))
      io.stderr:flush()
    end
    error(err, 0)
  end
  if #pending > 0 then bar:finish() end
  return summary
end

-- the report's methods (kshot/experiment/report.lua): exp:collect, exp:summarize, exp:report_files, exp:report
for name, fn in pairs(report) do Experiment[name] = fn end

M.encode_sorted, M.derive_seed = encode_sorted, hash_seed
M.git_commit = require("kshot.experiment.provenance").git_commit
M.series_style, M.ticks, M.svg_comparison, M.svg_curves = plots.series_style, plots.ticks, plots.svg_comparison,
  plots.svg_curves
return M
