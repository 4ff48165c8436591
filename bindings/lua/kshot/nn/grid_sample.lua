--- kshot.nn.grid_sample: F.affine_grid and F.grid_sample (spatial transformers,
-- learned warps), 2-D only. grid_sample is one C kernel with one autograd node
-- (runtime/core/ks_grid_sample.h, through ks._grid_sample); affine_grid is one
-- batched matrix product of a cached base grid and theta, differentiable in theta.
-- Loaded by kshot.nn.functional, which adds both to ks.functional.
local ks = require "kshot"
local options = require "kshot.options"

local M = {}

local shape_str = options.shape_str

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

-- the normalized coordinates of n pixels along one side, in [-1, 1], as torch's
-- linspace_from_neg_one (align_corners = false: the pixel centres, scaled by (n - 1) / n)
local function base_coords(n, align_corners)
  if n <= 1 then return ks.zeros(n) end
  local lin = ks.linspace(-1, 1, n)
  if align_corners then return lin end
  return lin * (n - 1) / n
end

-- base grids [H*W, 3] (rows x, y, 1 in row-major pixel order) by size and
-- align_corners: constants that never require grad and are never handed out,
-- so affine_grid can reuse them; a few sizes are kept, the oldest dropped
local bases, base_keys, MAX_BASES = {}, {}, 8

local function base_grid(h, w, align)
  local key = h .. "x" .. w .. (align and "a" or "")
  local base = bases[key]
  if base then return base end
  local xs = base_coords(w, align):reshape({ 1, w }):expand({ h, w })
  local ys = base_coords(h, align):reshape({ h, 1 }):expand({ h, w })
  base = ks.stack({ xs, ys, ks.ones(h, w) }, 2):reshape({ h * w, 3 })
  if #base_keys >= MAX_BASES then bases[table.remove(base_keys, 1)] = nil end
  base_keys[#base_keys + 1], bases[key] = key, base
  return base
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
  local base = base_grid(h, w, opts.align_corners or false)
  -- [N, H*W, 3] (a stride-0 view) @ theta^T [N, 3, 2]: one bmm, as torch
  return ks.bmm(base:expand({ n, h * w, 3 }), theta:transpose(1, 2)):reshape({ n, h, w, 2 })
end

local MODES = { bilinear = 0, nearest = 1 }
local PADDINGS = { zeros = 0, border = 1, reflection = 2 }

--- F.grid_sample(input, grid[, {mode = "bilinear", padding_mode = "zeros", align_corners = false}]):
-- input [N, C, H, W] sampled at grid [N, Ho, Wo, 2] (x, y normalized to [-1, 1])
-- -> [N, C, Ho, Wo]; mode "bilinear" or "nearest" (half to even), padding_mode "zeros"
-- (outside reads 0), "border" (the nearest edge pixel) or "reflection" (the position
-- mirrored at the border, then clipped, as torch's). Differentiable in input and grid
-- (nearest: zero grid gradient), once: as torch 1.13, its gradients have no derivative.
function M.grid_sample(input, grid, opts)
  opts = options.check(opts, "grid_sample", { "mode", "padding_mode", "align_corners" }, 2)
  if not ks.is_tensor(input) then fail("grid_sample: argument 'input' must be a float32 tensor, got %s", type(input)) end
  if not ks.is_tensor(grid) then fail("grid_sample: argument 'grid' must be a float32 tensor, got %s", type(grid)) end
  local mode, padding = MODES[opts.mode or "bilinear"], PADDINGS[opts.padding_mode or "zeros"]
  if not mode then fail("grid_sample: mode must be \"bilinear\" or \"nearest\", got %s", tostring(opts.mode)) end
  if not padding then
    fail("grid_sample: padding_mode must be \"zeros\", \"border\" or \"reflection\", got %s", tostring(opts.padding_mode))
  end
  local align = opts.align_corners
  if align ~= nil and type(align) ~= "boolean" then
    fail("grid_sample: align_corners must be a boolean, got %s", type(align))
  end
  return ks._grid_sample(input, grid, mode, padding, align or false)
end

ks.functional.affine_grid, ks.functional.grid_sample = M.affine_grid, M.grid_sample

return M
