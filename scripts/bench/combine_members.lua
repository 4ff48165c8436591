--- combine_members.lua: how fewshot_fashion.lua's best_recipe would score with other members or another way of
-- combining them, without training the CNNs again (development replicates only; how session 16 chose its third
-- member and the log-probability combination, and session 17 its fourth and fifth members, e.g.
-- `... runs_dev "scat3,lbp@1e-4,ltp@1e-4" "s16=log:cnn*1+hog*0.75+scattering*0.75+scat3*0.75;s17=log:cnn*1+\
-- hog*0.75+scattering*0.75+scat3*0.75+lbp@1e-4*0.75+ltp@1e-4*0.75"`).
--
--   kshot scripts/fewshot_fashion.lua --dev --seeds 8 --test-size 2000 --preset candidates --only best_dump \
--     --root runs_dev                      # saves members.safetensors beside each best_dump record
--   kshot scripts/bench/combine_members.lua runs_dev MEMBERS COMBOS
--
-- MEMBERS: extra logistic-regression members trained here on each replicate's K-shot images and their one-pixel
-- shifts, comma-separated FEATURE[@L2] (FEATURE: hog, scat2, scat3, scat2L12, pix, lbp, lbp2 (radius 2), ltp; L2
-- penalty default 1e-3), or "affine_FEATURE_D" (Bruna & Mallat's affine-space model with D principal
-- directions). "" for none.
-- COMBOS: name=TERM+TERM+... separated by ';', a TERM is MEMBER*WEIGHT over the saved members (cnn, hog,
-- scattering) and MEMBERS; "log:" in front sums weight * log(p) instead of weight * p. The saved recipe is
-- "cnn*1+hog*0.75+scattering*0.75". Prints each combination's mean development accuracy per K and, with
-- --per, each replicate's.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local features = require "kshot.features"
local metrics = require "kshot.metrics"
local lfs = require "lfs"
local F = ks.functional

local per = false
for i = #arg, 1, -1 do if arg[i] == "--per" then per = true; table.remove(arg, i) end end
local root, member_arg, combo_arg = arg[1], arg[2] or "", arg[3]
if not root or not combo_arg then
  io.stderr:write("usage: kshot scripts/bench/combine_members.lua RUNS_ROOT MEMBERS COMBOS [--per] (see the header)\n")
  os.exit(2)
end
ks.set_num_threads(1)

-- pixels in [0, 1] (the script's fixed members read x * SD + MEAN: the same values)
local X, Y = ks.data.fashion_mnist { split = "train" }
X = X:float():div(255):view(-1, 1, 28, 28)

local function sqrt_scat(J, L)
  return function(x)
    local s = features.scattering(x, { J = J, L = L })
    return s:reshape(s:size(0), -1):clamp(0, math.huge):sqrt()
  end
end
local FEAT = { hog = features.hog, scat2 = sqrt_scat(2, 8), scat3 = sqrt_scat(3, 8), scat2L12 = sqrt_scat(2, 12),
  pix = function(x) return x:reshape(x:size(0), -1) end, lbp = features.lbp,
  lbp2 = function(x) return features.lbp(x, { radius = 2 }) end, ltp = features.ltp }

local function with_shifts(x, y)
  local xs, ys = { x }, { y }
  for _, d in ipairs { { 1, -1, 0, 0 }, { -1, 1, 0, 0 }, { 0, 0, 1, -1 }, { 0, 0, -1, 1 } } do
    xs[#xs + 1], ys[#ys + 1] = ks.pad(x, d), y
  end
  return ks.cat(xs, 0), ks.cat(ys, 0)
end

-- as the script's train_fixed: AdamW, 300 full-batch steps, an L2 penalty on the weights
local function fit_logreg(f, y, l2, seed)
  ks.manual_seed(seed)
  local m = nn.Linear(f:size(1), 10)
  local opt = optim.AdamW(m:parameters(), { lr = 0.05, weight_decay = 0 })
  for _ = 1, 300 do
    opt:zero_grad()
    local loss = F.cross_entropy(m(f), y) + m.weight:pow(2):sum() * l2
    loss:backward()
    opt:step()
  end
  return function(ft) return ks.no_grad(function() return F.softmax(m(ft), 1) end) end
end

-- per class the mean and d principal directions; p = softmax(-squared distance to the class's affine space / T)
local function fit_affine(f, y, d)
  local cls, spread = {}, 0
  for c = 0, 9 do
    local fc = f:index_select(0, ks.nonzero(y:eq(c)):view(-1))
    local mu = fc:mean(0, true)
    local _, _, vh = ks.linalg.svd(fc - mu, { full_matrices = false })
    cls[c + 1] = { mu = mu, v = vh:narrow(0, 0, math.min(d, vh:size(0))) }
    spread = spread + (fc - mu):pow(2):sum():item()
  end
  local temp = 0.1 * spread / f:size(0)
  return function(ft)
    local dist = {}
    for c = 1, 10 do
      local r = ft - cls[c].mu
      dist[c] = (r:pow(2):sum(1) - r:matmul(cls[c].v:t()):pow(2):sum(1)):view(-1, 1)
    end
    return F.softmax(ks.cat(dist, 1) / -temp, 1)
  end
end

local members = {}
for m in member_arg:gmatch("[^,]+") do members[#members + 1] = m end
local combos = {}
for c in combo_arg:gmatch("[^;]+") do
  local name, expr = c:match("^%s*([^=]+)=(.+)$")
  assert(name, "a combination is name=TERM+TERM..., got " .. c)
  local log = expr:match("^log:") ~= nil
  local terms = {}
  for term in (log and expr:sub(5) or expr):gmatch("[^+]+") do
    local m, w = term:match("^(.+)%*([%d.eE+-]+)$")
    assert(m and tonumber(w), "a term is MEMBER*WEIGHT, got " .. term)
    terms[#terms + 1] = { m, tonumber(w) }
  end
  combos[#combos + 1] = { name = name, log = log, terms = terms }
end

-- the saved runs: <root>/<experiment>/best_dump/rep-<r>/members.safetensors, by K
local files = {}
for exp in lfs.dir(root) do
  local k = exp:match("^fewshot_fashion%-k(%d+)%-dev")
  local dir = root .. "/" .. exp .. "/best_dump"
  if k and lfs.attributes(dir, "mode") == "directory" then
    for rep in lfs.dir(dir) do
      local path = dir .. "/" .. rep .. "/members.safetensors"
      if lfs.attributes(path, "mode") == "file" then
        files[#files + 1] = { k = tonumber(k), rep = tonumber(rep:match("%d+")), path = path }
      end
    end
  end
end
table.sort(files, function(a, b) return a.k ~= b.k and a.k < b.k or a.rep < b.rep end)
assert(#files > 0, "no best_dump records with members.safetensors under " .. root)

local dev_features = {}
local sums, counts = {}, {}
for _, file in ipairs(files) do
  local t = ks.load(file.path)
  local y = t.y
  local dev_x = X:narrow(0, 50000, y:size(0)) -- the script's --dev scores the first N images from row 50000
  local p = { cnn = t.cnn, hog = t.hog, scattering = t.scattering }
  local xk, yk = with_shifts(X:index_select(0, t.rows), Y:index_select(0, t.rows))
  for _, m in ipairs(members) do
    local afeat, d = m:match("^affine_(%w+)_(%d+)$")
    local feat, l2 = m:match("^(%w+)@?(.*)$")
    feat = afeat or feat
    assert(FEAT[feat], "unknown feature " .. feat)
    dev_features[feat] = dev_features[feat] or ks.no_grad(function() return FEAT[feat](dev_x) end)
    local f = ks.no_grad(function() return FEAT[feat](xk) end)
    if afeat then
      p[m] = ks.no_grad(function() return fit_affine(f, yk, tonumber(d))(dev_features[feat]) end)
    else
      p[m] = fit_logreg(f, yk, tonumber(l2) or 1e-3, file.rep)(dev_features[feat])
    end
  end
  for _, c in ipairs(combos) do
    local score
    for _, term in ipairs(c.terms) do
      local q = assert(p[term[1]], "no member " .. term[1] .. " (saved: cnn, hog, scattering; or give it in MEMBERS)")
      q = (c.log and (q + 1e-6):log() or q) * term[2]
      score = score and score + q or q
    end
    local acc = 100 * metrics.accuracy(score:argmax(1), y)
    local key = file.k .. "\0" .. c.name
    sums[key], counts[key] = (sums[key] or 0) + acc, (counts[key] or 0) + 1
    if per then print(("K=%d replicate %d %-24s %.2f"):format(file.k, file.rep, c.name, acc)) end
  end
end
local ks_seen = {}
for _, file in ipairs(files) do
  if not ks_seen[file.k] then
    ks_seen[file.k] = true
    for _, c in ipairs(combos) do
      local key = file.k .. "\0" .. c.name
      print(("K=%d %-24s %.2f  (%d replicates)"):format(file.k, c.name, sums[key] / counts[key], counts[key]))
    end
  end
end
