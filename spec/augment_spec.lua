-- Batch augmentation (kshot.augment): hand-computed cases, statistics, determinism, bad inputs.
local ks = require "kshot"
local A = require "kshot.augment"

local function err_of(fn, ...)
  local ok, msg = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function same(a, b)
  assert.same(a:shape(), b:shape())
  assert.same(a:totable(), b:totable())
end

local function max_abs_diff(a, b)
  return (a - b):abs():max():item()
end

-- [B, C, H, W] with distinct values 0..n-1
local function ramp(B, C, H, W)
  return ks.arange(B * C * H * W):float():view(B, C, H, W)
end

local function run(list, x, seed, y)
  return A.compose(list, { seed = seed or 1 })(x, y)
end

describe("kshot.augment geometric", function()
  it("a 90-degree rotation of a square image equals the transposed-and-flipped image", function()
    local x = ramp(2, 3, 5, 5)
    same(run({ A.random_rotation { degrees = { 90, 90 } } }, x), x:flip(-1):transpose(-1, -2))
    -- -90 degrees: flip of the transpose the other way; 180: both flips
    same(run({ A.random_rotation { degrees = { -90, -90 } } }, x), x:transpose(-1, -2):flip(-1))
    same(run({ A.random_rotation { degrees = { 180, 180 } } }, x), x:flip(-1):flip(-2))
  end)

  it("rotation by 0 is the identity and small angles keep the centre pixel", function()
    local x = ramp(1, 1, 5, 5)
    same(run({ A.random_rotation { degrees = 0 } }, x), x)
    local r = run({ A.random_rotation { degrees = 30 } }, x)
    assert.equal(x[{ 0, 0, 2, 2 }]:item(), r[{ 0, 0, 2, 2 }]:item())
  end)

  it("crops at a known offset: p = 0 takes the centre window", function()
    local x = ramp(1, 1, 4, 4)
    same(run({ A.random_crop { size = 2, p = 0 } }, x), x[{ {}, {}, { 1, 3 }, { 1, 3 } }])
    same(run({ A.random_crop { padding = 2, p = 0 } }, x), x) -- offset (2, 2) of the padded image
  end)

  it("a padded random crop is a window of the zero-padded image at an offset in [0, 2P]", function()
    local x = ramp(6, 1, 4, 4) + 1 -- no zeros inside the image
    local P = 2
    local padded = ks.zeros(6, 1, 8, 8)
    padded[{ {}, {}, { P, P + 4 }, { P, P + 4 } }] = x
    local out = run({ A.random_crop { padding = P } }, x, 7)
    local offsets = {}
    for b = 0, 5 do
      local found = false
      for oy = 0, 2 * P do
        for ox = 0, 2 * P do
          if not found and max_abs_diff(out[b], padded[{ b, {}, { oy, oy + 4 }, { ox, ox + 4 } }]) == 0 then
            found = true
            offsets[#offsets + 1] = oy * 10 + ox
          end
        end
      end
      assert.is_true(found, "image " .. b .. " is a window of the padded image")
    end
  end)

  it("reflect padding mirrors without repeating the edge", function()
    local x = ramp(1, 1, 3, 3)
    -- size 5 with padding 1 and p = 0: the whole reflect-padded image
    local out = run({ A.random_crop { padding = 1, size = 5, padding_mode = "reflect", p = 0 } }, x)
    assert.same({ 4, 3, 4, 5, 4 }, out[{ 0, 0, 0 }]:totable())
    assert.same({ 1, 0, 1, 2, 1 }, out[{ 0, 0, 1 }]:totable())
  end)

  it("flips with p = 1 equal the reversed image, p = 0 copies; crop fuses with flips", function()
    local x = ramp(2, 2, 3, 4)
    same(run({ A.random_horizontal_flip { p = 1 } }, x), x:flip(-1))
    same(run({ A.random_vertical_flip { p = 1 } }, x), x:flip(-2))
    same(run({ A.hflip { p = 0 } }, x), x)
    same(run({ A.random_crop {}, A.hflip { p = 1 }, A.vflip { p = 1 } }, x), x:flip(-1):flip(-2))
    same(A.compose({ A.random_crop {}, A.hflip { p = 1 } }, { seed = 1, fuse = false })(x), x:flip(-1))
  end)

  it("translation by an integer shift moves the image and fills the border", function()
    local x = ramp(1, 1, 4, 4) + 1
    same(run({ A.random_translation { max = 0 } }, x), x)
    local out = run({ A.random_translation { max = 0.5, fill = -1 } }, x, 3)
    -- find the shift: the value 1 (pixel (0,0)) moved to (ty, tx) or left the image
    local found = false
    for ty = -2, 2 do
      for tx = -2, 2 do
        local ok = true
        for i = 0, 3 do
          for j = 0, 3 do
            local si, sj = i - ty, j - tx
            local want = (si >= 0 and si < 4 and sj >= 0 and sj < 4) and x[{ 0, 0, si, sj }]:item() or -1
            if out[{ 0, 0, i, j }]:item() ~= want then ok = false end
          end
        end
        found = found or ok
      end
    end
    assert.is_true(found)
  end)

  it("random resized crop with scale 1 and ratio 1 of a square image is the identity", function()
    local x = ramp(2, 1, 6, 6)
    same(run({ A.random_resized_crop { scale = { 1, 1 }, ratio = { 1, 1 } } }, x), x)
    local out = run({ A.random_resized_crop { size = { 3, 4 } } }, x)
    assert.same({ 2, 1, 3, 4 }, out:shape())
    assert.is_true(out:min():item() >= 0 and out:max():item() <= 71)
  end)
end)

describe("kshot.augment random_affine", function()
  it("scale 1 without shear is exactly random_rotation", function()
    local x = ramp(3, 2, 7, 7)
    same(run({ A.random_affine { degrees = { 30, 30 } } }, x), run({ A.random_rotation { degrees = { 30, 30 } } }, x))
    same(run({ A.random_affine { degrees = { 90, 90 } } }, x), x:flip(-1):transpose(-1, -2))
    same(run({ A.random_affine {} }, x), x)
  end)

  it("a scale of 2 samples the source at half the distance from the centre", function()
    local x = ramp(1, 1, 5, 5)
    local r = run({ A.random_affine { scale = { 2, 2 } } }, x)
    local function at(t, y, xx) return t[{ 0, 0, y, xx }]:item() end
    assert.equal(at(x, 2, 2), at(r, 2, 2))
    assert.equal(at(x, 1, 1), at(r, 0, 0))
    assert.equal(at(x, 3, 3), at(r, 4, 4))
    assert.near((at(x, 1, 1) + at(x, 1, 2)) / 2, at(r, 0, 1), 1e-5)
  end)

  it("a horizontal shear moves each row by tan(phi) times its distance from the centre row", function()
    local x = ramp(1, 1, 5, 5)
    local phi = math.deg(math.atan(0.5))
    local r = run({ A.random_affine { shear = { phi, phi }, fill = -1 } }, x)
    local function at(t, y, xx) return t[{ 0, 0, y, xx }]:item() end
    -- forward x' = x + 0.5 (y - 2): the output at (4, 3) comes from (4, 2); at (3, 3) from (3, 2.5)
    assert.near(at(x, 4, 2), at(r, 4, 3), 1e-4)
    assert.near((at(x, 3, 2) + at(x, 3, 3)) / 2, at(r, 3, 3), 1e-4)
    assert.equal(at(x, 2, 4), at(r, 2, 4)) -- the centre row stays
    -- a vertical shear ({0, 0, phi, phi}) is the transposed case
    local rt = run({ A.random_affine { shear = { 0, 0, phi, phi }, fill = -1 } }, x:transpose(-1, -2):contiguous())
    assert.is_true(max_abs_diff(rt:transpose(-1, -2), r) < 1e-4)
  end)

  it("translations are whole pixels within the stated fraction", function()
    local x = ramp(64, 1, 5, 5)
    local r = run({ A.random_affine { translate = { 0.2, 0 }, fill = -1 } }, x)
    local seen = {}
    for b = 0, 63 do
      local xb, rb = x:narrow(0, b, 1), r:narrow(0, b, 1)
      local found
      for _, d in ipairs { -1, 0, 1 } do
        local shifted = ks.pad(xb, { d, -d, 0, 0 }, { value = -1 })
        if max_abs_diff(shifted, rb) == 0 then found = d end
      end
      assert.is_not_nil(found, "image " .. b .. " is not a whole-pixel shift by at most 1")
      seen[found] = true
    end
    assert.is_true(seen[-1] and seen[0] and seen[1])
  end)

  it("bad options name the option", function()
    assert.matches("'shear'", err_of(A.random_affine, { shear = "x" }))
    assert.matches("'translate'", err_of(A.random_affine, { translate = 0.1 }))
    assert.matches("'degrees'", err_of(A.random_affine, { degrees = { 5, 1 } }))
    assert.matches("%(%-90, 90%)", err_of(run, { A.random_affine { shear = { 0, 95 } } }, ks.zeros(1, 1, 4, 4)))
    assert.matches("scale must be > 0", err_of(run, { A.random_affine { scale = { 0, 1 } } }, ks.zeros(1, 1, 4, 4)))
    assert.matches("translate fractions", err_of(run, { A.random_affine { translate = { 2, 0 } } },
      ks.zeros(1, 1, 4, 4)))
  end)
end)

describe("kshot.augment elastic_transform", function()
  it("alpha = 0 and p = 0 copy the image; a constant image with the same fill stays constant", function()
    local x = ramp(2, 3, 6, 6)
    same(run({ A.elastic_transform { alpha = 0 } }, x), x)
    same(run({ A.elastic_transform { p = 0 } }, x), x)
    local c = ks.full({ 2, 1, 9, 9 }, 0.7)
    assert.is_true(max_abs_diff(run({ A.elastic { alpha = 80, sigma = 3, fill = 0.7 } }, c), c) < 1e-6)
  end)

  it("moves pixels by alpha/2 times a Gaussian-blurred U(-1, 1) field, smooth, the two axes independent", function()
    local B, S, alpha, sigma = 16, 64, 40, 4
    -- channel 0 a horizontal ramp, channel 1 a vertical one: bilinear sampling reads the displacement exactly
    local xr = ks.arange(S):float():view(1, 1, 1, S):expand(B, 1, S, S)
    local yr = ks.arange(S):float():view(1, 1, S, 1):expand(B, 1, S, S)
    local x = ks.cat({ xr, yr }, 1):contiguous()
    local r = run({ A.elastic_transform { alpha = alpha, sigma = sigma, fill = -1000 } }, x, 5)
    local m = 20 -- interior: no fill, no reflect-padded rows
    local dx = (r:narrow(1, 0, 1) - x:narrow(1, 0, 1)):narrow(2, m, S - 2 * m):narrow(3, m, S - 2 * m)
    local dy = (r:narrow(1, 1, 1) - x:narrow(1, 1, 1)):narrow(2, m, S - 2 * m):narrow(3, m, S - 2 * m)
    -- theory: var = (alpha/2)^2 * (1/3) * (sum of the 2-D kernel's squares)
    local k, half, sum, sq = {}, (math.floor(8 * sigma + 1) | 1) // 2, 0, 0
    for t = -half, half do k[t] = math.exp(-0.5 * t * t / sigma ^ 2); sum = sum + k[t] end
    for t = -half, half do sq = sq + (k[t] / sum) ^ 2 end
    local sd = alpha / 2 * math.sqrt(sq * sq / 3)
    for _, d in ipairs { dx, dy } do
      local mean, var = d:mean():item(), d:pow(2):mean():item()
      assert.is_true(math.abs(mean) < 0.25 * sd, "mean displacement " .. mean)
      assert.near(sd, math.sqrt(var), 0.2 * sd)
    end
    local corr = (dx * dy):mean():item() / sd ^ 2
    assert.is_true(math.abs(corr) < 0.2, "dx and dy correlated: " .. corr)
    -- neighbouring displacements nearly equal (sigma 4): correlation well above 0.9
    local n = S - 2 * m
    local a, b = dx:narrow(3, 0, n - 1), dx:narrow(3, 1, n - 1)
    assert.is_true((a * b):mean():item() / a:pow(2):mean():item() > 0.9)
  end)

  it("every row and column of the field is blurred, up to the edges (widths not a multiple of 8 or 4)", function()
    -- 23 columns: two blocks of 8, one of 4 and 3 single ones in the blur; small alpha keeps samples inside
    local B, H, W, alpha, sigma = 64, 22, 23, 2, 3
    local xr = ks.arange(W):float():view(1, 1, 1, W):expand(B, 1, H, W)
    local yr = ks.arange(H):float():view(1, 1, H, 1):expand(B, 1, H, W)
    local x = ks.cat({ xr, yr }, 1):contiguous()
    local r = run({ A.elastic_transform { alpha = alpha, sigma = sigma, fill = -1000 } }, x, 9)
    local k, half, sum, sq = {}, (math.floor(8 * sigma + 1) | 1) // 2, 0, 0
    for t = -half, half do k[t] = math.exp(-0.5 * t * t / sigma ^ 2); sum = sum + k[t] end
    for t = -half, half do sq = sq + (k[t] / sum) ^ 2 end
    local sd = alpha / 2 * math.sqrt(sq * sq / 3) -- away from the edges; reflect padding raises it near them
    -- dx by column (axis 3) over rows 1..H-2, dy by row (axis 2) over columns 1..W-2
    for ch, axis in pairs { [0] = 3, [1] = 2 } do
      local d = (r:narrow(1, ch, 1) - x:narrow(1, ch, 1)):narrow(5 - axis, 1, (axis == 3 and H or W) - 2)
      local n = d:size(axis)
      for c = 1, n - 3 do -- lines 1..n-2: the outermost ones may sample outside the image
        local a, b = d:narrow(axis, c, 1), d:narrow(axis, c + 1, 1)
        local sa = math.sqrt(a:pow(2):mean():item())
        assert.is_true(sa > 0.5 * sd and sa < 2 * sd, ("channel %d, line %d: displacement sd %g, expected about %g"):format(ch, c, sa, sd))
        local corr = (a * b):mean():item() / math.sqrt(a:pow(2):mean():item() * b:pow(2):mean():item())
        assert.is_true(corr > 0.8, ("channel %d, lines %d and %d: correlation %g"):format(ch, c, c + 1, corr))
      end
    end
  end)

  it("bad options name the option", function()
    assert.matches("'alpha'", err_of(A.elastic_transform, { alpha = -1 }))
    assert.matches("'sigma'", err_of(A.elastic_transform, { sigma = "big" }))
    assert.matches("sigma must be in", err_of(run, { A.elastic { sigma = 0 } }, ks.zeros(1, 1, 4, 4)))
    assert.matches("%[B, C, H, W%]", err_of(run, { A.elastic {} }, ks.zeros(4, 4)))
  end)
end)

describe("kshot.augment photometric and erasing", function()
  it("brightness/contrast with fixed ranges is x * c + b", function()
    local x = ramp(1, 1, 2, 2)
    same(run({ A.brightness_contrast { brightness = { 0.5, 0.5 }, contrast = { 2, 2 } } }, x), x * 2 + 0.5)
    same(run({ A.brightness_contrast { brightness = { 0.5, 0.5 }, contrast = { 2, 2 }, clamp = { 0, 3 } } }, x),
      (x * 2 + 0.5):clamp(0, 3))
    -- about a pivot: pivot + (x - pivot) * c + b
    assert.is_true(max_abs_diff(run({ A.brightness_contrast { brightness = 0, contrast = { 2, 2 }, pivot = -1 } }, x),
      x * 2 + 1) < 1e-6)
    -- standardised images (mean .3, sd .5): pivot = black scales the pixel intensities
    local pix = ks.rand({ 4, 1, 3, 3 }, { generator = ks.Generator(3) })
    local z = run({ A.brightness_contrast { brightness = 0, contrast = { 0.5, 0.5 }, pivot = -0.3 / 0.5 } },
      (pix - 0.3) / 0.5)
    assert.is_true(max_abs_diff(z, (pix * 0.5 - 0.3) / 0.5) < 1e-6)
    assert.matches("'pivot'", err_of(A.brightness_contrast, { pivot = "black" }))
  end)

  it("Gaussian noise has the requested mean and std, and clamps", function()
    local x = ks.zeros(4, 1, 50, 50)
    local out = run({ A.gaussian_noise { std = 0.5, mean = 1 } }, x)
    assert.is_true(math.abs(out:mean():item() - 1) < 0.05)
    assert.is_true(math.abs(out:std():item() - 0.5) < 0.02)
    local c = run({ A.gaussian_noise { std = 1, clamp = { 0, 1 } } }, x)
    assert.equal(0, c:min():item())
    assert.equal(1, c:max():item())
  end)

  it("erasing boxes lie within the stated area and aspect-ratio limits", function()
    local B, H, W = 400, 20, 24
    local x = ks.ones(B, 2, H, W)
    local out = ks.empty(B, 2, H, W)
    local boxes = ks.empty({ B, 4 }, "int64")
    local g = ks.Generator(11)
    local s0, s1, r1 = 0.02, 0.4, 0.3
    ks.augment.raw_erase(x, out, g, 1, s0, s1, r1, 1 / r1, 100, false, "constant", 0, 0, 1, boxes)
    local erased = 0
    for b, bx in ipairs(boxes:totable()) do
      local top, left, h, w = bx[1], bx[2], bx[3], bx[4]
      if h > 0 then
        erased = erased + 1
        assert.is_true(top >= 0 and left >= 0 and top + h <= H and left + w <= W)
        assert.is_true(h < H and w < W)
        -- h = round(sqrt(S r)), w = round(sqrt(S / r)) for some S in [s0, s1]*H*W and r in [r1, 1/r1]
        local Slo, Shi = (h - 0.5) * (w - 0.5), (h + 0.5) * (w + 0.5)
        assert.is_true(Shi >= s0 * H * W and Slo <= s1 * H * W, "area of box " .. b)
        local rlo, rhi = (h - 0.5) / (w + 0.5), (h + 0.5) / (w - 0.5)
        assert.is_true(rhi >= r1 and rlo <= 1 / r1, "ratio of box " .. b)
        -- the box is zero in both channels, the rest untouched
        local img = out[b - 1]
        assert.equal(h * w * 2, (img:eq(0)):sum():item())
        assert.equal(0, img[{ {}, { top, top + h }, { left, left + w } }]:abs():sum():item())
      end
    end
    assert.is_true(erased > 0.95 * B)
  end)

  it("erasing with p = 0 copies; random fill stays in the value range; mean fill uses the channel mean", function()
    local x = ramp(3, 1, 6, 6)
    same(run({ A.random_erasing { p = 0 } }, x), x)
    local r = run({ A.random_erasing { p = 1, value_range = { -3, -2 } } }, x)
    local changed = r:ne(x)
    assert.is_true(changed:sum():item() > 0)
    local vals = r:masked_select(changed)
    assert.is_true(vals:min():item() >= -3 and vals:max():item() < -2)
    local m = run({ A.random_erasing { p = 1, value = "mean" } }, ks.ones(2, 1, 6, 6) * 4)
    assert.equal(4, m:max():item())
    assert.equal(4, m:min():item())
  end)
end)

describe("kshot.augment mixing", function()
  it("mixup is the lambda-weighted sum with soft targets", function()
    local B = 6
    local x = ramp(B, 1, 2, 3)
    local out, perm = ks.empty(B, 1, 2, 3), ks.empty({ B }, "int64")
    local _, lam = ks.augment.raw_mixup(x, out, ks.Generator(3), 1.0, 1, perm)
    assert.is_true(lam > 0 and lam < 1)
    local want = x * lam + x:index_select(0, perm) * (1 - lam)
    assert.is_true(max_abs_diff(out, want) < 1e-4)
    -- soft targets
    local y = ks.tensor({ 0, 1, 2, 0, 1, 2 }, "int64")
    local soft = ks.augment.raw_mix_targets(y, perm, lam, 3, ks.empty(B, 3))
    local p = perm:totable()
    for b = 1, B do
      local row = {}
      for k = 0, 2 do row[k + 1] = 0 end
      row[y[b - 1]:item() + 1] = row[y[b - 1]:item() + 1] + lam
      row[y[p[b]]:item() + 1] = row[y[p[b]]:item() + 1] + (1 - lam)
      for k = 1, 3 do assert.is_true(math.abs(soft[{ b - 1, k - 1 }]:item() - row[k]) < 1e-6) end
    end
    assert.is_true(max_abs_diff(soft:sum(1), ks.ones(B)) < 1e-6)
  end)

  it("compose returns soft targets or the pair (y_a, y_b, lambda)", function()
    local x, y = ramp(4, 1, 2, 2), ks.tensor({ 0, 1, 2, 3 }, "int64")
    local xm, ys = A.compose({ A.mixup { alpha = 0.4, num_classes = 4 } }, { seed = 5 })(x, y)
    assert.same({ 4, 4 }, ys:shape())
    local xm2, ya, yb, lam = A.compose({ A.mixup { alpha = 0.4, targets = "pair" } }, { seed = 5 })(x, y)
    same(xm, xm2)
    same(ya, y)
    local want = x * lam + x:index_select(0, yb) * (1 - lam) -- y = 0..3, so y_b is the permutation
    assert.is_true(max_abs_diff(xm2, want) < 1e-4)
    -- alpha <= 0: lambda = 1, no mixing
    local xs, _, _, l1 = A.compose({ A.mixup { alpha = 0, targets = "pair" } }, { seed = 5 })(x, y)
    assert.equal(1, l1)
    same(xs, x)
  end)

  it("cutmix's lambda equals the kept share of pixels", function()
    local B, H, W = 8, 10, 12
    local x = (ks.arange(B):float() + 1):view(B, 1, 1, 1):expand(B, 2, H, W):contiguous()
    local seen = 0
    for seed = 1, 20 do
      local out, perm = ks.empty(B, 2, H, W), ks.empty({ B }, "int64")
      local _, lam, top, left, h, w = ks.augment.raw_cutmix(x, out, ks.Generator(seed), 1.0, 1, perm)
      assert.is_true(math.abs(lam - (1 - h * w / (H * W))) < 1e-12)
      for b = 0, B - 1 do
        if perm[b]:item() ~= b then
          local kept = out[b]:eq(b + 1):sum():item() / (2 * H * W)
          assert.is_true(math.abs(kept - lam) < 1e-9, "kept share of image " .. b)
          seen = seen + 1
        end
      end
      assert.is_true(top >= 0 and left >= 0 and top + h <= H and left + w <= W)
    end
    assert.is_true(seen > 0)
  end)

  -- Kolmogorov-Smirnov: D = max |F_n - F| over n = 400 draws; the 1% critical value is 1.628 / sqrt(n) = 0.0814
  local function ks_stat(draws, cdf)
    table.sort(draws)
    local n, d = #draws, 0
    for i, v in ipairs(draws) do
      local f = cdf(v)
      d = math.max(d, math.abs(i / n - f), math.abs((i - 1) / n - f))
    end
    return d
  end

  local function lambdas(alpha, n)
    local x = ks.zeros(2, 1, 1, 1)
    local out, perm, g = ks.empty(2, 1, 1, 1), ks.empty({ 2 }, "int64"), ks.Generator(99)
    local t = {}
    for i = 1, n do t[i] = select(2, ks.augment.raw_mixup(x, out, g, alpha, 1, perm)) end
    return t
  end

  it("mixup's lambda follows Beta(alpha, alpha) (KS test, 1% critical value 0.0814)", function()
    local crit = 1.628 / math.sqrt(400)
    -- Beta(2, 2): F(x) = 3x^2 - 2x^3; Beta(0.5, 0.5): F(x) = (2/pi) asin(sqrt(x))
    assert.is_true(ks_stat(lambdas(2, 400), function(v) return 3 * v * v - 2 * v * v * v end) < crit)
    assert.is_true(ks_stat(lambdas(0.5, 400), function(v) return 2 / math.pi * math.asin(math.sqrt(v)) end) < crit)
    -- and the test can fail: Beta(0.5, 0.5) draws against the Beta(2, 2) CDF
    assert.is_true(ks_stat(lambdas(0.5, 400), function(v) return 3 * v * v - 2 * v * v * v end) > crit)
  end)

  it("the flip rate is p within 4 sigma", function()
    local n, p = 4000, 0.3
    local x = ks.tensor({ 0, 1 }):view(1, 1, 1, 2):expand(n, 1, 1, 2):contiguous()
    local out = run({ A.hflip { p = p } }, x, 17)
    local flips = out[{ {}, 0, 0, 0 }]:sum():item()
    assert.is_true(math.abs(flips - n * p) <= 4 * math.sqrt(n * p * (1 - p)), "flips " .. flips)
  end)
end)

describe("kshot.augment determinism and buffers", function()
  local function pipeline(seed)
    return A.compose({
      A.random_crop { padding = 2 }, A.hflip {}, A.random_rotation { degrees = 10 },
      A.gaussian_noise { std = 0.1 }, A.random_erasing {}, A.random_affine { degrees = 5, scale = { 0.9, 1.1 },
        shear = 5, translate = { 0.1, 0.1 } }, A.elastic_transform { alpha = 20, sigma = 3 },
    }, { seed = seed })
  end

  it("a seed gives the same batch every time and for any thread count", function()
    local x = ks.rand({ 600, 1, 28, 28 }, { generator = ks.Generator(1) })
    local n0 = ks.get_num_threads()
    ks.set_num_threads(1)
    local a = pipeline(42)(x)
    ks.set_num_threads(2)
    local b = pipeline(42)(x)
    ks.set_num_threads(n0)
    same(a, b)
    assert.is_true(max_abs_diff(a, pipeline(43)(x)) > 0)
    -- successive calls continue the stream: different batches
    local p = pipeline(42)
    assert.is_true(max_abs_diff(p(x), p(x)) > 0)
  end)

  it("writes into out= (the same tensor every call) and supports out = x", function()
    local x = ramp(4, 1, 6, 6)
    local out = ks.empty(4, 1, 6, 6)
    local p = A.compose({ A.random_crop { padding = 1 }, A.hflip {} }, { seed = 3 })
    local r = p(x, nil, { out = out })
    assert.is_true(rawequal(r, out))
    local want = A.compose({ A.random_crop { padding = 1 }, A.hflip {} }, { seed = 3 })(x)
    same(out, want)
    local x2 = x:clone()
    A.compose({ A.random_crop { padding = 1 }, A.hflip {} }, { seed = 3 })(x2, { out = x2 })
    same(x2, want)
    same(x, ramp(4, 1, 6, 6)) -- the input is never modified
  end)

  it("a 3-D input is refused with both fixes: [N, H, W] gray images or one [C, H, W] image", function()
    -- torchvision habit: a per-item transform of one image; not guessed, since [N, H, W] looks the same
    local img = ramp(1, 2, 3, 4)[0] -- [2, 3, 4]
    local p = A.compose({ A.hflip { p = 1 } }, { seed = 5 })
    local ok, e = pcall(function() local r = p(img) return r end)
    assert.is_false(ok)
    assert.matches("augment_spec%.lua:%d+: random_horizontal_flip: x must be a contiguous float32 image batch "
      .. "%[B, C, H, W%], got float32 %[2, 3, 4%] %(gray images %[N, H, W%]: x:unsqueeze%(1%); one image "
      .. "%[C, H, W%]: aug%(x:unsqueeze%(0%)%)%[0%]%)", e)
    same(p(img:unsqueeze(0))[0], img:flip(-1)) -- the advertised fix works
  end)

  it("is reachable as ks.augment without a require, and fills y_out for soft targets", function()
    assert.equal(A.compose, ks.augment.compose)
    local x, y = ramp(4, 1, 2, 2), ks.tensor({ 0, 1, 1, 0 }, "int64")
    local yout = ks.empty(4, 2)
    local p = ks.augment.compose({ ks.augment.cutmix { num_classes = 2 } }, { seed = 2 })
    local _, ys = p(x, y, { y_out = yout })
    assert.is_true(rawequal(ys, yout))
    assert.is_true(max_abs_diff(yout:sum(1), ks.ones(4)) < 1e-6)
  end)

  it("does not touch ks.randn's default stream", function()
    ks.manual_seed(5)
    local a = ks.randn(4)
    ks.manual_seed(5)
    pipeline(1)(ks.ones(2, 1, 8, 8))
    same(ks.randn(4), a)
  end)
end)

describe("kshot.augment tabular", function()
  it("Gaussian jitter with sigma 0 is the identity, and scales with the per-feature std", function()
    local x = ks.tensor({ { 0, 10 }, { 2, 30 }, { 4, 50 } })
    same(run({ A.gaussian_jitter { sigma = 0 } }, x), x)
    local big = ks.zeros(20000, 2)
    local out = run({ A.gaussian_jitter { sigma = 0.5, std = ks.tensor({ 1, 4 }) } }, big)
    local sd = out:std(0):totable()
    assert.is_true(math.abs(sd[1] - 0.5) < 0.02 and math.abs(sd[2] - 2) < 0.08)
  end)

  it("SMOTE interpolates towards a same-class nearest neighbour", function()
    local x = ks.tensor({ { 0, 0 }, { 1, 0 }, { 10, 10 }, { 0, 5 }, { 11, 10 } })
    local y = ks.tensor({ 0, 0, 1, 0, 1 }, "int64")
    local nx, ny = A.smote(x, y, { k = 1, n_per_class = 20, seed = 1 })
    assert.same({ 40, 2 }, nx:shape())
    for i, row in ipairs(nx:totable()) do
      local c = ny[i - 1]:item()
      assert.equal(i <= 20 and 0 or 1, c)
      if c == 1 then
        assert.is_true(row[1] >= 10 and row[1] <= 11 and row[2] == 10)
      else
        -- k = 1: 0 <-> 1 are each other's nearest, 3's nearest is 0: points on those segments
        assert.is_true((row[2] == 0 and row[1] >= 0 and row[1] <= 1) or (row[1] == 0 and row[2] >= 0 and row[2] <= 5))
      end
    end
    assert.has_error(function() A.smote(x, y, { k = 0, n = 3, seed = 1 }) end)
  end)
end)

describe("kshot.augment bad inputs", function()
  it("mixup on batches of different sizes names both shapes", function()
    local msg = err_of(run, { A.mixup { num_classes = 3 } }, ks.zeros(4, 1, 2, 2), 1, ks.tensor({ 0, 1, 2 }, "int64"))
    assert.matches("different batch sizes", msg)
    assert.matches("[4, 1, 2, 2]", msg, 1, true)
    assert.matches("[3]", msg, 1, true)
    assert.matches("labels y are required", err_of(run, { A.mixup { num_classes = 3 } }, ks.zeros(4, 1, 2, 2)))
    assert.matches("num_classes", err_of(run, { A.mixup {} }, ks.zeros(2, 1, 2, 2), 1, ks.tensor({ 0, 1 }, "int64")))
    assert.matches("outside", err_of(run, { A.mixup { num_classes = 2 } }, ks.zeros(2, 1, 2, 2), 1,
      ks.tensor({ 0, 5 }, "int64")))
  end)

  it("wrong ranks and dtypes are clear errors", function()
    assert.matches("%[B, C, H, W%]", err_of(run, { A.hflip {} }, ks.zeros(3, 4, 4)))
    assert.matches("%[B, C, H, W%]", err_of(run, { A.random_rotation { degrees = 5 } }, ks.zeros(4, 4)))
    assert.matches("float32", err_of(run, { A.hflip {} }, ks.zeros({ 1, 1, 2, 2 }, "uint8")))
    assert.matches("%[N, F%]", err_of(run, { A.gaussian_jitter {} }, ks.zeros(2, 1, 2, 2)))
    assert.matches("x must be a kshot.Tensor", err_of(run, { A.hflip {} }, nil))
  end)

  it("bad options name the option", function()
    assert.matches("'p'", err_of(A.hflip, { p = 1.5 }))
    assert.matches("'degrees' is required", err_of(A.random_rotation, {}))
    assert.matches("'padding'", err_of(A.random_crop, { padding = -1 }))
    assert.matches("'padding_mode'", err_of(A.random_crop, { padding_mode = "wrap" }))
    assert.matches("'value'", err_of(A.random_erasing, { value = "blue" }))
    assert.matches("'targets'", err_of(A.mixup, { targets = "hard" }))
    assert.matches("seed", err_of(A.compose, { A.hflip {} }))
    assert.matches("item 2 is not a transform", err_of(A.compose, { A.hflip {}, 3 }, { seed = 1 }))
    assert.matches("at most one mixing", err_of(A.compose, { A.mixup {}, A.cutmix {} }, { seed = 1 }))
    assert.matches("larger than the padded image", err_of(run, { A.random_crop { size = 9, padding = 1 } },
      ks.zeros(1, 1, 4, 4)))
    assert.matches("reflect padding", err_of(run, { A.random_crop { padding = 4, padding_mode = "reflect" } },
      ks.zeros(1, 1, 4, 4)))
    assert.matches("out has shape", err_of(function()
      A.compose({ A.hflip {} }, { seed = 1 })(ks.zeros(2, 1, 4, 4), { out = ks.zeros(2, 1, 4, 5) })
    end))
  end)

  it("NaN and inf options are rejected where a finite value is required; empty images name their size", function()
    assert.matches("random_erasing: option 'value' must be \"random\", \"mean\" or a finite number, got %-?nan",
      err_of(A.random_erasing, {p = 1, value = 0 / 0}))
    assert.matches("random_erasing: option 'value' must be .* a finite number, got inf",
      err_of(A.random_erasing, {p = 1, value = math.huge}))
    assert.matches("random_erasing: option 'value_range' must hold finite numbers, got {%-?nan, 1}",
      err_of(A.random_erasing, {p = 1, value_range = {0 / 0, 1}}))
    assert.matches("random_rotation: option 'degrees' must be a finite number, got inf",
      err_of(A.random_rotation, {degrees = math.huge}))
    assert.matches("gaussian_noise: option 'std' must be a finite number, got inf", err_of(A.gaussian_noise, {std = math.huge}))
    assert.matches("gaussian_noise: option 'clamp' must be a pair {lo, hi} with lo <= hi",
      err_of(A.gaussian_noise, {clamp = {0 / 0, 1}}))
    assert.matches("random_resized_crop: option 'size' must be a positive integer or a pair {h, w} of them, got %-3",
      err_of(A.random_resized_crop, {size = -3}))
    local rrc = A.compose({A.random_resized_crop{size = 4}}, {seed = 1})
    assert.matches("random_resized_crop: x has images of size 0 x 8 %(H x W%), expected at least 1 x 1",
      err_of(rrc, ks.rand(1, 1, 0, 8)))
    assert.matches("random_resized_crop: x has images of size 8 x 0 %(H x W%)", err_of(rrc, ks.rand(1, 1, 8, 0)))
    assert.same({0, 1, 4, 4}, rrc(ks.rand(0, 1, 8, 8)):shape()) -- an empty batch of real images is fine
  end)
end)

describe("options tables", function()
  it("reject misspelled keys in every transform, naming it and the known keys", function()
    -- these used to build no-op transforms silently
    local e = err_of(function() A.random_crop { pading = 2 } end)
    assert.truthy(e:find("augment_spec.lua:%d+: random_crop: unknown option 'pading'"), e)
    assert.truthy(e:find("did you mean 'padding'?", 1, true), e)
    e = err_of(function() A.random_erasing { probability = 1 } end)
    assert.truthy(e:find("random_erasing: unknown option 'probability' (known: p, scale, ratio, log_ratio, value, "
      .. "value_range, attempts)", 1, true), e)
    local cases = {
      { A.random_horizontal_flip, "random_horizontal_flip" }, { A.random_vertical_flip, "random_vertical_flip" },
      { A.random_rotation, "random_rotation" }, { A.random_translation, "random_translation" },
      { A.random_affine, "random_affine" }, { A.elastic_transform, "elastic_transform" },
      { A.random_resized_crop, "random_resized_crop" }, { A.gaussian_noise, "gaussian_noise" },
      { A.brightness_contrast, "brightness_contrast" }, { A.mixup, "mixup" }, { A.cutmix, "cutmix" },
      { A.gaussian_jitter, "gaussian_jitter" },
    }
    for _, c in ipairs(cases) do
      e = err_of(function() c[1] { degrees = 10, prob = 1 } end)
      assert.truthy(e:find("augment_spec.lua:%d+: " .. c[2] .. ": unknown option '"), e)
    end
    e = err_of(function() A.compose({}, { sed = 1 }) end)
    assert.truthy(e:find("compose: unknown option 'sed' (known: seed, generator, fuse); did you mean 'seed'?", 1, true), e)
    local aug = A.compose({ A.hflip {} }, { seed = 1 })
    e = err_of(function() aug(ks.zeros(1, 1, 2, 2), nil, { ot = ks.zeros(1, 1, 2, 2) }) end)
    assert.truthy(e:find("augment: unknown option 'ot' (known: out, y_out)", 1, true), e)
    e = err_of(function() A.smote(ks.zeros(2, 2), ks.zeros({ 2 }, "int64"), { seed = 1, n_per_klass = 1 }) end)
    assert.truthy(e:find("smote: unknown option 'n_per_klass'", 1, true), e)
  end)
end)

describe("kshot.augment transforms outside a pipeline", function()
  it("a transform called directly says how to run it (h62: was \"attempt to call a Transform value\")", function()
    local x = ks.rand(2, 1, 8, 8)
    local ok, e = pcall(function() local y = A.random_crop{padding = 2}(x); return y end)
    assert.is_false(ok)
    assert.truthy(e:find("augment_spec.lua:%d+: random_crop: a transform runs inside a pipeline"), e)
    assert.truthy(e:find("A.compose({A.random_crop{...}}, {seed = n})(x)", 1, true), e)
    ok, e = pcall(function() local y = A.mixup{alpha = 1, num_classes = 2}(x); return y end)
    assert.truthy(e:find("mixup: a transform runs inside a pipeline", 1, true), e)
    -- the advertised pipeline works
    assert.same({2, 1, 8, 8}, A.compose({A.random_crop{padding = 2}}, {seed = 1})(x):shape())
  end)
end)

describe("pipeline errors", function()
  it("a step's refusal names the line that called the pipeline, not augment.lua", function()
    local p = A.compose({ A.random_crop { size = 28, padding = 2 } }, { seed = 1 })
    local ok, e = pcall(function() local r = p(ks.zeros(4, 28, 28)) return r end)
    assert.is_false(ok)
    assert.matches("augment_spec%.lua:%d+: random_crop: x must be a contiguous float32 image batch %[B, C, H, W%], "
      .. "got float32 %[4, 28, 28%]", e)
    assert.is_nil(e:find("kshot/augment.lua", 1, true), e)
  end)
end)
