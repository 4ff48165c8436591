-- What a PyTorch user types when porting small programs.
-- Expected numbers come from torch 1.13 on the same inputs (printed with 6
-- decimals), so the comparisons use 1e-5 tolerances.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local lr = require "kshot.optim.lr"
local D = require "kshot.dataset"
local autograd = require "kshot.autograd"
local F = ks.functional

local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

-- the tensors of c_torch.py / d_torch.py / e_torch.py
local function xs() return (ks.arange(24):float() * 0.37):sin():reshape(4, 6) end
local function logits() return ((ks.arange(15):float() * 0.9):sin() * 2):reshape(5, 3) end
local function targets() return (ks.arange(15):float() * 0.37):cos():reshape(5, 3) end

describe("tensor fields a PyTorch user reads", function()
  it("t.data is the same storage outside the graph (manual SGD updates)", function()
    local w = ks.ones(2, 3):requires_grad_()
    local d = w.data
    assert.is_false(d.requires_grad)
    assert.are.same({2, 3}, d:shape())
    local loss = (w * w):sum()
    loss:backward()
    w.data:add_(w.grad, {alpha = -0.1}) -- p.data -= lr * p.grad
    close({0.8, 0.8, 0.8, 0.8, 0.8, 0.8}, w)
    assert.is_true(w.requires_grad and w.is_leaf)
  end)

  it("t.T reverses the dims, t.mT swaps the last two, both differentiable", function()
    local x = xs()
    assert.are.same({6, 4}, x.T:shape())
    assert.is_true(ks.equal(x.T, x:t()))
    assert.are.same({4, 3, 2}, ks.ones(2, 3, 4).T:shape())
    assert.are.same({2, 4, 3}, ks.ones(2, 3, 4).mT:shape())
    assert.matches("mT is only supported on matrices", err_of(function() return ks.ones(3).mT end))
    local w = ks.ones(2, 3):requires_grad_()
    assert.are.equal("PermuteBackward", w.T.grad_fn)
    local y = w.T * ks.arange(2):float()
    y:sum():backward()
    close({0, 0, 0, 1, 1, 1}, w.grad)
  end)

  it("x.shape is the shape list; x.view(-1) (a method called with '.') says to use ':'", function()
    local x = ks.zeros(2, 3)
    assert.are.equal(3, x.shape[2])
    assert.is_true(x.shape == { 2, 3 })
    assert.matches("bad argument #1 to 'view' %(kshot.Tensor expected, got number; a method is called with ':', "
      .. "x:view%(...%) rather than x.view%(...%)%)", err_of(function() return x.view(-1) end))
    assert.matches("got no value; a method is called with ':', x:size%(...%)", err_of(function() return x.size() end))
    -- a method call with ':' on something else names the type only
    local fake = { sum = x.sum }
    local msg = err_of(function() return fake:sum() end)
    assert.matches("kshot.Tensor expected, got table", msg)
    assert.is_nil(msg:find("a method is called", 1, true))
  end)

  it("model.eval(), opt.step(), scheduler.step() (methods called with '.') name the method and ':'", function()
    local m = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    local opt = optim.SGD(m:parameters(), { lr = 0.1 })
    local sched = lr.StepLR(opt, 3)
    local cases = {
      { function() m.eval() end, "nn.Module:eval called without its object %(self is nil%): methods are called "
        .. "with ':', model:eval%(%)" },
      { function() m.train(false) end, "nn.Module:train called without its object %(self is boolean%)" },
      { function() local _ = m.parameters() end, "nn.Module:parameters called without" },
      { function() local _ = m.state_dict() end, "nn.Module:state_dict called without" },
      { function() opt.zero_grad() end, "Optimizer:zero_grad called without its object %(self is nil%): methods "
        .. "are called with ':', opt:zero_grad%(%)" },
      { function() opt.step() end, "Optimizer:step called without" },
      { function() sched.step() end, "LRScheduler:step called without its object" },
      { function() lr.ReduceLROnPlateau(opt).step(0.5) end, "ReduceLROnPlateau:step called without its object %(self is number%)" },
      { function() optim.LBFGS(m:parameters()).step() end, "LBFGS:step called without" },
    }
    for _, c in ipairs(cases) do
      local msg = err_of(c[1])
      assert.matches(c[2], msg)
      assert.matches("port_pytorch_spec.lua:%d+:", msg) -- at the caller's line, not inside kshot
    end
    -- the methods work as before with ':'
    m.eval(m)
    assert.is_false(m.training)
    m:train()
    assert.is_true(m[0].training)
    opt:zero_grad()
    opt:step()
    sched:step()
    assert.are.equal(0.1, sched:get_last_lr()[1])
  end)

  it("opt.param_groups[0], scheduler:get_last_lr()[0], model:parameters()[0] say the lists are 1-based", function()
    local m = nn.Linear(2, 3)
    local opt = optim.SGD(m:parameters(), { lr = 0.1 })
    local sched = lr.StepLR(opt, 3)
    assert.matches("port_pytorch_spec.lua:%d+: opt.param_groups: Lua lists are 1%-based, so the first group is %[1%] "
      .. "%(PyTorch's %[0%]%)", err_of(function() return opt.param_groups[0].lr end))
    assert.matches("scheduler:get_last_lr%(%): Lua lists are 1%-based, so the first learning rate is %[1%]",
      err_of(function() return sched:get_last_lr()[0] end))
    assert.matches("model:parameters%(%) %(and the other module lists%): Lua lists are 1%-based",
      err_of(function() return m:parameters()[0] end))
    assert.matches("Lua lists are 1%-based", err_of(function() return nn.Sequential(m):children()[0] end))
    -- the lists stay plain otherwise: [1], #, ipairs, absent entries nil
    assert.are.equal(0.1, opt.param_groups[1].lr)
    assert.is_nil(opt.param_groups[2])
    assert.are.equal(1, #opt.param_groups)
    assert.are.equal(0.1, sched:get_last_lr()[1])
    local n = 0
    for _, p in ipairs(m:parameters()) do n = n + p:numel() end
    assert.are.equal(9, n)
    assert.is_nil(m:parameters()[3])
  end)

  it("t.device is 'cpu' and t.is_cuda false, both read-only", function()
    local x = ks.ones(2)
    assert.are.equal("cpu", x.device)
    assert.is_false(x.is_cuda)
    assert.matches("tensor field 'device' is read%-only", err_of(function() x.device = "cuda" end))
    assert.matches("tensor field 'is_cuda' is read%-only", err_of(function() x.is_cuda = true end))
    assert.matches("tensor field 'ndim' is read%-only", err_of(function() x.ndim = 3 end))
    assert.matches("tensor field 'grad_fn' is read%-only", err_of(function() x.grad_fn = nil end))
  end)

  it("x:to('cpu') and x:cpu() return x itself; x:to('cuda') and x:cuda() say kshot is CPU-only", function()
    local x = ks.ones(2)
    assert.is_true(rawequal(x, x:to("cpu")))
    assert.is_true(rawequal(x, x:to(x.device)))
    assert.is_true(rawequal(x, x:cpu()))
    local y = x:to("cpu", ks.int64)
    assert.are.equal("int64", y:dtype())
    assert.are.same({ 1, 1 }, y:totable())
    for _, dev in ipairs { "cuda", "cuda:1", "mps" } do
      assert.matches("port_pytorch_spec.lua:%d+: kshot runs on the CPU only: there is no device '" .. dev:gsub("%p", "%%%0")
        .. "' %(x.device is \"cpu\", and x:to%(\"cpu\"%) returns x%)", err_of(function() return x:to(dev) + 0 end))
    end
    assert.matches("kshot runs on the CPU only: there is no device 'cuda'", err_of(function() return x:cuda() + 0 end))
    -- not a device: still the dtype error
    assert.matches("unknown dtype 'cudax'", err_of(function() return x:to("cudax") + 0 end))
    assert.matches("unknown dtype 'cpux'", err_of(function() return x:to("cpux") + 0 end))
  end)

  it("an unknown field is an error naming it and the nearest name, on reads and writes", function()
    local x = ks.ones(2, 3)
    -- reads used to give nil: `if x.requries_grad then` was silently false
    assert.matches("Tensor has no field 'requries_grad'; did you mean 'requires_grad'%?",
      err_of(function() return x.requries_grad end))
    assert.matches("Tensor has no field 'shap'; did you mean 'shape'%?", err_of(function() return x.shap end))
    assert.matches("Tensor has no field 'gard'; did you mean 'grad'%?", err_of(function() return x.gard end))
    -- the message points at the line that used the field
    assert.matches("port_pytorch_spec.lua:%d+: Tensor has no field", err_of(function() return x.is_cdua end))
    local far = err_of(function() return x.zzqqxx end)
    assert.matches("Tensor has no field 'zzqqxx' %(fields: requires_grad, grad,", far)
    assert.matches("methods are called with ':'", far)
    -- writes: a typo is not stored or dropped
    assert.matches("cannot set field 'requries_grad' of a tensor: Tensor has no field 'requries_grad'; "
      .. "did you mean 'requires_grad'%?", err_of(function() x.requries_grad = true end))
    assert.is_false(x.requires_grad)
    assert.matches("cannot set field 'add' of a tensor: 'add' is a tensor method", err_of(function() x.add = 1 end))
    -- what still works: known fields, methods, integer and table keys
    x.requires_grad = true
    assert.is_true(x.requires_grad)
    assert.is_nil(x.grad)
    assert.is_nil(x.grad_fn)
    assert.are.equal("function", type(x.sum))
    assert.are.same({3}, x[1]:shape())
    assert.are.same({2}, x[{{}, 0}]:shape())
    local y = ks.zeros(3)
    y[1] = 5
    assert.are.same({0, 5, 0}, y:totable())
    assert.matches("Tensor has no field", err_of(function() return x[""] end))
  end)
end)

describe("iterating like PyTorch", function()
  local function net()
    ks.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))
  end

  it("named_parameters and friends work in a generic for and stay lists", function()
    local m = net()
    local names = {}
    for name, p in m:named_parameters() do names[#names + 1] = name .. ":" .. p:numel() end
    assert.are.same({"0.weight:12", "0.bias:3", "1.weight:3", "1.bias:3", "2.weight:6", "2.bias:2"}, names)
    local n = 0
    for p in m:parameters() do n = n + p:numel() end
    assert.are.equal(29, n)
    local bufs = {}
    for name in m:named_buffers() do bufs[#bufs + 1] = name end
    assert.are.same({"1.running_mean", "1.running_var", "1.num_batches_tracked"}, bufs)
    local mods = {}
    for name, mod in m:named_modules() do mods[#mods + 1] = name .. "=" .. mod.__name end
    assert.are.same({"=Sequential", "0=Linear", "1=BatchNorm1d", "2=Linear"}, mods)
    local k = 0
    for _ in m:modules() do k = k + 1 end
    assert.are.equal(4, k)
    for _ in m:buffers() do k = k + 1 end
    assert.are.equal(7, k)
    local kids = 0
    for _ in m:children() do kids = kids + 1 end
    assert.are.equal(3, kids)
    -- still plain arrays
    local list = m:named_parameters()
    assert.are.equal(6, #list)
    assert.are.equal("2.bias", list[6][1])
    assert.are.equal(6, #m:parameters())
  end)

  it("a for loop that breaks early, then a new loop, starts from the first element", function()
    local m = net()
    local ps = m:parameters()
    for _ in ps do break end
    local first
    for p in ps do first = first or p end
    assert.are.equal(ps[1], first)
  end)

  it("for x, y in loader do iterates one epoch (nested loops each get their own)", function()
    local ds = D.TensorDataset(ks.arange(5), ks.arange(5) * 2)
    local loader = D.DataLoader(ds, {batch_size = 2})
    local firsts = {}
    for xb, yb in loader do
      firsts[#firsts + 1] = xb[0]:item()
      assert.is_true(ks.equal(yb, xb * 2))
    end
    assert.are.same({0, 2, 4}, firsts)
    local pairs_seen = 0
    for _ in loader do for _ in loader do pairs_seen = pairs_seen + 1 end end
    assert.are.equal(9, pairs_seen)
    for _ in loader do break end
    local again = 0
    for _ in loader do again = again + 1 end
    assert.are.equal(3, again)
  end)

  it("ds[i] is the row as a list {x_i, y_i}, as PyTorch's tuple", function()
    local ds = D.TensorDataset(ks.arange(5), ks.arange(5) * 2)
    local row = ds[3]
    assert.are.equal(3, row[1]:item())
    assert.are.equal(6, row[2]:item())
    assert.are.equal(2, row.n)
    local sub = D.Subset(ds, {4, 1})
    assert.are.equal(8, sub[0][2]:item())
    assert.are.equal(1, sub[1][1]:item())
    assert.matches("index 5 out of range %[0, 5%)", err_of(function() return ds[5] end))
    assert.matches("index %-1 out of range", err_of(function() return sub[-1] end))
    assert.are.equal(5, ds:len()) -- methods are still found
  end)
end)

describe("moving a model", function()
  it("to the CPU or float32 is a no-op returning the module; elsewhere an error", function()
    local m = nn.Linear(2, 2)
    assert.are.equal(m, m:to("cpu"))
    assert.are.equal(m, m:to(ks.float32))
    assert.are.equal(m, m:to({device = "cpu", dtype = "float32"}))
    assert.are.equal(m, m:float())
    assert.are.equal(m, m:cpu())
    assert.matches("Linear:to: kshot modules are float32 on the CPU; cannot move to cuda", err_of(function() return m:to("cuda") end))
    assert.matches("cannot move to int64", err_of(function() return m:to(ks.int64) end))
  end)
end)

describe("PyTorch's positional constructor arguments", function()
  it("Conv2d, pools, Linear, norms and Embedding take them in PyTorch's order", function()
    local x = ks.ones(2, 1, 8, 8)
    local c = nn.Conv2d(1, 4, 3, 1, 1)
    assert.are.same({1, 1}, c.stride)
    assert.are.same({1, 1}, c.padding)
    assert.are.same({2, 4, 8, 8}, c(x):shape())
    assert.are.same({2, 4, 3, 3}, nn.Conv2d(1, 4, 3, 2)(x):shape())
    assert.are.same({2, 4, 8, 8}, nn.Conv2d(1, 4, 3, nil, 1)(x):shape())
    assert.is_nil(nn.Conv2d(1, 4, 3, 1, 0, 1, 1, false).bias)
    assert.are.same({2, 1, 7, 7}, nn.MaxPool2d(2, 1)(x):shape())
    assert.are.same({2, 1, 4, 4}, nn.MaxPool2d(3, 2, 1)(x):shape())
    assert.are.same({2, 1, 8, 8}, nn.AvgPool2d(3, 1, 1)(x):shape())
    assert.is_nil(nn.Linear(4, 2, false).bias)
    local bn = nn.BatchNorm2d(8, 1e-3, 0.01)
    assert.are.equal(1e-3, bn.eps)
    assert.are.equal(0.01, bn.momentum)
    assert.are.equal(0, #nn.BatchNorm1d(3, 1e-5, 0.1, false):parameters())
    assert.are.equal(1e-3, nn.LayerNorm(4, 1e-3).eps)
    local e = nn.Embedding(10, 3, 0)
    assert.are.equal(0, e.padding_idx)
    assert.are.equal(0, e(ks.tensor({0}, ks.int64)):abs():sum():item())
    assert.are.equal(0.2, nn.Dropout({p = 0.2}).p)
    -- a positional value and a trailing options table
    assert.are.same({2, 4, 8, 8}, nn.Conv2d(1, 4, 3, 1, {padding = 1})(x):shape())
  end)

  it("reject what kshot lacks, duplicates and extras with errors naming them", function()
    assert.matches("MaxPool2d: unknown option 'dilation'", err_of(nn.MaxPool2d, 2, 2, 0, 1))
    assert.matches("Conv2d: unknown option 'padding_mode'", err_of(nn.Conv2d, 1, 2, 3, 1, 1, 1, 1, true, "zeros"))
    assert.matches("Conv2d: too many positional arguments %(after the required ones PyTorch's order is stride, padding",
      err_of(nn.Conv2d, 1, 2, 3, 1, 1, 1, 1, true, "zeros", 5))
    assert.matches("Conv2d: option 'stride' given both positionally and in the options table",
      err_of(nn.Conv2d, 1, 2, 3, 2, {stride = 1}))
    assert.matches("BatchNorm2d: option 'momentum' must be a number in %[0, 1%] or false, got 5", err_of(nn.BatchNorm2d, 2, 1e-5, 5))
    assert.matches("Dropout: unknown option 'q'", err_of(nn.Dropout, {q = 1}))
    assert.matches("Embedding: padding_idx must be an integer in %[%-3, 3%), got 3", err_of(nn.Embedding, 3, 2, 3))
  end)
end)

describe("torch.nn.init keyword arguments", function()
  it("go in one table after the tensor and give the positional result", function()
    local w1, w2 = ks.empty(64, 32), ks.empty(64, 32)
    ks.manual_seed(1)
    nn.init.kaiming_normal_(w1, {mode = "fan_out", nonlinearity = "relu"})
    ks.manual_seed(1)
    nn.init.kaiming_normal_(w2, 0, "fan_out", "relu")
    assert.is_true(ks.equal(w1, w2))
    nn.init.normal_(w1, {std = 0.02, generator = ks.Generator(3)})
    nn.init.normal_(w2, 0, 0.02, ks.Generator(3))
    assert.is_true(ks.equal(w1, w2))
    nn.init.kaiming_uniform_(w1, {a = math.sqrt(5), generator = ks.Generator(4)})
    nn.init.kaiming_uniform_(w2, math.sqrt(5), nil, nil, ks.Generator(4))
    assert.is_true(ks.equal(w1, w2))
    nn.init.uniform_(w1, {a = -1, b = 2, generator = ks.Generator(5)})
    assert.is_true(w1:min():item() >= -1 and w1:max():item() <= 2 and w1:min():item() < -0.9)
    -- xavier_normal_: std = gain * sqrt(2 / (fan_in + fan_out))
    local big = ks.empty(400, 600)
    nn.init.xavier_normal_(big, {gain = 2, generator = ks.Generator(6)})
    assert.is_true(math.abs(big:std():item() - 2 * math.sqrt(2 / 1000)) < 2e-3)
    assert.matches("init.normal_: unknown option 'sdt' %(known: mean, std, generator%)", err_of(nn.init.normal_, w1, {sdt = 1}))
    assert.matches("kaiming_normal_: mode must be 'fan_in' or 'fan_out'", err_of(nn.init.kaiming_normal_, w1, {mode = "fanout"}))
  end)
end)

describe("lr schedulers given PyTorch's positional options", function()
  local function new_opt() return optim.SGD({ks.zeros(1):requires_grad_()}, {lr = 0.1}) end
  local function lrs(opt, s, n)
    local out = {opt.param_groups[1].lr}
    for _ = 1, n do opt:step(); s:step(); out[#out + 1] = opt.param_groups[1].lr end
    return out
  end
  local function near(a, b)
    assert.are.equal(#a, #b)
    for i = 1, #a do assert.is_true(math.abs(a[i] - b[i]) < 1e-12, ("%d: %s vs %s"):format(i, a[i], b[i])) end
  end

  it("take them in torch's order, as the options table does", function()
    local pairs_ = {
      {function(o) return lr.StepLR(o, 2, 0.5) end, function(o) return lr.StepLR(o, {step_size = 2, gamma = 0.5}) end},
      {function(o) return lr.MultiStepLR(o, {1, 3}, 0.2) end,
        function(o) return lr.MultiStepLR(o, {milestones = {1, 3}, gamma = 0.2}) end},
      {function(o) return lr.CosineAnnealingLR(o, 4, 0.01) end,
        function(o) return lr.CosineAnnealingLR(o, {T_max = 4, eta_min = 0.01}) end},
      {function(o) return lr.LinearLR(o, 0.5, 1.0, 3) end,
        function(o) return lr.LinearLR(o, {start_factor = 0.5, end_factor = 1.0, total_iters = 3}) end},
      {function(o) return lr.CosineAnnealingWarmRestarts(o, 2, 2, 0.001) end,
        function(o) return lr.CosineAnnealingWarmRestarts(o, {T_0 = 2, T_mult = 2, eta_min = 0.001}) end},
      {function(o) return lr.LambdaLR(o, function(e) return 1 / (e + 1) end) end,
        function(o) return lr.LambdaLR(o, {lr_lambda = function(e) return 1 / (e + 1) end}) end},
      {function(o) return lr.StepLR(o, 2, {gamma = 0.3}) end, function(o) return lr.StepLR(o, {step_size = 2, gamma = 0.3}) end},
    }
    for _, p in ipairs(pairs_) do
      local o1, o2 = new_opt(), new_opt()
      near(lrs(o1, p[1](o1), 6), lrs(o2, p[2](o2), 6))
    end
    -- StepLR(opt, 2, 0.5): torch 1.13 gives 0.1, 0.1, 0.05, 0.05, 0.025
    local o = new_opt()
    near({0.1, 0.1, 0.05, 0.05, 0.025}, lrs(o, lr.StepLR(o, 2, 0.5), 4))
    -- SequentialLR(opt, schedulers, milestones)
    o = new_opt()
    local seq = lr.SequentialLR(o, {lr.ConstantLR(o, 0.5, 2), lr.ExponentialLR(o, 0.9)}, {2})
    near({0.05, 0.05, 0.1, 0.09}, lrs(o, seq, 3))
    -- kshot's own form: options table, then last_epoch
    o = new_opt()
    o.param_groups[1].initial_lr = 0.1
    assert.are.equal(3, lr.StepLR(o, {step_size = 2}, 2).last_epoch)
  end)

  it("say what is wrong", function()
    local opt = new_opt()
    assert.matches("StepLR: last_epoch must be an integer >= %-1, got 0.5", err_of(lr.StepLR, opt, 30, 0.1, 0.5))
    assert.matches("ExponentialLR: option 'gamma' is given twice %(positionally and in the options table%)",
      err_of(lr.ExponentialLR, opt, 0.9, {gamma = 0.5}))
    assert.matches("StepLR: takes at most 3 positional arguments after the optimizer %(step_size, gamma, last_epoch, "
      .. "as torch%), got 4", err_of(lr.StepLR, opt, 30, 0.1, -1, false))
    assert.matches("StepLR: the options table must be the last argument", err_of(lr.StepLR, opt, {step_size = 3}, 1, 2))
    assert.matches("CosineAnnealingWarmRestarts: param 'initial_lr' is not specified in param_groups%[0%] when "
      .. "resuming %(last_epoch is 2%)", err_of(lr.CosineAnnealingWarmRestarts, opt, 5, 1, 0, 2))
  end)
end)

describe("the C half of ks.functional takes PyTorch's keywords in a table", function()
  local x = ks.tensor({{1.0, 2.0, 3.0}, {-1.0, 0.5, 2.0}})
  local function same(a, b) assert.is_true(ks.equal(a, b), tostring(a) .. " vs " .. tostring(b)) end

  it("gives the positional result for every keyword form", function()
    same(F.softmax(x, 1), F.softmax(x, {dim = 1}))
    same(F.log_softmax(x, 0), F.log_softmax(x, {dim = 0}))
    close({0.090031, 0.244728, 0.665241}, F.softmax(x, {dim = 1})[0]) -- torch.softmax(x, dim=1)[0]
    same(F.leaky_relu(x, 0.1), F.leaky_relu(x, {negative_slope = 0.1}))
    close({-0.1, 0.5, 2.0}, F.leaky_relu(x, {negative_slope = 0.1})[1])
    same(F.gelu(x, "tanh"), F.gelu(x, {approximate = "tanh"}))
    same(F.gelu(x), F.gelu(x, {}))
    same(x, F.dropout(x, {p = 0.5, training = false}))
    same(x, F.dropout(x, 0.9, {training = false})) -- positional p, keyword training
    ks.manual_seed(3)
    local a = F.dropout(x, {p = 0.5})
    ks.manual_seed(3)
    same(a, F.dropout(x, 0.5, true))
    local w, b = ks.tensor({2.0, 1.0, 0.5}), ks.tensor({0.0, 1.0, -1.0})
    same(F.layer_norm(x, {3}, w, b, 1e-3), F.layer_norm(x, {3}, {weight = w, bias = b, eps = 1e-3}))
    same(F.layer_norm(x, {3}, w), F.layer_norm(x, {3}, w, {eps = 1e-5}))
    local emb = ks.arange(6):float():reshape(3, 2)
    local idx = ks.tensor({0, 2}, "int64")
    same(F.embedding(idx, emb, 2), F.embedding(idx, emb, {padding_idx = 2}))
    same(F.linear(x, emb:t(), ks.ones(2)), F.linear(x, emb:t(), {bias = ks.ones(2)}))
  end)

  it("batch_norm takes weight and bias among its keywords", function()
    local v = (ks.arange(12):float() * 0.7):sin():reshape(4, 3)
    local w, b = ks.tensor({1.0, 2.0, 3.0}), ks.tensor({0.0, 1.0, -1.0})
    local want = F.batch_norm(v, nil, nil, w, b, {training = true, eps = 1e-3})
    same(want, F.batch_norm(v, nil, nil, {weight = w, bias = b, training = true, eps = 1e-3}))
    same(want, F.batch_norm(v, nil, nil, w, {bias = b, training = true, eps = 1e-3}))
    -- F.batch_norm(x, rm, rv, training=True, momentum=0.5) in torch 1.13 updates the running stats so:
    local rm, rv = ks.zeros(3), ks.ones(3)
    F.batch_norm(v, rm, rv, {training = true, momentum = 0.5})
    close({0.0011, 0.0817, 0.1239}, rm, 1e-4)
    close({0.7508, 0.8029, 0.8706}, rv, 1e-4)
    assert.matches("batch_norm: unknown option 'wieght' .*did you mean 'weight'%?",
      err_of(F.batch_norm, v, nil, nil, {wieght = w}))
    assert.matches("batch_norm: 'weight' given twice", err_of(F.batch_norm, v, nil, nil, w, {weight = w}))
    assert.matches("batch_norm: option 'bias' must be a kshot.Tensor, got string",
      err_of(F.batch_norm, v, nil, nil, {bias = "b"}))
    assert.matches("batch_norm: argument 5 after the options table", err_of(F.batch_norm, v, nil, nil, {}, b))
  end)

  it("keeps gradients through the keyword form", function()
    local y = x:clone():requires_grad_()
    F.softmax(y, {dim = 1})[{{}, 0}]:sum():backward()
    local g1 = y.grad:clone()
    y.grad = nil
    F.softmax(y, 1)[{{}, 0}]:sum():backward()
    same(g1, y.grad)
  end)

  it("rejects unknown and torch-only keywords, duplicates, wrong types and missing dims", function()
    assert.matches("softmax: unknown option 'dims' %(known: dim%); did you mean 'dim'%?",
      err_of(F.softmax, x, {dims = 1}))
    assert.matches("log_softmax: dim is required, e.g. F.log_softmax%(x, 1%)", err_of(F.log_softmax, x, {}))
    assert.matches("softmax: dim is required", err_of(F.softmax, x))
    assert.matches("softmax: option 'dim' must be an integer, got a non%-integer number", err_of(F.softmax, x, {dim = 1.5}))
    assert.matches("dimension out of range", err_of(F.softmax, x, {dim = 2}))
    assert.matches("dropout: unknown option 'inplace' %(known: p, training%)", err_of(F.dropout, x, {inplace = true}))
    assert.matches("dropout: 'p' given twice %(argument 2 and the options table%)", err_of(F.dropout, x, 0.3, {p = 0.4}))
    assert.matches("dropout: option 'p' must be a number, got string", err_of(F.dropout, x, {p = "0.5"}))
    assert.matches("dropout: option 'training' must be a boolean, got number", err_of(F.dropout, x, {training = 1}))
    assert.matches("dropout: argument 3 after the options table", err_of(F.dropout, x, {p = 0.2}, true))
    assert.matches("leaky_relu: unknown option 'slope'", err_of(F.leaky_relu, x, {slope = 0.2}))
    assert.matches("gelu: approximate must be 'none' or 'tanh', got 'fast'", err_of(F.gelu, x, {approximate = "fast"}))
    assert.matches("layer_norm: option 'weight' must be a kshot.Tensor, got number", err_of(F.layer_norm, x, {3}, {weight = 3}))
    assert.matches("embedding: unknown option 'max_norm'", err_of(F.embedding, ks.tensor({0}, "int64"), x, {max_norm = 1}))
    assert.matches("linear: option 'bias' must be a kshot.Tensor, got table",
      err_of(F.linear, x, x, {bias = {1, 2}}))
  end)
end)

describe("functional ops composed in Lua (torch 1.13 values)", function()
  it("activations", function()
    local lg = logits()
    close({0.346574, 1.587979, 1.957761}, F.softplus(lg, {beta = 2})[0])
    close({0.346574, 1.587979, 1.957761}, F.softplus(lg, 2)[0])
    close({30, 0, 5}, F.softplus(ks.tensor({30.0, -30.0, 5.0}), {threshold = 4}))
    close({-100, -0.693147, -0.048587}, F.logsigmoid(ks.tensor({-100.0, 0.0, 3.0})))
    close({0, 1.475915, 1.887950}, F.mish(lg[0]))
    close({0.8, -0.5, -0.5}, F.hardtanh(lg[1], -0.5, 0.8))
    close({0.8, -0.5, -0.5}, F.hardtanh(lg[1], {min_val = -0.5, max_val = 0.8}))
    close({0, 6, 6}, F.relu6(lg[0] * 4))
    close({0.740004, 0.154470, 0.105526}, F.softmin(lg, 1)[0])
    close({0, 1.124148, 1.317929}, F.glu(ks.cat({lg, targets()}, 1), 1)[0])
    assert.matches("glu: halving dimension must be even", err_of(F.glu, lg, 1))
    assert.matches("hardtanh: min_val %(1%) must be <= max_val %(0%)", err_of(F.hardtanh, lg, 1, 0))
  end)

  it("losses and distances", function()
    local lg, t = logits(), targets()
    local b = t:gt(0):float()
    close({0.768108}, F.binary_cross_entropy(F.sigmoid(lg), b))
    close({15.042794}, F.binary_cross_entropy(F.sigmoid(lg), b, {weight = ks.tensor({1.0, 2.0, 0.5}), reduction = "sum"}), 1e-4)
    close({100}, F.binary_cross_entropy(ks.tensor({0.0, 1.0}), ks.tensor({1.0, 0.0})))
    close({0.507323}, F.huber_loss(lg, t, {delta = 0.5}))
    close({0.5, 0.201185, 0.709227}, F.huber_loss(lg, t, {reduction = "none"})[0])
    close({1.692513, 1.985147, 2.877277, 3.381586, 2.375246}, F.pairwise_distance(lg, t))
    close({0.746367, 0.683770, -0.206217, -0.626088, 0.308704}, F.cosine_similarity(lg, t, 1))
    close({0, 0.324122, 0.300923}, F.normalize(lg, 1.0, 0)[0])
    assert.matches("binary_cross_entropy: target of shape %[3%] must have the input's shape %[5, 3%]",
      err_of(F.binary_cross_entropy, F.sigmoid(lg), t[0]))
    assert.matches("huber_loss: reduction must be", err_of(F.huber_loss, lg, t, {reduction = "avg"}))
  end)

  it("group_norm and instance_norm", function()
    local im = (ks.arange(2 * 4 * 3 * 3):float() * 0.13):sin():reshape(2, 4, 3, 3)
    close({-2.261907, -1.845176, -1.435479, 1.495993, 1.771218, 1.941893},
      F.group_norm(im, 2, ks.tensor({1.0, 2.0, 3.0, 4.0}), ks.tensor({0.0, 0.1, 0.2, 0.3}))[{0, {0, 2}, 0}], 2e-5)
    close({-0.727478, -1.213475, -1.721252}, F.instance_norm(im)[{1, 3, 2}], 2e-5)
    assert.matches("group_norm: num_groups must be a positive integer dividing the 4 channels, got 3",
      err_of(F.group_norm, im, 3))
  end)

  it("softplus and logsigmoid have torch's derivative at 0 (0.5), also far from 0", function()
    local z = ks.tensor({-40.0, 0.0, 40.0}):requires_grad_()
    F.softplus(z):sum():backward()
    close({0, 0.5, 1}, z.grad)
    z.grad = nil
    F.logsigmoid(z):sum():backward()
    close({1, 0.5, 0}, z.grad)
  end)

  it("carry gradients (finite differences)", function()
    local x = (ks.arange(12):float() * 0.7):sin():reshape(3, 4):requires_grad_()
    local y = (ks.arange(12):float() * 0.3):cos():reshape(3, 4)
    for _, fn in ipairs({
      function(a) return F.softplus(a, {beta = 2}) end, function(a) return F.mish(a) end,
      function(a) return F.logsigmoid(a) end, function(a) return F.huber_loss(a, y, {delta = 0.5, reduction = "none"}) end,
      function(a) return F.binary_cross_entropy(F.sigmoid(a), y:gt(0):float()) end,
      function(a) return F.group_norm(a:reshape(1, 4, 3), 2) end, function(a) return F.glu(a, 1) end,
      function(a) return F.pairwise_distance(a, y) end, function(a) return F.softmin(a, 0) end,
    }) do
      assert.is_true(autograd.gradcheck(fn, {x}))
    end
  end)
end)

describe("F.adaptive_max_pool2d and F.interpolate (torch 1.13 values)", function()
  local function x0() return (ks.arange(12):float() * 0.7):sin():reshape(1, 1, 3, 4) end
  local function wts(y) return (ks.arange(y:numel()):float() * 0.3):cos():reshape(y:shape()) end
  -- value and input gradient of (f(x) * w):sum(), torch's numbers (spec/fixtures/torch_refs/interpolate.py)
  local function check(fn, want_y, want_g)
    local x = x0():requires_grad_()
    local y = fn(x)
    close(want_y, y)
    local loss = (y * wts(y)):sum()
    loss:backward()
    close(want_g, x.grad)
    assert.is_true(autograd.gradcheck(fn, {x0():requires_grad_()}))
  end

  it("bilinear with and without align_corners, by size or scale_factor", function()
    check(function(a) return F.interpolate(a, {size = {5, 3}, mode = "bilinear", align_corners = false}) end,
      {0.107370, 0.814834, 0.883583, 0.152699, 0.244428, 0.144560, 0.220693, -0.611179, -0.963973, -0.225675,
        -0.042332, 0.174194, -0.523253, 0.336900, 0.932971},
      {1.144138, 0.815203, 0.731005, 0.723148, -0.283489, -0.434648, -0.561965, -0.920076, -1.199335, -0.899831,
        -0.840422, -0.902291})
    check(function(a) return F.interpolate(a, {5, 3}, nil, "bilinear", true) end, -- torch's positional order
      {0.000000, 0.814834, 0.863209, 0.167494, 0.101827, -0.059622, 0.334988, -0.611179, -0.982453, -0.148139,
        -0.137140, 0.002858, -0.631267, 0.336900, 0.988168},
      {1.310805, 0.568258, 0.568258, 0.860704, -0.368433, -0.409332, -0.409332, -1.195765, -1.348794, -0.610464,
        -0.610464, -0.984000})
    check(function(a) return F.interpolate(a, {scale_factor = 1.5, mode = "bilinear"}) end,
      {0.000000, 0.322109, 0.701090, 0.928578, 0.924330, 0.863209, 0.167494, 0.157106, 0.131754, 0.071900,
        -0.001342, -0.059622, 0.173946, -0.057786, -0.344067, -0.562266, -0.635415, -0.654016, -0.470224,
        -0.257338, 0.029994, 0.327780, 0.530979, 0.659732},
      {1.237856, 0.760251, 0.151099, -0.489322, -1.114241, -0.950316, -0.618937, -0.174658, 0.666754, 1.019010,
        1.188030, 1.145989})
  end)

  it("nearest (also for integer images) and linear on 3-D inputs", function()
    check(function(a) return F.interpolate(a, {size = {5, 3}}) end,
      {0.000000, 0.644218, 0.985450, 0.000000, 0.644218, 0.985450, 0.334988, -0.350783, -0.871576, 0.334988,
        -0.350783, -0.871576, -0.631267, 0.016814, 0.656987},
      {1.621610, 1.317694, 0.896073, 0.000000, -1.131274, -1.494839, -1.724874, 0.000000, -0.896758, -0.725932,
        -0.490261, 0.000000})
    local img = ks.arange(6):reshape(1, 1, 2, 3):byte()
    local up = F.interpolate(img, {scale_factor = 2})
    assert.are.equal("uint8", up:dtype())
    assert.are.same({{0, 0, 1, 1, 2, 2}, {0, 0, 1, 1, 2, 2}, {3, 3, 4, 4, 5, 5}, {3, 3, 4, 4, 5, 5}}, up[0][0]:totable())
    -- 1-D: torch.nn.functional.interpolate(torch.tensor([[[0., 1., 4.]]]), size=5, mode="linear")
    close({0.0, 0.4, 1.0, 2.8, 4.0}, F.interpolate(ks.tensor({{{0.0, 1.0, 4.0}}}), {size = 5, mode = "linear"}))
    close({0.0, 0.5, 1.0, 2.5, 4.0},
      F.interpolate(ks.tensor({{{0.0, 1.0, 4.0}}}), {size = 5, mode = "linear", align_corners = true}))
    assert.are.same({{{0, 0, 1, 4}}}, F.interpolate(ks.tensor({{{0, 1, 4}}}, "uint8"), 4):totable()) -- floor(d * 3/4)
  end)

  it("adaptive_max_pool2d over overlapping windows; the gradient goes to the first max, row-major", function()
    check(function(a) return F.adaptive_max_pool2d(a, {2, 3}) end,
      {0.644218, 0.985450, 0.985450, 0.334988, 0.656987, 0.988168},
      {0.000000, 1.000000, 1.780672, 0.000000, 0.621610, 0.000000, 0.000000, 0.000000, 0.000000, 0.000000,
        0.362358, 0.070737})
    local z = ks.tensor({{0, 1, 0, 1}, {1, 0, 1, 0}, {0, 0, 0, 0}}):float():reshape(1, 1, 3, 4):requires_grad_()
    F.adaptive_max_pool2d(z, {output_size = {1, 2}}):sum():backward()
    close({0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}, z.grad)
    z.grad = nil
    F.adaptive_max_pool2d(z, 1):sum():backward()
    close({0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, z.grad)
    -- 3-D input, output as large as the input: the identity
    local c = (ks.arange(2 * 3 * 4):float() * 0.3):sin():reshape(2, 3, 4)
    assert.is_true(ks.equal(c, F.adaptive_max_pool2d(c, {3, 4})))
    assert.are.same({2, 1, 1}, F.adaptive_max_pool2d(c, 1):shape())
  end)

  it("reject bad inputs with errors naming the problem", function()
    local x = x0()
    assert.matches("either size or scale_factor must be given", err_of(F.interpolate, x, {mode = "bilinear"}))
    assert.matches("only one of size and scale_factor", err_of(F.interpolate, x, {size = 2, scale_factor = 2}))
    assert.matches("mode 'trilinear' needs a 5%-D %[N, C, D, H, W%] input", err_of(F.interpolate, x, {size = 2, mode = "trilinear"}))
    assert.matches("unknown mode bilinar", err_of(F.interpolate, x, {size = 2, mode = "bilinar"}))
    assert.matches("unknown option 'align_corner'.*did you mean 'align_corners'",
      err_of(F.interpolate, x, {size = 2, align_corner = true}))
    assert.matches("align_corners can only be set with the interpolating modes",
      err_of(F.interpolate, x, {size = 2, align_corners = false}))
    assert.matches("mode 'bilinear' needs a 4%-D %[N, C, H, W%] input, got shape %[1, 3, 4%]",
      err_of(F.interpolate, x[0], {size = 2, mode = "bilinear"}))
    assert.matches("mode 'linear' needs a 3%-D", err_of(F.interpolate, x, {size = 2, mode = "linear"}))
    assert.matches("mode 'nearest' needs a 3%-D %[N, C, L%] or 4%-D", err_of(F.interpolate, ks.ones(4), {size = 2}))
    assert.matches("mode 'bilinear' needs a float32 input, got uint8",
      err_of(F.interpolate, x:byte(), {size = 2, mode = "bilinear"}))
    assert.matches("size must be a positive integer or 2 of them, got {2, 3, 4}", err_of(F.interpolate, x, {2, 3, 4}))
    assert.matches("size must be a positive integer or 2 of them, got 0", err_of(F.interpolate, x, 0))
    assert.matches("scale_factor must be a positive number or 2 of them", err_of(F.interpolate, x, nil, -1))
    assert.matches("scale_factor 0.1 gives an empty output", err_of(F.interpolate, x, {scale_factor = 0.1}))
    assert.matches("option 'mode' given both positionally and in the options table",
      err_of(F.interpolate, x, 2, nil, "nearest", {mode = "bilinear"}))
    assert.matches("argument 'input' must be a tensor, got table", err_of(F.interpolate, {}, {size = 2}))
    assert.matches("expected a 3%-D %[C, H, W%] or 4%-D %[N, C, H, W%] input, got shape %[3, 4%]",
      err_of(F.adaptive_max_pool2d, ks.ones(3, 4), 2))
    assert.matches("output_size must be a positive integer or 2 of them, got nil", err_of(F.adaptive_max_pool2d, x))
    assert.matches("output_size must be a positive integer or 2 of them, got {2}", err_of(F.adaptive_max_pool2d, x, {2}))
    assert.matches("return_indices must be a boolean, got string", err_of(F.adaptive_max_pool2d, x, 2, "true"))
    assert.matches("unknown option 'size'", err_of(F.adaptive_max_pool2d, x, {size = 2}))
    assert.matches("must be float32, got int64", err_of(F.adaptive_max_pool2d, ks.ones(1, 2, 2):long(), 1))
  end)
end)

describe("tensor methods a PyTorch user calls", function()
  it("t:softmax(dim) and t:log_softmax(dim), also ks.softmax", function()
    local x = ks.tensor({{1.0, 2.0}, {3.0, 4.0}})
    close({0.268941, 0.731059, 0.268941, 0.731059}, x:softmax(1))
    close({-2.126928, -2.126928, -0.126928, -0.126928}, x:log_softmax(0))
    close({0.268941, 0.731059, 0.268941, 0.731059}, ks.softmax(x, {dim = -1}))
    assert.is_true(ks.equal(x:softmax(1), F.softmax(x, 1)))
    assert.matches("dim expected", err_of(x.softmax, x))
    local w = x:clone():requires_grad_()
    assert.is_true(autograd.gradcheck(function(a) return a:log_softmax(1) end, {w}))
  end)

  it("ks.fmod / t:fmod: C's remainder, the sign of the dividend (torch.fmod), with gradients", function()
    local I = function(t) return ks.tensor(t, ks.int64) end
    local ii, jj = I{-7, 7, 5}, I{2, -2, 2}
    assert.is_true(ks.equal(ks.fmod(ii, jj), I{-1, 1, 1}))
    assert.is_true(ks.equal(ii % jj, I{1, -1, 1})) -- remainder keeps Python's sign
    assert.is_true(ks.equal(ii:fmod(3), I{-1, 1, 2}))
    close({-0.7, 0.5, 0}, ks.fmod(ks.tensor({-1.7, 2.5, -3.0}), 1.0))
    local a = ks.tensor({5.5, -7.25}):requires_grad_()
    local b = ks.tensor({2.0, 3.0}):requires_grad_()
    local y = ks.fmod(a, b)
    close({1.5, -1.25}, y)
    assert.are.equal("FmodBackward", y.grad_fn)
    y:sum():backward()
    close({1, 1}, a.grad)
    close({-2, 2}, b.grad)
    local z = ii:clone()
    z:fmod_(3)
    assert.is_true(ks.equal(z, I{-1, 1, 2}))
    assert.matches("fmod: integer division by zero", err_of(ks.fmod, ii, 0))
  end)

  it("repeat_interleave with a count, per-slice counts, and without dim (flattened)", function()
    local x = ks.tensor({{1.0, 2.0}, {3.0, 4.0}})
    close({1, 1, 2, 2, 3, 3, 4, 4}, x:repeat_interleave(2))
    local r0 = x:repeat_interleave(2, 0)
    assert.are.same({4, 2}, r0:shape())
    close({1, 2, 1, 2, 3, 4, 3, 4}, r0)
    close({1, 2, 2, 3, 4, 4}, x:repeat_interleave(ks.tensor({1, 2}, ks.int64), 1))
    assert.are.equal("int64", ks.tensor({1, 2}, ks.int64):repeat_interleave(2):dtype())
    assert.are.same({0}, x:repeat_interleave(0):shape())
    local w = ks.ones(3):requires_grad_()
    local y = w:repeat_interleave(2) * ks.arange(6):float()
    y:sum():backward()
    close({1, 5, 9}, w.grad)
    assert.matches("repeats must be >= 0", err_of(x.repeat_interleave, x, -1))
    assert.matches("repeats must be an integer or an int64 tensor of 2 or 1 counts", err_of(x.repeat_interleave, x,
      ks.tensor({1, 2, 3}, ks.int64), 0))
    assert.matches("repeats must be an integer", err_of(x.repeat_interleave, x, "2"))
    assert.matches("out of range", err_of(x.repeat_interleave, x, 2, 2))
  end)
end)

describe("t:new_* and t:is_floating_point (torch.Tensor's)", function()
  local f, i, u = ks.ones(2, 3), ks.tensor({1, 2}, "int64"), ks.tensor({1, 2}, "uint8")

  it("make fresh tensors in t's dtype, sizes as varargs or a table", function()
    local z = f:new_zeros(2, 2)
    assert.are.same({{0, 0}, {0, 0}}, z:totable())
    assert.are.equal("float32", z:dtype())
    assert.are.same({3}, f:new_ones({3}):shape())
    assert.are.same({1, 1}, i:new_ones(2):totable())
    assert.are.equal("int64", i:new_ones(2):dtype())
    assert.are.equal("uint8", u:new_zeros(1, 2):dtype())
    assert.are.same({}, i:new_zeros({}):shape()) -- 0-d
    assert.are.same({2, 1}, f:new_empty(2, 1):shape())
    assert.are.same({{7, 7}, {7, 7}}, i:new_full({2, 2}, 7):totable())
    assert.are.equal("int64", i:new_full({2, 2}, 7):dtype())
    assert.are.same({1, 1}, i:new_full({2}, 1.5):totable()) -- torch: the dtype is t's, the value truncated
    assert.are.same({2.5, 2.5, 2.5}, f:new_full(3, 2.5):totable())
    assert.are.same({255}, u:new_full({1}, 255):totable())
    -- new_tensor: the data in t's dtype; a tensor is copied, cut from its graph
    assert.are.equal("int64", i:new_tensor({1, 2, 3}):dtype())
    assert.are.same({1}, i:new_tensor({1.5}):totable())
    assert.are.equal("float32", f:new_tensor({1, 2}):dtype()) -- integers, but t is float32
    assert.are.same({}, f:new_tensor(5):shape())
    local g = ks.ones(2):requires_grad_()
    local c = g:new_tensor(g * 2)
    assert.is_false(c.requires_grad)
    assert.is_true(c.is_leaf)
    c:add_(1)
    assert.are.same({1, 1}, g:detach():totable()) -- no storage shared
    assert.are.same({1, 2}, f:new_tensor(ks.tensor({1, 2}, "int64")):totable())
    -- options: another dtype, requires_grad
    assert.are.equal("int64", f:new_zeros(2, {dtype = "int64"}):dtype())
    assert.are.equal("float32", i:new_ones(2, "float32"):dtype())
    assert.is_true(f:new_ones(2, {requires_grad = true}).requires_grad)
    assert.is_false(f:new_ones(2).requires_grad)
  end)

  it("is_floating_point is true for float32 only", function()
    assert.is_true(f:is_floating_point())
    assert.is_false(i:is_floating_point())
    assert.is_false(u:is_floating_point())
    assert.is_false(ks.tensor({true}):is_floating_point())
  end)

  it("reject bad sizes, values, data and options with errors naming the method", function()
    assert.matches("new_zeros: size %(integers or a table%) expected, got no value", err_of(function() return f:new_zeros() end))
    assert.matches("new_ones: size %(integers or a table%) expected, got string", err_of(function() return f:new_ones("2") end))
    assert.matches("new_empty: negative size %-1", err_of(function() return f:new_empty(-1) end))
    assert.matches("new_zeros: unknown option 'dtpye' .*did you mean 'dtype'%?",
      err_of(function() return f:new_zeros(2, {dtpye = "int64"}) end))
    assert.matches("new_ones: only floating point %(float32%) tensors can require gradients, got int64",
      err_of(function() return i:new_ones(2, {requires_grad = true}) end))
    assert.matches("new_full%(?%)?: value 300 cannot be converted to uint8", err_of(function() return u:new_full({2}, 300) end))
    assert.matches("new_full: fill value expected", err_of(function() return f:new_full({2}) end))
    assert.matches("new_full: size %(a table or an integer%) expected, got string", err_of(function() return f:new_full("x", 1) end))
    assert.matches("fill value must be a number or boolean, got table", err_of(function() return f:new_full({2}, {}) end))
    assert.matches("new_tensor: data %(a number, boolean, table or tensor%) expected, got string",
      err_of(function() return f:new_tensor("abc") end))
    assert.matches("new_tensor: data .* expected", err_of(function() return f:new_tensor() end))
    assert.matches("new_tensor: only floating point", err_of(function() return i:new_tensor({1}, {requires_grad = true}) end))
    assert.matches("unexpected extra argument", err_of(function() return f:new_tensor({1}, {}, 3) end))
    assert.matches("kshot.Tensor expected", err_of(function() return f.new_zeros({}, 2) end))
  end)
end)

describe("indexing with several index tensors (x[rows, cols])", function()
  local I = function(t) return ks.tensor(t, ks.int64) end

  it("reads element tuples, broadcast, in place of the indexed dims (torch values)", function()
    local x = ks.arange(24):float():reshape(2, 3, 4)
    local r = x[{I{0, 1}, I{2, 0}}]
    assert.are.same({2, 4}, r:shape())
    close({8, 9, 10, 11, 12, 13, 14, 15}, r)
    close({11, 15}, x[{I{0, 1}, I{2, 0}, I{3, -1}}])
    close({1, 11, 13, 23}, x[{":", I{0, 2}, I{1, 3}}])
    assert.are.same({2, 3, 4}, x[{I{{0}, {1}}, I{0, 1, 2}}]:shape())
    assert.is_true(ks.equal(x[{I{{0}, {1}}, I{0, 1, 2}}], x))
  end)

  it("picks the target log-probabilities of an NLL, with gradients", function()
    local logp = ks.tensor({{-1.0, -2.0, -3.0}, {-0.5, -1.5, -2.5}}):requires_grad_()
    local nll = -logp[{ks.arange(2), I{2, 0}}]:mean()
    close({1.75}, nll)
    nll:backward()
    close({0, 0, -0.5, -0.5, 0, 0}, logp.grad)
  end)

  it("writes element tuples", function()
    local z = ks.zeros(3, 3)
    z[{I{0, 1, 2}, I{2, 1, 0}}] = 7
    z[{I{0, 1}, I{0, 0}}] = ks.tensor({1.0, 2.0})
    close({1, 0, 7, 2, 7, 0, 7, 0, 0}, z)
  end)

  it("names bad tuples", function()
    local x = ks.arange(24):float():reshape(2, 3, 4)
    assert.matches("index 5 is out of bounds for dimension 0 with size 2", err_of(function() return x[{I{0, 5}, I{0, 0}}] end))
    assert.matches("index 4 is out of bounds for dimension 2 with size 4", err_of(function() return x[{":", I{0, 0}, I{1, 4}}] end))
    assert.matches("index tensors could not be broadcast together: %[2%] and %[3%]",
      err_of(function() return x[{I{0, 1}, I{0, 1, 2}}] end))
  end)
end)

describe("ks.einsum (torch.einsum)", function()
  local x = xs()
  local B1, B2 = x:reshape(2, 3, 4), x:reshape(2, 4, 3)

  it("matches torch on products, transposes, sums and implicit outputs", function()
    close({0.693253, 0.238909, -0.247770, 1.397379, 1.457219, 1.319832, -0.439848, 0.025348, 0.487113,
      0.598335, 0.063677, -0.479599, 1.149900, 1.252807, 1.186151, -0.389809, 0.163511, 0.694699},
      ks.einsum("bij,bjk->bik", B1, B2))
    assert.is_true(ks.allclose(ks.einsum("bij,bjk->bik", B1, B2), ks.bmm(B1, B2)))
    assert.is_true(ks.equal(ks.einsum("ij->ji", x), x:t()))
    close({-0.031796, 0.126877, 0.174581, 0.255706, -0.179291, -0.436052, 0.042201, 0.271526},
      ks.einsum("ij,jk", x[{":", {0, 4}}], x[{{0, 4}, {0, 2}}]))
    close({-0.057763, -0.201557, 0.033781, 0.156317}, ks.einsum("ij,jk,kl->il", x[{{0, 2}, {0, 3}}],
      x[{{0, 3}, {0, 4}}], x[{{0, 4}, {0, 2}}]))
    local s = ks.einsum("i,i->", x[0], x[1])
    assert.are.same({}, s:shape())
    close({-1.153798}, s)
    close({0, 0, 0, 0.288050, 0.189502, 0.065306}, ks.einsum("i,j->ij", x[{0, {0, 2}}], x[{1, {0, 3}}]))
    close({0.201395, 0.569725, 0.860945, 1.035640, 1.070166, 0.959850}, ks.einsum("ij->j", x))
    close({0, 0.995881, 0.180596, -0.963131, -0.355253, 0.898708}, ks.einsum("abc->cab", B1)[0])
    close({1.291589, 0.302586, -0.727369, 2.547279, 2.710026, 2.505983, -0.829657, 0.188859, 1.181813},
      ks.einsum("bij,bjk->ik", B1, B2))
    close({-1.153798}, ks.einsum(" i , i -> ", {x[0], x[1]}))
  end)

  it("carries gradients", function()
    local a = x[{":", {0, 3}}]:clone():requires_grad_()
    local b = x[{{0, 3}, ":"}]:clone():requires_grad_()
    local y = ks.einsum("ij,jk->ik", a, b) * x
    y:sum():backward()
    close({3.303535, -1.153798, -1.908472, -1.153798, 1.898627, -1.141840, -1.908472, -1.141840, 3.289076,
      3.461340, -0.518022, -2.834997}, a.grad)
    close({1.697533, 1.625939, 1.334282, 0.862037, 0.273118, -0.352765, 1.625939, 1.857345, 1.837368,
      1.568712, 1.087739, 0.459544, 1.334282, 1.837368, 2.091775, 2.063070, 1.755138, 1.209656}, b.grad)
  end)

  it("rejects bad equations with errors naming the problem", function()
    assert.matches("einsum: the equation 'ij,jk%->ik' has 2 operand%(s%) but 1 tensor%(s%) were given",
      err_of(ks.einsum, "ij,jk->ik", x))
    assert.matches("einsum: operand 0 has 2 dims %(shape %[4, 6%]%) but its subscripts 'ijk' name 3",
      err_of(ks.einsum, "ijk->i", x))
    assert.matches("einsum: subscript 'j' has size 4 in operand 1 but 6 before", err_of(ks.einsum, "ij,jk->ik", x, x))
    assert.matches("diagonals are not supported", err_of(ks.einsum, "ii->i", ks.ones(3, 3)))
    assert.matches("ellipsis", err_of(ks.einsum, "...ij->...ji", x))
    assert.matches("output subscript 'z' does not appear", err_of(ks.einsum, "ij->z", x))
    assert.matches("operand 1 must be a tensor, got number", err_of(ks.einsum, "i,i->", x[0], 3))
    assert.matches("argument 'equation' must be a string", err_of(ks.einsum, x, x))
  end)
end)

describe("autograd for intermediate tensors (d_torch.py values)", function()
  local function setup()
    local W = ((ks.arange(12):float() * 0.7):sin() * 0.5):reshape(4, 3):requires_grad_()
    local X = (ks.arange(20):float() * 0.31):cos():reshape(5, 4)
    return W, X
  end
  local H_GRAD = {0.122144, 0.502574, 0.612851, 0.251450, 0.125197, -0.064416, 0.044179, -0.440649, -0.635330,
    -0.224391, -0.407964, -0.409338, -0.190159, 0.190243, 0.450476}
  local W_GRAD = {0.310241, 1.279145, 1.546373, 0.120962, 1.252865, 1.675286, -0.079849, 1.107146, 1.644489,
    -0.273047, 0.855880, 1.456918}

  it("t:retain_grad() keeps a non-leaf's gradient in .grad (accumulating)", function()
    local W, X = setup()
    local h = X:matmul(W)
    h:retain_grad()
    assert.is_true(h.retains_grad)
    assert.is_false(W.retains_grad)
    local s = (h:tanh() ^ 2):sum()
    s:backward({retain_graph = true})
    close(H_GRAD, h.grad)
    close(W_GRAD, W.grad)
    s:backward()
    close(H_GRAD, h.grad / 2)
    assert.are.equal(W, W:retain_grad()) -- a leaf: nothing to do
    local plain = X:matmul(W)
    plain:sum():backward()
    assert.is_nil(plain.grad)
    assert.matches("can't retain_grad on a tensor that has requires_grad=false", err_of(function() return X:retain_grad() end))
  end)

  it("autograd.grad returns the gradients as a list and leaves .grad alone", function()
    local W, X = setup()
    local out = X:matmul(W):sigmoid():sum()
    local g = autograd.grad(out, W)
    close({-0.014123, -0.013915, -0.013543, -0.016807, -0.016538, -0.016113, -0.017888, -0.017585, -0.017148,
      -0.017264, -0.016955, -0.016547}, g[1])
    assert.are.equal(1, g.n)
    assert.is_nil(W.grad)
    local h = X:matmul(W)
    local r = autograd.grad((h:tanh() ^ 2):sum(), {h, W, h})
    close(H_GRAD, r[1])
    close(W_GRAD, r[2])
    assert.is_true(ks.equal(r[1], r[3]))
    assert.is_nil(W.grad)
    -- grad_outputs for a non-scalar output, a leaf output
    local v = X:matmul(W)
    close({-0.028232, -0.028232, -0.028232, -0.033592, -0.033592, -0.033592, -0.035751, -0.035751, -0.035751,
      -0.034500, -0.034500, -0.034500}, autograd.grad(v, W, {grad_outputs = ks.full({5, 3}, 0.5)})[1])
    assert.are.equal(24, autograd.grad(W, W, {grad_outputs = ks.full({4, 3}, 2.0)})[1]:sum():item())
    -- the returned gradient is never the caller's tensor
    local go = ks.ones(4, 3)
    local gw = autograd.grad(W, W, {grad_outputs = go})[1]
    gw:add_(1)
    assert.are.equal(12, go:sum():item())
  end)

  it("autograd.grad reports unused inputs, bad options and freed graphs", function()
    local W, X = setup()
    local z = ks.ones(2):requires_grad_()
    assert.matches("inputs%[2%] was not used to compute the output", err_of(autograd.grad, X:matmul(W):sum(), {W, z}))
    local r = autograd.grad(X:matmul(W):sum(), {W, z}, {allow_unused = true})
    assert.are.same({4, 3}, r[1]:shape())
    assert.is_nil(r[2])
    assert.are.equal(2, r.n)
    assert.matches("inputs%[1%] does not require grad", err_of(autograd.grad, X:matmul(W):sum(), X))
    assert.is_not_nil(autograd.grad((X:matmul(W) ^ 2):sum(), W, {create_graph = true})[1].grad_fn) -- double backward: spec/autograd_double_spec.lua
    assert.matches("unknown option 'foo'", err_of(autograd.grad, X:matmul(W):sum(), W, {foo = 1}))
    assert.matches("grad can be implicitly created only for scalar outputs", err_of(autograd.grad, X:matmul(W), W))
    local out = X:matmul(W):sum()
    autograd.grad(out, W)
    assert.matches("backward through the graph a second time", err_of(autograd.grad, out, W))
    local out2 = X:matmul(W):sum()
    autograd.grad(out2, W, {retain_graph = true})
    assert.are.same({4, 3}, autograd.grad(out2, W)[1]:shape())
    assert.matches("outputs must be a tensor", err_of(autograd.grad, 3, W))
  end)
end)
