--- kshot.fewshot: few-shot transfer -- methods, the N-way K-shot protocol and
-- classifiers for new examples (protocol 2 of notes/small-sample-protocols.md).
--
--   local fewshot = require "kshot.fewshot"
--   local r = fewshot.evaluate{backbone = model, layer = "avgpool", method = "CL2N", way = 5, shot = 1,
--     query = 15, episodes = 600, classes = {5, 6, 7, 8, 9}, support_pool = {images = trx, labels = try},
--     query_pool = {images = tex, labels = tey}, base_pool = {images = trx, labels = try}, seed = 0}
--   print(r.mean, r.ci95)                       -- accuracy %, 95% half-width (see Results)
--   local c = fewshot.compare{..., methods = {"UN", "L2N", "CL2N", "logreg"}}  -- same episodes, paired
--   local clf = fewshot.fit{backbone = model, method = "logreg", images = x, labels = y}
--   clf:predict(x1); clf:predict_proba(xs); clf:save("probe.safetensors")
--   clf = fewshot.load("probe.safetensors", {backbone = model})
--
-- Backbones (kshot.fewshot.backbone): nil = raw pixels / 255 flattened; a
-- function(x) -> features; an nn.Module (features of layer=, default the
-- output, "avgpool" for a ResNet); options pool="avg", mean=, std=, transform=.
-- Which layer: a small backbone pretrained on a few base classes pools away
-- what the novel classes need. On Fashion-MNIST its "avgpool" features fell
-- 7-11 points below raw pixels, while the flattened third stage
-- (layer = "layer3:flat") gained 4-6 (results/transfer_fashion.md): compare
-- layers on base-class episodes before trusting the default.
-- Methods (kshot.fewshot.methods): "UN", "L2N", "CL2N" (nearest centroid),
-- "logreg" (linear probe, L-BFGS, inner CV of C), "cosine" (cosine
-- classifier on the frozen features, Baseline++), "bn" (batch-norm
-- re-estimation on the support set), "finetune" (whole network or last
-- blocks, smaller backbone LR, augmented support, fixed steps: choose them
-- with fewshot.tune on base-class episodes), "lora" (low-rank adapters on the
-- backbone's convolutions / linear layers, merged for inference; the
-- backbone's own tensors stay untouched).
-- Pools: {images = tensor [N, ...], labels = int64 [N]}. Queries come from
-- query_pool when given, else from support_pool (disjoint from the support).
-- Results: accuracy in percent; ci95 = 1.96 * sigma / sqrt(n) with the
-- POPULATION sigma (ddof = 0), as the few-shot literature, from 100 episodes
-- on; Student's t with the sample sd below (NaN for one episode).
local P = require "kshot.fewshot.protocol"
local Cl = require "kshot.fewshot.classifier"
local Bk = require "kshot.fewshot.backbone"
local Me = require "kshot.fewshot.methods"
local H = require "kshot.fewshot.heads"

local M = {}

--- evaluate{backbone=, method = spec, way = 5, shot = 1, query = 15, episodes = 600, classes=, support_pool=,
-- query_pool=, base_pool=, seed = 0, ...} -> {mean, ci95, sd, n, per_episode, sigma, method, solver}
-- One method on N-way K-shot episodes (kshot.fewshot.protocol); accuracies in percent.
M.evaluate = P.evaluate
--- compare{... methods = {spec, ...}} -> {order, results = {[label] = summary}, paired = {...}}
-- Several methods on the SAME episodes (paired); see help("fewshot.protocol.compare").
M.compare = function(o) return P.compare(o) end
--- tune{method = spec, grid = {option = {values}}, base_pool=, way=, shot=, episodes = 50, ...} -> best spec, comparison
-- Chooses options on episodes of the BASE classes only (see help("fewshot.protocol.tune")).
M.tune = P.tune
--- fit{backbone=, method=, images=, labels=, classes=, base_pool=, base_classes=, seed=} -> Classifier
-- A classifier for new examples outside episodes: clf:predict(x), clf:predict_proba(x), clf:save(path).
M.fit = Cl.fit
--- load(path[, {backbone = model}]) -> Classifier saved by clf:save(path)
M.load = Cl.load
M.methods = Me.NAMES
--- fewshot.maml: MAML (Finn et al. 2017), first- and second-order (kshot.fewshot.maml)
M.maml = require "kshot.fewshot.maml"

--- fewshot.backbone(model[, {layer=, pool=, mean=, std=, transform=, batch=}]) -> Backbone
-- (reuse one Backbone across calls so a shared cache= table finds its features).
function M.backbone(model, opts) return Bk.new(model, opts) end

--- fewshot.load_backbone(path[, {layers=, width=, mean=, std=}]) -> model, meta
-- An nn.resnet (eval mode) from a safetensors checkpoint with torchvision names;
-- meta.mean / meta.std: the input normalisation to pass to evaluate/fit.
M.load_backbone = Bk.load_resnet

--- fewshot.features(backbone, images[, opts]) -> float32 [N, D] (eval mode, no grad)
function M.features(backbone, images, opts)
  return Bk.new(backbone, opts):features(images)
end

--- The solver the linear probe uses here: "lbfgs" (kshot.optim.LBFGS) or "gd" (fallback).
function M.linear_probe_solver() return H.have_lbfgs() and "lbfgs" or "gd" end

return M
