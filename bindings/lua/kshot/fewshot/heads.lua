--- kshot.fewshot.heads: classifiers on frozen feature vectors.
--
-- A head is a plain table (so it saves as tensors + metadata):
--   {kind = "centroid", protos = [C, D], center = [D] | nil, normalize = bool}
--     score = -(squared Euclidean distance to each class mean of the
--     preprocessed support features)   (SimpleShot: UN / L2N / CL2N)
--   {kind = "linear", weight = [D, C], bias = [C], center =, normalize =}
--     score = preprocessed features @ weight + bias  (multinomial logistic
--     regression with an L2 penalty, sklearn's C convention:
--     minimise  sum_i CE_i + ||W||^2 / (2 C), bias not penalised; or the
--     cosine classifier, fit_cosine: weight = scale * unit class weights, bias 0)
-- Preprocessing: subtract center (if any), then L2-normalise (if normalize).
-- Probabilities are softmax(score).
local ks = require "kshot"
local F = ks.functional

local H = {}
local EPS = 1e-12

--- Preprocess features [N, D] (or one row [D]) as the head says.
function H.preprocess(head, f)
  if head.center then f = f - head.center end
  if head.normalize then
    local dim = f:dim() - 1
    f = f / ks.clamp(f:norm(2, dim, true), EPS)
  end
  return f
end

-- Class means [C, D] of rows f [N, D] with labels y (0..C-1, every class present).
local function class_means(f, y, C)
  local sums = ks.zeros(C, f:size(1)):index_add_(0, y, f)
  local counts = ks.bincount(y, nil, C):float():unsqueeze(1)
  return sums / counts
end
H.class_means = class_means

--- Nearest-centroid head from support features (preprocessing per opts).
function H.fit_centroid(f, y, C, opts)
  local head = {kind = "centroid", center = opts.center, normalize = opts.normalize and true or false}
  head.protos = class_means(H.preprocess(head, f), y, C):contiguous()
  return head
end

--- Scores [N, C] for features [N, D] (batched: BLAS; for episodes).
function H.scores(head, f)
  f = H.preprocess(head, f)
  if head.kind == "centroid" then
    local d = ks.cdist(f, head.protos)
    return -(d * d)
  end
  return f:matmul(head.weight) + head.bias
end

--- Scores [C] of one feature row [D]: the arithmetic depends on that row
-- only (elementwise ops and one reduction over D), never on a batch.
function H.scores_row(head, f)
  f = H.preprocess(head, f)
  if head.kind == "centroid" then
    local diff = head.protos - f
    return -(diff * diff):sum(1)
  end
  return (head.weight_t * f):sum(1) + head.bias
end

-- ------------------------------------------------------------ cosine classifier
--- Cosine classifier on frozen features (Baseline++, Chen et al. 2019):
-- score_c = scale * cos(f, w_c), w initialised at the class means of the
-- L2-normalised support features and trained by full-batch SGD on the
-- cross-entropy. opts: steps (100), lr (0.1), momentum (0.9), weight_decay
-- (5e-4), scale (10), label_smoothing (0). Returns a "linear" head on
-- L2-normalised features (weight = scale * normalised w, bias 0).
function H.fit_cosine(f, y, C, opts)
  local optim = require "kshot.optim"
  local scale = opts.scale or 10
  local fn = H.preprocess({normalize = true}, f:detach())
  local w = class_means(fn, y, C):requires_grad_(true)
  local opt = optim.SGD({w}, {lr = opts.lr or 0.1, momentum = opts.momentum or 0.9,
    weight_decay = opts.weight_decay or 5e-4})
  local ce = {label_smoothing = opts.label_smoothing or 0}
  local function unit(v) return v / ks.clamp(v:norm(2, 1, true), EPS) end
  ks.enable_grad(function() -- callers may hold no_grad (episodes, predictions)
    for _ = 1, opts.steps or 100 do
      local loss = F.cross_entropy(fn:matmul(unit(w):t()) * scale, y, ce)
      opt:zero_grad()
      loss:backward()
      opt:step()
    end
  end)
  local head = {kind = "linear", normalize = true, weight = (unit(w:detach()):t() * scale):contiguous(),
    bias = ks.zeros(C)}
  head.weight_t = head.weight:t():contiguous()
  return head
end

-- ------------------------------------------------------------ logistic regression
local function have_lbfgs()
  local ok, optim = pcall(require, "kshot.optim")
  return ok and type(optim) == "table" and optim.LBFGS ~= nil and optim or nil
end
H.have_lbfgs = function() return have_lbfgs() ~= nil end

-- Mean loss and gradients of  mean_i CE_i + lam/2 ||W||^2  (lam = 1 / (C n)).
local function loss_and_grads(x, onehot, W, b, lam)
  local n = x:size(0)
  local logp = F.log_softmax(x:matmul(W) + b, 1)
  local loss = -(logp * onehot):sum():item() / n + 0.5 * lam * (W * W):sum():item()
  local g = (logp:exp() - onehot) / n
  return loss, x:t():matmul(g) + W * lam, g:sum(0)
end

local function solve_lbfgs(optim, x, onehot, W, b, lam, opts)
  local lbfgs = optim.LBFGS({W, b}, {lr = 1, max_iter = opts.max_iter or 100, history_size = 10,
    tolerance_grad = opts.tol or 1e-4, tolerance_change = 1e-9, line_search_fn = "strong_wolfe"})
  lbfgs:step(function()
    local loss, gW, gb
    ks.no_grad(function() loss, gW, gb = loss_and_grads(x, onehot, W, b, lam) end)
    W.grad, b.grad = gW, gb
    return loss
  end)
end

-- Fallback: full-batch gradient descent, fixed budget, step 1/L with L an
-- upper bound of the loss curvature (softmax CE: 0.5 * mean ||[x, 1]||^2).
local function solve_gd(x, onehot, W, b, lam, opts)
  local L = 0.5 * ((x * x):sum():item() / x:size(0) + 1) + lam
  local step = 1 / L
  ks.no_grad(function()
    for _ = 1, opts.gd_steps or 300 do
      local _, gW, gb = loss_and_grads(x, onehot, W, b, lam)
      W:sub_(gW * step)
      b:sub_(gb * step)
    end
  end)
end

-- Fit W, b on (x, y) with strength Creg, warm-started from init {W, b}.
local function fit_lr(x, y, C, Creg, opts, init)
  local onehot = ks.one_hot(y, C):float()
  local W = init and init[1]:clone() or ks.zeros(x:size(1), C)
  local b = init and init[2]:clone() or ks.zeros(C)
  local lam = 1 / (Creg * x:size(0))
  local optim = opts.solver ~= "gd" and have_lbfgs()
  if optim then solve_lbfgs(optim, x, onehot, W, b, lam, opts) else solve_gd(x, onehot, W, b, lam, opts) end
  return W, b
end

-- ------------------------------------------------------------ reduced problem
-- With fewer rows than features (n < D), W = X^T A (representer theorem), so
-- the problem lives in the row space. With K = X X^T = L L^T (Cholesky), the
-- rows' coordinates are L (n x n) and ||W|| = ||Z|| for W = X^T L^-T Z: the
-- same optimum, found with n x C instead of D x C unknowns (far fewer and
-- smaller products per L-BFGS evaluation). Pivots below 1e-10 * max diag
-- (dependent rows) are dropped: their coordinate is 0.

-- Cholesky of K restricted to rows/cols idx (1-based Lua lists); K a Lua matrix.
local function chol(K, idx)
  local n, L, maxd = #idx, {}, 0
  for i = 1, n do maxd = math.max(maxd, K[idx[i]][idx[i]]) end
  local tiny = 1e-10 * maxd
  for i = 1, n do
    local Li, Ki = {}, K[idx[i]]
    for j = 1, i do
      local Lj, s = L[j] or Li, Ki[idx[j]]
      for m = 1, j - 1 do s = s - Li[m] * Lj[m] end
      if j == i then Li[i] = s > tiny and math.sqrt(s) or 0 else Li[j] = Lj[j] > 0 and s / Lj[j] or 0 end
    end
    for j = i + 1, n do Li[j] = 0 end
    L[i] = Li
  end
  return L
end

-- Coordinates of points given their products with the factor's rows:
-- solve L z = k for each k = K[p][idx] (forward substitution).
local function coords(L, K, idx, points)
  local n, out = #idx, {}
  for r, p in ipairs(points) do
    local z, Kp = {}, K[p]
    for j = 1, n do
      local s = Kp[idx[j]]
      for m = 1, j - 1 do s = s - L[j][m] * z[m] end
      z[j] = L[j][j] > 0 and s / L[j][j] or 0
    end
    out[r] = z
  end
  return out
end

-- M = L^-T Z (back substitution), Z a Lua n x C matrix.
local function back_solve(L, Z)
  local n, M = #L, {}
  for j = n, 1, -1 do
    local row = {}
    for c = 1, #Z[j] do
      local s = Z[j][c]
      for m = j + 1, n do s = s - L[m][j] * M[m][c] end
      row[c] = L[j][j] > 0 and s / L[j][j] or 0
    end
    M[j] = row
  end
  return M
end

local function range(n) local r = {} for i = 1, n do r[i] = i end return r end

-- Fold of each row: its rank within its class, modulo nfolds (leave-one-out
-- per class when nfolds = the class size): every fold keeps every class.
local function fold_ids(y, nfolds)
  local seen, ids = {}, {}
  for i, c in ipairs(y) do
    seen[c] = (seen[c] or 0) + 1
    ids[i] = (seen[c] - 1) % nfolds
  end
  return ids
end

-- Rows (1-based) and their labels as an int64 tensor.
local function subset(ids, ylist, pred)
  local rows, labels = {}, {}
  for i, f in ipairs(ids) do
    if pred(f) then rows[#rows + 1], labels[#labels + 1] = i, ylist[i] end
  end
  return rows, ks.tensor(labels, "int64")
end

-- Strength by inner CV on the support set: held-out accuracy, ties by log-loss.
-- design(rows) -> train design tensor, and val(rows_tr, rows_va) -> val design tensor.
local function choose_C(ylist, C, grid, nfolds, opts, design, val_design)
  local ids = fold_ids(ylist, nfolds)
  local acc, nll = {}, {}
  for j = 1, #grid do acc[j], nll[j] = 0, 0 end
  for fold = 0, nfolds - 1 do
    local tr, ytr = subset(ids, ylist, function(f) return f ~= fold end)
    local va, yva = subset(ids, ylist, function(f) return f == fold end)
    local xtr, xva = design(tr), val_design(tr, va)
    local init
    for j, Creg in ipairs(grid) do -- ascending C: each fit starts from the previous solution
      local W, b = fit_lr(xtr, ytr, C, Creg, opts, init)
      init = {W, b}
      local logits = xva:matmul(W) + b
      acc[j] = acc[j] + logits:argmax(1):eq(yva):sum():item()
      nll[j] = nll[j] + F.cross_entropy(logits, yva, {reduction = "sum"}):item()
    end
  end
  local best = 1
  for j = 2, #grid do
    if acc[j] > acc[best] or (acc[j] == acc[best] and nll[j] < nll[best]) then best = j end
  end
  return grid[best]
end

--- Linear probe: opts.C (fixed) or opts.Cs (grid, inner CV when every class
-- has >= 2 rows), opts.default_C (K = 1; default 1), center, normalize,
-- solver ("lbfgs" | "gd"), max_iter, gd_steps.
function H.fit_linear(f, y, C, opts)
  local head = {kind = "linear", center = opts.center, normalize = opts.normalize and true or false}
  local x = H.preprocess(head, f):contiguous()
  local n, D = x:size(0), x:size(1)
  local ylist = y:totable()
  local reduced = n < D and opts.reduce ~= false
  local K = reduced and x:matmul(x:t()):totable() or nil
  local function design(rows)
    if reduced then return ks.tensor(chol(K, rows)) end
    return x:index_select(0, ks.tensor(rows, "int64") - 1)
  end
  local function val_design(tr, va)
    if reduced then return ks.tensor(coords(chol(K, tr), K, tr, va)) end
    return x:index_select(0, ks.tensor(va, "int64") - 1)
  end
  local Creg = opts.C
  if not Creg then
    local kmin = ks.bincount(y, nil, C):min():item()
    local grid = {table.unpack(opts.Cs or {0.01, 0.1, 1, 10, 100})}
    table.sort(grid)
    if kmin >= 2 and #grid > 1 then
      Creg = choose_C(ylist, C, grid, math.min(kmin, opts.folds or 5), opts, design, val_design)
    else
      Creg = opts.default_C or 1
    end
  end
  if reduced then
    local L = chol(K, range(n))
    local Z, b = fit_lr(ks.tensor(L), y, C, Creg, opts)
    head.weight = x:t():matmul(ks.tensor(back_solve(L, Z:totable())))
    head.bias = b
  else
    head.weight, head.bias = fit_lr(x, y, C, Creg, opts)
  end
  head.weight = head.weight:contiguous()
  head.weight_t = head.weight:t():contiguous()
  head.C = Creg
  head.solver = (opts.solver ~= "gd" and have_lbfgs()) and "lbfgs" or "gd"
  return head
end

return H
