--- kshot.experiment.report: an experiment's summary and report, read from
-- the run records on disk only (so a resumed sweep reports exactly what an
-- uninterrupted one does): exp:collect, exp:summarize, exp:report_files and
-- exp:report, installed as methods by kshot.experiment.
local stats = require "kshot.stats"
local options = require "kshot.options"
local record_files = require "kshot.experiment.files"
local plots = require "kshot.experiment.plots"
local hash_seed = require("kshot.experiment.keys").derive_seed
local marks = plots.marks

local read_file, write_atomic, mkdir_p = record_files.read_file, record_files.write_atomic, record_files.mkdir_p
local read_curve, result_keys = record_files.read_curve, record_files.result_keys
local Experiment = {}

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

-- "mean ± half" with the decimals the interval supports: the half-width to 3
-- significant digits, the mean to the same place (70.95 ± 4.03 for percents,
-- 0.7095 ± 0.0403 for fractions); no half-width (n = 1): the mean as fmt4
local function fmt_pm(mean, half)
  if half == nil then return fmt4(mean) end
  local d = 4
  if half > 0 then d = math.max(0, math.min(6, 2 - math.floor(math.log(half, 10)))) end
  return ("%." .. d .. "f ± %." .. d .. "f"):format(mean, half)
end
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
      cell = fmt_pm(r.interval.mean, r.interval.half)
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
        crows[#crows + 1] = { cmp.key, tostring(cmp.n), fmt_pm(cmp.diff, cmp.diff_interval.half), fmtp(cmp.holm_t),
          verdict(cmp, self.maximize) }
      else
        crows[#crows + 1] = { cmp.key, tostring(cmp.n), "-", "-", "too few pairs" }
      end
    end
    out[#out + 1] = text_table(crows)
  end
  return table.concat(out, "\n")
end

-- the metric of two configs on the replicates where both succeeded (paired, replicate order)
local function paired_values(self, ca, cb, metric)
  local a, b, reps = {}, {}, {}
  for _, r in ipairs(self.replicates) do
    local x, y = ca.values[r], cb.values[r]
    if x and y and x[metric] and y[metric] then a[#a + 1], b[#b + 1], reps[#reps + 1] = x[metric], y[metric], r end
  end
  return a, b, reps
end

-- cmp.t, cmp.w (paired t, Wilcoxon), cmp.diff (mean of a - b) and its interval; needs >= 2 pairs
local function paired_tests(cmp, a, b)
  cmp.t = stats.paired_t(a, b)
  cmp.w = stats.wilcoxon(a, b)
  cmp.diff = cmp.t.mean_diff
  local d = {}
  for j = 1, #a do d[j] = a[j] - b[j] end
  cmp.diff_interval = stats.interval(d)
  return cmp
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
        local a, b = paired_values(self, c, cfgs[bi], metric)
        local cmp = { key = c.key, n = #a }
        if #a >= 2 then
          paired_tests(cmp, a, b)
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

--- exp:compare(a, b[, {metric=}]) -> {a=, b=, metric=, n=, replicates=, diff=, diff_interval=, t=, w=}:
-- config a against config b (keys or names, as in the report) on the replicates where both succeeded:
-- diff = mean of a - b with its 95% interval, paired t and Wilcoxon tests (t.p, w.p; two-sided, not
-- corrected for other comparisons). For comparisons the report does not make (two configs neither of which
-- is the baseline, e.g. "mlp" against "logreg" at the same K). Needs 2 or more such replicates.
function Experiment:compare(a, b, opts)
  opts = opts or {}
  options.check(opts, "exp:compare", { "metric" })
  local cfgs, names = self:collect()
  local function config(k, which)
    local i = k ~= nil and self.by_key[k]
    if not i then
      error(("exp:compare: config %s '%s' is not a config of experiment '%s' (configs: %s)"):format(which,
        tostring(k), self.name, table.concat(self.keys, "; ")), 3)
    end
    return cfgs[i]
  end
  local ca, cb = config(a, "a"), config(b, "b")
  local metric = opts.metric or self.metric or names[1]
  local a_vals, b_vals, reps = paired_values(self, ca, cb, metric)
  if #a_vals < 2 then
    error(("exp:compare: '%s' and '%s' have %d replicate%s where both recorded metric '%s' (2 or more needed; "
      .. "metrics recorded: %s)"):format(ca.key, cb.key, #a_vals, #a_vals == 1 and "" or "s", tostring(metric),
      #names > 0 and table.concat(names, ", ") or "none"), 2)
  end
  return paired_tests({ a = ca.key, b = cb.key, metric = metric, n = #a_vals, replicates = reps }, a_vals, b_vals)
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

--- exp:report{write=true, plots=true, print=false, hide={}} -> Markdown text (printed when asked), summary;
-- writes the report, the comparison plot and the curves (when runs logged curves) to exp:report_files()'s
-- paths: <dir>/report.md, comparison.svg and curves.svg for the whole experiment. The table has a column
-- of means for every other recorded metric but those whose name matches a Lua pattern in hide (per-class
-- metrics, say: {"^recall_"}); the summary keeps them all.
function Experiment:report(opts)
  opts = opts or {}
  options.check(opts, "exp:report", { "write", "plots", "print", "hide" })
  local hide = opts.hide or {}
  if type(hide) ~= "table" then error("exp:report: hide must be a list of Lua patterns, got " .. type(hide), 2) end
  for i, p in ipairs(hide) do
    if type(p) ~= "string" then
      error(("exp:report: hide[%d] must be a string (a Lua pattern), got %s"):format(i, type(p)), 2)
    end
  end
  local s = self:summarize()
  local metric = s.metric
  local columns = {} -- the other metrics shown: not the main one, not hidden
  for _, n in ipairs(s.names) do
    local shown = n ~= metric
    for _, p in ipairs(hide) do if shown and n:find(p) then shown = false end end
    if shown then columns[#columns + 1] = n end
  end
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
  for _, n in ipairs(columns) do header[#header + 1] = n .. " (mean)" end
  header[#header + 1] = "failed"
  local trows = {}
  for i, r in ipairs(s.rows) do
    local cell = "-"
    if r.interval then
      cell = fmt_pm(r.interval.mean, r.interval.half)
    end
    local name = r.key .. marks(s, i, r.key, true)
    local row = { name, tostring(r.n), cell }
    for _, n in ipairs(columns) do row[#row + 1] = fmt4(r.means[n]) end
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
          fmt_pm(cmp.diff, cmp.diff_interval.half),
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
      write_atomic(files.comparison, plots.svg_comparison(s, self))
      local svg = plots.svg_curves(s, self)
      if svg then write_atomic(files.curves, svg) end
    end
  end
  return text, s
end

return Experiment
