#include "engine/hll_window.h"

#include <stdlib.h>
#include <string.h>

static void *ks__hll_new(void *ctx)
{
    (void)ctx;
    ks_hll *h = malloc(sizeof *h);
    if (h)
        ks_hll_init(h);
    return h;
}

static void ks__hll_reset(void *h)
{
    ks_hll_reset(h);
}

int ks_hll_window_init(ks_hll_window *w, int64_t width_s)
{
    memset(w, 0, sizeof *w);
    ks_hll_init(&w->pending);
    ks_hll_init(&w->written);
    return ks_sring_init(&w->ring, width_s, ks__hll_new, ks__hll_reset, free, NULL);
}

void ks_hll_window_reset(ks_hll_window *w)
{
    ks_sring_free(&w->ring);
}

void ks_hll_window_add(ks_hll_window *w, uint64_t hash, int64_t t_s)
{
    ks_hll *h = ks_sring_at(&w->ring, t_s);
    if (h)
        ks_hll_add_hash(h, hash);
}

void ks_hll_window_advance(ks_hll_window *w, int64_t clock_s)
{
    ks_sring_advance(&w->ring, clock_s);
}

static void ks__merge_into(void *ctx, void *h)
{
    ks_hll_merge(ctx, h);
}

bool ks_hll_window_build(ks_hll_window *w, int64_t clock_s)
{
    ks_hll_init(&w->pending);
    ks_sring_each_live(&w->ring, clock_s, ks__merge_into, &w->pending);
    return !w->has_written || memcmp(w->pending.bytes, w->written.bytes, KS_HLL_DENSE_SIZE) != 0;
}

void ks_hll_window_done(ks_hll_window *w)
{
    w->written = w->pending;
    w->has_written = true;
}
