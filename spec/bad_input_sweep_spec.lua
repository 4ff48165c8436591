-- bad_input_sweep_spec.lua: a systematic sweep of bad inputs over EVERY
-- function of the module table, its sub-tables, the tensor method table and
-- the tensor metamethods (so functions added later are swept automatically).
--
-- Each function is called inside pcall with many argument lists: none, nil,
-- numbers (huge, negative, NaN, inf), strings, tables (ragged, deep, cyclic),
-- booleans, a function, a foreign userdata, a released tensor and tensors of
-- several shapes and dtypes (0-d, empty, non-contiguous). A call passes when
-- it returns or raises a Lua error whose message is a non-empty string; a
-- crash kills the test process, which the runner reports as a failure.
-- To find the culprit of a crash: KSHOT_SWEEP_TRACE=1 prints each function
-- before it is swept, =2 every call; KSHOT_SWEEP_ONLY=name sweeps only the
-- functions whose qualified name contains `name`; KSHOT_SWEEP_SKIP=a,b skips
-- the listed qualified names (development only: the full run must pass).
local ks = require "kshot"
ks._load_extras() -- the tensor functions written in Lua load on first use: sweep them too

-- Functions with side effects the sweep must not trigger, with the reason.
local SKIP = {
  ["ks.set_memory_limit"] = "changes the state's limit (the sweep's own safety net)",
  ["ks.set_num_threads"] = "huge counts would start hundreds of threads; changes state",
  ["ks.interrupt"] = "sets the interrupt flag: the next kernel of another test would stop",
  ["ks.set_grad_enabled"] = "global autograd mode; restored after the sweep anyway",
}
-- Name patterns skipped wherever they appear: they write files, block, or end the process.
local SKIP_PATTERNS = {
  {"save", "writes files"}, {"write", "writes files"}, {"dump", "writes files"},
  {"export", "writes files"}, {"download", "uses the network"}, {"sleep", "blocks"},
  {"exit", "ends the process"}, {"repl", "reads stdin"}, {"serve", "blocks"},
}

local function skip_reason(qualified, name)
  if SKIP[qualified] then return SKIP[qualified] end
  for _, p in ipairs(SKIP_PATTERNS) do
    if name:lower():find(p[1], 1, true) then return p[2] end
  end
  return nil
end

-- ---------------------------------------------------------------- values
local cyclic = {}
cyclic[1] = cyclic
local deep = {1}
for _ = 1, 40 do deep = {deep} end

local function scalars()
  return {
    {"nil", nil}, {"0", 0}, {"1", 1}, {"-1", -1}, {"2", 2}, {"1.5", 1.5}, {"-0.5", -0.5},
    {"maxinteger", math.maxinteger}, {"mininteger", math.mininteger}, {"2^40", 1 << 40},
    {"-2^40", -(1 << 40)}, {"2^31", 1 << 31}, {"NaN", 0 / 0}, {"inf", math.huge}, {"-inf", -math.huge},
    {"string", "not a tensor"}, {"empty string", ""}, {"dtype name", "int64"}, {"bad dtype", "float128"},
    {"table", {}}, {"list", {1, 2, 3}}, {"ragged", {{1, 2}, {3}}}, {"mixed table", {1, "a", true}},
    {"deep table", deep}, {"cyclic table", cyclic}, {"options table", {dim = 99, keepdim = "x"}},
    {"true", true}, {"false", false}, {"function", function() return 1 end}, {"userdata", io.stdout},
  }
end

-- fresh tensors for every swept function (in-place methods and close mutate them)
local function tensors()
  local list = {}
  local function add(name, make)
    local ok, t = pcall(make)
    if ok and ks.is_tensor(t) then list[#list + 1] = {name, t} end
  end
  add("float32 [2, 3]", function() return ks.ones(2, 3) end)
  add("float32 0-d", function() return ks.zeros({}) end)
  add("float32 empty [0]", function() return ks.zeros(0) end)
  add("float32 empty [0, 3]", function() return ks.zeros(0, 3) end)
  add("float32 [1, 1, 1]", function() return ks.ones(1, 1, 1) end)
  add("float32 [3, 2] transposed", function() return ks.ones(2, 3):t() end)
  add("int64 [3]", function() return ks.ones(3, "int64") end)
  add("uint8 [2, 2]", function() return ks.ones(2, 2, "uint8") end)
  add("bool [2]", function() return ks.ones(2, "bool") end)
  add("float32 [2, 3, 4]", function() return ks.zeros(2, 3, 4) end)
  add("released", function() local t = ks.ones(2); t:close(); return t end)
  return list
end

-- ---------------------------------------------------------------- targets
local function collect_targets()
  local targets = {}
  local function add_table(prefix, tbl)
    local names = {}
    for k, v in pairs(tbl) do
      if type(k) == "string" and type(v) == "function" then names[#names + 1] = k end
    end
    table.sort(names)
    for _, k in ipairs(names) do
      targets[#targets + 1] = {name = prefix .. k, short = k, f = tbl[k]}
    end
  end
  add_table("ks.", ks)
  -- the Lua modules ks loads on first use (ks.nn, ks.experiment, ...) are swept too, once: by the host's
  -- run, not the sanitizer sub-run nor stock lua5.4's (KSHOT_SWEEP_LAZY=0; the same Lua code: a hang or a
  -- raw error is what this finds). Not the ones that run commands, print help or end the process: cli,
  -- help, regression, progress.
  if not os.getenv("ASAN_OPTIONS") and os.getenv("KSHOT_SWEEP_LAZY") ~= "0" then
    for _, name in ipairs { "nn", "optim", "autograd", "stats", "experiment", "fewshot", "features", "regularize",
      "dataset", "model_selection", "pretty" } do
      local _ = ks[name]
    end
  end
  -- sub-tables of the module (ks.nn, ks.data, ...), one level deep
  local subs = {}
  for k, v in pairs(ks) do
    if type(k) == "string" and type(v) == "table" and v ~= ks.Tensor then subs[#subs + 1] = k end
  end
  table.sort(subs)
  for _, k in ipairs(subs) do add_table("ks." .. k .. ".", ks[k]) end
  add_table("Tensor:", ks.Tensor)
  local mt = getmetatable(ks.zeros(1))
  if type(mt) == "table" then add_table("metamethod ", mt) end
  return targets
end

-- ---------------------------------------------------------------- calling
local violations = {}
local calls = 0

local function describe_args(args, n)
  local parts = {}
  for i = 1, n do parts[i] = args[i] and args[i][1] or "nil" end
  return "(" .. table.concat(parts, ", ") .. ")"
end

local trace = tonumber(os.getenv("KSHOT_SWEEP_TRACE") or "0") or 0
local only = os.getenv("KSHOT_SWEEP_ONLY") -- sweep only names containing this
local dev_skip = os.getenv("KSHOT_SWEEP_SKIP") -- comma-separated exact names (development only)

local function try(target, args, n)
  if trace >= 2 then io.stderr:write("  call ", target.name, describe_args(args, n), "\n") end
  local vals = {}
  for i = 1, n do vals[i] = args[i] and args[i][2] end
  calls = calls + 1
  local ok, err = pcall(target.f, table.unpack(vals, 1, n))
  if not ok and (type(err) ~= "string" or err == "") then
    violations[#violations + 1] = ("%s%s raised a %s error object (%s)"):format(
      target.name, describe_args(args, n), type(err), tostring(err))
  end
end

local function sweep(target)
  local vals = scalars()
  local ts = tensors()
  try(target, {}, 0)
  for _, v in ipairs(vals) do try(target, {v}, 1) end
  for _, t in ipairs(ts) do
    try(target, {t}, 1)
    for _, v in ipairs(vals) do
      try(target, {t, v}, 2)
      try(target, {v, t}, 2)
      try(target, {t, {"0", 0}, v}, 3)
      try(target, {t, v, {"1", 1}}, 3)
    end
    for _, u in ipairs(ts) do
      try(target, {t, u}, 2)
      try(target, {t, {"0", 0}, u}, 3)
    end
    try(target, {t, t, t}, 3)
  end
  -- four and five arguments, for conv/linear/narrow-like signatures
  for _, v in ipairs(vals) do
    try(target, {ts[1], ts[1], v, {"0", 0}}, 4)
    try(target, {ts[1], {"0", 0}, {"0", 0}, v}, 4)
    try(target, {ts[1], ts[1], ts[1], v, v}, 5)
    try(target, {ts[1], v, v}, 3)
  end
  -- scalars in the tensor positions of creation functions
  for _, v in ipairs(vals) do
    try(target, {v, v}, 2)
    try(target, {{"2", 2}, {"3", 3}, v}, 3)
  end
end

-- ---------------------------------------------------------------- the spec
describe("bad input sweep", function()
  local saved_limit, saved_threads

  setup(function()
    saved_limit = ks.get_memory_limit()
    saved_threads = ks.get_num_threads()
    collectgarbage()
    -- a tight limit: absurd sizes fail fast instead of exhausting the machine
    ks.set_memory_limit(ks.memory_stats().live_bytes + (256 << 20))
  end)

  teardown(function()
    ks.set_memory_limit(saved_limit)
    ks.set_num_threads(saved_threads)
    if ks.set_grad_enabled then ks.set_grad_enabled(true) end
  end)

  it("every function returns or raises a string error for every bad argument list", function()
    local targets = collect_targets()
    local swept, skipped = 0, {}
    for _, target in ipairs(targets) do
      local reason = skip_reason(target.name, target.short)
      if only and not target.name:find(only, 1, true) then
        reason = "not selected by KSHOT_SWEEP_ONLY"
      end
      if dev_skip and ("," .. dev_skip .. ","):find("," .. target.name .. ",", 1, true) then
        reason = "skipped by KSHOT_SWEEP_SKIP"
      end
      if reason then
        skipped[#skipped + 1] = target.name .. ": " .. reason
      else
        if trace >= 1 then io.stderr:write("sweep: ", target.name, "\n") end
        sweep(target)
        swept = swept + 1
        collectgarbage()
      end
    end
    -- the sweep covered what exists (more appear as helpers add functions)
    if not only then
      assert.is_true(swept >= 20, "only " .. swept .. " functions swept")
      assert.is_true(calls > 10000)
    end
    assert.same({}, violations)
  end)

  it("the state still works after the sweep", function()
    collectgarbage()
    local t = ks.ones(2, 2)
    assert.same({{1, 1}, {1, 1}}, t:totable())
    assert.equal(4, t:numel())
  end)

  it("C methods called on a non-tensor name the argument", function()
    local missing = {}
    for name, f in pairs(ks.Tensor) do
      if type(f) == "function" and debug.getinfo(f, "S").what == "C" and not skip_reason("Tensor:" .. name, name) then
        local ok, e = pcall(f, "not a tensor")
        if not ok and not (tostring(e):find("bad argument", 1, true) or tostring(e):find("#1", 1, true)) then
          missing[#missing + 1] = name .. ": " .. tostring(e)
        end
      end
    end
    table.sort(missing)
    assert.same({}, missing)
  end)

  it("representative wrong-type errors name the argument number", function()
    local t = ks.ones(2, 3)
    local cases = {
      {"#1", ks.transpose, "x", 0, 1},
      {"#2", t.narrow, t, "x", 0, 1},
      {"#3", t.select, t, 0, "x"},
      {"#2", t.transpose, t, {}, 1},
      {"#1", ks.set_num_threads, "x"},
      {"#1", ks.set_memory_limit, true},
      {"#1", t.view, 42, 6},
      {"#1", t.dim, nil},
    }
    -- functions of other areas, checked when present
    local optional = {
      {"matmul", "#2", t, "x"}, {"mm", "#2", t, "x"}, {"sum", "#2", t, "x"},
      {"index_select", "#3", t, 0, "x"}, {"cat", "#1", "x"},
    }
    for _, o in ipairs(optional) do
      local f = ks[o[1]]
      if f then cases[#cases + 1] = {o[2], f, o[3], o[4], o[5]} end
    end
    for _, c in ipairs(cases) do
      local ok, e = pcall(c[2], table.unpack(c, 3, 5))
      assert.is_false(ok, "expected an error for case " .. _)
      assert.truthy(tostring(e):find("bad argument " .. c[1], 1, true),
        ("case %d: expected 'bad argument %s' in: %s"):format(_, c[1], tostring(e)))
    end
  end)
end)
