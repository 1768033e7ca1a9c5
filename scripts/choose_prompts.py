"""choose_prompts.py MODEL VAL_DIR TEST_DIR: the zero-shot prompt choice of models/README.md.

The modality (cxr, fundus, histo) is VAL_DIR/dataset.json's. For each class it scores, by AUC
on the validation images (the pos/neg cosine difference of the global embeddings, the order
`afloc eval`'s softmax gives):
  - the validation set's own pair (the first row of the class in VAL_DIR/classes.csv; the short
    phrases of generator_version 1 when VAL_DIR was made by it) and each report-style positive of
    POS against the reports' commonest negation (NEG), and keeps the best single pair per class;
  - the ensemble of all of POS against NEG (afloc_prompt_set_create_ensembles: the mean of the
    unit embeddings), which involves no choice per class.
Then it prints the test AUCs of TEST_DIR's own prompts (classes.csv, ensembles where a class has
several rows), of the chosen pairs and of the ensembles (TEST_DIR never influences a choice).
Run with /usr/bin/python3 (numpy) and AFLOC_LIBRARY=build/libafloc.so; the validation sets were
`afloc synth MODALITY val --seed 2 --train 8 --test 300`. The fundus and histopathology
candidates are the commonest wordings of each finding in their training reports, without the
location, against the commonest negation, fixed before any was scored."""
import csv
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
from afloc import api  # noqa: E402
ctx = api.Context(backend='cpu', num_threads=1)
m = api.Model.load(ctx, sys.argv[1])
def unit(x): return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-8)
def load(ds):
    rows = list(csv.DictReader(open(ds + '/labels.csv')))
    names = [c for c in rows[0] if c != 'image']
    Y = np.array([[int(r[n]) for n in names] for r in rows])
    G = unit(np.stack([m.embed_image(api.load_png(ds + '/' + r['image'])) for r in rows]))
    cls = {}
    for r in csv.DictReader(open(ds + '/classes.csv')):
        p, n = cls.setdefault(r['class'], ([], []))
        p.append(r['positive']); n.append(r['negative'])
    return names, Y, G, cls
def auc(s, y):
    o = np.argsort(s, kind='mergesort'); r = np.empty(len(s)); ss = s[o]; i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and ss[j + 1] == ss[i]: j += 1
        r[o[i:j + 1]] = (i + j) / 2 + 1; i = j + 1
    npos = y.sum(); return (r[y == 1].sum() - npos * (npos + 1) / 2) / (npos * (len(y) - npos))
CXR_NEG = {'nodule': 'no pulmonary nodule is seen.', 'consolidation': 'there is no focal consolidation.',
       'pleural effusion': 'there is no pleural effusion.', 'pneumothorax': 'there is no pneumothorax.',
       'cardiomegaly': 'the heart size is normal.', 'atelectasis': 'there is no atelectasis.',
       'mass': 'no lung mass is identified.'}
CXR_POS = {'nodule': ['a pulmonary nodule is seen.', 'there is a rounded nodule in the lung.', 'impression: lung nodule.',
                  # second round, for the three weakest classes
                  'a rounded nodule is noted, and ct is recommended for further evaluation.',
                  'a well-circumscribed nodular opacity is seen.', 'a pulmonary nodule projects over the lung.'],
       'consolidation': ['airspace consolidation is seen.', 'an area of consolidation is noted.', 'impression: consolidation.',
                         'patchy airspace opacity may reflect pneumonia.',
                         'airspace consolidation is seen, concerning for infection.',
                         'there is focal consolidation in the lung.'],
       'pleural effusion': ['a pleural effusion is present.', 'a small effusion is present.', 'impression: pleural effusion.'],
       'pneumothorax': ['a pneumothorax is present.', 'a visible pleural line at the apex indicates a pneumothorax.', 'impression: pneumothorax.'],
       'cardiomegaly': ['the heart is enlarged.', 'moderate cardiomegaly is present.', 'impression: cardiomegaly.'],
       'atelectasis': ['there is atelectasis.', 'plate-like atelectasis is noted.', 'impression: atelectasis.'],
       'mass': ['a lung mass is seen.', 'there is a large mass in the lung.', 'impression: lung mass.',
                'a large mass is present, concerning for malignancy.',
                'a large lobulated mass-like opacity occupies the lung.', 'there is a large irregular mass.']}
FUNDUS_NEG = {'haemorrhage': 'there are no haemorrhages.', 'hard exudate': 'no hard exudates are seen.',
              'drusen': 'no drusen.', 'cotton wool spot': 'there are no cotton-wool spots.'}
FUNDUS_POS = {'haemorrhage': ['there are a few dot-blot haemorrhages.', 'there are scattered intraretinal haemorrhages.',
                              'there are scattered retinal haemorrhages.'],
              'hard exudate': ['a circinate ring of hard exudates is seen.', 'there are yellow hard exudates.',
                               'there are hard exudates.'],
              'drusen': ['drusen at the macula.', 'some drusen are present at the macula.',
                         'a few small drusen at the posterior pole.'],
              'cotton wool spot': ['cotton-wool spots are seen.', 'a cotton-wool spot is seen.', 'a cotton-wool spot.']}
HISTO_NEG = {'tumour': 'no tumour is identified.', 'necrosis': 'there is no necrosis.',
             'inflammation': 'there is no inflammatory infiltrate.'}
HISTO_POS = {'tumour': ['sheets of pleomorphic tumour cells with enlarged hyperchromatic nuclei are present.',
                        'an area of infiltrating carcinoma is seen.', 'diagnosis: invasive carcinoma.'],
             'necrosis': ['necrotic debris with karyorrhexis is seen.', 'an area of coagulative necrosis is present.',
                          'diagnosis: necrosis.'],
             'inflammation': ['a dense lymphocytic infiltrate is present.',
                              'an area of chronic inflammation with aggregates of lymphocytes is seen.',
                              'diagnosis: chronic inflammation.']}
modality = json.load(open(os.path.join(sys.argv[2], 'dataset.json')))['modality']
POS, NEG = {'cxr': (CXR_POS, CXR_NEG), 'fundus': (FUNDUS_POS, FUNDUS_NEG), 'histo': (HISTO_POS, HISTO_NEG)}[modality]
def mean_unit(texts): return unit(np.mean([unit(m.embed_text(t)) for t in texts], axis=0))
def score(names, Y, G, pairs):
    """pairs[k] = (positives, negatives): lists of texts, each side scored as an ensemble."""
    return [auc(G @ mean_unit(pairs[k][0]) - G @ mean_unit(pairs[k][1]), Y[:, i]) for i, k in enumerate(names)]
def show(what, a): print('%-28s mean %.3f ' % (what, np.mean(a)) + ' '.join('%.3f' % x for x in a), flush=True)
names, Yv, Gv, clsv = load(sys.argv[2])
choice, ensemble = {}, {k: (POS[k], [NEG[k]]) for k in names}
for i, k in enumerate(names):
    cands = [(clsv[k][0][:1], clsv[k][1][:1])] + [([p], [NEG[k]]) for p in POS[k]]
    a = [score([k], Yv[:, [i]], Gv, {k: c})[0] for c in cands]
    choice[k] = cands[int(np.argmax(a))]
    print(k, ' '.join('%.3f' % x for x in a), '->', choice[k], flush=True)
print('classes:', ', '.join(names))
show('validation, best pairs', score(names, Yv, Gv, choice))
show('validation, ensembles', score(names, Yv, Gv, ensemble))
names, Yt, Gt, clst = load(sys.argv[3])
show('test, its own prompts', score(names, Yt, Gt, clst))
show('test, chosen pairs', score(names, Yt, Gt, choice))
show('test, ensembles', score(names, Yt, Gt, ensemble))
