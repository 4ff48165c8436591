--- kshot.augment: seeded batch augmentation (images [B, C, H, W] float32, tabular rows [N, F]).
--
--   local A = require "kshot.augment"          -- also reachable as ks.augment
--   local aug = A.compose({
--     A.random_crop{padding = 2},
--     A.random_horizontal_flip{p = 0.5},
--     A.random_erasing{},
--   }, { seed = 1 })                            -- or { generator = g }
--   local xb = aug(x)                           -- a new tensor
--   aug(x, nil, { out = buf })                  -- into a preallocated buffer (no allocation)
--   local xm, ysoft = A.compose({ A.mixup{alpha = 1, num_classes = 10} }, { seed = 2 })(x, y)
--
-- A.normalize{mean =, std =} is torchvision's Normalize as a step, and a
-- function x -> x (or A.lambda(fn)) is a step too, as in torchvision's Compose.
-- Every random transform takes a probability p and its own parameters. The kernels
-- (C, runtime/core/ks_augment*.c) draw every per-image parameter serially
-- from the pipeline's generator, then process the images in parallel, so a
-- seed gives the same batch for any thread count. compose fuses a random crop
-- followed by flips into one pass (so its stream differs from running them
-- separately). Definitions: notes/augmentation.md; random_affine and
-- elastic_transform (not in the notes) follow torchvision's RandomAffine and
-- ElasticTransform, as documented in runtime/core/ks_augment.h.
--
-- Random erasing defaults are the paper's (Zhong et al.): p = 0.5, scale
-- (0.02, 0.4), ratio r1 = 0.3 (aspect uniform in (0.3, 1/0.3)), fill with
-- random values U(0, 1) per pixel. torchvision's RandomErasing defaults
-- differ: scale (0.02, 0.33), ratio (0.3, 3.3) log-uniform, fill 0; get them
-- with A.random_erasing{scale = {0.02, 0.33}, ratio = {0.3, 3.3}, log_ratio = true, value = 0}.
local ks = require "kshot"
local options = require "kshot.options"

local M = ks.augment

local Transform = {}
Transform.__index = Transform
Transform.__name = "kshot.augment.Transform"

local shape_str = options.shape_str

local function fail(name, msg, level)
  error(name .. ": " .. msg, (level or 2) + 1)
end

-- option readers: name the transform and the option in every error.
-- opt_table rejects keys not in `known` (a typo would silently keep the
-- default); level 3 blames the code that called the transform's constructor.
local function opt_table(name, opts, known, level)
  local o = options.check(opts, name, known, level or 3)
  return o -- not a tail call: error levels count this frame
end

-- a finite number in [lo, hi] (NaN and +-inf are rejected: they would reach the pixels)
local function num(name, opts, key, def, lo, hi)
  local v = opts[key]
  if v == nil then v = def end
  if type(v) ~= "number" then fail(name, ("option '%s' must be a number, got %s"):format(key, type(v)), 3) end
  if v ~= v or v == math.huge or v == -math.huge then
    fail(name, ("option '%s' must be a finite number, got %s"):format(key, tostring(v)), 3)
  end
  if (lo and v < lo) or (hi and v > hi) then
    fail(name, ("option '%s' must be in [%s, %s], got %s"):format(key, tostring(lo or "-inf"),
      tostring(hi or "inf"), tostring(v)), 3)
  end
  return v
end

-- a number x -> {-x, x} (or {1 - x, 1 + x} with around = 1); a pair {lo, hi} as given
local function range(name, opts, key, def, around)
  local v = opts[key]
  if v == nil then v = def end
  local function finite(x) return x == x and x ~= math.huge and x ~= -math.huge end
  if type(v) == "number" then
    if not finite(v) then fail(name, ("option '%s' must be a finite number, got %s"):format(key, tostring(v)), 3) end
    if v < 0 then fail(name, ("option '%s' must be >= 0, got %s"):format(key, v), 3) end
    return (around or 0) - v, (around or 0) + v
  end
  if type(v) ~= "table" or type(v[1]) ~= "number" or type(v[2]) ~= "number" then
    fail(name, ("option '%s' must be a number or a pair {lo, hi}, got %s"):format(key, type(v)), 3)
  end
  if not finite(v[1]) or not finite(v[2]) then
    fail(name, ("option '%s' must hold finite numbers, got {%s, %s}"):format(key, tostring(v[1]), tostring(v[2])), 3)
  end
  if v[1] > v[2] then fail(name, ("option '%s' needs lo <= hi, got {%s, %s}"):format(key, v[1], v[2]), 3) end
  return v[1], v[2]
end

local function size_opt(name, opts)
  local s = opts.size
  if s == nil then return nil end
  if math.type(s) == "integer" and s >= 1 then return s, s end
  if type(s) == "table" and math.type(s[1]) == "integer" and math.type(s[2]) == "integer" and s[1] >= 1 and s[2] >= 1 then
    return s[1], s[2]
  end
  fail(name, "option 'size' must be a positive integer or a pair {h, w} of them, got "
    .. (type(s) == "table" and ("{" .. tostring(s[1]) .. ", " .. tostring(s[2]) .. "}") or tostring(s)), 3)
end

local function new(name, fields)
  fields.name = name
  return setmetatable(fields, Transform)
end

function Transform:__tostring()
  return "kshot.augment." .. self.name
end

-- torchvision's transforms are called directly; kshot's draw from a
-- pipeline's own generator, so a bare one says how to run it (was "attempt
-- to call a kshot.augment.Transform value")
function Transform:__call()
  fail(self.name, ("a transform runs inside a pipeline with its own random stream: "
    .. "A.compose({A.%s{...}}, {seed = n})(x)"):format(self.name))
end

-- output shape of a step for an input batch shape (images keep B and C)
function Transform:out_shape(s)
  if self.oh then return { s[1], s[2], self.oh, self.ow } end
  return s
end

---------------------------------------------------------------- geometric
--- Random crop with padding: A.random_crop{padding = 0, size = (H, W), padding_mode = "constant" | "reflect",
-- fill = 0, p = 1, hflip = 0, vflip = 0}. hflip/vflip: flip probabilities fused into the same pass.
function M.random_crop(opts)
  local name = "random_crop"
  opts = opt_table(name, opts, { "padding", "size", "padding_mode", "fill", "p", "hflip", "vflip" })
  local mode = opts.padding_mode or "constant"
  if mode ~= "constant" and mode ~= "reflect" and mode ~= "zeros" then
    fail(name, "option 'padding_mode' must be \"constant\" or \"reflect\", got " .. tostring(mode))
  end
  local pad = opts.padding or 0
  if math.type(pad) ~= "integer" or pad < 0 then
    fail(name, "option 'padding' must be an integer >= 0, got " .. tostring(pad))
  end
  local oh, ow = size_opt(name, opts)
  return new(name, {
    pad = pad, reflect = mode == "reflect", fill = num(name, opts, "fill", 0),
    p = num(name, opts, "p", 1, 0, 1), hflip = num(name, opts, "hflip", 0, 0, 1),
    vflip = num(name, opts, "vflip", 0, 0, 1), oh = oh, ow = ow,
    run = function(self, src, dst, g)
      M.raw_crop_flip(src, dst, g, self.pad, self.reflect, self.fill, self.p, self.hflip, self.vflip)
    end,
  })
end

local function flip(name, horizontal, opts)
  opts = opt_table(name, opts, { "p" }, 4)
  return new(name, {
    inplace = true, horizontal = horizontal, p = num(name, opts, "p", 0.5, 0, 1),
    run = function(self, src, dst, g) M.raw_flip(src, dst, g, self.horizontal, self.p) end,
  })
end

--- A.random_horizontal_flip{p = 0.5} (alias A.hflip), A.random_vertical_flip{p = 0.5} (alias A.vflip)
function M.random_horizontal_flip(opts) local t = flip("random_horizontal_flip", true, opts); return t end
function M.random_vertical_flip(opts) local t = flip("random_vertical_flip", false, opts); return t end
M.hflip, M.vflip = M.random_horizontal_flip, M.random_vertical_flip

--- A.random_rotation{degrees = d | {lo, hi}, fill = 0, p = 1}: counter-clockwise, about the centre, bilinear.
function M.random_rotation(opts)
  local name = "random_rotation"
  opts = opt_table(name, opts, { "degrees", "fill", "p" })
  if opts.degrees == nil then fail(name, "option 'degrees' is required (a number d for (-d, d) or {lo, hi})") end
  local lo, hi = range(name, opts, "degrees")
  return new(name, {
    lo = lo, hi = hi, fill = num(name, opts, "fill", 0), p = num(name, opts, "p", 1, 0, 1),
    run = function(self, src, dst, g) M.raw_rotate(src, dst, g, self.lo, self.hi, self.fill, self.p) end,
  })
end

--- A.random_translation{max = 0.1 | {fx, fy}, subpixel = false, fill = 0, p = 1}:
-- shift up to fx*W, fy*H pixels (rounded to integers unless subpixel, then bilinear).
function M.random_translation(opts)
  local name = "random_translation"
  opts = opt_table(name, opts, { "max", "subpixel", "fill", "p" })
  local m = opts.max or 0.1
  local fx, fy
  if type(m) == "number" then fx, fy = m, m
  elseif type(m) == "table" and type(m[1]) == "number" and type(m[2]) == "number" then fx, fy = m[1], m[2]
  else fail(name, "option 'max' must be a fraction or a pair {fx, fy}, got " .. type(m)) end
  return new(name, {
    fx = fx, fy = fy, subpixel = opts.subpixel and true or false, fill = num(name, opts, "fill", 0),
    p = num(name, opts, "p", 1, 0, 1),
    run = function(self, src, dst, g)
      M.raw_translate(src, dst, g, self.fx, self.fy, self.subpixel, self.fill, self.p)
    end,
  })
end

--- A.random_affine{degrees = 0 | d | {lo, hi}, translate = {fx, fy} (optional), scale = {lo, hi} (optional),
-- shear = s | {lo, hi} | {xlo, xhi, ylo, yhi} (optional, degrees), fill = 0, p = 1}: torchvision's RandomAffine
-- mirrored (rotation counter-clockwise as random_rotation, shears of the opposite sign: the same for symmetric
-- ranges); translations whole pixels; a non-zero fill extends the image (no border blending); ks_augment.h.
function M.random_affine(opts)
  local name = "random_affine"
  opts = opt_table(name, opts, { "degrees", "translate", "scale", "shear", "fill", "p" })
  local d0, d1 = range(name, opts, "degrees", 0)
  local t = opts.translate or { 0, 0 }
  if type(t) ~= "table" or type(t[1]) ~= "number" or type(t[2]) ~= "number" then
    fail(name, "option 'translate' must be a pair of fractions {fx, fy}, got " .. type(t))
  end
  local s0, s1 = range(name, opts, "scale", { 1, 1 })
  local sh = opts.shear or 0
  local shear
  if type(sh) == "number" then shear = { -sh, sh, 0, 0 }
  elseif type(sh) == "table" and #sh == 2 then shear = { sh[1], sh[2], 0, 0 }
  elseif type(sh) == "table" and #sh == 4 then shear = { sh[1], sh[2], sh[3], sh[4] }
  else fail(name, "option 'shear' must be a number, {lo, hi} or {xlo, xhi, ylo, yhi}, got " .. type(sh)) end
  for i = 1, 4 do
    if type(shear[i]) ~= "number" then fail(name, "option 'shear' must hold numbers, got " .. type(shear[i])) end
  end
  return new(name, {
    d0 = d0, d1 = d1, tx = t[1], ty = t[2], s0 = s0, s1 = s1, shear = shear, fill = num(name, opts, "fill", 0),
    p = num(name, opts, "p", 1, 0, 1),
    run = function(self, src, dst, g)
      local h = self.shear
      M.raw_affine(src, dst, g, self.d0, self.d1, self.tx, self.ty, self.s0, self.s1, h[1], h[2], h[3], h[4],
        self.fill, self.p)
    end,
  })
end

--- A.elastic_transform{alpha = 50, sigma = 5, fill = 0, p = 1} (alias A.elastic): torchvision's ElasticTransform;
-- each pixel moves by alpha/2 times a Gaussian-blurred (std sigma) field of U(-1, 1) values (Simard's alpha is
-- alpha/2); contract in ks_augment.h.
function M.elastic_transform(opts)
  local name = "elastic_transform"
  opts = opt_table(name, opts, { "alpha", "sigma", "fill", "p" })
  return new(name, {
    alpha = num(name, opts, "alpha", 50, 0), sigma = num(name, opts, "sigma", 5, 0), fill = num(name, opts, "fill", 0),
    p = num(name, opts, "p", 1, 0, 1),
    run = function(self, src, dst, g) M.raw_elastic(src, dst, g, self.alpha, self.sigma, self.fill, self.p) end,
  })
end
M.elastic = M.elastic_transform

--- A.random_resized_crop{size = (H, W), scale = {0.08, 1}, ratio = {3/4, 4/3}, p = 1}
function M.random_resized_crop(opts)
  local name = "random_resized_crop"
  opts = opt_table(name, opts, { "size", "scale", "ratio", "p" })
  local oh, ow = size_opt(name, opts)
  local s0, s1 = range(name, opts, "scale", { 0.08, 1 })
  local r0, r1 = range(name, opts, "ratio", { 3 / 4, 4 / 3 })
  return new(name, {
    oh = oh, ow = ow, s0 = s0, s1 = s1, r0 = r0, r1 = r1, p = num(name, opts, "p", 1, 0, 1),
    run = function(self, src, dst, g)
      M.raw_resized_crop(src, dst, g, self.s0, self.s1, self.r0, self.r1, self.p)
    end,
  })
end

------------------------------------------------------------- photometric
local function clamp_opt(name, opts)
  local c = opts.clamp
  if c == nil then return nil end
  if type(c) ~= "table" or type(c[1]) ~= "number" or type(c[2]) ~= "number" then
    fail(name, "option 'clamp' must be a pair {lo, hi}, got " .. type(c), 3)
  end
  if c[1] ~= c[1] or c[2] ~= c[2] or c[1] > c[2] then
    fail(name, ("option 'clamp' must be a pair {lo, hi} with lo <= hi (not NaN), got {%s, %s}"):format(tostring(c[1]),
      tostring(c[2])), 3)
  end
  return c[1], c[2]
end

--- A.gaussian_noise{std = 0.1, mean = 0, clamp = {lo, hi} (optional), p = 1}
function M.gaussian_noise(opts)
  local name = "gaussian_noise"
  opts = opt_table(name, opts, { "std", "mean", "clamp", "p" })
  local lo, hi = clamp_opt(name, opts)
  return new(name, {
    inplace = true, mean = num(name, opts, "mean", 0), std = num(name, opts, "std", 0.1, 0),
    p = num(name, opts, "p", 1, 0, 1), lo = lo, hi = hi,
    run = function(self, src, dst, g) M.raw_noise(src, dst, g, self.mean, self.std, self.p, self.lo, self.hi) end,
  })
end

--- A.brightness_contrast{brightness = 0.2 | {lo, hi}, contrast = 0.2 | {lo, hi}, pivot = 0, clamp = {lo, hi}, p = 1}:
-- pivot + (x - pivot) * c + b with b ~ U(brightness range) (a number d: (-d, d)) and c ~ U(contrast range) (a
-- number d: (1-d, 1+d)). On standardised images, pivot = the value of black (-mean/sd) with brightness = 0
-- scales the pixel intensities (torchvision's brightness factor, without its clamp).
function M.brightness_contrast(opts)
  local name = "brightness_contrast"
  opts = opt_table(name, opts, { "brightness", "contrast", "pivot", "clamp", "p" })
  local b0, b1 = range(name, opts, "brightness", 0.2)
  local c0, c1 = range(name, opts, "contrast", 0.2, 1)
  local lo, hi = clamp_opt(name, opts)
  return new(name, {
    inplace = true, b0 = b0, b1 = b1, c0 = c0, c1 = c1, lo = lo, hi = hi, p = num(name, opts, "p", 1, 0, 1),
    pivot = num(name, opts, "pivot", 0),
    run = function(self, src, dst, g)
      M.raw_brightness_contrast(src, dst, g, self.b0, self.b1, self.c0, self.c1, self.p, self.lo, self.hi, self.pivot)
    end,
  })
end
M.color_jitter = M.brightness_contrast

--- A.random_erasing{p = 0.5, scale = {0.02, 0.4}, ratio = 0.3 | {lo, hi}, log_ratio = false,
-- value = "random" | "mean" | number, value_range = {0, 1}, attempts = 100} (paper defaults; see the header).
function M.random_erasing(opts)
  local name = "random_erasing"
  opts = opt_table(name, opts, { "p", "scale", "ratio", "log_ratio", "value", "value_range", "attempts" })
  local s0, s1 = range(name, opts, "scale", { 0.02, 0.4 })
  local r = opts.ratio or 0.3
  local r0, r1
  if type(r) == "number" then
    if not (r > 0 and r <= 1) then fail(name, "option 'ratio' as a number r1 must be in (0, 1], got " .. r) end
    r0, r1 = r, 1 / r
  else
    r0, r1 = range(name, opts, "ratio")
  end
  local v = opts.value
  if v == nil then v = "random" end
  local fill, value = "constant", 0
  if v == "random" or v == "mean" then fill = v
  elseif type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then
      fail(name, "option 'value' must be \"random\", \"mean\" or a finite number, got " .. tostring(v))
    end
    value = v
  else fail(name, "option 'value' must be \"random\", \"mean\" or a number, got " .. tostring(v)) end
  local lo, hi = range(name, opts, "value_range", { 0, 1 })
  local attempts = opts.attempts or 100
  if math.type(attempts) ~= "integer" or attempts < 1 or attempts > 1000000 then
    fail(name, "option 'attempts' must be an integer in [1, 1000000], got " .. tostring(attempts))
  end
  return new(name, {
    inplace = true, p = num(name, opts, "p", 0.5, 0, 1), s0 = s0, s1 = s1, r0 = r0, r1 = r1,
    log_ratio = opts.log_ratio and true or false, fill = fill, value = value, lo = lo, hi = hi, attempts = attempts,
    run = function(self, src, dst, g)
      M.raw_erase(src, dst, g, self.p, self.s0, self.s1, self.r0, self.r1, self.attempts, self.log_ratio,
        self.fill, self.value, self.lo, self.hi)
    end,
  })
end

------------------------------------------------------------ normalization
-- a mean or std option: a number, or a list of numbers (one per channel)
local function channel_values(name, opts, key, positive)
  local v = opts[key]
  if v == nil then fail(name, ("option '%s' is required (a number or a list, one per channel)"):format(key), 3) end
  local list = type(v) == "number" and { v } or v
  if type(list) ~= "table" or #list == 0 then
    fail(name, ("option '%s' must be a number or a non-empty list of numbers, got %s"):format(key, type(v)), 3)
  end
  for i, x in ipairs(list) do
    if type(x) ~= "number" or x ~= x or x == math.huge or x == -math.huge or (positive and x <= 0) then
      fail(name, ("option '%s' item %d must be a finite number%s, got %s"):format(key, i, positive and " > 0" or "",
        tostring(x)), 3)
    end
  end
  return list
end

--- A.normalize{mean = m | {m1, ...}, std = s | {s1, ...}}: (x - mean) / std per channel (dim 1 of [B, C, H, W]),
-- torchvision's Normalize, at the place the pipeline has it: A.compose({A.random_crop{padding = 2},
-- A.normalize{mean = 0.286, std = 0.353}, A.random_erasing{value = 0, ...}}, {seed = 1}) pads the [0, 1]
-- pixels (padding black), then erases with 0 in normalised units, as torchvision does.
function M.normalize(opts)
  local name = "normalize"
  opts = opt_table(name, opts, { "mean", "std" })
  local mean, std = channel_values(name, opts, "mean"), channel_values(name, opts, "std", true)
  if #mean ~= #std and #mean ~= 1 and #std ~= 1 then
    fail(name, ("options 'mean' and 'std' have %d and %d channels"):format(#mean, #std))
  end
  local C = math.max(#mean, #std)
  -- made once: a step in a training loop allocates nothing per batch
  local m = #mean == 1 and mean[1] or ks.tensor(mean):view(1, -1, 1, 1)
  local sd = #std == 1 and std[1] or ks.tensor(std):view(1, -1, 1, 1)
  return new(name, {
    inplace = true, mean = mean, std = std,
    run = function(self, src, dst)
      if C > 1 and src:size(1) ~= C then
        error(("normalize: %d channels in mean/std, but x has shape %s (channels are dim 1 of [B, C, H, W])"):format(C,
          shape_str(src)), 0)
      end
      dst:copy_(src)
      dst:sub_(m):div_(sd)
    end,
  })
end

--- A.lambda(fn): a step running fn(x) -> x' on the batch (torchvision's Lambda); fn must return a float32 tensor
-- of x's shape. compose also takes fn itself as an item: A.compose({A.random_crop{}, function(x) return x * 2 end}).
function M.lambda(fn)
  if type(fn) ~= "function" then fail("lambda", "a function x -> x expected, got " .. type(fn)) end
  return new("lambda", {
    inplace = true, fn = fn,
    run = function(self, src, dst)
      local r = self.fn(src)
      if not ks.is_tensor(r) or r:dtype() ~= "float32" or r.shape ~= src.shape then
        error(("lambda: a function step must return a float32 tensor of its input's shape %s, got %s"):format(
          shape_str(src), ks.is_tensor(r) and (r:dtype() .. " " .. shape_str(r)) or type(r)), 0)
      end
      dst:copy_(r)
    end,
  })
end

------------------------------------------------------------------ mixing
local function check_labels(name, x, y)
  if y == nil then fail(name, "labels y are required (call aug(x, y))", 4) end
  if not ks.is_tensor(y) then fail(name, "y must be a kshot.Tensor, got " .. type(y), 4) end
  if y:dim() < 1 or y:size(0) ~= x:size(0) then
    fail(name, ("x and y have different batch sizes: x has shape %s, y has shape %s"):format(
      shape_str(x), shape_str(y)), 4)
  end
end

-- soft targets or the pair (y_a, y_b, lambda) after a mixing kernel
local function mixed_targets(self, y, perm, lam, P, yout)
  if self.targets == "pair" then
    return { y, y:index_select(0, perm), lam }
  end
  local K = self.num_classes or (y:dtype() == "float32" and y:dim() == 2 and y:size(1)) or nil
  if not K then fail(self.name, "option 'num_classes' is required for soft targets of integer labels", 4) end
  local out = yout or ks.empty({ y:size(0), K })
  return M.raw_mix_targets(y, perm, lam, K, out)
end

local function mixing(name, opts, param, def, kernel)
  opts = opt_table(name, opts, { param, "p", "num_classes", "targets" }, 4)
  local targets = opts.targets or "soft"
  if targets ~= "soft" and targets ~= "pair" then
    fail(name, "option 'targets' must be \"soft\" or \"pair\", got " .. tostring(targets), 3)
  end
  local K = opts.num_classes
  if K ~= nil and (math.type(K) ~= "integer" or K < 1) then
    fail(name, "option 'num_classes' must be an integer >= 1, got " .. tostring(K), 3)
  end
  return new(name, {
    mixing = true, param = num(name, opts, param, def), p = num(name, opts, "p", 1, 0, 1),
    targets = targets, num_classes = K,
    run = function(self, src, dst, g, y, P, yout)
      check_labels(self.name, src, y)
      local perm = P:buffer("perm", { src:size(0) }, "int64")
      local lam = select(2, kernel(src, dst, g, self.param, self.p, perm))
      return mixed_targets(self, y, perm, lam, P, yout)
    end,
  })
end

--- A.mixup{alpha = 1, p = 1, num_classes = K, targets = "soft" | "pair"}: one lambda ~ Beta(alpha, alpha) per batch.
function M.mixup(opts) local t = mixing("mixup", opts, "alpha", 1.0, M.raw_mixup); return t end
--- A.cutmix{beta = 1, p = 1, num_classes = K, targets = "soft" | "pair"}: lambda = the kept share of pixels.
function M.cutmix(opts) local t = mixing("cutmix", opts, "beta", 1.0, M.raw_cutmix); return t end

----------------------------------------------------------------- tabular
--- A.gaussian_jitter{sigma = 0.1, std = tensor [F] (default: each column's std in the batch), p = 1}
-- for rows x [N, F]: x + sigma * std[f] * N(0, 1).
function M.gaussian_jitter(opts)
  local name = "gaussian_jitter"
  opts = opt_table(name, opts, { "sigma", "std", "p" })
  if opts.std ~= nil and not ks.is_tensor(opts.std) then
    fail(name, "option 'std' must be a float32 tensor [F], got " .. type(opts.std))
  end
  return new(name, {
    inplace = true, sigma = num(name, opts, "sigma", 0.1, 0), std = opts.std, p = num(name, opts, "p", 1, 0, 1),
    run = function(self, src, dst, g) M.raw_gauss_jitter(src, dst, g, self.std, self.sigma, self.p) end,
  })
end

local function generator_of(name, opts, level)
  if opts.generator ~= nil then
    if tostring(opts.generator):sub(1, 16) ~= "kshot.Generator(" then
      fail(name, "option 'generator' must be a kshot.Generator, got " .. type(opts.generator), level)
    end
    return opts.generator
  end
  if math.type(opts.seed) ~= "integer" then
    fail(name, "pass {seed = n} or {generator = g} (augmentation uses its own random stream)", level)
  end
  return ks.Generator(opts.seed)
end

--- A.smote(x, y, {k = 5, n = count | n_per_class = count, seed = | generator = })
-- -> new rows [M, F] and their labels int64 [M]. Each new row interpolates a base row (drawn uniformly,
-- over all rows for n, within each class for n_per_class, classes ascending) towards one of its k
-- nearest same-class rows: x + u * (x_nn - x), u ~ U(0, 1).
function M.smote(x, y, opts)
  local name = "smote"
  if not ks.is_tensor(x) then fail(name, "x must be a float32 tensor [N, F], got " .. type(x)) end
  if not ks.is_tensor(y) then fail(name, "y must be an int64 tensor [N], got " .. type(y)) end
  opts = opt_table(name, opts, { "k", "n", "n_per_class", "seed", "generator" })
  local g = generator_of(name, opts, 3)
  local k = opts.k or 5
  if math.type(k) ~= "integer" or k < 1 then fail(name, "option 'k' must be an integer >= 1, got " .. tostring(k)) end
  if y:dim() ~= 1 or x:dim() ~= 2 or y:size(0) ~= x:size(0) then
    fail(name, ("x [N, F] and y [N] must agree, got shapes %s and %s"):format(shape_str(x), shape_str(y)))
  end
  local bases
  if opts.n_per_class ~= nil then
    local n = opts.n_per_class
    if math.type(n) ~= "integer" or n < 0 then fail(name, "option 'n_per_class' must be an integer >= 0") end
    local members, classes = {}, {}
    for i, c in ipairs(y:totable()) do
      if not members[c] then members[c] = {}; classes[#classes + 1] = c end
      table.insert(members[c], i - 1)
    end
    table.sort(classes)
    local list = {}
    for _, c in ipairs(classes) do
      local m = members[c]
      for _, r in ipairs(ks.randint(0, #m, { n }, { generator = g }):totable()) do list[#list + 1] = m[r + 1] end
    end
    bases = ks.tensor(list, "int64")
    if #list == 0 then bases = ks.empty({ 0 }, "int64") end
  else
    local n = opts.n
    if math.type(n) ~= "integer" or n < 0 then fail(name, "pass n = count or n_per_class = count (integers >= 0)") end
    bases = ks.randint(0, math.max(x:size(0), 1), { n }, { generator = g })
  end
  local out = ks.empty({ bases:size(0), x:size(1) })
  M.raw_smote(x:contiguous(), y:contiguous(), bases, out, g, k)
  return out, y:index_select(0, bases)
end

------------------------------------------------------------------ compose
local Pipeline = {}
Pipeline.__index = Pipeline
Pipeline.__name = "kshot.augment.Pipeline"

-- a cached tensor per (key, shape, dtype): allocated once, reused every step
function Pipeline:buffer(key, shape, dtype)
  local id = key .. ":" .. table.concat(shape, ",") .. ":" .. (dtype or "float32")
  local t = self.cache[id]
  if not t then
    t = ks.empty(shape, dtype or "float32")
    self.cache[id] = t
  end
  return t
end

-- crop followed by flips -> one fused crop step
local function fuse(steps)
  local out, i = {}, 1
  while i <= #steps do
    local s = steps[i]
    if s.name == "random_crop" and s.hflip == 0 and s.vflip == 0 then
      local f = setmetatable({}, { __index = s })
      local j = i + 1
      while steps[j] and (steps[j].name == "random_horizontal_flip" or steps[j].name == "random_vertical_flip") do
        local key = steps[j].horizontal and "hflip" or "vflip"
        if rawget(f, key) then break end
        f[key] = steps[j].p
        j = j + 1
      end
      out[#out + 1] = f
      i = j
    else
      out[#out + 1] = s
      i = i + 1
    end
  end
  return out
end

--- A.compose({t1, t2, ...}, {seed = n | generator = g}) -> aug; aug(x[, y][, {out = buf, y_out = buf}]) -> x[, y]
-- (aug(x) returns one value, x: no trailing nil).
-- With mixup/cutmix in "pair" mode the call returns x, y_a, y_b, lambda.
function M.compose(list, opts)
  local name = "compose"
  if type(list) ~= "table" then fail(name, "a list of transforms expected, got " .. type(list)) end
  opts = opt_table(name, opts, { "seed", "generator", "fuse" })
  local nmix = 0
  list = { table.unpack(list) }
  for i, t in ipairs(list) do
    if type(t) == "function" then t = M.lambda(t); list[i] = t end -- torchvision's Compose takes any callable
    if getmetatable(t) ~= Transform then
      fail(name, ("item %d is not a transform (got %s): items are A.* transforms or functions x -> x"):format(i,
        type(t)))
    end
    if t.mixing then nmix = nmix + 1 end
  end
  if nmix > 1 then fail(name, "at most one mixing transform (mixup or cutmix) per pipeline") end
  local steps = opts.fuse == false and { table.unpack(list) } or fuse(list)
  return setmetatable({ steps = steps, g = generator_of(name, opts, 3), cache = {} }, Pipeline)
end

function Pipeline:__tostring()
  local names = {}
  for i, s in ipairs(self.steps) do names[i] = s.name end
  return "kshot.augment.Pipeline(" .. table.concat(names, ", ") .. ")"
end

-- Writer groups: a step that cannot run in place starts a new group (a new
-- buffer); the last group writes into the result, earlier groups into cached
-- buffers alternating by parity, so consecutive groups never share memory.
local function plan(self, x)
  local shapes, group, G = {}, {}, 0
  local s = x:shape()
  for i, st in ipairs(self.steps) do
    if i == 1 or not st.inplace then G = G + 1 end
    group[i] = G
    s = st:out_shape(s)
    shapes[G] = s
  end
  return shapes, group, G
end

-- A step's error (a shape or dtype the kernel refuses) is raised again at the
-- line that called the pipeline, without this file's position in front;
-- an interrupt or an error object goes on unchanged.
local function rethrow(err)
  if type(err) ~= "string" or (ks.is_interrupt and ks.is_interrupt(err)) then error(err, 0) end
  error((err:gsub("^[^\n]-augment%.lua:%d+: ", "")), 3)
end

function Pipeline:__call(x, y, opts)
  if opts == nil and type(y) == "table" and not ks.is_tensor(y) then y, opts = nil, y end
  if not ks.is_tensor(x) then fail("augment", "x must be a kshot.Tensor, got " .. type(x)) end
  if x:dtype() ~= "float32" then
    fail("augment", ("x must be float32, got %s %s (convert with x:float())"):format(x:dtype(), shape_str(x)))
  end
  if opts ~= nil then opts = options.check(opts, "augment", { "out", "y_out" }) else opts = {} end
  -- [N, H, W] (gray images without their channel dim) and [C, H, W] (one image, as a
  -- torchvision transform takes) look alike, so neither is guessed: the error says both fixes
  if x:dim() == 3 and #self.steps > 0 then
    fail(self.steps[1].name, ("x must be a contiguous float32 image batch [B, C, H, W], got %s %s (gray images "
      .. "[N, H, W]: x:unsqueeze(1); one image [C, H, W]: aug(x:unsqueeze(0))[0])"):format(x:dtype(), shape_str(x)))
  end
  if not x:is_contiguous() then x = x:contiguous() end
  local out = opts.out
  if #self.steps == 0 then
    if out then out:copy_(x) else out = x:clone() end
    if y == nil then return out end
    return out, y
  end
  local shapes, group, G = plan(self, x)
  local final = shapes[G]
  if out ~= nil and not ks.is_tensor(out) then fail("augment", "option 'out' must be a tensor, got " .. type(out)) end
  local result = out
  if out == nil then
    result = ks.empty(final)
  elseif out:shares_storage(x) then -- in place: compute into a buffer, copy back at the end
    result = self:buffer("result", final)
  end
  local cur, yy = x, y
  for i, st in ipairs(self.steps) do
    local gi = group[i]
    local dst = gi == G and result or self:buffer("g" .. ((G - gi) % 2), shapes[gi])
    local ok, ny = pcall(st.run, st, cur, dst, self.g, yy, self, opts.y_out)
    if not ok then rethrow(ny) end
    if st.mixing then yy = ny end
    cur = dst
  end
  if out ~= nil and cur ~= out then out:copy_(cur); cur = out end
  if type(yy) == "table" and not ks.is_tensor(yy) then return cur, yy[1], yy[2], yy[3] end
  -- aug(x) returns x alone, not (x, nil): a DataLoader transform written
  -- function(x) return aug(x) end would otherwise replace the labels with nil
  if yy == nil then return cur end
  return cur, yy
end

return M
