--- maml_fashion.lua: MAML (Finn et al. 2017), first- and second-order, on
-- Fashion-MNIST's base/novel split (protocol 2 of
-- notes/small-sample-protocols.md).
--
--   kshot scripts/maml_fashion.lua                       # 1- and 5-shot, first and second order (~15 min)
--   kshot scripts/maml_fashion.lua --shots 1 --orders second --iterations 1000
--   kshot scripts/maml_fashion.lua --smoke               # tiny run for the regression spec (< 20 s)
--
-- Model: Conv-4 (kshot.fewshot.maml.conv4: 4 x [conv 3x3 32 ch, BN, ReLU,
-- max-pool 2], a 5-way linear head), batch norm with batch statistics in
-- meta-training and evaluation (no running statistics, as Finn et al.'s
-- code). Meta-training: 5-way K-shot episodes of the BASE classes' training
-- images (15 queries per class), --meta-batch episodes per Adam step; 10% of
-- each base class's training images are held out (stratified) for
-- validation: every --val-every iterations the model is scored on fixed
-- 5-way episodes of those held-out images, and the best checkpoint is kept
-- (never a novel class). First and second order start from the same
-- initial weights and see the same training episodes.
-- Test: the novel classes, support from their training images, 15 queries
-- per class from their TEST images, --episodes episodes drawn exactly as
-- kshot.fewshot.evaluate draws them for the same seed (so the figures pair
-- with results/transfer_fashion.md and with the raw-pixel L2N line printed
-- here); the same episodes for every order. Mean accuracy +- 95% interval =
-- 1.96 * sigma / sqrt(n) with the POPULATION sigma (ddof = 0) from 100
-- episodes on (Student t with the sample sd below).
-- Runtime (1 thread, 2 shared cores): the default run (400 iterations x 4
-- episodes for each of the 4 runs, 600 test episodes each) about 15 min.
local ks = require "kshot"
local cli = require "kshot.cli"
local maml = require "kshot.fewshot.maml"
local fewshot = require "kshot.fewshot"
local P = require "kshot.fewshot.pretrain"
local Bk = require "kshot.fewshot.backbone"

local function positive(v) if not (v > 0 and v < math.huge) then return "must be a finite number > 0" end end

local args = cli.new {
  name = "maml_fashion.lua",
  description = "MAML (first- and second-order) on Fashion-MNIST: Conv-4 meta-trained on the base classes'\n"
    .. "training images, evaluated on N-way K-shot episodes of the novel classes (queries from the test images).",
  options = {
    { "--base", "base classes (meta-training and validation)", type = "list:integer", default = { 0, 1, 2, 3, 4 },
      min = 0, max = 9, unique = true },
    { "--novel", "novel classes (the test episodes' classes)", type = "list:integer", default = { 5, 6, 7, 8, 9 },
      min = 0, max = 9, unique = true },
    { "--way", "classes per episode", type = "integer", default = 5, min = 2 },
    { "--shots", "K values", type = "list:integer", default = { 1, 5 }, min = 1, max = 500, unique = true },
    { "--orders", "MAML variants", type = "list:string", choices = { "first", "second" },
      default = { "first", "second" }, unique = true },
    { "--query", "queries per class (meta-training, validation and test)", type = "integer", default = 15, min = 1,
      max = 500 },
    { "--iterations", "meta-iterations (outer Adam steps) per run (default 400; 20 with --smoke)", type = "integer",
      min = 0 },
    { "--meta-batch", "episodes per meta-iteration (default 4; 2 with --smoke)", type = "integer", min = 1 },
    { "--meta-lr", "Adam learning rate of the outer loop", type = "number", default = 1e-3, check = positive },
    { "--inner-lr", "SGD learning rate of the inner loop", type = "number", default = 0.4, check = positive },
    { "--steps", "inner steps in meta-training", type = "integer", default = 1, min = 0 },
    { "--test-steps", "inner steps in validation and test (Finn et al.: more than in training)", type = "integer",
      default = 3, min = 0 },
    { "--hidden", "Conv-4 channels (default 32; 16 with --smoke)", type = "integer", min = 1 },
    { "--val-every", "validate every N iterations (default 50; 10 with --smoke)", type = "integer", min = 1 },
    { "--val-episodes", "fixed validation episodes (held-out base images; default 100; 10 with --smoke)",
      type = "integer", min = 1 },
    { "--holdout", "fraction of each base class's training images held out for validation", type = "number",
      default = 0.1, min = 0.001, max = 0.9 },
    { "--episodes", "test episodes (default 600; 30 with --smoke)", type = "integer", min = 1 },
    { "--seed", "seed of the weights, training and validation episodes, and the test episodes", type = "integer",
      default = 0 },
    { "--smoke", "a tiny run for the regression spec (changes the defaults marked above)", type = "flag" },
    { "--threads", "kshot threads", type = "integer", default = 1, min = 1, max = 256 },
    { "--path", "Fashion-MNIST folder (default: $KSHOT_FASHION_MNIST or /usr/share/datasets/fashion-mnist)",
      path = "in_dir" },
    { "--json", "also write the results as JSON to this file", path = "out_file" },
    { "-q --quiet", "no progress on stderr", type = "flag" },
  },
}:parse(arg)

-- --smoke changes the defaults only: values given on the command line win
local function default(v, normal, smoke) if v ~= nil then return v end return args.smoke and smoke or normal end
args.iterations = default(args.iterations, 400, 20)
args.meta_batch = default(args.meta_batch, 4, 2)
args.hidden = default(args.hidden, 32, 16)
args.val_every = default(args.val_every, 50, 10)
args.val_episodes = default(args.val_episodes, 100, 10)
args.episodes = default(args.episodes, 600, 30)

ks.set_num_threads(args.threads)
local function die(msg) cli.fail(args, "%s", msg) end
local function say(...) if not args.quiet then io.stderr:write(table.concat({ ... }, " "), "\n") end end
local clock = ks._bench_clock or os.clock

local seen = {}
for _, list in ipairs({ args.base, args.novel }) do
  for _, c in ipairs(list) do
    if seen[c] then die(("class %d is listed twice (base and novel must be disjoint)"):format(c)) end
    seen[c] = true
  end
end
if args.way > #args.novel then die(("--way %d is more than the %d novel classes"):format(args.way, #args.novel)) end
if args.way > #args.base then die(("--way %d is more than the %d base classes"):format(args.way, #args.base)) end

local trx, try = cli.call(args, ks.data.fashion_mnist, { split = "train", path = args.path })
local tex, tey = cli.call(args, ks.data.fashion_mnist, { split = "test", path = args.path })

-- uint8 [N, H, W] -> the model's input [N, 1, H, W], Fashion-MNIST's mean / sd
local MEAN, STD = 0.2860, 0.3530
local function prepare(images) return (images:float() / 255 - MEAN) / STD end
local function input(images) return prepare(images):unsqueeze(1) end

-- ------------------------------------------------------------ base classes: training / validation split
local gsplit = ks.Generator(args.seed + 17)
local train, held = P.stratified_holdout(try, args.base, args.holdout, gsplit)
-- per-class row lists (the base classes relabelled by P.episode in each episode)
local train_groups, held_groups = P.groups(train, #args.base), P.groups(held, #args.base)
local function base_task(groups, shot, g)
  local sr, sy, qr, qy = P.episode(groups, args.way, shot, args.query, g)
  return { input(trx:index_select(0, sr)), sy, input(trx:index_select(0, qr)), qy }
end
for k, c in ipairs(args.base) do
  if #held_groups[k] < 1 + args.query or #train_groups[k] < 1 + args.query then
    die(("base class %d has too few images for the validation split (--holdout %.3f)"):format(c, args.holdout))
  end
end

-- ------------------------------------------------------------ one meta-training run
local function meta_train(shot, order)
  ks.manual_seed(args.seed) -- the same initial weights for both orders
  local model = maml.conv4 { way = args.way, hidden = args.hidden, size = trx:size(1) }
  local opt = ks.optim.Adam(model:parameters(), { lr = args.meta_lr })
  local train_o = { steps = args.steps, inner_lr = args.inner_lr, first_order = order == "first" }
  local test_o = { steps = args.test_steps, inner_lr = args.inner_lr }
  -- fixed validation episodes (held-out base images): the same for every run of this K
  local gval, val = ks.Generator(args.seed + 29), {}
  for e = 1, args.val_episodes do val[e] = base_task(held_groups, shot, gval) end
  local gtrain = ks.Generator(args.seed + 1) -- the same training episodes for both orders
  local function validate() return maml.evaluate(model, val, test_o).mean end
  local best = { acc = validate(), iteration = 0, state = Bk.snapshot(model) }
  local history = { { 0, best.acc } }
  local t0, loss_sum, acc_sum, count = clock(), 0, 0, 0
  for it = 1, args.iterations do
    local tasks = {}
    for b = 1, args.meta_batch do tasks[b] = base_task(train_groups, shot, gtrain) end
    local r = maml.meta_step(model, tasks, opt, train_o)
    loss_sum, acc_sum, count = loss_sum + r.loss, acc_sum + r.accuracy, count + 1
    if it % args.val_every == 0 or it == args.iterations then
      local acc = validate()
      history[#history + 1] = { it, acc }
      if acc > best.acc then best = { acc = acc, iteration = it, state = Bk.snapshot(model) } end
      say(("  %d-shot %s order: iteration %d/%d, train query loss %.3f acc %.1f%%, validation %.2f%% (best %.2f%% "
        .. "at %d), %.0f s"):format(shot, order, it, args.iterations, loss_sum / count, acc_sum / count, acc,
        best.acc, best.iteration, clock() - t0))
      loss_sum, acc_sum, count = 0, 0, 0
    end
    if it % 10 == 0 then collectgarbage("step") end
  end
  Bk.restore(model, best.state)
  return model, { val = best.acc, best_iteration = best.iteration, seconds = clock() - t0, history = history }
end

-- ------------------------------------------------------------ test episodes (novel classes)
local function test_episodes(shot)
  return maml.protocol_episodes { support_pool = { images = trx, labels = try },
    query_pool = { images = tex, labels = tey }, classes = args.novel, way = args.way, shot = shot,
    query = args.query, seed = args.seed }
end

local function test(model, shot)
  local next_episode = test_episodes(shot)
  local every = math.max(1, args.episodes // 4)
  return maml.evaluate(model, function()
    local si, sl, qi, ql = next_episode()
    return input(si), sl, input(qi), ql
  end, { steps = args.test_steps, inner_lr = args.inner_lr, episodes = args.episodes,
    progress = function(e, n) if e % every == 0 then say(("    test %d/%d episodes"):format(e, n)) end end })
end

local function paired(a, b) -- b - a per episode
  local d = {}
  for i = 1, #a do d[i] = b[i] - a[i] end
  return require("kshot.fewshot.protocol").summary(d)
end

-- ------------------------------------------------------------ run
local T0 = clock()
local names = ks.data.FASHION_MNIST_CLASSES
local function class_names(list)
  local out = {}
  for i, c in ipairs(list) do out[i] = ("%d %s"):format(c, names[c + 1]) end
  return table.concat(out, ", ")
end
print(("# MAML on Fashion-MNIST: %d-way, %d queries per class, seed %d"):format(args.way, args.query, args.seed))
print(("base classes (meta-training, validation): %s\nnovel classes (test): %s"):format(class_names(args.base),
  class_names(args.novel)))
print(("Conv-4 (%d channels, batch statistics), inner SGD lr %g, %d step(s) in training, %d at validation / test; "
  .. "Adam %g, %d iterations x %d episodes; validation: %d fixed episodes of held-out base images (%.0f%%)")
  :format(args.hidden, args.inner_lr, args.steps, args.test_steps, args.meta_lr, args.iterations, args.meta_batch,
    args.val_episodes, 100 * args.holdout))
print(("test: %d episodes, support from the novel training images, queries from their test images; 95%% interval "
  .. "= 1.96 * sigma / sqrt(n), sigma = population sd (ddof = 0) from 100 episodes, Student t below"):format(
    args.episodes))
local out = { settings = { base = args.base, novel = args.novel, way = args.way, query = args.query,
  iterations = args.iterations, meta_batch = args.meta_batch, meta_lr = args.meta_lr, inner_lr = args.inner_lr,
  steps = args.steps, test_steps = args.test_steps, hidden = args.hidden, val_every = args.val_every,
  val_episodes = args.val_episodes, holdout = args.holdout, episodes = args.episodes, seed = args.seed },
  shots = {}, regression = {} }
for _, shot in ipairs(args.shots) do
  say(("%d-shot: raw-pixel L2N on the test episodes"):format(shot))
  local ref = fewshot.evaluate { method = "L2N", way = args.way, shot = shot, query = args.query,
    episodes = args.episodes, classes = args.novel, support_pool = { images = trx, labels = try },
    query_pool = { images = tex, labels = tey }, seed = args.seed }
  local rows = {}
  for _, order in ipairs(args.orders) do
    say(("%d-shot, %s-order MAML: meta-training"):format(shot, order))
    local model, info = meta_train(shot, order)
    local t1 = clock()
    local s = test(model, shot)
    rows[#rows + 1] = { order = order, test = s, info = info, diff = paired(ref.per_episode, s.per_episode),
      test_seconds = clock() - t1 }
  end
  print(("\n## %d-shot (%d test episodes)\n"):format(shot, args.episodes))
  print("| method | test accuracy | paired diff vs pixels L2N | validation (base) | best iteration | train s | test s |")
  print("|---|---|---|---|---|---|---|")
  print(("| pixels L2N (same episodes) | %.2f ± %.2f | (reference) | | | | |"):format(ref.mean, ref.ci95))
  local js = { pixels_L2N = { mean = ref.mean, ci95 = ref.ci95 } }
  for _, r in ipairs(rows) do
    print(("| MAML %s order | %.2f ± %.2f | %+.2f ± %.2f | %.2f | %d / %d | %.0f | %.0f |"):format(r.order,
      r.test.mean, r.test.ci95, r.diff.mean, r.diff.ci95, r.info.val, r.info.best_iteration, args.iterations,
      r.info.seconds, r.test_seconds))
    js["maml_" .. r.order] = { mean = r.test.mean, ci95 = r.test.ci95, sigma = r.test.sigma, sd = r.test.sd,
      diff_vs_pixels_L2N = { mean = r.diff.mean, ci95 = r.diff.ci95 }, validation = r.info.val,
      best_iteration = r.info.best_iteration, train_seconds = r.info.seconds, history = r.info.history }
    out.regression[("maml_%s_k%d_accuracy"):format(r.order, shot)] = { r.test.mean }
  end
  out.shots[tostring(shot)] = js
end
print(("\nelapsed %.0f s"):format(clock() - T0))

if args.json then
  local json = require "dkjson"
  local f = assert(io.open(args.json, "wb"))
  f:write(json.encode(out, { indent = true }))
  f:close()
end
