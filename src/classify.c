/* classify.c: zero-shot classification (MODEL.md §8.5, the recommended behaviour; the paper's
 * exact recipe is unknown): score_k = cos(img_emb_g, text_emb_r(prompt_k)) with the reference's
 * max(‖a‖·‖b‖, 1e-8) guard, probabilities = softmax_k(score_k / temperature). Prompts go through
 * the same §4.2 cleaning as localization, so a one-word prompt ("edema") encodes as empty text;
 * use phrases ("findings suggesting edema"). A prompt set encodes a fixed list of prompts once so
 * that many images can be scored against it; an ensemble set holds, per ensemble, the mean of its
 * prompts' unit embeddings instead (CLIP-style prompt ensembling). */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error.h"
#include "image_view.h"
#include "inference.h"

struct afloc_prompt_set {
    const afloc_model *model;   /* the model that encoded the prompts (not owned)    */
    int32_t            count;   /* K entries: prompts, or ensembles                  */
    int32_t            dim;     /* D                                                 */
    float             *reports; /* (K, D): text_emb_r of each prompt, or the mean of
                                   an ensemble's unit text_emb_r                     */
};

static afloc_status check_prompts(const char *const *prompts, int32_t count, const char *fn) {
    if (count < 1 || count > AFLOC_MAX_PROMPTS)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: count %d outside 1..%d", fn, (int)count,
                          AFLOC_MAX_PROMPTS);
    if (!prompts) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: prompts is NULL", fn);
    for (int32_t k = 0; k < count; k++) {
        size_t n;
        afloc_status status = afloc_inference_check_text(prompts[k], &n, fn);
        if (status != AFLOC_OK)
            return afloc_fail(status, "%s: prompt %d is NULL or longer than %u bytes", fn, (int)k,
                              (unsigned)AFLOC_MAX_TEXT_BYTES);
    }
    return AFLOC_OK;
}

/* Encodes the prompts into a new set; the caller has checked model and prompts. */
static afloc_status encode_prompts(const afloc_model *model, const char *const *prompts,
                                   int32_t count, afloc_prompt_set **out, const char *fn) {
    const struct afloc_inference *inf = model->inference;
    afloc_prompt_set *set = afloc_calloc(1, sizeof *set);
    float *reports = afloc_malloc((size_t)count * (size_t)inf->D * sizeof(float));
    if (!set || !reports) {
        afloc_free(set);
        afloc_free(reports);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for %d prompt embeddings",
                          fn, (int)count);
    }
    afloc_workspace *ws = NULL;
    afloc_status status = afloc_workspace_acquire(inf->pool, &ws, fn);
    for (int32_t k = 0; k < count && status == AFLOC_OK; k++) {
        afloc_text_outputs o = {0};
        o.report = reports + (size_t)k * (size_t)inf->D;
        status = afloc_text_encoder_forward(model, ws, prompts[k], strlen(prompts[k]), 0, &o, fn);
    }
    if (ws) afloc_workspace_release(inf->pool, ws);
    if (status != AFLOC_OK) {
        afloc_free(reports);
        afloc_free(set);
        return status;
    }
    set->model = model;
    set->count = count;
    set->dim = inf->D;
    set->reports = reports;
    *out = set;
    return AFLOC_OK;
}

afloc_status afloc_prompt_set_create(const afloc_model *model, const char *const *prompts,
                                     int32_t count, afloc_prompt_set **out) {
    static const char *fn = "afloc_prompt_set_create";
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    AFLOC_TRY(check_prompts(prompts, count, fn));
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    afloc_inference_set_threads(model);
    AFLOC_TRY(encode_prompts(model, prompts, count, out, fn));
    afloc_clear_error();
    return AFLOC_OK;
}

/* Every prompt names an ensemble in 0..E-1 and every ensemble has a prompt. */
static afloc_status check_ensembles(const int32_t *ensemble_of, int32_t count, int32_t E,
                                    const char *fn) {
    if (!ensemble_of) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: ensemble_of is NULL", fn);
    if (E < 1 || E > count)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: ensemble_count %d outside 1..%d (the prompt count)", fn, (int)E,
                          (int)count);
    for (int32_t k = 0; k < count; k++)
        if (ensemble_of[k] < 0 || ensemble_of[k] >= E)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                              "%s: prompt %d names ensemble %d, outside 0..%d", fn, (int)k,
                              (int)ensemble_of[k], (int)E - 1);
    for (int32_t e = 0; e < E; e++) {
        int32_t k = 0;
        while (k < count && ensemble_of[k] != e) k++;
        if (k == count)
            return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: ensemble %d has no prompt", fn,
                              (int)e);
    }
    return AFLOC_OK;
}

/* Turns a set of K prompt embeddings into E ensemble means of unit embeddings, in place (the
 * first E rows; rows are accumulated in double so the order of prompts matters little). A
 * one-prompt ensemble keeps its embedding as it is: the cosine does not see the scale, so it
 * scores exactly as in a plain set (one code path serves sets with and without ensembles). */
static afloc_status pool_ensembles(afloc_prompt_set *set, const int32_t *ensemble_of, int32_t E,
                                   const char *fn) {
    size_t D = (size_t)set->dim;
    double *sum = afloc_calloc((size_t)E * D, sizeof(double));
    int32_t *n = afloc_calloc((size_t)E, sizeof(int32_t));
    if (!sum || !n) {
        afloc_free(sum);
        afloc_free(n);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for %d ensembles", fn,
                          (int)E);
    }
    for (int32_t k = 0; k < set->count; k++) n[ensemble_of[k]]++;
    for (int32_t k = 0; k < set->count; k++) {
        const float *r = set->reports + (size_t)k * D;
        double rr = 0.0;
        for (size_t d = 0; d < D; d++) rr += (double)r[d] * r[d];
        double inv = n[ensemble_of[k]] == 1 ? 1.0 : 1.0 / (sqrt(rr) > 1e-8 ? sqrt(rr) : 1e-8);
        double *acc = sum + (size_t)ensemble_of[k] * D;
        for (size_t d = 0; d < D; d++) acc[d] += (double)r[d] * inv;
    }
    for (int32_t e = 0; e < E; e++)
        for (size_t d = 0; d < D; d++)
            set->reports[(size_t)e * D + d] = (float)(sum[(size_t)e * D + d] / n[e]);
    set->count = E;
    afloc_free(sum);
    afloc_free(n);
    return AFLOC_OK;
}

afloc_status afloc_prompt_set_create_ensembles(const afloc_model *model,
                                               const char *const *prompts, int32_t count,
                                               const int32_t *ensemble_of, int32_t ensemble_count,
                                               afloc_prompt_set **out) {
    static const char *fn = "afloc_prompt_set_create_ensembles";
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    AFLOC_TRY(check_prompts(prompts, count, fn));
    AFLOC_TRY(check_ensembles(ensemble_of, count, ensemble_count, fn));
    if (!out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: out is NULL", fn);
    afloc_inference_set_threads(model);
    afloc_prompt_set *set = NULL;
    AFLOC_TRY(encode_prompts(model, prompts, count, &set, fn));
    afloc_status status = pool_ensembles(set, ensemble_of, ensemble_count, fn);
    if (status != AFLOC_OK) {
        afloc_prompt_set_free(set);
        return status;
    }
    *out = set;
    afloc_clear_error();
    return AFLOC_OK;
}

void afloc_prompt_set_free(afloc_prompt_set *set) {
    if (!set) return;
    afloc_free(set->reports);
    afloc_free(set);
}

/* Scores and probabilities of one image against a set; the checks are done. */
static afloc_status classify_with_set(const afloc_model *model, const afloc_image_view *image,
                                      const afloc_prompt_set *set, float temperature,
                                      float *scores, float *probabilities, const char *fn) {
    const struct afloc_inference *inf = model->inference;
    size_t D = (size_t)inf->D;
    int32_t K = set->count;
    afloc_workspace *ws;
    AFLOC_TRY(afloc_workspace_acquire(inf->pool, &ws, fn));
    float *input = afloc_workspace_floats(ws, (size_t)inf->crop * (size_t)inf->crop);
    float *g = afloc_workspace_floats(ws, D);
    float *s = afloc_workspace_floats(ws, AFLOC_MAX_PROMPTS);
    float *p = afloc_workspace_floats(ws, AFLOC_MAX_PROMPTS);
    afloc_status status = afloc_inference_preprocess(model, image, input, NULL, fn);
    if (status == AFLOC_OK) {
        afloc_image_outputs o = {0};
        o.global = g;
        status = afloc_image_encoder_forward(model, ws, input, &o);
    }
    if (status == AFLOC_OK) {
        double gg = 0.0;
        for (size_t d = 0; d < D; d++) gg += (double)g[d] * g[d];
        for (int32_t k = 0; k < K; k++) {
            const float *r = set->reports + (size_t)k * D;
            double gr = 0.0, rr = 0.0;
            for (size_t d = 0; d < D; d++) {
                gr += (double)g[d] * r[d];
                rr += (double)r[d] * r[d];
            }
            double norm = sqrt(gg) * sqrt(rr);
            s[k] = (float)(gr / (norm > 1e-8 ? norm : 1e-8));
            p[k] = s[k] / temperature;
        }
        model->ops->softmax_forward(p, p, 1, K);
        if (scores) memcpy(scores, s, (size_t)K * sizeof(float));
        if (probabilities) memcpy(probabilities, p, (size_t)K * sizeof(float));
    }
    afloc_workspace_release(inf->pool, ws);
    return status;
}

static afloc_status check_classify_args(const afloc_model *model, const afloc_image_view *image,
                                        float temperature, const float *scores,
                                        const float *probabilities, const char *fn) {
    AFLOC_TRY(afloc_inference_check_model(model, fn));
    AFLOC_TRY(afloc_image_view_check(image, fn));
    if (!isfinite(temperature) || !(temperature > 0.0f))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: temperature %g is not finite and > 0",
                          fn, (double)temperature);
    if (!scores && !probabilities)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: scores and probabilities are both NULL",
                          fn);
    return AFLOC_OK;
}

afloc_status afloc_model_classify_prompt_set(const afloc_model *model,
                                             const afloc_image_view *image,
                                             const afloc_prompt_set *set, float temperature,
                                             float *scores, float *probabilities) {
    static const char *fn = "afloc_model_classify_prompt_set";
    AFLOC_TRY(check_classify_args(model, image, temperature, scores, probabilities, fn));
    if (!set) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: set is NULL", fn);
    if (set->model != model)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT,
                          "%s: the prompt set was encoded by another model", fn);
    afloc_inference_set_threads(model);
    AFLOC_TRY(classify_with_set(model, image, set, temperature, scores, probabilities, fn));
    afloc_clear_error();
    return AFLOC_OK;
}

afloc_status afloc_model_classify(const afloc_model *model, const afloc_image_view *image,
                                  const char *const *prompts, int32_t count, float temperature,
                                  float *scores, float *probabilities) {
    static const char *fn = "afloc_model_classify";
    AFLOC_TRY(check_classify_args(model, image, temperature, scores, probabilities, fn));
    AFLOC_TRY(check_prompts(prompts, count, fn));
    afloc_inference_set_threads(model);
    afloc_prompt_set *set = NULL;
    AFLOC_TRY(encode_prompts(model, prompts, count, &set, fn));
    afloc_status status = classify_with_set(model, image, set, temperature, scores,
                                            probabilities, fn);
    afloc_prompt_set_free(set);
    if (status == AFLOC_OK) afloc_clear_error();
    return status;
}
