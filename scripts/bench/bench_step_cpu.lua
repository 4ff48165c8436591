-- bench_step_cpu.lua: process CPU time of a fixed number of training steps,
-- for before/after comparisons of kshot builds on a busy machine (this VM
-- has no hardware counters for `perf stat -e instructions`, and wall-clock
-- rates there measure the scheduler as much as the code).
--
--   build/kshot scripts/bench/bench_step_cpu.lua [model=mlp|linear|cnn] [batch=32]
--       [update=sgd|adam] [threads=1] [steps=2000]
--
-- Steps as bench_train_steps.lua (sgd: grads to nil, forward, cross_entropy,
-- backward, p:add_(p.grad, -0.01) under no_grad) or bench_optim.lua's
-- mlp_adam (adam: optim.Adam, zero_grad + forward + backward + step).
-- After 5 warm-up steps, the steps run in blocks of 100; each block is timed
-- in CPU time (os.clock) and wall clock, and the best block of each is kept
-- (interference only ever adds time). One line:
--   step_cpu model=.. batch=.. update=.. threads=.. us_cpu_per_step=.. steps_per_s=.. checksum=..
-- checksum (the first parameter's sum after the run) shows whether two builds
-- or thread counts compute the same bits. A benchmark, never a test.
local ks = require "kshot"
local nn = require "kshot.nn"
local F = ks.functional

local opts = {model = "mlp", batch = "32", update = "sgd", threads = "1", steps = "2000"}
for _, a in ipairs(arg or {}) do
  local k, v = a:match("^([%w_]+)=(.*)$")
  if k then opts[k] = v end
end
local batch, steps = math.tointeger(tonumber(opts.batch)), math.tointeger(tonumber(opts.steps))
ks.set_num_threads(math.tointeger(tonumber(opts.threads)))

local builders = {
  linear = function() return nn.Sequential(nn.Flatten(), nn.Linear(784, 10)) end,
  mlp = function() return nn.mlp{784, 256, 128, 10} end,
  cnn = function() return nn.small_cnn() end,
}
ks.manual_seed(0)
local model = assert(builders[opts.model], "model must be linear, mlp or cnn")()
local x, y = ks.randn(batch, 1, 28, 28), ks.randint(0, 10, {batch})
local params = model:parameters()

local step
if opts.update == "sgd" then
  local function update()
    for i = 1, #params do
      local p = params[i]
      p:add_(p.grad, -0.01)
    end
  end
  step = function()
    for i = 1, #params do params[i].grad = nil end
    F.cross_entropy(model(x), y):backward()
    ks.no_grad(update)
  end
elseif opts.update == "adam" then
  local opt = require("kshot.optim").Adam(params, {lr = 1e-3})
  step = function()
    opt:zero_grad()
    F.cross_entropy(model(x), y):backward()
    opt:step()
  end
else
  error("update must be sgd or adam")
end

local clock = ks._bench_clock or os.time
for _ = 1, 5 do step() end
local best_cpu, best_wall = math.huge, math.huge
for _ = 1, math.max(1, steps // 100) do
  local w0, c0 = clock(), os.clock()
  for _ = 1, 100 do step() end
  best_cpu = math.min(best_cpu, os.clock() - c0)
  best_wall = math.min(best_wall, clock() - w0)
end
io.write(string.format("step_cpu model=%s batch=%d update=%s threads=%s us_cpu_per_step=%.1f steps_per_s=%.1f "
  .. "checksum=%.9g\n", opts.model, batch, opts.update, opts.threads, best_cpu / 100 * 1e6, 100 / best_wall,
  params[1]:sum():item()))
