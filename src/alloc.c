/* alloc.c: host allocation wrappers with a failure-injection counter for tests (RELIABILITY T13).
 * The counter is the one piece of process-global state outside contexts; it is a test hook that
 * is off (negative) unless a test turns it on. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>

static _Atomic long allocations_left = -1; /* < 0: injection off */
static _Atomic long allocations_made = 0;

static int allocation_allowed(void) {
    atomic_fetch_add(&allocations_made, 1);
    long left = atomic_load(&allocations_left);
    if (left < 0) return 1;
    if (left == 0) return 0;
    atomic_fetch_sub(&allocations_left, 1);
    return 1;
}

void *afloc_malloc(size_t bytes) {
    if (!allocation_allowed()) return NULL;
    return malloc(bytes ? bytes : 1);
}

void *afloc_calloc(size_t count, size_t size) {
    if (!allocation_allowed()) return NULL;
    if (count == 0 || size == 0) count = size = 1;
    return calloc(count, size);
}

void *afloc_realloc(void *pointer, size_t bytes) {
    if (!allocation_allowed()) return NULL;
    return realloc(pointer, bytes ? bytes : 1);
}

void afloc_free(void *pointer) { free(pointer); }

long afloc_test_inject_alloc_failure(long k) {
    long made = atomic_exchange(&allocations_made, 0);
    atomic_store(&allocations_left, k);
    return made;
}
