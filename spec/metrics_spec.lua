-- kshot.metrics against hand-computed confusion matrices (incl. empty classes)
local ks = require "kshot"
local metrics = require "kshot.metrics"

local function near(a, b, tol) assert.is_true(math.abs(a - b) <= (tol or 1e-12), ("%.17g vs %.17g"):format(a, b)) end

-- 7 examples, 4 classes; class 3 is never predicted
local target = { 0, 0, 1, 1, 2, 2, 3 }
local pred = { 0, 1, 1, 1, 0, 2, 0 }

describe("kshot.metrics", function()
  it("is reachable as ks.metrics and require 'kshot.metrics'", function()
    assert.equal(metrics, ks.metrics)
    assert.is_function(ks.metrics.accuracy)
  end)

  it("counts the confusion matrix (row = true class, column = predicted)", function()
    local cm = metrics.confusion_matrix(pred, target)
    assert.same({ { 1, 1, 0, 0 }, { 0, 2, 0, 0 }, { 1, 0, 1, 0 }, { 1, 0, 0, 0 } }, cm.counts)
    assert.same({ 2, 2, 2, 1 }, cm.row_total)
    assert.same({ 3, 3, 1, 0 }, cm.col_total)
    assert.equal(7, cm.total)
    assert.equal("int64", cm.matrix:dtype())
    assert.same({ 4, 4 }, { cm.matrix:size(0), cm.matrix:size(1) })
  end)

  it("accepts tensors, uint8 labels and [N, C] scores (arg-max)", function()
    local cm = metrics.confusion_matrix(ks.tensor(pred, "int64"), ks.tensor(target, "uint8"))
    assert.same({ 1, 1, 0, 0 }, cm.counts[1])
    local scores = ks.tensor { { 0.9, 0.1 }, { 0.2, 0.8 }, { 0.3, 0.7 } }
    assert.near(2 / 3, metrics.accuracy(scores, { 0, 1, 0 }), 1e-12)
  end)

  it("prints a labelled table", function()
    local s = tostring(metrics.confusion_matrix(pred, target, { names = { "a", "b", "c", "dd" } }))
    assert.matches("rows: true class, columns: predicted class %(7 examples%)", s)
    assert.matches("true\\pred +a +b +c +dd +total", s)
    assert.matches("\n +a +1 +1 +0 +0 +2\n", s)
    assert.matches("\n +total +3 +3 +1 +0 +7$", s)
  end)

  it("computes accuracy, balanced accuracy, precision/recall/F1", function()
    near(4 / 7, metrics.accuracy(pred, target))
    near(0.5, metrics.balanced_accuracy(pred, target))
    local r = metrics.precision_recall_f1(pred, target)
    for i, v in ipairs { 1 / 3, 2 / 3, 1, 0 } do near(v, r.precision[i]) end
    for i, v in ipairs { 0.5, 1, 0.5, 0 } do near(v, r.recall[i]) end
    for i, v in ipairs { 0.4, 0.8, 2 / 3, 0 } do near(v, r.f1[i]) end
    assert.same({ 2, 2, 2, 1 }, r.support)
    near(0.5, r.macro.precision)
    near(0.5, r.macro.recall)
    near(7 / 15, r.macro.f1)
    near(8 / 15, r.weighted.f1)
    near((2 / 3 + 4 / 3 + 2) / 7, r.weighted.precision)
    near(4 / 7, r.micro.f1)
    near(4 / 7, r.micro.precision)
    -- class 3 had no predictions: precision 0 with a warning naming it
    assert.equal(1, #r.warnings)
    assert.matches("no predictions: 3$", r.warnings[1])
    local p, rc, f, w = metrics.precision_recall_f1(pred, target, { average = "macro" })
    near(0.5, p); near(0.5, rc); near(7 / 15, f)
    assert.equal(1, #w)
    near(7 / 15, metrics.f1(pred, target))
    near(8 / 15, metrics.compute("weighted_f1", pred, target))
  end)

  it("handles a class absent from both labels and predictions", function()
    local r = metrics.precision_recall_f1(pred, target, { num_classes = 5 })
    assert.equal(0, r.precision[5])
    assert.equal(0, r.recall[5])
    assert.equal(0, r.f1[5])
    near(0.5 * 4 / 5, r.macro.precision)
    near((28 / 15) / 5, r.macro.f1)
    near(8 / 15, r.weighted.f1) -- support 0: no weight
    assert.equal(2, #r.warnings)
    assert.matches("no predictions: 3, 4", r.warnings[1])
    assert.matches("no true examples: 4", r.warnings[2])
    -- balanced accuracy averages over classes present in the labels only
    near(0.5, metrics.balanced_accuracy(pred, target, { num_classes = 5 }))
    local cm = metrics.confusion_matrix(pred, target, { num_classes = 5 })
    assert.same({ 0, 0, 0, 0, 0 }, cm.counts[5])
    -- ill-defined scores are floats like the others (math.type), and warnings name the classes given names
    assert.equal("float", math.type(r.precision[5]))
    assert.equal("float", math.type(r.recall[5]))
    assert.equal("float", math.type(r.f1[5]))
    local named = metrics.precision_recall_f1(pred, target, { names = { "tee", "trouser", "pullover", "dress", "coat" } })
    assert.equal("precision is ill-defined and set to 0 for classes with no predictions: 3 (dress), 4 (coat)",
      named.warnings[1])
    assert.equal("recall is ill-defined and set to 0 for classes with no true examples: 4 (coat)", named.warnings[2])
    local report = metrics.classification_report(pred, target, { names = { "tee", "trouser", "pullover", "dress", "coat" } })
    assert.matches("warning: recall is ill%-defined and set to 0 for classes with no true examples: 4 %(coat%)", report)
    -- scikit-learn's summary rows: accuracy (micro precision = recall = f1 = accuracy), macro and weighted averages
    local acc = metrics.accuracy(pred, target)
    assert.truthy(report:find(("\naccuracy%s%.4f %8d\n"):format((" "):rep(30), acc, #target), 1, true), report)
    assert.truthy(report:find(("\nmacro avg      %9.4f %9.4f %9.4f %8d\n"):format(named.macro.precision,
      named.macro.recall, named.macro.f1, #target), 1, true), report)
    assert.truthy(report:find("\nweighted avg ", 1, true), report)
    assert.is_nil(report:find("micro", 1, true), report)
  end)

  it("perfect and all-wrong predictions", function()
    near(1, metrics.accuracy({ 0, 1, 2 }, { 0, 1, 2 }))
    near(0, metrics.accuracy({ 1, 2, 0 }, { 0, 1, 2 }))
    local r = metrics.precision_recall_f1({ 1, 2, 0 }, { 0, 1, 2 })
    near(0, r.macro.f1)
    assert.same({}, r.warnings) -- every class was predicted and present
  end)

  it("computes log-loss with clipping", function()
    local probs = ks.tensor { { 0.8, 0.2 }, { 0.4, 0.6 } }
    near(-(math.log(0.8) + math.log(0.4)) / 2, metrics.log_loss(probs, { 0, 0 }), 1e-7)
    -- p = 0 is clipped to eps
    near(-(math.log(1e-15) + math.log(1 - 1e-15)) / 2, metrics.log_loss({ { 0, 1 }, { 0, 1 } }, { 0, 1 }), 1e-9)
    near(-math.log(0.01) / 2 - math.log(0.99) / 2, metrics.log_loss({ { 0, 1 }, { 0, 1 } }, { 0, 1 }, { eps = 0.01 }),
      1e-9)
  end)

  it("computes the expected calibration error with equal-width bins", function()
    local probs = { { 0.9, 0.1 }, { 0.58, 0.42 }, { 0.3, 0.7 }, { 0.55, 0.45 } }
    local y = { 0, 1, 1, 0 }
    local ece, bins = metrics.calibration_error(probs, y, { bins = 5 })
    near(0.5 * 0.065 + 0.25 * 0.3 + 0.25 * 0.1, ece, 1e-6)
    assert.same({ 0, 0, 2, 1, 1 }, bins.count)
    near(0.5, bins.accuracy[3])
    near(0.565, bins.confidence[3], 1e-6)
    assert.equal("5 equal-width bins", bins.binning)
    local e2 = metrics.calibration_error(probs, y, { bins = 2 })
    near(math.abs(0.75 - (0.9 + 0.58 + 0.7 + 0.55) / 4), e2, 1e-6)
  end)

  it("computes MSE, MAE and R^2", function()
    near(5 / 3, metrics.mse({ 1, 2, 3 }, { 1, 3, 5 }), 1e-12)
    near(1, metrics.mae({ 1, 2, 3 }, { 1, 3, 5 }), 1e-12)
    near(0.375, metrics.r2({ 1, 2, 3 }, { 1, 3, 5 }), 1e-12)
    near(1, metrics.r2({ 2, 2 }, { 2, 2 }))
    near(0, metrics.r2({ 1, 2 }, { 2, 2 }))
    near(0.375, metrics.compute("r2", ks.tensor { 1, 2, 3 }, ks.tensor { 1, 3, 5 }), 1e-7)
  end)

  describe("bad inputs", function()
    it("predictions and labels of different lengths", function()
      assert.has_error(function() metrics.accuracy({ 0, 1, 2 }, { 0, 1 }) end,
        "accuracy: predictions [3] and labels [2] have different lengths (3 vs 2)")
      assert.has_error(function() metrics.mse({ 1, 2 }, { 1, 2, 3 }) end)
      local ok, e = pcall(metrics.log_loss, { { 0.5, 0.5 } }, { 0, 1 })
      assert.is_false(ok)
      assert.matches("probabilities %[1, 2%] and labels %[2%] disagree on N", e)
    end)
    it("errors carry the name of the function called and the caller's line", function()
      local ok, e = pcall(function() local v = metrics.balanced_accuracy({ 0, 1 }, { 0 }); return v end)
      assert.is_false(ok)
      assert.matches("^[^:]*metrics_spec%.lua:%d+: balanced_accuracy: predictions %[2%] and labels %[1%]", e)
      ok, e = pcall(metrics.compute, "macro_f1", { 0, 1 }, { 0 })
      assert.matches("^f1: predictions %[2%] and labels %[1%]", e)
      ok, e = pcall(metrics.compute, "ece", { { 0.5, 0.5 } }, { 0, 1 })
      assert.matches("^calibration_error: probabilities %[1, 2%]", e)
    end)
    it("an unknown metric name lists the known ones", function()
      local ok, e = pcall(metrics.compute, "acuracy", { 0 }, { 0 })
      assert.is_false(ok)
      assert.matches("unknown metric 'acuracy' %(known: .*accuracy", e)
      assert.has_error(function() metrics.get(nil) end)
      assert.has_error(function() metrics.precision_recall_f1({ 0 }, { 0 }, { average = "mean" }) end,
        "precision_recall_f1: unknown average 'mean' (macro, micro or weighted)")
    end)
    it("labels out of range, negative, or not integers", function()
      local ok, e = pcall(metrics.confusion_matrix, { 0, 5 }, { 0, 1 }, { num_classes = 3 })
      assert.is_false(ok)
      assert.matches("predictions%[1%] = 5 is not a class in %[0, 3%)", e)
      ok, e = pcall(metrics.confusion_matrix, { 0, 1 }, { -1, 1 }, { num_classes = 3 })
      assert.matches("labels%[0%] = %-1 is not a class", e)
      ok, e = pcall(metrics.accuracy, { 0, 1 }, ks.tensor { 0.5, 1 })
      assert.matches("must be %[N, C%] scores", e)
      ok, e = pcall(metrics.accuracy, nil, { 0 })
      assert.matches("predictions: expected a kshot.Tensor or a Lua list, got nil", e)
      ok, e = pcall(metrics.accuracy, "x", { 0 })
      assert.matches("got string", e)
      assert.has_error(function() metrics.confusion_matrix({ 0 }, { 0 }, { num_classes = 0 }) end)
      assert.has_error(function() metrics.confusion_matrix({ 0 }, { 0 }, 3) end,
        "confusion_matrix: options must be a table, got number")
      assert.has_error(function() metrics.calibration_error({ { 1, 0 } }, { 0 }, { bins = 0 }) end)
      assert.has_error(function() metrics.log_loss(ks.tensor { 0.5, 0.5 }, { 0 }) end)
      assert.has_error(function() metrics.accuracy({}, {}) end)
      assert.has_error(function() ks.metrics.confusion(ks.tensor({ 0 }, "int64"), nil, 2) end)
    end)
    it("class labels given as Lua numbers must be integral (no truncation)", function()
      assert.has_error(function() metrics.accuracy({ 0.5, 1.5 }, { 0, 1 }) end,
        "accuracy: predictions[1] = 0.5 is not an integer class label (pass a float [N, C] tensor for scores)")
      assert.has_error(function() metrics.f1({ 0, 1 }, { 0, 1.25 }) end,
        "f1: labels[2] = 1.25 is not an integer class label (pass a float [N, C] tensor for scores)")
      assert.equal(1, metrics.accuracy({ 0.0, 1.0 }, { 0, 1 })) -- integral floats are labels
    end)
    it("probabilities outside [0, 1] (or NaN) are errors; rows need not sum to 1", function()
      assert.has_error(function() metrics.calibration_error(ks.tensor { { 5, 0 } }, { 0 }) end,
        "calibration_error: probabilities[0, 0] = 5 is not in [0, 1] (pass probabilities, e.g. the softmax of the scores)")
      assert.has_error(function() metrics.log_loss(ks.tensor { { 0.5, -1 } }, { 0 }) end,
        "log_loss: probabilities[0, 1] = -1 is not in [0, 1] (pass probabilities, e.g. the softmax of the scores)")
      assert.has_error(function() metrics.log_loss(ks.tensor { { 0.5, 0.5 }, { 0 / 0, 1 } }, { 0, 1 }) end,
        "log_loss: probabilities[1, 0] = nan is not in [0, 1] (pass probabilities, e.g. the softmax of the scores)")
      -- not normalised: used as given, like scikit-learn >= 1.5 (which only warns)
      near(-math.log(0.25), metrics.log_loss({ { 0.25, 0.25 } }, { 0 }), 1e-7)
    end)
  end)

  it("takes bool tensors and Lua booleans as classes 0 and 1", function()
    local p, t = ks.tensor { true, false, true, true }, ks.tensor { true, true, false, true }
    assert.equal("bool", p:dtype())
    assert.equal(0.5, metrics.accuracy(p, t))
    assert.equal(0.5, metrics.accuracy({ true, false, true, true }, { true, true, false, true }))
    assert.same({ { 0, 1 }, { 1, 2 } }, metrics.confusion_matrix(p, t).counts)
    near(1 / 3, metrics.balanced_accuracy(p, t)) -- recalls 0/1 and 2/3
  end)
end)

describe("options tables", function()
  local p, t = ks.tensor({ 0, 1, 1 }, "int64"), ks.tensor({ 0, 1, 0 }, "int64")
  local function err_of(f)
    local ok, e = pcall(f)
    assert.is_false(ok)
    return e
  end
  it("reject unknown keys, naming the function the user called", function()
    local e = err_of(function() metrics.accuracy(p, t, { num_clases = 2 }) end)
    assert.truthy(e:find("metrics_spec.lua:%d+: accuracy: unknown option 'num_clases' %(known: num_classes, names%); "
      .. "did you mean 'num_classes'%?"), e)
    e = err_of(function() metrics.f1(p, t, { averag = "micro" }) end)
    assert.truthy(e:find("f1: unknown option 'averag' (known: num_classes, names, average)", 1, true), e)
    e = err_of(function() metrics.compute("macro_f1", p, t, { average = "micro" }) end)
    assert.truthy(e:find("macro_f1: unknown option 'average' (known: num_classes, names)", 1, true), e)
    e = err_of(function() metrics.confusion_matrix(p, t, { average = "macro" }) end)
    assert.truthy(e:find("confusion_matrix: unknown option 'average'", 1, true), e)
    e = err_of(function() metrics.classification_report(p, t, { nams = { "a", "b" } }) end)
    assert.truthy(e:find("classification_report: unknown option 'nams'", 1, true), e)
    e = err_of(function() metrics.log_loss(ks.tensor { { 0.5, 0.5 } }, ks.tensor({ 0 }, "int64"), { esp = 1e-3 }) end)
    assert.truthy(e:find("log_loss: unknown option 'esp' (known: eps); did you mean 'eps'?", 1, true), e)
    e = err_of(function() metrics.calibration_error(ks.tensor { { 0.5, 0.5 } }, ks.tensor({ 0 }, "int64"), { bin = 3 }) end)
    assert.truthy(e:find("calibration_error: unknown option 'bin' (known: bins)", 1, true), e)
    -- the known ones still pass through to the confusion matrix
    assert.equal(2 / 3, metrics.compute("micro_f1", p, t, { num_classes = 3 }))
    assert.equal(2 / 3, metrics.f1(p, t, { num_classes = 3, names = { "a", "b", "c" }, average = "micro" }))
  end)
end)

describe("cyclic and deep label tables", function()
  it("are an error, not a recursion that eats gigabytes", function()
    local cyclic = {}
    cyclic[1] = cyclic
    local ok, e = pcall(metrics.accuracy, cyclic, { 0 })
    assert.is_false(ok)
    assert.truthy(tostring(e):find("accuracy:", 1, true), e)
    local deep = { 1.5 }
    for _ = 1, 40 do deep = { deep } end
    ok, e = pcall(metrics.confusion_matrix, deep, { 0 })
    assert.is_false(ok)
  end)
end)

describe("metrics.f1 per class", function()
  it("average = 'none' gives scikit-learn's per-class F1 list ([c + 1] = class c), empty classes 0", function()
    -- class 0: P = R = 1; class 1: P 1/2, R 1; class 2: P 1, R 1/2; class 3: never true nor predicted
    local p = ks.tensor({ 0, 1, 1, 2 }, ks.int64)
    local t = ks.tensor({ 0, 1, 2, 2 }, ks.int64)
    local f = metrics.f1(p, t, { average = "none", num_classes = 4 })
    assert.equal(4, #f)
    assert.near(1, f[1], 1e-12)
    assert.near(2 / 3, f[2], 1e-12)
    assert.near(2 / 3, f[3], 1e-12)
    assert.equal(0, f[4])
    assert.near((1 + 2 / 3 + 2 / 3 + 0) / 4, metrics.f1(p, t, { num_classes = 4 }), 1e-12)
    local ok, e = pcall(metrics.f1, p, t, { average = "per_class" })
    assert.is_false(ok)
    assert.matches("f1: unknown average 'per_class' %(macro, micro, weighted or none%)", e)
  end)
end)
