/* bench_conv_library.c: chooses the convolution library for afloc_cpu_conv2d_forward by timing
 * every distinct ResNet-50 convolution at 299x299 (MODEL.md §3.2) at batch 1 and 8 with
 *   (a) im2col + cblas_sgemm (OpenBLAS), exactly what src/cpu/conv.c runs (it calls it), and
 *   (b) oneDNN 2.6 convolution on NCHW user memory: source and destination reordered to the
 *       primitive's preferred ("any") layout and back on each call, weights reordered once,
 *       primitives created once per shape (creation timed separately).
 * and (c) the library's prepared path, afloc_cpu_conv2d_prepare once + afloc_cpu_conv2d_run
 *       (src/cpu/conv_dnnl.c): a batch-1 primitive looped over the images, NCHW at the interface
 *       with the reorders inside run (prepare timed separately).
 * All with bias + ReLU fused (oneDNN: post-op), on the threads of omp_set_num_threads(T) and
 * OpenBLAS's T threads (default T = 2, the argument overrides). Each figure is the best of R runs
 * after a warm-up. Also: oneDNN vs OpenBLAS max |diff|, and whether each path's output is
 * bit-identical between 1 and T threads.
 *
 *   bench_conv_library [threads]          (build: make bench_conv_library) */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/cpu_ops.h"

void openblas_set_num_threads(int num_threads); /* OpenBLAS extension, declared in its cblas.h */

typedef struct layer {
    const char *name;
    int C, OC, H, K, stride, pad, count; /* count: how many times the trunk runs this shape */
} layer;

/* ResNet-50 v1.5 trunk at 299: every distinct conv shape and its multiplicity (53 convs). */
static const layer LAYERS[] = {
    {"conv1 7x7/2", 3, 64, 299, 7, 2, 3, 1},
    {"l1 1x1 64>64", 64, 64, 75, 1, 1, 0, 1},
    {"l1 1x1 256>64", 256, 64, 75, 1, 1, 0, 2},
    {"l1 3x3 64", 64, 64, 75, 3, 1, 1, 3},
    {"l1 1x1 64>256 +ds", 64, 256, 75, 1, 1, 0, 4},
    {"l2 1x1 256>128", 256, 128, 75, 1, 1, 0, 1},
    {"l2 3x3/2 128", 128, 128, 75, 3, 2, 1, 1},
    {"l2 ds 1x1/2 256>512", 256, 512, 75, 1, 2, 0, 1},
    {"l2 1x1 512>128", 512, 128, 38, 1, 1, 0, 3},
    {"l2 3x3 128", 128, 128, 38, 3, 1, 1, 3},
    {"l2 1x1 128>512", 128, 512, 38, 1, 1, 0, 4},
    {"l3 1x1 512>256", 512, 256, 38, 1, 1, 0, 1},
    {"l3 3x3/2 256", 256, 256, 38, 3, 2, 1, 1},
    {"l3 ds 1x1/2 512>1024", 512, 1024, 38, 1, 2, 0, 1},
    {"l3 1x1 1024>256", 1024, 256, 19, 1, 1, 0, 5},
    {"l3 3x3 256", 256, 256, 19, 3, 1, 1, 5},
    {"l3 1x1 256>1024", 256, 1024, 19, 1, 1, 0, 6},
    {"l4 1x1 1024>512", 1024, 512, 19, 1, 1, 0, 1},
    {"l4 3x3/2 512", 512, 512, 19, 3, 2, 1, 1},
    {"l4 ds 1x1/2 1024>2048", 1024, 2048, 19, 1, 2, 0, 1},
    {"l4 1x1 2048>512", 2048, 512, 10, 1, 1, 0, 2},
    {"l4 3x3 512", 512, 512, 10, 3, 1, 1, 2},
    {"l4 1x1 512>2048", 512, 2048, 10, 1, 1, 0, 3},
};
enum { LAYER_COUNT = sizeof LAYERS / sizeof LAYERS[0] };

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static void fill(float *x, size_t n, unsigned seed, float scale) {
    unsigned s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ((float)(s >> 8) / 16777216.0f * 2.0f - 1.0f) * scale;
    }
}

#define DNNL_CHECK(expr)                                                              \
    do {                                                                              \
        dnnl_status_t st_ = (expr);                                                   \
        if (st_ != dnnl_success) {                                                    \
            fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #expr, st_); \
            exit(1);                                                                  \
        }                                                                             \
    } while (0)

/* A oneDNN convolution for one shape, with its reorders and memories. */
typedef struct dnnl_conv {
    dnnl_primitive_t conv, src_reorder, dst_reorder; /* reorders NULL when layouts match */
    dnnl_memory_t user_src, user_dst, src, dst, weights, bias;
} dnnl_conv;

static dnnl_primitive_t reorder_create(dnnl_engine_t engine, const dnnl_memory_desc_t *from,
                                       const dnnl_memory_desc_t *to) {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    DNNL_CHECK(dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL));
    DNNL_CHECK(dnnl_primitive_create(&p, pd));
    dnnl_primitive_desc_destroy(pd);
    return p;
}

static void run2(dnnl_primitive_t p, dnnl_stream_t stream, dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    DNNL_CHECK(dnnl_primitive_execute(p, stream, 2, args));
}

static void dnnl_conv_create(dnnl_conv *d, dnnl_engine_t engine, dnnl_stream_t stream,
                             const layer *l, int B, float *in, float *out, const float *weight,
                             float *bias) {
    const int O = afloc_conv_out_size(l->H, l->K, l->stride, l->pad);
    dnnl_dims_t src_dims = {B, l->C, l->H, l->H}, dst_dims = {B, l->OC, O, O};
    dnnl_dims_t w_dims = {l->OC, l->C, l->K, l->K}, b_dims = {l->OC};
    dnnl_dims_t strides = {l->stride, l->stride}, pad = {l->pad, l->pad};
    dnnl_memory_desc_t user_src_md, user_dst_md, user_w_md, bias_md, src_any, dst_any, w_any;
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_src_md, 4, src_dims, dnnl_f32, dnnl_nchw));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_dst_md, 4, dst_dims, dnnl_f32, dnnl_nchw));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&user_w_md, 4, w_dims, dnnl_f32, dnnl_oihw));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&bias_md, 1, b_dims, dnnl_f32, dnnl_x));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&src_any, 4, src_dims, dnnl_f32, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&dst_any, 4, dst_dims, dnnl_f32, dnnl_format_tag_any));
    /* BENCH_DNNL_PLAIN_WEIGHTS=1 keeps the weights in the caller's OIHW layout (no per-model
     * reorder needed), to see what oneDNN costs behind an interface that passes plain weights. */
    const char *plain_w = getenv("BENCH_DNNL_PLAIN_WEIGHTS");
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&w_any, 4, w_dims, dnnl_f32,
                                            plain_w && plain_w[0] == '1' ? dnnl_oihw
                                                                         : dnnl_format_tag_any));
    dnnl_convolution_desc_t cd;
    DNNL_CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                  dnnl_convolution_direct, &src_any, &w_any,
                                                  &bias_md, &dst_any, strides, pad, pad));
    dnnl_post_ops_t ops;
    dnnl_primitive_attr_t attr;
    DNNL_CHECK(dnnl_post_ops_create(&ops));
    DNNL_CHECK(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f));
    DNNL_CHECK(dnnl_primitive_attr_create(&attr));
    DNNL_CHECK(dnnl_primitive_attr_set_post_ops(attr, ops));
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL));
    dnnl_post_ops_destroy(ops);
    dnnl_primitive_attr_destroy(attr);
    const dnnl_memory_desc_t *src_md = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    const dnnl_memory_desc_t *dst_md = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    DNNL_CHECK(dnnl_memory_create(&d->user_src, &user_src_md, engine, in));
    DNNL_CHECK(dnnl_memory_create(&d->user_dst, &user_dst_md, engine, out));
    DNNL_CHECK(dnnl_memory_create(&d->bias, &bias_md, engine, bias));
    d->src_reorder = d->dst_reorder = NULL;
    d->src = d->user_src;
    d->dst = d->user_dst;
    if (!dnnl_memory_desc_equal(src_md, &user_src_md)) {
        DNNL_CHECK(dnnl_memory_create(&d->src, src_md, engine, DNNL_MEMORY_ALLOCATE));
        d->src_reorder = reorder_create(engine, &user_src_md, src_md);
    }
    if (!dnnl_memory_desc_equal(dst_md, &user_dst_md)) {
        DNNL_CHECK(dnnl_memory_create(&d->dst, dst_md, engine, DNNL_MEMORY_ALLOCATE));
        d->dst_reorder = reorder_create(engine, dst_md, &user_dst_md);
    }
    /* Weights: reordered once, as a model would at load time. */
    dnnl_memory_t user_w;
    DNNL_CHECK(dnnl_memory_create(&user_w, &user_w_md, engine, (void *)weight));
    DNNL_CHECK(dnnl_memory_create(&d->weights, w_md, engine, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_t wr = reorder_create(engine, &user_w_md, w_md);
    run2(wr, stream, user_w, d->weights);
    DNNL_CHECK(dnnl_stream_wait(stream));
    dnnl_primitive_destroy(wr);
    dnnl_memory_destroy(user_w);
    DNNL_CHECK(dnnl_primitive_create(&d->conv, pd));
    dnnl_primitive_desc_destroy(pd);
}

static void dnnl_conv_run(const dnnl_conv *d, dnnl_stream_t stream, int with_reorders) {
    if (with_reorders && d->src_reorder) run2(d->src_reorder, stream, d->user_src, d->src);
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, d->src},
                               {DNNL_ARG_WEIGHTS, d->weights},
                               {DNNL_ARG_BIAS, d->bias},
                               {DNNL_ARG_DST, d->dst}};
    DNNL_CHECK(dnnl_primitive_execute(d->conv, stream, 4, args));
    if (with_reorders && d->dst_reorder) run2(d->dst_reorder, stream, d->dst, d->user_dst);
    DNNL_CHECK(dnnl_stream_wait(stream));
}

static void dnnl_conv_destroy(dnnl_conv *d) {
    dnnl_primitive_destroy(d->conv);
    if (d->src_reorder) {
        dnnl_primitive_destroy(d->src_reorder);
        dnnl_memory_destroy(d->src);
    }
    if (d->dst_reorder) {
        dnnl_primitive_destroy(d->dst_reorder);
        dnnl_memory_destroy(d->dst);
    }
    dnnl_memory_destroy(d->user_src);
    dnnl_memory_destroy(d->user_dst);
    dnnl_memory_destroy(d->weights);
    dnnl_memory_destroy(d->bias);
}

static void prepared_check(afloc_status st) {
    if (st != AFLOC_OK) {
        fprintf(stderr, "prepared conv failed: %s: %s\n", afloc_status_string(st),
                afloc_last_error());
        exit(1);
    }
}

static void set_threads(int t) {
    omp_set_num_threads(t);
    openblas_set_num_threads(t);
}

int main(int argc, char **argv) {
    const int threads = argc > 1 ? atoi(argv[1]) : 2;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    DNNL_CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    printf("conv library benchmark: ResNet-50 trunk at 299, %d threads, oneDNN %d.%d.%d (%s), "
           "OpenBLAS %s\n", threads, v->major, v->minor, v->patch, v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp" : "?",
           OPENBLAS_VERSION);
    const int batches[2] = {1, 8};
    for (int bi = 0; bi < 2; bi++) {
        const int B = batches[bi];
        const int reps = B == 1 ? 7 : 3;
        double tot_blas = 0, tot_dnnl = 0, tot_dnnl_conv = 0, tot_create = 0;
        double tot_prep_run = 0, tot_prepare = 0;
        int all_blas_det = 1, all_dnnl_det = 1, all_prep_det = 1;
        printf("\nbatch %d (best of %d; ms per call; x = times in the trunk)\n", B, reps);
        printf("%-22s %3s %9s %9s %9s %8s %9s %6s %5s %5s %9s %8s %6s %5s\n", "layer", "x",
               "openblas", "onednn", "dnnl-conv", "create", "max|diff|", "ratio", "detB", "detD",
               "prepared", "prepare", "ratioP", "detP");
        for (int li = 0; li < LAYER_COUNT; li++) {
            const layer *l = &LAYERS[li];
            const int O = afloc_conv_out_size(l->H, l->K, l->stride, l->pad);
            const size_t in_n = (size_t)B * l->C * l->H * l->H;
            const size_t out_n = (size_t)B * l->OC * O * O;
            const size_t w_n = (size_t)l->OC * l->C * l->K * l->K;
            const size_t scratch_n =
                afloc_cpu_conv2d_scratch_floats(B, l->C, l->H, l->H, l->OC, l->K, l->stride, l->pad);
            float *in = malloc(in_n * 4), *w = malloc(w_n * 4), *bias = malloc((size_t)l->OC * 4);
            float *out_b = malloc(out_n * 4), *out_d = malloc(out_n * 4), *ref = malloc(out_n * 4);
            float *scratch = malloc((scratch_n ? scratch_n : 1) * 4);
            fill(in, in_n, 1u + (unsigned)li, 1.0f);
            fill(w, w_n, 100u + (unsigned)li, 1.0f / sqrtf((float)(l->C * l->K * l->K)));
            fill(bias, (size_t)l->OC, 200u + (unsigned)li, 0.1f);

            /* (a) OpenBLAS im2col + sgemm: the library's own op. */
            set_threads(1);
            afloc_cpu_conv2d_forward(ref, in, w, bias, NULL, 1, B, l->C, l->H, l->H, l->OC, l->K,
                                     l->stride, l->pad, scratch);
            set_threads(threads);
            double best_b = 1e30;
            for (int r = 0; r <= reps; r++) {
                double t0 = now_ms();
                afloc_cpu_conv2d_forward(out_b, in, w, bias, NULL, 1, B, l->C, l->H, l->H, l->OC,
                                         l->K, l->stride, l->pad, scratch);
                double t = now_ms() - t0;
                if (r > 0 && t < best_b) best_b = t;
            }
            const int det_b = memcmp(ref, out_b, out_n * 4) == 0;

            /* (b) oneDNN: reference output at 1 thread, then timed at `threads`. */
            dnnl_conv d;
            set_threads(1);
            dnnl_conv_create(&d, engine, stream, l, B, in, ref, w, bias);
            dnnl_conv_run(&d, stream, 1);
            dnnl_conv_destroy(&d);
            set_threads(threads);
            double t0 = now_ms();
            dnnl_conv_create(&d, engine, stream, l, B, in, out_d, w, bias);
            const double create = now_ms() - t0;
            double best_d = 1e30, best_dc = 1e30;
            for (int r = 0; r <= reps; r++) {
                double t1 = now_ms();
                dnnl_conv_run(&d, stream, 1);
                double t = now_ms() - t1;
                if (r > 0 && t < best_d) best_d = t;
            }
            const int det_d = memcmp(ref, out_d, out_n * 4) == 0;
            for (int r = 0; r <= reps; r++) {
                double t1 = now_ms();
                dnnl_conv_run(&d, stream, 0);
                double t = now_ms() - t1;
                if (r > 0 && t < best_dc) best_dc = t;
            }
            dnnl_conv_destroy(&d);

            /* (c) prepared: reference at 1 thread, then prepared and timed at `threads`. */
            afloc_cpu_conv *pc = NULL;
            set_threads(1);
            prepared_check(afloc_cpu_conv2d_prepare(&pc, w, bias, 0, 1, l->C, l->OC, l->K,
                                                    l->stride, l->pad, B, l->H, l->H, 1));
            float *pscratch = malloc(afloc_cpu_conv2d_run_scratch_floats(pc, B) * 4);
            prepared_check(afloc_cpu_conv2d_run(pc, ref, in, NULL, B, pscratch));
            afloc_cpu_conv2d_release(pc);
            free(pscratch);
            set_threads(threads);
            t0 = now_ms();
            prepared_check(afloc_cpu_conv2d_prepare(&pc, w, bias, 0, 1, l->C, l->OC, l->K,
                                                    l->stride, l->pad, B, l->H, l->H, threads));
            const double prepare_ms = now_ms() - t0;
            pscratch = malloc(afloc_cpu_conv2d_run_scratch_floats(pc, B) * 4);
            double best_p = 1e30;
            for (int r = 0; r <= reps; r++) {
                double t1 = now_ms();
                prepared_check(afloc_cpu_conv2d_run(pc, out_d, in, NULL, B, pscratch));
                double t = now_ms() - t1;
                if (r > 0 && t < best_p) best_p = t;
            }
            const int det_p = memcmp(ref, out_d, out_n * 4) == 0;
            afloc_cpu_conv2d_release(pc);
            free(pscratch);
            double maxdiff = 0;
            for (size_t i = 0; i < out_n; i++) {
                double dd = fabs((double)out_b[i] - (double)out_d[i]);
                if (dd > maxdiff) maxdiff = dd;
            }
            printf("%-22s %3d %9.3f %9.3f %9.3f %8.3f %9.2e %6.2f %5s %5s %9.3f %8.3f %6.2f %5s\n",
                   l->name, l->count, best_b, best_d, best_dc, create, maxdiff, best_b / best_d,
                   det_b ? "yes" : "NO", det_d ? "yes" : "NO", best_p, prepare_ms,
                   best_b / best_p, det_p ? "yes" : "NO");
            tot_prep_run += best_p * l->count;
            tot_prepare += prepare_ms;
            all_prep_det &= det_p;
            tot_blas += best_b * l->count;
            tot_dnnl += best_d * l->count;
            tot_dnnl_conv += best_dc * l->count;
            tot_create += create;
            all_blas_det &= det_b;
            all_dnnl_det &= det_d;
            free(in), free(w), free(bias), free(out_b), free(out_d), free(ref), free(scratch);
        }
        printf("%-22s %3d %9.2f %9.2f %9.2f %8.2f %9s %6.2f %5s %5s %9.2f %8.2f %6.2f %5s\n",
               "TRUNK TOTAL", 53, tot_blas, tot_dnnl, tot_dnnl_conv, tot_create, "",
               tot_blas / tot_dnnl, all_blas_det ? "yes" : "NO", all_dnnl_det ? "yes" : "NO",
               tot_prep_run, tot_prepare, tot_blas / tot_prep_run, all_prep_det ? "yes" : "NO");
    }
    printf("\nopenblas: im2col + cblas_sgemm + epilogue (afloc_cpu_conv2d_forward); onednn: "
           "reorder NCHW->any, conv+bias+relu, reorder back; dnnl-conv: the conv primitive alone;\n"
           "create: primitive + weight reorder creation, ms per shape; ratio: openblas/onednn; "
           "detB/detD/detP: output bit-identical at 1 and %d threads;\n"
           "prepared: afloc_cpu_conv2d_run (batch-1 primitive per image, NCHW reorders inside); "
           "prepare: afloc_cpu_conv2d_prepare, ms per shape; ratioP: openblas/prepared.\n",
           threads);
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(engine);
    return 0;
}
