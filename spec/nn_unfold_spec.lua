-- F.unfold / F.fold (im2col / col2im, bindings/lua/kshot/nn/unfold.lua) and
-- nn.Unfold / nn.Fold. Expected numbers: torch 1.13 on the same inputs,
-- printed with 6 decimals by spec/fixtures/torch_refs/losses_resample.py and unfold_fold.py, so
-- comparisons use 1e-5 tolerances.
local ks = require "kshot"
local nn = require "kshot.nn"
local autograd = require "kshot.autograd"
local F = ks.functional

local R = {
  uf = {
    0, 0, 0, 0, 0, 0, 0.070737, -0.227202, -0.504846, -0.737394, 0, -0.210796, 0.087499, 0.377978, 0.634693, 0, 0, 0,
    0, 0, 0.070737, -0.227202, -0.504846, -0.737394, -0.904072, -0.210796, 0.087499, 0.377978, 0.634693, 0.834713, 0,
    0, 0, 0, 0, -0.227202, -0.504846, -0.737394, -0.904072, 0, 0.087499, 0.377978, 0.634693, 0.834713, 0, 0, 1,
    0.955337, 0.825336, 0.62161, 0, -0.989992, -0.98748, -0.896758, -0.725932, 0, 0, 0, 0, 0, 1, 0.955337, 0.825336,
    0.62161, 0.362358, -0.989992, -0.98748, -0.896758, -0.725932, -0.490261, 0, 0, 0, 0, 0, 0.955337, 0.825336,
    0.62161, 0.362358, 0, -0.98748, -0.896758, -0.725932, -0.490261, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.346635,
    0.053955, -0.243545, -0.519289, 0, -0.475537, -0.19433, 0.104236, 0.393491, 0, 0, 0, 0, 0, 0.346635, 0.053955,
    -0.243545, -0.519289, -0.748647, -0.475537, -0.19433, 0.104236, 0.393491, 0.647597, 0, 0, 0, 0, 0, 0.053955,
    -0.243545, -0.519289, -0.748647, 0, -0.19433, 0.104236, 0.393491, 0.647597, 0, 0, 0.96017, 0.999859, 0.950233,
    0.815725, 0, -0.91113, -0.992225, -0.984688, -0.889191, 0, 0, 0, 0, 0, 0.96017, 0.999859, 0.950233, 0.815725,
    0.608351, -0.91113, -0.992225, -0.984688, -0.889191, -0.714265, 0, 0, 0, 0, 0, 0.999859, 0.950233, 0.815725,
    0.608351, 0, -0.992225, -0.984688, -0.889191, -0.714265, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.59492, 0.330815,
    0.037158, -0.259818, 0, -0.702397, -0.460678, -0.177809, 0.120945, 0, 0, 0, 0, 0, 0.59492, 0.330815, 0.037158,
    -0.259818, -0.533585, -0.702397, -0.460678, -0.177809, 0.120945, 0.408893, 0, 0, 0, 0, 0, 0.330815, 0.037158,
    -0.259818, -0.533585, 0, -0.460678, -0.177809, 0.120945, 0.408893, 0, 0, 0.843854, 0.964733, 0.999435, 0.94486,
    0, -0.759689, -0.917931, -0.994178, -0.981617, 0, 0, 0, 0, 0, 0.843854, 0.964733, 0.999435, 0.94486, 0.805884,
    -0.759689, -0.917931, -0.994178, -0.981617, -0.881372, 0, 0, 0, 0, 0, 0.964733, 0.999435, 0.94486, 0.805884, 0,
    -0.917931, -0.994178, -0.981617, -0.881372, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.795815, 0.581321, 0.314901,
    0.020349, 0, -0.873305, -0.690329, -0.44569, -0.161236, 0, 0, 0, 0, 0, 0.795815, 0.581321, 0.314901, 0.020349,
    -0.276018, -0.873305, -0.690329, -0.44569, -0.161236, 0.137618, 0, 0, 0, 0, 0, 0.581321, 0.314901, 0.020349,
    -0.276018, 0, -0.690329, -0.44569, -0.161236, 0.137618, 0, 0, 0.660317, 0.852757, 0.969022, 0.998728, 0,
    -0.547729, -0.770515, -0.924472, -0.995849, 0, 0, 0, 0, 0, 0.660317, 0.852757, 0.969022, 0.998728, 0.93922,
    -0.547729, -0.770515, -0.924472, -0.995849, -0.97827, 0, 0, 0, 0, 0, 0.852757, 0.969022, 0.998728, 0.93922, 0,
    -0.770515, -0.924472, -0.995849, -0.97827, 0, 0, 0, 0, 0, 0},
  fo = {
    2, 2.866009, 2.476007, 1.86483, 0.724715, 0.141474, -0.681606, -1.514539, -2.212181, -1.808144, -1.979985,
    -2.962439, -2.690275, -2.177797, -0.980521, -0.421592, 0.262498, 1.133934, 1.904079, 1.669426, 1.920341,
    2.999576, 2.850698, 2.447175, 1.216702, 0.69327, 0.161866, -0.730634, -1.557867, -1.497294, -1.82226, -2.976676,
    -2.954063, -2.667573, -1.42853, -0.951074, -0.582989, 0.312709, 1.180474, 1.295194, 1.687708, 2.894198, 2.998304,
    2.834579, 1.611767, 1.18984, 0.992444, 0.111474, -0.779454, -1.06717, -1.519377, -2.753793, -2.982533, -2.944852,
    -1.762744, -1.404794, -1.382033, -0.533426, 0.362835, 0.817787, 1.320633, 2.558271, 2.907067, 2.996184, 1.87844,
    1.59163, 1.743963, 0.944702, 0.061048, -0.552036, -1.095459, -2.311545, -2.773416, -2.987547, -1.956539,
    -1.746609, -2.070987, -1.337069, -0.483709, 0.275235},
  uf2 = {
    1, 0.955337, 0.825336, 0.62161, 0.070737, -0.227202, -0.504846, -0.737394, -0.989992, -0.98748, -0.896758,
    -0.725932, 0.955337, 0.825336, 0.62161, 0.362358, -0.227202, -0.504846, -0.737394, -0.904072, -0.98748,
    -0.896758, -0.725932, -0.490261, 0.070737, -0.227202, -0.504846, -0.737394, -0.989992, -0.98748, -0.896758,
    -0.725932, -0.210796, 0.087499, 0.377978, 0.634693, -0.227202, -0.504846, -0.737394, -0.904072, -0.98748,
    -0.896758, -0.725932, -0.490261, 0.087499, 0.377978, 0.634693, 0.834713, 0.96017, 0.999859, 0.950233, 0.815725,
    0.346635, 0.053955, -0.243545, -0.519289, -0.91113, -0.992225, -0.984688, -0.889191, 0.999859, 0.950233,
    0.815725, 0.608351, 0.053955, -0.243545, -0.519289, -0.748647, -0.992225, -0.984688, -0.889191, -0.714265,
    0.346635, 0.053955, -0.243545, -0.519289, -0.91113, -0.992225, -0.984688, -0.889191, -0.475537, -0.19433,
    0.104236, 0.393491, 0.053955, -0.243545, -0.519289, -0.748647, -0.992225, -0.984688, -0.889191, -0.714265,
    -0.19433, 0.104236, 0.393491, 0.647597, 0.843854, 0.964733, 0.999435, 0.94486, 0.59492, 0.330815, 0.037158,
    -0.259818, -0.759689, -0.917931, -0.994178, -0.981617, 0.964733, 0.999435, 0.94486, 0.805884, 0.330815, 0.037158,
    -0.259818, -0.533585, -0.917931, -0.994178, -0.981617, -0.881372, 0.59492, 0.330815, 0.037158, -0.259818,
    -0.759689, -0.917931, -0.994178, -0.981617, -0.702397, -0.460678, -0.177809, 0.120945, 0.330815, 0.037158,
    -0.259818, -0.533585, -0.917931, -0.994178, -0.981617, -0.881372, -0.460678, -0.177809, 0.120945, 0.408893,
    0.660317, 0.852757, 0.969022, 0.998728, 0.795815, 0.581321, 0.314901, 0.020349, -0.547729, -0.770515, -0.924472,
    -0.995849, 0.852757, 0.969022, 0.998728, 0.93922, 0.581321, 0.314901, 0.020349, -0.276018, -0.770515, -0.924472,
    -0.995849, -0.97827, 0.795815, 0.581321, 0.314901, 0.020349, -0.547729, -0.770515, -0.924472, -0.995849,
    -0.873305, -0.690329, -0.44569, -0.161236, 0.581321, 0.314901, 0.020349, -0.276018, -0.770515, -0.924472,
    -0.995849, -0.97827, -0.690329, -0.44569, -0.161236, 0.137618},
  ud = {
    0, 0.434966, 0.975723, 0.778073, 0, -0.008407, -0.788525, -0.971903, 0, -0.419764, 0.450044, 0.979268, 0,
    0.783327, 0.973848, 0, 0.42738, -0.44252, -0.97753, 0, -0.772765, 0.016814, 0.793668, 0, 0, -0.419764, 0.450044,
    0.979268, 0, 0.767401, -0.025219, -0.798754, 0, -0.967808, -0.404444, 0.464995, -0.772765, 0.016814, 0.793668, 0,
    0.96989, 0.412118, -0.457536, 0, -0.980936, -0.761984, 0.033622, 0},
  g_ud = {
    0, 0.869931, 1.566654, 1.951447, 1.947695, 1.556146, 0.85476, -0.016814, -0.885041, -1.57705, -1.95506,
    -1.943806, -3.091059, -1.679056, 0.067254, 1.800176, 3.174671, 3.917071, 1.93978, 1.534802, 0.824237, -0.050438,
    -0.915071, -1.597508, -1.961872, -1.935616, -1.523967, -0.808888, 0.067245, 0.929989},
  fd = {
    1, 1.283848, 1.013715, -0.108987, -0.004925, -1.365878, -1.648203, -1.163961, -0.999965, -1.274046, -1.001886,
    0.11734, 0.321782, 1.511944, 1.654277, 0.906104, 1.107584, 0.979078, 0.587479, -0.500061, -0.32973, -1.51897,
    -1.658492, -0.902515},
}

local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

local function u() return (ks.arange(2 * 2 * 4 * 5):float() * 0.3):cos():reshape(2, 2, 4, 5) end
local function v() return (ks.arange(1 * 5 * 6):float() * 0.45):sin():reshape(1, 5, 6) end

describe("F.unfold and F.fold", function()
  it("lay out blocks as torch (by hand: a 3x3 image, 2x2 kernel)", function()
    local y = F.unfold(ks.arange(9):float():reshape(1, 1, 3, 3), 2)
    -- row i kw + j: pixel (bh + i, bw + j) of the blocks (0,0) (0,1) (1,0) (1,1)
    assert.are.same({{{0, 1, 3, 4}, {1, 2, 4, 5}, {3, 4, 6, 7}, {4, 5, 7, 8}}}, y:totable())
    -- fold sums the overlaps: the centre pixel is in all four blocks
    assert.are.same({{{{0, 2, 2}, {6, 16, 10}, {6, 14, 8}}}}, F.fold(y, 3, 2):totable())
  end)

  it("match torch: kernel, dilation, padding and stride pairs, the three option forms", function()
    local y = F.unfold(u(), {2, 3}, 1, 1, {2, 1})
    assert.are.same({2, 12, 15}, y:shape())
    close(R.uf, y)
    close(R.uf, F.unfold(u(), {kernel_size = {2, 3}, padding = 1, stride = {2, 1}}))
    close(R.uf, F.unfold(u(), {2, 3}, {padding = 1, stride = {2, 1}}))
    close(R.fo, F.fold(y, {4, 5}, {2, 3}, {padding = 1, stride = {2, 1}}))
    close(R.fo, F.fold(y, {output_size = {4, 5}, kernel_size = {2, 3}, padding = 1, stride = {2, 1}}))
    assert.are.same({2, 8, 12}, F.unfold(u(), 2):shape())
    close(R.uf2, F.unfold(u(), 2))
  end)

  it("match torch on unbatched input with dilation, and its gradient", function()
    local x = v():requires_grad_()
    local y = F.unfold(x, 2, {2, 1}, {0, 1}, {1, 2})
    assert.are.same({4, 12}, y:shape())
    close(R.ud, y)
    y:pow(2):sum():backward()
    close(R.g_ud, x.grad)
    local f = F.fold((ks.arange(8 * 6):float() * 0.21):cos():reshape(8, 6), {3, 4}, 2)
    assert.are.same({2, 3, 4}, f:shape())
    close(R.fd, f)
  end)

  it("are adjoint: <unfold(x), c> = <x, fold(c)>", function()
    local x = u()
    local y = F.unfold(x, {2, 3}, {2, 1}, 1, {1, 2})
    local c = (ks.arange(y:numel()):float() * 0.17):sin():reshape(y:shape())
    local lhs = (y * c):sum():item()
    local rhs = (x * F.fold(c, {4, 5}, {2, 3}, {2, 1}, 1, {1, 2})):sum():item()
    assert.is_true(math.abs(lhs - rhs) < 1e-4, lhs .. " vs " .. rhs)
  end)

  it("carry gradients (finite differences)", function()
    local x = u():requires_grad_()
    assert.is_true(autograd.gradcheck(function(a) return F.unfold(a, {2, 3}, {2, 1}, 1, {1, 2}) end, {x}))
    local c = (ks.arange(2 * 8 * 12):float() * 0.4):sin():reshape(2, 8, 12):requires_grad_()
    assert.is_true(autograd.gradcheck(function(a) return F.fold(a, {4, 5}, 2) end, {c}))
  end)

  it("run in the core: gradients with every option, any thread count", function()
    local x = (ks.arange(2 * 3 * 5 * 6):float() * 0.7):cos():reshape(2, 3, 5, 6):requires_grad_()
    local uf = function(a) return F.unfold(a, {2, 3}, {2, 1}, {1, 2}, {2, 3}) end
    assert.is_true(autograd.gradcheck(uf, {x}))
    local c = (ks.arange(2 * 12 * 9):float() * 0.3):sin():reshape(2, 12, 9):requires_grad_()
    assert.is_true(autograd.gradcheck(function(a) return F.fold(a, {5, 6}, {2, 2}, {2, 1}, 1, {2, 3}) end, {c}))
    -- unfold's gradient is fold, fold's is unfold (the adjoint pair), named as torch names them
    assert.are.equal("Im2ColBackward", tostring(uf(x).grad_fn))
    assert.are.equal("Col2ImBackward", tostring(F.fold(c, {5, 6}, 2, {2, 1}, 1, {2, 3}).grad_fn))
    -- bit-identical for 1 and 2 threads (every task writes its own rows / planes)
    local big = (ks.arange(4 * 16 * 12 * 12):float() * 0.01):sin():reshape(4, 16, 12, 12)
    local threads = ks.get_num_threads()
    ks.set_num_threads(1)
    local u1 = F.unfold(big, 3, 1, 1)
    local f1 = F.fold(u1, {12, 12}, 3, 1, 1)
    ks.set_num_threads(2)
    local u2 = F.unfold(big, 3, 1, 1)
    local f2 = F.fold(u2, {12, 12}, 3, 1, 1)
    ks.set_num_threads(threads)
    assert.is_true(u1:equal(u2) and f1:equal(f2))
    -- empty batches, and sizes whose columns would not fit in memory
    assert.are.same({0, 8, 12}, F.unfold(ks.zeros(0, 2, 4, 5), 2):shape())
    assert.are.same({0, 2, 4, 5}, F.fold(ks.zeros(0, 8, 12), {4, 5}, 2):shape())
    assert.matches("unfold: the columns of 1 channels, kernel 3 x 3 and 2147483649 x 2147483649 blocks are too large",
      err_of(F.unfold, ks.zeros(1, 1, 3, 3), 3, 1, 1 << 30))
  end)

  it("nn.Unfold / nn.Fold forward to them", function()
    close(R.uf, nn.Unfold({2, 3}, 1, 1, {2, 1})(u()))
    close(R.fo, nn.Fold({4, 5}, {2, 3}, {padding = 1, stride = {2, 1}})(F.unfold(u(), {2, 3}, 1, 1, {2, 1})))
    assert.are.equal("Unfold(kernel_size=3, stride=2)", tostring(nn.Unfold({kernel_size = 3, stride = 2})))
    assert.are.equal("Fold(output_size=(4, 5), kernel_size=2)", tostring(nn.Fold({4, 5}, 2)))
    assert.matches("Unfold: unknown option 'strid'", err_of(nn.Unfold, {kernel_size = 2, strid = 1}))
  end)

  it("refuse bad inputs with the shapes and sizes", function()
    local x = u()
    assert.matches("unfold: argument 'input' must be a tensor, got nil", err_of(F.unfold, nil, 2))
    assert.matches("unfold: argument 'input' must be float32, got int64", err_of(F.unfold, ks.arange(8):reshape(1, 2, 4), 2))
    assert.matches("unfold: expected a 3%-D %[C, H, W%] or 4%-D %[N, C, H, W%] input, got shape %[4, 5%]",
      err_of(F.unfold, ks.zeros(4, 5), 2))
    assert.matches("unfold: kernel_size is required", err_of(F.unfold, x))
    assert.matches("unfold: kernel_size must be an integer >= 1 or a pair of them, got 0", err_of(F.unfold, x, 0))
    assert.matches("unfold: stride must be an integer >= 1 or a pair of them, got {1, 2, 3}",
      err_of(F.unfold, x, 2, 1, 0, {1, 2, 3}))
    assert.matches("unfold: padding must be an integer >= 0 or a pair of them, got %-1", err_of(F.unfold, x, 2, 1, -1))
    assert.matches("unfold: input of shape %[2, 2, 4, 5%] is too small for kernel_size {5, 5}", err_of(F.unfold, x, 5))
    assert.matches("unfold: unknown option 'strides'", err_of(F.unfold, x, 2, {strides = 1}))
    assert.matches("unfold: too many arguments", err_of(F.unfold, x, 2, 1, 0, 1, 7))
    assert.matches("unfold: option 'stride' given both positionally and in the options table",
      err_of(F.unfold, x, 2, 1, 0, 1, {stride = 2}))
    local y = F.unfold(x, 2)
    assert.matches("fold: output_size {4, 6} with kernel_size {2, 2}, dilation {1, 1}, padding {0, 0} and stride "
      .. "{1, 1} gives 3 x 5 = 15 blocks, but the input of shape %[2, 8, 12%] has 12", err_of(F.fold, y, {4, 6}, 2))
    assert.matches("fold: dim 1 of the input %(8, shape %[2, 8, 12%]%) must be divisible by kernel_size's product 9",
      err_of(F.fold, y, {4, 5}, 3))
    assert.matches("fold: output_size is required", err_of(F.fold, y, {kernel_size = 2}))
    assert.matches("fold: expected a 2%-D %[C kh kw, L%] or 3%-D", err_of(F.fold, ks.zeros(8), 2, 2))
    local here = debug.getinfo(1, "S").short_src .. ":"
    assert.matches(here, err_of(function() local r = F.unfold(x, 0); return r end))
    assert.matches(here, err_of(function() local r = F.unfold(x, 2, {strides = 1}); return r end))
    assert.matches(here, err_of(function() local r = F.fold(y, {4, 6}, 2); return r end))
  end)
end)
