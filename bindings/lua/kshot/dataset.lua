--- kshot.dataset: TensorDataset, Subset and DataLoader (PyTorch's names).
--
--   local D = require "kshot.dataset"
--   local ds = D.TensorDataset(x, y)                  -- rows of x and y (same size(0))
--   local train = D.Subset(ds, idx)                   -- idx: int64 tensor or Lua list, 0-based
--   local loader = D.DataLoader(train, {batch_size = 32, shuffle = true, seed = 1})
--   for epoch = 1, 10 do
--     for xb, yb in loader:iter() do ... end          -- #loader batches per epoch
--   end
--
-- Dataset protocol: ds:len() (and #ds), ds:get(i) -> the row-i values
-- (0-based), and optionally ds:gather(idx) -> whole batches for an int64
-- index tensor. TensorDataset and Subset gather with index_select (one
-- allocation per tensor per batch); a dataset without gather is batched by
-- calling get for every row and stacking the results (ks.stack along dim 0).
--
-- Shuffling uses the loader's own generator: {generator = g} (advanced by
-- each epoch's permutation), {seed = n} (a fresh ks.Generator(n)), or, when
-- neither is given, a generator seeded once at construction with a draw
-- from the default generator (the only time the default stream moves).
-- Each epoch draws one ks.randperm(N) from it, so other random streams are
-- never shifted by iterating.
local ks = require "kshot"

local options = require "kshot.options"

local M = {}

local shape_str = options.shape_str

local function fail(op, msg)
  error(op .. ": " .. msg, 3)
end

-- ------------------------------------------------------------ TensorDataset
-- ds[i] with an integer i is PyTorch's ds[i]: the row as a list {x_i, y_i, ...}
-- (ds:get(i) returns the same values unpacked); other keys are methods.
local function row_index(class)
  return function(self, k)
    if math.type(k) == "integer" then return table.pack(self:get(k)) end
    return class[k]
  end
end

local TensorDataset = {}
TensorDataset.__index = row_index(TensorDataset)
TensorDataset.__name = "kshot.TensorDataset"
TensorDataset.__len = function(self) return self.n end

--- D.TensorDataset(t1, t2, ...): row i is (t1[i], t2[i], ...); every tensor
-- must have the same size along dim 0.
function M.TensorDataset(...)
  local ts = table.pack(...)
  if ts.n == 0 then fail("TensorDataset", "at least one tensor expected") end
  for k = 1, ts.n do
    local t = ts[k]
    if not ks.is_tensor(t) then
      fail("TensorDataset", ("argument #%d must be a kshot.Tensor, got %s"):format(k, type(t)))
    end
    if t:dim() == 0 then fail("TensorDataset", ("argument #%d is a 0-d tensor (needs a dim 0)"):format(k)) end
    if t:size(0) ~= ts[1]:size(0) then
      fail("TensorDataset", ("size mismatch along dim 0: argument #1 is %s but argument #%d is %s"):format(
        shape_str(ts[1]), k, shape_str(t)))
    end
  end
  return setmetatable({ tensors = { table.unpack(ts, 1, ts.n) }, n = ts[1]:size(0) }, TensorDataset)
end

function TensorDataset:len() return self.n end

function TensorDataset:get(i)
  if math.type(i) ~= "integer" or i < 0 or i >= self.n then
    fail("TensorDataset:get", ("index %s out of range [0, %d)"):format(tostring(i), self.n))
  end
  local out = {}
  for k, t in ipairs(self.tensors) do out[k] = t[i] end
  return table.unpack(out)
end

function TensorDataset:gather(idx)
  local out = {}
  for k, t in ipairs(self.tensors) do out[k] = t:index_select(0, idx) end
  return table.unpack(out)
end

-- ------------------------------------------------------------ Subset
local Subset = {}
Subset.__index = row_index(Subset)
Subset.__name = "kshot.Subset"
Subset.__len = function(self) return self.n end

-- (errors at level 3: the caller of Subset / DataLoader)
local function ds_len(ds, op)
  if type(ds) ~= "table" or type(ds.len) ~= "function" then
    error(op .. ": dataset expected (a table with len() and get(i)), got " .. type(ds), 3)
  end
  local n = ds:len()
  local ni = type(n) == "number" and math.tointeger(n)
  if not ni or ni < 0 then
    error(op .. (": the dataset's len() must return an integer >= 0, got %s%s"):format(
      type(n) == "number" and "" or (type(n) .. " "), tostring(n)), 3)
  end
  return ni
end

--- D.Subset(ds, indices): rows indices[0], indices[1], ... of ds (0-based,
-- an int64 tensor or a Lua list of integers; repeats allowed).
function M.Subset(ds, indices)
  local n = ds_len(ds, "Subset")
  local idx
  if ks.is_tensor(indices) then
    if indices:dim() ~= 1 or (indices:dtype() ~= "int64" and indices:dtype() ~= "uint8") then
      fail("Subset", ("indices must be a 1-D int64 tensor, got %s %s"):format(indices:dtype(), shape_str(indices)))
    end
    idx = indices:long():contiguous()
  elseif type(indices) == "table" then
    for k, v in ipairs(indices) do
      if math.type(v) ~= "integer" then
        fail("Subset", ("indices[%d] is not an integer (%s)"):format(k, tostring(v)))
      end
    end
    idx = #indices > 0 and ks.tensor(indices, "int64") or ks.empty({ 0 }, "int64")
  else
    fail("Subset", "indices must be an int64 tensor or a list of integers, got " .. type(indices))
  end
  if idx:numel() > 0 then
    local lo, hi = idx:amin():item(), idx:amax():item()
    if lo < 0 or hi >= n then
      fail("Subset", ("index %d out of range for a dataset of %d rows"):format(lo < 0 and lo or hi, n))
    end
  end
  return setmetatable({ dataset = ds, indices = idx, n = idx:size(0) }, Subset)
end

function Subset:len() return self.n end

function Subset:get(i)
  if math.type(i) ~= "integer" or i < 0 or i >= self.n then
    fail("Subset:get", ("index %s out of range [0, %d)"):format(tostring(i), self.n))
  end
  return self.dataset:get(self.indices[i]:item())
end

function Subset:gather(idx)
  local rows = self.indices:index_select(0, idx)
  if self.dataset.gather then return self.dataset:gather(rows) end
  return M.stack_rows(self.dataset, rows)
end

--- Batch a dataset without gather: get(i) for every row, stacked along dim 0.
-- Plain values become tensors as torch's default_collate makes them: a column
-- of Lua integers is int64 (class labels, ready for cross_entropy), a column
-- holding any float is float32, booleans are bool; tables go through ks.tensor.
local function collate_column(values)
  local first = values[1]
  if ks.is_tensor(first) then return ks.stack(values, 0) end
  if type(first) == "boolean" then return ks.tensor(values, ks.bool) end
  if type(first) == "number" then
    for _, v in ipairs(values) do
      if math.type(v) ~= "integer" then return ks.tensor(values) end
    end
    return ks.tensor(values, ks.int64)
  end
  local rows = {}
  for k, v in ipairs(values) do rows[k] = ks.tensor(v) end
  return ks.stack(rows, 0)
end

function M.stack_rows(ds, idx)
  local cols, nout = {}, 0
  for k = 0, idx:size(0) - 1 do
    local i = idx[k]:item()
    local row = table.pack(ds:get(i))
    nout = row.n
    for j = 1, row.n do
      local v = row[j]
      if not ks.is_tensor(v) and type(v) ~= "number" and type(v) ~= "boolean" and type(v) ~= "table" then
        fail("DataLoader", ("the dataset's get(%d) returned a %s as value %d (expected tensors, numbers, booleans or tables)")
          :format(i, type(v), j))
      end
      cols[j] = cols[j] or {}
      local first = cols[j][1]
      if first ~= nil and (ks.is_tensor(first) ~= ks.is_tensor(v) or type(first) ~= type(v)) then
        fail("DataLoader", ("the dataset's get(%d) returned a %s as value %d where earlier rows gave a %s")
          :format(i, ks.is_tensor(v) and "tensor" or type(v), j, ks.is_tensor(first) and "tensor" or type(first)))
      end
      cols[j][k + 1] = v
    end
  end
  local out = {}
  for j = 1, nout do out[j] = collate_column(cols[j]) end
  return table.unpack(out, 1, nout)
end

-- ------------------------------------------------------------ DataLoader
local DataLoader = {}
DataLoader.__index = DataLoader
DataLoader.__name = "kshot.DataLoader"

--- D.DataLoader(ds, {batch_size=1, shuffle=false, drop_last=false,
--   generator=g | seed=n, transform=function(x, y, ...) return x, y end,
--   sampler=s, collate_fn=function(rows) ... end})
-- transform: applied to each batch (a function or an augment pipeline); the
-- values it returns replace the batch's first ones and the rest stay, so a
-- transform of x alone (function(x) return aug(x) end) keeps y. Rows' plain
-- values are batched as torch's default_collate does: Lua integers -> int64,
-- floats -> float32, booleans -> bool.
-- sampler: the rows of each epoch (D.WeightedRandomSampler, RandomSampler, ...;
-- see kshot.dataset_extra), instead of shuffle. collate_fn: makes a batch from
-- the list of rows (each a list {x_i, y_i, ...} from ds:get(i)) and returns
-- the batch's values, instead of stacking.
-- num_workers = 0 and pin_memory = false (torch's habits) are accepted: batches
-- are made in the calling thread (the tensor kernels are multi-threaded) and
-- there is no GPU; other values are an error that says so.
function M.DataLoader(ds, opts)
  local n = ds_len(ds, "DataLoader")
  opts = options.check(opts, "DataLoader", { "batch_size", "shuffle", "drop_last", "generator", "seed", "transform",
    "sampler", "collate_fn", "num_workers", "pin_memory" })
  if opts.num_workers ~= nil and opts.num_workers ~= 0 then
    fail("DataLoader", "num_workers must be 0, got " .. tostring(opts.num_workers)
      .. ": kshot makes batches in the calling thread (its kernels use ks.set_num_threads)")
  end
  if opts.pin_memory ~= nil and opts.pin_memory ~= false then
    fail("DataLoader", "pin_memory must be false, got " .. tostring(opts.pin_memory) .. ": kshot runs on the CPU only")
  end
  local sampler = opts.sampler
  if sampler ~= nil then
    if type(sampler) ~= "table" or type(sampler.indices) ~= "function" or type(sampler.len) ~= "function" then
      fail("DataLoader", "sampler must be a sampler (a table with len() and indices()), got " .. type(sampler))
    end
    if opts.shuffle then fail("DataLoader", "sampler option is mutually exclusive with shuffle") end
    n = sampler:len()
  end
  if opts.collate_fn ~= nil and type(opts.collate_fn) ~= "function" then
    fail("DataLoader", "collate_fn must be a function, got " .. type(opts.collate_fn))
  end
  local bs = opts.batch_size or 1
  if math.type(bs) ~= "integer" or bs < 1 then
    fail("DataLoader", "batch_size must be an integer >= 1, got " .. tostring(bs))
  end
  local tr = opts.transform
  if tr ~= nil and type(tr) ~= "function" and type((getmetatable(tr) or {}).__call) ~= "function" then
    fail("DataLoader", "transform must be a function or a callable table (an augment pipeline), got " .. type(tr))
  end
  local gen = opts.generator
  if gen ~= nil and not (type(gen) == "userdata" and (getmetatable(gen) or {}).__name == "kshot.Generator") then
    fail("DataLoader", "generator must be a kshot.Generator, got " .. type(gen))
  end
  if gen == nil and opts.seed ~= nil then
    if math.type(opts.seed) ~= "integer" then fail("DataLoader", "seed must be an integer, got " .. tostring(opts.seed)) end
    gen = ks.Generator(opts.seed)
  elseif gen == nil and opts.shuffle then
    gen = ks.Generator(ks.randint(0, 1 << 62, { 1 }):item())
  end
  return setmetatable({
    dataset = ds, n = n, batch_size = bs, shuffle = opts.shuffle and true or false,
    drop_last = opts.drop_last and true or false, generator = gen, transform = opts.transform,
    sampler = sampler, collate_fn = opts.collate_fn,
  }, DataLoader)
end

--- Number of batches per epoch.
function DataLoader:len()
  if self.drop_last then return self.n // self.batch_size end
  return (self.n + self.batch_size - 1) // self.batch_size
end
DataLoader.__len = DataLoader.len

-- The transform's results replace the batch's first values; those it does not
-- return stay, so transform = aug (an augment pipeline called with x only, as a
-- torchvision transform) keeps the labels instead of dropping them silently.
local function apply_transform(transform, ...)
  local batch = table.pack(...)
  local out = table.pack(transform(...))
  for j = out.n + 1, batch.n do out[j] = batch[j] end
  return table.unpack(out, 1, math.max(out.n, batch.n))
end

--- Iterator over one epoch: for x, y in loader:iter() do ... end
function DataLoader:iter()
  local order
  if self.sampler then
    order = self.sampler:indices()
  elseif self.shuffle then
    order = ks.randperm(self.n, { generator = self.generator })
  else
    order = ks.arange(self.n)
  end
  local nb, bs, ds, k = self:len(), self.batch_size, self.dataset, 0
  local gather = ds.gather and function(idx) return ds:gather(idx) end or function(idx) return M.stack_rows(ds, idx) end
  if self.collate_fn then
    local collate = self.collate_fn
    gather = function(idx)
      local rows = {}
      for k = 0, idx:size(0) - 1 do rows[k + 1] = table.pack(ds:get(idx[k]:item())) end
      return collate(rows)
    end
  end
  return function()
    if k >= nb then return nil end
    local start = k * bs
    local idx = order:narrow(0, start, math.min(bs, self.n - start))
    k = k + 1
    if self.transform then return apply_transform(self.transform, gather(idx)) end
    return gather(idx)
  end
end

--- for x, y in loader do ... end: one epoch, as loader:iter() (PyTorch iterates
-- the loader itself). Each loop gets its own epoch: the iterator is found
-- again from the loop's control value (the previous batch's first value).
local running = setmetatable({}, {__mode = "k"}) -- first value of the last batch -> its epoch iterator
function DataLoader:__call(_, ctrl)
  local it
  if ctrl == nil then it = self:iter() else it = running[ctrl]; running[ctrl] = nil end
  if not it then error("DataLoader: a generic for calls the loader with the previous batch; call loader:iter() to iterate by hand", 2) end
  local batch = table.pack(it())
  if batch[1] ~= nil then running[batch[1]] = it end
  return table.unpack(batch, 1, batch.n)
end

M.TensorDatasetClass, M.SubsetClass, M.DataLoaderClass = TensorDataset, Subset, DataLoader

-- Dataset, random_split, ConcatDataset and the samplers
require("kshot.dataset_extra").install(M)

return M
