/* fuzz_manifest.c: libFuzzer target for the training manifest CSV parser (issue 4, the trainer's
 * data side). Parses the input without file checks, builds the caption cache and samples one
 * caption per row in both modes. Any status other than OK, FORMAT or LIMIT (and OOM under the
 * injected failure) is a bug; so is a crash, a sanitizer report or a leak. For one input in eight
 * (chosen from the byte sum, so a crash reproduces from the file alone) the k-th host allocation
 * fails, k = sum % 64. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "alloc.h"
#include "captions.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    unsigned sum = 0;
    for (size_t i = 0; i < size; i++) sum += data[i];
    int inject = sum % 8 == 5;
    if (inject) afloc_test_inject_alloc_failure((long)(sum / 8 % 64));
    afloc_manifest *m = NULL;
    int32_t dropped = -1;
    afloc_status status =
        afloc_manifest_parse((const char *)data, size, "fuzz.csv", "base", 0, &m, &dropped, "fuzz");
    if (status == AFLOC_OK) {
        if (!m || m->count < 1 || dropped != m->dropped_empty) abort();
        afloc_caption_cache *cache = NULL;
        afloc_status cs = afloc_caption_cache_build(m, 5, &cache, "fuzz");
        if (cs == AFLOC_OK) {
            afloc_rng rng;
            afloc_rng_seed(&rng, sum, 0);
            char *buffer = malloc(cache->max_caption_size);
            for (int32_t r = 0; buffer && r < cache->count; r++) {
                size_t len = 0;
                for (int mode = 0; mode <= 1; mode++) {
                    afloc_status ss = afloc_caption_sample(cache, r, (afloc_caption_mode)mode, &rng, buffer,
                                                           cache->max_caption_size, &len, "fuzz");
                    if (ss != AFLOC_OK && ss != AFLOC_ERR_OUT_OF_MEMORY) abort();
                    if (ss == AFLOC_OK && strlen(buffer) != len) abort();
                }
            }
            free(buffer);
            afloc_caption_cache_free(cache);
        } else if (cs != AFLOC_ERR_OUT_OF_MEMORY) {
            abort();
        }
        afloc_manifest_free(m);
    } else if (status != AFLOC_ERR_FORMAT && status != AFLOC_ERR_LIMIT &&
               !(status == AFLOC_ERR_OUT_OF_MEMORY && inject)) {
        abort();
    } else if (m) {
        abort();
    }
    afloc_test_inject_alloc_failure(-1);
    return 0;
}
