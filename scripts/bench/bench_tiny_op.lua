-- bench_tiny_op.lua: cost of `local c = a + b` on float32 tensors from Lua,
-- including the allocation and garbage collection of the result.
-- Prints one line per case: tiny_add n=<elements> ns_per_op=<ns>
-- Run: kshot scripts/bench/bench_tiny_op.lua
--  or: lua5.4 -e 'package.cpath="build/?.so;"..package.cpath' scripts/bench/bench_tiny_op.lua
-- The PyTorch side, scripts/bench/peer_tiny_op.py (same cases), runs in the same
-- run when python3-torch is installed, and each case prints the ratio.
local ks = require "kshot"

local clock = os.clock -- CPU time of this process: exact because the bench runs on one thread

-- one thread, like the PyTorch peer (torch.set_num_threads(1)), so both sides measure the same work
if ks.set_num_threads then ks.set_num_threads(1) end

-- repeat the loop until it has run for at least `min_s` seconds; ns per iteration
local function measure(body, min_s)
  local iters = 1
  while true do
    collectgarbage()
    local t0 = clock()
    body(iters)
    local dt = clock() - t0
    if dt >= min_s then return dt / iters * 1e9 end
    iters = iters * (dt < min_s / 20 and 10 or 2)
  end
end

local function case(name, n, min_s)
  local a, b = ks.ones(n), ks.ones(n)
  return measure(function(iters)
    for _ = 1, iters do local c = a + b end
  end, min_s)
end

-- the PyTorch peer's figures, measured now (nil when torch is missing)
local function peer()
  local script = arg and arg[0] and arg[0]:gsub("bench_tiny_op%.lua$", "peer_tiny_op.py") or "scripts/bench/peer_tiny_op.py"
  local p = io.popen("/usr/bin/python3 " .. script .. " 2>/dev/null")
  if not p then return {} end
  local out = {}
  for line in p:lines() do
    local n, ns = line:match("n=(%d+) ns_per_op=([%d.]+)")
    if n then out[tonumber(n)] = tonumber(ns) end
  end
  p:close()
  return out
end

io.stderr:write(("# kshot %s, 1 thread; ns per `local c = a + b` including GC\n"):format(ks.__version or "?"))
local cases = {{4, 1.0}, {1000, 1.0}, {1000000, 2.0}}
local mine = {}
for i, c in ipairs(cases) do mine[i] = case("tiny_add", c[1], c[2]) end
local torch = peer()
for i, c in ipairs(cases) do
  local t = torch[c[1]]
  print(("tiny_add n=%d ns_per_op=%.1f torch_ns_per_op=%s ratio_kshot_over_torch=%s"):format(c[1], mine[i],
    t and ("%.1f"):format(t) or "n/a", t and ("%.3f"):format(mine[i] / t) or "n/a"))
end
