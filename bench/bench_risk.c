/* Churn-risk quality against the generator's ground truth (issue 5): how
 * early and how accurately the REAL pipeline's `high` flag (and `medium` +
 * `high`) points at the customers who churn.
 *
 *   bench_risk [--customers N] [--days D] [--seed S] [--churn-fraction F]
 *              [--warmup D] [--horizon D] [--partitions P] [--population default|sparse]
 *              [--set risk.KEY=VALUE]...   (risk.model=FILE: a fitted model, issue 15)
 *
 * Pass 1 runs ks_gen to the end of its timeline only to get the label file
 * (ks_gen_write_labels() knows a silent churner's last event only once it has
 * been emitted). Pass 2 runs the same generator again (same options: byte-
 * identical events, see docs/generator.md) straight into a ks_engine: event
 * clock, P partitions by hash of the Kafka key, wall clock far ahead, a tick
 * every BR_TICK_EVERY events. Nothing in the engine is changed or copied: the
 * scores come from src/state/risk_state.c as wired, which re-scores a customer
 * at each of its events and everyone at each UTC day boundary the clock
 * crosses. A level can change only at those two moments, so sampling
 *   - the event's customer after each event (ks_engine_customer_get), and
 *   - every customer once the clock has crossed a day (ks_engine_customers_each),
 *     whether the engine moved it inside ks_engine_process() or in a tick,
 * sees every level change at the time the engine made it (one exception: when
 * the day is crossed inside ks_engine_process(), the event's own customer is
 * re-scored at the boundary and again at its event before we can look). The alerts the
 * engine would send are counted from its own flushes (the notice script's kpi:alerts entries, one
 * flush per simulated day) and cross-checked against the entries into `high`
 * seen by sampling, with the 24 h cooldown applied.
 *
 * Definitions (docs/churn-risk.md, "Quality against ground truth"):
 *   evaluation period  [start + warmup, end): before it the engine has no
 *                      28-day baseline for anyone (its state starts empty).
 *   recall @cancel     cancel churners whose cancel is in the period: level
 *                      just BEFORE their `subscription` `cancel` is fed.
 *   silent churners    (no cancel; churn_ms = their last event, in the
 *                      period): level right after their last event, level at
 *                      the first day boundary >= 7 days into the silence, and
 *                      whether they reach the level at some moment in the
 *                      silence before the engine marks them churned (30 days).
 *   a flag is right    if the customer is a labelled churner and the flagged
 *                      moment lies in [churn_ms - horizon, churn_ms + 30 d]:
 *                      the churn comes within `horizon` days, or (silent) the
 *                      customer is already gone and not yet marked churned.
 *   precision          customers at the level at some moment in the period:
 *                      share with a right flag; per alert: entries into the
 *                      level in the period that are right; simple: share of
 *                      flagged customers who are churners at all.
 *   lead time          cancel churners with a `high` moment in the `horizon`
 *                      days before the cancel: cancel - first such moment.
 *
 * Human-readable lines plus "RESULT <name> <value>" for every figure. */
#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/gen.h"
#include "kpistream/hash.h"
#include "kpistream/log.h"
#include "kpistream/risk.h"
#include "kpistream/risk_model.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fake_state.h"

#define BR_TOPIC "bench-risk"
#define BR_TICK_EVERY 1000
#define BR_WALL_MS 4102444800000LL /* 2100-01-01: no generated event is in its future */
#define BR_DAY_MS (24LL * 3600 * 1000)
#define BR_NONE INT64_MIN
#define BR_SILENT_PROBE_DAYS 7 /* silent churners: the level this far into the silence */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_risk: %s\n", what);
    exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p) die("out of memory");
    return p;
}

/* ------------------------------------------------------------------ */
/* Per customer: the label and what was observed.                      */

enum { KIND_NONE = 0, KIND_CANCEL, KIND_SILENT };

/* Flags of what a customer showed in the evaluation period, per level
 * threshold t (0 = high, 1 = medium or high). */
typedef struct cust {
    int64_t churn_ms, drift_ms; /* labels (BR_NONE for non-churners) */
    uint8_t kind;
    uint8_t level;             /* last level sampled */
    uint8_t level_cancel;      /* just before the cancel was fed (255: not seen) */
    uint8_t level_last_ev;     /* right after the customer's latest event */
    uint8_t level_probe;       /* silent: at the first day boundary >= churn + 7 d (255: none) */
    bool flagged[2];           /* at the threshold at some moment in the period */
    bool right[2];             /* ... at a moment inside the right window */
    bool silent_hit[2];        /* silent churner: at the threshold during the silence */
    int64_t first_before[2];   /* first moment at the threshold in [churn - horizon, churn) */
    int64_t first_silent_high; /* silent: first high moment after churn_ms */
    int64_t last_alert_ms;     /* sampled entries into high, 24 h cooldown applied */
    int64_t cancel_seen_ms;    /* ts of the cancel event fed (cross-check with the label) */
} cust;

typedef struct run {
    ks_config cfg;
    uint32_t ncust;
    fake_state state; /* the group state the flushes read back */
    cust *c;
    int64_t start_ms, end_ms, warm_ms, horizon_ms, inactivity_ms;
    /* entries into the level in the period, and the right ones (per threshold) */
    uint64_t entries[2], entries_right[2];
    uint64_t sampled_alerts, sampled_alerts_period; /* entries into high, cooldown applied */
    uint64_t engine_alerts, engine_alerts_period, engine_triggers;
    uint64_t unknown_ids;
    uint64_t reason_alerts[KS_RISK__COUNT]; /* engine alerts in the period naming each reason */
    uint64_t alerts_by_day[400];
} run;

/* "c-000042" -> 41; -1 for other keys (a campaign's marketing_spend). */
static int64_t cust_index(const run *r, const char *id, size_t len)
{
    if (len < 3 || id[0] != 'c' || id[1] != '-') return -1;
    int64_t n = 0;
    for (size_t i = 2; i < len; i++) {
        if (id[i] < '0' || id[i] > '9') return -1;
        n = n * 10 + (id[i] - '0');
        if (n > (int64_t)r->ncust) return -1;
    }
    return n >= 1 ? n - 1 : -1;
}

/* One sample of a customer's level at time t (the engine's evaluation time:
 * the event's ts or the day boundary). at_boundary: a day-boundary sample. */
static void observe(run *r, cust *c, int level, int64_t t, bool at_boundary)
{
    int prev = c->level;
    c->level = (uint8_t)level;
    bool in_period = t >= r->warm_ms;
    for (int k = 0; k < 2; k++) {
        int need = k == 0 ? KS_RISK_HIGH : KS_RISK_MEDIUM;
        if (level < need) continue;
        bool window = c->kind != KIND_NONE && t >= c->churn_ms - r->horizon_ms &&
                      t <= c->churn_ms + r->inactivity_ms;
        if (in_period) {
            c->flagged[k] = true;
            if (window) c->right[k] = true;
            if (prev < need) {
                r->entries[k]++;
                if (window) r->entries_right[k]++;
            }
        }
        if (c->kind != KIND_NONE && t >= c->churn_ms - r->horizon_ms && t < c->churn_ms &&
            c->first_before[k] == BR_NONE)
            c->first_before[k] = t;
        if (c->kind == KIND_SILENT && t > c->churn_ms && t <= c->churn_ms + r->inactivity_ms) {
            c->silent_hit[k] = true;
            if (k == 0 && c->first_silent_high == BR_NONE) c->first_silent_high = t;
        }
    }
    /* What the engine's alert rule would do with this entry into high. */
    if (level == KS_RISK_HIGH && prev != KS_RISK_HIGH &&
        (c->last_alert_ms == 0 || t - c->last_alert_ms >= r->cfg.risk.alert_cooldown_ms)) {
        c->last_alert_ms = t;
        r->sampled_alerts++;
        if (in_period) r->sampled_alerts_period++;
    }
    if (at_boundary && c->kind == KIND_SILENT && c->level_probe == 255 &&
        t >= c->churn_ms + BR_SILENT_PROBE_DAYS * BR_DAY_MS)
        c->level_probe = (uint8_t)level;
}

typedef struct each_ctx {
    run *r;
    int64_t t;
    int64_t skip; /* customer index not to sample (-1: none) */
} each_ctx;

static void on_customer(void *ctx, const char *id, size_t len, const ks_engine_customer *v)
{
    each_ctx *x = ctx;
    int64_t i = cust_index(x->r, id, len);
    if (i < 0) {
        x->r->unknown_ids++;
        return;
    }
    if (i == x->skip) return;
    observe(x->r, &x->r->c[i], v->level, x->t, true);
}

/* ------------------------------------------------------------------ */
/* Labels                                                              */

static void load_labels(run *r, const char *text, uint32_t *ncancel, uint32_t *nsilent)
{
    *ncancel = *nsilent = 0;
    const char *p = strchr(text, '\n'); /* header */
    if (!p || strncmp(text, "customer_id,churner,", 20) != 0) die("unexpected label header");
    p++;
    while (*p) {
        const char *eol = strchr(p, '\n');
        if (!eol) eol = p + strlen(p);
        char line[256];
        size_t n = (size_t)(eol - p);
        if (n >= sizeof line) die("label line too long");
        memcpy(line, p, n);
        line[n] = '\0';
        p = *eol ? eol + 1 : eol;
        char *f[5] = {0};
        char *s = line;
        for (int k = 0; k < 5; k++) {
            f[k] = s;
            char *comma = strchr(s, ',');
            if (!comma) {
                if (k != 4) die("label line with fewer than 5 fields");
                break;
            }
            *comma = '\0';
            s = comma + 1;
        }
        int64_t i = cust_index(r, f[0], strlen(f[0]));
        if (i < 0) die("label for an unexpected customer id");
        if (strcmp(f[1], "1") != 0) continue;
        cust *c = &r->c[i];
        c->drift_ms = strtoll(f[2], NULL, 10);
        c->churn_ms = strtoll(f[3], NULL, 10);
        if (strcmp(f[4], "cancel") == 0) {
            c->kind = KIND_CANCEL;
            (*ncancel)++;
        } else if (strcmp(f[4], "silent") == 0) {
            c->kind = KIND_SILENT;
            (*nsilent)++;
        } else {
            die("unknown churn_kind in labels");
        }
    }
}

/* ------------------------------------------------------------------ */
/* Flushes: the alerts the engine itself would send.                   */

static void count_flush(run *r, ks_engine *e, ks_batch *b)
{
    if (fake_state_build(&r->state, e, b, BR_WALL_MS, r->cfg.prefix) != 0)
        die("ks_engine_build_flush: out of memory");
    for (size_t i = 0; i < b->ncmds; i++) {
        const char *argv[64];
        size_t lens[64];
        size_t n = ks_batch_get(b, i, argv, lens, 64);
        /* A notice is an EVAL of the engine's idempotent notice script:
         * EVAL script 2 <seen> <stream> <id> <at> <channel> <json> f v ... */
        if (n < 9 || lens[0] != 4 || memcmp(argv[0], "EVAL", 4) != 0 || lens[2] != 1 ||
            argv[2][0] != '2')
            continue;
        bool alert = lens[4] >= 6 && memcmp(argv[4] + lens[4] - 6, "alerts", 6) == 0;
        if (!alert) {
            r->engine_triggers++;
            continue;
        }
        r->engine_alerts++;
        int64_t at = BR_NONE;
        const char *reasons = NULL;
        size_t rlen = 0;
        for (size_t a = 9; a + 1 < n; a += 2) {
            if (lens[a] == 2 && memcmp(argv[a], "ts", 2) == 0) at = strtoll(argv[a + 1], NULL, 10);
            if (lens[a] == 7 && memcmp(argv[a], "reasons", 7) == 0) {
                reasons = argv[a + 1];
                rlen = lens[a + 1];
            }
        }
        int64_t day = (at - r->start_ms) / BR_DAY_MS;
        if (day >= 0 && day < 400) r->alerts_by_day[day]++;
        if (at < r->warm_ms) continue;
        r->engine_alerts_period++;
        for (const char *t = reasons, *end = reasons + rlen; t && t < end;) {
            const char *comma = memchr(t, ',', (size_t)(end - t));
            size_t l = comma ? (size_t)(comma - t) : (size_t)(end - t);
            char name[32];
            snprintf(name, sizeof name, "%.*s", (int)(l < 31 ? l : 31), t);
            int code = ks_risk_reason_from_name(name);
            if (code >= 0) r->reason_alerts[code]++;
            t += l + 1;
        }
    }
    ks_engine_flush_done(e);
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* q-quantile (nearest rank below) of sorted v[n], in days; -1 if n == 0. */
static double q_days(const int64_t *v, size_t n, double q)
{
    if (!n) return -1;
    return (double)v[(size_t)(q * (double)(n - 1))] / (double)BR_DAY_MS;
}

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : 0.0;
}

/* ------------------------------------------------------------------ */

typedef struct opts {
    uint32_t customers;
    double days, churn_fraction, warmup_days, horizon_days;
    uint64_t seed;
    int partitions;
    int population;
} opts;

static void usage(void)
{
    fputs(
        "usage: bench_risk [--customers N] [--days D] [--seed S] [--churn-fraction F]\n"
        "                  [--warmup D] [--horizon D] [--partitions P] [--population default|sparse]\n"
        "                  [--set risk.KEY=VALUE]...\n",
        stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    ks_log_set_level(KS_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    run r;
    memset(&r, 0, sizeof r);
    if (ks_config_init_defaults(&r.cfg) != 0) die("ks_config_init_defaults failed");
    r.cfg.clock = KS_CLOCK_EVENT;
    opts o = {100000, 60, 0.10, 30, 30, 1, 8, KS_GEN_POP_DEFAULT};
    char err[512];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(a, "--customers"))
            o.customers = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--days"))
            o.days = strtod(v, NULL);
        else if (!strcmp(a, "--seed"))
            o.seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--churn-fraction"))
            o.churn_fraction = strtod(v, NULL);
        else if (!strcmp(a, "--warmup"))
            o.warmup_days = strtod(v, NULL);
        else if (!strcmp(a, "--horizon"))
            o.horizon_days = strtod(v, NULL);
        else if (!strcmp(a, "--partitions"))
            o.partitions = atoi(v);
        else if (!strcmp(a, "--population")) {
            if (strcmp(v, "default") && strcmp(v, "sparse")) usage();
            o.population = strcmp(v, "sparse") == 0 ? KS_GEN_POP_SPARSE : KS_GEN_POP_DEFAULT;
        }
        else if (!strcmp(a, "--set")) {
            char kv[256];
            snprintf(kv, sizeof kv, "%s", v);
            char *eq = strchr(kv, '=');
            if (!eq) usage();
            *eq = '\0';
            if (ks_config_set(&r.cfg, kv, eq + 1, err, sizeof err) != 0) die(err);
        } else
            usage();
        i++;
    }
    if (ks_config_validate(&r.cfg, err, sizeof err) != 0) die(err);
    if (o.customers == 0 || o.partitions <= 0 || o.days <= o.warmup_days || o.horizon_days <= 0)
        die("need customers > 0, partitions > 0, days > warmup, horizon > 0");

    ks_gen_opts go;
    ks_gen_opts_init(&go); /* start 2026-01-01T00:00Z: whole UTC days */
    go.seed = o.seed;
    go.customers = o.customers;
    go.days = o.days;
    go.churn_fraction = o.churn_fraction;
    go.population = o.population;
    if (ks_gen_opts_validate(&go, err, sizeof err) != 0) die(err);

    r.ncust = o.customers;
    r.c = xcalloc(o.customers, sizeof *r.c);
    r.start_ms = go.start_ms;
    r.end_ms = go.start_ms + (int64_t)(o.days * (double)BR_DAY_MS);
    r.warm_ms = go.start_ms + (int64_t)(o.warmup_days * (double)BR_DAY_MS);
    r.horizon_ms = (int64_t)(o.horizon_days * (double)BR_DAY_MS);
    r.inactivity_ms = r.cfg.churn_inactivity_ms;
    for (uint32_t i = 0; i < r.ncust; i++) {
        r.c[i].churn_ms = r.c[i].drift_ms = BR_NONE;
        r.c[i].level_cancel = r.c[i].level_probe = 255;
        r.c[i].first_before[0] = r.c[i].first_before[1] = BR_NONE;
        r.c[i].first_silent_high = BR_NONE;
    }

    /* Pass 1: the labels. */
    double t0 = now_s();
    ks_gen *g = ks_gen_new(&go);
    if (!g) die("ks_gen_new failed");
    char ev[KS_GEN_MAX_EVENT];
    size_t len, keylen;
    const char *key;
    int64_t ts;
    uint64_t gen_events = 0;
    while (ks_gen_next(g, ev, sizeof ev, &len, &key, &keylen, &ts) == 1)
        gen_events++;
    char *labels = NULL;
    size_t labels_len = 0;
    FILE *lf = open_memstream(&labels, &labels_len);
    if (!lf) die("open_memstream failed");
    if (ks_gen_write_labels(g, lf) != 0) die("ks_gen_write_labels failed");
    fclose(lf);
    ks_gen_free(g);
    uint32_t ncancel, nsilent;
    load_labels(&r, labels, &ncancel, &nsilent);
    free(labels);
    double t_pass1 = now_s() - t0;

    /* Pass 2: the same events into the engine. */
    ks_engine *e = ks_engine_new(&r.cfg, err, sizeof err);
    if (!e) die(err);
    for (int p = 0; p < o.partitions; p++)
        if (ks_engine_assign(e, BR_TOPIC, p) != 0) die("ks_engine_assign failed");
    int64_t *offsets = xcalloc((size_t)o.partitions, sizeof *offsets);
    ks_batch batch;
    ks_batch_init(&batch);
    g = ks_gen_new(&go);
    if (!g) die("ks_gen_new failed");
    uint64_t n = 0, verdicts[3] = {0}, cancels_fed = 0, cancel_mismatch = 0, flushes = 0;
    int64_t clock = INT64_MIN;
    double t_engine = 0, t_flush = 0;
    double t1 = now_s();
    while (ks_gen_next(g, ev, sizeof ev, &len, &key, &keylen, &ts) == 1) {
        int part = (int)(ks_hash64(key, keylen, 0) % (uint64_t)o.partitions);
        int64_t ci = cust_index(&r, key, keylen);
        cust *c = ci >= 0 ? &r.c[ci] : NULL;
        ks_engine_customer v;
        bool cancel = c && memmem(ev, len, "\"action\":\"cancel\"", 17) &&
                      memmem(ev, len, "\"type\":\"subscription\"", 21);
        if (cancel) {
            /* The level the engine holds just before it sees the cancel. */
            cancels_fed++;
            c->level_cancel = ks_engine_customer_get(e, key, keylen, &v) ? (uint8_t)v.level : 0;
            if (c->kind != KIND_CANCEL || c->churn_ms != ts) cancel_mismatch++;
            if (c->cancel_seen_ms == 0) c->cancel_seen_ms = ts;
        }
        double b = now_s();
        ks_reject why;
        ks_verdict vd =
            ks_engine_process(e, BR_TOPIC, part, offsets[part]++, ev, len, BR_WALL_MS, &why);
        verdicts[vd]++;
        n++;
        ks_engine_stats st;
        ks_engine_stats_get(e, &st);
        double d = now_s();
        t_engine += d - b;
        /* The engine moves its clock inside ks_engine_process() once the
         * watermark has crossed a bucket, before it applies the event: a day
         * crossed there was re-scored before this event. The event's own
         * customer was then re-scored again by its event, so its level at the
         * boundary is gone: it is sampled at the event only. */
        bool new_day = clock != INT64_MIN && clock / BR_DAY_MS != st.clock_ms / BR_DAY_MS;
        if (new_day) {
            each_ctx x = {&r, st.clock_ms / BR_DAY_MS * BR_DAY_MS, ci};
            ks_engine_customers_each(e, on_customer, &x);
        }
        clock = st.clock_ms;
        if (c && ks_engine_customer_get(e, key, keylen, &v)) {
            observe(&r, c, v.level, ts, false);
            c->level_last_ev = (uint8_t)v.level;
        }
        if (n % BR_TICK_EVERY == 0) {
            double f = now_s();
            int64_t after = ks_engine_tick(e, BR_WALL_MS);
            t_engine += now_s() - f;
            if (clock != INT64_MIN && clock / BR_DAY_MS != after / BR_DAY_MS) {
                /* The tick crossed the day: everyone re-scored after this event. */
                each_ctx x = {&r, after / BR_DAY_MS * BR_DAY_MS, -1};
                ks_engine_customers_each(e, on_customer, &x);
                new_day = true;
            }
            clock = after;
        }
        double h = now_s();
        if (new_day) {
            count_flush(&r, e, &batch);
            flushes++;
            t_flush += now_s() - h;
        }
    }
    for (int p = 0; p < o.partitions; p++)
        ks_engine_set_eof(e, BR_TOPIC, p, true);
    ks_engine_tick(e, BR_WALL_MS);
    count_flush(&r, e, &batch);
    flushes++;
    double t_pass2 = now_s() - t1;
    ks_gen_free(g);
    if (n != gen_events) die("the second generator pass differs from the first");

    /* ---------------------------------------------------------- results */
    uint64_t cancel_n = 0, cancel_high = 0, cancel_mh = 0, cancel_high30 = 0, cancel_mh30 = 0;
    uint64_t cancel_unseen = 0;
    uint64_t sil_n = 0, sil_last_high = 0, sil_last_mh = 0, sil_probe_n = 0, sil_probe_high = 0;
    uint64_t sil_probe_mh = 0, sil_hit_high = 0, sil_hit_mh = 0;
    uint64_t flagged[2] = {0}, right[2] = {0}, flagged_churner[2] = {0}, flagged_non[2] = {0};
    uint64_t non_churners = 0, churners_total = 0;
    int64_t *lead = xcalloc(r.ncust, sizeof *lead), *sil_delay = xcalloc(r.ncust, sizeof *lead);
    size_t nlead = 0, nsil_delay = 0;
    for (uint32_t i = 0; i < r.ncust; i++) {
        cust *c = &r.c[i];
        if (c->kind == KIND_NONE)
            non_churners++;
        else
            churners_total++;
        for (int k = 0; k < 2; k++) {
            if (!c->flagged[k]) continue;
            flagged[k]++;
            if (c->right[k]) right[k]++;
            if (c->kind != KIND_NONE)
                flagged_churner[k]++;
            else
                flagged_non[k]++;
        }
        if (c->kind == KIND_NONE || c->churn_ms < r.warm_ms) continue;
        if (c->kind == KIND_CANCEL) {
            cancel_n++;
            if (c->level_cancel == 255) {
                cancel_unseen++;
                continue;
            }
            cancel_high += c->level_cancel == KS_RISK_HIGH;
            cancel_mh += c->level_cancel >= KS_RISK_MEDIUM;
            cancel_high30 += c->first_before[0] != BR_NONE;
            cancel_mh30 += c->first_before[1] != BR_NONE;
            if (c->first_before[0] != BR_NONE) lead[nlead++] = c->churn_ms - c->first_before[0];
        } else {
            sil_n++;
            sil_last_high += c->level_last_ev == KS_RISK_HIGH;
            sil_last_mh += c->level_last_ev >= KS_RISK_MEDIUM;
            if (c->level_probe != 255) {
                sil_probe_n++;
                sil_probe_high += c->level_probe == KS_RISK_HIGH;
                sil_probe_mh += c->level_probe >= KS_RISK_MEDIUM;
            }
            sil_hit_high += c->silent_hit[0];
            sil_hit_mh += c->silent_hit[1];
            if (c->first_silent_high != BR_NONE)
                sil_delay[nsil_delay++] = c->first_silent_high - c->churn_ms;
        }
    }
    qsort(lead, nlead, sizeof *lead, cmp_i64);
    qsort(sil_delay, nsil_delay, sizeof *sil_delay, cmp_i64);
    double period_days = (double)(r.end_ms - r.warm_ms) / (double)BR_DAY_MS;

    printf("risk quality: %u customers, %" PRIu64 " churners (%u cancel, %u silent), %.0f days,"
           " seed %" PRIu64 ", %d partitions\n",
           r.ncust, churners_total, ncancel, nsilent, o.days, o.seed, o.partitions);
    if (r.cfg.risk.model)
        printf("  scorer: fitted model %s (its thresholds below)\n", r.cfg.risk_model_path);
    printf("  population: %s\n", o.population == KS_GEN_POP_SPARSE ? "sparse" : "default");
    printf("  thresholds: high %d/%d, medium %d/%d; evaluation period: days %.0f-%.0f; "
           "horizon %.0f d\n",
           r.cfg.risk.model ? r.cfg.risk.model->high_enter : r.cfg.risk.high_enter,
           r.cfg.risk.model ? r.cfg.risk.model->high_exit : r.cfg.risk.high_exit,
           r.cfg.risk.model ? r.cfg.risk.model->medium_enter : r.cfg.risk.medium_enter,
           r.cfg.risk.model ? r.cfg.risk.model->medium_exit : r.cfg.risk.medium_exit, o.warmup_days, o.days, o.horizon_days);
    printf("  events: %" PRIu64 " (accepted %" PRIu64 ", duplicates %" PRIu64 ", rejected %" PRIu64
           "); cancels fed %" PRIu64 ", label mismatches %" PRIu64 "\n",
           n, verdicts[KS_ACCEPTED], verdicts[KS_DUPLICATE], verdicts[KS_REJECTED], cancels_fed,
           cancel_mismatch);
    printf("cancel churners in the period: %" PRIu64 " (level before the cancel unseen: %" PRIu64
           ")\n",
           cancel_n, cancel_unseen);
    printf("  high        @cancel: recall %.3f   high at some moment in the %.0f d before: %.3f\n",
           ratio(cancel_high, cancel_n), o.horizon_days, ratio(cancel_high30, cancel_n));
    printf(
        "  medium+high @cancel: recall %.3f   medium+ at some moment in the %.0f d before: %.3f\n",
        ratio(cancel_mh, cancel_n), o.horizon_days, ratio(cancel_mh30, cancel_n));
    printf("  lead time (cancel - first high moment in the %.0f d before; %zu churners): "
           "median %.1f d, quartiles %.1f / %.1f d\n",
           o.horizon_days, nlead, q_days(lead, nlead, 0.5), q_days(lead, nlead, 0.25),
           q_days(lead, nlead, 0.75));
    printf("silent churners in the period: %" PRIu64 "\n", sil_n);
    printf("  high        : after last event %.3f, %d d into the silence %.3f (of %" PRIu64
           "), during the silence %.3f\n",
           ratio(sil_last_high, sil_n), BR_SILENT_PROBE_DAYS, ratio(sil_probe_high, sil_probe_n),
           sil_probe_n, ratio(sil_hit_high, sil_n));
    printf("  medium+high : after last event %.3f, %d d into the silence %.3f, during the silence "
           "%.3f\n",
           ratio(sil_last_mh, sil_n), BR_SILENT_PROBE_DAYS, ratio(sil_probe_mh, sil_probe_n),
           ratio(sil_hit_mh, sil_n));
    printf("  days into the silence until high: median %.1f, quartiles %.1f / %.1f (%zu)\n",
           q_days(sil_delay, nsil_delay, 0.5), q_days(sil_delay, nsil_delay, 0.25),
           q_days(sil_delay, nsil_delay, 0.75), nsil_delay);
    const char *names[2] = {"high       ", "medium+high"};
    for (int k = 0; k < 2; k++)
        printf("precision %s: %" PRIu64 " customers flagged in the period; churn within %.0f d "
               "(or silent) %.3f; any churner %.3f; per entry %.3f (%" PRIu64
               " entries); %.2f %% of non-churners flagged\n",
               names[k], flagged[k], o.horizon_days, ratio(right[k], flagged[k]),
               ratio(flagged_churner[k], flagged[k]), ratio(r.entries_right[k], r.entries[k]),
               r.entries[k], 100.0 * ratio(flagged_non[k], non_churners));
    printf("alerts: engine %" PRIu64 " (%" PRIu64 " in the period = %.0f a day), sampled entries "
           "into high with cooldown %" PRIu64 " (%" PRIu64 " in the period)%s; triggers %" PRIu64
           "\n",
           r.engine_alerts, r.engine_alerts_period, (double)r.engine_alerts_period / period_days,
           r.sampled_alerts, r.sampled_alerts_period,
           r.engine_alerts == r.sampled_alerts ? " = engine" : " != ENGINE", r.engine_triggers);
    printf("  reasons named by the alerts in the period:");
    for (int k = 0; k < KS_RISK__COUNT; k++)
        if (r.reason_alerts[k])
            printf(" %s %.2f", ks_risk_reason_name((ks_risk_reason)k),
                   ratio(r.reason_alerts[k], r.engine_alerts_period));
    printf("\n  engine alerts per day, by 10-day block:");
    for (int d0 = 0; d0 < (int)o.days && d0 < 400; d0 += 10) {
        uint64_t s = 0;
        int d1 = d0;
        for (; d1 < d0 + 10 && d1 < (int)o.days && d1 < 400; d1++)
            s += r.alerts_by_day[d1];
        printf(" %.0f", (double)s / (double)(d1 - d0));
    }
    printf("\n");
    printf("time: labels pass %.1f s; engine pass %.1f s = %.0f events/s (engine process+tick "
           "%.1f s = %.0f events/s; %" PRIu64 " flush builds %.1f s; generator and sampling "
           "%.1f s)\n",
           t_pass1, t_pass2, (double)n / t_pass2, t_engine, (double)n / t_engine, flushes, t_flush,
           t_pass2 - t_engine - t_flush);
    if (r.unknown_ids)
        printf("  note: %" PRIu64 " samples of unknown customer ids\n", r.unknown_ids);

    printf("RESULT customers %u\n", r.ncust);
    printf("RESULT churners %" PRIu64 "\n", churners_total);
    printf("RESULT recall_high %.3f\n", ratio(cancel_high, cancel_n));
    printf("RESULT recall_mh %.3f\n", ratio(cancel_mh, cancel_n));
    printf("RESULT high_before_cancel %.3f\n", ratio(cancel_high30, cancel_n));
    printf("RESULT precision_high %.3f\n", ratio(right[0], flagged[0]));
    printf("RESULT precision_high_any %.3f\n", ratio(flagged_churner[0], flagged[0]));
    printf("RESULT precision_high_entry %.3f\n", ratio(r.entries_right[0], r.entries[0]));
    printf("RESULT precision_mh %.3f\n", ratio(right[1], flagged[1]));
    printf("RESULT lead_median_days %.1f\n", q_days(lead, nlead, 0.5));
    printf("RESULT silent_high_during_silence %.3f\n", ratio(sil_hit_high, sil_n));
    printf("RESULT alerts %" PRIu64 "\n", r.engine_alerts);
    printf("RESULT alerts_period %" PRIu64 "\n", r.engine_alerts_period);
    printf("RESULT events_per_s %.0f\n", (double)n / t_pass2);
    printf("RESULT engine_events_per_s %.0f\n", (double)n / t_engine);

    free(lead);
    free(sil_delay);
    free(offsets);
    ks_batch_reset(&batch);
    ks_engine_free(e);
    fake_state_free(&r.state);
    ks_config_free(&r.cfg);
    free(r.c);
    return 0;
}
