#!/usr/bin/python3
"""gen_text_corpus.py OUTDIR [COUNT]: writes the inputs of the text differential tests, all
deterministic (fixed seed):
  OUTDIR/vocab.txt      a BERT-style test vocabulary: [PAD]=0, [unused1..99], [UNK]=100,
                        [CLS]=101, [SEP]=102, [MASK]=103, then characters, "##" characters,
                        medical words and word pieces, accented/uppercase/non-ASCII entries
  OUTDIR/corpus.jsonl   COUNT (default 12000) report-like strings, one JSON string per line
  OUTDIR/corpus.hex     the same strings as hex-encoded UTF-8, one per line (for the C test)
  OUTDIR/clean.txt      each string cleaned by the reference Python of MODEL.md §4.1-4.2
The real Bio_ClinicalBERT vocab.txt cannot be downloaded here, so the vocabulary is synthetic."""
import json
import os
import random
import re
import sys

WORDS = """no evidence of pneumothorax pleural effusion cardiomegaly heart size is normal the lungs
are clear there mild moderate severe bibasilar atelectasis consolidation opacity right left lower
upper lobe pneumonia edema pulmonary vascular congestion mediastinal contour unchanged compared
with prior study stable small large tube catheter tip projects over svc endotracheal nasogastric
interval improvement worsening likely represents possible cannot be excluded findings impression
chest radiograph portable ap pa lateral view degenerative changes thoracic spine fracture rib
subcutaneous emphysema hilar lymphadenopathy nodule mass calcified granuloma scarring fibrosis
hyperinflation copd osseous structures intact sternotomy wires cabg valve replacement pacemaker
leads picc line terminates cavoatrial junction aortic knob tortuous atherosclerotic and with
without in on at to for from by as be this that which may also seen noted again new minimal
trace blunting costophrenic angle silhouette retrocardiac airspace disease diffuse patchy
interstitial markings increased decreased resolved resolving cm mm measuring approximately""".split()

PIECES = ['##s', '##ed', '##ing', '##ly', '##al', '##ic', '##ous', '##ion', '##ity', '##ar',
          '##er', '##es', '##en', '##ia', '##is', '##ism', '##ment', '##ness', '##ary', '##ive',
          'pneumo', '##thorax', 'cardio', '##megaly', 'atel', '##ectasis', 'effus', 'consol',
          '##idation', 'opac', '##ities', 'abnormal', 'un', '##remarkable', 'bi', '##lateral',
          'hemi', '##diaphragm', 'peri', '##cardial', 'sub', '##segmental', 're', '##demonstrated']

EXTRA = ['é', '##é', 'ü', '##ü', 'café', 'naïve', 'ñ', 'ß', '##ß', 'α', '##α', 'β', 'μ', '##μ',
         'σ', 'ς', 'δ', 'ω', 'мм', 'м', '##м', 'ж', '中', '国', '肺', '炎', '心', '一', '丁',
         'ᄒ', '##ᅡ', '##ᆫ', 'ア', 'の', '€', '°', '±', '×', '→', '…', '—', '–', '«', '»', '¿', '¡',
         'Cardiomegaly', 'Pneumothorax', 'İ', 'K', 'ﬁ', 'x-ray', 'i', 'k', '😀', '##😀', 'ا', 'ل']


def build_vocab():
    vocab = ['[PAD]'] + ['[unused%d]' % i for i in range(1, 100)] + ['[UNK]', '[CLS]', '[SEP]',
                                                                     '[MASK]']
    seen = set(vocab)

    def add(token):
        if token not in seen:
            seen.add(token)
            vocab.append(token)
    for cp in range(33, 127):
        c = chr(cp)
        if not c.isupper():
            add(c)
    for c in 'abcdefghijklmnopqrstuvwxyz0123456789':
        add('##' + c)
    for d in range(100):
        add(str(d))
    for token in PIECES + EXTRA:
        add(token)
    rng = random.Random(1234)
    for w in WORDS:
        add(w)
        if len(w) > 5:  # some prefixes and suffixes, so words split into pieces
            cut = rng.randint(2, len(w) - 2)
            add(w[:cut])
            add('##' + w[cut:])
    for i in range(1500):  # fill to a few thousand entries with pseudo-pieces
        length = rng.randint(2, 6)
        s = ''.join(rng.choice('abcdefghilmnoprstuy') for _ in range(length))
        add(s if i % 2 else '##' + s)
    return vocab


ODD = ['\t', '\n', '\r', '\x00', '\x07', '\x1b', '\x7f', '\x85', '\xa0', '\u200b', '\ufeff',
       '\u2028', '\u3000', '\ufffd', '\u0301', '\u0308', '\u0327', '\ue000', '\U000f0000', '\u0378',
       '\u061d', '\u1734', '\u166d', '\u2e43']
PUNCT = list('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~') + ['¿', '¡', '«', '»', '…', '—', '–', '‘',
                                                      '’', '“', '”', '·', '§', '¶', '†', '、', '。']
NONASCII = ['é', 'É', 'ü', 'Ü', 'ñ', 'ç', 'ø', 'å', 'Å', 'ß', 'ẞ', 'İ', 'ı', 'K', 'Å', 'Σ', 'ς',
            'µ', 'α', 'Ω', 'мм', 'Ж', '中', '国', '肺炎', '心', '한국어', 'ア', 'ｶ', 'Ａ', '１', '２', 'ﬁ',
            '😀', '🫁', '👍🏽', 'ا', 'ש', 'ก', '²', '½', 'Ⅻ', 'e\u0301', 'n\u0303', 'Ǆ', 'ǅ', '\U0002b820',
            '\U0002b920', '\uf900', '\u1c89', '\ua7cb']


def random_word(rng):
    r = rng.random()
    if r < 0.55:
        w = rng.choice(WORDS)
    elif r < 0.65:
        w = ''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(rng.randint(1, 12)))
    elif r < 0.72:
        w = rng.choice(WORDS) + rng.choice(NONASCII) + rng.choice(WORDS)
    elif r < 0.80:
        w = rng.choice(NONASCII)
    elif r < 0.86:
        w = str(rng.randint(0, 300)) + rng.choice(['', '.', '.5', ' cm', 'mm', '.25'])
    elif r < 0.90:
        w = rng.choice(WORDS) + '_' + rng.choice(WORDS)
    elif r < 0.95:
        w = rng.choice(PUNCT) + rng.choice(WORDS) + rng.choice(PUNCT)
    else:
        w = rng.choice(WORDS) + rng.choice(ODD) + rng.choice(WORDS)
    style = rng.random()
    if style < 0.15:
        w = w.capitalize()
    elif style < 0.2:
        w = w.upper()
    return w


def random_sentence(rng):
    words = [random_word(rng) for _ in range(rng.randint(1, 14))]
    seps = [' '] * 8 + ['  ', ', ', '\t', '\n', ' - ']
    s = words[0]
    for w in words[1:]:
        s += rng.choice(seps) + w
    return s + rng.choice(['.', '.', '. ', '', '!', '?', ';', ' .', '..'])


def report(rng, i):
    kind = i % 20
    if kind == 0:
        return ''
    if kind == 1:  # list numbering and decimals
        return ' '.join('%d. %s' % (k + 1, random_sentence(rng)) for k in range(rng.randint(1, 5)))
    if kind == 2:  # very long words around the 100-character limit
        n = rng.choice([99, 100, 101, 150, 1000])
        base = rng.choice(['a', 'ab', 'pneumo', 'é', '中', 'x'])
        return random_sentence(rng) + ' ' + (base * n)[:n] + ' ' + random_sentence(rng)
    if kind == 3:  # long reports that truncate at 97
        return ' '.join(random_sentence(rng) for _ in range(rng.randint(8, 20)))
    if kind == 4:  # random code points, any plane
        out = []
        for _ in range(rng.randint(1, 30)):
            cp = rng.choice([rng.randint(0, 0x7F), rng.randint(0x80, 0x2FFF),
                             rng.randint(0x3000, 0xD7FF), rng.randint(0xE000, 0xFFFF),
                             rng.randint(0x10000, 0x10FFFF)])
            out.append(chr(cp))
        return ''.join(out)
    if kind == 5:  # punctuation storms
        return ''.join(rng.choice(PUNCT + [' ', 'a', '1']) for _ in range(rng.randint(1, 60)))
    if kind == 6:  # one-word prompts (dropped by the cleaning)
        return rng.choice(WORDS + ['Cardiomegaly', 'Pneumothorax', 'edema.', '  atelectasis  '])
    if kind == 7:  # whitespace and controls only
        return ''.join(rng.choice(ODD + [' ']) for _ in range(rng.randint(1, 10)))
    return ' '.join(random_sentence(rng) for _ in range(rng.randint(1, 4)))


def clean_reference(text):
    """MODEL.md §4.1-4.2 as the AFLoc/GLoRIA Python does it."""
    text = text.replace('\n', ' ')
    captions = []
    for piece in re.split(r'[0-9]+\.', text):
        captions.extend(piece.split('.'))
    sentences = []
    for cap in captions:
        if len(cap) == 0:
            continue
        cap = cap.replace('\ufffd\ufffd', ' ')
        tokens = re.findall(r'\w+', cap.lower())
        if len(tokens) <= 1:
            continue
        kept = []
        for t in tokens:
            t = t.encode('ascii', 'ignore').decode('ascii')
            if len(t) > 0:
                kept.append(t)
        sentences.append(' '.join(kept))
    return ' '.join(sentences)


def main():
    outdir = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 12000
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, 'vocab.txt'), 'w', encoding='utf-8', newline='\n') as f:
        f.write('\n'.join(build_vocab()) + '\n')
    rng = random.Random(20240531)
    texts = [report(rng, i) for i in range(count)]
    with open(os.path.join(outdir, 'corpus.jsonl'), 'w', encoding='ascii') as f:
        for t in texts:
            f.write(json.dumps(t) + '\n')
    with open(os.path.join(outdir, 'corpus.hex'), 'w', encoding='ascii') as f:
        for t in texts:
            f.write(t.encode('utf-8').hex() + '\n')
    with open(os.path.join(outdir, 'clean.txt'), 'w', encoding='ascii') as f:
        for t in texts:
            f.write(clean_reference(t) + '\n')


if __name__ == '__main__':
    main()
