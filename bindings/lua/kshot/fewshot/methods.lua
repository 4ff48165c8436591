--- kshot.fewshot.methods: method specs -> parsed methods, and running one
-- method on one support set.
--
-- Method specs: a name, or a table {name, option = value, ..., label = "shown name"}:
--   "UN"        nearest class centroid on the features as they are
--   "L2N"       ... on L2-normalised features
--   "CL2N"      ... on features centred on the base-class mean, then L2-normalised
--               (SimpleShot; needs base_pool)
--   "logreg"    linear probe: multinomial logistic regression, L2 penalty (sklearn's C),
--               L-BFGS (kshot.optim) or gradient descent. Options: C (fixed), Cs (grid for
--               inner CV on the support set when every class has >= 2 examples: folds
--               leave one example per class out, at most `folds` = 5), default_C (1, used
--               at 1 shot), normalize (nil | "L2N" | "CL2N"), solver ("lbfgs" | "gd"),
--               max_iter (100), gd_steps (300)
--   "cosine"    cosine classifier on the frozen features (Baseline++): scale * cos(f, w_c),
--               w from the class means of the normalised support features, trained by
--               full-batch SGD. Options: steps (100), lr (0.1), momentum (0.9), weight_decay
--               (5e-4), scale (10), label_smoothing (0)
--   "bn"        batch-norm statistics re-estimated on the support set, then head
--               ("L2N" default, "UN" or "logreg") on the re-estimated features
--   "finetune"  fine-tuning (kshot.fewshot.adapt.finetune for the options), a cosine head
--   "lora"      low-rank adapters (kshot.nn.lora) on the backbone's layers, trained with a
--               cosine head, then merged into the weights for the queries; the backbone's
--               parameters and buffers stay untouched. Options: rank (4), alpha (8), steps (20),
--               lr (0.01), targets ({"Conv2d"}, {"Linear"} without convolutions: layer types,
--               module names or name prefixes such as "layer4"), augment (false), momentum,
--               weight_decay, scale, label_smoothing
local H = require "kshot.fewshot.heads"

local M = {}

local KNOWN = {
  UN = {}, L2N = {}, CL2N = {},
  logreg = {C = true, Cs = true, default_C = true, normalize = true, solver = true, max_iter = true,
    gd_steps = true, folds = true, tol = true},
  cosine = {steps = true, lr = true, momentum = true, weight_decay = true, scale = true, label_smoothing = true},
  bn = {head = true},
  finetune = {steps = true, lr = true, backbone_lr = true, momentum = true, weight_decay = true, train = true,
    scale = true, label_smoothing = true, augment = true},
  lora = {rank = true, alpha = true, steps = true, lr = true, targets = true, augment = true, momentum = true,
    weight_decay = true, scale = true, label_smoothing = true},
}
local ALIASES = {un = "UN", l2n = "L2N", cl2n = "CL2N", logreg = "logreg", linear_probe = "logreg",
  logistic_regression = "logreg", cosine = "cosine", baseline_pp = "cosine", bn = "bn", bn_reestimate = "bn", finetune = "finetune", fine_tune = "finetune", lora = "lora"}
M.NAMES = {"UN", "L2N", "CL2N", "logreg", "cosine", "bn", "finetune", "lora"}
M.FROZEN = {UN = true, L2N = true, CL2N = true, logreg = true, cosine = true}

local options = require "kshot.options"
-- raised at the user's line, none when kshot catches it to add context (options.raise)
local function fail(fmt, ...) options.raise(string.format(fmt, ...)) end

--- Parse a method spec into {name=, label=, frozen=, opts=}.
function M.parse(spec, where)
  where = where or "fewshot"
  local raw, opts = spec, {}
  if type(spec) == "table" then
    raw = spec.name or spec[1]
    for k, v in pairs(spec) do
      if k ~= 1 and k ~= "name" and k ~= "label" then opts[k] = v end
    end
  end
  if type(raw) ~= "string" then
    fail("%s: method must be a name (%s) or a table {name, options...}, got %s", where, table.concat(M.NAMES, ", "),
      type(raw))
  end
  local name = ALIASES[raw:lower()]
  if not name then fail("%s: unknown method '%s' (known: %s)", where, raw, table.concat(M.NAMES, ", ")) end
  for k in pairs(opts) do
    if not KNOWN[name][k] then fail("%s: method %s has no option '%s'", where, name, tostring(k)) end
  end
  if name == "logreg" and opts.normalize ~= nil and opts.normalize ~= "L2N" and opts.normalize ~= "CL2N" then
    fail("%s: logreg option normalize must be nil, \"L2N\" or \"CL2N\", got %s", where, tostring(opts.normalize))
  end
  if name == "bn" then
    local h = opts.head or "L2N"
    if h ~= "UN" and h ~= "L2N" and h ~= "logreg" then
      fail("%s: bn option head must be \"UN\", \"L2N\" or \"logreg\", got %s", where, tostring(h))
    end
    opts.head = h
  end
  if name == "logreg" then M.check_logreg(opts, where) end
  if name == "cosine" then M.check_cosine(opts, where) end
  if name == "finetune" then M.check_finetune(opts, where) end
  if name == "lora" then M.check_lora(opts, where) end
  local label = type(spec) == "table" and spec.label or nil
  if label == nil then
    label = name
    if name == "logreg" and opts.normalize then label = "logreg+" .. opts.normalize end
    if name == "bn" then label = "bn+" .. opts.head end
  end
  return {name = name, label = tostring(label), frozen = M.FROZEN[name] == true, opts = opts,
    needs_base = name == "CL2N" or (name == "logreg" and opts.normalize == "CL2N")}
end

-- Option checkers: method `meth`, options table o; each names the method and
-- the option, what was expected and what came (a value or its type).
local function shown(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  return "a " .. type(v)
end
local function check_int(o, meth, k, lo, where)
  local v = o[k]
  if v ~= nil and (math.type(v) ~= "integer" or v < lo) then
    fail("%s: %s option %s must be an integer >= %d, got %s", where, meth, k, lo, shown(v))
  end
end
-- finite number > 0 (or >= 0 with zero_ok; <= hi when given)
local function check_num(o, meth, k, zero_ok, hi, where)
  local v = o[k]
  if v == nil then return end
  local ok = type(v) == "number" and v == v and v < math.huge and (v > 0 or (zero_ok and v == 0))
    and (hi == nil or v <= hi)
  if not ok then
    fail("%s: %s option %s must be a number %s%s, got %s", where, meth, k, zero_ok and ">= 0" or "> 0",
      hi and (" and <= " .. hi) or "", shown(v))
  end
end
-- augment: true / false, or a pipeline (a function or a callable table)
local function check_augment(o, meth, where)
  local v = o.augment
  if v == nil or type(v) == "boolean" or type(v) == "function" then return end
  local mt = type(v) == "table" and getmetatable(v)
  if mt and mt.__call then return end
  fail("%s: %s option augment must be true, false or an augment pipeline (a function of the images), got %s", where,
    meth, shown(v))
end
-- SGD options shared by finetune and lora
local function check_training(o, meth, where)
  check_int(o, meth, "steps", 0, where)
  for _, k in ipairs({"lr", "scale"}) do check_num(o, meth, k, false, nil, where) end
  check_num(o, meth, "momentum", true, nil, where)
  check_num(o, meth, "weight_decay", true, nil, where)
  check_num(o, meth, "label_smoothing", true, 1, where)
  check_augment(o, meth, where)
end

-- logreg options: checked when the method is parsed (before any episode runs).
function M.check_logreg(o, where)
  check_num(o, "logreg", "C", false, nil, where)
  check_num(o, "logreg", "default_C", false, nil, where)
  local cs = o.Cs
  if cs ~= nil then
    if type(cs) ~= "table" or #cs == 0 then
      fail("%s: logreg option Cs must be a non-empty list of numbers > 0, got %s", where,
        type(cs) == "table" and "an empty table" or shown(cs))
    end
    for i, v in ipairs(cs) do
      if type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge then
        fail("%s: logreg option Cs[%d] must be a number > 0, got %s", where, i, shown(v))
      end
    end
  end
  if o.solver ~= nil and o.solver ~= "lbfgs" and o.solver ~= "gd" then
    fail("%s: logreg option solver must be \"lbfgs\" or \"gd\", got %s", where, shown(o.solver))
  end
  check_int(o, "logreg", "max_iter", 1, where)
  check_int(o, "logreg", "gd_steps", 1, where)
  check_int(o, "logreg", "folds", 2, where)
  check_num(o, "logreg", "tol", true, nil, where)
end

-- cosine options (the SGD ones of finetune, without augment: the features are frozen)
function M.check_cosine(o, where)
  check_training(o, "cosine", where)
end

-- finetune options
function M.check_finetune(o, where)
  check_training(o, "finetune", where)
  check_num(o, "finetune", "backbone_lr", true, nil, where)
  local t = o.train
  if t ~= nil and t ~= "all" then
    if type(t) ~= "table" or #t == 0 then
      fail("%s: finetune option train must be \"all\" or a non-empty list of sub-module names, got %s", where,
        type(t) == "table" and "an empty table" or shown(t))
    end
    for i, v in ipairs(t) do
      if type(v) ~= "string" then
        fail("%s: finetune option train[%d] must be a sub-module name (string), got %s", where, i, shown(v))
      end
    end
  end
end

-- LoRA options: checked when the method is parsed (before any episode runs).
function M.check_lora(o, where)
  check_int(o, "lora", "rank", 1, where)
  check_training(o, "lora", where)
  check_num(o, "lora", "alpha", false, nil, where)
  local t = o.targets
  if t ~= nil then
    if type(t) == "string" then t = {t}; o.targets = t end
    if type(t) ~= "table" or #t == 0 then
      fail("%s: lora option targets must be a non-empty list of layer types (\"Conv2d\", \"Linear\") or module "
        .. "names, got %s", where, type(t))
    end
    for i, v in ipairs(t) do
      if type(v) ~= "string" then fail("%s: lora option targets[%d] must be a string, got %s", where, i, type(v)) end
    end
  end
end

--- Head of a frozen-feature method on support features f [N, D], labels y
-- (0..C-1). base_mean() returns the base-class mean feature (CL2N).
function M.fit_head(m, f, y, C, base_mean)
  local o = m.opts
  if m.name == "UN" then return H.fit_centroid(f, y, C, {}) end
  if m.name == "L2N" then return H.fit_centroid(f, y, C, {normalize = true}) end
  if m.name == "CL2N" then return H.fit_centroid(f, y, C, {normalize = true, center = base_mean()}) end
  if m.name == "logreg" then
    return H.fit_linear(f, y, C, {C = o.C, Cs = o.Cs, default_C = o.default_C, solver = o.solver,
      max_iter = o.max_iter, gd_steps = o.gd_steps, folds = o.folds, tol = o.tol,
      normalize = o.normalize ~= nil, center = o.normalize == "CL2N" and base_mean() or nil})
  end
  if m.name == "cosine" then
    return H.fit_cosine(f, y, C, {steps = o.steps, lr = o.lr, momentum = o.momentum, weight_decay = o.weight_decay,
      scale = o.scale, label_smoothing = o.label_smoothing})
  end
  if m.name == "bn" then -- the head that runs on the re-estimated features
    return M.fit_head({name = o.head, opts = {}}, f, y, C, base_mean)
  end
  fail("fewshot: method %s has no frozen-feature head", m.name)
end

return M
