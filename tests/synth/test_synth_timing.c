/* test_synth_timing.c: times `afloc synth cxr` at its defaults (2000 train + 300 test images,
 * 256 px) on 2 threads and prints wall and CPU seconds (under a sanitizer, a tenth of it). It
 * fails only if the dataset cannot be written or is incomplete: the figure is for the log. */
#include <sys/stat.h>
#include <time.h>

#include "synth.h"
#include "test_util.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

static double now(clockid_t clock) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(void) {
    const char *bin = getenv("AFLOC_BINARY_DIR");
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/synth_work_timing", bin ? bin : ".");
    afloc_synth_options o = {0};
    o.struct_size = sizeof o;
    CHECK_STATUS(afloc_synth_options_default(&o), AFLOC_OK);
    if (SANITIZED) {
        o.train_count /= 10;
        o.test_count /= 10;
    }
    o.threads = 2;
    double wall = now(CLOCK_MONOTONIC), cpu = now(CLOCK_PROCESS_CPUTIME_ID);
    CHECK_STATUS(afloc_synth_dataset_write("cxr", dir, &o), AFLOC_OK);
    wall = now(CLOCK_MONOTONIC) - wall;
    cpu = now(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    struct stat st;
    snprintf(path, sizeof path, "%s/images/test_%06d.png", dir, o.test_count - 1);
    CHECK(stat(path, &st) == 0);
    snprintf(path, sizeof path, "%s/dataset.json", dir);
    CHECK(stat(path, &st) == 0);
    printf("timing: %d + %d images at %d px on 2 threads%s: %.2f s wall, %.2f s CPU "
           "(%.2f ms CPU per image)\n", o.train_count, o.test_count, o.size,
           SANITIZED ? " (sanitized build, a tenth)" : "", wall, cpu,
           1e3 * cpu / (double)(o.train_count + o.test_count));
    return test_finish("synth_cxr_timing");
}
