--- transfer_fashion.lua: few-shot transfer on Fashion-MNIST (protocol 2 of
-- notes/small-sample-protocols.md): N-way K-shot episodes on the NOVEL
-- classes, support from their training images, 15 queries per class from
-- their test images, the same episodes for every method (paired), mean
-- accuracy with 95% intervals (kshot.stats.interval, method "auto": Student
-- t with the sample sd below 100 episodes, normal with the population sd
-- from 100; no interval, "n/a", for fewer than 2 episodes).
--
--   kshot scripts/transfer_fashion.lua                         # pixels + the committed backbones, 600 episodes
--   kshot scripts/transfer_fashion.lua --no-backbones          # raw-pixel methods only (about 2 minutes)
--   kshot scripts/transfer_fashion.lua --backbone ckpt.safetensors --layers 2,2,2,2 --width 16
--   kshot scripts/transfer_fashion.lua --base 0,1,2,3,4,5,6 --novel 7,8,9 --episodes 100
--
-- Raw-pixel baselines: nearest centroid UN / L2N / CL2N (CL2N centres on the
-- mean of the base classes' training images) and logistic regression on
-- pixels. Backbones: by default the committed checkpoints of models/
-- (pretrained by scripts/pretrain_backbone.lua on the default split's base
-- classes 0-4, or on unlabeled training images; models/README.md), or the
-- --backbone list (safetensors of nn.resnet, torchvision names). For each:
-- the same methods on its features (--feature-layers: "layer3:flat", the
-- flattened 64 x 7 x 7 map of the third stage, and "avgpool", the pooled
-- 128-d output of the last stage, by default: the table shows that the
-- earlier, spatial features transfer to the novel classes and the last
-- pooled ones do not), logistic regression on L2-normalised features, the
-- cosine classifier (Baseline++) and batch-norm re-estimation; fine-tuning runs on the first --ft-backbones of them (it
-- costs about 1-3 s per episode), with its step count chosen on BASE-class
-- episodes (never on queries) unless --ft-steps fixes it, on the first
-- --ft-episodes episodes (the same episodes as everyone's first ones:
-- episode e depends only on the seed and e).
-- Records: each finished part (one K and the pixel methods, one backbone's
-- feature layer, or its fine-tuning and LoRA) is saved in
-- <--root>/transfer_fashion.json under a key naming all it depends on, so a
-- run stopped part-way (Ctrl-C) and started again with the same options
-- resumes and prints what an uninterrupted run prints (--fresh re-runs the
-- parts, --no-records saves nothing).
-- The committed backbones were pretrained on base classes 0-4: with another
-- split they have seen novel-class labels (supervised / protonet) -- pass
-- your own --backbone then.
-- Runtime (2 cores shared with other jobs, 1 thread): the default run
-- (600 episodes, K = 1 and 5, 3 backbones x 2 feature layers, fine-tuning of
-- the first backbone on 100 episodes) takes 1.5-2 hours -- the 1-shot
-- frozen-feature part took 36 min, 5-shot is slower (the linear probe's
-- inner cross-validation); --no-backbones about 2 minutes (136 s); one backbone,
-- one layer, --ft-backbones 0: about 15 min. Figures:
-- results/transfer_fashion.md.
local ks = require "kshot"
local fewshot = require "kshot.fewshot"
local cli = require "kshot.cli"
local stats = require "kshot.stats"

local args = cli.new {
  name = "transfer_fashion.lua",
  description = "Few-shot transfer on Fashion-MNIST: N-way K-shot episodes on the novel classes,\n"
    .. "raw-pixel baselines, and on the committed backbones of models/ (or --backbone checkpoints) frozen\n"
    .. "features, BN re-estimation, fine-tuning and LoRA adapters.",
  options = {
    { "--base", "base classes", type = "list:integer", default = { 0, 1, 2, 3, 4 }, min = 0, max = 9, unique = true },
    { "--novel", "novel classes (the episodes' classes)", type = "list:integer", default = { 5, 6, 7, 8, 9 }, min = 0,
      max = 9, unique = true },
    { "--way", "classes per episode (default: min(5, number of novel classes))", type = "integer", min = 2 },
    { "--shots", "K values (a class has 6,000 training images)", type = "list:integer", default = { 1, 5 }, min = 1,
      max = 6000, unique = true },
    { "--query", "queries per class (from the test images: 1,000 per class)", type = "integer", default = 15,
      min = 1, max = 1000 },
    { "--episodes", "episodes per K", type = "integer", default = 600, min = 1 },
    { "--seed", "episode seed", type = "integer", default = 0 },
    { "--backbone", "nn.resnet checkpoints (safetensors, torchvision names; default: models/fashion_resnet_*)",
      type = "list:string", unique = true },
    { "--no-backbones", "raw-pixel methods only", type = "flag" },
    { "--ft-backbones", "fine-tune (and LoRA-adapt) the first N backbones (0: neither)", type = "integer", default = 1,
      min = 0 },
    { "--layers", "resnet blocks per stage (default: checkpoint metadata, else 2,2,2,2)", type = "list:integer",
      min = 1 },
    { "--width", "resnet width (default: checkpoint metadata, else conv1.weight's rows)", type = "integer", min = 1 },
    { "--feature-layers", "layers to take features from; name (global average pool) or name:flat (flattened "
      .. "[C, H, W] map)", type = "list:string", default = { "layer3:flat", "avgpool" }, unique = true },
    { "--threads", "kshot threads", type = "integer", default = 1, min = 1, max = 256 },
    { "--mean", "input normalisation mean (default: metadata, else 0.2860)", type = "number" },
    { "--std", "input normalisation sd (default: metadata, else 0.3530)", type = "number" },
    { "--ft-steps", "fine-tuning steps (default: chosen on base-class episodes from 10,25,50)", type = "integer",
      min = 1 },
    { "--ft-train", "what fine-tuning trains: all, or sub-modules (e.g. layer4)", type = "list:string",
      default = { "all" }, unique = true },
    { "--ft-episodes", "episodes for fine-tuning (the first ones)", type = "integer", default = 100, min = 1 },
    { "--tune-episodes", "base-class episodes to choose the fine-tuning steps", type = "integer", default = 10,
      min = 1 },
    { "--path", "Fashion-MNIST folder (default: $KSHOT_FASHION_MNIST or /usr/share/datasets/fashion-mnist)",
      path = "in_dir" },
    { "--json", "also write the results as JSON to this file (keys sorted: the same results give the same bytes)",
      path = "out_file" },
    { "--root", "folder of the records: each finished part (one K and the pixels, one backbone's feature layer or "
      .. "its fine-tuning) is saved there, so a stopped run started again with the same options resumes",
      default = "runs", path = "dir" },
    { "--fresh", "re-run the parts already recorded", type = "flag" },
    { "--no-records", "record nothing (no resume)", type = "flag" },
    { "-q --quiet", "no progress on stderr", type = "flag" },
  },
}:parse(arg)

ks.set_num_threads(args.threads)
local function die(msg) cli.fail(args, "%s", msg) end
local function say(...) if not args.quiet then io.stderr:write(table.concat({ ... }, " "), "\n") end end

-- ------------------------------------------------------------ the split
local seen = {}
for _, list in ipairs({ args.base, args.novel }) do
  for _, c in ipairs(list) do
    if c < 0 or c > 9 then die(("class %d is not a Fashion-MNIST class (0..9)"):format(c)) end
    if seen[c] then die(("class %d is listed twice (base and novel must be a partition)"):format(c)) end
    seen[c] = true
  end
end
if #args.novel < 2 then die("at least 2 novel classes are needed") end
if #args.base < 1 then die("at least 1 base class is needed (CL2N centres on the base classes)") end
local way = args.way or math.min(5, #args.novel)
if way < 2 or way > #args.novel then die(("--way must be in 2..%d"):format(#args.novel)) end
if args.episodes < 1 or args.query < 1 then die("--episodes and --query must be >= 1") end
for _, k in ipairs(args.shots) do if k < 1 then die("every K must be >= 1") end end
for _, spec in ipairs(args.feature_layers) do
  if not (spec:match("^[^:]+$") or spec:match("^[^:]+:flat$")) then
    die("--feature-layers: '" .. spec .. "' is not name or name:flat")
  end
end

local names = ks.data.FASHION_MNIST_CLASSES
local function class_names(list)
  local out = {}
  for i, c in ipairs(list) do out[i] = ("%d %s"):format(c, names[c + 1]) end
  return table.concat(out, ", ")
end

local trx, try = cli.call(args, ks.data.fashion_mnist, { split = "train", path = args.path })
local tex, tey = cli.call(args, ks.data.fashion_mnist, { split = "test", path = args.path })
local support_pool, query_pool = { images = trx, labels = try }, { images = tex, labels = tey }
local base_pool = { images = trx, labels = try }

-- ------------------------------------------------------------ the backbones
-- the committed checkpoints, next to this script: ../models/
local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local DEFAULT_BACKBONES = { "fashion_resnet_supervised", "fashion_resnet_protonet", "fashion_resnet_simclr" }
local paths = args.backbone
if not paths and not args.no_backbones then
  paths = {}
  for _, name in ipairs(DEFAULT_BACKBONES) do
    local p = script_dir .. "/../models/" .. name .. ".safetensors"
    local f = io.open(p, "rb")
    if f then f:close(); paths[#paths + 1] = p else say("note: " .. p .. " not found, skipped") end
  end
end
local backbones = {} -- {model=, meta=, name=, path=}
for _, path in ipairs(args.no_backbones and {} or paths) do
  local ok, model, meta = pcall(fewshot.load_backbone, path, { layers = args.layers, width = args.width,
    mean = args.mean, std = args.std })
  if not ok then -- the message without the Lua position of the loader ("...backbone.lua:278: ")
    die(tostring(model):gsub("^[^\n]-%.lua:%d+: ", "") .. "\n(--layers / --width override the checkpoint's metadata)")
  end
  local name = meta.method or path:match("([^/]+)%.safetensors$") or path
  for _, b in ipairs(backbones) do if b.name == name then name = path:match("([^/]+)%.safetensors$") or path end end
  -- every feature layer must exist before any episode runs (not after the pixel baselines)
  local layer_names = {}
  for _, nm in ipairs(model:named_modules()) do layer_names[nm[1]] = true end
  for _, spec in ipairs(args.feature_layers) do
    local layer = spec:match("^([^:]+)")
    if not layer_names[layer] then
      die(("--feature-layers: %s has no layer '%s' (e.g. layer1..layer4, avgpool)"):format(path, layer))
    end
  end
  local size
  local fh = io.open(path, "rb")
  if fh then size = fh:seek("end"); fh:close() end
  -- what its numbers depend on, for the records' keys: the file (path, size, metadata) and how it is loaded
  local fingerprint = { path = path, size = size, meta = meta, name = name }
  backbones[#backbones + 1] = { model = model, meta = meta, name = name, path = path, cache = {},
    fingerprint = fingerprint }
  say(("backbone %s (%s): resnet layers {%s} width %d, input (x/255 - %.4f) / %.4f"):format(name, path,
    table.concat(meta.layers_list, ","), meta.width_value, meta.mean, meta.std))
end

-- ------------------------------------------------------------ methods
local PIXEL = { "UN", "L2N", "CL2N", "logreg" }
local function pixel_methods()
  local list = {}
  for i, m in ipairs(PIXEL) do list[i] = { m, label = "pixels " .. m } end
  return list
end

-- the 95% interval of per-episode values (t below 100 values, normal from 100); half is nil for n < 2
local function interval(xs) return stats.interval(xs, { method = "auto" }) end
local function half_text(iv) return iv.half and ("%.2f"):format(iv.half) or "n/a" end
local INTERVAL_NOTE = "95% half-width: Student t (sample sd) below 100 episodes, normal (population sd) from 100; "
  .. "n/a below 2 episodes"

local function run_compare(shot, methods, extra, episodes)
  local o = { methods = methods, way = way, shot = shot, query = args.query, episodes = episodes or args.episodes,
    classes = args.novel, support_pool = support_pool, query_pool = query_pool, base_pool = base_pool,
    base_classes = args.base, seed = args.seed }
  for k, v in pairs(extra or {}) do o[k] = v end
  if not args.quiet then
    local every = math.max(1, (episodes or args.episodes) // 4)
    o.progress = function(e, n) if e % every == 0 or e == n then say(("  %d/%d episodes"):format(e, n)) end end
  end
  return fewshot.compare(o)
end

-- ------------------------------------------------------------ records (resume)
-- <root>/transfer_fashion.json maps each finished part of a run (one K and: the pixel methods, one
-- backbone's feature layer, or its fine-tuning and LoRA) to its per-episode accuracies. A part's key names
-- everything its numbers depend on (split, way, queries, episodes, seed, K, the data folder, the backbone
-- file and how it is loaded, the options of the part), and episode e depends only on the seed and e, so
-- a recorded part is what a new run would compute: a stopped run started again resumes. Changes to
-- kshot's code are not in the key: --fresh re-runs every part.
local files = require "kshot.experiment.files"
local json = require "dkjson"
local RECORDS = not args.no_records and (args.root .. "/transfer_fashion.json") or nil
local function read_records()
  local text = RECORDS and files.read_file(RECORDS)
  if not text then return {} end
  local t = json.decode(text)
  if type(t) ~= "table" or type(t.parts) ~= "table" then
    error(RECORDS .. " is not a transfer_fashion record file (delete it, or pass --fresh or --no-records)", 0)
  end
  return t.parts
end
local saved = {}
if RECORDS and not args.fresh then
  local ok, parts = pcall(read_records)
  if not ok then die(parts) end
  saved = parts
end
local COMMON = { base = args.base, novel = args.novel, way = way, query = args.query, episodes = args.episodes,
  seed = args.seed, data = args.path or os.getenv("KSHOT_FASHION_MNIST") or "default" }
local function part_key(t)
  local k = {}
  for a, v in pairs(COMMON) do k[a] = v end
  for a, v in pairs(t) do k[a] = v end
  return (files.encode_sorted(k):gsub("\n%s*", ""))
end
local reused = 0
-- a part holds per-episode counts of correct queries (integers: exact in JSON); the accuracies are
-- rebuilt as fewshot computes them, 100 * correct / queries, so a resumed run prints what a fresh one does
local QUERIES = way * args.query
local function expand(part)
  local r = { order = part.order, solver = part.solver, steps = part.steps, results = {} }
  for _, l in ipairs(part.order) do
    local pe = {}
    for i, c in ipairs(part.correct[l]) do pe[i] = 100 * c / QUERIES end
    r.results[l] = { mean = stats.mean(pe), per_episode = pe }
  end
  return r
end
-- the part recorded under t's key, else compute() (-> a part, see part_of), recorded at once (the file is
-- re-read first: another run may have added parts meanwhile); -> {order, results = {[label] = {mean,
-- per_episode}}, solver, steps}
local function recorded(t, compute)
  local key = part_key(t)
  if saved[key] then
    reused = reused + 1
    say("  recorded: reused from " .. RECORDS)
    return expand(saved[key])
  end
  local ok, part = pcall(compute)
  if not ok then
    if RECORDS and ks.is_interrupt and ks.is_interrupt(part) then
      io.stderr:write(("interrupted: the finished parts are recorded in %s; run the same command again to "
        .. "resume\n"):format(RECORDS))
    end
    error(part, 0)
  end
  if RECORDS then
    files.mkdir_p(args.root)
    local ok, parts = pcall(read_records)
    if not ok then parts = {} end -- --fresh over a damaged file: start it anew
    parts[key] = part
    files.write_atomic(RECORDS, files.encode_sorted({ parts = parts }))
  end
  return expand(part)
end
-- a fewshot.compare result as a record part: {order, solver, correct = {[label] = {count per episode}}}
local function part_of(r)
  local p = { order = r.order, correct = {}, solver = r.solver }
  for _, l in ipairs(r.order) do
    local cs = {}
    for i, a in ipairs(r.results[l].per_episode) do cs[i] = math.floor(a * QUERIES / 100 + 0.5) end
    p.correct[l] = cs
  end
  return p
end

-- ------------------------------------------------------------ run
local t0 = ks._bench_clock and ks._bench_clock() or os.clock()
local all = { settings = { base = args.base, novel = args.novel, way = way, query = args.query,
  episodes = args.episodes, seed = args.seed, shots = args.shots, backbones = {},
  feature_layers = args.feature_layers, ft_backbones = args.ft_backbones, ft_steps = args.ft_steps or "tuned",
  ft_train = args.ft_train, ft_episodes = args.ft_episodes, tune_episodes = args.tune_episodes }, shots = {} }
for i, B in ipairs(backbones) do all.settings.backbones[i] = B.path end
print(("# Few-shot transfer on Fashion-MNIST: %d-way, %d queries per class, seed %d"):format(way, args.query,
  args.seed))
print(("base classes: %s\nnovel classes: %s"):format(class_names(args.base), class_names(args.novel)))
print("support: novel classes' training images; queries: their test images; base mean (CL2N): base training images")
if #backbones == 0 then
  print("no backbone: only the raw-pixel methods run (backbone features, bn and finetune need a checkpoint)")
end
for _, B in ipairs(backbones) do
  print(("backbone %s: %s (method %s, %s; resnet {%s} width %d; held-out %s%%)"):format(B.name, B.path,
    tostring(B.meta.method), tostring(B.meta.split), table.concat(B.meta.layers_list, ","), B.meta.width_value,
    tostring(B.meta.held_out_accuracy)))
end

local REFERENCE = { [1] = 59, [5] = 75 } -- raw-pixel L2N nearest centroid, measured in the reference setup
-- the reference setup's novel classes are 5-9 (in any order)
local default_novel = #args.novel == 5
for _, c in ipairs(args.novel) do default_novel = default_novel and c >= 5 end
-- "reproduced" needs the mean within 2 points of the reference AND an interval narrow enough to tell: with few
-- episodes a reference inside the 95% interval is "not checkable", not "NOT reproduced"
local function reference_check(row, ref)
  local iv, off = row.iv, math.abs(row.iv.mean - ref)
  local verdict
  if iv.half and off > 2 and off > iv.half then
    verdict = "NOT reproduced (more than 2 points off, outside the 95% interval)"
  elseif off <= 2 and iv.half and iv.half <= 2 then
    verdict = "reproduced (within 2 points)"
  else
    verdict = ("not checkable at %d episodes (%s; within 2 points needs a half-width <= 2)"):format(iv.n,
      iv.half and ("the reference is %s the 95%% interval"):format(off <= iv.half and "inside" or "outside")
      or "no interval")
  end
  return ("reference check: raw-pixel L2N %.2f ± %s vs about %d in the reference setup: %s"):format(iv.mean,
    half_text(iv), ref, verdict)
end
for _, shot in ipairs(args.shots) do
  say(("%d-shot: %d episodes"):format(shot, args.episodes))
  local rows = {} -- {label, summary, per_episode}
  local r = recorded({ part = "pixels", shot = shot }, function() return part_of(run_compare(shot, pixel_methods())) end)
  local solver = r.solver
  for _, l in ipairs(r.order) do rows[#rows + 1] = { label = l, s = r.results[l] } end
  for bi, B in ipairs(backbones) do
    local function bopts_for(spec)
      local layer, flat = spec:match("^([^:]+)(:?f?l?a?t?)$")
      if not layer or (flat ~= "" and flat ~= ":flat") then die("--feature-layers: '" .. spec .. "' is not name or name:flat") end
      return { backbone = B.model, layer = layer, pool = flat == "" and "avg" or nil, mean = B.meta.mean, std = B.meta.std,
        cache = B.cache } -- one cache per backbone: features computed once for every K
    end
    for _, layer in ipairs(args.feature_layers) do
      local pre = B.name .. " " .. layer .. " "
      local ms = {}
      for i, m in ipairs(PIXEL) do ms[i] = { m, label = pre .. m } end
      ms[#ms + 1] = { "logreg", normalize = "L2N", label = pre .. "logreg+L2N" }
      ms[#ms + 1] = { "cosine", label = pre .. "cosine" } -- Baseline++'s cosine classifier on the frozen features
      ms[#ms + 1] = { "bn", label = pre .. "bn+L2N" }
      say(("  backbone %s, features %s"):format(B.name, layer))
      local labels = {}
      for i, m in ipairs(ms) do labels[i] = m[1] .. (m.normalize and "+" .. m.normalize or "") end
      local rb = recorded({ part = "features", shot = shot, backbone = B.fingerprint, layer = layer,
        methods = table.concat(labels, ",") },
        function() return part_of(run_compare(shot, ms, bopts_for(layer))) end)
      for _, l in ipairs(rb.order) do rows[#rows + 1] = { label = l, s = rb.results[l] } end
    end
    if bi <= args.ft_backbones then
      local ft_episodes = math.min(args.ft_episodes, args.episodes)
      local rf = recorded({ part = "finetune", shot = shot, backbone = B.fingerprint, layer = args.feature_layers[1],
        ft_steps = args.ft_steps or "tuned", ft_train = args.ft_train, ft_episodes = ft_episodes,
        tune_episodes = args.tune_episodes }, function()
        local ft = { "finetune", train = (#args.ft_train == 1 and args.ft_train[1] == "all") and "all" or args.ft_train }
        local bopts = bopts_for(args.feature_layers[1])
        bopts.cache = nil
        if args.ft_steps then
          ft.steps = args.ft_steps
        else
          say(("  backbone %s: choosing fine-tuning steps on base-class episodes"):format(B.name))
          local o = { method = ft, grid = { steps = { 10, 25, 50 } }, base_pool = base_pool, base_classes = args.base,
            way = math.min(way, #args.base), shot = shot, query = args.query, episodes = args.tune_episodes,
            seed = args.seed + 1 }
          for k, v in pairs(bopts) do o[k] = v end
          if #args.base >= 2 then ft = fewshot.tune(o) else ft.steps = 25 end
        end
        ft.label = ("%s finetune(%d steps)"):format(B.name, ft.steps)
        say(("  backbone %s: %s on %d episodes"):format(B.name, ft.label, ft_episodes))
        -- LoRA adapters (kshot.nn.lora; defaults chosen on base-class episodes) on the same episodes:
        -- the backbone's own weights and buffers never change
        local lora = { "lora", label = B.name .. " lora" }
        local part = part_of(run_compare(shot, { ft, lora }, bopts, ft_episodes))
        part.steps = ft.steps
        return part
      end)
      for _, l in ipairs(rf.order) do rows[#rows + 1] = { label = l, s = rf.results[l] } end
    end
  end

  -- table
  for _, row in ipairs(rows) do row.iv = interval(row.s.per_episode) end
  print(("\n## %d-way %d-shot (accuracy %%, mean ± %s)\n"):format(way, shot, INTERVAL_NOTE))
  print("| method | accuracy | n |")
  print("|---|---|---|")
  for _, row in ipairs(rows) do
    print(("| %s | %.2f ± %s | %d |"):format(row.label, row.iv.mean, half_text(row.iv), row.iv.n))
  end
  print(("\nlinear probe solver: %s (%s)"):format(solver == "lbfgs" and "L-BFGS" or "gradient descent",
    solver == "lbfgs" and "kshot.optim.LBFGS" or "kshot.optim.LBFGS missing: fixed budget of 300 steps"))

  -- paired comparisons against the best raw-pixel nearest centroid (on the common episodes)
  local best
  for _, row in ipairs(rows) do
    if row.label:match("^pixels [UCL]") and (not best or row.s.mean > best.s.mean) then best = row end
  end
  print(("\npaired differences against the best raw-pixel nearest centroid (%s: the highest mean of UN, L2N and "
    .. "CL2N on these episodes), on the same episodes:\n"):format(best.label))
  print("| method | difference (points, mean ± 95% half-width) | wins / ties / losses | n |")
  print("|---|---|---|---|")
  for _, row in ipairs(rows) do
    if row ~= best then
      local n = math.min(#row.s.per_episode, #best.s.per_episode)
      local d, w, l = {}, 0, 0
      for i = 1, n do
        d[i] = row.s.per_episode[i] - best.s.per_episode[i]
        if d[i] > 0 then w = w + 1 elseif d[i] < 0 then l = l + 1 end
      end
      local iv = n > 0 and interval(d)
      local diff = iv and ("%+.2f ± %s"):format(iv.mean, half_text(iv)) or "-"
      print(("| %s | %s | %d / %d / %d | %d |"):format(row.label, diff, w, n - w - l, l, n))
    end
  end
  local shot_out_target
  -- issue 7's target: the method with the highest mean beats the best raw-pixel nearest centroid by
  -- >= 5 points, with non-overlapping 95% intervals. Descriptive: the highest mean on these episodes, among
  -- the methods run on as many episodes as the pixel baseline (fewer episodes: not comparable)
  local top, fewer = nil, {}
  for _, row in ipairs(rows) do
    if not row.label:match("^pixels") then
      if row.iv.n < best.iv.n then
        fewer[#fewer + 1] = ("%s (%d)"):format(row.label, row.iv.n)
      elseif not top or row.iv.mean > top.iv.mean then
        top = row
      end
    end
  end
  if top then
    local gap = top.iv.mean - best.iv.mean
    local apart = top.iv.half ~= nil and best.iv.half ~= nil and top.iv.mean - top.iv.half > best.iv.mean + best.iv.half
    local intervals = (top.iv.half and best.iv.half) and (apart and "apart" or "OVERLAP") or "n/a (fewer than 2 episodes)"
    print(("\ntarget (>= 5 points over %s, intervals apart): highest mean on these %d episodes (descriptive, "
      .. "not a test) %s %.2f ± %s vs %.2f ± %s: %+.2f points, intervals %s: %s"):format(best.label, best.iv.n,
      top.label, top.iv.mean, half_text(top.iv), best.iv.mean, half_text(best.iv), gap, intervals,
      (gap >= 5 and apart) and "met" or "NOT met"))
    shot_out_target = { method = top.label, gap = gap, apart = apart }
  end
  if #fewer > 0 then
    print(("not compared (fewer episodes than the other methods' %d): %s"):format(best.iv.n, table.concat(fewer, ", ")))
  end
  if REFERENCE[shot] and default_novel and way == 5 and args.query == 15 then
    print("\n" .. reference_check(rows[2], REFERENCE[shot]))
  end
  local shot_out = { solver = solver, rows = {}, target = shot_out_target }
  for _, row in ipairs(rows) do
    shot_out.rows[#shot_out.rows + 1] = { method = row.label, mean = row.iv.mean, ci95 = row.iv.half, n = row.iv.n,
      interval = row.iv.half and row.iv.method or "none", per_episode = row.s.per_episode }
  end
  all.shots["k" .. shot] = shot_out
end
local elapsed = (ks._bench_clock and ks._bench_clock() or os.clock()) - t0
print(("\nelapsed %.0f s"):format(elapsed))

if reused > 0 then say(("%d part(s) reused from %s (--fresh re-runs them)"):format(reused, RECORDS)) end
if args.json then
  local f = assert(io.open(args.json, "wb"))
  f:write(files.encode_sorted(all), "\n")
  f:close()
end
