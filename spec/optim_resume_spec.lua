-- Resuming: model + optimizer (+ scheduler) state saved at step 100 and loaded
-- into fresh instances continues bit-identically to 200 uninterrupted steps.
require "kshot" -- first: it puts kshot's Lua modules on package.path
local optim = require "kshot.optim"

-- the training setup, as source text so a separate process can run the same code
local COMMON = [==[
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local lr = require "kshot.optim.lr"
local F = ks.functional
local function make_data()
  ks.manual_seed(42)
  local batches = {}
  for i = 1, 4 do batches[i] = {ks.randn(16, 4), ks.randint(0, 3, {16})} end
  return batches
end
local BATCHES = make_data()

local function make_model(seed)
  ks.manual_seed(seed)
  return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))
end

local CONFIGS = {
  {"SGD", {lr = 0.05, momentum = 0.9, nesterov = true, weight_decay = 1e-3}, "step"},
  {"Adam", {lr = 0.01, amsgrad = true, weight_decay = 1e-3}, "onecycle"},
  {"AdamW", {lr = 0.01}, "cosine"},
  {"RMSprop", {lr = 0.005, centered = true, momentum = 0.5}, nil},
  {"Adagrad", {lr = 0.05, lr_decay = 0.01, initial_accumulator_value = 0.1}, nil},
  {"LBFGS", {lr = 0.5, max_iter = 3, history_size = 5}, nil},
  {"Adamax", {lr = 0.01, weight_decay = 1e-3, maximize = false}, "step"},
  {"NAdam", {lr = 0.01, weight_decay = 1e-3, momentum_decay = 0.01}, "cosine"},
  {"RAdam", {lr = 0.01, weight_decay = 1e-3}, nil},
  {"Adadelta", {lr = 1.0, rho = 0.95, weight_decay = 1e-3}, nil},
}

local function make_sched(kind, opt)
  if kind == "step" then return lr.StepLR(opt, {step_size = 30, gamma = 0.5}) end
  if kind == "onecycle" then return lr.OneCycleLR(opt, {max_lr = 0.02, total_steps = 200}) end
  if kind == "cosine" then
    return lr.SequentialLR(opt, {lr.LinearLR(opt, {start_factor = 0.1, total_iters = 10}), lr.CosineAnnealingLR(opt, 190)},
      {milestones = {10}})
  end
end

local function setup(cfg, seed)
  local model = make_model(seed)
  local opt = optim[cfg[1]](model, cfg[2])
  return model, opt, make_sched(cfg[3], opt)
end

local function train(model, opt, sched, from, to)
  for step = from, to do
    local b = BATCHES[step % 4 + 1]
    local function closure()
      opt:zero_grad()
      local loss = F.cross_entropy(model(b[1]), b[2])
      loss:backward()
      return loss
    end
    if opt.__name == "LBFGS" then opt:step(closure) else closure(); opt:step() end
    if sched then sched:step() end
  end
end

local function snapshot(model)
  local out = {}
  for k, t in pairs(model:state_dict()) do out[k] = t:reshape(-1):totable() end
  return out
end

return {setup = setup, train = train, snapshot = snapshot, CONFIGS = CONFIGS}
]==]
local common = assert(load(COMMON, "=common"))()
local setup, train, snapshot, CONFIGS = common.setup, common.train, common.snapshot, common.CONFIGS

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".safetensors"
end

describe("resuming training", function()
  for _, cfg in ipairs(CONFIGS) do
    local label = cfg[1] .. (cfg[3] and (" + " .. cfg[3] .. " schedule") or "")

    it(label .. ": checkpoint file at step 100 -> fresh instances -> bit-identical at 200", function()
      local m1, o1, s1 = setup(cfg, 7)
      train(m1, o1, s1, 1, 200)
      local want = snapshot(m1)

      local m2, o2, s2 = setup(cfg, 7)
      train(m2, o2, s2, 1, 100)
      local path = tmpname()
      optim.save_checkpoint(path, {model = m2, optimizer = o2, scheduler = s2})
      -- fresh instances with a different initialisation: everything must come from the file
      local m3, o3, s3 = setup(cfg, 99)
      optim.load_checkpoint(path, {model = m3, optimizer = o3, scheduler = s3})
      os.remove(path)
      train(m3, o3, s3, 101, 200)
      assert.same(want, snapshot(m3))
    end)

    it(label .. ": in-memory state_dict round trip is bit-identical", function()
      local m1, o1, s1 = setup(cfg, 3)
      train(m1, o1, s1, 1, 200)
      local m2, o2, s2 = setup(cfg, 3)
      train(m2, o2, s2, 1, 100)
      local msd, osd, ssd = m2:state_dict(), o2:state_dict(), s2 and s2:state_dict()
      local m3, o3, s3 = setup(cfg, 5)
      m3:load_state_dict(msd)
      o3:load_state_dict(osd)
      if s3 then s3:load_state_dict(ssd) end
      train(m3, o3, s3, 101, 200)
      assert.same(snapshot(m1), snapshot(m3))
    end)
  end

  it("continues in a separate process", function()
    -- the interpreter running this spec (the kshot host or stock lua + kshot.so)
    local interp = arg and arg[-1]
    local i = -1
    while arg and arg[i - 1] do i = i - 1; interp = arg[i] end
    if interp and not interp:find("/", 1, true) then -- a name on PATH (lua5.4)
      local w = io.popen("command -v " .. interp)
      interp = w:read("l")
      w:close()
    end
    if not interp or not io.open(interp, "rb") then
      pending("cannot tell which interpreter runs this spec")
      return
    end
    local cfg = CONFIGS[2]
    local m1, o1, s1 = setup(cfg, 7)
    train(m1, o1, s1, 1, 200)
    local m2, o2, s2 = setup(cfg, 7)
    train(m2, o2, s2, 1, 100)
    local path = tmpname()
    optim.save_checkpoint(path, {model = m2, optimizer = o2, scheduler = s2})
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write(string.format("package.path = %q\npackage.cpath = %q\n", package.path, package.cpath))
    f:write(string.format("local PATH = %q\n", path))
    f:write("local c = assert(load(" .. string.format("%q", COMMON) .. ", '=common'))()\n")
    f:write([[
      local cfg = c.CONFIGS[2]
      local m, o, s = c.setup(cfg, 99)
      require("kshot.optim").load_checkpoint(PATH, {model = m, optimizer = o, scheduler = s})
      c.train(m, o, s, 101, 200)
      local out, snap = {}, c.snapshot(m)
      for _, k in ipairs({"0.weight", "3.weight"}) do
        for _, v in ipairs(snap[k]) do out[#out + 1] = string.format("%a", v) end
      end
      io.write(table.concat(out, " "))
    ]])
    f:close()
    local p = io.popen(string.format("%q %q 2>&1", interp, script))
    local out = p:read("a")
    p:close()
    os.remove(script)
    os.remove(path)
    local want = {}
    for _, k in ipairs({"0.weight", "3.weight"}) do
      for _, v in ipairs(snapshot(m1)[k]) do want[#want + 1] = string.format("%a", v) end
    end
    assert.equal(table.concat(want, " "), out)
  end)

  it("a bad checkpoint is an error naming the file, checked before anything is written", function()
    local ks = require "kshot"
    local cfg = CONFIGS[2] -- Adam + OneCycleLR
    local m2, o2, s2 = setup(cfg, 7)
    train(m2, o2, s2, 1, 3)
    local path = tmpname()
    optim.save_checkpoint(path, {model = m2, optimizer = o2, scheduler = s2})
    local good_t, good_m = ks.load(path)
    local function plain(v)
      if ks.is_tensor(v) then return v:reshape(-1):totable() end
      if type(v) ~= "table" then return v end
      local t = {}
      for k, x in pairs(v) do t[k] = plain(x) end
      return t
    end
    local function try(mod)
      local t, m = {}, {}
      for k, v in pairs(good_t) do t[k] = v end
      for k, v in pairs(good_m) do m[k] = v end
      mod(t, m)
      local bad = tmpname()
      ks.save(bad, t, m)
      local m3, o3, s3 = setup(cfg, 99)
      local before = plain({snapshot(m3), o3:state_dict(), s3:state_dict()})
      local ok, err = pcall(optim.load_checkpoint, bad, {model = m3, optimizer = o3, scheduler = s3})
      os.remove(bad)
      assert.is_false(ok)
      assert.equal(bad, err:match("^load_checkpoint: (.-): "))
      assert.same(before, plain({snapshot(m3), o3:state_dict(), s3:state_dict()})) -- nothing written
      return err
    end
    assert.matches("malformed number 'abc' in the metadata of 'optim.param_groups.#1.lr'",
      try(function(_, m) m["optim.param_groups.#1.lr"] = "n:abc" end))
    assert.matches("Adam: load_state_dict: parameter group 0: invalid lr: %-?nan",
      try(function(_, m) m["optim.param_groups.#1.lr"] = "n:nan" end))
    assert.matches("invalid beta parameter at index 1: 5",
      try(function(_, m) m["optim.param_groups.#1.betas"] = "t:0.9,5" end))
    assert.matches("malformed boolean 'yes'", try(function(_, m) m["optim.param_groups.#1.amsgrad"] = "b:yes" end))
    assert.matches("malformed integer key '#x'", try(function(_, m) m["optim.param_groups"] = "T:#x" end))
    assert.matches("'exp_avg' in the state of parameter 0 must be a float32 tensor",
      try(function(t) t["optim.state.#0.exp_avg"] = t["optim.state.#0.exp_avg"]:long() end))
    assert.matches("OneCycleLR: load_state_dict: 'last_epoch' must be a number, got string",
      try(function(_, m) m["sched.last_epoch"] = "s:3" end))
    assert.matches("OneCycleLR: load_state_dict: 'base_lrs' has 2 entries, the optimizer has 1 parameter groups",
      try(function(_, m) m["sched.base_lrs"] = "t:0.1,0.2" end))
    assert.matches("size mismatch for 0.weight", try(function(t) t["model.0.weight"] = ks.zeros(5) end))
    assert.matches("no scheduler state in the file", try(function(_, m)
      for k in pairs(m) do if k:match("^sched") then m[k] = nil end end end))
    os.remove(path)
    assert.matches("^load_checkpoint: /nonexistent/x.safetensors: ", select(2, pcall(optim.load_checkpoint,
      "/nonexistent/x.safetensors", {optimizer = o2})))
  end)
end)

