/* The pure half of the group aggregates: summing the partitions' frozen
 * blocks into one script call, and reading the script's reply into the KPI
 * hashes' write. (The Redis half runs in tests/integration.) */
#include "engine/agg.h"

#include "kpistream/config.h"
#include "kpistream/err.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void block(ks_agg_part *p, const char *id, const char *const *items, int nitems)
{
    memset(p, 0, sizeof *p);
    ks_batch_init(&p->frozen);
    ks_batch_cmd(&p->frozen);
    const char *hdr[KS_AGG_HEADER] = {id, "old", "new", "42", "1000"};
    for (int i = 0; i < KS_AGG_HEADER; i++)
        ks_batch_str(&p->frozen, hdr[i]);
    for (int i = 0; i < nitems * 5; i++)
        ks_batch_str(&p->frozen, items[i]);
    p->has_frozen = true;
}

/* A counter delta of the block: group gid, window w (0-based), bucket n. */
static void delta(ks_agg_part *p, uint16_t gid, uint8_t w, int64_t n, ks_counter k, int64_t d)
{
    p->fdelta = realloc(p->fdelta, (p->nfdelta + 1) * sizeof *p->fdelta);
    cr_assert_not_null(p->fdelta);
    ks_delta *x = &p->fdelta[p->nfdelta++];
    memset(x, 0, sizeof *x);
    x->gid = gid;
    x->w = w;
    x->n = n;
    x->v.v[k] = d;
}

static const char *arg(const ks_batch *b, size_t i, char *buf, size_t n)
{
    snprintf(buf, n, "%.*s", (int)b->arglen[i], b->arena + b->argoff[i]);
    return buf;
}

Test(agg, emit_sums_equal_items_over_partitions_and_drops_zero_sums)
{
    ks_config cfg;
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    ks_engine_shared sh = {.cfg = &cfg};
    ks_intern_init(&sh.segments, 8);
    ks_intern_init(&sh.channels, 8);
    cr_assert_eq(ks_intern_id(&sh.segments, "gold", 4), 0);
    /* Sketch counts travel as text items; counters, base and meta in binary. */
    static const char *const a[] = {"tp", "1", "100", "shoe", "3"};
    static const char *const b[] = {"tp", "1", "100", "shoe", "4", /* summed with a's */
                                    "tp", "2", "100", "shoe", "4"}; /* other window */
    ks_agg_part pa, pb;
    block(&pa, "t:0", a, 1);
    block(&pb, "t:1", b, 2);
    delta(&pa, KS_GID_GLOBAL, 0, 100, KS_C_EVENTS, 3);
    delta(&pb, KS_GID_GLOBAL, 0, 100, KS_C_EVENTS, 4);      /* summed: 7 */
    delta(&pa, KS_GID_SEGMENT0, 0, 100, KS_C_ORDERS, 1);
    delta(&pb, KS_GID_SEGMENT0, 0, 100, KS_C_ORDERS, -1);   /* cancels: not sent */
    pa.fmeta[0] = 3;
    pb.fmeta[0] = 4;
    pa.nfbase = 1;
    pa.fbase_gid[0] = KS_GID_SEGMENT0;
    pa.fbase[0] = 2;
    ks_agg_part *parts[2] = {&pa, &pb};
    ks_batch out;
    ks_batch_init(&out);
    ks_batch_cmd(&out);
    ks_deltas sum = {0};
    cr_assert_eq(ks_agg_emit(&out, parts, 2, &sh, &sum), 0);
    char buf[64];
    size_t i = 0;
    cr_assert_str_eq(arg(&out, i++, buf, sizeof buf), "2");
    cr_assert_str_eq(arg(&out, i, buf, sizeof buf), "t:0");
    cr_assert_str_eq(arg(&out, i + KS_AGG_HEADER, buf, sizeof buf), "t:1");
    i += 2 * KS_AGG_HEADER;
    cr_assert_str_eq(arg(&out, i++, buf, sizeof buf), "5", "5 distinct non-zero items");
    int seen = 0;
    for (; i + 5 <= out.nargs; i += 5) {
        char op[8], w[8], f[64], d[16];
        arg(&out, i, op, sizeof op);
        arg(&out, i + 1, w, sizeof w);
        arg(&out, i + 3, f, sizeof f);
        arg(&out, i + 4, d, sizeof d);
        cr_assert_str_neq(f, "orders|s:gold", "a zero sum is not sent");
        int bit = !strcmp(f, "events|g") && !strcmp(w, "1")          ? 1
                  : !strcmp(f, "shoe") && !strcmp(w, "1")            ? 2
                  : !strcmp(f, "shoe") && !strcmp(w, "2")            ? 4
                  : !strcmp(f, "events_processed") && !strcmp(op, "m") ? 8
                  : !strcmp(f, "s:gold") && !strcmp(op, "b")          ? 16
                                                                       : 0;
        cr_assert(bit, "unexpected item %s %s %s", op, w, f);
        static const char *const want[] = {[1] = "7", [2] = "7", [4] = "4", [8] = "7", [16] = "2"};
        cr_assert_str_eq(d, want[bit], "%s %s %s", op, w, f);
        seen |= bit;
    }
    cr_assert_eq(seen, 31);
    cr_assert_eq(i, out.nargs);
    ks_batch_reset(&out);
    ks_deltas_free(&sum);
    ks_agg_part_free(&pa);
    ks_agg_part_free(&pb);
    ks_config_free(&cfg);
}

static int nfenced, ndone;
static void on_fence(void *ctx, const char *id, size_t len, bool fenced)
{
    (void)ctx;
    cr_assert_eq(len, 3);
    cr_assert(!memcmp(id, fenced ? "t:1" : "t:2", 3));
    if (fenced)
        nfenced++;
    else
        ndone++;
}

/* Finds "field value" among the KPI script's arguments of the hash key. */
static const char *kpi(const ks_batch *b, const char *key, const char *field, char *buf, size_t n)
{
    char k[128], f[128];
    for (size_t i = 5; i + 1 < b->nargs;) {
        arg(b, i, k, sizeof k);
        char num[16];
        long ns = strtol(arg(b, i + 1, num, sizeof num), NULL, 10);
        size_t j = i + 2;
        for (long s = 0; s < ns; s++, j += 2)
            if (!strcmp(k, key) && !strcmp(arg(b, j, f, sizeof f), field))
                return arg(b, j + 1, buf, n);
        long nd = strtol(arg(b, j, num, sizeof num), NULL, 10);
        i = j + 1 + (size_t)nd;
    }
    return NULL;
}

Test(agg, reply_becomes_the_kpi_hashes_write)
{
    ks_config cfg;
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    /* status, fenced ids, done ids, flush counter, group clock, then per
     * window: sums inside (count, pairs), sums ahead; base; dims. */
    const char *r[128];
    int n = 0;
    r[n++] = "applied";
    r[n++] = "1";
    r[n++] = "t:1";
    r[n++] = "1";
    r[n++] = "t:2";
    r[n++] = "17";
    r[n++] = "1795000000000";
    for (int w = 0; w < cfg.nwindows; w++) {
        r[n++] = "8";
        r[n++] = "events|g";
        r[n++] = w == 0 ? "5" : "9";
        r[n++] = "complaints|s:gold";
        r[n++] = "2";
        r[n++] = "complaints_resolved|s:gold";
        r[n++] = "1";
        r[n++] = "rt:z|g"; /* one response time of 0 ms */
        r[n++] = "1";
        r[n++] = "2";      /* ahead of the clock: a customer joining later */
        r[n++] = "base_delta|g";
        r[n++] = "1";
    }
    r[n++] = "4";
    r[n++] = "g";
    r[n++] = "11";
    r[n++] = "s:gold";
    r[n++] = "3";
    r[n++] = "1";
    r[n++] = "c:web"; /* a dim seen before, empty now: its hash is still written */
    size_t lens[128];
    for (int i = 0; i < n; i++)
        lens[i] = strlen(r[i]);
    ks_batch b;
    ks_batch_init(&b);
    ks_agg_result res;
    nfenced = ndone = 0;
    cr_assert_eq(ks_agg_kpis(&cfg, r, lens, (size_t)n, on_fence, NULL, &b, &res), 0);
    cr_assert(res.applied);
    cr_assert_eq(nfenced, 1);
    cr_assert_eq(ndone, 1);
    cr_assert_eq(res.version, 17);
    cr_assert_eq(res.group_clock_ms, 1795000000000LL);
    char buf[64];
    cr_assert_str_eq(arg(&b, 0, buf, sizeof buf), "EVAL");
    cr_assert_str_eq(arg(&b, 4, buf, sizeof buf), "17", "written only at this flush counter");
    cr_assert_str_eq(kpi(&b, "kpi:global", "events:1h", buf, sizeof buf), "5");
    cr_assert_str_eq(kpi(&b, "kpi:global", "events:24h", buf, sizeof buf), "9");
    /* E = base - ahead = 10; S = E - joins in the window (0) */
    cr_assert_str_eq(kpi(&b, "kpi:global", "customers:1h", buf, sizeof buf), "10");
    cr_assert_str_eq(kpi(&b, "kpi:global", "response_time_p50:1h", buf, sizeof buf), "0");
    cr_assert_str_eq(kpi(&b, "kpi:segment:gold", "complaint_resolution_rate:1h", buf, sizeof buf),
                     "50.00");
    cr_assert_str_eq(kpi(&b, "kpi:channel:web", "events:1h", buf, sizeof buf), "0");
    cr_assert_null(kpi(&b, "kpi:channel:web", "csat:1h", buf, sizeof buf), "no responses: no csat");
    /* A truncated reply is refused, not half read. */
    cr_assert_eq(ks_agg_kpis(&cfg, r, lens, 4, on_fence, NULL, &b, &res), KS_ERR_INVAL);
    ks_batch_reset(&b);
    ks_config_free(&cfg);
}
