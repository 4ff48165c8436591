-- F.pixel_shuffle / F.pixel_unshuffle, nn.PixelShuffle / PixelUnshuffle,
-- nn.Upsample, nn.AdaptiveMaxPool2d and F.adaptive_avg_pool2d's keyword form
-- (bindings/lua/kshot/nn/resample.lua, layers.lua). Expected numbers: torch
-- 1.13 on the same inputs, printed with 6 decimals by
-- spec/fixtures/torch_refs/losses_resample.py, so comparisons use 1e-5 tolerances.
local ks = require "kshot"
local nn = require "kshot.nn"
local autograd = require "kshot.autograd"
local F = ks.functional

local R = {
  ps = {
    0, 6, 1, 7, 2, 8, 12, 18, 13, 19, 14, 20, 3, 9, 4, 10, 5, 11, 15, 21, 16, 22, 17, 23, 24, 30, 25, 31, 26, 32, 36,
    42, 37, 43, 38, 44, 27, 33, 28, 34, 29, 35, 39, 45, 40, 46, 41, 47, 48, 54, 49, 55, 50, 56, 60, 66, 61, 67, 62,
    68, 51, 57, 52, 58, 53, 59, 63, 69, 64, 70, 65, 71, 72, 78, 73, 79, 74, 80, 84, 90, 85, 91, 86, 92, 75, 81, 76,
    82, 77, 83, 87, 93, 88, 94, 89, 95},
  pu2 = {
    0, 2, 4, 12, 14, 16, 1, 3, 5, 13, 15, 17, 6, 8, 10, 18, 20, 22, 7, 9, 11, 19, 21, 23, 24, 26, 28, 36, 38, 40, 25,
    27, 29, 37, 39, 41, 30, 32, 34, 42, 44, 46, 31, 33, 35, 43, 45, 47},
  up_bil = {
    0, 0.161054, 0.483163, 0.729526, 0.900142, 0.95489, 0.89377, 0.731154, 0.467044, 0.334988, -0.087696, 0.000545,
    0.177028, 0.322321, 0.436423, 0.492503, 0.490561, 0.431054, 0.313981, 0.255445, -0.263087, -0.320472, -0.435242,
    -0.49209, -0.491015, -0.43227, -0.315855, -0.169146, 0.007856, 0.096357, -0.098841, -0.175791, -0.32969,
    -0.435777, -0.494052, -0.490811, -0.426054, -0.315009, -0.157676, -0.07901, 0.405044, 0.434591, 0.493685,
    0.491258, 0.42731, 0.316879, 0.159965, -0.006533, -0.182615, -0.270656, 0.656987, 0.739782, 0.905373, 0.954776,
    0.887991, 0.720724, 0.452974, 0.147704, -0.195085, -0.366479, -0.879696, -0.904566, -0.954307, -0.888918,
    -0.708398, -0.455197, -0.129317, 0.192609, 0.510583, 0.66957, -0.41212, -0.439827, -0.49524, -0.489166,
    -0.421604, -0.308443, -0.149682, 0.017346, 0.192639, 0.280286, 0.523032, 0.489653, 0.422895, 0.310338, 0.151982,
    -0.014934, -0.19041, -0.333182, -0.443249, -0.498283, 0.499049, 0.495062, 0.487089, 0.422312, 0.300734, 0.150943,
    -0.027061, -0.191418, -0.342128, -0.417483, -0.484068, -0.423598, -0.302658, -0.153242, 0.02465, 0.189186,
    0.340365, 0.442637, 0.496001, 0.522683, -0.975626, -0.882928, -0.697532, -0.44102, -0.113392, 0.208308, 0.524078,
    0.759665, 0.915066, 0.992766},
  up_near = {
    0, 0, 0.644218, 0.98545, 0.98545, 0.863209, 0.334988, 0, 0, 0.644218, 0.98545, 0.98545, 0.863209, 0.334988,
    -0.350783, -0.350783, -0.871576, -0.982453, -0.982453, -0.631267, 0.016814, 0.656987, 0.656987, 0.988168,
    0.854599, 0.854599, 0.319099, -0.366479, -0.879696, -0.879696, -0.979178, -0.618137, -0.618137, 0.033622,
    0.66957, -0.879696, -0.879696, -0.979178, -0.618137, -0.618137, 0.033622, 0.66957, 0.990607, 0.990607, 0.845747,
    0.303119, 0.303119, -0.382072, -0.887567, -0.975626, -0.975626, -0.604834, 0.050422, 0.050422, 0.681964,
    0.992766},
  amp = {
    0.644218, 0.98545, 0.863209, 0.988168, 0.988168, 0.319099, 0.990607, 0.845747, 0.66957, 0.990607, 0.845747,
    0.992766},
  aap = {
    -0.144535, 0.001264, 0.145936, 0.105699, -0.053905, -0.165458, -0.00563, -0.132816, -0.141612, 0.063974,
    0.149058, 0.101273},
}

local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

local function image() return (ks.arange(2 * 3 * 5):float() * 0.7):sin():reshape(1, 2, 3, 5) end

describe("F.pixel_shuffle and F.pixel_unshuffle", function()
  it("move channel c r^2 + i r + j to pixel (h r + i, w r + j), as torch", function()
    -- by hand: channels 0..3 of one pixel pair hold c * 2 + w
    local x = ks.arange(8):reshape(1, 4, 1, 2)
    local y = F.pixel_shuffle(x, 2)
    assert.are.same({1, 1, 2, 4}, y:shape())
    assert.are.same({{{{0, 2, 1, 3}, {4, 6, 5, 7}}}}, y:totable())
    assert.are.equal("int64", y:dtype())
    -- torch's numbers: [2, 8, 2, 3] -> [2, 2, 4, 6]; [1, 2, 4, 6] -> [1, 8, 2, 3]
    local z = ks.arange(2 * 8 * 2 * 3):float():reshape(2, 8, 2, 3)
    assert.are.same({2, 2, 4, 6}, F.pixel_shuffle(z, 2):shape())
    close(R.ps, F.pixel_shuffle(z, 2))
    local zz = ks.arange(1 * 2 * 4 * 6):float():reshape(1, 2, 4, 6)
    assert.are.same({1, 8, 2, 3}, F.pixel_unshuffle(zz, 2):shape())
    close(R.pu2, F.pixel_unshuffle(zz, 2))
  end)

  it("are inverses, take extra leading dims, factor 1 and the keyword form", function()
    local z = ks.arange(3 * 2 * 9 * 2 * 2):reshape(3, 2, 9, 2, 2)
    local y = F.pixel_shuffle(z, {upscale_factor = 3})
    assert.are.same({3, 2, 1, 6, 6}, y:shape())
    assert.is_true(ks.equal(F.pixel_unshuffle(y, 3), z))
    assert.is_true(ks.equal(F.pixel_shuffle(z, 1), z))
    assert.is_true(ks.equal(F.pixel_unshuffle(z, {downscale_factor = 2}), F.pixel_unshuffle(z, 2)))
    local c = ks.arange(4 * 2 * 2):reshape(4, 2, 2) -- 3-D [C, H, W]
    assert.are.same({1, 4, 4}, F.pixel_shuffle(c, 2):shape())
  end)

  it("carry gradients (finite differences)", function()
    local x = (ks.arange(2 * 4 * 2 * 3):float() * 0.3):sin():reshape(2, 4, 2, 3):requires_grad_()
    assert.is_true(autograd.gradcheck(function(a) return F.pixel_shuffle(a, 2) end, {x}))
    assert.is_true(autograd.gradcheck(function(a) return F.pixel_unshuffle(a:reshape(2, 1, 4, 6), 2) end, {x}))
  end)

  it("refuse bad inputs with the shapes and the factor", function()
    local x = ks.zeros(1, 6, 2, 2)
    assert.matches("pixel_shuffle: the channels %(6, dim 1 of shape %[1, 6, 2, 2%]%) must be divisible by "
      .. "upscale_factor%^2 = 4", err_of(F.pixel_shuffle, x, 2))
    assert.matches("pixel_unshuffle: height and width %(2, 2 of shape %[1, 6, 2, 2%]%) must be divisible by "
      .. "downscale_factor 3", err_of(F.pixel_unshuffle, x, 3))
    assert.matches("pixel_shuffle: upscale_factor must be a positive integer, got 0", err_of(F.pixel_shuffle, x, 0))
    assert.matches("pixel_shuffle: upscale_factor must be a positive integer, got 1.5", err_of(F.pixel_shuffle, x, 1.5))
    assert.matches("pixel_unshuffle: downscale_factor must be a positive integer, got nil", err_of(F.pixel_unshuffle, x))
    assert.matches("pixel_shuffle: expected an input with at least 3 dims %[%*, C, H, W%], got shape %[4, 4%]",
      err_of(F.pixel_shuffle, ks.zeros(4, 4), 2))
    assert.matches("pixel_shuffle: argument 'input' must be a tensor, got nil", err_of(F.pixel_shuffle, nil, 2))
    assert.matches("pixel_shuffle: unknown option 'upscale'", err_of(F.pixel_shuffle, x, {upscale = 2}))
    local here = debug.getinfo(1, "S").short_src .. ":"
    assert.matches(here, err_of(function() local r = F.pixel_shuffle(x, 2); return r end))
  end)
end)

describe("nn.PixelShuffle, nn.Upsample, nn.AdaptiveMaxPool2d", function()
  it("match torch", function()
    local z = ks.arange(2 * 8 * 2 * 3):float():reshape(2, 8, 2, 3)
    close(R.ps, nn.PixelShuffle(2)(z))
    assert.is_true(ks.equal(nn.PixelUnshuffle(2)(nn.PixelShuffle(2)(z)), z))
    local im = image()
    close(R.up_bil, nn.Upsample({scale_factor = 2, mode = "bilinear", align_corners = false})(im))
    close(R.up_bil, nn.Upsample(nil, 2, "bilinear", false)(im))
    close(R.up_near, nn.Upsample({4, 7})(im))
    close(R.up_near, nn.Upsample({size = {4, 7}})(im))
    close(R.amp, nn.AdaptiveMaxPool2d({2, 3})(im))
    close(R.aap, F.adaptive_avg_pool2d(im, {output_size = {2, 3}}))
    close(R.aap, nn.AdaptiveAvgPool2d({2, 3})(im))
    assert.is_true(ks.equal(F.adaptive_avg_pool2d(im, {output_size = 2}), F.adaptive_avg_pool2d(im, 2)))
  end)

  it("print like torch", function()
    assert.are.equal("PixelShuffle(upscale_factor=2)", tostring(nn.PixelShuffle(2)))
    assert.are.equal("PixelUnshuffle(downscale_factor=3)", tostring(nn.PixelUnshuffle(3)))
    assert.are.equal("Upsample(scale_factor=2, mode=bilinear)", tostring(nn.Upsample(nil, 2, "bilinear")))
    assert.are.equal("Upsample(size=(4, 7), mode=nearest)", tostring(nn.Upsample({4, 7})))
    assert.are.equal("AdaptiveMaxPool2d(output_size=(2, 3))", tostring(nn.AdaptiveMaxPool2d({2, 3})))
  end)

  it("carry gradients (finite differences)", function()
    local x = image():requires_grad_()
    assert.is_true(autograd.gradcheck(function(a) return nn.Upsample({scale_factor = 2, mode = "bilinear"})(a) end, {x}))
    assert.is_true(autograd.gradcheck(function(a) return nn.AdaptiveMaxPool2d(2)(a) end, {x}))
  end)

  it("refuse bad constructor arguments", function()
    assert.matches("PixelShuffle: upscale_factor must be a positive integer, got 0", err_of(nn.PixelShuffle, 0))
    assert.matches("PixelUnshuffle: downscale_factor must be a positive integer, got x", err_of(nn.PixelUnshuffle, "x"))
    assert.matches("Upsample: either size or scale_factor must be given", err_of(nn.Upsample))
    assert.matches("Upsample: only one of size and scale_factor may be given", err_of(nn.Upsample, 4, 2))
    assert.matches("Upsample: unknown option 'scale' %(known: size, scale_factor", err_of(nn.Upsample, {scale = 2}))
    assert.matches("Upsample: too many positional", err_of(nn.Upsample, 4, nil, "nearest", nil, nil, 1))
    assert.matches("interpolate: mode 'bicubic' is not supported",
      err_of(function() return nn.Upsample({scale_factor = 2, mode = "bicubic"})(image()) end))
    assert.matches("AdaptiveMaxPool2d: output_size must be an integer >= 1 or a pair of them, got 0",
      err_of(nn.AdaptiveMaxPool2d, 0))
    assert.matches("AdaptiveMaxPool2d: return_indices=true is not supported", err_of(nn.AdaptiveMaxPool2d, 2, true))
    assert.matches("adaptive_avg_pool2d: unknown option 'size'", err_of(F.adaptive_avg_pool2d, image(), {size = 2}))
    assert.matches("adaptive_avg_pool2d: output_size is required", err_of(F.adaptive_avg_pool2d, image(), {}))
  end)

  it("hostile output sizes are refused before any index is built (the index lists are Lua tables)", function()
    local x = ks.rand(2, 3, 4, 4)
    -- 2^40 used to loop building a 2^40-entry Lua table until the process was killed
    for _, opts in ipairs { { size = 1 << 40 }, { size = { 1 << 22, 1 << 22 } }, { scale_factor = 1e12 },
      { size = 1 << 40, mode = "bilinear" } } do
      local ok, err = pcall(F.interpolate, x, opts)
      assert.is_false(ok)
      assert.matches("interpolate: the output %[2, 3, %d+, %d+%] would need %d+ bytes, over the memory limit", err)
    end
    local ok, err = pcall(F.adaptive_max_pool2d, x, 1 << 40)
    assert.is_false(ok)
    assert.matches("adaptive_max_pool2d: the output %[2, 3, 1099511627776, 1099511627776%] would need", err)
    local ok2, err2 = pcall(F.fold, ks.rand(1, 4, 4), { output_size = { 1 << 40, 1 << 40 }, kernel_size = 2 })
    assert.is_false(ok2)
    assert.matches("= 1208925819612430151450624 blocks", err2, 1, true)
  end)
end)
