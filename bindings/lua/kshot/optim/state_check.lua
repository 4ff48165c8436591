--- kshot.optim.state_check: the check Optimizer:load_state_dict runs before it changes anything.
-- check(optimizer, state_dict) -> the optimizer's parameters by saved index, or an error naming what
-- was expected and what was found: the parameter layout (groups, sizes, distinct indices), each
-- group's options (known to this optimizer, typed, in the constructor's ranges) and each parameter's
-- state (the fields this optimizer keeps: float32 buffers of the parameter's shape, integer counts;
-- L-BFGS's one flat state). A state dict of another optimizer is refused.
local ks = require "kshot"
local options = require "kshot.options"

local function fail(self, fmt, ...)
  options.raise(string.format("%s: " .. fmt, self.__name, ...))
end

local shape_str = require("kshot.options").shape_str

local function describe(v)
  if ks.is_tensor(v) then return v:dtype() .. " tensor of shape " .. shape_str(v) end
  if type(v) == "number" or type(v) == "boolean" then return type(v) .. " " .. tostring(v) end
  if type(v) == "string" then return string.format("string %q", v) end
  return type(v)
end

-- group keys a scheduler adds (and that a state dict therefore carries)
local SCHEDULER_KEYS = {initial_lr = true, max_lr = true, min_lr = true, max_momentum = true, base_momentum = true}
-- boolean options of any optimizer
local BOOLEAN_KEYS = {nesterov = true, maximize = true, amsgrad = true, centered = true}

-- The per-parameter state of each optimizer: field -> kind ("buffer": float32 tensor of the parameter's
-- shape; "count": integer number >= 0; "number": a finite number), and whether it must be there.
local STATE_FIELDS = {
  SGD = {momentum_buffer = {"buffer"}},
  Adam = {step = {"count", true}, exp_avg = {"buffer", true}, exp_avg_sq = {"buffer", true}, max_exp_avg_sq = {"buffer"}},
  RMSprop = {step = {"count", true}, square_avg = {"buffer", true}, momentum_buffer = {"buffer"}, grad_avg = {"buffer"}},
  Adagrad = {step = {"count", true}, sum = {"buffer", true}},
  Adamax = {step = {"count", true}, exp_avg = {"buffer", true}, exp_inf = {"buffer", true}},
  NAdam = {step = {"count", true}, mu_product = {"number", true}, exp_avg = {"buffer", true},
    exp_avg_sq = {"buffer", true}},
  RAdam = {step = {"count", true}, exp_avg = {"buffer", true}, exp_avg_sq = {"buffer", true}},
  Adadelta = {step = {"count", true}, square_avg = {"buffer", true}, acc_delta = {"buffer", true}},
}
STATE_FIELDS.AdamW = STATE_FIELDS.Adam

local function check_count(self, where, v)
  if type(v) ~= "number" or math.tointeger(v) == nil or v < 0 then
    fail(self, "load_state_dict: %s must be an integer >= 0, got %s", where, describe(v))
  end
end

local function check_buffer(self, where, v, numel, shape)
  if ks.is_tensor(v) and v:dtype() == "float32" and shape and shape_str(v) ~= shape then
    fail(self, "load_state_dict: %s has shape %s but the parameter has shape %s (a different parameter layout)", where,
      shape_str(v), shape)
  end
  if not ks.is_tensor(v) or v:dtype() ~= "float32" or (shape and shape_str(v) ~= shape) or (numel and v:numel() ~= numel) then
    local want = shape and ("of shape " .. shape) or string.format("of %d elements", numel)
    fail(self, "load_state_dict: %s must be a float32 tensor %s, got %s%s", where, want, describe(v),
      ks.is_tensor(v) and v:dtype() == "float32" and " (a different parameter layout)" or "")
  end
end

-- one parameter's saved state, against this optimizer's state fields
local function check_param_state(self, index, st, p)
  local what = string.format("state of parameter %s", tostring(index))
  if type(st) ~= "table" then fail(self, "load_state_dict: %s must be a table, got %s", what, describe(st)) end
  local fields = STATE_FIELDS[self.__name]
  if not fields then return end
  for k, v in pairs(st) do
    local f = fields[k]
    if not f then
      local known = {}
      for name in pairs(fields) do known[#known + 1] = name end
      table.sort(known)
      fail(self, "load_state_dict: %s has a field '%s' that %s does not keep (expected %s; the state of another optimizer?)",
        what, tostring(k), self.__name, table.concat(known, ", "))
    end
    local where = string.format("'%s' in the %s", k, what)
    if f[1] == "count" then
      check_count(self, where, v)
    elseif f[1] == "number" then
      if type(v) ~= "number" or v ~= v or v == math.huge or v == -math.huge then
        fail(self, "load_state_dict: %s must be a finite number, got %s", where, describe(v))
      end
    else
      check_buffer(self, where, v, nil, shape_str(p))
    end
  end
  for k, f in pairs(fields) do
    if f[2] and st[k] == nil then fail(self, "load_state_dict: %s has no '%s' (%s keeps one per parameter)", what, k, self.__name) end
  end
end

-- L-BFGS keeps one state for all parameters, under the first one's index
local function check_flat_state(self, index, st, numel)
  local what = string.format("state of parameter %s", tostring(index))
  if type(st) ~= "table" then fail(self, "load_state_dict: %s must be a table, got %s", what, describe(st)) end
  local kinds = {func_evals = "count", n_iter = "count", t = "number", H_diag = "number", prev_loss = "number",
    d = "vector", prev_flat_grad = "vector", old_dirs = "vectors", old_stps = "vectors", ro = "numbers"}
  for k, v in pairs(st) do
    local kind, where = kinds[k], string.format("'%s' in the %s", tostring(k), what)
    if not kind then
      fail(self, "load_state_dict: %s has a field '%s' that LBFGS does not keep (the state of another optimizer?)", what, tostring(k))
    elseif kind == "count" then
      check_count(self, where, v)
    elseif kind == "number" then
      if type(v) ~= "number" then fail(self, "load_state_dict: %s must be a number, got %s", where, describe(v)) end
    elseif kind == "vector" then
      check_buffer(self, where, v, numel)
    else
      if type(v) ~= "table" then fail(self, "load_state_dict: %s must be a list, got %s", where, describe(v)) end
      for i = 1, #v do
        if kind == "vectors" then
          check_buffer(self, string.format("%s[%d]", where, i - 1), v[i], numel)
        elseif type(v[i]) ~= "number" then
          fail(self, "load_state_dict: %s[%d] must be a number, got %s", where, i - 1, describe(v[i]))
        end
      end
    end
  end
  for _, k in ipairs({"func_evals", "n_iter"}) do
    if st[k] == nil then fail(self, "load_state_dict: %s has no '%s'", what, k) end
  end
  local n = type(st.ro) == "table" and #st.ro or 0
  for _, k in ipairs({"old_dirs", "old_stps"}) do
    if (type(st[k]) == "table" and #st[k] or 0) ~= n then
      fail(self, "load_state_dict: %s: '%s' has %d entries but 'ro' has %d", what, k, type(st[k]) == "table" and #st[k] or 0, n)
    end
  end
end

-- a saved group's options, checked as the constructor checks them
local function check_group_options(self, gi, saved)
  local merged, keys = {}, {}
  for k in pairs(saved) do keys[#keys + 1] = k end
  table.sort(keys, function(x, y) return tostring(x) < tostring(y) end) -- the first wrong option in a fixed order
  for _, k in ipairs(keys) do
    local v = saved[k]
    if k ~= "params" then
      if type(k) ~= "string" or (self.defaults[k] == nil and not SCHEDULER_KEYS[k] and not (self._optional or {})[k]) then
        fail(self, "load_state_dict: parameter group %d has an option '%s' that %s does not have (the state of another optimizer?)",
          gi - 1, tostring(k), self.__name)
      end
      merged[k] = v
    end
  end
  for k in pairs(self.defaults) do
    if merged[k] == nil and not (self._optional or {})[k] then
      fail(self, "load_state_dict: parameter group %d has no option '%s' (the state of another optimizer?)", gi - 1, k)
    end
  end
  for k in pairs(SCHEDULER_KEYS) do
    local v = merged[k]
    if v ~= nil and (type(v) ~= "number" or v ~= v) then
      fail(self, "load_state_dict: parameter group %d: option '%s' must be a number, got %s", gi - 1, k, describe(v))
    end
  end
  for k in pairs(BOOLEAN_KEYS) do
    if merged[k] ~= nil and type(merged[k]) ~= "boolean" then
      fail(self, "load_state_dict: parameter group %d: option '%s' must be a boolean, got %s", gi - 1, k, describe(merged[k]))
    end
  end
  local ok, err = pcall(self.validate, self, merged)
  if not ok then
    local msg = tostring(err)
    local prefix = self.__name .. ": "
    if msg:sub(1, #prefix) == prefix then msg = msg:sub(#prefix + 1) end
    fail(self, "load_state_dict: parameter group %d: %s", gi - 1, msg)
  end
end

return function(self, sd)
  if type(sd) ~= "table" or type(sd.param_groups) ~= "table" or type(sd.state) ~= "table" then
    fail(self, "load_state_dict: expected a table with 'state' and 'param_groups', got %s", describe(sd))
  end
  if #sd.param_groups ~= #self.param_groups then
    fail(self, "load_state_dict: loaded state dict has %d parameter groups, optimizer has %d",
      #sd.param_groups, #self.param_groups)
  end
  local by_index, total = {}, 0
  for gi, group in ipairs(self.param_groups) do
    local saved = sd.param_groups[gi]
    if type(saved) ~= "table" then fail(self, "load_state_dict: parameter group %d must be a table, got %s", gi - 1, describe(saved)) end
    if type(saved.params) ~= "table" or #saved.params ~= #group.params then
      fail(self, "load_state_dict: parameter group %d has %d parameters in the state dict, %d in the optimizer "
        .. "(a different parameter layout)", gi - 1, type(saved.params) == "table" and #saved.params or 0, #group.params)
    end
    for i, p in ipairs(group.params) do
      local index = saved.params[i]
      if math.type(index) ~= "integer" or by_index[index] then
        fail(self, "load_state_dict: parameter group %d: params[%d] must be a distinct integer index, got %s", gi - 1, i - 1,
          describe(index))
      end
      by_index[index] = p
      total = total + p:numel()
    end
    check_group_options(self, gi, saved)
  end
  for index, st in pairs(sd.state) do
    local p = by_index[index]
    if not p then fail(self, "load_state_dict: state for parameter %s, which no group lists", tostring(index)) end
    if self._flat_state then
      if p ~= self.param_groups[1].params[1] then
        fail(self, "load_state_dict: state for parameter %s; %s keeps its state under the first parameter only", tostring(index),
          self.__name)
      end
      check_flat_state(self, index, st, total)
    else
      check_param_state(self, index, st, p)
    end
  end
  return by_index
end
