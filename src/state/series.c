/* Bucket series for rolling windows; see include/kpistream/window.h.
 * Invariant: e[head .. head+n) holds the series' buckets in ascending order
 * of bucket number, each allocated on its own. */
#include "kpistream/window.h"

#include "kpistream/err.h"
#include "kpistream/vec.h"

#include <stdlib.h>
#include <string.h>

/* A series never holds more than this many buckets (about 1M x 230 bytes);
 * events that would need more are not bucketed for that window. */
#define KS__SERIES_MAX_CAP (1u << 20)
#define KS__NO_CLOCK INT64_MIN
/* Dropped buckets a series without a pool keeps for its next ones: as a
 * window slides, a bucket is created about as often as one is dropped, and
 * a malloc + free per bucket was a tenth of a catch-up's time (and
 * fragmented the heap). A partition's series share a pool (ks_bpool). */
#define KS__SPARES 4

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
    s->clock_n = KS__NO_CLOCK;
    return 0;
}

static ks_bucket *ks__spare_next(const ks_bucket *b)
{
    ks_bucket *next;
    memcpy(&next, &b->v[0], sizeof next);
    return next;
}

/* Takes ownership of b: kept as a spare, or freed. */
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
    if (s->nspare >= KS__SPARES) {
        free(b);
        return;
    }
    memcpy(&b->v[0], &s->spare, sizeof s->spare);
    s->spare = b;
    s->nspare++;
}

/* Returns a zeroed bucket (a spare if any), or NULL when out of memory. */
static ks_bucket *ks__new_bucket(ks_series *s)
{
    ks_bpool *pool = s->pool;
    ks_bucket *b = NULL;
    if (pool && pool->nfree) {
        b = pool->free[--pool->nfree];
    } else if (!pool && s->spare) {
        b = s->spare;
        s->spare = ks__spare_next(b);
        s->nspare--;
    }
    if (b)
        memset(b, 0, sizeof *b);
    else
        b = calloc(1, sizeof *b);
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
        s->pool->live = s->pool->live > s->n ? s->pool->live - s->n : 0;
    while (s->spare) {
        ks_bucket *next = ks__spare_next(s->spare);
        free(s->spare);
        s->spare = next;
    }
    free(s->e);
    memset(s, 0, sizeof *s);
}

size_t ks_series_memory(const ks_series *s)
{
    return (size_t)s->cap * sizeof(ks_sbucket) + (size_t)(s->n + s->nspare) * sizeof(ks_bucket);
}

/* Index (from head) of the first entry with bucket number >= n. Bucket
 * numbers ascend strictly, so entry i holds a number >= first + i and
 * <= last - (n - 1 - i): that bounds the search, and in a dense series (one
 * entry per bucket, the usual case of a busy group) pins it at once. */
static uint32_t ks__lower(const ks_series *s, int64_t n)
{
    if (s->n == 0)
        return 0;
    const ks_sbucket *e = s->e + s->head;
    int64_t first = e[0].n, last = e[s->n - 1].n;
    if (n <= first)
        return 0;
    if (n > last)
        return s->n;
    uint32_t lo = 0, hi = s->n;
    if (n - first < (int64_t)s->n)
        hi = (uint32_t)(n - first) + 1;
    if (last - n < (int64_t)s->n)
        lo = s->n - 1 - (uint32_t)(last - n);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->e[s->head + mid].n < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
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
    ks_sbucket *ne = realloc(s->e, (size_t)cap * sizeof *ne);
    if (!ne)
        return -1;
    s->e = ne;
    s->cap = cap;
    return 0;
}

ks_sbucket *ks_series_entry(ks_series *s, int64_t t_s)
{
    int64_t n = ks__floordiv(t_s, s->width_s);
    /* Behind the window at the clock: it would count in no window. */
    if (s->clock_n != KS__NO_CLOCK && n <= s->clock_n - KS_WINDOW_BUCKETS)
        return NULL;
    /* Events mostly land in the newest bucket or a newer one. */
    if (s->n && s->e[s->head + s->n - 1].n == n)
        return &s->e[s->head + s->n - 1];
    uint32_t at = s->n && s->e[s->head + s->n - 1].n < n ? s->n : ks__lower(s, n);
    if (at < s->n && s->e[s->head + at].n == n)
        return &s->e[s->head + at];
    if (ks__room(s) < 0)
        return NULL;
    ks_bucket *b = ks__new_bucket(s);
    if (!b)
        return NULL;
    ks_sbucket *e = s->e + s->head;
    if (at < s->n)
        memmove(e + at + 1, e + at, (size_t)(s->n - at) * sizeof *e);
    e[at] = (ks_sbucket){.n = n, .b = b};
    s->n++;
    return &e[at];
}

ks_bucket *ks_series_at(ks_series *s, int64_t t_s)
{
    ks_sbucket *e = ks_series_entry(s, t_s);
    return e ? e->b : NULL;
}

/* Static: D_ fields are the last of KS_COUNTERS and stay in 32 bits. */
_Static_assert(KS_DISTINCT == 3 && KS_C_D_REPURCHASING == KS_C__COUNT - 1,
               "the last-touch counters must be the last three of KS_COUNTERS");

void ks_series_take(ks_series *s, int64_t old_s, ks_counter k)
{
    int j = (int)k - KS_DISTINCT_FIRST;
    if (j < 0 || j >= KS_DISTINCT || !old_s || s->n == 0)
        return;
    int64_t on = ks__floordiv(old_s, s->width_s);
    ks_sbucket *last = &s->e[s->head + s->n - 1];
    if (last->n == on) { /* the newest bucket: a touch earlier in the same one */
        last->d[j]--;
        return;
    }
    uint32_t at = ks__lower(s, on);
    if (at < s->n && s->e[s->head + at].n == on)
        s->e[s->head + at].d[j]--;
}

void ks_series_move(ks_series *s, int64_t old_s, int64_t new_s, ks_counter k)
{
    int j = (int)k - KS_DISTINCT_FIRST;
    if (j < 0 || j >= KS_DISTINCT)
        return;
    if (old_s && new_s && ks__floordiv(old_s, s->width_s) == ks__floordiv(new_s, s->width_s))
        return; /* -1 and +1 cancel */
    ks_series_take(s, old_s, k);
    ks_sbucket *e = new_s ? ks_series_entry(s, new_s) : NULL;
    if (e)
        e->d[j]++;
}

void ks_series_advance(ks_series *s, int64_t clock_s)
{
    int64_t nc = ks__floordiv(clock_s, s->width_s);
    if (s->clock_n != KS__NO_CLOCK && nc <= s->clock_n)
        return;
    s->clock_n = nc;
    while (s->n && s->e[s->head].n <= nc - KS_WINDOW_BUCKETS) {
        ks__drop(s, s->e[s->head].b);
        s->head++;
        s->n--;
    }
    if (s->n == 0)
        s->head = 0;
}

static void ks__add_range(const ks_series *s, int64_t from, int64_t to, ks_bucket *sum)
{
    for (uint32_t i = ks__lower(s, from); i < s->n; i++) {
        const ks_sbucket *e = &s->e[s->head + i];
        if (e->n > to)
            break;
        for (int k = 0; k < KS_DISTINCT_FIRST; k++)
            sum->v[k] += e->b->v[k];
        for (int j = 0; j < KS_DISTINCT; j++)
            sum->v[KS_DISTINCT_FIRST + j] += e->d[j];
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
    ks__add_range(s, nc + 1, INT64_MAX, sum);
}
