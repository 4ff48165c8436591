--- kshot.nn.conv_extra: 1-D convolution and pools, and the transposed 2-D
-- convolution, as torch 1.13's F.* (loaded by kshot.nn.functional).
-- No kernels of their own: the 1-D ops run the 2-D kernels on a unit height
-- (views, no copies), the transposed convolution is one GEMM and col2im.
--   F.conv1d(x, weight[, bias][, {stride=1, padding=0, dilation=1, groups=1}])
--       x [N, Ci, L] (or [Ci, L]), weight [Co, Ci/groups, k], bias [Co]
--       -> [N, Co, Lo], Lo = floor((L + 2 padding - dilation (k - 1) - 1) / stride) + 1
--   F.max_pool1d(x, kernel_size[, {stride=kernel_size, padding=0, ceil_mode=false}])
--   F.avg_pool1d(x, kernel_size[, {stride=kernel_size, padding=0, ceil_mode=false, count_include_pad=true}])
--   F.adaptive_avg_pool1d(x, output_size)      x [N, C, L] (or [C, L])
--   F.conv_transpose2d(x, weight[, bias][, {stride=1, padding=0, output_padding=0, groups=1, dilation=1}])
--       the gradient of conv2d with respect to its input: x [N, Ci, H, W] (or
--       [Ci, H, W]), weight [Ci, Co/groups, kh, kw] (PyTorch's layout), bias [Co]
--       -> [N, Co, Ho, Wo], Ho = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1;
--       output_padding must be below stride or dilation. Computed as cols =
--       weight^T x (one GEMM per group) folded by col2im (F.fold), so its
--       gradients are those of matmul and fold (unfold).
-- Sizes are integers, or lists of one ({3}) for the 1-D ops and pairs ({h, w}) for conv_transpose2d.
local ks = require "kshot"
local options = require "kshot.nn.options"

local F = ks.functional

local shape_str = require("kshot.options").shape_str
local check_float = options.check_float

-- v: an integer >= min or a list of one; errors at the user's line (single <- parser <- F fn <- user)
local function single(v, what, min, fname)
  local n = v
  if type(v) == "table" then n = #v == 1 and v[1] or nil end
  if math.type(n) ~= "integer" or n < min then
    error(string.format("%s: %s must be an integer >= %d (or a list of one), got %s", fname, what, min, options.show(v)), 4)
  end
  return n
end

local function pair(v, what, min, fname)
  local p = type(v) == "table" and {v[1], v[2]} or {v, v}
  local ok = type(v) ~= "table" or #v == 2
  for i = 1, 2 do ok = ok and math.type(p[i]) == "integer" and p[i] >= min end
  if not ok then
    error(string.format("%s: %s must be an integer >= %d or a pair of them, got %s", fname, what, min, options.show(v)), 4)
  end
  return p
end

-- (bias, opts) of f(x, weight[, bias][, opts]): the bias may be left out before the options table
local function bias_opts(fname, b, opts, known)
  if b ~= nil and not ks.is_tensor(b) then
    if type(b) ~= "table" or opts ~= nil then
      error(string.format("%s: argument 'bias' must be a tensor or nil, got %s", fname, type(b)), 4)
    end
    b, opts = nil, b
  end
  if b ~= nil then check_float(b, "bias", fname) end
  return b, options.check(opts, known, fname, 4)
end

local function check_groups(g, fname)
  if math.type(g) ~= "integer" or g < 1 then
    error(string.format("%s: groups must be a positive integer, got %s", fname, tostring(g)), 3)
  end
  return g
end

local function check_bias(b, co, fname)
  if b ~= nil and (b:dim() ~= 1 or b:size(0) ~= co) then
    error(string.format("%s: bias of shape %s does not match %d output channels", fname, shape_str(b), co), 3)
  end
end

--- F.conv1d(x, weight[, bias][, {stride=1, padding=0, dilation=1, groups=1}]): conv2d on a unit height
function F.conv1d(x, w, b, opts)
  check_float(x, "input", "conv1d")
  check_float(w, "weight", "conv1d")
  b, opts = bias_opts("conv1d", b, opts, {"stride", "padding", "dilation", "groups"})
  local s = single(opts.stride or 1, "stride", 1, "conv1d")
  local p = single(opts.padding or 0, "padding", 0, "conv1d")
  local d = single(opts.dilation or 1, "dilation", 1, "conv1d")
  local g = check_groups(opts.groups or 1, "conv1d")
  if (x:dim() ~= 3 and x:dim() ~= 2) or w:dim() ~= 3 then
    error(string.format("conv1d: expected a 3-D input [N, C, L] (or 2-D [C, L]) and a 3-D weight [Co, Ci/groups, k], got %s and %s",
      shape_str(x), shape_str(w)), 2)
  end
  local batched = x:dim() == 3
  local x3 = batched and x or x:unsqueeze(0)
  local co, k, ci = w:size(0), w:size(2), x3:size(1)
  if co % g ~= 0 or w:size(1) * g ~= ci then
    error(string.format("conv1d: input of shape %s with groups=%d does not match weight of shape %s (expected %d input channels%s)",
      shape_str(x), g, shape_str(w), w:size(1) * g, co % g ~= 0 and string.format(", and out channels divisible by %d", g) or ""), 2)
  end
  check_bias(b, co, "conv1d")
  if x3:size(2) + 2 * p < d * (k - 1) + 1 then
    error(string.format("conv1d: kernel %d (dilation %d) is larger than the padded input length %d (input of shape %s)", k, d,
      x3:size(2) + 2 * p, shape_str(x)), 2)
  end
  local y = F.conv2d(x3:unsqueeze(2), w:unsqueeze(2), b, {stride = {1, s}, padding = {0, p}, dilation = {1, d}, groups = g})
  y = y:squeeze(2)
  return batched and y or y:squeeze(0)
end

-- x [N, C, L] or [C, L] -> the 2-D pool's [N, C, 1, L] / [C, 1, L]
local function pool_input(x, fname)
  check_float(x, "input", fname)
  if x:dim() ~= 3 and x:dim() ~= 2 then
    error(string.format("%s: expected a 3-D input [N, C, L] (or 2-D [C, L]), got shape %s", fname, shape_str(x)), 3)
  end
  return x:unsqueeze(-2)
end

local function pool1d(fname, pool2d, keys)
  return function(x, kernel, opts)
    local x4 = pool_input(x, fname)
    if type(kernel) == "table" and kernel[1] == nil and opts == nil then -- F.max_pool1d(x, {kernel_size = 3, ...})
      opts = {}
      for k, v in pairs(kernel) do if k ~= "kernel_size" then opts[k] = v end end
      kernel = kernel.kernel_size
    end
    opts = options.check(opts, keys, fname, 2)
    if kernel == nil then error(fname .. ": kernel_size is required", 2) end
    local k = single(kernel, "kernel_size", 1, fname)
    local s = single(opts.stride or k, "stride", 1, fname)
    local p = single(opts.padding or 0, "padding", 0, fname)
    if p > k // 2 then
      error(string.format("%s: padding %d must be at most half of kernel_size %d", fname, p, k), 2)
    end
    if x:size(-1) + 2 * p < k then
      error(string.format("%s: kernel_size %d is larger than the padded input length %d (input of shape %s)", fname, k,
        x:size(-1) + 2 * p, shape_str(x)), 2)
    end
    local o = {stride = {1, s}, padding = {0, p}}
    for _, key in ipairs(keys) do
      if key ~= "stride" and key ~= "padding" then o[key] = opts[key] end
    end
    return pool2d(x4, {1, k}, o):squeeze(-2)
  end
end

--- F.max_pool1d(x, kernel_size[, {stride=kernel_size, padding=0, ceil_mode=false}])
F.max_pool1d = pool1d("max_pool1d", F.max_pool2d, {"stride", "padding", "ceil_mode"})
--- F.avg_pool1d(x, kernel_size[, {stride=kernel_size, padding=0, ceil_mode=false, count_include_pad=true}])
F.avg_pool1d = pool1d("avg_pool1d", F.avg_pool2d, {"stride", "padding", "ceil_mode", "count_include_pad"})

--- F.adaptive_avg_pool1d(x, output_size): x [N, C, L] (or [C, L]) -> [N, C, output_size]
function F.adaptive_avg_pool1d(x, size)
  local x4 = pool_input(x, "adaptive_avg_pool1d")
  if type(size) == "table" and size[1] == nil then
    size = options.check(size, {"output_size"}, "adaptive_avg_pool1d", 2).output_size
  end
  local n = single(size, "output_size", 1, "adaptive_avg_pool1d")
  return F.adaptive_avg_pool2d(x4, {1, n}):squeeze(-2)
end

local CT_KEYS = {"stride", "padding", "output_padding", "groups", "dilation"}

--- F.conv_transpose2d(x, weight[, bias][, {stride=1, padding=0, output_padding=0, groups=1, dilation=1}])
function F.conv_transpose2d(x, w, b, opts)
  local fname = "conv_transpose2d"
  check_float(x, "input", fname)
  check_float(w, "weight", fname)
  b, opts = bias_opts(fname, b, opts, CT_KEYS)
  local s = pair(opts.stride or 1, "stride", 1, fname)
  local p = pair(opts.padding or 0, "padding", 0, fname)
  local op = pair(opts.output_padding or 0, "output_padding", 0, fname)
  local d = pair(opts.dilation or 1, "dilation", 1, fname)
  local g = check_groups(opts.groups or 1, fname)
  for i = 1, 2 do
    if op[i] >= s[i] and op[i] >= d[i] then
      error(string.format("%s: output_padding %s must be smaller than either stride %s or dilation %s", fname,
        options.show(op), options.show(s), options.show(d)), 2)
    end
  end
  if (x:dim() ~= 4 and x:dim() ~= 3) or w:dim() ~= 4 then
    error(string.format("%s: expected a 4-D input [N, C, H, W] (or 3-D [C, H, W]) and a 4-D weight [Ci, Co/groups, kh, kw], got %s and %s",
      fname, shape_str(x), shape_str(w)), 2)
  end
  local batched = x:dim() == 4
  local x4 = batched and x or x:unsqueeze(0)
  local n, ci, h, wd = x4:size(0), x4:size(1), x4:size(2), x4:size(3)
  local cog, kh, kw = w:size(1), w:size(2), w:size(3)
  if w:size(0) ~= ci or ci % g ~= 0 then
    error(string.format("%s: input of shape %s does not match weight of shape %s with groups=%d (expected %d input channels%s)",
      fname, shape_str(x), shape_str(w), g, w:size(0), ci % g ~= 0 and string.format(", divisible by %d", g) or ""), 2)
  end
  local co = cog * g
  check_bias(b, co, fname)
  local k = {kh, kw}
  local out = {}
  for i, len in ipairs({h, wd}) do
    out[i] = (len - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1
  end
  if out[1] < 1 or out[2] < 1 then
    error(string.format("%s: input of shape %s with kernel {%d, %d}, stride %s, padding %s gives an empty output %d x %d",
      fname, shape_str(x), kh, kw, options.show(s), options.show(p), out[1], out[2]), 2)
  end
  -- cols [N, g Cog kh kw, H W] = per group weight_g^T [Cog kh kw, Ci/g] @ x_g [Ci/g, H W]
  local kk = cog * kh * kw
  local wt = w:reshape(g, ci // g, kk):transpose(1, 2)
  local cols = ks.matmul(wt, x4:reshape(n, g, ci // g, h * wd)):reshape(n, g * kk, h * wd)
  local y
  if op[1] < s[1] and op[2] < s[2] then
    -- fold onto the output with its padding: exactly H x W blocks since output_padding < stride
    y = F.fold(cols, out, k, d, p, s)
  else
    -- output_padding >= stride (allowed below dilation): fold the whole unpadded extent, then
    -- crop the padding; rows and columns past it get no contributions (zeros)
    local full = {(h - 1) * s[1] + d[1] * (kh - 1) + 1, (wd - 1) * s[2] + d[2] * (kw - 1) + 1}
    y = F.fold(cols, full, k, d, 0, s)
    local extra = {math.max(0, p[1] + out[1] - full[1]), math.max(0, p[2] + out[2] - full[2])}
    if extra[1] > 0 or extra[2] > 0 then y = ks.pad(y, {0, extra[2], 0, extra[1]}) end
    y = y:narrow(2, p[1], out[1]):narrow(3, p[2], out[2])
  end
  if b ~= nil then y = y + b:reshape(1, co, 1, 1) end
  return batched and y or y:squeeze(0)
end

-- true, not F: F's only entry in package.loaded stays kshot.nn.functional, so tracebacks
-- and help name its functions by it (kshot.nn.functional.linear, not kshot.nn.unfold.linear)
return true
