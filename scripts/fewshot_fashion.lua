--- fewshot_fashion.lua: the main kshot job (`make run`).
--
-- Fashion-MNIST, protocol 1 of notes/small-sample-protocols.md: K labelled
-- training images per class (stratified, seeded), tested on the 10,000 test
-- images. Methods: nearest class centroid and 1-nearest-neighbour on raw
-- pixels in [0, 1] and on L2-normalised pixels. Reported per method and K:
-- mean test accuracy over the seeds with a 95% Student-t interval, next to
-- the reference figures of the protocol note. An honest baseline until
-- models and optimizers land.
local ks = require "kshot"
local lapp = require "pl.lapp"

local args = lapp [[
fewshot_fashion.lua: K-shot Fashion-MNIST baselines (protocol 1)
Draws K labelled training images per class for each seed, classifies the
test images by nearest class centroid and by 1-nearest-neighbour on raw
pixels in [0, 1] and on L2-normalised pixels, and prints mean accuracy
with a 95% Student-t interval over the seeds.
  --k (default "1,5,10")     K values (examples per class), comma-separated
  --seeds (default 5)        number of seeds (data draws use seeds 0 .. seeds-1)
  --test-size (default 0)    test images to use (the first N), 0 = all 10,000
  --path (default "")        Fashion-MNIST folder (default: $KSHOT_FASHION_MNIST,
                             else /usr/share/datasets/fashion-mnist)
  -q,--quiet                 print only the results table
]]

-- ------------------------------------------------------------ options
local function fail(msg)
  io.stderr:write("fewshot_fashion: ", msg, "\n")
  os.exit(2)
end

local ks_list = {}
for item in tostring(args.k):gmatch("[^,%s]+") do
  local k = math.tointeger(tonumber(item))
  if not k or k < 1 then fail(("--k: '%s' is not a positive integer"):format(item)) end
  ks_list[#ks_list + 1] = k
end
if #ks_list == 0 then fail("--k: give at least one K, e.g. --k 1,5,10") end
local nseeds = math.tointeger(args.seeds)
if not nseeds or nseeds < 1 then fail("--seeds must be a positive integer") end
local test_size = math.tointeger(args.test_size)
if not test_size or test_size < 0 then fail("--test-size must be an integer >= 0") end

local function say(...)
  if not args.quiet then print(...) end
end

-- ------------------------------------------------------------ statistics
-- two-sided 95% quantiles of Student's t for 1..30 degrees of freedom
local T975 = { 12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
  2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
  2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423 }

local function t975(df)
  if df <= 30 then return T975[df] end
  -- Cornish-Fisher expansion around the normal quantile (error < 1e-4 for df > 30)
  local z = 1.959964
  local z3, z5, z7 = z ^ 3, z ^ 5, z ^ 7
  return z + (z3 + z) / (4 * df) + (5 * z5 + 16 * z3 + 3 * z) / (96 * df ^ 2)
    + (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * df ^ 3)
end

-- mean and 95% half-width (sample sd with n-1 in the denominator; t with n-1 df)
local function mean_ci(xs)
  local n, s = #xs, 0
  for _, x in ipairs(xs) do s = s + x end
  local mean = s / n
  if n < 2 then return mean, nil end
  local ss = 0
  for _, x in ipairs(xs) do ss = ss + (x - mean) ^ 2 end
  return mean, t975(n - 1) * math.sqrt(ss / (n - 1)) / math.sqrt(n)
end

-- ------------------------------------------------------------ data
local t_start, c_start = os.time(), os.clock()
local path = args.path ~= "" and args.path or nil
local train_x, train_y, names = ks.data.fashion_mnist { split = "train", path = path }
local test_x, test_y = ks.data.fashion_mnist { split = "test", path = path }
local ntest = test_x:size(0)
if test_size > 0 and test_size < ntest then
  test_x, test_y, ntest = test_x:narrow(0, 0, test_size), test_y:narrow(0, 0, test_size), test_size
end
local nclasses = #names
local dim = train_x:size(1) * train_x:size(2)
train_x = train_x:reshape(train_x:size(0), dim) -- uint8 [60000, 784], a view
say(("Fashion-MNIST: %d training images, %d test images used, %d classes, %d pixels")
  :format(train_x:size(0), ntest, nclasses, dim))

-- ------------------------------------------------------------ features
-- pixels in [0, 1] as float32 rows
local function pixels(u8rows)
  return u8rows:float() / 255
end

-- each row scaled to unit L2 norm (an all-zero row stays zero)
local function l2_normalise(x)
  return x / x:norm(2, 1, true):clamp(1e-12)
end

-- squared L2 norm of each row, as a [1, n] row for broadcasting
local function sq_norms_row(x)
  return (x * x):sum(1):view(1, -1)
end

-- nearest row of `refs` for each row of `queries` (Euclidean):
-- argmin ||q - r||^2 = argmax (2 q.r - ||r||^2); ||q||^2 is constant per query
local function nearest(queries, refs)
  local scores = queries:matmul(refs:t()) * 2 - sq_norms_row(refs)
  local _, idx = scores:max(1)
  return idx
end

local function accuracy(pred, truth)
  return 100 * pred:eq(truth):sum():item() / truth:numel()
end

-- ------------------------------------------------------------ experiment
local test_raw = pixels(test_x:reshape(ntest, dim))
local test_l2 = l2_normalise(test_raw)

local METHODS = {
  { key = "nc_raw", name = "nearest centroid, raw pixels", ref = "nc" },
  { key = "nn_raw", name = "1-NN, raw pixels", ref = "nn" },
  { key = "nc_l2", name = "nearest centroid, L2-normalised", ref = nil },
  { key = "nn_l2", name = "1-NN, L2-normalised", ref = nil },
}
-- notes/small-sample-protocols.md, protocol 1 (10 seeds, raw pixels, scikit-learn 1.2)
local REFERENCE = {
  [1] = { nc = 45.5, nn = 45.5, logreg = "46.5 ± 2.1" },
  [5] = { nc = 61.7, nn = 58.6, logreg = "65.7 ± 1.5" },
  [10] = { nc = 64.5, nn = 63.3, logreg = "71.4 ± 0.8" },
  [50] = { nc = 67.0, nn = 72.1, logreg = "77.6 ± 0.4" },
}

-- one draw: accuracies of every method for K per class and data seed
local function run_once(k, seed)
  local idx = ks.data.kshot_indices(train_y, k, { seed = seed })
  local x = pixels(train_x:index_select(0, idx))   -- [C*K, 784], grouped by class
  local y = train_y:index_select(0, idx)
  local xl2 = l2_normalise(x)
  local acc = {}
  -- the sampler groups rows by ascending class: row c*K + j belongs to class c
  local function centroid_pred(train, test)
    local centroids = train:view(nclasses, k, dim):mean(1)
    return nearest(test, centroids)
  end
  acc.nc_raw = accuracy(centroid_pred(x, test_raw), test_y)
  acc.nc_l2 = accuracy(centroid_pred(xl2, test_l2), test_y)
  acc.nn_raw = accuracy(y:index_select(0, nearest(test_raw, x)), test_y)
  acc.nn_l2 = accuracy(y:index_select(0, nearest(test_l2, xl2)), test_y)
  return acc
end

local results = {} -- results[method key][k] = list of accuracies over seeds
for _, m in ipairs(METHODS) do results[m.key] = {} end
for _, k in ipairs(ks_list) do
  for _, m in ipairs(METHODS) do results[m.key][k] = {} end
  for seed = 0, nseeds - 1 do
    local acc = run_once(k, seed)
    for _, m in ipairs(METHODS) do table.insert(results[m.key][k], acc[m.key]) end
    say(("  K=%-3d seed=%-2d  NC raw %5.2f  1-NN raw %5.2f  NC L2 %5.2f  1-NN L2 %5.2f")
      :format(k, seed, acc.nc_raw, acc.nn_raw, acc.nc_l2, acc.nn_l2))
    collectgarbage("step", 0)
  end
end

-- ------------------------------------------------------------ report
local interval = nseeds > 1
  and ("95%% interval: mean ± t(0.975, %d df) · s / sqrt(%d), s = sample sd (n-1)"):format(nseeds - 1, nseeds)
  or "95% interval: needs at least 2 seeds"
print()
print(("Fashion-MNIST protocol 1: K labelled training images per class, %d test images, %d seed%s")
  :format(ntest, nseeds, nseeds == 1 and "" or "s"))
print(interval)
print(("draws: ks.data.kshot_indices with seeds 0..%d; for one seed the smaller-K sets are inside the larger ones")
  :format(nseeds - 1))
print()
print(("%-34s %4s  %-22s %s"):format("method", "K", "test accuracy %", "reference %"))
print(string.rep("-", 78))
for _, m in ipairs(METHODS) do
  for _, k in ipairs(ks_list) do
    local mean, half = mean_ci(results[m.key][k])
    local cell = half and ("%5.2f ± %4.2f"):format(mean, half) or ("%5.2f"):format(mean)
    local ref = m.ref and REFERENCE[k] and ("%.1f"):format(REFERENCE[k][m.ref]) or "-"
    print(("%-34s %4d  %-22s %s"):format(m.name, k, cell, ref))
  end
end
print(string.rep("-", 78))
print("reference: notes/small-sample-protocols.md (10 seeds, raw pixels, scikit-learn 1.2);")
local lr = {}
for _, k in ipairs(ks_list) do
  if REFERENCE[k] then lr[#lr + 1] = ("K=%d %s"):format(k, REFERENCE[k].logreg) end
end
if #lr > 0 then print("  logistic regression (C = 1) for scale: " .. table.concat(lr, ", ")) end

-- the interpreter is the lowest negative index of `arg` (lua.c convention)
local interp = "kshot"
if arg then
  local i = -1
  while arg[i] do interp, i = arg[i], i - 1 end
end
local cmd = ("%s %s --k %s --seeds %d --test-size %d%s"):format(
  interp, arg and arg[0] or "scripts/fewshot_fashion.lua",
  table.concat(ks_list, ","), nseeds, test_size, path and (" --path " .. path) or "")
print()
print("reproduce: " .. cmd)
print(("elapsed: %d s wall (1 s resolution), %.1f s CPU (all threads)"):format(os.time() - t_start,
  os.clock() - c_start))
