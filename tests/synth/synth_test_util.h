/* synth_test_util.h: what the synthetic-dataset tests share (test_synth.c for the chest X-ray,
 * test_synth_modalities.c for fundus and histology): a work folder, writing a small dataset,
 * the determinism check with its pinned hash, and reading the CSVs back. Header-only, test-only. */
#ifndef AFLOC_SYNTH_TEST_UTIL_H
#define AFLOC_SYNTH_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "file_io.h"
#include "synth.h"
#include "test_util.h"

static char synth_work[1024];

/* Creates $AFLOC_BINARY_DIR/synth_work (or ./synth_work). */
static void synth_test_setup(void) {
    const char *bin = getenv("AFLOC_BINARY_DIR");
    snprintf(synth_work, sizeof synth_work, "%s/synth_work", bin ? bin : ".");
    mkdir(synth_work, 0777);
}

/* The folder of dataset `name` of `modality` in the work folder. */
static void folder(char *out, size_t cap, const char *modality, const char *name) {
    snprintf(out, cap, "%s/%s_%s", synth_work, modality, name);
}

static uint64_t fnv1a(const unsigned char *p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

/* Hashes the 6 tables and train + test images of the layout in `dir` into hashes[] in that order;
 * 0 if a file is missing. */
static int hash_dataset(const char *dir, int32_t train, int32_t test, uint64_t *hashes) {
    static const char *const tables[] = {"train.csv", "test.csv", "labels.csv", "classes.csv",
                                         "vocab.txt", "dataset.json"};
    for (int32_t i = 0; i < 6 + train + test; i++) {
        char path[1400];
        if (i < 6) snprintf(path, sizeof path, "%s/%s", dir, tables[i]);
        else if (i < 6 + train) snprintf(path, sizeof path, "%s/images/train_%06d.png", dir, i - 6);
        else snprintf(path, sizeof path, "%s/images/test_%06d.png", dir, i - 6 - train);
        unsigned char *data = NULL;
        size_t size = 0;
        if (afloc_read_file(path, 64u << 20, "test", &data, &size) != AFLOC_OK) {
            fprintf(stderr, "missing %s: %s\n", path, afloc_last_error());
            return 0;
        }
        hashes[i] = fnv1a(data, size, 1469598103934665603ull);
        afloc_free(data);
    }
    return 1;
}

static afloc_status write_dataset(const char *modality, const char *name, int32_t train,
                                  int32_t test, int32_t size, int64_t seed, int32_t threads) {
    afloc_synth_options o = {0};
    o.struct_size = sizeof o;
    afloc_synth_options_default(&o);
    o.train_count = train;
    o.test_count = test;
    o.size = size;
    o.seed = seed;
    o.threads = threads;
    char dir[1100];
    folder(dir, sizeof dir, modality, name);
    return afloc_synth_dataset_write(modality, dir, &o);
}

/* Seed 7 on 1 and 2 threads must give the same bytes, seed 8 other bytes (but classes.csv), and
 * the combined hash of seed 7 must be `pinned`: the generator's bytes are a promise (same seed,
 * same dataset on every machine), so a new hash needs AFLOC_SYNTH_GENERATOR_VERSION + 1. */
static void check_determinism(const char *modality, int32_t train, int32_t test, int32_t size,
                              uint64_t pinned) {
    CHECK_STATUS(write_dataset(modality, "a", train, test, size, 7, 1), AFLOC_OK);
    CHECK_STATUS(write_dataset(modality, "b", train, test, size, 7, 2), AFLOC_OK);
    CHECK_STATUS(write_dataset(modality, "c", train, test, size, 8, 2), AFLOC_OK);
    const int32_t files = 6 + train + test;
    uint64_t *ha = afloc_calloc(3 * (size_t)files, sizeof *ha), *hb = ha + files, *hc = hb + files;
    CHECK(ha != NULL);
    if (!ha) return;
    char da[1100], db[1100], dc[1100];
    folder(da, sizeof da, modality, "a");
    folder(db, sizeof db, modality, "b");
    folder(dc, sizeof dc, modality, "c");
    int ok = hash_dataset(da, train, test, ha) & hash_dataset(db, train, test, hb) &
             hash_dataset(dc, train, test, hc);
    CHECK(ok);
    if (ok) {
        int32_t same_ab = 0, same_ac = 0;
        uint64_t all = 1469598103934665603ull;
        for (int32_t i = 0; i < files; i++) {
            same_ab += ha[i] == hb[i];
            same_ac += ha[i] == hc[i];
            all = fnv1a((const unsigned char *)&ha[i], sizeof ha[i], all);
        }
        printf("%s determinism: %d files, threads 1 vs 2: %d/%d identical (combined hash %016llx, "
               "pinned %016llx); seed 7 vs 8: %d identical\n", modality, files, same_ab, files,
               (unsigned long long)all, (unsigned long long)pinned, same_ac);
        CHECK(same_ab == files);
        CHECK(same_ac <= 1); /* classes.csv is seed-independent */
        CHECK(all == pinned);
    }
    afloc_free(ha);
}

/* Splits one CSV line (no embedded newlines) into at most `max` fields, unquoting in place.
 * Returns the field count. */
static int split_csv(char *line, char **fields, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        if (*p == '"') {
            char *w = ++p, *start = p;
            for (;;) {
                if (*p == '"' && p[1] == '"') *w++ = '"', p += 2;
                else if (*p == '"' || *p == '\0') break;
                else *w++ = *p++;
            }
            if (*p == '"') p++;
            *w = '\0';
            fields[n++] = start;
        } else {
            fields[n++] = p;
            while (*p && *p != ',') p++;
        }
        if (*p != ',') {
            *p = '\0';
            break;
        }
        *p++ = '\0';
    }
    return n;
}

/* The lines of a text file, NUL-terminated in place: returns the buffer and sets *lines (both to
 * afloc_free) and *count; NULL if the file cannot be read. */
static char *read_lines(const char *path, char ***lines, int32_t *count) {
    unsigned char *data = NULL;
    size_t size = 0;
    if (afloc_read_file(path, 64u << 20, "test", &data, &size) != AFLOC_OK) return NULL;
    char *text = afloc_realloc(data, size + 1);
    if (!text) {
        afloc_free(data);
        return NULL;
    }
    text[size] = '\0';
    int32_t n = 0;
    for (size_t i = 0; i < size; i++) n += text[i] == '\n';
    *lines = afloc_calloc((size_t)n + 1, sizeof **lines);
    if (!*lines) {
        afloc_free(text);
        return NULL;
    }
    int32_t k = 0;
    char *start = text;
    for (size_t i = 0; i < size; i++) {
        if (text[i] != '\n') continue;
        text[i] = '\0';
        (*lines)[k++] = start;
        start = text + i + 1;
    }
    *count = k;
    return text;
}

/* classes.csv rows: every class has a row, rows grouped by class in class order, no empty text. */
static int prompts_well_formed(const afloc_synth_modality *m) {
    if (m->prompt_count < m->class_count) return 0;
    int32_t next = 0;
    for (int32_t r = 0; r < m->prompt_count; r++) {
        const afloc_synth_prompt *p = &m->prompts[r];
        if (!p->positive[0] || !p->negative[0]) return 0;
        if (p->class_index == next) next++;
        else if (p->class_index != next - 1) return 0;
    }
    return next == m->class_count;
}

static int class_index(const afloc_synth_modality *m, const char *name) {
    for (int32_t k = 0; k < m->class_count; k++)
        if (!strcmp(m->classes[k], name)) return k;
    return -1;
}

#endif /* AFLOC_SYNTH_TEST_UTIL_H */
