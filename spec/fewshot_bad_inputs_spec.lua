-- The bad inputs of issue 7 beyond spec/fewshot_spec.lua's: class lists that
-- name classes a pool does not have, base/episode overlaps, bad lists for
-- fit, checkpoints whose names or shapes do not fit (a small model saved
-- here), and a classifier reloaded on a backbone of another feature size
-- (PyTorch checkpoints: spec/fewshot_torch_backbone_spec.lua).
local ks = require "kshot"
local nn = require "kshot.nn"
local fewshot = require "kshot.fewshot"

local function errmsg(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function has(msg, text) assert.truthy(msg:find(text, 1, true), msg) end

-- 2-D points of `n` classes, `per` each (the raw-pixel backbone takes them as features)
local function points(n, per, seed)
  local x = ks.randn({n * per, 2}, {generator = ks.Generator(seed)})
  local labels = {}
  for i = 0, n * per - 1 do labels[#labels + 1] = i // per end
  return x, ks.tensor(labels, "int64")
end

describe("few-shot bad inputs", function()
  local x, y = points(4, 6, 1)
  local pool = {images = x, labels = y}

  it("errors name the caller's line, wherever in kshot.fewshot the check sits", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local r = fewshot.evaluate({method = "no_such", way = 2, shot = 1, support_pool = pool}); return r end)
    assert.is_false(ok)
    assert.truthy(err:find("^.-fewshot_bad_inputs_spec%.lua:" .. line .. ": "), err)
    has(err, "no_such")
  end)

  it("load_backbone: input statistics from the options, the metadata, or the stem's channels", function()
    local path = os.tmpname()
    local function saved(channels, meta)
      local m = nn.resnet { layers = { 1, 1, 1, 1 }, width = 4, num_classes = 3, in_channels = channels, small_input = true }
      ks.save(path, m:state_dict(), meta)
    end
    saved(3)
    local _, meta = fewshot.load_backbone(path) -- torchvision's ImageNet normalisation, per channel
    assert.same({ 0.485, 0.456, 0.406 }, meta.mean)
    assert.same({ 0.229, 0.224, 0.225 }, meta.std)
    _, meta = fewshot.load_backbone(path, { mean = { 0.5, 0.5, 0.5 }, std = 0.25 }) -- a list is kept (was lost)
    assert.same({ 0.5, 0.5, 0.5 }, meta.mean)
    assert.equal(0.25, meta.std)
    saved(3, { mean = "0.1,0.2,0.3", std = "0.5" })
    _, meta = fewshot.load_backbone(path)
    assert.same({ 0.1, 0.2, 0.3 }, meta.mean)
    assert.equal(0.5, meta.std)
    saved(1)
    _, meta = fewshot.load_backbone(path)
    assert.equal(0.2860, meta.mean)
    saved(2)
    has(errmsg(fewshot.load_backbone, path), "a 2-channel model has no default input mean: give load_backbone's options")
    saved(1, { mean = "grey" })
    has(errmsg(fewshot.load_backbone, path), "metadata 'mean' = \"grey\" is not a number")
    has(errmsg(fewshot.load_backbone, path, { mean = true }), "option 'mean' must be a number, a list of numbers or a tensor, got boolean")
    os.remove(path)
  end)

  it("a class of classes= absent from a pool", function()
    has(errmsg(fewshot.evaluate, {method = "UN", classes = {0, 1, 7}, way = 2, shot = 1, query = 1, support_pool = pool}),
      "class 7 has no image in support_pool")
    local qx, qy = points(2, 6, 2)
    has(errmsg(fewshot.evaluate, {method = "UN", classes = {0, 1, 3}, way = 2, shot = 1, query = 1, support_pool = pool,
      query_pool = {images = qx, labels = qy}}), "class 3 has no image in query_pool")
    -- shot alone too large when queries come from their own pool
    has(errmsg(fewshot.evaluate, {method = "UN", way = 2, shot = 7, query = 1, support_pool = pool,
      query_pool = pool}), "class 0 has 6 images in support_pool, fewer than shot = 7")
  end)

  it("base classes that overlap the episode classes, or that the base pool lacks", function()
    has(errmsg(fewshot.evaluate, {method = "CL2N", classes = {0, 1}, way = 2, shot = 1, query = 1, support_pool = pool,
      base_pool = pool, base_classes = {1, 2}}), "class 1 is both a base class and an episode class")
    has(errmsg(fewshot.evaluate, {method = "CL2N", classes = {0, 1}, way = 2, shot = 1, query = 1, support_pool = pool,
      base_pool = pool, base_classes = {2, 2}}), "class 2 is listed twice")
    has(errmsg(fewshot.evaluate, {method = "CL2N", classes = {0, 1}, way = 2, shot = 1, query = 1, support_pool = pool,
      base_pool = pool, base_classes = {9}}), "base_pool has no image of the base classes")
  end)

  it("fit: empty, duplicated or one-class lists; labels outside the list", function()
    has(errmsg(fewshot.fit, {method = "UN", images = x, labels = y, classes = {}}), "classes is empty")
    has(errmsg(fewshot.fit, {method = "UN", images = x, labels = y, classes = {0, 1, 2, 3, 3}}),
      "class 3 is listed twice")
    local one = ks.zeros({4}, "int64")
    has(errmsg(fewshot.fit, {method = "UN", images = x:narrow(0, 0, 4), labels = one}), "at least 2 classes are needed")
    has(errmsg(fewshot.fit, {method = "UN", images = x, labels = y - 1}), "labels must be class ids >= 0, got -1")
    has(errmsg(fewshot.fit, {method = "UN", images = x, labels = y, classes = {0, 1, 2, 3, 4}}),
      "class 4 has no example in labels")
    has(errmsg(fewshot.fit, {method = "UN", images = x:narrow(0, 0, 5), labels = y}), "5 images but 24 labels")
  end)

  it("a checkpoint whose names or shapes do not fit the architecture", function()
    ks.manual_seed(2)
    local model = nn.resnet {layers = {1, 1, 1, 1}, width = 2, num_classes = 3}
    local sd = model:state_dict()
    local path = os.tmpname()
    local meta = {layers = "1,1,1,1", width = "2"}
    ks.save(path, sd, meta)
    local back = fewshot.load_backbone(path) -- the unchanged file loads
    assert.are.equal(0, (back.fc.weight - model.fc.weight):abs():max():item())
    local t = {}
    for k, v in pairs(sd) do t[k] = v end
    t["layer3.0.bn2.running_var"], t["layer3.0.bn2.running_variance"] = nil, t["layer3.0.bn2.running_var"]
    ks.save(path, t, meta)
    local m = errmsg(fewshot.load_backbone, path)
    has(m, path)
    has(m, "missing keys: layer3.0.bn2.running_var")
    has(m, "unexpected keys: layer3.0.bn2.running_variance")
    t["layer3.0.bn2.running_var"], t["layer3.0.bn2.running_variance"] = sd["layer3.0.bn2.running_var"], nil
    t["layer1.0.conv2.weight"] = ks.zeros(2, 2, 5, 5)
    ks.save(path, t, meta)
    m = errmsg(fewshot.load_backbone, path)
    has(m, "size mismatch for layer1.0.conv2.weight")
    has(m, "[2, 2, 5, 5]")
    has(m, "[2, 2, 3, 3]")
    ks.save(path, sd, {layers = "1,1,2,1", width = "2"}) -- the metadata promises a block the file lacks
    has(errmsg(fewshot.load_backbone, path), "missing keys: layer3.1.")
    os.remove(path)
  end)

  it("a saved classifier reloaded on a backbone of another feature size", function()
    ks.manual_seed(3)
    local imgs = (ks.rand({8, 10, 10}) * 255):byte()
    local labs = ks.tensor({0, 0, 1, 1, 2, 2, 3, 3}, "int64")
    local a = nn.resnet {layers = {1, 1, 1, 1}, width = 2, num_classes = 3}
    local b = nn.resnet {layers = {1, 1, 1, 1}, width = 3, num_classes = 3}
    local path = os.tmpname()
    for _, method in ipairs({"logreg", "L2N", "bn"}) do
      fewshot.fit {backbone = a, method = method, images = imgs, labels = labs}:save(path)
      local m = errmsg(fewshot.load, path, {backbone = b})
      if method == "bn" then -- the saved running statistics do not fit first
        has(m, "tensor 'bn1.running_mean' is [2] in " .. path)
        has(m, "but [3] in the backbone")
      else
        has(m, "the backbone gives 24 features per image but the head in " .. path .. " was fit on 16")
      end
    end
    os.remove(path)
  end)

  -- every method option is checked when the method is parsed (before any episode), naming method and option
  it("logreg options: types, ranges and solver names", function()
    local function run(spec)
      return errmsg(fewshot.evaluate, {method = spec, way = 2, shot = 2, query = 1, episodes = 1, support_pool = pool})
    end
    has(run({"logreg", C = 0}), "logreg option C must be a number > 0, got 0")
    has(run({"logreg", C = -1}), "logreg option C must be a number > 0, got -1")
    has(run({"logreg", C = "x"}), 'logreg option C must be a number > 0, got "x"')
    has(run({"logreg", C = 0 / 0}), "logreg option C must be a number > 0")
    has(run({"logreg", Cs = {}}), "logreg option Cs must be a non-empty list of numbers > 0, got an empty table")
    has(run({"logreg", Cs = {0, -1}}), "logreg option Cs[1] must be a number > 0, got 0")
    has(run({"logreg", Cs = 1}), "logreg option Cs must be a non-empty list of numbers > 0, got 1")
    has(run({"logreg", default_C = 0}), "logreg option default_C must be a number > 0, got 0")
    has(run({"logreg", solver = "bogus"}), 'logreg option solver must be "lbfgs" or "gd", got "bogus"')
    has(run({"logreg", max_iter = 0}), "logreg option max_iter must be an integer >= 1, got 0")
    has(run({"logreg", max_iter = "a"}), 'logreg option max_iter must be an integer >= 1, got "a"')
    has(run({"logreg", solver = "gd", gd_steps = -1}), "logreg option gd_steps must be an integer >= 1, got -1")
    has(run({"logreg", folds = 0}), "logreg option folds must be an integer >= 2, got 0")
    has(run({"logreg", folds = 1}), "logreg option folds must be an integer >= 2, got 1")
    has(run({"logreg", tol = -1}), "logreg option tol must be a number >= 0, got -1")
    -- the same checks in fit and in tune's grid (before any episode)
    has(errmsg(fewshot.fit, {method = {"logreg", C = 0}, images = x, labels = y}), "fewshot.fit: logreg option C")
    has(errmsg(fewshot.tune, {method = "logreg", grid = {C = {1, 0}}, base_pool = pool, way = 2, shot = 2, query = 1,
      episodes = 1}), "logreg option C must be a number > 0, got 0")
    -- valid options still run
    local r = fewshot.evaluate {method = {"logreg", C = 1, solver = "gd", gd_steps = 5, folds = 2, tol = 0},
      way = 2, shot = 2, query = 1, episodes = 1, support_pool = pool}
    assert.are.equal(1, r.n)
  end)

  it("finetune options: types and ranges, before any training", function()
    ks.manual_seed(4)
    local model = nn.Sequential(nn.Flatten(), nn.Linear(2, 3))
    local function run(spec)
      return errmsg(fewshot.fit, {method = spec, images = x:view(24, 1, 1, 2), labels = y, backbone = model})
    end
    has(run({"finetune", steps = -1}), "finetune option steps must be an integer >= 0, got -1")
    has(run({"finetune", steps = 1.5}), "finetune option steps must be an integer >= 0, got 1.5")
    has(run({"finetune", lr = "a"}), 'finetune option lr must be a number > 0, got "a"')
    has(run({"finetune", lr = -1}), "finetune option lr must be a number > 0, got -1")
    has(run({"finetune", backbone_lr = -1}), "finetune option backbone_lr must be a number >= 0, got -1")
    has(run({"finetune", momentum = "x"}), "finetune option momentum must be a number >= 0")
    has(run({"finetune", weight_decay = -1}), "finetune option weight_decay must be a number >= 0, got -1")
    has(run({"finetune", scale = 0}), "finetune option scale must be a number > 0, got 0")
    has(run({"finetune", label_smoothing = 2}), "finetune option label_smoothing must be a number >= 0 and <= 1, got 2")
    has(run({"finetune", augment = 5}), "finetune option augment must be true, false or an augment pipeline")
    has(run({"finetune", train = {}}), 'finetune option train must be "all" or a non-empty list of sub-module names')
    has(run({"finetune", train = "last"}), 'finetune option train must be "all" or a non-empty list')
    has(run({"finetune", train = {1}}), "finetune option train[1] must be a sub-module name (string), got 1")
  end)

  it("fit checks its base pool as evaluate does", function()
    local function run(o)
      local t = {method = "CL2N", images = x, labels = y, classes = {0, 1, 2, 3}}
      for k, v in pairs(o) do t[k] = v end
      return errmsg(fewshot.fit, t)
    end
    has(run({base_pool = pool, base_classes = {0}}), "fewshot.fit: class 0 is both a base class and an episode class")
    local bx, by = points(6, 2, 5)
    has(run({base_pool = {images = bx, labels = by}, base_classes = {9}}),
      "fewshot.fit: base_pool has no image of the base classes (base_classes = {9})")
    has(run({base_pool = {images = bx, labels = by}, base_classes = {4, 9}}),
      "fewshot.fit: class 9 of base_classes has no image in base_pool")
    has(run({base_pool = pool}), "fewshot.fit: base_pool has no class other than the episode classes")
    has(run({base_pool = {images = bx, labels = by:float() + 0.5}, base_classes = {4}}),
      "fewshot.fit: base_pool.labels must be integer class ids, got 0.5 at index 0")
    has(errmsg(fewshot.fit, {method = "UN", images = x, labels = y, base_classes = {4}}), "base_classes= needs base_pool=")
    -- evaluate: a base class absent next to a present one
    has(errmsg(fewshot.evaluate, {method = "CL2N", classes = {0, 1}, way = 2, shot = 1, query = 1, support_pool = pool,
      base_pool = pool, base_classes = {2, 9}}), "fewshot.evaluate: class 9 of base_classes has no image in base_pool")
    -- a valid base pool: CL2N fit on classes 0..1 with base classes 2..3 still works
    local c = fewshot.fit {method = "CL2N", images = x:narrow(0, 0, 12), labels = y:narrow(0, 0, 12), base_pool = pool}
    assert.are.equal(24, c:predict(x):numel())
  end)

  it("labels: integers in [0, 2^31), named by pool", function()
    has(errmsg(fewshot.fit, {method = "UN", images = x, labels = y:float() + 0.5}),
      "fewshot.fit: labels must be integer class ids, got 0.5 at index 0")
    has(errmsg(fewshot.fit, {method = "UN", images = x, labels = y * (1 << 40)}),
      "fewshot.fit: labels must be class ids < 2^31, got 3298534883328")
    local function ev(p) return errmsg(fewshot.evaluate, {method = "UN", way = 2, shot = 1, query = 1, support_pool = p}) end
    has(ev({images = x, labels = y - 2}), "fewshot.evaluate: support_pool.labels must be class ids >= 0, got -2")
    has(ev({images = x, labels = y * (1 << 40)}), "support_pool.labels must be class ids < 2^31")
    has(ev({images = ks.tensor(1.0), labels = ks.zeros(0, "int64")}),
      "support_pool.images must have the images along dim 0 ([N, H, W] or [N, C, H, W]), got a 0-dimensional tensor")
    has(errmsg(fewshot.evaluate, {method = "UN", way = 2, shot = 1, query = 1, support_pool = pool,
      query_pool = {images = x, labels = y:float() - 0.5}}), "query_pool.labels must be integer class ids, got -0.5")
    -- integral float labels are accepted and give the same classifier as int64 ones
    local a = fewshot.fit {method = "UN", images = x, labels = y}
    local b = fewshot.fit {method = "UN", images = x, labels = y:float()}
    assert.are.same(a:predict(x):totable(), b:predict(x):totable())
  end)

  it("progress, tune's options, predict with a dot", function()
    has(errmsg(fewshot.evaluate, {method = "UN", way = 2, shot = 1, query = 1, episodes = 1, support_pool = pool,
      progress = 5}), "fewshot.evaluate: progress must be a function(episode, episodes), got number")
    local seen = 0
    fewshot.evaluate {method = "UN", way = 2, shot = 1, query = 1, episodes = 2, support_pool = pool,
      progress = function(e, n) seen = seen + e * 10 + n end}
    assert.are.equal(12 + 22, seen)
    has(errmsg(fewshot.evaluate, {method = "UN", way = 2, shot = 1, query = 1, episodes = 1, support_pool = pool,
      batc = 3}), "fewshot.evaluate: unknown option 'batc' (known: backbone, base_classes, ")
    has(errmsg(fewshot.evaluate, {method = "UN", way = 2, shot = 1, query = 1, episodes = 1, support_pool = pool,
      batc = 3}), "did you mean 'batch'?")
    local t = {method = "logreg", grid = {C = {1}}, base_pool = pool, way = 2, shot = 2, query = 1, episodes = 1}
    t.zzz = 1
    has(errmsg(fewshot.tune, t), "fewshot.tune: unknown option 'zzz'")
    t.zzz, t.support_pool = nil, pool
    has(errmsg(fewshot.tune, t), "fewshot.tune: support_pool is not an option of tune")
    local c = fewshot.fit {method = "UN", images = x, labels = y}
    has(errmsg(c.predict, x), "predict: called on a tensor, not a classifier (use clf:predict(x), with a colon)")
    has(errmsg(c.predict_proba, x), "use clf:predict_proba(x)")
    has(errmsg(c.save, "/tmp/x.st"), "use clf:save(x)")
    local r = fewshot.compare {methods = {"UN", "L2N"}, way = 2, shot = 1, query = 1, episodes = 2, support_pool = pool}
    assert.are.same(r.diff("UN", "L2N").per_episode, r:diff("UN", "L2N").per_episode)
  end)

  it("mean / std: numbers, tensors or per-channel lists; bad ones named", function()
    ks.manual_seed(5)
    local imgs = ks.rand(8, 2, 4, 4)
    local labs = ks.tensor({0, 0, 1, 1, 2, 2, 3, 3}, "int64")
    local model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.Flatten())
    local function fit(mean, std)
      return fewshot.fit {method = "logreg", images = imgs, labels = labs, backbone = model, mean = mean, std = std}
    end
    -- a list of per-channel values = the [C, 1, 1] tensor of them, also after save / load
    local a = fit({0.25, 0.5}, {0.5, 2})
    local b = fit(ks.tensor({0.25, 0.5}):view(2, 1, 1), ks.tensor({0.5, 2}):view(2, 1, 1))
    local pa, pb = a:predict_proba(imgs), b:predict_proba(imgs)
    assert.are.equal(0, (pa - pb):abs():max():item())
    for _, c in ipairs({a, b}) do
      local path = os.tmpname()
      c:save(path)
      local c2 = fewshot.load(path, {backbone = model})
      assert.are.equal(0, (c2:predict_proba(imgs) - pa):abs():max():item())
      os.remove(path)
    end
    has(errmsg(fit, {0.5, 0.5, 0.5}, nil), "fewshot: mean has 3 values (one per channel) but the prepared input is "
      .. "[8, 2, 4, 4] (expected [N, 3, H, W])")
    has(errmsg(fit, nil, {1, 0}), "fewshot.backbone: std[2] must be a non-zero finite number")
    has(errmsg(fit, nil, 0), "fewshot.backbone: std must be a non-zero finite number, got 0")
    has(errmsg(fit, "x", nil), "fewshot.backbone: mean must be a number, a tensor or a list of per-channel numbers, "
      .. "got string")
    has(errmsg(fit, {}, nil), "got an empty table")
    has(errmsg(fit, {0.5, "a"}, nil), "fewshot.backbone: mean[2] must be a finite number")
  end)

  it("a backbone returning features for a different number of images names both", function()
    local m = errmsg(fewshot.evaluate, {method = "UN", backbone = function() return ks.zeros(1, 4) end, way = 3, shot = 2,
      query = 2, episodes = 2, support_pool = pool, seed = 0})
    has(m, "fewshot: the backbone returned features of shape [1, 4] for a batch of")
    has(m, "images (expected")
    m = errmsg(fewshot.fit, {method = "UN", backbone = function(b) return ks.zeros(b:size(0) + 1, 3) end, images = x, labels = y})
    has(m, "returned features of shape [25, 3] for a batch of 24 images (expected 24 rows)")
  end)
end)

