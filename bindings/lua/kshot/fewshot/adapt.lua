--- kshot.fewshot.adapt: methods that change the backbone for one support set
-- (batch-norm re-estimation, fine-tuning). Each takes a Backbone (module
-- kind), prepared support images x [N, C, H, W] in [0, 1] and labels y
-- (0..C-1) and leaves the module ADAPTED; the caller snapshots the module
-- before and restores it after (kshot.fewshot.backbone snapshot/restore).
local ks = require "kshot"
local F = ks.functional
local Bk = require "kshot.fewshot.backbone"
local H = require "kshot.fewshot.heads"

local M = {}

local function need_module(bb, name)
  if bb.kind ~= "module" then
    error(("fewshot: method %s needs an nn.Module backbone (got %s)"):format(name, bb.kind == "pixels"
      and "raw pixels" or "a function"), 0)
  end
end

--- BN re-estimation: every BatchNorm layer's running statistics become those
-- of the support set (one forward in train mode, momentum 1).
function M.bn(bb, x)
  need_module(bb, "bn")
  Bk.reestimate_bn(bb, x)
  return "running_mean", "running_var" -- names of the changed buffers
end

-- Names of the parameters that train: "all", or a list of sub-module names
-- (e.g. {"layer4"}: the last block; its parameters are those under "layer4.").
local function trainable_names(model, train)
  local names, count = {}, 0
  for _, p in ipairs(model:named_parameters()) do
    local name = p[1]
    local take = train == "all"
    if type(train) == "table" then
      for _, prefix in ipairs(train) do
        if name == prefix or name:sub(1, #prefix + 1) == prefix .. "." then take = true end
      end
    end
    if take then names[name], count = true, count + 1 end
  end
  if count == 0 then
    error("fewshot: method finetune: train = " .. (type(train) == "table" and ("{" .. table.concat(train, ", ") .. "}")
      or tostring(train)) .. " selects no parameter of the backbone", 0)
  end
  return names
end
M.trainable_names = trainable_names

--- Fine-tuning for a fixed number of steps. opts: steps (50), lr (head, 0.01),
-- backbone_lr (lr * 0.1), momentum (0.9), weight_decay (5e-4), train ("all"
-- or sub-module names), scale (cosine head temperature, 10), label_smoothing
-- (0), augment (true: random crop with 2-pixel padding + horizontal flip;
-- false; or an augment pipeline), seed (augmentation stream).
-- The head is a cosine classifier (normalised features . normalised
-- weights * scale) initialised at the class means of the normalised support
-- features. BatchNorm layers stay in eval mode (5 images give no usable
-- batch statistics). Returns the head (a "linear" head on L2-normalised
-- features, usable by kshot.fewshot.heads) and the names of the trained tensors.
function M.finetune(bb, x, y, C, opts)
  need_module(bb, "finetune")
  local optim = require "kshot.optim"
  local A = require "kshot.augment"
  local model = bb.model
  local train_names = trainable_names(model, opts.train or "all")
  local flags, params = {}, {}
  for _, p in ipairs(model:named_parameters()) do
    flags[#flags + 1] = {p[2], p[2].requires_grad}
    p[2]:requires_grad_(train_names[p[1]] == true)
    if train_names[p[1]] then params[#params + 1] = p[2] end
  end
  local lr = opts.lr or 0.01
  local scale = opts.scale or 10
  local aug = opts.augment
  if aug == nil or aug == true then
    aug = A.compose({A.random_crop {padding = 2}, A.random_horizontal_flip {p = 0.5}}, {seed = opts.seed or 0})
  end
  local ok, err = pcall(function()
    local f0 = Bk.in_eval(model, function() return ks.no_grad(function() return bb:forward(x) end) end)
    local protos = H.class_means(f0 / ks.clamp(f0:norm(2, 1, true), 1e-12), y, C)
    local w = protos:clone():requires_grad_(true)
    local opt = optim.SGD({{params = params, lr = opts.backbone_lr or lr * 0.1}, {params = {w}, lr = lr}},
      {lr = lr, momentum = opts.momentum or 0.9, weight_decay = opts.weight_decay or 5e-4})
    local ce = {label_smoothing = opts.label_smoothing or 0}
    Bk.in_eval(model, function()
      for _ = 1, opts.steps or 50 do
        local xb = aug and aug(x) or x
        local f = bb:forward(xb)
        local fn = f / ks.clamp(f:norm(2, 1, true), 1e-12)
        local wn = w / ks.clamp(w:norm(2, 1, true), 1e-12)
        local loss = F.cross_entropy(fn:matmul(wn:t()) * scale, y, ce)
        opt:zero_grad()
        loss:backward()
        opt:step()
      end
    end)
    return w
  end)
  for _, fl in ipairs(flags) do fl[1]:requires_grad_(fl[2]) end
  if not ok then error(err, 0) end
  local w = err:detach()
  local wn = w / ks.clamp(w:norm(2, 1, true), 1e-12)
  local head = {kind = "linear", normalize = true, weight = (wn:t() * scale):contiguous(), bias = ks.zeros(C)}
  head.weight_t = head.weight:t():contiguous()
  return head, train_names
end

return M
