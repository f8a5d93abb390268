/* Bucket series for rolling windows; see include/kpistream/window.h for the
 * semantics and the ring picture. Invariant: slot (n & (cap-1)) holds bucket
 * n for every n in [base, base+cap); everything else is zero. */
#include "kpistream/window.h"

#include "kpistream/err.h"

#include <stdlib.h>
#include <string.h>

/* A series never spans more than this many buckets (about 1M x 230 bytes);
 * events that would need more are not bucketed for that window. */
#define KS__SERIES_MAX_CAP (1u << 20)
#define KS__NO_CLOCK INT64_MIN

const char *ks_counter_name(ks_counter c)
{
    static const char *names[] = {
#define KS__CTR_NAME(name, str) str,
        KS_COUNTERS(KS__CTR_NAME)
#undef KS__CTR_NAME
    };
    return (unsigned)c < KS_C__COUNT ? names[c] : "?";
}

static int64_t ks__floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int ks_series_init(ks_series *s, int64_t width_s)
{
    memset(s, 0, sizeof *s);
    s->width_s = width_s > 0 ? width_s : 1;
    s->cap = 64; /* the window and 4 buckets ahead; grows when more is needed */
    s->base = KS__NO_CLOCK;
    s->clock_n = KS__NO_CLOCK;
    s->max_n = KS__NO_CLOCK;
    s->ring = calloc(s->cap, sizeof *s->ring);
    return s->ring ? 0 : KS_ERR_NOMEM;
}

void ks_series_reset(ks_series *s)
{
    free(s->ring);
    memset(s, 0, sizeof *s);
}

/* Re-lays the ring into cap slots starting at bucket lo (every stored
 * bucket must fit). Returns 0 or -1. */
static int ks__series_relayout(ks_series *s, int64_t lo, uint32_t cap)
{
    ks_bucket *ring = calloc(cap, sizeof *ring);
    if (!ring)
        return -1;
    for (int64_t n = s->base; n < s->base + (int64_t)s->cap; n++)
        if (n >= lo && n < lo + (int64_t)cap)
            ring[(uint64_t)n & (cap - 1)] = s->ring[(uint64_t)n & (s->cap - 1)];
    free(s->ring);
    s->ring = ring;
    s->cap = cap;
    s->base = lo;
    return 0;
}

/* Re-lays the ring so that it covers [lo, hi]. Returns 0 or -1. */
static int ks__series_cover(ks_series *s, int64_t lo, int64_t hi)
{
    uint64_t need = (uint64_t)(hi - lo) + 1;
    uint32_t cap = s->cap;
    while (cap < need) {
        if (cap >= KS__SERIES_MAX_CAP)
            return -1;
        cap *= 2;
    }
    return ks__series_relayout(s, lo, cap);
}


ks_bucket *ks_series_at(ks_series *s, int64_t t_s)
{
    int64_t n = ks__floordiv(t_s, s->width_s);
    if (s->base == KS__NO_CLOCK) /* first bucket ever: room for a window behind it */
        s->base = n - (KS_WINDOW_BUCKETS - 1);
    if (n < s->base) {
        /* Behind the ring: only acceptable if the clock has never moved past
         * it, i.e. base was set by an earlier event rather than by the clock. */
        if (s->clock_n != KS__NO_CLOCK && n <= s->clock_n - KS_WINDOW_BUCKETS)
            return NULL;
        if (ks__series_cover(s, n, s->base + (int64_t)s->cap - 1) < 0)
            return NULL;
    } else if (n >= s->base + (int64_t)s->cap) {
        if (ks__series_cover(s, s->base, n) < 0)
            return NULL;
    }
    if (n > s->max_n)
        s->max_n = n;
    return &s->ring[(uint64_t)n & (s->cap - 1)];
}

ks_bucket *ks_series_peek(ks_series *s, int64_t t_s)
{
    int64_t n = ks__floordiv(t_s, s->width_s);
    if (s->base == KS__NO_CLOCK || n < s->base || n >= s->base + (int64_t)s->cap)
        return NULL;
    return &s->ring[(uint64_t)n & (s->cap - 1)];
}

void ks_series_advance(ks_series *s, int64_t clock_s)
{
    int64_t nc = ks__floordiv(clock_s, s->width_s);
    if (s->clock_n != KS__NO_CLOCK && nc <= s->clock_n)
        return;
    s->clock_n = nc;
    int64_t new_base = nc - (KS_WINDOW_BUCKETS - 1);
    if (s->base == KS__NO_CLOCK) {
        s->base = new_base;
        return;
    }
    if (new_base <= s->base)
        return;
    int64_t end = s->base + (int64_t)s->cap;
    int64_t stop = new_base < end ? new_base : end;
    for (int64_t n = s->base; n < stop; n++)
        memset(&s->ring[(uint64_t)n & (s->cap - 1)], 0, sizeof(ks_bucket));
    s->base = new_base;
    /* Shrink when at most an eighth of the ring is still needed (not a
     * quarter: a ring that shrinks and regrows every few ticks costs more). */
    int64_t need = (s->max_n > s->base ? s->max_n - s->base : 0) + 1;
    uint32_t cap = s->cap;
    while (cap > 128 && (int64_t)cap >= 8 * need)
        cap /= 2;
    if (cap < s->cap)
        ks__series_relayout(s, s->base, cap); /* on failure keep the big ring */
}

static void ks__add_range(const ks_series *s, int64_t from, int64_t to, ks_bucket *sum)
{
    if (s->base == KS__NO_CLOCK)
        return;
    if (from < s->base)
        from = s->base;
    if (to > s->base + (int64_t)s->cap - 1)
        to = s->base + (int64_t)s->cap - 1;
    for (int64_t n = from; n <= to; n++) {
        const ks_bucket *b = &s->ring[(uint64_t)n & (s->cap - 1)];
        for (int i = 0; i < KS_C__COUNT; i++)
            sum->v[i] += b->v[i];
    }
}

void ks_series_sum_window(const ks_series *s, int64_t clock_s, ks_bucket *sum)
{
    int64_t nc = ks__floordiv(clock_s, s->width_s);
    ks__add_range(s, nc - (KS_WINDOW_BUCKETS - 1), nc, sum);
}

void ks_series_sum_future(const ks_series *s, int64_t clock_s, ks_bucket *sum)
{
    int64_t nc = ks__floordiv(clock_s, s->width_s);
    ks__add_range(s, nc + 1, INT64_MAX - 1, sum);
}
