-- kshot.regularize: penalties, gradient clipping, early stopping, EMA, SWA + update_bn.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local reg = require "kshot.regularize"
local F = ks.functional

local function f32(x) return (string.unpack("f", string.pack("f", x))) end
local function leaf(v)
  local t = ks.tensor(v)
  t.requires_grad = true
  return t
end
local function err_of(fn)
  local ok, e = pcall(fn)
  assert.is_false(ok)
  return tostring(e)
end

describe("penalties", function()
  it("l1 and l2 penalties have the right values and gradients", function()
    local a, b = leaf({1, -2}), leaf({3})
    local l1 = reg.l1_penalty({a, b}, 0.5)
    assert.equal(3, l1:item()) -- 0.5 * (1 + 2 + 3)
    local l2 = reg.l2_penalty({a, b}, 0.1)
    assert.equal(f32(0.7), l2:item()) -- 0.5 * 0.1 * (1 + 4 + 9)
    ;(l1 + l2):backward()
    assert.same({f32(0.5 + 0.1), f32(-0.5 - 0.2)}, a.grad:totable())
    assert.same({f32(0.5 + 0.3)}, b.grad:totable())
  end)

  it("accept a module and only the parameters chosen", function()
    local m = nn.Linear(2, 1)
    local p = reg.l2_penalty(m, 1)
    local want = 0
    for _, t in ipairs(m:parameters()) do want = want + (t * t):sum():item() end
    assert.is_true(math.abs(p:item() - 0.5 * want) < 1e-6)
    assert.equal(0, reg.l1_penalty({}, 1):item())
  end)

  it("an l2 penalty with SGD equals coupled weight_decay", function()
    local x, y = ks.tensor({{1, 2}, {3, -1}}), ks.tensor({{1}, {0}})
    local w1, w2 = leaf({{0.5, -0.25}}), leaf({{0.5, -0.25}})
    local o1 = optim.SGD({w1}, {lr = 0.1, weight_decay = 0.2})
    local o2 = optim.SGD({w2}, {lr = 0.1})
    for _ = 1, 5 do
      o1:zero_grad(); o2:zero_grad()
      F.mse_loss(F.linear(x, w1), y):backward()
      ;(F.mse_loss(F.linear(x, w2), y) + reg.l2_penalty({w2}, 0.2)):backward()
      o1:step(); o2:step()
    end
    local a, b = w1:reshape(-1):totable(), w2:reshape(-1):totable()
    for i = 1, 2 do assert.is_true(math.abs(a[i] - b[i]) < 1e-6) end
  end)

  it("reject bad arguments", function()
    assert.matches("lambda must be a number >= 0", err_of(function() reg.l1_penalty({leaf({1})}, -1) end))
    assert.matches("params%[1%] is a string", err_of(function() reg.l2_penalty({leaf({1}), "x"}, 1) end))
    assert.matches("params must be", err_of(function() reg.l2_penalty(nil, 1) end))
  end)
end)

describe("gradient clipping", function()
  it("clip_grad_norm_ scales all gradients by the global norm", function()
    local a, b, c = leaf({0, 0}), leaf({0}), leaf({5})
    a.grad, b.grad = ks.tensor({3, 4}), ks.tensor({12})
    local total = reg.clip_grad_norm_({a, b, c}, 1.0) -- c has no grad: ignored
    assert.equal(13, total:item())
    local s = 1 / (13 + 1e-6)
    assert.same({f32(3 * f32(s)), f32(4 * f32(s))}, a.grad:totable())
    assert.same({f32(12 * f32(s))}, b.grad:totable())
    -- below the threshold: untouched
    a.grad = ks.tensor({0.3, 0.4})
    assert.is_true(math.abs(reg.clip_grad_norm_({a}, 1.0):item() - 0.5) < 1e-7)
    assert.same({f32(0.3), f32(0.4)}, a.grad:totable())
  end)

  it("clip_grad_norm_ supports the max norm and p-norms", function()
    local a = leaf({0, 0})
    a.grad = ks.tensor({-3, 2})
    assert.equal(3, reg.clip_grad_norm_({a}, 10, math.huge):item())
    assert.equal(5, reg.clip_grad_norm_({a}, 10, 1):item())
    assert.equal(3, reg.clip_grad_norm_({a}, 10, "inf"):item()) -- torch's norm_type='inf'
  end)

  it("clip_grad_norm_ takes torch's keywords and error_if_nonfinite", function()
    local a = leaf({0, 0})
    a.grad = ks.tensor({3, 4})
    assert.equal(5, reg.clip_grad_norm_({a}, { max_norm = 10 }):item())
    assert.equal(7, reg.clip_grad_norm_({a}, 10, { norm_type = 1 }):item())
    assert.equal(4, reg.clip_grad_norm_({a}, 10, math.huge, true):item())
    -- the flag used to be ignored silently: a nan norm must now raise, and leave the gradients
    a.grad = ks.tensor({0 / 0, 1})
    local err = err_of(function() reg.clip_grad_norm_({a}, 1, 2, true) end)
    assert.matches("clip_grad_norm_: the total norm of order 2 of the gradients is [-]?nan", err)
    assert.matches("error_if_nonfinite", err_of(function() reg.clip_grad_norm_({a}, 1, { error_if_nonfinite = true }) end))
    assert.matches("is inf", err_of(function()
      a.grad = ks.tensor({math.huge, 1}); reg.clip_grad_norm_({a}, 1, "inf", { error_if_nonfinite = true }) end))
    a.grad = ks.tensor({0 / 0, 1})
    local inf_norm = reg.clip_grad_norm_({a}, 1, math.huge):item()
    assert.is_true(inf_norm ~= inf_norm, "a nan gradient makes the max norm nan, as torch")
    -- torch 1.13 multiplies by clamp(max_norm / (nan + 1e-6), max = 1) = nan: every gradient becomes nan,
    -- on the C path (norm 2, inf) and the Lua one (norm 1) alike, and an infinite norm zeroes the finite entries
    for _, p in ipairs({ 2, math.huge, 1 }) do
      local b = leaf({ 0, 0 })
      a.grad, b.grad = ks.tensor({ 0 / 0, 1 }), ks.tensor({ 3, 4 })
      reg.clip_grad_norm_({ a, b }, 1, p)
      for _, v in ipairs(b.grad:totable()) do assert.is_true(v ~= v, "norm " .. p .. ": nan expected") end
    end
    a.grad = ks.tensor({ math.huge, 2 })
    reg.clip_grad_norm_({ a }, 1)
    local g = a.grad:totable()
    assert.is_true(g[1] ~= g[1])
    assert.equal(0, g[2])
    a.grad = ks.tensor({3, 4})
    assert.equal(5, reg.clip_grad_norm_({a}, 10, 2, true):item())
    local nn = require "kshot.nn"
    assert.equal(nn.utils.clip_grad_norm_, reg.clip_grad_norm_)
  end)

  it("clip_grad_value_ clamps in place", function()
    local a = leaf({0, 0, 0})
    a.grad = ks.tensor({-3, 0.5, 2})
    reg.clip_grad_value_({a}, 1)
    assert.same({-1, 0.5, 1}, a.grad:totable())
  end)

  it("reject bad arguments", function()
    assert.matches("max_norm must be a number >= 0", err_of(function() reg.clip_grad_norm_({leaf({1})}, -1) end))
    assert.matches("norm_type", err_of(function() reg.clip_grad_norm_({leaf({1})}, 1, 0.5) end))
    assert.matches('norm_type must be a number >= 1, or math.huge or "inf" for the max norm, got string max',
      err_of(function() reg.clip_grad_norm_({leaf({1})}, 1, "max") end))
    assert.matches("unknown option 'error_if_nonfinte'.*did you mean 'error_if_nonfinite'",
      err_of(function() reg.clip_grad_norm_({leaf({1})}, 1, { error_if_nonfinte = true }) end))
    assert.matches("max_norm given both as argument 2 and in the options table",
      err_of(function() reg.clip_grad_norm_({leaf({1})}, 1, { max_norm = 2 }) end))
    assert.matches("error_if_nonfinite must be a boolean, got string",
      err_of(function() reg.clip_grad_norm_({leaf({1})}, 1, 2, "yes") end))
    assert.matches("at most 3 arguments after params, got 4",
      err_of(function() reg.clip_grad_norm_({leaf({1})}, 1, 2, false, false) end))
    assert.matches("clip_value", err_of(function() reg.clip_grad_value_({leaf({1})}, "x") end))
  end)
end)

describe("EarlyStopping", function()
  it("restores the best weights and buffers on a run whose validation loss rises", function()
    -- train y = 2x; validate on y = x: from w = 0 the validation loss falls until w ~ 1, then rises
    ks.manual_seed(0)
    local x = ks.randn(32, 1)
    local y_train, y_val = x * 2, x * 1
    local model = nn.Linear(1, 1, {bias = false})
    ks.no_grad(function() model.weight:zero_() end)
    model:register_buffer("epochs_seen", ks.zeros(1))
    local opt = optim.SGD(model, {lr = 0.05})
    local es = reg.EarlyStopping({mode = "min", patience = 3, min_delta = 1e-4})
    local history, weights = {}, {}
    local stopped_at
    for epoch = 0, 200 do
      opt:zero_grad()
      F.mse_loss(model(x), y_train):backward()
      opt:step()
      ks.no_grad(function() model.epochs_seen:add_(1) end)
      local val = ks.no_grad(function() return F.mse_loss(model(x), y_val):item() end)
      history[epoch], weights[epoch] = val, model.weight:item()
      if es:step(val, model) then stopped_at = epoch; break end
    end
    assert.is_not_nil(stopped_at)
    local best = es.best_epoch
    assert.equal(stopped_at - 3, best) -- patience 3: stops on the 3rd epoch without improvement
    assert.is_true(history[stopped_at] > history[best]) -- the validation loss did rise
    for e = 0, best - 1 do assert.is_true(history[e] > history[best]) end
    assert.equal(weights[best], model.weight:item()) -- best weights restored
    assert.equal(best + 1, model.epochs_seen:item()) -- and buffers
    assert.equal(history[best], es.best)
  end)

  it("monitors a maximised metric", function()
    local es = reg.EarlyStopping({mode = "max", patience = 1})
    assert.is_false(es:step(0.5))
    assert.is_false(es:step(0.7))
    assert.is_true(es:step(0.6))
    assert.equal(0.7, es.best)
    assert.equal(1, es.best_epoch)
  end)

  it("stops on the patience-th epoch in a row without improvement (Keras' and Lightning's count)", function()
    local es = reg.EarlyStopping({patience = 2})
    local got = {}
    for _, v in ipairs {1.0, 0.5, 0.6, 0.45, 0.7, 0.8, 0.9} do got[#got + 1] = es:step(v) end
    assert.same({false, false, false, false, false, true, true}, got)
    assert.equal(3, es.best_epoch)
    local es0 = reg.EarlyStopping({patience = 0})
    assert.is_false(es0:step(2))
    assert.is_true(es0:step(2)) -- not better: stops at once
  end)

  it("rejects bad options", function()
    assert.matches("mode must be 'min' or 'max'", err_of(function() reg.EarlyStopping({mode = "up"}) end))
    assert.matches("patience must be an integer", err_of(function() reg.EarlyStopping({patience = -1}) end))
    assert.matches("needs the monitored metric", err_of(function() reg.EarlyStopping():step("x") end))
    assert.matches("nothing to restore", err_of(function() reg.EarlyStopping():restore(nn.Linear(1, 1)) end))
  end)
end)

describe("weight averaging", function()
  it("EMA follows decay * shadow + (1 - decay) * weights", function()
    local m = nn.Linear(1, 1, {bias = false})
    ks.no_grad(function() m.weight:fill_(1) end)
    local ema = reg.EMA(m, {decay = 0.5})
    ks.no_grad(function() m.weight:fill_(3) end)
    ema:update(m) -- 0.5 * 1 + 0.5 * 3
    ks.no_grad(function() m.weight:fill_(6) end)
    ema:update(m) -- 0.5 * 2 + 0.5 * 6
    assert.equal(4, ema:state_dict().weight:item())
    ema:copy_to(m)
    assert.equal(4, m.weight:item())
    assert.matches("decay must be in %[0, 1%]", err_of(function() reg.EMA(m, {decay = 2}) end))
  end)

  it("SWA averages weights equally and update_bn recomputes batch-norm statistics", function()
    local m = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    local swa = reg.SWA(m)
    local lin = m["0"]
    for _, v in ipairs({1, 2, 6}) do
      ks.no_grad(function() lin.weight:fill_(v) end)
      swa:update(m)
    end
    assert.equal(3, swa.n_averaged)
    swa:copy_to(m)
    assert.same({{3, 3}, {3, 3}}, lin.weight:totable())
    -- statistics of the averaged model over two batches: the mean of the batch statistics
    ks.no_grad(function() lin.weight:copy_(ks.eye(2)); lin.bias:zero_() end)
    local b1 = ks.tensor({{1, 2}, {3, 4}})
    local b2 = ks.tensor({{5, 10}, {7, 20}})
    m:eval()
    reg.update_bn({b1, {b2, "labels"}}, m)
    local bn = m["1"]
    assert.same({4, 9}, bn.running_mean:totable()) -- (2 + 6) / 2, (3 + 15) / 2
    assert.same({f32((2 + 2) / 2), f32((2 + 50) / 2)}, bn.running_var:totable()) -- unbiased batch variances
    assert.equal(0.1, bn.momentum)
    assert.is_false(m.training)
    assert.matches("loader must be", err_of(function() reg.update_bn(5, m) end))
  end)

  it("update_bn is transactional: a bad batch, a failing loader or an empty loader leave the model as it was", function()
    local function setup()
      ks.manual_seed(11)
      local m = nn.Sequential(nn.Linear(3, 3), nn.BatchNorm1d(3))
      m:train(); m(ks.rand(8, 3) * 5 + 3); m:eval()
      local bn = m["1"]
      return m, bn, bn.running_mean:totable(), bn.running_var:totable(), bn.num_batches_tracked:item()
    end
    local function unchanged(m, bn, mean, var, nbt)
      assert.same(mean, bn.running_mean:totable())
      assert.same(var, bn.running_var:totable())
      assert.equal(nbt, bn.num_batches_tracked:item())
      assert.equal(0.1, bn.momentum)
      assert.is_false(m.training)
      assert.is_false(bn.training)
    end
    local m, bn, mean, var, nbt = setup()
    local e = err_of(function() reg.update_bn({ks.rand(4, 3), ks.rand(4, 5)}, m) end)
    assert.matches("update_bn: batch 2: .*input of shape %[4, 5%]", e)
    unchanged(m, bn, mean, var, nbt)
    assert.equal("update_bn: the loader gave no batches (expected at least one)", err_of(function() reg.update_bn({}, m) end))
    unchanged(m, bn, mean, var, nbt)
    assert.matches("update_bn: the loader failed at batch 1: .*loader broke",
      err_of(function() reg.update_bn(function() error("loader broke") end, m) end))
    unchanged(m, bn, mean, var, nbt)
    assert.matches("update_bn: batch 1 %(counting from 1%) must be a tensor or a table whose first entry is the input tensor, "
      .. "got a table whose first entry is a string", err_of(function() reg.update_bn({{"x"}}, m) end))
    unchanged(m, bn, mean, var, nbt)
    -- an iterator: the same statistics as the list, num_batches_tracked counts the batches
    local a, b = ks.rand(4, 3), ks.rand(4, 3)
    reg.update_bn({a, b}, m)
    local from_list = {bn.running_mean:totable(), bn.running_var:totable()}
    local m2, bn2 = setup()
    local i = 0
    reg.update_bn(function() i = i + 1; return ({a, b})[i] end, m2)
    assert.same(from_list, {bn2.running_mean:totable(), bn2.running_var:totable()})
    assert.equal(2, bn2.num_batches_tracked:item())
  end)
end)

describe("options tables", function()
  it("reject misspelled keys instead of keeping the defaults", function()
    -- patiance = 50 used to leave patience at 5
    local e = err_of(function() reg.EarlyStopping { patiance = 50 } end)
    assert.truthy(e:find("regularize_spec.lua:%d+: EarlyStopping: unknown option 'patiance'"), e)
    assert.truthy(e:find("(known: mode, patience, min_delta, restore_best); did you mean 'patience'?", 1, true), e)
    e = err_of(function() reg.EMA(nn.Linear(1, 1), { dekay = 0.9 }) end)
    assert.truthy(e:find("EMA: unknown option 'dekay' (known: decay); did you mean 'decay'?", 1, true), e)
    assert.equal(50, reg.EarlyStopping { patience = 50 }.patience)
  end)
end)
