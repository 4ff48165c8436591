--- kshot.fewshot.pretrain_run: one pretraining run of a small nn.resnet
-- (the engine of scripts/pretrain_backbone.lua; specs call it directly).
--
--   local R = require "kshot.fewshot.pretrain_run"
--   local model, info, o = R.run{method = "supervised", images = x, labels = y, base = {0, 1, 2, 3, 4},
--     layers = {1, 1, 1, 1}, width = 16, epochs = 7, seed = 0}
--   -- o: the options as run, every default filled in (what metadata needs)
--   R.save("models/b.safetensors", model, R.metadata(o, info, "kshot scripts/pretrain_backbone.lua ..."))
--
-- Methods (images uint8 [N, H, W] in 0..255, labels int64 [N]):
--   supervised  cross-entropy on the base classes' images (labels relabelled
--               0..#base-1), crop-with-padding + flip; 10% of each base class
--               held out (stratified): held-out accuracy after each epoch,
--               the best epoch's weights are kept (early stopping)
--   simclr      NT-Xent on two augmented views of ALL images (labels unused),
--               projection head Linear-ReLU-Linear on the pooled features
--               (dropped at save time)
--   rotation    4-way rotation prediction (0/90/180/270) on all images, fc
--               is the rotation head
--   protonet    episodic training on the base classes: way-way shot-shot
--               episodes with `query` queries per class, prototypes = mean
--               pooled features, logits = -squared euclidean distance
-- For simclr / rotation the held-out figure is the nearest-centroid
-- accuracy (L2N, centroids from half the held-out base images, scored on
-- the other half); for protonet, the accuracy on fixed held-out episodes;
-- both also pick the best epoch. simclr and protonet checkpoints carry a
-- placeholder fc of shape [1, 8 * width] (zeros: not trained, there for
-- the nn.resnet layout; use the avgpool features).
-- Optimiser: SGD (momentum 0.9, nesterov) with a per-step cosine schedule
-- from lr to 0. Seeded: ks.manual_seed(seed) for the weights, generators
-- derived from the seed for sampling and augmentation.
local ks = require "kshot"
local nn = require "kshot.nn"
local F = ks.functional
local P = require "kshot.fewshot.pretrain"
local options = require "kshot.options"

local R = {}

R.METHODS = {supervised = true, simclr = true, rotation = true, protonet = true}
R.DEFAULTS = {
  layers = {1, 1, 1, 1}, width = 16, epochs = 7, batch = 128, lr = 0.1, weight_decay = 5e-4, seed = 0,
  holdout = 0.1, temperature = 0.5, proj_dim = 64, way = 5, shot = 5, query = 10, episodes = 200,
  eval_episodes = 100, mean = 0.2860, std = 0.3530, base = {0, 1, 2, 3, 4},
}

local function fail(fmt, ...) options.raise("pretrain: " .. string.format(fmt, ...)) end

local function posint(o, k)
  local v = o[k]
  if math.type(v) ~= "integer" or v < 1 then fail("%s must be a positive integer, got %s", k, tostring(v)) end
end

local function posnum(o, k)
  local v = o[k]
  if type(v) ~= "number" or not (v > 0) then fail("%s must be a positive number, got %s", k, tostring(v)) end
end

-- the options without a default
local EXTRA_OPTS = {method = true, images = true, labels = true, images_per_epoch = true, max_steps = true,
  progress = true, log = true, holdout_max = true}

--- R.check(opts) -> opts with defaults filled (a copy); raises on bad options
-- (an unknown key: "pretrain: unknown option 'colour' (known: ...)", with the
-- nearest known name when one is close).
function R.check(opts)
  if type(opts) ~= "table" then fail("options table expected, got %s", type(opts)) end
  local o = {}
  for k, v in pairs(R.DEFAULTS) do o[k] = v end
  for k, v in pairs(opts) do
    if R.DEFAULTS[k] == nil and not EXTRA_OPTS[k] then
      -- kshot.options' wording: the known names (sorted) and the nearest one
      local known = {}
      for name in pairs(R.DEFAULTS) do known[name] = true end
      for name in pairs(EXTRA_OPTS) do known[name] = true end
      options.raise(options.message("pretrain", k, known))
    end
    o[k] = v
  end
  if not R.METHODS[o.method] then
    fail("method must be one of supervised, simclr, rotation, protonet; got %s", tostring(o.method))
  end
  if not ks.is_tensor(o.images) or o.images:dim() ~= 3 or o.images:dtype() ~= "uint8" then
    fail("images must be a uint8 tensor [N, H, W], got %s", ks.is_tensor(o.images)
      and ("[" .. table.concat(o.images:shape(), ", ") .. "]") or type(o.images))
  end
  if not ks.is_tensor(o.labels) or o.labels:dim() ~= 1 or o.labels:size(0) ~= o.images:size(0)
    or o.labels:dtype() ~= "int64" then
    fail("labels must be an int64 tensor [N] matching images [%d, ...]", o.images:size(0))
  end
  if type(o.layers) ~= "table" or #o.layers ~= 4 then fail("layers must be a list of 4 block counts") end
  for _, k in ipairs({"width", "epochs", "batch", "proj_dim", "way", "shot", "query", "episodes",
    "eval_episodes"}) do posint(o, k) end
  for _, k in ipairs({"lr", "temperature", "std"}) do posnum(o, k) end
  if type(o.weight_decay) ~= "number" or o.weight_decay < 0 then fail("weight_decay must be >= 0") end
  if type(o.holdout) ~= "number" or not (o.holdout > 0 and o.holdout < 1) then
    fail("holdout must be a fraction in (0, 1), got %s", tostring(o.holdout))
  end
  if type(o.base) ~= "table" or #o.base < 1 then fail("base must be a non-empty list of classes") end
  local seen = {}
  for _, c in ipairs(o.base) do
    if math.type(c) ~= "integer" then fail("base classes must be integers, got %s", tostring(c)) end
    if seen[c] then fail("base class %d is listed twice", c) end
    seen[c] = true
  end
  if o.method == "supervised" and #o.base < 2 then fail("supervised needs at least 2 base classes") end
  if o.method == "protonet" and o.way > #o.base then
    fail("protonet: way %d is larger than the %d base classes", o.way, #o.base)
  end
  if o.batch < 2 and o.method == "simclr" then fail("simclr needs batch >= 2 (negatives)") end
  return o
end

-- uint8 rows -> float32 [B, 1, H, W] in [0, 1]
local function to_input(images, rows)
  return (images:index_select(0, rows):float() / 255):unsqueeze(1)
end

local function normalize(o, x) return (x - o.mean) / o.std end

-- pooled features of uint8 rows, eval mode, no grad, in batches of 500
local function eval_features(o, model, rows)
  local parts = {}
  model:eval()
  ks.no_grad(function()
    local n = rows:size(0)
    for s = 0, n - 1, 500 do
      local r = rows:narrow(0, s, math.min(500, n - s))
      parts[#parts + 1] = P.features(model, normalize(o, to_input(o.images, r)))
    end
  end)
  model:train()
  return #parts == 1 and parts[1] or ks.cat(parts, 0)
end

local function I(t) return ks.tensor(t, {dtype = "int64"}) end

-- per-method state: extra modules, a step function and the held-out score
local SETUP = {}

function SETUP.supervised(o, model, split, A)
  local aug = A.compose({A.random_crop {padding = 2}, A.random_horizontal_flip {p = 0.5}}, {seed = o.seed + 1})
  local rows, labels = I(split.train.rows), I(split.train.labels)
  local held_rows, held_y = I(split.held.rows), I(split.held.labels)
  return {
    pool = rows:size(0),
    step = function(idx)
      local x = normalize(o, aug(to_input(o.images, rows:index_select(0, idx))))
      return F.cross_entropy(model(x), labels:index_select(0, idx))
    end,
    score = function()
      local f = eval_features(o, model, held_rows)
      local pred = ks.no_grad(function() return model.fc(f) end):argmax(1)
      return 100 * pred:eq(held_y):float():mean():item(), "held-out base accuracy"
    end,
  }
end

local function centroid_score(o, model, split)
  local held_rows, held_y = I(split.held.rows), I(split.held.labels)
  return function()
    return P.centroid_accuracy(eval_features(o, model, held_rows), held_y, #o.base),
      "held-out base nearest-centroid accuracy (L2N, half/half)"
  end
end

function SETUP.simclr(o, model, split)
  local c = 8 * o.width
  local head = nn.Sequential(nn.Linear(c, c), nn.ReLU(), nn.Linear(c, o.proj_dim))
  local views = P.two_views {seed = o.seed + 1}
  return {
    modules = {head},
    pool = o.images:size(0),
    step = function(idx)
      local v1, v2 = views(to_input(o.images, idx))
      local z = head(P.features(model, normalize(o, ks.cat({v1, v2}, 0))))
      local b = idx:size(0)
      return P.nt_xent(z:narrow(0, 0, b), z:narrow(0, b, b), o.temperature)
    end,
    score = centroid_score(o, model, split),
  }
end

function SETUP.rotation(o, model, split, A)
  local aug = A.compose({A.random_crop {padding = 2}}, {seed = o.seed + 1})
  local b = math.max(1, o.batch // 4) -- 4 rotations per image: batch images per step in all
  return {
    pool = o.images:size(0), per_step = b,
    step = function(idx)
      local xr, yr = P.rotations(aug(to_input(o.images, idx)))
      return F.cross_entropy(model(normalize(o, xr)), yr)
    end,
    score = centroid_score(o, model, split),
  }
end

function SETUP.protonet(o, model, split, A)
  local aug = A.compose({A.random_crop {padding = 2}, A.random_horizontal_flip {p = 0.5}}, {seed = o.seed + 1})
  local train_groups, held_groups = P.groups(split.train, #o.base), P.groups(split.held, #o.base)
  local g = ks.Generator(o.seed + 2)
  -- fixed held-out episodes (15 queries, or fewer when the held-out part is small)
  local held_eps, geval = {}, ks.Generator(o.seed + 3)
  local smallest = math.huge
  for _, gr in ipairs(held_groups) do smallest = math.min(smallest, #gr) end
  local hq = math.min(15, smallest - o.shot)
  if hq < 1 then fail("protonet: the held-out part has %d images in a class, too few for %d-shot episodes",
    smallest, o.shot) end
  for e = 1, o.eval_episodes do held_eps[e] = table.pack(P.episode(held_groups, o.way, o.shot, hq, geval)) end
  return {
    pool = nil, -- episodes, not batches
    step = function()
      local srows, sy, qrows, qy = P.episode(train_groups, o.way, o.shot, o.query, g)
      local x = normalize(o, aug(to_input(o.images, ks.cat({srows, qrows}, 0))))
      local f = P.features(model, x)
      local ns = srows:size(0)
      return (P.proto_loss(f:narrow(0, 0, ns), sy, f:narrow(0, ns, qrows:size(0)), qy, o.way))
    end,
    score = function()
      local correct, total = 0, 0
      model:eval()
      ks.no_grad(function()
        for _, ep in ipairs(held_eps) do
          local srows, sy, qrows, qy = ep[1], ep[2], ep[3], ep[4]
          local f = P.features(model, normalize(o, to_input(o.images, ks.cat({srows, qrows}, 0))))
          local ns = srows:size(0)
          local _, logits = P.proto_loss(f:narrow(0, 0, ns), sy, f:narrow(0, ns, qrows:size(0)), qy, o.way)
          correct = correct + logits:argmax(1):eq(qy):sum():item()
          total = total + qy:size(0)
        end
      end)
      model:train()
      return 100 * correct / total, ("held-out %d-way %d-shot episode accuracy (%d episodes, %d queries)")
        :format(o.way, o.shot, o.eval_episodes, hq)
    end,
  }
end

local function clock() return ks._bench_clock and ks._bench_clock() or os.time() end

--- R.run(opts) -> model (eval mode, best held-out weights), info
-- opts: see R.DEFAULTS and the header; images_per_epoch (default: the whole
-- pool; protonet: episodes per epoch instead), max_steps (stop after this
-- many steps in all: smoke tests), progress (bool), log(text).
-- info: held_out (best score), held_out_what, best_epoch, epochs, steps,
-- seconds, history {score per epoch}, split text.
function R.run(opts)
  local o = R.check(opts)
  local A = require "kshot.augment"
  local log = o.log or function() end
  ks.manual_seed(o.seed)
  local gsplit = ks.Generator(o.seed)
  local train, held = P.stratified_holdout(o.labels, o.base, o.holdout, gsplit)
  if o.holdout_max and #held.rows > o.holdout_max then -- a stratified subset (rows are grouped by class)
    local keep = {rows = {}, labels = {}}
    local step = #held.rows / o.holdout_max
    for i = 1, o.holdout_max do
      local j = math.floor((i - 1) * step) + 1
      keep.rows[i], keep.labels[i] = held.rows[j], held.labels[j]
    end
    held = keep
  end
  local split = {train = train, held = held}
  local nclasses = o.method == "supervised" and #o.base or o.method == "rotation" and 4 or 1
  local model = nn.resnet {layers = o.layers, width = o.width, num_classes = nclasses, in_channels = 1,
    small_input = true}
  if nclasses == 1 then ks.no_grad(function() model.fc.weight:zero_(); model.fc.bias:zero_() end) end
  local S = SETUP[o.method](o, model, split, A)
  local params = {}
  for _, p in ipairs(model:named_parameters()) do
    if not (nclasses == 1 and p[1]:match("^fc%.")) then params[#params + 1] = p[2] end
  end
  for _, m in ipairs(S.modules or {}) do for _, p in ipairs(m:parameters()) do params[#params + 1] = p end end
  local optim = require "kshot.optim"
  local opt = optim.SGD(params, {lr = o.lr, momentum = 0.9, nesterov = true, weight_decay = o.weight_decay})
  local per_step = S.per_step or o.batch
  local steps_per_epoch
  if S.pool then
    local n = math.min(o.images_per_epoch or S.pool, S.pool)
    steps_per_epoch = math.max(1, n // per_step)
  else
    steps_per_epoch = o.episodes
  end
  local total = steps_per_epoch * o.epochs
  if o.max_steps then total = math.min(total, o.max_steps) end
  local sched = require("kshot.optim.lr").CosineAnnealingLR(opt, {T_max = total})
  local gbatch = ks.Generator(o.seed + 4)
  local bar = o.progress and require("kshot.progress").new {total = total, label = o.method} or nil
  local t0 = clock()
  local best, best_state, best_epoch, history, what = -math.huge, nil, 0, {}, nil
  local step, running, count = 0, 0, 0
  model:train()
  for epoch = 1, o.epochs do
    local perm = S.pool and ks.randperm(S.pool, {generator = gbatch}) or nil
    for s = 1, steps_per_epoch do
      if step >= total then break end
      local idx = perm and perm:narrow(0, (s - 1) * per_step, per_step) or nil
      local loss = S.step(idx)
      opt:zero_grad()
      loss:backward()
      opt:step()
      sched:step()
      step = step + 1
      running, count = running + loss:item(), count + 1
      if bar then bar:update(step, {loss = running / count}) end
      if count == 50 then running, count = 0, 0 end
    end
    local score
    score, what = S.score()
    history[epoch] = score
    log(("epoch %d: %s %.2f%% (%.0f s)"):format(epoch, what, score, clock() - t0))
    if bar then bar:log(("epoch %d: held-out %.2f%%"):format(epoch, score)) end
    if score > best then
      best, best_epoch = score, epoch
      best_state = require("kshot.fewshot.backbone").snapshot(model)
    end
    if step >= total then break end
  end
  if bar then bar:finish() end
  require("kshot.fewshot.backbone").restore(model, best_state)
  model:eval()
  local info = {held_out = best, held_out_what = what, best_epoch = best_epoch, epochs = #history, steps = step,
    seconds = clock() - t0, history = history, steps_per_epoch = steps_per_epoch,
    train_images = S.pool, held_images = #held.rows}
  return model, info, o
end

--- R.metadata(o, info, command) -> table of strings for the safetensors header.
function R.metadata(o, info, command)
  local base = table.concat(o.base, ",")
  local split = (o.method == "simclr" or o.method == "rotation")
    and ("all train images, unlabeled (held-out score on base classes " .. base .. ")")
    or ("base classes " .. base .. " (training images, 10% held out); novel classes: the others")
  local hist = {}
  for i, v in ipairs(info.history) do hist[i] = ("%.2f"):format(v) end
  return {
    method = o.method, split = split, base = base, epochs = tostring(info.epochs),
    best_epoch = tostring(info.best_epoch), steps = tostring(info.steps), seed = tostring(o.seed),
    held_out_accuracy = ("%.2f"):format(info.held_out), held_out_what = info.held_out_what,
    held_out_history = table.concat(hist, ","), layers = table.concat(o.layers, ","), width = tostring(o.width),
    mean = tostring(o.mean), std = tostring(o.std), seconds = ("%.0f"):format(info.seconds),
    fc = (o.method == "simclr" or o.method == "protonet") and "placeholder (zeros, not trained): use avgpool features"
      or (o.method == "rotation" and "rotation head (4 classes: 0/90/180/270 degrees)" or "base-class head"),
    command = command or "",
  }
end

--- R.save(path, model, meta): the ResNet's state_dict (no projection head) as safetensors.
function R.save(path, model, meta)
  local sd, out = model:state_dict(), {}
  for k, t in pairs(sd) do out[k] = t:contiguous() end
  ks.save(path, out, meta)
end

return R
