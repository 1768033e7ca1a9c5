#!/usr/bin/python3
"""bench_train_torch.py: the PyTorch side of benchmarks/bench_train.py, one training step of the
gradient oracle (tests/model/ref_afloc.py's torch.nn AFLoc, tests/model/ref_train.py's three
losses) timed on the same config, batch and captions as bench_train.c.

  bench_train_torch.py --prepare DIR --config small|mid|CONFIG.json --batch B [--seed S]
      writes DIR/config.json, vocab.txt, captions.txt (one per line) and frames.f32 (B
      preprocessed frames, float32): ref_train.make_batch's synthetic images and captions, which
      bench_train.c reads as they are;
  bench_train_torch.py --data DIR [--steps N] [--threads T] [--seed S]
      builds the oracle model of DIR's config (ref_afloc.make_model), puts it in training mode
      with BERT dropout 0.1 (as libafloc's trainer), and times N steps after one warm-up: zero
      grads, forward_losses (L_GR + L_DS + L_SW), backward, clip_grad_norm_ 0.25, Adam (betas
      0.5/0.999, eps 1e-8, weight decay 1e-6, lr 2e-5). torch.set_num_threads(T). Prints the
      median step and its forward/backward/optimizer parts, and peak RSS.
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "model"))
import ref_afloc as ra  # noqa: E402
import ref_train as rt  # noqa: E402

# The mid config: the kind of model the demo trains (ResNet [1,1,1,1] 16..128 wide, a 2-layer
# BERT of width 128, 128 px frames upsampled to 171 as 224 is to 299). Keys as ref_afloc's.
MID_CONFIG = dict(ra.SMALL_OVERRIDES, resnet_planes=[16, 32, 64, 128], bert_layers=2,
                  bert_hidden=128, bert_heads=4, bert_intermediate=512, embedding_dim=128,
                  image_size=128, crop_size=128, upsample_size=171)


def load_config(name, out_dir):
    if name == "mid":
        path = os.path.join(out_dir, "mid_overrides.json")
        with open(path, "w") as f:
            json.dump(MID_CONFIG, f)
        name = path
    return ra.load_config(name)


def prepare(args):
    os.makedirs(args.prepare, exist_ok=True)
    cfg = load_config(args.config, args.prepare)
    vocab = ra.build_vocab(cfg["vocab_size"])
    tok = ra.WordPieceTokenizer(vocab)
    batch = rt.make_batch(cfg, tok, args.seed, args.batch, args.prepare)
    with open(os.path.join(args.prepare, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    with open(os.path.join(args.prepare, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(args.prepare, "captions.txt"), "w", encoding="utf-8") as f:
        for c in batch["captions"]:
            if "\n" in c:
                raise ValueError("captions must be single lines")
            f.write(c + "\n")
    frames = batch["x"][:, 0].numpy().astype(np.float32)      # [B, crop, crop]; channels equal
    frames.tofile(os.path.join(args.prepare, "frames.f32"))
    print("prepared %s: config %s, batch %d, frames %s" % (args.prepare, args.config, args.batch,
                                                           frames.shape))


def load_batch(data_dir, cfg, tok):
    """The batch dict of ref_train.make_batch, from the files bench_train.c reads."""
    with open(os.path.join(data_dir, "captions.txt"), encoding="utf-8") as f:
        caps = [line.rstrip("\n") for line in f if line.strip()]
    c = cfg["crop_size"]
    frames = np.fromfile(os.path.join(data_dir, "frames.f32"), dtype=np.float32)
    frames = frames.reshape(len(caps), c, c)
    x = torch.from_numpy(frames)[:, None].expand(-1, cfg["input_channels"], c, c).contiguous()
    ids, masks, lw, ls = [], [], [], []
    for cap in caps:
        i_, m_, _, _ = tok.encode(cap, cfg["token_length"])
        ids.append(i_)
        masks.append(m_)
        _, wn = ra.aggregate_words(torch.zeros(1, cfg["token_length"], 1), i_, tok.itos)
        _, sn, _ = ra.aggregate_sentences(torch.zeros(1, cfg["token_length"], 1), wn)
        lw.append(rt.cap_len(wn))
        ls.append(rt.cap_len(sn))
    return {"x": x, "ids": torch.stack(ids), "mask": torch.stack(masks), "itos": tok.itos,
            "cap_len_w": lw, "cap_len_s": ls, "captions": caps}


def bench(args):
    torch.set_num_threads(args.threads)
    cfg = ra.load_config(os.path.join(args.data, "config.json"))
    with open(os.path.join(args.data, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")[:-1]
    tok = ra.WordPieceTokenizer(vocab)
    batch = load_batch(args.data, cfg, tok)
    t0 = time.time()
    model = ra.make_model(cfg, args.seed)
    model.train()
    rt.set_dropout(model, True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=2e-5, betas=(0.5, 0.999), eps=1e-8, weight_decay=1e-6)
    build = time.time() - t0
    walls, fwd, bwd, upd = [], [], [], []
    first = last = 0.0
    for i in range(-1, args.steps):
        a = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        losses = rt.forward_losses(model, batch, cfg)
        b = time.perf_counter()
        losses["total"].backward()
        c = time.perf_counter()
        torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], 0.25)
        opt.step()
        d = time.perf_counter()
        if i < 0:
            first = float(losses["total"])
            warm = d - a
            continue
        walls.append(d - a)
        fwd.append(b - a)
        bwd.append(c - b)
        upd.append(d - c)
        last = float(losses["total"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("bench_train_torch: batch %d, frame %d, %d threads, torch %s, median of %d steps "
          "(model build %.2f s, warm-up step %.1f ms)"
          % (len(batch["captions"]), cfg["crop_size"], args.threads, torch.__version__, args.steps,
             build, 1e3 * warm))
    print("  loss: first step %.5f, last step %.5f" % (first, last))
    print("  forward + losses %.2f ms, backward %.2f ms, clip + Adam %.2f ms"
          % (1e3 * np.median(fwd), 1e3 * np.median(bwd), 1e3 * np.median(upd)))
    print("train step: %.2f ms/step" % (1e3 * np.median(walls)))
    print("peak RSS: %.0f MB" % peak)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepare")
    ap.add_argument("--data")
    ap.add_argument("--config", default="small")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    if bool(args.prepare) == bool(args.data):
        ap.error("give exactly one of --prepare DIR and --data DIR")
    if args.prepare:
        prepare(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
