--- kshot.nn.Module: the base class of every layer and model (PyTorch's nn.Module).
--
-- A module keeps parameters, buffers and child modules in registration
-- order, so named_parameters() and state_dict() list them as PyTorch does
-- ("layer1.0.conv1.weight"). Reading self.weight finds a registered
-- parameter, buffer or child. Calling a module calls its forward.
--
-- Subclass with Module:extend("Name"), define __init(self, ...) (call the
-- parent's __init first) and forward(self, ...):
--   local Net = nn.Module:extend("Net")
--   function Net:__init(n)
--     nn.Module.__init(self)
--     self.fc = nn.Linear(n, 2)                        -- a child module (= self:add_module("fc", ...))
--     self:register_parameter("scale", ks.ones(2))     -- a parameter (made to require grad)
--     self:register_buffer("count", ks.zeros({}, "int64")) -- saved state that is not trained
--   end
--   function Net:forward(x) return self.fc(x) * self.scale end
--
-- Assignment rules (PyTorch's __setattr__):
--   self.name = module  registers a child (in assignment order) unless name
--                       is already a parameter or buffer; self.name = nil
--                       unregisters a child. (Lua calls no hook for a name
--                       that already holds a plain value: clear it first.)
--   self.weight = t     on a registered parameter needs nil or a float32 leaf
--                       tensor that requires grad (what the optimizer trains);
--                       anything else is an error, since it would silently
--                       freeze the weight. To change values in place use
--                       ks.no_grad(function() m.weight:copy_(t) end); to swap
--                       in a new tensor pass t:requires_grad_() or call
--                       m:register_parameter("weight", t). Inside ks.no_grad
--                       (nothing is trained there) any float32 tensor is
--                       accepted, e.g. to evaluate the module with other
--                       weights (autograd.gradcheck does this).
--   self.running_mean = t on a registered buffer needs a tensor or nil.
--   Other values (numbers, tables, tensors under new names) are plain fields.
local ks = require "kshot"
local options = require "kshot.nn.options"

local Module = {__name = "Module"}

local function lookup(self, key)
  local slots = rawget(self, "_slots")
  if slots then
    local v = slots[key]
    if v ~= nil then return v end
  end
  local cls = getmetatable(self)
  if type(key) == "number" and cls._at then -- seq[0] (containers); no tail call: errors name the user's line
    local v = cls._at(self, key)
    return v
  end
  return cls[key]
end

-- an instance (classes have no _slots of their own)
local function is_module(v)
  return type(v) == "table" and rawget(v, "_slots") ~= nil and type(v.named_parameters) == "function"
end

local register, unregister -- defined below

local function param_error(key, value, why)
  error(string.format("cannot assign %s as parameter '%s' (%s). A parameter must be a float32 leaf tensor "
    .. "that requires grad (or nil): to change its values use ks.no_grad(function() m.%s:copy_(t) end); "
    .. "to replace it pass t:requires_grad_() or call m:register_parameter('%s', t)", value, key, why, key, key), 4)
end

local function check_param(key, value)
  if value == nil then return end
  if not ks.is_tensor(value) then param_error(key, "a " .. type(value), "not a tensor") end
  if value:dtype() ~= "float32" then param_error(key, "a " .. value:dtype() .. " tensor", "not float32") end
  if not ks.is_grad_enabled() then return end -- evaluation with other weights: nothing is trained here
  if not value.requires_grad then
    param_error(key, "a tensor that does not require grad", "the optimizer would never update it")
  end
  if not value.is_leaf then
    param_error(key, "a non-leaf tensor (the result of an operation)", "it is not a trainable leaf")
  end
end

local function assign(self, key, value)
  local kind = rawget(self, "_kinds")[key]
  if kind == "param" then
    check_param(key, value)
    rawget(self, "_slots")[key] = value
  elseif kind == "buffer" then
    if value ~= nil and not ks.is_tensor(value) then
      error(string.format("cannot assign a %s to buffer '%s' (tensor or nil expected)", type(value), key), 2)
    end
    rawget(self, "_slots")[key] = value
  elseif kind == "module" then
    if value == nil then
      unregister(self, key)
    elseif not is_module(value) then
      error(string.format("cannot assign a %s as child module '%s' (a module or nil expected)",
        ks.is_tensor(value) and "tensor" or type(value), key), 2)
    else
      rawget(self, "_slots")[key] = value
    end
  elseif type(key) == "number" and getmetatable(self)._set_at then
    getmetatable(self)._set_at(self, key, value)
  elseif is_module(value) then -- a new name (Lua calls __newindex only for absent keys)
    register(self, "module", key, value, 3)
  else
    rawset(self, key, value)
  end
end

--- Create a subclass. Instances are made by calling the class: Cls(...).
function Module:extend(name)
  local cls = {__name = name or "Module"}
  cls.__index = lookup
  cls.__newindex = assign
  cls.__tostring = Module.__tostring
  cls.__call = function(m, ...) return m:forward(...) end
  cls.__len, cls.__pairs = self.__len, self.__pairs -- metamethods are not inherited through __index
  cls.super = self
  return setmetatable(cls, {
    __index = self,
    __call = function(c, ...)
      local o = setmetatable({_slots = {}, _kinds = {}, _order = {}, training = true}, c)
      o:__init(...)
      return o
    end,
  })
end

function Module:__init() end

function Module:forward()
  error(self.__name .. ": forward is not implemented", 2)
end

function register(self, kind, name, value, level)
  level = level or 3
  if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
    error("bad " .. kind .. " name '" .. tostring(name) .. "' (non-empty string without '.')", level)
  end
  local kinds = rawget(self, "_kinds")
  if kinds[name] == nil then
    -- a field or a method of that name would be shadowed (PyTorch: "attribute 'x' already exists")
    if rawget(self, name) ~= nil or getmetatable(self)[name] ~= nil then
      error("attribute '" .. name .. "' already exists", level)
    end
    table.insert(rawget(self, "_order"), name)
  elseif kinds[name] ~= kind then
    error(string.format("'%s' is already registered as a %s", name, kinds[name]), level)
  end
  kinds[name] = kind
  rawget(self, "_slots")[name] = value
  return value
end

-- forget a registered name entirely (self.child = nil)
function unregister(self, name)
  local order = rawget(self, "_order")
  for i = 1, #order do
    if order[i] == name then table.remove(order, i) break end
  end
  rawget(self, "_kinds")[name] = nil
  rawget(self, "_slots")[name] = nil
end

--- Register a parameter (a float32 tensor; made a leaf that requires grad).
function Module:register_parameter(name, t)
  if t ~= nil then
    if not ks.is_tensor(t) then error("register_parameter: tensor expected for '" .. tostring(name) .. "'", 2) end
    if not t.requires_grad and t:dtype() == "float32" then t:requires_grad_(true) end
  end
  return register(self, "param", name, t)
end

--- Register a buffer (state that is saved but not trained, e.g. running_mean).
function Module:register_buffer(name, t)
  if t ~= nil and not ks.is_tensor(t) then error("register_buffer: tensor expected for '" .. tostring(name) .. "'", 2) end
  return register(self, "buffer", name, t)
end

--- Register a child module (self.name = m does the same for a new name).
function Module:add_module(name, m)
  if m ~= nil and not is_module(m) then
    error("add_module: a module expected for '" .. tostring(name) .. "'", 2)
  end
  return register(self, "module", tostring(name), m)
end

local function each(self, kind)
  local order, kinds, slots, i = rawget(self, "_order"), rawget(self, "_kinds"), rawget(self, "_slots"), 0
  return function()
    while true do
      i = i + 1
      local name = order[i]
      if name == nil then return nil end
      if kinds[name] == kind and slots[name] ~= nil then return name, slots[name] end
    end
  end
end

--- Direct children: iterator of (name, module).
function Module:named_children() return each(self, "module") end

-- The lists below (children, named_modules, modules, named_parameters,
-- parameters, named_buffers, buffers) are plain Lua arrays (#, ipairs,
-- list[1]) that a generic for can also call directly, as PyTorch's
-- iterators: `for name, p in m:named_parameters() do` gives (name, tensor),
-- `for p in m:parameters() do` gives each tensor.
local hint = setmetatable({}, {__mode = "k"}) -- list -> position of the last element handed out

-- the position after the element whose key is ctrl (nil: the start)
local function next_pos(list, ctrl, key)
  if ctrl == nil then return 1 end
  local h = hint[list]
  if h and list[h] ~= nil and key(list[h]) == ctrl then return h + 1 end
  for i = 1, #list do if key(list[i]) == ctrl then return i + 1 end end
  return #list + 1
end

local function first(e) return e[1] end
local function self_key(e) return e end
local named_list_mt = {__call = function(list, _, ctrl)
  local i = next_pos(list, ctrl, first)
  local e = list[i]
  hint[list] = e and i or nil
  if e then return e[1], e[2] end
end}
local list_mt = {__call = function(list, _, ctrl)
  local i = next_pos(list, ctrl, self_key)
  local e = list[i]
  hint[list] = e and i or nil
  return e
end, __index = require("kshot.options").one_based("model:parameters() (and the other module lists)", "entry").__index}

function Module:children()
  local list = {}
  for _, m in self:named_children() do list[#list + 1] = m end
  return setmetatable(list, list_mt)
end

--- All modules in the tree (self first, depth first), as a list of {name, module}.
function Module:named_modules(prefix, out)
  out = out or {}
  prefix = prefix or ""
  out[#out + 1] = {prefix, self}
  for name, m in self:named_children() do
    m:named_modules(prefix == "" and name or (prefix .. "." .. name), out)
  end
  return setmetatable(out, named_list_mt)
end

function Module:modules()
  local list = {}
  for _, p in ipairs(self:named_modules()) do list[#list + 1] = p[2] end
  return setmetatable(list, list_mt)
end

local function collect(self, kind, recurse)
  local list, seen = {}, {}
  local mods = recurse == false and {{"", self}} or self:named_modules()
  for _, pm in ipairs(mods) do
    local prefix, m = pm[1], pm[2]
    for name, t in each(m, kind) do
      if not seen[t] then -- shared tensors are listed once, as PyTorch does
        seen[t] = true
        list[#list + 1] = {prefix == "" and name or (prefix .. "." .. name), t}
      end
    end
  end
  return setmetatable(list, named_list_mt)
end

--- List of {name, tensor} for every parameter, in registration order; a generic for also calls it
-- as torch's iterator: for name, p in m:named_parameters() do ... end (ipairs gives i, {name, p}).
function Module:named_parameters(recurse) return collect(self, "param", recurse) end
function Module:named_buffers(recurse) return collect(self, "buffer", recurse) end

function Module:parameters(recurse)
  local list = {}
  for _, p in ipairs(self:named_parameters(recurse)) do list[#list + 1] = p[2] end
  return setmetatable(list, list_mt)
end

function Module:buffers(recurse)
  local list = {}
  for _, p in ipairs(self:named_buffers(recurse)) do list[#list + 1] = p[2] end
  return setmetatable(list, list_mt)
end

--- Number of parameter elements (all, or only trainable ones).
function Module:num_parameters(trainable_only)
  local n = 0
  for _, p in ipairs(self:parameters()) do
    if not trainable_only or p.requires_grad then n = n + p:numel() end
  end
  return n
end

function Module:train(mode)
  if mode == nil then mode = true end
  for _, m in ipairs(self:modules()) do rawset(m, "training", mode and true or false) end
  return self
end

function Module:eval() return self:train(false) end

function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad = nil end
end

--- to(...), float(), cpu(): PyTorch code moves models with model.to(device) or
-- model.float(); kshot models are float32 on the CPU already, so these return
-- the module unchanged. Any other target (another dtype, "cuda") is an error,
-- as converting silently would not happen.
local same_target = {cpu = true, float32 = true, float = true}
function Module:to(...)
  local args = table.pack(...)
  for i = 1, args.n do
    local a = args[i]
    local opts = type(a) == "table" and a or nil
    local vals = opts and {opts.device, opts.dtype} or {a}
    for _, v in pairs(vals) do
      if not same_target[v] then
        error(string.format("%s:to: kshot modules are float32 on the CPU; cannot move to %s", self.__name,
          tostring(v)), 2)
      end
    end
  end
  return self
end
function Module:float() return self end
function Module:cpu() return self end

--- Freeze (false) or unfreeze (true) every parameter of this module.
function Module:requires_grad_(flag)
  if flag == nil then flag = true end
  for _, p in ipairs(self:parameters()) do p:requires_grad_(flag) end
  return self
end

--- m:clone() -> a deep copy of the module (Torch7's nn.Module:clone, PyTorch's copy.deepcopy(m)): the same
-- structure, options and train/eval mode with its own parameters and buffers (values, requires_grad and grads
-- copied), e.g. the best weights kept during early stopping, or an ensemble member started from one model.
-- Tensors the module shares (tied weights) stay shared in the copy. Functions and objects that are not modules
-- (a generator, an augment pipeline) are the same ones in both.
function Module:clone()
  local seen = {}
  local function copy(v)
    if seen[v] ~= nil then return seen[v] end
    local c
    if ks.is_tensor(v) then
      c = v:detach():clone()
      if v.requires_grad then c:requires_grad_(true) end
      if v.is_leaf and v.grad ~= nil then c.grad = v.grad:clone() end
    elseif type(v) == "table" and (is_module(v) or getmetatable(v) == nil) then
      c = {}
      seen[v] = c
      for k, x in next, v do rawset(c, copy(k), copy(x)) end
      return setmetatable(c, getmetatable(v))
    else
      return v
    end
    seen[v] = c
    return c
  end
  return copy(self)
end

--- Call fn(m) on every module (children first, as PyTorch), return self.
function Module:apply(fn)
  for _, m in self:named_children() do m:apply(fn) end
  fn(self)
  return self
end

--- name -> tensor for parameters and buffers (detached views sharing storage),
-- and as a second result the keys in PyTorch's order (per module: its
-- parameters, then its buffers; modules depth first).
function Module:state_dict()
  local sd, keys = {}, {}
  for _, pm in ipairs(self:named_modules()) do
    local prefix, m = pm[1], pm[2]
    for _, kind in ipairs({"param", "buffer"}) do
      for name, t in each(m, kind) do
        local key = prefix == "" and name or (prefix .. "." .. name)
        if sd[key] == nil then keys[#keys + 1] = key end
        sd[key] = t:detach()
      end
    end
  end
  return sd, keys
end

-- ks.load's second result: the file's metadata, string keys to string values
-- (never an options table, whose one key strict is a boolean)
local function is_file_metadata(t)
  if type(t) ~= "table" or t.strict ~= nil or next(t) == nil then return false end
  for k, v in pairs(t) do
    if type(k) ~= "string" or type(v) ~= "string" then return false end
  end
  return true
end

--- Copy tensors from sd into this module's parameters and buffers.
-- opts.strict (default true; also torch's positional m:load_state_dict(sd, false)):
-- missing or unexpected keys are an error; with strict = false they are skipped
-- and listed in the result. A shape mismatch is an error either way.
-- state_dict()'s key list as second argument is ignored, and so is ks.load's
-- metadata: m:load_state_dict(ks.load(path)) works, as
-- model.load_state_dict(torch.load(path)), whatever metadata the file holds.
-- Returns {missing_keys = {...}, unexpected_keys = {...}}.
function Module:load_state_dict(sd, opts)
  if type(sd) ~= "table" then error("load_state_dict: table of tensors expected, got " .. type(sd), 2) end
  -- m:load_state_dict(other:state_dict()) passes state_dict's second result, the key list, too: not options
  if type(opts) == "table" and #opts > 0 and type(opts[1]) == "string" and opts.strict == nil then opts = nil end
  if is_file_metadata(opts) then opts = nil end
  if type(opts) == "boolean" then opts = {strict = opts} end -- torch's positional load_state_dict(sd, False)
  opts = options.check(opts, {"strict"}, "load_state_dict", 2)
  local strict = opts.strict ~= false
  local own, missing, unexpected = {}, {}, {}
  for _, kind in ipairs({"param", "buffer"}) do
    for _, p in ipairs(collect(self, kind)) do own[p[1]] = p[2] end
  end
  for key, t in pairs(own) do
    local src = sd[key]
    if src == nil then
      missing[#missing + 1] = key
    else
      if not ks.is_tensor(src) then error("load_state_dict: entry '" .. key .. "' is not a tensor", 2) end
      local a, b = table.concat(src:shape(), ", "), table.concat(t:shape(), ", ")
      if a ~= b then
        error(string.format("load_state_dict: size mismatch for %s: copying a param with shape [%s] from checkpoint, "
          .. "the shape in current model is [%s]", key, a, b), 2)
      end
    end
  end
  for key in pairs(sd) do
    if type(key) == "string" and own[key] == nil then unexpected[#unexpected + 1] = key end
  end
  table.sort(missing)
  table.sort(unexpected)
  if strict and (#missing > 0 or #unexpected > 0) then
    local lines = {}
    if #missing > 0 then lines[#lines + 1] = "\n  missing keys: " .. table.concat(missing, ", ") end
    if #unexpected > 0 then lines[#lines + 1] = "\n  unexpected keys: " .. table.concat(unexpected, ", ") end
    error(string.format("load_state_dict: error(s) in loading state_dict for %s:%s", self.__name,
      table.concat(lines)), 2)
  end
  ks.no_grad(function()
    for key, t in pairs(own) do
      if sd[key] ~= nil then t:copy_(sd[key]) end
    end
  end)
  return {missing_keys = missing, unexpected_keys = unexpected}
end

--- One-line description of this module's own options (override in layers).
function Module:extra_repr() return "" end

function Module:__tostring()
  local lines = {}
  local children = {}
  for name, m in self:named_children() do children[#children + 1] = {name, m} end
  if #children == 0 then return self.__name .. "(" .. self:extra_repr() .. ")" end
  lines[1] = self.__name .. "("
  for _, nm in ipairs(children) do
    local s = tostring(nm[2]):gsub("\n", "\n  ")
    lines[#lines + 1] = "  (" .. nm[1] .. "): " .. s
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

require("kshot.options").guard_methods(Module, "nn.Module", "model", { "named_children", "children",
  "named_modules", "modules", "named_parameters", "named_buffers", "parameters", "buffers", "num_parameters",
  "train", "eval", "zero_grad", "to", "float", "cpu", "requires_grad_", "apply", "state_dict", "load_state_dict" })

return Module
