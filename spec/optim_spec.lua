-- kshot.optim against PyTorch's trajectories (spec/fixtures/make_optim_fixtures.py),
-- parameter groups, frozen parameters, state dicts and bad options.
local ks = require "kshot"
local optim = require "kshot.optim"
local json = require "dkjson"
local F = ks.functional

local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
local function load_json(name)
  local f = assert(io.open(here .. "fixtures/" .. name, "rb"))
  local d = json.decode(f:read("a"))
  f:close()
  return d
end

local RTOL, ATOL = 1e-5, 1e-6
local function f32(x) return (string.unpack("f", string.pack("f", x))) end

-- flat list of the parameters' values
local function flat(params)
  local out = {}
  for _, p in ipairs(params) do
    for _, v in ipairs(p:reshape(-1):totable()) do out[#out + 1] = v end
  end
  return out
end

local function leaf(values)
  local t = ks.tensor(values)
  t.requires_grad = true
  return t
end

-- run a fixture case; returns nil or a description of the first mismatch
local function run_case(d, case)
  local params, step_fn
  if case.problem == "linear" then
    local X, Y = ks.tensor(d.linear.x), ks.tensor(d.linear.y)
    local W, b = leaf(d.linear.w0), leaf(d.linear.b0)
    params = {W, b}
    local opt = optim[case.optimizer](params, case.options)
    step_fn = function()
      opt:zero_grad()
      local loss = F.mse_loss(F.linear(X, W, b), Y)
      if case.options.maximize then loss = loss * -1 end
      loss:backward()
      opt:step()
    end
  else
    local lg = d.logistic
    local X, Y = ks.tensor(lg.x), ks.tensor(lg.y)
    local w, b = leaf(lg.w0), leaf(lg.b0)
    params = {w, b}
    local opt = optim.LBFGS(params, case.options)
    local function closure()
      opt:zero_grad()
      local loss = F.binary_cross_entropy_with_logits(F.linear(X, w, b), Y) + (w * w):sum() * lg.l2
      loss:backward()
      return loss
    end
    local n = 0
    step_fn = function()
      n = n + 1
      local loss = opt:step(closure):item()
      local want = case.losses[n]
      if want and math.abs(loss - want) > ATOL + RTOL * math.abs(want) then
        error(string.format("loss at step %d: got %.9g, want %.9g", n, loss, want))
      end
    end
  end
  local rec = 1
  for step = 1, d.steps do
    step_fn()
    if step == d.record[rec] then
      local got = flat(params)
      for i, want in ipairs(case.params[rec]) do
        if math.abs(got[i] - want) > ATOL + RTOL * math.abs(want) then
          return string.format("step %d, element %d: got %.9g, want %.9g", step, i - 1, got[i], want)
        end
      end
      rec = rec + 1
    end
  end
  return nil
end

describe("optimizers match PyTorch trajectories over 200 steps", function()
  local d = load_json("optim_trajectories.json")
  for _, case in ipairs(d.cases) do
    local keys = {}
    for k, v in pairs(case.options) do
      keys[#keys + 1] = k .. "=" .. (type(v) == "table" and "{" .. table.concat(v, ",") .. "}" or tostring(v))
    end
    table.sort(keys)
    it(case.optimizer .. " {" .. table.concat(keys, ", ") .. "} on " .. case.problem, function()
      assert.is_nil(run_case(d, case))
    end)
  end
end)

describe("optimizer behaviour", function()
  it("uses PyTorch's defaults", function()
    local p = leaf({1})
    assert.same({0.9, 0.999}, optim.Adam({p}).param_groups[1].betas)
    assert.equal(1e-3, optim.Adam({p}).param_groups[1].lr)
    assert.equal(1e-2, optim.AdamW({p}).param_groups[1].weight_decay)
    assert.equal(0, optim.Adam({p}).param_groups[1].weight_decay)
    local r = optim.RMSprop({p}).param_groups[1]
    assert.same({1e-2, 0.99, 1e-8, false}, {r.lr, r.alpha, r.eps, r.centered})
    local a = optim.Adagrad({p}).param_groups[1]
    assert.same({1e-2, 0, 0, 1e-10}, {a.lr, a.lr_decay, a.initial_accumulator_value, a.eps})
    local x = optim.Adamax({p}).param_groups[1]
    assert.same({2e-3, {0.9, 0.999}, 1e-8, 0, false}, {x.lr, x.betas, x.eps, x.weight_decay, x.maximize})
    local n = optim.NAdam({p}).param_groups[1]
    assert.same({2e-3, {0.9, 0.999}, 1e-8, 0, 4e-3}, {n.lr, n.betas, n.eps, n.weight_decay, n.momentum_decay})
    local ra = optim.RAdam({p}).param_groups[1]
    assert.same({1e-3, {0.9, 0.999}, 1e-8, 0}, {ra.lr, ra.betas, ra.eps, ra.weight_decay})
    local d = optim.Adadelta({p}).param_groups[1]
    assert.same({1.0, 0.9, 1e-6, 0, false}, {d.lr, d.rho, d.eps, d.weight_decay, d.maximize})
    local l = optim.LBFGS({p}).param_groups[1]
    assert.same({1, 20, 25, 100}, {l.lr, l.max_iter, l.max_eval, l.history_size})
  end)

  it("does one exact SGD and Adam step by hand", function()
    local p = leaf({1, -2})
    p.grad = ks.tensor({0.5, 0.25})
    optim.SGD({p}, {lr = 0.1}):step()
    assert.same({f32(1 - f32(0.1) * f32(0.5)), f32(-2 - f32(0.1) * f32(0.25))}, p:totable())
    local q = leaf({1})
    q.grad = ks.tensor({2})
    optim.Adam({q}, {lr = 0.1}):step()
    -- first Adam step moves by lr * g / (|g| + eps*...) = lr (sign of g)
    assert.is_true(math.abs(q:item() - 0.9) < 1e-6)
  end)

  it("skips parameters whose grad is nil (frozen)", function()
    local a, b = leaf({1, 2}), leaf({3})
    local opt = optim.Adam({a, b}, {lr = 0.1})
    a.grad = ks.tensor({1, 1})
    opt:step()
    assert.same({3}, b:totable())
    assert.is_nil(opt.state[b])
    assert.is_not_nil(opt.state[a])
  end)

  it("supports parameter groups with their own options", function()
    local w, bias = leaf({1, 1}), leaf({1})
    local opt = optim.SGD({{params = {w}, weight_decay = 0.5}, {params = {bias}, lr = 0.2}}, {lr = 0.1})
    assert.equal(0.1, opt.param_groups[1].lr)
    assert.equal(0.5, opt.param_groups[1].weight_decay)
    assert.equal(0.2, opt.param_groups[2].lr)
    assert.equal(0, opt.param_groups[2].weight_decay)
    w.grad = ks.zeros(2)
    bias.grad = ks.ones(1)
    opt:step()
    assert.same({f32(0.95), f32(0.95)}, w:totable()) -- decay only: 1 - 0.1 * 0.5
    assert.is_true(math.abs(bias:item() - 0.8) < 1e-7)
  end)

  it("zero_grad drops or zeroes gradients", function()
    local p = leaf({1, 2})
    local opt = optim.SGD({p}, {lr = 0.1})
    p.grad = ks.tensor({1, 1})
    opt:zero_grad(false)
    assert.same({0, 0}, p.grad:totable())
    opt:zero_grad()
    assert.is_nil(p.grad)
  end)

  it("accepts a module and returns the closure's loss from step", function()
    local nn = require "kshot.nn"
    local m = nn.Linear(2, 1)
    local opt = optim.SGD(m, {lr = 0.1})
    assert.equal(2, #opt.param_groups[1].params)
    local loss = opt:step(function()
      opt:zero_grad()
      local l = m(ks.ones(1, 2)):sum()
      l:backward()
      return l
    end)
    assert.is_true(ks.is_tensor(loss))
  end)

  it("does one exact Adamax, RAdam and Adadelta step by hand", function()
    -- Adamax: m = 0.1*g, u = |g| + eps, θ -= (lr / 0.1) * m / u
    local p = leaf({1})
    p.grad = ks.tensor({2})
    optim.Adamax({p}, {lr = 0.1, eps = 0}):step()
    assert.equal(f32(1 - 0.1), p:item())
    -- RAdam's first steps (rho_t <= 5) are bias-corrected momentum SGD: θ -= lr * g
    local q = leaf({1})
    q.grad = ks.tensor({0.5})
    optim.RAdam({q}, {lr = 0.1}):step()
    assert.is_true(math.abs(q:item() - (1 - 0.1 * 0.5)) < 1e-7)
    -- Adadelta: s = 0.1*g^2, delta = sqrt(eps)/sqrt(s + eps)*g
    local r = leaf({1})
    r.grad = ks.tensor({1})
    local opt = optim.Adadelta({r}, {lr = 1, rho = 0.9, eps = 1e-6})
    opt:step()
    local want = 1 - math.sqrt(1e-6) / math.sqrt(0.1 + 1e-6)
    assert.is_true(math.abs(r:item() - want) < 1e-6)
    assert.is_true(math.abs(opt.state[r].acc_delta:item() - 0.1 * (1 - want) ^ 2) < 1e-9)
  end)

  it("gives the same NAdam, RAdam, Adamax and Adadelta results for any thread count", function()
    local n0 = ks.get_num_threads()
    local function run(threads, name, opts)
      ks.set_num_threads(threads)
      ks.manual_seed(5)
      local w = ks.randn(70001)
      w.requires_grad = true
      local opt = optim[name]({w}, opts)
      for _ = 1, 12 do
        w.grad = ks.sin(w:detach() * 3)
        opt:step()
      end
      ks.set_num_threads(n0)
      return w:detach()
    end
    for _, c in ipairs({{"Adamax", {lr = 0.01}}, {"NAdam", {lr = 0.01}}, {"RAdam", {lr = 0.01}},
      {"Adadelta", {weight_decay = 0.1}}}) do
      assert.same(run(1, c[1], c[2]):totable(), run(2, c[1], c[2]):totable(), c[1])
    end
  end)

  it("round-trips NAdam's mu_product and the new optimizers' state through state_dict", function()
    for _, name in ipairs({"Adamax", "NAdam", "RAdam", "Adadelta"}) do
      local a = leaf({1, 2})
      local opt = optim[name]({a}, {lr = 0.1})
      for _ = 1, 3 do
        a.grad = ks.tensor({1, -1})
        opt:step()
      end
      local sd = opt:state_dict()
      assert.equal(3, sd.state[0].step)
      local b = leaf(a:totable())
      local opt2 = optim[name]({b})
      opt2:load_state_dict(sd)
      a.grad, b.grad = ks.tensor({0.5, 0.25}), ks.tensor({0.5, 0.25})
      opt:step()
      opt2:step()
      assert.same(a:totable(), b:totable())
    end
    local nadam = optim.NAdam({leaf({1})})
    local p = nadam.param_groups[1].params[1]
    p.grad = ks.tensor({1})
    nadam:step()
    -- mu_1 = 0.9 * (1 - 0.5 * 0.96^0.004), kept as a float32 value
    assert.equal(f32(0.9 * (1 - 0.5 * 0.96 ^ 0.004)), nadam.state[p].mu_product)
    local sd = nadam:state_dict()
    sd.state[0].mu_product = "x"
    local ok, err = pcall(function() nadam:load_state_dict(sd) end)
    assert.is_false(ok)
    assert.matches("NAdam: load_state_dict: 'mu_product' in the state of parameter 0 must be a finite number, got string", err)
    sd.state[0].mu_product = nil
    ok, err = pcall(function() nadam:load_state_dict(sd) end)
    assert.matches("state of parameter 0 has no 'mu_product' %(NAdam keeps one per parameter%)", err)
    -- another optimizer's state
    ok, err = pcall(function() optim.RAdam({p}):load_state_dict(nadam:state_dict()) end)
    assert.matches("RAdam: load_state_dict: parameter group 0 has an option 'momentum_decay' that RAdam does not have", err)
  end)

  it("round-trips state_dict and rejects a different layout", function()
    local a, b = leaf({1, 2}), leaf({3})
    local opt = optim.Adam({a, b}, {lr = 0.1, amsgrad = true})
    a.grad, b.grad = ks.tensor({1, -1}), ks.tensor({2})
    opt:step()
    local sd = opt:state_dict()
    assert.same({0, 1}, sd.param_groups[1].params)
    assert.equal(1, sd.state[0].step)
    local opt2 = optim.Adam({leaf({0, 0}), leaf({0})})
    opt2:load_state_dict(sd)
    assert.equal(0.1, opt2.param_groups[1].lr)
    assert.is_true(opt2.param_groups[1].amsgrad)
    -- wrong number of parameters
    local ok, err = pcall(function() optim.Adam({leaf({0, 0})}):load_state_dict(sd) end)
    assert.is_false(ok)
    assert.matches("parameter group 0 has 2 parameters in the state dict, 1 in the optimizer", err)
    -- same count, different shapes
    ok, err = pcall(function() optim.Adam({leaf({0, 0, 0}), leaf({0})}):load_state_dict(sd) end)
    assert.is_false(ok)
    assert.matches("shape %[2%] but the parameter has shape %[3%]", err)
    -- different number of groups
    ok, err = pcall(function() optim.Adam({{params = {leaf({0, 0})}}, {params = {leaf({0})}}}):load_state_dict(sd) end)
    assert.is_false(ok)
    assert.matches("1 parameter groups, optimizer has 2", err)
  end)
end)

describe("bad optimizer options", function()
  local function err_of(fn)
    local ok, e = pcall(fn)
    assert.is_false(ok)
    return tostring(e)
  end
  local p = leaf({1, 2})

  it("rejects a negative learning rate", function()
    for _, name in ipairs({"SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "NAdam", "RAdam", "Adadelta",
      "LBFGS"}) do
      assert.matches(name .. ": invalid lr: %-0?%.?1", err_of(function() optim[name]({p}, {lr = -0.1}) end))
    end
  end)

  it("rejects betas outside [0, 1)", function()
    assert.matches("invalid beta parameter at index 0: 1", err_of(function() optim.Adam({p}, {betas = {1.0, 0.9}}) end))
    assert.matches("invalid beta parameter at index 1: %-0.5", err_of(function() optim.AdamW({p}, {betas = {0.9, -0.5}}) end))
    assert.matches("betas", err_of(function() optim.Adam({p}, {betas = 0.9}) end))
  end)

  it("checks the new optimizers' options as torch 1.13's constructors do", function()
    for _, name in ipairs({"Adamax", "NAdam", "RAdam"}) do
      assert.matches(name .. ": invalid beta parameter at index 1: 1", err_of(function() optim[name]({p}, {betas = {0.9, 1}}) end))
      assert.matches(name .. ": invalid eps: %-1", err_of(function() optim[name]({p}, {eps = -1}) end))
      assert.matches(name .. ": invalid weight_decay: %-1", err_of(function() optim[name]({p}, {weight_decay = -1}) end))
    end
    assert.matches("NAdam: invalid momentum_decay: %-0.1", err_of(function() optim.NAdam({p}, {momentum_decay = -0.1}) end))
    assert.matches("option 'momentum_decay' must be a number, got string",
      err_of(function() optim.NAdam({p}, {momentum_decay = "x"}) end))
    assert.matches("Adadelta: invalid rho: 1.5 %(expected %[0, 1%]%)", err_of(function() optim.Adadelta({p}, {rho = 1.5}) end))
    assert.matches("Adadelta: invalid rho: %-0.5", err_of(function() optim.Adadelta({p}, {rho = -0.5}) end))
    assert.matches("Adadelta: invalid eps", err_of(function() optim.Adadelta({p}, {eps = -1}) end))
    -- torch 1.13's NAdam and RAdam have no maximize
    assert.matches("NAdam: unknown option 'maximize'", err_of(function() optim.NAdam({p}, {maximize = true}) end))
    assert.matches("RAdam: unknown option 'maximize'", err_of(function() optim.RAdam({p}, {maximize = true}) end))
    assert.matches("unknown option 'decoupled_weight_decay'",
      err_of(function() optim.NAdam({p}, {decoupled_weight_decay = true}) end))
    assert.matches("unknown option 'amsgrad'", err_of(function() optim.Adamax({p}, {amsgrad = true}) end))
    -- a state buffer of the wrong shape names both shapes
    local bad = {Adamax = {"exp_avg", "exp_inf"}, NAdam = {"exp_avg", "exp_avg_sq"}, RAdam = {"exp_avg", "exp_avg_sq"},
      Adadelta = {"square_avg", "acc_delta"}}
    for name, fields in pairs(bad) do
      local q = leaf({1, 2})
      q.grad = ks.tensor({1, 2})
      local opt = optim[name]({q})
      rawset(opt.state, q, {step = 0, mu_product = 1, [fields[1]] = ks.zeros(2), [fields[2]] = ks.zeros(3)})
      assert.matches(name .. ": state buffer shape %[3%] does not match parameter shape %[2%]",
        err_of(function() opt:step() end))
    end
  end)

  it("rejects Nesterov without momentum or with dampening", function()
    assert.matches("Nesterov momentum requires a momentum > 0 and zero dampening",
      err_of(function() optim.SGD({p}, {lr = 0.1, nesterov = true}) end))
    assert.matches("dampening = 0.5", err_of(function()
      optim.SGD({p}, {lr = 0.1, nesterov = true, momentum = 0.9, dampening = 0.5}) end))
  end)

  it("requires a closure for L-BFGS", function()
    assert.matches("LBFGS: step needs a closure", err_of(function() optim.LBFGS({p}):step() end))
    assert.matches("closure must return the loss", err_of(function() optim.LBFGS({p}):step(function() end) end))
    assert.matches("line_search_fn", err_of(function() optim.LBFGS({p}, {line_search_fn = "armijo"}) end))
    assert.matches("parameter groups", err_of(function() optim.LBFGS({{params = {p}}, {params = {leaf({1})}}}) end))
  end)

  it("rejects non-leaf tensors and non-tensors as parameters", function()
    local q = leaf({1, 2})
    assert.matches("can't optimize a non%-leaf tensor", err_of(function() optim.SGD({q * 2}, {lr = 0.1}) end))
    assert.matches("parameter 1 of group 0 is a string", err_of(function() optim.SGD({q, "w"}, {lr = 0.1}) end))
    assert.matches("must be float32, got int64", err_of(function() optim.SGD({ks.tensor({1, 2}):long()}, {lr = 0.1}) end))
    assert.matches("empty parameter list", err_of(function() optim.SGD({}, {lr = 0.1}) end))
    assert.matches("must be a list", err_of(function() optim.SGD(nil, {lr = 0.1}) end))
    assert.matches("more than one parameter group", err_of(function()
      optim.SGD({{params = {q}}, {params = {q}}}, {lr = 0.1}) end))
  end)

  it("rejects unknown options and wrong option types", function()
    assert.matches("unknown option 'momentom'", err_of(function() optim.SGD({p}, {momentom = 0.9}) end))
    -- the wording every module uses (kshot.options): the known names and the nearest one
    assert.matches("SGD: unknown option 'momentom' %(known: dampening, lr, maximize, momentum, nesterov, "
      .. "weight_decay%); did you mean 'momentum'%?", err_of(function() optim.SGD({p}, {momentom = 0.9}) end))
    assert.matches("unknown option 'max_eval'", err_of(function() optim.Adam({p}, {max_eval = 3}) end))
    assert.matches("unknown option 'lr_decay' in parameter group", err_of(function()
      optim.SGD({{params = {p}, lr_decay = 0.1}}) end))
    assert.matches("option 'lr' must be a number, got string", err_of(function() optim.Adam({p}, {lr = "fast"}) end))
    assert.matches("invalid weight_decay", err_of(function() optim.Adagrad({p}, {weight_decay = -1}) end))
    assert.matches("invalid eps", err_of(function() optim.RMSprop({p}, {eps = -1}) end))
    assert.matches("options must be a table", err_of(function() optim.SGD({p}, 0.1) end))
  end)

  it("reports a gradient of the wrong shape", function()
    local q = leaf({1, 2})
    q.grad = ks.tensor({1, 2})
    local opt = optim.Adam({q})
    rawset(opt.state, q, {step = 0, exp_avg = ks.zeros(3), exp_avg_sq = ks.zeros(3)})
    assert.matches("Adam: state buffer shape %[3%] does not match parameter shape %[2%]", err_of(function() opt:step() end))
  end)

  it("load_state_dict checks the whole state dict first and leaves the optimizer unchanged on error", function()
    local function fresh(name, opts)
      local a, b = leaf({1, 2}), leaf({3})
      local opt = optim[name]({a, b}, opts or {lr = 0.1})
      a.grad, b.grad = ks.tensor({1, -1}), ks.tensor({2})
      opt:step()
      return opt
    end
    local function plain(v)
      if ks.is_tensor(v) then return {v:dtype(), v:shape(), v:totable()} end
      if type(v) ~= "table" then return v end
      local t = {}
      for k, x in pairs(v) do t[k] = plain(x) end
      return t
    end
    local adam = fresh("Adam")
    local before = plain(adam:state_dict())
    local function bad(mod)
      local sd = adam:state_dict()
      mod(sd)
      local e = err_of(function() adam:load_state_dict(sd) end)
      assert.same(before, plain(adam:state_dict())) -- nothing changed
      return e
    end
    -- the state of another optimizer
    assert.matches("Adam: load_state_dict: parameter group 0 has an option 'dampening' that Adam does not have",
      err_of(function() adam:load_state_dict(fresh("SGD", {lr = 0.1, momentum = 0.9}):state_dict()) end))
    assert.same(before, plain(adam:state_dict()))
    assert.matches("parameter group 0: option 'lr' must be a number, got string",
      bad(function(sd) sd.param_groups[1].lr = "abc" end))
    assert.matches("parameter group 0: invalid lr: %-?nan %(expected >= 0%)", bad(function(sd) sd.param_groups[1].lr = 0 / 0 end))
    assert.matches("parameter group 0: invalid lr: %-1 %(expected >= 0%)", bad(function(sd) sd.param_groups[1].lr = -1 end))
    assert.matches("parameter group 0: invalid beta parameter at index 0: 5 %(expected %[0, 1%)%)",
      bad(function(sd) sd.param_groups[1].betas = {5, 5} end))
    assert.matches("parameter group 0: option 'amsgrad' must be a boolean, got number 1",
      bad(function(sd) sd.param_groups[1].amsgrad = 1 end))
    assert.matches("parameter group 0 has no option 'eps'", bad(function(sd) sd.param_groups[1].eps = nil end))
    assert.matches("'exp_avg' in the state of parameter 0 must be a float32 tensor of shape %[2%], got string \"x\"",
      bad(function(sd) sd.state[0].exp_avg = "x" end))
    assert.matches("'exp_avg' in the state of parameter 1 must be a float32 tensor of shape %[1%], got int64 tensor of shape %[1%]",
      bad(function(sd) sd.state[1].exp_avg = sd.state[1].exp_avg:long() end))
    assert.matches("state of parameter 0 has no 'exp_avg_sq' %(Adam keeps one per parameter%)",
      bad(function(sd) sd.state[0].exp_avg_sq = nil end))
    assert.matches("'step' in the state of parameter 0 must be an integer >= 0, got number %-1",
      bad(function(sd) sd.state[0].step = -1 end))
    assert.matches("state of parameter 0 has a field 'momentum_buffer' that Adam does not keep",
      bad(function(sd) sd.state[0].momentum_buffer = ks.zeros(2) end))
    assert.matches("params%[1%] must be a distinct integer index, got number 0",
      bad(function(sd) sd.param_groups[1].params = {0, 0} end))
    -- the optimizer still steps with its own state
    adam:step()
    -- SGD's state into SGD with a wrong buffer; LBFGS's flat state
    local sgd = fresh("SGD", {lr = 0.1, momentum = 0.9})
    local sd = sgd:state_dict()
    sd.state[1].momentum_buffer = ks.zeros(2)
    assert.matches("SGD: load_state_dict: 'momentum_buffer' in the state of parameter 1 has shape %[2%] but the parameter has shape %[1%]",
      err_of(function() sgd:load_state_dict(sd) end))
    local q = leaf({1, 2})
    local lbfgs = optim.LBFGS({q}, {max_iter = 2})
    lbfgs:step(function() lbfgs:zero_grad(); local l = (q * q):sum(); l:backward(); return l end)
    sd = lbfgs:state_dict()
    lbfgs:load_state_dict(sd)
    sd.state[0].d = ks.zeros(3)
    assert.matches("LBFGS: load_state_dict: 'd' in the state of parameter 0 must be a float32 tensor of 2 elements",
      err_of(function() lbfgs:load_state_dict(sd) end))
  end)

  -- the checks sit at different depths inside kshot's files; the message still names the caller's line
  -- (options.raise), and a message kshot catches and rewraps carries that one position only
  it("blames the user's line for bad constructor options, schedulers, regularizers and state dicts", function()
    local reg = require "kshot.regularize"
    local function blamed(fn)
      local ok, e = pcall(fn)
      assert.is_false(ok, "accepted")
      local file, line, msg = e:match("^(.-):(%d+): (.*)$")
      assert.truthy(file, "no position in: " .. e)
      assert.truthy(file:find("optim_spec.lua", 1, true), e)
      return tonumber(line), msg
    end
    local p = leaf({1, 2})
    local here_line = debug.getinfo(1, "l").currentline
    local line, msg = blamed(function() local o = optim.Adam({}); return o end)
    assert.equal(here_line + 1, line)
    assert.equal("Adam: optimizer got an empty parameter list", msg)
    line, msg = blamed(function() local o = optim.SGD({p}, {lr = 0.1, momentun = 0.9}); return o end)
    assert.equal(here_line + 4, line)
    assert.matches("^SGD: unknown option 'momentun'", msg)
    local o = optim.SGD({p}, {lr = 0.1})
    line, msg = blamed(function() local s = optim.lr_scheduler.StepLR(o, {}); return s end)
    assert.equal(here_line + 8, line)
    assert.equal("StepLR: option 'step_size' must be a number, got nil", msg)
    line, msg = blamed(function() local v = reg.l1_penalty({p}, -1); return v end)
    assert.equal(here_line + 11, line)
    assert.matches("l1", msg)
    local sd = optim.Adam({p}):state_dict()
    sd.param_groups[1].lr = -1
    line, msg = blamed(function() local a = optim.Adam({p}); a:load_state_dict(sd); return a end)
    assert.equal(here_line + 16, line)
    assert.equal("Adam: load_state_dict: parameter group 0: invalid lr: -1 (expected >= 0)", msg)
    line, msg = blamed(function() local r = optim.load_checkpoint("/nonexistent/ck.safetensors", {}); return r end)
    assert.equal(here_line + 19, line)
    assert.matches("^load_checkpoint: /nonexistent/ck%.safetensors: cannot open", msg) -- the path said once
    assert.falsy(msg:find("%.lua:%d+:"), msg) -- the inner message carries no second position
  end)
end)

