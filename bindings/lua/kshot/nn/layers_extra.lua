--- kshot.nn layers over the F functions of functional.lua, functional_extra.lua
-- and conv_extra.lua: activations with options, PReLU, channel dropout, group
-- and instance norms, Conv1d and the 1-D pools, ConvTranspose2d. PyTorch's
-- names, constructor orders (positional, or one options table), defaults,
-- parameter names and initialisations.
local ks = require "kshot"
local Module = require "kshot.nn.module"
local init = require "kshot.nn.weight_init"
local options = require "kshot.nn.options"
local F = ks.functional

local L = {}

local shape_str = require("kshot.options").shape_str

-- the options of a constructor: PyTorch's positional order or a table, checked against order
local function ctor_opts(name, order, ...)
  local opts = options.positional(name, order, ...)
  opts = options.check(opts, order, name, 4) -- check <- ctor_opts <- __init <- class call <- user (no tail call)
  return opts
end

-- errors in a constructor's checks: at the user's line (bad <- check fn <- __init <- class call <- user)
local function bad(fmt, ...) error(string.format(fmt, ...), 5) end

local function number_opt(name, key, v)
  if type(v) ~= "number" or v ~= v then bad("%s: %s must be a number, got %s", name, key, tostring(v)) end
end

local function int_opt(name, key, v, min)
  local n = type(v) == "table" and #v == 1 and v[1] or v
  if math.type(n) ~= "integer" or n < min then
    bad("%s: %s must be an integer >= %d, got %s", name, key, min, options.show(v))
  end
  return n
end

local function bool_opt(name, key, v)
  if v ~= nil and type(v) ~= "boolean" then bad("%s: option '%s' must be a boolean, got %s", name, key, tostring(v)) end
end

local function fmt(v) return math.type(v) == "float" and string.format("%g", v) or tostring(v) end

-- ------------------------------------------------------------------ activations with options
-- keys: PyTorch's constructor order; defaults; check(self) validates; fn(self, x) is the forward
local function activation(name, keys, defaults, check, fn)
  local cls = Module:extend(name)
  function cls:__init(...)
    Module.__init(self)
    local opts = ctor_opts(name, keys, ...)
    for _, k in ipairs(keys) do
      if k == "inplace" then bool_opt(name, k, opts[k]) -- accepted for ports; kshot never writes in place here
      elseif opts[k] == nil then self[k] = defaults[k] else self[k] = opts[k] end
    end
    if check then check(self) end
  end
  function cls:forward(x) return fn(self, x) end
  function cls:extra_repr()
    local parts = {}
    for _, k in ipairs(keys) do if k ~= "inplace" then parts[#parts + 1] = k .. "=" .. fmt(self[k]) end end
    return table.concat(parts, ", ")
  end
  return cls
end

--- Softplus([beta=1[, threshold=20]]) (or {beta=, threshold=}): F.softplus
L.Softplus = activation("Softplus", {"beta", "threshold"}, {beta = 1, threshold = 20}, function(self)
  number_opt("Softplus", "beta", self.beta)
  number_opt("Softplus", "threshold", self.threshold)
end, function(self, x) return F.softplus(x, {beta = self.beta, threshold = self.threshold}) end)

--- Hardtanh([min_val=-1[, max_val=1]]) (or {min_val=, max_val=}): F.hardtanh, x clamped to [min_val, max_val]
L.Hardtanh = activation("Hardtanh", {"min_val", "max_val", "inplace"}, {min_val = -1.0, max_val = 1.0}, function(self)
  number_opt("Hardtanh", "min_val", self.min_val)
  number_opt("Hardtanh", "max_val", self.max_val)
  if self.min_val > self.max_val then
    bad("Hardtanh: min_val (%s) must be <= max_val (%s)", fmt(self.min_val), fmt(self.max_val))
  end
end, function(self, x) return F.hardtanh(x, {min_val = self.min_val, max_val = self.max_val}) end)

--- ReLU6(): F.relu6, min(max(x, 0), 6)
L.ReLU6 = activation("ReLU6", {"inplace"}, {}, nil, function(_, x) return F.relu6(x) end)
--- Mish(): F.mish, x tanh(softplus(x))
L.Mish = activation("Mish", {"inplace"}, {}, nil, function(_, x) return F.mish(x) end)
--- LogSigmoid(): F.logsigmoid
L.LogSigmoid = activation("LogSigmoid", {}, {}, nil, function(_, x) return F.logsigmoid(x) end)
--- Hardswish(): F.hardswish, x relu6(x + 3) / 6
L.Hardswish = activation("Hardswish", {"inplace"}, {}, nil, function(_, x) return F.hardswish(x) end)
--- Hardsigmoid(): F.hardsigmoid, relu6(x + 3) / 6
L.Hardsigmoid = activation("Hardsigmoid", {"inplace"}, {}, nil, function(_, x) return F.hardsigmoid(x) end)

--- Softmin(dim) (or {dim=}): F.softmin, softmax(-x, dim); dim is required
L.Softmin = activation("Softmin", {"dim"}, {}, function(self)
  if math.type(self.dim) ~= "integer" then bad("Softmin: dim must be an integer, got %s", tostring(self.dim)) end
end, function(self, x) return F.softmin(x, self.dim) end)

--- GLU([dim=-1]) (or {dim=}): F.glu, a * sigmoid(b) for the halves a, b of x along dim
L.GLU = activation("GLU", {"dim"}, {dim = -1}, function(self)
  if math.type(self.dim) ~= "integer" then bad("GLU: dim must be an integer, got %s", tostring(self.dim)) end
end, function(self, x) return F.glu(x, self.dim) end)

--- PReLU([num_parameters=1[, init=0.25]]) (or {num_parameters=, init=}): F.prelu with a learnable
-- slope `weight` [num_parameters] (one shared, or one per channel: dim 1 of the input), filled with init.
L.PReLU = Module:extend("PReLU")
function L.PReLU:__init(...)
  Module.__init(self)
  local opts = ctor_opts("PReLU", {"num_parameters", "init"}, ...)
  self.num_parameters = int_opt("PReLU", "num_parameters", opts.num_parameters or 1, 1)
  local a = opts.init == nil and 0.25 or opts.init
  if type(a) ~= "number" or a ~= a then error("PReLU: init must be a number, got " .. tostring(a), 3) end
  self:register_parameter("weight", ks.full({self.num_parameters}, a * 1.0))
end
function L.PReLU:forward(x) return F.prelu(x, self.weight) end
function L.PReLU:extra_repr() return "num_parameters=" .. self.num_parameters end

-- ------------------------------------------------------------------ channel dropout
local function channel_dropout(name, fn)
  local cls = Module:extend(name)
  function cls:__init(...)
    Module.__init(self)
    local opts = ctor_opts(name, {"p", "inplace"}, ...)
    bool_opt(name, "inplace", opts.inplace)
    local p = opts.p == nil and 0.5 or opts.p
    if type(p) ~= "number" or not (p >= 0 and p <= 1) then error(name .. ": p must be in [0, 1], got " .. tostring(p), 3) end
    self.p = p
  end
  function cls:forward(x) return fn(x, self.p, self.training) end
  function cls:extra_repr() return "p=" .. fmt(self.p) end
  return cls
end
--- Dropout1d([p=0.5]) (or {p=}): F.dropout1d in train(), identity in eval(); input [N, C, L] or [C, L]
L.Dropout1d = channel_dropout("Dropout1d", function(...) return F.dropout1d(...) end)
--- Dropout2d([p=0.5]) (or {p=}): F.dropout2d in train(), identity in eval(); input [N, C, H, W] or [C, H, W]
L.Dropout2d = channel_dropout("Dropout2d", function(...) return F.dropout2d(...) end)

-- ------------------------------------------------------------------ group and instance norms
local function affine_params(self, n)
  self:register_parameter("weight", ks.ones(n))
  self:register_parameter("bias", ks.zeros(n))
end

--- GroupNorm(num_groups, num_channels[, eps=1e-5[, affine=true]]) (or {eps=, affine=}): F.group_norm over
-- input [N, C, *]; weight (ones) and bias (zeros) [num_channels] when affine.
L.GroupNorm = Module:extend("GroupNorm")
function L.GroupNorm:__init(groups, channels, ...)
  Module.__init(self)
  local opts = ctor_opts("GroupNorm", {"eps", "affine"}, ...)
  if math.type(groups) ~= "integer" or math.type(channels) ~= "integer" or groups < 1 or channels < 1 then
    error(string.format("GroupNorm(num_groups, num_channels): two positive integers expected, got %s and %s",
      tostring(groups), tostring(channels)), 3)
  end
  if channels % groups ~= 0 then
    error(string.format("GroupNorm: num_channels (%d) must be divisible by num_groups (%d)", channels, groups), 3)
  end
  bool_opt("GroupNorm", "affine", opts.affine)
  self.num_groups, self.num_channels, self.eps = groups, channels, opts.eps or 1e-5
  number_opt("GroupNorm", "eps", self.eps)
  self.affine = opts.affine ~= false
  if self.affine then affine_params(self, channels) end
end
function L.GroupNorm:forward(x)
  if not ks.is_tensor(x) or x:dim() < 2 or x:size(1) ~= self.num_channels then
    error(string.format("GroupNorm: expected an input [N, %d, *] (num_channels=%d), got %s", self.num_channels,
      self.num_channels, ks.is_tensor(x) and ("shape " .. shape_str(x)) or type(x)), 2)
  end
  return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
end
function L.GroupNorm:extra_repr()
  return string.format("%d, %d, eps=%g, affine=%s", self.num_groups, self.num_channels, self.eps, tostring(self.affine))
end

local function instance_norm(name, dims, layout)
  local cls = Module:extend(name)
  function cls:__init(n, ...)
    Module.__init(self)
    local opts = ctor_opts(name, {"eps", "momentum", "affine", "track_running_stats"}, ...)
    if math.type(n) ~= "integer" or n < 1 then error(name .. "(num_features): a positive integer expected, got " .. tostring(n), 3) end
    bool_opt(name, "affine", opts.affine)
    bool_opt(name, "track_running_stats", opts.track_running_stats)
    if opts.track_running_stats then
      error(name .. ": track_running_stats=true is not supported (statistics come from each input)", 3)
    end
    self.num_features, self.eps, self.momentum = n, opts.eps or 1e-5, opts.momentum or 0.1
    number_opt(name, "eps", self.eps)
    self.affine, self.track_running_stats = opts.affine == true, false
    if self.affine then affine_params(self, n) end
  end
  function cls:forward(x)
    local nd = ks.is_tensor(x) and x:dim() or -1
    if nd ~= dims and nd ~= dims - 1 then
      error(string.format("%s: expected a %dD input %s (or unbatched %dD), got %s", name, dims, layout, dims - 1,
        nd >= 0 and ("shape " .. shape_str(x)) or type(x)), 2)
    end
    local xb = nd == dims and x or x:unsqueeze(0)
    if xb:size(1) ~= self.num_features then
      error(string.format("%s: input of shape %s has %d channels, expected num_features=%d", name, shape_str(x),
        xb:size(1), self.num_features), 2)
    end
    local y = F.instance_norm(xb, {weight = self.weight, bias = self.bias, eps = self.eps})
    return nd == dims and y or y:squeeze(0)
  end
  function cls:extra_repr()
    return string.format("%d, eps=%g, momentum=%g, affine=%s, track_running_stats=false", self.num_features, self.eps,
      self.momentum, tostring(self.affine))
  end
  return cls
end
--- InstanceNorm1d(num_features[, eps=1e-5[, momentum=0.1[, affine=false]]]) (or {eps=, affine=}):
-- each channel of each sample normalised over its positions; input [N, C, L] or [C, L].
-- track_running_stats=true is not supported.
L.InstanceNorm1d = instance_norm("InstanceNorm1d", 3, "[N, C, L]")
--- InstanceNorm2d(num_features[, eps=1e-5[, momentum=0.1[, affine=false]]]) (or {eps=, affine=}):
-- as InstanceNorm1d over input [N, C, H, W] or [C, H, W].
L.InstanceNorm2d = instance_norm("InstanceNorm2d", 4, "[N, C, H, W]")

-- ------------------------------------------------------------------ Conv1d and the 1-D pools
--- Conv1d(in_channels, out_channels, kernel_size[, {stride=1, padding=0, dilation=1, groups=1, bias=true}])
-- (or PyTorch's positional stride, padding, dilation, groups, bias): F.conv1d; weight [out, in/groups, k].
L.Conv1d = Module:extend("Conv1d")
function L.Conv1d:__init(cin, cout, kernel, ...)
  Module.__init(self)
  local opts = ctor_opts("Conv1d", {"stride", "padding", "dilation", "groups", "bias"}, ...)
  bool_opt("Conv1d", "bias", opts.bias)
  local groups = opts.groups or 1
  options.conv_channels("Conv1d", cin, cout, groups, 3)
  self.in_channels, self.out_channels, self.groups = cin, cout, groups
  self.kernel_size = int_opt("Conv1d", "kernel_size", kernel, 1)
  self.stride = int_opt("Conv1d", "stride", opts.stride or 1, 1)
  self.padding = int_opt("Conv1d", "padding", opts.padding or 0, 0)
  self.dilation = int_opt("Conv1d", "dilation", opts.dilation or 1, 1)
  self:register_parameter("weight", ks.empty(cout, cin // groups, self.kernel_size))
  self:register_parameter("bias", opts.bias ~= false and ks.empty(cout) or nil)
  init.default_(self.weight, self.bias)
  self._opts = {stride = self.stride, padding = self.padding, dilation = self.dilation, groups = groups}
end
function L.Conv1d:forward(x) return F.conv1d(x, self.weight, self.bias, self._opts) end
function L.Conv1d:extra_repr()
  local s = string.format("%d, %d, kernel_size=(%d,), stride=(%d,)", self.in_channels, self.out_channels, self.kernel_size,
    self.stride)
  if self.padding ~= 0 then s = s .. string.format(", padding=(%d,)", self.padding) end
  if self.dilation ~= 1 then s = s .. string.format(", dilation=(%d,)", self.dilation) end
  if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
  if self.bias == nil then s = s .. ", bias=false" end
  return s
end

local function pool1d(name, fname, keys, order)
  local cls = Module:extend(name)
  function cls:__init(kernel, ...)
    Module.__init(self)
    local opts = options.check(options.positional(name, order, ...), keys, name, 3)
    self.kernel_size = int_opt(name, "kernel_size", kernel, 1)
    self.stride = int_opt(name, "stride", opts.stride or self.kernel_size, 1)
    self.padding = int_opt(name, "padding", opts.padding or 0, 0)
    for _, k in ipairs(keys) do bool_opt(name, k, k ~= "stride" and k ~= "padding" and opts[k] or nil) end
    self._opts = {}
    for k, v in pairs(opts) do self._opts[k] = v end
    self._opts.stride, self._opts.padding = self.stride, self.padding
  end
  function cls:forward(x) return F[fname](x, self.kernel_size, self._opts) end
  function cls:extra_repr()
    return string.format("kernel_size=%d, stride=%d, padding=%d", self.kernel_size, self.stride, self.padding)
  end
  return cls
end
--- MaxPool1d(kernel_size[, {stride=kernel_size, padding=0, ceil_mode=false}]) (or PyTorch's positional
-- stride, padding, dilation, return_indices, ceil_mode; dilation and return_indices are not supported)
L.MaxPool1d = pool1d("MaxPool1d", "max_pool1d", {"stride", "padding", "ceil_mode"},
  {"stride", "padding", "dilation", "return_indices", "ceil_mode"})
--- AvgPool1d(kernel_size[, {stride=kernel_size, padding=0, ceil_mode=false, count_include_pad=true}])
-- (or PyTorch's positional stride, padding, ceil_mode, count_include_pad)
L.AvgPool1d = pool1d("AvgPool1d", "avg_pool1d", {"stride", "padding", "ceil_mode", "count_include_pad"},
  {"stride", "padding", "ceil_mode", "count_include_pad"})

--- AdaptiveAvgPool1d(output_size): F.adaptive_avg_pool1d, input [N, C, L] or [C, L]
L.AdaptiveAvgPool1d = Module:extend("AdaptiveAvgPool1d")
function L.AdaptiveAvgPool1d:__init(size)
  Module.__init(self)
  if type(size) == "table" and size[1] == nil then
    size = options.check(size, {"output_size"}, "AdaptiveAvgPool1d", 3).output_size
  end
  self.output_size = int_opt("AdaptiveAvgPool1d", "output_size", size, 1)
end
function L.AdaptiveAvgPool1d:forward(x) return F.adaptive_avg_pool1d(x, self.output_size) end
function L.AdaptiveAvgPool1d:extra_repr() return "output_size=" .. self.output_size end

-- ------------------------------------------------------------------ ConvTranspose2d
local function pair_opt(name, key, v, min)
  local p = type(v) == "table" and {v[1], v[2]} or {v, v}
  local ok = type(v) ~= "table" or #v == 2
  for i = 1, 2 do ok = ok and math.type(p[i]) == "integer" and p[i] >= min end
  if not ok then bad("%s: %s must be an integer >= %d or a pair of them, got %s", name, key, min, options.show(v)) end
  return p
end
local function fmt_pair(p) return string.format("(%d, %d)", p[1], p[2]) end

--- ConvTranspose2d(in_channels, out_channels, kernel_size[, {stride=1, padding=0, output_padding=0, groups=1,
-- bias=true, dilation=1}]) (or PyTorch's positional order stride, padding, output_padding, groups, bias,
-- dilation): F.conv_transpose2d with weight [in, out/groups, kh, kw] (PyTorch's layout and initialisation).
-- forward(x[, output_size]): output_size {H, W} (or {N, C, H, W}) picks output_padding as torch's does.
L.ConvTranspose2d = Module:extend("ConvTranspose2d")
local CT_ORDER = {"stride", "padding", "output_padding", "groups", "bias", "dilation"}
function L.ConvTranspose2d:__init(cin, cout, kernel, ...)
  Module.__init(self)
  local opts = ctor_opts("ConvTranspose2d", CT_ORDER, ...)
  bool_opt("ConvTranspose2d", "bias", opts.bias)
  local groups = opts.groups or 1
  options.conv_channels("ConvTranspose2d", cin, cout, groups, 3)
  self.in_channels, self.out_channels, self.groups = cin, cout, groups
  self.kernel_size = pair_opt("ConvTranspose2d", "kernel_size", kernel, 1)
  self.stride = pair_opt("ConvTranspose2d", "stride", opts.stride or 1, 1)
  self.padding = pair_opt("ConvTranspose2d", "padding", opts.padding or 0, 0)
  self.output_padding = pair_opt("ConvTranspose2d", "output_padding", opts.output_padding or 0, 0)
  self.dilation = pair_opt("ConvTranspose2d", "dilation", opts.dilation or 1, 1)
  for i = 1, 2 do
    if self.output_padding[i] >= self.stride[i] and self.output_padding[i] >= self.dilation[i] then
      bad("ConvTranspose2d: output_padding %s must be smaller than either stride %s or dilation %s",
        fmt_pair(self.output_padding), fmt_pair(self.stride), fmt_pair(self.dilation))
    end
  end
  local k = self.kernel_size
  self:register_parameter("weight", ks.empty(cin, cout // groups, k[1], k[2]))
  self:register_parameter("bias", opts.bias ~= false and ks.empty(cout) or nil)
  init.default_(self.weight, self.bias)
end

-- torch's _output_padding: the output_padding that gives output_size (within [0, max(stride, dilation)))
local function output_padding_for(self, x, size)
  if type(size) ~= "table" or (#size ~= 2 and #size ~= x:dim()) then
    error("ConvTranspose2d: output_size must be a list {H, W} (or the whole output shape), got " .. options.show(size), 4)
  end
  local op = {}
  for i = 1, 2 do
    local want, len = size[#size - 2 + i], x:size(x:dim() - 3 + i)
    local min = (len - 1) * self.stride[i] - 2 * self.padding[i] + self.dilation[i] * (self.kernel_size[i] - 1) + 1
    local span = math.max(self.stride[i], self.dilation[i])
    if math.type(want) ~= "integer" or want < min or want >= min + span then
      error(string.format("ConvTranspose2d: requested output_size %s for input of shape %s, but valid sizes are from %d to %d in dim %d",
        options.show(size), shape_str(x), min, min + span - 1, i - 1), 4)
    end
    op[i] = want - min
  end
  return op
end

function L.ConvTranspose2d:forward(x, output_size)
  local op = self.output_padding
  if output_size ~= nil and ks.is_tensor(x) then op = output_padding_for(self, x, output_size) end
  return F.conv_transpose2d(x, self.weight, self.bias, {stride = self.stride, padding = self.padding,
    output_padding = op, groups = self.groups, dilation = self.dilation})
end
function L.ConvTranspose2d:extra_repr()
  local s = string.format("%d, %d, kernel_size=%s, stride=%s", self.in_channels, self.out_channels,
    fmt_pair(self.kernel_size), fmt_pair(self.stride))
  if self.padding[1] ~= 0 or self.padding[2] ~= 0 then s = s .. ", padding=" .. fmt_pair(self.padding) end
  if self.output_padding[1] ~= 0 or self.output_padding[2] ~= 0 then s = s .. ", output_padding=" .. fmt_pair(self.output_padding) end
  if self.dilation[1] ~= 1 or self.dilation[2] ~= 1 then s = s .. ", dilation=" .. fmt_pair(self.dilation) end
  if self.groups ~= 1 then s = s .. ", groups=" .. self.groups end
  if self.bias == nil then s = s .. ", bias=false" end
  return s
end

return L
