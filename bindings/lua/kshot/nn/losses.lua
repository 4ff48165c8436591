--- kshot.nn loss modules: thin wrappers over ks.functional with PyTorch's names and options.
local ks = require "kshot"
local Module = require "kshot.nn.module"
local options = require "kshot.nn.options"
local F = ks.functional

local L = {}

local function loss(name, fn, keys)
  local cls = Module:extend(name)
  function cls:__init(opts)
    Module.__init(self)
    self._opts = {}
    for k, v in pairs(options.check(opts, keys, name, 3)) do self._opts[k] = v end
  end
  function cls:forward(input, target) return fn(input, target, self._opts) end
  function cls:extra_repr()
    local parts = {}
    for k, v in pairs(self._opts) do parts[#parts + 1] = k .. "=" .. tostring(v) end
    table.sort(parts)
    return table.concat(parts, ", ")
  end
  return cls
end

local red = {"reduction"}
L.CrossEntropyLoss = loss("CrossEntropyLoss", F.cross_entropy, {"weight", "ignore_index", "reduction", "label_smoothing"})
L.NLLLoss = loss("NLLLoss", F.nll_loss, {"weight", "ignore_index", "reduction"})
L.MSELoss = loss("MSELoss", F.mse_loss, red)
L.L1Loss = loss("L1Loss", F.l1_loss, red)
L.SmoothL1Loss = loss("SmoothL1Loss", F.smooth_l1_loss, {"reduction", "beta"})
L.BCEWithLogitsLoss = loss("BCEWithLogitsLoss", F.binary_cross_entropy_with_logits, {"weight", "reduction", "pos_weight"})
L.KLDivLoss = loss("KLDivLoss", F.kl_div, {"reduction", "log_target"})

return L
