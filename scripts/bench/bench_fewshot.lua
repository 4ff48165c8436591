-- bench_fewshot.lua: episodes per second of each few-shot method at 5-way
-- 5-shot, 15 queries per class, on raw Fashion-MNIST pixels (novel classes
-- 5-9: support from the training images, queries from the test images).
--
--   build/kshot scripts/bench/bench_fewshot.lua [episodes=300] [lr_episodes=30] [reps=3]
--     [backbone=models/fashion_resnet_supervised.safetensors] [adapt_episodes=5]
-- (lr_episodes: for the linear probe, whose inner CV makes it ~100x slower;
-- then the same methods on the backbone's avgpool features, and the methods
-- that change the backbone per episode -- bn, finetune, lora -- on
-- adapt_episodes episodes; backbone= "" skips the backbone part)
--
-- cached=1: features of both pools computed once before timing (what
-- fewshot.evaluate does by default for frozen-feature methods); cached=0:
-- each episode extracts the features of its 100 images (cache = false).
-- Rate = (episodes - 1) / (time of `episodes` episodes - time of 1), so
-- per-call costs (restricting the pools; the CL2N base mean, once per call)
-- are not counted. Best of `reps` runs (the machine may be busy). Lines:
--   fewshot method=.. cached=0|1 episodes_per_s=..
-- A benchmark, never a test: nothing here fails on a slow figure.
local ks = require "kshot"
local fewshot = require "kshot.fewshot"

local opts = {episodes = "300", lr_episodes = "30", reps = "3", backbone = "models/fashion_resnet_supervised.safetensors",
  adapt_episodes = "5"}
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if k then opts[k] = v end
end
local reps = math.tointeger(tonumber(opts.reps))
local clock = ks._bench_clock

local trx, try = ks.data.fashion_mnist {split = "train"}
local tex, tey = ks.data.fashion_mnist {split = "test"}
local base = {images = trx, labels = try}
local common = {way = 5, shot = 5, query = 15, classes = {5, 6, 7, 8, 9}, support_pool = {images = trx, labels = try},
  query_pool = {images = tex, labels = tey}, base_pool = base, base_classes = {0, 1, 2, 3, 4}}

local extra = {} -- backbone options once the pixel part is done
local function run(method, cache, n)
  local o = {method = method, episodes = n, cache = cache, seed = 1}
  for k, v in pairs(common) do o[k] = v end
  for k, v in pairs(extra) do o[k] = v end
  return fewshot.evaluate(o)
end

local function best_time(method, cache, n)
  local best = math.huge
  for _ = 1, reps do
    local t0 = clock()
    run(method, cache, n)
    best = math.min(best, clock() - t0)
  end
  return best
end

local function measure(method, cached, episodes, label)
  local cache = cached and {} or false
  if cached then run(method, cache, 1) end -- fill the cache: features of both pools, base mean
  -- per-call fixed costs (restricting the pools to the classes; the base mean
  -- when uncached) are removed by timing n and 1 episodes
  local dt = best_time(method, cache, episodes) - best_time(method, cache, 1)
  local name = type(method) == "table" and ("%s(%d steps)"):format(method[1], method.steps) or method
  print(("fewshot features=%s method=%s cached=%d episodes=%d episodes_per_s=%.2f"):format(label, name,
    cached and 1 or 0, episodes, (episodes - 1) / dt))
  collectgarbage()
end

print(("# fewshot 5-way 5-shot raw pixels, best of %d; linear probe solver %s"):format(reps,
  fewshot.linear_probe_solver()))
local function frozen_methods(label)
  for _, method in ipairs({"UN", "L2N", "CL2N", "logreg"}) do
    local episodes = math.tointeger(tonumber(method == "logreg" and opts.lr_episodes or opts.episodes))
    for _, cached in ipairs({true, false}) do
      -- on a backbone, uncached CL2N would push the 30,000 base images through it per call
      if label == "pixels" or cached or method == "UN" or method == "L2N" then
        measure(method, cached, episodes, label)
      end
    end
  end
end

frozen_methods("pixels")
if opts.backbone ~= "" then
  local model, meta = fewshot.load_backbone(opts.backbone)
  extra = {backbone = model, mean = meta.mean, std = meta.std}
  print(("# backbone %s (avgpool features); bn, finetune and lora adapt it per episode"):format(opts.backbone))
  frozen_methods("backbone")
  local n = math.tointeger(tonumber(opts.adapt_episodes))
  for _, method in ipairs({"bn", {"finetune", steps = 25}, {"lora", steps = 20}}) do
    measure(method, false, n, "backbone")
  end
end
