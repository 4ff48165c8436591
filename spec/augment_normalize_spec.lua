-- A.normalize (torchvision's Normalize) and function steps (torchvision's Lambda / any callable in
-- Compose) inside an augment pipeline, so a torchvision pipeline ports as one compose.
local ks = require "kshot"
local A = require "kshot.augment"

local function err_of(fn, ...)
  local ok, msg = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

describe("A.normalize", function()
  it("computes (x - mean) / std per channel (dim 1), and with one number for every pixel", function()
    local x = ks.arange(2 * 3 * 2 * 2):float():view(2, 3, 2, 2) / 24
    local y = A.compose({A.normalize{mean = {0.1, 0.2, 0.3}, std = {0.5, 0.25, 2}}}, {seed = 1})(x)
    -- element [1, 2, 1, 0]: x = (12 + 8 + 2) / 24, channel 2
    assert.near((22 / 24 - 0.3) / 2, y[{1, 2, 1, 0}]:item(), 1e-6)
    assert.near((5 / 24 - 0.2) / 0.25, y[{0, 1, 0, 1}]:item(), 1e-6)
    local z = A.compose({A.normalize{mean = 0.286, std = 0.353}}, {seed = 1})(x)
    assert.near((7 / 24 - 0.286) / 0.353, z[{0, 1, 1, 1}]:item(), 1e-6)
    assert.is_true(ks.equal(x, ks.arange(24):float():view(2, 3, 2, 2) / 24)) -- the input is left alone
  end)

  it("after a padded crop, the padding is black in normalised units (torchvision's order)", function()
    local x = ks.ones(4, 1, 6, 6)
    local y = A.compose({A.random_crop{padding = 3}, A.normalize{mean = 0.5, std = 0.25}}, {seed = 3})(x)
    local black, white = y:eq(-2):sum():item(), y:eq(2):sum():item() -- (0 - 0.5) / 0.25, (1 - 0.5) / 0.25
    assert.is_true(black > 0 and white > 0)
    assert.equal(4 * 36, black + white)
  end)

  it("then random_erasing with value = 0 fills with the mean, as torchvision's RandomErasing after Normalize", function()
    local x = ks.ones(8, 1, 10, 10)
    local y = A.compose({A.normalize{mean = 0.5, std = 0.5},
      A.random_erasing{p = 1, scale = {0.1, 0.2}, value = 0}}, {seed = 2})(x)
    local erased = y:eq(0):sum():item()
    assert.equal(8 * 100, erased + y:eq(1):sum():item())
    assert.is_true(erased >= 8 * 10 and erased <= 8 * 20)
  end)

  it("bad options and a channel mismatch are errors naming them", function()
    assert.matches("normalize: option 'mean' is required", err_of(A.normalize, {std = 1}))
    assert.matches("normalize: option 'std' item 2 must be a finite number > 0, got 0",
      err_of(A.normalize, {mean = 0, std = {1, 0}}))
    assert.matches("normalize: option 'mean' must be a number or a non%-empty list of numbers, got string",
      err_of(A.normalize, {mean = "x", std = 1}))
    assert.matches("normalize: options 'mean' and 'std' have 2 and 3 channels",
      err_of(A.normalize, {mean = {0, 0}, std = {1, 1, 1}}))
    assert.matches("normalize: unknown option 'sd'", err_of(A.normalize, {mean = 0, sd = 1}))
    local aug = A.compose({A.normalize{mean = {0.1, 0.2}, std = {1, 1}}}, {seed = 1})
    assert.matches("normalize: 2 channels in mean/std, but x has shape %[2, 3, 4, 4%]", err_of(aug, ks.zeros(2, 3, 4, 4)))
  end)
end)

describe("function steps in compose", function()
  it("a function (or A.lambda(fn)) runs on the batch in its place", function()
    local x = ks.rand(3, 1, 5, 5)
    local y = A.compose({function(t) return t * 2 end, A.lambda(function(t) return t + 1 end)}, {seed = 1})(x)
    assert.is_true(ks.allclose(y, x * 2 + 1))
    local z = A.compose({A.random_horizontal_flip{p = 1}, function(t) return t:neg() end}, {seed = 1})(x)
    assert.is_true(ks.equal(z, x:flip(3):neg()))
  end)

  it("a function that changes the shape or returns no float tensor is an error", function()
    local x = ks.rand(3, 1, 5, 5)
    assert.matches("lambda: a function step must return a float32 tensor of its input's shape %[3, 1, 5, 5%], "
      .. "got float32 %[3, 1, 2, 5%]", err_of(A.compose({function(t) return t:narrow(2, 0, 2) end}, {seed = 1}), x))
    assert.matches("got number", err_of(A.compose({function() return 3 end}, {seed = 1}), x))
    assert.matches("got int64", err_of(A.compose({function(t) return t:long() end}, {seed = 1}), x))
    assert.matches("lambda: a function x %-> x expected, got number", err_of(A.lambda, 3))
    assert.matches("compose: item 2 is not a transform %(got number%): items are A%.%* transforms or functions",
      err_of(A.compose, {A.hflip{}, 3}))
  end)
end)
