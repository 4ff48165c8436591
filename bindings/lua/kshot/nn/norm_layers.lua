--- kshot.nn normalisation, dropout and embedding layers (PyTorch's names, defaults and buffers).
local ks = require "kshot"
local Module = require "kshot.nn.module"
local init = require "kshot.nn.weight_init"
local options = require "kshot.nn.options"
local F = ks.functional

local L = {}

-- opts: nil or a table with only the given keys; numbers finite and within [lo, hi]; booleans boolean.
-- Errors are raised at the caller of the layer's constructor (check_opts <- __init <- Module __call).
local function check_opts(name, opts, spec)
  local keys = {}
  for k in pairs(spec) do keys[#keys + 1] = k end
  table.sort(keys)
  opts = options.check(opts, keys, name, 4)
  for k, v in pairs(opts) do
    local s = spec[k]
    if s[1] == "boolean" then
      if type(v) ~= "boolean" then error(string.format("%s: option '%s' must be a boolean, got %s", name, k, tostring(v)), 4) end
    elseif s[1] == "number" and not (v == false and s.or_false) then
      if type(v) ~= "number" or v ~= v or v < s[2] or v > s[3] then
        error(string.format("%s: option '%s' must be a number in [%s, %s]%s, got %s%s", name, k, tostring(s[2]),
          tostring(s[3]), s.or_false and " or false" or "", type(v) == "number" and "" or (type(v) .. " "),
          tostring(v)), 4)
      end
    end
  end
  return opts
end
local EPS = {"number", 0, math.huge}

local function batch_norm(name, dims)
  local cls = Module:extend(name)
  --- BatchNorm(num_features[, {eps=1e-5, momentum=0.1, affine=true, track_running_stats=true}])
  -- (or PyTorch's positional eps, momentum, affine, track_running_stats). momentum = false is torch's None:
  -- the running statistics are the cumulative average of every batch's (momentum 1/n at the n-th batch);
  -- nil cannot stand for None, as an absent option means the default 0.1.
  function cls:__init(num_features, ...)
    Module.__init(self)
    local opts = options.positional(name, {"eps", "momentum", "affine", "track_running_stats"}, ...)
    opts = check_opts(name, opts, {eps = EPS, momentum = {"number", 0, 1, or_false = true}, affine = {"boolean"},
      track_running_stats = {"boolean"}})
    if math.type(num_features) ~= "integer" or num_features < 1 then
      error(name .. "(num_features): a positive integer expected, got " .. tostring(num_features), 3)
    end
    if opts.eps == math.huge then error(name .. ": option 'eps' must be finite, got inf", 3) end
    self.num_features, self.eps = num_features, opts.eps or 1e-5
    if opts.momentum == nil then self.momentum = 0.1 else self.momentum = opts.momentum end
    self.affine, self.track_running_stats = opts.affine ~= false, opts.track_running_stats ~= false
    if self.affine then
      self:register_parameter("weight", ks.ones(num_features))
      self:register_parameter("bias", ks.zeros(num_features))
    end
    if self.track_running_stats then
      self:register_buffer("running_mean", ks.zeros(num_features))
      self:register_buffer("running_var", ks.ones(num_features))
      self:register_buffer("num_batches_tracked", ks.zeros({}, "int64"))
    end
  end
  function cls:forward(x)
    local nd = x:dim()
    if not dims[nd] then
      error(string.format("%s: expected %s input, got %dD", name, dims.text, nd), 2)
    end
    local training = self.training or not self.track_running_stats
    if self.training and self.track_running_stats then
      self.num_batches_tracked:add_(1)
    end
    local rm, rv = self.running_mean, self.running_var
    if not self.track_running_stats then rm, rv = nil, nil end
    local momentum = self.momentum
    if momentum == false then -- the cumulative average (torch's None); unused outside training with running stats
      momentum = rm and self.training and 1 / self.num_batches_tracked:item() or 0.0
    end
    return F.batch_norm(x, rm, rv, self.weight, self.bias, {training = training, momentum = momentum, eps = self.eps})
  end
  function cls:extra_repr()
    return string.format("%d, eps=%g, momentum=%s, affine=%s, track_running_stats=%s", self.num_features, self.eps,
      self.momentum == false and "None" or ("%g"):format(self.momentum), tostring(self.affine),
      tostring(self.track_running_stats))
  end
  return cls
end

L.BatchNorm1d = batch_norm("BatchNorm1d", {[2] = true, [3] = true, text = "2D or 3D"})
L.BatchNorm2d = batch_norm("BatchNorm2d", {[4] = true, text = "4D"})

-- The pass shared by nn.update_bn and regularize.update_bn. next_batch(b) returns the b-th (1-based)
-- batch or nil at the end; input(batch, b) gives its input tensor (or raises a clear error). With reset, the statistics are zeroed first (num_batches_tracked
-- then counts the batches). Transactional: on any error the batch-norm buffers, momenta and every
-- module's training flag are restored exactly; returns ok, err (err names fname and the batch).
function L._update_bn_pass(fname, model, next_batch, input, reset)
  local bns, momenta = {}, {}
  for _, m in ipairs(model:modules()) do
    if m.running_mean and m.track_running_stats then bns[#bns + 1], momenta[#bns + 1] = m, m.momentum end
  end
  if #bns == 0 then return true end
  local modes, saved = {}, {}
  for i, m in ipairs(model:modules()) do modes[i] = rawget(m, "training") end
  for i, m in ipairs(bns) do
    saved[i] = {m.running_mean:clone(), m.running_var:clone(), ks.is_tensor(m.num_batches_tracked) and m.num_batches_tracked:clone()}
  end
  model:train()
  local ok, err = pcall(ks.no_grad, function()
    if reset then
      for _, m in ipairs(bns) do
        m.running_mean:zero_()
        m.running_var:fill_(1)
        if ks.is_tensor(m.num_batches_tracked) then m.num_batches_tracked:zero_() end
      end
    end
    local b = 0
    while true do
      local okx, batch = pcall(next_batch, b + 1)
      if not okx then error(string.format("%s: the loader failed at batch %d: %s", fname, b + 1, tostring(batch)), 0) end
      if batch == nil then break end
      b = b + 1
      local x = input(batch, b)
      for _, m in ipairs(bns) do m.momentum = 1 / b end -- running = mean of the batch statistics so far
      local okf, e = pcall(model, x)
      if not okf then error(string.format("%s: batch %d: %s", fname, b, tostring(e)), 0) end
    end
    if b == 0 then error(fname .. ": the loader gave no batches (expected at least one)", 0) end
  end)
  for i, m in ipairs(bns) do m.momentum = momenta[i] end
  for i, m in ipairs(model:modules()) do rawset(m, "training", modes[i]) end
  if not ok then
    ks.no_grad(function()
      for i, m in ipairs(bns) do
        m.running_mean:copy_(saved[i][1])
        m.running_var:copy_(saved[i][2])
        if saved[i][3] then m.num_batches_tracked:copy_(saved[i][3]) end
      end
    end)
  end
  return ok, err
end

--- nn.update_bn(model, inputs): recompute the running statistics of every
-- batch-norm layer (with track_running_stats) in model from inputs, a tensor
-- or a list of tensors (batches), as PyTorch's
-- torch.optim.swa_utils.update_bn: each layer's running mean and variance
-- become the average over the batches of the batch statistics (momentum
-- 1/b at batch b). After training with augmentation or mixup, the running
-- statistics describe the last augmented batches; recomputed on clean
-- images they match what the model sees at test time. The model is run in
-- training mode without gradients; its mode and momenta are restored, and
-- on error its batch-norm buffers too (the model is left as it was).
-- Returns model.
function L.update_bn(model, inputs)
  if type(model) ~= "table" or type(model.modules) ~= "function" then
    error("nn.update_bn: argument 'model' must be an nn.Module, got " .. type(model), 2)
  end
  if ks.is_tensor(inputs) then inputs = {inputs} end
  if type(inputs) ~= "table" or #inputs == 0 then
    error("nn.update_bn: argument 'inputs' must be a tensor or a non-empty list of tensors, got " .. type(inputs), 2)
  end
  for i, x in ipairs(inputs) do
    if not ks.is_tensor(x) then error(("nn.update_bn: inputs[%d] must be a tensor, got %s"):format(i, type(x)), 2) end
  end
  local ok, err = L._update_bn_pass("nn.update_bn", model, function(b) return inputs[b] end,
    function(x) return x end, false)
  if not ok then error(err, 2) end
  return model
end

L.LayerNorm = Module:extend("LayerNorm")

--- LayerNorm(normalized_shape[, {eps=1e-5, elementwise_affine=true}])
function L.LayerNorm:__init(shape, ...)
  Module.__init(self)
  local opts = options.positional("LayerNorm", {"eps", "elementwise_affine"}, ...)
  opts = check_opts("LayerNorm", opts, {eps = EPS, elementwise_affine = {"boolean"}})
  self.normalized_shape = type(shape) == "table" and shape or {shape}
  if #self.normalized_shape == 0 then error("LayerNorm: normalized_shape must not be empty", 3) end
  for i, n in ipairs(self.normalized_shape) do
    if math.type(n) ~= "integer" or n < 1 then
      error(string.format("LayerNorm: normalized_shape[%d] must be a positive integer, got %s", i - 1, tostring(n)), 3)
    end
  end
  self.eps = opts.eps or 1e-5
  if self.eps == math.huge then error("LayerNorm: option 'eps' must be finite, got inf", 3) end
  if opts.elementwise_affine ~= false then
    self:register_parameter("weight", ks.ones(self.normalized_shape))
    self:register_parameter("bias", ks.zeros(self.normalized_shape))
  end
end

function L.LayerNorm:forward(x) return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps) end

function L.LayerNorm:extra_repr()
  return string.format("(%s), eps=%g, elementwise_affine=%s", table.concat(self.normalized_shape, ", "), self.eps,
    tostring(self.weight ~= nil))
end

L.Dropout = Module:extend("Dropout")

--- Dropout([p=0.5 | {p=0.5}]): active in train(), identity in eval()
function L.Dropout:__init(p)
  Module.__init(self)
  if type(p) == "table" then p = options.check(p, {"p", "inplace"}, "Dropout", 3).p end
  p = p or 0.5
  if type(p) ~= "number" or p < 0 or p > 1 then error("Dropout: p must be in [0, 1], got " .. tostring(p), 3) end
  self.p = p
end

function L.Dropout:forward(x) return F.dropout(x, self.p, self.training) end
function L.Dropout:extra_repr() return "p=" .. tostring(self.p) end

L.Embedding = Module:extend("Embedding")

--- Embedding(num_embeddings, embedding_dim[, {padding_idx=} | padding_idx]): weight ~ N(0, 1), padding row zero
function L.Embedding:__init(num, dim, ...)
  Module.__init(self)
  local opts = options.positional("Embedding", {"padding_idx", "max_norm", "norm_type", "scale_grad_by_freq", "sparse"}, ...)
  opts = check_opts("Embedding", opts, {padding_idx = {"index"}})
  if math.type(num) ~= "integer" or math.type(dim) ~= "integer" or num < 0 or dim < 0 then
    error(string.format("Embedding(num_embeddings, embedding_dim): two non-negative integers expected, got %s and %s",
      tostring(num), tostring(dim)), 3)
  end
  local pi = opts.padding_idx
  if pi ~= nil and (math.type(pi) ~= "integer" or pi < -num or pi >= num) then
    error(string.format("Embedding: padding_idx must be an integer in [%d, %d), got %s", -num, num, tostring(pi)), 3)
  end
  self.num_embeddings, self.embedding_dim, self.padding_idx = num, dim, opts.padding_idx
  self:register_parameter("weight", ks.empty(num, dim))
  init.normal_(self.weight, 0, 1)
  if self.padding_idx then ks.no_grad(function() self.weight[self.padding_idx]:zero_() end) end
end

function L.Embedding:forward(idx) return F.embedding(idx, self.weight, self.padding_idx) end
function L.Embedding:extra_repr() return string.format("%d, %d", self.num_embeddings, self.embedding_dim) end

return L
