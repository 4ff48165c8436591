--- kshot.autograd: the gradient-check harness.
--
-- gradcheck(fn, inputs, opts) compares the analytic gradient of any
-- differentiable function (an op, a loss, a module's forward) with central
-- finite differences along random directions:
--   s(x)      = sum(w * fn(x))             (w: a fixed random projection)
--   analytic  = <grad s(x), v>             (one backward)
--   numeric   = (s(x + eps v) - s(x - eps v)) / (2 eps)
-- and requires |analytic - numeric| <= atol + rtol * |numeric| for every
-- input that requires grad and every direction. Computation is float32, so
-- eps is large (1e-2 by default); each sum accumulates in double in C but
-- comes back rounded to float32 (the difference of the two sides is taken in
-- Lua's doubles); the default tolerances still reject a backward scaled by 1.01.
-- Callers keep inputs away from kinks (relu at 0, ties in max).
--
-- gradgradcheck(fn, inputs, opts) checks second derivatives the same way:
-- it runs gradcheck on the function x -> grad s(x) (the first gradients of
-- the checked inputs, computed with create_graph = true and flattened into
-- one vector), so the analytic side is a double backward and the numeric
-- side is central differences of first gradients.
--
-- Double backward: grad(..., {create_graph = true}) and
-- t:backward({create_graph = true}) record the backward pass itself, so the
-- gradients they give carry grad_fn and can be differentiated again
-- (second-order MAML, gradient penalties, Hessian-vector products). It
-- implies retain_graph; with backward(), .grad becomes .grad + g as a new
-- tensor that is part of the graph (set p.grad = nil, or opt:zero_grad(),
-- before the next step: a .grad that holds a graph keeps that graph alive).
-- Ops whose backward records: elementwise unary/binary ops (relu, tanh,
-- sigmoid, gelu, exp, log, pow, ...), clamp, where, sum, mean, amax/amin,
-- logsumexp, views (reshape, transpose, indexing by slices, expand, ...),
-- matmul and friends, F.linear/nn.Linear, softmax, log_softmax, mse_loss,
-- l1_loss, smooth_l1_loss, binary_cross_entropy_with_logits,
-- cross_entropy (with respect to the logits), nll_loss, kl_div, cat, stack,
-- index_select, gather, embedding, indexing with tensors (t[idx], t[mask],
-- t[{rows, cols}]), index_add, scatter_add, masked_select, masked_fill, pad
-- (any mode), repeat, var/std/norm, max/min over a dim, sort/topk/kthvalue/
-- median values, cumsum, prod and cumprod (inputs without zeros), cdist
-- (p >= 1, not inf), conv2d (any stride, padding,
-- dilation, groups), F.unfold/F.fold, max_pool2d, avg_pool2d,
-- adaptive_avg_pool2d, batch_norm (training and eval), layer_norm,
-- group_norm and dropout (the same mask): second-order MAML on a CNN;
-- custom autograd.Function too (its backward records: see M.Function).
-- Any other op (prod/cumprod of an input with a zero, cdist with p = inf,
-- a Function whose backward is wrapped in once_differentiable) gives first
-- gradients as usual, but differentiating through them again raises
-- "double backward of <Op>Backward is not supported" (never a silently
-- detached result).
local ks = require "kshot"

local M = {}

local function scalar_of(out, w)
  return (out * w):sum():item()
end

local function call(fn, xs)
  local out = fn(table.unpack(xs, 1, xs.n))
  if not ks.is_tensor(out) then error("gradcheck: fn must return a tensor, got " .. type(out), 3) end
  return out
end

--- grad(output, inputs[, {grad_outputs=, retain_graph=false, create_graph=false, allow_unused=false}]) -> list
-- torch.autograd.grad: the gradients of output (a scalar, or any shape with
-- grad_outputs) with respect to inputs (a tensor or a list of tensors that
-- require grad: leaves or intermediate results), as a Lua list in the inputs'
-- order (autograd.grad(loss, w)[1]); no .grad is changed. create_graph = true
-- records the backward so the gradients can be differentiated again (see the
-- header). t:retain_grad() is the other way to read an intermediate tensor's
-- gradient: backward() then fills its .grad.
M.grad = ks._autograd_grad

--- A differentiable op written in Lua (PyTorch's torch.autograd.Function):
--   local Exp = autograd.Function{
--     name = "Exp",                 -- optional: grad_fn is "ExpBackward" (default "CustomFunction")
--     forward = function(ctx, x)
--       local y = x:exp()
--       ctx:save_for_backward(y)    -- or ctx.y = y (see below)
--       return y
--     end,
--     backward = function(ctx, g)
--       local y = ctx.saved_tensors[1]
--       return g * y                -- one gradient (or nil) per forward argument
--     end,
--   }
--   local y = Exp(x)                -- or Exp.apply(x)
-- forward runs without recording; its float32 results get one graph node
-- whose backward calls def.backward(ctx, grad_out1, ...) (a zero tensor for
-- an output that got no gradient). ctx is a table shared by both, with
--   ctx:save_for_backward(...)     tensors (or nil) for backward, at most 8;
--                                  ctx.saved_tensors lists them in backward
--   ctx.needs_input_grad           one boolean per forward argument
--   ctx:mark_non_differentiable(...) outputs that get no gradient (as
--                                  integer and bool outputs never do)
-- Any other field works too (ctx.x = x, ctx.k = 3, ctx.y = y). An output
-- kept in a field, or in any table reachable from ctx through values
-- (ctx.saved = {y}, ctx.t = {a = {y}}, a table with a metatable), is
-- handled as a saved output, since it would otherwise be a reference cycle
-- (y -> its node -> ctx -> y) that is never freed: when forward returns it
-- leaves its table (raw access: no metamethod runs), comes back under its
-- key for backward (re-attached under create_graph) and leaves again
-- afterwards. So a table shared with code outside the Function loses the
-- output too (it is there again only while backward runs). Not reached, so
-- still a cycle: an output more than 16 tables below ctx, past the first 64
-- fields the scan reads in all (a ctx that keeps a model or a module: the
-- budget bounds the scan at ~1 us per call), used as a table key, or held
-- by a closure.
-- Saved tensors, and outputs kept in tables, are version-checked: changing
-- one in place before backward is an error.
-- At most 8 tensors per call: save_for_backward's plus the outputs kept in
-- tables that it did not save.
-- backward must return a float32 gradient shaped like its argument, or nil,
-- for each argument that requires grad (a clear error names the Function,
-- the argument and both shapes otherwise).
-- Double backward: under create_graph = true, backward runs with grad mode
-- on, so its ops on saved tensors, inputs and incoming gradients record,
-- and the gradients it returns differentiate again (a gradient built from
-- detached values is a constant there, as in PyTorch). Wrap a backward that
-- cannot be differentiated in autograd.once_differentiable: it then runs
-- without recording, and differentiating its gradients raises "double
-- backward of <name>Backward is not supported".
local ctx_methods = {}

function ctx_methods.save_for_backward(ctx, ...)
  local n = select("#", ...)
  if n > 8 then error("ctx:save_for_backward: at most 8 tensors, got " .. n, 2) end
  for i = 1, n do
    local t = select(i, ...)
    if t ~= nil and not ks.is_tensor(t) then
      error(string.format("ctx:save_for_backward: argument %d must be a tensor or nil, got %s", i, type(t)), 2)
    end
  end
  rawset(ctx, "_to_save", table.pack(...))
end

function ctx_methods.mark_non_differentiable(ctx, ...)
  local set = rawget(ctx, "_nondiff") or {}
  for i = 1, select("#", ...) do
    local t = select(i, ...)
    if not ks.is_tensor(t) then
      error(string.format("ctx:mark_non_differentiable: argument %d must be a tensor, got %s", i, type(t)), 2)
    end
    set[t] = true
  end
  rawset(ctx, "_nondiff", set)
end

local ctx_mt = {__index = ctx_methods}
local new_ctx = ks._custom_ctx

-- backward functions wrapped by once_differentiable (weak: a dropped wrapper leaves)
local once = setmetatable({}, {__mode = "k"})

--- once_differentiable(backward) -> backward: PyTorch's decorator. The
-- Function's backward then runs without recording, also under create_graph,
-- and differentiating the gradients it gave raises "double backward of
-- <name>Backward is not supported" (never a silently wrong result).
function M.once_differentiable(backward)
  if type(backward) ~= "function" then
    error("autograd.once_differentiable: argument 'backward' must be a function, got " .. type(backward), 2)
  end
  local function wrapped(...) return backward(...) end
  once[wrapped] = true
  return wrapped
end

function M.Function(def)
  if type(def) ~= "table" or type(def.forward) ~= "function" or type(def.backward) ~= "function" then
    error("autograd.Function{forward = function(ctx, ...), backward = function(ctx, ...)} expected", 2)
  end
  if def.name ~= nil and (type(def.name) ~= "string" or def.name == "") then
    error("autograd.Function: 'name' must be a non-empty string, got " .. tostring(def.name), 2)
  end
  local info = {backward = def.backward, name = def.name or "CustomFunction", once = once[def.backward] or false}
  local forward = def.forward
  local function apply(...)
    local ctx = new_ctx(ctx_mt, ...) -- {needs_input_grad = {...}}, with ctx_mt
    local outs = table.pack(ks.no_grad(forward, ctx, ...))
    ks._record_custom(info, ctx, outs, ...)
    return table.unpack(outs, 1, outs.n)
  end
  return setmetatable({apply = apply, name = info.name}, {__call = function(_, ...) return apply(...) end})
end

--- Check fn's gradients. inputs: a list of tensors and other values; tensors
-- with requires_grad are checked. opts: eps (1e-2), rtol (2e-3), atol (1e-4),
-- directions (3), seed (0), raise (true: error on failure; false: return ok, report).
local function callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

function M.gradcheck(fn, inputs, opts)
  if not callable(fn) then error("gradcheck: argument 'fn' must be a function (or callable), got " .. type(fn), 2) end
  if type(inputs) ~= "table" or ks.is_tensor(inputs) then
    error("gradcheck: argument 'inputs' must be a list of tensors and other values, got "
      .. (ks.is_tensor(inputs) and "a tensor (wrap it in a list: {x})" or type(inputs)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("gradcheck: argument 'opts' must be a table, got " .. type(opts), 2) end
  opts = opts or {}
  for _, k in ipairs({"eps", "rtol", "atol"}) do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0 or v == math.huge or (k == "eps" and v == 0)) then
      error(string.format("gradcheck: opts.%s must be a finite number %s, got %s", k, k == "eps" and "> 0" or ">= 0", tostring(v)), 2)
    end
  end
  for _, k in ipairs({"directions", "seed"}) do
    local v = opts[k]
    if v ~= nil and (math.type(v) ~= "integer" or (k == "directions" and v < 1)) then
      error(string.format("gradcheck: opts.%s must be an integer%s, got %s", k, k == "directions" and " >= 1" or "", tostring(v)), 2)
    end
  end
  local eps, rtol, atol = opts.eps or 1e-2, opts.rtol or 2e-3, opts.atol or 1e-4
  local ndir, gen = opts.directions or 3, ks.Generator(opts.seed or 0)
  local n = #inputs
  local base, checked = {n = n}, {}
  for i = 1, n do
    local x = inputs[i]
    if ks.is_tensor(x) and x.requires_grad then
      base[i] = x:detach():clone():requires_grad_()
      checked[#checked + 1] = i
    elseif ks.is_tensor(x) then
      base[i] = x:detach()
    else
      base[i] = x
    end
  end
  if #checked == 0 then error("gradcheck: no input requires grad", 2) end
  local out = call(fn, base)
  local w = ks.randn(out:shape(), {generator = gen})
  local s = (out * w):sum()
  s:backward()
  local failures = {}
  for _ = 1, ndir do
    for _, i in ipairs(checked) do
      local x = base[i]
      local v = ks.randn(x:shape(), {generator = gen})
      -- no .grad: the output does not depend on x (a zero derivative, as torch's gradcheck)
      local analytic = x.grad and (x.grad * v):sum():item() or 0
      local plus, minus = {n = n}, {n = n}
      for j = 1, n do
        local y = base[j]
        if ks.is_tensor(y) then y = y:detach() end
        plus[j], minus[j] = y, y
      end
      plus[i] = x:detach() + v * eps
      minus[i] = x:detach() - v * eps
      local numeric = ks.no_grad(function()
        return (scalar_of(call(fn, plus), w) - scalar_of(call(fn, minus), w)) / (2 * eps)
      end)
      local err = math.abs(analytic - numeric)
      if err > atol + rtol * math.abs(numeric) then
        failures[#failures + 1] = string.format("input %d: analytic %.6g vs numeric %.6g (|diff| %.3g > %.3g)",
          i, analytic, numeric, err, atol + rtol * math.abs(numeric))
      end
    end
  end
  local ok = #failures == 0
  local name = opts._name or "gradcheck"
  local report = ok and (name .. " passed") or (name .. " failed:\n  " .. table.concat(failures, "\n  "))
  if not ok and opts.raise ~= false then error(report, 2) end
  return ok, report
end

--- Check fn's second derivatives: gradcheck of x -> (first gradients of
-- sum(w * fn(x)), create_graph = true), w a fixed random projection.
-- inputs and opts as gradcheck's; the defaults are looser, as the numeric
-- side differences float32 first gradients: eps (1e-2), rtol (1e-2),
-- atol (1e-3), directions (3), seed (0), raise (true).
function M.gradgradcheck(fn, inputs, opts)
  if not callable(fn) then error("gradgradcheck: argument 'fn' must be a function (or callable), got " .. type(fn), 2) end
  if type(inputs) ~= "table" or ks.is_tensor(inputs) then
    error("gradgradcheck: argument 'inputs' must be a list of tensors and other values, got "
      .. (ks.is_tensor(inputs) and "a tensor (wrap it in a list: {x})" or type(inputs)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then error("gradgradcheck: argument 'opts' must be a table, got " .. type(opts), 2) end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.eps, o.rtol, o.atol = o.eps or 1e-2, o.rtol or 1e-2, o.atol or 1e-3
  o._name = "gradgradcheck"
  local n, checked = #inputs, {}
  for i = 1, n do
    if ks.is_tensor(inputs[i]) and inputs[i].requires_grad then checked[#checked + 1] = i end
  end
  if #checked == 0 then error("gradgradcheck: no input requires grad", 2) end
  -- the projection of fn's output, fixed once (its shape from one call)
  local w = ks.no_grad(function()
    local xs = {n = n}
    for i = 1, n do xs[i] = ks.is_tensor(inputs[i]) and inputs[i]:detach() or inputs[i] end
    return ks.randn(call(fn, xs):shape(), {generator = ks.Generator((o.seed or 0) + 7919)})
  end)
  -- x -> flattened first gradients; inputs that do not require grad (gradcheck's
  -- numeric side) become fresh leaves, so the first gradient exists there too
  local function first_grads(...)
    local xs = table.pack(...)
    return ks.enable_grad(function()
      local wrt = {}
      for k, i in ipairs(checked) do
        if not xs[i].requires_grad then xs[i] = xs[i]:detach():requires_grad_() end
        wrt[k] = xs[i]
      end
      local s = (call(fn, xs) * w):sum()
      local gs = M.grad(s, wrt, {create_graph = true, allow_unused = true})
      local flat = {}
      for k = 1, #wrt do flat[k] = (gs[k] or ks.zeros(wrt[k]:shape())):reshape(-1) end
      return ks.cat(flat)
    end)
  end
  return M.gradcheck(first_grads, inputs, o)
end

return M
