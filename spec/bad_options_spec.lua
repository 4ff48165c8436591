-- Every C function that reads an options table rejects a misspelled key
-- (through ks_lua_check_known, worded by kshot.options) and still accepts
-- all of its known keys.
local ks = require "kshot"
local F = ks.functional

local function x4() return ks.randn(2, 3, 6, 6) end
local function logits() return ks.randn(4, 3) end
local labels = ks.tensor({0, 1, 2, 1}, "int64")

-- {op, call(opts), valid opts (every known key), misspelled key}
local cases = {
  {"conv2d", function(o) return F.conv2d(x4(), ks.randn(4, 3, 3, 3), nil, o) end,
    {stride = 1, padding = 1, dilation = 1, groups = 1}, "paddin"},
  {"conv2d", function(o) return F.conv2d(x4(), ks.randn(4, 3, 3, 3), ks.zeros(4), o) end,
    {stride = {1, 2}, padding = 0}, "strides"},
  {"max_pool2d", function(o) return F.max_pool2d(x4(), 2, o) end,
    {stride = 2, padding = 1, ceil_mode = true}, "count_include_pad"},
  {"avg_pool2d", function(o) return F.avg_pool2d(x4(), 2, o) end,
    {stride = 2, padding = 1, ceil_mode = true, count_include_pad = false}, "ceilmode"},
  -- torch's keywords in one table: F.max_pool2d(x, {kernel_size = 2, ...})
  {"max_pool2d", function(o) return F.max_pool2d(x4(), o) end,
    {kernel_size = 3, stride = 2, padding = 1, ceil_mode = true}, "strid"},
  {"avg_pool2d", function(o) return F.avg_pool2d(x4(), o) end,
    {kernel_size = {2, 3}, stride = 2, padding = 1, ceil_mode = true, count_include_pad = false}, "kernel"},
  {"batch_norm", function(o) return F.batch_norm(x4(), ks.zeros(3), ks.ones(3), nil, nil, o) end,
    {training = true, momentum = 0.2, eps = 1e-3}, "trainin"},
  {"cross_entropy", function(o) return F.cross_entropy(logits(), labels, o) end,
    {weight = ks.ones(3), ignore_index = 2, label_smoothing = 0.1, reduction = "sum"}, "label_smoothin"},
  {"nll_loss", function(o) return F.nll_loss(F.log_softmax(logits(), 1), labels, o) end,
    {weight = ks.ones(3), ignore_index = 2, reduction = "none"}, "label_smoothing"},
  {"mse_loss", function(o) return F.mse_loss(logits(), logits(), o) end, {reduction = "sum"}, "beta"},
  {"l1_loss", function(o) return F.l1_loss(logits(), logits(), o) end, {reduction = "none"}, "reduce"},
  {"smooth_l1_loss", function(o) return F.smooth_l1_loss(logits(), logits(), o) end,
    {reduction = "sum", beta = 0.5}, "betta"},
  {"binary_cross_entropy_with_logits", function(o)
    return F.binary_cross_entropy_with_logits(logits(), ks.rand(4, 3), o) end,
    {weight = ks.ones(3), pos_weight = ks.ones(3), reduction = "mean"}, "posweight"},
  {"kl_div", function(o) return F.kl_div(F.log_softmax(logits(), 1), F.log_softmax(logits(), 1), o) end,
    {reduction = "batchmean", log_target = true}, "log_targt"},
  {"kl_div", function(o) return F.kl_div(logits(), ks.rand(4, 3), o) end, {reduction = "sum"}, "_batchmean"},
  {"add", function(o) return ks.add(logits(), logits(), o) end, {alpha = 2, out = ks.empty(4, 3)}, "alpah"},
  {"sub", function(o) return ks.randn(3):sub(1, o) end, {alpha = 2}, "out_"},
  {"mul", function(o) return ks.mul(logits(), 2, o) end, {out = ks.empty(4, 3)}, "alpha"},
  {"add_", function(o) return ks.zeros(3):add_(ks.ones(3), o) end, {alpha = 3}, "alhpa"},
  {"exp", function(o) return ks.exp(logits(), o) end, {out = ks.empty(4, 3)}, "ot"},
  {"clamp", function(o) return ks.clamp(logits(), o) end, {min = -0.5, max = 0.5}, "mx"},
  {"clamp_", function(o) return logits():clamp_(o) end, {min = 0}, "minimum"},
  {"nan_to_num", function(o) return ks.nan_to_num(ks.tensor({0 / 0, 1 / 0}), o) end,
    {nan = 0, posinf = 1, neginf = -1}, "posInf"},
  {"nan_to_num_", function(o) return ks.tensor({0 / 0}):nan_to_num_(o) end, {nan = 0}, "NaN"},
  {"matmul", function(o) return ks.matmul(logits(), ks.randn(3, 2), o) end, {out = ks.empty(4, 2)}, "outt"},
  {"addmm", function(o) return ks.addmm(ks.zeros(4, 2), logits(), ks.randn(3, 2), o) end,
    {beta = 0.5, alpha = 2}, "betta"},
  {"pad", function(o) return ks.pad(logits(), {1, 1}, o) end, {mode = "constant", value = 3}, "mod"},
  {"backward", function(o) local y = (ks.randn(3):requires_grad_() * 2):sum(); y:backward(o); y:backward(o) end,
    {retain_graph = true}, "retain_grad"},
  {"sort", function(o) return ks.sort(ks.randn(5), o) end, {dim = 0, descending = true, stable = true}, "descendin"},
  {"argsort", function(o) return ks.randn(5):argsort(o) end, {dim = -1, descending = false, stable = false}, "dims"},
  {"topk", function(o) return ks.topk(ks.randn(5), 2, o) end, {dim = 0, largest = false, sorted = true}, "smallest"},
  {"kthvalue", function(o) return ks.kthvalue(ks.randn(2, 5), 2, o) end, {dim = 1, keepdim = true}, "keep_dim"},
  {"median", function(o) return ks.median(ks.randn(2, 5), o) end, {dim = 1, keepdim = true}, "keepdims"},
  {"unique", function(o) return ks.unique(ks.tensor({3, 1, 3}), o) end,
    {sorted = true, return_inverse = true, return_counts = true}, "return_count"},
  {"one_hot", function(o) return ks.one_hot(labels, o) end, {num_classes = 4}, "numclasses"},
  {"bincount", function(o) return ks.bincount(labels, o) end, {weights = ks.ones(4), minlength = 5}, "min_length"},
  {"cdist", function(o) return ks.cdist(logits(), logits(), o) end, {p = 1}, "q"},
  {"set_printoptions", function(o)
    local saved = ks.get_printoptions()
    local ok, err = pcall(ks.set_printoptions, o)
    ks.set_printoptions({profile = "default"})
    ks.set_printoptions(saved)
    if not ok then error(err, 0) end
  end, {precision = 2, threshold = 10, edgeitems = 1, linewidth = 60, sci_mode = false, profile = "short"}, "precison"},
}

local function with(opts, key)
  local t = {}
  for k, v in pairs(opts) do t[k] = v end
  t[key] = 1
  return t
end

describe("options tables of C functions", function()
  for i, case in ipairs(cases) do
    local op, call, valid, bad = case[1], case[2], case[3], case[4]
    it(("%s rejects '%s' (case %d)"):format(op, bad, i), function()
      local ok, err = pcall(call, with(valid, bad))
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find(("%s: unknown option '%s'"):format(op, bad), 1, true), tostring(err))
    end)
    it(("%s accepts all its known keys (case %d)"):format(op, i), function()
      local ok, err = pcall(call, valid)
      assert.is_true(ok, tostring(err))
    end)
  end

  it("names a positional value and suggests the close name", function()
    local _, err = pcall(F.conv2d, ks.randn(1, 1, 3, 3), ks.randn(1, 1, 1, 1), nil, {3})
    assert.matches("conv2d: unknown option %[1%] %(a positional value%)", err)
    _, err = pcall(F.cross_entropy, ks.randn(2, 3), ks.tensor({0, 1}, "int64"), {label_smoothin = 0.1})
    assert.matches("did you mean 'label_smoothing'%?", err)
  end)

  it("pools take torch's keywords in one table, with the same results; errors name kernel_size", function()
    local x = x4()
    assert.is_true(ks.equal(F.max_pool2d(x, 3, {stride = 2, padding = 1}), F.max_pool2d(x, {kernel_size = 3, stride = 2, padding = 1})))
    assert.is_true(ks.equal(F.avg_pool2d(x, {2, 3}), F.avg_pool2d(x, {kernel_size = {2, 3}})))
    local _, err = pcall(F.max_pool2d, x, {kernel_size = 2}, {stride = 1})
    assert.matches("max_pool2d: give the kernel once", err)
    _, err = pcall(F.max_pool2d, x, {2, "a"})
    assert.matches("option 'kernel_size' must be an integer or a pair of integers", err) -- it used to say 'k'
    _, err = pcall(F.max_pool2d, x, "2")
    assert.matches("max_pool2d: kernel_size must be an integer or a pair {kh, kw}, got string", err)
  end)

  it("blames the caller's line", function()
    local ok, err = pcall(function() return ks.pad(ks.zeros(2), {1, 1}, {mod = "reflect"}) end)
    assert.is_false(ok)
    assert.matches("bad_options_spec%.lua:%d+: pad: unknown option 'mod'", err)
  end)

  it("leaves the metamethods and option-less calls alone", function()
    local a = ks.ones(2)
    assert.are.same({2, 2}, (a + a):totable())
    assert.are.same({-1, -1}, (-a):totable())
    assert.are.same({2, 2}, a:add(a):totable())
  end)
end)
