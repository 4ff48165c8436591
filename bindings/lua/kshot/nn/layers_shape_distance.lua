--- kshot.nn.layers_shape_distance: small torch.nn modules found in ported scripts:
-- Unflatten, CosineSimilarity, PairwiseDistance (thin wrappers over
-- t:unflatten and F.cosine_similarity / F.pairwise_distance).
local ks = require "kshot"
local Module = require "kshot.nn.module"
local options = require "kshot.options"
local F = ks.functional

local L = {}

local function fmt(v) return math.type(v) == "float" and string.format("%g", v) or tostring(v) end

L.Unflatten = Module:extend("Unflatten")

--- Unflatten(dim, unflattened_size): x:unflatten(dim, unflattened_size), e.g.
-- nn.Unflatten(1, {1, 28, 28}) makes [N, 784] into [N, 1, 28, 28].
function L.Unflatten:__init(dim, sizes)
  Module.__init(self)
  if math.type(dim) ~= "integer" then error("Unflatten: argument 'dim' must be an integer, got " .. tostring(dim), 3) end
  if type(sizes) ~= "table" or #sizes == 0 then
    error("Unflatten: argument 'unflattened_size' must be a non-empty list of integers, got " .. type(sizes), 3)
  end
  self.dim, self.unflattened_size = dim, { table.unpack(sizes) }
end

function L.Unflatten:forward(x) return x:unflatten(self.dim, self.unflattened_size) end
function L.Unflatten:extra_repr()
  return string.format("dim=%d, unflattened_size=(%s)", self.dim, table.concat(self.unflattened_size, ", "))
end

L.CosineSimilarity = Module:extend("CosineSimilarity")

--- CosineSimilarity([dim = 1[, eps = 1e-8]]) (or {dim =, eps =}): F.cosine_similarity(x1, x2, ...).
function L.CosineSimilarity:__init(dim, eps)
  Module.__init(self)
  local opts = type(dim) == "table" and dim or { dim = dim, eps = eps }
  options.check(opts, "CosineSimilarity", { "dim", "eps" }, 3)
  self.dim, self.eps = opts.dim or 1, opts.eps or 1e-8
  if math.type(self.dim) ~= "integer" then error("CosineSimilarity: dim must be an integer, got " .. tostring(self.dim), 3) end
  if type(self.eps) ~= "number" then error("CosineSimilarity: eps must be a number, got " .. tostring(self.eps), 3) end
end

function L.CosineSimilarity:forward(x1, x2) return F.cosine_similarity(x1, x2, { dim = self.dim, eps = self.eps }) end
function L.CosineSimilarity:extra_repr() return string.format("dim=%d, eps=%s", self.dim, fmt(self.eps)) end

L.PairwiseDistance = Module:extend("PairwiseDistance")

--- PairwiseDistance([p = 2[, eps = 1e-6[, keepdim = false]]]) (or {p =, eps =, keepdim =}): F.pairwise_distance.
function L.PairwiseDistance:__init(p, eps, keepdim)
  Module.__init(self)
  local opts = type(p) == "table" and p or { p = p, eps = eps, keepdim = keepdim }
  options.check(opts, "PairwiseDistance", { "p", "eps", "keepdim" }, 3)
  self.norm, self.eps, self.keepdim = opts.p or 2, opts.eps or 1e-6, opts.keepdim or false
  if type(self.norm) ~= "number" then error("PairwiseDistance: p must be a number, got " .. tostring(self.norm), 3) end
  if type(self.eps) ~= "number" then error("PairwiseDistance: eps must be a number, got " .. tostring(self.eps), 3) end
end

function L.PairwiseDistance:forward(x1, x2)
  return F.pairwise_distance(x1, x2, { p = self.norm, eps = self.eps, keepdim = self.keepdim })
end
function L.PairwiseDistance:extra_repr() return string.format("p=%s, eps=%s", fmt(self.norm), fmt(self.eps)) end

return L
