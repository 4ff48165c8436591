-- kshot.dataset: TensorDataset, Subset, DataLoader (bindings/lua/kshot/dataset.lua).
local ks = require "kshot"
local D = require "kshot.dataset"

local function collect(loader)
  local xs, ys = {}, {}
  for x, y in loader:iter() do
    xs[#xs + 1] = x:totable()
    ys[#ys + 1] = y and y:totable()
  end
  return xs, ys
end

describe("TensorDataset", function()
  local x = ks.arange(10):float():view(5, 2)
  local y = ks.tensor({ 0, 1, 0, 1, 2 }, "int64")

  it("indexes rows of every tensor (0-based)", function()
    local ds = D.TensorDataset(x, y)
    assert.equal(5, #ds)
    assert.equal(5, ds:len())
    local xi, yi = ds:get(2)
    assert.same({ 4, 5 }, xi:totable())
    assert.equal(0, yi:item())
    local xb, yb = ds:gather(ks.tensor({ 4, 0 }, "int64"))
    assert.same({ { 8, 9 }, { 0, 1 } }, xb:totable())
    assert.same({ 2, 0 }, yb:totable())
  end)

  it("rejects mismatched sizes and non-tensors", function()
    local ok, err = pcall(D.TensorDataset, x, ks.zeros({ 4 }))
    assert.is_false(ok)
    assert.truthy(err:find("[5, 2]", 1, true) and err:find("[4]", 1, true), err)
    ok, err = pcall(D.TensorDataset, x, { 1, 2 })
    assert.truthy(err:find("argument #2 must be a kshot.Tensor"))
    ok, err = pcall(D.TensorDataset)
    assert.truthy(err:find("at least one tensor"))
    ok, err = pcall(D.TensorDataset(x, y).get, D.TensorDataset(x, y), 5)
    assert.truthy(err:find("index 5 out of range %[0, 5%)"))
  end)
end)

describe("Subset", function()
  local x = ks.arange(6):float()
  local y = ks.arange(6) * 10
  local ds = D.TensorDataset(x, y)

  it("selects rows by a list or an int64 tensor", function()
    local s = D.Subset(ds, { 5, 1, 3 })
    assert.equal(3, #s)
    local xi, yi = s:get(0)
    assert.equal(5, xi:item())
    assert.equal(50, yi:item())
    local xb, yb = s:gather(ks.tensor({ 2, 1 }, "int64"))
    assert.same({ 3, 1 }, xb:totable())
    assert.same({ 30, 10 }, yb:totable())
    local s2 = D.Subset(s, ks.tensor({ 1 }, "int64")) -- nested
    assert.equal(1, s2:get(0):item())
  end)

  it("rejects out-of-range and non-integer indices", function()
    local ok, err = pcall(D.Subset, ds, { 0, 6 })
    assert.truthy(err:find("index 6 out of range for a dataset of 6 rows"), err)
    ok, err = pcall(D.Subset, ds, { -1 })
    assert.truthy(err:find("index %-1 out of range"), err)
    ok, err = pcall(D.Subset, ds, { 1.5 })
    assert.truthy(err:find("indices%[1%] is not an integer"))
    ok, err = pcall(D.Subset, ds, ks.zeros({ 2 }))
    assert.truthy(err:find("1%-D int64 tensor"))
    ok, err = pcall(D.Subset, 5, { 1 })
    assert.truthy(err:find("dataset expected"))
  end)
end)

describe("DataLoader", function()
  local x = ks.arange(10):float()
  local y = ks.arange(10)
  local ds = D.TensorDataset(x, y)

  it("batches in order without shuffle; #loader counts batches", function()
    local loader = D.DataLoader(ds, { batch_size = 4 })
    assert.equal(3, #loader)
    local xs, ys = collect(loader)
    assert.same({ { 0, 1, 2, 3 }, { 4, 5, 6, 7 }, { 8, 9 } }, xs)
    assert.same({ { 0, 1, 2, 3 }, { 4, 5, 6, 7 }, { 8, 9 } }, ys)
    local dl = D.DataLoader(ds, { batch_size = 4, drop_last = true })
    assert.equal(2, #dl)
    assert.same({ { 0, 1, 2, 3 }, { 4, 5, 6, 7 } }, (collect(dl)))
    assert.equal(10, #D.DataLoader(ds))
  end)

  it("shuffles with its own generator: a seed repeats, epochs differ, every row once", function()
    local a = D.DataLoader(ds, { batch_size = 3, shuffle = true, seed = 7 })
    local b = D.DataLoader(ds, { batch_size = 3, shuffle = true, seed = 7 })
    local e1, e2 = collect(a), collect(a)
    assert.same(e1, (collect(b)))
    assert.are_not.same(e1, e2)
    local seen = {}
    for _, batch in ipairs(e1) do for _, v in ipairs(batch) do seen[#seen + 1] = v end end
    table.sort(seen)
    assert.same({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, seen)
    -- the same order as ks.randperm with a generator of that seed
    local perm = ks.randperm(10, { generator = ks.Generator(7) }):totable()
    assert.same({ perm[1], perm[2], perm[3] }, e1[1])
  end)

  it("never shifts the default random stream while iterating", function()
    local loader = D.DataLoader(ds, { batch_size = 4, shuffle = true, seed = 1 })
    ks.manual_seed(123)
    local want = ks.rand({ 3 }):totable()
    ks.manual_seed(123)
    for _ in loader:iter() do end
    assert.same(want, ks.rand({ 3 }):totable())
  end)

  it("accepts a generator and advances it", function()
    local g = ks.Generator(5)
    local loader = D.DataLoader(ds, { batch_size = 10, shuffle = true, generator = g })
    local first = collect(loader)[1]
    assert.same(ks.randperm(10, { generator = ks.Generator(5) }):totable(), first)
  end)

  it("applies the transform to each batch", function()
    local loader = D.DataLoader(ds, { batch_size = 5, transform = function(xb, yb) return xb * 2, yb + 1 end })
    local xs, ys = collect(loader)
    assert.same({ { 0, 2, 4, 6, 8 }, { 10, 12, 14, 16, 18 } }, xs)
    assert.same({ { 1, 2, 3, 4, 5 }, { 6, 7, 8, 9, 10 } }, ys)
  end)

  it("keeps the values a transform does not return, and takes an augment pipeline", function()
    -- torchvision habit: a transform of the images alone; the labels must not vanish
    local xs, ys = collect(D.DataLoader(ds, { batch_size = 5, transform = function(xb) return xb * 2 end }))
    assert.same({ { 0, 2, 4, 6, 8 }, { 10, 12, 14, 16, 18 } }, xs)
    assert.same({ { 0, 1, 2, 3, 4 }, { 5, 6, 7, 8, 9 } }, ys)
    local imgs = D.TensorDataset(ks.arange(8):float():view(2, 1, 2, 2), ks.tensor({ 3, 4 }, "int64"))
    local A = require "kshot.augment"
    local flip = A.compose({ A.random_horizontal_flip { p = 1 } }, { seed = 0 })
    local xb, yb = D.DataLoader(imgs, { batch_size = 2, transform = flip }):iter()()
    assert.same({ { { { 1, 0 }, { 3, 2 } } }, { { { 5, 4 }, { 7, 6 } } } }, xb:totable())
    assert.same({ 3, 4 }, yb:totable())
    local ok, err = pcall(D.DataLoader, ds, { transform = 3 })
    assert.is_false(ok)
    assert.matches("transform must be a function or a callable table %(an augment pipeline%), got number", err)
  end)

  it("batches plain values as torch's default_collate: integers int64, floats float32, booleans bool", function()
    local rows = D.Dataset { len = function() return 3 end,
      get = function(_, i) return ks.full({ 2 }, i + 0.0), i, i + 0.5, i % 2 == 0, { i, -i } end }
    local xb, yb, fb, bb, tb = D.DataLoader(rows, { batch_size = 3 }):iter()()
    assert.equal("float32", xb:dtype())
    assert.equal("int64", yb:dtype())
    assert.same({ 0, 1, 2 }, yb:totable())
    assert.equal("float32", fb:dtype())
    assert.same({ 0.5, 1.5, 2.5 }, fb:totable())
    assert.equal("bool", bb:dtype())
    assert.same({ true, false, true }, bb:totable())
    assert.same({ { 0, 0 }, { 1, -1 }, { 2, -2 } }, tb:totable())
    -- an integer label column goes straight into cross_entropy (it used to be float32 and raise)
    local loss = ks.functional.cross_entropy(ks.zeros(3, 4), yb)
    assert.near(math.log(4), loss:item(), 1e-6)
    -- one float in an integer column makes it float32, as the values are not all labels
    local mixed = D.Dataset { len = function() return 2 end, get = function(_, i) return i == 0 and 1 or 2.5 end }
    assert.equal("float32", D.DataLoader(mixed, { batch_size = 2 }):iter()():dtype())
    local bad = D.Dataset { len = function() return 2 end, get = function(_, i) return i == 0 and 1 or ks.tensor(1) end }
    local ok, err = pcall(D.DataLoader(bad, { batch_size = 2 }):iter())
    assert.is_false(ok)
    assert.matches("get%(1%) returned a tensor as value 1 where earlier rows gave a number", err)
  end)

  it("batches a Subset and a dataset that only has get(i)", function()
    local sub = D.Subset(ds, { 9, 8, 7 })
    assert.same({ { 9, 8 }, { 7 } }, (collect(D.DataLoader(sub, { batch_size = 2 }))))
    local plain = { len = function() return 3 end, get = function(_, i) return ks.tensor({ i, i }), i * 10 end }
    local xs, ys = collect(D.DataLoader(plain, { batch_size = 2 }))
    assert.same({ { { 0, 0 }, { 1, 1 } }, { { 2, 2 } } }, xs)
    assert.same({ { 0, 10 }, { 20 } }, ys)
  end)

  it("is reachable as ks.data.DataLoader and handles empty datasets", function()
    assert.equal(2, #ks.data.DataLoader(ks.data.TensorDataset(ks.zeros({ 3 })), { batch_size = 2 }))
    local empty = D.TensorDataset(ks.zeros({ 0, 2 }))
    local loader = D.DataLoader(empty, { batch_size = 2, shuffle = true, seed = 1 })
    assert.equal(0, #loader)
    assert.same({}, (collect(loader)))
  end)

  it("rejects bad options", function()
    local ok, err = pcall(D.DataLoader, ds, { batch_size = 0 })
    assert.truthy(err:find("batch_size must be an integer >= 1"))
    ok, err = pcall(D.DataLoader, ds, { batch_size = 2.5 })
    assert.truthy(err:find("batch_size must be an integer"))
    ok, err = pcall(D.DataLoader, ds, { transform = 5 })
    assert.truthy(err:find("transform must be a function"))
    ok, err = pcall(D.DataLoader, ds, { seed = "x" })
    assert.truthy(err:find("seed must be an integer"))
    ok, err = pcall(D.DataLoader, ds, { shuffle = true, generator = 5 })
    assert.truthy(err:find("generator must be a kshot.Generator"))
    ok, err = pcall(D.DataLoader, ds, 3)
    assert.truthy(err:find("DataLoader: options must be a table, got number", 1, true), err)
    -- a misspelled option used to be ignored (batchsize = 5 gave batches of 1)
    ok, err = pcall(D.DataLoader, ds, { batchsize = 5 })
    assert.is_false(ok)
    assert.truthy(err:find("DataLoader: unknown option 'batchsize' (known: batch_size, shuffle, drop_last, "
      .. "generator, seed, transform, sampler, collate_fn, num_workers, pin_memory); did you mean 'batch_size'?", 1,
      true), err)
    ok, err = pcall(D.DataLoader, nil)
    assert.truthy(err:find("dataset expected"))
    -- torch's reflexive num_workers = 0 / pin_memory = false are accepted; what kshot cannot do is an error
    assert.equal(5, #D.DataLoader(ds, { batch_size = 2, num_workers = 0, pin_memory = false }))
    ok, err = pcall(D.DataLoader, ds, { num_workers = 4 })
    assert.truthy(err:find("num_workers must be 0, got 4: kshot makes batches in the calling thread", 1, true), err)
    ok, err = pcall(D.DataLoader, ds, { pin_memory = true })
    assert.truthy(err:find("pin_memory must be false, got true: kshot runs on the CPU only", 1, true), err)
  end)

  it("a custom dataset whose len() or get(i) returns the wrong kind is a clear error", function()
    local function custom(len, get) return { len = function() return len end, get = get or function(_, i) return ks.tensor(i) end } end
    local ok, err = pcall(function() local l = D.DataLoader(custom("x"), { batch_size = 2 }); return l end)
    assert.is_false(ok)
    assert.matches("dataloader_spec.lua:%d+: DataLoader: the dataset's len%(%) must return an integer >= 0, got string x", err)
    ok, err = pcall(D.DataLoader, custom(-3))
    assert.matches("len%(%) must return an integer >= 0, got %-3", err)
    ok, err = pcall(D.DataLoader, custom(2.5))
    assert.matches("len%(%) must return an integer >= 0, got 2.5", err)
    ok, err = pcall(D.Subset, custom("x"), { 0 })
    assert.matches("Subset: the dataset's len%(%) must return an integer", err)
    local it = D.DataLoader(custom(2, function() return nil end), { batch_size = 2 }):iter()
    ok, err = pcall(it)
    assert.matches("DataLoader: the dataset's get%(0%) returned a nil as value 1", err)
    assert.same({ 0, 1 }, D.DataLoader(custom(2.0), { batch_size = 2 }):iter()():totable())
  end)
end)
