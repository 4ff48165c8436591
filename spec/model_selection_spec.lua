-- kshot.model_selection: cross-validation and inner-CV selection
local ks = require "kshot"
local ms = require "kshot.model_selection"
local stats = require "kshot.stats"

-- 3 classes on a line with noise; rows 0..59 labelled pool (20 per class),
-- rows 60..209 a test set sharing the SAME labels tensor
local function make_data()
  local draw = stats.rng(42)
  local x, y = {}, {}
  for i = 0, 209 do
    local c = i % 3
    y[i + 1] = c
    x[i + 1] = c * 1.0 + (draw(1000) - 500) / 400 -- noise in [-1.25, 1.25]
  end
  local pool = {}
  for i = 0, 59 do pool[#pool + 1] = i end
  return x, y, ks.tensor(pool, "int64")
end

-- k-NN on the 1-D feature; reads labels only at the rows it is given
local function knn_predict(x, labels, train_rows, k, row)
  local tr = train_rows:totable()
  table.sort(tr, function(a, b)
    local da, db = math.abs(x[a + 1] - x[row + 1]), math.abs(x[b + 1] - x[row + 1])
    if da ~= db then return da < db end
    return a < b
  end)
  local votes = { 0, 0, 0 }
  for i = 1, math.min(k, #tr) do
    local c = labels[tr[i]]:item()
    votes[c + 1] = votes[c + 1] + 1
  end
  local best = 1
  for c = 2, 3 do if votes[c] > votes[best] then best = c end end
  return best - 1
end

local function knn_recipe(x, labels)
  return function(cfg, train_rows, val_rows)
    local hit, n = 0, 0
    for _, r in ipairs(val_rows:totable()) do
      hit = hit + (knn_predict(x, labels, train_rows, cfg.k, r) == labels[r]:item() and 1 or 0)
      n = n + 1
    end
    return { accuracy = hit / n }
  end
end

describe("kshot.model_selection", function()
  it("expands grids in a fixed order", function()
    local g = ms.expand_grid { lr = { 0.1, 0.01 }, wd = { 0, 1 } }
    assert.same({ { lr = 0.1, wd = 0 }, { lr = 0.1, wd = 1 }, { lr = 0.01, wd = 0 }, { lr = 0.01, wd = 1 } }, g)
    assert.same({ { a = 1 } }, ms.expand_grid { a = 1 })
    assert.same({ {} }, ms.expand_grid {})
    local list = { { a = 2 }, { a = 1 } }
    assert.equal(list, ms.expand_grid(list))
    assert.equal("lr=0.1,wd=0", ms.config_key { wd = 0, lr = 0.1 })
  end)

  it("cross_validate partitions the allowed rows, stratified, seeded", function()
    local _, y, pool = make_data()
    local labels = ks.tensor(y, "int64")
    local seen, calls = {}, 0
    local cv = ms.cross_validate(function(tr, va, info)
      calls = calls + 1
      assert.equal(60, tr:numel() + va:numel())
      local counts = { 0, 0, 0 }
      for _, r in ipairs(va:totable()) do
        assert.is_true(r < 60, "only pool rows")
        assert.is_nil(seen[info["repeat"] .. ":" .. r], "each row validated once per repeat")
        seen[info["repeat"] .. ":" .. r] = true
        counts[labels[r]:item() + 1] = counts[labels[r]:item() + 1] + 1
      end
      assert.same({ 4, 4, 4 }, counts) -- 20 per class / 5 folds
      return info.fold * 10 + info["repeat"]
    end, { labels = labels, indices = pool }, { folds = 5, repeats = 2, seed = 3 })
    assert.equal(10, calls)
    assert.equal(10, #cv.folds)
    assert.same({ "score" }, cv.names)
    assert.equal(2, cv.folds[6]["repeat"])
    assert.equal(1, cv.folds[6].fold)
    assert.near((11 + 21 + 31 + 41 + 51 + 12 + 22 + 32 + 42 + 52) / 10, cv.mean.score, 1e-12)
    assert.equal("t", cv.summary.score.method)
    -- the same seed gives the same folds; repeats differ
    local a = ms.folds({ labels = labels, indices = pool }, { folds = 5, repeats = 2, seed = 3 })
    local b = ms.folds({ labels = labels, indices = pool }, { folds = 5, repeats = 2, seed = 3 })
    assert.same(a[1].val:totable(), b[1].val:totable())
    assert.are_not.same(a[1].val:totable(), a[6].val:totable())
    -- unstratified folds partition too
    local p = ms.folds({ labels = labels, indices = pool }, { folds = 4, stratified = false, seed = 1 })
    local all = {}
    for _, f in ipairs(p) do
      assert.equal(15, f.val:numel())
      for _, r in ipairs(f.val:totable()) do all[#all + 1] = r end
    end
    table.sort(all)
    assert.same(pool:totable(), all)
  end)

  it("select picks by inner CV and never looks at test labels", function()
    local x, y, pool = make_data()
    local grid = { k = { 1, 3, 7, 15 } }
    local function run(ylist)
      local labels = ks.tensor(ylist, "int64")
      local best, res = ms.select(knn_recipe(x, labels), grid, { labels = labels, indices = pool },
        { folds = 4, repeats = 2, seed = 11 })
      -- final test accuracy of the chosen config, trained on the whole pool
      local hit = 0
      for r = 60, 209 do
        hit = hit + (knn_predict(x, labels, pool, best.k, r) == labels[r]:item() and 1 or 0)
      end
      local scores = {}
      for i, c in ipairs(res.configs) do scores[i] = c.score end
      return best, scores, hit / 150, res
    end
    local best, scores, test_acc, res = run(y)
    assert.equal(4, #res.configs)
    assert.equal(res.configs[res.best].config, best)
    for _, s in ipairs(scores) do assert.is_true(s <= scores[res.best]) end
    -- permute the TEST labels (rows 60..209) with a seeded shuffle
    local perm, draw = {}, stats.rng(5)
    for i = 1, #y do perm[i] = y[i] end
    for i = #y, 62, -1 do
      local j = 60 + draw(i - 60)
      perm[i], perm[j] = perm[j], perm[i]
    end
    local changed = 0
    for i = 61, #y do if perm[i] ~= y[i] then changed = changed + 1 end end
    assert.is_true(changed > 50)
    local best2, scores2, test_acc2 = run(perm)
    assert.same(best, best2)
    assert.same(scores, scores2) -- every CV score identical, bit for bit
    assert.are_not.equal(test_acc, test_acc2) -- while the test score did move
  end)

  it("warns, as scikit-learn does, when a class has fewer rows than stratified folds", function()
    local labels = ks.tensor({ 0, 0, 0, 0, 1, 1, 1, 1, 2, 2 }, "int64")
    local cv = ms.cross_validate(function() return 1 end, labels, { folds = 3 })
    assert.same({ "the least populated class (label 2) has only 2 rows, fewer than folds = 3: some validation folds "
      .. "have none of it" }, cv.warnings)
    assert.same({}, ms.cross_validate(function() return 1 end, labels, { folds = 2 }).warnings)
    assert.same({}, ms.cross_validate(function() return 1 end, labels, { folds = 3, stratified = false }).warnings)
    -- only the rows cross-validated count; select says it once for all its configs
    local _, info = ms.select(function() return 1 end, { a = { 1, 2 } },
      { labels = labels, indices = ks.tensor({ 0, 1, 2, 4, 5, 8 }, "int64") }, { folds = 2 })
    assert.same({ "the least populated class (label 2) has only 1 row, fewer than folds = 2: some validation folds "
      .. "have none of it" }, info.warnings)
    assert.equal(info.warnings, info.configs[1].cv.warnings)
  end)

  describe("bad inputs", function()
    it("are clear errors", function()
      local labels = ks.tensor({ 0, 1, 0, 1, 0, 1 }, "int64")
      assert.has_error(function() ms.expand_grid { lr = {} } end, "grid: option 'lr' has an empty list of values")
      assert.has_error(function() ms.select(function() return 1 end, { lr = {} }, labels) end,
        "grid: option 'lr' has an empty list of values")
      assert.has_error(function() ms.expand_grid(nil) end, "grid: a table expected, got nil")
      assert.has_error(function() ms.cross_validate(nil, labels) end,
        "cross_validate: recipe must be a function(train_rows, val_rows, info), got nil")
      assert.has_error(function() ms.cross_validate(function() return 1 end, labels, { folds = 1 }) end,
        "cross_validate: folds must be an integer >= 2, got 1")
      assert.has_error(function() ms.cross_validate(function() return 1 end, { 1, 2 }) end)
      local ok, e = pcall(function() local r = ms.cross_validate(function() return "high" end, labels, { folds = 2 })
        return r end)
      assert.is_false(ok)
      assert.matches("^[^\n]*model_selection_spec%.lua:%d+: cross_validate: the recipe must return a number or a table "
        .. "of numbers, got string %(fold 1 of repeat 1%)$", e)
      ok, e = pcall(function() local r = ms.cross_validate(function(_, _, info)
        return info.fold == 1 and { acc = 1, f1 = 1 } or { acc = 1 } end, labels, { folds = 2 }) return r end)
      assert.matches("^[^\n]*model_selection_spec%.lua:%d+: cross_validate: metric 'f1' is missing from some folds$", e)
      ok, e = pcall(ms.select, function() return { acc = 1 } end, { a = { 1 } }, labels, { folds = 2, metric = "f1" })
      assert.matches("did not report metric 'f1' %(it reported: acc%)", e)
    end)
    it("bounds repeats before any work, reporting the value as given", function()
      local labels = ks.tensor({ 0, 1, 0, 1, 0, 1 }, "int64")
      for _, strat in ipairs { true, false } do
        for _, r in ipairs { -(1 << 32), 0, 1 << 40 } do -- (1 << 40 used to loop ~forever)
          assert.has_error(function()
            ms.cross_validate(function() return 1 end, labels, { folds = 2, repeats = r, stratified = strat })
          end, ("cross_validate: repeats must be an integer in [1, 1048576] (2^20), got %d"):format(r))
        end
      end
      assert.has_error(function() ms.folds(labels, { folds = 2, repeats = 1 << 32 }) end,
        "folds: repeats must be an integer in [1, 1048576] (2^20), got 4294967296")
    end)
    it("bad data are raised at the caller's line, named after the function called", function()
      local labels = ks.tensor({ 0, 1, 0, 1, 0, 1 }, "int64")
      local function err_at(f)
        local ok, e = pcall(f)
        assert.is_false(ok)
        return e
      end
      local recipe = function() return 1 end
      local e = err_at(function() local r = ms.cross_validate(recipe, { labels = labels,
        indices = ks.tensor({ 0, 0, 1 }, "int64") }, { folds = 2 }) return r end)
      assert.truthy(e:find("^[^\n]*model_selection_spec%.lua:%d+: cross_validate: index 0 is listed twice$"), e)
      e = err_at(function() local r = ms.select(recipe, { a = { 1 } }, { labels = labels:float() }, { folds = 2 })
        return r end)
      assert.truthy(e:find("^[^\n]*model_selection_spec%.lua:%d+: select: labels must be a 1%-D int64 or uint8 "
        .. "tensor, got float32 %[6%]$"), e)
      e = err_at(function() local r = ms.folds(labels, { folds = 7 }) return r end)
      assert.truthy(e:find("^[^\n]*model_selection_spec%.lua:%d+: folds: folds must be in %[2, number of examples "
        .. "= 6%], got 7$"), e)
      e = err_at(function() local r = ms.cross_validate(recipe, { label = labels }) return r end)
      assert.truthy(e:find("^[^\n]*model_selection_spec%.lua:%d+: cross_validate: data must be a labels tensor"), e)
      e = err_at(function() local r = ms.select(recipe, { a = { 1 } }, labels, { folds = 1 }) return r end)
      assert.truthy(e:find("^[^\n]*model_selection_spec%.lua:%d+: select: folds must be an integer >= 2, got 1$"), e)
    end)
    it("config keys of nested table values are text, not an error", function()
      assert.equal("a=1+2,b={true},opt={{lr=1}}", ms.config_key { opt = { { lr = 1 } }, a = { 1, 2 }, b = { true } })
      assert.equal("layers=1+2", ms.config_key { layers = { 1, 2 } })
    end)
  end)
end)

describe("model_selection options", function()
  local y = ks.tensor({ 0, 1, 0, 1, 0, 1, 0, 1, 0, 1 }, "int64")
  local function err_of(f)
    local ok, e = pcall(f)
    assert.is_false(ok)
    return e
  end
  it("reject unknown keys in folds, cross_validate and select", function()
    local e = err_of(function() ms.folds(y, { fold = 2 }) end)
    assert.truthy(e:find("model_selection_spec.lua:%d+: folds: unknown option 'fold' %(known: folds, repeats, "
      .. "stratified, seed%); did you mean 'folds'%?"), e)
    e = err_of(function() ms.cross_validate(function() return 1 end, y, { folds = 2, sede = 1 }) end)
    assert.truthy(e:find("cross_validate: unknown option 'sede'", 1, true), e)
    e = err_of(function() ms.select(function() return 1 end, { a = { 1, 2 } }, y, { folds = 2, minimise = true }) end)
    assert.truthy(e:find("select: unknown option 'minimise'", 1, true) and e:find("did you mean 'minimize'?", 1, true), e)
    -- select's own options do not reach cross_validate's check
    local best = ms.select(function(c) return c.a end, { a = { 1, 2 } }, y, { folds = 2, minimize = true, metric = "score" })
    assert.equal(1, best.a)
  end)
end)
