-- Every differentiable tensor op (element-wise, reductions, products, shape
-- ops, views, indexing, sorting, distances) against central finite
-- differences through the one harness, kshot.autograd.gradcheck:
-- |analytic - numeric| <= atol + rtol * |numeric| with its defaults
-- (eps 1e-2 in float32, rtol 2e-3, atol 1e-4) on 3 random directions.
-- Inputs keep away from kinks: |x| >= 0.2 and no ties where an op picks.
local ks = require "kshot"
local autograd = require "kshot.autograd"

local gen = ks.Generator(7)
-- values in +-[0.2, 1.2] with a random sign: away from 0 (abs, relu, sign kinks)
local function away(...)
  local shape = {...}
  local mag = ks.rand(shape, {generator = gen}) + 0.2
  local sign = ks.rand(shape, {generator = gen}):gt(0.5):float() * 2 - 1
  return (mag * sign):requires_grad_()
end
-- values in [1, 2]: where curvature grows near 0 (log, rsqrt, reciprocal)
local function pos(...) return (ks.rand({...}, {generator = gen}) + 1):requires_grad_() end
-- distinct values (no ties): a shuffled ramp
local function distinct(...)
  local shape = {...}
  local n = 1
  for _, s in ipairs(shape) do n = n * s end
  local perm = ks.randperm(n, {generator = gen}):float()
  return (perm * 0.37 - n * 0.15):reshape(shape):requires_grad_()
end
local function I(v) return ks.tensor(v, "int64") end

local function check(name, fn, inputs, opts)
  opts = opts or {}
  opts.raise = false
  local ok, report = autograd.gradcheck(fn, inputs, opts)
  assert(ok, name .. ": " .. tostring(report))
end

describe("gradients of tensor ops match finite differences", function()
  it("unary element-wise ops", function()
    local cases = {
      neg = away, abs = away, exp = away, expm1 = away, sin = away, cos = away, tanh = away, sigmoid = away,
      relu = away, square = away, erf = away, log = pos, log2 = pos, log10 = pos, log1p = pos, sqrt = pos,
      rsqrt = pos, reciprocal = pos, tan = away, exp2 = away,
    }
    local names = {}
    for name in pairs(cases) do names[#names + 1] = name end
    table.sort(names) -- a fixed order: the inputs come from one seeded generator
    for _, name in ipairs(names) do
      -- tan curves fast towards pi/2: a smaller step keeps the truncation error under the tolerance
      check(name, function(x) return x[name](x) end, {cases[name](3, 4)}, name == "tan" and {eps = 3e-3} or nil)
    end
  end)

  it("binary ops with broadcasting and scalars", function()
    local a, b = away(3, 4), pos(4)
    check("add", function(x, y) return x + y end, {a, b})
    check("sub", function(x, y) return x - y end, {a, b})
    check("mul", function(x, y) return x * y end, {a, b})
    check("div", function(x, y) return x / y end, {a, b})
    check("scalar ops", function(x) return (2 - x) * 3 / 1.5 + x / 4 end, {a})
    check("pow tensor", function(x, y) return x:pow(y) end, {pos(3, 4), away(3, 1)})
    check("pow scalar", function(x) return x:pow(3) end, {away(5)})
    local m = distinct(3, 4)
    local gap = (m:detach() + away(3, 4):detach() * 0.3):requires_grad_() -- |m - gap| >= 0.06: no near-ties
    check("maximum/minimum", function(x, y) return x:maximum(y) + x:minimum(y) * 2 end, {m, gap})
    check("atan2", function(x, y) return ks.atan2(x, y) end, {away(4), away(4)})
    check("clamp", function(x) return x:clamp(-0.7, 0.9) end, {ks.tensor{-1.1, -0.5, 0.3, 0.8, 1.3}:requires_grad_()})
    check("where", function(x, y) return ks.where(x:detach():gt(0), x, y) end, {away(3, 4), away(3, 4)})
  end)

  it("maximum/minimum send the gradient to the winner, half each on ties", function()
    local x = ks.tensor({1, 5, 3}, {requires_grad = true})
    local y = ks.tensor({2, 4, 3}, {requires_grad = true})
    x:maximum(y):backward(ks.tensor{1, 10, 100})
    assert.are.same({0, 10, 50}, x.grad:totable())
    assert.are.same({1, 0, 50}, y.grad:totable())
    x.grad, y.grad = nil, nil
    x:minimum(y):backward(ks.tensor{1, 10, 100})
    assert.are.same({1, 0, 50}, x.grad:totable())
    assert.are.same({0, 10, 50}, y.grad:totable())
  end)

  it("reductions over all elements and over dims", function()
    local x = away(3, 4, 2)
    check("sum", function(t) return t:sum() end, {x})
    check("sum dims keepdim", function(t) return t:sum({0, 2}, true) end, {x})
    check("mean dim", function(t) return t:mean(1) end, {x})
    check("prod", function(t) return t:prod(1) end, {x}, {eps = 3e-3}) -- degree-4 products: a smaller step
    -- distinct values: a slice of nearly equal values would put std near its kink at 0
    check("var/std", function(t) return t:var(1):sum() + t:std(2):sum() end, {distinct(3, 4, 2)})
    check("norm", function(t) return t:norm() end, {x})
    check("logsumexp", function(t) return t:logsumexp(1) end, {x})
    check("cumsum", function(t) return t:cumsum(1) end, {x})
    local d = distinct(3, 5)
    check("max dim", function(t) local v = t:max(1) return v end, {d})
    check("min all", function(t) return t:min() end, {d})
    check("amax", function(t) return t:amax(0) end, {d})
  end)

  it("cumprod along every dim of non-contiguous 1-D, 2-D and 3-D views, with zeros", function()
    -- zero positions of successive lines along the scanned dim (0-based; L = line length):
    -- none, one inside, two, the first, the last, first and last
    local function zeros_of(L) return { {}, {2}, {1, 3}, {0}, {L - 1}, {0, L - 1} } end
    -- a view of shape `shape` whose lines along `dim` carry those zero patterns, handed to gradcheck
    -- as a contiguous base that fn turns back into a non-contiguous view (perm / flip)
    local function case(shape, dim, to_base, from_base, first)
      local v = away(table.unpack(shape)):detach()
      local nd, d = #shape, dim % #shape
      local mask = ks.ones(shape)
      local others = {}
      for k = 0, nd - 1 do if k ~= d then others[#others + 1] = k end end
      local nlines = 1
      for _, k in ipairs(others) do nlines = nlines * shape[k + 1] end
      local pats = zeros_of(shape[d + 1])
      for l = 0, nlines - 1 do
        local key, r = {}, l
        for i = #others, 1, -1 do
          local k = others[i]
          key[k + 1] = r % shape[k + 1]
          r = r // shape[k + 1]
        end
        for _, z in ipairs(pats[(l + (first or 0)) % #pats + 1]) do
          key[d + 1] = z
          mask[key] = 0
        end
      end
      local view = v * mask
      local base = to_base(view):contiguous():requires_grad_()
      local fn = function(t) local w = from_base(t); assert(not w:is_contiguous()); return w:cumprod(dim) end
      check(("cumprod %s dim %d"):format(table.concat(shape, "x"), dim), fn, {base}, {eps = 3e-3})
      return view
    end
    local flip0 = function(t) return t:flip(0) end
    local rev = function(t) return t[{{nil, nil, -1}}] end -- negative stride
    for first = 0, 5 do -- one line: each zero pattern in turn
      case({6}, first % 2 == 0 and 0 or -1, flip0, rev, first)
    end
    local tr = function(t) return t:t() end
    for _, dim in ipairs {0, 1, -1, -2} do case({6, 5}, dim, tr, tr) end
    local to = function(t) return t:permute(2, 0, 1) end
    local from = function(t) return t:permute(1, 2, 0) end
    for _, dim in ipairs {0, 1, 2, -1, -3} do case({5, 6, 7}, dim, to, from) end
    -- the patterns landed: lines along dim 1 of a 3x6 view hold 0, 1, 2 zeros
    local z = case({3, 6}, 1, tr, tr):eq(0):sum(1)
    assert.are.same({0, 1, 2}, z:totable())
  end)

  it("cumprod's gradient by hand: each factor gets the products it enters, zeros exactly", function()
    local function g(v, dim, go)
      local x = ks.tensor(v):requires_grad_()
      local y = x:cumprod(dim)
      assert.equal("CumprodBackward", y.grad_fn)
      y:backward(go or ks.ones_like(y))
      return x.grad:totable()
    end
    -- y = {2, 6, 24}: d/dx0 = 1 + x1 + x1 x2, d/dx1 = x0 + x0 x2, d/dx2 = x0 x1
    assert.are.same({16, 10, 6}, g({2, 3, 4}, 0))
    -- with weights {1, 10, 100}: {1 + 30 + 1200, 20 + 800, 600}
    assert.are.same({1231, 820, 600}, g({2, 3, 4}, 0, ks.tensor {1, 10, 100}))
    -- one zero: the zero gets x0 (1 + x2 + x2 x3), the factors after it 0
    assert.are.same({1, 50, 0, 0}, g({2, 0, 4, 5}, 0))
    -- two zeros (first position too): only the first zero has a gradient beyond x0's
    assert.are.same({4, 0, 0, 0}, g({0, 3, 0, 5}, 0))
    -- zero last: the earlier factors keep their gradient from the products before it
    assert.are.same({4, 2, 6}, g({2, 3, 0}, 0))
    assert.are.same({1, 0}, g({0, 0}, 0)) -- d/dx0 (x0 + x0 x1) = 1 + x1
    -- along the last dim of a matrix, and a gradient that is itself a transposed view
    assert.are.same({{3, 1}, {5, 3}}, g({{1, 2}, {3, 4}}, -1))
    -- (the gradient rows are {1, 10} and {2, 30})
    assert.are.same({{1 + 10 * 2, 10 * 1}, {2 + 30 * 4, 30 * 3}},
      g({{1, 2}, {3, 4}}, 1, ks.tensor({{1, 2}, {10, 30}}):t()))
    -- 0-d and empty inputs
    assert.are.same(7, g(5, 0, ks.tensor(7)))
    local e = ks.zeros(0, 3):requires_grad_()
    e:cumprod(0):sum():backward()
    assert.are.same({0, 3}, e.grad:shape())
  end)

  it("cumprod saves its input: an in-place change before backward is an error", function()
    local x = ks.tensor({1, 2, 3}):requires_grad_()
    local h = x * 2
    local y = h:cumprod(0):sum()
    ks.no_grad(function() h:mul_(0) end)
    local ok, err = pcall(function() y:backward() end)
    assert.is_false(ok)
    assert.matches("modified by an inplace operation", err)
    -- integer inputs: no gradient, as every integer op
    assert.is_false(ks.tensor({1, 2}, "int64"):cumprod(0).requires_grad)
  end)

  it("products", function()
    check("matmul 2-D", function(a, b) return a:matmul(b) end, {away(3, 4), away(4, 2)})
    check("matmul batched broadcast", function(a, b) return a:matmul(b) end, {away(2, 3, 4), away(4, 5)})
    check("matmul vector", function(a, b) return a:matmul(b) end, {away(3, 4), away(4)})
    check("mm transposed view", function(a, b) return a:t():mm(b) end, {away(4, 3), away(4, 2)})
    check("addmm", function(c, a, b) return ks.addmm(c, a, b, {beta = 0.5, alpha = 2}) end,
      {away(3, 2), away(3, 4), away(4, 2)})
    check("outer", function(a, b) return ks.outer(a, b) end, {away(3), away(4)})
    check("dot", function(a, b) return a:dot(b) end, {away(5), away(5)})
  end)

  it("shape ops and views", function()
    local x = away(2, 3, 4)
    check("reshape/permute/transpose", function(t) return t:reshape(6, 4):t():reshape(4, 3, 2):permute(2, 0, 1) end, {x})
    check("narrow/select/slice", function(t) return t:narrow(2, 1, 2):select(0, 1) * 2 + t[{{}, {0, 3, 2}, 1}]:sum() end,
      {x})
    check("squeeze/unsqueeze/expand", function(t) return t:unsqueeze(1):expand(2, 5, 3, 4):squeeze() end, {x})
    check("flip", function(t) return t:flip({0, 2}) end, {x})
    check("cat", function(a, b) return ks.cat({a, b, a}, 1) end, {away(2, 3), away(2, 1)})
    check("stack", function(a, b) return ks.stack({a, b}, -1) end, {away(2, 3), away(2, 3)})
    check("split/chunk", function(t) local p = t:chunk(2, 2) return p[1] * p[2] end, {x})
    check("pad constant", function(t) return ks.pad(t, {1, 2, 0, 1}, {value = 0.5}) end, {away(2, 3)})
    check("pad constant cropping", function(t) return ks.pad(t, {-1, 1}) end, {away(2, 3)})
    for _, mode in ipairs {"reflect", "replicate", "circular"} do
      check("pad " .. mode, function(t) return ks.pad(t, {2, 1, 1, 2}, {mode = mode}) * ks.arange(42):reshape(1, 6, 7) end,
        {away(2, 3, 4)})
    end
    check("repeat", function(t) return t["repeat"](t, 2, 1, 3) end, {away(2, 2)})
    check("roll", function(t) return t:roll(1, 1) end, {away(3, 4)})
    check("tril/triu", function(t) return t:tril() + t:triu(1) * 3 end, {away(4, 4)})
  end)

  it("more inputs than one graph node holds (cat and stack of 20 tensors)", function()
    local parts = {}
    for i = 1, 20 do parts[i] = away(2) end
    local function cat_all(...) return ks.cat({...}, 0) end
    local function stack_all(...) return ks.stack({...}, 1) end
    check("cat of 20", cat_all, parts)
    check("stack of 20", stack_all, parts)
    local y = ks.cat(parts, 0)
    y:backward(ks.arange(40):float())
    assert.are.same({38, 39}, parts[20].grad:totable())
  end)

  it("reflect padding sends the mirrored elements' gradients back", function()
    local x = ks.tensor({1, 2, 3}, {requires_grad = true})
    ks.pad(x, {2, 1}, {mode = "reflect"}):backward(ks.tensor{1, 10, 100, 1000, 10000, 100000})
    -- output = x2 x1 x0 x1 x2 x1
    assert.are.same({100, 101010, 10001}, x.grad:totable())
  end)

  it("indexing and selection ops", function()
    local x = away(4, 3)
    check("index_select", function(t) return t:index_select(0, I{3, 0, 3}) end, {x})
    check("gather", function(t) return t:gather(1, I{{0, 2}, {1, 1}, {2, 0}, {0, 0}}) end, {x})
    check("index read", function(t) return t[I{1, 1, 2}] end, {x})
    check("mask read", function(t) return t[t:detach():gt(0)] end, {x})
    check("masked_fill", function(t) return t:masked_fill(t:detach():lt(0), 2.0) end, {x})
    check("index_add", function(t, s) return t:index_add(0, I{0, 2}, s) end, {x, away(2, 3)})
    check("scatter_add", function(t, s) return t:scatter_add(1, I{{0}, {2}, {1}, {0}}, s) end, {x, away(4, 1)})
    local d = distinct(3, 5)
    check("sort", function(t) local v = t:sort(1) return v end, {d})
    check("topk", function(t) local v = t:topk(2, 1) return v end, {d})
    check("kthvalue", function(t) local v = t:kthvalue(2, 1) return v end, {d})
    check("median", function(t) local v = t:median(1) return v end, {d})
    check("cdist", function(a, b) return ks.cdist(a, b) end, {away(3, 4), away(2, 4)})
  end)
end)
