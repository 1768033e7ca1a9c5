/* test_eval_helpers.c: unit tests of the `afloc eval` helpers (src/cli/eval_*.c): the left/right
 * prompt swap, the baselines (determinism by seed, ranges, the centre prior's peak), the box
 * drawn on the grid for the read-out's ceiling (worked by hand) and its cell centres against the
 * library's read-out, the CSV
 * reader on RFC 4180 corner cases (quotes, "" escapes, a line break inside a field, CRLF, a BOM,
 * columns in any order) and its errors, and the two pictures (decoded back). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include "../../src/cli/eval_baselines.h"
#include "../../src/cli/eval_dataset.h"
#include "../../src/cli/eval_render.h"
#include "test_util.h"

static void check_swap(const char *in, const char *want, int32_t want_changed) {
    int32_t changed = -1;
    char *got = eval_swap_sides(in, &changed);
    CHECK(got && !strcmp(got, want) && changed == want_changed);
    if (got && strcmp(got, want)) fprintf(stderr, "swap '%s': got '%s', want '%s'\n", in, got, want);
    free(got);
}

static void test_swap(void) {
    check_swap("small left pleural effusion", "small right pleural effusion", 1);
    check_swap("Right lower lobe, LEFT apex; left.", "Left lower lobe, RIGHT apex; right.", 3);
    check_swap("leftward shift, bright region", "leftward shift, bright region", 0);
    check_swap("", "", 0);
    check_swap("left left left", "right right right", 3);
}

static void test_baselines(void) {
    enum { S = 32 };
    static float a[S * S], b[S * S], c[S * S];
    eval_baseline_random(a, S, 7, 3);
    eval_baseline_random(b, S, 7, 3);
    eval_baseline_random(c, S, 8, 3);
    CHECK(!memcmp(a, b, sizeof a));
    int differ = 0, in_range = 1;
    double mean = 0;
    for (int i = 0; i < S * S; i++) {
        differ += a[i] != c[i];
        in_range &= a[i] >= 0.0f && a[i] < 1.0f;
        mean += a[i] / (S * S);
    }
    CHECK(differ > S * S - 5 && in_range && fabs(mean - 0.5) < 0.05);
    eval_baseline_random(c, S, 7, 4); /* another row: another map */
    CHECK(memcmp(a, c, sizeof a) != 0);
    eval_baseline_center(a, S);
    int peak = 0;
    for (int i = 0; i < S * S; i++)
        if (a[i] > a[peak]) peak = i;
    CHECK(peak == (S / 2 - 1) * S + S / 2 - 1); /* centre (15.5, 15.5): first of the 4 maxima */
    CHECK(fabsf(a[0] - expf(-2.0f * 15.5f * 15.5f / (2.0f * 8.0f * 8.0f))) < 1e-6f);
    printf("baselines: random mean %.4f over %d pixels, %d differ across seeds\n", mean, S * S, differ);
}

static int write(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    fputs(text, f);
    return fclose(f);
}

static const char classes[] = "\xEF\xBB\xBFnegative,class,positive\r\n"
                              "\"no \"\"big\"\" mass\",mass,\"a big\r\nmass\"\r\n"
                              "no nodule,nodule,small nodule\r\n";
static const char labels[] = "nodule,image,mass\n0,a.png,1\n\n1,b.png,0\n";

static void test_dataset(const char *root) {
    char dir[1024], err[1024];
    snprintf(dir, sizeof dir, "%s/csv", root);
    mkdir(dir, 0755);
    remove(strcat(strcpy(err, dir), "/dataset.json")); /* from an earlier run */
    CHECK(!write(dir, "classes.csv", classes) && !write(dir, "labels.csv", labels));
    CHECK(!write(dir, "test.csv", "group,y1,x1,y0,x0,side,category,prompt,image\n"
                                  "2,9,8,1,0,left,mass,\"left, big\",a.png\n"
                                  "1,5,5,0,0,none,nodule,nodule,c.png\n"));
    eval_dataset d;
    int rc = eval_dataset_load(dir, 0, &d, err, sizeof err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(d.classes == 2 && d.pairs == 2 && !strcmp(d.class_name[0], "mass") &&
          !strcmp(d.pair_negative[0], "no \"big\" mass") && d.pair_class[0] == 0 && d.pair_class[1] == 1);
    CHECK(!strcmp(d.pair_positive[0], "a big\r\nmass") && !strcmp(d.pair_positive[1], "small nodule"));
    CHECK(d.labelled == 2 && d.label[0] == 1 && d.label[1] == 0 && d.label[2] == 0 && d.label[3] == 1);
    CHECK(d.rows == 2 && d.images == 3 && d.row[0].image_index == 0 && d.row[1].image_index == 2);
    CHECK(!strcmp(d.row[0].prompt, "left, big") && d.row[0].side == EVAL_SIDE_LEFT && d.row[0].x1 == 8 &&
          d.row[0].y1 == 9 && d.row[0].group == 2 && d.row[0].category == 0 && d.row[1].category == 1);
    CHECK(d.row[0].line == 2 && d.row[1].line == 3 && d.info_json == NULL);
    eval_dataset_free(&d);
    CHECK(eval_dataset_load(dir, 1, &d, err, sizeof err) == 0 && d.rows == 1 && d.labelled == 1);
    eval_dataset_free(&d);
    /* a class on several rows: one class, its pairs in file order (a prompt ensemble) */
    CHECK(!write(dir, "classes.csv", "class,positive,negative\nmass,a,b\nnodule,c,d\nmass,e,b\n"));
    CHECK(eval_dataset_load(dir, 0, &d, err, sizeof err) == 0 && d.classes == 2 && d.pairs == 3);
    CHECK(d.pair_class[0] == 0 && d.pair_class[1] == 1 && d.pair_class[2] == 0 && !strcmp(d.pair_positive[2], "e"));
    eval_dataset_free(&d);
    CHECK(!write(dir, "classes.csv", classes));
    /* errors name file:line (the record's first line) */
    static const struct { const char *file, *text, *want; } bad[] = {
        {"test.csv", "image,prompt,category,side,x0,y0,x1,y1,group\na.png,p,mass,left,0,0,0,1,1\n",
         "test.csv:2: box (0, 0, 0, 1) is empty"},
        {"test.csv", "image,prompt,category,side,x0,y0,x1,y1,group\na.png,\"p\nq,mass,left,0,0,1,1,1\n",
         "test.csv:2: quoted field never closed"},
        {"test.csv", "image,prompt,category,side,x0,y0,x1,y1,group\na.png,\"p\nq\",mass,up,0,0,1,1,1\n",
         "test.csv:2: side 'up'"},
        {"test.csv", "image,prompt,category,side,x0,y0,x1,y1,group\n\na.png,p\"q,mass,left,0,0,1,1,1\n",
         "test.csv:3: quote inside an unquoted field"},
        {"test.csv", "image,prompt,category,side,x0,y0,x1,y1,group\na.png,p,mass,left, 1,0,2,1,1\n",
         "test.csv:2: column 'x0': ' 1' is not an integer"},
        {"test.csv", "image,prompt,category,side,x0,y0,x1,y1,group\na.png,p,mass,left,0,0,2,1,0\n",
         "test.csv:2: group 0 is not >= 1"},
        {"test.csv", "", "test.csv: empty file (no header)"},
        {"labels.csv", "image,mass,nodule,fracture\n", "labels.csv:1: column 'fracture' is not a class"},
        {"labels.csv", "image,mass\na.png,1\n", "labels.csv:1: missing column 'nodule'"},
        {"labels.csv", "image,mass,nodule\na.png,1,0\na.png,0,0\n", "labels.csv:3: image 'a.png' listed twice"},
        {"classes.csv", "class,positive,negative\nmass,a,b\nmass,a,b\n", "classes.csv:3: class 'mass' with the same prompts listed twice"},
        {"dataset.json", "[1, 2]", "dataset.json: not a JSON object"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(!write(dir, "classes.csv", classes) && !write(dir, "labels.csv", labels));
        CHECK(!write(dir, "test.csv", "image,prompt,category,side,x0,y0,x1,y1,group\na.png,p,mass,none,0,0,1,1,1\n"));
        remove(strcat(strcpy(err, dir), "/dataset.json"));
        CHECK(!write(dir, bad[i].file, bad[i].text));
        err[0] = '\0';
        rc = eval_dataset_load(dir, 0, &d, err, sizeof err);
        CHECK(rc == 1 && strstr(err, bad[i].want) != NULL);
        if (rc != 1 || !strstr(err, bad[i].want)) fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, err, bad[i].want);
    }
    printf("dataset: %zu malformed files rejected with file:line messages\n", sizeof bad / sizeof bad[0]);
}

/* Pixels of the loss curve's contrast colour (230, 140, 0) in the PNG at `path`; -1 if unreadable. */
static int orange_pixels(const char *path) {
    afloc_image *im = NULL;
    afloc_image_view v = {.struct_size = sizeof v};
    int count = -1;
    if (afloc_image_load_png(path, NULL, &im) == AFLOC_OK && afloc_image_get_view(im, &v) == AFLOC_OK &&
        v.channels == 3) {
        count = 0;
        for (int32_t y = 0; y < v.height; y++) {
            const uint8_t *row = (const uint8_t *)v.pixels + (size_t)y * v.row_stride;
            for (int32_t x = 0; x < v.width; x++)
                count += row[3 * x] == 230 && row[3 * x + 1] == 140 && row[3 * x + 2] == 0;
        }
    }
    afloc_image_free(im);
    return count;
}

static void test_pictures(const char *root) {
    enum { S = 40 };
    static float frame[S * S], map[S * S];
    static uint8_t mask[S * S];
    for (int i = 0; i < S * S; i++) {
        frame[i] = (float)(i % S) / S * 2.0f - 1.0f;
        map[i] = (i / S < 3) ? NAN : (float)(i / S) / S;
        mask[i] = (i / S >= 10 && i / S < 20 && i % S >= 5 && i % S < 30);
    }
    eval_tile tiles[5];
    for (int t = 0; t < 5; t++) tiles[t] = (eval_tile){frame, map, mask, t};
    char path[1024], log[1024], err[1024];
    snprintf(path, sizeof path, "%s/sheet.png", root);
    CHECK(eval_render_contact_sheet(path, tiles, 5, S, err, sizeof err) == 0);
    afloc_image *im = NULL;
    afloc_image_view v = {.struct_size = sizeof v};
    CHECK(afloc_image_load_png(path, NULL, &im) == AFLOC_OK && afloc_image_get_view(im, &v) == AFLOC_OK);
    /* S = 40 is drawn 4x (160 px); 4 columns, 2 rows, 4 px gaps */
    CHECK(v.width == 4 * 160 + 5 * 4 && v.height == 2 * 160 + 3 * 4 && v.channels == 3);
    if (v.pixels) { /* box outline pixel (tile 0, frame (5, 15)) is green */
        const uint8_t *p = (const uint8_t *)v.pixels + (size_t)(4 + 15 * 4) * v.row_stride + (size_t)(4 + 5 * 4) * 3;
        CHECK(p[0] == 0 && p[1] == 255 && p[2] == 0);
    }
    afloc_image_free(im);
    snprintf(log, sizeof log, "%s/log.csv", root);
    FILE *f = fopen(log, "w");
    fputs("step,epoch,global,sentence,word,total,extra\n", f);
    for (int s = 0; s < 25; s++) fprintf(f, "%d,0,%g,%g,%g,%g,x\n", s * 10, 3.0 / (s + 1), 1.0, 0.5, 3.0 / (s + 1) + 1.5);
    fclose(f);
    snprintf(path, sizeof path, "%s/curve.png", root);
    int32_t points = 0;
    int rc = eval_render_loss_curve(log, path, &points, err, sizeof err);
    CHECK(rc == 0 && points == 25);
    if (rc) fprintf(stderr, "%s\n", err);
    im = NULL;
    CHECK(afloc_image_load_png(path, NULL, &im) == AFLOC_OK && afloc_image_get_view(im, &v) == AFLOC_OK &&
          v.width == 800 && v.height == 480);
    afloc_image_free(im);
    f = fopen(log, "w");
    fputs("step,epoch,global,sentence,total\n1,0,1,1,2\n", f);
    fclose(f);
    CHECK(eval_render_loss_curve(log, path, &points, err, sizeof err) == 1 && strstr(err, "log.csv:1: missing column 'word'"));
    /* the optional within-image sentence loss column (afloc train --sentence-contrast) is drawn
     * in orange when the header has it, and nothing is orange without it */
    const int orange_without = orange_pixels(path); /* the failed call left the first curve */
    f = fopen(log, "w");
    fputs("step,epoch,global,sentence,word,total,sentence_contrast\n", f);
    for (int s = 0; s < 25; s++) fprintf(f, "%d,0,%g,1,0,%g,%g\n", s * 10, 3.0 / (s + 1), 4.0 / (s + 1) + 1.0, 1.0 / (s + 1));
    fclose(f);
    rc = eval_render_loss_curve(log, path, &points, err, sizeof err);
    CHECK(rc == 0 && points == 25);
    const int orange_with = orange_pixels(path);
    CHECK(orange_without == 0 && orange_with > 100);
    f = fopen(log, "w");
    fputs("step,epoch,global,sentence,word,total,sentence_contrast\n1,0,1,1,0,2,nan\n", f);
    fclose(f);
    CHECK(eval_render_loss_curve(log, path, &points, err, sizeof err) == 1 &&
          strstr(err, "column 'sentence_contrast' is not a finite number"));
    printf("pictures: contact sheet %dx%d and loss curve 800x480 decoded; the contrast series %d "
           "orange pixels (0 without it)\n", 4 * 160 + 20, 2 * 160 + 12, orange_with);
}

/* The read-out's ceiling, worked by hand: cell centres of both geometries, and the box drawn on
 * a 4x4 grid over an 8x8 frame (each cell the share of its nearest frame pixels in the box). */
static void test_box_on_grid(void) {
    double c[4];
    CHECK(eval_cell_centres(c, 4, 8, AFLOC_MAP_ALIGN_REFERENCE, 0) == 0);
    CHECK(c[0] == 0.5 && c[1] == 2.5 && c[2] == 4.5 && c[3] == 6.5); /* (u + 0.5)·2 − 0.5 */
    CHECK(eval_cell_centres(c, 4, 8, AFLOC_MAP_ALIGN_CENTRED_CUBIC, 64) == 0);
    CHECK(fabs(c[1] - 16.0 * 7 / 63) < 1e-12 && c[0] == 0.0);        /* u·16·(F−1)/(up−1) */
    CHECK(eval_cell_centres(c, 4, 8, AFLOC_MAP_ALIGN_CENTRED, 0) == 1); /* geometry unknown */
    CHECK(eval_cell_centres(c, 4, 8, AFLOC_MAP_ALIGN_MODEL, 64) == 1);
    /* reference centres 0.5, 2.5, 4.5, 6.5: pixels {0,1} {2,3} {4,5} {6,7} (ties go to the
     * lower cell: pixel 1.5 does not exist, so no ties here) */
    CHECK(eval_cell_centres(c, 4, 8, AFLOC_MAP_ALIGN_REFERENCE, 0) == 0);
    uint8_t mask[64] = {0};
    for (int y = 1; y < 4; y++)     /* rows 1..3, columns 2..4 */
        for (int x = 2; x < 5; x++) mask[y * 8 + x] = 1;
    int32_t cell_of[8], cell_width[4];
    eval_grid_cells(cell_of, cell_width, 4, 8, c);
    for (int o = 0; o < 8; o++) CHECK(cell_of[o] == o / 2);
    for (int u = 0; u < 4; u++) CHECK(cell_width[u] == 2);
    float grid[16];
    eval_box_on_grid(grid, 4, mask, 8, cell_of, cell_width);
    const float want[16] = {0, 0.5f, 0.25f, 0,   /* rows {0,1}: one box row of two */
                            0, 1.0f, 0.5f,  0,   /* rows {2,3}: both box rows */
                            0, 0,    0,     0,
                            0, 0,    0,     0};
    for (int i = 0; i < 16; i++) {
        CHECK(grid[i] == want[i]);
        if (grid[i] != want[i]) fprintf(stderr, "box on grid [%d]: %g, want %g\n", i, grid[i], want[i]);
    }
}

/* The cell centres eval_cell_centres gives against where the library's read-out actually draws
 * each cell: a one-hot grid at (u, u) passed through afloc_model_grid_to_frame (the public
 * read-out, normalisation off) must peak at the frame pixel nearest centre[u], in every
 * alignment. The CLI keeps its own copy of the centred geometry (the library's is internal), so
 * this is what catches the two drifting apart: reference and centred places differ by 15/32 of
 * a cell, several pixels here. Sigma 0.5, so that the reflecting border of the smoothing does
 * not pull the peak of the cell next to it outwards (at 1.5 it moves onto the border cell), and
 * interior cells only: at the border the reference resize clamps (a plateau). Tiny random
 * model (S = 8, frame 64). */
static void test_cell_centres_match_library(void) {
    size_t vocab_size = 0;
    char *vocab = test_read_source_file("tests/model/cli_vocab.txt", &vocab_size);
    CHECK(vocab != NULL);
    if (!vocab) return;
    const char *config =
        "{\"resnet_blocks\":[1,1,1,1],\"resnet_planes\":[8,16,32,64],\"resnet_stem\":16,"
        "\"image_size\":64,\"crop_size\":64,\"upsample_size\":128,\"bert_layers\":1,"
        "\"bert_hidden\":32,\"bert_heads\":4,\"bert_intermediate\":64,\"vocab_size\":101,"
        "\"max_positions\":128,\"last_n_layers\":1,\"embedding_dim\":32,"
        "\"gaussian_sigma\":0.5}";
    afloc_context *ctx = NULL;
    afloc_model *model = NULL;
    CHECK(afloc_context_create(NULL, &ctx) == AFLOC_OK);
    CHECK(ctx && afloc_model_create(ctx, config, vocab, vocab_size, 1, &model) == AFLOC_OK);
    free(vocab);
    if (!model) {
        fprintf(stderr, "cell centres: %s\n", afloc_last_error());
        afloc_context_free(ctx);
        return;
    }
    enum { S = 8, F = 64, UP = 128 };
    static float grid[S * S], frame[F * F];
    const int32_t alignments[3] = {AFLOC_MAP_ALIGN_REFERENCE, AFLOC_MAP_ALIGN_CENTRED,
                                   AFLOC_MAP_ALIGN_CENTRED_CUBIC};
    int checked = 0;
    for (int a = 0; a < 3; a++) {
        double centre[S];
        CHECK(eval_cell_centres(centre, S, F, alignments[a], UP) == 0);
        afloc_localize_options o;
        o.struct_size = sizeof o;
        afloc_localize_options_default(&o);
        o.normalize = 0;
        o.map_alignment = alignments[a];
        for (int u = 1; u < S - 1; u++) {
            memset(grid, 0, sizeof grid);
            grid[u * S + u] = 1.0f;
            CHECK(afloc_model_grid_to_frame(model, grid, S * S, &o, frame, F * F) == AFLOC_OK);
            int best = 0;
            for (int i = 1; i < F * F; i++)
                if (frame[i] > frame[best]) best = i;
            double dy = best / F - centre[u], dx = best % F - centre[u];
            CHECK(fabs(dy) <= 0.5 + 1e-9 && fabs(dx) <= 0.5 + 1e-9);
            if (fabs(dy) > 0.5 + 1e-9 || fabs(dx) > 0.5 + 1e-9)
                fprintf(stderr, "alignment %d cell %d: read-out peaks at (%d, %d), centre %.3f\n",
                        (int)alignments[a], u, best / F, best % F, centre[u]);
            checked++;
        }
    }
    printf("cell centres: %d one-hot cells peak at the pixel nearest their centre (3 read-outs)\n",
           checked);
    afloc_model_free(model);
    afloc_context_free(ctx);
}

int main(int argc, char **argv) {
    const char *root = argc > 1 ? argv[1] : ".";
    mkdir(root, 0755);
    test_swap();
    test_baselines();
    test_box_on_grid();
    test_cell_centres_match_library();
    test_dataset(root);
    test_pictures(root);
    return test_finish("evalcli_helpers");
}
