-- tostring(t) in PyTorch's format, and ks.set_printoptions.
local ks = require "kshot"

local function errmsg(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return tostring(e)
end

describe("tostring of tensors", function()
  after_each(function() ks.set_printoptions{profile = "default"} end)

  it("floats: common width, 4 decimals", function()
    assert.are.equal("tensor([[ 0.1234, -1.0000],\n        [ 2.0000,  3.5000]])",
      tostring(ks.tensor{{0.1234, -1}, {2, 3.5}}))
    assert.are.equal("tensor([-1.5000,  2.2500])", tostring(ks.tensor{-1.5, 2.25}))
    assert.are.equal("tensor([0.0000, 0.5000])", tostring(ks.tensor{0, 0.5}))
  end)

  it("integer-valued floats print as 1.", function()
    assert.are.equal("tensor([1., 2., 3.])", tostring(ks.tensor{1, 2, 3}))
    assert.are.equal("tensor([  1., -20.])", tostring(ks.tensor{1, -20}))
    assert.are.equal("tensor([0., 0.])", tostring(ks.zeros(2)))
  end)

  it("scientific notation when the range demands it", function()
    assert.are.equal("tensor([1.0000e-05, 1.0000e+00])", tostring(ks.tensor{1e-5, 1}))
    assert.are.equal("tensor([1.0000e+00, 1.0000e+09])", tostring(ks.tensor{1, 1e9}))
    assert.are.equal("tensor([ 1.5000e+00, -2.0000e+04])", tostring(ks.tensor{1.5, -2e4}))
  end)

  it("nan and inf", function()
    assert.are.equal("tensor([   nan, 1.5000,    inf,   -inf])", tostring(ks.tensor{0 / 0, 1.5, 1 / 0, -1 / 0}))
    assert.are.equal("tensor([nan])", tostring(ks.tensor{0 / 0}))
  end)

  it("ints plain, bools True/False", function()
    assert.are.equal("tensor([0, 1, 2, 3, 4])", tostring(ks.arange(5)))
    assert.are.equal("tensor([ -5,  10, 100])", tostring(ks.tensor({-5, 10, 100}, "int64")))
    assert.are.equal("tensor([ True, False])", tostring(ks.tensor{true, false}))
  end)

  it("dtype suffix for uint8 (float32, int64 and bool are implied by the values)", function()
    assert.are.equal("tensor([  1,   2, 255], dtype=uint8)", tostring(ks.tensor({1, 2, 255}, "uint8")))
  end)

  it("0-d tensors", function()
    assert.are.equal("tensor(3.5000)", tostring(ks.tensor(3.5)))
    assert.are.equal("tensor(2.)", tostring(ks.tensor(2)))
    assert.are.equal("tensor(5)", tostring(ks.tensor(5, "int64")))
    assert.are.equal("tensor(True)", tostring(ks.tensor(true)))
  end)

  it("empty tensors", function()
    assert.are.equal("tensor([])", tostring(ks.tensor{}))
    assert.are.equal("tensor([], size=(2, 0))", tostring(ks.zeros(2, 0)))
    assert.are.equal("tensor([], dtype=int64)", tostring(ks.zeros(0, "int64")))
    assert.are.equal("tensor([], size=(0, 3), dtype=bool)", tostring(ks.zeros(0, 3, "bool")))
  end)

  it("3-d tensors separate blocks with a blank line", function()
    assert.are.equal(
      "tensor([[[ 0,  1,  2,  3],\n" ..
      "         [ 4,  5,  6,  7],\n" ..
      "         [ 8,  9, 10, 11]],\n" ..
      "\n" ..
      "        [[12, 13, 14, 15],\n" ..
      "         [16, 17, 18, 19],\n" ..
      "         [20, 21, 22, 23]]])",
      tostring(ks.arange(24):reshape(2, 3, 4)))
  end)

  it("non-contiguous views print their logical order", function()
    assert.are.equal("tensor([[0, 3],\n        [1, 4],\n        [2, 5]])", tostring(ks.arange(6):reshape(2, 3):t()))
    assert.are.equal("tensor([5, 3, 1])", tostring(ks.arange(6):flip{0}[{{nil, nil, 2}}]))
    assert.are.equal("tensor([[7, 7, 7],\n        [7, 7, 7]])", tostring(ks.tensor({7}, "int64"):expand(2, 3)))
  end)

  it("summarises more than 1000 elements with ...", function()
    assert.are.equal("tensor([   0,    1,    2,  ..., 1997, 1998, 1999])", tostring(ks.arange(2000)))
    assert.are.equal(
      "tensor([[   0,    1,    2,  ...,   37,   38,   39],\n" ..
      "        [  40,   41,   42,  ...,   77,   78,   79],\n" ..
      "        [  80,   81,   82,  ...,  117,  118,  119],\n" ..
      "        ...,\n" ..
      "        [1080, 1081, 1082,  ..., 1117, 1118, 1119],\n" ..
      "        [1120, 1121, 1122,  ..., 1157, 1158, 1159],\n" ..
      "        [1160, 1161, 1162,  ..., 1197, 1198, 1199]])",
      tostring(ks.arange(1200):reshape(30, 40)))
    -- the width comes from the shown elements only
    local t = ks.zeros(2000)
    t[1000] = 123456
    assert.are.equal("tensor([0., 0., 0.,  ..., 0., 0., 0.])", tostring(t))
  end)

  it("wraps long rows at linewidth 80", function()
    assert.are.equal(
      "tensor([0.0000, 0.0345, 0.0690, 0.1034, 0.1379, 0.1724, 0.2069, 0.2414, 0.2759,\n" ..
      "        0.3103, 0.3448, 0.3793, 0.4138, 0.4483, 0.4828, 0.5172, 0.5517, 0.5862,\n" ..
      "        0.6207, 0.6552, 0.6897, 0.7241, 0.7586, 0.7931, 0.8276, 0.8621, 0.8966,\n" ..
      "        0.9310, 0.9655, 1.0000])",
      tostring(ks.linspace(0, 1, 30)))
  end)

  it("requires_grad suffix", function()
    assert.are.equal("tensor([1., 2.], requires_grad=True)", tostring(ks.tensor({1, 2}, {requires_grad = true})))
  end)

  it("a released tensor prints without crashing", function()
    local t = ks.zeros(2)
    t:close()
    assert.are.equal("tensor(<released>)", tostring(t))
  end)
end)

describe("ks.set_printoptions", function()
  after_each(function() ks.set_printoptions{profile = "default"} end)

  it("precision", function()
    ks.set_printoptions{precision = 2}
    assert.are.equal("tensor([0.12, 1.50])", tostring(ks.tensor{0.1234, 1.5}))
    assert.are.equal(2, ks.get_printoptions().precision)
  end)

  it("threshold and edgeitems", function()
    ks.set_printoptions{threshold = 5, edgeitems = 2}
    assert.are.equal("tensor([0, 1,  ..., 8, 9])", tostring(ks.arange(10)))
    assert.are.equal("tensor([0, 1, 2, 3, 4])", tostring(ks.arange(5)))
    ks.set_printoptions{threshold = math.huge}
    assert.are.equal(101, select(2, tostring(ks.arange(101)):gsub(",", ",")) + 1)
  end)

  it("linewidth", function()
    ks.set_printoptions{linewidth = 20}
    assert.are.equal("tensor([0, 1, 2, 3,\n        4, 5])", tostring(ks.arange(6)))
  end)

  it("sci_mode forces or forbids scientific notation; absent means automatic", function()
    ks.set_printoptions{sci_mode = true}
    assert.are.equal("tensor([1.5000e+00, 2.5000e+00])", tostring(ks.tensor{1.5, 2.5}))
    ks.set_printoptions{sci_mode = false}
    -- as in PyTorch, the width is still measured in the automatic mode
    assert.are.equal("tensor([    0.0000,     1.0000])", tostring(ks.tensor{1e-5, 1}))
    ks.set_printoptions{precision = 4}
    assert.are.equal("tensor([1.0000e-05, 1.0000e+00])", tostring(ks.tensor{1e-5, 1}))
  end)

  it("profiles", function()
    ks.set_printoptions{profile = "short"}
    assert.are.equal("tensor([0.12])", tostring(ks.tensor{0.1234}))
    ks.set_printoptions{profile = "full"}
    assert.is_nil(tostring(ks.arange(2000)):find("...", 1, true))
    ks.set_printoptions{profile = "default"}
    assert.are.same({precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80}, ks.get_printoptions())
  end)

  it("rejects bad options", function()
    assert.matches("unknown option 'precison'", errmsg(ks.set_printoptions, {precison = 2}))
    assert.matches("precision must be an integer in %[0, 30%], got string", errmsg(ks.set_printoptions, {precision = "2"}))
    assert.matches("precision must be an integer in %[0, 30%], got %-1", errmsg(ks.set_printoptions, {precision = -1}))
    assert.matches("sci_mode must be a boolean", errmsg(ks.set_printoptions, {sci_mode = 1}))
    assert.matches("profile must be", errmsg(ks.set_printoptions, {profile = "long"}))
    assert.matches("table expected", errmsg(ks.set_printoptions, 3))
  end)

  it("checks every option's range in 64 bits (no silent truncation to a C int)", function()
    -- edgeitems 2^31 used to wrap to a negative int and print tensor([])
    assert.matches("edgeitems must be an integer in %[0, 2147483647%], got 2147483648",
      errmsg(ks.set_printoptions, {edgeitems = 1 << 31, threshold = 1}))
    assert.matches("precision must be an integer in %[0, 30%], got 4294967296",
      errmsg(ks.set_printoptions, {precision = 1 << 32})) -- used to become precision 0
    assert.matches("precision must be an integer in %[0, 30%], got inf", errmsg(ks.set_printoptions, {precision = math.huge}))
    assert.matches("edgeitems must be an integer in %[0, 2147483647%], got inf", errmsg(ks.set_printoptions, {edgeitems = math.huge}))
    assert.matches("edgeitems must be an integer in %[0, 2147483647%], got 2.5", errmsg(ks.set_printoptions, {edgeitems = 2.5}))
    assert.matches("linewidth must be an integer in %[1, 2147483647%], got 4294967297",
      errmsg(ks.set_printoptions, {linewidth = (1 << 32) + 1}))
    assert.matches("linewidth must be an integer in %[1, 2147483647%], got 0", errmsg(ks.set_printoptions, {linewidth = 0}))
    assert.matches("threshold must be an integer in %[0, 9223372036854775807%], got %-1",
      errmsg(ks.set_printoptions, {threshold = -1}))
    -- a failed call changes nothing
    assert.are.same({precision = 4, threshold = 1000, edgeitems = 3, linewidth = 80}, ks.get_printoptions())
    -- the largest values work
    ks.set_printoptions{edgeitems = (1 << 31) - 1, threshold = 1, linewidth = (1 << 31) - 1}
    assert.are.equal("tensor([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])", tostring(ks.arange(10)))
  end)
end)

describe("shape lists (t:shape(), t:size(), t:stride())", function()
  local x = ks.zeros(2, 3)

  it("are plain 1-based Lua arrays", function()
    local s = x:shape()
    assert.are.equal(2, #s)
    assert.are.same({ 2, 3 }, { table.unpack(s) })
    assert.are.equal("2x3", table.concat(s, "x"))
    assert.are.same({ 2, 3 }, ks.zeros(s):shape())
    s[1] = 5 -- writable; the tensor is not changed
    assert.are.equal(2, x:size(0))
  end)

  it("print their contents", function()
    assert.are.equal("{2, 3}", tostring(x:shape()))
    assert.are.equal("{2, 3}", tostring(x:size()))
    assert.are.equal("{3, 1}", tostring(x:stride()))
    assert.are.equal("{}", tostring(ks.tensor(1):shape()))
    assert.are.equal("shape {2, 3}.", "shape " .. x:shape() .. ".")
    assert.are.equal("1{2, 3}", 1 .. x:shape())
    assert.matches("attempt to concatenate a nil value with a shape list", errmsg(function() return x:shape() .. nil end))
  end)

  it("compare by contents", function()
    assert.is_true(x:shape() == ks.ones(2, 3):shape())
    assert.is_true(x:shape() == { 2, 3 })
    assert.is_true({ 2, 3 } == x:size())
    assert.is_false(x:shape() == { 3, 2 })
    assert.is_false(x:shape() == { 2 })
    assert.is_false(x:shape() == { 2, 3, 1 })
    assert.is_true(x:shape() ~= x:t():shape())
  end)

  it("count negative positions from the end; [0], PyTorch's habit, is an error that says they are 1-based", function()
    local s = ks.zeros(2, 3, 4):shape()
    assert.are.same({ 4, 3, 2 }, { s[-1], s[-2], s[-3] })
    assert.is_nil(s[-4])
    assert.is_nil(s[4]) -- ipairs reads it to stop
    local seen = {}
    for i, v in ipairs(s) do seen[i] = v end
    assert.are.same({ 2, 3, 4 }, seen)
    assert.matches("shape lists are Lua arrays %(1%-based%): %[1%] is the size of dim 0 and %[%-1%] the last; "
      .. "t:size%(0%) names dim 0 directly", errmsg(function() return s[0] end))
    assert.are.equal(1, x:stride()[-1])
    assert.is_nil(ks.tensor(1):shape()[-1])
  end)

  it("x.shape is the list, as PyTorch's property; x:shape() gives the same", function()
    local t = ks.zeros(2, 3, 4)
    assert.are.same({ 2, 3, 4 }, { t.shape[1], t.shape[2], t.shape[3] })
    assert.are.equal(4, t.shape[-1])
    assert.are.equal(3, #t.shape)
    assert.are.equal("{2, 3, 4}", tostring(t.shape))
    assert.is_true(t.shape == t:shape())
    assert.are.same({ 2, 3, 4 }, { table.unpack(t:shape()) })
    assert.is_true(t.shape == t.shape()) -- calling the list returns it
    assert.are_not.equal(rawequal(t.shape, t.shape), true) -- a fresh list each read: writing one changes nothing
    local s = t.shape
    s[1] = 9
    assert.are.equal(2, t:size(0))
    assert.are.same({ 4 }, { ks.zeros(4).shape[1] })
    assert.are.equal("{}", tostring(ks.tensor(1).shape))
    assert.matches("shape lists are Lua arrays %(1%-based%)", errmsg(function() return t.shape[0] end))
    assert.matches("a shape list takes no arguments: x.shape and x:shape%(%) give the list, x:size%(d%) the size "
      .. "of dim d %(0%-based%)", errmsg(function() return t:shape(0) end))
    assert.matches("a shape list takes no arguments", errmsg(function() return t:size()(1) end))
    assert.matches("'shape' is a tensor method", errmsg(function() t.shape = { 1 } end))
    assert.is_function(getmetatable(t).methods.shape) -- still a method for help and the REPL's completion
  end)
end)
