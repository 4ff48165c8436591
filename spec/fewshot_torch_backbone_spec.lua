-- Bring your own PyTorch model: a ResNet trained briefly in PyTorch
-- (spec/fixtures/torch_backbone/make_torch_backbone.py) loads by its PyTorch
-- names into kshot's nn.resnet, reproduces PyTorch's features for a fixed
-- batch, runs the few-shot protocol; checkpoints that do not fit the
-- architecture give errors naming the keys and shapes.
local ks = require "kshot"
local nn = require "kshot.nn"
local fewshot = require "kshot.fewshot"

local DIR = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "fixtures/torch_backbone/"
local CKPT = DIR .. "resnet_fashion_base.safetensors"
local REF = DIR .. "reference.safetensors"

local function errmsg(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

describe("a PyTorch-trained backbone", function()
  local model, meta = fewshot.load_backbone(CKPT)
  local ref = ks.load(REF)

  it("builds nn.resnet{layers = {1,1,1,1}, width = 8} and loads every tensor by its PyTorch name", function()
    assert.are.same({1, 1, 1, 1}, meta.layers_list)
    assert.are.equal(8, meta.width_value)
    assert.are.equal(0.2860, meta.mean)
    assert.are.equal(0.3530, meta.std)
    assert.is_false(model.training)
    local file = ks.load(CKPT)
    local sd = model:state_dict()
    local n = 0
    for k, t in pairs(file) do
      assert.is_not_nil(sd[k], k)
      assert.are.equal(t:dtype(), sd[k]:dtype(), k)
      assert.are.equal(0, (t:float() - sd[k]:float()):abs():max():item(), k)
      n = n + 1
    end
    local m = 0
    for _ in pairs(sd) do m = m + 1 end
    assert.are.equal(m, n)
    assert.are.same({64, 32, 3, 3}, sd["layer4.0.conv1.weight"]:shape()) -- OIHW
    assert.are.same({5, 64}, sd["fc.weight"]:shape()) -- [out, in]
    assert.are.equal(400, sd["bn1.num_batches_tracked"]:item()) -- one per training step
    assert.are.equal("int64", sd["bn1.num_batches_tracked"]:dtype())
  end)

  it("reproduces PyTorch's avgpool features and logits within 1e-4 of their scale", function()
    local f = fewshot.features(model, ref.images, {mean = meta.mean, std = meta.std})
    assert.are.same({16, 64}, f:shape())
    local scale = ref.features:abs():max():item()
    assert.is_true(scale > 0.5)
    local err = (f - ref.features):abs():max():item() / scale
    assert.is_true(err <= 1e-4, ("relative feature error %.3g"):format(err))
    local x = (ref.images:float() / 255 - meta.mean) / meta.std
    local logits = ks.no_grad(function() return model(x:unsqueeze(1)) end)
    local lerr = (logits - ref.logits):abs():max():item() / ref.logits:abs():max():item()
    assert.is_true(lerr <= 1e-4, ("relative logit error %.3g"):format(lerr))
    -- the base classes of the batch are recognised as PyTorch does
    assert.are.same(ref.logits:argmax(1):totable(), logits:argmax(1):totable())
  end)

  it("fits classifiers on it: batched predictions = one at a time, exactly; save / load round trip", function()
    local x, y = ref.images:narrow(0, 0, 10), ref.labels:narrow(0, 0, 10) -- one image of each class
    local q = ref.images:narrow(0, 10, 6)
    local path = os.tmpname()
    for _, m in ipairs({"logreg", "CL2N", "UN"}) do
      local clf = fewshot.fit {backbone = model, mean = meta.mean, std = meta.std, method = m, images = x, labels = y,
        base_pool = {images = ref.images, labels = ref.labels + 10}}
      assert.are.same(y:totable(), clf:predict(x):totable()) -- its own support set
      local pb, lb = clf:predict_proba(q), clf:predict(q)
      assert.are.same({6, 10}, pb:shape())
      for i = 0, q:size(0) - 1 do
        assert.are.equal(0, (pb[i] - clf:predict_proba(q[i])):abs():max():item(), m)
        assert.are.equal(lb[i]:item(), clf:predict(q[i]), m)
      end
      clf:save(path)
      local back = fewshot.load(path, {backbone = model})
      assert.are.equal(0, (back:predict_proba(q) - pb):abs():max():item(), m)
      assert.are.same(lb:totable(), back:predict(q):totable())
    end
    os.remove(path)
  end)

  local ok, trx, try = pcall(ks.data.fashion_mnist, {split = "train"})
  local ok2, tex, tey = pcall(ks.data.fashion_mnist, {split = "test"})
  local run = (ok and ok2) and it or pending
  run("runs the few-shot protocol on the novel classes with several methods", function()
    local sx, sy = trx:narrow(0, 0, 1000), try:narrow(0, 0, 1000) -- small pools: a fast spec
    local qx, qy = tex:narrow(0, 0, 600), tey:narrow(0, 0, 600)
    local r = fewshot.compare {backbone = model, mean = meta.mean, std = meta.std,
      methods = {"L2N", "CL2N", "logreg", "bn", {"lora", steps = 5, lr = 0.01}},
      way = 5, shot = 5, query = 10, episodes = 3, classes = {5, 6, 7, 8, 9}, seed = 3,
      support_pool = {images = sx, labels = sy}, query_pool = {images = qx, labels = qy},
      base_pool = {images = sx, labels = sy}}
    for _, label in ipairs({"L2N", "CL2N", "logreg", "bn+L2N", "lora"}) do
      local s = r.results[label]
      assert.are.equal(3, s.n, label)
      -- features learnt on the base classes transfer: far above chance (20%); re-estimating
      -- the batch-norm statistics on 25 support images costs accuracy here (about 45%)
      assert.is_true(s.mean > (label == "bn+L2N" and 35 or 50), label .. " " .. s.mean)
    end
    -- the protocol left the loaded weights as they were
    local file = ks.load(CKPT)
    for k, t in pairs(model:state_dict()) do assert.are.equal(0, (t:float() - file[k]:float()):abs():max():item(), k) end
  end)
end)

describe("checkpoints that do not fit", function()
  local file, meta = ks.load(CKPT)
  local path = os.tmpname()
  after_each(function() os.remove(path) end)

  it("a renamed tensor: the missing and unexpected keys are named", function()
    local t = copy(file)
    t["layer1.0.convX.weight"], t["layer1.0.conv1.weight"] = t["layer1.0.conv1.weight"], nil
    ks.save(path, t, meta)
    local m = errmsg(fewshot.load_backbone, path)
    assert.truthy(m:find(path, 1, true))
    assert.truthy(m:find("does not fit nn.resnet{layers = {1,1,1,1}, width = 8}", 1, true))
    assert.truthy(m:find("missing keys: layer1.0.conv1.weight", 1, true))
    assert.truthy(m:find("unexpected keys: layer1.0.convX.weight", 1, true))
  end)

  it("a tensor of the wrong shape: both shapes are named", function()
    local t = copy(file)
    t["layer2.0.bn1.running_mean"] = ks.zeros(15)
    ks.save(path, t, meta)
    local m = errmsg(fewshot.load_backbone, path)
    assert.truthy(m:find("size mismatch for layer2.0.bn1.running_mean", 1, true))
    assert.truthy(m:find("[15]", 1, true))
    assert.truthy(m:find("[16]", 1, true))
  end)

  it("an architecture that does not match: more blocks, another width", function()
    local m = errmsg(fewshot.load_backbone, CKPT, {layers = {2, 2, 2, 2}})
    assert.truthy(m:find("missing keys: layer1.1.bn1.bias", 1, true))
    m = errmsg(fewshot.load_backbone, CKPT, {width = 16})
    assert.truthy(m:find("size mismatch for", 1, true))
    local t = copy(file)
    t["fc.weight"] = nil
    ks.save(path, t, meta)
    assert.truthy(errmsg(fewshot.load_backbone, path):find("not a ResNet checkpoint", 1, true))
    assert.truthy(errmsg(fewshot.load_backbone, 42):find("path must be a string", 1, true))
    assert.truthy(errmsg(fewshot.load_backbone, DIR .. "no_such_file.safetensors"):find("no_such_file", 1, true))
  end)

  it("a saved classifier used with a backbone of another feature size", function()
    local model, bmeta = fewshot.load_backbone(CKPT)
    local ref = ks.load(REF)
    local clf = fewshot.fit {backbone = model, mean = bmeta.mean, std = bmeta.std, method = "L2N",
      images = ref.images, labels = ref.labels}
    clf:save(path)
    ks.manual_seed(1)
    local other = nn.resnet {layers = {1, 1, 1, 1}, width = 4, num_classes = 5}
    local m = errmsg(fewshot.load, path, {backbone = other})
    assert.truthy(m:find("the backbone gives 32 features per image but the head", 1, true))
    assert.truthy(m:find("fit on 64", 1, true))
    -- the right backbone reloads it exactly
    local back = fewshot.load(path, {backbone = model})
    assert.are.same(clf:predict(ref.images):totable(), back:predict(ref.images):totable())
    -- and a live classifier refuses features of the wrong size too
    clf.backbone = fewshot.backbone(other)
    assert.truthy(errmsg(clf.predict, clf, ref.images[0]):find("gives 32 features per image", 1, true))
  end)
end)
