#!/usr/bin/python3
"""gen_png_fixtures.py: writes PNG fixtures of every colour type and bit depth, and next to each
the samples libafloc's decoder must return.

The PNGs are built byte by byte with zlib + struct (an encoder independent of libpng): all five
row filters in turn, Adam7 interlacing, several IDAT chunks, sBIT, tRNS and ancillary chunks that
must not change the samples (gAMA, tEXt, zTXt, iCCP, pHYs, a private chunk). The expected samples
follow the decoder's documented rules: gray 1/2/4-bit scaled to 0..255 (x255, x85, x17), palette
looked up to RGB, alpha and tRNS dropped, no gamma.

Usage: gen_png_fixtures.py OUTDIR [--corpus DIR]
  OUTDIR/manifest.txt lines: name width height channels pixel_type significant_bits
  OUTDIR/<name>.png, OUTDIR/<name>.raw (expected samples, u8 or little-endian u16, packed rows)
  --corpus DIR also writes a few tiny PNGs for the fuzzer's seed corpus.
"""
import os
import struct
import sys
import zlib

import numpy as np

ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
FILE_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def pack_row(samples, depth):
    """One row of samples (channels interleaved) as PNG bytes."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    padded = np.zeros(-(-len(samples) // per_byte) * per_byte, dtype=np.uint32)
    padded[: len(samples)] = samples
    out = bytearray()
    for i in range(0, len(padded), per_byte):
        byte = 0
        for j in range(per_byte):
            byte = (byte << depth) | int(padded[i + j])
        out.append(byte)
    return bytes(out)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(raw, prev, bpp, kind):
    out = bytearray(len(raw))
    for i, x in enumerate(raw):
        a = raw[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out[i] = (x - predictor) & 0xFF
    return bytes([kind]) + bytes(out)


def scanlines(image, depth, first_filter):
    """Filtered scanlines of an (h, w, c) image; the filter type cycles through 0..4."""
    h, w, c = image.shape
    bpp = max(1, c * depth // 8)
    prev = bytes(len(pack_row(image[0].reshape(-1), depth))) if h and w else b""
    out = bytearray()
    for y in range(h):
        raw = pack_row(image[y].reshape(-1), depth)
        out += filter_row(raw, prev, bpp, (first_filter + y) % 5)
        prev = raw
    return bytes(out)


def make_png(image, depth, color_type, interlace=False, before_idat=(), after_idat=(), plte=None,
             idat_pieces=1):
    h, w, _ = image.shape
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 1 if interlace else 0)
    if interlace:
        data = b""
        for n, (x0, y0, dx, dy) in enumerate(ADAM7):
            sub = image[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                data += scanlines(sub, depth, n)
    else:
        data = scanlines(image, depth, 0)
    stream = zlib.compress(data, 9)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    if plte is not None:
        out += chunk(b"PLTE", plte.astype(np.uint8).tobytes())
    for c in before_idat:
        out += c
    step = -(-len(stream) // idat_pieces)
    for i in range(0, len(stream), step):
        out += chunk(b"IDAT", stream[i:i + step])
    for c in after_idat:
        out += c
    return out + chunk(b"IEND", b"")


def expected(image, depth, color_type, plte=None):
    """The samples the decoder returns: (h, w, 1 or 3), uint8 or uint16."""
    if color_type == 3:
        return plte[image[:, :, 0]].astype(np.uint8)
    keep = {0: 1, 2: 3, 4: 1, 6: 3}[color_type]
    out = image[:, :, :keep]
    if depth < 8:
        out = out * (255 // ((1 << depth) - 1))
    return out.astype(np.uint16 if depth == 16 else np.uint8)


def ancillary_chunks(rng):
    bomb_free_icc = zlib.compress(bytes(rng.integers(0, 256, 300, dtype=np.uint8)))
    return [
        chunk(b"gAMA", struct.pack(">I", 45455)),
        chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)),
        chunk(b"tEXt", b"Comment\x00synthetic fixture"),
        chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"compressed text " * 20)),
        chunk(b"iCCP", b"icc\x00\x00" + bomb_free_icc),
        chunk(b"prVt", b"private, safe to copy"),
    ]


def fixtures(rng):
    """(name, png bytes, expected samples, significant_bits) for every case."""
    cases = []

    def add(name, w, h, depth, color_type, interlace=False, sbit=None, values=None, **kw):
        c = FILE_CHANNELS[color_type]
        top = (1 << depth) - 1
        plte = None
        if color_type == 3:
            entries = 1 << depth
            plte = rng.integers(0, 256, (entries, 3))
        image = values if values is not None else rng.integers(0, top + 1, (h, w, c))
        sig = kw.pop("sig", 0)
        before = list(kw.pop("before_idat", []))
        if sbit is not None:
            before.insert(0, chunk(b"sBIT", bytes(sbit)))
        data = make_png(image, depth, color_type, interlace, before_idat=before, plte=plte, **kw)
        want = expected(image, depth, color_type, plte)
        cases.append((name, data, want, sig))

    for depth in (1, 2, 4, 8, 16):
        add("gray%d" % depth, 13, 7, depth, 0)
        add("gray%d_interlaced" % depth, 11, 9, depth, 0, interlace=True)
    for depth in (8, 16):
        add("gray_alpha%d" % depth, 9, 6, depth, 4)
        add("rgb%d" % depth, 10, 5, depth, 2)
        add("rgba%d" % depth, 6, 8, depth, 6)
        add("rgba%d_interlaced" % depth, 17, 13, depth, 6, interlace=True)
        add("rgb%d_interlaced" % depth, 9, 9, depth, 2, interlace=True)
    for depth in (1, 2, 4, 8):
        add("palette%d" % depth, 12, 5, depth, 3)
        add("palette%d_interlaced" % depth, 10, 10, depth, 3, interlace=True)
    # tRNS must be ignored: no alpha, palette colours unchanged.
    add("palette8_trns", 8, 4, 8, 3, before_idat=[chunk(b"tRNS", bytes(range(0, 256, 16)))])
    add("gray8_trns", 8, 4, 8, 0, before_idat=[chunk(b"tRNS", struct.pack(">H", 7))])
    # 12-bit data in 16-bit containers: raw layout keeps sBIT as significant_bits ...
    raw12 = rng.integers(0, 4096, (6, 7, 1))
    raw12[0, 0, 0] = 4095
    add("gray16_sbit12_raw", 7, 6, 16, 0, sbit=[12], values=raw12, sig=12)
    # ... the spec's left-shifted layout (value << 4 | value >> 8) reports 0 (full scale).
    add("gray16_sbit12_scaled", 7, 6, 16, 0, sbit=[12], values=(raw12 << 4) | (raw12 >> 8), sig=0)
    raw10 = rng.integers(0, 1024, (4, 5, 3))
    add("rgb16_sbit10_raw", 5, 4, 16, 2, sbit=[10, 9, 10], values=raw10, sig=10)
    add("gray8_sbit5", 5, 5, 8, 0, sbit=[5], sig=0)  # 8-bit: sBIT never reported
    # Extreme 16-bit values, byte order: 0x0001, 0x0100, 0xFF00, 0xFFFF.
    extremes = np.array([[[1], [256], [0xFF00], [0xFFFF]]])
    add("gray16_byte_order", 4, 1, 16, 0, values=extremes)
    # Shapes: 1x1, one column, one row, and a size that leaves Adam7 passes empty.
    add("gray8_1x1", 1, 1, 8, 0)
    add("gray8_1x1_interlaced", 1, 1, 8, 0, interlace=True)
    add("rgb8_column", 1, 31, 8, 2)
    add("gray1_row", 67, 1, 1, 0)
    add("gray4_2x3_interlaced", 2, 3, 4, 0, interlace=True)
    # Ancillary chunks (gAMA must not change values), several IDATs, chunks after IDAT.
    add("rgb8_ancillary", 12, 12, 8, 2, before_idat=ancillary_chunks(rng),
        after_idat=[chunk(b"tEXt", b"After\x00idat")], idat_pieces=5)
    add("gray16_ancillary_interlaced", 15, 10, 16, 0, interlace=True,
        before_idat=ancillary_chunks(rng), idat_pieces=3)
    add("gray8_idat_bytewise", 6, 6, 8, 0, idat_pieces=1000)
    # Random 16-bit data compresses to far more than the decoder's 16 KiB cap on compressed data
    # after the last row: proves the cap counts rows (of every Adam7 pass) correctly.
    add("rgb16_random_big", 97, 71, 16, 2, idat_pieces=7)
    add("rgba16_random_big_interlaced", 101, 67, 16, 6, interlace=True, idat_pieces=3)
    add("gray16_random_big_interlaced", 255, 129, 16, 0, interlace=True)
    return cases


def main():
    args = sys.argv[1:]
    corpus = None
    if "--corpus" in args:
        i = args.index("--corpus")
        corpus = args[i + 1]
        del args[i:i + 2]
    outdir = args[0]
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(20240601)
    lines = []
    for name, data, want, sig in fixtures(rng):
        with open(os.path.join(outdir, name + ".png"), "wb") as f:
            f.write(data)
        with open(os.path.join(outdir, name + ".raw"), "wb") as f:
            f.write(want.astype("<u2" if want.dtype == np.uint16 else np.uint8).tobytes())
        h, w, c = want.shape
        lines.append("%s %d %d %d %d %d" % (name, w, h, c, 2 if want.dtype == np.uint16 else 1, sig))
    with open(os.path.join(outdir, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    if corpus:
        os.makedirs(corpus, exist_ok=True)
        keep = ["gray1", "gray16_interlaced", "gray_alpha8", "rgb16", "rgba8_interlaced", "palette4",
                "palette8_trns", "gray16_sbit12_raw", "rgb8_ancillary", "gray8_idat_bytewise"]
        for name in keep:
            with open(os.path.join(outdir, name + ".png"), "rb") as f:
                data = f.read()
            with open(os.path.join(corpus, name + ".png"), "wb") as f:
                f.write(data)
    print("gen_png_fixtures: %d fixtures in %s" % (len(lines), outdir))


if __name__ == "__main__":
    main()
