-- bench_op_overhead.lua: the fixed cost of one call from Lua of the ops a training loop and an
-- evaluation script use, on tiny tensors (4 or 16 elements, a [4, 4] matrix), including the
-- allocation and garbage collection of the result.
-- Prints one line per op: op_overhead <name> ns_per_call=<ns> ratio_to_add=<ratio>, where the
-- reference is `a + b` on 4 elements measured in the same run (ratios travel between machines,
-- nanoseconds do not). Each figure is the median of several repeats; 1 thread.
-- The second section ("composed in Lua") times the tensor functions written in Lua on x [2, 3].
-- Run: kshot scripts/bench/bench_op_overhead.lua [name]   (name: only the ops whose name contains
--      it, plain text; the reference runs first anyway; "composed": that whole section)
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

-- composed in Lua (kshot/tensor_shape_extra.lua, tensor_math_extra.lua, linalg.lua, nn/grid_sample.lua,
-- regularize.lua) on tiny inputs: x [2, 3], a 2x2 system, 4-element sorted boundaries
local x = ks.randn(2, 3)
local xi = ks.tensor({{1, 2, 2}, {3, 3, 1}}, ks.int64)
local A2 = ks.eye(2) + ks.ones(2, 2) * 0.1
local B2 = ks.ones(2, 1)
local v3 = ks.tensor({1, 2, 3})
local bounds = ks.tensor({-1, 0, 0.5, 1})
local take_idx = ks.tensor({0, 4, 5}, ks.int64)
local put_idx = {ks.tensor({0, 1}, ks.int64), ks.tensor({2, 0}, ks.int64)}
local theta = ks.tensor({{{1, 0, 0}, {0, 1, 0}}})
local img = ks.ones(1, 1, 3, 3)
local grid = F.affine_grid(theta, {1, 1, 3, 3}, {align_corners = false})
local params = {ks.ones(2, 3):requires_grad_()}
params[1].grad = ks.ones(2, 3)
local qt = ks.tensor({0.25, 0.75})
local composed = {
  {"x:movedim(0,1)", function() local c = x:movedim(0, 1) end},
  {"x:swapaxes(0,1)", function() local c = x:swapaxes(0, 1) end},
  {"x:unbind(0)", function() local c = x:unbind(0) end},
  {"x:unflatten(1,{3,1})", function() local c = x:unflatten(1, {3, 1}) end},
  {"x:broadcast_to({2,2,3})", function() local c = x:broadcast_to({2, 2, 3}) end},
  {"x:view_as(x)", function() local c = x:view_as(x) end},
  {"x:reshape_as(x)", function() local c = x:reshape_as(x) end},
  {"x:type_as(x)", function() local c = x:type_as(x) end},
  {"ks.meshgrid(v3,v3)", function() local c = ks.meshgrid(v3, v3) end},
  {"ks.hstack({x,x})", function() local c = ks.hstack({x, x}) end},
  {"ks.vstack({x,x})", function() local c = ks.vstack({x, x}) end},
  {"v3:diag()", function() local c = v3:diag() end},
  {"x:diagonal()", function() local c = x:diagonal() end},
  {"x:trace()", function() local c = x:trace() end},
  {"x:take(idx)", function() local c = x:take(take_idx) end},
  {"x:index_put(idx,1)", function() local c = x:index_put(put_idx, 1) end},
  {"ks.logspace(0,1,4)", function() local c = ks.logspace(0, 1, 4) end},
  {"ks.normal(0,1,{2,3})", function() local c = ks.normal(0, 1, {2, 3}) end},
  {"x:isclose(x)", function() local c = x:isclose(x) end},
  {"x:dist(x)", function() local c = x:dist(x) end},
  {"x:diff()", function() local c = x:diff() end},
  {"x:cov()", function() local c = x:cov() end},
  {"x:corrcoef()", function() local c = x:corrcoef() end},
  {"x:quantile(0.5)", function() local c = x:quantile(0.5) end},
  {"x:quantile(q,1)", function() local c = x:quantile(qt, 1) end},
  {"xi:mode(1)", function() local c, i = xi:mode(1) end},
  {"x:histc(4)", function() local c = x:histc(4) end},
  {"x:histc(4,-1,1)", function() local c = x:histc(4, -1, 1) end},
  {"ks.bucketize(x,b)", function() local c = ks.bucketize(x, bounds) end},
  {"ks.searchsorted(b,x)", function() local c = ks.searchsorted(bounds, x) end},
  {"linalg.solve 2x2", function() local c = ks.linalg.solve(A2, B2) end},
  {"linalg.inv 2x2", function() local c = ks.linalg.inv(A2) end},
  {"linalg.det 2x2", function() local c = ks.linalg.det(A2) end},
  {"linalg.cholesky 2x2", function() local c = ks.linalg.cholesky(A2) end},
  {"linalg.eigh 2x2", function() local w, v = ks.linalg.eigh(A2) end},
  {"linalg.eigvalsh 2x2", function() local c = ks.linalg.eigvalsh(A2) end},
  {"linalg.svd 2x2", function() local u, s, vh = ks.linalg.svd(A2) end},
  {"linalg.svdvals 2x2", function() local c = ks.linalg.svdvals(A2) end},
  {"linalg.norm(x)", function() local c = ks.linalg.norm(x) end},
  {"linalg.vector_norm(x)", function() local c = ks.linalg.vector_norm(x) end},
  {"linalg.matrix_norm(A)", function() local c = ks.linalg.matrix_norm(A2) end},
  {"F.affine_grid", function() local c = F.affine_grid(theta, {1, 1, 3, 3}, {align_corners = false}) end},
  {"F.grid_sample", function() local c = F.grid_sample(img, grid, {align_corners = false}) end},
  {"clip_grad_norm_", function() ks.nn.utils.clip_grad_norm_(params, 1e9) end},
}

io.stderr:write(("# kshot %s, 1 thread; ns per call on tiny tensors, GC included; median of %d\n")
  :format(ks.__version or "?", REPEATS))
local ref
local function run(list, all)
  for _, c in ipairs(list) do
    local name, fn = c[1], c[2]
    if not ref or all or not filter or name:find(filter, 1, true) then
      local ns = measure(fn)
      ref = ref or ns
      print(("op_overhead %-24s ns_per_call=%8.1f ratio_to_add=%6.2f"):format(name, ns, ns / ref))
    end
  end
end
if filter == "composed" then run({cases[1]}) else run(cases) end
io.stderr:write("# composed in Lua\n")
run(composed, filter == "composed")
