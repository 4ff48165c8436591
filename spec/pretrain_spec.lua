-- kshot.fewshot.pretrain / pretrain_run: NT-Xent and prototypical losses
-- against hand-computed values, gradient checks, two-view augmentation,
-- rotations, sampling, and a 2-step smoke run of each method writing a
-- checkpoint with its metadata.
local ks = require "kshot"
local P = require "kshot.fewshot.pretrain"
local R = require "kshot.fewshot.pretrain_run"

local function I(t) return ks.tensor(t, {dtype = "int64"}) end
local function T(t) return ks.tensor(t) end
local function same(a, b) return a:eq(b):all():item() end

-- NT-Xent written out with Lua numbers (independent of the implementation)
local function nt_xent_by_hand(a, b, t)
  local z = {}
  for _, r in ipairs(a) do z[#z + 1] = r end
  for _, r in ipairs(b) do z[#z + 1] = r end
  for i, r in ipairs(z) do
    local n = 0
    for _, v in ipairs(r) do n = n + v * v end
    n = math.sqrt(n)
    local u = {}
    for j, v in ipairs(r) do u[j] = v / n end
    z[i] = u
  end
  local B, total = #a, 0
  for i = 1, 2 * B do
    local pos = i <= B and i + B or i - B
    local denom = 0
    local function sim(j)
      local s = 0
      for k = 1, #z[i] do s = s + z[i][k] * z[j][k] end
      return s / t
    end
    for j = 1, 2 * B do if j ~= i then denom = denom + math.exp(sim(j)) end end
    total = total + (-sim(pos) + math.log(denom))
  end
  return total / (2 * B)
end

describe("pretrain.nt_xent", function()
  it("equals log(2 + e) - 1 for two orthogonal pairs at temperature 1", function()
    local z = T({{1, 0}, {0, 1}})
    local loss = P.nt_xent(z, z:clone(), 1.0)
    assert.is_true(math.abs(loss:item() - (math.log(2 + math.exp(1)) - 1)) < 1e-5)
  end)

  it("matches the hand-written formula on a small batch (unnormalised inputs)", function()
    local a = {{3, 4, 0}, {1, 0, 1}, {0, 2, 1}}
    local b = {{0, 2, 2}, {1, 1, 0}, {2, -1, 1}}
    local want = nt_xent_by_hand(a, b, 0.5)
    assert.is_true(math.abs(P.nt_xent(T(a), T(b), 0.5):item() - want) < 1e-5)
  end)

  it("passes gradcheck", function()
    local ag = require "kshot.autograd"
    ks.manual_seed(3)
    local z1 = ks.randn(4, 3):requires_grad_(true)
    local z2 = ks.randn(4, 3):requires_grad_(true)
    local ok = ag.gradcheck(function(a, b) return P.nt_xent(a, b, 0.5) end, {z1, z2})
    assert.is_true(ok)
  end)

  it("rejects bad inputs with clear errors", function()
    assert.has_error(function() P.nt_xent(nil, T({{1}})) end, "nt_xent: z1 must be a tensor, got nil")
    local ok, err = pcall(P.nt_xent, ks.zeros(3, 2), ks.zeros(4, 2))
    assert.is_false(ok)
    assert.truthy(err:find("[3, 2]", 1, true) and err:find("[4, 2]", 1, true))
    ok, err = pcall(P.nt_xent, ks.ones(2, 2), ks.ones(2, 2), 0)
    assert.truthy(err:find("temperature must be a positive number", 1, true))
    ok, err = pcall(P.nt_xent, ks.ones(1, 2), ks.ones(1, 2))
    assert.truthy(err:find("at least 2 pairs", 1, true))
  end)
end)

describe("pretrain.proto_loss", function()
  it("uses class means and squared euclidean distances", function()
    -- prototypes: class 0 = mean of (0,0),(0,2) = (0,1); class 1 = (2,0)
    local fs = T({{0, 0}, {0, 2}, {2, 0}})
    local ys = I({0, 0, 1})
    local fq = T({{0, 0}, {3, 0}})
    local yq = I({0, 1})
    local loss, logits = P.proto_loss(fs, ys, fq, yq, 2)
    -- query (0,0): d0 = 1, d1 = 4; query (3,0): d0 = 10, d1 = 1
    local want = {{-1, -4}, {-10, -1}}
    local got = logits:totable()
    for i = 1, 2 do for j = 1, 2 do assert.is_true(math.abs(got[i][j] - want[i][j]) < 1e-5) end end
    local l1 = 1 + math.log(math.exp(-1) + math.exp(-4))
    local l2 = 1 + math.log(math.exp(-10) + math.exp(-1))
    assert.is_true(math.abs(loss:item() - (l1 + l2) / 2) < 1e-5)
  end)

  it("passes gradcheck on the features", function()
    local ag = require "kshot.autograd"
    ks.manual_seed(4)
    local fs = ks.randn(6, 3):requires_grad_(true)
    local fq = ks.randn(4, 3):requires_grad_(true)
    local ys, yq = I({0, 1, 2, 0, 1, 2}), I({0, 1, 2, 1})
    assert.is_true(ag.gradcheck(function(a, b) return (P.proto_loss(a, ys, b, yq, 3)) end, {fs, fq}))
  end)

  it("rejects bad inputs", function()
    local ok, err = pcall(P.proto_loss, ks.zeros(2, 3), I({0, 1}), ks.zeros(2, 4), I({0, 1}), 2)
    assert.truthy(err:find("[2, 3]", 1, true) and err:find("[2, 4]", 1, true))
    ok, err = pcall(P.proto_loss, ks.zeros(2, 3), I({0, 0}), ks.zeros(2, 3), I({0, 1}), 2)
    assert.truthy(err:find("every class 0..1 needs a support example", 1, true))
    ok, err = pcall(P.proto_loss, ks.zeros(2, 3), I({0, 1}), ks.zeros(2, 3), I({0, 1}), 1)
    assert.truthy(err:find("way must be an integer >= 2", 1, true))
    assert.has_error(function() P.proto_loss(ks.zeros(2, 3), nil, ks.zeros(2, 3), I({0, 1}), 2) end,
      "proto_loss: ys must be a tensor, got nil")
  end)
end)

describe("pretrain helpers", function()
  it("rotations turns each image by 0/90/180/270 degrees counter-clockwise", function()
    local x = T({{{{1, 2}, {3, 4}}}}) -- [1, 1, 2, 2]
    local xr, y = P.rotations(x)
    assert.same({4, 1, 2, 2}, xr:shape())
    assert.same({0, 1, 2, 3}, y:totable())
    assert.same({{{1, 2}, {3, 4}}}, xr[0]:totable())
    assert.same({{{2, 4}, {1, 3}}}, xr[1]:totable()) -- 90 degrees counter-clockwise
    assert.same({{{4, 3}, {2, 1}}}, xr[2]:totable())
    assert.same({{{3, 1}, {4, 2}}}, xr[3]:totable())
    assert.has_error(function() P.rotations(ks.zeros(1, 1, 2, 3)) end)
  end)

  it("two_views gives two different views, the same for the same seed", function()
    ks.manual_seed(0)
    local x = ks.rand(4, 1, 28, 28)
    local a1, b1 = P.two_views {seed = 5}(x)
    local a2, b2 = P.two_views {seed = 5}(x)
    assert.same({4, 1, 28, 28}, a1:shape())
    assert.is_true(same(a1, a2) and same(b1, b2))
    assert.is_false(same(a1, b1))
  end)

  it("stratified_holdout keeps 10% of each class, disjoint, relabelled", function()
    local labels = {}
    for i = 1, 60 do labels[i] = (i - 1) % 3 + 4 end -- classes 4, 5, 6: 20 each
    local train, held = P.stratified_holdout(I(labels), {6, 4}, 0.1, ks.Generator(1))
    assert.equal(4, #held.rows)      -- 2 of class 6, 2 of class 4
    assert.equal(36, #train.rows)
    local seen = {}
    for _, part in ipairs({train, held}) do
      for i, r in ipairs(part.rows) do
        assert.is_nil(seen[r])
        seen[r] = true
        local c = labels[r + 1]
        assert.equal(c == 6 and 0 or 1, part.labels[i])
      end
    end
    local ok, err = pcall(P.stratified_holdout, I(labels), {4, 7}, 0.1, ks.Generator(1))
    assert.truthy(err:find("class 7 has no example", 1, true))
    ok, err = pcall(P.stratified_holdout, I(labels), {4}, 1.5, ks.Generator(1))
    assert.truthy(err:find("frac must be in (0, 1)", 1, true))
  end)

  it("episode draws distinct rows per class, support first", function()
    local groups = {{0, 1, 2, 3}, {10, 11, 12, 13}, {20, 21, 22, 23}}
    local s, sy, q, qy = P.episode(groups, 2, 1, 2, ks.Generator(2))
    assert.same({2}, s:shape())
    assert.same({0, 1}, sy:totable())
    assert.same({0, 0, 1, 1}, qy:totable())
    local rows = {}
    for _, r in ipairs(s:totable()) do rows[#rows + 1] = r end
    for _, r in ipairs(q:totable()) do rows[#rows + 1] = r end
    local seen = {}
    for _, r in ipairs(rows) do assert.is_nil(seen[r]); seen[r] = true end
    local ok, err = pcall(P.episode, groups, 2, 3, 2, ks.Generator(2))
    assert.truthy(err:find("fewer than shot + query = 5", 1, true))
  end)
end)

describe("pretrain_run", function()
  -- 60 tiny synthetic images of 3 classes (a bright square whose place depends on the class)
  local function data()
    local g = ks.Generator(7)
    local x = (ks.rand({60, 12, 12}, {generator = g}) * 60):to("uint8")
    local labels = {}
    for i = 1, 60 do labels[i] = (i - 1) % 3 end
    for i = 0, 59 do
      local c = labels[i + 1]
      x[{i, {c * 4, c * 4 + 4}, {2, 8}}] = 250
    end
    return x, I(labels)
  end

  for _, method in ipairs({"supervised", "simclr", "rotation", "protonet"}) do
    it(method .. ": a 2-step run writes a loadable checkpoint with its metadata", function()
      local x, y = data()
      local opts = {method = method, images = x, labels = y, base = {0, 1, 2}, layers = {1, 1, 1, 1}, width = 2,
        epochs = 1, batch = 8, max_steps = 2, way = 3, shot = 1, query = 2, episodes = 2, eval_episodes = 2,
        holdout = 0.3, seed = 1}
      local model, info, o = R.run(opts)
      assert.equal(2, info.steps)
      assert.equal(1, info.epochs)
      assert.is_true(info.held_out >= 0 and info.held_out <= 100)
      local path = os.tmpname()
      R.save(path, model, R.metadata(o, info, "kshot scripts/pretrain_backbone.lua --method " .. method))
      local fewshot = require "kshot.fewshot"
      local m2, meta = fewshot.load_backbone(path)
      os.remove(path)
      assert.equal(method, meta.method)
      assert.equal("1,1,1,1", meta.layers)
      assert.equal("2", meta.width)
      assert.equal("1", meta.seed)
      assert.equal("1", meta.epochs)
      assert.equal(("%.2f"):format(info.held_out), meta.held_out_accuracy)
      local want_split = (method == "simclr" or method == "rotation") and "all train images, unlabeled"
        or "base classes 0,1,2"
      assert.truthy(meta.split:find(want_split, 1, true))
      assert.equal("kshot scripts/pretrain_backbone.lua --method " .. method, meta.command)
      assert.is_true(math.abs(meta.mean - 0.2860) < 1e-9)
      -- the saved weights are the model's
      local xin = (x:narrow(0, 0, 2):float() / 255):unsqueeze(1)
      local a = ks.no_grad(function() return P.features(model, xin) end)
      local b = ks.no_grad(function() return P.features(m2, xin) end)
      assert.is_true(same(a, b))
      local fc = ({supervised = 3, rotation = 4})[method] or 1
      assert.equal(fc, m2.fc.weight:size(0))
    end)
  end

  it("is deterministic: same seed, same weights", function()
    local x, y = data()
    local opts = {method = "supervised", images = x, labels = y, base = {0, 1, 2}, width = 2, epochs = 1,
      batch = 8, max_steps = 2, holdout = 0.3, seed = 3}
    local m1 = R.run(opts)
    local m2 = R.run(opts)
    local s1, s2 = m1:state_dict(), m2:state_dict()
    for k, t in pairs(s1) do assert.is_true(same(t, s2[k]), k) end
  end)

  it("rejects bad options with clear errors", function()
    local x, y = data()
    local function err_of(o)
      o.images = o.images or x
      o.labels = o.labels or y
      local ok, e = pcall(R.run, o)
      assert.is_false(ok)
      return e
    end
    assert.truthy(err_of({method = "byol"}):find("method must be one of supervised, simclr, rotation, protonet", 1,
      true))
    assert.truthy(err_of({method = "supervised", width = 0}):find("width must be a positive integer", 1, true))
    assert.truthy(err_of({method = "supervised", layers = {1, 1}}):find("layers must be a list of 4", 1, true))
    assert.truthy(err_of({method = "supervised", holdout = 1}):find("holdout must be a fraction", 1, true))
    assert.truthy(err_of({method = "supervised", base = {0, 0}}):find("base class 0 is listed twice", 1, true))
    assert.truthy(err_of({method = "supervised", base = {0, 9}}):find("class 9 has no example", 1, true))
    assert.truthy(err_of({method = "protonet", base = {0, 1}, way = 3}):find("way 3 is larger than the 2 base", 1,
      true))
    assert.truthy(err_of({method = "supervised", images = ks.zeros(60, 4)}):find("images must be a uint8 tensor", 1,
      true))
    assert.truthy(err_of({method = "supervised", labels = I({0, 1})}):find("labels must be an int64 tensor [N]", 1,
      true))
    assert.truthy(err_of({method = "simclr", temperature = -1}):find("temperature must be a positive number", 1,
      true))
    assert.truthy(err_of({method = "supervised", colour = 1}):find("pretrain: unknown option 'colour' (known: base, "
      .. "batch, episodes, epochs, eval_episodes, holdout, holdout_max, images, images_per_epoch, labels, layers, log, "
      .. "lr, max_steps, mean, method, progress, proj_dim, query, seed, shot, std, temperature, way, weight_decay, "
      .. "width)", 1, true))
    assert.truthy(err_of({method = "supervised", epoch = 3}):find("(known: base, ", 1, true))
    assert.truthy(err_of({method = "supervised", epoch = 3}):find("; did you mean 'epochs'?", 1, true))
    local ok, e = pcall(R.run, "supervised")
    assert.truthy(e:find("options table expected, got string", 1, true))
  end)
end)
