-- bench_gc_loop.lua: a loop of temporaries without collectgarbage(): time per
-- iteration and the peak of live tensor bytes, which shows how well the GC
-- pacing (KS_GC_BATCH in bindings/ks_lua.h) keeps memory bounded.
-- Prints one line per case:
--   gc_loop elements=<n> iters=<k> ns_per_iter=<ns> peak_live_kb=<kb> steady_live_kb=<kb>
-- then training steps of the main job's CNN (batch 32, AdamW) beside 188 MB
-- of live tensors (a dataset), with a small Lua heap and with ~45 MB of Lua
-- tables: a collection cycle marks the whole heap, so the ratio shows what
-- the pacing's cycle count costs; peak_garbage_mb is the most tensor memory
-- found above the live set during the steps:
--   gc_cnn heap_mb=<mb> ms_per_step=<ms> peak_garbage_mb=<mb> ratio_vs_small_heap=<r>
-- Run: kshot scripts/bench/bench_gc_loop.lua
local ks = require "kshot"

if ks.set_num_threads then ks.set_num_threads(1) end

local function case(n, iters)
  collectgarbage()
  collectgarbage()
  local base = ks.memory_stats().live_bytes
  local peak, sum, samples = 0, 0, 0
  local t0 = os.clock()
  for i = 1, iters do
    local _ = ks.ones(n) + 1
    if i % 16 == 0 then
      local l = ks.memory_stats().live_bytes - base
      if l > peak then peak = l end
      sum, samples = sum + l, samples + 1
    end
  end
  local ns = (os.clock() - t0) / iters * 1e9
  print(("gc_loop elements=%d iters=%d ns_per_iter=%.0f peak_live_kb=%.0f steady_live_kb=%.0f"):format(
    n, iters, ns, peak / 1024, sum / samples / 1024))
end

case(64, 200000)
case(4096, 50000)
case(1 << 18, 2000)

local nn = require "kshot.nn"
local F = ks.functional
local data = ks.zeros(60000, 784) -- live tensors the collector must not mistake for garbage
local function cnn_case(heap_mb, ref)
  local ballast = {}
  for i = 1, heap_mb * 13000 do ballast[i] = { i } end -- ~40 bytes per table
  local model = nn.Sequential(nn.Conv2d(1, 32, 3, { padding = 1 }), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, { padding = 1 }), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 49, 128), nn.ReLU(), nn.Linear(128, 10))
  local opt = require("kshot.optim").AdamW(model:parameters(), { lr = 1e-3 })
  local x, y = ks.randn(32, 1, 28, 28), ks.randint(0, 10, { 32 })
  local function step()
    opt:zero_grad()
    F.cross_entropy(model(x), y):backward()
    opt:step()
  end
  for _ = 1, 10 do step() end
  collectgarbage()
  collectgarbage()
  local base, peak, n = ks.memory_stats().live_bytes, 0, 200
  local t0 = ks._bench_clock()
  for _ = 1, n do
    step()
    peak = math.max(peak, ks.memory_stats().live_bytes - base)
  end
  local ms = (ks._bench_clock() - t0) / n * 1e3
  print(("gc_cnn heap_mb=%.1f ms_per_step=%.2f peak_garbage_mb=%.1f ratio_vs_small_heap=%.2f"):format(
    collectgarbage("count") / 1024, ms, peak / 2 ^ 20, ref and ms / ref or 1))
  ballast = nil
  return ms
end
local ref = cnn_case(0)
cnn_case(40, ref)
