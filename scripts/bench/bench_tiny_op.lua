-- bench_tiny_op.lua: cost of `local c = a + b` on float32 tensors from Lua,
-- including the allocation and garbage collection of the result.
-- Prints one line per case: tiny_add n=<elements> ns_per_op=<ns>
-- Run: kshot scripts/bench/bench_tiny_op.lua
--  or: lua5.4 -e 'package.cpath="build/?.so;"..package.cpath' scripts/bench/bench_tiny_op.lua
-- The PyTorch side is scripts/bench/peer_tiny_op.py (same cases, same output format).
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
  local ns = measure(function(iters)
    for _ = 1, iters do local c = a + b end
  end, min_s)
  print(("%s n=%d ns_per_op=%.1f"):format(name, n, ns))
end

io.stderr:write(("# kshot %s, 1 thread; ns per `local c = a + b` including GC\n"):format(ks.__version or "?"))
case("tiny_add", 4, 1.0)
case("tiny_add", 1000, 1.0)
case("tiny_add", 1000000, 2.0)
