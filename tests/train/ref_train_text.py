#!/usr/bin/python3
"""ref_train_text.py: PyTorch oracle for the text encoder's training forward/backward
(src/train_text.c), run by tests/train/test_train_text.c as `ref_train_text.py DIR`.

DIR holds, written by the C test: model.afloc (a libafloc model file), vocab.txt (the model's
vocabulary, one token a line), and in the AFT1 format of tests/ops/ops_io.h: ids (B, T) int32 as
the C tokenizer produced them, mask (B, T) int32, d_w (B, D, T), d_s (B, D, T), d_r (B, D).

The BertModel of tests/model/ref_afloc.py is loaded from the model file, put in train() mode with
every dropout probability set to 0, and run on the padded (1, T) sequence of each caption with its
attention mask (the real pipeline's input); the word groups and sentence units come from
ref_afloc.aggregate_words / aggregate_sentences. Autograd back-propagates
Σ text_emb_w·d_w + text_emb_s·d_s + text_emb_r·d_r. Written back: text_emb_w, text_emb_s,
text_emb_r and grad.<checkpoint name> for every text-encoder parameter that gets a gradient.
float32, one thread. Exit 77 without torch."""
import os
import sys

try:
    import numpy as np  # noqa: F401
    import torch
    import torch.nn as nn
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"SKIP: {e}")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "model"))
sys.path.insert(0, os.path.join(HERE, "..", "ops"))
import ref_afloc  # noqa: E402  (BERT and the aggregation)
import ops_ref_common as io  # noqa: E402  (AFT1 writer)
from ref_train_image import read_aft, read_model_file  # noqa: E402

torch.set_num_threads(1)


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
    with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
        itos = f.read().split("\n")
    T, nl = cfg["token_length"], cfg["last_n_layers"]

    enc = ref_afloc.TextEncoder(cfg)
    with torch.no_grad():
        for name, prm in enc.named_parameters():
            src = tensors["text_encoder." + name]
            assert tuple(src.shape) == tuple(prm.shape), name
            prm.copy_(torch.from_numpy(src))
    enc.train()
    for m in enc.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0

    ids = torch.from_numpy(read_aft(d, "ids")).long()
    mask = torch.from_numpy(read_aft(d, "mask")).long()
    d_w = torch.from_numpy(read_aft(d, "d_w"))
    d_s = torch.from_numpy(read_aft(d, "d_s"))
    d_r = torch.from_numpy(read_aft(d, "d_r"))
    B = ids.shape[0]
    outs_w, outs_s, outs_r = [], [], []
    for b in range(B):
        hidden = enc.model(ids[b:b + 1], mask[b:b + 1], torch.zeros_like(ids[b:b + 1]))
        E = torch.stack(hidden[-nl:], dim=1)[0]             # [n, T, D]
        Ew, names = ref_afloc.aggregate_words(E, ids[b], itos)
        Es, _, _ = ref_afloc.aggregate_sentences(Ew, names)
        outs_w.append(Ew.sum(dim=0).t())                   # [D, T]
        outs_s.append(Es.sum(dim=0).t())
        outs_r.append(Ew.mean(dim=1).sum(dim=0))           # (1/T)·Σ slots, then Σ layers
    w, s, r = torch.stack(outs_w), torch.stack(outs_s), torch.stack(outs_r)
    loss = (w * d_w).sum() + (s * d_s).sum() + (r * d_r).sum()
    loss.backward()
    io.write(d, "text_emb_w", w)
    io.write(d, "text_emb_s", s)
    io.write(d, "text_emb_r", r)
    for name, prm in enc.named_parameters():
        if prm.grad is not None:
            io.write(d, "grad.text_encoder." + name, prm.grad)
    return 0


if __name__ == "__main__":
    sys.exit(main())
