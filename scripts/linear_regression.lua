-- linear_regression.lua: fit y = W x + b on synthetic data with gradient
-- descent (full batch), stochastic gradient descent (mini-batches) and Adam,
-- and compare each with the closed-form least-squares solution.
--
--   build/kshot scripts/linear_regression.lua [--seed N] [--noise S] [--tolerance T]
--
-- The closed form solves the normal equations (AᵀA) θ = Aᵀ Y in double, with
-- A = [X, 1]. Each optimizer must end within --tolerance (1e-3; Euclidean
-- distance over all of W and b) of it; the script exits with status 1
-- otherwise.
-- Constant-rate SGD and Adam only hover around the minimum (gradient noise,
-- Adam's sign-like steps), so both anneal their rate: that is the practical
-- lesson of this example, besides the exact update rules.
local ks = require "kshot"
local optim = require "kshot.optim"
local lr = require "kshot.optim.lr"
local cli = require "kshot.cli"
local F = ks.functional

local args = cli.new {
  name = "linear_regression.lua",
  description = "Fit y = W x + b on synthetic data with GD, SGD and Adam and compare each with the\n"
    .. "closed-form least-squares solution; exits 1 if one ends farther than --tolerance from it.",
  options = {
    { "--seed", "seed of the synthetic data and the mini-batch order", type = "integer", default = 2024 },
    { "--noise", "standard deviation of the noise added to y", type = "number", default = 0.1, min = 0 },
    { "--tolerance", "largest distance to the closed form that passes", type = "number", default = 1e-3, min = 0 },
  },
}:parse(arg)

local N, D, K = 256, 3, 2 -- examples, inputs, outputs
ks.manual_seed(args.seed)
local X = ks.randn(N, D)
local W_true = ks.tensor({{2.0, -1.0, 0.5}, {-0.5, 1.5, 3.0}})
local b_true = ks.tensor({1.0, -2.0})
local Y = X:matmul(W_true:t()) + b_true + ks.randn(N, K) * args.noise

-- closed form: Gaussian elimination with partial pivoting on the normal equations
local function least_squares()
  local x, y = X:totable(), Y:totable()
  local P = D + 1
  local M = {}
  for i = 1, P do
    M[i] = {}
    for j = 1, P + K do M[i][j] = 0 end
  end
  for n = 1, N do
    local a = {table.unpack(x[n])}
    a[P] = 1
    for i = 1, P do
      for j = 1, P do M[i][j] = M[i][j] + a[i] * a[j] end
      for k = 1, K do M[i][P + k] = M[i][P + k] + a[i] * y[n][k] end
    end
  end
  for c = 1, P do
    local piv = c
    for r = c + 1, P do if math.abs(M[r][c]) > math.abs(M[piv][c]) then piv = r end end
    M[c], M[piv] = M[piv], M[c]
    for r = 1, P do
      if r ~= c then
        local f = M[r][c] / M[c][c]
        for j = c, P + K do M[r][j] = M[r][j] - f * M[c][j] end
      end
    end
  end
  -- theta[i][k] = M[i][P + k] / M[i][i]; W[k][i] for i <= D, b[k] = theta[P][k]
  local W, b = {}, {}
  for k = 1, K do
    W[k] = {}
    for i = 1, D do W[k][i] = M[i][P + k] / M[i][i] end
    b[k] = M[P][P + k] / M[P][P]
  end
  return W, b
end

local W_ls, b_ls = least_squares()

local function distance(W, b)
  local s, w, bb = 0, W:totable(), b:totable()
  for k = 1, K do
    for i = 1, D do s = s + (w[k][i] - W_ls[k][i]) ^ 2 end
    s = s + (bb[k] - b_ls[k]) ^ 2
  end
  return math.sqrt(s)
end

local function fresh_params()
  local W, b = ks.zeros(K, D), ks.zeros(K)
  W.requires_grad, b.requires_grad = true, true
  return W, b
end

local function full_loss(W, b) return ks.no_grad(function() return F.mse_loss(F.linear(X, W, b), Y):item() end) end

local function step(opt, W, b, x, y)
  opt:zero_grad()
  local loss = F.mse_loss(F.linear(x, W, b), y)
  loss:backward()
  opt:step()
end

local runs = {}

-- GD: full batch, constant rate (the loss is a well-conditioned quadratic)
do
  local W, b = fresh_params()
  local opt = optim.SGD({W, b}, {lr = 0.2})
  for _ = 1, 500 do step(opt, W, b, X, Y) end
  runs[#runs + 1] = {"GD (full batch, lr 0.2, 500 steps)", W, b}
end

-- SGD: mini-batches of 16 in a shuffled order each epoch, rate decayed per epoch
do
  local W, b = fresh_params()
  local opt = optim.SGD({W, b}, {lr = 0.05, momentum = 0.9})
  local sched = lr.ExponentialLR(opt, 0.85)
  local B = 16
  for _ = 1, 60 do
    local perm = ks.randperm(N)
    for s = 0, N - B, B do
      local idx = perm:narrow(0, s, B)
      step(opt, W, b, X:index_select(0, idx), Y:index_select(0, idx))
    end
    sched:step()
  end
  runs[#runs + 1] = {"SGD (batch 16, momentum 0.9, lr 0.05 * 0.85^epoch, 60 epochs)", W, b}
end

-- Adam: full batch, cosine-annealed rate
do
  local W, b = fresh_params()
  local opt = optim.Adam({W, b}, {lr = 0.05})
  local steps = 1500
  local sched = lr.CosineAnnealingLR(opt, steps)
  for _ = 1, steps do
    step(opt, W, b, X, Y)
    sched:step()
  end
  runs[#runs + 1] = {"Adam (full batch, lr 0.05 cosine-annealed, 1500 steps)", W, b}
end

local ok = true
local W_ref, b_ref = ks.tensor(W_ls), ks.tensor(b_ls)
print(("%d examples, %d inputs, %d outputs, noise sd %g, seed %d"):format(N, D, K, args.noise, args.seed))
print("final_loss: mean squared error of the fitted (W, b) on the training data (all " .. N * K .. " outputs)")
print(("distance: Euclidean distance of (W, b), all %d numbers, to the closed-form least-squares solution "
  .. "(passes when <= --tolerance %g)\n"):format(K * D + K, args.tolerance))
print(string.format("%-64s final_loss=%.6f distance=0 (closed form)", "least squares (normal equations)", full_loss(W_ref, b_ref)))
for _, r in ipairs(runs) do
  local d = distance(r[2], r[3])
  local pass = d <= args.tolerance
  ok = ok and pass
  print(string.format("%-64s final_loss=%.6f distance=%.2e %s", r[1], full_loss(r[2], r[3]), d,
    pass and "ok" or ("FAIL (> %g)"):format(args.tolerance)))
end
if not ok then os.exit(1) end
