/* Bump arena behind cJSON's allocation hooks; see event_internal.h for the
 * design and the memory picture. */
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event/event_internal.h"
#include "kpistream/err.h"

#if defined(__SANITIZE_ADDRESS__)
#define KS__ARENA_EXACT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KS__ARENA_EXACT 1
#endif
#endif
#ifndef KS__ARENA_EXACT
#define KS__ARENA_EXACT 0
#endif

#define KS__ALIGN alignof(max_align_t)

struct ks__arena_chunk {
    ks__arena_chunk *next;
    size_t cap;
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

static _Thread_local ks__arena *ks__tl_current;

static size_t ks__align_up(size_t n)
{
    return (n + (KS__ALIGN - 1)) & ~(size_t)(KS__ALIGN - 1);
}

int ks__arena_init(ks__arena *a, size_t cap)
{
    memset(a, 0, sizeof(*a));
    if (KS__ARENA_EXACT) cap = 0;
    if (cap > 0) {
        a->base = malloc(cap);
        if (a->base == NULL) return KS_ERR_NOMEM;
    }
    a->cap = cap;
    return 0;
}

static void ks__free_chunks(ks__arena *a)
{
    ks__arena_chunk *c = a->chunks;
    while (c != NULL) {
        ks__arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->chunks = NULL;
    a->chunk_bytes = 0;
}

void ks__arena_destroy(ks__arena *a)
{
    ks__free_chunks(a);
    free(a->base);
    memset(a, 0, sizeof(*a));
}

void ks__arena_reset(ks__arena *a)
{
    if (a->chunks != NULL && !KS__ARENA_EXACT) {
        /* The last message did not fit: grow the main block to what it needed,
         * so the same shape of message needs no malloc next time. Messages far
         * bigger than usual do not pin their memory forever. */
        size_t want = a->used + a->chunk_bytes;
        if (want <= KS__ARENA_KEEP_MAX && want > a->cap) {
            unsigned char *nb = malloc(want);
            if (nb != NULL) {
                free(a->base);
                a->base = nb;
                a->cap = want;
            }
        }
    }
    ks__free_chunks(a);
    a->used = 0;
}

void *ks__arena_alloc(ks__arena *a, size_t size)
{
    size = ks__align_up(size == 0 ? 1 : size);
    a->allocs++;
    if (size <= a->cap - a->used) {
        void *p = a->base + a->used;
        a->used += size;
        return p;
    }
    ks__arena_chunk *c = a->chunks;
    if (c != NULL && size <= c->cap - c->used) {
        void *p = c->data + c->used;
        c->used += size;
        return p;
    }
    size_t ccap = size;
    if (!KS__ARENA_EXACT) {
        /* Each overflow chunk at least doubles the one before, so a message
         * that needs n bytes costs O(log n) mallocs, not n / cap. */
        size_t min_cap = c != NULL ? 2 * c->cap : (a->cap > 0 ? a->cap : KS__ARENA_INITIAL);
        if (ccap < min_cap) ccap = min_cap;
    }
    c = malloc(sizeof(*c) + ccap);
    if (c == NULL) return NULL;
    c->cap = ccap;
    c->used = size;
    c->next = a->chunks;
    a->chunks = c;
    a->chunk_bytes += ccap;
    return c->data;
}

ks__arena *ks__arena_set_current(ks__arena *a)
{
    ks__arena *prev = ks__tl_current;
    ks__tl_current = a;
    return prev;
}

static void *ks__hook_malloc(size_t size)
{
    ks__arena *a = ks__tl_current;
    return a != NULL ? ks__arena_alloc(a, size) : malloc(size);
}

static void ks__hook_free(void *ptr)
{
    /* With an arena current, cJSON is discarding part of the tree it is
     * parsing, which lives in the arena: the reset reclaims it. */
    if (ks__tl_current == NULL) free(ptr);
}

static void ks__install_once(void)
{
    cJSON_Hooks h = {.malloc_fn = ks__hook_malloc, .free_fn = ks__hook_free};
    cJSON_InitHooks(&h);
}

void ks__json_hooks_install(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, ks__install_once);
}
