/* synth_report_cxr.c: radiologist-style free text for a synthetic chest radiograph (issue 5):
 * the report (view, findings with synonyms and paraphrases in varied order, negations of absent
 * findings, normal statements, an optional impression; no geometry) and a short test prompt per
 * finding ("small left pleural effusion", "right upper lobe nodule"). Sides are the patient's.
 *
 * Every prompt has at least two words: MODEL.md §4.1 drops one-word texts entirely. A report is
 * redrawn (a few times) when the §4.3 caption cache would stop early on it, i.e. when the running
 * word count of its sentences equals captions_per_image = 5 before the last sentence. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "synth.h"

/* ---- words ---- */

static const char *side_word(int32_t side) {
    return side == AFLOC_SYNTH_SIDE_LEFT ? "left"
           : side == AFLOC_SYNTH_SIDE_RIGHT ? "right"
                                            : "bilateral";
}

/* "right upper lobe", "lingula"-style lobe names and "right mid lung zone" paraphrases. */
static void lobe_name(const afloc_synth_finding *f, char *out, size_t cap) {
    static const char *const zones[3] = {"upper", "middle", "lower"};
    if (f->side == AFLOC_SYNTH_SIDE_LEFT && f->zone == 1) snprintf(out, cap, "lingula");
    else snprintf(out, cap, "%s %s lobe", side_word(f->side), zones[f->zone]);
}
static void lobe_adjective(const afloc_synth_finding *f, char *out, size_t cap) {
    if (f->side == AFLOC_SYNTH_SIDE_LEFT && f->zone == 1) snprintf(out, cap, "lingular");
    else lobe_name(f, out, cap);
}

/* A location with its article: "the right upper lobe", "the left mid lung", "the right lung
 * base". */
static void location(const afloc_synth_finding *f, afloc_rng *rng, char *out, size_t cap) {
    static const char *const zones[3] = {"upper", "mid", "lower"};
    char lobe[48];
    lobe_name(f, lobe, sizeof lobe);
    switch (afloc_rng_below(rng, 4)) {
    case 0:
    case 1: snprintf(out, cap, "the %s", lobe); break;
    case 2: snprintf(out, cap, "the %s %s lung zone", side_word(f->side), zones[f->zone]); break;
    default:
        if (f->zone == 2) snprintf(out, cap, "the %s lung base", side_word(f->side));
        else if (f->zone == 0) snprintf(out, cap, "the %s upper lung", side_word(f->side));
        else snprintf(out, cap, "the %s mid lung", side_word(f->side));
        break;
    }
}

static const char *effusion_size(int32_t severity, afloc_rng *rng) {
    static const char *const small[] = {"small"}, *const moderate[] = {"moderate", "moderate-sized"},
                             *const large[] = {"large"};
    return severity == 0 ? AFLOC_SYNTH_PICK(rng, small) : severity == 1 ? AFLOC_SYNTH_PICK(rng, moderate) : AFLOC_SYNTH_PICK(rng, large);
}

/* ---- one finding: report sentence and prompt ---- */

static void write_nodule_or_mass(const afloc_synth_finding *f, afloc_rng *rng, char *s,
                                 char *prompt) {
    char loc[64], adj[48];
    location(f, rng, loc, sizeof loc);
    lobe_adjective(f, adj, sizeof adj);
    if (f->category == AFLOC_CXR_NODULE) {
        static const char *const small[] = {"small ", "subcentimeter "},
                                 *const plain[] = {"", "rounded ", "well-circumscribed "};
        const char *sz = f->severity == 0 ? AFLOC_SYNTH_PICK(rng, small) : AFLOC_SYNTH_PICK(rng, plain);
        switch (afloc_rng_below(rng, 4)) {
        case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is a %snodule in %s.", sz, loc); break;
        case 1: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "a %snodular opacity is seen in %s.", sz, loc); break;
        case 2: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "a %spulmonary nodule projects over %s.", sz, loc); break;
        default:
            snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY,
                     "a %snodule in %s is noted, and CT is recommended for further evaluation.",
                     sz, loc);
            break;
        }
        switch (afloc_rng_below(rng, 3)) {
        case 0: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s nodule", adj); break;
        case 1: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%snodule in %s", sz, loc); break;
        default: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s lung nodule", side_word(f->side)); break;
        }
        return;
    }
    static const char *const desc[] = {"", "lobulated ", "irregular "};
    const char *sz = f->severity == 0 ? "" : "large ", *d = AFLOC_SYNTH_PICK(rng, desc);
    switch (afloc_rng_below(rng, 3)) {
    case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is a %s%smass in %s.", sz, d, loc); break;
    case 1:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "a %s%smass is present in %s, concerning for malignancy.",
                 sz, d, loc);
        break;
    default: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "a %s%smass-like opacity occupies %s.", sz, d, loc); break;
    }
    switch (afloc_rng_below(rng, 3)) {
    case 0: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s mass", adj); break;
    case 1: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s%smass in %s", sz, d, loc); break;
    default: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s lung mass", side_word(f->side)); break;
    }
}

static void write_consolidation(const afloc_synth_finding *f, afloc_rng *rng, char *s,
                                char *prompt) {
    static const char *const kind[] = {"", "patchy ", "focal "}, *const kind2[] = {"patchy", "focal"};
    char loc[64], adj[48];
    location(f, rng, loc, sizeof loc);
    lobe_adjective(f, adj, sizeof adj);
    switch (afloc_rng_below(rng, 4)) {
    case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is %sconsolidation in %s.", AFLOC_SYNTH_PICK(rng, kind), loc); break;
    case 1:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s airspace opacity in %s may reflect pneumonia.",
                 AFLOC_SYNTH_PICK(rng, kind2), loc);
        break;
    case 2:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "airspace consolidation is seen in %s, concerning for infection.", loc);
        break;
    default: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "an area of consolidation is noted in %s.", loc); break;
    }
    switch (afloc_rng_below(rng, 3)) {
    case 0: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s consolidation", adj); break;
    case 1: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "consolidation in %s", loc); break;
    default: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s airspace opacity in %s", AFLOC_SYNTH_PICK(rng, kind2), loc); break;
    }
}

static void write_effusion(const afloc_synth_finding *f, afloc_rng *rng, char *s, char *prompt) {
    static const char *const plain[3] = {"small", "moderate", "large"};
    const char *sz = effusion_size(f->severity, rng), *side = side_word(f->side);
    if (f->side == AFLOC_SYNTH_SIDE_BILATERAL) {
        switch (afloc_rng_below(rng, 4)) {
        case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there are %s bilateral pleural effusions.", sz); break;
        case 1: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s bilateral effusions are present.", sz); break;
        case 2:
            snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is a %s amount of fluid in both pleural spaces.",
                     plain[f->severity]);
            break;
        default:
            snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY,
                     "blunting of both costophrenic angles reflects %s bilateral pleural effusions.", sz);
            break;
        }
        switch (afloc_rng_below(rng, 3)) {
        case 0: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s bilateral pleural effusions", sz); break;
        case 1: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "bilateral pleural effusions"); break;
        default: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "bilateral effusions"); break;
        }
        return;
    }
    switch (afloc_rng_below(rng, 5)) {
    case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is a %s %s pleural effusion.", sz, side); break;
    case 1: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "a %s %s effusion is present.", sz, side); break;
    case 2:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s %s pleural effusion is noted with blunting of the costophrenic angle.",
                 sz, side);
        break;
    case 3:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is a %s amount of fluid in the %s pleural space.",
                 plain[f->severity], side);
        break;
    default:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY,
                 "blunting of the %s costophrenic angle is consistent with a %s pleural effusion.",
                 side, sz);
        break;
    }
    switch (afloc_rng_below(rng, 4)) {
    case 0: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s %s pleural effusion", sz, side); break;
    case 1: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s pleural effusion", side); break;
    case 2: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s %s effusion", sz, side); break;
    default: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "fluid in the %s pleural space", side); break;
    }
}

static void write_pneumothorax(const afloc_synth_finding *f, afloc_rng *rng, char *s,
                               char *prompt) {
    static const char *const sizes[3] = {"small", "moderate", "large"};
    const char *sz = sizes[f->severity], *side = side_word(f->side);
    switch (afloc_rng_below(rng, 5)) {
    case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is a %s %s apical pneumothorax.", sz, side); break;
    case 1:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "a %s %s pneumothorax is present, with a visible pleural line.", sz, side);
        break;
    case 2: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s %s-sided pneumothorax is seen.", sz, side); break;
    case 3:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "a visible pleural line at the %s apex indicates a %s pneumothorax.",
                 side, sz);
        break;
    default:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is a %s %s pneumothorax without mediastinal shift.", sz, side);
        break;
    }
    switch (afloc_rng_below(rng, 3)) {
    case 0: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s %s pneumothorax", sz, side); break;
    case 1: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s apical pneumothorax", side); break;
    default: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s pneumothorax", side); break;
    }
}

static void write_cardiomegaly(const afloc_synth_finding *f, afloc_rng *rng, char *s,
                               char *prompt) {
    static const char *const adjs[3] = {"mild", "moderate", "marked"},
                             *const advs[3] = {"mildly", "moderately", "markedly"};
    const char *adj = adjs[f->severity], *adv = advs[f->severity];
    switch (afloc_rng_below(rng, 5)) {
    case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "the heart is %s enlarged.", adv); break;
    case 1: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s cardiomegaly is present.", adj); break;
    case 2: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "the cardiac silhouette is %s enlarged.", adv); break;
    case 3: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is %s cardiomegaly.", adj); break;
    default: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s enlargement of the cardiac silhouette is noted.", adj); break;
    }
    switch (afloc_rng_below(rng, 4)) {
    case 0: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s cardiomegaly", adj); break;
    case 1: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "enlarged cardiac silhouette"); break;
    case 2: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "enlarged heart"); break;
    default: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s enlarged heart", adv); break;
    }
}

static void write_atelectasis(const afloc_synth_finding *f, afloc_rng *rng, char *s, char *prompt) {
    static const char *const kinds[] = {"linear", "plate-like", "subsegmental", "minor"};
    const char *kind = AFLOC_SYNTH_PICK(rng, kinds);
    if (f->side == AFLOC_SYNTH_SIDE_BILATERAL) {
        switch (afloc_rng_below(rng, 3)) {
        case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is bibasilar %s atelectasis.", kind); break;
        case 1: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "bibasilar band-like opacities likely reflect atelectasis."); break;
        default: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s atelectasis is seen at both lung bases.", kind); break;
        }
        if (afloc_rng_below(rng, 2)) snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "bibasilar atelectasis");
        else snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "bibasilar %s atelectasis", kind);
        return;
    }
    char loc[64], adj[48];
    location(f, rng, loc, sizeof loc);
    lobe_adjective(f, adj, sizeof adj);
    switch (afloc_rng_below(rng, 3)) {
    case 0: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "there is %s atelectasis in %s.", kind, loc); break;
    case 1:
        snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "band-like opacity in %s likely reflects %s atelectasis.", loc, kind);
        break;
    default: snprintf(s, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s atelectasis is noted in %s.", kind, loc); break;
    }
    switch (afloc_rng_below(rng, 3)) {
    case 0:
        if (f->zone == 2) snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s basilar atelectasis", side_word(f->side));
        else snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s atelectasis", adj);
        break;
    case 1: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s atelectasis in %s", kind, loc); break;
    default: snprintf(prompt, AFLOC_SYNTH_PROMPT_CAPACITY, "%s atelectasis", adj); break;
    }
}

static void write_finding(afloc_synth_finding *f, afloc_rng *rng, afloc_synth_sentences *s) {
    char *t = afloc_synth_sentence_begin(s);
    t[0] = '\0';
    switch (f->category) {
    case AFLOC_CXR_NODULE:
    case AFLOC_CXR_MASS: write_nodule_or_mass(f, rng, t, f->prompt); break;
    case AFLOC_CXR_CONSOLIDATION: write_consolidation(f, rng, t, f->prompt); break;
    case AFLOC_CXR_EFFUSION: write_effusion(f, rng, t, f->prompt); break;
    case AFLOC_CXR_PNEUMOTHORAX: write_pneumothorax(f, rng, t, f->prompt); break;
    case AFLOC_CXR_CARDIOMEGALY: write_cardiomegaly(f, rng, t, f->prompt); break;
    default: write_atelectasis(f, rng, t, f->prompt); break;
    }
    afloc_synth_sentence_end(s, (int)strlen(t));
}

/* ---- normal statements and negations ---- */

static void write_negations(const int *present, afloc_rng *rng, afloc_synth_sentences *s) {
    static const char *const heart[] = {"The heart size is normal.", "Heart size is within normal limits.",
                                        "The cardiac silhouette is normal in size.", "Normal heart size."};
    static const char *const nodule[] = {"No pulmonary nodule is seen.",
                                         "No suspicious pulmonary nodule is identified."};
    static const char *const mass[] = {"No lung mass is identified.", "There is no mass."};
    static const char *const both_nm[] = {"No pulmonary nodules or masses are seen."};
    static const char *const consol[] = {"No focal consolidation.", "There is no focal consolidation.",
                                         "No focal airspace consolidation is seen."};
    static const char *const effusion[] = {"No pleural effusion.", "There is no pleural effusion.",
                                           "No pleural fluid is seen.", "The costophrenic angles are sharp."};
    static const char *const ptx[] = {"No pneumothorax.", "There is no pneumothorax.",
                                      "No evidence of pneumothorax."};
    static const char *const both_pl[] = {"No pleural effusion or pneumothorax.",
                                          "There is no pleural effusion or pneumothorax."};
    static const char *const atel[] = {"No atelectasis.", "There is no atelectasis."};
    static const char *const medi[] = {"The mediastinal and hilar contours are normal.",
                                       "Mediastinal contours are unremarkable.",
                                       "The hilar contours are within normal limits."};
    if (!present[AFLOC_CXR_CARDIOMEGALY] && afloc_synth_chance(rng, 0.85)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, heart));
    if (afloc_synth_chance(rng, 0.6)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, medi));
    int neg_n = !present[AFLOC_CXR_NODULE] && afloc_synth_chance(rng, 0.35);
    int neg_m = !present[AFLOC_CXR_MASS] && afloc_synth_chance(rng, 0.25);
    if (neg_n && neg_m && afloc_synth_chance(rng, 0.5)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, both_nm));
    else {
        if (neg_n) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, nodule));
        if (neg_m) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, mass));
    }
    if (!present[AFLOC_CXR_CONSOLIDATION] && afloc_synth_chance(rng, 0.6)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, consol));
    int neg_e = !present[AFLOC_CXR_EFFUSION] && afloc_synth_chance(rng, 0.75);
    int neg_p = !present[AFLOC_CXR_PNEUMOTHORAX] && afloc_synth_chance(rng, 0.7);
    if (neg_e && neg_p && afloc_synth_chance(rng, 0.5)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, both_pl));
    else {
        if (neg_e) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, effusion));
        if (neg_p) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, ptx));
    }
    if (!present[AFLOC_CXR_ATELECTASIS] && afloc_synth_chance(rng, 0.2)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, atel));
}

/* "Lungs are otherwise clear" and the bones close the findings, after any shuffle. */
static void write_closing(int lung_finding, afloc_rng *rng, afloc_synth_sentences *s) {
    static const char *const clear[] = {"The lungs are clear.", "Lungs are clear bilaterally.",
                                        "The lungs are well expanded and clear."};
    static const char *const otherwise[] = {"The lungs are otherwise clear.", "Lungs are otherwise clear."};
    static const char *const bones[] = {"No acute osseous abnormality.", "The osseous structures are intact.",
                                        "Visualized osseous structures are unremarkable."};
    if (afloc_synth_chance(rng, 0.7)) afloc_synth_sentence_fixed(s, lung_finding ? AFLOC_SYNTH_PICK(rng, otherwise) : AFLOC_SYNTH_PICK(rng, clear));
    if (afloc_synth_chance(rng, 0.4)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, bones));
}

/* One attempt at the whole text of case c. */
static void write_report_once(afloc_synth_case *c, afloc_rng *rng, afloc_synth_sentences *s) {
    static const char *const views[] = {"PA and lateral views of the chest.",
                                        "Frontal and lateral radiographs of the chest were obtained.",
                                        "Single frontal view of the chest.", "Portable AP chest radiograph."};
    static const char *const normal_impression[] = {"No acute cardiopulmonary process.",
                                                    "No acute cardiopulmonary abnormality.",
                                                    "Normal chest radiograph."};
    memset(s, 0, sizeof *s);
    int present[AFLOC_CXR_CLASSES] = {0}, lung_finding = 0;
    for (int32_t i = 0; i < c->count; i++) {
        present[c->findings[i].category] = 1;
        if (c->findings[i].category != AFLOC_CXR_CARDIOMEGALY) lung_finding = 1;
    }
    if (afloc_synth_chance(rng, 0.6)) afloc_synth_sentence_fixed(s, AFLOC_SYNTH_PICK(rng, views));
    int32_t body = s->count;
    for (int32_t i = 0; i < c->count; i++) write_finding(&c->findings[i], rng, s);
    afloc_synth_sentences_shuffle(s, body, s->count, rng);
    write_negations(present, rng, s);
    if (afloc_synth_chance(rng, 0.35)) afloc_synth_sentences_shuffle(s, body, s->count, rng); /* findings not always first */
    write_closing(lung_finding, rng, s);
    if (s->count > body && afloc_synth_chance(rng, 0.3)) {
        char tmp[AFLOC_SYNTH_SENTENCE_CAPACITY];
        memcpy(tmp, s->text[body], AFLOC_SYNTH_SENTENCE_CAPACITY);
        afloc_synth_sentence_end(s, snprintf(s->text[body], AFLOC_SYNTH_SENTENCE_CAPACITY, "FINDINGS: %s", tmp));
    }
    if (afloc_synth_chance(rng, 0.5)) {
        char *t = afloc_synth_sentence_begin(s);
        if (c->count == 0) {
            afloc_synth_sentence_end(s, snprintf(t, AFLOC_SYNTH_SENTENCE_CAPACITY, "IMPRESSION: %s", AFLOC_SYNTH_PICK(rng, normal_impression)));
        } else {
            /* the impression restates the findings as short phrases */
            int n = snprintf(t, AFLOC_SYNTH_SENTENCE_CAPACITY, "IMPRESSION: %s", c->findings[0].prompt);
            for (int32_t i = 1; i < c->count && n > 0 && n < AFLOC_SYNTH_SENTENCE_CAPACITY; i++)
                n += snprintf(t + n, AFLOC_SYNTH_SENTENCE_CAPACITY - (size_t)n, "%s%s",
                              i + 1 == c->count ? " and " : ", ", c->findings[i].prompt);
            if (n > 0 && n < AFLOC_SYNTH_SENTENCE_CAPACITY - 1) t[n++] = '.', t[n] = '\0';
            if (t[12] >= 'a' && t[12] <= 'z') t[12] = (char)(t[12] - 'a' + 'A'); /* after "IMPRESSION: " */
            afloc_synth_sentence_end(s, n);
        }
    }
}

afloc_status afloc_synth_cxr_write_text(afloc_synth_case *c, afloc_rng *rng, const char *function) {
    return afloc_synth_report_write(c, rng, write_report_once, function);
}
