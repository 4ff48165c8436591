-- kshot.options: the shared check of options tables (unknown keys are errors, not silently ignored)
require "kshot" -- puts kshot's Lua modules on package.path (stock Lua)
local options = require "kshot.options"

local function err_of(fn, ...)
  local ok, msg = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return (tostring(msg):gsub("^[^:]+:%d+: ", "")) -- the position of the caller (here: this helper)
end

describe("kshot.options.check", function()
  it("returns the table, or a fresh one for nil", function()
    local o = { a = 1 }
    assert.equal(o, options.check(o, "f", { "a", "b" }))
    assert.same({}, options.check(nil, "f", { "a" }))
    assert.equal(o, options.check(o, "f", { a = true }))
  end)

  it("names the function, the key, the known keys and a close one", function()
    assert.equal("DataLoader: unknown option 'batchsize' (known: batch_size, shuffle); did you mean 'batch_size'?",
      err_of(options.check, { batchsize = 5 }, "DataLoader", { "batch_size", "shuffle" }))
    -- a set lists its names sorted; no hint when nothing is close
    assert.equal("random_erasing: unknown option 'probability' (known: p, scale)",
      err_of(options.check, { probability = 1 }, "random_erasing", { scale = true, p = true }))
    assert.equal("f: unknown option 'x' (known: none)", err_of(options.check, { x = 1 }, "f", {}))
  end)

  it("rejects positional entries and non-tables", function()
    assert.truthy(err_of(options.check, { 5 }, "f", { "a" }):find("f: unknown option [1] (a positional value)", 1, true))
    assert.equal("f: options must be a table, got number", err_of(options.check, 5, "f", { "a" }))
  end)

  it("blames the caller's caller by default (level 2)", function()
    local function api(o) options.check(o, "api", { "a" }) end
    local ok, msg = pcall(function() api { b = 1 } end)
    assert.is_false(ok)
    assert.truthy(msg:find("options_spec.lua:%d+: api: unknown option 'b'"), msg)
  end)

  it("suggests only close names", function()
    assert.equal("padding", options.suggest("pading", { "padding", "size" }))
    assert.equal("batch_size", options.suggest("batchsize", { "batch_size" }))
    assert.is_nil(options.suggest("zzz", { "padding", "size" }))
    assert.is_nil(options.suggest(3, { "padding" }))
  end)
end)
