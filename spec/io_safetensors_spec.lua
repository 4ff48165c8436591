-- safetensors checkpoints: ks.save / ks.load (runtime/core/ks_safetensors.c).
-- Files are written by the spec itself, including hand-made hostile ones.
local ks = require "kshot"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))

local function path(name) return dir .. "/" .. name end

local function write(name, bytes)
  local f = assert(io.open(path(name), "wb"))
  f:write(bytes)
  f:close()
  return path(name)
end

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- a safetensors file from a header string and data bytes
local function st(header, data)
  return string.pack("<I8", #header) .. header .. (data or "")
end

local function load_error(bytes)
  local p = write("bad.safetensors", bytes)
  local ok, err = pcall(ks.load, p)
  assert.is_false(ok)
  assert.truthy(err:find(p, 1, true), "message names the file: " .. err)
  return err
end

local function listdir()
  local names = {}
  local h = io.popen("ls -A '" .. dir .. "'")
  for line in h:lines() do names[#names + 1] = line end
  h:close()
  return names
end

teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

describe("ks.save / ks.load round trip", function()
  it("keeps names, dtypes, shapes, values and metadata", function()
    local a = ks.tensor({ { 1.5, -2 }, { 3, 4.25 } })
    local b = ks.tensor({ 7, -8, 9 }, "int64")
    local u = ks.tensor({ 0, 128, 255 }, "uint8")
    local m = ks.tensor({ true, false, true })
    local s = ks.tensor(3.5)
    local e = ks.empty({ 0, 3 })
    local p = path("rt.safetensors")
    ks.save(p, { ["layer1.0.conv1.weight"] = a, ["fc.bias"] = b, u = u, mask = m, scalar = s, empty = e },
      { format = "pt", note = "é ü" })
    local t, meta = ks.load(p)
    assert.same({ { 1.5, -2 }, { 3, 4.25 } }, t["layer1.0.conv1.weight"]:totable())
    assert.equal("float32", t["layer1.0.conv1.weight"]:dtype())
    assert.same({ 7, -8, 9 }, t["fc.bias"]:totable())
    assert.equal("int64", t["fc.bias"]:dtype())
    assert.same({ 0, 128, 255 }, t.u:totable())
    assert.equal("uint8", t.u:dtype())
    assert.same({ true, false, true }, t.mask:totable())
    assert.equal("bool", t.mask:dtype())
    assert.equal(0, t.scalar:dim())
    assert.equal(3.5, t.scalar:item())
    assert.same({ 0, 3 }, t.empty:shape())
    assert.same({ format = "pt", note = "é ü" }, meta)
  end)

  it("writes non-contiguous tensors in C order", function()
    local a = ks.arange(6):float():view(2, 3):t()
    local p = path("nc.safetensors")
    ks.save(p, { a = a, f = ks.arange(4):flip(0) })
    local t = ks.load(p)
    assert.same({ { 0, 3 }, { 1, 4 }, { 2, 5 } }, t.a:totable())
    assert.same({ 3, 2, 1, 0 }, t.f:totable())
  end)

  it("round-trips metadata values holding NUL bytes; refuses names and keys holding one", function()
    local p = path("nul.safetensors")
    ks.save(p, { x = ks.ones({ 1 }) }, { k = "abc\0def", z = "\0", e = "", u = "\u{e9}\0\u{e9}" })
    local _, meta = ks.load(p) -- "abc\0def" used to come back as "abc"
    assert.same({ k = "abc\0def", z = "\0", e = "", u = "\u{e9}\0\u{e9}" }, meta)
    assert.truthy(read(p):find('"k":"abc\\u0000def"', 1, true))
    -- two keys equal up to a NUL used to be merged into one key "k"
    local ok, err = pcall(ks.save, path("nulkey.safetensors"), { x = ks.ones({ 1 }) }, { ["k\0a"] = "1", ["k\0b"] = "2" })
    assert.is_false(ok)
    assert.matches("save: metadata key 'k\\0[ab]' contains a NUL byte %(at byte 1%)", err)
    ok, err = pcall(ks.save, path("nulname.safetensors"), { ["w\0x"] = ks.ones({ 1 }) })
    assert.is_false(ok)
    assert.matches("save: tensor name 'w\\0x' contains a NUL byte", err)
    assert.is_nil(io.open(path("nulkey.safetensors"))) -- nothing written
  end)

  it("loads \\u0000 in metadata values; a key holding one is an error naming the byte, never merged", function()
    local _, meta = ks.load(write("nulv.safetensors", st('{"__metadata__":{"k":"a\\u0000b"}}')))
    assert.same({ k = "a\0b" }, meta)
    local err = load_error(st('{"__metadata__":{"k\\u0000a":"1","k\\u0000b":"2"}}'))
    assert.truthy(err:find("invalid JSON header near file byte %d+: NUL byte in object key"), err)
    err = load_error(st('{"a\\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', "\0\0\0\0"))
    assert.truthy(err:find("NUL byte in object key"), err)
    -- a dtype with a NUL does not match by its prefix
    err = load_error(st('{"a":{"dtype":"F32\\u0000x","shape":[1],"data_offsets":[0,4]}}', "\0\0\0\0"))
    assert.truthy(err:find("unknown dtype 'F32' followed by a NUL byte", 1, true), err)
  end)

  it("returns an empty metadata table when the file has none", function()
    local p = path("nometa.safetensors")
    ks.save(p, { x = ks.ones({ 2 }) })
    local t, meta = ks.load(p)
    assert.same({}, meta)
    assert.same({ 1, 1 }, t.x:totable())
  end)

  it("lays the file out as the format says: sorted keys, 8-byte aligned header, data in key order", function()
    local p = path("layout.safetensors")
    ks.save(p, { b = ks.tensor({ 2 }, "int64"), a = ks.tensor({ 1.0 }) })
    local s = read(p)
    local n = string.unpack("<I8", s)
    assert.equal(0, (8 + n) % 8)
    local header = s:sub(9, 8 + n)
    assert.equal('{"a":{"data_offsets":[0,4],"dtype":"F32","shape":[1]},'
      .. '"b":{"data_offsets":[4,12],"dtype":"I64","shape":[1]}}', header:gsub(" +$", ""))
    assert.truthy(header:match("^[^ ]+ *$"))
    assert.equal(8 + n + 12, #s)
    assert.equal(1.0, string.unpack("<f", s, 9 + n))
    assert.equal(2, string.unpack("<i8", s, 13 + n))
  end)

  it("takes the names list of state_dict() as argument #3, the metadata then 4th", function()
    -- the torch.save(model.state_dict()) reflex: state_dict() returns the table and its key list
    local function state_dict() return { w = ks.ones({ 2, 2 }), b = ks.tensor({ 1, 2 }, "int64") }, { "w", "b" } end
    local p = path("sd.safetensors")
    ks.save(p, state_dict())
    local t, meta = ks.load(p)
    assert.same({ { 1, 1 }, { 1, 1 } }, t.w:totable())
    assert.same({ 1, 2 }, t.b:totable())
    assert.same({}, meta)
    local sd, keys = state_dict()
    ks.save(p, sd, keys, { epoch = "3" })
    t, meta = ks.load(p)
    assert.same({ epoch = "3" }, meta)
    assert.same({ 1, 2 }, t.b:totable())
    ks.save(p, sd, nil, { epoch = "4" }) -- no list, metadata 4th
    assert.same({ epoch = "4" }, select(2, ks.load(p)))
    -- the layout stays canonical whatever the list's order
    local q = path("sd2.safetensors")
    ks.save(q, sd, { "b", "w" })
    local q2 = path("sd3.safetensors")
    ks.save(q2, sd)
    assert.equal(read(q2), read(q))
    -- a real module's state_dict
    local nn = require "kshot.nn"
    local lin = nn.Linear(3, 2)
    ks.save(p, lin:state_dict())
    t = ks.load(p)
    assert.is_true(ks.equal(t.weight, lin.weight))
    assert.is_true(ks.equal(t.bias, lin.bias))
  end)

  it("checks the names list against the tensor table", function()
    local sd = { a = ks.ones({ 1 }), b = ks.zeros({ 2 }) }
    local function err(...)
      local ok, e = pcall(ks.save, path("names.safetensors"), sd, ...)
      assert.is_false(ok)
      return e
    end
    assert.truthy(err({ "a" }):find("tensor 'b' is missing from the names list (argument #3)", 1, true))
    assert.truthy(err({ "a", "c" }):find("entry 2 ('c') is not a key of the tensor table", 1, true))
    assert.truthy(err({ "a", "a" }):find("names 'a' twice", 1, true))
    assert.truthy(err({ "a", 1 }):find("entry 2 must be a tensor name (string), got number", 1, true))
    assert.truthy(err({ "a", "b", k = "v" }):find("must be a plain list of names (it has 1 other keys; "
      .. "the metadata goes in argument #4)", 1, true))
    assert.truthy(err({ "a", "b" }, { k = 1 }):find("metadata must map strings to strings"))
    assert.truthy(err({ "a", "b" }, "meta"):find("bad argument #4"))
    assert.truthy(err({ k = "v" }, {}):find("bad argument #4 .*unexpected extra argument"))
    assert.truthy(err({ "a", "b" }, {}, {}):find("bad argument #5 .*unexpected extra argument"))
    assert.is_nil(io.open(path("names.safetensors")), "nothing written on error")
  end)
end)

describe("atomic writes", function()
  it("replaces an existing file and leaves no temporary file", function()
    local p = path("atomic.safetensors")
    ks.save(p, { x = ks.zeros({ 3 }) })
    ks.save(p, { y = ks.ones({ 2 }) })
    local t = ks.load(p)
    assert.is_nil(t.x)
    assert.same({ 1, 1 }, t.y:totable())
    for _, name in ipairs(listdir()) do assert.falsy(name:find("%.tmp")) end
  end)

  it("on error leaves the old file intact and nothing half-written", function()
    local p = path("keep.safetensors")
    ks.save(p, { x = ks.ones({ 2 }) })
    local before = read(p)
    local ok, err = pcall(ks.save, p, { ["__metadata__"] = ks.ones({ 1 }) })
    assert.is_false(ok)
    assert.truthy(err:find("reserved", 1, true))
    ok, err = pcall(ks.save, p, { x = ks.ones({ 1 }) }, { k = "\xff\xfe" })
    assert.is_false(ok)
    assert.truthy(err:find("UTF%-8"))
    assert.equal(before, read(p))
    for _, name in ipairs(listdir()) do assert.falsy(name:find("%.tmp")) end
  end)

  it("an interrupt stops a save (old file kept, no temporary) and a load", function()
    local p = path("intr.safetensors")
    ks.save(p, { x = ks.ones({ 2 }) })
    local before = read(p)
    ks.interrupt()
    local ok, err = pcall(ks.save, p, { y = ks.zeros({ 1000 }) })
    assert.is_false(ok)
    assert.truthy(err:find("interrupted"))
    assert.equal(before, read(p))
    for _, name in ipairs(listdir()) do assert.falsy(name:find("%.tmp")) end
    ks.interrupt()
    ok, err = pcall(ks.load, p)
    assert.is_false(ok)
    assert.truthy(err:find("interrupted"))
    assert.same({ 1, 1 }, ks.load(p).x:totable()) -- the flag was consumed
  end)

  it("names the path when the folder does not exist", function()
    local ok, err = pcall(ks.save, dir .. "/no/such/dir/x.safetensors", { x = ks.ones({ 1 }) })
    assert.is_false(ok)
    assert.truthy(err:find("no/such/dir/x.safetensors", 1, true))
  end)
end)

describe("dtype decoding", function()
  local function one(dtype, shape, bytes)
    local h = ('{"x":{"dtype":"%s","shape":[%s],"data_offsets":[0,%d]}}'):format(dtype, shape, #bytes)
    return ks.load(write("dt.safetensors", st(h, bytes))).x
  end

  it("decodes F16 exactly (normal, subnormal, max, signed zero, infinity, NaN)", function()
    local x = one("F16", "8", string.pack("<I2I2I2I2I2I2I2I2", 0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00,
      0x3555, 0x7E00))
    assert.equal("float32", x:dtype())
    local v = x:totable()
    assert.equal(1.0, v[1])
    assert.equal(-2.0, v[2])
    assert.equal(65504.0, v[3])
    assert.equal(2 ^ -24, v[4])
    assert.equal(0, v[5])
    assert.equal(-math.huge, 1 / v[5]) -- negative zero
    assert.equal(math.huge, v[6])
    assert.equal(0.333251953125, v[7])
    assert.is_true(v[8] ~= v[8])
  end)

  it("decodes BF16 exactly", function()
    local x = one("BF16", "4", string.pack("<I2I2I2I2", 0x3F80, 0x4049, 0xFF80, 0x0001))
    local v = x:totable()
    assert.equal(1.0, v[1])
    assert.equal(3.140625, v[2])
    assert.equal(-math.huge, v[3])
    assert.equal(2 ^ -133, v[4]) -- a float32 subnormal
  end)

  it("reads F64 as float32 and I32/I16/I8 as int64", function()
    assert.same({ 0.5, -1.25 }, one("F64", "2", string.pack("<dd", 0.5, -1.25)):totable())
    local i32 = one("I32", "2", string.pack("<i4i4", -2147483648, 7))
    assert.equal("int64", i32:dtype())
    assert.same({ -2147483648, 7 }, i32:totable())
    assert.same({ -32768, 300 }, one("I16", "2", string.pack("<i2i2", -32768, 300)):totable())
    assert.same({ -128, 127, 0 }, one("I8", "3", string.pack("<i1i1i1", -128, 127, 0)):totable())
    assert.same({ { true, false }, { true, true } }, one("BOOL", "2,2", "\1\0\2\1"):totable())
  end)
end)

describe("hostile files are clear errors", function()
  local good = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'

  it("file shorter than the length field", function()
    assert.truthy(load_error("\1\0\0"):find("too short"))
  end)

  it("oversize header", function()
    assert.truthy(load_error(string.pack("<I8", 200 * 1000 * 1000) .. "{}"):find("exceeds the limit"))
  end)

  it("header length larger than the file", function()
    assert.truthy(load_error(string.pack("<I8", 1000) .. good):find("past the end of the file"))
  end)

  it("truncated header", function()
    local err = load_error(st(good:sub(1, 30)))
    assert.truthy(err:find("invalid JSON"))
  end)

  it("invalid JSON", function()
    local err = load_error(st('{"a": [1, }'))
    assert.truthy(err:find("invalid JSON header near file byte %d+"))
  end)

  it("invalid UTF-8 in the header", function()
    assert.truthy(load_error(st('{"\xff":1}')):find("invalid JSON"))
  end)

  it("not an object", function()
    assert.truthy(load_error(st('[1, 2]')):find("not a JSON object"))
  end)

  it("duplicate keys", function()
    local h = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'
    assert.truthy(load_error(st(h, ("\0"):rep(8))):find("duplicate"))
  end)

  it("overlapping offsets", function()
    local h = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}'
    local err = load_error(st(h, ("\0"):rep(12)))
    assert.truthy(err:find("overlap"))
    assert.truthy(err:find("'a'") and err:find("'b'"))
  end)

  it("offsets out of range", function()
    local h = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}'
    local err = load_error(st(h, ("\0"):rep(8)))
    assert.truthy(err:find("out of range"))
    assert.truthy(err:find("'a'"))
  end)

  it("gap in the data", function()
    local h = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}'
    local err = load_error(st(h, ("\0"):rep(12)))
    assert.truthy(err:find("gap"))
    assert.truthy(err:find("[4, 8)", 1, true))
  end)

  it("trailing bytes after the last tensor", function()
    assert.truthy(load_error(st(good, ("\0"):rep(12))):find("cover 8 bytes but the data section has 12"))
  end)

  it("shape / byte count mismatch", function()
    local h = '{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}'
    local err = load_error(st(h, ("\0"):rep(8)))
    assert.truthy(err:find("needs 12"))
  end)

  it("unknown dtype", function()
    local h = '{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}'
    assert.truthy(load_error(st(h, "\0")):find("unknown dtype 'F8_E4M3'"))
  end)

  it("negative or non-integer shape", function()
    local h = '{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'
    assert.truthy(load_error(st(h)):find("non%-negative integer"))
    h = '{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}'
    assert.truthy(load_error(st(h, "\0\0\0\0")):find("non%-negative integer"))
  end)

  it("bad data_offsets and missing or unknown fields", function()
    assert.truthy(load_error(st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', "\0\0\0\0"))
      :find("data_offsets"))
    assert.truthy(load_error(st('{"a":{"dtype":"F32","shape":[1]}}')):find("needs the fields"))
    assert.truthy(load_error(st('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}', "\0\0\0\0"))
      :find("unknown field 'x'"))
    assert.truthy(load_error(st('{"a":5}')):find("must be an object"))
  end)

  it("metadata that is not string -> string", function()
    assert.truthy(load_error(st('{"__metadata__":{"k":1}}')):find("not a string"))
  end)

  it("shapes with a zero follow the same size rule as any shape", function()
    local err = load_error(st('{"a":{"dtype":"F32","shape":[0,4611686018427387904,4611686018427387904],"data_offsets":[0,0]}}'))
    assert.truthy(err:find("header entry 'a': shape [0, 4611686018427387904, 4611686018427387904] has too many elements",
      1, true), err)
    local t = ks.load(write("zero.safetensors", st('{"a":{"dtype":"F32","shape":[0,1073741824,536870912],"data_offsets":[0,0]}}')))
    assert.same({ 0, 1073741824, 536870912 }, t.a:shape())
  end)

  it("overflowing shapes", function()
    local h = '{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,0]}}'
    assert.truthy(load_error(st(h)):find("header entry .a.: shape %[4294967296, 4294967296, 4294967296%] has too many elements"))
  end)

  it("missing files and bad arguments", function()
    local ok, err = pcall(ks.load, dir .. "/missing.safetensors")
    assert.is_false(ok)
    assert.truthy(err:find("missing.safetensors: cannot open", 1, true))
    assert.has_error(function() ks.load(nil) end)
    assert.has_error(function() ks.save(path("x"), { a = 1 }) end, nil)
    ok, err = pcall(ks.save, path("x"), { a = 1 })
    assert.truthy(err:find("value of 'a' must be a kshot.Tensor"))
    ok, err = pcall(ks.save, path("x"), { ks.ones({ 1 }) })
    assert.truthy(err:find("names must be strings"))
    ok, err = pcall(ks.save, path("x"), { a = ks.ones({ 1 }) }, { k = 5 })
    assert.truthy(err:find("metadata must map strings to strings"))
    -- torch.save(model) habit: the error says what to pass instead (it used to name the field '_kinds')
    ok, err = pcall(ks.save, path("m"), require("kshot.nn").Linear(2, 3))
    assert.is_false(ok)
    assert.truthy(err:find("save: got a module, not a table of tensors; save its weights with "
      .. "ks.save(path, model:state_dict()) and load them with model:load_state_dict(ks.load(path))", 1, true), err)
    assert.is_nil(io.open(path("m")))
  end)

  it("empty tensor table and empty files", function()
    local p = path("none.safetensors")
    ks.save(p, {})
    local t, meta = ks.load(p)
    assert.same({}, t)
    assert.same({}, meta)
    assert.truthy(load_error(""):find("too short"))
  end)
end)
