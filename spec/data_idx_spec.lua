-- IDX reader (ks.data.read_idx) and the Fashion-MNIST loader (ks.data.fashion_mnist).
-- The small files are written by the spec itself (plain, and gzip via the gzip tool).
local ks = require "kshot"

local TYPES = { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E }
local PACK = { u8 = ">B", i8 = ">b", i16 = ">i2", i32 = ">i4", f32 = ">f", f64 = ">d" }

-- IDX bytes: header (magic, type, ndim, sizes) then the values, big-endian
local function idx_bytes(kind, sizes, values)
  local parts = { string.pack(">BBBB", 0, 0, TYPES[kind], #sizes) }
  for _, s in ipairs(sizes) do parts[#parts + 1] = string.pack(">I4", s) end
  for _, v in ipairs(values or {}) do parts[#parts + 1] = string.pack(PACK[kind], v) end
  return table.concat(parts)
end

local tmpfiles = {}
local function write_file(bytes, gz)
  local path = os.tmpname()
  tmpfiles[#tmpfiles + 1] = path
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  if gz then
    assert(os.execute("gzip -nf '" .. path .. "'"))
    path = path .. ".gz"
    tmpfiles[#tmpfiles + 1] = path
  end
  return path
end

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function flat(t)
  return t:reshape(-1):totable()
end

-- message of the error raised by fn(...); fails when it does not raise
local function err_of(fn, ...)
  local ok, msg = pcall(fn, ...)
  assert.is_false(ok, "expected an error")
  return tostring(msg)
end

local function f32(x) return (string.unpack("f", string.pack("f", x))) end

teardown(function()
  for _, p in ipairs(tmpfiles) do os.remove(p) end
end)

describe("ks.data.read_idx", function()
  for _, gz in ipairs { false, true } do
    local how = gz and "gzip" or "plain"

    it("reads uint8 as uint8 keeping the sizes (" .. how .. ")", function()
      local p = write_file(idx_bytes("u8", { 2, 3 }, { 0, 1, 2, 253, 254, 255 }), gz)
      local t = ks.data.read_idx(p)
      assert.equal("uint8", t:dtype())
      assert.same({ 2, 3 }, t:shape())
      assert.same({ { 0, 1, 2 }, { 253, 254, 255 } }, t:totable())
    end)

    it("widens int8/int16/int32 to int64 with their signs (" .. how .. ")", function()
      local t = ks.data.read_idx(write_file(idx_bytes("i8", { 4 }, { -128, -1, 0, 127 }), gz))
      assert.equal("int64", t:dtype())
      assert.same({ -128, -1, 0, 127 }, t:totable())
      t = ks.data.read_idx(write_file(idx_bytes("i16", { 3 }, { -32768, -300, 32767 }), gz))
      assert.same({ -32768, -300, 32767 }, t:totable())
      t = ks.data.read_idx(write_file(idx_bytes("i32", { 2, 2 }, { -2147483648, -70000, 70000, 2147483647 }), gz))
      assert.equal("int64", t:dtype())
      assert.same({ { -2147483648, -70000 }, { 70000, 2147483647 } }, t:totable())
    end)

    it("reads float32 exactly and float64 rounded to float32 (" .. how .. ")", function()
      local t = ks.data.read_idx(write_file(idx_bytes("f32", { 3 }, { 1.5, -2.25, 1e-3 }), gz))
      assert.equal("float32", t:dtype())
      assert.same({ 1.5, -2.25, f32(1e-3) }, t:totable())
      t = ks.data.read_idx(write_file(idx_bytes("f64", { 1, 3 }, { 0.1, -1e30, 3.0 }), gz))
      assert.equal("float32", t:dtype())
      assert.same({ { f32(0.1), f32(-1e30), 3.0 } }, t:totable())
    end)

    it("accepts a zero size (an empty tensor) (" .. how .. ")", function()
      local t = ks.data.read_idx(write_file(idx_bytes("u8", { 0, 28 }), gz))
      assert.same({ 0, 28 }, t:shape())
      assert.equal(0, t:numel())
    end)

    it("rejects a truncated file naming the file and the byte (" .. how .. ")", function()
      local p = write_file(idx_bytes("u8", { 2, 3 }, { 1, 2, 3, 4, 5 }), gz)
      local msg = err_of(ks.data.read_idx, p)
      assert.truthy(msg:find(p, 1, true), msg)
      assert.truthy(msg:find("truncated at byte 5 of data (expected 6 bytes", 1, true), msg)
      msg = err_of(ks.data.read_idx, write_file(idx_bytes("i32", { 3 }, { 1, 2 }) .. "\0", gz))
      assert.truthy(msg:find("truncated at byte 9 of data (expected 12 bytes", 1, true), msg)
    end)

    it("rejects trailing bytes after the data (" .. how .. ")", function()
      local p = write_file(idx_bytes("u8", { 2, 2 }, { 1, 2, 3, 4, 5 }), gz)
      local msg = err_of(ks.data.read_idx, p)
      assert.truthy(msg:find(p, 1, true), msg)
      assert.truthy(msg:find("trailing bytes after byte 16", 1, true), msg)
    end)

    it("rejects a bad magic, a bad type, a bad ndim (" .. how .. ")", function()
      local p = write_file("\1\0\8\1" .. string.pack(">I4B", 1, 7), gz)
      local msg = err_of(ks.data.read_idx, p)
      assert.truthy(msg:find(p, 1, true), msg)
      assert.truthy(msg:find("bad magic at byte 0", 1, true), msg)
      msg = err_of(ks.data.read_idx, write_file("\0\0\7\1" .. string.pack(">I4B", 1, 7), gz))
      assert.truthy(msg:find("unsupported element type 0x07 at byte 2", 1, true), msg)
      msg = err_of(ks.data.read_idx, write_file("\0\0\8\0", gz))
      assert.truthy(msg:find("bad number of dimensions 0 at byte 3 (expected 1 to 8)", 1, true), msg)
      msg = err_of(ks.data.read_idx, write_file("\0\0\8\9" .. string.rep(string.pack(">I4", 1), 9) .. "\1", gz))
      assert.truthy(msg:find("bad number of dimensions 9 at byte 3", 1, true), msg)
    end)

    it("rejects sizes whose product overflows (" .. how .. ")", function()
      local sizes = {}
      for i = 1, 8 do sizes[i] = 0xFFFFFFFF end
      local p = write_file(idx_bytes("u8", sizes), gz)
      local msg = err_of(ks.data.read_idx, p)
      assert.truthy(msg:find(p, 1, true), msg)
      assert.truthy(msg:find("overflow when multiplied", 1, true), msg)
      -- 2^62 float32 elements: the element count fits, the bytes do not
      msg = err_of(ks.data.read_idx, write_file(idx_bytes("f32", { 0x80000000, 0x80000000 }), gz))
      assert.truthy(msg:find("overflow", 1, true), msg)
      -- a zero size makes the product 0, but the other sizes still follow the rule of every
      -- tensor; the message names the bytes of the sizes (seen while fuzzing)
      p = write_file(idx_bytes("u8", { 0x7FFFFFFF, 0, 0x7FFFFFFF }), gz)
      msg = err_of(ks.data.read_idx, p)
      assert.truthy(msg:find(p .. ": sizes at bytes 4 to 15: shape [2147483647, 0, 2147483647] has too many elements",
        1, true), msg)
    end)

    it("rejects a header cut short (" .. how .. ")", function()
      local msg = err_of(ks.data.read_idx, write_file("", gz))
      assert.truthy(msg:find("truncated at byte 0 of the header (expected 4 header bytes)", 1, true), msg)
      msg = err_of(ks.data.read_idx, write_file("\0\0\8\3" .. string.pack(">I4I4", 1, 2), gz))
      assert.truthy(msg:find("truncated at byte 12 of the header (expected 16 header bytes)", 1, true), msg)
    end)
  end

  it("rejects sizes a small file cannot hold before allocating", function()
    -- plain: the file size is known
    local msg = err_of(ks.data.read_idx, write_file(idx_bytes("u8", { 60000, 28, 28 }, { 1, 2 })))
    assert.truthy(msg:find("truncated at byte 2 of data (expected 47040000 bytes", 1, true), msg)
    -- gzip: deflate expands at most ~1032x
    msg = err_of(ks.data.read_idx, write_file(idx_bytes("u8", { 65535, 65535, 16 }, { 1, 2 }), true))
    assert.truthy(msg:find("more than a", 1, true) and msg:find("gzip file can hold", 1, true), msg)
  end)

  it("reports a corrupt gzip stream and a gzip stream cut short", function()
    local values = {}
    for i = 1, 4000 do values[i] = (i * 7919) % 251 end
    local p = write_file(idx_bytes("u8", { 4000 }, values), true)
    local bytes = read_all(p)
    -- flip bits in the middle of the compressed data
    local mid = #bytes // 2
    local bad = bytes:sub(1, mid - 1) .. string.char(bytes:byte(mid) ~ 0xFF) .. bytes:sub(mid + 1)
    local msg = err_of(ks.data.read_idx, write_file(bad))
    assert.truthy(msg:find("gzip", 1, true) or msg:find("truncated", 1, true) or msg:find("trailing", 1, true), msg)
    -- drop the 8-byte trailer (CRC and length): the data is complete but the stream is not
    msg = err_of(ks.data.read_idx, write_file(bytes:sub(1, #bytes - 8)))
    assert.truthy(msg:find("cut short", 1, true), msg)
    -- wrong CRC
    local crc = bytes:sub(1, #bytes - 8) .. string.char(bytes:byte(#bytes - 7) ~ 1) .. bytes:sub(#bytes - 6)
    msg = err_of(ks.data.read_idx, write_file(crc))
    assert.truthy(msg:find("corrupt gzip data", 1, true), msg)
  end)

  it("stops between chunks when interrupted and leaks nothing", function()
    if not (ks.interrupt and ks.memory_stats) then
      pending("ks.interrupt / ks.memory_stats not available")
      return
    end
    local n = 9 * 2 ^ 20 -- more than two read chunks
    local p = write_file(idx_bytes("u8", { n }) .. string.rep("\7", n))
    collectgarbage()
    local live = ks.memory_stats().live_bytes
    ks.interrupt()
    local msg = err_of(ks.data.read_idx, p)
    assert.truthy(msg:find("interrupted", 1, true), msg)
    collectgarbage()
    assert.equal(live, ks.memory_stats().live_bytes)
    local t = ks.data.read_idx(p) -- the flag was consumed
    assert.equal(n, t:numel())
    assert.equal(7, t:narrow(0, n - 1, 1):item())
  end)

  it("names the file when the memory limit refuses the tensor", function()
    if not ks.set_memory_limit then
      pending("ks.set_memory_limit not available")
      return
    end
    local p = write_file(idx_bytes("i32", { 1000 }, {}) .. string.rep("\0", 4000))
    local old = ks.get_memory_limit()
    ks.set_memory_limit(ks.memory_stats().live_bytes + 1024)
    local ok, msg = pcall(ks.data.read_idx, p)
    ks.set_memory_limit(old)
    assert.is_false(ok)
    assert.truthy(tostring(msg):find(p .. ": memory limit exceeded", 1, true), msg)
    assert.equal(1000, ks.data.read_idx(p):numel())
  end)

  it("reports a missing file, a directory and bad arguments", function()
    local msg = err_of(ks.data.read_idx, "/nonexistent/dir/x-idx1-ubyte.gz")
    assert.truthy(msg:find("/nonexistent/dir/x-idx1-ubyte.gz: cannot open (No such file or directory)", 1, true), msg)
    msg = err_of(ks.data.read_idx, "/tmp")
    assert.truthy(msg:find("is a directory", 1, true), msg)
    assert.truthy(err_of(ks.data.read_idx):find("bad argument #1", 1, true))
    assert.truthy(err_of(ks.data.read_idx, 42):find("string expected", 1, true))
    assert.truthy(err_of(ks.data.read_idx, {}):find("bad argument #1", 1, true))
  end)
end)

describe("ks.data.idx_pair", function()
  it("checks that images and labels agree on N, naming both files", function()
    local imgs = write_file(idx_bytes("u8", { 3, 2, 2 }, { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 }), true)
    local labs = write_file(idx_bytes("u8", { 2 }, { 1, 0 }), true)
    local msg = err_of(ks.data.idx_pair, imgs, labs)
    assert.truthy(msg:find(imgs, 1, true) and msg:find(labs, 1, true), msg)
    assert.truthy(msg:find("holds 3 examples but", 1, true) and msg:find("holds 2 labels", 1, true), msg)
    local labs3 = write_file(idx_bytes("u8", { 3 }, { 2, 0, 1 }))
    local x, y = ks.data.idx_pair(imgs, labs3)
    assert.same({ 3, 2, 2 }, x:shape())
    assert.equal("int64", y:dtype())
    assert.same({ 2, 0, 1 }, y:totable())
    local labs2d = write_file(idx_bytes("u8", { 3, 1 }, { 2, 0, 1 }))
    assert.truthy(err_of(ks.data.idx_pair, imgs, labs2d):find("labels must be 1-D", 1, true))
  end)
end)

describe("kshot.data", function()
  it("is the ks.data table, its Lua part loaded on first use", function()
    assert.is_function(ks.data.fashion_mnist)
    assert.equal(ks.data, require "kshot.data")
    assert.is_nil(ks.data.no_such_function)
  end)
end)

describe("ks.data.fashion_mnist", function()
  local dir = "/usr/share/datasets/fashion-mnist"
  local have = io.open(dir .. "/train-images-idx3-ubyte.gz", "rb")
  if have then have:close() end

  local function per_class(labels)
    local counts = {}
    for _, v in ipairs(labels:totable()) do counts[v + 1] = (counts[v + 1] or 0) + 1 end
    return counts
  end

  if not have then
    pending("Fashion-MNIST is not installed in " .. dir .. " (apt-get install dataset-fashion-mnist)")
  else
    it("loads 60,000 training images with 6,000 per class", function()
      local x, y, names = ks.data.fashion_mnist { split = "train", path = dir }
      assert.equal("uint8", x:dtype())
      assert.same({ 60000, 28, 28 }, x:shape())
      assert.equal("int64", y:dtype())
      assert.same({ 60000 }, y:shape())
      local c = {}
      for i = 1, 10 do c[i] = 6000 end
      assert.same(c, per_class(y))
      assert.same({ "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot" }, names)
      -- the first training image is an ankle boot (label 9), as in every copy of the data set
      assert.equal(9, y:narrow(0, 0, 1):item())
    end)

    it("loads 10,000 test images with 1,000 per class (default directory)", function()
      local x, y = ks.data.fashion_mnist { split = "test" }
      assert.same({ 10000, 28, 28 }, x:shape())
      local c = {}
      for i = 1, 10 do c[i] = 1000 end
      assert.same(c, per_class(y))
    end)
  end

  it("names the Debian package when the files are missing", function()
    local msg = err_of(ks.data.fashion_mnist, { split = "test", path = "/nonexistent" })
    assert.truthy(msg:find("/nonexistent/t10k-images-idx3-ubyte.gz not found", 1, true), msg)
    assert.truthy(msg:find("dataset-fashion-mnist", 1, true), msg)
  end)

  it("rejects a bad split, a bad path and a non-table argument", function()
    assert.truthy(err_of(ks.data.fashion_mnist, { split = "valid" }):find('split must be "train" or "test"', 1, true))
    assert.truthy(err_of(ks.data.fashion_mnist, { path = 3 }):find("path must be a string", 1, true))
    assert.truthy(err_of(ks.data.fashion_mnist, "train"):find("options must be a table", 1, true))
  end)

  it("rejects unknown options, naming the function, the key and the known ones", function()
    local e = err_of(ks.data.fashion_mnist, { splt = "test" })
    assert.truthy(e:find("fashion_mnist: unknown option 'splt' (known: split, path); did you mean 'split'?", 1, true), e)
  end)
end)
