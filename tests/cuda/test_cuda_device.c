/* test_cuda_device.c: the device handle's memory and error model (RELIABILITY.md): copies round
 * trip exactly, an impossible allocation gives OUT_OF_MEMORY and the handle stays usable, bad
 * arguments are refused, math modes switch, event timing works (and a failed timing is not
 * charged to the next op), CUDA graphs capture and replay (and a broken capture fails cleanly).
 * That the host's CUDA context is left alone is test_cuda_context's. */
#include "cuda_test.h"

int main(void) {
    cuda_test t;
    cuda_test_open(&t, AFLOC_DEVICE_MATH_FP32);
    const afloc_device_ops *ops = t.ops;

    /* Round trip. */
    size_t n = 1 << 20;
    float *host = cuda_test_random(n, -3.0f, 3.0f, 1);
    float *back = cuda_test_host(n);
    float *d = cuda_test_upload(&t, host, n);
    float *d2 = (float *)cuda_test_alloc(&t, n * sizeof(float));
    ops->copy(t.dev, d2, d, n * sizeof(float));
    cuda_test_download(&t, back, d2, n);
    CHECK(memcmp(host, back, n * sizeof(float)) == 0);

    /* Out of memory: 1 PiB cannot be had; the handle must still work afterwards. */
    void *huge = (void *)1;
    CHECK(ops->alloc(t.dev, &huge, (size_t)1 << 50) == AFLOC_ERR_OUT_OF_MEMORY);
    CHECK(huge == NULL);
    CHECK(ops->sync(t.dev) == AFLOC_OK);
    ops->relu_forward(t.dev, d2, d, n);
    cuda_test_download(&t, back, d2, n);
    int relu_ok = 1;
    for (size_t i = 0; i < n; i++) relu_ok &= back[i] == (host[i] > 0.0f ? host[i] : 0.0f);
    CHECK(relu_ok);

    /* Zero-byte allocation, NULL release, bad math mode. */
    void *none = (void *)1;
    CHECK(ops->alloc(t.dev, &none, 0) == AFLOC_OK && none == NULL);
    ops->release(t.dev, NULL);
    CHECK(ops->set_math(t.dev, 7) == AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(ops->set_math(t.dev, AFLOC_DEVICE_MATH_BF16) == AFLOC_OK);
    CHECK(ops->set_math(t.dev, AFLOC_DEVICE_MATH_FP32) == AFLOC_OK);

    /* Events. */
    int32_t a = ops->mark(t.dev);
    ops->gelu_forward(t.dev, d2, d, n);
    int32_t b = ops->mark(t.dev);
    double seconds = ops->elapsed(t.dev, a, b);
    CHECK(seconds >= 0.0 && seconds < 10.0);
    CHECK(ops->elapsed(t.dev, -1, b) < 0.0);
    /* an event never marked has no time; that failure is elapsed's, not the next op's */
    CHECK(ops->elapsed(t.dev, a, b + 1) < 0.0);
    ops->relu_forward(t.dev, d2, d, n);
    CHECK(ops->sync(t.dev) == AFLOC_OK);

    /* CUDA graphs: captured ops do not run until launched; a replay reads the buffers' current
     * values; a capture broken by an op that cannot be captured (a sync) fails cleanly and
     * leaves the handle usable. */
    ops->zero(t.dev, d2, n * sizeof(float));
    void *graph = NULL;
    CHECK(ops->capture_begin(t.dev) == AFLOC_OK);
    ops->relu_forward(t.dev, d2, d, n);
    CHECK(ops->capture_end(t.dev, &graph) == AFLOC_OK && graph != NULL);
    cuda_test_download(&t, back, d2, n);
    int untouched = 1;
    for (size_t i = 0; i < n; i++) untouched &= back[i] == 0.0f;
    CHECK(untouched);
    for (int replay = 0; replay < 2; replay++) {
        if (replay == 1) {
            for (size_t i = 0; i < n; i++) host[i] = -host[i];
            CHECK(ops->upload(t.dev, d, host, n * sizeof(float)) == AFLOC_OK);
        }
        ops->graph_launch(t.dev, graph);
        cuda_test_download(&t, back, d2, n);
        int replay_ok = 1;
        for (size_t i = 0; i < n; i++) replay_ok &= back[i] == (host[i] > 0.0f ? host[i] : 0.0f);
        CHECK(replay_ok);
    }
    ops->graph_free(t.dev, graph);
    ops->graph_free(t.dev, NULL);
    void *broken = (void *)1;
    CHECK(ops->capture_begin(t.dev) == AFLOC_OK);
    ops->gelu_forward(t.dev, d2, d, n);
    (void)ops->sync(t.dev); /* not allowed while capturing: invalidates the capture */
    CHECK(ops->capture_end(t.dev, &broken) == AFLOC_ERR_INTERNAL && broken == NULL);
    CHECK(ops->sync(t.dev) == AFLOC_OK);
    ops->relu_forward(t.dev, d2, d, n);
    cuda_test_download(&t, back, d2, n);
    int after_ok = 1;
    for (size_t i = 0; i < n; i++) after_ok &= back[i] == (host[i] > 0.0f ? host[i] : 0.0f);
    CHECK(after_ok);

    /* A second handle on the same device works independently. */
    afloc_device *other = NULL;
    char message[256];
    CHECK(ops->create(&other, 0, AFLOC_DEVICE_MATH_FP32, message, sizeof message) == AFLOC_OK);
    if (other) ops->destroy(other);
    CHECK(ops->create(&other, 4096, AFLOC_DEVICE_MATH_FP32, message, sizeof message) ==
          AFLOC_ERR_BACKEND_UNAVAILABLE);
    CHECK(message[0] != '\0');

    cuda_test_sync(&t, "device");
    printf("round trip %zu floats exact, OOM recoverable, events %.3g ms\n", n, seconds * 1e3);
    free(host);
    free(back);
    cuda_test_close(&t);
    return test_finish("test_cuda_device");
}
