/* Restore benchmark: how long taking over a partition of C customers takes.
 *
 * A newly assigned partition is restored by replaying it from its start up to
 * the offset stored in Redis (docs/reliability.md). That time is the sum or the
 * max of two costs: fetching the partition from Kafka (librdkafka's fetch
 * thread) and applying every message in the engine (the main thread); they
 * overlap when both threads have a core. librdkafka's mock broker keeps only
 * ~5 MB of a partition, so a partition of a million customers (~1.8 GB for 7
 * days) cannot be served whole. The two costs are measured apart, in one run:
 *
 *   1. replay (measured): the generator's events of exactly C distinct
 *      customers, D days (default 7, Kafka's default retention), are held in
 *      memory as one partition; then ks_engine_assign +
 *      ks_engine_set_restore_point(N) + ks_engine_process of offsets 0..N-1
 *      (every one a replay), a tick after every 1000 messages as the run loop
 *      does after each poll, until ks_engine_restoring() is false. The state
 *      is then checked against the events: C customers, N accepted, each
 *      customer's last_event_ms equal to its last event's ts.
 *   2. fetch (measured on a sample, derived for the partition): with
 *      --brokers, the first ~4 MB of the same messages go into one partition
 *      of the broker, and a bare librdkafka consumer (bench_pipeline's raw
 *      consume: batches of up to 1000 from the consumer queue, default fetch
 *      sizes) reads that partition from its beginning, --passes times, a new
 *      consumer each time. The median time from assign to the last message
 *      gives per-byte and per-message rates (a start included); the
 *      partition's bytes at the slower of the two, plus the slowest start
 *      seen, give its fetch time.
 *
 * Which customers form the partition: the generator's population is planned
 * ~6 % larger than C; of the customers that have at least one event on the
 * timeline, the C with the lowest ks_hash64(customer_id) are kept with all
 * their events, as a keyed producer's hash partitioner would group them.
 * marketing_spend events (keyed by campaign, no customer) are left out.
 *
 *   3. from a snapshot (measured): a second engine replays offsets 0..S-1,
 *      S = N minus a tail of --tail-fraction of the messages (default 0.5 %,
 *      ~50 minutes of 7 days), and writes its snapshot (src/engine/
 *      engine_snap.c) to --snapshot-dir, timed (the work a snapshot child
 *      does). Then a third engine restores as a restart would: restore
 *      point N, the snapshot loaded (mmap + ks_engine_snapshot_load),
 *      offsets S..N-1 replayed, until ks_engine_restoring() is false; the
 *      same checks as 1.
 *   4. fork stall (measured, last): fork()'s cost grows with the process's
 *      resident memory, so it is timed once the generated messages are
 *      freed (but for a copy of the tail) and the heap trimmed: the process
 *      then holds the second engine's state, as `kpistream run` holding
 *      that partition would (its RSS is printed with the figure). 9 times:
 *      fork as the run loop does, the child writes the snapshot and exits,
 *      the parent consumes the next ninth of the tail meanwhile (its writes
 *      are what copy-on-write copies; timed too).
 *
 *   bench_restore [--customers C] [--days D] [--seed S] [--clock wall|event]
 *                 [--brokers B --topic T] [--passes K] [--fetch-bytes BYTES]
 *                 [--tail-fraction F] [--snapshot-dir DIR|none]
 *
 * Every figure bench/run.sh summarises is also printed as "RESULT <name> <value>". */
#include "kpistream/bigalloc.h"
#include "kpistream/clock.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/gen.h"
#include "kpistream/hash.h"
#include "kpistream/log.h"

#include <librdkafka/rdkafka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BENCH_TOPIC "bench-restore"
#define BENCH_BATCH 1000 /* messages between ticks: kpistream's default poll batch */
#define DAY_MS 86400000LL

static void die(const char *what)
{
    fprintf(stderr, "bench_restore: %s\n", what);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) die("out of memory");
    return p;
}

static double secs_since(int64_t t0_ns)
{
    return (double)(ks_mono_ns() - t0_ns) / 1e9;
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

typedef struct opts {
    uint32_t customers;
    double days;
    uint64_t seed;
    ks_clock_mode clock;
    const char *brokers, *topic;
    int passes;
    size_t fetch_bytes;
    double tail_fraction; /* 3.: messages after the snapshot, as a fraction of the partition */
    const char *snap_dir; /* 3.: where the snapshot file goes; NULL: part 3 skipped */
} opts;

static void parse_opts(int argc, char **argv, opts *o)
{
    o->customers = 1000000;
    o->days = 7;
    o->seed = 1;
    o->clock = KS_CLOCK_WALL; /* kpistream's default */
    o->brokers = NULL;
    o->topic = BENCH_TOPIC;
    o->passes = 21;
    o->fetch_bytes = 4000000; /* under the mock's ~5 MB per partition */
    o->tail_fraction = 0.005;   /* ~50 minutes of 7 days */
    o->snap_dir = "/tmp";
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) die("option without a value");
        if (strcmp(a, "--customers") == 0)
            o->customers = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--days") == 0)
            o->days = strtod(v, NULL);
        else if (strcmp(a, "--seed") == 0)
            o->seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--clock") == 0 && strcmp(v, "wall") == 0)
            o->clock = KS_CLOCK_WALL;
        else if (strcmp(a, "--clock") == 0 && strcmp(v, "event") == 0)
            o->clock = KS_CLOCK_EVENT;
        else if (strcmp(a, "--brokers") == 0)
            o->brokers = v;
        else if (strcmp(a, "--topic") == 0)
            o->topic = v;
        else if (strcmp(a, "--passes") == 0)
            o->passes = atoi(v);
        else if (strcmp(a, "--fetch-bytes") == 0)
            o->fetch_bytes = strtoull(v, NULL, 10);
        else if (strcmp(a, "--tail-fraction") == 0)
            o->tail_fraction = strtod(v, NULL);
        else if (strcmp(a, "--snapshot-dir") == 0)
            o->snap_dir = strcmp(v, "none") == 0 ? NULL : v;
        else
            die("unknown option or value (see the comment at the top of bench/bench_restore.c)");
    }
    if (o->customers == 0 || o->customers > 50000000 || !(o->days > 0) || o->passes <= 0 ||
        o->fetch_bytes == 0)
        die("--customers (1..50M), --days, --passes and --fetch-bytes must be positive");
}

/* ------------------------------------------------------------------ */
/* The partition: its messages back to back, with offsets.             */

typedef struct part {
    char *buf; /* values, back to back */
    size_t len, cap;
    char *keys;
    size_t klen, kcap;
    size_t *voff, *koff; /* [n+1] */
    uint32_t *cust;      /* [n]: population index of each message's customer */
    size_t n, ncap;
    uint32_t pop;      /* generator population */
    int64_t *last_ts;  /* [pop]: ts of each customer's last event; INT64_MIN: none */
    uint8_t *selected; /* [pop]: 1 if the customer is in the partition */
    int64_t start_ms;
    double gen_s;
} part;

static void grow(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n > *cap) {
        size_t ncap = *cap ? *cap : 1 << 20;
        while (ncap < *len + n)
            ncap *= 2;
        *buf = xrealloc(*buf, ncap);
        *cap = ncap;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
}

/* Population index of customer id "c-000123" (122), or UINT32_MAX if key is
 * not a customer id (a campaign). */
static uint32_t cust_index(const char *key, size_t len)
{
    if (len < 3 || key[0] != 'c' || key[1] != '-') return UINT32_MAX;
    uint64_t v = 0;
    for (size_t i = 2; i < len; i++) {
        if (key[i] < '0' || key[i] > '9' || v > UINT32_MAX) return UINT32_MAX;
        v = v * 10 + (uint64_t)(key[i] - '0');
    }
    return v >= 1 && v <= UINT32_MAX ? (uint32_t)(v - 1) : UINT32_MAX;
}

static size_t cust_id(char *out, size_t cap, uint32_t idx)
{
    return (size_t)snprintf(out, cap, "c-%06u", idx + 1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Generates a population of pop customers over the timeline; returns how
 * many of them have at least one event. */
static uint32_t part_generate(part *pt, const opts *o, uint32_t pop)
{
    ks_gen_opts go;
    ks_gen_opts_init(&go);
    go.seed = o->seed;
    go.customers = pop;
    go.days = o->days;
    go.start_ms = pt->start_ms;
    ks_gen *g = ks_gen_new(&go);
    if (!g) die("ks_gen_new failed (bad --customers or --days?)");
    pt->len = pt->klen = pt->n = 0;
    pt->pop = pop;
    pt->last_ts = xrealloc(pt->last_ts, (size_t)pop * sizeof *pt->last_ts);
    for (uint32_t c = 0; c < pop; c++)
        pt->last_ts[c] = INT64_MIN;
    char ev[KS_GEN_MAX_EVENT];
    size_t len, keylen;
    const char *key;
    int64_t ts;
    int rc;
    while ((rc = ks_gen_next(g, ev, sizeof ev, &len, &key, &keylen, &ts)) == 1) {
        uint32_t c = cust_index(key, keylen);
        if (c == UINT32_MAX) continue; /* marketing_spend: keyed by campaign */
        if (c >= pop) die("generator key beyond its population");
        if (pt->n + 1 >= pt->ncap) {
            pt->ncap = pt->ncap ? pt->ncap * 2 : 1 << 20;
            pt->voff = xrealloc(pt->voff, pt->ncap * sizeof *pt->voff);
            pt->koff = xrealloc(pt->koff, pt->ncap * sizeof *pt->koff);
            pt->cust = xrealloc(pt->cust, pt->ncap * sizeof *pt->cust);
        }
        pt->voff[pt->n] = pt->len;
        pt->koff[pt->n] = pt->klen;
        pt->cust[pt->n] = c;
        grow(&pt->buf, &pt->len, &pt->cap, ev, len);
        grow(&pt->keys, &pt->klen, &pt->kcap, key, keylen);
        pt->n++;
        if (ts > pt->last_ts[c]) pt->last_ts[c] = ts;
    }
    ks_gen_free(g);
    if (rc < 0) die("ks_gen_next failed");
    pt->voff[pt->n] = pt->len; /* room kept by the growth test above */
    pt->koff[pt->n] = pt->klen;
    uint32_t seen = 0;
    for (uint32_t c = 0; c < pop; c++)
        seen += pt->last_ts[c] != INT64_MIN;
    return seen;
}

/* Keeps the C customers with events whose id hashes lowest, and their
 * events, in place. */
static void part_select(part *pt, uint32_t C)
{
    uint64_t *h = xrealloc(NULL, (size_t)pt->pop * sizeof *h), *sorted;
    size_t nh = 0;
    char id[32];
    for (uint32_t c = 0; c < pt->pop; c++) {
        size_t len = cust_id(id, sizeof id, c);
        h[c] = pt->last_ts[c] == INT64_MIN ? UINT64_MAX : ks_hash64(id, len, 0);
    }
    sorted = xrealloc(NULL, (size_t)pt->pop * sizeof *sorted);
    for (uint32_t c = 0; c < pt->pop; c++)
        if (pt->last_ts[c] != INT64_MIN) sorted[nh++] = h[c];
    qsort(sorted, nh, sizeof *sorted, cmp_u64);
    uint64_t cut = sorted[C - 1];
    if (nh > C && sorted[C] == cut) die("hash tie at the cut; try another --seed");
    free(sorted);
    pt->selected = xrealloc(pt->selected, pt->pop);
    uint32_t nsel = 0;
    for (uint32_t c = 0; c < pt->pop; c++)
        nsel += pt->selected[c] = pt->last_ts[c] != INT64_MIN && h[c] <= cut;
    free(h);
    if (nsel != C) die("selection did not give exactly C customers");

    size_t n = 0, len = 0, klen = 0;
    for (size_t i = 0; i < pt->n; i++) {
        if (!pt->selected[pt->cust[i]]) continue;
        /* Read message i's place before writing entry n (n <= i). */
        size_t vo = pt->voff[i], vl = pt->voff[i + 1] - vo;
        size_t ko = pt->koff[i], kl = pt->koff[i + 1] - ko;
        memmove(pt->buf + len, pt->buf + vo, vl);
        memmove(pt->keys + klen, pt->keys + ko, kl);
        pt->voff[n] = len;
        pt->koff[n] = klen;
        pt->cust[n] = pt->cust[i];
        len += vl;
        klen += kl;
        n++;
    }
    pt->n = n;
    pt->len = len;
    pt->klen = klen;
    pt->voff[n] = len;
    pt->koff[n] = klen;
}

static inline const char *msg_val(const part *pt, size_t i, size_t *len)
{
    *len = pt->voff[i + 1] - pt->voff[i];
    return pt->buf + pt->voff[i];
}

static inline const char *msg_key(const part *pt, size_t i, size_t *len)
{
    *len = pt->koff[i + 1] - pt->koff[i];
    return pt->keys + pt->koff[i];
}

static void part_free(part *pt)
{
    free(pt->buf);
    free(pt->keys);
    free(pt->voff);
    free(pt->koff);
    free(pt->cust);
    free(pt->last_ts);
    free(pt->selected);
}

/* ------------------------------------------------------------------ */
/* 1. Replay                                                           */

typedef struct replay_result {
    double secs;
    int64_t customers;
    size_t mem, rss;
} replay_result;

typedef struct check_ctx {
    const part *pt;
    size_t seen, foreign, ts_mismatch;
} check_ctx;

/* Every customer of the restored state must be one of the partition's, with
 * the time of its last event. */
static void check_customer(void *ctx, const char *id, size_t len, const ks_engine_customer *c)
{
    check_ctx *k = ctx;
    uint32_t idx = cust_index(id, len);
    k->seen++;
    if (idx >= k->pt->pop || !k->pt->selected[idx])
        k->foreign++;
    else if (c->last_event_ms != k->pt->last_ts[idx])
        k->ts_mismatch++;
}

static int replay(const part *pt, const opts *o, replay_result *r)
{
    ks_config cfg;
    if (ks_config_init_defaults(&cfg) != 0) die("ks_config_init_defaults failed");
    cfg.clock = o->clock;
    char err[256];
    ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
    if (!e) die(err);
    const size_t n = pt->n;
    size_t verdicts[3] = {0};
    size_t rss0 = rss_bytes();

    /* What a restore does: assign, restore point = the next offset Redis
     * holds (here: just beyond the last message), then every message. */
    int64_t t0 = ks_mono_ns();
    if (ks_engine_assign(e, BENCH_TOPIC, 0) != 0) die("ks_engine_assign failed");
    ks_engine_set_restore_point(e, BENCH_TOPIC, 0, (int64_t)n, "", INT64_MIN);
    bool restoring = ks_engine_restoring(e);
    bool was_restoring = restoring;
    size_t i = 0;
    while (i < n && restoring) {
        int64_t wall = ks_wall_ms(); /* read once per poll batch, as the run loop does */
        size_t end = i + BENCH_BATCH < n ? i + BENCH_BATCH : n;
        for (; i < end; i++) {
            size_t len;
            const char *v = msg_val(pt, i, &len);
            ks_reject why;
            verdicts[ks_engine_process(e, BENCH_TOPIC, 0, (int64_t)i, v, len, wall, &why)]++;
        }
        ks_engine_tick(e, wall);
        restoring = ks_engine_restoring(e);
    }
    r->secs = secs_since(t0);
    r->rss = rss_bytes() - rss0;

    /* Not just timed: the state must be what the events say. */
    ks_engine_stats st;
    ks_engine_stats_get(e, &st);
    check_ctx k = {pt, 0, 0, 0};
    ks_engine_customers_each(e, check_customer, &k);
    bool last_was_replay = n > 0 && ks_engine_is_replay(e, BENCH_TOPIC, 0, (int64_t)n - 1);
    bool next_is_replay = ks_engine_is_replay(e, BENCH_TOPIC, 0, (int64_t)n);
    r->customers = st.customers;
    r->mem = ks_engine_memory(e);
    ks_engine_free(e);
    ks_config_free(&cfg);

    int bad = 0;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        bool ok_ = (cond);                                                                         \
        bad += !ok_;                                                                               \
        printf("  check %-4s ", ok_ ? "ok" : "FAIL");                                              \
        printf(__VA_ARGS__);                                                                       \
        putchar('\n');                                                                             \
    } while (0)
    CHECK(was_restoring && !restoring && i == n,
          "restoring from assign until exactly the last message (%zu of %zu read)", i, n);
    CHECK(last_was_replay && !next_is_replay, "offsets 0..%zu are replays, %zu is not", n - 1, n);
    CHECK(verdicts[KS_ACCEPTED] == n && verdicts[KS_DUPLICATE] == 0 && verdicts[KS_REJECTED] == 0,
          "verdicts: %zu accepted, %zu duplicates, %zu rejected", verdicts[KS_ACCEPTED],
          verdicts[KS_DUPLICATE], verdicts[KS_REJECTED]);
    CHECK(st.processed == (int64_t)verdicts[KS_ACCEPTED] && st.rejected == 0 && st.duplicates == 0,
          "ks_engine_stats processed %" PRId64 " = accepted", st.processed);
    CHECK(st.customers == (int64_t)o->customers && k.seen == o->customers,
          "customers %" PRId64 " (stats), %zu (iterated) = %u generated", st.customers, k.seen,
          o->customers);
    CHECK(k.foreign == 0 && k.ts_mismatch == 0,
          "every customer is the partition's and its last_event_ms is its last event's ts "
          "(%zu foreign, %zu differ)",
          k.foreign, k.ts_mismatch);
#undef CHECK
    return bad;
}

/* ------------------------------------------------------------------ */
/* 3. From a snapshot                                                  */

typedef struct snap_result {
    size_t tail;               /* messages replayed after the snapshot */
    double write_s, load_s, tail_s;
    size_t bytes;
    int64_t customers;
} snap_result;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Feeds pt's messages [from, to), at offsets base + i, as the run loop
 * would, a tick per batch; returns whether the engine still restores. */
static bool feed(ks_engine *e, const part *pt, size_t base, size_t from, size_t to,
                 size_t verdicts[3])
{
    for (size_t i = from; i < to;) {
        int64_t wall = ks_wall_ms();
        size_t end = i + BENCH_BATCH < to ? i + BENCH_BATCH : to;
        for (; i < end; i++) {
            size_t len;
            const char *v = msg_val(pt, i, &len);
            ks_reject why;
            verdicts[ks_engine_process(e, BENCH_TOPIC, 0, (int64_t)(base + i), v, len, wall,
                                       &why)]++;
        }
        ks_engine_tick(e, wall);
    }
    return ks_engine_restoring(e);
}

/* Measures 3.; the engine that wrote the snapshot, at offset S, is left in
 * *writer for 4. (caller frees it with ks_engine_free, then cfg). */
static int from_snapshot(const part *pt, const opts *o, const ks_config *cfg, snap_result *s,
                         ks_engine **writer)
{
    memset(s, 0, sizeof *s);
    char err[512], path[4096];
    snprintf(path, sizeof path, "%s/bench-restore-%d.snap", o->snap_dir, (int)getpid());
    const size_t n = pt->n;
    s->tail = (size_t)((double)n * o->tail_fraction);
    const size_t S = n - s->tail;
    size_t verdicts[3] = {0};

    /* The state at S, as the member that wrote the snapshot held it. */
    ks_engine *a = ks_engine_new(cfg, err, sizeof err);
    if (!a) die(err);
    if (ks_engine_assign(a, BENCH_TOPIC, 0) != 0) die("ks_engine_assign failed");
    ks_engine_set_restore_point(a, BENCH_TOPIC, 0, (int64_t)S, "", INT64_MIN);
    if (feed(a, pt, 0, 0, S, verdicts)) die("the engine still restores at its restore point");
    ks_engine_customer probe;
    ks_engine_customer_get(a, "c-000001", 8, &probe); /* at its clock, as after a flush */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) die("cannot create the snapshot file (--snapshot-dir)");
    int64_t t0 = ks_mono_ns();
    if (ks_engine_snapshot_write(a, 0, fd, ks_wall_ms(), err, sizeof err) != 0 || fsync(fd) != 0)
        die(err);
    s->write_s = secs_since(t0);
    s->bytes = (size_t)lseek(fd, 0, SEEK_END);
    close(fd);
    ks_engine_stats sa;
    ks_engine_stats_get(a, &sa);
    *writer = a; /* kept for the stall measurement (4.) */

    /* The restart: restore point N, at the clock the last flush wrote. */
    int64_t restore_clock = ks_wall_ms();
    if (o->clock == KS_CLOCK_EVENT) {
        restore_clock = INT64_MIN;
        for (uint32_t c = 0; c < pt->pop; c++)
            if (pt->selected[c] && pt->last_ts[c] > restore_clock) restore_clock = pt->last_ts[c];
    }
    memset(verdicts, 0, sizeof verdicts);
    t0 = ks_mono_ns();
    ks_engine *b = ks_engine_new(cfg, err, sizeof err);
    if (!b || ks_engine_assign(b, BENCH_TOPIC, 0) != 0) die("engine");
    ks_engine_set_restore_point(b, BENCH_TOPIC, 0, (int64_t)n, "", restore_clock);
    fd = open(path, O_RDONLY);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) die("cannot read the snapshot back");
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) die("mmap");
    ks_engine_snapshot_info info;
    int lrc = ks_engine_snapshot_load(b, BENCH_TOPIC, 0, map, (size_t)sb.st_size, &info, err,
                                      sizeof err);
    munmap(map, (size_t)sb.st_size);
    close(fd);
    unlink(path);
    if (lrc != 0) die(err);
    s->load_s = secs_since(t0);
    int64_t t1 = ks_mono_ns();
    int64_t from = ks_engine_start_offset(b, BENCH_TOPIC, 0);
    bool still = feed(b, pt, 0, (size_t)from, n, verdicts);
    s->tail_s = secs_since(t1);

    ks_engine_stats st;
    ks_engine_stats_get(b, &st);
    check_ctx k = {pt, 0, 0, 0};
    ks_engine_customers_each(b, check_customer, &k);
    s->customers = st.customers;
    ks_engine_free(b);
    int bad = 0;
    printf("  check %-4s snapshot at offset %" PRId64 " = %zu, %" PRId64 " customers there\n",
           info.offset == (int64_t)S ? "ok" : "FAIL", info.offset, S, info.customers);
    bad += info.offset != (int64_t)S;
    printf("  check %-4s restoring until exactly the last message, then not\n", !still ? "ok" : "FAIL");
    bad += still;
    bool counts = st.processed == (int64_t)n && verdicts[KS_ACCEPTED] == s->tail &&
                  sa.processed == (int64_t)S;
    printf("  check %-4s processed %" PRId64 " = %zu in the snapshot + %zu replayed\n",
           counts ? "ok" : "FAIL", st.processed, S, verdicts[KS_ACCEPTED]);
    bad += !counts;
    bool cust = st.customers == (int64_t)o->customers && k.seen == o->customers && !k.foreign &&
                !k.ts_mismatch;
    printf("  check %-4s customers %" PRId64 " = %u, each the partition's with its last event's "
           "ts (%zu foreign, %zu differ)\n",
           cust ? "ok" : "FAIL", st.customers, o->customers, k.foreign, k.ts_mismatch);
    bad += !cust;
    return bad;
}

/* ------------------------------------------------------------------ */
/* 4. The stall of fork() in a process that holds only the engine        */

#define STALL_FORKS 9

typedef struct stall_result {
    double stall_ms[STALL_FORKS]; /* fork() in the parent, in the order taken */
    double feed_ms[STALL_FORKS];  /* the slice of the tail consumed while that child wrote */
    double huge_pct[STALL_FORKS]; /* anonymous memory in 2 MB pages just before that fork */
    double pass_ms[STALL_FORKS];  /* after that child: the collapse pass, start to end */
    double pass_feed_ms[STALL_FORKS]; /* a slice of the tail consumed during that pass */
    double pass_batch_ms;         /* its longest batch (BENCH_BATCH messages and a tick) */
    ks_big_collapse_stats cst;
    size_t feed_n;                /* messages in each slice */
    double child_s;               /* the slowest child: fork to exit */
    size_t rss, anon, anon_huge;  /* at the first fork: resident, anonymous, of it in 2 MB pages */
    size_t mem;                   /* ks_engine_memory */
} stall_result;

/* Resident, anonymous and anonymous-huge bytes of this process (0 where
 * /proc/self/smaps_rollup is missing). */
static void smaps_rollup(size_t *rss, size_t *anon, size_t *anon_huge)
{
    *rss = *anon = *anon_huge = 0;
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return;
    char line[256];
    unsigned long kb;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "Rss: %lu kB", &kb) == 1) *rss = (size_t)kb << 10;
        else if (sscanf(line, "Anonymous: %lu kB", &kb) == 1) *anon = (size_t)kb << 10;
        else if (sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) *anon_huge = (size_t)kb << 10;
    }
    fclose(f);
}

/* The run loop's start of a snapshot, in a process that holds what
 * `kpistream run` holds for this partition: the writer engine a (at offset
 * S), and no generated messages (pt's are freed here, but for a copy of the
 * tail). STALL_FORKS times: fork, the child writes the snapshot and exits;
 * meanwhile the parent consumes the next slice of the tail, as the loop
 * goes on consuming (its writes are what copy-on-write copies, and they can
 * split the 2 MB pages the next fork would copy as one entry). */
static void stall(ks_engine *a, part *pt, size_t S, const opts *o, stall_result *r)
{
    memset(r, 0, sizeof *r);
    part tl;
    memset(&tl, 0, sizeof tl);
    tl.n = pt->n - S;
    tl.len = pt->voff[pt->n] - pt->voff[S];
    tl.buf = xrealloc(NULL, tl.len + 1);
    tl.voff = xrealloc(NULL, (tl.n + 1) * sizeof *tl.voff);
    memcpy(tl.buf, pt->buf + pt->voff[S], tl.len);
    for (size_t i = 0; i <= tl.n; i++)
        tl.voff[i] = pt->voff[S + i] - pt->voff[S];
    part_free(pt);
    memset(pt, 0, sizeof *pt);
    malloc_trim(0); /* what the freed engines of 1. and 3. left in the heap */
    r->mem = ks_engine_memory(a);
    smaps_rollup(&r->rss, &r->anon, &r->anon_huge);

    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/bench-restore-%d.snap.child", o->snap_dir, (int)getpid());
    r->feed_n = tl.n / (2 * STALL_FORKS); /* a slice while each child writes, one after */
    size_t verdicts[3] = {0};
    for (int k = 0; k < STALL_FORKS; k++) {
        size_t rss, anon, huge;
        smaps_rollup(&rss, &anon, &huge);
        int64_t f0 = ks_mono_ns();
        pid_t pid = fork();
        if (pid == 0) {
            int cfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            int rc = cfd >= 0 ? ks_engine_snapshot_write(a, 0, cfd, ks_wall_ms(), err, sizeof err)
                              : -1;
            _exit(rc == 0 ? 0 : 1);
        }
        r->stall_ms[k] = (double)(ks_mono_ns() - f0) / 1e6;
        if (pid < 0) die("fork failed");
        r->huge_pct[k] = anon ? 100.0 * (double)huge / (double)anon : 0;
        int64_t c0 = ks_mono_ns();
        size_t from = (size_t)k * r->feed_n;
        feed(a, &tl, S, from, from + r->feed_n, verdicts);
        r->feed_ms[k] = (double)(ks_mono_ns() - c0) / 1e6;
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            die("the snapshot child failed");
        double child = secs_since(f0);
        if (child > r->child_s) r->child_s = child;
        /* What the writer does once the child is reaped (src/snapshot/
         * writer.c): the collapse thread restores the 2 MB pages split by
         * the writes above, while the loop goes on consuming. */
        int64_t p0 = ks_mono_ns();
        ks_big_collapse_start();
        from = ((size_t)STALL_FORKS + (size_t)k) * r->feed_n;
        for (size_t b = from; b < from + r->feed_n; b += BENCH_BATCH) {
            size_t e = b + BENCH_BATCH < from + r->feed_n ? b + BENCH_BATCH : from + r->feed_n;
            int64_t b0 = ks_mono_ns();
            feed(a, &tl, S, b, e, verdicts);
            double ms = (double)(ks_mono_ns() - b0) / 1e6;
            if (ms > r->pass_batch_ms) r->pass_batch_ms = ms;
        }
        r->pass_feed_ms[k] = (double)(ks_mono_ns() - p0) / 1e6;
        ks_big_collapse_wait();
        r->pass_ms[k] = (double)(ks_mono_ns() - p0) / 1e6;
    }
    ks_big_collapse_stats_get(&r->cst);
    unlink(path);
    if (verdicts[KS_ACCEPTED] != (size_t)2 * STALL_FORKS * r->feed_n)
        die("the tail consumed between forks was not accepted whole");
    part_free(&tl);
}

/* ------------------------------------------------------------------ */
/* 2. Fetch                                                            */

/* Per pass: assign to the first message (first[]) and to the last (last[]),
 * ms, each sorted. A pass is ~10 ms, so a few of them catch a stall (a
 * timer, the scheduler); medians keep those out of the rate, and the
 * slowest start is reported apart: a restore pays a start once. */
typedef struct fetch_result {
    size_t msgs, bytes; /* per pass */
    double *first, *last;
} fetch_result;

static void kset(rd_kafka_conf_t *c, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(c, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) die(err);
}

typedef struct dr_state {
    size_t ok, failed;
} dr_state;

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    dr_state *d = opaque;
    if (m->err)
        d->failed++;
    else
        d->ok++;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One restore-like read of partition 0 by a new consumer: from assign to
 * the k-th message. t[0]: seconds from assign to the first message, t[1]: to
 * the last. The consumer is bench_pipeline's raw one (kpistream's settings
 * where they matter: default fetch sizes, batches of up to 1000); a new one
 * per pass because a reused one still has a fetch waiting at the end of the
 * log (fetch.wait.max.ms) when it is assigned again. Its metadata is loaded
 * before the assign, as kpistream's is after the group join: otherwise the
 * first offset query waits for a 500 ms retry timer. */
static void fetch_pass(const opts *o, size_t k, double t[2])
{
    char err[512], group[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof group, "bench-restore-%ld", (long)getpid());
    kset(conf, "bootstrap.servers", o->brokers);
    kset(conf, "group.id", group);
    kset(conf, "enable.auto.commit", "false");
    kset(conf, "enable.partition.eof", "false");
    kset(conf, "client.id", "bench-restore-consumer");
    rd_kafka_t *cons = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!cons) die(err);
    rd_kafka_poll_set_consumer(cons);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(cons, o->topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (!rkt || rd_kafka_metadata(cons, 0, rkt, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("metadata request failed");
    rd_kafka_metadata_destroy(md);
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(cons);
    rd_kafka_message_t *msgs[BENCH_BATCH];

    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, o->topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    int64_t t_assign = ks_mono_ns(), t_first = 0, last_progress = t_assign;
    if (rd_kafka_assign(cons, l)) die("rd_kafka_assign failed");
    rd_kafka_topic_partition_list_destroy(l);
    size_t got = 0;
    int64_t expect = 0;
    while (got < k) {
        /* librdkafka 2.0 waits for a full batch or the timeout: never ask
         * for more than is left, or the last batch costs the timeout. */
        size_t want = k - got < BENCH_BATCH ? k - got : BENCH_BATCH;
        ssize_t m = rd_kafka_consume_batch_queue(q, 500, msgs, want);
        if (m < 0) die("rd_kafka_consume_batch_queue failed");
        for (ssize_t j = 0; j < m; j++) {
            if (!msgs[j]->err) {
                if (!got) t_first = ks_mono_ns();
                if (msgs[j]->offset != expect++) die("consumer skipped or repeated an offset");
                got++;
            }
            rd_kafka_message_destroy(msgs[j]);
        }
        if (m > 0)
            last_progress = ks_mono_ns();
        else if (secs_since(last_progress) > 30)
            die("consumer stalled for 30 s");
    }
    t[0] = (double)(t_first - t_assign) / 1e9;
    t[1] = secs_since(t_assign);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(cons);
    rd_kafka_destroy(cons);
}

static void fetch(const part *pt, const opts *o, fetch_result *fr)
{
    char err[512];
    /* The partition's first messages, up to fetch_bytes of keys and values. */
    size_t k = 0, bytes = 0;
    while (k < pt->n) {
        size_t vl, kl;
        msg_val(pt, k, &vl);
        msg_key(pt, k, &kl);
        if (bytes + vl + kl > o->fetch_bytes) break;
        bytes += vl + kl;
        k++;
    }
    if (k == 0) die("--fetch-bytes smaller than one message");

    dr_state dr = {0, 0};
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    kset(conf, "bootstrap.servers", o->brokers);
    kset(conf, "linger.ms", "50");
    kset(conf, "batch.num.messages", "10000");
    kset(conf, "client.id", "bench-restore-producer");
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, &dr);
    rd_kafka_t *prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!prod) die(err);
    for (size_t i = 0; i < k; i++) {
        size_t vl, kl;
        const char *v = msg_val(pt, i, &vl), *key = msg_key(pt, i, &kl);
        for (;;) {
            rd_kafka_resp_err_t e2 =
                rd_kafka_producev(prod, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(0),
                                  RD_KAFKA_V_VALUE((void *)v, vl), RD_KAFKA_V_KEY((void *)key, kl),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (e2 == RD_KAFKA_RESP_ERR_NO_ERROR) break;
            if (e2 != RD_KAFKA_RESP_ERR__QUEUE_FULL) die(rd_kafka_err2str(e2));
            rd_kafka_poll(prod, 10);
        }
        rd_kafka_poll(prod, 0);
    }
    if (rd_kafka_flush(prod, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) die("producer flush timed out");
    if (dr.ok != k || dr.failed) die("delivery to the broker failed");
    int64_t lo = -1, hi = -1;
    rd_kafka_resp_err_t e2 = rd_kafka_query_watermark_offsets(prod, o->topic, 0, &lo, &hi, 10000);
    if (e2) die(rd_kafka_err2str(e2));
    rd_kafka_destroy(prod);
    if (lo != 0 || hi != (int64_t)k) {
        fprintf(stderr,
                "bench_restore: %s[0] holds offsets %" PRId64 "..%" PRId64 ", expected 0..%zu "
                "(a fresh topic, and --fetch-bytes under the mock's ~5 MB)\n",
                o->topic, lo, hi, k);
        exit(1);
    }
    printf("fetch sample: %zu messages, %.2f MB (keys + values) produced to %s[0]\n", k,
           (double)bytes / 1e6, o->topic);

    fr->msgs = k;
    fr->bytes = bytes;
    fr->first = xrealloc(NULL, (size_t)o->passes * sizeof *fr->first);
    fr->last = xrealloc(NULL, (size_t)o->passes * sizeof *fr->last);
    for (int pass = 0; pass < o->passes; pass++) {
        double t[2];
        fetch_pass(o, k, t);
        fr->first[pass] = t[0] * 1e3;
        fr->last[pass] = t[1] * 1e3;
    }
    qsort(fr->first, (size_t)o->passes, sizeof *fr->first, cmp_dbl);
    qsort(fr->last, (size_t)o->passes, sizeof *fr->last, cmp_dbl);
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    ks_log_set_level(KS_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    opts o;
    parse_opts(argc, argv, &o);

    /* Timeline: whole UTC days ending before now, so that a wall-clock engine
     * accepts every event (none in the future, none older than 30 days). */
    part pt;
    memset(&pt, 0, sizeof pt);
    int64_t span = (int64_t)(o.days * (double)DAY_MS);
    pt.start_ms = (ks_wall_ms() - span) / DAY_MS * DAY_MS;
    if (o.clock == KS_CLOCK_WALL && o.days >= 29) die("--clock wall needs --days below 29");
    int64_t t0 = ks_mono_ns();
    uint32_t pop = o.customers + o.customers / 16 + 16, seen;
    while ((seen = part_generate(&pt, &o, pop)) < o.customers) {
        pop += o.customers / 8 + 16; /* too few customers active on the timeline */
        if (pop / 4 > o.customers) die("too few customers have events; raise --days");
    }
    size_t gen_events = pt.n;
    part_select(&pt, o.customers);
    pt.gen_s = secs_since(t0);
    const size_t n = pt.n;
    printf("partition: %u customers, %zu events (%.1f per customer), %.1f MB of values (mean %.0f "
           "B/event) + %.1f MB of keys; ks_gen seed %" PRIu64 ", %.1f days from %" PRId64
           " ms, the %u lowest-hashing of %u active customers (population %u, %zu events), "
           "generated in %.1f s\n",
           o.customers, n, (double)n / o.customers, (double)pt.len / 1e6,
           (double)pt.len / (double)n, (double)pt.klen / 1e6, o.seed, o.days, pt.start_ms,
           o.customers, seen, pop, gen_events, pt.gen_s);

    replay_result r;
    printf("replay (measured): assign, restore point %zu, ks_engine_process x %zu, %s clock, "
           "tick every %d\n",
           n, n, o.clock == KS_CLOCK_WALL ? "wall" : "event", BENCH_BATCH);
    int bad = replay(&pt, &o, &r);
    double eps = (double)n / r.secs, cps = (double)r.customers / r.secs;
    double bpc = (double)r.mem / (double)r.customers;
    printf("replay: %" PRId64 " customers, %zu events in %.2f s = %.0f events/s, %.0f customers/s; "
           "state %.1f MiB = %.0f B/customer (ks_engine_memory), RSS +%.1f MiB = %.0f B/customer\n",
           r.customers, n, r.secs, eps, cps, (double)r.mem / 1048576.0, bpc,
           (double)r.rss / 1048576.0, (double)r.rss / (double)r.customers);
    printf("RESULT restore_customers %" PRId64 "\n", r.customers);
    printf("RESULT restore_events %zu\n", n);
    printf("RESULT restore_mb %.1f\n", (double)(pt.len + pt.klen) / 1e6);
    printf("RESULT replay_s %.2f\n", r.secs);
    printf("RESULT replay_eps %.0f\n", eps);
    printf("RESULT replay_cps %.0f\n", cps);
    printf("RESULT restore_bytes_per_customer %.0f\n", bpc);
    printf("RESULT restore_checks %s\n", bad ? "FAIL" : "ok");

    ks_config scfg;
    ks_engine *writer = NULL;
    size_t snap_at = 0;
    if (ks_config_init_defaults(&scfg) != 0) die("ks_config_init_defaults failed");
    scfg.clock = o.clock;
    if (o.snap_dir) {
        snap_result sr;
        snap_at = n - (size_t)((double)n * o.tail_fraction);
        printf("from a snapshot (measured): state at offset %zu written to %s; a restart loads "
               "it and replays the last %zu messages\n",
               snap_at, o.snap_dir, n - snap_at);
        int sbad = from_snapshot(&pt, &o, &scfg, &sr, &writer);
        bad += sbad;
        double total = sr.load_s + sr.tail_s;
        printf("snapshot: %.1f MiB = %.0f B/customer, written in %.2f s (synchronously; a child "
               "does it in the run, see the fork part below)\n",
               (double)sr.bytes / 1048576.0, (double)sr.bytes / (double)sr.customers, sr.write_s);
        printf("restore from snapshot: %" PRId64 " customers loaded in %.2f s = %.0f customers/s, "
               "then %zu messages replayed in %.2f s: %.2f s in all, against %.2f s replaying "
               "all %zu messages (%.1fx)\n",
               sr.customers, sr.load_s, (double)sr.customers / sr.load_s, sr.tail, sr.tail_s,
               total, r.secs, n, r.secs / total);
        printf("RESULT snapshot_bytes_per_customer %.0f\n", (double)sr.bytes / (double)sr.customers);
        printf("RESULT snapshot_mb %.1f\n", (double)sr.bytes / 1048576.0);
        printf("RESULT snapshot_write_s %.2f\n", sr.write_s);
        printf("RESULT snapshot_load_s %.2f\n", sr.load_s);
        printf("RESULT snapshot_load_cps %.0f\n", (double)sr.customers / sr.load_s);
        printf("RESULT snapshot_tail_events %zu\n", sr.tail);
        printf("RESULT snapshot_tail_s %.2f\n", sr.tail_s);
        printf("RESULT snapshot_restore_s %.2f\n", total);
        printf("RESULT snapshot_checks %s\n", sbad ? "FAIL" : "ok");
    }

    if (o.brokers) {
        fetch_result fr;
        fetch(&pt, &o, &fr);
        const int P = o.passes;
        double med = fr.last[P / 2];
        double mbps = (double)fr.bytes / med / 1e3, feps = (double)fr.msgs / med * 1e3;
        printf("fetch (measured): %d reads of that partition from offset 0, each by a new "
               "consumer, assign to last message %.1f / %.1f / %.1f ms (min / median / max) = "
               "%.0f events/s, %.1f MB/s at the median; first message after %.1f ms (median), "
               "%.1f ms (max)\n",
               P, fr.last[0], med, fr.last[P - 1], feps, mbps, fr.first[P / 2], fr.first[P - 1]);
        /* Per byte or per message, whichever is slower for this partition,
         * plus the slowest start; the rates include a start per sample
         * already, so this errs long. */
        double by_bytes = (double)(pt.len + pt.klen) / (mbps * 1e6), by_msgs = (double)n / feps;
        double start_s = fr.first[P - 1] / 1e3;
        double fetch_s = (by_bytes > by_msgs ? by_bytes : by_msgs) + start_s;
        double lo = fetch_s > r.secs ? fetch_s : r.secs, hi = fetch_s + r.secs;
        printf("fetch (derived): %zu events, %.1f MB at those rates = %.2f s (%.2f s by bytes, "
               "%.2f s by messages, + %.2f s slowest start)\n",
               n, (double)(pt.len + pt.klen) / 1e6, fetch_s, by_bytes, by_msgs, start_s);
        printf("restore estimate (derived): %u customers in %.1f-%.1f s: max(replay %.1f s "
               "measured, fetch %.1f s derived) if librdkafka's fetch thread overlaps the "
               "engine, their sum if not\n",
               o.customers, lo, hi, r.secs, fetch_s);
        printf("RESULT fetch_eps %.0f\n", feps);
        printf("RESULT fetch_mbps %.1f\n", mbps);
        printf("RESULT fetch_startup_ms %.1f\n", fr.first[P / 2]);
        printf("RESULT fetch_startup_max_ms %.1f\n", fr.first[P - 1]);
        free(fr.first);
        free(fr.last);
        printf("RESULT fetch_s %.1f\n", fetch_s);
        printf("RESULT restore_low_s %.1f\n", lo);
        printf("RESULT restore_high_s %.1f\n", hi);
    }
    if (writer) {
        /* Last: it frees the generated messages. */
        stall_result st;
        printf("fork stall (measured): the snapshot writer's engine at offset %zu, the generated "
               "messages freed but for the last %zu; %d times: fork, the child writes the "
               "snapshot, the parent consumes the next %zu of them meanwhile, and %zu more "
               "once the child is gone\n",
               snap_at, n - snap_at, STALL_FORKS, (n - snap_at) / (2 * STALL_FORKS),
               (n - snap_at) / (2 * STALL_FORKS));
        stall(writer, &pt, snap_at, &o, &st);
        double sorted[STALL_FORKS];
        memcpy(sorted, st.stall_ms, sizeof sorted);
        qsort(sorted, STALL_FORKS, sizeof sorted[0], cmp_double);
        printf("  process at the first fork: RSS %.1f MiB (anonymous %.1f MiB, of it in 2 MB "
               "pages %.1f MiB); engine state %.1f MiB (ks_engine_memory)\n",
               (double)st.rss / 1048576.0, (double)st.anon / 1048576.0,
               (double)st.anon_huge / 1048576.0, (double)st.mem / 1048576.0);
        printf("  fork() stalls in order, ms:");
        for (int k = 0; k < STALL_FORKS; k++)
            printf(" %.2f", st.stall_ms[k]);
        printf("\n  consuming %zu messages while the child wrote, ms:", st.feed_n);
        for (int k = 0; k < STALL_FORKS; k++)
            printf(" %.1f", st.feed_ms[k]);
        printf("\n  anonymous memory in 2 MB pages before each fork, %%:");
        for (int k = 0; k < STALL_FORKS; k++)
            printf(" %.0f", st.huge_pct[k]);
        printf("\n  after each child, the collapse thread's pass (2 MB pages restored), ms:");
        for (int k = 0; k < STALL_FORKS; k++)
            printf(" %.1f", st.pass_ms[k]);
        printf("\n  consuming %zu messages meanwhile, ms:", st.feed_n);
        for (int k = 0; k < STALL_FORKS; k++)
            printf(" %.1f", st.pass_feed_ms[k]);
        printf("; longest batch of %d %.2f ms\n  collapse thread: %" PRId64 " passes, %" PRId64
               " ranges of 2 MB looked at, %" PRId64 " one page after", BENCH_BATCH,
               st.pass_batch_ms, st.cst.passes, st.cst.ranges, st.cst.collapsed);
        printf("\nfork stall: %.2f ms median, %.2f ms max of %d, RSS %.1f MiB = %.0f B/customer "
               "(%.0f%% in 2 MB pages); slowest child %.2f s fork to exit\n",
               sorted[STALL_FORKS / 2], sorted[STALL_FORKS - 1], STALL_FORKS,
               (double)st.rss / 1048576.0, (double)st.rss / (double)o.customers,
               st.anon ? 100.0 * (double)st.anon_huge / (double)st.anon : 0.0, st.child_s);
        printf("RESULT snapshot_stall_median_ms %.2f\n", sorted[STALL_FORKS / 2]);
        printf("RESULT snapshot_stall_ms %.2f\n", sorted[STALL_FORKS - 1]);
        printf("RESULT snapshot_stall_rss_mb %.1f\n", (double)st.rss / 1048576.0);
        printf("RESULT snapshot_child_s %.2f\n", st.child_s);
        ks_engine_free(writer);
    }
    ks_config_free(&scfg);
    part_free(&pt);
    return bad ? 1 : 0;
}
