/* conv_dnnl.c: the prepared convolution, the fast path of the same op as conv.c
 * (torch.nn.functional.conv2d, square kernel, groups 1, zero padding, epilogue
 * out = relu?(conv(in, weight) + bias + residual)) on oneDNN 2.x through its C API (dnnl.h).
 *
 * Why a second path: oneDNN runs ResNet-50's convolutions ~3x faster than im2col + OpenBLAS
 * (benchmarks/README.md), but only with weights reordered once into its blocked layout, which
 * needs state that the stateless afloc_cpu_conv2d_forward cannot hold. conv.c stays the reference
 * (tests, training); this file is what inference runs.
 *
 * What prepare builds, for one layer (fixed C, OC, K, stride, pad, H, W):
 *  - one convolution primitive for ONE image, with the layouts oneDNN prefers ("any"), bias in
 *    the primitive and residual (post-op sum, scale 1) then ReLU (post-op eltwise) in its
 *    attributes: the same order as conv.c's epilogue;
 *  - reorders NCHW → preferred source layout, preferred destination layout → NCHW, and
 *    NCHW → destination layout for the residual, each only when the layouts differ;
 *  - the weights, reordered once into an afloc_malloc'd buffer, and a copy of the bias.
 * A batch is run one image at a time through the batch-1 primitive: on the ResNet-50 trunk at
 * 299 that is faster than a batch-B primitive for B <= 8 (bench_conv_library, "prepared" rows:
 * the per-image working set stays in cache), and one primitive serves every batch size.
 *
 * Concurrency: every primitive uses a user-managed scratchpad (dnnl_scratchpad_mode_user), and
 * run creates its own stream and memory objects over the caller's pointers, so one prepared conv
 * may run on many host threads at once, each with its own `scratch`. oneDNN's CPU runtime here
 * is OpenMP: a primitive splits work over the team size seen when it was created, so prepare
 * and run both set omp_set_num_threads(threads) on the calling thread and restore the caller's
 * value afterwards. Results are bit-identical run to run and across concurrent callers for that
 * team size (tests/ops/test_conv_dnnl.c); other team sizes may round differently (DESIGN.md §5).
 *
 * Layouts: in (B, C, H, W), out and residual (B, OC, OH, OW), weight (OC, C, K, K), all NCHW fp32.
 * Dimension letters: B batch, C input channels, OC output channels, H W input side, OH OW output
 * side, K kernel side. */
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "cpu/cpu_ops.h"
#include "error.h"

/* Sizes above these are rejected before oneDNN sees them (far beyond any AFLoc layer). */
#define CONV_MAX_DIM 65536             /* any single size: channels, sides, batch   */
#define CONV_MAX_IMAGE_FLOATS INT32_MAX /* elements of one image, output or weight   */
#define CONV_MAX_THREADS 1024
#define CONV_ALIGN_FLOATS 16            /* scratch regions start on 64-byte lines    */

enum { PAD_CONV, PAD_SRC, PAD_DST, PAD_RES, PAD_COUNT }; /* the primitives' scratchpads */

struct afloc_cpu_conv {
    int32_t C, OC, K, stride, pad, H, W, OH, OW;
    int32_t max_batch, threads, residual, relu;
    dnnl_engine_t engine;
    dnnl_primitive_t conv;        /* one image                                          */
    dnnl_primitive_t src_reorder; /* NCHW in → src_md; NULL when src_md is NCHW         */
    dnnl_primitive_t dst_reorder; /* dst_md → NCHW out; NULL when dst_md is NCHW        */
    dnnl_primitive_t res_reorder; /* NCHW residual → dst_md; only with both of the above */
    dnnl_memory_desc_t user_src_md, user_dst_md, src_md, dst_md, weights_md, bias_md;
    dnnl_memory_desc_t pad_md[PAD_COUNT];
    size_t src_floats, dst_floats, pad_floats; /* scratch regions, multiples of 16 floats */
    float *weights;                            /* weights_md layout                       */
    float *bias;                               /* (OC) copy, or NULL                      */
};

/* ---- helpers ---- */

/* Turns a oneDNN status into ours: out of memory stays that, anything else is our bug (we
 * validated every size before calling). */
static afloc_status dnnl_ok(dnnl_status_t s, const char *function, const char *what) {
    if (s == dnnl_success) return AFLOC_OK;
    return afloc_fail(s == dnnl_out_of_memory ? AFLOC_ERR_OUT_OF_MEMORY : AFLOC_ERR_INTERNAL,
                      "%s: oneDNN %s failed: %s (%d)", function, what, dnnl_status2str(s), (int)s);
}

static size_t floats_rounded(size_t bytes) {
    const size_t floats = (bytes + sizeof(float) - 1) / sizeof(float);
    return (floats + CONV_ALIGN_FLOATS - 1) / CONV_ALIGN_FLOATS * CONV_ALIGN_FLOATS;
}

static afloc_status md_plain(dnnl_memory_desc_t *md, int ndims, const dnnl_dims_t dims,
                             dnnl_format_tag_t tag) {
    return dnnl_ok(dnnl_memory_desc_init_by_tag(md, ndims, dims, dnnl_f32, tag),
                   "afloc_cpu_conv2d_prepare", "memory_desc_init_by_tag");
}

/* A reorder primitive from → to with a user scratchpad whose descriptor goes to *pad_md. */
static afloc_status reorder_make(dnnl_primitive_t *out, dnnl_memory_desc_t *pad_md,
                                 dnnl_engine_t engine, const dnnl_memory_desc_t *from,
                                 const dnnl_memory_desc_t *to) {
    const char *fn = "afloc_cpu_conv2d_prepare";
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    afloc_status st = dnnl_ok(dnnl_primitive_attr_create(&attr), fn, "primitive_attr_create");
    if (st == AFLOC_OK)
        st = dnnl_ok(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), fn,
                     "set_scratchpad_mode");
    if (st == AFLOC_OK)
        st = dnnl_ok(dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, attr), fn,
                     "reorder_primitive_desc_create");
    if (st == AFLOC_OK) {
        *pad_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        st = dnnl_ok(dnnl_primitive_create(out, pd), fn, "primitive_create (reorder)");
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

/* Runs a reorder from → to, with scratchpad memory `pad` (may be NULL when none is needed). */
static afloc_status reorder_exec(dnnl_primitive_t p, dnnl_stream_t stream, dnnl_memory_t from,
                                 dnnl_memory_t to, dnnl_memory_t pad, const char *function) {
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to},
                               {DNNL_ARG_SCRATCHPAD, pad}};
    return dnnl_ok(dnnl_primitive_execute(p, stream, pad ? 3 : 2, args), function,
                   "primitive_execute (reorder)");
}

/* ---- prepare ---- */

/* The batch-1 convolution with its post-ops; records the layouts oneDNN chose. */
static afloc_status conv_primitive_make(afloc_cpu_conv *cv, int has_bias) {
    const char *fn = "afloc_cpu_conv2d_prepare";
    const dnnl_dims_t src_dims = {1, cv->C, cv->H, cv->W}, dst_dims = {1, cv->OC, cv->OH, cv->OW};
    const dnnl_dims_t w_dims = {cv->OC, cv->C, cv->K, cv->K}, b_dims = {cv->OC};
    const dnnl_dims_t strides = {cv->stride, cv->stride}, pads = {cv->pad, cv->pad};
    dnnl_memory_desc_t src_any, dst_any, w_any;
    AFLOC_TRY(md_plain(&cv->user_src_md, 4, src_dims, dnnl_nchw));
    AFLOC_TRY(md_plain(&cv->user_dst_md, 4, dst_dims, dnnl_nchw));
    AFLOC_TRY(md_plain(&cv->bias_md, 1, b_dims, dnnl_x));
    AFLOC_TRY(md_plain(&src_any, 4, src_dims, dnnl_format_tag_any));
    AFLOC_TRY(md_plain(&dst_any, 4, dst_dims, dnnl_format_tag_any));
    AFLOC_TRY(md_plain(&w_any, 4, w_dims, dnnl_format_tag_any));
    dnnl_convolution_desc_t cd;
    /* Right padding = left padding: oneDNN checks (H + 2·pad − K) / stride + 1 == OH with the
     * same integer division as afloc_conv_out_size, so PyTorch's floor semantics carry over. */
    AFLOC_TRY(dnnl_ok(dnnl_convolution_forward_desc_init(
                          &cd, dnnl_forward_inference, dnnl_convolution_direct, &src_any, &w_any,
                          has_bias ? &cv->bias_md : NULL, &dst_any, strides, pads, pads),
                      fn, "convolution_forward_desc_init"));
    dnnl_post_ops_t ops = NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    afloc_status st = dnnl_ok(dnnl_post_ops_create(&ops), fn, "post_ops_create");
    if (st == AFLOC_OK && cv->residual) /* dst = conv + bias + 1·dst, dst preloaded with residual */
        st = dnnl_ok(dnnl_post_ops_append_sum(ops, 1.0f), fn, "post_ops_append_sum");
    if (st == AFLOC_OK && cv->relu)
        st = dnnl_ok(dnnl_post_ops_append_eltwise(ops, 1.0f, dnnl_eltwise_relu, 0.0f, 0.0f), fn,
                     "post_ops_append_eltwise");
    if (st == AFLOC_OK) st = dnnl_ok(dnnl_primitive_attr_create(&attr), fn, "primitive_attr_create");
    if (st == AFLOC_OK)
        st = dnnl_ok(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), fn,
                     "set_scratchpad_mode");
    if (st == AFLOC_OK)
        st = dnnl_ok(dnnl_primitive_attr_set_post_ops(attr, ops), fn, "set_post_ops");
    if (st == AFLOC_OK)
        st = dnnl_ok(dnnl_primitive_desc_create(&pd, &cd, attr, cv->engine, NULL), fn,
                     "primitive_desc_create (convolution)");
    if (st == AFLOC_OK) {
        cv->src_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
        cv->dst_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
        cv->weights_md = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
        cv->pad_md[PAD_CONV] = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        st = dnnl_ok(dnnl_primitive_create(&cv->conv, pd), fn, "primitive_create (convolution)");
    }
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (ops) dnnl_post_ops_destroy(ops);
    return st;
}

/* Reorders the caller's (OC, C, K, K) weights once into cv->weights (weights_md layout). */
static afloc_status weights_reorder(afloc_cpu_conv *cv, const float *weight) {
    const char *fn = "afloc_cpu_conv2d_prepare";
    const dnnl_dims_t w_dims = {cv->OC, cv->C, cv->K, cv->K};
    dnnl_memory_desc_t user_md, pad_md;
    AFLOC_TRY(md_plain(&user_md, 4, w_dims, dnnl_oihw));
    const size_t bytes = dnnl_memory_desc_get_size(&cv->weights_md);
    cv->weights = afloc_malloc(bytes ? bytes : 1);
    if (!cv->weights)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for %zu bytes of weights", fn,
                          bytes);
    dnnl_primitive_t reorder = NULL;
    dnnl_stream_t stream = NULL;
    dnnl_memory_t from = NULL, to = NULL, pad = NULL;
    void *pad_buf = NULL;
    afloc_status st = reorder_make(&reorder, &pad_md, cv->engine, &user_md, &cv->weights_md);
    const size_t pad_bytes = st == AFLOC_OK ? dnnl_memory_desc_get_size(&pad_md) : 0;
    if (st == AFLOC_OK && pad_bytes) {
        pad_buf = afloc_malloc(pad_bytes);
        if (!pad_buf)
            st = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY,
                            "%s: no memory for a %zu-byte weight reorder scratchpad", fn, pad_bytes);
        else
            st = dnnl_ok(dnnl_memory_create(&pad, &pad_md, cv->engine, pad_buf), fn, "memory_create");
    }
    if (st == AFLOC_OK) /* oneDNN only reads `from`; its API has no const memory */
        st = dnnl_ok(dnnl_memory_create(&from, &user_md, cv->engine, (void *)(uintptr_t)weight),
                     fn, "memory_create");
    if (st == AFLOC_OK)
        st = dnnl_ok(dnnl_memory_create(&to, &cv->weights_md, cv->engine, cv->weights), fn,
                     "memory_create");
    if (st == AFLOC_OK)
        st = dnnl_ok(dnnl_stream_create(&stream, cv->engine, dnnl_stream_default_flags), fn,
                     "stream_create");
    if (st == AFLOC_OK) st = reorder_exec(reorder, stream, from, to, pad, fn);
    if (st == AFLOC_OK) st = dnnl_ok(dnnl_stream_wait(stream), fn, "stream_wait");
    if (stream) dnnl_stream_destroy(stream);
    if (from) dnnl_memory_destroy(from);
    if (to) dnnl_memory_destroy(to);
    if (pad) dnnl_memory_destroy(pad);
    if (reorder) dnnl_primitive_destroy(reorder);
    afloc_free(pad_buf);
    return st;
}

/* Everything after validation; on failure the caller releases the half-built conv. */
static afloc_status conv_build(afloc_cpu_conv *cv, const float *weight, const float *bias) {
    const char *fn = "afloc_cpu_conv2d_prepare";
    AFLOC_TRY(dnnl_ok(dnnl_engine_create(&cv->engine, dnnl_cpu, 0), fn, "engine_create"));
    AFLOC_TRY(conv_primitive_make(cv, bias != NULL));
    if (!dnnl_memory_desc_equal(&cv->src_md, &cv->user_src_md))
        AFLOC_TRY(reorder_make(&cv->src_reorder, &cv->pad_md[PAD_SRC], cv->engine,
                               &cv->user_src_md, &cv->src_md));
    if (!dnnl_memory_desc_equal(&cv->dst_md, &cv->user_dst_md)) {
        AFLOC_TRY(reorder_make(&cv->dst_reorder, &cv->pad_md[PAD_DST], cv->engine, &cv->dst_md,
                               &cv->user_dst_md));
        if (cv->residual)
            AFLOC_TRY(reorder_make(&cv->res_reorder, &cv->pad_md[PAD_RES], cv->engine,
                                   &cv->user_dst_md, &cv->dst_md));
    }
    AFLOC_TRY(weights_reorder(cv, weight));
    if (bias) {
        cv->bias = afloc_malloc((size_t)cv->OC * sizeof *cv->bias);
        if (!cv->bias)
            return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for %d bias values", fn,
                              cv->OC);
        memcpy(cv->bias, bias, (size_t)cv->OC * sizeof *cv->bias);
    }
    cv->src_floats = cv->src_reorder ? floats_rounded(dnnl_memory_desc_get_size(&cv->src_md)) : 0;
    cv->dst_floats = cv->dst_reorder ? floats_rounded(dnnl_memory_desc_get_size(&cv->dst_md)) : 0;
    cv->pad_floats = 0;
    for (int i = 0; i < PAD_COUNT; i++) { /* the primitives run one after another: one region */
        const size_t f = floats_rounded(dnnl_memory_desc_get_size(&cv->pad_md[i]));
        if (f > cv->pad_floats) cv->pad_floats = f;
    }
    return AFLOC_OK;
}

static int size_ok(int32_t v, int32_t lo) { return v >= lo && v <= CONV_MAX_DIM; }

afloc_status afloc_cpu_conv2d_prepare(afloc_cpu_conv **out, const float *weight, const float *bias,
                                      int32_t residual, int32_t relu, int32_t C, int32_t OC,
                                      int32_t K, int32_t stride, int32_t pad, int32_t max_batch,
                                      int32_t H, int32_t W, int32_t threads) {
    const char *fn = "afloc_cpu_conv2d_prepare";
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    if (!weight) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: weight is NULL", fn);
    if ((residual != 0 && residual != 1) || (relu != 0 && relu != 1))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: residual %d / relu %d must be 0 or 1",
                          fn, residual, relu);
    if (!size_ok(C, 1) || !size_ok(OC, 1) || !size_ok(K, 1) || !size_ok(stride, 1) ||
        !size_ok(pad, 0) || !size_ok(H, 1) || !size_ok(W, 1) || !size_ok(max_batch, 1))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: C %d, OC %d, K %d, stride %d, pad %d, H %d, W %d, max_batch %d: "
                          "each must be 1..%d (pad 0..%d)",
                          fn, C, OC, K, stride, pad, H, W, max_batch, CONV_MAX_DIM, CONV_MAX_DIM);
    if (threads < 1 || threads > CONV_MAX_THREADS)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: threads %d outside 1..%d", fn, threads,
                          CONV_MAX_THREADS);
    const int32_t OH = afloc_conv_out_size(H, K, stride, pad);
    const int32_t OW = afloc_conv_out_size(W, K, stride, pad);
    if (OH <= 0 || OW <= 0)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: a %dx%d kernel with pad %d does not fit a %dx%d input", fn, K, K,
                          pad, H, W);
    if ((int64_t)C * H * W > CONV_MAX_IMAGE_FLOATS || (int64_t)OC * OH * OW > CONV_MAX_IMAGE_FLOATS ||
        (int64_t)OC * C * K * K > CONV_MAX_IMAGE_FLOATS)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: C %d x %dx%d -> OC %d x %dx%d (K %d) exceeds %d elements per "
                          "image or weight",
                          fn, C, H, W, OC, OH, OW, K, CONV_MAX_IMAGE_FLOATS);
    const dnnl_version_t *version = dnnl_version();
    if (version->cpu_runtime != DNNL_RUNTIME_OMP)
        return afloc_fail(AFLOC_ERR_UNSUPPORTED_ENV,
                          "%s: oneDNN %d.%d.%d uses CPU runtime %u, not OpenMP; its team size "
                          "cannot be controlled",
                          fn, version->major, version->minor, version->patch, version->cpu_runtime);
    afloc_cpu_conv *cv = afloc_calloc(1, sizeof *cv);
    if (!cv) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for the conv", fn);
    cv->C = C, cv->OC = OC, cv->K = K, cv->stride = stride, cv->pad = pad, cv->H = H, cv->W = W;
    cv->OH = OH, cv->OW = OW, cv->max_batch = max_batch, cv->threads = threads;
    cv->residual = residual, cv->relu = relu;
    /* Kernels fix their thread split when created: create them at the team size they run at. */
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(threads);
    const afloc_status st = conv_build(cv, weight, bias);
    omp_set_num_threads(saved_threads);
    if (st != AFLOC_OK) {
        afloc_cpu_conv2d_release(cv);
        return st;
    }
    *out = cv;
    return AFLOC_OK;
}

void afloc_cpu_conv2d_release(afloc_cpu_conv *cv) {
    if (!cv) return;
    if (cv->conv) dnnl_primitive_destroy(cv->conv);
    if (cv->src_reorder) dnnl_primitive_destroy(cv->src_reorder);
    if (cv->dst_reorder) dnnl_primitive_destroy(cv->dst_reorder);
    if (cv->res_reorder) dnnl_primitive_destroy(cv->res_reorder);
    if (cv->engine) dnnl_engine_destroy(cv->engine);
    afloc_free(cv->weights);
    afloc_free(cv->bias);
    afloc_free(cv);
}

size_t afloc_cpu_conv2d_run_scratch_floats(const afloc_cpu_conv *cv, int32_t B) {
    (void)B; /* images run one at a time and reuse the same regions */
    if (!cv) return 0;
    /* CONV_ALIGN_FLOATS extra: run aligns the caller's pointer up to 64 bytes. */
    return CONV_ALIGN_FLOATS + cv->src_floats + cv->dst_floats + cv->pad_floats;
}

/* ---- run ---- */

enum { M_IN, M_SRC, M_OUT, M_DST, M_RES, M_WEIGHTS, M_BIAS, M_PAD_FIRST, M_COUNT = M_PAD_FIRST + PAD_COUNT };

/* Memory objects over this call's buffers (all NULL where unused); run's own, so concurrent
 * callers share nothing but the read-only primitives, weights and bias. */
static afloc_status run_memories(const afloc_cpu_conv *cv, dnnl_memory_t *m, float *out,
                                 const float *in, const float *residual, float *base) {
    const char *fn = "afloc_cpu_conv2d_run";
    float *src_buf = base, *dst_buf = base + cv->src_floats;
    float *pad_buf = dst_buf + cv->dst_floats;
    /* Input-only buffers: oneDNN reads them; its memory objects have no const handle. */
    AFLOC_TRY(dnnl_ok(dnnl_memory_create(&m[M_IN], &cv->user_src_md, cv->engine,
                                         (void *)(uintptr_t)in), fn, "memory_create (in)"));
    AFLOC_TRY(dnnl_ok(dnnl_memory_create(&m[M_OUT], &cv->user_dst_md, cv->engine, out), fn,
                      "memory_create (out)"));
    AFLOC_TRY(dnnl_ok(dnnl_memory_create(&m[M_WEIGHTS], &cv->weights_md, cv->engine, cv->weights),
                      fn, "memory_create (weights)"));
    if (cv->bias)
        AFLOC_TRY(dnnl_ok(dnnl_memory_create(&m[M_BIAS], &cv->bias_md, cv->engine, cv->bias), fn,
                          "memory_create (bias)"));
    if (cv->src_reorder)
        AFLOC_TRY(dnnl_ok(dnnl_memory_create(&m[M_SRC], &cv->src_md, cv->engine, src_buf), fn,
                          "memory_create (src)"));
    if (cv->dst_reorder)
        AFLOC_TRY(dnnl_ok(dnnl_memory_create(&m[M_DST], &cv->dst_md, cv->engine, dst_buf), fn,
                          "memory_create (dst)"));
    if (cv->res_reorder)
        AFLOC_TRY(dnnl_ok(dnnl_memory_create(&m[M_RES], &cv->user_dst_md, cv->engine,
                                             (void *)(uintptr_t)residual), fn,
                          "memory_create (residual)"));
    for (int i = 0; i < PAD_COUNT; i++)
        if (dnnl_memory_desc_get_size(&cv->pad_md[i]) > 0)
            AFLOC_TRY(dnnl_ok(dnnl_memory_create(&m[M_PAD_FIRST + i], &cv->pad_md[i], cv->engine,
                                                 pad_buf), fn, "memory_create (scratchpad)"));
    return AFLOC_OK;
}

/* Image b: [reorder in] → [residual into dst] → conv (+bias, +sum, relu) → [reorder out]. */
static afloc_status run_image(const afloc_cpu_conv *cv, dnnl_stream_t stream, dnnl_memory_t *m,
                              float *out_b, const float *in_b, const float *res_b) {
    const char *fn = "afloc_cpu_conv2d_run";
    AFLOC_TRY(dnnl_ok(dnnl_memory_set_data_handle(m[M_IN], (void *)(uintptr_t)in_b), fn,
                      "memory_set_data_handle"));
    AFLOC_TRY(dnnl_ok(dnnl_memory_set_data_handle(m[M_OUT], out_b), fn, "memory_set_data_handle"));
    if (cv->src_reorder)
        AFLOC_TRY(reorder_exec(cv->src_reorder, stream, m[M_IN], m[M_SRC], m[M_PAD_FIRST + PAD_SRC],
                               fn));
    if (cv->residual) {
        const size_t out_image = (size_t)cv->OC * (size_t)cv->OH * (size_t)cv->OW;
        if (cv->res_reorder) {
            AFLOC_TRY(dnnl_ok(dnnl_memory_set_data_handle(m[M_RES], (void *)(uintptr_t)res_b), fn,
                              "memory_set_data_handle"));
            AFLOC_TRY(reorder_exec(cv->res_reorder, stream, m[M_RES], m[M_DST],
                                   m[M_PAD_FIRST + PAD_RES], fn));
        } else {
            memcpy(out_b, res_b, out_image * sizeof *out_b); /* dst is NCHW: sum into out */
        }
    }
    dnnl_exec_arg_t args[5];
    int n = 0;
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, cv->src_reorder ? m[M_SRC] : m[M_IN]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, m[M_WEIGHTS]};
    args[n++] = (dnnl_exec_arg_t){DNNL_ARG_DST, cv->dst_reorder ? m[M_DST] : m[M_OUT]};
    if (m[M_BIAS]) args[n++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, m[M_BIAS]};
    if (m[M_PAD_FIRST + PAD_CONV])
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m[M_PAD_FIRST + PAD_CONV]};
    AFLOC_TRY(dnnl_ok(dnnl_primitive_execute(cv->conv, stream, n, args), fn,
                      "primitive_execute (convolution)"));
    if (cv->dst_reorder)
        AFLOC_TRY(reorder_exec(cv->dst_reorder, stream, m[M_DST], m[M_OUT],
                               m[M_PAD_FIRST + PAD_DST], fn));
    return AFLOC_OK;
}

static afloc_status run_batch(const afloc_cpu_conv *cv, float *out, const float *in,
                              const float *residual, int32_t B, float *base) {
    const char *fn = "afloc_cpu_conv2d_run";
    const size_t in_image = (size_t)cv->C * (size_t)cv->H * (size_t)cv->W;
    const size_t out_image = (size_t)cv->OC * (size_t)cv->OH * (size_t)cv->OW;
    dnnl_memory_t m[M_COUNT] = {0};
    dnnl_stream_t stream = NULL;
    afloc_status st = dnnl_ok(dnnl_stream_create(&stream, cv->engine, dnnl_stream_default_flags),
                              fn, "stream_create");
    if (st == AFLOC_OK) st = run_memories(cv, m, out, in, residual, base);
    for (int32_t b = 0; b < B && st == AFLOC_OK; b++)
        st = run_image(cv, stream, m, out + (size_t)b * out_image, in + (size_t)b * in_image,
                       residual ? residual + (size_t)b * out_image : NULL);
    if (stream) {
        const afloc_status waited = dnnl_ok(dnnl_stream_wait(stream), fn, "stream_wait");
        if (st == AFLOC_OK) st = waited;
        dnnl_stream_destroy(stream);
    }
    for (int i = 0; i < M_COUNT; i++)
        if (m[i]) dnnl_memory_destroy(m[i]);
    return st;
}

afloc_status afloc_cpu_conv2d_run(const afloc_cpu_conv *cv, float *out, const float *in,
                                  const float *residual, int32_t B, float *scratch) {
    const char *fn = "afloc_cpu_conv2d_run";
    if (!cv || !out || !in)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: conv, out or in is NULL", fn);
    if (!scratch) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: scratch is NULL", fn);
    if (B < 1 || B > cv->max_batch)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch %d outside 1..%d", fn, B,
                          cv->max_batch);
    if ((residual != NULL) != (cv->residual != 0))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: residual is %s but the conv was prepared %s one", fn,
                          residual ? "given" : "NULL", cv->residual ? "with" : "without");
    float *base = (float *)(((uintptr_t)scratch + 63u) & ~(uintptr_t)63u);
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(cv->threads);
    const afloc_status st = run_batch(cv, out, in, residual, B, base);
    omp_set_num_threads(saved_threads);
    return st;
}
