-- nn containers: 0-based integer indexing of Sequential / ModuleList (as
-- PyTorch's seq[i]) and ModuleDict (ordered string keys, registered children).
local ks = require "kshot"
local nn = require "kshot.nn"

local function errmsg(fn, ...)
  local ok, e = pcall(fn, ...)
  assert.is_false(ok)
  return tostring(e)
end

describe("Sequential and ModuleList indexing", function()
  it("reads seq[i] 0-based, negative from the end", function()
    local a, b, c = nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)
    for _, seq in ipairs({nn.Sequential(a, b, c), nn.ModuleList({a, b, c})}) do
      assert.are.equal(a, seq[0])
      assert.are.equal(b, seq[1])
      assert.are.equal(c, seq[2])
      assert.are.equal(c, seq[-1])
      assert.are.equal(a, seq[-3])
      assert.are.equal(a, seq:get(0))
      assert.are.equal(c, seq:get(-1))
      assert.are.equal(3, #seq)
    end
  end)

  it("raises a clear error out of range, naming the index and the length", function()
    local seq = nn.Sequential(nn.ReLU(), nn.Tanh())
    local e = errmsg(function() return seq[2] + 0 end)
    assert.matches("nn_containers_spec.lua:%d+: Sequential: index 2 is out of range for length 2", e)
    assert.matches("0%-based: 0 to 1, or %-2 to %-1", e)
    assert.matches("Sequential: index %-3 is out of range for length 2", errmsg(function() return seq[-3] + 0 end))
    assert.matches("ModuleList: index 0 is out of range for length 0", errmsg(function() return nn.ModuleList()[0] + 0 end))
    assert.matches("index 5 is out of range", errmsg(seq.get, seq, 5))
  end)

  it("replaces a layer with seq[i] = module, keeping names and order", function()
    local seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    local t = nn.Tanh()
    seq[1] = t
    seq[-1] = nn.Linear(3, 2)
    assert.are.equal(t, seq[1])
    local _, keys = seq:state_dict()
    assert.are.same({"0.weight", "0.bias", "2.weight", "2.bias"}, keys)
    assert.are.same({4, 2}, seq(ks.ones(4, 2)):shape())
    assert.matches("index 3 is out of range", errmsg(function() seq[3] = nn.ReLU() end))
    assert.matches("needs a module, got number", errmsg(function() seq[0] = 1 end))
  end)
end)

describe("nn.ModuleDict", function()
  it("keeps insertion order from a list of pairs and registers the children", function()
    local md = nn.ModuleDict({{"conv", nn.Conv2d(1, 2, 3)}, {"act", nn.ReLU()}, {"fc", nn.Linear(2, 2)}})
    assert.are.same({"conv", "act", "fc"}, md:keys())
    assert.are.equal(3, #md)
    local _, keys = md:state_dict()
    assert.are.same({"conv.weight", "conv.bias", "fc.weight", "fc.bias"}, keys)
    assert.are.equal("ReLU", md.act.__name)
    assert.are.equal(md.act, md["act"])
    assert.are.equal(md.fc, md:values()[3])
    local items = md:items()
    assert.are.equal("fc", items[3][1])
    assert.are.equal(md.fc, items[3][2])
    local seen = {}
    for k, m in pairs(md) do seen[#seen + 1] = k .. ":" .. m.__name end
    assert.are.same({"conv:Conv2d", "act:ReLU", "fc:Linear"}, seen)
    md:eval()
    assert.is_false(md.act.training)
  end)

  it("sorts the keys of a map (Lua maps have no order)", function()
    local md = nn.ModuleDict({b = nn.ReLU(), a = nn.Tanh(), c = nn.Sigmoid()})
    assert.are.same({"a", "b", "c"}, md:keys())
  end)

  it("adds, replaces, removes and pops entries", function()
    local md = nn.ModuleDict()
    md.x = nn.ReLU()
    md["y"] = nn.Tanh()
    md:update({{"z", nn.Sigmoid()}, {"x", nn.Identity()}}) -- x replaced in place
    assert.are.same({"x", "y", "z"}, md:keys())
    assert.are.equal("Identity", md.x.__name)
    assert.is_true(md:contains("y"))
    md.y = nil
    assert.is_false(md:contains("y"))
    assert.are.same({"x", "z"}, md:keys())
    local z = md.z
    assert.are.equal(z, md:pop("z"))
    assert.are.same({"x"}, md:keys())
    assert.matches("ModuleDict: no key 'z'", errmsg(md.pop, md, "z"))
    md:clear()
    assert.are.equal(0, #md)
    assert.are.equal("ModuleDict()", tostring(md))
  end)

  it("rejects bad keys and values", function()
    assert.matches("ModuleDict: key 'keys' is reserved", errmsg(nn.ModuleDict, {{"keys", nn.ReLU()}}))
    assert.matches("ModuleDict: bad key 'a.b'", errmsg(nn.ModuleDict, {{"a.b", nn.ReLU()}}))
    assert.matches("ModuleDict: keys must be strings, got number", errmsg(nn.ModuleDict, {{1, nn.ReLU()}}))
    assert.matches("ModuleDict: entry 'a' must be a module, got number", errmsg(nn.ModuleDict, {a = 1}))
    assert.matches("ModuleDict: entry 1 must be a {key, module} pair", errmsg(nn.ModuleDict, {nn.ReLU()}))
    assert.matches("ModuleDict: a list of {key, module} pairs", errmsg(nn.ModuleDict, 3))
    assert.matches("not both %(key 'b'%)", errmsg(nn.ModuleDict, {{"a", nn.ReLU()}, b = nn.Tanh()}))
    assert.matches("ModuleDict has no forward", errmsg(function() return nn.ModuleDict()(ks.ones(1)) end))
  end)
end)
