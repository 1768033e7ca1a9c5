/* test_data.c: the trainer's data side (issue 4): manifest CSV edge cases, caption cache and
 * sampling (MODEL.md §4.3), seeded shuffling, and the threaded loader against a synchronous
 * computation, bit for bit; OOM injection on the manifest parse. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "captions.h"
#include "data_loader.h"
#include "manifest.h"
#include "data_fixture.h"
#include "test_util.h"

static char tmpdir[256];

static void write_text(const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fwrite(text, 1, strlen(text), f);
    fclose(f);
}

static void write_png(const char *name, int w, int h, int seed) {
    fixture_write_png(tmpdir, name, w, h, seed);
}

static afloc_status parse(const char *csv, afloc_manifest **m, int32_t *dropped) {
    return afloc_manifest_parse(csv, strlen(csv), "manifest.csv", tmpdir, 1, m, dropped, "test");
}

static int message_has(const char *needle) {
    if (strstr(afloc_last_error(), needle)) return 1;
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", afloc_last_error(), needle);
    return 0;
}

static void test_csv(void) {
    afloc_manifest *m = NULL;
    int32_t dropped = -1;
    /* quotes with commas, doubled quotes, an embedded CRLF newline, CRLF records, extra column,
     * a blank line, an absolute path, a row whose report cleans to nothing (dropped). */
    char csv[2048];
    snprintf(csv, sizeof csv,
             "\xEF\xBB\xBFid,report,image\r\n"
             "1,\"Heart size normal, lungs clear. No \"\"acute\"\" process\",a.png\r\n"
             "2,\"line one here\r\nline two. 1. big effusion seen\",sub/b.png\r\n"
             "\r\n"
             "3,ok,a.png\r\n"
             "4,no pneumothorax seen,%s/a.png",
             tmpdir);
    CHECK_STATUS(parse(csv, &m, &dropped), AFLOC_OK);
    if (m) {
        CHECK(m->count == 3);
        CHECK(dropped == 1 && m->dropped_empty == 1);
        CHECK(strcmp(m->rows[0].report, "Heart size normal, lungs clear. No \"acute\" process") == 0);
        CHECK(strcmp(m->rows[1].report, "line one here\r\nline two. 1. big effusion seen") == 0);
        CHECK(m->rows[0].line == 2 && m->rows[1].line == 3 && m->rows[2].line == 7);
        char want[512];
        snprintf(want, sizeof want, "%s/sub/b.png", tmpdir);
        CHECK(strcmp(m->rows[1].image_path, want) == 0);
        snprintf(want, sizeof want, "%s/a.png", tmpdir);
        CHECK(strcmp(m->rows[2].image_path, want) == 0);
        afloc_manifest_free(m);
        m = NULL;
    }
    /* errors, each naming the line */
    CHECK_STATUS(parse("image,report\na.png,\"never closed\nmore\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("manifest.csv line 2: unterminated quoted field"));
    CHECK_STATUS(parse("image,notes\na.png,x y\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("no column \"report\""));
    CHECK_STATUS(parse("report\nx y\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("no column \"image\""));
    CHECK_STATUS(parse("image,report,image\na.png,x y,b\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("appears twice"));
    CHECK_STATUS(parse("image,report\na.png,big heart\na.png\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("line 3: 1 fields, the header has 2"));
    CHECK_STATUS(parse("image,report\na.png,big \xC3\x28 heart\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("line 2, column 2: invalid UTF-8"));
    CHECK_STATUS(parse("image,report\na.png,big \xED\xA0\x80 surrogate\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK_STATUS(parse("image,report\na.png,\"x y\"z\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("after a closing quote"));
    CHECK_STATUS(parse("image,report\na.png,x \"y\" z\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("quote inside an unquoted field"));
    CHECK_STATUS(parse("image,report\n,big heart\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("empty image path"));
    CHECK_STATUS(parse("image,report\na.png,ok\nb.png,.\n", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK(message_has("no usable rows (2 dropped"));
    CHECK_STATUS(parse("", &m, NULL), AFLOC_ERR_FORMAT);
    CHECK_STATUS(parse("image,report\na.png,big heart\nmissing.png,big heart\n", &m, NULL), AFLOC_ERR_IO);
    CHECK(message_has("line 3: image") && message_has("missing.png"));
    CHECK(afloc_manifest_parse("image,report\na\0b,x y\n", 21, "m.csv", "", 0, &m, NULL, "t") ==
          AFLOC_ERR_FORMAT);
    CHECK(message_has("NUL byte"));
    CHECK(m == NULL);
    /* report size limit */
    size_t big = AFLOC_MAX_TEXT_BYTES + 20;
    char *huge = malloc(big + 64);
    int off = sprintf(huge, "image,report\na.png,");
    memset(huge + off, 'a', AFLOC_MAX_TEXT_BYTES + 1);
    huge[off + AFLOC_MAX_TEXT_BYTES + 1] = '\0';
    CHECK_STATUS(parse(huge, &m, NULL), AFLOC_ERR_LIMIT);
    free(huge);
    /* load(): relative paths against the manifest's folder; missing file gives IO */
    char path[512];
    write_text("m.csv", "image,report\na.png,\"mild cardiomegaly. lungs clear\"\n");
    snprintf(path, sizeof path, "%s/m.csv", tmpdir);
    CHECK_STATUS(afloc_manifest_load(path, &m, &dropped, "test"), AFLOC_OK);
    if (m) CHECK(m->count == 1 && dropped == 0 && strcmp(m->name, "m.csv") == 0);
    afloc_manifest_free(m);
    m = NULL;
    snprintf(path, sizeof path, "%s/none.csv", tmpdir);
    CHECK_STATUS(afloc_manifest_load(path, &m, &dropped, "test"), AFLOC_ERR_IO);
}

static void test_oom(void) {
    const char *csv = "image,report\n\"a.png\",\"big heart. clear lungs\"\na.png,\"x y, \"\"z\"\" w\"\n";
    int failures_seen = 0, k;
    for (k = 0; k < 1000; k++) {
        afloc_manifest *m = NULL;
        afloc_test_inject_alloc_failure(k);
        afloc_status s = parse(csv, &m, NULL);
        afloc_test_inject_alloc_failure(-1);
        if (s == AFLOC_OK) {
            CHECK(m && m->count == 2);
            afloc_manifest_free(m);
            break;
        }
        CHECK(s == AFLOC_ERR_OUT_OF_MEMORY);
        CHECK(m == NULL);
        failures_seen++;
    }
    CHECK(failures_seen > 3);
    printf("oom: manifest parse survives %d injected allocation failures\n", failures_seen);
}

/* A manifest of one report, parsed without file checks, and its cache. */
static afloc_caption_cache *cache_of(const char *report, afloc_manifest **m) {
    char csv[4096];
    snprintf(csv, sizeof csv, "image,report\nx.png,\"%s\"\n", report);
    *m = NULL;
    if (afloc_manifest_parse(csv, strlen(csv), "c.csv", "", 0, m, NULL, "t") != AFLOC_OK) return NULL;
    afloc_caption_cache *c = NULL;
    if (afloc_caption_cache_build(*m, 5, &c, "t") != AFLOC_OK) return NULL;
    return c;
}

static void test_captions(void) {
    afloc_manifest *m = NULL;
    /* stop rule: 2 + 2 words = 4, + 1... counts 2, 4, 7 never equal 5: every sentence kept */
    afloc_caption_cache *c = cache_of("aa bb. cc dd. ee ff gg. hh ii", &m);
    CHECK(c && c->rows[0].count == 4);
    afloc_caption_cache_free(c);
    afloc_manifest_free(m);
    /* 2 + 3 = 5 exactly: stop after the second sentence */
    c = cache_of("aa bb. cc dd ee. ff gg. hh ii", &m);
    CHECK(c && c->rows[0].count == 2);
    afloc_caption_cache_free(c);
    afloc_manifest_free(m);
    /* a first sentence of exactly 5 words: only that one */
    c = cache_of("one two three four five. six seven", &m);
    CHECK(c && c->rows[0].count == 1);
    char out[512];
    size_t len = 0;
    afloc_rng rng;
    afloc_rng_seed(&rng, 1, 0);
    afloc_rng before = rng;
    if (c) {
        CHECK_STATUS(
            afloc_caption_sample(c, 0, AFLOC_CAPTION_MODE_OFFICIAL, &rng, out, sizeof out, &len, "t"),
            AFLOC_OK);
        CHECK(strcmp(out, "one two three four five") == 0 && len == 23);
        CHECK(memcmp(&rng, &before, sizeof rng) == 0); /* n < 2 draws nothing */
    }
    afloc_caption_cache_free(c);
    afloc_manifest_free(m);

    /* n = 4 sentences "s0 w", "s1 w", ...: k in 1..3, distinct, ". " joins */
    c = cache_of("s0 w. s1 w. s2 w. s3 w", &m);
    CHECK(c && c->rows[0].count == 4);
    if (c) {
        int k_hist[5] = {0}, first_hist[4] = {0}, bad = 0;
        const int draws = 20000;
        for (int d = 0; d < draws; d++) {
            CHECK_STATUS(
                afloc_caption_sample(c, 0, AFLOC_CAPTION_MODE_OFFICIAL, &rng, out, sizeof out, &len, "t"),
                AFLOC_OK);
            int seen[4] = {0}, k = 0;
            const char *p = out;
            for (;;) {
                if (p[0] != 's' || p[1] < '0' || p[1] > '3' || strncmp(p + 2, " w", 2) != 0) {
                    bad++;
                    break;
                }
                int idx = p[1] - '0';
                if (k == 0) first_hist[idx]++;
                if (seen[idx]++) bad++;
                k++;
                p += 4;
                if (*p == '\0') break;
                if (strncmp(p, ". ", 2) != 0) {
                    bad++;
                    break;
                }
                p += 2;
            }
            if (k >= 1 && k <= 4) k_hist[k]++;
        }
        CHECK(bad == 0);
        CHECK(k_hist[4] == 0);
        for (int k = 1; k <= 3; k++) CHECK(abs(k_hist[k] - draws / 3) < draws / 30);
        for (int i = 0; i < 4; i++) CHECK(abs(first_hist[i] - draws / 4) < draws / 30);
        printf("captions: %d draws, k=1/2/3/4: %d/%d/%d/%d (expect ~%d each for 1..3, 0 for 4), first index "
               "%d/%d/%d/%d, %d malformed\n",
               draws, k_hist[1], k_hist[2], k_hist[3], k_hist[4], draws / 3, first_hist[0], first_hist[1],
               first_hist[2], first_hist[3], bad);
        before = rng;
        CHECK_STATUS(afloc_caption_sample(c, 0, AFLOC_CAPTION_MODE_FULL, &rng, out, sizeof out, &len, "t"),
                     AFLOC_OK);
        CHECK(strcmp(out, "s0 w. s1 w. s2 w. s3 w") == 0);
        CHECK(memcmp(&rng, &before, sizeof rng) == 0);
        CHECK(afloc_caption_max_size(c, 0) == 23);
        CHECK_STATUS(afloc_caption_sample(c, 0, AFLOC_CAPTION_MODE_FULL, &rng, out, 22, &len, "t"),
                     AFLOC_ERR_BUFFER_TOO_SMALL);
        CHECK_STATUS(afloc_caption_sample(c, 1, AFLOC_CAPTION_MODE_FULL, &rng, out, sizeof out, &len, "t"),
                     AFLOC_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(afloc_caption_sample(c, 0, (afloc_caption_mode)7, &rng, out, sizeof out, &len, "t"),
                     AFLOC_ERR_INVALID_ARGUMENT);
    }
    afloc_caption_cache_free(c);
    afloc_manifest_free(m);
    /* n = 2: k is always 1 */
    c = cache_of("aa bb. cc dd", &m);
    int ones = 0;
    for (int d = 0; c && d < 200; d++) {
        afloc_caption_sample(c, 0, AFLOC_CAPTION_MODE_OFFICIAL, &rng, out, sizeof out, &len, "t");
        ones += strcmp(out, "aa bb") == 0 || strcmp(out, "cc dd") == 0;
    }
    CHECK(ones == 200);
    afloc_caption_cache_free(c);
    afloc_manifest_free(m);
    /* RNG: below() stays in range and is reproducible */
    afloc_rng a, b;
    afloc_rng_seed(&a, 42, 3);
    afloc_rng_seed(&b, 42, 3);
    int same = 1, in_range = 1;
    for (int i = 0; i < 1000; i++) {
        uint64_t x = afloc_rng_below(&a, 7), y = afloc_rng_below(&b, 7);
        same &= x == y;
        in_range &= x < 7;
    }
    CHECK(same && in_range);
}

/* Compares two loaders batch by batch; returns the number of batches compared. */
static int compare_loaders(afloc_data_loader *x, afloc_data_loader *y, int batches, size_t plane) {
    for (int b = 0; b < batches; b++) {
        const afloc_data_batch *p = NULL, *q = NULL;
        CHECK_STATUS(afloc_data_loader_next(x, &p, "t"), AFLOC_OK);
        CHECK_STATUS(afloc_data_loader_next(y, &q, "t"), AFLOC_OK);
        if (!p || !q) return b;
        CHECK(p->count == q->count && p->epoch == q->epoch && p->index == q->index);
        CHECK(memcmp(p->rows, q->rows, (size_t)p->count * sizeof *p->rows) == 0);
        CHECK(memcmp(p->images, q->images, (size_t)p->count * plane * sizeof(float)) == 0);
        for (int i = 0; i < p->count; i++) CHECK(strcmp(p->captions[i], q->captions[i]) == 0);
    }
    return batches;
}

static void test_loader(void) {
    /* 7 images of different sizes; reports with several sentences */
    char csv[4096] = "image,report\n";
    for (int i = 0; i < 7; i++) {
        char name[32], line[256];
        snprintf(name, sizeof name, "img%d.png", i);
        write_png(name, 40 + 13 * i, 60 - 3 * i, i);
        snprintf(line, sizeof line, "%s,\"row%d aa. row%d bb cc. row%d dd. row%d ee ff gg hh\"\n", name, i, i,
                 i, i);
        strcat(csv, line);
    }
    afloc_manifest *m = NULL;
    afloc_caption_cache *c = NULL;
    CHECK(fixture_manifest_and_cache(tmpdir, csv, &m, &c));
    if (!m) return;
    afloc_data_loader_options o;
    afloc_data_loader_options_default(&o);
    o.batch_size = 3;
    o.image_size = 36;
    o.crop_size = 32;
    o.seed = 1234;
    o.drop_last = 0;
    size_t plane = 32 * 32;

    /* threaded vs synchronous: same batches bit for bit over 4 epochs (3 batches each) */
    afloc_data_loader *t = NULL, *s = NULL;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &t, "t"), AFLOC_OK);
    o.threaded = 0;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &s, "t"), AFLOC_OK);
    int compared = (t && s) ? compare_loaders(t, s, 12, plane) : 0;
    CHECK(compared == 12);
    afloc_data_loader_free(t);
    afloc_data_loader_free(s);

    /* start_batch: a loader started at batch k (threaded and synchronous; k in the first epoch,
     * mid-epoch later, and at an epoch start) hands out exactly what a loader from 0 hands out
     * after k batches, across the following epoch boundaries */
    const int64_t starts[] = {1, 4, 6, 11};
    int seek_ok = 0;
    for (int k = 0; k < 4; k++)
        for (int threaded = 0; threaded <= 1; threaded++) {
            afloc_data_loader *from0 = NULL, *seek = NULL;
            const afloc_data_batch *skipped = NULL;
            o.threaded = 0;
            o.start_batch = 0;
            CHECK_STATUS(afloc_data_loader_create(m, c, &o, &from0, "t"), AFLOC_OK);
            for (int64_t b = 0; from0 && b < starts[k]; b++)
                CHECK_STATUS(afloc_data_loader_next(from0, &skipped, "t"), AFLOC_OK);
            o.threaded = threaded;
            o.start_batch = starts[k];
            CHECK_STATUS(afloc_data_loader_create(m, c, &o, &seek, "t"), AFLOC_OK);
            seek_ok += (from0 && seek) ? compare_loaders(seek, from0, 5, plane) == 5 : 0;
            afloc_data_loader_free(from0);
            afloc_data_loader_free(seek);
        }
    CHECK(seek_ok == 8);
    o.start_batch = -1;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &s, "t"), AFLOC_ERR_INVALID_ARGUMENT);
    o.start_batch = 0;
    o.threaded = 0;

    /* synchronous reference: each batch's images equal a direct load + preprocess of its rows;
     * each epoch is a permutation; last batch of 7 with B = 3 has 1 sample */
    s = NULL;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &s, "t"), AFLOC_OK);
    int32_t order0[7], order1[7], filled = 0, mismatched = 0;
    float *ref = malloc(plane * sizeof(float));
    afloc_preprocess_options pre = {0};
    pre.struct_size = sizeof pre;
    afloc_preprocess_options_default(&pre);
    pre.image_size = 36;
    pre.crop_size = 32;
    for (int b = 0; s && b < 6; b++) {
        const afloc_data_batch *batch = NULL;
        CHECK_STATUS(afloc_data_loader_next(s, &batch, "t"), AFLOC_OK);
        if (!batch) break;
        CHECK(batch->count == (batch->index == 2 ? 1 : 3));
        for (int i = 0; i < batch->count; i++) {
            int32_t row = batch->rows[i];
            (batch->epoch == 0 ? order0 : order1)[batch->index * 3 + i] = row;
            filled++;
            afloc_image *img = NULL;
            afloc_image_view v = {0};
            v.struct_size = sizeof v;
            afloc_image_load_png(m->rows[row].image_path, NULL, &img);
            afloc_image_get_view(img, &v);
            afloc_image_preprocess(&v, &pre, ref, plane, NULL);
            afloc_image_free(img);
            mismatched += memcmp(ref, batch->images + (size_t)i * plane, plane * sizeof(float)) != 0;
            char want_prefix[16];
            snprintf(want_prefix, sizeof want_prefix, "row%d ", row);
            CHECK(strncmp(batch->captions[i], want_prefix, strlen(want_prefix)) == 0);
        }
    }
    free(ref);
    afloc_data_loader_free(s);
    CHECK(filled == 14 && mismatched == 0);
    int seen0[7] = {0}, seen1[7] = {0}, perm = 1;
    for (int i = 0; i < 7; i++) {
        if (order0[i] >= 0 && order0[i] < 7) seen0[order0[i]]++;
        if (order1[i] >= 0 && order1[i] < 7) seen1[order1[i]]++;
    }
    for (int i = 0; i < 7; i++) perm &= seen0[i] == 1 && seen1[i] == 1;
    CHECK(perm);
    CHECK(memcmp(order0, order1, sizeof order0) != 0); /* epochs are shuffled differently */

    /* shuffling: same seed same order, different seed different order (first epoch, B = 7) */
    o.batch_size = 7;
    o.drop_last = 1;
    int32_t first[3][7];
    uint64_t seeds[3] = {99, 99, 100};
    for (int r = 0; r < 3; r++) {
        afloc_data_loader *l = NULL;
        const afloc_data_batch *batch = NULL;
        o.seed = seeds[r];
        CHECK_STATUS(afloc_data_loader_create(m, c, &o, &l, "t"), AFLOC_OK);
        if (l) CHECK_STATUS(afloc_data_loader_next(l, &batch, "t"), AFLOC_OK);
        if (batch) memcpy(first[r], batch->rows, sizeof first[r]);
        afloc_data_loader_free(l);
    }
    CHECK(memcmp(first[0], first[1], sizeof first[0]) == 0);
    CHECK(memcmp(first[0], first[2], sizeof first[0]) != 0);
    printf("shuffle: seed 99 -> %d %d %d %d %d %d %d, seed 100 -> %d %d %d %d %d %d %d\n", first[0][0],
           first[0][1], first[0][2], first[0][3], first[0][4], first[0][5], first[0][6], first[2][0],
           first[2][1], first[2][2], first[2][3], first[2][4], first[2][5], first[2][6]);

    /* worker error: corrupt one PNG after the manifest check; the error names the row and is sticky */
    write_text("img4.png", "not a png at all");
    for (int threaded = 0; threaded <= 1; threaded++) {
        afloc_data_loader *l = NULL;
        o.threaded = threaded;
        o.batch_size = 2;
        o.drop_last = 1;
        CHECK_STATUS(afloc_data_loader_create(m, c, &o, &l, "t"), AFLOC_OK);
        afloc_status st = AFLOC_OK;
        const afloc_data_batch *batch = NULL;
        int ok_batches = 0;
        for (int b = 0; l && b < 10 && st == AFLOC_OK; b++) {
            st = afloc_data_loader_next(l, &batch, "t");
            ok_batches += st == AFLOC_OK;
        }
        CHECK(st == AFLOC_ERR_IMAGE_FORMAT);
        CHECK(message_has("row 4 (train.csv line 6") && message_has("img4.png"));
        if (l) CHECK(afloc_data_loader_next(l, &batch, "t") == AFLOC_ERR_IMAGE_FORMAT);
        afloc_data_loader_free(l);
        printf("loader error (%s): after %d good batches: %s\n", threaded ? "threaded" : "sync", ok_batches,
               afloc_last_error());
    }
    /* early free while the worker is busy or waiting */
    write_png("img4.png", 50, 50, 4);
    o.threaded = 1;
    afloc_data_loader *l = NULL;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &l, "t"), AFLOC_OK);
    afloc_data_loader_free(l);
    o.batch_size = 8;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &l, "t"), AFLOC_ERR_INVALID_ARGUMENT);
    afloc_caption_cache_free(c);
    afloc_manifest_free(m);
    printf("loader: threaded == synchronous over %d batches, %d images equal direct preprocessing; "
           "start_batch 1/4/6/11 == skipping that many batches (%d of 8 runs of 5 batches)\n",
           compared, filled, seek_ok);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/afloc_train_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    char sub[300];
    snprintf(sub, sizeof sub, "%s/sub", tmpdir);
    if (mkdir(sub, 0700) != 0) {
        perror("mkdir");
        return 1;
    }
    write_png("a.png", 8, 8, 0);
    write_png("sub/b.png", 8, 8, 1);
    test_csv();
    test_captions();
    test_oom();
    test_loader();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish("train_data");
}
