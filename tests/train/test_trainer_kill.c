/* test_trainer_kill.c: RELIABILITY T17 at PR size. A child process saves checkpoints of a tiny
 * trainer in a loop (each save with another epoch number, so old and new differ); the parent
 * SIGKILLs it at a random moment, KILLS times. After every kill the checkpoint path must load
 * with afloc_trainer_load_checkpoint, as one of the epochs the child wrote. At the end one more
 * save must leave no temp file from the killed children behind. */
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"
#include "trainer_fixture.h"

enum { KILLS = 20 };

static int count_temp_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

int main(void) {
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "/tmp/afloc_trainer_kill_XXXXXX");
    if (!mkdtemp(dir)) return 2;
    snprintf(path, sizeof path, "%s/run.ckpt", dir);
    afloc_context *ctx = NULL;
    afloc_model *model = fixture_model(&ctx, 1, 7, "");
    afloc_trainer_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    afloc_trainer_options_default(&o);
    o.batch_size = 2;
    afloc_trainer *t = NULL;
    CHECK_STATUS(afloc_trainer_create(model, &o, &t), AFLOC_OK);
    if (!t) return test_finish("test_trainer_kill");
    /* one save timed, so the kills land inside saves */
    const double t0 = fixture_now();
    CHECK_STATUS(afloc_trainer_save_checkpoint(t, path), AFLOC_OK);
    const double save_s = fixture_now() - t0;
    srand(12345);
    int loaded = 0, mid_save = 0, bad_epoch = 0;
    for (int k = 0; k < KILLS; k++) {
        pid_t pid = fork();
        if (pid == 0) {
            for (int32_t e = 1;; e++) { /* epochs 1000k + e */
                afloc_trainer_set_epoch(t, 1000 * (k + 1) + e);
                afloc_trainer_save_checkpoint(t, path);
            }
        }
        /* uniformly within the first three saves */
        const long wait_us = 1 + rand() % (long)(3e6 * save_s + 1);
        struct timespec pause = {wait_us / 1000000, (wait_us % 1000000) * 1000};
        nanosleep(&pause, NULL);
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        mid_save += count_temp_files(dir) > 0;
        afloc_status st = afloc_trainer_load_checkpoint(t, path);
        CHECK_STATUS(st, AFLOC_OK);
        afloc_trainer_state s = {.struct_size = sizeof s};
        afloc_trainer_get_state(t, &s);
        /* the initial save (epoch 0), or one of this child's or an earlier child's */
        bad_epoch += !(s.epoch == 0 || (s.epoch > 1000 && s.epoch <= 1000 * (k + 1) + 100000));
        loaded += st == AFLOC_OK;
    }
    /* the next save removes the dead children's temp files */
    const int left_before = count_temp_files(dir);
    CHECK_STATUS(afloc_trainer_save_checkpoint(t, path), AFLOC_OK);
    const int left_after = count_temp_files(dir);
    printf("test_trainer_kill: %d SIGKILLs during checkpoint saves (one save %.1f ms): %d/%d "
           "loads OK, %d kills left a temp file (removed by the next save: %d -> %d), %d bad "
           "states\n", KILLS, 1e3 * save_s, loaded, KILLS, mid_save, left_before, left_after,
           bad_epoch);
    CHECK(loaded == KILLS && bad_epoch == 0 && left_after == 0);
    afloc_trainer_free(t);
    afloc_model_free(model);
    afloc_context_free(ctx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_trainer_kill");
}
