/* cpu_ops.h: the CPU backend's forward ops, one family per file in src/cpu/ (STYLE.md §7). Each
 * is plain fp32, written to be read against the PyTorch function it matches (cited in its file),
 * and is the oracle for the CUDA kernel of the same stem in kernels/.
 *
 * Conventions:
 *  - Arguments: outputs first, then inputs, then sizes, then scratch. Pointers never alias unless
 *    a comment says so. Sizes are int32_t; element counts are size_t.
 *  - Layouts: images NCHW row-major (B, C, H, W); token features (T, C) row-major; a Linear weight
 *    is (OC, C) and computes y = x·Wᵀ + b (PyTorch nn.Linear); a conv weight is (OC, C, K, K).
 *  - Threads: ops may use OpenMP. Work is split into blocks whose boundaries do not depend on the
 *    number of threads, and no output element is ever reduced across threads, so results are
 *    bit-identical for any OpenMP team size and any number of concurrent callers (DESIGN.md §5).
 *    The caller chooses the team size with omp_set_num_threads() on its own thread. OpenBLAS's
 *    own thread count (fixed per process, OPENBLAS_NUM_THREADS) is a separate matter: a large
 *    sgemm (seen at D = 768 in the contrastive loss) can round differently with 1 and 2
 *    OpenBLAS threads, so runs are reproducible for the same OpenBLAS thread count.
 *  - Ops never allocate on the hot path: anything temporary comes in `scratch`, sized by the
 *    matching *_scratch_floats() function. They cannot fail on valid sizes, so they return void;
 *    the model code validates shapes before calling.
 *
 * Dimension letters: B batch, C channels/hidden, OC output channels, H W spatial, K kernel side,
 * T tokens, NH heads, D joint embedding. */
#ifndef AFLOC_CPU_OPS_H
#define AFLOC_CPU_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h" /* afloc_status, for the prepared conv */

/* ---- conv.c: 2-D convolution (torch.nn.functional.conv2d, square kernel, groups 1) ---- */

/* Output side of a convolution or pooling window: (n + 2·pad − K) / stride + 1. */
int32_t afloc_conv_out_size(int32_t n, int32_t k, int32_t stride, int32_t pad);

/* out (B, OC, OH, OW) = relu?( conv(in (B, C, H, W), weight (OC, C, K, K)) + bias (OC) + residual )
 * with zero padding `pad`. `bias` and `residual` (B, OC, OH, OW) may be NULL; relu is 0 or 1. The
 * fused epilogue serves ResNet with BatchNorm folded into the conv (DESIGN.md §5). */
void afloc_cpu_conv2d_forward(float *out, const float *in, const float *weight, const float *bias,
                              const float *residual, int32_t relu, int32_t B, int32_t C, int32_t H,
                              int32_t W, int32_t OC, int32_t K, int32_t stride, int32_t pad,
                              float *scratch);
size_t afloc_cpu_conv2d_scratch_floats(int32_t B, int32_t C, int32_t H, int32_t W, int32_t OC,
                                       int32_t K, int32_t stride, int32_t pad);

/* ---- norm.c: normalisation ---- */

/* LayerNorm over the last dimension (torch.nn.functional.layer_norm): out (N, C) =
 * (in − mean) / sqrt(biased var + eps) · weight + bias, statistics accumulated in double. */
void afloc_cpu_layernorm_forward(float *out, const float *in, const float *weight,
                                 const float *bias, int32_t N, int32_t C, float eps);

/* Folds inference BatchNorm (eval mode) into the preceding bias-free conv:
 * weight_out (OC, per_oc) = weight · γ/sqrt(var + eps); bias_out (OC) = β − mean · γ/sqrt(var + eps).
 * Scale computed in double. weight_out may equal weight (in place). */
void afloc_cpu_batchnorm_fold(float *weight_out, float *bias_out, const float *weight,
                              const float *gamma, const float *beta, const float *mean,
                              const float *var, int32_t OC, size_t per_oc, float eps);

/* ---- gemm.c: dense layers (BLAS underneath) ---- */

/* out (N, OC) = in (N, C) · weight (OC, C)ᵀ + bias (OC) (torch.nn.functional.linear); bias may be
 * NULL. `gelu` 1 applies the exact GELU after the bias (fused epilogue), 0 leaves it linear. */
void afloc_cpu_linear_forward(float *out, const float *in, const float *weight, const float *bias,
                              int32_t gelu, int32_t N, int32_t C, int32_t OC);

/* ---- activation.c: elementwise ---- */

/* Exact GELU 0.5·x·(1 + erf(x/√2)) (torch.nn.functional.gelu, approximate='none'); out may equal in. */
void afloc_cpu_gelu_forward(float *out, const float *in, size_t n);
/* max(x, 0); out may equal in. */
void afloc_cpu_relu_forward(float *out, const float *in, size_t n);
/* out = a + b elementwise; out may equal a or b. */
void afloc_cpu_add_forward(float *out, const float *a, const float *b, size_t n);

/* ---- pool.c: pooling ---- */

/* Max pooling with implicit −∞ padding (torch.nn.functional.max_pool2d, ceil_mode false):
 * out (B, C, OH, OW). */
void afloc_cpu_maxpool2d_forward(float *out, const float *in, int32_t B, int32_t C, int32_t H,
                                 int32_t W, int32_t K, int32_t stride, int32_t pad);
/* Adaptive average pooling to 1x1 (torch.nn.AdaptiveAvgPool2d(1)): out (B, C), sums in double. */
void afloc_cpu_global_avgpool_forward(float *out, const float *in, int32_t B, int32_t C,
                                      int32_t H, int32_t W);

/* ---- resize.c: bilinear resize ---- */

/* torch.nn.functional.interpolate(mode='bilinear') of in (B, C, H, W) to out (B, C, OH, OW), with
 * PyTorch's source-index rules for align_corners 1 (MODEL.md §3.1, 224→299) and 0 (§8.3,
 * 19→224), computed in float32 exactly as PyTorch's CPU kernel does. */
void afloc_cpu_bilinear_resize_forward(float *out, const float *in, int32_t B, int32_t C,
                                       int32_t H, int32_t W, int32_t OH, int32_t OW,
                                       int32_t align_corners);

/* ---- bilinear_sample.c: bilinear sampling on a uniform grid ---- */

/* out (B, C, OH, OW)[oy, ox] = in (B, C, H, W) bilinearly read at (oy·step_y, ox·step_x), the
 * point clamped to the border (grid_sample, padding_mode='border', align_corners=True). The
 * heatmap read-out centred on receptive fields (localize.c) uses it. */
void afloc_cpu_bilinear_sample_forward(float *out, const float *in, int32_t B, int32_t C,
                                       int32_t H, int32_t W, int32_t OH, int32_t OW,
                                       float step_y, float step_x);

/* ---- bicubic_sample.c: bicubic sampling on a uniform grid ---- */

/* out (B, C, OH, OW)[oy, ox] = in (B, C, H, W) read with cubic convolution (A = −0.75) at
 * (oy·step_y, ox·step_x), the taps clamped to the border (grid_sample, mode='bicubic',
 * padding_mode='border', align_corners=True). The "centred, cubic" heatmap read-out
 * (localize.c, config map_alignment 2) uses it. */
void afloc_cpu_bicubic_sample_forward(float *out, const float *in, int32_t B, int32_t C,
                                      int32_t H, int32_t W, int32_t OH, int32_t OW,
                                      float step_y, float step_x);

/* ---- position.c: the position term of the deep-local embedding (config local_position) ---- */

/* y (B, C, H, W) += weight[c, 0]·px(w) + weight[c, 1]·py(h) in place; weight (C, 2). */
void afloc_cpu_position_add_forward(float *y, const float *weight, int32_t B, int32_t C,
                                    int32_t H, int32_t W);
/* dweight (C, 2) += Σ_(b,h,w) dy·(px(w), py(h)), summed in double in increasing (b, h, w). */
void afloc_cpu_position_add_backward(float *dweight, const float *dy, int32_t B, int32_t C,
                                     int32_t H, int32_t W);

/* ---- softmax.c ---- */

/* Row softmax (torch.softmax(dim=-1)) of in (N, C) into out (N, C): max subtracted, exp and sum
 * in float, like PyTorch's CPU kernel. out may equal in. */
void afloc_cpu_softmax_forward(float *out, const float *in, int32_t N, int32_t C);

/* ---- attention.c: BERT self-attention core (MODEL.md §5.1) ---- */

/* For each sequence b and head h: P = softmax(Q·Kᵀ/√HS + maskbias), out = P·V, heads merged.
 * qkv (B, T, 3C) holds Q | K | V for each token (C = NH·HS; head h uses columns h·HS..h·HS+HS−1 of
 * each); mask (B, T) holds 1 for real tokens and 0 for padding, giving the additive bias
 * (1 − mask)·(−10000) on the key axis as HF BERT does; mask may be NULL (all real).
 * out (B, T, C). scratch: afloc_cpu_attention_scratch_floats(B, T, NH) floats. */
void afloc_cpu_attention_forward(float *out, const float *qkv, const float *mask, int32_t B,
                                 int32_t T, int32_t C, int32_t NH, float *scratch);
size_t afloc_cpu_attention_scratch_floats(int32_t B, int32_t T, int32_t NH);

/* ---- embedding.c: BERT input embeddings ---- */

/* out (T, C) = word[ids[t]] + position[t] + token_type[type_ids[t]] for t < T (MODEL.md §5.1,
 * before the LayerNorm). type_ids may be NULL (all 0). The caller has checked every id. */
void afloc_cpu_embedding_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                                 const float *word, const float *position,
                                 const float *token_type, int32_t T, int32_t C);

/* ---- similarity.c: the localization map (MODEL.md §8.1–8.2) ---- */

/* out (H, W) = Σ_d features (D, H, W)[d] · text (D)[d], a raw dot product per position,
 * accumulated in float in increasing d (as torch.einsum/bmm on CPU would for these sizes). */
void afloc_cpu_similarity_map_forward(float *out, const float *features, const float *text,
                                      int32_t D, int32_t H, int32_t W);

/* scipy.ndimage.gaussian_filter(in (H, W) float32, sigma, truncate, mode='reflect') exactly:
 * radius int(truncate·sigma + 0.5), normalised Gaussian taps, rows (axis 0) first then columns,
 * each pass accumulated in double and stored as float32. scratch: H·W floats. */
void afloc_cpu_gaussian_smooth_forward(float *out, const float *in, int32_t H, int32_t W,
                                       float sigma, float truncate, float *scratch);

/* ---- conv_dnnl.c: prepared convolution on oneDNN (the inference fast path of conv.c) ---- */

/* A convolution layer prepared once (weights reordered into oneDNN's layout, primitives built),
 * then run any number of times, from any number of threads at once. Opaque. */
typedef struct afloc_cpu_conv afloc_cpu_conv;

/* Prepares out = relu?(conv(in, weight (OC, C, K, K)) + bias (OC) + residual) for inputs
 * (B <= max_batch, C, H, W), same semantics as afloc_cpu_conv2d_forward. `bias` may be NULL and
 * is copied; `weight` is only read during the call. `residual` / `relu` (0 or 1) fix the epilogue:
 * a conv prepared with residual 1 must get one at run, and one prepared with 0 must not.
 * `threads` is the OpenMP team size the primitives are built for and run with (run sets it on the
 * calling thread and restores the caller's value). Returns AFLOC_ERR_INVALID_ARGUMENT (NULL out
 * or weight, sizes out of range, kernel larger than the padded input), AFLOC_ERR_OUT_OF_MEMORY,
 * AFLOC_ERR_UNSUPPORTED_ENV (oneDNN not built on OpenMP) or AFLOC_ERR_INTERNAL (oneDNN refused);
 * *out is untouched on failure. */
afloc_status afloc_cpu_conv2d_prepare(afloc_cpu_conv **out, const float *weight, const float *bias,
                                      int32_t residual, int32_t relu, int32_t C, int32_t OC,
                                      int32_t K, int32_t stride, int32_t pad, int32_t max_batch,
                                      int32_t H, int32_t W, int32_t threads);
/* out (B, OC, OH, OW) from in (B, C, H, W) and residual (B, OC, OH, OW) (NULL iff prepared without),
 * NCHW; 1 <= B <= max_batch. scratch: afloc_cpu_conv2d_run_scratch_floats(conv, B) floats, any
 * alignment, private to this call. Thread-safe on one conv with separate out/scratch. Returns
 * AFLOC_ERR_INVALID_ARGUMENT on a bad pointer / batch / residual, AFLOC_ERR_OUT_OF_MEMORY or
 * AFLOC_ERR_INTERNAL if oneDNN fails to create its small per-call objects (memory, stream). */
afloc_status afloc_cpu_conv2d_run(const afloc_cpu_conv *conv, float *out, const float *in,
                                  const float *residual, int32_t B, float *scratch);
size_t afloc_cpu_conv2d_run_scratch_floats(const afloc_cpu_conv *conv, int32_t B);
/* Frees a prepared conv; NULL is a no-op. */
void afloc_cpu_conv2d_release(afloc_cpu_conv *conv);

/* ---- adam.c: optimizer (MODEL.md §7.1) ---- */
/* Used by the trainer (issue 4); tested against torch.optim.Adam + clip_grad_norm_ in
 * tests/ops/test_adam.c (bit-exact). Hyperparameters are double, as the Python floats torch uses,
 * and rounded to float at the same places torch rounds them. */

/* One torch.optim.Adam step (1.13, single-tensor path, amsgrad/maximize off) over n elements,
 * in place on params, m (exp_avg) and v (exp_avg_sq), all (n): g = grads·grad_scale, then
 * g += weight_decay·p (L2, not AdamW), m = β1·m + (1−β1)·g, v = β2·v + (1−β2)·g²,
 * p −= lr/(1−β1^step) · m / (sqrt(v)/sqrt(1−β2^step) + eps). `step` is 1-based (the value after
 * torch's step += 1); grad_scale is the clip factor (afloc_clip_factor; 1 = none). grads is only
 * read. Elementwise with fmaf where torch's kernels fuse, so bit-identical to torch on CPU. */
void afloc_cpu_adam_update(float *params, float *m, float *v, const float *grads, size_t n,
                           double lr, double beta1, double beta2, double eps,
                           double weight_decay, int64_t step, float grad_scale);
/* Σ x² over n floats in double: fixed blocks summed in order, the same for any team size. */
double afloc_cpu_sum_squares(const float *x, size_t n);
/* L2 norm sqrt(afloc_cpu_sum_squares) of all gradients (one contiguous buffer), in double. */
double afloc_cpu_grad_norm(const float *grads, size_t n);
/* clip_grad_norm_'s factor in float32 as torch computes it: min(1, (1/(norm + 1e-6))·max_norm)
 * with norm = (float)total_norm. NaN for a NaN norm (skip the step), 0 for an infinite one. */
float afloc_clip_factor(double total_norm, float max_norm);

/* ---- text_aggregate.c: word, sentence and report embeddings (MODEL.md §5.3–§5.6) ---- */
/* B captions, each with its layer sums hsum (T, C) (caption stride T·C; rows from L on unused)
 * and its units packed by afloc_text_units_pack (AFLOC_TEXT_UNITS_INTS(T) ints each). Forward:
 * words and sent (C, T) channel-first per caption, zero beyond the used slots, report (C).
 * Backward: dh rows 0..L-1 of each caption (rows from L on untouched) from the upstream
 * gradients gw, gs (C, T) and gr (C) per caption, each NULL for zero; scratch (T, C) floats.
 * Sequential loops in a fixed order: the CUDA twin does the same adds and divisions. */
void afloc_cpu_text_aggregate_forward(float *words, float *sent, float *report, const float *hsum,
                                      const int32_t *units, int32_t B, int32_t C, int32_t T);
void afloc_cpu_text_aggregate_backward(float *dh, const float *gw, const float *gs,
                                       const float *gr, const int32_t *units, int32_t B,
                                       int32_t C, int32_t T, float *scratch);

/* ---- contrastive.c: the AFLoc losses (MODEL.md §6) ---- */
/* Used by the trainer (issue 4); forward and backward in one call, tested against PyTorch
 * autograd in tests/ops/test_contrastive.c. Gradients ACCUMULATE (+=) as every backward below;
 * a NULL gradient is skipped (both NULL: forward only). Symmetric CE (mean over B) both ways,
 * rows are images j, columns texts i; scores, log-sum-exp and CE in double; the loss is returned.
 * Bit-identical for any OpenMP team size. */

/* Global report loss L_GR (§6.1): G[j, i] = temp3·⟨g_j, r_i⟩ / max(‖g_j‖·‖r_i‖, 1e-8),
 * L = CE(G, diag) + CE(Gᵀ, diag). image = img_emb_g (B, D), text = text_emb_r (B, D);
 * dimage / dtext (B, D) += dL/d·. scratch: afloc_cpu_global_loss_scratch_floats(B) floats. */
float afloc_cpu_global_loss(float *dimage, float *dtext, const float *image, const float *text,
                            int32_t B, int32_t D, float temp3, float *scratch);
size_t afloc_cpu_global_loss_scratch_floats(int32_t B);

/* Local alignment loss (§6.2; L_DS with the sentence features on the 19×19 map, L_SW with the
 * word features on the 38×38 map): image (B, D, S) local maps, S = H·W; text (B, D, T)
 * channels-first, text i using its first cap_len[i] slots (§5.8; the caller guarantees
 * 1 <= cap_len[i] <= T, out-of-range values are clamped there only for memory safety).
 * Affinities a = v_jᵀ w_i, softmax over words, ×temp1, softmax over regions → α, context
 * c = v α, ρ = cosine (1e-8 clamp), M[j, i] = temp3·log Σ_t exp(temp2·ρ_t), L = CE(M) + CE(Mᵀ).
 * dimage (B, D, S) and dtext (B, D, T) += dL/d· (slots past cap_len get nothing). attention
 * (B, T, S), may be NULL: α of the matching pair (j = i) word-major, rows >= cap_len[i] zeroed.
 * No B·B·S·T tensor: pairs are recomputed in the backward sweep (cost ≈ 7 GEMMs of S·D·T per
 * pair). scratch: afloc_cpu_local_loss_scratch_floats(B, D, S, T) floats. */
float afloc_cpu_local_loss(float *dimage, float *dtext, float *attention, const float *image,
                           const float *text, const int32_t *cap_len, int32_t B, int32_t D,
                           int32_t S, int32_t T, float temp1, float temp2, float temp3,
                           float *scratch);
size_t afloc_cpu_local_loss_scratch_floats(int32_t B, int32_t D, int32_t S, int32_t T);

/* Within-image sentence loss L_WS (not in the paper; trainer option
 * loss_weight_sentence_contrast): the local loss's pairs compare each image only with other
 * images' reports, so another finding of the same image is never a negative and a sentence
 * naming one finding may attend to another. L_WS contrasts the sentences of one report with
 * each other. For each image i with K = cap_len[i] − 1 >= 2 sentences (slot 0, [CLS], is left
 * out of the scores): the contexts c_t of the matching pair exactly as in L_DS (all cap_len[i]
 * slots in the word softmax, temp1), Z[t, u] = temp3·cos(c_t, w_u) over the K sentences (1e-8
 * clamp), L_i = CE(Z, diag) + CE(Zᵀ, diag); L = mean of L_i over those images (0 if none).
 * Same layouts as afloc_cpu_local_loss; the gradients of weight·L are accumulated (the trainer
 * adds them to L_DS's, which use the same maps and features); L is returned. scratch:
 * afloc_cpu_sentence_contrast_scratch_floats(D, S, T) floats. */
float afloc_cpu_sentence_contrast_loss(float *dimage, float *dtext, const float *image,
                                       const float *text, const int32_t *cap_len, int32_t B,
                                       int32_t D, int32_t S, int32_t T, float temp1,
                                       float temp3, float weight, float *scratch);
size_t afloc_cpu_sentence_contrast_scratch_floats(int32_t D, int32_t S, int32_t T);

/* ==== backward passes (training, issue 4) ====
 * Convention: every backward ACCUMULATES (+=) into its gradient outputs (dinput, dweight, dbias),
 * as llm.c does, so residual branches and shared parameters sum naturally; the trainer zeroes the
 * gradient buffers at the start of a step. Reductions over the batch are done in an order fixed by
 * the shape (per-block partials summed in block order), never with floating-point atomics, so
 * results are deterministic for a given thread count. */

/* ---- backward: vision ops (conv.c, norm_batch.c, pool.c, resize.c, gemm.c, activation.c) ---- */
/* Used by the trainer (issue 4); tested against PyTorch autograd in tests/ops/test_*_backward.c. */

/* Gradients of afloc_cpu_conv2d_forward without its epilogue (the trainer applies ReLU / residual
 * backward separately): given dout (B, OC, OH, OW), input (B, C, H, W), weight (OC, C, K, K):
 *   dweight (OC, C, K, K) += Σ_b dout_b · im2col(input_b)ᵀ      (b in increasing order)
 *   dbias (OC)            += Σ_b Σ_(oy,ox) dout                  (double sums; NULL: skipped)
 *   dinput (B, C, H, W)   += col2im(weightᵀ · dout_b)            (NULL: skipped)
 * scratch: afloc_cpu_conv2d_backward_scratch_floats(...) floats (0 for a pointwise conv). */
void afloc_cpu_conv2d_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                               const float *input, const float *weight, int32_t B, int32_t C,
                               int32_t H, int32_t W, int32_t OC, int32_t K, int32_t stride,
                               int32_t pad, float *scratch);
size_t afloc_cpu_conv2d_backward_scratch_floats(int32_t B, int32_t C, int32_t H, int32_t W,
                                                int32_t OC, int32_t K, int32_t stride,
                                                int32_t pad);

/* BatchNorm2d in training mode (torch.nn.functional.batch_norm, training=True, MODEL.md §3.4):
 * per channel c over the N = B·H·W values, mean and biased variance in double (two passes),
 * out = (in − mean)·rstd·γ + β with rstd = 1/sqrt(var + eps). Saves mean and rstd (C) for the
 * backward. running_mean / running_var (C, updated in place; both NULL to skip) follow PyTorch:
 * running = (1 − momentum)·running + momentum·stat, with the unbiased variance var·N/(N − 1).
 * N must be > 1 (PyTorch refuses a single value per channel); the caller checks. */
void afloc_cpu_batchnorm2d_train_forward(float *out, float *mean_saved, float *rstd_saved,
                                         float *running_mean, float *running_var, const float *in,
                                         const float *gamma, const float *beta, int32_t B,
                                         int32_t C, int32_t H, int32_t W, float eps,
                                         float momentum);
/* Backward of the above from the saved mean / rstd: dgamma (C) += Σ dout·x̂, dbeta (C) += Σ dout,
 * dinput (B, C, H, W) += γ·rstd·(dout − Σdout/N − x̂·Σ(dout·x̂)/N), x̂ = (in − mean)·rstd,
 * sums in double. */
void afloc_cpu_batchnorm2d_backward(float *dinput, float *dgamma, float *dbeta, const float *dout,
                                    const float *in, const float *mean_saved,
                                    const float *rstd_saved, const float *gamma, int32_t B,
                                    int32_t C, int32_t H, int32_t W);

/* Max pooling backward: each dout (B, C, OH, OW) element is added to dinput (B, C, H, W) at its
 * window's argmax, chosen as PyTorch's CPU kernel does (first maximum in row-major scan order, the
 * last NaN if any, the window's first in-image element when all are −∞), outputs in scan order. */
void afloc_cpu_maxpool2d_backward(float *dinput, const float *dout, const float *input, int32_t B,
                                  int32_t C, int32_t H, int32_t W, int32_t K, int32_t stride,
                                  int32_t pad);
/* Global average pooling backward: dinput (B, C, H, W) += dout (B, C) / (H·W). */
void afloc_cpu_global_avgpool_backward(float *dinput, const float *dout, int32_t B, int32_t C,
                                       int32_t H, int32_t W);

/* Bilinear resize backward (upsample_bilinear2d_backward on CPU): each dout (B, C, OH, OW)
 * element is spread over its four source pixels of dinput (B, C, H, W) with the forward's weights
 * (same index math), output elements in scan order. */
void afloc_cpu_bilinear_resize_backward(float *dinput, const float *dout, int32_t B, int32_t C,
                                        int32_t H, int32_t W, int32_t OH, int32_t OW,
                                        int32_t align_corners);

/* Linear backward (y = x·Wᵀ + b): dinput (N, C) += dout (N, OC) · weight (OC, C) (NULL: skipped),
 * dweight (OC, C) += doutᵀ · input (N, C), dbias (OC) += Σ_n dout (double sums; NULL: skipped). */
void afloc_cpu_linear_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                               const float *input, const float *weight, int32_t N, int32_t C,
                               int32_t OC);

/* ReLU backward from the forward's output: dinput += dout where output > 0 or output is NaN
 * (torch threshold_backward passes the gradient unless output <= 0). */
void afloc_cpu_relu_backward(float *dinput, const float *dout, const float *output, size_t n);

/* ---- backward: text ops (norm.c, activation.c, softmax.c, attention.c, embedding.c, dropout.c) ---- */
/* Used by the trainer (issue 4); tested against PyTorch autograd (tests/ops/), not wired in yet. */

/* LayerNorm forward for training: as afloc_cpu_layernorm_forward (bit-identical out), and also
 * saves each row's mean (N) and rstd = 1/sqrt(biased var + eps) (N), rounded to float, for the
 * backward pass. */
void afloc_cpu_layernorm_forward_train(float *out, float *mean, float *rstd, const float *in,
                                       const float *weight, const float *bias, int32_t N,
                                       int32_t C, float eps);
/* Gradients of LayerNorm (N, C) given dout (N, C), the forward input and the saved mean / rstd:
 * dinput (N, C) += …, dweight (C) += Σ_n dout·x̂, dbias (C) += Σ_n dout. The sums over rows run
 * in increasing n in double, one column per thread: bit-identical for any team size. */
void afloc_cpu_layernorm_backward(float *dinput, float *dweight, float *dbias, const float *dout,
                                  const float *input, const float *weight, const float *mean,
                                  const float *rstd, int32_t N, int32_t C);

/* Exact-erf GELU derivative: dinput += dout · (Φ(x) + x·φ(x)) (PyTorch GeluBackward,
 * approximate='none'). */
void afloc_cpu_gelu_backward(float *dinput, const float *dout, const float *input, size_t n);

/* Row softmax backward from the forward output y (N, C): dinput += y ∘ (dout − Σ_c dout·y)
 * (torch._softmax_backward_data), the row dot product in double. */
void afloc_cpu_softmax_backward(float *dinput, const float *dout, const float *output, int32_t N,
                                int32_t C);

/* Attention forward for training: as afloc_cpu_attention_forward, and also writes the softmax
 * probabilities P (B, NH, T, T), BEFORE dropout. dropout_mask (B, NH, T, T) may be NULL (no
 * dropout); otherwise its scale factors (0 or 1/(1−p), afloc_cpu_dropout_mask) multiply P before
 * P·V, as HF's attention dropout does. scratch: afloc_cpu_attention_scratch_floats(B, T, NH). */
void afloc_cpu_attention_forward_train(float *out, float *probs, const float *qkv,
                                       const float *mask, const float *dropout_mask, int32_t B,
                                       int32_t T, int32_t C, int32_t NH, float *scratch);
/* dqkv (B, T, 3C) += gradient of the attention core for dout (B, T, C), from the forward's qkv,
 * probs and dropout_mask (the same one, or NULL). The padding mask needs no gradient. Each
 * (sequence, head) writes only its own columns of dqkv. scratch:
 * afloc_cpu_attention_backward_scratch_floats(B, T, NH). */
void afloc_cpu_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                  const float *probs, const float *dropout_mask, int32_t B,
                                  int32_t T, int32_t C, int32_t NH, float *scratch);
size_t afloc_cpu_attention_backward_scratch_floats(int32_t B, int32_t T, int32_t NH);

/* Embedding gradients for dout (T, C): dword[ids[t]] += dout[t], dposition[t] += dout[t],
 * dtoken_type[type_ids[t]] += dout[t], in increasing t (repeated ids accumulate in token order;
 * one column block per thread, so any team size gives the same bits). type_ids may be NULL (all
 * 0); any of dword / dposition / dtoken_type may be NULL (that table is frozen). */
void afloc_cpu_embedding_backward(float *dword, float *dposition, float *dtoken_type,
                                  const float *dout, const int32_t *ids, const int32_t *type_ids,
                                  int32_t T, int32_t C);

/* ---- dropout.c: inverted dropout (torch.nn.functional.dropout, training) ---- */

/* mask[i] = 0 with probability p, else 1/(1−p), for i < n; a pure function of (seed, offset + i)
 * through a counter-based hash, so any thread count, any split of a tensor into calls
 * (offset = the elements before) and any device gives the same mask. p <= 0 gives all 1, p >= 1
 * all 0. */
void afloc_cpu_dropout_mask(float *mask, size_t n, float p, uint64_t seed, uint64_t offset);
/* out = in ∘ mask; out may equal in. */
void afloc_cpu_dropout_forward(float *out, const float *in, const float *mask, size_t n);
/* dinput += dout ∘ mask. */
void afloc_cpu_dropout_backward(float *dinput, const float *dout, const float *mask, size_t n);

#endif /* AFLOC_CPU_OPS_H */
