--- kshot.nn containers: Sequential and ModuleList (PyTorch's names; children are named "0", "1", ...).
local Module = require "kshot.nn.module"

local Sequential = Module:extend("Sequential")

--- Sequential(m1, m2, ...) or Sequential{m1, m2, ...}
function Sequential:__init(...)
  Module.__init(self)
  local mods = {...}
  if #mods == 1 and type(mods[1]) == "table" and not mods[1].forward then mods = mods[1] end
  for i, m in ipairs(mods) do self:add_module(tostring(i - 1), m) end
end

function Sequential:forward(x)
  for _, m in self:named_children() do x = m(x) end
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
