-- Autograd engine: recording, backward, accumulation, graph lifetime, errors.
local ks = require "kshot"
local autograd = require "kshot.autograd"

local function close(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-5) * math.max(1, math.abs(b))
end

local function assert_tensor_near(t, expected, tol)
  local got = t:totable()
  local function walk(g, e, path)
    if type(e) == "table" then
      assert.are.equal(#e, #g, "length at " .. path)
      for i = 1, #e do walk(g[i], e[i], path .. "[" .. i .. "]") end
    else
      assert.is_true(close(g, e, tol), string.format("%s: got %.7g, expected %.7g", path, g, e))
    end
  end
  walk(got, expected, "t")
end

describe("autograd engine", function()
  before_each(function() ks.manual_seed(0) end)

  it("accumulates gradients of a scalar loss into leaves", function()
    local x = ks.tensor({1, 2, 3}):requires_grad_()
    local y = (x * x):sum()
    y:backward()
    assert_tensor_near(x.grad, {2, 4, 6})
    -- a second graph accumulates into .grad
    local z = (x * 3):sum()
    z:backward()
    assert_tensor_near(x.grad, {5, 7, 9})
  end)

  it("reduces gradients of broadcast operands to their shapes", function()
    local a = ks.ones(2, 3):requires_grad_()
    local b = ks.tensor({1, 2, 3}):requires_grad_()
    local s = ks.ones(2, 1):requires_grad_()
    local loss = ((a + b) * s):sum()
    loss:backward()
    assert_tensor_near(b.grad, {2, 2, 2})
    assert_tensor_near(s.grad, {{9}, {9}})
    assert_tensor_near(a.grad, {{1, 1, 1}, {1, 1, 1}})
  end)

  it("records only when an input requires grad and grad mode is on", function()
    local x = ks.ones(3):requires_grad_()
    local y = ks.no_grad(function() return x * 2 end)
    assert.is_false(y.requires_grad)
    assert.is_nil(y.grad_fn)
    local z = x * 2
    assert.is_true(z.requires_grad)
    assert.are.equal("MulBackward", z.grad_fn)
    assert.is_true(ks.is_grad_enabled())
    local ok = pcall(ks.no_grad, function() error("boom") end)
    assert.is_false(ok)
    assert.is_true(ks.is_grad_enabled(), "grad mode restored after an error")
    -- torch.inference_mode's name: the same as no_grad (arguments and results pass through)
    local a, b = ks.inference_mode(function(k) return x * k, ks.is_grad_enabled() end, 3)
    assert.is_false(a.requires_grad)
    assert.is_false(b)
    assert.are.same({ 3, 3, 3 }, a:totable())
    assert.is_true(ks.is_grad_enabled())
  end)

  it("detach cuts the graph but shares storage", function()
    local x = ks.ones(3):requires_grad_()
    local d = (x * 2):detach()
    assert.is_false(d.requires_grad)
    local v = x:detach()
    assert.is_true(v:shares_storage(x))
  end)

  it("refuses a second backward through a freed graph, unless retain_graph", function()
    local x = ks.tensor({1, 2}):requires_grad_()
    local y = (x:exp()):sum()
    y:backward({retain_graph = true})
    y:backward()
    assert_tensor_near(x.grad, {2 * math.exp(1), 2 * math.exp(2)}, 1e-5)
    local ok, err = pcall(function() y:backward() end)
    assert.is_false(ok)
    assert.matches("backward through the graph a second time", err)
  end)

  it("autograd.grad runs (and frees) only the part of the graph between the output and the inputs", function()
    -- torch 1.13 gives the numbers of this test (they are also easy by hand)
    local w = ks.tensor({1, 2, 3}):requires_grad_()
    local f = w * 3
    local loss = (f * f):sum()
    assert_tensor_near(autograd.grad(loss, f)[1], {6, 12, 18})
    f:sum():backward() -- MulBackward of w * 3 neither ran nor was freed
    assert_tensor_near(w.grad, {3, 3, 3})
    -- the nodes that did run are freed, as in torch
    local ok, err = pcall(autograd.grad, loss, w)
    assert.is_false(ok)
    assert.matches("backward through the graph a second time", err)
    -- a branch that leads to no requested input is left alone
    local v = ks.tensor({4, 5}):requires_grad_()
    local h = v:exp()
    assert_tensor_near(autograd.grad((w * w):sum() + h:sum(), w)[1], {2, 4, 6})
    h:sum():backward()
    assert_tensor_near(v.grad, {math.exp(4), math.exp(5)}, 1e-5)
    -- ... and its backward is never called (a custom function counts its calls)
    local calls = 0
    local Twice = autograd.Function{
      forward = function(_, x) return x * 2 end,
      backward = function(_, g) calls = calls + 1; return g * 2 end,
    }
    local u = ks.tensor({1, 2}):requires_grad_()
    local t2 = Twice(u)
    local y = (t2 * 3):sum() + (w[{{0, 2}}] * t2):sum()
    assert_tensor_near(autograd.grad(y, w)[1], {2, 4, 0})
    assert.are.equal(0, calls)
    t2:sum():backward()
    assert.are.equal(1, calls)
    assert_tensor_near(u.grad, {2, 2})
    -- a non-leaf input and a leaf behind it; the output itself
    local f2 = w * 3
    local r = autograd.grad((f2 * f2):sum(), {f2, w})
    assert_tensor_near(r[1], {6, 12, 18})
    assert_tensor_near(r[2], {18, 36, 54})
    local s = (w * 2):sum()
    assert.are.equal(1, autograd.grad(s, s)[1]:item())
    assert_tensor_near(autograd.grad(s, w)[1], {2, 2, 2})
  end)

  it("a view of the whole tensor is a new tensor; contiguous() and to() with nothing to do return self", function()
    -- torch 1.13: t[:] -> SliceBackward0, t[...] and t[()] -> AliasBackward0, all new tensors;
    -- t.contiguous() is t, t.to(t.dtype) is t, t.float() is t
    for _, rg in ipairs({true, false}) do
      local t = ks.tensor({{1, 2, 3}, {4, 5, 6}})
      if rg then t:requires_grad_() end
      local views = {
        {t[{":"}], "SliceBackward"}, {t[{":", ":"}], "SliceBackward"}, {t[{"..."}], "AliasBackward"},
        {t[{}], "AliasBackward"}, {t:view(2, 3), "ViewBackward"}, {t:reshape(2, 3), "ViewBackward"},
        {t:expand(2, 3), "ExpandBackward"}, {t:detach(), nil}, {t.data, nil},
      }
      for i, vk in ipairs(views) do
        local v = vk[1]
        local what = "view " .. i .. (rg and " of a tensor that requires grad" or "")
        assert.is_false(rawequal(v, t), what)
        assert.is_true(v:shares_storage(t), what)
        assert.are.equal(rg and vk[2] or nil, v.grad_fn, what)
        v.grad = ks.ones(2, 3)
        assert.is_nil(t.grad, what .. ": its .grad is its own")
        if v.requires_grad and v.is_leaf then v.requires_grad = false end
        assert.are.equal(rg, t.requires_grad, what)
      end
      assert.is_true(rawequal(t:contiguous(), t))
      assert.is_true(rawequal(t:to(ks.float32), t))
      assert.is_true(rawequal(t:to("float32"), t))
      assert.is_true(rawequal(t:float(), t))
      assert.is_false(rawequal(t:clone(), t))
      local nc = t:t()
      assert.is_false(rawequal(nc:contiguous(), nc))
      assert.are.equal(rg and "CloneBackward" or nil, nc:contiguous().grad_fn)
    end
    -- gradients flow through the whole-tensor views; retain_grad on one is its own
    local t = ks.tensor({1, 2, 3}):requires_grad_()
    local v = t[{":"}]
    v:retain_grad()
    assert.is_false(t.retains_grad)
    local loss = (v * v):sum() + (t[{"..."}] * 2):sum()
    loss:backward()
    assert_tensor_near(t.grad, {4, 6, 8})
    assert_tensor_near(v.grad, {2, 4, 6})
  end)

  it("detects an in-place change (under no_grad) of a tensor saved for backward", function()
    local x = ks.tensor({1, 2, 3}):requires_grad_()
    local h = x * 2
    local y = (h * h):sum()
    ks.no_grad(function() h:add_(1) end)
    local ok, err = pcall(function() y:backward() end)
    assert.is_false(ok)
    assert.matches("modified by an inplace operation", err)
  end)

  it("refuses in-place writes that autograd would not record, rather than give a wrong gradient", function()
    local x = ks.ones(2, 3):requires_grad_()
    local function err_of(f) local ok, e = pcall(f); assert.is_false(ok); return e end
    -- a tensor in the graph, written in place (its own ops, fills, copies, views of it)
    for name, f in pairs {
      mul_ = function(y) y:mul_(3) end, relu_ = function(y) y:relu_() end, clamp_ = function(y) y:clamp_(5, 6) end,
      fill_ = function(y) y:fill_(3) end, zero_ = function(y) y:zero_() end,
      copy_ = function(y) y:copy_(ks.zeros(2, 3)) end, view = function(y) y:view(6):add_(1) end,
      row = function(y) y[0]:add_(1) end, uniform_ = function(y) y:uniform_() end,
      nan_to_num_ = function(y) y:nan_to_num_() end, addcmul_ = function(y) y:addcmul_(ks.ones(2, 3), ks.ones(2, 3)) end,
    } do
      assert.matches("part of the autograd graph %(computed by %a+Backward%)", err_of(function() f(x * 1) end), 1, false,
        name)
    end
    assert.matches("computed by ViewBackward", err_of(function() x:view(6):add_(1) end))
    assert.matches("a leaf tensor that requires grad", err_of(function() x:fill_(1) end))
    assert.matches("a leaf tensor that requires grad", err_of(function() x:normal_() end))
    -- a source that requires grad, written into a plain tensor in place or through out=
    local z = ks.zeros(2, 3)
    assert.matches("copy_: an input requires grad", err_of(function() z:copy_(x * 2) end))
    assert.matches("add: an input requires grad", err_of(function() z:add_(x) end))
    assert.matches("fill_: an input requires grad", err_of(function() z:fill_(x:sum()) end))
    assert.matches("index assignment: an input requires grad", err_of(function() z[0] = x[1] end))
    assert.matches("add: an input requires grad", err_of(function() ks.add(x, 1, {out = z}) end))
    assert.matches("lerp_: an input requires grad", err_of(function() z:lerp_(x, 0.5) end))
    -- out-of-place ops without a gradient refuse inputs that require grad
    assert.matches("lerp: not differentiable here", err_of(function() ks.lerp(x, z, 0.5) end))
    assert.matches("addcmul: not differentiable here", err_of(function() ks.addcmul(z, x, x) end))
    assert.matches("nan_to_num: not differentiable here", err_of(function() x:nan_to_num() end))
    assert.same({{0, 0, 0}, {0, 0, 0}}, z:totable()) -- nothing was written
    -- under no_grad, and on tensors outside the graph, all of it works
    ks.no_grad(function()
      local y = x * 1
      y:mul_(3); z:copy_(x * 2); x:fill_(2); z:add_(x)
    end)
    assert.same({{4, 4, 4}, {4, 4, 4}}, z:totable())
    local w = ks.zeros(3)
    w:add_(1); w:copy_(ks.ones(3) * 2); w[0] = 5
    assert.same({5, 2, 2}, w:totable())
    -- and the out-of-place forms give the right gradient
    local g = ks.ones(2, 3):requires_grad_()
    local y = g * 1
    y = y * 3
    y:sum():backward()
    assert.same({{3, 3, 3}, {3, 3, 3}}, g.grad:totable())
  end)

  it("an assigned .grad must be float32 of the tensor's shape; an expanded one accumulates correctly", function()
    local x = ks.ones(2, 3):requires_grad_()
    x.grad = ks.ones(1, 1):expand(2, 3)
    ;(x * 2.5):sum():backward()
    assert.same({{3.5, 3.5, 3.5}, {3.5, 3.5, 3.5}}, x.grad:totable())
    local ok, err = pcall(function() x.grad = ks.zeros(2, 3, {dtype = "int64"}) end)
    assert.is_false(ok)
    assert.matches("assigned grad has dtype int64 but gradients are float32", err)
    ok, err = pcall(function() x.grad = ks.zeros(3, 2) end)
    assert.matches("assigned grad has shape %[3, 2%] but the tensor has shape %[2, 3%]", err)
    local buf = ks.zeros(2, 3)
    x.grad = buf -- a contiguous grad is kept as is: backward adds into it
    ;(x * 1):sum():backward()
    assert.same({{1, 1, 1}, {1, 1, 1}}, buf:totable())
  end)

  it("gradients flow through views and reshapes", function()
    local x = ks.arange(6):float():requires_grad_()
    local m = x:view(2, 3):t()
    -- m[i][j] = x[3j + i]: rows 0..1 of column 1 are x[3] and x[4]
    local y = (m[{{0, 2}, 1}] * ks.tensor({10, 20})):sum()
    y:backward()
    assert_tensor_near(x.grad, {0, 0, 0, 10, 20, 0})
  end)

  it("backward needs a scalar or an explicit gradient", function()
    local x = ks.ones(3):requires_grad_()
    local y = x * 2
    assert.has_error(function() y:backward() end)
    y:backward(ks.tensor({1, 0, 2}))
    assert_tensor_near(x.grad, {2, 0, 4})
    assert.has_error(function() (x * 2):backward(ks.ones(4)) end)
    assert.has_error(function() ks.ones(2):sum():backward() end)
  end)

  it("supports custom functions written in Lua", function()
    local Cube = autograd.Function{
      forward = function(ctx, x) ctx.x = x; return x * x * x end,
      backward = function(ctx, g) return g * ctx.x * ctx.x * 3 end,
    }
    local x = ks.tensor({1, 2}):requires_grad_()
    Cube(x):sum():backward()
    assert_tensor_near(x.grad, {3, 12})
    local Bad = autograd.Function{
      forward = function(_, a) return a * 1 end,
      backward = function() error("no gradient today") end,
    }
    local ok, err = pcall(function() Bad(x):sum():backward() end)
    assert.is_false(ok)
    assert.matches("no gradient today", err)
  end)

  it("an op without a gradient (sign, floor) does not stall the gradients of what it shares inputs with", function()
    -- torch 1.13: x.grad = [2, 2]; the engine waited for a gradient from sign that never came (x.grad was nil)
    local x = ks.tensor({1.0, -2.0}):requires_grad_()
    local y = x * 2
    local z = (y:sign() * 3 + y + y:floor()):sum()
    z:backward()
    assert_tensor_near(x.grad, {2, 2})
    local autograd_y = x * 3
    assert_tensor_near(autograd.grad((autograd_y:sign() + autograd_y * autograd_y):sum(), x)[1], {18, -36})
  end)

  it("graphs larger than the engine's inline arrays; custom functions with several outputs", function()
    local x = ks.tensor({1, 2}):requires_grad_()
    local function chain()
      local y = x
      for _ = 1, 100 do y = y * 1.01 end -- 100 nodes: more than the 32 a backward holds on the stack
      return y
    end
    chain():sum():backward()
    assert_tensor_near(x.grad, {1.01 ^ 100, 1.01 ^ 100}, 1e-4)
    local y = chain()
    assert_tensor_near(autograd.grad((y * y):sum(), x)[1], {2 * 1.01 ^ 200, 4 * 1.01 ^ 200}, 1e-4)
    -- three outputs, two inputs
    local function three_fwd(ctx, a, b) ctx.a, ctx.b = a, b; return a * 2, a * b, b * 3 end
    local function three_bwd(ctx, g1, g2, g3) return g1 * 2 + g2 * ctx.b, g2 * ctx.a + g3 * 3 end
    local Three = autograd.Function{forward = three_fwd, backward = three_bwd}
    local a, b = ks.tensor({1, 2}):requires_grad_(), ks.tensor({3, 4}):requires_grad_()
    local o1, o2, o3 = Three(a, b)
    assert.are.equal("CustomFunctionBackward", o3.grad_fn)
    local loss = o1:sum() + (o2 * 2):sum() + (o3 * o3):sum()
    loss:backward()
    assert_tensor_near(a.grad, {8, 10})
    assert_tensor_near(b.grad, {56, 76})
    local p1 = Three(a, b) -- outputs 2 and 3 unused: their gradients are zeros
    local g = autograd.grad(p1:sum(), {a, b}, {create_graph = true})
    assert_tensor_near(g[1], {2, 2})
    assert_tensor_near(g[2], {0, 0})
    -- its backward recorded: d/da sum(g1 + g2) = sum(g2_out) = 0 (output 2's gradient is zero)
    assert_tensor_near(autograd.grad(g[1]:sum() + g[2]:sum(), a)[1], {0, 0})
    -- once_differentiable: the second pass raises, naming the Function (spec/autograd_function_spec.lua)
    local Once = autograd.Function{forward = three_fwd, backward = autograd.once_differentiable(three_bwd)}
    g = autograd.grad(Once(a, b):sum(), {a, b}, {create_graph = true})
    local ok, err = pcall(autograd.grad, g[1]:sum() + g[2]:sum(), a)
    assert.is_false(ok)
    assert.matches("double backward of CustomFunctionBackward is not supported", err)
  end)

  it("frees the graph: live bytes of a training step do not grow", function()
    local w = ks.randn(64, 32):requires_grad_()
    local x = ks.randn(16, 64)
    local function step()
      local loss = (x:matmul(w):tanh()):sum()
      loss:backward()
      w.grad = nil
    end
    for _ = 1, 50 do step() end
    -- twice: what earlier tests' finalizers (custom Functions' registry refs)
    -- released only becomes garbage in the next cycle
    collectgarbage()
    collectgarbage()
    local base = ks.memory_stats().live_bytes
    for _ = 1, 500 do step() end
    collectgarbage()
    assert.are.equal(base, ks.memory_stats().live_bytes)
  end)
end)

describe("gradcheck harness", function()
  it("passes a correct op and fails a backward scaled by 1.01", function()
    local good = autograd.Function{
      forward = function(ctx, x) ctx.x = x; return x:sin() end,
      backward = function(ctx, g) return g * ctx.x:cos() end,
    }
    local bad = autograd.Function{
      forward = function(ctx, x) ctx.x = x; return x:sin() end,
      backward = function(ctx, g) return g * ctx.x:cos() * 1.01 end,
    }
    local x = ks.randn(5, 4):requires_grad_()
    assert.is_true((autograd.gradcheck(good, {x})))
    local ok, report = autograd.gradcheck(bad, {x}, {raise = false})
    assert.is_false(ok)
    assert.matches("gradcheck failed", report)
  end)

  it("bad arguments name the argument", function()
    local x = ks.randn(3):requires_grad_()
    local function err_of(...)
      local ok, e = pcall(autograd.gradcheck, ...)
      assert.is_false(ok)
      return tostring(e)
    end
    assert.matches("gradcheck: argument 'fn' must be a function %(or callable%), got number", err_of(5, {x}))
    assert.matches("gradcheck: argument 'inputs' must be a list of tensors and other values, got a tensor",
      err_of(function(t) return t * 2 end, x))
    assert.matches("gradcheck: argument 'inputs' must be a list .* got nil", err_of(function(t) return t * 2 end))
    assert.matches("gradcheck: opts.eps must be a finite number > 0, got 0", err_of(function(t) return t * 2 end, {x}, {eps = 0}))
    assert.matches("gradcheck: opts.directions must be an integer >= 1, got 0",
      err_of(function(t) return t * 2 end, {x}, {directions = 0}))
  end)
end)

describe("autograd edge cases follow PyTorch's rules", function()
  local F = ks.functional
  local function grads(f, ...)
    local xs = {}
    for i, v in ipairs { ... } do xs[i] = ks.tensor(v):requires_grad_() end
    f(table.unpack(xs)):sum():backward()
    local out = {}
    for i, x in ipairs(xs) do out[i] = x.grad:totable() end
    return table.unpack(out)
  end
  local function str(list) local s = {} for i, v in ipairs(list) do s[i] = tostring(v) end return table.concat(s, " ") end

  it("pow: zero base and zero exponent give 0, not NaN or -FLT_MAX; a negative base's log is NaN", function()
    local ga, gb = grads(ks.pow, { 0, 0, -2, 2, 0 }, { 0, -1, 2, 3, 2 })
    assert.equal("0.0 -inf -4.0 12.0 0.0", str(ga))
    assert.equal("0.0 -inf", str { gb[1], gb[2] })
    assert.is_true(gb[3] ~= gb[3]) -- NaN
    assert.near(8 * math.log(2), gb[4], 1e-5)
    assert.equal(0, gb[5])
    local b = ks.tensor({ 0, 1, -1 }):requires_grad_()
    ks.pow(0, b):sum():backward()
    assert.equal("0.0 0.0 -inf", str(b.grad:totable()))
  end)

  it("median of all elements shares the gradient among the tied elements", function()
    local m = ks.tensor({ 1, 2, 2, 3, 2 }):requires_grad_()
    local v = ks.median(m)
    assert.equal("MedianBackward", v.grad_fn)
    v:backward()
    local g = m.grad:totable()
    for i, want in ipairs { 0, 1 / 3, 1 / 3, 0, 1 / 3 } do assert.near(want, g[i], 1e-7) end
  end)

  it("a leaf reached only through ops without a gradient gets zeros, not nil", function()
    local ga = grads(ks.floor, { 1.5, -2.5 })
    assert.same({ 0, 0 }, ga)
    ga = grads(function(x) return ks.sign(x) + ks.round(x) end, { 0.4 })
    assert.same({ 0 }, ga)
  end)

  it("relu keeps NaN (F.relu and ks.relu agree); cumprod records a gradient", function()
    local y = F.relu(ks.tensor { 0 / 0, -1, 2 }):totable()
    assert.is_true(y[1] ~= y[1])
    assert.same({ 0, 2 }, { y[2], y[3] })
    local x = ks.tensor({ 1, 2 }):requires_grad_()
    local c = ks.cumprod(x, 0)
    assert.equal("CumprodBackward", c.grad_fn)
    c:sum():backward()
    assert.same({ 3, 1 }, x.grad:totable())
  end)
end)
