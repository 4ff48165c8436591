--- kshot.linalg (ks.linalg): torch.linalg's functions for small-data work:
-- solve, inv, cholesky, eigh/eigvalsh, svd/svdvals, pinv, lstsq, det, norm,
-- vector_norm, matrix_norm. Matrices are the last two dims; leading dims are
-- batches (broadcast between A and B in solve/lstsq). float32 in and out; the
-- factorizations run in float64 on LAPACK (bindings/ks_lua_lapack.c) and have
-- gradients (torch 1.13's formulas): A must be nonsingular for solve/inv/det,
-- symmetric positive-definite for cholesky, with distinct eigenvalues /
-- singular values for eigh's eigenvectors / svd's U and Vh. Several results
-- are values: `local w, V = ks.linalg.eigh(A)`, `local U, S, Vh = ks.linalg.svd(A)`.
local ks = require "kshot"
local options = require "kshot.options"
local autograd = require "kshot.autograd"

local M = ks.linalg
local C = { solve = M._solve, cholesky = M._cholesky, eigh = M._eigh, svd = M._svd, det = M._det }
-- one plain matrix without gradient (bindings/ks_lua_lapack.c): the answer, or nothing for the general path
local P = { solve = M._plain_solve, inv = M._plain_inv, det = M._plain_det, cholesky = M._plain_cholesky,
  eigh = M._plain_eigh, svd = M._plain_svd }

local shape_str = options.shape_str

local function fail(level, fmt, ...) error(string.format(fmt, ...), level + 1) end

local function check_float(fname, what, t, level)
  if not ks.is_tensor(t) then fail(level + 1, "linalg.%s: argument '%s' must be a tensor, got %s", fname, what, type(t)) end
  if t:dtype() ~= "float32" then fail(level + 1, "linalg.%s: argument '%s' must be float32, got %s", fname, what, t:dtype()) end
end

local function check_matrix(fname, what, t, square, level)
  check_float(fname, what, t, level + 1)
  if t:dim() < 2 then fail(level + 1, "linalg.%s: %s must have at least 2 dims, got %s", fname, what, shape_str(t)) end
  if square and t:size(-1) ~= t:size(-2) then
    fail(level + 1, "linalg.%s: %s must be batches of square matrices, but they are %d by %d matrices (%s)", fname, what,
      t:size(-2), t:size(-1), shape_str(t))
  end
end

-- the leading (batch) dims of t, a Lua list
local function batch_of(t, keep)
  local s = t:shape()
  local b = {}
  for i = 1, #s - keep do b[i] = s[i] end
  return b
end

local function numel_of(list)
  local n = 1
  for _, v in ipairs(list) do n = n * v end
  return n
end

-- the broadcast of two batch shapes, or nil
local function broadcast(a, b)
  local n = math.max(#a, #b)
  local out = {}
  for i = 1, n do
    local x, y = a[#a - n + i] or 1, b[#b - n + i] or 1
    if x ~= y and x ~= 1 and y ~= 1 then return nil end
    out[i] = x == 1 and y or x
  end
  return out
end

local function concat(a, b)
  local r = {}
  for _, v in ipairs(a) do r[#r + 1] = v end
  for _, v in ipairs(b) do r[#r + 1] = v end
  return r
end

-- The factorizations' gradients are first-order: under create_graph their
-- backward raises "double backward ... is not supported" (once_differentiable)
-- rather than treating the saved factors as constants. ctx keeps detached
-- copies of the outputs: an output itself in ctx would be a reference cycle.
local function first_order(backward)
  return autograd.once_differentiable and autograd.once_differentiable(backward) or backward
end

-- [..., m, n] -> [b, m, n] (a differentiable reshape)
local function stack3(t) return t:reshape({ -1, t:size(-2), t:size(-1) }) end

local function mT(t) return t:transpose(-2, -1) end

-- [..., n] -> [..., n, n] with v on the diagonal (differentiable)
local function diag_embed(v) return v:unsqueeze(-1) * ks.eye(v:size(-1)) end

local function eye_like(b, n) return ks.eye(n):expand({ b, n, n }):contiguous() end

-- Fast paths: a single float32 matrix (2-D) without options whose call
-- records no gradient is one C call (P.*: the same kernel as the general
-- path, so the same values and errors; it returns nothing when an argument
-- is not plain, and the checks below name what is wrong). With a gradient,
-- solve / inv / det of one matrix still skip the batch broadcasting (shape
-- lists, expand, reshapes) and run the autograd.Function on a [1, n, n] view.
local is_tensor, is_grad_enabled = ks.is_tensor, ks.is_grad_enabled

local function records(a, b)
  return is_grad_enabled() and (a.requires_grad or (b ~= nil and b.requires_grad))
end

-- n when a is a float32 [n, n] matrix, else nil
local function plain_square(a)
  if is_tensor(a) and a:dim() == 2 and a:dtype() == "float32" then
    local n = a:size(0)
    if a:size(1) == n then return n end
  end
end

-- ------------------------------------------------------------------ solve
local Solve = autograd.Function{
  forward = function(ctx, a, b)
    local x = C.solve(a:contiguous(), b:contiguous())
    ctx.a, ctx.x = a:detach(), x:detach()
    return x
  end,
  backward = first_order(function(ctx, g)
    local gb = C.solve(mT(ctx.a):contiguous(), g:contiguous())
    return -ks.bmm(gb, mT(ctx.x)), gb
  end),
}

--- ks.linalg.solve(A, B): X with A X = B, for A [..., n, n] and B [..., n, k] or
-- [..., n] (a vector: B 1-d, or one dim less than A with A's leading sizes),
-- batch dims broadcast. "the input matrix is singular" when A has no inverse.
function M.solve(a, b, opts)
  if opts == nil then
    local x = P.solve(a, b)
    if x then return x end
  end
  local n = opts == nil and plain_square(a)
  if n and is_tensor(b) and b:dtype() == "float32" and (b:dim() == 1 or b:dim() == 2) and b:size(0) == n then
    local k = b:dim() == 2 and b:size(1) or 1
    local a3, b3 = a:reshape(1, n, n), b:reshape(1, n, k)
    local x = records(a, b) and Solve(a3, b3) or C.solve(a3:contiguous(), b3:contiguous())
    if b:dim() == 1 then return x:view(n) end
    return x:view(n, k)
  end
  check_matrix("solve", "A", a, true, 2)
  check_float("solve", "B", b, 2)
  options.check(opts, "linalg.solve", { "left" }, 2)
  if opts and opts.left == false then fail(2, "linalg.solve: left = false is not supported (solve A^T instead)") end
  n = a:size(-1)
  local vector = b:dim() == 1
  if not vector and b:dim() == a:dim() - 1 then
    vector = true
    for i = 0, b:dim() - 1 do vector = vector and b:size(i) == a:size(i) end
  end
  local bm = vector and b:unsqueeze(-1) or b
  if bm:dim() < 2 or bm:size(-2) ~= n then
    fail(2, "linalg.solve: A %s and B %s do not match (B needs %d rows)", shape_str(a), shape_str(b), n)
  end
  local batch = broadcast(batch_of(a, 2), batch_of(bm, 2))
  if not batch then fail(2, "linalg.solve: the batch dims of A %s and B %s do not broadcast", shape_str(a), shape_str(b)) end
  local k = bm:size(-1)
  local a3 = a:expand(concat(batch, { n, n })):reshape({ -1, n, n })
  local b3 = bm:expand(concat(batch, { n, k })):reshape({ -1, n, k })
  local x = Solve(a3, b3):reshape(concat(batch, { n, k }))
  return vector and x:squeeze(-1) or x
end

--- ks.linalg.inv(A): the inverse of the square matrices A [..., n, n] (solve(A, I)).
function M.inv(a)
  local r = P.inv(a)
  if r then return r end
  local n = plain_square(a)
  if n then
    local a3, eye = a:reshape(1, n, n), ks.eye(n):view(1, n, n)
    return (records(a) and Solve(a3, eye) or C.solve(a3:contiguous(), eye)):view(n, n)
  end
  check_matrix("inv", "A", a, true, 2)
  n = a:size(-1)
  local b = numel_of(batch_of(a, 2))
  return Solve(stack3(a), eye_like(b, n)):reshape(a:shape())
end

-- ---------------------------------------------------------------- cholesky
local Cholesky = autograd.Function{
  forward = function(ctx, a)
    local l = C.cholesky(a:contiguous())
    ctx.l = l:detach()
    return l
  end,
  backward = first_order(function(ctx, g)
    local l = ctx.l
    local t = ks.bmm(mT(l), g):tril()
    local m = (t + mT(t:tril(-1))) * 0.5           -- symmetric, diagonal halved
    local y = C.solve(mT(l):contiguous(), m)       -- L^-T M
    return mT(C.solve(mT(l):contiguous(), mT(y):contiguous()))  -- L^-T M L^-1
  end),
}

--- ks.linalg.cholesky(A[, {upper = false}]): L lower triangular with A = L L^T
-- for symmetric positive-definite A [..., n, n] (only the lower triangle is
-- read); upper = true gives L^T. Not positive-definite: an error naming the minor.
function M.cholesky(a, opts)
  if opts == nil then
    local l = P.cholesky(a)
    if l then return l end
  end
  check_matrix("cholesky", "A", a, true, 2)
  opts = options.check(opts, "linalg.cholesky", { "upper" }, 2)
  local l = Cholesky(stack3(a)):reshape(a:shape())
  return opts.upper and mT(l) or l
end

-- -------------------------------------------------------------------- eigh
-- gradient-safe 1 / (x_j - x_i) off the diagonal, 0 on it
local function inverse_gaps(w)
  local e = w:unsqueeze(-2) - w:unsqueeze(-1)
  local n = w:size(-1)
  local eye = ks.eye(n):bool()
  return ks.where(eye, ks.zeros(1), 1 / ks.where(eye, ks.ones(1), e))
end

local Eigh = autograd.Function{
  forward = function(ctx, a)
    local w, v = C.eigh(a:contiguous())
    ctx.w, ctx.v = w:detach(), v:detach()
    return w, v
  end,
  backward = first_order(function(ctx, gw, gv)
    local w, v = ctx.w, ctx.v
    local inner
    if gv then
      local vg = ks.bmm(mT(v), gv)
      inner = (vg - mT(vg)) * 0.5 * inverse_gaps(w)
    else
      inner = ks.zeros(v:shape())
    end
    if gw then inner = inner + diag_embed(gw) end
    return ks.bmm(ks.bmm(v, inner), mT(v))
  end),
}

--- ks.linalg.eigh(A[, {UPLO = "L"}]) -> eigenvalues [..., n] (ascending),
-- eigenvectors [..., n, n] (columns) of the symmetric A [..., n, n], whose
-- lower (UPLO = "U": upper) triangle is read. Eigenvectors are unique up to
-- sign: compare |V| or V V^T, not V.
function M.eigh(a, opts)
  if opts == nil then
    local w, v = P.eigh(a)
    if w then return w, v end
  end
  check_matrix("eigh", "A", a, true, 2)
  opts = options.check(opts, "linalg.eigh", { "UPLO" }, 2)
  local uplo = opts.UPLO or "L"
  if uplo ~= "L" and uplo ~= "U" then fail(2, "linalg.eigh: UPLO must be \"L\" or \"U\", got %s", tostring(uplo)) end
  local a3 = stack3(a)
  if uplo == "U" then a3 = mT(a3) end
  local w, v = Eigh(a3)
  return w:reshape(batch_of(a, 1)), v:reshape(a:shape())
end

--- ks.linalg.eigvalsh(A[, {UPLO = "L"}]): the eigenvalues of eigh alone.
function M.eigvalsh(a, opts)
  if opts == nil then
    local w = P.eigh(a) -- the vectors are computed too, as eigh's: the same eigenvalues to the bit
    if w then return w end
  end
  check_matrix("eigvalsh", "A", a, true, 2)
  local w = M.eigh(a, opts)
  return w
end

-- --------------------------------------------------------------------- svd
local Svd = autograd.Function{
  forward = function(ctx, a, full)
    local u, s, vh = C.svd(a:contiguous(), full)
    ctx.u, ctx.s, ctx.vh, ctx.full = u:detach(), s:detach(), vh:detach(), full
    return u, s, vh
  end,
  backward = first_order(function(ctx, gu, gs, gvh)
    local u, s, vh = ctx.u, ctx.s, ctx.vh
    local m, n = u:size(1), vh:size(2)
    if ctx.full and m ~= n and (gu or gvh) then
      error("linalg.svd: the gradient of U or Vh with full_matrices = true is not supported for non-square A; "
        .. "use {full_matrices = false}", 0)
    end
    if not gu and not gvh then
      return ks.bmm(u * gs:unsqueeze(-2), vh)
    end
    local s2 = s * s
    local gaps = inverse_gaps(s2)
    local inner
    if gu and gvh then
      local uu = ks.bmm(mT(u), gu); uu = uu - mT(uu)
      local vv = ks.bmm(vh, mT(gvh)); vv = vv - mT(vv)
      inner = (uu * s:unsqueeze(-2) + s:unsqueeze(-1) * vv) * gaps
    elseif gu then
      local uu = ks.bmm(mT(u), gu); uu = uu - mT(uu)
      inner = uu * s:unsqueeze(-2) * gaps
    else
      local vv = ks.bmm(vh, mT(gvh)); vv = vv - mT(vv)
      inner = s:unsqueeze(-1) * (vv * gaps)
    end
    if gs then inner = inner + diag_embed(gs) end
    local ga
    if m > n and gu then
      ga = ks.bmm(u, inner)
      local gus = gu / s:unsqueeze(-2)
      ga = ga + gus - ks.bmm(u, ks.bmm(mT(u), gus))
      ga = ks.bmm(ga, vh)
    elseif m < n and gvh then
      ga = ks.bmm(inner, vh)
      local sgv = gvh / s:unsqueeze(-1)
      ga = ga + sgv - ks.bmm(ks.bmm(sgv, mT(vh)), vh)
      ga = ks.bmm(u, ga)
    else
      ga = ks.bmm(u, ks.bmm(inner, vh))
    end
    return ga, nil
  end),
}

--- ks.linalg.svd(A[, {full_matrices = true}]) -> U, S, Vh with A = U diag(S) Vh,
-- S descending; A [..., m, n], k = min(m, n): U [..., m, k], Vh [..., k, n]
-- with full_matrices = false (the one with gradients for U and Vh when m ~= n),
-- U [..., m, m] and Vh [..., n, n] with true (torch's default). Singular
-- vectors are unique up to sign.
function M.svd(a, opts)
  if opts == nil then
    local u, s, vh = P.svd(a, true)
    if u then return u, s, vh end
  end
  check_matrix("svd", "A", a, false, 2)
  opts = options.check(opts, "linalg.svd", { "full_matrices", "driver" }, 2)
  local full = opts.full_matrices ~= false
  local m, n = a:size(-2), a:size(-1)
  local k = math.min(m, n)
  local u, s, vh = Svd(stack3(a), full)
  local batch = batch_of(a, 2)
  return u:reshape(concat(batch, { m, full and m or k })), s:reshape(concat(batch, { k })),
    vh:reshape(concat(batch, { full and n or k, n }))
end

--- ks.linalg.svdvals(A): the singular values S of svd, descending [..., min(m, n)].
function M.svdvals(a)
  local u, s = P.svd(a, false) -- as svd(a, {full_matrices = false}) below
  if u then return s end
  check_matrix("svdvals", "A", a, false, 2)
  local _, s = M.svd(a, { full_matrices = false })
  return s
end

--- ks.linalg.pinv(A[, {rtol =, atol = 0, hermitian = false}]): the Moore-Penrose
-- pseudo-inverse [..., n, m] from the SVD; singular values at most
-- max(atol, rtol * largest) count as zero (rtol defaults to 1.19e-7 * max(m, n)
-- without atol, 0 with it, as torch). Differentiable where the rank is constant.
function M.pinv(a, opts)
  check_matrix("pinv", "A", a, false, 2)
  opts = options.check(opts, "linalg.pinv", { "rtol", "atol", "hermitian" }, 2)
  local m, n = a:size(-2), a:size(-1)
  local atol = opts.atol or 0
  local rtol = opts.rtol or (opts.atol and opts.atol > 0 and 0 or 1.1920929e-07 * math.max(m, n))
  local u, s, vh = M.svd(a, { full_matrices = false })
  if s:numel() == 0 then return ks.zeros(concat(batch_of(a, 2), { n, m })) end
  local cutoff = ks.maximum(s:amax(-1, true):detach() * rtol, ks.full({ 1 }, atol))
  local keep = s:gt(cutoff)
  local sinv = ks.where(keep, 1 / ks.where(keep, s, ks.ones(1)), ks.zeros(1))
  return ks.matmul(mT(vh) * sinv:unsqueeze(-2), mT(u))
end

--- ks.linalg.lstsq(A, B[, {rcond =}]): the least-squares solution X
-- (argmin |A X - B|) [..., n, k] of A [..., m, n], B [..., m, k], batch dims
-- broadcast: pinv(A) B, the minimum-norm solution for rank-deficient A
-- (torch's gelsd driver). kshot returns the solution alone: torch's
-- `lstsq(A, B).solution` is `ks.linalg.lstsq(A, B)`.
function M.lstsq(a, b, opts)
  check_matrix("lstsq", "A", a, false, 2)
  check_matrix("lstsq", "B", b, false, 2)
  opts = options.check(opts, "linalg.lstsq", { "rcond", "driver" }, 2)
  if b:size(-2) ~= a:size(-2) then
    fail(2, "linalg.lstsq: A %s and B %s must have the same number of rows (%d vs %d)", shape_str(a), shape_str(b),
      a:size(-2), b:size(-2))
  end
  if not broadcast(batch_of(a, 2), batch_of(b, 2)) then
    fail(2, "linalg.lstsq: the batch dims of A %s and B %s do not broadcast", shape_str(a), shape_str(b))
  end
  return ks.matmul(M.pinv(a, opts.rcond and { rtol = opts.rcond } or nil), b)
end

-- --------------------------------------------------------------------- det
local Det = autograd.Function{
  forward = function(ctx, a)
    local d = C.det(a:contiguous())
    ctx.a, ctx.d = a:detach(), d:detach()
    return d
  end,
  backward = first_order(function(ctx, g)
    local n = ctx.a:size(1)
    local ok, inv = pcall(C.solve, ctx.a:contiguous(), eye_like(ctx.a:size(0), n))
    if not ok then error("linalg.det: the gradient at a singular matrix is not supported", 0) end
    return mT(inv) * (g * ctx.d):reshape({ -1, 1, 1 })
  end),
}

--- ks.linalg.det(A): the determinants [...] of the square matrices A [..., n, n]
-- (LU with partial pivoting). Differentiable at nonsingular A.
function M.det(a)
  local d = P.det(a)
  if d then return d end
  local n = plain_square(a)
  if n then
    local a3 = a:reshape(1, n, n)
    return (records(a) and Det(a3) or C.det(a3:contiguous())):squeeze(0)
  end
  check_matrix("det", "A", a, true, 2)
  return Det(stack3(a)):reshape(batch_of(a, 2))
end

-- ------------------------------------------------------------------- norms
local function dims_of(fname, dim, ndim, default)
  if dim == nil then return default end
  local list = type(dim) == "table" and dim or { dim }
  local out = {}
  for i, d in ipairs(list) do
    if math.type(d) ~= "integer" then fail(3, "linalg.%s: dim must be an integer or a list of integers", fname) end
    if d < -ndim or d >= ndim then fail(3, "linalg.%s: dim %d out of range for a %d-d tensor", fname, d, ndim) end
    out[i] = d < 0 and d + ndim or d
  end
  return out
end

-- ord, dim, keepdim given positionally or as one options table {ord =, dim =, keepdim =} in ord's place
local function norm_args(fname, ord, dim, keepdim)
  if type(ord) ~= "table" then return ord, dim, keepdim end
  local o = options.check(ord, fname, { "ord", "dim", "keepdim" }, 3) -- errors at the norm's caller
  return o.ord, o.dim, o.keepdim
end

-- sum/amax/amin over several dims (keepdim), done one dim at a time from the last
local function reduce(x, op, dims, keepdim)
  local sorted = { table.unpack(dims) }
  table.sort(sorted, function(p, q) return p > q end)
  for _, d in ipairs(sorted) do x = x[op](x, d, true) end
  if not keepdim then for _, d in ipairs(sorted) do x = x:squeeze(d) end end
  return x
end

--- ks.linalg.vector_norm(x[, ord = 2[, dim[, keepdim = false]]]) (or {ord =, dim =, keepdim =}):
-- the ord-norm of x's elements over dim (an integer or a list; all dims when
-- nil): sum(|x|^ord)^(1/ord); inf: max |x|, -inf: min |x|, 0: the count of
-- non-zeros. Differentiable.
-- the 2-norm of every element (matrix: of the last two dims) in one C call (ks_lua_reduce.c), or nothing
-- when x is not a float32 tensor with the dims for it; the general paths below reach the same C reduction
local plain_norm = ks._plain_norm

function M.vector_norm(x, ord, dim, keepdim)
  if (ord == nil or ord == 2) and dim == nil and keepdim == nil then
    local r = plain_norm(x, false)
    if r then return r end
  end
  check_float("vector_norm", "x", x, 2)
  ord, dim, keepdim = norm_args("linalg.vector_norm", ord, dim, keepdim)
  ord = ord or 2
  if type(ord) ~= "number" then fail(2, "linalg.vector_norm: ord must be a number, got %s", tostring(ord)) end
  local all = {}
  for i = 1, x:dim() do all[i] = i - 1 end
  local dims = dims_of("vector_norm", dim, math.max(x:dim(), 1), all)
  local ax = x:abs()
  if x:dim() == 0 then return ax end
  if ord == math.huge then return reduce(ax, "amax", dims, keepdim) end
  if ord == -math.huge then return reduce(ax, "amin", dims, keepdim) end
  if ord == 0 then return reduce(ax:ne(0):float(), "sum", dims, keepdim) end
  if ord == 2 and not keepdim and #dims == x:dim() then return x:norm() end
  if ord == 2 then return ks.norm(x, 2, dims, keepdim or false) end
  return reduce(ax ^ ord, "sum", dims, keepdim) ^ (1 / ord)
end

--- ks.linalg.matrix_norm(A[, ord = "fro"[, dim = {-2, -1}[, keepdim = false]]]):
-- "fro", "nuc" (sum of singular values), 2 / -2 (largest / smallest singular
-- value), 1 / -1 (max / min column sum of |A|), inf / -inf (max / min row sum).
function M.matrix_norm(a, ord, dim, keepdim)
  if (ord == nil or ord == "fro") and dim == nil and keepdim == nil then
    local r = plain_norm(a, true)
    if r then return r end
  end
  check_float("matrix_norm", "A", a, 2)
  ord, dim, keepdim = norm_args("linalg.matrix_norm", ord, dim, keepdim)
  ord = ord or "fro"
  if a:dim() < 2 then fail(2, "linalg.matrix_norm: A must have at least 2 dims, got %s", shape_str(a)) end
  local dims = dims_of("matrix_norm", dim, a:dim(), { a:dim() - 2, a:dim() - 1 })
  if #dims ~= 2 or dims[1] == dims[2] then fail(2, "linalg.matrix_norm: dim must name 2 different dims") end
  if ord == "fro" then return M.vector_norm(a, 2, dims, keepdim) end
  local ax = a:abs()
  local r, c = dims[1], dims[2]
  local function finish(x, kept)
    if keepdim then return x end
    local ds = { table.unpack(kept) }
    table.sort(ds, function(p, q) return p > q end)
    for _, d in ipairs(ds) do x = x:squeeze(d) end
    return x
  end
  if ord == 1 or ord == -1 then
    local sums = ax:sum(r, true)
    return finish(ord == 1 and sums:amax(c, true) or sums:amin(c, true), { r, c })
  end
  if ord == math.huge or ord == -math.huge then
    local sums = ax:sum(c, true)
    return finish(ord > 0 and sums:amax(r, true) or sums:amin(r, true), { r, c })
  end
  if ord == "nuc" or ord == 2 or ord == -2 then
    local moved = a:movedim({ r, c }, { -2, -1 })
    local s = M.svdvals(moved)
    local v = ord == "nuc" and s:sum(-1) or (ord == 2 and s:amax(-1) or s:amin(-1))
    if keepdim then
      local lo, hi = math.min(r, c), math.max(r, c)
      v = v:unsqueeze(lo):unsqueeze(hi)
    end
    return v
  end
  fail(2, "linalg.matrix_norm: ord must be \"fro\", \"nuc\", 1, -1, 2, -2, inf or -inf, got %s", tostring(ord))
end

--- ks.linalg.norm(A[, ord[, dim[, keepdim = false]]]) (or {ord =, dim =, keepdim =}):
-- torch.linalg.norm: a vector norm when dim is an integer (or A is 1-d), a
-- matrix norm when dim names two dims (or A is 2-d with an ord); without ord
-- and dim, the 2-norm of all the elements.
function M.norm(a, ord, dim, keepdim)
  if ord == nil and dim == nil and keepdim == nil then
    local r = plain_norm(a, false)
    if r then return r end
  end
  check_float("norm", "A", a, 2)
  ord, dim, keepdim = norm_args("linalg.norm", ord, dim, keepdim)
  if type(ord) == "string" and ord ~= "fro" and ord ~= "nuc" then
    fail(2, "linalg.norm: ord must be a number, \"fro\" or \"nuc\", got \"%s\"", ord)
  end
  local matrix = (type(dim) == "table" and #dim == 2) or (dim == nil and ord ~= nil and a:dim() == 2)
  if type(ord) == "string" and not matrix then fail(2, "linalg.norm: ord \"%s\" needs a matrix (2 dims)", ord) end
  if dim == nil and ord ~= nil and a:dim() > 2 then
    fail(2, "linalg.norm: give dim with ord for a %d-d input (%s)", a:dim(), shape_str(a))
  end
  if matrix then return M.matrix_norm(a, ord or "fro", dim, keepdim) end
  return M.vector_norm(a, ord or 2, dim, keepdim)
end

return M
