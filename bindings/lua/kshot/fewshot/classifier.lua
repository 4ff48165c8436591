--- kshot.fewshot.classifier: fewshot.fit -> a classifier for new examples,
-- outside episodes; save / load as safetensors.
--
-- Predictions run the backbone on ONE image at a time and score each feature
-- row with arithmetic that depends on that row only (heads.scores_row), so a
-- batch's predictions are bit-identical to predicting its images one by one.
-- An adapted backbone (bn, finetune, lora: its merged weights) is stored as the changed tensors and
-- swapped into the module only for the duration of a prediction.
local ks = require "kshot"
local options = require "kshot.options"
local F = ks.functional
local Bk = require "kshot.fewshot.backbone"
local H = require "kshot.fewshot.heads"
local Me = require "kshot.fewshot.methods"
local adapt = require "kshot.fewshot.adapt"
local P = require "kshot.fewshot.protocol"

local C = {}
local Classifier = {__name = "kshot.fewshot.Classifier"}
Classifier.__index = Classifier
C.Classifier = Classifier

local FORMAT = "kshot.fewshot/1"
local function fail(fmt, ...) options.raise(string.format(fmt, ...)) end

-- Labels -> 0..C-1 and the class list; every class must have an example.
local function map_labels(y, classes, where)
  local counts = {}
  for _, v in ipairs(y:totable()) do counts[v] = (counts[v] or 0) + 1 end
  if classes == nil then
    local maxc = -1
    for c in pairs(counts) do
      if c < 0 then fail("%s: label %d is negative", where, c) end
      if c > maxc then maxc = c end
    end
    classes = {}
    for c = 0, maxc do
      if not counts[c] then
        fail("%s: class %d has no example (labels must cover 0..%d; or pass classes= to list the classes)", where, c,
          maxc)
      end
      classes[#classes + 1] = c
    end
  else
    P.class_list(classes, where)
    local listed = {}
    for _, c in ipairs(classes) do listed[c] = true end
    for c in pairs(counts) do
      if not listed[c] then fail("%s: label %d is not in classes", where, c) end
    end
    for _, c in ipairs(classes) do
      if not counts[c] then fail("%s: class %d has no example in labels (the support set misses it)", where, c) end
    end
  end
  if #classes < 2 then fail("%s: at least 2 classes are needed, got %d", where, #classes) end
  local lut = {}
  for i, c in ipairs(classes) do lut[c] = i - 1 end
  local mapped = {}
  for i, v in ipairs(y:totable()) do mapped[i] = lut[v] end
  return ks.tensor(mapped, "int64"), classes
end

local KNOWN = {backbone = true, layer = true, pool = true, mean = true, std = true, transform = true, batch = true,
  method = true, images = true, labels = true, classes = true, base_pool = true, base_classes = true, seed = true}

--- fit{backbone=, method=, images=, labels=, classes=, base_pool=, base_classes=, seed=} -> Classifier
function C.fit(o)
  local where = "fewshot.fit"
  if type(o) ~= "table" then fail("%s: options table expected, got %s", where, type(o)) end
  for k in pairs(o) do if not KNOWN[k] then fail("%s", options.message(where, k, KNOWN)) end end
  if o.method == nil then fail("%s: method= is required", where) end
  local images, labels = P.pool({images = o.images, labels = o.labels}, nil, where)
  local m = Me.parse(o.method, where)
  local y, classes = map_labels(labels, o.classes, where)
  local bb = P.make_backbone(o)
  if not m.frozen and bb.kind ~= "module" then
    fail("%s: method %s needs an nn.Module backbone (got %s)", where, m.label, bb.kind == "pixels" and "raw pixels"
      or "a function")
  end
  if m.needs_base and o.base_pool == nil then
    fail("%s: method %s needs base_pool= for its centring mean", where, m.label)
  end
  if o.base_pool == nil and o.base_classes ~= nil then fail("%s: base_classes= needs base_pool=", where) end
  -- the same checks as evaluate (overlap with the classes, classes missing from the pool)
  local base = o.base_pool ~= nil and P.base_setup(o.base_pool, o.base_classes, classes, where) or nil
  local mean_fn = function() return P.base_mean(bb, base, nil, where) end
  local self = setmetatable({backbone = bb, method = m, classes = classes, input_shape = images:shape()}, Classifier)
  table.remove(self.input_shape, 1)
  if m.frozen then
    self.head = Me.fit_head(m, bb:features(images), y, #classes, mean_fn)
  else
    local changed
    local snap = Bk.snapshot(bb.model)
    local ok, err = pcall(function()
      local x = bb:prepare(images)
      if m.name == "bn" then
        adapt.bn(bb, x)
        changed = {}
        for k in pairs(bb.model:state_dict()) do
          if k:match("running_mean$") or k:match("running_var$") then changed[k] = true end
        end
        self.head = Me.fit_head(m, bb:features(images), y, #classes, mean_fn)
      else
        local opts = {}
        for k, v in pairs(m.opts) do opts[k] = v end
        opts.seed = o.seed or 0
        self.head, changed = (m.name == "lora" and adapt.lora or adapt.finetune)(bb, x, y, #classes, opts)
      end
      self.adapted = Bk.snapshot(bb.model, changed)
    end)
    Bk.restore(bb.model, snap)
    if not ok then error(err, 0) end
  end
  self.head.weight_t = self.head.weight and self.head.weight:t():contiguous() or nil
  self.feature_dim = (self.head.protos or self.head.weight_t):size(1)
  return self
end

-- Run fn with the adapted tensors in the module (restored after, also on error).
function Classifier:_with_backbone(fn)
  if not self.adapted then return fn() end
  local model = self.backbone.model
  local names = {}
  for k in pairs(self.adapted) do names[k] = true end
  local snap = Bk.snapshot(model, names)
  Bk.restore(model, self.adapted)
  local res = table.pack(pcall(fn))
  Bk.restore(model, snap)
  if not res[1] then error(res[2], 0) end
  return table.unpack(res, 2, res.n)
end

-- clf.predict(x) (a dot instead of a colon) passes the images as self.
local function check_self(self, name)
  if getmetatable(self) ~= Classifier then
    fail("%s: called on a %s, not a classifier (use clf:%s(x), with a colon)", name,
      ks.is_tensor(self) and "tensor" or type(self), name)
  end
end

-- Scores [N, C] of a batch (one image per forward, one row per scoring).
function Classifier:_scores(x, where)
  if not ks.is_tensor(x) then fail("%s: images must be a tensor, got %s", where, type(x)) end
  local nd, single = #self.input_shape, false
  if x:dim() == nd then
    x, single = x:unsqueeze(0), true
  elseif x:dim() ~= nd + 1 then
    fail("%s: expected one image [%s] or a batch [N, %s], got [%s]", where, table.concat(self.input_shape, ", "),
      table.concat(self.input_shape, ", "), table.concat(x:shape(), ", "))
  end
  for i, s in ipairs(self.input_shape) do
    if x:size(i) ~= s then
      fail("%s: expected images [%s] (as in fit), got [%s]", where, table.concat(self.input_shape, ", "),
        table.concat(x:shape(), ", ", 2))
    end
  end
  local f = self:_with_backbone(function() return self.backbone:features(x, true) end)
  if f:size(1) ~= self.feature_dim then
    fail("%s: the backbone gives %d features per image but the classifier's head was fit on %d (wrong backbone "
      .. "or layer?)", where, f:size(1), self.feature_dim)
  end
  local rows = {}
  ks.no_grad(function()
    for i = 0, f:size(0) - 1 do rows[i + 1] = H.scores_row(self.head, f:select(0, i)) end
  end)
  return ks.stack(rows, 0), single
end

--- predict_proba(x): [C] for one image, [N, C] for a batch (columns in self.classes order).
function Classifier:predict_proba(x)
  check_self(self, "predict_proba")
  local s, single = self:_scores(x, "predict_proba")
  local p = F.softmax(s, 1)
  return single and p:select(0, 0) or p
end

--- predict(x): the class id (integer) of one image, or an int64 [N] tensor of class ids.
function Classifier:predict(x)
  check_self(self, "predict")
  local s, single = self:_scores(x, "predict")
  local idx = s:argmax(1)
  local ids = ks.tensor(self.classes, "int64"):index_select(0, idx)
  return single and ids:select(0, 0):item() or ids
end

-- ------------------------------------------------------------ save / load
-- mean / std in the metadata: a number or a comma-separated per-channel list,
-- "%.17g" so that load gives back the same doubles (tensors: "input.mean" / "input.std").
local function stat_meta(v, list)
  if list then
    local parts = {}
    for i, x in ipairs(list) do parts[i] = string.format("%.17g", x) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  if type(v) == "number" then return string.format("%.17g", v) end
  return nil
end
local function stat_from_meta(s)
  if s == nil then return nil end
  if s:sub(1, 1) == "{" then
    local list = {}
    for x in s:gmatch("[^{},]+") do list[#list + 1] = tonumber(x) end
    return list
  end
  return tonumber(s)
end

--- save(path): head tensors, class ids and (adapted methods) the changed backbone
-- tensors as "backbone.<name>"; metadata says the method and the feature map.
function Classifier:save(path)
  check_self(self, "save")
  if type(path) ~= "string" then fail("save: path must be a string, got %s", type(path)) end
  local h, bb = self.head, self.backbone
  local t = {classes = ks.tensor(self.classes, "int64")}
  if h.kind == "centroid" then t["head.protos"] = h.protos else t["head.weight"], t["head.bias"] = h.weight, h.bias end
  if h.center then t["head.center"] = h.center end
  for k, v in pairs(self.adapted or {}) do t["backbone." .. k] = v end
  if ks.is_tensor(bb.mean) and not bb.mean_list then t["input.mean"] = bb.mean end
  if ks.is_tensor(bb.std) and not bb.std_list then t["input.std"] = bb.std end
  local meta = {format = FORMAT, method = self.method.name, label = self.method.label, head = h.kind,
    normalize = tostring(h.normalize), feature_dim = tostring(self.feature_dim),
    input_shape = table.concat(self.input_shape, ","), backbone = bb.kind, layer = bb.layer, pool = bb.pool,
    mean = stat_meta(bb.mean, bb.mean_list), std = stat_meta(bb.std, bb.std_list), C = h.C and tostring(h.C),
    solver = h.solver}
  ks.save(path, t, meta)
  return self
end

--- load(path[, {backbone = model | fn, layer =, pool =, mean =, std =, transform =}]) -> Classifier
-- The backbone must be given when the classifier was fit on one (and must not
-- be for raw pixels); its feature size is checked now, on one blank image.
function C.load(path, opts)
  local where = "fewshot.load"
  if type(path) ~= "string" then fail("%s: path must be a string, got %s", where, type(path)) end
  opts = opts or {}
  if type(opts) ~= "table" then fail("%s: options table expected, got %s", where, type(opts)) end
  local t, meta = ks.load(path)
  if meta.format ~= FORMAT then
    fail("%s: %s is not a kshot few-shot classifier (metadata format = %s)", where, path, tostring(meta.format))
  end
  if meta.backbone == "pixels" and opts.backbone ~= nil then
    fail("%s: %s was fit on raw pixels; do not pass a backbone", where, path)
  end
  if meta.backbone ~= "pixels" and opts.backbone == nil then
    fail("%s: %s was fit on the features of a backbone (%s%s, %s features): pass backbone=", where, path,
      meta.backbone, meta.layer and (", layer " .. meta.layer) or "", meta.feature_dim)
  end
  local bb = Bk.new(opts.backbone, {layer = opts.layer or meta.layer, pool = opts.pool or meta.pool,
    mean = opts.mean or t["input.mean"] or stat_from_meta(meta.mean),
    std = opts.std or t["input.std"] or stat_from_meta(meta.std), transform = opts.transform})
  local head = {kind = meta.head, normalize = meta.normalize == "true", center = t["head.center"],
    protos = t["head.protos"], weight = t["head.weight"], bias = t["head.bias"], C = tonumber(meta.C),
    solver = meta.solver}
  head.weight_t = head.weight and head.weight:t():contiguous() or nil
  local self = setmetatable({backbone = bb, head = head, feature_dim = tonumber(meta.feature_dim),
    method = Me.parse(meta.method, where), classes = t.classes:totable(), input_shape = {}}, Classifier)
  self.method.label = meta.label or self.method.label
  for s in (meta.input_shape or ""):gmatch("%d+") do self.input_shape[#self.input_shape + 1] = tonumber(s) end
  for k, v in pairs(t) do
    local name = k:match("^backbone%.(.+)$")
    if name then self.adapted = self.adapted or {}; self.adapted[name] = v end
  end
  if self.adapted then
    local sd = bb.model:state_dict()
    local names = {}
    for k in pairs(self.adapted) do names[#names + 1] = k end
    table.sort(names) -- the first mismatch reported is the same on every run
    for _, k in ipairs(names) do
      local v = self.adapted[k]
      if not sd[k] then fail("%s: the backbone has no tensor '%s' (saved by the adapted method)", where, k) end
      if table.concat(sd[k]:shape(), ",") ~= table.concat(v:shape(), ",") then
        fail("%s: tensor '%s' is [%s] in %s but [%s] in the backbone", where, k, table.concat(v:shape(), ", "), path,
          table.concat(sd[k]:shape(), ", "))
      end
    end
  end
  if bb.kind ~= "pixels" then -- feature size check on one blank image
    local shape = {1}
    for _, s in ipairs(self.input_shape) do shape[#shape + 1] = s end
    local f = self:_with_backbone(function() return bb:features(ks.zeros(shape, "uint8"), true) end)
    if f:size(1) ~= self.feature_dim then
      fail("%s: the backbone gives %d features per image but the head in %s was fit on %d (wrong backbone or layer?)",
        where, f:size(1), path, self.feature_dim)
    end
  end
  return self
end

return C
