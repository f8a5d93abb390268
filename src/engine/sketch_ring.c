#include "engine/sketch_ring.h"

#include "kpistream/window.h"

static int64_t ks__fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void ks_sring_init(ks_sring *r, int64_t width_s)
{
    r->width_s = width_s > 0 ? width_s : 1;
    for (int i = 0; i < KS_SRING_SLOTS; i++)
        r->slot_n[i] = INT64_MIN;
}

int ks_sring_slot(ks_sring *r, int64_t t_s, int64_t clock_s, bool *fresh)
{
    int64_t n = ks__fdiv(t_s, r->width_s);
    if (clock_s != INT64_MIN) {
        int64_t nc = ks__fdiv(clock_s, r->width_s);
        if (n <= nc - KS_WINDOW_BUCKETS || n >= nc - KS_WINDOW_BUCKETS + KS_SRING_SLOTS)
            return -1;
    }
    int slot = (int)((uint64_t)n & (KS_SRING_SLOTS - 1));
    *fresh = r->slot_n[slot] != n;
    r->slot_n[slot] = n;
    return slot;
}

bool ks_sring_live(const ks_sring *r, int i, int64_t clock_s)
{
    int64_t nc = ks__fdiv(clock_s, r->width_s);
    return r->slot_n[i] > nc - KS_WINDOW_BUCKETS && r->slot_n[i] <= nc;
}
