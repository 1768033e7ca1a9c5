/* embedding.cu: BERT input embeddings on the device (MODEL.md §5.1, before the LayerNorm), the
 * twin of src/cpu/embedding.c (HF transformers 4.2.1 BertEmbeddings.forward):
 *   e = (word[ids[t]] + token_type[type_ids[t]]) + position[t]
 * and its gradients. ids and type_ids are DEVICE int32 arrays, checked by the caller.
 *
 * Both passes are bit-identical to the CPU twin: the forward keeps the CPU's addition order, and
 * the backward gives each column to one thread, which walks the tokens in increasing t, so a word
 * id repeated in the text accumulates in token order, as on the CPU, with no atomics.
 * Layouts: word (V, C), position (max positions, C), token_type (2, C), out/dout (T, C), row-major.
 * Dimension letters: T tokens, C hidden, V vocabulary. */
#include "cuda_common.cuh"

/* ---- kernels ---- */

/* out (T, C): one thread per element. */
static __global__ void embedding_forward_kernel(float *out, const int32_t *ids,
                                                const int32_t *type_ids, const float *word,
                                                const float *position, const float *token_type,
                                                size_t n, int32_t C) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t t = i / (size_t)C;
        const size_t c = i % (size_t)C;
        const float w = word[(size_t)ids[t] * (size_t)C + c];
        const float y = token_type[(size_t)(type_ids ? type_ids[t] : 0) * (size_t)C + c];
        const float p = position[t * (size_t)C + c];
        out[i] = __fadd_rn(__fadd_rn(w, y), p);
    }
}

/* One thread per column c: for t = 0..T−1, dword[ids[t]][c] += dout[t][c], dposition[t][c] +=
 * dout[t][c], dtoken_type[type_ids[t]][c] += dout[t][c]. A NULL table is frozen (skipped). Threads
 * own disjoint columns, so no element is updated by two threads. */
static __global__ void embedding_backward_kernel(float *dword, float *dposition,
                                                 float *dtoken_type, const float *dout,
                                                 const int32_t *ids, const int32_t *type_ids,
                                                 int32_t T, int32_t C) {
    for (size_t c = (size_t)blockIdx.x * blockDim.x + threadIdx.x; c < (size_t)C;
         c += (size_t)gridDim.x * blockDim.x) {
        for (int32_t t = 0; t < T; t++) {
            const float g = dout[(size_t)t * (size_t)C + c];
            if (dword) {
                float *w = dword + (size_t)ids[t] * (size_t)C + c;
                *w = __fadd_rn(*w, g);
            }
            if (dposition) {
                float *p = dposition + (size_t)t * (size_t)C + c;
                *p = __fadd_rn(*p, g);
            }
            if (dtoken_type) {
                float *y = dtoken_type + (size_t)(type_ids ? type_ids[t] : 0) * (size_t)C + c;
                *y = __fadd_rn(*y, g);
            }
        }
    }
}

/* ---- launchers ---- */

enum { EMBEDDING_THREADS = 256 };

static void cuda_embedding_forward(afloc_device *dev, float *out, const int32_t *ids,
                                   const int32_t *type_ids, const float *word,
                                   const float *position, const float *token_type, int32_t T,
                                   int32_t C) {
    if (afloc_cuda_failed(dev)) return;
    if (T <= 0 || C <= 0) return;
    afloc_device_scope scope(dev);
    const size_t n = (size_t)T * (size_t)C;
    embedding_forward_kernel<<<afloc_cuda_blocks(n, EMBEDDING_THREADS), EMBEDDING_THREADS, 0,
                               dev->stream>>>(out, ids, type_ids, word, position, token_type, n,
                                              C);
    AFLOC_CUDA_LAUNCHED(dev, "embedding_forward");
}

/* C is 768 in BERT-base, so this launches 3 blocks that each walk T <= ~100 tokens: tiny work,
 * and a column-per-thread walk is what makes the order (and the bits) the CPU's. */
static void cuda_embedding_backward(afloc_device *dev, float *dword, float *dposition,
                                    float *dtoken_type, const float *dout, const int32_t *ids,
                                    const int32_t *type_ids, int32_t T, int32_t C) {
    if (afloc_cuda_failed(dev)) return;
    if (T <= 0 || C <= 0 || (!dword && !dposition && !dtoken_type)) return;
    afloc_device_scope scope(dev);
    embedding_backward_kernel<<<afloc_cuda_blocks((size_t)C, EMBEDDING_THREADS),
                                EMBEDDING_THREADS, 0, dev->stream>>>(
        dword, dposition, dtoken_type, dout, ids, type_ids, T, C);
    AFLOC_CUDA_LAUNCHED(dev, "embedding_backward");
}

extern "C" void afloc_cuda_register_embedding(afloc_device_ops *ops) {
    ops->embedding_forward = cuda_embedding_forward;
    ops->embedding_backward = cuda_embedding_backward;
}
