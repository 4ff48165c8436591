-- bench_gc_loop.lua: a loop of temporaries without collectgarbage(): time per
-- iteration and the peak of live tensor bytes, which shows how well the GC
-- pacing (KS_GC_BATCH in bindings/ks_lua.h) keeps memory bounded.
-- Prints one line per case:
--   gc_loop elements=<n> iters=<k> ns_per_iter=<ns> peak_live_kb=<kb> steady_live_kb=<kb>
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
