/* test_cuda_context.c: the device handle gives the host back exactly the CUDA context it had
 * (RELIABILITY T21, afloc_device_scope in kernels/cuda_common.cuh):
 *   - a host thread with no current context has none after the handle's calls (restoring a device
 *     index instead would bind device 0's primary context there);
 *   - a host's own context (cuCtxCreate) is current again after every call, and the handle's work
 *     still runs in the handle's context and is right.
 * The driver API comes from libcuda.so.1 with dlopen, so the test builds without the toolkit's
 * headers or a link to libcuda; without a driver or device it skips (code 77). */
#include <dlfcn.h>
#include <pthread.h>

#include "cuda_test.h"

typedef void *cu_context; /* CUcontext */
typedef int (*cu_ctx_get_current)(cu_context *);
typedef int (*cu_ctx_create)(cu_context *, unsigned, int);
typedef int (*cu_ctx_destroy)(cu_context);
typedef int (*cu_ctx_pop)(cu_context *);

static cu_ctx_get_current ctx_get_current;

typedef struct thread_case {
    cuda_test *t;
    float     *d_in, *d_out;
    size_t     n;
    int        before_ok, after_ok, sync_ok;
} thread_case;

/* On a fresh thread (no context): run an op and a sync, and look at the thread's context. */
static void *fresh_thread(void *arg) {
    thread_case *c = arg;
    cu_context now = (cu_context)1;
    c->before_ok = ctx_get_current(&now) == 0 && now == NULL;
    c->t->ops->relu_forward(c->t->dev, c->d_out, c->d_in, c->n);
    c->sync_ok = c->t->ops->sync(c->t->dev) == AFLOC_OK;
    now = (cu_context)1;
    c->after_ok = ctx_get_current(&now) == 0 && now == NULL;
    return NULL;
}

static int relu_matches(const float *host, const float *back, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (back[i] != (host[i] > 0.0f ? host[i] : 0.0f)) return 0;
    return 1;
}

int main(void) {
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!cuda) {
        printf("SKIP: no CUDA driver (libcuda.so.1): %s\n", dlerror());
        return TEST_SKIP;
    }
    ctx_get_current = (cu_ctx_get_current)dlsym(cuda, "cuCtxGetCurrent");
    cu_ctx_create ctx_create = (cu_ctx_create)dlsym(cuda, "cuCtxCreate_v2");
    cu_ctx_destroy ctx_destroy = (cu_ctx_destroy)dlsym(cuda, "cuCtxDestroy_v2");
    cu_ctx_pop ctx_pop = (cu_ctx_pop)dlsym(cuda, "cuCtxPopCurrent_v2");
    if (!ctx_get_current || !ctx_create || !ctx_destroy || !ctx_pop) {
        printf("SKIP: the driver lacks cuCtxGetCurrent/cuCtxCreate_v2/cuCtxDestroy_v2/cuCtxPopCurrent_v2\n");
        return TEST_SKIP;
    }

    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32); /* skips without a device */
    const size_t n = 1 << 16;
    float *host = cuda_test_random(n, -2.0f, 2.0f, 3);
    float *back = cuda_test_host(n);
    float *d_in = cuda_test_upload(&t, host, n);
    float *d_out = (float *)cuda_test_alloc(&t, n * sizeof(float));

    /* 1. A thread that never touched CUDA. */
    thread_case c = {&t, d_in, d_out, n, 0, 0, 0};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, fresh_thread, &c) == 0);
    pthread_join(thread, NULL);
    CHECK(c.before_ok);
    CHECK(c.sync_ok);
    CHECK(c.after_ok);
    cuda_test_download(&t, back, d_out, n);
    CHECK(relu_matches(host, back, n));

    /* 2. The host's own context, current while it calls the handle. */
    cu_context own = NULL;
    CHECK(ctx_create(&own, 0, 0) == 0 && own != NULL); /* pushed: now current */
    t.ops->zero(t.dev, d_out, n * sizeof(float));
    t.ops->relu_forward(t.dev, d_out, d_in, n);
    cu_context now = NULL;
    CHECK(ctx_get_current(&now) == 0 && now == own);
    CHECK(t.ops->download(t.dev, back, d_out, n * sizeof(float)) == AFLOC_OK);
    CHECK(relu_matches(host, back, n));
    now = NULL;
    CHECK(ctx_get_current(&now) == 0 && now == own);
    if (own) {
        cu_context popped = NULL;
        CHECK(ctx_pop(&popped) == 0 && popped == own);
        CHECK(ctx_destroy(own) == 0);
    }
    CHECK(t.ops->sync(t.dev) == AFLOC_OK);

    cuda_test_sync(&t, "context");
    printf("fresh thread: no context before or after the calls; the host's own context kept\n");
    free(host);
    free(back);
    cuda_test_close(&t);
    return test_finish("test_cuda_context");
}
