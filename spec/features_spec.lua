-- kshot.features: fixed oriented-gradient features (soft HOG) and the fixed first layer.
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
      "option 'orientations' must be an integer >= 1, got 0")
    err(function() features.hog(ks.zeros(1, 1, 8, 8)) end, "features.hog: cell size 14 is larger than the 8x8 map")
    err(function() features.hog(ks.zeros(1, 1, 28, 28), { cells = { 4, 2.5 } }) end,
      "option 'cells'%[2%] must be an integer >= 1, got 2.5")
    err(function() features.hog(ks.zeros(1, 1, 28, 28), { cells = {}, coarse_cells = {} }) end, "both empty")
    err(function() features.OrientedGradients { scale = "big" } end, "option 'scale' must be a number, got string")
    err(function() features.OrientedGradients {}(ks.zeros(1, 2, 4, 4)) end, "features.OrientedGradients: argument 'x'")
  end)
end)
