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
    has(errmsg(fewshot.fit, {method = "UN", images = x, labels = y - 1}), "label -1 is negative")
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

  it("a backbone returning features for a different number of images names both", function()
    local m = errmsg(fewshot.evaluate, {method = "UN", backbone = function() return ks.zeros(1, 4) end, way = 3, shot = 2,
      query = 2, episodes = 2, support_pool = pool, seed = 0})
    has(m, "fewshot: the backbone returned features of shape [1, 4] for a batch of")
    has(m, "images (expected")
    m = errmsg(fewshot.fit, {method = "UN", backbone = function(b) return ks.zeros(b:size(0) + 1, 3) end, images = x, labels = y})
    has(m, "returned features of shape [25, 3] for a batch of 24 images (expected 24 rows)")
  end)
end)

