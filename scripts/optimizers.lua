--- optimizers.lua: GD, SGD, Adam and AdamW on the same small-sample task.
--
-- Task: Fashion-MNIST, K = 10 labelled images per class (100 images, a
-- seeded stratified draw per replicate), an MLP 784-128-10, tested on the
-- first --test-size test images.
--   GD     full-batch gradient descent (SGD on all 100 images, no momentum)
--   SGD    mini-batches of 20, momentum 0.9
--   Adam   mini-batches of 20, PyTorch defaults but the learning rate
--   AdamW  mini-batches of 20, decoupled weight decay 0.01
-- 1. A learning-rate range test per optimizer (kshot.optim.lr_scheduler.range_test)
--    on one extra K-shot draw of the training images (seed 0), made for the
--    range tests only: no replicate trains on it (the replicates' draws come
--    from the experiment's seeds). The training rate is a third of the rate of
--    steepest descent of the smoothed loss, rounded to 2 digits; one rate per
--    optimizer, the same on every replicate. Plot: <root>/optimizers*/range_test.svg.
-- 2. Each optimizer trained at its rate on every replicate
--    (kshot.experiment): test accuracy with 95% intervals, paired tests against
--    SGD (Holm), training-loss curves (curves.svg) and a comparison plot.
-- The report and plots are report.md, range_test.svg, curves.svg and
-- comparison.svg in the experiment's folder; a run of fewer replicates than
-- the folder has recorded writes report-<id>.md, range_test-<id>.svg, ...
-- instead (kshot.experiment's exp:report_files), leaving the others.
-- Resume: the runs are recorded under --root; started again with the same
-- options, the script redoes the range tests (seeded: the same rates) and
-- runs only what is not recorded. A run's config holds its rate, so a record
-- made at another rate is stale and re-run; --fresh re-runs everything.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local metrics = require "kshot.metrics"
local experiment = require "kshot.experiment"
local cli = require "kshot.cli"
local json = require "dkjson"
local F = ks.functional

local args = cli.new {
  name = "optimizers.lua",
  description = "GD, SGD, Adam and AdamW on K-shot Fashion-MNIST: learning-rate range tests, curves, paired tests.",
  options = {
    { "--k", "labelled images per class (a class has 6,000 training images)", type = "integer", default = 10,
      min = 1, max = 6000 },
    { "--seeds", "replicates (default 3; 5 with --smoke)", type = "integer", min = 1 },
    { "--steps", "training steps per run (default 200; 60 with --smoke)", type = "integer", min = 1 },
    { "--test-size", "test images (0 = all; default 2000; 500 with --smoke)", type = "integer", min = 0 },
    { "--smoke", "a quick run for the regression tests: 5 seeds, 60 steps, 500 test images and 50 range-test "
      .. "steps instead of 100 (explicit --seeds / --steps / --test-size win)", type = "flag" },
    { "--threads", "kshot threads (default: all cores, at most 8)", type = "integer", min = 1, max = 256 },
    { "--root", "folder of the run records; a run stopped part-way (Ctrl-C) resumes from them when started "
      .. "again with the same options", default = "runs", path = "dir" },
    { "--fresh", "re-run the runs already recorded", type = "flag" },
    { "--no-records", "keep records in a temporary folder (deleted at the end)", type = "flag" },
    { "--path", "Fashion-MNIST folder (default: $KSHOT_FASHION_MNIST or /usr/share/datasets/fashion-mnist)",
      path = "in_dir" },
    { "--json", "also write the results as JSON to this file", path = "out_file" },
    { "-q --quiet", "print only the report", type = "flag" },
  },
}:parse(arg)
-- --smoke changes the defaults only: values given on the command line win
args.seeds = args.seeds or (args.smoke and 5 or 3)
args.steps = args.steps or (args.smoke and 60 or 200)
args.test_size = args.test_size or (args.smoke and 500 or 2000)
if args.threads then ks.set_num_threads(args.threads) end
local function say(...) if not args.quiet then io.stderr:write(table.concat({ ... }, " "), "\n") end end

-- ------------------------------------------------------------ data
local train_x, train_y = cli.call(args, ks.data.fashion_mnist, { split = "train", path = args.path })
local test_x, test_y = cli.call(args, ks.data.fashion_mnist, { split = "test", path = args.path })
if args.test_size > 0 and args.test_size < test_x:size(0) then
  test_x, test_y = test_x:narrow(0, 0, args.test_size), test_y:narrow(0, 0, args.test_size)
end
local function prepare(u8) return u8:float():div(255):view(-1, 784) end
local test_in = prepare(test_x)

local function kshot_set(seed)
  local rows = ks.data.kshot_indices(train_y, args.k, { seed = seed })
  return prepare(train_x:index_select(0, rows)), train_y:index_select(0, rows)
end

-- ------------------------------------------------------------ optimizers
local OPTIMIZERS = {
  { name = "GD", batch = "full", make = function(p, lr) return optim.SGD(p, { lr = lr }) end },
  { name = "SGD", batch = 20, make = function(p, lr) return optim.SGD(p, { lr = lr, momentum = 0.9 }) end },
  { name = "Adam", batch = 20, make = function(p, lr) return optim.Adam(p, { lr = lr }) end },
  { name = "AdamW", batch = 20, make = function(p, lr) return optim.AdamW(p, { lr = lr, weight_decay = 0.01 }) end },
}

local function setup(o, seed, lr)
  ks.manual_seed(seed)
  local model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
  local opt = o.make(model:parameters(), lr)
  return model, opt
end

-- one optimisation step on a batch (all rows for GD); returns the loss
local function stepper(o, model, opt, x, y)
  local n = x:size(0)
  return function()
    local xb, yb = x, y
    if o.batch ~= "full" then
      local idx = ks.randint(0, n, { math.min(o.batch, n) })
      xb, yb = x:index_select(0, idx), y:index_select(0, idx)
    end
    opt:zero_grad()
    local loss = F.cross_entropy(model(xb), yb)
    loss:backward()
    opt:step()
    return loss:item()
  end
end

-- ------------------------------------------------------------ 1. range tests
local root = args.root
-- --no-records: a temporary folder, deleted at the end, on an error (Ctrl-C included) and by cli.exit / cli.fail
local tmp_root <close> = args.no_records and cli.temp_dir() or nil
if tmp_root then root = tmp_root.path end
local name = ("optimizers-k%d-test%d-steps%d"):format(args.k, test_x:size(0), args.steps)
local xr, yr = kshot_set(0)
local range, suggested = {}, {}
local RANGE_STEPS = args.smoke and 50 or 100
for _, o in ipairs(OPTIMIZERS) do
  local model, opt = setup(o, 0, 1e-3)
  local r = optim.lr_scheduler.range_test(opt, stepper(o, model, opt, xr, yr),
    { start_lr = 1e-5, end_lr = 10, num_iter = RANGE_STEPS, model = model })
  -- a rate a little below the steepest descent (1/3 of it) is the usual pick; round to 2 digits
  local lr = tonumber(("%.2g"):format(r.suggested_lr / 3))
  range[o.name], suggested[o.name] = r, lr
  say(("range test %-6s steepest descent at lr %.3g -> training lr %.3g"):format(o.name, r.suggested_lr, lr))
end

-- range-test plot: smoothed loss against log10(lr), with the loss values on the y axis and each
-- optimizer's training rate (a third of its steepest descent) as a dashed line
local function range_svg()
  local L, T, W, H = 60, 40, 480, 300
  local xlo, xhi, ylo, yhi = -5, 1, math.huge, -math.huge
  for _, o in ipairs(OPTIMIZERS) do
    for i, l in ipairs(range[o.name].losses) do
      if l == l and i > 1 then ylo, yhi = math.min(ylo, l), math.max(yhi, l) end
    end
  end
  yhi = math.min(yhi, ylo + 3 * (range.SGD.losses[1] - ylo + 1e-9))
  local function X(v) return L + (math.log(v, 10) - xlo) / (xhi - xlo) * W end
  local function Y(v) return T + H - (math.min(v, yhi) - ylo) / (yhi - ylo) * H end
  local colors = { "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728" }
  local o = { ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">')
    :format(L + W + 160, T + H + 50), '<rect width="100%" height="100%" fill="white"/>',
    ('<text x="10" y="20" font-size="14">learning-rate range test (%d steps): smoothed training loss vs lr; '
      .. 'dashed: the training lr</text>'):format(RANGE_STEPS),
    ('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="black"/>'):format(L, T, W, H) }
  for e = xlo, xhi do
    o[#o + 1] = ('<text x="%.1f" y="%d" text-anchor="middle">1e%d</text>'):format(L + (e - xlo) / (xhi - xlo) * W,
      T + H + 16, e)
  end
  o[#o + 1] = ('<text x="%d" y="%d" text-anchor="middle">learning rate (log scale)</text>'):format(L + W // 2,
    T + H + 34)
  for j = 0, 4 do -- loss values: 5 ticks over the plotted range (the top is clipped at yhi)
    local v = ylo + j / 4 * (yhi - ylo)
    o[#o + 1] = ('<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%.3g</text>'):format(L - 4,
      Y(v), v)
  end
  o[#o + 1] = ('<text x="14" y="%d" transform="rotate(-90 14 %d)" text-anchor="middle">smoothed training loss '
    .. '(cross-entropy)</text>'):format(T + H // 2, T + H // 2)
  for i, opt in ipairs(OPTIMIZERS) do
    local x = math.max(L, math.min(L + W, X(suggested[opt.name]))) -- a third of 1e-5 would leave the box
    o[#o + 1] = ('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="%s" stroke-dasharray="4 3"/>'):format(x, x, T,
      T + H, colors[i])
  end
  for i, opt in ipairs(OPTIMIZERS) do
    local r, pts = range[opt.name], {}
    for j, l in ipairs(r.losses) do
      if l == l then pts[#pts + 1] = ("%.1f,%.1f"):format(X(r.lrs[j]), Y(l)) end
    end
    o[#o + 1] = ('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>'):format(colors[i],
      table.concat(pts, " "))
    o[#o + 1] = ('<text x="%d" y="%d" fill="%s">%s (lr %.2g)</text>'):format(L + W + 10, T + 14 + (i - 1) * 18,
      colors[i], opt.name, suggested[opt.name])
  end
  o[#o + 1] = "</svg>\n"
  return table.concat(o, "\n")
end

-- ------------------------------------------------------------ 2. training
local configs = {}
for _, o in ipairs(OPTIMIZERS) do configs[#configs + 1] = { name = o.name, lr = suggested[o.name] } end
local by_name = {}
for _, o in ipairs(OPTIMIZERS) do by_name[o.name] = o end

local exp = experiment.new {
  name = name, root = root, seed = 7, seeds = args.seeds, configs = configs, metric = "accuracy",
  baseline = "SGD", curve_metric = "loss", progress = not args.quiet,
  run = function(cfg, ctx)
    local seed = ctx.seed % 2147483647
    local x, y = kshot_set(seed)
    local o = by_name[cfg.name]
    local model, opt = setup(o, seed, cfg.lr)
    local step = stepper(o, model, opt, x, y)
    local running = 0
    for s = 1, args.steps do
      running = running + step()
      if s % 10 == 0 then
        ctx.log { step = s, loss = running / 10 }
        running = 0
      end
    end
    model:eval()
    local acc = ks.no_grad(function() return 100 * metrics.accuracy(model(test_in), test_y) end)
    return { accuracy = acc, lr = cfg.lr }
  end,
}
-- a record is reused only when its config (name and rate) is the one of this run's range tests:
-- kshot.experiment re-runs a record whose config.json differs (stale), so a stopped run resumes
exp:run { force = args.fresh }
local text, s = exp:report { plots = true }
-- the rate is a setting (one per optimizer, from the range test), not a mean over the replicates
text = text:gsub("| lr %(mean%) |", "| lr |", 1)
-- the saved report says the same, under exp:report's own name (report.md for the
-- whole experiment folder, report-<id>.md for fewer replicates than recorded)
local files = exp:report_files()
local range_path = files.report:gsub("report(%-?%x*)%.md$", "range_test%1.svg")
-- what was trained and measured, under the title: the report alone must say it
local n_train = args.k * 10
local task = ("Task: Fashion-MNIST, K = %d labelled training images per class (%d images, a stratified draw per "
  .. "replicate), an MLP 784-128-10 trained %d steps: GD on all %d images per step, SGD (momentum 0.9), Adam "
  .. "(PyTorch defaults) and AdamW (weight decay 0.01) on mini-batches of %d drawn with replacement. `accuracy`: "
  .. "%% correct on the first %d test images. `lr`: one rate per optimizer, a third of the rate of steepest "
  .. "descent of the smoothed training loss in a range test (%d steps, lr 1e-5 to 10; %s) on a "
  .. "separate K-shot draw of training images (seed 0), rounded to 2 significant digits: no test image is used "
  .. "to choose it.\n"):format(args.k, n_train, args.steps, n_train, math.min(20, n_train), test_x:size(0), RANGE_STEPS,
  range_path:match("[^/]+$"))
text = text:gsub("^(# [^\n]*\n)", function(title) return title .. "\n" .. task end, 1)
local rf = assert(io.open(files.report, "wb"))
rf:write(text)
rf:close()
local f = assert(io.open(range_path, "wb"))
f:write(range_svg())
f:close()
io.write(text)
if args.no_records then
  print("\nplots: none kept (--no-records: the records and the plots are deleted at the end)")
else
  local kept = {}
  for _, p in ipairs { { range_path, "" }, { files.curves, " (training loss)" }, { files.comparison, "" } } do
    local h = io.open(p[1], "rb") -- curves only when the runs logged a loss (every 10 steps)
    if h then
      h:close()
      kept[#kept + 1] = p[1] .. p[2]
    end
  end
  print("\nplots: " .. table.concat(kept, ", "))
end

if args.json then
  local out = { suggested_lr = suggested, regression = {} }
  for _, row in ipairs(s.rows) do
    local vals = {}
    for _, r in ipairs(exp.replicates) do
      local v = s.configs[exp.by_key[row.key]].values[r]
      vals[#vals + 1] = v and v.accuracy or nil
    end
    out.regression[row.key .. "_accuracy"] = vals
  end
  local jf = assert(io.open(args.json, "wb"))
  jf:write(json.encode(out, { indent = true }))
  jf:close()
end
if tmp_root then tmp_root.remove() end
