/* device_model.c: a model's inference on the CUDA backend (device_model.h). The same layer walk as
 * image_encoder.c and text_encoder.c, on device buffers and the plugin's ops, for a batch of
 * images at once. The parameters are uploaded as two blocks, the checkpoint values and the
 * inference plan's folded block, and every pointer of the host plan is translated into the device
 * block it lives in; the device plan below holds those translations. */
#include "device_model.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "cpu/cpu_ops.h"
#include "error.h"
#include "inference_plan.h"

struct afloc_device_model {
    const afloc_model      *model;
    const afloc_device_ops *ops;
    afloc_device           *dev;
    pthread_mutex_t         lock;
    int32_t                 max_batch;

    float *params, *folded;          /* device copies of model->params and inf->folded         */
    afloc_conv_plan        stem;     /* device plan: the host plan's pointers, translated      */
    afloc_bottleneck_plan *blocks;   /* (block_count), host memory holding device pointers     */
    afloc_bert_layer_plan *layers;   /* (bert_layers)                                          */
    const float *global_weight, *global_bias, *local_weight, *local2_weight;
    const float *local_position;     /* NULL unless config local_position                      */
    const float *word, *position, *type, *emb_ln_weight, *emb_ln_bias;

    /* image workspace, for max_batch images */
    size_t act;                      /* floats of the largest activation of one image           */
    float *x, *x299, *P, *Q, *R, *S, *pooled, *local, *local2, *global;
    float *report, *raw, *smoothed, *map_scratch, *frames; /* the map pipeline (localize)       */
    void  *scratch;
    size_t scratch_bytes;
    size_t *scratch_need;            /* (max_batch + 1): conv scratch bytes per batch, 0 = unknown */

    /* text workspace, for T tokens */
    int32_t *ids;
    float *E, *X, *qkv, *ctx, *a, *A, *f, *o, *hsum, *hidden;
    void  *attn_scratch;

    /* CUDA graphs (see run_in_slot): (max_batch + 1) x GRAPH_KINDS image slots, then
     * (T + 1) x 2 BERT slots (token count, last layers wanted or not) */
    int32_t use_graphs;
    struct graph_slot *graphs;

    double last_seconds;
};

/* What a graph slot records: the encoder's outputs as a mask (0..7: local, local2, global) or
 * the whole localization map pipeline. */
enum { GRAPH_LOCALIZE = 8, GRAPH_KINDS = 9 };

typedef struct graph_slot {
    void   *graph;  /* instantiated graph, NULL until captured            */
    int32_t calls;  /* eager calls so far                                 */
    int32_t failed; /* capture failed once: this slot stays eager         */
} graph_slot;

/* Slots in dm->graphs: one per kind for every batch size 0..max_batch, then two per token count
 * 0..T for BERT (indexed in bert_forward_locked). */
static size_t image_slot_count(const afloc_device_model *dm) {
    return ((size_t)dm->max_batch + 1) * GRAPH_KINDS;
}
static size_t graph_slot_count(const afloc_device_model *dm) {
    return image_slot_count(dm) + ((size_t)dm->model->inference->T + 1) * 2;
}

/* ---- host plan -> device plan ---- */

/* The device address of a host plan pointer: inside the folded block or the parameter block. */
static const float *translate(const afloc_device_model *dm, const float *host, int *bad) {
    if (!host) return NULL;
    const afloc_model *m = dm->model;
    const struct afloc_inference *inf = m->inference;
    uintptr_t h = (uintptr_t)host;
    uintptr_t f0 = (uintptr_t)inf->folded, f1 = f0 + inf->folded_floats * sizeof(float);
    uintptr_t p0 = (uintptr_t)m->params, p1 = p0 + m->table.total_floats * sizeof(float);
    if (h >= f0 && h < f1) return dm->folded + (h - f0) / sizeof(float);
    if (h >= p0 && h < p1) return dm->params + (h - p0) / sizeof(float);
    *bad = 1;
    return NULL;
}

static afloc_conv_plan translate_conv(const afloc_device_model *dm, const afloc_conv_plan *c,
                                      int *bad) {
    afloc_conv_plan d = *c;
    d.weight = translate(dm, c->weight, bad);
    d.bias = translate(dm, c->bias, bad);
    d.prepared = NULL;
    return d;
}

static afloc_status translate_plan(afloc_device_model *dm, const char *function) {
    const struct afloc_inference *inf = dm->model->inference;
    int32_t layers = dm->model->config.bert_layers;
    dm->blocks = afloc_calloc((size_t)inf->block_count, sizeof *dm->blocks);
    dm->layers = afloc_calloc((size_t)(layers > 0 ? layers : 1), sizeof *dm->layers);
    if (!dm->blocks || !dm->layers)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for the device plan", function);
    int bad = 0;
    dm->stem = translate_conv(dm, &inf->stem, &bad);
    for (int32_t b = 0; b < inf->block_count; b++) {
        const afloc_bottleneck_plan *h = &inf->blocks[b];
        afloc_bottleneck_plan *d = &dm->blocks[b];
        d->conv1 = translate_conv(dm, &h->conv1, &bad);
        d->conv2 = translate_conv(dm, &h->conv2, &bad);
        d->conv3 = translate_conv(dm, &h->conv3, &bad);
        d->has_down = h->has_down;
        if (h->has_down) d->down = translate_conv(dm, &h->down, &bad);
    }
    for (int32_t l = 0; l < layers; l++) {
        const afloc_bert_layer_plan *h = &inf->layers[l];
        afloc_bert_layer_plan *d = &dm->layers[l];
        d->qkv_weight = translate(dm, h->qkv_weight, &bad);
        d->qkv_bias = translate(dm, h->qkv_bias, &bad);
        d->attn_out_weight = translate(dm, h->attn_out_weight, &bad);
        d->attn_out_bias = translate(dm, h->attn_out_bias, &bad);
        d->attn_ln_weight = translate(dm, h->attn_ln_weight, &bad);
        d->attn_ln_bias = translate(dm, h->attn_ln_bias, &bad);
        d->inter_weight = translate(dm, h->inter_weight, &bad);
        d->inter_bias = translate(dm, h->inter_bias, &bad);
        d->out_weight = translate(dm, h->out_weight, &bad);
        d->out_bias = translate(dm, h->out_bias, &bad);
        d->out_ln_weight = translate(dm, h->out_ln_weight, &bad);
        d->out_ln_bias = translate(dm, h->out_ln_bias, &bad);
    }
    dm->global_weight = translate(dm, inf->global_weight, &bad);
    dm->global_bias = translate(dm, inf->global_bias, &bad);
    dm->local_weight = translate(dm, inf->local_weight, &bad);
    dm->local2_weight = translate(dm, inf->local2_weight, &bad);
    dm->local_position = translate(dm, inf->local_position, &bad);
    dm->word = translate(dm, inf->word_embeddings, &bad);
    dm->position = translate(dm, inf->position_embeddings, &bad);
    dm->type = translate(dm, inf->type_embeddings, &bad);
    dm->emb_ln_weight = translate(dm, inf->emb_ln_weight, &bad);
    dm->emb_ln_bias = translate(dm, inf->emb_ln_bias, &bad);
    if (bad)
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: an inference plan pointer lies outside the "
                          "uploaded parameter blocks", function);
    return AFLOC_OK;
}

/* ---- planning ---- */

/* Walks the trunk as image_encoder.c does, calling visit(conv, input side) for every conv. */
typedef void (*conv_visitor)(afloc_device_model *dm, const afloc_conv_plan *c, int32_t side,
                             int32_t B, size_t *value);

static void walk_convs(afloc_device_model *dm, conv_visitor visit, int32_t B, size_t *value) {
    const struct afloc_inference *inf = dm->model->inference;
    visit(dm, &dm->stem, inf->up, B, value);
    int32_t side = afloc_conv_out_size(afloc_conv_out_size(inf->up, 7, 2, 3), 3, 2, 1);
    for (int32_t b = 0; b < inf->block_count; b++) {
        const afloc_bottleneck_plan *blk = &dm->blocks[b];
        visit(dm, &blk->conv1, side, B, value);
        visit(dm, &blk->conv2, side, B, value);
        int32_t out = afloc_conv_out_size(side, 3, blk->conv2.stride, 1);
        visit(dm, &blk->conv3, out, B, value);
        if (blk->has_down) visit(dm, &blk->down, side, B, value);
        side = out;
    }
    afloc_conv_plan head2 = {dm->local2_weight, NULL, inf->chans[1], inf->D, 1, 1, 0, NULL};
    afloc_conv_plan head3 = {dm->local_weight, NULL, inf->chans[2], inf->D, 1, 1, 0, NULL};
    visit(dm, &head2, inf->side[1], B, value);
    visit(dm, &head3, inf->side[2], B, value);
}

static void visit_act(afloc_device_model *dm, const afloc_conv_plan *c, int32_t side, int32_t B,
                      size_t *value) {
    (void)dm;
    (void)B;
    int32_t out = afloc_conv_out_size(side, c->k, c->stride, c->pad);
    size_t act = (size_t)c->out_c * (size_t)out * (size_t)out;
    if (act > *value) *value = act;
}

static void visit_scratch(afloc_device_model *dm, const afloc_conv_plan *c, int32_t side,
                          int32_t B, size_t *value) {
    size_t bytes = dm->ops->conv2d_scratch_bytes(dm->dev, B, c->in_c, side, side, c->out_c, c->k,
                                                 c->stride, c->pad);
    if (bytes > *value) *value = bytes;
}

/* Frees every captured graph (they hold the addresses of the buffers they were captured with). */
static void drop_graphs(afloc_device_model *dm) {
    if (!dm->graphs) return;
    for (size_t i = 0; i < graph_slot_count(dm); i++) {
        dm->ops->graph_free(dm->dev, dm->graphs[i].graph);
        dm->graphs[i] = (graph_slot){0};
    }
}

/* Makes sure the conv scratch covers batch B (cuDNN's choice of algorithm, hence its workspace,
 * depends on the batch). Grows the buffer the first time a larger need is seen, which drops the
 * captured graphs. */
static afloc_status ensure_scratch(afloc_device_model *dm, int32_t B, const char *function) {
    if (!dm->scratch_need[B]) {
        size_t need = 256;
        walk_convs(dm, visit_scratch, B, &need);
        dm->scratch_need[B] = need;
    }
    if (dm->scratch_need[B] <= dm->scratch_bytes) return AFLOC_OK;
    drop_graphs(dm);
    dm->ops->release(dm->dev, dm->scratch);
    dm->scratch = NULL;
    dm->scratch_bytes = 0;
    afloc_status status = dm->ops->alloc(dm->dev, &dm->scratch, dm->scratch_need[B]);
    if (status != AFLOC_OK)
        return afloc_fail(status, "%s: cannot allocate %zu bytes of convolution workspace on the "
                          "device: %s", function, dm->scratch_need[B], dm->ops->message(dm->dev));
    dm->scratch_bytes = dm->scratch_need[B];
    return AFLOC_OK;
}

/* ---- create / free ---- */

typedef struct alloc_request {
    void **slot;
    size_t bytes;
} alloc_request;

static afloc_status allocate_all(afloc_device_model *dm, const alloc_request *r, size_t n,
                                 const char *function) {
    for (size_t i = 0; i < n; i++) {
        afloc_status status = dm->ops->alloc(dm->dev, r[i].slot, r[i].bytes);
        if (status != AFLOC_OK)
            return afloc_fail(status, "%s: cannot allocate %zu bytes on the device (%s)", function,
                              r[i].bytes, dm->ops->message(dm->dev));
    }
    return AFLOC_OK;
}

static afloc_status create_buffers(afloc_device_model *dm, const char *function) {
    const afloc_model *m = dm->model;
    const struct afloc_inference *inf = m->inference;
    size_t B = (size_t)dm->max_batch, F = sizeof(float);
    size_t T = (size_t)inf->T, C = (size_t)inf->C, D = (size_t)inf->D;
    size_t crop2 = (size_t)inf->crop * inf->crop, up2 = (size_t)inf->up * inf->up;
    size_t s1 = (size_t)inf->side[1] * inf->side[1], s2 = (size_t)inf->side[2] * inf->side[2];
    size_t last_n = (size_t)m->config.last_n_layers;
    dm->act = 0;
    walk_convs(dm, visit_act, 1, &dm->act);
    const alloc_request requests[] = {
        {(void **)&dm->x, B * crop2 * F},
        {(void **)&dm->x299, B * up2 * F},
        {(void **)&dm->P, B * dm->act * F},
        {(void **)&dm->Q, B * dm->act * F},
        {(void **)&dm->R, B * dm->act * F},
        {(void **)&dm->S, B * dm->act * F},
        {(void **)&dm->pooled, B * (size_t)inf->chans[3] * F},
        {(void **)&dm->local, B * D * s2 * F},
        {(void **)&dm->local2, B * D * s1 * F},
        {(void **)&dm->global, B * D * F},
        {(void **)&dm->report, D * F},
        {(void **)&dm->raw, B * s2 * F},
        {(void **)&dm->smoothed, B * s2 * F},
        {(void **)&dm->map_scratch, s2 * F},
        {(void **)&dm->frames, B * crop2 * F},
        {(void **)&dm->ids, T * sizeof(int32_t)},
        {(void **)&dm->E, T * C * F},
        {(void **)&dm->X, T * C * F},
        {(void **)&dm->qkv, 3 * T * C * F},
        {(void **)&dm->ctx, T * C * F},
        {(void **)&dm->a, T * C * F},
        {(void **)&dm->A, T * C * F},
        {(void **)&dm->f, T * (size_t)inf->I * F},
        {(void **)&dm->o, T * C * F},
        {(void **)&dm->hsum, T * C * F},
        {(void **)&dm->hidden, (last_n ? last_n : 1) * T * C * F},
        {&dm->attn_scratch, dm->ops->attention_scratch_bytes(dm->dev, 1, inf->T, inf->NH) + 256},
    };
    AFLOC_TRY(allocate_all(dm, requests, sizeof requests / sizeof requests[0], function));
    afloc_status status = dm->ops->upload(dm->dev, dm->params, m->params, m->table.total_floats * F);
    if (status == AFLOC_OK)
        status = dm->ops->upload(dm->dev, dm->folded, inf->folded, inf->folded_floats * F);
    if (status != AFLOC_OK)
        return afloc_fail(status, "%s: uploading the weights failed: %s", function,
                          dm->ops->message(dm->dev));
    dm->scratch_need = afloc_calloc(B + 1, sizeof(size_t));
    dm->graphs = afloc_calloc(graph_slot_count(dm), sizeof *dm->graphs);
    if (!dm->scratch_need || !dm->graphs)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for the device plan", function);
    AFLOC_TRY(ensure_scratch(dm, 1, function));
    return ensure_scratch(dm, dm->max_batch, function);
}

void afloc_device_model_free(afloc_device_model *dm) {
    if (!dm) return;
    if (dm->dev) {
        drop_graphs(dm);
        void *buffers[] = {dm->params, dm->folded, dm->x, dm->x299, dm->P, dm->Q, dm->R, dm->S,
                           dm->pooled, dm->local, dm->local2, dm->global, dm->report, dm->raw,
                           dm->smoothed, dm->map_scratch, dm->frames, dm->ids, dm->E, dm->X,
                           dm->qkv, dm->ctx, dm->a, dm->A, dm->f, dm->o, dm->hsum, dm->hidden,
                           dm->attn_scratch, dm->scratch};
        for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++)
            dm->ops->release(dm->dev, buffers[i]);
        dm->ops->destroy(dm->dev);
    }
    pthread_mutex_destroy(&dm->lock);
    afloc_free(dm->scratch_need);
    afloc_free(dm->graphs);
    afloc_free(dm->blocks);
    afloc_free(dm->layers);
    afloc_free(dm);
}

afloc_status afloc_device_model_create(const afloc_model *model, const afloc_device_ops *ops,
                                       int32_t ordinal, int32_t math, int32_t max_batch,
                                       const char *function, afloc_device_model **out) {
    if (!model || !model->inference || !ops || !out || max_batch < 1)
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: device model made from an incomplete model",
                          function);
    afloc_device_model *dm = afloc_calloc(1, sizeof *dm);
    if (!dm) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for the device model", function);
    dm->model = model;
    dm->ops = ops;
    dm->max_batch = max_batch;
    dm->use_graphs = 1;
    if (pthread_mutex_init(&dm->lock, NULL) != 0) {
        afloc_free(dm);
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: pthread_mutex_init failed", function);
    }
    char message[256] = "";
    afloc_status status = ops->create(&dm->dev, ordinal, math, message, sizeof message);
    if (status != AFLOC_OK) {
        dm->dev = NULL;
        afloc_device_model_free(dm);
        return afloc_fail(status, "%s: %s", function, message);
    }
    /* The weight blocks first: the plan translation needs their device addresses. */
    const alloc_request blocks[] = {
        {(void **)&dm->params, model->table.total_floats * sizeof(float)},
        {(void **)&dm->folded, model->inference->folded_floats * sizeof(float)},
    };
    status = allocate_all(dm, blocks, 2, function);
    if (status == AFLOC_OK) status = translate_plan(dm, function);
    if (status == AFLOC_OK) status = create_buffers(dm, function);
    if (status != AFLOC_OK) {
        afloc_device_model_free(dm);
        return status;
    }
    *out = dm;
    return AFLOC_OK;
}

/* ---- image encoder ---- */

static void run_conv(afloc_device_model *dm, const afloc_conv_plan *c, float *out, const float *in,
                     int32_t B, int32_t *side, const float *residual, int32_t relu) {
    dm->ops->conv2d_forward(dm->dev, out, in, c->weight, c->bias, residual, relu, B, c->in_c,
                            *side, *side, c->out_c, c->k, c->stride, c->pad, dm->scratch);
    *side = afloc_conv_out_size(*side, c->k, c->stride, c->pad);
}

/* One Bottleneck on P -> Q with R, S as temporaries (image_encoder.c's run_bottleneck). */
static void run_bottleneck(afloc_device_model *dm, const afloc_bottleneck_plan *blk, float *P,
                           float *Q, float *R, float *S, int32_t B, int32_t *side) {
    int32_t in_side = *side, mid = *side, unused = *side;
    run_conv(dm, &blk->conv1, Q, P, B, &unused, NULL, 1);
    run_conv(dm, &blk->conv2, R, Q, B, &mid, NULL, 1);
    const float *shortcut = P;
    if (blk->has_down) {
        unused = in_side;
        run_conv(dm, &blk->down, S, P, B, &unused, NULL, 0);
        shortcut = S;
    }
    *side = mid;
    unused = mid;
    run_conv(dm, &blk->conv3, Q, R, B, &unused, shortcut, 1);
}

/* The device's status after a batch of work, as an afloc_fail with the handle's message. */
static afloc_status device_status(afloc_device_model *dm, afloc_status status, const char *function) {
    if (status == AFLOC_OK) status = dm->ops->sync(dm->dev);
    if (status != AFLOC_OK)
        return afloc_fail(status, "%s: CUDA device: %s", function, dm->ops->message(dm->dev));
    return AFLOC_OK;
}

/* ---- CUDA graphs ----
 * The device work of one call, from the uploaded frames to the last output, depends only on the
 * batch size and on what is asked for, and every buffer it touches is fixed at create. So the
 * second call of a kind at a batch size captures that work into a graph and every later call
 * replays it: one launch instead of one per op (hundreds at batch 1, where launch overhead is
 * most of the time). The first call runs eagerly, which also warms cuBLAS and the conv algorithm
 * cache before anything is captured. A failed capture leaves its slot eager for good, so a graph
 * can make a call faster but never makes it fail. */

typedef void (*device_work)(afloc_device_model *dm, int32_t B, int32_t kind);

/* Runs work(dm, B, kind) eagerly or as the graph of `slot`, per the rules above. */
static void run_in_slot(afloc_device_model *dm, graph_slot *slot, int32_t B, int32_t kind,
                        device_work work) {
    const afloc_device_ops *ops = dm->ops;
    if (!dm->use_graphs || slot->failed || (!slot->graph && slot->calls++ == 0)) {
        work(dm, B, kind); /* graphs off, a failed capture, or the first (warm-up) call */
        return;
    }
    if (!slot->graph) { /* the second call: capture, then launch below */
        afloc_status status = ops->capture_begin(dm->dev);
        if (status == AFLOC_OK) {
            work(dm, B, kind);
            status = ops->capture_end(dm->dev, &slot->graph);
        }
        if (status != AFLOC_OK) {
            slot->failed = 1;
            work(dm, B, kind);
            return;
        }
    }
    ops->graph_launch(dm->dev, slot->graph);
}

static void run_work(afloc_device_model *dm, int32_t B, int32_t kind, device_work work) {
    run_in_slot(dm, &dm->graphs[(size_t)B * GRAPH_KINDS + (size_t)kind], B, kind, work);
}

/* The image encoder on the B frames in dm->x, up to the outputs in `kind` (bit 0 local, bit 1
 * local2, bit 2 global), left in dm->local / local2 / global. */
static void encoder_work(afloc_device_model *dm, int32_t B, int32_t kind) {
    const struct afloc_inference *inf = dm->model->inference;
    const afloc_device_ops *ops = dm->ops;
    afloc_device *dev = dm->dev;
    int want_local = kind & 1, want_local2 = kind & 2, want_global = kind & 4;
    int32_t stop = want_global ? 3 : want_local ? 2 : 1;

    /* §3.1 224 -> 299 (align_corners), stem conv + ReLU into Q, maxpool into P. */
    ops->bilinear_resize_forward(dev, dm->x299, dm->x, B, 1, inf->crop, inf->crop, inf->up,
                                 inf->up, 1);
    int32_t side = inf->up;
    run_conv(dm, &dm->stem, dm->Q, dm->x299, B, &side, NULL, 1);
    ops->maxpool2d_forward(dev, dm->P, dm->Q, B, dm->stem.out_c, side, side, 3, 2, 1);
    side = afloc_conv_out_size(side, 3, 2, 1);

    float *P = dm->P, *Q = dm->Q;
    for (int32_t s = 0, b = 0; s <= stop; s++) {
        for (; b < inf->stage_end[s]; b++) {
            run_bottleneck(dm, &dm->blocks[b], P, Q, dm->R, dm->S, B, &side);
            float *t = P;
            P = Q;
            Q = t;
        }
        if (s == 1 && want_local2)
            ops->conv2d_forward(dev, dm->local2, P, dm->local2_weight, NULL, NULL, 0, B,
                                inf->chans[1], side, side, inf->D, 1, 1, 0, dm->scratch);
        if (s == 2 && want_local) {
            ops->conv2d_forward(dev, dm->local, P, dm->local_weight, NULL, NULL, 0, B,
                                inf->chans[2], side, side, inf->D, 1, 1, 0, dm->scratch);
            if (dm->local_position) /* config local_position (kernels/position.cu) */
                ops->position_add_forward(dev, dm->local, dm->local_position, B, inf->D, side,
                                          side);
        }
        if (s == 3 && want_global) {
            ops->global_avgpool_forward(dev, dm->pooled, P, B, inf->chans[3], side, side);
            ops->linear_forward(dev, dm->global, dm->pooled, dm->global_weight, dm->global_bias, 0,
                                B, inf->chans[3], inf->D);
        }
    }
}

/* The encoder up to img_emb_l, then MODEL.md §8.1-8.3 per image on the embedding in dm->report:
 * raw dot map, Gaussian, then one resize of the batch into dm->frames (the read-out of
 * the config's map_alignment, as afloc_model_localize's default). */
static void localize_work(afloc_device_model *dm, int32_t B, int32_t kind) {
    (void)kind;
    const afloc_model *m = dm->model;
    const struct afloc_inference *inf = m->inference;
    const afloc_device_ops *ops = dm->ops;
    afloc_device *dev = dm->dev;
    int32_t S = inf->side[2], D = inf->D;
    size_t S2 = (size_t)S * S;
    encoder_work(dm, B, 1);
    for (int32_t b = 0; b < B; b++) {
        ops->similarity_map_forward(dev, dm->raw + (size_t)b * S2, dm->local + (size_t)b * D * S2,
                                    dm->report, D, S, S);
        ops->gaussian_smooth_forward(dev, dm->smoothed + (size_t)b * S2, dm->raw + (size_t)b * S2,
                                     S, S, m->config.gaussian_sigma, m->config.gaussian_truncate,
                                     dm->map_scratch);
    }
    const int32_t alignment = m->config.map_alignment;
    if (alignment == AFLOC_MAP_ALIGN_CENTRED || alignment == AFLOC_MAP_ALIGN_CENTRED_CUBIC) {
        float step = afloc_inference_centred_step(inf);
        (alignment == AFLOC_MAP_ALIGN_CENTRED ? ops->bilinear_sample_forward
                                              : ops->bicubic_sample_forward)(
            dev, dm->frames, dm->smoothed, B, 1, S, S, inf->crop, inf->crop, step, step);
    } else {
        ops->bilinear_resize_forward(dev, dm->frames, dm->smoothed, B, 1, S, S, inf->crop,
                                     inf->crop, 0);
    }
}

/* Uploads B frames into dm->x and runs `kind` (encoder outputs or GRAPH_LOCALIZE) on them,
 * marking the compute span in *start / *end. */
static afloc_status run_frames(afloc_device_model *dm, const float *x, int32_t B, int32_t kind,
                               device_work work, int32_t *start, int32_t *end,
                               const char *function) {
    const struct afloc_inference *inf = dm->model->inference;
    AFLOC_TRY(ensure_scratch(dm, B, function));
    size_t crop2 = (size_t)inf->crop * inf->crop;
    afloc_status status = dm->ops->upload(dm->dev, dm->x, x, (size_t)B * crop2 * sizeof(float));
    if (status != AFLOC_OK) return device_status(dm, status, function);
    *start = dm->ops->mark(dm->dev);
    run_work(dm, B, kind, work);
    *end = dm->ops->mark(dm->dev);
    return AFLOC_OK;
}

static afloc_status image_forward_locked(afloc_device_model *dm, const float *x, int32_t B,
                                         float *local, float *local2, float *global,
                                         const char *function) {
    const struct afloc_inference *inf = dm->model->inference;
    const afloc_device_ops *ops = dm->ops;
    afloc_device *dev = dm->dev;
    int32_t start = 0, end = 0;
    int32_t kind = (local ? 1 : 0) | (local2 ? 2 : 0) | (global ? 4 : 0);
    AFLOC_TRY(run_frames(dm, x, B, kind, encoder_work, &start, &end, function));
    size_t D = (size_t)inf->D;
    size_t s1 = (size_t)inf->side[1] * inf->side[1], s2 = (size_t)inf->side[2] * inf->side[2];
    afloc_status status = AFLOC_OK;
    if (local) status = ops->download(dev, local, dm->local, (size_t)B * D * s2 * sizeof(float));
    if (status == AFLOC_OK && local2)
        status = ops->download(dev, local2, dm->local2, (size_t)B * D * s1 * sizeof(float));
    if (status == AFLOC_OK && global)
        status = ops->download(dev, global, dm->global, (size_t)B * D * sizeof(float));
    status = device_status(dm, status, function);
    if (status == AFLOC_OK) dm->last_seconds = ops->elapsed(dev, start, end);
    return status;
}

afloc_status afloc_device_image_forward(afloc_device_model *dm, const float *x, int32_t B,
                                        float *local, float *local2, float *global,
                                        const char *function) {
    if (B < 1 || B > dm->max_batch)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch %d outside 1..%d", function,
                          (int)B, (int)dm->max_batch);
    pthread_mutex_lock(&dm->lock);
    afloc_status status = image_forward_locked(dm, x, B, local, local2, global, function);
    pthread_mutex_unlock(&dm->lock);
    return status;
}

/* ---- localization maps ---- */

static afloc_status localize_locked(afloc_device_model *dm, const float *x, int32_t B,
                                    const float *report, float *frames, float *grids,
                                    const char *function) {
    const struct afloc_inference *inf = dm->model->inference;
    const afloc_device_ops *ops = dm->ops;
    afloc_device *dev = dm->dev;
    size_t S2 = (size_t)inf->side[2] * inf->side[2], crop2 = (size_t)inf->crop * inf->crop;
    afloc_status status = ops->upload(dev, dm->report, report, (size_t)inf->D * sizeof(float));
    if (status != AFLOC_OK) return device_status(dm, status, function);
    int32_t start = 0, end = 0;
    AFLOC_TRY(run_frames(dm, x, B, GRAPH_LOCALIZE, localize_work, &start, &end, function));
    status = ops->download(dev, frames, dm->frames, (size_t)B * crop2 * sizeof(float));
    if (status == AFLOC_OK && grids)
        status = ops->download(dev, grids, dm->raw, (size_t)B * S2 * sizeof(float));
    status = device_status(dm, status, function);
    if (status == AFLOC_OK) dm->last_seconds = ops->elapsed(dev, start, end);
    return status;
}

afloc_status afloc_device_localize(afloc_device_model *dm, const float *x, int32_t B,
                                   const float *report, float *frames, float *grids,
                                   const char *function) {
    if (B < 1 || B > dm->max_batch)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: batch %d outside 1..%d", function,
                          (int)B, (int)dm->max_batch);
    pthread_mutex_lock(&dm->lock);
    afloc_status status = localize_locked(dm, x, B, report, frames, grids, function);
    pthread_mutex_unlock(&dm->lock);
    return status;
}

/* ---- BERT ---- */

/* BERT on the L token ids in dm->ids, up to the last layers' sum in dm->hsum and, when
 * want_hidden is 1, the last layers themselves in dm->hidden. Like the image work it depends only
 * on (L, want_hidden) and fixed buffers, so it runs as a CUDA graph from its second call on. */
static void bert_work(afloc_device_model *dm, int32_t L, int32_t want_hidden) {
    const afloc_model *m = dm->model;
    const struct afloc_inference *inf = m->inference;
    const afloc_device_ops *ops = dm->ops;
    afloc_device *dev = dm->dev;
    int32_t C = inf->C, I = inf->I;
    float eps = m->config.layernorm_eps;
    size_t n = (size_t)L * (size_t)C;
    ops->embedding_forward(dev, dm->E, dm->ids, NULL, dm->word, dm->position, dm->type, L, C);
    ops->layernorm_forward(dev, dm->X, dm->E, dm->emb_ln_weight, dm->emb_ln_bias, L, C, eps);
    int32_t layers = m->config.bert_layers, last_n = m->config.last_n_layers;
    int32_t first_used = layers + 1 - last_n;
    ops->zero(dev, dm->hsum, n * sizeof(float));
    for (int32_t h = 0; h <= layers; h++) {
        if (h > 0) {
            const afloc_bert_layer_plan *p = &dm->layers[h - 1];
            ops->linear_forward(dev, dm->qkv, dm->X, p->qkv_weight, p->qkv_bias, 0, L, C, 3 * C);
            ops->attention_forward(dev, dm->ctx, dm->qkv, NULL, 1, L, C, inf->NH, dm->attn_scratch);
            ops->linear_forward(dev, dm->a, dm->ctx, p->attn_out_weight, p->attn_out_bias, 0, L, C, C);
            ops->add_forward(dev, dm->a, dm->a, dm->X, n);
            ops->layernorm_forward(dev, dm->A, dm->a, p->attn_ln_weight, p->attn_ln_bias, L, C, eps);
            ops->linear_forward(dev, dm->f, dm->A, p->inter_weight, p->inter_bias, 1, L, C, I);
            ops->linear_forward(dev, dm->o, dm->f, p->out_weight, p->out_bias, 0, L, I, C);
            ops->add_forward(dev, dm->o, dm->o, dm->A, n);
            ops->layernorm_forward(dev, dm->X, dm->o, p->out_ln_weight, p->out_ln_bias, L, C, eps);
        }
        if (h < first_used) continue;
        ops->add_forward(dev, dm->hsum, dm->hsum, dm->X, n);
        if (want_hidden)
            ops->copy(dev, dm->hidden + (size_t)(h - first_used) * n, dm->X, n * sizeof(float));
    }
}

static afloc_status bert_forward_locked(afloc_device_model *dm, const int32_t *ids, int32_t L,
                                        float *hsum, float *hidden_last, const char *function) {
    const afloc_device_ops *ops = dm->ops;
    afloc_device *dev = dm->dev;
    size_t n = (size_t)L * (size_t)dm->model->inference->C;
    int32_t want_hidden = hidden_last != NULL, last_n = dm->model->config.last_n_layers;
    afloc_status status = ops->upload(dev, dm->ids, ids, (size_t)L * sizeof(int32_t));
    if (status != AFLOC_OK) return device_status(dm, status, function);
    graph_slot *slot = &dm->graphs[image_slot_count(dm) + (size_t)L * 2 + (size_t)want_hidden];
    run_in_slot(dm, slot, L, want_hidden, bert_work);
    status = ops->download(dev, hsum, dm->hsum, n * sizeof(float));
    if (status == AFLOC_OK && hidden_last)
        status = ops->download(dev, hidden_last, dm->hidden, (size_t)last_n * n * sizeof(float));
    return device_status(dm, status, function);
}

afloc_status afloc_device_bert_forward(afloc_device_model *dm, const int32_t *ids, int32_t L,
                                       float *hsum, float *hidden_last, const char *function) {
    if (L < 1 || L > dm->model->inference->T)
        return afloc_fail(AFLOC_ERR_INTERNAL, "%s: %d tokens for the device BERT", function, (int)L);
    pthread_mutex_lock(&dm->lock);
    afloc_status status = bert_forward_locked(dm, ids, L, hsum, hidden_last, function);
    pthread_mutex_unlock(&dm->lock);
    return status;
}

double afloc_device_model_last_seconds(const afloc_device_model *dm) { return dm->last_seconds; }

void afloc_device_model_set_graphs(afloc_device_model *dm, int32_t on) {
    pthread_mutex_lock(&dm->lock);
    dm->use_graphs = on != 0;
    if (!on) drop_graphs(dm);
    pthread_mutex_unlock(&dm->lock);
}

int32_t afloc_device_model_graph_count(afloc_device_model *dm) {
    int32_t count = 0;
    pthread_mutex_lock(&dm->lock);
    for (size_t i = 0; i < graph_slot_count(dm); i++)
        count += dm->graphs[i].graph != NULL;
    pthread_mutex_unlock(&dm->lock);
    return count;
}
