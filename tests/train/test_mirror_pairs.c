/* test_mirror_pairs.c: the mirror-pair laterality augmentation (afloc_trainer_options
 * .mirror_pairs): the left/right word swap, the left-right image mirror, and the loader's pairs
 * against a plain loader of half the batch (the originals must be exactly its batches), plus the
 * loader's option checks (the trainer's: test_trainer_fit.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "captions.h"
#include "data_loader.h"
#include "laterality.h"
#include "manifest.h"
#include "data_fixture.h"
#include "test_util.h"

static char tmpdir[256];

static void write_png(const char *name, int w, int h, int seed) {
    fixture_write_png(tmpdir, name, w, h, seed);
}

static void check_swap(const char *in, const char *want) {
    char out[256];
    size_t n = afloc_swap_sides(in, out, sizeof out);
    CHECK(n == strlen(want) && strcmp(out, want) == 0);
    if (n == (size_t)-1 || strcmp(out, want) != 0)
        fprintf(stderr, "  swap(\"%s\") = \"%s\", want \"%s\"\n", in, n == (size_t)-1 ? "(fail)" : out, want);
}

static void test_swap(void) {
    check_swap("Moderate left pleural effusion. No right pneumothorax.",
               "Moderate right pleural effusion. No left pneumothorax.");
    check_swap("Left lower lobe. RIGHT apex. Right.", "Right lower lobe. LEFT apex. Left.");
    check_swap("left-sided; (right) left,right", "right-sided; (left) right,left");
    /* not whole words: kept */
    check_swap("bright leftward rightmost lefts 2left", "bright leftward rightmost lefts 2left");
    check_swap("", "");
    check_swap("no side words at all", "no side words at all");
    check_swap("\xc3\xa9left left\xc3\xa9", "\xc3\xa9right right\xc3\xa9"); /* UTF-8 ends words */
    /* the capacity bound is tight enough for the worst case and enforced */
    const char *worst = "left left left left";
    size_t len = strlen(worst), cap = afloc_swap_sides_capacity(len);
    char out[64];
    CHECK(afloc_swap_sides(worst, out, cap) == 23 && strcmp(out, "right right right right") == 0);
    CHECK(afloc_swap_sides(worst, out, cap - 1) == (size_t)-1);
    /* swapping twice gives the text back */
    char once[128], twice[160];
    const char *text = "Left effusion, right nodule; no LEFT pneumothorax.";
    afloc_swap_sides(text, once, sizeof once);
    afloc_swap_sides(once, twice, sizeof twice);
    CHECK(strcmp(text, twice) == 0);
}

static void test_mirror_plane(void) {
    float p[3 * 5], q[3 * 5];
    for (int i = 0; i < 15; i++) p[i] = q[i] = (float)i;
    afloc_mirror_plane(p, 3, 5);
    int ok = 1;
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 5; x++) ok &= p[y * 5 + x] == q[y * 5 + 4 - x];
    CHECK(ok);
    float r[4] = {1, 2, 3, 4};
    afloc_mirror_plane(r, 1, 4);
    CHECK(r[0] == 4 && r[1] == 3 && r[2] == 2 && r[3] == 1);
}

static void test_loader(void) {
    char csv[4096] = "image,report\n";
    for (int i = 0; i < 7; i++) {
        char name[32], line[256];
        snprintf(name, sizeof name, "img%d.png", i);
        write_png(name, 30 + 7 * i, 44 - 2 * i, i);
        snprintf(line, sizeof line,
                 "%s,\"row%d left effusion. Right nodule %d. No pneumothorax. Heart normal.\"\n", name, i, i);
        strcat(csv, line);
    }
    afloc_manifest *m = NULL;
    afloc_caption_cache *c = NULL;
    CHECK(fixture_manifest_and_cache(tmpdir, csv, &m, &c));
    if (!m) return;
    const int S = 32;
    const size_t plane = (size_t)S * S;
    afloc_data_loader_options o;
    afloc_data_loader_options_default(&o);
    o.image_size = 36;
    o.crop_size = S;
    o.seed = 77;
    o.drop_last = 0;
    o.threaded = 0;
    o.batch_size = 2; /* the plain loader: 2 rows per batch */
    afloc_data_loader *plain = NULL, *pairs = NULL, *pairs_threaded = NULL;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &plain, "t"), AFLOC_OK);
    o.batch_size = 4;
    o.mirror_pairs = 1; /* 2 rows per batch, each twice */
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &pairs, "t"), AFLOC_OK);
    o.threaded = 1;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &pairs_threaded, "t"), AFLOC_OK);
    float *mirrored = malloc(plane * sizeof *mirrored);
    int batches = 0, samples = 0, originals_equal = 0, twins_mirrored = 0, twins_swapped = 0,
        threaded_equal = 0, sided = 0;
    for (int b = 0; plain && pairs && pairs_threaded && mirrored && b < 8; b++) { /* 2 epochs */
        const afloc_data_batch *p = NULL, *q = NULL, *t = NULL;
        CHECK_STATUS(afloc_data_loader_next(plain, &p, "t"), AFLOC_OK);
        CHECK_STATUS(afloc_data_loader_next(pairs, &q, "t"), AFLOC_OK);
        CHECK_STATUS(afloc_data_loader_next(pairs_threaded, &t, "t"), AFLOC_OK);
        if (!p || !q || !t) break;
        batches++;
        /* 7 rows, 2 per batch: 4 batches per epoch, the last with one row (two samples) */
        CHECK(q->count == 2 * p->count && q->epoch == p->epoch && q->index == p->index);
        CHECK(q->count == (q->index == 3 ? 2 : 4));
        for (int i = 0; i < p->count; i++) {
            const int k = 2 * i;
            samples += 2;
            originals_equal += q->rows[k] == p->rows[i] && q->rows[k + 1] == p->rows[i] &&
                               strcmp(q->captions[k], p->captions[i]) == 0 &&
                               memcmp(q->images + k * plane, p->images + i * plane, plane * sizeof(float)) == 0;
            memcpy(mirrored, q->images + k * plane, plane * sizeof(float));
            int asymmetric = 0;
            for (size_t x = 0; x < plane; x++) asymmetric |= mirrored[x] != mirrored[(x / S) * S + S - 1 - x % S];
            afloc_mirror_plane(mirrored, S, S);
            twins_mirrored += asymmetric &&
                              memcmp(q->images + (k + 1) * plane, mirrored, plane * sizeof(float)) == 0;
            char want[256];
            afloc_swap_sides(q->captions[k], want, sizeof want);
            twins_swapped += strcmp(q->captions[k + 1], want) == 0;
            sided += strstr(q->captions[k], "left") || strstr(q->captions[k], "right") ||
                     strstr(q->captions[k], "Right");
        }
        int same = t->count == q->count;
        for (int i = 0; same && i < q->count; i++)
            same = t->rows[i] == q->rows[i] && strcmp(t->captions[i], q->captions[i]) == 0 &&
                   memcmp(t->images + i * plane, q->images + i * plane, plane * sizeof(float)) == 0;
        threaded_equal += same;
    }
    free(mirrored);
    CHECK(batches == 8 && samples == 28);
    CHECK(originals_equal == 14 && twins_mirrored == 14 && twins_swapped == 14 && threaded_equal == 8);
    CHECK(sided > 0); /* the random captions did pick side sentences: the swap was exercised */
    printf("mirror pairs: %d batches, %d samples; originals == the plain loader's at half the batch "
           "(%d/14), twins mirrored (%d/14) with sides swapped (%d/14, %d with a side word); threaded == "
           "synchronous (%d/8)\n", batches, samples, originals_equal, twins_mirrored, twins_swapped, sided,
           threaded_equal);
    afloc_data_loader_free(plain);
    afloc_data_loader_free(pairs);
    afloc_data_loader_free(pairs_threaded);

    /* option checks: odd batch, a value other than 0/1, more rows than the manifest holds */
    afloc_data_loader *bad = NULL;
    o.batch_size = 3;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &bad, "t"), AFLOC_ERR_INVALID_ARGUMENT);
    o.batch_size = 4;
    o.mirror_pairs = 2;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &bad, "t"), AFLOC_ERR_INVALID_ARGUMENT);
    o.mirror_pairs = 1;
    o.drop_last = 1;
    o.batch_size = 14; /* 7 rows, each twice: allowed */
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &bad, "t"), AFLOC_OK);
    afloc_data_loader_free(bad);
    bad = NULL;
    o.batch_size = 16;
    CHECK_STATUS(afloc_data_loader_create(m, c, &o, &bad, "t"), AFLOC_ERR_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    afloc_caption_cache_free(c);
    afloc_manifest_free(m);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/afloc_mirror_XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_swap();
    test_mirror_plane();
    test_loader();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish("train_mirror_pairs");
}
