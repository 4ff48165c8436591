--- kshot.fewshot.backbone: turning images into feature vectors for the
-- few-shot methods (used by kshot.fewshot; see that file for the user API).
--
-- A backbone spec is one of
--   nil                    raw pixels: uint8 -> float32 / 255, flattened to [N, H*W*C]
--   function(x) -> t       called on the prepared input (below); t is flattened to [N, D]
--   nn.Module              its output, or the output of the sub-module named by
--                          opts.layer ("avgpool", "layer3", "0.2": dotted names as in
--                          named_modules); a ResNet defaults to "avgpool"
--   a Backbone (this file) as returned by fewshot.backbone(model, opts)
-- Options: layer=, pool="avg" (global average pool of [N, C, H, W] features
-- before flattening), mean=, std= (input normalisation after the / 255
-- scaling: a number, a tensor or a list of per-channel numbers), transform=function(images) -> input (replaces the default
-- preparation), batch= (images per forward, default 256).
-- Prepared input: uint8 images become float32 in [0, 1]; [N, H, W] images get
-- a channel dimension ([N, 1, H, W]) for modules and functions.
local ks = require "kshot"
local options = require "kshot.options"

local B = {}
local Backbone = {__name = "kshot.fewshot.Backbone"}
Backbone.__index = Backbone
B.Backbone = Backbone

local STOP = setmetatable({}, {__tostring = function() return "feature layer reached" end})

local function is_module(m)
  return type(m) == "table" and type(m.named_modules) == "function" and type(m.forward) == "function"
end
B.is_module = is_module

local function find_layer(model, name)
  for _, nm in ipairs(model:named_modules()) do
    if nm[1] == name then return nm[2] end
  end
  local names = {}
  for _, nm in ipairs(model:named_modules()) do
    if nm[1] ~= "" and #names < 40 then names[#names + 1] = nm[1] end
  end
  error(("fewshot: the backbone has no layer '%s' (layers: %s)"):format(name, table.concat(names, ", ")), 0)
end

-- mean= / std=: a number, a tensor, or a Lua list of per-channel numbers
-- (-> a float32 [C, 1, 1] tensor, and the list kept for save / cache keys).
local function input_stat(v, what)
  local function bad_number(x) return type(x) ~= "number" or x ~= x or x == math.huge or x == -math.huge
    or (what == "std" and x == 0) end
  local expect = what == "std" and "non-zero finite numbers" or "finite numbers"
  if v == nil or ks.is_tensor(v) then return v end
  if type(v) == "number" then
    if bad_number(v) then error(("fewshot.backbone: %s must be a %s, got %s"):format(what,
      (expect:gsub("numbers", "number")), tostring(v)), 0) end
    return v
  end
  if type(v) ~= "table" or #v == 0 then
    error(("fewshot.backbone: %s must be a number, a tensor or a list of per-channel numbers, got %s"):format(what,
      type(v) == "table" and "an empty table" or type(v)), 0)
  end
  for i, x in ipairs(v) do
    if bad_number(x) then
      error(("fewshot.backbone: %s[%d] must be a %s (one value per channel), got %s"):format(what, i,
        (expect:gsub("numbers", "number")), tostring(x)), 0)
    end
  end
  local list = {table.unpack(v)}
  return ks.tensor(list):view(#list, 1, 1), list
end
B.input_stat = input_stat

--- Backbone.new(model, opts) -> Backbone (model: nil, a function or an nn.Module).
function B.new(model, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("fewshot.backbone: options table expected, got " .. type(opts), 2) end
  if getmetatable(model) == Backbone then return model end
  local kind = model == nil and "pixels" or type(model) == "function" and "function" or is_module(model) and "module"
  if not kind then
    error("fewshot: backbone must be nil (raw pixels), a function or an nn.Module, got " .. type(model), 2)
  end
  local self = setmetatable({model = model, kind = kind, pool = opts.pool, transform = opts.transform,
    batch = opts.batch or 256, layer = opts.layer}, Backbone)
  self.mean, self.mean_list = input_stat(opts.mean, "mean")
  self.std, self.std_list = input_stat(opts.std, "std")
  if self.pool ~= nil and self.pool ~= "avg" then
    error("fewshot.backbone: pool must be nil or \"avg\", got " .. tostring(self.pool), 2)
  end
  if math.type(self.batch) ~= "integer" or self.batch < 1 then
    error("fewshot.backbone: batch must be a positive integer, got " .. tostring(self.batch), 2)
  end
  if kind == "module" then
    if self.layer == nil and model.avgpool and model.fc then self.layer = "avgpool" end
    if self.layer ~= nil then
      if type(self.layer) ~= "string" then error("fewshot.backbone: layer must be a string, got " .. type(self.layer), 2) end
      self.hook_module = find_layer(model, self.layer)
    end
  elseif self.layer ~= nil then
    error("fewshot.backbone: layer= needs an nn.Module backbone", 2)
  end
  -- identity of the feature map, for caches shared across calls
  local function stat_key(t, list) return list and ("{" .. table.concat(list, ",") .. "}") or tostring(t) end
  self.key = ("%s|%s|%s|%s|%s|%s"):format(kind, tostring(model), tostring(self.layer), tostring(self.pool),
    stat_key(self.mean, self.mean_list), stat_key(self.std, self.std_list)) .. "|" .. tostring(self.transform)
  return self
end

--- uint8 -> float32 [0, 1]; [N, H, W] -> [N, 1, H, W] (not for raw pixels).
function Backbone:prepare(images)
  if not ks.is_tensor(images) then error("fewshot: images must be a tensor, got " .. type(images), 0) end
  if self.transform then
    local x = self.transform(images)
    if not ks.is_tensor(x) then error("fewshot: transform must return a tensor (the model's input), got " .. type(x), 0) end
    return x
  end
  local x = images:dtype() == "float32" and images or images:float()
  if images:dtype() == "uint8" then x = x / 255 end
  if self.kind ~= "pixels" and x:dim() == 3 then x = x:unsqueeze(1) end
  return x
end

--- The model's input from a prepared (possibly augmented) batch.
function Backbone:normalize(x)
  for _, k in ipairs({"mean", "std"}) do -- per-channel lists: one value per channel of [N, C, H, W]
    local list = self[k .. "_list"]
    if list and (x:dim() ~= 4 or x:size(1) ~= #list) then
      error(("fewshot: %s has %d values (one per channel) but the prepared input is [%s] (expected [N, %d, H, W])")
        :format(k, #list, table.concat(x:shape(), ", "), #list), 0)
    end
  end
  if self.mean then x = x - self.mean end
  if self.std then x = x / self.std end
  return x
end

local function flatten(t, pool)
  if not ks.is_tensor(t) then error("fewshot: the backbone returned a " .. type(t) .. ", not a tensor", 0) end
  if pool == "avg" and t:dim() == 4 then t = t:mean({2, 3}) end
  if t:dim() == 1 then t = t:unsqueeze(1) end
  if t:dim() > 2 then t = t:flatten(1) end
  return t
end

-- Run the module up to the hooked layer (its first call), raising STOP there.
local function run_to_layer(self, x)
  local sub, out = self.hook_module, nil
  local cls_forward = getmetatable(sub).forward
  rawset(sub, "forward", function(m, ...)
    out = cls_forward(m, ...)
    error(STOP, 0)
  end)
  local ok, err = pcall(self.model, x)
  rawset(sub, "forward", nil)
  if ok then error(("fewshot: layer '%s' was not called by the backbone's forward"):format(self.layer), 0) end
  if err ~= STOP then error(err, 0) end
  return out
end

-- features must have one row per image of the batch
local function one_row_per_image(f, raw, n)
  if f:size(0) ~= n then
    error(string.format("fewshot: the backbone returned features of shape [%s] for a batch of %d images (expected %d rows)",
      table.concat(raw:shape(), ", "), n, n), 0)
  end
  return f
end

--- Features [N, D] of a prepared batch (with autograd as the caller's mode).
function Backbone:forward(x)
  if self.kind == "pixels" then return x:reshape(x:size(0), -1) end
  x = self:normalize(x)
  local raw
  if self.kind == "function" then
    raw = self.model(x)
  elseif self.hook_module then
    raw = run_to_layer(self, x)
  else
    raw = self.model(x)
  end
  return one_row_per_image(flatten(raw, self.pool), raw, x:size(0))
end

-- Run fn with the module in eval mode (restoring each module's flag after).
function B.in_eval(model, fn, ...)
  if not is_module(model) then return fn(...) end
  local saved = {}
  for i, m in ipairs(model:modules()) do saved[i] = rawget(m, "training") end
  model:eval()
  local res = table.pack(pcall(fn, ...))
  for i, m in ipairs(model:modules()) do rawset(m, "training", saved[i]) end
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- Features [N, D] float32 of images (no grad, eval mode, in batches of self.batch).
-- rowwise = true: one image per forward, so a row's features never depend on
-- the other rows of the call (bit-identical single and batched predictions).
function Backbone:features(images, rowwise)
  local n = images:size(0)
  if n == 0 then error("fewshot: no images", 0) end
  local step = rowwise and 1 or self.batch
  local parts = {}
  B.in_eval(self.model, function()
    ks.no_grad(function()
      for s = 0, n - 1, step do
        local x = self:prepare(images:narrow(0, s, math.min(step, n - s)))
        parts[#parts + 1] = self:forward(x):float()
      end
    end)
  end)
  local f = #parts == 1 and parts[1] or ks.cat(parts, 0)
  if f:dtype() ~= "float32" then f = f:float() end
  return f:contiguous()
end

-- ------------------------------------------------------------ module state
--- Clones of the named parameters and buffers (name -> tensor); names = nil: all.
function B.snapshot(model, names)
  local out = {}
  local sd = model:state_dict()
  ks.no_grad(function()
    for k, t in pairs(sd) do
      if names == nil or names[k] then out[k] = t:clone() end
    end
  end)
  return out
end

--- Copy a snapshot back into the model's tensors (in place: optimisers keep their references).
function B.restore(model, snap)
  local sd = model:state_dict()
  ks.no_grad(function()
    for k, t in pairs(snap) do
      local dst = sd[k]
      if dst == nil then error("fewshot: the backbone has no tensor '" .. k .. "' to restore", 0) end
      dst:copy_(t)
    end
  end)
end

--- The BatchNorm modules of a model (list).
function B.batch_norms(model)
  local list = {}
  if not is_module(model) then return list end
  for _, m in ipairs(model:modules()) do
    if m.__name == "BatchNorm2d" or m.__name == "BatchNorm1d" then list[#list + 1] = m end
  end
  return list
end

--- Re-estimate the BatchNorm running statistics on a prepared batch x:
-- momentum 1 for one forward in train mode (BN layers only), so each layer's
-- running mean / variance become the statistics of x.
function B.reestimate_bn(self, x)
  local bns = B.batch_norms(self.model)
  if #bns == 0 then error("fewshot: method bn needs a backbone with BatchNorm layers", 0) end
  local momenta = {}
  B.in_eval(self.model, function()
    for i, m in ipairs(bns) do
      momenta[i] = m.momentum
      rawset(m, "momentum", 1.0)
      rawset(m, "training", true)
    end
    local ok, err = pcall(ks.no_grad, function() self:forward(x) end)
    for i, m in ipairs(bns) do rawset(m, "momentum", momenta[i]) end
    if not ok then error(err, 0) end
  end)
end

-- ------------------------------------------------------------ checkpoints
--- B.load_resnet(path[, opts]) -> model (eval mode), meta
-- Builds nn.resnet from a safetensors checkpoint with torchvision names:
-- layers / width from opts, else the metadata ("layers" = "1,1,1,1",
-- "width"), else the blocks the tensors name (layer<i>.<block>.) and
-- conv1.weight's rows; classes, input channels
-- and the stem kind from the tensors. meta.mean / meta.std: opts.mean /
-- opts.std (a number, a per-channel list or a tensor), else the metadata's
-- ("0.2860" or "0.485,0.456,0.406"), else Fashion-MNIST's 0.2860 / 0.3530
-- for a 1-channel stem and torchvision's ImageNet statistics {0.485, 0.456,
-- 0.406} / {0.229, 0.224, 0.225} for a 3-channel one (others: an error
-- asking for them). Errors name the file and the mismatched keys or shapes.
local DEFAULT_STATS = {
  [1] = { mean = 0.2860, std = 0.3530 },
  [3] = { mean = { 0.485, 0.456, 0.406 }, std = { 0.229, 0.224, 0.225 } },
}

-- opts' or the metadata's mean / std: a number or a list of numbers (metadata strings are parsed)
local function input_stat_of(v, key, path)
  if v == nil or type(v) == "number" or type(v) == "table" or ks.is_tensor(v) then return v end
  if type(v) == "string" then
    local list = {}
    for item in v:gmatch("[^,%s]+") do
      local n = tonumber(item)
      if not n then
        options.raise(("%s: metadata '%s' = %q is not a number or a comma-separated list of them"):format(path, key, v))
      end
      list[#list + 1] = n
    end
    if #list > 0 then return #list == 1 and list[1] or list end
  end
  options.raise(("fewshot.load_backbone: option '%s' must be a number, a list of numbers or a tensor, got %s"):format(
    key, type(v)))
end

function B.load_resnet(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then error("fewshot.load_backbone: path must be a string, got " .. type(path), 2) end
  local nn = require "kshot.nn"
  local t, meta = ks.load(path)
  meta = meta or {}
  if not t["conv1.weight"] or not t["fc.weight"] then
    error(path .. ": not a ResNet checkpoint (no conv1.weight / fc.weight)", 2)
  end
  local layers = opts.layers
  if not layers and meta.layers then
    layers = {}
    for v in tostring(meta.layers):gmatch("%d+") do layers[#layers + 1] = tonumber(v) end
  end
  if not layers then -- the blocks the checkpoint has: layer<i>.<block>.
    local counts = {}
    for k in pairs(t) do
      local i, b = k:match("^layer(%d+)%.(%d+)%.")
      i, b = tonumber(i), tonumber(b)
      if i and i >= 1 and i <= 4 then counts[i] = math.max(counts[i] or 0, b + 1) end
    end
    if counts[1] and counts[2] and counts[3] and counts[4] then layers = { counts[1], counts[2], counts[3], counts[4] } end
  end
  layers = layers or {2, 2, 2, 2}
  local w1 = t["conv1.weight"]
  local width = opts.width or tonumber(meta.width) or w1:size(0)
  local model = nn.resnet{layers = layers, width = width, num_classes = t["fc.weight"]:size(0),
    in_channels = w1:size(1), small_input = w1:size(2) == 3}
  local ok, err = pcall(model.load_state_dict, model, t)
  if not ok then
    error(("%s does not fit nn.resnet{layers = {%s}, width = %d}: %s"):format(path, table.concat(layers, ","),
      width, tostring(err)), 2)
  end
  model:eval()
  local channels = w1:size(1)
  for _, key in ipairs { "mean", "std" } do
    local v = input_stat_of(opts[key], key, path)
    if v == nil then v = input_stat_of(meta[key], key, path) end
    if v == nil then
      if not DEFAULT_STATS[channels] then
        options.raise(("%s: a %d-channel model has no default input %s: give load_backbone's options mean= and "
          .. "std= (the normalisation it was trained with)"):format(path, channels, key))
      end
      v = DEFAULT_STATS[channels][key]
    end
    meta[key] = v
  end
  meta.layers_list, meta.width_value = layers, width
  return model, meta
end

return B
