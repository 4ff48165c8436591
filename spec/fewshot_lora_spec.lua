-- kshot.nn.lora and the few-shot method "lora": the adapter arithmetic by
-- hand, PEFT's initialisation and layout, merge / unmerge, gradients
-- (gradcheck), the backbone's tensors bit-identical after training, and bad
-- options.
local ks = require "kshot"
local nn = require "kshot.nn"
local autograd = require "kshot.autograd"
local fewshot = require "kshot.fewshot"
local adapt = require "kshot.fewshot.adapt"

local function errmsg(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(err)
end

local function maxdiff(a, b) return (a:float() - b:float()):abs():max():item() end

-- Clones of every parameter and buffer.
local function clone_state(model)
  local out = {}
  for k, t in pairs(model:state_dict()) do out[k] = t:clone() end
  return out
end

local function assert_state_equal(model, before)
  local n = 0
  for k, t in pairs(model:state_dict()) do
    assert.is_not_nil(before[k], "new tensor " .. k)
    assert.are.same(before[k]:shape(), t:shape())
    assert.are.equal(0, maxdiff(t, before[k]), k)
    n = n + 1
  end
  local m = 0
  for _ in pairs(before) do m = m + 1 end
  assert.are.equal(m, n)
end

local function small_resnet(seed)
  ks.manual_seed(seed or 1)
  local m = nn.resnet {layers = {1, 1, 1, 1}, width = 4, num_classes = 3}
  -- non-trivial running statistics, so a BN layer in train mode would change them
  ks.no_grad(function()
    for _, nb in ipairs(m:named_buffers()) do
      if nb[1]:find("running_mean", 1, true) then nb[2]:normal_(0, 0.1) end
      if nb[1]:find("running_var", 1, true) then nb[2]:uniform_(0.5, 1.5) end
    end
  end)
  return m:eval()
end

-- random adapters (B is zero at initialisation, so merging would be trivial)
local function randomise_adapters(model, seed)
  local g = ks.Generator(seed)
  ks.no_grad(function()
    for _, p in ipairs(nn.lora.parameters(model)) do p:copy_(ks.randn(p:shape(), {generator = g}) * 0.3) end
  end)
end

describe("LoRA layers", function()
  it("compute W x + b + (alpha / r) B A x (hand-computed Linear)", function()
    local lin = nn.Linear(2, 2)
    ks.no_grad(function()
      lin.weight:copy_(ks.tensor({{1, 2}, {3, 4}}))
      lin.bias:copy_(ks.tensor({0.5, -0.5}))
    end)
    local l = nn.LoRALinear(lin, {r = 1, alpha = 2})
    ks.no_grad(function()
      l.lora_A.weight:copy_(ks.tensor({{1, -1}}))
      l.lora_B.weight:copy_(ks.tensor({{2}, {3}}))
    end)
    local y = l(ks.tensor({{1, 3}}))
    -- W x + b = {7.5, 14.5}; A x = -2; s = 2: + 2 * {-4, -6}
    assert.are.same({{-0.5, 2.5}}, y:totable())
    assert.are.equal(2, l.scaling)
    assert.are.same({{4, -4}, {6, -6}}, l:delta_weight():totable()) -- s * B A
    local rs = nn.LoRALinear(nn.Linear(2, 2), {r = 4, alpha = 8, rslora = true})
    assert.are.equal(4, rs.scaling) -- alpha / sqrt(r)
  end)

  it("start as the wrapped layer (B = 0, A kaiming-uniform) and share its tensors", function()
    ks.manual_seed(5)
    local conv = nn.Conv2d(3, 6, 3, {stride = 2, padding = 1})
    local l = nn.LoRAConv2d(conv, {r = 2, alpha = 4})
    assert.are.same({2, 3, 3, 3}, l.lora_A.weight:shape())
    assert.are.same({6, 2, 1, 1}, l.lora_B.weight:shape())
    assert.are.same({2, 2}, l.lora_A.stride)
    assert.are.same({1, 1}, l.lora_A.padding)
    assert.are.equal(0, l.lora_B.weight:abs():max():item())
    local bound = 1 / math.sqrt(27) -- kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert.is_true(l.lora_A.weight:abs():max():item() <= bound)
    assert.is_true(l.lora_A.weight:abs():max():item() > bound / 2)
    assert.is_true(rawequal(conv.weight, l.weight))
    assert.is_true(rawequal(conv.bias, l.bias))
    assert.is_true(rawequal(conv, l:base_layer()))
    local x = ks.randn(2, 3, 7, 7)
    assert.are.equal(0, maxdiff(l(x), conv(x)))
    local _, keys = l:state_dict()
    assert.are.same({"weight", "bias", "lora_A.weight", "lora_B.weight"}, keys)
    -- a frozen weight stays frozen when wrapped
    local lin = nn.Linear(3, 2)
    lin.weight:requires_grad_(false)
    nn.LoRALinear(lin)
    assert.is_false(lin.weight.requires_grad)
  end)

  it("have correct gradients for the input and both adapters (gradcheck)", function()
    ks.manual_seed(2)
    local lin = nn.LoRALinear(nn.Linear(5, 3), {r = 2, alpha = 3})
    local conv = nn.LoRAConv2d(nn.Conv2d(2, 3, 3, {stride = 2, padding = 1}), {r = 2, alpha = 5})
    for _, case in ipairs({{lin, ks.randn(4, 5)}, {conv, ks.randn(2, 2, 6, 6)}}) do
      local layer, x = case[1], case[2]
      local a = ks.randn(layer.lora_A.weight:shape()):requires_grad_(true)
      local b = ks.randn(layer.lora_B.weight:shape()):requires_grad_(true)
      local function f(xx, aa, bb)
        layer.lora_A.weight, layer.lora_B.weight = aa, bb
        return layer(xx)
      end
      assert.is_true((autograd.gradcheck(f, {x:requires_grad_(true), a, b})))
      -- and the wrapped weight receives a gradient only when it requires one
      layer.weight:requires_grad_(false)
      if layer.bias then layer.bias:requires_grad_(false) end
      layer.weight.grad = nil
      local aa, bb = a:detach():requires_grad_(true), b:detach():requires_grad_(true)
      f(x:detach(), aa, bb):sum():backward()
      assert.is_nil(layer.weight.grad)
      assert.is_not_nil(aa.grad)
      assert.is_not_nil(bb.grad)
    end
  end)
end)

describe("nn.lora on a model", function()
  it("injects by layer type or by name, keeping the backbone's state_dict keys", function()
    local m = small_resnet(1)
    local keys0 = {}
    for _, k in ipairs(select(2, m:state_dict())) do keys0[#keys0 + 1] = k end
    local names = nn.lora.inject(m, {targets = {"layer4", "fc"}, r = 2})
    assert.are.same({"layer4.0.conv1", "layer4.0.conv2", "layer4.0.downsample.0", "fc"}, names)
    assert.are.equal("LoRAConv2d", m.layer4:get(0).conv1.__name)
    assert.are.equal("LoRALinear", m.fc.__name)
    local sd = m:state_dict()
    for _, k in ipairs(keys0) do assert.is_not_nil(sd[k], k) end
    assert.is_not_nil(sd["layer4.0.conv1.lora_A.weight"])
    assert.is_not_nil(sd["fc.lora_B.weight"])
    assert.are.equal(8, #nn.lora.parameters(m))
    nn.lora.unload(m)
    local _, keys1 = m:state_dict()
    assert.are.same(keys0, keys1)
    local all = nn.lora.inject(m, {targets = {"Conv2d"}})
    assert.are.equal(12, #all) -- stem + 2 per block + 3 downsample convs
    nn.lora.unload(m)
    assert.are.equal(1, #nn.lora.inject(m, {targets = "layer2.0.conv1"}))
    assert.are.equal(2, #nn.lora.inject(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))))
  end)

  it("merge gives the unmerged outputs within 1e-5; unmerge restores the exact tensors", function()
    local m = small_resnet(2)
    local x = ks.randn({3, 1, 12, 12}, {generator = ks.Generator(3)})
    local plain = ks.no_grad(function() return m(x) end)
    local w0 = m.layer2:get(0).conv1.weight
    nn.lora.inject(m, {targets = {"Conv2d", "Linear"}, r = 2, alpha = 4})
    randomise_adapters(m, 4)
    local unmerged = ks.no_grad(function() return m(x) end)
    assert.is_true(maxdiff(unmerged, plain) > 1e-2) -- the adapters matter
    nn.lora.merge(m)
    assert.is_true(m.layer2:get(0).conv1.merged)
    assert.is_false(rawequal(m.layer2:get(0).conv1.weight, w0))
    local merged = ks.no_grad(function() return m(x) end)
    local scale = unmerged:abs():max():item()
    assert.is_true(maxdiff(merged, unmerged) <= 1e-5 * math.max(scale, 1), tostring(maxdiff(merged, unmerged)))
    nn.lora.unmerge(m)
    assert.is_true(rawequal(m.layer2:get(0).conv1.weight, w0))
    assert.are.equal(0, maxdiff(ks.no_grad(function() return m(x) end), unmerged))
    -- merge_and_unload: plain layers with merged weights, same outputs
    local before = clone_state(small_resnet(2))
    nn.lora.merge_and_unload(m)
    assert.are.equal(0, #nn.lora.layers(m))
    assert.are.equal("Conv2d", m.layer2:get(0).conv1.__name)
    assert.is_true(maxdiff(ks.no_grad(function() return m(x) end), unmerged) <= 1e-5 * math.max(scale, 1))
    assert.is_true(maxdiff(w0, before["layer2.0.conv1.weight"]) == 0) -- the original tensor was never written
  end)

  it("mark_only_lora_as_trainable freezes the rest and gives the flags back", function()
    local m = small_resnet(3)
    nn.lora.inject(m, {targets = {"layer1"}})
    local restore = nn.lora.mark_only_lora_as_trainable(m)
    local trainable = 0
    for _, p in ipairs(m:named_parameters()) do
      if p[2].requires_grad then
        trainable = trainable + 1
        assert.truthy(p[1]:find("lora_", 1, true), p[1])
      end
    end
    assert.are.equal(4, trainable)
    restore()
    for _, p in ipairs(m:parameters()) do assert.is_true(p.requires_grad) end
  end)

  it("rejects bad layers, options and targets", function()
    local m = small_resnet(4)
    assert.truthy(errmsg(nn.LoRALinear, nn.Conv2d(1, 1, 1)):find("a Linear layer expected, got Conv2d", 1, true))
    assert.truthy(errmsg(nn.LoRAConv2d, 3):find("a Conv2d layer expected, got number", 1, true))
    assert.truthy(errmsg(nn.LoRAConv2d, nn.Conv2d(4, 4, 3, {groups = 2})):find("groups = 2", 1, true))
    assert.truthy(errmsg(nn.LoRALinear, nn.Linear(2, 2), {r = 0}):find("r must be an integer >= 1", 1, true))
    assert.truthy(errmsg(nn.LoRALinear, nn.Linear(2, 2), {alpha = -1}):find("alpha must be a number > 0", 1, true))
    assert.truthy(errmsg(nn.LoRALinear, nn.Linear(2, 2), {dropout = 1}):find("dropout must be in [0, 1)", 1, true))
    assert.truthy(errmsg(nn.LoRALinear, nn.Linear(2, 2), {rank = 2})
      :find("LoRALinear: unknown option 'rank' (known: r, alpha, dropout, rslora, generator)", 1, true))
    assert.truthy(errmsg(nn.LoRAConv2d, nn.Conv2d(1, 1, 1), {alpah = 2})
      :find("LoRAConv2d: unknown option 'alpah' (known: r, alpha, dropout, rslora, generator); did you mean 'alpha'?",
        1, true))
    assert.truthy(errmsg(nn.lora.inject, m, {targets = {"layer9"}}):find("target 'layer9' selects no Linear or Conv2d", 1,
      true))
    assert.truthy(errmsg(nn.lora.inject, m, {targets = {"BatchNorm2d"}}):find("selects no Linear or Conv2d", 1, true))
    assert.truthy(errmsg(nn.lora.inject, m, {targets = {}}):find("non-empty list", 1, true))
    assert.truthy(errmsg(nn.lora.inject, m, {targets = {7}}):find("entries must be strings", 1, true))
    assert.truthy(errmsg(nn.lora.inject, "m"):find("an nn.Module expected, got string", 1, true))
    assert.truthy(errmsg(nn.lora.inject, m, {targets = {"Conv2d"}, exclude = "conv1"})
      :find("lora.inject: exclude must be a list of module names, got string", 1, true))
    assert.truthy(errmsg(nn.lora.inject, m, {targets = {"Conv2d"}, exclude = {1}})
      :find("exclude[1] must be a module name (string), got number", 1, true))
    assert.truthy(errmsg(nn.lora.inject, m, {target = {"Conv2d"}})
      :find("lora.inject: unknown option 'target' (known: targets, exclude, r, alpha, dropout, rslora, generator); "
        .. "did you mean 'targets'?", 1, true))
    assert.are.equal(0, #nn.lora.layers(m)) -- nothing was injected by the failed calls
    nn.lora.inject(m, {targets = {"fc"}})
    assert.truthy(errmsg(nn.lora.inject, m):find("layer 'fc' already has an adapter", 1, true))
  end)
end)

-- uint8 "images" [N, 12, 12] of 3 classes (a bright band per class, plus noise)
local function band_images(per, seed)
  local g = ks.Generator(seed)
  local x = ks.rand({3 * per, 12, 12}, {generator = g}) * 80
  local labels = {}
  for c = 0, 2 do
    for i = 0, per - 1 do
      x[c * per + i]:narrow(0, c * 4, 4):add_(150)
      labels[#labels + 1] = c
    end
  end
  return x:byte(), ks.tensor(labels, "int64")
end

describe("fewshot method lora", function()
  it("trains only the adapters: the backbone's parameters and buffers stay bit-identical", function()
    local m = small_resnet(5)
    local before = clone_state(m)
    local flags = {}
    for _, p in ipairs(m:parameters()) do flags[p] = p.requires_grad end
    local x, y = band_images(2, 1)
    local bb = fewshot.backbone(m)
    local head, names = adapt.lora_train(bb, bb:prepare(x), y, 3, {steps = 5, lr = 0.1, rank = 2})
    assert.are.equal(12, #names)
    assert.are.equal("linear", head.kind)
    -- adapters moved away from their initialisation (B started at zero)
    local moved = 0
    for _, nm in ipairs(nn.lora.layers(m)) do moved = moved + nm[2].lora_B.weight:abs():max():item() end
    assert.is_true(moved > 0)
    -- with the adapters still injected, every original tensor is unchanged
    for k, t in pairs(m:state_dict()) do
      if not k:find("lora_", 1, true) then assert.are.equal(0, maxdiff(t, before[k]), k) end
    end
    for _, nm in ipairs(nn.lora.layers(m)) do assert.is_nil(nm[2].weight.grad, nm[1]) end
    nn.lora.unload(m)
    assert_state_equal(m, before)
    for _, p in ipairs(m:parameters()) do assert.are.equal(flags[p], p.requires_grad) end
    assert.is_false(m.training)
  end)

  it("runs in the protocol, leaves the backbone untouched and changes the features", function()
    local m = small_resnet(6)
    local before = clone_state(m)
    local x, y = band_images(6, 2)
    local r = fewshot.compare {backbone = m, methods = {"L2N", {"lora", steps = 3, rank = 2},
      {"lora", steps = 3, targets = {"layer4"}, label = "lora4"}}, way = 3, shot = 2, query = 3, episodes = 2,
      support_pool = {images = x, labels = y}, seed = 1}
    assert.are.equal(2, r.results.lora.n)
    assert.are.equal(2, r.results.lora4.n)
    assert_state_equal(m, before)
    assert.are.equal(0, #nn.lora.layers(m))
    -- a network without convolutions: its Linear layers get the adapters
    ks.manual_seed(9)
    local mlp = nn.Sequential(nn.Flatten(), nn.Linear(144, 16), nn.ReLU(), nn.Linear(16, 8))
    local mlp_before = clone_state(mlp)
    local bb = fewshot.backbone(mlp)
    local _, names = adapt.lora_train(bb, bb:prepare(x:narrow(0, 0, 6)), ks.tensor({0, 0, 0, 0, 0, 0}, "int64"), 1,
      {steps = 1})
    assert.are.same({"1", "3"}, names)
    nn.lora.unload(mlp)
    assert_state_equal(mlp, mlp_before)
  end)

  it("fits a classifier with merged weights: batched = one at a time, save / load", function()
    local m = small_resnet(7)
    local before = clone_state(m)
    local x, y = band_images(3, 3)
    local q = band_images(2, 4)
    local clf = fewshot.fit {backbone = m, method = {"lora", steps = 4, rank = 2, targets = {"layer3", "layer4"}},
      images = x, labels = y}
    assert_state_equal(m, before)
    assert.is_not_nil(clf.adapted["layer3.0.conv1.weight"])
    assert.is_nil(clf.adapted["layer2.0.conv1.weight"])
    assert.is_true(maxdiff(clf.adapted["layer3.0.conv1.weight"], before["layer3.0.conv1.weight"]) > 0)
    local pb = clf:predict_proba(q)
    for i = 0, q:size(0) - 1 do assert.are.equal(0, maxdiff(pb[i], clf:predict_proba(q[i]))) end
    local path = os.tmpname()
    clf:save(path)
    local back = fewshot.load(path, {backbone = m})
    assert.are.equal(0, maxdiff(back:predict_proba(q), pb))
    assert.are.equal("lora", back.method.name)
    os.remove(path)
    assert_state_equal(m, before)
  end)

  it("rejects bad options before any episode", function()
    local x, y = band_images(4, 5)
    local pool = {images = x, labels = y}
    local m = small_resnet(8)
    local function run(spec, pixels)
      return errmsg(fewshot.evaluate, {backbone = not pixels and m or nil, method = spec, way = 3, shot = 1, query = 1,
        episodes = 1, support_pool = pool})
    end
    assert.truthy(run({"lora", rank = 0}):find("lora option rank must be an integer >= 1, got 0", 1, true))
    assert.truthy(run({"lora", rank = 1.5}):find("rank must be an integer", 1, true))
    assert.truthy(run({"lora", alpha = 0}):find("lora option alpha must be a number > 0", 1, true))
    assert.truthy(run({"lora", lr = "big"}):find("lora option lr must be a number > 0", 1, true))
    assert.truthy(run({"lora", steps = -1}):find("lora option steps must be an integer >= 0", 1, true))
    assert.truthy(run({"lora", targets = {}}):find("targets must be a non-empty list", 1, true))
    assert.truthy(run({"lora", targets = {"layer1", 2}}):find("targets[2] must be a string", 1, true))
    assert.truthy(run({"lora", dropout = 0.1}):find("method lora has no option 'dropout'", 1, true))
    assert.truthy(run({"lora", label_smoothing = 2}):find("lora option label_smoothing must be a number >= 0 and <= 1, got 2",
      1, true))
    assert.truthy(run({"lora", augment = "yes"}):find("lora option augment must be true, false or an augment pipeline", 1,
      true))
    assert.truthy(run({"lora", momentum = -0.5}):find("lora option momentum must be a number >= 0, got -0.5", 1, true))
    assert.truthy(run({"lora", weight_decay = "x"}):find("lora option weight_decay must be a number >= 0", 1, true))
    assert.truthy(run({"lora", targets = {"Embedding"}}):find("target 'Embedding' selects no Linear or Conv2d", 1, true))
    assert.truthy(run("lora", true):find("method lora needs an nn.Module backbone", 1, true))
    assert.truthy(errmsg(fewshot.evaluate, {backbone = m, layer = "layer4.0.conv2", pool = "avg", method = "lora",
      way = 3, shot = 1, query = 1, episodes = 1, support_pool = pool}):find("feature layer 'layer4.0.conv2' is a LoRA target",
      1, true))
    assert.are.equal(0, #nn.lora.layers(m))
  end)
end)
