/* eval_render.h: the pictures of `afloc eval`: a contact sheet of test rows (frame, heatmap in
 * colour, ground-truth box, row index) and the training loss curve of a `afloc train --log` CSV.
 * Both are 8-bit RGB PNGs written with afloc_image_save_png. */
#ifndef AFLOC_CLI_EVAL_RENDER_H
#define AFLOC_CLI_EVAL_RENDER_H

#include <stddef.h>
#include <stdint.h>

typedef struct eval_tile {
    const float   *frame;  /* S x S preprocessed image, values in [-1, 1]              */
    const float   *map;    /* S x S normalised heatmap in [-1, 1], NaN = not scored    */
    const uint8_t *mask;   /* S x S ground truth, nonzero inside the box(es)           */
    int32_t        index;  /* number printed in the corner                             */
} eval_tile;

/* Writes `count` (>= 1) tiles in a grid of up to 4 columns to `path`. Returns 0, or 1 with a
 * message in `err`. */
int eval_render_contact_sheet(const char *path, const eval_tile *tiles, int32_t count, int32_t S,
                              char *err, size_t err_size);

/* Reads the training log `log_path` (CSV header with at least step,global,sentence,word,total)
 * and draws the four curves against step into `png_path`. *points receives the rows drawn.
 * Returns 0, or 1 with a message naming file and line in `err`. */
int eval_render_loss_curve(const char *log_path, const char *png_path, int32_t *points, char *err,
                           size_t err_size);

#endif /* AFLOC_CLI_EVAL_RENDER_H */
