/* workspace.h: per-call scratch memory for inference. A model owns one pool; every public
 * inference call takes an arena from it, uses it for all its activations, and gives it back, so
 * concurrent calls never share scratch (RELIABILITY §0 rule 8) and the hot path allocates nothing.
 *
 * The pool is created at prepare time with one arena of the planned size (the largest single
 * call). A call that finds every arena busy allocates one more, up to a fixed cap; beyond the cap
 * it waits for a free one. Arenas are kept until the model is freed, so a service with N
 * concurrent callers reaches N arenas once and then never allocates again. */
#ifndef AFLOC_WORKSPACE_H
#define AFLOC_WORKSPACE_H

#include <stddef.h>
#include <stdint.h>

#include "afloc/afloc.h"

/* Most arenas one pool ever holds; more concurrent callers wait. */
#define AFLOC_WORKSPACE_MAX_ARENAS 64

typedef struct afloc_workspace {
    float  *base;     /* capacity floats, 64-byte aligned                         */
    size_t  capacity; /* floats                                                   */
    size_t  used;     /* bump pointer, reset when the arena returns to the pool   */
    struct afloc_workspace *next; /* free-list link (pool-private)                */
} afloc_workspace;

typedef struct afloc_workspace_pool afloc_workspace_pool;

/* Creates a pool of arenas of `floats` floats each and allocates the first one.
 * AFLOC_ERR_OUT_OF_MEMORY (message starts with `function`). */
afloc_status afloc_workspace_pool_create(size_t floats, afloc_workspace_pool **out,
                                         const char *function);

/* Frees the pool and every arena; all must have been released. NULL is a no-op. */
void afloc_workspace_pool_free(afloc_workspace_pool *pool);

/* Takes a free arena (used = 0), allocating one if none is free and fewer than the cap exist,
 * else waiting. AFLOC_ERR_OUT_OF_MEMORY when a needed arena cannot be allocated. */
afloc_status afloc_workspace_acquire(afloc_workspace_pool *pool, afloc_workspace **out,
                                     const char *function);

/* Gives `ws` back to its pool. NULL is a no-op. */
void afloc_workspace_release(afloc_workspace_pool *pool, afloc_workspace *ws);

/* Carves `floats` floats (rounded up to 16, so every slice stays 64-byte aligned) from the arena.
 * The plan guarantees the space; running out is a bug in the plan and returns NULL. */
float *afloc_workspace_floats(afloc_workspace *ws, size_t floats);

/* The same for int32 values (stored in float-sized slots). */
int32_t *afloc_workspace_ints(afloc_workspace *ws, size_t count);

/* Rounds a float count up to the arena's slice granularity (for planning). */
static inline size_t afloc_workspace_round(size_t floats) { return (floats + 15u) & ~(size_t)15u; }

#endif /* AFLOC_WORKSPACE_H */
