-- kshot.help: documentation found in kshot's own sources (Lua module headers,
-- doc comments above definitions, C binding comments).
local ks = require "kshot"
local help = require "kshot.help"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local stats = require "kshot.stats"
local hp = require "spec.helpers.host_process"

local function has(text, s) assert.truthy(text and text:find(s, 1, true), ("missing %q in:\n%s"):format(s, tostring(text))) end

describe("kshot.help", function()
  teardown(function() hp.cleanup() end)

  it("loads its table of signatures only for a name that needs it (start-up and documented names skip it)", function()
    -- in a fresh process: kshot's modules stay loaded for the life of a Lua state, and another spec file of the
    -- same busted run may have loaded this one
    local out, err, code = hp.run("-e " .. hp.q([[
      local help = require "kshot.help"
      help.text("nn.Linear"); help.text("stats.summary")
      io.write(tostring(package.loaded["kshot.help_signatures"] ~= nil), " ")
      help.text("t:sum")
      io.write(tostring(package.loaded["kshot.help_signatures"] ~= nil))]]))
    assert.equal(0, code, err)
    assert.equal("false true", out)
  end)

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
    -- a shape list is a plain array with a shared metatable: it documents t:shape, a bare table nothing
    assert.equal(help.text("t:shape"), help.text(ks.zeros(2, 3).shape))
    assert.equal(help.text("t:shape"), help.text(ks.zeros(2, 3):stride()))
    has(help.text("t:shape"), "t.shape")
    assert.is_nil(help.text({ 2, 3 }))
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
    has(step, "lr.StepLR(opt, step_size[, gamma = 0.1][, last_epoch = -1])") -- kshot.help_signatures
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
    assert.truthy(adamw:find("^optim%.AdamW%(params%[, {lr = 1e%-3, betas = {0.9, 0.999}"), adamw)
    has(adamw, "PyTorch: torch.optim.AdamW (the same semantics otherwise)")
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

  it("finds a bare class or function name in the module that has it (help(\"SGD\") as at a torch prompt)", function()
    local sgd = help.text("SGD")
    has(sgd, "SGD is optim.SGD\n")
    assert.equal("SGD is optim.SGD\n" .. help.text("optim.SGD"), sgd)
    has(help.text("DataLoader"), "DataLoader is data.DataLoader\n")
    has(help.text("Linear"), "Linear is nn.Linear\n")
    has(help.text("StepLR"), "StepLR is optim.lr_scheduler.StepLR\n")
    has(help.text("accuracy"), "accuracy is metrics.accuracy")
    -- ks.<name> first: a bare name that kshot's module table has keeps its own doc
    assert.equal(help.text("ks.no_grad"), help.text("no_grad"))
    local none, msg = help.text("no_such_name_anywhere")
    assert.is_nil(none)
    has(msg, "no kshot documentation found for 'no_such_name_anywhere'")
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

-- help.text of each public name, computed once for the walks below (~8 ms per name)
local text_cache = {}
local function cached_text(name)
  if text_cache[name] == nil then text_cache[name] = help.text(name) or false end
  return text_cache[name] or nil
end

describe("kshot.help over everything reachable from ks", function()
  it("finds a non-empty doc for every public function, class and tensor method", function()
    local names = reachable()
    assert.truthy(#names > 600, #names) -- the walk reaches the whole API, not one table
    local missing = {}
    for _, e in ipairs(names) do
      local text = cached_text(e[1])
      if not text or not text:find("%S") then missing[#missing + 1] = e[1] end
    end
    assert.same({}, missing)
  end)

  it("has kshot's own notes for every public name, not only a PyTorch pointer (h75: none left)", function()
    local bare = {}
    for _, e in ipairs(reachable()) do
      local text = cached_text(e[1])
      if not text or text:find("no notes of its own", 1, true) or text:find("No notes of its own", 1, true) then
        bare[#bare + 1] = e[1]
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

-- h75: kshot.help_signatures gives the call shape, a summary and kshot's differences for the
-- names whose doc was only a pointer to PyTorch's. What can be checked mechanically is: the
-- entries name public callables help would otherwise leave bare, their signatures start with
-- that name, and the option names inside a signature's {...} are the ones the function accepts.
describe("kshot.help_signatures", function()
  local sigs = require "kshot.help_signatures"
  local keys = {}
  for k in pairs(sigs) do keys[#keys + 1] = k end
  table.sort(keys)

  -- the name a signature line starts with: the key, with lr. for the schedulers (kshot.optim.lr)
  local function callee_name(key) return (key:gsub("^optim%.lr_scheduler%.", "lr.")) end

  -- the function an entry documents, or nil and the method name for "t:<name>"
  local function target(key)
    local method = key:match("^t:([%w_]+)$")
    if method then return nil, method end
    local sched = key:match("^optim%.lr_scheduler%.([%w_]+)$")
    if sched then return ks.optim.lr_scheduler[sched] end
    local mod, name = key:match("^(%a+)%.([%w_]+)$")
    return ({ ks = ks, nn = ks.nn, optim = ks.optim })[mod][name]
  end

  -- sample values for the positional arguments named in the signatures
  local function t23() return ks.ones(2, 3) end
  local SAMPLE = { t = t23, a = t23, b = t23, other = t23, t1 = t23, t2 = t23, source = function() return ks.ones(1, 3) end,
    dim = function() return 0 end, index = function() return ks.tensor({ 0 }, ks.int64) end,
    value = function() return 7 end, ["size..."] = function() return 2 end, num_features = function() return 3 end,
    params = function() return { ks.zeros(2, { requires_grad = true }) } end }
  -- the schedulers' optimizer, and SequentialLR's schedulers on that same optimizer (made after it)
  local sample_opt
  SAMPLE.opt = function()
    sample_opt = ks.optim.SGD({ ks.zeros(2, { requires_grad = true }) }, { lr = 0.1, momentum = 0.9 })
    return sample_opt
  end
  SAMPLE["{schedulers}"] = function()
    local lr = ks.optim.lr_scheduler
    return { lr.StepLR(sample_opt, 2), lr.StepLR(sample_opt, 3) }
  end

  -- a signature line's positional arguments before its options table {k = ...} and that table's text
  -- (nil when the line has none): "t:add(other[, {alpha = 1, out = r}])" -> {"other"}, "{alpha = 1, out = r}"
  local function split_line(line)
    local body = line:match("^[%w_%.:]+%s*(.*)$") or ""
    local pos = 1
    while true do
      local s, e = body:find("%b{}", pos)
      if not s then return nil end
      local group = body:sub(s, e)
      if group:find("=", 1, true) then
        local prefix = body:sub(1, s - 1):gsub("^%(", ""):gsub("%b[]", ""):gsub("[%[%]]", "")
          :gsub("[%w_]+%s*|%s*", "")
        local args = {}
        for a in prefix:gmatch("[^,]+") do
          a = a:match("^%s*(.-)%s*$")
          if a ~= "" then args[#args + 1] = a end
        end
        return args, group
      end
      pos = e + 1
    end
  end

  local function option_keys(group)
    local out = {}
    for k in group:sub(2):gmatch("([%a_][%w_]*)%s*=") do out[#out + 1] = k end
    return out
  end

  -- the keys of a signature line the function does not accept: it is called with the line's positional
  -- arguments and an unknown option, and its error lists the known ones ("(known: a, b)", "(expected: a, b)")
  local function rejected_keys(key, line)
    local args, group = split_line(line)
    local full = {}
    for i, a in ipairs(args) do
      local make = SAMPLE[a]
      if not make then return { "no sample value for argument '" .. a .. "'" } end
      full[i] = make()
    end
    full[#full + 1] = { h75_not_an_option = true }
    local f, method = target(key)
    local ok, err = pcall(function()
      if method then
        local x = ks.ones(2, 3)
        return x[method](x, table.unpack(full, 1, #full))
      end
      return f(table.unpack(full, 1, #full))
    end)
    if ok then return { "accepted an unknown option" } end
    local list = tostring(err):match("%(known: ([^)]*)%)") or tostring(err):match("%(expected:? ([^)]*)%)")
    if not list then return { "no list of known options in: " .. tostring(err) } end
    local known, bad = {}, {}
    for k in list:gmatch("[%w_]+") do known[k] = true end
    for _, k in ipairs(option_keys(group)) do
      if not known[k] then bad[#bad + 1] = k end
    end
    return bad
  end

  -- (h79: the list of functions that ignored unknown keys, addc* and the lr schedulers, is gone: they all
  -- reject one now, so every signature with an options table is probed)
  local function is_scheduler(key) return key:match("^optim%.lr_scheduler%.") ~= nil end

  it("documents only public callables, and each entry is what help shows for that name", function()
    local public, bad = {}, {}
    for _, e in ipairs(reachable()) do public[e[1]] = true end
    for _, key in ipairs(keys) do
      local e = sigs[key]
      local text = cached_text(key) or ""
      if not public[key] then bad[#bad + 1] = key .. ": not a public callable" end
      local head = e.sig .. "\n" .. tostring(e[1])
      if text:sub(1, #head) ~= head then bad[#bad + 1] = key .. ": help shows something else" end
      if not (type(e[1]) == "string" and e[1]:match("%.$")) then bad[#bad + 1] = key .. ": no one-line summary" end
      for line in (e.sig .. "\n"):gmatch("(.-)\n") do
        local lead = line:match("^([%w_%.:]+)%s*[%(%{]")
        if lead ~= callee_name(key) then bad[#bad + 1] = key .. ": signature line names " .. tostring(lead) end
      end
      local pointer = e.torch == false and "kshot's own: PyTorch has no such function."
        or "PyTorch: torch." .. (e.torch and e.torch:gsub("^torch%.", "") or "")
      if not text:find(pointer, 1, true) then bad[#bad + 1] = key .. ": no PyTorch pointer line" end
    end
    assert.same({}, bad)
    assert.truthy(#keys > 380, #keys)
  end)

  it("shows the call shape and kshot's differences for the names the brief names", function()
    local sum = help.text("t:sum")
    assert.truthy(sum:find("^t:sum%(%[dim%]%[, keepdim = false%]%)\nt:sum{dim =, keepdim =}\nSum over dim"), sum)
    has(sum, "kshot: dim: one dim or a list {0, 2}")
    has(sum, "PyTorch: torch.Tensor.sum (the same semantics otherwise)")
    assert.equal(sum, help.text(ks.ones(1).sum)) -- by value too
    assert.equal(sum, help.text("torch.Tensor.sum"))
    local add = help.text("ks.add")
    assert.truthy(add:find("^ks%.add%(a, b%[, {alpha = 1, out = r}%]%)"), add)
    has(add, "PyTorch: torch.add")
    has(help.text("t:add_"), "refuses a tensor that requires grad")
    local relu = help.text("nn.ReLU")
    assert.truthy(relu:find("^nn%.ReLU%(%[inplace = false%]%)\n"), relu)
    has(relu, "inplace (a boolean) is accepted for ports and not used")
    assert.equal(relu, help.text(ks.nn.ReLU))
    assert.equal(relu, help.text("torch.nn.ReLU"))
    local adam = help.text("optim.Adam")
    has(adam, "optim.Adam(params[, {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0")
    has(adam, "AdamW's weight_decay is *decoupled*") -- the module header's notes stay
    assert.equal(help.text("lr.StepLR"), help.text("optim.lr_scheduler.StepLR"))
    has(help.text("t:close"), "kshot's own: PyTorch has no such function.")
    has(help.text("t:flip"), "negative strides")
  end)

  it("names only options the functions accept (an unknown key's error lists the known ones)", function()
    local bad, probed = {}, 0
    for _, key in ipairs(keys) do
      for line in (sigs[key].sig .. "\n"):gmatch("(.-)\n") do
        if split_line(line) then
          probed = probed + 1
          for _, k in ipairs(rejected_keys(key, line)) do bad[#bad + 1] = key .. ": " .. k end
        end
      end
    end
    assert.same({}, bad)
    assert.truthy(probed > 200, probed)
    -- the check itself can fail: a misspelled option, an option of another function
    assert.same({ "keepdm" }, rejected_keys("t:sum", "t:sum{dim =, keepdm =}"))
    assert.same({ "alpha" }, rejected_keys("t:mul", "t:mul(other[, {alpha = 1}])"))
    assert.same({ "accepted an unknown option" }, rejected_keys("nn.Identity", "nn.Identity({x =})")) -- takes anything
  end)

  it("checks addcdiv/addcmul's value by its effect, and that the schedulers' code reads their documented options",
    function()
    assert.same({ 2, 2 }, ks.addcdiv(ks.zeros(2), ks.ones(2), ks.full({ 2 }, 2.0), { value = 4 }):totable())
    assert.same({ 2, 2 }, ks.zeros(2):addcdiv(ks.ones(2), ks.full({ 2 }, 2.0), { value = 4 }):totable())
    assert.same({ 2, 2 }, ks.zeros(2):addcdiv_(ks.ones(2), ks.full({ 2 }, 2.0), { value = 4 }):totable())
    assert.same({ 6, 6 }, ks.zeros(2):addcmul_(ks.ones(2), ks.full({ 2 }, 3.0), { value = 2 }):totable())
    -- the schedulers read their options as opts.<key> or through number_opt(name, opts, "<key>", ...)
    local root = package.searchpath("kshot.optim.lr_scheduler", package.path):gsub("lr_scheduler%.lua$", "")
    local src = ""
    for _, f in ipairs({ "lr_scheduler.lua", "lr_scheduler_cyclic.lua", "lr_scheduler_factor.lua" }) do
      local h = assert(io.open(root .. f))
      src = src .. h:read("a")
      h:close()
    end
    local bad, n = {}, 0
    for _, key in ipairs(keys) do
      if is_scheduler(key) then
        for line in (sigs[key].sig .. "\n"):gmatch("(.-)\n") do
          local _, group = split_line(line)
          for _, k in ipairs(group and option_keys(group) or {}) do
            n = n + 1
            if not (src:find("opts%." .. k .. "%f[^%w_]") or src:find("opts, \"" .. k .. "\"", 1, true)) then
              bad[#bad + 1] = key .. ": " .. k
            end
          end
        end
      end
    end
    assert.same({}, bad)
    assert.truthy(n > 30, n)
  end)

  it("gives the optimizers' and batch norms' defaults as the code has them", function()
    local n = 0
    for _, key in ipairs(keys) do
      local cls = key:match("^optim%.(%u[%w_]*)$") or key:match("^nn%.(BatchNorm%w+)$")
      if cls then
        local _, group = split_line(sigs[key].sig:match("[^\n]*$"))
        local want = assert(load("return " .. group))()
        if key:match("^optim") then
          assert.same(want, ks.optim[cls]({ ks.zeros(2, { requires_grad = true }) }).defaults, key)
        else
          local m = ks.nn[cls](3)
          for k, v in pairs(want) do assert.equal(v, m[k], key .. "." .. k) end
        end
        n = n + 1
      end
    end
    assert.equal(9, n) -- SGD, Adam, AdamW, Adamax, Adagrad, Adadelta, RMSprop, BatchNorm1d, BatchNorm2d
  end)

  it("leaves wrong names next to the entries not found", function()
    local none, msg = help.text("t:add__")
    assert.is_nil(none)
    has(msg, "no kshot documentation found for 't:add__'")
    assert.is_nil((help.text("nn.ReLUU")))
    assert.is_nil((help.text("optim.Adamm")))
  end)
end)
