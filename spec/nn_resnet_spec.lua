-- kshot.nn ResNet: torchvision's names and shapes, forward shapes, options, bad input, gradients.
-- Names and shapes are compared with spec/fixtures/torch/keys.txt, written from torchvision's
-- resnet18() (and the benchmark MLP/CNN) by spec/fixtures/make_torch_fixtures.py.
-- Gradcheck tolerances: eval mode, gradcheck's defaults (|a - n| <= 1e-4 + 2e-3 |n|, eps 1e-2);
-- train mode (batch statistics, ReLU swapped for SiLU to stay away from kinks) eps 1e-3 and
-- |a - n| <= 1e-3 + 1e-2 |n|: batch norm's scale invariance makes the finite differences of
-- float32 noisier there. Train-mode gradients are matched against PyTorch to 1e-4 in nn_interop_spec.
local ks = require "kshot"
local nn = require "kshot.nn"
local gradcheck = require("kshot.autograd").gradcheck

local DIR = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "fixtures/torch/"

local function shape_str(t) return table.concat(t:shape(), ",") end

-- {model = {{key, "d1,d2,..."}, ...}} from keys.txt, in state_dict order
local function read_keys()
  local out = {}
  for line in io.lines(DIR .. "keys.txt") do
    local model, key, shape = line:match("^(%S+) (%S+) (%S*)$")
    if model then
      out[model] = out[model] or {}
      table.insert(out[model], {key, shape})
    end
  end
  return out
end

local function own_keys(model)
  local sd, keys = model:state_dict()
  local list = {}
  for i, k in ipairs(keys) do list[i] = {k, shape_str(sd[k])} end
  return list
end

-- a function of (x, param1, param2, ...) that runs model with those parameters (for gradcheck)
local function with_params(model)
  local named = model:named_parameters()
  local function set(path, t)
    local owner, parts = model, {}
    for part in path:gmatch("[^.]+") do parts[#parts + 1] = part end
    for i = 1, #parts - 1 do owner = owner[parts[i]] end
    owner[parts[#parts]] = t
  end
  local fn = function(x, ...)
    local vals = {...}
    for i, p in ipairs(named) do set(p[1], vals[i]) end
    local ok, out = pcall(model.forward, model, x)
    for _, p in ipairs(named) do set(p[1], p[2]) end
    if not ok then error(out, 0) end
    return out
  end
  return fn, named
end

local function leaf_inputs(x, named)
  local inputs = {x:requires_grad_(true)}
  for _, p in ipairs(named) do inputs[#inputs + 1] = p[2]:detach():clone():requires_grad_(true) end
  return inputs
end

describe("nn.resnet", function()
  before_each(function() ks.manual_seed(0) end)

  it("resnet18{} has torchvision's resnet18() state_dict keys, order and shapes", function()
    local expected = read_keys().resnet18
    assert.are.equal(122, #expected)
    assert.are.same(expected, own_keys(nn.resnet18()))
  end)

  it("the benchmark MLP and CNN builders have PyTorch's keys and shapes", function()
    local keys = read_keys()
    assert.are.same(keys.mlp, own_keys(nn.mlp{784, 256, 128, 10}))
    assert.are.same(keys.cnn, own_keys(nn.small_cnn()))
  end)

  it("reduced-width models carry the fixture's key names and shapes", function()
    for name, model in pairs({resnet_small = nn.resnet{width = 3}, resnet_std = nn.resnet18{width = 2, num_classes = 10}}) do
      local fx = ks.load(DIR .. name .. ".safetensors")
      local sd, keys = model:state_dict()
      for _, k in ipairs(keys) do
        assert.is_not_nil(fx["w." .. k], name .. ": " .. k)
        assert.are.equal(shape_str(fx["w." .. k]), shape_str(sd[k]), name .. ": " .. k)
      end
    end
  end)

  it("small_input uses a 3x3 stride-1 stem and an Identity maxpool; resnet18 the 7x7 stem", function()
    local small, std = nn.resnet{width = 8}, nn.resnet18{width = 8}
    assert.are.same({8, 1, 3, 3}, small.conv1.weight:shape())
    assert.are.same({1, 1}, small.conv1.stride)
    assert.are.equal("Identity", small.maxpool.__name)
    assert.are.same({8, 3, 7, 7}, std.conv1.weight:shape())
    assert.are.same({2, 2}, std.conv1.stride)
    assert.are.same({3, 3}, std.conv1.padding)
    assert.are.equal("MaxPool2d", std.maxpool.__name)
    assert.is_nil(small.conv1.bias)
    assert.truthy(tostring(small):find("(layer1): Sequential(", 1, true))
  end)

  it("forward shapes: 28x28 grayscale to 10 logits, 64x64 RGB to num_classes", function()
    local m = nn.resnet{width = 4}
    assert.are.same({2, 10}, m(ks.randn(2, 1, 28, 28)):shape())
    local feats = m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(ks.randn(2, 1, 28, 28)))))))))
    assert.are.same({2, 32, 4, 4}, feats:shape())
    local r = nn.resnet18{width = 4, num_classes = 5}
    assert.are.same({1, 5}, r(ks.randn(1, 3, 64, 64)):shape())
    r:eval()
    assert.are.same({1, 5}, r(ks.randn(1, 3, 64, 64)):shape())
  end)

  it("layers sets the blocks per stage; downsample only where the shape changes", function()
    local m = nn.resnet{layers = {1, 2, 1, 3}, width = 4}
    assert.are.equal(1, #m.layer1:children())
    assert.are.equal(2, #m.layer2:children())
    assert.are.equal(3, #m.layer4:children())
    assert.is_nil(m.layer1:get(0).downsample)
    assert.is_not_nil(m.layer2:get(0).downsample)
    assert.is_nil(m.layer2:get(1).downsample)
    assert.are.same({8, 4, 1, 1}, m.layer2:get(0).downsample:get(0).weight:shape())
    assert.are.same({2, 2}, m.layer2:get(0).downsample:get(0).stride)
  end)

  it("initialises as torchvision: kaiming_normal(fan_out) convs, unit batch norms, optional zero residual", function()
    local m = nn.resnet{width = 16}
    local w = m.layer3:get(0).conv2.weight -- [64, 64, 3, 3]: std sqrt(2 / (64 * 9))
    local std = w:std():item()
    assert.is_true(math.abs(std - math.sqrt(2 / (64 * 9))) < 0.1 * math.sqrt(2 / (64 * 9)))
    assert.are.same({1, 1}, {m.bn1.weight:min():item(), m.bn1.weight:max():item()})
    local z = nn.resnet{width = 4, zero_init_residual = true}
    assert.are.equal(0, z.layer1:get(0).bn2.weight:abs():max():item())
    assert.are.equal(1, z.layer1:get(0).bn1.weight:min():item())
  end)

  it("is reproducible from the seed", function()
    ks.manual_seed(7)
    local a = nn.resnet{width = 4}
    ks.manual_seed(7)
    local b = nn.resnet{width = 4}
    assert.is_true(a.layer2:get(0).conv1.weight:eq(b.layer2:get(0).conv1.weight):all():item())
  end)

  it("rejects bad options and inputs with clear errors", function()
    local function err(f, ...)
      local ok, e = pcall(f, ...)
      assert.is_false(ok)
      return tostring(e)
    end
    assert.truthy(err(nn.resnet, {layers = {2, 2, 2}}):find("layers must be a list of 4", 1, true))
    assert.truthy(err(nn.resnet, {width = 0}):find("width must be a positive integer", 1, true))
    assert.truthy(err(nn.resnet, {layers = {2, 2, 2, 1.5}}):find("layers[4]", 1, true))
    assert.truthy(err(nn.resnet, {widht = 8}):find("unknown option 'widht'", 1, true))
    assert.truthy(err(nn.resnet, 5):find("options table expected", 1, true))
    assert.truthy(err(nn.resnet18, "x"):find("options table expected", 1, true))
    local m = nn.resnet{width = 2}
    assert.truthy(err(m, ks.randn(2, 3, 28, 28)):find("expected input [N, 1, H, W], got [2, 3, 28, 28]", 1, true))
    assert.truthy(err(m, ks.randn(1, 28, 28)):find("got [1, 28, 28]", 1, true))
    assert.truthy(err(m, nil):find("input tensor expected", 1, true))
  end)

  it("loads its own state_dict and reports foreign checkpoints", function()
    local a, b = nn.resnet{width = 2}, nn.resnet{width = 2}
    b:load_state_dict((a:state_dict()))
    local x = ks.randn(2, 1, 28, 28)
    a:eval(); b:eval()
    assert.is_true(a(x):eq(b(x)):all():item())
    local ok, e = pcall(b.load_state_dict, b, (nn.resnet{width = 4}:state_dict()))
    assert.is_false(ok)
    assert.truthy(tostring(e):find("size mismatch for", 1, true))
  end)

  it("passes gradcheck in eval mode (input and every parameter)", function()
    local m = nn.resnet{layers = {1, 1, 1, 1}, width = 2, num_classes = 3}
    ks.no_grad(function()
      for _, b in ipairs(m:named_buffers()) do
        if b[2]:dtype() == "float32" then b[2]:uniform_(0.5, 1.5) end
      end
    end)
    m:eval()
    local fn, named = with_params(m)
    gradcheck(fn, leaf_inputs(ks.randn(4, 1, 12, 12), named), {seed = 1})
  end)

  it("passes gradcheck in train mode (batch statistics; SiLU in place of ReLU)", function()
    ks.manual_seed(1)
    local m = nn.resnet{layers = {1, 1, 1, 1}, width = 2, num_classes = 3}
    for _, mod in ipairs(m:modules()) do
      if mod.relu then mod.relu = nn.SiLU() end
    end
    local fn, named = with_params(m)
    gradcheck(fn, leaf_inputs(ks.randn(4, 1, 12, 12), named), {seed = 1, eps = 1e-3, rtol = 1e-2, atol = 1e-3})
  end)
end)
