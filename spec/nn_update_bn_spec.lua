-- nn.update_bn: batch-norm running statistics recomputed from given batches (PyTorch's swa_utils.update_bn).
local ks = require "kshot"
local nn = require "kshot.nn"

local function close(a, b, tol) return (a - b):abs():max():item() <= tol end

describe("nn.update_bn", function()
  it("sets the running mean and unbiased variance to the statistics of one batch", function()
    ks.manual_seed(4)
    local bn = nn.BatchNorm2d(3)
    local m = nn.Sequential(bn, nn.ReLU())
    m:eval()
    local x = ks.randn(5, 3, 4, 4) * 2 + 1
    nn.update_bn(m, x)
    local per_channel = x:transpose(0, 1):reshape(3, -1)
    local mean = per_channel:mean(1)
    local var = (per_channel - mean:view(3, 1)):pow(2):sum(1) / (per_channel:size(1) - 1)
    assert.is_true(close(bn.running_mean, mean, 1e-5))
    assert.is_true(close(bn.running_var, var, 1e-4))
    assert.is_false(m.training) -- mode restored
    assert.are.equal(0.1, bn.momentum) -- momentum restored
  end)

  it("averages the batch statistics over a list of batches, whatever came before", function()
    ks.manual_seed(5)
    local bn = nn.BatchNorm1d(2)
    for _ = 1, 3 do bn(ks.randn(8, 2) * 5) end -- stale statistics from "training"
    local a, b = ks.randn(6, 2), ks.randn(6, 2) + 3
    nn.update_bn(bn, { a, b })
    assert.is_true(close(bn.running_mean, (a:mean(0) + b:mean(0)) / 2, 1e-5))
    assert.is_true(bn.training) -- was training, still is
  end)

  it("reaches layers deep in the model and leaves parameters and gradients alone", function()
    ks.manual_seed(6)
    local m = nn.Sequential(nn.Conv2d(1, 4, 3, { padding = 1 }), nn.BatchNorm2d(4), nn.ReLU(),
      nn.Flatten(), nn.Linear(4 * 6 * 6, 3), nn.BatchNorm1d(3))
    local before = {}
    for i, p in ipairs(m:parameters()) do before[i] = p:clone() end
    nn.update_bn(m, ks.randn(7, 1, 6, 6))
    for i, p in ipairs(m:parameters()) do
      assert.same(before[i]:totable(), p:totable())
      assert.is_nil(p.grad)
    end
    local last = m:modules()[#m:modules()]
    assert.is_true(last.running_mean:abs():sum():item() > 0)
    -- a model without batch norm is returned unchanged
    local lin = nn.Linear(2, 2)
    assert.are.equal(lin, nn.update_bn(lin, ks.randn(3, 2)))
  end)

  it("bad inputs are clear errors; a failing forward restores the momenta", function()
    local bn = nn.BatchNorm2d(3)
    assert.has_error(function() nn.update_bn("m", ks.randn(2, 3, 2, 2)) end,
      "nn.update_bn: argument 'model' must be an nn.Module, got string")
    assert.has_error(function() nn.update_bn(bn, {}) end,
      "nn.update_bn: argument 'inputs' must be a tensor or a non-empty list of tensors, got table")
    assert.has_error(function() nn.update_bn(bn, { ks.randn(2, 3, 2, 2), 5 }) end,
      "nn.update_bn: inputs[2] must be a tensor, got number")
    local ok, msg = pcall(nn.update_bn, bn, ks.randn(2, 3))
    assert.is_false(ok)
    assert.matches("BatchNorm2d: expected 4D input, got 2D", msg)
    assert.are.equal(0.1, bn.momentum)
  end)

  it("a failing forward leaves the buffers, momenta and every module's mode exactly as before", function()
    ks.manual_seed(8)
    local bn = nn.BatchNorm1d(3)
    local m = nn.Sequential(nn.Linear(3, 3), bn)
    m:train(); m(ks.randn(6, 3) * 3); m:eval()
    bn:train() -- a mixed mode: the root in eval, the batch norm in train
    local mean, var, nbt = bn.running_mean:totable(), bn.running_var:totable(), bn.num_batches_tracked:item()
    local ok, msg = pcall(nn.update_bn, m, { ks.randn(4, 3), ks.randn(4, 7) })
    assert.is_false(ok)
    assert.matches("nn.update_bn: batch 2: .*input of shape %[4, 7%]", msg)
    assert.same(mean, bn.running_mean:totable())
    assert.same(var, bn.running_var:totable())
    assert.equal(nbt, bn.num_batches_tracked:item())
    assert.equal(0.1, bn.momentum)
    assert.is_false(m.training)
    assert.is_true(bn.training)
  end)
end)

