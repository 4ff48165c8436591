-- Small-sample samplers: episodes, stratified k-fold, train/val splits, nested learning-curve subsets.
local ks = require "kshot"

local fixture = require "spec.helpers.sampling_fixture"
local err_of = fixture.err_of
-- 5 classes with 7, 4, 9, 5, 6 rows, interleaved
local LIST = fixture.interleaved_labels()
local labels = ks.tensor(LIST, "int64")

local function set_of(t)
  local s = {}
  for _, v in ipairs(t:totable()) do
    assert.is_nil(s[v], "row " .. v .. " twice")
    s[v] = true
  end
  return s
end

describe("ks.data.episode", function()
  it("draws N classes, K support and Q query rows per class, disjoint, relabelled 0..N-1", function()
    local si, sl, qi, ql, cl = ks.data.episode(labels, { way = 3, shot = 2, query = 2, seed = 1 })
    assert.same({ 6 }, si:shape())
    assert.same({ 6 }, qi:shape())
    assert.same({ 0, 0, 1, 1, 2, 2 }, sl:totable())
    assert.same({ 0, 0, 1, 1, 2, 2 }, ql:totable())
    local classes = cl:totable()
    assert.equal(3, #classes)
    set_of(cl)
    local s, q = set_of(si), set_of(qi)
    for r in pairs(s) do assert.is_nil(q[r], "support and query overlap") end
    for i, r in ipairs(si:totable()) do assert.equal(classes[sl[i - 1]:item() + 1], LIST[r + 1]) end
    for i, r in ipairs(qi:totable()) do assert.equal(classes[ql[i - 1]:item() + 1], LIST[r + 1]) end
  end)

  it("is reproducible from a seed, differs across seeds, and a generator advances", function()
    local a = { ks.data.episode(labels, { way = 3, shot = 1, query = 3, seed = 7 }) }
    local b = { ks.data.episode(labels, { way = 3, shot = 1, query = 3, seed = 7 }) }
    for i = 1, 5 do assert.same(a[i]:totable(), b[i]:totable()) end
    local differs = false
    for seed = 8, 12 do
      local c = { ks.data.episode(labels, { way = 3, shot = 1, query = 3, seed = seed }) }
      differs = differs or not (c[1]:eq(a[1]):all():item() and c[3]:eq(a[3]):all():item()
        and c[5]:eq(a[5]):all():item())
    end
    assert.is_true(differs)
    local g = ks.Generator(7)
    local e1 = ks.data.episode(labels, { way = 5, shot = 2, query = 2, generator = g })
    local e2 = ks.data.episode(labels, { way = 5, shot = 2, query = 2, generator = g })
    assert.is_false(e1:eq(e2):all():item())
  end)

  it("restricts to the given classes and draws query rows from a separate pool", function()
    local _, _, _, _, cl = ks.data.episode(labels, { way = 2, shot = 1, classes = { 4, 1 }, seed = 3 })
    local got = cl:totable()
    table.sort(got)
    assert.same({ 1, 4 }, got)
    local qpool = ks.tensor({ 1, 1, 4, 4, 4, 0 }, "int64")
    local si, sl, qi, ql, c2 = ks.data.episode(labels,
      { way = 2, shot = 3, query = 2, classes = { 1, 4 }, query_labels = qpool, seed = 3 })
    local qlist = qpool:totable()
    for i, r in ipairs(qi:totable()) do assert.equal(c2[ql[i - 1]:item()]:item(), qlist[r + 1]) end
    for i, r in ipairs(si:totable()) do assert.equal(c2[sl[i - 1]:item()]:item(), LIST[r + 1]) end
  end)

  it("rejects N larger than the number of classes and classes too small, naming them", function()
    assert.matches("way = 6 is larger than the number of classes %(5%)",
      err_of(ks.data.episode, labels, { way = 6, shot = 1, seed = 1 }))
    assert.matches("class 1 has 4 examples, fewer than shot %+ query = 5",
      err_of(ks.data.episode, labels, { way = 2, shot = 2, query = 3, seed = 1 }))
    assert.matches("class 4 has 3 examples in query_labels, fewer than query = 4",
      err_of(ks.data.episode, labels, { way = 1, shot = 1, query = 4, classes = { 4 },
        query_labels = ks.tensor({ 4, 4, 4 }, "int64"), seed = 1 }))
    assert.matches("'way' is required", err_of(ks.data.episode, labels, { shot = 1, seed = 1 }))
    assert.matches("seed", err_of(ks.data.episode, labels, { way = 2, shot = 1 }))
    assert.matches("kshot.Tensor expected", err_of(ks.data.episode, nil, { way = 2, shot = 1, seed = 1 }))
    assert.matches("1%-D int64", err_of(ks.data.episode, ks.zeros(3), { way = 1, shot = 1, seed = 1 }))
  end)

  it("leaves the default random stream (ks.randn) unchanged", function()
    ks.manual_seed(5)
    local a = ks.randn(4):totable()
    ks.manual_seed(5)
    ks.data.episode(labels, { way = 3, shot = 1, query = 1, generator = ks.Generator(1) })
    ks.data.stratified_kfold(labels, 3, { seed = 2 })
    ks.data.learning_curve_subsets(labels, { 1, 2 }, { seed = 3 })
    assert.same(a, ks.randn(4):totable())
  end)
end)

describe("ks.data.stratified_kfold", function()
  it("folds partition the data with balanced class counts", function()
    local folds = ks.data.stratified_kfold(labels, 3, { seed = 1 })
    assert.equal(3, #folds)
    local seen = {}
    for _, f in ipairs(folds) do
      local tr, va = set_of(f.train), set_of(f.val)
      for r in pairs(va) do
        assert.is_nil(tr[r])
        assert.is_nil(seen[r], "row in two validation folds")
        seen[r] = true
      end
      assert.equal(#LIST, f.train:numel() + f.val:numel())
      -- per class: the count in each validation fold is floor or ceil of n_c / 3
      local count = {}
      for r in pairs(va) do count[LIST[r + 1]] = (count[LIST[r + 1]] or 0) + 1 end
      for c, n in ipairs({ 7, 4, 9, 5, 6 }) do
        local k = count[c - 1] or 0
        assert.is_true(k == n // 3 or k == (n + 2) // 3, "class " .. (c - 1))
      end
      assert.is_true(f.val:numel() == #LIST // 3 or f.val:numel() == #LIST // 3 + 1)
    end
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.equal(#LIST, n)
  end)

  it("repeats draw new shuffles; indices= folds a subset", function()
    local folds = ks.data.repeated_stratified_kfold(labels, 2, 3, { seed = 4 })
    assert.equal(6, #folds)
    assert.is_false(folds[1].val:numel() == folds[3].val:numel() and folds[1].val:eq(folds[3].val):all():item()
      and folds[1].val:eq(folds[5].val):all():item())
    local subset = ks.tensor({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, "int64")
    for _, f in ipairs(ks.data.stratified_kfold(labels, 2, { seed = 1, indices = subset })) do
      for _, r in ipairs(f.val:totable()) do assert.is_true(r < 10) end
      assert.equal(10, f.train:numel() + f.val:numel())
    end
  end)

  it("rejects bad k and bad subsets", function()
    assert.matches("k must be in %[2", err_of(ks.data.stratified_kfold, labels, 1, { seed = 1 }))
    assert.matches("k must be in %[2", err_of(ks.data.stratified_kfold, labels, 32, { seed = 1 }))
    assert.matches("outside", err_of(ks.data.stratified_kfold, labels, 2,
      { seed = 1, indices = ks.tensor({ 0, 99 }, "int64") }))
    assert.matches("listed twice", err_of(ks.data.stratified_kfold, labels, 2,
      { seed = 1, indices = ks.tensor({ 3, 3, 4 }, "int64") }))
    assert.matches("repeats must be", err_of(ks.data.repeated_stratified_kfold, labels, 2, 0, { seed = 1 }))
  end)
end)

describe("ks.data.train_val_split", function()
  it("splits a subset per class, keeping at least one row of each class in train", function()
    local subset = ks.tensor({ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14 }, "int64")
    local tr, va = ks.data.train_val_split(labels, subset, { val_count = 2, seed = 3 })
    local t, v = set_of(tr), set_of(va)
    local ct, cv = {}, {}
    for r in pairs(t) do assert.is_nil(v[r]); assert.is_true(r < 15); ct[LIST[r + 1]] = (ct[LIST[r + 1]] or 0) + 1 end
    for r in pairs(v) do assert.is_true(r < 15); cv[LIST[r + 1]] = (cv[LIST[r + 1]] or 0) + 1 end
    assert.equal(15, tr:numel() + va:numel())
    for c = 0, 4 do
      assert.is_true((ct[c] or 0) >= 1, "class " .. c .. " in train")
      assert.equal(math.min(2, 3 - 1), cv[c]) -- 15 interleaved rows: 3 per class
    end
    local tr2, va2 = ks.data.train_val_split(labels, nil, { val = 0.5, seed = 3 })
    assert.equal(#LIST, tr2:numel() + va2:numel())
    assert.equal(4 + 2 + 5 + 3 + 3, va2:numel()) -- round(n_c / 2) per class
  end)

  it("rejects a bad fraction", function()
    assert.matches("fraction", err_of(ks.data.train_val_split, labels, nil, { val = 1.5, seed = 1 }))
  end)
end)

describe("ks.data.learning_curve_subsets", function()
  it("gives exactly K per class, nested", function()
    local sub = ks.data.learning_curve_subsets(labels, { 1, 2, 4 }, { seed = 9 })
    local prev
    for _, K in ipairs({ 1, 2, 4 }) do
      local s = set_of(sub[K])
      local count = {}
      for r in pairs(s) do count[LIST[r + 1]] = (count[LIST[r + 1]] or 0) + 1 end
      for c = 0, 4 do assert.equal(K, count[c]) end
      if prev then for r in pairs(prev) do assert.is_true(s[r], "nested") end end
      prev = s
    end
  end)

  it("rejects K larger than a class has, naming the class", function()
    assert.matches("class 1 has 4 examples, fewer than k = 5",
      err_of(ks.data.learning_curve_subsets, labels, { 1, 5 }, { seed = 1 }))
    assert.matches("K values must be integers", err_of(ks.data.learning_curve_subsets, labels, { 1.5 }, { seed = 1 }))
  end)
end)

describe("sampler options tables", function()
  it("reject unknown keys (C bindings), naming the function and the known keys", function()
    local e = err_of(ks.data.kshot_indices, labels, 1, { sed = 1 })
    assert.truthy(e:find("kshot_indices: unknown option 'sed' (known: seed, generator, classes); did you mean 'seed'?",
      1, true), e)
    e = err_of(ks.data.episode, labels, { way = 2, shot = 1, querry = 1, seed = 1 })
    assert.truthy(e:find("episode: unknown option 'querry'", 1, true) and e:find("did you mean 'query'?", 1, true), e)
    e = err_of(ks.data.stratified_kfold, labels, 2, { seed = 1, repeat_count = 2 })
    assert.truthy(e:find("stratified_kfold: unknown option 'repeat_count' (known: seed, generator, indices, repeats)",
      1, true), e)
    e = err_of(ks.data.train_val_split, labels, nil, { val_frac = 0.5 })
    assert.truthy(e:find("train_val_split: unknown option 'val_frac' (known: val, val_count, seed, generator)", 1, true), e)
    e = err_of(ks.data.learning_curve_subsets, labels, { 1 }, { seed = 1, klasses = { 0 } })
    assert.truthy(e:find("learning_curve_subsets: unknown option 'klasses'", 1, true), e)
    e = err_of(ks.data.repeated_stratified_kfold, labels, 2, 2, { sed = 1 })
    assert.truthy(e:find("repeated_stratified_kfold: unknown option 'sed'", 1, true), e)
    local ok, msg = pcall(function() ks.data.kshot_indices(labels, 1, { sed = 1 }) end)
    assert.truthy(msg:find("data_samplers_spec.lua:%d+: kshot_indices"), msg) -- the caller's line
  end)

  it("say what to pass when the options table (with the seed) is missing (h62: was 'table expected, got no value')", function()
    local hint = "pass {seed=n} or {generator=g} (data draws use their own random stream)"
    local e = err_of(ks.data.kshot_indices, labels, 1)
    assert.truthy(e:find("kshot_indices: options table expected as argument #3, got no value: " .. hint, 1, true), e)
    e = err_of(ks.data.train_val_split, labels, nil)
    assert.truthy(e:find("train_val_split: options table expected as argument #3, got no value: " .. hint, 1, true), e)
    e = err_of(ks.data.stratified_kfold, labels, 2, nil)
    assert.truthy(e:find("stratified_kfold: options table expected as argument #3, got nil: " .. hint, 1, true), e)
    e = err_of(ks.data.kshot_indices, labels, 1, 7) -- a bare seed is not the options table
    assert.truthy(e:find("kshot_indices: options table expected as argument #3, got number", 1, true), e)
  end)
end)
