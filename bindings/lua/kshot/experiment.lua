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
-- metrics that exist.
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
local stats = require "kshot.stats"
local ms = require "kshot.model_selection"
local progress = require "kshot.progress"
local options = require "kshot.options"

local M = {}

-- The host's interrupt test (kshot.h: Ctrl-C raises "interrupted!"). Under
-- lua5.4 with kshot.so there is no host: lua.c's hook and a kernel stopped by
-- the context flag raise "<position>: interrupted!", so apply the same rule.
local is_interrupt = ks.is_interrupt or function(err)
  return type(err) == "string" and (err == "interrupted!" or err:sub(-14) == ": interrupted!")
end
M.is_interrupt = is_interrupt

-- ------------------------------------------------------------ files
local has_lfs, lfs = pcall(require, "lfs")

local function mkdir_p(path)
  if has_lfs then
    local acc = path:sub(1, 1) == "/" and "" or nil
    for part in path:gmatch("[^/]+") do
      acc = acc and (acc .. "/" .. part) or part
      if not lfs.attributes(acc, "mode") then
        local ok, err = lfs.mkdir(acc)
        if not ok and lfs.attributes(acc, "mode") ~= "directory" then
          error(("experiment: cannot create folder '%s': %s"):format(acc, tostring(err)), 0)
        end
      end
    end
  else
    local ok = os.execute(("mkdir -p '%s'"):format(path:gsub("'", "'\\''")))
    if not ok then error(("experiment: cannot create folder '%s'"):format(path), 0) end
  end
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- write whole content to a temporary file then rename (atomic on POSIX)
local function write_atomic(path, content)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "wb")
  if not f then error(("experiment: cannot write '%s': %s"):format(tmp, err), 0) end
  f:write(content)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then error(("experiment: cannot rename '%s': %s"):format(tmp, rerr), 0) end
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

-- JSON with keys in sorted order at every level (stable files)
local function encode_sorted(v)
  local order = {}
  local function collect(t)
    if type(t) ~= "table" then return end
    for k, x in pairs(t) do
      if type(k) == "string" then order[#order + 1] = k end
      collect(x)
    end
  end
  collect(v)
  table.sort(order)
  local seen, keyorder = {}, {}
  for _, k in ipairs(order) do
    if not seen[k] then seen[k], keyorder[#keyorder + 1] = true, k end
  end
  return json.encode(v, { indent = true, keyorder = keyorder })
end
M.encode_sorted = encode_sorted

-- ------------------------------------------------------------ seeds
-- FNV-1a over the bytes, then a splitmix64 finaliser; 63-bit non-negative
local function hash_seed(seed, text)
  local h = 0xcbf29ce484222325 ~ seed
  local s = tostring(seed) .. "|" .. text
  for i = 1, #s do
    h = (h ~ s:byte(i)) * 0x100000001b3
  end
  h = (h ~ (h >> 30)) * 0xBF58476D1CE4E5B9
  h = (h ~ (h >> 27)) * 0x94D049BB133111EB
  h = h ~ (h >> 31)
  return h & 0x7fffffffffffffff
end
M.derive_seed = hash_seed

local function safe_dir(key)
  return (key:gsub("[^%w%.%-_=,+@]", "_"))
end

local MAX_REPLICATES = 1 << 20
-- files the experiment writes next to the run folders (report_files: a
-- selection's report-<id>.md, comparison-<id>.svg and curves-<id>.svg too)
local RESERVED = { ["results.jsonl"] = true, ["report.md"] = true, ["comparison.svg"] = true,
  ["curves.svg"] = true }
local function reserved(folder)
  return RESERVED[folder] or folder:match("^report%-%x+%.md$") or folder:match("^comparison%-%x+%.svg$")
    or folder:match("^curves%-%x+%.svg$")
end

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

-- ------------------------------------------------------------ running
local function csv_cell(v)
  if type(v) == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return ("%.17g"):format(v)
  end
  local s = tostring(v)
  if s:find('[,"\n]') then s = '"' .. s:gsub('"', '""') .. '"' end
  return s
end

-- seconds of wall-clock time: the benchmark clock (monotonic) when the host has it
local function wall_clock() return ks._bench_clock and ks._bench_clock() or os.time() end

-- ------------------------------------------------------------ git commit, without git
-- "a/b/../c/" -> "a/c": lexical, so a folder can be walked up without the file system
local function normalize(path)
  local parts = {}
  for part in path:gmatch("[^/]+") do
    if part == ".." and #parts > 0 and parts[#parts] ~= ".." then parts[#parts] = nil
    elseif part ~= "." then parts[#parts + 1] = part end
  end
  return (path:sub(1, 1) == "/" and "/" or "") .. table.concat(parts, "/")
end

local function absolute(path)
  if path:sub(1, 1) == "/" then return normalize(path) end
  local cwd = has_lfs and lfs.currentdir() or os.getenv("PWD")
  if not cwd then return nil end
  return normalize(cwd .. "/" .. path)
end

local function trim(s) return s and (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function is_hash(s) return s ~= nil and (#s == 40 or #s == 64) and s:match("^%x+$") ~= nil end

-- the hash a ref names: a loose ref file in the git dir (a worktree's own) or
-- the common dir, else the common dir's packed-refs; symbolic refs followed
local function resolve_ref(gitdir, common, ref, depth)
  if depth > 5 then return nil end
  for _, dir in ipairs { gitdir, common } do
    local v = trim(read_file(dir .. "/" .. ref))
    if v then
      if is_hash(v) then return v:lower() end
      local sym = v:match("^ref:%s*(%S+)$")
      if sym then return resolve_ref(gitdir, common, sym, depth + 1) end
    end
  end
  local packed = read_file(common .. "/packed-refs")
  if packed then
    for line in packed:gmatch("[^\n]+") do
      local h, name = line:match("^(%x+) (%S+)$")
      if name == ref and is_hash(h) then return h:lower() end
    end
  end
  return nil
end

-- the git dir of a working tree at dir: the folder dir/.git, or the one a
-- .git FILE names ("gitdir: <path>", worktrees and submodules); nil if none
local function git_dir_at(dir)
  local dotgit = (dir == "/" and "" or dir) .. "/.git"
  if read_file(dotgit .. "/HEAD") then return dotgit end
  local f = io.open(dotgit, "rb")
  if not f then return nil end
  local text = f:read("a") -- nil for a folder without HEAD
  f:close()
  local path = text and trim(text:match("^gitdir:%s*([^\n]+)"))
  if not path or path == "" then return nil end
  if path:sub(1, 1) ~= "/" then path = dir .. "/" .. path end
  path = normalize(path)
  return read_file(path .. "/HEAD") and path or nil
end

--- experiment.git_commit(dir) -> the commit hash checked out in the git
-- working tree holding dir (dir or a folder above it), or nil (not in a
-- repository, an unborn branch, an unreadable HEAD). Read from the
-- repository's files (.git/HEAD, refs, packed-refs; a .git file of a
-- worktree), no program is run; a detached HEAD gives its hash. Whether the
-- tree has uncommitted changes is not known this way, so it is not said.
function M.git_commit(dir)
  dir = absolute(dir or ".")
  while dir do
    local gitdir = git_dir_at(dir)
    if gitdir then
      local head = trim(read_file(gitdir .. "/HEAD"))
      if is_hash(head) then return head:lower() end
      local ref = head and head:match("^ref:%s*(%S+)$")
      if not ref then return nil end
      -- a worktree's git dir names the shared one in "commondir"
      local common = trim(read_file(gitdir .. "/commondir"))
      if common then common = normalize(common:sub(1, 1) == "/" and common or (gitdir .. "/" .. common))
      else common = gitdir end
      return resolve_ref(gitdir, common, ref, 0)
    end
    if dir == "/" or dir == "" then return nil end
    dir = dir:match("^(.*)/[^/]*$")
    if dir == "" then dir = "/" end
  end
  return nil
end

-- the script's folder (arg[0]; the current folder without a script)
local function script_dir()
  local a = rawget(_G, "arg")
  local script = type(a) == "table" and type(a[0]) == "string" and a[0] or nil
  if not script then return "." end
  return script:match("^(.*)/[^/]*$") or "."
end

-- read once per process and script folder: the code that runs is the code
-- loaded at the start, whatever is checked out later
local static_provenance = {}
local function process_provenance()
  local dir = script_dir()
  if not static_provenance[dir] then
    static_provenance[dir] = { git_commit = M.git_commit(dir) or false, host = ks.hostname and ks.hostname() or false }
  end
  return static_provenance[dir]
end

-- provenance.json: when a run started (UTC), its wall time, the threads, the
-- command that ran it (the script's global arg, when there is one), the
-- versions, the git commit of the script's repository and the host name
local function provenance(started, seconds)
  local p = { started = os.date("!%Y-%m-%dT%H:%M:%SZ", started), seconds = math.floor(seconds * 1000 + 0.5) / 1000,
    threads = ks.get_num_threads(), kshot_version = ks.__version or "unknown", lua_version = _VERSION }
  local a = rawget(_G, "arg")
  if type(a) == "table" and a[0] ~= nil then
    local words = {}
    for i = 0, #a do words[#words + 1] = tostring(a[i]) end
    p.command = table.concat(words, " ")
  end
  local fixed = process_provenance()
  p.git_commit = fixed.git_commit or nil
  p.host = fixed.host or nil
  return p
end

-- the run keys of results.jsonl's lines (a line that is not a JSON object
-- with a string key is kept as it is and counts for no run)
local function result_keys(text)
  local keys = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local rec = json.decode(line)
    if type(rec) == "table" and type(rec.key) == "string" then keys[rec.key] = true end
  end
  return keys
end

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
  local ok, result = pcall(self.run_fn, run.config, ctx)
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
  -- when, how long, how: kept out of record.json, which stays the same for any order or timing of the runs
  write_atomic(dir .. "/provenance.json", encode_sorted(provenance(started, seconds)))
  write_atomic(dir .. "/record.json", encode_sorted(rec))
  add_result(self, rec)
  return rec
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
    bar:log(("%s: all %d runs loaded from the records (0 run); --fresh (force) re-runs them"):format(self.name, total))
  end
  if summary.recorded_failed > 0 and not opts.retry_failed then
    bar:log(("%s: %d failed run%s recorded; --retry-failed (retry_failed) re-runs them"):format(self.name,
      summary.recorded_failed, summary.recorded_failed == 1 and " is" or "s are"))
  end
  summary.recorded_failed = nil
  local current = 0 -- index in pending of the run in progress
  local ok, err = pcall(function()
    for i, run in ipairs(pending) do
      current = i
      local rec, interrupt = run_one(self, run)
      if not rec then error(interrupt, 0) end
      summary.ran = summary.ran + 1
      if rec.status ~= "ok" then
        summary.failed = summary.failed + 1
        bar:log(("run %s failed: %s"):format(run.key, rec.error))
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

-- ------------------------------------------------------------ report
local function read_curve(path)
  local s = read_file(path)
  if not s then return nil end
  local rows, header = {}, nil
  for line in s:gmatch("[^\n]+") do
    local cells = {}
    for c in (line .. ","):gmatch("([^,]*),") do cells[#cells + 1] = c end
    if not header then header = cells
    else
      local row = {}
      for i, k in ipairs(header) do row[k] = tonumber(cells[i]) end
      rows[#rows + 1] = row
    end
  end
  return rows, header
end

--- exp:collect() -> per config: {key, config, values = {replicate -> metrics}, failed = {replicate -> msg},
-- curves = {replicate -> rows}}, and the list of metric names; reads records from disk
function Experiment:collect()
  local out, names, seen = {}, {}, {}
  for i, key in ipairs(self.keys) do
    local c = { key = key, config = self.configs[i], values = {}, failed = {}, curves = {}, missing = 0 }
    for _, r in ipairs(self.replicates) do
      local run = { key = key .. "/rep-" .. r, config_key = key, replicate = r }
      local rec = self:record(run)
      if not rec then
        c.missing = c.missing + 1
      elseif rec.status == "ok" then
        c.values[r] = rec.metrics
        for k in pairs(rec.metrics) do if not seen[k] then seen[k], names[#names + 1] = true, k end end
        c.curves[r] = read_curve(self:run_dir(run) .. "/curve.csv")
      else
        c.failed[r] = rec.error
      end
    end
    out[i] = c
  end
  table.sort(names)
  return out, names
end

local function values_of(self, c, metric)
  local xs, reps = {}, {}
  for _, r in ipairs(self.replicates) do
    local m = c.values[r]
    if m and m[metric] then xs[#xs + 1], reps[#reps + 1] = m[metric], r end
  end
  return xs, reps
end

local function fmt4(v) return v == nil and "-" or ("%.4f"):format(v) end
local function fmtp(p)
  if p == nil then return "-" end
  if p < 1e-4 then return ("%.1e"):format(p) end
  return ("%.4f"):format(p)
end

local function md_table(header, rows)
  local lines = { "| " .. table.concat(header, " | ") .. " |" }
  local sep = {}
  for i = 1, #header do sep[i] = "---" end
  lines[#lines + 1] = "|" .. table.concat(sep, "|") .. "|"
  for _, r in ipairs(rows) do lines[#lines + 1] = "| " .. table.concat(r, " | ") .. " |" end
  return table.concat(lines, "\n")
end

-- the comparisons that got p-values (the ones Holm's correction is over)
local function with_p_value(comparisons)
  local got = {}
  for _, cmp in ipairs(comparisons) do if cmp.t then got[#got + 1] = cmp end end
  return got
end

-- "Holm's correction over the K comparisons ..." with the configs left out and why
local function holm_sentence(s)
  local out, k = {}, s.corrected
  for _, cmp in ipairs(s.comparisons) do
    if not cmp.t then out[#out + 1] = ("`%s` (%d pair%s: %s)"):format(cmp.key, cmp.n, cmp.n == 1 and "" or "s", cmp.reason) end
  end
  local text
  if k == 0 then
    text = "no comparison has the 2 or more pairs a test needs, so there are no p-values to correct."
  else
    text = ("Holm's correction over the %d comparison%s with a p-value."):format(k, k == 1 and "" or "s")
  end
  if #out > 0 then
    text = text .. (" Left out (no p-value, fewer than 2 pairs): %s."):format(table.concat(out, ", "))
  end
  return text
end

local function verdict(cmp, maximize)
  if cmp.holm_t <= 0.05 then return (cmp.diff > 0) == maximize and "better" or "worse" end
  return "no significant difference"
end

-- plain-text table: columns padded to their widest cell (UTF-8 aware for "±")
local function text_table(rows)
  local width = {}
  local function len(c) return utf8.len(c) or #c end
  for _, r in ipairs(rows) do
    for j, c in ipairs(r) do width[j] = math.max(width[j] or 0, len(c)) end
  end
  local lines = {}
  for _, r in ipairs(rows) do
    local cells = {}
    for j, c in ipairs(r) do cells[j] = j < #r and (c .. (" "):rep(width[j] - len(c))) or c end
    lines[#lines + 1] = table.concat(cells, "  ")
  end
  return table.concat(lines, "\n")
end

-- the marks after a config's name: descriptive best, pre-registered, baseline
-- what the marks mean, under the table
local function mark_note(s)
  if not s.best then return "No config has a successful run yet." end
  local text = ("%s: the config whose mean on these replicates is %s, a description of this sample, not a "
    .. "recipe chosen in advance (chosen after looking, its lead would be optimistic)."):format(
    s.maximize and "(highest mean)" or "(lowest mean)", s.maximize and "the highest" or "the lowest")
  if s.preregistered then
    text = text .. (" (fixed beforehand): `%s`, the config declared before the runs, so its result is free of that "
      .. "selection."):format(s.preregistered_key)
  end
  return text
end

local function marks(s, i, key, bold)
  local out = {}
  if i == s.best then
    local m = s.maximize and "(highest mean)" or "(lowest mean)"
    out[#out + 1] = bold and ("**" .. m .. "**") or m
  end
  if s.preregistered and key == s.preregistered_key then out[#out + 1] = "(fixed beforehand)" end
  if s.baseline and key == s.baseline_key then out[#out + 1] = "(baseline)" end
  return #out > 0 and (" " .. table.concat(out, " ")) or ""
end

-- The summary prints as a terminal table, so print(exp:report()) and
-- print(exp:summarize()) show results rather than "table: 0x...".
local Summary = {}
Summary.__index = Summary
Summary.__name = "kshot.experiment.Summary"
function Summary:__tostring()
  local out = { ("experiment '%s': %s (%s is better), mean ± 95%% half-width over replicates"):format(
    self.experiment, self.metric, self.maximize and "higher" or "lower") }
  local rows = { { "config", "n", self.metric, "failed" } }
  for i, r in ipairs(self.rows) do
    local cell = "-"
    if r.interval then
      cell = r.interval.half and ("%s ± %s"):format(fmt4(r.interval.mean), fmt4(r.interval.half)) or fmt4(r.interval.mean)
    end
    rows[#rows + 1] = { r.key .. marks(self, i, r.key),
      tostring(r.n), cell, tostring(r.failed) .. (r.missing > 0 and (" (+%d not run)"):format(r.missing) or "") }
  end
  out[#out + 1] = text_table(rows)
  if #self.comparisons > 0 then
    out[#out + 1] = ("paired with the baseline '%s'; %s"):format(self.baseline, holm_sentence(self))
    local crows = { { "config", "pairs", "difference", "Holm p (t)", "verdict" } }
    for _, cmp in ipairs(self.comparisons) do
      if cmp.t then
        crows[#crows + 1] = { cmp.key, tostring(cmp.n), ("%s ± %s"):format(fmt4(cmp.diff),
          cmp.diff_interval.half and fmt4(cmp.diff_interval.half) or "-"), fmtp(cmp.holm_t), verdict(cmp, self.maximize) }
      else
        crows[#crows + 1] = { cmp.key, tostring(cmp.n), "-", "-", "too few pairs" }
      end
    end
    out[#out + 1] = text_table(crows)
  end
  return table.concat(out, "\n")
end

--- exp:summarize() -> a table of everything the report shows (for scripts and tests);
-- it prints (tostring) as a plain-text table of the configs and the comparisons.
function Experiment:summarize()
  local cfgs, names = self:collect()
  local metric = self.metric
  if not metric then
    metric = names[1] or "score"
    for _, n in ipairs(names) do if n == "accuracy" then metric = n end end
  elseif #names > 0 then
    local found = false
    for _, n in ipairs(names) do if n == metric then found = true end end
    if not found then
      error(("experiment '%s': metric '%s' is reported by no recorded run (metrics reported: %s)"):format(self.name,
        tostring(metric), table.concat(names, ", ")), 0)
    end
  end
  local rows, best = {}, nil
  for i, c in ipairs(cfgs) do
    local xs = values_of(self, c, metric)
    local row = { key = c.key, n = #xs, failed = 0, missing = c.missing, means = {} }
    for _ in pairs(c.failed) do row.failed = row.failed + 1 end
    if #xs > 0 then row.interval = stats.interval(xs) end
    for _, n in ipairs(names) do
      local v = values_of(self, c, n)
      row.means[n] = #v > 0 and stats.mean(v) or nil
    end
    rows[i] = row
    if row.interval then
      local m = row.interval.mean
      if not best or (self.maximize and m > rows[best].interval.mean) or (not self.maximize and m < rows[best].interval.mean) then
        best = i
      end
    end
  end
  local comparisons = {}
  if self.baseline then
    local bi = self.by_key[self.baseline]
    local ps_t, ps_w, idx = {}, {}, {}
    for i, c in ipairs(cfgs) do
      if i ~= bi then
        local a, b = {}, {}
        for _, r in ipairs(self.replicates) do
          local x, y = c.values[r], cfgs[bi].values[r]
          if x and y and x[metric] and y[metric] then a[#a + 1], b[#b + 1] = x[metric], y[metric] end
        end
        local cmp = { key = c.key, n = #a }
        if #a >= 2 then
          cmp.t = stats.paired_t(a, b)
          cmp.w = stats.wilcoxon(a, b)
          cmp.diff = cmp.t.mean_diff
          cmp.diff_interval = stats.interval((function()
            local d = {}
            for j = 1, #a do d[j] = a[j] - b[j] end
            return d
          end)())
          ps_t[#ps_t + 1], ps_w[#ps_w + 1], idx[#idx + 1] = cmp.t.p, cmp.w.p, #comparisons + 1
        else
          -- no p-value: say why (the report names it as left out of Holm's correction)
          local row, brow = rows[i], rows[bi]
          local function runs_of(r, who)
            local parts = { ("%d successful run%s"):format(r.n, r.n == 1 and "" or "s") }
            if r.failed > 0 then parts[#parts + 1] = ("%d failed"):format(r.failed) end
            if r.missing > 0 then parts[#parts + 1] = ("%d not run"):format(r.missing) end
            return ("%s has %s"):format(who, table.concat(parts, ", "))
          end
          if row.n == 0 and row.failed > 0 and row.missing == 0 then
            cmp.reason = "all its runs failed"
          elseif row.n < 2 then
            cmp.reason = runs_of(row, "it")
          elseif brow.n < 2 then
            cmp.reason = runs_of(brow, "the baseline")
          else
            cmp.reason = ("only %d replicate%s where both it and the baseline succeeded"):format(#a, #a == 1 and "" or "s")
          end
        end
        comparisons[#comparisons + 1] = cmp
      end
    end
    if #ps_t > 0 then
      local ht, hw = stats.holm(ps_t), stats.holm(ps_w)
      for j, ci in ipairs(idx) do
        local cmp = comparisons[ci]
        cmp.holm_t, cmp.holm_w = ht[j], hw[j]
        cmp.verdict = verdict(cmp, self.maximize) -- the report's words: "better", "worse", "no significant difference"
      end
    end
  end
  local function key_of(k) return k ~= nil and self.keys[self.by_key[k]] or nil end
  return setmetatable({ metric = metric, names = names, rows = rows, best = best, comparisons = comparisons,
    configs = cfgs, corrected = #with_p_value(comparisons), experiment = self.name, baseline = self.baseline,
    baseline_key = key_of(self.baseline), preregistered = self.preregistered,
    preregistered_key = key_of(self.preregistered), maximize = self.maximize }, 
    Summary)
end

--- exp:report_files() -> {report =, comparison =, curves =}: the paths exp:report writes.
-- <dir>/report.md, comparison.svg and curves.svg are the report of a
-- selection covering every run listed in results.jsonl (each config and
-- replicate that has finished in the folder): the whole experiment. A
-- selection of fewer (a script's --only or --preset, fewer seeds, under the
-- same experiment name) gets report-<id>.md, comparison-<id>.svg and
-- curves-<id>.svg instead, id = 8 hex digits from its config keys and
-- replicate ids (sorted: the same selection always has the same files), so
-- it never overwrites the whole experiment's report. (A selection that ran
-- first, on an empty folder, is the whole experiment until more is run.)
function Experiment:report_files()
  local mine = {}
  for _, run in ipairs(self:runs()) do mine[run.key] = true end
  local whole = true
  for key in pairs(result_keys(read_file(self.dir .. "/results.jsonl"))) do
    if not mine[key] then whole = false break end
  end
  local suffix = ""
  if not whole then
    local keys, reps = {}, {}
    for i, k in ipairs(self.keys) do keys[i] = k end
    for i, r in ipairs(self.replicates) do reps[i] = r end
    table.sort(keys)
    table.sort(reps)
    suffix = ("-%08x"):format(hash_seed(0, table.concat(keys, "\n") .. "|" .. table.concat(reps, ",")) & 0xffffffff)
  end
  return { report = ("%s/report%s.md"):format(self.dir, suffix),
    comparison = ("%s/comparison%s.svg"):format(self.dir, suffix), curves = ("%s/curves%s.svg"):format(self.dir, suffix) }
end

--- exp:report{write=true, plots=true, print=false} -> Markdown text (printed when asked), summary; writes
-- the report, the comparison plot and the curves (when runs logged curves) to exp:report_files()'s paths:
-- <dir>/report.md, comparison.svg and curves.svg for the whole experiment.
function Experiment:report(opts)
  opts = opts or {}
  options.check(opts, "exp:report", { "write", "plots", "print" })
  local s = self:summarize()
  local metric = s.metric
  local out = {}
  out[#out + 1] = ("# Experiment `%s`"):format(self.name)
  out[#out + 1] = ""
  out[#out + 1] = ("%d configurations x %d replicates (ids %s), experiment seed %d; metric `%s` (%s is better)."):format(
    #self.configs, #self.replicates, table.concat(self.replicates, ","), self.seed, metric,
    self.maximize and "higher" or "lower")
  local any = s.rows[s.best or 1] and s.rows[s.best or 1].interval
  if any then
    out[#out + 1] = ("Interval: 95%%, %s over replicates (%s)."):format(
      any.method == "t" and "Student t with n-1 df" or any.method, any.sigma)
  end
  out[#out + 1] = ""
  local header = { "config", "n", metric .. " (mean ± 95% half-width)" }
  for _, n in ipairs(s.names) do if n ~= metric then header[#header + 1] = n .. " (mean)" end end
  header[#header + 1] = "failed"
  local trows = {}
  for i, r in ipairs(s.rows) do
    local cell = "-"
    if r.interval then
      cell = r.interval.half and ("%s ± %s"):format(fmt4(r.interval.mean), fmt4(r.interval.half))
        or fmt4(r.interval.mean)
    end
    local name = r.key .. marks(s, i, r.key, true)
    local row = { name, tostring(r.n), cell }
    for _, n in ipairs(s.names) do if n ~= metric then row[#row + 1] = fmt4(r.means[n]) end end
    row[#row + 1] = tostring(r.failed) .. (r.missing > 0 and (" (+%d not run)"):format(r.missing) or "")
    trows[#trows + 1] = row
  end
  out[#out + 1] = md_table(header, trows)
  out[#out + 1] = ""
  out[#out + 1] = mark_note(s)
  local few = false
  for _, r in ipairs(s.rows) do if r.n > 0 and r.n < 3 then few = true end end
  if few then
    out[#out + 1] = ""
    out[#out + 1] = "n < 3: intervals are very wide (n = 2: the 95% t interval is ±12.7 standard errors; n = 1: "
      .. "none)."
  end
  if #s.comparisons > 0 then
    out[#out + 1] = ""
    out[#out + 1] = ("## Paired comparisons with the baseline `%s` (same replicates)"):format(self.baseline)
    out[#out + 1] = ""
    out[#out + 1] = "Difference = config - baseline. p-values two-sided; " .. holm_sentence(s)
    out[#out + 1] = ""
    local crow = {}
    for _, cmp in ipairs(s.comparisons) do
      if cmp.t then
        crow[#crow + 1] = { cmp.key, tostring(cmp.n),
          ("%s ± %s"):format(fmt4(cmp.diff), cmp.diff_interval.half and fmt4(cmp.diff_interval.half) or "-"),
          fmtp(cmp.t.p), fmtp(cmp.holm_t), fmtp(cmp.w.p) .. (cmp.w.exact and " (exact)" or ""), fmtp(cmp.holm_w),
          verdict(cmp, self.maximize) }
      else
        crow[#crow + 1] = { cmp.key, tostring(cmp.n), "-", "-", "-", "-", "-", "too few pairs (" .. cmp.reason .. ")" }
      end
    end
    out[#out + 1] = md_table({ "config", "pairs", "difference (mean ± 95%)", "paired t p", "Holm p (t)",
      "Wilcoxon p", "Holm p (Wilcoxon)", "verdict (Holm t, 5%)" }, crow)
  end
  local failures = {}
  for _, c in ipairs(s.configs) do
    for _, r in ipairs(self.replicates) do
      if c.failed[r] then failures[#failures + 1] = ("- `%s/rep-%d`: %s"):format(c.key, r, c.failed[r]) end
    end
  end
  if #failures > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "## Failed runs"
    out[#out + 1] = ""
    out[#out + 1] = table.concat(failures, "\n")
  end
  local text = table.concat(out, "\n") .. "\n"
  if opts.print then io.write(text) end
  if opts.write ~= false then
    mkdir_p(self.dir)
    local files = self:report_files()
    write_atomic(files.report, text)
    if opts.plots ~= false then
      write_atomic(files.comparison, M.svg_comparison(s, self))
      local svg = M.svg_curves(s, self)
      if svg then write_atomic(files.curves, svg) end
    end
  end
  return text, s
end

-- ------------------------------------------------------------ SVG plots
local function esc(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end
-- 10 colours x 4 dash patterns: 40 series before a style repeats
local COLORS = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf" }
local DASHES = { nil, "6 3", "2 2", "8 3 2 3" }
local function style(i)
  return COLORS[(i - 1) % #COLORS + 1], DASHES[(i - 1) // #COLORS % #DASHES + 1]
end
M.series_style = style

local function nice_range(lo, hi)
  if lo == hi then lo, hi = lo - 0.5, hi + 0.5 end
  local pad = (hi - lo) * 0.05
  return lo - pad, hi + pad
end

--- ticks(lo, hi) -> values in [lo, hi] at a 1-2-5 step (1, 2 or 5 times a power of 10), about 5 of them
local function ticks(lo, hi)
  local raw = (hi - lo) / 5
  local p = 10 ^ math.floor(math.log(raw, 10))
  local step = p * 10
  for _, m in ipairs { 1, 2, 5 } do
    if m * p >= raw then step = m * p break end
  end
  local out = {}
  for k = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) do
    local v = tonumber(("%.12g"):format(k * step)) -- 0.6, not 0.6000000000000001
    if v == 0 then v = 0 end -- no "-0"
    out[#out + 1] = v
  end
  return out
end
M.ticks = ticks

local function fmt_tick(v) return ("%.6g"):format(v) end

--- Comparison plot: one row per config, the mean as a dot and the 95% interval as a bar.
-- With metric_range = {lo, hi} the axis stays inside it and a whisker that
-- leaves it is cut at the edge with an arrowhead.
function M.svg_comparison(s, self)
  local n = #s.rows
  local left, width, rowh, top = 260, 420, 26, 40
  local h = top + n * rowh + 64
  local lo, hi = math.huge, -math.huge
  for _, r in ipairs(s.rows) do
    if r.interval then
      lo, hi = math.min(lo, r.interval.lo or r.interval.mean), math.max(hi, r.interval.hi or r.interval.mean)
    end
  end
  if lo == math.huge then lo, hi = 0, 1 end
  lo, hi = nice_range(lo, hi)
  local range = self.metric_range
  if range then
    lo, hi = math.max(lo, range[1]), math.min(hi, range[2])
    if lo >= hi then lo, hi = range[1], range[2] end
  end
  local function x(v) return left + (math.min(math.max(v, lo), hi) - lo) / (hi - lo) * width end
  local o = { ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">')
    :format(left + width + 30, h), '<rect width="100%" height="100%" fill="white"/>',
    ('<text x="10" y="20" font-size="14">%s: %s, mean and 95%% interval</text>'):format(esc(self.name), esc(s.metric)) }
  for i, r in ipairs(s.rows) do
    local y = top + (i - 0.5) * rowh
    o[#o + 1] = ('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>')
      :format(left - 10, y, esc(r.key .. marks(s, i, r.key)))
    if r.interval then
      local a, b = r.interval.lo or r.interval.mean, r.interval.hi or r.interval.mean
      o[#o + 1] = ('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#333" stroke-width="2"/>')
        :format(x(a), x(b), y, y)
      -- a clipped end: an arrowhead on the axis edge
      if a < lo then
        o[#o + 1] = ('<path d="M%.1f %.1f l7 -5 v10 z" fill="#333"><title>interval continues to %s</title></path>')
          :format(x(lo), y, fmt_tick(a))
      end
      if b > hi then
        o[#o + 1] = ('<path d="M%.1f %.1f l-7 -5 v10 z" fill="#333"><title>interval continues to %s</title></path>')
          :format(x(hi), y, fmt_tick(b))
      end
      o[#o + 1] = ('<circle cx="%.1f" cy="%.1f" r="4" fill="%s"/>'):format(x(r.interval.mean), y,
        i == s.best and "#d62728" or "#1f77b4")
    end
  end
  if self.baseline then
    local b = s.rows[self.by_key[self.baseline]]
    if b and b.interval then
      o[#o + 1] = ('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#999" stroke-dasharray="4 3"/>')
        :format(x(b.interval.mean), x(b.interval.mean), top, top + n * rowh)
    end
  end
  local ay = top + n * rowh + 10
  o[#o + 1] = ('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>'):format(left, left + width, ay, ay)
  for _, v in ipairs(ticks(lo, hi)) do
    o[#o + 1] = ('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="black"/>'):format(x(v), x(v), ay, ay + 4)
    o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(x(v), ay + 16, fmt_tick(v))
  end
  -- axis titles
  o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(left + width / 2, ay + 36, esc(s.metric))
  o[#o + 1] = ('<text x="14" y="%.1f" text-anchor="middle" transform="rotate(-90 14 %.1f)">config</text>')
    :format(top + n * rowh / 2, top + n * rowh / 2)
  o[#o + 1] = "</svg>\n"
  return table.concat(o, "\n")
end

--- Learning curves: mean over replicates of the curve column (curve_metric, or
-- the first logged column other than epoch/step) per config; config i has
-- colour i and, past 10 configs, a dash pattern (series_style).
function M.svg_curves(s, self)
  local col, xcol
  local series = {}
  for i, c in ipairs(s.configs) do
    local sums, counts, maxx = {}, {}, 0
    for _, r in ipairs(self.replicates) do
      local rows = c.curves[r]
      if rows and #rows > 0 then
        if not col then
          local keys = sorted_keys(rows[1])
          xcol = rows[1].epoch and "epoch" or (rows[1].step and "step") or nil
          col = self.curve_metric
          if not col then
            for _, k in ipairs(keys) do if k ~= xcol then col = k break end end
          end
        end
        for j, row in ipairs(rows) do
          local xv = xcol and row[xcol] or j
          if row[col] then
            sums[xv] = (sums[xv] or 0) + row[col]
            counts[xv] = (counts[xv] or 0) + 1
            maxx = math.max(maxx, xv)
          end
        end
      end
    end
    local pts = {}
    local xs = {}
    for xv in pairs(sums) do xs[#xs + 1] = xv end
    table.sort(xs)
    for _, xv in ipairs(xs) do pts[#pts + 1] = { xv, sums[xv] / counts[xv] } end
    local color, dash = style(i)
    if #pts > 0 then series[#series + 1] = { key = c.key, pts = pts, color = color, dash = dash } end
  end
  if #series == 0 or not col then return nil end
  local xlo, xhi, ylo, yhi = math.huge, -math.huge, math.huge, -math.huge
  for _, se in ipairs(series) do
    for _, p in ipairs(se.pts) do
      xlo, xhi = math.min(xlo, p[1]), math.max(xhi, p[1])
      ylo, yhi = math.min(ylo, p[2]), math.max(yhi, p[2])
    end
  end
  xlo, xhi = nice_range(xlo, xhi)
  ylo, yhi = nice_range(ylo, yhi)
  local L, T, W, H = 70, 40, 480, 300
  local function X(v) return L + (v - xlo) / (xhi - xlo) * W end
  local function Y(v) return T + H - (v - ylo) / (yhi - ylo) * H end
  local xname = xcol or "row"
  local o = { ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">')
    :format(L + W + 240, math.max(T + H + 60, T + 20 + #series * 18)), '<rect width="100%" height="100%" fill="white"/>',
    ('<text x="10" y="20" font-size="14">%s: %s (mean over replicates) by %s</text>'):format(esc(self.name), esc(col),
      esc(xname)),
    ('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>'):format(L, T, W, H) }
  for _, xv in ipairs(ticks(xlo, xhi)) do
    o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(X(xv), T + H + 16, fmt_tick(xv))
  end
  for _, yv in ipairs(ticks(ylo, yhi)) do
    o[#o + 1] = ('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>'):format(L - 4, Y(yv),
      fmt_tick(yv))
  end
  -- axis titles
  o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'):format(L + W / 2, T + H + 36, esc(xname))
  o[#o + 1] = ('<text x="14" y="%.1f" text-anchor="middle" transform="rotate(-90 14 %.1f)">%s</text>')
    :format(T + H / 2, T + H / 2, esc(col))
  for i, se in ipairs(series) do
    local pts = {}
    for _, p in ipairs(se.pts) do pts[#pts + 1] = ("%.1f,%.1f"):format(X(p[1]), Y(p[2])) end
    local dash = se.dash and (' stroke-dasharray="%s"'):format(se.dash) or ""
    o[#o + 1] = ('<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>'):format(se.color, dash,
      table.concat(pts, " "))
    local ly = T + 11.5 + (i - 1) * 18
    o[#o + 1] = ('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>'):format(L + W + 8,
      L + W + 26, ly, ly, se.color, dash)
    o[#o + 1] = ('<text x="%d" y="%d" dominant-baseline="middle">%s</text>'):format(L + W + 30, T + 12 + (i - 1) * 18,
      esc(se.key))
  end
  o[#o + 1] = "</svg>\n"
  return table.concat(o, "\n")
end

return M
