"""embed_raw16.py: what a PACS host does, with the Python bindings and no PNG. A DICOM decoder
hands over 12-bit samples stored in 16-bit words, with rows padded to an alignment, so the row
stride is larger than the row. In numpy that is a column slice of a wider uint16 buffer; the
bindings pass such a row-strided view straight in: no copy, no conversion to 8 bits, no file.

    PYTHONPATH=bindings/python python3 examples/python/embed_raw16.py model.safetensors ["finding"]

The example draws a synthetic 12-bit chest-like image (dark lungs in a brighter body, a bright
patch low in the image's right lung) into such a buffer, fills the row padding with 0xFFFF
(values the library must never read), then
 1. embeds the image: the global embedding (D,) and the local one (D, S, S);
 2. embeds a packed copy of the same pixels and checks the results are bit-identical, i.e. the
    stride is honoured and the padding is not read;
 3. localizes the finding: the raw S x S similarity grid and the map on the original grid.
The same program in C is examples/c/embed_raw16.c."""
import sys

import numpy as np

import afloc

WIDTH, HEIGHT, ROW_PADDING = 600, 500, 88  # ROW_PADDING: bytes after each row


def chest(width, height):
    """A synthetic 12-bit chest (uint16 (height, width), values 0..4095)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)

    def inside(cx, cy, rx, ry):
        return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0

    value = np.full((height, width), 300.0)                                  # air
    value[inside(300, 260, 270, 260)] = 2600.0                               # body
    value[inside(190, 230, 90, 170) | inside(410, 230, 90, 170)] = 900.0     # lungs
    value[inside(280, 300, 70, 80)] = 3000.0                                 # heart
    value[inside(420, 360, 70, 40)] = 2300.0                                 # effusion
    value += 60.0 * np.sin(0.05 * x) * np.cos(0.07 * y)                      # texture
    return np.clip(value, 0.0, 4095.0).astype(np.uint16)


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: %s MODEL.safetensors [\"finding\"]" % argv[0], file=sys.stderr)
        return 2
    text = argv[2] if len(argv) == 3 else "small left pleural effusion"

    # ---- the host's buffer: 12 bits in 16, rows padded ----
    buffer = np.full((HEIGHT, WIDTH + ROW_PADDING // 2), 0xFFFF, dtype=np.uint16)
    image = buffer[:, :WIDTH]          # a view: rows are buffer.strides[0] bytes apart
    image[...] = chest(WIDTH, HEIGHT)
    packed = np.ascontiguousarray(image)
    assert not image.flags.c_contiguous and np.shares_memory(image, buffer)
    print("host buffer: %dx%d, 12 bits in uint16, row stride %d bytes (row %d + %d padding)"
          % (WIDTH, HEIGHT, image.strides[0], WIDTH * 2, ROW_PADDING))

    with afloc.Context(backend="cpu") as ctx:       # models run on the CPU backend in 0.1
        model = afloc.Model.load(ctx, argv[1])
        d, s = model.dims.embedding_dim, model.dims.grid_side

        # ---- 1. embeddings straight from the host's buffer (DICOM BitsStored = 12) ----
        global_embedding, local_embedding = model.embed_image(image, local=True,
                                                              significant_bits=12)
        print("global embedding: %d floats, L2 norm %.4f, first %.5f %.5f %.5f"
              % (d, np.linalg.norm(global_embedding.astype(np.float64)), *global_embedding[:3]))
        print("local embedding: %d x %d x %d floats" % local_embedding.shape)

        # ---- 2. the same pixels packed: the stride must not change anything ----
        packed_global, packed_local = model.embed_image(packed, local=True, significant_bits=12)
        same = (global_embedding.tobytes() == packed_global.tobytes()
                and local_embedding.tobytes() == packed_local.tobytes())
        print("packed copy: %s" % ("bit-identical global and local embeddings (stride honoured)"
                                   if same else "DIFFERENT embeddings"))
        if not same:
            return 1

        # ---- 3. localize on the same view ----
        maps = model.localize(image, text, maps=("grid", "original"), significant_bits=12)
        packed_maps = model.localize(packed, text, maps=("grid", "original"), significant_bits=12)
        if any(maps[k].tobytes() != packed_maps[k].tobytes() for k in maps):
            print("packed copy: DIFFERENT heatmaps")
            return 1

    print("raw %d x %d similarity grid for \"%s\":" % (s, s, text))
    for row in maps["grid"]:
        print("".join(" %7.3f" % v for v in row))
    heatmap = maps["original"]
    y, x = np.unravel_index(int(heatmap.argmax()), heatmap.shape)
    print("heatmap on the original %dx%d grid peaks at (%d, %d), value %.3f; bit-identical for "
          "the packed copy" % (WIDTH, HEIGHT, x, y, heatmap[y, x]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
