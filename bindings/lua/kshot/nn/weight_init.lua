--- kshot.nn.init: weight initialisation as in PyTorch (torch.nn.init), drawn
-- from the state's default generator (ks.manual_seed) unless a
-- kshot.Generator is given as the last argument, as PyTorch's generator=:
--   init.normal_(w, 0, 0.02, ks.Generator(1))
--   init.kaiming_uniform_(w, math.sqrt(5), "fan_in", "leaky_relu", gen)
-- (init.default_(weight, bias), a layer's own initialisation, always uses
-- the default generator.) PyTorch's keyword arguments go in one table after
-- the tensor: init.kaiming_normal_(w, {mode = "fan_out", nonlinearity = "relu"}),
-- init.normal_(w, {std = 0.02, generator = g}).
local ks = require "kshot"

local init = {}

--- init.calculate_fan_in_and_fan_out(t) -> fan_in, fan_out: for a weight of shape
-- [out, in, k...], in * prod(k) and out * prod(k) (two values, not a table)
function init.calculate_fan_in_and_fan_out(t)
  local shape = t:shape()
  if #shape < 2 then error("fan in and fan out need a tensor with at least 2 dimensions", 2) end
  local receptive = 1
  for i = 3, #shape do receptive = receptive * shape[i] end
  return shape[2] * receptive, shape[1] * receptive
end

local gains = {linear = 1, conv2d = 1, sigmoid = 1, tanh = 5 / 3, relu = math.sqrt(2), selu = 3 / 4}

--- init.calculate_gain(nonlinearity[, param]): torch's recommended gain: 1 for "linear",
-- "conv2d", "sigmoid"; 5/3 "tanh"; sqrt(2) "relu"; 3/4 "selu"; sqrt(2 / (1 + param^2))
-- for "leaky_relu" (param = negative slope, 0.01 when nil). Other names are an error.
function init.calculate_gain(nonlinearity, param)
  if nonlinearity == "leaky_relu" then
    local a = param or 0.01
    return math.sqrt(2 / (1 + a * a))
  end
  local g = gains[nonlinearity]
  if not g then error("unsupported nonlinearity '" .. tostring(nonlinearity) .. "'", 2) end
  return g
end

local function no_grad(fn) return ks.no_grad(fn) end

-- PyTorch's keyword arguments as one options table after the tensor
-- (init.kaiming_normal_(w, {mode = "fan_out", nonlinearity = "relu"})):
-- the positional values, in `keys` order, with generator = gen last.
local function keywords(fname, keys, opts)
  local known = {}
  for i, k in ipairs(keys) do known[i] = k end
  known[#known + 1] = "generator"
  for k in pairs(opts) do
    local ok = false
    for _, kk in ipairs(known) do ok = ok or k == kk end
    if not ok then
      error(string.format("init.%s: unknown option '%s' (known: %s)", fname, tostring(k), table.concat(known, ", ")), 3)
    end
  end
  local out = {}
  for i, k in ipairs(known) do out[i] = opts[k] end
  return table.unpack(out, 1, #known)
end

--- init.uniform_(t[, a = 0[, b = 1[, gen]]]) (or {a =, b =, generator =}): t filled in
-- place from U(a, b), without recording a gradient; returns t
function init.uniform_(t, a, b, gen)
  if type(a) == "table" then a, b, gen = keywords("uniform_", {"a", "b"}, a) end
  return no_grad(function() return t:uniform_(a or 0, b or 1, gen and {generator = gen} or nil) end)
end

--- init.normal_(t[, mean = 0[, std = 1[, gen]]]) (or {mean =, std =, generator =}): t filled
-- in place from N(mean, std^2), without recording a gradient; returns t
function init.normal_(t, mean, std, gen)
  if type(mean) == "table" then mean, std, gen = keywords("normal_", {"mean", "std"}, mean) end
  return no_grad(function() return t:normal_(mean or 0, std or 1, gen and {generator = gen} or nil) end)
end

--- init.zeros_(t), init.ones_(t), init.constant_(t, v): t filled in place with 0, 1 or v
-- (no gradient recorded); returns t
function init.zeros_(t) return no_grad(function() return t:zero_() end) end
--- init.ones_(t): t filled with 1 in place (no gradient recorded); returns t
function init.ones_(t) return no_grad(function() return t:fill_(1) end) end
--- init.constant_(t, v): t filled with the number v in place (no gradient recorded); returns t
function init.constant_(t, v) return no_grad(function() return t:fill_(v) end) end

-- mode: "fan_in" (default) or "fan_out"; anything else is an error (a typo would pick fan_in silently)
local function fan_of(t, mode, fname)
  if mode ~= nil and mode ~= "fan_in" and mode ~= "fan_out" then
    error(string.format("%s: mode must be 'fan_in' or 'fan_out', got %s", fname, tostring(mode)), 3)
  end
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  return mode == "fan_out" and fan_out or fan_in
end

--- init.kaiming_uniform_(t[, a = 0[, mode = "fan_in"[, nonlinearity = "leaky_relu"[, gen]]]])
-- (or {a =, mode =, nonlinearity =, generator =}): He et al.'s uniform init in place,
-- U(-bound, bound) with bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)
-- and fan the weight's fan_in or fan_out (mode); a zero-element t is left as it is
function init.kaiming_uniform_(t, a, mode, nonlinearity, gen)
  if type(a) == "table" then a, mode, nonlinearity, gen = keywords("kaiming_uniform_", {"a", "mode", "nonlinearity"}, a) end
  local fan = fan_of(t, mode, "kaiming_uniform_")
  if fan == 0 then return t end -- a zero-element weight (Linear(0, n)): nothing to draw, as PyTorch
  local gain = init.calculate_gain(nonlinearity or "leaky_relu", a or 0)
  local bound = math.sqrt(3) * gain / math.sqrt(fan)
  return init.uniform_(t, -bound, bound, gen)
end

--- init.kaiming_normal_(t[, a = 0[, mode = "fan_in"[, nonlinearity = "leaky_relu"[, gen]]]])
-- (or {a =, mode =, nonlinearity =, generator =}): He et al.'s normal init in place,
-- N(0, std^2) with std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a); use
-- {mode = "fan_out", nonlinearity = "relu"} for conv weights as torchvision's ResNets
function init.kaiming_normal_(t, a, mode, nonlinearity, gen)
  if type(a) == "table" then a, mode, nonlinearity, gen = keywords("kaiming_normal_", {"a", "mode", "nonlinearity"}, a) end
  local fan = fan_of(t, mode, "kaiming_normal_")
  local std = init.calculate_gain(nonlinearity or "leaky_relu", a or 0) / math.sqrt(fan)
  return init.normal_(t, 0, std, gen)
end

--- init.xavier_uniform_(t[, gain = 1[, gen]]) (or {gain =, generator =}): Glorot's uniform
-- init in place, U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out))
function init.xavier_uniform_(t, gain, gen)
  if type(gain) == "table" then gain, gen = keywords("xavier_uniform_", {"gain"}, gain) end
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  local bound = (gain or 1) * math.sqrt(6 / (fan_in + fan_out))
  return init.uniform_(t, -bound, bound, gen)
end

--- init.xavier_normal_(t[, gain = 1[, gen]]) (or {gain =, generator =}): Glorot's normal
-- init in place, N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))
function init.xavier_normal_(t, gain, gen)
  if type(gain) == "table" then gain, gen = keywords("xavier_normal_", {"gain"}, gain) end
  local fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
  return init.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fan_in + fan_out)), gen)
end

--- init.default_(weight[, bias]): PyTorch's default for Linear and Conv weights and biases:
-- weight ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias likewise.
function init.default_(weight, bias)
  init.kaiming_uniform_(weight, math.sqrt(5))
  if bias then
    local fan_in = init.calculate_fan_in_and_fan_out(weight)
    local bound = fan_in > 0 and 1 / math.sqrt(fan_in) or 0
    init.uniform_(bias, -bound, bound)
  end
end

--- init.trunc_normal_(t[, mean = 0[, std = 1[, a = -2[, b = 2[, gen]]]]]) (or {mean =, std =, a =, b =, generator =}):
-- normal(mean, std) values redrawn until they fall in [a, b] (a and b absolute, as torch's).
function init.trunc_normal_(t, mean, std, a, b, gen)
  if type(mean) == "table" then mean, std, a, b, gen = keywords("trunc_normal_", {"mean", "std", "a", "b"}, mean) end
  mean, std, a, b = mean or 0, std or 1, a or -2, b or 2
  if a >= b then error(string.format("init.trunc_normal_: a (%g) must be below b (%g)", a, b), 2) end
  if b < mean - 6 * std or a > mean + 6 * std then
    error(string.format("init.trunc_normal_: [%g, %g] is more than 6 std from the mean %g", a, b, mean), 2)
  end
  return no_grad(function()
    local opts = gen and {generator = gen} or nil
    local v = ks.randn(t:shape(), opts) * std + mean
    local bad = v:lt(a) | v:gt(b)
    while bad:any():item() do -- each round redraws only the values out of range
      v = ks.where(bad, ks.randn(t:shape(), opts) * std + mean, v)
      bad = v:lt(a) | v:gt(b)
    end
    return t:copy_(v)
  end)
end

--- init.orthogonal_(t[, gain = 1[, gen]]) (or {gain =, generator =}): t (>= 2 dims, read as
-- [size(0), rest]) set to gain times a random (semi-)orthogonal matrix: the polar
-- factor U Vh of a Gaussian matrix, which is uniformly (Haar) distributed.
function init.orthogonal_(t, gain, gen)
  if type(gain) == "table" then gain, gen = keywords("orthogonal_", {"gain"}, gain) end
  if t:dim() < 2 then error("init.orthogonal_: only tensors with 2 or more dims are supported, got " .. t:dim() .. "-d", 2) end
  return no_grad(function()
    local rows = t:size(0)
    local cols = t:numel() // rows
    local flat = ks.randn({rows, cols}, gen and {generator = gen} or nil)
    local u, _, vh = ks.linalg.svd(flat, {full_matrices = false})
    return t:copy_((ks.matmul(u, vh) * (gain or 1)):reshape(t:shape()))
  end)
end

--- init.eye_(t): a 2-d t set to the identity (ones on the main diagonal, as torch's for non-square t too).
function init.eye_(t)
  if t:dim() ~= 2 then error("init.eye_: only 2-d tensors are supported, got " .. t:dim() .. "-d", 2) end
  return no_grad(function() return t:copy_(ks.eye(t:size(0), t:size(1))) end)
end

return init
