#!/usr/bin/python3
"""gen_unicode_tables.py: writes src/unicode_tables.c, the Unicode data the BERT tokenizer needs.

Run with Debian's /usr/bin/python3; its unicodedata is Unicode 14.0.0 (the script refuses another
version so the generated file never changes by accident).

What the tables encode (MODEL.md §4.4, HuggingFace BertNormalizer + BertPreTokenizer):
  - DROP: removed by clean_text: U+0000, U+FFFD and "other" characters (Cc, Cf, Co, Cs) except
    tab, newline and carriage return. Unassigned code points (Cn) are NOT removed: HF's
    is_control does not include Cn.
  - SPACE: White_Space characters (and \\t \\n \\r), which clean_text turns into ' '.
  - PUNCT: ASCII punctuation 33-47, 58-64, 91-96, 123-126 and Unicode P* (split off as tokens).
  - MN: non-spacing marks, removed by strip_accents after NFD.
  - the fold map: for each code point c that is not dropped, not a space and not MN,
    lower(strip_mn(NFD(c))) when it differs from c (Hangul syllables are decomposed in code).
  - WORD (a separate range table, code points >= 0x80): Python 3's regex `\w` (str.isalnum() or
    '_'), used by the report cleaning of MODEL.md §4.1. Python's str.lower() keeps every
    non-ASCII code point non-ASCII, single and with the same \w-ness, except U+0130 -> "i\u0307"
    and U+212A -> "k"; the script checks this and src/text_clean.c special-cases the two.
  CJK ideographs are ranges in src/unicode.h, not tables. HF uses 0x2B920-0x2CEAF where
  Google's BERT has 0x2B820-0x2CEAF; we follow HF.

HF's Rust implementation takes its categories (Mn, P*, C*) from the `unicode_categories` crate,
whose data predates Unicode 14 by several versions, while its NFD and lowercase are newer. To
reproduce HF exactly, scripts/unicode_hf_compat.txt lists the code points whose HF behaviour
differs from Unicode 14.0 categories (about 800, all characters added or re-categorised after
Unicode 8-9). That file is derived, not hand-written:
    node tests/text/hf_oracle.js sweep /tmp/sweep.txt
    /usr/bin/python3 scripts/gen_unicode_tables.py --derive-compat /tmp/sweep.txt
and the text_unicode_sweep test checks every code point against the oracle.

Usage: /usr/bin/python3 scripts/gen_unicode_tables.py            (writes src/unicode_tables.c)
"""
import os
import re
import sys
import unicodedata

UNICODE_VERSION = '14.0.0'
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPAT = os.path.join(ROOT, 'scripts', 'unicode_hf_compat.txt')
OUTPUT = os.path.join(ROOT, 'src', 'unicode_tables.c')

WHITE_SPACE = set([0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029,
                   0x202F, 0x205F, 0x3000] + list(range(0x2000, 0x200B)))


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B920 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def base_classes(cp):
    """The classes from Unicode 14.0 alone: 'drop', 'space', 'mn', 'punct' or 'other'."""
    c = chr(cp)
    cat = unicodedata.category(c)
    if cp in (0x09, 0x0A, 0x0D):
        return 'space'
    if cp == 0 or cp == 0xFFFD or cat in ('Cc', 'Cf', 'Co', 'Cs'):
        return 'drop'
    if cp in WHITE_SPACE:
        return 'space'
    if cat == 'Mn':
        return 'mn'
    if (33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126 or
            cat.startswith('P')):
        return 'punct'
    return 'other'


FOLD_COMPAT = {}  # code point -> HF's lower(strip_mn(NFD(c))) where Unicode 14.0 differs


def load_compat():
    compat = {}
    if not os.path.exists(COMPAT):
        return compat
    for line in open(COMPAT, encoding='ascii'):
        line = line.split('#')[0].strip()
        if not line:
            continue
        span, cls, *mapping = line.split()
        first, _, last = span.partition('..')
        if cls == 'fold':
            FOLD_COMPAT[int(first, 16)] = [int(x, 16) for x in mapping]
            cls = 'other'
        for cp in range(int(first, 16), int(last or first, 16) + 1):
            compat[cp] = cls
    return compat


def classes(compat):
    table = {}
    for cp in range(0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        table[cp] = compat.get(cp, base_classes(cp))
    return table


def fold(cp, table):
    """lower(strip_mn(NFD(c))) as a list of code points, for a non-Hangul code point."""
    if cp in FOLD_COMPAT:
        return FOLD_COMPAT[cp]
    out = []
    for d in unicodedata.normalize('NFD', chr(cp)):
        if table.get(ord(d)) == 'mn':
            continue
        out.extend(ord(x) for x in d.lower())
    return out


def simulate(text, table):
    """The HF pipeline for a short string, as pieces of code points (used by --derive-compat)."""
    chars = []
    for c in text:
        cp = ord(c)
        cls = table[cp]
        if cls == 'drop':
            continue
        if cls == 'space':
            chars.append(0x20)
        elif is_cjk(cp):
            chars += [0x20] + fold(cp, table) + [0x20]
        elif cls == 'mn':
            continue
        elif 0xAC00 <= cp <= 0xD7A3:
            chars += [ord(x) for x in unicodedata.normalize('NFD', c)]
        else:
            chars += fold(cp, table)
    pieces, word = [], []
    for cp in chars:
        cls = table.get(cp, 'other')
        if cp == 0x20 or cls == 'space':
            if word:
                pieces.append(word)
            word = []
        elif cls == 'punct':
            if word:
                pieces.append(word)
            pieces.append([cp])
            word = []
        else:
            word.append(cp)
    if word:
        pieces.append(word)
    return pieces


def derive_compat(sweep_path):
    """Finds the code points where HF disagrees with the Unicode 14.0 classes, and records how HF
    treats them: 'mn' (vanishes), 'other' (kept, not punctuation) or 'punct'."""
    table = classes({})
    compat = {}
    for line in open(sweep_path, encoding='ascii'):
        hexcp, _, pieces = line.rstrip('\n').partition('\t')
        cp = int(hexcp, 16)
        want = [[int(x, 16) for x in p.split()] for p in pieces.split('|')] if pieces else []
        got = simulate('a' + chr(cp) + 'b', table)
        if got == want:
            continue
        if (len(want) == 1 and len(got) == 1 and want[0][0] == 0x61 and want[0][-1] == 0x62 and
                len(want[0]) > 2):
            compat[cp] = 'fold ' + ' '.join('%04X' % x for x in want[0][1:-1])
        elif want == [[0x61, 0x62]]:
            compat[cp] = 'mn'
        elif len(want) == 3:
            compat[cp] = 'punct'
        elif len(want) == 1:
            compat[cp] = 'other'
        else:
            raise SystemExit('cannot classify U+%04X: HF %r, Unicode 14 %r' % (cp, want, got))
    lines = ['# HF tokenizers behaviour that differs from Unicode 14.0 categories (derived by',
             '# scripts/gen_unicode_tables.py --derive-compat from the hf_oracle.js sweep).',
             '# mn: removed like a non-spacing mark; other: kept, not punctuation; punct: split off;',
             '# fold X..: kept, normalized to the code points X.. (newer lowercase/NFD data in HF).']
    cps = sorted(compat)
    i = 0
    while i < len(cps):
        j = i
        while (j + 1 < len(cps) and cps[j + 1] == cps[j] + 1 and compat[cps[j + 1]] == compat[cps[i]]
               and not compat[cps[i]].startswith('fold')):
            j += 1
        span = '%04X' % cps[i] if i == j else '%04X..%04X' % (cps[i], cps[j])
        lines.append('%s %s' % (span, compat[cps[i]]))
        i = j + 1
    with open(COMPAT, 'w', encoding='ascii') as f:
        f.write('\n'.join(lines) + '\n')
    print('wrote %s: %d code points' % (COMPAT, len(compat)))


def write_tables():
    table = classes(load_compat())
    flag_of = {'drop': 1, 'space': 2, 'punct': 4, 'mn': 8}
    ranges = []
    for cp in range(0x110000):
        flags = flag_of.get(table.get(cp, 'other'), 0)
        if not flags:
            continue
        if ranges and ranges[-1][1] == cp - 1 and ranges[-1][2] == flags:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, flags])
    folds = []
    for cp in range(0x110000):
        if table.get(cp, 'mn') != 'other' and table.get(cp) != 'punct':
            continue
        if 0xAC00 <= cp <= 0xD7A3:
            continue
        f = fold(cp, table)
        if f != [cp]:
            folds.append((cp, f))
    word = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp < 0xE000 or not re.match(r'\w', chr(cp)):
            continue
        if word and word[-1][1] == cp - 1:
            word[-1][1] = cp
        else:
            word.append([cp, cp])
    special = []
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        low = chr(cp).lower()
        if (len(low) != 1 or ord(low) < 0x80 or
                bool(re.match(r'\w', chr(cp))) != bool(re.match(r'\w', low))):
            special.append(cp)
    if special != [0x130, 0x212A]:
        raise SystemExit('str.lower() exceptions changed: %r; update src/text_clean.c' % special)
    pool = []
    index = []
    for cp, f in folds:
        assert 1 <= len(f) <= 7, (hex(cp), f)
        index.append((cp, len(pool), len(f)))
        pool.extend(f)
    out = ['/* unicode_tables.c: GENERATED by scripts/gen_unicode_tables.py from Python %s\'s' % sys.version.split()[0],
           ' * unicodedata (Unicode %s) plus scripts/unicode_hf_compat.txt. Do not edit by hand.' % UNICODE_VERSION,
           ' * %d flag ranges, %d word spans, %d fold entries, %d fold code points. */'
           % (len(ranges), len(word), len(index), len(pool)),
           '#include "unicode.h"', '',
           'const afloc_unicode_range afloc_unicode_ranges[] = {']
    for first, last, flags in ranges:
        out.append('    {0x%05X, 0x%05X, %d},' % (first, last, flags))
    out.append('};')
    out.append('const size_t afloc_unicode_range_count = sizeof afloc_unicode_ranges / sizeof afloc_unicode_ranges[0];')
    out.append('')
    out.append('/* Sorted by code point; `start` indexes afloc_unicode_fold_pool, `length` code points. */')
    out.append('/* Code points >= 0x80 that match Python 3\'s regex \\w. */')
    out.append('const afloc_unicode_span afloc_unicode_word_spans[] = {')
    for first, last in word:
        out.append('    {0x%05X, 0x%05X},' % (first, last))
    out.append('};')
    out.append('const size_t afloc_unicode_word_span_count = sizeof afloc_unicode_word_spans / sizeof afloc_unicode_word_spans[0];')
    out.append('')
    out.append('const afloc_unicode_fold afloc_unicode_folds[] = {')
    for cp, start, length in index:
        out.append('    {0x%05X, %d, %d},' % (cp, start, length))
    out.append('};')
    out.append('const size_t afloc_unicode_fold_count = sizeof afloc_unicode_folds / sizeof afloc_unicode_folds[0];')
    out.append('')
    out.append('const uint32_t afloc_unicode_fold_pool[] = {')
    for i in range(0, len(pool), 10):
        out.append('    ' + ' '.join('0x%05X,' % x for x in pool[i:i + 10]))
    out.append('};')
    with open(OUTPUT, 'w', encoding='ascii') as f:
        f.write('\n'.join(out) + '\n')
    print('wrote %s: %d ranges, %d word spans, %d folds, %d pool entries'
          % (OUTPUT, len(ranges), len(word), len(index), len(pool)))


def main():
    if unicodedata.unidata_version != UNICODE_VERSION:
        raise SystemExit('need unicodedata %s (got %s): use Debian 12\'s /usr/bin/python3'
                         % (UNICODE_VERSION, unicodedata.unidata_version))
    if len(sys.argv) == 3 and sys.argv[1] == '--derive-compat':
        derive_compat(sys.argv[2])
    elif len(sys.argv) == 1:
        write_tables()
    else:
        raise SystemExit(__doc__)


if __name__ == '__main__':
    main()
