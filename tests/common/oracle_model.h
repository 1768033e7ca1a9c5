/* oracle_model.h: what the tests that compare against a PyTorch oracle run share: running a shell
 * command, converting the oracle's Lightning checkpoint with bindings/python/afloc/convert.py,
 * and loading the converted model on the CPU. */
#ifndef AFLOC_TEST_ORACLE_MODEL_H
#define AFLOC_TEST_ORACLE_MODEL_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "test_util.h"

/* Runs `command` through the shell, echoing it to stderr; returns its exit status (-1 if none). */
static int oracle_run(const char *command) {
    fprintf(stderr, "+ %s\n", command);
    int rc = system(command);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* Converts DIR/checkpoint.ckpt + DIR/vocab.txt into DIR/model.safetensors with the converter of
 * the source tree `src`, run by the Python `py`. The checkpoint does not hold BERT's head count
 * (the converter's default is hidden/64), so DIR/config.json's bert_heads is passed as an
 * override. Returns the converter's exit status. */
static int oracle_convert_checkpoint(const char *py, const char *src, const char *dir) {
    char cmd[4096];
    int heads = 12;
    snprintf(cmd, sizeof cmd, "%s/config.json", dir);
    FILE *f = fopen(cmd, "rb");
    if (f) {
        char text[8192];
        size_t len = fread(text, 1, sizeof text - 1, f);
        text[len] = '\0';
        fclose(f);
        cJSON *cfg = cJSON_Parse(text);
        cJSON *h = cJSON_GetObjectItem(cfg, "bert_heads");
        if (cJSON_IsNumber(h)) heads = h->valueint;
        cJSON_Delete(cfg);
    }
    const char *bin = getenv("AFLOC_BINARY_DIR");
    /* Under ASan the instrumented libafloc.so needs the ASan runtime preloaded into Python. */
#if defined(__SANITIZE_ADDRESS__)
    const char *preload = "LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0 ";
#else
    const char *preload = "";
#endif
    snprintf(cmd, sizeof cmd,
             "%s\"%s\" \"%s/bindings/python/afloc/convert.py\" \"%s/checkpoint.ckpt\" "
             "\"%s/vocab.txt\" \"%s/model.safetensors\" --config-override '{\"bert_heads\": %d}' "
             "%s%s%s >&2", preload, py, src, dir, dir, dir, heads, bin ? "--library \"" : "",
             bin ? bin : "", bin ? "/libafloc.so\"" : "");
    return oracle_run(cmd);
}

/* Loads DIR/model.safetensors on a 2-thread CPU context (checked with CHECK_STATUS). */
static void oracle_load_model(const char *dir, afloc_context **context, afloc_model **model) {
    afloc_context_options copt = {.struct_size = sizeof copt};
    afloc_context_options_default(&copt);
    copt.backend = AFLOC_BACKEND_CPU;
    copt.num_threads = 2;
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_STATUS(afloc_context_create(&copt, context), AFLOC_OK);
    CHECK_STATUS(afloc_model_load(*context, path, model), AFLOC_OK);
}

#endif /* AFLOC_TEST_ORACLE_MODEL_H */
