/* cmd_init.c: `afloc init`, a new model with freshly initialised weights (PyTorch's default
 * initialisation of each module, seeded), saved as a model file: the starting point for
 * training from scratch, and a way to get a model file of any size for tests and benchmarks.
 * With --weights it takes every tensor from an existing model file instead, under a new config
 * of the same tensor shapes (e.g. another upsample_size: the convolutions do not depend on it),
 * which is how a model trained at one resolution continues at another; or with local_position
 * set, which adds that term at zero to a model trained without it. With --grow as well the config
 * may give ResNet stages more blocks than MODEL has; they start as identities
 * (afloc_model_grow), so training can go on with a deeper trunk. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "afloc/afloc.h"
#include "cli_file.h"
#include "cli_model.h"
#include "commands.h"

static const char usage[] =
    "usage: afloc init OUT.safetensors --vocab VOCAB.txt [--config CONFIG.json] [--seed N]\n"
    "                  [--weights MODEL.safetensors [--grow]]\n"
    "A new model with PyTorch-default initial weights (seed N, default 1). CONFIG.json holds\n"
    "model config keys (see `afloc init --print-config`); missing keys take the paper's values.\n"
    "The vocabulary must have exactly vocab_size tokens, one per line.\n"
    "--weights: take all weights from MODEL (a model file) instead of initialising them; the\n"
    "config must give the same tensors (it may change e.g. upsample_size or gaussian_sigma, or\n"
    "set local_position 1 for a MODEL without it: that term then starts at zero).\n"
    "The seed is then unused.\n"
    "--grow (with --weights; not in the paper): the config may also give ResNet stages more\n"
    "blocks (resnet_blocks) than MODEL has. The added blocks follow MODEL's blocks of their\n"
    "stage, start with seeded initial weights (--seed) and a last BatchNorm scale of 0, so\n"
    "they pass their input through unchanged and the new model computes what MODEL computed\n"
    "until training moves them (more layer-3 blocks: features that see more of the image).\n";

/* A whole text file (cli_read_file); NULL on failure, with the message printed. */
static char *read_text(const char *path, size_t *size) {
    char *data = cli_read_file(path, size);
    if (!data) fprintf(stderr, "afloc init: cannot read %s: %s\n", path, strerror(errno));
    return data;
}

int afloc_cli_init(int argc, char **argv) {
    const char *out = NULL, *vocab_path = NULL, *config_path = NULL, *weights_path = NULL;
    unsigned long long seed = 1;
    int grow = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return 0;
        } else if (!strcmp(argv[i], "--print-config")) {
            char json[4096];
            afloc_status status = afloc_model_config_default(json, sizeof json, NULL);
            if (status != AFLOC_OK) return cli_fail("init", "afloc_model_config_default", status);
            printf("%s\n", json);
            return 0;
        } else if (!strcmp(argv[i], "--vocab") && i + 1 < argc) {
            vocab_path = argv[++i];
        } else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (!strcmp(argv[i], "--weights") && i + 1 < argc) {
            weights_path = argv[++i];
        } else if (!strcmp(argv[i], "--grow")) {
            grow = 1;
        } else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (argv[i][0] != '-' && !out) {
            out = argv[i];
        } else {
            fprintf(stderr, "afloc init: unexpected argument '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!out || !vocab_path || (grow && !weights_path)) {
        if (grow && !weights_path) fputs("afloc init: --grow needs --weights\n", stderr);
        fputs(usage, stderr);
        return 2;
    }
    size_t vocab_size = 0, config_size = 0;
    char *vocab = read_text(vocab_path, &vocab_size);
    char *config = config_path ? read_text(config_path, &config_size) : NULL;
    int rc = 1;
    afloc_context *context = NULL;
    afloc_model *model = NULL;
    afloc_context_options options = {0};
    options.struct_size = sizeof options;
    afloc_context_options_default(&options);
    options.backend = AFLOC_BACKEND_CPU;
    afloc_status status;
    if (!vocab || (config_path && !config)) goto done;
    if ((status = afloc_context_create(&options, &context)) != AFLOC_OK)
        rc = cli_fail("init", "afloc_context_create", status);
    else if (weights_path && grow &&
             (status = afloc_model_grow(context, weights_path, config, vocab, vocab_size, (uint64_t)seed,
                                        &model)) != AFLOC_OK)
        rc = cli_fail("init", "afloc_model_grow", status);
    else if (weights_path && !grow &&
             (status = afloc_model_import_safetensors(context, weights_path, config, vocab, vocab_size,
                                                      &model)) != AFLOC_OK)
        rc = cli_fail("init", "afloc_model_import_safetensors", status);
    else if (!weights_path &&
             (status = afloc_model_create(context, config, vocab, vocab_size, (uint64_t)seed, &model)) != AFLOC_OK)
        rc = cli_fail("init", "afloc_model_create", status);
    else if ((status = afloc_model_save(model, out)) != AFLOC_OK)
        rc = cli_fail("init", "afloc_model_save", status);
    else {
        if (weights_path && grow)
            printf("afloc init: wrote %s (weights of %s, added blocks seed %llu)\n", out, weights_path, seed);
        else if (weights_path) printf("afloc init: wrote %s (weights of %s)\n", out, weights_path);
        else printf("afloc init: wrote %s (seed %llu)\n", out, seed);
        rc = 0;
    }
done:
    afloc_model_free(model);
    afloc_context_free(context);
    free(config);
    free(vocab);
    return rc;
}
