-- memory_spec.lua: tensor memory is visible to Lua's garbage collector (loops
-- without collectgarbage stay bounded), the memory limit is enforced without
-- losing anything, and absurd sizes raise errors instead of crashing.
local ks = require "kshot"

local function live() return ks.memory_stats().live_bytes end

-- Run `make` n times keeping no reference; returns the peak live bytes over
-- the first `warm` iterations and over the rest, above what was live before
-- (earlier specs in the same process may keep caches alive: 100+ MB).
local function churn(n, warm, make)
  collectgarbage()
  collectgarbage()
  local base = live()
  local warm_peak, rest_peak = 0, 0
  for i = 1, n do
    local _ = make()
    local l = live() - base
    if i <= warm then
      if l > warm_peak then warm_peak = l end
    elseif l > rest_peak then
      rest_peak = l
    end
  end
  return warm_peak, rest_peak
end

-- Run `body` (Lua source, with ks, a = ks.ones(64), m = ks.ones(8, 8), idx and
-- mask in scope) 100,000 times in a user script of its own process: the
-- collector's cycle length follows the Lua heap, and busted's own heap
-- (megabytes) would stretch one cycle past the first 1,000 iterations that
-- serve as the reference. Returns the peak live bytes in those and after
-- (sampled every 250 iterations).
local function script_churn(body)
  local bin = require("spec.helpers.host_process").KSHOT
  local script = [[
    local ks = require "kshot"
    local a, m = ks.ones(64), ks.ones(8, 8)
    local idx, mask = ks.tensor({3, 0, -1}, ks.int64), ks.arange(64):remainder(2):eq(0)
    local warm, rest = 0, 0
    for i = 1, 100000 do
      ]] .. body .. [[

      if i % 250 == 0 then -- sparse: the stats table is Lua garbage that would drive the collector itself
        local l = ks.memory_stats().live_bytes
        if i <= 1000 then warm = math.max(warm, l) else rest = math.max(rest, l) end
      end
    end
    print(warm, rest)
  ]]
  local path = os.tmpname()
  local w = assert(io.open(path, "w"))
  w:write(script)
  w:close()
  local f = assert(io.popen(string.format("'%s' '%s' 2>&1", bin, path)))
  local out = f:read("a")
  f:close()
  os.remove(path)
  local warm, rest = out:match("^(%d+)%s+(%d+)")
  assert.is_not_nil(warm, "unexpected output: " .. out)
  return tonumber(warm), tonumber(rest)
end

describe("GC pacing (no collectgarbage in the loop)", function()
  it("100,000 small temporaries keep live bytes bounded", function()
    local warm, rest = script_churn("local t = ks.ones(64) + 1")
    assert.is_true(rest <= 2 * warm,
      ("peak live bytes %d after the first 1000 iterations vs %d in them"):format(rest, warm))
    assert.is_true(warm < 16 << 20, "the first 1000 iterations already hold " .. warm .. " bytes")
  end)

  it("indexing with index tensors and masks keeps live bytes bounded (reads and writes)", function()
    -- these paths build their views and copies outside ks_lua_fillbox, which paces the others
    for _, body in ipairs({"local t = a[idx]", "local t = a[mask]", "local t = m[{':', idx}]",
                           "local t = m[{{1, 5}, idx}]", "m[{':', idx}] = 2", "m[{idx, {0, 4}}] = a[{{0, 4}}]"}) do
      local warm, rest = script_churn(body)
      assert.is_true(rest <= 2 * warm + (64 << 10),
        ("%s: peak live bytes %d after the first 1000 iterations vs %d in them"):format(body, rest, warm))
    end
  end)

  it("2,000 temporaries of 1 MB keep live bytes bounded", function()
    local warm, rest = churn(2000, 100, function() return ks.zeros(1 << 18) end) -- 1 MB of float32
    assert.is_true(rest <= 2 * warm,
      ("peak live bytes %d after the first 100 iterations vs %d at the start"):format(rest, warm))
    assert.is_true(rest < 256 << 20, "live bytes reached " .. rest)
  end)

  it("two 1 MB locals per iteration stay bounded, in generational mode too", function()
    -- lua.c runs Lua 5.4 in generational mode, whose young collections
    -- ignore step debt for finalized boxes; the pacing must cope
    for _, mode in ipairs({"incremental", "generational"}) do
      collectgarbage(mode)
      local warm, rest = churn(600, 50, function()
        local x = ks.ones(1 << 18)
        local y = ks.zeros(1 << 18)
        return x, y
      end)
      assert.is_true(rest <= 2 * warm, ("%s: peak %d vs %d at the start"):format(mode, rest, warm))
      assert.is_true(rest < 64 << 20, mode .. ": live bytes reached " .. rest)
    end
    collectgarbage("incremental")
  end)

  it("views of a dropped base are freed too", function()
    local warm, rest = churn(20000, 1000, function() return ks.zeros(4096):view(64, 64):t() end)
    assert.is_true(rest <= 2 * warm, ("%d vs %d"):format(rest, warm))
  end)

  it("everything is released after a full collection", function()
    collectgarbage()
    collectgarbage()
    local before = live()
    do
      local keep = {}
      for i = 1, 100 do keep[i] = ks.zeros(1000) end
      assert.is_true(live() >= before + 100 * 4000)
    end
    collectgarbage()
    collectgarbage()
    assert.equal(before, live())
  end)
end)

describe("memory limit", function()
  local saved
  before_each(function()
    saved = ks.get_memory_limit()
    collectgarbage()
    collectgarbage()
  end)
  after_each(function() ks.set_memory_limit(saved) end)

  it("an allocation beyond the limit raises an error naming the limit", function()
    local base = live()
    ks.set_memory_limit(base + (1 << 20))
    local ok, e = pcall(ks.zeros, 1 << 20) -- 4 MB
    assert.is_false(ok)
    assert.truthy(e:find("memory limit", 1, true), e)
    assert.truthy(e:find(tostring(base + (1 << 20)), 1, true), e)
    assert.equal(base, live()) -- nothing half-allocated
  end)

  it("a failing op result leaves the state working after the limit is restored", function()
    local a = ks.ones(1 << 18) -- 1 MB
    local base = live()
    ks.set_memory_limit(base + (512 << 10))
    local ok, e = pcall(function() return a + 1 end)
    assert.is_false(ok)
    assert.truthy(e:find("memory limit", 1, true), e)
    collectgarbage()
    assert.equal(base, live())
    ks.set_memory_limit(saved)
    local b = a + 1
    assert.equal(2, b:narrow(0, (1 << 18) - 1, 1):item())
    assert.equal(1, a:narrow(0, 0, 1):item())
  end)

  it("many failures in a row leak nothing", function()
    local base = live()
    ks.set_memory_limit(base + 4096)
    for _ = 1, 1000 do
      assert.is_false(pcall(ks.ones, 10000))
    end
    ks.set_memory_limit(saved)
    collectgarbage()
    assert.equal(base, live())
  end)
end)

describe("absurd sizes", function()
  local function rejects(pattern, f, ...)
    local ok, e = pcall(f, ...)
    assert.is_false(ok, "expected an error")
    assert.is_string(e)
    if pattern then assert.truthy(e:lower():find(pattern), e) end
  end

  it("shapes whose element count overflows int64", function()
    rejects("too many elements", ks.zeros, 1 << 40, 1 << 40)
    rejects("too many elements", ks.zeros, {1 << 40, 1 << 40})
    rejects("too many elements", ks.ones, 1 << 31, 1 << 31, 1 << 31)
    rejects(nil, ks.zeros, math.maxinteger, math.maxinteger)
    rejects(nil, ks.empty, math.maxinteger)
  end)

  it("float sizes such as 2^40 are rejected", function()
    rejects(nil, ks.zeros, 2 ^ 40, 2 ^ 40)
    rejects(nil, ks.zeros, 1.5)
    rejects(nil, ks.zeros, 0 / 0)
    rejects(nil, ks.zeros, math.huge)
  end)

  it("negative sizes", function()
    rejects("negative", ks.zeros, -1)
    rejects("negative", ks.zeros, 3, -2)
    rejects("negative", ks.ones, {2, math.mininteger})
  end)

  it("sizes that fit int64 but not the memory limit", function()
    local saved = ks.get_memory_limit()
    ks.set_memory_limit("1GB")
    rejects("memory limit", ks.zeros, 1 << 34)
    rejects("memory limit", ks.zeros, 1 << 40)
    ks.set_memory_limit(saved)
  end)

  it("the state still works afterwards", function()
    local t = ks.ones(2, 3)
    assert.same({{1, 1, 1}, {1, 1, 1}}, t:totable())
  end)
end)
