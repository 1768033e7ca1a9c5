/* laterality.h: the side-word swap of the mirror-pair augmentation (afloc_trainer_options
 * .mirror_pairs): a caption that goes with an image mirrored left-right must name the other side.
 * Not in the paper (MODEL.md §2.4: no flip in training); an opt-in extension. Internal. */
#ifndef AFLOC_LATERALITY_H
#define AFLOC_LATERALITY_H

#include <stddef.h>

/* Bytes a swap of a text of `len` bytes may need, NUL included: "left" grows to "right" (5 of
 * every 4 bytes at worst) plus the terminator. */
size_t afloc_swap_sides_capacity(size_t len);

/* Writes `in` to `out` with every whole word "left" replaced by "right" and "right" by "left"
 * (ASCII case-insensitive; the replacement keeps the case pattern: "Left" -> "Right", "LEFT" ->
 * "RIGHT"). A word is a maximal run of ASCII letters and digits, so "leftward" is kept and
 * "left-sided" swaps (the hyphen ends the word). Returns the length written (NUL not counted), or (size_t)-1 with nothing promised in `out` when `cap` is
 * below afloc_swap_sides_capacity(strlen(in)). */
size_t afloc_swap_sides(const char *in, char *out, size_t cap);

/* Mirrors a row-major (h, w) plane left-right in place. */
void afloc_mirror_plane(float *plane, size_t h, size_t w);

#endif /* AFLOC_LATERALITY_H */
