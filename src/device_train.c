/* device_train.c: one training step on the CUDA backend (device_train.h): the device state
 * (parameters, gradient, Adam m / v), the loss calls, the gradient norm, clipping and Adam, on
 * the plugin's op table; the encoders' passes are device_train_image.c and device_train_text.c.
 * Step for step the code of train_step.c. */
#include "device_train.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "cpu/cpu_ops.h" /* afloc_clip_factor: the same float32 factor as the CPU step */
#include "device_train_parts.h"
#include "error.h"

/* Loss-weight scaling goes through dropout_forward (out = in · mask) with a mask filled with the
 * weight: the same float product as train_step.c's x *= w. The fill covers this many floats;
 * longer gradients are scaled in chunks. */
#define FILL_FLOATS ((size_t)1 << 20)

/* The activation side of a step for one batch size. */
typedef struct batch_plan {
    afloc_dtrain_image *image;
    afloc_dtrain_text  *text;
    int32_t             B;
    size_t              scratch_bytes; /* the most any op of this batch asks for */
} batch_plan;

struct afloc_device_train {
    afloc_model            *model;
    const afloc_device_ops *ops;
    afloc_device           *dev;
    int32_t B, D, T, S2, S3;
    float   dropout;
    batch_plan main, side, *cur;
    float  *params, *grads, *m, *v;      /* device, table.total_floats each             */
    float  *stats;                       /* device, the running statistics saved        */
    size_t  stats_floats;
    unsigned char *trained;              /* host, table.count flags                     */
    float  *d_g, *d_l, *d_l2, *d_w, *d_s, *d_r; /* device upstream gradients, for B      */
    float  *fill[3];                     /* device, fill_floats each: the loss weights  */
    double  fill_value[3];               /* the weight each fill holds (0 = not filled) */
    size_t  fill_floats;
    float  *loss;                        /* device, the three loss values               */
    double *norm;                        /* device, Σ g² of the gradient                */
    void   *scratch;                     /* device                                      */
    size_t  scratch_bytes;
    int64_t count;
    double  weight[3];
    double  weight_contrast;             /* within-image sentence loss (0: off)          */
    int32_t mark_start;
    double  last_seconds;
};

static const char CREATE[] = "afloc_device_train_create";

static int is_running_stat(const afloc_param *p) {
    return p->kind == AFLOC_PARAM_RUNNING_MEAN || p->kind == AFLOC_PARAM_RUNNING_VAR;
}

static void release(afloc_device_train *t, void *ptr) {
    if (ptr) t->ops->release(t->dev, ptr);
}

static void plan_free(batch_plan *p) {
    afloc_dtrain_image_free(p->image);
    afloc_dtrain_text_free(p->text);
    memset(p, 0, sizeof *p);
}

void afloc_device_train_free(afloc_device_train *t) {
    if (!t) return;
    if (t->dev) {
        plan_free(&t->main);
        plan_free(&t->side);
        void *buffers[] = {t->params, t->grads, t->m, t->v, t->stats, t->d_g, t->d_l, t->d_l2,
                           t->d_w, t->d_s, t->d_r, t->fill[0], t->fill[1], t->fill[2], t->loss,
                           t->norm, t->scratch};
        for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) release(t, buffers[i]);
        t->ops->destroy(t->dev);
    }
    afloc_free(t->trained);
    afloc_free(t);
}

/* Plans the activations of batch B (image and text halves, the losses' scratch). */
static afloc_status plan_create(afloc_device_train *t, batch_plan *p, int32_t B, const char *fn) {
    memset(p, 0, sizeof *p);
    p->B = B;
    afloc_status st = afloc_dtrain_image_create(&p->image, t->model, t->ops, t->dev, B,
                                                &p->scratch_bytes, fn);
    if (st == AFLOC_OK)
        st = afloc_dtrain_text_create(&p->text, t->model, t->ops, t->dev, B, t->dropout,
                                      &p->scratch_bytes, fn);
    if (st != AFLOC_OK) {
        plan_free(p);
        return st;
    }
    int32_t Di = 0, side2 = 0, side3 = 0, Dt = 0, T = 0;
    afloc_dtrain_image_sizes(p->image, &Di, &side2, &side3);
    afloc_dtrain_text_sizes(p->text, &Dt, &T);
    if (Di != Dt) {
        plan_free(p);
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: image D %d != text D %d", fn, (int)Di,
                          (int)Dt);
    }
    t->D = Di, t->T = T, t->S2 = side2 * side2, t->S3 = side3 * side3;
    const afloc_device_ops *ops = t->ops;
    size_t need[5] = {
        ops->global_loss_scratch_bytes(t->dev, B, t->D),
        ops->local_loss_scratch_bytes(t->dev, B, t->D, t->S3, t->T),
        ops->local_loss_scratch_bytes(t->dev, B, t->D, t->S2, t->T),
        ops->sum_squares_scratch_bytes(t->dev, t->model->table.total_floats),
        ops->sentence_contrast_scratch_bytes(t->dev, B, t->D, t->S3, t->T),
    };
    for (int k = 0; k < 5; k++)
        if (need[k] > p->scratch_bytes) p->scratch_bytes = need[k];
    return AFLOC_OK;
}

/* Grows the shared scratch to `bytes` (contents are not kept). */
static afloc_status ensure_scratch(afloc_device_train *t, size_t bytes, const char *fn) {
    if (bytes <= t->scratch_bytes && t->scratch) return AFLOC_OK;
    release(t, t->scratch);
    t->scratch = NULL;
    t->scratch_bytes = 0;
    afloc_status st = t->ops->alloc(t->dev, &t->scratch, bytes ? bytes : 256);
    if (st != AFLOC_OK) {
        t->scratch = NULL;
        return afloc_fail(st, "%s: cannot allocate %zu bytes of scratch on the device: %s", fn,
                          bytes, t->ops->message(t->dev));
    }
    t->scratch_bytes = bytes;
    return AFLOC_OK;
}

typedef struct request {
    void **slot;
    size_t bytes;
} request;

static afloc_status allocate_state(afloc_device_train *t) {
    const afloc_param_table *table = &t->model->table;
    const size_t n = table->total_floats, F = sizeof(float);
    const size_t BD = (size_t)t->B * (size_t)t->D;
    size_t longest = BD * (size_t)t->S2;
    if (BD * (size_t)t->S3 > longest) longest = BD * (size_t)t->S3;
    if (BD * (size_t)t->T > longest) longest = BD * (size_t)t->T;
    t->fill_floats = longest < FILL_FLOATS ? longest : FILL_FLOATS;
    for (int32_t i = 0; i < table->count; i++)
        if (is_running_stat(&table->params[i])) t->stats_floats += table->params[i].count;
    const request r[] = {
        {(void **)&t->grads, n * F},
        {(void **)&t->m, n * F},
        {(void **)&t->v, n * F},
        {(void **)&t->stats, (t->stats_floats ? t->stats_floats : 1) * F},
        {(void **)&t->d_g, BD * F},
        {(void **)&t->d_l, BD * (size_t)t->S3 * F},
        {(void **)&t->d_l2, BD * (size_t)t->S2 * F},
        {(void **)&t->d_w, BD * (size_t)t->T * F},
        {(void **)&t->d_s, BD * (size_t)t->T * F},
        {(void **)&t->d_r, BD * F},
        {(void **)&t->fill[0], t->fill_floats * F},
        {(void **)&t->fill[1], t->fill_floats * F},
        {(void **)&t->fill[2], t->fill_floats * F},
        {(void **)&t->loss, 4 * F},
        {(void **)&t->norm, sizeof(double)},
    };
    for (size_t i = 0; i < sizeof r / sizeof r[0]; i++) {
        afloc_status st = t->ops->alloc(t->dev, r[i].slot, r[i].bytes);
        if (st != AFLOC_OK) {
            *r[i].slot = NULL;
            return afloc_fail(st, "%s: cannot allocate %zu bytes on the device (%zu parameters, "
                              "batch %d): %s", CREATE, r[i].bytes, n, (int)t->B,
                              t->ops->message(t->dev));
        }
        t->ops->zero(t->dev, *r[i].slot, r[i].bytes);
    }
    return ensure_scratch(t, t->main.scratch_bytes, CREATE);
}

afloc_status afloc_device_train_create(afloc_model *model, const afloc_device_ops *ops,
                                       int32_t ordinal, int32_t math, int32_t B, float dropout,
                                       const char *function, afloc_device_train **out) {
    const char *fn = function ? function : CREATE;
    if (!model || !ops || !out || !model->params)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL model, ops or out", fn);
    if (B < 1 || B > 65536)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch %d outside 1..65536", fn, (int)B);
    if (!(dropout >= 0.0f && dropout < 1.0f))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: dropout %g outside [0, 1)", fn,
                          (double)dropout);
    const afloc_param_table *table = &model->table;
    afloc_device_train *t = afloc_calloc(1, sizeof *t);
    if (!t) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: device step struct", fn);
    t->model = model, t->ops = ops, t->B = B, t->dropout = dropout;
    t->weight[0] = t->weight[1] = t->weight[2] = 1.0;
    t->trained = afloc_calloc((size_t)table->count + 1, 1);
    if (!t->trained) {
        afloc_device_train_free(t);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: %d trained flags", fn, (int)table->count);
    }
    for (int32_t i = 0; i < table->count; i++)
        t->trained[i] = (unsigned char)afloc_train_param_trained(&table->params[i]);
    char message[256] = "";
    afloc_status st = ops->create(&t->dev, ordinal, math, message, sizeof message);
    if (st != AFLOC_OK) {
        t->dev = NULL;
        afloc_device_train_free(t);
        return afloc_fail(st, "%s: %s", fn, message);
    }
    const size_t bytes = table->total_floats * sizeof(float);
    st = ops->alloc(t->dev, (void **)&t->params, bytes);
    if (st != AFLOC_OK) {
        t->params = NULL;
        st = afloc_fail(st, "%s: cannot allocate the %zu-byte parameters on the device: %s", fn,
                        bytes, ops->message(t->dev));
    }
    if (st == AFLOC_OK) {
        st = ops->upload(t->dev, t->params, model->params, bytes);
        if (st != AFLOC_OK)
            st = afloc_fail(st, "%s: uploading the parameters failed: %s", fn, ops->message(t->dev));
    }
    if (st == AFLOC_OK) st = plan_create(t, &t->main, B, fn);
    if (st == AFLOC_OK) st = allocate_state(t);
    if (st == AFLOC_OK && (st = ops->sync(t->dev)) != AFLOC_OK)
        st = afloc_fail(st, "%s: CUDA device: %s", fn, ops->message(t->dev));
    if (st != AFLOC_OK) {
        afloc_device_train_free(t);
        return st;
    }
    t->cur = &t->main;
    *out = t;
    return AFLOC_OK;
}

void afloc_device_train_set_weights(afloc_device_train *t, double global, double sentence,
                                    double word) {
    t->weight[0] = global;
    t->weight[1] = sentence;
    t->weight[2] = word;
}

void afloc_device_train_set_sentence_contrast(afloc_device_train *t, double weight) {
    t->weight_contrast = weight;
}

afloc_status afloc_device_train_set_batch(afloc_device_train *t, int32_t count) {
    static const char fn[] = "afloc_device_train_set_batch";
    if (!t || count < 1 || count > t->B)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch %d outside 1..%d", fn,
                          (int)count, t ? (int)t->B : 0);
    if (count == t->B) {
        t->cur = &t->main;
        return AFLOC_OK;
    }
    if (t->side.B == count) {
        t->cur = &t->side;
        return AFLOC_OK;
    }
    batch_plan fresh;
    AFLOC_TRY(plan_create(t, &fresh, count, fn));
    afloc_status st = ensure_scratch(t, fresh.scratch_bytes, fn);
    if (st != AFLOC_OK) {
        plan_free(&fresh);
        return st;
    }
    plan_free(&t->side);
    t->side = fresh;
    t->cur = &t->side;
    return AFLOC_OK;
}

/* ---- the step ---- */

/* Makes fill[k] hold the float weight k (an upload, done before any work is enqueued). */
static afloc_status prepare_fill(afloc_device_train *t, int k, const char *fn) {
    const double w = t->weight[k];
    if (w == 0.0 || w == 1.0 || t->fill_value[k] == w) return AFLOC_OK;
    float *host = afloc_malloc(t->fill_floats * sizeof(float));
    if (!host) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: loss-weight fill", fn);
    for (size_t i = 0; i < t->fill_floats; i++) host[i] = (float)w;
    afloc_status st = t->ops->upload(t->dev, t->fill[k], host, t->fill_floats * sizeof(float));
    afloc_free(host);
    if (st != AFLOC_OK)
        return afloc_fail(st, "%s: CUDA device: %s", fn, t->ops->message(t->dev));
    t->fill_value[k] = w;
    return AFLOC_OK;
}

/* x *= weight k over n floats (train_step.c's scale); nothing for weight 1. */
static void scale(afloc_device_train *t, int k, float *x, size_t n) {
    if (t->weight[k] == 1.0) return;
    for (size_t at = 0; at < n; at += t->fill_floats) {
        const size_t len = n - at < t->fill_floats ? n - at : t->fill_floats;
        t->ops->dropout_forward(t->dev, x + at, x + at, t->fill[k], len);
    }
}

static afloc_status device_status(afloc_device_train *t, afloc_status st, const char *fn) {
    if (st == AFLOC_OK) st = t->ops->sync(t->dev);
    if (st != AFLOC_OK) return afloc_fail(st, "%s: CUDA device: %s", fn, t->ops->message(t->dev));
    return AFLOC_OK;
}

/* The three losses with their gradients into the zeroed upstream buffers; marks the span of the
 * word-level loss in *w0 / *w1. */
static void losses_forward(afloc_device_train *t, int32_t *w0, int32_t *w1) {
    const afloc_device_ops *ops = t->ops;
    afloc_device *dev = t->dev;
    const afloc_config *c = &t->model->config;
    const batch_plan *p = t->cur;
    const int32_t B = p->B;
    const size_t BD = (size_t)B * (size_t)t->D, T = (size_t)t->T;
    const float *emb_g, *emb_l, *emb_l2, *emb_w, *emb_s, *emb_r;
    const int32_t *len_w, *len_s;
    afloc_dtrain_image_outputs(p->image, &emb_g, &emb_l, &emb_l2);
    afloc_dtrain_text_outputs(p->text, &emb_w, &emb_s, &emb_r, &len_w, &len_s);
    if (t->weight[0] != 0.0) {
        ops->global_loss(dev, t->loss + 0, t->d_g, t->d_r, emb_g, emb_r, B, t->D, c->temp3,
                         t->scratch);
        scale(t, 0, t->d_g, BD);
        scale(t, 0, t->d_r, BD);
    }
    if (t->weight[1] != 0.0) {
        ops->local_loss(dev, t->loss + 1, t->d_l, t->d_s, NULL, emb_l, emb_s, len_s, B, t->D,
                        t->S3, t->T, c->temp1, c->temp2, c->temp3, t->scratch);
        scale(t, 1, t->d_l, BD * (size_t)t->S3);
        scale(t, 1, t->d_s, BD * T);
    }
    if (t->weight_contrast != 0.0) /* accumulates weight·dL_WS on top of L_DS's gradients */
        ops->sentence_contrast_loss(dev, t->loss + 3, t->d_l, t->d_s, emb_l, emb_s, len_s, B,
                                    t->D, t->S3, t->T, c->temp1, c->temp3,
                                    (float)t->weight_contrast, t->scratch);
    *w0 = ops->mark(dev);
    if (t->weight[2] != 0.0) {
        ops->local_loss(dev, t->loss + 2, t->d_l2, t->d_w, NULL, emb_l2, emb_w, len_w, B, t->D,
                        t->S2, t->T, c->temp1, c->temp2, c->temp3, t->scratch);
        scale(t, 2, t->d_l2, BD * (size_t)t->S2);
        scale(t, 2, t->d_w, BD * T);
    }
    *w1 = ops->mark(dev);
}

afloc_status afloc_device_train_compute(afloc_device_train *t, const float *images,
                                        const int32_t *ids, const int32_t *lengths, uint64_t seed,
                                        afloc_train_losses *losses) {
    static const char fn[] = "afloc_device_train_compute";
    if (!t || !images || !ids || !lengths)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL step, images, ids or lengths", fn);
    for (int k = 0; k < 3; k++) AFLOC_TRY(prepare_fill(t, k, fn));
    const afloc_device_ops *ops = t->ops;
    afloc_device *dev = t->dev;
    batch_plan *p = t->cur;
    const size_t BD = (size_t)p->B * (size_t)t->D, F = sizeof(float), T = (size_t)t->T;
    const size_t n = t->model->table.total_floats;
    t->mark_start = ops->mark(dev);
    ops->zero(dev, t->grads, n * F);
    ops->zero(dev, t->d_g, BD * F);
    ops->zero(dev, t->d_l, BD * (size_t)t->S3 * F);
    ops->zero(dev, t->d_l2, BD * (size_t)t->S2 * F);
    ops->zero(dev, t->d_w, BD * T * F);
    ops->zero(dev, t->d_s, BD * T * F);
    ops->zero(dev, t->d_r, BD * F);
    ops->zero(dev, t->loss, 4 * F);

    afloc_status st = afloc_dtrain_image_forward(p->image, t->params, images, t->scratch);
    if (st != AFLOC_OK) return device_status(t, st, fn);
    /* the text forward validates the captions before it enqueues anything of its own */
    AFLOC_TRY(afloc_dtrain_text_forward(p->text, t->params, ids, lengths, seed, t->scratch, fn));
    int32_t w0 = 0, w1 = 0;
    losses_forward(t, &w0, &w1);
    AFLOC_TRY(afloc_dtrain_text_backward(p->text, t->grads, t->params, t->d_w, t->d_s, t->d_r,
                                         t->scratch, fn));
    afloc_dtrain_image_backward(p->image, t->grads, t->params, t->d_g, t->d_l, t->d_l2,
                                t->scratch);
    ops->sum_squares(dev, t->norm, t->grads, n, t->scratch);
    float loss[4];
    double sum = 0.0;
    st = ops->download(dev, loss, t->loss, sizeof loss);
    if (st == AFLOC_OK) st = ops->download(dev, &sum, t->norm, sizeof sum);
    AFLOC_TRY(device_status(t, st, fn));
    if (losses) {
        const float lg = loss[0], ls = loss[1], lw = loss[2], lc = loss[3];
        losses->global = lg;
        losses->sentence = ls;
        losses->word = lw;
        losses->contrast = lc;
        afloc_train_losses_set_total(losses, t->weight, t->weight_contrast);
        losses->grad_norm = sqrt(sum);
        const double word = ops->elapsed(dev, w0, w1);
        losses->word_seconds = word > 0.0 ? word : 0.0;
    }
    const int32_t end = ops->mark(dev);
    const double seconds = ops->elapsed(dev, t->mark_start, end);
    t->last_seconds = seconds > 0.0 ? seconds : 0.0;
    return AFLOC_OK;
}

afloc_status afloc_device_train_run(afloc_device_train *t, const float *images,
                                    const int32_t *ids, const int32_t *lengths, uint64_t seed,
                                    double lr, afloc_train_losses *losses) {
    static const char fn[] = "afloc_device_train_run";
    if (!t) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL step", fn);
    if (!(lr >= 0.0) || isinf(lr))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: learning rate %g", fn, lr);
    afloc_train_losses l;
    memset(&l, 0, sizeof l);
    AFLOC_TRY(afloc_device_train_compute(t, images, ids, lengths, seed, &l));
    if (losses) *losses = l;
    const float factor = afloc_clip_factor(l.grad_norm, AFLOC_TRAIN_CLIP_NORM);
    if (!isfinite(l.grad_norm) || !isfinite(factor))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: gradient norm %g is not finite; step skipped", fn, l.grad_norm);
    const afloc_param_table *table = &t->model->table;
    const int64_t step = t->count + 1;
    for (int32_t i = 0; i < table->count; i++) {
        if (!t->trained[i]) continue;
        const afloc_param *p = &table->params[i];
        t->ops->adam_update(t->dev, t->params + p->offset, t->m + p->offset, t->v + p->offset,
                            t->grads + p->offset, p->count, lr, AFLOC_TRAIN_ADAM_BETA1,
                            AFLOC_TRAIN_ADAM_BETA2, AFLOC_TRAIN_ADAM_EPS,
                            AFLOC_TRAIN_WEIGHT_DECAY, step, factor);
    }
    const int32_t end = t->ops->mark(t->dev);
    AFLOC_TRY(device_status(t, AFLOC_OK, fn));
    t->count = step;
    const double seconds = t->ops->elapsed(t->dev, t->mark_start, end);
    t->last_seconds = seconds > 0.0 ? seconds : 0.0;
    return AFLOC_OK;
}

/* ---- state ---- */

afloc_status afloc_device_train_download(afloc_device_train *t, float *params, float *grads,
                                         float *m, float *v) {
    static const char fn[] = "afloc_device_train_download";
    if (!t) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL step", fn);
    const size_t bytes = t->model->table.total_floats * sizeof(float);
    float *host[4] = {params, grads, m, v};
    const float *device[4] = {t->params, t->grads, t->m, t->v};
    afloc_status st = AFLOC_OK;
    for (int k = 0; k < 4 && st == AFLOC_OK; k++)
        if (host[k]) st = t->ops->download(t->dev, host[k], device[k], bytes);
    return device_status(t, st, fn);
}

afloc_status afloc_device_train_upload_state(afloc_device_train *t, const float *params,
                                             const float *m, const float *v, int64_t count) {
    static const char fn[] = "afloc_device_train_upload_state";
    if (!t || count < 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL step or count %lld < 0", fn,
                          (long long)count);
    const size_t bytes = t->model->table.total_floats * sizeof(float);
    const float *host[3] = {params, m, v};
    float *device[3] = {t->params, t->m, t->v};
    afloc_status st = AFLOC_OK;
    for (int k = 0; k < 3 && st == AFLOC_OK; k++)
        if (host[k]) st = t->ops->upload(t->dev, device[k], host[k], bytes);
    AFLOC_TRY(device_status(t, st, fn));
    t->count = count;
    return AFLOC_OK;
}

/* Copies every running statistic between the parameters and the saved block. */
static void copy_stats(afloc_device_train *t, int restore) {
    const afloc_param_table *table = &t->model->table;
    size_t at = 0;
    for (int32_t i = 0; i < table->count; i++) {
        const afloc_param *p = &table->params[i];
        if (!is_running_stat(p)) continue;
        float *param = t->params + p->offset, *saved = t->stats + at;
        if (restore) t->ops->copy(t->dev, param, saved, p->count * sizeof(float));
        else t->ops->copy(t->dev, saved, param, p->count * sizeof(float));
        at += p->count;
    }
}

void afloc_device_train_save_stats(afloc_device_train *t) { copy_stats(t, 0); }

void afloc_device_train_restore_stats(afloc_device_train *t) { copy_stats(t, 1); }

int64_t afloc_device_train_count(const afloc_device_train *t) { return t ? t->count : 0; }

double afloc_device_train_last_seconds(const afloc_device_train *t) {
    return t ? t->last_seconds : 0.0;
}

int afloc_device_train_is_trained(const afloc_device_train *t, int32_t index) {
    if (!t || index < 0 || index >= t->model->table.count) return 0;
    return t->trained[index];
}
