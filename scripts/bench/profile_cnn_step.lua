--- profile_cnn_step.lua: time of one AdamW step of the main job's CNN (batch 32) and of each layer's
-- forward; a profile for comparing builds back to back, not a benchmark (no reference).
--   kshot scripts/bench/profile_cnn_step.lua [threads=1]
local ks = require "kshot"
local nn = require "kshot.nn"
local F = ks.functional
ks.set_num_threads(tonumber(arg[1] or 1))
local clock = ks._bench_clock
local layers = {
  nn.Conv2d(1, 32, 3, { padding = 1 }), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
  nn.Conv2d(32, 64, 3, { padding = 1 }), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
  nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 49, 128), nn.ReLU(), nn.Linear(128, 10) }
local model = nn.Sequential(table.unpack(layers))
local x = ks.randn(32, 1, 28, 28)
local y = ks.randint(0, 10, { 32 })
local opt = require("kshot.optim").AdamW(model:parameters(), { lr = 1e-3 })
local function step()
  opt:zero_grad()
  local loss = F.cross_entropy(model(x), y)
  loss:backward()
  opt:step()
end
for i = 1, 20 do step() end
local n = 200
local t = clock()
for i = 1, n do step() end
local total = (clock() - t) / n
print(("full step %.2f ms"):format(total * 1e3))
-- forward only per layer
local fw = {}
ks.no_grad(function()
  for r = 1, 50 do
    local h = x
    for i, l in ipairs(layers) do
      local t0 = clock(); h = l(h); fw[i] = (fw[i] or 0) + clock() - t0
    end
  end
end)
for i, l in ipairs(layers) do print(("%2d %-12s fwd %.3f ms"):format(i, getmetatable(l).__name or tostring(l):sub(1, 12), fw[i] / 50 * 1e3)) end
