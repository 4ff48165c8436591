-- bench_grid_sample.lua: F.grid_sample and F.affine_grid on x [32, 1, 28, 28] (a spatial
-- transformer on a Fashion-MNIST-sized batch) with a rotation-like affine grid, forward
-- and forward + backward through affine_grid, at 1 and 2 threads, against torch 1.13 on
-- the same cases (scripts/bench/peer_grid_sample.py, one thread).
-- Run: kshot scripts/bench/bench_grid_sample.lua   (env KSHOT_BENCH_PEER=0 skips the torch run)
-- Prints: grid_sample case=<name> threads=<n> us_per_call=<us> torch_us=<us> ratio=<kshot/torch>
local ks = require "kshot"
local F = require "kshot.nn.functional"

local SIZE = { 32, 1, 28, 28 }

-- wall clock for the 2-thread run (CPU time would add the threads up); it costs a
-- process start (~1 ms), so that run times longer batches. 1 thread: os.clock.
local function wall()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

-- best of reps batches of iters calls, microseconds per call
local function best(fn, now, reps, iters)
  local b = math.huge
  for _ = 1, reps do
    local t0 = now()
    for _ = 1, iters do fn() end
    b = math.min(b, (now() - t0) / iters * 1e6)
  end
  return b
end

local function peer()
  local r = {}
  if os.getenv("KSHOT_BENCH_PEER") == "0" then return r end
  local p = io.popen("/usr/bin/python3 scripts/bench/peer_grid_sample.py 2>/dev/null")
  for line in (p and p:read("a") or ""):gmatch("[^\n]+") do
    local name, us = line:match("case=(%S+) us_per_call=([%d%.]+)")
    if name then r[name] = tonumber(us) end
  end
  if p then p:close() end
  return r
end

local torch = peer()
local x = ks.randn(32, 1, 28, 28)
local th = ks.tensor({ { 1, 0.1, 0 }, { -0.1, 1, 0 } }):unsqueeze(0):expand(32, 2, 3):contiguous()
local g = F.affine_grid(th, SIZE)
local xr, thr = x:clone():requires_grad_(), th:clone():requires_grad_()

local cases = {
  { "grid_sample_fwd", function() local y = F.grid_sample(x, g) end },
  { "affine_grid", function() local y = F.affine_grid(th, SIZE) end },
  { "affine_grid+grid_sample_fwd_bwd", function()
    F.grid_sample(xr, F.affine_grid(thr, SIZE)):sum():backward()
    xr.grad, thr.grad = nil, nil
  end },
}
for _, threads in ipairs({ 1, 2 }) do
  ks.set_num_threads(threads)
  for _, c in ipairs(cases) do
    local us = threads == 1 and best(c[2], os.clock, 15, 40) or best(c[2], wall, 5, 400)
    local ref = torch[c[1]]
    print(("grid_sample case=%s threads=%d us_per_call=%.1f torch_us=%s ratio=%s"):format(c[1], threads, us,
      ref and ("%.1f"):format(ref) or "-", ref and ("%.2f"):format(us / ref) or "-"))
  end
end
