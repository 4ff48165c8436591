--- kshot.features: fixed (untrained) image features for very small samples.
--
-- With 5-10 labelled images per class a model has too few examples to learn
-- its first filters well; edge-orientation, wavelet and local-pattern
-- features need none:
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
--   features.scattering(x, {J = 2, L = 8})
--     x float32 [N, 1, H, W] -> [N, C, ceil(H / 2^J), ceil(W / 2^J)]: the 2-D
--     wavelet scattering transform (Bruna & Mallat 2013) with Morlet wavelets
--     at J scales and L orientations, up to order 2: the image averaged by a
--     Gaussian of width 2^J (1 map), the averaged moduli |x * psi| (J L maps),
--     and the averaged moduli of those moduli at coarser scales (L^2 J (J-1) / 2
--     maps); C = 81 for J = 2, L = 8. Stable to small deformations and
--     shifts below 2^J pixels, with no learned weights.
--   features.lbp(x, {radius = 1, cells = {7, 14}, threshold = 1e-3})
--     x float32 [N, 1, H, W] -> [N, 59 * (cells of all sizes)]: histograms of
--     uniform local binary patterns (Ojala, Pietikainen & Maenpaa 2002,
--     LBP u2 with 8 neighbours, on the square ring): each pixel's 8
--     neighbours at chessboard distance `radius`, clockwise from the top
--     left (outside the image: 0), give a bit each, 1 when the neighbour is
--     brighter than the pixel by more than `threshold` (rounding noise in
--     flat regions then flips no bit); the 58 codes with at most two 0/1
--     changes around the ring keep a bin each, all other codes share bin 58.
--     For each size c in `cells`, each c x c cell (floor, as hog) holds the
--     fraction of its pixels in each bin, cell by cell in row-major order;
--     the fractions are square-rooted (Hellinger map). Local texture and
--     shape with no learned weights, whose errors differ from the gradient
--     features'. Not differentiable: the result carries no gradient.
--   features.ltp(x, {radius = 1, cells = {7, 14}, threshold = 0.02})
--     x float32 [N, 1, H, W] -> [N, 2 * 59 * (cells of all sizes)]: local
--     ternary patterns (Tan & Triggs 2010): a neighbour more than
--     `threshold` brighter than the pixel is +1, more than `threshold`
--     darker is -1, else 0; coded as two binary patterns, the upper (the +1
--     neighbours) and the lower (the -1 ones), each histogrammed as lbp does
--     (uniform bins, cells, square roots): the upper pattern's histograms,
--     then the lower's. 0.02 is 5 grey levels of an 8-bit image in [0, 1].
--   features.OrientedGradients{orientations = 8, scale = 1, background = 0} (an nn.Module)
--     x -> cat(x, scale * oriented_gradients(x - background)) along channels:
--     [N, 1 + O, H, W], a fixed first layer in front of a CNN (background: the
--     value of a blank pixel in x, e.g. -mean/sd for standardised images).
--
-- Inputs are pixels with a black background at 0 (e.g. values in [0, 1]):
-- the zero padding of the derivative filters is then background.
--
-- Option ranges (errors name the option): orientations 1..360; cells and
-- coarse_cells lists of integers >= 1, each at most the image side (coarse:
-- half the side, rounded down; coarse cells need an image of at least 2x2);
-- J 1..4 with the image at least 2^J pixels on each side; L 1..32; radius
-- 1..8; threshold a number >= 0. Unknown
-- options are errors. An empty batch (N = 0) gives an empty [0, ...] result.
-- Gradients: the square roots (Hellinger map, wavelet modulus) have gradient
-- 0 where their argument is exactly 0 (instead of inf * 0 = NaN); values are
-- unchanged.
local ks = require "kshot"
local Module = require "kshot.nn.module"
local F = ks.functional

local M = {}

local function fail(name, msg) error(("features.%s: %s"):format(name, msg), 3) end

local shape_str = require("kshot.options").shape_str

local function check_images(name, x)
  if not ks.is_tensor(x) then fail(name, "argument 'x' must be a tensor [N, 1, H, W], got " .. type(x)) end
  if x:dtype() ~= "float32" then fail(name, "argument 'x' must be float32, got " .. x:dtype()) end
  if x:dim() ~= 4 or x:size(1) ~= 1 then
    fail(name, "argument 'x' must have shape [N, 1, H, W] (one channel), got " .. shape_str(x))
  end
  if x:size(2) < 1 or x:size(3) < 1 then
    fail(name, "argument 'x' must have images of at least 1x1 pixels, got shape " .. shape_str(x))
  end
end

-- opts: nil or a table whose keys are all in `known` (a list); returns a table
local function check_opts(name, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(name, "argument 'opts' must be a table, got " .. type(opts)) end
  for k in pairs(opts) do
    local ok = false
    for _, key in ipairs(known) do if k == key then ok = true end end
    if not ok then fail(name, ("unknown option '%s' (known: %s)"):format(tostring(k), table.concat(known, ", "))) end
  end
  return opts
end

-- the images checked; the options table (or an empty one)
local function checked_call(name, x, opts, known)
  check_images(name, x)
  return check_opts(name, opts, known)
end

local function count_opt(name, opts, key, def, max)
  local v = opts[key]
  if v == nil then return def end
  if math.type(v) ~= "integer" or v < 1 or v > max then
    fail(name, ("option '%s' must be an integer in [1, %d], got %s"):format(key, max, tostring(v)))
  end
  return v
end

local MAX_ORIENTATIONS = 360 -- one per degree; a 3x3 derivative resolves far fewer
local MAX_L = 32 -- the wavelet support grows with L (and the map count with L^2)

local function cells_opt(name, opts, key, def)
  local v = opts[key]
  if v == nil then return def end
  if type(v) ~= "table" then fail(name, ("option '%s' must be a list of cell sizes, got %s"):format(key, type(v))) end
  local count = 0
  for _ in pairs(v) do count = count + 1 end
  if count ~= #v then
    fail(name, ("option '%s' must be a list (keys 1..n, no holes) of cell sizes, got a table with %d entries and length %d")
      :format(key, count, #v))
  end
  for i, c in ipairs(v) do
    if math.type(c) ~= "integer" or c < 1 then
      fail(name, ("option '%s'[%d] must be an integer >= 1, got %s"):format(key, i, tostring(c)))
    end
  end
  return v
end

-- sqrt with gradient 0 at exactly 0 (d sqrt at 0 is inf, and inf * 0 = NaN in the chain);
-- the inner where keeps the sqrt's own backward finite. Same values as m:sqrt() (NaN stays NaN).
local function safe_sqrt(m)
  local zero = m:eq(0)
  return ks.where(zero, 0, ks.where(zero, 1, m):sqrt())
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
  opts = checked_call("oriented_gradients", x, opts, { "orientations" })
  return gradients(x, count_opt("oriented_gradients", opts, "orientations", 8, MAX_ORIENTATIONS))
end

-- every cell size of option `key` fits the h x w map (what: which image that map is)
local function check_cells(name, key, sizes, h, w, what)
  for i, c in ipairs(sizes) do
    if c > h or c > w then
      fail(name, ("option '%s'[%d] = %d is larger than the %dx%d %s"):format(key, i, c, h, w, what))
    end
  end
end

-- each cell size's block, L2-normalised per image, appended to parts
local function add_blocks(parts, g, sizes)
  local n = g:size(0)
  for _, c in ipairs(sizes) do
    local b = F.avg_pool2d(g, c)
    b = b:reshape(n, b:size(1) * b:size(2) * b:size(3)) -- explicit width: n may be 0
    parts[#parts + 1] = b:div(b:pow(2):sum(1, true):add(1e-6):sqrt())
  end
end

function M.hog(x, opts)
  local name = "hog"
  opts = checked_call(name, x, opts, { "orientations", "cells", "coarse_cells" })
  local o = count_opt(name, opts, "orientations", 8, MAX_ORIENTATIONS)
  local cells = cells_opt(name, opts, "cells", { 4, 7, 14 })
  local coarse = cells_opt(name, opts, "coarse_cells", { 2, 7 })
  if #cells + #coarse == 0 then fail(name, "options 'cells' and 'coarse_cells' are both empty") end
  local h, w = x:size(2), x:size(3)
  check_cells(name, "cells", cells, h, w, "image")
  if #coarse > 0 then
    if h < 2 or w < 2 then
      fail(name, ("option 'coarse_cells' needs an image of at least 2x2 pixels (it is downsampled 2x), got %dx%d; pass coarse_cells = {}")
        :format(h, w))
    end
    check_cells(name, "coarse_cells", coarse, h // 2, w // 2, "image downsampled 2x")
  end
  local parts = {}
  add_blocks(parts, gradients(x, o), cells)
  if #coarse > 0 then add_blocks(parts, gradients(F.avg_pool2d(x, 2), o), coarse) end
  return safe_sqrt(ks.cat(parts, 1))
end

-- ---------------------------------------------------------------- local binary patterns
-- code (0..255) -> bin: the uniform codes (at most two changes around the ring) in code order, then 58
local u2_bins
local function uniform_bins()
  if not u2_bins then
    local t, nxt = {}, 0
    for code = 0, 255 do
      local changes = 0
      for k = 0, 7 do
        if ((code >> k) & 1) ~= ((code >> ((k + 1) % 8)) & 1) then changes = changes + 1 end
      end
      if changes <= 2 then t[code + 1], nxt = nxt, nxt + 1 end
    end
    for code = 0, 255 do t[code + 1] = t[code + 1] or 58 end
    u2_bins = ks.tensor(t, "int64")
  end
  return u2_bins
end

local LBP_BINS = 59
-- the 8 neighbours' offsets in the image padded by r, clockwise from the top left: bit k is neighbour k + 1
local function ring(r)
  return { { 0, 0 }, { 0, r }, { 0, 2 * r }, { r, 2 * r }, { 2 * r, 2 * r }, { 2 * r, r }, { 2 * r, 0 }, { r, 0 } }
end

-- [N, H, W] bins of the patterns of x [N, 1, H, W]: bit k set where neighbour k + 1 is above the pixel + t
-- (sign 1), or below the pixel - t (sign -1: LTP's lower pattern)
local function pattern_bins(x, r, t, sign)
  local n, h, w = x:size(0), x:size(2), x:size(3)
  local ref = x:view(n, h, w) + sign * t
  local p = ks.pad(x, { r, r, r, r }):view(n, h + 2 * r, w + 2 * r)
  local code = ks.zeros({ n, h, w }, ks.int64)
  for k, o in ipairs(ring(r)) do
    local nb = p:narrow(1, o[1], h):narrow(2, o[2], w)
    code:add_((sign > 0 and nb:gt(ref) or nb:lt(ref)):long(), 1 << (k - 1))
  end
  return uniform_bins():index_select(0, code:view(-1)):view(n, h, w)
end

-- the fraction of each c x c cell's pixels per bin: [N, cells * 59], cell-major
local function cell_histograms(bins, c)
  local n = bins:size(0)
  local gh, gw = bins:size(1) // c, bins:size(2) // c
  local cells = gh * gw
  local rows, cols = {}, {}
  for i = 1, gh * c do rows[i] = ((i - 1) // c) * gw * LBP_BINS end
  for j = 1, gw * c do cols[j] = ((j - 1) // c) * LBP_BINS end
  local cell_of = ks.tensor(rows, ks.int64):view(-1, 1) + ks.tensor(cols, ks.int64):view(1, -1) -- [gh c, gw c]
  local first = (ks.arange(n, ks.int64) * (cells * LBP_BINS)):view(-1, 1, 1)
  local idx = bins:narrow(1, 0, gh * c):narrow(2, 0, gw * c) + cell_of + first
  local hist = ks.zeros(n * cells * LBP_BINS)
  hist:index_add_(0, idx:reshape(-1), ks.ones(idx:numel()))
  return hist:view(n, cells * LBP_BINS):div(c * c)
end

-- lbp's and ltp's options checked: radius, cells, threshold
local function pattern_opts(name, x, opts, def_threshold)
  opts = checked_call(name, x, opts, { "radius", "cells", "threshold" })
  local r = count_opt(name, opts, "radius", 1, 8)
  local cells = cells_opt(name, opts, "cells", { 7, 14 })
  if #cells == 0 then fail(name, "option 'cells' is empty") end
  local threshold = opts.threshold or def_threshold
  if type(threshold) ~= "number" or threshold < 0 or threshold ~= threshold then
    fail(name, ("option 'threshold' must be a number >= 0, got %s"):format(tostring(threshold)))
  end
  check_cells(name, "cells", cells, x:size(2), x:size(3), "image")
  return r, cells, threshold
end

-- the square-rooted cell histograms of each sign's pattern (1: brighter neighbours; -1: darker ones)
local function pattern_histograms(x, r, cells, threshold, signs)
  return ks.no_grad(function()
    local parts = {}
    for _, sign in ipairs(signs) do
      local bins = pattern_bins(x:detach(), r, threshold, sign)
      for _, c in ipairs(cells) do parts[#parts + 1] = cell_histograms(bins, c) end
    end
    return ks.cat(parts, 1):sqrt()
  end)
end

function M.lbp(x, opts)
  local r, cells, threshold = pattern_opts("lbp", x, opts, 1e-3)
  return pattern_histograms(x, r, cells, threshold, { 1 })
end

function M.ltp(x, opts)
  local r, cells, threshold = pattern_opts("ltp", x, opts, 0.02)
  return pattern_histograms(x, r, cells, threshold, { 1, -1 })
end

-- ---------------------------------------------------------------- scattering
-- Morlet wavelets as in Bruna & Mallat (2013) and Kymatio: at scale j,
-- sigma = 0.8 * 2^j, centre frequency xi = 3pi/4 / 2^j, an envelope 1/slant
-- (= L/4) times longer across the oscillation than along it, minus a multiple
-- of the envelope so the filter sums to zero. phi: the Gaussian low-pass with
-- sigma = 0.8 * 2^J, summing to one. Filters are truncated at 2.5 envelope
-- sd (zero padding: background) and cached per (J, L).
local function gabor_rows(sigma, theta, xi, slant, half)
  local c, s = math.cos(theta), math.sin(theta)
  local a = 1 / (2 * sigma * sigma) -- curvature along the wave
  local b = slant * slant / (2 * sigma * sigma) -- and across it
  local re, im, env = {}, {}, {}
  for y = -half, half do
    local rr, ri, re_ = {}, {}, {}
    for x = -half, half do
      local u, v = c * x + s * y, -s * x + c * y
      local e = math.exp(-(a * u * u + b * v * v))
      rr[#rr + 1], ri[#ri + 1], re_[#re_ + 1] = e * math.cos(xi * u), e * math.sin(xi * u), e
    end
    re[#re + 1], im[#im + 1], env[#env + 1] = rr, ri, re_
  end
  return re, im, env
end

local function sum2(t)
  local acc = 0
  for _, row in ipairs(t) do for _, v in ipairs(row) do acc = acc + v end end
  return acc
end

-- [2L, 1, k, k]: the L real parts, then the L imaginary parts, of the wavelets
-- at scale j (in units of the map's own resolution)
local function morlet_bank(j, L)
  local sigma, slant = 0.8 * 2 ^ j, 4 / L
  local half = math.ceil(2.5 * sigma / slant)
  local re_all, im_all = {}, {}
  for l = 0, L - 1 do
    local re, im, env = gabor_rows(sigma, math.pi * l / L, 0.75 * math.pi / 2 ^ j, slant, half)
    local k = sum2(re) / sum2(env) -- zero mean (the imaginary part already is, by symmetry)
    local norm = slant / (2 * math.pi * sigma * sigma)
    for r = 1, #re do
      for q = 1, #re[r] do
        re[r][q] = (re[r][q] - k * env[r][q]) * norm
        im[r][q] = im[r][q] * norm
      end
    end
    re_all[#re_all + 1], im_all[#im_all + 1] = { re }, { im }
  end
  for _, m in ipairs(im_all) do re_all[#re_all + 1] = m end
  return ks.tensor(re_all):float(), half
end

local function lowpass(sigma)
  local half = math.ceil(2.5 * sigma)
  local _, _, env = gabor_rows(sigma, 0, 0, 1, half)
  local total = sum2(env)
  for _, row in ipairs(env) do for q = 1, #row do row[q] = row[q] / total end end
  return ks.tensor({ { env } }):float(), half
end

local banks = {} -- "J,L" -> {psi[level][j] = {w, half}, phi[level] = {w, half}}
local function scattering_bank(J, L)
  local key = J .. "," .. L
  if not banks[key] then
    local psi, phi = {}, {}
    for level = 0, J - 1 do
      psi[level] = {}
      for j = level, J - 1 do
        local w, half = morlet_bank(j - level, L)
        psi[level][j] = { w = w, half = half }
      end
      local w, half = lowpass(0.8 * 2 ^ (J - level))
      phi[level] = { w = w, half = half }
    end
    banks[key] = { psi = psi, phi = phi }
  end
  return banks[key]
end

-- |u * psi_j|, u [N, 1, h, w] at resolution `level`, subsampled to resolution j: [N, L, h', w']
local function wavelet_modulus(u, bank, level, j, L)
  local f = bank.psi[level][j]
  local stride = 1 << (j - level)
  local z = F.conv2d(u, f.w, nil, { padding = f.half, stride = stride })
  return safe_sqrt(z:narrow(1, 0, L):pow(2) + z:narrow(1, L, L):pow(2))
end

-- u [N, C, h, w] at resolution `level` -> [N, C, H / 2^J, W / 2^J]
local function average(u, bank, level, J)
  local n, c = u:size(0), u:size(1)
  local f = bank.phi[level]
  local s = F.conv2d(u:reshape(n * c, 1, u:size(2), u:size(3)), f.w, nil,
    { padding = f.half, stride = 1 << (J - level) })
  return s:reshape(n, c, s:size(2), s:size(3))
end

function M.scattering(x, opts)
  local name = "scattering"
  opts = checked_call(name, x, opts, { "J", "L" })
  local J = count_opt(name, opts, "J", 2, 4)
  local L = count_opt(name, opts, "L", 8, MAX_L)
  local h, w = x:size(2), x:size(3)
  if h < 1 << J or w < 1 << J then
    fail(name, ("the %dx%d image is smaller than 2^J = %d (option 'J' = %d)"):format(h, w, 1 << J, J))
  end
  local bank, n = scattering_bank(J, L), x:size(0)
  local parts = { average(x, bank, 0, J) }
  local first = {}
  for j1 = 0, J - 1 do
    first[j1] = wavelet_modulus(x, bank, 0, j1, L)
    parts[#parts + 1] = average(first[j1], bank, j1, J)
  end
  for j1 = 0, J - 2 do
    local u1 = first[j1]
    local flat = u1:reshape(n * L, 1, u1:size(2), u1:size(3))
    for j2 = j1 + 1, J - 1 do
      local u2 = wavelet_modulus(flat, bank, j1, j2, L)
      parts[#parts + 1] = average(u2:reshape(n, L * L, u2:size(2), u2:size(3)), bank, j2, J)
    end
  end
  return ks.cat(parts, 1)
end

local OG = Module:extend("OrientedGradients")
M.OrientedGradients = OG

function OG:__init(opts)
  Module.__init(self)
  opts = check_opts("OrientedGradients", opts, { "orientations", "scale", "background" })
  self.orientations = count_opt("OrientedGradients", opts, "orientations", 8, MAX_ORIENTATIONS)
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
