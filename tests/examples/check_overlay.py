"""check_overlay.py: runs examples/c/localize_overlay.c and checks the PNG it writes.

    check_overlay.py EXAMPLE MODEL IMAGE.png "finding" OVERLAY.png

The overlay is decoded here with zlib alone (no libpng, no libafloc: an independent reader) and
must be an 8-bit RGB PNG of the input's size, mostly coloured (the map blended on the image), red
above blue at the pixel where the example says the map peaks and blue above red where it is
lowest (the colour map puts red over blue exactly for map values above 0). Prints one summary
line; exits 1 on any failure."""
import re
import struct
import subprocess
import sys
import zlib


def read_png(path):
    """(width, height, bit_depth, colour_type, rows) of a non-interlaced PNG; rows unfiltered."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]:
            raise ValueError(f"{path}: bad CRC in {kind!r}")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if interlace:
        raise ValueError(f"{path}: interlaced")
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    bpp = max(1, channels * depth // 8)
    stride = (width * channels * depth + 7) // 8
    raw = zlib.decompress(idat)
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    return width, height, depth, colour, rows


def main():
    exe, model, image, text, overlay = sys.argv[1:6]
    run = subprocess.run([exe, model, image, text, overlay], capture_output=True, text=True)
    sys.stdout.write(run.stdout)
    sys.stderr.write(run.stderr)
    if run.returncode != 0:
        print(f"FAIL: the example exited with {run.returncode}")
        return 1
    peak = re.search(r"peak at \((\d+), (\d+)\), lowest at \((\d+), (\d+)\)", run.stdout)
    value = re.search(r"range \[(-?[0-9.]+), (-?[0-9.]+)\]", run.stdout)
    if not peak or not value:
        print("FAIL: the example did not report the peak and the range")
        return 1
    px, py, lx, ly = map(int, peak.groups())
    low, high = map(float, value.groups())
    in_w, in_h = read_png(image)[:2]
    width, height, depth, colour, rows = read_png(overlay)
    failures = []
    if (width, height, depth, colour) != (in_w, in_h, 8, 2):
        failures.append(f"overlay is {width}x{height} depth {depth} colour type {colour}, "
                        f"want {in_w}x{in_h} 8-bit RGB (type 2)")
    else:
        coloured = sum(1 for row in rows for x in range(width)
                       if max(row[3 * x:3 * x + 3]) - min(row[3 * x:3 * x + 3]) > 8)
        fraction = coloured / (width * height)
        r_peak, _, b_peak = rows[py][3 * px:3 * px + 3]
        r_low, _, b_low = rows[ly][3 * lx:3 * lx + 3]
        # Tolerance: the blend quantises to 8 bits; red - blue at a map value m >= 0.2 is at least
        # 0.5 * 255 * 0.4 ~ 51 levels, so 10 levels of margin is far from rounding.
        if fraction < 0.5:
            failures.append(f"only {fraction:.2%} of pixels are coloured (want >= 50%)")
        if not (high >= 0.2 and r_peak > b_peak + 10):
            failures.append(f"peak ({px}, {py}) value {high}: R {r_peak} B {b_peak}, want R > B + 10")
        if not (low <= -0.2 and b_low > r_low + 10):
            failures.append(f"lowest ({lx}, {ly}) value {low}: R {r_low} B {b_low}, want B > R + 10")
    if failures:
        for f in failures:
            print("FAIL:", f)
        return 1
    print(f"overlay OK: {width}x{height} RGB, {fraction:.1%} coloured, peak RGB "
          f"{tuple(rows[py][3 * px:3 * px + 3])}, lowest RGB {tuple(rows[ly][3 * lx:3 * lx + 3])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
