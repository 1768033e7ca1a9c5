/* data_loader.c: seeded shuffling and batch assembly (PNG decode, preprocessing, captions) on a
 * double-buffered worker thread (issue 4: the trainer's data side). */
#include "data_loader.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "laterality.h"

enum { SLOT_EMPTY = 0, SLOT_READY = 1, SLOT_IN_USE = 2 };

typedef struct loader_slot {
    afloc_data_batch batch;
    int32_t *rows;         /* (B)            */
    float *images;         /* (B, crop, crop) */
    const char **captions; /* (B)            */
    char *text;            /* captions back to back */
    size_t text_cap;
    afloc_status status; /* of the fill that produced this slot */
    char error[AFLOC_ERROR_CAPACITY];
    int state;
} loader_slot;

struct afloc_data_loader {
    const afloc_manifest *manifest;
    const afloc_caption_cache *cache;
    afloc_data_loader_options options;
    int64_t batches_per_epoch;
    int32_t *order;      /* the producer's permutation of the rows */
    int64_t order_epoch; /* the epoch `order` belongs to, -1: none */
    loader_slot slots[2];
    int64_t produced, consumed; /* batch sequence numbers (over all epochs) filled / handed
                                   out next; both start at options.start_batch */
    int current;                /* slot the caller holds, -1: none    */
    afloc_status failed;        /* sticky error once reported         */
    char failed_message[AFLOC_ERROR_CAPACITY];
    int threaded, stop, thread_started;
    pthread_t thread;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
};

void afloc_data_loader_options_default(afloc_data_loader_options *options) {
    if (!options) return;
    memset(options, 0, sizeof *options);
    options->batch_size = 1;
    options->image_size = 224;
    options->crop_size = 224;
    options->mean = 0.5f;
    options->std = 0.5f;
    options->seed = 0;
    options->caption_mode = AFLOC_CAPTION_MODE_OFFICIAL;
    options->drop_last = 1;
    options->threaded = 1;
    options->start_batch = 0;
    options->mirror_pairs = 0;
}

/* Manifest rows per batch: B, or B/2 with mirror pairs (each row then fills two samples). */
static int32_t rows_per_batch(const afloc_data_loader_options *o) {
    return o->mirror_pairs ? o->batch_size / 2 : o->batch_size;
}

int64_t afloc_data_loader_batches_per_epoch(const afloc_data_loader_options *o, int32_t rows) {
    const int32_t R = rows_per_batch(o);
    if (R < 1 || rows < 1) return 0;
    return o->drop_last ? rows / R : (rows + R - 1) / R;
}

/* Fills `slot` with batch number `seq` (counted over all epochs). Runs on the worker thread (or
 * the caller's in synchronous mode); touches only the slot and the loader's order. */
static afloc_status fill_slot(afloc_data_loader *L, loader_slot *slot, int64_t seq, const char *function) {
    const afloc_data_loader_options *o = &L->options;
    int32_t n = L->manifest->count, R = rows_per_batch(o);
    const int32_t copies = o->mirror_pairs ? 2 : 1; /* samples per row */
    int64_t epoch = seq / L->batches_per_epoch, index = seq % L->batches_per_epoch;
    afloc_rng rng;
    if (L->order_epoch != epoch) { /* Fisher-Yates, last position first */
        afloc_rng_seed(&rng, o->seed, 2 * (uint64_t)epoch + 1);
        for (int32_t i = 0; i < n; i++) L->order[i] = i;
        for (int32_t i = n - 1; i > 0; i--) {
            int32_t j = (int32_t)afloc_rng_below(&rng, (uint64_t)i + 1);
            int32_t t = L->order[i];
            L->order[i] = L->order[j];
            L->order[j] = t;
        }
        L->order_epoch = epoch;
    }
    int64_t first = index * R;
    int32_t count = (int32_t)((n - first) < R ? (n - first) : R) * copies;
    size_t need = 0;
    for (int32_t i = 0; i < count; i += copies) {
        size_t m = afloc_caption_max_size(L->cache, L->order[first + i / copies]);
        for (int32_t c = 0; c < copies; c++) slot->rows[i + c] = L->order[first + i / copies];
        need += m + (copies == 2 ? afloc_swap_sides_capacity(m) : 0);
    }
    if (need > slot->text_cap) {
        char *grown = afloc_realloc(slot->text, need);
        if (!grown)
            return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY,
                              "%s: out of memory for %zu bytes of captions (epoch %lld batch %lld)", function,
                              need, (long long)epoch, (long long)index);
        slot->text = grown;
        slot->text_cap = need;
    }
    afloc_preprocess_options pre;
    memset(&pre, 0, sizeof pre);
    pre.struct_size = sizeof pre;
    afloc_preprocess_options_default(&pre);
    pre.image_size = o->image_size;
    pre.crop_size = o->crop_size;
    pre.mean = o->mean;
    pre.std = o->std;
    size_t plane = (size_t)o->crop_size * (size_t)o->crop_size;
    afloc_rng_seed(&rng, o->seed, 2 * (((uint64_t)epoch << 32) + (uint64_t)index) + 2);
    size_t pos = 0;
    for (int32_t i = 0; i < count; i += copies) {
        int32_t row = slot->rows[i];
        const afloc_manifest_row *mr = &L->manifest->rows[row];
        afloc_image *image = NULL;
        afloc_status status = afloc_image_load_png(mr->image_path, NULL, &image);
        if (status == AFLOC_OK) {
            afloc_image_view view;
            memset(&view, 0, sizeof view);
            view.struct_size = sizeof view;
            status = afloc_image_get_view(image, &view);
            if (status == AFLOC_OK)
                status = afloc_image_preprocess(&view, &pre, slot->images + (size_t)i * plane, plane, NULL);
        }
        afloc_image_free(image);
        size_t len = 0;
        if (status == AFLOC_OK)
            status = afloc_caption_sample(L->cache, row, (afloc_caption_mode)o->caption_mode, &rng,
                                          slot->text + pos, slot->text_cap - pos, &len, function);
        if (status != AFLOC_OK) {
            char inner[AFLOC_ERROR_CAPACITY];
            snprintf(inner, sizeof inner, "%s", afloc_last_error());
            return afloc_fail(status, "%s: row %d (%s line %lld, \"%s\"): %s", function, row,
                              L->manifest->name, (long long)mr->line, mr->image_path, inner);
        }
        slot->captions[i] = slot->text + pos;
        pos += len + 1;
        if (copies == 2) { /* the mirror twin: image flipped, sides swapped in the caption */
            float *twin = slot->images + (size_t)(i + 1) * plane;
            memcpy(twin, slot->images + (size_t)i * plane, plane * sizeof *twin);
            afloc_mirror_plane(twin, (size_t)o->crop_size, (size_t)o->crop_size);
            len = afloc_swap_sides(slot->captions[i], slot->text + pos, slot->text_cap - pos);
            slot->captions[i + 1] = slot->text + pos;
            pos += len + 1;
        }
    }
    slot->batch.count = count;
    slot->batch.epoch = epoch;
    slot->batch.index = index;
    slot->batch.rows = slot->rows;
    slot->batch.images = slot->images;
    slot->batch.captions = slot->captions;
    return AFLOC_OK;
}

static void fill_and_record(afloc_data_loader *L, loader_slot *slot, int64_t seq) {
    slot->status = fill_slot(L, slot, seq, "afloc_data_loader_next");
    if (slot->status != AFLOC_OK) snprintf(slot->error, sizeof slot->error, "%s", afloc_last_error());
}

static void *worker_main(void *arg) {
    afloc_data_loader *L = arg;
    pthread_mutex_lock(&L->mutex);
    while (!L->stop) {
        loader_slot *slot = &L->slots[L->produced % 2];
        while (!L->stop && slot->state != SLOT_EMPTY) pthread_cond_wait(&L->cond, &L->mutex);
        if (L->stop) break;
        int64_t seq = L->produced;
        pthread_mutex_unlock(&L->mutex);
        fill_and_record(L, slot, seq);
        pthread_mutex_lock(&L->mutex);
        slot->state = SLOT_READY;
        L->produced++;
        pthread_cond_broadcast(&L->cond);
        if (slot->status != AFLOC_OK) break; /* nothing after a failed batch */
    }
    pthread_mutex_unlock(&L->mutex);
    return NULL;
}

static void free_slots(afloc_data_loader *L) {
    for (int s = 0; s < 2; s++) {
        afloc_free(L->slots[s].rows);
        afloc_free(L->slots[s].images);
        afloc_free((void *)L->slots[s].captions);
        afloc_free(L->slots[s].text);
    }
}

afloc_status afloc_data_loader_create(const afloc_manifest *manifest, const afloc_caption_cache *cache,
                                      const afloc_data_loader_options *options, afloc_data_loader **out,
                                      const char *function) {
    if (!function) function = "afloc_data_loader_create";
    if (!manifest || !cache || !options || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL manifest, cache, options or output",
                          function);
    const afloc_data_loader_options *o = options;
    if (cache->count != manifest->count || manifest->count < 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: caption cache of %d rows for a manifest of %d",
                          function, cache->count, manifest->count);
    if (o->batch_size < 1)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch size %d < 1", function, o->batch_size);
    if (o->image_size < 1 || o->image_size > 4096 || o->crop_size < 1 || o->crop_size > o->image_size)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: image size %d / crop size %d out of range",
                          function, o->image_size, o->crop_size);
    if (!(o->std > 0.0f) || o->std > 3.4e38f || !(o->mean == o->mean) || o->mean > 3.4e38f ||
        o->mean < -3.4e38f)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: mean %g / std %g not finite (std must be > 0)",
                          function, (double)o->mean, (double)o->std);
    if (o->caption_mode != AFLOC_CAPTION_MODE_OFFICIAL && o->caption_mode != AFLOC_CAPTION_MODE_FULL)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: caption mode %d is not 0 or 1", function,
                          o->caption_mode);
    if (o->mirror_pairs != 0 && (o->mirror_pairs != 1 || o->batch_size % 2 != 0))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: mirror_pairs %d needs 0, or 1 with an even "
                          "batch size (B = %d)", function, o->mirror_pairs, o->batch_size);
    if (o->drop_last && rows_per_batch(o) > manifest->count)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch size %d outside 1..%d", function,
                          o->batch_size, manifest->count * (o->mirror_pairs ? 2 : 1));
    if (o->start_batch < 0 || o->start_batch > ((int64_t)1 << 60))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: start batch %lld outside 0..2^60", function,
                          (long long)o->start_batch);
    size_t plane = (size_t)o->crop_size * (size_t)o->crop_size, B = (size_t)o->batch_size;
    if (B > ((size_t)1 << 40) / plane)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch of %zu images of %zu floats is too large",
                          function, B, plane);
    afloc_data_loader *L = afloc_calloc(1, sizeof *L);
    if (!L) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for the loader", function);
    int ok = (L->order = afloc_malloc((size_t)manifest->count * sizeof *L->order)) != NULL;
    for (int s = 0; s < 2 && ok; s++) {
        loader_slot *slot = &L->slots[s];
        ok = (slot->rows = afloc_malloc(B * sizeof *slot->rows)) != NULL &&
             (slot->images = afloc_malloc(B * plane * sizeof *slot->images)) != NULL &&
             (slot->captions = afloc_malloc(B * sizeof *slot->captions)) != NULL;
    }
    if (!ok) {
        free_slots(L);
        afloc_free(L->order);
        afloc_free(L);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for two batches of %zu images",
                          function, B);
    }
    L->manifest = manifest;
    L->cache = cache;
    L->options = *o;
    L->batches_per_epoch = afloc_data_loader_batches_per_epoch(o, manifest->count);
    L->order_epoch = -1;
    /* the seek: fill_slot derives the epoch's shuffle and the batch's caption stream from the
     * sequence number alone, so starting the counters here is all skipping takes */
    L->produced = L->consumed = o->start_batch;
    L->current = -1;
    L->threaded = o->threaded != 0;
    if (L->threaded) {
        int mutex_ok = pthread_mutex_init(&L->mutex, NULL) == 0;
        int cond_ok = mutex_ok && pthread_cond_init(&L->cond, NULL) == 0;
        int thread_ok = cond_ok && pthread_create(&L->thread, NULL, worker_main, L) == 0;
        if (!thread_ok) {
            if (cond_ok) pthread_cond_destroy(&L->cond);
            if (mutex_ok) pthread_mutex_destroy(&L->mutex);
            free_slots(L);
            afloc_free(L->order);
            afloc_free(L);
            return afloc_fail(AFLOC_ERR_INTERNAL, "%s: could not start the loader thread", function);
        }
        L->thread_started = 1;
    }
    *out = L;
    return AFLOC_OK;
}

afloc_status afloc_data_loader_next(afloc_data_loader *L, const afloc_data_batch **batch,
                                    const char *function) {
    if (!function) function = "afloc_data_loader_next";
    if (!L || !batch) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL loader or batch", function);
    if (L->failed != AFLOC_OK) return afloc_fail(L->failed, "%s", L->failed_message);
    loader_slot *slot;
    if (L->threaded) {
        pthread_mutex_lock(&L->mutex);
        if (L->current >= 0) {
            L->slots[L->current].state = SLOT_EMPTY;
            L->current = -1;
            pthread_cond_broadcast(&L->cond);
        }
        int index = (int)(L->consumed % 2);
        slot = &L->slots[index];
        while (slot->state != SLOT_READY) pthread_cond_wait(&L->cond, &L->mutex);
        slot->state = SLOT_IN_USE;
        L->current = index;
        pthread_mutex_unlock(&L->mutex);
    } else {
        slot = &L->slots[0];
        fill_and_record(L, slot, L->consumed);
    }
    if (slot->status != AFLOC_OK) {
        L->failed = slot->status;
        snprintf(L->failed_message, sizeof L->failed_message, "%s", slot->error);
        return afloc_fail(L->failed, "%s", L->failed_message);
    }
    L->consumed++;
    *batch = &slot->batch;
    return AFLOC_OK;
}

void afloc_data_loader_free(afloc_data_loader *L) {
    if (!L) return;
    if (L->thread_started) {
        pthread_mutex_lock(&L->mutex);
        L->stop = 1;
        pthread_cond_broadcast(&L->cond);
        pthread_mutex_unlock(&L->mutex);
        pthread_join(L->thread, NULL);
        pthread_cond_destroy(&L->cond);
        pthread_mutex_destroy(&L->mutex);
    }
    free_slots(L);
    afloc_free(L->order);
    afloc_free(L);
}
