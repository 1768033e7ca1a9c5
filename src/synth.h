/* synth.h: procedural demo datasets (issue 5): the interface between the dataset writer
 * (src/synth_dataset.c, the layout of /tmp/dataset_format.md: images/, train.csv, test.csv,
 * labels.csv, classes.csv, vocab.txt, dataset.json) and the modality generators
 * (src/synth_cxr.c, src/synth_fundus.c, src/synth_histo.c, with their reports in
 * src/synth_report_*.c; shared helpers in src/synth_common.c and src/synth_text.c). Internal.
 *
 * Determinism: a case is a pure function of (seed, split, index, size). Its random draws come
 * from its own xoshiro stream (afloc_synth_case_rng) and per-pixel noise from a counter hash, so
 * images can be rendered in any order on any number of threads. Rendering uses only + - * / and
 * sqrt (IEEE correctly rounded) in double, with FP contraction off, so no libm transcendental can
 * make two machines disagree. */
#ifndef AFLOC_SYNTH_H
#define AFLOC_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "captions.h"

#define AFLOC_SYNTH_MAX_FINDINGS    3
#define AFLOC_SYNTH_REPORT_CAPACITY 2048
#define AFLOC_SYNTH_PROMPT_CAPACITY 96
#define AFLOC_SYNTH_PARAMS          16
#define AFLOC_SYNTH_ANATOMY         32
/* 2: the chest X-ray classes.csv prompts became report sentences (images and reports unchanged);
 * 3: the chest X-ray and histopathology classes.csv list several positive wordings per class
 *    (prompt ensembles);
 * 4: the fundus classes.csv too (images, reports and vocabularies unchanged) */
#define AFLOC_SYNTH_GENERATOR_VERSION 4

enum { AFLOC_SYNTH_SPLIT_TRAIN = 0, AFLOC_SYNTH_SPLIT_TEST = 1 };

/* The patient's side (the patient's left is the image's right). */
typedef enum afloc_synth_side {
    AFLOC_SYNTH_SIDE_NONE      = 0,
    AFLOC_SYNTH_SIDE_LEFT      = 1,
    AFLOC_SYNTH_SIDE_RIGHT     = 2,
    AFLOC_SYNTH_SIDE_BILATERAL = 3
} afloc_synth_side;

/* One finding of a case: what the text says about it and how the renderer draws it. */
typedef struct afloc_synth_finding {
    int32_t category; /* index into the modality's classes                          */
    int32_t side;     /* afloc_synth_side                                           */
    int32_t zone;     /* modality-specific location (cxr: 0 upper, 1 middle, 2 lower) */
    int32_t severity; /* 0 small/mild, 1 moderate, 2 large/marked                   */
    double  p[AFLOC_SYNTH_PARAMS];            /* geometry and intensity, normalised units */
    char    prompt[AFLOC_SYNTH_PROMPT_CAPACITY]; /* short test phrase                     */
} afloc_synth_finding;

/* One image of the dataset before rendering. */
typedef struct afloc_synth_case {
    uint64_t            seed;  /* the case's own seed (noise, textures)                  */
    int32_t             split; /* AFLOC_SYNTH_SPLIT_*                                    */
    int32_t             index;
    double              anatomy[AFLOC_SYNTH_ANATOMY]; /* modality-specific normal anatomy */
    int32_t             count; /* findings, 0..AFLOC_SYNTH_MAX_FINDINGS, distinct categories */
    afloc_synth_finding findings[AFLOC_SYNTH_MAX_FINDINGS];
    char                report[AFLOC_SYNTH_REPORT_CAPACITY];
} afloc_synth_case;

/* A box in pixels: x0,y0 inclusive, x1,y1 exclusive; x0 == x1 means empty. */
typedef struct afloc_synth_box {
    int32_t x0, y0, x1, y1;
} afloc_synth_box;

/* b clipped to the (size, size) image. */
static inline void afloc_synth_box_clamp(afloc_synth_box *b, int32_t size) {
    if (b->x0 < 0) b->x0 = 0;
    if (b->y0 < 0) b->y0 = 0;
    if (b->x1 > size) b->x1 = size;
    if (b->y1 > size) b->y1 = size;
}

/* The box of the pixels a finding changes by at least its modality's threshold, in three steps
 * every renderer shares: start from afloc_synth_box_none (bounds held inclusive while
 * tracking), afloc_synth_box_add each such pixel, then afloc_synth_box_close. */
static inline afloc_synth_box afloc_synth_box_none(int32_t size) {
    afloc_synth_box b = {size, size, -1, -1};
    return b;
}

static inline void afloc_synth_box_add(afloc_synth_box *b, int32_t x, int32_t y) {
    if (x < b->x0) b->x0 = x;
    if (y < b->y0) b->y0 = y;
    if (x > b->x1) b->x1 = x;
    if (y > b->y1) b->y1 = y;
}

/* The tracked box with x1, y1 exclusive; `support` (where the finding was drawn) when no pixel
 * passed the threshold, which only a tiny image allows. */
static inline afloc_synth_box afloc_synth_box_close(afloc_synth_box b, afloc_synth_box support) {
    if (b.x1 < 0) return support;
    b.x1 += 1, b.y1 += 1;
    return b;
}

/* One row of classes.csv: a (positive, negative) prompt pair of a class. A class on several rows
 * is classified with the ensembles of its positives and of its negatives (`afloc eval`). */
typedef struct afloc_synth_prompt {
    int32_t     class_index;
    const char *positive, *negative;
} afloc_synth_prompt;

typedef struct afloc_synth_modality {
    const char         *name;        /* "cxr"                                          */
    int32_t             channels;    /* 1: 16-bit gray PNG; 3: 8-bit RGB PNG           */
    uint64_t            seed_salt;   /* mixed into the seed so modalities differ       */
    int32_t             class_count;
    const char *const  *classes;     /* (class_count) class names                       */
    int32_t             prompt_count; /* rows of classes.csv, every class at least once */
    const afloc_synth_prompt *prompts; /* (prompt_count), grouped by class in class order */
    /* Fills everything of `c` but seed/split/index (already set) from `rng`: anatomy,
     * findings with their prompts, and the report. */
    afloc_status (*plan)(afloc_synth_case *c, afloc_rng *rng, int32_t size, const char *function);
    /* Renders `c` at size x size with only the findings whose bit (1 << i) is set in `mask`
     * into `pixels` (size*size*channels samples: uint16_t for channels 1, uint8_t for 3).
     * boxes (may be NULL; count entries) receive each drawn finding's box; a finding not
     * drawn gets an empty box. AFLOC_ERR_OUT_OF_MEMORY for scratch. */
    afloc_status (*render)(const afloc_synth_case *c, int32_t size, uint32_t mask, void *pixels,
                           afloc_synth_box *boxes, const char *function);
} afloc_synth_modality;

/* The modality named `name` ("cxr", "fundus" or "histo"), or NULL (src/synth_dataset.c). */
const afloc_synth_modality *afloc_synth_modality_find(const char *name);

/* The modalities, for the CLI's help and the writer. */
const afloc_synth_modality *afloc_synth_modality_cxr(void);
const afloc_synth_modality *afloc_synth_modality_fundus(void); /* src/synth_fundus.c */
const afloc_synth_modality *afloc_synth_modality_histo(void);  /* src/synth_histo.c  */

/* Seeds the stream of case (split, index) of dataset `seed`: counter-based, so any case can be
 * generated alone. */
void afloc_synth_case_rng(afloc_rng *rng, uint64_t seed, uint64_t salt, int32_t split,
                          int32_t index);

/* Plans case (split, index) completely (afloc_synth_case_rng, then modality->plan). */
afloc_status afloc_synth_case_make(const afloc_synth_modality *modality, uint64_t seed,
                                   int32_t split, int32_t index, int32_t size,
                                   afloc_synth_case *out, const char *function);

/* ---- helpers shared by the generators ---- */

/* A uniform double in [lo, hi) from 53 random bits. */
double afloc_synth_uniform(afloc_rng *rng, double lo, double hi);

/* 64-bit mix of (seed, a, b): the per-pixel and per-lattice-point hash (splitmix64 finaliser). */
uint64_t afloc_synth_hash(uint64_t seed, uint64_t a, uint64_t b);

/* Smooth value noise in [0, 1] at (u, v) * cells: hashed lattice values, smoothstep weights. */
double afloc_synth_value_noise(uint64_t seed, double u, double v, double cells);

/* x clamped to [0, 1]. */
static inline double afloc_synth_clamp01(double x) { return x < 0.0 ? 0.0 : (x > 1.0 ? 1.0 : x); }

/* A random unit direction (*c, *s) = (cos, sin), by rejection (no trigonometry). */
void afloc_synth_random_direction(afloc_rng *rng, double *c, double *s);

/* Index of a category drawn with probability proportional to weight[i] among those with
 * used[i] == 0 (count of them); the last unused one when rounding leaves r past the end. */
int32_t afloc_synth_draw_category(afloc_rng *rng, const double *weight, const int *used,
                                  int32_t count);

/* The final 8-bit RGB image: out = clamp01(gain · rgb + noise_amp · n) · 255, rounded, with n a
 * per-pixel, per-channel uniform in [-0.5, 0.5) hashed from (seed, x, y). With keep_black, a pixel
 * whose three rgb values are exactly 0 stays 0 (the fundus's outside of the eye). */
void afloc_synth_rgb_quantize(uint64_t seed, double gain, double noise_amp, const double *rgb,
                              int32_t size, int keep_black, uint8_t *out);

/* 0 for x <= e0, 1 for x >= e1, cubic smoothstep between (e0 < e1). Inline: it runs several
 * times per pixel. */
static inline double afloc_synth_smoothstep(double e0, double e1, double x) {
    if (x <= e0) return 0.0;
    if (x >= e1) return 1.0;
    double t = (x - e0) / (e1 - e0);
    return t * t * (3.0 - 2.0 * t);
}

/* ---- chest X-ray ---- */

/* The CXR classes, in the order of classes.csv. */
enum {
    AFLOC_CXR_NODULE        = 0,
    AFLOC_CXR_CONSOLIDATION = 1,
    AFLOC_CXR_EFFUSION      = 2,
    AFLOC_CXR_PNEUMOTHORAX  = 3,
    AFLOC_CXR_CARDIOMEGALY  = 4,
    AFLOC_CXR_ATELECTASIS   = 5,
    AFLOC_CXR_MASS          = 6,
    AFLOC_CXR_CLASSES       = 7
};

/* ---- colour fundus photograph (src/synth_fundus.c, text in src/synth_report_fundus.c) ---- */

/* The fundus classes, in the order of classes.csv. */
enum {
    AFLOC_FUNDUS_HAEMORRHAGE = 0,
    AFLOC_FUNDUS_EXUDATE     = 1,
    AFLOC_FUNDUS_DRUSEN      = 2,
    AFLOC_FUNDUS_COTTON_WOOL = 3,
    AFLOC_FUNDUS_CLASSES     = 4
};

/* Fundus finding zones: the quadrants about the image centre, and the macula. */
enum {
    AFLOC_FUNDUS_SUPEROTEMPORAL = 0,
    AFLOC_FUNDUS_SUPERONASAL    = 1,
    AFLOC_FUNDUS_INFEROTEMPORAL = 2,
    AFLOC_FUNDUS_INFERONASAL    = 3,
    AFLOC_FUNDUS_MACULA         = 4
};

/* Fundus anatomy slot holding the eye: 0 right (disc on the image's right), 1 left. */
#define AFLOC_FUNDUS_ANATOMY_EYE 0

/* ---- H&E histopathology tile (src/synth_histo.c, text in src/synth_report_histo.c) ---- */

/* The histopathology classes, in the order of classes.csv. */
enum {
    AFLOC_HISTO_TUMOUR       = 0,
    AFLOC_HISTO_NECROSIS     = 1,
    AFLOC_HISTO_INFLAMMATION = 2,
    AFLOC_HISTO_CLASSES      = 3
};

/* Histology zones are row * 3 + column of a 3 x 3 grid: 0 upper left .. 4 centre .. 8 lower
 * right. */

/* ---- text ---- */

/* The sentences of one report being written (src/synth_text.c). */
#define AFLOC_SYNTH_SENTENCE_CAPACITY 256
#define AFLOC_SYNTH_MAX_SENTENCES     24
typedef struct afloc_synth_sentences {
    char    text[AFLOC_SYNTH_MAX_SENTENCES][AFLOC_SYNTH_SENTENCE_CAPACITY];
    int32_t count;
    int     overflow; /* a sentence was cut or there were too many */
} afloc_synth_sentences;

/* An element of a static string array chosen uniformly. */
#define AFLOC_SYNTH_PICK(rng, list) \
    (list)[afloc_rng_below((rng), sizeof(list) / sizeof((list)[0]))]

/* 1 with probability p. */
int afloc_synth_chance(afloc_rng *rng, double p);

/* Appends a sentence (printf-style into its slot: see afloc_synth_sentence_end) and returns its
 * buffer of AFLOC_SYNTH_SENTENCE_CAPACITY bytes. */
char *afloc_synth_sentence_begin(afloc_synth_sentences *s);

/* Closes the last sentence: `length` is what snprintf returned; capitalises the first letter. */
void afloc_synth_sentence_end(afloc_synth_sentences *s, int length);

/* Appends a fixed sentence. */
void afloc_synth_sentence_fixed(afloc_synth_sentences *s, const char *text);

/* Shuffles sentences [from, to) (Fisher-Yates with rng). */
void afloc_synth_sentences_shuffle(afloc_synth_sentences *s, int32_t from, int32_t to,
                                   afloc_rng *rng);

/* Writes c->report from `once` (which fills a sentence list, the prompts of c's findings too):
 * joins the sentences with single spaces and draws again (up to 8 times) while the §4.3 caption
 * cache would drop a sentence. AFLOC_ERR_INTERNAL if a text does not fit. */
afloc_status afloc_synth_report_write(afloc_synth_case *c, afloc_rng *rng,
                                      void (*once)(afloc_synth_case *c, afloc_rng *rng,
                                                   afloc_synth_sentences *s),
                                      const char *function);

/* The fundus and histology texts (report and prompts), as afloc_synth_cxr_write_text. */
afloc_status afloc_synth_fundus_write_text(afloc_synth_case *c, afloc_rng *rng,
                                           const char *function);
afloc_status afloc_synth_histo_write_text(afloc_synth_case *c, afloc_rng *rng,
                                          const char *function);

/* Writes c->report and every finding's prompt for a chest X-ray case (src/synth_report_cxr.c).
 * Returns AFLOC_ERR_INTERNAL if a text does not fit its buffer (cannot happen with the shipped
 * phrase tables). */
afloc_status afloc_synth_cxr_write_text(afloc_synth_case *c, afloc_rng *rng, const char *function);

/* Builds vocab.txt (see the layout) from `count` NUL-terminated texts: [PAD] [UNK] [CLS] [SEP]
 * [MASK], every pre-tokenized word (BERT normalisation: lowercase, punctuation split) in byte
 * order, then every character seen and a-z 0-9 alone and as ##c. *out (afloc_free) receives the
 * file bytes, *size their count. */
afloc_status afloc_synth_vocab_build(const char *const *texts, size_t count, char **out,
                                     size_t *size, const char *function);

#endif /* AFLOC_SYNTH_H */
