-- NumPy files: ks.data.read_npy / save_npy / read_npz (runtime/core/ks_npy.c).
-- .npy bytes are made by hand as NumPy writes them; .npz archives are built
-- here (the deflate streams and CRCs come from the gzip tool).
local ks = require "kshot"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

local function write(name, bytes)
  local p = dir .. "/" .. name
  local f = assert(io.open(p, "wb"))
  f:write(bytes)
  f:close()
  return p
end

local function read(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- .npy version 1.0 bytes with NumPy's header padding (data at a multiple of 64)
local function npy(descr, shape, data, fortran, version)
  local dict = ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }"):format(descr, fortran and "True" or "False", shape)
  local pre = version == 2 and 12 or 10
  local pad = (64 - (pre + #dict + 1) % 64) % 64
  local header = dict .. (" "):rep(pad) .. "\n"
  if version == 2 then return "\x93NUMPY\2\0" .. string.pack("<I4", #header) .. header .. data end
  return "\x93NUMPY\1\0" .. string.pack("<I2", #header) .. header .. data
end

local function pack_all(fmt, values)
  local parts = {}
  for _, v in ipairs(values) do parts[#parts + 1] = string.pack(fmt, v) end
  return table.concat(parts)
end

local function npy_error(bytes)
  local p = write("bad.npy", bytes)
  local ok, err = pcall(ks.data.read_npy, p)
  assert.is_false(ok)
  assert.truthy(err:find(p, 1, true), "message names the file: " .. err)
  return err
end

describe("ks.data.read_npy", function()
  it("reads every supported dtype", function()
    local t = ks.data.read_npy(write("f4.npy", npy("<f4", "(2, 3)", pack_all("<f", { 1, 2, 3, 4, 5, 6.5 }))))
    assert.equal("float32", t:dtype())
    assert.same({ { 1, 2, 3 }, { 4, 5, 6.5 } }, t:totable())
    t = ks.data.read_npy(write("f8.npy", npy("<f8", "(2,)", pack_all("<d", { 0.25, -3 }))))
    assert.equal("float32", t:dtype())
    assert.same({ 0.25, -3 }, t:totable())
    t = ks.data.read_npy(write("i8.npy", npy("<i8", "(3,)", pack_all("<i8", { -1, 2, 1 << 40 }))))
    assert.equal("int64", t:dtype())
    assert.same({ -1, 2, 1 << 40 }, t:totable())
    t = ks.data.read_npy(write("i4.npy", npy("<i4", "(2,)", pack_all("<i4", { -7, 2147483647 }))))
    assert.equal("int64", t:dtype())
    assert.same({ -7, 2147483647 }, t:totable())
    t = ks.data.read_npy(write("u1.npy", npy("|u1", "(1, 3)", "\0\128\255")))
    assert.equal("uint8", t:dtype())
    assert.same({ { 0, 128, 255 } }, t:totable())
    t = ks.data.read_npy(write("b1.npy", npy("|b1", "(3,)", "\1\0\1")))
    assert.equal("bool", t:dtype())
    assert.same({ true, false, true }, t:totable())
  end)

  it("reads 0-d and empty arrays, version 2.0, and double-quoted keys", function()
    local t = ks.data.read_npy(write("s.npy", npy("<f4", "()", string.pack("<f", 2.5))))
    assert.equal(0, t:dim())
    assert.equal(2.5, t:item())
    t = ks.data.read_npy(write("e.npy", npy("<f4", "(0, 4)", "")))
    assert.same({ 0, 4 }, t:shape())
    t = ks.data.read_npy(write("v2.npy", npy("<i8", "(2,)", pack_all("<i8", { 5, 6 }), false, 2)))
    assert.same({ 5, 6 }, t:totable())
    local hdr = '{"descr": "<f4", "fortran_order": False, "shape": (1,)}\n'
    t = ks.data.read_npy(write("dq.npy", "\x93NUMPY\1\0" .. string.pack("<I2", #hdr) .. hdr .. string.pack("<f", 1)))
    assert.same({ 1 }, t:totable())
  end)

  it("transposes fortran_order data into C order", function()
    -- the 2x3 array [[1, 2, 3], [4, 5, 6]] stored column by column
    local t = ks.data.read_npy(write("fo.npy", npy("<i8", "(2, 3)", pack_all("<i8", { 1, 4, 2, 5, 3, 6 }), true)))
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, t:totable())
    assert.is_true(t:is_contiguous())
  end)

  it("checks shapes with a zero like any shape, C or Fortran order, naming the file and byte", function()
    local H = "4611686018427387904"
    for _, fortran in ipairs { false, true } do
      local err = npy_error(npy("<f4", "(0," .. H .. "," .. H .. ")", "", fortran))
      assert.truthy(err:find("bad header at byte %d+: shape %[0, " .. H .. ", " .. H .. "%] has too many elements"), err)
      err = npy_error(npy("<f4", "(" .. H .. ", 0)", "", fortran))
      assert.truthy(err:find("shape %[" .. H .. ", 0%] has too many elements"), err)
    end
    local t = ks.data.read_npy(write("fz.npy", npy("<f4", "(0, 1073741824, 536870912)", "", true)))
    assert.same({ 0, 1073741824, 536870912 }, t:shape())
  end)
end)

describe("ks.data.save_npy", function()
  it("writes NumPy's layout and round-trips every dtype", function()
    local p = dir .. "/out.npy"
    ks.data.save_npy(p, ks.tensor({ { 1, 2 }, { 3, 4 } }))
    local s = read(p)
    assert.equal("\x93NUMPY\1\0", s:sub(1, 8))
    local hl = string.unpack("<I2", s, 9)
    assert.equal(0, (10 + hl) % 64)
    assert.equal("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", s:sub(11, 10 + hl):gsub(" *\n$", ""))
    assert.equal(10 + hl + 16, #s)
    for _, t in ipairs { ks.tensor({ 1, -2 }, "int64"), ks.tensor({ 3, 250 }, "uint8"), ks.tensor({ true, false }),
      ks.tensor(7.5), ks.arange(6):view(2, 3):t() } do
      ks.data.save_npy(p, t)
      local back = ks.data.read_npy(p)
      assert.equal(t:dtype(), back:dtype())
      assert.same(t:shape(), back:shape())
      assert.same(t:totable(), back:totable())
    end
    ks.data.save_npy(p, ks.tensor({ 5 }, "int64"))
    assert.truthy(read(p):find("'shape': (1,)", 1, true))
  end)

  it("rejects bad arguments", function()
    assert.has_error(function() ks.data.save_npy(dir .. "/x.npy", 5) end)
    local ok, err = pcall(ks.data.save_npy, dir .. "/no/dir/x.npy", ks.ones({ 1 }))
    assert.is_false(ok)
    assert.truthy(err:find("no/dir/x.npy", 1, true))
  end)
end)

describe("read_npy errors", function()
  it("bad magic and version", function()
    assert.truthy(npy_error("PK\3\4 not npy at all"):find("bad magic at byte 0"))
    assert.truthy(npy_error("\x93NUMPY\9\0\0\0"):find("unsupported .npy version 9.0 at byte 6"))
  end)

  it("truncated header and data, trailing bytes", function()
    assert.truthy(npy_error("\x93NUMPY\1\0\200\0{'descr'"):find("truncated at byte 10"))
    local err = npy_error(npy("<f4", "(4,)", pack_all("<f", { 1, 2, 3 })))
    assert.truthy(err:find("needs 16") and err:find("truncated file"), err)
    err = npy_error(npy("<f4", "(2,)", pack_all("<f", { 1, 2, 3 })))
    assert.truthy(err:find("trailing bytes"), err)
  end)

  it("unsupported dtypes and big-endian data", function()
    assert.truthy(npy_error(npy(">f4", "(1,)", "\0\0\0\0")):find("big%-endian"))
    assert.truthy(npy_error(npy("<c8", "(1,)", ("\0"):rep(8))):find("unsupported descr"))
    assert.truthy(npy_error(npy("<U3", "(1,)", ("\0"):rep(12))):find("unsupported descr"))
  end)

  it("malformed dict literals name the byte", function()
    local function raw(h) return "\x93NUMPY\1\0" .. string.pack("<I2", #h) .. h end
    assert.truthy(npy_error(raw("{'descr': '<f4', 'shape': (1,)}\n")):find("are all required"))
    assert.truthy(npy_error(raw("{'descr': '<f4', 'fortran_order': Maybe, 'shape': ()}\n")):find("True or False"))
    assert.truthy(npy_error(raw("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}\n"))
      :find("bad header at byte %d+: shape entries must be non%-negative"))
    assert.truthy(npy_error(raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}\n")):find("unknown key"))
    assert.truthy(npy_error(raw("['descr']\n")):find("expected '{'"))
  end)

  it("missing files", function()
    local ok, err = pcall(ks.data.read_npy, dir .. "/missing.npy")
    assert.truthy(err:find("missing.npy: cannot open", 1, true))
  end)
end)

-- ------------------------------------------------------------------ npz
-- raw deflate stream, CRC-32 and size of `data`, from gzip -n (10-byte header, 8-byte trailer)
local function deflate(data)
  local p = write("member.bin", data)
  local h = io.popen("gzip -nc '" .. p .. "'")
  local gz = h:read("a")
  h:close()
  local crc, size = string.unpack("<I4I4", gz, #gz - 7)
  return gz:sub(11, #gz - 8), crc, size
end

local function zip(members) -- members: {{name, data, method = 0 | 8}}
  local parts, central, offset = {}, {}, 0
  for _, m in ipairs(members) do
    local def, crc, size = deflate(m[2])
    local body = m.method == 8 and def or m[2]
    local crc_written = m.bad_crc and crc ~ 1 or crc
    local lh = string.pack("<I4I2I2I2I2I2I4I4I4I2I2", 0x04034b50, 20, 0, m.method, 0, 0, crc_written, #body, size,
      #m[1], 0) .. m[1]
    central[#central + 1] = string.pack("<I4I2I2I2I2I2I2I4I4I4I2I2I2I2I2I4I4", 0x02014b50, 20, 20, 0, m.method, 0, 0,
      crc_written, #body, size, #m[1], 0, 0, 0, 0, 0, offset) .. m[1]
    parts[#parts + 1] = lh .. body
    offset = offset + #lh + #body
  end
  local cd = table.concat(central)
  return table.concat(parts) .. cd .. string.pack("<I4I2I2I2I2I4I4I2", 0x06054b50, 0, 0, #members, #members, #cd,
    offset, 0)
end

describe("ks.data.read_npz", function()
  local a = npy("<f4", "(2,)", pack_all("<f", { 1.5, 2.5 }))
  local b = npy("<i8", "(2, 2)", pack_all("<i8", { 1, 2, 3, 4 }))

  it("reads stored (np.savez) and deflated (np.savez_compressed) members", function()
    local p = write("s.npz", zip { { "a.npy", a, method = 0 }, { "b.npy", b, method = 8 } })
    local z = ks.data.read_npz(p)
    assert.same({ 1.5, 2.5 }, z.a:totable())
    assert.same({ { 1, 2 }, { 3, 4 } }, z.b:totable())
  end)

  it("rejects corrupt archives with the file and member named", function()
    local p = write("crc.npz", zip { { "a.npy", a, method = 8, bad_crc = true } })
    local ok, err = pcall(ks.data.read_npz, p)
    assert.is_false(ok)
    assert.truthy(err:find(p, 1, true) and err:find("CRC mismatch"), err)
    local bytes = zip { { "a.npy", a, method = 0 } }
    p = write("trunc.npz", bytes:sub(1, 40))
    ok, err = pcall(ks.data.read_npz, p)
    assert.truthy(err:find("not a zip archive"), err)
    p = write("badnpy.npz", zip { { "x.npy", "hello world, not npy", method = 0 } })
    ok, err = pcall(ks.data.read_npz, p)
    assert.truthy(err:find("member 'x'", 1, true) and err:find("bad magic"), err)
  end)

  -- found while fuzzing: directory entries may all point at one member, which
  -- was then decoded once per entry (an overlapping zip bomb: a 50 KB file
  -- decoding 16 KB a thousand times, a 1 MB one gigabytes)
  it("refuses members that overlap (a zip bomb)", function()
    local z = zip { { "a.npy", npy("<f4", "(4096,)", ("\0"):rep(16384)), method = 8 } }
    local cd_off = string.unpack("<I4", z, #z - 5) -- the EOCD's directory offset
    local cd = z:sub(cd_off + 1, #z - 22)
    local bomb = z:sub(1, cd_off) .. cd:rep(1000)
      .. string.pack("<I4I2I2I2I2I4I4I2", 0x06054b50, 0, 0, 1000, 1000, #cd * 1000, cd_off, 0)
    local p = write("bomb.npz", bomb)
    local ok, err = pcall(ks.data.read_npz, p)
    assert.is_false(ok)
    assert.truthy(err:find(p .. ": member at byte 0 overlaps other members", 1, true), err)
  end)

  -- found by spec/c/fuzz/fuzz_npz.c: the central directory's inflated size was
  -- allocated before anything checked it (a 184-byte file asked for 4 GB)
  it("refuses an inflated size deflate cannot reach, before allocating it", function()
    local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
    local p = write("usize.npz", read(here .. "/c/fuzz/regressions/npz/deflate_usize_4g"))
    local ok, err = pcall(ks.data.read_npz, p)
    assert.is_false(ok)
    assert.truthy(err:find(p .. ": member at byte 0 claims 4294967280 bytes inflated from 76 deflated bytes at byte 35",
      1, true) and err:find("more than deflate can expand"), err)
  end)
end)
