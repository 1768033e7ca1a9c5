/* synth_report_histo.c: pathologist-style free text for a synthetic H&E tile (issue 5): the
 * specimen and background tissue, each region with its extent and position in words ("A focus
 * of coagulative necrosis is present in the lower right of the section."), negations of absent
 * findings, and an optional diagnosis line; plus a short test prompt per region ("tumour in the
 * upper left", "necrosis at the top"). No numbers, no coordinates; every prompt has at least two words. */
#include <stdio.h>
#include <string.h>

#include "synth.h"

#define CAP AFLOC_SYNTH_SENTENCE_CAPACITY

/* Where a region lies, as a phrase that follows a verb: "in the upper left", "at the top". */
static const char *const position_phrase[9] = {"in the upper left", "at the top", "in the upper right",
                                               "on the left", "in the centre", "on the right",
                                               "in the lower left", "at the bottom", "in the lower right"};

/* The phrase with an optional tail: "in the upper left of the section", "at the top of the
 * tissue", "in the centre". */
static void location(int32_t zone, afloc_rng *rng, char *out, size_t cap) {
    static const char *const tail[] = {" of the section", " of the tissue", " of the field", ""};
    snprintf(out, cap, "%s%s", position_phrase[zone], AFLOC_SYNTH_PICK(rng, tail));
}

static void write_region(afloc_synth_finding *f, afloc_rng *rng, afloc_synth_sentences *s) {
    static const char *const extent[3][2] = {{"a small focus", "a small area"},
                                             {"an area", "a region"},
                                             {"an extensive area", "a large area"}};
    char loc[64];
    location(f->zone, rng, loc, sizeof loc);
    const char *where = position_phrase[f->zone];
    const char *ext = extent[f->severity][afloc_rng_below(rng, 2)];
    char *t = afloc_synth_sentence_begin(s);
    int n = 0;
    switch (f->category) {
    case AFLOC_HISTO_TUMOUR:
        switch (afloc_rng_below(rng, 3)) {
        case 0:
            n = snprintf(t, CAP, "sheets of pleomorphic tumour cells with enlarged hyperchromatic "
                                 "nuclei are present %s.", loc);
            break;
        case 1: n = snprintf(t, CAP, "%s of infiltrating carcinoma is seen %s.", ext, loc); break;
        default:
            n = snprintf(t, CAP, "%s of malignant cells with marked nuclear atypia is seen %s.",
                         ext, loc);
            break;
        }
        snprintf(f->prompt, sizeof f->prompt, "%s %s",
                 afloc_synth_chance(rng, 0.5) ? "tumour" : "carcinoma", where);
        break;
    case AFLOC_HISTO_NECROSIS:
        switch (afloc_rng_below(rng, 3)) {
        case 0: n = snprintf(t, CAP, "%s of coagulative necrosis is present %s.", ext, loc); break;
        case 1:
            n = snprintf(t, CAP, "necrotic debris with karyorrhexis is seen %s.", loc);
            break;
        default: n = snprintf(t, CAP, "%s of necrosis is noted %s.", ext, loc); break;
        }
        snprintf(f->prompt, sizeof f->prompt, "%s %s",
                 afloc_synth_chance(rng, 0.5) ? "necrosis" : "necrotic tissue", where);
        break;
    default:
        switch (afloc_rng_below(rng, 3)) {
        case 0: n = snprintf(t, CAP, "a dense lymphocytic infiltrate is present %s.", loc); break;
        case 1:
            n = snprintf(t, CAP, "%s of chronic inflammation with aggregates of lymphocytes is "
                                 "seen %s.", ext, loc);
            break;
        default: n = snprintf(t, CAP, "lymphocytes form a dense aggregate %s.", loc); break;
        }
        snprintf(f->prompt, sizeof f->prompt, "%s %s",
                 afloc_synth_chance(rng, 0.5) ? "inflammatory infiltrate" : "lymphocytic infiltrate",
                 where);
        break;
    }
    afloc_synth_sentence_end(s, n);
}

static void write_report_once(afloc_synth_case *c, afloc_rng *rng, afloc_synth_sentences *s) {
    static const char *const specimen[] = {"Sections show fibrocollagenous tissue.",
                                           "H&E stained section of soft tissue.",
                                           "The sections show fragments of stroma.",
                                           "Microscopy shows a core of tissue."};
    static const char *const stroma[] = {"The background stroma is unremarkable.",
                                         "Scattered bland stromal cells are seen.",
                                         "The intervening stroma is benign."};
    static const char *const no_tumour[] = {"No tumour is identified.", "There is no evidence of malignancy.",
                                            "No atypical cells are seen."};
    static const char *const no_necrosis[] = {"No necrosis.", "There is no necrosis."};
    static const char *const no_inflam[] = {"No significant inflammation.",
                                            "There is no inflammatory infiltrate."};
    static const char *const normal_dx[] = {"benign tissue, no malignancy identified.",
                                            "no significant pathological abnormality.",
                                            "benign fibrous tissue."};
    int present[AFLOC_HISTO_CLASSES] = {0};
    for (int32_t i = 0; i < c->count; i++) present[c->findings[i].category] = 1;
    if (afloc_synth_chance(rng, 0.7)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, specimen));
    int32_t body = s->count;
    for (int32_t i = 0; i < c->count; i++) write_region(&c->findings[i], rng, s);
    if (afloc_synth_chance(rng, 0.5)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, stroma));
    if (!present[AFLOC_HISTO_TUMOUR] && afloc_synth_chance(rng, 0.75))
        afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, no_tumour));
    if (!present[AFLOC_HISTO_NECROSIS] && afloc_synth_chance(rng, 0.55))
        afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, no_necrosis));
    if (!present[AFLOC_HISTO_INFLAMMATION] && afloc_synth_chance(rng, 0.45))
        afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, no_inflam));
    if (afloc_synth_chance(rng, 0.4)) afloc_synth_sentences_shuffle(s, body, s->count, rng);
    if (afloc_synth_chance(rng, 0.5)) {
        char *t = afloc_synth_sentence_begin(s);
        int n;
        if (c->count == 0) {
            n = snprintf(t, CAP, "DIAGNOSIS: %s", AFLOC_SYNTH_PICK(rng, normal_dx));
        } else {
            static const char *const what[AFLOC_HISTO_CLASSES] = {"invasive carcinoma",
                                                                  "necrosis",
                                                                  "chronic inflammation"};
            n = snprintf(t, CAP, "DIAGNOSIS: %s", what[c->findings[0].category]);
            for (int32_t i = 1; i < c->count && n > 0 && n < CAP; i++)
                n += snprintf(t + n, CAP - (size_t)n, "%s%s", i + 1 == c->count ? " and " : ", ",
                              what[c->findings[i].category]);
            if (n > 0 && n < CAP - 1) t[n++] = '.', t[n] = '\0';
        }
        if (n > 11 && n < CAP && t[11] >= 'a' && t[11] <= 'z') t[11] = (char)(t[11] - 'a' + 'A');
        afloc_synth_sentence_end(s, n);
    }
    if (s->count == 0) afloc_synth_sentence_fixed(s, "Benign tissue without atypia.");
}

afloc_status afloc_synth_histo_write_text(afloc_synth_case *c, afloc_rng *rng,
                                          const char *function) {
    return afloc_synth_report_write(c, rng, write_report_once, function);
}
