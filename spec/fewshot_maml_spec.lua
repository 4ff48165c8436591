-- kshot.fewshot.maml: the inner loop against hand-computed SGD steps, first-
-- and second-order meta-gradients and one meta-step against torch 1.13
-- (spec/fixtures/torch_refs/maml_fewshot.py), evaluation, the protocol's
-- episodes, and bad inputs.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local maml = require "kshot.fewshot.maml"
local fewshot = require "kshot.fewshot"
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of
local F = ks.functional

local function vals(n, k, scale) return ((ks.arange(n):float() + 1) * k):sin() * scale end
local function I(t) return ks.tensor(t, {dtype = "int64"}) end

-- softmax regression nn.Linear(4, 3) with fixed weights, a 6-example support set
local function linear_case()
  local m = nn.Linear(4, 3)
  ks.no_grad(function()
    m.weight:copy_(vals(12, 0.7, 0.5):reshape(3, 4))
    m.bias:copy_(vals(3, 1.3, 0.2))
  end)
  local xs = vals(24, 0.23, 1.0):reshape(6, 4)
  local ys = I({0, 1, 2, 0, 1, 2})
  return m, xs, ys
end

-- one SGD step of mean cross-entropy for logits = x W^T + b, written out without autograd:
-- dL/dlogits = (softmax - onehot) / N, dL/dW = that^T x, dL/db = its column sums
local function hand_step(W, b, x, y, lr)
  local logits = x:matmul(W:t()) + b
  local p = logits:softmax(1)
  local d = (p - ks.one_hot(y, 3):float()) / x:size(0)
  local loss = -(p:log() * ks.one_hot(y, 3):float()):sum() / x:size(0)
  return W - d:t():matmul(x) * lr, b - d:sum(0) * lr, loss:item()
end

-- the tiny Conv-4-like model of maml_fewshot.py, its parameters set as there
local function tiny_model()
  local m = nn.Sequential(nn.Conv2d(1, 3, 3, {padding = 1}), nn.BatchNorm2d(3, {track_running_stats = false}),
    nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 3))
  local freq = {["0.weight"] = 0.37, ["0.bias"] = 0.91, ["1.weight"] = 0.53, ["1.bias"] = 1.7, ["5.weight"] = 0.43,
    ["5.bias"] = 0.83}
  local scale = {["0.weight"] = 0.5, ["0.bias"] = 0.1, ["1.weight"] = 0.2, ["1.bias"] = 0.1, ["5.weight"] = 0.4,
    ["5.bias"] = 0.1}
  ks.no_grad(function()
    for _, np in ipairs(m:named_parameters()) do
      local name, w = np[1], np[2]
      local v = vals(w:numel(), freq[name], scale[name]):reshape(table.unpack(w:shape()))
      if name == "1.weight" then v = v + 1 end
      w:copy_(v)
    end
  end)
  return m
end

local function tiny_task(k1, k2)
  return {vals(96, k1, 1.0):reshape(6, 1, 4, 4), I({0, 1, 2, 0, 1, 2}), vals(96, k2, 1.0):reshape(6, 1, 4, 4),
    I({2, 1, 0, 0, 2, 1})}
end

local NAMES = {"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"}

describe("maml.adapt", function()
  it("one step is the hand-computed SGD step, first and second order (same weights), losses included", function()
    for _, fo in ipairs({true, false}) do
      local m, xs, ys = linear_case()
      local W0, b0 = m.weight:detach():clone(), m.bias:detach():clone()
      local fast, losses = maml.adapt(m, xs, ys, {steps = 1, inner_lr = 0.5, first_order = fo})
      local W1, b1, loss = hand_step(W0, b0, xs, ys, 0.5)
      close(W1:reshape(-1):totable(), fast.weight, 1e-6)
      close(b1:totable(), fast.bias, 1e-6)
      assert.equal(1, #losses)
      assert.near(loss, losses[1], 1e-6)
      -- the model's own parameters are untouched; the fast weights are functions of them
      assert.is_true(ks.equal(W0, m.weight:detach()))
      assert.is_true(fast.weight.requires_grad)
      assert.is_not_nil(fast.weight.grad_fn)
    end
  end)

  it("three steps are three hand-computed SGD steps (each from the previous fast weights)", function()
    local m, xs, ys = linear_case()
    local W, b = m.weight:detach():clone(), m.bias:detach():clone()
    local fast, losses = maml.adapt(m, xs, ys, {steps = 3, inner_lr = 0.3})
    local want = {}
    for s = 1, 3 do W, b, want[s] = hand_step(W, b, xs, ys, 0.3) end
    close(W:reshape(-1):totable(), fast.weight, 1e-5)
    close(b:totable(), fast.bias, 1e-5)
    for s = 1, 3 do assert.near(want[s], losses[s], 1e-5) end
    assert.is_true(losses[3] < losses[1])
  end)

  it("steps = 0 returns the parameters themselves", function()
    local m, xs, ys = linear_case()
    local fast, losses = maml.adapt(m, xs, ys, {steps = 0})
    assert.equal(m.weight, fast.weight)
    assert.equal(0, #losses)
  end)

  it("defaults: 1 step, inner_lr 0.4, second order", function()
    local m, xs, ys = linear_case()
    local fast = maml.adapt(m, xs, ys)
    local W1 = hand_step(m.weight:detach(), m.bias:detach(), xs, ys, 0.4)
    close(W1:reshape(-1):totable(), fast.weight, 1e-6)
    -- second order: the gradient of the fast weights through the inner gradient is not the identity
    -- (a weighted sum: the plain sum of a softmax gradient's entries is 0 for every W)
    local v = vals(12, 0.3, 1.0):reshape(3, 4)
    local g2 = ks.autograd.grad((fast.weight * v):sum(), m.weight)[1]
    assert.is_true((g2 - v):abs():max():item() > 1e-3)
    local fo = maml.adapt(m, xs, ys, {first_order = true})
    local g1 = ks.autograd.grad((fo.weight * v):sum(), m.weight)[1]
    assert.is_true(ks.equal(g1, v))
  end)
end)

describe("maml against torch 1.13 (tiny conv + batch norm with batch statistics, 2 inner steps, lr 0.3)", function()
  it("fast weights after 2 second-order steps", function()
    local m = tiny_model()
    local t = tiny_task(0.23, 0.31)
    local fast = maml.adapt(m, t[1], t[2], {steps = 2, inner_lr = 0.3})
    close({0.203692, 0.348105, 0.464702, 0.500901, 0.477917, 0.378767, 0.220651, 0.062626, -0.137845, -0.286249,
      -0.407469, -0.487802, -0.494042, -0.428731, -0.334195, -0.185012, -0.021717, 0.165554, 0.326028, 0.452406,
      0.509034, 0.477792, 0.400489, 0.273561, 0.142526, -0.057513, -0.233329}, fast["0.weight"], 1e-5)
    close({0.078950, 0.096911, 0.040007}, fast["0.bias"], 1e-5)
    close({1.093385, 1.237428, 1.218928}, fast["1.weight"], 1e-5)
    close({0.098771, -0.011604, -0.034174}, fast["1.bias"], 1e-5)
    close({0.184497, 0.316841, 0.445960, 0.443018, 0.339228, 0.220628, -0.001603, -0.155713, -0.231636, -0.338735,
      -0.310939, -0.285044, -0.318498, -0.182264, -0.042221, 0.140467, 0.363901, 0.468355, 0.486188, 0.373531,
      0.098755, -0.085468, -0.313767, -0.419388, -0.342846, -0.328720, -0.279830, -0.164084, -0.064597, 0.052426,
      0.224711, 0.330226, 0.419891, 0.397924, 0.289922, 0.122097}, fast["5.weight"], 1e-5)
    close({0.088919, 0.086105, 0.059017}, fast["5.bias"], 1e-5)
  end)

  local SECOND = {
    {-0.043211, -0.018337, 0.000168, 0.020198, -0.014816, 0.016518, 0.109689, 0.105220, 0.040078, -0.126650,
      -0.102197, -0.095206, 0.076530, 0.129347, 0.097247, 0.012496, -0.015961, -0.013004, -0.008269, -0.049864,
      0.002471, -0.014514, 0.020902, 0.083094, 0.046726, 0.044663, 0.022589},
    {0, 0, 0},
    {0.146120, 0.257177, 0.247478},
    {0.102685, 0.010674, 0.117512},
    {-0.013736, 0.122909, 0.023125, -0.064348, -0.104424, -0.219637, -0.226864, -0.152315, 0.006307, 0.104912,
      0.031465, 0.000435, 0.021779, -0.142684, -0.119820, -0.028759, 0.036476, 0.146013, 0.299759, 0.171823,
      0.059403, -0.106515, -0.140975, -0.103796, -0.008043, 0.019774, 0.096695, 0.093107, 0.067948, 0.073624,
      -0.072895, -0.019508, -0.065710, 0.001603, 0.109510, 0.103360},
    {-0.064046, 0.048425, 0.015621},
  }
  local FIRST = {
    {-0.064970, -0.047136, -0.027905, 0.018303, -0.013122, 0.032187, 0.140252, 0.143507, 0.090039, -0.116206,
      -0.103345, -0.094125, 0.064887, 0.124763, 0.098266, 0.016411, -0.001896, 0.000578, -0.013288, -0.056711,
      -0.011461, -0.005541, 0.036972, 0.086392, 0.013744, 0.022775, 0.002646},
    {0, 0, 0},
    {0.148220, 0.249611, 0.186333},
    {0.085109, 0.033298, 0.088660},
    {0.089422, 0.239169, 0.196435, 0.082589, -0.189587, -0.314080, -0.342823, -0.225631, 0.058206, 0.195085,
      0.218828, 0.170447, -0.113401, -0.303368, -0.396961, -0.270184, 0.076595, 0.223381, 0.432234, 0.274782,
      -0.022059, -0.239501, -0.448196, -0.393704, 0.023979, 0.064199, 0.200525, 0.187594, 0.112992, 0.090700,
      -0.089411, -0.049150, -0.036147, 0.044416, 0.229368, 0.223256},
    {-0.028893, -0.031168, 0.060061},
  }

  for _, case in ipairs({{false, SECOND, "second"}, {true, FIRST, "first"}}) do
    it(case[3] .. "-order meta-gradient of the query loss", function()
      local m = tiny_model()
      local t = tiny_task(0.23, 0.31)
      local fast = maml.adapt(m, t[1], t[2], {steps = 2, inner_lr = 0.3, first_order = case[1]})
      local loss = maml.query_loss(m, fast, t[3], t[4])
      close({1.479737}, loss, 1e-5)
      loss:backward()
      local params = {}
      for _, np in ipairs(m:named_parameters()) do params[np[1]] = np[2] end
      for i, name in ipairs(NAMES) do close(case[2][i], params[name].grad, 2e-5) end
    end)
  end

  it("meta_step: two tasks, SGD lr 0.1, second order: the mean query loss and the parameters afterwards", function()
    local m = tiny_model()
    local opt = optim.SGD(m:parameters(), {lr = 0.1})
    local r = maml.meta_step(m, {tiny_task(0.23, 0.31), tiny_task(0.57, 0.19)}, opt, {steps = 2, inner_lr = 0.3})
    assert.near(1.261329, r.loss, 1e-5)
    assert.is_true(r.accuracy >= 0 and r.accuracy <= 100)
    local params = {}
    for _, np in ipairs(m:named_parameters()) do params[np[1]] = np[2] end
    close({0.189394, 0.346881, 0.451495, 0.494225, 0.480374, 0.392127, 0.248164, 0.078908, -0.100191, -0.260268,
      -0.394885, -0.474456, -0.500591, -0.452964, -0.341057, -0.180947, -0.003184, 0.178279, 0.340875, 0.448798,
      0.495345, 0.481955, 0.394638, 0.258869, 0.094890, -0.087478, -0.262435}, params["0.weight"], 1e-5)
    close({0.078950, 0.096911, 0.040007}, params["0.bias"], 1e-5)
    close({1.060699, 1.160236, 1.223537}, params["1.weight"], 1e-5)
    close({0.070905, -0.027625, -0.075257}, params["1.bias"], 1e-5)
    close({0.156330, 0.284448, 0.369437, 0.380620, 0.337156, 0.224625, 0.066571, -0.109897, -0.279121, -0.386170,
      -0.423980, -0.381354, -0.260872, -0.101965, 0.069219, 0.222471, 0.347792, 0.399772, 0.372954, 0.293105,
      0.152949, -0.009312, -0.170866, -0.303955, -0.372305, -0.376626, -0.314746, -0.183690, -0.046415, 0.117012,
      0.269771, 0.364837, 0.413182, 0.369203, 0.260062, 0.102974}, params["5.weight"], 1e-5)
    close({0.070431, 0.099292, 0.064318}, params["5.bias"], 1e-5)
  end)

  it("meta_step with {xs=, ys=, xq=, yq=} tasks and first order lowers the query loss of a fixed task", function()
    local m = tiny_model()
    local opt = optim.Adam(m:parameters(), {lr = 0.01})
    local t = tiny_task(0.23, 0.31)
    local task = {xs = t[1], ys = t[2], xq = t[3], yq = t[4]}
    local first, last
    for i = 1, 20 do
      local r = maml.meta_step(m, {task}, opt, {steps = 1, inner_lr = 0.3, first_order = true})
      if i == 1 then first = r.loss end
      last = r.loss
    end
    assert.is_true(last < first - 0.2, ("query loss %.4f -> %.4f"):format(first, last))
  end)
end)

describe("maml.evaluate and episode_accuracy", function()
  it("adapts per episode without changing the model; the summary is kshot.fewshot's", function()
    local m = tiny_model()
    local before = m:state_dict()["5.weight"]:clone()
    local tasks = {tiny_task(0.23, 0.31), tiny_task(0.57, 0.19), tiny_task(0.11, 0.87)}
    local s = maml.evaluate(m, tasks, {steps = 2, inner_lr = 0.3})
    assert.is_true(ks.equal(before, m:state_dict()["5.weight"]))
    assert.equal(3, s.n)
    assert.equal("sample", s.sigma) -- fewer than 100 episodes: Student t with the sample sd
    for i, t in ipairs(tasks) do
      -- by hand: the adapted weights' query predictions
      local fast = maml.adapt(m, t[1], t[2], {steps = 2, inner_lr = 0.3})
      local pred = nn.functional_call(m, fast, t[3]):argmax(1)
      local acc = 100 * pred:eq(t[4]):sum():item() / 6
      assert.near(acc, s.per_episode[i], 1e-9)
      assert.near(acc, maml.episode_accuracy(m, t[1], t[2], t[3], t[4], {steps = 2, inner_lr = 0.3}), 1e-9)
    end
    -- tasks as a function(e) with episodes=
    local calls = 0
    local s2 = maml.evaluate(m, function(e) calls = calls + 1; return table.unpack(tasks[e]) end,
      {steps = 2, inner_lr = 0.3, episodes = 3})
    assert.equal(3, calls)
    assert.same(s.per_episode, s2.per_episode)
  end)

  it("maml.conv4: Conv-4 with batch statistics, 28x28 -> 32 features -> way logits", function()
    ks.manual_seed(0)
    local m = maml.conv4{way = 5}
    assert.same({3, 5}, m(ks.randn(3, 1, 28, 28)):shape())
    assert.equal(4 * 4 + 2, #m:named_parameters()) -- 4 x (conv w, b, bn w, b) + linear w, b
    assert.equal(0, #m:named_buffers()) -- no running statistics
    assert.same({2, 3}, maml.conv4{way = 3, hidden = 8, in_channels = 3, size = 32}(ks.randn(2, 3, 32, 32)):shape())
  end)
end)

describe("maml.protocol_episodes", function()
  it("draws exactly the episodes kshot.fewshot.evaluate draws for the same seed", function()
    local g = ks.Generator(5)
    local sx = ks.randint(0, 256, {60, 4, 4}, {generator = g}):to("uint8")
    local sy = ks.arange(60) % 6
    local qx = ks.randint(0, 256, {48, 4, 4}, {generator = g}):to("uint8")
    local qy = ks.arange(48) % 6
    local seen = {}
    -- a backbone that records the images of each call (support, then queries)
    local record = function(x) seen[#seen + 1] = x:clone(); return x:reshape(x:size(0), -1) end
    fewshot.evaluate{backbone = record, method = "UN", way = 3, shot = 2, query = 3, episodes = 4, classes = {1, 3, 4, 5},
      support_pool = {images = sx, labels = sy}, query_pool = {images = qx, labels = qy}, seed = 7, cache = false}
    local next_episode = maml.protocol_episodes{support_pool = {images = sx, labels = sy},
      query_pool = {images = qx, labels = qy}, classes = {1, 3, 4, 5}, way = 3, shot = 2, query = 3, seed = 7}
    assert.equal(8, #seen)
    for e = 1, 4 do
      local si, sl, qi, ql = next_episode()
      assert.same({6, 4, 4}, si:shape())
      assert.same({9, 4, 4}, qi:shape())
      assert.is_true(ks.equal(seen[2 * e - 1], si:float():div(255):unsqueeze(1)), "support of episode " .. e)
      assert.is_true(ks.equal(seen[2 * e], qi:float():div(255):unsqueeze(1)), "queries of episode " .. e)
      assert.same({0, 0, 1, 1, 2, 2}, sl:sort():totable())
      assert.equal("int64", ql:dtype())
    end
  end)
end)

describe("maml: bad inputs", function()
  local m, xs, ys = linear_case()
  it("names the argument and the shapes", function()
    assert.matches("maml.adapt: model must be an nn.Module, got table", err_of(maml.adapt, {}, xs, ys))
    assert.matches("maml.adapt: the support inputs must be a tensor, got nil", err_of(maml.adapt, m, nil, ys))
    assert.matches("maml.adapt: the support labels must be %[N%] with N = 6 %(the inputs' rows%), got shape %[5%] "
      .. "%(inputs %[6, 4%]%)", err_of(maml.adapt, m, xs, I({0, 1, 2, 0, 1})))
    assert.matches("the support labels must be int64, got float32", err_of(maml.adapt, m, xs, ys:float()))
    assert.matches("the support inputs must be %[N, ...%] with N examples, got shape %[6%]",
      err_of(maml.adapt, m, ks.zeros(6), ys))
    assert.matches("maml.adapt: a support label is 7 but the model returns 3 logits per example %(labels must be 0..2%)",
      err_of(maml.adapt, m, xs, I({0, 1, 2, 0, 1, 7})))
    assert.matches("the support labels must be >= 0, got %-1", err_of(maml.adapt, m, xs, I({0, 1, 2, 0, 1, -1})))
    assert.matches("the support set is empty", err_of(maml.adapt, m, ks.zeros(0, 4), I({})))
  end)

  it("rejects bad options, naming the option", function()
    assert.matches("maml.adapt: steps must be an integer >= 0, got %-1", err_of(maml.adapt, m, xs, ys, {steps = -1}))
    assert.matches("steps must be an integer >= 0, got 1.5", err_of(maml.adapt, m, xs, ys, {steps = 1.5}))
    assert.matches("inner_lr must be a finite number > 0, got 0", err_of(maml.adapt, m, xs, ys, {inner_lr = 0}))
    assert.matches("first_order must be a boolean, got yes", err_of(maml.adapt, m, xs, ys, {first_order = "yes"}))
    assert.matches("maml.adapt: unknown option 'inner_rl' %(known: first_order, inner_lr, steps%); did you mean "
      .. "'inner_lr'%?", err_of(maml.adapt, m, xs, ys, {inner_rl = 0.1}))
    assert.matches("options must be a table, got number", err_of(maml.adapt, m, xs, ys, 3))
    local frozen = nn.Linear(4, 3)
    for _, p in ipairs(frozen:parameters()) do p:requires_grad_(false) end
    assert.matches("the model has no parameter that requires grad", err_of(maml.adapt, frozen, xs, ys))
  end)

  it("meta_step: tasks and the optimiser", function()
    local opt = optim.SGD(m:parameters(), {lr = 0.1})
    assert.matches("maml.meta_step: tasks is empty", err_of(maml.meta_step, m, {}, opt))
    assert.matches("tasks must be a list of {xs, ys, xq, yq}, got a tensor", err_of(maml.meta_step, m, xs, opt))
    assert.matches("maml.meta_step: tasks%[2%] must be a table {xs, ys, xq, yq}, got number",
      err_of(maml.meta_step, m, {{xs, ys, xs, ys}, 5}, opt))
    assert.matches("maml.meta_step: tasks%[1%]: the query labels must be %[N%] with N = 6",
      err_of(maml.meta_step, m, {{xs, ys, xs, I({0, 1})}}, opt))
    assert.matches("maml.meta_step: tasks%[1%]: the query inputs must be a tensor, got nil",
      err_of(maml.meta_step, m, {{xs, ys}}, opt))
    assert.matches("opt must be an optimiser %(kshot.optim, with step and zero_grad%), got nil",
      err_of(maml.meta_step, m, {{xs, ys, xs, ys}}, nil))
    assert.matches("maml.meta_step: a query label is 5 but the model returns 3 logits",
      err_of(maml.meta_step, m, {{xs, ys, xs, I({0, 1, 2, 0, 1, 5})}}, opt))
  end)

  it("evaluate, query_loss, conv4 and protocol_episodes", function()
    assert.matches("maml.evaluate: episodes must be an integer >= 1 when tasks is a function, got nil",
      err_of(maml.evaluate, m, function() end))
    assert.matches("maml.evaluate: episodes = 2 but tasks lists 1 episodes",
      err_of(maml.evaluate, m, {{xs, ys, xs, ys}}, {episodes = 2}))
    assert.matches("progress must be a function", err_of(maml.evaluate, m, {{xs, ys, xs, ys}}, {progress = 1}))
    assert.matches("maml.evaluate: unknown option 'episode'", err_of(maml.evaluate, m, {{xs, ys, xs, ys}}, {episode = 1}))
    assert.matches("maml.query_loss: fast must be a table name %-> tensor", err_of(maml.query_loss, m, nil, xs, ys))
    assert.matches("nn.functional_call: the module has no parameter or buffer 'wieght'",
      err_of(maml.query_loss, m, {wieght = ks.zeros(3, 4)}, xs, ys))
    assert.matches("maml.conv4: size = 8 is too small for 4 max%-pools", err_of(maml.conv4, {size = 8}))
    assert.matches("maml.conv4: way must be an integer >= 1, got 0", err_of(maml.conv4, {way = 0}))
    assert.matches("maml.conv4: unknown option 'channels'", err_of(maml.conv4, {channels = 3}))
    local pool = {images = ks.zeros(10, 2, 2), labels = ks.arange(10) % 2}
    assert.matches("maml.protocol_episodes: classes= is required",
      err_of(maml.protocol_episodes, {support_pool = pool}))
    assert.matches("maml.protocol_episodes: shot must be an integer >= 1, got 0",
      err_of(maml.protocol_episodes, {support_pool = pool, classes = {0, 1}, shot = 0}))
    assert.matches("maml.protocol_episodes: support_pool has 10 images but 3 labels",
      err_of(maml.protocol_episodes, {support_pool = {images = ks.zeros(10, 2, 2), labels = I({0, 1, 0})},
        classes = {0, 1}}))
  end)
end)
