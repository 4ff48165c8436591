-- kshot.fewshot's "cosine" method (Baseline++ on frozen features) against torch 1.13, and the
-- fewshot module's own help entries (help("fewshot.evaluate") once showed maml.evaluate's text).
local ks = require "kshot"
local fewshot = require "kshot.fewshot"
local H = require "kshot.fewshot.heads"

-- the features of spec/fixtures/torch_refs/fewshot_cosine.py: sin(0.7 i + 1.3 j)
local function features()
  local i = ks.arange(6):float():unsqueeze(1)
  local j = ks.arange(4):float():unsqueeze(0)
  return ks.sin(i * 0.7 + j * 1.3), ks.tensor({0, 0, 1, 1, 2, 2}, ks.int64)
end

local function close(expected, got, tol)
  local e = ks.tensor(expected)
  local d = (got - e):abs():max():item()
  assert(d <= tol, ("max |diff| %.3g > %.3g\nexpected %s\ngot %s"):format(d, tol, tostring(e), tostring(got)))
end

describe("fewshot method 'cosine'", function()
  it("trains the cosine head as torch 1.13 does (fixtures/torch_refs/fewshot_cosine.py)", function()
    local f, y = features()
    local head = H.fit_cosine(f, y, 3, {steps = 5, lr = 0.5, momentum = 0.9, weight_decay = 0.01, scale = 10,
      label_smoothing = 0.1})
    assert.equal("linear", head.kind)
    assert.is_true(head.normalize)
    close({{4.936687, 6.632514, 5.576770}, {5.404715, 0.525176, -3.564096}, {-2.045176, -6.351547, -7.483557},
      {-6.498880, -3.923238, -0.439588}}, head.weight, 2e-4)
    assert.equal(0, head.bias:abs():sum():item())
  end)

  it("starts at the normalised class means: steps = 0 is the scaled cosine to them", function()
    local f, y = features()
    local head = H.fit_cosine(f, y, 3, {steps = 0, scale = 2})
    local fn = f / f:norm(2, 1, true)
    local m = H.class_means(fn, y, 3)
    close((m / m:norm(2, 1, true)):t() * 2, head.weight, 1e-6)
  end)

  it("runs under no_grad (episodes and fit call it there) and is a frozen method of compare and fit", function()
    local f, y = features()
    local h1 = ks.no_grad(function() return H.fit_cosine(f, y, 3, {steps = 3}) end)
    local h2 = H.fit_cosine(f, y, 3, {steps = 3})
    assert.is_true(ks.equal(h1.weight, h2.weight))
    -- 3 classes of 2-D points: raw "pixels" as features, same episodes as L2N
    local g = ks.Generator(0)
    local x = ks.randn({60, 2}, {generator = g}) * 0.3
    local labels = {}
    for c = 0, 2 do for _ = 1, 20 do labels[#labels + 1] = c end end
    local yl = ks.tensor(labels, ks.int64)
    x = x + ks.tensor({{4, 0}, {-2, 3}, {-2, -3}}):index_select(0, yl)
    local r = fewshot.compare{methods = {"L2N", "cosine", {"baseline_pp", steps = 10, label = "b++"}},
      support_pool = {images = x, labels = yl}, way = 3, shot = 2, query = 5, episodes = 4}
    assert.same({"L2N", "cosine", "b++"}, r.order)
    assert.equal(100, r.results.cosine.mean)
    local clf = fewshot.fit{method = "cosine", images = x, labels = yl}
    assert.same(yl:totable(), clf:predict(x):totable())
  end)

  it("rejects bad options by name before any episode runs", function()
    local function err(spec)
      local ok, e = pcall(fewshot.evaluate, {method = spec, support_pool = {images = ks.zeros(4, 2),
        labels = ks.tensor({0, 0, 1, 1}, ks.int64)}, way = 2, shot = 1, query = 1, episodes = 1})
      assert.is_false(ok)
      return e
    end
    assert.matches("method cosine has no option 'augment'", err({"cosine", augment = true}))
    assert.matches("cosine option steps must be an integer >= 0, got 1.5", err({"cosine", steps = 1.5}))
    assert.matches("cosine option lr must be a number > 0, got 0", err({"cosine", lr = 0}))
    assert.matches("known: UN, L2N, CL2N, logreg, cosine, bn, finetune, lora", err("cosin"), 1, true)
  end)
end)

describe("few-shot help entries", function()
  local help = require "kshot.help"
  it("document fewshot's own functions, not a submodule's namesake", function()
    local t = help.text("fewshot.evaluate")
    assert.matches("^evaluate{backbone=, method = spec", t)
    assert.is_nil(t:find("maml", 1, true))
    assert.matches("^tune{method = spec", help.text("fewshot.tune"))
    assert.matches("^fit{backbone=", help.text("fewshot.fit"))
    assert.matches("^load%(path", help.text("fewshot.load"))
    assert.matches('"cosine"', help.text("fewshot.methods"))
  end)

  it("say what the episode and learning-curve samplers return, as they behave", function()
    local e = help.text("data.episode")
    assert.truthy(e:find("support_rows, support_labels, query_rows, query_labels, episode_classes", 1, true))
    local y = ks.tensor({0, 0, 0, 1, 1, 1, 2, 2, 2}, ks.int64)
    local si, sl, qi, ql, cls = ks.data.episode(y, {way = 2, shot = 1, query = 2, seed = 0})
    for k = 0, 1 do -- label j of the episode is original class cls[j]
      assert.equal(cls[sl[k]:item()]:item(), y[si[k]:item()]:item())
    end
    for k = 0, 3 do assert.equal(cls[ql[k]:item()]:item(), y[qi[k]:item()]:item()) end
    local t = help.text("data.learning_curve_subsets")
    assert.truthy(t:find("KEYED BY K", 1, true))
    assert.is_nil(t:find("This file adds", 1, true))
    local s = ks.data.learning_curve_subsets(y, {1, 3}, {seed = 0})
    assert.equal(3, s[1]:numel())
    assert.equal(9, s[3]:numel())
    assert.is_nil(s[2])
  end)
end)

describe("adapting methods and tensors off the feature path", function()
  -- a ResNet's features are taken at avgpool: its fc is not between input and features, so
  -- finetune train = {"fc"} or lora targets = {"Linear"} used to train nothing, silently
  local function pool()
    local g = ks.Generator(4)
    local x = (ks.rand({12, 8, 8}, {generator = g}) * 255):to(ks.uint8)
    local y = ks.tensor({0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2}, ks.int64)
    return {images = x, labels = y}
  end
  local function run(spec)
    ks.manual_seed(0)
    local m = ks.nn.resnet{layers = {1, 1, 1, 1}, width = 2, num_classes = 3, in_channels = 1, small_input = true}
    m:eval()
    return pcall(fewshot.evaluate, {backbone = m, method = spec, way = 3, shot = 1, query = 2, episodes = 1,
      support_pool = pool()})
  end
  it("is an error naming the method, the feature layer and what to train instead", function()
    local ok, err = run({"finetune", steps = 2, train = {"fc"}})
    assert.is_false(ok)
    assert.truthy(err:find("method finetune: none of the 2 trained tensors gets a gradient", 1, true))
    assert.truthy(err:find("(layer 'avgpool';", 1, true))
    ok, err = run({"lora", steps = 2, targets = {"Linear"}})
    assert.is_false(ok)
    assert.truthy(err:find("method lora: none of the 2 trained tensors gets a gradient", 1, true))
  end)
  it("accepts a selection that reaches the features, even with fc in it", function()
    assert.is_true((run({"finetune", steps = 2, train = {"layer4", "fc"}})))
    assert.is_true((run({"lora", steps = 2, targets = {"layer4"}})))
  end)
end)
