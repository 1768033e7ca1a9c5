/* afloc_main.c: the `afloc` command-line tool. Each subcommand is a short function that uses only
 * the public API, so it doubles as an example of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "afloc/afloc.h"
#include "cli_model.h"
#include "commands.h"

static const char usage[] =
    "usage: afloc [--precision fp32|bf16] <command> [options]\n"
    "\n"
    "  --precision P        numeric mode on a CUDA device: fp32 (default; matches the CPU) or\n"
    "                       bf16 (bf16 tensor-core GEMMs, TF32 convolutions); the CPU computes fp32\n"
    "\n"
    "commands:\n"
    "  version              print the library version\n"
    "  info [cpu|cuda|auto] create a context and describe the backend it chose\n"
    "  demo [DIR]           the main job on a synthetic chest X-ray dataset: the shipped model's\n"
    "                       metrics vs baselines, then a short live training (afloc demo --help)\n"
    "  init OUT --vocab V [--config C.json] [--seed N] [--weights MODEL]\n"
    "                       a new model with PyTorch-default initial weights, saved to OUT\n"
    "                       (--weights: MODEL's weights under the new config instead)\n"
    "  train MANIFEST.csv --model IN --out OUT [--epochs N] [--batch B] ...\n"
    "                       train on image/report pairs (`afloc train --help` lists options)\n"
    "  localize MODEL IMAGE.png \"text\" [--out DIR]\n"
    "                       heatmap of a finding: DIR/heatmap.png (original pixel grid) and\n"
    "                       DIR/overlay.png (colormap on the image); DIR defaults to .\n"
    "  classify MODEL IMAGE.png \"prompt1\" \"prompt2\" ... [--temperature T] [--ensembles]\n"
    "                       zero-shot: cosine score and softmax probability per prompt\n"
    "                       (--ensembles: 'a|b' is one ensemble of the wordings a and b)\n"
    "  embed MODEL (IMAGE.png | --text \"...\")\n"
    "                       print the global image or report text embedding (JSON array)\n"
    "  eval MODEL DATASET_DIR [--out DIR] [--bootstrap N] [--seed S] [--limit N] [--log L]\n"
    "                       localization, text-reading and zero-shot metrics on a synth dataset's\n"
    "                       test split: DIR/metrics.json, contact_sheet.png (`afloc eval --help`)\n"
    "  synth MODALITY OUT_DIR [--train N] [--test M] [--seed S] [--size PX] [--threads T]\n"
    "                       write a procedural demo dataset (cxr) (`afloc synth --help`)\n"
    "  help                 this text\n";

static int fail(const char *what, afloc_status status) {
    fprintf(stderr, "afloc: %s failed: %s: %s\n", what, afloc_status_string(status),
            afloc_last_error());
    return 1;
}

static int command_info(int argc, char **argv) {
    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.precision = cli_precision;
    if (argc > 0) {
        if (!strcmp(argv[0], "cpu")) options.backend = AFLOC_BACKEND_CPU;
        else if (!strcmp(argv[0], "cuda")) options.backend = AFLOC_BACKEND_CUDA;
        else if (!strcmp(argv[0], "auto")) options.backend = AFLOC_BACKEND_AUTO;
        else {
            fprintf(stderr, "afloc info: unknown backend '%s' (cpu, cuda or auto)\n", argv[0]);
            return 2;
        }
    }
    afloc_context *context = NULL;
    afloc_status status = afloc_context_create(&options, &context);
    if (status != AFLOC_OK) return fail("afloc_context_create", status);
    char info[1024];
    status = afloc_context_info(context, info, sizeof info, NULL);
    if (status == AFLOC_OK) printf("libafloc %s\n%s\n", afloc_version(), info);
    afloc_context_free(context);
    return status == AFLOC_OK ? 0 : fail("afloc_context_info", status);
}

/* OpenMP's default wait policy keeps idle team threads spinning after every parallel region;
 * next to OpenBLAS's own thread pool and the data loader's thread that halves or worse what two
 * cores deliver (`afloc train`, 2 cores: 50 s with the default, 15.7 s passive, same bits).
 * libgomp reads OMP_WAIT_POLICY only when it loads, so the tool re-executes itself once with
 * "passive" unless the caller chose a policy; if that fails it simply runs as it is. */
static void prefer_passive_openmp(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    prefer_passive_openmp(argv);
    if (argc >= 3 && !strcmp(argv[1], "--precision")) { /* the one option before the command */
        if (!strcmp(argv[2], "bf16")) cli_precision = AFLOC_PRECISION_BF16;
        else if (strcmp(argv[2], "fp32") != 0) {
            fprintf(stderr, "afloc: --precision takes fp32 or bf16, not '%s'\n", argv[2]);
            return 2;
        }
        argv[2] = argv[0]; /* drop the two words; argv[0] stays first */
        argv += 2;
        argc -= 2;
    }
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("%s\n", afloc_version());
        return 0;
    }
    if (!strcmp(argv[1], "info")) return command_info(argc - 2, argv + 2);
    if (!strcmp(argv[1], "demo")) return afloc_cli_demo(argc - 2, argv + 2);
    if (!strcmp(argv[1], "localize")) return afloc_cli_localize(argc - 2, argv + 2);
    if (!strcmp(argv[1], "classify")) return afloc_cli_classify(argc - 2, argv + 2);
    if (!strcmp(argv[1], "embed")) return afloc_cli_embed(argc - 2, argv + 2);
    if (!strcmp(argv[1], "init")) return afloc_cli_init(argc - 2, argv + 2);
    if (!strcmp(argv[1], "train")) return afloc_cli_train(argc - 2, argv + 2);
    if (!strcmp(argv[1], "eval")) return afloc_cli_eval(argc - 2, argv + 2);
    if (!strcmp(argv[1], "synth")) return afloc_cli_synth(argc - 2, argv + 2);
    fprintf(stderr, "afloc: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
