#!/usr/bin/env python3
"""bench_gpu_train.py: one AFLoc training step on a GPU, libafloc's CUDA backend against PyTorch
eager (fp32, and AMP as the paper trains) on the same machine, config, batch and captions
(issue 6, item 6; goal: libafloc >= 1.3x the images/s of PyTorch AMP eager).

Prepares the data (the paper config's vocabulary from tests/model/ref_afloc.build_vocab, captions
of 3-6 sentences, smooth random preprocessed frames in [-1, 1]) in a temporary folder, runs the C
benchmark on it (bench_gpu_train --data DIR: afloc_device_train_run, fp32 and bf16), then the
reference in this process: tests/model/ref_afloc.py's torch.nn AFLoc (make_model at the default
config: ResNet-50, 224 -> 299, BERT-base sizes, 97 tokens) in training mode with BERT dropout 0.1
and tests/model/ref_train.py's three losses, on the batch read back by bench_train_torch.load_batch
(as benchmarks/bench_train_torch.py does on the CPU). One PyTorch step:
    frames and ids host -> GPU (libafloc's step also takes host inputs), zero_grad,
    forward under torch.autocast (AMP fp16 with a GradScaler: the paper's mixed precision;
    AMP bf16 without a scaler; or plain fp32 with TF32 off), the weighted losses, backward,
    scaler.unscale_ + clip_grad_norm_ 0.25, Adam (lr 2e-5, betas 0.5/0.999, eps 1e-8,
    weight decay 1e-6; torch's default multi-tensor implementation), scaler.update.
torch.backends.cudnn.benchmark on; torch.cuda.synchronize() before and after each timed step;
medians after warm-ups. Loss weights 1,1,1 (the paper's total) and 1,1,0 (L_SW not computed:
the word-level loss grows with B^2). The word grouping stays the reference's per-caption Python
loop (as the official code's); the token ids it reads stay on the host so it costs no GPU sync.

Memory: PyTorch's torch.cuda.max_memory_allocated() over the row (model, gradients, Adam state,
activations; the caching allocator's slack and the CUDA context not included); libafloc's is the
device memory its step object holds (cudaMemGetInfo before create vs the most seen after create
and after each step; the CUDA context and the model's inference copy not included).

Usage (GPU machine, torch 2.x with CUDA; imports only torch and numpy):
    python3 benchmarks/bench_gpu_train.py PATH/bench_gpu_train [--steps 5] [--warmup 2]
                                          [--batches 64,128] [--budget 130]
  --budget: seconds for the whole script; PyTorch rows that would start later are reported as
  skipped, so the table is printed even when a timeout (scripts/gpu-check.sh: 150 s) is near.
  Exit status: 0 all rows ran, 1 a row failed (not OOM) or libafloc found no device while torch
  does, 2 the C binary is missing, 77 no CUDA device for torch.
    /usr/bin/python3 benchmarks/bench_gpu_train.py --cpu-smoke [--host-bench PATH]
  checks this script's logic on the CPU in under a minute (torch 1.13 is enough): a tiny
  config, B 2 and 4, every mode's step, the weighted losses against ref_train.forward_losses,
  the parser and table on a canned C output, and the missing-binary exit; with --host-bench (the
  C benchmark built on the CPU ops behind the device table, tests/gpubench's
  bench_gpu_train_host) also its rows on this script's data, an injected device OOM, and this
  whole runner end to end with --device cpu --config tiny. It is the ctest
  `bench_gpu_train_smoke` (tests/gpubench/).
  --device cpu / --config FILE.json: the reference on the CPU / another model config (both for
  that smoke; the GPU run uses the defaults).
"""
import argparse
import contextlib
import gc
import io
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:                   # a Python without them (the ctest smoke then skips)
    print("SKIP: bench_gpu_train.py needs torch and numpy: %s" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "model"))
sys.path.insert(0, HERE)
import ref_afloc as ra  # noqa: E402
import ref_train as rt  # noqa: E402
from bench_train_torch import load_batch  # noqa: E402

WEIGHTS = ((1.0, 1.0, 1.0), (1.0, 1.0, 0.0))
MODES = ("amp_fp16", "amp_bf16", "fp32")          # the goal's comparison first
MODE_LABEL = {"amp_fp16": "PyTorch AMP fp16 + GradScaler", "amp_bf16": "PyTorch AMP bf16",
              "fp32": "PyTorch fp32 eager (TF32 off)"}
LR = 2e-5
GOAL = 1.3

# Sentences of the captions: ref_train's training captions split at their '. ' delimiters.
SENTENCES = sorted({s.strip(" .") for c in rt.TRAIN_CAPTIONS for s in c.split(". ") if s.strip(" .")})


# ---- data shared by both sides ----

def prepare(out_dir, cfg, count, seed=1):
    """Writes vocab.txt (cfg's vocab_size entries), captions.txt (count captions of 3-6
    sentences) and frames.f32 (count crop x crop frames in [-1, 1], float32) to out_dir."""
    os.makedirs(out_dir, exist_ok=True)
    vocab = ra.build_vocab(cfg["vocab_size"])
    rng = np.random.RandomState(seed)
    caps = [". ".join(SENTENCES[j] for j in rng.randint(len(SENTENCES), size=rng.randint(3, 7)))
            for _ in range(count)]
    gen = torch.Generator().manual_seed(seed)
    c = cfg["crop_size"]
    base = torch.rand(count, 1, 16, 16, generator=gen) * 2 - 1
    x = F.interpolate(base, size=(c, c), mode="bilinear", align_corners=False)
    x = (x + 0.1 * torch.randn(count, 1, c, c, generator=gen)).clamp(-1, 1)
    with open(os.path.join(out_dir, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(out_dir, "captions.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(caps) + "\n")
    x[:, 0].numpy().astype(np.float32).tofile(os.path.join(out_dir, "frames.f32"))
    return vocab


# ---- the C side ----

ROW = re.compile(r"^train (.*)$")


def parse_rows(text):
    """Lines 'train k=v k=v ... [-- message]' -> list of dicts (numbers converted)."""
    rows = []
    for line in text.splitlines():
        m = ROW.match(line.strip())
        if not m:
            continue
        body, _, message = m.group(1).partition(" -- ")
        row = {"message": message}
        for item in body.split():
            k, _, v = item.partition("=")
            try:
                row[k] = float(v) if k not in ("impl", "math", "weights", "status") else v
            except ValueError:
                row[k] = v
        if "B" in row:
            row["B"] = int(row["B"])
        rows.append(row)
    return rows


def run_c(bench, data_dir, args, timeout):
    """Runs the C benchmark, echoing its output; -> (rc, rows). rc 124 on timeout."""
    cmd = [bench, "--data", data_dir, "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--batches", args.batches]
    if args.config != "default":
        cmd += ["--config", os.path.join(data_dir, "config.json")]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=max(timeout, 1))
        out, rc = p.stdout, p.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        out += "\nbench_gpu_train.py: the C benchmark ran past %.0f s and was stopped\n" % timeout
        rc = 124
    print(out, end="" if out.endswith("\n") else "\n", flush=True)
    return rc, parse_rows(out)


# ---- the PyTorch side ----

def autocast_for(mode, device):
    """The autocast context of a mode. On the CPU (smoke only) both AMP modes use bf16, the only
    CPU autocast type of torch 1.13."""
    if mode == "fp32":
        return torch.autocast(device_type=device.type, enabled=False)
    dtype = torch.float16 if mode == "amp_fp16" and device.type == "cuda" else torch.bfloat16
    return torch.autocast(device_type=device.type, dtype=dtype)


def set_tf32(mode):
    """TF32 off for the fp32 comparison; torch's defaults (cuDNN TF32 on, matmul off) for AMP."""
    torch.backends.cudnn.allow_tf32 = mode != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = False


def weighted_losses(model, batch, cfg, weights):
    """rt.forward_losses with loss weights; a weight of 0 skips that loss (as libafloc does)."""
    out = model.img_encoder(batch["x"])
    emb_w, emb_s, emb_r = rt.text_features(model, batch, cfg)
    terms = {"global": rt.global_loss(out["img_emb_g"], emb_r, cfg),
             "sentence": rt.local_loss(out["img_emb_l"], emb_s, batch["cap_len_s"], cfg)}
    if weights[2]:
        terms["word"] = rt.local_loss(out["img_emb_l2"], emb_w, batch["cap_len_w"], cfg)
    total = weights[0] * terms["global"] + weights[1] * terms["sentence"]
    if "word" in terms:
        total = total + weights[2] * terms["word"]
    return total, terms


def grad_scaler(enabled):
    """torch.amp.GradScaler("cuda") where it exists (torch >= 2.3; torch.cuda.amp's is deprecated
    there), else torch.cuda.amp.GradScaler (torch 1.13 of the CPU smoke)."""
    if hasattr(torch, "amp") and hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda", enabled=enabled)
    return torch.cuda.amp.GradScaler(enabled=enabled)


class TorchStep:
    """One training step of `mode` on a fixed host batch, with its own Adam state."""

    def __init__(self, model, host_batch, cfg, mode, weights, device):
        self.model, self.cfg, self.mode, self.weights, self.device = model, cfg, mode, weights, device
        self.host = host_batch
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.Adam(self.params, lr=LR, betas=(0.5, 0.999), eps=1e-8,
                                    weight_decay=1e-6)
        # fp16 AMP needs loss scaling; the disabled scaler passes everything through unchanged.
        self.scaler = grad_scaler(mode == "amp_fp16" and device.type == "cuda")
        self.channels = cfg["input_channels"]

    def __call__(self):
        self.opt.zero_grad(set_to_none=True)
        x = self.host["x1"].to(self.device, non_blocking=False)
        batch = dict(self.host, x=x.expand(-1, self.channels, -1, -1))
        with autocast_for(self.mode, self.device):
            total, terms = weighted_losses(self.model, batch, self.cfg, self.weights)
        self.scaler.scale(total).backward()
        self.scaler.unscale_(self.opt)
        norm = torch.nn.utils.clip_grad_norm_([p for p in self.params if p.grad is not None], 0.25)
        self.scaler.step(self.opt)
        self.scaler.update()
        return terms, norm


def host_batch(full, B):
    """The first B samples of a load_batch dict: frames as one host channel (expanded on the
    device), ids and mask on the host (the BERT pre-hook moves them; the word grouping reads
    them there)."""
    return {"x1": full["x"][:B, :1].contiguous(), "ids": full["ids"][:B], "mask": full["mask"][:B],
            "itos": full["itos"], "cap_len_w": full["cap_len_w"][:B],
            "cap_len_s": full["cap_len_s"][:B], "captions": full["captions"][:B]}


class TorchOnDevice:
    """ref_afloc's view of torch, installed as ra.torch once the batch and the model are built:
    torch with torch.zeros defaulting to `device`. The reference's word / sentence aggregation
    allocates its buffers with torch.zeros(n, T, D) and no device. (torch.set_default_device
    would do it too, but its mode intercepts every torch call of both sides in Python.)"""

    def __init__(self, device):
        self._device = device

    def __getattr__(self, name):
        return getattr(torch, name)

    def zeros(self, *size, **kw):
        kw.setdefault("device", self._device)
        return torch.zeros(*size, **kw)


def build_model(cfg, device, seed=1):
    model = ra.make_model(cfg, seed).to(device)
    model.train()
    rt.set_dropout(model, True)
    bert = model.text_encoder.model
    bert.register_forward_pre_hook(
        lambda module, inputs: tuple(t.to(device, non_blocking=True) for t in inputs))
    return model


def is_oom(e):
    return isinstance(e, getattr(torch.cuda, "OutOfMemoryError", ())) or "out of memory" in str(e)


def torch_rows(model, full, cfg, device, batches, modes, steps, warmup, deadline):
    """Times every (B, weights, mode) row; -> list of row dicts like the C side's."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for w in WEIGHTS:                      # all three losses first: the goal's rows
        for B in batches:
            hb = host_batch(full, B)
            for mode in modes:
                row = {"impl": "torch", "math": mode, "B": B,
                       "weights": ",".join("%g" % v for v in w), "message": ""}
                rows.append(row)
                if time.time() > deadline:
                    row["status"] = "SKIPPED"
                    row["message"] = "time budget spent"
                    print_row(row)
                    continue
                set_tf32(mode)
                step = None
                try:
                    step = TorchStep(model, hb, cfg, mode, w, device)
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats()
                    walls = []
                    for k in range(warmup + steps):
                        sync()
                        t0 = time.perf_counter()
                        terms, norm = step()
                        sync()
                        if k >= warmup:
                            walls.append(time.perf_counter() - t0)
                    wall = statistics.median(walls)
                    losses = {k: float(v) for k, v in terms.items()}
                    finite = all(math.isfinite(v) for v in losses.values())
                    row.update(status="ok" if finite else "NONFINITE", wall_ms=1e3 * wall,
                               images_per_s=B / wall, grad_norm=float(norm),
                               mem_mib=(torch.cuda.max_memory_allocated() / 1048576.0
                                        if device.type == "cuda" else -1.0),
                               **{"loss_" + k: v for k, v in losses.items()})
                except RuntimeError as e:
                    row["status"] = "OOM" if is_oom(e) else "ERROR"
                    row["message"] = str(e).splitlines()[0][:200]
                del step
                gc.collect()
                if device.type == "cuda":
                    torch.cuda.empty_cache()
                print_row(row)
    return rows


def print_row(row):
    keys = ("status", "wall_ms", "images_per_s", "mem_mib", "loss_global", "loss_sentence",
            "loss_word", "grad_norm")
    parts = ["impl=%s math=%s B=%d weights=%s" % (row["impl"], row["math"], row["B"], row["weights"])]
    for k in keys:
        if k in row:
            v = row[k]
            parts.append("%s=%s" % (k, ("%.3f" % v) if isinstance(v, float) else v))
    print("train " + " ".join(parts) + (" -- " + row["message"] if row.get("message") else ""),
          flush=True)


# ---- the table ----

def table(c_rows, t_rows):
    """-> (lines of the comparison table, the goal lines, goal_met or None)."""
    def ok(r):
        return r is not None and r.get("status") == "ok"

    def find(rows, impl, math_, B, weights):
        for r in rows:
            if r["impl"] == impl and r["math"] == math_ and r["B"] == B and r["weights"] == weights:
                return r
        return None

    keys = sorted({(r["B"], r["weights"]) for r in c_rows + t_rows}, key=lambda k: (k[0], k[1] != "1,1,1"))
    head = ("%-4s %-7s %-31s %9s %9s %9s %9s  %-9s %-9s %-9s"
            % ("B", "weights", "implementation", "step ms", "dev ms", "images/s", "peak MiB",
               "vs fp32", "vs AMPfp16", "vs AMPbf16"))
    lines, goal_lines, goal_met = [head, "-" * len(head)], [], None
    for B, w in keys:
        refs = {m: find(t_rows, "torch", m, B, w) for m in MODES}
        entries = [("libafloc " + m, find(c_rows, "libafloc", m, B, w)) for m in ("fp32", "bf16")]
        entries += [(MODE_LABEL[m], refs[m]) for m in MODES]
        for label, r in entries:
            if r is None:
                continue
            if not ok(r):
                lines.append("%-4d %-7s %-31s %s" % (B, w, label, r.get("status", "?")))
                continue
            ratios = []
            if label.startswith("libafloc"):
                for m in ("fp32", "amp_fp16", "amp_bf16"):
                    ref = refs[m]
                    ratios.append("%.2fx" % (r["images_per_s"] / ref["images_per_s"]) if ok(ref) else "-")
            dev = r.get("device_ms")
            mem = r.get("mem_mib", -1.0)
            lines.append("%-4d %-7s %-31s %9.1f %9s %9.1f %9s  %-9s %-9s %-9s"
                         % (B, w, label, r["wall_ms"], "%.1f" % dev if dev is not None else "-",
                            r["images_per_s"], "%.0f" % mem if mem >= 0 else "-",
                            *(ratios + ["", "", ""])[:3]))
        best = max((r for _, r in entries[:2] if ok(r)), key=lambda r: r["images_per_s"], default=None)
        amp = refs["amp_fp16"]
        if best is not None and ok(amp):
            ratio = best["images_per_s"] / amp["images_per_s"]
            met = ratio >= GOAL
            goal_met = met if goal_met is None else goal_met and met
            goal_lines.append("goal B=%d weights=%s: libafloc %s %.1f images/s / PyTorch AMP fp16 %.1f "
                              "images/s = %.2fx (goal >= %.1fx): %s"
                              % (B, w, best["math"], best["images_per_s"], amp["images_per_s"], ratio,
                                 GOAL, "MET" if met else "NOT MET"))
    return lines, goal_lines, goal_met


# ---- the GPU run ----

def gpu_main(args):
    """The benchmark: data, the C side, the PyTorch side, the table; -> exit status. --device cpu
    and --config (a small model) exist for the CPU smoke, which runs this whole path with the C
    benchmark's host-ops build."""
    start = time.time()
    if not (os.path.isfile(args.bench) and os.access(args.bench, os.X_OK)):
        print("bench_gpu_train.py: the C benchmark %r is missing or not executable; build it with "
              "-DAFLOC_CUDA=ON (target bench_gpu_train) or run scripts/gpu-carry-prepare.sh"
              % args.bench, file=sys.stderr, flush=True)
        return 2
    batches = [int(b) for b in args.batches.split(",")]
    cfg = ra.load_config(args.config)
    with tempfile.TemporaryDirectory(prefix="bench_gpu_train.") as data_dir:
        vocab = prepare(data_dir, cfg, max(batches))
        with open(os.path.join(data_dir, "config.json"), "w") as f:
            json.dump(cfg, f)
        c_rc, c_rows = run_c(args.bench, data_dir, args, args.budget * args.c_share)
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            print("SKIP: torch sees no CUDA device (torch %s)" % torch.__version__, flush=True)
            return 77 if c_rc == 77 else 1
        torch.backends.cudnn.benchmark = True
        full = load_batch(data_dir, cfg, ra.WordPieceTokenizer(vocab))
    print("torch %s, %s, cudnn %s" % (torch.__version__, torch.cuda.get_device_name()
                                      if device.type == "cuda" else "CPU",
                                      torch.backends.cudnn.version()), flush=True)
    t0 = time.time()
    model = build_model(cfg, device)
    ra.torch = TorchOnDevice(device)
    print("PyTorch model build %.1f s; rows of %d warm-up + %d timed steps" %
          (time.time() - t0, args.warmup, args.steps), flush=True)
    t_rows = torch_rows(model, full, cfg, device, batches, MODES, args.steps, args.warmup,
                        start + args.budget)
    lines, goal_lines, _ = table(c_rows, t_rows)
    print("\n== training step, %s config, median of %d steps (images/s = B / step; ratio columns: "
          "libafloc images/s / PyTorch's) ==" % ("paper" if args.config == "default" else args.config,
                                                 args.steps))
    print("\n".join(lines + goal_lines), flush=True)
    failed = [r for r in c_rows + t_rows if r.get("status") not in ("ok", "OOM", "SKIPPED")]
    if c_rc == 77:
        print("libafloc found no CUDA device but torch does: see the SKIP line above")
        return 1
    return 1 if failed or c_rc not in (0,) else 0


# ---- the CPU smoke check ----

SMOKE_C_OUTPUT = """bench_gpu_train: backend: cuda (canned)
train impl=libafloc math=fp32 B=2 weights=1,1,1 status=ok wall_ms=10.000 device_ms=9.500 images_per_s=200.0 mem_mib=123 loss_global=1.0 loss_sentence=2.0 loss_word=3.0 grad_norm=0.5
train impl=libafloc math=bf16 B=2 weights=1,1,1 status=ok wall_ms=5.000 device_ms=4.500 images_per_s=400.0 mem_mib=100 loss_global=1.0 loss_sentence=2.0 loss_word=3.0 grad_norm=0.5
train impl=libafloc math=fp32 B=4 weights=1,1,0 status=OOM -- afloc_device_train_create: out of device memory
"""


def smoke_check(name, cond, detail, failures):
    print("%-58s %s  %s" % (name, "OK" if cond else "FAIL", detail), flush=True)
    if not cond:
        failures.append(name)


def host_bench_checks(host_bench, data_dir, cfg, failures):
    """Runs the C benchmark's host-ops build (tests/gpubench) on the smoke's data and config, then
    on its own made-up data with a device allocation made to fail; -> the first run's rows."""
    config = os.path.join(data_dir, "config.json")
    with open(config, "w") as f:
        json.dump(cfg, f)
    env = dict(os.environ, OMP_WAIT_POLICY="passive", OMP_NUM_THREADS="2")
    common = ["--config", config, "--steps", "1", "--warmup", "0"]
    p = subprocess.run([host_bench, "--data", data_dir, "--batches", "2,4"] + common, env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=300)
    print(p.stdout, end="")
    rows = parse_rows(p.stdout)
    ok = [r for r in rows if r.get("status") == "ok"]
    smoke_check("host build, --data: exit 0, 8 rows ok", p.returncode == 0 and len(ok) == 8,
                "rc %d, %d rows ok" % (p.returncode, len(ok)), failures)
    off = [r for r in ok if r["weights"] == "1,1,0"]
    on = [r for r in ok if r["weights"] == "1,1,1"]
    smoke_check("host build: L_SW 0 and no word time with weights 1,1,0",
                len(off) == 4 and all(r["loss_word"] == 0 and r["word_ms"] == 0 for r in off)
                and all(r["loss_word"] > 0 for r in on), "", failures)
    smoke_check("host build: images/s = B / step, memory unknown (-1)",
                ok and all(abs(r["images_per_s"] - r["B"] / (r["wall_ms"] / 1e3)) <= 0.06 + 1e-3 * r["images_per_s"]
                           and r["mem_mib"] == -1 and r["device_ms"] >= 0 for r in ok), "", failures)
    g = [r["loss_global"] for r in ok]
    smoke_check("host build: L_GR within 2 ln B x [0.5, 1.5]",
                ok and all(0.5 < r["loss_global"] / (2 * math.log(r["B"])) < 1.5 for r in ok),
                "L_GR %s" % ["%.3f" % v for v in g], failures)
    env["BENCH_HOST_FAIL_ALLOC"] = "3"
    p = subprocess.run([host_bench, "--batches", "2"] + common, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=300)
    print(p.stdout, end="")
    oom = parse_rows(p.stdout)
    smoke_check("host build, made-up data, 3rd allocation fails: fp32 OOM rows, bf16 rows ok, exit 0",
                p.returncode == 0 and [(r["math"], r["status"]) for r in oom]
                == [("fp32", "OOM"), ("fp32", "OOM"), ("bf16", "ok"), ("bf16", "ok")],
                "rc %d, %s" % (p.returncode, [(r["math"], r["status"]) for r in oom]), failures)
    return rows


def cpu_smoke(args):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")   # the C host build's OpenMP (see README)
    failures = []
    t_start = time.time()
    # Tiny config: every code path of the default (the small oracle config) at 64 px frames.
    over = dict(ra.SMALL_OVERRIDES, image_size=64, crop_size=64, upsample_size=86)
    with tempfile.TemporaryDirectory(prefix="bench_gpu_train_smoke.") as d:
        path = os.path.join(d, "tiny.json")
        with open(path, "w") as f:
            json.dump(over, f)
        cfg = ra.load_config(path)
        vocab = prepare(d, cfg, 4)
        caps = open(os.path.join(d, "captions.txt"), encoding="utf-8").read().splitlines()
        frames = np.fromfile(os.path.join(d, "frames.f32"), dtype=np.float32)
        smoke_check("prepare: 4 captions of 3-6 sentences",
                    len(caps) == 4 and all(3 <= c.count(". ") + 1 <= 6 for c in caps),
                    "sentences %s" % [c.count(". ") + 1 for c in caps], failures)
        smoke_check("prepare: frames 4 x 64 x 64 in [-1, 1], not constant",
                    frames.size == 4 * 64 * 64 and frames.min() >= -1 and frames.max() <= 1
                    and frames.std() > 0.05, "range [%.3f, %.3f] std %.3f"
                    % (frames.min(), frames.max(), frames.std()), failures)
        full = load_batch(d, cfg, ra.WordPieceTokenizer(vocab))
        host_rows = host_bench_checks(args.host_bench, d, cfg, failures) if args.host_bench else []
    unk = ra.WordPieceTokenizer(vocab).unk
    smoke_check("captions tokenize to real words (few [UNK])",
                float((full["ids"] == unk).float().mean()) < 0.05 and min(full["cap_len_w"]) > 5,
                "cap_len_w %s" % full["cap_len_w"], failures)

    device = torch.device("cpu")
    model = build_model(cfg, device)
    ra.torch = TorchOnDevice(device)   # the GPU run's path, here onto the CPU
    probe = model.img_encoder.global_embedder.weight
    before = probe.detach().clone()
    t_rows = torch_rows(model, full, cfg, device, [2, 4], MODES, steps=1, warmup=0,
                        deadline=time.time() + 600)
    smoke_check("every PyTorch row ran with finite losses",
                len(t_rows) == 12 and all(r["status"] == "ok" for r in t_rows),
                "%d rows, statuses %s" % (len(t_rows), sorted({r["status"] for r in t_rows})), failures)
    smoke_check("Adam moved the weights", not torch.equal(before, probe.detach()),
                "max |dw| %.3g" % float((before - probe.detach()).abs().max()), failures)
    off = [r for r in t_rows if r["weights"] == "1,1,0"]
    smoke_check("weights 1,1,0 skip L_SW", off and all("loss_word" not in r for r in off)
                and all("loss_word" in r for r in t_rows if r["weights"] == "1,1,1"),
                "%d rows without loss_word" % len(off), failures)
    # At B samples L_GR starts near 2 ln B (random embeddings): a wrong reduction shows.
    g4 = [r["loss_global"] for r in t_rows if r["B"] == 4 and r.get("status") == "ok"]
    smoke_check("L_GR near 2 ln 4 = 2.77 at B 4", g4 and all(2.0 < v < 3.5 for v in g4),
                "L_GR %s" % ["%.3f" % v for v in g4], failures)
    step = TorchStep(model, host_batch(full, 2), cfg, "fp32", WEIGHTS[1], device)
    step()
    smoke_check("no gradient for local2_embedder with L_SW off",
                model.img_encoder.local2_embedder.weight.grad is None, "", failures)
    # The timed step's data path (one host channel expanded, ids on the host through the BERT
    # pre-hook, the torch.zeros shim) gives the reference's own forward_losses, dropout off.
    rt.set_dropout(model, False)
    with torch.no_grad():
        hb = host_batch(full, 4)
        got, _ = weighted_losses(model, dict(hb, x=hb["x1"].expand(-1, cfg["input_channels"], -1, -1)),
                                 cfg, WEIGHTS[0])
        ref = dict(full)
        want = rt.forward_losses(model, ref, cfg)["total"]
    rt.set_dropout(model, True)
    smoke_check("step's losses == rt.forward_losses (fp32, no dropout)",
                abs(float(got) - float(want)) <= 1e-5 * abs(float(want)),
                "%.7f vs %.7f" % (float(got), float(want)), failures)

    # The parser and the table on a canned C output, against these PyTorch rows.
    c_rows = parse_rows(SMOKE_C_OUTPUT)
    smoke_check("parser reads 3 C rows", len(c_rows) == 3 and c_rows[0]["images_per_s"] == 200.0
                and c_rows[2]["status"] == "OOM" and c_rows[2]["B"] == 4
                and "out of device memory" in c_rows[2]["message"], "%s" % [r["status"] for r in c_rows],
                failures)
    echo = [r for r in parse_rows("\n".join(
        "train impl=%s math=%s B=%d weights=%s status=%s" % (r["impl"], r["math"], r["B"], r["weights"], r["status"])
        for r in t_rows))]
    smoke_check("PyTorch rows print in the same parseable form", len(echo) == len(t_rows), "", failures)
    fake = [dict(r) for r in t_rows]
    for r in fake:                         # fixed speeds so the ratio is known: AMP fp16 = 160/s
        r["images_per_s"] = {"amp_fp16": 160.0, "amp_bf16": 200.0, "fp32": 100.0}[r["math"]]
    if host_rows:                          # the host build's real rows against the real torch rows
        lines, _, _ = table(host_rows, t_rows)
        print("\n".join(lines))
        smoke_check("table from the host build's rows has libafloc ratios",
                    sum(1 for line in lines if line.split()[2:3] == ["libafloc"] and "x" in line[-30:]) == 8,
                    "", failures)
    lines, goal_lines, met = table(c_rows, fake)
    print("\n".join(lines + goal_lines))
    want = "libafloc bf16 400.0 images/s / PyTorch AMP fp16 160.0 images/s = 2.50x"
    smoke_check("table: bf16 row's ratios 4.00x / 2.50x / 2.00x",
                any("libafloc bf16" in line and "4.00x" in line and "2.50x" in line
                    and "2.00x" in line for line in lines), "", failures)
    smoke_check("goal line B=2: 2.50x MET, and OOM row listed",
                any(want in g and "MET" in g for g in goal_lines) and met is True
                and any("OOM" in line for line in lines), "; ".join(goal_lines), failures)

    if args.host_bench:                    # the whole runner, C host build + PyTorch on the CPU
        path = os.path.join(tempfile.gettempdir(), "bench_gpu_train_smoke_%d.json" % os.getpid())
        with open(path, "w") as f:
            json.dump(over, f)
        run = argparse.Namespace(bench=args.host_bench, steps=1, warmup=0, batches="2",
                                 budget=600.0, c_share=0.5, config=path, device="cpu")
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            rc = gpu_main(run)
        os.unlink(path)
        text = out.getvalue()
        print(text, end="")
        rows = parse_rows(text)
        smoke_check("runner end to end (host build + CPU torch): exit 0, 4 + 6 rows ok, table",
                    rc == 0 and sum(r["impl"] == "libafloc" and r["status"] == "ok" for r in rows) == 4
                    and sum(r["impl"] == "torch" and r["status"] == "ok" for r in rows) == 6
                    and re.search(r"goal B=2 weights=1,1,1: libafloc \w+ [0-9.]+ images/s / PyTorch AMP "
                                  r"fp16 [0-9.]+ images/s = [0-9.]+x", text) is not None,
                    "rc %d, %d rows" % (rc, len(rows)), failures)

    # The runner without its C binary: a clear message and a non-zero exit, before any GPU work.
    p = subprocess.run([sys.executable, os.path.abspath(__file__), os.path.join(tempfile.gettempdir(),
                        "no-such-dir", "bench_gpu_train")], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    smoke_check("missing C binary: exit 2 with a message", p.returncode == 2
                and "missing or not executable" in p.stdout, "rc %d" % p.returncode, failures)
    print("bench_gpu_train smoke: %d checks failed, %.1f s" % (len(failures), time.time() - t_start))
    return 1 if failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench", nargs="?", help="path to the bench_gpu_train binary")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--batches", default="64,128")
    ap.add_argument("--budget", type=float, default=130.0, help="seconds for the whole script")
    ap.add_argument("--c-share", type=float, default=0.45,
                    help="share of the budget the C benchmark may take before it is stopped")
    ap.add_argument("--config", default="default",
                    help="model config: the paper's, or a JSON file of ref_afloc overrides")
    ap.add_argument("--device", default="cuda", help="torch device of the reference (cpu: smoke)")
    ap.add_argument("--cpu-smoke", action="store_true")
    ap.add_argument("--host-bench", help="with --cpu-smoke: the host-ops build of the C benchmark "
                    "(tests/gpubench's bench_gpu_train_host) to run on the smoke's data")
    args = ap.parse_args()
    if args.cpu_smoke:
        return cpu_smoke(args)
    if not args.bench:
        ap.error("give the path of the bench_gpu_train binary (or --cpu-smoke)")
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps >= 1 and --warmup >= 0")
    return gpu_main(args)


if __name__ == "__main__":
    sys.exit(main())
