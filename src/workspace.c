/* workspace.c: the pool of per-call inference arenas (workspace.h). A mutex guards the free list
 * and the arena count; a condition variable wakes callers waiting for an arena once the cap is
 * reached. Arenas are one aligned block each; slices are bump-allocated and never freed singly. */
#include "workspace.h"

#include <pthread.h>
#include <stdint.h>

#include "alloc.h"
#include "error.h"

struct afloc_workspace_pool {
    pthread_mutex_t  lock;
    pthread_cond_t   available;
    size_t           floats;     /* capacity of each arena                 */
    int32_t          created;    /* arenas allocated so far                */
    afloc_workspace *free_list;  /* arenas not in use                      */
    afloc_workspace *all[AFLOC_WORKSPACE_MAX_ARENAS]; /* every arena, for free */
};

/* One arena: header and data in one allocation, data aligned to 64 bytes. */
static afloc_workspace *arena_new(size_t floats) {
    if (floats > (SIZE_MAX - sizeof(afloc_workspace) - 64) / sizeof(float)) return NULL;
    unsigned char *block = afloc_malloc(sizeof(afloc_workspace) + 64 + floats * sizeof(float));
    if (!block) return NULL;
    afloc_workspace *ws = (afloc_workspace *)block;
    uintptr_t data = (uintptr_t)(block + sizeof(afloc_workspace));
    data = (data + 63u) & ~(uintptr_t)63u;
    ws->base = (float *)data;
    ws->capacity = floats;
    ws->used = 0;
    ws->next = NULL;
    return ws;
}

afloc_status afloc_workspace_pool_create(size_t floats, afloc_workspace_pool **out,
                                         const char *function) {
    afloc_workspace_pool *pool = afloc_calloc(1, sizeof *pool);
    if (!pool)
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: out of memory for the workspace pool",
                          function);
    pool->floats = floats;
    afloc_workspace *first = arena_new(floats);
    if (!first) {
        afloc_free(pool);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY,
                          "%s: out of memory for a %zu-byte inference workspace", function,
                          floats * sizeof(float));
    }
    if (pthread_mutex_init(&pool->lock, NULL) != 0) {
        afloc_free(first);
        afloc_free(pool);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: pthread_mutex_init failed", function);
    }
    if (pthread_cond_init(&pool->available, NULL) != 0) {
        pthread_mutex_destroy(&pool->lock);
        afloc_free(first);
        afloc_free(pool);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY, "%s: pthread_cond_init failed", function);
    }
    pool->all[0] = first;
    pool->created = 1;
    pool->free_list = first;
    *out = pool;
    return AFLOC_OK;
}

void afloc_workspace_pool_free(afloc_workspace_pool *pool) {
    if (!pool) return;
    for (int32_t i = 0; i < pool->created; i++) afloc_free(pool->all[i]);
    pthread_cond_destroy(&pool->available);
    pthread_mutex_destroy(&pool->lock);
    afloc_free(pool);
}

afloc_status afloc_workspace_acquire(afloc_workspace_pool *pool, afloc_workspace **out,
                                     const char *function) {
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        if (pool->free_list) {
            afloc_workspace *ws = pool->free_list;
            pool->free_list = ws->next;
            pthread_mutex_unlock(&pool->lock);
            ws->next = NULL;
            ws->used = 0;
            *out = ws;
            return AFLOC_OK;
        }
        if (pool->created < AFLOC_WORKSPACE_MAX_ARENAS) break;
        pthread_cond_wait(&pool->available, &pool->lock);
    }
    /* Reserve the slot under the lock, allocate outside it. */
    int32_t slot = pool->created++;
    pool->all[slot] = NULL;
    pthread_mutex_unlock(&pool->lock);
    afloc_workspace *ws = arena_new(pool->floats);
    pthread_mutex_lock(&pool->lock);
    if (!ws) {
        /* Give the slot back only if it is still the last one; otherwise leave a NULL hole,
         * which afloc_free(NULL) tolerates. */
        if (slot == pool->created - 1) pool->created--;
        pthread_cond_signal(&pool->available);
        pthread_mutex_unlock(&pool->lock);
        return afloc_fail(AFLOC_ERR_OUT_OF_MEMORY,
                          "%s: out of memory for a %zu-byte inference workspace (%d in use)",
                          function, pool->floats * sizeof(float), (int)slot);
    }
    pool->all[slot] = ws;
    pthread_mutex_unlock(&pool->lock);
    *out = ws;
    return AFLOC_OK;
}

void afloc_workspace_release(afloc_workspace_pool *pool, afloc_workspace *ws) {
    if (!ws) return;
    pthread_mutex_lock(&pool->lock);
    ws->next = pool->free_list;
    pool->free_list = ws;
    pthread_cond_signal(&pool->available);
    pthread_mutex_unlock(&pool->lock);
}

float *afloc_workspace_floats(afloc_workspace *ws, size_t floats) {
    size_t n = afloc_workspace_round(floats);
    if (n > ws->capacity - ws->used) return NULL;
    float *p = ws->base + ws->used;
    ws->used += n;
    return p;
}

int32_t *afloc_workspace_ints(afloc_workspace *ws, size_t count) {
    _Static_assert(sizeof(int32_t) == sizeof(float), "int32 and float slots must match");
    return (int32_t *)afloc_workspace_floats(ws, count);
}
