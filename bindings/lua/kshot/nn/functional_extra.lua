--- kshot.nn.functional_extra: more of torch.nn.functional, composed from
-- differentiable ops (autograd needs nothing new). Loaded by kshot.nn.functional.
--   F.prelu(x, weight)        max(0, x) + weight * min(0, x); weight [1] (shared) or [C]
--                             (one slope per channel, dim 1 of x; dim 0 of a 1-D x)
--   F.hardsigmoid(x)          relu6(x + 3) / 6
--   F.hardswish(x)            x * relu6(x + 3) / 6
--   F.dropout1d(x[, p=0.5[, training=true]]), F.dropout2d(...)  (or {p=, training=})
--       channel dropout: each channel of each sample zeroed with probability p
--       (one draw per channel from the default generator), the rest scaled by
--       1 / (1 - p). dropout1d: x [N, C, L] or [C, L]; dropout2d: x [N, C, H, W]
--       or [C, H, W] (unbatched, as torch >= 2.0 reads it; torch 1.13 took a
--       3-D input to dropout2d as [N, C, L]).
local ks = require "kshot"
local options = require "kshot.nn.options"

local F = ks.functional

local shape_str = require("kshot.options").shape_str

local check_float = options.check_float

--- F.prelu(x, weight): max(0, x) + weight * min(0, x), weight [1] or one slope per channel [C]
function F.prelu(x, weight)
  check_float(x, "input", "prelu")
  check_float(weight, "weight", "prelu")
  if weight:dim() ~= 1 then
    error("prelu: weight must be 1-D [num_parameters], got shape " .. shape_str(weight), 2)
  end
  local n = weight:size(0)
  local w = weight
  if n ~= 1 then
    local cdim = x:dim() >= 2 and 1 or 0
    if x:dim() == 0 or x:size(cdim) ~= n then
      error(string.format("prelu: weight of shape %s needs %d channels in dim %d of the input, got shape %s", shape_str(weight),
        n, cdim, shape_str(x)), 2)
    end
    local shape = {n}
    for _ = cdim + 2, x:dim() do shape[#shape + 1] = 1 end
    w = weight:reshape(shape)
  end
  return F.relu(x) + x:clamp(nil, 0) * w
end

--- F.hardsigmoid(x) = relu6(x + 3) / 6 (0 below -3, 1 above 3)
function F.hardsigmoid(x)
  check_float(x, "input", "hardsigmoid")
  return (x + 3):clamp(0, 6) / 6
end

--- F.hardswish(x) = x * relu6(x + 3) / 6
function F.hardswish(x)
  check_float(x, "input", "hardswish")
  return x * (x + 3):clamp(0, 6) / 6
end

-- channel dropout over dims 2.. of a batched x (mask [N, C, 1, ...]); nd: the batched input's dims
local function channel_dropout(fname, nd, what, x, p, training, ...)
  if type(p) == "table" then
    if training ~= nil then error(fname .. ": argument 3 after the options table (put it in the table)", 3) end
    local o = options.check(p, {"p", "training", "inplace"}, fname, 3)
    p, training = o.p, o.training
  elseif select("#", ...) > 0 then
    error(fname .. ": too many arguments (torch's order is p, training)", 3)
  end
  p = p == nil and 0.5 or p
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    error(string.format("%s: p must be a number in [0, 1], got %s", fname, tostring(p)), 3)
  end
  if training ~= nil and type(training) ~= "boolean" then
    error(fname .. ": training must be a boolean, got " .. type(training), 3)
  end
  local d = x:dim()
  if d ~= nd and d ~= nd - 1 then
    error(string.format("%s: expected a %d-D %s or an unbatched %d-D input, got shape %s", fname, nd, what, nd - 1,
      shape_str(x)), 3)
  end
  if training == false or p == 0 then return x end
  local shape = x:shape()
  for i = (d == nd and 3 or 2), d do shape[i] = 1 end
  -- F.dropout of ones: one Bernoulli(1 - p) / (1 - p) draw per channel, from the default generator
  local mask = ks.no_grad(function() return F.dropout(ks.ones(shape), p, true) end)
  return x * mask
end

--- F.dropout1d(x[, p=0.5[, training=true]]): zeroes whole channels of x [N, C, L] (or [C, L])
function F.dropout1d(x, p, training, ...)
  check_float(x, "input", "dropout1d")
  local y = channel_dropout("dropout1d", 3, "[N, C, L]", x, p, training, ...) -- no tail call: errors name the user's line
  return y
end

--- F.dropout2d(x[, p=0.5[, training=true]]): zeroes whole channels of x [N, C, H, W] (or [C, H, W])
function F.dropout2d(x, p, training, ...)
  check_float(x, "input", "dropout2d")
  local y = channel_dropout("dropout2d", 4, "[N, C, H, W]", x, p, training, ...)
  return y
end

-- true, not F: F's only entry in package.loaded stays kshot.nn.functional, so tracebacks
-- and help name its functions by it (kshot.nn.functional.linear, not kshot.nn.unfold.linear)
return true
