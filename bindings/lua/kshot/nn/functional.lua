--- kshot.nn.functional: the Lua half of ks.functional (torch.nn.functional).
-- The C half (bindings/ks_lua_nn.c) holds the kernels; the functions here
-- are compositions of differentiable ops, so autograd needs nothing new.
-- Loaded on first use of a name the C half lacks (ks.functional.normalize)
-- and by require "kshot.nn".
--   F.one_hot(labels[, num_classes])         alias of ks.one_hot
--   F.pad(x, pads[, mode[, value]])          alias of ks.pad
--   F.normalize(x[, {p=2, dim=1, eps=1e-12}])  x / max(||x||_p, eps) along dim (or positional p, dim, eps)
--   F.cosine_similarity(x1, x2[, {dim=1, eps=1e-8}])   (or positional dim, eps)
--       sum(x1 * x2, dim) / (max(||x1||, eps) * max(||x2||, eps)), inputs broadcast
--   F.elu(x[, alpha=1 | {alpha=1}])           x > 0 ? x : alpha * (exp(x) - 1)
--   F.softplus(x[, {beta=1, threshold=20}]), F.logsigmoid(x), F.hardtanh(x[, {min_val=-1, max_val=1}]),
--   F.relu6(x), F.mish(x), F.softmin(x, dim), F.glu(x[, dim=-1])
--   F.binary_cross_entropy(p, target[, {weight=, reduction="mean"}])   log terms clamped at -100, as torch
--   F.huber_loss(x, y[, {delta=1, reduction="mean"}])
--   F.pairwise_distance(x1, x2[, {p=2, eps=1e-6, keepdim=false}])   ||x1 - x2 + eps||_p over the last dim
--   F.group_norm(x, num_groups[, weight[, bias[, eps=1e-5]]]), F.instance_norm(x[, {weight=, bias=, eps=1e-5}])
--       statistics over each sample's group (biased variance), then the per-channel affine
--   adaptive_max_pool2d, interpolate, pixel_shuffle, pixel_unshuffle: in kshot/nn/resample.lua
--   margin_ranking, hinge_embedding, cosine_embedding, triplet_margin, multi_margin, poisson_nll,
--   soft_margin and multilabel_soft_margin losses: in kshot/nn/losses_extra.lua
--   unfold and fold (im2col / col2im): in kshot/nn/unfold.lua
--   prelu, hardswish, hardsigmoid, dropout1d, dropout2d: in kshot/nn/functional_extra.lua
--   conv1d, max_pool1d, avg_pool1d, adaptive_avg_pool1d, conv_transpose2d: in kshot/nn/conv_extra.lua
--   affine_grid, grid_sample: in kshot/nn/grid_sample.lua
-- The C half takes PyTorch's arguments positionally or as keywords in a table:
-- F.softmax(x, 1) or F.softmax(x, {dim = 1}); F.dropout(x, 0.3, {training = false});
-- F.leaky_relu(x, {negative_slope = 0.1}); F.gelu(x, {approximate = "tanh"});
-- F.layer_norm(x, {4}, {weight = w, bias = b, eps = 1e-5}); F.embedding(i, w, {padding_idx = 0});
-- F.linear(x, w, {bias = b}); F.batch_norm(x, rm, rv, {weight = w, bias = b, training = true}).
-- Pools and losses take an options table
-- (F.max_pool2d(x, 2, {stride = 1})).
-- Formulas and defaults as torch 1.13.
local ks = require "kshot"
local options = require "kshot.nn.options"

local F = ks.functional

F.one_hot = ks.one_hot
F.pad = ks.pad

local shape_str = require("kshot.options").shape_str

-- errors name the function and the argument, at the user's line (check <- F function <- user)
local check_float = options.check_float

local function check_dim(t, dim, fname)
  local nd = t:dim()
  if math.type(dim) ~= "integer" or dim < -math.max(nd, 1) or dim >= math.max(nd, 1) then
    error(string.format("%s: dim %s is out of range for a tensor of shape %s (expected in [%d, %d])", fname,
      tostring(dim), shape_str(t), -math.max(nd, 1), math.max(nd, 1) - 1), 3)
  end
end

local function check_number(v, what, fname, positive)
  if type(v) ~= "number" or v ~= v or v < 0 or (positive and v == 0) then
    error(string.format("%s: option '%s' must be a number %s, got %s", fname, what, positive and "> 0" or ">= 0",
      tostring(v)), 3)
  end
end

-- PyTorch's positional form of a Lua-side function's options: values in order
local function positional(keys, ...)
  local o = {}
  for i = 1, select("#", ...) do o[keys[i] or ("#" .. i)] = select(i, ...) end
  return o
end

--- F.normalize(x[, {p=2, dim=1, eps=1e-12}]): x divided by its p-norm along
-- dim, the norm clamped below at eps (zero vectors stay zero).
function F.normalize(x, opts, ...)
  if type(opts) == "number" then opts = positional({"p", "dim", "eps"}, opts, ...) end
  opts = options.check(opts, {"p", "dim", "eps"}, "normalize", 2)
  check_float(x, "input", "normalize")
  local p, dim, eps = opts.p or 2, opts.dim or 1, opts.eps or 1e-12
  check_number(p, "p", "normalize", true)
  check_number(eps, "eps", "normalize")
  check_dim(x, dim, "normalize")
  if x:dim() == 0 then return x / x:abs():clamp(eps) end
  return x / x:norm(p, dim, true):clamp(eps)
end

--- F.cosine_similarity(x1, x2[, {dim=1, eps=1e-8}]): cosine of the angle
-- between x1 and x2 along dim (after broadcasting), each norm clamped below
-- at eps; dim is removed from the result.
function F.cosine_similarity(x1, x2, opts, ...)
  if type(opts) == "number" then opts = positional({"dim", "eps"}, opts, ...) end
  opts = options.check(opts, {"dim", "eps"}, "cosine_similarity", 2)
  check_float(x1, "x1", "cosine_similarity")
  check_float(x2, "x2", "cosine_similarity")
  local dim, eps = opts.dim or 1, opts.eps or 1e-8
  check_number(eps, "eps", "cosine_similarity")
  local ok, prod = pcall(function() return x1 * x2 end)
  if not ok then
    error(string.format("cosine_similarity: x1 of shape %s and x2 of shape %s do not broadcast", shape_str(x1),
      shape_str(x2)), 2)
  end
  check_dim(prod, dim, "cosine_similarity")
  local shape = prod:shape()
  local n1 = x1:expand(shape):norm(2, dim, false):clamp(eps)
  local n2 = x2:expand(shape):norm(2, dim, false):clamp(eps)
  return prod:sum(dim) / (n1 * n2)
end

--- F.elu(x[, alpha=1]) (alpha also as {alpha=}): x for x > 0, alpha * (exp(x) - 1) otherwise.
-- exp is taken of min(x, 0), so large inputs cannot overflow into the gradient.
function F.elu(x, alpha)
  if type(alpha) == "table" then alpha = options.check(alpha, {"alpha"}, "elu", 2).alpha end
  check_float(x, "input", "elu")
  alpha = alpha == nil and 1.0 or alpha
  if type(alpha) ~= "number" or alpha ~= alpha then
    error("elu: alpha must be a number, got " .. tostring(alpha), 2)
  end
  return F.relu(x) + (x:clamp(nil, 0):exp() - 1) * alpha
end

-- ------------------------------------------------------------------ composed activations
local function opts_of(opts, keys, fname)
  return options.check(opts, keys, fname, 3)
end

-- log(1 + exp(z)) without overflow: z + log1p(exp(-z)) above 0, log1p(exp(z)) at or below,
-- each branch fed a clamped z so the branch not taken stays finite (its gradient is
-- then 0, never inf * 0), and sigmoid(0) = 0.5 as the derivative at 0 (max(z, 0) +
-- log1p(exp(-|z|)) has the right values but the derivative 0 there)
local function softplus1(z)
  local zp, zn = z:clamp(0), z:clamp(nil, 0)
  return ks.where(z:gt(0), zp + (-zp):exp():log1p(), zn:exp():log1p())
end

--- F.softplus(x[, {beta=1, threshold=20}]): log(1 + exp(beta x)) / beta, x where beta x > threshold.
function F.softplus(x, opts, threshold)
  if type(opts) == "number" then opts = {beta = opts, threshold = threshold} end
  opts = opts_of(opts, {"beta", "threshold"}, "softplus")
  check_float(x, "input", "softplus")
  local beta, th = opts.beta or 1, opts.threshold or 20
  local bx = beta == 1 and x or x * beta
  local sp = beta == 1 and softplus1(bx) or softplus1(bx) / beta
  return ks.where(bx:gt(th), x, sp)
end

--- F.logsigmoid(x): log(sigmoid(x)) = -softplus(-x), stable for large |x|.
function F.logsigmoid(x)
  check_float(x, "input", "logsigmoid")
  return -softplus1(-x)
end

--- F.hardtanh(x[, {min_val=-1, max_val=1}]) (or positional min_val, max_val)
function F.hardtanh(x, opts, max_val)
  if type(opts) == "number" then opts = {min_val = opts, max_val = max_val} end
  opts = opts_of(opts, {"min_val", "max_val", "inplace"}, "hardtanh")
  check_float(x, "input", "hardtanh")
  local lo, hi = opts.min_val or -1, opts.max_val or 1
  if lo > hi then error(string.format("hardtanh: min_val (%s) must be <= max_val (%s)", lo, hi), 2) end
  return x:clamp(lo, hi)
end

--- F.relu6(x) = min(max(x, 0), 6)
function F.relu6(x)
  check_float(x, "input", "relu6")
  return x:clamp(0, 6)
end

--- F.mish(x) = x * tanh(softplus(x))
function F.mish(x)
  check_float(x, "input", "mish")
  return x * softplus1(x):tanh()
end

--- F.softmin(x, dim) = softmax(-x, dim)
function F.softmin(x, dim)
  check_float(x, "input", "softmin")
  if type(dim) == "table" then dim = opts_of(dim, {"dim"}, "softmin").dim end
  return F.softmax(-x, dim)
end

--- F.glu(x[, dim=-1]): a * sigmoid(b) for the two halves a, b of x along dim.
function F.glu(x, dim)
  check_float(x, "input", "glu")
  if type(dim) == "table" then dim = opts_of(dim, {"dim"}, "glu").dim end
  dim = dim or -1
  check_dim(x, dim, "glu")
  local n = x:size(dim)
  if n % 2 ~= 0 then
    error(string.format("glu: halving dimension must be even, but dimension %d of shape %s is size %d", dim,
      shape_str(x), n), 2)
  end
  local a, b = x:narrow(dim, 0, n // 2), x:narrow(dim, n // 2, n // 2)
  return a * F.sigmoid(b)
end

-- ------------------------------------------------------------------ composed losses
local function reduce(loss, reduction, fname)
  if reduction == nil or reduction == "mean" then return loss:mean() end
  if reduction == "sum" then return loss:sum() end
  if reduction == "none" then return loss end
  error(string.format("%s: reduction must be 'mean', 'sum' or 'none', got %s", fname, tostring(reduction)), 3)
end

local function check_same_shape(a, b, fname)
  if not ks.equal(ks.tensor(a:shape(), ks.int64), ks.tensor(b:shape(), ks.int64)) then
    error(string.format("%s: target of shape %s must have the input's shape %s", fname, shape_str(b), shape_str(a)), 3)
  end
end

--- F.binary_cross_entropy(p, target[, {weight=, reduction="mean"}]): -(y log p + (1-y) log(1-p)),
-- each log clamped below at -100 as torch does (p = 0 or 1 gives a finite loss).
function F.binary_cross_entropy(p, target, opts)
  opts = opts_of(opts, {"weight", "reduction"}, "binary_cross_entropy")
  check_float(p, "input", "binary_cross_entropy")
  check_float(target, "target", "binary_cross_entropy")
  check_same_shape(p, target, "binary_cross_entropy")
  local loss = -(target * p:log():clamp(-100) + (1 - target) * (1 - p):log():clamp(-100))
  if opts.weight ~= nil then loss = loss * opts.weight end
  return reduce(loss, opts.reduction, "binary_cross_entropy")
end

--- F.huber_loss(x, y[, {delta=1, reduction="mean"}]): 0.5 d^2 for |d| < delta, delta (|d| - delta / 2) beyond.
function F.huber_loss(x, y, opts)
  opts = opts_of(opts, {"delta", "reduction"}, "huber_loss")
  check_float(x, "input", "huber_loss")
  check_float(y, "target", "huber_loss")
  local delta = opts.delta or 1
  check_number(delta, "delta", "huber_loss", true)
  local d = (x - y):abs()
  local small = d:clamp(nil, delta) -- |d| below delta, delta beyond: 0.5 s^2 + delta (|d| - s) is both branches
  return reduce(small * small * 0.5 + (d - small) * delta, opts.reduction, "huber_loss")
end

--- F.pairwise_distance(x1, x2[, {p=2, eps=1e-6, keepdim=false}]): ||x1 - x2 + eps||_p over the last dim.
function F.pairwise_distance(x1, x2, opts, ...)
  if type(opts) == "number" then opts = positional({"p", "eps", "keepdim"}, opts, ...) end
  opts = opts_of(opts, {"p", "eps", "keepdim"}, "pairwise_distance")
  check_float(x1, "x1", "pairwise_distance")
  check_float(x2, "x2", "pairwise_distance")
  local d = x1 - x2 + (opts.eps or 1e-6)
  return d:norm(opts.p or 2, -1, opts.keepdim or false)
end

-- ------------------------------------------------------------------ composed normalisation
--- F.group_norm(x, num_groups[, weight[, bias[, eps=1e-5]]]): x [N, C, ...] normalised over each
-- sample's C / num_groups channels (and all positions), biased variance, then weight/bias per channel.
function F.group_norm(x, groups, weight, bias, eps)
  check_float(x, "input", "group_norm")
  if x:dim() < 2 then error("group_norm: expected an input with at least 2 dims [N, C, ...], got " .. shape_str(x), 2) end
  local n, c = x:size(0), x:size(1)
  if math.type(groups) ~= "integer" or groups < 1 or c % groups ~= 0 then
    error(string.format("group_norm: num_groups must be a positive integer dividing the %d channels, got %s", c,
      tostring(groups)), 2)
  end
  eps = eps or 1e-5
  local g = x:reshape(n, groups, -1)
  local mean = g:mean(-1, true)
  local cen = g - mean
  local var = (cen * cen):mean(-1, true)
  local y = (cen / (var + eps):sqrt()):reshape(x:shape())
  local shape = {1, c}
  for _ = 3, x:dim() do shape[#shape + 1] = 1 end
  if weight ~= nil then y = y * weight:reshape(shape) end
  if bias ~= nil then y = y + bias:reshape(shape) end
  return y
end

--- F.instance_norm(x[, {weight=, bias=, eps=1e-5}]): group_norm with one group per channel
-- (input statistics only; running statistics are not supported).
function F.instance_norm(x, opts)
  opts = opts_of(opts, {"weight", "bias", "eps"}, "instance_norm")
  check_float(x, "input", "instance_norm")
  if x:dim() < 3 then error("instance_norm: expected an input [N, C, ...] with at least 3 dims, got " .. shape_str(x), 2) end
  return F.group_norm(x, x:size(1), opts.weight, opts.bias, opts.eps)
end

-- F.adaptive_max_pool2d and F.interpolate (their own file)
require "kshot.nn.resample"
-- margin/triplet/Poisson/soft-margin losses (their own file)
require "kshot.nn.losses_extra"
-- F.unfold / F.fold (im2col, col2im)
require "kshot.nn.unfold"
-- F.prelu, hardswish, hardsigmoid, dropout1d/2d; F.conv1d, 1-D pools, conv_transpose2d
require "kshot.nn.functional_extra"
require "kshot.nn.conv_extra"
-- F.affine_grid / F.grid_sample (2-D, bilinear or nearest, zeros or border padding)
require "kshot.nn.grid_sample"

return F
