/* unicode.c: UTF-8 decoding/encoding and lookups in the generated Unicode tables (unicode.h).
 * Lookups are binary searches over sorted ranges; Hangul syllables are decomposed
 * arithmetically (Unicode §3.12) instead of being tabulated. */
#include "unicode.h"

#define REPLACEMENT 0xFFFDu

uint32_t afloc_utf8_next(const unsigned char *text, size_t size, size_t *pos) {
    size_t i = *pos;
    unsigned lead = text[i];
    if (lead < 0x80) {
        *pos = i + 1;
        return lead;
    }
    size_t need;
    uint32_t cp;
    unsigned low = 0x80, high = 0xBF; /* allowed range of the second byte */
    if (lead >= 0xC2 && lead <= 0xDF) {
        need = 1; cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        need = 2; cp = lead & 0x0F;
        if (lead == 0xE0) low = 0xA0;  /* overlong */
        if (lead == 0xED) high = 0x9F; /* surrogates */
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        need = 3; cp = lead & 0x07;
        if (lead == 0xF0) low = 0x90;  /* overlong */
        if (lead == 0xF4) high = 0x8F; /* > U+10FFFF */
    } else {
        *pos = i + 1; /* stray continuation byte or a lead byte that can never start a sequence */
        return REPLACEMENT;
    }
    i++;
    for (size_t k = 0; k < need; k++, i++) {
        unsigned b = i < size ? text[i] : 0;
        unsigned lo = k == 0 ? low : 0x80, hi = k == 0 ? high : 0xBF;
        if (i >= size || b < lo || b > hi) {
            *pos = i; /* the maximal subpart ends before the offending byte */
            return REPLACEMENT;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    *pos = i;
    return cp;
}

size_t afloc_utf8_put(uint32_t cp, unsigned char *out) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int afloc_utf8_valid(const unsigned char *text, size_t size) {
    size_t pos = 0;
    while (pos < size) {
        size_t start = pos;
        uint32_t cp = afloc_utf8_next(text, size, &pos);
        /* A real U+FFFD is 3 bytes EF BF BD; a replacement for bad bytes is anything else. */
        if (cp == REPLACEMENT && !(pos - start == 3 && text[start] == 0xEF)) return 0;
    }
    return 1;
}

uint32_t afloc_unicode_flags(uint32_t cp) {
    size_t lo = 0, hi = afloc_unicode_range_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < afloc_unicode_ranges[mid].first) hi = mid;
        else if (cp > afloc_unicode_ranges[mid].last) lo = mid + 1;
        else return afloc_unicode_ranges[mid].flags;
    }
    return 0;
}

size_t afloc_unicode_fold_char(uint32_t cp, uint32_t *out) {
    if (cp >= 0xAC00 && cp <= 0xD7A3) { /* Hangul syllable: L V [T] jamo, no case, no marks */
        uint32_t s = cp - 0xAC00;
        out[0] = 0x1100 + s / (21 * 28);
        out[1] = 0x1161 + (s % (21 * 28)) / 28;
        if (s % 28 == 0) return 2;
        out[2] = 0x11A7 + s % 28;
        return 3;
    }
    size_t lo = 0, hi = afloc_unicode_fold_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const afloc_unicode_fold *f = &afloc_unicode_folds[mid];
        if (cp < f->code_point) hi = mid;
        else if (cp > f->code_point) lo = mid + 1;
        else {
            for (uint32_t k = 0; k < f->length; k++) out[k] = afloc_unicode_fold_pool[f->start + k];
            return f->length;
        }
    }
    out[0] = cp;
    return 1;
}

int afloc_unicode_is_word(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') ||
               cp == '_';
    size_t lo = 0, hi = afloc_unicode_word_span_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < afloc_unicode_word_spans[mid].first) hi = mid;
        else if (cp > afloc_unicode_word_spans[mid].last) lo = mid + 1;
        else return 1;
    }
    return 0;
}
