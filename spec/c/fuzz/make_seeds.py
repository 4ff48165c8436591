#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses (spec/c/fuzz/corpus/<reader>/).

Small valid files of every variant each reader accepts, built byte by byte
from the formats (standard library only). JPEG seeds come from the kshot host
(ks.image.save), so pass its path: make_seeds.py [path/to/kshot].
Run once; the seeds are committed (each < 4 KB)."""
import gzip, io, json, os, struct, subprocess, sys, zipfile, zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(reader, name, data):
    d = os.path.join(HERE, "corpus", reader)
    os.makedirs(d, exist_ok=True)
    assert len(data) < 4096, (reader, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- IDX
def idx(type_byte, shape, payload):
    return bytes([0, 0, type_byte, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape) + payload


def idx_seeds():
    u8 = idx(0x08, [2, 3, 3], bytes(range(18)))
    put("idx", "u8_2x3x3", u8)
    put("idx", "u8_labels", idx(0x08, [5], bytes([0, 1, 2, 9, 3])))
    put("idx", "i8", idx(0x09, [4], bytes([0, 127, 128, 255])))
    put("idx", "i16", idx(0x0B, [2, 2], struct.pack(">4h", 1, -2, 300, -32768)))
    put("idx", "i32", idx(0x0C, [3], struct.pack(">3i", 7, -1, 2**31 - 1)))
    put("idx", "f32", idx(0x0D, [2, 2], struct.pack(">4f", 0.5, -1, 3.25, 1e30)))
    put("idx", "f64", idx(0x0E, [3], struct.pack(">3d", 0.1, -2, 1e300)))
    put("idx", "empty", idx(0x08, [0, 28, 28], b""))
    put("idx", "u8_gz", gzip.compress(u8, mtime=0))
    put("idx", "f32_gz", gzip.compress(idx(0x0D, [4], struct.pack(">4f", 1, 2, 3, 4)), mtime=0))
    put("idx", "zeros_gz", gzip.compress(idx(0x08, [10, 28, 28], bytes(7840)), mtime=0))


# ---------------------------------------------------------------- NPY / NPZ
def npy(descr, shape, payload, fortran=False, version=1):
    dict_ = "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    pre = 10 if version == 1 else 12
    pad = (64 - (pre + len(dict_) + 1) % 64) % 64
    header = (dict_ + " " * pad + "\n").encode()
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(header)) + header + payload


NPYS = {
    "f4": npy("<f4", "(2, 3)", struct.pack("<6f", 1, 2, 3, 4, 5, 6.5)),
    "f8": npy("<f8", "(2,)", struct.pack("<2d", 0.25, -3)),
    "i8": npy("<i8", "(3,)", struct.pack("<3q", -1, 2, 1 << 40)),
    "i4": npy("<i4", "(2,)", struct.pack("<2i", -7, 2**31 - 1)),
    "i2": npy("<i2", "(2,)", struct.pack("<2h", -7, 300)),
    "i1": npy("|i1", "(3,)", bytes([0, 127, 200])),
    "u1": npy("|u1", "(1, 3)", bytes([0, 128, 255])),
    "b1": npy("|b1", "(3,)", bytes([1, 0, 2])),
    "scalar": npy("<f4", "()", struct.pack("<f", 2.5)),
    "empty": npy("<f4", "(0, 4)", b""),
    "fortran": npy("<i8", "(2, 3)", struct.pack("<6q", 1, 4, 2, 5, 3, 6), fortran=True),
    "v2": npy("<i8", "(2,)", struct.pack("<2q", 5, 6), version=2),
    "v3": npy("<u1", "(2, 2, 1)", bytes([1, 2, 3, 4]), version=3),
}


def npz(members, deflate):
    b = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(b, "w", method) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return b.getvalue()


def npy_seeds():
    for name, data in NPYS.items():
        put("npy", name, data)
    put("npz", "stored", npz([("x", NPYS["f4"]), ("y", NPYS["i8"])], False))
    put("npz", "deflated", npz([("x", NPYS["f4"]), ("labels", NPYS["u1"]), ("m", NPYS["b1"])], True))
    put("npz", "fortran_f8", npz([("a", NPYS["fortran"]), ("b", NPYS["f8"])], True))
    put("npz", "one_empty", npz([("e", NPYS["empty"])], False))
    put("npz", "zeros", npz([("z", npy("<f4", "(64, 8)", bytes(2048)))], True))
    # overlapping zip bomb: 100 directory entries of one deflated 16 KB member
    z = npz([("a", npy("<f4", "(4096,)", bytes(16384)))], True)
    cd_off = struct.unpack("<I", z[-6:-2])[0]
    cd = z[cd_off:-22]
    d = os.path.join(HERE, "regressions", "npz")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "overlapping_members"), "wb") as f:
        f.write(z[:cd_off] + cd * 100 + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 100, 100, len(cd) * 100, cd_off, 0))


# ---------------------------------------------------------------- safetensors
def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, bytes) in data order."""
    header, at, data = {}, 0, b""
    for name, dtype, shape, payload in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [at, at + len(payload)]}
        at += len(payload)
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    put("safetensors", "f32_i64", safetensors([
        ("weight", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
        ("step", "I64", [], struct.pack("<q", 42))], {"format": "pt", "epoch": "3"}))
    put("safetensors", "narrow", safetensors([
        ("h", "F16", [3], struct.pack("<3H", 0x3C00, 0xC000, 0x0001)),
        ("b", "BF16", [2], struct.pack("<2H", 0x3F80, 0x7F80)),
        ("d", "F64", [2], struct.pack("<2d", 0.1, -1e300)),
        ("i32", "I32", [2], struct.pack("<2i", -5, 7)),
        ("i16", "I16", [1, 2], struct.pack("<2h", -5, 7)),
        ("i8", "I8", [2], bytes([0xff, 1])),
        ("u8", "U8", [2, 1], bytes([200, 3])),
        ("m", "BOOL", [3], bytes([1, 0, 5]))]))
    put("safetensors", "empty_tensors", safetensors([
        ("a", "F32", [0], b""), ("b", "I64", [0, 3], b""), ("c", "U8", [1], b"\x07")]))
    put("safetensors", "only_metadata", safetensors([], {"k": "v\u0000w", "empty": ""}))
    put("safetensors", "empty_header", struct.pack("<Q", 2) + b"{}")
    put("safetensors", "unicode_names", safetensors([("\u00e9t\u00e9.w", "F32", [1], struct.pack("<f", 1))]))


# ---------------------------------------------------------------- CSV
def csv_seeds():
    # first byte: options (see fuzz_csv.c): 0x01 header, 0x02 label, 0x04 label by name, 0x20 fill
    put("csv", "header_label_name", b"\x07label,a,b\ncat,1,2\ndog,3.5,-4\ncat,5e3,nan\n")
    put("csv", "header_label_last", b"\x13x,y,z\n1,2,0\n3,4,1\r\n5,6,2\r\n")
    put("csv", "no_header", b"\x00" + b"1,2,3\n4,5,6\n")
    put("csv", "quoted", b"\x07name,\"v,1\",x\n\"a \"\"b\"\"\",1,\"2\"\n\"multi\nline\",3,4\n")
    put("csv", "fill", b"\x23a,b,c\n1,,x\n,2,y\n ,3 , z\n")
    put("csv", "semicolon", b"\x43a;b\n1,5;2\n3;4\n")
    put("csv", "tab_bom", b"\x81\xef\xbb\xbfa\tb\n1\t2\n\n3\t4\n")
    put("csv", "old_mac", b"\x0b" + b"a,b\r1,0\r2,1\r")


# ---------------------------------------------------------------- PNG
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(w, h, color, depth, rows, interlace=0, extra=b""):
    """rows: filter-free scanlines; interlaced only for 8-bit gray (one byte a pixel)."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    if interlace:
        rows = [bytes(rows[y][x] for x in range(x0, w, dx)) for x0, y0, dx, dy in ADAM7
                for y in range(y0, h, dy) if x0 < w]
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + png_chunk(b"IDAT", zlib.compress(raw, 9)) +
            png_chunk(b"IEND", b""))


def jpeg_segment(marker, body):
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(body) + 2) + body


def progressive_jpeg(w, h, ac_coefs):
    """A gray progressive JPEG of flat 8x8 blocks written by hand: one-code
    Huffman tables ('0' = DC difference 0; '0' = EOB run, 14 more bits), a DC
    scan of one bit a block, then for each AC coefficient 1..ac_coefs a first
    scan (Al 13) and 13 refinement scans, each a few EOB runs over the image."""
    blocks = ((w + 7) // 8) * ((h + 7) // 8)
    out = b"\xff\xd8" + jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)
    out += jpeg_segment(0xC2, struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00")
    out += jpeg_segment(0xC4, b"\x00" + bytes([1] + [0] * 15) + b"\x00")
    out += jpeg_segment(0xC4, b"\x10" + bytes([1] + [0] * 15) + b"\xe0")
    out += jpeg_segment(0xDA, b"\x01\x01\x00\x00\x00\x00") + b"\x00" * (blocks // 8)
    if blocks % 8:
        out += bytes([0xff >> (blocks % 8)])
    bits = ("0" + "1" * 14) * ((blocks + 32766) // 32767)  # EOB runs of 32767 blocks
    bits += "1" * (-len(bits) % 8)
    runs = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)).replace(b"\xff", b"\xff\x00")
    for k in range(1, ac_coefs + 1):
        for ah, al in [(0, 13)] + [(a + 1, a) for a in range(12, -1, -1)]:
            out += jpeg_segment(0xDA, b"\x01\x01\x00" + bytes([k, k, ah << 4 | al])) + runs
    return out + b"\xff\xd9"


def image_seeds(kshot):
    put("image", "jpeg_progressive", progressive_jpeg(40, 24, 2))
    # decoding work quadratic in the file size: 882 scans over 32768 blocks (16 KB)
    d = os.path.join(HERE, "regressions", "image")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "jpeg_progressive_882_scans"), "wb") as f:
        f.write(progressive_jpeg(2048, 1024, 63))
    # a 1x1 gray PNG with a 7 KB zTXt chunk that inflates to 7 MB (libpng kept
    # every such chunk: the spec repeats it to make a text bomb)
    ztxt = png_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * (7 << 20), 9))
    with open(os.path.join(d, "png_ztxt_7mb"), "wb") as f:
        f.write(png(1, 1, 0, 8, [b"\x00"], extra=ztxt))
    put("image", "png_rgb_4x3", png(4, 3, 2, 8, [bytes(range(y * 12, y * 12 + 12)) for y in range(3)]))
    put("image", "png_gray_5x2", png(5, 2, 0, 8, [bytes([0, 50, 100, 150, 200]), bytes(5)]) + b"\x01")
    put("image", "png_gray1bit", png(9, 2, 0, 1, [b"\xaa\x80", b"\x55\x00"]) + b"\x02")
    put("image", "png_rgba16", png(2, 2, 6, 16, [bytes(range(16)), bytes(range(16, 32))]))
    palette = png_chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255])) + png_chunk(b"tRNS", b"\x80")
    put("image", "png_palette", png(4, 2, 3, 2, [b"\x1b", b"\xe4"], extra=palette))
    put("image", "png_gray_alpha", png(3, 1, 4, 8, [bytes([10, 255, 20, 0, 30, 128])]))
    put("image", "png_interlaced", png(8, 8, 0, 8, [bytes(range(y * 8, y * 8 + 8)) for y in range(8)], interlace=1))
    if not kshot:
        print("no kshot given: JPEG seeds not written")
        return
    d = os.path.join(HERE, "corpus", "image")
    lua = """local ks = require "kshot"
local d = ...
local g = ks.arange(0, 48):reshape({3, 4, 4}):to("uint8") * 5
ks.image.save(d .. "/jpeg_rgb_4x4.jpg", g, {quality = 90})
ks.image.save(d .. "/jpeg_gray_9x7.jpg", (ks.arange(0, 63):reshape({1, 7, 9}) * 4):to("uint8"), {quality = 50})
ks.image.save(d .. "/jpeg_rgb_17x9.jpg", (ks.arange(0, 459):reshape({3, 9, 17}) % 256):to("uint8"), {quality = 10})
"""
    script = os.path.join(d, "make.lua")
    with open(script, "w") as f:
        f.write(lua)
    try:
        subprocess.run([kshot, script, d], check=True)
    finally:
        os.remove(script)
    for name in os.listdir(d):
        if name.endswith(".jpg"):
            os.rename(os.path.join(d, name), os.path.join(d, name[:-4]))


if __name__ == "__main__":
    idx_seeds()
    npy_seeds()
    safetensors_seeds()
    csv_seeds()
    image_seeds(sys.argv[1] if len(sys.argv) > 1 else None)
