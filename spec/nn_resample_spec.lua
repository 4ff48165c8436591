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
    assert.matches("interpolate: mode 'trilinear' needs a 5%-D %[N, C, D, H, W%] input, got shape %[1, 2, 3, 5%]",
      err_of(function() return nn.Upsample({scale_factor = 2, mode = "trilinear"})(image()) end))
    assert.matches("AdaptiveMaxPool2d: output_size must be an integer >= 1 or a pair of them, got 0",
      err_of(nn.AdaptiveMaxPool2d, 0))
    assert.matches("AdaptiveMaxPool2d: return_indices must be a boolean, got string", err_of(nn.AdaptiveMaxPool2d, 2, "true"))
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

-- F.interpolate's bicubic and area modes: value and input gradient of (f(x) * w):sum() for
-- x = sin(0.7 * arange):reshape(shape), w = cos(0.3 * arange), torch 1.13's numbers printed by
-- spec/fixtures/torch_refs/interpolate_bicubic_area.py
local C = {
  bc_up_y = {
    -0.108744, 0.204785, 0.675988, 1.035659, 1.176252, 1.108491, 1.028157, 0.196356, 0.215223, 0.2334, 0.210323,
    0.142756, 0.051479, -0.009641, 0.403028, 0.133344, -0.28749, -0.665076, -0.901976, -0.976699, -0.993453,
    -0.235692, -0.228238, -0.205341, -0.145411, -0.054723, 0.043847, 0.106602, -0.801032, -0.50579, -0.027023,
    0.465651, 0.859824, 1.096263, 1.214417, 1.092312, 0.868904, 0.482236, 0.002277, -0.478163, -0.866016, -1.09029,
    0.016272, -0.045295, -0.137569, -0.207077, -0.232781, -0.217291, -0.200106, -1.014999, -0.896238, -0.668901,
    -0.31803, 0.100115, 0.492957, 0.732666, 0.082792, 0.132768, 0.202854, 0.238117, 0.22301, 0.169178, 0.128598,
    1.198899, 1.15422, 1.027708, 0.715628, 0.252169, -0.246761, -0.563595},
  bc_up_g = {
    1.147422, 0.48921, -0.380856, -1.072301, -0.445997, 0.122256, 0.693604, 1.011633, -0.000056, -0.803724,
    -1.403501, -1.530214, 0.347598, 1.092267, 1.533267, 1.472685, -0.659059, -1.039712, -1.106209, -0.828709,
    1.347887, 1.582484, 1.312554, 0.659242},
  bc_up_ac_y = {
    0, 0.290118, 0.644218, 0.886689, 0.98545, 0.95632, 0.863209, 0.258081, 0.203788, 0.112255, 0.014086, -0.086366,
    -0.183987, -0.244367, 0.334988, 0.040927, -0.350783, -0.665076, -0.871576, -0.975838, -0.982453, -0.116734,
    -0.18652, -0.260266, -0.294711, -0.281391, -0.227762, -0.170173, -0.631267, -0.367243, 0.016814, 0.366609,
    0.656987, 0.882594, 0.988168, 0.854599, 0.651122, 0.319099, -0.025779, -0.366479, -0.68736, -0.879696,
    -0.246957, -0.27577, -0.286758, -0.260322, -0.191694, -0.09017, -0.006472, -0.979178, -0.85976, -0.618137,
    -0.31803, 0.033622, 0.412699, 0.66957, -0.166202, -0.087001, 0.025939, 0.126131, 0.20588, 0.264306, 0.288993,
    0.990607, 0.969049, 0.845747, 0.625089, 0.303119, -0.090348, -0.382072},
  bc_up_ac_g = {
    0.896095, 0.669441, -0.39644, -0.765209, -0.25275, 0.043458, 0.550477, 0.537501, -0.018427, -0.820345,
    -1.515076, -1.101249, 0.153571, 0.984993, 1.575558, 1.074039, -0.328496, -0.751593, -0.810604, -0.420472,
    0.987123, 1.624896, 1.239243, 0.386036},
  bc_sf_y = {
    -0.03962, 0.287236, 0.766618, 1.089105, 1.195851, 1.13332, 0.794502, 0.411143, -0.212812, -0.151486, -0.047469,
    0.060724, 0.164167, 0.228339, 0.259293, 0.24463, -0.313902, -0.545655, -0.862119, -1.011364, -0.94815,
    -0.777417, -0.379783, -0.012612, 0.35853, 0.331386, 0.267231, 0.157964, 0.004819, -0.121279, -0.256637,
    -0.323849, 0.512214, 0.678259, 0.885308, 0.925525, 0.763543, 0.535031, 0.117904, -0.225273, -0.472832,
    -0.471619, -0.437448, -0.326495, -0.134118, 0.040348, 0.256639, 0.387011},
  bc_sf_g = {
    0.928629, 0.50274, -0.100526, -0.700531, -0.653095, 0.081939, 0.291965, 0.417081, 0.446212, 0.234464, -0.440627,
    -0.54203, -0.474383, -0.290281, -0.048122, 0.826704, 1.151801, 1.122005, 0.821289, 0.249357},
  bc_sf_ac_y = {
    0, 0.225388, 0.498077, 0.769053, 0.912637, 0.98545, 1.012905, 0.943623, 0.758507, 0.531137, 0.334988, -0.323519,
    -0.390725, -0.462434, -0.494263, -0.483309, -0.417308, -0.3321, -0.231003, -0.069692, 0.07036, 0.181661,
    -0.170211, -0.341232, -0.543093, -0.722941, -0.803603, -0.812704, -0.7844, -0.689509, -0.493217, -0.282677,
    -0.106056, 0.618722, 0.707763, 0.797126, 0.81052, 0.764414, 0.625431, 0.457661, 0.276456, 0.000385, -0.227623,
    -0.406117, 0.169593, 0.264934, 0.375252, 0.464206, 0.496758, 0.481579, 0.444234, 0.37276, 0.238828, 0.104771,
    -0.005888, -0.879695, -0.944289, -0.996328, -0.940827, -0.835774, -0.618137, -0.37205, -0.133473, 0.208118,
    0.469749, 0.66957},
  bc_sf_ac_g = {
    0.91037, 1.214258, 0.300626, -0.783811, -0.850136, -0.169547, -0.230178, -0.062688, 0.140419, 0.156987,
    0.085116, -0.025994, -0.203574, -0.265491, -0.125905, -0.476435, 0.102349, 1.067838, 1.426622, 0.690389},
  bc_down_y = {
    -0.848493, -0.455907, 0.465299, 0.84805, -0.142177, 0.685924, 0.802252, 0.072059, 0.439619, 0.879683, 0.370286,
    -0.498513, 0.778185, 0.085834, -0.742459, -0.747247},
  bc_down_g = {
    0.167623, 0.115943, 0.162547, 0.136568, 0.085798, 0.102352, 0.65026, 0.449779, 0.630569, 0.529788, 0.332835,
    0.397055, -0.107328, -0.065928, -0.083409, -0.043599, -0.019733, -0.007307, 0.244137, 0.099623, 0.064507,
    -0.166466, -0.16839, -0.336164, 0.062933, 0.025681, 0.016629, -0.042911, -0.043407, -0.086655, -0.122014,
    -0.097332, -0.150496, -0.167666, -0.117256, -0.165153, -0.47333, -0.37758, -0.58382, -0.650429, -0.454871,
    -0.640678, 0.12726, 0.090101, 0.128572, 0.114641, 0.073936, 0.092259, -0.587167, -0.373261, -0.487611,
    -0.304909, -0.161261, -0.128146, -0.151359, -0.096218, -0.125695, -0.078599, -0.04157, -0.033033},
  bc_down_ac_y = {
    0, -0.350783, 0.854599, -0.618137, -0.887567, 0.992766, 0.836656, -0.591358, -0.902554, 0.996242, 0.100716,
    -0.443316},
  bc_down_ac_g = {
    1, 0, 0, 0, 0, 0.955337, 0, 0, 0, 0, 0, 0, 0.825336, 0, 0, 0, 0, 0.62161, 0, 0, 0, 0, 0, 0, 0.362358, 0, 0, 0,
    0, 0.070737, -0.227202, 0, 0, 0, 0, -0.504846, 0, 0, 0, 0, 0, 0, -0.737394, 0, 0, 0, 0, -0.904072, 0, 0, 0, 0,
    0, 0, -0.989992, 0, 0, 0, 0, -0.98748},
  bc_sf_down_y = {
    -0.257215, 0.461773, 0.615888, 0.724103, -0.366479, -1.016487, -0.783438, -0.050202, 0.756506, 0.740762,
    0.063761, -0.702775},
  bc_sf_down_g = {
    0.469479, 0.253772, 0.585099, 0.209447, 0.450312, -0.062834, 0.253772, 0.137174, 0.31627, 0.113215, 0.243412,
    -0.033964, 0.396501, 0.214325, 0.301524, 0.02439, 0.052438, -0.007317, -0.057658, -0.031166, -0.167132,
    -0.101152, -0.217476, 0.030345, -0.055135, -0.029803, -0.261011, -0.176839, -0.380203, 0.053052, -0.475974,
    -0.257283, -0.654508, -0.260887, -0.560906, 0.078266, -0.195014, -0.105413, -0.278581, -0.115138, -0.247547,
    0.034541},
  bc_sf_rc_y = {
    -0.038744, 0.320084, 0.825856, 1.100664, 1.182411, 1.028067, 0.620341, 0.304091, -0.268184, -0.287148,
    -0.283493, -0.227824, -0.109274, 0.009759, 0.148293, 0.229005, -0.164231, -0.408382, -0.731087, -0.868564,
    -0.837526, -0.654308, -0.294376, -0.034058, 0.618669, 0.751444, 0.867419, 0.804685, 0.547114, 0.230281,
    -0.194623, -0.461558, -0.035046, 0.058235, 0.192523, 0.270449, 0.303055, 0.273179, 0.177998, 0.101701,
    -1.000382, -1.104535, -1.137595, -0.954594, -0.518348, -0.058477, 0.497814, 0.829192},
  bc_sf_rc_g = {
    1.057082, 0.611718, -0.012338, -0.634108, -1.070607, -0.354322, -0.004585, 0.345939, 0.632395, 0.733547,
    -0.050867, -0.40996, -0.648251, -0.766484, -0.659758, 0.658792, 1.143778, 1.29255, 1.201941, 0.758128},
  bc_one_y = {
    0},
  bc_one_g = {
    1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
  ar_down_y = {
    -0.243621, 0.253547, 0.329811, 0.116981, -0.342534, -0.23342, -0.373458, 0.032408, 0.384474, 0.311817,
    -0.171087, -0.369975},
  ar_down_g = {
    0.111111, 0.111111, 0.21726, 0.106149, 0.197852, 0.091704, 0.091704, 0.111111, 0.111111, 0.21726, 0.106149,
    0.197852, 0.091704, 0.091704, 0.180179, 0.180179, 0.326589, 0.14641, 0.245974, 0.099564, 0.099564, 0.069068,
    0.069068, 0.10933, 0.040262, 0.048122, 0.00786, 0.00786, 0.069068, 0.069068, 0.10933, 0.040262, 0.048122,
    0.00786, 0.00786, -0.025245, -0.025245, -0.081339, -0.056094, -0.138027, -0.081933, -0.081933, -0.025245,
    -0.025245, -0.081339, -0.056094, -0.138027, -0.081933, -0.081933, -0.125697, -0.125697, -0.29179, -0.166093,
    -0.357746, -0.191653, -0.191653, -0.100452, -0.100452, -0.210452, -0.109999, -0.219719, -0.10972, -0.10972,
    -0.100452, -0.100452, -0.210452, -0.109999, -0.219719, -0.10972, -0.10972},
  ar_up_y = {
    0, 0.322109, 0.644218, 0.814834, 0.98545, 0, 0.322109, 0.644218, 0.814834, 0.98545, 0.863209, 0.599099,
    0.334988, -0.007898, -0.350783, 0.863209, 0.599099, 0.334988, -0.007898, -0.350783},
  ar_up_g = {
    1.434804, 0.626665, -0.599606, -1.650779, -1.01439, 0.298833},
  ar_sf_y = {
    -0.095857, 0.09779, 0.00379, 0.148712, 0.101573, 0.126439},
  ar_sf_g = {
    0.166667, 0.166667, 0.325889, 0.159223, 0.159223, 0.166667, 0.166667, 0.325889, 0.159223, 0.159223, 0.137556,
    0.137556, 0.241158, 0.103602, 0.103602, 0.137556, 0.137556, 0.241158, 0.103602, 0.103602, 0.060393, 0.060393,
    0.072182, 0.01179, 0.01179, 0.060393, 0.060393, 0.072182, 0.01179, 0.01179},
  ar_1d_y = {
    0.543222, 0.727882, -0.29579, -0.532302, 0.553989, 0.720622, -0.741784, -0.521231, 0.5646, 0.255598, -0.748421,
    -0.510012},
  ar_1d_g = {
    0.333333, 0.333333, 0.651779, 0.318446, 0.593557, 0.275112, 0.275112, 0.207203, 0.207203, 0.327989, 0.120786,
    0.144365, 0.023579, 0.023579, -0.075734, -0.075734, -0.244016, -0.168282, -0.41408, -0.245798, -0.245798,
    -0.301357, -0.301357, -0.631355, -0.329998, -0.659157, -0.32916, -0.32916},
  ar_1d_sf_y = {
    0, 0.322109, 0.644218, 0.814834, 0.92433, 0.863209, 0.599099, 0.334988, -0.350783, -0.611179, -0.871576,
    -0.927014, -0.80686, -0.631267, -0.307227, 0.016814},
  ar_1d_sf_g = {
    1.477668, 1.613809, 0.491984, 0.138315, -0.618447, -1.18943, -1.935768, -0.942119, -1.419442, -0.455926},
}

describe("F.interpolate bicubic and area (torch 1.13 values)", function()
  local function filled(shape, k)
    local n = 1
    for _, v in ipairs(shape) do n = n * v end
    return (ks.arange(n):float() * k)
  end
  local function run(name, shape, opts, out_shape)
    local x = filled(shape, 0.7):sin():reshape(shape):requires_grad_()
    local y = F.interpolate(x, opts)
    assert.are.same(out_shape, y:shape(), name)
    close(C[name .. "_y"], y)
    ;(y * filled(out_shape, 0.3):cos():reshape(out_shape)):sum():backward()
    close(C[name .. "_g"], x.grad)
  end

  it("bicubic: a = -0.75, clamped border reads, align_corners both ways, sizes and scale factors", function()
    run("bc_up", {1, 2, 3, 4}, {size = {5, 7}, mode = "bicubic", align_corners = false}, {1, 2, 5, 7})
    run("bc_up_ac", {1, 2, 3, 4}, {size = {5, 7}, mode = "bicubic", align_corners = true}, {1, 2, 5, 7})
    run("bc_sf", {1, 1, 4, 5}, {scale_factor = 1.7, mode = "bicubic"}, {1, 1, 6, 8})
    run("bc_sf_ac", {1, 1, 4, 5}, {scale_factor = {1.5, 2.25}, mode = "bicubic", align_corners = true}, {1, 1, 6, 11})
    run("bc_down", {2, 1, 5, 6}, {size = {2, 4}, mode = "bicubic", align_corners = false}, {2, 1, 2, 4})
    run("bc_down_ac", {2, 1, 5, 6}, {size = {3, 2}, mode = "bicubic", align_corners = true}, {2, 1, 3, 2})
    run("bc_sf_down", {1, 1, 7, 6}, {scale_factor = 0.6, mode = "bicubic"}, {1, 1, 4, 3})
    run("bc_sf_rc", {1, 1, 4, 5}, {scale_factor = 1.7, mode = "bicubic", recompute_scale_factor = true}, {1, 1, 6, 8})
    run("bc_one", {1, 1, 3, 4}, {size = {1, 1}, mode = "bicubic", align_corners = true}, {1, 1, 1, 1})
    -- the same size is the identity; torch's positional order works too
    local im = image()
    assert.is_true(ks.allclose(F.interpolate(im, {size = {3, 5}, mode = "bicubic"}), im))
    local x = filled({1, 2, 3, 4}, 0.7):sin():reshape(1, 2, 3, 4)
    close(C.bc_up_ac_y, F.interpolate(x, {5, 7}, nil, "bicubic", true))
  end)

  it("area: adaptive average pooling (down, up, scale factors, 1-D)", function()
    run("ar_down", {1, 2, 5, 7}, {size = {2, 3}, mode = "area"}, {1, 2, 2, 3})
    run("ar_up", {1, 1, 2, 3}, {size = {4, 5}, mode = "area"}, {1, 1, 4, 5})
    run("ar_sf", {1, 1, 6, 5}, {scale_factor = 0.5, mode = "area"}, {1, 1, 3, 2})
    run("ar_1d", {2, 2, 7}, {size = 3, mode = "area"}, {2, 2, 3})
    run("ar_1d_sf", {1, 2, 5}, {scale_factor = 1.6, mode = "area"}, {1, 2, 8})
    local im = image()
    assert.is_true(ks.equal(F.interpolate(im, {size = {2, 3}, mode = "area"}), F.adaptive_avg_pool2d(im, {2, 3})))
  end)

  it("carry gradients (finite differences), also through nn.Upsample", function()
    local x = image():requires_grad_()
    for _, o in ipairs({{size = {4, 7}, mode = "bicubic"}, {scale_factor = 0.7, mode = "bicubic", align_corners = true},
                        {size = {2, 4}, mode = "area"}, {size = {5, 6}, mode = "area"}}) do
      local ok, report = autograd.gradcheck(function(a) return F.interpolate(a, o) end, {x})
      assert.is_true(ok, report)
    end
    local up = nn.Upsample({scale_factor = 1.5, mode = "bicubic"})
    local ok, report = autograd.gradcheck(function(a) return up(a) end, {x})
    assert.is_true(ok, report)
    close(C.ar_down_y, nn.Upsample({size = {2, 3}, mode = "area"})(filled({1, 2, 5, 7}, 0.7):sin():reshape(1, 2, 5, 7)))
    assert.are.equal("Upsample(scale_factor=2, mode=bicubic, align_corners=true)",
      tostring(nn.Upsample({scale_factor = 2, mode = "bicubic", align_corners = true})))
  end)

  it("refuse what torch refuses", function()
    local x = image()
    assert.matches("interpolate: mode 'bicubic' needs a 4%-D %[N, C, H, W%] input, got shape %[2, 3, 5%]",
      err_of(F.interpolate, x[0], {size = 2, mode = "bicubic"}))
    assert.matches("interpolate: mode 'area' needs a 3%-D %[N, C, L%] or 4%-D %[N, C, H, W%] input, got shape %[30%]",
      err_of(F.interpolate, x:reshape(30), {size = 2, mode = "area"}))
    assert.matches("interpolate: mode 'bicubic' needs a float32 input, got uint8",
      err_of(F.interpolate, x:byte(), {size = 2, mode = "bicubic"}))
    assert.matches("interpolate: mode 'area' needs a float32 input, got int64",
      err_of(F.interpolate, x:long(), {size = 2, mode = "area"}))
    assert.matches("align_corners can only be set with the interpolating modes linear, bilinear, bicubic and trilinear",
      err_of(F.interpolate, x, {size = 2, mode = "area", align_corners = false}))
    assert.matches("unknown mode tricubic %(expected one of nearest, nearest%-exact, linear, bilinear, bicubic, trilinear, area%)",
      err_of(F.interpolate, x, {size = 2, mode = "tricubic"}))
    assert.matches("align_corners can only be set with the interpolating modes",
      err_of(F.interpolate, x, {size = 2, mode = "nearest-exact", align_corners = true}))
  end)
end)

describe("F.interpolate mode nearest-exact", function()
  -- torch 1.13's source indices (spec/fixtures/torch_refs/interpolate_nearest_exact.py): the input along the
  -- dim is 0..n-1, so the output is the index each position reads
  local function along(n, o) return F.interpolate(ks.arange(n):float():reshape(1, 1, n), o):reshape(-1):long():totable() end

  it("reads the source whose centre is nearest, as torch", function()
    local by_size = {
      {3, 5, {0, 0, 1, 2, 2}}, {4, 7, {0, 0, 1, 2, 2, 3, 3}}, {5, 3, {0, 2, 4}}, {7, 4, {0, 2, 4, 6}},
      {10, 3, {1, 5, 8}}, {6, 13, {0, 0, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5}},
      {28, 20, {0, 2, 3, 4, 6, 7, 9, 10, 11, 13, 14, 16, 17, 18, 20, 21, 23, 24, 25, 27}},
    }
    for _, c in ipairs(by_size) do
      assert.are.same(c[3], along(c[1], {size = c[2], mode = "nearest-exact"}), c[1] .. " -> " .. c[2])
    end
    local by_factor = {{5, 1.5, {0, 1, 1, 2, 3, 3, 4}}, {7, 0.7, {0, 2, 3, 5}}, {4, 2.5, {0, 0, 1, 1, 1, 2, 2, 3, 3, 3}}}
    for _, c in ipairs(by_factor) do
      assert.are.same(c[3], along(c[1], {scale_factor = c[2], mode = "nearest-exact"}), c[1] .. " x " .. c[2])
    end
    -- legacy "nearest" differs (floor(d * scale)): 10 -> 3 reads 0, 3, 6
    assert.are.same({0, 3, 6}, along(10, {size = 3, mode = "nearest"}))
  end)

  it("works on 4-D images of any dtype, with gradients", function()
    local x = ks.arange(12):reshape(1, 1, 3, 4):byte()
    local y = F.interpolate(x, {size = {5, 3}, mode = "nearest-exact"})
    assert.are.equal("uint8", y:dtype())
    assert.are.same({0, 2, 3, 0, 2, 3, 4, 6, 7, 8, 10, 11, 8, 10, 11}, y:reshape(-1):long():totable())
    local xf = ks.randn(1, 2, 3, 4):requires_grad_()
    F.interpolate(xf, {size = {5, 3}, mode = "nearest-exact"}):sum():backward()
    -- each source pixel's gradient counts the outputs reading it: rows {0,0,1,2,2} x columns {0,2,3}
    local g = xf.grad[0][0]
    assert.are.equal(2, g[0][0]:item())
    assert.are.equal(0, g[0][1]:item())
    assert.are.equal(1, g[1][3]:item())
    assert.are.equal(15, xf.grad:sum():item() / 2)
  end)
end)
