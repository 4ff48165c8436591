-- F.grid_sample as one C kernel with one autograd node (runtime/core/ks_grid_sample.c,
-- bindings/lua/kshot/nn/grid_sample.lua): torch 1.13's values and gradients in
-- every mode x padding_mode x align_corners, from
-- spec/fixtures/torch_refs/grid_sample_modes.py (spec/fixtures/grid_sample_torch113.lua);
-- finite differences, strided views, thread-count determinism, the double-backward
-- error and bad inputs. spec/tensor_parity_spec.lua and nn_parity_tail_spec.lua pin
-- more torch values (affine_grid, the first reflection cases).
local ks = require "kshot"
require "kshot.nn"
local autograd = require "kshot.autograd"
local F = ks.functional
local ref = require "spec.helpers.torch_reference"
local err_of = ref.err_of

local R = dofile("spec/fixtures/grid_sample_torch113.lua")

local function det(shape, a, s)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return (ks.arange(n):float() * a):sin():mul(s or 1):reshape(shape)
end

-- every element of t within tol of expected; a NaN expected needs a NaN, and
-- a NaN got fails any number (ref.close lets NaN through either way)
local function close(expected, t, tol, what)
  local got = t:detach():reshape(-1):totable()
  assert.are.equal(#expected, #got, (what or "") .. " element count")
  for i = 1, #expected do
    local e, g = expected[i], got[i]
    local ok = (e ~= e and g ~= g) or (e == e and g == g and math.abs(g - e) <= (tol or 1e-5) * math.max(1, math.abs(e)))
    if not ok then error(("%s element %d: expected %.7g, got %.7g"):format(what or "", i - 1, e, g), 2) end
  end
end

local img = det({2, 3, 4, 5}, 0.37, 2)
local grid = det({2, 3, 4, 2}, 0.61, 1.7)
local wout = det({2, 3, 3, 4}, 0.23)
local MODES, PADS = {"bilinear", "nearest"}, {"zeros", "border", "reflection"}

describe("F.grid_sample against torch 1.13", function()
  it("has torch's values and gradients in every mode, padding and align_corners", function()
    for _, mode in ipairs(MODES) do
      for _, pad in ipairs(PADS) do
        for _, ac in ipairs({false, true}) do
          local key = ("%s_%s_%d"):format(mode, pad, ac and 1 or 0)
          local xr, gr = img:clone():requires_grad_(), grid:clone():requires_grad_()
          local y = F.grid_sample(xr, gr, {mode = mode, padding_mode = pad, align_corners = ac})
          close(R[key].y, y, 2e-5, key .. " y")
          ;(y * wout):sum():backward()
          close(R[key].gx, xr.grad, 2e-5, key .. " grad input")
          close(R[key].gg, gr.grad, 1e-4, key .. " grad grid")
        end
      end
    end
  end)

  it("rounds half to even in nearest mode", function()
    local row = ks.arange(5):float():reshape(1, 1, 1, 5) + 1
    local ties = ks.tensor({{-0.75, 0}, {-0.25, 0}, {0.25, 0}, {0.75, 0}}):reshape(1, 1, 4, 2)
    close(R.ties, F.grid_sample(row, ties, {mode = "nearest", align_corners = true}), 0, "ties")
    assert.are.same({1, 3, 3, 5}, R.ties)
  end)

  it("gives NaN at NaN or infinite positions in bilinear mode and 0 in nearest, as torch", function()
    local odd = ks.tensor({0 / 0, 0, math.huge, 0, -math.huge, 0, 1e10, 0, -3e9, 0.2, 0.1, 0.2}):reshape(1, 1, 6, 2)
    local im = det({1, 2, 3, 4}, 0.5, 1)
    close(R.odd_bilinear, F.grid_sample(im, odd), 1e-5, "bilinear")
    close(R.odd_nearest, F.grid_sample(im, odd, {mode = "nearest"}), 1e-5, "nearest")
    close(R.odd_border, F.grid_sample(im, odd:narrow(2, 1, 5), {padding_mode = "border"}), 1e-5, "border")
  end)
end)

describe("F.grid_sample's autograd node", function()
  -- pixel positions (x along W = 5, y along H = 4) inside and outside on both sides,
  -- fractions 0.2 .. 0.35 or 0.65 .. 0.8 from a pixel, so their reflected images too stay
  -- away from the floors, the folds (-0.5, n - 0.5 or 0, n - 1) and the clips: no kink
  -- within gradcheck's steps
  local px = {5.8, -1.7, 9.3, 2.3, -6.2, 3.7, 1.25, 0.7}
  local py = {4.3, -1.3, 0.7, 6.7, -4.2, 1.3, 2.75, 0.25}
  local function smooth_grid(ac)
    local pts = {}
    for k = 1, #px do
      local nx = ac and 2 * px[k] / 4 - 1 or (2 * px[k] + 1) / 5 - 1
      local ny = ac and 2 * py[k] / 3 - 1 or (2 * py[k] + 1) / 4 - 1
      pts[k] = {nx, ny}
    end
    return ks.tensor(pts):reshape(1, 2, 4, 2)
  end

  it("passes gradcheck in the input and the grid for every mode and padding", function()
    local xr = img:narrow(0, 0, 1):clone():requires_grad_()
    for _, mode in ipairs(MODES) do
      for _, pad in ipairs(PADS) do
        for _, ac in ipairs({false, true}) do
          local g = smooth_grid(ac):requires_grad_()
          local fn = function(a, b) return F.grid_sample(a, b, {mode = mode, padding_mode = pad, align_corners = ac}) end
          local ok, report = autograd.gradcheck(fn, {xr, g})
          assert.is_true(ok, ("%s %s %s: %s"):format(mode, pad, tostring(ac), tostring(report)))
        end
      end
    end
  end)

  it("records one GridSampler2DBackward node, and only the gradients asked for", function()
    local xr, gr = img:clone():requires_grad_(), grid:clone():requires_grad_()
    local y = F.grid_sample(xr, gr)
    assert.are.equal("GridSampler2DBackward", tostring(y.grad_fn))
    local gx = autograd.grad((y * wout):sum(), {xr})[1]
    close(R.bilinear_zeros_0.gx, gx, 2e-5, "grad input alone")
    local gg = autograd.grad((F.grid_sample(img, gr) * wout):sum(), {gr})[1]
    close(R.bilinear_zeros_0.gg, gg, 1e-4, "grad grid alone")
    assert.is_nil(F.grid_sample(img, grid).grad_fn)
  end)

  it("raises torch's error on double backward", function()
    local xr, gr = img:clone():requires_grad_(), grid:clone():requires_grad_()
    local gs = autograd.grad((F.grid_sample(xr, gr) * wout):sum(), {xr, gr}, {create_graph = true})
    assert.matches("double backward of GridSampler2DBackward is not supported", err_of(function()
      (gs[2] * gs[2]):sum():backward()
    end))
    assert.matches("double backward of GridSampler2DBackward is not supported", err_of(function()
      autograd.grad(gs[1]:sum(), {xr})
    end))
  end)

  it("reads strided views in place, with the values of their contiguous copies", function()
    local xt = img:transpose(2, 3):contiguous():transpose(2, 3)
    local gt = grid:permute(0, 2, 1, 3):contiguous():permute(0, 2, 1, 3)
    assert.is_false(xt:is_contiguous())
    assert.is_false(gt:is_contiguous())
    for _, pad in ipairs(PADS) do
      local o = {padding_mode = pad, align_corners = true}
      local a, b = xt:clone():requires_grad_(), gt:clone():requires_grad_()
      local ys = F.grid_sample(xt:requires_grad_(), gt:requires_grad_(), o)
      local yc = F.grid_sample(a, b, o)
      assert.is_true(ks.equal(ys, yc))
      ys:sum():backward()
      yc:sum():backward()
      assert.is_true(ks.equal(xt.grad, a.grad))
      assert.is_true(ks.equal(gt.grad, b.grad))
      xt, gt = xt:detach(), gt:detach()
    end
  end)

  it("gives bit-identical results for any thread count", function()
    local x = det({6, 3, 20, 20}, 0.13, 1.5)
    local g = det({6, 30, 40, 2}, 0.07, 1.3)
    local w = det({6, 3, 30, 40}, 0.11)
    local function run(threads)
      local before = ks.set_num_threads(threads)
      local xr, gr = x:clone():requires_grad_(), g:clone():requires_grad_()
      local y = F.grid_sample(xr, gr, {padding_mode = "reflection"})
      ;(y * w):sum():backward()
      ks.set_num_threads(before)
      return y, xr.grad, gr.grad
    end
    local y1, gx1, gg1 = run(1)
    for _, n in ipairs({2, 3}) do
      local yn, gxn, ggn = run(n)
      assert.is_true(ks.equal(y1, yn), "output, " .. n .. " threads")
      assert.is_true(ks.equal(gx1, gxn), "grad input, " .. n .. " threads")
      assert.is_true(ks.equal(gg1, ggn), "grad grid, " .. n .. " threads")
    end
  end)

  it("handles empty batches and empty output grids", function()
    local y = F.grid_sample(ks.zeros(0, 2, 3, 4), ks.zeros(0, 2, 2, 2))
    assert.is_true(y:shape() == {0, 2, 2, 2})
    local xr = img:clone():requires_grad_()
    local e = F.grid_sample(xr, ks.zeros(2, 0, 3, 2))
    assert.are.equal(0, e:numel())
    e:sum():backward()
    assert.is_true(ks.equal(xr.grad, ks.zeros(2, 3, 4, 5)))
  end)
end)

describe("F.grid_sample's bad inputs", function()
  it("name the argument, both shapes or the option", function()
    assert.matches("grid_sample: input must be 4%-D %[N, C, H, W%] %(only 2%-D sampling%), got %[3, 4, 5%]",
      err_of(F.grid_sample, ks.zeros(3, 4, 5), grid))
    assert.matches("grid_sample: grid must be %[N, Ho, Wo, 2%] with input's N, got %[2, 3, 4, 3%] for input %[2, 3, 4, 5%]",
      err_of(F.grid_sample, img, ks.zeros(2, 3, 4, 3)))
    assert.matches("grid_sample: grid must be %[N, Ho, Wo, 2%] with input's N, got %[2, 12, 2%] for input %[2, 3, 4, 5%]",
      err_of(F.grid_sample, img, ks.zeros(2, 12, 2)))
    assert.matches("grid_sample: grid must be %[N, Ho, Wo, 2%] with input's N, got %[3, 3, 4, 2%] for input %[2, 3, 4, 5%]",
      err_of(F.grid_sample, img, ks.zeros(3, 3, 4, 2)))
    assert.matches("grid_sample: input %[2, 3, 0, 5%] has an empty spatial dim",
      err_of(F.grid_sample, ks.zeros(2, 3, 0, 5), grid))
    assert.matches("grid_sample: argument 'grid' must be a float32 tensor, got int64",
      err_of(F.grid_sample, img, ks.zeros(2, 3, 4, 2, ks.int64)))
    assert.matches("grid_sample: argument 'input' must be a float32 tensor, got table",
      err_of(F.grid_sample, {}, grid))
    assert.matches("grid_sample: mode must be \"bilinear\" or \"nearest\", got bicubic",
      err_of(F.grid_sample, img, grid, {mode = "bicubic"}))
    assert.matches("grid_sample: padding_mode must be \"zeros\", \"border\" or \"reflection\", got 3",
      err_of(F.grid_sample, img, grid, {padding_mode = 3}))
    assert.matches("grid_sample: align_corners must be a boolean, got number",
      err_of(F.grid_sample, img, grid, {align_corners = 1}))
    assert.matches("grid_sample: unknown option 'modes'", err_of(F.grid_sample, img, grid, {modes = "nearest"}))
  end)
end)
