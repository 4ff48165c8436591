--- kshot.nn containers: Sequential and ModuleList (PyTorch's names; children are named "0", "1", ...).
local Module = require "kshot.nn.module"

local Sequential = Module:extend("Sequential")

--- Sequential(m1, m2, ...) or Sequential{m1, m2, ...}
function Sequential:__init(...)
  Module.__init(self)
  local n, mods = select("#", ...), {...}
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

--- 0-based access, like PyTorch: seq:get(0) is the first layer.
function Sequential:get(i) return self:children()[i + 1] end

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

function ModuleList:get(i) return self:children()[i + 1] end
function ModuleList:__len() return #self:children() end

function ModuleList:forward()
  error("ModuleList has no forward: iterate over its children", 2)
end

return {Sequential = Sequential, ModuleList = ModuleList}
