--- kshot.regularize: regularization outside the optimizer's update rule.
--
--   local reg = require "kshot.regularize"
--   local loss = F.cross_entropy(model(x), y) + reg.l2_penalty(weights, 1e-4)
--   loss:backward()
--   reg.clip_grad_norm_(model:parameters(), 1.0)
--   opt:step(); ema:update(model)
--
-- Three ways to shrink weights, and how they differ:
--  * l1_penalty / l2_penalty (here) add λ₁Σ|θ| or ½λ₂Σθ² to the LOSS over
--    the parameters you choose; autograd carries them into the gradient, so
--    they show up in the loss value and work with any optimizer. L1 pushes
--    weights to exactly zero (sparsity); L2 shrinks them proportionally.
--  * weight_decay in SGD / Adam / RMSprop / Adagrad is COUPLED L2: λθ is added
--    to the gradient inside the update (the loss value does not include it).
--    With SGD it equals l2_penalty with the same λ; with Adam the decay term
--    is divided by the adaptive denominator √v, so weights with large
--    gradients are barely decayed.
--  * AdamW's weight_decay is DECOUPLED: θ ← θ(1 − γλ) before the Adam step,
--    the same relative shrinkage for every weight whatever its gradients
--    (Loshchilov & Hutter), which is why it is preferred with Adam.
-- Exclude biases and normalization weights from decay with parameter groups
-- (kshot.optim) or by passing only the weights to the penalties.
--
-- Also: clip_grad_norm_ / clip_grad_value_ (PyTorch's names and semantics),
-- EarlyStopping (restores the best weights AND buffers), EMA of weights, and
-- SWA with update_bn to recompute batch-norm statistics.
local ks = require "kshot"
local options = require "kshot.options"

local M = {}

local function fail(fmt, ...) options.raise(string.format(fmt, ...)) end

-- a list of tensors from a tensor, a list, or a module
local function param_list(fname, params)
  if ks.is_tensor(params) then return {params} end
  if type(params) == "table" and type(params.parameters) == "function" then return params:parameters() end
  if type(params) ~= "table" then fail("%s: params must be a tensor, a list of tensors or a module, got %s", fname, type(params)) end
  for i, p in ipairs(params) do
    if not ks.is_tensor(p) then fail("%s: params[%d] is a %s, not a tensor", fname, i - 1, type(p)) end
  end
  return params
end

local function check_lambda(fname, lam)
  if type(lam) ~= "number" or lam < 0 or lam ~= lam then
    fail("%s: lambda must be a number >= 0, got %s", fname, tostring(lam))
  end
end

--- λ·Σ|θ| over params (a scalar tensor that autograd differentiates).
function M.l1_penalty(params, lambda)
  check_lambda("l1_penalty", lambda)
  local total
  for _, p in ipairs(param_list("l1_penalty", params)) do
    local s = p:abs():sum()
    total = total and total + s or s
  end
  return total and total * lambda or ks.tensor(0)
end

--- ½·λ·Σθ² over params (a scalar tensor that autograd differentiates).
function M.l2_penalty(params, lambda)
  check_lambda("l2_penalty", lambda)
  local total
  for _, p in ipairs(param_list("l2_penalty", params)) do
    local s = (p * p):sum()
    total = total and total + s or s
  end
  return total and total * (0.5 * lambda) or ks.tensor(0)
end

-- clip_grad_norm_'s arguments after params: torch's positional ones, then an options table
local CLIP_ARGS = {"max_norm", "norm_type", "error_if_nonfinite"}
local function clip_args(...)
  local args = table.pack(...)
  local last = args[args.n]
  local opts = {}
  if args.n > 0 and type(last) == "table" and not ks.is_tensor(last) then
    opts = options.check(last, "clip_grad_norm_", CLIP_ARGS, 3)
    args[args.n], args.n = nil, args.n - 1
  end
  if args.n > #CLIP_ARGS then fail("clip_grad_norm_: expected at most %d arguments after params, got %d", #CLIP_ARGS, args.n) end
  local v = {}
  for i, name in ipairs(CLIP_ARGS) do
    if args[i] ~= nil and opts[name] ~= nil then
      fail("clip_grad_norm_: %s given both as argument %d and in the options table", name, i + 1)
    end
    v[name] = args[i]
    if v[name] == nil then v[name] = opts[name] end
  end
  return v
end

local clip_in_c = ks._clip_grad_norm_ -- bindings/ks_lua_optim.c

local function nonfinite(norm_type, total)
  fail("clip_grad_norm_: the total norm of order %s of the gradients is %s, so it cannot be clipped; "
    .. "find the parameter with p.grad:isfinite():all(), or pass error_if_nonfinite = false to scale anyway",
    tostring(norm_type), tostring(total))
end

-- The common calls (positional max_norm, norm type 2 or inf, error_if_nonfinite nil or a boolean) in one C
-- call: the general path's values to the bit (composed_tail_spec). Nothing when the C call declines.
local function clip_fast(params, n, max_norm, norm_type, check_finite)
  if n > 3 or type(max_norm) ~= "number" or not (max_norm >= 0) then return nil end
  if norm_type == nil then norm_type = 2 elseif norm_type == "inf" then norm_type = math.huge end
  if (norm_type ~= 2 and norm_type ~= math.huge) or (check_finite ~= nil and type(check_finite) ~= "boolean") then
    return nil
  end
  if type(params) == "table" and type(params.parameters) == "function" then params = params:parameters() end
  local r, total = clip_in_c(params, max_norm, norm_type, check_finite)
  if r == false then nonfinite(norm_type, total) end
  return r, params
end

--- Scale all gradients together so their global norm is at most max_norm.
-- clip_grad_norm_(params, max_norm[, norm_type = 2[, error_if_nonfinite = false]][, {max_norm =,
-- norm_type =, error_if_nonfinite =}]): torch's positional order, or its keywords in
-- an options table after the positional values.
-- norm_type: a number p >= 1, or math.huge / "inf" (max |g|). Returns the total norm
-- before clipping (a float32 scalar tensor, as PyTorch). Parameters without
-- a gradient are ignored. Partial sums are combined in double in parameter order.
-- error_if_nonfinite = true raises an error when the total norm is nan or inf
-- (the gradients are left as they are); with false (the default) an infinite
-- norm zeroes the gradients (its own infinite entries become nan) and a nan one makes them all
-- nan, as torch's (a failed step shows rather than hides).
function M.clip_grad_norm_(params, ...)
  local r, listed = clip_fast(params, select("#", ...), ...)
  if r then return r end
  params = param_list("clip_grad_norm_", listed or params)
  local a = clip_args(...)
  local max_norm, norm_type = a.max_norm, a.norm_type or 2
  if norm_type == "inf" then norm_type = math.huge end
  if type(max_norm) ~= "number" or max_norm < 0 then fail("clip_grad_norm_: max_norm must be a number >= 0, got %s", tostring(max_norm)) end
  if type(norm_type) ~= "number" or norm_type < 1 then
    fail("clip_grad_norm_: norm_type must be a number >= 1, or math.huge or \"inf\" for the max norm, got %s %s",
      type(norm_type), tostring(norm_type))
  end
  local check_finite = a.error_if_nonfinite
  if check_finite ~= nil and type(check_finite) ~= "boolean" then
    fail("clip_grad_norm_: error_if_nonfinite must be a boolean, got %s", type(check_finite))
  end
  local grads = {}
  for _, p in ipairs(params) do
    local g = p.grad
    if g then grads[#grads + 1] = g end
  end
  if #grads == 0 then return ks.tensor(0) end
  local total = 0
  ks.no_grad(function()
    for _, g in ipairs(grads) do
      if norm_type == math.huge then
        local m = g:abs():max():item()
        if m ~= m or m > total then total = m end -- a nan stays (math.max would drop it)
      elseif norm_type == 2 then
        total = total + (g * g):sum():item()
      else
        total = total + g:abs():pow(norm_type):sum():item()
      end
    end
    if norm_type ~= math.huge then total = total ^ (1 / norm_type) end
    if check_finite and (total ~= total or total == math.huge) then nonfinite(norm_type, total) end
    local coef = max_norm / (total + 1e-6)
    if coef < 1 or coef ~= coef then -- torch's clamp(coef, max = 1) keeps a nan: the gradients become nan
      for _, g in ipairs(grads) do g:mul_(coef) end
    end
  end)
  return ks.tensor(total)
end

--- Clamp every gradient to [-clip_value, clip_value] in place.
function M.clip_grad_value_(params, clip_value)
  params = param_list("clip_grad_value_", params)
  if type(clip_value) ~= "number" or clip_value < 0 then
    fail("clip_grad_value_: clip_value must be a number >= 0, got %s", tostring(clip_value))
  end
  for _, p in ipairs(params) do
    local g = p.grad
    if g then g:clamp_(-clip_value, clip_value) end
  end
end

-- detached copies of a module's parameters and buffers, by name
local function snapshot(model)
  local out = {}
  for k, t in pairs(model:state_dict()) do out[k] = t:clone() end
  return out
end

local function check_model(fname, model)
  if type(model) ~= "table" or type(model.state_dict) ~= "function" then
    fail("%s: a kshot.nn module expected, got %s", fname, type(model))
  end
end

-------------------------------------------------------------- EarlyStopping
local EarlyStopping = {}
EarlyStopping.__index = EarlyStopping

--- EarlyStopping{mode = "min"|"max", patience = 5, min_delta = 0, restore_best = true}
-- es:step(metric, model) once per epoch; returns true when training should
-- stop: the `patience`-th epoch in a row without an improvement larger
-- than min_delta (as Keras and Lightning count; patience 0 stops at the
-- first epoch that does not improve). The
-- best weights and buffers are kept; on stop (restore_best) they are copied
-- back into the model. es:restore(model) does it explicitly.
-- Fields: best, best_epoch (0-based), epoch, wait, stopped.
function M.EarlyStopping(opts)
  opts = options.check(opts, "EarlyStopping", { "mode", "patience", "min_delta", "restore_best" })
  local mode = opts.mode or "min"
  if mode ~= "min" and mode ~= "max" then fail("EarlyStopping: mode must be 'min' or 'max', got %s", tostring(mode)) end
  local patience, min_delta = opts.patience or 5, opts.min_delta or 0
  if math.type(patience) ~= "integer" or patience < 0 then fail("EarlyStopping: patience must be an integer >= 0, got %s", tostring(patience)) end
  if type(min_delta) ~= "number" or min_delta < 0 then fail("EarlyStopping: min_delta must be a number >= 0, got %s", tostring(min_delta)) end
  return setmetatable({mode = mode, patience = patience, min_delta = min_delta, restore_best = opts.restore_best ~= false,
    best = mode == "min" and math.huge or -math.huge, best_epoch = nil, epoch = -1, wait = 0, stopped = false}, EarlyStopping)
end

function EarlyStopping:improved(metric)
  if self.mode == "min" then return metric < self.best - self.min_delta end
  return metric > self.best + self.min_delta
end

function EarlyStopping:step(metric, model)
  if ks.is_tensor(metric) then metric = metric:item() end
  if type(metric) ~= "number" then fail("EarlyStopping: step needs the monitored metric (a number), got %s", type(metric)) end
  if model ~= nil then check_model("EarlyStopping", model) end
  self.epoch = self.epoch + 1
  if self:improved(metric) then
    self.best, self.best_epoch, self.wait = metric, self.epoch, 0
    if model then self.best_state = snapshot(model) end
  else
    self.wait = self.wait + 1
    if self.wait >= self.patience then
      self.stopped = true
      if self.restore_best and model then self:restore(model) end
    end
  end
  return self.stopped
end

--- Copy the best weights and buffers back into model.
function EarlyStopping:restore(model)
  check_model("EarlyStopping", model)
  if not self.best_state then fail("EarlyStopping: nothing to restore (no model was given to step)") end
  model:load_state_dict(self.best_state)
end

------------------------------------------------------------------------ EMA
local EMA = {}
EMA.__index = EMA

--- EMA(model, {decay = 0.999}): exponential moving average of the weights,
-- shadow ← decay·shadow + (1 − decay)·θ after each ema:update(model).
-- Buffers (batch-norm statistics) are copied as they are. ema:copy_to(model)
-- loads the averaged weights (evaluate with them); ema:state_dict() gives them.
function M.EMA(model, opts)
  check_model("EMA", model)
  opts = options.check(opts, "EMA", { "decay" })
  local decay = opts.decay or 0.999
  if type(decay) ~= "number" or decay < 0 or decay > 1 then fail("EMA: decay must be in [0, 1], got %s", tostring(decay)) end
  local names = {}
  for _, np in ipairs(model:named_parameters()) do names[np[1]] = true end
  return setmetatable({decay = decay, shadow = snapshot(model), is_param = names, num_updates = 0}, EMA)
end

function EMA:update(model)
  check_model("EMA", model)
  local d = self.decay
  ks.no_grad(function()
    for k, t in pairs(model:state_dict()) do
      local s = self.shadow[k]
      if not s then fail("EMA: the model has an entry '%s' the average does not know", k) end
      if self.is_param[k] and t:dtype() == "float32" then
        s:mul_(d):add_(t, 1 - d)
      else
        s:copy_(t)
      end
    end
  end)
  self.num_updates = self.num_updates + 1
end

function EMA:copy_to(model) model:load_state_dict(self.shadow) end
function EMA:state_dict() return self.shadow end

------------------------------------------------------------------------ SWA
local SWA = {}
SWA.__index = SWA

--- SWA(model): stochastic weight averaging; swa:update(model) adds the
-- current weights to an equal-weight running average (call it e.g. once per
-- epoch after a warm-up). swa:copy_to(model) loads the average; then call
-- reg.update_bn(loader, model) to recompute batch-norm statistics for it.
function M.SWA(model)
  check_model("SWA", model)
  local names = {}
  for _, np in ipairs(model:named_parameters()) do names[np[1]] = true end
  return setmetatable({avg = snapshot(model), is_param = names, n_averaged = 0}, SWA)
end

function SWA:update(model)
  check_model("SWA", model)
  local n = self.n_averaged
  ks.no_grad(function()
    for k, t in pairs(model:state_dict()) do
      local a = self.avg[k]
      if not a then fail("SWA: the model has an entry '%s' the average does not know", k) end
      if n == 0 or not self.is_param[k] or t:dtype() ~= "float32" then
        a:copy_(t)
      else
        a:add_(t:sub(a), 1 / (n + 1)) -- avg += (θ − avg) / (n + 1)
      end
    end
  end)
  self.n_averaged = n + 1
end

function SWA:copy_to(model) model:load_state_dict(self.avg) end
function SWA:state_dict() return self.avg end

-- the first tensor of a batch (a tensor, or a table {x, y, ...})
local function batch_input(b, i)
  if ks.is_tensor(b) then return b end
  if type(b) == "table" and ks.is_tensor(b[1]) then return b[1] end
  fail("update_bn: batch %d (counting from 1) must be a tensor or a table whose first entry is the input tensor, got %s", i,
    type(b) == "table" and ("a table whose first entry is a " .. type(b[1])) or type(b))
end

--- Recompute every batch-norm layer's running statistics with one pass over
-- loader (a non-empty list of batches or an iterator function returning
-- batches, then nil), as a cumulative average over batches (PyTorch's
-- momentum = None); num_batches_tracked counts the batches. The pass is
-- nn.update_bn's: the model's training mode and momenta are restored
-- afterwards, and on any error (a bad batch, a failing loader, an empty
-- loader) its batch-norm buffers too.
function M.update_bn(loader, model)
  check_model("update_bn", model)
  if type(model.modules) ~= "function" then fail("update_bn: a kshot.nn module expected (no modules method)") end
  local next_batch
  if type(loader) == "function" then
    next_batch = loader
  elseif type(loader) == "table" then
    next_batch = function(i) return loader[i] end
  else
    fail("update_bn: loader must be a list of batches or an iterator function, got %s", type(loader))
  end
  local ok, err = require("kshot.nn.norm_layers")._update_bn_pass("update_bn", model, next_batch, batch_input, true)
  if not ok then error(err, 0) end
end

return M
