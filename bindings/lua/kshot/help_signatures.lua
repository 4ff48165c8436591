--- kshot.help_signatures: the call shape and one-line summary of every public name whose only
-- documentation used to be a pointer to PyTorch's (ks.add, t:sum, nn.ReLU, optim.Adam, ...).
--
-- Data for kshot.help, loaded only when help needs it (never by require "kshot"). Keys are help's
-- names ("ks.add", "t:add", "t:add_", "nn.ReLU", "optim.Adam", "optim.lr_scheduler.StepLR");
-- each value is
--   { sig = "the call(s) in kshot's convention, one per line",
--     "one-line summary",
--     kshot = "what differs from PyTorch (nil when nothing does)",
--     torch = "torch.X" (the PyTorch pointer; nil: derived from the name; false: kshot's own) }
-- The signatures are read from the bindings (bindings/ks_lua_*.c, the Lua modules), not from
-- PyTorch's docs; spec/help_spec.lua checks that every key is a public callable that help would
-- otherwise show as a bare pointer, and that the option names inside a signature's {...} are the
-- ones the function accepts.
local S = {}

-- the notes that many entries share
local DIMS = "dims are 0-based, negative from the end"
local INPLACE = "in place, returns t; not recorded by autograd, so under grad mode it refuses a tensor that "
  .. "requires grad (wrap it in ks.no_grad(function() ... end))"
local OUT = "keyword arguments go in one options table; out = r writes into r and returns it (not recorded "
  .. "by autograd)"

local function entry(name, sig, summary, kshot, torch)
  S[name] = { sig = sig, summary, kshot = kshot, torch = torch }
end

-- the in-place twin t:<n>_ of an out-of-place t:<n>; table_args: a second form with an options table
local function inplace(n, args, what, extra, table_args)
  local sig = ("t:%s_(%s) -> t"):format(n, args or "")
  if table_args then sig = sig .. ("\nt:%s_(%s) -> t"):format(n, table_args) end
  entry("t:" .. n .. "_", sig, ("In-place %s: t is overwritten with t:%s(...)."):format(what, n),
    INPLACE .. (extra and "; " .. extra or ""))
end

---------------------------------------------------------------- element-wise, two operands
-- ks_lua_elementwise.c: f(a, b[, {out =}]), add/sub also alpha; a or b may be a Lua number
local BINARY = {
  add = { "a + alpha * b", true }, sub = { "a - alpha * b", true }, subtract = { "a - alpha * b (ks.sub)", true },
  mul = { "a * b" }, multiply = { "a * b (ks.mul)" }, div = { "a / b, always true division" },
  divide = { "a / b (ks.div)" }, true_divide = { "a / b (ks.div)" },
  floor_divide = { "floor(a / b) (rounds toward -inf, as torch 1.13's floor_divide)" },
  remainder = { "a - floor(a / b) * b: the sign of b (Lua's %)" }, fmod = { "C's fmod: the sign of a" },
  pow = { "a ^ b" }, maximum = { "element-wise max (NaN wins)" }, minimum = { "element-wise min (NaN wins)" },
  atan2 = { "atan2(a, b), the angle of the point (b, a)" },
  logical_and = { "a and b, as bool" }, logical_or = { "a or b, as bool" }, logical_xor = { "a xor b, as bool" },
  bitwise_and = { "a & b (integer and bool tensors)" }, bitwise_or = { "a | b (integer and bool tensors)" },
  bitwise_xor = { "a ~ b (integer and bool tensors)" },
}
local CMP = { eq = "a == b", ne = "a ~= b", not_equal = "a ~= b (ks.ne)", lt = "a < b", less = "a < b (ks.lt)",
  le = "a <= b", less_equal = "a <= b (ks.le)", gt = "a > b", greater = "a > b (ks.gt)", ge = "a >= b",
  greater_equal = "a >= b (ks.ge)" }
local OPERATOR = { add = "+", sub = "-", mul = "*", div = "/", floor_divide = "//", remainder = "%", pow = "^",
  bitwise_and = "&", bitwise_or = "|", bitwise_xor = "~" }

for n, d in pairs(BINARY) do
  local opts = d[2] and "{alpha = 1, out = r}" or "{out = r}"
  local op = OPERATOR[n] and ("; the Lua operator a %s b calls it"):format(OPERATOR[n]) or ""
  entry("ks." .. n, ("ks.%s(a, b[, %s])"):format(n, opts), ("Element-wise %s, broadcasting a and b."):format(d[1]),
    "a or b may be a Lua number; " .. OUT .. op .. (n == "div" and "; no rounding_mode (use floor_divide, or "
      .. "t:div(b):trunc())" or ""))
  entry("t:" .. n, ("t:%s(other[, %s])"):format(n, opts), ("Element-wise %s with a = t, b = other."):format(d[1]),
    "other may be a Lua number; " .. OUT .. op)
  inplace(n, d[2] and "other[, {alpha = 1}]" or "other", n, "the result is cast to t's dtype")
end
for n, what in pairs(CMP) do
  local note = "Lua's == < <= on tensors do not compare elements (== is identity): call this instead; "
    .. "b may be a Lua number; " .. OUT
  entry("ks." .. n, ("ks.%s(a, b[, {out = r}])"):format(n), ("Element-wise %s, broadcasting: a bool tensor."):format(what),
    note)
  entry("t:" .. n, ("t:%s(other[, {out = r}])"):format(n), ("Element-wise %s with a = t: a bool tensor."):format(what),
    note)
  inplace(n, "other", "comparison", "t keeps its dtype and holds 1 where true, 0 where false")
end

---------------------------------------------------------------- element-wise, one operand
local UNARY = {
  neg = "-t (the Lua operator -t calls it)", negative = "-t (ks.neg)", abs = "|t|",
  sign = "-1, 0 or 1 by the sign of each element", exp = "e^t", exp2 = "2^t", expm1 = "e^t - 1, exact near 0",
  log = "natural logarithm", log2 = "base-2 logarithm", log10 = "base-10 logarithm", log1p = "log(1 + t), exact near 0",
  sqrt = "square root", rsqrt = "1 / sqrt(t)", reciprocal = "1 / t", square = "t * t", sin = "sine", cos = "cosine",
  tan = "tangent", floor = "round toward -inf", ceil = "round toward +inf",
  round = "round half to even (0.5 -> 0, 1.5 -> 2), as torch", trunc = "round toward 0",
  frac = "t - trunc(t), the sign of t", erf = "the error function", logical_not = "not t, as bool",
  bitwise_not = "~t on integer and bool tensors (the Lua operator ~t calls it)",
}
local FLOAT_RESULT = { exp = true, exp2 = true, expm1 = true, log = true, log2 = true, log10 = true, log1p = true,
  sqrt = true, rsqrt = true, reciprocal = true, sin = true, cos = true, tan = true, erf = true }
for n, what in pairs(UNARY) do
  local note = "out = r in an options table writes into r (not recorded by autograd)"
    .. (FLOAT_RESULT[n] and "; integer inputs give float32 (kshot's only float dtype)" or "")
  entry("ks." .. n, ("ks.%s(t[, {out = r}])"):format(n), ("Element-wise %s."):format(what), note)
  entry("t:" .. n, ("t:%s([{out = r}])"):format(n), ("Element-wise %s."):format(what), note)
  inplace(n, nil, n)
end
for n, what in pairs({ isfinite = "finite (not NaN, not +-inf)", isnan = "NaN", isinf = "+inf or -inf" }) do
  entry("ks." .. n, ("ks.%s(t[, {out = r}])"):format(n), ("A bool tensor: true where t is %s."):format(what),
    "out = r in an options table writes into r; no in-place form")
  entry("t:" .. n, ("t:%s([{out = r}])"):format(n), ("A bool tensor: true where t is %s."):format(what),
    "out = r in an options table writes into r; no in-place form")
end
-- the in-place twins of activations documented with F (F.relu/silu/tanh/sigmoid)
inplace("relu", nil, "max(t, 0)")
inplace("sigmoid", nil, "1 / (1 + e^-t)")
inplace("tanh", nil, "tanh")
inplace("clamp", "[min][, max]", "clamp to [min, max]", nil, "{min =, max =}")
inplace("clip", "[min][, max]", "clip to [min, max] (t:clamp_)", nil, "{min =, max =}")
inplace("nan_to_num", "[nan = 0[, posinf[, neginf]]]", "NaN and +-inf replacement", nil, "{nan =, posinf =, neginf =}")
inplace("lerp", "stop, weight", "linear interpolation t + weight * (stop - t)", "weight a number or a tensor")
inplace("addcmul", "t1, t2[, value = 1]", "t + value * t1 * t2", nil, "t1, t2, {value =}")
inplace("addcdiv", "t1, t2[, value = 1]", "t + value * t1 / t2", nil, "t1, t2, {value =}")

entry("ks.clip", "ks.clip(t[, min][, max])\nks.clip(t, {min =, max =})",
  "Clamp every element to [min, max] (one side may be nil): the same function as ks.clamp.",
  "min and max are Lua numbers (no tensor bounds); at least one must be given")
entry("t:clip", "t:clip([min][, max])\nt:clip{min =, max =}", "Clamp every element to [min, max]: t:clamp.",
  "min and max are Lua numbers (no tensor bounds); at least one must be given")
entry("ks.addcdiv", "ks.addcdiv(t, t1, t2[, value = 1])\nks.addcdiv(t, t1, t2, {value =})",
  "t + value * t1 / t2, broadcasting.",
  "value positional or in a table (torch's keyword; no out=); not differentiable: refuses inputs that require grad")
entry("t:addcdiv", "t:addcdiv(t1, t2[, value = 1])\nt:addcdiv(t1, t2, {value =})",
  "t + value * t1 / t2, broadcasting.",
  "value positional or in a table (torch's keyword; no out=); not differentiable: refuses inputs that require grad")

---------------------------------------------------------------- reductions (ks_lua_reduce.c)
local function both(n, fsig, msig, summary, kshot)
  entry("ks." .. n, fsig, summary, kshot)
  entry("t:" .. n, msig, summary, kshot)
end
local RED = "dim: one dim or a list {0, 2}, none = every dim; " .. DIMS
  .. "; the options table {dim =, keepdim =} may replace the positional arguments; no dtype/out arguments"
for n, what in pairs({ sum = "Sum", mean = "Mean (float input)", prod = "Product", amax = "Maximum (ties share the gradient)",
  amin = "Minimum (ties share the gradient)", any = "true when any element is non-zero (bool)",
  all = "true when every element is non-zero (bool)", logsumexp = "log(sum(exp(t))), computed stably",
  count_nonzero = "The number of non-zero elements (int64)" }) do
  both(n, ("ks.%s(t[, dim][, keepdim = false])\nks.%s(t, {dim =, keepdim =})"):format(n, n),
    ("t:%s([dim][, keepdim = false])\nt:%s{dim =, keepdim =}"):format(n, n),
    ("%s over dim (or every element)."):format(what), RED
      .. ((n == "prod" or n == "logsumexp") and "; several dims at once, unlike torch" or ""))
end
local EXTREME = "with dim: two values, not a tuple (local v, i = t:%s(1)); indices int64 and 0-based; "
  .. "with a tensor other: the element-wise ks.%s; no dim: a 0-d tensor (an error on an empty tensor)"
both("max", "ks.max(t) / ks.max(t, dim[, keepdim = false]) -> values, indices\nks.max(t, other)",
  "t:max() / t:max(dim[, keepdim = false]) -> values, indices\nt:max(other)",
  "The largest element, the largest along dim with its index, or the element-wise maximum.",
  EXTREME:format("max", "maximum") .. "; " .. DIMS)
both("min", "ks.min(t) / ks.min(t, dim[, keepdim = false]) -> values, indices\nks.min(t, other)",
  "t:min() / t:min(dim[, keepdim = false]) -> values, indices\nt:min(other)",
  "The smallest element, the smallest along dim with its index, or the element-wise minimum.",
  EXTREME:format("min", "minimum") .. "; " .. DIMS)
for n, what in pairs({ argmax = "largest", argmin = "smallest" }) do
  both(n, ("ks.%s(t[, dim][, keepdim = false])\nks.%s(t, {dim =, keepdim =})"):format(n, n),
    ("t:%s([dim][, keepdim = false])\nt:%s{dim =, keepdim =}"):format(n, n),
    ("The int64 index of the %s element along dim (no dim: into the flattened t)."):format(what),
    "indices are 0-based (first of ties); " .. DIMS)
end
local VAR = "correction a number (1 = Bessel, 0 = population); a boolean after dim is torch's unbiased, not keepdim "
  .. "(t:std(0, false) is the population sd); dim: one dim or a list; " .. DIMS
for n, what in pairs({ var = "Variance", std = "Standard deviation", var_mean = "Variance and mean (two values)",
  std_mean = "Standard deviation and mean (two values)" }) do
  both(n, ("ks.%s(t[, dim][, correction = 1][, keepdim = false])\nks.%s(t, dim, unbiased[, keepdim])\n"
      .. "ks.%s(t, {dim =, correction =, unbiased =, keepdim =})\nks.%s(t, dim, {correction =, unbiased =, keepdim =})")
      :format(n, n, n, n),
    ("t:%s([dim][, correction = 1][, keepdim = false])\nt:%s(dim, unbiased[, keepdim])\n"
      .. "t:%s{dim =, correction =, unbiased =, keepdim =}\nt:%s(dim, {correction =, unbiased =, keepdim =})")
      :format(n, n, n, n),
    ("%s over dim (or every element)."):format(what),
    VAR .. (n:match("_mean$") and "; returns two values, not a tuple" or ""))
end
both("norm", "ks.norm(t[, p = 2][, dim][, keepdim = false])\nks.norm(t, {p =, dim =, keepdim =})",
  "t:norm([p = 2][, dim][, keepdim = false])\nt:norm{p =, dim =, keepdim =}",
  "The p-norm over dim (or every element); p a number (math.huge, -math.huge, 0, 1, 2, ...) or \"fro\".",
  "infinity is math.huge; no dtype/out arguments; " .. DIMS)
for n, what in pairs({ cumsum = "Cumulative sum", cumprod = "Cumulative product" }) do
  both(n, ("ks.%s(t, dim)\nks.%s(t, {dim =})"):format(n, n), ("t:%s(dim)\nt:%s{dim =}"):format(n, n),
    ("%s along dim."):format(what), "no dtype argument; " .. DIMS)
end

---------------------------------------------------------------- views and shape (ks_lua_tensor.c, ks_lua_shape.c)
local VIEW = "returns a view sharing t's storage"
both("view", "ks.view(t, size...) / ks.view(t, {sizes})", "t:view(size...) / t:view{sizes}",
  "The same elements with a new shape (one size may be -1); t's strides must allow it.",
  VIEW .. "; no view(dtype) reinterpretation")
both("reshape", "ks.reshape(t, size...) / ks.reshape(t, {sizes})", "t:reshape(size...) / t:reshape{sizes}",
  "The same elements with a new shape (one size may be -1): a view when possible, else a copy.", nil)
entry("t:reshape_as", "t:reshape_as(other)", "t:reshape with other's shape.", nil)
both("transpose", "ks.transpose(t, dim0, dim1)", "t:transpose(dim0, dim1)", "dim0 and dim1 swapped.",
  VIEW .. "; " .. DIMS)
both("permute", "ks.permute(t, dims...) / ks.permute(t, {dims})", "t:permute(dims...) / t:permute{dims}",
  "The dims reordered: dim i of the result is dim dims[i] of t.", VIEW .. "; " .. DIMS)
both("narrow", "ks.narrow(t, dim, start, length)", "t:narrow(dim, start, length)",
  "The slice start .. start + length - 1 along dim.", VIEW .. "; start is 0-based (negative from the end); " .. DIMS)
both("select", "ks.select(t, dim, index)", "t:select(dim, index)", "The slice at index along dim, that dim removed.",
  VIEW .. "; index 0-based (negative from the end); " .. DIMS)
both("squeeze", "ks.squeeze(t[, dim])", "t:squeeze([dim])", "Size-1 dims removed (only dim when given).",
  VIEW .. "; " .. DIMS)
both("unsqueeze", "ks.unsqueeze(t, dim)", "t:unsqueeze(dim)", "A size-1 dim inserted at dim.",
  VIEW .. "; dim in -(t:dim() + 1) .. t:dim()")
both("flip", "ks.flip(t, dims...) / ks.flip(t, {dims})", "t:flip(dims...) / t:flip{dims}", "The order reversed along dims.",
  "returns a view with negative strides sharing t's storage, where torch copies; " .. DIMS)
both("clone", "ks.clone(t)", "t:clone()", "A copy with its own storage, recorded by autograd.",
  "no memory_format argument")
both("numel", "ks.numel(t)", "t:numel()", "The number of elements, a Lua integer.", nil)
entry("t:nelement", "t:nelement()", "The number of elements, a Lua integer (t:numel).", nil)
entry("t:dim", "t:dim()", "The number of dims, a Lua integer (also the field t.ndim).", nil)
entry("t:expand", "t:expand(size...) / t:expand{sizes}",
  "t broadcast to sizes without copying (-1 keeps a size; new dims go in front).", VIEW .. " (stride 0 where expanded)")
entry("t:expand_as", "t:expand_as(other)", "t:expand with other's shape.", VIEW)
entry("t:contiguous", "t:contiguous()",
  "t itself when its elements are in row-major order, else a contiguous copy.", "no memory_format argument")
entry("t:is_contiguous", "t:is_contiguous()", "true when t's elements are in row-major order.", nil)
entry("t:storage_offset", "t:storage_offset()", "The index of t's first element in its storage, a Lua integer.", nil)
entry("t:stride", "t:stride() -> {strides}\nt:stride(dim)",
  "The step, in elements, between neighbours along each dim (or along dim).",
  "the list is a 1-based Lua array (stride()[1] is dim 0's); dim is 0-based")
entry("t:shares_storage", "t:shares_storage(other)", "true when t and other are views of the same storage.",
  nil, false)
both("tile", "ks.tile(t, reps...) / ks.tile(t, {reps})", "t:tile(reps...) / t:tile{reps}",
  "t repeated reps[i] times along each dim; fewer reps than dims repeat the last dims.", nil)
both("triu", "ks.triu(t[, diagonal = 0])", "t:triu([diagonal = 0])",
  "The upper triangle of the matrices in t's last two dims (the rest zero); diagonal > 0 starts above the main one.",
  nil)
entry("ks.concat", "ks.concat({a, b, ...}[, dim = 0])", "The tensors joined along dim: the same function as ks.cat.",
  "the tensors in one Lua list; " .. DIMS)
entry("ks.vstack", "ks.vstack({a, b, ...})", "The tensors stacked as rows: 1-d ones become rows, then ks.cat along dim 0.",
  "the tensors in one Lua list")
for _, n in ipairs({ "moveaxis", "swapdims" }) do
  local real = n == "moveaxis" and "movedim" or "swapaxes"
  local args = n == "moveaxis" and "source, destination" or "dim0, dim1"
  local what = n == "moveaxis" and "The dims source (an integer or a list) moved to the positions destination."
    or "dim0 and dim1 swapped: t:transpose(dim0, dim1)."
  entry("ks." .. n, ("ks.%s(t, %s)"):format(n, args), what .. (" The same function as ks.%s."):format(real),
    VIEW .. "; " .. DIMS)
  entry("t:" .. n, ("t:%s(%s)"):format(n, args), what .. (" The same method as t:%s."):format(real), VIEW .. "; " .. DIMS)
end

---------------------------------------------------------------- dtype, values, lifetime
entry("t:type", "t:type() -> \"torch.FloatTensor\" | \"torch.LongTensor\" | \"torch.ByteTensor\" | \"torch.BoolTensor\"\n"
    .. "t:type(dtype | other | type string)",
  "With no argument, t's type string (PyTorch's, for kshot's four dtypes); with one, t converted to that dtype: t:to.",
  "the dtype: a name (ks.float32, ks.int64, ks.uint8, ks.bool), a tensor (its dtype) or one of the four type strings "
    .. "(no torch.DoubleTensor etc.: kshot has no such dtype); t itself when the dtype is t's; t:dtype() gives kshot's "
    .. "dtype name")
for n, dt in pairs({ float = "float32", long = "int64", byte = "uint8", bool = "bool" }) do
  entry("t:" .. n, ("t:%s()"):format(n), ("t converted to %s (t itself when it already is)."):format(dt),
    n == "float" and "float32 is kshot's only float dtype (no double/half)" or nil)
end
entry("t:item", "t:item()", "The value of a one-element tensor as a Lua number (integer for int64/uint8, boolean for bool).",
  nil)
entry("t:tolist", "t:tolist()", "Nested Lua arrays of the values (a number for a 0-d tensor): t:totable().",
  "the arrays are 1-based Lua tables: t:tolist()[1] is row 0")
entry("t:close", "t:close()", "Release t's memory now instead of at garbage collection; t is unusable afterwards.",
  "also <close>: local x <close> = ks.zeros(n); using t later is an error, not a crash", false)
both("detach", "ks.detach(t)", "t:detach()", "A tensor sharing t's storage, cut from the autograd graph.", nil)
entry("t:is_leaf_", "t:is_leaf_()", "true when t was not computed by a recorded op: the field t.is_leaf as a method.",
  "PyTorch has only the attribute t.is_leaf", false)

---------------------------------------------------------------- gather, scatter, masks (ks_lua_select.c)
local INDEX = "index: an int64 tensor (a Lua integer or list is converted), 0-based; " .. DIMS
local NOGRAD = "no autograd: refuses inputs that require grad under grad mode"
both("gather", "ks.gather(t, dim, index)", "t:gather(dim, index)",
  "out[i][j] = t[index[i][j]][j] for dim 0 (likewise for other dims); the result has index's shape.",
  INDEX .. "; no sparse_grad")
both("scatter", "ks.scatter(t, dim, index, src | value)", "t:scatter(dim, index, src | value)",
  "A copy of t with src's elements (or value) written at index along dim.",
  INDEX .. "; no reduce argument (use scatter_add); " .. NOGRAD)
entry("ks.scatter_", "ks.scatter_(t, dim, index, src | value) -> t", "t:scatter in place.", INPLACE .. "; " .. INDEX)
entry("t:scatter_", "t:scatter_(dim, index, src | value) -> t", "t:scatter in place.", INPLACE .. "; " .. INDEX)
both("scatter_add", "ks.scatter_add(t, dim, index, src)", "t:scatter_add(dim, index, src)",
  "A copy of t with src's elements added at index along dim (repeated indices accumulate).", INDEX)
entry("ks.scatter_add_", "ks.scatter_add_(t, dim, index, src) -> t", "t:scatter_add in place.", INPLACE .. "; " .. INDEX)
entry("t:scatter_add_", "t:scatter_add_(dim, index, src) -> t", "t:scatter_add in place.", INPLACE .. "; " .. INDEX)
entry("ks.index_add_", "ks.index_add_(t, dim, index, source[, alpha = 1])\nks.index_add_(t, dim, index, source, {alpha =})",
  "In place: t's slices index[i] along dim get alpha * source's slice i added; returns t.", INPLACE .. "; " .. INDEX)
entry("t:index_add_", "t:index_add_(dim, index, source[, alpha = 1])\nt:index_add_(dim, index, source, {alpha =})",
  "In place: t's slices index[i] along dim get alpha * source's slice i added; returns t.", INPLACE .. "; " .. INDEX)
both("index_copy", "ks.index_copy(t, dim, index, source)", "t:index_copy(dim, index, source)",
  "A copy of t whose slices index[i] along dim are source's slice i.", INDEX .. "; " .. NOGRAD)
entry("ks.index_copy_", "ks.index_copy_(t, dim, index, source) -> t", "t:index_copy in place.", INPLACE .. "; " .. INDEX)
entry("t:index_copy_", "t:index_copy_(dim, index, source) -> t", "t:index_copy in place.", INPLACE .. "; " .. INDEX)
both("index_fill", "ks.index_fill(t, dim, index, value)", "t:index_fill(dim, index, value)",
  "A copy of t whose slices index[i] along dim are filled with value.",
  INDEX .. "; value a number, boolean or one-element tensor; " .. NOGRAD)
entry("ks.index_fill_", "ks.index_fill_(t, dim, index, value) -> t", "t:index_fill in place.", INPLACE .. "; " .. INDEX)
entry("t:index_fill_", "t:index_fill_(dim, index, value) -> t", "t:index_fill in place.", INPLACE .. "; " .. INDEX)
both("masked_fill", "ks.masked_fill(t, mask, value)", "t:masked_fill(mask, value)",
  "A copy of t with value where mask is true (t and mask broadcast).",
  "mask a bool tensor or a nested Lua table of booleans; value a number, boolean or one-element tensor without grad")
entry("ks.masked_fill_", "ks.masked_fill_(t, mask, value) -> t", "t:masked_fill in place (mask broadcasts to t).",
  INPLACE)
entry("t:masked_fill_", "t:masked_fill_(mask, value) -> t", "t:masked_fill in place (mask broadcasts to t).", INPLACE)
both("masked_scatter", "ks.masked_scatter(t, mask, source)", "t:masked_scatter(mask, source)",
  "A copy of t whose elements where mask is true are source's first elements, in row-major order.", NOGRAD)
entry("ks.masked_scatter_", "ks.masked_scatter_(t, mask, source) -> t", "t:masked_scatter in place.", INPLACE)
entry("t:masked_scatter_", "t:masked_scatter_(mask, source) -> t", "t:masked_scatter in place.", INPLACE)
both("argwhere", "ks.argwhere(t)", "t:argwhere()", "The int64 [n, t:dim()] indices of the non-zero elements.",
  "indices are 0-based")
both("bincount", "ks.bincount(t[, weights][, minlength = 0])\nks.bincount(t, {weights =, minlength =})",
  "t:bincount([weights][, minlength = 0])\nt:bincount{weights =, minlength =}",
  "How often each value 0, 1, ... occurs in the 1-d non-negative int64 t (summed weights when given).",
  "values count from 0; weights a tensor or a Lua list")

---------------------------------------------------------------- products (ks_lua_linalg.c)
for n, what in pairs({ mm = "The matrix product of a [n, m] and b [m, p] (no broadcasting: ks.matmul broadcasts)",
  bmm = "The batched matrix product of a [B, n, m] and b [B, m, p]",
  mv = "The product of matrix a [n, m] and vector b [m]", dot = "The dot product of two 1-d tensors (a 0-d tensor)",
  outer = "The outer product of vectors a [n] and b [m]: [n, m]" }) do
  both(n, ("ks.%s(a, b[, {out = r}])"):format(n), ("t:%s(other[, {out = r}])"):format(n), what .. ".",
    "out = r in an options table writes into r (r must have the result's shape and dtype) and returns it; not "
      .. "recorded by autograd: refused when a, b or r requires grad under grad mode, as torch")
end

---------------------------------------------------------------- creation and random numbers
entry("ks.full_like", "ks.full_like(t, value[, dtype | {dtype =, requires_grad =}])",
  "A tensor of t's shape and dtype filled with value.", "the value must fit the dtype (an error, not a wrap)")
entry("ks.randn", "ks.randn(size...[, dtype | {dtype =, requires_grad =, generator = g}])\nks.randn({sizes}[, ...])",
  "Standard normal samples, float32.",
  "its own Philox stream: the same seed gives other numbers than torch; only float32")
entry("ks.randn_like", "ks.randn_like(t[, dtype | {dtype =, requires_grad =, generator = g}])",
  "Standard normal samples with t's shape.", "only float32 (an int64 t needs {dtype = ks.float32})")
entry("t:new_empty", "t:new_empty(size...[, dtype | {dtype =, requires_grad =}])\nt:new_empty({sizes}[, ...])",
  "An uninitialised tensor with t's dtype (unless given), sharing nothing with t.", nil)
entry("t:new_ones", "t:new_ones(size...[, dtype | {dtype =, requires_grad =}])\nt:new_ones({sizes}[, ...])",
  "A tensor of ones with t's dtype (unless given), sharing nothing with t.", nil)
entry("t:zero_", "t:zero_() -> t", "Fill t with zeros in place.", INPLACE)
entry("t:normal_", "t:normal_([mean = 0[, std = 1]][, {generator = g}]) -> t", "Fill t with normal samples in place.",
  INPLACE .. "; the options table takes only generator")
entry("ks.get_rng_state", "ks.get_rng_state()", "The default generator's state as a string.",
  "a string \"philox:<seed>:<offset>\" (not a ByteTensor); ks.set_rng_state takes it back exactly")
entry("ks.set_rng_state", "ks.set_rng_state(state)", "Restore the default generator from ks.get_rng_state()'s string.",
  "the state is a string, not a ByteTensor")
entry("ks.default_generator", "ks.default_generator() -> g",
  "The default Generator (g:manual_seed, g:get_state, g:fork ...).",
  "a function to call, where torch.default_generator is an object; one per Lua state")

---------------------------------------------------------------- autograd mode, predicates
entry("ks.no_grad", "ks.no_grad(f, ...) -> f's results",
  "Call f(...) with gradient recording off, restoring the mode afterwards (even on error).",
  "a function, not a context manager or decorator: ks.no_grad(function() ... end)")
entry("ks.enable_grad", "ks.enable_grad(f, ...) -> f's results",
  "Call f(...) with gradient recording on, restoring the mode afterwards (even on error).",
  "a function, not a context manager: ks.enable_grad(function() ... end)")
entry("ks.set_grad_enabled", "ks.set_grad_enabled(flag) -> the previous mode",
  "Turn gradient recording on or off until changed again.",
  "a plain call returning the old mode (not a context manager): restore it yourself")
entry("ks.is_grad_enabled", "ks.is_grad_enabled()", "true while gradients are being recorded.", nil)
entry("ks.is_tensor", "ks.is_tensor(v)", "true when v is a kshot tensor.", nil)
entry("ks.is_interrupt", "ks.is_interrupt(err)",
  "true when an error value is the \"interrupted!\" raised by Ctrl-C (pcall(...) then check before going on).",
  "defined by the kshot host, not by kshot.so under lua5.4 (kshot.experiment.is_interrupt has the same rule)", false)

---------------------------------------------------------------- nn layers (kshot.nn.layers, norm_layers)
local NO_INPLACE = "inplace (a boolean) is accepted for ports and not used: the result is always a new tensor with "
  .. "the same values, the input is left as it was; any other argument is an error"
local NO_ARGS = "takes no arguments: nn.%s(1) is an error (torch's takes none either)"
entry("nn.ReLU", "nn.ReLU([inplace = false])\nnn.ReLU{inplace =}", "max(x, 0), element-wise (F.relu).", NO_INPLACE)
entry("nn.SiLU", "nn.SiLU([inplace = false])\nnn.SiLU{inplace =}", "x * sigmoid(x), element-wise (F.silu).", NO_INPLACE)
entry("nn.Sigmoid", "nn.Sigmoid()", "1 / (1 + e^-x), element-wise (F.sigmoid).", NO_ARGS:format("Sigmoid"))
entry("nn.Tanh", "nn.Tanh()", "tanh(x), element-wise (F.tanh).", NO_ARGS:format("Tanh"))
entry("nn.GELU", "nn.GELU([approximate = \"none\"])", "x * Phi(x), or its \"tanh\" approximation (F.gelu).", nil)
entry("nn.LeakyReLU", "nn.LeakyReLU([negative_slope = 0.01[, inplace = false]])\nnn.LeakyReLU{negative_slope =, inplace =}",
  "x for x >= 0, negative_slope * x below (F.leaky_relu).", NO_INPLACE)
entry("nn.LogSoftmax", "nn.LogSoftmax(dim)", "log(softmax(x)) along dim (F.log_softmax).",
  "dim is required (torch's implicit dim is gone); " .. DIMS)
entry("nn.Identity", "nn.Identity(...)", "Returns its input; constructor arguments are accepted and ignored, as torch's.",
  nil)
entry("nn.AdaptiveAvgPool2d", "nn.AdaptiveAvgPool2d(output_size)",
  "Average pooling of [N, C, H, W] or [C, H, W] to output_size (an integer or {h, w}) (F.adaptive_avg_pool2d).",
  "output_size is a Lua list {h, w}, not a tuple")
entry("nn.PixelUnshuffle", "nn.PixelUnshuffle(downscale_factor)\nnn.PixelUnshuffle{downscale_factor =}",
  "[N, C, H*r, W*r] -> [N, C*r*r, H, W] (F.pixel_unshuffle).", nil)
for _, n in ipairs({ "BatchNorm1d", "BatchNorm2d" }) do
  entry("nn." .. n, ("nn.%s(num_features[, eps[, momentum[, affine[, track_running_stats]]]])\n"
      .. "nn.%s(num_features, {eps = 1e-5, momentum = 0.1, affine = true, track_running_stats = true})"):format(n, n),
    ("Batch normalisation over %s input with running statistics (F.batch_norm)."):format(
      n == "BatchNorm1d" and "[N, C] or [N, C, L]" or "[N, C, H, W]"),
    "torch's keywords go in one options table; momentum = false is torch's None (the running statistics are the "
      .. "cumulative average of all batches); nil is the default 0.1")
end

---------------------------------------------------------------- nn losses (kshot.nn.losses)
local LOSS = "torch's keyword arguments go in one options table; size_average and reduce (deprecated in torch) are "
  .. "not supported"
local function loss(n, sig, summary, extra)
  entry("nn." .. n, sig, summary, LOSS .. (extra and "; " .. extra or ""))
end
loss("CrossEntropyLoss", "nn.CrossEntropyLoss([{weight =, ignore_index = -100, reduction = \"mean\", label_smoothing = 0}])",
  "Softmax cross-entropy of logits [N, C] against int64 class indices [N] (F.cross_entropy).",
  "no positional arguments: nn.CrossEntropyLoss{weight = w}; class indices are 0-based")
loss("NLLLoss", "nn.NLLLoss([{weight =, ignore_index = -100, reduction = \"mean\"}])",
  "Negative log-likelihood of log-probabilities [N, C] against int64 class indices (F.nll_loss).",
  "no positional arguments; class indices are 0-based")
loss("MSELoss", "nn.MSELoss([{reduction = \"mean\"}])", "Mean squared error (F.mse_loss).")
loss("L1Loss", "nn.L1Loss([{reduction = \"mean\"}])", "Mean absolute error (F.l1_loss).")
loss("SmoothL1Loss", "nn.SmoothL1Loss([{reduction = \"mean\", beta = 1.0}])",
  "Squared below beta, absolute above (F.smooth_l1_loss).", "no positional arguments")
loss("HuberLoss", "nn.HuberLoss([reduction = \"mean\"[, delta = 1.0]])\nnn.HuberLoss{reduction =, delta =}",
  "0.5 d^2 below delta, delta * (|d| - delta / 2) above (F.huber_loss).")
loss("BCEWithLogitsLoss", "nn.BCEWithLogitsLoss([{weight =, reduction = \"mean\", pos_weight =}])",
  "Binary cross-entropy on logits, computed stably (F.binary_cross_entropy_with_logits).",
  "no positional arguments: nn.BCEWithLogitsLoss{pos_weight = w}")
loss("BCELoss", "nn.BCELoss([weight][, {weight =, reduction = \"mean\"}])",
  "Binary cross-entropy on probabilities, log terms clamped at -100 (F.binary_cross_entropy).")
loss("KLDivLoss", "nn.KLDivLoss([{reduction = \"mean\", log_target = false}])",
  "KL divergence; the input holds log-probabilities (F.kl_div).", "reduction \"batchmean\" is the true KL divergence")
loss("HingeEmbeddingLoss", "nn.HingeEmbeddingLoss([margin = 1.0][, {margin =, reduction = \"mean\"}])",
  "x where y = 1, max(0, margin - x) where y = -1 (F.hinge_embedding_loss).")
loss("CosineEmbeddingLoss", "nn.CosineEmbeddingLoss([margin = 0][, {margin =, reduction = \"mean\"}])",
  "1 - cos(x1, x2) where y = 1, max(0, cos - margin) where y = -1; m(x1, x2, y) (F.cosine_embedding_loss).")
loss("TripletMarginLoss",
  "nn.TripletMarginLoss([margin = 1.0[, p = 2[, eps = 1e-6[, swap = false]]]][, {margin =, p =, eps =, swap =, "
    .. "reduction = \"mean\"}])",
  "max(d(a, pos) - d(a, neg) + margin, 0); m(anchor, positive, negative) (F.triplet_margin_loss).")
loss("MultiMarginLoss", "nn.MultiMarginLoss([p = 1[, margin = 1[, weight]]][, {p =, margin =, weight =, reduction = \"mean\"}])",
  "Multi-class hinge loss of scores [N, C] against int64 class indices (F.multi_margin_loss).",
  "class indices are 0-based")
loss("PoissonNLLLoss",
  "nn.PoissonNLLLoss([log_input = true[, full = false]][, {log_input =, full =, eps = 1e-8, reduction = \"mean\"}])",
  "Poisson negative log-likelihood (F.poisson_nll_loss).")
loss("SoftMarginLoss", "nn.SoftMarginLoss([{reduction = \"mean\"}])", "log(1 + exp(-y x)) (F.soft_margin_loss).")
loss("MultiLabelSoftMarginLoss", "nn.MultiLabelSoftMarginLoss([weight][, {weight =, reduction = \"mean\"}])",
  "Per-class logistic loss of [N, C] scores against 0/1 targets, averaged over classes (F.multilabel_soft_margin_loss).")

---------------------------------------------------------------- optimizers (kshot.optim)
local OPTIM = "options in one table (optim.%s(params, 0.1) is an error); params: a list of tensors, parameter groups "
  .. "{{params = ..., lr = ...}, ...} or a module; no foreach/fused/capturable/differentiable"
local function optimizer(n, opts, summary, extra)
  entry("optim." .. n, ("optim.%s(params[, %s])"):format(n, opts), summary,
    OPTIM:format(n) .. (extra and "; " .. extra or ""))
end
optimizer("SGD", "{lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, maximize = false}",
  "Stochastic gradient descent with optional (Nesterov) momentum.",
  "lr has a default (1e-3) where torch requires one")
optimizer("Adam", "{lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, amsgrad = false, maximize = false}",
  "Adam; weight_decay is coupled L2 (added to the gradient).", "betas is a Lua list {beta1, beta2}")
optimizer("AdamW", "{lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2, amsgrad = false, maximize = false}",
  "Adam with decoupled weight decay (p <- p * (1 - lr * weight_decay) before the step).",
  "betas is a Lua list {beta1, beta2}")
optimizer("Adamax", "{lr = 2e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, maximize = false}",
  "Adam with the infinity norm of past gradients.", "betas is a Lua list {beta1, beta2}")
optimizer("Adagrad", "{lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10, "
  .. "maximize = false}", "Adagrad: per-element steps scaled by the accumulated squared gradients.")
optimizer("Adadelta", "{lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0, maximize = false}",
  "Adadelta: steps scaled by running averages of squared gradients and updates.")
optimizer("RMSprop", "{lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false, "
  .. "maximize = false}", "RMSprop: steps scaled by a running average of squared gradients.")

---------------------------------------------------------------- lr schedulers (kshot.optim.lr_scheduler)
local SCHED = "torch's positional order or an options table (an options table may follow the positional values); "
  .. "epochs count as in torch (construction applies epoch 0; step() advances one)"
local function scheduler(n, sig, summary, extra)
  entry("optim.lr_scheduler." .. n, sig, summary, SCHED .. (extra and "; " .. extra or ""))
end
scheduler("StepLR", "lr.StepLR(opt, step_size[, gamma = 0.1][, last_epoch = -1])\nlr.StepLR(opt, {step_size =, gamma =})",
  "lr times gamma every step_size epochs.")
scheduler("MultiStepLR", "lr.MultiStepLR(opt, milestones[, gamma = 0.1][, last_epoch = -1])\n"
  .. "lr.MultiStepLR(opt, {milestones =, gamma =})", "lr times gamma at each epoch in the list milestones.",
  "milestones is a Lua list {30, 80}")
scheduler("CosineAnnealingLR", "lr.CosineAnnealingLR(opt, T_max[, eta_min = 0][, last_epoch = -1])\n"
  .. "lr.CosineAnnealingLR(opt, {T_max =, eta_min =})", "Cosine decay from the initial lr to eta_min over T_max epochs.")
scheduler("LinearLR", "lr.LinearLR(opt[, start_factor = 1/3[, end_factor = 1.0[, total_iters = 5]]][, last_epoch = -1])\n"
  .. "lr.LinearLR(opt, {start_factor =, end_factor =, total_iters =})",
  "lr times a factor going linearly from start_factor to end_factor over total_iters epochs (a warm-up).")
scheduler("SequentialLR", "lr.SequentialLR(opt, {schedulers}, milestones[, last_epoch = -1])\n"
  .. "lr.SequentialLR(opt, {schedulers}, {milestones =})", "Run the schedulers one after another, switching at milestones.",
  "schedulers and milestones are Lua lists")
scheduler("ChainedScheduler", "lr.ChainedScheduler({schedulers})",
  "Step several schedulers together, each multiplying the lr.", "schedulers in one Lua list")
scheduler("OneCycleLR", "lr.OneCycleLR(opt, max_lr[, total_steps[, epochs[, steps_per_epoch]]] ...)\n"
  .. "lr.OneCycleLR(opt, {max_lr =, total_steps = | epochs =, steps_per_epoch =, pct_start = 0.3, "
  .. "anneal_strategy = \"cos\", cycle_momentum = true, base_momentum = 0.85, max_momentum = 0.95, div_factor = 25, "
  .. "final_div_factor = 1e4, three_phase = false})",
  "The 1cycle policy, stepped per batch: lr up to max_lr then down, momentum (or Adam's beta1) the other way.")
scheduler("ReduceLROnPlateau", "lr.ReduceLROnPlateau(opt[, {mode = \"min\", factor = 0.1, patience = 10, "
  .. "threshold = 1e-4, threshold_mode = \"rel\", cooldown = 0, min_lr = 0, eps = 1e-8}])",
  "lr times factor when sched:step(metric) sees no improvement for patience epochs.")
scheduler("CyclicLR", "lr.CyclicLR(opt, base_lr, max_lr[, step_size_up = 2000[, step_size_down]] ...)\n"
  .. "lr.CyclicLR(opt, {base_lr =, max_lr =, step_size_up =, step_size_down =, mode = \"triangular\", gamma =, "
  .. "scale_fn =, scale_mode =, cycle_momentum =, base_momentum =, max_momentum =})",
  "lr cycling between base_lr and max_lr (triangular, triangular2 or exp_range), stepped per batch.")

return S
