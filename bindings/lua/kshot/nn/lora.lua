--- kshot.nn.lora: low-rank adapters (LoRA, Hu et al. 2021) on Linear and
-- Conv2d layers, with PEFT's layout and initialisation.
--
--   local nn = require "kshot.nn"             -- nn.lora, nn.LoRALinear, nn.LoRAConv2d
--   local names = nn.lora.inject(model, {r = 4, alpha = 8, targets = {"Conv2d"}})
--   nn.lora.mark_only_lora_as_trainable(model) -- every other parameter: requires_grad false
--   local opt = optim.SGD(nn.lora.parameters(model), {lr = 0.01})  ... train ...
--   nn.lora.merge(model)     -- each adapted layer computes with W + (alpha / r) * B A
--   nn.lora.unmerge(model)   -- the original weight tensors back, bit for bit
--   nn.lora.unload(model)    -- the original layers back in place (adapters dropped)
--   nn.lora.merge_and_unload(model) -- plain layers with merged (new) weight tensors
--
-- A LoRA layer wraps a layer and SHARES its weight and bias tensors (its
-- state_dict keys stay "conv1.weight" ...; the adapters add "conv1.lora_A.weight",
-- "conv1.lora_B.weight"):
--   Linear:  y = x W^T + b + s * (x A^T) B^T,   A [r, in], B [out, r]
--   Conv2d:  y = conv(x, W) + b + s * conv1x1(conv(x, A), B): A is a conv with r
--            output channels and the layer's kernel, stride, padding and dilation,
--            B a 1x1 conv r -> out (as PEFT); groups = 1 only.
-- s = alpha / r (rslora = true: alpha / sqrt(r)). A starts kaiming-uniform
-- (a = sqrt(5), PyTorch's default layer init, as PEFT), B at zero, so a fresh
-- adapter leaves the output unchanged. dropout (0) applies to the adapter's
-- input in training mode. Merging never writes into the wrapped weight: the
-- merged weight is a new tensor, so unmerge restores the original exactly
-- (PyTorch/PEFT subtract, which drifts in floating point).
local ks = require "kshot"
local Module = require "kshot.nn.module"
local L = require "kshot.nn.layers"
local init = require "kshot.nn.weight_init"
local options = require "kshot.options"
local F = ks.functional

local M = {}

local function fail(level, fmt, ...) error(string.format(fmt, ...), level + 1) end

-- Options {r, alpha, dropout, rslora, generator} -> checked copy. An unknown
-- key is worded by kshot.options (the known names and the nearest one).
local LORA_OPTS = {"r", "alpha", "dropout", "rslora", "generator"}
local function lora_opts(opts, where)
  opts = opts or {}
  if type(opts) ~= "table" then fail(4, "%s: options table expected, got %s", where, type(opts)) end
  for k in pairs(opts) do
    if not ({r = true, alpha = true, dropout = true, rslora = true, generator = true})[k] then
      fail(4, "%s", options.message(where, k, LORA_OPTS))
    end
  end
  local r = opts.r or 4
  if math.type(r) ~= "integer" or r < 1 then
    fail(4, "%s: r must be an integer >= 1, got %s", where, tostring(r))
  end
  local alpha = opts.alpha or r
  if type(alpha) ~= "number" or alpha <= 0 then
    fail(4, "%s: alpha must be a number > 0, got %s", where, tostring(alpha))
  end
  local p = opts.dropout or 0
  if type(p) ~= "number" or p < 0 or p >= 1 then
    fail(4, "%s: dropout must be in [0, 1), got %s", where, tostring(p))
  end
  return {r = r, alpha = alpha, dropout = p, scale = opts.rslora and alpha / math.sqrt(r) or alpha / r,
    generator = opts.generator}
end

-- Register the wrapped layer's tensors under the same names, keeping their
-- requires_grad flags (register_parameter would switch them on).
local function share_tensors(self, base)
  for _, name in ipairs({"weight", "bias"}) do
    local t = base[name]
    local flag = t and t.requires_grad
    self:register_parameter(name, t)
    if t then t:requires_grad_(flag) end
  end
  rawset(self, "_base", base)
end

local function init_adapters(self, o)
  init.kaiming_uniform_(self.lora_A.weight, math.sqrt(5), nil, nil, o.generator)
  init.zeros_(self.lora_B.weight)
  self.r, self.alpha, self.scaling, self.dropout, self.merged = o.r, o.alpha, o.scale, o.dropout, false
end

-- the wrapped layer must be of the adapter's kind (level: the user's call)
local function check_base(base, kind, where)
  if type(base) ~= "table" or base.__name ~= kind then
    fail(4, "%s: a %s layer expected, got %s", where, kind, type(base) == "table" and tostring(base.__name) or type(base))
  end
end

local function adapter_input(self, x)
  if self.dropout > 0 and self.training then return F.dropout(x, self.dropout, true) end
  return x
end

-- ------------------------------------------------------------------ LoRALinear
M.LoRALinear = Module:extend("LoRALinear")

--- LoRALinear(linear[, {r = 4, alpha = r, dropout = 0, rslora = false, generator =}])
function M.LoRALinear:__init(base, opts)
  Module.__init(self)
  check_base(base, "Linear", "LoRALinear")
  local o = lora_opts(opts, "LoRALinear")
  share_tensors(self, base)
  self.in_features, self.out_features = base.in_features, base.out_features
  self:add_module("lora_A", L.Linear(base.in_features, o.r, {bias = false}))
  self:add_module("lora_B", L.Linear(o.r, base.out_features, {bias = false}))
  init_adapters(self, o)
end

function M.LoRALinear:forward(x)
  local y = F.linear(x, self.weight, self.bias)
  if self.merged then return y end
  return y + self.lora_B(self.lora_A(adapter_input(self, x))) * self.scaling
end

--- The weight update s * B A ([out, in]).
function M.LoRALinear:delta_weight()
  return self.lora_B.weight:matmul(self.lora_A.weight) * self.scaling
end

function M.LoRALinear:extra_repr()
  return string.format("in_features=%d, out_features=%d, r=%d, alpha=%g%s", self.in_features, self.out_features,
    self.r, self.alpha, self.merged and ", merged" or "")
end

-- ------------------------------------------------------------------ LoRAConv2d
M.LoRAConv2d = Module:extend("LoRAConv2d")

--- LoRAConv2d(conv[, {r = 4, alpha = r, dropout = 0, rslora = false, generator =}])
function M.LoRAConv2d:__init(base, opts)
  Module.__init(self)
  check_base(base, "Conv2d", "LoRAConv2d")
  if base.groups ~= 1 then fail(3, "LoRAConv2d: grouped convolutions (groups = %d) are not supported", base.groups) end
  local o = lora_opts(opts, "LoRAConv2d")
  share_tensors(self, base)
  self.in_channels, self.out_channels, self.kernel_size = base.in_channels, base.out_channels, base.kernel_size
  self._opts = base._opts
  self:add_module("lora_A", L.Conv2d(base.in_channels, o.r, base.kernel_size,
    {stride = base.stride, padding = base.padding, dilation = base.dilation, bias = false}))
  self:add_module("lora_B", L.Conv2d(o.r, base.out_channels, 1, {bias = false}))
  init_adapters(self, o)
end

function M.LoRAConv2d:forward(x)
  local y = F.conv2d(x, self.weight, self.bias, self._opts)
  if self.merged then return y end
  return y + self.lora_B(self.lora_A(adapter_input(self, x))) * self.scaling
end

--- The weight update s * B A as a kernel [out, in, kh, kw].
function M.LoRAConv2d:delta_weight()
  local a, b = self.lora_A.weight, self.lora_B.weight
  local r = a:size(0)
  local d = b:reshape(b:size(0), r):matmul(a:reshape(r, -1)) * self.scaling
  return d:reshape(self.weight:shape())
end

function M.LoRAConv2d:extra_repr()
  local k = self.kernel_size
  return string.format("%d, %d, kernel_size=(%d, %d), r=%d, alpha=%g%s", self.in_channels, self.out_channels, k[1],
    k[2], self.r, self.alpha, self.merged and ", merged" or "")
end

-- ------------------------------------------------------------------ merge
local function merge_layer(self)
  if self.merged then return self end
  local w = rawget(self, "_base").weight
  local merged = ks.no_grad(function() return (w + self:delta_weight()):contiguous() end)
  rawget(self, "_slots").weight = merged -- the wrapped layer keeps its own tensor
  self.merged = true
  return self
end

local function unmerge_layer(self)
  if not self.merged then return self end
  rawget(self, "_slots").weight = rawget(self, "_base").weight
  self.merged = false
  return self
end

for _, cls in ipairs({M.LoRALinear, M.LoRAConv2d}) do
  cls.merge, cls.unmerge = merge_layer, unmerge_layer
  --- The wrapped layer (its tensors untouched by training or merging).
  cls.base_layer = function(self) return rawget(self, "_base") end
end

-- ------------------------------------------------------------------ model-level API
local WRAP = {Linear = M.LoRALinear, Conv2d = M.LoRAConv2d}
M.SUPPORTED = {"Linear", "Conv2d"}

local function is_lora(m) return m.__name == "LoRALinear" or m.__name == "LoRAConv2d" end
M.is_lora = is_lora

local function check_model(model, where)
  if type(model) ~= "table" or type(model.named_modules) ~= "function" then
    fail(3, "%s: an nn.Module expected, got %s", where, type(model))
  end
end

-- Which layers a target list selects: an entry is a layer type ("Linear",
-- "Conv2d"), an exact module name ("layer4.0.conv1") or a name prefix
-- ("layer4": every supported layer under it).
local function selected(model, targets, where)
  if type(targets) == "string" then targets = {targets} end
  if type(targets) ~= "table" or #targets == 0 then
    fail(4, "%s: targets must be a non-empty list of layer types or module names, got %s", where, type(targets))
  end
  local names, mods = {}, {}
  for _, nm in ipairs(model:named_modules()) do
    if is_lora(nm[2]) then fail(4, "%s: layer '%s' already has an adapter (lora.unload first)", where, nm[1]) end
    mods[#mods + 1] = nm
  end
  for _, t in ipairs(targets) do
    if type(t) ~= "string" then fail(4, "%s: targets entries must be strings, got %s", where, type(t)) end
    local hit = false
    for _, nm in ipairs(mods) do
      local name, m = nm[1], nm[2]
      local under = t == name or name:sub(1, #t + 1) == t .. "."
      if name ~= "" and WRAP[m.__name] and (m.__name == t or under) then names[name], hit = true, true end
    end
    if not hit and not WRAP[t] then
      local known = {}
      for _, nm in ipairs(mods) do
        if WRAP[nm[2].__name] and #known < 30 then known[#known + 1] = nm[1] end
      end
      fail(4, "%s: target '%s' selects no Linear or Conv2d layer (types: Linear, Conv2d; layers: %s)", where, t,
        table.concat(known, ", "))
    end
  end
  local list = {}
  for _, nm in ipairs(mods) do if names[nm[1]] then list[#list + 1] = nm[1] end end
  if #list == 0 then
    fail(4, "%s: targets {%s} select no Linear or Conv2d layer of the model", where, table.concat(targets, ", "))
  end
  return list
end

-- Parent module and child key of a dotted name.
local function parent_of(model, name)
  local head, key = name:match("^(.*)%.([^.]+)$")
  if not head then return model, name end
  for _, nm in ipairs(model:named_modules()) do
    if nm[1] == head then return nm[2], key end
  end
  error("lora: no module '" .. head .. "'", 3)
end

local INJECT_OPTS = {r = true, alpha = true, dropout = true, rslora = true, generator = true}
local INJECT_NAMES = {"targets", "exclude", "r", "alpha", "dropout", "rslora", "generator"}
--- inject(model, {targets = {"Linear", "Conv2d"}, exclude = {names}, r =, alpha =, dropout =, rslora =, generator =})
-- Wrap the selected layers in place; returns the list of their names.
function M.inject(model, opts)
  check_model(model, "lora.inject")
  opts = opts or {}
  if type(opts) ~= "table" then fail(2, "lora.inject: options table expected, got %s", type(opts)) end
  local lopts = {}
  for k, v in pairs(opts) do
    if k ~= "targets" and k ~= "exclude" then
      if not INJECT_OPTS[k] then
        fail(2, "%s", options.message("lora.inject", k, INJECT_NAMES))
      end
      lopts[k] = v
    end
  end
  lora_opts(lopts, "lora.inject") -- check before changing anything
  local exclude = opts.exclude or {}
  if type(exclude) ~= "table" then
    fail(2, "lora.inject: exclude must be a list of module names, got %s", type(exclude))
  end
  for i, n in ipairs(exclude) do
    if type(n) ~= "string" then fail(2, "lora.inject: exclude[%d] must be a module name (string), got %s", i, type(n)) end
  end
  local names = selected(model, opts.targets or M.SUPPORTED, "lora.inject")
  local skip = {}
  for _, n in ipairs(exclude) do skip[n] = true end
  local done = {}
  for _, name in ipairs(names) do
    if not skip[name] then
      local parent, key = parent_of(model, name)
      local base = parent[key]
      parent:add_module(key, WRAP[base.__name](base, lopts))
      done[#done + 1] = name
    end
  end
  if #done == 0 then fail(2, "lora.inject: every selected layer is excluded") end
  return done
end

--- The LoRA layers of a model: list of {name, layer}.
function M.layers(model)
  check_model(model, "lora.layers")
  local list = {}
  for _, nm in ipairs(model:named_modules()) do if is_lora(nm[2]) then list[#list + 1] = nm end end
  return list
end

--- The adapters' parameters (lora_A / lora_B weights), in module order.
function M.parameters(model)
  local list = {}
  for _, nm in ipairs(M.layers(model)) do
    list[#list + 1] = nm[2].lora_A.weight
    list[#list + 1] = nm[2].lora_B.weight
  end
  return list
end

--- Freeze everything but the adapters (requires_grad false elsewhere). Returns
-- a function that puts every parameter's previous flag back.
function M.mark_only_lora_as_trainable(model)
  check_model(model, "lora.mark_only_lora_as_trainable")
  local saved, adapters = {}, {}
  for _, p in ipairs(M.parameters(model)) do adapters[p] = true end
  for _, p in ipairs(model:parameters()) do
    saved[#saved + 1] = {p, p.requires_grad}
    p:requires_grad_(adapters[p] == true)
  end
  return function() for _, s in ipairs(saved) do s[1]:requires_grad_(s[2]) end end
end

function M.merge(model)
  for _, nm in ipairs(M.layers(model)) do nm[2]:merge() end
  return model
end

function M.unmerge(model)
  for _, nm in ipairs(M.layers(model)) do nm[2]:unmerge() end
  return model
end

--- Put the wrapped layers back (the adapters are dropped); returns the model.
function M.unload(model)
  for _, nm in ipairs(M.layers(model)) do
    local parent, key = parent_of(model, nm[1])
    parent:add_module(key, nm[2]:base_layer())
  end
  return model
end

--- name -> merged weight (new tensors) of every LoRA layer ("layer4.0.conv1.weight").
function M.merged_weights(model)
  local out = {}
  for _, nm in ipairs(M.layers(model)) do
    local m = nm[2]
    out[nm[1] .. ".weight"] = ks.no_grad(function() return (m:base_layer().weight + m:delta_weight()):contiguous() end)
  end
  return out
end

--- Replace every LoRA layer by a plain layer of the same kind whose weight is
-- the merged weight (a new tensor; the bias is shared). Returns the model.
function M.merge_and_unload(model)
  local merged = M.merged_weights(model)
  for _, nm in ipairs(M.layers(model)) do
    local parent, key = parent_of(model, nm[1])
    local base = nm[2]:base_layer()
    local plain
    if base.__name == "Linear" then
      plain = L.Linear(base.in_features, base.out_features, {bias = base.bias ~= nil})
    else
      plain = L.Conv2d(base.in_channels, base.out_channels, base.kernel_size, {stride = base.stride,
        padding = base.padding, dilation = base.dilation, groups = base.groups, bias = base.bias ~= nil})
    end
    -- register_parameter (not plain.weight = ...): a frozen weight stays frozen, the shared bias keeps its flag
    plain:register_parameter("weight", merged[nm[1] .. ".weight"]):requires_grad_(base.weight.requires_grad)
    if base.bias then
      local flag = base.bias.requires_grad
      plain:register_parameter("bias", base.bias):requires_grad_(flag)
    end
    parent:add_module(key, plain)
  end
  return model
end

return M
