-- bench_augment.lua: batch augmentation throughput over the 60,000 Fashion-MNIST training images as
-- float32 [N, 1, 28, 28], batches of 256, for two pipelines: crop pad 2 + horizontal flip + random
-- erasing, against a plain copy of the same batches (the memory roofline) and torchvision's per-image
-- pipeline measured in the same run (../shared/peers/torchvision_augment.py, or $KSHOT_PEERS); and the
-- warps random_affine + elastic_transform against torchvision's RandomAffine + ElasticTransform
-- (scripts/bench/peer_warp_augment.py).
-- Run: kshot scripts/bench/bench_augment.lua   (env KSHOT_BENCH_PEER=0 skips the torchvision run)
local ks = require "kshot"
local A = require "kshot.augment"

local BATCH, REPS = 256, 3

-- wall clock (the 2-thread run needs wall time, not CPU time)
local function wall()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

local images = ks.data.fashion_mnist { split = "train" }
local N = images:size(0)
local x = images:float():div(255):view(N, 1, 28, 28)
local out = ks.empty(BATCH, 1, 28, 28)
local batches = {}
for i = 0, N - 1, BATCH do
  local b = math.min(BATCH, N - i)
  batches[#batches + 1] = { x:narrow(0, i, b), b == BATCH and out or ks.empty(b, 1, 28, 28) }
end

-- best of REPS passes over the data set, images per second
local function rate(fn)
  local best = math.huge
  for _ = 1, REPS do
    local t0 = wall()
    for _, bt in ipairs(batches) do fn(bt[1], bt[2]) end
    best = math.min(best, wall() - t0)
  end
  return N / best
end

-- torchvision's RandomErasing defaults, so both sides do the same work
local aug = A.compose({
  A.random_crop { padding = 2 },
  A.random_horizontal_flip { p = 0.5 },
  A.random_erasing { scale = { 0.02, 0.33 }, ratio = { 0.3, 3.3 }, log_ratio = true, value = 0 },
}, { seed = 1 })

local warps = A.compose({
  A.random_affine { degrees = 10, translate = { 0.1, 0.1 }, scale = { 0.9, 1.1 }, shear = 10 },
  A.elastic_transform { alpha = 50, sigma = 4 },
}, { seed = 1 })

local function peer(script)
  if os.getenv("KSHOT_BENCH_PEER") == "0" then return 0 end
  local p = io.popen("/usr/bin/python3 " .. script .. " 2>/dev/null")
  local line = p and p:read("a") or ""
  if p then p:close() end
  return tonumber(line:match("([%d%.]+) images/s")) or 0
end
local tv = peer((os.getenv("KSHOT_PEERS") or "../shared/peers") .. "/torchvision_augment.py")
local tv_warp = peer("scripts/bench/peer_warp_augment.py")

local rates = {}
for _, threads in ipairs { 1, 2 } do
  ks.set_num_threads(threads)
  local r = rate(function(xb, ob) aug(xb, nil, { out = ob }) end)
  local m = rate(function(xb, ob) ob:copy_(xb) end)
  rates[threads] = r
  print(("augment pipeline=crop2+flip+erase threads=%d images_per_s=%.0f memcpy_images_per_s=%.0f "
    .. "torchvision_images_per_s=%.0f ratio=%.1f roofline_share=%.2f"):format(
    threads, r, m, tv, tv > 0 and r / tv or 0, r / m))
end
print(("augment speedup_2_threads=%.2f"):format(rates[2] / rates[1]))
for _, threads in ipairs { 1, 2 } do
  ks.set_num_threads(threads)
  local r = rate(function(xb, ob) warps(xb, nil, { out = ob }) end)
  print(("augment pipeline=affine+elastic threads=%d images_per_s=%.0f torchvision_images_per_s=%.0f ratio=%.1f"):format(
    threads, r, tv_warp, tv_warp > 0 and r / tv_warp or 0))
end
