-- bench_unfold.lua: F.unfold / F.fold (im2col / col2im) on [8, 16, 28, 28],
-- kernel 3, padding 1 (a conv layer's shapes), one thread, against PyTorch
-- measured in the same run (python3-torch; absent: kshot figures only).
-- Prints: unfold ms=.. torch_ms=.. ratio_kshot_over_torch=..  (and fold)
-- Run: kshot scripts/bench/bench_unfold.lua
--  or: lua5.4 -e 'package.cpath="build/?.so;"..package.cpath' scripts/bench/bench_unfold.lua
local ks = require "kshot"
local F = ks.functional

if ks.set_num_threads then ks.set_num_threads(1) end -- like the peer (torch.set_num_threads(1))

local N, C, H, W, K, P = 8, 16, 28, 28, 3, 1

-- best of 5 timings of a loop run for about 0.2 s; ms per call
local function measure(body)
  local iters = 1
  while true do
    local t0 = os.clock()
    body(iters)
    local dt = os.clock() - t0
    if dt >= 0.2 then break end
    iters = iters * 2
  end
  local best = math.huge
  for _ = 1, 5 do
    collectgarbage()
    local t0 = os.clock()
    body(iters)
    best = math.min(best, (os.clock() - t0) / iters * 1e3)
  end
  return best
end

local PEER = ([[
import time, torch
import torch.nn.functional as F
torch.set_num_threads(1)
x = torch.randn(%d, %d, %d, %d)
cols = F.unfold(x, %d, padding=%d)
def measure(fn):
    iters = 1
    while True:
        t0 = time.process_time()
        for _ in range(iters): fn()
        if time.process_time() - t0 >= 0.2: break
        iters *= 2
    best = float("inf")
    for _ in range(5):
        t0 = time.process_time()
        for _ in range(iters): fn()
        best = min(best, (time.process_time() - t0) / iters * 1e3)
    return best
print("unfold ms=%%.4f" %% measure(lambda: F.unfold(x, %d, padding=%d)))
print("fold ms=%%.4f" %% measure(lambda: F.fold(cols, (%d, %d), %d, padding=%d)))
]]):format(N, C, H, W, K, P, K, P, H, W, K, P)

-- PyTorch's figures, measured now (empty when torch is missing)
local function peer()
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(PEER)
  f:close()
  local p = io.popen("/usr/bin/python3 " .. path .. " 2>/dev/null")
  local out = {}
  if p then
    for line in p:lines() do
      local name, ms = line:match("^(%a+) ms=([%d.]+)")
      if name then out[name] = tonumber(ms) end
    end
    p:close()
  end
  os.remove(path)
  return out
end

io.stderr:write(("# kshot %s, 1 thread; F.unfold / F.fold on [%d, %d, %d, %d], kernel %d, padding %d\n"):format(
  ks.__version or "?", N, C, H, W, K, P))
local x = ks.randn(N, C, H, W)
local cols = F.unfold(x, K, 1, P)
local mine = {
  unfold = measure(function(n) for _ = 1, n do local y = F.unfold(x, K, 1, P) end end),
  fold = measure(function(n) for _ = 1, n do local y = F.fold(cols, {H, W}, K, 1, P) end end),
}
local torch = peer()
for _, name in ipairs({"unfold", "fold"}) do
  local t = torch[name]
  print(("%s ms=%.3f torch_ms=%s ratio_kshot_over_torch=%s"):format(name, mine[name],
    t and ("%.3f"):format(t) or "n/a", t and ("%.2f"):format(mine[name] / t) or "n/a"))
end
