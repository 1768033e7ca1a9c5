/* trainer.c: the public trainer (afloc.h, "training" section): options, create and free, one step
 * on caller-supplied images and captions (tokenizing, learning-rate schedule, OpenMP team size,
 * position), and the state queries. The manifest loop is trainer_fit.c, checkpoints are
 * trainer_checkpoint.c, the numeric step is train_step.c (MODEL.md §6, §7.1). */
#include "trainer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "alloc.h"
#include "captions.h"
#include "context.h"
#include "device_model.h"
#include "device_train.h"
#include "error.h"
#include "inference.h"
#include "options.h"

static const afloc_trainer_options default_options = {
    .struct_size = sizeof(afloc_trainer_options),
    .batch_size = 128,
    .epochs = 5,
    .seed = 1,
    .threads = 0,
    .lr_schedule = AFLOC_LR_SCHEDULE_STEP,
    .learning_rate = 2e-5,
    .lr_gamma = 0.9,
    .lr_step_epochs = 1,
    .warmup_steps = 0,
    .total_steps = 0,
    .min_learning_rate = 0.0,
    .caption_mode = AFLOC_TRAIN_CAPTIONS_RANDOM,
    .dropout = 0.1f,
    .drop_last = 1,
    .progress = NULL,
    .progress_user = NULL,
    .loss_weight_global = 1.0,
    .loss_weight_sentence = 1.0,
    .loss_weight_word = 1.0,
    .mirror_pairs = 0,
    .loss_weight_sentence_contrast = 0.0,
};

afloc_status afloc_trainer_options_default(afloc_trainer_options *options) {
    return afloc_options_fill_defaults(options, &default_options, sizeof default_options,
                                       "afloc_trainer_options_default");
}

/* ---- helpers ---- */

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

uint64_t afloc_trainer_dropout_seed(uint64_t seed, int64_t step) {
    /* a stream of its own: the data loader uses streams 2e+1 and 2(e·2^32+b)+2 of `seed` */
    afloc_rng rng;
    afloc_rng_seed(&rng, seed ^ 0x61666c6f632d6470ULL /* "afloc-dp" */, (uint64_t)step);
    return afloc_rng_next(&rng);
}

/* Checks the options and derives the schedule. */
static afloc_status check_options(const afloc_trainer_options *o, afloc_lr_schedule *s,
                                  const char *fn) {
    const afloc_status bad = AFLOC_ERR_INVALID_ARGUMENT;
    if (o->batch_size < 1 || o->batch_size > AFLOC_MAX_BATCH)
        return afloc_fail(bad, "%s: batch_size %d outside 1..%d", fn, (int)o->batch_size,
                          AFLOC_MAX_BATCH);
    if (o->epochs < 0) return afloc_fail(bad, "%s: epochs %d < 0", fn, (int)o->epochs);
    if (o->threads < 0 || o->threads > 4096)
        return afloc_fail(bad, "%s: threads %d outside 0..4096", fn, (int)o->threads);
    if (o->caption_mode != AFLOC_TRAIN_CAPTIONS_RANDOM && o->caption_mode != AFLOC_TRAIN_CAPTIONS_FULL)
        return afloc_fail(bad, "%s: caption_mode %d is not 0 (random) or 1 (full)", fn,
                          (int)o->caption_mode);
    if (!(o->dropout >= 0.0f && o->dropout < 1.0f))
        return afloc_fail(bad, "%s: dropout %g outside [0, 1)", fn, (double)o->dropout);
    if (o->drop_last != 0 && o->drop_last != 1)
        return afloc_fail(bad, "%s: drop_last %d is not 0 or 1", fn, (int)o->drop_last);
    if (o->mirror_pairs != 0 && (o->mirror_pairs != 1 || o->batch_size % 2 != 0))
        return afloc_fail(bad, "%s: mirror_pairs %d needs 0, or 1 with an even batch_size (%d)", fn,
                          (int)o->mirror_pairs, (int)o->batch_size);
    const double w[3] = {o->loss_weight_global, o->loss_weight_sentence, o->loss_weight_word};
    const char *wname[3] = {"global", "sentence", "word"};
    for (int i = 0; i < 3; i++)
        if (!(w[i] >= 0.0 && w[i] <= 1e6))
            return afloc_fail(bad, "%s: loss_weight_%s %g outside [0, 1e6]", fn, wname[i], w[i]);
    if (w[0] == 0.0 && w[1] == 0.0 && w[2] == 0.0)
        return afloc_fail(bad, "%s: all three loss weights are 0", fn);
    if (!(o->loss_weight_sentence_contrast >= 0.0 && o->loss_weight_sentence_contrast <= 1e6))
        return afloc_fail(bad, "%s: loss_weight_sentence_contrast %g outside [0, 1e6]", fn,
                          o->loss_weight_sentence_contrast);
    s->kind = o->lr_schedule;
    s->base_lr = o->learning_rate;
    s->gamma = o->lr_gamma;
    s->step_epochs = o->lr_step_epochs;
    s->warmup_steps = o->warmup_steps;
    s->total_steps = o->total_steps;
    s->min_lr = o->min_learning_rate;
    /* total 0 means "set by fit": check the rest as if it were the warmup length */
    afloc_lr_schedule check = *s;
    if (check.kind == AFLOC_LR_WARMUP_COSINE && check.total_steps == 0)
        check.total_steps = check.warmup_steps;
    return afloc_lr_schedule_check(&check, fn);
}

static int32_t team_size(const afloc_trainer_options *o, const afloc_model *model) {
    int32_t n = o->threads;
    if (n <= 0 && model->context) n = model->context->options.num_threads;
#ifdef _OPENMP
    if (n <= 0) n = omp_get_num_procs();
#endif
    return n > 0 ? n : 1;
}

/* BatchNorm running statistics move in every forward; a failed step (a non-finite gradient)
 * must leave the model as it was, so they are saved before and put back after a failure. */
static int is_running_stat(const afloc_param *p) {
    return p->kind == AFLOC_PARAM_RUNNING_MEAN || p->kind == AFLOC_PARAM_RUNNING_VAR;
}

static void running_stats(afloc_trainer *t, int restore) {
    const afloc_param_table *table = &t->model->table;
    size_t at = 0;
    for (int32_t i = 0; i < table->count; i++) {
        const afloc_param *p = &table->params[i];
        if (!is_running_stat(p)) continue;
        float *model = t->model->params + p->offset;
        if (restore) memcpy(model, t->stats + at, p->count * sizeof(float));
        else memcpy(t->stats + at, model, p->count * sizeof(float));
        at += p->count;
    }
}

/* ---- create / free ---- */

int64_t afloc_trainer_count(const afloc_trainer *t) {
    return t->device ? afloc_device_train_count(t->device) : afloc_train_step_count(t->step);
}

/* A CUDA context trains on the device (trainer.h). */
afloc_status afloc_trainer_pull_params(const afloc_trainer *t, float *m, float *v, const char *fn) {
    const afloc_model *model = t->model;
    afloc_status st = afloc_device_train_download(t->device, t->host_params, NULL, m, v);
    if (st != AFLOC_OK) {
        char inner[AFLOC_ERROR_CAPACITY];
        snprintf(inner, sizeof inner, "%s", afloc_last_error());
        return afloc_fail(st, "%s: %s", fn, inner);
    }
    memcpy(model->params, t->host_params, model->table.total_floats * sizeof(float));
    return AFLOC_OK;
}

static int on_device(const afloc_model *model) {
    return model->context && model->context->backend == AFLOC_BACKEND_CUDA && model->context->cuda;
}

void afloc_trainer_free(afloc_trainer *t) {
    if (!t) return;
    if (t->device) {
        /* the model keeps the trained weights, as on the CPU; best effort (free returns void):
         * on a device failure model->params keeps what it had */
        afloc_trainer_pull_params(t, NULL, NULL, "afloc_trainer_free");
        afloc_device_train_free(t->device);
    }
    afloc_free(t->host_m);
    afloc_free(t->host_v);
    afloc_free(t->host_params);
    afloc_train_step_free(t->step);
    afloc_train_step_free(t->side);
    afloc_free(t->ids);
    afloc_free(t->mask);
    afloc_free(t->lengths);
    afloc_free(t->stats);
    afloc_free(t);
}

/* The loss weights of `o` into a CPU step (the main step or a side step). */
static void step_weights(afloc_train_step *s, const afloc_trainer_options *o) {
    afloc_train_step_set_weights(s, o->loss_weight_global, o->loss_weight_sentence,
                                 o->loss_weight_word);
    afloc_train_step_set_sentence_contrast(s, o->loss_weight_sentence_contrast);
}

afloc_status afloc_trainer_create(afloc_model *model, const afloc_trainer_options *options,
                                  afloc_trainer **out) {
    static const char fn[] = "afloc_trainer_create";
    afloc_clear_error();
    if (!model || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !model ? "model" : "out");
    afloc_trainer_options o;
    AFLOC_TRY(afloc_options_read(&o, sizeof o, options, &default_options, fn));
    afloc_lr_schedule schedule;
    AFLOC_TRY(check_options(&o, &schedule, fn));
    afloc_trainer *t = afloc_calloc(1, sizeof *t);
    if (!t) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate the trainer", fn);
    t->model = model;
    t->options = o;
    t->schedule = schedule;
    t->threads = team_size(&o, model);
    t->T = model->config.token_length;
    t->crop = model->config.crop_size;
    const size_t BT = (size_t)o.batch_size * (size_t)t->T;
    t->ids = afloc_malloc(BT * sizeof *t->ids);
    t->mask = afloc_malloc(BT * sizeof *t->mask);
    t->lengths = afloc_malloc((size_t)o.batch_size * sizeof *t->lengths);
    for (int32_t i = 0; i < model->table.count; i++)
        if (is_running_stat(&model->table.params[i])) t->stats_floats += model->table.params[i].count;
    t->stats = afloc_malloc((t->stats_floats + 1) * sizeof *t->stats);
    if (!t->ids || !t->mask || !t->lengths || !t->stats) {
        afloc_trainer_free(t);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate token buffers for batch %d",
                          fn, (int)o.batch_size);
    }
    afloc_status st = AFLOC_OK;
    if (on_device(model)) {
        const size_t n = model->table.total_floats;
        t->host_m = afloc_calloc(n, sizeof(float));
        t->host_v = afloc_calloc(n, sizeof(float));
        t->host_params = afloc_calloc(n, sizeof(float));
        if (!t->host_m || !t->host_v || !t->host_params)
            st = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "host copies of the parameters and Adam m / v (%zu floats each)", n);
        if (st == AFLOC_OK)
            st = afloc_device_train_create(model, model->context->cuda->device,
                                           model->context->options.device_index,
                                           afloc_context_device_math(model->context), o.batch_size,
                                           o.dropout,
                                           "device step", &t->device);
        if (st == AFLOC_OK) {
            afloc_device_train_set_weights(t->device, o.loss_weight_global,
                                           o.loss_weight_sentence, o.loss_weight_word);
            afloc_device_train_set_sentence_contrast(t->device, o.loss_weight_sentence_contrast);
        }
    } else {
        st = afloc_train_step_create(&t->step, model, o.batch_size, o.dropout);
        if (st == AFLOC_OK) step_weights(t->step, &o);
    }
    if (st != AFLOC_OK) {
        char inner[AFLOC_ERROR_CAPACITY];
        snprintf(inner, sizeof inner, "%s", afloc_last_error());
        afloc_trainer_free(t);
        return afloc_fail(st, "%s: %s", fn, inner);
    }
    *out = t;
    return AFLOC_OK;
}

/* ---- one step ---- */

afloc_status afloc_trainer_tokenize(afloc_trainer *t, const char *const *captions, int32_t count,
                                    const char *function) {
    for (int32_t i = 0; i < count; i++) {
        if (!captions[i])
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: captions[%d] is NULL", function, (int)i);
        const size_t len = strlen(captions[i]);
        if (len > AFLOC_MAX_TEXT_BYTES)
            return afloc_fail(AFLOC_ERR_LIMIT, "%s: captions[%d] has %zu bytes, more than %u",
                              function, (int)i, len, AFLOC_MAX_TEXT_BYTES);
        afloc_status st = afloc_tokenizer_encode(t->model->tokenizer, captions[i], len,
                                                 t->ids + (size_t)i * t->T,
                                                 t->mask + (size_t)i * t->T, t->T, &t->lengths[i]);
        if (st != AFLOC_OK) {
            char inner[AFLOC_ERROR_CAPACITY];
            snprintf(inner, sizeof inner, "%s", afloc_last_error());
            return afloc_fail(st, "%s: captions[%d]: %s", function, (int)i, inner);
        }
    }
    return AFLOC_OK;
}

/* The step object for a batch of `count`: the main one, or a side step sharing its Adam state
 * (copied in before the run and back after it). */
static afloc_status side_step(afloc_trainer *t, int32_t count, const char *function) {
    if (t->side && t->side_B == count) return AFLOC_OK;
    afloc_train_step_free(t->side);
    t->side = NULL;
    t->side_B = 0;
    afloc_status st = afloc_train_step_create(&t->side, t->model, count, t->options.dropout);
    if (st == AFLOC_OK) step_weights(t->side, &t->options);
    if (st != AFLOC_OK) {
        char inner[AFLOC_ERROR_CAPACITY];
        snprintf(inner, sizeof inner, "%s", afloc_last_error());
        return afloc_fail(st, "%s: batch of %d: %s", function, (int)count, inner);
    }
    t->side_B = count;
    return AFLOC_OK;
}

static void copy_adam(afloc_train_step *to, afloc_train_step *from, size_t floats) {
    float *m_to, *v_to, *m_from, *v_from;
    afloc_train_step_adam_state(to, &m_to, &v_to);
    afloc_train_step_adam_state(from, &m_from, &v_from);
    memcpy(m_to, m_from, floats * sizeof(float));
    memcpy(v_to, v_from, floats * sizeof(float));
    afloc_train_step_set_count(to, afloc_train_step_count(from));
}

afloc_status afloc_trainer_run(afloc_trainer *t, const float *images, int32_t count,
                               afloc_train_loss_terms *terms, const char *function) {
    const double t0 = seconds_now();
    if (t->schedule.kind == AFLOC_LR_WARMUP_COSINE && t->schedule.total_steps == 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: the WARMUP_COSINE schedule has total_steps 0: set it in the options "
                          "or call afloc_trainer_fit", function);
    afloc_train_step *s = t->step;
    if (t->device) {
        afloc_status st = afloc_device_train_set_batch(t->device, count);
        if (st != AFLOC_OK) {
            char inner[AFLOC_ERROR_CAPACITY];
            snprintf(inner, sizeof inner, "%s", afloc_last_error());
            return afloc_fail(st, "%s: batch of %d: %s", function, (int)count, inner);
        }
    } else if (count != t->options.batch_size) {
        AFLOC_TRY(side_step(t, count, function));
        s = t->side;
        copy_adam(s, t->step, t->model->table.total_floats);
    }
    const int64_t step = afloc_trainer_count(t);
    const double lr = afloc_lr_at(&t->schedule, step, t->epoch);
    const uint64_t seed = afloc_trainer_dropout_seed(t->options.seed, step);
#ifdef _OPENMP
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(t->threads);
#endif
    afloc_train_losses l;
    memset(&l, 0, sizeof l);
    afloc_status st;
    if (t->device) {
        afloc_device_train_save_stats(t->device);
        st = afloc_device_train_run(t->device, images, t->ids, t->lengths, seed, lr, &l);
        if (st != AFLOC_OK) afloc_device_train_restore_stats(t->device);
    } else {
        running_stats(t, 0);
        st = afloc_train_step_run(s, images, t->ids, t->lengths, seed, lr, &l);
        if (st != AFLOC_OK) running_stats(t, 1);
    }
#ifdef _OPENMP
    omp_set_num_threads(saved_threads);
#endif
    if (st == AFLOC_OK && !t->device && s != t->step)
        copy_adam(t->step, s, t->model->table.total_floats);
    if (st == AFLOC_OK) t->batch++;
    if (terms && (st == AFLOC_OK || l.grad_norm != 0.0)) {
        afloc_train_loss_terms full;
        memset(&full, 0, sizeof full);
        full.struct_size = sizeof full;
        full.global = l.global;
        full.sentence = l.sentence;
        full.word = l.word;
        full.total = l.total;
        full.grad_norm = l.grad_norm;
        full.learning_rate = lr;
        full.step_seconds = seconds_now() - t0;
        full.word_loss_seconds = l.word_seconds;
        full.sentence_contrast = l.contrast;
        size_t caller_size;
        memcpy(&caller_size, terms, sizeof caller_size);
        afloc_options_write(terms, caller_size, &full, sizeof full);
    }
    if (st != AFLOC_OK) {
        char inner[AFLOC_ERROR_CAPACITY];
        snprintf(inner, sizeof inner, "%s", afloc_last_error());
        return afloc_fail(st, "%s: step %lld: %s", function, (long long)step, inner);
    }
    return AFLOC_OK;
}

/* struct_size of a caller's output struct: at least the size field, at most 1 MiB. */
static int plausible_size(const void *s) {
    size_t size;
    memcpy(&size, s, sizeof size);
    return size >= sizeof(size_t) && size <= (1u << 20);
}

afloc_status afloc_trainer_step(afloc_trainer *t, const float *images, size_t images_len,
                                const char *const *captions, int32_t count,
                                afloc_train_loss_terms *terms) {
    static const char fn[] = "afloc_trainer_step";
    afloc_clear_error();
    if (!t || !images || !captions)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn,
                          !t ? "trainer" : !images ? "images" : "captions");
    if (count < 1 || count > t->options.batch_size)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: count %d outside 1..%d (batch_size)", fn,
                          (int)count, (int)t->options.batch_size);
    const size_t need = (size_t)count * (size_t)t->crop * (size_t)t->crop;
    if (images_len < need)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: images_len %zu < %zu (%d images of %dx%d floats)", fn, images_len,
                          need, (int)count, (int)t->crop, (int)t->crop);
    if (terms && !plausible_size(terms))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: terms->struct_size is implausible", fn);
    AFLOC_TRY(afloc_trainer_tokenize(t, captions, count, fn));
    return afloc_trainer_run(t, images, count, terms, fn);
}

/* ---- state ---- */

afloc_status afloc_trainer_set_epoch(afloc_trainer *t, int32_t epoch) {
    static const char fn[] = "afloc_trainer_set_epoch";
    afloc_clear_error();
    if (!t) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: trainer is NULL", fn);
    if (epoch < 0) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: epoch %d < 0", fn, (int)epoch);
    t->epoch = epoch;
    t->batch = 0;
    return AFLOC_OK;
}

afloc_status afloc_trainer_get_state(const afloc_trainer *t, afloc_trainer_state *state) {
    static const char fn[] = "afloc_trainer_get_state";
    afloc_clear_error();
    if (!t || !state)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: %s is NULL", fn, !t ? "trainer" : "state");
    if (!plausible_size(state))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: state->struct_size is implausible", fn);
    afloc_trainer_state full;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    full.step = afloc_trainer_count(t);
    full.epoch = t->epoch;
    full.batch = t->batch;
    full.seed = t->options.seed;
    full.learning_rate = afloc_lr_at(&t->schedule, full.step, t->epoch);
    size_t caller_size;
    memcpy(&caller_size, state, sizeof caller_size);
    afloc_options_write(state, caller_size, &full, sizeof full);
    return AFLOC_OK;
}

afloc_status afloc_trainer_update_model(afloc_trainer *t) {
    static const char fn[] = "afloc_trainer_update_model";
    afloc_clear_error();
    if (!t) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: trainer is NULL", fn);
    afloc_model *model = t->model;
    char inner[AFLOC_ERROR_CAPACITY];
    if (t->device) {
        /* the trained weights live on the device: bring them into the model first */
        AFLOC_TRY(afloc_trainer_pull_params(t, NULL, NULL, fn));
    }
    struct afloc_inference *old = model->inference;
    model->inference = NULL;
    afloc_status st = afloc_inference_prepare(model);
    /* on a CUDA context the encoders run on the model's device copy: upload the new plan */
    struct afloc_device_model *device = NULL;
    if (st == AFLOC_OK && model->device) {
        const afloc_context *c = model->context;
        st = afloc_device_model_create(model, c->cuda->device, c->options.device_index,
                                       afloc_context_device_math(c), 1, fn, &device);
        if (st != AFLOC_OK) afloc_inference_free(model->inference);
    }
    if (st != AFLOC_OK) {
        model->inference = old;
        snprintf(inner, sizeof inner, "%s", afloc_last_error());
        return afloc_fail(st, "%s: %s", fn, inner);
    }
    if (model->device) {
        afloc_device_model_free(model->device);
        model->device = device;
    }
    afloc_inference_free(old);
    return AFLOC_OK;
}
