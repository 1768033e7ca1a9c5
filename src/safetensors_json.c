/* safetensors_json.c: the strict JSON layer under the safetensors reader and the model config:
 * strict UTF-8, a lexical pre-scan that refuses what cJSON would read differently from other
 * parsers (raw control bytes, \u0000, number forms, leading/trailing bytes, deep nesting), and
 * duplicate-key detection, since cJSON keeps duplicate keys as separate children (S7). */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error.h"

#define JSON_MAX_DEPTH 64

/* ---- UTF-8 and the lexical pre-scan ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid (overlong, surrogate,
 * above U+10FFFF, truncated, stray continuation byte). */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t length;
    unsigned char low = 0x80, high = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) length = 2;
    else if (c == 0xE0) { length = 3; low = 0xA0; }
    else if (c == 0xED) { length = 3; high = 0x9F; }
    else if (c >= 0xE1 && c <= 0xEF) length = 3;
    else if (c == 0xF0) { length = 4; low = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) length = 4;
    else if (c == 0xF4) { length = 4; high = 0x8F; }
    else return 0;
    if (n < length || s[1] < low || s[1] > high) return 0;
    for (size_t k = 2; k < length; k++)
        if ((s[k] & 0xC0) != 0x80) return 0;
    return length;
}

size_t afloc_st_utf8_invalid_at(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_sequence(s + i, n - i);
        if (k == 0) return i;
        i += k;
    }
    return n;
}

static int is_hex(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Checks a JSON number token s[0..n) against the JSON grammar; integers_only also refuses '-',
 * fractions, exponents and more than 15 digits. */
static int number_ok(const char *s, size_t n, int integers_only) {
    size_t i = 0;
    if (!integers_only && i < n && s[i] == '-') i++;
    size_t digits_start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    size_t digits = i - digits_start;
    if (digits == 0 || (digits > 1 && s[digits_start] == '0')) return 0;
    if (integers_only) return i == n && digits <= 15;
    if (i < n && s[i] == '.') {
        size_t f = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == f) return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        size_t e = i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        if (i == e) return 0;
    }
    return i == n;
}

/* Skips the string starting at s[i] == '"'; returns the index after its closing quote, or 0
 * after recording a FORMAT failure in *status. */
static size_t scan_string(const char *s, size_t n, size_t i, const char *function,
                          afloc_status *status) {
    size_t j = i + 1;
    while (j < n) {
        unsigned char b = (unsigned char)s[j];
        if (b == '"') return j + 1;
        if (b < 0x20) {
            *status = afloc_fail(AFLOC_ERR_FORMAT, "%s: control byte 0x%02x inside a JSON string at offset %zu",
                                 function, b, j);
            return 0;
        }
        if (b != '\\') { j++; continue; }
        if (j + 1 >= n) break;
        unsigned char e = (unsigned char)s[j + 1];
        if (e == 'u') {
            if (j + 6 > n || !is_hex(s[j + 2]) || !is_hex(s[j + 3]) || !is_hex(s[j + 4]) || !is_hex(s[j + 5])) {
                *status = afloc_fail(AFLOC_ERR_FORMAT, "%s: bad \\u escape at offset %zu", function, j);
                return 0;
            }
            if (memcmp(s + j + 2, "0000", 4) == 0) {
                /* cJSON would end the C string there: a name that reads differently elsewhere. */
                *status = afloc_fail(AFLOC_ERR_FORMAT, "%s: \\u0000 in a JSON string at offset %zu", function, j);
                return 0;
            }
            j += 6;
        } else if (strchr("\"\\/bfnrt", e) && e != '\0') {
            j += 2;
        } else {
            *status = afloc_fail(AFLOC_ERR_FORMAT, "%s: bad escape \\%c at offset %zu", function,
                                 e >= 0x20 && e < 0x7f ? e : '?', j);
            return 0;
        }
    }
    *status = afloc_fail(AFLOC_ERR_FORMAT, "%s: unterminated JSON string starting at offset %zu", function, i);
    return 0;
}

afloc_status afloc_st_json_prescan(const char *s, size_t n, int integers_only, size_t max_nodes,
                                 size_t *members, const char *function) {
    if (n == 0 || s[0] != '{')
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: JSON must start with '{' (found %s0x%02x)", function,
                          n ? "" : "nothing, ", n ? (unsigned char)s[0] : 0);
    size_t i = 0, depth = 0, nodes = 0, top = 0;
    afloc_status status = AFLOC_OK;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"') {
            i = scan_string(s, n, i, function, &status);
            if (!i) return status;
            nodes++;
        } else if ((c >= '0' && c <= '9') || c == '-') {
            size_t j = i;
            while (j < n && strchr("0123456789+-.eE", s[j]) && s[j] != '\0') j++;
            if (!number_ok(s + i, j - i, integers_only))
                return afloc_fail(AFLOC_ERR_FORMAT, "%s: number \"%.*s\" at offset %zu is not a%s", function,
                                  (int)(j - i < 24 ? j - i : 24), s + i, i,
                                  integers_only ? " non-negative integer of at most 15 digits" : " JSON number");
            i = j;
            nodes++;
        } else if (c >= 'a' && c <= 'z') {
            size_t j = i;
            while (j < n && s[j] >= 'a' && s[j] <= 'z') j++;
            size_t len = j - i;
            if (!((len == 4 && (!memcmp(s + i, "true", 4) || !memcmp(s + i, "null", 4))) ||
                  (len == 5 && !memcmp(s + i, "false", 5))))
                return afloc_fail(AFLOC_ERR_FORMAT, "%s: unknown JSON word at offset %zu", function, i);
            i = j;
            nodes++;
        } else if (c == '{' || c == '[') {
            if (++depth > JSON_MAX_DEPTH)
                return afloc_fail(AFLOC_ERR_FORMAT, "%s: JSON nested deeper than %d at offset %zu",
                                  function, JSON_MAX_DEPTH, i);
            nodes++;
            i++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return afloc_fail(AFLOC_ERR_FORMAT, "%s: unbalanced '%c' at offset %zu", function, c, i);
            i++;
            if (--depth == 0) break;
        } else if (c == ':') {
            if (depth == 1) top++;
            i++;
        } else if (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            i++;
        } else {
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: unexpected byte 0x%02x in JSON at offset %zu", function, c, i);
        }
        if (nodes > max_nodes)
            return afloc_fail(AFLOC_ERR_LIMIT, "%s: JSON has more than %zu values", function, max_nodes);
    }
    if (depth != 0)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: JSON is truncated (%zu brackets still open)", function, depth);
    for (size_t j = i; j < n; j++)
        if (s[j] != ' ')
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: byte 0x%02x after the JSON object at offset %zu "
                              "(only 0x20 padding may follow)", function, (unsigned char)s[j], j);
    *members = top;
    return AFLOC_OK;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

afloc_status afloc_st_json_unique_keys(const struct cJSON *object, const char *where, const char *function) {
    size_t count = 0;
    for (const cJSON *c = object->child; c; c = c->next) count++;
    if (count < 2) return AFLOC_OK;
    const char **keys = afloc_malloc(count * sizeof *keys);
    if (!keys) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu keys", function, count);
    size_t k = 0;
    for (const cJSON *c = object->child; c; c = c->next) keys[k++] = c->string;
    qsort(keys, count, sizeof *keys, compare_strings);
    afloc_status status = AFLOC_OK;
    for (k = 1; k < count; k++)
        if (strcmp(keys[k - 1], keys[k]) == 0) {
            status = afloc_fail(AFLOC_ERR_FORMAT, "%s: duplicate key \"%.64s\" in %s", function, keys[k], where);
            break;
        }
    afloc_free(keys);
    return status;
}

/* Recursively refuses duplicate keys in every object of a tree (depth is already capped). */
static afloc_status check_unique_keys_deep(const cJSON *item, const char *function) {
    if (cJSON_IsObject(item)) AFLOC_TRY(afloc_st_json_unique_keys(item, "a JSON object", function));
    for (const cJSON *c = item->child; c; c = c->next) AFLOC_TRY(check_unique_keys_deep(c, function));
    return AFLOC_OK;
}

afloc_status afloc_st_json_parse_strict(const char *text, size_t length, const char *function,
                                        void **out) {
    if (!function) function = "afloc_st_json_parse_strict";
    if (!text || !out) return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL argument", function);
    size_t bad = afloc_st_utf8_invalid_at((const unsigned char *)text, length);
    if (bad != length)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: JSON is not valid UTF-8 at byte %zu", function, bad);
    size_t members = 0;
    AFLOC_TRY(afloc_st_json_prescan(text, length, 0, (size_t)1 << 20, &members, function));
    char *copy = afloc_malloc(length + 1);
    if (!copy) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: cannot copy %zu bytes of JSON", function, length);
    memcpy(copy, text, length);
    copy[length] = '\0';
    cJSON *root = cJSON_ParseWithLength(copy, length);
    afloc_free(copy);
    if (!root) return afloc_fail(AFLOC_ERR_FORMAT, "%s: text is not valid JSON", function);
    afloc_status status = check_unique_keys_deep(root, function);
    if (status != AFLOC_OK) {
        cJSON_Delete(root);
        return status;
    }
    *out = root;
    return AFLOC_OK;
}

