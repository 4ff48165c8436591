--- kshot.optim.lr_scheduler (also require "kshot.optim.lr"): PyTorch's learning-rate schedules.
--
--   local lr = require "kshot.optim.lr"
--   local warm = lr.LinearLR(opt, {start_factor = 0.1, total_iters = 5})
--   local cos = lr.CosineAnnealingLR(opt, {T_max = 95})
--   local sched = lr.SequentialLR(opt, {warm, cos}, {milestones = {5}})
--   for epoch = 1, 100 do train_one_epoch(); sched:step() end
--
-- Schedulers follow torch.optim.lr_scheduler: constructing one applies the
-- epoch-0 rate; step() advances one epoch (or batch: the caller chooses)
-- with PyTorch's chainable update (each scheduler multiplies the group's
-- current lr), so several compose via ChainedScheduler (applied together)
-- or SequentialLR (one after another at milestones). step(epoch) jumps to an
-- epoch with the closed form. Options go in a table, or positionally in
-- torch's order: StepLR(opt, 30, 0.5) (step_size, gamma), MultiStepLR(opt,
-- {30, 80}, 0.1), CosineAnnealingLR(opt, 100, 1e-5) (T_max, eta_min),
-- ExponentialLR(opt, 0.9); an options table may follow the positional ones
-- (StepLR(opt, 30, {gamma = 0.5})). An option a scheduler does not take is an
-- error naming it and the known ones (never dropped). state_dict()/load_state_dict()
-- save the counters so a run resumes exactly.
--
-- Also here: ReduceLROnPlateau (step(metric)), OneCycleLR (per batch; also
-- cycles momentum or Adam's beta1), and range_test, the learning-rate range
-- test (exponentially increasing lr, returns the curve and a suggestion).
-- In their own files, registered in this same table: LambdaLR,
-- MultiplicativeLR, ConstantLR, PolynomialLR (lr_scheduler_factor.lua) and
-- CosineAnnealingWarmRestarts, CyclicLR (lr_scheduler_cyclic.lua). A
-- scheduler's functions (lr_lambda, scale_fn) are not part of its
-- state_dict(), as in PyTorch: rebuild it with the same functions, then load.
local ks = require "kshot"
local kopts = require "kshot.options"

local M = {}

local function fail(name, fmt, ...) kopts.raise(string.format("%s: " .. fmt, name, ...)) end

local function check_optimizer(name, opt)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
    fail(name, "first argument must be an optimizer from kshot.optim, got %s", type(opt))
  end
end

local function number_opt(name, o, key, default, lo, hi)
  local v = o[key]
  if v == nil then v = default end
  if type(v) ~= "number" then fail(name, "option '%s' must be a number, got %s", key, type(v)) end
  if (lo and v < lo) or (hi and v > hi) or v ~= v then
    fail(name, "invalid %s: %s (expected %s)", key, tostring(v),
      hi and string.format("[%s, %s]", tostring(lo), tostring(hi)) or (">= " .. tostring(lo)))
  end
  return v
end

-- an integral number (5 or 5.0), returned as a Lua integer
local function integer_opt(name, o, key, default, lo, hi)
  local v = number_opt(name, o, key, default, lo, hi)
  local i = math.tointeger(v)
  if i == nil then fail(name, "option '%s' must be an integer, got %s", key, tostring(v)) end
  return i
end

-- a function or a callable table (lr_lambda, scale_fn)
local function callable(v)
  if type(v) == "function" then return true end
  local mt = type(v) == "table" and getmetatable(v)
  return type(mt) == "table" and mt.__call ~= nil
end

-- the option keys each scheduler takes (set below from torch's parameter names after the optimizer)
local KNOWN = {}

-- opts may be a table, or the scheduler's first required option given positionally. A key the scheduler does
-- not read is an error listing the ones it does (a typo like {gama = 0.5} must not keep the default quietly);
-- known defaults to KNOWN[name].
local function options(name, opts, first_key, known)
  if opts == nil then return {} end
  if first_key and type(opts) == "number" then return {[first_key] = opts} end
  if type(opts) ~= "table" then fail(name, "options must be a table, got %s", type(opts)) end
  for k in pairs(opts) do
    local ok = false
    for _, name_k in ipairs(known or KNOWN[name]) do ok = ok or name_k == k end
    if not ok then kopts.raise(kopts.message(name, k, known or KNOWN[name])) end
  end
  -- the class call moves last_epoch out of the table (torch_args); one left here came to .new directly
  if not known and opts.last_epoch ~= nil then
    fail(name, "%s.new takes last_epoch as its third argument, not in the options table", name)
  end
  return opts
end

---------------------------------------------------------------- base class
local Scheduler = {}
Scheduler.__index = Scheduler
M.LRScheduler = Scheduler

-- PyTorch's positional parameters after the optimizer, in its order (torch 1.13)
local TORCH_POSITIONAL = {
  StepLR = {"step_size", "gamma", "last_epoch"},
  MultiStepLR = {"milestones", "gamma", "last_epoch"},
  ExponentialLR = {"gamma", "last_epoch"},
  CosineAnnealingLR = {"T_max", "eta_min", "last_epoch"},
  LinearLR = {"start_factor", "end_factor", "total_iters", "last_epoch"},
  LambdaLR = {"lr_lambda", "last_epoch"},
  MultiplicativeLR = {"lr_lambda", "last_epoch"},
  ConstantLR = {"factor", "total_iters", "last_epoch"},
  PolynomialLR = {"total_iters", "power", "last_epoch"},
  CosineAnnealingWarmRestarts = {"T_0", "T_mult", "eta_min", "last_epoch"},
  CyclicLR = {"base_lr", "max_lr", "step_size_up", "step_size_down", "mode", "gamma", "scale_fn", "scale_mode",
    "cycle_momentum", "base_momentum", "max_momentum", "last_epoch"},
  OneCycleLR = {"max_lr", "total_steps", "epochs", "steps_per_epoch", "pct_start", "anneal_strategy",
    "cycle_momentum", "base_momentum", "max_momentum", "div_factor", "final_div_factor", "three_phase"},
  ReduceLROnPlateau = {"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"},
}
for name, keys in pairs(TORCH_POSITIONAL) do KNOWN[name] = keys end

-- The arguments after the optimizer as (opts, last_epoch): positional values take torch's parameter names in
-- order (StepLR(opt, 30, 0.5) is step_size 30, gamma 0.5); an options table may come after them (torch's
-- keyword arguments), and after it only last_epoch (kshot's own form StepLR(opt, {...}, last_epoch)). A list
-- (milestones, one lr_lambda per group) or a function is a positional value; any other table is the options.
local function torch_args(name, keys, ...)
  local n, args, opts = select("#", ...), {...}, {}
  local function set(k, v, where)
    if opts[k] ~= nil then fail(name, "option '%s' is given twice (%s)", k, where) end
    opts[k] = v
  end
  local i = 1
  while i <= n do
    local v = args[i]
    if type(v) == "table" and not callable(v) and #v == 0 then
      for k, x in pairs(v) do set(k, x, "positionally and in the options table") end
      if i < n then
        if i + 1 < n or keys[#keys] ~= "last_epoch" then
          fail(name, "the options table must be the last argument (or be followed by last_epoch only), got %d "
            .. "more", n - i)
        end
        set("last_epoch", args[n], "in the options table and as the argument after it")
      end
      break
    end
    if i > #keys then
      fail(name, "takes at most %d positional arguments after the optimizer (%s, as torch), got %d; other options "
        .. "go in an options table", #keys, table.concat(keys, ", "), n)
    end
    if v ~= nil then set(keys[i], v, "positionally and in the options table") end
    i = i + 1
  end
  -- a scheduler without last_epoch (OneCycleLR, ReduceLROnPlateau) keeps it in opts: an unknown option there
  if keys[#keys] ~= "last_epoch" then return opts end
  local last_epoch = opts.last_epoch
  opts.last_epoch = nil
  return opts, last_epoch
end

-- constructors: M.StepLR(opt, ...) takes torch's positional order or an options table; M.StepLR.new(opt,
-- opts, last_epoch) only the latter
local function class(name)
  local keys = TORCH_POSITIONAL[name]
  local call = keys and function(c, opt, ...) return c.new(opt, torch_args(name, keys, ...)) end
    or function(c, ...) return c.new(...) end
  local cls = setmetatable({__name = name}, {__index = Scheduler, __call = call})
  cls.__index = cls
  M[name] = cls
  return cls
end

-- common construction: initial_lr, base_lrs, then the epoch-0 step
local function init(cls, opt, last_epoch)
  if last_epoch ~= nil and (math.type(last_epoch) ~= "integer" or last_epoch < -1) then
    fail(cls.__name, "last_epoch must be an integer >= -1, got %s",
      type(last_epoch) == "number" and tostring(last_epoch) or ("a " .. type(last_epoch)))
  end
  local self = setmetatable({optimizer = opt, last_epoch = last_epoch or -1}, cls)
  self.base_lrs = {}
  for i, g in ipairs(opt.param_groups) do
    if self.last_epoch == -1 then
      if g.initial_lr == nil then g.initial_lr = g.lr end
    elseif g.initial_lr == nil then
      fail(cls.__name, "param 'initial_lr' is not specified in param_groups[%d] when resuming (last_epoch is %d)",
        i - 1, self.last_epoch)
    end
    self.base_lrs[i] = g.initial_lr
  end
  return self
end

--- Advance one epoch (epoch == nil) or jump to `epoch` (closed form).
function Scheduler:step(epoch)
  local lrs
  if epoch == nil then
    self.last_epoch = self.last_epoch + 1
    lrs = self:get_lr()
  else
    self.last_epoch = epoch
    lrs = self.closed_form and self:closed_form() or self:get_lr()
  end
  for i, g in ipairs(self.optimizer.param_groups) do g.lr = lrs[i] end
  self._last_lr = lrs
end

function Scheduler:get_last_lr()
  local lrs = self._last_lr
  if type(lrs) == "table" and getmetatable(lrs) == nil then
    setmetatable(lrs, kopts.one_based("scheduler:get_last_lr()", "learning rate"))
  end
  return lrs
end

local function map_groups(self, fn)
  local out = {}
  local base = self.base_lrs or {}
  for i, g in ipairs(self.optimizer.param_groups) do out[i] = fn(g, base[i], i) end
  return out
end

local function plain_copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = plain_copy(x) end
  return t
end

--- Every field except the optimizer, the class's _unsaved ones (functions) and nested schedulers' own state dicts.
function Scheduler:state_dict()
  local sd = {}
  local unsaved = self._unsaved or {}
  for k, v in pairs(self) do
    if k ~= "optimizer" and k ~= "_schedulers" and not unsaved[k] then sd[k] = plain_copy(v) end
  end
  if self._schedulers then
    sd._schedulers = {}
    for i, s in ipairs(self._schedulers) do sd._schedulers[i] = s:state_dict() end
  end
  return sd
end

-- a saved value against the live one: same type; lists keep their element types
local function check_like(name, where, saved, live)
  local ts, tl = type(saved), type(live)
  if ts ~= tl then fail(name, "load_state_dict: '%s' must be a %s, got %s", where, tl, ts) end
  if ts == "number" and saved ~= saved then fail(name, "load_state_dict: '%s' is NaN", where) end
  if ts ~= "table" then return end
  for k, v in pairs(saved) do
    local ref = live[k]
    if ref == nil and math.type(k) == "integer" then ref = live[1] end
    if ref ~= nil then check_like(name, where .. "[" .. tostring(k) .. "]", v, ref) end
  end
end

-- fields holding one value per parameter group
local PER_GROUP = {base_lrs = true, _last_lr = true, min_lrs = true}

--- Check a state_dict against this scheduler (the same fields with values of the same types, one entry
-- per parameter group where the scheduler keeps one, nested schedulers likewise) without changing anything.
function Scheduler:check_state_dict(sd)
  local name = self.__name
  if type(sd) ~= "table" then fail(name, "load_state_dict: table expected, got %s", type(sd)) end
  local live = self:state_dict()
  for k, v in pairs(sd) do
    if live[k] == nil then
      fail(name, "load_state_dict: the state dict has a field '%s' that %s does not keep (the state of another scheduler?)",
        tostring(k), name)
    end
    if k ~= "_schedulers" then
      check_like(name, k, v, live[k])
      if PER_GROUP[k] and #v ~= #self.optimizer.param_groups then
        fail(name, "load_state_dict: '%s' has %d entries, the optimizer has %d parameter groups", k, #v,
          #self.optimizer.param_groups)
      end
    end
  end
  for k in pairs(live) do
    if sd[k] == nil then fail(name, "load_state_dict: the state dict has no '%s' (the state of another scheduler?)", k) end
  end
  if live.last_epoch ~= nil and math.type(sd.last_epoch) ~= "integer" and not (type(sd.last_epoch) == "number" and math.tointeger(sd.last_epoch)) then
    fail(name, "load_state_dict: 'last_epoch' must be an integer, got %s", tostring(sd.last_epoch))
  end
  if self._schedulers then
    if type(sd._schedulers) ~= "table" or #sd._schedulers ~= #self._schedulers then
      fail(name, "load_state_dict: expected the states of %d schedulers, got %s", #self._schedulers,
        type(sd._schedulers) == "table" and tostring(#sd._schedulers) or type(sd._schedulers))
    end
    for i, s in ipairs(self._schedulers) do s:check_state_dict(sd._schedulers[i]) end
  end
end

--- Load a state_dict (checked first: on error the scheduler is unchanged).
function Scheduler:load_state_dict(sd)
  self:check_state_dict(sd)
  for k, v in pairs(sd) do
    if k ~= "_schedulers" then self[k] = plain_copy(v) end
  end
  if sd._schedulers then
    for i, s in ipairs(self._schedulers or {}) do s:load_state_dict(sd._schedulers[i]) end
  end
end

------------------------------------------------------------------- StepLR
local StepLR = class("StepLR")
function StepLR.new(opt, opts, last_epoch)
  check_optimizer("StepLR", opt)
  opts = options("StepLR", opts, "step_size")
  local self = init(StepLR, opt, last_epoch)
  self.step_size = number_opt("StepLR", opts, "step_size", nil, 1)
  self.gamma = number_opt("StepLR", opts, "gamma", 0.1, 0)
  self:step()
  return self
end
function StepLR:get_lr()
  local e = self.last_epoch
  return map_groups(self, function(g)
    if e == 0 or e % self.step_size ~= 0 then return g.lr end
    return g.lr * self.gamma
  end)
end
function StepLR:closed_form()
  return map_groups(self, function(_, base) return base * self.gamma ^ (self.last_epoch // self.step_size) end)
end

-------------------------------------------------------------- MultiStepLR
local MultiStepLR = class("MultiStepLR")
function MultiStepLR.new(opt, opts, last_epoch)
  check_optimizer("MultiStepLR", opt)
  opts = options("MultiStepLR", opts)
  if type(opts.milestones) ~= "table" then fail("MultiStepLR", "option 'milestones' must be a list of epochs") end
  local self = init(MultiStepLR, opt, last_epoch)
  self.milestones = {}
  for i, m in ipairs(opts.milestones) do
    if math.type(m) ~= "integer" then fail("MultiStepLR", "milestone %d must be an integer, got %s", i - 1, tostring(m)) end
    self.milestones[i] = m
  end
  table.sort(self.milestones)
  self.gamma = number_opt("MultiStepLR", opts, "gamma", 0.1, 0)
  self:step()
  return self
end
local function count_le(list, e, strict)
  local n = 0
  for _, m in ipairs(list) do if m < e or (not strict and m == e) then n = n + 1 end end
  return n
end
function MultiStepLR:get_lr()
  local e = self.last_epoch
  local hits = count_le(self.milestones, e) - count_le(self.milestones, e, true)
  return map_groups(self, function(g) return hits == 0 and g.lr or g.lr * self.gamma ^ hits end)
end
function MultiStepLR:closed_form()
  local n = count_le(self.milestones, self.last_epoch)
  return map_groups(self, function(_, base) return base * self.gamma ^ n end)
end

------------------------------------------------------------ ExponentialLR
local ExponentialLR = class("ExponentialLR")
function ExponentialLR.new(opt, opts, last_epoch)
  check_optimizer("ExponentialLR", opt)
  opts = options("ExponentialLR", opts, "gamma")
  local self = init(ExponentialLR, opt, last_epoch)
  self.gamma = number_opt("ExponentialLR", opts, "gamma", nil, 0)
  self:step()
  return self
end
function ExponentialLR:get_lr()
  local e = self.last_epoch
  return map_groups(self, function(g) return e == 0 and g.lr or g.lr * self.gamma end)
end
function ExponentialLR:closed_form()
  return map_groups(self, function(_, base) return base * self.gamma ^ self.last_epoch end)
end

-------------------------------------------------------- CosineAnnealingLR
local Cosine = class("CosineAnnealingLR")
function Cosine.new(opt, opts, last_epoch)
  check_optimizer("CosineAnnealingLR", opt)
  opts = options("CosineAnnealingLR", opts, "T_max")
  local self = init(Cosine, opt, last_epoch)
  self.T_max = number_opt("CosineAnnealingLR", opts, "T_max", nil, 1)
  self.eta_min = number_opt("CosineAnnealingLR", opts, "eta_min", 0, 0)
  self:step()
  return self
end
function Cosine:get_lr()
  local e, T, eta = self.last_epoch, self.T_max, self.eta_min
  return map_groups(self, function(g, base)
    if e == 0 then return g.lr end
    if (e - 1 - T) % (2 * T) == 0 then return g.lr + (base - eta) * (1 - math.cos(math.pi / T)) / 2 end
    return (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (g.lr - eta) + eta
  end)
end
function Cosine:closed_form()
  local e, T, eta = self.last_epoch, self.T_max, self.eta_min
  return map_groups(self, function(_, base) return eta + (base - eta) * (1 + math.cos(math.pi * e / T)) / 2 end)
end

----------------------------------------------------------------- LinearLR
local LinearLR = class("LinearLR")
function LinearLR.new(opt, opts, last_epoch)
  check_optimizer("LinearLR", opt)
  opts = options("LinearLR", opts)
  local self = init(LinearLR, opt, last_epoch)
  self.start_factor = number_opt("LinearLR", opts, "start_factor", 1 / 3, 0, 1)
  if self.start_factor == 0 then fail("LinearLR", "invalid start_factor: 0 (expected (0, 1])") end
  self.end_factor = number_opt("LinearLR", opts, "end_factor", 1.0, 0, 1)
  self.total_iters = number_opt("LinearLR", opts, "total_iters", 5, 1)
  self:step()
  return self
end
function LinearLR:get_lr()
  local e, s, f, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
  return map_groups(self, function(g)
    if e == 0 then return g.lr * s end
    if e > n then return g.lr end
    return g.lr * (1 + (f - s) / (n * s + (e - 1) * (f - s)))
  end)
end
function LinearLR:closed_form()
  local e, s, f, n = self.last_epoch, self.start_factor, self.end_factor, self.total_iters
  return map_groups(self, function(_, base) return base * (s + (f - s) * math.min(n, e) / n) end)
end

------------------------------------------------------ composition helpers
local function check_schedulers(name, list, opt)
  if type(list) ~= "table" or #list == 0 then fail(name, "expected a non-empty list of schedulers") end
  for i, s in ipairs(list) do
    if type(s) ~= "table" or type(s.step) ~= "function" then fail(name, "entry %d is not a scheduler", i - 1) end
    if s.optimizer ~= (opt or list[1].optimizer) then
      fail(name, "all schedulers must belong to the same optimizer (index %d differs)", i - 1)
    end
  end
end

local SequentialLR = class("SequentialLR")
--- Run schedulers one after another; opts.milestones = epochs where the next one starts.
function SequentialLR.new(opt, schedulers, opts, last_epoch)
  check_optimizer("SequentialLR", opt)
  check_schedulers("SequentialLR", schedulers, opt)
  -- torch's positional form SequentialLR(opt, schedulers, milestones[, last_epoch])
  if type(opts) == "table" and #opts > 0 then opts, last_epoch = {milestones = opts, last_epoch = last_epoch}, nil end
  opts = options("SequentialLR", opts, nil, {"milestones", "last_epoch"})
  if last_epoch ~= nil then -- SequentialLR(opt, schedulers, {milestones = ...}, last_epoch)
    if opts.last_epoch ~= nil then fail("SequentialLR", "option 'last_epoch' is given twice") end
    opts = {milestones = opts.milestones, last_epoch = last_epoch}
  end
  local ms = opts.milestones
  if type(ms) ~= "table" or #ms ~= #schedulers - 1 then
    fail("SequentialLR", "expects one milestone fewer than schedulers, got %d schedulers and %s milestones",
      #schedulers, type(ms) == "table" and tostring(#ms) or "no")
  end
  local self = setmetatable({optimizer = opt, _schedulers = schedulers, _milestones = ms,
    last_epoch = (opts.last_epoch or -1) + 1}, SequentialLR)
  for _, g in ipairs(opt.param_groups) do g.lr = g.initial_lr end
  for _, s in ipairs(schedulers) do s.last_epoch = s.last_epoch - 1 end -- undo their initial steps
  schedulers[1]:step()
  self._last_lr = schedulers[1]:get_last_lr()
  return self
end
function SequentialLR:step()
  self.last_epoch = self.last_epoch + 1
  local idx = count_le(self._milestones, self.last_epoch) -- bisect_right
  local s = self._schedulers[idx + 1]
  if idx > 0 and self._milestones[idx] == self.last_epoch then s:step(0) else s:step() end
  self._last_lr = s:get_last_lr()
end

local Chained = class("ChainedScheduler")
--- Apply every scheduler at each step (their factors multiply).
function Chained.new(schedulers, ...)
  if select("#", ...) > 0 then
    fail("ChainedScheduler", "takes one argument, the list of schedulers (as torch 1.13), got %d more", select("#", ...))
  end
  check_schedulers("ChainedScheduler", schedulers)
  local self = setmetatable({_schedulers = schedulers, optimizer = schedulers[1].optimizer}, Chained)
  self._last_lr = map_groups(self, function(g) return g.lr end)
  return self
end
function Chained:step()
  for _, s in ipairs(self._schedulers) do s:step() end
  self._last_lr = map_groups(self, function(g) return g.lr end)
end

------------------------------------------------------- momentum cycling
-- OneCycleLR and CyclicLR cycle SGD's momentum, or beta1 for the Adam family
local function uses_beta1(name, opt)
  local d = opt.defaults or {}
  if d.momentum == nil and d.betas == nil then fail(name, "the optimizer has no momentum to cycle (use cycle_momentum = false)") end
  return d.betas ~= nil
end
local function set_momentum(use_beta1, g, m)
  if use_beta1 then g.betas = {m, g.betas[2]} else g.momentum = m end
end

--------------------------------------------------------------- OneCycleLR
local OneCycle = class("OneCycleLR")
--- Per-batch one-cycle policy (Smith): warm up to max_lr, anneal to max_lr/div/final_div.
-- opts: max_lr (required), total_steps or epochs*steps_per_epoch, pct_start = 0.3,
-- anneal_strategy = "cos"|"linear", cycle_momentum = true, base_momentum = 0.85,
-- max_momentum = 0.95, div_factor = 25, final_div_factor = 1e4, three_phase = false.
function OneCycle.new(opt, opts)
  local N = "OneCycleLR"
  check_optimizer(N, opt)
  opts = options(N, opts)
  local max_lr = number_opt(N, opts, "max_lr", nil, 0)
  local total = opts.total_steps
  if total == nil then
    if math.type(opts.epochs) ~= "integer" or math.type(opts.steps_per_epoch) ~= "integer" then
      fail(N, "define either total_steps or (epochs and steps_per_epoch) as positive integers")
    end
    total = opts.epochs * opts.steps_per_epoch
  end
  if math.type(total) ~= "integer" or total <= 0 then fail(N, "expected a positive integer total_steps, got %s", tostring(total)) end
  local pct = number_opt(N, opts, "pct_start", 0.3, 0, 1)
  local strategy = opts.anneal_strategy or "cos"
  if strategy ~= "cos" and strategy ~= "linear" then
    fail(N, "anneal_strategy must be 'cos' or 'linear', got %s", tostring(strategy))
  end
  local div, final_div = number_opt(N, opts, "div_factor", 25, 0), number_opt(N, opts, "final_div_factor", 1e4, 0)
  local self = setmetatable({optimizer = opt, total_steps = total, anneal_strategy = strategy,
    cycle_momentum = opts.cycle_momentum ~= false}, OneCycle)
  if opts.three_phase then
    self.phases = {
      {pct * total - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
      {2 * pct * total - 2, "max_lr", "initial_lr", "base_momentum", "max_momentum"},
      {total - 1, "initial_lr", "min_lr", "max_momentum", "max_momentum"}}
  else
    self.phases = {
      {pct * total - 1, "initial_lr", "max_lr", "max_momentum", "base_momentum"},
      {total - 1, "max_lr", "min_lr", "base_momentum", "max_momentum"}}
  end
  for _, g in ipairs(opt.param_groups) do
    g.initial_lr = max_lr / div
    g.max_lr = max_lr
    g.min_lr = g.initial_lr / final_div
  end
  if self.cycle_momentum then
    self.use_beta1 = uses_beta1(N, opt)
    local mx, base = number_opt(N, opts, "max_momentum", 0.95, 0), number_opt(N, opts, "base_momentum", 0.85, 0)
    for _, g in ipairs(opt.param_groups) do
      set_momentum(self.use_beta1, g, mx)
      g.max_momentum, g.base_momentum = mx, base
    end
  end
  self.base_lrs = map_groups(self, function(g) return g.initial_lr end)
  self.last_epoch = -1
  self:step()
  return self
end
local function anneal(strategy, a, b, pct)
  if strategy == "linear" then return (b - a) * pct + a end
  return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)
end
function OneCycle:get_lr()
  local n = self.last_epoch
  if n > self.total_steps then
    fail("OneCycleLR", "tried to step %d times; the specified number of total steps is %d", n + 1, self.total_steps)
  end
  return map_groups(self, function(g)
    local start, lr, mom = 0, nil, nil
    for i, ph in ipairs(self.phases) do
      if n <= ph[1] or i == #self.phases then
        local pct = (n - start) / (ph[1] - start)
        lr = anneal(self.anneal_strategy, g[ph[2]], g[ph[3]], pct)
        if self.cycle_momentum then mom = anneal(self.anneal_strategy, g[ph[4]], g[ph[5]], pct) end
        break
      end
      start = ph[1]
    end
    if self.cycle_momentum then set_momentum(self.use_beta1, g, mom) end
    return lr
  end)
end

-------------------------------------------------------- ReduceLROnPlateau
local Plateau = class("ReduceLROnPlateau")
--- Reduce lr by `factor` when the metric stops improving for `patience` epochs.
-- opts: mode "min"|"max", factor = 0.1, patience = 10, threshold = 1e-4,
-- threshold_mode "rel"|"abs", cooldown = 0, min_lr = 0 (or a list per group), eps = 1e-8.
function Plateau.new(opt, opts)
  local N = "ReduceLROnPlateau"
  check_optimizer(N, opt)
  opts = options(N, opts)
  local self = setmetatable({optimizer = opt}, Plateau)
  self.factor = number_opt(N, opts, "factor", 0.1, 0)
  if self.factor >= 1 then fail(N, "factor should be < 1.0, got %s", tostring(self.factor)) end
  self.patience = number_opt(N, opts, "patience", 10, 0)
  self.threshold = number_opt(N, opts, "threshold", 1e-4, 0)
  self.cooldown = number_opt(N, opts, "cooldown", 0, 0)
  self.eps = number_opt(N, opts, "eps", 1e-8, 0)
  self.mode = opts.mode or "min"
  self.threshold_mode = opts.threshold_mode or "rel"
  if self.mode ~= "min" and self.mode ~= "max" then fail(N, "mode %s is unknown (expected 'min' or 'max')", tostring(self.mode)) end
  if self.threshold_mode ~= "rel" and self.threshold_mode ~= "abs" then
    fail(N, "threshold mode %s is unknown (expected 'rel' or 'abs')", tostring(self.threshold_mode))
  end
  local min_lr = opts.min_lr or 0
  self.min_lrs = {}
  for i = 1, #opt.param_groups do
    self.min_lrs[i] = type(min_lr) == "table" and min_lr[i] or min_lr
    if type(self.min_lrs[i]) ~= "number" then fail(N, "expected %d min_lrs", #opt.param_groups) end
  end
  self.best = self.mode == "min" and math.huge or -math.huge
  self.num_bad_epochs, self.cooldown_counter, self.last_epoch = 0, 0, 0
  self._last_lr = map_groups(self, function(g) return g.lr end)
  return self
end
function Plateau:is_better(a, best)
  if self.mode == "min" then
    return self.threshold_mode == "rel" and a < best * (1 - self.threshold) or
      (self.threshold_mode == "abs" and a < best - self.threshold)
  end
  return self.threshold_mode == "rel" and a > best * (1 + self.threshold) or
    (self.threshold_mode == "abs" and a > best + self.threshold)
end
--- step(metric): call once per epoch with the monitored value (number or scalar tensor).
function Plateau:step(metric)
  if ks.is_tensor(metric) then metric = metric:item() end
  if type(metric) ~= "number" then fail("ReduceLROnPlateau", "step needs the metric (a number), got %s", type(metric)) end
  self.last_epoch = self.last_epoch + 1
  if self:is_better(metric, self.best) then
    self.best, self.num_bad_epochs = metric, 0
  else
    self.num_bad_epochs = self.num_bad_epochs + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad_epochs = 0
  end
  if self.num_bad_epochs > self.patience then
    for i, g in ipairs(self.optimizer.param_groups) do
      local new = math.max(g.lr * self.factor, self.min_lrs[i])
      if g.lr - new > self.eps then g.lr = new end
    end
    self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
  end
  self._last_lr = map_groups(self, function(g) return g.lr end)
end

-- the other schedulers live in their own files and build on these helpers (they register through class)
local helpers = {Scheduler = Scheduler, class = class, init = init, fail = fail, check_optimizer = check_optimizer,
  number_opt = number_opt, integer_opt = integer_opt, options = options, callable = callable, map_groups = map_groups,
  PER_GROUP = PER_GROUP, uses_beta1 = uses_beta1, set_momentum = set_momentum}
require "kshot.optim.lr_scheduler_factor" (helpers)
require "kshot.optim.lr_scheduler_cyclic" (helpers)

------------------------------------------------------------ LR range test
--- The learning-rate range test (Smith 2017; "LR finder").
-- step_fn() runs one training step (forward, backward, optimizer:step()) at
-- the rate currently set in the optimizer and returns the loss. The rate
-- grows exponentially from start_lr to end_lr over num_iter steps; the loss
-- is smoothed exponentially (smooth_f); the test stops early once the
-- smoothed loss exceeds diverge_th times the best one. Returns
-- {lrs = {...}, losses = {...} (smoothed), raw_losses = {...}, suggested_lr = r}
-- where r is the rate of steepest descent of the smoothed loss against
-- log(lr), searched up to the lowest smoothed loss only: past it the loss
-- rises on the whole, and a dip there (an oscillation before the test stops,
-- e.g. full-batch gradient descent bouncing at too high a rate) is no rate
-- to train at. With opts.model, the model's parameters and buffers and the
-- optimizer's state are restored afterwards (the test is a probe).
-- opts: start_lr = 1e-7, end_lr = 10, num_iter = 100, smooth_f = 0.05,
--       diverge_th = 5, model = nil.
function M.range_test(opt, step_fn, opts)
  local N = "range_test"
  check_optimizer(N, opt)
  if type(step_fn) ~= "function" then fail(N, "step_fn must be a function returning the loss, got %s", type(step_fn)) end
  opts = options(N, opts, nil, {"start_lr", "end_lr", "num_iter", "smooth_f", "diverge_th", "model"})
  local start_lr = number_opt(N, opts, "start_lr", 1e-7, 0)
  local end_lr = number_opt(N, opts, "end_lr", 10, 0)
  local num_iter = number_opt(N, opts, "num_iter", 100, 2)
  local smooth = number_opt(N, opts, "smooth_f", 0.05, 0, 1)
  local diverge = number_opt(N, opts, "diverge_th", 5, 1)
  if start_lr <= 0 or end_lr <= start_lr then fail(N, "need 0 < start_lr < end_lr, got %s and %s", start_lr, end_lr) end
  local saved_model, saved_opt = nil, opt:state_dict()
  if opts.model then
    saved_model = {}
    for k, t in pairs(opts.model:state_dict()) do saved_model[k] = t:clone() end
  end
  local lrs, losses, raw = {}, {}, {}
  local best = math.huge
  for i = 0, num_iter - 1 do
    local lr = start_lr * (end_lr / start_lr) ^ (i / (num_iter - 1))
    for _, g in ipairs(opt.param_groups) do g.lr = lr end
    local loss = step_fn()
    if ks.is_tensor(loss) then loss = loss:item() end
    if type(loss) ~= "number" then fail(N, "step_fn must return the loss, got %s", type(loss)) end
    raw[#raw + 1] = loss
    if #losses > 0 then loss = smooth * loss + (1 - smooth) * losses[#losses] end
    lrs[#lrs + 1], losses[#losses + 1] = lr, loss
    if loss < best then best = loss end
    if loss ~= loss or loss > diverge * best then break end
  end
  -- steepest descent of the smoothed curve against log(lr), before its minimum
  local lowest = 1
  for i = 2, #losses do if losses[i] < losses[lowest] then lowest = i end end
  local suggested, steepest = lrs[1], math.huge
  for i = 2, lowest do
    local slope = (losses[i] - losses[i - 1]) / (math.log(lrs[i]) - math.log(lrs[i - 1]))
    if slope < steepest then steepest, suggested = slope, lrs[i - 1] end
  end
  opt:load_state_dict(saved_opt)
  if saved_model then opts.model:load_state_dict(saved_model) end
  return {lrs = lrs, losses = losses, raw_losses = raw, suggested_lr = suggested}
end

kopts.guard_methods(Scheduler, "LRScheduler", "scheduler", { "step", "get_last_lr", "state_dict", "load_state_dict" })
for _, c in ipairs { { SequentialLR, "SequentialLR" }, { Chained, "ChainedScheduler" }, { Plateau, "ReduceLROnPlateau" } } do
  kopts.guard_methods(c[1], c[2], "scheduler", { "step" })
end

return M
