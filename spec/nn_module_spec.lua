-- kshot.nn: the Module protocol, layers, containers, builders, state_dict.
local ks = require "kshot"
local nn = require "kshot.nn"

describe("nn.Module", function()
  before_each(function() ks.manual_seed(0) end)

  it("lists parameters and buffers in registration order with PyTorch's names", function()
    local m = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 26 * 26, 10))
    local names = {}
    for _, p in ipairs(m:named_parameters()) do names[#names + 1] = p[1] end
    assert.are.same({"0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"}, names)
    local bufs = {}
    for _, b in ipairs(m:named_buffers()) do bufs[#bufs + 1] = b[1] end
    assert.are.same({"1.running_mean", "1.running_var", "1.num_batches_tracked"}, bufs)
    local _, keys = m:state_dict()
    assert.are.same({"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
      "1.num_batches_tracked", "4.weight", "4.bias"}, keys)
    assert.are.equal(4 * 9 + 4 + 4 + 4 + 4 * 26 * 26 * 10 + 10, m:num_parameters())
  end)

  it("uses PyTorch's default initialisation bounds", function()
    local lin = nn.Linear(100, 20)
    local bound = 1 / math.sqrt(100)
    assert.is_true(lin.weight:abs():max():item() <= bound)
    assert.is_true(lin.bias:abs():max():item() <= bound)
    assert.is_true(lin.weight:std():item() > bound / 2) -- U(-b, b) has std b/sqrt(3)
  end)

  it("is reproducible from the seed", function()
    ks.manual_seed(7)
    local a = nn.mlp{8, 4, 2}
    ks.manual_seed(7)
    local b = nn.mlp{8, 4, 2}
    for i, p in ipairs(a:parameters()) do
      assert.is_true(p:eq(b:parameters()[i]):all():item())
    end
  end)

  it("switches train/eval recursively and changes dropout and batch norm behaviour", function()
    local m = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    m:eval()
    assert.is_false(m:get(1).training)
    local x = ks.ones(3, 4)
    assert.is_true(m(x):eq(m(x)):all():item())
    m:train()
    assert.is_true(m:get(0).training)
  end)

  it("zero_grad clears gradients; requires_grad_(false) freezes", function()
    local m = nn.Linear(3, 2)
    m(ks.ones(1, 3)):sum():backward()
    assert.is_not_nil(m.weight.grad)
    m:zero_grad()
    assert.is_nil(m.weight.grad)
    m:requires_grad_(false)
    assert.is_false(m.weight.requires_grad)
    local y = m(ks.ones(1, 3))
    assert.is_false(y.requires_grad)
  end)

  it("state_dict round-trips and load_state_dict checks keys and shapes", function()
    local a, b = nn.small_cnn(), nn.small_cnn()
    b:load_state_dict(a:state_dict())
    local x = ks.randn(2, 1, 28, 28)
    assert.is_true(a(x):eq(b(x)):all():item())
    local sd = a:state_dict()
    sd["7.weight"] = ks.zeros(5, 5)
    local ok, err = pcall(function() b:load_state_dict(sd) end)
    assert.is_false(ok)
    assert.matches("7.weight", err)
    assert.matches("%[5, 5%]", err)
    assert.matches("%[128, 3136%]", err)
    local partial = a:state_dict()
    partial["9.bias"] = nil
    partial["extra.thing"] = ks.zeros(1)
    assert.has_error(function() b:load_state_dict(partial) end)
    local r = b:load_state_dict(partial, {strict = false})
    assert.are.same({"9.bias"}, r.missing_keys)
    assert.are.same({"extra.thing"}, r.unexpected_keys)
  end)

  it("load_state_dict(ks.load(path)) ignores the file's metadata (h62: was \"unknown option 'epoch'\")", function()
    local a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    local path = os.tmpname()
    ks.save(path, a:state_dict(), {epoch = "3", note = "best"})
    local r = b:load_state_dict(ks.load(path))
    os.remove(path)
    assert.are.same({}, r.missing_keys)
    assert.is_true(ks.equal(a.weight, b.weight))
    -- options are still checked: a misspelled key with a boolean is not metadata
    local err = select(2, pcall(function() b:load_state_dict(a:state_dict(), {strcit = false}) end))
    assert.matches("unknown option 'strcit'", err)
    -- strict = false still applies
    local partial = a:state_dict()
    partial.bias = nil
    assert.are.same({"bias"}, b:load_state_dict(partial, {strict = false}).missing_keys)
    -- torch's positional form load_state_dict(sd, False)
    assert.are.same({"bias"}, b:load_state_dict(partial, false).missing_keys)
    assert.matches("missing key", select(2, pcall(function() b:load_state_dict(partial, true) end)))
  end)

  it("prints the module tree", function()
    local s = tostring(nn.Sequential(nn.Linear(2, 3), nn.ReLU()))
    assert.are.equal("Sequential(\n  (0): Linear(in_features=2, out_features=3, bias=true)\n  (1): ReLU()\n)", s)
  end)

  it("lets users write their own modules", function()
    local Scale = nn.Module:extend("Scale")
    function Scale:__init(n)
      nn.Module.__init(self)
      self:register_parameter("s", ks.full({n}, 2.0))
      self.inner = nil
      self:add_module("inner", nn.Linear(n, n))
    end
    function Scale:forward(x) return self.inner(x) * self.s end
    local m = Scale(3)
    assert.are.equal(3, #m:parameters())
    local y = m(ks.ones(1, 3))
    y:sum():backward()
    assert.is_not_nil(m.s.grad)
    assert.has_error(function() m.s = "not a tensor" end)
    assert.has_error(function() Scale.register_parameter(m, "a.b", ks.ones(1)) end)
  end)

  it("clone makes a deep copy: same outputs, mode, flags and grads, its own tensors, tied weights kept tied", function()
    ks.manual_seed(3)
    local Tied = nn.Module:extend("Tied")
    function Tied:__init()
      nn.Module.__init(self)
      self.a = nn.Linear(4, 4)
      self.b = nn.Linear(4, 4)
      self.b.weight = self.a.weight -- tied, as an encoder's and decoder's embeddings
      self.scale = { 2, 3 }
    end
    function Tied:forward(x) return self.b(self.a(x)) * self.scale[1] end
    local m = nn.Sequential(Tied(), nn.BatchNorm1d(4), nn.Dropout(0.5))
    local x = ks.randn(5, 4)
    m(x):sum():backward()
    m[1].weight:requires_grad_(false)
    m:eval()
    local c = m:clone()
    assert.equal(getmetatable(m), getmetatable(c))
    assert.is_false(c.training)
    assert.is_false(c[2].training)
    assert.same(m(x):totable(), c(x):totable())
    assert.equal(c[0].a.weight, c[0].b.weight) -- still tied
    assert.are_not.equal(m[0].a.weight, c[0].a.weight)
    assert.same(m[0].a.weight.grad:totable(), c[0].a.weight.grad:totable())
    assert.is_true(c[0].a.bias.requires_grad)
    assert.is_false(c[1].weight.requires_grad)
    assert.are_not.equal(m[0].scale, c[0].scale)
    assert.same({ 2, 3 }, c[0].scale)
    -- changes to one leave the other as it was (parameters and batch-norm buffers)
    local before = m(x):totable()
    ks.no_grad(function() c[0].a.weight:add_(1) end)
    c:train()
    c(x)
    assert.same(before, m(x):totable())
    assert.is_false(m.training)
    assert.are_not.same(m[1].running_mean:totable(), c[1].running_mean:totable())
    assert.equal(#m:parameters(), #c:parameters())
  end)

  it("apply visits every module", function()
    local count = 0
    nn.small_cnn():apply(function() count = count + 1 end)
    assert.are.equal(11, count)
  end)

  it("bad constructor arguments and inputs give clear errors", function()
    assert.has_error(function() nn.Linear("a", 3) end)
    assert.has_error(function() nn.Conv2d(3, 4, 3, {groups = 2}) end)
    assert.has_error(function() nn.BatchNorm2d(0) end)
    assert.has_error(function() nn.Dropout(2) end)
    local ok, err = pcall(function() nn.Linear(3, 2)(ks.ones(4, 5)) end)
    assert.is_false(ok)
    assert.matches("%[4, 5%]", err)
    assert.has_error(function() nn.BatchNorm2d(3)(ks.ones(2, 3)) end)
    assert.has_error(function() nn.CrossEntropyLoss{bogus = 1} end)
  end)
end)

describe("nn training", function()
  it("a small CNN fits a tiny batch with plain SGD written with tensor ops", function()
    ks.manual_seed(1)
    local m = nn.small_cnn()
    local x = ks.randn(8, 1, 28, 28)
    local y = ks.tensor({0, 1, 2, 3, 4, 5, 6, 7}, "int64")
    local first, last
    for step = 1, 60 do
      local loss = ks.functional.cross_entropy(m(x), y)
      m:zero_grad()
      loss:backward()
      ks.no_grad(function()
        for _, p in ipairs(m:parameters()) do p:sub_(p.grad * 0.05) end
      end)
      if step == 1 then first = loss:item() end
      last = loss:item()
    end
    assert.is_true(last < first * 0.2, string.format("loss %.3f -> %.3f", first, last))
  end)

  it("live bytes do not grow over training steps (no collectgarbage)", function()
    ks.manual_seed(2)
    local m = nn.small_cnn()
    local x, y = ks.randn(4, 1, 28, 28), ks.tensor({0, 1, 2, 3}, "int64")
    local function step()
      local loss = ks.functional.cross_entropy(m(x), y)
      m:zero_grad()
      loss:backward()
      ks.no_grad(function() for _, p in ipairs(m:parameters()) do p:sub_(p.grad * 0.01) end end)
    end
    local peak100, peak1000 = 0, 0
    for i = 1, 1000 do
      step()
      local live = ks.memory_stats().live_bytes
      if i <= 100 then peak100 = math.max(peak100, live) else peak1000 = math.max(peak1000, live) end
    end
    assert.is_true(peak1000 <= peak100 * 1.05, string.format("peak after 100: %d, after 1000: %d", peak100, peak1000))
  end)

  it("constructors reject bad sizes and options with errors naming the argument, at the caller's line", function()
    local function err_of(fn)
      local ok, e = pcall(fn)
      assert.is_false(ok)
      return tostring(e)
    end
    local here = "nn_module_spec.lua:%d+: "
    -- Linear(0, n) works as in PyTorch (nothing to draw, zero bias)
    local lin = nn.Linear(0, 4)
    assert.same({4, 0}, lin.weight:shape())
    assert.same({0, 0, 0, 0}, lin.bias:totable())
    assert.matches(here .. "Conv2d: kernel_size must be an integer >= 1 or a pair of them, got 0",
      err_of(function() local c = nn.Conv2d(3, 4, 0); return c end))
    assert.matches("Conv2d: kernel_size must be an integer >= 1 or a pair of them, got {3, 0}",
      err_of(function() local c = nn.Conv2d(3, 4, {3, 0}); return c end))
    assert.matches("Conv2d: stride must be an integer >= 1 or a pair of them, got 0",
      err_of(function() local c = nn.Conv2d(3, 4, 3, {stride = 0}); return c end))
    assert.matches("Conv2d: padding must be an integer >= 0 or a pair of them, got %-1",
      err_of(function() local c = nn.Conv2d(3, 4, 3, {padding = -1}); return c end))
    assert.matches("Conv2d: groups must be a positive integer, got 0",
      err_of(function() local c = nn.Conv2d(3, 4, 3, {groups = 0}); return c end))
    assert.matches(here .. "MaxPool2d: kernel_size must be an integer >= 1 or a pair of them, got 0",
      err_of(function() local c = nn.MaxPool2d(0); return c end))
    assert.matches(here .. "BatchNorm2d: option 'momentum' must be a number in %[0, 1%] or false, got string x",
      err_of(function() local b = nn.BatchNorm2d(3, {momentum = "x"}); return b end))
    assert.matches("BatchNorm1d: option 'eps' must be a number in %[0, inf%], got %-1",
      err_of(function() local b = nn.BatchNorm1d(3, {eps = -1}); return b end))
    assert.matches("BatchNorm1d: unknown option 'momentun'",
      err_of(function() local b = nn.BatchNorm1d(3, {momentun = 0.1}); return b end))
    assert.matches("BatchNorm1d: option 'affine' must be a boolean, got 1",
      err_of(function() local b = nn.BatchNorm1d(3, {affine = 1}); return b end))
    assert.matches("LayerNorm: option 'eps' must be a number", err_of(function() local l = nn.LayerNorm(3, {eps = "x"}); return l end))
    assert.matches("LayerNorm: normalized_shape%[0%] must be a positive integer, got 0",
      err_of(function() local l = nn.LayerNorm(0); return l end))
    assert.matches("Embedding: padding_idx must be an integer in %[%-3, 3%), got 3",
      err_of(function() local e = nn.Embedding(3, 2, {padding_idx = 3}); return e end))
    assert.matches("Embedding%(num_embeddings, embedding_dim%): two non%-negative integers expected, got %-1 and 3",
      err_of(function() local e = nn.Embedding(-1, 3); return e end))
    assert.matches(here .. "LeakyReLU: negative_slope must be a number, got x",
      err_of(function() local a = nn.LeakyReLU("x"); return a end))
    assert.matches(here .. "Flatten: start_dim and end_dim must be integers", err_of(function() local f = nn.Flatten("x"); return f end))
    assert.matches(here .. "Softmax: dim must be an integer, got a", err_of(function() local f = nn.Softmax("a"); return f end))
    assert.matches("bad argument #2 to 'softmax' %(dimension out of range",
      err_of(function() return nn.Softmax(5)(ks.rand(2, 3)) end))
    -- Sequential: a hole or a non-module is an error naming the position
    assert.matches(here .. "Sequential: argument 2 must be a module, got nil",
      err_of(function() local q = nn.Sequential(nn.ReLU(), nil, nn.ReLU()); return q end))
    assert.matches("Sequential: argument 2 must be a module, got nil",
      err_of(function() local q = nn.Sequential({nn.ReLU(), nil, nn.ReLU()}); return q end))
    assert.matches("Sequential: argument 1 must be a module, got string",
      err_of(function() local q = nn.Sequential("relu"); return q end))
    assert.equal(2, #nn.Sequential({nn.ReLU(), nn.Tanh()}))
    assert.equal(0, #nn.Sequential())
  end)

  -- h79: the activation layers kept whatever they were given (nn.Sigmoid(1) was accepted, nn.ReLU(1) too)
  it("activation layers reject arguments they do not take, and accept a boolean inplace", function()
    local function err_of(fn)
      local ok, e = pcall(fn)
      assert.is_false(ok, "accepted")
      return e
    end
    local here = "nn_module_spec.lua:%d+: "
    assert.matches(here .. "Sigmoid takes no arguments %(as torch.nn.Sigmoid%), got 1",
      err_of(function() local m = nn.Sigmoid(1); return m end))
    assert.matches(here .. "Tanh takes no arguments %(as torch.nn.Tanh%), got 1",
      err_of(function() local m = nn.Tanh({}); return m end))
    assert.matches(here .. "ReLU: inplace must be a boolean, got 1", err_of(function() local m = nn.ReLU(1); return m end))
    assert.matches(here .. "LeakyReLU: inplace must be a boolean, got yes",
      err_of(function() local m = nn.LeakyReLU(0.2, "yes"); return m end))
    assert.matches(here .. "SiLU: too many positional arguments %(after the required ones PyTorch's order is inplace%)",
      err_of(function() local m = nn.SiLU(true, 2); return m end))
    assert.matches(here .. "GELU: too many positional arguments %(after the required ones PyTorch's order is approximate%)",
      err_of(function() local m = nn.GELU("tanh", true); return m end))
    assert.matches(here .. "ReLU: unknown option 'inplce' %(known: inplace%); did you mean 'inplace'%?",
      err_of(function() local m = nn.ReLU{inplce = true}; return m end))
    assert.matches("Softmax: unknown option 'dims' %(known: dim%)", err_of(function() local m = nn.Softmax{dims = 1}; return m end))
    assert.matches("ELU: too many positional arguments", err_of(function() local m = nn.ELU(1.0, false, 3); return m end))
    -- inplace is accepted and unused: the same values, a new tensor, the input unchanged
    local x = ks.tensor{-2, 0.5}
    for _, m in ipairs({nn.ReLU(true), nn.ReLU{inplace = true}, nn.SiLU(true), nn.LeakyReLU(0.2, true), nn.ELU(1.0, true)}) do
      local y = m(x)
      assert.is_false(y:shares_storage(x), tostring(m))
      assert.are.same({-2, 0.5}, x:totable())
    end
    assert.are.same(nn.LeakyReLU(0.2)(x):totable(), nn.LeakyReLU(0.2, true)(x):totable())
    assert.are.same({-0.5, 0.5}, nn.LeakyReLU{negative_slope = 0.25}(x):totable())
    assert.equal("LeakyReLU(negative_slope=0.01)", tostring(nn.LeakyReLU(nil, true)))
    assert.are.same({{0.5, 0.5}}, nn.Softmax{dim = 1}(ks.zeros(1, 2)):totable())
    -- Identity takes and ignores anything, as torch.nn.Identity
    assert.are.equal(x, nn.Identity(1, "a", {b = 2})(x))
  end)

  -- h79: torch's momentum=None (the cumulative average of the batch statistics) is momentum = false in kshot
  -- (nil is the default 0.1); numbers from spec/fixtures/torch_refs/batchnorm_cumulative.py (torch 1.13)
  it("BatchNorm momentum = false keeps the cumulative average, as torch's momentum=None", function()
    local function det(shape, a, s)
      local n = 1
      for _, d in ipairs(shape) do n = n * d end
      return (ks.arange(n):float():mul(a):sin() * s + 0.3 * a):reshape(shape)
    end
    local function close(want, got)
      local g = got:reshape({-1}):totable()
      assert.equal(#want, #g)
      for i = 1, #want do assert.is_true(math.abs(g[i] - want[i]) <= 1e-5 * (1 + math.abs(want[i])), ("%d: %.7f vs %.7f"):format(i, g[i], want[i])) end
    end
    local bn = nn.BatchNorm1d(3, {momentum = false})
    local y
    for i, a in ipairs({0.7, 1.3, 0.4}) do y = bn(det({5, 3}, a, i)) end
    close({-0.047678, 0.515335, 0.989590, 1.268472, 1.359061, 1.253299, 0.906156, 0.440069, -0.076192, -0.672570,
      -1.069665, -1.303404, -1.454381, -1.244800, -0.863293}, y)
    close({0.285506, 0.306967, 0.316719}, bn.running_mean)
    close({2.734014, 3.063577, 2.970612}, bn.running_var)
    assert.equal(3, bn.num_batches_tracked:item())
    bn:eval()
    close({-0.009378, 0.873952, 1.102943, 0.507566, -0.526768, -1.161429}, bn(det({2, 3}, 0.9, 2.0)))
    assert.equal("BatchNorm1d(3, eps=1e-05, momentum=None, affine=true, track_running_stats=true)", tostring(bn))
    assert.is_false(bn.momentum)
    local bn2 = nn.BatchNorm2d(2, 1e-5, false) -- torch's positional order
    for _, a in ipairs({0.5, 1.1}) do bn2(det({2, 2, 3, 3}, a, 2.0)) end
    close({0.405435, 0.166093}, bn2.running_mean)
    close({1.815927, 2.268397}, bn2.running_var)
    -- the default stays 0.1; true is no momentum
    assert.equal(0.1, nn.BatchNorm1d(3).momentum)
    local ok, e = pcall(function() local b = nn.BatchNorm1d(3, {momentum = true}); return b end)
    assert.is_false(ok)
    assert.matches("BatchNorm1d: option 'momentum' must be a number in [0, 1] or false, got boolean true", e, 1, true)
  end)
end)


describe("layers given a tensor of the wrong dtype", function()
  local function err(m, x)
    local ok, e = pcall(m, x)
    assert.is_false(ok)
    return e
  end

  it("name the dtypes they got and say how to convert (raw uint8 images are the common case)", function()
    local e = err(nn.Conv2d(1, 2, 3), ks.zeros({1, 1, 5, 5}, ks.uint8))
    assert.matches("conv2d: expected float32 input, weight and bias %(got uint8, float32, float32%)", e)
    assert.matches("data%.to_float%(x%) or x:float%(%)", e)
    e = err(nn.Linear(3, 2), ks.zeros({2, 3}, ks.int64))
    assert.matches("linear: expected float32 input, weight and bias %(got int64, float32, float32%); convert", e)
    assert.matches("layer_norm: expected a float32 input, got int64", err(nn.LayerNorm(3), ks.zeros({2, 3}, ks.int64)))
  end)
end)
