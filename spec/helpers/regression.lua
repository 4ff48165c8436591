--- spec/helpers/regression.lua: this repository's regression recipes.
--
-- The machinery (tolerance = max(2 points, 3 sd of the baseline across
-- seeds), check, the baselines file, diff, run_script) is the public module
-- kshot.regression; this file only holds the recipes that pin kshot's own
-- experiments and re-exports the module's functions, so a spec writes
--
--   local regression = require "spec.helpers.regression"
--   regression.assert_stable("linear_sgd_fashion")            -- in a busted it()
--   local ok, report = regression.check("linear_sgd_fashion", values[, baselines_table])
--
-- Baselines: spec/baselines.json ($KSHOT_BASELINES); re-record on purpose
-- with `make baselines` (scripts/record_baselines.lua), which prints the diff.
-- Subprocess recipes run the host given by $KSHOT_BIN (set by spec/run_all.sh),
-- else the kshot running the spec.
require "kshot" -- puts the kshot.* Lua modules on package.path
local R = require "kshot.regression"

local M = setmetatable({}, { __index = R }) -- tolerance, entry, diff, encode, mean, sd, host, run_script, ...

M.BASELINES = R.path()
M.POINTS = R.POINTS

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
      return R.run_script("scripts/fewshot_fashion.lua", opts.args or
        { "--k", "50", "--seeds", "5", "--test-size", "1000", "--steps", tostring(opts.steps or 30), "--preset",
          "smoke", "--no-records", "--threads", "1", "--quiet" }).regression
    end,
  },
  transfer_fashion = { seeds = { 0, 1, 2 }, run = transfer_fashion },
  optimizers = {
    run_all = function(opts)
      return R.run_script("scripts/optimizers.lua", opts.args or { "--smoke", "--no-records", "--quiet" }).regression
    end,
  },
  -- own_data.lua on a CSV made of the first 1,000 Fashion-MNIST test images (784 pixel columns and a class-name
  -- column): --smoke (K = 5, 40 steps, the default --scale auto) with 5 replicates, one thread; opts.steps
  -- changes the mlp's steps (2: the regression spec's "caught" case)
  own_data = {
    run_all = function(opts)
      local csv = os.tmpname()
      require("spec.helpers.own_data_fixture").fashion_csv(csv, 1000)
      local ok, res = pcall(R.run_script, "scripts/own_data.lua", opts.args or { "--csv", csv, "--label", "label",
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
      return R.run_script("scripts/maml_fashion.lua", opts.args or
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
  -- the recipes seed themselves: the global RNG is left as it was
  return R.measure(function(seed) return r.run(seed, opts) end, { seeds = r.seeds, manual_seed = false })
end

--- regression.load([path]) -> the baselines table (spec/baselines.json by default)
function M.load(path) return (R.load(path or M.BASELINES)) end

--- regression.save(t[, path])
function M.save(t, path) return R.save(t, path or M.BASELINES) end

--- regression.check(name, values[, baselines]) -> ok, report text (baselines: a loaded table, default the file)
function M.check(name, values, baselines)
  local ok, report = R.check(name, values, { baselines = baselines or M.BASELINES })
  if not ok and report:match("^regression: no baseline") then report = report .. "; here: `make baselines`" end
  return ok, report
end

--- regression.assert_stable(name[, opts]): measure and check; raises with the report on failure
function M.assert_stable(name, opts)
  local ok, report = M.check(name, M.measure(name, opts))
  if not ok then error("regression detected:\n" .. report, 2) end
  return report
end

return M
