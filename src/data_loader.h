/* data_loader.h: training batches for the trainer (issue 4): seeded epoch shuffling, PNG decoding
 * and preprocessing (MODEL.md §2.4: the inference preprocessing) and §4.3 captions, prepared on a
 * worker thread one batch ahead of the step (double buffering). Internal; no public API yet.
 *
 * Determinism: epoch e visits the rows in the order of a Fisher-Yates shuffle driven by
 * afloc_rng_seed(seed, 2e + 1); the captions of batch b of epoch e use afloc_rng_seed(seed,
 * 2(e·2^32 + b) + 2), drawn sample by sample in batch order. Nothing depends on timing, so the
 * threaded and synchronous loaders give bit-identical batches. Both streams are seeded afresh
 * per epoch and per batch (no state carried from one batch to the next), so a loader can start
 * at any batch (start_batch) without preparing the ones before it: a resumed fit decodes no
 * image it will not train on. A mirror pair's twin uses the caption drawn for its original. */
#ifndef AFLOC_DATA_LOADER_H
#define AFLOC_DATA_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"
#include "captions.h"
#include "manifest.h"

typedef struct afloc_data_loader_options {
    int32_t  batch_size;   /* B >= 1                                                        */
    int32_t  image_size;   /* letterbox side (afloc_preprocess_options.image_size)          */
    int32_t  crop_size;    /* model input side                                              */
    float    mean, std;    /* normalisation (0.5, 0.5 in the reference)                     */
    uint64_t seed;
    int32_t  caption_mode; /* afloc_caption_mode                                            */
    int32_t  drop_last;    /* 1: every batch has B samples; 0: the epoch's last may be smaller */
    int32_t  threaded;     /* 1: a worker thread prepares the next batch; 0: synchronous    */
    int64_t  start_batch;  /* first batch handed out, counted over all epochs (epoch ·
                              batches per epoch + index), >= 0; the batches before it are
                              skipped without being prepared (no PNG decoded)              */
    int32_t  mirror_pairs; /* 1: each batch holds B/2 manifest rows (B even), each row twice
                              in a row: as read, then mirrored left-right with "left" and
                              "right" swapped in its caption (laterality.h), so the contrastive
                              losses see pairs that differ only in side; an epoch is then n/(B/2)
                              batches. 0 (default): B rows, as the paper                      */
} afloc_data_loader_options;

/* One prepared batch, owned by the loader, valid until the next afloc_data_loader_next or free. */
typedef struct afloc_data_batch {
    int32_t      count;    /* samples, 1..B                                                 */
    int64_t      epoch;    /* 0-based                                                       */
    int64_t      index;    /* batch within the epoch, 0-based                               */
    const int32_t *rows;   /* (count) manifest row of each sample                           */
    const float  *images;  /* (count, crop, crop) row-major normalised images               */
    const char *const *captions; /* (count) NUL-terminated captions                         */
} afloc_data_batch;

typedef struct afloc_data_loader afloc_data_loader;

/* Fills *options with B = 1, 224/224, mean = std = 0.5, seed 0, official captions, drop_last 1,
 * threaded 1, start_batch 0, mirror_pairs 0. */
void afloc_data_loader_options_default(afloc_data_loader_options *options);

/* Batches in one epoch of `rows` manifest rows under `options` (batch size, drop_last, mirror
 * pairs); 0 when drop_last leaves none. The one count the loader and the trainer's fit share. */
int64_t afloc_data_loader_batches_per_epoch(const afloc_data_loader_options *options, int32_t rows);

/* Creates a loader over `manifest` and `cache` (both borrowed: they must outlive the loader; the
 * cache must have been built from this manifest). With threaded = 1 the worker starts at once on
 * the first batch. Errors: AFLOC_ERR_INVALID_ARGUMENT (options out of range, B larger than the
 * row count with drop_last), AFLOC_ERR_OUT_OF_MEMORY, AFLOC_ERR_INTERNAL (thread creation). */
afloc_status afloc_data_loader_create(const afloc_manifest *manifest, const afloc_caption_cache *cache,
                                      const afloc_data_loader_options *options,
                                      afloc_data_loader **out, const char *function);

/* Returns the next batch (epochs follow each other without end; the batch says which). The
 * previous batch's memory is recycled. A failure while preparing a batch (unreadable or bad PNG,
 * out of memory) is returned here with the row, its manifest line and the path named; it is
 * sticky: later calls return it again. Call from one thread at a time. */
afloc_status afloc_data_loader_next(afloc_data_loader *loader, const afloc_data_batch **batch,
                                    const char *function);

/* Stops and joins the worker and releases everything. NULL is a no-op. */
void afloc_data_loader_free(afloc_data_loader *loader);

#endif /* AFLOC_DATA_LOADER_H */
