-- kshot.help: documentation found in kshot's own sources (Lua module headers,
-- doc comments above definitions, C binding comments).
local ks = require "kshot"
local help = require "kshot.help"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local stats = require "kshot.stats"

local function has(text, s) assert.truthy(text and text:find(s, 1, true), ("missing %q in:\n%s"):format(s, tostring(text))) end

describe("kshot.help", function()
  it("lists every kshot module with its one-line summary", function()
    local t = help.text()
    for _, m in ipairs { "kshot.nn ", "kshot.optim ", "kshot.data ", "kshot.augment ", "kshot.metrics ",
      "kshot.stats ", "kshot.experiment ", "kshot.help " } do has(t, m) end
    has(t, "0-based")
    assert.truthy(t:find("kshot.stats%s+statistics over repeats"), t)
  end)

  it("finds a module's header, a class's constructor and a Lua function's doc comment", function()
    has(help.text("nn"), "modules, containers, layers and builders")
    has(help.text("kshot.optim"), "Weight decay flavours")
    assert.truthy(help.text("nn.Linear"):find("^Linear%(in_features, out_features"))
    has(help.text("stats.interval"), "interval(xs, {level=0.95")
    has(help.text("optim.AdamW"), "weight_decay = 1e-2") -- an undocumented definition is shown itself
  end)

  it("finds C functions' documentation in the binding sources", function()
    has(help.text("ks.zeros"), "ks.empty/zeros/ones(shape...")
    has(help.text("F.cross_entropy"), "label_smoothing=0")
    local mm = help.text("ks.matmul")
    has(mm, "With out, the result is written into it")
    assert.falsy(mm:find("*/", 1, true), mm) -- comment markers are removed
  end)

  it("accepts values: modules, classes and functions by identity, tensors", function()
    assert.equal(help.text("nn.Linear"), help.text(nn.Linear))
    assert.equal(help.text("optim.SGD"), help.text(optim.SGD))
    assert.equal(help.text("stats.interval"), help.text(stats.interval))
    assert.equal(help.text("ks.matmul"), help.text(ks.matmul))
    has(help.text(ks.zeros(2)), "tensor")
  end)

  it("says what an undocumented tensor method is, and when nothing is known", function()
    has(help.text("t:view"), "torch.Tensor.view")
    local none, msg = help.text("nn.NoSuchLayer")
    assert.is_nil(none)
    has(msg, "no kshot documentation found for 'nn.NoSuchLayer'")
    local n2, m2 = help.text(42)
    assert.is_nil(n2)
    has(m2, "no kshot documentation for this number")
  end)

  it("finds what PyTorch users ask for by PyTorch's names (audit item 11)", function()
    -- nn.Module is a module of its own (kshot.nn.module), not nn/init.lua's require line
    local mod = help.text("nn.Module")
    has(mod, "the base class of every layer and model")
    assert.falsy(mod:find("kshot.nn.module\"", 1, true), mod)
    assert.equal(mod, help.text(nn.Module))
    -- lr.StepLR: lr is kshot.optim.lr (a file forwarding to kshot.optim.lr_scheduler)
    local step = help.text("lr.StepLR")
    has(step, "StepLR(opt, opts, last_epoch)")
    has(step, "torch.optim.lr_scheduler.StepLR")
    has(step, "StepLR(opt, 30, 0.5)") -- the header's paragraph that names it
    assert.equal(step, help.text("optim.lr_scheduler.StepLR"))
    assert.equal(step, help.text("optim.lr.StepLR"))
    -- a module method through the usual variable names
    local np = help.text("m:named_parameters")
    has(np, "List of {name, tensor} for every parameter")
    assert.equal(np, help.text("model:named_parameters"))
    assert.equal(np, help.text("Module:named_parameters"))
    assert.equal(np, help.text("nn.Module:named_parameters"))
    has(help.text("nn.init"), "weight initialisation as in PyTorch")
  end)

  it("describes an undocumented class by its options and the header, never by its code", function()
    local adamw = help.text("optim.AdamW")
    assert.truthy(adamw:find("^AdamW%(params, {lr = 1e%-3, betas = {0.9, 0.999}"), adamw)
    has(adamw, "torch.optim.AdamW (the same options and defaults)")
    has(adamw, "AdamW's weight_decay is *decoupled*")
    assert.falsy(adamw:find("adam_validate", 1, true), adamw) -- was: the class(...) call's source
    local sgd = help.text("optim.SGD")
    has(sgd, "nesterov = false")
    assert.falsy(sgd:find("check_range", 1, true), sgd)
  end)

  it("describes a tensor by its fields and methods, and a tensor method given as a value", function()
    local t = help.text(ks.zeros(2))
    has(t, "Fields: requires_grad, grad")
    has(t, " matmul ")
    assert.falsy(t:find("ks_lua_tensor.c", 1, true), t) -- not the binding's implementation notes
    assert.equal(t, help.text("tensor"))
    local x = ks.ones(2)
    assert.equal(help.text("t:view"), help.text(x.view))
    has(help.text(x.sum), "t:sum")
  end)

  it("says so when given nil (an undefined name), unlike help() which lists the modules", function()
    local printed = {}
    local old = _G.print
    _G.print = function(...) printed[#printed + 1] = table.concat({ ... }, "\t") end
    local ok, r = pcall(function() help(nil); help(ks.no_such_field); help() end)
    _G.print = old
    assert.is_true(ok, r)
    has(printed[1], "help: the value is nil")
    assert.equal(printed[1], printed[2])
    has(printed[3], "Modules:")
  end)

  it("prints through help(x) and returns nothing", function()
    local printed = {}
    local old = _G.print
    _G.print = function(...) printed[#printed + 1] = table.concat({ ... }, "\t") end
    local ok, r = pcall(help, "nn.Linear")
    _G.print = old
    assert.is_true(ok, r)
    assert.is_nil(r)
    assert.truthy(printed[1]:find("^Linear%("))
  end)

  it("finds a module's parts in the folder beside it, and prefers a --- doc line to a header example", function()
    -- kshot.experiment keeps its report in experiment/report.lua; "exp" is the docs' name for an experiment
    assert.truthy(help.text("exp:report"):find("^exp:report{write=true"))
    assert.truthy(help.text("experiment.summarize"):find("^exp:summarize%(%)"))
    assert.truthy(help.text("experiment.svg_comparison"):find("^Comparison plot"))
    -- the header's usage example "exp:run()  -- runs what ..." is not the documentation of exp:run
    assert.truthy(help.text("exp:run"):find("^exp:run{force=false"))
  end)
  it("documents what a new user asks for by the module's name (h62 audit)", function()
    -- C functions reached through a Lua module: data.kshot_indices was "not found"
    has(help.text("data.kshot_indices"), "ks.data.kshot_indices(labels, k")
    has(help.text("image.load"), "-> uint8 [C, H, W]")
    -- the binding's doc, not a header list item ending in "," (was "train_val_split(labels, ...),")
    has(help.text("data.train_val_split"), "-> train, val")
    -- the whole doc comment: prose such as ".matrix (int64" or "prints (tostring)" is not a new signature
    has(help.text("metrics.confusion_matrix"), ".row_total, .col_total, .total")
    has(help.text("stats.interval"), "prints (tostring)")
    local es = help.text("regularize.EarlyStopping")
    has(es, "es:step(metric, model) once per epoch")
    has(es, "Fields: best, best_epoch")
    has(help.text("model_selection.select"), "recipe(config, train_rows, val_rows, info)")
    -- the comment above the definition beats the module header's usage example
    assert.truthy(help.text("augment.random_crop"):find("^Random crop with padding"), help.text("augment.random_crop"))
    has(help.text("regularize.clip_grad_norm_"), "global norm is at most max_norm")
    -- another name of the same value: re-exports and aliases
    local A, data = require "kshot.augment", require "kshot.data"
    assert.equal(help.text("dataset.DataLoader"), help.text("data.DataLoader"))
    has(help.text("augment.hflip"), "random_horizontal_flip")
    has(help.text(A.hflip), "random_horizontal_flip")
    assert.equal(help.text("dataset.TensorDataset"), help.text(data.TensorDataset))
    -- a module's help lists its members
    local ms = help.text("model_selection")
    has(ms, "Members (help(\"model_selection.<name>\") documents one):")
    has(ms, "cross_validate expand_grid folds select")
    has(ms, "function(config, train_rows, val_rows, info)")
    -- the overview's summaries end with the sentence, not mid-way ("selection by")
    local o = help.text()
    assert.truthy(o:find("kshot.model_selection%s+cross%-validation and hyper%-parameter selection by inner"), o)
    assert.truthy(o:find("kshot.optim.lr%s+the same module as kshot.optim.lr_scheduler"), o)
    assert.truthy(o:find("kshot.nn.lora%s+low%-rank adapters %(LoRA, Hu et al. 2021%) on"), o)
  end)
end)

-- h70: every public function reachable from ks has a doc that help finds, under the
-- spellings users type (ks.nn.init.x, nn.functional.x, torch.nn.functional.x)
describe("kshot.help over everything reachable from ks", function()
  local function callable(v)
    if type(v) == "function" then return true end
    local mt = type(v) == "table" and getmetatable(v)
    return type(mt) == "table" and mt.__call ~= nil
  end
  -- "<group>.<name>" (or "t:<name>") for the public callables of each table, sorted
  local function reachable()
    local nn, optim = ks.nn, ks.optim
    local groups = { { "ks", ks }, { "nn", nn }, { "optim", optim }, { "data", ks.data }, { "linalg", ks.linalg },
      { "nn.init", nn.init }, { "nn.utils", nn.utils }, { "F", nn.functional },
      { "optim.lr_scheduler", optim.lr_scheduler } }
    local out = {}
    for _, g in ipairs(groups) do
      local keys = {}
      for k, v in pairs(g[2]) do
        if type(k) == "string" and not k:match("^_") and callable(v) then keys[#keys + 1] = k end
      end
      table.sort(keys)
      for _, k in ipairs(keys) do out[#out + 1] = { g[1] .. "." .. k, g[1], g[2][k] } end
    end
    local methods = {}
    for k, v in pairs(ks.Tensor) do
      if type(k) == "string" and not k:match("^_") and type(v) == "function" then methods[#methods + 1] = k end
    end
    table.sort(methods)
    for _, k in ipairs(methods) do out[#out + 1] = { "t:" .. k, "t", ks.Tensor[k] } end
    return out
  end

  it("finds a non-empty doc for every public function, class and tensor method", function()
    local names = reachable()
    assert.truthy(#names > 600, #names) -- the walk reaches the whole API, not one table
    local missing = {}
    for _, e in ipairs(names) do
      local text = help.text(e[1])
      if not text or not text:find("%S") then missing[#missing + 1] = e[1] end
    end
    assert.same({}, missing)
  end)

  it("has kshot's own notes for nn.init, nn.utils, F, data and linalg (not only a PyTorch pointer)", function()
    local strict = { ["nn.init"] = true, ["nn.utils"] = true, F = true, data = true, linalg = true }
    local bare = {}
    for _, e in ipairs(reachable()) do
      if strict[e[2]] then
        local text = help.text(e[1])
        if not text or text:find("no notes of its own", 1, true) or text:find("No notes of its own", 1, true) then
          bare[#bare + 1] = e[1]
        end
      end
    end
    assert.same({}, bare)
  end)

  it("takes the spellings users type for one name", function()
    local kn = help.text("nn.init.kaiming_normal_")
    has(kn, "init.kaiming_normal_(t[, a = 0[, mode = \"fan_in\"")
    has(kn, "std = gain / sqrt(fan)")
    assert.equal(kn, help.text("ks.nn.init.kaiming_normal_"))
    assert.equal(kn, help.text("init.kaiming_normal_"))
    assert.equal(kn, help.text("torch.nn.init.kaiming_normal_"))
    assert.equal(kn, help.text(ks.nn.init.kaiming_normal_))
    has(help.text("nn.init"), "weight initialisation as in PyTorch")
    has(help.text("nn.init"), "kaiming_normal_") -- the members list
    local data = help.text("ks.data")
    has(data, "kshot.data: data sets and samplers")
    assert.equal(data, help.text("data"))
    local csv = help.text("ks.data.read_csv")
    has(csv, "read_csv(path[, {label =")
    assert.equal(csv, help.text("data.read_csv"))
    local clip = help.text("nn.utils.clip_grad_norm_")
    has(clip, "nn.utils.clip_grad_norm_(parameters, max_norm")
    assert.equal(clip, help.text("ks.nn.utils.clip_grad_norm_"))
    assert.equal(clip, help.text("torch.nn.utils.clip_grad_norm_"))
    local la = help.text("ks.linalg")
    has(la, "torch.linalg's functions")
    assert.equal(la, help.text("linalg"))
    has(help.text("ks.linalg.solve"), "ks.linalg.solve(A, B)")
    local step = help.text("optim.lr_scheduler.StepLR")
    has(step, "torch.optim.lr_scheduler.StepLR")
    assert.equal(step, help.text("ks.optim.lr_scheduler.StepLR"))
    assert.equal(step, help.text("torch.optim.lr_scheduler.StepLR"))
    local relu = help.text("F.relu")
    has(relu, "F.relu/silu/tanh/sigmoid(x)")
    assert.equal(relu, help.text("nn.functional.relu"))
    assert.equal(relu, help.text("torch.nn.functional.relu"))
    assert.equal(relu, help.text("ks.nn.functional.relu"))
    assert.equal(relu, help.text("ks.functional.relu"))
    has(help.text("F.mse_loss"), "reduction \"mean\" | \"sum\" | \"none\"")
    has(help.text("F.avg_pool2d"), "count_include_pad=true")
    assert.equal(help.text("t:view"), help.text("torch.Tensor.view"))
    -- a class defined through a helper the patterns miss: the PyTorch name and its header's notes
    local clr = help.text("optim.lr_scheduler.CyclicLR")
    has(clr, "torch.optim.lr_scheduler.CyclicLR")
    has(clr, "base_lr")
    -- a wrong name under a good prefix is still "not found", naming what was asked
    local none, msg = help.text("ks.nn.init.no_such_init_")
    assert.is_nil(none)
    has(msg, "no kshot documentation found for 'nn.weight_init.no_such_init_'")
  end)
end)
