/* position.c: the position term of the deep-local embedding (config local_position 1; libafloc's,
 * not in the paper). A layer-3 feature sees a few dozen pixels, too little to tell the left lung
 * from the right one, so a prompt's side word ("left", "right") cannot move the map. The term adds
 * to every cell a learned linear function of where the cell is:
 *   y[b, c, h, w] += weight[c, 0]·px(w) + weight[c, 1]·py(h),
 *   px(w) = w − (W − 1)/2, py(h) = h − (H − 1)/2: the offset from the grid's centre in cells.
 * weight is (C, 2), the weight of an nn.Linear(2, C, bias=False) applied to (px, py). Cells, not
 * a [−1, 1] range, because the weight starts at zero and Adam moves it by about the learning rate
 * per step: in cells a 32 x 32 grid's edge is 15.5 units out, so the term reaches the scale of the
 * raw map (tens) within a fine-tuning run instead of staying a hundredth of it. The coordinates
 * are exact in float. */
#include <math.h>

#include "cpu/cpu_ops.h"

/* The cell coordinate: i − (n − 1)/2, the offset from the grid's centre in cells. */
static inline float position_coordinate(int32_t i, int32_t n) {
    return (float)i - 0.5f * (float)(n - 1);
}

void afloc_cpu_position_add_forward(float *y, const float *weight, int32_t B, int32_t C,
                                    int32_t H, int32_t W) {
    const long planes = (long)B * C;
#pragma omp parallel for schedule(static)
    for (long p = 0; p < planes; p++) {
        const int32_t c = (int32_t)(p % C);
        const float wx = weight[2 * c], wy = weight[2 * c + 1];
        float *plane = y + (size_t)p * (size_t)H * (size_t)W;
        for (int32_t h = 0; h < H; h++) {
            const float ty = wy * position_coordinate(h, H);
            for (int32_t w = 0; w < W; w++)
                plane[(size_t)h * W + w] += fmaf(wx, position_coordinate(w, W), ty);
        }
    }
}

void afloc_cpu_position_add_backward(float *dweight, const float *dy, int32_t B, int32_t C,
                                     int32_t H, int32_t W) {
#pragma omp parallel for schedule(static)
    for (int32_t c = 0; c < C; c++) {
        double sx = 0.0, sy = 0.0;
        for (int32_t b = 0; b < B; b++) {
            const float *plane = dy + ((size_t)b * C + c) * (size_t)H * (size_t)W;
            for (int32_t h = 0; h < H; h++) {
                const double py = position_coordinate(h, H);
                for (int32_t w = 0; w < W; w++) {
                    const double g = plane[(size_t)h * W + w];
                    sx += g * position_coordinate(w, W);
                    sy += g * py;
                }
            }
        }
        dweight[2 * c] += (float)sx;
        dweight[2 * c + 1] += (float)sy;
    }
}
