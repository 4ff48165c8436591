-- system_spec.lua: threads, memory limit and statistics, version, interrupt, host name.
local ks = require "kshot"

local function err_of(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  assert.is_string(e)
  return e
end

describe("version", function()
  it("ks.version and ks.__version are the same x.y.z string", function()
    assert.is_string(ks.version)
    assert.equal(ks.version, ks.__version)
    assert.truthy(ks.version:match("^%d+%.%d+%.%d+$"))
  end)
end)

describe("sub-modules as fields (ks.nn as torch.nn)", function()
  it("ks.nn, ks.optim, ks.autograd, ks.stats ... are the kshot.<name> modules, loaded on first use", function()
    for _, name in ipairs { "nn", "optim", "autograd", "stats", "experiment", "fewshot", "regularize" } do
      assert.equal(require("kshot." .. name), ks[name], name)
      assert.equal(ks[name], rawget(ks, name), name) -- stored: the next lookup is a plain field
    end
    assert.is_function(ks.nn.Linear(3, 2).forward)
  end)

  it("other missing names stay nil", function()
    assert.is_nil(ks.no_such_module)
    assert.is_nil(ks[1])
    assert.is_nil(ks.nn_typo)
  end)
end)

describe("one copy of each kshot Lua module per Lua state", function()
  -- what busted does between spec files: the modules a file loaded are dropped from package.loaded
  local function unload_kshot()
    local dropped = {}
    for name, v in pairs(package.loaded) do
      if type(name) == "string" and name:match("^kshot") then dropped[name], package.loaded[name] = v, nil end
    end
    return dropped
  end

  it("require after package.loaded was emptied returns the same modules, as ks.nn does", function()
    local nn, help = require "kshot.nn", require "kshot.help"
    local linear, init = nn.Linear, nn.init
    local dropped = unload_kshot()
    assert.is_nil(package.loaded["kshot.nn"])
    assert.equal(ks, require "kshot")
    assert.equal(nn, require "kshot.nn")
    assert.equal(linear, require("kshot.nn").Linear)
    assert.equal(ks.nn, require "kshot.nn")
    assert.equal(help, require "kshot.help")
    -- the modules loaded through others are back too: help finds a value by the loaded modules
    for name, v in pairs(dropped) do assert.equal(v, package.loaded[name], name) end
    assert.equal("nn.weight_init.kaiming_normal_", help.name(init.kaiming_normal_))
  end)

  it("a kshot module that is not there, or does not compile, fails as require says", function()
    local ok, e = pcall(require, "kshot.no_such_module")
    assert.is_false(ok)
    assert.truthy(e:find("module 'kshot.no_such_module' not found", 1, true), e)
    local seen = {}
    for line in e:gmatch("[^\n]+%.lua'") do -- each Lua file looked for is named once
      assert.is_nil(seen[line], line)
      seen[line] = true
    end
    assert.truthy(next(seen), e)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir .. "/kshot"))
    local f = assert(io.open(dir .. "/kshot/broken_for_spec.lua", "w"))
    f:write("return {\n")
    f:close()
    local path = package.path
    package.path = dir .. "/?.lua;" .. path
    ok, e = pcall(require, "kshot.broken_for_spec")
    package.path = path
    os.execute("rm -rf " .. dir)
    assert.is_false(ok)
    assert.truthy(e:find("error loading module 'kshot.broken_for_spec' from file '" .. dir, 1, true), e)
  end)
end)

describe("threads", function()
  local saved
  before_each(function() saved = ks.get_num_threads() end)
  after_each(function() ks.set_num_threads(saved) end)

  it("get_num_threads returns a positive integer", function()
    local n = ks.get_num_threads()
    assert.is_true(math.type(n) == "integer" and n >= 1 and n <= 256)
  end)

  it("set_num_threads returns the previous count and takes effect", function()
    ks.set_num_threads(3)
    assert.equal(3, ks.get_num_threads())
    assert.equal(3, ks.set_num_threads(1))
    assert.equal(1, ks.get_num_threads())
    assert.equal(1, ks.set_num_threads(2))
    assert.equal(2, ks.get_num_threads())
  end)

  it("accepts an integral float", function()
    ks.set_num_threads(2.0)
    assert.equal(2, ks.get_num_threads())
  end)

  it("rejects counts out of [1, 256] naming the argument, and keeps the old count", function()
    ks.set_num_threads(2)
    for _, bad in ipairs({0, -1, 257, math.maxinteger, math.mininteger}) do
      local e = err_of(ks.set_num_threads, bad)
      assert.truthy(e:find("bad argument #1", 1, true), e)
      assert.truthy(e:find("[1, 256]", 1, true), e)
      assert.equal(2, ks.get_num_threads())
    end
  end)

  it("rejects non-integers naming the argument", function()
    for _, bad in ipairs({1.5, 0 / 0, math.huge, "x", {}, true}) do
      local e = err_of(ks.set_num_threads, bad)
      assert.truthy(e:find("bad argument #1", 1, true), e)
    end
    local e = err_of(ks.set_num_threads)
    assert.truthy(e:find("bad argument #1", 1, true), e)
  end)

  it("results do not depend on the thread count", function()
    if not (ks.arange and ks.Tensor.sum) then return pending("needs ks.arange and sum") end
    local x = ks.arange(300000):float() * 0.001
    ks.set_num_threads(1)
    local a = x:sum():item()
    ks.set_num_threads(4)
    local b = x:sum():item()
    assert.equal(a, b)
  end)
end)

describe("memory statistics", function()
  it("memory_stats has the four integer fields", function()
    local s = ks.memory_stats()
    for _, k in ipairs({"live_bytes", "peak_bytes", "num_allocs"}) do
      assert.equal("integer", math.type(s[k]), k)
      assert.is_true(s[k] >= 0, k)
    end
    assert.is_true(s.live_bytes <= s.peak_bytes)
    assert.equal(ks.get_memory_limit(), s.limit_bytes)
  end)

  it("counts a new tensor's bytes and allocations", function()
    collectgarbage()
    local s0 = ks.memory_stats()
    local t = ks.zeros(1000)
    local s1 = ks.memory_stats()
    assert.is_true(s1.live_bytes - s0.live_bytes >= 4000)
    assert.is_true(s1.live_bytes - s0.live_bytes < 4000 + 1024)
    assert.is_true(s1.num_allocs > s0.num_allocs)
    assert.is_true(s1.peak_bytes >= s1.live_bytes)
    t:close()
    assert.equal(s0.live_bytes, ks.memory_stats().live_bytes)
  end)
end)

describe("memory limit", function()
  local saved
  before_each(function() saved = ks.get_memory_limit() end)
  after_each(function() ks.set_memory_limit(saved) end)

  it("the default is a positive number of bytes", function()
    assert.is_true(saved > 0)
  end)

  it("set_memory_limit returns the previous limit", function()
    assert.equal(saved, ks.set_memory_limit(1 << 30))
    assert.equal(1 << 30, ks.get_memory_limit())
    assert.equal(1 << 30, ks.set_memory_limit(saved))
  end)

  it("accepts size strings with binary units", function()
    local cases = {
      {"2GB", 2 << 30}, {"512MB", 512 << 20}, {"1.5GiB", 3 << 29}, {"100", 100},
      {"64kb", 64 << 10}, {"1 TB", 1 << 40}, {"3M", 3 << 20}, {"10B", 10},
    }
    for _, c in ipairs(cases) do
      ks.set_memory_limit(c[1])
      assert.equal(c[2], ks.get_memory_limit(), c[1])
    end
  end)

  it("math.huge means no limit", function()
    ks.set_memory_limit(math.huge)
    assert.equal(math.huge, ks.get_memory_limit())
    assert.equal(math.huge, ks.memory_stats().limit_bytes)
  end)

  it("rejects negative, NaN and malformed values naming the argument", function()
    for _, bad in ipairs({-1, -0.5, math.mininteger, 0 / 0, -math.huge, "abc", "-1GB", "12 parsecs", "", {}, true}) do
      local e = err_of(ks.set_memory_limit, bad)
      assert.truthy(e:find("bad argument #1", 1, true), e)
      assert.equal(saved, ks.get_memory_limit())
    end
    local e = err_of(ks.set_memory_limit)
    assert.truthy(e:find("bad argument #1", 1, true), e)
    assert.truthy(err_of(ks.set_memory_limit, -1):find(">= 0", 1, true))
  end)
end)

describe("interrupt", function()
  it("makes a long native kernel stop with 'interrupted!', then work resumes", function()
    local saved = ks.get_num_threads()
    ks.set_num_threads(2)
    local x = ks.ones(1 << 20)
    ks.interrupt()
    local ok, e
    -- the flag is polled between chunks of a parallel kernel
    for _ = 1, 3 do
      ok, e = pcall(function() return x + 1 end)
      if not ok then break end
    end
    assert.is_false(ok)
    assert.truthy(tostring(e):find("interrupted", 1, true), e)
    local y = x + 1
    assert.equal(2, y:narrow(0, 0, 1):item())
    ks.set_num_threads(saved)
  end)
end)

describe("hostname", function()
  it("is this machine's name (the kernel's, on Linux)", function()
    local name = ks.hostname()
    assert.equal("string", type(name))
    assert.truthy(#name > 0)
    local f = io.open("/proc/sys/kernel/hostname", "rb")
    if f then
      local kernel = f:read("a"):gsub("%s+$", "")
      f:close()
      assert.equal(kernel, name)
    end
    assert.equal(name, ks.hostname()) -- no state: the same twice
  end)
end)
