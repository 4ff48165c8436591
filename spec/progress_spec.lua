-- kshot.progress: bad input and edge totals (the display itself is covered in experiment_spec.lua)
local progress = require "kshot.progress"

local function sink()
  local s = { buf = {} }
  function s:write(...) for _, x in ipairs { ... } do self.buf[#self.buf + 1] = x end return self end
  function s:text() return table.concat(self.buf) end
  return s -- no flush: optional
end

local function err(f, pat)
  local ok, msg = pcall(f)
  assert.is_false(ok)
  assert.matches(pat, tostring(msg), 1, true)
end

local function lines(s)
  local t = {}
  for l in s:gmatch("[^\n]+") do t[#t + 1] = l end
  return t
end

describe("kshot.progress", function()
  it("the stream must have a write method", function()
    err(function() progress.new { total = 5, mode = "plain", stream = 5 } end,
      "progress.new: stream must be a file or an object with a write method (e.g. io.stderr), got number")
    err(function() progress.new { total = 5, mode = "plain", stream = {} } end, "got table")
    err(function() progress.new { total = 5, mode = "plain", clock = 1 } end, "progress.new: clock must be a function, got number")
    err(function() progress.new { total = 5, mode = "plain", width = 0 } end, "progress.new: width must be an integer in [1, 1000], got 0")
    err(function() progress.new { total = 5, mode = "plain", every = "x" } end, "progress.new: every must be a number of seconds >= 0, got x")
  end)

  it("update checks the step and the values, in every mode", function()
    for _, mode in ipairs { "plain", "bar", "off" } do
      local b = progress.new { total = 5, mode = mode, stream = sink(), clock = function() return 0 end }
      err(function() b:update(0 / 0) end, "progress:update: step must be an integer >= 0 (the number of steps done), got")
      err(function() b:update(1.5) end, "got 1.5 (number)")
      err(function() b:update(-1) end, "got -1 (number)")
      err(function() b:update("2") end, "got 2 (string)")
      err(function() b:update(1, "x") end,
        "progress:update: values must be a table of named numbers (e.g. {loss = 0.1}), got string")
      err(function() b:update(1, { 0.5 }) end, "progress:update: values must have string keys, got key 1 (number)")
      err(function() b:finish(7) end, "progress:update: values must be a table")
    end
    local out, t = sink(), 0
    local b = progress.new { total = 4, mode = "plain", every = 0, stream = out, clock = function() return t end }
    t = 1; b:update(2.0, { loss = 0.5 }) -- an integral float is a step
    assert.equal("2/4  50%  loss 0.5  2 it/s  ETA 0:01  elapsed 0:01", lines(out:text())[1])
  end)

  it("total 0 and steps past the total: no nonsense percent or ETA", function()
    local out, t = sink(), 0
    local b = progress.new { total = 0, mode = "plain", every = 0, stream = out, clock = function() return t end }
    t = 1; b:update(1); b:finish()
    assert.same({ "step 1  1 it/s  elapsed 0:01", "step 1  1 it/s  elapsed 0:01" }, lines(out:text()))
    out, t = sink(), 0
    b = progress.new { total = 5, mode = "plain", every = 0, stream = out, clock = function() return t end }
    t = 10; b:update(50)
    assert.equal("50/5 (past total)  5 it/s  elapsed 0:10", lines(out:text())[1])
    out, t = sink(), 0
    b = progress.new { total = 4, mode = "bar", width = 4, stream = out, clock = function() return t end }
    t = 1; b:update(8)
    assert.equal("\r\27[K[####] 8/4 (past total)  8 it/s  elapsed 0:01", out:text())
  end)
end)

describe("kshot.progress options", function()
  it("rejects unknown keys naming them", function()
    local ok, msg = pcall(function() progress.new { totl = 5, stream = sink() } end)
    assert.is_false(ok)
    assert.truthy(msg:find("progress_spec.lua:%d+: progress.new: unknown option 'totl'"), msg)
    assert.truthy(msg:find("did you mean 'total'?", 1, true), msg)
  end)
end)
