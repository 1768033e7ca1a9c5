#!/usr/bin/python3
"""oracle_preprocess.py: reference results for tests/preprocess/test_preprocess_opencv.c.

Builds random images (fixed seed) and computes with OpenCV + numpy what the official AFLoc
preprocessing produces (MODEL.md §2.2-2.3): the letterbox of `_resize_img` (cv2.resize INTER_AREA,
truncated short side, zero padding floor/ceil), plain cv2.resize INTER_AREA for arbitrary sizes,
cv2.cvtColor(RGB2GRAY) for RGB input, and the float path (U16 scaled by 2^bits - 1, or F32)
resized with cv2.resize on float32, center-cropped as torchvision does and normalised.

Usage: oracle_preprocess.py OUT_FILE. Exit code 77 when cv2/numpy are missing (ctest skip).

Output: little-endian. "AFPP", int32 case count, then per case 8 int32
  kind, channels, src_w, src_h, a, b, pixel_type, significant_bits
followed by the source samples (row-major, interleaved) and the expected result:
  kind 0 letterbox u8   a = size            expected u8 [size, size]
  kind 1 resize u8      a, b = dst w, h     expected u8 [b, a, channels]
  kind 2 preprocess     a = size, b = crop  expected f32 [crop, crop] (mean 0.5, std 0.5)
pixel_type 1 = u8, 2 = u16, 3 = f32 (as afloc_pixel_type).
"""
import struct
import sys

try:
    import cv2
    import numpy as np
except ImportError as exc:  # pragma: no cover
    print("oracle_preprocess: %s; skipping" % exc)
    sys.exit(77)

KIND_LETTERBOX, KIND_RESIZE, KIND_PREPROCESS = 0, 1, 2
PIXEL_U8, PIXEL_U16, PIXEL_F32 = 1, 2, 3

rng = np.random.default_rng(20240531)


def letterbox_plan(h, w, s):
    """_resize_img's sizes: long side -> s, short side int(len * (s / long)); 0 becomes 1
    (the official code would fail there)."""
    if h >= w:
        rh, rw = s, int(float(w) * (s / float(h)))
    else:
        rh, rw = int(float(h) * (s / float(w))), s
    return max(rh, 1), max(rw, 1)


def letterbox(gray, s):
    h, w = gray.shape
    rh, rw = letterbox_plan(h, w, s)
    small = cv2.resize(gray, (rw, rh), interpolation=cv2.INTER_AREA)
    small = small.reshape(rh, rw)
    out = np.zeros((s, s), dtype=gray.dtype)
    top, left = (s - rh) // 2, (s - rw) // 2
    out[top:top + rh, left:left + rw] = small
    return out


def center_crop(img, crop):
    s = img.shape[0]
    top = int(round((s - crop) / 2.0))  # Python round: half to even, as torchvision 0.9
    return img[top:top + crop, top:top + crop]


def normalise(v):
    half = np.float32(0.5)
    return ((v.astype(np.float32) - half) / half).astype(np.float32)


def random_image(h, w, channels, dtype=np.uint8, top=255):
    """Mostly uniform noise (the hardest case for rounding), sometimes a smooth ramp with noise or
    saturated blocks."""
    shape = (h, w) if channels == 1 else (h, w, channels)
    style = rng.integers(0, 4)
    if style == 0:
        ramp = np.add.outer(np.linspace(0, top * 0.7, h), np.linspace(0, top * 0.3, w))
        if channels == 3:
            ramp = ramp[:, :, None].repeat(3, axis=2)
        img = ramp + rng.normal(0, top * 0.02, size=shape)
        return np.clip(np.rint(img), 0, top).astype(dtype)
    if style == 1:
        img = rng.integers(0, 2, size=shape) * top
        return img.astype(dtype)
    return rng.integers(0, top + 1, size=shape).astype(dtype)


def log_uniform(lo, hi):
    return int(round(np.exp(rng.uniform(np.log(lo), np.log(hi)))))


def letterbox_sizes():
    """(h, w, channels) of the letterbox cases: >= 300 images of every shape class."""
    sizes = []
    for _ in range(20):  # tiny
        sizes.append((int(rng.integers(1, 9)), int(rng.integers(1, 9)), 1))
    for _ in range(10):  # 1 x N and N x 1
        n = log_uniform(1, 1500)
        sizes.append((1, n, 1))
        sizes.append((n, 1, 1))
    for _ in range(20):  # square
        n = log_uniform(1, 1500)
        sizes.append((n, n, 1))
    for k in (2, 3, 4, 7):  # exact integer factors on both axes
        for _ in range(10):
            short = int(rng.integers(1, 225)) * k
            long = 224 * k
            sizes.append((long, short, 1) if rng.integers(0, 2) else (short, long, 1))
    for _ in range(100):  # shrinking, larger than 224
        sizes.append((log_uniform(225, 1500), log_uniform(225, 1500), 1))
    for _ in range(40):  # long side above 224, short side far below (wide range of factors)
        h, w = log_uniform(225, 1500), log_uniform(2, 224)
        sizes.append((h, w, 1) if rng.integers(0, 2) else (w, h, 1))
    for _ in range(50):  # enlarging: smaller than 224
        sizes.append((log_uniform(2, 223), log_uniform(2, 223), 1))
    for _ in range(10):  # long side exactly 224
        sizes.append((224, int(rng.integers(1, 225)), 1))
    # int(w * (s / h)) truncates below the exact quotient for these (e.g. 71 x 284 -> 55, not 56)
    sizes += [(284, 71, 1), (306, 153, 1), (314, 157, 1), (71, 284, 1)]
    for _ in range(40):  # RGB
        sizes.append((log_uniform(2, 1500), log_uniform(2, 1500), 3))
    return sizes


def main():
    out_path = sys.argv[1]
    cases = []

    for h, w, ch in letterbox_sizes():
        img = random_image(h, w, ch)
        gray = img if ch == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        cases.append((KIND_LETTERBOX, ch, w, h, 224, 0, PIXEL_U8, 0, img, letterbox(gray, 224)))

    # Plain resize to arbitrary sizes, including mixed shrink/enlarge and 3 channels.
    for i in range(60):
        ch = 3 if i % 4 == 3 else 1
        h, w = log_uniform(1, 400), log_uniform(1, 400)
        dh, dw = log_uniform(1, 400), log_uniform(1, 400)
        if i % 10 == 0:  # exact factor 2 (OpenCV's rounding differs from other factors)
            dh, dw = max(h // 2, 1), max(w // 2, 1)
            h, w = dh * 2, dw * 2
        img = random_image(h, w, ch)
        want = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_AREA)
        cases.append((KIND_RESIZE, ch, w, h, dw, dh, PIXEL_U8, 0, img, want))

    # Float path: U16 (12 significant bits) and F32, letterbox 224 or 256 with crop 224.
    for i in range(24):
        ch = 3 if i % 6 == 5 else 1
        h, w = log_uniform(2, 1200), log_uniform(2, 1200)
        s, crop = (256, 224) if i % 3 == 2 else (224, 224)
        if i % 4 == 3:
            img = rng.random(size=(h, w) if ch == 1 else (h, w, 3), dtype=np.float32)
            v, ptype, bits = img, PIXEL_F32, 0
        else:
            img = random_image(h, w, ch, dtype=np.uint16, top=4095)
            v, ptype, bits = img.astype(np.float32) / np.float32(4095.0), PIXEL_U16, 12
        gray = v if ch == 1 else cv2.cvtColor(v, cv2.COLOR_RGB2GRAY)
        want = normalise(center_crop(letterbox(gray, s), crop))
        cases.append((KIND_PREPROCESS, ch, w, h, s, crop, ptype, bits, img, want))

    # U8 through the whole preprocessing with the 256 / crop 224 variant and with 224 / 224.
    for i in range(10):
        ch = 3 if i == 9 else 1
        h, w = log_uniform(50, 1500), log_uniform(50, 1500)
        s = 256 if i % 2 == 0 else 224
        img = random_image(h, w, ch)
        gray = img if ch == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        u8 = center_crop(letterbox(gray, s), 224)
        want = normalise(u8.astype(np.float32) / np.float32(255.0))
        cases.append((KIND_PREPROCESS, ch, w, h, s, 224, PIXEL_U8, 0, img, want))

    with open(out_path, "wb") as f:
        f.write(b"AFPP" + struct.pack("<i", len(cases)))
        for kind, ch, w, h, a, b, ptype, bits, img, want in cases:
            f.write(struct.pack("<8i", kind, ch, w, h, a, b, ptype, bits))
            f.write(np.ascontiguousarray(img).astype(img.dtype.newbyteorder("<")).tobytes())
            f.write(np.ascontiguousarray(want).tobytes())
    print("oracle_preprocess: %d cases, OpenCV %s" % (len(cases), cv2.__version__))


if __name__ == "__main__":
    main()
