/* cmd_train.c: `afloc train`, training a model on a manifest with the public trainer
 * (afloc_trainer_*): a progress bar on a terminal (one line rewritten with \r), plain lines
 * otherwise; checkpoints after every epoch, every N steps and on Ctrl-C; resume. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "afloc/afloc.h"
#include "cli_model.h"
#include "commands.h"

static const char usage[] =
    "usage: afloc train MANIFEST.csv --model IN.safetensors --out OUT.safetensors [options]\n"
    "Trains IN on MANIFEST (CSV with columns `image`, a PNG path relative to the manifest's\n"
    "folder or --image-root, and `report`) and writes the trained model to OUT.\n"
    "  --epochs N            train until epoch N (default 5)\n"
    "  --batch B             images per step (default 128)\n"
    "  --lr X                base learning rate (default 2e-5)\n"
    "  --schedule S          step (default: lr x 0.9 per epoch), cosine (linear warmup, then\n"
    "                        cosine to 0 at the last step) or constant\n"
    "  --warmup N            warmup steps of the cosine schedule (default 0)\n"
    "  --seed S              shuffling, captions and dropout (default 1)\n"
    "  --threads T           CPU threads (default 0: all cores)\n"
    "  --captions M          random (default, the paper's sentence sampling) or full (whole report)\n"
    "  --image-root DIR      folder for relative image paths (default: the manifest's folder)\n"
    "  --checkpoint PATH     save a checkpoint there after every epoch, at the end and on Ctrl-C\n"
    "  --checkpoint-every N  also every N steps\n"
    "  --resume PATH         continue from a checkpoint (its seed, schedule and position win;\n"
    "                        --batch must match)\n"
    "  --log PATH            append step,epoch,global,sentence,word,total per step to a CSV\n"
    "                        (header written when the file is new; `afloc eval --log` draws it),\n"
    "                        and a sentence_contrast column with --sentence-contrast\n"
    "  --loss-weights G,S,W  weights of the global, sentence and word losses (default 1,1,1;\n"
    "                        0 skips a loss, e.g. 1,1,0 trains without the costly word level)\n"
    "  --sentence-contrast W weight of the within-image sentence loss (not in the paper;\n"
    "                        default 0, off): the sentences of each report must attend to\n"
    "                        image regions that match them better than the report's other\n"
    "                        sentences do\n"
    "  --max-steps N         stop after step N of the run and save the model as if it had\n"
    "                        finished; with --schedule cosine the decay ends at step N instead\n"
    "                        of at the last step of the last epoch (the demo's live run)\n"
    "  --max-minutes M       stop after the first step that ends past M minutes and save the\n"
    "                        model as if the run had finished (a time budget; the demo's cap)\n"
    "  --mirror-pairs        laterality augmentation (not in the paper): each batch holds B/2\n"
    "                        images, each also mirrored left-right with \"left\" and \"right\"\n"
    "                        swapped in its report; B must be even, an epoch takes twice the\n"
    "                        steps, and --resume needs the flag again if the run had it\n"
    "  --quiet               no progress output\n";

static volatile sig_atomic_t interrupted = 0;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

enum { BUDGET_TIME = 1, BUDGET_STEPS = 2 };

typedef struct train_ui {
    afloc_trainer *trainer;
    const char *checkpoint;
    long every;
    int tty, quiet, failed;
    FILE *log; /* --log, or NULL */
    double deadline;  /* --max-minutes as a CLOCK_MONOTONIC time, 0 = none */
    long long max_steps; /* --max-steps, 0 = none                          */
    int budget_reached; /* what stopped the run: 0 nothing, BUDGET_TIME, BUDGET_STEPS */
    int contrast_column; /* --sentence-contrast: the log has a 7th column     */
} train_ui;

static double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void save_checkpoint(train_ui *ui) {
    if (!ui->checkpoint) return;
    afloc_status s = afloc_trainer_save_checkpoint(ui->trainer, ui->checkpoint);
    if (s != AFLOC_OK) ui->failed = cli_fail("train", "afloc_trainer_save_checkpoint", s);
}

static void format_eta(char *out, size_t size, double seconds) {
    long s = (long)(seconds + 0.5);
    snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
}

static int32_t on_progress(void *user, const afloc_train_progress *p) {
    train_ui *ui = user;
    const afloc_train_loss_terms *l = &p->loss;
    if (!ui->quiet) {
        char eta[32];
        double left = p->eta_seconds;
        long long total = (long long)p->epochs * p->batches_per_epoch;
        const long long done = (long long)p->epoch * p->batches_per_epoch + p->batch + 1;
        if (ui->max_steps > 0 && ui->max_steps < total) {
            /* eta_seconds covers the fit's remaining steps; keep its mean step time */
            if (total > done) left = left / (double)(total - done) * (double)(ui->max_steps - p->step);
            total = ui->max_steps;
        }
        if (left < 0) left = 0;
        if (ui->deadline > 0 && ui->deadline - monotonic_seconds() < left)
            left = ui->deadline - monotonic_seconds() > 0 ? ui->deadline - monotonic_seconds() : 0;
        format_eta(eta, sizeof eta, left);
        printf("%sepoch %d/%d  step %lld/%lld  loss %.4f (global %.4f sentence %.4f word %.4f)  "
               "lr %.3g  %.2f img/s  ETA %s%s", ui->tty ? "\r" : "", p->epoch + 1, p->epochs, done,
               total, l->total, l->global, l->sentence, l->word, l->learning_rate,
               p->images_per_second, eta, ui->tty ? "\033[K" : "\n");
        fflush(stdout);
    }
    if (ui->log) {
        fprintf(ui->log, "%lld,%d,%.9g,%.9g,%.9g,%.9g", (long long)p->step, p->epoch, l->global,
                l->sentence, l->word, l->total);
        if (ui->contrast_column) fprintf(ui->log, ",%.9g", l->sentence_contrast);
        fputc('\n', ui->log);
        fflush(ui->log);
    }
    const int epoch_end = p->batch + 1 == p->batches_per_epoch;
    if (epoch_end || (ui->every > 0 && p->step % ui->every == 0)) save_checkpoint(ui);
    if (ui->deadline > 0 && monotonic_seconds() >= ui->deadline) ui->budget_reached = BUDGET_TIME;
    if (ui->max_steps > 0 && p->step >= ui->max_steps) ui->budget_reached = BUDGET_STEPS;
    return interrupted || ui->failed || ui->budget_reached;
}

typedef struct train_args {
    const char *manifest, *model, *out, *image_root, *checkpoint, *resume, *log;
    long every;
    long long max_steps;
    int quiet;
    double max_minutes;
    afloc_trainer_options o;
} train_args;

/* 1 if all of v is one floating-point number (stored in *out). */
static int whole_number(const char *v, double *out) {
    char *end;
    const double x = strtod(v, &end);
    if (end == v || *end != '\0') return 0;
    *out = x;
    return 1;
}

/* Fills `a` from the command line; returns 0, or 2 after printing a usage error. */
static int parse(int argc, char **argv, train_args *a) {
    for (int i = 0; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(k, "--help") || !strcmp(k, "-h")) {
            fputs(usage, stdout);
            exit(0);
        } else if (!strcmp(k, "--quiet")) {
            a->quiet = 1;
            continue;
        } else if (!strcmp(k, "--mirror-pairs")) {
            a->o.mirror_pairs = 1;
            continue;
        } else if (k[0] != '-' && !a->manifest) {
            a->manifest = k;
            continue;
        } else if (k[0] != '-' || !v) {
            fprintf(stderr, "afloc train: unexpected argument or missing value: %s\n%s", k, usage);
            return 2;
        }
        i++;
        if (!strcmp(k, "--model")) a->model = v;
        else if (!strcmp(k, "--out")) a->out = v;
        else if (!strcmp(k, "--image-root")) a->image_root = v;
        else if (!strcmp(k, "--checkpoint")) a->checkpoint = v;
        else if (!strcmp(k, "--checkpoint-every")) a->every = atol(v);
        else if (!strcmp(k, "--resume")) a->resume = v;
        else if (!strcmp(k, "--log")) a->log = v;
        else if (!strcmp(k, "--max-minutes") && atof(v) > 0) a->max_minutes = atof(v);
        else if (!strcmp(k, "--max-steps") && atoll(v) > 0) a->max_steps = atoll(v);
        else if (!strcmp(k, "--loss-weights") &&
                 sscanf(v, "%lf,%lf,%lf", &a->o.loss_weight_global, &a->o.loss_weight_sentence,
                        &a->o.loss_weight_word) == 3) {
        }
        else if (!strcmp(k, "--sentence-contrast") &&
                 whole_number(v, &a->o.loss_weight_sentence_contrast)) {
        } /* its range is afloc_trainer_create's check */
        else if (!strcmp(k, "--epochs")) a->o.epochs = atoi(v);
        else if (!strcmp(k, "--batch")) a->o.batch_size = atoi(v);
        else if (!strcmp(k, "--lr")) a->o.learning_rate = atof(v);
        else if (!strcmp(k, "--warmup")) a->o.warmup_steps = atol(v);
        else if (!strcmp(k, "--seed")) a->o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--threads")) a->o.threads = atoi(v);
        else if (!strcmp(k, "--schedule") && !strcmp(v, "step")) a->o.lr_schedule = AFLOC_LR_SCHEDULE_STEP;
        else if (!strcmp(k, "--schedule") && !strcmp(v, "cosine"))
            a->o.lr_schedule = AFLOC_LR_SCHEDULE_WARMUP_COSINE;
        else if (!strcmp(k, "--schedule") && !strcmp(v, "constant"))
            a->o.lr_schedule = AFLOC_LR_SCHEDULE_CONSTANT;
        else if (!strcmp(k, "--captions") && !strcmp(v, "random"))
            a->o.caption_mode = AFLOC_TRAIN_CAPTIONS_RANDOM;
        else if (!strcmp(k, "--captions") && !strcmp(v, "full")) a->o.caption_mode = AFLOC_TRAIN_CAPTIONS_FULL;
        else {
            fprintf(stderr, "afloc train: bad option or value: %s %s\n%s", k, v, usage);
            return 2;
        }
    }
    if (!a->manifest || !a->model || !a->out) {
        fprintf(stderr, "afloc train: MANIFEST, --model and --out are required\n%s", usage);
        return 2;
    }
    return 0;
}

int afloc_cli_train(int argc, char **argv) {
    train_args a;
    memset(&a, 0, sizeof a);
    a.o.struct_size = sizeof a.o;
    afloc_trainer_options_default(&a.o);
    int rc = parse(argc, argv, &a);
    if (rc) return rc;
    cli_model m;
    if (cli_model_load("train", a.model, &m)) return 1;
    /* The cosine schedule ends where the run will: at --max-steps when it is given. */
    if (a.max_steps > 0 && a.o.lr_schedule == AFLOC_LR_SCHEDULE_WARMUP_COSINE) a.o.total_steps = a.max_steps;
    train_ui ui = {.checkpoint = a.checkpoint, .every = a.every, .quiet = a.quiet,
                   .max_steps = a.max_steps, .tty = isatty(fileno(stdout))};
    if (a.log) {
        if (!(ui.log = fopen(a.log, "a"))) {
            fprintf(stderr, "afloc train: cannot open the log %s\n", a.log);
            cli_model_free(&m);
            return 1;
        }
        fseek(ui.log, 0, SEEK_END);
        ui.contrast_column = a.o.loss_weight_sentence_contrast != 0.0;
        if (ftell(ui.log) == 0)
            fputs(ui.contrast_column ? "step,epoch,global,sentence,word,total,sentence_contrast\n"
                                     : "step,epoch,global,sentence,word,total\n", ui.log);
    }
    if (a.max_minutes > 0) ui.deadline = monotonic_seconds() + 60.0 * a.max_minutes;
    a.o.progress = on_progress;
    a.o.progress_user = &ui;
    afloc_status s = afloc_trainer_create(m.model, &a.o, &ui.trainer);
    if (s != AFLOC_OK) rc = cli_fail("train", "afloc_trainer_create", s);
    else if (a.resume && (s = afloc_trainer_load_checkpoint(ui.trainer, a.resume)) != AFLOC_OK)
        rc = cli_fail("train", "afloc_trainer_load_checkpoint", s);
    if (rc == 0) {
        signal(SIGINT, on_sigint);
        s = afloc_trainer_fit(ui.trainer, a.manifest, a.image_root, a.o.epochs);
        signal(SIGINT, SIG_DFL);
        if (ui.tty && !ui.quiet) printf("\n");
        if (s == AFLOC_ERR_CANCELLED && ui.budget_reached && !interrupted && !ui.failed) {
            s = AFLOC_OK; /* the time or step budget ended the run: a normal finish */
            if (!ui.quiet && ui.budget_reached == BUDGET_STEPS)
                printf("afloc train: step budget of %lld steps reached\n", a.max_steps);
            else if (!ui.quiet)
                printf("afloc train: time budget of %g minutes reached\n", a.max_minutes);
        }
        if (s == AFLOC_ERR_CANCELLED && !ui.failed) {
            save_checkpoint(&ui);
            fprintf(stderr, "afloc train: interrupted%s%s\n",
                    a.checkpoint ? "; resume with --resume " : " (no --checkpoint given)",
                    a.checkpoint ? a.checkpoint : "");
            rc = 130;
        } else if (s != AFLOC_OK) {
            rc = ui.failed ? 1 : cli_fail("train", "afloc_trainer_fit", s);
        } else if ((s = afloc_model_save(m.model, a.out)) != AFLOC_OK) {
            rc = cli_fail("train", "afloc_model_save", s);
        } else {
            save_checkpoint(&ui);
            afloc_trainer_state st = {.struct_size = sizeof st};
            afloc_trainer_get_state(ui.trainer, &st);
            printf("afloc train: %lld steps, %d epochs; wrote %s\n", (long long)st.step, st.epoch,
                   a.out);
            rc = ui.failed;
        }
    }
    if (ui.log) fclose(ui.log);
    afloc_trainer_free(ui.trainer);
    cli_model_free(&m);
    return rc;
}
