/* The population model against its ground truth: the label file, churners'
 * declining activity and rising dissatisfaction, how churn ends, heavy tails
 * and segment spend. The stream is read back by scanning the JSON text for
 * the few fields needed (test_gen_schema.c validates the full format). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/gen.h"

#define DAY 86400000LL

typedef struct sev {
    int64_t ts;
    uint32_t cust; /* index (customer_id c-000001 -> 0); UINT32_MAX for none */
    uint8_t type;  /* ks_event_type */
    uint8_t cancel, complaint, nps, opened;
    int8_t score; /* survey score, -1 if none */
    double amount;
    int product; /* purchase: product number within its category */
    int seg;     /* 0 consumer, 1 smb, 2 midmarket, 3 enterprise, -1 none */
} sev;

typedef struct label {
    int churner;
    int64_t drift, churn;
    int cancel;
} label;

typedef struct run {
    ks_gen_opts o;
    sev *ev;
    size_t n;
    label *lab;
    uint32_t churners;
} run;

static int type_of(const char *buf)
{
    static const char *const names[] = {
#define T(name, str) str,
        KS_EVENT_TYPES(T)
#undef T
    };
    const char *p = strstr(buf, "\"type\":\"");
    cr_assert_not_null(p);
    p += 8;
    for (int i = 0; i < KS_EV__COUNT; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(p, names[i], n) == 0 && p[n] == '"') return i;
    }
    cr_assert_fail("unknown type in %s", buf);
    return -1;
}

static void parse_labels(run *r, char *text)
{
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    cr_assert_str_eq(line, "customer_id,churner,drift_start_ms,churn_ms,churn_kind");
    uint32_t rows = 0;
    while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
        unsigned idx;
        int churner, used = 0;
        cr_assert_eq(sscanf(line, "c-%u,%d,%n", &idx, &churner, &used), 2, "bad row %s", line);
        cr_assert_eq(idx, rows + 1, "rows out of order at %s", line);
        label *l = &r->lab[rows++];
        l->churner = churner;
        if (!churner) {
            cr_assert_str_eq(line + used, ",,", "non-churner row %s", line);
            continue;
        }
        long long drift, churn;
        char kind[16];
        cr_assert_eq(sscanf(line + used, "%lld,%lld,%15s", &drift, &churn, kind), 3, "row %s",
                     line);
        l->drift = drift;
        l->churn = churn;
        cr_assert(strcmp(kind, "cancel") == 0 || strcmp(kind, "silent") == 0, "%s", line);
        l->cancel = strcmp(kind, "cancel") == 0;
        r->churners++;
    }
    cr_assert_eq(rows, r->o.customers, "label rows");
}

static void run_model(run *r, uint64_t seed, uint32_t customers, double days, double churn)
{
    memset(r, 0, sizeof *r);
    ks_gen_opts_init(&r->o);
    r->o.seed = seed;
    r->o.customers = customers;
    r->o.days = days;
    r->o.churn_fraction = churn;
    ks_gen *g = ks_gen_new(&r->o);
    cr_assert_not_null(g);
    size_t cap = 1 << 20;
    r->ev = malloc(cap * sizeof *r->ev);
    static char buf[KS_GEN_MAX_EVENT];
    size_t len, keylen;
    const char *key;
    int64_t ts;
    int rc;
    while ((rc = ks_gen_next(g, buf, sizeof buf, &len, &key, &keylen, &ts)) == 1) {
        if (r->n == cap) {
            cap *= 2;
            r->ev = realloc(r->ev, cap * sizeof *r->ev);
        }
        sev *e = &r->ev[r->n++];
        memset(e, 0, sizeof *e);
        e->ts = ts;
        e->type = (uint8_t)type_of(buf);
        e->score = -1;
        const char *c = strstr(buf, "\"customer_id\":\"c-");
        e->cust = c ? (uint32_t)strtoul(c + 17, NULL, 10) - 1 : UINT32_MAX;
        e->cancel = strstr(buf, "\"action\":\"cancel\"") != NULL;
        e->complaint = strstr(buf, "\"complaint\":true") != NULL;
        e->opened = strstr(buf, "\"action\":\"opened\"") != NULL;
        e->nps = strstr(buf, "\"kind\":\"nps\"") != NULL;
        const char *s = strstr(buf, "\"score\":");
        if (s) e->score = (int8_t)atoi(s + 8);
        const char *a = strstr(buf, "\"amount\":");
        if (a) e->amount = strtod(a + 9, NULL);
        static const char *const segs[] = {"consumer\"", "smb\"", "midmarket\"", "enterprise\""};
        const char *sg = strstr(buf, "\"segment\":\"");
        e->seg = -1;
        for (int i = 0; sg && i < 4; i++)
            if (strncmp(sg + 11, segs[i], strlen(segs[i])) == 0) e->seg = i;
        const char *p = strstr(buf, "\"product\":\"");
        if (p) e->product = atoi(strchr(p + 11, '-') + 1);
    }
    cr_assert_eq(rc, 0);

    char *text = NULL;
    size_t tlen = 0;
    FILE *f = open_memstream(&text, &tlen);
    cr_assert_eq(ks_gen_write_labels(g, f), 0);
    fclose(f);
    r->lab = calloc(customers, sizeof *r->lab);
    parse_labels(r, text);
    free(text);
    ks_gen_stats st;
    ks_gen_get_stats(g, &st);
    cr_assert_eq(st.churners, r->churners);
    ks_gen_free(g);
}

static void run_free(run *r)
{
    free(r->ev);
    free(r->lab);
}

Test(gen, label_file_and_churn_fraction, .timeout = 120)
{
    const double fractions[] = {0.0, 0.1, 0.3};
    for (int k = 0; k < 3; k++) {
        run r;
        run_model(&r, 100 + (uint64_t)k, 3000, 60, fractions[k]);
        double got = (double)r.churners / 3000.0;
        /* Binomial sd at 0.3 is 0.0084; 0.03 is over 3.5 sd. */
        cr_assert(got >= fractions[k] - 0.03 && got <= fractions[k] + 0.03,
                  "churn fraction %.4f, asked for %.2f", got, fractions[k]);
        int64_t end = r.o.start_ms + 60 * DAY;
        for (uint32_t i = 0; i < 3000; i++) {
            const label *l = &r.lab[i];
            if (!l->churner) continue;
            cr_assert(l->drift >= r.o.start_ms && l->drift <= l->churn && l->churn < end &&
                          (l->drift < l->churn || !l->cancel),
                      "customer %u: drift %lld churn %lld", i + 1, (long long)l->drift,
                      (long long)l->churn);
        }
        run_free(&r);
    }
}

Test(gen, churn_ends_as_labelled, .timeout = 120)
{
    run r;
    run_model(&r, 7, 3000, 90, 0.15);
    uint32_t n = r.o.customers;
    int64_t *last = malloc(n * sizeof *last);
    int64_t *cancel_at = malloc(n * sizeof *cancel_at);
    for (uint32_t i = 0; i < n; i++)
        last[i] = cancel_at[i] = INT64_MIN;
    for (size_t k = 0; k < r.n; k++) {
        const sev *e = &r.ev[k];
        if (e->cust == UINT32_MAX) continue;
        cr_assert_lt(e->cust, n);
        last[e->cust] = e->ts;
        if (e->type == KS_EV_SUBSCRIPTION && e->cancel) {
            cr_assert(r.lab[e->cust].churner, "non-churner c-%06u cancelled", e->cust + 1);
            cr_assert_eq(cancel_at[e->cust], INT64_MIN, "cancelled twice");
            cancel_at[e->cust] = e->ts;
        }
    }
    uint32_t cancels = 0, silents = 0;
    for (uint32_t i = 0; i < n; i++) {
        const label *l = &r.lab[i];
        if (!l->churner) continue;
        if (l->cancel) {
            cancels++;
            cr_assert_eq(cancel_at[i], l->churn, "c-%06u: cancel at %lld, label %lld", i + 1,
                         (long long)cancel_at[i], (long long)l->churn);
            cr_assert_eq(last[i], l->churn, "c-%06u has events after its cancel", i + 1);
        } else {
            silents++;
            cr_assert_eq(cancel_at[i], INT64_MIN);
            if (last[i] != INT64_MIN)
                cr_assert_eq(last[i], l->churn, "c-%06u: last event %lld, label %lld", i + 1,
                             (long long)last[i], (long long)l->churn);
        }
    }
    cr_assert_gt(cancels, silents, "most churners should cancel (%u cancel, %u silent)", cancels,
                 silents);
    cr_assert_gt(silents, 0);
    free(last);
    free(cancel_at);
    run_free(&r);
}

Test(gen, churners_fade_and_sour, .timeout = 120)
{
    run r;
    run_model(&r, 21, 4000, 120, 0.15);
    uint32_t n = r.o.customers;
    int64_t start = r.o.start_ms, end = start + 120 * DAY;
    /* Customers who existed at the start (no signup event) are compared over
     * [start, start+14d) against the 14 days before churn (churners) or before
     * the end (others). */
    char *joined = calloc(n, 1);
    for (size_t k = 0; k < r.n; k++)
        if (r.ev[k].type == KS_EV_SIGNUP) joined[r.ev[k].cust] = 1;
    double first[2] = {0}, lastw[2] = {0};
    uint64_t tickets[2] = {0}, compl [2] = {0}, nps_n[2] = {0};
    double nps_sum[2] = {0};
    for (size_t k = 0; k < r.n; k++) {
        const sev *e = &r.ev[k];
        if (e->cust == UINT32_MAX || joined[e->cust]) continue;
        const label *l = &r.lab[e->cust];
        if (l->churner && l->churn - start < 28 * DAY) continue; /* windows would overlap */
        int c = l->churner;
        int64_t stop = c ? l->churn : end;
        if (e->ts < start + 14 * DAY) first[c]++;
        if (e->ts >= stop - 14 * DAY && e->ts < stop) lastw[c]++;
        /* Dissatisfaction: churners during their drift vs everyone else. */
        int in_drift = c && e->ts >= l->drift;
        if (c && !in_drift) continue;
        if (e->type == KS_EV_SURVEY && e->nps) {
            nps_n[c]++;
            nps_sum[c] += e->score;
        }
    }
    /* Complaint share among opened tickets (the flag is only on opened). */
    for (size_t k = 0; k < r.n; k++) {
        const sev *e = &r.ev[k];
        if (e->type != KS_EV_TICKET || !e->opened) continue;
        const label *l = &r.lab[e->cust];
        if (l->churner && e->ts < l->drift) continue;
        tickets[l->churner]++;
        compl [l->churner] += e->complaint;
    }
    cr_assert_gt(first[1], 100, "too few churner events to judge");
    double churn_ratio = lastw[1] / first[1], stay_ratio = lastw[0] / first[0];
    double cshare = (double)compl [1] / tickets[1], sshare = (double)compl [0] / tickets[0];
    double cnps = nps_sum[1] / nps_n[1], snps = nps_sum[0] / nps_n[0];
    cr_log_info("activity ratio churners %.3f others %.3f; complaint share %.3f vs %.3f; "
                "NPS score %.2f vs %.2f",
                churn_ratio, stay_ratio, cshare, sshare, cnps, snps);
    cr_assert_lt(churn_ratio, 0.7, "churners' last-14-day activity / first 14 days = %.3f",
                 churn_ratio);
    cr_assert(stay_ratio > 0.85 && stay_ratio < 1.15,
              "non-churners' last-14-day activity / first 14 days = %.3f", stay_ratio);
    cr_assert_gt(cshare, sshare * 1.2, "complaint share: drifting %.3f vs others %.3f", cshare,
                 sshare);
    cr_assert_lt(cnps, snps - 1.0, "mean NPS score: drifting %.2f vs others %.2f", cnps, snps);
    free(joined);
    run_free(&r);
}

static int cmp_desc(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

Test(gen, heavy_tails_and_segments, .timeout = 120)
{
    run r;
    run_model(&r, 5, 3000, 60, 0.0);
    uint32_t n = r.o.customers;
    uint32_t *per = calloc(n, sizeof *per);
    uint64_t total = 0, prod_count[31] = {0}, purchases = 0, seg_n[4] = {0};
    double seg_sum[4] = {0};
    for (size_t k = 0; k < r.n; k++) {
        const sev *e = &r.ev[k];
        if (e->cust == UINT32_MAX) continue;
        per[e->cust]++;
        total++;
        if (e->type == KS_EV_PURCHASE) {
            cr_assert(e->seg >= 0);
            seg_sum[e->seg] += e->amount;
            seg_n[e->seg]++;
            cr_assert(e->product >= 1 && e->product <= 30);
            prod_count[e->product]++;
            purchases++;
        }
    }
    qsort(per, n, sizeof *per, cmp_desc);
    uint64_t top = 0;
    for (uint32_t i = 0; i < n / 10; i++)
        top += per[i];
    double top_share = (double)top / (double)total;
    /* Equal rates would give about 0.10 (plus Poisson noise). */
    cr_log_info("top 10%% customers: %.3f of events; top product rank share %.3f; mean order "
                "consumer %.2f enterprise %.2f",
                top_share, (double)prod_count[1] / (double)purchases, seg_sum[0] / seg_n[0],
                seg_sum[3] / seg_n[3]);
    cr_assert_gt(top_share, 0.25, "top 10%% of customers make %.3f of events", top_share);
    double p1 = (double)prod_count[1] / (double)purchases;
    cr_assert_gt(p1, 3.0 / 30.0, "most popular product rank has share %.3f", p1);
    cr_assert_gt(prod_count[1], prod_count[30] * 5);
    for (int sgi = 0; sgi < 4; sgi++)
        cr_assert_gt(seg_n[sgi], 50, "segment %d has %llu purchases", sgi,
                     (unsigned long long)seg_n[sgi]);
    double consumer = seg_sum[0] / seg_n[0], enterprise = seg_sum[3] / seg_n[3];
    cr_assert_gt(enterprise, 5 * consumer, "mean order: enterprise %.2f, consumer %.2f", enterprise,
                 consumer);
    free(per);
    run_free(&r);
}
