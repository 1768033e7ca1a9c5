#!/usr/bin/python3
"""ref_train_image.py: PyTorch oracle for the image encoder's training forward/backward
(src/train_image.c), run by tests/train/test_train_image.c as `ref_train_image.py DIR`.

DIR holds, written by the C test: model.afloc (a libafloc model file: safetensors with the config
as JSON in __metadata__["afloc.config"]) and, per batch size B listed in DIR/batches.bin,
bB.x (B, 1, crop, crop) and the upstream gradients bB.d_g (B, D), bB.d_l (B, D, S3),
bB.d_l2 (B, D, S2), in the AFT1 tensor format of tests/ops/ops_io.h.

For each B, the encoder of tests/model/ref_afloc.py (torchvision ResNet/Bottleneck + heads) is
loaded from the model file, put in train() mode (BatchNorm batch statistics, momentum 0.1) and
run on x replicated to input_channels channels, as the real pipeline feeds it; autograd then
back-propagates sum(out·d_out) over the three heads. Written back: bB.img_emb_g/l/l2, the
gradient of every image-encoder parameter as bB.grad.<checkpoint name>, and the updated running
statistics as bB.run.<checkpoint name>. float32, one thread, deterministic. Exit 77 without torch."""
import json
import os
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {e}")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "model"))
sys.path.insert(0, os.path.join(HERE, "..", "ops"))
import ref_afloc  # noqa: E402  (the model builder)
import ops_ref_common as io  # noqa: E402  (AFT1 writer)

torch.set_num_threads(1)


def read_aft(directory, name):
    with open(os.path.join(directory, name + ".bin"), "rb") as f:
        blob = f.read()
    assert blob[:4] == b"AFT1", name
    dtype, ndim = struct.unpack("<II", blob[4:12])
    dims = struct.unpack(f"<{ndim}q", blob[12:12 + 8 * ndim])
    arr = np.frombuffer(blob[12 + 8 * ndim:], dtype="<f4" if dtype == 0 else "<i4")
    return arr.reshape(dims).copy()


def read_model_file(path):
    """The F32 tensors (names without any "afloc." prefix) and the metadata of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, e in header.items():
        if e["dtype"] != "F32":
            continue
        b, end = e["data_offsets"]
        key = name[len("afloc."):] if name.startswith("afloc.") else name
        tensors[key] = np.frombuffer(data[b:end], dtype="<f4").reshape(e["shape"]).copy()
    return tensors, meta


def main():
    if len(sys.argv) != 2:
        print(f"usage: {sys.argv[0]} DIR", file=sys.stderr)
        return 2
    d = sys.argv[1]
    tensors, meta = read_model_file(os.path.join(d, "model.afloc"))
    cfg_path = os.path.join(d, "config.json")
    with open(cfg_path, "w") as f:
        f.write(meta["afloc.config"])
    cfg = ref_afloc.load_config(cfg_path)
    batches = [int(b) for b in read_aft(d, "batches").ravel()]
    for B in batches:
        torch.manual_seed(0)
        enc = ref_afloc.ImageEncoder(cfg)
        state = enc.state_dict()
        for key in state:
            if key.endswith("num_batches_tracked"):
                continue
            src = tensors["img_encoder." + key]
            assert tuple(src.shape) == tuple(state[key].shape), key
            state[key] = torch.from_numpy(src)
        enc.load_state_dict(state)
        enc.train()
        p = f"b{B}"
        x = torch.from_numpy(read_aft(d, p + ".x"))
        x = x.expand(-1, cfg["input_channels"], -1, -1).contiguous()
        out = enc(x)
        gl = torch.from_numpy(read_aft(d, p + ".d_l")).reshape(out["img_emb_l"].shape)
        gl2 = torch.from_numpy(read_aft(d, p + ".d_l2")).reshape(out["img_emb_l2"].shape)
        gg = torch.from_numpy(read_aft(d, p + ".d_g"))
        loss = (out["img_emb_g"] * gg).sum() + (out["img_emb_l"] * gl).sum() + \
            (out["img_emb_l2"] * gl2).sum()
        loss.backward()
        for k in ("img_emb_g", "img_emb_l", "img_emb_l2"):
            io.write(d, f"{p}.{k}", out[k])
        for name, prm in enc.named_parameters():
            if prm.grad is not None:
                io.write(d, f"{p}.grad.img_encoder.{name}", prm.grad)
        for name, buf in enc.named_buffers():
            if name.endswith("running_mean") or name.endswith("running_var"):
                io.write(d, f"{p}.run.img_encoder.{name}", buf)
    return 0


if __name__ == "__main__":
    sys.exit(main())
