/* captions.h: the training caption cache and per-sample caption sampling of MODEL.md §4.3, and
 * the seeded RNG of the data pipeline (issue 4: the data side of the trainer). Internal.
 *
 * RNG: xoshiro256** (Blackman & Vigna) seeded through splitmix64. The reference draws captions
 * with NumPy's global RNG inside DataLoader workers; that stream is NOT reproduced (nor could it
 * be: its worker interleaving is timing dependent). Only the distribution is: k uniform in
 * 1..n-1, then k distinct indices in uniformly random order. */
#ifndef AFLOC_CAPTIONS_H
#define AFLOC_CAPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "manifest.h"
#include "text_clean.h"

/* ---- RNG ---- */

typedef struct afloc_rng {
    uint64_t s[4];
} afloc_rng;

/* Seeds the generator from (seed, stream): the four state words are successive outputs of
 * splitmix64 started at seed ^ (stream * 0xD1B54A32D192ED03). Distinct streams give
 * independent-looking sequences (used per epoch and per batch by the loader). */
void afloc_rng_seed(afloc_rng *rng, uint64_t seed, uint64_t stream);

/* The next 64 random bits (xoshiro256**). */
uint64_t afloc_rng_next(afloc_rng *rng);

/* A uniform integer in [0, bound) for bound >= 1, without modulo bias (rejection of the short
 * top range of 2^64 mod bound). */
uint64_t afloc_rng_below(afloc_rng *rng, uint64_t bound);

/* ---- caption cache ---- */

/* How a training caption is made from the cached sentences of a report. */
typedef enum afloc_caption_mode {
    AFLOC_CAPTION_MODE_OFFICIAL = 0, /* §4.3 mode 1: n < 2: the sentence; else k in 1..n-1
                                        distinct sentences in random order, joined by ". "   */
    AFLOC_CAPTION_MODE_FULL     = 1  /* every cached sentence in report order, joined by ". "
                                        (deterministic; consumes no random numbers)          */
} afloc_caption_mode;

/* The §4.3 cache: per manifest row, the sentences kept by §4.1 with the stop rule "stop once the
 * running word count equals captions_per_image exactly". */
typedef struct afloc_caption_cache {
    afloc_text_sentences *rows;          /* (count) */
    int32_t               count;
    int32_t               captions_per_image;
    size_t                max_caption_size; /* largest caption of any row incl. the NUL */
} afloc_caption_cache;

/* Builds the cache for every row of `manifest` (captions_per_image >= 1; the reference uses 5).
 * A row left with no sentence gives AFLOC_ERR_FORMAT (the manifest already drops such rows).
 * Errors also: AFLOC_ERR_INVALID_ARGUMENT, AFLOC_ERR_OUT_OF_MEMORY. *out untouched on failure. */
afloc_status afloc_caption_cache_build(const afloc_manifest *manifest, int32_t captions_per_image,
                                       afloc_caption_cache **out, const char *function);

/* Releases a cache. NULL is a no-op. */
void afloc_caption_cache_free(afloc_caption_cache *cache);

/* Size in bytes (incl. the NUL) of the longest caption row `row` can produce: every sentence
 * joined by ". ". */
size_t afloc_caption_max_size(const afloc_caption_cache *cache, int32_t row);

/* Writes a caption of row `row` (0..count-1) into `out` (capacity bytes, NUL-terminated) and its
 * length without the NUL into *length (may be NULL). `rng` is advanced in OFFICIAL mode only
 * (and not for n < 2). Draw order: k = 1 + below(n - 1), then a partial Fisher-Yates shuffle of
 * 0..n-1 whose first k entries are the chosen indices, in order. Errors:
 * AFLOC_ERR_INVALID_ARGUMENT (row, mode, NULLs), AFLOC_ERR_BUFFER_TOO_SMALL (capacity below
 * afloc_caption_max_size; nothing written), AFLOC_ERR_OUT_OF_MEMORY (index scratch). */
afloc_status afloc_caption_sample(const afloc_caption_cache *cache, int32_t row,
                                  afloc_caption_mode mode, afloc_rng *rng, char *out,
                                  size_t capacity, size_t *length, const char *function);

#endif /* AFLOC_CAPTIONS_H */
