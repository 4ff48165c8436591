-- Stratified K-per-class sampler: ks.data.kshot_indices(labels, k, {seed=|generator=, classes=}).
local ks = require "kshot"

-- an int64 label tensor from a Lua list, via a small IDX file (works without
-- any creation op); uint8 labels widened with :long()
local tmpfiles = {}
local function labels_of(list, dtype)
  local parts = { string.pack(">BBBBI4", 0, 0, 0x08, 1, #list) }
  for _, v in ipairs(list) do parts[#parts + 1] = string.pack("B", v) end
  local path = os.tmpname()
  tmpfiles[#tmpfiles + 1] = path
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(parts))
  f:close()
  local t = ks.data.read_idx(path)
  return dtype == "uint8" and t or t:long()
end

teardown(function()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
end)

local fixture = require "spec.helpers.sampling_fixture"
local err_of = fixture.err_of
-- 5 classes with 7, 4, 9, 5, 6 examples, interleaved
local LABELS = fixture.interleaved_labels()

local function check_kshot(idx, labels_list, k, classes)
  assert.equal("int64", idx:dtype())
  assert.same({ #classes * k }, idx:shape())
  local seen = {}
  for pos, i in ipairs(idx:totable()) do
    assert.is_true(i >= 0 and i < #labels_list, "index in range")
    assert.is_nil(seen[i], "index drawn twice")
    seen[i] = true
    -- grouped by ascending class: position pos belongs to class classes[(pos-1)//k + 1]
    assert.equal(classes[(pos - 1) // k + 1], labels_list[i + 1])
  end
end

describe("ks.data.kshot_indices", function()
  local labels = labels_of(LABELS)

  it("draws exactly k per class, grouped by ascending class", function()
    for _, k in ipairs { 0, 1, 2, 4 } do
      check_kshot(ks.data.kshot_indices(labels, k, { seed = 7 }), LABELS, k, { 0, 1, 2, 3, 4 })
    end
  end)

  it("takes every example of a class when k equals its count", function()
    local idx = ks.data.kshot_indices(labels, 4, { seed = 3, classes = { 1 } })
    local got = idx:totable()
    table.sort(got)
    local want = {}
    for i, v in ipairs(LABELS) do if v == 1 then want[#want + 1] = i - 1 end end
    assert.same(want, got)
  end)

  it("is reproducible from a seed, and different seeds differ", function()
    local a = ks.data.kshot_indices(labels, 3, { seed = 42 }):totable()
    assert.same(a, ks.data.kshot_indices(labels, 3, { seed = 42 }):totable())
    local differ = 0
    for s = 1, 5 do
      local b = ks.data.kshot_indices(labels, 3, { seed = 42 + s }):totable()
      if table.concat(a, ",") ~= table.concat(b, ",") then differ = differ + 1 end
    end
    assert.equal(5, differ)
  end)

  it("accepts uint8 labels and strided label views", function()
    local u8 = labels_of(LABELS, "uint8")
    assert.same(ks.data.kshot_indices(labels, 2, { seed = 5 }):totable(),
      ks.data.kshot_indices(u8, 2, { seed = 5 }):totable())
    -- every other label (a view with stride 2): indices refer to the view
    local n = #LABELS // 2
    local strided = labels:narrow(0, 0, 2 * n):view(n, 2):select(1, 0)
    assert.equal(2, strided:stride(0))
    local sub = {}
    for i = 1, n do sub[i] = LABELS[2 * i - 1] end
    check_kshot(ks.data.kshot_indices(strided, 1, { seed = 5 }), sub, 1, { 0, 1, 2, 3, 4 })
  end)

  it("gives nested subsets: the k = 1 draw starts the k = 3 draw", function()
    local one = ks.data.kshot_indices(labels, 1, { seed = 11 }):totable()
    local three = ks.data.kshot_indices(labels, 3, { seed = 11 }):totable()
    for c = 0, 4 do assert.equal(one[c + 1], three[3 * c + 1]) end
  end)

  it("draws a subset of classes, in ascending class order, like the full draw", function()
    local full = ks.data.kshot_indices(labels, 2, { seed = 9 }):totable()
    local idx = ks.data.kshot_indices(labels, 2, { seed = 9, classes = { 4, 0 } })
    check_kshot(idx, LABELS, 2, { 0, 4 })
    local got = idx:totable()
    -- a class's draw does not depend on which other classes are requested
    assert.same({ full[1], full[2], full[9], full[10] }, got)
    -- classes as an int64 tensor
    assert.same(got, ks.data.kshot_indices(labels, 2, { seed = 9, classes = labels_of { 0, 4 } }):totable())
  end)

  it("names the class and its count when k is too large", function()
    local msg = err_of(ks.data.kshot_indices, labels, 5, { seed = 1 })
    assert.truthy(msg:find("class 1 has 4 examples, fewer than k = 5", 1, true), msg)
    msg = err_of(ks.data.kshot_indices, labels, 1, { seed = 1, classes = { 2, 7 } })
    assert.truthy(msg:find("class 7 has 0 examples, fewer than k = 1", 1, true), msg)
  end)

  it("rejects bad arguments with clear messages", function()
    assert.truthy(err_of(ks.data.kshot_indices):find("bad argument #1", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, "x", 1, { seed = 1 }):find("kshot.Tensor expected", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, "a", { seed = 1 }):find("bad argument #2", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1.5, { seed = 1 }):find("bad argument #2", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1):find("argument #3, got no value: pass {seed=n}", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1, {}):find("pass {seed=n} or {generator=g}", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1, { seed = "x" }):find("'seed' must be an integer", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1, { generator = 3 }):find("kshot.Generator", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, -1, { seed = 1 }):find("k must be >= 0, got -1", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1, { seed = 1, classes = { 1, 1 } })
      :find("class 1 is listed twice", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1, { seed = 1, classes = { -2 } })
      :find("class -2 is negative", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1, { seed = 1, classes = { "a" } })
      :find("classes[1] is not an integer", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels, 1, { seed = 1, classes = 3 })
      :find("'classes' must be a list of integers", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels:float(), 1, { seed = 1 })
      :find("labels must be an int64 or uint8 tensor, got float32", 1, true))
    assert.truthy(err_of(ks.data.kshot_indices, labels:reshape(#LABELS, 1), 1, { seed = 1 })
      :find("labels must be 1-D, got shape [31, 1]", 1, true))
    local closed = labels:clone()
    closed:close()
    assert.truthy(err_of(ks.data.kshot_indices, closed, 1, { seed = 1 }):find("released", 1, true))
  end)

  it("rejects negative labels naming the position", function()
    local path = os.tmpname()
    tmpfiles[#tmpfiles + 1] = path
    local f = assert(io.open(path, "wb"))
    f:write(string.pack(">BBBBI4bbb", 0, 0, 0x09, 1, 3, 0, -1, 1)) -- int8 labels {0, -1, 1}
    f:close()
    local msg = err_of(ks.data.kshot_indices, ks.data.read_idx(path), 1, { seed = 1 })
    assert.truthy(msg:find("negative label -1 at index 1", 1, true), msg)
  end)

  it("takes its stream from a kshot.Generator and advances it", function()
    if not ks.Generator then
      pending("ks.Generator is not available yet")
      return
    end
    local g = ks.Generator(42)
    local a = ks.data.kshot_indices(labels, 2, { generator = g }):totable()
    local b = ks.data.kshot_indices(labels, 2, { generator = g }):totable()
    assert.are_not.same(a, b)
    -- a fresh generator with the same seed replays the same draws, like {seed=}
    local g2 = ks.Generator(42)
    assert.same(a, ks.data.kshot_indices(labels, 2, { generator = g2 }):totable())
    assert.same(a, ks.data.kshot_indices(labels, 2, { seed = 42 }):totable())
  end)
end)

describe("stratified_kfold repeats", function()
  local y = ks.tensor({ 0, 0, 0, 1, 1, 1, 2, 2, 2 }, "int64")
  it("are bounded to [1, 2^20] before any work, the value reported as given", function()
    for _, r in ipairs { -(1 << 32), 0, 1 << 32, (1 << 20) + 1 } do
      local msg = err_of(ks.data.stratified_kfold, y, 2, { seed = 1, repeats = r })
      assert.truthy(msg:find(("stratified_kfold: option 'repeats' must be in [1, 1048576] (2^20), got %d"):format(r),
        1, true), msg)
    end
    local msg = err_of(ks.data.repeated_stratified_kfold, y, 2, 1 << 40, { seed = 1 })
    assert.truthy(msg:find("repeats must be an integer in [1, 1048576] (2^20), got 1099511627776", 1, true), msg)
    msg = err_of(ks.data.train_val_split, y, nil, { val_count = -(1 << 32), seed = 1 })
    assert.truthy(msg:find("option 'val_count' must be >= 0, got -4294967296", 1, true), msg)
    assert.equal(6, #ks.data.stratified_kfold(y, 2, { seed = 1, repeats = 3 }))
  end)
end)

describe("kshot_indices on Fashion-MNIST", function()
  local have = io.open("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz", "rb")
  if have then have:close() end
  if not have then
    pending("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    return
  end
  it("draws 10 per class from the 60,000 training labels", function()
    local y = ks.data.read_idx("/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz"):long()
    local ylist = y:totable()
    local classes = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }
    check_kshot(ks.data.kshot_indices(y, 10, { seed = 0 }), ylist, 10, classes)
    assert.truthy(err_of(ks.data.kshot_indices, y, 6001, { seed = 0 })
      :find("class 0 has 6000 examples, fewer than k = 6001", 1, true))
  end)
end)
