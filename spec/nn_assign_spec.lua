-- nn.Module attribute assignment as PyTorch's __setattr__: a module assigned
-- to a new name becomes a child (registration order kept), nil removes it,
-- and a parameter slot takes only a trainable tensor (float32 leaf requiring
-- grad) or nil, so a weight can't be frozen by accident.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local F = ks.functional

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok)
  return tostring(e)
end

local function names(list)
  local out = {}
  for _, p in ipairs(list) do out[#out + 1] = p[1] end
  return out
end

local Net = nn.Module:extend("Net")
function Net:__init()
  nn.Module.__init(self)
  self.fc1 = nn.Linear(4, 16)
  self.drop = nn.Dropout(0.5)
  self.act = F.relu -- a function: a plain field
  self.hidden = 16 -- a number: a plain field
  self.fc2 = nn.Linear(16, 3)
end
function Net:forward(x) return self.fc2(self.drop(self.act(self.fc1(x)))) end

describe("nn.Module attribute assignment", function()
  before_each(function() ks.manual_seed(0) end)

  it("registers modules assigned as attributes, in assignment order", function()
    local net = Net()
    assert.are.same({"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}, names(net:named_parameters()))
    assert.are.equal(4 * 16 + 16 + 16 * 3 + 3, net:num_parameters())
    local _, keys = net:state_dict()
    assert.are.same({"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}, keys)
    local kids = {}
    for name in net:named_children() do kids[#kids + 1] = name end
    assert.are.same({"fc1", "drop", "fc2"}, kids)
    assert.are.equal("Net(\n  (fc1): Linear(in_features=4, out_features=16, bias=true)\n  (drop): Dropout(p=0.5)\n"
      .. "  (fc2): Linear(in_features=16, out_features=3, bias=true)\n)", tostring(net))
    assert.are.equal(16, net.hidden)
    assert.are.equal(F.relu, net.act)
  end)

  it("reaches the children in eval() and trains them with an optimizer", function()
    local net = Net()
    net:eval()
    assert.is_false(net.drop.training)
    local x = ks.randn(8, 4)
    assert.are.equal(0, (net(x) - net(x)):abs():max():item()) -- dropout off
    net:train()
    local opt = optim.SGD(net:parameters(), {lr = 0.1})
    local before = net.fc1.weight:clone()
    local loss = F.cross_entropy(net(x), ks.tensor({0, 1, 2, 0, 1, 2, 0, 1}, "int64"))
    opt:zero_grad()
    loss:backward()
    opt:step()
    assert.is_true((net.fc1.weight - before):abs():max():item() > 0)
  end)

  it("replaces a child in place and removes it on nil", function()
    local net = Net()
    local tanh = nn.Tanh()
    net.drop = tanh -- keeps its place
    local kids = {}
    for name, m in net:named_children() do kids[#kids + 1] = name .. "=" .. m.__name end
    assert.are.same({"fc1=Linear", "drop=Tanh", "fc2=Linear"}, kids)
    net.fc1 = nil
    assert.is_nil(net.fc1)
    assert.are.same({"fc2.weight", "fc2.bias"}, names(net:named_parameters()))
    net.fc1 = nn.Linear(4, 16) -- registered again, now last
    assert.are.same({"fc2.weight", "fc2.bias", "fc1.weight", "fc1.bias"}, names(net:named_parameters()))
  end)

  it("rejects non-modules on a child's name and names shadowing a method", function()
    local net = Net()
    assert.matches("cannot assign a number as child module 'fc1' %(a module or nil expected%)",
      errmsg(function() net.fc1 = 3 end))
    assert.matches("cannot assign a tensor as child module 'fc1'", errmsg(function() net.fc1 = ks.ones(2) end))
    assert.matches("attribute 'forward' already exists", errmsg(function() net.forward = nn.ReLU() end))
    assert.matches("attribute 'forward' already exists", errmsg(function() net:add_module("forward", nn.ReLU()) end))
    -- a class (not an instance) stays a plain field
    net.block = nn.Linear
    assert.are.equal(nn.Linear, net.block)
    assert.are.equal(4, #net:parameters())
  end)

  it("registers a module activation of TransformerEncoderLayer last, as PyTorch", function()
    local l = nn.TransformerEncoderLayer(8, 2, {activation = nn.GELU(), dim_feedforward = 16})
    local kids = {}
    for name in l:named_children() do kids[#kids + 1] = name end
    assert.are.same({"self_attn", "linear1", "dropout", "linear2", "norm1", "norm2", "dropout1", "dropout2",
      "activation"}, kids)
    assert.are.equal(F.relu, nn.TransformerEncoderLayer(8, 2).activation) -- a function stays a plain field
  end)

  it("keeps buffers taking any tensor or nil", function()
    local bn = nn.BatchNorm1d(3)
    bn.running_mean = ks.ones(3)
    assert.are.same({1, 1, 1}, bn.running_mean:totable())
    assert.matches("cannot assign a number to buffer 'running_mean'", errmsg(function() bn.running_mean = 1 end))
  end)
end)

describe("nn.Module parameter assignment", function()
  it("rejects a tensor that does not require grad (it would be silently frozen)", function()
    local l = nn.Linear(3, 1)
    local e = errmsg(function() l.weight = ks.zeros(1, 3) end)
    assert.matches("nn_assign_spec.lua:%d+: cannot assign a tensor that does not require grad as parameter 'weight'", e)
    assert.truthy(e:find("ks.no_grad(function() m.weight:copy_(t) end)", 1, true))
    assert.truthy(e:find("t:requires_grad_()", 1, true))
    assert.truthy(e:find("register_parameter('weight', t)", 1, true))
    assert.is_true(l.weight.requires_grad) -- unchanged
  end)

  it("rejects non-tensors, other dtypes and non-leaf tensors", function()
    local l = nn.Linear(3, 1)
    assert.matches("cannot assign a number as parameter 'weight' %(not a tensor%)", errmsg(function() l.weight = 1 end))
    assert.matches("cannot assign a int64 tensor as parameter 'bias' %(not float32%)",
      errmsg(function() l.bias = ks.zeros({1}, "int64") end))
    local w = ks.ones(1, 3):requires_grad_()
    assert.matches("cannot assign a non%-leaf tensor", errmsg(function() l.weight = w * 2 end))
  end)

  it("accepts a trainable leaf, which the optimizer then updates, and nil", function()
    local l = nn.Linear(3, 1)
    l.weight = ks.zeros(1, 3):requires_grad_()
    local opt = optim.SGD(l:parameters(), {lr = 0.1})
    local loss = ((l(ks.ones(4, 3)) - 5) ^ 2):mean()
    opt:zero_grad()
    loss:backward()
    opt:step()
    assert.is_true(l.weight:abs():sum():item() > 0)
    l.bias = nil
    assert.are.same({"weight"}, names(l:named_parameters()))
  end)

  it("accepts any float32 tensor under ks.no_grad (evaluation with other weights)", function()
    local l = nn.Linear(3, 1)
    ks.no_grad(function() l.weight = ks.ones(1, 3) end)
    assert.are.same({{1, 1, 1}}, l.weight:totable())
    assert.has_error(function() ks.no_grad(function() l.weight = ks.ones({1, 3}, "int64") end) end)
  end)

  it("register_parameter still replaces a parameter (making it require grad)", function()
    local l = nn.Linear(3, 1)
    local t = ks.zeros(1, 3)
    l:register_parameter("weight", t)
    assert.are.equal(t, l.weight)
    assert.is_true(t.requires_grad)
  end)
end)
