/* bench_inputs.c: times the input side of libafloc on fixed, generated work, and writes that
 * work to a folder so that bench_inputs.py can time OpenCV on exactly the same inputs:
 *   - letterbox of a 2500x2048 8-bit radiograph-sized image to 224 (INTER_AREA path);
 *   - the same through afloc_image_preprocess from 16-bit data (float path);
 *   - PNG decode of that image as 8-bit and as 16-bit gray;
 *   - cleaning + WordPiece tokenization of report-like text.
 * Usage: bench_inputs WORK_DIR [REPEATS]. Prints one line per operation: name, median ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <afloc/afloc.h>

enum { W = 2048, H = 2500 };

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *samples, int n) {
    qsort(samples, (size_t)n, sizeof *samples, compare_double);
    return samples[n / 2];
}

#define TIME_IT(name, repeats, body)                                                 \
    do {                                                                             \
        double samples_[64];                                                         \
        for (int r_ = 0; r_ < (repeats); r_++) {                                     \
            double t0_ = now_ms();                                                   \
            body;                                                                    \
            samples_[r_] = now_ms() - t0_;                                           \
        }                                                                            \
        printf("%-28s %10.3f ms\n", name, median(samples_, (repeats)));              \
    } while (0)

static int check(afloc_status status, const char *what) {
    if (status != AFLOC_OK) {
        fprintf(stderr, "bench_inputs: %s: %s\n", what, afloc_last_error());
        exit(1);
    }
    return 0;
}

static unsigned char *read_all(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *data = malloc((size_t)n);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return data;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_inputs WORK_DIR [REPEATS]\n");
        return 2;
    }
    const char *dir = argv[1];
    int repeats = argc > 2 ? atoi(argv[2]) : 9;
    if (repeats < 1 || repeats > 64) repeats = 9;
    char path[1024];

    uint8_t *u8 = malloc((size_t)W * H);
    uint16_t *u16 = malloc((size_t)W * H * 2);
    uint8_t *box = malloc(224 * 224);
    float *frame = malloc(224 * 224 * sizeof *frame);
    if (!u8 || !u16 || !box || !frame) return 1;
    unsigned state = 12345;
    for (size_t i = 0; i < (size_t)W * H; i++) {
        state = state * 1103515245u + 12345u;
        size_t x = i % W, y = i / W;
        u16[i] = (uint16_t)(((x * 3 + y * 2) % 4096 + (state >> 24)) & 0x0fff);
        u8[i] = (uint8_t)(u16[i] >> 4);
    }
    afloc_image_view v8 = {sizeof v8, AFLOC_PIXEL_U8, 1, W, H, W, u8, 0};
    afloc_image_view v16 = {sizeof v16, AFLOC_PIXEL_U16, 1, W, H, W * 2, u16, 12};
    snprintf(path, sizeof path, "%s/image8.png", dir);
    check(afloc_image_save_png(&v8, path), "save 8-bit");
    snprintf(path, sizeof path, "%s/image16.png", dir);
    check(afloc_image_save_png(&v16, path), "save 16-bit");

    printf("libafloc %s, image %dx%d, median of %d runs\n", afloc_version(), W, H, repeats);
    TIME_IT("letterbox_u8_224", repeats,
            check(afloc_image_letterbox_u8(&v8, 224, box, 224 * 224, NULL), "letterbox"));
    TIME_IT("preprocess_u16_224", repeats,
            check(afloc_image_preprocess(&v16, NULL, frame, 224 * 224, NULL), "preprocess"));

    const char *names[2] = {"image8.png", "image16.png"};
    const char *labels[2] = {"png_decode_8bit", "png_decode_16bit"};
    for (int k = 0; k < 2; k++) {
        size_t size = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        unsigned char *bytes = read_all(path, &size);
        if (!bytes) return 1;
        TIME_IT(labels[k], repeats, {
            afloc_image *image = NULL;
            check(afloc_image_decode_png(bytes, size, NULL, &image), "decode");
            afloc_image_free(image);
        });
        free(bytes);
    }

    /* Text: 1000 report-like strings, cleaned and tokenized with a character-level vocabulary. */
    static char vocab[4096];
    size_t used = (size_t)snprintf(vocab, sizeof vocab, "[PAD]\n[UNK]\n[CLS]\n[SEP]\n");
    for (char c = 'a'; c <= 'z'; c++) used += (size_t)snprintf(vocab + used, sizeof vocab - used, "%c\n##%c\n", c, c);
    for (char c = '0'; c <= '9'; c++) used += (size_t)snprintf(vocab + used, sizeof vocab - used, "%c\n##%c\n", c, c);
    used += (size_t)snprintf(vocab + used, sizeof vocab - used, "lung\nleft\nright\neffusion\nno\n");
    afloc_tokenizer *tokenizer = NULL;
    check(afloc_tokenizer_create(vocab, used, NULL, &tokenizer), "tokenizer");
    const char *report = "Small left pleural effusion. 2. No pneumothorax. Heart size 1.5 cm, normal. "
                         "Right lower lobe opacity, likely atelectasis.";
    char cleaned[256];
    int32_t ids[97];
    TIME_IT("clean+tokenize_x1000", repeats, for (int i = 0; i < 1000; i++) {
        check(afloc_text_clean_prompt(report, strlen(report), cleaned, sizeof cleaned, NULL), "clean");
        check(afloc_tokenizer_encode(tokenizer, cleaned, strlen(cleaned), ids, NULL, 97, NULL), "encode");
    });
    afloc_tokenizer_free(tokenizer);
    free(u8);
    free(u16);
    free(box);
    free(frame);
    return 0;
}
