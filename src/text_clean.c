/* text_clean.c: the sentence cleaning of the AFLoc reference (MODEL.md §4.1-4.3), written to be
 * read against the Python it reproduces:
 *     for cap in re.split(r"[0-9]+\.", text.replace("\n", " ")) -> each split on "." :
 *         tokens = re.findall(r"\w+", cap.replace("\ufffd\ufffd", " ").lower())
 *         if len(tokens) <= 1: continue
 *         kept = [t.encode("ascii", "ignore").decode() for t in tokens] without the empty ones
 *         sentence = " ".join(kept); cnt += len(kept); stop when cnt == captions_per_image
 * Equivalences used: the two splits together cut the text at every '.', and a run of ASCII digits
 * directly before a '.' disappears with it; "\n" and U+FFFD are never \w, so replacing them by a
 * space changes no token. Python's str.lower() keeps every non-ASCII character non-ASCII and keeps
 * its \w-ness, except U+0130 (-> "i" + U+0307, a non-word mark) and U+212A KELVIN SIGN (-> "k"),
 * which scripts/gen_unicode_tables.py checks. */
#include "text_clean.h"

#include <string.h>

#include "alloc.h"
#include "error.h"
#include "unicode.h"

void afloc_text_sentences_free(afloc_text_sentences *sentences) {
    if (!sentences) return;
    afloc_free(sentences->text);
    afloc_free(sentences->starts);
    afloc_free(sentences->words);
    memset(sentences, 0, sizeof *sentences);
}

/* Cleans one candidate sentence `s[0..size)` into `out`, returning the bytes written; *tokens gets
 * the \w+ token count before deletion and *kept the tokens that survive it. */
static size_t clean_candidate(const unsigned char *s, size_t size, char *out, int32_t *tokens,
                              int32_t *kept) {
    size_t written = 0, pos = 0;
    int in_token = 0;       /* inside a \w+ run                        */
    size_t token_start = 0; /* where the current token's ASCII began  */
    *tokens = 0;
    *kept = 0;
    while (pos < size) {
        uint32_t cp = afloc_utf8_next(s, size, &pos);
        uint32_t ascii = 0; /* the lowercased ASCII character to keep, or 0 */
        int word;
        int ends_after = 0; /* U+0130 lowers to "i" + a mark that ends the token */
        if (cp < 0x80) {
            ascii = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
            word = afloc_unicode_is_word(cp);
        } else if (cp == 0x130) {
            ascii = 'i';
            word = 1;
            ends_after = 1;
        } else if (cp == 0x212A) {
            ascii = 'k';
            word = 1;
        } else {
            word = afloc_unicode_is_word(cp);
        }
        if (word && !in_token) {
            in_token = 1;
            (*tokens)++;
            if (*kept > 0 || written > 0) out[written++] = ' '; /* tentative separator */
            token_start = written;
        }
        if (word && ascii) out[written++] = (char)ascii;
        if ((!word || ends_after) && in_token) {
            in_token = 0;
            if (written == token_start) { /* every character was non-ASCII: drop the token */
                if (token_start > 0) written = token_start - 1;
                else written = 0;
            } else {
                (*kept)++;
            }
        }
    }
    if (in_token) {
        if (written == token_start) written = token_start > 0 ? token_start - 1 : 0;
        else (*kept)++;
    }
    return written;
}

afloc_status afloc_text_clean_sentences(const char *text, size_t text_len, int32_t stop_at_words,
                                        afloc_text_sentences *out, const char *function) {
    if (!out || (!text && text_len))
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: text or out is NULL", function);
    if (text_len > AFLOC_MAX_TEXT_BYTES)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: text is %zu bytes (limit %u)", function, text_len,
                          (unsigned)AFLOC_MAX_TEXT_BYTES);
    size_t dots = 0;
    for (size_t i = 0; i < text_len; i++) dots += text[i] == '.';
    afloc_text_sentences s = {0};
    s.text = afloc_malloc(text_len + 1);
    s.starts = afloc_malloc((dots + 1) * sizeof *s.starts);
    s.words = afloc_malloc((dots + 1) * sizeof *s.words);
    if (!s.text || !s.starts || !s.words) {
        afloc_text_sentences_free(&s);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory to clean %zu bytes of text",
                          function, text_len);
    }
    const unsigned char *in = (const unsigned char *)text;
    size_t written = 0, begin = 0;
    int64_t running = 0;
    while (begin <= text_len) {
        const unsigned char *dot = text_len > begin ? memchr(in + begin, '.', text_len - begin) : NULL;
        size_t end = dot ? (size_t)(dot - in) : text_len;
        size_t stop = end;
        if (dot) /* "[0-9]+\." removes the digits directly before this '.' */
            while (stop > begin && in[stop - 1] >= '0' && in[stop - 1] <= '9') stop--;
        int32_t tokens = 0, kept = 0;
        size_t length = clean_candidate(in + begin, stop - begin, s.text + written, &tokens, &kept);
        if (tokens > 1) {
            s.starts[s.count] = written;
            s.words[s.count] = kept;
            s.count++;
            written += length;
            s.text[written++] = '\0';
            running += kept;
            if (stop_at_words > 0 && running == stop_at_words) break;
        }
        if (!dot) break;
        begin = end + 1;
    }
    *out = s;
    return AFLOC_OK;
}

size_t afloc_text_sentences_joined_size(const afloc_text_sentences *s) {
    size_t total = 1; /* the NUL */
    for (int32_t i = 0; i < s->count; i++) total += strlen(s->text + s->starts[i]) + (i > 0);
    return total;
}

size_t afloc_text_sentences_join(const afloc_text_sentences *s, char *out) {
    size_t pos = 0;
    for (int32_t i = 0; i < s->count; i++) {
        if (i > 0) out[pos++] = ' ';
        size_t length = strlen(s->text + s->starts[i]);
        memcpy(out + pos, s->text + s->starts[i], length);
        pos += length;
    }
    out[pos] = '\0';
    return pos;
}

afloc_status afloc_text_clean_prompt(const char *text, size_t text_len, char *out,
                                     size_t capacity, size_t *needed) {
    static const char *fn = "afloc_text_clean_prompt";
    afloc_text_sentences s;
    AFLOC_TRY(afloc_text_clean_sentences(text, text_len, 0, &s, fn));
    size_t total = afloc_text_sentences_joined_size(&s);
    if (needed) *needed = total;
    if (out && capacity < total) {
        afloc_text_sentences_free(&s);
        return afloc_fail(AFLOC_ERR_BUFFER_TOO_SMALL, "%s: capacity %zu, need %zu", fn, capacity,
                          total);
    }
    if (out) afloc_text_sentences_join(&s, out);
    afloc_text_sentences_free(&s);
    return AFLOC_OK;
}
