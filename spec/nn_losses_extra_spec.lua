-- ks.functional's margin, embedding, triplet, Poisson and soft-margin losses
-- (bindings/lua/kshot/nn/losses_extra.lua) and their nn.* modules. Expected
-- numbers: torch 1.13 on the same inputs, printed with 6 decimals by helper
-- spec/fixtures/torch_refs/losses_resample.py, so comparisons use 1e-5 tolerances.
local ks = require "kshot"
local nn = require "kshot.nn"
local autograd = require "kshot.autograd"
local F = ks.functional

local R = {
  mrl_none = {
    0.740302, 1.504159, 1.637267, 1.007939},
  hel_none = {
    0, 0.361615, 0, 0, 0, 0, 0, 0, 0.180596, -0.187295, -0.529836, -0.800667, -0.963131, 1.49524, 1.392648, 1.16924,
    0.855253, 0.493185, 0.13204, 0.679305, 0.898708, 0.996476, 0.959375, 0.792427},
  cel_none = {
    1.920924, 0, 0.680787, 0.744033},
  tml_none = {
    3.774457, 3.145352, 1.942581, 1.307015},
  sml_none = {
    0.693147, 0.528597, 1.086079, 1.238098, 1.310252, 1.2851, 1.168732, 0.989111, 0.60692, 0.791173, 0.992753,
    1.171561, 1.286443, 0.314544, 0.343285, 0.413498, 0.531214, 0.69656, 0.893957, 0.410101, 0.341527, 0.314211,
    0.324351, 0.373455},
  mlsml_none = {
    1.023545, 0.953375, 0.597591, 0.442934},
  pnll_none = {
    1, 1.391401, 1.012045, 0.160471, -0.279838, 0.095947, 1.004916, 1.685088, 0.925157, 1.318704, 2.177985, 2.500783,
    1.75166, 0.47715, 1.845686, 2.297751, 1.765132, 0.989796, 0.9591, 1.820973, 0.92425, -0.000573, -0.255454,
    0.278958},
  mml_none = {
    1.48146, 1.631235, 1.081198, 0.619233},
  mrl_mean = {
    1.222417},
  hel_mean = {
    0.330216},
  cel_mean = {
    0.836436},
  tml_mean = {
    2.542351},
  sml_mean = {
    0.754361},
  mlsml_mean = {
    0.754361},
  pnll_mean = {
    1.076962},
  mml_mean = {
    1.203281},
  mrl_sum = {
    4.889667},
  hel_sum = {
    7.925179},
  cel_sum = {
    3.345745},
  tml_sum = {
    10.169406},
  sml_sum = {
    18.104668},
  mlsml_sum = {
    3.017445},
  pnll_sum = {
    25.847088},
  mml_sum = {
    4.813125},
  mrl_def = {
    1.022417},
  hel_def = {
    0.503226},
  cel_def = {
    0.861436},
  tml_p1_swap = {
    6.338799, 5.167587, 2.228302, 0.437948},
  tml_swap = {
    0, 0, 0.379067, 0.747015},
  pnll_full = {
    1.3224, 1.391401, 1.177078, 1.390242, 1.483358, 1.400639, 1.25173, 1.685088, 1.162742, 2.615314, 3.94153,
    3.739046, 1.925552, 0.47715, 2.158556, 3.657754, 3.52343, 2.158466, 1.063287, 1.820973, 1.31459, 1.419066,
    1.492026, 1.375212},
  pnll_prob = {
    14.929106, 0.486038, 1.229666, 1.176858, 1.00796, 1.0645, 1.142724, 0.528674, 2.764817, 4.563793, 2.434563,
    1.370029, 1.016417, 0.995744, 1.075171, 1.740418, 3.454449, 12.445944, 1.687248, 0.76553, 1.080593, 1.005802,
    1.082939, 1.358703},
  pnll_prob_full = {
    3.936676},
  mml_p2_w = {
    1.866299, 7.435418, 0.474608, 0.299939},
  mml_w_mean = {
    1.961153},
  mml_1d = {
    0.807172},
  mlsml_w = {
    1.55268, 1.524102, 0.888052, 0.633492},
  g_tml = {
    -0.00336, -0.005604, -0.001883, 0.002198, 0.002272, -0.003149, 0.011473, -0.009576, -0.024738, -0.02585,
    -0.00832, 0.027035, -0.044597, 0.016723, 0.078179, 0.123048, 0.139326, 0.122976, 0.161726, 0.062916, -0.037532,
    -0.109926, -0.133453, -0.102019},
  g_mml = {
    -0.74073, 0.113468, 0.139524, 0.157975, 0.166323, 0.16344, 0.649308, 0.581178, 0.495316, 0.403343, 0.317708,
    -2.446852, 0.03873, 0.037392, -0.270299, 0.050975, 0.064058, 0.079144, 0.046436, 0.085354, 0.112779, -0.464425,
    0.120362, 0.099494},
  g_cel = {
    -0.04289, -0.028439, -0.00969, 0.005185, 0.009958, 0.002348, 0, 0, 0, 0, 0, 0, -0.061125, -0.02128, 0.021047,
    0.054587, 0.070892, 0.066547, -0.051681, -0.030918, -0.006722, 0.012635, 0.021117, 0.016671},
}

local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

-- the tensors of ref.py
local function xs() return (ks.arange(24):float() * 0.37):sin():reshape(4, 6) end
local function ys() return ((ks.arange(24):float() * 0.53) + 1):cos():reshape(4, 6) end
local yv = ks.tensor({1, -1, 1, -1})
local labels = ks.tensor({0, 5, 2, 3}, ks.int64)
local w6 = ks.tensor({1, 2, 0.5, 1.5, 1, 3})

describe("margin and embedding losses (torch 1.13 values)", function()
  local a, b = xs(), ys()
  local x1, x2 = a:select(1, 0), b:select(1, 0)

  it("agree for every reduction", function()
    for _, r in ipairs({"none", "mean", "sum"}) do
      close(R["mrl_" .. r], F.margin_ranking_loss(x1, x2, yv, {margin = 0.2, reduction = r}))
      close(R["hel_" .. r], F.hinge_embedding_loss(a, b:sign(), {margin = 0.5, reduction = r}))
      close(R["cel_" .. r], F.cosine_embedding_loss(a, b, yv, {margin = 0.1, reduction = r}))
      close(R["tml_" .. r], F.triplet_margin_loss(a, b, a * 0.5 + 0.1, {reduction = r}))
      close(R["sml_" .. r], F.soft_margin_loss(a, b:sign(), {reduction = r}))
      close(R["mlsml_" .. r], F.multilabel_soft_margin_loss(a, b:gt(0):float(), {reduction = r}))
      close(R["pnll_" .. r], F.poisson_nll_loss(a, b:abs() * 3, {reduction = r}))
      close(R["mml_" .. r], F.multi_margin_loss(a, labels, {reduction = r}))
    end
    assert.are.same({4}, F.margin_ranking_loss(x1, x2, yv, {reduction = "none"}):shape())
    assert.are.same({}, F.soft_margin_loss(a, b:sign()):shape())
  end)

  it("use torch's defaults (margin 0 / 1 / 0)", function()
    close(R.mrl_def, F.margin_ranking_loss(x1, x2, yv))
    close(R.hel_def, F.hinge_embedding_loss(a, b:sign()))
    close(R.cel_def, F.cosine_embedding_loss(a, b, yv))
  end)

  it("triplet_margin_loss: p, eps and swap", function()
    close(R.tml_p1_swap, F.triplet_margin_loss(a, b, a * 0.5 + 0.1,
      {margin = 0.3, p = 1, eps = 1e-3, swap = true, reduction = "none"}))
    close(R.tml_swap, F.triplet_margin_loss(a, a * 0.5 + 0.1, b, {swap = true, reduction = "none"}))
    -- PyTorch's positional order: margin, p, eps, swap
    close(R.tml_p1_swap, F.triplet_margin_loss(a, b, a * 0.5 + 0.1, 0.3, 1, 1e-3, true, {reduction = "none"}))
  end)

  it("poisson_nll_loss: log_input, full (Stirling above 1), eps", function()
    close(R.pnll_full, F.poisson_nll_loss(a, b:abs() * 3, {full = true, reduction = "none"}))
    close(R.pnll_prob, F.poisson_nll_loss(a:abs(), b:abs() * 3, {log_input = false, eps = 1e-4, reduction = "none"}))
    close(R.pnll_prob_full, F.poisson_nll_loss(a:abs(), b:abs() * 3, {log_input = false, full = true}))
  end)

  it("multi_margin_loss: p = 2, margin, class weights, a single sample", function()
    close(R.mml_p2_w, F.multi_margin_loss(a, labels, {p = 2, margin = 0.7, weight = w6, reduction = "none"}))
    close(R.mml_w_mean, F.multi_margin_loss(a, labels, {weight = w6}))
    local one = F.multi_margin_loss(a:select(0, 0), ks.tensor({2}, ks.int64), {reduction = "none"})
    close(R.mml_1d, one)
    assert.are.same({1}, one:shape()) -- the target's shape, as torch
    assert.are.same({}, F.multi_margin_loss(a:select(0, 0), ks.tensor(2, ks.int64), {reduction = "none"}):shape())
  end)

  it("multilabel_soft_margin_loss: class weights", function()
    close(R.mlsml_w, F.multilabel_soft_margin_loss(a, b:gt(0):float(), {weight = w6, reduction = "none"}))
  end)

  it("give torch's input gradients", function()
    local g = a:clone():requires_grad_()
    F.triplet_margin_loss(g, b, a * 0.5 + 0.1, {swap = true}):backward()
    close(R.g_tml, g.grad)
    g = a:clone():requires_grad_()
    F.multi_margin_loss(g, labels, {p = 2, weight = w6}):backward()
    close(R.g_mml, g.grad)
    g = a:clone():requires_grad_()
    F.cosine_embedding_loss(g, b, yv, {margin = 0.1}):backward()
    close(R.g_cel, g.grad)
  end)

  it("carry gradients (finite differences)", function()
    local x = a:clone():requires_grad_()
    local t = b * 1.3
    for _, fn in ipairs({
      function(z) return F.margin_ranking_loss(z:select(1, 1), t:select(1, 1), yv, {margin = 0.2, reduction = "none"}) end,
      function(z) return F.hinge_embedding_loss(z, t:sign(), {margin = 2, reduction = "none"}) end,
      function(z) return F.cosine_embedding_loss(z, t, yv, {margin = -0.5, reduction = "none"}) end,
      function(z) return F.triplet_margin_loss(z, t, z * 0.3, {margin = 5, swap = true, reduction = "none"}) end,
      function(z) return F.triplet_margin_loss(t, z, t * 0.5, {margin = 5, p = 3, reduction = "sum"}) end,
      function(z) return F.multi_margin_loss(z, labels, {p = 2, margin = 5, weight = w6, reduction = "none"}) end,
      function(z) return F.poisson_nll_loss(z, t:abs() * 3, {full = true}) end,
      function(z) return F.poisson_nll_loss(z * z + 2, t:abs(), {log_input = false, reduction = "none"}) end,
      function(z) return F.soft_margin_loss(z, t:sign(), {reduction = "sum"}) end,
      function(z) return F.multilabel_soft_margin_loss(z, t:gt(0):float(), {weight = w6, reduction = "none"}) end,
    }) do
      assert.is_true(autograd.gradcheck(fn, {x}))
    end
  end)
end)

describe("loss modules for them", function()
  local a, b = xs(), ys()

  it("forward to the functions with torch's constructor arguments", function()
    close(R.tml_p1_swap, nn.TripletMarginLoss({margin = 0.3, p = 1, eps = 1e-3, swap = true, reduction = "none"})(a, b,
      a * 0.5 + 0.1))
    close(R.tml_p1_swap, nn.TripletMarginLoss(0.3, 1, 1e-3, true, {reduction = "none"})(a, b, a * 0.5 + 0.1))
    close(R.mrl_sum, nn.MarginRankingLoss(0.2, {reduction = "sum"})(a:select(1, 0), b:select(1, 0), yv))
    close(R.cel_mean, nn.CosineEmbeddingLoss({margin = 0.1})(a, b, yv))
    close(R.hel_def, nn.HingeEmbeddingLoss()(a, b:sign()))
    close(R.mml_p2_w, nn.MultiMarginLoss(2, 0.7, w6, {reduction = "none"})(a, labels))
    close(R.pnll_full, nn.PoissonNLLLoss(true, true, {reduction = "none"})(a, b:abs() * 3))
    close(R.sml_mean, nn.SoftMarginLoss()(a, b:sign()))
    close(R.mlsml_w, nn.MultiLabelSoftMarginLoss(w6, {reduction = "none"})(a, b:gt(0):float()))
    assert.are.equal("TripletMarginLoss(margin=0.5, p=1)", tostring(nn.TripletMarginLoss(0.5, 1)))
    -- the other Lua-composed losses: -(log 0.8 + log 0.9) / 2; 0.5 * (0.2^2 + 0.1^2)
    local p, y = ks.tensor({0.2, 0.9}), ks.tensor({0, 1})
    close({(-math.log(0.8) - math.log(0.9)) / 2}, nn.BCELoss()(p, y))
    close({0.025}, nn.HuberLoss("sum", 0.5)(p, y))
    close({0.0125}, nn.HuberLoss({delta = 0.5})(p, y))
  end)

  it("refuse unknown options and torch's deprecated size_average", function()
    assert.matches("TripletMarginLoss: unknown option 'swp'", err_of(nn.TripletMarginLoss, {swp = true}))
    assert.matches("PoissonNLLLoss: unknown option 'size_average'", err_of(nn.PoissonNLLLoss, true, false, true))
    assert.matches("SoftMarginLoss: too many positional", err_of(nn.SoftMarginLoss, 1))
  end)
end)

describe("the extra losses' bad inputs", function()
  local a, b = xs(), ys()

  it("name the argument, the shapes and the option", function()
    assert.matches("margin_ranking_loss: argument 'input1' must be a tensor, got nil",
      err_of(F.margin_ranking_loss, nil, a, a))
    assert.matches("margin_ranking_loss: input1 of shape %[4, 6%] and target of shape %[4%] must have the same shape",
      err_of(F.margin_ranking_loss, a, b, yv))
    assert.matches("hinge_embedding_loss: argument 'target' must be float32, got int64",
      err_of(F.hinge_embedding_loss, a, labels))
    assert.matches("hinge_embedding_loss: option 'margin' must be a number, got x",
      err_of(F.hinge_embedding_loss, a, b, {margin = "x"}))
    assert.matches("cosine_embedding_loss: expected inputs %[N, D%] with target %[N%].-got inputs %[4, 6%] and target %[3%]",
      err_of(F.cosine_embedding_loss, a, b, ks.ones(3)))
    assert.matches("triplet_margin_loss: anchor of shape %[4, 6%] and negative of shape %[4, 5%]",
      err_of(F.triplet_margin_loss, a, b, ks.ones(4, 5)))
    assert.matches("triplet_margin_loss: option 'swap' must be a boolean, got 1",
      err_of(F.triplet_margin_loss, a, b, b, {swap = 1}))
    assert.matches("triplet_margin_loss: option 'p' must be a number > 0, got 0",
      err_of(F.triplet_margin_loss, a, b, b, {p = 0}))
    assert.matches("triplet_margin_loss: unknown option 'sawp'.-did you mean 'swap'",
      err_of(F.triplet_margin_loss, a, b, b, {sawp = true}))
    assert.matches("triplet_margin_loss: too many positional arguments",
      err_of(F.triplet_margin_loss, a, b, b, 1, 2, 1e-6, true, "mean"))
    assert.matches("reduction must be 'mean', 'sum' or 'none', got avg",
      err_of(F.soft_margin_loss, a, b, {reduction = "avg"}))
    assert.matches("multi_margin_loss: argument 'target' must be an int64 tensor of class indices, got float32",
      err_of(F.multi_margin_loss, a, yv))
    assert.matches("multi_margin_loss: target values must be class indices in %[0, 5%], got 6",
      err_of(F.multi_margin_loss, a, ks.tensor({0, 1, 6, 2}, ks.int64)))
    assert.matches("multi_margin_loss: target values must be class indices in %[0, 5%], got %-1",
      err_of(F.multi_margin_loss, a, ks.tensor({0, 1, -1, 2}, ks.int64)))
    assert.matches("multi_margin_loss: expected input %[N, C%] with target %[N%].-got input %[4, 6%] and target %[3%]",
      err_of(F.multi_margin_loss, a, ks.tensor({0, 1, 2}, ks.int64)))
    assert.matches("multi_margin_loss: option 'p' must be 1 or 2, got 3", err_of(F.multi_margin_loss, a, labels, {p = 3}))
    assert.matches("multi_margin_loss: weight of shape %[4%] must be %[6%]",
      err_of(F.multi_margin_loss, a, labels, {weight = yv}))
    assert.matches("poisson_nll_loss: option 'log_input' must be a boolean, got 1",
      err_of(F.poisson_nll_loss, a, b, {log_input = 1}))
    assert.matches("poisson_nll_loss: input of shape %[4, 6%] and target of shape %[6%]",
      err_of(F.poisson_nll_loss, a, w6))
    assert.matches("multilabel_soft_margin_loss: weight of shape %[4%] does not broadcast with input %[4, 6%]",
      err_of(F.multilabel_soft_margin_loss, a, b, {weight = yv}))
    assert.matches("multilabel_soft_margin_loss: expected input %[N, C%] or %[C%], got %[2, 3, 4%]",
      err_of(F.multilabel_soft_margin_loss, ks.ones(2, 3, 4), ks.ones(2, 3, 4)))
  end)

  it("blame the caller's line", function()
    local here = debug.getinfo(1, "S").short_src .. ":"
    -- not tail calls: the calling frame stays on the stack
    assert.matches(here, err_of(function() local r = F.triplet_margin_loss(a, b, nil); return r end))
    assert.matches(here, err_of(function() local r = F.multi_margin_loss(a, labels, {p = 3}); return r end))
    assert.matches(here, err_of(function() local r = F.poisson_nll_loss(a, b, {ful = true}); return r end))
    assert.matches(here, err_of(function() local r = F.soft_margin_loss(a, b, 1); return r end))
    assert.matches(here, err_of(function() local r = nn.TripletMarginLoss({swp = true}); return r end))
  end)
end)
