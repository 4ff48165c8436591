--- spec/helpers/regression.lua: scripted regression tests of experiments.
--
-- A recipe runs an experiment at reduced size with fixed seeds and returns
-- its metrics (in points, e.g. accuracy in %). Its baseline lives in
-- spec/baselines.json: per recipe and metric the values over the seeds,
-- their mean and sd (sample, ddof = 1).
-- A check passes when |mean(current) - mean(baseline)| <= tolerance, with
--   tolerance = max(2 points, 3 * sd of the baseline values across seeds)
-- ("2 points" is the floor for percentages; a recipe sets another floor per
-- metric with points = {log_loss = 0.05}, stored in the baseline entry)
-- (two-sided: an unexplained improvement also asks for a deliberate
-- re-record). Re-record on purpose with `make baselines`
-- (scripts/record_baselines.lua), which prints the diff.
--
--   local regression = require "spec.helpers.regression"
--   regression.assert_stable("linear_sgd_fashion")            -- in a busted it()
--   local ok, report = regression.check("linear_sgd_fashion", values)
--
-- Subprocess recipes run the host given by $KSHOT_BIN (set by spec/run_all.sh),
-- else build/kshot.
local json = require "dkjson"

local M = {}

M.BASELINES = os.getenv("KSHOT_BASELINES") or "spec/baselines.json"
M.POINTS = 2 -- minimum tolerance, in the metric's points

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
M.mean, M.sd = mean, sd

--- tolerance of a metric from its baseline values
function M.tolerance(values, points)
  return math.max(points or M.POINTS, 3 * sd(values))
end

-- ------------------------------------------------------------ recipes
local function host()
  return os.getenv("KSHOT_BIN") or "build/kshot"
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

--- The host interpreter used for scripts.
M.host = host

--- Run a script under the host with extra arguments and `--json <tmp>`; returns the decoded JSON.
function M.run_script(script, args)
  local out = os.tmpname()
  local parts = { shell_quote(host()), shell_quote(script) }
  for _, a in ipairs(args or {}) do parts[#parts + 1] = shell_quote(a) end
  parts[#parts + 1] = "--json"
  parts[#parts + 1] = shell_quote(out)
  local cmd = table.concat(parts, " ") .. " >/dev/null 2>" .. shell_quote(out .. ".err")
  local ok = os.execute(cmd)
  local f = io.open(out, "rb")
  local text = f and f:read("a")
  if f then f:close() end
  local ef = io.open(out .. ".err", "rb")
  local err = ef and ef:read("a") or ""
  if ef then ef:close() end
  os.remove(out)
  os.remove(out .. ".err")
  if not ok or not text or text == "" then
    error(("regression: '%s' failed: %s"):format(cmd, err:sub(-2000)), 0)
  end
  local v, _, jerr = json.decode(text)
  if not v then error(("regression: bad JSON from %s: %s"):format(script, jerr), 0) end
  return v
end

-- The in-process reference recipe: softmax regression (nn.Linear) on K = 50
-- Fashion-MNIST images per class, full-batch SGD (lr 0.2) for `steps` steps,
-- accuracy (%) and mean test log-loss on the first 2,000 test images.
local fashion_cache
local function linear_sgd_fashion(seed, opts)
  local ks = require "kshot"
  local nn = require "kshot.nn"
  local optim = require "kshot.optim"
  local metrics = require "kshot.metrics"
  local F = ks.functional
  if not fashion_cache then
    local trx, try = ks.data.fashion_mnist { split = "train" }
    local tex, tey = ks.data.fashion_mnist { split = "test" }
    fashion_cache = { trx = trx, try = try, tex = tex:narrow(0, 0, 2000):float():div(255):view(-1, 784),
      tey = tey:narrow(0, 0, 2000) }
  end
  local d = fashion_cache
  ks.manual_seed(seed)
  local idx = ks.data.kshot_indices(d.try, 50, { seed = seed })
  local x = d.trx:index_select(0, idx):float():div(255):view(-1, 784)
  local y = d.try:index_select(0, idx)
  local model = nn.Linear(784, 10)
  local opt = optim.SGD(model:parameters(), { lr = 0.2 })
  for _ = 1, opts.steps or 40 do
    opt:zero_grad()
    F.cross_entropy(model(x), y):backward()
    opt:step()
  end
  local logits = model(d.tex):detach()
  return { accuracy = 100 * metrics.accuracy(logits, d.tey),
    log_loss = metrics.log_loss(F.softmax(logits, 1), d.tey) }
end

-- few-shot transfer at reduced size: 5-way 1-shot on the novel classes 5-9, 200 episodes per seed (seeds 0-2),
-- support from 300 training images per class, queries from 100 test images per class, features cached per
-- backbone; raw-pixel L2N and logreg, and the committed protonet backbone's layer3:flat features with L2N,
-- logreg and BN re-estimation
local function transfer_fashion(seed, opts)
  local ks = require "kshot"
  local fewshot = require "kshot.fewshot"
  local d = M._transfer_data
  if not d then
    local trx, try = ks.data.fashion_mnist { split = "train" }
    local tex, tey = ks.data.fashion_mnist { split = "test" }
    local function take(x, y, per)
      local idx, count = {}, {}
      local ys = y:totable()
      for i, c in ipairs(ys) do
        if c >= 5 and (count[c] or 0) < per then count[c] = (count[c] or 0) + 1; idx[#idx + 1] = i - 1 end
      end
      local it = ks.tensor(idx, "int64")
      return { images = x:index_select(0, it):contiguous(), labels = y:index_select(0, it):contiguous() }
    end
    local model, meta = fewshot.load_backbone("models/fashion_resnet_protonet.safetensors")
    d = { support = take(trx, try, 300), query = take(tex, tey, 100), model = model, meta = meta, cache = {} }
    M._transfer_data = d
  end
  local common = { way = 5, shot = 1, query = 15, episodes = opts.episodes or 200, classes = { 5, 6, 7, 8, 9 },
    support_pool = d.support, query_pool = d.query, seed = seed }
  local out = {}
  local function run(methods, extra)
    local o = { methods = methods }
    for k, v in pairs(common) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    local r = fewshot.compare(o)
    for _, l in ipairs(r.order) do out[l:gsub("[^%w]+", "_")] = r.results[l].mean end
  end
  run({ { "L2N", label = "pixels L2N" }, { "logreg", label = "pixels logreg" } })
  run({ { "L2N", label = "protonet L2N" }, { "logreg", label = "protonet logreg" }, { "bn", label = "protonet bn" } },
    { backbone = d.model, layer = "layer3", mean = d.meta.mean, std = d.meta.std, cache = d.cache })
  return out
end

--- Registered recipes: name -> {seeds = {...}, run = function(seed, opts) -> metrics} or
-- {run_all = function(opts) -> {metric -> values over the seeds}} for scripts that loop themselves.
M.recipes = {
  linear_sgd_fashion = { seeds = { 0, 1, 2, 3, 4 }, run = linear_sgd_fashion, points = { log_loss = 0.05 } },
  fewshot_fashion = {
    -- the main job at reduced size: K = 50 (a stable draw), 5 replicates, 1000 test images, 30 steps, the smoke
    -- recipes (plain SGD and AdamW), one thread; opts.steps changes the steps (half = the subtle regression)
    run_all = function(opts)
      return M.run_script("scripts/fewshot_fashion.lua", opts.args or
        { "--k", "50", "--seeds", "5", "--test-size", "1000", "--steps", tostring(opts.steps or 30), "--preset",
          "smoke", "--no-records", "--threads", "1", "--quiet" }).regression
    end,
  },
  transfer_fashion = { seeds = { 0, 1, 2 }, run = transfer_fashion },
  optimizers = {
    run_all = function(opts)
      return M.run_script("scripts/optimizers.lua", opts.args or { "--smoke", "--no-records", "--quiet" }).regression
    end,
  },
  -- own_data.lua on a CSV made of the first 1,000 Fashion-MNIST test images (784 pixel columns and a class-name
  -- column): --smoke (K = 5, 40 steps) with 5 replicates, one thread; opts.steps changes the mlp's steps (2: the
  -- regression spec's "caught" case)
  own_data = {
    run_all = function(opts)
      local csv = os.tmpname()
      require("spec.helpers.own_data_fixture").fashion_csv(csv, 1000)
      local ok, res = pcall(M.run_script, "scripts/own_data.lua", opts.args or { "--csv", csv, "--label", "label",
        "--smoke", "--seeds", "5", "--steps", tostring(opts.steps or 40), "--no-records", "--threads", "1", "--quiet" })
      os.remove(csv)
      if not ok then error(res, 0) end
      return res.regression
    end,
  },
  -- MAML at reduced size: maml_fashion.lua --smoke (Conv-4 with 16 channels, 20 meta-iterations x 2 episodes for
  -- K = 1 and 5, first and second order, 30 test episodes), one thread; opts.iterations changes the
  -- meta-iterations (0: no meta-training, the regression spec's "caught" case)
  maml_fashion = {
    run_all = function(opts)
      return M.run_script("scripts/maml_fashion.lua", opts.args or
        { "--smoke", "--threads", "1", "--quiet", "--iterations", tostring(opts.iterations or 20) }).regression
    end,
  },
}

--- regression.measure(name[, opts]) -> {metric -> values over the seeds}
-- opts are passed to the recipe (e.g. {steps = 20} to simulate a regression).
function M.measure(name, opts)
  local r = M.recipes[name]
  if not r then error(("regression: unknown recipe '%s'"):format(tostring(name)), 2) end
  opts = opts or {}
  if r.run_all then return r.run_all(opts) end
  local values = {}
  for i, seed in ipairs(r.seeds) do
    local m = r.run(seed, opts)
    for k, v in pairs(m) do
      values[k] = values[k] or {}
      values[k][i] = v
    end
  end
  return values
end

-- ------------------------------------------------------------ baselines file
function M.load(path)
  local f = io.open(path or M.BASELINES, "rb")
  if not f then return {} end
  local text = f:read("a")
  f:close()
  local t, _, err = json.decode(text)
  if not t then error(("regression: %s is not valid JSON: %s"):format(path or M.BASELINES, err), 0) end
  return t
end

local function sorted(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

function M.encode(t)
  local order = {}
  local seen = {}
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

--- the baseline entry of measured values; points = {metric = minimum tolerance} (default 2)
function M.entry(values, points)
  local e = {}
  for _, k in ipairs(sorted(values)) do
    local vs = values[k]
    local pt = points and points[k] or M.POINTS
    e[k] = { values = vs, mean = mean(vs), sd = sd(vs), points = pt, tolerance = M.tolerance(vs, pt) }
  end
  return e
end

function M.save(t, path)
  local p = path or M.BASELINES
  local f = assert(io.open(p .. ".tmp", "wb"))
  f:write(M.encode(t))
  f:close()
  assert(os.rename(p .. ".tmp", p))
end

-- ------------------------------------------------------------ checking
--- regression.check(name, values[, baselines]) -> ok, report text
function M.check(name, values, baselines)
  baselines = baselines or M.load()
  local base = baselines[name]
  if not base then
    return false, ("regression: no baseline for '%s' in %s (record it with `make baselines`)"):format(name,
      M.BASELINES)
  end
  local ok, lines = true, {}
  for _, metric in ipairs(sorted(base)) do
    local b, cur = base[metric], values[metric]
    if not cur or #cur == 0 then
      ok = false
      lines[#lines + 1] = ("%s.%s: not measured"):format(name, metric)
    else
      local tol = M.tolerance(b.values, b.points)
      local m = mean(cur)
      local diff = m - b.mean
      local pass = math.abs(diff) <= tol
      ok = ok and pass
      lines[#lines + 1] = ("%s %s.%s: %.3f vs baseline %.3f (sd %.3f over %d seeds), diff %+.3f, tolerance %.3f%s")
        :format(pass and "ok  " or "FAIL", name, metric, m, b.mean, sd(b.values), #b.values, diff, tol,
          pass and "" or (diff < 0 and "  <- dropped" or "  <- rose: re-record on purpose if intended"))
    end
  end
  return ok, table.concat(lines, "\n")
end

--- regression.assert_stable(name[, opts]): measure and check; raises with the report on failure
function M.assert_stable(name, opts)
  local ok, report = M.check(name, M.measure(name, opts))
  if not ok then error("regression detected:\n" .. report, 2) end
  return report
end

--- regression.diff(old, new) -> text of what changed between two baselines tables
function M.diff(old, new)
  local lines = {}
  local names = {}
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
        local changed = a.mean ~= b.mean or a.sd ~= b.sd
        lines[#lines + 1] = ("%s %s.%s: mean %.3f -> %.3f (%+.3f), sd %.3f -> %.3f"):format(changed and "~" or "=",
          name, m, a.mean, b.mean, b.mean - a.mean, a.sd, b.sd)
      elseif b then
        lines[#lines + 1] = ("+ %s.%s: mean %.3f, sd %.3f"):format(name, m, b.mean, b.sd)
      else
        lines[#lines + 1] = ("- %s.%s"):format(name, m)
      end
    end
  end
  return table.concat(lines, "\n")
end

return M
