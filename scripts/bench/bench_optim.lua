-- bench_optim.lua: the fused optimizer step against a plain streaming pass,
-- and the MLP training step with Adam against PyTorch.
--
--   build/kshot scripts/bench/bench_optim.lua [n=10000000] [threads=1,2] [peer=1] [steps=500]
--
-- 1. Adam / AdamW step over one n-element parameter, against
--    ks._bench_stream, a C pass touching the same arrays the same way
--    (read θ, g, m, v; write θ, m, v) with trivial arithmetic, timed in the
--    same run on arrays of the same size. Target: ratio <= 1.3.
--      optim_step opt=Adam n=.. threads=.. ms=.. stream_ms=.. ratio=..
-- 2. MLP 784-256-128-10, batch 32, cross_entropy, Adam(lr 1e-3): steps/s of
--    zero_grad + forward + backward + step, against PyTorch measured in the
--    same run by ../shared/peers/torch_steps.py adam (OPENBLAS_NUM_THREADS=1,
--    one torch thread). Target: ratio >= 4.
--      mlp_adam batch=32 threads=.. steps_per_s=.. torch_steps_per_s=.. ratio=..
-- Timing: best of several repetitions (the machine may be busy). A
-- benchmark, never a test: nothing here fails on a slow figure.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local F = ks.functional

local opts = {n = "10000000", threads = "1,2", peer = "1", steps = "500",
  peer_script = (os.getenv("KSHOT_PEERS") or "../shared/peers") .. "/torch_steps.py"}
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if k then opts[k] = v end
end
local clock = ks._bench_clock
local thread_counts = {}
for t in opts.threads:gmatch("%d+") do thread_counts[#thread_counts + 1] = tonumber(t) end

-- best time of `reps` repetitions of fn() run `inner` times
local function best_of(reps, inner, fn)
  local best = math.huge
  for _ = 1, reps do
    local t0 = clock()
    for _ = 1, inner do fn() end
    best = math.min(best, (clock() - t0) / inner)
  end
  return best
end

------------------------------------------------------- 1. step vs streaming
local n = math.tointeger(tonumber(opts.n))
ks.manual_seed(0)
local p = ks.randn(n)
p.requires_grad = true
local g = ks.randn(n) * 1e-3
local theta2, g2, m2, v2 = ks.randn(n), ks.randn(n), ks.zeros(n), ks.zeros(n)
for _, name in ipairs({"Adam", "AdamW"}) do
  local opt = optim[name]({p}, {lr = 1e-4})
  p.grad = g
  opt:step() -- creates the state (first touch of m and v)
  for _, t in ipairs(thread_counts) do
    ks.set_num_threads(t)
    opt:step()
    ks._bench_stream(theta2, g2, m2, v2)
    -- interleave the two so both see the same machine state
    local step_t, stream_t = math.huge, math.huge
    for _ = 1, 5 do
      step_t = math.min(step_t, best_of(1, 3, function() opt:step() end))
      stream_t = math.min(stream_t, best_of(1, 3, function() ks._bench_stream(theta2, g2, m2, v2) end))
    end
    print(string.format("optim_step opt=%s n=%d threads=%d ms=%.2f stream_ms=%.2f ratio=%.3f", name, n, t,
      step_t * 1e3, stream_t * 1e3, step_t / stream_t))
  end
end
p, g, theta2, g2, m2, v2 = nil, nil, nil, nil, nil, nil
collectgarbage()

------------------------------------------------------------ 2. MLP + Adam
local steps = math.tointeger(tonumber(opts.steps))
local function mlp_rate(threads)
  ks.set_num_threads(threads)
  ks.manual_seed(0)
  local model = nn.mlp({784, 256, 128, 10})
  local opt = optim.Adam(model, {lr = 1e-3})
  local x, y = ks.randn(32, 1, 28, 28), ks.randint(0, 10, {32})
  local function step()
    opt:zero_grad()
    F.cross_entropy(model(x), y):backward()
    opt:step()
  end
  for _ = 1, 20 do step() end
  return 1 / best_of(3, steps, step)
end

local torch_rate
if opts.peer ~= "0" then
  local cmd = string.format("OPENBLAS_NUM_THREADS=1 /usr/bin/python3 %s adam 1 2>/dev/null", opts.peer_script)
  local pipe = io.popen(cmd)
  for line in pipe:lines() do
    local r = line:match("^mlp batch=32 opt=adam steps_per_s=([%d.]+)")
    if r then torch_rate = tonumber(r) end
  end
  pipe:close()
end

for _, t in ipairs(thread_counts) do
  local rate = mlp_rate(t)
  print(string.format("mlp_adam batch=32 threads=%d steps_per_s=%.1f torch_steps_per_s=%s ratio=%s", t, rate,
    torch_rate and string.format("%.1f", torch_rate) or "n/a", torch_rate and string.format("%.2f", rate / torch_rate) or "n/a"))
end
