/* laterality.c: left/right word swap and left-right image mirroring for mirror pairs. */
#include "laterality.h"

#include <string.h>

size_t afloc_swap_sides_capacity(size_t len) { return len + len / 4 + 2; }

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }

/* 1 when word [w, w+n) equals `lower` ignoring ASCII case. */
static int word_is(const char *w, size_t n, const char *lower) {
    if (strlen(lower) != n) return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        if (is_upper(c)) c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)lower[i]) return 0;
    }
    return 1;
}

/* Writes `lower` in the case pattern of `word` (n bytes): all capitals when the whole word is
 * capitals (and longer than one letter), a capital first letter when the word has one, lower
 * case otherwise. */
static void put_cased(char *dst, const char *lower, const char *word, size_t n) {
    int all_upper = n > 1;
    for (size_t i = 0; i < n; i++) all_upper &= is_upper((unsigned char)word[i]);
    for (size_t i = 0; lower[i]; i++) {
        char c = lower[i];
        if (all_upper || (i == 0 && is_upper((unsigned char)word[0]))) c = (char)(c - 'a' + 'A');
        dst[i] = c;
    }
}

size_t afloc_swap_sides(const char *in, char *out, size_t cap) {
    size_t len = strlen(in);
    if (cap < afloc_swap_sides_capacity(len)) return (size_t)-1;
    size_t o = 0, i = 0;
    while (i < len) {
        if (!is_word_byte((unsigned char)in[i])) {
            out[o++] = in[i++];
            continue;
        }
        size_t start = i;
        while (i < len && is_word_byte((unsigned char)in[i])) i++;
        size_t n = i - start;
        const char *swap = word_is(in + start, n, "left") ? "right"
                           : word_is(in + start, n, "right") ? "left" : NULL;
        if (swap) {
            put_cased(out + o, swap, in + start, n);
            o += strlen(swap);
        } else {
            memcpy(out + o, in + start, n);
            o += n;
        }
    }
    out[o] = '\0';
    return o;
}

void afloc_mirror_plane(float *plane, size_t h, size_t w) {
    for (size_t y = 0; y < h; y++) {
        float *row = plane + y * w;
        for (size_t a = 0, b = w ? w - 1 : 0; a < b; a++, b--) {
            float t = row[a];
            row[a] = row[b];
            row[b] = t;
        }
    }
}
