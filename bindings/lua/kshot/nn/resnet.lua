--- kshot.nn ResNet: torchvision's BasicBlock ResNet, with its module names,
-- so state_dict keys match torchvision's ("layer2.0.downsample.1.running_var")
-- and checkpoints move both ways.
--   nn.resnet{layers = {2, 2, 2, 2}, width = 64, num_classes = 10, in_channels = 1, small_input = true}
--   nn.resnet18{num_classes = 1000, in_channels = 3}   -- torchvision's resnet18() layout
-- small_input (for 28x28 or 32x32 images): the stem is a 3x3 stride-1 conv
-- and maxpool is an Identity (the usual CIFAR variant; no key changes);
-- otherwise torchvision's 7x7 stride-2 conv and 3x3 stride-2 max-pool.
-- Stage i has width * 2^(i-1) channels; stages 2-4 halve the resolution.
-- Initialisation as torchvision: convs kaiming_normal_(fan_out, relu),
-- batch norms weight 1 bias 0 (bn2 weight 0 with zero_init_residual), fc
-- PyTorch's Linear default.
local ks = require "kshot"
local Module = require "kshot.nn.module"
local L = require "kshot.nn.layers"
local N = require "kshot.nn.norm_layers"
local C = require "kshot.nn.containers"
local init = require "kshot.nn.weight_init"
local options = require "kshot.nn.options"

local R = {}

local function conv(cin, cout, k, stride, padding)
  return L.Conv2d(cin, cout, k, {stride = stride, padding = padding, bias = false})
end

-- ------------------------------------------------------------------ BasicBlock
R.BasicBlock = Module:extend("BasicBlock")
R.BasicBlock.expansion = 1

--- BasicBlock(inplanes, planes[, stride=1[, downsample]]): two 3x3 convs with a residual connection.
function R.BasicBlock:__init(inplanes, planes, stride, downsample)
  Module.__init(self)
  stride = stride or 1
  self:add_module("conv1", conv(inplanes, planes, 3, stride, 1))
  self:add_module("bn1", N.BatchNorm2d(planes))
  self:add_module("relu", L.ReLU())
  self:add_module("conv2", conv(planes, planes, 3, 1, 1))
  self:add_module("bn2", N.BatchNorm2d(planes))
  if downsample then self:add_module("downsample", downsample) end
  self.stride = stride
end

function R.BasicBlock:forward(x)
  local out = self.relu(self.bn1(self.conv1(x))) -- self.relu (not F.relu), as torchvision: swappable
  out = self.bn2(self.conv2(out))
  local identity = self.downsample and self.downsample(x) or x
  return self.relu(out + identity)
end

-- ------------------------------------------------------------------ ResNet
R.ResNet = Module:extend("ResNet")

local function positive_int(v, what)
  if math.type(v) ~= "integer" or v < 1 then
    error(string.format("resnet: %s must be a positive integer, got %s", what, tostring(v)), 4)
  end
  return v
end

local KNOWN = {"layers", "width", "num_classes", "in_channels", "small_input", "zero_init_residual"}

local function check_opts(o)
  if type(o) ~= "table" then error("resnet: options table expected, got " .. type(o), 4) end
  options.check(o, KNOWN, "resnet", 4)
  local layers = o.layers or {2, 2, 2, 2}
  if type(layers) ~= "table" or #layers ~= 4 then error("resnet: layers must be a list of 4 block counts", 4) end
  for i = 1, 4 do positive_int(layers[i], "layers[" .. i .. "]") end
  return layers
end

--- ResNet(opts): see the file header for the options.
function R.ResNet:__init(opts)
  Module.__init(self)
  local layers = check_opts(opts)
  local width = positive_int(opts.width or 64, "width")
  local cin = positive_int(opts.in_channels or 3, "in_channels")
  local classes = positive_int(opts.num_classes or 1000, "num_classes")
  self.in_channels, self.small_input = cin, opts.small_input and true or false
  if self.small_input then
    self:add_module("conv1", conv(cin, width, 3, 1, 1))
  else
    self:add_module("conv1", conv(cin, width, 7, 2, 3))
  end
  self:add_module("bn1", N.BatchNorm2d(width))
  self:add_module("relu", L.ReLU())
  self:add_module("maxpool", self.small_input and L.Identity() or L.MaxPool2d(3, {stride = 2, padding = 1}))
  self._inplanes = width
  for i = 1, 4 do
    self:add_module("layer" .. i, self:_make_layer(width << (i - 1), layers[i], i == 1 and 1 or 2))
  end
  self:add_module("avgpool", L.AdaptiveAvgPool2d({1, 1}))
  self:add_module("fc", L.Linear(width * 8, classes))
  for _, m in ipairs(self:modules()) do
    if m.__name == "Conv2d" then init.kaiming_normal_(m.weight, 0, "fan_out", "relu") end
  end
  if opts.zero_init_residual then
    for _, m in ipairs(self:modules()) do
      if m.__name == "BasicBlock" then init.zeros_(m.bn2.weight) end
    end
  end
end

-- torchvision's _make_layer: a 1x1 conv + batch norm shortcut where the shape changes
function R.ResNet:_make_layer(planes, blocks, stride)
  local downsample
  if stride ~= 1 or self._inplanes ~= planes then
    downsample = C.Sequential(conv(self._inplanes, planes, 1, stride, 0), N.BatchNorm2d(planes))
  end
  local list = {R.BasicBlock(self._inplanes, planes, stride, downsample)}
  self._inplanes = planes
  for _ = 2, blocks do list[#list + 1] = R.BasicBlock(planes, planes) end
  return C.Sequential(list)
end

function R.ResNet:forward(x)
  if not ks.is_tensor(x) then error("ResNet: input tensor expected, got " .. type(x), 2) end
  local shape = x:shape()
  if #shape ~= 4 or shape[2] ~= self.in_channels then
    error(string.format("ResNet: expected input [N, %d, H, W], got [%s]", self.in_channels,
      table.concat(shape, ", ")), 2)
  end
  x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
  x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
  return self.fc(self.avgpool(x):flatten(1))
end

-- The two constructors differ only in their defaults: name(opts) checks the options table (errors name the
-- constructor, level 2: its caller) and builds R.ResNet from the defaults overridden by opts.
local function preset(name, defaults)
  return function(opts)
    opts = opts or {}
    if type(opts) ~= "table" then error(name .. ": options table expected, got " .. type(opts), 2) end
    options.check(opts, KNOWN, name, 2)
    local o = {layers = {2, 2, 2, 2}, width = 64} -- a fresh layers list each call
    for k, v in pairs(defaults) do o[k] = v end
    for k, v in pairs(opts) do o[k] = v end
    return R.ResNet(o)
  end
end

--- resnet{layers=, width=, num_classes=, in_channels=, small_input=, zero_init_residual=}
-- Defaults suit 28x28 grayscale images: layers {2,2,2,2}, width 64, 10 classes, 1 channel, small_input.
R.resnet = preset("resnet", {num_classes = 10, in_channels = 1, small_input = true})

--- resnet18{...}: torchvision's resnet18() (3 channels, 1000 classes, 7x7 stem), options override.
R.resnet18 = preset("resnet18", {num_classes = 1000, in_channels = 3, small_input = false})

return R
