"""ref_text_backward.py: PyTorch autograd references for test_text_backward.c (the backward passes
of the text ops and dropout, cpu_ops.h "backward: text ops"). float32, one thread, fixed seed.

LayerNorm case i:  ln<i>.params (int32 N C), .eps [1], .in (N, C), .weight/.bias (C), .dout,
                   .out, .mean/.rstd (N, in float64 then rounded), .dinput, .dweight, .dbias
                   (the whole graph in float64 when C = 1, see layernorm()).
GELU case i:       ge<i>.in (n), .dout, .dinput.
Softmax case i:    sm<i>.params (N C), .in, .dout, .out, .dinput.
Attention case i:  at<i>.params (B T C NH has_mask has_dropout seed_lo seed_hi p·1e6), .qkv
                   (B, T, 3C), .mask (B, T), .dropmask (B, NH, T, T), .dout (B, T, C), .out,
                   .probs (B, NH, T, T, before dropout), .dqkv.
Embedding case i:  em<i>.params (T C V P has_type), .ids, .type_ids (T), .word (V, C),
                   .position (P, C), .token_type (2, C), .dout (T, C), .dword, .dposition,
                   .dtoken_type.
Dropout masks:     dm<i>.params (n seed_lo seed_hi offset p·1e6), .mask (n): the numpy copy of
                   dropout.c's generator, which the C test must reproduce bit for bit.

The attention dropout mask comes from the same generator, so both sides use identical masks."""
import math

import numpy as np
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)
GAMMA = np.uint64(0x9E3779B97F4A7C15)


def mix64(z):
    """splitmix64's finaliser on uint64 arrays (numpy wraps uint64 products mod 2^64)."""
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def dropout_mask(n, p, seed, offset=0):
    """dropout.c's afloc_cpu_dropout_mask, independently written in numpy."""
    if not p > 0.0 or p >= 1.0:
        return np.full(n, 0.0 if p >= 1.0 else 1.0, dtype=np.float32)
    p32 = np.float32(p)
    key = mix64(np.array([seed], dtype=np.uint64))[0]
    idx = np.arange(n, dtype=np.uint64) + np.uint64(offset) + np.uint64(1)
    with np.errstate(over="ignore"):
        h = mix64(key + idx * GAMMA)
    u = (h >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / 16777216.0)
    scale = np.float32(1.0 / (1.0 - float(p32)))
    return np.where(u < p32, np.float32(0.0), scale).astype(np.float32)


def grads(out, dout, *leaves):
    out.backward(dout)
    return [leaf.grad.detach().clone() for leaf in leaves]


LAYERNORM_CASES = [  # N, C, eps, offset
    (1, 1, 1e-12, 0.0),      # one element: x̂ = 0, all input gradient 0
    (1, 768, 1e-12, 0.0),    # one BERT token
    (97, 768, 1e-12, 2.0),   # BERT at the longest text (threads on), shifted mean
    (7, 13, 1e-5, 0.0),      # odd sizes
    (3, 1, 1e-12, 0.0),      # C = 1
    (33, 130, 1e-5, -5.0),   # two-and-a-bit column blocks, ragged
]


def layernorm(d, g):
    for i, (n, c, eps, offset) in enumerate(LAYERNORM_CASES):
        x = (uniform(g, (n, c), -2.0, 2.0) + offset).requires_grad_()
        w = uniform(g, (c,), 0.5, 1.5).requires_grad_()
        b = uniform(g, (c,), -0.5, 0.5).requires_grad_()
        dy = uniform(g, (n, c))
        if c == 1:
            # torch's float Welford leaves x − mean ~1e-8 instead of 0, which rstd = 1e6 turns into
            # O(0.01) noise in out and dweight; the float64 graph gives the exact 0, rounded.
            x64, w64, b64 = (t.detach().double().requires_grad_() for t in (x, w, b))
            y = F.layer_norm(x64, (c,), w64, b64, eps)
            dx, dw, db = grads(y, dy.double(), x64, w64, b64)
        else:
            y = F.layer_norm(x, (c,), w, b, eps)
            dx, dw, db = grads(y, dy, x, w, b)
        x64 = x.detach().double()
        mean = x64.mean(-1)
        rstd = 1.0 / torch.sqrt(x64.var(-1, unbiased=False) + eps)
        p = f"ln{i}"
        write(d, p + ".params", [n, c])
        write(d, p + ".eps", torch.tensor([eps], dtype=torch.float32))
        for name, t in (("in", x), ("weight", w), ("bias", b), ("dout", dy), ("out", y),
                        ("mean", mean), ("rstd", rstd), ("dinput", dx), ("dweight", dw),
                        ("dbias", db)):
            write(d, p + "." + name, t)


GELU_SIZES = [1, 7, 1000, 100003]  # 100003: odd, above the parallel threshold


def gelu(d, g):
    for i, n in enumerate(GELU_SIZES):
        x = uniform(g, (n,), -6.0, 6.0)
        if n >= 7:
            x[:7] = torch.tensor([0.0, -0.0, 1e-30, -10.0, 10.0, -30.0, 30.0])
        x.requires_grad_()
        dy = uniform(g, (n,))
        (dx,) = grads(F.gelu(x), dy, x)
        write(d, f"ge{i}.in", x)
        write(d, f"ge{i}.dout", dy)
        write(d, f"ge{i}.dinput", dx)


SOFTMAX_CASES = [(1, 1), (1, 7), (97, 97), (5, 1000), (300, 97)]


def softmax(d, g):
    for i, (n, c) in enumerate(SOFTMAX_CASES):
        x = uniform(g, (n, c), -5.0, 5.0).requires_grad_()
        dy = uniform(g, (n, c))
        y = torch.softmax(x, dim=-1)
        (dx,) = grads(y, dy, x)
        p = f"sm{i}"
        write(d, p + ".params", [n, c])
        for name, t in (("in", x), ("dout", dy), ("out", y), ("dinput", dx)):
            write(d, p + "." + name, t)


ATTENTION_CASES = [
    # B  T    C    NH  real lengths   dropout p  seed
    (1, 97, 768, 12, None, 0.0, 0),             # BERT-base at the longest text
    (2, 20, 768, 12, [20, 13], 0.1, 1234),      # padded batch, BERT's attention dropout
    (1, 1, 768, 12, None, 0.0, 0),              # T = 1
    (1, 1, 64, 1, [1], 0.1, 5),                 # T = 1 with mask and dropout
    (3, 7, 36, 3, [7, 1, 4], 0.5, 99),          # HS 12, one real token only, heavy dropout
    (2, 5, 20, 4, [5, 2], 0.0, 0),              # HS 5
    (1, 33, 40, 2, None, 0.1, 2**40 + 7),       # odd T, 64-bit seed
]


def hf_attention(qkv, mask, dropmask, nh):
    """transformers 4.2.1 BertSelfAttention core; dropout as torch applies it (probs · mask)."""
    b, t, c3 = qkv.shape
    c = c3 // 3
    hs = c // nh

    def heads(x):
        return x.view(b, t, nh, hs).permute(0, 2, 1, 3)

    q, k, v = heads(qkv[..., :c]), heads(qkv[..., c:2 * c]), heads(qkv[..., 2 * c:])
    scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hs)
    if mask is not None:
        scores = scores + (1.0 - mask[:, None, None, :]) * -10000.0
    probs = torch.softmax(scores, dim=-1)
    dropped = probs * dropmask if dropmask is not None else probs
    ctx = torch.matmul(dropped, v)
    return ctx.permute(0, 2, 1, 3).contiguous().view(b, t, c), probs


def attention(d, g):
    for i, (b, t, c, nh, lengths, p, seed) in enumerate(ATTENTION_CASES):
        qkv = uniform(g, (b, t, 3 * c), -3.0, 3.0).requires_grad_()
        dy = uniform(g, (b, t, c))
        mask = None
        if lengths is not None:
            mask = torch.zeros(b, t)
            for s, n in enumerate(lengths):
                mask[s, :n] = 1.0
        dm = None
        if p > 0.0:
            dm = torch.from_numpy(dropout_mask(b * nh * t * t, p, seed)).view(b, nh, t, t)
        out, probs = hf_attention(qkv, mask, dm, nh)
        (dqkv,) = grads(out, dy, qkv)
        pre = f"at{i}"
        write(d, pre + ".params", [b, t, c, nh, int(mask is not None), int(dm is not None),
                                   seed & 0xFFFFFFFF, seed >> 32, round(p * 1e6)])
        write(d, pre + ".qkv", qkv)
        write(d, pre + ".dout", dy)
        write(d, pre + ".out", out)
        write(d, pre + ".probs", probs)
        write(d, pre + ".dqkv", dqkv)
        if mask is not None:
            write(d, pre + ".mask", mask)
        if dm is not None:
            write(d, pre + ".dropmask", dm)


EMBEDDING_CASES = [  # T, C, V, max positions, with type ids
    (1, 768, 50, 512, True),
    (97, 768, 30, 512, True),    # many repeated ids; threads on
    (13, 7, 5, 20, False),       # odd C, type_ids NULL on the C side
    (200, 130, 3, 200, True),    # 3-word vocabulary: every id repeated ~67 times
]


def embedding(d, g):
    for i, (t, c, v, pmax, has_type) in enumerate(EMBEDDING_CASES):
        ids = torch.randint(0, v, (t,), generator=g)
        if has_type:
            types = torch.randint(0, 2, (t,), generator=g)
        else:
            types = torch.zeros(t, dtype=torch.long)
        word = uniform(g, (v, c)).requires_grad_()
        pos = uniform(g, (pmax, c)).requires_grad_()
        typ = uniform(g, (2, c)).requires_grad_()
        dy = uniform(g, (t, c))
        e = F.embedding(ids, word) + F.embedding(types, typ)
        e = e + F.embedding(torch.arange(t), pos)
        dword, dpos, dtyp = grads(e, dy, word, pos, typ)
        pre = f"em{i}"
        write(d, pre + ".params", [t, c, v, pmax, int(has_type)])
        write(d, pre + ".ids", ids.int())
        write(d, pre + ".type_ids", types.int())
        for name, x in (("word", word), ("position", pos), ("token_type", typ), ("dout", dy),
                        ("dword", dword), ("dposition", dpos), ("dtoken_type", dtyp)):
            write(d, pre + "." + name, x)


DROPOUT_MASKS = [  # n, seed, offset, p
    (1000, 0, 0, 0.1),
    (4097, 42, 123456789, 0.5),
    (333, 2**63 + 11, 2**40, 0.1),
    (10, 7, 0, 0.0),
    (10, 7, 0, 1.0),
]


def dropout_masks(d):
    for i, (n, seed, offset, p) in enumerate(DROPOUT_MASKS):
        write(d, f"dm{i}.params", [n, seed & 0xFFFFFFFF, seed >> 32, offset & 0xFFFFFFFF,
                                   offset >> 32, round(p * 1e6)])
        write(d, f"dm{i}.mask", dropout_mask(n, p, seed, offset))


def main():
    d = out_dir()
    g = generator(20240614)
    layernorm(d, g)
    gelu(d, g)
    softmax(d, g)
    attention(d, g)
    embedding(d, g)
    dropout_masks(d)


if __name__ == "__main__":
    main()
