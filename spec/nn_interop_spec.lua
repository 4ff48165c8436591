-- PyTorch interop: kshot reproduces PyTorch's outputs, loss, parameter gradients and
-- batch-norm running statistics from the fixtures of spec/fixtures/make_torch_fixtures.py,
-- read two independent ways: safetensors written by that script (ks.load) and .npz/.npy
-- written by numpy (ks.data.read_npz / read_npy).
-- Tolerance (per tensor, "1e-4 relative scale"): max|kshot - torch| <= 1e-4 * max|torch| + 1e-6.
-- Integer buffers (num_batches_tracked) and the loaded tensors themselves must match exactly.
local ks = require "kshot"
local nn = require "kshot.nn"
local F = ks.functional

local DIR = (debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./") .. "fixtures/torch/"
local RTOL, ATOL = 1e-4, 1e-6

local function shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

-- same shape, dtype and values (bit for bit up to -0 == 0)
local function identical(a, b)
  return shape_str(a) == shape_str(b) and a:dtype() == b:dtype() and a:eq(b):all():item()
end

-- nil when a matches b within the tolerance, else a message naming the tensor and the error
local function mismatch(name, a, b)
  if shape_str(a) ~= shape_str(b) then
    return string.format("%s: shape %s vs torch %s", name, shape_str(a), shape_str(b))
  end
  if b:dtype() ~= "float32" then
    if not identical(a, b) then return name .. ": integer values differ" end
    return nil
  end
  local diff = (a - b):abs():max():item()
  local scale = b:abs():max():item()
  if diff > RTOL * scale + ATOL then
    return string.format("%s: max |diff| %.3g > %.3g (scale %.3g)", name, diff, RTOL * scale + ATOL, scale)
  end
end

local function assert_close(name, a, b)
  local msg = mismatch(name, a, b)
  assert(msg == nil, msg)
end

local function load_fixture(name, format)
  if format == "safetensors" then return (ks.load(DIR .. name .. ".safetensors")) end
  return ks.data.read_npz(DIR .. name .. ".npz")
end

local function prefixed(fx, prefix)
  local out = {}
  for k, v in pairs(fx) do
    if k:sub(1, #prefix) == prefix then out[k:sub(#prefix + 1)] = v end
  end
  return out
end

-- the reduced-width models of the fixtures (same layer sequences and names as the benchmark / torchvision)
local builders = {
  mlp = function() return nn.mlp{784, 16, 16, 10} end,
  cnn = function()
    return nn.Sequential(nn.Conv2d(1, 4, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
      nn.Conv2d(4, 8, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
      nn.Flatten(), nn.Linear(8 * 7 * 7, 16), nn.ReLU(), nn.Linear(16, 10))
  end,
  resnet_small = function() return nn.resnet{width = 3, in_channels = 1, num_classes = 10, small_input = true} end,
  resnet_std = function() return nn.resnet18{width = 2, in_channels = 3, num_classes = 10} end,
}

-- one training-mode forward/backward and one eval forward, as the fixture script did;
-- returns a list of mismatch messages (empty when everything matches)
local function replay(name, fx, tamper)
  local model = builders[name]()
  model:load_state_dict(prefixed(fx, "w."))
  model:train()
  local out = model(fx.input)
  local loss = F.cross_entropy(out, fx.target)
  loss:backward()
  local errors = {}
  local function check(what, a, b)
    local msg = mismatch(what, a, b)
    if msg then errors[#errors + 1] = msg end
  end
  check("train_out", out, fx.train_out)
  check("loss", loss, fx.loss)
  local grads = prefixed(fx, "grad.")
  local n = 0
  for _, p in ipairs(model:named_parameters()) do
    n = n + 1
    local g = p[2].grad
    if tamper and tamper == p[1] then g = g * 1.001 end
    check("grad." .. p[1], g, grads[p[1]])
  end
  local count = 0
  for _ in pairs(grads) do count = count + 1 end
  if count ~= n then errors[#errors + 1] = string.format("%d gradients in the fixture, %d parameters", count, n) end
  local after = prefixed(fx, "after.")
  for _, b in ipairs(model:named_buffers()) do check("after." .. b[1], b[2], after[b[1]]) end
  model:eval()
  check("eval_out", ks.no_grad(function() return model(fx.input) end), fx.eval_out)
  return errors
end

describe("PyTorch fixtures", function()
  for _, format in ipairs({"safetensors", "npz"}) do
    for _, name in ipairs({"mlp", "cnn", "resnet_small", "resnet_std"}) do
      it(name .. " (" .. format .. "): outputs, loss, gradients and running statistics match PyTorch", function()
        local fx = load_fixture(name, format)
        local errors = replay(name, fx)
        assert(#errors == 0, table.concat(errors, "\n"))
      end)
    end
  end

  it("the comparison is sensitive: a gradient scaled by 1.001 fails it", function()
    local errors = replay("resnet_small", load_fixture("resnet_small", "safetensors"), "layer2.0.conv1.weight")
    assert.are.equal(1, #errors)
    assert.truthy(errors[1]:find("grad.layer2.0.conv1.weight", 1, true))
  end)

  it("uses the whole state: load_state_dict is strict and every key is a model key", function()
    for name, build in pairs(builders) do
      local fx = load_fixture(name, "safetensors")
      local sd = prefixed(fx, "w.")
      local _, keys = build():state_dict()
      local n = 0
      for _ in pairs(sd) do n = n + 1 end
      assert.are.equal(#keys, n, name)
      for _, k in ipairs(keys) do assert.is_not_nil(sd[k], name .. ": " .. k) end
    end
  end)

  it("safetensors written by Python and .npz written by numpy hold identical tensors", function()
    for _, name in ipairs({"mlp", "cnn", "resnet_small", "resnet_std", "attention"}) do
      local a, meta = ks.load(DIR .. name .. ".safetensors")
      local b = ks.data.read_npz(DIR .. name .. ".npz")
      local n = 0
      for k, t in pairs(a) do
        n = n + 1
        assert.is_not_nil(b[k], name .. ": " .. k .. " missing from the npz")
        assert.are.equal(shape_str(t), shape_str(b[k]), name .. ": " .. k)
        assert.are.equal(t:dtype(), b[k]:dtype(), name .. ": " .. k)
        assert.is_true(identical(t, b[k]), name .. ": " .. k)
      end
      local m = 0
      for _ in pairs(b) do m = m + 1 end
      assert.are.equal(n, m, name)
      assert.truthy(meta.torch, name .. ": metadata names the torch version")
    end
  end)

  it("reads the batch saved by numpy.save", function()
    local x, y = ks.data.read_npy(DIR .. "input.npy"), ks.data.read_npy(DIR .. "target.npy")
    assert.are.equal("[4, 1, 28, 28]", shape_str(x))
    assert.are.same({3, 7, 0, 9}, y:totable())
    assert.are.equal("int64", y:dtype())
    local fx = ks.load(DIR .. "mlp.safetensors")
    assert.is_true(identical(x, fx.input))
    assert.is_true(identical(y, fx.target))
    assert.are.equal(0, fx.loss:dim()) -- torch's 0-d loss stays 0-d
  end)

  it("batch-norm statistics moved in train mode and num_batches_tracked counts the forward", function()
    local fx = load_fixture("resnet_small", "safetensors")
    assert.are.equal(0, fx["w.bn1.num_batches_tracked"]:item())
    assert.are.equal(1, fx["after.bn1.num_batches_tracked"]:item())
    assert.is_false(identical(fx["w.bn1.running_var"], fx["after.bn1.running_var"]))
  end)

  it("reports a checkpoint of the wrong model clearly", function()
    local fx = load_fixture("resnet_std", "safetensors")
    local model = builders.resnet_small()
    local ok, err = pcall(model.load_state_dict, model, prefixed(fx, "w."))
    assert.is_false(ok)
    assert.truthy(tostring(err):find("size mismatch for", 1, true))
  end)
end)

describe("ks.load of a file PyTorch wrote another way", function()
  -- torch.save(model.state_dict(), "m.pt") is the first thing a PyTorch user tries: the error
  -- must say the file is not safetensors and how to write one, not quote a nonsense header length
  local function with_file(bytes, fn)
    local path = os.tmpname()
    local f = assert(io.open(path, "wb"))
    f:write(bytes)
    f:close()
    local ok, err = pcall(ks.load, path)
    os.remove(path)
    assert.is_false(ok)
    fn(tostring(err), path)
  end
  it("names torch.save's zip archive, a pickle and an .npy, and says what to write instead", function()
    local tail = ("\0"):rep(64)
    with_file("PK\3\4\20\0\0\0" .. tail, function(err, path)
      assert.truthy(err:find(path .. " is not a safetensors file: bytes 0-7 start like a zip archive (torch.save's", 1, true))
      assert.truthy(err:find("safetensors.torch.save_file(model.state_dict(), path) (README: Bring your own", 1, true))
    end)
    with_file("\128\2}q\0(X\6\0" .. tail, function(err)
      assert.truthy(err:find("start like a Python pickle (an old torch.save file", 1, true))
    end)
    with_file("\147NUMPY\1\0" .. tail, function(err)
      assert.truthy(err:find("a NumPy .npy array (read it with ks.data.read_npy)", 1, true))
    end)
    -- unknown bytes keep the precise header-length message
    with_file("\255\255\255\255\255\255\255\127" .. tail, function(err)
      assert.truthy(err:find("exceeds the limit", 1, true))
      assert.is_nil(err:find("not a safetensors file", 1, true))
    end)
  end)

  it("small_cnn has the state_dict keys of the same torch nn.Sequential (README: any model with the same names)", function()
    -- torch 1.13: nn.Sequential(Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten, Linear, ReLU, Linear)
    local _, keys = nn.small_cnn():state_dict()
    assert.same({"0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias"}, keys)
  end)
end)
