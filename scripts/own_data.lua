--- own_data.lua: a small-sample experiment on YOUR data -- a CSV table or a
-- folder of images (one sub-folder per class).
--
--   kshot scripts/own_data.lua --csv measurements.csv --label species
--   kshot scripts/own_data.lua --images photos/ --size 64,64 [--test photos_test/]
--
-- "How well can I classify with K labelled examples per class, and which
-- recipe should I use?" For each K of --k and each replicate (--seeds), K
-- examples per class are drawn (ks.data.kshot_indices, seeded) as the
-- labelled set; the test set is --test if given, else every example not
-- drawn. Every recipe of a replicate sees the SAME draw, so recipes are
-- compared in pairs. Recipes (--recipes):
--   centroid  nearest class mean (the baseline every other recipe is tested against)
--   logreg    multinomial logistic regression (L-BFGS), its L2 strength C chosen by
--             inner cross-validation on the K labelled examples per class only
--   mlp       a one-hidden-layer network (128 units), AdamW + weight decay, label
--             smoothing, mixup, cosine learning rate
--   cnn       (images) a small CNN from scratch with the tricks of mlp plus random
--             crops and (unless --no-flip) horizontal flips, batch-norm statistics
--             recomputed on the clean labelled images at the end
--   probe     (images, --backbone) logistic regression as logreg on the L2-normalised
--             frozen features of a pretrained ResNet (kshot / torchvision safetensors;
--             models/ has Fashion-MNIST ones for 28x28 gray images)
-- CSV features are scaled (--scale) with statistics of the labelled rows of
-- the replicate only (never of the test rows):
--   column    each column's mean and sd (standardisation)
--   global    each column's mean, and one sd pooled over all the columns: the
--             columns keep their relative sizes, so a column nearly constant
--             among the few labelled rows (a border pixel) is not blown up
--   none      the values as they are
--   auto      (default) one of the three, chosen per recipe and replicate by
--             inner cross-validation on the labelled rows: the folds of
--             logreg's C (a row's rank within its class modulo min(K, 5)), the
--             scaling fitted on each fold's training rows; for logreg one grid
--             of scaling x C. Most held-out rows right wins, ties go to the
--             lower log-loss (logreg, mlp), then to column, global, none in
--             that order. With K = 1 there is no inner CV: column.
-- The run records say what was used (metrics scale_column / scale_global /
-- scale_none = 1 or 0, and logreg's C). Images are scaled to [0, 1] (the CNN
-- then standardises them with the labelled images' pixel mean and sd);
-- --scale is for CSV tables only. The training settings of mlp and cnn are
-- fixed below, not tuned on your data: nothing is chosen on the test rows.
-- Report per K: test accuracy and balanced accuracy (the mean recall
-- over classes: what counts when the classes are imbalanced), mean ± 95%
-- Student-t interval over the replicates, paired t and Wilcoxon tests
-- against centroid with Holm's correction (kshot.experiment).
-- Runs are recorded under --root: a stopped run resumes when started again;
-- a record made on other data or settings is re-run.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local A = require "kshot.augment"
local metrics = require "kshot.metrics"
local fewshot = require "kshot.fewshot"
local experiment = require "kshot.experiment"
local cli = require "kshot.cli"
local json = require "dkjson"
local F = ks.functional

local RECIPES = { "centroid", "logreg", "mlp", "cnn", "probe" }
local SCALINGS = { "column", "global", "none" } -- also the order that breaks ties in auto's inner CV
local SCALINGS_OPT = { "auto", "column", "global", "none" }
local args = cli.new {
  name = "own_data.lua",
  description = "Small-sample experiment on your own data: a CSV table (--csv FILE --label COLUMN) or a folder of\n"
    .. "images with one sub-folder per class (--images DIR); K labelled examples per class, several recipes\n"
    .. "compared in pairs against nearest class mean, intervals and corrected tests.",
  options = {
    { "--csv", "CSV table with a header line: numeric features and a label column", path = "in_file" },
    { "--label", "the CSV column holding the class (names or integers)" },
    { "--images", "folder of images (PNG/JPEG), one sub-folder per class", path = "in_dir" },
    { "--size", "resize every image to H,W (needed when the images differ in size)", type = "list:integer",
      min = 1 },
    { "--test", "separate test set (a CSV like --csv, or a folder like --images); default: the examples not drawn",
      path = "in_path" },
    { "--k", "labelled examples per class (default 5,10; 5 with --smoke; each class needs K + 1 examples "
      .. "without --test)", type = "list:integer", min = 1, unique = true },
    { "--seeds", "replicates (K-shot draws; default 5, 3 with --smoke)", type = "integer", min = 1 },
    { "--recipes", "recipes to run: centroid (always run: the baseline), logreg, mlp, cnn (images), probe "
      .. "(images, --backbone); default: all that apply", type = "list:string", choices = RECIPES, unique = true },
    { "--backbone", "pretrained ResNet (safetensors) for the probe recipe, e.g. models/fashion_resnet_supervised"
      .. ".safetensors (28x28 gray images)", path = "in_file" },
    { "--steps", "training steps (batch 32) of mlp and cnn (default 300, 40 with --smoke)", type = "integer", min = 1 },
    { "--scale", "CSV features: column (standardise each column), global (centre the columns, divide by one "
      .. "pooled sd), none, or auto: chosen per recipe and replicate by inner cross-validation on the labelled "
      .. "rows (default auto; CSV only)", choices = SCALINGS_OPT },
    { "--no-flip", "cnn: no horizontal flips (when a mirrored image may belong to another class)", type = "flag" },
    { "--smoke", "a quick run (tests): 3 replicates, K = 5, 40 steps (explicit options win)", type = "flag" },
    { "--root", "folder of the run records", default = "runs", path = "dir" },
    { "--fresh", "re-run the runs already recorded", type = "flag" },
    { "--no-records", "keep records in a temporary folder (deleted at the end)", type = "flag" },
    { "--json", "also write the results as JSON to this file", path = "out_file" },
    { "--threads", "kshot threads (default: all cores, at most 8)", type = "integer", min = 1, max = 256 },
    { "-q --quiet", "print only the report", type = "flag" },
  },
}:parse(arg)
args.seeds = args.seeds or (args.smoke and 3 or 5)
args.steps = args.steps or (args.smoke and 40 or 300)
args.k = args.k or (args.smoke and { 5 } or { 5, 10 })
if args.threads then ks.set_num_threads(args.threads) end
local function fail(...) cli.fail(args, ...) end
-- f(...), or a clear exit with f's message: no Lua source position, hints in this script's options
local function call(f, ...)
  local res = table.pack(pcall(f, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  fail("%s", (tostring(res[2]):gsub("^[^:\n]*%.lua:%d+: ", ""):gsub("^image_folder: ", "")
    :gsub("pass fill= to replace it", "every column but --label must hold numbers")
    :gsub("pass size={h, w} to resize", "pass --size H,W to resize every image")))
end
local function say(...) if not args.quiet then io.stderr:write(table.concat({ ... }, " "), "\n") end end

if (args.csv == nil) == (args.images == nil) then
  fail("give --csv FILE --label COLUMN or --images DIR (one of them)")
end
if args.csv and not args.label then fail("--csv needs --label COLUMN (the column holding the class)") end
if args.size and #args.size ~= 2 then fail("--size takes H,W (two integers), got %d values", #args.size) end
local is_images = args.images ~= nil
if is_images and args.scale then
  fail("--scale is for CSV tables: images are scaled to [0, 1] (and standardised by the cnn recipe)")
end
if not is_images then args.scale = args.scale or "auto" end

-- ------------------------------------------------------------ data
-- Labels become 0..C-1 in the order of the training classes' names (sorted);
-- a test set's labels are mapped through the names, so its classes may be a subset.
local function relabel(y, names, index, where)
  local out = {}
  for i, v in ipairs(y:totable()) do
    local c = index[names[v + 1]]
    if not c then fail("%s: class '%s' is not in the training data", where, names[v + 1]) end
    out[i] = c
  end
  return ks.tensor(out, "int64")
end

local function load_csv(path)
  local x, y, names = call(ks.data.read_csv, path, { label = args.label })
  if not names then -- integer labels: their distinct values, sorted, become the classes
    local values, seen = {}, {}
    for _, v in ipairs(y:totable()) do if not seen[v] then seen[v], values[#values + 1] = true, v end end
    table.sort(values)
    local lut = {}
    names = {}
    for i, v in ipairs(values) do lut[v], names[i] = i - 1, tostring(v) end
    local mapped = {}
    for i, v in ipairs(y:totable()) do mapped[i] = lut[v] end
    y = ks.tensor(mapped, "int64")
  end
  return x, y, names
end

local function load_images(dir, channels)
  -- the training folder keeps the channels of its first image; a test folder gets the training images'
  local gray = nil
  if channels then gray = channels == 1 end
  return call(ks.image.image_folder, dir, { size = args.size, gray = gray })
end

local load = is_images and load_images or load_csv
local source = args.images or args.csv
local X, Y, NAMES = load(source)
local index = {}
for i, n in ipairs(NAMES) do index[n] = i - 1 end
local TX, TY
if args.test then
  local tn
  TX, TY, tn = load(args.test, is_images and X:size(1) or nil)
  if TX[0]:shape() ~= X[0]:shape() then
    fail("--test %s has examples of shape %s but %s has %s", args.test, tostring(TX[0]:shape()), source,
      tostring(X[0]:shape()))
  end
  TY = relabel(TY, tn, index, args.test)
end
local C = #NAMES
if C < 2 then fail("%s: at least 2 classes are needed, found %d", source, C) end
local counts = ks.bincount(Y, nil, C):totable()
-- every class needs K examples to draw, and one more to test when the test set is the rest
local need = args.test and 0 or 1
for _, k in ipairs(args.k) do
  local short = {}
  for c = 1, C do
    if counts[c] < k + need then short[#short + 1] = ("'%s' (%d)"):format(NAMES[c], counts[c]) end
  end
  if #short > 0 then
    fail("--k %d: %s: too few examples in class%s %s: each needs at least %d (K%s)", k, source,
      #short > 1 and "es" or "", table.concat(short, ", "), k + need, need > 0 and " to draw + 1 to test" or "")
  end
end

local recipes = args.recipes or { "centroid", "logreg", "mlp", is_images and "cnn" or nil,
  (is_images and args.backbone) and "probe" or nil }
local chosen = {}
for _, r in ipairs(recipes) do chosen[r] = true end
if chosen.cnn and not is_images then fail("--recipes cnn needs --images (a CSV row is not an image)") end
if chosen.probe and not (is_images and args.backbone) then fail("--recipes probe needs --images and --backbone") end
if args.backbone and not is_images then fail("--backbone needs --images") end
if args.backbone and args.recipes and not chosen.probe then
  fail("--backbone is used only by the probe recipe: add probe to --recipes")
end
recipes = { "centroid" } -- the baseline first, then the others in the order of RECIPES
for _, r in ipairs(RECIPES) do if chosen[r] and r ~= "centroid" then recipes[#recipes + 1] = r end end

local BACKBONE, BMETA
if chosen.probe then
  BACKBONE, BMETA = call(fewshot.load_backbone, args.backbone)
  local cin = BACKBONE.conv1.weight:size(1)
  if cin ~= X:size(1) then
    fail("--backbone %s takes %d-channel images but %s has %d-channel images", args.backbone, cin, source, X:size(1))
  end
end

-- ------------------------------------------------------------ recipes
-- Each takes the labelled set (x, y) and the test inputs xt, returns predicted labels.
-- x: standardised rows [n, F] (CSV) or images in [0, 1] [n, C, H, W].
local function flat(x) return x:reshape(x:size(0), -1) end

local function centroid(x, y, xt)
  local f, ft = flat(x), flat(xt)
  local means = ks.zeros(C, f:size(1)):index_add_(0, y, f) / ks.bincount(y, nil, C):float():unsqueeze(1)
  return ks.cdist(ft, means):argmin(1)
end

-- logistic regression (kshot.fewshot's linear probe): C given (auto's grid) or chosen by fewshot's inner CV
-- on (f, y) only; -> predicted labels, the C used
local function logreg(f, y, ft, normalize, C_fixed)
  local clf = fewshot.fit { method = { "logreg", normalize = normalize, C = C_fixed }, images = f, labels = y }
  return clf:predict(ft), clf.head.C
end

-- fixed settings of the trained networks (not tuned on your data)
local NET = { lr = 2e-3, weight_decay = 0.05, label_smoothing = 0.1, mixup_alpha = 0.4, batch = 32 }

-- AdamW with a cosine learning rate, mixup and label smoothing; aug(xb) for images
local function fit_net(model, x, y, seed, aug)
  local opt = optim.AdamW(model:parameters(), { lr = NET.lr, weight_decay = NET.weight_decay })
  local sched = optim.lr.CosineAnnealingLR(opt, { T_max = args.steps })
  local mix = A.compose({ A.mixup { alpha = NET.mixup_alpha, targets = "pair" } }, { seed = seed + 2 })
  local ce = { label_smoothing = NET.label_smoothing }
  local n = x:size(0)
  local batch = math.min(NET.batch, n)
  model:train()
  for _ = 1, args.steps do
    local idx = ks.randint(0, n, { batch })
    local xb, yb = x:index_select(0, idx), y:index_select(0, idx)
    if aug then xb = aug(xb) end
    local shape = xb:shape()
    -- mixup takes [B, C, H, W]: table rows go through as [B, 1, 1, F]
    local xm, ya, yb2, lam = mix(xb:dim() == 2 and xb:view(batch, 1, 1, -1) or xb, yb)
    local out = model(xm:view(shape))
    local loss = F.cross_entropy(out, ya, ce) * lam + F.cross_entropy(out, yb2, ce) * (1 - lam)
    opt:zero_grad()
    loss:backward()
    opt:step()
    sched:step()
  end
  model:eval()
  return model
end

-- predicted labels, 1,000 test examples at a time
local function predict(model, xt)
  return ks.no_grad(function()
    local parts, n = {}, xt:size(0)
    for s = 0, n - 1, 1000 do parts[#parts + 1] = model(xt:narrow(0, s, math.min(1000, n - s))):argmax(1) end
    return ks.cat(parts, 0)
  end)
end

local function mlp_model(x, y, seed)
  ks.manual_seed(seed)
  local f = flat(x)
  local model = nn.Sequential(nn.Linear(f:size(1), 128), nn.ReLU(), nn.Dropout(0.2), nn.Linear(128, C))
  return fit_net(model, f, y, seed)
end

local function mlp(x, y, xt, seed) return predict(mlp_model(x, y, seed), flat(xt)) end

local function cnn(x, y, xt, seed)
  ks.manual_seed(seed)
  -- standardised with the labelled images' pixel mean and sd
  local m, s = x:mean():item(), math.max(x:std():item(), 1e-6)
  x, xt = (x - m) / s, (xt - m) / s
  local H, W = x:size(2), x:size(3)
  local pooled = { math.max(1, math.min(4, H // 4)), math.max(1, math.min(4, W // 4)) }
  local model = nn.Sequential(
    nn.Conv2d(x:size(1), 16, 3, { padding = 1 }), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, { padding = 1 }), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.AdaptiveAvgPool2d(pooled), nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * pooled[1] * pooled[2], C))
  local tf = { A.random_crop { padding = math.max(1, math.min(H, W) // 12), padding_mode = "reflect" } }
  if not args.no_flip then tf[2] = A.random_horizontal_flip { p = 0.5 } end
  fit_net(model, x, y, seed, A.compose(tf, { seed = seed + 1 }))
  nn.update_bn(model, x) -- the running statistics of the clean images, not of the last mixed batches
  model:eval()
  return predict(model, xt)
end

-- backbone features of every example, computed once (frozen: they do not depend on the draw)
local features_of = {}
local function backbone_features(images)
  if not features_of[images] then
    say("computing the backbone's features of " .. images:size(0) .. " images ...")
    features_of[images] = fewshot.features(BACKBONE, images, { mean = BMETA.mean, std = BMETA.std })
  end
  return features_of[images]
end

-- ------------------------------------------------------------ CSV scaling (--scale)
local function take(x, rows) return x:index_select(0, rows) end

-- (x, xt) scaled with statistics of the rows of x only
local function scaled(kind, x, xt)
  if kind == "none" then return x, xt end
  local m, s = x:mean(0), nil
  if kind == "column" then
    s = x:std(0)
    s = s + s:eq(0):float() -- a constant column keeps its scale
  else -- global: the root of the columns' mean variance
    local v = x:var(0):mean():item()
    s = v > 0 and math.sqrt(v) or 1
  end
  return (x - m) / s, (xt - m) / s
end

-- auto's inner folds of the labelled rows, as fewshot's logreg makes them for C: a row's rank within its
-- class modulo min(K, 5) (every fold keeps every class); {train rows, held-out rows} per fold, nil at K = 1
local function inner_folds(y)
  local nf = math.min(ks.bincount(y, nil, C):min():item(), 5)
  if nf < 2 then return nil end
  local rank, fold_of = {}, {}
  for i, c in ipairs(y:totable()) do
    rank[c] = (rank[c] or 0) + 1
    fold_of[i] = (rank[c] - 1) % nf
  end
  local folds = {}
  for f = 0, nf - 1 do
    local tr, va = {}, {}
    for i, g in ipairs(fold_of) do
      if g == f then va[#va + 1] = i - 1 else tr[#tr + 1] = i - 1 end
    end
    folds[f + 1] = { ks.tensor(tr, "int64"), ks.tensor(va, "int64") }
  end
  return folds
end

-- fewshot's default grid of logreg's C, ascending
local LOGREG_CS = { 0.01, 0.1, 1, 10, 100 }

-- summed negative log-probability of the true labels
local function nll_of(prob, y) return -prob:gather(1, y:unsqueeze(1)):clamp(1e-30):log():sum():item() end

-- What a recipe scores on one inner fold (already scaled): a list of {correct =, nll = (nil: no
-- probabilities), C =}, one entry per setting of the recipe's own grid (logreg: C).
local INNER = {}
function INNER.centroid(x, y, xv, yv) return { { correct = centroid(x, y, xv):eq(yv):sum():item() } } end
function INNER.logreg(x, y, xv, yv)
  local out = {}
  for i, c in ipairs(LOGREG_CS) do
    local prob = fewshot.fit { method = { "logreg", C = c }, images = x, labels = y }:predict_proba(xv)
    out[i] = { C = c, correct = prob:argmax(1):eq(yv):sum():item(), nll = nll_of(prob, yv) }
  end
  return out
end
function INNER.mlp(x, y, xv, yv, seed)
  local model = mlp_model(x, y, seed)
  local prob = ks.no_grad(function() return F.softmax(model(flat(xv)), 1) end)
  return { { correct = prob:argmax(1):eq(yv):sum():item(), nll = nll_of(prob, yv) } }
end

-- auto: every scaling (x the recipe's grid) scored on the same inner folds of the labelled rows (x, y) -- the
-- test rows are not an argument. Most held-out rows right wins; ties: lower summed log-loss, then the
-- earlier in SCALINGS and the grid. -> {scale =, C = (logreg) | nil}
local function choose(recipe, x, y, seed)
  local folds = inner_folds(y)
  if not folds then return { scale = "column" } end -- K = 1: nothing to hold out
  local best
  for _, kind in ipairs(SCALINGS) do
    local total = {}
    for _, f in ipairs(folds) do
      local xtr, xva = scaled(kind, take(x, f[1]), take(x, f[2]))
      for i, r in ipairs(INNER[recipe](xtr, take(y, f[1]), xva, take(y, f[2]), seed)) do
        local t = total[i] or { scale = kind, C = r.C, correct = 0, nll = 0 }
        t.correct, t.nll = t.correct + r.correct, t.nll + (r.nll or 0)
        total[i] = t
      end
    end
    for _, t in ipairs(total) do
      if not best or t.correct > best.correct or (t.correct == best.correct and t.nll < best.nll) then best = t end
    end
  end
  return best
end

-- ------------------------------------------------------------ one run
-- the replicate's labelled rows and its test set (the rows not drawn, or --test)
local function draw(k, seed)
  local rows = ks.data.kshot_indices(Y, k, { seed = seed })
  if TX then return rows, TX, TY end
  local drawn, rest = {}, {}
  for _, r in ipairs(rows:totable()) do drawn[r] = true end
  for r = 0, Y:size(0) - 1 do if not drawn[r] then rest[#rest + 1] = r end end
  local test_rows = ks.tensor(rest, "int64")
  return rows, take(X, test_rows), take(Y, test_rows), test_rows
end

local function run_recipe(k)
  return function(cfg, ctx)
    local seed = ctx.seed % 2147483647 -- the same for every recipe of a replicate: paired draws
    local rows, tx, ty, test_rows = draw(k, seed)
    local x, y = take(X, rows), take(Y, rows)
    local pred, used
    if cfg.name == "probe" then
      local f = backbone_features(X)
      local ft = TX and backbone_features(TX) or take(f, test_rows)
      pred = logreg(take(f, rows), y, ft, "L2N")
    else
      if is_images then
        x, tx = x:float() / 255, tx:float() / 255
      else -- scaled with the labelled rows' statistics only; auto chooses on the labelled rows only
        used = cfg.scale == "auto" and choose(cfg.name, x, y, seed + 7) or { scale = cfg.scale }
        x, tx = scaled(used.scale, x, tx)
      end
      if cfg.name == "centroid" then pred = centroid(x, y, tx)
      elseif cfg.name == "logreg" then
        local c
        pred, c = logreg(flat(x), y, flat(tx), nil, used and used.C)
        if used then used.C = c end
      elseif cfg.name == "mlp" then pred = mlp(x, y, tx, seed + 7)
      else pred = cnn(x, y, tx, seed + 7) end
    end
    collectgarbage()
    local res = { accuracy = 100 * metrics.accuracy(pred, ty),
      balanced_accuracy = 100 * metrics.balanced_accuracy(pred, ty, { num_classes = C }) }
    if used then -- the record says which scaling (and C) this run used
      for _, kind in ipairs(SCALINGS) do res["scale_" .. kind] = used.scale == kind and 1 or 0 end
      res.C = used.C
    end
    return res
  end
end

-- ------------------------------------------------------------ sweep
-- the data's fingerprint goes into every config: a record made on other data is stale and re-run
local function fingerprint(x, y)
  return ("%s %s, labels sum %d, values sum %.9g"):format(x:dtype(), tostring(x:shape()), y:sum():item(),
    x:float():sum():item())
end
local configs = {}
for _, r in ipairs(recipes) do
  local cfg = { name = r, data = fingerprint(X, Y), classes = NAMES, test = TX and fingerprint(TX, TY) or "rest" }
  if r == "mlp" or r == "cnn" then cfg.steps, cfg.net = args.steps, NET end
  if r == "cnn" then cfg.flip = not args.no_flip end
  if r == "probe" then cfg.backbone = args.backbone end
  if not is_images then cfg.scale = args.scale end
  configs[#configs + 1] = cfg
end

local root = args.root
local tmp_root <close> = args.no_records and cli.temp_dir() or nil
if tmp_root then root = tmp_root.path end
local stem = (source:gsub("/+$", ""):match("([^/]+)$") or "data"):gsub("%.[^.]*$", ""):gsub("[^%w._-]", "_")
local lines = {}
for c = 1, C do lines[c] = ("%s: %d"):format(NAMES[c], counts[c]) end
print(("# %s: %d examples, %s per example, %d classes (%s)"):format(source, X:size(0),
  is_images and ("%dx%dx%d"):format(X:size(1), X:size(2), X:size(3)) or (X:size(1) .. " features"), C,
  table.concat(lines, ", ")))
print(TX and ("test set: %s, %d examples"):format(args.test, TX:size(0))
  or "test set: the examples not drawn into the labelled set (per replicate)")

local out = { regression = {}, k = {}, scaling = not is_images and {} or nil } -- for --json

-- what a run's record says it used: {scale =, C = (logreg)}; {failed = true} for a failed run
local function used_of(m)
  for _, kind in ipairs(SCALINGS) do
    if m and m["scale_" .. kind] == 1 then return { scale = kind, C = m.C } end
  end
  return { failed = true }
end

-- the CSV scaling each run of K used, from the records: printed, and kept for --json
local function report_scaling(exp, s, k)
  local how = args.scale ~= "auto" and "" or k < 2 and ": K = 1 leaves no labelled row to hold out, so column"
    or ": chosen by inner cross-validation on the labelled rows"
  print(("\nScaling of the CSV features (--scale %s%s), per replicate (%s):"):format(args.scale, how,
    table.concat(exp.replicates, ", ")))
  for _, r in ipairs(recipes) do
    local c, cells = s.configs[exp.by_key[r]], {}
    out.scaling[("%s_k%d"):format(r, k)] = {}
    for i, rep in ipairs(exp.replicates) do
      local u = used_of(c.values[rep])
      out.scaling[("%s_k%d"):format(r, k)][i] = u
      cells[i] = u.failed and "failed" or u.C and ("%s C=%g"):format(u.scale, u.C) or u.scale
    end
    print(("- %s: %s"):format(r, table.concat(cells, ", ")))
  end
end

local summary = {} -- summary[recipe][k] = the report's interval
for _, k in ipairs(args.k) do
  local exp = experiment.new { name = ("own_data-%s-k%d"):format(stem, k), root = root, seed = 2026,
    seeds = args.seeds, configs = configs, run = run_recipe(k), metric = "accuracy", baseline = "centroid",
    progress = not args.quiet, metric_range = { 0, 100 } }
  say(("K = %d: %d recipes x %d replicates -> %s"):format(k, #configs, args.seeds, exp.dir))
  exp:run { force = args.fresh }
  local text, s = exp:report()
  print(("\n## K = %d labelled examples per class\n"):format(k))
  io.write(text)
  out.k["k" .. k] = text
  if not is_images then report_scaling(exp, s, k) end
  for _, row in ipairs(s.rows) do
    local vals = {}
    for _, r in ipairs(exp.replicates) do
      local v = s.configs[exp.by_key[row.key]].values[r]
      vals[#vals + 1] = v and v.accuracy or nil
    end
    out.regression[("%s_k%d_accuracy"):format(row.key, k)] = vals
    summary[row.key] = summary[row.key] or {}
    summary[row.key][k] = row.interval
  end
end
if #args.k > 1 then -- one table across K
  print("\n## Summary: test accuracy % (mean ± 95% Student-t half-width over the replicates)\n")
  local header = { "recipe" }
  for _, k in ipairs(args.k) do header[#header + 1] = ("K = %d"):format(k) end
  print("| " .. table.concat(header, " | ") .. " |")
  print("|" .. string.rep("---|", #header))
  for _, r in ipairs(recipes) do
    local cells = { r }
    for _, k in ipairs(args.k) do
      local iv = summary[r] and summary[r][k]
      cells[#cells + 1] = iv and (iv.half and ("%.2f ± %.2f"):format(iv.mean, iv.half) or ("%.2f"):format(iv.mean))
        or "-"
    end
    print("| " .. table.concat(cells, " | ") .. " |")
  end
end
if not args.no_records then
  print(("\nrecords and reports: %s/own_data-%s-k*/ (the same command resumes; --fresh re-runs)"):format(root, stem))
end
if args.json then
  local f = assert(io.open(args.json, "wb"))
  f:write(json.encode(out, { indent = true }))
  f:close()
end
if tmp_root then tmp_root.remove() end
