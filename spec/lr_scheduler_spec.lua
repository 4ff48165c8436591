-- kshot.optim.lr against PyTorch's schedules (spec/fixtures/lr_schedules.json,
-- written by spec/fixtures/make_optim_fixtures.py), composition, the range test, errors.
local ks = require "kshot"
local optim = require "kshot.optim"
local lr = require "kshot.optim.lr"
local json = require "dkjson"

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local f = assert(io.open(here .. "fixtures/lr_schedules.json", "rb"))
local fixtures = json.decode(f:read("a"))
f:close()

local function close(a, b) return math.abs(a - b) <= 1e-12 + 1e-9 * math.abs(b) end

local function sgd(rate)
  local p = ks.zeros(1)
  p.requires_grad = true
  return optim.SGD({p}, {lr = rate or 0.1, momentum = 0.9})
end

local builders = {
  step = function(o) return lr.StepLR(o, {step_size = 7, gamma = 0.5}) end,
  multistep = function(o) return lr.MultiStepLR(o, {milestones = {5, 12, 20}, gamma = 0.3}) end,
  exponential = function(o) return lr.ExponentialLR(o, 0.9) end,
  cosine = function(o) return lr.CosineAnnealingLR(o, {T_max = 10, eta_min = 0.001}) end,
  linear = function(o) return lr.LinearLR(o, {start_factor = 0.1, end_factor = 1.0, total_iters = 5}) end,
  warmup_cosine = function(o)
    return lr.SequentialLR(o, {lr.LinearLR(o, {start_factor = 0.1, total_iters = 5}), lr.CosineAnnealingLR(o, 25)},
      {milestones = {5}})
  end,
  chained = function(o)
    return lr.ChainedScheduler({lr.LinearLR(o, {start_factor = 0.2, total_iters = 4}), lr.ExponentialLR(o, 0.95)})
  end,
}

local function series(sched_fn, n)
  local o = sgd()
  local s = sched_fn(o)
  local out = {}
  for i = 1, n do
    out[i] = o.param_groups[1].lr
    s:step()
  end
  return out, o, s
end

describe("lr schedules match PyTorch", function()
  for _, fx in ipairs(fixtures) do
    it(fx.name .. " (" .. fx.scheduler .. ")", function()
      local got, moms = {}, {}
      if builders[fx.name] then
        got = series(builders[fx.name], #fx.lrs)
      elseif fx.scheduler == "OneCycleLR" then
        local o = sgd()
        local s = lr.OneCycleLR(o, fx.args)
        for i = 1, #fx.lrs do
          got[i], moms[i] = o.param_groups[1].lr, o.param_groups[1].momentum
          s:step()
        end
        for i, m in ipairs(fx.momentums) do assert.is_true(close(moms[i], m), "momentum " .. i) end
      else
        local o = sgd()
        local s = lr.ReduceLROnPlateau(o, fx.args)
        for i, m in ipairs(fx.metrics) do
          s:step(m)
          got[i] = o.param_groups[1].lr
        end
      end
      assert.equal(#fx.lrs, #got)
      for i, want in ipairs(fx.lrs) do
        assert.is_true(close(got[i], want), string.format("%s step %d: got %.17g, want %.17g", fx.name, i - 1, got[i], want))
      end
    end)
  end
end)

describe("lr schedules", function()
  it("StepLR follows gamma^floor(e/s) and jumps with step(epoch)", function()
    local o = sgd(1)
    local s = lr.StepLR(o, {step_size = 2, gamma = 0.5})
    local seen = {}
    for i = 1, 6 do seen[i] = o.param_groups[1].lr; s:step() end
    assert.same({1, 1, 0.5, 0.5, 0.25, 0.25}, seen)
    s:step(10)
    assert.equal(1 / 32, o.param_groups[1].lr)
    assert.same({1 / 32}, s:get_last_lr())
  end)

  it("schedules every parameter group from its own initial rate", function()
    local a, b = ks.zeros(1), ks.zeros(1)
    a.requires_grad, b.requires_grad = true, true
    local o = optim.SGD({{params = {a}, lr = 1}, {params = {b}, lr = 0.1}})
    local s = lr.ExponentialLR(o, 0.5)
    s:step()
    assert.same({0.5, 0.05}, {o.param_groups[1].lr, o.param_groups[2].lr})
  end)

  it("resumes from state_dict", function()
    local _, o1, s1 = series(builders.warmup_cosine, 12)
    local o2 = sgd()
    local s2 = builders.warmup_cosine(o2)
    s2:load_state_dict(s1:state_dict())
    o2:load_state_dict(o1:state_dict())
    for _ = 1, 10 do s1:step(); s2:step() end
    assert.equal(o1.param_groups[1].lr, o2.param_groups[1].lr)
  end)

  it("saves and loads through a checkpoint file (ReduceLROnPlateau keeps best = inf)", function()
    local o = sgd()
    local s = lr.ReduceLROnPlateau(o, {patience = 1})
    local path = os.tmpname()
    optim.save_checkpoint(path, {optimizer = o, scheduler = s})
    local o2 = sgd(0.5)
    local s2 = lr.ReduceLROnPlateau(o2, {patience = 3})
    s2.best = 0
    optim.load_checkpoint(path, {optimizer = o2, scheduler = s2})
    os.remove(path)
    assert.equal(math.huge, s2.best)
    assert.equal(1, s2.patience)
    assert.equal(0.1, o2.param_groups[1].lr)
    assert.is_true(o2.param_groups[1].momentum == 0.9)
  end)

  it("OneCycleLR cycles Adam's beta1", function()
    local p = ks.zeros(1)
    p.requires_grad = true
    local o = optim.Adam({p}, {lr = 0.01})
    local s = lr.OneCycleLR(o, {max_lr = 0.1, total_steps = 10})
    assert.equal(0.95, o.param_groups[1].betas[1])
    assert.equal(0.999, o.param_groups[1].betas[2])
    for _ = 1, 3 do s:step() end
    assert.is_true(o.param_groups[1].betas[1] < 0.95)
    for _ = 1, 7 do s:step() end
    assert.has_error(function() s:step() end)
  end)

  it("OneCycleLR with cycle_momentum = false leaves momentum alone (torch: lr 0.02 at step 0 here)", function()
    for _, make in ipairs {
      function(p) return optim.SGD({p}, {lr = 0.1, momentum = 0.9}) end,
      function(p) return optim.Adagrad({p}, {lr = 0.1}) end,
    } do
      local p = ks.zeros(2)
      p.requires_grad = true
      local o = make(p)
      local s = lr.OneCycleLR(o, {max_lr = 0.5, total_steps = 10, cycle_momentum = false})
      assert.near(0.02, s:get_last_lr()[1], 1e-12)
      for _ = 1, 9 do s:step() end
      assert.is_true(o.param_groups[1].momentum == nil or o.param_groups[1].momentum == 0.9)
    end
  end)

  it("range test returns the curve and a suggested rate, and restores the model", function()
    local nn = require "kshot.nn"
    ks.manual_seed(3)
    local x = ks.randn(64, 4)
    local y = x:matmul(ks.tensor({{1}, {-2}, {0.5}, {3}}))
    local model = nn.Linear(4, 1)
    local w0 = model.weight:clone()
    local o = optim.SGD(model, {lr = 0.01})
    local res = lr.range_test(o, function()
      o:zero_grad()
      local loss = ks.functional.mse_loss(model(x), y)
      loss:backward()
      o:step()
      return loss
    end, {start_lr = 1e-4, end_lr = 10, num_iter = 60, model = model})
    assert.is_true(#res.lrs >= 10 and #res.lrs <= 60)
    assert.equal(#res.lrs, #res.losses)
    assert.equal(1e-4, res.lrs[1])
    for i = 2, #res.lrs do assert.is_true(res.lrs[i] > res.lrs[i - 1]) end
    -- the suggestion is a rate where the loss falls: between the start and the divergence point
    assert.is_true(res.suggested_lr > 1e-3 and res.suggested_lr < 1.5, tostring(res.suggested_lr))
    assert.same(w0:totable(), model.weight:totable())
    assert.equal(0.01, o.param_groups[1].lr)
  end)

  it("reports bad arguments", function()
    local o = sgd()
    local function err_of(fn) local ok, e = pcall(fn); assert.is_false(ok); return e end
    assert.matches("StepLR: first argument must be an optimizer", err_of(function() lr.StepLR(nil, 3) end))
    assert.matches("option 'step_size' must be a number, got nil", err_of(function() lr.StepLR(o, {}) end))
    assert.matches("invalid gamma", err_of(function() lr.ExponentialLR(o, -1) end))
    assert.matches("milestones", err_of(function() lr.MultiStepLR(o, {gamma = 0.1}) end))
    assert.matches("one milestone fewer than schedulers", err_of(function()
      lr.SequentialLR(o, {lr.StepLR(o, 2), lr.StepLR(o, 3)}, {milestones = {}}) end))
    assert.matches("factor should be < 1.0", err_of(function() lr.ReduceLROnPlateau(o, {factor = 2}) end))
    assert.matches("mode avg is unknown", err_of(function() lr.ReduceLROnPlateau(o, {mode = "avg"}) end))
    assert.matches("needs the metric", err_of(function() lr.ReduceLROnPlateau(o):step() end))
    assert.matches("total_steps", err_of(function() lr.OneCycleLR(o, {max_lr = 1}) end))
    assert.matches("step_fn must be a function", err_of(function() lr.range_test(o, nil) end))
  end)
end)
