/* synth_dataset.c: afloc_synth_dataset_write, the folder layout of a synthetic dataset (issue 5;
 * the contract with `afloc eval`): images/{train,test}_NNNNNN.png, train.csv (image,report),
 * test.csv (one row per image and finding: image,prompt,category,side,x0,y0,x1,y1,group),
 * labels.csv (image, then 1/0 per class), classes.csv (class,positive,negative), vocab.txt and
 * dataset.json, written last.
 *
 * Images are planned and rendered in parallel (OpenMP over images): each case depends only on
 * (seed, split, index), its text goes into its own slot, and the CSVs are joined in index order
 * afterwards, so the bytes do not depend on the thread count or timing. Free-text CSV fields are
 * always quoted (RFC 4180; quotes doubled).
 *
 * Durability: every file appears atomically (temp file + rename), but the images are not
 * fsync'ed one by one (2300 fsyncs cost ~20 s here, ten times the rendering); one syncfs of the
 * folder's file system follows them, before the tables are written durably with
 * afloc_write_buffer_atomic and dataset.json last. A folder with dataset.json is complete. */
#define _GNU_SOURCE /* syncfs */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "error.h"
#include "file_io.h"
#include "options.h"
#include "synth.h"

/* The registry of modalities (here, beside its one user, so the shared helpers of
 * synth_common.c do not depend on the modalities that use them). */
const afloc_synth_modality *afloc_synth_modality_find(const char *name) {
    if (!name) return NULL;
    if (!strcmp(name, "cxr")) return afloc_synth_modality_cxr();
    if (!strcmp(name, "fundus")) return afloc_synth_modality_fundus();
    if (!strcmp(name, "histo")) return afloc_synth_modality_histo();
    return NULL;
}

static const char fn_default[] = "afloc_synth_options_default";
static const char fn_write[] = "afloc_synth_dataset_write";

static const afloc_synth_options defaults = {sizeof(afloc_synth_options), 2000, 300, 1, 256, 0};

afloc_status afloc_synth_options_default(afloc_synth_options *options) {
    return afloc_options_fill_defaults(options, &defaults, sizeof defaults, fn_default);
}

int32_t afloc_synth_generator_version(void) { return AFLOC_SYNTH_GENERATOR_VERSION; }

/* ---- a growable text buffer ---- */

typedef struct text {
    char  *data;
    size_t len, cap;
    int    failed;
} text;

static void put_bytes(text *t, const char *s, size_t n) {
    if (t->failed) return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        while (cap < t->len + n + 1) cap *= 2;
        char *p = afloc_realloc(t->data, cap);
        if (!p) {
            t->failed = 1;
            return;
        }
        t->data = p;
        t->cap = cap;
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = '\0';
}
static void put(text *t, const char *s) { put_bytes(t, s, strlen(s)); }

/* A CSV field in double quotes, inner quotes doubled. */
static void put_quoted(text *t, const char *s) {
    put(t, "\"");
    for (const char *q; (q = strchr(s, '"')) != NULL; s = q + 1) {
        put_bytes(t, s, (size_t)(q - s) + 1);
        put(t, "\"");
    }
    put(t, s);
    put(t, "\"");
}

static void put_int(text *t, int64_t v) {
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, v);
    put(t, b);
}

/* ---- one image ---- */

/* What one image contributes to the text files (each NULL-able, afloc_free'd). */
typedef struct image_text {
    char *rows;   /* train.csv row, or test.csv rows (possibly none)        */
    char *labels; /* labels.csv row (test only)                              */
    char *corpus; /* the report (train) or the prompts, one per line (test) */
} image_text;

static const char *side_name(int32_t side) {
    static const char *const names[4] = {"none", "left", "right", "bilateral"};
    return side >= 0 && side < 4 ? names[side] : "none";
}

static void image_name(char *out, size_t cap, int32_t split, int32_t index) {
    snprintf(out, cap, "images/%s_%06d.png", split == AFLOC_SYNTH_SPLIT_TRAIN ? "train" : "test",
             index);
}

static afloc_status format_text(const afloc_synth_modality *m, const afloc_synth_case *c,
                                const afloc_synth_box *boxes, image_text *out) {
    char name[64];
    image_name(name, sizeof name, c->split, c->index);
    text rows = {0}, labels = {0}, corpus = {0};
    if (c->split == AFLOC_SYNTH_SPLIT_TRAIN) {
        put(&rows, name);
        put(&rows, ",");
        put_quoted(&rows, c->report);
        put(&rows, "\n");
        put(&corpus, c->report);
    } else {
        int present[64] = {0};
        for (int32_t i = 0; i < c->count; i++) {
            const afloc_synth_finding *f = &c->findings[i];
            const afloc_synth_box *b = &boxes[i];
            present[f->category] = 1;
            put(&rows, name);
            put(&rows, ",");
            put_quoted(&rows, f->prompt);
            put(&rows, ",");
            put(&rows, m->classes[f->category]);
            put(&rows, ",");
            put(&rows, side_name(f->side));
            const int64_t numbers[5] = {b->x0, b->y0, b->x1, b->y1, c->count};
            for (int k = 0; k < 5; k++) {
                put(&rows, ",");
                put_int(&rows, numbers[k]);
            }
            put(&rows, "\n");
            put(&corpus, f->prompt);
            put(&corpus, "\n");
        }
        put(&labels, name);
        for (int32_t k = 0; k < m->class_count; k++) put(&labels, present[k] ? ",1" : ",0");
        put(&labels, "\n");
    }
    if (rows.failed || labels.failed || corpus.failed) {
        afloc_free(rows.data);
        afloc_free(labels.data);
        afloc_free(corpus.data);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for the text of %s", fn_write, name);
    }
    out->rows = rows.data;
    out->labels = labels.data;
    out->corpus = corpus.data;
    return AFLOC_OK;
}

/* Encodes `view` with the library's PNG encoder and replaces `path` atomically (temp file in the
 * same folder, then rename), without fsync (see the top comment). */
static afloc_status save_png(const afloc_image_view *view, const char *path) {
    size_t capacity = view->row_stride * (size_t)view->height + (size_t)view->height +
                      (view->row_stride * (size_t)view->height) / 64 + 4096, size = 0;
    unsigned char *png = afloc_malloc(capacity);
    if (!png) return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory to encode %s", fn_write, path);
    afloc_status status = afloc_image_encode_png(view, png, capacity, &size);
    if (status == AFLOC_ERR_BUFFER_TOO_SMALL) { /* cannot happen: deflate's worst case fits */
        unsigned char *bigger = afloc_realloc(png, size);
        if (!bigger) status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory to encode %s", fn_write, path);
        else {
            png = bigger;
            capacity = size;
            status = afloc_image_encode_png(view, png, capacity, &size);
        }
    }
    if (status == AFLOC_OK) {
        char tmp[4300];
        snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            status = afloc_fail(AFLOC_ERR_IO, "%s: cannot create \"%s\": %s", fn_write, tmp, strerror(errno));
        } else {
            status = afloc_write_all(fd, png, size, fn_write);
            if (close(fd) != 0 && status == AFLOC_OK)
                status = afloc_fail(AFLOC_ERR_IO, "%s: cannot close \"%s\": %s", fn_write, tmp, strerror(errno));
            if (status == AFLOC_OK && rename(tmp, path) != 0)
                status = afloc_fail(AFLOC_ERR_IO, "%s: cannot rename \"%s\" to \"%s\": %s", fn_write, tmp,
                                    path, strerror(errno));
            if (status != AFLOC_OK) unlink(tmp);
        }
    }
    afloc_free(png);
    return status;
}

/* Flushes the images to disk before the tables that announce them are written. */
static afloc_status sync_folder(const char *folder) {
    int fd = open(folder, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return afloc_fail(AFLOC_ERR_IO, "%s: cannot open \"%s\": %s", fn_write, folder, strerror(errno));
    int rc = syncfs(fd), err = errno;
    close(fd);
    if (rc != 0)
        return afloc_fail(AFLOC_ERR_IO, "%s: syncfs of \"%s\" failed: %s", fn_write, folder, strerror(err));
    return AFLOC_OK;
}

/* Plans, renders and saves image `index` of `split`, and formats its text. */
static afloc_status make_image(const afloc_synth_modality *m, const afloc_synth_options *o,
                               const char *out_dir, int32_t split, int32_t index,
                               image_text *out) {
    afloc_synth_case c;
    AFLOC_TRY(afloc_synth_case_make(m, (uint64_t)o->seed, split, index, o->size, &c, fn_write));
    size_t sample = m->channels == 1 ? sizeof(uint16_t) : sizeof(uint8_t);
    size_t row = (size_t)o->size * (size_t)m->channels * sample;
    void *pixels = afloc_malloc(row * (size_t)o->size);
    if (!pixels)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for a %d-pixel image", fn_write,
                          o->size);
    afloc_synth_box boxes[AFLOC_SYNTH_MAX_FINDINGS];
    afloc_status status = m->render(&c, o->size, (1u << c.count) - 1u, pixels, boxes, fn_write);
    if (status == AFLOC_OK) {
        afloc_image_view view = {0};
        view.struct_size = sizeof view;
        view.pixel_type = m->channels == 1 ? AFLOC_PIXEL_U16 : AFLOC_PIXEL_U8;
        view.channels = m->channels;
        view.width = view.height = o->size;
        view.row_stride = row;
        view.pixels = pixels;
        char name[64], path[4200];
        image_name(name, sizeof name, split, index);
        snprintf(path, sizeof path, "%s/%s", out_dir, name);
        status = save_png(&view, path);
    }
    afloc_free(pixels);
    if (status == AFLOC_OK) status = format_text(m, &c, boxes, out);
    return status;
}

/* ---- the fixed files ---- */

static afloc_status write_text_file(const char *out_dir, const char *name, text *t) {
    if (t->failed)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for %s", fn_write, name);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", out_dir, name);
    return afloc_write_buffer_atomic(path, t->data ? t->data : "", t->len, fn_write);
}

static afloc_status write_tables(const afloc_synth_modality *m, const afloc_synth_options *o,
                                 const char *out_dir, const image_text *items) {
    int32_t total = o->train_count + o->test_count;
    text train = {0}, test = {0}, labels = {0}, classes = {0}, json = {0};
    put(&train, "image,report\n");
    put(&test, "image,prompt,category,side,x0,y0,x1,y1,group\n");
    put(&labels, "image");
    put(&classes, "class,positive,negative\n");
    put(&json, "{\"modality\":\"");
    put(&json, m->name);
    put(&json, "\",\"seed\":");
    put_int(&json, o->seed);
    put(&json, ",\"size\":");
    put_int(&json, o->size);
    put(&json, ",\"train\":");
    put_int(&json, o->train_count);
    put(&json, ",\"test\":");
    put_int(&json, o->test_count);
    put(&json, ",\"classes\":[");
    for (int32_t k = 0; k < m->class_count; k++) {
        put(&labels, ",");
        put(&labels, m->classes[k]);
        put(&json, k ? ",\"" : "\"");
        put(&json, m->classes[k]);
        put(&json, "\"");
    }
    for (int32_t r = 0; r < m->prompt_count; r++) {
        put(&classes, m->classes[m->prompts[r].class_index]);
        put(&classes, ",");
        put_quoted(&classes, m->prompts[r].positive);
        put(&classes, ",");
        put_quoted(&classes, m->prompts[r].negative);
        put(&classes, "\n");
    }
    put(&json, "],\"generator_version\":");
    put_int(&json, AFLOC_SYNTH_GENERATOR_VERSION);
    put(&json, "}\n");
    put(&labels, "\n");
    for (int32_t j = 0; j < total; j++) {
        text *t = j < o->train_count ? &train : &test;
        if (items[j].rows) put(t, items[j].rows);
        if (items[j].labels) put(&labels, items[j].labels);
    }
    afloc_status status = write_text_file(out_dir, "train.csv", &train);
    if (status == AFLOC_OK) status = write_text_file(out_dir, "test.csv", &test);
    if (status == AFLOC_OK) status = write_text_file(out_dir, "labels.csv", &labels);
    if (status == AFLOC_OK) status = write_text_file(out_dir, "classes.csv", &classes);
    if (status == AFLOC_OK) {
        /* the vocabulary covers the reports, the test prompts and the class prompts */
        size_t n = (size_t)total + 2 * (size_t)m->prompt_count;
        const char **corpus = afloc_malloc(n * sizeof *corpus);
        char *vocab = NULL;
        size_t vocab_size = 0;
        if (!corpus) {
            status = afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for the corpus", fn_write);
        } else {
            for (int32_t j = 0; j < total; j++) corpus[j] = items[j].corpus ? items[j].corpus : "";
            for (int32_t k = 0; k < m->prompt_count; k++) {
                corpus[total + 2 * k] = m->prompts[k].positive;
                corpus[total + 2 * k + 1] = m->prompts[k].negative;
            }
            status = afloc_synth_vocab_build(corpus, n, &vocab, &vocab_size, fn_write);
        }
        if (status == AFLOC_OK) {
            char path[4200];
            snprintf(path, sizeof path, "%s/vocab.txt", out_dir);
            status = afloc_write_buffer_atomic(path, vocab, vocab_size, fn_write);
        }
        afloc_free(vocab);
        afloc_free(corpus);
    }
    if (status == AFLOC_OK) status = write_text_file(out_dir, "dataset.json", &json);
    afloc_free(train.data);
    afloc_free(test.data);
    afloc_free(labels.data);
    afloc_free(classes.data);
    afloc_free(json.data);
    return status;
}

/* ---- the entry point ---- */

static afloc_status make_folder(const char *path) {
    if (mkdir(path, 0777) == 0) return AFLOC_OK;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return AFLOC_OK;
    return afloc_fail(AFLOC_ERR_IO, "%s: cannot create the folder \"%s\": %s", fn_write, path,
                      strerror(err));
}

static afloc_status check_options(const afloc_synth_options *o) {
    if (o->train_count < 1 || o->train_count > 999999)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: train_count %d outside 1..999999",
                          fn_write, o->train_count);
    if (o->test_count < 1 || o->test_count > 999999)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: test_count %d outside 1..999999",
                          fn_write, o->test_count);
    if (o->size < 64 || o->size > 2048)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: size %d outside 64..2048", fn_write,
                          o->size);
    if (o->threads < 0 || o->threads > 1024)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: threads %d outside 0..1024", fn_write,
                          o->threads);
    return AFLOC_OK;
}

afloc_status afloc_synth_dataset_write(const char *modality, const char *out_dir,
                                       const afloc_synth_options *options) {
    if (!modality || !out_dir || !out_dir[0])
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: modality or out_dir is NULL or empty",
                          fn_write);
    if (strlen(out_dir) > 4000)
        return afloc_fail(AFLOC_ERR_INVALID_ARGUMENT, "%s: out_dir is longer than 4000 bytes",
                          fn_write);
    const afloc_synth_modality *m = afloc_synth_modality_find(modality);
    if (!m)
        return afloc_fail(AFLOC_ERR_UNSUPPORTED, "%s: unknown modality \"%.40s\" (cxr, fundus, histo)", fn_write,
                          modality);
    afloc_synth_options o;
    AFLOC_TRY(afloc_options_read(&o, sizeof o, options, &defaults, fn_write));
    AFLOC_TRY(check_options(&o));
    char images[4200];
    snprintf(images, sizeof images, "%s/images", out_dir);
    AFLOC_TRY(make_folder(out_dir));
    AFLOC_TRY(make_folder(images));

    int32_t total = o.train_count + o.test_count;
    image_text *items = afloc_calloc((size_t)total, sizeof *items);
    if (!items)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: no memory for %d images", fn_write, total);
    int threads = o.threads > 0 ? o.threads : omp_get_num_procs();
    int32_t first_bad = total;
    afloc_status bad_status = AFLOC_OK;
    char bad_message[AFLOC_ERROR_CAPACITY] = "";
    int stop = 0;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (int32_t j = 0; j < total; j++) {
        int halt;
#pragma omp atomic read
        halt = stop;
        if (halt) continue;
        int32_t split = j < o.train_count ? AFLOC_SYNTH_SPLIT_TRAIN : AFLOC_SYNTH_SPLIT_TEST;
        int32_t index = j < o.train_count ? j : j - o.train_count;
        afloc_status status = make_image(m, &o, out_dir, split, index, &items[j]);
        if (status != AFLOC_OK) {
#pragma omp critical /* unnamed: a named one exports a .gomp_critical_user_* symbol */
            {
                if (j < first_bad) { /* the message travels from the worker's thread-local buffer */
                    first_bad = j;
                    bad_status = status;
                    snprintf(bad_message, sizeof bad_message, "%s", afloc_last_error());
                }
            }
#pragma omp atomic write
            stop = 1;
        }
    }
    afloc_status status = AFLOC_OK;
    if (bad_status != AFLOC_OK) status = afloc_fail(bad_status, "%s", bad_message);
    else status = sync_folder(images);
    if (status == AFLOC_OK) status = write_tables(m, &o, out_dir, items);
    for (int32_t j = 0; j < total; j++) {
        afloc_free(items[j].rows);
        afloc_free(items[j].labels);
        afloc_free(items[j].corpus);
    }
    afloc_free(items);
    if (status == AFLOC_OK) afloc_clear_error();
    return status;
}
