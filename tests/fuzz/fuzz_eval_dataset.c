/* fuzz_eval_dataset.c: libFuzzer target for `afloc eval`'s dataset reader (src/cli/eval_dataset.c:
 * its CSV reader, classes.csv with prompt ensembles, labels.csv, test.csv, dataset.json). The input
 * is split at NUL bytes into classes.csv, labels.csv, test.csv and dataset.json (missing parts are
 * empty files), written to a private folder and loaded. eval_dataset_load must return 0 with a
 * consistent dataset (every class has a prompt pair, every index in range) or 1 with a message;
 * a crash, a sanitizer report or a leak is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval_dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const part_name[4] = {"classes.csv", "labels.csv", "test.csv", "dataset.json"};

static int write_part(const char *dir, int k, const uint8_t *p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, part_name[k]);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return (fclose(f) != 0) | (w != n);
}

static void check_consistent(const eval_dataset *d) {
    if (d->classes < 1 || d->pairs < d->classes) abort();
    for (int32_t k = 0; k < d->classes; k++) {
        int32_t n = 0;
        for (int32_t i = 0; i < d->pairs; i++) n += d->pair_class[i] == k;
        if (n == 0 || !d->class_name[k]) abort();
    }
    for (int32_t i = 0; i < d->pairs; i++)
        if (d->pair_class[i] < 0 || d->pair_class[i] >= d->classes || !d->pair_positive[i][0] ||
            !d->pair_negative[i][0])
            abort();
    for (int32_t r = 0; r < d->rows; r++)
        if (d->row[r].category < 0 || d->row[r].category >= d->classes ||
            d->row[r].image_index < 0 || d->row[r].image_index >= d->images)
            abort();
    for (int32_t i = 0; i < d->labelled * d->classes; i++)
        if (d->label[i] != 0 && d->label[i] != 1) abort();
}

static char dir[256];

static void remove_dir(void) {
    char path[512];
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, part_name[k]);
        remove(path);
    }
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/fuzz_eval_dataset.XXXXXX");
        if (!mkdtemp(dir)) abort();
        atexit(remove_dir);
    }
    size_t start = 0;
    for (int k = 0; k < 4; k++) {
        size_t end = start;
        while (end < size && data[end] != 0) end++;
        if (write_part(dir, k, data + start, end - start)) abort();
        start = end < size ? end + 1 : size;
    }
    eval_dataset d;
    char err[1024];
    err[0] = '\0';
    int32_t limit = size ? (int32_t)(data[size - 1] % 4) : 0;
    int rc = eval_dataset_load(dir, limit, &d, err, sizeof err);
    if (rc == 0) {
        check_consistent(&d);
        eval_dataset_free(&d);
    } else if (rc != 1 || !err[0] || !memchr(err, '\0', sizeof err)) {
        abort();
    }
    return 0;
}
