--- kshot.dataset_extra: the rest of torch.utils.data that small-data scripts
-- use, added to kshot.dataset (and ks.data): Dataset, random_split,
-- ConcatDataset and the samplers SequentialSampler, RandomSampler,
-- SubsetRandomSampler, WeightedRandomSampler (for DataLoader's {sampler =}).
--
-- Sampler protocol: sampler:len() (and #sampler) and sampler:indices() -> the
-- int64 tensor of one epoch's row indices (0-based); a random sampler draws
-- them from its generator ({generator = g}, else one seeded from the default
-- generator when made, as DataLoader's shuffle).
local ks = require "kshot"
local options = require "kshot.options"

local M = {}
local D -- kshot.dataset, given by install

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

local function check_generator(fname, gen)
  if gen ~= nil and not (type(gen) == "userdata" and (getmetatable(gen) or {}).__name == "kshot.Generator") then
    fail("%s: generator must be a kshot.Generator, got %s", fname, type(gen))
  end
  return gen or ks.Generator(ks.randint(0, 1 << 62, { 1 }):item())
end

local function len_of(fname, ds)
  if type(ds) ~= "table" or type(ds.len) ~= "function" then
    fail("%s: dataset expected (a table with len() and get(i)), got %s", fname, type(ds))
  end
  return ds:len()
end

-- ---------------------------------------------------------------- Dataset
--- D.Dataset{len = function(self) ... end, get = function(self, i) ... end, ...}:
-- a map-style data set (torch's Dataset subclass with __len__ and
-- __getitem__): the table itself, given #ds and ds[i] (the row as a list);
-- other fields stay (self.x = ...). get(self, i) (i 0-based) returns the row's
-- values, e.g. return x, label. DataLoader batches it with get(i) and ks.stack:
-- tensors stacked, Lua integers as int64 (labels), floats float32, booleans bool.
function M.Dataset(def)
  if type(def) ~= "table" or type(def.len) ~= "function" or type(def.get) ~= "function" then
    error("Dataset: expects a table with the functions len(self) and get(self, i)", 2)
  end
  return setmetatable(def, {
    __len = function(self) return self:len() end,
    __index = function(self, k) if math.type(k) == "integer" then return table.pack(self:get(k)) end end,
    __name = "kshot.Dataset",
  })
end

-- ---------------------------------------------------------- ConcatDataset
local Concat = {}
Concat.__name = "kshot.ConcatDataset"
Concat.__index = function(self, k)
  if math.type(k) == "integer" then return table.pack(self:get(k)) end
  return Concat[k]
end
Concat.__len = function(self) return self.n end

--- D.ConcatDataset({ds1, ds2, ...}): the rows of ds1, then of ds2, ... (0-based throughout).
function M.ConcatDataset(list)
  if type(list) ~= "table" or #list == 0 then error("ConcatDataset: expects a non-empty list of data sets", 2) end
  local ends, n = {}, 0
  for i, ds in ipairs(list) do
    if type(ds) ~= "table" or type(ds.len) ~= "function" then
      error(string.format("ConcatDataset: datasets[%d] is not a data set (a table with len() and get(i)), got %s", i,
        type(ds)), 2)
    end
    n = n + ds:len()
    ends[i] = n
  end
  return setmetatable({ datasets = list, cumulative_sizes = ends, n = n }, Concat)
end

function Concat:len() return self.n end

function Concat:get(i)
  if math.type(i) ~= "integer" or i < -self.n or i >= self.n then
    error(string.format("ConcatDataset:get: index %s out of range [0, %d)", tostring(i), self.n), 2)
  end
  if i < 0 then i = i + self.n end
  local start = 0
  for k, stop in ipairs(self.cumulative_sizes) do
    if i < stop then return self.datasets[k]:get(i - start) end
    start = stop
  end
end

-- ----------------------------------------------------------- random_split
--- D.random_split(ds, lengths[, {generator = g}]): a Lua list of Subsets of
-- the given lengths (integers summing to #ds, or fractions summing to 1: the
-- rows left by flooring go one each to the first splits, as torch 1.13),
-- from one random permutation of the rows.
function M.random_split(ds, lengths, opts)
  local n = len_of("random_split", ds)
  opts = options.check(opts, "random_split", { "generator" }, 2)
  if type(lengths) ~= "table" or #lengths == 0 then fail("random_split: lengths must be a non-empty list of numbers") end
  local sizes, total, fractions = {}, 0, 0
  for i, l in ipairs(lengths) do
    if type(l) ~= "number" or l < 0 then fail("random_split: lengths[%d] must be a number >= 0, got %s", i, tostring(l)) end
    if math.type(l) == "float" then fractions = fractions + 1 end
  end
  if fractions > 0 then
    local sum = 0
    for _, l in ipairs(lengths) do sum = sum + l end
    if math.abs(sum - 1) > 1e-6 then fail("random_split: fractions must sum to 1, got %g", sum) end
    for i, l in ipairs(lengths) do sizes[i] = math.floor(n * l); total = total + sizes[i] end
    local rest = n - total
    for i = 1, rest do sizes[(i - 1) % #sizes + 1] = sizes[(i - 1) % #sizes + 1] + 1 end
  else
    for i, l in ipairs(lengths) do sizes[i] = l; total = total + l end
    if total ~= n then fail("random_split: the lengths sum to %d, the data set has %d rows", total, n) end
  end
  local gen = check_generator("random_split", opts.generator)
  local perm = ks.randperm(n, { generator = gen })
  local out, at = {}, 0
  for i, s in ipairs(sizes) do
    out[i] = D.Subset(ds, perm:narrow(0, at, s))
    at = at + s
  end
  return out
end

-- --------------------------------------------------------------- samplers
local function sampler_class(name)
  local cls = { __name = "kshot." .. name }
  cls.__index = cls
  cls.__len = function(self) return self:len() end
  function cls:len() return self.num_samples end
  return cls
end

local Sequential = sampler_class("SequentialSampler")
--- D.SequentialSampler(ds): rows 0, 1, ..., #ds - 1.
function M.SequentialSampler(ds)
  return setmetatable({ num_samples = len_of("SequentialSampler", ds) }, Sequential)
end
function Sequential:indices() return ks.arange(self.num_samples) end

local Random = sampler_class("RandomSampler")
--- D.RandomSampler(ds[, {replacement = false, num_samples = #ds, generator = g}]):
-- a random permutation each epoch, or num_samples draws with replacement.
function M.RandomSampler(ds, opts)
  local n = len_of("RandomSampler", ds)
  opts = options.check(opts, "RandomSampler", { "replacement", "num_samples", "generator" }, 2)
  local k = opts.num_samples or n
  if math.type(k) ~= "integer" or k < 0 then fail("RandomSampler: num_samples must be an integer >= 0, got %s", tostring(k)) end
  if not opts.replacement and opts.num_samples and k > n then
    fail("RandomSampler: num_samples %d exceeds the %d rows without replacement", k, n)
  end
  return setmetatable({ n = n, num_samples = k, replacement = opts.replacement or false,
    generator = check_generator("RandomSampler", opts.generator) }, Random)
end
function Random:indices()
  if self.replacement then return ks.randint(0, self.n, { self.num_samples }, { generator = self.generator }) end
  return ks.randperm(self.n, { generator = self.generator }):narrow(0, 0, self.num_samples)
end

local SubsetRandom = sampler_class("SubsetRandomSampler")
--- D.SubsetRandomSampler(indices[, {generator = g}]): the given rows (int64 tensor or Lua list, 0-based) in a random order.
function M.SubsetRandomSampler(indices, opts)
  opts = options.check(opts, "SubsetRandomSampler", { "generator" }, 2)
  local idx = ks.is_tensor(indices) and indices or (type(indices) == "table" and ks.tensor(indices, ks.int64))
  if not idx or idx:dtype() ~= "int64" or idx:dim() ~= 1 then
    fail("SubsetRandomSampler: indices must be a 1-d int64 tensor or a list of integers")
  end
  return setmetatable({ idx = idx, num_samples = idx:numel(),
    generator = check_generator("SubsetRandomSampler", opts.generator) }, SubsetRandom)
end
function SubsetRandom:indices()
  return self.idx:index_select(0, ks.randperm(self.num_samples, { generator = self.generator }))
end

local Weighted = sampler_class("WeightedRandomSampler")
--- D.WeightedRandomSampler(weights, num_samples[, {replacement = true, generator = g}]):
-- num_samples rows drawn with probability proportional to weights (one per
-- row of the data set; e.g. 1 / class count of each row's label to balance classes).
function M.WeightedRandomSampler(weights, num_samples, opts)
  if type(weights) == "table" and not ks.is_tensor(weights) then weights = ks.tensor(weights) end
  if not ks.is_tensor(weights) or weights:dim() ~= 1 then
    fail("WeightedRandomSampler: weights must be a 1-d tensor or a list of numbers")
  end
  if math.type(num_samples) ~= "integer" or num_samples < 0 then
    fail("WeightedRandomSampler: num_samples must be an integer >= 0, got %s", tostring(num_samples))
  end
  opts = options.check(opts, "WeightedRandomSampler", { "replacement", "generator" }, 2)
  local w = weights:float()
  if w:numel() == 0 or w:min():item() < 0 or w:sum():item() <= 0 then
    fail("WeightedRandomSampler: weights must be >= 0 with a positive sum")
  end
  local replacement = opts.replacement ~= false
  if not replacement and num_samples > w:numel() then
    fail("WeightedRandomSampler: num_samples %d exceeds the %d weights without replacement", num_samples, w:numel())
  end
  return setmetatable({ weights = w, num_samples = num_samples, replacement = replacement,
    generator = check_generator("WeightedRandomSampler", opts.generator) }, Weighted)
end
function Weighted:indices()
  return ks.multinomial(self.weights, self.num_samples, self.replacement, { generator = self.generator })
end

function M.install(dataset)
  D = dataset
  for k, v in pairs(M) do
    if k ~= "install" then dataset[k] = v end
  end
end

return M
