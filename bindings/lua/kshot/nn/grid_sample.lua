--- kshot.nn.grid_sample: F.affine_grid and F.grid_sample (spatial transformers,
-- learned warps), 2-D only, composed from gather and element-wise ops so the
-- gradients with respect to the input and the grid come from autograd.
-- Loaded by kshot.nn.functional, which adds both to ks.functional.
local ks = require "kshot"
local options = require "kshot.options"

local M = {}

local shape_str = options.shape_str

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

-- the normalized coordinates of n pixels along one side, in [-1, 1]
local function base_coords(n, align_corners)
  if align_corners then
    return n > 1 and ks.linspace(-1, 1, n) or ks.zeros(n)
  end
  return (ks.arange(n):float() * 2 + 1) / n - 1
end

--- F.affine_grid(theta, size[, {align_corners = false}]): the sampling grid
-- [N, H, W, 2] (x, y in [-1, 1]) of the affine maps theta [N, 2, 3] for an
-- output of size {N, C, H, W}; feed it to F.grid_sample. Differentiable in theta.
function M.affine_grid(theta, size, opts)
  opts = options.check(opts, "affine_grid", { "align_corners" }, 2)
  if not ks.is_tensor(theta) or theta:dtype() ~= "float32" then
    fail("affine_grid: argument 'theta' must be a float32 tensor, got %s", ks.is_tensor(theta) and theta:dtype() or type(theta))
  end
  if type(size) ~= "table" or #size ~= 4 then
    fail("affine_grid: argument 'size' must be {N, C, H, W} (only 2-D grids are supported), got %s",
      type(size) == "table" and ("a list of " .. #size) or type(size))
  end
  local n, h, w = size[1], size[3], size[4]
  if theta:dim() ~= 3 or theta:size(0) ~= n or theta:size(1) ~= 2 or theta:size(2) ~= 3 then
    fail("affine_grid: theta must be [%d, 2, 3] for size {%s}, got %s", n, table.concat(size, ", "), shape_str(theta))
  end
  local align = opts.align_corners or false
  local xs = base_coords(w, align):reshape({ 1, w }):expand({ h, w })
  local ys = base_coords(h, align):reshape({ h, 1 }):expand({ h, w })
  local base = ks.stack({ xs, ys, ks.ones(h, w) }, 2):reshape({ 1, h * w, 3 }):expand({ n, h * w, 3 })
  return ks.bmm(base, theta:transpose(1, 2)):reshape({ n, h, w, 2 })
end

-- pixel coordinate of normalized x along a side of n pixels
local function unnormalize(x, n, align_corners)
  if align_corners then return (x + 1) * ((n - 1) / 2) end
  return ((x + 1) * n - 1) / 2
end

-- torch's reflect_coordinates: x mirrored into [lo, hi] (lo = hi: 0), then clipped to
-- [0, n - 1]. The number of flips is taken without a gradient, so dx'/dx is +1 or -1,
-- as torch's kernel; align_corners mirrors at the corner pixels' centres (0, n - 1),
-- otherwise at the image edges (-0.5, n - 0.5).
local function reflect(x, n, align_corners)
  local lo, hi = -0.5, n - 0.5
  if align_corners then lo, hi = 0, n - 1 end
  if hi == lo then return x * 0 end
  local span = hi - lo
  local d = (x - lo):abs()
  local flips = (d:detach() / span):floor()
  local extra = d - flips * span
  local odd = (flips - (flips / 2):floor() * 2):float()
  -- even flips: lo + extra; odd: hi - extra
  return (extra + lo + odd * (span - extra * 2)):clamp(0, n - 1)
end

-- input [N, C, H, W] read at integer pixels (ix, iy: [N, Ho, Wo] float), times
-- weight; positions outside the image read 0
local function read(flat, ix, iy, weight, h, w, c)
  local inside = ix:ge(0) & ix:le(w - 1) & iy:ge(0) & iy:le(h - 1)
  local idx = (iy:clamp(0, h - 1) * w + ix:clamp(0, w - 1)):to(ks.int64)
  local n, ho, wo = idx:size(0), idx:size(1), idx:size(2)
  idx = idx:reshape({ n, 1, ho * wo }):expand({ n, c, ho * wo })
  local vals = flat:gather(2, idx):reshape({ n, c, ho, wo })
  return vals * (weight * inside:float()):unsqueeze(1)
end

--- F.grid_sample(input, grid[, {mode = "bilinear", padding_mode = "zeros", align_corners = false}]):
-- input [N, C, H, W] sampled at grid [N, Ho, Wo, 2] (x, y normalized to [-1, 1])
-- -> [N, C, Ho, Wo]; mode "bilinear" or "nearest", padding_mode "zeros" (outside
-- reads 0), "border" (the nearest edge pixel) or "reflection" (the position mirrored
-- at the border, then clipped, as torch's). Differentiable in input and (bilinear) grid.
function M.grid_sample(input, grid, opts)
  opts = options.check(opts, "grid_sample", { "mode", "padding_mode", "align_corners" }, 2)
  for _, a in ipairs({ { "input", input }, { "grid", grid } }) do
    if not ks.is_tensor(a[2]) or a[2]:dtype() ~= "float32" then
      fail("grid_sample: argument '%s' must be a float32 tensor, got %s", a[1], ks.is_tensor(a[2]) and a[2]:dtype() or type(a[2]))
    end
  end
  if input:dim() ~= 4 then fail("grid_sample: input must be 4-D [N, C, H, W] (only 2-D sampling), got %s", shape_str(input)) end
  if grid:dim() ~= 4 or grid:size(3) ~= 2 or grid:size(0) ~= input:size(0) then
    fail("grid_sample: grid must be [N, Ho, Wo, 2] with input's N, got %s for input %s", shape_str(grid), shape_str(input))
  end
  local mode, padding = opts.mode or "bilinear", opts.padding_mode or "zeros"
  if mode ~= "bilinear" and mode ~= "nearest" then fail("grid_sample: mode must be \"bilinear\" or \"nearest\", got %s", tostring(mode)) end
  if padding ~= "zeros" and padding ~= "border" and padding ~= "reflection" then
    fail("grid_sample: padding_mode must be \"zeros\", \"border\" or \"reflection\", got %s", tostring(padding))
  end
  local align = opts.align_corners or false
  local n, c, h, w = input:size(0), input:size(1), input:size(2), input:size(3)
  local ix = unnormalize(grid:select(3, 0), w, align)
  local iy = unnormalize(grid:select(3, 1), h, align)
  if padding == "border" then ix, iy = ix:clamp(0, w - 1), iy:clamp(0, h - 1) end
  if padding == "reflection" then ix, iy = reflect(ix, w, align), reflect(iy, h, align) end
  local flat = input:reshape({ n, c, h * w })
  if mode == "nearest" then
    local rx, ry = ix:detach():round(), iy:detach():round()
    return read(flat, rx, ry, ks.ones(rx:shape()), h, w, c)
  end
  local x0, y0 = ix:detach():floor(), iy:detach():floor()
  local x1, y1 = x0 + 1, y0 + 1
  local wx1, wy1 = ix - x0, iy - y0
  local wx0, wy0 = 1 - wx1, 1 - wy1
  return read(flat, x0, y0, wx0 * wy0, h, w, c) + read(flat, x1, y0, wx1 * wy0, h, w, c)
    + read(flat, x0, y1, wx0 * wy1, h, w, c) + read(flat, x1, y1, wx1 * wy1, h, w, c)
end

ks.functional.affine_grid, ks.functional.grid_sample = M.affine_grid, M.grid_sample

return M
