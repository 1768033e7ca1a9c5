/* test_loss_weights.c: the loss weights of afloc_trainer_options (train_step.c): gradients are
 * linear in each loss's upstream gradient, so weights (2, 0, 0) must give exactly twice the
 * gradient of (1, 0, 0) (a power-of-two scale commutes with every rounding); a weight of 0
 * skips its loss (reported as 0) and is faster; (1, 1, 1) is the default step, bit for bit; bad
 * weights are refused. The within-image sentence loss L_WS (loss_weight_sentence_contrast, not in
 * the paper; its values and gradients against PyTorch: ops_contrastive_vs_torch and
 * train_step_vs_torch_contrast) is off by default, and its weight is as linear: weight 2 alone
 * gives exactly twice the gradient of weight 1 alone. */
#include <math.h>

#include "test_util.h"
#include "tokenizer.h"
#include "train_step.h"
#include "trainer.h"
#include "trainer_fixture.h"

enum { B = 4, SIDE = 32 };

/* Gradient and loss terms of one compute on batch 0 with the given weights. */
static float *grads_with(afloc_model *model, double wg, double ws, double ww, double wc,
                         afloc_train_losses *l, double *seconds) {
    afloc_train_step *s = NULL;
    if (afloc_train_step_create(&s, model, B, 0.0f) != AFLOC_OK) return NULL;
    afloc_train_step_set_weights(s, wg, ws, ww);
    if (wc != 0.0) afloc_train_step_set_sentence_contrast(s, wc);
    static float images[B * SIDE * SIDE];
    static char captions[B][160];
    fixture_batch(0, B, SIDE, images, captions);
    const afloc_tokenizer_options *to = afloc_tokenizer_get_options(model->tokenizer);
    int32_t T = to->max_length, ids[B * 128], mask[B * 128], lengths[B];
    for (int i = 0; i < B; i++)
        afloc_tokenizer_encode(model->tokenizer, captions[i], strlen(captions[i]), ids + i * T,
                               mask + i * T, T, &lengths[i]);
    double t0 = fixture_now();
    afloc_status st = afloc_train_step_compute(s, images, ids, lengths, 1, l);
    *seconds = fixture_now() - t0;
    float *g = NULL;
    if (st == AFLOC_OK) {
        size_t n = model->table.total_floats;
        g = malloc(n * sizeof(float));
        memcpy(g, afloc_train_step_grads(s), n * sizeof(float));
    }
    afloc_train_step_free(s);
    return g;
}

int main(void) {
    afloc_context *context = NULL;
    afloc_model *model = fixture_model(&context, 1, 5, "");
    if (!model) return 1;
    size_t n = model->table.total_floats;
    afloc_train_losses l1, l2, lall, lnone, ldef, lc1, lc2;
    double t1, t2, tall, tnone, tdef, tc1, tc2;
    float *g1 = grads_with(model, 1, 0, 0, 0, &l1, &t1);
    float *g2 = grads_with(model, 2, 0, 0, 0, &l2, &t2);
    float *gall = grads_with(model, 1, 1, 1, 0, &lall, &tall);
    float *gnone = grads_with(model, 1, 1, 0, 0, &lnone, &tnone);
    float *gdef = grads_with(model, 1, 1, 1, 0, &ldef, &tdef);
    float *gc1 = grads_with(model, 0, 0, 0, 1, &lc1, &tc1);
    float *gc2 = grads_with(model, 0, 0, 0, 2, &lc2, &tc2);
    CHECK(g1 && g2 && gall && gnone && gdef && gc1 && gc2);
    if (!g1 || !g2 || !gall || !gnone || !gdef || !gc1 || !gc2)
        return test_finish("train_loss_weights");
    size_t mismatch = 0, nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (g2[i] != 2.0f * g1[i]) mismatch++;
        if (g1[i] != 0.0f) nonzero++;
    }
    CHECK(mismatch == 0);
    CHECK(nonzero > 0);
    CHECK(l1.sentence == 0.0 && l1.word == 0.0 && l1.global > 0.0);
    CHECK(l2.global == l1.global && l2.total == 2.0 * l1.global);
    CHECK(lnone.word == 0.0 && lnone.sentence > 0.0);
    CHECK(memcmp(gall, gdef, n * sizeof(float)) == 0);
    CHECK(lall.total == ldef.total && lall.word > 0.0);
    CHECK(lall.contrast == 0.0); /* off by default */
    size_t cmismatch = 0, cnonzero = 0;
    for (size_t i = 0; i < n; i++) {
        if (gc2[i] != 2.0f * gc1[i]) cmismatch++;
        if (gc1[i] != 0.0f) cnonzero++;
    }
    CHECK(cmismatch == 0 && cnonzero > 0);
    CHECK(lc1.contrast > 0.0 && lc2.contrast == lc1.contrast && lc2.total == 2.0 * lc1.contrast);
    CHECK(lc1.global == 0.0 && lc1.sentence == 0.0 && lc1.word == 0.0);
    printf("sentence contrast 2 = 2 x 1 in %zu/%zu gradient floats (%zu nonzero), L_WS %.4f\n",
           n - cmismatch, n, cnonzero, lc1.contrast);
    /* the sum of the single-loss gradients is the all-loss gradient up to rounding */
    printf("weights (2,0,0) = 2 x (1,0,0) in %zu/%zu gradient floats (%zu nonzero); word-level "
           "loss off: %.1f ms vs %.1f ms with it\n", n - mismatch, n, nonzero, tnone * 1e3, tall * 1e3);

    /* Options: refused weights. */
    afloc_trainer_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_trainer_options_default(&o);
    CHECK(o.loss_weight_global == 1.0 && o.loss_weight_sentence == 1.0 && o.loss_weight_word == 1.0);
    CHECK(o.loss_weight_sentence_contrast == 0.0);
    o.batch_size = B;
    afloc_trainer *t = NULL;
    o.loss_weight_word = -1.0;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_ERR_INVALID_ARGUMENT);
    o.loss_weight_word = NAN;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_ERR_INVALID_ARGUMENT);
    o.loss_weight_word = 1.0;
    o.loss_weight_sentence_contrast = -0.5;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_ERR_INVALID_ARGUMENT);
    o.loss_weight_sentence_contrast = NAN;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_ERR_INVALID_ARGUMENT);
    o.loss_weight_sentence_contrast = 2e6;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_ERR_INVALID_ARGUMENT);
    o.loss_weight_sentence_contrast = 0.0;
    o.loss_weight_global = o.loss_weight_sentence = o.loss_weight_word = 0.0;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(t == NULL);
    free(g1);
    free(g2);
    free(gall);
    free(gnone);
    free(gdef);
    free(gc1);
    free(gc2);
    afloc_model_free(model);
    afloc_context_free(context);
    return test_finish("train_loss_weights");
}
