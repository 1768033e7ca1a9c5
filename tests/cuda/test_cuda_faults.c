/* test_cuda_faults.c: what a host process sees when the device fails (RELIABILITY.md T14, T15).
 *
 *  - T14 (device OOM): (a) injected: the k-th device allocation of a model's creation fails, for
 *    every k until creation succeeds (the first is the cuBLAS workspace, then weights and
 *    buffers). Each failure must be OUT_OF_MEMORY with a message; the context must stay usable
 *    (the next model is created and used). (b) real pressure: with the
 *    device filled to its last MiB, creating a model must give OUT_OF_MEMORY (or fit), and work
 *    again once the memory is freed. Afterwards the device's free memory is back within 2 MiB of
 *    where it started (nothing leaked).
 *  - T15 (sticky error): a deliberately faulting kernel (illegal address) poisons the CUDA
 *    context; every later call on the model must return DEVICE_LOST naming the CUDA error,
 *    within a second, and freeing the model and context must not crash or hang.
 *
 * Each scenario runs in a child process: a poisoned CUDA context stays poisoned for the life of
 * the process, and CUDA does not survive fork, so the parent never touches CUDA. The plugin's
 * test hooks (kernels/test_hooks.cu) are found with dlsym. */
#include <dlfcn.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "cuda_test.h"

typedef void (*fail_alloc_fn)(long k);
typedef int (*fault_fn)(int ordinal);
typedef int (*free_bytes_fn)(int ordinal, size_t *free_bytes);
typedef size_t (*squeeze_fn)(int ordinal);
typedef void (*unsqueeze_fn)(int ordinal);

/* What every scenario needs: a CUDA context, the tiny test model's config and vocabulary, the
 * plugin's hooks and a small image. */
typedef struct fixture {
    afloc_context   *context;
    char            *config, *vocab;
    size_t           vocab_size;
    fail_alloc_fn    fail_alloc;
    fault_fn         fault;
    free_bytes_fn    free_bytes;
    squeeze_fn       squeeze;
    unsqueeze_fn     unsqueeze;
    uint8_t          pixels[96 * 80];
    afloc_image_view view;
} fixture;

/* 0 on success, TEST_SKIP without a device, 1 on failure. */
static int fixture_open(fixture *f) {
    memset(f, 0, sizeof *f);
    char plugin[4200];
    int rc = cuda_test_context(&f->context, plugin, sizeof plugin);
    if (rc) return rc;
    void *handle = dlopen(plugin, RTLD_NOW | RTLD_NOLOAD);
    if (handle) {
        f->fail_alloc = (fail_alloc_fn)dlsym(handle, "afloc_cuda_test_fail_alloc");
        f->fault = (fault_fn)dlsym(handle, "afloc_cuda_test_fault");
        f->free_bytes = (free_bytes_fn)dlsym(handle, "afloc_cuda_test_free_bytes");
        f->squeeze = (squeeze_fn)dlsym(handle, "afloc_cuda_test_squeeze");
        f->unsqueeze = (unsqueeze_fn)dlsym(handle, "afloc_cuda_test_unsqueeze");
    }
    if (!f->fail_alloc || !f->fault || !f->free_bytes || !f->squeeze || !f->unsqueeze) {
        fprintf(stderr, "the plugin %s lacks its test hooks\n", plugin);
        return 1;
    }
    f->config = test_read_source_file("tests/model/cli_config.json", NULL);
    f->vocab = test_read_source_file("tests/model/cli_vocab.txt", &f->vocab_size);
    if (!f->config || !f->vocab) return 1;
    for (int i = 0; i < 96 * 80; i++) f->pixels[i] = (uint8_t)((i * 37) % 251);
    f->view.struct_size = sizeof f->view;
    f->view.pixel_type = AFLOC_PIXEL_U8;
    f->view.channels = 1;
    f->view.width = 96;
    f->view.height = 80;
    f->view.row_stride = 96;
    f->view.pixels = f->pixels;
    return 0;
}

static void fixture_close(fixture *f) {
    afloc_context_free(f->context);
    free(f->config);
    free(f->vocab);
}

/* One use of each device path of a model: image encoder and BERT. */
static afloc_status use_model(const fixture *f, const afloc_model *model) {
    float global[64], report[64];
    afloc_status status = afloc_model_embed_image(model, &f->view, global, 64, NULL, 0);
    if (status == AFLOC_OK) status = afloc_model_embed_text(model, "small left pleural effusion", report, 64);
    return status;
}

static int oom_scenario(void) {
    fixture f;
    int rc = fixture_open(&f);
    if (rc) return rc;
    afloc_model *model = NULL;
    /* warm-up: cuBLAS and cuDNN keep some memory after their first use */
    CHECK_STATUS(afloc_model_create(f.context, f.config, f.vocab, f.vocab_size, 1, &model), AFLOC_OK);
    if (model) CHECK_STATUS(use_model(&f, model), AFLOC_OK);
    afloc_model_free(model);
    size_t before = 0, after = 0;
    CHECK(f.free_bytes(0, &before));
    int failures = 0;
    for (long k = 1; k <= 200; k++) {
        model = NULL;
        f.fail_alloc(k);
        afloc_status status = afloc_model_create(f.context, f.config, f.vocab, f.vocab_size, 1, &model);
        f.fail_alloc(-1);
        if (status == AFLOC_OK) {
            afloc_model_free(model);
            break;
        }
        failures++;
        CHECK_STATUS(status, AFLOC_ERR_OUT_OF_MEMORY);
        CHECK(model == NULL);
        CHECK(strstr(afloc_last_error(), "bytes") != NULL);
        /* the first device allocation is the device handle's cuBLAS workspace (device.cu) */
        if (k == 1) CHECK(strstr(afloc_last_error(), "cuBLAS workspace") != NULL);
        /* no sticky state: the next model is made and used */
        CHECK_STATUS(afloc_model_create(f.context, f.config, f.vocab, f.vocab_size, 1, &model), AFLOC_OK);
        if (model) CHECK_STATUS(use_model(&f, model), AFLOC_OK);
        afloc_model_free(model);
    }
    CHECK(failures > 0);
    /* Real pressure (T14 b): the device filled to the last MiB by another user of the process. A
     * model must then fail with OUT_OF_MEMORY (or fit), never crash or poison the context, and
     * work again once the memory is back. */
    size_t taken = f.squeeze(0);
    model = NULL;
    afloc_status squeezed = afloc_model_create(f.context, f.config, f.vocab, f.vocab_size, 1, &model);
    printf("T14b: %.1f GiB taken, then model creation: %s (%s)\n", (double)taken / (1 << 30),
           afloc_status_string(squeezed), squeezed == AFLOC_OK ? "it fitted" : afloc_last_error());
    CHECK(squeezed == AFLOC_ERR_OUT_OF_MEMORY || squeezed == AFLOC_OK);
    CHECK(squeezed == AFLOC_OK || afloc_last_error()[0] != '\0');
    afloc_model_free(model);
    f.unsqueeze(0);
    model = NULL;
    CHECK_STATUS(afloc_model_create(f.context, f.config, f.vocab, f.vocab_size, 1, &model), AFLOC_OK);
    if (model) CHECK_STATUS(use_model(&f, model), AFLOC_OK);
    afloc_model_free(model);
    CHECK(f.free_bytes(0, &after));
    double moved = ((double)after - (double)before) / (1024.0 * 1024.0);
    printf("T14: %d injected device allocation failures, each OUT_OF_MEMORY, context usable after "
           "each; free memory moved %.2f MiB\n", failures, moved);
    CHECK(moved > -2.0 && moved < 2.0);
    fixture_close(&f);
    return test_failures ? 1 : 0;
}

static int fault_scenario(void) {
    fixture f;
    int rc = fixture_open(&f);
    if (rc) return rc;
    afloc_model *model = NULL;
    CHECK_STATUS(afloc_model_create(f.context, f.config, f.vocab, f.vocab_size, 1, &model), AFLOC_OK);
    if (!model) return 1;
    CHECK_STATUS(use_model(&f, model), AFLOC_OK);
    int error = f.fault(0);
    printf("T15: faulting kernel gave CUDA error %d\n", error);
    CHECK(error != 0);
    for (int call = 0; call < 3; call++) {
        double t0 = test_now();
        afloc_status status = use_model(&f, model);
        double seconds = test_now() - t0;
        printf("T15: call %d after the fault: %s in %.3f s: %s\n", call, afloc_status_string(status),
               seconds, afloc_last_error());
        CHECK_STATUS(status, AFLOC_ERR_DEVICE_LOST);
        CHECK(strstr(afloc_last_error(), "cudaError") != NULL);
        CHECK(seconds < 1.0);
    }
    /* a new model on the poisoned context is refused the same way */
    afloc_model *second = NULL;
    CHECK_STATUS(afloc_model_create(f.context, f.config, f.vocab, f.vocab_size, 1, &second), AFLOC_ERR_DEVICE_LOST);
    CHECK(second == NULL);
    afloc_model_free(model);
    fixture_close(&f);
    return test_failures ? 1 : 0;
}

/* Runs `scenario` in a child process, killed after `limit` seconds; returns its exit code. */
static int in_child(const char *name, int (*scenario)(void), double limit) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 1;
    if (pid == 0) {
        int rc = scenario();
        fflush(stdout);
        _exit(rc);
    }
    double t0 = test_now();
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (test_now() - t0 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "%s: hung for %.0f s, killed\n", name, limit);
            return 1;
        }
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (WIFSIGNALED(status)) {
        fprintf(stderr, "%s: child died with signal %d\n", name, WTERMSIG(status));
        return 1;
    }
    int rc = WEXITSTATUS(status);
    printf("%s: %s\n", name, rc == 0 ? "ok" : rc == TEST_SKIP ? "skipped" : "FAIL");
    return rc;
}

int main(void) {
    int oom = in_child("T14 device OOM", oom_scenario, 100.0);
    if (oom == TEST_SKIP) return TEST_SKIP;
    int fault = in_child("T15 sticky error", fault_scenario, 40.0);
    return oom || fault ? 1 : 0;
}
