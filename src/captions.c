/* captions.c: the §4.3 caption cache, caption sampling and the data pipeline's seeded RNG
 * (issue 4: used by the trainer's data loader). */
#include "captions.h"

#include <string.h>

#include "alloc.h"
#include "error.h"

/* ---- RNG: splitmix64 seeding, xoshiro256** output ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void afloc_rng_seed(afloc_rng *rng, uint64_t seed, uint64_t stream) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t afloc_rng_next(afloc_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t afloc_rng_below(afloc_rng *rng, uint64_t bound) {
    if (bound <= 1) return 0;
    uint64_t threshold = (0 - bound) % bound; /* 2^64 mod bound: the short range to reject */
    for (;;) {
        uint64_t r = afloc_rng_next(rng);
        if (r >= threshold) return r % bound;
    }
}

/* ---- caption cache ---- */

static const char *sentence(const afloc_text_sentences *s, int32_t i) { return s->text + s->starts[i]; }

/* Every sentence joined by ". ", with the NUL. */
static size_t full_size(const afloc_text_sentences *s) {
    size_t size = 1;
    for (int32_t i = 0; i < s->count; i++) size += strlen(sentence(s, i)) + (i ? 2 : 0);
    return size;
}

afloc_status afloc_caption_cache_build(const afloc_manifest *manifest, int32_t captions_per_image,
                                       afloc_caption_cache **out, const char *function) {
    if (!function) function = "afloc_caption_cache_build";
    if (!manifest || !out || manifest->count < 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL or empty manifest, or NULL output", function);
    if (captions_per_image < 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: captions_per_image %d, must be >= 1", function,
                          captions_per_image);
    afloc_caption_cache *cache = afloc_calloc(1, sizeof *cache);
    if (cache) cache->rows = afloc_calloc((size_t)manifest->count, sizeof *cache->rows);
    if (!cache || !cache->rows) {
        afloc_free(cache);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for %d cached reports", function,
                          manifest->count);
    }
    cache->captions_per_image = captions_per_image;
    afloc_status status = AFLOC_OK;
    for (int32_t r = 0; r < manifest->count && status == AFLOC_OK; r++) {
        const afloc_manifest_row *row = &manifest->rows[r];
        status = afloc_text_clean_sentences(row->report, row->report_len, captions_per_image, &cache->rows[r],
                                            function);
        if (status != AFLOC_OK) break;
        cache->count = r + 1;
        if (cache->rows[r].count == 0)
            status = afloc_fail(AFLOC_ERR_FORMAT, "%s: %s line %lld: the report keeps no sentence", function,
                                manifest->name, (long long)row->line);
        size_t size = full_size(&cache->rows[r]);
        if (size > cache->max_caption_size) cache->max_caption_size = size;
    }
    if (status != AFLOC_OK) {
        afloc_caption_cache_free(cache);
        return status;
    }
    *out = cache;
    return AFLOC_OK;
}

void afloc_caption_cache_free(afloc_caption_cache *cache) {
    if (!cache) return;
    for (int32_t r = 0; r < cache->count; r++) afloc_text_sentences_free(&cache->rows[r]);
    afloc_free(cache->rows);
    afloc_free(cache);
}

size_t afloc_caption_max_size(const afloc_caption_cache *cache, int32_t row) {
    if (!cache || row < 0 || row >= cache->count) return 0;
    return full_size(&cache->rows[row]);
}

afloc_status afloc_caption_sample(const afloc_caption_cache *cache, int32_t row, afloc_caption_mode mode,
                                  afloc_rng *rng, char *out, size_t capacity, size_t *length,
                                  const char *function) {
    if (!function) function = "afloc_caption_sample";
    if (!cache || !out || (mode == AFLOC_CAPTION_MODE_OFFICIAL && !rng))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL cache, output or rng", function);
    if (row < 0 || row >= cache->count)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: row %d outside 0..%d", function, row,
                          cache->count - 1);
    if (mode != AFLOC_CAPTION_MODE_OFFICIAL && mode != AFLOC_CAPTION_MODE_FULL)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: caption mode %d is not 0 (official) or 1 (full)",
                          function, (int)mode);
    const afloc_text_sentences *s = &cache->rows[row];
    size_t need = full_size(s);
    if (capacity < need)
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: caption buffer of %zu bytes, row %d needs %zu",
                          function, capacity, row, need);
    int32_t n = s->count, k = n;
    int32_t small[64];
    int32_t *order = small;
    if (n > (int32_t)(sizeof small / sizeof small[0])) {
        order = afloc_malloc((size_t)n * sizeof *order);
        if (!order)
            return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for %d sentence indices", function,
                              n);
    }
    for (int32_t i = 0; i < n; i++) order[i] = i;
    if (mode == AFLOC_CAPTION_MODE_OFFICIAL && n >= 2) {
        k = 1 + (int32_t)afloc_rng_below(rng, (uint64_t)(n - 1)); /* numpy randint(1, n): 1..n-1 */
        for (int32_t i = 0; i < k; i++) {                         /* choice(n, k, replace=False) */
            int32_t j = i + (int32_t)afloc_rng_below(rng, (uint64_t)(n - i));
            int32_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    size_t pos = 0;
    for (int32_t i = 0; i < k; i++) {
        if (i) {
            out[pos++] = '.';
            out[pos++] = ' ';
        }
        const char *text = sentence(s, order[i]);
        size_t len = strlen(text);
        memcpy(out + pos, text, len);
        pos += len;
    }
    out[pos] = '\0';
    if (order != small) afloc_free(order);
    if (length) *length = pos;
    return AFLOC_OK;
}
