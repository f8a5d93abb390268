#include "engine/hll_window.h"

#include "kpistream/err.h"

#include <stdlib.h>
#include <string.h>

int ks_hll_window_init(ks_hll_window *w, int64_t width_s)
{
    memset(w, 0, sizeof *w);
    ks_sring_init(&w->ring, width_s);
    /* calloc: pages stay untouched until a slot is first used. */
    w->slots = calloc(KS_SRING_SLOTS, sizeof *w->slots);
    ks_hll_init(&w->pending);
    ks_hll_init(&w->written);
    return w->slots ? 0 : KS_ERR_NOMEM;
}

void ks_hll_window_reset(ks_hll_window *w)
{
    free(w->slots);
    w->slots = NULL;
}

void ks_hll_window_add(ks_hll_window *w, uint64_t hash, int64_t t_s, int64_t clock_s)
{
    bool fresh;
    int slot = ks_sring_slot(&w->ring, t_s, clock_s, &fresh);
    if (slot < 0)
        return;
    if (fresh)
        ks_hll_init(&w->slots[slot]);
    ks_hll_add_hash(&w->slots[slot], hash);
}

bool ks_hll_window_build(ks_hll_window *w, int64_t clock_s)
{
    ks_hll_init(&w->pending);
    for (int i = 0; i < KS_SRING_SLOTS; i++)
        if (ks_sring_live(&w->ring, i, clock_s))
            ks_hll_merge(&w->pending, &w->slots[i]);
    return !w->has_written || memcmp(w->pending.bytes, w->written.bytes, KS_HLL_DENSE_SIZE) != 0;
}

void ks_hll_window_done(ks_hll_window *w)
{
    w->written = w->pending;
    w->has_written = true;
}
