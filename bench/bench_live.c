/* The live part of `make bench` (docs/benchmarks.md): events offered at a fixed
 * rate to a running `kpistream run --clock wall`, and the delay from an
 * event's production to its effect being readable in Redis.
 *
 *   bench_live --brokers B --topic T --redis-port P [--redis-host H] [--prefix kpi:]
 *              [--rate 20000] [--seconds 60] [--customers 5000] [--probe-ms 100]
 *              [--pid KPISTREAM_PID] [--warmup-timeout 120] [--linger-ms 50] [--dump FILE]
 *
 * Events are built here (docs/events.md): interactions (90 %), purchases (8 %)
 * and CSAT surveys (2 %) of --customers customers, ts = the wall clock at
 * production, keyed by customer_id, produced with librdkafka (linger.ms 50, --linger-ms) at
 * --rate events/s, paced every millisecond. Every --probe-ms a probe is
 * produced as well: an interaction of a customer of its own,
 * probe-<run>-<n>, whose production time is recorded; a second thread polls
 * Redis every 10 ms (one pipeline of EXISTS <prefix>customer:probe-<run>-<n>
 * for the oldest 64 probes not yet seen) and records when each becomes
 * readable.
 * Before the measured window one probe is produced and awaited (the consumer
 * group join is not measured). After it, the probes still out are awaited up
 * to 15 s; kpi:meta events_processed must then reach every event produced.
 *
 * Prints p50/p90/p99/max of the delay, p50/p99 of the probes' delivery
 * reports (production to the broker's acknowledgement: the Kafka side of the
 * delay), the offered and achieved rates, Redis CPU (INFO cpu, used_cpu_user +
 * used_cpu_sys) in ms per 1 000 events over the window and, with --pid,
 * kpistream's (/proc/PID/stat); plus "RESULT name value" lines for
 * bench/run.sh. --dump FILE writes one line per probe: its number, production
 * time (s into the window), delay to the broker's acknowledgement and to Redis
 * (ms; -1: none). Exit 0 unless something broke (a target missed is reported,
 * not an error). */
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROBES 100000
#define POLL_MS 10
#define MAX_POLLED 64 /* oldest unseen probes asked about per round */
#define DRAIN_S 15

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- options */

static const char *brokers, *topic, *redis_host = "127.0.0.1", *prefix = "kpi:";
static int redis_port = 6379, customers = 5000, probe_ms = 100, warmup_timeout = 120;
/* 50 as kpistream gen's producer: with 5 or 20 ms the many small produce
 * requests cost librdkafka's mock broker most of a core (20 ms: a fifth of
 * one, broker acknowledgements p99 ~0.4 s) and it became the bottleneck. */
static const char *linger_ms = "50";
static double rate = 20000, seconds = 60;
static long ks_pid = 0;
static const char *dump_path;
static char run_id[32];

/* ---------------------------------------------------------------- probes */

typedef struct {
    int64_t sent_ns, seen_ns; /* seen_ns 0: not yet */
    int64_t acked_ns;         /* delivery report from the broker; 0: none */
} probe;

static probe *probes;
static int nprobes;        /* produced so far (guarded by mu) */
static int nseen;
static bool producing_done; /* no more probes will come */
static int64_t drain_deadline_ns;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static redisContext *redis_connect(void)
{
    struct timeval tv = {10, 0};
    redisContext *c = redisConnectWithTimeout(redis_host, redis_port, tv);
    if (!c || c->err) {
        fprintf(stderr, "bench_live: redis %s:%d: %s\n", redis_host, redis_port,
                c ? c->errstr : "out of memory");
        exit(1);
    }
    redisSetTimeout(c, tv);
    return c;
}

static void probe_key(char *buf, size_t n, int i)
{
    if (i < 0)
        snprintf(buf, n, "%scustomer:probe-%s-w", prefix, run_id);
    else
        snprintf(buf, n, "%scustomer:probe-%s-%d", prefix, run_id, i);
}

/* The prober: every POLL_MS, EXISTS for the (oldest MAX_POLLED) probes not
 * seen yet. */
static void *prober(void *arg)
{
    (void)arg;
    redisContext *c = redis_connect();
    int *todo = malloc(MAX_PROBES * sizeof *todo);
    char key[256];
    for (;;) {
        int n = 0;
        pthread_mutex_lock(&mu);
        bool done = producing_done && (nseen == nprobes || mono_ns() > drain_deadline_ns);
        for (int i = 0; i < nprobes && !done && n < MAX_POLLED; i++)
            if (!probes[i].seen_ns)
                todo[n++] = i;
        pthread_mutex_unlock(&mu);
        if (done || stop)
            break;
        for (int k = 0; k < n; k++) {
            probe_key(key, sizeof key, todo[k]);
            redisAppendCommand(c, "EXISTS %s", key);
        }
        for (int k = 0; k < n; k++) {
            redisReply *r = NULL;
            if (redisGetReply(c, (void **)&r) != REDIS_OK || !r) {
                fprintf(stderr, "bench_live: redis: %s\n", c->errstr);
                exit(1);
            }
            if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
                int64_t now = mono_ns();
                pthread_mutex_lock(&mu);
                probes[todo[k]].seen_ns = now;
                nseen++;
                pthread_mutex_unlock(&mu);
            }
            freeReplyObject(r);
        }
        sleep_ms(POLL_MS);
    }
    free(todo);
    redisFree(c);
    return NULL;
}

/* ---------------------------------------------------------------- producer */

static int64_t delivery_failed;

/* Runs in rd_kafka_poll/flush on the main thread; a probe's message opaque is
 * its number + 1. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err && delivery_failed++ < 5)
        fprintf(stderr, "bench_live: delivery failed: %s\n", rd_kafka_err2str(m->err));
    intptr_t idx = (intptr_t)m->_private - 1;
    if (!m->err && idx >= 0 && idx < MAX_PROBES) {
        int64_t now = mono_ns();
        pthread_mutex_lock(&mu);
        probes[idx].acked_ns = now;
        pthread_mutex_unlock(&mu);
    }
}

static void produce(rd_kafka_t *rk, const char *key, const char *value, size_t len, intptr_t tag)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_OPAQUE((void *)tag), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            return;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "bench_live: produce: %s\n", rd_kafka_err2str(e));
            exit(1);
        }
        rd_kafka_poll(rk, 10);
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static const char *const channels[] = {"web", "app", "email", "store", "phone", "chat"};
static const char *const segments[] = {"consumer", "smb", "midmarket", "enterprise"};

static int64_t seq;

static void produce_event(rd_kafka_t *rk)
{
    char key[32], val[512];
    uint64_t r = next_rand();
    unsigned cust = (unsigned)(r % (uint64_t)customers);
    unsigned kind = (unsigned)((r >> 32) % 100);
    const char *ch = channels[(r >> 40) % 6];
    const char *seg = segments[cust % 4];
    int64_t ts = wall_ms();
    int n;
    seq++;
    snprintf(key, sizeof key, "live-%u", cust);
    if (kind < 90)
        n = snprintf(val, sizeof val,
                     "{\"event_id\":\"l-%s-%" PRId64 "\",\"type\":\"interaction\",\"customer_id\":\"%s\","
                     "\"ts\":%" PRId64 ",\"segment\":\"%s\",\"channel\":\"%s\",\"action\":\"page_view\"}",
                     run_id, seq, key, ts, seg, ch);
    else if (kind < 98)
        n = snprintf(val, sizeof val,
                     "{\"event_id\":\"l-%s-%" PRId64 "\",\"type\":\"purchase\",\"customer_id\":\"%s\","
                     "\"ts\":%" PRId64 ",\"segment\":\"%s\",\"channel\":\"%s\",\"order_id\":\"o-%s-%" PRId64
                     "\",\"amount\":%u.%02u,\"category\":\"cat-%u\",\"product\":\"sku-%u\"}",
                     run_id, seq, key, ts, seg, ch, run_id, seq, 5 + (unsigned)((r >> 8) % 200),
                     (unsigned)((r >> 16) % 100), (unsigned)((r >> 24) % 8), (unsigned)((r >> 28) % 500));
    else
        n = snprintf(val, sizeof val,
                     "{\"event_id\":\"l-%s-%" PRId64 "\",\"type\":\"survey\",\"customer_id\":\"%s\","
                     "\"ts\":%" PRId64 ",\"segment\":\"%s\",\"channel\":\"%s\",\"kind\":\"csat\",\"score\":%u}",
                     run_id, seq, key, ts, seg, ch, 1 + (unsigned)((r >> 8) % 5));
    produce(rk, key, val, (size_t)n, 0);
}

/* Produces probe i (-1: the warm-up probe); returns its production time. */
static int64_t produce_probe(rd_kafka_t *rk, int i)
{
    char id[96], val[512];
    if (i < 0)
        snprintf(id, sizeof id, "probe-%s-w", run_id);
    else
        snprintf(id, sizeof id, "probe-%s-%d", run_id, i);
    int64_t t = mono_ns();
    int n = snprintf(val, sizeof val,
                     "{\"event_id\":\"%s\",\"type\":\"interaction\",\"customer_id\":\"%s\",\"ts\":%" PRId64
                     ",\"segment\":\"consumer\",\"channel\":\"web\",\"action\":\"probe\"}",
                     id, id, wall_ms());
    produce(rk, id, val, (size_t)n, i < 0 ? 0 : (intptr_t)i + 1);
    return t;
}

/* ---------------------------------------------------------------- CPU */

static double redis_cpu_s(redisContext *c)
{
    redisReply *r = redisCommand(c, "INFO cpu");
    if (!r || r->type != REDIS_REPLY_STRING) {
        fprintf(stderr, "bench_live: INFO cpu failed\n");
        exit(1);
    }
    double user = 0, sys = 0;
    const char *p = strstr(r->str, "used_cpu_sys:");
    if (p)
        sys = strtod(p + strlen("used_cpu_sys:"), NULL);
    p = strstr(r->str, "used_cpu_user:");
    if (p)
        user = strtod(p + strlen("used_cpu_user:"), NULL);
    freeReplyObject(r);
    return user + sys;
}

/* CPU seconds (user + system) of process pid so far; -1 if unknown. */
static double proc_cpu_s(long pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long long meta_processed(redisContext *c)
{
    char key[256];
    snprintf(key, sizeof key, "%smeta", prefix);
    redisReply *r = redisCommand(c, "HGET %s events_processed", key);
    long long v = -1;
    if (r && r->type == REDIS_REPLY_STRING)
        v = strtoll(r->str, NULL, 10);
    if (r)
        freeReplyObject(r);
    return v;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with at least q of the values at or below it. */
static double pct_ms(const int64_t *v, int n, double q)
{
    if (n == 0)
        return NAN;
    int k = (int)ceil(q * n) - 1;
    if (k < 0)
        k = 0;
    if (k >= n)
        k = n - 1;
    return (double)v[k] / 1e6;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_live --brokers B --topic T --redis-port P [--redis-host H] [--prefix kpi:]\n"
            "                  [--rate EPS] [--seconds S] [--customers N] [--probe-ms MS]\n"
            "                  [--pid KPISTREAM_PID] [--warmup-timeout S] [--linger-ms MS] [--dump FILE]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--brokers") == 0)
            brokers = v;
        else if (strcmp(a, "--topic") == 0)
            topic = v;
        else if (strcmp(a, "--redis-host") == 0)
            redis_host = v;
        else if (strcmp(a, "--redis-port") == 0)
            redis_port = atoi(v);
        else if (strcmp(a, "--prefix") == 0)
            prefix = v;
        else if (strcmp(a, "--rate") == 0)
            rate = strtod(v, NULL);
        else if (strcmp(a, "--seconds") == 0)
            seconds = strtod(v, NULL);
        else if (strcmp(a, "--customers") == 0)
            customers = atoi(v);
        else if (strcmp(a, "--probe-ms") == 0)
            probe_ms = atoi(v);
        else if (strcmp(a, "--pid") == 0)
            ks_pid = strtol(v, NULL, 10);
        else if (strcmp(a, "--warmup-timeout") == 0)
            warmup_timeout = atoi(v);
        else if (strcmp(a, "--linger-ms") == 0)
            linger_ms = v;
        else if (strcmp(a, "--dump") == 0)
            dump_path = v;
        else
            usage();
    }
    if (!brokers || !topic || rate <= 0 || seconds <= 0 || customers <= 0 || probe_ms <= 0)
        usage();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    snprintf(run_id, sizeof run_id, "%lx", (unsigned long)(wall_ms() ^ ((int64_t)getpid() << 20)));
    rng ^= (uint64_t)wall_ms() * 0x2545F4914F6CDD1DULL;
    probes = calloc(MAX_PROBES, sizeof *probes);
    if (!probes)
        return 1;

    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "linger.ms", linger_ms, err, sizeof err) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.messages", "2000000", err, sizeof err) ||
        rd_kafka_conf_set(conf, "queue.buffering.max.kbytes", "1048576", err, sizeof err) ||
        rd_kafka_conf_set(conf, "client.id", "bench-live", err, sizeof err)) {
        fprintf(stderr, "bench_live: %s\n", err);
        return 1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_live: %s\n", err);
        return 1;
    }
    redisContext *rc = redis_connect();

    /* Warm-up: the consumer joins its group and writes a first flush. */
    char key[256];
    probe_key(key, sizeof key, -1);
    int64_t w0 = produce_probe(rk, -1);
    rd_kafka_flush(rk, 10000);
    for (;;) {
        redisReply *r = redisCommand(rc, "EXISTS %s", key);
        bool seen = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        if (r)
            freeReplyObject(r);
        if (seen)
            break;
        if (stop || mono_ns() - w0 > (int64_t)warmup_timeout * 1000000000) {
            fprintf(stderr, "bench_live: the warm-up probe was not readable in Redis after %d s\n",
                    warmup_timeout);
            return 1;
        }
        sleep_ms(POLL_MS);
    }
    printf("warm-up: first probe readable after %.2f s (group join, first flush); measuring %.0f s "
           "at %.0f events/s, a probe every %d ms, %d customers\n",
           (double)(mono_ns() - w0) / 1e9, seconds, rate, probe_ms, customers);
    fflush(stdout);

    double redis0 = redis_cpu_s(rc), ks0 = proc_cpu_s(ks_pid);
    pthread_t th;
    pthread_create(&th, NULL, prober, NULL);

    int64_t start = mono_ns(), end = start + (int64_t)(seconds * 1e9);
    int64_t next_probe = start, now, max_behind = 0;
    while (!stop && (now = mono_ns()) < end) {
        int64_t due = (int64_t)((double)(now - start) * rate / 1e9);
        if (due - seq > max_behind)
            max_behind = due - seq;
        while (seq < due)
            produce_event(rk);
        if (now >= next_probe && nprobes < MAX_PROBES) {
            int64_t t = produce_probe(rk, nprobes);
            pthread_mutex_lock(&mu);
            probes[nprobes].sent_ns = t;
            nprobes++;
            pthread_mutex_unlock(&mu);
            next_probe += (int64_t)probe_ms * 1000000;
        }
        rd_kafka_poll(rk, 0);
        sleep_ms(1);
    }
    double produced_s = (double)(mono_ns() - start) / 1e9;
    int64_t events = seq;
    rd_kafka_flush(rk, 30000);
    pthread_mutex_lock(&mu);
    producing_done = true;
    drain_deadline_ns = mono_ns() + (int64_t)DRAIN_S * 1000000000;
    pthread_mutex_unlock(&mu);
    pthread_join(th, NULL);
    double window_s = (double)(mono_ns() - start) / 1e9;
    double redis_cpu = redis_cpu_s(rc) - redis0;
    double ks_cpu = ks0 >= 0 ? proc_cpu_s(ks_pid) - ks0 : -1;
    int64_t total = events + nprobes + 1; /* + the warm-up probe */

    /* Every event produced is counted (the consumer may still flush the tail). */
    long long processed = -1;
    int64_t meta_deadline = mono_ns() + 10LL * 1000000000;
    do {
        processed = meta_processed(rc);
        if (processed >= total || stop)
            break;
        sleep_ms(100);
    } while (mono_ns() < meta_deadline);

    if (dump_path) { /* per probe: number, sent (s into the window), broker ack and Redis delays (ms; -1: none) */
        FILE *f = fopen(dump_path, "w");
        for (int i = 0; f && i < nprobes; i++)
            fprintf(f, "%d %.3f %.1f %.1f\n", i, (double)(probes[i].sent_ns - start) / 1e9,
                    probes[i].acked_ns ? (double)(probes[i].acked_ns - probes[i].sent_ns) / 1e6 : -1.0,
                    probes[i].seen_ns ? (double)(probes[i].seen_ns - probes[i].sent_ns) / 1e6 : -1.0);
        if (f)
            fclose(f);
    }
    int64_t *d = malloc((size_t)(nprobes ? nprobes : 1) * sizeof *d);
    int nd = 0;
    for (int i = 0; i < nprobes; i++)
        if (probes[i].acked_ns)
            d[nd++] = probes[i].acked_ns - probes[i].sent_ns;
    qsort(d, (size_t)nd, sizeof *d, cmp_i64);
    double a50 = pct_ms(d, nd, 0.50), a99 = pct_ms(d, nd, 0.99);
    nd = 0;
    for (int i = 0; i < nprobes; i++)
        if (probes[i].seen_ns)
            d[nd++] = probes[i].seen_ns - probes[i].sent_ns;
    qsort(d, (size_t)nd, sizeof *d, cmp_i64);
    double p50 = pct_ms(d, nd, 0.50), p90 = pct_ms(d, nd, 0.90), p99 = pct_ms(d, nd, 0.99);
    double pmax = nd ? (double)d[nd - 1] / 1e6 : NAN;
    int missing = nprobes - nd;

    printf("offered %" PRId64 " events + %d probes in %.1f s = %.0f events/s (target rate %.0f; "
           "the pacer was at most %" PRId64 " events behind), %" PRId64 " delivery failures\n",
           events, nprobes, produced_s, (double)events / produced_s, rate, max_behind, delivery_failed);
    printf("delay production -> acknowledged by the broker (delivery report): p50 %.1f ms, p99 %.1f ms\n",
           a50, a99);
    printf("delay production -> readable in Redis (%d probes, %d not readable within %d s): "
           "p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (polled every %d ms)\n",
           nprobes, missing, DRAIN_S, p50, p90, p99, pmax, POLL_MS);
    double per_k = 1e6 / (double)(events + nprobes); /* s -> ms per 1 000 events */
    printf("CPU over the %.1f s window (production and the drain): redis-server %.2f s = %.2f ms "
           "per 1k events", window_s, redis_cpu, redis_cpu * per_k);
    if (ks_cpu >= 0)
        printf("; kpistream %.2f s = %.2f ms per 1k events", ks_cpu, ks_cpu * per_k);
    printf("\n");
    bool ok = processed == total;
    printf("check: kpi:meta events_processed %lld, events produced %" PRId64 " (%s)\n", processed,
           total, ok ? "ok" : "MISMATCH");
    printf("RESULT live_events %" PRId64 "\nRESULT live_eps %.0f\nRESULT live_probes %d\n"
           "RESULT live_missing %d\nRESULT live_ack_p50_ms %.1f\nRESULT live_ack_p99_ms %.1f\n"
           "RESULT live_p50_ms %.0f\nRESULT live_p90_ms %.0f\n"
           "RESULT live_p99_ms %.0f\nRESULT live_max_ms %.0f\nRESULT live_redis_cpu_s %.2f\n"
           "RESULT live_redis_cpu_ms_per_1k %.2f\nRESULT live_ks_cpu_ms_per_1k %.2f\n"
           "RESULT live_processed %lld\nRESULT live_expected %" PRId64 "\nRESULT live_check %s\n",
           events, (double)events / produced_s, nprobes, missing, a50, a99, p50, p90, p99, pmax, redis_cpu,
           redis_cpu * per_k, ks_cpu >= 0 ? ks_cpu * per_k : -1.0, processed, total,
           ok ? "ok" : "MISMATCH");
    free(d);
    free(probes);
    redisFree(rc);
    rd_kafka_destroy(rk);
    return stop ? 1 : 0;
}
