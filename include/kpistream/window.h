/* Rolling event-time windows as bucket series.
 *
 * A window of length W is cut into buckets of width b = W/60 (whole seconds).
 * Bucket n holds everything whose event time t satisfies floor(t/b) == n.
 * At clock c the window is the 60 buckets n in (floor(c/b) - 60, floor(c/b)],
 * i.e. it covers event times in (c - W, c] rounded down to bucket edges.
 *
 * A series keeps only the non-empty buckets of one (group, window) pair, in
 * order of bucket number: a partition's share of a segment or channel has
 * few events per minute, and a fixed ring of 60+ buckets per (partition,
 * group, window) made memory and the clock's cost grow with partitions x
 * buckets crossed instead of with events. Buckets behind the window are
 * dropped as the clock advances; buckets ahead of the clock (event mode: a
 * partition ahead of the watermark; wall mode: up to max_future_skew) are
 * kept until the clock reaches them.
 */
#ifndef KPISTREAM_WINDOW_H
#define KPISTREAM_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_WINDOW_BUCKETS 60

/* Additive per-bucket counters. Counts are event counts; M_ fields are money
 * in micro-units of the events' currency (exact, order-independent sums);
 * D_ fields are distinct-customer counts kept by "last touch": a customer is
 * counted in the bucket of its latest qualifying event only, so the sum over
 * a window's buckets is the number of distinct customers whose latest such
 * event is in the window. */
#define KS_COUNTERS(X)                                                         \
    X(EVENTS, "events")                                                        \
    X(NEW_CUSTOMERS, "new_customers")                                          \
    X(CHURNED, "churned_customers")                                            \
    X(ORDERS, "orders")                                                        \
    X(INTERACTIONS, "interactions")                                            \
    X(SOCIAL, "social_interactions")                                           \
    X(COMPLAINTS, "complaints")                                                \
    X(COMPLAINTS_RESOLVED, "complaints_resolved")                              \
    X(TICKETS, "tickets")                                                      \
    X(LEADS, "leads")                                                          \
    X(CONVERSIONS, "conversions")                                              \
    X(UPSELLS, "upsells")                                                      \
    X(CROSS_SELLS, "cross_sells")                                              \
    X(REFERRALS, "referrals")                                                  \
    X(PAYMENT_FAILURES, "payment_failures")                                    \
    X(CSAT_RESPONSES, "csat_responses")                                        \
    X(CSAT_SATISFIED, "csat_satisfied")                                        \
    X(NPS_RESPONSES, "nps_responses")                                          \
    X(NPS_PROMOTERS, "nps_promoters")                                          \
    X(NPS_DETRACTORS, "nps_detractors")                                        \
    X(REFUND_COUNT, "refund_count")                                            \
    X(BASE_DELTA, "base_delta")                                                \
    X(M_PURCHASES, "purchase_amount")                                          \
    X(M_REFUNDS, "refunds")                                                    \
    X(M_MARKETING, "marketing_spend")                                          \
    X(M_RETENTION, "retention_spend")                                          \
    X(D_ACTIVE, "active_customers")                                            \
    X(D_PURCHASING, "purchasing_customers")                                    \
    X(D_REPURCHASING, "repurchasing_customers")

typedef enum ks_counter {
#define KS__CTR_ENUM(name, str) KS_C_##name,
    KS_COUNTERS(KS__CTR_ENUM)
#undef KS__CTR_ENUM
        KS_C__COUNT
} ks_counter;

/** Returns the counter's name; static. */
const char *ks_counter_name(ks_counter c);

typedef struct ks_bucket {
    int64_t v[KS_C__COUNT];
} ks_bucket;

/* The last-touch counters (D_ fields, the last of KS_COUNTERS) are kept in
 * the series' entry array rather than in the bucket: a customer's move takes
 * one back from the bucket of its previous touch, which is a cold 232-byte
 * block in the heap but a few entries away in the array (the moves' misses
 * on those blocks were the top of a catch-up's profile). A stored bucket's
 * D_ fields stay 0; the sums and the snapshot add the entry's counts. */
#define KS_DISTINCT_FIRST KS_C_D_ACTIVE
#define KS_DISTINCT (KS_C__COUNT - KS_C_D_ACTIVE)

/* Counters an entry holds in place before it needs a bucket of its own:
 * one event adds two to four (events, plus its type's), and most buckets of
 * a partition's share of a group hold one or two events (a catch-up crosses
 * a new one-minute bucket of the hour window with nearly every event). A
 * 232-byte bucket allocated and zeroed for each was the most cache misses
 * of any step of a long catch-up. */
#define KS_SBUCKET_INLINE 4
#define KS_SBUCKET_NONE 0xFF /* an unused inline slot's counter id */

/* One non-empty bucket of a series: its counters in place (ik[i] names the
 * counter of iv[i]) until a fifth counter moves them all into b. */
typedef struct ks_sbucket {
    int64_t n;                       /* bucket number */
    ks_bucket *b;                    /* owned; NULL while the counters fit in place */
    int64_t iv[KS_SBUCKET_INLINE];   /* counts in place (while b is NULL) */
    int32_t d[KS_DISTINCT];          /* last-touch counts (customers: 32 bits hold them) */
    uint8_t ik[KS_SBUCKET_INLINE];   /* counter of iv[i]; KS_SBUCKET_NONE: unused */
} ks_sbucket;

/** Returns an uninitialised array of cap entries starting on a cache line
 *  (64 bytes), or NULL when out of memory; free with free(). An entry is one
 *  line only if the array is aligned: at malloc's 16 bytes each entry
 *  straddled two, so a search's read of its number and the take's write of
 *  its last-touch counts that follows were two misses, not one. */
ks_sbucket *ks_sbucket_array(uint32_t cap);

/* Dropped buckets shared by the series of one owner (a partition's state):
 * a window's clock drops buckets of one series in bursts while events create
 * them in others, so spares kept per series still left a 45-day catch-up
 * with 0.6 M callocs. It stops taking buckets back once it holds a quarter
 * of the owner's live buckets plus 256. */
typedef struct ks_bpool {
    ks_bucket **free; /* [nfree]: an array, not a list through the buckets,
                       * so a drop does not write to the cold bucket */
    uint32_t nfree;
    size_t cap;
    uint64_t live;    /* buckets its series hold (not counting loaded ones) */
} ks_bpool;

typedef struct ks_series {
    /* One cache line, aligned: a use reads fields at both ends (the clock
     * and bounds, the array, the pool), and a series straddling two lines
     * (a group's windows started 8 bytes in) cost a second miss. Owners
     * allocate with that alignment (pstate.c). */
    _Alignas(64) int64_t width_s; /* bucket width in seconds */
    int64_t clock_n;    /* bucket of the last clock advance (INT64_MIN: none yet) */
    ks_sbucket *e;      /* the non-empty buckets, ascending n, at e[head .. head+n); in
                         * a series without blocks (nb 0) those behind the window
                         * stay until their room is needed */
    int64_t first_n;    /* e[head].n and e[head + n - 1].n while n > 0, kept here so */
    int64_t last_n;     /* that an advance dropping nothing, and the bounds of a search,
                         * read no entry (each a cold line); first_n is INT64_MAX or
                         * below any entry when empty */
    uint32_t head, n, cap;
    uint32_t nb;        /* entries with a bucket of their own */
    ks_bpool *pool;     /* borrowed; NULL: buckets are malloc'd and freed */
} ks_series;

_Static_assert(sizeof(ks_series) == 64, "a series is one cache line");

/** Initialises s for buckets of width_s seconds. Returns 0. Owns its
 *  buckets; release with ks_series_reset(). */
int ks_series_init(ks_series *s, int64_t width_s);

/** Frees the buckets of s. */
void ks_series_reset(ks_series *s);

/** Makes s take and give back buckets through pool (borrowed: it must
 *  outlive s's buckets), instead of keeping spares of its own. */
void ks_series_set_pool(ks_series *s, ks_bpool *pool);

/** Frees the buckets pool holds. */
void ks_bpool_reset(ks_bpool *pool);

/** Returns the bytes pool holds. */
size_t ks_bpool_memory(const ks_bpool *pool);

/** Returns the bytes s holds. */
size_t ks_series_memory(const ks_series *s);

/* A series' clock_n before its first advance. */
#define KS_SERIES_NO_CLOCK INT64_MIN

/** The bucket number of t_s in s: floor(t_s / width). */
static inline int64_t ks_series_bucket(const ks_series *s, int64_t t_s)
{
    int64_t q = t_s / s->width_s;
    return (t_s % s->width_s != 0 && (t_s < 0) != (s->width_s < 0)) ? q - 1 : q;
}

/** ks_series_entry's and ks_series_take's work past their inline checks. */
ks_sbucket *ks__series_entry_at(ks_series *s, int64_t n);
void ks__series_take_at(ks_series *s, int64_t on, int j);

/** Returns the entry of the bucket holding t_s (its counters and last-touch
 *  counts), created empty if needed, or NULL when t_s is behind the window or
 *  out of memory. Valid until the next call that adds a bucket to s. Inline
 *  up to the search: an event looks up twelve entries, most behind the
 *  window or the newest (the calls of this and ks_series_take were 2 % of
 *  the engine's instructions, bench/engine_instructions.sh). */
static inline ks_sbucket *ks_series_entry(ks_series *s, int64_t t_s)
{
    int64_t n = ks_series_bucket(s, t_s);
    /* Behind the window at the clock: it would count in no window. */
    if (s->clock_n != KS_SERIES_NO_CLOCK && n <= s->clock_n - KS_WINDOW_BUCKETS)
        return NULL;
    /* Events mostly land in the newest bucket or a newer one. */
    if (s->n && s->last_n == n)
        return &s->e[s->head + s->n - 1];
    return ks__series_entry_at(s, n);
}

/** ks_sbucket_add's case of a fifth counter: every counter moves into a
 *  bucket of e's own. */
int ks_sbucket_spill(ks_series *s, ks_sbucket *e, ks_counter k, int64_t d);

/** Adds d to counter k (not a D_ one) of entry e of s. Returns 0, or
 *  KS_ERR_NOMEM when a bucket was needed and none could be had (the count is
 *  not added). Inline: an event adds a few counters in each of up to twelve
 *  entries. */
static inline int ks_sbucket_add(ks_series *s, ks_sbucket *e, ks_counter k, int64_t d)
{
    if (e->b) {
        e->b->v[k] += d;
        return 0;
    }
    for (int i = 0; i < KS_SBUCKET_INLINE; i++) {
        if (e->ik[i] == k) {
            e->iv[i] += d;
            return 0;
        }
        if (e->ik[i] == KS_SBUCKET_NONE) {
            e->ik[i] = (uint8_t)k;
            e->iv[i] = d;
            return 0;
        }
    }
    return ks_sbucket_spill(s, e, k, d);
}

/** Returns counter k of entry e (a D_ counter: its last-touch count). */
int64_t ks_sbucket_get(const ks_sbucket *e, ks_counter k);

/** Adds d to counter k (not a D_ one) of the bucket holding t_s. Returns 0,
 *  1 when t_s is behind the window (nothing added), or KS_ERR_NOMEM. */
int ks_series_add(ks_series *s, int64_t t_s, ks_counter k, int64_t d);

/** Takes one last-touch count k (a D_ counter) back from the bucket of
 *  old_s (seconds; 0: none), if the series still holds that bucket. Inline
 *  up to the search: most takes are of a touch behind the window. */
static inline void ks_series_take(ks_series *s, int64_t old_s, ks_counter k)
{
    int j = (int)k - KS_DISTINCT_FIRST;
    if (j < 0 || j >= KS_DISTINCT || !old_s || s->n == 0)
        return;
    int64_t on = ks_series_bucket(s, old_s);
    /* Behind the window at the clock: that bucket was dropped (or never
     * made), and deciding so here reads no entry. Most takes are of a touch
     * days old, behind the short windows. */
    if (s->clock_n != KS_SERIES_NO_CLOCK && on <= s->clock_n - KS_WINDOW_BUCKETS)
        return;
    if (s->last_n == on) { /* the newest bucket: a touch earlier in the same one */
        s->e[s->head + s->n - 1].d[j]--;
        return;
    }
    ks__series_take_at(s, on, j);
}

/** Moves one last-touch count k (a D_ counter) from the bucket of old_s to
 *  the bucket of new_s (seconds; 0: none), creating the new one if needed.
 *  Buckets behind the window are skipped on either side. */
void ks_series_move(ks_series *s, int64_t old_s, int64_t new_s, ks_counter k);

/** Moves the clock to clock_s: buckets that fell out of the window are
 *  dropped. The clock never moves backwards (older values are ignored). */
void ks_series_advance(ks_series *s, int64_t clock_s);

/** Adds the buckets in the window ending at clock_s into *sum (elementwise). */
void ks_series_sum_window(const ks_series *s, int64_t clock_s, ks_bucket *sum);

/** Returns counter k summed over the buckets strictly after the bucket of
 *  clock_s (future buckets). One counter, not all: a flush needs only the
 *  base changes ahead of the clock, and in a catch-up the 1-hour window of
 *  a partition read ahead holds hundreds of future buckets. */
int64_t ks_series_future_count(const ks_series *s, int64_t clock_s, ks_counter k);

#endif
