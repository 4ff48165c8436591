--- kshot.tensor_extra: installs the tensor functions written in Lua
-- (kshot.tensor_shape_extra, kshot.tensor_math_extra) as ks.<name> and as
-- tensor methods. luaopen_kshot calls it with the module once the module
-- exists (bindings/ks_lua_module.c), so `require "kshot"` has them all.
local PARTS = { "kshot.tensor_shape_extra", "kshot.tensor_math_extra" }

return function(ks)
  for _, name in ipairs(PARTS) do
    local part = require(name)
    part.install(ks)
    for _, f in ipairs(part.FUNCTIONS) do
      if rawget(ks, f) == nil then ks[f] = part[f] end
    end
    for _, f in ipairs(part.METHODS) do
      if rawget(ks.Tensor, f) == nil then ks.Tensor[f] = part[f] end
    end
  end
end
