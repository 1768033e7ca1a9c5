/* train_tiny.c: training with the C API, end to end in one small program. Creates a tiny AFLoc
 * model with fresh weights (its own config and a made-up vocabulary), preprocesses two generated
 * radiograph-like pictures as inference does, takes a few optimizer steps on them and their
 * reports (afloc_trainer_step), saves a checkpoint and the trained model, loads the model back
 * and localizes a finding with it.
 *
 *   train_tiny OUT_DIR [STEPS]
 *
 * On real data, afloc_trainer_fit(trainer, "train.csv", NULL, epochs) does the loop, the PNG
 * decoding and the caption sampling; `afloc train` is the same from the command line. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <afloc/afloc.h>

/* Every part of the paper's model at toy widths: 40 px letterbox, 32 px frames. */
static const char config[] =
    "{\"resnet_blocks\":[1,1,1,1],\"resnet_planes\":[4,8,16,32],\"resnet_stem\":8,"
    "\"image_size\":40,\"crop_size\":32,\"upsample_size\":40,"
    "\"bert_layers\":2,\"bert_hidden\":16,\"bert_heads\":2,\"bert_intermediate\":32,"
    "\"vocab_size\":64,\"max_positions\":32,\"token_length\":16,\"last_n_layers\":2,"
    "\"embedding_dim\":16}";
enum { VOCAB = 64, SIDE = 40, CROP = 32, B = 2, W = 60, H = 48 };

static const char *const reports[B] = {
    "small left pleural effusion. heart size is normal",
    "no pleural effusion. the lungs are clear",
};

/* BERT's specials, the report words, then fillers up to VOCAB lines. Caller frees. */
static char *make_vocab(size_t *size) {
    static const char *const words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".",
                                        "small", "left", "right", "pleural", "effusion", "heart",
                                        "size", "is", "normal", "no", "the", "lungs", "are",
                                        "clear"};
    const int fixed = (int)(sizeof words / sizeof *words);
    char *v = malloc((size_t)VOCAB * 16);
    size_t pos = 0;
    for (int k = 0; v && k < VOCAB; k++)
        pos += (size_t)(k < fixed ? sprintf(v + pos, "%s\n", words[k]) : sprintf(v + pos, "w%d\n", k));
    *size = pos;
    return v;
}

/* A W x H 8-bit picture: dark lungs, brighter at the bottom, a bright blob on the left of
 * picture 0 (the "effusion"). */
static void make_picture(int k, uint8_t *pixels) {
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int v = 60 + 80 * y / H;
            if (k == 0 && (x - 15) * (x - 15) + (y - 34) * (y - 34) < 60) v = 220;
            pixels[y * W + x] = (uint8_t)v;
        }
}

static int fail(const char *what, afloc_status status) {
    fprintf(stderr, "%s: %s: %s\n", what, afloc_status_string(status), afloc_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: train_tiny OUT_DIR [STEPS]\n");
        return 2;
    }
    const int steps = argc > 2 ? atoi(argv[2]) : 5;
    char model_path[1024], checkpoint_path[1024];
    snprintf(model_path, sizeof model_path, "%s/tiny_trained.safetensors", argv[1]);
    snprintf(checkpoint_path, sizeof checkpoint_path, "%s/tiny_run.ckpt", argv[1]);

    afloc_context_options co = {0};
    co.struct_size = sizeof co;
    afloc_context_options_default(&co);
    co.backend = AFLOC_BACKEND_CPU;
    co.num_threads = 2;
    afloc_context *context = NULL;
    afloc_status s = afloc_context_create(&co, &context);
    if (s != AFLOC_OK) return fail("afloc_context_create", s);
    size_t vocab_size = 0;
    char *vocab = make_vocab(&vocab_size);
    afloc_model *model = NULL;
    s = vocab ? afloc_model_create(context, config, vocab, vocab_size, 7, &model) : AFLOC_ERR_OUT_OF_MEMORY;
    free(vocab);
    if (s != AFLOC_OK) return fail("afloc_model_create", s);

    /* the batch: pictures preprocessed exactly as for inference (letterbox 40, crop 32) */
    static uint8_t pixels[B][W * H];
    static float frames[B * CROP * CROP];
    afloc_preprocess_options pre = {0};
    pre.struct_size = sizeof pre;
    afloc_preprocess_options_default(&pre);
    pre.image_size = SIDE;
    pre.crop_size = CROP;
    afloc_image_view views[B];
    for (int k = 0; k < B; k++) {
        make_picture(k, pixels[k]);
        views[k] = (afloc_image_view){.struct_size = sizeof views[k], .pixel_type = AFLOC_PIXEL_U8,
                                      .channels = 1, .width = W, .height = H, .row_stride = W,
                                      .pixels = pixels[k]};
        s = afloc_image_preprocess(&views[k], &pre, frames + k * CROP * CROP, CROP * CROP, NULL);
        if (s != AFLOC_OK) return fail("afloc_image_preprocess", s);
    }

    /* the trainer: batch 2, a constant rate large enough to move a tiny model in a few steps */
    afloc_trainer_options to = {0};
    to.struct_size = sizeof to;
    afloc_trainer_options_default(&to);
    to.batch_size = B;
    to.lr_schedule = AFLOC_LR_SCHEDULE_CONSTANT;
    to.learning_rate = 1e-3;
    to.dropout = 0.0f;
    afloc_trainer *trainer = NULL;
    if ((s = afloc_trainer_create(model, &to, &trainer)) != AFLOC_OK) return fail("afloc_trainer_create", s);
    double first = 0, last = 0;
    for (int i = 0; i < steps; i++) {
        afloc_train_loss_terms terms = {0};
        terms.struct_size = sizeof terms;
        s = afloc_trainer_step(trainer, frames, sizeof frames / sizeof *frames, reports, B, &terms);
        if (s != AFLOC_OK) return fail("afloc_trainer_step", s);
        printf("step %d: loss %.4f (global %.4f, sentence %.4f, word %.4f), grad norm %.3f, %.1f ms\n",
               i + 1, terms.total, terms.global, terms.sentence, terms.word, terms.grad_norm,
               1e3 * terms.step_seconds);
        if (i == 0) first = terms.total;
        last = terms.total;
    }
    printf("loss %.4f -> %.4f over %d steps\n", first, last, steps);

    /* a checkpoint (weights + Adam state + position) resumes training later; the model file is
     * what inference loads. update_model makes this process's model see the trained weights. */
    if ((s = afloc_trainer_save_checkpoint(trainer, checkpoint_path)) != AFLOC_OK) return fail("save_checkpoint", s);
    if ((s = afloc_trainer_update_model(trainer)) != AFLOC_OK) return fail("update_model", s);
    afloc_trainer_free(trainer);
    if ((s = afloc_model_save(model, model_path)) != AFLOC_OK) return fail("afloc_model_save", s);
    printf("wrote %s and %s\n", model_path, checkpoint_path);

    afloc_model *loaded = NULL;
    if ((s = afloc_model_load(context, model_path, &loaded)) != AFLOC_OK) return fail("afloc_model_load", s);
    float e1[16], e2[16];
    const char *finding = "small left pleural effusion";
    if ((s = afloc_model_embed_text(model, finding, e1, 16)) != AFLOC_OK ||
        (s = afloc_model_embed_text(loaded, finding, e2, 16)) != AFLOC_OK)
        return fail("afloc_model_embed_text", s);
    printf("reloaded model: text embedding %s the trained one's\n",
           memcmp(e1, e2, sizeof e1) == 0 ? "bit-identical to" : "DIFFERS from");

    float heatmap[W * H];
    afloc_heatmaps maps = {0};
    maps.struct_size = sizeof maps;
    maps.original = heatmap;
    maps.original_len = W * H;
    if ((s = afloc_model_localize(loaded, &views[0], finding, NULL, &maps)) != AFLOC_OK)
        return fail("afloc_model_localize", s);
    int peak = 0;
    for (int i = 1; i < W * H; i++)
        if (heatmap[i] > heatmap[peak]) peak = i;
    printf("\"%s\" on picture 0 (%dx%d): peak at (%d, %d)\n", finding, W, H, peak % W, peak / W);
    afloc_model_free(loaded);
    afloc_model_free(model);
    afloc_context_free(context);
    return 0;
}
