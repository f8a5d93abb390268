#include "engine/hll_window.h"

#include "kpistream/err.h"
#include "kpistream/window.h"

#include <stdlib.h>
#include <string.h>

static int64_t ks__fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int ks_hll_window_init(ks_hll_window *w, int64_t width_s)
{
    memset(w, 0, sizeof *w);
    w->width_s = width_s > 0 ? width_s : 1;
    for (int i = 0; i < KS_HLLW_SLOTS; i++)
        w->slot_n[i] = INT64_MIN;
    /* calloc: pages stay untouched until a slot is first used. */
    w->slots = calloc(KS_HLLW_SLOTS, sizeof *w->slots);
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
    int64_t n = ks__fdiv(t_s, w->width_s);
    if (clock_s != INT64_MIN) {
        int64_t nc = ks__fdiv(clock_s, w->width_s);
        if (n <= nc - KS_WINDOW_BUCKETS || n >= nc - KS_WINDOW_BUCKETS + KS_HLLW_SLOTS)
            return; /* behind the window, or further ahead than the ring reaches */
    }
    int slot = (int)((uint64_t)n & (KS_HLLW_SLOTS - 1));
    if (w->slot_n[slot] != n) {
        ks_hll_init(&w->slots[slot]);
        w->slot_n[slot] = n;
    }
    ks_hll_add_hash(&w->slots[slot], hash);
}

bool ks_hll_window_build(ks_hll_window *w, int64_t clock_s)
{
    int64_t nc = ks__fdiv(clock_s, w->width_s);
    ks_hll_init(&w->pending);
    for (int i = 0; i < KS_HLLW_SLOTS; i++)
        if (w->slot_n[i] > nc - KS_WINDOW_BUCKETS && w->slot_n[i] <= nc)
            ks_hll_merge(&w->pending, &w->slots[i]);
    return !w->has_written || memcmp(w->pending.bytes, w->written.bytes, KS_HLL_DENSE_SIZE) != 0;
}

void ks_hll_window_done(ks_hll_window *w)
{
    w->written = w->pending;
    w->has_written = true;
}
