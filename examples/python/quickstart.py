# quickstart.py: the Python quick start of the top-level README, verbatim from its first import
# (the examples_python_readme_in_sync test keeps the two identical). Load a model and a PNG,
# localize one finding, classify against two prompts.
#
#   PYTHONPATH=bindings/python python3 examples/python/quickstart.py model.safetensors chest.png
import sys

import afloc                                   # PYTHONPATH=bindings/python, or installed

model_path, image_path = sys.argv[1:3]         # python3 quickstart.py model.safetensors chest.png
with afloc.Context(backend="cpu") as ctx:
    model = afloc.Model.load(ctx, model_path)
    image = afloc.load_png(image_path)         # numpy (H, W) uint8/uint16, keeps significant_bits
    heatmap = model.localize(image, "small left pleural effusion")   # float32 (H, W), [-1, 1]
    y, x = divmod(int(heatmap.argmax()), heatmap.shape[1])
    print(f"peak at ({x}, {y})")
    prompts = ["pleural effusion is present", "no pleural effusion"]
    scores, probabilities = model.classify(image, prompts)
    for prompt, score, p in zip(prompts, scores, probabilities):
        print(f"{prompt:28s} cosine {score:+.4f}  p {p:.4f}")
