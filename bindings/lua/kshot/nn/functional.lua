--- kshot.nn.functional: the Lua half of ks.functional (torch.nn.functional).
-- The C half (bindings/ks_lua_nn.c) holds the kernels; the functions here
-- are compositions of differentiable ops, so autograd needs nothing new.
-- Loaded on first use of a name the C half lacks (ks.functional.normalize)
-- and by require "kshot.nn".
--   F.one_hot(labels[, num_classes])         alias of ks.one_hot
--   F.pad(x, pads[, mode[, value]])          alias of ks.pad
--   F.normalize(x[, {p=2, dim=1, eps=1e-12}])  x / max(||x||_p, eps) along dim
--   F.cosine_similarity(x1, x2[, {dim=1, eps=1e-8}])
--       sum(x1 * x2, dim) / (max(||x1||, eps) * max(||x2||, eps)), inputs broadcast
--   F.elu(x[, alpha=1 | {alpha=1}])           x > 0 ? x : alpha * (exp(x) - 1)
-- Formulas and defaults as torch 1.13.
local ks = require "kshot"
local options = require "kshot.nn.options"

local F = ks.functional

F.one_hot = ks.one_hot
F.pad = ks.pad

local function shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

-- errors name the function and the argument, at the user's line (check <- F function <- user)
local function check_float(t, what, fname)
  if not ks.is_tensor(t) then error(string.format("%s: argument '%s' must be a tensor, got %s", fname, what, type(t)), 3) end
  if t:dtype() ~= "float32" then
    error(string.format("%s: argument '%s' must be float32, got %s", fname, what, t:dtype()), 3)
  end
end

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

--- F.normalize(x[, {p=2, dim=1, eps=1e-12}]): x divided by its p-norm along
-- dim, the norm clamped below at eps (zero vectors stay zero).
function F.normalize(x, opts)
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
function F.cosine_similarity(x1, x2, opts)
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

return F
