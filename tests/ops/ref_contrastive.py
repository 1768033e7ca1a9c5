"""ref_contrastive.py: references for test_contrastive.c, the AFLoc losses (MODEL.md §6) written
from the spec in the style of GLoRIA's losses.py: a loop over texts i, each scored against every
image j at once with bmm, torch.softmax, an explicit cosine with clamp(min=1e-8), log of a sum of
exp, then F.cross_entropy both ways. Gradients come from autograd. Each case runs in float64 (the
reference the C code is judged against) and in float32 (to show PyTorch's own fp32 error).

Global case g<k>: g<k>.params (int32 B D), g<k>.temps (float32 temp3), g<k>.image / g<k>.text
(B, D), g<k>.loss64 / g<k>.loss32 (1), g<k>.dimage / g<k>.dtext (B, D) from float64.
Local case l<k>: l<k>.params (int32 B D S T), l<k>.temps (temp1 temp2 temp3), l<k>.cap_len (B),
l<k>.image (B, D, S), l<k>.text (B, D, T), l<k>.loss64 / l<k>.loss32 (1), l<k>.dimage,
l<k>.dtext, l<k>.attention (B, T, S; rows past cap_len zero) from float64.
Within-image sentence case w<k> (L_WS, not in the paper; cpu_ops.h): as l<k> without attention,
temps (temp1 temp3)."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

EPS = 1e-8

GLOBAL_CASES = [
    # B   D    temp3  zero image row (None: none)
    (1, 8, 10.0, None),     # one pair: CE over one class is 0, gradients 0
    (2, 8, 10.0, None),
    (4, 64, 10.0, None),
    (7, 768, 10.0, None),
    (8, 768, 4.0, None),    # another temperature
    (3, 16, 10.0, 1),       # ‖g‖ = 0: the clamp path (gradient 1/eps through the numerator)
]

LOCAL_CASES = [
    # B  D    S     T   cap_len                        temps (1, 2, 3)   feature scale
    (1, 8, 4, 3, [3], (4.0, 5.0, 10.0), 1.0),                         # B = 1
    (2, 8, 4, 1, [1, 1], (4.0, 5.0, 10.0), 1.0),                      # T = 1: [CLS] only
    (4, 64, 361, 12, [1, 2, 12, 5], (4.0, 5.0, 10.0), 0.6),           # sentence-level map
    (7, 64, 4, 40, [40, 1, 2, 17, 33, 9, 40], (4.0, 5.0, 10.0), 0.6),  # long captions, tiny map
    (4, 768, 361, 9, [9, 3, 1, 6], (4.0, 5.0, 10.0), 0.47),           # L_DS-sized
    (2, 768, 1444, 40, [40, 2], (4.0, 5.0, 10.0), 0.47),              # L_SW-sized
    (3, 8, 361, 5, [5, 2, 4], (5.0, 10.0, 4.0), 2.0),                 # other temperatures, peaked
]

WITHIN_CASES = [
    # B  D    S    T   cap_len                temps (1, 3)  feature scale
    (2, 8, 4, 3, [3, 1], (4.0, 10.0), 1.0),               # one image with 2 sentences, one with none
    (3, 8, 4, 2, [2, 1, 2], (4.0, 10.0), 1.0),            # no image has 2 sentences: loss 0
    (4, 64, 361, 12, [12, 3, 7, 5], (4.0, 10.0), 0.6),    # sentence-level map
    (4, 128, 1024, 9, [9, 4, 6, 8], (4.0, 10.0), 0.47),   # the shipped model's 32x32 map
    (3, 16, 361, 6, [6, 5, 4], (5.0, 4.0), 2.0),          # other temperatures, peaked
]


def cosine_rows(x, y):
    """GLoRIA's cosine_similarity over dim 1: ⟨x, y⟩ / clamp(‖x‖·‖y‖, min=eps)."""
    return (x * y).sum(1) / (x.norm(2, dim=1) * y.norm(2, dim=1)).clamp(min=EPS)


def symmetric_ce(scores):
    labels = torch.arange(scores.shape[0])
    return F.cross_entropy(scores, labels) + F.cross_entropy(scores.t(), labels)


def global_loss(image, text, temp3):
    b = image.shape[0]
    scores = torch.stack([cosine_rows(image, text[i].expand_as(image)) for i in range(b)], 1)
    return symmetric_ce(temp3 * scores)  # rows: images j, columns: texts i


def local_loss(image, text, cap_len, temp1, temp2, temp3):
    b, d, s = image.shape
    columns, attention = [], []
    for i in range(b):
        n = cap_len[i]
        words = text[i, :, :n].unsqueeze(0).repeat(b, 1, 1)           # (B, D, n)
        aff = torch.bmm(image.transpose(1, 2), words)                  # (B, S, n)
        aff = torch.softmax(aff, dim=-1)                               # over the words
        alpha = torch.softmax(aff.transpose(1, 2) * temp1, dim=-1)     # (B, n, S), over regions
        context = torch.bmm(image, alpha.transpose(1, 2))              # (B, D, n)
        attention.append(alpha[i])
        rho = cosine_rows(words.transpose(1, 2).reshape(b * n, d),
                          context.transpose(1, 2).reshape(b * n, d)).view(b, n)
        columns.append(torch.log(torch.exp(rho * temp2).sum(1, keepdim=True)))
    scores = torch.cat(columns, 1) * temp3                             # (B images, B texts)
    return symmetric_ce(scores), attention


def sentence_contrast_loss(image, text, cap_len, temp1, temp3):
    """For each image with K >= 2 sentences (slots 1..K; slot 0 is [CLS]): its own report's
    attention as in local_loss, then symmetric CE over temp3·cos(context_t, sentence_u)."""
    losses = []
    for i in range(image.shape[0]):
        n = cap_len[i]
        if n < 3:
            continue
        words = text[i, :, :n]                                         # (D, n)
        aff = torch.softmax(image[i].t() @ words, dim=-1)              # (S, n), over the words
        alpha = torch.softmax(aff.t() * temp1, dim=-1)                 # (n, S), over regions
        context = image[i] @ alpha.t()                                 # (D, n)
        c, w = context[:, 1:].t(), words[:, 1:].t()                    # (K, D) each
        cos = (c @ w.t()) / (c.norm(2, dim=1)[:, None] * w.norm(2, dim=1)[None, :]).clamp(min=EPS)
        losses.append(symmetric_ce(temp3 * cos))
    if not losses:
        return (image.sum() + text.sum()) * 0.0
    return torch.stack(losses).mean()


def write_case(out, pre, params, temps, image, text, loss32, loss64, im64, tx64, cap_len=None):
    """The tensors of a global, local or within-image case (layouts in the module docstring)."""
    write(out, f"{pre}.params", list(params))
    write(out, f"{pre}.temps", torch.tensor(temps))
    if cap_len is not None:
        write(out, f"{pre}.cap_len", cap_len)
    write(out, f"{pre}.image", image)
    write(out, f"{pre}.text", text)
    write(out, f"{pre}.loss64", loss64.detach().reshape(1))
    write(out, f"{pre}.loss32", loss32.detach().reshape(1))
    write(out, f"{pre}.dimage", im64.grad)
    write(out, f"{pre}.dtext", tx64.grad)


def main():
    out = out_dir()
    g = generator(20240741)
    for k, (b, d, temp3, zero_row) in enumerate(GLOBAL_CASES):
        image = uniform(g, (b, d))
        text = uniform(g, (b, d))
        if zero_row is not None:
            image[zero_row] = 0.0
        loss32 = global_loss(image, text, temp3)
        im64 = image.double().requires_grad_(True)
        tx64 = text.double().requires_grad_(True)
        loss64 = global_loss(im64, tx64, temp3)
        loss64.backward()
        write_case(out, f"g{k}", (b, d), [temp3], image, text, loss32, loss64, im64, tx64)
    for k, (b, d, s, t, cap_len, temps, scale) in enumerate(LOCAL_CASES):
        image = uniform(g, (b, d, s), -scale, scale)
        text = uniform(g, (b, d, t), -scale, scale)
        loss32, _ = local_loss(image, text, cap_len, *temps)
        im64 = image.double().requires_grad_(True)
        tx64 = text.double().requires_grad_(True)
        loss64, att = local_loss(im64, tx64, cap_len, *temps)
        loss64.backward()
        attention = torch.zeros(b, t, s, dtype=torch.float64)
        for i in range(b):
            attention[i, :cap_len[i]] = att[i].detach()
        pre = f"l{k}"
        write_case(out, pre, (b, d, s, t), temps, image, text, loss32, loss64, im64, tx64, cap_len)
        write(out, f"{pre}.attention", attention)
    for k, (b, d, s, t, cap_len, temps, scale) in enumerate(WITHIN_CASES):
        image = uniform(g, (b, d, s), -scale, scale)
        text = uniform(g, (b, d, t), -scale, scale)
        loss32 = sentence_contrast_loss(image, text, cap_len, *temps)
        im64 = image.double().requires_grad_(True)
        tx64 = text.double().requires_grad_(True)
        loss64 = sentence_contrast_loss(im64, tx64, cap_len, *temps)
        loss64.backward()
        write_case(out, f"w{k}", (b, d, s, t), temps, image, text, loss32, loss64, im64, tx64, cap_len)


if __name__ == "__main__":
    main()
