--- kshot.nn.losses_extra: torch 1.13's margin, embedding and Poisson losses,
-- composed from differentiable ops (autograd needs nothing new). Loaded by
-- kshot.nn.functional. Every function takes the keywords as one options
-- table after the tensors, or the options in PyTorch's positional order
-- (reduction only as a keyword): F.triplet_margin_loss(a, p, n, {margin = 1,
-- swap = true}) or F.triplet_margin_loss(a, p, n, 1.0, 2, 1e-6, true).
-- reduction is "mean" (default), "sum" or "none".
--   F.margin_ranking_loss(x1, x2, y[, {margin=0}])      max(0, -y (x1 - x2) + margin)
--   F.hinge_embedding_loss(x, y[, {margin=1}])          x where y = 1, max(0, margin - x) where y = -1
--   F.cosine_embedding_loss(x1, x2, y[, {margin=0}])    1 - cos where y = 1, max(0, cos - margin) where y = -1;
--       cos over dim 1 ([N, D] inputs, y [N]) or dim 0 ([D] inputs, y a scalar)
--   F.triplet_margin_loss(a, pos, neg[, {margin=1, p=2, eps=1e-6, swap=false}])
--       max(d(a, pos) - d(a, neg) + margin, 0), d = F.pairwise_distance; swap uses min(d(a, neg), d(pos, neg))
--   F.multi_margin_loss(x, y[, {p=1, margin=1, weight=}])   x [N, C] (or [C]), y int64 [N] class indices:
--       sum over i ~= y of max(0, margin - x[y] + x[i])^p * weight[y], divided by C
--   F.poisson_nll_loss(x, target[, {log_input=true, full=false, eps=1e-8}])
--       exp(x) - target x (log_input) or x - target log(x + eps); full adds Stirling's
--       target log(target) - target + log(2 pi target) / 2 where target > 1
--   F.soft_margin_loss(x, y)                            log(1 + exp(-y x))
--   F.multilabel_soft_margin_loss(x, y[, {weight=}])    x, y [N, C]: the mean over classes of
--       -(y log sigmoid(x) + (1 - y) log sigmoid(-x)) (times weight [C]), one loss per sample
local ks = require "kshot"
local options = require "kshot.nn.options"

local F = ks.functional

local shape_str = require("kshot.options").shape_str

local function same_shape(a, b)
  local sa, sb = a:shape(), b:shape()
  if #sa ~= #sb then return false end
  for i = 1, #sa do if sa[i] ~= sb[i] then return false end end
  return true
end

-- errors name the function and the argument, at the user's line (check <- F function <- user)
local check_float = options.check_float

local function check_shapes(a, b, what_a, what_b, fname, level)
  if not same_shape(a, b) then
    error(string.format("%s: %s of shape %s and %s of shape %s must have the same shape", fname, what_a,
      shape_str(a), what_b, shape_str(b)), level or 3)
  end
end

-- the usual pair: float32 input and target of one shape (errors at the user's line)
local function check_input_target(x, y, fname)
  check_float(x, "input", fname, 4)
  check_float(y, "target", fname, 4)
  check_shapes(x, y, "input", "target", fname, 4)
end

local function check_number(v, what, fname)
  if type(v) ~= "number" or v ~= v then
    error(string.format("%s: option '%s' must be a number, got %s", fname, what, tostring(v)), 3)
  end
end

local function check_bool(v, what, fname)
  if type(v) ~= "boolean" then
    error(string.format("%s: option '%s' must be a boolean, got %s", fname, what, tostring(v)), 3)
  end
end

-- the options table: keywords, or PyTorch's positional values (order) with an optional trailing table
local function opts_of(fname, keys, order, opts, ...)
  if opts ~= nil and type(opts) ~= "table" then
    local t = {}
    local args = table.pack(opts, ...)
    for i = 1, args.n do
      local v = args[i]
      if i == args.n and type(v) == "table" then
        for k, x in pairs(v) do
          if t[k] ~= nil then
            error(string.format("%s: option '%s' given both positionally and in the options table", fname, k), 3)
          end
          t[k] = x
        end
      elseif i > #order then
        error(string.format("%s: too many positional arguments (PyTorch's order is %s; reduction only as {reduction=})",
          fname, table.concat(order, ", ")), 3)
      elseif v ~= nil then
        t[order[i]] = v
      end
    end
    opts = t
  end
  opts = options.check(opts, keys, fname, 3)
  local r = opts.reduction
  if r ~= nil and r ~= "mean" and r ~= "sum" and r ~= "none" then
    error(string.format("%s: reduction must be 'mean', 'sum' or 'none', got %s", fname, tostring(r)), 3)
  end
  return opts
end

local function reduce(loss, reduction)
  if reduction == nil or reduction == "mean" then return loss:mean() end
  if reduction == "sum" then return loss:sum() end
  return loss
end

local function zeros_like(t) return ks.zeros(t:shape()) end

--- F.margin_ranking_loss(x1, x2, y[, {margin=0, reduction="mean"}]): max(0, -y (x1 - x2) + margin).
function F.margin_ranking_loss(x1, x2, y, opts, ...)
  local fname = "margin_ranking_loss"
  opts = opts_of(fname, {"margin", "reduction"}, {"margin"}, opts, ...)
  check_float(x1, "input1", fname)
  check_float(x2, "input2", fname)
  check_float(y, "target", fname)
  check_shapes(x1, x2, "input1", "input2", fname)
  check_shapes(x1, y, "input1", "target", fname)
  local margin = opts.margin or 0
  check_number(margin, "margin", fname)
  return reduce((-y * (x1 - x2) + margin):clamp(0), opts.reduction)
end

--- F.hinge_embedding_loss(x, y[, {margin=1, reduction="mean"}]): x where y ~= -1 plus
-- max(0, margin - x) where y ~= 1 (y holds 1 or -1).
function F.hinge_embedding_loss(x, y, opts, ...)
  local fname = "hinge_embedding_loss"
  opts = opts_of(fname, {"margin", "reduction"}, {"margin"}, opts, ...)
  check_input_target(x, y, fname)
  local margin = opts.margin or 1
  check_number(margin, "margin", fname)
  local z = zeros_like(x)
  local loss = ks.where(y:ne(1), (-x + margin):clamp(0), z) + ks.where(y:ne(-1), x, z)
  return reduce(loss, opts.reduction)
end

--- F.cosine_embedding_loss(x1, x2, y[, {margin=0, reduction="mean"}]): 1 - cos(x1, x2) where y = 1,
-- max(0, cos - margin) where y = -1 (0 elsewhere); squared norms get + 1e-12 as torch.
function F.cosine_embedding_loss(x1, x2, y, opts, ...)
  local fname = "cosine_embedding_loss"
  opts = opts_of(fname, {"margin", "reduction"}, {"margin"}, opts, ...)
  check_float(x1, "input1", fname)
  check_float(x2, "input2", fname)
  check_float(y, "target", fname)
  check_shapes(x1, x2, "input1", "input2", fname)
  local nd = x1:dim()
  if (nd ~= 1 and nd ~= 2) or y:dim() ~= nd - 1 or (nd == 2 and y:size(0) ~= x1:size(0)) then
    error(string.format("%s: expected inputs [N, D] with target [N] or inputs [D] with a scalar target, got inputs %s "
      .. "and target %s", fname, shape_str(x1), shape_str(y)), 2)
  end
  local margin = opts.margin or 0
  check_number(margin, "margin", fname)
  local d = nd - 1
  local m1 = (x1 * x1):sum(d) + 1e-12
  local m2 = (x2 * x2):sum(d) + 1e-12
  local cos = (x1 * x2):sum(d) / (m1 * m2):sqrt()
  local z = zeros_like(cos)
  local loss = ks.where(y:eq(1), -cos + 1, z) + ks.where(y:eq(-1), (cos - margin):clamp(0), z)
  return reduce(loss, opts.reduction)
end

--- F.triplet_margin_loss(anchor, positive, negative[, {margin=1, p=2, eps=1e-6, swap=false, reduction="mean"}])
function F.triplet_margin_loss(a, pos, neg, opts, ...)
  local fname = "triplet_margin_loss"
  opts = opts_of(fname, {"margin", "p", "eps", "swap", "reduction"}, {"margin", "p", "eps", "swap"}, opts, ...)
  check_float(a, "anchor", fname)
  check_float(pos, "positive", fname)
  check_float(neg, "negative", fname)
  if a:dim() < 1 or a:dim() > 2 then
    error(string.format("%s: expected [N, D] or [D] inputs, got anchor %s", fname, shape_str(a)), 2)
  end
  check_shapes(a, pos, "anchor", "positive", fname)
  check_shapes(a, neg, "anchor", "negative", fname)
  local margin, p, eps, swap = opts.margin or 1, opts.p or 2, opts.eps or 1e-6, opts.swap or false
  check_number(margin, "margin", fname)
  check_number(eps, "eps", fname)
  check_bool(swap, "swap", fname)
  if type(p) ~= "number" or not (p > 0) then
    error(string.format("%s: option 'p' must be a number > 0, got %s", fname, tostring(p)), 2)
  end
  local dopts = {p = p, eps = eps}
  local d_pos = F.pairwise_distance(a, pos, dopts)
  local d_neg = F.pairwise_distance(a, neg, dopts)
  if swap then d_neg = ks.minimum(d_neg, F.pairwise_distance(pos, neg, dopts)) end
  return reduce((d_pos - d_neg + margin):clamp(0), opts.reduction)
end

--- F.multi_margin_loss(x, y[, {p=1, margin=1, weight=, reduction="mean"}]): the multi-class hinge loss.
function F.multi_margin_loss(x, y, opts, ...)
  local fname = "multi_margin_loss"
  opts = opts_of(fname, {"p", "margin", "weight", "reduction"}, {"p", "margin", "weight"}, opts, ...)
  check_float(x, "input", fname)
  if not ks.is_tensor(y) or y:dtype() ~= "int64" then
    error(string.format("%s: argument 'target' must be an int64 tensor of class indices, got %s", fname,
      ks.is_tensor(y) and y:dtype() or type(y)), 2)
  end
  local one = x:dim() == 1
  local n = one and 1 or x:size(0)
  if (x:dim() ~= 1 and x:dim() ~= 2) or y:numel() ~= n or y:dim() > 1 or (not one and y:dim() ~= 1) then
    error(string.format("%s: expected input [N, C] with target [N] (or input [C] with one target), got input %s "
      .. "and target %s", fname, shape_str(x), shape_str(y)), 2)
  end
  local p, margin, w = opts.p or 1, opts.margin or 1, opts.weight
  if p ~= 1 and p ~= 2 then error(string.format("%s: option 'p' must be 1 or 2, got %s", fname, tostring(p)), 2) end
  check_number(margin, "margin", fname)
  local xs = one and x:reshape(1, -1) or x
  local c = xs:size(1)
  local yy = y:reshape(n)
  if n > 0 and (yy:min():item() < 0 or yy:max():item() >= c) then
    error(string.format("%s: target values must be class indices in [0, %d], got %s", fname, c - 1,
      tostring(yy:min():item() < 0 and yy:min():item() or yy:max():item())), 2)
  end
  if w ~= nil then
    check_float(w, "weight", fname)
    if w:dim() ~= 1 or w:size(0) ~= c then
      error(string.format("%s: weight of shape %s must be [%d] (one per class)", fname, shape_str(w), c), 2)
    end
  end
  local col = yy:reshape(n, 1)
  local z = (xs - xs:gather(1, col) + margin):clamp(0)
  if p == 2 then z = z * z end
  z = z * (1 - F.one_hot(yy, c):float()) -- the target's own column does not count
  if w ~= nil then z = z * w:index_select(0, yy):reshape(n, 1) end
  local loss = (z:sum(1) / c):reshape(y:shape()) -- input [C]: the target's shape, as torch
  return reduce(loss, opts.reduction)
end

--- F.poisson_nll_loss(x, target[, {log_input=true, full=false, eps=1e-8, reduction="mean"}])
function F.poisson_nll_loss(x, target, opts, ...)
  local fname = "poisson_nll_loss"
  opts = opts_of(fname, {"log_input", "full", "eps", "reduction"}, {"log_input", "full"}, opts, ...)
  check_float(x, "input", fname)
  check_float(target, "target", fname)
  check_shapes(x, target, "input", "target", fname)
  local log_input, full, eps = opts.log_input, opts.full or false, opts.eps or 1e-8
  if log_input == nil then log_input = true end
  check_bool(log_input, "log_input", fname)
  check_bool(full, "full", fname)
  check_number(eps, "eps", fname)
  local loss
  if log_input then loss = x:exp() - target * x else loss = x - target * (x + eps):log() end
  if full then
    local st = target * target:log() - target + (target * (2 * math.pi)):log() * 0.5
    loss = loss + ks.where(target:gt(1), st, zeros_like(target))
  end
  return reduce(loss, opts.reduction)
end

-- log(1 + exp(z)) without overflow, sigmoid(z) as its derivative everywhere
local function softplus(z)
  local zp, zn = z:clamp(0), z:clamp(nil, 0)
  return ks.where(z:gt(0), zp + (-zp):exp():log1p(), zn:exp():log1p())
end

--- F.soft_margin_loss(x, y[, {reduction="mean"}]): log(1 + exp(-y x)).
function F.soft_margin_loss(x, y, opts)
  local fname = "soft_margin_loss"
  opts = opts_of(fname, {"reduction"}, {}, opts)
  check_input_target(x, y, fname)
  return reduce(softplus(-y * x), opts.reduction)
end

--- F.multilabel_soft_margin_loss(x, y[, {weight=, reduction="mean"}]): x, y [N, C] (or [C]).
function F.multilabel_soft_margin_loss(x, y, opts, ...)
  local fname = "multilabel_soft_margin_loss"
  opts = opts_of(fname, {"weight", "reduction"}, {"weight"}, opts, ...)
  check_input_target(x, y, fname)
  if x:dim() < 1 or x:dim() > 2 then
    error(string.format("%s: expected input [N, C] or [C], got %s", fname, shape_str(x)), 2)
  end
  local loss = y * softplus(-x) + (1 - y) * softplus(x) -- -log sigmoid(x) = softplus(-x)
  if opts.weight ~= nil then
    check_float(opts.weight, "weight", fname)
    local ok, wl = pcall(function() return loss * opts.weight end)
    if not ok then
      error(string.format("%s: weight of shape %s does not broadcast with input %s", fname, shape_str(opts.weight),
        shape_str(x)), 2)
    end
    loss = wl
  end
  loss = loss:mean(-1)
  return reduce(loss, opts.reduction)
end

-- true, not F: F's only entry in package.loaded stays kshot.nn.functional, so tracebacks
-- and help name its functions by it (kshot.nn.functional.linear, not kshot.nn.unfold.linear)
return true
