/* Pipeline benchmarks: the engine on one core, memory per customer, and the
 * Kafka side (preload + raw librdkafka consume rate). bench/run.sh drives the
 * modes and adds the end-to-end run of the kpistream binary into Redis.
 *
 *   bench_pipeline engine [--events N] [--customers C] [--partitions P]
 *                         [--days D [--activity A]] [--runs K] [--only engine]
 *       Generates N events (ks_gen, C customers) into one buffer + offsets, then
 *       times, on this thread: a memchr scan (memory-bandwidth floor), stock
 *       cJSON parse+delete, ks_event_parse (prescan + cJSON + validation), and
 *       ks_engine_process over all of them (P = 64 partitions by customer hash,
 *       event clock, wall clock far ahead, a tick every 10k events), then one
 *       ks_engine_build_flush over the whole state (first flush: all dirty).
 *       --runs K: the engine pass K times (fresh each time), the best reported;
 *       --only engine: that pass alone; --read-runs R: each chunk of P x R
 *       consecutive events applied partition by partition (in order within
 *       each), as the source hands over a partition's fetched messages in a
 *       run while it is warm (a catch-up's runs are about 100), instead of in
 *       time order across partitions (R 1, the default).
 *       With --days: every event of a D-day timeline (activity A, seed 7: the
 *       catch-up part's stream), or its first N with --events; the long
 *       history's day boundaries and window slides without Kafka or Redis.
 *   bench_pipeline memory [--customers C]
 *       C distinct customers, one signup + one purchase each, over 8
 *       partitions: ks_engine_memory()/C after a first flush (with what it
 *       remembers of the hashes it wrote) and RSS delta/C before it, then the
 *       same events through bare ks_pstate tables for a per-structure breakdown.
 *   bench_pipeline kafka --brokers B --topic T [--partitions P] [--events N] [--customers C]
 *       Produces the same N events keyed by customer_id (linger.ms=50,
 *       batch.num.messages=10000), waits for every delivery, checks that the
 *       partitions hold exactly N messages from offset 0, then consumes them
 *       with a bare librdkafka consumer (all partitions assigned at the
 *       beginning, messages counted and dropped) to give the baseline rate.
 *
 * Besides human-readable lines, every figure run.sh summarises is printed as
 * "RESULT <name> <value>". Figures depend on the machine and on whatever else
 * runs on it: read them as orders of magnitude. */
#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/event.h"
#include "kpistream/gen.h"
#include "kpistream/hash.h"
#include "kpistream/log.h"
#include "state/state.h"

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_state.h"

#define BENCH_TOPIC "bench-events"
#define BENCH_ENGINE_PARTITIONS_MAX 256 /* partition numbers are stored as uint8_t */
#define BENCH_MEMORY_PARTITIONS 8
#define BENCH_TICK_EVERY 10000
/* Wall clock "far ahead" (2100-01-01): no generated event is in its future,
 * and in event-clock mode nothing else reads it. */
#define BENCH_WALL_MS 4102444800000LL

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_pipeline: %s\n", what);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) die("out of memory");
    return p;
}

static volatile uint64_t g_sink; /* keeps results alive */

/* ------------------------------------------------------------------ */
/* The event set: every message in one buffer, with offsets.           */

typedef struct evset {
    char *buf; /* values, back to back (not NUL-separated) */
    size_t len, cap;
    char *keys; /* Kafka keys, back to back */
    size_t klen, kcap;
    size_t *voff; /* [n+1]: value i is buf[voff[i] .. voff[i+1]) */
    size_t *koff; /* [n+1] */
    size_t n;
    uint32_t customers_planned;
    double days;
} evset;

static void append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n > *cap) {
        size_t ncap = *cap ? *cap : 1 << 20;
        while (ncap < *len + n)
            ncap *= 2;
        char *nb = realloc(*buf, ncap);
        if (!nb) die("out of memory");
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
}

/* Appends offset v to an offset array of n entries (room grows by doubling). */
static void push_off(size_t **arr, size_t *cap, size_t n, size_t v)
{
    if (n == *cap) {
        *cap = *cap ? *cap * 2 : 1 << 16;
        size_t *na = realloc(*arr, *cap * sizeof *na);
        if (!na) die("out of memory");
        *arr = na;
    }
    (*arr)[n] = v;
}

/* Runs one generator over its timeline into es, at most n events; returns
 * whether it reached n. */
static bool evset_fill(evset *es, const ks_gen_opts *o, size_t n, size_t *offcap)
{
    ks_gen *g = ks_gen_new(o);
    if (!g) die("ks_gen_new failed (bad --customers?)");
    es->len = es->klen = es->n = 0;
    char ev[KS_GEN_MAX_EVENT];
    size_t len, keylen;
    const char *key;
    int64_t ts;
    while (es->n < n && ks_gen_next(g, ev, sizeof ev, &len, &key, &keylen, &ts) == 1) {
        size_t cap = *offcap;
        push_off(&es->voff, &cap, es->n, es->len);
        push_off(&es->koff, offcap, es->n, es->klen);
        append(&es->buf, &es->len, &es->cap, ev, len);
        append(&es->keys, &es->klen, &es->kcap, key, keylen);
        es->n++;
    }
    ks_gen_free(g);
    size_t cap = *offcap;
    push_off(&es->voff, &cap, es->n, es->len);
    push_off(&es->koff, offcap, es->n, es->klen);
    return es->n == n;
}

/* Fills es for a population of customers. Without days: exactly n events,
 * the generator's timeline sized from its observed rate (~1.7 events per
 * customer-day at the default activity) and doubled if it runs out first.
 * With days (> 0): the whole timeline of that many days at that activity
 * (0: the generator's default), seed 7 as bench/run.sh's catch-up, at most
 * n events: the long-history shape without Kafka or Redis. */
static void evset_generate(evset *es, size_t n, uint32_t customers, double days, double activity)
{
    memset(es, 0, sizeof *es);
    size_t offcap = 0;
    ks_gen_opts o;
    ks_gen_opts_init(&o); /* seed 1, start 2026-01-01, no duplicates */
    o.customers = customers;
    if (days > 0) {
        o.seed = 7;
        o.days = days;
        if (activity > 0) o.activity = activity;
        evset_fill(es, &o, n, &offcap);
    } else {
        days = (double)n / ((double)customers * 1.5);
        if (days < 0.5) days = 0.5;
        for (;;) {
            o.days = days;
            if (evset_fill(es, &o, n, &offcap)) break;
            days *= 2;
        }
    }
    es->customers_planned = customers;
    es->days = days;
}

static void evset_free(evset *es)
{
    free(es->buf);
    free(es->keys);
    free(es->voff);
    free(es->koff);
}

static inline const char *ev_val(const evset *es, size_t i, size_t *len)
{
    *len = es->voff[i + 1] - es->voff[i];
    return es->buf + es->voff[i];
}

static inline const char *ev_key(const evset *es, size_t i, size_t *len)
{
    *len = es->koff[i + 1] - es->koff[i];
    return es->keys + es->koff[i];
}

/* ------------------------------------------------------------------ */
/* Options                                                             */

typedef struct opts {
    size_t events;
    bool events_set; /* --events given */
    uint32_t customers;
    const char *brokers;
    const char *topic;
    int partitions;
    double days;     /* engine mode: a whole timeline of this many days (0: sized by --events) */
    double activity; /* with days: the generator's median sessions per customer per day */
    int runs;        /* engine mode: passes of the engine, the best reported */
    bool only_engine; /* engine mode: the engine pass alone (no parser or flush parts) */
    int read_runs;    /* engine mode: events of a partition applied in runs of this many */
} opts;

static void parse_opts(int argc, char **argv, opts *o)
{
    o->events = 1000000;
    o->customers = 300000;
    o->brokers = NULL;
    o->topic = BENCH_TOPIC;
    o->partitions = 64;
    o->runs = 1;
    o->read_runs = 1;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("option without a value");
        if (strcmp(a, "--events") == 0)
        {
            o->events = strtoull(v, NULL, 10);
            o->events_set = true;
        }
        else if (strcmp(a, "--customers") == 0)
            o->customers = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--brokers") == 0)
            o->brokers = v;
        else if (strcmp(a, "--topic") == 0)
            o->topic = v;
        else if (strcmp(a, "--partitions") == 0)
            o->partitions = atoi(v);
        else if (strcmp(a, "--days") == 0)
            o->days = strtod(v, NULL);
        else if (strcmp(a, "--activity") == 0)
            o->activity = strtod(v, NULL);
        else if (strcmp(a, "--runs") == 0)
            o->runs = atoi(v);
        else if (strcmp(a, "--only") == 0 && strcmp(v, "engine") == 0)
            o->only_engine = true;
        else if (strcmp(a, "--read-runs") == 0)
            o->read_runs = atoi(v);
        else
            die("unknown option");
        i++;
    }
    if (o->events == 0 || o->customers == 0 || o->partitions <= 0 || o->runs <= 0 ||
        o->read_runs <= 0)
        die("--events, --customers, --partitions, --runs and --read-runs must be positive");
}

static ks_config bench_config(void)
{
    ks_config cfg;
    if (ks_config_init_defaults(&cfg) != 0) die("ks_config_init_defaults failed");
    cfg.clock = KS_CLOCK_EVENT;
    return cfg;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f) return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
    fclose(f);
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

/* Where the state's bytes go. The engine keeps its tables private, so the
 * same events go once more through bare per-partition tables (the engine's
 * own path: parse, dedup, apply, watermark ticks; minus the clock checks,
 * which reject nothing here) whose sizes are visible. */
typedef struct breakdown_t {
    double recs, recs_used, index, ids, ids_used, dirty, dedup, tickets, windows, fixed, rolling,
        rolling_used;
    size_t dedup_used, dedup_cap, customers, series, buckets, full_buckets;
} breakdown_t;

/* Returns event i (len in *len) and its partition in *part. */
typedef const char *(*fetch_fn)(void *ctx, size_t i, size_t *len, int *part);

static void advance_watermark(ks_pstate **ps, int n);

static void breakdown(const ks_config *cfg, int nparts, size_t n, fetch_fn fetch, void *ctx,
                      breakdown_t *bd)
{
    memset(bd, 0, sizeof *bd);
    ks_engine_shared sh;
    memset(&sh, 0, sizeof sh);
    sh.cfg = cfg;
    sh.social_channel = -1;
    ks_intern_init(&sh.segments, cfg->max_segments);
    ks_intern_init(&sh.channels, cfg->max_channels);
    ks_intern_init(&sh.categories, KS_CATEGORIES_MAX);
    ks_pstate **ps = xmalloc((size_t)nparts * sizeof *ps);
    for (int p = 0; p < nparts; p++)
        if (!(ps[p] = ks_pstate_new(&sh))) die("ks_pstate_new failed");
    ks_event_parser *ep = ks_event_parser_new(cfg->max_message_bytes);
    if (!ep) die("ks_event_parser_new failed");
    for (size_t j = 0; j < n; j++) {
        size_t len;
        int p;
        const char *v = fetch(ctx, j, &len, &p);
        ks_event ev;
        ks_reject why;
        if (ks_event_parse(ep, v, len, &ev, &why) && !ks_pstate_seen(ps[p], &ev))
            ks_pstate_apply(ps[p], &ev);
        if ((j + 1) % BENCH_TICK_EVERY == 0) advance_watermark(ps, nparts);
    }
    advance_watermark(ps, nparts);
    for (int p = 0; p < nparts; p++) {
        ks_pstate *s = ps[p];
        bd->customers += s->ncust;
        bd->recs += (double)s->capcust * sizeof(ks_customer);
        bd->recs_used += (double)s->ncust * sizeof(ks_customer);
        bd->index += (double)s->index_cap * sizeof(uint32_t);
        bd->ids += s->ids_cap;
        bd->ids_used += s->ids_len;
        bd->dirty += (double)s->capdirty * sizeof(uint32_t);
        bd->dedup += (double)s->dedup.cap * sizeof(ks_u64map_slot);
        bd->dedup_used += s->dedup.used;
        bd->dedup_cap += s->dedup.cap;
        bd->tickets += (double)s->tickets.cap * sizeof(ks_u64map_slot);
        bd->fixed += sizeof *s;
        bd->rolling += (double)ks_pstate_rolling_memory(s);
        bd->rolling_used += (double)s->roll.used;
        for (int k = 0; k < 1 + sh.segments.max + sh.channels.max; k++) {
            const ks_group *g = k == 0                 ? &s->global
                                : k <= sh.segments.max ? &s->segments[k - 1]
                                                       : &s->channels[k - 1 - sh.segments.max];
            if (!g->used) continue;
            for (int w = 0; w < cfg->nwindows; w++) {
                bd->windows += (double)ks_series_memory(&g->win[w]);
                bd->series++;
                bd->buckets += g->win[w].n;
                bd->full_buckets += g->win[w].nb;
            }
        }
        ks_pstate_free(s);
    }
    free(ps);
    ks_event_parser_free(ep);
}

static void breakdown_print(const breakdown_t *bd, double per)
{
    const double M = 1048576.0;
    printf("  breakdown (allocated capacity; used in brackets), per customer and total:\n");
    printf("    customer records  : %7.1f B %8.1f MiB  (%zu B each; used %.1f B)\n", bd->recs / per,
           bd->recs / M, sizeof(ks_customer), bd->recs_used / per);
    printf("    customer index    : %7.1f B %8.1f MiB  (uint32 slots, load <= 0.7)\n",
           bd->index / per, bd->index / M);
    printf("    id arena          : %7.1f B %8.1f MiB  (used %.1f B)\n", bd->ids / per, bd->ids / M,
           bd->ids_used / per);
    printf("    dirty list        : %7.1f B %8.1f MiB\n", bd->dirty / per, bd->dirty / M);
    printf("    dedup set         : %7.1f B %8.1f MiB  (%zu event ids in %zu slots x %zu B, "
           "load %.2f)\n",
           bd->dedup / per, bd->dedup / M, bd->dedup_used, bd->dedup_cap,
           sizeof(ks_u64map_slot),
           bd->dedup_cap ? (double)bd->dedup_used / (double)bd->dedup_cap : 0.0);
    printf("    ticket table      : %7.1f B %8.1f MiB\n", bd->tickets / per, bd->tickets / M);
    printf("    window series     : %7.1f B %8.1f MiB  (%zu series, %zu non-empty buckets in "
           "%zu B entries, %zu of them with a %zu B bucket)\n",
           bd->windows / per, bd->windows / M, bd->series, bd->buckets, sizeof(ks_sbucket),
           bd->full_buckets, sizeof(ks_bucket));
    printf("    rolling lists     : %7.1f B %8.1f MiB  (pool and expiry heap; in lists %.1f B)\n",
           bd->rolling / per, bd->rolling / M, bd->rolling_used / per);
    printf("    pstate structs    : %7.1f B %8.1f MiB\n", bd->fixed / per, bd->fixed / M);
    double total = bd->recs + bd->index + bd->ids + bd->dirty + bd->dedup + bd->tickets +
                   bd->windows + bd->rolling + bd->fixed;
    printf("    total             : %7.1f B %8.1f MiB  (%zu customers)\n", total / per, total / M,
           bd->customers);
}

typedef struct memory_src {
    uint32_t customers;
    char buf[512], id[32];
} memory_src;

static size_t memory_event(char *out, size_t cap, uint32_t c, int purchase, uint32_t customers,
                           char *id, size_t idcap, size_t *idlen);

static const char *memory_fetch(void *ctx, size_t j, size_t *len, int *part)
{
    memory_src *m = ctx;
    size_t idlen;
    *len = memory_event(m->buf, sizeof m->buf, (uint32_t)(j / 2), (int)(j & 1), m->customers, m->id,
                        sizeof m->id, &idlen);
    *part = (int)(ks_hash64(m->id, idlen, 0) % BENCH_MEMORY_PARTITIONS);
    return m->buf;
}

typedef struct engine_src {
    const evset *es;
    const uint8_t *part;
} engine_src;

static const char *engine_fetch(void *ctx, size_t i, size_t *len, int *part)
{
    engine_src *m = ctx;
    *part = m->part[i];
    return ev_val(m->es, i, len);
}

/* ------------------------------------------------------------------ */
/* engine                                                              */

static int mode_engine(const opts *o)
{
    double t0 = now_s();
    evset es;
    evset_generate(&es, o->days > 0 && !o->events_set ? SIZE_MAX : o->events, o->customers, o->days,
                   o->activity);
    double tg = now_s() - t0;
    const size_t n = es.n;
    const int nparts = o->partitions;
    if (nparts > BENCH_ENGINE_PARTITIONS_MAX) die("engine mode: at most 256 partitions");
    printf("events: %zu generated in %.2f s (ks_gen, %u customers planned, %.2f simulated "
           "days), mean %.0f bytes/event, %.1f MB in one buffer\n",
           n, tg, es.customers_planned, es.days, (double)es.len / (double)n, (double)es.len / 1e6);

    /* Partition by customer hash, as a keyed producer would; fixed up front
     * so that no hashing outside the engine is timed. */
    uint8_t *part = xmalloc(n);
    for (size_t i = 0; i < n; i++) {
        size_t kl;
        const char *k = ev_key(&es, i, &kl);
        part[i] = (uint8_t)(ks_hash64(k, kl, 0) % (uint64_t)nparts);
    }

    /* The order the engine pass applies them in: chunks of nparts x
     * read_runs events, each chunk partition by partition. */
    size_t *ord = xmalloc(n * sizeof *ord);
    size_t chunk = (size_t)nparts * (size_t)o->read_runs;
    for (size_t c0 = 0, j = 0; c0 < n; c0 += chunk) {
        size_t c1 = c0 + chunk < n ? c0 + chunk : n;
        for (int p = 0; p < nparts; p++)
            for (size_t i = c0; i < c1; i++)
                if (part[i] == p)
                    ord[j++] = i;
    }

    double memchr_eps = 0, cjson_eps = 0, parse_eps = 0, a;
    if (o->only_engine)
        goto engine;
    /* 1. memchr over every byte for a byte that never occurs: the floor. */
    double best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double a0 = now_s();
        for (size_t i = 0; i < n; i++) {
            size_t l;
            const char *v = ev_val(&es, i, &l);
            g_sink += (uintptr_t)memchr(v, 0x01, l);
        }
        double b = now_s() - a0;
        if (b < best) best = b;
    }
    memchr_eps = (double)n / best;
    printf("memchr scan (floor)      : %12.0f events/s  %7.1f ns/event  %7.0f MB/s (best of 5)\n",
           memchr_eps, best * 1e9 / (double)n, (double)es.len / best / 1e6);

    /* 2. Stock cJSON: parse and free each message (malloc per node). */
    a = now_s();
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *v = ev_val(&es, i, &l);
        cJSON *j = cJSON_ParseWithLength(v, l);
        if (!j) bad++;
        g_sink += (uintptr_t)j;
        cJSON_Delete(j);
    }
    double tcj = now_s() - a;
    cjson_eps = (double)n / tcj;
    printf("cJSON parse+delete       : %12.0f events/s  %7.1f ns/event  (%zu unparsable)\n",
           cjson_eps, tcj * 1e9 / (double)n, bad);

    /* 3. ks_event_parse: prescan + cJSON into an arena + validation. */
    ks_event_parser *ep = ks_event_parser_new(65536);
    if (!ep) die("ks_event_parser_new failed");
    a = now_s();
    bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *v = ev_val(&es, i, &l);
        ks_event ev;
        ks_reject why;
        if (!ks_event_parse(ep, v, l, &ev, &why))
            bad++;
        else
            g_sink += (uint64_t)ev.ts_ms;
    }
    double tp = now_s() - a;
    parse_eps = (double)n / tp;
    ks_event_parser_free(ep);
    printf("ks_event_parse (validate): %12.0f events/s  %7.1f ns/event  (%zu rejected)\n",
           parse_eps, tp * 1e9 / (double)n, bad);

engine:
    /* 4. The engine: parse + validate + dedup + state update; the best of
     * --runs passes, each into a fresh engine (the last one is kept). */
    ks_config cfg = bench_config();
    ks_engine *e = NULL;
    size_t verdicts[3] = {0};
    size_t rss0 = 0;
    double te = 1e30;
    for (int run = 0; run < o->runs; run++) {
        if (e) ks_engine_free(e);
        char err[256];
        e = ks_engine_new(&cfg, err, sizeof err);
        if (!e) die(err);
        for (int p = 0; p < nparts; p++)
            if (ks_engine_assign(e, BENCH_TOPIC, p) != 0) die("ks_engine_assign failed");
        int64_t offset[BENCH_ENGINE_PARTITIONS_MAX] = {0};
        memset(verdicts, 0, sizeof verdicts);
        rss0 = rss_bytes();
        a = now_s();
        for (size_t j = 0; j < n; j++) {
            size_t l, i = ord[j];
            const char *v = ev_val(&es, i, &l);
            ks_reject why;
            ks_verdict vd = ks_engine_process(e, BENCH_TOPIC, part[i], offset[part[i]]++, v, l,
                                              BENCH_WALL_MS, &why);
            verdicts[vd]++;
            if ((j + 1) % BENCH_TICK_EVERY == 0) ks_engine_tick(e, BENCH_WALL_MS);
        }
        ks_engine_tick(e, BENCH_WALL_MS);
        double t = now_s() - a;
        if (t < te) te = t;
    }
    double engine_eps = (double)n / te;
    size_t rss1 = rss_bytes();
    ks_engine_stats st;
    ks_engine_stats_get(e, &st);
    size_t mem = ks_engine_memory(e);
    printf("ks_engine_process (full) : %12.0f events/s  %7.1f ns/event  (%zu accepted, %zu "
           "duplicates, %zu rejected; best of %d)\n",
           engine_eps, te * 1e9 / (double)n, verdicts[KS_ACCEPTED], verdicts[KS_DUPLICATE],
           verdicts[KS_REJECTED], o->runs);
    if (o->only_engine) {
        printf("RESULT engine_eps %.0f\n", engine_eps);
        ks_engine_free(e);
        ks_config_free(&cfg);
        free(part);
        free(ord);
        evset_free(&es);
        return 0;
    }
    printf("  parser share of engine time: %.0f%% (ks_event_parse), of which stock cJSON alone "
           "would be %.0f%%\n",
           100.0 * (1.0 / parse_eps) / (1.0 / engine_eps),
           100.0 * (1.0 / cjson_eps) / (1.0 / engine_eps));
    printf("  state: %" PRId64 " customers over %d partitions, engine accounting %.1f MiB, RSS "
           "+%.1f MiB\n",
           st.customers, nparts, (double)mem / 1048576.0, (double)(rss1 - rss0) / 1048576.0);

    /* 5. First flush: every customer dirty, every group's fields new. */
    ks_batch b;
    ks_batch_init(&b);
    fake_state fs = {0};
    a = now_s();
    int rc = fake_state_build(&fs, e, &b, BENCH_WALL_MS, cfg.prefix);
    double tf = now_s() - a;
    if (rc != 0) die("ks_engine_build_flush failed");
    printf("first build_flush        : %8.1f ms for %zu commands, %zu args, %.1f MB "
           "(%" PRId64 " dirty customers; %.2f us/customer)\n",
           tf * 1e3, b.ncmds, b.nargs, (double)b.len / 1e6, st.customers,
           tf * 1e6 / (double)(st.customers ? st.customers : 1));
    /* What the flush holds until its reply is read: the sink sends the
     * batch's RESP buffer as it is (no copy of its own). */
    size_t held = b.cap + b.capcmds * sizeof *b.cmdoff;
    printf("first flush held         : %8.1f MB (%zu B of RESP + %zu B of command offsets in use; "
           "%.0f B per dirty customer in use, %.0f B allocated)\n",
           (double)held / 1e6, b.len, b.ncmds * sizeof *b.cmdoff,
           (double)(b.len + b.ncmds * sizeof *b.cmdoff) / (double)(st.customers ? st.customers : 1),
           (double)held / (double)(st.customers ? st.customers : 1));
    /* The same flush built again after it failed (every customer whole, as
     * after a lost reply), into the buffer the first one grew: the build's
     * own cost, without the first touch of ~60 MB of new pages that the
     * first build pays. Best of three. */
    double tr = 1e30;
    for (int k = 0; k < 3; k++) {
        ks_engine_flush_sent(e);
        if (ks_engine_flush_failed(e) != 0) die("ks_engine_flush_failed failed");
        a = now_s();
        rc = fake_state_build(&fs, e, &b, BENCH_WALL_MS, cfg.prefix);
        double t = now_s() - a;
        if (rc != 0) die("ks_engine_build_flush failed (rebuilt)");
        if (b.ncmds < (size_t)st.customers) die("the rebuilt flush lacks customers");
        if (t < tr) tr = t;
    }
    ks_engine_flush_done(e);
    printf("rebuilt build_flush      : %8.1f ms for %zu commands, %.1f MB (%.2f us/customer; "
           "the flush again after a failure, into the grown buffer; best of 3)\n",
           tr * 1e3, b.ncmds, (double)b.len / 1e6,
           tr * 1e6 / (double)(st.customers ? st.customers : 1));
    /* Steady state: nothing changed since the last flush. */
    a = now_s();
    rc = fake_state_build(&fs, e, &b, BENCH_WALL_MS, cfg.prefix);
    double tf2 = now_s() - a;
    fake_state_free(&fs);
    printf("idle build_flush         : %8.3f ms for %zu commands (nothing changed)\n", tf2 * 1e3,
           b.ncmds);
    ks_batch_reset(&b);
    ks_engine_free(e);
    engine_src src = {&es, part};
    breakdown_t bd;
    breakdown(&cfg, nparts, n, engine_fetch, &src, &bd);
    breakdown_print(&bd, (double)st.customers);
    ks_config_free(&cfg);

    printf("RESULT events %zu\n", n);
    printf("RESULT customers %" PRId64 "\n", st.customers);
    printf("RESULT memchr_eps %.0f\n", memchr_eps);
    printf("RESULT rebuilt_flush_us_per_customer %.2f\n",
           tr * 1e6 / (double)(st.customers ? st.customers : 1));
    printf("RESULT cjson_eps %.0f\n", cjson_eps);
    printf("RESULT parse_eps %.0f\n", parse_eps);
    printf("RESULT engine_eps %.0f\n", engine_eps);
    printf("RESULT engine_rejected %zu\n", verdicts[KS_REJECTED]);
    printf("RESULT flush_ms %.1f\n", tf * 1e3);
    printf("RESULT engine_state_mib %.1f\n", (double)mem / 1048576.0);
    free(part);
    free(ord);
    evset_free(&es);
    return verdicts[KS_REJECTED] ? 1 : 0;
}

/* ------------------------------------------------------------------ */
/* memory                                                              */

/* Event j of the memory workload: customer j/2, a signup (even j) or a
 * purchase (odd j), times spread over one day starting 2026-01-01. */
static size_t memory_event(char *out, size_t cap, uint32_t c, int purchase, uint32_t customers,
                           char *id, size_t idcap, size_t *idlen)
{
    int64_t ts = 1767225600000LL + (int64_t)((double)c * 86400000.0 / customers) + purchase;
    *idlen = (size_t)snprintf(id, idcap, "c-%07u", c);
    static const char *segs[] = {"smb", "enterprise", "consumer"};
    static const char *chans[] = {"web", "app", "email", "social"};
    int n;
    if (!purchase)
        n = snprintf(out, cap,
                     "{\"event_id\":\"m-%u-s\",\"type\":\"signup\",\"customer_id\":\"%s\","
                     "\"ts\":%lld,\"segment\":\"%s\",\"channel\":\"%s\"}",
                     c, id, (long long)ts, segs[c % 3], chans[c % 4]);
    else
        n = snprintf(out, cap,
                     "{\"event_id\":\"m-%u-p\",\"type\":\"purchase\",\"customer_id\":\"%s\","
                     "\"ts\":%lld,\"channel\":\"%s\",\"order_id\":\"o-%u\",\"amount\":%u.%02u,"
                     "\"category\":\"cat-%u\",\"product\":\"sku-%u\"}",
                     c, id, (long long)ts, chans[c % 4], c, 5 + c % 200, c % 100, c % 12, c % 5000);
    return (size_t)n;
}

/* What ks_engine_tick does in event-clock mode with no partition at its end:
 * every table advances to the lowest newest-event-time (the dedup set keeps
 * ids by that clock, so skipping this would understate it). */
static void advance_watermark(ks_pstate **ps, int n)
{
    int64_t lo = INT64_MAX;
    for (int p = 0; p < n; p++)
        if (ps[p]->max_ts_ms < lo) lo = ps[p]->max_ts_ms;
    if (lo == INT64_MIN) return;
    for (int p = 0; p < n; p++)
        ks_pstate_advance(ps[p], lo);
}

static int mode_memory(const opts *o)
{
    const uint32_t C = o->customers;
    ks_config cfg = bench_config();
    char err[256], buf[512], id[32];
    size_t len, idlen;

    size_t rss0 = rss_bytes();
    ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
    if (!e) die(err);
    for (int p = 0; p < BENCH_MEMORY_PARTITIONS; p++)
        if (ks_engine_assign(e, BENCH_TOPIC, p) != 0) die("ks_engine_assign failed");
    int64_t offset[BENCH_MEMORY_PARTITIONS] = {0};
    size_t verdicts[3] = {0};
    double a = now_s();
    for (uint64_t j = 0; j < 2ULL * C; j++) {
        uint32_t c = (uint32_t)(j / 2);
        len = memory_event(buf, sizeof buf, c, (int)(j & 1), C, id, sizeof id, &idlen);
        int p = (int)(ks_hash64(id, idlen, 0) % BENCH_MEMORY_PARTITIONS);
        ks_reject why;
        verdicts[ks_engine_process(e, BENCH_TOPIC, p, offset[p]++, buf, len, BENCH_WALL_MS,
                                   &why)]++;
        if ((j + 1) % BENCH_TICK_EVERY == 0) ks_engine_tick(e, BENCH_WALL_MS);
    }
    ks_engine_tick(e, BENCH_WALL_MS);
    double t = now_s() - a;
    size_t rss1 = rss_bytes();
    ks_engine_stats st;
    ks_engine_stats_get(e, &st);
    size_t mem0 = ks_engine_memory(e);
    /* A running engine has flushed: its customers' written values
     * (src/engine/out_customer.c) count too. The flush's own buffer is
     * freed; RSS is taken before it, as that buffer would hide the rest. */
    ks_batch b;
    ks_batch_init(&b);
    fake_state fs = {0};
    if (fake_state_build(&fs, e, &b, BENCH_WALL_MS, cfg.prefix) != 0)
        die("ks_engine_build_flush failed");
    ks_engine_flush_done(e);
    ks_batch_reset(&b);
    fake_state_free(&fs);
    size_t mem = ks_engine_memory(e);
    double per_acct = (double)mem / (double)st.customers;
    double per_rss = (double)(rss1 - rss0) / (double)st.customers;
    printf("memory: %" PRId64 " customers, %llu events (%zu accepted, %zu rejected) over %d "
           "partitions in %.2f s (%.0f events/s)\n",
           st.customers, 2ULL * C, verdicts[KS_ACCEPTED], verdicts[KS_REJECTED],
           BENCH_MEMORY_PARTITIONS, t, 2.0 * C / t);
    printf("  engine accounting: %.1f MiB = %.0f bytes/customer after the first flush "
           "(%.0f before it)\n",
           (double)mem / 1048576.0, per_acct, (double)mem0 / (double)st.customers);
    printf("  RSS delta        : %.1f MiB = %.0f bytes/customer before the first flush "
           "(includes allocator slack, parser arena, untouched capacity excluded)\n",
           (double)(rss1 - rss0) / 1048576.0, per_rss);
    ks_engine_free(e);

    memory_src src;
    memset(&src, 0, sizeof src);
    src.customers = C;
    breakdown_t bd;
    breakdown(&cfg, BENCH_MEMORY_PARTITIONS, 2ULL * C, memory_fetch, &src, &bd);
    breakdown_print(&bd, (double)C);
    ks_config_free(&cfg);

    printf("RESULT mem_customers %" PRId64 "\n", st.customers);
    printf("RESULT mem_bytes_per_customer %.0f\n", per_acct);
    printf("RESULT rss_bytes_per_customer %.0f\n", per_rss);
    printf("RESULT mem_dedup_bytes_per_customer %.0f\n", bd.dedup / (double)C);
    printf("RESULT mem_records_bytes_per_customer %.0f\n", bd.recs / (double)C);
    return st.customers == (int64_t)C ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* kafka                                                               */

typedef struct dr_state {
    size_t ok, failed;
    char last_err[256];
} dr_state;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    dr_state *d = opaque;
    if (m->err) {
        d->failed++;
        snprintf(d->last_err, sizeof d->last_err, "%s", rd_kafka_err2str(m->err));
    } else {
        d->ok++;
    }
}

static void kset(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) die(err);
}

static int mode_kafka(const opts *o)
{
    if (!o->brokers) die("kafka mode needs --brokers");
    evset es;
    evset_generate(&es, o->events, o->customers, 0, 0);
    const size_t n = es.n;
    char err[512];

    /* Preload. */
    dr_state dr = {0};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kset(conf, "bootstrap.servers", o->brokers);
    kset(conf, "linger.ms", "50");
    kset(conf, "batch.num.messages", "10000");
    kset(conf, "queue.buffering.max.messages", "500000");
    kset(conf, "client.id", "bench-producer");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &dr);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!prod) die(err);
    double a = now_s();
    for (size_t i = 0; i < n; i++) {
        size_t vl, kl;
        const char *v = ev_val(&es, i, &vl);
        const char *k = ev_key(&es, i, &kl);
        for (;;) {
            rd_kafka_resp_err_t e2 =
                rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_VALUE((void *)v, vl),
                                  RD_KAFKA_V_KEY((void *)k, kl),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e2 == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (e2 != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(rd_kafka_err2str(e2));
            rd_kafka_poll(prod, 10);
        }
        rd_kafka_poll(prod, 0);
    }
    if (rd_kafka_flush(prod, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("producer flush timed out");
    double tprod = now_s() - a;
    printf("kafka preload: %zu events, %zu delivered, %zu failed in %.2f s (%.0f events/s)\n", n,
           dr.ok, dr.failed, tprod, (double)n / tprod);
    if (dr.ok != n || dr.failed) {
        fprintf(stderr, "bench_pipeline: delivery failed: %s\n", dr.last_err);
        return 1;
    }

    /* Every message must still be there (the mock drops the oldest data of
     * a partition beyond ~5 MB): low watermark 0, high watermarks sum to N. */
    int64_t total = 0;
    for (int p = 0; p < o->partitions; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e2 =
            rd_kafka_query_watermark_offsets(prod, o->topic, p, &lo, &hi, 10000);
        if (e2) die(rd_kafka_err2str(e2));
        if (lo != 0) {
            fprintf(stderr,
                    "bench_pipeline: %s[%d] starts at offset %" PRId64
                    ": the mock dropped data; use more partitions or fewer events\n",
                    o->topic, p, lo);
            return 1;
        }
        total += hi;
    }
    printf("kafka end offsets: sum %" PRId64 " over %d partitions (%s)\n", total, o->partitions,
           total == (int64_t)n ? "= N, ok" : "MISMATCH");
    rd_kafka_destroy(prod);
    if (total != (int64_t)n) return 1;

    /* Raw consume: the same consumer settings kpistream uses where they
     * matter (default fetch sizes, batch of 1000 from the consumer queue). */
    conf = rd_kafka_conf_new();
    char group[64];
    snprintf(group, sizeof group, "bench-raw-%ld", (long)getpid());
    kset(conf, "bootstrap.servers", o->brokers);
    kset(conf, "group.id", group);
    kset(conf, "enable.auto.commit", "false");
    kset(conf, "enable.partition.eof", "false");
    kset(conf, "client.id", "bench-raw-consumer");
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!cons) die(err);
    rd_kafka_poll_set_consumer(cons);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(o->partitions);
    for (int p = 0; p < o->partitions; p++)
        rd_kafka_topic_partition_list_add(l, o->topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    double t_assign = now_s();
    if (rd_kafka_assign(cons, l)) die("rd_kafka_assign failed");
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(cons);
    rd_kafka_message_t *msgs[1000];
    size_t got = 0, bytes = 0;
    double t_first = 0, last_progress = now_s();
    while (got < n) {
        ssize_t k = rd_kafka_consume_batch_queue(q, 500, msgs, 1000);
        if (k < 0) die("rd_kafka_consume_batch_queue failed");
        for (ssize_t i = 0; i < k; i++) {
            if (!msgs[i]->err) {
                if (!got) t_first = now_s();
                got++;
                bytes += msgs[i]->len;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
        if (k > 0)
            last_progress = now_s();
        else if (now_s() - last_progress > 30)
            break;
    }
    double t_end = now_s();
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
    if (got < n) {
        fprintf(stderr, "bench_pipeline: raw consumer read only %zu of %zu messages\n", got, n);
        return 1;
    }
    double raw_eps = (double)n / (t_end - t_first);
    printf("raw librdkafka consume: %zu messages, %.1f MB in %.2f s = %.0f events/s (first "
           "message to last; %.2f s from assign)\n",
           got, (double)bytes / 1e6, t_end - t_first, raw_eps, t_end - t_assign);
    printf("RESULT produce_eps %.0f\n", (double)n / tprod);
    printf("RESULT raw_eps %.0f\n", raw_eps);
    evset_free(&es);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: bench_pipeline engine|memory|kafka [--events N] [--customers C] "
              "[--brokers B] [--topic T] [--partitions P]\n",
              stderr);
        return 2;
    }
    ks_log_set_level(KS_LOG_WARN);
    opts o;
    parse_opts(argc, argv, &o);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(argv[1], "engine") == 0) return mode_engine(&o);
    if (strcmp(argv[1], "memory") == 0) return mode_memory(&o);
    if (strcmp(argv[1], "kafka") == 0) return mode_kafka(&o);
    fputs("bench_pipeline: unknown mode\n", stderr);
    return 2;
}
