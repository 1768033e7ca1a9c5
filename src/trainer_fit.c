/* trainer_fit.c: afloc_trainer_fit, training over a manifest: the manifest and caption cache
 * (manifest.h, captions.h, MODEL.md §4.3), the threaded batch loader (data_loader.h), one
 * trainer step per batch, the position kept for checkpoints, and the progress callback with
 * throughput and ETA. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "captions.h"
#include "data_loader.h"
#include "error.h"
#include "file_io.h"
#include "manifest.h"
#include "trainer.h"

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The manifest at `path`, image paths resolved against `image_root` (NULL: its folder). */
static afloc_status load_manifest(const char *path, const char *image_root, afloc_manifest **out,
                                  const char *fn) {
    if (!image_root) return afloc_manifest_load(path, out, NULL, fn);
    unsigned char *data = NULL;
    size_t size = 0;
    AFLOC_TRY(afloc_read_file(path, AFLOC_MANIFEST_MAX_BYTES, fn, &data, &size));
    const char *slash = strrchr(path, '/');
    afloc_status st = afloc_manifest_parse((const char *)data, size, slash ? slash + 1 : path,
                                           image_root, 1, out, NULL, fn);
    afloc_free(data);
    return st;
}

typedef struct fit_run {
    afloc_trainer *t;
    int32_t epochs, per_epoch;
    int64_t steps_left;   /* steps still to take when the loop started */
    int64_t steps_done;   /* in this call                              */
    int64_t images_done;  /* in this call                              */
    double start;
} fit_run;

/* Calls the progress callback after a step; returns nonzero when it asks to stop. */
static int report(fit_run *r, const afloc_train_loss_terms *terms, int32_t epoch, int32_t batch) {
    const afloc_trainer_options *o = &r->t->options;
    if (!o->progress) return 0;
    const double elapsed = seconds_now() - r->start;
    afloc_train_progress p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.step = afloc_trainer_count(r->t);
    p.epoch = epoch;
    p.epochs = r->epochs;
    p.batch = batch;
    p.batches_per_epoch = r->per_epoch;
    p.loss = *terms;
    p.images_per_second = elapsed > 0 ? (double)r->images_done / elapsed : 0.0;
    p.eta_seconds = elapsed / (double)r->steps_done * (double)(r->steps_left - r->steps_done);
    return o->progress(o->progress_user, &p) != 0;
}

/* The loop: one step per batch from the trainer's position until r->epochs. */
static afloc_status fit_loop(fit_run *r, afloc_data_loader *loader, const char *fn) {
    afloc_trainer *t = r->t;
    const afloc_data_batch *batch = NULL;
    if (t->epoch >= r->epochs) return AFLOC_OK;
    /* a resumed trainer's position is the loader's start_batch: the first batch is already
     * the trainer's (checked below), nothing before it was prepared */
    while (t->epoch < r->epochs) {
        AFLOC_TRY(afloc_data_loader_next(loader, &batch, fn));
        if (batch->epoch != t->epoch || batch->index != t->batch)
            return afloc_fail(AFLOC_ERR_INTERNAL, "%s: loader at epoch %lld batch %lld, trainer at "
                              "%d / %d", fn, (long long)batch->epoch, (long long)batch->index,
                              (int)t->epoch, (int)t->batch);
        AFLOC_TRY(afloc_trainer_tokenize(t, batch->captions, batch->count, fn));
        afloc_train_loss_terms terms;
        memset(&terms, 0, sizeof terms);
        terms.struct_size = sizeof terms;
        const int32_t epoch = t->epoch, index = t->batch;
        AFLOC_TRY(afloc_trainer_run(t, batch->images, batch->count, &terms, fn));
        if (t->batch >= r->per_epoch) {
            t->epoch++;
            t->batch = 0;
        }
        r->steps_done++;
        r->images_done += batch->count;
        if (report(r, &terms, epoch, index))
            return afloc_fail(AFLOC_ERR_CANCELLED, "%s: stopped by the progress callback after "
                              "step %lld (epoch %d, batch %d)", fn,
                              (long long)afloc_trainer_count(t), (int)epoch, (int)index);
    }
    return AFLOC_OK;
}

afloc_status afloc_trainer_fit(afloc_trainer *t, const char *manifest_path, const char *image_root,
                               int32_t epochs) {
    static const char fn[] = "afloc_trainer_fit";
    afloc_clear_error();
    if (!t || !manifest_path)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                          !t ? "trainer" : "manifest_path");
    if (epochs < 0) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: epochs %d < 0", fn, (int)epochs);
    if (epochs == 0) epochs = t->options.epochs;
    const afloc_config *c = &t->model->config;
    afloc_manifest *manifest = NULL;
    afloc_caption_cache *cache = NULL;
    afloc_data_loader *loader = NULL;
    AFLOC_TRY(load_manifest(manifest_path, image_root, &manifest, fn));
    afloc_status st = afloc_caption_cache_build(manifest, c->captions_per_image, &cache, fn);
    const int32_t n = manifest->count, B = t->options.batch_size;
    afloc_data_loader_options lo;
    afloc_data_loader_options_default(&lo);
    lo.batch_size = B;
    lo.image_size = c->image_size;
    lo.crop_size = c->crop_size;
    lo.seed = t->options.seed;
    lo.caption_mode = t->options.caption_mode;
    lo.drop_last = t->options.drop_last;
    lo.mirror_pairs = t->options.mirror_pairs;
    lo.threaded = 1;
    const int32_t per_epoch = (int32_t)afloc_data_loader_batches_per_epoch(&lo, n);
    if (st == AFLOC_OK && per_epoch < 1)
        st = afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch_size %d with drop_last leaves no "
                        "batch of the %d rows of %s", fn, (int)B, (int)n, manifest->name);
    /* where this fit starts: the trainer's position, or the next epoch for a position past this
     * manifest's epoch end; applied to the trainer once the loader exists */
    int32_t start_epoch = t->epoch, start_index = t->batch;
    if (start_index >= per_epoch) {
        start_epoch++;
        start_index = 0;
    }
    if (st == AFLOC_OK) {
        lo.start_batch = (int64_t)start_epoch * per_epoch + start_index; /* no decoding before */
        st = afloc_data_loader_create(manifest, cache, &lo, &loader, fn);
    }
    if (st == AFLOC_OK) {
        t->epoch = start_epoch;
        t->batch = start_index;
        /* a fit of this manifest fixes the cosine schedule's length once; a checkpoint keeps it */
        afloc_lr_schedule *s = &t->schedule;
        if (s->kind == AFLOC_LR_WARMUP_COSINE && s->total_steps == 0) {
            s->total_steps = (int64_t)epochs * per_epoch;
            if (s->total_steps < s->warmup_steps) s->total_steps = s->warmup_steps;
        }
        fit_run r = {.t = t, .epochs = epochs, .per_epoch = per_epoch, .start = seconds_now()};
        r.steps_left = (int64_t)(epochs - t->epoch) * per_epoch - t->batch;
        st = fit_loop(&r, loader, fn);
        if (r.steps_done > 0 && (st == AFLOC_OK || st == AFLOC_ERR_CANCELLED)) {
            char reason[AFLOC_ERROR_CAPACITY];
            snprintf(reason, sizeof reason, "%s", afloc_last_error());
            afloc_status up = afloc_trainer_update_model(t);
            if (up != AFLOC_OK) st = up;
            else if (st != AFLOC_OK) afloc_fail(st, "%s", reason);
        }
    }
    afloc_data_loader_free(loader);
    afloc_caption_cache_free(cache);
    afloc_manifest_free(manifest);
    return st;
}
