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

-- The default augmentation of the support set: random crop with 2-pixel
-- padding + horizontal flip.
local function augmenter(aug, seed)
  if aug == nil or aug == true then
    local A = require "kshot.augment"
    return A.compose({A.random_crop {padding = 2}, A.random_horizontal_flip {p = 0.5}}, {seed = seed or 0})
  end
  return aug or nil
end

-- Train `params` (param groups for SGD) and a cosine head on (x, y) for a
-- fixed number of steps, the module in eval mode (BatchNorm uses its running
-- statistics: 5 images give no usable batch statistics). The head is
-- initialised at the class means of the normalised support features; params
-- = {{params = list, lr = ...}, ...}. Returns the head (a "linear" head on
-- L2-normalised features, usable by kshot.fewshot.heads).
local function train_cosine(bb, x, y, C, groups, opts, method)
  local optim = require "kshot.optim"
  local model = bb.model
  local trained = {} -- the backbone tensors (groups before the head's)
  for _, gr in ipairs(groups) do for _, p in ipairs(gr.params) do trained[#trained + 1] = p end end
  local lr, scale = opts.lr or 0.01, opts.scale or 10
  local aug = augmenter(opts.augment, opts.seed)
  local f0 = Bk.in_eval(model, function() return ks.no_grad(function() return bb:forward(x) end) end)
  local protos = H.class_means(f0 / ks.clamp(f0:norm(2, 1, true), 1e-12), y, C)
  local w = protos:clone():requires_grad_(true)
  groups[#groups + 1] = {params = {w}, lr = lr}
  local opt = optim.SGD(groups, {lr = lr, momentum = opts.momentum or 0.9, weight_decay = opts.weight_decay or 5e-4})
  local ce = {label_smoothing = opts.label_smoothing or 0}
  Bk.in_eval(model, function()
    for step = 1, opts.steps or 50 do
      local xb = aug and aug(x) or x
      local f = bb:forward(xb)
      local fn = f / ks.clamp(f:norm(2, 1, true), 1e-12)
      local wn = w / ks.clamp(w:norm(2, 1, true), 1e-12)
      local loss = F.cross_entropy(fn:matmul(wn:t()) * scale, y, ce)
      opt:zero_grad()
      loss:backward()
      if step == 1 then M.check_reached(trained, bb, method) end
      opt:step()
    end
  end)
  w = w:detach()
  local wn = w / ks.clamp(w:norm(2, 1, true), 1e-12)
  local head = {kind = "linear", normalize = true, weight = (wn:t() * scale):contiguous(), bias = ks.zeros(C)}
  head.weight_t = head.weight:t():contiguous()
  return head
end

--- Trained backbone tensors that get no gradient are not on the path from the
-- input to the features (a ResNet's fc behind layer "avgpool"): training them
-- would change nothing, so say so instead of silently giving the frozen result.
function M.check_reached(params, bb, method)
  if #params == 0 then return end
  for _, p in ipairs(params) do if p.grad ~= nil then return end end
  error(("fewshot: method %s: none of the %d trained tensors gets a gradient: they are not between the input "
    .. "and the features (layer '%s'; a ResNet's fc comes after avgpool). Train layers before it (finetune: "
    .. "train = {\"layer4\"}; lora: targets = {\"Conv2d\"} or module names)"):format(method or "finetune", #params,
    tostring(bb.layer or "the output")), 0)
end

-- Run fn with every parameter's requires_grad set by want(name), restoring the flags after.
local function with_trainable(model, want, fn)
  local flags = {}
  for _, p in ipairs(model:named_parameters()) do
    flags[#flags + 1] = {p[2], p[2].requires_grad}
    p[2]:requires_grad_(want(p[1]) == true)
  end
  local res = table.pack(pcall(fn))
  for _, fl in ipairs(flags) do fl[1]:requires_grad_(fl[2]) end
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

--- Fine-tuning for a fixed number of steps. opts: steps (50), lr (head, 0.01),
-- backbone_lr (lr * 0.1), momentum (0.9), weight_decay (5e-4), train ("all"
-- or sub-module names; a selection that gets no gradient, such as a ResNet's
-- fc behind layer "avgpool", is an error), scale (cosine head temperature, 10), label_smoothing
-- (0), augment (true: random crop with 2-pixel padding + horizontal flip;
-- false; or an augment pipeline), seed (augmentation stream).
-- The head is a cosine classifier (normalised features . normalised
-- weights * scale) initialised at the class means of the normalised support
-- features. BatchNorm layers stay in eval mode (5 images give no usable
-- batch statistics). Returns the head (a "linear" head on L2-normalised
-- features, usable by kshot.fewshot.heads) and the names of the trained tensors.
function M.finetune(bb, x, y, C, opts)
  need_module(bb, "finetune")
  local model = bb.model
  local train_names = trainable_names(model, opts.train or "all")
  local params = {}
  for _, p in ipairs(model:named_parameters()) do
    if train_names[p[1]] then params[#params + 1] = p[2] end
  end
  local lr = opts.lr or 0.01
  local head = with_trainable(model, function(name) return train_names[name] end, function()
    return train_cosine(bb, x, y, C, {{params = params, lr = opts.backbone_lr or lr * 0.1}}, opts, "finetune")
  end)
  return head, train_names
end

-- ------------------------------------------------------------ LoRA
-- Defaults chosen with fewshot.tune on BASE-class episodes (5-way 5-shot, 10
-- episodes, the PyTorch fixture backbone): lr 0.01 beat 0.05 (89.6-91.4% vs
-- 57.6-90.0%), no augmentation 91.4% vs 89.6% with it, at 20 steps.
M.LORA_DEFAULTS = {rank = 4, alpha = 8, steps = 20, lr = 0.01, augment = false, targets = {"Conv2d"}}

--- The LoRA training part: adapters injected into bb.model (left injected,
-- unmerged), trained with a cosine head; the wrapped layers' weights, biases
-- and every buffer are never written (they do not require grad during
-- training and BatchNorm runs in eval mode). Returns the head and the
-- injected layer names. Call nn.lora.unload(bb.model) after.
-- opts: rank (4), alpha (8), steps (20), lr (adapters and head, 0.01),
-- targets ({"Conv2d"}, or {"Linear"} for a network without convolutions:
-- layer types, module names or name prefixes), augment (false; true: random
-- crop + flip as finetune; or an augment pipeline), momentum, weight_decay,
-- scale, label_smoothing, seed (adapter init and augmentation).
function M.lora_train(bb, x, y, C, opts)
  need_module(bb, "lora")
  local nn = require "kshot.nn"
  local D = M.LORA_DEFAULTS
  local model = bb.model
  local targets = opts.targets
  if targets == nil then -- the convolutions; a network without any: its linear layers
    targets = {"Linear"}
    for _, m in ipairs(model:modules()) do if m.__name == "Conv2d" then targets = D.targets break end end
  end
  local names = nn.lora.inject(model, {r = opts.rank or D.rank, alpha = opts.alpha or D.alpha, targets = targets,
    generator = ks.Generator(opts.seed or 0)})
  local ok, head = pcall(function()
    if bb.hook_module then
      for _, nm in ipairs(nn.lora.layers(model)) do
        if nm[2]:base_layer() == bb.hook_module then
          error(("fewshot: method lora: the feature layer '%s' is a LoRA target; take features from another layer "
            .. "or leave it out of targets"):format(bb.layer), 0)
        end
      end
    end
    local o = {}
    for k, v in pairs(opts) do o[k] = v end
    o.lr, o.steps = opts.lr or D.lr, opts.steps or D.steps
    if o.augment == nil then o.augment = D.augment end
    local restore = nn.lora.mark_only_lora_as_trainable(model)
    local ok2, res = pcall(train_cosine, bb, x, y, C, {{params = nn.lora.parameters(model), lr = o.lr}}, o, "lora")
    restore()
    if not ok2 then error(res, 0) end
    return res
  end)
  if not ok then nn.lora.unload(model); error(head, 0) end
  return head, names
end

--- LoRA (low-rank adapters): lora_train, then the adapters merged into the
-- weights for inference: the module is left ADAPTED like finetune's (the
-- target layers' weights hold W + s B A; the caller restores them) and the
-- adapters are removed. Returns the head and the names of the changed tensors.
function M.lora(bb, x, y, C, opts)
  local nn = require "kshot.nn"
  local head = M.lora_train(bb, x, y, C, opts)
  local merged = nn.lora.merged_weights(bb.model)
  nn.lora.unload(bb.model)
  local sd = bb.model:state_dict()
  local changed = {}
  ks.no_grad(function()
    for k, w in pairs(merged) do sd[k]:copy_(w); changed[k] = true end
  end)
  return head, changed
end

return M
