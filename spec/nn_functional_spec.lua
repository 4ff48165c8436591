-- Functional NN ops: forward values against hand computations and every
-- op's backward against finite differences (kshot.autograd.gradcheck).
-- Tolerances: gradcheck's defaults, |analytic - numeric| <= 1e-4 + 2e-3 |numeric|
-- with eps = 1e-2 on float32 (a backward scaled by 1.01 fails it: autograd_spec).
local ks = require "kshot"
local F = ks.functional
local gradcheck = require("kshot.autograd").gradcheck

local function leaf(...) return ks.randn(...):requires_grad_() end

-- values away from 0 so relu/abs/max kinks are not crossed by +-eps
local function away_from_kinks(...)
  local x = ks.randn(...)
  local s = x:sign()
  return (x + s * 0.1):requires_grad_()
end

describe("functional ops: gradients match finite differences", function()
  before_each(function() ks.manual_seed(42) end)

  it("linear (with and without bias)", function()
    gradcheck(F.linear, {leaf(4, 3), leaf(2, 3), leaf(2)})
    gradcheck(F.linear, {leaf(2, 5, 3), leaf(4, 3)})
  end)

  it("activations", function()
    local x = away_from_kinks(3, 4)
    gradcheck(F.relu, {x})
    gradcheck(function(a) return F.leaky_relu(a, 0.2) end, {x})
    gradcheck(F.gelu, {leaf(3, 4)})
    gradcheck(function(a) return F.gelu(a, "tanh") end, {leaf(3, 4)})
    gradcheck(F.silu, {leaf(3, 4)})
    gradcheck(F.tanh, {leaf(3, 4)})
    gradcheck(F.sigmoid, {leaf(3, 4)})
  end)

  it("softmax and log_softmax over each dim", function()
    for dim = 0, 2 do
      gradcheck(function(a) return F.softmax(a, dim) end, {leaf(2, 3, 4)})
      gradcheck(function(a) return F.log_softmax(a, dim) end, {leaf(2, 3, 4)})
    end
  end)

  it("conv2d with stride, padding, dilation and groups", function()
    gradcheck(function(x, w, b) return F.conv2d(x, w, b, {padding = 1}) end, {leaf(2, 3, 5, 5), leaf(4, 3, 3, 3), leaf(4)})
    gradcheck(function(x, w) return F.conv2d(x, w, nil, {stride = 2, padding = {1, 0}, dilation = 2}) end,
      {leaf(1, 2, 7, 6), leaf(3, 2, 3, 2)})
    gradcheck(function(x, w) return F.conv2d(x, w, nil, {groups = 2}) end, {leaf(2, 4, 5, 5), leaf(6, 2, 3, 3)})
  end)

  it("conv2d's weight gradient from the columns kept by the forward (one-image and multi-image blocks)", function()
    -- 16x16 outputs make one-image blocks, 5x5 several images per block; an input with no grad (a first layer)
    gradcheck(function(x, w) return F.conv2d(x, w, nil, {padding = 1}) end, {leaf(2, 2, 16, 16), leaf(3, 2, 3, 3)})
    local x = ks.randn(3, 2, 16, 16)
    gradcheck(function(w, b) return F.conv2d(x, w, b, {padding = 1}) end, {leaf(3, 2, 3, 3), leaf(3)})
    local x5 = ks.randn(5, 2, 5, 5)
    gradcheck(function(w) return F.conv2d(x5, w, nil, {padding = 1, stride = 2}) end, {leaf(3, 2, 3, 3)})
    -- a batch whose columns exceed what the forward keeps (16M floats): backward re-runs im2col, over 8 waves
    ks.manual_seed(5)
    local xb, wb = ks.randn(64, 16, 64, 64), ks.randn(8, 16, 3, 3):mul(0.1):requires_grad_()
    F.conv2d(xb, wb, nil, {padding = 1}):sum():backward()
    local whole = wb.grad:clone()
    local parts = ks.zeros(8, 16, 3, 3)
    for i = 0, 3 do
      wb.grad = nil
      F.conv2d(xb:narrow(0, 16 * i, 16), wb, nil, {padding = 1}):sum():backward() -- 16 images: columns kept
      parts:add_(wb.grad)
    end
    assert.is_true(((whole - parts):abs():max() / parts:abs():max()):item() < 1e-5)
    -- the input changed in place after the forward: the saved input's version check still refuses
    local xi, w = ks.randn(1, 1, 16, 16), leaf(2, 1, 3, 3)
    local y = F.conv2d(xi, w, nil, {padding = 1}):sum()
    xi:add_(1)
    local ok, err = pcall(function() y:backward() end)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("modified", 1, true), tostring(err))
  end)

  it("pooling", function()
    -- distinct values 0.1 apart: +-eps never changes which element is the maximum
    local function distinct(...)
      local shape = {...}
      local n = 1
      for _, d in ipairs(shape) do n = n * d end
      return ((ks.randperm(n):float() - n / 2) * 0.1):view(shape):requires_grad_()
    end
    gradcheck(function(x) return F.max_pool2d(x, 2) end, {distinct(2, 3, 6, 6)})
    gradcheck(function(x) return F.max_pool2d(x, 3, {stride = 2, padding = 1}) end, {distinct(1, 2, 7, 7)})
    gradcheck(function(x) return F.avg_pool2d(x, 2) end, {leaf(2, 3, 6, 6)})
    gradcheck(function(x) return F.avg_pool2d(x, 3, {stride = 2, padding = 1, count_include_pad = false}) end,
      {leaf(1, 2, 7, 7)})
    gradcheck(function(x) return F.adaptive_avg_pool2d(x, {3, 2}) end, {leaf(2, 2, 7, 5)})
  end)

  it("batch norm in training and eval mode, layer norm", function()
    local rm, rv = ks.zeros(3), ks.ones(3)
    gradcheck(function(x, w, b) return F.batch_norm(x, rm:clone(), rv:clone(), w, b, {training = true}) end,
      {leaf(4, 3, 2, 2), leaf(3), leaf(3)})
    gradcheck(function(x, w, b) return F.batch_norm(x, rm, rv, w, b, {training = false}) end,
      {leaf(4, 3), leaf(3), leaf(3)})
    gradcheck(function(x, w, b) return F.layer_norm(x, {4}, w, b) end, {leaf(3, 4), leaf(4), leaf(4)})
    gradcheck(function(x) return F.layer_norm(x, {2, 3}) end, {leaf(2, 2, 3)})
  end)

  it("embedding and dropout", function()
    local idx = ks.tensor({{0, 2}, {2, 4}}, "int64")
    gradcheck(function(w) return F.embedding(idx, w) end, {leaf(5, 3)})
    ks.manual_seed(3)
    gradcheck(function(x)
      ks.manual_seed(3) -- the same mask for every evaluation
      return F.dropout(x, 0.4, true)
    end, {leaf(6, 5)})
  end)

  it("cross entropy: weights, ignore_index, label smoothing, soft targets, reductions", function()
    local t = ks.tensor({0, 2, 1, 2}, "int64")
    local w = ks.tensor({0.5, 2.0, 1.0})
    for _, red in ipairs({"mean", "sum", "none"}) do
      gradcheck(function(x) return F.cross_entropy(x, t, {reduction = red}) end, {leaf(4, 3)})
      gradcheck(function(x) return F.cross_entropy(x, t, {weight = w, reduction = red, label_smoothing = 0.2}) end,
        {leaf(4, 3)})
    end
    gradcheck(function(x) return F.cross_entropy(x, ks.tensor({0, -100, 1, 2}, "int64"), {weight = w}) end, {leaf(4, 3)})
    local soft = F.softmax(ks.randn(4, 3), 1)
    gradcheck(function(x, q) return F.cross_entropy(x, q, {label_smoothing = 0.1}) end, {leaf(4, 3), soft:requires_grad_()})
    gradcheck(function(x) return F.cross_entropy(x, ks.tensor({{0, 1}, {2, 2}}, "int64")) end, {leaf(2, 3, 2)})
  end)

  it("element-wise losses and nll", function()
    local y = ks.randn(3, 4)
    gradcheck(F.mse_loss, {leaf(3, 4), y:clone():requires_grad_()})
    gradcheck(F.l1_loss, {leaf(3, 4) + 3, y})
    gradcheck(function(a, b) return F.smooth_l1_loss(a, b, {beta = 0.5}) end, {leaf(3, 4) * 3, y})
    local tgt = ks.rand(3, 4)
    gradcheck(F.binary_cross_entropy_with_logits, {leaf(3, 4), tgt})
    gradcheck(function(a) return F.binary_cross_entropy_with_logits(a, tgt, {pos_weight = ks.tensor({1, 2, 3, 0.5})}) end,
      {leaf(3, 4)})
    local lp = F.log_softmax(ks.randn(3, 4), 1)
    local q = F.softmax(ks.randn(3, 4), 1)
    gradcheck(function(a) return F.kl_div(a, q, {reduction = "batchmean"}) end, {lp:requires_grad_()})
    gradcheck(function(a) return F.nll_loss(a, ks.tensor({1, 0, 3}, "int64")) end, {leaf(3, 4)})
  end)
end)

describe("functional ops: values", function()
  it("cross entropy equals PyTorch's definitions", function()
    local x = ks.tensor({{1, 2, 3}, {1, 0, -1}})
    local t = ks.tensor({2, 0}, "int64")
    local function lse(r) local s = 0 for _, v in ipairs(r) do s = s + math.exp(v) end return math.log(s) end
    local l1 = lse({1, 2, 3}) - 3
    local l2 = lse({1, 0, -1}) - 1
    assert.near((l1 + l2) / 2, F.cross_entropy(x, t):item(), 1e-6)
    -- weighted mean divides by the sum of the target weights
    local w = ks.tensor({2, 1, 3})
    assert.near((3 * l1 + 2 * l2) / 5, F.cross_entropy(x, t, {weight = w}):item(), 1e-6)
    -- label smoothing: (1 - e) nll + e/C * sum over classes of -logp
    local e = 0.3
    local function smooth(r, lseval) local s = 0 for _, v in ipairs(r) do s = s + (lseval - v) end return s / 3 end
    local want = ((1 - e) * l1 + e * smooth({1, 2, 3}, lse({1, 2, 3})) + (1 - e) * l2 + e * smooth({1, 0, -1}, lse({1, 0, -1}))) / 2
    assert.near(want, F.cross_entropy(x, t, {label_smoothing = e}):item(), 1e-6)
  end)

  it("conv2d matches a direct computation", function()
    local x = ks.arange(16):float():view(1, 1, 4, 4)
    local w = ks.tensor({{{{1, 0}, {0, -1}}}})
    local y = F.conv2d(x, w, ks.tensor({0.5}))
    -- y[i][j] = x[i][j] - x[i+1][j+1] + 0.5 = -5 + 0.5
    for _, row in ipairs(y[0][0]:totable()) do
      for _, v in ipairs(row) do assert.near(-4.5, v, 1e-6) end
    end
  end)

  it("batch norm updates running statistics with momentum and the unbiased variance", function()
    local x = ks.tensor({{1}, {3}})
    local rm, rv = ks.zeros(1), ks.ones(1)
    F.batch_norm(x, rm, rv, nil, nil, {training = true, momentum = 0.1})
    assert.near(0.2, rm:item(), 1e-6)            -- 0.9 * 0 + 0.1 * 2
    assert.near(0.9 + 0.1 * 2, rv:item(), 1e-6) -- unbiased var of {1, 3} is 2
  end)

  it("max_pool2d picks the maximum of each window", function()
    local x = ks.tensor({{{{1, 5, 2, 0}, {3, 4, 8, 1}, {0, 0, 1, 1}, {9, 0, 1, 2}}}})
    assert.are.same({{{{5, 8}, {9, 2}}}}, F.max_pool2d(x, 2):totable())
  end)
end)

describe("loss weights", function()
  it("broadcast to the input's shape, as PyTorch's (bce_with_logits with a per-class weight)", function()
    ks.manual_seed(1)
    local x, y, w = ks.randn(3, 4):requires_grad_(), ks.rand(3, 4), ks.tensor { 1, 2, 3, 4 }
    local l1 = F.binary_cross_entropy_with_logits(x, y, { weight = w })
    l1:backward()
    local g1 = x.grad:clone()
    x.grad = nil
    local l2 = F.binary_cross_entropy_with_logits(x, y, { weight = w:expand(3, 4):contiguous() })
    l2:backward()
    assert.equal(l2:item(), l1:item())
    assert.same(x.grad:totable(), g1:totable())
    local ok, err = pcall(F.binary_cross_entropy_with_logits, x, y, { weight = ks.ones(5) })
    assert.is_false(ok)
    assert.matches("weight of shape %[5%] must broadcast to input of shape %[3, 4%]", err)
  end)
end)

describe("functional ops: bad inputs", function()
  it("name the shapes and values that are wrong", function()
    local ok, err = pcall(F.linear, ks.ones(2, 3), ks.ones(4, 5))
    assert.is_false(ok)
    assert.matches("%[2, 3%]", err)
    assert.matches("%[4, 5%]", err)
    ok, err = pcall(F.cross_entropy, ks.ones(2, 3), ks.tensor({0, 3}, "int64"))
    assert.is_false(ok)
    assert.matches("target 3", err)
    ok, err = pcall(F.conv2d, ks.ones(1, 2, 5, 5), ks.ones(4, 3, 3, 3))
    assert.is_false(ok)
    assert.matches("input channels", err)
    for _, name in ipairs {"mse_loss", "l1_loss", "smooth_l1_loss", "kl_div", "binary_cross_entropy_with_logits"} do
      ok, err = pcall(F[name], ks.zeros(2), ks.zeros(3))
      assert.is_false(ok)
      assert.matches("^" .. name .. ": input of shape %[2%] and target of shape %[3%]", err)
    end
    assert.has_error(function() F.max_pool2d(ks.ones(1, 1, 2, 2), 3) end)
    assert.has_error(function() F.dropout(ks.ones(3), 1.5) end)
    assert.has_error(function() F.embedding(ks.tensor({7}, "int64"), ks.ones(3, 2)) end)
    assert.has_error(function() F.mse_loss(ks.ones(3), ks.ones(4)) end)
    assert.has_error(function() F.batch_norm(ks.ones(4, 3), ks.zeros(2), ks.ones(2)) end)
    assert.has_error(function() F.relu("x") end)
  end)
end)

-- F functions composed in Lua (bindings/lua/kshot/nn/functional.lua); expected values from torch 1.13.
describe("functional ops composed in Lua", function()
  local function close(expected, t, tol)
    local got = t:totable()
    local function walk(e, g, path)
      if type(e) == "table" then
        assert.are.equal(#e, #g, "length at " .. path)
        for i = 1, #e do walk(e[i], g[i], path .. "[" .. i .. "]") end
      else
        assert.is_true(math.abs(e - g) <= (tol or 1e-6), string.format("%s: expected %.7g, got %.7g", path, e, g))
      end
    end
    walk(expected, got, "")
  end

  it("one_hot and pad are ks.one_hot and ks.pad", function()
    assert.are.equal(ks.one_hot, F.one_hot)
    assert.are.equal(ks.pad, F.pad)
    assert.are.same({{0, 1, 0}}, F.one_hot(ks.tensor({1}, "int64"), 3):totable())
    assert.are.same({{0, 5, 0}}, F.pad(ks.tensor({{5}}), {1, 1}):totable())
  end)

  it("normalize equals torch's x / max(||x||_p, eps)", function()
    local x = ks.tensor({{3, -4, 0}, {1, 2, 2}})
    close({{0.6, -0.8, 0}, {1 / 3, 2 / 3, 2 / 3}}, F.normalize(x))
    close({{0.75, -2 / 3, 0}, {0.25, 1 / 3, 1}}, F.normalize(x, {p = 1, dim = 0}))
    close({{0.75, -1, 0}, {0.5, 1, 1}}, F.normalize(x, {p = math.huge, dim = -1}))
    close({{0, 0}, {0.6, 0.8}}, F.normalize(ks.tensor({{0, 0}, {3, 4}}))) -- a zero row stays zero
    close({{3e-3, 4e-3}}, F.normalize(ks.tensor({{3e-3, 4e-3}}), {eps = 1}), 1e-9) -- norm below eps: x / eps
    -- gradient (torch: x.grad after (normalize(x) * w).sum().backward())
    local xl = x:clone():requires_grad_();
    (F.normalize(xl) * ks.tensor({{1, 2, 3}, {4, 5, 6}})):sum():backward()
    close({{0.32, 0.24, 0.6}, {0.3703704, -0.2592593, 0.0740740}}, xl.grad, 1e-6)
    local zero = ks.zeros(1, 2):requires_grad_() -- finite at zero, as torch (1 / eps)
    F.normalize(zero):sum():backward()
    close({{1e12, 1e12}}, zero.grad, 1e6)
  end)

  it("cosine_similarity equals torch's, broadcasting its inputs", function()
    local a = ks.tensor({{1, 2, 3}, {0, 0, 0}, {-1, 0.5, 2}})
    local b = ks.tensor({{2, 0, 1}})
    close({0.5976143, 0, 0}, F.cosine_similarity(a, b))
    close({0, 0, 0.8006408}, F.cosine_similarity(a, b, {dim = 0}))
    close(0.7071068, F.cosine_similarity(ks.tensor({1, 1}), ks.tensor({2, 0}), {dim = 0}))
    -- each norm clamped separately (torch 1.13): 1e-9 * 1 / (1e-8 * sqrt(5))
    close({0.0447214}, F.cosine_similarity(ks.tensor({{1e-9, 0}}), ks.tensor({{1, 2}})), 1e-6)
  end)

  it("elu equals torch's and nn.ELU wraps it", function()
    local x = ks.tensor({-2, -0.5, 0, 1.5})
    close({-1.7293295, -0.7869387, 0, 1.5}, F.elu(x, 2))
    close({-1.7293295, -0.7869387, 0, 1.5}, F.elu(x, {alpha = 2}))
    close({-0.8646647, -0.3934693, 0, 1.5}, F.elu(x))
    close({-0.8646647, -0.3934693, 0, 1.5}, require("kshot.nn").ELU()(x))
    assert.are.equal("ELU(alpha=0.5)", tostring(require("kshot.nn").ELU(0.5)))
    assert.are.same({0, 100}, F.elu(ks.tensor({0, 100})):totable()) -- no overflow from exp
  end)

  it("have gradients matching finite differences", function()
    ks.manual_seed(3)
    assert.is_true((gradcheck(function(x) return F.normalize(x) end, {leaf(3, 4)})))
    assert.is_true((gradcheck(function(x) return F.normalize(x, {p = 1, dim = 0}) end, {away_from_kinks(3, 4)})))
    assert.is_true((gradcheck(function(a, b) return F.cosine_similarity(a, b) end, {leaf(3, 4), leaf(1, 4)})))
    assert.is_true((gradcheck(function(x) return F.elu(x, 0.7) end, {away_from_kinks(5)})))
  end)

  it("reject bad inputs naming the argument", function()
    local function errmsg(fn, ...)
      local ok, e = pcall(fn, ...)
      assert.is_false(ok)
      return tostring(e)
    end
    assert.matches("normalize: argument 'input' must be a tensor, got nil", errmsg(F.normalize, nil))
    assert.matches("normalize: argument 'input' must be float32, got int64", errmsg(F.normalize, ks.ones({2, 2}, "int64")))
    assert.matches("normalize: dim 1 is out of range for a tensor of shape %[3%]", errmsg(F.normalize, ks.ones(3)))
    assert.matches("normalize: option 'p' must be a number > 0, got 0", errmsg(F.normalize, ks.ones(2, 2), {p = 0}))
    assert.matches("normalize: option 'eps' must be a number >= 0, got %-1", errmsg(F.normalize, ks.ones(2, 2), {eps = -1}))
    assert.matches("cosine_similarity: argument 'x2' must be a tensor, got number", errmsg(F.cosine_similarity, ks.ones(2), 1))
    assert.matches("cosine_similarity: x1 of shape %[2, 3%] and x2 of shape %[4%] do not broadcast",
      errmsg(F.cosine_similarity, ks.ones(2, 3), ks.ones(4)))
    assert.matches("cosine_similarity: dim 2 is out of range", errmsg(F.cosine_similarity, ks.ones(2, 3), ks.ones(2, 3), {dim = 2}))
    assert.matches("elu: alpha must be a number, got x", errmsg(F.elu, ks.ones(2), "x"))
    assert.matches("elu: argument 'input' must be a tensor", errmsg(F.elu, {1, 2}))
    assert.matches("ELU: alpha must be a number", errmsg(require("kshot.nn").ELU, "a"))
  end)
end)

describe("cross_entropy with float class indices", function()
  it("says class-index targets must be int64 (and what probability targets need)", function()
    local ok, e = pcall(F.cross_entropy, ks.randn(3, 3), ks.tensor({0, 2, 1}))
    assert.is_false(ok)
    assert.truthy(e:find("cross_entropy: class-index targets must be int64, got float32 of shape [3] "
      .. "(convert with y:long() or ks.tensor(t, \"int64\")); probability targets need the logits' shape [3, 3]", 1, true), e)
    ok, e = pcall(F.cross_entropy, ks.randn(2, 3, 4), ks.zeros(2, 4)) -- [N, C, d] logits, [N, d] float targets
    assert.is_false(ok)
    assert.matches("class%-index targets must be int64", e)
    ok, e = pcall(F.cross_entropy, ks.randn(3, 3), ks.zeros(2)) -- neither shape: the probability-target message
    assert.is_false(ok)
    assert.matches("probability targets of shape %[2%] must match logits of shape %[3, 3%]", e)
    -- the int64 and probability forms still work
    assert.is_true(ks.is_tensor(F.cross_entropy(ks.randn(3, 3), ks.tensor({0, 2, 1}, "int64"))))
    assert.is_true(ks.is_tensor(F.cross_entropy(ks.randn(3, 3), ks.full({3, 3}, 1 / 3))))
  end)
end)

describe("F's functions in tracebacks", function()
  it("are named by kshot.nn.functional, whichever file defines them (not kshot.nn.unfold.linear)", function()
    local Fn = require("kshot.nn").functional
    for _, m in ipairs { "kshot.nn.unfold", "kshot.nn.resample", "kshot.nn.conv_extra", "kshot.nn.functional_extra",
      "kshot.nn.losses_extra" } do
      assert.is_true(package.loaded[m], m) -- loaded for their side effect on F
    end
    local _, tb = xpcall(function() return Fn.linear(1, 2) end, debug.traceback)
    assert.truthy(tb:find("in function 'kshot.nn.functional.linear'", 1, true), tb)
    _, tb = xpcall(function() return Fn.unfold(1, 2) end, debug.traceback)
    assert.truthy(tb:find("kshot.nn.functional.unfold", 1, true), tb)
  end)
end)
