"""localize_overlay.py: localize one finding in a PNG radiograph and write a colour overlay, with
the Python bindings and numpy: load the model, read the PNG (8- or 16-bit), ask for the heatmap on
the original pixel grid, colour it (blue = low, red = high), blend it half and half onto the
image, and save the result as an 8-bit RGB PNG of the input's size.

    PYTHONPATH=bindings/python python3 examples/python/localize_overlay.py \\
        model.safetensors chest.png "small left pleural effusion" overlay.png

It prints the map's range and where it peaks, then reads the written file back to check it.
The same program in C is examples/c/localize_overlay.c."""
import sys

import numpy as np

import afloc


def colour_map(t):
    """A jet-like colour map, float (H, W) in [0, 1] -> float (H, W, 3): dark blue, blue, cyan,
    yellow, red, dark red. Red exceeds blue exactly where t > 0.5."""
    centres = np.array([3.0, 2.0, 1.0], dtype=np.float32)  # R, G, B
    return np.clip(1.5 - np.abs(4.0 * t[..., None] - centres), 0.0, 1.0)


def intensity(image):
    """The image as float (H, W) in [0, 1]: uint16 scaled by its significant bits, RGB averaged."""
    if image.dtype == np.uint8:
        gray = image.astype(np.float32) / 255.0
    else:
        bits = getattr(image, "significant_bits", 0) or 16
        gray = np.clip(image.astype(np.float32) / float((1 << bits) - 1), 0.0, 1.0)
    return gray.mean(axis=2) if gray.ndim == 3 else gray


def main(argv):
    if len(argv) != 5:
        print("usage: %s MODEL.safetensors IMAGE.png \"finding\" OVERLAY.png" % argv[0],
              file=sys.stderr)
        return 2
    model_path, image_path, text, out_path = argv[1:5]
    with afloc.Context(backend="cpu") as ctx:       # models run on the CPU backend in 0.1
        model = afloc.Model.load(ctx, model_path)
        image = afloc.load_png(image_path)
        heatmap = model.localize(image, text)       # float32 (H, W), [-1, 1]

    height, width = heatmap.shape
    rgb = colour_map(np.clip(0.5 * (heatmap + 1.0), 0.0, 1.0))
    blend = 0.5 * intensity(image)[..., None] + 0.5 * rgb
    overlay = (255.0 * blend + 0.5).astype(np.uint8)  # (H, W, 3), C-contiguous
    afloc.save_png(overlay, out_path)

    peak_y, peak_x = np.unravel_index(int(heatmap.argmax()), heatmap.shape)
    low_y, low_x = np.unravel_index(int(heatmap.argmin()), heatmap.shape)
    print("heatmap for \"%s\" on the %dx%d grid: range [%.3f, %.3f]"
          % (text, width, height, heatmap.min(), heatmap.max()))
    print("peak at (%d, %d), lowest at (%d, %d)" % (peak_x, peak_y, low_x, low_y))
    print("wrote %s (%dx%d RGB overlay)" % (out_path, width, height))

    back = afloc.load_png(out_path)
    if back.shape != overlay.shape or back.dtype != np.uint8 or not np.array_equal(back, overlay):
        print("read back: %s %s differs from what was written" % (back.shape, back.dtype),
              file=sys.stderr)
        return 1
    print("read back: %dx%d RGB uint8, identical to the array written" % (width, height))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
