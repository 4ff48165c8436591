--- kshot.nn.unfold: F.unfold (im2col) and F.fold (col2im) as torch 1.13.
-- This file parses and checks the arguments; the work is the core's
-- ks_nn_unfold / ks_nn_fold (the convolution's im2col / col2im loops), each
-- the other's gradient. Loaded by kshot.nn.functional.
--   F.unfold(x, kernel_size[, dilation=1[, padding=0[, stride=1]]])
--       (or F.unfold(x, {kernel_size=, dilation=, padding=, stride=}), or
--       F.unfold(x, kernel_size, {padding=, ...})); each size an integer or {h, w}.
--       x [N, C, H, W] (or [C, H, W]) -> [N, C kh kw, L], L = oh ow sliding
--       blocks; row c kh kw + i kw + j holds x[c] at kernel offset (i, j) of
--       every block, blocks in row-major order. oh = floor((H + 2 ph - dh (kh - 1) - 1) / sh) + 1.
--   F.fold(cols, output_size, kernel_size[, dilation[, padding[, stride]]]) (same option forms)
--       the adjoint: cols [N, C kh kw, L] (or [C kh kw, L]) -> [N, C, H, W], overlapping
--       values summed (F.fold(F.unfold(x, k), size, k) multiplies each pixel by its block count).
local ks = require "kshot"
local options = require "kshot.nn.options"

local F = ks.functional

local shape_str = require("kshot.options").shape_str

local KEYS = {"kernel_size", "dilation", "padding", "stride"}

-- an integer >= min or a pair of them -> {h, w}; errors at the user's line (pair <- parse <- F fn <- user)
local function pair(v, what, min, fname)
  local p = type(v) == "table" and {v[1], v[2]} or {v, v}
  local ok = (type(v) ~= "table" or #v == 2)
  for i = 1, 2 do ok = ok and math.type(p[i]) == "integer" and p[i] >= min end
  if not ok then
    local shown = options.show(v)
    error(string.format("%s: %s must be an integer >= %d or a pair of them, got %s", fname, what, min, shown), 4)
  end
  return p
end

-- the options after the tensor (and fold's output_size): keywords, positional values, or both
local function parse(fname, order, ...)
  local n, first = select("#", ...), ...
  local o
  if n == 1 and type(first) == "table" and first[1] == nil then
    o = options.check(first, order, fname, 3)
  else
    o = {}
    for i = 1, n do
      local v = select(i, ...)
      if i == n and i > 1 and type(v) == "table" and v[1] == nil then
        for k, x in pairs(options.check(v, order, fname, 3)) do
          if o[k] ~= nil then
            error(string.format("%s: option '%s' given both positionally and in the options table", fname, k), 3)
          end
          o[k] = x
        end
      elseif i > #order then
        error(string.format("%s: too many arguments (torch's order is %s)", fname, table.concat(order, ", ")), 3)
      else
        o[order[i]] = v
      end
    end
  end
  if o.kernel_size == nil then error(fname .. ": kernel_size is required", 3) end
  return {
    k = pair(o.kernel_size, "kernel_size", 1, fname), d = pair(o.dilation or 1, "dilation", 1, fname),
    p = pair(o.padding or 0, "padding", 0, fname), s = pair(o.stride or 1, "stride", 1, fname),
    output_size = o.output_size,
  }
end

-- the number of blocks along a dim of size n (padded by p on both sides)
local function blocks(n, k, d, p, s) return (n + 2 * p - d * (k - 1) - 1) // s + 1 end

-- errors name the function and the argument, at the user's line (check <- F function <- user)
local check_float = options.check_float

--- F.unfold(x, kernel_size[, dilation=1[, padding=0[, stride=1]]]): sliding blocks as columns (see the header).
function F.unfold(x, ...)
  local fname = "unfold"
  local o = parse(fname, KEYS, ...)
  check_float(x, "input", fname)
  if x:dim() ~= 3 and x:dim() ~= 4 then
    error("unfold: expected a 3-D [C, H, W] or 4-D [N, C, H, W] input, got shape " .. shape_str(x), 2)
  end
  local h, w = x:size(-2), x:size(-1)
  local k, d, p, s = o.k, o.d, o.p, o.s
  local oh, ow = blocks(h, k[1], d[1], p[1], s[1]), blocks(w, k[2], d[2], p[2], s[2])
  if oh < 1 or ow < 1 then
    error(string.format("unfold: input of shape %s is too small for kernel_size {%d, %d} with dilation {%d, %d} and "
      .. "padding {%d, %d} (blocks: %d x %d)", shape_str(x), k[1], k[2], d[1], d[2], p[1], p[2], oh, ow), 2)
  end
  return F._unfold(x, k[1], k[2], d[1], d[2], p[1], p[2], s[1], s[2])
end

--- F.fold(cols, output_size, kernel_size[, dilation=1[, padding=0[, stride=1]]]): sums the blocks back.
function F.fold(cols, ...)
  local fname = "fold"
  local o = parse(fname, {"output_size", "kernel_size", "dilation", "padding", "stride"}, ...)
  check_float(cols, "input", fname)
  if o.output_size == nil then error("fold: output_size is required", 2) end
  local size = pair(o.output_size, "output_size", 1, "fold")
  if cols:dim() ~= 2 and cols:dim() ~= 3 then
    error("fold: expected a 2-D [C kh kw, L] or 3-D [N, C kh kw, L] input, got shape " .. shape_str(cols), 2)
  end
  local k, d, p, s = o.k, o.d, o.p, o.s
  local cdim = cols:dim() - 2
  local ck, l = cols:size(cdim), cols:size(cdim + 1)
  if ck % (k[1] * k[2]) ~= 0 then
    error(string.format("fold: dim %d of the input (%d, shape %s) must be divisible by kernel_size's product %d",
      cdim, ck, shape_str(cols), k[1] * k[2]), 2)
  end
  local h, w = size[1], size[2]
  local oh, ow = blocks(h, k[1], d[1], p[1], s[1]), blocks(w, k[2], d[2], p[2], s[2])
  if oh < 1 or ow < 1 or oh * ow ~= l then
    error(string.format("fold: output_size {%d, %d} with kernel_size {%d, %d}, dilation {%d, %d}, padding {%d, %d} "
      .. "and stride {%d, %d} gives %d x %d = %.0f blocks, but the input of shape %s has %d", h, w, k[1], k[2], d[1],
      d[2], p[1], p[2], s[1], s[2], math.max(oh, 0), math.max(ow, 0), math.max(oh, 0) * 1.0 * math.max(ow, 0),
      shape_str(cols), l), 2)
  end
  return F._fold(cols, h, w, k[1], k[2], d[1], d[2], p[1], p[2], s[1], s[2])
end

-- true, not F: F's only entry in package.loaded stays kshot.nn.functional, so tracebacks
-- and help name its functions by it (kshot.nn.functional.linear, not kshot.nn.unfold.linear)
return true
