-- smoke.lua: a short tour of the library for memcheck (valgrind) runs:
-- `valgrind ... build/kshot spec/c/smoke.lua`. Exits non-zero on a wrong
-- result; memcheck adds its own errors (invalid reads, definite leaks).
local ks = require "kshot"

local function check(cond, what)
  if not cond then error("smoke: " .. what, 2) end
end

-- creation, views, copies
local a = ks.ones(3, 4)
check(a:numel() == 12 and a:dtype() == "float32", "ones")
local v = a:view(4, 3):t():contiguous():reshape(12):narrow(0, 2, 5)
check(v:numel() == 5, "views")
local tab = ks.tensor({{1, 2}, {3, 4}})
check(tab:totable()[2][1] == 3, "tensor from table")

-- arithmetic with broadcasting, promotion, a parallel kernel
local b = ks.arange(4):float()
local c = a * b + 1 -- [3, 4] * [4]
check(c:totable()[3][4] == 4, "broadcast arithmetic")
local u = ks.ones(2, "uint8") + 1
check(u:dtype() == "uint8", "uint8 promotion")
local before = ks.set_num_threads(2)
local big = ks.ones(1 << 17) * 2
check(big:narrow(0, (1 << 17) - 1, 1):item() == 2, "parallel elementwise")
ks.set_num_threads(before)

-- optional areas, when present
if ks.matmul then
  local m = ks.matmul(ks.ones(2, 3), ks.ones(3, 2))
  check(m:totable()[1][1] == 3, "matmul")
end
if ks.Tensor.sum then
  local s = ks.ones(10):sum()
  check(ks.is_tensor(s), "sum")
end
if ks.randn then
  ks.manual_seed(1)
  check(ks.randn(16):numel() == 16, "randn")
end
check(#tostring(a) > 0, "tostring")

-- errors are Lua errors and release what they allocated
local ok, err = pcall(function() return ks.ones(2, 3) + ks.ones(4) end)
check(not ok and tostring(err):find("broadcast"), "shape error")
ok = pcall(ks.zeros, 1 << 40, 1 << 40)
check(not ok, "overflow error")
local limit = ks.set_memory_limit(ks.memory_stats().live_bytes + 1024)
ok, err = pcall(ks.zeros, 100000)
check(not ok and err:find("memory limit"), "memory limit")
ks.set_memory_limit(limit)
local released = ks.ones(2)
released:close()
ok = pcall(released.numel, released)
check(not ok, "released tensor")

-- everything returns to the context once collected
a, v, tab, b, c, u, big, released = nil, nil, nil, nil, nil, nil, nil, nil
collectgarbage()
collectgarbage()
local live = ks.memory_stats().live_bytes
check(live == 0, "live bytes after collection: " .. live)
print("smoke ok")
