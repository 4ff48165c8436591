--- kshot.tensor_math_extra: creation, comparison and statistics functions of
-- torch composed from kshot's tensor ops (so the differentiable ones record
-- autograd through them). Installed as ks.<name> and tensor methods by
-- kshot.tensor_extra when kshot loads: logspace, normal, isclose, dist, diff,
-- cov, corrcoef, quantile, mode, histc, bucketize, searchsorted.
-- isclose, histc, bucketize/searchsorted, mode and quantile run one C kernel
-- each (ks._isclose, ks._histc, ks._searchsorted, ks._mode, ks._quantile:
-- bindings/ks_lua_composed_kernels.c; quantile keeps its Lua composition, which
-- records autograd, for an input that requires grad); cov, corrcoef and normal
-- (numbers) run their composition's ops in one C call when nothing records a
-- gradient (ks._cov, ks._corrcoef, ks._normal); logspace without options runs linspace and pow in one
-- C call (ks._logspace, bindings/ks_lua_create.c);
-- this file keeps their names, options and argument checks. Calls without an
-- options table skip the option parsing (scripts/bench/bench_op_overhead.lua
-- "composed" times them).
local options = require "kshot.options"

local M = {}
local ks -- the kshot module, given by install
local is_tensor -- ks.is_tensor, set by install
local logspace_c -- ks._logspace (bindings/ks_lua_create.c), set by install

local shape_str = options.shape_str

local args = require "kshot.tensor_args"
local fail, check_tensor = args.fail, args.check_tensor

local function check_number(fname, what, v, level)
  if type(v) ~= "number" then fail(level + 1, "%s: argument '%s' must be a number, got %s", fname, what, type(v)) end
end

local function wrap_dim(fname, d, ndim, level)
  local r = args.wrap_dim(fname, "dim", d, ndim, level + 1) -- not a tail call: level counts this frame
  return r
end

local function as_float(t) return t:is_floating_point() and t or t:float() end

--- ks.logspace(start, stop, steps[, {base = 10, dtype = ks.float32}]): base ^ linspace(start, stop, steps).
function M.logspace(start, stop, steps, opts)
  if opts == nil then -- plain numbers: linspace and pow in one C call (bindings/ks_lua_create.c), else nil
    local r = logspace_c(start, stop, steps, 10)
    if r then return r end
  end
  check_number("logspace", "start", start, 2)
  check_number("logspace", "end", stop, 2)
  if math.type(steps) ~= "integer" or steps < 0 then
    fail(2, "logspace: argument 'steps' must be an integer >= 0, got %s", tostring(steps))
  end
  opts = options.check(opts, "logspace", { "base", "dtype" }, 2)
  local base = opts.base or 10
  check_number("logspace", "base", base, 2)
  local r = ks.pow(base, ks.linspace(start, stop, steps))
  return opts.dtype and r:to(opts.dtype) or r
end

--- ks.normal(mean, std[, size][, {generator = g}]): normal samples. mean and
-- std are numbers (then size, a list or integers, is the shape) or tensors
-- (broadcast against each other: one sample per element), as torch.normal.
-- Not differentiable (torch's gradient is zero too).
function M.normal(mean, std, size, ...)
  if select("#", ...) == 0 then -- fast path: numbers and a size list, one C call (nil when it does not fit)
    local r = ks._normal(mean, std, size)
    if r then return r end
  end
  local args = table.pack(size, ...)
  if size == nil and select("#", ...) == 0 then args.n = 0 end -- normal(mean, std): no size given
  local opts
  if args.n >= 1 and type(args[args.n]) == "table" and not (args[args.n][1] ~= nil) then
    opts = args[args.n]
    args.n = args.n - 1
  end
  opts = options.check(opts, "normal", { "generator", "dtype" }, 2)
  for _, p in ipairs({ { "mean", mean }, { "std", std } }) do
    if type(p[2]) ~= "number" and not ks.is_tensor(p[2]) then
      fail(2, "normal: argument '%s' must be a number or a tensor, got %s", p[1], type(p[2]))
    end
  end
  return ks.no_grad(function()
    local shape
    if ks.is_tensor(mean) or ks.is_tensor(std) then
      if args.n > 0 then fail(4, "normal: give a size only with a number mean and std (the tensors' shape is used)") end
      local m = ks.is_tensor(mean) and as_float(mean) or ks.tensor(mean)
      local s = ks.is_tensor(std) and as_float(std) or ks.tensor(std)
      if s:numel() > 0 and s:min():item() < 0 then fail(4, "normal: std must be >= 0, got %g", s:min():item()) end
      local ok, sum = pcall(function() return m + s end)
      if not ok then fail(4, "normal: mean %s and std %s do not broadcast", shape_str(m), shape_str(s)) end
      shape = sum:shape()
      return ks.randn(shape, { generator = opts.generator }) * s + m
    end
    if std < 0 then fail(4, "normal: std must be >= 0, got %g", std) end
    if args.n == 0 then fail(4, "normal: give a size (a list or integers) with a number mean and std") end
    shape = type(args[1]) == "table" and args[1] or { table.unpack(args, 1, args.n) }
    local r = ks.randn(shape, { generator = opts.generator }) * std + mean
    return opts.dtype and r:to(opts.dtype) or r
  end)
end

--- ks.isclose(a, b[, {rtol = 1e-5, atol = 1e-8, equal_nan = false}]) / a:isclose(b, ...):
-- a bool tensor, element-wise |a - b| <= atol + rtol * |b| (broadcasting); equal
-- infinities are close, NaN only with equal_nan (ks.allclose is its all()).
function M.isclose(a, b, opts)
  check_tensor("isclose", "input", a, 2)
  if type(b) == "number" then b = ks.tensor(b) end
  check_tensor("isclose", "other", b, 2)
  local rtol, atol, equal_nan = 1e-5, 1e-8, false
  if opts ~= nil then
    opts = options.check(opts, "isclose", { "rtol", "atol", "equal_nan" }, 2)
    rtol, atol, equal_nan = opts.rtol or rtol, opts.atol or atol, opts.equal_nan
    check_number("isclose", "rtol", rtol, 2)
    check_number("isclose", "atol", atol, 2)
  end
  local ok, r = pcall(ks._isclose, a, b, rtol, atol, equal_nan)
  if not ok then fail(2, "isclose: shapes %s and %s do not broadcast", shape_str(a), shape_str(b)) end
  return r
end

--- ks.dist(a, b[, p = 2]) / a:dist(b, p): the p-norm of a - b (broadcasting), a 0-d tensor. Differentiable.
function M.dist(a, b, p)
  check_tensor("dist", "input", a, 2)
  check_tensor("dist", "other", b, 2)
  p = p or 2
  check_number("dist", "p", p, 2)
  local ok, d = pcall(function() return a - b end)
  if not ok then fail(2, "dist: shapes %s and %s do not broadcast", shape_str(a), shape_str(b)) end
  return ks.norm(d, p)
end

--- ks.diff(t[, n = 1[, dim = -1]][, {n =, dim =, prepend =, append =}]) / t:diff(...):
-- the n-th forward difference along dim (t[1:] - t[:-1] along dim, n times),
-- prepend/append (tensors) joined to t along dim first. Differentiable.
function M.diff(t, n, dim, opts)
  check_tensor("diff", "input", t, 2)
  -- fast paths: the first difference along the last dim, one C kernel (float32 or int64 without grad),
  -- else two views and one op
  if n == nil and dim == nil and opts == nil and not t.requires_grad then
    local ok, r = pcall(ks._diff, t)
    if ok then return r end
  end
  if n == nil and dim == nil and opts == nil and t:dim() > 0 and t:dtype() ~= "bool" then
    local len = t:size(-1)
    if len > 0 then return t:narrow(-1, 1, len - 1) - t:narrow(-1, 0, len - 1) end
  end
  if type(n) == "table" then n, dim, opts = nil, nil, n
  elseif type(dim) == "table" then dim, opts = nil, dim end
  opts = options.check(opts, "diff", { "n", "dim", "prepend", "append" }, 2)
  n, dim = n or opts.n or 1, dim or opts.dim or -1
  if math.type(n) ~= "integer" or n < 0 then fail(2, "diff: argument 'n' must be an integer >= 0, got %s", tostring(n)) end
  if t:dim() == 0 then fail(2, "diff: expects a tensor with at least 1 dim, got a 0-d tensor") end
  local d = wrap_dim("diff", dim, t:dim(), 2)
  local parts = {}
  for _, k in ipairs({ "prepend", "append" }) do
    local v = opts[k]
    if v ~= nil then
      if type(v) == "number" then
        local shape = t:shape(); shape[d + 1] = 1
        v = ks.full(shape, v, t:dtype())
      end
      check_tensor("diff", k, v, 2)
      if v:dim() ~= t:dim() then
        fail(2, "diff: %s %s must have the input's number of dims (input %s)", k, shape_str(v), shape_str(t))
      end
    end
  end
  if opts.prepend then parts[#parts + 1] = opts.prepend end
  parts[#parts + 1] = t
  if opts.append then parts[#parts + 1] = opts.append end
  local x = #parts > 1 and ks.cat(parts, d) or t
  for _ = 1, n do
    local len = x:size(d)
    if len == 0 then break end
    local hi, lo = x:narrow(d, 1, len - 1), x:narrow(d, 0, len - 1)
    x = x:dtype() == "bool" and hi:logical_xor(lo) or hi - lo
  end
  return x
end

--- ks.cov(x[, {correction = 1}]) / x:cov(...): the covariance matrix of the
-- variables in the rows of x [V, N] (N observations each; a 1-d x is one
-- variable: a 0-d result), divided by N - correction. Differentiable.
function M.cov(x, opts)
  if opts == nil then -- fast path: float32 without gradient, the same ops in one C call (nil otherwise)
    local r = ks._cov(x)
    if r then return r end
  end
  check_tensor("cov", "input", x, 2)
  opts = options.check(opts, "cov", { "correction" }, 2)
  if x:dim() > 2 then fail(2, "cov: expects a 1-d or 2-d input, got %s", shape_str(x)) end
  local correction = opts.correction or 1
  if math.type(correction) ~= "integer" or correction < 0 then
    fail(2, "cov: correction must be an integer >= 0, got %s", tostring(correction))
  end
  local v = x:dim() < 2 and as_float(x):reshape({ 1, -1 }) or as_float(x)
  local n = v:size(1)
  local centered = v - v:mean(1, true)
  local c = ks.matmul(centered, centered:t()) / math.max(n - correction, 0)
  return x:dim() < 2 and c:reshape({}) or c
end

--- ks.corrcoef(x) / x:corrcoef(): Pearson correlation coefficients of the
-- variables in the rows of x [V, N], clipped to [-1, 1]. Differentiable.
function M.corrcoef(x)
  local r = ks._corrcoef(x) -- fast path as cov's
  if r then return r end
  check_tensor("corrcoef", "input", x, 2)
  local c = M.cov(x)
  if c:dim() == 0 then return c / c end
  local d = ks.diagonal(c):sqrt()
  return (c / d:unsqueeze(1) / d:unsqueeze(0)):clamp(-1, 1)
end

local QUANTILE_MODES = { linear = true, lower = true, higher = true, nearest = true, midpoint = true }

--- ks.quantile(t, q[, dim[, keepdim = false]][, {interpolation = "linear", dim =, keepdim =}]) / t:quantile(...):
-- the q-th quantiles (q: a number or a 1-d tensor in [0, 1]) of t flattened, or
-- along dim; a tensor q puts its dim first. interpolation: linear, lower,
-- higher, nearest (ties to even, as torch) or midpoint. Differentiable.
function M.quantile(t, q, dim, keepdim, opts)
  if type(dim) == "table" then dim, keepdim, opts = nil, nil, dim
  elseif type(keepdim) == "table" then keepdim, opts = nil, keepdim end
  local mode = "linear"
  if opts ~= nil then
    check_tensor("quantile", "input", t, 2) -- before the options, as the checked path below
    opts = options.check(opts, "quantile", { "interpolation", "dim", "keepdim" }, 2)
    if dim == nil then dim = opts.dim end
    if keepdim == nil then keepdim = opts.keepdim end
    mode = opts.interpolation or mode
  end
  keepdim = keepdim or false
  -- fast path: one C kernel (ks._quantile) when nothing is differentiated; the
  -- checks below run only when it fails, and name the bad argument
  if is_tensor(t) and not t.requires_grad and (dim == nil or math.type(dim) == "integer")
    and (type(q) == "number" or (is_tensor(q) and q:dtype() == "float32")) then
    local ok, r = pcall(ks._quantile, t, q, dim, keepdim, mode)
    if ok then return r end
  end
  check_tensor("quantile", "input", t, 2)
  if not QUANTILE_MODES[mode] then
    fail(2, "quantile: interpolation must be linear, lower, higher, midpoint or nearest, got %s", tostring(mode))
  end
  if not t:is_floating_point() then fail(2, "quantile: input must be float32, got %s", t:dtype()) end
  local scalar_q = type(q) == "number"
  local qt = scalar_q and ks.tensor({ q }) or q
  check_tensor("quantile", "q", qt, 2)
  if qt:dim() > 1 then fail(2, "quantile: q must be a number or a 0-d/1-d tensor, got %s", shape_str(qt)) end
  qt = as_float(qt):reshape(-1)
  if qt:numel() > 0 and (qt:min():item() < 0 or qt:max():item() > 1) then
    fail(2, "quantile: q values must be in [0, 1]")
  end
  local x, d = t, nil
  if dim == nil then x, d = t:reshape(-1), 0 else d = wrap_dim("quantile", dim, t:dim(), 2) end
  if x:dim() == 0 then x = x:reshape(1) end
  local n = x:size(d)
  if n == 0 then fail(2, "quantile: cannot compute a quantile of an empty dim") end
  local sorted = x:sort(d)
  local pos = (qt * (n - 1)):totable()
  local lo_i, hi_i, frac = {}, {}, {}
  for i, p in ipairs(pos) do
    local lo, hi = math.floor(p), math.ceil(p)
    local f = p - lo
    if mode == "lower" then hi, f = lo, 0
    elseif mode == "higher" then lo, f = hi, 0
    elseif mode == "midpoint" then f = hi > lo and 0.5 or 0
    elseif mode == "nearest" then
      local r = (f == 0.5) and (lo % 2 == 0 and lo or hi) or math.floor(p + 0.5)
      lo, hi, f = r, r, 0
    end
    lo_i[i], hi_i[i], frac[i] = lo, hi, f
  end
  local lo_v = sorted:index_select(d, ks.tensor(lo_i, ks.int64))
  local hi_v = sorted:index_select(d, ks.tensor(hi_i, ks.int64))
  local shape = {}
  for k = 1, x:dim() do shape[k] = 1 end
  shape[d + 1] = #frac
  local r = lo_v + (hi_v - lo_v) * ks.tensor(frac):reshape(shape)
  -- the q dim goes first (torch's layout); keepdim keeps a size-1 dim in place
  r = r:movedim(d, 0)
  if keepdim then
    if dim == nil then
      local ks_shape = { #frac }
      for _ = 1, t:dim() do ks_shape[#ks_shape + 1] = 1 end
      r = r:reshape(ks_shape)
    else
      r = r:unsqueeze(d + 1)
    end
  end
  if scalar_q then r = r:squeeze(0) end
  return r
end

--- ks.mode(t[, dim = -1[, keepdim = false]]) / t:mode(...): the most frequent
-- value along dim (the smallest among equally frequent ones) and the index of
-- its last occurrence, as torch.mode on the CPU: `local v, i = x:mode(1)`.
-- One C kernel (ks._mode); the values record no gradient (as before).
function M.mode(t, dim, keepdim)
  if is_tensor(t) and (dim == nil or math.type(dim) == "integer") then
    local ok, v, i = pcall(ks._mode, t, dim or -1, keepdim)
    if ok then return v, i end -- else the checks below name the bad argument
  end
  check_tensor("mode", "input", t, 2)
  local d = wrap_dim("mode", dim or -1, t:dim(), 2)
  local x = t:dim() == 0 and t:reshape(1) or t
  local moved = x:movedim(d, -1)
  local n = moved:size(-1)
  if n == 0 then fail(2, "mode: cannot compute the mode of an empty dim (input %s)", shape_str(t)) end
  local rows = moved:reshape({ -1, n })
  local sv, si = ks.no_grad(function() return rows:sort(1, { stable = true }) end)
  local vals, idxs = sv:totable(), si:totable()
  local best_v, best_i = {}, {}
  for r = 1, #vals do
    local v, ix = vals[r], idxs[r]
    local bv, bi, blen = v[1], ix[1], 0
    local j = 1
    while j <= n do
      local k = j
      while k < n and v[k + 1] == v[j] do k = k + 1 end
      local len, last = k - j + 1, ix[j]
      for m = j, k do if ix[m] > last then last = ix[m] end end
      if len > blen then bv, bi, blen = v[j], last, len end
      j = k + 1
    end
    best_v[r], best_i[r] = bv, bi
  end
  local out_shape = moved:shape()
  out_shape[#out_shape] = nil
  local values = ks.tensor(best_v, t:dtype()):reshape(out_shape)
  local indices = ks.tensor(best_i, ks.int64):reshape(out_shape)
  if keepdim and t:dim() > 0 then values, indices = values:unsqueeze(d), indices:unsqueeze(d) end
  return values, indices
end

--- ks.histc(t[, bins = 100[, min = 0[, max = 0]]]) / t:histc(...) (or {bins =, min =, max =}):
-- a float32 histogram of t's values in bins equal bins over [min, max] (both
-- 0: t's own min and max); values outside are ignored, max falls in the last bin.
function M.histc(t, bins, lo, hi)
  check_tensor("histc", "input", t, 2)
  if math.type(bins) == "integer" and bins >= 1 and type(lo) == "number" and type(hi) == "number" and lo <= hi then
    return ks._histc(t, bins, lo, hi) -- fast path: the arguments are plain and valid
  end
  if type(bins) == "table" then
    local opts = options.check(bins, "histc", { "bins", "min", "max" }, 2)
    bins, lo, hi = opts.bins, opts.min, opts.max
  end
  bins, lo, hi = bins or 100, lo or 0, hi or 0
  if math.type(bins) ~= "integer" or bins < 1 then fail(2, "histc: bins must be an integer >= 1, got %s", tostring(bins)) end
  check_number("histc", "min", lo, 2)
  check_number("histc", "max", hi, 2)
  if lo > hi then fail(2, "histc: max must be >= min, got min %g and max %g", lo, hi) end
  return ks._histc(t, bins, lo, hi)
end

--- ks.bucketize(input, boundaries[, {right = false, out_int32 = false}]): the bucket
-- index of each value of input (a tensor or a number) for the increasing 1-d
-- boundaries: i with boundaries[i-1] < x <= boundaries[i] (right: boundaries[i-1] <= x < boundaries[i]).
function M.bucketize(input, boundaries, opts)
  local right = false
  if opts ~= nil then right = options.check(opts, "bucketize", { "right", "out_int32" }, 2).right end
  if type(input) == "number" then input = ks.tensor(input) end
  check_tensor("bucketize", "input", input, 2)
  check_tensor("bucketize", "boundaries", boundaries, 2)
  if boundaries:dim() ~= 1 then fail(2, "bucketize: boundaries must be 1-d, got %s", shape_str(boundaries)) end
  return ks._searchsorted(boundaries, input, right)
end

--- ks.searchsorted(sorted_sequence, values[, {right = false, side = "left" | "right"}]):
-- for each value, the index where it would be inserted into sorted_sequence
-- (1-d, or [..., M] with values [..., K] sharing the leading dims) keeping it
-- sorted: the first such index, the last with right = true or side = "right".
local NO_OPTS = setmetatable({}, { __newindex = function() error("read-only", 2) end })

function M.searchsorted(seq, values, opts)
  opts = opts == nil and NO_OPTS or options.check(opts, "searchsorted", { "right", "side", "out_int32" }, 2)
  check_tensor("searchsorted", "sorted_sequence", seq, 2)
  local scalar = type(values) == "number"
  if scalar then values = ks.tensor(values) end
  check_tensor("searchsorted", "values", values, 2)
  if opts.side ~= nil and opts.side ~= "left" and opts.side ~= "right" then
    fail(2, "searchsorted: side must be \"left\" or \"right\", got %s", tostring(opts.side))
  end
  if opts.side == "left" and opts.right then fail(2, "searchsorted: side \"left\" contradicts right = true") end
  local right = opts.right or opts.side == "right"
  if seq:dim() == 0 then fail(2, "searchsorted: sorted_sequence must have at least 1 dim, got a 0-d tensor") end
  if seq:dim() == 1 then return ks._searchsorted(seq, values, right) end
  local lead_ok = values:dim() == seq:dim()
  for i = 0, seq:dim() - 2 do lead_ok = lead_ok and values:size(i) == seq:size(i) end
  if not lead_ok then
    fail(2, "searchsorted: sorted_sequence %s and values %s must share all dims but the last",
      shape_str(seq), shape_str(values))
  end
  return ks._searchsorted(seq, values, right)
end

M.FUNCTIONS = { "logspace", "normal", "isclose", "dist", "diff", "cov", "corrcoef", "quantile", "mode", "histc",
  "bucketize", "searchsorted" }
M.METHODS = { "isclose", "dist", "diff", "cov", "corrcoef", "quantile", "mode", "histc" }

function M.install(module)
  ks = module
  is_tensor = ks.is_tensor
  logspace_c = ks._logspace
end

return M
