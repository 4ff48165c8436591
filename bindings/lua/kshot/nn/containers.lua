--- kshot.nn containers (PyTorch's names and semantics):
--   Sequential(m1, m2, ...)   children "0", "1", ...; forward chains them
--   ModuleList{m1, m2, ...}   children "0", "1", ...; no forward
--   ModuleDict{{"conv", m1}, {"act", m2}} or ModuleDict{conv = m1, act = m2}
--                             string keys in insertion order (a map's keys sorted)
-- Sequential and ModuleList index from 0 as PyTorch: seq[0] is the first
-- layer, seq[-1] the last (out of range is an error); seq[i] = m replaces
-- one; #seq is the length. A ModuleDict reads md.conv or md["conv"].
local Module = require "kshot.nn.module"

local Sequential = Module:extend("Sequential")

-- Sequential{{"conv", m1}, {"act", m2}}: named children in that order (torch's
-- Sequential(OrderedDict(...))); true when the list was of that form
local function named_pairs(self, list)
  local first = list[1]
  if type(first) ~= "table" or first.forward or type(first[1]) ~= "string" then return false end
  for i, pair in ipairs(list) do
    if type(pair) ~= "table" or type(pair[1]) ~= "string" or type(pair[2]) ~= "table" or type(pair[2].forward) ~= "function" then
      error(string.format("Sequential{{name, module}, ...}: entry %d must be {name, module}", i), 4)
    end
    if rawget(self, "_slots")[pair[1]] ~= nil then
      error(string.format("Sequential{{name, module}, ...}: name '%s' is given twice", pair[1]), 4)
    end
    self:add_module(pair[1], pair[2])
  end
  return true
end

--- Sequential(m1, m2, ...) or Sequential{m1, m2, ...}, or with names
-- Sequential{{"conv", m1}, {"act", m2}} (torch's Sequential(OrderedDict(...)): seq.conv, seq[0])
function Sequential:__init(...)
  Module.__init(self)
  local n, mods = select("#", ...), {...}
  if n == 1 and type(mods[1]) == "table" and not mods[1].forward and named_pairs(self, mods[1]) then return end
  if n == 1 and type(mods[1]) == "table" and not mods[1].forward then
    mods, n = mods[1], 0
    for k in pairs(mods) do
      if math.type(k) ~= "integer" or k < 1 then
        error("Sequential{...}: the list must hold only modules at positions 1, 2, ..., got a key " .. tostring(k), 3)
      end
      if k > n then n = k end
    end
  end
  for i = 1, n do
    local m = mods[i]
    if type(m) ~= "table" or type(m.forward) ~= "function" then
      error(string.format("Sequential: argument %d must be a module, got %s", i, m == nil and "nil" or type(m)), 3)
    end
  end
  for i = 1, n do self:add_module(tostring(i - 1), mods[i]) end
end

-- Walks the registry directly (no iterator closure per call: this runs every step).
function Sequential:forward(x)
  local order, kinds, slots = rawget(self, "_order"), rawget(self, "_kinds"), rawget(self, "_slots")
  for i = 1, #order do
    local name = order[i]
    local m = slots[name]
    if m ~= nil and kinds[name] == "module" then x = m(x) end
  end
  return x
end

function Sequential:__len() return #self:children() end

-- seq[i] / seq:get(i), 0-based, negative from the end; out of range is an error at the caller's line
local function at(self, i, level)
  local list = self:children()
  local n = #list
  local j = (math.type(i) == "integer" and i < 0) and i + n or i
  if math.type(j) ~= "integer" or j < 0 or j >= n then
    error(string.format("%s: index %s is out of range for length %d (indices are 0-based: 0 to %d, or -%d to -1; "
      .. "loop with for i = 0, #m - 1 or ipairs(m:children()))", self.__name, tostring(i), n, n - 1, n), level + 1)
  end
  return list[j + 1], j
end

-- seq[i] = m replaces child i, keeping its name (m must be a module)
local function set_at(self, i, m)
  local _, j = at(self, i, 3)
  if type(m) ~= "table" or rawget(m, "_slots") == nil then
    error(string.format("%s: seq[%d] = value needs a module, got %s", self.__name, i, type(m)), 3)
  end
  local names = {}
  for name in self:named_children() do names[#names + 1] = name end
  rawget(self, "_slots")[names[j + 1]] = m
end

Sequential._at = function(self, i) return (at(self, i, 3)) end
Sequential._set_at = set_at

--- 0-based access, like PyTorch: seq:get(0) is the first layer (also seq[0]).
function Sequential:get(i) return (at(self, i, 2)) end

function Sequential:append(m)
  self:add_module(tostring(#self:children()), m)
  return self
end

local ModuleList = Module:extend("ModuleList")

function ModuleList:__init(mods)
  Module.__init(self)
  for i, m in ipairs(mods or {}) do self:add_module(tostring(i - 1), m) end
end

function ModuleList:append(m)
  self:add_module(tostring(#self:children()), m)
  return self
end

function ModuleList:get(i) return (at(self, i, 2)) end
function ModuleList:__len() return #self:children() end
ModuleList._at = Sequential._at
ModuleList._set_at = set_at

function ModuleList:forward()
  error("ModuleList has no forward: iterate over its children", 2)
end

-- ------------------------------------------------------------------ ModuleDict
local ModuleDict = Module:extend("ModuleDict")

local function check_key(self, key, level)
  if type(key) ~= "string" then
    error(string.format("ModuleDict: keys must be strings, got %s", type(key)), level + 1)
  end
  if key == "" or key:find(".", 1, true) then
    error(string.format("ModuleDict: bad key '%s' (non-empty string without '.')", key), level + 1)
  end
  if ModuleDict[key] ~= nil or (rawget(self, key) ~= nil) then
    error(string.format("ModuleDict: key '%s' is reserved (a ModuleDict method or field)", key), level + 1)
  end
end

local function entries(modules, level)
  if type(modules) ~= "table" or rawget(modules, "_slots") then
    error("ModuleDict: a list of {key, module} pairs or a table key -> module expected, got "
      .. (type(modules) == "table" and "a module" or type(modules)), level + 1)
  end
  local list = {}
  if #modules > 0 then
    for k in pairs(modules) do
      if math.type(k) ~= "integer" then
        error("ModuleDict: give either a list of {key, module} pairs or a map, not both (key '"
          .. tostring(k) .. "')", level + 1)
      end
    end
    for i, kv in ipairs(modules) do
      if type(kv) ~= "table" or rawget(kv, "_slots") or kv[1] == nil then
        error(string.format("ModuleDict: entry %d must be a {key, module} pair", i), level + 1)
      end
      list[#list + 1] = {kv[1], kv[2]}
    end
  else
    local keys = {}
    for k in pairs(modules) do
      if type(k) ~= "string" then error("ModuleDict: keys must be strings, got " .. type(k), level + 1) end
      keys[#keys + 1] = k
    end
    table.sort(keys) -- a Lua map has no order: sorted, so the state_dict keys are reproducible
    for _, k in ipairs(keys) do list[#list + 1] = {k, modules[k]} end
  end
  return list
end

-- level: error()'s level seen from do_update's caller
local function do_update(self, modules, level)
  for _, kv in ipairs(entries(modules, level + 1)) do
    check_key(self, kv[1], level + 1)
    if type(kv[2]) ~= "table" or rawget(kv[2], "_slots") == nil then
      error(string.format("ModuleDict: entry '%s' must be a module, got %s", kv[1], type(kv[2])), level + 1)
    end
    self:add_module(kv[1], kv[2])
  end
  return self
end

--- ModuleDict([modules]): modules a list of {key, module} pairs (kept in
-- that order) or a map key -> module (sorted by key).
function ModuleDict:__init(modules)
  Module.__init(self)
  if modules ~= nil then do_update(self, modules, 3) end
end

--- Add or replace entries (new keys go last, replaced ones keep their place).
function ModuleDict:update(modules) return do_update(self, modules, 2) end

function ModuleDict:keys()
  local list = {}
  for k in self:named_children() do list[#list + 1] = k end
  return list
end

function ModuleDict:values() return self:children() end

--- List of {key, module} in insertion order.
function ModuleDict:items()
  local list = {}
  for k, m in self:named_children() do list[#list + 1] = {k, m} end
  return list
end

--- True when key is present (PyTorch's `key in md`).
function ModuleDict:contains(key) return type(key) == "string" and rawget(self, "_kinds")[key] == "module" end

--- Remove key and return its module (an error when absent, as PyTorch's KeyError).
function ModuleDict:pop(key)
  if not self:contains(key) then error("ModuleDict: no key '" .. tostring(key) .. "'", 2) end
  local m = rawget(self, "_slots")[key]
  self[key] = nil
  return m
end

function ModuleDict:clear()
  for _, k in ipairs(self:keys()) do self[k] = nil end
  return self
end

function ModuleDict:__len() return #self:children() end
--- for key, module in pairs(md): insertion order
function ModuleDict:__pairs() return self:named_children() end

function ModuleDict:forward()
  error("ModuleDict has no forward: index it by key", 2)
end

return {Sequential = Sequential, ModuleList = ModuleList, ModuleDict = ModuleDict}
