--- kshot.optim: PyTorch's torch.optim (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, NAdam, RAdam,
-- Adadelta, LBFGS).
--
-- Names, options, defaults and update rules are PyTorch's (notes/optimizers.md;
-- Adamax, NAdam, RAdam and Adadelta as in torch 1.13: NAdam and RAdam have no
-- maximize and no decoupled_weight_decay), so a recipe moves between the two
-- with the same trajectory. Each update
-- runs in C: one fused, threaded pass per parameter tensor (ks_optim.c).
--
--   local optim = require "kshot.optim"
--   local opt = optim.AdamW(model:parameters(), {lr = 1e-3, weight_decay = 1e-2})
--   -- or parameter groups with their own options (no decay on biases):
--   local opt = optim.SGD({{params = weights, weight_decay = 5e-4},
--                          {params = biases, weight_decay = 0}}, {lr = 0.1, momentum = 0.9})
--   opt:zero_grad(); loss:backward(); opt:step()
--
-- Parameters must be leaf float32 tensors; a parameter whose .grad is nil
-- (frozen, or unused this step) is skipped. state_dict() is keyed by
-- parameter position (0-based, counting through the groups in order) as in
-- PyTorch; load_state_dict checks the layout (group count, group sizes,
-- buffer shapes) and errors when it differs.
--
-- Weight decay flavours (see also kshot.regularize):
--  * weight_decay in SGD/Adam/RMSprop/Adagrad/Adamax/NAdam/RAdam/Adadelta is *coupled* L2: λθ is added
--    to the gradient before the update, so in Adam it is rescaled by the
--    adaptive denominator (large-gradient weights decay less).
--  * AdamW's weight_decay is *decoupled*: θ ← θ(1 − γλ) before the Adam
--    step, independent of the gradient statistics.
--  * regularize.l2_penalty adds ½λΣθ² to the loss; with plain SGD it equals
--    coupled weight_decay = λ, but the penalty also shows in the loss value
--    and can target chosen parameters only.
local ks = require "kshot"
local options = require "kshot.options"

local M = {}

local sgd_step, adam_step, rmsprop_step, adagrad_step = ks._sgd_step, ks._adam_step, ks._rmsprop_step,
  ks._adagrad_step
local adamax_step, nadam_step, radam_step, adadelta_step = ks._adamax_step, ks._nadam_step, ks._radam_step,
  ks._adadelta_step

---------------------------------------------------------------- base class
local Optimizer = {__name = "Optimizer"}
Optimizer.__index = Optimizer
M.Optimizer = Optimizer

local function fail(self, fmt, ...)
  options.raise(string.format("%s: " .. fmt, self.__name, ...))
end

local function check_range(self, group, key, lo, hi, open_hi)
  local v = group[key]
  if type(v) ~= "number" then fail(self, "option '%s' must be a number, got %s", key, type(v)) end
  if v ~= v or v < lo or (hi and (open_hi and v >= hi or (not open_hi and v > hi))) then
    local range = hi and string.format("[%s, %s%s", lo, hi, open_hi and ")" or "]") or string.format(">= %s", lo)
    fail(self, "invalid %s: %s (expected %s)", key, tostring(v), range)
  end
end

local function check_betas(self, group)
  local b = group.betas
  if type(b) ~= "table" or type(b[1]) ~= "number" or type(b[2]) ~= "number" then
    fail(self, "option 'betas' must be a table of two numbers {beta1, beta2}")
  end
  for i = 1, 2 do
    if not (b[i] >= 0 and b[i] < 1) then
      fail(self, "invalid beta parameter at index %d: %s (expected [0, 1))", i - 1, tostring(b[i]))
    end
  end
end

-- params: a list of tensors, a list of groups {params = {...}, opt = ...},
-- or anything with a :parameters() method (a module).
local function normalise_groups(self, params)
  if type(params) == "table" and type(params.parameters) == "function" and not ks.is_tensor(params) then
    params = params:parameters()
  end
  if ks.is_tensor(params) then params = {params} end
  if type(params) ~= "table" then fail(self, "params must be a list of tensors or of parameter groups, got %s", type(params)) end
  if #params == 0 then fail(self, "optimizer got an empty parameter list") end
  if ks.is_tensor(params[1]) then return {{params = params}} end
  return params
end

--- Create an optimizer instance of class cls (used by the constructors below).
function Optimizer.new(cls, params, opts, defaults)
  local groups = setmetatable({}, options.one_based("opt.param_groups", "group"))
  local self = setmetatable({defaults = {}, param_groups = groups, state = {}, _seen = {}}, cls)
  if opts ~= nil and type(opts) ~= "table" then
    -- torch's optim.AdamW(params, 1e-3): say how the lr is written here
    local hint = type(opts) == "number" and (" (the lr goes in the options: {lr = %s})"):format(opts) or ""
    fail(self, "options must be a table, got %s%s", type(opts), hint)
  end
  opts = opts or {}
  for k, v in pairs(defaults) do self.defaults[k] = v end
  for k, v in pairs(opts) do
    if defaults[k] == nil and not (cls._optional or {})[k] then
      local known = {} -- a set: listed sorted, with the nearest name as a hint (kshot.options' wording)
      for name in pairs(defaults) do known[name] = true end
      for name in pairs(cls._optional or {}) do known[name] = true end
      options.raise(options.message(self.__name, k, known))
    end
    self.defaults[k] = v
  end
  self:validate(self.defaults)
  for _, g in ipairs(normalise_groups(self, params)) do self:add_param_group(g) end
  return self
end

--- Add a group {params = {...}, option = value...}; missing options take the defaults.
function Optimizer:add_param_group(g)
  if type(g) ~= "table" then fail(self, "parameter group must be a table, got %s", type(g)) end
  local ps = g.params
  if ks.is_tensor(ps) then ps = {ps} end
  if type(ps) ~= "table" then fail(self, "parameter group needs a 'params' list") end
  local group = {params = {}}
  for k, v in pairs(g) do
    if k ~= "params" then
      if self.defaults[k] == nil and k ~= "initial_lr" and not (self._optional or {})[k] then
        fail(self, "unknown option '%s' in parameter group", tostring(k))
      end
      group[k] = v
    end
  end
  for k, v in pairs(self.defaults) do if group[k] == nil then group[k] = v end end
  self:validate(group)
  for i, p in ipairs(ps) do
    if not ks.is_tensor(p) then fail(self, "parameter %d of group %d is a %s, not a tensor", i - 1, #self.param_groups, type(p)) end
    if not p.is_leaf then fail(self, "can't optimize a non-leaf tensor (parameter %d of group %d)", i - 1, #self.param_groups) end
    if p:dtype() ~= "float32" then fail(self, "parameter %d of group %d must be float32, got %s", i - 1, #self.param_groups, p:dtype()) end
    if self._seen[p] then fail(self, "some parameters appear in more than one parameter group") end
    self._seen[p] = true
    group.params[i] = p
  end
  self.param_groups[#self.param_groups + 1] = group
end

--- Drop (default, as PyTorch 2) or zero every gradient.
function Optimizer:zero_grad(set_to_none)
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do
      if set_to_none == false then
        local g = p.grad
        if g then g:zero_() end
      else
        p.grad = nil
      end
    end
  end
end

-- the loss of an optional closure, evaluated with gradients on
local function eval_closure(closure)
  if closure == nil then return nil end
  return ks.enable_grad(closure)
end

function Optimizer:step(closure)
  local loss = eval_closure(closure)
  for _, group in ipairs(self.param_groups) do
    for _, p in ipairs(group.params) do
      local g = p.grad
      if g then self:_update(p, g, group) end
    end
  end
  return loss
end

local function copy_value(v)
  if ks.is_tensor(v) then return v:detach():clone() end
  if type(v) == "table" then
    local t = {}
    for k, x in pairs(v) do t[k] = copy_value(x) end
    return t
  end
  return v
end

--- {state = {[index] = {step = n, buffer = tensor...}}, param_groups = {{opt..., params = {0, 1, ...}}}}
-- Indices are 0-based positions through the groups, as in PyTorch. Tensors are copies.
function Optimizer:state_dict()
  local sd = {state = {}, param_groups = {}}
  local index = 0
  for gi, group in ipairs(self.param_groups) do
    local g = {params = {}}
    for k, v in pairs(group) do if k ~= "params" then g[k] = copy_value(v) end end
    for i, p in ipairs(group.params) do
      g.params[i] = index
      local st = self.state[p]
      if st then sd.state[index] = copy_value(st) end
      index = index + 1
    end
    sd.param_groups[gi] = g
  end
  return sd
end

--- Check a state_dict against this optimizer (layout, options, per-parameter state) without changing
-- anything; errors say what was expected and what was found. load_state_dict runs it first
-- (kshot.optim.state_check). Returns the parameters by saved index.
function Optimizer:check_state_dict(sd) return require("kshot.optim.state_check")(self, sd) end

--- Load a state_dict from the same parameter layout (copies the tensors). Everything is checked first:
-- on error the optimizer is unchanged.
function Optimizer:load_state_dict(sd)
  local by_index = self:check_state_dict(sd)
  self.state = {}
  for index, st in pairs(sd.state) do self.state[by_index[index]] = copy_value(st) end
  for gi, group in ipairs(self.param_groups) do
    for k, v in pairs(sd.param_groups[gi]) do
      if k ~= "params" then group[k] = copy_value(v) end
    end
  end
end

function Optimizer:__tostring()
  local lines = {self.__name .. " ("}
  for gi, group in ipairs(self.param_groups) do
    local keys = {}
    for k in pairs(group) do if k ~= "params" then keys[#keys + 1] = k end end
    table.sort(keys)
    lines[#lines + 1] = string.format("Parameter Group %d", gi - 1)
    for _, k in ipairs(keys) do
      local v = group[k]
      if type(v) == "table" then v = "{" .. table.concat(v, ", ") .. "}" end
      lines[#lines + 1] = string.format("    %s: %s", k, tostring(v))
    end
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

local function class(name, defaults, validate, update)
  local cls = {__name = name, validate = validate, _update = update}
  cls.__index = cls
  cls.__tostring = Optimizer.__tostring
  setmetatable(cls, {__index = Optimizer, __call = function(c, params, opts) return Optimizer.new(c, params, opts, defaults) end})
  M[name] = cls
  return cls
end

local function zeros_like(p) return ks.zeros_like(p):detach() end

---------------------------------------------------------------------- SGD
class("SGD", {lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, maximize = false},
  function(self, g)
    check_range(self, g, "lr", 0)
    check_range(self, g, "momentum", 0)
    check_range(self, g, "dampening", -math.huge)
    check_range(self, g, "weight_decay", 0)
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      fail(self, "Nesterov momentum requires a momentum > 0 and zero dampening (momentum = %s, dampening = %s)",
        tostring(g.momentum), tostring(g.dampening))
    end
  end,
  function(self, p, grad, g)
    local st = self.state[p]
    local buf, first = nil, false
    if g.momentum ~= 0 then
      if not st or not st.momentum_buffer then
        st = st or {}
        st.momentum_buffer = zeros_like(p)
        self.state[p] = st
        first = true
      end
      buf = st.momentum_buffer
    end
    sgd_step(p, grad, buf, first, g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov, g.maximize)
  end)

--------------------------------------------------------------- Adam, AdamW
local function adam_validate(self, g)
  check_range(self, g, "lr", 0)
  check_range(self, g, "eps", 0)
  check_betas(self, g)
  check_range(self, g, "weight_decay", 0)
end

local function adam_update(decoupled)
  return function(self, p, grad, g)
    local st = self.state[p]
    if not st then
      st = {step = 0, exp_avg = zeros_like(p), exp_avg_sq = zeros_like(p)}
      self.state[p] = st
    end
    if g.amsgrad and not st.max_exp_avg_sq then st.max_exp_avg_sq = zeros_like(p) end
    local step = st.step + 1
    st.step = step
    adam_step(p, grad, st.exp_avg, st.exp_avg_sq, g.amsgrad and st.max_exp_avg_sq or nil, step, g.lr,
      g.betas[1], g.betas[2], g.eps, g.weight_decay, g.amsgrad, g.maximize, decoupled)
  end
end

class("Adam", {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, amsgrad = false, maximize = false},
  adam_validate, adam_update(false))
class("AdamW", {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 1e-2, amsgrad = false, maximize = false},
  adam_validate, adam_update(true))

------------------------------------------------------------------ RMSprop
class("RMSprop", {lr = 1e-2, alpha = 0.99, eps = 1e-8, weight_decay = 0, momentum = 0, centered = false,
  maximize = false},
  function(self, g)
    check_range(self, g, "lr", 0)
    check_range(self, g, "alpha", 0)
    check_range(self, g, "eps", 0)
    check_range(self, g, "momentum", 0)
    check_range(self, g, "weight_decay", 0)
  end,
  function(self, p, grad, g)
    local st = self.state[p]
    if not st then
      st = {step = 0, square_avg = zeros_like(p)}
      self.state[p] = st
    end
    if g.momentum > 0 and not st.momentum_buffer then st.momentum_buffer = zeros_like(p) end
    if g.centered and not st.grad_avg then st.grad_avg = zeros_like(p) end
    st.step = st.step + 1
    rmsprop_step(p, grad, st.square_avg, g.centered and st.grad_avg or nil,
      g.momentum > 0 and st.momentum_buffer or nil, g.lr, g.alpha, g.eps, g.weight_decay, g.momentum, g.maximize)
  end)

------------------------------------------------------------------ Adagrad
class("Adagrad", {lr = 1e-2, lr_decay = 0, weight_decay = 0, initial_accumulator_value = 0, eps = 1e-10,
  maximize = false},
  function(self, g)
    check_range(self, g, "lr", 0)
    check_range(self, g, "lr_decay", 0)
    check_range(self, g, "weight_decay", 0)
    check_range(self, g, "initial_accumulator_value", 0)
    check_range(self, g, "eps", 0)
  end,
  function(self, p, grad, g)
    local st = self.state[p]
    if not st then
      -- PyTorch creates the accumulator at construction with the group's value
      st = {step = 0, sum = ks.full_like(p, g.initial_accumulator_value):detach()}
      self.state[p] = st
    end
    st.step = st.step + 1
    adagrad_step(p, grad, st.sum, st.step, g.lr, g.lr_decay, g.weight_decay, g.eps, g.maximize)
  end)

------------------------------------------------------------------- Adamax
class("Adamax", {lr = 2e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, maximize = false},
  adam_validate,
  function(self, p, grad, g)
    local st = self.state[p]
    if not st then
      st = {step = 0, exp_avg = zeros_like(p), exp_inf = zeros_like(p)}
      self.state[p] = st
    end
    st.step = st.step + 1
    adamax_step(p, grad, st.exp_avg, st.exp_inf, st.step, g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay,
      g.maximize)
  end)

-------------------------------------------------------------------- NAdam
-- PyTorch 1.13's NAdam: no maximize, no decoupled_weight_decay
class("NAdam", {lr = 2e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0, momentum_decay = 4e-3},
  function(self, g)
    adam_validate(self, g)
    check_range(self, g, "momentum_decay", 0)
  end,
  function(self, p, grad, g)
    local st = self.state[p]
    if not st then
      -- mu_product: the running product of the momentum schedule (a float32 value, as in PyTorch)
      st = {step = 0, mu_product = 1.0, exp_avg = zeros_like(p), exp_avg_sq = zeros_like(p)}
      self.state[p] = st
    end
    st.step = st.step + 1
    st.mu_product = nadam_step(p, grad, st.exp_avg, st.exp_avg_sq, st.mu_product, st.step, g.lr, g.betas[1],
      g.betas[2], g.eps, g.weight_decay, g.momentum_decay)
  end)

-------------------------------------------------------------------- RAdam
-- PyTorch 1.13's RAdam: no maximize, no decoupled_weight_decay
class("RAdam", {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0},
  adam_validate,
  function(self, p, grad, g)
    local st = self.state[p]
    if not st then
      st = {step = 0, exp_avg = zeros_like(p), exp_avg_sq = zeros_like(p)}
      self.state[p] = st
    end
    st.step = st.step + 1
    radam_step(p, grad, st.exp_avg, st.exp_avg_sq, st.step, g.lr, g.betas[1], g.betas[2], g.eps, g.weight_decay)
  end)

----------------------------------------------------------------- Adadelta
class("Adadelta", {lr = 1.0, rho = 0.9, eps = 1e-6, weight_decay = 0, maximize = false},
  function(self, g)
    check_range(self, g, "lr", 0)
    check_range(self, g, "rho", 0, 1)
    check_range(self, g, "eps", 0)
    check_range(self, g, "weight_decay", 0)
  end,
  function(self, p, grad, g)
    local st = self.state[p]
    if not st then
      st = {step = 0, square_avg = zeros_like(p), acc_delta = zeros_like(p)}
      self.state[p] = st
    end
    st.step = st.step + 1
    adadelta_step(p, grad, st.square_avg, st.acc_delta, g.lr, g.rho, g.eps, g.weight_decay, g.maximize)
  end)

M.LBFGS = require "kshot.optim.lbfgs" (M, Optimizer, class, fail, check_range)
M.lr_scheduler = require "kshot.optim.lr_scheduler"
local checkpoint = require "kshot.optim.checkpoint"
M.state_to_tensors, M.state_from_tensors = checkpoint.to_tensors, checkpoint.from_tensors
M.save_checkpoint, M.load_checkpoint = checkpoint.save_checkpoint, checkpoint.load_checkpoint
M.lr = M.lr_scheduler

options.guard_methods(Optimizer, "Optimizer", "opt", { "add_param_group", "zero_grad", "step", "state_dict",
  "load_state_dict" })
options.guard_methods(M.LBFGS, "LBFGS", "opt", { "add_param_group", "step" })

return M
