--- Factor schedules of kshot.optim.lr_scheduler (PyTorch 1.13 semantics):
-- LambdaLR, MultiplicativeLR, ConstantLR, PolynomialLR. lr_scheduler.lua loads
-- this file with its helpers and the classes land in its table:
--
--   local lr = require "kshot.optim.lr"
--   lr.LambdaLR(opt, function(epoch) return 0.95 ^ epoch end) -- lr = initial_lr * f(epoch)
--   lr.LambdaLR(opt, {f1, f2})                 -- one function per parameter group
--   lr.MultiplicativeLR(opt, function(epoch) return 0.95 end) -- lr = lr * f(epoch) from epoch 1
--   lr.ConstantLR(opt, {factor = 1/3, total_iters = 5}) -- lr * factor until epoch total_iters
--   lr.PolynomialLR(opt, {total_iters = 5, power = 1}) -- initial_lr * (1 - min(e, T) / T) ^ power
--
-- lr_lambda may also be given as {lr_lambda = f or {f1, f2}}. The functions
-- are not part of state_dict() (PyTorch saves only callable objects'
-- attributes, never plain functions): load_state_dict keeps the scheduler's
-- own functions, so rebuild it with the same ones before loading.
return function(H)
  local fail, number_opt, integer_opt, options, map_groups = H.fail, H.number_opt, H.integer_opt, H.options,
    H.map_groups
  local callable = H.callable

  -- lr_lambda: a function, a list of one function per group, or {lr_lambda = either}
  local function lr_lambdas(name, opt, arg)
    local f = arg
    if type(arg) == "table" and not callable(arg) and #arg == 0 then f = options(name, arg).lr_lambda end -- options
    local n = #opt.param_groups
    local list = {}
    if callable(f) then
      for i = 1, n do list[i] = f end
      return list
    end
    if type(f) ~= "table" or #f == 0 then
      fail(name, "option 'lr_lambda' must be a function or a list of %d functions (one per parameter group), got %s",
        n, type(f))
    end
    if #f ~= n then fail(name, "expected %d lr_lambdas (one per parameter group), got %d", n, #f) end
    for i = 1, n do
      if not callable(f[i]) then fail(name, "lr_lambda[%d] must be a function, got %s", i - 1, type(f[i])) end
      list[i] = f[i]
    end
    return list
  end

  -- group i's factor at epoch e
  local function factor(self, i, e)
    local v = self.lr_lambdas[i](e)
    if type(v) ~= "number" then
      fail(self.__name, "lr_lambda[%d](%s) must return a number, got %s", i - 1, tostring(e), type(v))
    end
    return v
  end

  local function lambda_class(name)
    local cls = H.class(name)
    cls._unsaved = {lr_lambdas = true}
    function cls.new(opt, opts, last_epoch)
      H.check_optimizer(name, opt)
      local fns = lr_lambdas(name, opt, opts)
      local self = H.init(cls, opt, last_epoch)
      self.lr_lambdas = fns
      self:step()
      return self
    end
    return cls
  end

  --- LambdaLR: lr = initial_lr * lr_lambda(epoch).
  local LambdaLR = lambda_class("LambdaLR")
  function LambdaLR:get_lr()
    local e = self.last_epoch
    return map_groups(self, function(_, base, i) return base * factor(self, i, e) end)
  end

  --- MultiplicativeLR: lr = lr * lr_lambda(epoch) at every epoch after the first.
  local Multiplicative = lambda_class("MultiplicativeLR")
  function Multiplicative:get_lr()
    local e = self.last_epoch
    return map_groups(self, function(g, _, i)
      if e > 0 then return g.lr * factor(self, i, e) end
      return g.lr
    end)
  end

  -- a class whose options read(name, opts) turns into fields of the scheduler
  local function options_class(name, first, read)
    local cls = H.class(name)
    function cls.new(opt, opts, last_epoch)
      H.check_optimizer(name, opt)
      local fields = read(name, options(name, opts, first))
      local self = H.init(cls, opt, last_epoch)
      for k, v in pairs(fields) do self[k] = v end
      self:step()
      return self
    end
    return cls
  end

  --- ConstantLR: lr * factor for epochs [0, total_iters), then lr.
  local ConstantLR = options_class("ConstantLR", "factor", function(N, opts)
    local f = number_opt(N, opts, "factor", 1 / 3, 0, 1)
    if f == 0 then fail(N, "invalid factor: 0 (expected (0, 1])") end
    return {factor = f, total_iters = integer_opt(N, opts, "total_iters", 5, 1)}
  end)
  function ConstantLR:get_lr()
    local e, f, n = self.last_epoch, self.factor, self.total_iters
    return map_groups(self, function(g)
      if e == 0 then return g.lr * f end
      if e ~= n then return g.lr end
      return g.lr * (1.0 / f)
    end)
  end
  function ConstantLR:closed_form()
    local e, f, n = self.last_epoch, self.factor, self.total_iters
    return map_groups(self, function(_, base) return base * (f + (e >= n and 1 - f or 0)) end)
  end

  --- PolynomialLR: initial_lr * (1 - min(epoch, total_iters) / total_iters) ^ power.
  local PolynomialLR = options_class("PolynomialLR", "total_iters", function(N, opts)
    return {total_iters = number_opt(N, opts, "total_iters", 5, 1), power = number_opt(N, opts, "power", 1.0, 0)}
  end)
  function PolynomialLR:get_lr()
    local e, n = self.last_epoch, self.total_iters
    if e == 0 or e > n then return map_groups(self, function(g) return g.lr end) end
    local decay = ((1.0 - e / n) / (1.0 - (e - 1) / n)) ^ self.power
    return map_groups(self, function(g) return g.lr * decay end)
  end
  function PolynomialLR:closed_form()
    local e, n = self.last_epoch, self.total_iters
    return map_groups(self, function(_, base) return base * (1.0 - math.min(n, e) / n) ^ self.power end)
  end
end
