/* test_conv_dnnl.c: the prepared oneDNN convolution (conv_dnnl.c), three checks:
 *  1. parity: afloc_cpu_conv2d_prepare/run against torch.nn.functional.conv2d (+ bias, residual,
 *     ReLU) on the cases of ref_conv.py (kernels 1/3/7, strides 1/2, pads 0/1/3, B 1..3, odd and
 *     1x1 sides), and against the reference path afloc_cpu_conv2d_forward on the same inputs;
 *  2. determinism at a fixed OpenMP team size: repeated runs, and 4 host threads running the same
 *     prepared conv at once (each its own team, out and scratch), must be bit-identical (memcmp)
 *     to one run on the main thread; a batch must equal its images run alone. Whether team sizes
 *     1 and 2 agree is printed, not required (DESIGN.md §5: deterministic per thread count);
 *  3. failures: NULL / out-of-range arguments give AFLOC_ERR_INVALID_ARGUMENT with *out untouched,
 *     and every host allocation of prepare, failed in turn, gives AFLOC_ERR_OUT_OF_MEMORY with
 *     nothing leaked (ASan's leak check in the sanitizer build). */
#include <omp.h>
#include <pthread.h>
#include <stdint.h>

#include "alloc.h"
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_io.h"

/* Tolerances. oneDNN (brgconv / jit direct convolution, FMA) vs PyTorch's CPU conv and vs
 * OpenBLAS sgemm: all fp32 with other summation orders; weights are scaled by 1/sqrt(C·K·K), so
 * terms are O(1) and the error grows like eps·sqrt(reduction). The worst element is always where
 * conv + bias + residual nearly cancel (c7, reduction 576, |want| ~ 7e-5), so the absolute part
 * carries it. Worst seen: AVX-512 1.7e-6 vs torch, 1.6e-6 vs conv2d_forward; with
 * ONEDNN_MAX_CPU_ISA=AVX2 / SSE41 (other kernels, as on CI machines without AVX-512)
 * 5.5e-6 / 5.7e-6 vs torch, 4.5e-6 vs conv2d_forward. Limits ~5x the worst. */
static const ops_tolerance TOLERANCES[] = {
    {"vs_torch", 3e-5f, 1e-4f},
    {"vs_forward", 3e-5f, 1e-4f},
};

enum { TEAM = 2, HOST_THREADS = 4, REPEATS = 3 };

/* ---- 1. parity ---- */

static int parity_case(const char *dir, int i, ops_summary *vs_torch, ops_summary *vs_forward) {
    char pre[32], name[64];
    size_t n = 0;
    snprintf(pre, sizeof pre, "c%d", i);
    snprintf(name, sizeof name, "%s.params", pre);
    int32_t *p = ops_tensor_read(dir, name, OPS_I32, &n);
    if (!p) return 0; /* no more cases */
    if (n != 11) {
        fprintf(stderr, "%s: %zu params\n", name, n);
        free(p);
        test_failures++;
        return 0;
    }
    const int32_t B = p[0], C = p[1], H = p[2], W = p[3], OC = p[4], K = p[5], stride = p[6],
                  pad = p[7], has_bias = p[8], has_res = p[9], relu = p[10];
    free(p);
    const int32_t OH = afloc_conv_out_size(H, K, stride, pad);
    const int32_t OW = afloc_conv_out_size(W, K, stride, pad);
    const size_t out_n = (size_t)B * OC * OH * OW;
    float *in = ops_read_f32(dir, pre, "in", (size_t)B * C * H * W);
    float *weight = ops_read_f32(dir, pre, "weight", (size_t)OC * C * K * K);
    float *bias = has_bias ? ops_read_f32(dir, pre, "bias", (size_t)OC) : NULL;
    float *res = has_res ? ops_read_f32(dir, pre, "residual", out_n) : NULL;
    float *want = ops_read_f32(dir, pre, "out", out_n);
    const size_t ref_scratch_n = afloc_cpu_conv2d_scratch_floats(B, C, H, W, OC, K, stride, pad);
    float *ref_scratch = malloc((ref_scratch_n ? ref_scratch_n : 1) * sizeof(float));
    float *ref = malloc(out_n * sizeof(float));
    float *got = malloc(out_n * sizeof(float));
    afloc_cpu_conv *conv = NULL;
    float *scratch = NULL;
    const int inputs_ok = in && weight && want && got && ref && ref_scratch &&
                          (!has_bias || bias) && (!has_res || res);
    CHECK(inputs_ok);
    if (inputs_ok) {
        CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, weight, bias, has_res, relu, C, OC, K,
                                              stride, pad, B, H, W, TEAM),
                     AFLOC_OK);
    }
    if (conv) {
        scratch = malloc(afloc_cpu_conv2d_run_scratch_floats(conv, B) * sizeof(float));
        CHECK(scratch != NULL);
    }
    if (conv && scratch) {
        memset(got, 0xff, out_n * sizeof(float));
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, got, in, res, B, scratch), AFLOC_OK);
        afloc_cpu_conv2d_forward(ref, in, weight, bias, res, relu, B, C, H, W, OC, K, stride, pad,
                                 ref_scratch);
        char label[128];
        snprintf(label, sizeof label, "%s B%d C%d %dx%d OC%d K%d s%d p%d%s%s%s", pre, B, C, H, W,
                 OC, K, stride, pad, has_bias ? " +b" : "", has_res ? " +r" : "",
                 relu ? " relu" : "");
        ops_compare(vs_torch, label, &TOLERANCES[0], 1.0f, got, want, out_n);
        strncat(label, " ~fwd", sizeof label - strlen(label) - 1);
        ops_compare(vs_forward, label, &TOLERANCES[1], 1.0f, got, ref, out_n);
    }
    afloc_cpu_conv2d_release(conv);
    free(in), free(weight), free(bias), free(res), free(want), free(got), free(ref);
    free(ref_scratch), free(scratch);
    return 1;
}

/* ---- 2. determinism ---- */

typedef struct det_case {
    const char *name;
    int32_t B, C, H, W, OC, K, stride, pad, residual, relu;
} det_case;

/* Shapes where oneDNN really splits work: the stem, a layer-2 3x3 with residual, a 1x1 that
 * expands with residual (blocked layouts and all three reorders), a 1x1/2 downsample. */
static const det_case DET_CASES[] = {
    {"stem 7x7/2 3>64 151x149 relu", 1, 3, 151, 149, 64, 7, 2, 3, 0, 1},
    {"3x3 B2 64>64 38x38 +r relu", 2, 64, 38, 38, 64, 3, 1, 1, 1, 1},
    {"1x1 B3 256>512 19x19 +r", 3, 256, 19, 19, 512, 1, 1, 0, 1, 0},
    {"1x1/2 B2 512>1024 38x38", 2, 512, 38, 38, 1024, 1, 2, 0, 0, 0},
};

static void fill(float *x, size_t n, unsigned seed, float scale) {
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
    }
}

typedef struct host_job {
    const afloc_cpu_conv *conv;
    const float *in, *res, *want;
    float *out, *scratch;
    int32_t B;
    size_t out_n;
    int runs, identical, failed_status;
} host_job;

static void *host_thread(void *arg) {
    host_job *j = arg;
    for (int r = 0; r < REPEATS; r++) {
        memset(j->out, 0xff, j->out_n * sizeof(float));
        if (afloc_cpu_conv2d_run(j->conv, j->out, j->in, j->res, j->B, j->scratch) != AFLOC_OK)
            j->failed_status++;
        j->runs++;
        j->identical += memcmp(j->out, j->want, j->out_n * sizeof(float)) == 0;
    }
    return NULL;
}

/* Returns 1 when team sizes 1 and TEAM agreed bit for bit (reported only). */
static int determinism_case(const det_case *d, int *concurrent_runs, int *concurrent_identical) {
    const int32_t OH = afloc_conv_out_size(d->H, d->K, d->stride, d->pad);
    const int32_t OW = afloc_conv_out_size(d->W, d->K, d->stride, d->pad);
    const size_t in_n = (size_t)d->B * d->C * d->H * d->W, out_n = (size_t)d->B * d->OC * OH * OW;
    const size_t w_n = (size_t)d->OC * d->C * d->K * d->K;
    float *in = malloc(in_n * sizeof(float)), *w = malloc(w_n * sizeof(float));
    float *bias = malloc((size_t)d->OC * sizeof(float));
    float *res = d->residual ? malloc(out_n * sizeof(float)) : NULL;
    float *want = malloc(out_n * sizeof(float)), *one = malloc(out_n * sizeof(float));
    float *outs[HOST_THREADS], *scratches[HOST_THREADS];
    afloc_cpu_conv *conv = NULL, *conv1 = NULL;
    int teams_agree = 0;
    if (!in || !w || !bias || !want || !one || (d->residual && !res)) {
        fprintf(stderr, "%s: out of memory\n", d->name);
        test_failures++;
        free(in), free(w), free(bias), free(res), free(want), free(one);
        return 0;
    }
    fill(in, in_n, 11, 1.0f);
    fill(w, w_n, 12, 1.0f / sqrtf((float)(d->C * d->K * d->K)));
    fill(bias, (size_t)d->OC, 13, 0.1f);
    if (res) fill(res, out_n, 14, 1.0f);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, bias, d->residual, d->relu, d->C, d->OC, d->K,
                                          d->stride, d->pad, d->B, d->H, d->W, TEAM),
                 AFLOC_OK);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv1, w, bias, d->residual, d->relu, d->C, d->OC,
                                          d->K, d->stride, d->pad, d->B, d->H, d->W, 1),
                 AFLOC_OK);
    if (!conv || !conv1) goto done;
    const size_t scratch_n = afloc_cpu_conv2d_run_scratch_floats(conv, d->B);
    const size_t scratch1_n = afloc_cpu_conv2d_run_scratch_floats(conv1, d->B);
    for (int t = 0; t < HOST_THREADS; t++) {
        outs[t] = malloc(out_n * sizeof(float));
        scratches[t] = malloc((scratch_n > scratch1_n ? scratch_n : scratch1_n) * sizeof(float));
    }
    /* Reference: one run on this thread at TEAM threads. */
    CHECK_STATUS(afloc_cpu_conv2d_run(conv, want, in, res, d->B, scratches[0]), AFLOC_OK);
    /* Repeats on this thread. */
    int repeat_ok = 1;
    for (int r = 0; r < REPEATS; r++) {
        memset(outs[0], 0xff, out_n * sizeof(float));
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, outs[0], in, res, d->B, scratches[0]), AFLOC_OK);
        repeat_ok &= memcmp(outs[0], want, out_n * sizeof(float)) == 0;
    }
    CHECK(repeat_ok);
    /* Each image alone equals the same image in the batch (the batch runs image by image). */
    int alone_ok = 1;
    const size_t in_image = in_n / (size_t)d->B, out_image = out_n / (size_t)d->B;
    for (int32_t b = 0; b < d->B; b++) {
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, outs[1], in + b * in_image,
                                          res ? res + b * out_image : NULL, 1, scratches[1]),
                     AFLOC_OK);
        alone_ok &= memcmp(outs[1], want + b * out_image, out_image * sizeof(float)) == 0;
    }
    CHECK(alone_ok);
    /* HOST_THREADS concurrent callers of the same conv, each with its own OpenMP team. */
    pthread_t threads[HOST_THREADS];
    host_job jobs[HOST_THREADS];
    for (int t = 0; t < HOST_THREADS; t++) {
        jobs[t] = (host_job){conv, in, res, want, outs[t], scratches[t], d->B, out_n, 0, 0, 0};
        if (pthread_create(&threads[t], NULL, host_thread, &jobs[t]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            test_failures++;
            threads[t] = pthread_self();
        }
    }
    int runs = 0, identical = 0;
    for (int t = 0; t < HOST_THREADS; t++) {
        if (!pthread_equal(threads[t], pthread_self())) pthread_join(threads[t], NULL);
        CHECK(jobs[t].failed_status == 0);
        runs += jobs[t].runs;
        identical += jobs[t].identical;
    }
    CHECK(runs == HOST_THREADS * REPEATS && identical == runs);
    *concurrent_runs += runs;
    *concurrent_identical += identical;
    /* Team size 1 (its own primitives): compared and reported. */
    CHECK_STATUS(afloc_cpu_conv2d_run(conv1, one, in, res, d->B, scratches[0]), AFLOC_OK);
    teams_agree = memcmp(one, want, out_n * sizeof(float)) == 0;
    double max_diff = 0.0;
    for (size_t i = 0; i < out_n; i++) {
        const double diff = fabs((double)one[i] - (double)want[i]);
        if (diff > max_diff) max_diff = diff;
    }
    printf("  %-34s %9zu  repeats %s, alone %s, %d host threads %d/%d identical; "
           "teams 1 vs %d: %s (max |diff| %.2e)\n",
           d->name, out_n, repeat_ok ? "identical" : "DIFFER", alone_ok ? "identical" : "DIFFER",
           HOST_THREADS, identical, runs, TEAM, teams_agree ? "identical" : "differ", max_diff);
    for (int t = 0; t < HOST_THREADS; t++) free(outs[t]), free(scratches[t]);
done:
    afloc_cpu_conv2d_release(conv);
    afloc_cpu_conv2d_release(conv1);
    free(in), free(w), free(bias), free(res), free(want), free(one);
    return teams_agree;
}

/* ---- 3. failures ---- */

static void failures(void) {
    float w[4 * 3 * 3 * 3] = {0}, b[4] = {0};
    afloc_cpu_conv *sentinel = (afloc_cpu_conv *)(uintptr_t)0x1234, *conv = sentinel;
    const afloc_status bad = AFLOC_ERR_INVALID_ARGUMENT;
    CHECK_STATUS(afloc_cpu_conv2d_prepare(NULL, w, b, 0, 1, 3, 4, 3, 1, 1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, NULL, b, 0, 1, 3, 4, 3, 1, 1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 2, 1, 3, 4, 3, 1, 1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, -1, 3, 4, 3, 1, 1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 0, 4, 3, 1, 1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, -4, 3, 1, 1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 0, 1, 1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 0, 1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, -1, 1, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, 1, 0, 8, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, 1, 1, 0, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, 1, 1, 8, 0, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, 1, 1, 8, 8, 0), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, 1, 1, 8, 8, 5000), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, 0, 1, 2, 2, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, 1, 1, 70000, 8, 1), bad);
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 60000, 60000, 3, 1, 1, 1, 8, 8, 1),
                 bad);
    CHECK(conv == sentinel); /* untouched on failure */

    /* run: bad pointers, batch, residual mismatch. */
    conv = NULL;
    const int team_before = omp_get_max_threads();
    CHECK_STATUS(afloc_cpu_conv2d_prepare(&conv, w, b, 0, 1, 3, 4, 3, 1, 1, 2, 8, 8, 1), AFLOC_OK);
    CHECK(omp_get_max_threads() == team_before);
    if (conv) {
        float in[2 * 3 * 8 * 8] = {0}, out[2 * 4 * 8 * 8], res[2 * 4 * 8 * 8] = {0};
        float *scratch = malloc(afloc_cpu_conv2d_run_scratch_floats(conv, 2) * sizeof(float));
        CHECK(scratch != NULL);
        CHECK_STATUS(afloc_cpu_conv2d_run(NULL, out, in, NULL, 1, scratch), bad);
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, NULL, in, NULL, 1, scratch), bad);
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, out, NULL, NULL, 1, scratch), bad);
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, out, in, NULL, 1, NULL), bad);
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, out, in, NULL, 0, scratch), bad);
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, out, in, NULL, 3, scratch), bad);
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, out, in, res, 1, scratch), bad);
        /* run uses its own team size (1 here) and gives the caller's back. */
        const int saved = omp_get_max_threads();
        omp_set_num_threads(3);
        CHECK_STATUS(afloc_cpu_conv2d_run(conv, out, in, NULL, 2, scratch), AFLOC_OK);
        CHECK(omp_get_max_threads() == 3);
        omp_set_num_threads(saved);
        free(scratch);
    }
    afloc_cpu_conv2d_release(conv);
    afloc_cpu_conv2d_release(NULL);

    /* Out of memory: fail the k-th host allocation of prepare, for every k it makes. */
    int oom = 0, k;
    for (k = 0; k < 16; k++) {
        conv = sentinel;
        afloc_test_inject_alloc_failure(k);
        const afloc_status st = afloc_cpu_conv2d_prepare(&conv, w, b, 1, 1, 3, 4, 3, 1, 1, 2, 8, 8,
                                                         1);
        afloc_test_inject_alloc_failure(-1);
        if (st == AFLOC_OK) {
            CHECK(conv != sentinel);
            afloc_cpu_conv2d_release(conv);
            break;
        }
        CHECK_STATUS(st, AFLOC_ERR_OUT_OF_MEMORY);
        CHECK(conv == sentinel);
        oom++;
    }
    CHECK(oom >= 3 && k < 16); /* the conv, the weights, the bias at least */
    printf("  failures: 17 bad prepare arguments, 7 bad run arguments, %d injected allocation "
           "failures -> expected status\n", oom);
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_conv.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary vs_torch = {0}, vs_forward = {0};
    int cases = 0;
    double t0 = ops_now_seconds();
    while (parity_case(dir, cases, &vs_torch, &vs_forward)) cases++;
    ops_oracle_remove(dir);
    CHECK(cases >= 10);
    const double t_parity = ops_now_seconds() - t0;

    int det_runs = 0, det_identical = 0, teams_agree = 0;
    const int det_n = (int)(sizeof DET_CASES / sizeof DET_CASES[0]);
    t0 = ops_now_seconds();
    for (int i = 0; i < det_n; i++) teams_agree += determinism_case(&DET_CASES[i], &det_runs, &det_identical);
    const double t_det = ops_now_seconds() - t0;
    failures();

    printf("ops_conv_dnnl: %d cases vs torch max abs %.3e rel %.3e, vs conv2d_forward max abs "
           "%.3e rel %.3e, %d failed; team %d: %d/%d concurrent runs bit-identical; teams 1 and "
           "%d identical on %d of %d shapes (allowed to differ); %.2f s + %.2f s\n",
           cases, vs_torch.max_abs, vs_torch.max_rel, vs_forward.max_abs, vs_forward.max_rel,
           vs_torch.failed + vs_forward.failed, TEAM, det_identical, det_runs, TEAM, teams_agree,
           det_n, t_parity, t_det);
    return test_finish("ops_conv_dnnl");
}
