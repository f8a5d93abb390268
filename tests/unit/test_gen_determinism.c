/* Generator determinism and API behaviour: same options -> same bytes, the
 * duplicate stream is the plain stream plus repeats, retry after KS_ERR_FULL,
 * peek and stamp. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/err.h"
#include "kpistream/gen.h"

static ks_gen_opts small_opts(uint64_t seed)
{
    ks_gen_opts o;
    ks_gen_opts_init(&o);
    o.seed = seed;
    o.customers = 2000;
    o.days = 60;
    return o;
}

typedef struct ev {
    char buf[KS_GEN_MAX_EVENT];
    size_t len;
    char key[64];
    int64_t ts;
} ev;

static int next(ks_gen *g, ev *e)
{
    const char *key;
    size_t keylen;
    int r = ks_gen_next(g, e->buf, sizeof e->buf, &e->len, &key, &keylen, &e->ts);
    if (r == 1) {
        cr_assert(keylen > 0 && keylen < sizeof e->key);
        memcpy(e->key, key, keylen);
        e->key[keylen] = '\0';
    }
    return r;
}

Test(gen, same_seed_same_bytes)
{
    ks_gen_opts o = small_opts(42);
    ks_gen *a = ks_gen_new(&o), *b = ks_gen_new(&o);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    static ev ea, eb;
    for (int i = 0; i < 50000; i++) {
        cr_assert_eq(next(a, &ea), 1, "stream a ended early at %d", i);
        cr_assert_eq(next(b, &eb), 1, "stream b ended early at %d", i);
        cr_assert_eq(ea.len, eb.len, "event %d length differs", i);
        cr_assert(memcmp(ea.buf, eb.buf, ea.len) == 0, "event %d differs:\n%s\n%s", i, ea.buf,
                  eb.buf);
        cr_assert_str_eq(ea.key, eb.key);
        cr_assert_eq(ea.ts, eb.ts);
    }
    ks_gen_free(a);
    ks_gen_free(b);
}

Test(gen, different_seed_different_stream)
{
    ks_gen_opts o1 = small_opts(1), o2 = small_opts(2);
    ks_gen *a = ks_gen_new(&o1), *b = ks_gen_new(&o2);
    static ev ea, eb;
    int differ = 0;
    for (int i = 0; i < 1000; i++) {
        cr_assert_eq(next(a, &ea), 1);
        cr_assert_eq(next(b, &eb), 1);
        /* event_ids embed the seed, so compare what follows the id. */
        const char *ra = strchr(ea.buf, ','), *rb = strchr(eb.buf, ',');
        if (strcmp(ra, rb) != 0) differ++;
    }
    cr_assert_gt(differ, 900, "only %d of 1000 events differ between seeds", differ);
    ks_gen_free(a);
    ks_gen_free(b);
}

Test(gen, duplicates_are_exact_repeats_inserted_into_the_same_stream)
{
    ks_gen_opts plain = small_opts(9), dup = small_opts(9);
    plain.days = 20;
    dup.days = 20;
    dup.dup_fraction = 0.02;
    ks_gen *a = ks_gen_new(&plain), *b = ks_gen_new(&dup);
    static ev ea, eb, prev;
    uint64_t repeats = 0, n = 0;
    prev.len = 0;
    for (;;) {
        int rb = next(b, &eb);
        cr_assert_geq(rb, 0);
        if (rb == 0) break;
        if (prev.len == eb.len && memcmp(prev.buf, eb.buf, eb.len) == 0) {
            repeats++; /* a deliberate duplicate of the previous event */
            cr_assert_str_eq(prev.key, eb.key);
            continue;
        }
        cr_assert_eq(next(a, &ea), 1, "plain stream ended before the dup stream");
        cr_assert(ea.len == eb.len && memcmp(ea.buf, eb.buf, ea.len) == 0,
                  "event %llu differs:\n%s\n%s", (unsigned long long)n, ea.buf, eb.buf);
        prev = eb;
        n++;
    }
    cr_assert_eq(next(a, &ea), 0, "plain stream has more events than the dup stream");
    ks_gen_stats st;
    ks_gen_get_stats(b, &st);
    cr_assert_eq(st.duplicates, repeats);
    cr_assert_eq(st.events, n);
    double frac = (double)repeats / (double)n;
    cr_assert(frac > 0.015 && frac < 0.025, "duplicate fraction %.4f, asked for 0.02", frac);
    ks_gen_free(a);
    ks_gen_free(b);
}

Test(gen, full_buffer_keeps_the_event)
{
    ks_gen_opts o = small_opts(5);
    ks_gen *a = ks_gen_new(&o), *b = ks_gen_new(&o);
    char tiny[8];
    size_t len, keylen;
    const char *key;
    int64_t ts;
    cr_assert_eq(ks_gen_next(a, tiny, sizeof tiny, &len, &key, &keylen, &ts), KS_ERR_FULL);
    cr_assert_eq(ks_gen_next(a, tiny, sizeof tiny, &len, &key, &keylen, &ts), KS_ERR_FULL);
    static ev ea, eb;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(next(a, &ea), 1);
        cr_assert_eq(next(b, &eb), 1);
        cr_assert_str_eq(ea.buf, eb.buf);
    }
    cr_assert_eq(ks_gen_next(a, NULL, 0, &len, &key, &keylen, &ts), KS_ERR_INVAL);
    ks_gen_free(a);
    ks_gen_free(b);
}

Test(gen, peek_does_not_consume_and_stamp_only_changes_ts)
{
    ks_gen_opts o = small_opts(11);
    ks_gen *a = ks_gen_new(&o), *b = ks_gen_new(&o);
    static ev ea, eb;
    int64_t stamp = 1900000000000LL;
    for (int i = 0; i < 2000; i++) {
        int64_t peek = ks_gen_peek_ts(a);
        cr_assert_eq(ks_gen_peek_ts(a), peek);
        cr_assert_eq(next(a, &ea), 1);
        cr_assert_eq(ea.ts, peek);
        ks_gen_stamp(b, stamp + i);
        cr_assert_eq(next(b, &eb), 1);
        cr_assert_eq(eb.ts, stamp + i);
        char want[40];
        snprintf(want, sizeof want, "\"ts\":%lld,", (long long)(stamp + i));
        cr_assert_not_null(strstr(eb.buf, want), "stamped ts missing in %s", eb.buf);
        /* Apart from ts the events are the same. */
        const char *ta = strstr(ea.buf, "\"ts\":"), *tb = strstr(eb.buf, "\"ts\":");
        cr_assert(ta - ea.buf == tb - eb.buf && memcmp(ea.buf, eb.buf, (size_t)(ta - ea.buf)) == 0);
        cr_assert_str_eq(strchr(ta, ','), strchr(tb, ','));
    }
    ks_gen_stamp(b, KS_GEN_NO_STAMP);
    int64_t peek = ks_gen_peek_ts(b);
    cr_assert_eq(next(b, &eb), 1);
    cr_assert_eq(eb.ts, peek);
    cr_assert_lt(eb.ts, stamp, "simulated time not restored");
    ks_gen_free(a);
    ks_gen_free(b);
}

Test(gen, stream_ends_and_stays_ended)
{
    ks_gen_opts o = small_opts(3);
    o.customers = 50;
    o.days = 5;
    ks_gen *g = ks_gen_new(&o);
    static ev e;
    uint64_t n = 0;
    int64_t end = o.start_ms + 5 * 86400000LL;
    int r;
    while ((r = next(g, &e)) == 1) {
        cr_assert(e.ts >= o.start_ms && e.ts < end, "ts %lld outside the timeline",
                  (long long)e.ts);
        n++;
    }
    cr_assert_eq(r, 0);
    cr_assert_eq(next(g, &e), 0);
    cr_assert_eq(ks_gen_peek_ts(g), INT64_MAX);
    ks_gen_stats st;
    ks_gen_get_stats(g, &st);
    cr_assert_eq(st.events, n);
    cr_assert_gt(n, 0);
    ks_gen_free(g);
}

Test(gen, invalid_options_are_named)
{
    char err[KS_ERRSTR_SIZE];
    ks_gen_opts o;
    ks_gen_opts_init(&o);
    cr_assert_eq(ks_gen_opts_validate(&o, err, sizeof err), 0);

    o.customers = 0;
    cr_assert_eq(ks_gen_opts_validate(&o, err, sizeof err), KS_ERR_INVAL);
    cr_assert_not_null(strstr(err, "customers"), "%s", err);
    cr_assert_null(ks_gen_new(&o));

    ks_gen_opts_init(&o);
    o.days = 0;
    cr_assert_eq(ks_gen_opts_validate(&o, err, sizeof err), KS_ERR_INVAL);
    cr_assert_not_null(strstr(err, "days"), "%s", err);

    ks_gen_opts_init(&o);
    o.churn_fraction = 1.5;
    cr_assert_eq(ks_gen_opts_validate(&o, err, sizeof err), KS_ERR_INVAL);
    cr_assert_not_null(strstr(err, "churn_fraction"), "%s", err);

    ks_gen_opts_init(&o);
    o.dup_fraction = -0.1;
    cr_assert_eq(ks_gen_opts_validate(&o, err, sizeof err), KS_ERR_INVAL);
    cr_assert_not_null(strstr(err, "dup_fraction"), "%s", err);
    cr_assert_null(ks_gen_new(&o));
}
