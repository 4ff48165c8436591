--- kshot.metrics: evaluation metrics (scikit-learn's definitions).
--
-- Inputs: predictions and labels as int64/uint8/bool tensors or Lua lists of
-- 0-based class indices (integers; a non-integral number like 0.5 is an
-- error naming the argument and position, never truncated; booleans count as
-- 0/1); a float [N, C] tensor of scores/probabilities as predictions is
-- turned into labels by arg-max over the classes. Counting
-- runs in C (ks.metrics.confusion, bindings/ks_lua_metrics.c); the formulas
-- below work on the C x C confusion matrix.
--
-- Argument order: predictions first, then the true labels -- metric(pred,
-- target), as torchmetrics and F.cross_entropy(input, target) -- the reverse
-- of scikit-learn's (y_true, y_pred). The results mean what scikit-learn's
-- do: confusion_matrix's rows are the true classes, its columns the predicted.
--
-- Scores are fractions in [0, 1] (multiply by 100 for percent).
-- Precision of a class nobody predicted (or recall of a class absent from
-- the labels, or an F1 with precision + recall = 0) is 0, and the result
-- carries `warnings`, a list of messages naming the classes by index, and by
-- name too when `names` are given ("3 (Dress)") (scikit-learn's
-- zero_division="warn" behaviour, without printing).
local ks = require "kshot"
local options = require "kshot.options"

local M = ks.metrics

-- ---------------------------------------------------------------- inputs
local function as_tensor(x, what, dtype)
  if ks.is_tensor(x) then return x end
  if type(x) == "table" then
    local ok, t = pcall(ks.tensor, x, dtype)
    if ok then return t end
    error(("%s: could not convert the Lua table to a tensor (%s)"):format(what, t), 3)
  end
  error(("%s: expected a kshot.Tensor or a Lua list, got %s"):format(what, type(x)), 3)
end

-- first non-integral number in a (nested) Lua list, as "[i]" or "[i][j]", and the value.
-- Stops at depth 32 (a label list is 1-D, scores 2-D): a cyclic table used to
-- recurse until the stack overflowed, building ever longer paths (gigabytes);
-- ks.tensor then names the table's problem.
local function non_integral(x, path, depth)
  depth = depth or 1
  if depth > 32 then return nil end
  for i, v in ipairs(x) do
    if type(v) == "number" and not math.tointeger(v) then return path .. "[" .. i .. "]", v end
    if type(v) == "table" then
      local where, bad = non_integral(v, path .. "[" .. i .. "]", depth + 1)
      if where then return where, bad end
    end
  end
  return nil
end

-- class labels from labels, or from [N, C] scores by arg-max
local function as_labels(x, what)
  if type(x) == "table" and not ks.is_tensor(x) then
    local where, bad = non_integral(x, "")
    if where then
      error(("%s%s = %s is not an integer class label (pass a float [N, C] tensor for scores)"):format(what, where,
        tostring(bad)), 3)
    end
  end
  local t = as_tensor(x, what, "int64")
  if t:dtype() == "bool" then t = t:long() end -- counted as classes 0 and 1
  if t:dtype() == "float32" then
    if t:dim() ~= 2 then
      error(("%s: a float tensor must be [N, C] scores, got %d dims (pass integer labels otherwise)")
        :format(what, t:dim()), 3)
    end
    t = t:argmax(1)
  end
  return t
end

-- the shared check (kshot.options): an unknown key is an error listing the known ones
local CM_KEYS = { "num_classes", "names" }
local AVG_KEYS = { "num_classes", "names", "average" }
local function check_opts(opts, fname, known)
  local o = options.check(opts, fname, known)
  return o -- not a tail call: error levels count this frame
end

-- number of classes: opts.num_classes, #opts.names, or 1 + the largest label seen
local function num_classes(pred, target, opts)
  if opts.num_classes then
    if math.type(opts.num_classes) ~= "integer" or opts.num_classes < 1 then
      error("num_classes must be a positive integer, got " .. tostring(opts.num_classes), 3)
    end
    return opts.num_classes
  end
  if opts.names then return #opts.names end
  local n = 0
  for _, t in ipairs { pred, target } do
    if t:numel() > 0 then n = math.max(n, t:max():item() + 1) end
  end
  return math.max(n, 1)
end

-- ------------------------------------------------------- confusion matrix
local Confusion = {}
Confusion.__index = Confusion

--- The counts as a Lua table: cm[t + 1][p + 1] = examples of true class t predicted as p.
function Confusion:__tostring()
  local names, n = self.names, self.num_classes
  local function name(i) return names and names[i] or tostring(i - 1) end
  local w = 6
  for i = 1, n do w = math.max(w, #name(i), #tostring(self.row_total[i])) end
  for j = 1, n do for i = 1, n do w = math.max(w, #tostring(self.counts[i][j])) end end
  local cell = "%" .. w .. "s"
  local lines = { ("rows: true class, columns: predicted class (%d examples)"):format(self.total) }
  local head = { cell:format("true\\pred") }
  for j = 1, n do head[#head + 1] = cell:format(name(j)) end
  head[#head + 1] = cell:format("total")
  lines[#lines + 1] = table.concat(head, " ")
  for i = 1, n do
    local row = { cell:format(name(i)) }
    for j = 1, n do row[#row + 1] = cell:format(self.counts[i][j]) end
    row[#row + 1] = cell:format(self.row_total[i])
    lines[#lines + 1] = table.concat(row, " ")
  end
  local foot = { cell:format("total") }
  for j = 1, n do foot[#foot + 1] = cell:format(self.col_total[j]) end
  foot[#foot + 1] = cell:format(self.total)
  lines[#lines + 1] = table.concat(foot, " ")
  return table.concat(lines, "\n")
end

--- metrics.confusion_matrix(pred, target, {num_classes=, names=}) -> object with
-- .matrix (int64 [C, C] tensor, row = true class), .counts (Lua [C][C], 1-based),
-- .row_total, .col_total, .total; tostring() prints a labelled table.
function M.confusion_matrix(pred, target, opts)
  opts = check_opts(opts, "confusion_matrix", CM_KEYS)
  pred, target = as_labels(pred, "confusion_matrix: predictions"), as_labels(target, "confusion_matrix: labels")
  local n = num_classes(pred, target, opts)
  if opts.names and #opts.names ~= n then
    error(("confusion_matrix: %d names for %d classes"):format(#opts.names, n), 2)
  end
  local m = M.confusion(pred, target, n)
  local counts = m:totable()
  local rows, cols, total = {}, {}, 0
  for i = 1, n do
    rows[i], cols[i] = 0, 0
  end
  for i = 1, n do
    for j = 1, n do
      rows[i], cols[j], total = rows[i] + counts[i][j], cols[j] + counts[i][j], total + counts[i][j]
    end
  end
  return setmetatable({ matrix = m, counts = counts, row_total = rows, col_total = cols, total = total,
    num_classes = n, names = opts.names }, Confusion)
end

local function cm_of(pred, target, opts, fname, known)
  opts = check_opts(opts, fname, known or CM_KEYS)
  if getmetatable(pred) == Confusion then return pred end
  return M.confusion_matrix(pred, target, { num_classes = opts.num_classes, names = opts.names })
end

-- ------------------------------------------------------ classification
--- metrics.accuracy(pred, target) -> fraction correct
function M.accuracy(pred, target, opts)
  local cm = cm_of(pred, target, opts, "accuracy")
  if cm.total == 0 then error("accuracy: no examples", 2) end
  local hit = 0
  for i = 1, cm.num_classes do hit = hit + cm.counts[i][i] end
  return hit / cm.total
end

local function safe_div(a, b) return b > 0 and a / b or nil end

--- metrics.precision_recall_f1(pred, target, {num_classes=, names=, average=})
-- -> table {precision=, recall=, f1=, support=} (per-class Lua lists, 1-based by
-- class index + 1) plus macro/micro/weighted tables {precision, recall, f1} and
-- `warnings` (list of strings; empty when nothing was ill-defined).
-- With opts.average = "macro" | "micro" | "weighted", returns precision, recall,
-- f1 of that average (and the warnings) instead.
function M.precision_recall_f1(pred, target, opts)
  opts = check_opts(opts, "precision_recall_f1", AVG_KEYS)
  local avg = opts.average
  if avg ~= nil and avg ~= "macro" and avg ~= "micro" and avg ~= "weighted" then
    error(("precision_recall_f1: unknown average '%s' (macro, micro or weighted)"):format(tostring(avg)), 2)
  end
  local cm = cm_of(pred, target, opts, "precision_recall_f1", AVG_KEYS)
  local n, warnings = cm.num_classes, {}
  local no_pred, no_true, no_f1 = {}, {}, {}
  local r = { precision = {}, recall = {}, f1 = {}, support = {} }
  local tp_sum = 0
  -- a class in a warning: its index, and its name when names were given ("3 (Dress)")
  local function label(i) return cm.names and ("%d (%s)"):format(i - 1, tostring(cm.names[i])) or i - 1 end
  for i = 1, n do
    local tp = cm.counts[i][i]
    tp_sum = tp_sum + tp
    local p = safe_div(tp, cm.col_total[i])
    local rc = safe_div(tp, cm.row_total[i])
    if not p then no_pred[#no_pred + 1] = label(i) end
    if not rc then no_true[#no_true + 1] = label(i) end
    p, rc = p or 0.0, rc or 0.0 -- floats like the defined scores (0, not 0.0, printed apart in a table)
    local f = safe_div(2 * p * rc, p + rc)
    if not f then no_f1[#no_f1 + 1] = label(i) end
    r.precision[i], r.recall[i], r.f1[i], r.support[i] = p, rc, f or 0.0, cm.row_total[i]
  end
  if #no_pred > 0 then
    warnings[#warnings + 1] = "precision is ill-defined and set to 0 for classes with no predictions: "
      .. table.concat(no_pred, ", ")
  end
  if #no_true > 0 then
    warnings[#warnings + 1] = "recall is ill-defined and set to 0 for classes with no true examples: "
      .. table.concat(no_true, ", ")
  end
  local function mean(list, weights)
    local s, w = 0, 0
    for i = 1, n do
      local wi = weights and weights[i] or 1
      s, w = s + wi * list[i], w + wi
    end
    return w > 0 and s / w or 0
  end
  r.macro = { precision = mean(r.precision), recall = mean(r.recall), f1 = mean(r.f1) }
  r.weighted = { precision = mean(r.precision, r.support), recall = mean(r.recall, r.support),
    f1 = mean(r.f1, r.support) }
  -- micro: pooled counts; with one label per example all three equal accuracy
  local micro = cm.total > 0 and tp_sum / cm.total or 0
  r.micro = { precision = micro, recall = micro, f1 = micro }
  r.warnings = warnings
  r.confusion = cm
  if avg then return r[avg].precision, r[avg].recall, r[avg].f1, warnings end
  return r
end

--- metrics.balanced_accuracy(pred, target) -> mean recall over the classes present in the labels
function M.balanced_accuracy(pred, target, opts)
  local cm = cm_of(pred, target, opts, "balanced_accuracy")
  local s, k = 0, 0
  for i = 1, cm.num_classes do
    if cm.row_total[i] > 0 then s, k = s + cm.counts[i][i] / cm.row_total[i], k + 1 end
  end
  if k == 0 then error("balanced_accuracy: no examples", 2) end
  return s / k
end

--- metrics.f1(pred, target, {average="macro"}) -> F1 of that average ("macro", "micro", "weighted"), or
-- with average = "none" the per-class F1 scores (scikit-learn's average=None): a Lua list, [c + 1] = class c.
function M.f1(pred, target, opts)
  opts = check_opts(opts, "f1", AVG_KEYS)
  local avg = opts.average
  if avg ~= nil and avg ~= "macro" and avg ~= "micro" and avg ~= "weighted" and avg ~= "none" then
    error(("f1: unknown average '%s' (macro, micro, weighted or none)"):format(tostring(avg)), 2)
  end
  if avg == "none" then
    return M.precision_recall_f1(pred, target, { num_classes = opts.num_classes, names = opts.names }).f1
  end
  local o = { average = opts.average or "macro", num_classes = opts.num_classes, names = opts.names }
  local _, _, f = M.precision_recall_f1(pred, target, o)
  return f
end

--- metrics.classification_report(pred, target, {names=}) -> printable text: per class precision, recall, f1
-- and support, then scikit-learn's summary rows (accuracy, macro avg, weighted avg) and the warnings
function M.classification_report(pred, target, opts)
  check_opts(opts, "classification_report", CM_KEYS)
  local r = M.precision_recall_f1(pred, target, opts)
  local cm = r.confusion
  local lines = { ("%-14s %9s %9s %9s %8s"):format("class", "precision", "recall", "f1", "support") }
  for i = 1, cm.num_classes do
    lines[#lines + 1] = ("%-14s %9.4f %9.4f %9.4f %8d"):format(cm.names and cm.names[i] or tostring(i - 1),
      r.precision[i], r.recall[i], r.f1[i], r.support[i])
  end
  -- as scikit-learn's multiclass report: micro-averaged precision, recall and f1 all equal the accuracy, so one
  -- "accuracy" row stands for them
  lines[#lines + 1] = ("%-14s %9s %9s %9.4f %8d"):format("accuracy", "", "", r.micro.f1, cm.total)
  for _, a in ipairs { "macro", "weighted" } do
    lines[#lines + 1] = ("%-14s %9.4f %9.4f %9.4f %8d"):format(a .. " avg", r[a].precision, r[a].recall, r[a].f1,
      cm.total)
  end
  for _, w in ipairs(r.warnings) do lines[#lines + 1] = "warning: " .. w end
  return table.concat(lines, "\n")
end

-- ------------------------------------------------------- probabilities
local function probs_of(x, what)
  local t = as_tensor(x, what, "float32")
  if t:dtype() ~= "float32" then t = t:float() end
  return t
end

--- metrics.log_loss(probs [N, C], target, {eps=1e-15}) -> mean -log p(true class);
-- probabilities are clipped to [eps, 1 - eps] (not renormalised). Every entry
-- must be in [0, 1] (an error names the first one outside, NaN included);
-- rows that do not sum to 1 are accepted as they are (scikit-learn >= 1.5
-- warns about them and does not renormalise either).
function M.log_loss(probs, target, opts)
  opts = check_opts(opts, "log_loss", { "eps" })
  return M.log_loss_(probs_of(probs, "log_loss: probabilities"), as_labels(target, "log_loss: labels"),
    opts.eps or 1e-15)
end

--- metrics.calibration_error(probs [N, C], target, {bins=15}) -> ece, bins
-- Expected calibration error with `bins` EQUAL-WIDTH bins of the confidence
-- (the largest probability of each row): bin b holds (b/B, (b+1)/B].
-- ECE = sum_b n_b/N * |accuracy_b - mean confidence_b|. `bins` is
-- {count = {...}, accuracy = {...}, confidence = {...}} (Lua lists, bin 1 first).
-- Probabilities must be in [0, 1] as for log_loss (scikit-learn's
-- calibration_curve rejects values outside too).
function M.calibration_error(probs, target, opts)
  opts = check_opts(opts, "calibration_error", { "bins" })
  local nb = opts.bins or 15
  if math.type(nb) ~= "integer" or nb < 1 then
    error("calibration_error: bins must be a positive integer, got " .. tostring(nb), 2)
  end
  local ece, count, acc, conf = M.calibration_(probs_of(probs, "calibration_error: probabilities"),
    as_labels(target, "calibration_error: labels"), nb)
  return ece, { count = count, accuracy = acc, confidence = conf, binning = ("%d equal-width bins"):format(nb) }
end

-- ------------------------------------------------------------ regression
local function regression(pred, target, fname)
  return M.regression_(as_tensor(pred, fname .. ": predictions", "float32"),
    as_tensor(target, fname .. ": targets", "float32"))
end

--- metrics.mse / mae / r2(pred, target): mean squared error, mean absolute
-- error, coefficient of determination (1 - SS_res / SS_tot).
function M.mse(pred, target) return (regression(pred, target, "mse")) end
function M.mae(pred, target) return select(2, regression(pred, target, "mae")) end
function M.r2(pred, target) return select(3, regression(pred, target, "r2")) end

-- ------------------------------------------------------------ by name
-- options of macro_f1 & co: those of confusion_matrix, with the average fixed by the name
local function averaged(o, fname, average)
  o = check_opts(o, fname, CM_KEYS)
  return { average = average, num_classes = o.num_classes, names = o.names }
end

local BY_NAME = {
  accuracy = M.accuracy,
  balanced_accuracy = M.balanced_accuracy,
  f1 = M.f1,
  macro_f1 = function(p, t, o) return M.f1(p, t, averaged(o, "macro_f1", "macro")) end,
  micro_f1 = function(p, t, o) return M.f1(p, t, averaged(o, "micro_f1", "micro")) end,
  weighted_f1 = function(p, t, o) return M.f1(p, t, averaged(o, "weighted_f1", "weighted")) end,
  log_loss = M.log_loss,
  calibration_error = M.calibration_error,
  ece = M.calibration_error,
  mse = M.mse,
  mae = M.mae,
  r2 = M.r2,
}

--- metrics.names() -> sorted list of the names metrics.get / compute accept
function M.names()
  local list = {}
  for k in pairs(BY_NAME) do list[#list + 1] = k end
  table.sort(list)
  return list
end

--- metrics.get(name) -> the metric function; unknown names raise an error listing the known ones
function M.get(name)
  local f = type(name) == "string" and BY_NAME[name]
  if not f then
    error(("unknown metric '%s' (known: %s)"):format(tostring(name), table.concat(M.names(), ", ")), 2)
  end
  return f
end

--- metrics.compute(name, pred, target[, opts]) -> value
function M.compute(name, pred, target, opts)
  local f = type(name) == "string" and BY_NAME[name]
  if not f then
    error(("unknown metric '%s' (known: %s)"):format(tostring(name), table.concat(M.names(), ", ")), 2)
  end
  return f(pred, target, opts)
end

-- The public functions raise at the caller's line and under their own name
-- (accuracy's checks run in confusion_matrix, whose name the user never
-- called): errors from inside are re-raised with the position stripped.
local function public(fname, impl)
  return function(...)
    local r = table.pack(pcall(impl, ...))
    if r[1] then return table.unpack(r, 2, r.n) end
    local msg = tostring(r[2]):gsub("^[^\n]-:%d+: ", "", 1)
    if fname ~= "compute" and fname ~= "get" then
      for _, inner in ipairs { "confusion_matrix", "precision_recall_f1" } do
        msg = msg:gsub("^" .. inner .. ":", fname .. ":", 1)
      end
      if msg:sub(1, #fname + 1) ~= fname .. ":" then msg = fname .. ": " .. msg end
    end
    error(msg, 2)
  end
end
for _, name in ipairs { "confusion_matrix", "accuracy", "precision_recall_f1", "balanced_accuracy", "f1",
  "classification_report", "log_loss", "calibration_error", "mse", "mae", "r2", "get", "compute" } do
  M[name] = public(name, M[name])
end
for name in pairs(BY_NAME) do -- metrics.compute / get hand out the public forms
  if M[name] and name ~= "f1" then BY_NAME[name] = M[name] end
end
BY_NAME.f1, BY_NAME.ece = M.f1, M.calibration_error

return M
