/* fuzz_safetensors.c: libFuzzer target for the safetensors reader (RELIABILITY T1). Raw bytes go
 * to afloc_st_parse_from_memory; every result must be AFLOC_OK or a documented error code, and an
 * accepted file must be internally consistent (ranges inside the data region, names findable,
 * every tensor copyable). The same bytes also go through the model file layer. Seeds:
 * corpus/safetensors/ (valid files and catalog cases); dictionary: safetensors.dict. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model_file.h"
#include "safetensors.h"

static void check_status(afloc_status status) {
    switch (status) {
    case AFLOC_OK:
    case AFLOC_ERR_FORMAT:
    case AFLOC_ERR_LIMIT:
    case AFLOC_ERR_UNSUPPORTED:
    case AFLOC_ERR_CORRUPT:
    case AFLOC_ERR_SCHEMA:
    case AFLOC_ERR_OUT_OF_MEMORY:
        return;
    default:
        abort(); /* an undocumented code is a bug the fuzzer must report */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* Smaller caps than the defaults keep each input fast; the logic is the same. */
    afloc_st_limits limits;
    afloc_st_limits_default(&limits);
    limits.max_header_bytes = 1 << 20;
    limits.max_tensors = 4096;
    afloc_st_file *file = NULL;
    afloc_status status = afloc_st_parse_from_memory(data, size, &limits, &file);
    check_status(status);
    if (status == AFLOC_OK) {
        size_t total = 0;
        for (int32_t t = 0; t < file->tensor_count; t++) {
            const afloc_st_tensor *x = &file->tensors[t];
            if (x->offset + x->nbytes > file->data_size || afloc_st_find(file, x->name) != t) abort();
            total += x->nbytes;
            unsigned char *copy = malloc(x->nbytes ? x->nbytes : 1);
            if (afloc_st_tensor_copy(file, t, copy, x->nbytes) != AFLOC_OK) abort();
            free(copy);
        }
        if (total != file->data_size) abort();
        afloc_st_free(file);
    }
    afloc_model_file *mf = NULL;
    status = afloc_mf_parse(data, size, &limits, NULL, 0, "fuzz", &mf);
    check_status(status);
    afloc_mf_free(mf);
    return 0;
}
