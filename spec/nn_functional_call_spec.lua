-- nn_functional_call_spec.lua: nn.functional_call (torch.func.functional_call): a module run with some of
-- its parameters / buffers replaced, the module restored afterwards; MAML's inner loop through it matches
-- torch 1.13 (the numbers of spec/autograd_double_spec.lua's second-order MAML step, same weights and data).
local ks = require "kshot"
local nn = require "kshot.nn"
local autograd = require "kshot.autograd"
local F = ks.functional
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

local function vals(n, k, scale) return ((ks.arange(n):float() + 1) * k):sin() * scale end

-- the two-layer net of the torch reference (spec/fixtures/torch_refs/double_backward.py) as modules
local function maml_net()
  local m = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
  ks.no_grad(function()
    m[0].weight:copy_(vals(20, 0.45, 0.6):reshape(5, 4))
    m[0].bias:copy_(vals(5, 0.8, 0.1))
    m[2].weight:copy_(vals(15, 1.1, 0.7):reshape(3, 5))
    m[2].bias:copy_(vals(3, 0.5, 0.1))
  end)
  return m
end

describe("nn.functional_call", function()
  it("runs a second-order MAML step through a module (torch 1.13 values)", function()
    local m = maml_net()
    local xs, ys = vals(24, 0.23, 1.0):reshape(6, 4), ks.tensor({0, 1, 2, 0, 1, 2}, ks.int64)
    local xq, yq = vals(24, 0.31, 1.0):reshape(6, 4), ks.tensor({2, 1, 0, 0, 2, 1}, ks.int64)
    local named = m:named_parameters()
    local params = m:parameters()
    local inner = F.cross_entropy(m(xs), ys)
    local grads = autograd.grad(inner, params, {create_graph = true})
    local fast = {}
    for i, np in ipairs(named) do fast[np[1]] = np[2] - grads[i] * 0.5 end
    local outer = F.cross_entropy(nn.functional_call(m, fast, xq), yq)
    outer:backward()
    close({1.152739}, inner)
    close({1.265260}, outer)
    close({0.005960, -0.012585, 0.112931, -0.113953, -0.024257}, m[0].bias.grad)
    close({-0.098407, 0.068731, 0.029676}, m[2].bias.grad)
    close({0.127282, -0.018871, -0.239208, 0.092913, 0.119699, -0.119872, -0.022870, 0.183964, -0.059399,
           -0.129039, -0.007410, 0.041741, 0.055244, -0.033514, 0.009340}, m[2].weight.grad)
    -- the module holds its own leaves again
    for i, np in ipairs(m:named_parameters()) do assert.are.equal(params[i], np[2], np[1]) end
  end)

  it("accepts {name, tensor} pairs (the shape of named_parameters) and a subset of the names", function()
    local m = maml_net()
    local x = vals(8, 0.7, 1.0):reshape(2, 4)
    local zero_w = ks.zeros(3, 5)
    local y1 = nn.functional_call(m, {{"2.weight", zero_w}}, x)
    local y2 = nn.functional_call(m, {["2.weight"] = zero_w}, x)
    assert.is_true(ks.allclose(m[2].bias:detach():expand(2, 3), y1)) -- a zero last layer leaves its bias
    assert.is_true(ks.equal(y1, y2))
    assert.is_false(ks.equal(m(x), y1)) -- and the module itself is unchanged
  end)

  it("returns every result of forward and puts the module's tensors back when forward raises", function()
    local M = nn.Module:extend("TwoOut")
    function M:__init() nn.Module.__init(self) self.w = nil self:register_parameter("w", ks.ones(2)) end
    function M:forward(x, boom)
      if boom then error("boom in forward") end
      return x * self.w, self.w:sum()
    end
    local m = M()
    local w0 = m.w
    local a, b = nn.functional_call(m, {w = ks.full({2}, 3.0)}, ks.ones(2))
    close({3, 3}, a)
    close({6}, b)
    local e = err_of(nn.functional_call, m, {w = ks.zeros(2)}, ks.ones(2), true)
    assert.truthy(e:find("boom in forward", 1, true), e)
    assert.are.equal(w0, m.w)
  end)

  it("replaces buffers too; a training-mode forward updates the running statistics of the tensors passed", function()
    local bn = nn.BatchNorm1d(2)
    local own_mean = bn.running_mean
    local mean = ks.zeros(2)
    nn.functional_call(bn, {running_mean = mean}, ks.tensor({{1, 2}, {3, 6}}))
    close({0.2, 0.4}, mean) -- momentum 0.1 times the batch mean {2, 4}
    close({0, 0}, own_mean)
    assert.are.equal(own_mean, bn.running_mean)
  end)

  it("gives clear errors naming the argument, the unknown name and the nearest registered one", function()
    local m = maml_net()
    local x = ks.zeros(1, 4)
    assert.matches("argument #1 must be an nn.Module, got number", err_of(nn.functional_call, 3, {}, x))
    assert.matches("argument #2 must be a table", err_of(nn.functional_call, m, "0.weight", x))
    local e = err_of(nn.functional_call, m, {["0.wieght"] = ks.zeros(5, 4)}, x)
    assert.matches("no parameter or buffer '0.wieght'; did you mean '0.weight'%?", e)
    assert.matches("it has: 0.weight, 0.bias, 2.weight, 2.bias", e)
    assert.matches("'0.bias' must be a tensor, got number", err_of(nn.functional_call, m, {["0.bias"] = 1}, x))
    assert.matches("tensors%[1%] must be a {name, tensor} pair, got a table whose %[1%] is a number",
      err_of(nn.functional_call, m, {{1, ks.zeros(5)}}, x))
    assert.matches("no parameter or buffer '1.weight'", err_of(nn.functional_call, m, {["1.weight"] = ks.zeros(1)}, x))
  end)
end)
