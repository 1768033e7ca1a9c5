/* test_synth_modalities.c: the fundus and histopathology synthetic datasets (issue 5), `synth`
 * label. Per modality, on a small dataset: determinism (every file hashed: threads 1 vs 2
 * identical, another seed different); train.csv read by the manifest reader with no dropped row;
 * every report, test prompt and class prompt tokenized with the dataset's vocab.txt without
 * [UNK]; prompts of at least two words; test.csv boxes inside the image and non-empty, categories
 * valid, side "none", group = findings of the image; labels.csv consistent with test.csv; no
 * digits in reports. With the internal renderer: each finding's box is where the image changes
 * when the finding is removed (mean |diff| inside the box > 5 x outside) and the CSV box is the
 * renderer's box. Over 1000 planned cases: ~20% normal, every class and 1-3 findings occur. */
#include <math.h>
#include <stdint.h>
#include <sys/stat.h>

#include "alloc.h"
#include "file_io.h"
#include "manifest.h"
#include "synth.h"
#include "synth_test_util.h"
#include "test_util.h"

#define TRAIN 24
#define TEST  24
#define SIZE  128

static void test_determinism(const char *modality) {
    check_determinism(modality, TRAIN, TEST, SIZE,
                      strcmp(modality, "fundus") == 0 ? 0xfa1e6a89f5854287ull : 0xaf097fe591c0c46cull);
}

static int words(const char *s) {
    int n = 1;
    for (const char *p = s; *p; p++) n += *p == ' ';
    return n;
}

static void test_tables(const afloc_synth_modality *m) {
    char dir[1100], path[1200];
    folder(dir, sizeof dir, m->name, "a");
    snprintf(path, sizeof path, "%s/train.csv", dir);
    afloc_manifest *manifest = NULL;
    int32_t dropped = -1;
    CHECK_STATUS(afloc_manifest_load(path, &manifest, &dropped, "test"), AFLOC_OK);
    if (manifest) {
        CHECK(manifest->count == TRAIN);
        CHECK(dropped == 0);
    }
    afloc_tokenizer_options to = {0};
    to.struct_size = sizeof to;
    afloc_tokenizer_options_default(&to);
    to.max_length = AFLOC_MAX_SEQUENCE_LENGTH;
    afloc_tokenizer *tok = NULL;
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    CHECK_STATUS(afloc_tokenizer_load(path, &to, &tok), AFLOC_OK);
    int32_t unk = -1, vocab = 0, texts = 0, unknown = 0, digits = 0, longest = 0, min_words = 99;
    if (tok) {
        afloc_tokenizer_token_id(tok, "[UNK]", &unk);
        afloc_tokenizer_vocab_size(tok, &vocab);
        CHECK(unk == 1);
    }
    int32_t ids[AFLOC_MAX_SEQUENCE_LENGTH];
#define COUNT_UNK(str)                                                                          \
    do {                                                                                        \
        int32_t len_ = 0;                                                                       \
        CHECK_STATUS(afloc_tokenizer_encode(tok, (str), strlen(str), ids, NULL,                  \
                                            AFLOC_MAX_SEQUENCE_LENGTH, &len_), AFLOC_OK);       \
        texts++;                                                                                \
        if (len_ > longest) longest = len_;                                                     \
        for (int32_t q_ = 0; q_ < len_; q_++) unknown += ids[q_] == unk;                        \
    } while (0)
    if (tok && manifest) {
        for (int32_t i = 0; i < manifest->count; i++) {
            COUNT_UNK(manifest->rows[i].report);
            for (const char *p = manifest->rows[i].report; *p; p++) digits += *p >= '0' && *p <= '9';
        }
        CHECK(prompts_well_formed(m));
        for (int32_t k = 0; k < m->prompt_count; k++) {
            COUNT_UNK(m->prompts[k].positive);
            COUNT_UNK(m->prompts[k].negative);
            if (words(m->prompts[k].positive) < min_words) min_words = words(m->prompts[k].positive);
            if (words(m->prompts[k].negative) < min_words) min_words = words(m->prompts[k].negative);
        }
    }
    char **test_lines = NULL, **label_lines = NULL;
    int32_t test_n = 0, label_n = 0;
    snprintf(path, sizeof path, "%s/test.csv", dir);
    char *test_text = read_lines(path, &test_lines, &test_n);
    snprintf(path, sizeof path, "%s/labels.csv", dir);
    char *label_text = read_lines(path, &label_lines, &label_n);
    CHECK(test_text && label_text);
    if (!test_text || !label_text) goto done;
    CHECK(!strcmp(test_lines[0], "image,prompt,category,side,x0,y0,x1,y1,group"));
    CHECK(label_n == TEST + 1);
    int present[TEST][8], rows_of[TEST], group_of[TEST];
    memset(present, 0, sizeof present);
    memset(rows_of, 0, sizeof rows_of);
    memset(group_of, 0, sizeof group_of);
    int32_t bad_rows = 0;
    for (int32_t i = 1; i < test_n; i++) {
        char *f[12];
        int n = split_csv(test_lines[i], f, 12);
        int img = -1, k = -1;
        long x0 = -1, y0 = -1, x1 = -1, y1 = -1, group = -1;
        if (n == 9) {
            sscanf(f[0], "images/test_%d.png", &img);
            k = class_index(m, f[2]);
            x0 = atol(f[4]), y0 = atol(f[5]), x1 = atol(f[6]), y1 = atol(f[7]), group = atol(f[8]);
            if (tok) COUNT_UNK(f[1]);
            if (words(f[1]) < min_words) min_words = words(f[1]);
        }
        if (n != 9 || img < 0 || img >= TEST || k < 0 || strcmp(f[3], "none") || x0 < 0 ||
            y0 < 0 || x1 > SIZE || y1 > SIZE || x1 <= x0 || y1 <= y0 || group < 1 || group > 3) {
            fprintf(stderr, "bad test.csv row %d (%d fields)\n", i + 1, n);
            bad_rows++;
            continue;
        }
        if (present[img][k]) bad_rows++; /* one row per category and image */
        present[img][k] = 1;
        rows_of[img]++;
        group_of[img] = (int)group;
    }
    for (int32_t i = 0; i < TEST; i++) bad_rows += rows_of[i] && group_of[i] != rows_of[i];
    CHECK(bad_rows == 0);
    int32_t label_mismatch = 0, normals = 0;
    for (int32_t i = 1; i < label_n; i++) {
        char *f[16];
        int n = split_csv(label_lines[i], f, 16);
        int img = -1;
        if (n != 1 + m->class_count || sscanf(f[0], "images/test_%d.png", &img) != 1 ||
            img != i - 1) {
            label_mismatch++;
            continue;
        }
        normals += rows_of[img] == 0;
        for (int32_t k = 0; k < m->class_count; k++) label_mismatch += atoi(f[1 + k]) != present[img][k];
    }
    CHECK(label_mismatch == 0);
    printf("%s tables: train.csv %d rows (%d dropped), test.csv %d rows, labels.csv %d rows "
           "(%d normal), bad rows %d, label mismatches %d; vocab %d entries, %d texts tokenized, "
           "longest %d tokens, [UNK] %d, digits in reports %d, shortest prompt %d words\n",
           m->name, manifest ? manifest->count : -1, dropped, test_n - 1, label_n - 1, normals,
           bad_rows, label_mismatch, vocab, texts, longest, unknown, digits, min_words);
    CHECK(unknown == 0);
    CHECK(digits == 0);
    CHECK(min_words >= 2);
    CHECK(texts > TRAIN + TEST / 2);
done:
    afloc_free(test_text);
    afloc_free(test_lines);
    afloc_free(label_text);
    afloc_free(label_lines);
    afloc_tokenizer_free(tok);
    afloc_manifest_free(manifest);
#undef COUNT_UNK
}

/* ---- boxes against the renderer ---- */

static void test_boxes(const afloc_synth_modality *m) {
    const int32_t size = SIZE;
    size_t n = (size_t)size * (size_t)size * 3;
    uint8_t *full = afloc_malloc(n), *without = afloc_malloc(n);
    int32_t findings = 0, weak = 0, csv_mismatch = 0;
    double worst_ratio = 1e30, min_inside = 1e30;
    char dir[1100], path[1200];
    folder(dir, sizeof dir, m->name, "a");
    snprintf(path, sizeof path, "%s/test.csv", dir);
    char **lines = NULL;
    int32_t line_n = 0, line = 1;
    char *text = read_lines(path, &lines, &line_n);
    CHECK(text != NULL);
    for (int32_t index = 0; index < TEST && text && full && without; index++) {
        afloc_synth_case c;
        CHECK_STATUS(afloc_synth_case_make(m, 7, AFLOC_SYNTH_SPLIT_TEST, index, size, &c, "test"),
                     AFLOC_OK);
        afloc_synth_box boxes[AFLOC_SYNTH_MAX_FINDINGS], ignored[AFLOC_SYNTH_MAX_FINDINGS];
        uint32_t all = (1u << c.count) - 1u;
        CHECK_STATUS(m->render(&c, size, all, full, boxes, "test"), AFLOC_OK);
        for (int32_t i = 0; i < c.count; i++, line++) {
            const afloc_synth_box *b = &boxes[i];
            char expect[256];
            snprintf(expect, sizeof expect, ",%d,%d,%d,%d,%d", b->x0, b->y0, b->x1, b->y1, c.count);
            if (line >= line_n || !strstr(lines[line], expect)) csv_mismatch++;
            CHECK_STATUS(m->render(&c, size, all & ~(1u << i), without, ignored, "test"), AFLOC_OK);
            double in = 0.0, out = 0.0;
            size_t in_n = 0, out_n = 0;
            for (int32_t y = 0; y < size; y++)
                for (int32_t x = 0; x < size; x++) {
                    size_t p = 3 * ((size_t)y * (size_t)size + (size_t)x);
                    double d = 0.0;
                    for (int ch = 0; ch < 3; ch++) d += fabs((double)full[p + ch] - (double)without[p + ch]);
                    d /= 3.0 * 255.0;
                    if (x >= b->x0 && x < b->x1 && y >= b->y0 && y < b->y1) in += d, in_n++;
                    else out += d, out_n++;
                }
            in = in_n ? in / (double)in_n : 0.0;
            out = out_n ? out / (double)out_n : 0.0;
            double ratio = in / (out > 1e-9 ? out : 1e-9);
            findings++;
            if (in < min_inside) min_inside = in;
            if (ratio < worst_ratio) worst_ratio = ratio;
            if (!(in > 5.0 * out) || in_n == 0 || !(in > 0.0)) {
                fprintf(stderr, "%s case %d finding %d (%s): inside %.4f outside %.6f\n", m->name,
                        index, i, m->classes[c.findings[i].category], in, out);
                weak++;
            }
        }
    }
    printf("%s boxes: %d findings in %d test images; mean |diff| inside box >= %.4f, worst "
           "inside/outside ratio %.1f (limit 5); weak %d, CSV mismatches %d\n",
           m->name, findings, TEST, min_inside, worst_ratio, weak, csv_mismatch);
    CHECK(findings > 0);
    CHECK(weak == 0);
    CHECK(csv_mismatch == 0);
    afloc_free(text);
    afloc_free(lines);
    afloc_free(full);
    afloc_free(without);
}

/* ---- statistics of the planner ---- */

static void test_statistics(const afloc_synth_modality *m) {
    enum { CASES = 1000 };
    int32_t per_count[4] = {0}, per_class[8] = {0}, zones[9] = {0}, side_bad = 0;
    for (int32_t i = 0; i < CASES; i++) {
        afloc_synth_case c;
        CHECK_STATUS(afloc_synth_case_make(m, 1, AFLOC_SYNTH_SPLIT_TRAIN, i, 256, &c, "test"), AFLOC_OK);
        per_count[c.count]++;
        for (int32_t k = 0; k < c.count; k++) {
            per_class[c.findings[k].category]++;
            if (c.findings[k].zone >= 0 && c.findings[k].zone < 9) zones[c.findings[k].zone]++;
            side_bad += c.findings[k].side != AFLOC_SYNTH_SIDE_NONE;
        }
    }
    double normal = (double)per_count[0] / CASES;
    printf("%s statistics over %d cases: findings 0/1/2/3 = %d/%d/%d/%d (normal %.1f%%); classes",
           m->name, CASES, per_count[0], per_count[1], per_count[2], per_count[3], 100.0 * normal);
    for (int32_t k = 0; k < m->class_count; k++) printf(" %s %d", m->classes[k], per_class[k]);
    printf("; zones");
    for (int32_t z = 0; z < 9; z++) printf(" %d", zones[z]);
    printf("\n");
    CHECK(normal > 0.16 && normal < 0.24);
    for (int32_t k = 1; k < 4; k++) CHECK(per_count[k] > CASES / 20);
    for (int32_t k = 0; k < m->class_count; k++) CHECK(per_class[k] > CASES / 10);
    CHECK(side_bad == 0);
}

int main(void) {
    synth_test_setup();
    static const char *const names[] = {"fundus", "histo"};
    for (int i = 0; i < 2; i++) {
        const afloc_synth_modality *m = afloc_synth_modality_find(names[i]);
        CHECK(m != NULL && m->channels == 3);
        if (!m) continue;
        test_determinism(names[i]);
        test_tables(m);
        test_boxes(m);
        test_statistics(m);
    }
    return test_finish("synth_modalities");
}
