/* make_fixture.c: writes a tiny `afloc synth`-style dataset for the `afloc eval` tests (the
 * issue-5 dataset layout): six test images (16-bit gray, one 8-bit RGB; wide, tall and square)
 * whose findings are bright ellipses inside their boxes, test.csv (with a quoted prompt holding
 * a comma), labels.csv (class columns in another order than classes.csv), classes.csv,
 * dataset.json, and a training log. Then one copy per malformed case, each differing from the
 * good dataset in one line. Usage: make_fixture OUT_DIR. Words come from tests/model/cli_vocab.txt. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "afloc/afloc.h"

typedef struct finding {
    const char *prompt, *category, *side;
    int x0, y0, x1, y1;
} finding;

typedef struct test_image {
    int w, h, rgb, findings;
    finding f[3];
} test_image;

static const test_image images[6] = {
    {96, 80, 0, 2, {{"left pleural effusion", "effusion", "left", 60, 40, 90, 75},
                    {"right lower lobe opacity", "opacity", "right", 6, 30, 36, 60}}},
    {80, 96, 0, 1, {{"small right pneumothorax", "pneumothorax", "right", 6, 8, 32, 44}}},
    {64, 64, 0, 1, {{"mild edema", "edema", "bilateral", 14, 14, 50, 50}}},
    {72, 72, 1, 3, {{"large left pleural effusion, small", "effusion", "left", 40, 34, 68, 66},
                    {"upper lobe opacity", "opacity", "none", 10, 8, 34, 30},
                    {"small left pneumothorax", "pneumothorax", "left", 44, 6, 66, 26}}},
    {64, 64, 0, 0, {{0}}},
    {64, 48, 0, 1, {{"Right pleural effusion", "effusion", "right", 4, 16, 30, 44}}},
};

static int write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "make_fixture: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* Background gradient plus a bright ellipse filling the middle of each finding's box. */
static int write_image(const char *dir, int index, const test_image *t) {
    const int n = t->w * t->h, ch = t->rgb ? 3 : 1;
    uint16_t *p16 = malloc((size_t)n * sizeof *p16);
    uint8_t *p8 = malloc((size_t)n * 3);
    if (!p16 || !p8) return 1;
    for (int y = 0; y < t->h; y++)
        for (int x = 0; x < t->w; x++) {
            double v = 0.15 + 0.1 * (double)y / t->h + 0.02 * ((x * 7 + y * 13) % 5);
            for (int k = 0; k < t->findings; k++) {
                const finding *f = &t->f[k];
                double cx = 0.5 * (f->x0 + f->x1 - 1), cy = 0.5 * (f->y0 + f->y1 - 1);
                double rx = 0.35 * (f->x1 - f->x0), ry = 0.35 * (f->y1 - f->y0);
                double dx = (x - cx) / rx, dy = (y - cy) / ry;
                if (dx * dx + dy * dy < 1.0) v = 0.6 + 0.3 * (1.0 - dx * dx - dy * dy);
            }
            p16[y * t->w + x] = (uint16_t)(v * 65535.0);
            for (int c = 0; c < 3; c++) p8[3 * (y * t->w + x) + c] = (uint8_t)(v * 255.0 * (c == 1 ? 0.9 : 1.0));
        }
    afloc_image_view view = {.struct_size = sizeof view, .channels = ch, .width = t->w, .height = t->h};
    view.pixel_type = t->rgb ? AFLOC_PIXEL_U8 : AFLOC_PIXEL_U16;
    view.row_stride = (size_t)t->w * (t->rgb ? 3 : 2);
    view.pixels = t->rgb ? (const void *)p8 : (const void *)p16;
    char path[4096];
    snprintf(path, sizeof path, "%s/images/test_%06d.png", dir, index);
    afloc_status s = afloc_image_save_png(&view, path);
    free(p16);
    free(p8);
    if (s != AFLOC_OK) fprintf(stderr, "make_fixture: %s: %s\n", path, afloc_last_error());
    return s != AFLOC_OK;
}

enum { GOOD, MISSING_COLUMN, BAD_NUMBER, BAD_BOX, UNKNOWN_CLASS, BAD_LABEL, BAD_SIDE, FIELD_COUNT, CASES };
static const char *const case_name[CASES] = {"good", "bad_missing_column", "bad_number", "bad_box",
                                             "bad_unknown_class", "bad_label", "bad_side", "bad_field_count"};

static int write_dataset(const char *root, int variant) {
    char dir[4096], sub[4200];
    snprintf(dir, sizeof dir, "%s/%s", root, case_name[variant]);
    snprintf(sub, sizeof sub, "%s/images", dir);
    mkdir(dir, 0755);
    mkdir(sub, 0755);
    for (int i = 0; i < 6; i++)
        if (write_image(dir, i, &images[i])) return 1;
    /* test.csv: line 1 header, then one line per finding in image order (lines 2..9) */
    static char test[8192];
    int o = snprintf(test, sizeof test, "%s\r\n",
                     variant == MISSING_COLUMN ? "image,prompt,category,side,x0,y0,x1,y1"
                                               : "image,prompt,category,side,x0,y0,x1,y1,group");
    int line = 1;
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < images[i].findings; k++) {
            const finding *f = &images[i].f[k];
            line++;
            char x0[16], cat[32], side[16];
            snprintf(x0, sizeof x0, "%d", f->x0);
            snprintf(cat, sizeof cat, "%s", f->category);
            snprintf(side, sizeof side, "%s", f->side);
            int x1 = f->x1;
            if (variant == BAD_NUMBER && line == 3) snprintf(x0, sizeof x0, "1O");
            if (variant == BAD_BOX && line == 4) x1 = images[i].w + 1;
            if (variant == UNKNOWN_CLASS && line == 5) snprintf(cat, sizeof cat, "fracture");
            if (variant == BAD_SIDE && line == 6) snprintf(side, sizeof side, "up");
            if (variant == FIELD_COUNT && line == 7) {
                o += snprintf(test + o, sizeof test - (size_t)o, "images/test_%06d.png,%s\r\n", i, f->prompt);
                continue;
            }
            const int quote = strchr(f->prompt, ',') != NULL;
            o += snprintf(test + o, sizeof test - (size_t)o, "images/test_%06d.png,%s%s%s,%s,%s,%s,%d,%d,%d",
                          i, quote ? "\"" : "", f->prompt, quote ? "\"" : "", cat, side, x0, f->y0, x1, f->y1);
            if (variant != MISSING_COLUMN) o += snprintf(test + o, sizeof test - (size_t)o, ",%d", images[i].findings);
            o += snprintf(test + o, sizeof test - (size_t)o, "\r\n");
        }
    static const char *const class_names[4] = {"effusion", "opacity", "pneumothorax", "edema"};
    /* labels.csv: columns deliberately not in classes.csv order */
    static char labels[4096];
    static const int order[4] = {3, 0, 2, 1};
    o = snprintf(labels, sizeof labels, "image");
    for (int c = 0; c < 4; c++) o += snprintf(labels + o, sizeof labels - (size_t)o, ",%s", class_names[order[c]]);
    o += snprintf(labels + o, sizeof labels - (size_t)o, "\n");
    for (int i = 0; i < 6; i++) {
        o += snprintf(labels + o, sizeof labels - (size_t)o, "images/test_%06d.png", i);
        for (int c = 0; c < 4; c++) {
            int present = 0;
            for (int k = 0; k < images[i].findings; k++) present |= !strcmp(images[i].f[k].category, class_names[order[c]]);
            if (variant == BAD_LABEL && i == 1 && c == 2) present = 2; /* labels.csv line 3 */
            o += snprintf(labels + o, sizeof labels - (size_t)o, ",%d", present);
        }
        o += snprintf(labels + o, sizeof labels - (size_t)o, "\n");
    }
    const char *classes = "class,positive,negative\n"
                          "effusion,pleural effusion,no pleural effusion\n"
                          "opacity,lung opacity,no lung opacity\n"
                          "pneumothorax,small pneumothorax,no pneumothorax\n"
                          "edema,\"mild edema\",no edema\n";
    const char *info = "{\"modality\": \"cxr\", \"seed\": 1, \"size\": 64, \"train\": 0, \"test\": 6, "
                       "\"classes\": [\"effusion\", \"opacity\", \"pneumothorax\", \"edema\"], "
                       "\"generator_version\": 1}\n";
    if (variant == GOOD) { /* a training manifest for the `afloc train --log` test */
        static const char *const reports[6] = {
            "small left pleural effusion. right lower lobe opacity.", "small right pneumothorax. heart size is normal.",
            "mild edema. no pneumothorax.", "large left pleural effusion. upper lobe opacity. small left pneumothorax.",
            "heart size is normal. no pleural effusion.", "right pleural effusion. no pneumothorax."};
        static char train[4096];
        o = snprintf(train, sizeof train, "image,report\n");
        for (int i = 0; i < 6; i++)
            o += snprintf(train + o, sizeof train - (size_t)o, "images/test_%06d.png,%s\n", i, reports[i]);
        if (write_text(dir, "train.csv", train)) return 1;
    }
    return write_text(dir, "test.csv", test) || write_text(dir, "labels.csv", labels) ||
           write_text(dir, "classes.csv", classes) || write_text(dir, "dataset.json", info);
}

static int write_logs(const char *root) {
    static char log[16384];
    int o = snprintf(log, sizeof log, "step,epoch,global,sentence,word,total\n");
    for (int s = 1; s <= 40; s++) {
        double g = 2.0 / (1.0 + 0.1 * s), se = 1.5 / (1.0 + 0.05 * s), w = 1.0 + 0.3 / s;
        o += snprintf(log + o, sizeof log - (size_t)o, "%d,%d,%.6f,%.6f,%.6f,%.6f\n", s, (s - 1) / 10, g, se, w,
                      g + se + w);
    }
    return write_text(root, "train_log.csv", log) ||
           write_text(root, "train_log_bad.csv", "step,epoch,global,sentence,word,total\n1,0,1,1,1,3\n"
                                                 "2,0,1,1,1,3\n3,0,1,1,1,abc\n");
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_fixture OUT_DIR\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    for (int v = 0; v < CASES; v++)
        if (write_dataset(argv[1], v)) return 1;
    if (write_logs(argv[1])) return 1;
    printf("make_fixture: wrote %d datasets (6 images, 8 rows each) and 2 logs under %s\n", CASES, argv[1]);
    return 0;
}
