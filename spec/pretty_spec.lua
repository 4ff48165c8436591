-- pretty_spec.lua: kshot.pretty, the REPL's table printer.
local ks = require "kshot"
local pretty = require "kshot.pretty"
local fmt = pretty.format

describe("kshot.pretty.format", function()
  it("prints a short table on one line: array part, then keys sorted (strings, numbers, others)", function()
    assert.are.equal('{1, "two", a = true, b = 2.5, ["not id"] = 3, [10] = "ten"}',
      fmt({1, "two", b = 2.5, a = true, [10] = "ten", ["not id"] = 3}))
    assert.are.equal("{}", fmt({}))
    assert.are.equal('"a\\nb\\"c"', fmt('a\nb"c'))
    assert.are.equal("3", fmt(3))
  end)

  it("breaks a long table into indented lines, array items sharing lines up to the width", function()
    local t = {}
    for i = 1, 30 do t[i] = i end
    t.name = string.rep("x", 20)
    assert.are.equal(table.concat({
      "{",
      "  1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,",
      "  23, 24, 25, 26, 27, 28, 29, 30,",
      '  name = "xxxxxxxxxxxxxxxxxxxx"',
      "}"}, "\n"), fmt(t))
    assert.are.equal("{\n  a = {1, 2},\n  b = {3}\n}", fmt({a = {1, 2}, b = {3}}, {width = 12}))
  end)

  it("bounds depth, entries and cycles", function()
    assert.are.equal("{a = {b = {c = {...}}}}", fmt({a = {b = {c = {d = 1}}}}))
    assert.are.equal("{a = {...}}", fmt({a = {b = 1}}, {depth = 1}))
    assert.are.equal("{a = {}}", fmt({a = {}}, {depth = 1}))
    local c = {1}
    c.self = c
    assert.are.equal("{1, self = <cycle>}", fmt(c))
    local shared = {1}
    assert.are.equal("{{1}, {1}}", fmt({shared, shared})) -- seen twice is not a cycle
    assert.are.equal("{1, 2, ... (5 entries)}", fmt({1, 2, 3, 4, 5}, {items = 2}))
  end)

  it("prints nested tensors by shape and dtype, and values with a __tostring through it", function()
    assert.are.equal("{w = tensor([2, 3] float32), y = tensor([4] int64)}",
      fmt({w = ks.ones(2, 3), y = ks.zeros(4, {dtype = "int64"})}))
    assert.are.equal(tostring(ks.ones(2)), fmt(ks.ones(2)))
    local obj = setmetatable({}, {__tostring = function() return "obj" end})
    assert.are.equal("{obj}", fmt({obj}))
  end)

  it("prints a class by its name and where its doc is, not its methods", function()
    local nn, optim = require "kshot.nn", require "kshot.optim"
    assert.are.equal('<class nn.Linear: help("nn.Linear")>', fmt(nn.Linear))
    assert.are.equal('{<class optim.SGD: help("optim.SGD")>, 1}', fmt({optim.SGD, 1}))
    -- a user's class that help does not know: its __name alone
    local Mine = nn.Module:extend("Mine")
    assert.are.equal("<class Mine>", fmt(Mine))
    -- a plain table with other keys stays data
    assert.are.equal('{__name = "x"}', fmt({__name = "x"}))
  end)

  it("rejects bad options with the option's name", function()
    assert.has_error(function() fmt({}, 3) end, "pretty.format: options must be a table, got number")
    assert.has_error(function() fmt({}, {depth = 0}) end, "pretty.format: depth must be an integer >= 1, got 0")
    assert.has_error(function() fmt({}, {width = 1.5}) end, "pretty.format: width must be an integer >= 1, got 1.5")
  end)
end)
