-- bench_train_steps.lua: training steps per second (zero_grad + forward +
-- cross_entropy + backward + SGD update) of the linear model, the MLP and the
-- small CNN at batch 8, 32 and 128, side by side with PyTorch run in the same
-- invocation (issue 3).
--
--   build/kshot scripts/bench/bench_train_steps.lua [models=linear,mlp,cnn]
--       [batches=8,32,128] [threads=1,2] [peer=1] [optim=0] [cpu=0] [seconds=1]
--
-- Models (as ../shared/peers/torch_steps.py): linear = Flatten
-- Linear(784,10); mlp = nn.mlp{784,256,128,10}; cnn =
-- nn.small_cnn(). Inputs randn(batch,1,28,28), targets randint(0,10).
-- Update: plain SGD (lr 0.01) written with tensor ops,
--   ks.no_grad(function() for _, p in ipairs(params) do p:add_(p.grad, -lr) end end)
-- and, with optim=1 and when kshot.optim.SGD exists, also optim.SGD.
--
-- PyTorch peer: /usr/bin/python3 torch_steps.py sgd 1 with
-- OPENBLAS_NUM_THREADS=1 and one torch thread (its fastest setting on this
-- 2-core machine), run before and after kshot's runs, best of the two.
-- kshot: ks.set_num_threads(t) for each t in threads (its pool and OpenBLAS
-- both follow t).
--
-- Result lines:
--   train model=.. batch=.. threads=.. update=sgd steps_per_s=.. torch_steps_per_s=.. ratio=..
-- and with cpu=1 also (process CPU time, kshot at 1 thread, against
-- scripts/bench/peer_train_cpu.py -- run from the repository root):
--   train_cpu model=.. batch=.. threads=1 update=sgd cpu_steps_per_s=.. torch_cpu_steps_per_s=.. ratio=..
-- Timing: best of 3 runs of >= seconds/3 each, after 5 warm-up steps (the
-- machine may be busy). A benchmark, never a test.
local ks = require "kshot"
local nn = require "kshot.nn"
local F = ks.functional

local opts = {models = "linear,mlp,cnn", batches = "8,32,128", threads = "1,2", peer = "1", optim = "0", cpu = "0",
  seconds = "1", peer_script = (os.getenv("KSHOT_PEERS") or "../shared/peers") .. "/torch_steps.py"}
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if k then opts[k] = v end
end
local function list(s, num)
  local r = {}
  for w in s:gmatch("[^,]+") do r[#r + 1] = num and math.tointeger(tonumber(w)) or w end
  return r
end
local clock = ks._bench_clock or error("ks._bench_clock missing")
local seconds = tonumber(opts.seconds)

----------------------------------------------------------------- PyTorch peer
-- Run twice, before and after kshot's runs; the better figure of the two is
-- kept (a busy machine then handicaps PyTorch less than kshot).
local peer, peer_ok = {}, false
local function run_peer()
  if opts.peer ~= "1" then return end
  local cmd = "OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 " .. opts.peer_script .. " sgd 1 2>&1"
  local f = io.popen(cmd)
  local out = f and f:read("a") or ""
  if f then f:close() end
  for name, batch, sps in out:gmatch("(%w+) batch=(%d+) opt=sgd steps_per_s=([%d.]+)") do
    local k = name .. "/" .. batch
    peer[k] = math.max(peer[k] or 0, tonumber(sps))
    peer_ok = true
  end
  if not peer_ok then io.write("torch peer unavailable: ", out:sub(1, 200), "\n") end
end
if opts.peer == "1" then
  local v = io.popen("/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null")
  io.write("torch ", v and v:read("l") or "?", ": 1 thread (torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1, ",
    "OMP_NUM_THREADS=1), best of 2 runs of ", opts.peer_script, " sgd 1\n")
  if v then v:close() end
end
run_peer()

----------------------------------------------------------------------- kshot
local builders = {
  linear = function() return nn.Sequential(nn.Flatten(), nn.Linear(784, 10)) end,
  mlp = function() return nn.mlp{784, 256, 128, 10} end,
  cnn = function() return nn.small_cnn() end,
}

local function sgd_step_fn(model, x, y, lr)
  local params = model:parameters()
  local function update()
    for i = 1, #params do
      local p = params[i]
      p:add_(p.grad, -lr)
    end
  end
  return function()
    for i = 1, #params do params[i].grad = nil end
    local loss = F.cross_entropy(model(x), y)
    loss:backward()
    ks.no_grad(update)
  end
end

local function optim_step_fn(model, x, y, lr)
  local optim = require "kshot.optim"
  local opt = optim.SGD(model:parameters(), {lr = lr})
  return function()
    opt:zero_grad()
    F.cross_entropy(model(x), y):backward()
    opt:step()
  end
end

-- steps per second of `timer` (wall clock, or os.clock = process CPU time)
local function steps_per_second(step, timer)
  timer = timer or clock
  for _ = 1, 5 do step() end
  local t0 = timer()
  step()
  local n = math.max(3, math.floor(seconds / 3 / math.max(timer() - t0, 1e-6)))
  local best = math.huge
  for _ = 1, 3 do
    t0 = timer()
    for _ = 1, n do step() end
    best = math.min(best, (timer() - t0) / n)
  end
  return 1 / best
end

local updates = {{"sgd", sgd_step_fn}}
if opts.optim == "1" then
  local ok, optim = pcall(require, "kshot.optim")
  if ok and optim.SGD then updates[2] = {"optim.SGD", optim_step_fn} end
end

io.write(string.format("kshot: threads=%s (ks.set_num_threads: the kshot pool; OpenBLAS single-threaded per block), best of 3 timings\n",
  opts.threads))
local results = {}
for _, name in ipairs(list(opts.models)) do
  for _, batch in ipairs(list(opts.batches, true)) do
    for _, t in ipairs(list(opts.threads, true)) do
      ks.set_num_threads(t)
      for _, u in ipairs(updates) do
        ks.manual_seed(0)
        local model = builders[name]()
        local x, y = ks.randn(batch, 1, 28, 28), ks.randint(0, 10, {batch})
        results[#results + 1] = {name, batch, t, u[1], steps_per_second(u[2](model, x, y, 0.01))}
      end
    end
  end
end
run_peer()

-- cpu=1: the same steps timed in process CPU time (kshot at 1 thread, sgd)
-- against scripts/bench/peer_train_cpu.py: on a machine other processes keep
-- busy, wall-clock figures measure the scheduler more than the code.
local cpu_lines = {}
if opts.cpu == "1" then
  ks.set_num_threads(1)
  local cpu_peer = {}
  local f = opts.peer == "1" and io.popen("OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 "
    .. "scripts/bench/peer_train_cpu.py " .. opts.models .. " " .. opts.batches .. " " .. opts.seconds .. " 2>&1")
  for line in (f and f:read("a") or ""):gmatch("[^\n]+") do
    local name, batch, sps = line:match("cpu model=(%w+) batch=(%d+) torch_cpu_steps_per_s=([%d.]+)")
    if name then cpu_peer[name .. "/" .. batch] = tonumber(sps) end
  end
  if f then f:close() end
  for _, name in ipairs(list(opts.models)) do
    for _, batch in ipairs(list(opts.batches, true)) do
      ks.manual_seed(0)
      local model = builders[name]()
      local x, y = ks.randn(batch, 1, 28, 28), ks.randint(0, 10, {batch})
      local sps = steps_per_second(sgd_step_fn(model, x, y, 0.01), os.clock)
      local tp = cpu_peer[name .. "/" .. batch]
      cpu_lines[#cpu_lines + 1] = string.format(
        "train_cpu model=%s batch=%d threads=1 update=sgd cpu_steps_per_s=%.1f torch_cpu_steps_per_s=%s ratio=%s\n",
        name, batch, sps, tp and string.format("%.1f", tp) or "-", tp and string.format("%.2f", sps / tp) or "-")
    end
  end
end

for _, r in ipairs(results) do
  local tp = peer[r[1] .. "/" .. r[2]]
  io.write(string.format("train model=%s batch=%d threads=%d update=%s steps_per_s=%.1f torch_steps_per_s=%s ratio=%s\n",
    r[1], r[2], r[3], r[4], r[5], tp and string.format("%.1f", tp) or "-", tp and string.format("%.2f", r[5] / tp) or "-"))
end
for _, l in ipairs(cpu_lines) do io.write(l) end
