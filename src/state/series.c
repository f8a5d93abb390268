/* Bucket series for rolling windows; see include/kpistream/window.h.
 * Invariant: e[head .. head+n) holds the series' buckets in ascending order
 * of bucket number, each allocated on its own. */
#include "kpistream/window.h"

#include "kpistream/err.h"
#include "kpistream/vec.h"

#include <stdlib.h>
#include <string.h>

/* A series never holds more than this many buckets (about 1M x 64 bytes);
 * events that would need more are not bucketed for that window. */
#define KS__SERIES_MAX_CAP (1u << 20)

_Static_assert(sizeof(ks_sbucket) == 64, "an entry is one cache line");
_Static_assert(KS_C__COUNT < KS_SBUCKET_NONE, "counter ids fit an inline slot's byte");

const char *ks_counter_name(ks_counter c)
{
    static const char *names[] = {
#define KS__CTR_NAME(name, str) str,
        KS_COUNTERS(KS__CTR_NAME)
#undef KS__CTR_NAME
    };
    return (unsigned)c < KS_C__COUNT ? names[c] : "?";
}

int ks_series_init(ks_series *s, int64_t width_s)
{
    memset(s, 0, sizeof *s);
    s->width_s = width_s > 0 ? width_s : 1;
    s->clock_n = KS_SERIES_NO_CLOCK;
    return 0;
}

/* Takes ownership of b: kept by the pool for reuse, or freed. */
static void ks__drop(ks_series *s, ks_bucket *b)
{
    ks_bpool *pool = s->pool;
    if (pool) {
        if (pool->live)
            pool->live--;
        if (pool->nfree >= pool->live / 4 + 256 ||
            (pool->nfree == pool->cap && ks_vec_reserve(pool->free, pool->cap, pool->nfree + 1))) {
            free(b);
            return;
        }
        pool->free[pool->nfree++] = b;
        return;
    }
    free(b);
}

/* Returns a zeroed bucket (one the pool kept, if any), or NULL when out of
 * memory. */
static ks_bucket *ks__new_bucket(ks_series *s)
{
    ks_bpool *pool = s->pool;
    ks_bucket *b = NULL;
    if (pool && pool->nfree) {
        b = pool->free[--pool->nfree];
        memset(b, 0, sizeof *b);
    } else {
        b = calloc(1, sizeof *b);
    }
    if (b && pool)
        pool->live++;
    return b;
}

void ks_series_set_pool(ks_series *s, ks_bpool *pool)
{
    s->pool = pool;
}

void ks_bpool_reset(ks_bpool *pool)
{
    for (uint32_t i = 0; i < pool->nfree; i++)
        free(pool->free[i]);
    free(pool->free);
    memset(pool, 0, sizeof *pool);
}

size_t ks_bpool_memory(const ks_bpool *pool)
{
    return (size_t)pool->nfree * sizeof(ks_bucket) + (size_t)pool->cap * sizeof *pool->free;
}

void ks_series_reset(ks_series *s)
{
    for (uint32_t i = 0; i < s->n; i++)
        free(s->e[s->head + i].b);
    if (s->pool)
        s->pool->live = s->pool->live > s->nb ? s->pool->live - s->nb : 0;
    free(s->e);
    memset(s, 0, sizeof *s);
}

size_t ks_series_memory(const ks_series *s)
{
    return (size_t)s->cap * sizeof(ks_sbucket) + (size_t)s->nb * sizeof(ks_bucket);
}

int ks_sbucket_spill(ks_series *s, ks_sbucket *e, ks_counter k, int64_t d)
{
    ks_bucket *b = ks__new_bucket(s);
    if (!b)
        return KS_ERR_NOMEM;
    for (int i = 0; i < KS_SBUCKET_INLINE; i++) {
        if (e->ik[i] != KS_SBUCKET_NONE)
            b->v[e->ik[i]] += e->iv[i];
        e->ik[i] = KS_SBUCKET_NONE;
        e->iv[i] = 0;
    }
    b->v[k] += d;
    e->b = b;
    s->nb++;
    return 0;
}

int64_t ks_sbucket_get(const ks_sbucket *e, ks_counter k)
{
    if ((int)k >= KS_DISTINCT_FIRST)
        return e->d[k - KS_DISTINCT_FIRST];
    if (e->b)
        return e->b->v[k];
    for (int i = 0; i < KS_SBUCKET_INLINE; i++)
        if (e->ik[i] == k)
            return e->iv[i];
    return 0;
}

int ks_series_add(ks_series *s, int64_t t_s, ks_counter k, int64_t d)
{
    int64_t n = ks_series_bucket(s, t_s);
    if (s->clock_n != KS_SERIES_NO_CLOCK && n <= s->clock_n - KS_WINDOW_BUCKETS)
        return 1;
    ks_sbucket *e = ks_series_entry(s, t_s);
    return e ? ks_sbucket_add(s, e, k, d) : KS_ERR_NOMEM;
}

/* Adds entry e's counters (in place or in its bucket) and last-touch counts
 * into sum. */
static void ks__sum_entry(const ks_sbucket *e, ks_bucket *sum)
{
    if (e->b) {
        for (int k = 0; k < KS_DISTINCT_FIRST; k++)
            sum->v[k] += e->b->v[k];
    } else {
        for (int i = 0; i < KS_SBUCKET_INLINE && e->ik[i] != KS_SBUCKET_NONE; i++)
            sum->v[e->ik[i]] += e->iv[i];
    }
    for (int j = 0; j < KS_DISTINCT; j++)
        sum->v[KS_DISTINCT_FIRST + j] += e->d[j];
}

/* Index (from head) of the first entry with bucket number >= n. Each entry
 * read is a cold cache line (the search is for a last touch's old bucket),
 * so the search reads as few as it can:
 *  - bucket numbers ascend strictly, so entry lo-1+k holds at least nlo+k
 *    and entry hi-k at most nhi-k: in a dense stretch (one entry per
 *    bucket, the usual case of a busy group) that pins the answer without
 *    a read;
 *  - elsewhere (a partition's share of a small group) a step guesses where
 *    n would be if the entries between the two known ones were evenly
 *    spread, and every other step halves the range, so an uneven series
 *    costs at most twice a bisection's reads, an even one about two. */
static uint32_t ks__lower(const ks_series *s, int64_t n)
{
    if (s->n == 0 || n <= s->first_n)
        return 0;
    if (n > s->last_n)
        return s->n;
    const ks_sbucket *e = s->e + s->head;
    /* Entries before lo hold numbers < n, nlo at most that of entry lo-1;
     * entry hi holds a number >= n, nhi at least that of entry hi. */
    uint32_t lo = 1, hi = s->n - 1;
    int64_t nlo = s->first_n, nhi = s->last_n;
    for (bool guess = true;; guess = !guess) {
        if (n - nlo < (int64_t)(hi - lo) + 1) {
            uint32_t h = lo - 1 + (uint32_t)(n - nlo);
            nhi -= hi - h;
            hi = h;
        }
        if (nhi - n < (int64_t)(hi - lo)) {
            uint32_t l = hi - (uint32_t)(nhi - n);
            nlo += l - lo;
            lo = l;
        }
        if (hi - lo <= 3) { /* adjacent lines: read them in order */
            while (lo < hi && e[lo].n < n)
                lo++;
            return lo;
        }
        uint32_t g = lo + (hi - lo) / 2;
        if (guess) {
            double at = (double)(hi - lo + 1) * (double)(n - nlo) / (double)(nhi - nlo);
            g = lo - 1 + (uint32_t)at;
            if (g < lo)
                g = lo;
            if (g >= hi)
                g = hi - 1;
        }
        if (e[g].n < n) {
            lo = g + 1;
            nlo = e[g].n;
        } else {
            hi = g;
            nhi = e[g].n;
        }
    }
}

ks_sbucket *ks_sbucket_array(uint32_t cap)
{
    void *p = NULL;
    if (cap == 0 || posix_memalign(&p, 64, (size_t)cap * sizeof(ks_sbucket)) != 0)
        return NULL;
    return p;
}

/* Drops the entries behind the window at the series' clock that an advance
 * left in place (ks_series_advance: those of a series without blocks). A
 * search finds where the window starts, reading a few entries, not each. */
static void ks__drop_behind(ks_series *s)
{
    if (s->clock_n == KS_SERIES_NO_CLOCK || s->n == 0 ||
        s->first_n > s->clock_n - KS_WINDOW_BUCKETS)
        return;
    uint32_t k = ks__lower(s, s->clock_n - KS_WINDOW_BUCKETS + 1);
    for (uint32_t i = 0; i < k && s->nb; i++)
        if (s->e[s->head + i].b) {
            ks__drop(s, s->e[s->head + i].b);
            s->nb--;
        }
    s->head += k;
    s->n -= k;
    if (s->n == 0)
        s->head = 0;
    s->first_n = s->n ? s->e[s->head].n : INT64_MAX;
}

/* Makes room for one more entry at the end of the array. */
static int ks__room(ks_series *s)
{
    if (s->head + s->n < s->cap)
        return 0;
    if (s->head > 0 && s->head >= s->n) { /* half the array is popped: slide back */
        memmove(s->e, s->e + s->head, (size_t)s->n * sizeof *s->e);
        s->head = 0;
        return 0;
    }
    uint32_t cap = s->cap ? s->cap * 2 : 8;
    if (cap > KS__SERIES_MAX_CAP)
        return -1;
    ks_sbucket *ne = ks_sbucket_array(cap);
    if (!ne)
        return -1;
    if (s->n)
        memcpy(ne, s->e + s->head, (size_t)s->n * sizeof *ne);
    free(s->e);
    s->e = ne;
    s->head = 0;
    s->cap = cap;
    return 0;
}

ks_sbucket *ks__series_entry_at(ks_series *s, int64_t n)
{
    /* (ks_series_entry: n is in the window and not the newest bucket.) */
    if (s->head + s->n == s->cap)
        ks__drop_behind(s); /* before the place is found: it moves the head */
    uint32_t at = s->n && s->last_n < n ? s->n : ks__lower(s, n);
    if (at < s->n && s->e[s->head + at].n == n)
        return &s->e[s->head + at];
    if (ks__room(s) < 0)
        return NULL;
    ks_sbucket *e = s->e + s->head;
    if (at < s->n)
        memmove(e + at + 1, e + at, (size_t)(s->n - at) * sizeof *e);
    e[at] = (ks_sbucket){.n = n};
    memset(e[at].ik, KS_SBUCKET_NONE, sizeof e[at].ik);
    if (at == 0)
        s->first_n = n;
    if (at == s->n)
        s->last_n = n;
    s->n++;
    return &e[at];
}

/* Static: D_ fields are the last of KS_COUNTERS and stay in 32 bits. */
_Static_assert(KS_DISTINCT == 3 && KS_C_D_REPURCHASING == KS_C__COUNT - 1,
               "the last-touch counters must be the last three of KS_COUNTERS");

void ks__series_take_at(ks_series *s, int64_t on, int j)
{
    /* (ks_series_take: bucket on is in the window, not the newest.) */
    uint32_t at = ks__lower(s, on);
    if (at < s->n && s->e[s->head + at].n == on)
        s->e[s->head + at].d[j]--;
}

void ks_series_move(ks_series *s, int64_t old_s, int64_t new_s, ks_counter k)
{
    int j = (int)k - KS_DISTINCT_FIRST;
    if (j < 0 || j >= KS_DISTINCT)
        return;
    if (old_s && new_s && ks_series_bucket(s, old_s) == ks_series_bucket(s, new_s))
        return; /* -1 and +1 cancel */
    ks_series_take(s, old_s, k);
    ks_sbucket *e = new_s ? ks_series_entry(s, new_s) : NULL;
    if (e)
        e->d[j]++;
}

void ks_series_advance(ks_series *s, int64_t clock_s)
{
    int64_t nc = ks_series_bucket(s, clock_s);
    if (s->clock_n != KS_SERIES_NO_CLOCK && nc <= s->clock_n)
        return;
    s->clock_n = nc;
    if (s->first_n > nc - KS_WINDOW_BUCKETS)
        return; /* nothing behind the window (most advances) */
    if (s->nb == 0)
        return; /* no block to give back: the entries behind the window stay
                 * until their room is needed (ks__drop_behind), since finding
                 * where the window starts here read a cold line per entry
                 * dropped (in a long catch-up two thirds of the drops are in
                 * such series). Nothing reads them: searches, sums and
                 * snapshots start at the window. */
    while (s->n && s->e[s->head].n <= nc - KS_WINDOW_BUCKETS) {
        if (s->e[s->head].b) {
            ks__drop(s, s->e[s->head].b);
            s->nb--;
        }
        s->head++;
        s->n--;
    }
    if (s->n == 0)
        s->head = 0;
    s->first_n = s->n ? s->e[s->head].n : INT64_MAX;
}

static void ks__add_range(const ks_series *s, int64_t from, int64_t to, ks_bucket *sum)
{
    for (uint32_t i = ks__lower(s, from); i < s->n; i++) {
        const ks_sbucket *e = &s->e[s->head + i];
        if (e->n > to)
            break;
        ks__sum_entry(e, sum);
    }
}

/* The first bucket a sum from `from` may count: none behind the window at
 * the series' own clock, which an advance may have left in place. */
static int64_t ks__live_from(const ks_series *s, int64_t from)
{
    if (s->clock_n != KS_SERIES_NO_CLOCK && from < s->clock_n - (KS_WINDOW_BUCKETS - 1))
        return s->clock_n - (KS_WINDOW_BUCKETS - 1);
    return from;
}

void ks_series_sum_window(const ks_series *s, int64_t clock_s, ks_bucket *sum)
{
    int64_t nc = ks_series_bucket(s, clock_s);
    ks__add_range(s, ks__live_from(s, nc - (KS_WINDOW_BUCKETS - 1)), nc, sum);
}

int64_t ks_series_future_count(const ks_series *s, int64_t clock_s, ks_counter k)
{
    int64_t nc = ks_series_bucket(s, clock_s), sum = 0;
    for (uint32_t i = ks__lower(s, ks__live_from(s, nc + 1)); i < s->n; i++)
        sum += ks_sbucket_get(&s->e[s->head + i], k);
    return sum;
}
