/* A window series' part of a snapshot (window.h, series.c):
 *
 *   width_s i64 | clock_n i64 | n u32 | n x ( bucket number i64 | KS_C__COUNT x i64 )
 *
 * Buckets in ascending order, as the series holds them. */
#include "kpistream/window.h"
#include "state/snapshot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A bucket's counters, in absolute value, at most this (2^56: 60 of them add
 * up without overflow; a bucket of money holds 7.2e10 units of currency). */
#define KS__BUCKET_MAX (1LL << 56)

void ks_series_snap_save(ks_snapw *w, const ks_series *s, int64_t now_n)
{
    /* The moved series: the clock's bucket, and none of the entries the
     * move would drop (the same file whenever the series last moved). */
    int64_t clock_n = now_n > s->clock_n ? now_n : s->clock_n;
    uint32_t from = 0;
    if (clock_n != INT64_MIN)
        while (from < s->n && s->e[s->head + from].n <= clock_n - KS_WINDOW_BUCKETS)
            from++;
    ks_snapw_i64(w, s->width_s);
    ks_snapw_i64(w, clock_n);
    ks_snapw_u32(w, s->n - from);
    for (uint32_t i = from; i < s->n; i++) {
        const ks_sbucket *e = &s->e[s->head + i];
        ks_bucket v; /* the file keeps one bucket: D_ counts in place */
        for (int k = 0; k < KS_C__COUNT; k++)
            v.v[k] = ks_sbucket_get(e, (ks_counter)k);
        ks_snapw_i64(w, e->n);
        ks_snapw_put(w, v.v, sizeof v.v);
    }
}

int ks_series_snap_load(ks_snapr *r, ks_series *s, int64_t width_s)
{
    memset(s, 0, sizeof *s);
    s->width_s = ks_snapr_i64(r);
    s->clock_n = ks_snapr_i64(r);
    uint32_t n = ks_snapr_u32(r);
    if (!r->bad && s->width_s != width_s)
        ks_snapr_fail(r, "a window of %lld s buckets where the settings have %lld s",
                      (long long)s->width_s, (long long)width_s);
    if (!r->bad && n > (r->len - r->pos) / (8 + sizeof(ks_bucket)))
        ks_snapr_fail(r, "truncated window series (%u buckets) at byte %zu", n, r->pos);
    if (r->bad)
        return -1;
    uint32_t cap = 8;
    while (cap < n)
        cap *= 2;
    s->e = ks_sbucket_array(cap);
    if (!s->e) {
        ks_snapr_fail(r, "out of memory");
        return -1;
    }
    s->cap = cap;
    for (uint32_t i = 0; i < n; i++) {
        int64_t bn = ks_snapr_i64(r);
        const void *v = ks_snapr_take(r, sizeof(ks_bucket));
        if (!v)
            break;
        if (i > 0 && bn <= s->e[i - 1].n) {
            ks_snapr_fail(r, "window buckets out of order at byte %zu", r->pos);
            break;
        }
        ks_bucket lv;
        memcpy(lv.v, v, sizeof lv.v);
        /* Sums over a window (60 buckets) must stay in 64 bits. */
        int nonzero = 0;
        for (int k = 0; k < KS_C__COUNT; k++) {
            if (lv.v[k] > KS__BUCKET_MAX || lv.v[k] < -KS__BUCKET_MAX) {
                ks_snapr_fail(r, "a window counter out of range at byte %zu", r->pos);
                break;
            }
            nonzero += k < KS_DISTINCT_FIRST && lv.v[k] != 0;
        }
        ks_sbucket ent = {.n = bn};
        memset(ent.ik, KS_SBUCKET_NONE, sizeof ent.ik);
        for (int j = 0; j < KS_DISTINCT && !r->bad; j++) {
            int64_t d = lv.v[KS_DISTINCT_FIRST + j];
            if (d > INT32_MAX || d < -INT32_MAX)
                ks_snapr_fail(r, "a distinct count out of range at byte %zu", r->pos);
            ent.d[j] = (int32_t)d;
            lv.v[KS_DISTINCT_FIRST + j] = 0;
        }
        if (r->bad)
            break;
        if (nonzero <= KS_SBUCKET_INLINE) {
            /* As few counters as the entry holds in place: kept there. */
            for (int k = 0, at = 0; k < KS_DISTINCT_FIRST; k++)
                if (lv.v[k] != 0) {
                    ent.ik[at] = (uint8_t)k;
                    ent.iv[at++] = lv.v[k];
                }
        } else {
            if (!(ent.b = malloc(sizeof *ent.b))) {
                ks_snapr_fail(r, "out of memory");
                break;
            }
            *ent.b = lv;
            s->nb++;
        }
        s->e[i] = ent;
        s->n++;
    }
    if (r->bad) {
        ks_series_reset(s);
        return -1;
    }
    s->first_n = s->n ? s->e[0].n : INT64_MAX;
    s->last_n = s->n ? s->e[s->n - 1].n : INT64_MIN;
    return 0;
}
