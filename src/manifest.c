/* manifest.c: reads the training manifest CSV (RFC 4180) into rows of image path + report, with
 * validation (issue 4: the data side of the trainer). */
#include "manifest.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "file_io.h"
#include "text_clean.h"

#define MANIFEST_MAX_PATH 4096 /* longest image path (as written and as resolved), bytes */

/* A growable array of `elem`-byte items: makes room for `need` items. */
static afloc_status reserve(void **items, size_t *capacity, size_t need, size_t elem, const char *function) {
    if (need <= *capacity) return AFLOC_OK;
    size_t cap = *capacity ? *capacity : 16;
    while (cap < need) cap *= 2;
    void *grown = afloc_realloc(*items, cap * elem);
    if (!grown)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory reading the manifest (%zu bytes)",
                          function, cap * elem);
    *items = grown;
    *capacity = cap;
    return AFLOC_OK;
}

/* Length of the valid UTF-8 prefix of s[0..n) with no NUL (strict: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Equals n when the whole field is valid. */
static size_t utf8_valid_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c == 0) return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else
            return i;
        if (i + len > n) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += len;
    }
    return n;
}

/* The parser's state: input, position and the current line; one record's unescaped fields. */
typedef struct csv_parser {
    const unsigned char *data;
    size_t size, pos;
    int64_t line;     /* 1-based line of data[pos] */
    const char *name; /* file name for messages    */
    const char *function;
    char *text; /* unescaped fields of the current record, back to back */
    size_t text_len, text_cap;
    size_t *starts; /* (fields) offset of each field in text */
    size_t *lengths;
    size_t fields, starts_cap, lengths_cap;
    int first_quoted; /* the first field was quoted (so the line is not blank) */
} csv_parser;

static afloc_status push_byte(csv_parser *p, unsigned char c) {
    AFLOC_TRY(reserve((void **)&p->text, &p->text_cap, p->text_len + 1, 1, p->function));
    p->text[p->text_len++] = (char)c;
    return AFLOC_OK;
}

/* Reads one record into p->fields. *got = 0 at the end of the input. *record_line receives the
 * line on which the record starts. */
static afloc_status read_record(csv_parser *p, int *got, int64_t *record_line) {
    p->text_len = 0;
    p->fields = 0;
    p->first_quoted = 0;
    *got = 0;
    AFLOC_TRY(reserve((void **)&p->text, &p->text_cap, 1, 1, p->function)); /* never NULL below */
    if (p->pos >= p->size) return AFLOC_OK;
    *got = 1;
    *record_line = p->line;
    for (;;) {
        AFLOC_TRY(reserve((void **)&p->starts, &p->starts_cap, p->fields + 1, sizeof(size_t), p->function));
        AFLOC_TRY(reserve((void **)&p->lengths, &p->lengths_cap, p->fields + 1, sizeof(size_t), p->function));
        size_t start = p->text_len;
        int64_t field_line = p->line;
        int column = (int)p->fields + 1;
        int end_of_record = 0;
        if (p->pos < p->size && p->data[p->pos] == '"') {
            if (p->fields == 0) p->first_quoted = 1;
            p->pos++;
            for (;;) {
                if (p->pos >= p->size)
                    return afloc_fail(AFLOC_ERR_FORMAT,
                                      "%s: %s line %lld: unterminated quoted field (column %d)", p->function,
                                      p->name, (long long)field_line, column);
                unsigned char c = p->data[p->pos];
                if (c == '"') {
                    if (p->pos + 1 < p->size && p->data[p->pos + 1] == '"') {
                        AFLOC_TRY(push_byte(p, '"'));
                        p->pos += 2;
                        continue;
                    }
                    p->pos++;
                    break;
                }
                if (c == '\n') p->line++;
                AFLOC_TRY(push_byte(p, c));
                p->pos++;
            }
            if (p->pos >= p->size) {
                end_of_record = 1;
            } else if (p->data[p->pos] == ',') {
                p->pos++;
            } else if (p->data[p->pos] == '\n') {
                p->pos++, p->line++, end_of_record = 1;
            } else if (p->data[p->pos] == '\r' && p->pos + 1 < p->size && p->data[p->pos + 1] == '\n') {
                p->pos += 2, p->line++, end_of_record = 1;
            } else {
                return afloc_fail(AFLOC_ERR_FORMAT,
                                  "%s: %s line %lld, column %d: unexpected character after a closing quote",
                                  p->function, p->name, (long long)p->line, column);
            }
        } else {
            for (;;) {
                if (p->pos >= p->size) {
                    end_of_record = 1;
                    break;
                }
                unsigned char c = p->data[p->pos];
                if (c == ',') {
                    p->pos++;
                    break;
                }
                if (c == '\n') {
                    p->pos++, p->line++, end_of_record = 1;
                    break;
                }
                if (c == '\r' && p->pos + 1 < p->size && p->data[p->pos + 1] == '\n') {
                    p->pos += 2, p->line++, end_of_record = 1;
                    break;
                }
                if (c == '"')
                    return afloc_fail(AFLOC_ERR_FORMAT,
                                      "%s: %s line %lld, column %d: quote inside an unquoted field",
                                      p->function, p->name, (long long)p->line, column);
                AFLOC_TRY(push_byte(p, c));
                p->pos++;
            }
        }
        size_t length = p->text_len - start;
        size_t valid = utf8_valid_prefix((const unsigned char *)p->text + start, length);
        if (valid != length)
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s line %lld, column %d: %s at byte %zu of the field",
                              p->function, p->name, (long long)field_line, column,
                              p->text[start + valid] == 0 ? "NUL byte" : "invalid UTF-8", valid);
        p->starts[p->fields] = start;
        p->lengths[p->fields] = length;
        p->fields++;
        if (end_of_record) return AFLOC_OK;
    }
}

/* One kept row while parsing: offsets into the storage buffer. */
typedef struct pending_row {
    size_t path_offset, report_offset, report_len;
    int64_t line;
} pending_row;

/* Appends `n` bytes and a NUL to the storage; *offset receives where they start. */
static afloc_status store(char **storage, size_t *len, size_t *cap, const char *bytes, size_t n,
                          size_t *offset, const char *function) {
    AFLOC_TRY(reserve((void **)storage, cap, *len + n + 1, 1, function));
    *offset = *len;
    if (n) memcpy(*storage + *len, bytes, n);
    (*storage)[*len + n] = '\0';
    *len += n + 1;
    return AFLOC_OK;
}

typedef struct parse_state {
    csv_parser p;
    pending_row *rows;
    size_t rows_len, rows_cap;
    char *storage;
    size_t storage_len, storage_cap;
} parse_state;

static void parse_state_free(parse_state *s) {
    afloc_free(s->p.text);
    afloc_free(s->p.starts);
    afloc_free(s->p.lengths);
    afloc_free(s->rows);
    afloc_free(s->storage);
}

static afloc_status parse_rows(parse_state *s, const char *base_dir, int32_t *dropped, const char *function) {
    csv_parser *p = &s->p;
    int got = 0;
    int64_t line = 1;
    AFLOC_TRY(read_record(p, &got, &line));
    if (!got)
        return afloc_fail(AFLOC_ERR_FORMAT,
                          "%s: %s is empty (a header row with columns \"image\" and \"report\" is required)",
                          function, p->name);
    size_t header_fields = p->fields, image_col = (size_t)-1, report_col = (size_t)-1;
    for (size_t f = 0; f < p->fields; f++) {
        const char *field = p->text + p->starts[f];
        size_t len = p->lengths[f];
        size_t *col = (len == 5 && memcmp(field, "image", 5) == 0)    ? &image_col
                      : (len == 6 && memcmp(field, "report", 6) == 0) ? &report_col
                                                                      : NULL;
        if (!col) continue;
        if (*col != (size_t)-1)
            return afloc_fail(AFLOC_ERR_FORMAT,
                              "%s: %s line %lld: column \"%.*s\" appears twice in the header", function,
                              p->name, (long long)line, (int)len, field);
        *col = f;
    }
    if (image_col == (size_t)-1 || report_col == (size_t)-1)
        return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s line %lld: the header has no column \"%s\"", function,
                          p->name, (long long)line, image_col == (size_t)-1 ? "image" : "report");
    size_t base_len = base_dir ? strlen(base_dir) : 0;
    int64_t records = 0;
    *dropped = 0;
    for (;;) {
        AFLOC_TRY(read_record(p, &got, &line));
        if (!got) break;
        if (p->fields == 1 && p->lengths[0] == 0 && !p->first_quoted) continue; /* blank line */
        if (++records > AFLOC_MANIFEST_MAX_ROWS)
            return afloc_fail(AFLOC_ERR_LIMIT, "%s: %s line %lld: more than %d data rows", function, p->name,
                              (long long)line, AFLOC_MANIFEST_MAX_ROWS);
        if (p->fields != header_fields)
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s line %lld: %zu fields, the header has %zu", function,
                              p->name, (long long)line, p->fields, header_fields);
        const char *path = p->text + p->starts[image_col];
        size_t path_len = p->lengths[image_col];
        const char *report = p->text + p->starts[report_col];
        size_t report_len = p->lengths[report_col];
        if (path_len == 0)
            return afloc_fail(AFLOC_ERR_FORMAT, "%s: %s line %lld, column %zu: empty image path", function,
                              p->name, (long long)line, image_col + 1);
        int relative = path[0] != '/' && base_len > 0;
        if (path_len + (relative ? base_len + 1 : 0) > MANIFEST_MAX_PATH)
            return afloc_fail(AFLOC_ERR_LIMIT,
                              "%s: %s line %lld, column %zu: image path longer than %d bytes", function,
                              p->name, (long long)line, image_col + 1, MANIFEST_MAX_PATH);
        if (report_len > AFLOC_MAX_TEXT_BYTES)
            return afloc_fail(AFLOC_ERR_LIMIT,
                              "%s: %s line %lld, column %zu: report of %zu bytes, the limit is %u", function,
                              p->name, (long long)line, report_col + 1, report_len,
                              (unsigned)AFLOC_MAX_TEXT_BYTES);
        afloc_text_sentences sentences = {0};
        AFLOC_TRY(afloc_text_clean_sentences(report, report_len, 0, &sentences, function));
        int32_t kept = sentences.count;
        afloc_text_sentences_free(&sentences);
        if (kept == 0) {
            (*dropped)++;
            continue;
        }
        AFLOC_TRY(reserve((void **)&s->rows, &s->rows_cap, s->rows_len + 1, sizeof(pending_row), function));
        pending_row *row = &s->rows[s->rows_len];
        row->line = line;
        row->report_len = report_len;
        /* Resolve "dir/rel" as one string: store base and '/' first, then the path after them. */
        char joined[MANIFEST_MAX_PATH + 1];
        size_t joined_len = 0;
        if (relative) {
            memcpy(joined, base_dir, base_len);
            joined[base_len] = '/';
            joined_len = base_len + 1;
        }
        memcpy(joined + joined_len, path, path_len);
        joined_len += path_len;
        AFLOC_TRY(store(&s->storage, &s->storage_len, &s->storage_cap, joined, joined_len, &row->path_offset,
                        function));
        /* `report` points into p->text, which store() does not touch. */
        AFLOC_TRY(store(&s->storage, &s->storage_len, &s->storage_cap, report, report_len,
                        &row->report_offset, function));
        s->rows_len++;
    }
    if (s->rows_len == 0)
        return afloc_fail(AFLOC_ERR_FORMAT,
                          "%s: %s has no usable rows (%d dropped for an empty cleaned report)", function,
                          p->name, *dropped);
    return AFLOC_OK;
}

afloc_status afloc_manifest_parse(const char *data, size_t size, const char *name, const char *base_dir,
                                  int32_t check_files, afloc_manifest **out, int32_t *dropped_empty,
                                  const char *function) {
    if (!function) function = "afloc_manifest_parse";
    if ((!data && size) || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL manifest data or output", function);
    if (size > AFLOC_MANIFEST_MAX_BYTES)
        return afloc_fail(AFLOC_ERR_LIMIT, "%s: manifest of %zu bytes, the limit is %zu", function, size,
                          AFLOC_MANIFEST_MAX_BYTES);
    if (!name) name = "manifest";
    parse_state s;
    memset(&s, 0, sizeof s);
    s.p.data = (const unsigned char *)data;
    s.p.size = size;
    s.p.line = 1;
    s.p.name = name;
    s.p.function = function;
    if (size >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0) s.p.pos = 3;
    int32_t dropped = 0;
    afloc_status status = parse_rows(&s, base_dir, &dropped, function);
    if (status == AFLOC_OK && check_files) {
        for (size_t r = 0; r < s.rows_len; r++) {
            const char *path = s.storage + s.rows[r].path_offset;
            if (access(path, R_OK) != 0) {
                int err = errno;
                status = afloc_fail(AFLOC_ERR_IO, "%s: %s line %lld: image \"%s\" is not readable (%s)",
                                    function, name, (long long)s.rows[r].line, path, strerror(err));
                break;
            }
        }
    }
    afloc_manifest *m = NULL;
    if (status == AFLOC_OK) {
        m = afloc_calloc(1, sizeof *m);
        if (m) m->rows = afloc_calloc(s.rows_len, sizeof *m->rows);
        if (!m || !m->rows) {
            afloc_free(m);
            m = NULL;
            status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for %zu manifest rows", function,
                                s.rows_len);
        }
    }
    if (status != AFLOC_OK) {
        parse_state_free(&s);
        return status;
    }
    for (size_t r = 0; r < s.rows_len; r++) {
        m->rows[r].image_path = s.storage + s.rows[r].path_offset;
        m->rows[r].report = s.storage + s.rows[r].report_offset;
        m->rows[r].report_len = s.rows[r].report_len;
        m->rows[r].line = s.rows[r].line;
    }
    m->count = (int32_t)s.rows_len;
    m->dropped_empty = dropped;
    m->storage = s.storage;
    s.storage = NULL;
    size_t name_len = strlen(name);
    if (name_len >= sizeof m->name) name_len = sizeof m->name - 1;
    memcpy(m->name, name, name_len);
    m->name[name_len] = '\0';
    parse_state_free(&s);
    if (dropped_empty) *dropped_empty = dropped;
    *out = m;
    return AFLOC_OK;
}

afloc_status afloc_manifest_load(const char *path, afloc_manifest **out, int32_t *dropped_empty,
                                 const char *function) {
    if (!function) function = "afloc_manifest_load";
    if (!path || !out)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: NULL manifest path or output", function);
    const char *slash = strrchr(path, '/');
    char base[MANIFEST_MAX_PATH + 1];
    base[0] = '\0';
    if (slash) {
        size_t base_len = (size_t)(slash - path);
        if (base_len > MANIFEST_MAX_PATH)
            return afloc_fail(AFLOC_ERR_LIMIT, "%s: manifest path longer than %d bytes", function,
                              MANIFEST_MAX_PATH);
        if (base_len == 0) { /* "/x.csv": the root folder */
            base[0] = '/';
            base[1] = '\0';
        } else {
            memcpy(base, path, base_len);
            base[base_len] = '\0';
        }
    }
    const char *name = slash ? slash + 1 : path;
    unsigned char *data = NULL;
    size_t size = 0;
    AFLOC_TRY(afloc_read_file(path, AFLOC_MANIFEST_MAX_BYTES, function, &data, &size));
    afloc_status status =
        afloc_manifest_parse((const char *)data, size, name, base, 1, out, dropped_empty, function);
    afloc_free(data);
    return status;
}

void afloc_manifest_free(afloc_manifest *manifest) {
    if (!manifest) return;
    afloc_free(manifest->rows);
    afloc_free(manifest->storage);
    afloc_free(manifest);
}
