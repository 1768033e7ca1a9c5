"""plot_heatmap.py: a figure of image | heatmap | overlay for one finding, saved to a PNG with
matplotlib (no notebook, no display: the Agg backend).

    PYTHONPATH=bindings/python python3 examples/python/plot_heatmap.py \\
        model.safetensors chest.png "small left pleural effusion" figure.png

matplotlib is optional: without it the heatmap is still computed and summarised, then the
script says how to install matplotlib and exits 0 without writing a figure (Debian:
apt-get install python3-matplotlib; elsewhere: pip install matplotlib)."""
import sys

import numpy as np

import afloc


def main(argv):
    if len(argv) != 5:
        print("usage: %s MODEL.safetensors IMAGE.png \"finding\" FIGURE.png" % argv[0],
              file=sys.stderr)
        return 2
    model_path, image_path, text, out_path = argv[1:5]
    with afloc.Context(backend="cpu") as ctx:       # models run on the CPU backend in 0.1
        model = afloc.Model.load(ctx, model_path)
        image = afloc.load_png(image_path)
        heatmap = model.localize(image, text)       # float32 (H, W), [-1, 1]
    y, x = np.unravel_index(int(heatmap.argmax()), heatmap.shape)
    print("heatmap for \"%s\": %dx%d, range [%.3f, %.3f], peak at (%d, %d)"
          % (text, heatmap.shape[1], heatmap.shape[0], heatmap.min(), heatmap.max(), x, y))

    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no figure written (apt-get install "
              "python3-matplotlib, or pip install matplotlib, then run again)")
        return 0
    matplotlib.use("Agg")  # files only; works without a display
    import matplotlib.pyplot as plt

    bits = getattr(image, "significant_bits", 0) or 8 * image.dtype.itemsize
    gray = image.astype(np.float32) / float((1 << bits) - 1)
    if gray.ndim == 3:
        gray = gray.mean(axis=2)
    figure, axes = plt.subplots(1, 3, figsize=(15, 5), constrained_layout=True)
    axes[0].imshow(gray, cmap="gray", vmin=0.0, vmax=1.0)
    axes[0].set_title("image")
    shown = axes[1].imshow(heatmap, cmap="jet", vmin=-1.0, vmax=1.0)
    axes[1].set_title("heatmap")
    figure.colorbar(shown, ax=axes[1], fraction=0.046)
    axes[2].imshow(gray, cmap="gray", vmin=0.0, vmax=1.0)
    axes[2].imshow(heatmap, cmap="jet", vmin=-1.0, vmax=1.0, alpha=0.5)
    axes[2].plot([x], [y], marker="+", color="white", markersize=14)
    axes[2].set_title("overlay")
    for axis in axes:
        axis.set_axis_off()
    figure.suptitle(text)
    figure.savefig(out_path, dpi=100)
    plt.close(figure)
    print("wrote %s (image | heatmap | overlay)" % out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
