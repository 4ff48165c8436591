--- kshot.data: data sets and samplers (the Lua side of ks.data).
--
-- Everything below is reachable as require("kshot.data").f or ks.data.f.
-- Labels and class ids are 0-based; class NAMES are a 1-based Lua list
-- (names[label + 1]). Every options table is checked: an unknown key is an
-- error naming the function, the key and the known keys (kshot.options).
--
-- Files (C, bindings/ks_lua_io.c and ks_lua_data.c):
--   read_csv(path[, {label = "name" | 0-based index, header = true, sep = ",", fill = number}])
--     -> features float32 [N, F], labels int64 [N] | nil, class_names | nil, feature_names | nil
--     String labels become 0..C-1 in sorted order (class_names[label + 1]);
--     integer labels are kept (class_names nil). Without `fill` an empty or
--     non-numeric feature is an error naming the line and column.
--       local x, y, names = data.read_csv("iris.csv", {label = "species"})
--   read_npy(path) -> tensor (f4/f8 -> float32, integers -> int64, u1 -> uint8, b1 -> bool)
--       local x = data.read_npy("features.npy")
--   save_npy(path, t)   float32, int64, uint8 or bool; NumPy reads it back
--       data.save_npy("features.npy", x)
--   read_npz(path) -> {name = tensor, ...}   (np.savez / np.savez_compressed)
--       local arrays = data.read_npz("split.npz"); local x = arrays.x_train
--   read_idx(path) -> tensor   (IDX files, .gz too)
--
-- Images to float32:
--   to_float(images[, {scale = 1/255, mean = m | {m1, ...}, std = s | {s1, ...}}]) -> float32
--     (x * scale - mean) / std, uint8 or float32 input of any layout with at
--     least 2 dims: [H, W], [N, H, W], [C, H, W], [N, C, H, W], ... With no
--     mean/std, or a single number (or 1-entry list) for each, the same
--     formula applies to every pixel whatever the layout and batch size.
--     Per-channel lists (C entries) take dim -3 as the channels, so images
--     must be [..., C, H, W]: a batch of gray images [N, H, W] is
--     x:unsqueeze(1) ([N, 1, H, W]) first.
--       local x = data.to_float(images:index_select(0, idx)):unsqueeze(1)     -- [N, 1, 28, 28] in [0, 1]
--       local x = data.to_float(rgb, {mean = {0.485, 0.456, 0.406}, std = {0.229, 0.224, 0.225}})
--
-- Samplers (C):
--   ks.data.kshot_indices(labels, k, {seed= | generator=, classes=}) -> int64 rows, k per class
--   ks.data.episode(labels, {way=, shot=, query=, classes=, query_labels=, seed= | generator=})
--     -> support_rows, support_labels, query_rows, query_labels, episode_classes: int64;
--        labels relabelled 0..way-1, episode_classes[j] is the original class of label j
--        (query_labels= [M]: the queries are rows of that second label set)
--   ks.data.stratified_kfold(labels, k, {seed= | generator=, indices=, repeats=}) -> {{train=, val=}, ...}
--   ks.data.train_val_split(labels, indices | nil, {val= | val_count=, seed= | generator=}) -> train, val
--   ks.data.learning_curve_subsets(labels, {1, 2, 5, ...}, {seed= | generator=, classes=})
--     -> {[1] = rows, [2] = rows, [5] = rows, ...}: KEYED BY K (s[5], not s[3]), nested
--        (the rows for a smaller K are among those for a larger K), K rows per class
--
-- This file adds fashion_mnist, idx_pair, repeated_stratified_kfold,
-- image_folder and the datasets/loader of kshot.dataset.
local ks = require "kshot"
local options = require "kshot.options"

local M = ks.data

--- Class names of Fashion-MNIST, in label order (names[label + 1]).
M.FASHION_MNIST_CLASSES = {
  "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
  "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
}

local DEFAULT_FASHION_DIR = "/usr/share/datasets/fashion-mnist"
local FASHION_FILES = {
  train = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte" },
  test = { "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" },
}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

local shape_str = options.shape_str

--- Load an IDX image file and an IDX label file that belong together.
-- Returns images (as stored) and labels as int64 [N]; errors when the label
-- file is not 1-D or the two files disagree on N (naming both files).
function M.idx_pair(images_path, labels_path)
  assert(type(images_path) == "string", "idx_pair: images path (string) expected")
  assert(type(labels_path) == "string", "idx_pair: labels path (string) expected")
  local images = M.read_idx(images_path)
  local labels = M.read_idx(labels_path)
  if labels:dim() ~= 1 then
    error(("%s: labels must be 1-D, got shape %s"):format(labels_path, shape_str(labels)), 2)
  end
  if labels:size(0) ~= images:size(0) then
    error(("%s holds %d examples but %s holds %d labels (shapes %s and %s)"):format(
      images_path, images:size(0), labels_path, labels:size(0), shape_str(images), shape_str(labels)), 2)
  end
  if labels:dtype() ~= "int64" then labels = labels:long() end
  return images, labels
end

--- Find a Fashion-MNIST file: name.gz, else the unpacked name.
local function fashion_file(dir, name, where)
  for _, cand in ipairs { dir .. "/" .. name .. ".gz", dir .. "/" .. name } do
    if exists(cand) then return cand end
  end
  error(("fashion_mnist: %s/%s.gz not found (directory from %s; install the Debian package "
    .. "dataset-fashion-mnist, pass path=DIR, or set KSHOT_FASHION_MNIST)"):format(dir, name, where), 3)
end

--- ks.data.fashion_mnist{split="train"|"test", path=dir}
-- Directory: path, else $KSHOT_FASHION_MNIST, else /usr/share/datasets/fashion-mnist.
-- Returns images uint8 [N, 28, 28], labels int64 [N] (0..9) and the class
-- names (a 1-based Lua list: names[label + 1]).
function M.fashion_mnist(opts)
  opts = options.check(opts, "fashion_mnist", { "split", "path" })
  local split = opts.split or "train"
  local files = FASHION_FILES[split]
  if not files then
    error(("fashion_mnist: split must be \"train\" or \"test\", got %s"):format(tostring(split)), 2)
  end
  local dir, where = opts.path, "path="
  if dir == nil then
    dir, where = os.getenv("KSHOT_FASHION_MNIST"), "KSHOT_FASHION_MNIST"
    if dir == nil or dir == "" then dir, where = DEFAULT_FASHION_DIR, "the default" end
  end
  if type(dir) ~= "string" then error("fashion_mnist: path must be a string, got " .. type(dir), 2) end
  local images, labels = M.idx_pair(fashion_file(dir, files[1], where), fashion_file(dir, files[2], where))
  if images:dim() ~= 3 or images:size(1) ~= 28 or images:size(2) ~= 28 or images:dtype() ~= "uint8" then
    error(("fashion_mnist: %s: expected uint8 images [N, 28, 28], got %s %s"):format(
      dir, images:dtype(), shape_str(images)), 2)
  end
  return images, labels, M.FASHION_MNIST_CLASSES
end

--- ks.data.repeated_stratified_kfold(labels, k, repeats, {seed=|generator=, indices=})
-- -> repeats * k folds {train=rows, val=rows}: repeat r is folds (r-1)*k+1 .. r*k.
-- repeats is at most 2^20 (as for stratified_kfold's repeats option).
function M.repeated_stratified_kfold(labels, k, repeats, opts)
  if math.type(repeats) ~= "integer" or repeats < 1 or repeats > (1 << 20) then
    error("repeated_stratified_kfold: repeats must be an integer in [1, 1048576] (2^20), got " .. tostring(repeats), 2)
  end
  if type(opts) ~= "table" then
    error("repeated_stratified_kfold: options table expected, got " .. type(opts), 2)
  end
  options.check(opts, "repeated_stratified_kfold", { "seed", "generator", "indices" })
  local o = {}
  for key, v in pairs(opts) do o[key] = v end
  o.repeats = repeats
  return M.stratified_kfold(labels, k, o)
end

--- ks.data.image_folder(root, opts): see kshot.image (ks.image.image_folder).
function M.image_folder(root, opts)
  return require("kshot.image").image_folder(root, opts)
end

--- Datasets and the loader (kshot.dataset) reachable from ks.data too.
do
  local D = require "kshot.dataset"
  M.TensorDataset, M.Subset, M.DataLoader = D.TensorDataset, D.Subset, D.DataLoader
  for _, k in ipairs({ "Dataset", "ConcatDataset", "random_split", "SequentialSampler", "RandomSampler",
    "SubsetRandomSampler", "WeightedRandomSampler" }) do
    M[k] = D[k]
  end
end

return M
