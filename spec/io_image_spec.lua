-- Images: ks.image.load/save/resize/save_grid, ks.data.image_folder, ks.data.to_float
-- (runtime/core/ks_image.c, ks_image_ops.c, bindings/lua/kshot/image.lua).
-- Every file is written by the spec itself.
local ks = require "kshot"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p '" .. dir .. "'"))
teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

local function p(name) return dir .. "/" .. name end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

local function max_abs_diff(a, b)
  return (a:float() - b:float()):abs():amax():item()
end

-- a [3, 16, 16] uint8 image of four flat 8x8 blocks (JPEG-friendly)
local function blocks()
  local t = ks.zeros({ 3, 16, 16 }, "uint8")
  local colors = { { 200, 30, 30 }, { 30, 200, 30 }, { 30, 30, 200 }, { 120, 120, 120 } }
  for k = 0, 3 do
    local y, x = (k // 2) * 8, (k % 2) * 8
    for ch = 0, 2 do t[{ ch, { y, y + 8 }, { x, x + 8 } }]:fill_(colors[k + 1][ch + 1]) end
  end
  return t
end

describe("PNG", function()
  it("round-trips uint8 RGB, gray [1, H, W] and [H, W] exactly", function()
    local rgb = ks.tensor({ { { 0, 1, 2 }, { 3, 4, 5 } }, { { 10, 20, 30 }, { 40, 50, 60 } },
      { { 255, 254, 253 }, { 128, 127, 126 } } }, "uint8")
    ks.image.save(p("rgb.png"), rgb)
    assert.equal("\x89PNG", read(p("rgb.png")):sub(1, 4))
    local back = ks.image.load(p("rgb.png"))
    assert.equal("uint8", back:dtype())
    assert.same(rgb:totable(), back:totable())
    local gray = ks.tensor({ { 0, 100 }, { 200, 255 } }, "uint8")
    ks.image.save(p("g2.png"), gray)
    assert.same({ gray:totable() }, ks.image.load(p("g2.png")):totable())
    ks.image.save(p("g3.png"), gray:unsqueeze(0))
    assert.same({ 1, 2, 2 }, ks.image.load(p("g3.png")):shape())
  end)

  it("writes floats as x * 255 rounded half up, clamped, NaN -> 0", function()
    local t = ks.tensor({ { { 0, 0.5, 1, 1.5 }, { -0.2, 0.1, 0 / 0, 0.998 } } })
    ks.image.save(p("f.png"), t)
    assert.same({ { { 0, 128, 255, 255 }, { 0, 26, 0, 254 } } }, ks.image.load(p("f.png")):totable())
  end)

  it("converts on load: gray (PIL's L rule), RGB from gray, alpha dropped", function()
    local rgb = ks.tensor({ { { 255, 0, 0 } }, { { 0, 255, 0 } }, { { 0, 0, 255 } } }, "uint8")
    ks.image.save(p("prim.png"), rgb)
    assert.same({ { { 76, 150, 29 } } }, ks.image.load(p("prim.png"), { gray = true }):totable())
    local gray = ks.tensor({ { { 7, 9 } } }, "uint8")
    ks.image.save(p("g.png"), gray)
    assert.same({ { { 7, 9 } }, { { 7, 9 } }, { { 7, 9 } } }, ks.image.load(p("g.png"), { gray = false }):totable())
    local rgba = ks.tensor({ { { 1 } }, { { 2 } }, { { 3 } }, { { 0 } } }, "uint8")
    ks.image.save(p("rgba.png"), rgba)
    assert.same({ { { 1 } }, { { 2 } }, { { 3 } } }, ks.image.load(p("rgba.png")):totable())
  end)

  it("resizes on load with size = {h, w}", function()
    ks.image.save(p("b.png"), blocks())
    local t = ks.image.load(p("b.png"), { size = { 4, 4 } })
    assert.same({ 3, 4, 4 }, t:shape())
    assert.same({ 200, 200, 30, 30 }, t[0][0]:totable())
  end)
end)

describe("JPEG", function()
  it("round-trips within 4 levels at quality 95 (4:4:4)", function()
    local t = blocks()
    ks.image.save(p("b.jpg"), t, { quality = 95 })
    assert.equal("\xFF\xD8\xFF", read(p("b.jpg")):sub(1, 3))
    local back = ks.image.load(p("b.jpg"))
    assert.same({ 3, 16, 16 }, back:shape())
    assert.is_true(max_abs_diff(t, back) <= 4)
    ks.image.save(p("b.dat"), t, { format = "jpeg" })
    assert.equal("\xFF\xD8\xFF", read(p("b.dat")):sub(1, 3))
    ks.image.save(p("g.jpeg"), t[0]) -- gray from the extension
    local g = ks.image.load(p("g.jpeg"))
    assert.same({ 1, 16, 16 }, g:shape())
    assert.is_true(max_abs_diff(t[{ { 0, 1 } }], g) <= 4)
  end)

  it("lower quality makes smaller files", function()
    local t = ks.image.resize(blocks(), { 64, 64 })
    ks.image.save(p("q95.jpg"), t, { quality = 95 })
    ks.image.save(p("q10.jpg"), t, { quality = 10 })
    assert.is_true(#read(p("q10.jpg")) < #read(p("q95.jpg")))
  end)
end)

describe("corrupt and bad files", function()
  local function load_error(path, opts)
    local ok, err = pcall(ks.image.load, path, opts)
    assert.is_false(ok)
    assert.truthy(err:find(path, 1, true), "message names the file: " .. err)
    return err
  end

  it("truncated PNG and JPEG", function()
    ks.image.save(p("t.png"), blocks())
    local s = read(p("t.png"))
    local n = #s - 30
    local e = load_error(write(p("cut.png"), s:sub(1, n)))
    local at = tonumber(e:match("corrupt PNG file at byte (%d+): truncated file"))
    assert.truthy(at and at <= n, e) -- where the read that ran past the end started
    e = load_error(write(p("cut2.png"), s:sub(1, 20)))
    assert.truthy(e:find("corrupt PNG file at byte %d+: "), e)
    ks.image.save(p("t.jpg"), blocks())
    s = read(p("t.jpg"))
    n = #s // 2
    e = load_error(write(p("cut.jpg"), s:sub(1, n)))
    assert.truthy(e:find("corrupt JPEG file at byte " .. n .. ":", 1, true), e)
  end)

  it("a flipped byte in PNG data fails its CRC", function()
    ks.image.save(p("c.png"), blocks())
    local s = read(p("c.png"))
    local at = s:find("IDAT", 1, true) + 6
    local bad = s:sub(1, at - 1) .. string.char(s:byte(at) ~ 0xff) .. s:sub(at + 1)
    assert.truthy(load_error(write(p("crc.png"), bad)):find("corrupt PNG file"))
  end)

  it("the decoded size counts against the memory limit", function()
    ks.image.save(p("big.png"), ks.zeros({ 3, 256, 256 }, "uint8"))
    local limit = ks.get_memory_limit()
    collectgarbage()
    ks.set_memory_limit(ks.memory_stats().live_bytes + 100000)
    local ok, err = pcall(ks.image.load, p("big.png"))
    ks.set_memory_limit(limit)
    assert.is_false(ok)
    assert.truthy(err:find(p("big.png"), 1, true) and err:find("out of memory"), err)
    assert.same({ 3, 256, 256 }, ks.image.load(p("big.png")):shape())
  end)

  -- found by spec/c/fuzz/fuzz_image.c: a tiny file declaring a huge image had
  -- its pixel buffer (3 GB) allocated before the missing data showed
  it("refuses sizes the file cannot hold, before allocating the pixels", function()
    local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
    local function regression(name) return read(here .. "/c/fuzz/regressions/image/" .. name) end
    local e = load_error(write(p("huge.png"), regression("png_32768x32768")))
    assert.truthy(e:find(p("huge.png") .. ": corrupt PNG file at byte 16: image size 32768x32768 "
      .. "(3221225472 bytes of pixel data) is more than a 69-byte PNG can hold", 1, true), e)
    e = load_error(write(p("huge.jpg"), regression("jpeg_32000x32000_cut")))
    assert.truthy(e:find(p("huge.jpg") .. ": corrupt JPEG file at byte 328: image size 32000x32000 "
      .. "(16000000 blocks of 8x8) needs at least 2000000 bytes of scan data, the file has 10 from here", 1, true), e)
    -- the same checks come before libjpeg's own whole-image buffers (progressive files)
    local huge = regression("jpeg_32000x32000_cut"):gsub("\255\192", "\255\194", 1)
    e = load_error(write(p("huge_progressive.jpg"), huge))
    assert.truthy(e:find("needs at least 2000000 bytes of scan data", 1, true), e)
  end)

  -- found while fuzzing spec/c/fuzz/fuzz_image.c: hundreds of near-empty
  -- progressive scans each walk the whole image (quadratic, uninterruptible);
  -- an 18 KB file (spec/c/fuzz/make_seeds.py) took over a second, 1 MB files minutes
  it("bounds the decoding work of progressive JPEGs by the file size", function()
    local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
    local bytes = read(here .. "/c/fuzz/regressions/image/jpeg_progressive_882_scans")
    local e = load_error(write(p("scans.jpg"), bytes))
    assert.truthy(e:find(p("scans.jpg") .. ": corrupt JPEG file at byte %d+: 656 scans over 32768 blocks of 8x8 are "
      .. "more decoding work than a 18348%-byte file can justify"), e)
    -- its first 28 scans alone are an ordinary progressive JPEG (flat gray)
    local at = 0
    for _ = 1, 29 do at = bytes:find("\255\218", at + 1, true) end -- SOS markers (data has no FF DA)
    local few = bytes:sub(1, at - 1) .. "\255\217"
    local t = ks.image.load(write(p("few.jpg"), few))
    assert.same({ 1, 1024, 2048 }, t:shape())
    assert.equal(128, t:float():mean():item())
  end)

  it("libjpeg's coefficient buffer of progressive files counts against the memory limit", function()
    local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
    local bytes = read(here .. "/c/fuzz/regressions/image/jpeg_progressive_882_scans")
    local at = 0
    for _ = 1, 3 do at = bytes:find("\255\218", at + 1, true) end
    local path = write(p("coef.jpg"), bytes:sub(1, at - 1) .. "\255\217") -- 2 scans, 2048x1024
    local limit = ks.get_memory_limit()
    collectgarbage()
    ks.set_memory_limit(ks.memory_stats().live_bytes + 3000000) -- the coefficients take 4 MB
    local ok, err = pcall(ks.image.load, path)
    ks.set_memory_limit(limit)
    assert.is_false(ok)
    assert.truthy(err:find(path .. ": corrupt JPEG file at byte %d+: out of memory for the coefficients of a "
      .. "2048x1024 image %(memory limit exceeded"), err)
    collectgarbage()
    local live = ks.memory_stats().live_bytes
    assert.same({ 1, 1024, 2048 }, ks.image.load(path):shape())
    collectgarbage()
    assert.equal(live, ks.memory_stats().live_bytes) -- given back
  end)

  -- found by fuzz-driven review of ks_image.c: libpng inflated and kept every
  -- text chunk (up to 8 MB each); 200 copies of a 7 KB zTXt chunk took 1.4 GB
  it("skips PNG text chunks instead of inflating them (no text bomb)", function()
    local f = io.open("/proc/self/status")
    if not f then return pending("needs /proc/self/status (peak memory)") end
    f:close()
    local function peak_kb()
      local st = io.open("/proc/self/status"):read("a")
      return tonumber(st:match("VmHWM:%s*(%d+)"))
    end
    local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."
    local b = read(here .. "/c/fuzz/regressions/image/png_ztxt_7mb")
    local n = string.unpack(">I4", b, 34) + 12 -- the zTXt chunk after the 33 bytes of signature and IHDR
    assert.equal("zTXt", b:sub(38, 41))
    local bomb = write(p("bomb.png"), b:sub(1, 33) .. b:sub(34, 33 + n):rep(60) .. b:sub(34 + n)) -- 430 KB
    collectgarbage()
    local before = peak_kb()
    local t = ks.image.load(bomb)
    assert.same({ { { 0 } } }, t:totable())
    local grown = peak_kb() - before
    assert.truthy(grown < 100 * 1024, ("peak memory grew by %d KB"):format(grown)) -- was 420 MB
  end)

  it("non-image and missing files", function()
    assert.truthy(load_error(write(p("x.png"), "hello, I am text")):find("not a PNG or JPEG"))
    assert.truthy(load_error(write(p("empty.png"), "")):find("not a PNG or JPEG"))
    assert.truthy(load_error(p("missing.png")):find("cannot open"))
  end)

  it("bad arguments of load and save", function()
    local ok, err = pcall(ks.image.load, p("t.png"), { gray = "yes" })
    assert.truthy(err:find("'gray' must be a boolean"))
    ok, err = pcall(ks.image.load, p("t.png"), { size = { 0, 4 } })
    assert.truthy(err:find("size entries must be integers >= 1"))
    ok, err = pcall(ks.image.load, p("t.png"), { size = 4 })
    assert.truthy(err:find("size must be a table"))
    ok, err = pcall(ks.image.save, p("s.png"), ks.zeros({ 2, 4, 4 }))
    assert.truthy(err:find("%[C, H, W%] with C in {1, 3, 4}") and err:find("[2, 4, 4]", 1, true), err)
    ok, err = pcall(ks.image.save, p("s.png"), ks.zeros({ 4, 4 }, "int64"))
    assert.truthy(err:find("uint8 or float32"))
    ok, err = pcall(ks.image.save, p("s.jpg"), ks.zeros({ 4, 4, 4 }))
    assert.truthy(err:find("C in {1, 3}", 1, true))
    ok, err = pcall(ks.image.save, p("s.jpg"), ks.zeros({ 4, 4 }), { quality = 0 })
    assert.truthy(err:find("quality must be in %[1, 100%]"))
    ok, err = pcall(ks.image.save, p("s.png"), ks.zeros({ 4, 4 }), { format = "gif" })
    assert.truthy(err:find("'format' must be"))
    ok, err = pcall(ks.image.save, p("s.png"), "x")
    assert.truthy(err:find("kshot.Tensor expected"))
    ok, err = pcall(ks.image.save, p("no/dir/s.png"), ks.zeros({ 4, 4 }))
    assert.truthy(err:find("no/dir/s.png", 1, true))
  end)

  it("misspelled options are errors naming the function and the known keys", function()
    local ok, err = pcall(ks.image.load, p("t.png"), { grey = true })
    assert.is_false(ok)
    assert.truthy(err:find("image.load: unknown option 'grey' (known: gray, channels, size); did you mean 'gray'?",
      1, true), err)
    ok, err = pcall(ks.image.save, p("s.png"), ks.zeros({ 4, 4 }), { qualty = 90 })
    assert.truthy(err:find("image.save: unknown option 'qualty'", 1, true), err)
    assert.falsy(io.open(p("s.png")), "nothing written")
    ok, err = pcall(ks.data.to_float, ks.zeros({ 2, 2 }, "uint8"), { man = 0.5 })
    assert.truthy(err:find("to_float: unknown option 'man' (known: scale, mean, std); did you mean 'mean'?", 1, true), err)
  end)
end)

describe("ks.image.resize", function()
  it("is PyTorch's bilinear with align_corners=false (upsampling)", function()
    local t = ks.tensor({ { { 0, 128 }, { 255, 64 } } }, "uint8")
    assert.same({ { { 0, 32, 96, 128 }, { 64, 76, 100, 112 }, { 191, 163, 108, 80 }, { 255, 207, 112, 64 } } },
      ks.image.resize(t, { 4, 4 }):totable())
    local f = ks.tensor({ { 0, 1 }, { 2, 3 } })
    assert.same({ { 0, 0.25, 0.75, 1 }, { 0.5, 0.75, 1.25, 1.5 }, { 1.5, 1.75, 2.25, 2.5 }, { 2, 2.25, 2.75, 3 } },
      ks.image.resize(f, 4, 4):totable())
  end)

  it("downsamples by averaging neighbours at half-pixel centres, keeps batch dims", function()
    local f = ks.arange(16):float():view(1, 1, 4, 4)
    -- source coordinates 0.5 and 2.5: means of 2x2 neighbourhoods
    assert.same({ { { { 2.5, 4.5 }, { 10.5, 12.5 } } } }, ks.image.resize(f, { 2, 2 }):totable())
    assert.same({ 1, 1, 4, 4 }, ks.image.resize(f, { 4, 4 }):shape())
    assert.same(f:totable(), ks.image.resize(f, { 4, 4 }):totable())
  end)

  it("rejects bad inputs", function()
    assert.has_error(function() ks.image.resize(ks.zeros({ 4 }), { 2, 2 }) end)
    local ok, err = pcall(ks.image.resize, ks.zeros({ 2, 2 }, "int64"), { 2, 2 })
    assert.truthy(err:find("uint8 or float32"))
    ok, err = pcall(ks.image.resize, ks.zeros({ 2, 2 }), { 2 })
    assert.truthy(err:find("size must be a table {h, w}"))
  end)
end)

describe("ks.data.to_float", function()
  it("scales by 1/255 by default and normalises per channel", function()
    local x = ks.tensor({ { { 0, 255 } }, { { 51, 102 } } }, "uint8")
    local y = ks.data.to_float(x)
    assert.equal("float32", y:dtype())
    assert.is_true(max_abs_diff(y, ks.tensor({ { { 0, 1 } }, { { 0.2, 0.4 } } })) < 1e-6)
    y = ks.data.to_float(x, { mean = { 0.5, 0.2 }, std = { 0.5, 0.1 } })
    assert.is_true(max_abs_diff(y, ks.tensor({ { { -1, 1 } }, { { 0, 2 } } })) < 1e-5)
    y = ks.data.to_float(x:unsqueeze(0), { scale = 1, mean = 1, std = 2 }) -- [B, C, H, W], one value for all
    assert.same({ { { { -0.5, 127 } }, { { 25, 50.5 } } } }, y:totable())
    assert.same({ { 0, 2 } }, ks.data.to_float(ks.tensor({ { 0, 1 } }), { scale = 2 }):totable())
  end)

  it("rejects channel mismatches and bad options", function()
    local x = ks.zeros({ 3, 2, 2 }, "uint8")
    local ok, err = pcall(ks.data.to_float, x, { mean = { 0, 0 } })
    assert.truthy(err:find("2 entries") and err:find("[3, 2, 2]", 1, true), err)
    ok, err = pcall(ks.data.to_float, x, { std = 0 })
    assert.truthy(err:find("std of channel 0 is 0"))
    ok, err = pcall(ks.data.to_float, ks.zeros({ 3, 2, 2 }, "int64"))
    assert.truthy(err:find("uint8 or float32"))
    ok, err = pcall(ks.data.to_float, x, { mean = "x" })
    assert.truthy(err:find("'mean' must be a number or a list"))
  end)

  it("takes a batch [N, H, W] of any N when mean/std are absent or single values", function()
    -- 300 > 256: dim -3 used to be read as 300 channels and refused
    local x = ks.zeros({ 300, 2, 2 }, "uint8")
    x[299]:fill_(255)
    x[0]:fill_(51)
    local y = ks.data.to_float(x)
    assert.same({ 300, 2, 2 }, y:shape())
    assert.same({ { 1, 1 }, { 1, 1 } }, y[299]:totable())
    assert.is_true(max_abs_diff(y[0], ks.full({ 2, 2 }, 0.2)) < 1e-6)
    y = ks.data.to_float(x, { scale = 1, mean = 5, std = 2 })
    assert.same({ { 125, 125 }, { 125, 125 } }, y[299]:totable())
    y = ks.data.to_float(x, { scale = 1, mean = { 5 }, std = { 2 } }) -- a 1-entry list is a single value too
    assert.same({ { 23, 23 }, { 23, 23 } }, y[0]:totable())
    assert.same({ 300, 2, 2 }, ks.data.to_float(ks.zeros({ 300, 2, 2 })):shape()) -- float32 input too
  end)

  it("says which dim holds the channels when per-channel lists do not match", function()
    local ok, err = pcall(ks.data.to_float, ks.zeros({ 300, 2, 2 }, "uint8"), { mean = { 0, 0, 0 }, std = 1 })
    assert.is_false(ok)
    assert.truthy(err:find("3 entries", 1, true) and err:find("[300, 2, 2]", 1, true)
      and err:find("dim -3", 1, true) and err:find("unsqueeze(1)", 1, true), err)
    -- the suggested [N, 1, H, W] layout with one channel works
    local y = ks.data.to_float(ks.zeros({ 300, 2, 2 }, "uint8"):unsqueeze(1), { scale = 1, mean = { 1 }, std = { 1 } })
    assert.same({ 300, 1, 2, 2 }, y:shape())
  end)
end)

describe("ks.image.save_grid", function()
  it("lays images out like torchvision's make_grid", function()
    local imgs = ks.zeros({ 3, 1, 2, 2 }, "uint8")
    imgs[0]:fill_(10)
    imgs[1]:fill_(20)
    imgs[2]:fill_(30)
    local grid = ks.image.save_grid(p("grid.png"), imgs, { nrow = 2, padding = 1 })
    local want = {
      { 0, 0, 0, 0, 0, 0, 0 },
      { 0, 10, 10, 0, 20, 20, 0 },
      { 0, 10, 10, 0, 20, 20, 0 },
      { 0, 0, 0, 0, 0, 0, 0 },
      { 0, 30, 30, 0, 0, 0, 0 },
      { 0, 30, 30, 0, 0, 0, 0 },
      { 0, 0, 0, 0, 0, 0, 0 },
    }
    assert.same({ want }, grid:totable())
    assert.same({ want }, ks.image.load(p("grid.png")):totable())
  end)

  it("normalizes floats to [0, 1] over the batch when asked", function()
    local imgs = ks.tensor({ { { { -1, 1 } } } })
    local grid = ks.image.save_grid(p("gridn.png"), imgs, { padding = 0, normalize = true })
    assert.same({ { { 0, 1 } } }, grid:totable())
    assert.same({ { { 0, 255 } } }, ks.image.load(p("gridn.png")):totable())
  end)

  it("rejects bad arguments", function()
    local ok, err = pcall(ks.image.save_grid, p("g.png"), ks.zeros({ 2, 2 }))
    assert.truthy(err:find("must be %[B, C, H, W%]"))
    ok, err = pcall(ks.image.save_grid, p("g.png"), ks.zeros({ 1, 1, 2, 2 }), { nrow = 0 })
    assert.truthy(err:find("'nrow' must be an integer >= 1"))
    ok, err = pcall(ks.image.save_grid, p("g.png"), "x")
    assert.truthy(err:find("must be a kshot.Tensor"))
  end)

  it("rejects unknown options (a misspelled one used to be ignored)", function()
    local ok, err = pcall(ks.image.save_grid, p("g.png"), ks.zeros({ 1, 1, 2, 2 }), { normalise = true })
    assert.is_false(ok)
    assert.truthy(err:find("save_grid: unknown option 'normalise' (known: nrow, padding, normalize, pad_value); "
      .. "did you mean 'normalize'?", 1, true), err)
    ok, err = pcall(ks.data.image_folder, p("nowhere"), { sise = { 2, 2 } })
    assert.truthy(err:find("image_folder: unknown option 'sise' (known: size, gray, extensions)", 1, true), err)
  end)
end)

describe("ks.data.image_folder", function()
  local root = p("folder")

  setup(function()
    assert(os.execute("mkdir -p '" .. root .. "/dog' '" .. root .. "/cat' '" .. root .. "/empty'"))
    local red = ks.zeros({ 3, 8, 8 }, "uint8")
    red[0]:fill_(200)
    local blue = ks.zeros({ 3, 6, 6 }, "uint8")
    blue[2]:fill_(180)
    local gray = ks.full({ 1, 4, 4 }, 90, "uint8")
    ks.image.save(root .. "/cat/b.png", red)
    ks.image.save(root .. "/cat/a.JPG", blue, { format = "jpeg", quality = 95 })
    ks.image.save(root .. "/dog/z.png", gray)
    ks.image.save(root .. "/dog/.hidden.png", red)
    write(root .. "/dog/notes.txt", "not an image")
    write(root .. "/readme.txt", "top-level files are ignored")
  end)

  it("loads sorted classes and files with labels, resized", function()
    local images, labels, classes = ks.data.image_folder(root, { size = { 4, 4 }, gray = false })
    assert.same({ "cat", "dog", "empty" }, classes)
    assert.same({ 0, 0, 1 }, labels:totable())
    assert.equal("int64", labels:dtype())
    assert.same({ 3, 3, 4, 4 }, images:shape())
    assert.equal("uint8", images:dtype())
    -- a.JPG (blue, JPEG within 4 levels), then b.png (red, exact), then z.png (gray replicated)
    assert.is_true(max_abs_diff(images[0], ks.tensor({ 0, 0, 180 }, "uint8"):view(3, 1, 1):expand(3, 4, 4)) <= 4)
    assert.same(ks.tensor({ 200, 0, 0 }, "uint8"):view(3, 1, 1):expand(3, 4, 4):totable(), images[1]:totable())
    assert.same(ks.full({ 3, 4, 4 }, 90, "uint8"):totable(), images[2]:totable())
  end)

  it("converts to gray and honours the extension list", function()
    local images, labels = ks.data.image_folder(root, { size = { 2, 2 }, gray = true, extensions = { "png" } })
    assert.same({ 2, 1, 2, 2 }, images:shape())
    assert.same({ 0, 1 }, labels:totable())
    assert.same({ { { 60, 60 }, { 60, 60 } } }, images[0]:totable()) -- L of (200, 0, 0)
  end)

  it("errors on mixed sizes without size=, empty roots and missing folders", function()
    local ok, err = pcall(ks.data.image_folder, root)
    assert.is_false(ok)
    assert.truthy(err:find("pass size={h, w} to resize", 1, true), err)
    local empty = p("empty_root")
    os.execute("mkdir -p '" .. empty .. "/only'")
    ok, err = pcall(ks.data.image_folder, empty)
    assert.truthy(err:find("no image files under"), err)
    ok, err = pcall(ks.data.image_folder, p("nope"))
    assert.truthy(err:find("nope: cannot list the folder", 1, true), err)
    ok, err = pcall(ks.data.image_folder, 5)
    assert.truthy(err:find("root folder %(string%) expected"))
  end)

  it("names a corrupt file inside the folder", function()
    local bad = p("badroot")
    os.execute("mkdir -p '" .. bad .. "/c'")
    write(bad .. "/c/x.png", "\x89PNG\r\n\x1a\n garbage")
    local ok, err = pcall(ks.data.image_folder, bad)
    assert.is_false(ok)
    assert.truthy(err:find(bad .. "/c/x.png", 1, true), err)
  end)
end)
