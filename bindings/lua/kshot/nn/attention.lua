--- kshot.nn attention: scaled dot-product attention, MultiheadAttention and
-- TransformerEncoderLayer, with PyTorch's names, parameter layouts and mask
-- conventions (which differ between the two APIs, as in PyTorch):
--   F.scaled_dot_product_attention: a bool attn_mask is True where a query
--     may attend (takes part); a float mask is added to the scores.
--   MultiheadAttention / TransformerEncoderLayer: a bool attn_mask or
--     key_padding_mask is True where attention is NOT allowed; float added.
-- MultiheadAttention's parameters are PyTorch's, so state dicts load either
-- way: in_proj_weight [3E, E] when keys and values have embed_dim features
-- (kdim = vdim = E, the default), else q_proj_weight [E, E], k_proj_weight
-- [E, kdim] and v_proj_weight [E, vdim]; in_proj_bias [3E] and out_proj in both
-- cases. Each projection weight is xavier_uniform, the biases 0 (PyTorch's
-- _reset_parameters).
-- A query row whose every key is masked out by a bool mask gets zero
-- attention weights and a zero output (PyTorch >= 2.5's math backend;
-- PyTorch 1.13's MultiheadAttention returns NaN there).
--
-- Attention is composed from differentiable C ops (matmul, masked_fill,
-- softmax, dropout) rather than a fused kernel: each has a tested backward,
-- the two GEMMs dominate the cost, and the extra nodes cost well under a
-- microsecond each at the short sequence lengths of small-sample work.
-- kshot is batch-first: batch_first defaults to true (PyTorch: false).
-- F.scaled_dot_product_attention (= ks.functional's) exists once kshot.nn is loaded.
local ks = require "kshot"
local Module = require "kshot.nn.module"
local L = require "kshot.nn.layers"
local N = require "kshot.nn.norm_layers"
local init = require "kshot.nn.weight_init"
local options = require "kshot.nn.options"
local F = ks.functional

local A = {}

local shape_str = require("kshot.options").shape_str

-- Options tables: reject names the function does not know (a typo would be
-- silently ignored); known is a set, level counted from the caller.
local function check_opts(opts, known, fname, level)
  local names = {}
  for n in pairs(known) do names[#names + 1] = n end
  table.sort(names)
  options.check(opts, names, fname, level + 1)
end
local function check_bool(opts, k, fname, level)
  local v = opts[k]
  if v ~= nil and type(v) ~= "boolean" then
    error(string.format("%s: option %s must be a boolean, got %s", fname, k, type(v)), level + 1)
  end
end

local function check_float(t, what, fname)
  if not ks.is_tensor(t) then error(string.format("%s: %s must be a tensor, got %s", fname, what, type(t)), 4) end
  if t:dtype() ~= "float32" then
    error(string.format("%s: %s must be float32, got %s", fname, what, t:dtype()), 4)
  end
end

-- The attention of q [..., L, E] over k [..., S, E], v [..., S, Ev].
-- keep: bool (True = takes part) or nil; add: float mask or nil. Returns out, weights.
local function attend(q, k, v, keep, add, dropout_p, scale)
  local scores = ks.matmul(q * scale, k:transpose(-2, -1))
  local alive
  if keep then
    local row_ok = keep:any(-1, true)
    if not row_ok:all():item() then -- rows with no key: uniform softmax, then zeroed
      keep = keep:logical_or(row_ok:logical_not())
      alive = row_ok
    end
    scores = scores:masked_fill(keep:logical_not(), -math.huge)
  end
  if add then scores = scores + add end
  local attn = F.softmax(scores, -1)
  if alive then attn = attn:masked_fill(alive:logical_not(), 0) end
  if dropout_p > 0 then attn = F.dropout(attn, dropout_p, true) end
  return ks.matmul(attn, v), attn
end

local function check_mask(mask, scores_shape, fname, what)
  if not ks.is_tensor(mask) then error(string.format("%s: %s must be a tensor, got %s", fname, what, type(mask)), 4) end
  local dt = mask:dtype()
  if dt ~= "bool" and dt ~= "float32" then
    error(string.format("%s: %s must be bool or float32, got %s", fname, what, dt), 4)
  end
  local ms, n = mask:shape(), #scores_shape
  local ok = #ms <= n
  for i = 1, #ms do
    local a, b = ms[#ms - i + 1], scores_shape[n - i + 1]
    if a ~= 1 and a ~= b then ok = false end
  end
  if not ok then
    error(string.format("%s: %s of shape %s cannot be broadcast to the attention scores [%s]", fname, what,
      shape_str(mask), table.concat(scores_shape, ", ")), 4)
  end
  return dt == "bool"
end

--- scaled_dot_product_attention(query, key, value[, attn_mask][, {attn_mask=, dropout_p=0, is_causal=false, scale=}])
-- query [..., L, E], key [..., S, E], value [..., S, Ev] -> [..., L, Ev] (batch dims broadcast).
-- softmax(q k^T * scale + mask) v, scale = 1/sqrt(E) by default; dropout on the weights when dropout_p > 0.
local SDPA_OPTS = {attn_mask = true, dropout_p = true, is_causal = true, scale = true}
local function scaled_dot_product_attention(q, k, v, mask, opts)
  local fname = "scaled_dot_product_attention"
  if type(mask) == "table" and not ks.is_tensor(mask) then mask, opts = nil, mask end
  opts = opts or {}
  if type(opts) ~= "table" then error(fname .. ": options table expected, got " .. type(opts), 2) end
  check_opts(opts, SDPA_OPTS, fname, 2)
  check_bool(opts, "is_causal", fname, 2)
  mask = mask or opts.attn_mask
  check_float(q, "query", fname)
  check_float(k, "key", fname)
  check_float(v, "value", fname)
  local qs, kshape, vs = q:shape(), k:shape(), v:shape()
  if #qs < 2 or #kshape < 2 or #vs < 2 or qs[#qs] ~= kshape[#kshape] or kshape[#kshape - 1] ~= vs[#vs - 1] then
    error(string.format("%s: query %s, key %s and value %s do not fit [..., L, E], [..., S, E], [..., S, Ev]",
      fname, shape_str(q), shape_str(k), shape_str(v)), 2)
  end
  local p = opts.dropout_p or 0
  if type(p) ~= "number" or p < 0 or p > 1 then error(fname .. ": dropout_p must be in [0, 1], got " .. tostring(p), 2) end
  local scale = opts.scale or 1 / math.sqrt(qs[#qs])
  if type(scale) ~= "number" then error(fname .. ": scale must be a number, got " .. type(scale), 2) end
  local Lq, S = qs[#qs - 1], kshape[#kshape - 1]
  local keep, add
  if opts.is_causal then
    if mask then error(fname .. ": attn_mask must be nil when is_causal is true", 2) end
    keep = ks.ones(Lq, S, "bool"):tril()
  elseif mask ~= nil then
    local sshape = {}
    for i = 1, #qs - 1 do sshape[i] = qs[i] end
    sshape[#sshape + 1] = S
    if check_mask(mask, sshape, fname, "attn_mask") then keep = mask else add = mask end
  end
  return (attend(q, k, v, keep, add, p, scale))
end
-- ks.functional is the C table of torch.nn.functional's names; this op joins it once kshot.nn is loaded
F.scaled_dot_product_attention = scaled_dot_product_attention

-- ------------------------------------------------------------------ MultiheadAttention
A.MultiheadAttention = Module:extend("MultiheadAttention")

local MHA_OPTS = {dropout = true, bias = true, batch_first = true, kdim = true, vdim = true}
local MHA_CALL_OPTS = {attn_mask = true, key_padding_mask = true, need_weights = true, average_attn_weights = true}

--- MultiheadAttention(embed_dim, num_heads[, {dropout=0, bias=true, batch_first=true, kdim=embed_dim,
--   vdim=embed_dim}])  kdim / vdim: the features of keys / values
function A.MultiheadAttention:__init(embed_dim, num_heads, opts)
  Module.__init(self)
  opts = opts or {}
  if type(opts) ~= "table" then error("MultiheadAttention: options table expected, got " .. type(opts), 3) end
  if math.type(embed_dim) ~= "integer" or math.type(num_heads) ~= "integer" or embed_dim < 1 or num_heads < 1 then
    error("MultiheadAttention(embed_dim, num_heads): two positive integers expected", 3)
  end
  check_opts(opts, MHA_OPTS, "MultiheadAttention", 3)
  check_bool(opts, "bias", "MultiheadAttention", 3)
  check_bool(opts, "batch_first", "MultiheadAttention", 3)
  for _, k in ipairs({"kdim", "vdim"}) do
    local v = opts[k]
    if v ~= nil and (math.type(v) ~= "integer" or v < 1) then
      error(string.format("MultiheadAttention: option %s must be a positive integer, got %s", k,
        type(v) == "number" and tostring(v) or type(v)), 3)
    end
  end
  if embed_dim % num_heads ~= 0 then
    error(string.format("MultiheadAttention: embed_dim (%d) must be divisible by num_heads (%d)", embed_dim, num_heads), 3)
  end
  local p = opts.dropout or 0
  if type(p) ~= "number" or p < 0 or p > 1 then error("MultiheadAttention: dropout must be in [0, 1]", 3) end
  self.embed_dim, self.num_heads, self.head_dim, self.dropout = embed_dim, num_heads, embed_dim // num_heads, p
  self.batch_first = opts.batch_first ~= false
  self.kdim, self.vdim = opts.kdim or embed_dim, opts.vdim or embed_dim
  -- PyTorch's flag: one packed in_proj_weight, or three separate projections
  self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
  local bias = opts.bias ~= false
  local weights = self._qkv_same_embed_dim and {"in_proj_weight"} or {"q_proj_weight", "k_proj_weight", "v_proj_weight"}
  if self._qkv_same_embed_dim then
    self:register_parameter("in_proj_weight", ks.empty(3 * embed_dim, embed_dim))
  else
    self:register_parameter("q_proj_weight", ks.empty(embed_dim, embed_dim))
    self:register_parameter("k_proj_weight", ks.empty(embed_dim, self.kdim))
    self:register_parameter("v_proj_weight", ks.empty(embed_dim, self.vdim))
  end
  self:register_parameter("in_proj_bias", bias and ks.zeros(3 * embed_dim) or nil)
  self:add_module("out_proj", L.Linear(embed_dim, embed_dim, {bias = bias}))
  for _, name in ipairs(weights) do init.xavier_uniform_(self[name]) end -- PyTorch's _reset_parameters
  if bias then init.zeros_(self.out_proj.bias) end
end

function A.MultiheadAttention:extra_repr()
  local kv = self._qkv_same_embed_dim and "" or string.format(", kdim=%d, vdim=%d", self.kdim, self.vdim)
  return string.format("embed_dim=%d, num_heads=%d%s, dropout=%g, batch_first=%s", self.embed_dim, self.num_heads, kv,
    self.dropout, tostring(self.batch_first))
end

-- to [N, T, F] (batch first, batched; F = features, named by dim_name unless it is
-- embed_dim); returns the tensor and whether the input was batched
local function to_batch_first(self, x, what, features, dim_name)
  local fname = "MultiheadAttention"
  check_float(x, what, fname)
  local d = x:dim()
  if (d ~= 2 and d ~= 3) or x:size(-1) ~= features then
    local named = dim_name and string.format(" (%s = %d, embed_dim = %d)", dim_name, features, self.embed_dim) or ""
    error(string.format("%s: %s must be [N, T, %d]%s or unbatched [T, %d]%s, got %s", fname, what, features,
      self.batch_first and "" or " (time first: [T, N, E])", features, named, shape_str(x)), 4)
  end
  if d == 2 then return x:unsqueeze(0), false end
  if not self.batch_first then x = x:transpose(0, 1) end
  return x, true
end

-- PyTorch's masks (True = not allowed) -> one bool keep mask or one float additive mask over [N, H, L, S]
local function merge_masks(self, attn_mask, kpm, n, l, s)
  local fname, h = "MultiheadAttention", self.num_heads
  local parts = {}
  if attn_mask ~= nil then
    local sh = ks.is_tensor(attn_mask) and attn_mask:shape() or {}
    if (#sh ~= 2 and #sh ~= 3) or sh[#sh - 1] ~= l or sh[#sh] ~= s or (#sh == 3 and sh[1] ~= n * h) then
      if ks.is_tensor(attn_mask) then
        error(string.format("%s: attn_mask must be [L, S] = [%d, %d] or [N*num_heads, L, S] = [%d, %d, %d], got %s",
          fname, l, s, n * h, l, s, shape_str(attn_mask)), 3)
      end
    end
    check_mask(attn_mask, {n * h, l, s}, fname, "attn_mask")
    parts[#parts + 1] = attn_mask:dim() == 3 and attn_mask:reshape(n, h, l, s) or attn_mask
  end
  if kpm ~= nil then
    if ks.is_tensor(kpm) and (kpm:dim() ~= 2 or kpm:size(0) ~= n or kpm:size(1) ~= s) then
      error(string.format("%s: key_padding_mask must be [N, S] = [%d, %d], got %s", fname, n, s, shape_str(kpm)), 3)
    end
    check_mask(kpm, {n, s}, fname, "key_padding_mask")
    parts[#parts + 1] = kpm:reshape(n, 1, 1, s)
  end
  if #parts == 0 then return nil, nil end
  local all_bool = true
  for _, m in ipairs(parts) do all_bool = all_bool and m:dtype() == "bool" end
  if all_bool then
    local blocked = parts[1]
    if parts[2] then blocked = blocked:logical_or(parts[2]) end
    return blocked:logical_not(), nil
  end
  local add
  for _, m in ipairs(parts) do
    if m:dtype() == "bool" then m = ks.zeros(m:shape()):masked_fill(m, -math.huge) end
    add = add and (add + m) or m
  end
  return nil, add
end

--- mha(query, key, value[, {key_padding_mask=, attn_mask=, need_weights=true, average_attn_weights=true}])
-- -> output [N, L, E] (batch_first), weights [N, L, S] (averaged over heads) or [N, H, L, S], or nil.
function A.MultiheadAttention:forward(query, key, value, opts)
  key = key or query
  value = value or key
  opts = opts or {}
  if type(opts) ~= "table" then error("MultiheadAttention: options table expected, got " .. type(opts), 2) end
  check_opts(opts, MHA_CALL_OPTS, "MultiheadAttention", 2)
  check_bool(opts, "need_weights", "MultiheadAttention", 2)
  check_bool(opts, "average_attn_weights", "MultiheadAttention", 2)
  local packed = self._qkv_same_embed_dim
  local self_attn = packed and rawequal(query, key) and rawequal(key, value)
  local q, batched = to_batch_first(self, query, "query", self.embed_dim)
  local k = self_attn and q or to_batch_first(self, key, "key", self.kdim, not packed and "kdim" or nil)
  local v = self_attn and q or to_batch_first(self, value, "value", self.vdim, not packed and "vdim" or nil)
  local n, l, e, s = q:size(0), q:size(1), self.embed_dim, k:size(1)
  if k:size(0) ~= n or v:size(0) ~= n or v:size(1) ~= s then
    error(string.format("MultiheadAttention: query %s, key %s and value %s disagree on batch or source length",
      shape_str(query), shape_str(key), shape_str(value)), 2)
  end
  local w, b = self.in_proj_weight, self.in_proj_bias
  if self_attn then
    local qkv = F.linear(q, w, b)
    q, k, v = qkv:narrow(-1, 0, e), qkv:narrow(-1, e, e), qkv:narrow(-1, 2 * e, e)
  else
    local ws = packed and {w:narrow(0, 0, e), w:narrow(0, e, e), w:narrow(0, 2 * e, e)}
      or {self.q_proj_weight, self.k_proj_weight, self.v_proj_weight}
    local function proj(x, i) return F.linear(x, ws[i + 1], b and b:narrow(0, i * e, e)) end
    q, k, v = proj(q, 0), proj(k, 1), proj(v, 2)
  end
  local h, d = self.num_heads, self.head_dim
  q = q:reshape(n, l, h, d):transpose(1, 2)
  k = k:reshape(n, s, h, d):transpose(1, 2)
  v = v:reshape(n, s, h, d):transpose(1, 2)
  local keep, add = merge_masks(self, opts.attn_mask, opts.key_padding_mask, n, l, s)
  local p = self.training and self.dropout or 0
  local out, weights = attend(q, k, v, keep, add, p, 1 / math.sqrt(d))
  out = self.out_proj(out:transpose(1, 2):reshape(n, l, e))
  if not batched then
    out = out:squeeze(0)
  elseif not self.batch_first then
    out = out:transpose(0, 1)
  end
  if opts.need_weights == false then return out, nil end
  if opts.average_attn_weights ~= false then weights = weights:mean(1) end
  if not batched then weights = weights:squeeze(0) end
  return out, weights
end

-- ------------------------------------------------------------------ TransformerEncoderLayer
A.TransformerEncoderLayer = Module:extend("TransformerEncoderLayer")

local activations = {relu = F.relu, gelu = F.gelu}

--- TransformerEncoderLayer(d_model, nhead[, {dim_feedforward=2048, dropout=0.1, activation="relu",
--   layer_norm_eps=1e-5, batch_first=true, norm_first=false}])
local TEL_OPTS = {dim_feedforward = true, dropout = true, activation = true, layer_norm_eps = true,
  batch_first = true, norm_first = true}
function A.TransformerEncoderLayer:__init(d_model, nhead, opts)
  Module.__init(self)
  opts = opts or {}
  local fname = "TransformerEncoderLayer"
  if type(opts) ~= "table" then error(fname .. ": options table expected, got " .. type(opts), 3) end
  check_opts(opts, TEL_OPTS, fname, 3)
  check_bool(opts, "norm_first", fname, 3)
  check_bool(opts, "batch_first", fname, 3)
  local ff, p = opts.dim_feedforward or 2048, opts.dropout or 0.1
  if type(p) ~= "number" or p < 0 or p > 1 then error(fname .. ": dropout must be a number in [0, 1], got " .. tostring(p), 3) end
  local eps0 = opts.layer_norm_eps
  if eps0 ~= nil and (type(eps0) ~= "number" or eps0 <= 0) then
    error(fname .. ": layer_norm_eps must be a number > 0, got " .. tostring(eps0), 3)
  end
  if math.type(ff) ~= "integer" or ff < 1 then error("TransformerEncoderLayer: dim_feedforward must be a positive integer", 3) end
  local act = opts.activation or "relu"
  if type(act) == "string" then
    if not activations[act] then
      error("TransformerEncoderLayer: activation must be \"relu\", \"gelu\" or a function, got \"" .. act .. "\"", 3)
    end
    act = activations[act]
  elseif type(act) ~= "function" and not (type(act) == "table" and act.forward) then
    error("TransformerEncoderLayer: activation must be \"relu\", \"gelu\" or a function", 3)
  end
  self.norm_first = opts.norm_first and true or false
  local eps = opts.layer_norm_eps or 1e-5
  self:add_module("self_attn", A.MultiheadAttention(d_model, nhead, {dropout = p, batch_first = opts.batch_first}))
  self:add_module("linear1", L.Linear(d_model, ff))
  self:add_module("dropout", N.Dropout(p))
  self:add_module("linear2", L.Linear(ff, d_model))
  self:add_module("norm1", N.LayerNorm(d_model, {eps = eps}))
  self:add_module("norm2", N.LayerNorm(d_model, {eps = eps}))
  self:add_module("dropout1", N.Dropout(p))
  self:add_module("dropout2", N.Dropout(p))
  self.activation = act -- last, as PyTorch: a module activation is a child after dropout2
end

local TEL_CALL_OPTS = {src_mask = true, src_key_padding_mask = true}
--- layer(src[, {src_mask=, src_key_padding_mask=}]) or layer(src, src_mask, src_key_padding_mask)
function A.TransformerEncoderLayer:forward(src, mask, kpm)
  if type(mask) == "table" and not ks.is_tensor(mask) then
    check_opts(mask, TEL_CALL_OPTS, "TransformerEncoderLayer", 2)
    mask, kpm = mask.src_mask, mask.src_key_padding_mask
  end
  local attn_opts = {attn_mask = mask, key_padding_mask = kpm, need_weights = false}
  local function sa(x) return self.dropout1(self.self_attn(x, x, x, attn_opts)) end
  local function ffn(x) return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x))))) end
  local x = src
  if self.norm_first then
    x = x + sa(self.norm1(x))
    x = x + ffn(self.norm2(x))
  else
    x = self.norm1(x + sa(x))
    x = self.norm2(x + ffn(x))
  end
  return x
end

return A
