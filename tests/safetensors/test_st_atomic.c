/* test_st_atomic.c: atomic, durable model file saves.
 * T17-lite: a child saves a ~3 MB model file to one path in a loop, alternating two contents, and
 * is SIGKILLed at random moments 50 times; after each kill the path must load, verify and equal
 * one of the two contents. Orphan temp files are counted, and the next successful save must
 * remove those of dead processes.
 * T20-lite: write failures (an injected EIO after k bytes, a real EFBIG from RLIMIT_FSIZE, a
 * rename onto a directory) give AFLOC_ERR_IO, leave the previous file intact and leave no temp
 * file; read failures give AFLOC_ERR_IO. */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "model_file.h"
#include "st_test_util.h"

#define ELEMENTS (768 * 1024) /* 3 MiB of F32 */

static const char config[] = "{\"embedding_dim\":768}";
static const char vocab[] = "[PAD]\n[UNK]\nlung\n";
static float *contents[2];

static afloc_status save(const char *path, int which) {
    int64_t shape[2] = {768, 1024};
    afloc_st_write_tensor t = {"w", AFLOC_ST_F32, 2, shape, contents[which], ELEMENTS * sizeof(float)};
    return afloc_mf_write(path, config, (const unsigned char *)vocab, strlen(vocab), &t, 1, "test");
}

/* Which content the file at `path` holds: 0 or 1, -1 if none (and why on stderr). */
static int load(const char *path) {
    afloc_model_file *mf = NULL;
    afloc_status status = afloc_mf_read(path, NULL, NULL, 0, "test", &mf);
    if (status != AFLOC_OK) {
        fprintf(stderr, "load failed: %s: %s\n", afloc_status_string(status), afloc_last_error());
        return -1;
    }
    int which = -1;
    float *w = malloc(ELEMENTS * sizeof(float));
    int32_t index = afloc_st_find(mf->st, "w");
    if (index >= 0 && afloc_st_tensor_copy(mf->st, index, w, ELEMENTS * sizeof(float)) == AFLOC_OK)
        for (int c = 0; c < 2; c++)
            if (memcmp(w, contents[c], ELEMENTS * sizeof(float)) == 0) which = c;
    free(w);
    afloc_mf_free(mf);
    return which;
}

static int count_temps(const char *dir, const char *base) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    size_t length = strlen(base);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, base, length) == 0 && strncmp(e->d_name + length, ".tmp.", 5) == 0) n++;
    closedir(d);
    return n;
}

static void kill_test(const char *dir, const char *path) {
    CHECK_STATUS(save(path, 0), AFLOC_OK);
    double t0 = test_now();
    CHECK_STATUS(save(path, 1), AFLOC_OK);
    double save_seconds = test_now() - t0;
    int loads_ok = 0, seen[2] = {0, 0}, max_temps = 0;
    unsigned seed = 12345;
    for (int round = 0; round < 50; round++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int k = 0;; k++) save(path, k & 1);
        }
        seed = seed * 1103515245u + 12345u;
        /* Kill somewhere within the first ~3 saves of the child. */
        double delay = ((seed >> 8) % 1000) * (save_seconds * 3.0) / 1000.0 + 1e-4;
        struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        int which = load(path);
        if (which >= 0) {
            loads_ok++;
            seen[which]++;
        }
        int temps = count_temps(dir, "model.safetensors");
        if (temps > max_temps) max_temps = temps;
    }
    int orphans = count_temps(dir, "model.safetensors");
    CHECK_STATUS(save(path, 0), AFLOC_OK);
    int after = count_temps(dir, "model.safetensors");
    CHECK(loads_ok == 50);
    CHECK(after == 0);
    CHECK(load(path) == 0);
    printf("T17-lite: one save %.1f ms; 50 SIGKILLs: path loaded and verified %d/50 times (old/new content %d/%d); "
           "orphan temp files before the next save %d, after it %d\n",
           save_seconds * 1e3, loads_ok, seen[0], seen[1], orphans, after);
}

static void io_faults(const char *dir, const char *path) {
    CHECK_STATUS(save(path, 0), AFLOC_OK);
    const size_t fail_at[] = {1, 8, 200, 100000, 2000000};
    int kept = 0;
    for (size_t k = 0; k < sizeof fail_at / sizeof *fail_at; k++) {
        afloc_st_test_fail_write_after(fail_at[k]);
        CHECK_STATUS(save(path, 1), AFLOC_ERR_IO);
        afloc_st_test_fail_write_after(0);
        if (load(path) == 0) kept++;
        CHECK(count_temps(dir, "model.safetensors") == 0);
    }
    CHECK(kept == 5);

    /* A real short write: the file size limit makes write() fail with EFBIG. */
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit limit = {1 << 20, 1 << 20};
        setrlimit(RLIMIT_FSIZE, &limit);
        _exit((int)save(path, 1));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    int efbig = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    CHECK(efbig == AFLOC_ERR_IO);
    CHECK(load(path) == 0);
    CHECK(count_temps(dir, "model.safetensors") == 0);

    /* rename onto a non-empty directory fails: IO, and the temp file is removed. */
    char target[4096], inner[4200];
    snprintf(target, sizeof target, "%s/occupied", dir);
    snprintf(inner, sizeof inner, "%s/x", target);
    mkdir(target, 0700);
    FILE *f = fopen(inner, "w");
    fclose(f);
    CHECK_STATUS(save(target, 1), AFLOC_ERR_IO);
    CHECK(count_temps(dir, "occupied") == 0);
    unlink(inner);
    rmdir(target);

    afloc_st_file *file = NULL;
    CHECK_STATUS(afloc_st_read_file(dir, NULL, "test", &file), AFLOC_ERR_IO);
    CHECK_STATUS(afloc_st_read_file("/nonexistent/model.safetensors", NULL, "test", &file), AFLOC_ERR_IO);
    printf("T20-lite: injected EIO at 5 offsets -> IO, previous file intact %d/5; RLIMIT_FSIZE EFBIG -> %s; "
           "rename onto a directory -> IO; no temp files left\n", kept, afloc_status_string((afloc_status)efbig));
}

int main(void) {
    for (int c = 0; c < 2; c++) {
        contents[c] = malloc(ELEMENTS * sizeof(float));
        for (int i = 0; i < ELEMENTS; i++) contents[c][i] = (float)(i % 977) * (c ? -0.5f : 0.25f);
    }
    char dir[] = "/tmp/afloc_st_atomic_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    kill_test(dir, path);
    io_faults(dir, path);
    unlink(path);
    rmdir(dir);
    free(contents[0]);
    free(contents[1]);
    return test_finish("st_atomic");
}
