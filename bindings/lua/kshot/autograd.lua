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
-- eps is large (1e-2 by default) and sums are taken in double on the Lua
-- side; the default tolerances still reject a backward scaled by 1.01.
-- Callers keep inputs away from kinks (relu at 0, ties in max).
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

--- grad(output, inputs[, {grad_outputs=, retain_graph=false, allow_unused=false}]) -> list
-- torch.autograd.grad: the gradients of output (a scalar, or any shape with
-- grad_outputs) with respect to inputs (a tensor or a list of tensors that
-- require grad: leaves or intermediate results), as a Lua list in the inputs'
-- order (autograd.grad(loss, w)[1]); no .grad is changed. create_graph (double
-- backward) is not supported. t:retain_grad() is the other way to read an
-- intermediate tensor's gradient: backward() then fills its .grad.
M.grad = ks._autograd_grad

--- A differentiable op written in Lua (PyTorch's torch.autograd.Function):
--   local Square = autograd.Function{
--     forward = function(ctx, x) ctx.x = x; return x * x end,
--     backward = function(ctx, g) return g * ctx.x * 2 end,
--   }
--   local y = Square(x)       -- or Square.apply(x)
-- forward runs without recording; its tensor results get one graph node whose
-- backward calls def.backward(ctx, grad_out1, ...) and expects one gradient (or
-- nil) per forward argument. ctx is a plain table shared by both.
function M.Function(def)
  if type(def) ~= "table" or type(def.forward) ~= "function" or type(def.backward) ~= "function" then
    error("autograd.Function{forward = function(ctx, ...), backward = function(ctx, ...)} expected", 2)
  end
  local function apply(...)
    local ctx = {}
    local outs = table.pack(ks.no_grad(def.forward, ctx, ...))
    local list = {}
    for i = 1, outs.n do list[i] = outs[i] end
    ks._record_custom({backward = def.backward, ctx = ctx}, list, ...)
    return table.unpack(outs, 1, outs.n)
  end
  return setmetatable({apply = apply}, {__call = function(_, ...) return apply(...) end})
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
      local analytic = (x.grad * v):sum():item()
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
  local report = ok and "gradcheck passed" or ("gradcheck failed:\n  " .. table.concat(failures, "\n  "))
  if not ok and opts.raise ~= false then error(report, 2) end
  return ok, report
end

return M
