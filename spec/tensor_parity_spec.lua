-- The tensor functions composed in Lua for PyTorch parity (bindings/lua/kshot/tensor_shape_extra.lua,
-- tensor_math_extra.lua): values and gradients against torch 1.13 (printed with 6 decimals by
-- spec/fixtures/torch_refs/tensor_parity.py, same inputs), gradcheck, and bad inputs.
local ks = require "kshot"
local autograd = require "kshot.autograd"
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

local R = {
  logspace = {0.1, 1, 10, 100},
  logspace2 = {1, 2, 4, 8},
  isclose = {1, 1, 1, 0, 1},
  dist = {5.659455},
  dist1 = {16.487188},
  g_dist = {0, 0.057568, 0.115474, 0.051935, -0.00401, -0.168567, -0.431055, -0.467034, -0.219311, -0.009053,
    0.080323, 0.265936},
  diff = {1.288435, 0.682464, -0.244481, -1.371543, -1.041585, -0.221754, 1.296161, 1.280346, 0.662363},
  diff2_0 = {-2.602486, 2.725195, 6.771175, 7.632565},
  diff_pre = {0, 1.288435, 0.682464, -0.244481, -0.726419, 0, 0.669976, -1.371543, -1.041585, -0.221754,
    2.964905, 0, -1.262533, 1.296161, 1.280346, 0.662363, -0.976336, 0},
  g_diff = {0, 0.783327, -1.566654, 0.783327, 0.973848, -1.520315, 0.119087, 0.42738, -0.44252, -0.092489,
    1.51254, -0.97753},
  cov = {0.770199, -1.023503, 1.158536, -1.023503, 1.448084, -1.705332, 1.158536, -1.705332, 2.055069},
  cov0 = {0.577649, -0.767627, 0.868902, -0.767627, 1.086063, -1.278999, 0.868902, -1.278999, 1.541302},
  corrcoef = {1, -0.969149, 0.920862, -0.969149, 1, -0.988551, 0.920862, -0.988551, 1},
  g_cov = {-0.118493, -0.120866, 0.014761, 0.224599, -0.216968, -0.025804, 0.111756, 0.131016, 0.156147,
    0.135028, -0.029959, -0.261216},
  quantile = {-0.491096},
  quantile_dim = {0.386531, -1.898379, -0.873685, 1.507427, -1.222359, 0.6738, 1.897555, 0.258513, 1.777627},
  quantile_lower = {-1.262533, -0.701566, -1.743151, -1.964905, 0, 0.033627, 1.313973, 1.726419, 0, 0.033627,
    1.313973, 1.726419},
  quantile_higher = {0, 0.033627, 1.313973, 1.726419, 0, 0.033627, 1.313973, 1.726419, 0.669976, 1.288435,
    1.970899, 1.976336},
  quantile_nearest = {-1.262533, -0.701566, -1.743151, -1.964905, 0, 0.033627, 1.313973, 1.726419, 0, 0.033627,
    1.313973, 1.726419},
  quantile_midpoint = {-0.631267, -0.33397, -0.214589, -0.119243, 0, 0.033627, 1.313973, 1.726419, 0.334988,
    0.661031, 1.642436, 1.851378},
  g_quantile = {0, 0.199499, 0, 0.797996, 0, 0.727438, 0.541429, 0.119856, 0.210368, 0.750798, 0.478778, 0},
  mode_v = {2, 0},
  mode_i = {5, 1},
  mode0_v = {2, 0},
  mode0_i = {5, 1},
  histc = {3, 1, 2, 1, 5},
  histc_range = {1, 0, 2, 1},
  bucketize = {1, 4, 4, 4, 3, 1, 0, 0, 0, 2, 4, 4},
  bucketize_r = {2, 4, 4, 4, 3, 1, 0, 0, 0, 2, 4, 4},
  searchsorted = {1, 3, 4, 0, 1, 3},
  searchsorted_r = {2, 3, 4, 0, 2, 4},
  movedim = {0, 0.932039, 0.099833, 0.963558, 0.198669, 0.98545, 0.29552, 0.997495, 0.389418, 0.999574,
    0.479426, 0.991665, 0.564642, 0.973848, 0.644218, 0.9463, 0.717356, 0.909297, 0.783327, 0.863209, 0.841471,
    0.808496, 0.891207, 0.745705},
  diagonal = {0.198669, 0.932039, 0.808496, 0.515501, -0.442521, -0.993691},
  diag_m1 = {0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 3, 0},
  trace = {0.612407},
  g_diagonal = {0, 0, 0, 0, 2, 0, 0, 0, 0, -3, 0, 0},
  take = {0, 1.976336, 1.976336, -0.701566},
  g_take = {1, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 5},
  index_put_acc = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3},
  meshgrid_xy = {1, 2, 3, 1, 2, 3},
  meshgrid_xy2 = {4, 4, 4, 5, 5, 5},
}

local function det(shape, a, s)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return (ks.arange(n):float() * a):sin():reshape(shape) * (s or 1)
end

local function grad(f, x)
  local leaf = x:detach():clone():requires_grad_()
  f(leaf):backward()
  return leaf.grad
end

local function bools(t) return t:float() end

local x = det({3, 4}, 0.7, 2)
local w = det({3, 4}, 0.3)

describe("tensor math extras", function()
  it("logspace, isclose and dist match torch", function()
    close(R.logspace, ks.logspace(-1, 2, 4), 1e-4)
    close(R.logspace2, ks.logspace(0, 3, 4, {base = 2}))
    local a = ks.tensor({1, 0 / 0, math.huge, 1, 100})
    local b = ks.tensor({1 + 1e-6, 0 / 0, math.huge, 1.1, 100.001})
    close(R.isclose, bools(ks.isclose(a, b, {equal_nan = true})))
    close({1, 0, 1, 0, 1}, bools(a:isclose(b)))
    close({0, 0, 0, 0, 0}, bools(ks.isclose(ks.tensor({1, 2, 3, 4, 5}), ks.tensor({math.huge, 0, 0, 0, 0}))))
    close(R.dist, ks.dist(x, w))
    close(R.dist1, x:dist(w, 1), 1e-5)
    close(R.g_dist, grad(function(t) return ks.dist(t, w, 3) end, x))
  end)

  it("diff, cov, corrcoef and quantile match torch, with gradients", function()
    close(R.diff, ks.diff(x))
    close(R.diff2_0, x:diff(2, 0))
    close(R.diff2_0, ks.diff(x, {n = 2, dim = 0}))
    close(R.diff_pre, ks.diff(x, {dim = 1, prepend = ks.zeros(3, 1), append = ks.ones(3, 2)}))
    close(R.g_diff, grad(function(t) return (ks.diff(t, 2) * det({3, 2}, 0.9)):sum() end, x))
    close(R.cov, ks.cov(x))
    close(R.cov0, x:cov({correction = 0}))
    close(R.corrcoef, ks.corrcoef(x))
    close(R.g_cov, grad(function(t) return (ks.cov(t) * det({3, 3}, 0.4)):sum() end, x))
    close(R.quantile, ks.quantile(x, 0.3))
    close(R.quantile_dim, ks.quantile(x, ks.tensor({0.1, 0.5, 0.9}), 1, true))
    assert.are.same({3, 3, 1}, x:quantile(ks.tensor({0.1, 0.5, 0.9}), {dim = 1, keepdim = true}):shape())
    for _, m in ipairs({"lower", "higher", "nearest", "midpoint"}) do
      close(R["quantile_" .. m], ks.quantile(x, ks.tensor({0.2, 0.5, 0.7}), 0, {interpolation = m}))
    end
    close(R.g_quantile, grad(function(t) return (ks.quantile(t, ks.tensor({0.25, 0.6}), 1) * det({2, 3}, 0.5)):sum() end, x))
    assert.is_true(autograd.gradcheck(function(t) return ks.quantile(t, 0.35, 1) end, {x:clone():requires_grad_()}))
    assert.is_true(autograd.gradcheck(function(t) return ks.corrcoef(t) end, {x:clone():requires_grad_()}))
  end)

  it("mode, histc, bucketize and searchsorted match torch", function()
    local y = ks.tensor({{2, 1, 2, 3, 1, 2}, {0, 0, 5, 5, 4, 4}})
    local v, i = ks.mode(y, 1)
    close(R.mode_v, v); close(R.mode_i, i:float())
    v, i = y:t():mode(0, true)
    close(R.mode0_v, v); close(R.mode0_i, i:float())
    assert.are.same({1, 2}, v:shape())
    close(R.histc, ks.histc(x, 5))
    close(R.histc_range, x:histc({bins = 4, min = -1, max = 1}))
    local bnd = ks.tensor({-1, 0, 0.5, 1})
    close(R.bucketize, ks.bucketize(x, bnd):float())
    close(R.bucketize_r, ks.bucketize(x, bnd, {right = true}):float())
    assert.are.equal("int64", ks.bucketize(x, bnd):dtype())
    assert.are.equal(2, ks.bucketize(0.3, bnd):item())
    local seq = ks.tensor({{1, 3, 5, 7}, {2, 4, 6, 8}})
    local val = ks.tensor({{3, 6, 9}, {1, 4, 8}})
    close(R.searchsorted, ks.searchsorted(seq, val):float())
    close(R.searchsorted_r, ks.searchsorted(seq, val, {side = "right"}):float())
    close(R.searchsorted_r, ks.searchsorted(seq, val, {right = true}):float())
    assert.are.equal(1, ks.searchsorted(ks.tensor({1, 3, 5}), 3):item())
  end)

  it("normal draws from the generator, with torch.normal's forms", function()
    local a = ks.normal(2, 0.5, {1000}, {generator = ks.Generator(3)})
    local b = ks.normal(2, 0.5, 1000, {generator = ks.Generator(3)})
    assert.is_true(ks.equal(a, b))
    assert.is_true(math.abs(a:mean():item() - 2) < 0.1 and math.abs(a:std():item() - 0.5) < 0.05)
    local m = ks.normal(ks.tensor({0, 100}), ks.tensor({1e-3}))
    assert.are.same({2}, m:shape())
    assert.is_true(math.abs(m[1]:item() - 100) < 0.1)
  end)
end)

describe("tensor shape extras", function()
  it("movedim, unflatten, meshgrid, diag, diagonal, trace, take and index_put match torch", function()
    close(R.movedim, det({2, 3, 4}, 0.1):movedim({0, 1}, {2, 0}))
    assert.are.same({3, 4, 2}, ks.moveaxis(det({2, 3, 4}, 0.1), {0, 1}, {2, 0}):shape())
    close(R.diagonal, det({2, 3, 4}, 0.2):diagonal(1, 1, 2))
    close(R.diag_m1, ks.diag(ks.tensor({1, 2, 3}), -1))
    close({1, 5}, ks.diag(ks.tensor({{1, 2}, {4, 5}})))
    close(R.trace, ks.trace(x))
    close(R.g_diagonal, grad(function(t) return (t:diagonal(-1) * ks.tensor({2, -3})):sum() end, x))
    local idx = ks.tensor({{0, 11}, {-1, 5}}, ks.int64)
    close(R.take, ks.take(x, idx))
    close(R.g_take, grad(function(t) return (t:take(idx) * ks.tensor({{1, 2}, {3, 4}})):sum() end, x))
    local rows, cols = ks.tensor({0, 0, 2}, ks.int64), ks.tensor({1, 1, 3}, ks.int64)
    close(R.index_put_acc, ks.zeros(3, 4):index_put({rows, cols}, ks.tensor({1, 2, 3}), true))
    local z = ks.zeros(3, 4)
    assert.are.equal(z, z:index_put_({rows, cols}, ks.tensor({1, 2, 3})))
    close({0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3}, z)
    local g = ks.meshgrid(ks.tensor({1, 2, 3}), ks.tensor({4, 5}), {indexing = "xy"})
    close(R.meshgrid_xy, g[1]); close(R.meshgrid_xy2, g[2])
    local ij = ks.meshgrid({ks.tensor({1, 2, 3}), ks.tensor({4, 5})})
    assert.are.same({3, 2}, ij[1]:shape())
    local t = det({2, 12}, 0.4)
    assert.are.same({2, 3, 4}, t:unflatten(1, {3, -1}):shape())
    assert.are.same({2, 3, 4}, ks.unflatten(t, -1, {3, 4}):shape())
    local parts = ks.unbind(t, 1)
    assert.are.equal(12, #parts)
    close(t[{":", 5}]:reshape(-1):totable(), parts[6])
    assert.are.same({4, 2, 12}, t:broadcast_to({4, 2, 12}):shape())
    assert.are.same({12, 2}, t:swapaxes(0, 1):shape())
    assert.are.same({5}, ks.hstack({ks.ones(2), ks.ones(3)}):shape())
    assert.are.same({2, 3}, ks.vstack({ks.ones(3), ks.ones(3)}):shape())
    assert.are.same({2, 12}, ks.ones(24):view_as(t):shape())
    assert.are.equal("int64", t:type_as(idx):dtype())
    assert.is_true(autograd.gradcheck(function(a) return ks.diag(a, 1) end, {ks.tensor({1, 2, 3}):requires_grad_()}))
    assert.is_true(autograd.gradcheck(function(a) return a:movedim(0, -1):unflatten(0, {2, 2}) end,
      {det({3, 4}, 0.3):requires_grad_()}))
  end)
end)

describe("tensor extras, bad inputs", function()
  it("name the argument, the shapes or the value", function()
    assert.matches("unbind: dim 2 out of range for a 2%-d tensor %(expected %-2 to 1%)", err_of(ks.unbind, x, 2))
    assert.matches("movedim: source and destination must name as many dims %(2 and 1%)", err_of(ks.movedim, x, {0, 1}, 0))
    assert.matches("movedim: repeated dim 0 in source", err_of(ks.movedim, x, {0, 0}, {0, 1}))
    assert.matches("unflatten: sizes {5, 2} multiply to 10, not dim 1's size 4 %(input %[3, 4%]%)",
      err_of(ks.unflatten, x, 1, {5, 2}))
    assert.matches("unflatten: only one size may be %-1", err_of(ks.unflatten, x, 1, {-1, -1}))
    assert.matches("broadcast_to: cannot broadcast %[3, 4%] to %[2, 4%]", err_of(ks.broadcast_to, x, {2, 4}))
    assert.matches("meshgrid: tensors must be 0%-d or 1%-d, got %[3, 4%] for tensor 1", err_of(ks.meshgrid, x, x))
    assert.matches("meshgrid: indexing must be \"ij\" or \"xy\"", err_of(ks.meshgrid, ks.ones(2), {indexing = "yx"}))
    assert.matches("trace: input must be a matrix %(2%-d%), got %[3%]", err_of(ks.trace, ks.ones(3)))
    assert.matches("diag: input must be 1%-d or 2%-d, got %[2, 2, 2%]", err_of(ks.diag, ks.ones(2, 2, 2)))
    assert.matches("diag: diagonal 9223372036854775807 is too far", err_of(ks.diag, ks.ones(2), math.maxinteger))
    -- (ks.pad under it: a padding that overflows the size is an error, not signed overflow)
    assert.matches("pad: padding %(9223372036854775807, 3%) of dimension 0 %(size 2%) is too large",
      err_of(ks.pad, ks.ones(2), {math.maxinteger, 3}))
    assert.matches("take: argument 'index' must be an int64 tensor, got float32", err_of(ks.take, x, ks.ones(2)))
    assert.matches("take: index 12 out of range for a tensor of 12 elements", err_of(ks.take, x, ks.tensor({12}, ks.int64)))
    assert.matches("index_put: indices%[2%] must be an int64 or bool tensor, got float32",
      err_of(ks.index_put, x, {ks.tensor({0}, ks.int64), ks.ones(1)}, ks.ones(1)))
    assert.matches("logspace: argument 'steps' must be an integer >= 0", err_of(ks.logspace, 0, 1, -2))
    assert.matches("logspace: unknown option 'bas'", err_of(ks.logspace, 0, 1, 3, {bas = 2}))
    assert.matches("normal: std must be >= 0, got %-1", err_of(ks.normal, 0, -1, 3))
    assert.matches("normal: give a size", err_of(ks.normal, 0, 1))
    assert.matches("isclose: shapes %[3, 4%] and %[2%] do not broadcast", err_of(ks.isclose, x, ks.ones(2)))
    assert.matches("dist: shapes %[3, 4%] and %[5%] do not broadcast", err_of(ks.dist, x, ks.ones(5)))
    assert.matches("diff: argument 'n' must be an integer >= 0", err_of(ks.diff, x, -1))
    assert.matches("diff: prepend %[3%] must have the input's number of dims %(input %[3, 4%]%)",
      err_of(ks.diff, x, {prepend = ks.ones(3)}))
    assert.matches("cov: expects a 1%-d or 2%-d input, got %[1, 3, 4%]", err_of(ks.cov, x:unsqueeze(0)))
    assert.matches("quantile: q values must be in %[0, 1%]", err_of(ks.quantile, x, 1.5))
    assert.matches("quantile: interpolation must be", err_of(ks.quantile, x, 0.5, {interpolation = "cubic"}))
    assert.matches("quantile: input must be float32, got int64", err_of(ks.quantile, ks.arange(3), 0.5))
    assert.matches("mode: cannot compute the mode of an empty dim", err_of(ks.mode, ks.zeros(2, 0)))
    assert.matches("histc: bins must be an integer >= 1", err_of(ks.histc, x, 0))
    assert.matches("histc: max must be >= min, got min 2 and max 1", err_of(ks.histc, x, 4, 2, 1))
    assert.matches("bucketize: boundaries must be 1%-d, got %[3, 4%]", err_of(ks.bucketize, x, x))
    assert.matches("searchsorted: sorted_sequence %[2, 4%] and values %[3%] must share all dims but the last",
      err_of(ks.searchsorted, ks.ones(2, 4), ks.ones(3)))
    assert.matches("searchsorted: side must be \"left\" or \"right\"", err_of(ks.searchsorted, ks.ones(4), ks.ones(3), {side = "up"}))
  end)
end)

-- F.affine_grid / F.grid_sample (bindings/lua/kshot/nn/grid_sample.lua) against
-- spec/fixtures/torch_refs/grid_sample.py
local R_GS = {
  affine_grid = {-0.441667, -1.108333, 0.008333, -0.958333, 0.458333, -0.808333, 0.908333, -0.658333, -0.575,
    -0.375, -0.125, -0.225, 0.325, -0.075, 0.775, 0.075, -0.708333, 0.358333, -0.258333, 0.508333, 0.191667,
    0.658333, 0.641667, 0.808333, -0.666667, -0.258333, -0.066667, -0.308333, 0.533333, -0.358333, 1.133333,
    -0.408333, -0.6, 0.275, 0, 0.225, 0.6, 0.175, 1.2, 0.125, -0.533333, 0.808333, 0.066667, 0.758333,
    0.666667, 0.708333, 1.266667, 0.658333},
  affine_grid_ac = {-0.6, -1.55, 0, -1.35, 0.6, -1.15, 1.2, -0.95, -0.8, -0.45, -0.2, -0.25, 0.4, -0.05, 1,
    0.15, -1, 0.65, -0.4, 0.85, 0.2, 1.05, 0.8, 1.25, -1, -0.5, -0.2, -0.566667, 0.6, -0.633333, 1.4, -0.7,
    -0.9, 0.3, -0.1, 0.233333, 0.7, 0.166667, 1.5, 0.1, -0.8, 1.1, 0, 1.033333, 0.8, 0.966667, 1.6, 0.9},
  gs_bilinear_zeros_0 = {-0.229086, 0.044723, -1.385871, 0.122945, 0, -1.074231, 0.060673, -0.889027, 0.405558,
    0, -1.49745, 0.114223, 1.411523, 0.063033, -0.549194, 0.628264, 0.05968, -0.024757, 0.085515, 0.212195,
    1.104545, 0.000335, -1.548719, 0.160989, 0.361731, 0.546336, 0.027943, -0.861862, 0.083196, 0.063357,
    -0.152101, 0.055258, -1.415672, 0.266877, 0.006606, -1.121465, -0.086142, -1.16683, -0.00735, 0.457989,
    -0.313033, -0.216907, -1.458119, -0.014535, -1.108585, -0.480276, -0.033627, -0.89517},
  gs_bilinear_zeros_1 = {-0.895866, 0.770576, -1.262418, 0.512093, 0.264756, -1.421075, 0.89496, -1.796698,
    0.880322, 0.010103, -1.438767, 0.880491, 0.335103, 1.086069, -0.797939, 1.708104, 0.939272, -0.755948,
    1.26138, -0.097348, 1.874785, 1.071355, -1.634825, 1.37093, 1.22803, -0.071601, 0.86741, -0.812281,
    0.521855, 0.686238, -0.880521, 0.909771, -1.366464, 0.832898, 0.365146, -1.522091, 0.551731, -1.296207,
    -0.228158, 0.481778, -1.058194, -0.203135, -1.117537, -0.239301, -0.706873, -1.051466, -0.661541, -0.5886},
  gs_bilinear_border_0 = {-0.229086, 1.35861, -1.385871, 0.371385, 0, -1.074231, 1.35861, -1.309942, 0.7314, 0,
    -1.49745, 1.35861, 1.411523, 1.91486, -0.549194, 1.897825, 1.797416, -0.024757, 1.91486, 0.31266, 1.991982,
    1.797416, -1.548719, 1.91486, 0.974128, 0.648049, 1.576504, -0.861862, 0.415033, 0.416931, -0.152101,
    1.576504, -1.425259, 0.732993, 0.320904, -1.121465, -0.231976, -1.384063, -0.414674, 0.457989, -1.561605,
    -1.427381, -1.458119, -0.414674, -1.116092, -1.319103, -1.633396, -0.89517},
  gs_bilinear_border_1 = {-0.895866, 1.35861, -1.262418, 0.5864, 0.417838, -1.421075, 1.35861, -1.796698,
    0.880322, 0.016829, -1.438767, 1.239558, 0.335103, 1.91486, -0.797939, 1.955957, 1.482359, -0.755948,
    1.91486, -0.097348, 1.874785, 1.784727, -1.634825, 1.93, 1.368934, -0.071601, 1.576504, -0.812281,
    0.673064, 0.951036, -0.880521, 1.576504, -1.366464, 0.927432, 0.586757, -1.522091, 0.615036, -1.296207,
    -0.414674, 0.481778, -1.364809, -0.281518, -1.117537, -0.414674, -0.706873, -1.170807, -1.063038, -0.5886},
  gs_nearest_zeros_0 = {0.013629, 0, -1.785295, 0, 0, -1.601334, 0, -1.785295, 0.723231, 0, -1.601334, 0,
    1.803352, 0, 0.027258, 0, 0, -1.77911, 0, 0.027258, 1.992951, 0, -1.77911, 0, 0, 0.334349, 0, -0.684961, 0,
    0, 0.334349, 0, -1.617515, 0, 0, -1.772843, 0, -1.625494, 0, 1.388329, 0, 0, -1.625494, 0, -1.766492, 0, 0,
    0.05451},
  gs_nearest_zeros_1 = {0.013629, 1.35861, -1.785295, 0.723231, 0, -1.926262, 1.35861, -1.785295, 0.723231, 0,
    -1.601334, 1.35861, 1.803352, 1.91486, 0.027258, 1.992951, 1.797416, -1.328321, 1.91486, 0.027258,
    1.992951, 1.797416, -1.77911, 1.91486, 1.809203, 0.334349, 1.576504, 0.040887, 1.013046, 0.320904,
    -1.987638, 1.576504, -1.617515, 1.013046, 0.320904, -1.772843, 1.559583, -1.625494, -0.414674, 1.814971,
    -1.10551, -1.633396, -0.672139, -0.414674, -1.766492, -1.10551, -1.633396, 0.05451},
  gs_nearest_border_0 = {0.013629, 1.35861, -1.785295, 0.723231, 0, -1.601334, 1.35861, -1.785295, 0.723231, 0,
    -1.601334, 1.35861, 1.803352, 1.91486, 0.027258, 1.992951, 1.797416, -1.77911, 1.91486, 0.027258, 1.992951,
    1.797416, -1.77911, 1.91486, 0.320904, 0.334349, 1.576504, -0.684961, 0.320904, 0.320904, 0.334349,
    1.576504, -1.617515, 1.013046, 0.320904, -1.772843, -1.633396, -1.625494, -0.414674, 1.388329, -1.633396,
    -1.633396, -1.625494, -0.414674, -1.766492, -1.10551, -1.633396, 0.05451},
  gs_nearest_border_1 = {0.013629, 1.35861, -1.785295, 0.723231, 0, -1.926262, 1.35861, -1.785295, 0.723231, 0,
    -1.601334, 1.35861, 1.803352, 1.91486, 0.027258, 1.992951, 1.797416, -1.328321, 1.91486, 0.027258,
    1.992951, 1.797416, -1.77911, 1.91486, 1.809203, 0.334349, 1.576504, 0.040887, 1.013046, 0.320904,
    -1.987638, 1.576504, -1.617515, 1.013046, 0.320904, -1.772843, 1.559583, -1.625494, -0.414674, 1.814971,
    -1.10551, -1.633396, -0.672139, -0.414674, -1.766492, -1.10551, -1.633396, 0.05451},
  g_input = {0.129095, 0.635749, 0.006982, 0, 0, 0, 0, 0, 0.007931, 0.11659, 0.051297, 0.88817, 0.209651,
    0.020346, 0.8747, 0.004397, 0.300655, 0.2043, 0, 0.202161, -0.066096, -0.5954, -0.007198, 0, 0, 0, 0, 0,
    -0.001399, -0.02057, -0.064675, -0.993648, -0.113037, -0.00359, -0.595392, -0.005543, -0.256126, 0.170249,
    0, -0.199662, 0.020967, -0.194693, 0.343373, 0.309936, 0, 0.679519, -0.011242, 0.302198, 0.369972, 0,
    0.153557, -0.020424, 0, 0, -0.108959, 0, 0, 0, 0.213522, 0.099445, -0.004514, 0.303534, 0.041577,
    -0.284241, 0, -0.416667, 0.067538, -0.244043, -0.364663, 0, 0.029448, 0.122697, 0, 0, 0.148364, 0, 0, 0,
    -0.167073, 0.091087},
  g_grid = {0.228776, 2.332464, -0.269765, -0.218841, -0.149747, -1.601939, 0.33188, -0.679337, -1.819772,
    -0.077496, -0.329497, -1.870385, 0.073701, 0.230279, 4.008618, 1.850687, 0.937867, -2.548715, -2.283334,
    -0.001299, -1.407328, -4.662961, 0.234402, 1.218051, 2.211464, -1.395365, -0.147832, -2.852318, -0.549905,
    -0.086583, 0.41593, 2.55705, -0.113134, 0.566499, -0.411844, -0.165568, -0.73848, -3.073109, 0.554162,
    0.591069, -1.349882, -2.3834, -0.224385, -3.52248, -3.349616, -0.101243, -1.16531, -6.541215},
  g_theta = {0.61341, -0.798444, -1.573979, -4.483642, -6.99849, -25.99803, -2.364483, -1.87218, 5.816582,
    6.289617, -3.493027, 28.296059},
}

describe("F.affine_grid and F.grid_sample", function()
  local F = require("kshot.nn").functional
  local theta = ks.tensor({{{0.9, -0.2, 0.1}, {0.3, 1.1, -0.15}}, {{1.2, 0.1, 0.3}, {-0.1, 0.8, 0.2}}})
  local img = det({2, 2, 4, 5}, 0.37, 2)
  local grid = det({2, 3, 4, 2}, 0.61, 1.2)
  local wout = det({2, 2, 3, 4}, 0.23)

  it("match torch 1.13 in every mode, padding and align_corners, with gradients", function()
    close(R_GS.affine_grid, F.affine_grid(theta, {2, 2, 3, 4}))
    close(R_GS.affine_grid_ac, F.affine_grid(theta, {2, 2, 3, 4}, {align_corners = true}))
    for _, mode in ipairs({"bilinear", "nearest"}) do
      for _, pad in ipairs({"zeros", "border"}) do
        for _, ac in ipairs({false, true}) do
          close(R_GS[("gs_%s_%s_%d"):format(mode, pad, ac and 1 or 0)],
            F.grid_sample(img, grid, {mode = mode, padding_mode = pad, align_corners = ac}), 2e-5)
        end
      end
    end
    local xr, gr = img:clone():requires_grad_(), grid:clone():requires_grad_()
    local y = F.grid_sample(xr, gr) * wout
    y:sum():backward()
    close(R_GS.g_input, xr.grad, 2e-5)
    close(R_GS.g_grid, gr.grad, 2e-5)
    close(R_GS.g_theta, grad(function(th)
      return (F.grid_sample(img, F.affine_grid(th, {2, 2, 3, 4}), {padding_mode = "border"}) * wout):sum()
    end, theta), 5e-5)
    assert.is_true(autograd.gradcheck(function(a) return F.grid_sample(a, grid) end, {img:clone():requires_grad_()}))
  end)

  it("reject bad inputs naming the argument or the shapes", function()
    assert.matches("affine_grid: theta must be %[2, 2, 3%] for size {2, 1, 3, 4}, got %[2, 3, 3%]",
      err_of(F.affine_grid, ks.zeros(2, 3, 3), {2, 1, 3, 4}))
    assert.matches("affine_grid: argument 'size' must be {N, C, H, W}", err_of(F.affine_grid, theta, {2, 1, 3}))
    assert.matches("grid_sample: grid must be %[N, Ho, Wo, 2%] with input's N, got %[1, 3, 4, 2%] for input %[2, 2, 4, 5%]",
      err_of(F.grid_sample, img, ks.zeros(1, 3, 4, 2)))
    assert.matches("grid_sample: input must be 4%-D", err_of(F.grid_sample, ks.zeros(2, 4, 5), grid))
    assert.matches("padding_mode must be \"zeros\", \"border\" or \"reflection\", got wrap",
      err_of(F.grid_sample, img, grid, {padding_mode = "wrap"}))
    assert.matches("grid_sample: mode must be", err_of(F.grid_sample, img, grid, {mode = "bicubic"}))
    assert.matches("grid_sample: unknown option 'align_corner'", err_of(F.grid_sample, img, grid, {align_corner = true}))
    assert.matches("grid_sample: argument 'input' must be a float32 tensor, got uint8", err_of(F.grid_sample, img:byte(), grid))
  end)
end)
