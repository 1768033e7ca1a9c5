/* test_st_interop.c: differential check against an independent Python implementation of the
 * format (st_oracle.py, json + struct only): files the oracle writes (raw UTF-8 names, and \u
 * escaped names) load in C with identical bytes, and a file the C writer produces is read by the
 * oracle with identical content and a matching afloc.data_sha256. Skips (77) without the oracle
 * interpreter. */
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "st_test_util.h"

typedef struct {
    const char   *name;
    afloc_st_dtype dtype;
    int32_t       rank;
    int64_t       shape[2];
    unsigned char bytes[32];
    size_t        nbytes;
} ref_tensor;

static ref_tensor refs[9];

/* The same content as st_oracle.py expected(), built here independently. */
static void build_refs(void) {
    float f32[6] = {0.5f, -1.25f, 3.0f, 1e-3f, -7.5f, 1024.0f};
    double f64 = 3.141592653589793;
    int64_t i64[3] = {INT64_MIN, 0, INT64_MAX};
    int32_t i32[2] = {-5, 123456};
    uint16_t f16[2] = {0x3E00, 0xC000}; /* 1.5, -2.0 in IEEE half */
    int8_t i8 = -3;
    refs[0] = (ref_tensor){"w.f32", AFLOC_ST_F32, 2, {2, 3}, {0}, 24};
    memcpy(refs[0].bytes, f32, 24);
    refs[1] = (ref_tensor){"w.f64", AFLOC_ST_F64, 0, {0}, {0}, 8};
    memcpy(refs[1].bytes, &f64, 8);
    refs[2] = (ref_tensor){"w.i64", AFLOC_ST_I64, 1, {3}, {0}, 24};
    memcpy(refs[2].bytes, i64, 24);
    refs[3] = (ref_tensor){"w.i32", AFLOC_ST_I32, 2, {2, 1}, {0}, 8};
    memcpy(refs[3].bytes, i32, 8);
    refs[4] = (ref_tensor){"w.u8", AFLOC_ST_U8, 1, {5}, {0, 1, 127, 128, 255}, 5};
    refs[5] = (ref_tensor){"w.bool", AFLOC_ST_BOOL, 1, {2}, {1, 0}, 2};
    refs[6] = (ref_tensor){"w.f16", AFLOC_ST_F16, 1, {2}, {0}, 4};
    memcpy(refs[6].bytes, f16, 4);
    refs[7] = (ref_tensor){"w.empty", AFLOC_ST_F32, 2, {4, 0}, {0}, 0};
    refs[8] = (ref_tensor){"na\xC3\xAFve \xE2\x9C\x93", AFLOC_ST_I8, 1, {1}, {0}, 1};
    memcpy(refs[8].bytes, &i8, 1);
}

static int run(const char *python, const char *script, const char *verb, const char *path, const char *mode) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(python, python, script, verb, path, mode, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int compare_file(const char *path) {
    afloc_st_file *file = NULL;
    CHECK_STATUS(afloc_st_read_file(path, NULL, "test", &file), AFLOC_OK);
    if (!file) return -1;
    int mismatches = 0;
    CHECK(file->tensor_count == 9);
    for (int k = 0; k < 9; k++) {
        int32_t index = afloc_st_find(file, refs[k].name);
        if (index < 0) { mismatches++; continue; }
        const afloc_st_tensor *t = &file->tensors[index];
        unsigned char got[32];
        if (t->dtype != refs[k].dtype || t->rank != refs[k].rank || t->nbytes != refs[k].nbytes ||
            afloc_st_tensor_copy(file, index, got, sizeof got) != AFLOC_OK ||
            memcmp(got, refs[k].bytes, refs[k].nbytes) != 0)
            mismatches++;
        for (int r = 0; r < t->rank; r++)
            if (t->shape[r] != refs[k].shape[r]) mismatches++;
    }
    const char *note = afloc_st_metadata(file, "note");
    if (!note || strcmp(note, "tab\tand \xC3\xA9") != 0) mismatches++;
    afloc_st_free(file);
    return mismatches;
}

int main(void) {
    const char *python = getenv("AFLOC_ORACLE_PYTHON");
    const char *source = getenv("AFLOC_SOURCE_DIR");
    if (!python || !source || access(python, X_OK) != 0) {
        printf("st_interop: skipped: AFLOC_ORACLE_PYTHON/AFLOC_SOURCE_DIR not set or not executable\n");
        return TEST_SKIP;
    }
    char script[4096];
    snprintf(script, sizeof script, "%s/tests/safetensors/st_oracle.py", source);
    build_refs();
    char path[] = "/tmp/afloc_st_interop_XXXXXX";
    close(mkstemp(path));

    int python_to_c[2] = {-1, -1};
    const char *modes[2] = {"utf8", "ascii"};
    for (int m = 0; m < 2; m++) {
        CHECK(run(python, script, "write", path, modes[m]) == 0);
        python_to_c[m] = compare_file(path);
        CHECK(python_to_c[m] == 0);
    }

    afloc_st_write_tensor w[9];
    for (int k = 0; k < 9; k++)
        w[k] = (afloc_st_write_tensor){refs[k].name, refs[k].dtype, refs[k].rank, refs[k].shape, refs[k].bytes,
                                       refs[k].nbytes};
    const afloc_st_kv meta[2] = {{"producer", "st_oracle.py"}, {"note", "tab\tand \xC3\xA9"}};
    CHECK_STATUS(afloc_st_write(path, w, 9, meta, 2, "test"), AFLOC_OK);
    int c_to_python = run(python, script, "check", path, "");
    CHECK(c_to_python == 0);
    unlink(path);
    printf("st_interop: python->C mismatches %d (raw UTF-8 names), %d (\\u-escaped names); C->python exit %d\n",
           python_to_c[0], python_to_c[1], c_to_python);
    return test_finish("st_interop");
}
