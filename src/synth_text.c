/* synth_text.c: sentence-list helpers shared by the three report writers (chest X-ray, fundus,
 * histology; issue 5): appending capitalised sentences, shuffling, joining them into a report,
 * and redrawing a report while it is empty or while the §4.3 caption cache (stop at 5 words)
 * would drop one of its sentences. */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "synth.h"
#include "text_clean.h"

int afloc_synth_chance(afloc_rng *rng, double p) { return afloc_synth_uniform(rng, 0.0, 1.0) < p; }

char *afloc_synth_sentence_begin(afloc_synth_sentences *s) {
    if (s->count >= AFLOC_SYNTH_MAX_SENTENCES) {
        s->overflow = 1;
        return s->text[AFLOC_SYNTH_MAX_SENTENCES - 1];
    }
    return s->text[s->count++];
}

void afloc_synth_sentence_end(afloc_synth_sentences *s, int length) {
    if (s->count == 0) return;
    char *t = s->text[s->count - 1];
    if (length < 0 || length >= AFLOC_SYNTH_SENTENCE_CAPACITY) s->overflow = 1;
    if (t[0] >= 'a' && t[0] <= 'z') t[0] = (char)(t[0] - 'a' + 'A');
}

void afloc_synth_sentence_fixed(afloc_synth_sentences *s, const char *text) {
    char *t = afloc_synth_sentence_begin(s);
    afloc_synth_sentence_end(s, snprintf(t, AFLOC_SYNTH_SENTENCE_CAPACITY, "%s", text));
}

void afloc_synth_sentences_shuffle(afloc_synth_sentences *s, int32_t from, int32_t to,
                                   afloc_rng *rng) {
    char tmp[AFLOC_SYNTH_SENTENCE_CAPACITY];
    for (int32_t i = to - 1; i > from; i--) {
        int32_t j = from + (int32_t)afloc_rng_below(rng, (uint64_t)(i - from + 1));
        if (j == i) continue;
        memcpy(tmp, s->text[i], sizeof tmp);
        memcpy(s->text[i], s->text[j], sizeof tmp);
        memcpy(s->text[j], tmp, sizeof tmp);
    }
}

/* Joins the sentences with single spaces into c->report; 0 if it does not fit or is empty. */
static int join(const afloc_synth_sentences *s, afloc_synth_case *c) {
    size_t n = 0;
    for (int32_t i = 0; i < s->count; i++) {
        size_t len = strlen(s->text[i]);
        if (n + len + 2 > AFLOC_SYNTH_REPORT_CAPACITY) return 0;
        if (i) c->report[n++] = ' ';
        memcpy(c->report + n, s->text[i], len);
        n += len;
    }
    c->report[n] = '\0';
    return n > 0;
}

/* *keeps = 1 if the caption cache (stop at 5 words) keeps every sentence of the report. */
static afloc_status cache_keeps_all(const char *report, int *keeps, const char *function) {
    afloc_text_sentences all = {0}, cached = {0};
    size_t len = strlen(report);
    afloc_status status = afloc_text_clean_sentences(report, len, 0, &all, function);
    if (status == AFLOC_OK) status = afloc_text_clean_sentences(report, len, 5, &cached, function);
    if (status == AFLOC_OK) *keeps = all.count == cached.count;
    afloc_text_sentences_free(&all);
    afloc_text_sentences_free(&cached);
    return status;
}

afloc_status afloc_synth_report_write(afloc_synth_case *c, afloc_rng *rng,
                                      void (*once)(afloc_synth_case *c, afloc_rng *rng,
                                                   afloc_synth_sentences *s),
                                      const char *function) {
    afloc_synth_sentences s;
    int written = 0;
    for (int attempt = 0; attempt < 8 || !written; attempt++) {
        /* Every optional sentence of a normal case can be skipped at once (about 1 case in 4000):
         * an empty report is redrawn like one the caption cache would cut. */
        if (attempt >= 64)
            return afloc_fail(AFLOC_ERR_INTERNAL, "%s: no non-empty synthetic report in 64 draws (case %d)",
                              function, c->index);
        memset(&s, 0, sizeof s);
        once(c, rng, &s);
        if (s.overflow)
            return afloc_fail(AFLOC_ERR_INTERNAL, "%s: a synthetic report did not fit (case %d)",
                              function, c->index);
        written = join(&s, c);
        if (!written) continue;
        int keeps = 0;
        AFLOC_TRY(cache_keeps_all(c->report, &keeps, function));
        if (keeps) break;
    }
    return AFLOC_OK;
}
