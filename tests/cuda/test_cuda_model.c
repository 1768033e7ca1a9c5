/* test_cuda_model.c: the whole model on the CUDA backend against the CPU backend, through the
 * public API: the same seed gives the same weights on both contexts; then image embeddings
 * (global, local), the text embedding and the localization maps must agree within 1e-4 of the
 * largest CPU value (fp32 mode: cuDNN/cuBLAS sum in other orders than oneDNN/OpenBLAS; the
 * PyTorch parity tests use the same bound). Two configs: the tiny CLI config and the paper's
 * (ResNet-50 + 12-layer BERT, a generated 28996-token vocabulary). Then a batch of 4 images
 * through the device encoder at once against the CPU per image, and the device map pipeline
 * (afloc_device_localize; the tiny model also with the centred read-outs, map_alignment 1 and
 * 2, and with the position term of the deep-local embedding, local_position 1), in
 * fp32 and in bf16 mode (tolerance 1e-2: bf16 GEMMs and TF32
 * convolutions through the whole trunk; measured 2.8e-3 on an H200); last, the paper model on a
 * context created with precision AFLOC_PRECISION_BF16 (the public switch), same tolerance. */
#include "cuda_test.h"
#include "cpu/cpu_ops.h"
#include "device_model.h"
#include "inference.h"
#include "model_layout.h"

/* The paper config's vocabulary size, filled with made-up tokens after the tiny vocabulary. */
static char *paper_vocab(const char *tiny, size_t tiny_size, size_t *size) {
    size_t cap = tiny_size + 28996 * 12;
    char *v = (char *)malloc(cap);
    memcpy(v, tiny, tiny_size);
    size_t at = tiny_size, lines = 0;
    for (size_t i = 0; i < tiny_size; i++) lines += tiny[i] == '\n';
    for (size_t k = lines; k < 28996; k++) at += (size_t)snprintf(v + at, cap - at, "tok%05zu\n", k);
    *size = at;
    return v;
}

/* A 300x260 8-bit test image with a bright blob (the data need not be meaningful). */
static void make_image(uint8_t *pixels, int w, int h, int variant) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int dx = x - (80 + 40 * variant), dy = y - (100 + 10 * variant);
            pixels[y * w + x] = (uint8_t)((x * 7 + y * 3 + variant * 31) % 200 +
                                          (dx * dx + dy * dy < 900 ? 55 : 0));
        }
}

static afloc_model *make_model(afloc_context *context, const char *config, const char *vocab,
                               size_t vocab_size) {
    afloc_model *model = NULL;
    afloc_status s = afloc_model_create(context, config, vocab, vocab_size, 7, &model);
    if (s != AFLOC_OK) {
        fprintf(stderr, "afloc_model_create: %s: %s\n", afloc_status_string(s), afloc_last_error());
        exit(1);
    }
    return model;
}

static void compare_models(const char *name, afloc_model *cpu, afloc_model *gpu, double tol) {
    afloc_model_dims dims;
    memset(&dims, 0, sizeof dims);
    dims.struct_size = sizeof dims;
    afloc_model_get_dims(cpu, &dims);
    size_t D = (size_t)dims.embedding_dim, S2 = (size_t)dims.grid_side * dims.grid_side;
    size_t F2 = (size_t)dims.frame_size * dims.frame_size;
    enum { W = 300, H = 260 };
    static uint8_t pixels[W * H];
    make_image(pixels, W, H, 0);
    afloc_image_view view;
    memset(&view, 0, sizeof view);
    view.struct_size = sizeof view;
    view.width = W;
    view.height = H;
    view.channels = 1;
    view.pixel_type = AFLOC_PIXEL_U8;
    view.row_stride = W;
    view.pixels = pixels;
    float *g[2], *l[2], *r[2], *grid[2], *frame[2];
    afloc_model *models[2] = {cpu, gpu};
    for (int k = 0; k < 2; k++) {
        g[k] = cuda_test_host(D);
        l[k] = cuda_test_host(D * S2);
        r[k] = cuda_test_host(D);
        grid[k] = cuda_test_host(S2);
        frame[k] = cuda_test_host(F2);
        CHECK_STATUS(afloc_model_embed_image(models[k], &view, g[k], D, l[k], D * S2), AFLOC_OK);
        CHECK_STATUS(afloc_model_embed_text(models[k], "small left pleural effusion. no pneumothorax",
                                            r[k], D), AFLOC_OK);
        afloc_heatmaps h;
        memset(&h, 0, sizeof h);
        h.struct_size = sizeof h;
        h.grid = grid[k];
        h.grid_len = S2;
        h.frame = frame[k];
        h.frame_len = F2;
        CHECK_STATUS(afloc_model_localize(models[k], &view, "right upper lobe opacity", NULL, &h),
                     AFLOC_OK);
    }
    char shape[64];
    snprintf(shape, sizeof shape, "%s D%zu S%zu", name, D, (size_t)dims.grid_side);
    cuda_test_compare("model img_emb_g", shape, g[1], g[0], D, tol);
    cuda_test_compare("model img_emb_l", shape, l[1], l[0], D * S2, tol);
    cuda_test_compare("model text_emb_r", shape, r[1], r[0], D, tol);
    cuda_test_compare("model localize grid", shape, grid[1], grid[0], S2, tol);
    cuda_test_compare("model localize frame", shape, frame[1], frame[0], F2, tol);
    for (int k = 0; k < 2; k++) {
        free(g[k]);
        free(l[k]);
        free(r[k]);
        free(grid[k]);
        free(frame[k]);
    }
}

/* B frames through the device encoder at once vs the CPU encoder image by image. */
static void compare_batch(const char *name, afloc_model *cpu, afloc_model *gpu,
                          const afloc_device_ops *ops, int32_t math, double tol) {
    const struct afloc_inference *inf = cpu->inference;
    enum { B = 4 };
    size_t crop2 = (size_t)inf->crop * inf->crop, D = (size_t)inf->D;
    size_t S2 = (size_t)inf->side[2] * inf->side[2], S1 = (size_t)inf->side[1] * inf->side[1];
    float *x = cuda_test_random(B * crop2, -1.0f, 1.0f, 11);
    float *want_l = cuda_test_host(B * D * S2), *want_l2 = cuda_test_host(B * D * S1);
    float *want_g = cuda_test_host(B * D);
    afloc_workspace *ws = NULL;
    if (afloc_workspace_acquire(inf->pool, &ws, "test") != AFLOC_OK) exit(1);
    for (int b = 0; b < B; b++) {
        afloc_image_outputs o = {0};
        o.local = want_l + b * D * S2;
        o.local2 = want_l2 + b * D * S1;
        o.global = want_g + b * D;
        o.layer4 = cuda_test_host((size_t)inf->chans[3] * inf->side[3] * inf->side[3]); /* forces the host path */
        CHECK_STATUS(afloc_image_encoder_forward(cpu, ws, x + b * crop2, &o), AFLOC_OK);
        free(o.layer4);
    }
    afloc_workspace_release(inf->pool, ws);
    afloc_device_model *dm = NULL;
    CHECK_STATUS(afloc_device_model_create(gpu, ops, 0, math, B, "test", &dm), AFLOC_OK);
    if (!dm) return;
    float *got_l = cuda_test_host(B * D * S2), *got_l2 = cuda_test_host(B * D * S1);
    float *got_g = cuda_test_host(B * D);
    CHECK_STATUS(afloc_device_image_forward(dm, x, B, got_l, got_l2, got_g, "test"), AFLOC_OK);
    char shape[64];
    snprintf(shape, sizeof shape, "%s B%d %s", name, B, math ? "bf16" : "fp32");
    cuda_test_compare("batch img_emb_l", shape, got_l, want_l, B * D * S2, tol);
    cuda_test_compare("batch img_emb_l2", shape, got_l2, want_l2, B * D * S1, tol);
    cuda_test_compare("batch img_emb_g", shape, got_g, want_g, B * D, tol);
    printf("  device encoder time for the batch: %.3f ms\n", afloc_device_model_last_seconds(dm) * 1e3);

    /* The device map pipeline (afloc_device_localize) vs the CPU ops on the CPU encoder's maps. */
    int32_t S = inf->side[2];
    float *text = cuda_test_random(D, -1.0f, 1.0f, 5), *smooth = cuda_test_host(S2), *tmp = cuda_test_host(S2);
    float *want_frames = cuda_test_host(B * crop2), *got_frames = cuda_test_host(B * crop2);
    float *want_grids = cuda_test_host(B * S2), *got_grids = cuda_test_host(B * S2);
    for (int b = 0; b < B; b++) {
        afloc_cpu_similarity_map_forward(want_grids + b * S2, want_l + b * D * S2, text, (int32_t)D, S, S);
        afloc_cpu_gaussian_smooth_forward(smooth, want_grids + b * S2, S, S, cpu->config.gaussian_sigma,
                                          cpu->config.gaussian_truncate, tmp);
        afloc_inference_map_to_frame(cpu, AFLOC_MAP_ALIGN_MODEL, want_frames + b * crop2, smooth);
    }
    CHECK_STATUS(afloc_device_localize(dm, x, B, text, got_frames, got_grids, "test"), AFLOC_OK);
    cuda_test_compare("batch localize grids", shape, got_grids, want_grids, B * S2, tol);
    cuda_test_compare("batch localize frames", shape, got_frames, want_frames, B * crop2, tol);

    /* CUDA graphs: the calls above ran eagerly (first of their kind); the next captures a graph,
     * the one after replays it. Both must give the eager call's bits. Then graphs off again. */
    float *again_l = cuda_test_host(B * D * S2), *again_g = cuda_test_host(B * D);
    float *again_frames = cuda_test_host(B * crop2);
    /* BERT too (one graph per token count): an eager reference call first */
    int32_t ids[12], L = inf->T < 12 ? inf->T : 12;
    for (int t = 0; t < L; t++)
        ids[t] = t == 0 ? 1 : t == L - 1 ? 2 : (1000 + 37 * t) % cpu->config.vocab_size;
    size_t text_n = (size_t)L * (size_t)inf->C;
    float *bert_ref = cuda_test_host(text_n), *bert_again = cuda_test_host(text_n);
    CHECK_STATUS(afloc_device_bert_forward(dm, ids, L, bert_ref, NULL, "test"), AFLOC_OK);
    int failures_before = test_failures;
    for (int round = 0; round < 3; round++) {
        if (round == 2) afloc_device_model_set_graphs(dm, 0);
        for (int k = 0; k < 2; k++) {
            CHECK_STATUS(afloc_device_image_forward(dm, x, B, again_l, got_l2, again_g, "test"), AFLOC_OK);
            CHECK(memcmp(again_l, got_l, B * D * S2 * sizeof(float)) == 0);
            CHECK(memcmp(again_g, got_g, B * D * sizeof(float)) == 0);
            CHECK_STATUS(afloc_device_localize(dm, x, B, text, again_frames, NULL, "test"), AFLOC_OK);
            CHECK(memcmp(again_frames, got_frames, B * crop2 * sizeof(float)) == 0);
            CHECK_STATUS(afloc_device_bert_forward(dm, ids, L, bert_again, NULL, "test"), AFLOC_OK);
            CHECK(memcmp(bert_again, bert_ref, text_n * sizeof(float)) == 0);
        }
        int32_t graphs = afloc_device_model_graph_count(dm);
        printf("  %s: %d CUDA graphs captured, replays bit-identical to the eager calls: %s\n",
               round < 2 ? "graphs on" : "graphs off", (int)graphs, test_failures > failures_before ? "NO" : "yes");
        CHECK(graphs == (round < 2 ? 3 : 0)); /* image forward (3 outputs), localize, BERT */
    }
    free(bert_ref);
    free(bert_again);
    free(again_l);
    free(again_g);
    free(again_frames);
    free(text);
    free(smooth);
    free(tmp);
    free(want_frames);
    free(got_frames);
    free(want_grids);
    free(got_grids);
    afloc_device_model_free(dm);
    free(x);
    free(want_l);
    free(want_l2);
    free(want_g);
    free(got_l);
    free(got_l2);
    free(got_g);
}

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    afloc_context *cpu_context = NULL;
    afloc_context_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_context_options_default(&o);
    o.backend = AFLOC_BACKEND_CPU;
    CHECK_STATUS(afloc_context_create(&o, &cpu_context), AFLOC_OK);

    /* ctest and scripts/gpu-check.sh set AFLOC_SOURCE_DIR to the source tree. */
    size_t vocab_size = 0;
    char *config = test_read_source_file("tests/model/cli_config.json", NULL);
    char *vocab = test_read_source_file("tests/model/cli_vocab.txt", &vocab_size);
    if (!config || !vocab) return 1;

    afloc_model *cpu = make_model(cpu_context, config, vocab, vocab_size);
    afloc_model *gpu = make_model(t.context, config, vocab, vocab_size);
    compare_models("tiny", cpu, gpu, 1e-4);
    compare_batch("tiny", cpu, gpu, t.ops, AFLOC_DEVICE_MATH_FP32, 1e-4);
    afloc_model_free(cpu);
    afloc_model_free(gpu);
    /* the centred heatmap read-outs (config map_alignment 1, bilinear, and 2, bicubic) on the
     * device map pipeline */
    for (int alignment = 1; alignment <= 2; alignment++) {
        char *centred = test_json_add(config, alignment == 1 ? "\"map_alignment\":1"
                                                             : "\"map_alignment\":2");
        CHECK(centred != NULL);
        if (!centred) continue;
        cpu = make_model(cpu_context, centred, vocab, vocab_size);
        gpu = make_model(t.context, centred, vocab, vocab_size);
        compare_batch(alignment == 1 ? "tiny centred" : "tiny centred cubic", cpu, gpu, t.ops,
                      AFLOC_DEVICE_MATH_FP32, 1e-4);
        afloc_model_free(cpu);
        afloc_model_free(gpu);
        free(centred);
    }
    /* the position term of the deep-local embedding (config local_position 1, kernels/position.cu):
     * it is zero at creation, so a CPU model gets non-zero values and is saved, and both contexts
     * load that file */
    char *positioned = test_json_add(config, "\"local_position\":1");
    CHECK(positioned != NULL);
    if (positioned) {
        afloc_model *source = make_model(cpu_context, positioned, vocab, vocab_size);
        size_t at = 0;
        CHECK_STATUS(afloc_layout_local_position(&at, source, "test"), AFLOC_OK);
        for (int32_t k = 0; k < 2 * source->config.embedding_dim && at != AFLOC_LAYOUT_NONE; k++)
            source->params[at + (size_t)k] = 0.5f * (float)cos(1.3 * k);
        char saved[] = "/tmp/afloc_cuda_position_XXXXXX";
        int fd = mkstemp(saved);
        CHECK(fd >= 0);
        if (fd >= 0) close(fd);
        CHECK_STATUS(afloc_model_save(source, saved), AFLOC_OK);
        afloc_model_free(source);
        cpu = NULL;
        gpu = NULL;
        CHECK_STATUS(afloc_model_load(cpu_context, saved, &cpu), AFLOC_OK);
        CHECK_STATUS(afloc_model_load(t.context, saved, &gpu), AFLOC_OK);
        unlink(saved);
        if (cpu && gpu) {
            compare_models("tiny position", cpu, gpu, 1e-4);
            compare_batch("tiny position", cpu, gpu, t.ops, AFLOC_DEVICE_MATH_FP32, 1e-4);
        }
        afloc_model_free(cpu);
        afloc_model_free(gpu);
        free(positioned);
    }

    size_t pv_size = 0;
    char *pv = paper_vocab(vocab, vocab_size, &pv_size);
    cpu = make_model(cpu_context, NULL, pv, pv_size);
    gpu = make_model(t.context, NULL, pv, pv_size);
    compare_models("paper", cpu, gpu, 1e-4);
    compare_batch("paper", cpu, gpu, t.ops, AFLOC_DEVICE_MATH_FP32, 1e-4);
    compare_batch("paper", cpu, gpu, t.ops, AFLOC_DEVICE_MATH_BF16, 1e-2);
    afloc_model_free(gpu);
    /* the public switch: a context created with precision bf16 runs the model in bf16 mode
     * (same tolerance as the bf16 batch above) and says so in its info */
    afloc_context *bf16_context = NULL;
    o.backend = AFLOC_BACKEND_CUDA;
    o.precision = AFLOC_PRECISION_BF16;
    CHECK_STATUS(afloc_context_create(&o, &bf16_context), AFLOC_OK);
    if (bf16_context) {
        char info[512] = "";
        CHECK_STATUS(afloc_context_info(bf16_context, info, sizeof info, NULL), AFLOC_OK);
        CHECK(strstr(info, "precision bf16") != NULL);
        gpu = make_model(bf16_context, NULL, pv, pv_size);
        compare_models("paper bf16 context", cpu, gpu, 1e-2);
        afloc_model_free(gpu);
    }
    afloc_model_free(cpu);
    free(pv);
    free(config);
    free(vocab);
    afloc_context_free(cpu_context);
    afloc_context_free(bf16_context);
    cuda_test_close(&t);
    return test_finish("test_cuda_model");
}
