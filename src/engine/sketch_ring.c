#include "engine/sketch_ring.h"

#include "kpistream/err.h"
#include "kpistream/window.h"

#include <stdlib.h>
#include <string.h>

/* A ring never spans more than this many buckets; events further ahead of
 * the clock are not sketched (the source keeps partitions within an hour). */
#define KS__SRING_MAX_CAP (1u << 16)

static int64_t ks__fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int ks_sring_init(ks_sring *r, int64_t width_s, ks_sring_new_fn make, ks_sring_reset_fn reset,
                  ks_sring_free_fn destroy, void *ctx)
{
    memset(r, 0, sizeof *r);
    r->width_s = width_s > 0 ? width_s : 1;
    r->base = r->clock_n = INT64_MIN;
    r->cap = 128;
    r->make = make;
    r->reset = reset;
    r->destroy = destroy;
    r->ctx = ctx;
    r->slots = calloc(r->cap, sizeof *r->slots);
    return r->slots ? 0 : KS_ERR_NOMEM;
}

void ks_sring_free(ks_sring *r)
{
    for (uint32_t i = 0; r->slots && i < r->cap; i++)
        if (r->slots[i])
            r->destroy(r->slots[i]);
    free(r->slots);
    r->slots = NULL;
}

/* Re-lays the ring to cover [lo, hi]. Returns 0 or -1. */
static int ks__cover(ks_sring *r, int64_t lo, int64_t hi)
{
    uint64_t need = (uint64_t)(hi - lo) + 1;
    uint32_t cap = r->cap;
    while (cap < need) {
        if (cap >= KS__SRING_MAX_CAP)
            return -1;
        cap *= 2;
    }
    void **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (int64_t n = r->base; n < r->base + (int64_t)r->cap; n++)
        slots[(uint64_t)n & (cap - 1)] = r->slots[(uint64_t)n & (r->cap - 1)];
    free(r->slots);
    r->slots = slots;
    r->cap = cap;
    r->base = lo;
    return 0;
}

void *ks_sring_at(ks_sring *r, int64_t t_s)
{
    int64_t n = ks__fdiv(t_s, r->width_s);
    if (r->clock_n != INT64_MIN && n <= r->clock_n - KS_WINDOW_BUCKETS)
        return NULL; /* behind the window */
    if (r->base == INT64_MIN)
        r->base = n - (KS_WINDOW_BUCKETS - 1);
    if (n < r->base) {
        if (ks__cover(r, n, r->base + (int64_t)r->cap - 1) < 0)
            return NULL;
    } else if (n >= r->base + (int64_t)r->cap) {
        if (ks__cover(r, r->base, n) < 0)
            return NULL;
    }
    void **slot = &r->slots[(uint64_t)n & (r->cap - 1)];
    if (!*slot)
        *slot = r->make(r->ctx);
    return *slot;
}

void ks_sring_advance(ks_sring *r, int64_t clock_s)
{
    int64_t nc = ks__fdiv(clock_s, r->width_s);
    if (r->clock_n != INT64_MIN && nc <= r->clock_n)
        return;
    r->clock_n = nc;
    int64_t new_base = nc - (KS_WINDOW_BUCKETS - 1);
    if (r->base == INT64_MIN || new_base <= r->base) {
        if (r->base == INT64_MIN)
            r->base = new_base;
        return;
    }
    int64_t end = r->base + (int64_t)r->cap;
    for (int64_t n = r->base; n < (new_base < end ? new_base : end); n++) {
        void *s = r->slots[(uint64_t)n & (r->cap - 1)];
        if (s)
            r->reset(s); /* kept for reuse: the slot will hold bucket n + cap */
    }
    r->base = new_base;
}

void ks_sring_each_live(const ks_sring *r, int64_t clock_s, void (*fn)(void *ctx, void *sketch),
                        void *ctx)
{
    if (r->base == INT64_MIN)
        return;
    int64_t nc = ks__fdiv(clock_s, r->width_s);
    int64_t from = nc - (KS_WINDOW_BUCKETS - 1), to = nc;
    if (from < r->base)
        from = r->base;
    if (to > r->base + (int64_t)r->cap - 1)
        to = r->base + (int64_t)r->cap - 1;
    for (int64_t n = from; n <= to; n++) {
        void *s = r->slots[(uint64_t)n & (r->cap - 1)];
        if (s)
            fn(ctx, s);
    }
}
