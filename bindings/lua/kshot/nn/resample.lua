--- kshot.nn.resample: F.adaptive_max_pool2d and F.interpolate (torch 1.13's),
-- composed from differentiable ops (narrow, max, index_select, *, +), so
-- autograd needs nothing new. Loaded by kshot.nn.functional.
--   F.adaptive_max_pool2d(x, output_size[, return_indices=false])  (or {output_size=, return_indices=},
--       or F.adaptive_max_pool2d(x, output_size, {return_indices = true}))
--       x [N, C, H, W] or [C, H, W]; output_size an integer or {h, w}. Output
--       cell (i, j) is the max over rows floor(i*H/h) .. ceil((i+1)*H/h) - 1 and
--       the same for columns; the gradient goes to the first max in row-major
--       order, as torch's kernel. With return_indices = true it returns the
--       values and, as a second value, int64 indices of the same shape: the max's
--       flat position h * W + w in its input plane (torch's, for MaxUnpool-style
--       use or inspection).
--   F.interpolate(x, {size=, scale_factor=, mode="nearest", align_corners=, recompute_scale_factor=})
--       (or torch's positional order: F.interpolate(x, size, scale_factor, mode, align_corners))
--       mode "nearest" or "nearest-exact" (3-D [N, C, L] or 4-D input, any dtype), "linear" (3-D),
--       "bilinear" or "bicubic" (4-D, float32), "trilinear" (5-D [N, C, D, H, W], float32:
--       linear along W, then H, then D), "area" (3-D or 4-D, float32: adaptive
--       average pooling to the output size, as torch); size an integer or one per
--       spatial dim; or scale_factor (a number or one per dim): output size
--       floor(in * factor). Source positions are computed in float32 with torch's
--       formulas (nearest: floor(dst * scale); nearest-exact: floor((dst + 0.5) * scale),
--       as PIL and OpenCV; linear: align_corners maps the
--       corner pixels onto each other, otherwise pixel centres, clamped at 0;
--       bicubic: the same positions unclamped, Keys' cubic convolution with
--       a = -0.75 over the 4 nearest sources, indices past the border clamped to
--       it), so the same pixels are picked and the weights agree to float rounding.
--   F.pixel_shuffle(x, upscale_factor)      [*, C r^2, H, W] -> [*, C, H r, W r] (reshape + permute)
--   F.pixel_unshuffle(x, downscale_factor)  [*, C, H r, W r] -> [*, C r^2, H, W], its inverse
local ks = require "kshot"
local options = require "kshot.nn.options"

local F = ks.functional

local shape_str = require("kshot.options").shape_str

-- a float32 value (torch computes the source positions in float)
local function f32(v) return (string.unpack("f", string.pack("f", v))) end

-- a positive integer or a list of `n` of them (one per spatial dim)
local function sizes(v, n, what, fname)
  local list = type(v) == "table" and v or {}
  if math.type(v) == "integer" then for i = 1, n do list[i] = v end end
  local ok = #list == n
  for i = 1, n do ok = ok and math.type(list[i]) == "integer" and list[i] > 0 end
  if not ok then
    local shown = options.show(v)
    error(string.format("%s: %s must be a positive integer or %d of them, got %s", fname, what, n, shown), 3)
  end
  return list
end

-- The output's bytes must fit under the memory limit before any index is
-- built: the index lists are Lua tables, outside the limit, and a hostile size
-- (2^40) would otherwise loop and grow until the process is killed.
local function check_output_size(fname, x, spatial, level)
  local lead, nd = 1, x:dim() - #spatial
  for d = 0, nd - 1 do lead = lead * x:size(d) end
  local bytes = lead * 4.0
  local shown = {}
  for d = 0, nd - 1 do shown[#shown + 1] = tostring(x:size(d)) end
  for _, v in ipairs(spatial) do
    bytes = bytes * v
    shown[#shown + 1] = tostring(v)
  end
  local limit = ks.memory_stats().limit_bytes
  if limit and bytes > limit then
    error(string.format("%s: the output [%s] would need %.0f bytes, over the memory limit of %d (see ks.set_memory_limit)",
      fname, table.concat(shown, ", "), bytes, limit), level + 1)
  end
end

-- ------------------------------------------------------------ adaptive_max_pool2d
-- the input rows of output row i: floor(i*n/out) .. ceil((i+1)*n/out) - 1, as (start, length)
local function adaptive_range(i, n, out)
  local a, b = (i * n) // out, -((-(i + 1) * n) // out)
  return a, b - a
end

-- max over the adaptive windows along dim, keeping it (size out)
local function adaptive_max_along(x, dim, out)
  local n = x:size(dim)
  local parts = {}
  for i = 0, out - 1 do
    local a, len = adaptive_range(i, n, out)
    parts[#parts + 1] = (x:narrow(dim, a, len):max(dim, true))
  end
  return out == 1 and parts[1] or ks.cat(parts, dim)
end

-- int64 indices h * W + w of the first max (row-major) of each adaptive window of
-- x [..., H, W]: the columns' maxima (first column of equal ones) and where they
-- sit, then the first row of equal column maxima picks the column index
local function adaptive_argmax(x, hd, oh, ow)
  local wd, H, W = hd + 1, x:size(hd), x:size(hd + 1)
  local vals, cols = {}, {}
  for j = 0, ow - 1 do
    local b, len = adaptive_range(j, W, ow)
    local v, k = x:narrow(wd, b, len):max(wd, true)
    vals[#vals + 1], cols[#cols + 1] = v, k + b
  end
  local cv, ci = ks.cat(vals, wd), ks.cat(cols, wd)
  local out = {}
  for i = 0, oh - 1 do
    local a, len = adaptive_range(i, H, oh)
    local _, r = cv:narrow(hd, a, len):max(hd, true)
    out[#out + 1] = (r + a) * W + ci:narrow(hd, a, len):gather(hd, r)
  end
  return ks.cat(out, hd)
end

--- F.adaptive_max_pool2d(x, output_size[, return_indices=false]) (see the header): the values, and with
-- return_indices = true also the int64 indices h * W + w of each window's first max (torch's)
function F.adaptive_max_pool2d(x, output_size, return_indices)
  if type(output_size) == "table" and output_size[1] == nil and next(output_size) ~= nil then
    if return_indices ~= nil then
      error("adaptive_max_pool2d: argument 3 after the options table (put it in the table)", 2)
    end
    local o = options.check(output_size, {"output_size", "return_indices"}, "adaptive_max_pool2d", 2)
    output_size, return_indices = o.output_size, o.return_indices
  elseif type(return_indices) == "table" then -- torch's keyword after the positional size
    return_indices = options.check(return_indices, {"return_indices"}, "adaptive_max_pool2d", 2).return_indices
  end
  if not ks.is_tensor(x) then
    error("adaptive_max_pool2d: argument 'input' must be a tensor, got " .. type(x), 2)
  end
  if x:dtype() ~= "float32" then
    error("adaptive_max_pool2d: argument 'input' must be float32, got " .. x:dtype(), 2)
  end
  if x:dim() ~= 3 and x:dim() ~= 4 then
    error("adaptive_max_pool2d: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape " .. shape_str(x), 2)
  end
  if return_indices ~= nil and type(return_indices) ~= "boolean" then
    error("adaptive_max_pool2d: return_indices must be a boolean, got " .. type(return_indices), 2)
  end
  local hw = sizes(output_size, 2, "output_size", "adaptive_max_pool2d")
  local hd = x:dim() - 2
  if x:size(hd) == 0 or x:size(hd + 1) == 0 then
    error("adaptive_max_pool2d: the input's H and W must be > 0, got shape " .. shape_str(x), 2)
  end
  check_output_size("adaptive_max_pool2d", x, hw, 2)
  -- columns first, then rows: of equal maxima the first row wins, and in it the
  -- first column, which is torch's row-major scan (the gradient's target)
  local y = adaptive_max_along(adaptive_max_along(x, hd + 1, hw[2]), hd, hw[1])
  if not return_indices then return y end
  return y, ks.no_grad(function() return adaptive_argmax(x:detach(), hd, hw[1], hw[2]) end)
end

-- ------------------------------------------------------------------- interpolate
local MODES = { nearest = 0, ["nearest-exact"] = 0, linear = 1, bilinear = 2, bicubic = 2, trilinear = 3, area = 0 } -- the spatial dims it needs (0: 1 or 2)
local SUPPORTED = "nearest, nearest-exact, linear, bilinear, bicubic, trilinear, area"
local LINEAR_MODES = { linear = true, bilinear = true, bicubic = true, trilinear = true }

-- torch's compute_scales_value: 1/scale_factor when one was given, else in/out (float)
local function scale_of(n_in, n_out, factor)
  if factor and factor > 0 then return f32(1.0 / factor) end
  return f32(n_in / n_out)
end

-- int64 index of the nearest source for each output position along one dim:
-- "nearest" is torch's legacy floor(d * scale) (shifted towards the start),
-- "nearest-exact" the source whose centre is nearest, floor((d + 0.5) * scale)
local function nearest_index(n_in, n_out, factor, exact)
  local idx = {}
  local scale = scale_of(n_in, n_out, factor)
  for d = 0, n_out - 1 do
    if n_out == n_in then idx[d + 1] = d
    elseif n_out == 2 * n_in then idx[d + 1] = d >> 1
    elseif exact then idx[d + 1] = math.min(math.floor(f32(f32(d + 0.5) * scale)), n_in - 1)
    else idx[d + 1] = math.min(math.floor(f32(d * scale)), n_in - 1) end
  end
  return ks.tensor(idx, "int64")
end

-- the two source indices and their weights for each output position along one dim
local function linear_weights(n_in, n_out, factor, align_corners)
  local i0, i1, w0, w1 = {}, {}, {}, {}
  local scale
  if align_corners then scale = n_out > 1 and f32((n_in - 1) / (n_out - 1)) or 0
  else scale = scale_of(n_in, n_out, factor) end
  for d = 0, n_out - 1 do
    local a, b, l1 = d, d, 0
    if n_out ~= n_in then
      local real = align_corners and f32(scale * d) or math.max(f32(f32(scale * f32(d + 0.5)) - 0.5), 0)
      a = math.floor(real)
      b = a < n_in - 1 and a + 1 or a
      l1 = math.min(math.max(f32(real - a), 0), 1)
    end
    i0[d + 1], i1[d + 1], w0[d + 1], w1[d + 1] = a, b, f32(1 - l1), l1
  end
  return ks.tensor(i0, "int64"), ks.tensor(i1, "int64"), ks.tensor(w0, "float32"), ks.tensor(w1, "float32")
end

-- linear interpolation of x along dim to n_out positions
local function linear_along(x, dim, n_out, factor, align_corners)
  local i0, i1, w0, w1 = linear_weights(x:size(dim), n_out, factor, align_corners)
  local shape = {}
  for k = 0, x:dim() - 1 do shape[k + 1] = k == dim and n_out or 1 end
  return x:index_select(dim, i0) * w0:reshape(shape) + x:index_select(dim, i1) * w1:reshape(shape)
end

-- Keys' cubic convolution kernel with torch's a = -0.75: near for |s| <= 1, far for 1 < |s| < 2
local A = -0.75
local function cubic_near(s) return ((A + 2) * s - (A + 3)) * s * s + 1 end
local function cubic_far(s) return ((A * s - 5 * A) * s + 8 * A) * s - 4 * A end

-- the 4 source indices (clamped to the border, as torch reads them) and weights of each output position
local function cubic_weights(n_in, n_out, factor, align_corners)
  local idx, wts = {{}, {}, {}, {}}, {{}, {}, {}, {}}
  local scale
  if align_corners then scale = n_out > 1 and f32((n_in - 1) / (n_out - 1)) or 0
  else scale = scale_of(n_in, n_out, factor) end
  for d = 0, n_out - 1 do
    -- unlike linear, the position is not clamped at 0: the kernel reaches past the border
    local real = align_corners and f32(scale * d) or f32(f32(scale * f32(d + 0.5)) - 0.5)
    local base = math.floor(real)
    local t = f32(real - base)
    local w = {cubic_far(t + 1), cubic_near(t), cubic_near(1 - t), cubic_far(2 - t)}
    for k = 1, 4 do
      idx[k][d + 1] = math.min(math.max(base - 2 + k, 0), n_in - 1)
      wts[k][d + 1] = w[k]
    end
  end
  for k = 1, 4 do idx[k], wts[k] = ks.tensor(idx[k], "int64"), ks.tensor(wts[k], "float32") end
  return idx, wts
end

-- bicubic interpolation of x along dim: the weighted sum of 4 gathered copies, in torch's order
local function cubic_along(x, dim, n_out, factor, align_corners)
  local idx, wts = cubic_weights(x:size(dim), n_out, factor, align_corners)
  local shape = {}
  for k = 0, x:dim() - 1 do shape[k + 1] = k == dim and n_out or 1 end
  local y = x:index_select(dim, idx[1]) * wts[1]:reshape(shape)
  for k = 2, 4 do y = y + x:index_select(dim, idx[k]) * wts[k]:reshape(shape) end
  return y
end

-- area: adaptive average pooling to the output size (torch's adaptive_avg_pool1d/2d)
local function area(x, out)
  if #out == 2 then return F.adaptive_avg_pool2d(x, out) end
  return F.adaptive_avg_pool2d(x:unsqueeze(2), {1, out[1]}):squeeze(2)
end

-- torch's positional order after the input
local POSITIONAL = { "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor" }
local KNOWN = { "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor" }

--- F.interpolate(x, {size=, scale_factor=, mode="nearest", align_corners=, recompute_scale_factor=}) (see the header)
function F.interpolate(x, ...)
  local n, first = select("#", ...), ...
  local o
  if n == 1 and type(first) == "table" and first[1] == nil and next(first) ~= nil then
    o = options.check(first, KNOWN, "interpolate", 2)
  else
    o = {}
    for i = 1, n do
      local v = select(i, ...)
      if i == n and type(v) == "table" and v[1] == nil and next(v) ~= nil and i > 1 then
        for k, val in pairs(options.check(v, KNOWN, "interpolate", 2)) do
          if o[k] ~= nil then
            error(string.format("interpolate: option '%s' given both positionally and in the options table", k), 2)
          end
          o[k] = val
        end
      elseif i > #POSITIONAL then
        error(string.format("interpolate: too many arguments (%d after the input)", n), 2)
      else
        o[POSITIONAL[i]] = v
      end
    end
  end
  if not ks.is_tensor(x) then error("interpolate: argument 'input' must be a tensor, got " .. type(x), 2) end
  local mode = o.mode == nil and "nearest" or o.mode
  if MODES[mode] == nil then
    error(string.format("interpolate: unknown mode %s (expected one of %s)", tostring(mode), SUPPORTED), 2)
  end
  local nd = x:dim() - 2
  if (MODES[mode] == 0 and nd ~= 1 and nd ~= 2) or (MODES[mode] > 0 and nd ~= MODES[mode]) then
    local want = MODES[mode] == 0 and "a 3-D [N, C, L] or 4-D [N, C, H, W]" or mode == "linear" and "a 3-D [N, C, L]"
      or mode == "trilinear" and "a 5-D [N, C, D, H, W]" or "a 4-D [N, C, H, W]"
    error(string.format("interpolate: mode '%s' needs %s input, got shape %s", mode, want, shape_str(x)), 2)
  end
  if mode ~= "nearest" and mode ~= "nearest-exact" and x:dtype() ~= "float32" then
    error(string.format("interpolate: mode '%s' needs a float32 input, got %s", mode, x:dtype()), 2)
  end
  if o.align_corners ~= nil and not LINEAR_MODES[mode] then
    error("interpolate: align_corners can only be set with the interpolating modes linear, bilinear, bicubic and trilinear", 2)
  end
  if o.align_corners ~= nil and type(o.align_corners) ~= "boolean" then
    error("interpolate: align_corners must be a boolean, got " .. type(o.align_corners), 2)
  end
  if (o.size == nil) == (o.scale_factor == nil) then
    error(o.size == nil and "interpolate: either size or scale_factor must be given"
      or "interpolate: only one of size and scale_factor may be given", 2)
  end
  for d = 0, nd - 1 do
    if x:size(d + 2) == 0 then
      error("interpolate: the input's spatial sizes must be > 0, got shape " .. shape_str(x), 2)
    end
  end
  local out, factors = {}, {}
  if o.size ~= nil then
    out = sizes(o.size, nd, "size", "interpolate")
  else
    local sf = o.scale_factor
    local list = type(sf) == "table" and sf or {}
    if type(sf) == "number" then for i = 1, nd do list[i] = sf end end
    for i = 1, nd do
      local v = list[i]
      if type(v) ~= "number" or not (v > 0) or v == math.huge or #list ~= nd then
        error(string.format("interpolate: scale_factor must be a positive number or %d of them, got %s", nd,
          type(sf) == "table" and "a table of " .. #sf or tostring(sf)), 2)
      end
      out[i] = math.floor(x:size(i + 1) * v)
      if out[i] < 1 then
        error(string.format("interpolate: scale_factor %s gives an empty output for input size %d", tostring(v),
          x:size(i + 1)), 2)
      end
      -- torch passes the factor on unless recompute_scale_factor asks for in/out
      factors[i] = not o.recompute_scale_factor and v or nil
    end
  end
  check_output_size("interpolate", x, out, 2)
  local y = x
  if mode == "nearest" or mode == "nearest-exact" then
    for d = nd, 1, -1 do
      y = y:index_select(d + 1, nearest_index(x:size(d + 1), out[d], factors[d], mode == "nearest-exact"))
    end
  elseif mode == "area" then
    y = area(x, out)
  else
    -- the last dim first, then the one before: torch's order of the weighted sums
    -- (trilinear is linear along W, H and D in turn: the product of the three weights)
    local along = mode == "bicubic" and cubic_along or linear_along
    for d = nd, 1, -1 do y = along(y, d + 1, out[d], factors[d], o.align_corners == true) end
  end
  return y
end

-- ------------------------------------------------------------ pixel_shuffle
local function shuffle_args(x, r, key, fname)
  if type(r) == "table" then r = options.check(r, {key}, fname, 3)[key] end
  if not ks.is_tensor(x) then error(string.format("%s: argument 'input' must be a tensor, got %s", fname, type(x)), 3) end
  if x:dim() < 3 then
    error(string.format("%s: expected an input with at least 3 dims [*, C, H, W], got shape %s", fname, shape_str(x)), 3)
  end
  if math.type(r) ~= "integer" or r < 1 then
    error(string.format("%s: %s must be a positive integer, got %s", fname, key, tostring(r)), 3)
  end
  local shape = x:shape()
  local lead = {}
  for i = 1, #shape - 3 do lead[i] = shape[i] end
  return r, shape, lead, #lead
end

local function with_lead(lead, ...)
  local s = table.move(lead, 1, #lead, 1, {})
  for _, v in ipairs({...}) do s[#s + 1] = v end
  return s
end

--- F.pixel_shuffle(x, upscale_factor) (or {upscale_factor=}): x [*, C r^2, H, W] -> [*, C, H r, W r],
-- out[c, h r + i, w r + j] = x[c r^2 + i r + j, h, w] as torch.
function F.pixel_shuffle(x, r)
  local nl
  local shape, lead
  r, shape, lead, nl = shuffle_args(x, r, "upscale_factor", "pixel_shuffle")
  local c, h, w = shape[nl + 1], shape[nl + 2], shape[nl + 3]
  if c % (r * r) ~= 0 then
    error(string.format("pixel_shuffle: the channels (%d, dim %d of shape %s) must be divisible by upscale_factor^2 = %d",
      c, nl, shape_str(x), r * r), 2)
  end
  local oc = c // (r * r)
  local perm = {}
  for i = 0, nl - 1 do perm[#perm + 1] = i end
  for _, d in ipairs({0, 3, 1, 4, 2}) do perm[#perm + 1] = nl + d end
  return x:reshape(with_lead(lead, oc, r, r, h, w)):permute(perm):reshape(with_lead(lead, oc, h * r, w * r))
end

--- F.pixel_unshuffle(x, downscale_factor) (or {downscale_factor=}): the inverse of pixel_shuffle.
function F.pixel_unshuffle(x, r)
  local nl
  local shape, lead
  r, shape, lead, nl = shuffle_args(x, r, "downscale_factor", "pixel_unshuffle")
  local c, h, w = shape[nl + 1], shape[nl + 2], shape[nl + 3]
  if h % r ~= 0 or w % r ~= 0 then
    error(string.format("pixel_unshuffle: height and width (%d, %d of shape %s) must be divisible by downscale_factor %d",
      h, w, shape_str(x), r), 2)
  end
  local oh, ow = h // r, w // r
  local perm = {}
  for i = 0, nl - 1 do perm[#perm + 1] = i end
  for _, d in ipairs({0, 2, 4, 1, 3}) do perm[#perm + 1] = nl + d end
  return x:reshape(with_lead(lead, c, oh, r, ow, r)):permute(perm):reshape(with_lead(lead, c * r * r, oh, ow))
end

-- true, not F: F's only entry in package.loaded stays kshot.nn.functional, so tracebacks
-- and help name its functions by it (kshot.nn.functional.linear, not kshot.nn.unfold.linear)
return true
