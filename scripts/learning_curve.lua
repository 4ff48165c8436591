--- learning_curve.lua: what a pretrained backbone buys with a small sample.
--
-- Protocol 3 of notes/small-sample-protocols.md on Fashion-MNIST: 10-way
-- accuracy on the test images against K labelled training images per class
-- (K = 1, 2, 5, 10, 20, 50 by default), for
--   scratch            a small CNN trained from scratch on the K-shot set with a
--                      fixed recipe (two 3x3 conv blocks with batch norm, a
--                      128-unit head, dropout 0.3, AdamW lr 1e-3, weight decay
--                      1e-2, --scratch-steps steps of batch 32; nothing tuned)
--   supervised         the supervised backbone (frozen), features at avgpool
--   simclr             the self-supervised backbone (frozen)
-- with two heads on the frozen features: a linear probe (logistic regression,
-- L-BFGS, C by inner CV on the K-shot set when K >= 2, else C = 1) and
-- SimpleShot's CL2N (centred on the mean feature of the backbone's base-class
-- training images, L2-normalised, nearest class mean).
-- K-shot sets are nested (for a seed, the K = 5 set contains the K = 2 set:
-- each class's training images are shuffled once per seed and the first K
-- taken); every model sees the same sets. Intervals: 95% Student-t over
-- seeds (sample sd, ddof = 1). Note that the backbones' pretraining saw the
-- base classes' labelled training images (supervised) or all training images
-- without labels (simclr); the 10 test classes include the base classes.
--
--   kshot scripts/learning_curve.lua                      # default run: 5 seeds, about 4.5 min on 2 shared cores
--   kshot scripts/learning_curve.lua --k 1,5,10 --seeds 10 --svg runs/lc.svg
--   kshot scripts/learning_curve.lua --supervised my.safetensors --simclr none
-- Resume: each figure is appended to --records (runs/learning_curve.records) as
-- it is measured; started again, the run reuses the figures recorded with the
-- same settings (data, test images, steps, checkpoint file, heads) and prints
-- the same table; --fresh measures everything again.
-- Checkpoints: any kshot/torchvision-style ResNet safetensors file that
-- fewshot.load_backbone reads ("none" skips a model); the defaults are the
-- repository's models/, found from this script's folder (any working folder).
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local stats = require "kshot.stats"
local fewshot = require "kshot.fewshot"
local Me = require "kshot.fewshot.methods"
local H = require "kshot.fewshot.heads"
local F = ks.functional

local LC = {}

LC.DEFAULTS = {k = {1, 2, 5, 10, 20, 50}, seeds = 5, test_size = 0, scratch_steps = 300,
  supervised = "models/fashion_resnet_supervised.safetensors", simclr = "models/fashion_resnet_simclr.safetensors",
  heads = {"logreg", "CL2N"}, base_size = 5000, svg = "runs/learning_curve.svg",
  records = "runs/learning_curve.records"}

-- ------------------------------------------------------------ data
--- Per seed, each class's training rows in a seeded random order (nested K-shot sets).
function LC.class_orders(labels, nclasses, seed)
  local rows = {}
  for c = 0, nclasses - 1 do rows[c] = labels:eq(c):nonzero():reshape(-1) end
  local g = ks.Generator(1000003 * seed + 17)
  local out = {}
  for c = 0, nclasses - 1 do
    local n = rows[c]:size(0)
    out[c] = rows[c]:index_select(0, ks.randperm(n, {generator = g}))
  end
  return out
end

--- Rows (int64) and labels (0..C-1) of the K-shot set of one seed's orders.
function LC.kshot(orders, nclasses, k)
  local parts, labels = {}, {}
  for c = 0, nclasses - 1 do
    if orders[c]:size(0) < k then
      error(("learning_curve: class %d has %d training images, fewer than K = %d"):format(c, orders[c]:size(0), k), 0)
    end
    parts[#parts + 1] = orders[c]:narrow(0, 0, k)
    for _ = 1, k do labels[#labels + 1] = c end
  end
  return ks.cat(parts, 0), ks.tensor(labels, "int64")
end

-- ------------------------------------------------------------ records (resume)
-- Every accuracy is appended to a records file as soon as it is measured, one
-- line "key<TAB>accuracy" with the accuracy in %.17g (it reads back as the same
-- double, so a resumed run prints the same table). The key names everything
-- the figure depends on (model, K, seed and the settings; LC.run's o.key_prefix
-- adds the data and checkpoint identities), so a changed setting re-runs rather
-- than reuse a stale figure. A line cut short by a kill does not parse and is skipped.

--- Read a records file into {key = accuracy}; a missing file is an empty table.
function LC.read_records(path)
  local out = {}
  local f = io.open(path, "r")
  if not f then return out end
  for line in f:lines() do
    local key, acc = line:match("^(.-)\t([-%d.eE+]+)$")
    if key and tonumber(acc) then out[key] = tonumber(acc) end
  end
  f:close()
  return out
end

--- A store for LC.run: get(key) -> accuracy or nil; put(key, acc) appends at once (path nil: memory only).
function LC.records(path, fresh)
  local known = (path and not fresh) and LC.read_records(path) or {}
  local f
  if path then
    f = io.open(path, fresh and "w" or "a+")
    if not f then error(("learning_curve: cannot write the records file '%s'"):format(path), 0) end
    -- a line cut short by a kill: end it, so the next record starts on a line of its own
    if not fresh and f:seek("end") > 0 then
      f:seek("end", -1)
      local last = f:read(1)
      f:seek("end") -- C wants a seek between a read and a write
      if last ~= "\n" then f:write("\n") end
    end
  end
  local R = {reused = 0}
  function R.get(key)
    local v = known[key]
    if v then R.reused = R.reused + 1 end
    return v
  end
  function R.put(key, acc)
    known[key] = acc
    if f then f:write(key, "\t", ("%.17g"):format(acc), "\n"); f:flush() end
  end
  function R.close() if f then f:close(); f = nil end end
  return R
end

-- a key part without the separators of the file
local function clean(v) return (tostring(v):gsub("[\t\n\r]", " ")) end

-- ------------------------------------------------------------ from scratch
--- The fixed small CNN (28x28 grey images).
function LC.small_cnn(nclasses, size)
  local s = (size // 2) // 2
  return nn.Sequential(nn.Conv2d(1, 16, 3, {padding = 1}), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, {padding = 1}), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    nn.Linear(32 * s * s, 128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, nclasses))
end

local MEAN, STD = 0.2860, 0.3530
local function prep(images) return ((images:float() / 255 - MEAN) / STD):unsqueeze(1) end

--- Train the small CNN on (images, labels) with the fixed recipe; accuracy (%) on the test set.
function LC.scratch_accuracy(images, labels, test_x, test_y, nclasses, steps, seed)
  ks.manual_seed(seed)
  local model = LC.small_cnn(nclasses, images:size(1))
  local opt = optim.AdamW(model:parameters(), {lr = 1e-3, weight_decay = 1e-2})
  local x = prep(images)
  local n, g = x:size(0), ks.Generator(seed + 1)
  model:train()
  for _ = 1, steps do
    local idx = ks.randint(0, n, {32}, {generator = g}) -- with replacement: K * 10 may be < 32
    local loss = F.cross_entropy(model(x:index_select(0, idx)), labels:index_select(0, idx))
    opt:zero_grad()
    loss:backward()
    opt:step()
  end
  model:eval()
  local correct = 0
  ks.no_grad(function()
    for s = 0, test_x:size(0) - 1, 1000 do
      local m = math.min(1000, test_x:size(0) - s)
      local pred = model(prep(test_x:narrow(0, s, m))):argmax(1)
      correct = correct + pred:eq(test_y:narrow(0, s, m)):sum():item()
    end
  end)
  return 100 * correct / test_x:size(0)
end

-- ------------------------------------------------------------ frozen backbones
--- A backbone from a checkpoint: {name, bb = fewshot Backbone, base_classes, meta}.
function LC.load_backbone(name, path)
  local model, meta = fewshot.load_backbone(path)
  local base = {}
  -- the base classes (CL2N's centre): metadata "base" (kshot's pretrain script) or "classes"
  for v in tostring(meta.base or meta.base_classes or meta.classes or ""):gmatch("%d+") do
    base[#base + 1] = tonumber(v)
  end
  if #base == 0 then base = {0, 1, 2, 3, 4} end
  return {name = name, path = path, meta = meta, base_classes = base,
    bb = fewshot.backbone(model, {mean = meta.mean, std = meta.std})}
end

--- Accuracy (%) of a head on frozen features: ftrain [N, D] with labels, ftest, test labels.
function LC.head_accuracy(head_name, ftrain, ytrain, ftest, ytest, nclasses, base_mean)
  local m = Me.parse(head_name, "learning_curve")
  local head = Me.fit_head(m, ftrain, ytrain, nclasses, function() return base_mean end)
  return 100 * H.scores(head, ftest):argmax(1):eq(ytest):sum():item() / ytest:size(0)
end

-- ------------------------------------------------------------ the run
--- LC.run{train = {images, labels}, test = {images, labels}, k =, seeds =, scratch_steps =,
--   backbones = {{name, path}, ...}, heads =, base_size =, scratch = true, log = fn,
--   records = LC.records(...) (resume: figures already recorded are not measured again), key_prefix = ""}
-- -> {k = {...}, series = {{name, acc = {[k] = {per-seed}}, summary = {[k] = interval}}}}
function LC.run(o)
  local trx, try = o.train[1], o.train[2]
  local tex, tey = o.test[1], o.test[2]
  local nclasses = ks.max(try):item() + 1
  local log = o.log or function() end
  local ks_list = o.k
  local kmax = 0
  for _, k in ipairs(ks_list) do
    if math.type(k) ~= "integer" or k < 1 then error("learning_curve: K values must be integers >= 1", 0) end
    kmax = math.max(kmax, k)
  end
  local orders = {}
  for s = 0, o.seeds - 1 do orders[s] = LC.class_orders(try, nclasses, s) end
  local records = o.records or LC.records(nil)
  -- the figure of (key) from the records, or measure() it and record it
  local function memo(key, measure)
    key = (o.key_prefix or "") .. key
    local v = records.get(key)
    if v == nil then
      v = measure()
      records.put(key, v)
    end
    return v
  end
  local series = {}
  local function add(name)
    local se = {name = name, acc = {}}
    for _, k in ipairs(ks_list) do se.acc[k] = {} end
    series[#series + 1] = se
    return se
  end
  if o.scratch ~= false then
    local se = add("scratch CNN")
    for s = 0, o.seeds - 1 do
      for _, k in ipairs(ks_list) do
        local acc = memo(("scratch CNN|steps=%d|K=%d|seed=%d"):format(o.scratch_steps, k, s), function()
          local rows, y = LC.kshot(orders[s], nclasses, k)
          return LC.scratch_accuracy(trx:index_select(0, rows), y, tex, tey, nclasses, o.scratch_steps, 1000 * s + k)
        end)
        table.insert(se.acc[k], acc)
        log(("scratch CNN  K=%-3d seed %d: %.2f%%"):format(k, s, acc))
      end
    end
  end
  for _, b in ipairs(o.backbones or {}) do
    -- the checkpoint is loaded and its features computed on the first figure not in the records
    local P
    local function prepare()
      if P then return P end
      local B = LC.load_backbone(b[1], b[2])
      local t0 = os.clock()
      P = {ftest = B.bb:features(tex)}
      -- features of every training row any seed uses (the largest K-shot sets contain the others)
      local pool = {}
      for s = 0, o.seeds - 1 do pool[#pool + 1] = LC.kshot(orders[s], nclasses, kmax) end
      pool = ks.unique(ks.cat(pool, 0))
      P.fpool = B.bb:features(trx:index_select(0, pool))
      P.where = {}
      for i, r in ipairs(pool:totable()) do P.where[r] = i - 1 end
      local base_rows = {}
      local isbase = {}
      for _, c in ipairs(B.base_classes) do isbase[c] = true end
      for i, c in ipairs(try:totable()) do
        if isbase[c] and #base_rows < (o.base_size or 5000) then base_rows[#base_rows + 1] = i - 1 end
      end
      P.base_mean = B.bb:features(trx:index_select(0, ks.tensor(base_rows, "int64"))):mean(0)
      log(("%s: %s, features in %.1f s (CPU)"):format(b[1], b[2], os.clock() - t0))
      return P
    end
    local per_head = {}
    for _, h in ipairs(o.heads) do per_head[h] = add(b[1] .. " + " .. (h == "logreg" and "linear probe" or h)) end
    for s = 0, o.seeds - 1 do
      for _, k in ipairs(ks_list) do
        for _, h in ipairs(o.heads) do
          local key = ("%s|%s|%s|base=%d|K=%d|seed=%d"):format(clean(b[1]), clean(b[3] or b[2]), h,
            o.base_size or 5000, k, s)
          local acc = memo(key, function()
            local p = prepare()
            local rows, y = LC.kshot(orders[s], nclasses, k)
            local idx = {}
            for i, r in ipairs(rows:totable()) do idx[i] = p.where[r] end
            local ftrain = p.fpool:index_select(0, ks.tensor(idx, "int64"))
            return LC.head_accuracy(h, ftrain, y, p.ftest, tey, nclasses, p.base_mean)
          end)
          table.insert(per_head[h].acc[k], acc)
          log(("%s  K=%-3d seed %d: %.2f%%"):format(per_head[h].name, k, s, acc))
        end
      end
    end
  end
  for _, se in ipairs(series) do
    se.summary = {}
    for _, k in ipairs(ks_list) do se.summary[k] = stats.interval(se.acc[k], {method = "t"}) end
  end
  return {k = ks_list, series = series, seeds = o.seeds, test_size = tex:size(0), nclasses = nclasses}
end

-- ------------------------------------------------------------ output
--- The table (Markdown): one row per model, one column per K, "mean ± half".
function LC.table(r)
  local head = {"| model |"}
  local rule = {"|---|"}
  for _, k in ipairs(r.k) do head[#head + 1] = (" K=%d |"):format(k); rule[#rule + 1] = "---|" end
  local lines = {table.concat(head), table.concat(rule)}
  for _, se in ipairs(r.series) do
    local row = {"| " .. se.name .. " |"}
    for _, k in ipairs(r.k) do
      local s = se.summary[k]
      row[#row + 1] = s.half and (" %.1f ± %.1f |"):format(s.mean, s.half) or (" %.1f |"):format(s.mean)
    end
    lines[#lines + 1] = table.concat(row)
  end
  return table.concat(lines, "\n")
end

local COLORS = {"#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"}
local function esc(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end

--- The picture (SVG): accuracy against K on a log axis, mean and 95% interval per point.
function LC.svg(r, title)
  local L, T, W, Hh = 60, 40, 480, 300
  local kmin, kmax = math.huge, -math.huge
  local ylo, yhi = math.huge, -math.huge
  for _, k in ipairs(r.k) do kmin, kmax = math.min(kmin, k), math.max(kmax, k) end
  for _, se in ipairs(r.series) do
    for _, k in ipairs(r.k) do
      local s = se.summary[k]
      ylo, yhi = math.min(ylo, s.lo), math.max(yhi, s.hi)
    end
  end
  ylo, yhi = math.max(0, math.floor(ylo / 10) * 10), math.min(100, math.ceil(yhi / 10) * 10)
  if yhi <= ylo then ylo, yhi = 0, 100 end
  local lx0, lx1 = math.log(kmin), math.log(kmax)
  if lx1 == lx0 then lx0, lx1 = lx0 - 1, lx1 + 1 end
  local function X(k) return L + 24 + (math.log(k) - lx0) / (lx1 - lx0) * (W - 48) end
  local function Y(v) return T + Hh - (v - ylo) / (yhi - ylo) * Hh end
  local o = {('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">')
    :format(L + W + 260, T + Hh + 60), '<rect width="100%" height="100%" fill="white"/>',
    ('<text x="10" y="20" font-size="14">%s</text>'):format(esc(title)),
    ('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>'):format(L, T, W, Hh)}
  for _, k in ipairs(r.k) do
    o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">%d</text>'):format(X(k), T + Hh + 16, k)
  end
  o[#o + 1] = ('<text x="%d" y="%d" text-anchor="middle">K labelled images per class (log scale)</text>')
    :format(L + W // 2, T + Hh + 40)
  local step = (yhi - ylo) > 50 and 20 or 10
  for v = ylo, yhi, step do
    o[#o + 1] = ('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>'):format(L, L + W, Y(v), Y(v))
    o[#o + 1] = ('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%g</text>'):format(L - 4, Y(v), v)
  end
  o[#o + 1] = ('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">test accuracy (%%)</text>')
    :format(T + Hh // 2, T + Hh // 2)
  for i, se in ipairs(r.series) do
    local color = COLORS[(i - 1) % #COLORS + 1]
    local dx = (i - (#r.series + 1) / 2) * 3 -- series side by side, so their intervals stay visible
    local pts = {}
    for _, k in ipairs(r.k) do
      local s, xk = se.summary[k], X(k) + dx
      pts[#pts + 1] = ("%.1f,%.1f"):format(xk, Y(s.mean))
      local lo, hi = math.max(s.lo, ylo), math.min(s.hi, yhi) -- clipped to the axis
      o[#o + 1] = ('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s"/>'):format(xk, xk, Y(lo), Y(hi), color)
      o[#o + 1] = ('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>'):format(xk, Y(s.mean), color)
    end
    o[#o + 1] = ('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>'):format(color,
      table.concat(pts, " "))
    o[#o + 1] = ('<rect x="%d" y="%d" width="14" height="3" fill="%s"/>'):format(L + W + 12, T + 10 + (i - 1) * 18,
      color)
    o[#o + 1] = ('<text x="%d" y="%d" dominant-baseline="middle">%s</text>'):format(L + W + 32, T + 12 + (i - 1) * 18,
      esc(se.name))
  end
  o[#o + 1] = "</svg>\n"
  return table.concat(o, "\n")
end

-- ------------------------------------------------------------ main
-- Loaded as a module (`loadfile(path)("--as-module")`, as the smoke spec does): return the functions.
if ... == "--as-module" then return LC end

local cli = require "kshot.cli"
local D = LC.DEFAULTS
local args = cli.new {
  name = "learning_curve.lua",
  description = "Fashion-MNIST learning curve: 10-way test accuracy against K labelled images per class,\n"
    .. "from scratch vs frozen pretrained backbones (linear probe and CL2N), 95% t intervals over seeds.",
  options = {
    {"--k", "K values (labelled training images per class)", type = "list:integer", default = D.k, min = 1,
      max = 6000, unique = true},
    {"--seeds", "number of seeds: K-shot draws 0..seeds-1 (an interval needs 2)", type = "integer",
      default = D.seeds, min = 1},
    {"--supervised", "supervised backbone checkpoint ('none': skip; the default is found from the script's "
      .. "folder, ../models/)", default = D.supervised},
    {"--simclr", "self-supervised backbone checkpoint ('none': skip; default: as --supervised)", default = D.simclr},
    {"--heads", "heads on frozen features (logreg, CL2N, L2N, UN)", type = "list:string", default = D.heads,
      unique = true},
    {"--scratch-steps", "training steps of the from-scratch CNN (batch 32)", type = "integer",
      default = D.scratch_steps, min = 1},
    {"--no-scratch", "skip the from-scratch CNN", type = "flag"},
    {"--test-size", "test images (the first N; 0 = all 10,000)", type = "integer", default = D.test_size, min = 0,
      max = 10000},
    {"--base-size", "base-class training images for CL2N's centre", type = "integer", default = D.base_size,
      min = 1},
    {"--svg", "write the picture here ('none': no picture; runs/ is created for the default)",
      default = D.svg, path = "out_file", special = {"none"}},
    {"--json", "also write the results as JSON to this file", path = "out_file"},
    {"--records", "every figure is appended here as it is measured; a run stopped part-way (Ctrl-C) resumes "
      .. "from it ('none': keep nothing; runs/ is created for the default)", default = D.records, path = "out_file",
      special = {"none"}},
    {"--fresh", "measure every figure again (the records file is rewritten)", type = "flag"},
    {"--path", "Fashion-MNIST folder (default: $KSHOT_FASHION_MNIST or /usr/share/datasets/fashion-mnist)",
      path = "in_dir"},
    {"--threads", "kshot threads (default: all cores, at most 8)", type = "integer", min = 1, max = 256},
    {"-q --quiet", "print only the table", type = "flag"},
  },
}:parse(arg)

if args.threads then ks.set_num_threads(args.threads) end
for _, h in ipairs(args.heads) do
  local ok, m = pcall(Me.parse, h, "learning_curve")
  if not ok or not Me.FROZEN[m.name] then cli.fail(args, "--heads: '%s' is not a head (logreg, CL2N, L2N, UN)", h) end
end
-- the default checkpoints are the repository's models/, found from this script's folder (scripts/..),
-- so the script runs from any working directory; a path given on the command line is taken as it is
local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local function default_path(given, default)
  if given ~= default then return given end
  local f = io.open(given, "rb") -- run from the repository root: the short path, as --help shows it
  if f then f:close(); return given end
  return script_dir .. "/../" .. default
end
args.supervised = default_path(args.supervised, D.supervised)
args.simclr = default_path(args.simclr, D.simclr)
local backbones = {}
for _, b in ipairs({{"supervised", args.supervised}, {"simclr", args.simclr}}) do
  if b[2] ~= "none" then
    local f = io.open(b[2], "rb")
    if not f then
      io.stderr:write(("learning_curve.lua: %s backbone %s not found (pass --%s PATH, or --%s none)\n"):format(b[1],
        b[2], b[1], b[1]))
      os.exit(2)
    end
    f:close()
    backbones[#backbones + 1] = b
  end
end
local trx, try = cli.call(args, ks.data.fashion_mnist, {split = "train", path = args.path})
local tex, tey = cli.call(args, ks.data.fashion_mnist, {split = "test", path = args.path})
if args.test_size > 0 then tex, tey = tex:narrow(0, 0, args.test_size), tey:narrow(0, 0, args.test_size) end
local t0 = os.time()
-- what a recorded figure depends on besides its model, K and seed: the data (folder, test images) and, for
-- the backbones, the checkpoint file (path, size, modification time)
local lfs = require "lfs"
for _, b in ipairs(backbones) do
  local at = lfs.attributes(b[2]) or {}
  b[3] = ("%s size=%s mtime=%s"):format(b[2], tostring(at.size), tostring(at.modification))
end
local data_dir = (args.path or os.getenv("KSHOT_FASHION_MNIST") or "default"):gsub("[\t\n\r]", " ")
local key_prefix = ("data=%s|test=%d|"):format(data_dir, tex:size(0))
if args.records == D.records then os.execute("mkdir -p runs") end
local records = LC.records(args.records ~= "none" and args.records or nil, args.fresh)
local r = LC.run {train = {trx, try}, test = {tex, tey}, k = args.k, seeds = args.seeds, backbones = backbones,
  heads = args.heads, scratch_steps = args.scratch_steps, scratch = not args.no_scratch, base_size = args.base_size,
  records = records, key_prefix = key_prefix,
  log = (not args.quiet) and function(s) io.stderr:write(s, "\n") end or nil}
records.close()
print(("Fashion-MNIST, 10-way accuracy (%%) on %d test images, K labelled training images per class;\n"
  .. "%s; elapsed %d s"):format(r.test_size, r.seeds == 1 and "1 seed: the accuracy of one K-shot draw, no interval "
  .. "(--seeds 2 or more for one)" or ("mean ± 95%% t interval over %d seeds (sample sd, ddof = 1)"):format(r.seeds),
  os.time() - t0))
for _, b in ipairs(backbones) do print(("  %s: %s"):format(b[1], b[2])) end
if records.reused > 0 then
  print(("  %d figures read from %s (measured by an earlier run with the same settings; --fresh measures them "
    .. "again)"):format(records.reused, args.records))
end
print(LC.table(r))
local is_default = {[D.supervised] = true, [script_dir .. "/../" .. D.supervised] = true,
  [D.simclr] = true, [script_dir .. "/../" .. D.simclr] = true}
if args.supervised ~= "none" then
  print(("\nCaveat: the supervised backbone was pretrained on the base classes' labelled training images (%s), "
    .. "so for its rows K counts only the labels added on top of that pretraining, not all the labels "
    .. "used."):format(is_default[args.supervised] and "classes 0-4, about 27,000 labelled images"
      or "see the checkpoint's metadata"))
end
if args.simclr ~= "none" and is_default[args.simclr] then
  print("Caveat: the simclr backbone was pretrained without labels on all 60,000 training images, the K-shot "
    .. "images among them (never on test images).")
end
if args.svg ~= "none" then
  -- a given --svg's folder exists (checked by cli); the default's, runs/, is created
  if args.svg == D.svg then os.execute("mkdir -p runs") end
  local f = assert(io.open(args.svg, "w"))
  f:write(LC.svg(r, ("Fashion-MNIST learning curve: 10-way test accuracy, %d seeds, 95%% t intervals"):format(r.seeds)))
  f:close()
  print("picture: " .. args.svg)
end
if args.json then
  local json = require "dkjson"
  local out = {k = r.k, seeds = r.seeds, test_size = r.test_size, series = {}}
  for _, se in ipairs(r.series) do
    local row = {name = se.name, per_seed = {}, mean = {}, half = {}}
    for i, k in ipairs(r.k) do
      -- null, not a hole in the list, where there is no interval (1 seed)
      row.per_seed[i], row.mean[i], row.half[i] = se.acc[k], se.summary[k].mean, se.summary[k].half or json.null
    end
    out.series[#out.series + 1] = row
  end
  local f = assert(io.open(args.json, "w"))
  f:write(json.encode(out, {indent = true}), "\n")
  f:close()
end
