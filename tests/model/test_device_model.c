/* test_device_model.c: the device-side model code (src/device_model.c: plan translation, layer
 * walk, batching, workspace planning, the encoders' hand-over) run on a host-memory "device"
 * (tests/common/host_device_ops.h, the CPU ops behind the device table), against the ordinary
 * CPU path. Differences come only from the conv implementation (im2col + OpenBLAS there, oneDNN
 * prepared convs here), so the bound is 1e-5 of the largest value. On a GPU the same code runs on
 * the CUDA plugin: tests/cuda/test_cuda_model.c. */
#include <math.h>

#include "device_model.h"
#include "host_device_ops.h"
#include "inference.h"
#include "model_layout.h"
#include "test_util.h"


static double worst = 0.0;

static void compare(const char *what, const float *got, const float *want, size_t n, double tol) {
    double max_diff = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (fabs(want[i]) > max_ref) max_ref = fabs(want[i]);
        double d = fabs((double)got[i] - want[i]);
        if (!(d <= max_diff)) max_diff = d; /* NaN propagates */
    }
    double err = max_diff / (max_ref > 0 ? max_ref : 1.0);
    if (err > worst || isnan(err)) worst = err;
    if (!(err <= tol)) {
        fprintf(stderr, "%s: error %.3g of max %.3g > %.1g\n", what, err, max_ref, tol);
        test_failures++;
    }
}

int main(int argc, char **argv) {
    size_t vocab_size = 0;
    char *config = test_read_source_file("tests/model/cli_config.json", NULL);
    char *vocab = test_read_source_file("tests/model/cli_vocab.txt", &vocab_size);
    if (!config || !vocab) return 1;
    /* `centred` / `cubic`: the same model with the centred heatmap read-out (config
     * map_alignment 1) or the centred cubic one (map_alignment 2) */
    if (argc > 1 && (!strcmp(argv[1], "centred") || !strcmp(argv[1], "cubic"))) {
        char *with = test_json_add(config, strcmp(argv[1], "cubic") ? "\"map_alignment\":1"
                                                                     : "\"map_alignment\":2");
        if (!with) return 1;
        free(config);
        config = with;
    }
    /* `position`: the position term of the deep-local embedding (config local_position 1), set to
     * non-zero values below (it is zero at creation) */
    const int position = argc > 1 && !strcmp(argv[1], "position");
    if (position) {
        char *with = test_json_add(config, "\"local_position\":1");
        if (!with) return 1;
        free(config);
        config = with;
    }
    afloc_context *context = NULL;
    CHECK_STATUS(afloc_context_create(NULL, &context), AFLOC_OK);
    afloc_model *model = NULL;
    CHECK_STATUS(afloc_model_create(context, config, vocab, vocab_size, 3, &model), AFLOC_OK);
    if (!model) return 1;
    const struct afloc_inference *inf = model->inference;
    if (position) {
        size_t at = 0;
        CHECK_STATUS(afloc_layout_local_position(&at, model, "test"), AFLOC_OK);
        CHECK(at != AFLOC_LAYOUT_NONE && inf->local_position == model->params + at);
        for (int32_t k = 0; k < 2 * inf->D && at != AFLOC_LAYOUT_NONE; k++)
            model->params[at + (size_t)k] = 0.5f * (float)cos(1.3 * k);
    }

    /* A batch of 3 frames through the device encoder vs the host encoder one by one. */
    enum { B = 3 };
    size_t crop2 = (size_t)inf->crop * inf->crop, D = (size_t)inf->D;
    size_t S2 = (size_t)inf->side[2] * inf->side[2], S1 = (size_t)inf->side[1] * inf->side[1];
    float *x = malloc(B * crop2 * sizeof(float));
    for (size_t i = 0; i < B * crop2; i++) x[i] = (float)sin(0.37 * (double)i) * 0.8f;
    float *want[3], *got[3];
    size_t sizes[3] = {B * D * S2, B * D * S1, B * D};
    for (int k = 0; k < 3; k++) {
        want[k] = calloc(sizes[k], sizeof(float));
        got[k] = calloc(sizes[k], sizeof(float));
    }
    afloc_workspace *ws = NULL;
    CHECK_STATUS(afloc_workspace_acquire(inf->pool, &ws, "test"), AFLOC_OK);
    for (int b = 0; b < B; b++) {
        afloc_image_outputs o = {0};
        o.local = want[0] + b * D * S2;
        o.local2 = want[1] + b * D * S1;
        o.global = want[2] + b * D;
        CHECK_STATUS(afloc_image_encoder_forward(model, ws, x + b * crop2, &o), AFLOC_OK);
    }
    afloc_workspace_release(inf->pool, ws);

    afloc_device_model *dm = NULL;
    CHECK_STATUS(afloc_device_model_create(model, host_device_ops(), 0, AFLOC_DEVICE_MATH_FP32, B,
                                           "test", &dm),
                 AFLOC_OK);
    if (!dm) return 1;
    CHECK_STATUS(afloc_device_image_forward(dm, x, B, got[0], got[1], got[2], "test"), AFLOC_OK);
    compare("batch img_emb_l", got[0], want[0], sizes[0], 1e-5);
    compare("batch img_emb_l2", got[1], want[1], sizes[1], 1e-5);
    compare("batch img_emb_g", got[2], want[2], sizes[2], 1e-5);
    CHECK_STATUS(afloc_device_image_forward(dm, x, B + 1, got[0], NULL, NULL, "test"),
                 AFLOC_ERR_INVALID_ARGUMENT);

    /* The device map pipeline (afloc_device_localize) vs the CPU ops on the host encoder's maps. */
    {
        int32_t S = inf->side[2];
        float *text = malloc(D * sizeof(float)), *raw = malloc(S2 * sizeof(float));
        float *smooth = malloc(S2 * sizeof(float)), *tmp = malloc(S2 * sizeof(float));
        float *want_frames = malloc(B * crop2 * sizeof(float)), *got_frames = malloc(B * crop2 * sizeof(float));
        float *got_grids = malloc(B * S2 * sizeof(float)), *want_grids = malloc(B * S2 * sizeof(float));
        for (size_t d = 0; d < D; d++) text[d] = (float)cos(0.1 * (double)d);
        for (int b = 0; b < B; b++) {
            afloc_cpu_similarity_map_forward(want_grids + b * S2, want[0] + b * D * S2, text, (int32_t)D, S, S);
            afloc_cpu_gaussian_smooth_forward(smooth, want_grids + b * S2, S, S, model->config.gaussian_sigma,
                                              model->config.gaussian_truncate, tmp);
            afloc_inference_map_to_frame(model, AFLOC_MAP_ALIGN_MODEL, want_frames + b * crop2, smooth);
        }
        CHECK_STATUS(afloc_device_localize(dm, x, B, text, got_frames, got_grids, "test"), AFLOC_OK);
        compare("device localize grids", got_grids, want_grids, B * S2, 1e-5);
        compare("device localize frames", got_frames, want_frames, B * crop2, 1e-5);
        /* Later calls would run as CUDA graphs; the host table cannot capture, so they must fall
         * back to eager calls with the same results (tests/cuda/test_cuda_model.c checks replays). */
        float *again = malloc(B * crop2 * sizeof(float)), *again_g = malloc(sizes[2] * sizeof(float));
        for (int call = 0; call < 3; call++) {
            CHECK_STATUS(afloc_device_localize(dm, x, B, text, again, NULL, "test"), AFLOC_OK);
            CHECK(memcmp(again, got_frames, B * crop2 * sizeof(float)) == 0);
            CHECK_STATUS(afloc_device_image_forward(dm, x, B, NULL, NULL, again_g, "test"), AFLOC_OK);
            CHECK(memcmp(again_g, got[2], sizes[2] * sizeof(float)) == 0);
        }
        CHECK(afloc_device_model_graph_count(dm) == 0);
        free(again);
        free(again_g);
        free(text);
        free(raw);
        free(smooth);
        free(tmp);
        free(want_frames);
        free(got_frames);
        free(got_grids);
        free(want_grids);
    }

    /* The public entry points with the device model attached (as on a CUDA context) vs without. */
    enum { W = 90, H = 70 };
    static uint8_t pixels[W * H];
    for (int i = 0; i < W * H; i++) pixels[i] = (uint8_t)((i * 37) % 251);
    afloc_image_view view;
    memset(&view, 0, sizeof view);
    view.struct_size = sizeof view;
    view.pixel_type = AFLOC_PIXEL_U8;
    view.channels = 1;
    view.width = W;
    view.height = H;
    view.row_stride = W;
    view.pixels = pixels;
    float *report[2], *global[2], *frame[2];
    size_t frame2 = crop2;
    for (int k = 0; k < 2; k++) {
        model->device = k ? dm : NULL;
        report[k] = calloc(D, sizeof(float));
        global[k] = calloc(D, sizeof(float));
        frame[k] = calloc(frame2, sizeof(float));
        CHECK_STATUS(afloc_model_embed_text(model, "small left pleural effusion. no pneumothorax",
                                            report[k], D), AFLOC_OK);
        CHECK_STATUS(afloc_model_embed_image(model, &view, global[k], D, NULL, 0), AFLOC_OK);
        afloc_heatmaps h;
        memset(&h, 0, sizeof h);
        h.struct_size = sizeof h;
        h.frame = frame[k];
        h.frame_len = frame2;
        CHECK_STATUS(afloc_model_localize(model, &view, "left effusion", NULL, &h), AFLOC_OK);
    }
    /* Later text calls would run BERT as a CUDA graph; on the host table the capture fails and
     * they stay eager, with the same bits. */
    model->device = dm;
    for (int call = 0; call < 3; call++) {
        float *again = calloc(D, sizeof(float));
        CHECK_STATUS(afloc_model_embed_text(model, "small left pleural effusion. no pneumothorax",
                                            again, D), AFLOC_OK);
        CHECK(memcmp(again, report[1], D * sizeof(float)) == 0);
        free(again);
    }
    CHECK(afloc_device_model_graph_count(dm) == 0);
    model->device = NULL;
    compare("text_emb_r", report[1], report[0], D, 1e-5);
    compare("img_emb_g", global[1], global[0], D, 1e-5);
    compare("localize frame", frame[1], frame[0], frame2, 1e-5);
    afloc_device_model_free(dm);

    printf("device model on host ops: batch of %d and public calls within %.3g of the CPU path "
           "(tol 1e-5)\n", B, worst);
    for (int k = 0; k < 3; k++) {
        free(want[k]);
        free(got[k]);
    }
    for (int k = 0; k < 2; k++) {
        free(report[k]);
        free(global[k]);
        free(frame[k]);
    }
    free(x);
    afloc_model_free(model);
    afloc_context_free(context);
    free(config);
    free(vocab);
    return test_finish("model_device_host");
}
