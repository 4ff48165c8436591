-- bench_matmul.lua: ks.matmul from Lua against raw cblas_sgemm (sgemm_ref).
--
--   make BUILD=build build/kshot build/sgemm_ref
--   build/kshot scripts/bench/bench_matmul.lua [ref=$BUILD/sgemm_ref] [threads=1,2] [rounds=1]
--   (or: lua5.4 -e 'package.cpath="build/?.so;"..package.cpath' scripts/bench/bench_matmul.lua ...)
--
-- For each thread count, runs sgemm_ref (same cases, same timing rule: the
-- iteration count doubles until a run takes >= 0.2 s, then the best of five
-- runs) with OPENBLAS_NUM_THREADS set, then times kshot after
-- ks.set_num_threads(n) in a child process started with the same
-- OPENBLAS_NUM_THREADS, then runs sgemm_ref again; with rounds=n that
-- alternation repeats n times. The best figure of each side counts (the
-- machine may be busy). Prints, per case:
--   matmul case=1024 threads=1 gflops_kshot=.. gflops_ref=.. ratio=..      (a:matmul(b), allocating)
--   matmul_out case=1024 threads=1 gflops_kshot=.. gflops_ref=.. ratio=..  (ks.matmul(a, b, out))
-- A benchmark, never a test: nothing here fails on a slow figure.
local ks = require "kshot"

local opts = {ref = (os.getenv("BUILD") or "build") .. "/sgemm_ref", threads = "1,2", rounds = "1"}
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^(%w+)=(.*)$")
  if k then opts[k] = v end
end

-- Clocks, as in sgemm_ref: with 1 thread the process's CPU time (os.clock),
-- otherwise the wall clock. Lua has no wall clock finer than a second, so
-- ask date(1) (about a millisecond per call; runs last >= 0.2 s, so the
-- error stays < 1%).
local function wall()
  local p = io.popen("date +%s.%N")
  local s = p:read("l")
  p:close()
  return tonumber(s)
end
local now = wall

local function randu(...)
  if ks.rand then return ks.rand(...) end
  return ks.randn(...)
end

local cases = {
  {name = "1024", make = function()
    return randu(1024, 1024), randu(1024, 1024), 2 * 1024 ^ 3 end},
  {name = "mlp", make = function()
    return randu(32, 784), randu(784, 256), 2 * 32 * 784 * 256 end},
  {name = "mlp_t", make = function()   -- x @ W:t() with W [256, 784]: a transposed view
    return randu(32, 784), randu(256, 784):t(), 2 * 32 * 784 * 256 end},
  {name = "bmm", make = function()
    return randu(64, 32, 32), randu(64, 32, 32), 2 * 64 * 32 ^ 3 end},
}

local function time_iters(fn, iters)
  local t0 = now()
  for _ = 1, iters do fn() end
  return now() - t0
end

-- same rule as sgemm_ref: double until >= 0.2 s, then best of five
local function best_time(fn)
  fn()
  local iters = 1
  while time_iters(fn, iters) < 0.2 do iters = iters * 2 end
  local best = math.huge
  for _ = 1, 5 do best = math.min(best, time_iters(fn, iters)) end
  return best / iters
end

local function run_ref(threads)
  local cmd = string.format("OPENBLAS_NUM_THREADS=%d %s %d", threads, opts.ref, threads)
  local p = io.popen(cmd)
  local out = {}
  for line in p:lines() do
    local name, g = line:match("^case=(%S+) threads=%d+ gflops=([%d.]+)")
    if name then out[name] = tonumber(g) end
  end
  p:close()
  return out
end

local function report(kind, name, threads, gk, gr)
  if gr then
    print(string.format("%s case=%s threads=%d gflops_kshot=%.2f gflops_ref=%.2f ratio=%.3f",
                        kind, name, threads, gk, gr, gk / gr))
  else
    print(string.format("%s case=%s threads=%d gflops_kshot=%.2f gflops_ref=? (run make %s)",
                        kind, name, threads, gk, opts.ref))
  end
end

-- child: time kshot at one thread count (started with OPENBLAS_NUM_THREADS set)
local function child(threads)
  ks.set_num_threads(threads)
  now = threads == 1 and os.clock or wall
  for _, c in ipairs(cases) do
    local a, b, flops = c.make()
    local out = a:matmul(b)
    local plain = best_time(function() return a:matmul(b) end)
    local into = best_time(function() return ks.matmul(a, b, out) end)
    print(string.format("kshot case=%s plain=%.4f out=%.4f", c.name, flops / plain * 1e-9, flops / into * 1e-9))
    a, b, out = nil, nil, nil
    collectgarbage()
  end
end

if opts.child then child(tonumber(opts.child)) return end

-- parent: this same interpreter and script again, as a child process per thread count
local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
local self_cmd = {}
do
  local lo = 0
  while arg[lo - 1] do lo = lo - 1 end
  for i = lo, 0 do self_cmd[#self_cmd + 1] = shell_quote(arg[i]) end
end

local function run_child(threads)
  local cmd = string.format("OPENBLAS_NUM_THREADS=%d %s child=%d", threads, table.concat(self_cmd, " "), threads)
  local p = io.popen(cmd)
  local res = {}
  for line in p:lines() do
    local name, g1, g2 = line:match("^kshot case=(%S+) plain=([%d.]+) out=([%d.]+)")
    if name then res[name] = {tonumber(g1), tonumber(g2)} else print(line) end
  end
  p:close()
  return res
end

for ts in opts.threads:gmatch("%d+") do
  local threads = tonumber(ts)
  -- ref, kshot, ref, kshot, ..., ref: the best figure of each side counts
  local ref, res = run_ref(threads), {}
  for _ = 1, tonumber(opts.rounds) do
    for k, v in pairs(run_child(threads)) do
      local r = res[k] or {0, 0}
      res[k] = {math.max(r[1], v[1]), math.max(r[2], v[2])}
    end
    for k, v in pairs(run_ref(threads)) do ref[k] = math.max(ref[k] or 0, v) end
  end
  for _, c in ipairs(cases) do
    local r = res[c.name]
    if r then
      report("matmul", c.name, threads, r[1], ref[c.name])
      report("matmul_out", c.name, threads, r[2], ref[c.name])
    end
  end
end
