/* cmd_synth.c: `afloc synth`, a procedural demo dataset (afloc_synth_dataset_write): images,
 * reports, test prompts with boxes, labels, classes and a vocabulary in the layout `afloc eval`
 * reads. Prints one summary line: counts, size, seed, seconds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "afloc/afloc.h"
#include "cli_model.h"
#include "commands.h"

static const char usage[] =
    "usage: afloc synth MODALITY OUT_DIR [--train N] [--test M] [--seed S] [--size PX]\n"
    "                   [--threads T]\n"
    "Writes a synthetic dataset, the same bytes for the same arguments on every machine and\n"
    "thread count. MODALITY, each with 0-3 findings per image and about 20% normal images:\n"
    "  cxr      16-bit gray chest radiographs; nodule, consolidation, pleural effusion,\n"
    "           pneumothorax, cardiomegaly, atelectasis, mass\n"
    "  fundus   8-bit RGB colour fundus photographs; haemorrhage, hard exudate, drusen, cotton\n"
    "           wool spot (by quadrant, drusen at the macula)\n"
    "  histo    8-bit RGB H&E histopathology tiles; tumour, necrosis, inflammation (regions at\n"
    "           nine positions, upper left .. centre .. lower right)\n"
    "OUT_DIR is created if missing; it receives\n"
    "  images/train_NNNNNN.png  images/test_NNNNNN.png\n"
    "  train.csv    image,report (clinical reports, no coordinates)\n"
    "  test.csv     image,prompt,category,side,x0,y0,x1,y1,group: one row per finding; side is\n"
    "               the patient's (patient's left = image right; none for fundus and histo);\n"
    "               box in pixels, x1/y1 exclusive\n"
    "  labels.csv   image,<class...>: 1/0 per class for every test image\n"
    "  classes.csv  class,positive,negative zero-shot prompt pairs; a class on several rows is\n"
    "               classified with the ensembles of its positives and of its negatives\n"
    "  vocab.txt    WordPiece vocabulary covering every report and prompt\n"
    "  dataset.json modality, seed, size, counts, classes, generator_version\n"
    "options:\n"
    "  --train N     training images (default 2000)\n"
    "  --test M      held-out images (default 300)\n"
    "  --seed S      dataset seed, an integer (default 1)\n"
    "  --size PX     image width and height, 64..2048 (default 256)\n"
    "  --threads T   worker threads (default 0: one per processor)\n";

/* Parses a whole decimal integer in [lo, hi]; 0 on success. */
static int parse_integer(const char *flag, const char *text, long long lo, long long hi,
                         long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "afloc synth: %s expects an integer in %lld..%lld, got '%s'\n", flag, lo,
                hi, text);
        return 1;
    }
    *out = v;
    return 0;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int afloc_cli_synth(int argc, char **argv) {
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        }
    }
    afloc_synth_options o = {0};
    o.struct_size = sizeof o;
    afloc_synth_options_default(&o);
    const char *positional[2] = {NULL, NULL};
    int npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] == '-' && a[1] == '-') {
            if (i + 1 >= argc) {
                fprintf(stderr, "afloc synth: %s needs a value\n%s", a, usage);
                return 2;
            }
            const char *v = argv[++i];
            long long n = 0;
            int bad = 0;
            if (!strcmp(a, "--train")) bad = parse_integer(a, v, 1, 999999, &n), o.train_count = (int32_t)n;
            else if (!strcmp(a, "--test")) bad = parse_integer(a, v, 1, 999999, &n), o.test_count = (int32_t)n;
            else if (!strcmp(a, "--seed")) bad = parse_integer(a, v, INT64_MIN, INT64_MAX, &n), o.seed = n;
            else if (!strcmp(a, "--size")) bad = parse_integer(a, v, 64, 2048, &n), o.size = (int32_t)n;
            else if (!strcmp(a, "--threads")) bad = parse_integer(a, v, 0, 1024, &n), o.threads = (int32_t)n;
            else {
                fprintf(stderr, "afloc synth: unknown option '%s'\n%s", a, usage);
                return 2;
            }
            if (bad) return 2;
        } else if (npos < 2) {
            positional[npos++] = a;
        } else {
            fprintf(stderr, "afloc synth: unexpected argument '%s'\n%s", a, usage);
            return 2;
        }
    }
    if (npos != 2) {
        fputs(usage, stderr);
        return 2;
    }
    double start = seconds_now();
    afloc_status s = afloc_synth_dataset_write(positional[0], positional[1], &o);
    if (s != AFLOC_OK) return cli_fail("synth", "afloc_synth_dataset_write", s);
    printf("afloc synth: %s: %d train + %d test images, %dx%d px, seed %lld, in %s, %.2f s\n",
           positional[0], o.train_count, o.test_count, o.size, o.size, (long long)o.seed,
           positional[1], seconds_now() - start);
    return 0;
}
