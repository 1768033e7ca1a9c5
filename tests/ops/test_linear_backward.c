/* test_linear_backward.c: afloc_cpu_linear_backward (gemm.c) and afloc_cpu_relu_backward
 * (activation.c), both used by the trainer (issue 4), against PyTorch autograd of F.linear and
 * torch.relu on the cases of ref_linear_backward.py: scalars, odd sizes, the image global head
 * 2048→768 and BERT-sized layers over 97 tokens, a ragged dbias block, C 1; ReLU with 0, −0, NaN
 * and tiny outputs. Each gradient is checked after one call and, accumulated, after two; all are
 * bit-identical for 1/2/3/4 threads. */
#include "cpu/cpu_ops.h"
#include "ops_determinism.h"
#include "ops_grad.h"

/* Tolerances (atol relative to the tensor's max |value|). fp32 GEMMs both sides (OpenBLAS here,
 * MKL in torch) in another summation order: dinput reduces over OC (≤ 3072), dweight over N
 * (≤ 130); dbias is a double sum here, float there. ReLU backward selects dout: exact. Worst
 * seen (max|err|/max|want|): dinput 1.2e-7, dweight 0, dbias 1.1e-7; limits ~10-20x. */
static const ops_tolerance TOLERANCES[] = {
    {"dinput", 2e-6f, 1e-4f},
    {"dweight", 2e-6f, 1e-4f},
    {"dbias", 2e-6f, 1e-4f},
    {"relu_dinput", 0.0f, 0.0f},
};

typedef struct linear_case {
    const float *in, *weight, *dout, *out;
    int32_t N, C, OC, has_bias;
} linear_case;

static void run_linear(void *ctx, float *o) {
    const linear_case *c = ctx;
    const size_t ni = (size_t)c->N * c->C, nw = (size_t)c->OC * c->C;
    memset(o, 0, (ni + nw + (size_t)c->OC) * sizeof(float));
    afloc_cpu_linear_backward(o, o + ni, c->has_bias ? o + ni + nw : NULL, c->dout, c->in,
                              c->weight, c->N, c->C, c->OC);
}

static void run_relu(void *ctx, float *o) {
    const linear_case *c = ctx;
    memset(o, 0, (size_t)c->N * sizeof(float));
    afloc_cpu_relu_backward(o, c->dout, c->out, (size_t)c->N);
}

static int linear_case_run(const char *dir, int i, ops_summary *s) {
    char pre[32], label[96];
    int32_t p[4];
    snprintf(pre, sizeof pre, "l%d", i);
    if (!ops_read_params(dir, pre, p, 4)) return 0;
    linear_case c = {NULL, NULL, NULL, NULL, p[0], p[1], p[2], p[3]};
    const size_t ni = (size_t)c.N * c.C, nw = (size_t)c.OC * c.C, no = (size_t)c.N * c.OC;
    float *in = ops_read_f32(dir, pre, "in", ni), *weight = ops_read_f32(dir, pre, "weight", nw);
    float *dout = ops_read_f32(dir, pre, "dout", no);
    float *w_di = ops_read_f32(dir, pre, "dinput", ni);
    float *w_dw = ops_read_f32(dir, pre, "dweight", nw);
    float *w_db = c.has_bias ? ops_read_f32(dir, pre, "dbias", (size_t)c.OC) : NULL;
    float *di = calloc(ni, sizeof(float)), *dw = calloc(nw, sizeof(float));
    float *db = calloc((size_t)c.OC, sizeof(float));
    const int ok = in && weight && dout && w_di && w_dw && (!c.has_bias || w_db) && di && dw && db;
    CHECK(ok);
    if (ok) {
        c.in = in, c.weight = weight, c.dout = dout;
        snprintf(label, sizeof label, "%s N%d C%d OC%d%s", pre, c.N, c.C, c.OC,
                 c.has_bias ? " +b" : "");
        for (int pass = 1; pass <= 2; pass++) {
            afloc_cpu_linear_backward(di, dw, c.has_bias ? db : NULL, dout, in, weight, c.N, c.C,
                                      c.OC);
            ops_grad_compare(s, label, &TOLERANCES[0], pass, di, w_di, ni);
            ops_grad_compare(s, label, &TOLERANCES[1], pass, dw, w_dw, nw);
            if (c.has_bias) ops_grad_compare(s, label, &TOLERANCES[2], pass, db, w_db, (size_t)c.OC);
        }
        memset(dw, 0, nw * sizeof(float)); /* dinput NULL: dweight alone, unchanged */
        afloc_cpu_linear_backward(NULL, dw, NULL, dout, in, weight, c.N, c.C, c.OC);
        ops_grad_compare(s, label, &TOLERANCES[1], 1, dw, w_dw, nw);
        snprintf(label, sizeof label, "%s threads", pre);
        ops_check_thread_counts(label, run_linear, &c, ni + nw + (size_t)c.OC);
    }
    free(in), free(weight), free(dout), free(w_di), free(w_dw), free(w_db), free(di), free(dw);
    free(db);
    return 1;
}

static int relu_case_run(const char *dir, int i, ops_summary *s) {
    char pre[32], label[96];
    int32_t p[1];
    snprintf(pre, sizeof pre, "u%d", i);
    if (!ops_read_params(dir, pre, p, 1)) return 0;
    const size_t n = (size_t)p[0];
    float *out = ops_read_f32(dir, pre, "out", n), *dout = ops_read_f32(dir, pre, "dout", n);
    float *want = ops_read_f32(dir, pre, "dinput", n), *got = calloc(n, sizeof(float));
    CHECK(out && dout && want && got);
    if (out && dout && want && got) {
        snprintf(label, sizeof label, "relu %s n%zu", pre, n);
        for (int pass = 1; pass <= 2; pass++) {
            afloc_cpu_relu_backward(got, dout, out, n);
            ops_grad_compare(s, label, &TOLERANCES[3], pass, got, want, n);
        }
        linear_case c = {NULL, NULL, dout, out, (int32_t)n, 0, 0, 0};
        snprintf(label, sizeof label, "%s threads", pre);
        ops_check_thread_counts(label, run_relu, &c, n);
    }
    free(out), free(dout), free(want), free(got);
    return 1;
}

int main(void) {
    char dir[64];
    int rc = ops_oracle_run("ref_linear_backward.py", dir, sizeof dir);
    if (rc) return rc;
    ops_summary summary = {0};
    int cases = 0, relu_cases = 0;
    while (linear_case_run(dir, cases, &summary)) cases++;
    while (relu_case_run(dir, relu_cases, &summary)) relu_cases++;
    ops_oracle_remove(dir);
    CHECK(cases >= 7 && relu_cases >= 3);
    printf("ops_linear_backward_vs_torch: %d linear + %d relu cases, %d tensors, max abs %.3e, "
           "max rel %.3e, %d failed\n",
           cases, relu_cases, summary.tensors, summary.max_abs, summary.max_rel, summary.failed);
    ops_grad_report("ops_linear_backward_vs_torch");
    return test_finish("ops_linear_backward_vs_torch");
}
