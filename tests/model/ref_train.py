#!/usr/bin/python3
"""ref_train.py: the gradient oracle for libafloc's trainer (MODEL.md §6, §7.1, §13 item 6).

Extends ref_afloc.py (imported, not duplicated: model, weights, tokenizer, word/sentence
aggregation, image generator, checkpoint and safetensors writers) with the three training
losses, written from MODEL.md §6:
  L_GR  global report:  G[j,i] = temp3·cos(img_emb_g_j, text_emb_r_i), CE(G) + CE(Gᵀ)
  L_DS  sentence level: local score (§6.2) of img_emb_l  (19×19) vs text_emb_s, T_i = K_i + 1
  L_SW  word level:     local score (§6.2) of img_emb_l2 (38×38) vs text_emb_w, T_i = n_i + 1
  local score: a = vᵀw; a1 = softmax over words; α = softmax over regions of temp1·a1;
               c_t = Σ_s α[s,t] v_s; ρ_t = cos(c_t, w_t) (denominator clamped at 1e-8);
               R = log Σ_t exp(temp2·ρ_t); M[j,i] = temp3·R; L = CE(M) + CE(Mᵀ)
  cap_len = (#names not starting with "[") + 1  (the [UNK] quirk of §5.8 kept)
  total = L_GR + L_DS + L_SW
  with --sentence-contrast W > 0, also W·L_WS, libafloc's within-image sentence loss (not in
  the paper; afloc_cpu_sentence_contrast_loss): for each image with K >= 2 sentences, its own
  L_DS contexts c_1..c_K (slots 1..K) and sentences w_1..w_K, Z = temp3·cos(c_t, w_u),
  CE(Z) + CE(Zᵀ), the mean over those images
on one deterministic batch: B synthetic images (ref_afloc.synth_image) and B training captions
('. '-joined sentences, tokenized as they are, no §4.1 cleaning, §4.3), model.train() (BN batch
statistics, §3.4), dropout off unless --dropout 1. Then backward, and N Adam steps
(betas (0.5, 0.999), eps 1e-8, L2 weight decay 1e-6, clip_grad_norm_ 0.25, §7.1) on the same batch.

Usage:
  ref_train.py --config small|default|CONFIG.json --seed S --batch B --steps N --out DIR
               [--dropout 0|1] [--lr LR] [--threads T] [--no-selfcheck]
               [--sentence-contrast W]
writes DIR/train_reference.safetensors, checkpoint.ckpt (initial weights, as ref_afloc writes
it), config.json, vocab.txt, images/*.png, captions.txt. Tensor names: tests/model/README.md.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ref_afloc as ra  # noqa: E402

# safetensors F64 for the float64 reference losses (the C reader knows F64).
ra.ST_DTYPES.setdefault(np.dtype(np.float64), "F64")

# Training captions (§4.3): already-clean sentences joined by ". ", fed to the tokenizer as is.
# Cases: several sentences ('.' words delimit sentence units and count as words), a trailing
# '.' (not a delimiter, §5.6), "opaque" -> [UNK] (shifts the word window, §5.8), one sentence
# only, a caption with two [UNK]s, digits.
TRAIN_CAPTIONS = [
    "there is a small left pleural effusion. heart size is normal. no pneumothorax is seen",
    "mild pulmonary edema. opaque density in the right lower lobe. bibasilar atelectasis .",
    "cardiomegaly with pulmonary vascular congestion. unchanged",
    "lungs are clear",
    "opaque focal consolidation in the left lung base. opaque nodule 17 mm",
    "the heart is mildly enlarged. small bilateral pleural effusions. no focal consolidation",
    "endotracheal tube tip projects 5 cm above the carina. stable",
    "patchy opacities in the right upper lobe likely represents pneumonia",
]

N_TRAJECTORY_FINAL = [  # parameters whose final values after N steps are stored (`final.<name>`)
    "img_encoder.model.conv1.weight",
    "img_encoder.model.bn1.weight",
    "img_encoder.global_embedder.bias",
    "img_encoder.local_embedder.weight",
    "img_encoder.local2_embedder.weight",
    "text_encoder.model.embeddings.LayerNorm.weight",
    "text_encoder.model.encoder.layer.0.attention.self.query.weight",
]


def cap_len(names):
    """§5.8: names that do not start with '[' plus one ([UNK] occupies a slot but is not counted)."""
    return sum(1 for c in names if not c.startswith("[")) + 1


def cross_entropy_diag(m):
    """CE(M, diag) = -(1/B) Σ_j log softmax_i(M[j, :])[j]."""
    lsm = m - torch.logsumexp(m, dim=1, keepdim=True)
    return -torch.diagonal(lsm).mean()


def cosine(x, y, dim):
    """⟨x, y⟩ / max(‖x‖·‖y‖, 1e-8) along dim."""
    return (x * y).sum(dim) / (x.norm(dim=dim) * y.norm(dim=dim)).clamp(min=1e-8)


def global_loss(g, r, cfg):
    """§6.1: g [B, D] image global, r [B, D] report; rows image j, columns text i."""
    gn, rn = g.norm(dim=1, keepdim=True), r.norm(dim=1, keepdim=True)
    scores = (g @ r.t()) / (gn @ rn.t()).clamp(min=1e-8) * cfg["temp3"]
    return cross_entropy_diag(scores) + cross_entropy_diag(scores.t())


def local_scores(vmap, text, lens, cfg):
    """§6.2: vmap [B, D, H, W], text [B, D, T], lens[i] = T_i -> M [B images, B texts]."""
    b = vmap.shape[0]
    v = vmap.flatten(2)                                        # [B, D, S], s row-major
    cols = []
    for i in range(b):
        w = text[i, :, :lens[i]]                               # [D, T_i]
        a = torch.einsum("bds,dt->bst", v, w)                  # raw affinities
        a1 = torch.softmax(a, dim=2)                           # over words
        alpha = torch.softmax(cfg["temp1"] * a1, dim=1)        # over regions
        c = torch.einsum("bds,bst->bdt", v, alpha)             # word contexts [B, D, T_i]
        rho = cosine(c, w[None], dim=1)                        # [B, T_i]
        r = torch.log(torch.exp(cfg["temp2"] * rho).sum(dim=1))
        cols.append(cfg["temp3"] * r)
    return torch.stack(cols, dim=1)


def local_loss(vmap, text, lens, cfg):
    m = local_scores(vmap, text, lens, cfg)
    return cross_entropy_diag(m) + cross_entropy_diag(m.t())


def within_image_loss(vmap, text, lens, cfg):
    """L_WS: vmap [B, D, H, W], text [B, D, T] (sentence features), lens[i] = K_i + 1."""
    v = vmap.flatten(2)
    terms = []
    for i in range(v.shape[0]):
        if lens[i] < 3:
            continue
        w = text[i, :, :lens[i]]                               # [D, T_i]
        a1 = torch.softmax(v[i].t() @ w, dim=1)                # [S, T_i], over words
        alpha = torch.softmax(cfg["temp1"] * a1, dim=0)        # over regions
        c = (v[i] @ alpha)[:, 1:]                              # contexts of the K sentences
        ws = w[:, 1:]
        z = cfg["temp3"] * cosine(c[:, :, None], ws[:, None, :], dim=0)   # [K, K]
        terms.append(cross_entropy_diag(z) + cross_entropy_diag(z.t()))
    return torch.stack(terms).mean() if terms else v.sum() * 0.0


def text_features(model, batch, cfg):
    """Batched BERT over the B captions, then ref_afloc's per-sample §5.3-§5.6 aggregation."""
    nl = cfg["last_n_layers"]
    hidden = model.text_encoder.model(batch["ids"], batch["mask"], torch.zeros_like(batch["ids"]))
    E = torch.stack(hidden[-nl:], dim=1)                       # [B, n, T, D]
    emb_w, emb_s, emb_r = [], [], []
    for b in range(E.shape[0]):
        Ew, names = ra.aggregate_words(E[b], batch["ids"][b], batch["itos"])
        Es, snames, _ = ra.aggregate_sentences(Ew, names)
        emb_w.append(Ew.sum(dim=0).t())
        emb_s.append(Es.sum(dim=0).t())
        emb_r.append(Ew.mean(dim=1).sum(dim=0))
    return torch.stack(emb_w), torch.stack(emb_s), torch.stack(emb_r)


def forward_losses(model, batch, cfg):
    """-> dict of the three loss terms and the total (scalars with graph)."""
    out = model.img_encoder(batch["x"])
    emb_w, emb_s, emb_r = text_features(model, batch, cfg)
    lg = global_loss(out["img_emb_g"], emb_r, cfg)
    ls = local_loss(out["img_emb_l"], emb_s, batch["cap_len_s"], cfg)
    lw = local_loss(out["img_emb_l2"], emb_w, batch["cap_len_w"], cfg)
    weight = batch.get("contrast_weight", 0.0)
    if weight == 0.0:
        return {"global": lg, "sentence": ls, "word": lw, "total": lg + ls + lw}
    lc = within_image_loss(out["img_emb_l"], emb_s, batch["cap_len_s"], cfg)
    return {"global": lg, "sentence": ls, "word": lw, "contrast": lc,
            "total": lg + ls + lw + weight * lc}


def make_batch(cfg, tok, seed, n, out_dir):
    """B letterboxed synthetic images (ref_afloc generator, sizes cycled) and B captions."""
    import cv2
    rng = np.random.RandomState(seed)
    lbs, xs, names = [], [], []
    os.makedirs(os.path.join(out_dir, "images"), exist_ok=True)
    for i in range(n):
        h, w = ra.IMAGE_SIZES[i % len(ra.IMAGE_SIZES)]
        gray = ra.synth_image(h, w, rng)
        name = "img%d_%dx%d.png" % (i, w, h)
        cv2.imwrite(os.path.join(out_dir, "images", name), gray)
        lb, x = ra.preprocess(gray, cfg)
        lbs.append(lb)
        xs.append(x)
        names.append(name)
    caps = [TRAIN_CAPTIONS[i % len(TRAIN_CAPTIONS)] for i in range(n)]
    ids, masks, words, sents, lw, ls = [], [], [], [], [], []
    for c in caps:
        i_, m_, _, _ = tok.encode(c, cfg["token_length"])
        ids.append(i_)
        masks.append(m_)
        # names exactly as the aggregation produces them (no features needed)
        dummy = torch.zeros(1, cfg["token_length"], 1)
        _, wn = ra.aggregate_words(dummy, i_, tok.itos)
        _, sn, _ = ra.aggregate_sentences(torch.zeros(1, cfg["token_length"], 1), wn)
        words.append([w for w in wn if w != "[PAD]"])
        sents.append([s for s in sn if s != "[PAD]"])
        lw.append(cap_len(wn))
        ls.append(cap_len(sn))
    return {"x": torch.cat(xs), "lb": np.stack(lbs), "image_names": names, "captions": caps,
            "ids": torch.stack(ids), "mask": torch.stack(masks), "itos": tok.itos,
            "cap_len_w": lw, "cap_len_s": ls, "words": words, "sentences": sents}


def set_dropout(model, on):
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.1 if on else 0.0


def to_double(model, batch):
    """A float64 copy of the model and batch (default dtype float64 while it runs, so the
    aggregation's torch.zeros buffers are float64 too)."""
    m64 = copy.deepcopy(model).double()
    b64 = dict(batch)
    b64["x"] = batch["x"].double()
    return m64, b64


def losses64(m64, b64, cfg):
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        return forward_losses(m64, b64, cfg)
    finally:
        torch.set_default_dtype(old)


def finite_difference_check(m64, b64, cfg, names, h=1e-7):
    """Central differences of the float64 total loss w.r.t. one scalar (the element of largest
    |gradient|) of each named parameter -> list of (name, index, analytic, numeric, rel).
    h is small on purpose: the loss is only piecewise smooth (ReLU, max-pool) and the stem has
    many BN-normalised units within 1e-5 of a kink; at h = 1e-5 conv1 differs by 8e-4 relative,
    at 1e-6 by 1.3e-4, at 1e-7 by 2e-8 (float64 rounding then adds ~eps·|L|/h ≈ 4e-8 absolute)."""
    params = dict(m64.named_parameters())
    m64.zero_grad(set_to_none=True)
    losses64(m64, b64, cfg)["total"].backward()
    rows = []
    for name in names:
        p = params[name]
        flat = p.grad.reshape(-1)
        k = int(flat.abs().argmax())
        g = float(flat[k])
        with torch.no_grad():
            orig = float(p.view(-1)[k])
            p.view(-1)[k] = orig + h
            lp = float(losses64(m64, b64, cfg)["total"])
            p.view(-1)[k] = orig - h
            lm = float(losses64(m64, b64, cfg)["total"])
            p.view(-1)[k] = orig
        fd = (lp - lm) / (2 * h)
        rows.append((name, k, g, fd, abs(fd - g) / max(abs(g), 1e-12)))
    return rows


FD_PARAMS = [
    "img_encoder.model.conv1.weight",
    "img_encoder.model.bn1.weight",
    "img_encoder.model.layer2.0.bn2.bias",
    "img_encoder.model.layer3.0.conv3.weight",
    "img_encoder.model.layer4.0.conv2.weight",
    "img_encoder.global_embedder.weight",
    "img_encoder.local_embedder.weight",
    "img_encoder.local2_embedder.weight",
    "text_encoder.model.embeddings.word_embeddings.weight",
    "text_encoder.model.embeddings.position_embeddings.weight",
    "text_encoder.model.encoder.layer.0.attention.self.key.weight",
    "text_encoder.model.encoder.layer.2.output.LayerNorm.bias",
]


def run(args):
    t0 = time.time()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    import cv2
    cv2.setNumThreads(1)
    cfg = ra.load_config(args.config)
    os.makedirs(args.out, exist_ok=True)
    if not 1 <= args.batch <= 64:
        raise ValueError("--batch must be in 1..64")

    model = ra.make_model(cfg, args.seed)           # same weights as ref_afloc.py --seed S
    vocab = ra.build_vocab(cfg["vocab_size"])
    tok = ra.WordPieceTokenizer(vocab)
    with open(os.path.join(args.out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    ra.save_checkpoint(os.path.join(args.out, "checkpoint.ckpt"), model, cfg, False)
    batch = make_batch(cfg, tok, args.seed, args.batch, args.out)
    batch["contrast_weight"] = args.sentence_contrast
    with open(os.path.join(args.out, "captions.txt"), "w", encoding="utf-8") as f:
        for c in batch["captions"]:
            f.write(json.dumps(c) + "\n")
    t_setup = time.time() - t0

    tensors = {
        "input.x224_u8": batch["lb"],
        "input.x_norm": batch["x"][:, 0].numpy().copy(),      # [B, crop, crop]; channels equal
        "input.ids": batch["ids"].numpy().astype(np.int32),
        "input.mask": batch["mask"].numpy().astype(np.int32),
        "input.cap_len_w": np.array(batch["cap_len_w"], dtype=np.int32),
        "input.cap_len_s": np.array(batch["cap_len_s"], dtype=np.int32),
    }
    meta = {"producer": "tests/model/ref_train.py", "seed": args.seed, "config": json.dumps(cfg),
            "batch": args.batch, "steps": args.steps, "lr": repr(args.lr), "dropout": args.dropout,
            "images": json.dumps(batch["image_names"]), "captions": json.dumps(batch["captions"]),
            "words": json.dumps(batch["words"]), "sentences": json.dumps(batch["sentences"]),
            "adam": json.dumps({"betas": [0.5, 0.999], "eps": 1e-8, "weight_decay": 1e-6,
                                "clip_grad_norm": 0.25, "lr": args.lr}),
            "torch": torch.__version__, "threads": args.threads}

    # float64 reference losses first, from a copy of the initial (eval-calibrated) model
    t1 = time.time()
    m64, b64 = to_double(model, batch)
    m64.train()
    set_dropout(m64, False)
    l64 = losses64(m64, b64, cfg)
    l64["total"].backward()
    l64 = {k: float(v) for k, v in l64.items()}
    g64 = {n: p.grad for n, p in m64.named_parameters() if p.grad is not None}
    t_f64 = time.time() - t1

    # the float32 training step
    model.train()
    set_dropout(model, bool(args.dropout))
    params = list(model.named_parameters())
    t1 = time.time()
    losses = forward_losses(model, batch, cfg)
    t_fwd = time.time() - t1
    t1 = time.time()
    losses["total"].backward()
    t_bwd = time.time() - t1
    for k, v in losses.items():
        tensors["loss." + k] = np.array([float(v)], dtype=np.float32)
        tensors["loss64." + k] = np.array([l64[k]], dtype=np.float64)
    none_grads = []
    for name, p in params:
        if p.grad is None:
            none_grads.append(name)
            tensors["grad." + name] = np.zeros(p.shape, dtype=np.float32)
        else:
            tensors["grad." + name] = p.grad.numpy().copy()
    meta["grad_none"] = json.dumps(none_grads)
    # float32 vs float64 gradients: per tensor max|g32 - g64| / max(max|g64|, 1e-6·G) with G the
    # largest |g64| of any tensor (attention key biases have an exactly zero true gradient: the
    # key-axis softmax ignores a per-query constant), i.e. the float32 noise floor
    gfloor = 1e-6 * max(float(g.abs().max()) for g in g64.values())
    grad_err = {n: float((p.grad.double() - g64[n]).abs().max()) / max(float(g64[n].abs().max()), gfloor)
                for n, p in params if p.grad is not None}
    worst_g = max(grad_err, key=grad_err.get)
    meta["grad_f32_vs_f64"] = json.dumps(grad_err)
    for n, g in g64.items():   # the float64 gradients, rounded to float32 once
        tensors["grad64." + n] = g.to(torch.float32).numpy().copy()
    gnorm = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for _, p in params if p.grad is not None))
    tensors["grad_norm"] = np.array([gnorm], dtype=np.float32)
    for name, buf in model.named_buffers():
        if "running_" in name or "num_batches_tracked" in name:
            tensors["bn_after." + name] = buf.numpy().copy()

    # N Adam steps on the same batch; trajectory[0] is the loss above
    opt = torch.optim.Adam([p for _, p in params], lr=args.lr, betas=(0.5, 0.999), eps=1e-8,
                           weight_decay=1e-6)
    # Step k: clip the gradient of the current loss, Adam update, forward + backward at the new
    # weights (that loss is trajectory[k+1]); the last forward needs no backward. One forward
    # per step, so BN running statistics see exactly 1 + N batches.
    traj = [float(losses["total"])]
    t1 = time.time()
    for step in range(args.steps):
        torch.nn.utils.clip_grad_norm_([p for _, p in params if p.grad is not None], 0.25)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step + 1 < args.steps:
            lt = forward_losses(model, batch, cfg)["total"]
            lt.backward()
        else:
            with torch.no_grad():
                lt = forward_losses(model, batch, cfg)["total"]
        traj.append(float(lt))
    t_adam = time.time() - t1
    tensors["trajectory.loss"] = np.array(traj, dtype=np.float32)
    pd = dict(params)
    for name in N_TRAJECTORY_FINAL:
        if name in pd:
            tensors["final." + name] = pd[name].detach().numpy().copy()

    for k, v in tensors.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise RuntimeError("non-finite values in %s" % k)
    path = os.path.join(args.out, "train_reference.safetensors")
    ra.write_safetensors(path, tensors, meta)

    # agreement of float32 and float64 losses
    rel32 = max(abs(float(losses[k]) - l64[k]) / max(abs(l64[k]), 1e-12) for k in l64)
    print("ref_train: config %s seed %d batch %d: float64 loss global %.6f sentence %.6f word %.6f total %.6f"
          % (args.config, args.seed, args.batch, l64["global"], l64["sentence"], l64["word"], l64["total"]))
    print("  float32 vs float64 losses: max rel %.2g; grad norm %.6g; %d gradients (%d unused: %s)"
          % (rel32, gnorm, len(params), len(none_grads), ", ".join(none_grads)))
    print("  float32 vs float64 gradients (max abs diff / max abs per tensor, floor 1e-6 of the largest): median %.2g, worst %.2g (%s)"
          % (float(np.median(list(grad_err.values()))), grad_err[worst_g], worst_g))
    print("  cap_len words %s, sentences %s" % (batch["cap_len_w"], batch["cap_len_s"]))
    print("  trajectory (lr %g, %d steps): %s" % (args.lr, args.steps, " ".join("%.6f" % v for v in traj)))
    print("  %d tensors, %.1f MB; setup %.2f s, fp64 forward %.2f s, forward %.2f s, backward %.2f s, "
          "%d Adam steps %.2f s, total %.2f s (%d threads)"
          % (len(tensors), os.path.getsize(path) / 1e6, t_setup, t_f64, t_fwd, t_bwd, args.steps,
             t_adam, time.time() - t0, args.threads))
    ok = rel32 < 1e-4 or args.dropout
    if not ok:
        print("FAIL: float32 losses disagree with float64 beyond 1e-4")
    return ok, cfg, model, batch


def selfchecks(args, cfg, batch):
    """Finite differences (float64) on a fresh copy of the initial model; B=1 -> zero losses."""
    ok = True
    t0 = time.time()
    model = ra.make_model(cfg, args.seed)
    m64, b64 = to_double(model, batch)
    m64.train()
    set_dropout(m64, False)
    rows = finite_difference_check(m64, b64, cfg, [n for n in FD_PARAMS if n in dict(m64.named_parameters())])
    worst = max(r[4] for r in rows)
    for name, k, g, fd, rel in rows:
        print("  fd %-62s [%d] analytic % .9e numeric % .9e rel %.1e" % (name, k, g, fd, rel))
    if worst >= 1e-4:
        ok = False
        print("FAIL: finite differences disagree (worst rel %.2g >= 1e-4)" % worst)
    one = {k: (v[:1] if k in ("x", "ids", "mask", "cap_len_w", "cap_len_s") else v) for k, v in b64.items()}
    with torch.no_grad():
        l1 = {k: float(v) for k, v in losses64(m64, one, cfg).items()}
    if any(abs(v) > 1e-12 for v in l1.values()):
        ok = False
        print("FAIL: B=1 losses are not zero: %s" % l1)
    print("selfcheck: finite differences on %d parameters worst rel %.2g (< 1e-4), B=1 losses %s; %.2f s -> %s"
          % (len(rows), worst, ", ".join("%s %.1g" % kv for kv in l1.items()), time.time() - t0,
             "ok" if ok else "FAILED"))
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dropout", type=int, choices=(0, 1), default=0,
                    help="1: BERT dropout 0.1 active in the float32 run (torch's RNG; only statistics "
                         "are comparable with another implementation)")
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-selfcheck", action="store_true")
    ap.add_argument("--sentence-contrast", type=float, default=0.0,
                    help="weight of the within-image sentence loss L_WS (default 0: the paper's)")
    args = ap.parse_args()
    ok, cfg, _, batch = run(args)
    if not args.no_selfcheck:
        ok = selfchecks(args, cfg, batch) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
