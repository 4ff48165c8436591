--- kshot.nn: modules, containers, layers and builders, with PyTorch's names.
--   local nn = require "kshot.nn"
--   local model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
local ks = require "kshot"

local nn = {}
nn.Module = require "kshot.nn.module"
nn.functional = require "kshot.nn.functional" -- ks.functional, with its Lua half loaded
nn.init = require "kshot.nn.weight_init"
nn.functional_call = require "kshot.nn.functional_call" -- torch.func.functional_call (MAML's fast weights)
nn.utils = require "kshot.nn.utils" -- torch.nn.utils: clip_grad_norm_, parameters_to_vector, ...

for _, file in ipairs({"kshot.nn.containers", "kshot.nn.layers", "kshot.nn.norm_layers", "kshot.nn.losses",
    "kshot.nn.resnet", "kshot.nn.attention", "kshot.nn.layers_extra", "kshot.nn.recurrent", "kshot.nn.layers_shape_distance"}) do
  for name, cls in pairs(require(file)) do nn[name] = cls end
end
for name, fn in pairs(require "kshot.nn.models") do nn[name] = fn end
nn.lora = require "kshot.nn.lora" -- low-rank adapters: nn.lora.inject / merge / unload
nn.LoRALinear, nn.LoRAConv2d = nn.lora.LoRALinear, nn.lora.LoRAConv2d

return nn
