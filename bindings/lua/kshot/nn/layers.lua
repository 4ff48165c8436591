--- kshot.nn layers (PyTorch's names, argument orders and default initialisations).
local ks = require "kshot"
local Module = require "kshot.nn.module"
local init = require "kshot.nn.weight_init"
local options = require "kshot.nn.options"
local F = ks.functional

local L = {}

-- v: an integer or a pair of integers, each >= min (when given). Errors name the layer and the
-- argument; level 5 is the caller of the layer's constructor (bad <- pair <- __init <- Module __call <- caller).
local function pair(v, name, min, layer, level)
  local function bad()
    error(string.format("%s%s must be an integer%s or a pair of them, got %s", layer and (layer .. ": ") or "", name,
      min and string.format(" >= %d", min) or "", options.show(v)), level or 5)
  end
  local p
  if type(v) == "table" then p = {v[1], v[2]} if #v ~= 2 then bad() end else p = {v, v} end
  for i = 1, 2 do
    if math.type(p[i]) ~= "integer" or (min and p[i] < min) then bad() end
  end
  return p
end

local function fmt_pair(p) return p[1] == p[2] and tostring(p[1]) or string.format("(%d, %d)", p[1], p[2]) end

-- ------------------------------------------------------------------ Linear
L.Linear = Module:extend("Linear")

--- Linear(in_features, out_features[, {bias=true}]) (or PyTorch's positional bias)
function L.Linear:__init(in_features, out_features, ...)
  Module.__init(self)
  local opts = options.positional("Linear", {"bias"}, ...)
  if math.type(in_features) ~= "integer" or math.type(out_features) ~= "integer" or in_features < 0 or out_features < 0 then
    error("Linear(in_features, out_features): two non-negative integers expected", 3)
  end
  opts = options.check(opts, {"bias"}, "Linear", 3)
  if opts.bias ~= nil and type(opts.bias) ~= "boolean" then
    error("Linear: option 'bias' must be a boolean, got " .. type(opts.bias), 3)
  end
  self.in_features, self.out_features = in_features, out_features
  local bias = opts.bias ~= false
  self:register_parameter("weight", ks.empty(out_features, in_features))
  self:register_parameter("bias", bias and ks.empty(out_features) or nil)
  init.default_(self.weight, self.bias)
end

function L.Linear:forward(x) return F.linear(x, self.weight, self.bias) end

function L.Linear:extra_repr()
  return string.format("in_features=%d, out_features=%d, bias=%s", self.in_features, self.out_features,
    tostring(self.bias ~= nil))
end

-- ------------------------------------------------------------------ Conv2d
L.Conv2d = Module:extend("Conv2d")

--- Conv2d(in_channels, out_channels, kernel_size[, {stride=1, padding=0, dilation=1, groups=1, bias=true}])
-- (or PyTorch's positional stride, padding, dilation, groups, bias: Conv2d(1, 8, 3, 1, 1))
function L.Conv2d:__init(cin, cout, kernel, ...)
  Module.__init(self)
  local opts = options.positional("Conv2d", {"stride", "padding", "dilation", "groups", "bias", "padding_mode"}, ...)
  opts = options.check(opts, {"stride", "padding", "dilation", "groups", "bias"}, "Conv2d", 3)
  if opts.bias ~= nil and type(opts.bias) ~= "boolean" then
    error("Conv2d: option 'bias' must be a boolean, got " .. type(opts.bias), 3)
  end
  local groups = opts.groups or 1
  options.conv_channels("Conv2d", cin, cout, groups, 3)
  self.in_channels, self.out_channels, self.groups = cin, cout, groups
  self.kernel_size = pair(kernel, "kernel_size", 1, "Conv2d")
  self.stride = pair(opts.stride or 1, "stride", 1, "Conv2d")
  self.padding = pair(opts.padding or 0, "padding", 0, "Conv2d")
  self.dilation = pair(opts.dilation or 1, "dilation", 1, "Conv2d")
  local k = self.kernel_size
  self:register_parameter("weight", ks.empty(cout, cin // groups, k[1], k[2]))
  self:register_parameter("bias", opts.bias ~= false and ks.empty(cout) or nil)
  init.default_(self.weight, self.bias)
  self._opts = {stride = self.stride, padding = self.padding, dilation = self.dilation, groups = groups}
end

function L.Conv2d:forward(x) return F.conv2d(x, self.weight, self.bias, self._opts) end

function L.Conv2d:extra_repr()
  local s = string.format("%d, %d, kernel_size=%s, stride=%s", self.in_channels, self.out_channels,
    fmt_pair(self.kernel_size), fmt_pair(self.stride))
  if self.padding[1] ~= 0 or self.padding[2] ~= 0 then s = s .. ", padding=" .. fmt_pair(self.padding) end
  if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then s = s .. ", dilation=" .. fmt_pair(self.dilation) end
  if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
  if self.bias == nil then s = s .. ", bias=false" end
  return s
end

-- ------------------------------------------------------------------ activations
-- keys: the constructor's arguments in PyTorch's order (positional, or one options table); an argument the
-- layer does not take is an error (nn.Sigmoid(1) used to be accepted and dropped). inplace, where PyTorch has
-- it, must be a boolean and is not used: kshot's activation layers always return a new tensor with the same
-- values. The other keys' values are passed to fn after x, in order; check(...) validates them.
local function activation(name, fn, keys, repr, check)
  local cls = Module:extend(name)
  function cls:__init(...)
    Module.__init(self)
    if #keys == 0 and select("#", ...) > 0 then
      error(string.format("%s takes no arguments (as torch.nn.%s), got %d", name, name, select("#", ...)), 3)
    end
    local opts = options.check(options.positional(name, keys, ...), keys, name, 3)
    if opts.inplace ~= nil and type(opts.inplace) ~= "boolean" then
      error(string.format("%s: inplace must be a boolean, got %s", name, options.show(opts.inplace)), 3)
    end
    local args, n = {}, 0
    for _, k in ipairs(keys) do
      if k ~= "inplace" then
        args[#args + 1] = opts[k]
        if opts[k] ~= nil then n = #args end
      end
    end
    if check then check(table.unpack(args, 1, n)) end
    self._args = {table.unpack(args, 1, n)}
  end
  function cls:forward(x) return fn(x, table.unpack(self._args)) end
  function cls:extra_repr() return repr and repr(self._args) or "" end
  return cls
end

L.ReLU = activation("ReLU", F.relu, {"inplace"})
L.LeakyReLU = activation("LeakyReLU", F.leaky_relu, {"negative_slope", "inplace"},
  function(a) return "negative_slope=" .. tostring(a[1] or 0.01) end,
  function(slope)
    if slope ~= nil and (type(slope) ~= "number" or slope ~= slope) then
      error("LeakyReLU: negative_slope must be a number, got " .. tostring(slope), 4)
    end
  end)
L.GELU = activation("GELU", F.gelu, {"approximate"}, function(a) return a[1] and ("approximate='" .. a[1] .. "'") or "" end,
  function(approximate)
    if approximate ~= nil and approximate ~= "none" and approximate ~= "tanh" then
      error("GELU: approximate must be 'none' or 'tanh', got " .. tostring(approximate), 4)
    end
  end)
L.SiLU = activation("SiLU", F.silu, {"inplace"})
-- ELU([alpha=1]): called through the field (F.elu is the Lua half of ks.functional, loaded on first use)
L.ELU = activation("ELU", function(x, ...) return F.elu(x, ...) end, {"alpha", "inplace"},
  function(a) return "alpha=" .. tostring(a[1] or 1.0) end,
  function(alpha)
    if alpha ~= nil and (type(alpha) ~= "number" or alpha ~= alpha) then
      error("ELU: alpha must be a number, got " .. tostring(alpha), 4)
    end
  end)
L.Tanh = activation("Tanh", F.tanh, {})
L.Sigmoid = activation("Sigmoid", F.sigmoid, {})
local function dim_check(name)
  return function(dim)
    if dim ~= nil and math.type(dim) ~= "integer" then error(name .. ": dim must be an integer, got " .. tostring(dim), 4) end
  end
end
-- called through the field so that argument errors name softmax / log_softmax
L.Softmax = activation("Softmax", function(x, ...) return F.softmax(x, ...) end, {"dim"},
  function(a) return "dim=" .. tostring(a[1]) end, dim_check("Softmax"))
L.LogSoftmax = activation("LogSoftmax", function(x, ...) return F.log_softmax(x, ...) end, {"dim"},
  function(a) return "dim=" .. tostring(a[1]) end, dim_check("LogSoftmax"))

L.Identity = Module:extend("Identity") -- as torch.nn.Identity, its constructor takes any arguments and ignores them
function L.Identity:forward(x) return x end

-- ------------------------------------------------------------------ shape
L.Flatten = Module:extend("Flatten")

--- Flatten([start_dim=1[, end_dim=-1]])
function L.Flatten:__init(start_dim, end_dim)
  Module.__init(self)
  self.start_dim, self.end_dim = start_dim or 1, end_dim or -1
  if math.type(self.start_dim) ~= "integer" or math.type(self.end_dim) ~= "integer" then
    error(string.format("Flatten: start_dim and end_dim must be integers, got %s and %s", tostring(start_dim),
      tostring(end_dim)), 3)
  end
end

function L.Flatten:forward(x) return x:flatten(self.start_dim, self.end_dim) end
function L.Flatten:extra_repr() return string.format("start_dim=%d, end_dim=%d", self.start_dim, self.end_dim) end

-- ------------------------------------------------------------------ pooling
local function pool(name, fn, keys, order)
  local cls = Module:extend(name)
  --- MaxPool2d(kernel_size[, {stride=kernel_size, padding=0, ceil_mode=false}])
  --- AvgPool2d(kernel_size[, {stride=kernel_size, padding=0, ceil_mode=false, count_include_pad=true}])
  -- (or PyTorch's positional order: MaxPool2d(3, 2, 1), AvgPool2d(3, 1, 1))
  function cls:__init(kernel, ...)
    Module.__init(self)
    local opts = options.positional(name, order, ...)
    options.check(opts, keys, name, 3)
    pair(kernel, "kernel_size", 1, name)
    if opts and opts.stride ~= nil then pair(opts.stride, "stride", 1, name) end
    if opts and opts.padding ~= nil then pair(opts.padding, "padding", 0, name) end
    self.kernel_size = kernel
    self._opts = opts or {}
  end
  function cls:forward(x) return fn(x, self.kernel_size, self._opts) end
  function cls:extra_repr()
    local k = self.kernel_size
    local s = self._opts.stride or k
    return string.format("kernel_size=%s, stride=%s, padding=%s", fmt_pair(pair(k, "kernel_size")),
      fmt_pair(pair(s, "stride")), fmt_pair(pair(self._opts.padding or 0, "padding")))
  end
  return cls
end

-- positional arguments in PyTorch's order (MaxPool2d(3, 2, 1)); the ones kshot lacks are errors
L.MaxPool2d = pool("MaxPool2d", F.max_pool2d, {"stride", "padding", "ceil_mode"},
  {"stride", "padding", "dilation", "return_indices", "ceil_mode"})
L.AvgPool2d = pool("AvgPool2d", F.avg_pool2d, {"stride", "padding", "ceil_mode", "count_include_pad"},
  {"stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"})

L.AdaptiveAvgPool2d = Module:extend("AdaptiveAvgPool2d")
function L.AdaptiveAvgPool2d:__init(size)
  Module.__init(self)
  pair(size, "output_size", 1, "AdaptiveAvgPool2d")
  self.output_size = size
end
function L.AdaptiveAvgPool2d:forward(x) return F.adaptive_avg_pool2d(x, self.output_size) end
function L.AdaptiveAvgPool2d:extra_repr()
  return "output_size=" .. fmt_pair(pair(self.output_size, "output_size"))
end


--- AdaptiveMaxPool2d(output_size[, {return_indices=false}]): F.adaptive_max_pool2d; with
-- return_indices = true, m(x) returns the values and the int64 indices h * W + w of the maxima
L.AdaptiveMaxPool2d = Module:extend("AdaptiveMaxPool2d")
function L.AdaptiveMaxPool2d:__init(size, ...)
  Module.__init(self)
  local opts = options.check(options.positional("AdaptiveMaxPool2d", {"return_indices"}, ...), {"return_indices"},
    "AdaptiveMaxPool2d", 3)
  pair(size, "output_size", 1, "AdaptiveMaxPool2d")
  if opts.return_indices ~= nil and type(opts.return_indices) ~= "boolean" then
    error("AdaptiveMaxPool2d: return_indices must be a boolean, got " .. type(opts.return_indices), 3)
  end
  self.output_size = size
  self.return_indices = opts.return_indices == true
end
function L.AdaptiveMaxPool2d:forward(x) return F.adaptive_max_pool2d(x, self.output_size, self.return_indices) end
function L.AdaptiveMaxPool2d:extra_repr()
  return "output_size=" .. fmt_pair(pair(self.output_size, "output_size"))
end

-- ------------------------------------------------------------------ resampling
local function shuffle_layer(name, key, fn)
  local cls = Module:extend(name)
  function cls:__init(r)
    Module.__init(self)
    if type(r) == "table" then r = options.check(r, {key}, name, 3)[key] end
    if math.type(r) ~= "integer" or r < 1 then
      error(string.format("%s: %s must be a positive integer, got %s", name, key, tostring(r)), 3)
    end
    self[key] = r
  end
  function cls:forward(x) return fn(x, self[key]) end
  function cls:extra_repr() return key .. "=" .. self[key] end
  return cls
end
--- PixelShuffle(upscale_factor), PixelUnshuffle(downscale_factor): F.pixel_shuffle / F.pixel_unshuffle
L.PixelShuffle = shuffle_layer("PixelShuffle", "upscale_factor", F.pixel_shuffle)
L.PixelUnshuffle = shuffle_layer("PixelUnshuffle", "downscale_factor", F.pixel_unshuffle)

local UPSAMPLE = {"size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"}
--- Upsample({size=, scale_factor=, mode="nearest", align_corners=, recompute_scale_factor=}) (or torch's
-- positional order: Upsample(nil, 2, "bilinear"); a list is the size: Upsample({4, 6})): F.interpolate.
-- The options are checked by the first forward (they depend on the input's dims).
L.Upsample = Module:extend("Upsample")
function L.Upsample:__init(first, ...)
  Module.__init(self)
  local opts
  if type(first) == "table" and select("#", ...) == 0 then
    opts = first[1] == nil and first or {size = first}
  else
    opts = options.positional("Upsample", UPSAMPLE, first, ...)
  end
  opts = options.check(opts, UPSAMPLE, "Upsample", 3)
  if (opts.size == nil) == (opts.scale_factor == nil) then
    error(opts.size == nil and "Upsample: either size or scale_factor must be given"
      or "Upsample: only one of size and scale_factor may be given", 3)
  end
  for _, k in ipairs(UPSAMPLE) do self[k] = opts[k] end
  self.mode = self.mode or "nearest"
end
function L.Upsample:forward(x)
  local o = {}
  for _, k in ipairs(UPSAMPLE) do o[k] = self[k] end
  return F.interpolate(x, o)
end
function L.Upsample:extra_repr()
  local function show(v)
    if type(v) ~= "table" then return tostring(v) end
    local t = {}
    for i = 1, #v do t[i] = tostring(v[i]) end
    return "(" .. table.concat(t, ", ") .. ")"
  end
  local s = self.scale_factor ~= nil and ("scale_factor=" .. show(self.scale_factor)) or ("size=" .. show(self.size))
  s = s .. ", mode=" .. self.mode
  if self.align_corners ~= nil then s = s .. ", align_corners=" .. tostring(self.align_corners) end
  return s
end


--- Unfold(kernel_size[, dilation[, padding[, stride]]]) (or {kernel_size=, ...}): F.unfold as a module.
--- Fold(output_size, kernel_size[, dilation[, padding[, stride]]]) (or {output_size=, ...}): F.fold as a module.
-- The sizes are checked by the first forward (unknown keys at construction).
local function fold_layer(name, fn, keys)
  local cls = Module:extend(name)
  function cls:__init(...)
    Module.__init(self)
    self._args = table.pack(...)
    local first = ...
    self._opts = (self._args.n == 1 and type(first) == "table" and first[1] == nil) and first or nil
    if self._opts then options.check(first, keys, name, 3) end
  end
  function cls:forward(x) return fn(x, table.unpack(self._args, 1, self._args.n)) end
  function cls:extra_repr()
    local parts = {}
    for i = 1, self._args.n do
      local v = self._args[i]
      if type(v) == "table" and v[1] == nil then
        for _, k in ipairs(keys) do
          if v[k] ~= nil then parts[#parts + 1] = k .. "=" .. (type(v[k]) == "table" and fmt_pair(v[k]) or tostring(v[k])) end
        end
      elseif v ~= nil then
        parts[#parts + 1] = keys[i] .. "=" .. (type(v) == "table" and fmt_pair(v) or tostring(v))
      end
    end
    return table.concat(parts, ", ")
  end
  return cls
end
L.Unfold = fold_layer("Unfold", F.unfold, {"kernel_size", "dilation", "padding", "stride"})
L.Fold = fold_layer("Fold", F.fold, {"output_size", "kernel_size", "dilation", "padding", "stride"})

return L
