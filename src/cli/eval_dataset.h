/* eval_dataset.h: the held-out part of an `afloc synth` dataset (test.csv, labels.csv,
 * classes.csv, dataset.json; layout in the issue-5 dataset contract), read and checked for
 * `afloc eval`. Every problem is reported as "FILE:LINE: what was wrong, the value". */
#ifndef AFLOC_CLI_EVAL_DATASET_H
#define AFLOC_CLI_EVAL_DATASET_H

#include <stddef.h>
#include <stdint.h>

enum { EVAL_SIDE_NONE = 0, EVAL_SIDE_LEFT = 1, EVAL_SIDE_RIGHT = 2, EVAL_SIDE_BILATERAL = 3 };

typedef struct eval_row {           /* one image-phrase pair of test.csv                     */
    char   *image;                  /* path relative to the dataset folder                   */
    char   *prompt;
    int32_t category;               /* index into eval_dataset.class_name                    */
    int32_t side;                   /* EVAL_SIDE_*                                           */
    int32_t x0, y0, x1, y1;         /* box in original pixels, x0/y0 inclusive, x1/y1 exclusive */
    int32_t group;                  /* findings of different categories on the image (1..)   */
    int32_t image_index;            /* index into eval_dataset.image                         */
    int32_t line;                   /* test.csv line the row starts on                       */
} eval_row;

typedef struct eval_image {         /* one distinct test image (labels.csv and test.csv)      */
    char   *path;                   /* relative to the dataset folder                        */
    int32_t width, height;          /* 0 until eval_dataset_check_images                     */
} eval_image;

typedef struct eval_dataset {
    int32_t    classes;             /* K                                                     */
    char     **class_name;          /* K names, classes.csv order                            */
    int32_t    pairs;               /* P >= K rows of classes.csv (a class may have several) */
    int32_t   *pair_class;          /* P class indices                                       */
    char     **pair_positive;       /* P positive prompts (a class's positives: an ensemble)  */
    char     **pair_negative;       /* P negative prompts (its negatives: another)           */
    int32_t    rows;
    eval_row  *row;
    int32_t    labelled;            /* labels.csv rows: images[0 .. labelled-1]              */
    int32_t   *label;               /* (labelled, K) 0/1, row-major                          */
    int32_t    images;              /* distinct images: labels.csv ones, then test.csv extras */
    eval_image *image;
    char      *info_json;           /* dataset.json as written (trimmed), or NULL if absent  */
} eval_dataset;

/* Reads DIR/classes.csv, DIR/test.csv, DIR/labels.csv and DIR/dataset.json. `limit` > 0 keeps
 * only the first `limit` rows of test.csv and of labels.csv. Returns 0, or 1 with a message
 * naming file and line in `err` (and `d` freed). */
int eval_dataset_load(const char *dir, int32_t limit, eval_dataset *d, char *err, size_t err_size);

/* Decodes every image once to learn its size, and checks every test.csv box lies inside its
 * image. Returns 0 or 1 with a message in `err`. */
int eval_dataset_check_images(const char *dir, eval_dataset *d, char *err, size_t err_size);

void eval_dataset_free(eval_dataset *d);

/* The prompt with the words "left" and "right" exchanged (whole words, the case of each letter
 * kept: "Left" -> "Right", "LEFT" -> "RIGHT"). Returns a malloc'ed string (NULL when out of
 * memory); *changed receives the number of words swapped. */
char *eval_swap_sides(const char *prompt, int32_t *changed);

#endif /* AFLOC_CLI_EVAL_DATASET_H */
