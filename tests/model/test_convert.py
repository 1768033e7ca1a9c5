#!/usr/bin/python3
"""test_convert.py: the checkpoint converter (bindings/python/afloc/convert.py) end to end, through
libafloc.so (AFLOC_LIBRARY). Usage: test_convert.py WORKDIR. Exit 0 pass, 1 fail, 77 skip.

Cases:
  ref      ref_afloc.py's small Lightning-style checkpoint (omegaconf-like hyper_parameters): the
           converted file loads, its config equals the oracle's config.json, and every tensor is
           bit-identical to the checkpoint's (num_batches_tracked/position_ids dropped).
  own      a checkpoint built here: torchvision ResNet trunk, hand-named BERT, plain-dict
           hyper_parameters, a class reference from an uninstalled package in `callbacks`.
  hostile  a pickle whose object would run os.system on load: stubbed, never executed.
  errors   a wrong tensor shape (SCHEMA naming the tensor), a missing tensor, a vocabulary of the
           wrong size, an unsupported hyper_parameter: each a ConvertError with a clear message.
"""
import json
import os
import struct
import subprocess
import sys
import types

import numpy as np

try:
    import torch
    import torchvision
except ImportError as e:
    print("model_convert: SKIP (torch/torchvision missing: %s)" % e)
    sys.exit(77)

from afloc import convert as cv  # noqa: E402  (PYTHONPATH=bindings/python)

WORK = sys.argv[1] if len(sys.argv) > 1 else "convert_files"
SRC = os.environ.get("AFLOC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
os.makedirs(WORK, exist_ok=True)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)


def read_model_file(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__")
    body = data[8 + n:]
    out = {}
    for name, e in header.items():
        b, f_ = e["data_offsets"]
        dt = {"F32": "<f4", "U8": "u1"}[e["dtype"]]
        out[name] = np.frombuffer(body[b:f_], dtype=dt).reshape(e["shape"])
    return out, meta


def expect_error(fn, *texts):
    try:
        fn()
    except cv.ConvertError as e:
        msg = str(e)
        for t in texts:
            check(t in msg, "error message %r lacks %r" % (msg, t))
        print("  error as expected: %s" % msg[:200])
        return
    check(False, "no error raised (expected %s)" % (texts,))


# ---- ref: the oracle's checkpoint ----

def case_ref():
    out = os.path.join(WORK, "ref")
    cmd = [sys.executable, os.path.join(SRC, "tests/model/ref_afloc.py"), "--config", "small", "--seed", "3",
           "--out", out, "--images", "1", "--prompts", "1", "--no-selfcheck"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        check(False, "ref_afloc.py failed: %s" % r.stderr[-500:])
        return
    model = os.path.join(WORK, "ref.safetensors")
    with open(os.path.join(out, "config.json")) as f:
        want = json.load(f)
    # BERT's head count is not in a checkpoint: the converter assumes hidden/64 unless told
    cfg = cv.convert(os.path.join(out, "checkpoint.ckpt"), os.path.join(out, "vocab.txt"), model,
                     config_override={"bert_heads": want["bert_heads"]}, log=lambda m: None)
    for k, v in want.items():
        check(k in cfg and (cfg[k] == v or (isinstance(v, float) and abs(cfg[k] - v) <= 1e-6 * abs(v))),
              "ref config %s: converted %r, oracle %r" % (k, cfg.get(k), v))
    got, meta = read_model_file(model)
    tensors, _ = cv.read_checkpoint(os.path.join(out, "checkpoint.ckpt"))
    same = sum(1 for k, a in tensors.items() if k in got and np.array_equal(got[k], a))
    check(same == len(tensors) == len(got) - 1, "ref tensors: %d identical of %d (file has %d + vocab)"
          % (same, len(tensors), len(got) - 1))
    check("afloc.header_sha256" in meta and "afloc.data_sha256" in meta, "ref: checksums present")
    print("ref: %d tensors bit-identical, config matches the oracle's %d keys" % (same, len(want)))


# ---- own: a checkpoint built here ----

E, LAYERS, INTER, VOCAB_N, POS = 16, 2, 32, 24, 40
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + ["w%d" % i for i in range(VOCAB_N - 5)]


def own_state_dict(seed=0):
    g = torch.Generator().manual_seed(seed)
    trunk = torchvision.models.resnet.ResNet(torchvision.models.resnet.Bottleneck, [1, 2, 1, 1], width_per_group=8)
    sd = {"img_encoder.model." + k: v for k, v in trunk.state_dict().items() if not k.startswith("fc.")}
    for k in sd:
        if k.endswith("running_var") or k.endswith("running_mean"):
            sd[k] = torch.rand(sd[k].shape, generator=g)
    sd["img_encoder.global_embedder.weight"] = torch.randn(E, 2048, generator=g)
    sd["img_encoder.global_embedder.bias"] = torch.randn(E, generator=g)
    sd["img_encoder.local_embedder.weight"] = torch.randn(E, 1024, 1, 1, generator=g)
    sd["img_encoder.local2_embedder.weight"] = torch.randn(E, 512, 1, 1, generator=g)
    t = "text_encoder.model."
    sd[t + "embeddings.position_ids"] = torch.arange(POS).unsqueeze(0)
    for name, shape in (("word_embeddings", (VOCAB_N, E)), ("position_embeddings", (POS, E)),
                        ("token_type_embeddings", (2, E))):
        sd[t + "embeddings.%s.weight" % name] = torch.randn(*shape, generator=g)
    lin = {"attention.self.query": (E, E), "attention.self.key": (E, E), "attention.self.value": (E, E),
           "attention.output.dense": (E, E), "intermediate.dense": (INTER, E), "output.dense": (E, INTER)}
    for i in range(-1, LAYERS):
        for ln in (["embeddings.LayerNorm"] if i < 0 else
                   ["encoder.layer.%d.attention.output.LayerNorm" % i, "encoder.layer.%d.output.LayerNorm" % i]):
            sd[t + ln + ".weight"] = torch.randn(E, generator=g)
            sd[t + ln + ".bias"] = torch.randn(E, generator=g)
        for name, shape in (lin.items() if i >= 0 else ()):
            sd[t + "encoder.layer.%d.%s.weight" % (i, name)] = torch.randn(*shape, generator=g)
            sd[t + "encoder.layer.%d.%s.bias" % (i, name)] = torch.randn(shape[0], generator=g)
    sd[t + "pooler.dense.weight"] = torch.randn(E, E, generator=g)
    sd[t + "pooler.dense.bias"] = torch.randn(E, generator=g)
    return {"afloc." + k: v for k, v in sd.items()}


def own_hparams(**text):
    return {"model": {"text": dict({"last_n_layers": 2, "aggregate_method": "sum", "embedding_dim": E,
                                    "agg_tokens": True, "take_sent_as_units": True, "norm": False}, **text),
                      "afloc": {"temp1": 4.0, "temp2": 5.0, "temp3": 10.0}},
            "data": {"text": {"word_num": 20, "captions_per_image": 5}, "image": {"imsize": 256}},
            "transforms": {"norm": "half", "center_crop": {"crop_size": 224}}}


def save_own(path, sd, hparams):
    # a class reference from a package that is not installed, as Lightning 1.1 keys its callbacks
    mod = types.ModuleType("pytorch_lightning_fake")
    Cb = type("ModelCheckpoint", (object,), {"__module__": mod.__name__})
    mod.ModelCheckpoint = Cb
    sys.modules[mod.__name__] = mod
    try:
        torch.save({"epoch": 1, "state_dict": sd, "hyper_parameters": hparams,
                    "callbacks": {Cb: {"best_model_score": torch.tensor(0.5)}}, "optimizer_states": []}, path)
    finally:
        del sys.modules[mod.__name__]


def case_own():
    vocab = os.path.join(WORK, "own_vocab.txt")
    with open(vocab, "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    sd = own_state_dict()
    ckpt = os.path.join(WORK, "own.ckpt")
    save_own(ckpt, sd, own_hparams())
    model = os.path.join(WORK, "own.safetensors")
    cfg = cv.convert(ckpt, vocab, model, config_override={"bert_heads": 2}, log=lambda m: None)
    check(cfg["resnet_blocks"] == [1, 2, 1, 1] and cfg["resnet_base_width"] == 8 and cfg["resnet_stem"] == 64,
          "own: resnet config %s" % {k: cfg[k] for k in ("resnet_blocks", "resnet_base_width", "resnet_stem")})
    check(cfg["bert_layers"] == LAYERS and cfg["bert_hidden"] == E and cfg["bert_heads"] == 2 and
          cfg["vocab_size"] == VOCAB_N and cfg["token_length"] == 20 and cfg["use_local_f_embedder"] == 0,
          "own: bert config %s" % cfg)
    got, _ = read_model_file(model)
    want = {k[len("afloc."):]: v.numpy() for k, v in sd.items()
            if not k.endswith("num_batches_tracked") and not k.endswith("position_ids")}
    same = sum(1 for k, a in want.items() if k in got and np.array_equal(got[k], a))
    check(same == len(want) == len(got) - 1, "own tensors: %d of %d identical" % (same, len(want)))
    print("own: %d tensors bit-identical, config %s" % (same, json.dumps(cfg, sort_keys=True)[:120]))

    # errors, each with a clear message
    bad = dict(sd)
    bad["afloc.img_encoder.local_embedder.weight"] = torch.zeros(E, 1000, 1, 1)
    save_own(os.path.join(WORK, "shape.ckpt"), bad, own_hparams())
    expect_error(lambda: cv.convert(os.path.join(WORK, "shape.ckpt"), vocab, os.path.join(WORK, "x.safetensors"),
                                    {"bert_heads": 2}, log=lambda m: None),
                 "AFLOC_ERR_SCHEMA", "img_encoder.local_embedder.weight", "[16, 1000, 1, 1]", "[16, 1024, 1, 1]")
    bad = dict(sd)
    del bad["afloc.text_encoder.model.pooler.dense.bias"]
    save_own(os.path.join(WORK, "missing.ckpt"), bad, own_hparams())
    expect_error(lambda: cv.convert(os.path.join(WORK, "missing.ckpt"), vocab, os.path.join(WORK, "x.safetensors"),
                                    {"bert_heads": 2}, log=lambda m: None),
                 "AFLOC_ERR_SCHEMA", "text_encoder.model.pooler.dense.bias", "missing")
    short = os.path.join(WORK, "short_vocab.txt")
    with open(short, "w") as f:
        f.write("\n".join(VOCAB[:-1]) + "\n")
    expect_error(lambda: cv.convert(ckpt, short, os.path.join(WORK, "x.safetensors"), {"bert_heads": 2},
                                    log=lambda m: None), "vocab_size")
    save_own(os.path.join(WORK, "mean.ckpt"), sd, own_hparams(aggregate_method="mean"))
    expect_error(lambda: cv.convert(os.path.join(WORK, "mean.ckpt"), vocab, os.path.join(WORK, "x.safetensors"),
                                    {"bert_heads": 2}, log=lambda m: None), "aggregate_method")
    check(not os.path.exists(os.path.join(WORK, "x.safetensors")), "a failed conversion left an output file")
    leftovers = [n for n in os.listdir(WORK) if n.startswith("tmp")]
    check(not leftovers, "scratch files left: %s" % leftovers)


# ---- hostile: code in the pickle is never run ----

class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def case_hostile():
    marker = os.path.join(WORK, "pwned")
    if os.path.exists(marker):
        os.unlink(marker)
    sd = own_state_dict()
    sd["afloc.evil"] = Evil(marker)
    path = os.path.join(WORK, "hostile.ckpt")
    torch.save({"state_dict": sd, "hyper_parameters": own_hparams()}, path)
    tensors, _ = cv.read_checkpoint(path)
    check(not os.path.exists(marker), "hostile: os.system ran during the read")
    check("evil" not in tensors, "hostile: the stub became a tensor")
    print("hostile: os.system global stubbed, not executed; %d tensors read" % len(tensors))


def main():
    cv.find_library()  # fails early and clearly without libafloc.so
    for case in (case_own, case_hostile, case_ref):
        try:
            case()
        except Exception as e:  # report and keep going
            check(False, "%s raised %s: %s" % (case.__name__, type(e).__name__, e))
    if failures:
        print("model_convert: %d failure(s)" % len(failures))
        return 1
    print("model_convert: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
