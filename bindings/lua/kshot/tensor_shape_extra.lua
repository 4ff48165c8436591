--- kshot.tensor_shape_extra: shape and indexing functions of torch composed
-- from kshot's views and indexing, so they record autograd through those ops.
-- Installed as ks.<name> and tensor methods by kshot.tensor_extra when kshot
-- loads: unbind, movedim/moveaxis, swapaxes, unflatten, broadcast_to,
-- meshgrid, hstack/vstack, type_as, diag, diagonal, trace, take,
-- index_put/index_put_ (view_as and reshape_as are C methods:
-- bindings/ks_lua_tensor.c). Dims are 0-based, negative from the end.
-- The functions equivalent to one view or op (movedim, unbind, broadcast_to,
-- diagonal, take) cost about that op from Lua (scripts/bench/
-- bench_op_overhead.lua "composed"): plain arguments take a fast path without
-- option tables or extra tensors, and the checks that name the argument run
-- only when the op itself fails. unbind and the meshgrid of two vectors make
-- their views in one C call (ks._unbind, ks._meshgrid2). diag (1-d), trace and take of an input that
-- does not require grad run one C kernel (ks._diag_embed, ks._trace, ks._take:
-- bindings/ks_lua_composed_kernels.c); with grad they compose views and ops.
-- unflatten with plain sizes is one C reshape (ks._unflatten, bindings/ks_lua_tensor.c); index_put /
-- index_put_ without accumulate, plain arguments and an input whose clone records nothing run the clone and
-- the indexing assignment in one C call (ks._index_put, bindings/ks_lua_index.c).
local options = require "kshot.options"

local M = {}
local ks -- the kshot module, given by install
local is_tensor, expand, index_select -- ks.is_tensor and tensor methods, set by install
local mesh2 -- ks._meshgrid2, set by install
local index_put_c -- ks._index_put (bindings/ks_lua_index.c), set by install
local unflatten_c -- ks._unflatten (bindings/ks_lua_tensor.c), set by install

local shape_str = options.shape_str

local args = require "kshot.tensor_args"
local fail, check_tensor, wrap_dim = args.fail, args.check_tensor, args.wrap_dim

local function int_list(fname, what, v, level)
  if math.type(v) == "integer" then return { v } end
  if type(v) ~= "table" or ks.is_tensor(v) then
    fail(level + 1, "%s: argument '%s' must be an integer or a list of integers, got %s", fname, what, type(v))
  end
  return v
end

--- ks.unbind(t[, dim = 0]) / t:unbind(dim): the slices along dim as a Lua list
-- (torch.unbind's tuple), each without that dim: `for _, row in ipairs(x:unbind()) do`.
function M.unbind(t, dim)
  local slices = ks._unbind(t, dim or 0) -- the selects made in C (one call), nil when an argument is wrong
  if slices then return slices end
  check_tensor("unbind", "input", t, 2)
  local nd = t:dim()
  local d = wrap_dim("unbind", "dim", dim or 0, nd, 2)
  if nd == 0 then fail(2, "unbind: a 0-d tensor has no dim to unbind") end
  local n = t:size(d)
  local out = {}
  for i = 1, n do out[i] = t:select(d, i - 1) end
  return out
end

-- the permutation of movedim(t, s, d) for one dim s moved to d (both wrapped), in perm[1..n]
local perm_scratch = {}
local function one_dim_perm(n, s, d)
  local perm, j = perm_scratch, 0
  for pos = 0, n - 1 do
    if pos == d then
      perm[pos + 1] = s
    else
      if j == s then j = j + 1 end
      perm[pos + 1] = j
      j = j + 1
    end
  end
  for k = n + 1, #perm do perm[k] = nil end -- a shorter call after a longer one
  return perm
end

--- ks.movedim(t, source, destination) / t:movedim(...) (also moveaxis): the dims
-- source (an integer or a list) moved to the positions destination, the others
-- keeping their order: x:movedim(1, -1) makes [N, C, H, W] into [N, H, W, C].
function M.movedim(t, source, destination)
  check_tensor("movedim", "input", t, 2)
  local n = t:dim()
  -- fast path: one dim, both in range (permute reads the reused list at once)
  if math.type(source) == "integer" and math.type(destination) == "integer" and n > 0
    and source >= -n and source < n and destination >= -n and destination < n then
    return t:permute(one_dim_perm(n, source % n, destination % n))
  end
  local src, dst = int_list("movedim", "source", source, 2), int_list("movedim", "destination", destination, 2)
  if #src ~= #dst then
    fail(2, "movedim: source and destination must name as many dims (%d and %d)", #src, #dst)
  end
  local perm, used_src, used_dst = {}, {}, {}
  for i = 1, #src do
    local s, d = wrap_dim("movedim", "source", src[i], n, 2), wrap_dim("movedim", "destination", dst[i], n, 2)
    if used_src[s] then fail(2, "movedim: repeated dim %d in source", src[i]) end
    if used_dst[d] then fail(2, "movedim: repeated dim %d in destination", dst[i]) end
    used_src[s], used_dst[d] = true, true
    perm[d + 1] = s
  end
  local rest = {}
  for s = 0, n - 1 do if not used_src[s] then rest[#rest + 1] = s end end
  local k = 0
  for d = 1, n do
    if perm[d] == nil then k = k + 1; perm[d] = rest[k] end
  end
  if n == 0 then return t:view({}) end
  return t:permute(perm)
end
M.moveaxis = M.movedim

--- ks.swapaxes(t, d0, d1) / t:swapaxes (also swapdims): t:transpose(d0, d1).
function M.swapaxes(t, d0, d1)
  check_tensor("swapaxes", "input", t, 2)
  return t:transpose(d0, d1)
end
M.swapdims = M.swapaxes

--- ks.unflatten(t, dim, sizes) / t:unflatten(dim, sizes): dim split into the
-- sizes of the Lua list sizes (one may be -1): x:unflatten(1, {4, 4}) makes
-- [N, 16] into [N, 4, 4]; the inverse of flatten.
function M.unflatten(t, dim, sizes)
  local r = unflatten_c(t, dim, sizes) -- plain arguments: the reshape in one C call, else nil
  if r then return r end
  check_tensor("unflatten", "input", t, 2)
  local d = wrap_dim("unflatten", "dim", dim, t:dim(), 2)
  if type(sizes) ~= "table" or ks.is_tensor(sizes) or #sizes == 0 then
    fail(2, "unflatten: argument 'sizes' must be a non-empty list of integers, got %s", type(sizes))
  end
  local n, known, free = t:size(d), 1, nil
  for i, s in ipairs(sizes) do
    if math.type(s) ~= "integer" or s < -1 then fail(2, "unflatten: sizes[%d] must be an integer >= -1, got %s", i, tostring(s)) end
    if s == -1 then
      if free then fail(2, "unflatten: only one size may be -1") end
      free = i
    else
      known = known * s
    end
  end
  local new = {}
  for i, s in ipairs(sizes) do new[i] = s end
  if free then
    if known == 0 or n % known ~= 0 then
      fail(2, "unflatten: sizes {%s} cannot split dim %d of size %d", table.concat(sizes, ", "), dim, n)
    end
    new[free] = n // known
  elseif known ~= n then
    fail(2, "unflatten: sizes {%s} multiply to %d, not dim %d's size %d (input %s)", table.concat(sizes, ", "),
      known, dim, n, shape_str(t))
  end
  local shape = {}
  for i = 0, t:dim() - 1 do
    if i == d then
      for _, s in ipairs(new) do shape[#shape + 1] = s end
    else
      shape[#shape + 1] = t:size(i)
    end
  end
  return t:reshape(shape)
end

--- ks.broadcast_to(t, shape) / t:broadcast_to(shape): t:expand(shape), a view
-- (shape: a Lua list; -1 keeps a size).
function M.broadcast_to(t, shape)
  if type(shape) == "table" then -- fast path (a tensor is userdata): the checks below run only when expand fails
    local ok, r = pcall(expand, t, shape)
    if ok then return r end
  end
  check_tensor("broadcast_to", "input", t, 2)
  if type(shape) ~= "table" or ks.is_tensor(shape) then
    fail(2, "broadcast_to: argument 'shape' must be a list of integers, got %s", type(shape))
  end
  local ok, r = pcall(t.expand, t, shape)
  if not ok then
    fail(2, "broadcast_to: cannot broadcast %s to [%s]", shape_str(t), table.concat(shape, ", "))
  end
  return r
end

-- the tensors of a call f(a, b, c[, opts]) or f({a, b, c}[, opts]) and its options
local function tensors_and_opts(fname, ...)
  local args = table.pack(...)
  local list, opts = {}, nil
  if args.n >= 1 and type(args[1]) == "table" and not ks.is_tensor(args[1]) then
    list, opts = args[1], args[2]
  else
    for i = 1, args.n do
      if ks.is_tensor(args[i]) then list[#list + 1] = args[i]
      elseif i == args.n and type(args[i]) == "table" then opts = args[i]
      else fail(3, "%s: argument %d must be a tensor, got %s", fname, i, type(args[i])) end
    end
  end
  for i, x in ipairs(list) do
    if not ks.is_tensor(x) then fail(3, "%s: tensors[%d] must be a tensor, got %s", fname, i, type(x)) end
  end
  return list, opts
end

--- ks.meshgrid(x1, x2, ...[, {indexing = "ij" | "xy"}]) (also ks.meshgrid({x1, x2, ...}, opts)):
-- grids of the 1-D tensors as a Lua list; "ij" (the default, as torch 1.13)
-- gives shape [#x1, #x2, ...], "xy" swaps the first two dims (NumPy's default).
function M.meshgrid(...)
  local x1, x2, extra = ...
  if extra == nil then
    -- fast path: two 1-d tensors, "ij": x1:unsqueeze(1):expand({n1, n2}) and x2:expand({n1, n2}) made
    -- in C (one call; nil unless both are 1-d tensors)
    local grids = mesh2(x1, x2)
    if grids then return grids end
  end
  local xs, opts = tensors_and_opts("meshgrid", ...)
  opts = options.check(opts, "meshgrid", { "indexing" }, 2)
  local indexing = opts.indexing or "ij"
  if indexing ~= "ij" and indexing ~= "xy" then
    fail(2, "meshgrid: indexing must be \"ij\" or \"xy\", got %s", tostring(indexing))
  end
  if #xs == 0 then fail(2, "meshgrid: expects at least one tensor") end
  local sizes = {}
  for i, x in ipairs(xs) do
    if x:dim() > 1 then fail(2, "meshgrid: tensors must be 0-d or 1-d, got %s for tensor %d", shape_str(x), i) end
    sizes[i] = x:numel()
  end
  local swap = indexing == "xy" and #xs >= 2
  if swap then sizes[1], sizes[2] = sizes[2], sizes[1] end
  local out = {}
  for i, x in ipairs(xs) do
    local pos = i
    if swap and i <= 2 then pos = 3 - i end
    local view = {}
    for j = 1, #xs do view[j] = 1 end
    view[pos] = sizes[pos]
    out[i] = x:reshape(view):expand(sizes)
  end
  return out
end

--- ks.hstack(tensors) / ks.vstack(tensors): cat along dim 1 (dim 0 for 1-d
-- tensors) / along dim 0 with 1-d tensors as rows, as torch.
function M.hstack(list)
  local first = type(list) == "table" and list[1]
  if is_tensor(first) then return ks.cat(list, first:dim() <= 1 and 0 or 1) end -- cat checks the rest
  if type(list) ~= "table" or ks.is_tensor(list) or #list == 0 then
    fail(2, "hstack: argument 'tensors' must be a non-empty list of tensors")
  end
  return ks.cat(list, list[1]:dim() <= 1 and 0 or 1)
end

-- true when every entry of list is a tensor with at least 2 dims (vstack is then cat along dim 0)
local function all_matrices(list)
  local n = #list
  if n == 0 then return false end
  for i = 1, n do
    local x = list[i]
    if not is_tensor(x) or x:dim() < 2 then return false end
  end
  return true
end

function M.vstack(list)
  if type(list) == "table" and all_matrices(list) then return ks.cat(list, 0) end -- fast path: no row list
  if type(list) ~= "table" or ks.is_tensor(list) or #list == 0 then
    fail(2, "vstack: argument 'tensors' must be a non-empty list of tensors")
  end
  local rows = {}
  for i, x in ipairs(list) do
    if not ks.is_tensor(x) then fail(2, "vstack: tensors[%d] must be a tensor, got %s", i, type(x)) end
    rows[i] = x:dim() == 0 and x:reshape({ 1, 1 }) or (x:dim() == 1 and x:unsqueeze(0) or x)
  end
  return ks.cat(rows, 0)
end

--- t:type_as(other): t:to(other's dtype) (t:view_as and t:reshape_as are C methods).
function M.type_as(t, other)
  check_tensor("type_as", "other", other, 2)
  return t:to(other:dtype())
end

--- ks.diagonal(t[, offset = 0[, dim1 = 0[, dim2 = 1]]]) / t:diagonal(...): the
-- diagonal of the matrices in dims dim1, dim2 (above it for offset > 0, below
-- for < 0) as the last dim. A view of t when those matrices are contiguous
-- (as torch's), else a copy; differentiable.
function M.diagonal(t, offset, dim1, dim2)
  if dim1 == nil and dim2 == nil and math.type(offset or 0) == "integer" and is_tensor(t) and t:dim() == 2 then
    return ks._diagonal(t, offset or 0) -- fast path: a matrix (dims 0 and 1 are its last two)
  end
  check_tensor("diagonal", "input", t, 2)
  if t:dim() < 2 then fail(2, "diagonal: input must have at least 2 dims, got %s", shape_str(t)) end
  offset = offset or 0
  if math.type(offset) ~= "integer" then fail(2, "diagonal: argument 'offset' must be an integer, got %s", tostring(offset)) end
  local d1 = wrap_dim("diagonal", "dim1", dim1 or 0, t:dim(), 2)
  local d2 = wrap_dim("diagonal", "dim2", dim2 or 1, t:dim(), 2)
  if d1 == d2 then fail(2, "diagonal: dim1 and dim2 must differ, both are %d", d1) end
  local nd = t:dim()
  local m = (d1 == nd - 2 and d2 == nd - 1) and t or M.movedim(t, { d1, d2 }, { -2, -1 })
  return ks._diagonal(m, offset)
end

--- ks.diag(t[, diagonal = 0]) / t:diag(...): a 1-d t as the diagonal of a
-- square matrix (offset diagonal above/below the main one), or the diagonal of
-- a 2-d t as a 1-d tensor. Differentiable.
function M.diag(t, diagonal)
  local off = diagonal or 0
  if is_tensor(t) and math.type(off) == "integer" and t:dim() == 1 and not t.requires_grad
    and off > -(1 << 31) and off < (1 << 31) then
    return ks._diag_embed(t, off) -- fast path (nothing to differentiate): one C kernel
  end
  check_tensor("diag", "input", t, 2)
  diagonal = diagonal or 0
  if math.type(diagonal) ~= "integer" then fail(2, "diag: argument 'diagonal' must be an integer, got %s", tostring(diagonal)) end
  if t:dim() == 2 then return M.diagonal(t, diagonal) end
  if t:dim() ~= 1 then fail(2, "diag: input must be 1-d or 2-d, got %s", shape_str(t)) end
  local n = t:size(0)
  if math.abs(diagonal) > (1 << 31) then fail(2, "diag: diagonal %d is too far from the main one", diagonal) end
  local size = n + math.abs(diagonal)
  local eye = ks.eye(n, n, t:dtype())
  local square = eye * t:unsqueeze(0) -- [n, n] with t on the diagonal, differentiable in t
  if diagonal == 0 then return square end
  local pad = diagonal > 0 and { diagonal, 0, 0, diagonal } or { 0, -diagonal, -diagonal, 0 }
  local r = ks.pad(square, pad)
  assert(r:size(0) == size)
  return r
end

--- ks.trace(t) / t:trace(): the sum of a 2-d tensor's diagonal (a 0-d tensor).
function M.trace(t)
  if is_tensor(t) and not t.requires_grad then -- fast path: one C kernel (matrix, float32 or int64)
    local ok, r = pcall(ks._trace, t)
    if ok then return r end
  end
  if is_tensor(t) and t:dim() == 2 then return ks._diagonal(t, 0):sum() end -- a matrix: what records autograd
  check_tensor("trace", "input", t, 2)
  if t:dim() ~= 2 then fail(2, "trace: input must be a matrix (2-d), got %s", shape_str(t)) end
  return M.diagonal(t):sum()
end

-- an int64 index tensor argument
local function check_index(fname, what, idx, level)
  if not ks.is_tensor(idx) then fail(level + 1, "%s: argument '%s' must be an int64 tensor, got %s", fname, what, type(idx)) end
  if idx:dtype() ~= "int64" then fail(level + 1, "%s: argument '%s' must be an int64 tensor, got %s", fname, what, idx:dtype()) end
end

--- ks.take(t, index) / t:take(index): the elements of t read as a flat
-- (row-major) tensor at the int64 positions index, in index's shape
-- (negative positions count from the end). Differentiable.
-- take without checks: index_select raises on a position out of [0, n) (negative ones included)
local function take_plain(t, index)
  local flat = t:dim() == 1 and t or t:reshape(-1)
  if index:dim() == 1 then return index_select(flat, 0, index) end
  return index_select(flat, 0, index:reshape(-1)):view_as(index)
end

function M.take(t, index)
  if is_tensor(t) and not t.requires_grad then -- fast path: one C kernel, negative positions wrapped
    local ok, r = pcall(ks._take, t, index)
    if ok then return r end
  end
  if is_tensor(t) and is_tensor(index) and index:dim() == 1 then
    -- fast path: a 1-d index; the checks, range check and wrapping only when index_select fails
    local ok, r = pcall(index_select, t:dim() == 1 and t or t:reshape(-1), 0, index)
    if ok then return r end
  end
  check_tensor("take", "input", t, 2)
  check_index("take", "index", index, 2)
  local ok, r = pcall(take_plain, t, index) -- the range check and wrapping only when it fails
  if ok then return r end
  local n = t:numel()
  if index:numel() > 0 then
    local lo, hi = index:min():item(), index:max():item()
    if lo < -n or hi >= n then
      fail(2, "take: index %d out of range for a tensor of %d elements", hi >= n and hi or lo, n)
    end
  end
  local flat = index:reshape(-1)
  flat = ks.where(flat:lt(0), flat + n, flat)
  return t:reshape(-1):index_select(0, flat):reshape(index:shape())
end

-- the checked index list of index_put
local function check_indices(fname, t, indices, level)
  if type(indices) ~= "table" or ks.is_tensor(indices) or #indices == 0 then
    fail(level + 1, "%s: argument 'indices' must be a non-empty list of index tensors (one per leading dim)", fname)
  end
  if #indices > t:dim() then
    fail(level + 1, "%s: %d index tensors for a %d-d tensor %s", fname, #indices, t:dim(), shape_str(t))
  end
  for i, idx in ipairs(indices) do
    if not ks.is_tensor(idx) or (idx:dtype() ~= "int64" and idx:dtype() ~= "bool") then
      fail(level + 1, "%s: indices[%d] must be an int64 or bool tensor, got %s", fname, i,
        ks.is_tensor(idx) and idx:dtype() or type(idx))
    end
  end
end

-- index_put with accumulate: the flat positions of the indexed elements, then index_add
local function accumulate_into(t, indices, values)
  local key = {}
  for i, idx in ipairs(indices) do key[i] = idx end
  local pos = ks.arange(t:numel()):reshape(t:shape())[key] -- positions of the selected elements, [broadcast..., rest...]
  values = ks.is_tensor(values) and values or ks.tensor(values, t:dtype())
  values = values:to(t:dtype()):expand(pos:shape())
  return t:reshape(-1):index_add(0, pos:reshape(-1), values:reshape(-1)):reshape(t:shape())
end

--- ks.index_put(t, indices, values[, accumulate = false]) / t:index_put(...) and
-- t:index_put_(...) (in place): t[indices] = values with indices a Lua list of
-- int64 (or bool) tensors for the leading dims (torch's tuple), values
-- broadcast; accumulate = true adds instead, repeated positions adding up.
function M.index_put(t, indices, values, accumulate)
  if not accumulate then -- plain arguments: clone and assignment in one C call (nil when it does not fit)
    local r = index_put_c(t, indices, values, false)
    if r then return r end
  end
  check_tensor("index_put", "input", t, 2)
  check_indices("index_put", t, indices, 2)
  if accumulate then return accumulate_into(t, indices, values) end
  local r = t:clone()
  r[indices] = values
  return r
end

function M.index_put_(t, indices, values, accumulate)
  if not accumulate and index_put_c(t, indices, values, true) then return t end
  check_tensor("index_put_", "input", t, 2)
  check_indices("index_put_", t, indices, 2)
  if accumulate then
    t:copy_(accumulate_into(t, indices, values))
  else
    t[indices] = values
  end
  return t
end

--- names installed as ks.<name> and as tensor methods (and which only as methods)
M.FUNCTIONS = { "unbind", "movedim", "moveaxis", "swapaxes", "swapdims", "unflatten", "broadcast_to", "meshgrid",
  "hstack", "vstack", "diagonal", "diag", "trace", "take", "index_put", "index_put_" }
M.METHODS = { "unbind", "movedim", "moveaxis", "swapaxes", "swapdims", "unflatten", "broadcast_to", "diagonal",
  "diag", "trace", "take", "index_put", "index_put_", "type_as" }

function M.install(module)
  ks = module
  is_tensor, expand, index_select = ks.is_tensor, ks.Tensor.expand, ks.Tensor.index_select
  mesh2 = ks._meshgrid2
  index_put_c = ks._index_put
  unflatten_c = ks._unflatten
end

return M
