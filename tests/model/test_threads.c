/* test_threads.c: one model, many threads (DESIGN.md §4, RELIABILITY §0 rule 8). A tiny random
 * model is shared by THREADS threads that each make CALLS afloc_model_localize calls on a mix of
 * inputs (gray and RGB images of several sizes, prompts incl. empty and one-word, normalised or
 * not); every result (grid, smoothed, frame and original maps) must be bit-identical (memcmp) to
 * the same input computed alone on one thread first. Also classify and embed calls interleaved.
 *
 * Usage: test_threads [THREADS [CALLS]]; defaults 8 x 200. The environment variable
 * AFLOC_TEST_THREAD_CALLS overrides CALLS (the ASan build uses 25: 8 x 25). */
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "test_util.h"
#include "tiny_model.h"

#define N_IMAGES  5
#define N_PROMPTS 6
#define N_CASES   (N_IMAGES * N_PROMPTS * 2)

static const char *const prompts[N_PROMPTS] = {
    "There is a small left pleural effusion.", "", "cardiomegaly",
    "No pneumothorax. Heart size is normal.", "right_upper lobe opacity, 1.5 cm",
    "mild edema in the lower lung"};
static const int32_t sizes[N_IMAGES][3] = {{64, 64, 1}, {90, 70, 1}, {50, 120, 3},
                                           {200, 31, 1}, {33, 33, 3}};

static afloc_model *model;
static afloc_image_view images[N_IMAGES];
static int32_t S, F;

typedef struct result {
    float *grid, *smoothed, *frame, *original;
} result;

static result expected[N_CASES];
static int calls_per_thread = 200;
static int mismatches = 0, errors = 0;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

static void result_alloc(result *r, const afloc_image_view *v) {
    r->grid = malloc((size_t)S * S * 4);
    r->smoothed = malloc((size_t)S * S * 4);
    r->frame = malloc((size_t)F * F * 4);
    r->original = malloc((size_t)v->width * v->height * 4);
}

static void result_free(result *r) {
    free(r->grid);
    free(r->smoothed);
    free(r->frame);
    free(r->original);
}

static afloc_status run_case(int c, result *r) {
    int img = c % N_IMAGES, p = (c / N_IMAGES) % N_PROMPTS, norm = c / (N_IMAGES * N_PROMPTS);
    const afloc_image_view *v = &images[img];
    afloc_localize_options o = {.struct_size = sizeof o};
    afloc_localize_options_default(&o);
    o.normalize = norm;
    afloc_heatmaps h = {.struct_size = sizeof h, .grid = r->grid, .grid_len = (size_t)S * S,
                        .smoothed = r->smoothed, .smoothed_len = (size_t)S * S,
                        .frame = r->frame, .frame_len = (size_t)F * F,
                        .original = r->original,
                        .original_len = (size_t)v->width * v->height};
    return afloc_model_localize(model, v, prompts[p], &o, &h);
}

static int same(const result *a, const result *b, const afloc_image_view *v) {
    return !memcmp(a->grid, b->grid, (size_t)S * S * 4) &&
           !memcmp(a->smoothed, b->smoothed, (size_t)S * S * 4) &&
           !memcmp(a->frame, b->frame, (size_t)F * F * 4) &&
           !memcmp(a->original, b->original, (size_t)v->width * v->height * 4);
}

static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    result r[N_IMAGES];
    for (int i = 0; i < N_IMAGES; i++) result_alloc(&r[i], &images[i]);
    int bad = 0, err = 0;
    for (int k = 0; k < calls_per_thread; k++) {
        int c = (id * 7919 + k * 31) % N_CASES;
        int img = c % N_IMAGES;
        if (k % 10 == 9) { /* interleave an embed call */
            float g[64];
            if (afloc_model_embed_image(model, &images[img], g, 64, NULL, 0) != AFLOC_OK) err++;
            continue;
        }
        if (run_case(c, &r[img]) != AFLOC_OK) {
            err++;
            continue;
        }
        if (!same(&r[img], &expected[c], &images[img])) bad++;
    }
    for (int i = 0; i < N_IMAGES; i++) result_free(&r[i]);
    pthread_mutex_lock(&count_lock);
    mismatches += bad;
    errors += err;
    pthread_mutex_unlock(&count_lock);
    return NULL;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 8;
    if (argc > 2) calls_per_thread = atoi(argv[2]);
    const char *env = getenv("AFLOC_TEST_THREAD_CALLS");
    if (env && atoi(env) > 0) calls_per_thread = atoi(env);
    if (threads < 1 || threads > 64 || calls_per_thread < 1) return 2;

    afloc_context *context = NULL;
    model = tiny_model_create(&context, 1, 42);
    CHECK(model != NULL);
    if (!model) return test_finish("test_threads");
    afloc_model_dims dims = {.struct_size = sizeof dims};
    CHECK_STATUS(afloc_model_get_dims(model, &dims), AFLOC_OK);
    S = dims.grid_side;
    F = dims.frame_size;
    for (int i = 0; i < N_IMAGES; i++)
        images[i] = tiny_image(sizes[i][0], sizes[i][1], sizes[i][2], (uint32_t)i + 1);

    double t0 = test_now();
    for (int c = 0; c < N_CASES; c++) {
        result_alloc(&expected[c], &images[c % N_IMAGES]);
        CHECK_STATUS(run_case(c, &expected[c]), AFLOC_OK);
    }
    double t_single = (test_now() - t0) / N_CASES;

    pthread_t tid[64];
    t0 = test_now();
    for (int t = 0; t < threads; t++)
        CHECK(pthread_create(&tid[t], NULL, worker, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < threads; t++) pthread_join(tid[t], NULL);
    double wall = test_now() - t0;
    CHECK(mismatches == 0);
    CHECK(errors == 0);
    printf("test_threads: %d threads x %d calls (%d distinct cases) on one model: %d mismatches "
           "vs single-threaded, %d errors; %.2f ms/call alone, %.2f s wall\n", threads,
           calls_per_thread, N_CASES, mismatches, errors, 1e3 * t_single, wall);

    for (int c = 0; c < N_CASES; c++) result_free(&expected[c]);
    for (int i = 0; i < N_IMAGES; i++) free((void *)images[i].pixels);
    afloc_model_free(model);
    afloc_context_free(context);
    return test_finish("test_threads");
}
