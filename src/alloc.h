/* alloc.h: host allocation wrappers. Every host allocation in the library goes through these so
 * that tests can inject the failure of the k-th allocation (RELIABILITY T13) and prove that each
 * failure becomes AFLOC_ERR_OUT_OF_MEMORY with nothing leaked. */
#ifndef AFLOC_ALLOC_H
#define AFLOC_ALLOC_H

#include <stddef.h>

void *afloc_malloc(size_t bytes);
void *afloc_calloc(size_t count, size_t size);
void *afloc_realloc(void *pointer, size_t bytes);
void  afloc_free(void *pointer);

/* Test hook, not exported: after `k` more successful allocations, every later allocation fails
 * (k < 0 disables injection). Returns the number of allocations made since the last call. The
 * counter is process-global: only single-threaded tests may use it. */
long afloc_test_inject_alloc_failure(long k);

#endif /* AFLOC_ALLOC_H */
