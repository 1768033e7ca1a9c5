"""Bit-for-bit equality with the C API: c_reference (built by CMake, linked to the same
libafloc.so) computes preprocess, embed_image, embed_text, localize, localize_batch, classify and
classify_prompt_set on the same model file and PNG; the bytes of its outputs must equal those of
the Python calls."""
import os
import subprocess

import numpy as np
import pytest

import afloc

from conftest import PROMPTS, TEXT, report

REFERENCE = os.environ.get("AFLOC_C_REFERENCE")
pytestmark = pytest.mark.skipif(not REFERENCE, reason="AFLOC_C_REFERENCE not set (run through ctest)")


def run_reference(model_path, png_path, out_dir, text, prompts):
    os.makedirs(out_dir, exist_ok=True)
    subprocess.run([REFERENCE, "run", model_path, png_path, out_dir, text] + list(prompts), check=True)

    def read(name):
        return np.fromfile(os.path.join(out_dir, name + ".f32"), dtype=np.float32)
    with open(os.path.join(out_dir, "geometry.txt")) as f:
        geometry = [int(v) for v in f.read().split()]
    return read, geometry


@pytest.mark.parametrize("which", ["gray8", "rgb8", "gray16"])
def test_python_equals_c_bit_for_bit(model, model_path, tmp_path, request, which):
    source = request.getfixturevalue(which)
    png = str(tmp_path / (which + ".png"))
    afloc.save_png(source, png)
    image = afloc.load_png(png)  # as the C program reads it (significant_bits included)
    read, geometry = run_reference(model_path, png, str(tmp_path / "c"), TEXT, PROMPTS)
    compared = {}

    def same(name, python_array):
        c = read(name)
        python_array = np.ascontiguousarray(python_array, dtype=np.float32).ravel()
        assert c.shape == python_array.shape, name
        assert c.tobytes() == python_array.tobytes(), "%s differs: max |diff| %g" % (
            name, float(np.max(np.abs(c - python_array))))
        compared[name] = c.size

    x, g = afloc.preprocess(image)
    same("preprocess", x)
    assert list(g.values()) == geometry
    global_, local = model.embed_image(image, local=True)
    same("embed_image_global", global_)
    same("embed_image_local", local)
    same("embed_text", model.embed_text(TEXT))
    maps = model.localize(image, TEXT, maps=("grid", "smoothed", "frame", "original"))
    for name in ("grid", "smoothed", "frame", "original"):
        same("localize_" + name, maps[name])
    batch = model.localize_batch([image, image], [TEXT, TEXT], maps=("frame", "original"))
    same("batch_original", batch[1]["original"])
    same("batch_frame", batch[1]["frame"])
    scores, probabilities = model.classify(image, PROMPTS)
    same("classify_scores", scores)
    same("classify_probabilities", probabilities)
    with model.prompt_set(PROMPTS) as prompts:
        s2, p2 = model.classify(image, prompts, temperature=0.5)
    same("prompt_set_scores", s2)
    same("prompt_set_probabilities", p2)
    report("%s: %d outputs, %d floats bit-identical to the C API"
          % (which, len(compared), sum(compared.values())))
