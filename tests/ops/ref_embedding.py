"""ref_embedding.py: references for test_embedding.c, the BERT input embedding sum in the order
of transformers 4.2.1 BertEmbeddings.forward: (word[ids] + token_type[types]) + position[t].

Case i: e<i>.params (int32 T C V P has_types), e<i>.ids (T), e<i>.types (T) when has_types,
e<i>.word (V, C), e<i>.position (P, C), e<i>.token_type (2, C), e<i>.out (T, C)."""
import torch
import torch.nn.functional as F

from ops_ref_common import generator, out_dir, uniform, write

CASES = [
    # T   C    V   P    has_types
    (1, 768, 40, 128, 1),
    (97, 768, 40, 128, 1),
    (13, 7, 11, 20, 1),
    (5, 9, 6, 5, 0),       # T = max positions; no type ids (all 0)
]


def main():
    d = out_dir()
    g = generator(20240614)
    for i, (t, c, v, p, has_types) in enumerate(CASES):
        word = uniform(g, (v, c), -0.1, 0.1)
        pos = uniform(g, (p, c), -0.1, 0.1)
        typ = uniform(g, (2, c), -0.1, 0.1)
        ids = torch.randint(0, v, (t,), generator=g)
        ids[0] = v - 1  # the last row of the table
        types = torch.randint(0, 2, (t,), generator=g) if has_types else torch.zeros(t, dtype=torch.long)
        emb = F.embedding(ids, word) + F.embedding(types, typ)
        emb += F.embedding(torch.arange(t), pos)
        write(d, f"e{i}.params", [t, c, v, p, has_types])
        write(d, f"e{i}.ids", ids.to(torch.int32).numpy())
        if has_types:
            write(d, f"e{i}.types", types.to(torch.int32).numpy())
        write(d, f"e{i}.word", word)
        write(d, f"e{i}.position", pos)
        write(d, f"e{i}.token_type", typ)
        write(d, f"e{i}.out", emb)


if __name__ == "__main__":
    main()
