#!/usr/bin/python3
"""ref_afloc.py: an independent PyTorch implementation of AFLoc's inference forward pass, the
oracle the C engine is compared against (DESIGN.md §8, STYLE.md §8, MODEL.md §13 items 1-5).

Built only from torchvision's ResNet/Bottleneck classes and torch.nn layers; no transformers, no
official AFLoc code. Module names equal the official ones, so `state_dict()` keys are the
checkpoint keys of MODEL.md §10.2 (`img_encoder.model.layer1.0.conv1.weight`,
`text_encoder.model.encoder.layer.0.attention.self.query.weight`, ...).

What it computes (eval mode, fp32, deterministic, 1-2 threads):
  image: 8-bit gray -> letterbox (cv2 INTER_AREA, truncated short side, zero pad floor/ceil)
         -> centre crop -> /255 -> (x-0.5)/0.5 -> 3 channels -> bilinear 299 (align_corners=True)
         -> ResNet (layer2/3/4) -> heads img_emb_g, img_emb_l, img_emb_l2 [, img_emb_lf]  (§2-3)
  text:  §4.1 cleaning (Python re) -> BERT basic + WordPiece tokenizer -> BertModel hidden
         states -> last-n sum -> word groups (§5.3) -> text_emb_w, text_emb_r (1/97), text_emb_s
  map:   img_emb_l · text_emb_r -> gaussian_filter(σ 1.5) -> bilinear 224 (align_corners=False)
         -> min-max to [-1, 1] over the whole map (no margin)                          (§8.1-8.4)
  cls:   cos(img_emb_g, text_emb_r(prompt)) per prompt, softmax over prompts, temperature 1 (§8.5)

Layouts: images NCHW row-major; word/sentence features [B, D, T] as in the official code.

Usage:
  ref_afloc.py --config small|default|CONFIG.json --seed S --out DIR [--images N] [--prompts N]
               (defaults: 4 images x 9 prompts; 2 x 4 for --config default)
               [--plain-hparams] [--threads T] [--no-selfcheck]
writes DIR/checkpoint.ckpt, vocab.txt, config.json, images/*.png, prompts.txt,
reference.safetensors (tensor names listed in tests/model/README.md).
  ref_afloc.py --selfcheck-only   runs the self-checks (default-config key/parameter counts,
                                  Gaussian against numpy, §1 shapes) and exits.
"""
import argparse
import json
import math
import os
import re
import struct
import sys
import time
import types
import unicodedata

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- configuration (the C keys of src/config.h) ----

DEFAULT_CONFIG = {
    "resnet_blocks": [3, 4, 6, 3], "resnet_planes": [64, 128, 256, 512], "resnet_base_width": 64,
    "resnet_stem": 64, "input_channels": 3, "bn_eps": 1e-5,
    "image_size": 224, "crop_size": 224, "upsample_size": 299, "use_local_f_embedder": 0,
    "bert_layers": 12, "bert_hidden": 768, "bert_heads": 12, "bert_intermediate": 3072,
    "vocab_size": 28996, "max_positions": 512, "type_vocab_size": 2, "layernorm_eps": 1e-12,
    "last_n_layers": 4, "token_length": 97, "captions_per_image": 5,
    "embedding_dim": 768, "temp1": 4.0, "temp2": 5.0, "temp3": 10.0,
    "gaussian_sigma": 1.5, "gaussian_truncate": 4.0, "map_alignment": 0,
    "local_position": 0,
}

# Small: every code path of the default, tiny widths. The geometry (224 -> 299 -> 38/19/10) is
# kept so the map pipeline is the real one. last_n_layers 2 of 3 layers: a selection bug that
# takes the first layers or the embedding output shows.
SMALL_OVERRIDES = {
    "resnet_blocks": [1, 1, 1, 1], "resnet_planes": [8, 16, 32, 64], "resnet_base_width": 64,
    "resnet_stem": 16, "use_local_f_embedder": 1,
    "bert_layers": 3, "bert_hidden": 64, "bert_heads": 4, "bert_intermediate": 128,
    "vocab_size": 1500, "max_positions": 128, "last_n_layers": 2, "embedding_dim": 64,
}

INT_KEYS = {k for k, v in DEFAULT_CONFIG.items() if isinstance(v, int)}
FLOAT_KEYS = {k for k, v in DEFAULT_CONFIG.items() if isinstance(v, float)}
LIST_KEYS = {"resnet_blocks", "resnet_planes"}


def load_config(name):
    """'default', 'small', 'small_position' or a JSON file with any subset of the C keys (unknown keys rejected)."""
    cfg = json.loads(json.dumps(DEFAULT_CONFIG))
    if name == "default":
        over = {}
    elif name == "small":
        over = SMALL_OVERRIDES
    elif name == "small_position":  # small with libafloc's position term (local_position 1)
        over = dict(SMALL_OVERRIDES, local_position=1)
    else:
        with open(name) as f:
            over = json.load(f)
    for k, v in over.items():
        if k not in DEFAULT_CONFIG:
            raise ValueError("config: unknown key %r" % k)
        if k in LIST_KEYS:
            if not (isinstance(v, list) and len(v) == 4 and all(isinstance(x, int) and x > 0 for x in v)):
                raise ValueError("config: %s must be 4 positive integers" % k)
        elif k in FLOAT_KEYS:
            v = float(v)
        elif not isinstance(v, int) or isinstance(v, bool):
            raise ValueError("config: %s must be an integer" % k)
        cfg[k] = v
    if cfg["embedding_dim"] != cfg["bert_hidden"]:
        raise ValueError("config: embedding_dim must equal bert_hidden (no text projection, §5.7)")
    if cfg["bert_hidden"] % cfg["bert_heads"]:
        raise ValueError("config: bert_hidden must be a multiple of bert_heads")
    if not 1 <= cfg["last_n_layers"] <= cfg["bert_layers"] + 1:
        raise ValueError("config: last_n_layers must be in 1..bert_layers+1")
    if cfg["token_length"] > cfg["max_positions"] or cfg["token_length"] < 2:
        raise ValueError("config: token_length must be in 2..max_positions")
    if cfg["crop_size"] > cfg["image_size"]:
        raise ValueError("config: crop_size must not exceed image_size")
    return cfg


def conv_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def feature_sides(cfg):
    """layer2/layer3/layer4 output sides (38/19/10 for 299), as torchvision's layers compute them."""
    n = conv_out(cfg["upsample_size"], 7, 2, 3)   # stem conv
    n = conv_out(n, 3, 2, 1)                      # maxpool; layer1 keeps it
    l2 = conv_out(n, 3, 2, 1)
    l3 = conv_out(l2, 3, 2, 1)
    l4 = conv_out(l3, 3, 2, 1)
    return l2, l3, l4


# ---- image encoder: torchvision ResNet + heads (§3) ----

def build_resnet(cfg):
    from torchvision.models.resnet import Bottleneck, ResNet
    m = ResNet(Bottleneck, list(cfg["resnet_blocks"]), width_per_group=cfg["resnet_base_width"])
    stem, planes = cfg["resnet_stem"], list(cfg["resnet_planes"])
    if stem != 64 or planes != [64, 128, 256, 512] or cfg["input_channels"] != 3:
        # torchvision hard-codes 64 and (64, 128, 256, 512); rebuild with the class's own
        # _make_layer so torchvision's Bottleneck code is still what runs.
        m.inplanes = stem
        m.conv1 = nn.Conv2d(cfg["input_channels"], stem, kernel_size=7, stride=2, padding=3, bias=False)
        m.bn1 = nn.BatchNorm2d(stem)
        m.layer1 = m._make_layer(Bottleneck, planes[0], cfg["resnet_blocks"][0])
        m.layer2 = m._make_layer(Bottleneck, planes[1], cfg["resnet_blocks"][1], stride=2)
        m.layer3 = m._make_layer(Bottleneck, planes[2], cfg["resnet_blocks"][2], stride=2)
        m.layer4 = m._make_layer(Bottleneck, planes[3], cfg["resnet_blocks"][3], stride=2)
        for mod in m.modules():  # torchvision's own init for the rebuilt modules
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.BatchNorm2d):
                nn.init.ones_(mod.weight)
                nn.init.zeros_(mod.bias)
    m.fc = nn.Identity()
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.eps = cfg["bn_eps"]
    return m


class ImageEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, planes = cfg["embedding_dim"], cfg["resnet_planes"]
        self.model = build_resnet(cfg)
        self.global_embedder = nn.Linear(4 * planes[3], d)
        self.local_embedder = nn.Conv2d(4 * planes[2], d, kernel_size=1, bias=False)
        self.local2_embedder = nn.Conv2d(4 * planes[1], d, kernel_size=1, bias=False)
        if cfg["use_local_f_embedder"]:
            self.local_f_embedder = nn.Conv2d(4 * planes[3], d, kernel_size=1, bias=False)
        if cfg["local_position"]:
            # libafloc's position term (not in the paper): a Linear(2, d) of the cell's (x, y),
            # its offset from the grid's centre in cells, added to the deep-local embedding
            self.local_position = nn.Linear(2, d, bias=False)
        self.pool = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        """x [B, C, crop, crop] normalised -> dict of named tensors."""
        out = {}
        n = self.cfg["upsample_size"]
        x = F.interpolate(x, size=(n, n), mode="bilinear", align_corners=True)
        out["x299"] = x
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        x = m.layer1(x)
        x = m.layer2(x)
        out["layer2"] = x
        x = m.layer3(x)
        out["layer3"] = x
        x = m.layer4(x)
        out["layer4"] = x
        g = self.pool(x).flatten(1)
        out["img_emb_g"] = self.global_embedder(g)
        out["img_emb_l"] = self.local_embedder(out["layer3"])
        if hasattr(self, "local_position"):
            H, W = out["img_emb_l"].shape[2:]
            dt = out["img_emb_l"].dtype  # float64 in ref_train.py's double pass
            ys = torch.arange(H, dtype=dt) - (H - 1) / 2.0
            xs = torch.arange(W, dtype=dt) - (W - 1) / 2.0
            yy, xx = torch.meshgrid(ys, xs, indexing="ij")
            coords = torch.stack([xx, yy], dim=-1)                       # [H, W, 2]
            out["img_emb_l"] = out["img_emb_l"] + self.local_position(coords).permute(2, 0, 1)[None]
        out["img_emb_l2"] = self.local2_embedder(out["layer2"])
        if hasattr(self, "local_f_embedder"):
            out["img_emb_lf"] = self.local_f_embedder(out["layer4"])
        return out


# ---- text encoder: HF BertModel rebuilt from torch.nn (§5.1); module names as HF's ----

class BertEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["bert_hidden"]
        self.word_embeddings = nn.Embedding(cfg["vocab_size"], h, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg["max_positions"], h)
        self.token_type_embeddings = nn.Embedding(cfg["type_vocab_size"], h)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg["layernorm_eps"])
        self.dropout = nn.Dropout(0.1)
        self.register_buffer("position_ids", torch.arange(cfg["max_positions"]).expand((1, -1)))

    def forward(self, ids, types_):
        pos = self.position_ids[:, :ids.shape[1]]
        e = self.word_embeddings(ids) + self.position_embeddings(pos) + self.token_type_embeddings(types_)
        return self.dropout(self.LayerNorm(e))


class BertSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["bert_hidden"]
        self.heads, self.head_dim = cfg["bert_heads"], h // cfg["bert_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.dropout = nn.Dropout(0.1)

    def split(self, x):  # [B, L, H] -> [B, heads, L, head_dim]
        b, l, _ = x.shape
        return x.view(b, l, self.heads, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x, mask_bias):
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask_bias
        p = self.dropout(torch.softmax(scores, dim=-1))
        c = torch.matmul(p, v).permute(0, 2, 1, 3).contiguous()
        return c.view(c.shape[0], c.shape[1], -1)


class BertSelfOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        h = cfg["bert_hidden"]
        self.dense = nn.Linear(h, h)
        self.LayerNorm = nn.LayerNorm(h, eps=cfg["layernorm_eps"])
        self.dropout = nn.Dropout(0.1)

    def forward(self, c, x):
        return self.LayerNorm(self.dropout(self.dense(c)) + x)


class BertAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.self = BertSelfAttention(cfg)
        self.output = BertSelfOutput(cfg)

    def forward(self, x, mask_bias):
        return self.output(self.self(x, mask_bias), x)


class BertIntermediate(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["bert_hidden"], cfg["bert_intermediate"])

    def forward(self, x):
        return F.gelu(self.dense(x))  # exact erf GELU (torch default)


class BertOutput(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["bert_intermediate"], cfg["bert_hidden"])
        self.LayerNorm = nn.LayerNorm(cfg["bert_hidden"], eps=cfg["layernorm_eps"])
        self.dropout = nn.Dropout(0.1)

    def forward(self, f, a):
        return self.LayerNorm(self.dropout(self.dense(f)) + a)


class BertLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.attention = BertAttention(cfg)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertOutput(cfg)

    def forward(self, x, mask_bias):
        a = self.attention(x, mask_bias)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(cfg) for _ in range(cfg["bert_layers"])])


class BertPooler(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.dense = nn.Linear(cfg["bert_hidden"], cfg["bert_hidden"])
        self.activation = nn.Tanh()


class BertModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)
        self.pooler = BertPooler(cfg)

    def forward(self, ids, mask, types_):
        """Returns hidden_states: [embedding output, layer 0 output, ...] (bert_layers + 1)."""
        mask_bias = (1.0 - mask[:, None, None, :].to(torch.float32)) * -10000.0
        x = self.embeddings(ids, types_)
        hidden = [x]
        for layer in self.encoder.layer:
            x = layer(x, mask_bias)
            hidden.append(x)
        return hidden


class TextEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.model = BertModel(cfg)


class AFLoc(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.img_encoder = ImageEncoder(cfg)
        self.text_encoder = TextEncoder(cfg)


# ---- random but realistic weights ----

def calibrate_batchnorm(enc, cfg, gen):
    """Sets BN running statistics from the batch statistics of smooth random inputs (train-mode
    pass, cumulative average), so eval-mode activations keep a realistic scale through the
    whole trunk, then perturbs them so folding is exercised on non-trivial values."""
    n = cfg["crop_size"]
    base = torch.rand(4, 1, 16, 16, generator=gen) * 2 - 1
    x = F.interpolate(base, size=(n, n), mode="bilinear", align_corners=False)
    x = (x + 0.1 * torch.randn(4, 1, n, n, generator=gen)).clamp(-1, 1)
    x = x.expand(-1, cfg["input_channels"], -1, -1).contiguous()
    bns = [m for m in enc.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    enc.train()
    with torch.no_grad():
        enc(x)
    enc.eval()
    for m in bns:
        m.momentum = 0.1
        c = m.num_features
        m.running_mean.add_(0.1 * torch.randn(c, generator=gen) * m.running_var.sqrt())
        m.running_var.mul_(torch.rand(c, generator=gen) * 0.5 + 0.75).clamp_(min=1e-4)
        m.num_batches_tracked.fill_(1000)


def make_model(cfg, seed):
    """AFLoc with PyTorch/torchvision default inits under `seed`, then randomised BN affine,
    BERT weights and calibrated BN statistics; in eval mode."""
    torch.manual_seed(seed)
    model = AFLoc(cfg)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, m in model.img_encoder.named_modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                # U(0.5, 1.5); the last BN of a residual branch U(0.2, 0.6), as in trained
                # ResNets, so the trunk's output scale stays O(1)-O(10) through 16 blocks.
                lo, hi = (0.2, 0.6) if name.endswith("bn3") else (0.5, 1.5)
                m.weight.copy_(lo + (hi - lo) * torch.rand(c, generator=gen))
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)         # N(0, 0.1)
        # BERT: HF-style normal init, scaled so attention logits are O(1) at any width; biases
        # and LayerNorm affine randomised so no term is a no-op.
        std = 0.03 * math.sqrt(768.0 / cfg["bert_hidden"])
        for name, p in model.text_encoder.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            elif "LayerNorm.bias" in name or name.endswith(".bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(std * torch.randn(p.shape, generator=gen))
    calibrate_batchnorm(model.img_encoder, cfg, gen)
    if hasattr(model.img_encoder, "local_position"):
        # the position term in cell units (up to 9 cells out at 19x19): weights N(0, 0.1) give
        # a term as large as img_emb_l (std ~1) near the edges, where a trained one matters
        with torch.no_grad():
            w = model.img_encoder.local_position.weight
            w.copy_(0.1 * torch.randn(w.shape, generator=gen))
    model.eval()
    return model


# ---- image preprocessing (§2.2) ----

def letterbox_u8(gray, s):
    """_resize_img: long side -> s, short side truncated, cv2 INTER_AREA, zero pad floor/ceil."""
    import cv2
    h, w = gray.shape
    if h >= w:
        rh, rw = s, int(w * (s / h))
    else:
        rh, rw = int(h * (s / w)), s
    rh, rw = max(rh, 1), max(rw, 1)
    r = cv2.resize(gray, (rw, rh), interpolation=cv2.INTER_AREA).reshape(rh, rw)
    out = np.zeros((s, s), dtype=np.uint8)
    top, left = (s - rh) // 2, (s - rw) // 2
    out[top:top + rh, left:left + rw] = r
    return out


def preprocess(gray, cfg):
    """-> (letterboxed u8 [S, S], normalised [1, C, crop, crop] float32)."""
    lb = letterbox_u8(gray, cfg["image_size"])
    s, c = cfg["image_size"], cfg["crop_size"]
    top = int(round((s - c) / 2.0))     # torchvision CenterCrop (Python round)
    crop = lb[top:top + c, top:top + c]
    t = torch.from_numpy(crop.copy()).to(torch.float32).div(255.0)
    t = (t - 0.5) / 0.5
    t = t[None, None].expand(1, cfg["input_channels"], c, c).contiguous()
    return lb, t


# ---- text preprocessing (§4.1, §4.2) and tokenizer (§4.4) ----

def clean_text(text):
    text = text.replace("\n", " ")
    pieces = re.split(r"[0-9]+\.", text)
    candidates = [s for p in pieces for s in p.split(".")]
    sents = []
    for cand in candidates:
        if not cand:
            continue
        cand = cand.replace("\ufffd\ufffd", " ")
        tokens = re.findall(r"\w+", cand.lower())
        if len(tokens) <= 1:
            continue
        kept = []
        for t in tokens:
            t = t.encode("ascii", "ignore").decode("ascii")
            if t:
                kept.append(t)
        sents.append(" ".join(kept))
    return " ".join(sents)


def _is_whitespace(ch):
    return ch in " \t\n\r" or unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPieceTokenizer:
    """BERT basic tokenizer (lowercase, strip accents, punctuation split, CJK spacing) followed
    by greedy longest-match WordPiece; written from the algorithm's description."""

    def __init__(self, vocab_lines):
        self.itos = list(vocab_lines)
        self.stoi = {}
        for i, t in enumerate(self.itos):
            self.stoi.setdefault(t, i)
        self.pad, self.unk = self.stoi["[PAD]"], self.stoi["[UNK]"]
        self.cls, self.sep = self.stoi["[CLS]"], self.stoi["[SEP]"]

    def basic(self, text):
        chars = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            if _is_whitespace(ch):
                chars.append(" ")
            elif _is_cjk(cp):
                chars.extend([" ", ch, " "])
            else:
                chars.append(ch)
        out = []
        for tok in "".join(chars).split():
            tok = unicodedata.normalize("NFD", tok.lower())
            tok = "".join(c for c in tok if unicodedata.category(c) != "Mn")
            cur = ""
            for c in tok:
                if _is_punctuation(c):
                    if cur:
                        out.append(cur)
                    out.append(c)
                    cur = ""
                else:
                    cur += c
            if cur:
                out.append(cur)
        return out

    def wordpiece(self, word):
        if len(word) > 100:
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = word[start:end] if start == 0 else "##" + word[start:end]
                if sub in self.stoi:
                    found = sub
                    break
                end -= 1
            if found is None:
                return ["[UNK]"]
            pieces.append(found)
            start = end
        return pieces

    def encode(self, text, length):
        """-> (ids, mask, types) each [length] int64, and the pieces list incl. [CLS]/[SEP]."""
        pieces = [p for w in self.basic(text) for p in self.wordpiece(w)][:length - 2]
        pieces = ["[CLS]"] + pieces + ["[SEP]"]
        ids = [self.stoi.get(p, self.unk) for p in pieces]
        n = len(ids)
        ids = ids + [self.pad] * (length - n)
        mask = [1] * n + [0] * (length - n)
        return (torch.tensor(ids, dtype=torch.int64), torch.tensor(mask, dtype=torch.int64),
                torch.zeros(length, dtype=torch.int64), pieces)


# ---- text features (§5.2-5.6) ----

def aggregate_words(E, ids, itos):
    """E [n, T, D] (last-n hidden states of one sample), ids [T] -> (Ew [n, T, D], names[T]).
    Groups: [CLS] alone, then a non-## piece opens a group and ## pieces join it, [SEP] closes
    the open group and is its own group; group feature = sum of members."""
    n, T, D = E.shape
    groups, names = [], []
    bank, bank_names = [], []
    for t in range(T):
        word = itos[int(ids[t])]
        if word == "[SEP]":
            groups.append(torch.stack(bank).sum(dim=0))
            names.append("".join(bank_names))
            groups.append(E[:, t])
            names.append(word)
            break
        if word.startswith("##"):
            bank.append(E[:, t])
            bank_names.append(word[2:])
        else:
            if bank:
                groups.append(torch.stack(bank).sum(dim=0))
                names.append("".join(bank_names))
            bank, bank_names = [E[:, t]], [word]
    Ew = torch.zeros(n, T, D)
    Ew[:, :len(groups)] = torch.stack(groups, dim=1)
    return Ew, names + ["[PAD]"] * (T - len(names))


def aggregate_sentences(Ew, names):
    """§5.6: slot 0 = [CLS], slots 1..K = mean of word groups between '.' delimiters, slot K+1 =
    [SEP]. An empty segment (empty text) is a zero vector here (the reference gives NaN)."""
    n, T, D = Ew.shape
    s = names.index("[SEP]")
    n_words = s - 1
    delims = [k for k in range(1, n_words) if names[k] == "."] + [s]
    Es = torch.zeros(n, T, D)
    Es[:, 0] = Ew[:, 0]
    prev, nan_segment = 0, False
    for j, d in enumerate(delims):
        seg = Ew[:, prev + 1:d]
        if seg.shape[1] == 0:
            nan_segment = True
        else:
            Es[:, 1 + j] = seg.mean(dim=1)
        prev = d
    K = len(delims)
    Es[:, K + 1] = Ew[:, s]
    snames = ["[CLS]"] + ["sent%d" % j for j in range(K)] + ["[SEP]"]
    return Es, snames + ["[PAD]"] * (T - len(snames)), nan_segment


def encode_text(model, tok, prompt, cfg, clean=True):
    """clean=True: an inference prompt (§4.2); False: a training caption tokenized as is."""
    T, nl = cfg["token_length"], cfg["last_n_layers"]
    cleaned = clean_text(prompt) if clean else prompt
    ids, mask, types_, pieces = tok.encode(cleaned, T)
    hidden = model.text_encoder.model(ids[None], mask[None], types_[None])
    E = torch.stack(hidden[-nl:], dim=1)                      # [1, n, T, D]
    Ew, names = aggregate_words(E[0], ids, tok.itos)
    Es, snames, nan_seg = aggregate_sentences(Ew, names)
    out = {
        "ids": ids[None].to(torch.int32), "mask": mask[None].to(torch.int32),
        "hidden_last4": E,
        "text_emb_w": Ew.sum(dim=0).t()[None].contiguous(),    # [1, D, T]
        "text_emb_s": Es.sum(dim=0).t()[None].contiguous(),    # [1, D, T]
        "text_emb_r": Ew.mean(dim=1).sum(dim=0)[None],         # (1/T)·Σ slots, then Σ layers
    }
    info = {"clean": cleaned, "pieces": pieces,
            "words": [c for c in names if c != "[PAD]"],
            "sentences": [c for c in snames if c != "[PAD]"], "empty_sentence": nan_seg}
    return out, info


# ---- localization map (§8.1-8.4) and classification (§8.5) ----

def gaussian_scipy(m, cfg):
    from scipy.ndimage import gaussian_filter
    return gaussian_filter(m.astype(np.float32), sigma=cfg["gaussian_sigma"],
                           truncate=cfg["gaussian_truncate"], mode="reflect").astype(np.float32)


def gaussian_numpy(m, sigma, truncate):
    """Independent re-implementation of §8.2: separable, rows then columns, double accumulation
    (centre tap, then symmetric pairs), float32 between passes, half-sample symmetric border."""
    r = int(truncate * sigma + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 / (sigma * sigma) * x * x)
    w = w / w.sum()
    w = w[r:]                                              # w[0] centre, w[j] distance j
    out = m.astype(np.float32)
    for axis in (0, 1):
        a = np.moveaxis(out, axis, 0).astype(np.float64)
        n = a.shape[0]
        pad = np.pad(a, ((r, r), (0, 0)), mode="symmetric")
        res = np.empty_like(a)
        for i in range(n):
            acc = pad[i + r] * w[0]
            for j in range(1, r + 1):
                acc = acc + (pad[i + r - j] + pad[i + r + j]) * w[j]
            res[i] = acc
        out = np.moveaxis(res.astype(np.float32), 0, axis)
    return np.ascontiguousarray(out)


def localize(img_emb_l, text_emb_r, cfg):
    raw = torch.einsum("dhw,d->hw", img_emb_l[0], text_emb_r[0]).contiguous()
    sm = gaussian_scipy(raw.numpy(), cfg)
    c = cfg["crop_size"]
    frame = F.interpolate(torch.from_numpy(sm)[None, None], size=(c, c), mode="bilinear",
                          align_corners=False)[0, 0]
    lo, hi = frame.min(), frame.max()
    norm = torch.zeros_like(frame) if hi == lo else 2.0 * (frame - lo) / (hi - lo) - 1.0
    return {"raw": raw, "smoothed": torch.from_numpy(sm), "frame224": frame, "normalized": norm,
            "frame224_centred": centred_frame(sm, cfg)}


def centred_frame(sm, cfg):
    """libafloc's centred read-out (map_alignment 1, not in the paper): layer-3 cell i is centred
    on pixel 16·i of the upsampled input, which is the crop resized with align_corners=True, so
    frame pixel p reads the grid at p·(upsample − 1)/(16·(crop − 1)); bilinear with the border
    clamped: grid_sample(align_corners=True, padding_mode='border'), computed in float64."""
    c, u, s = cfg["crop_size"], cfg["upsample_size"], sm.shape[0]
    pts = torch.arange(c, dtype=torch.float64) * ((u - 1) / (16.0 * (c - 1)))
    g = pts * 2 / (s - 1) - 1
    gy, gx = torch.meshgrid(g, g, indexing="ij")
    grid = torch.stack([gx, gy], dim=-1)[None]
    x = torch.from_numpy(sm.astype(np.float64))[None, None]
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border",
                         align_corners=True)[0, 0].float()


def classify(img_emb_g, text_embs_r, temperature=1.0):
    g = F.normalize(img_emb_g, dim=-1)
    r = F.normalize(torch.cat(text_embs_r, dim=0), dim=-1)
    scores = (g @ r.t())[0]
    return scores, torch.softmax(scores / temperature, dim=0)


# ---- synthetic inputs ----

MED_WORDS = """no evidence of pneumothorax pleural effusion cardiomegaly heart size is normal the lungs
are clear there mild moderate severe bibasilar atelectasis consolidation opacity right left lower
upper lobe pneumonia edema pulmonary vascular congestion mediastinal contour unchanged compared with
prior study stable small large tube catheter tip projects over endotracheal nasogastric interval
improvement worsening likely represents possible cannot be excluded findings impression chest
radiograph portable ap pa lateral view degenerative changes thoracic spine fracture rib
subcutaneous emphysema hilar nodule mass calcified granuloma scarring fibrosis osseous structures
intact sternotomy wires valve pacemaker leads line terminates aortic knob tortuous and without in
on at to for from by as be this that which may also seen noted again new minimal trace blunting
costophrenic angle silhouette retrocardiac airspace disease diffuse patchy interstitial markings
increased decreased resolved cm mm measuring approximately suggesting""".split()

MED_PIECES = ["##s", "##ed", "##ing", "##ly", "##al", "##ic", "##ous", "##ion", "##ity", "##ar",
              "##er", "##es", "##en", "##ia", "##is", "##ment", "##ness", "##ary", "##ive",
              "pneumo", "##thorax", "cardio", "##megaly", "atel", "##ectasis", "effus", "consol",
              "##idation", "opac", "##ities", "abnormal", "un", "##remarkable", "bi", "##lateral",
              "hemi", "##diaphragm", "peri", "##cardial", "sub", "##segmental", "re", "##demonstrated",
              "lymph", "##aden", "##opathy", "hyper", "##inflation", "##ation", "##ated"]

# '##q' and '##7' are left out on purpose: "opaque" or "17" then become [UNK] (exercises §5.8).
MISSING = {"##q", "##7"}


def build_vocab(size, seed=7):
    v = ["[PAD]"] + ["[unused%d]" % i for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    seen = set(v)

    def add(t):
        if t not in seen and t not in MISSING and len(v) < size:
            seen.add(t)
            v.append(t)
    for cp in range(33, 127):
        if not chr(cp).isupper():
            add(chr(cp))
    for c in "abcdefghijklmnopqrstuvwxyz0123456789":
        add("##" + c)
    for d in range(100):
        add(str(d))
    for t in MED_WORDS + MED_PIECES:
        add(t)
    for t in ["é", "##é", "μ", "##μ", "中", "Cardiomegaly", "Effusion"]:  # cased/non-ASCII entries
        add(t)
    rng = np.random.RandomState(seed)
    cons, vow = "bcdfghklmnprstvwz", "aeiou"
    while len(v) < size:
        k = rng.randint(1, 4)
        syl = "".join(cons[rng.randint(len(cons))] + vow[rng.randint(len(vow))] for _ in range(k))
        if rng.rand() < 0.5:
            syl = "##" + syl
        add(syl)
    if len(v) != size:
        raise ValueError("vocab_size %d too small for the base vocabulary (%d)" % (size, len(v)))
    return v


PROMPTS = [
    "There is a small left pleural effusion.",
    # > 95 pieces: truncation keeps [SEP]; "opaque" ('##q' missing) and a 110-character word
    # become [UNK] inside the window (the [UNK] quirk of MODEL §5.8).
    ("Opaque " + "a" * 110 + " findings: "
     + " ".join(["bibasilar atelectasis with hyperinflation and patchy opacities"] * 9)
     + " Heart size is normal. " * 5),
    "1. Pleural effusion measuring 1.5 cm and 17 mm. 2. Heart size normal",
    "",
    "cardiomegaly",
    "left_lower lobe opacity, right_upper_lobe clear",
    "\u00c9panchement pleural \u00e0 droite; na\u00efve caf\u00e9 \u03bcm opacit\u00e9 \u4e2d lungs",
    "No evidence of pneumothorax.\nMild pulmonary edema",
    "Findings suggesting pneumonia. Consolidation in the right lower lobe.",
]

# Training-style captions (MODEL §4.3): already-clean sentences joined by ". ", tokenized
# without the §4.1 cleaning, so '.' words delimit sentence units (§5.6). The second ends in
# '.', which must not count as a delimiter.
CAPTIONS = [
    "there is a small left pleural effusion. heart size is normal. no pneumothorax is seen",
    "mild pulmonary edema. opaque density in the right lower lobe. bibasilar atelectasis .",
    "cardiomegaly with pulmonary vascular congestion. unchanged",
]

IMAGE_SIZES = [(256, 320), (300, 200), (224, 224), (151, 97), (480, 600), (40, 300)]  # (H, W)


def synth_image(h, w, rng):
    """Chest-like: vertical gradient, two dark elliptic 'lungs', a bright blob, noise."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = 60 + 120 * yy / max(h - 1, 1)
    for cx in (0.3, 0.7):
        d = ((xx / w - cx) / 0.17) ** 2 + ((yy / h - 0.5) / 0.33) ** 2
        img -= 50 * np.exp(-d ** 2)
    bx, by = rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.7)
    img += 90 * np.exp(-(((xx / w - bx) ** 2 + (yy / h - by) ** 2) / 0.005))
    img += rng.normal(0, 8, size=(h, w))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


# ---- output files ----

ST_DTYPES = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8",
             np.dtype(np.int64): "I64"}


def write_safetensors(path, tensors, metadata):
    """Plain safetensors writer: u64 header length, JSON header (padded to 8), data region."""
    header, chunks, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": ST_DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    import hashlib
    digest = hashlib.sha256()
    for c in chunks:
        digest.update(c)
    header["__metadata__"]["afloc.data_sha256"] = digest.hexdigest()  # checked by the C reader
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def official_hparams(cfg):
    """Nested training config as in afloc/config.yaml (MODEL.md §1, §10.3), values from cfg.
    `oracle_config` is NOT in official checkpoints: it carries the C config for convenience."""
    return {
        "experiment_name": "afloc_oracle", "phase": "pretrain",
        "lightning": {"trainer": {"gpus": "0,1", "accelerator": "dp", "max_epochs": 5, "lr": 2e-5,
                                  "precision": 16, "gradient_clip_val": 0.25, "distributed_backend": "dp"}},
        "model": {
            "norm": False,
            "vision": {"model_name": "resnet_50", "freeze_cnn": False, "pretrained": True},
            "text": {"bert_type": "emilyalsentzer/Bio_ClinicalBERT", "last_n_layers": cfg["last_n_layers"],
                     "aggregate_method": "sum", "norm": False, "embedding_dim": cfg["embedding_dim"],
                     "freeze_bert": False, "agg_tokens": True, "take_sent_as_units": True},
            "afloc": {"temp1": cfg["temp1"], "temp2": cfg["temp2"], "temp3": cfg["temp3"],
                      "use_global_report_loss": True, "global_report_loss_weight": 1.0,
                      "use_local_sent_loss": True, "local_sent_loss_weight": 1.0,
                      "use_local_word_loss": True, "local_word_loss_weight": 1.0,
                      **({"use_ce_loss": True} if cfg["use_local_f_embedder"] else {})},
        },
        "data": {"dataset": ["mimic"], "view": "Frontal",
                 "text": {"word_num": cfg["token_length"], "captions_per_image": cfg["captions_per_image"],
                          "full_report": True, "random_combine": True, "random_combine_mode": 1,
                          "random_num": True},
                 "image": {"imsize": cfg["image_size"]}},
        "transforms": {"norm": "half", "random_crop": {"crop_size": cfg["crop_size"]},
                       "center_crop": {"crop_size": cfg["crop_size"]}},
        "train": {"batch_size": 128, "num_workers": 8, "seeds": [1, 2],
                  "optimizer": {"name": "Adam", "weight_decay": 1e-6},
                  "scheduler": {"name": "step", "step_size": 1, "gamma": 0.9}},
        "oracle_config": dict(cfg),
    }


def _omegaconf_stub():
    """Classes named like omegaconf 2.0's, in throw-away modules, so the pickle refers to
    omegaconf.dictconfig.DictConfig etc. exactly as a real Lightning 1.1 checkpoint does."""
    mods = {}
    for name in ("omegaconf", "omegaconf.base", "omegaconf.dictconfig", "omegaconf.listconfig",
                 "omegaconf.nodes"):
        mods[name] = types.ModuleType(name)

    def cls(mod, name):
        c = type(name, (object,), {"__module__": mod})
        setattr(mods[mod], name, c)
        return c
    C = types.SimpleNamespace(
        Metadata=cls("omegaconf.base", "Metadata"),
        ContainerMetadata=cls("omegaconf.base", "ContainerMetadata"),
        DictConfig=cls("omegaconf.dictconfig", "DictConfig"),
        ListConfig=cls("omegaconf.listconfig", "ListConfig"),
        AnyNode=cls("omegaconf.nodes", "AnyNode"))
    return mods, C


def to_omegaconf(value, C, parent=None, key=None):
    if isinstance(value, dict):
        node = C.DictConfig()
        meta = C.ContainerMetadata()
        meta.__dict__.update(ref_type=object, object_type=dict, optional=True, key=key, flags={},
                             resolver_cache={}, key_type=object, element_type=object)
        node.__dict__.update(_metadata=meta, _parent=parent, _content=None)
        node.__dict__["_content"] = {k: to_omegaconf(v, C, node, k) for k, v in value.items()}
        return node
    if isinstance(value, list):
        node = C.ListConfig()
        meta = C.ContainerMetadata()
        meta.__dict__.update(ref_type=object, object_type=list, optional=True, key=key, flags={},
                             resolver_cache={}, key_type=int, element_type=object)
        node.__dict__.update(_metadata=meta, _parent=parent, _content=None)
        node.__dict__["_content"] = [to_omegaconf(v, C, node, i) for i, v in enumerate(value)]
        return node
    node = C.AnyNode()
    meta = C.Metadata()
    meta.__dict__.update(ref_type=object, object_type=None, optional=True, key=key, flags={})
    node.__dict__.update(_metadata=meta, _parent=parent, _val=value)
    return node


def save_checkpoint(path, model, cfg, plain_hparams):
    sd = {"afloc." + k: v.detach().clone() for k, v in model.state_dict().items()}
    ckpt = {"epoch": 3, "global_step": 6853, "pytorch-lightning_version": "1.1.4",
            "state_dict": sd, "callbacks": {}, "optimizer_states": [], "lr_schedulers": [],
            "native_amp_scaling_state": {"scale": 65536.0, "growth_factor": 2.0,
                                         "backoff_factor": 0.5, "growth_interval": 2000, "_growth_tracker": 7}}
    hp = official_hparams(cfg)
    if plain_hparams:
        ckpt["hyper_parameters"] = hp
        torch.save(ckpt, path)
        return
    mods, C = _omegaconf_stub()
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        ckpt["hyper_parameters"] = to_omegaconf(hp, C)
        ckpt["hparams_type"] = C.DictConfig
        torch.save(ckpt, path)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def load_checkpoint_hparams(path):
    """Reads a checkpoint written above without omegaconf installed (what a converter must do):
    throw-away classes stand in for omegaconf's while unpickling, then `_content`/`_val` are
    unwrapped into plain dicts/lists/values. (This Debian torch 1.13 ignores torch.load's
    pickle_module argument, so a custom Unpickler cannot be passed; sys.modules is used.)"""
    mods, C = _omegaconf_stub()
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        ckpt = torch.load(path, map_location="cpu")
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v

    def unwrap(o):
        if type(o).__module__.startswith("omegaconf"):
            if "_content" in o.__dict__:
                c = o._content
                return {k: unwrap(v) for k, v in c.items()} if isinstance(c, dict) else [unwrap(v) for v in c]
            return unwrap(o.__dict__.get("_val"))
        if isinstance(o, dict):
            return {k: unwrap(v) for k, v in o.items()}
        return o
    return ckpt, unwrap(ckpt["hyper_parameters"])


# ---- self-checks ----

def bilinear_numpy(a, out_h, out_w, align_corners):
    """MODEL §3.1 / §8.3 written out in float32 numpy (per axis: src index, i0, i1, lambda)."""
    def axis(n_in, n_out):
        o = np.arange(n_out, dtype=np.float32)
        if align_corners:
            # float32 ratio; the product o*scale is NOT rounded before i0 is subtracted (this
            # torch's CPU kernel evaluates o*scale - i0 fused), so keep it in double. Rounding
            # the product to float32 first moves lambda by up to ~8e-6 near the far edge.
            scale = np.float32(np.float32(n_in - 1) / np.float32(n_out - 1)) if n_out > 1 else np.float32(0)
            src = o.astype(np.float64) * np.float64(scale)
        else:
            scale = np.float32(np.float32(n_in) / np.float32(n_out))   # same: product unrounded
            src = np.maximum(np.float64(scale) * (o.astype(np.float64) + 0.5) - 0.5, 0.0)
        i0 = np.floor(src).astype(np.int64)
        i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
        return i0, i1, (src - i0).astype(np.float32)   # exact subtraction, one rounding
    y0, y1, ly = axis(a.shape[-2], out_h)
    x0, x1, lx = axis(a.shape[-1], out_w)
    ly, lx = ly[:, None], lx[None, :]
    one = np.float32(1)
    top = (one - lx) * a[..., y0[:, None], x0[None, :]] + lx * a[..., y0[:, None], x1[None, :]]
    bot = (one - lx) * a[..., y1[:, None], x0[None, :]] + lx * a[..., y1[:, None], x1[None, :]]
    return (one - ly) * top + ly * bot


def consistency(tensors, n_prompts, cfg):
    """Relations the spec states between stored tensors (MODEL §5.4-5.5, §8.1); max rel. errors."""
    worst = {}

    def rel(name, a, b):
        e = float(np.abs(a - b).max() / (np.abs(b).max() + 1e-30))
        worst[name] = max(worst.get(name, 0.0), e)
    T = cfg["token_length"]
    for k in range(n_prompts):
        h = tensors["txt%d.hidden_last4" % k].astype(np.float64)     # [1, n, T, D]
        m = tensors["txt%d.mask" % k].astype(np.float64)[0]          # [T]
        direct = (h[0] * m[None, :, None]).sum(axis=(0, 1)) / T      # §5.5 closed form
        rel("text_emb_r = sum(real tokens)/T", tensors["txt%d.text_emb_r" % k][0], direct)
        rel("sum(text_emb_w) = sum(real tokens)", tensors["txt%d.text_emb_w" % k][0].sum(axis=1), direct * T)
    for name in tensors:
        if name.endswith(".raw") and name.startswith("map"):
            i, k = name[3:-4].split("_")
            l = tensors["img%s.img_emb_l" % i][0].astype(np.float64)
            r = tensors["txt%s.text_emb_r" % k][0].astype(np.float64)
            rel("raw map = img_emb_l . text_emb_r", tensors[name], np.einsum("dhw,d->hw", l, r))
            c = cfg["crop_size"]
            rel("frame = bilinear(smoothed)", tensors[name[:-4] + ".frame224"],
                bilinear_numpy(tensors[name[:-4] + ".smoothed"], c, c, False))
    for name in tensors:
        if name.endswith(".x299"):
            n = cfg["upsample_size"]
            rel("x299 = bilinear(x_norm)", tensors[name], bilinear_numpy(tensors[name[:-5] + ".x_norm"], n, n, True))
    return worst



def selfcheck(verbose=True):
    """Default-config key and parameter counts (MODEL §10.2), Gaussian vs numpy, §1 shapes."""
    problems = []
    cfg = load_config("default")
    # One default model with local_f_embedder (523 keys); the 522-key variant is the same tree
    # without that head, so its counts are read off by leaving the head out.
    m = AFLoc(dict(cfg, use_local_f_embedder=1))
    sd = m.state_dict()
    for lf, want_keys in ((0, 522), (1, 523)):
        keys = [k for k in sd if lf or not k.startswith("img_encoder.local_f_embedder.")]
        resnet = [k for k in keys if k.startswith("img_encoder.model.")]
        bert = [k for k in keys if k.startswith("text_encoder.model.")]
        heads = [k for k in keys if k.startswith("img_encoder.") and not k.startswith("img_encoder.model.")]
        nbt = [k for k in resnet if k.endswith("num_batches_tracked")]
        got = (len(keys), len(resnet), len(nbt), len(bert), len(heads))
        want = (want_keys, 318, 53, 200, 4 + lf)
        if got != want:
            problems.append("keys (all, resnet, nbt, bert, heads) %s != %s" % (got, want))
        params = {n: p.numel() for n, p in m.named_parameters()
                  if lf or not n.startswith("img_encoder.local_f_embedder.")}
        p_res = sum(v for n, v in params.items() if n.startswith("img_encoder.model."))
        p_bert = sum(v for n, v in params.items() if n.startswith("text_encoder.model."))
        p_heads = sum(v for n, v in params.items() if n.startswith("img_encoder.")) - p_res
        want_p = (23508032, 108310272, 2753280 + 1572864 * lf)
        if (p_res, p_bert, p_heads) != want_p:
            problems.append("params %s != %s" % ((p_res, p_bert, p_heads), want_p))
        if any(k.startswith("img_encoder.model.fc") for k in keys):
            problems.append("fc.* keys present")
        if lf == 0:
            counts = (len(keys), len(resnet), len(nbt), len(bert), len(heads), p_res, p_bert, p_heads)
    # §1 derived shapes at default config
    with torch.no_grad():
        m.eval()
        out = m.img_encoder(torch.zeros(1, 3, 224, 224))
        ids = torch.full((1, 97), 101, dtype=torch.int64)
        hid = m.text_encoder.model(ids, torch.ones(1, 97, dtype=torch.int64), torch.zeros(1, 97, dtype=torch.int64))
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    want_s = {"x299": (1, 3, 299, 299), "layer2": (1, 512, 38, 38), "layer3": (1, 1024, 19, 19),
              "layer4": (1, 2048, 10, 10), "img_emb_g": (1, 768), "img_emb_l": (1, 768, 19, 19),
              "img_emb_l2": (1, 768, 38, 38), "img_emb_lf": (1, 768, 10, 10)}
    if shapes != want_s:
        problems.append("shapes %s != %s" % (shapes, want_s))
    if len(hid) != 13 or tuple(hid[-1].shape) != (1, 97, 768):
        problems.append("BERT hidden states %d x %s" % (len(hid), tuple(hid[-1].shape)))
    if feature_sides(cfg) != (38, 19, 10):
        problems.append("feature sides %s" % (feature_sides(cfg),))
    del m, sd, out, hid
    # Gaussian: scipy vs the numpy re-implementation, on several maps incl. extremes
    rng = np.random.RandomState(3)
    gmax = 0.0
    for k in range(8):
        a = rng.randn(19, 19).astype(np.float32) * (10.0 ** rng.randint(-3, 4))
        if k == 0:
            a = np.zeros((19, 19), np.float32); a[0, 0] = 1.0
        d = np.abs(gaussian_scipy(a, cfg).astype(np.float64) - gaussian_numpy(a, 1.5, 4.0))
        gmax = max(gmax, float((d / (np.abs(gaussian_scipy(a, cfg)) + 1e-30)).max()))
        if not np.array_equal(gaussian_scipy(a, cfg), gaussian_numpy(a, 1.5, 4.0)):
            problems.append("gaussian map %d differs (max rel %.3g)" % (k, gmax))
    w = np.exp(-0.5 / 2.25 * np.arange(-6, 7) ** 2); w /= w.sum()
    spec_w = [0.0000892211, 0.0010281966, 0.0075974022, 0.0359943481, 0.1093411750, 0.2129675285, 0.2659642572]
    if np.abs(w[:7] - spec_w).max() > 1e-9:
        problems.append("gaussian taps differ from MODEL §8.2")
    # bilinear: F.interpolate vs the §3.1/§8.3 numpy formulas (lambda from the unrounded product)
    bmax = 0.0
    for n, m_, ac in ((224, 299, True), (19, 224, False)):
        a = rng.randn(3, n, n).astype(np.float32)
        t = F.interpolate(torch.from_numpy(a)[None], size=(m_, m_), mode="bilinear", align_corners=ac)[0].numpy()
        bmax = max(bmax, float(np.abs(bilinear_numpy(a, m_, m_, ac) - t).max()))
    if bmax > 1e-6:
        problems.append("bilinear differs from the numpy formula by %.3g" % bmax)
    summary = ("selfcheck: keys %d (resnet %d incl. %d num_batches_tracked, bert %d, heads %d), params "
               "resnet %d bert %d heads %d; 523 with local_f_embedder; §1 shapes ok; gaussian scipy == numpy "
               "bitwise on 8 maps (max rel diff %.3g); bilinear 224->299 (ac=True) and 19->224 (ac=False) vs numpy "
               "max abs diff %.3g (randn inputs): %s" % (*counts, gmax, bmax, "; ".join(problems) or "PASS"))
    if verbose:
        print(summary)
    return not problems


# ---- main run ----

def run(args):
    t0 = time.time()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    import cv2
    cv2.setNumThreads(1)
    cfg = load_config(args.config)
    os.makedirs(os.path.join(args.out, "images"), exist_ok=True)

    model = make_model(cfg, args.seed)
    vocab = build_vocab(cfg["vocab_size"])
    tok = WordPieceTokenizer(vocab)

    with open(os.path.join(args.out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    save_checkpoint(os.path.join(args.out, "checkpoint.ckpt"), model, cfg, args.plain_hparams)

    rng = np.random.RandomState(args.seed)
    n_img = min(args.images, len(IMAGE_SIZES))
    image_names = []
    for i in range(n_img):
        h, w = IMAGE_SIZES[i]
        name = "img%d_%dx%d.png" % (i, w, h)
        cv2.imwrite(os.path.join(args.out, "images", name), synth_image(h, w, rng))
        image_names.append(name)
    prompts = PROMPTS[:min(args.prompts, len(PROMPTS))]
    with open(os.path.join(args.out, "prompts.txt"), "w", encoding="utf-8") as f:
        for p in prompts:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")

    tensors = {}
    meta = {"producer": "tests/model/ref_afloc.py", "seed": args.seed, "config": json.dumps(cfg),
            "images": json.dumps(image_names), "prompts": json.dumps(prompts, ensure_ascii=False),
            "captions": json.dumps(CAPTIONS),
            "torch": torch.__version__, "threads": args.threads,
            "map.normalization": "min-max over the whole crop-size map, no margin; constant map -> 0"}
    t_img = t_txt = 0.0
    with torch.no_grad():
        img_out = []
        for i, name in enumerate(image_names):
            t1 = time.time()
            gray = cv2.imread(os.path.join(args.out, "images", name), 0)
            lb, x = preprocess(gray, cfg)
            out = model.img_encoder(x)
            t_img += time.time() - t1
            tensors["img%d.x224_u8" % i] = lb
            tensors["img%d.x_norm" % i] = x.numpy()
            for k in ("x299", "layer2", "layer3", "layer4", "img_emb_g", "img_emb_l", "img_emb_l2", "img_emb_lf"):
                if k in out:
                    tensors["img%d.%s" % (i, k)] = out[k].numpy()
            img_out.append(out)
        txt_out = []
        for k, p in enumerate(prompts):
            t1 = time.time()
            out, info = encode_text(model, tok, p, cfg)
            t_txt += time.time() - t1
            for key, v in out.items():
                tensors["txt%d.%s" % (k, key)] = v.numpy()
            meta["txt%d.clean" % k] = info["clean"]
            meta["txt%d.pieces" % k] = json.dumps(info["pieces"])
            meta["txt%d.words" % k] = json.dumps(info["words"])
            meta["txt%d.sentences" % k] = json.dumps(info["sentences"])
            meta["txt%d.empty_sentence_zeroed" % k] = "1" if info["empty_sentence"] else "0"
            txt_out.append(out)
        for k, c in enumerate(CAPTIONS):
            out, info = encode_text(model, tok, c, cfg, clean=False)
            for key, v in out.items():
                tensors["cap%d.%s" % (k, key)] = v.numpy()
            meta["cap%d.pieces" % k] = json.dumps(info["pieces"])
            meta["cap%d.words" % k] = json.dumps(info["words"])
            meta["cap%d.sentences" % k] = json.dumps(info["sentences"])
        for i, io in enumerate(img_out):
            for k, to in enumerate(txt_out):
                for key, v in localize(io["img_emb_l"], to["text_emb_r"], cfg).items():
                    tensors["map%d_%d.%s" % (i, k, key)] = v.numpy()
            scores, probs = classify(io["img_emb_g"], [to["text_emb_r"] for to in txt_out])
            tensors["cls%d.scores" % i] = scores.numpy()
            tensors["cls%d.probs" % i] = probs.numpy()
    for k, v in tensors.items():
        if v.dtype == np.float64:
            tensors[k] = v.astype(np.float32)
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            raise RuntimeError("non-finite values in %s" % k)
    path = os.path.join(args.out, "reference.safetensors")
    write_safetensors(path, tensors, meta)
    worst = consistency(tensors, len(prompts), cfg)
    print("consistency (max rel. error): " + ", ".join("%s %.2g" % kv for kv in worst.items()))
    if max(worst.values()) > 1e-5:
        raise RuntimeError("stored tensors disagree with the spec's relations")

    # reload check: the checkpoint without omegaconf and its state dict equal to the model's
    ckpt, hp = load_checkpoint_hparams(os.path.join(args.out, "checkpoint.ckpt"))
    sd = model.state_dict()
    same = all(torch.equal(ckpt["state_dict"]["afloc." + k], v) for k, v in sd.items())
    if not same or len(ckpt["state_dict"]) != len(sd) or hp["model"]["text"]["last_n_layers"] != cfg["last_n_layers"]:
        raise RuntimeError("checkpoint round trip failed")
    size = os.path.getsize(path)
    e = tensors["img0.img_emb_l"]
    print("ref_afloc: config %s seed %d: %d images, %d prompts -> %d tensors (%.1f MB); %d state_dict keys, "
          "%d parameters; image %.2f s, text %.2f s, total %.2f s (%d threads); img_emb_l std %.3g, "
          "layer4 std %.3g, txt0 words %s"
          % (args.config, args.seed, n_img, len(prompts), len(tensors), size / 1e6, len(sd),
             sum(p.numel() for p in model.parameters()), t_img, t_txt, time.time() - t0, args.threads,
             float(e.std()), float(tensors["img0.layer4"].std()), meta["txt0.words"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--images", type=int, default=None,
                    help="number of images (default 4; 2 for --config default)")
    ap.add_argument("--prompts", type=int, default=None,
                    help="first N prompts (default all %d; 4 for --config default: normal, "
                         ">95 pieces, digits/decimal, empty)" % len(PROMPTS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--plain-hparams", action="store_true",
                    help="hyper_parameters as a plain nested dict instead of an omegaconf-like object")
    ap.add_argument("--selfcheck-only", action="store_true")
    ap.add_argument("--no-selfcheck", action="store_true")
    args = ap.parse_args()
    if args.selfcheck_only:
        torch.set_num_threads(args.threads)
        sys.exit(0 if selfcheck() else 1)
    if not args.out:
        ap.error("--out is required")
    big = args.config == "default"
    if args.images is None:
        args.images = 2 if big else 4
    if args.prompts is None:
        args.prompts = 4 if big else len(PROMPTS)
    run(args)
    if not args.no_selfcheck and not selfcheck():
        sys.exit(1)


if __name__ == "__main__":
    main()
