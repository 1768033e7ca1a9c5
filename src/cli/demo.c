/* demo.c: `afloc demo`, the main job end to end on data the program makes itself (no download):
 *
 *   1. a synthetic chest X-ray dataset: training images with free-text reports (no geometry) and
 *      a held-out test set with boxes, used only for scoring (`afloc synth cxr`);
 *   2. the model the project trained on that data and ships in models/<modality>-small.*
 *      (reproducible with the commands in models/README.md): localize and classify the held-out
 *      images and print the metric table next to text-agnostic baselines (`afloc eval`), with
 *      pictures;
 *   3. a short live training from scratch (models/live.json: a smaller, faster config than the
 *      shipped one; a step budget with a time cap, progress bar), then the same evaluation, and
 *      a comparison of the live model with the untrained one and with every baseline on
 *      pointing game and CNR.
 *
 * Each step is the corresponding subcommand, so everything the demo prints can be reproduced
 * one command at a time. `afloc demo --inputs DIR` is the separate tour of the input side
 * (demo_inputs.c). */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "afloc/afloc.h"
#include "cli_file.h"
#include "commands.h"

static const char usage[] =
    "usage: afloc demo [DIR] [--modality cxr|fundus|histo] [--train-steps N] [--train-minutes M]\n"
    "                  [--no-train] [--threads T] [--models DIR] [--quick]\n"
    "       afloc demo --inputs DIR\n"
    "Runs the main job on a synthetic chest X-ray dataset it generates (no download): evaluates\n"
    "the shipped model (localization, text-reading tests, zero-shot classification, baselines),\n"
    "then trains a model from scratch for a few minutes and shows it beating the untrained model\n"
    "and the text-agnostic baselines; the summary also shows each model grid's ceiling (the true\n"
    "boxes drawn on the grid and read out as maps). Everything goes to DIR (default\n"
    "./afloc-demo); a dataset folder there is reused when its dataset.json matches this build\n"
    "and these options, and written again otherwise.\n"
    "  --modality M        cxr (default), fundus (colour retina photographs) or histo (H&E\n"
    "                      tiles), each with its own shipped model (models/M-small.*)\n"
    "  --train-steps N     length of the live training in optimizer steps (default 3000, about\n"
    "                      5 minutes on 2 cores); on one machine, the same N and --threads give\n"
    "                      the same live model\n"
    "  --train-minutes M   a cap: the live training stops early after M minutes (default 8)\n"
    "  --no-train          skip the live training\n"
    "  --threads T         CPU threads (default 0: all cores)\n"
    "  --quick             200 training and 60 held-out images, 100 training steps unless\n"
    "                      --train-steps says otherwise (tests)\n"
    "  --models DIR        where the shipped models and live.json are (default: models/ beside the\n"
    "                      build, $AFLOC_MODELS, or ./models)\n"
    "  --inputs DIR        instead: the tour of the input side (PNG, preprocessing, tokenizer)\n";

typedef struct demo_args {
    const char *dir, *models, *threads, *modality;
    double train_minutes;
    long train_steps;
    int no_train, quick;
} demo_args;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int file_exists(const char *path) { return access(path, R_OK) == 0; }

/* The folder holding the shipped models and live.json: --models, $AFLOC_MODELS, models/ beside the
 * executable's parent (build/afloc -> models/), the install's share/afloc/models, ./models. */
static int find_models(const demo_args *a, char *out, size_t size) {
    char exe[PATH_MAX] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
    }
    const char *env = getenv("AFLOC_MODELS");
    char candidates[5][PATH_MAX + 32];
    int count = 0;
    if (a->models) snprintf(candidates[count++], sizeof candidates[0], "%s", a->models);
    if (env && env[0]) snprintf(candidates[count++], sizeof candidates[0], "%s", env);
    if (n > 0) {
        snprintf(candidates[count++], sizeof candidates[0], "%s/../models", exe);
        snprintf(candidates[count++], sizeof candidates[0], "%s/../share/afloc/models", exe);
    }
    snprintf(candidates[count++], sizeof candidates[0], "models");
    for (int i = 0; i < count; i++) {
        char probe[PATH_MAX + 64];
        snprintf(probe, sizeof probe, "%s/live.json", candidates[i]);
        if (file_exists(probe)) {
            snprintf(out, size, "%s", candidates[i]);
            return 1;
        }
    }
    return 0;
}

/* Runs one subcommand with a printed header and its wall time; returns its exit status. */
static int step(const char *title, const char *name, int (*command)(int, char **), int argc,
                const char **argv) {
    printf("\n== %s\n   afloc %s", title, name);
    for (int i = 0; i < argc; i++) printf(" %s", argv[i]);
    printf("\n");
    fflush(stdout);
    double t0 = now_seconds();
    int rc = command(argc, (char **)argv);
    printf("   (%.0f s)\n", now_seconds() - t0);
    fflush(stdout);
    if (rc != 0) fprintf(stderr, "afloc demo: step \"%s\" failed (exit %d)\n", title, rc);
    return rc;
}

/* ---- the summary, read back from the evaluations' metrics.json ---- */

typedef struct demo_figures {
    int valid;
    double pointing, pointing_lo, pointing_hi, cnr, cnr_lo, cnr_hi, iou, auc;
} demo_figures;

static cJSON *read_json(const char *path) {
    size_t size = 0;
    char *text = cli_read_file(path, &size);
    cJSON *json = text ? cJSON_Parse(text) : NULL;
    free(text);
    return json;
}

static double number_at(const cJSON *node, const char *a, const char *b) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(node, a);
    if (b) x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsNumber(x) ? x->valuedouble : NAN;
}

/* Whether the dataset.json at `path` describes the folder this demo would write: the same
 * modality, seed, size, counts and generator version. A folder left by an older build (other
 * prompts) or by --quick (fewer images) must be written again, not scored as this one. On a
 * mismatch `why` says what differs. */
static int dataset_is_current(const char *path, const char *modality, int train, int test,
                              char *why, size_t size) {
    cJSON *json = read_json(path);
    if (!json) {
        snprintf(why, size, "its dataset.json cannot be read");
        return 0;
    }
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(json, "modality");
    const double seed = number_at(json, "seed", NULL), pixels = number_at(json, "size", NULL);
    const double n_train = number_at(json, "train", NULL), n_test = number_at(json, "test", NULL);
    const double version = number_at(json, "generator_version", NULL);
    const int32_t current = afloc_synth_generator_version();
    int ok = 0;
    if (!cJSON_IsString(m) || strcmp(m->valuestring, modality))
        snprintf(why, size, "it is not a %s dataset", modality);
    else if (seed != 1 || pixels != 256)
        snprintf(why, size, "it was made with another seed or image size");
    else if (n_train != train || n_test != test)
        snprintf(why, size, "it holds %.0f training and %.0f held-out images, not %d and %d",
                 n_train, n_test, train, test);
    else if (version != current)
        snprintf(why, size, "generator version %.0f wrote it, this build writes version %d",
                 version, (int)current);
    else
        ok = 1;
    cJSON_Delete(json);
    return ok;
}

/* Figures of one localization block ({"iou": {"value": ...}, "cnr": ..., "pointing": ...}). */
static demo_figures figures_of(const cJSON *block, double auc) {
    demo_figures f = {0};
    if (!block) return f;
    f.valid = 1;
    f.pointing = number_at(block, "pointing", "value");
    f.pointing_lo = number_at(block, "pointing", "ci_lo");
    f.pointing_hi = number_at(block, "pointing", "ci_hi");
    f.cnr = number_at(block, "cnr", "value");
    f.cnr_lo = number_at(block, "cnr", "ci_lo");
    f.cnr_hi = number_at(block, "cnr", "ci_hi");
    f.iou = number_at(block, "iou", "value");
    f.auc = auc;
    return f;
}

static const cJSON *localization(const cJSON *metrics, const char *who) {
    const cJSON *loc = cJSON_GetObjectItemCaseSensitive(metrics, "localization");
    if (!strcmp(who, "model") || !strcmp(who, "ceiling")) return cJSON_GetObjectItemCaseSensitive(loc, who);
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(loc, "baselines"), who);
}

static double mean_auc(const cJSON *metrics) {
    return number_at(cJSON_GetObjectItemCaseSensitive(metrics, "classification"), "mean_auc", NULL);
}

static void print_row(const char *name, const demo_figures *f) {
    if (!f->valid) {
        printf("  %-26s (not run)\n", name);
        return;
    }
    printf("  %-26s %5.3f [%5.3f, %5.3f]   %6.3f [%6.3f, %6.3f]   %5.3f   ", name, f->pointing,
           f->pointing_lo, f->pointing_hi, f->cnr, f->cnr_lo, f->cnr_hi, f->iou);
    if (isnan(f->auc)) printf("  -\n");
    else printf("%5.3f\n", f->auc);
}

static void summary(const char *dir, const char *suffix, int live_ran) {
    char path[PATH_MAX + 64];
    cJSON *m[3] = {NULL, NULL, NULL};
    const char *names[3] = {"shipped", "live", "untrained"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s%s%s/metrics.json", dir, names[i], suffix[0] ? "-" : "", suffix);
        m[i] = read_json(path);
    }
    const char *dash = suffix[0] ? "-" : "";
    demo_figures shipped = m[0] ? figures_of(localization(m[0], "model"), mean_auc(m[0])) : (demo_figures){0};
    demo_figures live = m[1] ? figures_of(localization(m[1], "model"), mean_auc(m[1])) : (demo_figures){0};
    demo_figures untrained = m[2] ? figures_of(localization(m[2], "model"), mean_auc(m[2])) : (demo_figures){0};
    const cJSON *base_source = m[1] ? m[1] : m[0] ? m[0] : m[2];
    const char *baselines[3] = {"random", "center", "intensity"};
    demo_figures base[3];
    for (int b = 0; b < 3; b++)
        base[b] = base_source ? figures_of(localization(base_source, baselines[b]), NAN) : (demo_figures){0};

    printf("\n== summary%s%s: held-out test set, pointing game and CNR with 95%% bootstrap CIs\n",
           suffix[0] ? " for " : "", suffix);
    printf("  %-26s %-22s   %-24s   %-5s   %s\n", "", "pointing", "CNR", "IoU", "AUC");
    print_row("shipped model", &shipped);
    print_row("live-trained model", &live);
    print_row("untrained model", &untrained);
    for (int b = 0; b < 3; b++) {
        char name[64];
        snprintf(name, sizeof name, "baseline: %s", baselines[b]);
        print_row(name, &base[b]);
    }
    /* not baselines: each true box drawn on a model's grid and read out like its maps (afloc eval) */
    for (int i = 0; i < 2; i++) {
        const cJSON *block = m[i] ? localization(m[i], "ceiling") : NULL;
        if (!cJSON_IsObject(block)) continue;
        demo_figures ceiling = figures_of(block, NAN);
        print_row(i == 0 ? "ceiling: shipped grid" : "ceiling: live grid", &ceiling);
    }
    if (live_ran && live.valid && untrained.valid) {
        int beats = live.pointing > untrained.pointing && live.cnr > untrained.cnr;
        for (int b = 0; b < 3; b++)
            beats = beats && base[b].valid && live.pointing > base[b].pointing && live.cnr > base[b].cnr;
        printf("\n  live model beats the untrained model and every baseline on pointing and CNR: %s\n",
               beats ? "yes" : "NO");
    }
    if (shipped.valid)
        printf("\n  pictures: %s/shipped%s%s/contact_sheet.png (heatmaps with the true boxes), "
               "%s/shipped%s%s/loss_curve.png,", dir, dash, suffix, dir, dash, suffix);
    printf("\n            %s/live%s%s/contact_sheet.png, %s/live%s%s/loss_curve.png\n"
           "  all numbers: %s/*/metrics.json\n", dir, dash, suffix, dir, dash, suffix, dir);
    for (int i = 0; i < 3; i++) cJSON_Delete(m[i]);
}

/* The live-training config with vocab_size set to the lines of `vocab` (each modality's dataset
 * has its own vocabulary), written to `out`. Returns 0 or 1 after a message. */
static int write_config(const char *base, const char *vocab, const char *out) {
    cJSON *config = read_json(base);
    FILE *f = fopen(vocab, "rb");
    int lines = 0, c;
    if (f) {
        while ((c = fgetc(f)) != EOF) lines += c == '\n';
        fclose(f);
    }
    cJSON *size = cJSON_GetObjectItemCaseSensitive(config, "vocab_size");
    char *text = NULL;
    if (config && lines > 0 && cJSON_IsNumber(size)) {
        cJSON_SetNumberValue(size, lines);
        text = cJSON_Print(config);
    }
    FILE *o = text ? fopen(out, "wb") : NULL;
    int ok = o && fputs(text, o) >= 0;
    if (o && fclose(o) != 0) ok = 0;
    free(text);
    cJSON_Delete(config);
    if (!ok) fprintf(stderr, "afloc demo: cannot write %s from %s and %s\n", out, base, vocab);
    return ok ? 0 : 1;
}

/* ---- the command ---- */

static int parse(int argc, char **argv, demo_args *a) {
    a->train_minutes = 8.0;
    a->train_steps = 3000;
    a->threads = "0";
    int steps_given = 0;
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(k, "--no-train")) {
            a->no_train = 1;
        } else if (!strcmp(k, "--quick")) {
            a->quick = 1;
        } else if (!strcmp(k, "--train-steps") && v && atol(v) > 0) {
            a->train_steps = atol(v);
            steps_given = 1;
            i++;
        } else if (!strcmp(k, "--train-minutes") && v && atof(v) > 0) {
            a->train_minutes = atof(v);
            i++;
        } else if (!strcmp(k, "--modality") && v &&
                   (!strcmp(v, "cxr") || !strcmp(v, "fundus") || !strcmp(v, "histo"))) {
            a->modality = v;
            i++;
        } else if (!strcmp(k, "--threads") && v) {
            a->threads = v;
            i++;
        } else if (!strcmp(k, "--models") && v) {
            a->models = v;
            i++;
        } else if (k[0] != '-' && !a->dir) {
            a->dir = k;
        } else {
            fprintf(stderr, "afloc demo: bad argument %s\n%s", k, usage);
            return 2;
        }
    }
    if (a->quick && !steps_given) a->train_steps = 100; /* --train-steps wins wherever it stands */
    if (!a->dir) a->dir = "afloc-demo";
    if (!a->modality) a->modality = "cxr";
    return 0;
}

int afloc_cli_demo(int argc, char **argv) {
    if (argc >= 1 && !strcmp(argv[0], "--inputs")) return afloc_cli_demo_inputs(argc >= 2 ? argv[1] : "afloc-demo-inputs");
    demo_args a;
    memset(&a, 0, sizeof a);
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    char models[PATH_MAX];
    if (!find_models(&a, models, sizeof models)) {
        fprintf(stderr, "afloc demo: cannot find models/live.json (run from the source tree, "
                        "or pass --models DIR)\n");
        return 1;
    }
    mkdir(a.dir, 0755);
    char data[PATH_MAX + 16], config[PATH_MAX + 32], shipped[PATH_MAX + 32], shipped_log[PATH_MAX + 32];
    char vocab[PATH_MAX + 32], manifest[PATH_MAX + 32], out[PATH_MAX + 32], init[PATH_MAX + 32];
    char live[PATH_MAX + 32], live_log[PATH_MAX + 32];
    const int cxr = !strcmp(a.modality, "cxr");
    snprintf(data, sizeof data, "%s/data%s%s", a.dir, cxr ? "" : "-", cxr ? "" : a.modality);
    snprintf(config, sizeof config, "%s/live.json", models);
    snprintf(shipped, sizeof shipped, "%s/%s-small.safetensors", models, a.modality);
    snprintf(shipped_log, sizeof shipped_log, "%s/%s-small.train_log.csv", models, a.modality);
    snprintf(vocab, sizeof vocab, "%s/vocab.txt", data);
    snprintf(manifest, sizeof manifest, "%s/train.csv", data);
    snprintf(init, sizeof init, "%s/untrained%s%s.safetensors", a.dir, cxr ? "" : "-", cxr ? "" : a.modality);
    snprintf(live, sizeof live, "%s/live%s%s.safetensors", a.dir, cxr ? "" : "-", cxr ? "" : a.modality);
    snprintf(live_log, sizeof live_log, "%s/live%s%s_train_log.csv", a.dir, cxr ? "" : "-",
             cxr ? "" : a.modality);
    double t0 = now_seconds();
    printf("libafloc %s demo: AFLoc learns from chest X-rays and their free-text reports, with no "
           "boxes,\nthen points at what a sentence describes. Output in %s/\n", afloc_version(), a.dir);

    /* 1. The dataset (the same seed and generator version always give the same bytes, so a
     * folder whose dataset.json matches is reused; any other is written again). */
    char done[PATH_MAX + 32], why[160];
    const int train_count = a.quick ? 200 : 2000, test_count = a.quick ? 60 : 300;
    snprintf(done, sizeof done, "%s/dataset.json", data);
    const int exists = file_exists(done);
    if (exists && dataset_is_current(done, a.modality, train_count, test_count, why, sizeof why)) {
        printf("\n== 1. synthetic dataset: reusing %s\n", data);
    } else {
        if (exists) {
            printf("\n== 1. synthetic dataset: %s is out of date (%s); writing it again\n", data, why);
            remove(done); /* the marker goes first, so an interrupted rewrite is not reused */
        }
        char train_arg[16], test_arg[16];
        snprintf(train_arg, sizeof train_arg, "%d", train_count);
        snprintf(test_arg, sizeof test_arg, "%d", test_count);
        const char *synth[] = {a.modality, data, "--seed", "1", "--threads", a.threads,
                               "--train", train_arg, "--test", test_arg};
        if ((rc = step("1. synthetic dataset (training image-report pairs, held-out images with "
                       "boxes)", "synth", afloc_cli_synth, 10, synth)))
            return rc;
    }

    /* 2. The shipped model of the modality. */
    if (file_exists(shipped)) {
        snprintf(out, sizeof out, "%s/shipped%s%s", a.dir, cxr ? "" : "-", cxr ? "" : a.modality);
        const char *eval[] = {shipped, data, "--out", out, "--log", shipped_log};
        if ((rc = step("2. the shipped model (trained by the project on this data) on the held-out "
                       "set", "eval", afloc_cli_eval, file_exists(shipped_log) ? 6 : 4, eval)))
            return rc;
    } else {
        printf("\n== 2. no shipped model at %s: skipped\n", shipped);
    }

    /* 3. Untrained, then live training from it, then the live model: the live config with the
     *    vocabulary size of this dataset. */
    char own_config[PATH_MAX + 32];
    snprintf(own_config, sizeof own_config, "%s/config-live-%s.json", a.dir, a.modality);
    if (write_config(config, vocab, own_config)) return 1;
    snprintf(config, sizeof config, "%s", own_config);
    const char *make[] = {init, "--vocab", vocab, "--config", config, "--seed", "1"};
    if ((rc = step("3a. an untrained model of the live-training config", "init", afloc_cli_init, 7, make))) return rc;
    snprintf(out, sizeof out, "%s/untrained%s%s", a.dir, cxr ? "" : "-", cxr ? "" : a.modality);
    const char *eval_init[] = {init, data, "--out", out, "--json-only"};
    if ((rc = step("3b. the untrained model on the held-out set", "eval", afloc_cli_eval, 5, eval_init)))
        return rc;
    if (!a.no_train) {
        char minutes[32], steps[32];
        snprintf(minutes, sizeof minutes, "%g", a.train_minutes);
        snprintf(steps, sizeof steps, "%ld", a.train_steps);
        remove(live_log);
        /* Steps, not images, are what a few minutes must buy: the small live config (128-px
         * frames, 10x10 map) at batch 8 without the word-level loss (the costliest part, growing
         * with B²) takes about 0.1 s a step on 2 cores. A step budget, not a time budget, so the
         * same machine and threads always train the same live model; the minutes are only a cap
         * for slow machines. Why 3000 steps and this schedule: models/README.md ("The demo's
         * live training"). */
        const char *train[] = {manifest, "--model", init, "--out", live, "--epochs", "100",
                               "--batch", "8", "--lr", "5e-4", "--schedule", "constant",
                               "--captions", "full", "--loss-weights", "1,1,0", "--seed", "1",
                               "--threads", a.threads, "--max-steps", steps, "--max-minutes", minutes,
                               "--log", live_log};
        if ((rc = step("3c. live training from scratch (a step budget, a smaller config, batch 8, "
                       "global and sentence losses)",
                       "train", afloc_cli_train, 27, train)))
            return rc;
        snprintf(out, sizeof out, "%s/live%s%s", a.dir, cxr ? "" : "-", cxr ? "" : a.modality);
        const char *eval_live[] = {live, data, "--out", out, "--log", live_log};
        if ((rc = step("3d. the live-trained model on the held-out set", "eval", afloc_cli_eval, 6, eval_live)))
            return rc;
    }
    summary(a.dir, cxr ? "" : a.modality, !a.no_train);
    printf("\n  demo finished in %.1f minutes\n", (now_seconds() - t0) / 60.0);
    return 0;
}
