-- bench_op_overhead.lua: the fixed cost of one call from Lua of the ops a training loop and an
-- evaluation script use, on tiny tensors (4 or 16 elements, a [4, 4] matrix), including the
-- allocation and garbage collection of the result.
-- Prints one line per op: op_overhead <name> ns_per_call=<ns> ratio_to_add=<ratio>, where the
-- reference is `a + b` on 4 elements measured in the same run (ratios travel between machines,
-- nanoseconds do not). Each figure is the median of several repeats; 1 thread.
-- Run: kshot scripts/bench/bench_op_overhead.lua [name]   (name: only the ops whose name contains
--      it, plain text; the reference runs first anyway)
-- A benchmark, never a test: BENCHMARKS.md ("Per-op overhead of common ops") keeps the figures.
local ks = require "kshot"
local F = ks.functional
require "kshot.nn"

if ks.set_num_threads then ks.set_num_threads(1) end

local clock = os.clock -- CPU time: exact on one thread
local filter = arg and arg[1]
local REPEATS, MIN_S = 5, 0.05

-- ns per call of `body`, run `iters` times per timing; the loop grows until one timing lasts MIN_S
local function time_once(body)
  local iters = 16
  while true do
    collectgarbage()
    local t0 = clock()
    body(iters)
    local dt = clock() - t0
    if dt >= MIN_S then return dt / iters * 1e9 end
    iters = iters * (dt < MIN_S / 20 and 10 or 2)
  end
end

local function median(xs)
  table.sort(xs)
  return xs[(#xs + 1) // 2]
end

-- wraps a one-call function in a loop so the loop's own cost is shared by all ops alike
local function looped(fn)
  return function(iters)
    for _ = 1, iters do fn() end
  end
end

local function measure(fn)
  fn() -- warm up (lazy module loads, first allocations)
  local body = looped(fn)
  local xs = {}
  for r = 1, REPEATS do xs[r] = time_once(body) end
  return median(xs)
end

-- tiny inputs shared by the cases
local a, b = ks.ones(4), ks.ones(4)
local v16 = ks.arange(16):float()
local m = ks.ones(4, 4)
local m2 = ks.ones(4, 4)
local w, bias = ks.ones(3, 4), ks.zeros(3)
local logits = ks.randn(4, 3)
local target = ks.tensor({0, 2, 1, 0}, ks.int64)
local idx = ks.tensor({2, 0}, ks.int64)
local idx2d = ks.tensor({{0}, {1}, {2}, {3}}, ks.int64)
local mask = ks.tensor({1, 0, 1, 0}):gt(0)
local dst = ks.zeros(4)
local leaf = ks.ones(4, 4):requires_grad_()
local lw = ks.ones(3, 4):requires_grad_()

-- {name, fn}; the first is the reference
local cases = {
  {"a+b", function() local c = a + b end},
  -- arithmetic
  {"a-b", function() local c = a - b end},
  {"a*b", function() local c = a * b end},
  {"a/b", function() local c = a / b end},
  {"a+2", function() local c = a + 2 end},
  {"a*2", function() local c = a * 2 end},
  {"2*a", function() local c = 2 * a end},
  {"-a", function() local c = -a end},
  {"a:add(b)", function() local c = a:add(b) end},
  {"ks.add(a,b)", function() local c = ks.add(a, b) end},
  {"m+m2 [4,4]", function() local c = m + m2 end},
  -- in place
  {"dst:add_(b)", function() dst:add_(b) end},
  {"dst:mul_(1)", function() dst:mul_(1) end},
  {"dst:copy_(b)", function() dst:copy_(b) end},
  {"dst:zero_()", function() dst:zero_() end},
  {"dst:fill_(1)", function() dst:fill_(1) end},
  -- unary
  {"a:exp()", function() local c = a:exp() end},
  {"a:relu()", function() local c = a:relu() end},
  {"a:sigmoid()", function() local c = a:sigmoid() end},
  -- reductions
  {"v16:sum()", function() local c = v16:sum() end},
  {"v16:mean()", function() local c = v16:mean() end},
  {"v16:max()", function() local c = v16:max() end},
  {"m:sum(1)", function() local c = m:sum(1) end},
  {"m:mean(1)", function() local c = m:mean(1) end},
  {"m:max(1)", function() local c, i = m:max(1) end},
  {"m:argmax(1)", function() local c = m:argmax(1) end},
  {"v16:argmax()", function() local c = v16:argmax() end},
  -- linear algebra
  {"ks.matmul(m,m2)", function() local c = ks.matmul(m, m2) end},
  {"m:matmul(m2)", function() local c = m:matmul(m2) end},
  {"F.linear(m,w,b)", function() local c = F.linear(m, w, bias) end},
  -- views
  {"m:view(16)", function() local c = m:view(16) end},
  {"m:view(-1)", function() local c = m:view(-1) end},
  {"m:reshape(2,8)", function() local c = m:reshape(2, 8) end},
  {"m:transpose(0,1)", function() local c = m:transpose(0, 1) end},
  {"m:t()", function() local c = m:t() end},
  {"m:narrow(0,1,2)", function() local c = m:narrow(0, 1, 2) end},
  {"m:select(0,1)", function() local c = m:select(0, 1) end},
  {"m:unsqueeze(0)", function() local c = m:unsqueeze(0) end},
  -- indexing
  {"m[i]", function() local c = m[1] end},
  {"m[{i,j}]", function() local c = m[{1, 2}] end},
  {"m[{':',i}]", function() local c = m[{":", 1}] end},
  {"a[idx]", function() local c = a[idx] end},
  {"m[idx]", function() local c = m[idx] end},
  {"a[mask]", function() local c = a[mask] end},
  {"m[i]=x", function() m2[1] = 1 end},
  {"a:index_select", function() local c = a:index_select(0, idx) end},
  {"m:gather(1,idx)", function() local c = m:gather(1, idx2d) end},
  {"ks.cat({a,b})", function() local c = ks.cat({a, b}) end},
  -- scalars and metadata
  {"v16:sum():item()", function() local c = v16:sum():item() end},
  {"a[0]:item()", function() local c = a[0]:item() end},
  {"m:size()", function() local c = m:size() end},
  {"m:size(0)", function() local c = m:size(0) end},
  {"m:dim()", function() local c = m:dim() end},
  {"m:numel()", function() local c = m:numel() end},
  {"m:dtype()", function() local c = m:dtype() end},
  {"m.requires_grad", function() local c = m.requires_grad end},
  {"#m", function() local c = #m end},
  -- copies and creation
  {"m:clone()", function() local c = m:clone() end},
  {"m:t():contiguous()", function() local c = m:t():contiguous() end},
  {"m:contiguous() (no-op)", function() local c = m:contiguous() end},
  {"m:float() (no-op)", function() local c = m:float() end},
  {"ks.zeros(4)", function() local c = ks.zeros(4) end},
  {"ks.zeros(4,4)", function() local c = ks.zeros(4, 4) end},
  {"ks.empty(4)", function() local c = ks.empty(4) end},
  {"ks.tensor({1,2,3,4})", function() local c = ks.tensor({1, 2, 3, 4}) end},
  -- functional on [4, 3]
  {"F.relu(logits)", function() local c = F.relu(logits) end},
  {"F.softmax(x,{dim=1})", function() local c = F.softmax(logits, {dim = 1}) end},
  {"F.softmax(x,1)", function() local c = F.softmax(logits, 1) end},
  {"F.cross_entropy", function() local c = F.cross_entropy(logits, target) end},
  -- autograd
  {"fwd (x*x):sum()", function() local c = (leaf * leaf):sum() end},
  {"fwd+bwd (x*x):sum()", function() (leaf * leaf):sum():backward(); leaf.grad = nil end},
  {"fwd+bwd linear+CE", function()
    F.cross_entropy(F.linear(m, lw), target):backward(); lw.grad = nil
  end},
  {"ks.no_grad(fn)", function() ks.no_grad(function() end) end},
}

io.stderr:write(("# kshot %s, 1 thread; ns per call on tiny tensors, GC included; median of %d\n")
  :format(ks.__version or "?", REPEATS))
local ref
for _, c in ipairs(cases) do
  local name, fn = c[1], c[2]
  if not ref or not filter or name:find(filter, 1, true) then
    local ns = measure(fn)
    ref = ref or ns
    print(("op_overhead %-24s ns_per_call=%8.1f ratio_to_add=%6.2f"):format(name, ns, ns / ref))
  end
end
