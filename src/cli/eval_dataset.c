/* eval_dataset.c: reads and checks the held-out files of an `afloc synth` dataset for
 * `afloc eval`: an RFC 4180 CSV reader (quoted fields with "" escapes and line breaks, LF or CRLF),
 * then test.csv (image,prompt,category,side,x0,y0,x1,y1,group), labels.csv (image,<class>...),
 * classes.csv (class,positive,negative) and dataset.json. Columns are found by header name, so
 * their order is free; every error names the file and the line the record starts on. */
#include "eval_dataset.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "cli_file.h"

/* ---- CSV ---- */

typedef struct csv_record {
    int32_t line;    /* physical line the record starts on, 1-based */
    int32_t fields;
    char  **field;   /* point into csv_file.text storage             */
} csv_record;

typedef struct csv_file {
    char       *store;   /* all field texts, NUL-separated */
    int32_t     records;
    csv_record *record;
} csv_file;

static void csv_free(csv_file *f) {
    for (int32_t i = 0; i < f->records; i++) free(f->record[i].field);
    free(f->record);
    free(f->store);
    memset(f, 0, sizeof *f);
}

static int add_field(csv_record *r, char *text) {
    char **bigger = realloc(r->field, (size_t)(r->fields + 1) * sizeof *bigger);
    if (!bigger) return 1;
    r->field = bigger;
    r->field[r->fields++] = text;
    return 0;
}

/* Parses `path` whole. Fields are unquoted in place into a copy of the text (a field never grows
 * when unquoted, so the copy is big enough). Blank lines are skipped. */
static int csv_read(const char *path, const char *name, csv_file *f, char *err, size_t err_size) {
    memset(f, 0, sizeof *f);
    size_t size = 0;
    char *text = cli_read_file(path, &size);
    if (!text) {
        snprintf(err, err_size, "%s: cannot read: %s", name, strerror(errno ? errno : EIO));
        return 1;
    }
    if (memchr(text, '\0', size)) {
        snprintf(err, err_size, "%s: contains a NUL byte (not a text file)", name);
        free(text);
        return 1;
    }
    f->store = malloc(size + 1);
    size_t cap = 0;
    int32_t line = 1;
    size_t i = 0, o = 0;
    if (size >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) i = 3; /* a UTF-8 byte-order mark */
    while (f->store && i < size) {
        if (text[i] == '\n' || (text[i] == '\r' && i + 1 < size && text[i + 1] == '\n')) {
            i += text[i] == '\r' ? 2 : 1; /* blank line */
            line++;
            continue;
        }
        if ((size_t)f->records == cap) {
            cap = cap ? 2 * cap : 64;
            csv_record *bigger = realloc(f->record, cap * sizeof *bigger);
            if (!bigger) goto oom;
            f->record = bigger;
        }
        csv_record *r = &f->record[f->records++];
        memset(r, 0, sizeof *r);
        r->line = line;
        for (;;) { /* one field per pass */
            char *start = f->store + o;
            if (i < size && text[i] == '"') {
                i++;
                for (;;) {
                    if (i >= size) {
                        snprintf(err, err_size, "%s:%d: quoted field never closed", name, r->line);
                        goto fail;
                    }
                    if (text[i] == '"' && i + 1 < size && text[i + 1] == '"') {
                        f->store[o++] = '"';
                        i += 2;
                    } else if (text[i] == '"') {
                        i++;
                        break;
                    } else {
                        if (text[i] == '\n') line++;
                        f->store[o++] = text[i++];
                    }
                }
                if (i < size && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    snprintf(err, err_size, "%s:%d: text after a closing quote", name, line);
                    goto fail;
                }
            } else {
                while (i < size && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                    if (text[i] == '"') {
                        snprintf(err, err_size, "%s:%d: quote inside an unquoted field", name, line);
                        goto fail;
                    }
                    f->store[o++] = text[i++];
                }
            }
            f->store[o++] = '\0';
            if (add_field(r, start)) goto oom;
            if (i < size && text[i] == ',') {
                i++;
                continue;
            }
            if (i < size && text[i] == '\r') i++;
            if (i < size && text[i] == '\n') i++;
            line++;
            break;
        }
    }
    if (!f->store) goto oom;
    free(text);
    return 0;
oom:
    snprintf(err, err_size, "%s: out of memory", name);
fail:
    free(text);
    csv_free(f);
    return 1;
}

/* Column `want` of the header record, or -1 with a message. */
static int column(const csv_file *f, const char *name, const char *want, char *err, size_t err_size) {
    for (int32_t c = 0; c < f->record[0].fields; c++)
        if (!strcmp(f->record[0].field[c], want)) return c;
    snprintf(err, err_size, "%s:%d: missing column '%s' in the header", name, f->record[0].line, want);
    return -1;
}

static int check_header(const csv_file *f, const char *name, char *err, size_t err_size) {
    if (f->records == 0) {
        snprintf(err, err_size, "%s: empty file (no header)", name);
        return 1;
    }
    for (int32_t r = 1; r < f->records; r++) {
        if (f->record[r].fields != f->record[0].fields) {
            snprintf(err, err_size, "%s:%d: %d fields, the header has %d", name, f->record[r].line,
                     (int)f->record[r].fields, (int)f->record[0].fields);
            return 1;
        }
    }
    return 0;
}

static int parse_int(const char *s, const char *name, int32_t line, const char *col, int32_t *out,
                     char *err, size_t err_size) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || isspace((unsigned char)*s) || *end || errno || v < INT32_MIN || v > INT32_MAX) {
        snprintf(err, err_size, "%s:%d: column '%s': '%s' is not an integer", name, (int)line, col, s);
        return 1;
    }
    *out = (int32_t)v;
    return 0;
}

static char *dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---- the dataset files ---- */

static int read_classes(const char *dir, eval_dataset *d, char *err, size_t err_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/classes.csv", dir);
    csv_file f;
    if (csv_read(path, path, &f, err, err_size)) return 1;
    int rc = 1, cn, cp, cneg;
    if (check_header(&f, path, err, err_size) || (cn = column(&f, path, "class", err, err_size)) < 0 ||
        (cp = column(&f, path, "positive", err, err_size)) < 0 ||
        (cneg = column(&f, path, "negative", err, err_size)) < 0)
        goto done;
    if (f.records < 2) {
        snprintf(err, err_size, "%s: no classes (header only)", path);
        goto done;
    }
    /* Each row is a (positive, negative) pair of its class; a class on several rows classifies
     * with the ensembles of its positives and of its negatives (afloc_prompt_set_create_ensembles). */
    int32_t p = f.records - 1;
    d->class_name = calloc((size_t)p, sizeof(char *));
    d->pair_class = calloc((size_t)p, sizeof(int32_t));
    d->pair_positive = calloc((size_t)p, sizeof(char *));
    d->pair_negative = calloc((size_t)p, sizeof(char *));
    if (!d->class_name || !d->pair_class || !d->pair_positive || !d->pair_negative) goto oom;
    for (int32_t i = 0; i < p; i++) {
        const csv_record *r = &f.record[i + 1];
        if (!r->field[cn][0] || !r->field[cp][0] || !r->field[cneg][0]) {
            snprintf(err, err_size, "%s:%d: empty class name or prompt", path, (int)r->line);
            goto done;
        }
        for (int32_t j = 0; j < i; j++) {
            if (!strcmp(d->class_name[d->pair_class[j]], r->field[cn]) &&
                !strcmp(d->pair_positive[j], r->field[cp]) && !strcmp(d->pair_negative[j], r->field[cneg])) {
                snprintf(err, err_size, "%s:%d: class '%s' with the same prompts listed twice", path,
                         (int)r->line, r->field[cn]);
                goto done;
            }
        }
        int32_t k = 0;
        while (k < d->classes && strcmp(d->class_name[k], r->field[cn])) k++;
        if (k == d->classes && !(d->class_name[d->classes++] = dup(r->field[cn]))) goto oom;
        d->pair_class[i] = k;
        d->pairs = i + 1;
        d->pair_positive[i] = dup(r->field[cp]);
        d->pair_negative[i] = dup(r->field[cneg]);
        if (!d->pair_positive[i] || !d->pair_negative[i]) goto oom;
    }
    rc = 0;
    goto done;
oom:
    snprintf(err, err_size, "%s: out of memory", path);
done:
    csv_free(&f);
    return rc;
}

static int32_t find_class(const eval_dataset *d, const char *name) {
    for (int32_t i = 0; i < d->classes; i++)
        if (!strcmp(d->class_name[i], name)) return i;
    return -1;
}

/* Index of image `path`, added when new; -1 when out of memory. */
static int32_t image_index(eval_dataset *d, const char *path) {
    for (int32_t i = d->images - 1; i >= 0; i--)
        if (!strcmp(d->image[i].path, path)) return i;
    eval_image *bigger = realloc(d->image, (size_t)(d->images + 1) * sizeof *bigger);
    if (!bigger) return -1;
    d->image = bigger;
    eval_image *im = &d->image[d->images];
    memset(im, 0, sizeof *im);
    if (!(im->path = dup(path))) return -1;
    return d->images++;
}

static int read_labels(const char *dir, int32_t limit, eval_dataset *d, char *err, size_t err_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    csv_file f;
    if (csv_read(path, path, &f, err, err_size)) return 1;
    int rc = 1, ci;
    int32_t *col = NULL;
    if (check_header(&f, path, err, err_size) || (ci = column(&f, path, "image", err, err_size)) < 0)
        goto done;
    const csv_record *h = &f.record[0];
    for (int32_t c = 0; c < h->fields; c++) {
        if (c != ci && find_class(d, h->field[c]) < 0) {
            snprintf(err, err_size, "%s:%d: column '%s' is not a class of classes.csv", path,
                     (int)h->line, h->field[c]);
            goto done;
        }
    }
    if (!(col = malloc((size_t)d->classes * sizeof *col))) goto oom;
    for (int32_t k = 0; k < d->classes; k++)
        if ((col[k] = column(&f, path, d->class_name[k], err, err_size)) < 0) goto done;
    int32_t n = f.records - 1;
    if (limit > 0 && n > limit) n = limit;
    if (n > 0 && !(d->label = malloc((size_t)n * (size_t)d->classes * sizeof *d->label))) goto oom;
    for (int32_t i = 0; i < n; i++) {
        const csv_record *r = &f.record[i + 1];
        if (!r->field[ci][0]) {
            snprintf(err, err_size, "%s:%d: empty image path", path, (int)r->line);
            goto done;
        }
        int32_t before = d->images, idx = image_index(d, r->field[ci]);
        if (idx < 0) goto oom;
        if (idx < before) {
            snprintf(err, err_size, "%s:%d: image '%s' listed twice", path, (int)r->line, r->field[ci]);
            goto done;
        }
        for (int32_t k = 0; k < d->classes; k++) {
            const char *v = r->field[col[k]];
            if (strcmp(v, "0") && strcmp(v, "1")) {
                snprintf(err, err_size, "%s:%d: column '%s': '%s' is not 0 or 1", path, (int)r->line,
                         d->class_name[k], v);
                goto done;
            }
            d->label[(size_t)i * (size_t)d->classes + (size_t)k] = v[0] == '1';
        }
        d->labelled = i + 1;
    }
    rc = 0;
    goto done;
oom:
    snprintf(err, err_size, "%s: out of memory", path);
done:
    free(col);
    csv_free(&f);
    return rc;
}

static const char *const test_columns[9] = {"image", "prompt", "category", "side", "x0", "y0",
                                            "x1", "y1", "group"};

static int read_row(const char *path, const csv_record *r, const int32_t *c, eval_dataset *d,
                    eval_row *row, char *err, size_t err_size) {
    memset(row, 0, sizeof *row);
    row->line = r->line;
    const char *img = r->field[c[0]], *cat = r->field[c[2]], *side = r->field[c[3]];
    if (!img[0] || !r->field[c[1]][0]) {
        snprintf(err, err_size, "%s:%d: empty %s", path, (int)r->line, img[0] ? "prompt" : "image path");
        return 1;
    }
    if ((row->category = find_class(d, cat)) < 0) {
        snprintf(err, err_size, "%s:%d: category '%s' is not a class of classes.csv", path, (int)r->line, cat);
        return 1;
    }
    if (!strcmp(side, "none")) row->side = EVAL_SIDE_NONE;
    else if (!strcmp(side, "left")) row->side = EVAL_SIDE_LEFT;
    else if (!strcmp(side, "right")) row->side = EVAL_SIDE_RIGHT;
    else if (!strcmp(side, "bilateral")) row->side = EVAL_SIDE_BILATERAL;
    else {
        snprintf(err, err_size, "%s:%d: side '%s' is not left, right, bilateral or none", path,
                 (int)r->line, side);
        return 1;
    }
    int32_t *num[5] = {&row->x0, &row->y0, &row->x1, &row->y1, &row->group};
    for (int j = 0; j < 5; j++)
        if (parse_int(r->field[c[4 + j]], path, r->line, test_columns[4 + j], num[j], err, err_size))
            return 1;
    if (row->x0 < 0 || row->y0 < 0 || row->x1 <= row->x0 || row->y1 <= row->y0) {
        snprintf(err, err_size, "%s:%d: box (%d, %d, %d, %d) is empty or negative (need 0 <= x0 < x1, "
                 "0 <= y0 < y1)", path, (int)r->line, (int)row->x0, (int)row->y0, (int)row->x1, (int)row->y1);
        return 1;
    }
    if (row->group < 1) {
        snprintf(err, err_size, "%s:%d: group %d is not >= 1", path, (int)r->line, (int)row->group);
        return 1;
    }
    row->image = dup(img);
    row->prompt = dup(r->field[c[1]]);
    row->image_index = image_index(d, img);
    if (!row->image || !row->prompt || row->image_index < 0) {
        snprintf(err, err_size, "%s: out of memory", path);
        return 1;
    }
    return 0;
}

static int read_test(const char *dir, int32_t limit, eval_dataset *d, char *err, size_t err_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/test.csv", dir);
    csv_file f;
    if (csv_read(path, path, &f, err, err_size)) return 1;
    int rc = 1;
    int32_t c[9];
    if (check_header(&f, path, err, err_size)) goto done;
    for (int j = 0; j < 9; j++)
        if ((c[j] = column(&f, path, test_columns[j], err, err_size)) < 0) goto done;
    int32_t n = f.records - 1;
    if (limit > 0 && n > limit) n = limit;
    if (n == 0) {
        snprintf(err, err_size, "%s: no rows (header only)", path);
        goto done;
    }
    if (!(d->row = calloc((size_t)n, sizeof *d->row))) {
        snprintf(err, err_size, "%s: out of memory", path);
        goto done;
    }
    for (int32_t i = 0; i < n; i++) {
        d->rows = i + 1;
        if (read_row(path, &f.record[i + 1], c, d, &d->row[i], err, err_size)) goto done;
    }
    rc = 0;
done:
    csv_free(&f);
    return rc;
}

static int read_info(const char *dir, eval_dataset *d, char *err, size_t err_size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    size_t size = 0;
    char *text = cli_read_file(path, &size);
    if (!text) return 0; /* optional: metrics.json then says null */
    size_t a = 0, b = size;
    while (a < b && isspace((unsigned char)text[a])) a++;
    while (b > a && isspace((unsigned char)text[b - 1])) b--;
    if (b - a < 2 || text[a] != '{' || text[b - 1] != '}' || memchr(text, '\0', size)) {
        snprintf(err, err_size, "%s: not a JSON object", path);
        free(text);
        return 1;
    }
    memmove(text, text + a, b - a);
    text[b - a] = '\0';
    d->info_json = text;
    return 0;
}

int eval_dataset_load(const char *dir, int32_t limit, eval_dataset *d, char *err, size_t err_size) {
    memset(d, 0, sizeof *d);
    if (read_classes(dir, d, err, err_size) || read_labels(dir, limit, d, err, err_size) ||
        read_test(dir, limit, d, err, err_size) || read_info(dir, d, err, err_size)) {
        eval_dataset_free(d);
        return 1;
    }
    return 0;
}

int eval_dataset_check_images(const char *dir, eval_dataset *d, char *err, size_t err_size) {
    for (int32_t i = 0; i < d->images; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, d->image[i].path);
        afloc_image *im = NULL;
        afloc_image_view v = {.struct_size = sizeof v};
        afloc_status s = afloc_image_load_png(path, NULL, &im);
        if (s == AFLOC_OK) s = afloc_image_get_view(im, &v);
        afloc_image_free(im);
        if (s != AFLOC_OK) {
            snprintf(err, err_size, "%s: %s", path, afloc_last_error());
            return 1;
        }
        d->image[i].width = v.width;
        d->image[i].height = v.height;
    }
    for (int32_t r = 0; r < d->rows; r++) {
        const eval_row *row = &d->row[r];
        const eval_image *im = &d->image[row->image_index];
        if (row->x1 > im->width || row->y1 > im->height) {
            snprintf(err, err_size, "%s/test.csv:%d: box (%d, %d, %d, %d) outside the %dx%d image %s", dir,
                     (int)row->line, (int)row->x0, (int)row->y0, (int)row->x1, (int)row->y1,
                     (int)im->width, (int)im->height, row->image);
            return 1;
        }
    }
    return 0;
}

void eval_dataset_free(eval_dataset *d) {
    for (int32_t k = 0; k < d->classes; k++) free(d->class_name[k]);
    for (int32_t i = 0; i < d->pairs; i++) {
        free(d->pair_positive[i]);
        free(d->pair_negative[i]);
    }
    free(d->class_name);
    free(d->pair_class);
    free(d->pair_positive);
    free(d->pair_negative);
    for (int32_t r = 0; r < d->rows; r++) {
        free(d->row[r].image);
        free(d->row[r].prompt);
    }
    free(d->row);
    free(d->label);
    for (int32_t i = 0; i < d->images; i++) free(d->image[i].path);
    free(d->image);
    free(d->info_json);
    memset(d, 0, sizeof *d);
}

/* ---- laterality swap ---- */

static int word_is(const char *s, size_t n, const char *w) {
    if (strlen(w) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)s[i]) != w[i]) return 0;
    return 1;
}

char *eval_swap_sides(const char *prompt, int32_t *changed) {
    size_t n = strlen(prompt);
    char *out = malloc(n + n / 4 + 2); /* "left" -> "right" grows 4 bytes by 1 */
    if (!out) return NULL;
    size_t o = 0;
    *changed = 0;
    for (size_t i = 0; i < n;) {
        if (!isalnum((unsigned char)prompt[i])) {
            out[o++] = prompt[i++];
            continue;
        }
        size_t j = i;
        while (j < n && isalnum((unsigned char)prompt[j])) j++;
        const char *with = word_is(prompt + i, j - i, "left")    ? "right"
                           : word_is(prompt + i, j - i, "right") ? "left"
                                                                 : NULL;
        if (!with) {
            memcpy(out + o, prompt + i, j - i);
            o += j - i;
        } else {
            int all_upper = 1;
            for (size_t k = i; k < j; k++) all_upper &= isupper((unsigned char)prompt[k]) != 0;
            int first_upper = isupper((unsigned char)prompt[i]) != 0;
            for (size_t k = 0; with[k]; k++) {
                char ch = with[k];
                if (all_upper || (k == 0 && first_upper)) ch = (char)toupper((unsigned char)ch);
                out[o++] = ch;
            }
            (*changed)++;
        }
        i = j;
    }
    out[o] = '\0';
    return out;
}
