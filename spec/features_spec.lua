-- kshot.features: fixed oriented-gradient features (soft HOG), scattering, local binary / ternary patterns and the
-- fixed first layer.
local ks = require "kshot"
local features = require "kshot.features"

-- a 5x5 image, black left half (columns 0..2), white columns 3..4
local function step_edge()
  local t = {}
  for r = 1, 5 do t[r] = { 0, 0, 0, 1, 1 } end
  return ks.tensor(t):float():view(1, 1, 5, 5)
end

describe("kshot.features", function()
  it("oriented_gradients: the Sobel derivative along each direction, rectified (hand-computed on a step edge)", function()
    local g = features.oriented_gradients(step_edge())
    assert.same({ 1, 8, 5, 5 }, g:shape())
    local east, west = g[0][0]:totable(), g[0][4]:totable() -- directions 0 and 180 degrees
    -- interior rows: (1 + 2 + 1) / 8 where the edge rises; the zero padding makes a falling edge at the last column
    assert.same({ 0, 0, 0.5, 0.5, 0 }, east[3])
    assert.same({ 0, 0, 0, 0, 0.5 }, west[3])
    -- first row: the padding row above contributes nothing, (2 + 1) / 8
    assert.same({ 0, 0, 0.375, 0.375, 0 }, east[1])
    -- a vertical edge has no response along 90 and 270 degrees (away from the padded top and bottom rows)
    assert.are.equal(0, g[0][2]:narrow(0, 1, 3):abs():sum():item())
    assert.are.equal(0, g[0][6]:narrow(0, 1, 3):abs():sum():item())
  end)

  it("oriented_gradients: another number of orientations; gradients reach the input", function()
    local g = features.oriented_gradients(step_edge(), { orientations = 4 })
    assert.same({ 1, 4, 5, 5 }, g:shape())
    -- one output pixel on the rising edge (row 2, column 2, direction 0): d/dx is the Sobel kernel / 8 around it
    local x = step_edge():requires_grad_()
    features.oriented_gradients(x)[0][0][2][2]:backward()
    local expect = {
      { 0, 0, 0, 0, 0 }, { 0, -1 / 8, 0, 1 / 8, 0 }, { 0, -2 / 8, 0, 2 / 8, 0 }, { 0, -1 / 8, 0, 1 / 8, 0 }, { 0, 0, 0, 0, 0 } }
    assert.same(expect, x.grad[0][0]:totable())
  end)

  it("hog: one block per cell size, each L2-normalised before the square root", function()
    ks.manual_seed(1)
    local x = ks.rand(3, 1, 28, 28)
    local f = features.hog(x)
    -- fine cells 4, 7, 14 on 28x28 and coarse cells 2, 7 on 14x14, 8 orientations each
    local sizes = { 8 * 49, 8 * 16, 8 * 4, 8 * 49, 8 * 4 }
    local total = 0
    for _, n in ipairs(sizes) do total = total + n end
    assert.same({ 3, total }, f:shape())
    local at = 0
    for _, n in ipairs(sizes) do
      local norms = f:narrow(1, at, n):pow(4):sum(1):totable() -- (sqrt v)^4 = v^2
      for i = 1, 3 do assert.is_true(math.abs(norms[i] - 1) < 1e-4, ("block at %d: %g"):format(at, norms[i])) end
      at = at + n
    end
    assert.is_true(f:min():item() >= 0)
    local g = features.hog(x, { cells = { 7 }, coarse_cells = {} })
    assert.same({ 3, 8 * 16 }, g:shape())
  end)

  it("hog of an image depends on that image only (rows computed alone match the batch)", function()
    ks.manual_seed(2)
    local x = ks.rand(4, 1, 28, 28)
    local f = features.hog(x)
    local one = features.hog(x:narrow(0, 2, 1))
    assert.is_true((f:narrow(0, 2, 1) - one):abs():max():item() < 1e-6)
  end)

  it("OrientedGradients: the image and its scaled oriented maps of (x - background), no parameters", function()
    local x = step_edge() * 2 - 1 -- background at -1
    local m = features.OrientedGradients { background = -1, scale = 3 }
    local y = m(x)
    assert.same({ 1, 9, 5, 5 }, y:shape())
    assert.same(x:totable(), y:narrow(1, 0, 1):totable())
    local expect = features.oriented_gradients(x + 1) * 3
    assert.same(expect:totable(), y:narrow(1, 1, 8):totable())
    assert.are.equal(0, #m:parameters())
  end)

  it("scattering: 1 + J L + L^2 J (J - 1) / 2 maps at 1 / 2^J resolution", function()
    ks.manual_seed(3)
    local x = ks.rand(2, 1, 28, 28)
    assert.same({ 2, 81, 7, 7 }, features.scattering(x):shape())
    assert.same({ 2, 9, 14, 14 }, features.scattering(x, { J = 1 }):shape())
    -- J = 3, L = 4 on 56x56: 1 + 12 + 16 * 3 maps of 7x7
    assert.same({ 2, 1 + 12 + 48, 7, 7 }, features.scattering(ks.rand(2, 1, 56, 56), { L = 4, J = 3 }):shape())
    -- per image: a row computed alone matches the batch
    local s = features.scattering(x)
    assert.is_true((s:narrow(0, 1, 1) - features.scattering(x:narrow(0, 1, 1))):abs():max():item() < 1e-6)
    assert.is_true(s:min():item() >= 0)
  end)

  it("scattering of a constant image: the low-pass keeps the level, the zero-mean wavelets see nothing", function()
    local s = features.scattering(ks.full({ 1, 1, 28, 28 }, 0.5))
    -- output (3, 3) averages input pixels 4..20 (phi spans 2.5 sd = 8 pixels): all inside the image
    assert.is_true(math.abs(s[0][0][3][3]:item() - 0.5) < 1e-5, "S0 " .. s[0][0][3][3]:item())
    -- first order at scale 0: the wavelets (4 pixels wide) reach the border only from pixels 0..3 and 24..27
    for l = 0, 7 do assert.is_true(s[0][1 + l][3][3]:item() < 1e-5, "S1 " .. l) end
    assert.are.equal(0, features.scattering(ks.zeros(1, 1, 28, 28)):abs():max():item())
  end)

  it("scattering: orientation l responds to patterns varying along angle pi l / L", function()
    local t = {}
    for r = 1, 28 do
      t[r] = {}
      for c = 1, 28 do t[r][c] = 0.5 + 0.5 * math.cos(0.75 * math.pi * c) end -- varies along x (columns)
    end
    local x = ks.tensor(t):float():view(1, 1, 28, 28)
    local s = features.scattering(x)
    local along, across = s[0][1 + 0][3][3]:item(), s[0][1 + 4][3][3]:item() -- j = 0, theta = 0 and pi / 2
    assert.is_true(along > 20 * across, ("theta 0: %g, theta pi/2: %g"):format(along, across))
    -- the same pattern turned by 90 degrees swaps them
    local s2 = features.scattering(x:transpose(2, 3):contiguous())
    assert.is_true(math.abs(s2[0][1 + 4][3][3]:item() - along) < 1e-4 * along)
  end)

  it("bad inputs are clear errors", function()
    local function err(f, pat)
      local ok, msg = pcall(f)
      assert.is_false(ok)
      assert.matches(pat, tostring(msg))
    end
    err(function() features.hog("x") end, "features.hog: argument 'x' must be a tensor %[N, 1, H, W%], got string")
    err(function() features.hog(ks.zeros(1, 1, 28, 28):byte()) end, "features.hog: argument 'x' must be float32, got uint8")
    err(function() features.hog(ks.zeros(2, 3, 28, 28)) end,
      "features.hog: argument 'x' must have shape %[N, 1, H, W%] %(one channel%), got %[2, 3, 28, 28%]")
    err(function() features.oriented_gradients(ks.zeros(28, 28)) end, "got %[28, 28%]")
    err(function() features.oriented_gradients(ks.zeros(1, 1, 8, 8), { orientations = 0 }) end,
      "option 'orientations' must be an integer in %[1, 360%], got 0")
    err(function() features.hog(ks.zeros(1, 1, 8, 8)) end, "features.hog: option 'cells'%[3%] = 14 is larger than the 8x8 image")
    err(function() features.hog(ks.zeros(1, 1, 28, 28), { cells = { 4, 2.5 } }) end,
      "option 'cells'%[2%] must be an integer >= 1, got 2.5")
    err(function() features.hog(ks.zeros(1, 1, 28, 28), { cells = {}, coarse_cells = {} }) end, "both empty")
    err(function() features.scattering(ks.zeros(1, 1, 28, 28), 2) end,
      "features.scattering: argument 'opts' must be a table, got number")
    err(function() features.scattering(ks.zeros(1, 1, 28, 28), { J = 0 }) end, "option 'J' must be an integer in %[1, 4%], got 0")
    err(function() features.scattering(ks.zeros(1, 1, 28, 28), { J = 5 }) end, "option 'J' must be an integer in %[1, 4%], got 5")
    err(function() features.scattering(ks.zeros(1, 1, 3, 28)) end, "the 3x28 image is smaller than 2%^J = 4")
    err(function() features.scattering(ks.zeros(2, 28, 28)) end, "features.scattering: argument 'x' must have shape")
    err(function() features.OrientedGradients { scale = "big" } end, "option 'scale' must be a number, got string")
    err(function() features.OrientedGradients {}(ks.zeros(1, 2, 4, 4)) end, "features.OrientedGradients: argument 'x'")
  end)

  local function err(f, pat)
    local ok, msg = pcall(f)
    assert.is_false(ok)
    assert.matches(pat, tostring(msg), 1, true)
  end

  it("option ranges are bounded (no endless loops on huge values)", function()
    err(function() features.hog(ks.rand(1, 1, 4, 4), { orientations = 1 << 40, cells = { 4 }, coarse_cells = {} }) end,
      "features.hog: option 'orientations' must be an integer in [1, 360], got 1099511627776")
    err(function() features.scattering(ks.rand(2, 1, 16, 16), { L = 100000 }) end,
      "features.scattering: option 'L' must be an integer in [1, 32], got 100000")
    err(function() features.hog(ks.rand(1, 1, 16, 16), { cells = { 1 << 40 } }) end,
      "features.hog: option 'cells'[1] = 1099511627776 is larger than the 16x16 image")
    err(function() features.hog(ks.rand(1, 1, 8, 8), { cells = { 2 }, coarse_cells = { 5 } }) end,
      "features.hog: option 'coarse_cells'[1] = 5 is larger than the 4x4 image downsampled 2x")
    err(function() features.hog(ks.rand(1, 1, 1, 1), { cells = { 1 }, coarse_cells = { 1 } }) end,
      "features.hog: option 'coarse_cells' needs an image of at least 2x2 pixels (it is downsampled 2x), got 1x1")
    err(function() features.oriented_gradients(ks.rand(1, 1, 0, 0)) end,
      "features.oriented_gradients: argument 'x' must have images of at least 1x1 pixels, got shape [1, 1, 0, 0]")
    assert.same({ 1, 8 }, features.hog(ks.rand(1, 1, 1, 1), { cells = { 1 }, coarse_cells = {} }):shape())
  end)

  it("unknown options, malformed lists and non-table options are errors naming them", function()
    local x = ks.rand(1, 1, 16, 16)
    err(function() features.hog(x, { cell = { 2 } }) end,
      "features.hog: unknown option 'cell' (known: orientations, cells, coarse_cells)")
    err(function() features.hog(x, { cells = { a = 1 } }) end, "features.hog: option 'cells' must be a list (keys 1..n, no holes)")
    err(function() features.hog(x, { coarse_cells = { 2, nil, 4 } }) end, "features.hog: option 'coarse_cells' must be a list")
    err(function() features.scattering(x, { j = 3 }) end, "features.scattering: unknown option 'j' (known: J, L)")
    err(function() features.oriented_gradients(x, { orientation = 4 }) end, "unknown option 'orientation'")
    err(function() features.OrientedGradients(5) end, "features.OrientedGradients: argument 'opts' must be a table, got number")
    err(function() features.OrientedGradients { bg = 0 } end,
      "features.OrientedGradients: unknown option 'bg' (known: orientations, scale, background)")
  end)

  -- the u2 bin of an 8-bit code, from the definition: uniform codes (at most two changes around the ring) in code
  -- order, every other code in bin 58
  local function u2_bin(code)
    local bin = 0
    for c = 0, 255 do
      local changes = 0
      for k = 0, 7 do
        if ((c >> k) & 1) ~= ((c >> ((k + 1) % 8)) & 1) then changes = changes + 1 end
      end
      if c == code then return changes <= 2 and bin or 58 end
      if changes <= 2 then bin = bin + 1 end
    end
  end

  it("lbp: each pixel's bright neighbours, clockwise from the top left, as a uniform-pattern histogram", function()
    -- a bright centre on black: the centre sees no brighter neighbour (code 0); each of the 8 others sees it at
    -- one place of its ring: top left pixel at bottom right (bit 4), top middle at bottom (bit 5), ...
    local x = ks.zeros(1, 1, 3, 3)
    x[{ 0, 0, 1, 1 }] = 1
    local f = features.lbp(x, { cells = { 3 } })
    assert.same({ 1, 59 }, f:shape())
    local want = {}
    for b = 1, 59 do want[b] = 0 end
    for _, code in ipairs { 0, 1, 2, 4, 8, 16, 32, 64, 128 } do want[u2_bin(code) + 1] = 1 / 3 end -- sqrt(1 / 9)
    local got = f:view(-1):totable()
    for b = 1, 59 do assert.near(want[b], got[b], 1e-6, "bin " .. (b - 1)) end
    -- per-pixel cells (c = 1): the top left pixel's code is 16 (only its bottom right neighbour is brighter)
    local per = features.lbp(x, { cells = { 1 } }):view(9, 59)
    assert.equal(1, per[{ 0, u2_bin(16) }]:item())
    assert.equal(1, per[{ 4, u2_bin(0) }]:item())
    -- a ring that alternates bright and dark (code 85: eight changes) is not uniform: bin 58
    local alt = ks.tensor({ { 1, 0, 1 }, { 0, 0.5, 0 }, { 1, 0, 1 } }):float():view(1, 1, 3, 3)
    assert.equal(1, features.lbp(alt, { cells = { 1 } }):view(9, 59)[{ 4, 58 }]:item())
  end)

  it("lbp: cells of each size, fractions summing to one per cell; ties below the threshold flip no bit", function()
    local X = ks.data.fashion_mnist { split = "test" }
    local x = X:narrow(0, 0, 8):float():div(255):view(-1, 1, 28, 28)
    local f = features.lbp(x)
    assert.same({ 8, (16 + 4) * 59 }, f:shape())
    local sums = f:pow(2):view(8, 20, 59):sum(2) -- squares of the square roots: fractions
    assert.is_true((sums - 1):abs():max():item() < 1e-5)
    assert.same({ 8, 4 * 59 }, features.lbp(x, { radius = 2, cells = { 14 } }):shape())
    -- noise far below an 8-bit step leaves every code as it was; with threshold 0 it flips bits in flat regions
    local noisy = x + ks.rand(8, 1, 28, 28) * 1e-4
    assert.same(f:totable(), features.lbp(noisy):totable())
    assert.is_true((features.lbp(noisy, { threshold = 0 }) - f):abs():max():item() > 0.1)
    -- each image alone gives its row of the batch; no gradient reaches x
    assert.same(f[3]:totable(), features.lbp(x:narrow(0, 3, 1))[0]:totable())
    local xg = x:clone():requires_grad_(true)
    assert.is_false(features.lbp(xg).requires_grad)
    assert.same({ 0, 59 * 4 }, features.lbp(ks.rand(0, 1, 28, 28), { cells = { 14 } }):shape())
  end)

  it("ltp: the upper pattern (clearly brighter neighbours), then the lower (clearly darker), as lbp histograms", function()
    -- centre 0.5; its right neighbour 0.6 (above by more than 0.02: upper bit 3), its bottom neighbour 0.4 (lower
    -- bit 5), its top neighbour 0.51 (within the threshold: neither); the rest 0.5
    local x = ks.full({ 1, 1, 3, 3 }, 0.5)
    x[{ 0, 0, 1, 2 }] = 0.6
    x[{ 0, 0, 2, 1 }] = 0.4
    x[{ 0, 0, 0, 1 }] = 0.51
    local f = features.ltp(x, { cells = { 1 } })
    assert.same({ 1, 2 * 9 * 59 }, f:shape())
    local upper, lower = f:view(2, 9, 59)[0], f:view(2, 9, 59)[1]
    assert.equal(1, upper[{ 4, u2_bin(8) }]:item())
    assert.equal(1, lower[{ 4, u2_bin(32) }]:item())
    -- with a threshold above 0.1 every neighbour of the centre is "equal": code 0 in both patterns
    local wide = features.ltp(x, { cells = { 1 }, threshold = 0.2 }):view(2, 9, 59)
    assert.equal(1, wide[{ 0, 4, u2_bin(0) }]:item())
    assert.equal(1, wide[{ 1, 4, u2_bin(0) }]:item())
    -- its upper half is lbp with the same threshold
    local X = ks.data.fashion_mnist { split = "test" }
    local imgs = X:narrow(0, 0, 4):float():div(255):view(-1, 1, 28, 28)
    local both = features.ltp(imgs)
    assert.same({ 4, 2 * 20 * 59 }, both:shape())
    assert.same(features.lbp(imgs, { threshold = 0.02 }):totable(), both:narrow(1, 0, 20 * 59):totable())
    err(function() features.ltp(imgs, { threshold = "5" }) end,
      "features.ltp: option 'threshold' must be a number >= 0, got 5")
    err(function() features.ltp(imgs, { radius = 10 }) end, "features.ltp: option 'radius' must be an integer in [1, 8], got 10")
  end)

  it("lbp: bad options are errors naming them", function()
    local x = ks.rand(1, 1, 16, 16)
    err(function() features.lbp(ks.zeros(1, 3, 16, 16)) end,
      "features.lbp: argument 'x' must have shape [N, 1, H, W] (one channel), got [1, 3, 16, 16]")
    err(function() features.lbp(x, { radius = 0 }) end, "features.lbp: option 'radius' must be an integer in [1, 8], got 0")
    err(function() features.lbp(x, { radius = 9 }) end, "features.lbp: option 'radius' must be an integer in [1, 8], got 9")
    err(function() features.lbp(ks.rand(1, 1, 8, 8)) end, "features.lbp: option 'cells'[2] = 14 is larger than the 8x8 image")
    err(function() features.lbp(x, { cells = {} }) end, "features.lbp: option 'cells' is empty")
    err(function() features.lbp(x, { cells = { 4 }, threshold = -1 }) end,
      "features.lbp: option 'threshold' must be a number >= 0, got -1")
    err(function() features.lbp(x, { cells = { 4 }, treshold = 0 }) end,
      "features.lbp: unknown option 'treshold' (known: radius, cells, threshold)")
  end)

  it("hog of an empty batch is an empty [0, D] result, like scattering", function()
    assert.same({ 0, 304 }, features.hog(ks.rand(0, 1, 16, 16)):shape())
    assert.same({ 0, 8 * 16 }, features.hog(ks.rand(0, 1, 28, 28), { cells = { 7 }, coarse_cells = {} }):shape())
    assert.same({ 0, 81, 4, 4 }, features.scattering(ks.rand(0, 1, 16, 16)):shape())
  end)

  it("gradients are finite where the square root / modulus meets exactly 0", function()
    ks.manual_seed(3)
    local a = ks.rand(1, 1, 16, 16):requires_grad_()
    features.hog(a):sum():backward()
    assert.equal(0, a.grad:isnan():sum():item())
    assert.is_true(a.grad:abs():sum():item() > 0)
    local z = ks.zeros(1, 1, 8, 8):requires_grad_()
    features.scattering(z):sum():backward()
    assert.equal(0, z.grad:isnan():sum():item())
    -- values unchanged: exact zeros stay 0, NaN input still gives NaN
    local f = features.hog(ks.zeros(1, 1, 16, 16))
    assert.equal(0, f:abs():sum():item())
    assert.equal(304, features.hog(ks.full({ 1, 1, 16, 16 }, 0 / 0)):isnan():sum():item())
    assert.equal(81 * 4, features.scattering(ks.full({ 1, 1, 8, 8 }, 0 / 0)):isnan():sum():item())
  end)
end)
