--- kshot.nn loss modules: thin wrappers over ks.functional with PyTorch's names and options.
local ks = require "kshot"
local Module = require "kshot.nn.module"
local options = require "kshot.nn.options"
local F = ks.functional

local L = {}

-- order: PyTorch's positional constructor arguments (nn.TripletMarginLoss(0.5, 1)); ninputs: forward's tensors
local function loss(name, fn, keys, order, ninputs)
  local cls = Module:extend(name)
  function cls:__init(...)
    Module.__init(self)
    local opts = ...
    if order then opts = options.positional(name, order, ...) end
    self._opts = {}
    for k, v in pairs(options.check(opts, keys, name, 3)) do self._opts[k] = v end
  end
  if ninputs == 3 then
    function cls:forward(a, b, c) return fn(a, b, c, self._opts) end
  else
    function cls:forward(input, target) return fn(input, target, self._opts) end
  end
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

-- the Lua-composed losses (functional.lua, losses_extra.lua); positional order as torch's (size_average/reduce are not supported)
L.MarginRankingLoss = loss("MarginRankingLoss", F.margin_ranking_loss, {"margin", "reduction"}, {"margin"}, 3)
L.HingeEmbeddingLoss = loss("HingeEmbeddingLoss", F.hinge_embedding_loss, {"margin", "reduction"}, {"margin"})
L.CosineEmbeddingLoss = loss("CosineEmbeddingLoss", F.cosine_embedding_loss, {"margin", "reduction"}, {"margin"}, 3)
L.TripletMarginLoss = loss("TripletMarginLoss", F.triplet_margin_loss, {"margin", "p", "eps", "swap", "reduction"},
  {"margin", "p", "eps", "swap"}, 3)
L.MultiMarginLoss = loss("MultiMarginLoss", F.multi_margin_loss, {"p", "margin", "weight", "reduction"},
  {"p", "margin", "weight"})
L.PoissonNLLLoss = loss("PoissonNLLLoss", F.poisson_nll_loss, {"log_input", "full", "eps", "reduction"},
  {"log_input", "full", "size_average", "eps"})
L.SoftMarginLoss = loss("SoftMarginLoss", F.soft_margin_loss, red, {})
L.BCELoss = loss("BCELoss", F.binary_cross_entropy, {"weight", "reduction"}, {"weight"})
L.HuberLoss = loss("HuberLoss", F.huber_loss, {"reduction", "delta"}, {"reduction", "delta"})
L.MultiLabelSoftMarginLoss = loss("MultiLabelSoftMarginLoss", F.multilabel_soft_margin_loss, {"weight", "reduction"},
  {"weight"})

return L
