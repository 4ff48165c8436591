--- pixel_logreg_draws.lua: how hard are fewshot_fashion.lua's report draws? A logistic regression on raw
-- pixels in [0, 1] (scikit-learn's objective with C = 1: mean cross-entropy + |W|^2 / (2 n), the bias not
-- penalised), trained to convergence on each report replicate's K-shot set and scored on the 10,000 test
-- images, to compare with the protocol note's 65.7 (K = 5) / 71.4 (K = 10) on the note's own draws.
--   kshot scripts/bench/pixel_logreg_draws.lua [REPLICATES=10] [K...=5 10]
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local experiment = require "kshot.experiment"
local metrics = require "kshot.metrics"
local F = ks.functional

local nrep = math.tointeger(tonumber(arg[1] or "10"))
if not nrep or nrep < 1 then
  io.stderr:write("usage: kshot scripts/bench/pixel_logreg_draws.lua [REPLICATES] [K...]\n")
  os.exit(2)
end
local kvals = {}
for i = 2, #arg do kvals[#kvals + 1] = math.tointeger(tonumber(arg[i])) end
if #kvals == 0 then kvals = { 5, 10 } end

local train_x, train_y = ks.data.fashion_mnist { split = "train" }
local test_x, test_y = ks.data.fashion_mnist { split = "test" }
local test_in = test_x:float():div(255):reshape(-1, 784)

for _, k in ipairs(kvals) do
  local accs, sum = {}, 0
  for r = 0, nrep - 1 do
    -- the replicate's data seed exactly as fewshot_fashion.lua derives it (experiment seed 2026)
    local seed = experiment.derive_seed(2026, "rep-" .. r) % 2147483647
    local rows = ks.data.kshot_indices(train_y, k, { seed = seed })
    local x = train_x:index_select(0, rows):float():div(255):reshape(-1, 784)
    local y = train_y:index_select(0, rows)
    ks.manual_seed(1)
    local m = nn.Linear(784, 10)
    local opt = optim.Adam(m:parameters(), { lr = 0.01 })
    for _ = 1, 2000 do -- full batch
      opt:zero_grad()
      local loss = F.cross_entropy(m(x), y) + m.weight:pow(2):sum() / (2 * x:size(0))
      loss:backward()
      opt:step()
    end
    local acc = 100 * metrics.accuracy(ks.no_grad(function() return m(test_in) end):argmax(1), test_y)
    accs[#accs + 1], sum = ("%.1f"):format(acc), sum + acc
  end
  print(("K = %d: mean %.2f over %d report draws (%s)"):format(k, sum / nrep, nrep, table.concat(accs, ", ")))
end
