--- kshot.features: fixed (untrained) image features for very small samples.
--
-- With 5-10 labelled images per class a model has too few examples to learn
-- its first filters well; edge-orientation features need none. Two pieces:
--
--   features.oriented_gradients(x, {orientations = 8})
--     x float32 [N, 1, H, W] -> [N, O, H, W]: the image's first derivative
--     (3x3 Sobel, zero padding) along O directions spread over 360 degrees,
--     rectified (ReLU), so each map holds the edges of one polarity and
--     direction. Differentiable in x.
--   features.hog(x, {orientations = 8, cells = {4, 7, 14}, coarse_cells = {2, 7}})
--     x float32 [N, 1, H, W] -> [N, F]: a soft histogram of oriented
--     gradients. The oriented maps are averaged over square cells of each
--     size in `cells` (avg_pool2d, floor), and the maps of the image
--     downsampled 2x over the cells in `coarse_cells`; each of these blocks
--     is L2-normalised per image, then every value square-rooted (the
--     Hellinger map that suits histograms).
--   features.OrientedGradients{orientations = 8, scale = 1, background = 0} (an nn.Module)
--     x -> cat(x, scale * oriented_gradients(x - background)) along channels:
--     [N, 1 + O, H, W], a fixed first layer in front of a CNN (background: the
--     value of a blank pixel in x, e.g. -mean/sd for standardised images).
--
-- Inputs are pixels with a black background at 0 (e.g. values in [0, 1]):
-- the zero padding of the derivative filters is then background.
local ks = require "kshot"
local Module = require "kshot.nn.module"
local F = ks.functional

local M = {}

local function fail(name, msg) error(("features.%s: %s"):format(name, msg), 3) end

local function shape_str(t) return "[" .. table.concat(t:shape(), ", ") .. "]" end

local function check_images(name, x)
  if not ks.is_tensor(x) then fail(name, "argument 'x' must be a tensor [N, 1, H, W], got " .. type(x)) end
  if x:dtype() ~= "float32" then fail(name, "argument 'x' must be float32, got " .. x:dtype()) end
  if x:dim() ~= 4 or x:size(1) ~= 1 then
    fail(name, "argument 'x' must have shape [N, 1, H, W] (one channel), got " .. shape_str(x))
  end
end

local function count_opt(name, opts, key, def)
  local v = opts[key]
  if v == nil then return def end
  if math.type(v) ~= "integer" or v < 1 then fail(name, ("option '%s' must be an integer >= 1, got %s"):format(key, tostring(v))) end
  return v
end

local function cells_opt(name, opts, key, def)
  local v = opts[key]
  if v == nil then return def end
  if type(v) ~= "table" then fail(name, ("option '%s' must be a list of cell sizes, got %s"):format(key, type(v))) end
  for i, c in ipairs(v) do
    if math.type(c) ~= "integer" or c < 1 then
      fail(name, ("option '%s'[%d] must be an integer >= 1, got %s"):format(key, i, tostring(c)))
    end
  end
  return v
end

local filters = {} -- orientations -> [O, 1, 3, 3]
local function oriented_filters(n)
  if not filters[n] then
    local sx = ks.tensor { { -1, 0, 1 }, { -2, 0, 2 }, { -1, 0, 1 } }:float():div(8)
    local sy = ks.tensor { { -1, -2, -1 }, { 0, 0, 0 }, { 1, 2, 1 } }:float():div(8)
    local ws = {}
    for k = 0, n - 1 do
      local a = 2 * math.pi * k / n
      local c, s = math.cos(a), math.sin(a)
      if math.abs(c) < 1e-12 then c = 0 end -- exact axis directions (cos(pi/2) is 6e-17, not 0)
      if math.abs(s) < 1e-12 then s = 0 end
      ws[#ws + 1] = (sx * c + sy * s):view(1, 1, 3, 3)
    end
    filters[n] = ks.cat(ws, 0)
  end
  return filters[n]
end

local function gradients(x, n) return F.relu(F.conv2d(x, oriented_filters(n), nil, { padding = 1 })) end

function M.oriented_gradients(x, opts)
  check_images("oriented_gradients", x)
  opts = opts or {}
  return gradients(x, count_opt("oriented_gradients", opts, "orientations", 8))
end

-- each cell size's block, L2-normalised per image, appended to parts
local function add_blocks(name, parts, g, sizes)
  local n, h, w = g:size(0), g:size(2), g:size(3)
  for _, c in ipairs(sizes) do
    if c > h or c > w then fail(name, ("cell size %d is larger than the %dx%d map"):format(c, h, w)) end
    local b = F.avg_pool2d(g, c):reshape(n, -1)
    parts[#parts + 1] = b:div(b:pow(2):sum(1, true):add(1e-6):sqrt())
  end
end

function M.hog(x, opts)
  local name = "hog"
  check_images(name, x)
  opts = opts or {}
  local o = count_opt(name, opts, "orientations", 8)
  local cells = cells_opt(name, opts, "cells", { 4, 7, 14 })
  local coarse = cells_opt(name, opts, "coarse_cells", { 2, 7 })
  if #cells + #coarse == 0 then fail(name, "options 'cells' and 'coarse_cells' are both empty") end
  local parts = {}
  add_blocks(name, parts, gradients(x, o), cells)
  if #coarse > 0 then add_blocks(name, parts, gradients(F.avg_pool2d(x, 2), o), coarse) end
  return ks.cat(parts, 1):sqrt()
end

local OG = Module:extend("OrientedGradients")
M.OrientedGradients = OG

function OG:__init(opts)
  Module.__init(self)
  opts = opts or {}
  self.orientations = count_opt("OrientedGradients", opts, "orientations", 8)
  for _, k in ipairs { "scale", "background" } do
    local v = opts[k]
    if v ~= nil and type(v) ~= "number" then fail("OrientedGradients", ("option '%s' must be a number, got %s"):format(k, type(v))) end
  end
  self.scale, self.background = opts.scale or 1, opts.background or 0
end

function OG:forward(x)
  check_images("OrientedGradients", x)
  local g = gradients(self.background ~= 0 and x - self.background or x, self.orientations)
  return ks.cat({ x, self.scale ~= 1 and g * self.scale or g }, 1)
end

return M
