-- Custom autograd.Function: ctx (save_for_backward / saved_tensors,
-- needs_input_grad, mark_non_differentiable), the errors of a backward that
-- returns the wrong gradients, and double backward: under create_graph the
-- Lua backward records, so gradgradcheck passes for Functions written with
-- differentiable ops, and a Hessian-vector product matches torch 1.13
-- (spec/fixtures/torch_refs/custom_function.py prints the pinned numbers);
-- once_differentiable makes the second pass raise, naming the Function.
local ks = require "kshot"
local autograd = require "kshot.autograd"
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

local function vals(n, k, scale) return ((ks.arange(n):float() + 1) * k):sin() * scale end

local gen = ks.Generator(5)
local function away(...) -- +-[0.3, 1.3]: away from 0 (XSinX divides by x)
  local shape = {...}
  local mag = ks.rand(shape, {generator = gen}) + 0.3
  local sign = ks.rand(shape, {generator = gen}):gt(0.5):float() * 2 - 1
  return (mag * sign):requires_grad_()
end

local function ggc(fn, inputs, opts)
  local ok, report = autograd.gradgradcheck(fn, inputs, opts)
  assert.is_true(ok, report)
end

-- x^2 with the input kept in a ctx field (the simplest way, as in the README)
local Square = autograd.Function{
  name = "Square",
  forward = function(ctx, x) ctx.x = x; return x * x end,
  backward = function(ctx, g) return g * ctx.x * 2 end,
}
-- exp(x) with its saved output: the second derivative flows through the output, whose grad_fn is this node
local Exp = autograd.Function{
  name = "Exp",
  forward = function(ctx, x) local y = x:exp(); ctx:save_for_backward(y); return y end,
  backward = function(ctx, g) return g * ctx.saved_tensors[1] end,
}
-- x sin(x), its derivative y / x + x cos(x) written with the saved output
local XSinX = autograd.Function{
  name = "XSinX",
  forward = function(ctx, x) local y = x * x:sin(); ctx:save_for_backward(x, y); return y end,
  backward = function(ctx, g)
    local x, y = table.unpack(ctx.saved_tensors)
    return g * (y / x + x * x:cos())
  end,
}
-- two inputs: a^2 * b
local MulSq = autograd.Function{
  name = "MulSq",
  forward = function(ctx, a, b) ctx:save_for_backward(a, b); return a * a * b end,
  backward = function(ctx, g)
    local a, b = table.unpack(ctx.saved_tensors)
    return g * 2 * a * b, g * a * a
  end,
}

describe("autograd.Function: double backward", function()
  it("gradgradcheck: a ctx field, a saved output, x sin(x), two inputs, several outputs", function()
    ggc(function(a) return Square(a) * a end, {away(3, 4)})
    ggc(function(a) return Exp(a) * a end, {away(3, 4)})
    ggc(function(a) return XSinX(a) end, {away(5)})
    ggc(function(a) return XSinX(a * a) * a end, {away(2, 3)}) -- a non-leaf input
    ggc(function(a, b) return MulSq(a, b) end, {away(3, 4), away(3, 4)})
    ggc(function(a, b) return MulSq(a:tanh(), b) * b end, {away(3, 4), away(3, 4)})
    local Two = autograd.Function{ -- (a b, a + b^2): two outputs, each gradient used
      forward = function(ctx, a, b) ctx:save_for_backward(a, b); return a * b, a + b * b end,
      backward = function(ctx, g1, g2)
        local a, b = table.unpack(ctx.saved_tensors)
        return g1 * b + g2, g1 * a + g2 * b * 2
      end,
    }
    ggc(function(a, b)
      local p, q = Two(a, b)
      return p * q
    end, {away(4), away(4)})
    -- the check can fail: a backward right to first order whose graph is cut (the saved output detached)
    local Cut = autograd.Function{
      forward = function(ctx, x) local y = x:exp(); ctx:save_for_backward(y); return y end,
      backward = function(ctx, g) return g * ctx.saved_tensors[1]:detach() end,
    }
    local ok, report = autograd.gradgradcheck(function(a) return Cut(a) * a end, {away(3, 4)}, {raise = false})
    assert.is_false(ok)
    assert.matches("gradgradcheck failed", report)
  end)

  it("each case for several seeds (inputs away from 0; the defaults' tolerances)", function()
    for seed = 1, 5 do
      local g = ks.Generator(100 + seed)
      local function draw(...)
        local shape = {...}
        local sign = ks.rand(shape, {generator = g}):gt(0.5):float() * 2 - 1
        return ((ks.rand(shape, {generator = g}) + 0.3) * sign):requires_grad_()
      end
      ggc(function(a) return XSinX(a) * a end, {draw(3, 4)}, {seed = seed})
      ggc(function(a) return Exp(a) ^ 2 end, {draw(3, 4)}, {seed = seed})
      ggc(function(a, b) return MulSq(a, b) end, {draw(3, 4), draw(3, 4)}, {seed = seed})
    end
  end)

  it("a Hessian-vector product matches torch 1.13", function()
    local x = (vals(6, 0.7, 1.2) + 1.5):requires_grad_()
    local b = vals(6, 1.1, 0.8):requires_grad_()
    local w, v = vals(6, 0.3, 1.0), vals(6, 0.9, 1.0)
    local f = (XSinX(x) * w):sum() + MulSq(x, b):tanh():sum() + (XSinX(b) ^ 2):sum()
    local g = autograd.grad(f, {x, b}, {create_graph = true})
    close({-0.200136, -1.106415, -1.539335, 0.258369, 0.574249, 1.050365}, g[1], 1e-4)
    close({1.126073, 0.874775, 3.532240, -1.245257, 0.166377, 0.265696}, g[2], 1e-4)
    local h = autograd.grad((g[1] * v):sum() + (g[2] * w):sum(), {x, b})
    close({-0.760937, -1.656662, -1.156670, 0.647893, -0.024941, -0.705310}, h[1], 1e-4)
    close({1.033318, 1.907551, 23.953695, 4.284198, 3.578278, -0.011622}, h[2], 2e-4)
  end)

  it("grad mode inside backward: off for a first-order backward, on under create_graph", function()
    local seen = {}
    local Probe = autograd.Function{
      forward = function(ctx, x) ctx.x = x; return x * 3 end,
      backward = function(ctx, g) seen[#seen + 1] = ks.is_grad_enabled(); return g * 3 end,
    }
    local x = ks.tensor({1.0, 2.0}):requires_grad_()
    local g1 = autograd.grad(Probe(x):sum(), x)[1]
    assert.is_nil(g1.grad_fn) -- create_graph = false: unchanged, no graph on the gradient
    Probe(x):sum():backward()
    close({3, 3}, x.grad)
    autograd.grad(Probe(x):sum(), x, {create_graph = true})
    assert.are.same({false, false, true}, seen)
  end)

  it("third order through a saved output; a gradient from detached values is a constant", function()
    local x = ks.tensor({0.5, -1.0, 2.0}):requires_grad_()
    local g1 = autograd.grad(Exp(x):sum(), x, {create_graph = true})[1]
    local g2 = autograd.grad(g1:sum(), x, {create_graph = true})[1]
    local g3 = autograd.grad(g2:sum(), x)[1]
    local e = x:detach():exp()
    close(e:totable(), g1, 1e-5)
    close(e:totable(), g3, 1e-5)
    -- a backward that uses a detached copy: that factor is a constant for the second derivative
    -- (torch 1.13 gives the same: gy = [3, 27] and d/dy sum(gy) = [4, 12], not y^3's 6y)
    local Frozen = autograd.Function{
      forward = function(ctx, a) ctx.a = a:detach(); return a * a end,
      backward = function(ctx, g) return g * ctx.a * 2 end,
    }
    local y = ks.tensor({1.0, 3.0}):requires_grad_()
    local gy = autograd.grad((Frozen(y) * y):sum(), y, {create_graph = true})[1]
    close({3, 27}, gy)
    close({4, 12}, autograd.grad(gy:sum(), y)[1])
    gy = autograd.grad(Frozen(y):sum(), y, {create_graph = true})[1] -- nothing of the graph in it (torch: the same)
    assert.is_false(gy.requires_grad)
    assert.matches("does not require grad", err_of(autograd.grad, gy:sum(), y))
  end)

  it("once_differentiable: first gradients as usual, the second pass raises naming the Function", function()
    local function fwd(ctx, x) ctx:save_for_backward(x); return x * x end
    local function bwd(ctx, g) return g * ctx.saved_tensors[1] * 2 end
    local Once = autograd.Function{name = "OnceSquare", forward = fwd, backward = autograd.once_differentiable(bwd)}
    local x = ks.tensor({1.0, -2.0}):requires_grad_()
    close({2, -4}, autograd.grad(Once(x):sum(), x)[1])
    local g = autograd.grad(Once(x):sum(), x, {create_graph = true})[1]
    close({2, -4}, g)
    assert.matches("double backward of OnceSquareBackward is not supported", err_of(autograd.grad, g:sum(), x))
    g = autograd.grad((Once(x) * x):sum(), x, {create_graph = true})[1]
    assert.matches("double backward of OnceSquareBackward is not supported",
      err_of(function() (g * g):sum():backward() end))
    -- the default name
    local Anon = autograd.Function{forward = fwd, backward = autograd.once_differentiable(bwd)}
    g = autograd.grad(Anon(x):sum(), x, {create_graph = true})[1]
    assert.matches("double backward of CustomFunctionBackward is not supported", err_of(autograd.grad, g:sum(), x))
    -- the undecorated backward differentiates
    close({2, 2}, autograd.grad(autograd.grad(autograd.Function{forward = fwd, backward = bwd}(x):sum(), x,
      {create_graph = true})[1]:sum(), x)[1])
    assert.matches("argument 'backward' must be a function, got nil", err_of(autograd.once_differentiable))
  end)
end)

describe("autograd.Function: ctx", function()
  it("saved_tensors: inputs, outputs, other tensors and nil, in order; grad_fn is named after the Function", function()
    local got
    local F = autograd.Function{
      name = "Saver",
      forward = function(ctx, a, k, b)
        local y = a * b * k
        ctx:save_for_backward(b, nil, y, ks.tensor({7.0}), a)
        return y
      end,
      backward = function(ctx, g)
        got = ctx.saved_tensors
        local b, _, _, _, a = table.unpack(ctx.saved_tensors, 1, ctx.saved_tensors.n)
        return g * b * 2, nil, g * a * 2
      end,
    }
    local a, b = ks.tensor({1.0, 2.0}):requires_grad_(), ks.tensor({3.0, 4.0}):requires_grad_()
    local y = F(a, 2, b)
    assert.are.equal("SaverBackward", y.grad_fn)
    y:sum():backward()
    close({6, 8}, a.grad)
    close({2, 4}, b.grad)
    assert.are.equal(5, got.n)
    close({3, 4}, got[1])
    assert.is_nil(got[2])
    close({6, 16}, got[3])
    close({7}, got[4])
    close({1, 2}, got[5])
  end)

  it("saved tensors are version-checked: an in-place change before backward is an error", function()
    local x = ks.tensor({1.0, 2.0}):requires_grad_()
    local h = x * 1
    local y = Exp(h)
    ks.no_grad(function() y:mul_(2) end)
    assert.matches("modified by an inplace operation.*ExpBackward", err_of(function() y:sum():backward() end))
    local h2 = x * 1
    local z = MulSq(h2, x)
    ks.no_grad(function() h2:add_(1) end)
    assert.matches("modified by an inplace operation.*MulSqBackward", err_of(function() z:sum():backward() end))
  end)

  it("needs_input_grad: one boolean per forward argument", function()
    local seen
    local F = autograd.Function{
      forward = function(ctx, a, k, b) seen = ctx.needs_input_grad; return a * k + b end,
      backward = function(ctx, g) return g, nil, g end,
    }
    local a, b = ks.ones(2):requires_grad_(), ks.ones(2)
    F(a, 2, b)
    assert.are.same({true, false, false}, seen)
    ks.no_grad(function() F(a, 2, b) end)
    assert.are.same({false, false, false}, seen)
  end)

  it("mark_non_differentiable and integer outputs: no grad_fn, a zero gradient in backward", function()
    local seen
    local SortLike = autograd.Function{
      forward = function(ctx, x)
        local v, i = x:sort()
        local flag = v * 0 + 1
        ctx:mark_non_differentiable(flag)
        ctx.i = i
        return v, i, flag
      end,
      backward = function(ctx, gv, gi, gf)
        seen = {gi:size(0), gi:sum():item(), gf:size(0), gf:sum():item()}
        return ks.zeros(gv:shape()):scatter_add(0, ctx.i, gv)
      end,
    }
    local x = ks.tensor({3.0, 1.0, 2.0}):requires_grad_()
    local v, i, flag = SortLike(x)
    assert.is_true(v.requires_grad)
    assert.is_false(i.requires_grad)
    assert.is_false(flag.requires_grad)
    assert.is_nil(flag.grad_fn)
    ;(v * ks.tensor({1.0, 2.0, 3.0})):sum():backward()
    close({3, 1, 2}, x.grad)
    assert.are.same({3, 0, 3, 0}, seen)
    assert.matches("argument 1 must be a tensor, got number", err_of(function()
      autograd.Function{forward = function(ctx, a) ctx:mark_non_differentiable(3); return a * 1 end,
        backward = function(_, g) return g end}(x)
    end))
  end)
end)

-- outputs kept in plain ctx fields (ctx.y = y, PyTorch users' habit): record moves them into the node's
-- saved slots (no reference cycle) and backward puts them back under their keys, version-checked
local ExpField = autograd.Function{
  name = "ExpField",
  forward = function(ctx, x) local y = x:exp(); ctx.y = y; return y end,
  backward = function(ctx, g) return g * ctx.y end,
}
-- x sin(x) with both in fields, the output one level down in a plain table too
local XSinXField = autograd.Function{
  name = "XSinXField",
  forward = function(ctx, x)
    local y = x * x:sin()
    ctx.x, ctx.t = x, {y = y, y}
    return y
  end,
  backward = function(ctx, g)
    assert(ctx.t.y == ctx.t[1], "one output, one slot")
    return g * (ctx.t.y / ctx.x + ctx.x * ctx.x:cos())
  end,
}

describe("autograd.Function: outputs kept in ctx fields", function()
  it("gradients and double backward are right; the field is a tensor in backward and gone after", function()
    local x = ks.tensor({0.5, -1.0, 2.0}):requires_grad_()
    local e = x:detach():exp()
    ExpField(x):sum():backward()
    close(e:totable(), x.grad, 1e-6)
    local g1 = autograd.grad(ExpField(x):sum(), x, {create_graph = true})[1]
    local g2 = autograd.grad(g1:sum(), x, {create_graph = true})[1]
    close(e:totable(), autograd.grad(g2:sum(), x)[1], 1e-5) -- third order through the field
    ggc(function(a) return ExpField(a) * a end, {away(3, 4)})
    ggc(function(a) return XSinXField(a) end, {away(5)})
    ggc(function(a) return XSinXField(a * a) * a end, {away(2, 3)})
    local seen = {}
    local Look = autograd.Function{
      forward = function(ctx, a) local y = a * 2; ctx.y, ctx.k, ctx[1] = y, 3, y; return y end,
      backward = function(ctx, g)
        seen[#seen + 1] = {ks.is_tensor(ctx.y), ctx.k, ctx[1] ~= nil, ctx.y.requires_grad}
        return g * ctx.k
      end,
    }
    local ctx_of
    local y = Look.apply(x)
    y:backward(ks.ones(3), {retain_graph = true})
    y:backward(ks.ones(3)) -- a second backward finds the field again
    autograd.grad(Look(x):sum(), x, {create_graph = true})
    -- first order: a detached alias; under create_graph: a graph member (as saved_tensors)
    assert.are.same({{true, 3, true, false}, {true, 3, true, false}, {true, 3, true, true}}, seen)
    local Keep = autograd.Function{
      forward = function(ctx, a) ctx_of = ctx; local y = a * 2; ctx.y = y; return y end,
      backward = function(_, g) return g * 2 end,
    }
    y = Keep(x)
    assert.is_nil(rawget(ctx_of, "y")) -- taken at record...
    y:sum():backward()
    assert.is_nil(rawget(ctx_of, "y")) -- ...and cleared after backward
    ks.no_grad(function() y = Keep(x) end)
    assert.are.equal(y, ctx_of.y) -- nothing recorded: nothing taken
  end)

  it("an in-place change of the output before backward is an error, as for save_for_backward", function()
    local x = ks.tensor({1.0, 2.0}):requires_grad_()
    local y = ExpField(x * 1)
    ks.no_grad(function() y:mul_(2) end)
    assert.matches("modified by an inplace operation.*ExpFieldBackward", err_of(function() y:sum():backward() end))
    y = XSinXField(x * 1)
    ks.no_grad(function() y:add_(1) end)
    assert.matches("modified by an inplace operation.*XSinXFieldBackward", err_of(function() y:sum():backward() end))
  end)

  it("shares the slot of a saved output; several outputs; the 8-tensor limit counts both", function()
    local Both = autograd.Function{
      forward = function(ctx, a)
        local p, q = a * 2, a * 3
        ctx:save_for_backward(q, a)
        ctx.p, ctx.q, ctx.list = p, q, {q, p}
        return p, q
      end,
      backward = function(ctx, gp, gq)
        local q, a = table.unpack(ctx.saved_tensors)
        assert(ctx.list[1] ~= nil and ctx.list[2] ~= nil)
        return gp * (ctx.p / a) + gq * (q / a) + (ctx.q - ctx.list[1]) + (ctx.p - ctx.list[2])
      end,
    }
    local x = ks.tensor({1.0, 2.0}):requires_grad_()
    local p, q = Both(x)
    ;(p + q * 2):sum():backward()
    close({8, 8}, x.grad)
    local Nine = autograd.Function{
      name = "Nine",
      forward = function(ctx, a)
        local y = a * 2
        ctx:save_for_backward(a, a, a, a, a, a, a, a)
        ctx.y = y
        return y
      end,
      backward = function(_, g) return g end,
    }
    assert.matches("Nine: at most 8 tensors kept for backward (save_for_backward's and outputs in ctx fields together)",
      err_of(Nine, x), 1, true)
    local NineDeep = autograd.Function{
      name = "NineDeep",
      forward = function(ctx, a)
        local y = a * 2
        ctx:save_for_backward(a, a, a, a, a, a, a, a)
        ctx.t = {k = 1, a = {b = {y}}}
        return y
      end,
      backward = function(_, g) return g end,
    }
    assert.matches("NineDeep: at most 8 tensors kept for backward", err_of(NineDeep, x), 1, true)
  end)

  it("inputs, other tensors and outputs without a gradient stay in place", function()
    local seen
    local F = autograd.Function{
      forward = function(ctx, a)
        local v, i = a:sort()
        local flag = v * 0 + 1
        ctx:mark_non_differentiable(flag)
        ctx.a, ctx.c, ctx.i, ctx.flag = a, ks.tensor({5.0}), i, flag
        ctx.deep = {inner = {a, i, flag}}
        return v, i, flag
      end,
      backward = function(ctx, gv)
        seen = {ctx.a, ctx.c:item(), ctx.i, ctx.flag, ctx.deep.inner}
        return ks.zeros(gv:shape()):scatter_add(0, ctx.i, gv)
      end,
    }
    local x = ks.tensor({3.0, 1.0, 2.0}):requires_grad_()
    local v, i, flag = F(x)
    ;(v * ks.tensor({1.0, 2.0, 3.0})):sum():backward()
    close({3, 1, 2}, x.grad)
    assert.are.equal(x, seen[1])
    assert.are.equal(5, seen[2])
    assert.are.equal(i, seen[3])
    assert.are.equal(flag, seen[4])
    assert.are.equal(x, seen[5][1])
    assert.are.equal(i, seen[5][2])
    assert.are.equal(flag, seen[5][3])
  end)

  it("a forward that returns a view of its input", function()
    local View = autograd.Function{
      name = "View",
      forward = function(ctx, a) local y = a:view(2, 2); ctx.y = y; return y end,
      backward = function(ctx, g) return (g * ctx.y:size(1)):view(4) end,
    }
    local x = ks.tensor({1.0, 2.0, 3.0, 4.0})
    local h = x:clone():requires_grad_()
    local y = View(h)
    assert.are.equal("ViewBackward", y.grad_fn)
    y:sum():backward()
    close({2, 2, 2, 2}, h.grad)
    local h2 = h * 1
    y = View(h2)
    ks.no_grad(function() h2:add_(1) end) -- the view shares the input's storage, so its version too
    assert.matches("modified by an inplace operation.*ViewBackward", err_of(function() y:sum():backward() end))
  end)
end)

-- a chain of `levels` tables with v in the innermost: nest(v, 1) = {v}, nest(v, 2) = {{v}}
local function nest(v, levels)
  local t = {v}
  for _ = 2, levels do t = {t} end
  return t
end
local function innermost(t)
  while ks.is_tensor(t[1]) == false and type(t[1]) == "table" do t = t[1] end
  return t
end
-- a metatable whose metamethods must never run (the scan reads and writes raw)
local guard = {
  __index = function() error("__index ran") end,
  __newindex = function() error("__newindex ran") end,
  __pairs = function() error("__pairs ran") end,
  __len = function() error("__len ran") end,
}
-- x sin(x) with x and y kept two levels down, behind a metatable and in a cycle
local XSinXNested = autograd.Function{
  name = "XSinXNested",
  forward = function(ctx, x)
    local y = x * x:sin()
    ctx.saved = {y}
    ctx.t = {a = {x = x, y = y}}
    ctx.obj = setmetatable({y = y}, guard)
    ctx.self = ctx
    return y
  end,
  backward = function(ctx, g)
    local a = ctx.t.a
    assert(ctx.saved[1] == a.y and rawget(ctx.obj, "y") == a.y, "one output, one slot")
    return g * (a.y / a.x + a.x * a.x:cos())
  end,
}

describe("autograd.Function: outputs kept in nested tables reachable from ctx", function()
  it("every nesting form leaves ctx at record, comes back for backward and leaves again", function()
    local ctx_of, seen
    local Nest = autograd.Function{
      name = "Nest",
      forward = function(ctx, x)
        ctx_of = ctx
        local y = x:exp()
        local shared = {y}
        ctx.saved = {y}
        ctx.t = {a = {y}, n = 3}
        ctx.obj = setmetatable({y, k = 1}, guard)
        ctx.self, ctx.s1, ctx.s2 = ctx, shared, shared -- a cycle, a table reached twice
        ctx.chain = nest(y, 16)                       -- the deepest table scanned (ctx.chain is level 1)
        local far = {inner = {y}}                      -- first met at level 16 down ctx.long (its {y} not
        ctx.long, ctx.short = nest(far, 15), far       -- scanned there), then at level 1: scanned from there
        return y
      end,
      backward = function(ctx, g)
        local y = ctx.saved[1]
        seen = {y = y, grad = y.requires_grad, t = ctx.t.a[1], n = ctx.t.n, obj = rawget(ctx.obj, 1),
                k = rawget(ctx.obj, "k"), self = ctx.self == ctx, s1 = ctx.s1[1], s2 = ctx.s2[1],
                chain = innermost(ctx.chain)[1], far = ctx.short.inner[1]}
        return g * y
      end,
    }
    local x = ks.tensor({0.5, -1.0, 2.0}):requires_grad_()
    local y = Nest(x)
    local ctx = ctx_of
    local places = {ctx.saved, ctx.t.a, ctx.obj, ctx.s1, innermost(ctx.chain), ctx.short.inner}
    for i, t in ipairs(places) do assert.is_nil(rawget(t, 1), "place " .. i .. " after record") end
    assert.are.equal(3, ctx.t.n)
    assert.are.equal(1, rawget(ctx.obj, "k"))
    assert.are.equal(ctx, ctx.self)
    y:sum():backward()
    close(x:detach():exp():totable(), x.grad, 1e-6)
    assert.is_true(ks.is_tensor(seen.y))
    close(x:detach():exp():totable(), seen.y, 1e-6)
    assert.is_false(seen.grad) -- first order: a detached alias, as saved_tensors
    for _, k in ipairs({"t", "obj", "s1", "s2", "chain", "far"}) do assert.are.equal(seen.y, seen[k], k) end
    assert.are.same({3, 1, true}, {seen.n, seen.k, seen.self})
    for i, t in ipairs(places) do assert.is_nil(rawget(t, 1), "place " .. i .. " after backward") end
    -- under create_graph the outputs come back as graph members, and differentiate again
    local g1 = autograd.grad(Nest(x):sum(), x, {create_graph = true})[1]
    assert.is_true(seen.grad)
    close(x:detach():exp():totable(), autograd.grad(g1:sum(), x)[1], 1e-5)
  end)

  it("gradcheck and double backward through outputs kept two levels down", function()
    local ok, report = autograd.gradcheck(XSinXNested, {away(5)}, {raise = false})
    assert.is_true(ok, report)
    ggc(function(a) return XSinXNested(a) end, {away(5)})
    ggc(function(a) return XSinXNested(a * a) * a end, {away(2, 3)})
    -- the check can fail: the same Function whose backward reads a stale copy instead of the nested output
    local Stale = autograd.Function{
      forward = function(ctx, x) local y = x:exp(); ctx.saved = {y:detach():clone()}; return y end,
      backward = function(ctx, g) return g * ctx.saved[1] end,
    }
    ok = autograd.gradgradcheck(function(a) return Stale(a) * a end, {away(3)}, {raise = false})
    assert.is_false(ok)
  end)

  it("an in-place change of a nested output before backward is an error", function()
    local x = ks.tensor({1.0, 2.0}):requires_grad_()
    local y = XSinXNested(x * 1)
    ks.no_grad(function() y:mul_(2) end)
    assert.matches("modified by an inplace operation.*XSinXNestedBackward", err_of(function() y:sum():backward() end))
  end)

  it("not reached (documented): deeper than 16 levels, or used as a table key", function()
    local ctx_of, y
    local Far = autograd.Function{
      forward = function(ctx, x)
        ctx_of = ctx
        y = x * 2
        ctx.chain, ctx.keys = nest(y, 17), {[y] = true}
        return y
      end,
      backward = function(ctx, g) return g * 2 end,
    }
    Far(ks.ones(2):requires_grad_())
    assert.are.equal(y, innermost(ctx_of.chain)[1])
    assert.is_true(ctx_of.keys[y])
  end)

  it("past the first 64 fields read (a ctx that keeps a big structure): the rest stays, backward still right", function()
    local ctx_of, y
    local big = {}
    for i = 1, 200 do big[i] = {i} end
    local Big = autograd.Function{
      forward = function(ctx, x)
        ctx_of = ctx
        y = x * 3
        big[201] = {y} -- read after the 200 tables before it: past the budget
        ctx.big, ctx.x = big, x
        return y
      end,
      backward = function(ctx, g) return g * 3 end,
    }
    local x = ks.ones(2):requires_grad_()
    Big(x):sum():backward()
    assert.are.same({3, 3}, x.grad:totable())
    assert.are.equal(y, ctx_of.big[201][1])
  end)
end)

describe("autograd.Function: errors name the Function, the argument and the shapes", function()
  local function fn(name, backward)
    return autograd.Function{name = name, forward = function(ctx, a, b) return a * b end, backward = backward}
  end
  local a, b = ks.ones(2, 3):requires_grad_(), ks.ones(2, 3):requires_grad_()

  it("a gradient of the wrong shape", function()
    local Bad = fn("BadShape", function(_, g) return g, g:sum(0) end)
    assert.matches("BadShape.backward returned a gradient of shape [3] for argument 2 of shape [2, 3]",
      err_of(function() Bad(a, b):sum():backward() end), 1, true)
    assert.matches("BadShape.backward returned a gradient of shape [3] for argument 2 of shape [2, 3]",
      err_of(autograd.grad, Bad(a, b):sum(), {a, b}, {create_graph = true}), 1, true)
  end)

  it("too few or too many gradients, a gradient that is not a float32 tensor, an error inside backward", function()
    local Few = fn("Few", function(_, g) return g end)
    assert.matches("Few.backward returned 1 gradient, but forward's argument 2 requires grad",
      err_of(function() Few(a, b):sum():backward() end), 1, true)
    close({3, 3, 3, 3, 3, 3}, autograd.grad(Few(a, b:detach()):sum(), a)[1] * 3) -- fine when b needs no gradient
    local Many = fn("Many", function(_, g) return g, g, g end)
    assert.matches("Many.backward returned 3 gradients, but forward took 2 arguments",
      err_of(function() Many(a, b):sum():backward() end), 1, true)
    close({1, 1, 1, 1, 1, 1}, autograd.grad(fn("Nils", function(_, g) return g, g, nil end)(a, b):sum(), a)[1])
    local Int = fn("Int", function(_, g) return g, g:long() end)
    assert.matches("Int.backward: the gradient for argument 2 must be a float32 tensor or nil, got int64",
      err_of(function() Int(a, b):sum():backward() end), 1, true)
    local Num = fn("Num", function(_, g) return 1, g end)
    assert.matches("Num.backward: the gradient for argument 1 must be a float32 tensor or nil, got number",
      err_of(function() Num(a, b):sum():backward() end), 1, true)
    local Boom = fn("Boom", function() error("no gradient today") end)
    assert.matches("Boom.backward: .*no gradient today", err_of(function() Boom(a, b):sum():backward() end))
    -- an error object that is not a string: its __tostring (an assertion's failure), else its type, as lua.c
    local Obj = fn("Obj", function() error(setmetatable({}, {__tostring = function() return "custom failure" end})) end)
    assert.matches("Obj.backward: custom failure", err_of(function() Obj(a, b):sum():backward() end), 1, true)
    local Tbl = fn("Tbl", function() error({}) end)
    assert.matches("Tbl.backward: (error object is a table value)", err_of(function() Tbl(a, b):sum():backward() end),
      1, true)
    local Bad = fn("Bad", function() error(setmetatable({}, {__tostring = function() error("nope") end})) end)
    assert.matches("Bad.backward: (error object is a table value)", err_of(function() Bad(a, b):sum():backward() end),
      1, true)
  end)

  it("bad definitions and ctx misuse", function()
    assert.matches("'name' must be a non%-empty string, got 3", err_of(autograd.Function,
      {name = 3, forward = function() end, backward = function() end}))
    local Eight = autograd.Function{
      forward = function(ctx, x) ctx:save_for_backward(x, x, x, x, x, x, x, x, x); return x * 1 end,
      backward = function(_, g) return g end,
    }
    assert.matches("save_for_backward: at most 8 tensors, got 9", err_of(Eight, a))
    local NotT = autograd.Function{
      forward = function(ctx, x) ctx:save_for_backward(x, 3); return x * 1 end,
      backward = function(_, g) return g end,
    }
    assert.matches("save_for_backward: argument 2 must be a tensor or nil, got number", err_of(NotT, a))
    local Same = autograd.Function{name = "Same", forward = function(_, x) return x end, backward = function(_, g) return g end}
    assert.matches("Same.forward returned argument 1 itself; return a clone", err_of(Same, a))
    local Num = autograd.Function{name = "NumOut", forward = function(_, x) return x * 1, 3 end, backward = function(_, g) return g end}
    assert.matches("NumOut.forward must return tensors; result 2 is a number", err_of(Num, a))
  end)
end)

-- step() run 200 times after 20 warm-up steps leaves exactly the live tensor bytes it found (full collections
-- before both readings)
local function assert_flat(step)
  for _ = 1, 20 do step() end
  collectgarbage()
  collectgarbage()
  local base = ks.memory_stats().live_bytes
  for _ = 1, 200 do step() end
  collectgarbage()
  collectgarbage()
  assert.are.equal(base, ks.memory_stats().live_bytes)
end

describe("autograd.Function: memory", function()
  it("100,000 calls keeping the output in ctx fields keep live bytes flat without collectgarbage", function()
    -- its own process, as spec/memory_spec.lua's script_churn: busted's heap would stretch one GC cycle.
    -- One run per nesting form: a field and one level down, two levels down, three, behind a metatable,
    -- 16 levels down with ctx in a cycle
    local host = require "spec.helpers.host_process"
    local script = host.script([[
      local ks = require "kshot"
      local autograd = require "kshot.autograd"
      local function nest(v, levels)
        local t = {v}
        for _ = 2, levels do t = {t} end
        return t
      end
      local forms = {
        function(ctx, y) ctx.y = y; ctx.t = {y} end,
        function(ctx, y) ctx.saved = {y} end,
        function(ctx, y) ctx.t = {a = {y}} end,
        function(ctx, y) ctx.o = setmetatable({y}, {__index = function() error("__index ran") end}) end,
        function(ctx, y) ctx.chain = nest(y, 16); ctx.self = ctx end,
      }
      for f, keep in ipairs(forms) do
        local F = autograd.Function{
          forward = function(ctx, x) local y = x:exp(); keep(ctx, y); return y end,
          backward = function(_, g) return g * 2 end,
        }
        local x = ks.randn(64):requires_grad_()
        local warm, rest = 0, 0
        for i = 1, 100000 do
          local y = F(x)
          if i % 2 == 0 then y:sum():backward(); x.grad = nil end -- and half of the graphs dropped unused
          if i % 250 == 0 then
            local l = ks.memory_stats().live_bytes
            if i <= 1000 then warm = math.max(warm, l) else rest = math.max(rest, l) end
          end
        end
        print(f, warm, rest)
      end
    ]])
    local out, err = host.run(host.q(script))
    host.cleanup()
    local forms = 0
    for f, warm, rest in out:gmatch("(%d+)%s+(%d+)%s+(%d+)") do
      forms = forms + 1
      warm, rest = tonumber(warm), tonumber(rest)
      assert.is_true(rest <= 2 * warm + (64 << 10),
        ("form %s: peak live bytes %d after the first 1000 iterations vs %d in them"):format(f, rest, warm))
    end
    assert.are.equal(5, forms, "unexpected output: " .. out .. err)
  end)

  it("outputs in ctx fields, nested or not, do not keep the graph alive (first order and create_graph)", function()
    local x = ks.randn(64):requires_grad_()
    local function step()
      local g = autograd.grad(ExpField(x * 1):sum(), x, {create_graph = true})[1]
      autograd.grad((g * g):sum(), x)
      XSinXField(x):sum():backward()
      x.grad = nil
      ExpField(x) -- dropped without backward
      g = autograd.grad(XSinXNested(x * 1):sum(), x, {create_graph = true})[1]
      autograd.grad((g * g):sum(), x)
      XSinXNested(x)
    end
    assert_flat(step)
  end)

  it("saving the output does not keep the graph alive (first order and create_graph)", function()
    local x = ks.randn(64):requires_grad_()
    local function step()
      local g = autograd.grad(Exp(x * 1):sum(), x, {create_graph = true})[1]
      autograd.grad((g * g):sum(), x)
      Exp(x):sum():backward()
      x.grad = nil
    end
    assert_flat(step)
  end)
end)
