/* train_step.c: one training step on a batch — forward, the three losses, backward, clipping,
 * Adam (MODEL.md §6.4, §7.1). See train_step.h. */
#include "train_step.h"

#include <math.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cpu/cpu_ops.h"
#include "error.h"
#include "params.h"
#include "train_image.h"
#include "train_text.h"

struct afloc_train_step {
    afloc_model *model;
    int32_t B, D, T, S2, S3;
    afloc_train_image_plan *image;
    afloc_train_text_plan *text;
    float *grads, *m, *v;       /* table.total_floats each                        */
    unsigned char *trained;     /* table.count flags                              */
    float *d_g, *d_l, *d_l2;    /* upstream gradients of the image outputs        */
    float *d_w, *d_s, *d_r;     /* upstream gradients of the text outputs         */
    float *scratch;             /* the largest of the three losses' scratch needs */
    int64_t count;              /* Adam steps taken                               */
    double weight[3];           /* loss weights: global, sentence, word (1, 1, 1)  */
    double weight_contrast;     /* within-image sentence loss L_WS (0: off)       */
};

/* Tensors torch's autograd reaches from the loss (train_step.h): the image encoder except
 * running statistics and local_f_embedder, BERT except its pooler. */
int afloc_train_param_trained(const afloc_param *p) {
    if (p->kind == AFLOC_PARAM_RUNNING_MEAN || p->kind == AFLOC_PARAM_RUNNING_VAR) return 0;
    if (strncmp(p->name, "img_encoder.", 12) == 0)
        return strstr(p->name, "local_f_embedder") == NULL;
    if (strncmp(p->name, "text_encoder.model.", 19) == 0)
        return strstr(p->name, ".pooler.") == NULL;
    return 0;
}

void afloc_train_step_free(afloc_train_step *s) {
    if (!s) return;
    afloc_train_image_plan_free(s->image);
    afloc_train_text_plan_free(s->text);
    afloc_free(s->grads);
    afloc_free(s->m);
    afloc_free(s->v);
    afloc_free(s->trained);
    afloc_free(s->d_g);
    afloc_free(s->d_l);
    afloc_free(s->d_l2);
    afloc_free(s->d_w);
    afloc_free(s->d_s);
    afloc_free(s->d_r);
    afloc_free(s->scratch);
    afloc_free(s);
}

static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

/* x *= w over n floats; nothing for w = 1 (bit-identical default). */
static void scale(float *x, size_t n, double w) {
    if (w == 1.0) return;
    const float wf = (float)w;
    for (size_t i = 0; i < n; i++) x[i] *= wf;
}

void afloc_train_step_set_weights(afloc_train_step *s, double global, double sentence, double word) {
    s->weight[0] = global;
    s->weight[1] = sentence;
    s->weight[2] = word;
}

void afloc_train_losses_set_total(afloc_train_losses *l, const double weight[3],
                                  double weight_contrast) {
    /* the terms were float32 values: the casts give them back exactly */
    const float lg = (float)l->global, ls = (float)l->sentence, lw = (float)l->word;
    /* float sum, as torch adds the three float32 scalars; weighted when weights are set */
    if (weight[0] == 1.0 && weight[1] == 1.0 && weight[2] == 1.0 && weight_contrast == 0.0)
        l->total = (double)((lg + ls) + lw);
    else
        l->total = weight[0] * lg + weight[1] * ls + weight[2] * lw +
                   weight_contrast * l->contrast;
}

void afloc_train_step_set_sentence_contrast(afloc_train_step *s, double weight) {
    s->weight_contrast = weight;
}

afloc_status afloc_train_step_create(afloc_train_step **out, afloc_model *model, int32_t B,
                                     float dropout) {
    static const char fn[] = "afloc_train_step_create";
    if (!out || !model) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL out or model", fn);
    if (B < 1) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch %d < 1", fn, (int)B);
    afloc_train_step *s = afloc_calloc(1, sizeof *s);
    if (!s) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: step struct", fn);
    s->model = model;
    s->B = B;
    s->weight[0] = s->weight[1] = s->weight[2] = 1.0;
    afloc_status st = afloc_train_image_plan_create(&s->image, model, B);
    if (st == AFLOC_OK) st = afloc_train_text_plan_create(&s->text, model, B, dropout);
    if (st != AFLOC_OK) {
        afloc_train_step_free(s);
        return st;
    }
    int32_t Di = 0, side2 = 0, side3 = 0, Dt = 0;
    afloc_train_image_sizes(s->image, NULL, &Di, &side2, &side3, NULL);
    afloc_train_text_sizes(s->text, NULL, &Dt, &s->T);
    if (Di != Dt) {
        afloc_train_step_free(s);
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: image D %d != text D %d", fn, (int)Di,
                          (int)Dt);
    }
    s->D = Di;
    s->S2 = side2 * side2;
    s->S3 = side3 * side3;
    const afloc_param_table *t = &model->table;
    const size_t n = t->total_floats, BD = (size_t)B * (size_t)s->D;
    size_t scratch = afloc_cpu_global_loss_scratch_floats(B);
    scratch = max_size(scratch, afloc_cpu_local_loss_scratch_floats(B, s->D, s->S3, s->T));
    scratch = max_size(scratch, afloc_cpu_local_loss_scratch_floats(B, s->D, s->S2, s->T));
    scratch = max_size(scratch, afloc_cpu_sentence_contrast_scratch_floats(s->D, s->S3, s->T));
    s->grads = afloc_calloc(n, sizeof(float));
    s->m = afloc_calloc(n, sizeof(float));
    s->v = afloc_calloc(n, sizeof(float));
    s->trained = afloc_calloc((size_t)t->count + 1, 1);
    s->d_g = afloc_malloc(BD * sizeof(float));
    s->d_l = afloc_malloc(BD * (size_t)s->S3 * sizeof(float));
    s->d_l2 = afloc_malloc(BD * (size_t)s->S2 * sizeof(float));
    s->d_w = afloc_malloc(BD * (size_t)s->T * sizeof(float));
    s->d_s = afloc_malloc(BD * (size_t)s->T * sizeof(float));
    s->d_r = afloc_malloc(BD * sizeof(float));
    s->scratch = afloc_malloc(max_size(scratch, 1) * sizeof(float));
    if (!s->grads || !s->m || !s->v || !s->trained || !s->d_g || !s->d_l || !s->d_l2 ||
        !s->d_w || !s->d_s || !s->d_r || !s->scratch) {
        afloc_train_step_free(s);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: buffers for %zu parameters, batch %d",
                          fn, n, (int)B);
    }
    for (int32_t i = 0; i < t->count; i++)
        s->trained[i] = (unsigned char)afloc_train_param_trained(&t->params[i]);
    *out = s;
    return AFLOC_OK;
}

afloc_status afloc_train_step_compute(afloc_train_step *s, const float *images,
                                      const int32_t *ids, const int32_t *lengths, uint64_t seed,
                                      afloc_train_losses *losses) {
    static const char fn[] = "afloc_train_step_compute";
    if (!s || !images || !ids || !lengths)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL step, images, ids or lengths", fn);
    afloc_model *model = s->model;
    const afloc_config *c = &model->config;
    const size_t BD = (size_t)s->B * (size_t)s->D;
    memset(s->grads, 0, model->table.total_floats * sizeof(float));
    memset(s->d_g, 0, BD * sizeof(float));
    memset(s->d_l, 0, BD * (size_t)s->S3 * sizeof(float));
    memset(s->d_l2, 0, BD * (size_t)s->S2 * sizeof(float));
    memset(s->d_w, 0, BD * (size_t)s->T * sizeof(float));
    memset(s->d_s, 0, BD * (size_t)s->T * sizeof(float));
    memset(s->d_r, 0, BD * sizeof(float));

    afloc_status st = afloc_train_image_forward(s->image, model->params, images);
    if (st != AFLOC_OK) return st;
    st = afloc_train_text_forward(s->text, model->params, ids, lengths, seed);
    if (st != AFLOC_OK) return st;
    const float *emb_g, *emb_l, *emb_l2, *emb_w, *emb_s, *emb_r;
    const int32_t *len_w, *len_s;
    afloc_train_image_outputs(s->image, &emb_g, &emb_l, &emb_l2);
    afloc_train_text_outputs(s->text, &emb_w, &emb_s, &emb_r, &len_w, &len_s);

    /* A loss of weight 0 is not computed at all; any other weight scales its gradients (weight 1
     * leaves them untouched, so the default step is exactly the reference's). */
    const size_t S3 = (size_t)s->S3, S2 = (size_t)s->S2, T = (size_t)s->T;
    float lg = 0.0f, ls = 0.0f, lw = 0.0f, lc = 0.0f;
    if (s->weight[0] != 0.0) {
        lg = afloc_cpu_global_loss(s->d_g, s->d_r, emb_g, emb_r, s->B, s->D, c->temp3, s->scratch);
        scale(s->d_g, BD, s->weight[0]);
        scale(s->d_r, BD, s->weight[0]);
    }
    if (s->weight[1] != 0.0) {
        ls = afloc_cpu_local_loss(s->d_l, s->d_s, NULL, emb_l, emb_s, len_s, s->B, s->D, s->S3,
                                  s->T, c->temp1, c->temp2, c->temp3, s->scratch);
        scale(s->d_l, BD * S3, s->weight[1]);
        scale(s->d_s, BD * T, s->weight[1]);
    }
    if (s->weight_contrast != 0.0) /* accumulates weight·dL_WS on top of L_DS's gradients */
        lc = afloc_cpu_sentence_contrast_loss(s->d_l, s->d_s, emb_l, emb_s, len_s, s->B, s->D,
                                              s->S3, s->T, c->temp1, c->temp3,
                                              (float)s->weight_contrast, s->scratch);
    struct timespec w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    if (s->weight[2] != 0.0) {
        lw = afloc_cpu_local_loss(s->d_l2, s->d_w, NULL, emb_l2, emb_w, len_w, s->B, s->D, s->S2,
                                  s->T, c->temp1, c->temp2, c->temp3, s->scratch);
        scale(s->d_l2, BD * S2, s->weight[2]);
        scale(s->d_w, BD * T, s->weight[2]);
    }
    clock_gettime(CLOCK_MONOTONIC, &w1);

    st = afloc_train_text_backward(s->text, s->grads, model->params, s->d_w, s->d_s, s->d_r);
    if (st != AFLOC_OK) return st;
    st = afloc_train_image_backward(s->image, s->grads, model->params, s->d_g, s->d_l, s->d_l2);
    if (st != AFLOC_OK) return st;
    if (losses) {
        losses->global = lg;
        losses->sentence = ls;
        losses->word = lw;
        losses->contrast = lc;
        afloc_train_losses_set_total(losses, s->weight, s->weight_contrast);
        losses->grad_norm = afloc_cpu_grad_norm(s->grads, model->table.total_floats);
        losses->word_seconds =
            (double)(w1.tv_sec - w0.tv_sec) + 1e-9 * (double)(w1.tv_nsec - w0.tv_nsec);
    }
    return AFLOC_OK;
}

afloc_status afloc_train_step_run(afloc_train_step *s, const float *images, const int32_t *ids,
                                  const int32_t *lengths, uint64_t seed, double lr,
                                  afloc_train_losses *losses) {
    static const char fn[] = "afloc_train_step_run";
    if (!s) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL step", fn);
    if (!(lr >= 0.0) || isinf(lr))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: learning rate %g", fn, lr);
    afloc_train_losses l;
    afloc_status st = afloc_train_step_compute(s, images, ids, lengths, seed, &l);
    if (st != AFLOC_OK) return st;
    if (losses) *losses = l;
    const float factor = afloc_clip_factor(l.grad_norm, AFLOC_TRAIN_CLIP_NORM);
    if (!isfinite(l.grad_norm) || !isfinite(factor))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: gradient norm %g is not finite; step skipped", fn, l.grad_norm);
    const afloc_param_table *t = &s->model->table;
    const int64_t step = s->count + 1;
    for (int32_t i = 0; i < t->count; i++) {
        if (!s->trained[i]) continue;
        const afloc_param *p = &t->params[i];
        afloc_cpu_adam_update(s->model->params + p->offset, s->m + p->offset, s->v + p->offset,
                              s->grads + p->offset, p->count, lr, AFLOC_TRAIN_ADAM_BETA1,
                              AFLOC_TRAIN_ADAM_BETA2, AFLOC_TRAIN_ADAM_EPS,
                              AFLOC_TRAIN_WEIGHT_DECAY, step, factor);
    }
    s->count = step;
    return AFLOC_OK;
}

const float *afloc_train_step_grads(const afloc_train_step *s) { return s ? s->grads : NULL; }

int64_t afloc_train_step_count(const afloc_train_step *s) { return s ? s->count : 0; }

void afloc_train_step_adam_state(afloc_train_step *s, float **m, float **v) {
    *m = s->m;
    *v = s->v;
}

void afloc_train_step_set_count(afloc_train_step *s, int64_t count) { s->count = count; }

int afloc_train_step_is_trained(const afloc_train_step *s, int32_t index) {
    if (!s || index < 0 || index >= s->model->table.count) return 0;
    return s->trained[index];
}
