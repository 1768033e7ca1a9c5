"""ref_attention.py: references for test_attention.c, an explicit HF-BERT-style self-attention core
(transformers 4.2.1 BertSelfAttention, eval mode) on packed Q|K|V.

Case i: a<i>.params (int32 B T C NH has_mask), a<i>.qkv (B, T, 3C), a<i>.mask (B, T) when
has_mask, a<i>.out (B, T, C)."""
import math

import torch

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # B  T    C    NH  real lengths per sequence (None: no mask)
    (1, 97, 768, 12, None),          # BERT-base at the longest text
    (2, 20, 768, 12, [20, 13]),      # padded batch
    (1, 1, 768, 12, None),           # T = 1
    (1, 1, 768, 12, [1]),            # T = 1 with a mask
    (3, 7, 36, 3, [7, 1, 4]),        # HS 12 (not a multiple of 8), one real token only
    (2, 5, 20, 4, [5, 2]),           # HS 5
    (1, 64, 64, 1, [50]),            # one head
]


def hf_attention(qkv, mask, nh):
    b, t, c3 = qkv.shape
    c = c3 // 3
    hs = c // nh

    def heads(x):  # (B, T, C) -> (B, NH, T, HS), as transpose_for_scores
        return x.view(b, t, nh, hs).permute(0, 2, 1, 3)

    q, k, v = heads(qkv[..., :c]), heads(qkv[..., c:2 * c]), heads(qkv[..., 2 * c:])
    scores = torch.matmul(q, k.transpose(-1, -2))
    scores = scores / math.sqrt(hs)
    if mask is not None:
        ext = (1.0 - mask[:, None, None, :]) * -10000.0
        scores = scores + ext
    probs = torch.softmax(scores, dim=-1)
    ctx = torch.matmul(probs, v)
    return ctx.permute(0, 2, 1, 3).contiguous().view(b, t, c)


def main():
    d = out_dir()
    g = generator(20240613)
    for i, (b, t, c, nh, lengths) in enumerate(CASES):
        # uniform(−3, 3) gives scores of standard deviation ~3 after the 1/sqrt(HS) scale: peaked
        # rows, like a trained BERT.
        qkv = uniform(g, (b, t, 3 * c), -3.0, 3.0)
        mask = None
        if lengths is not None:
            mask = torch.zeros(b, t, dtype=torch.float32)
            for s, n in enumerate(lengths):
                mask[s, :n] = 1.0
        out = hf_attention(qkv, mask, nh)
        write(d, f"a{i}.params", [b, t, c, nh, 0 if mask is None else 1])
        write(d, f"a{i}.qkv", qkv)
        if mask is not None:
            write(d, f"a{i}.mask", mask)
        write(d, f"a{i}.out", out)


if __name__ == "__main__":
    main()
