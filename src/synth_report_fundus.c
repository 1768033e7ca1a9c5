/* synth_report_fundus.c: ophthalmologist-style free text for a synthetic colour fundus
 * photograph (issue 5): the eye, findings by quadrant ("Scattered dot-blot haemorrhages in the
 * inferotemporal quadrant.") or at the macula, negations of absent findings ("No exudates."),
 * statements about the disc, vessels and macula, and an optional impression; plus a short test
 * prompt per finding ("inferotemporal haemorrhages"). No numbers, no coordinates; every prompt
 * has at least two words. */
#include <stdio.h>
#include <string.h>

#include "synth.h"

#define CAP AFLOC_SYNTH_SENTENCE_CAPACITY

static const char *const quadrant_adjective[4] = {"superotemporal", "superonasal",
                                                  "inferotemporal", "inferonasal"};
static const char *const quadrant_adverb[4] = {"superotemporally", "superonasally",
                                               "inferotemporally", "inferonasally"};
static const char *const quadrant_words[4][2] = {
    {"superior", "temporal"}, {"superior", "nasal"}, {"inferior", "temporal"}, {"inferior", "nasal"}};

/* "in the inferotemporal quadrant", "inferotemporally", "in the inferior temporal quadrant",
 * "in the inferotemporal retina"; the macula: "at the macula", "in the macular region". */
static void location(const afloc_synth_finding *f, afloc_rng *rng, char *out, size_t cap) {
    if (f->zone == AFLOC_FUNDUS_MACULA) {
        static const char *const mac[] = {"at the macula", "in the macular region",
                                          "around the fovea", "at the posterior pole"};
        snprintf(out, cap, "%s", AFLOC_SYNTH_PICK(rng, mac));
        return;
    }
    int32_t z = f->zone;
    switch (afloc_rng_below(rng, 4)) {
    case 0: snprintf(out, cap, "in the %s quadrant", quadrant_adjective[z]); break;
    case 1: snprintf(out, cap, "%s", quadrant_adverb[z]); break;
    case 2: snprintf(out, cap, "in the %s %s quadrant", quadrant_words[z][0], quadrant_words[z][1]); break;
    default: snprintf(out, cap, "in the %s retina", quadrant_adjective[z]); break;
    }
}

static const char *place_adjective(const afloc_synth_finding *f) {
    return f->zone == AFLOC_FUNDUS_MACULA ? "macular" : quadrant_adjective[f->zone];
}

static void write_finding(afloc_synth_finding *f, afloc_rng *rng, afloc_synth_sentences *s) {
    char loc[64];
    location(f, rng, loc, sizeof loc);
    char *t = afloc_synth_sentence_begin(s);
    int n = 0;
    switch (f->category) {
    case AFLOC_FUNDUS_HAEMORRHAGE: {
        static const char *const few[] = {"a few", "scattered", "occasional"},
                                 *const many[] = {"multiple", "numerous", "extensive"},
                                 *const kind[] = {"dot-blot haemorrhages", "blot haemorrhages",
                                                  "intraretinal haemorrhages", "retinal haemorrhages"};
        const char *q = f->severity == 2 ? AFLOC_SYNTH_PICK(rng, many) : AFLOC_SYNTH_PICK(rng, few);
        const char *k = AFLOC_SYNTH_PICK(rng, kind);
        if (afloc_synth_chance(rng, 0.5)) n = snprintf(t, CAP, "%s %s %s.", q, k, loc);
        else n = snprintf(t, CAP, "there are %s %s %s.", q, k, loc);
        snprintf(f->prompt, sizeof f->prompt, "%s %s", place_adjective(f),
                 afloc_synth_chance(rng, 0.5) ? "haemorrhages" : "retinal haemorrhages");
        break;
    }
    case AFLOC_FUNDUS_EXUDATE: {
        static const char *const form[] = {"a cluster of hard exudates", "hard exudates",
                                           "a small group of hard exudates",
                                           "yellow hard exudates"};
        if (f->severity == 2 && afloc_synth_chance(rng, 0.5))
            n = snprintf(t, CAP, "a circinate ring of hard exudates is seen %s.", loc);
        else if (afloc_synth_chance(rng, 0.5))
            n = snprintf(t, CAP, "%s %s.", AFLOC_SYNTH_PICK(rng, form), loc);
        else n = snprintf(t, CAP, "there are %s %s.", AFLOC_SYNTH_PICK(rng, form), loc);
        snprintf(f->prompt, sizeof f->prompt, "%s hard exudates", place_adjective(f));
        break;
    }
    case AFLOC_FUNDUS_DRUSEN: {
        static const char *const few[] = {"a few small", "scattered small", "some"},
                                 *const many[] = {"numerous", "multiple confluent", "many soft"};
        const char *q = f->severity == 2 ? AFLOC_SYNTH_PICK(rng, many) : AFLOC_SYNTH_PICK(rng, few);
        if (afloc_synth_chance(rng, 0.5)) n = snprintf(t, CAP, "%s drusen %s.", q, loc);
        else n = snprintf(t, CAP, "%s drusen are present %s.", q, loc);
        snprintf(f->prompt, sizeof f->prompt, "%s",
                 afloc_synth_chance(rng, 0.5) ? "macular drusen" : "drusen at the macula");
        break;
    }
    default: {
        /* p[3] is the number of spots drawn (P_COUNT in src/synth_fundus.c) */
        const char *what = f->p[3] > 1.5 ? "cotton-wool spots" : "a cotton-wool spot";
        if (afloc_synth_chance(rng, 0.5)) n = snprintf(t, CAP, "%s %s.", what, loc);
        else n = snprintf(t, CAP, "%s %s seen %s.", what, f->p[3] > 1.5 ? "are" : "is", loc);
        snprintf(f->prompt, sizeof f->prompt, "%s cotton-wool %s", place_adjective(f),
                 f->p[3] > 1.5 ? "spots" : "spot");
        break;
    }
    }
    afloc_synth_sentence_end(s, n);
}

static void write_negations(const int *present, afloc_rng *rng, afloc_synth_sentences *s) {
    static const char *const haem[] = {"No haemorrhages.", "No retinal haemorrhages are seen.",
                                       "There are no haemorrhages."};
    static const char *const exud[] = {"No exudates.", "No hard exudates are seen."};
    static const char *const both[] = {"No haemorrhages or exudates.",
                                       "There are no haemorrhages or exudates."};
    static const char *const drusen[] = {"No drusen.", "The macula is free of drusen."};
    static const char *const cws[] = {"No cotton-wool spots.", "There are no cotton-wool spots."};
    int neg_h = !present[AFLOC_FUNDUS_HAEMORRHAGE] && afloc_synth_chance(rng, 0.7);
    int neg_e = !present[AFLOC_FUNDUS_EXUDATE] && afloc_synth_chance(rng, 0.7);
    if (neg_h && neg_e && afloc_synth_chance(rng, 0.5)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, both));
    else {
        if (neg_h) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, haem));
        if (neg_e) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, exud));
    }
    if (!present[AFLOC_FUNDUS_DRUSEN] && afloc_synth_chance(rng, 0.5))
        afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, drusen));
    if (!present[AFLOC_FUNDUS_COTTON_WOOL] && afloc_synth_chance(rng, 0.45))
        afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, cws));
}

static void write_report_once(afloc_synth_case *c, afloc_rng *rng, afloc_synth_sentences *s) {
    static const char *const right[] = {"Colour fundus photograph of the right eye.",
                                        "Right eye, macula-centred fundus photograph.",
                                        "Fundus photograph, right eye."};
    static const char *const left[] = {"Colour fundus photograph of the left eye.",
                                       "Left eye, macula-centred fundus photograph.",
                                       "Fundus photograph, left eye."};
    static const char *const disc[] = {"The optic disc appears healthy.",
                                       "The optic disc is pink and well defined.",
                                       "Healthy optic disc with a normal cup.",
                                       "The disc margins are sharp."};
    static const char *const vessels[] = {"The vessels are of normal calibre.",
                                          "Retinal vessels are unremarkable.",
                                          "Normal vascular arcades."};
    static const char *const macula[] = {"The macula appears normal.",
                                          "Normal foveal reflex.", "The macula is flat and healthy."};
    static const char *const normal[] = {"No diabetic retinopathy.", "Normal fundus.",
                                         "No retinal abnormality is seen."};
    int present[AFLOC_FUNDUS_CLASSES] = {0};
    for (int32_t i = 0; i < c->count; i++) present[c->findings[i].category] = 1;
    int right_eye = c->anatomy[AFLOC_FUNDUS_ANATOMY_EYE] == 0.0;
    if (afloc_synth_chance(rng, 0.7))
        afloc_synth_sentence_fixed(s, right_eye ? AFLOC_SYNTH_PICK(rng, right) : AFLOC_SYNTH_PICK(rng, left));
    int32_t body = s->count;
    if (afloc_synth_chance(rng, 0.75)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, disc));
    if (afloc_synth_chance(rng, 0.4)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, vessels));
    for (int32_t i = 0; i < c->count; i++) write_finding(&c->findings[i], rng, s);
    if (!present[AFLOC_FUNDUS_DRUSEN] && afloc_synth_chance(rng, 0.4))
        afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, macula));
    write_negations(present, rng, s);
    if (afloc_synth_chance(rng, 0.5)) afloc_synth_sentences_shuffle(s, body, s->count, rng);
    if (afloc_synth_chance(rng, 0.5)) {
        char *t = afloc_synth_sentence_begin(s);
        int n;
        if (c->count == 0) {
            n = snprintf(t, CAP, "IMPRESSION: %s", AFLOC_SYNTH_PICK(rng, normal));
        } else if (present[AFLOC_FUNDUS_HAEMORRHAGE] || present[AFLOC_FUNDUS_EXUDATE] ||
                   present[AFLOC_FUNDUS_COTTON_WOOL]) {
            static const char *const dr[] = {"features of non-proliferative diabetic retinopathy.",
                                             "background diabetic retinopathy.",
                                             "findings consistent with diabetic retinopathy."};
            n = snprintf(t, CAP, "IMPRESSION: %s%s", AFLOC_SYNTH_PICK(rng, dr),
                         present[AFLOC_FUNDUS_DRUSEN] ? " Drusen at the macula." : "");
        } else {
            static const char *const amd[] = {"early age-related macular degeneration.",
                                              "dry age-related macular changes."};
            n = snprintf(t, CAP, "IMPRESSION: %s", AFLOC_SYNTH_PICK(rng, amd));
        }
        if (n > 12 && n < CAP && t[12] >= 'a' && t[12] <= 'z') t[12] = (char)(t[12] - 'a' + 'A');
        afloc_synth_sentence_end(s, n);
    }
    if (s->count == 0) afloc_synth_sentence_fixed(s, "Normal fundus appearance.");
}

afloc_status afloc_synth_fundus_write_text(afloc_synth_case *c, afloc_rng *rng,
                                           const char *function) {
    return afloc_synth_report_write(c, rng, write_report_once, function);
}
