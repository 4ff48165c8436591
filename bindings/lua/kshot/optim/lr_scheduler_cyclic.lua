--- Cyclic schedules of kshot.optim.lr_scheduler (PyTorch 1.13 semantics):
-- CosineAnnealingWarmRestarts (SGDR) and CyclicLR (Smith's CLR).
-- lr_scheduler.lua loads this file with its helpers and the classes land in its table:
--
--   local lr = require "kshot.optim.lr"
--   local s = lr.CosineAnnealingWarmRestarts(opt, {T_0 = 10, T_mult = 2, eta_min = 1e-5})
--   for epoch = 0, 19 do for i = 0, iters - 1 do train_batch(); s:step(epoch + i / iters) end end
--   local c = lr.CyclicLR(opt, {base_lr = 0.001, max_lr = 0.1, step_size_up = 2000}) -- step() per batch
--
-- CosineAnnealingWarmRestarts: step() advances one epoch; step(epoch) jumps to
-- any epoch >= 0, fractional ones too. Options T_0 (integer >= 1), T_mult
-- (integer >= 1, default 1), eta_min (default 0).
-- CyclicLR options: base_lr, max_lr (numbers, or lists with one per parameter
-- group), step_size_up = 2000, step_size_down = step_size_up, mode =
-- "triangular" | "triangular2" | "exp_range", gamma = 1 (exp_range), scale_fn
-- (a function replacing mode; scale_fn(x) in [0, 1]) with scale_mode = "cycle"
-- | "iterations", cycle_momentum = true, base_momentum = 0.8, max_momentum = 0.9
-- (numbers or per-group lists). Construction sets every group's lr to base_lr.
-- Momentum is cycled inversely to the lr: SGD's momentum, or beta1 for the
-- Adam family (an extension: torch 1.13's CyclicLR refuses Adam).
-- A custom scale_fn is not part of state_dict(), as in PyTorch.
return function(H)
  local fail, number_opt, integer_opt, options, map_groups = H.fail, H.number_opt, H.integer_opt, H.options,
    H.map_groups

  ---------------------------------------------- CosineAnnealingWarmRestarts
  local N_SGDR = "CosineAnnealingWarmRestarts"
  local SGDR = H.class(N_SGDR)
  function SGDR.new(opt, opts, last_epoch)
    H.check_optimizer(N_SGDR, opt)
    opts = options(N_SGDR, opts, "T_0")
    local T_0 = integer_opt(N_SGDR, opts, "T_0", nil, 1)
    local T_mult = integer_opt(N_SGDR, opts, "T_mult", 1, 1)
    local eta_min = number_opt(N_SGDR, opts, "eta_min", 0, 0)
    local self = H.init(SGDR, opt, last_epoch)
    self.T_0, self.T_i, self.T_mult, self.eta_min, self.T_cur = T_0, T_0, T_mult, eta_min, self.last_epoch
    self:step()
    return self
  end
  function SGDR:get_lr()
    local eta, t = self.eta_min, math.pi * self.T_cur / self.T_i
    return map_groups(self, function(_, base) return eta + (base - eta) * (1 + math.cos(t)) / 2 end)
  end
  --- step() advances one epoch; step(epoch) places the schedule at `epoch` (may be fractional).
  function SGDR:step(epoch)
    if epoch == nil and self.last_epoch < 0 then epoch = 0 end
    if epoch == nil then
      epoch = self.last_epoch + 1
      self.T_cur = self.T_cur + 1
      if self.T_cur >= self.T_i then
        self.T_cur = self.T_cur - self.T_i
        self.T_i = self.T_i * self.T_mult
      end
    else
      if type(epoch) ~= "number" or epoch ~= epoch or epoch < 0 then
        fail(N_SGDR, "step: expected a non-negative epoch, got %s", tostring(epoch))
      end
      local T_0, m = self.T_0, self.T_mult
      if epoch < T_0 then
        self.T_i, self.T_cur = T_0, epoch
      elseif m == 1 then
        self.T_cur = epoch % T_0
      else
        -- restart n begins at T_0 * (m^n - 1) / (m - 1); PyTorch's log(x, base) is log(x) / log(base)
        local n = math.floor(math.log(epoch / T_0 * (m - 1) + 1) / math.log(m))
        local p = 1
        for _ = 1, n do p = p * m end
        self.T_cur = epoch - T_0 * (p - 1) / (m - 1)
        self.T_i = T_0 * p
      end
    end
    H.Scheduler.step(self, math.floor(epoch)) -- no closed_form: get_lr() from T_cur and T_i
  end

  ------------------------------------------------------------------ CyclicLR
  local N_CLR = "CyclicLR"
  local Cyclic = H.class(N_CLR)
  Cyclic._unsaved = {scale_fn = true}
  H.PER_GROUP.max_lrs, H.PER_GROUP.base_momentums, H.PER_GROUP.max_momentums = true, true, true

  local SCALE_MODE = {triangular = "cycle", triangular2 = "cycle", exp_range = "iterations"}

  -- a number, or a list with one number per parameter group
  local function per_group(opt, opts, key, default)
    local v, n, out = opts[key], #opt.param_groups, {}
    if v == nil then v = default end
    if type(v) ~= "table" then
      local x = number_opt(N_CLR, opts, key, default, 0)
      for i = 1, n do out[i] = x end
      return out
    end
    if #v ~= n then fail(N_CLR, "expected %d values for %s (one per parameter group), got %d", n, key, #v) end
    for i = 1, n do
      local name = string.format("%s[%d]", key, i - 1)
      out[i] = number_opt(N_CLR, {[name] = v[i]}, name, nil, 0)
    end
    return out
  end

  local function scale_options(self, opts)
    self.mode = opts.mode or "triangular"
    self.gamma = number_opt(N_CLR, opts, "gamma", 1.0, 0)
    local fn = opts.scale_fn
    if fn == nil then
      self.scale_mode = SCALE_MODE[self.mode]
      if self.scale_mode == nil then
        fail(N_CLR, "mode must be 'triangular', 'triangular2' or 'exp_range' (or give scale_fn), got %s",
          tostring(self.mode))
      end
      return
    end
    if not H.callable(fn) then fail(N_CLR, "option 'scale_fn' must be a function, got %s", type(fn)) end
    self.scale_fn = fn
    self.scale_mode = opts.scale_mode or "cycle"
    if self.scale_mode ~= "cycle" and self.scale_mode ~= "iterations" then
      fail(N_CLR, "scale_mode must be 'cycle' or 'iterations', got %s", tostring(self.scale_mode))
    end
  end

  local function momentum_options(self, opt, opts, resuming)
    local cm = opts.cycle_momentum
    if cm ~= nil and type(cm) ~= "boolean" then fail(N_CLR, "option 'cycle_momentum' must be a boolean, got %s", type(cm)) end
    self.cycle_momentum = cm ~= false
    if not self.cycle_momentum then return end
    self.use_beta1 = H.uses_beta1(N_CLR, opt)
    local base = per_group(opt, opts, "base_momentum", 0.8)
    self.max_momentums = per_group(opt, opts, "max_momentum", 0.9)
    self.base_momentums = {}
    for i, g in ipairs(opt.param_groups) do
      if not resuming then H.set_momentum(self.use_beta1, g, base[i]) end
      self.base_momentums[i] = self.use_beta1 and g.betas[1] or g.momentum
    end
  end

  function Cyclic.new(opt, opts, last_epoch)
    H.check_optimizer(N_CLR, opt)
    opts = options(N_CLR, opts)
    local base_lrs = per_group(opt, opts, "base_lr")
    local max_lrs = per_group(opt, opts, "max_lr")
    local up = number_opt(N_CLR, opts, "step_size_up", 2000, 1)
    local down = number_opt(N_CLR, opts, "step_size_down", up, 0)
    local resuming = last_epoch ~= nil and last_epoch ~= -1
    local fields = {} -- every option is checked before the optimizer changes
    scale_options(fields, opts)
    momentum_options(fields, opt, opts, resuming)
    if not resuming then
      for i, g in ipairs(opt.param_groups) do g.lr = base_lrs[i] end
    end
    local self = H.init(Cyclic, opt, last_epoch)
    for k, v in pairs(fields) do self[k] = v end
    self.max_lrs, self.total_size, self.step_ratio = max_lrs, up + down, up / (up + down)
    self:step() -- from the groups' initial_lr, as PyTorch does
    self.base_lrs = base_lrs
    return self
  end

  -- the amplitude's scale at x (the cycle number or the iteration, per scale_mode)
  function Cyclic:scale_at(x)
    if self.scale_fn then
      local v = self.scale_fn(x)
      if type(v) ~= "number" then fail(N_CLR, "scale_fn(%s) must return a number, got %s", tostring(x), type(v)) end
      return v
    end
    if self.mode == "triangular" then return 1.0 end
    if self.mode == "triangular2" then return 1 / (2.0 ^ (x - 1)) end
    return self.gamma ^ x
  end

  --- The lr at batch last_epoch; with cycle_momentum, sets the groups' momentum (or beta1) too.
  function Cyclic:get_lr()
    local e = self.last_epoch
    local cycle = math.floor(1 + e / self.total_size)
    local x = 1.0 + e / self.total_size - cycle
    local r = self.step_ratio
    local scale = x <= r and x / r or (x - 1) / (r - 1)
    local s = self:scale_at(self.scale_mode == "cycle" and cycle or e)
    if self.cycle_momentum then
      for i, g in ipairs(self.optimizer.param_groups) do
        local hi = self.max_momentums[i]
        H.set_momentum(self.use_beta1, g, hi - (hi - self.base_momentums[i]) * scale * s)
      end
    end
    return map_groups(self, function(_, base, i) return base + (self.max_lrs[i] - base) * scale * s end)
  end
end
