-- optim.save_checkpoint / load_checkpoint with the entries a training script keeps beside the
-- model, optimizer and scheduler (torch.save({"model": ..., "epoch": e, "best": ..., "rng": ...})):
-- they round-trip exactly, come back from load_checkpoint, and nothing is silently dropped.
local ks = require "kshot"
local nn = require "kshot.nn"
local optim = require "kshot.optim"
local lr = require "kshot.optim.lr_scheduler"

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".safetensors"
end

local function err_of(fn, ...)
  local ok, msg = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function setup(seed)
  ks.manual_seed(seed)
  local model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
  local opt = optim.AdamW(model:parameters(), {lr = 1e-2})
  return model, opt, lr.CosineAnnealingLR(opt, 20)
end

local function step(model, opt, sched, n)
  for _ = 1, n do
    local x, y = ks.randn(8, 3), ks.randint(0, 2, {8})
    opt:zero_grad()
    ks.functional.cross_entropy(model(x), y):backward()
    opt:step()
    sched:step()
  end
end

local function cloned(sd)
  local out = {}
  for k, v in pairs(sd) do out[k] = v:clone() end
  return out
end

describe("checkpoint entries besides model, optimizer and scheduler", function()
  it("round-trip exactly and are returned by load_checkpoint", function()
    local model, opt, sched = setup(1)
    step(model, opt, sched, 3)
    local best = cloned(model:state_dict()) -- keys with '.' ("0.weight"), an int64 buffer
    local path, rng = tmpname(), ks.get_rng_state()
    optim.save_checkpoint(path, {model = model, optimizer = opt, scheduler = sched, epoch = 7, best_acc = 0.1 + 0.2,
      best = best, rng = rng, note = "a,b.c", done = false, history = {0.5, 0.25}})
    local m2, o2, s2 = setup(2)
    local extra = optim.load_checkpoint(path, {model = m2, optimizer = o2, scheduler = s2})
    os.remove(path)
    assert.equal(7, extra.epoch)
    assert.equal("integer", math.type(extra.epoch))
    assert.equal(0.1 + 0.2, extra.best_acc) -- %.17g: the same double
    assert.equal(rng, extra.rng)
    assert.equal("a,b.c", extra.note)
    assert.is_false(extra.done)
    assert.same({0.5, 0.25}, extra.history)
    local n = 0
    for k, v in pairs(best) do
      n = n + 1
      assert.is_true(ks.equal(v, extra.best[k]), k)
      assert.equal(v:dtype(), extra.best[k]:dtype())
    end
    assert.equal(9, n)
    assert.equal(n, #(function() local t = {} for k in pairs(extra.best) do t[#t + 1] = k end return t end)())
  end)

  it("resume with the saved RNG state continues as the uninterrupted run", function()
    local m1, o1, s1 = setup(3)
    step(m1, o1, s1, 10)
    local m2, o2, s2 = setup(3)
    step(m2, o2, s2, 5)
    local path = tmpname()
    optim.save_checkpoint(path, {model = m2, optimizer = o2, scheduler = s2, rng = ks.get_rng_state(), step = 5})
    ks.manual_seed(12345) -- another process would start from another state
    local m3, o3, s3 = setup(4)
    local extra = optim.load_checkpoint(path, {model = m3, optimizer = o3, scheduler = s3})
    os.remove(path)
    ks.set_rng_state(extra.rng)
    step(m3, o3, s3, 10 - extra.step)
    for k, v in pairs(m1:state_dict()) do assert.is_true(ks.equal(v, m3:state_dict()[k]), k) end
  end)

  it("state_dict tables are accepted for the parts, as torch's {'model': model.state_dict()}", function()
    local model, opt, sched = setup(5)
    step(model, opt, sched, 2)
    local path = tmpname()
    optim.save_checkpoint(path, {model = model:state_dict(), optimizer = opt:state_dict(),
      scheduler = sched:state_dict(), epoch = 1})
    local m2, o2, s2 = setup(6)
    assert.equal(1, optim.load_checkpoint(path, {model = m2, optimizer = o2, scheduler = s2}).epoch)
    os.remove(path)
    assert.is_true(ks.equal(model[0].weight, m2[0].weight))
    assert.same(opt:state_dict().param_groups, o2:state_dict().param_groups)
  end)

  it("a file without other entries gives {}", function()
    local model, opt, sched = setup(7)
    local path = tmpname()
    optim.save_checkpoint(path, {model = model, optimizer = opt, scheduler = sched})
    local extra = optim.load_checkpoint(path, {model = model, optimizer = opt, scheduler = sched})
    os.remove(path)
    assert.same({}, extra)
  end)
end)

describe("checkpoint entries: bad input", function()
  local model, opt = setup(8)
  local path = tmpname()

  it("an unknown part in load_checkpoint is an error that says where the entries are", function()
    optim.save_checkpoint(path, {model = model, epoch = 3})
    local msg = err_of(optim.load_checkpoint, path, {model = model, epoch = true})
    assert.matches("load_checkpoint: unknown part 'epoch' %(model, optimizer, scheduler%)", msg)
    assert.matches("local extra = optim.load_checkpoint%(path, {...}%); extra.epoch", msg)
    os.remove(path)
  end)

  it("objects are refused with what to store instead", function()
    assert.matches("save_checkpoint: 'ema' is an object: store ema:state_dict%(%)",
      err_of(optim.save_checkpoint, path, {model = model, ema = nn.Linear(2, 2)}))
    assert.matches("save_checkpoint: 'gen' is a generator: store gen:get_state%(%)",
      err_of(optim.save_checkpoint, path, {model = model, gen = ks.Generator(1)}))
    assert.matches("save_checkpoint: 'f' is a function",
      err_of(optim.save_checkpoint, path, {model = model, f = print}))
    assert.matches("save_checkpoint: 'x.m' is an object: store its state_dict%(%)",
      err_of(optim.save_checkpoint, path, {model = model, x = {m = opt}}))
    assert.matches("save_checkpoint: parts.model must be an object with state_dict %(or its state_dict table%), got number",
      err_of(optim.save_checkpoint, path, {model = 3}))
    assert.matches("save_checkpoint: the model's state_dict entry 'w' is a number, not a tensor",
      err_of(optim.save_checkpoint, path, {model = {w = 1}}))
  end)

  it("keys that cannot be stored are refused, never renamed", function()
    assert.matches("two entries are stored under the name 'x.a.b'",
      err_of(optim.save_checkpoint, path, {x = {["a.b"] = 1, a = {b = 2}}}))
    assert.matches("cannot store key a,b of 'x'", err_of(optim.save_checkpoint, path, {x = {["a,b"] = 1}}))
    assert.matches("cannot store key #1 of 'x'", err_of(optim.save_checkpoint, path, {x = {["#1"] = 1}}))
    assert.matches("entry keys must be strings, got number 1", err_of(optim.save_checkpoint, path, {[1] = 2}))
    assert.is_nil(io.open(path, "rb")) -- nothing written
  end)

  it("ks.save of a torch.save-style dict says where plain values go", function()
    local msg = err_of(ks.save, path, {model = model:state_dict(), epoch = 3})
    assert.matches("save: value of '%a+' must be a kshot.Tensor, got %a+", msg)
    assert.matches("optim.save_checkpoint%(path, {model = model, optimizer = opt, scheduler = sched, epoch = n", msg)
  end)
end)
