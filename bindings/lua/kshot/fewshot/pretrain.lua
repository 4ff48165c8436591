--- kshot.fewshot.pretrain: the reusable pieces of backbone pretraining
-- (scripts/pretrain_backbone.lua): pooled ResNet features, SimCLR's NT-Xent
-- loss, the prototypical-network episode loss, two-view augmentation,
-- rotation batches, a stratified hold-out split, episode sampling and the
-- held-out nearest-centroid score.
--
--   local P = require "kshot.fewshot.pretrain"
--   local f = P.features(model, x)                 -- [N, 8 * width], with autograd
--   local loss = P.nt_xent(z1, z2, 0.5)            -- z1, z2: [B, D] projections of two views
--   local loss, logits = P.proto_loss(fs, ys, fq, yq, way)
--
-- All sampling takes a ks.Generator, so a seed gives the same batches.
local ks = require "kshot"
local F = ks.functional

local P = {}

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

local shape_str = require("kshot.options").shape_str

local function need_tensor(t, name, fn)
  if not ks.is_tensor(t) then fail("%s: %s must be a tensor, got %s", fn, name, type(t)) end
end

--- P.features(model, x) -> [N, C]: an nn.resnet's globally average-pooled
-- features (the input of fc), computed without running fc (whose size is
-- then free: a placeholder in self-supervised checkpoints).
function P.features(model, x)
  need_tensor(x, "x", "pretrain.features")
  local h = model.maxpool(model.relu(model.bn1(model.conv1(x))))
  h = model.layer4(model.layer3(model.layer2(model.layer1(h))))
  return model.avgpool(h):flatten(1)
end

local function l2n(z) return z / ks.clamp(z:norm(2, 1, true), 1e-12) end

--- P.nt_xent(z1, z2[, temperature = 0.5]) -> scalar loss (SimCLR, Chen et al. 2020).
-- Rows i of z1 and z2 are two views of one image. With z = L2N(cat(z1, z2))
-- ([2B, D]) and s = z z^T / t, each row's positive is its other view and the
-- 2B - 2 other rows are negatives (the row itself is excluded):
--   loss = mean over the 2B rows of  -s[i, pos(i)] + log sum_{j != i} exp(s[i, j]).
function P.nt_xent(z1, z2, temperature)
  need_tensor(z1, "z1", "nt_xent")
  need_tensor(z2, "z2", "nt_xent")
  temperature = temperature or 0.5
  if type(temperature) ~= "number" or not (temperature > 0) then
    fail("nt_xent: temperature must be a positive number, got %s", tostring(temperature))
  end
  if z1:dim() ~= 2 or z2:dim() ~= 2 or z1:size(0) ~= z2:size(0) or z1:size(1) ~= z2:size(1) then
    fail("nt_xent: z1 and z2 must be [B, D] of the same shape, got %s and %s", shape_str(z1), shape_str(z2))
  end
  local b = z1:size(0)
  if b < 2 then fail("nt_xent: needs at least 2 pairs (negatives), got %d", b) end
  local z = l2n(ks.cat({z1, z2}, 0))
  local s = z:matmul(z:t()) / temperature - ks.eye(2 * b) * 1e9 -- exp(-1e9) = 0: self-similarity out
  local pos = {}
  for i = 1, b do pos[i], pos[b + i] = b + i - 1, i - 1 end
  return F.cross_entropy(s, ks.tensor(pos, {dtype = "int64"}))
end

--- P.proto_loss(fs, ys, fq, yq, way) -> loss, logits (Snell et al. 2017).
-- Prototypes are the class means of the support features fs [S, D] (labels
-- ys int64 in 0..way-1, every class present); logits of the queries fq
-- [Q, D] are minus squared euclidean distances; loss is their cross-entropy
-- against yq.
function P.proto_loss(fs, ys, fq, yq, way)
  for _, a in ipairs({{fs, "fs"}, {ys, "ys"}, {fq, "fq"}, {yq, "yq"}}) do need_tensor(a[1], a[2], "proto_loss") end
  if math.type(way) ~= "integer" or way < 2 then fail("proto_loss: way must be an integer >= 2, got %s", tostring(way)) end
  if fs:dim() ~= 2 or fq:dim() ~= 2 or fs:size(1) ~= fq:size(1) then
    fail("proto_loss: fs and fq must be [S, D] and [Q, D], got %s and %s", shape_str(fs), shape_str(fq))
  end
  if ys:dim() ~= 1 or ys:size(0) ~= fs:size(0) or yq:dim() ~= 1 or yq:size(0) ~= fq:size(0) then
    fail("proto_loss: labels must match the features' rows: fs %s ys %s, fq %s yq %s", shape_str(fs),
      shape_str(ys), shape_str(fq), shape_str(yq))
  end
  local onehot = ks.one_hot(ys, way):float()                 -- [S, way]
  local counts = onehot:sum(0)
  if counts:min():item() < 1 then fail("proto_loss: every class 0..%d needs a support example", way - 1) end
  local protos = onehot:t():matmul(fs) / counts:unsqueeze(1) -- [way, D]
  local d = (fq * fq):sum(1, true) - fq:matmul(protos:t()) * 2 + (protos * protos):sum(1):unsqueeze(0)
  local logits = -d
  return F.cross_entropy(logits, yq), logits
end

--- P.two_views(opts) -> fn(x) -> v1, v2: two independent augmentations of
-- a batch x [B, C, H, W] in [0, 1] (one seeded pipeline called twice).
-- opts: seed (0), scale ({0.25, 1}: random resized crop area), noise
-- (gaussian noise sd, 0.05), erase (random-erasing probability, 0.25),
-- flip (0.5). The 28x28 grey analogue of SimCLR's crop + flip + colour distortion.
function P.two_views(opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail("two_views: options table expected, got %s", type(opts)) end
  local A = require "kshot.augment"
  local list = {
    A.random_resized_crop {scale = opts.scale or {0.25, 1}},
    A.random_horizontal_flip {p = opts.flip or 0.5},
    A.brightness_contrast {brightness = 0.2, contrast = 0.3, clamp = {0, 1}},
  }
  if (opts.noise or 0.05) > 0 then list[#list + 1] = A.gaussian_noise {std = opts.noise or 0.05} end
  if (opts.erase or 0.25) > 0 then list[#list + 1] = A.random_erasing {p = opts.erase or 0.25} end
  local pipe = A.compose(list, {seed = opts.seed or 0})
  return function(x) return pipe(x), pipe(x) end
end

--- P.rotations(x) -> xr [4B, C, H, W], labels [4B] int64: each image rotated
-- by 0, 90, 180 and 270 degrees (label 0..3; rotation prediction, Gidaris et al. 2018).
function P.rotations(x)
  need_tensor(x, "x", "rotations")
  if x:dim() ~= 4 or x:size(2) ~= x:size(3) then
    fail("rotations: x must be [B, C, H, H] (square images), got %s", shape_str(x))
  end
  local b = x:size(0)
  local r90 = x:transpose(2, 3):flip({2})   -- counter-clockwise
  local r180 = x:flip({2, 3})
  local r270 = x:transpose(2, 3):flip({3})
  local y = {}
  for r = 0, 3 do for i = 1, b do y[r * b + i] = r end end
  return ks.cat({x, r90, r180, r270}, 0):contiguous(), ks.tensor(y, {dtype = "int64"})
end

--- P.by_class(labels, classes) -> {[c] = {row, ...}} (0-based rows of labels equal to c, ascending).
function P.by_class(labels, classes)
  need_tensor(labels, "labels", "by_class")
  local want, rows = {}, {}
  for _, c in ipairs(classes) do want[c], rows[c] = true, {} end
  for i, c in ipairs(labels:totable()) do
    if want[c] then local r = rows[c]; r[#r + 1] = i - 1 end
  end
  for _, c in ipairs(classes) do
    if #rows[c] == 0 then fail("by_class: class %d has no example", c) end
  end
  return rows
end

-- Fisher-Yates on a Lua list with draws from g (ks.randint with a generator).
local function shuffle(list, g)
  local n = #list
  if n < 2 then return list end
  local perm = ks.randperm(n, {generator = g}):totable()
  local out = {}
  for i = 1, n do out[i] = list[perm[i] + 1] end
  return out
end
P.shuffle = shuffle

--- P.stratified_holdout(labels, classes, frac, g) -> train, held: lists of
-- {row, label} pairs ... as two tables {rows = {...}, labels = {...}} where
-- labels are the class's index in `classes` (0-based). Each class keeps
-- floor(frac * n_c) (at least 1) examples for the held-out part.
function P.stratified_holdout(labels, classes, frac, g)
  if type(frac) ~= "number" or not (frac > 0 and frac < 1) then
    fail("stratified_holdout: frac must be in (0, 1), got %s", tostring(frac))
  end
  local rows = P.by_class(labels, classes)
  local train, held = {rows = {}, labels = {}}, {rows = {}, labels = {}}
  for k, c in ipairs(classes) do
    local r = shuffle(rows[c], g)
    if #r < 2 then fail("stratified_holdout: class %d needs at least 2 examples, has %d", c, #r) end
    local nh = math.max(1, math.floor(frac * #r))
    for i, row in ipairs(r) do
      local part = i <= nh and held or train
      part.rows[#part.rows + 1] = row
      part.labels[#part.labels + 1] = k - 1
    end
  end
  return train, held
end

--- P.groups(part, nclasses) -> one list of rows per class (P.episode's groups)
-- from a part of P.stratified_holdout ({rows, labels}, labels 0..nclasses-1).
function P.groups(part, nclasses)
  local gs = {}
  for k = 1, nclasses do gs[k] = {} end
  for i, row in ipairs(part.rows) do local g = gs[part.labels[i] + 1]; g[#g + 1] = row end
  return gs
end

--- P.episode(groups, way, shot, query, g) -> srows, sy, qrows, qy.
-- groups: a list of row lists, one per class; picks `way` classes, then
-- shot + query distinct rows of each (support first). Rows are 0-based Lua
-- integers, labels 0..way-1 as int64 tensors.
function P.episode(groups, way, shot, query, g)
  if way > #groups then fail("episode: way %d > %d classes", way, #groups) end
  local classes = ks.randperm(#groups, {generator = g}):totable()
  local srows, sy, qrows, qy = {}, {}, {}, {}
  for k = 1, way do
    local rows = groups[classes[k] + 1]
    if #rows < shot + query then
      fail("episode: a class has %d examples, fewer than shot + query = %d", #rows, shot + query)
    end
    local pick = ks.randperm(#rows, {generator = g}):narrow(0, 0, shot + query):totable()
    for i = 1, shot + query do
      local row = rows[pick[i] + 1]
      if i <= shot then srows[#srows + 1], sy[#sy + 1] = row, k - 1
      else qrows[#qrows + 1], qy[#qy + 1] = row, k - 1 end
    end
  end
  local I = function(t) return ks.tensor(t, {dtype = "int64"}) end
  return I(srows), I(sy), I(qrows), I(qy)
end

--- P.centroid_accuracy(f, y, C) -> percent: nearest class centroid on
-- L2-normalised features, centroids from the even rows, scored on the odd
-- rows (a held-out measure of how well features separate classes).
function P.centroid_accuracy(f, y, C)
  local n = f:size(0)
  local even = ks.arange(0, n, 2)
  local odd = ks.arange(1, n, 2)
  local fe, fo = l2n(f:index_select(0, even)), l2n(f:index_select(0, odd))
  local ye, yo = y:index_select(0, even), y:index_select(0, odd)
  local onehot = ks.one_hot(ye, C):float()
  local cent = l2n(onehot:t():matmul(fe) / ks.clamp(onehot:sum(0):unsqueeze(1), 1))
  local pred = fo:matmul(cent:t()):argmax(1)
  return 100 * pred:eq(yo):float():mean():item()
end

return P
