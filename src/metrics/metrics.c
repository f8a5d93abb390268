/* Metric values, the exposition and readiness; see include/kpistream/metrics.h.
 * The HTTP side is http.c, the exposition format expo.c, the consumer-lag
 * parser kafka_stats.c. */
#include "metrics/expo.h"
#include "metrics/internal.h"

#include "http/http.h"
#include "kpistream/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS__NS "kpistream_"

static const double ks__flush_bounds[KS_METRICS_NFLUSH_BUCKETS] = {KS_METRICS_FLUSH_BUCKETS};

static const struct {
    const char *name, *help;
} ks__counters[KS_METRIC__NCOUNTERS] = {
#define KS__METRIC_ROW(id, name, help) {KS__NS name, help},
    KS_METRIC_COUNTERS(KS__METRIC_ROW)
#undef KS__METRIC_ROW
};

ks_metrics *ks_metrics_new(const char *listen, char *errstr, size_t errsize)
{
    ks_metrics *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(errstr, errsize, "metrics: out of memory");
        return NULL;
    }
    for (int i = 0; i < KS_METRIC__NCOUNTERS; i++)
        atomic_init(&m->counters[i], 0);
    for (int i = 0; i < KS_REJECT__COUNT; i++)
        atomic_init(&m->rejected[i], 0);
    pthread_mutex_init(&m->mu, NULL);
    m->st.clock_ms = INT64_MIN;
    if (listen && *listen && ks__metrics_http_start(m, listen, errstr, errsize) < 0) {
        ks_metrics_free(m);
        return NULL;
    }
    return m;
}

void ks_metrics_free(ks_metrics *m)
{
    if (!m)
        return;
    ks__metrics_http_stop(m);
    pthread_mutex_destroy(&m->mu);
    free(m->lag);
    free(m);
}

int ks_metrics_port(const ks_metrics *m)
{
    return m && m->http ? ks_http_port(m->http) : 0;
}

void ks_metrics_add(ks_metrics *m, ks_metric_counter c, uint64_t n)
{
    if (m && c >= 0 && c < KS_METRIC__NCOUNTERS && n)
        atomic_fetch_add_explicit(&m->counters[c], n, memory_order_relaxed);
}

void ks_metrics_count_poll(ks_metrics *m, const ks_source_poll_stats *st)
{
    if (!m)
        return;
    ks_metrics_add(m, KS_METRIC_MESSAGES_CONSUMED, (uint64_t)st->messages);
    ks_metrics_add(m, KS_METRIC_EVENTS_ACCEPTED, (uint64_t)st->accepted);
    ks_metrics_add(m, KS_METRIC_DUPLICATES, (uint64_t)st->duplicates);
    ks_metrics_add(m, KS_METRIC_REBALANCES, (uint64_t)st->rebalances);
    if (!st->rejected)
        return;
    for (int i = 0; i < KS_REJECT__COUNT; i++)
        if (st->rejected_by[i] > 0)
            atomic_fetch_add_explicit(&m->rejected[i], (uint64_t)st->rejected_by[i],
                                      memory_order_relaxed);
}

void ks_metrics_flush(ks_metrics *m, bool ok, int64_t duration_ns, int64_t wall_ms)
{
    if (!m)
        return;
    ks_metrics_add(m, ok ? KS_METRIC_FLUSHES : KS_METRIC_FLUSH_FAILURES, 1);
    double secs = duration_ns > 0 ? (double)duration_ns / 1e9 : 0.0;
    int b = 0;
    while (b < KS_METRICS_NFLUSH_BUCKETS && secs > ks__flush_bounds[b])
        b++;
    pthread_mutex_lock(&m->mu);
    m->hist[b]++;
    m->hist_sum += secs;
    m->flush_failed = !ok;
    if (ok)
        m->last_ok_ms = wall_ms;
    pthread_mutex_unlock(&m->mu);
}

void ks_metrics_set_state(ks_metrics *m, const ks_metrics_state *st)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->st = *st;
    pthread_mutex_unlock(&m->mu);
}

void ks_metrics_set_phase(ks_metrics *m, ks_metrics_phase phase)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->mu);
    m->phase = phase;
    pthread_mutex_unlock(&m->mu);
}

void ks_metrics_kafka_stats(void *ctx, const char *json, size_t len)
{
    ks_metrics *m = ctx;
    ks_metrics_lag *lag;
    if (!m)
        return;
    int n = ks_metrics_parse_kafka_lag(json, len, &lag);
    if (n < 0)
        return;
    pthread_mutex_lock(&m->mu);
    ks_metrics_lag *old = m->lag;
    m->lag = lag;
    m->nlag = n;
    pthread_mutex_unlock(&m->mu);
    free(old);
}

/* Readiness from a copy of the guarded fields. */
static bool ks__ready(ks_metrics_phase phase, const ks_metrics_state *st, bool flush_failed,
                      char *why, size_t n)
{
    const char *r = NULL;
    if (phase == KS_METRICS_STARTING)
        r = "starting: connecting to Redis and joining the consumer group";
    else if (phase == KS_METRICS_STOPPING)
        r = "stopping";
    else if (st->partitions == 0)
        r = "no partitions assigned";
    else if (st->restoring)
        r = "restoring state: replaying partitions up to the offsets stored in Redis";
    else if (flush_failed)
        r = "the last flush to Redis failed (retrying)";
    if (r && why && n)
        snprintf(why, n, "%s", r);
    return r == NULL;
}

bool ks_metrics_ready(ks_metrics *m, char *why, size_t n)
{
    if (!m) {
        if (why && n)
            snprintf(why, n, "no metrics");
        return false;
    }
    pthread_mutex_lock(&m->mu);
    ks_metrics_phase phase = m->phase;
    ks_metrics_state st = m->st;
    bool failed = m->flush_failed;
    pthread_mutex_unlock(&m->mu);
    return ks__ready(phase, &st, failed, why, n);
}

static void ks__gauge(ks_expo *e, const char *name, const char *help, double v)
{
    ks_expo_family(e, name, "gauge", help);
    ks_expo_sample(e, name, NULL, NULL, 0, v);
}

static void ks__rejected(ks_expo *e, ks_metrics *m)
{
    const char *name = KS__NS "events_rejected_total";
    const char *key[] = {"reason"};
    ks_expo_family(e, name, "counter",
                   "Messages rejected and dead-lettered, by reason code (docs/events.md); the "
                   "field named in the dead-letter header is not a label.");
    /* Every known code, zeros included, so rate() sees each series from the start. */
    for (int i = 0; i < KS_REJECT__COUNT; i++) {
        if (i == KS_REJECT_NONE)
            continue;
        const char *val[] = {ks_reject_code_name((ks_reject_code)i)};
        ks_expo_sample_u64(e, name, key, val, 1,
                           atomic_load_explicit(&m->rejected[i], memory_order_relaxed));
    }
}

char *ks_metrics_render(ks_metrics *m, int64_t wall_ms, size_t *len)
{
    if (!m)
        return NULL;
    /* Copy the guarded part out; format without the lock. */
    pthread_mutex_lock(&m->mu);
    ks_metrics_state st = m->st;
    ks_metrics_phase phase = m->phase;
    bool failed = m->flush_failed;
    int64_t last_ok = m->last_ok_ms;
    uint64_t hist[KS_METRICS_NFLUSH_BUCKETS + 1];
    memcpy(hist, m->hist, sizeof hist);
    double hsum = m->hist_sum;
    int nlag = m->nlag;
    ks_metrics_lag *lag = nlag ? malloc((size_t)nlag * sizeof *lag) : NULL;
    if (lag)
        memcpy(lag, m->lag, (size_t)nlag * sizeof *lag);
    else
        nlag = 0;
    pthread_mutex_unlock(&m->mu);

    ks_expo e;
    ks_expo_init(&e);
    for (int c = 0; c < KS_METRIC__NCOUNTERS; c++) {
        ks_expo_family(&e, ks__counters[c].name, "counter", ks__counters[c].help);
        ks_expo_sample_u64(&e, ks__counters[c].name, NULL, NULL, 0,
                           atomic_load_explicit(&m->counters[c], memory_order_relaxed));
        if (c == KS_METRIC_EVENTS_ACCEPTED)
            ks__rejected(&e, m);
    }
    const char *hname = KS__NS "flush_duration_seconds";
    ks_expo_family(&e, hname, "histogram",
                   "Time from the start of a flush (reading the group state under WATCH) to "
                   "Redis's reply, failed attempts included.");
    ks_expo_histogram(&e, hname, ks__flush_bounds, hist, KS_METRICS_NFLUSH_BUCKETS, hsum);
    ks__gauge(&e, KS__NS "last_flush_success_timestamp_seconds",
              "Unix time of the last successful flush; 0 before the first.",
              (double)last_ok / 1000.0);
    ks__gauge(&e, KS__NS "partitions_assigned", "Kafka partitions assigned to this member.",
              st.partitions);
    ks__gauge(&e, KS__NS "restoring",
              "1 while an assigned partition replays up to its restore point (nothing is "
              "written to Redis meanwhile), else 0.",
              st.restoring ? 1 : 0);
    ks__gauge(&e, KS__NS "restore_remaining",
              "Messages still to replay before the restoring partitions have their state "
              "(from their snapshot, or from their first offset, to the offset stored in Redis).",
              (double)st.restore_remaining);
    ks__gauge(&e, KS__NS "restore_duration_seconds",
              "Duration of the restore in progress so far, else of the last one; 0 before any.",
              st.restore_seconds);
    ks__gauge(&e, KS__NS "snapshots_written",
              "Partition snapshot writes committed to state_dir by this process (0 when off).",
              (double)st.snapshots_written);
    ks__gauge(&e, KS__NS "snapshot_bytes", "Bytes of the last snapshot write, all partitions.",
              (double)st.snapshot_bytes);
    ks__gauge(&e, KS__NS "snapshot_write_seconds",
              "Duration of the last snapshot write (fork to files synced, in the background).",
              st.snapshot_write_seconds);
    ks__gauge(&e, KS__NS "snapshot_stall_seconds_max",
              "Longest stall of the consume loop that starting a snapshot caused (the fork).",
              st.snapshot_stall_seconds);
    ks__gauge(&e, KS__NS "ready",
              "1 when /readyz answers 200: in the consume loop, partitions assigned, no restore "
              "in progress, last flush succeeded.",
              ks__ready(phase, &st, failed, NULL, 0) ? 1 : 0);
    ks__gauge(&e, KS__NS "customers", "Customers held in memory over the assigned partitions.",
              (double)st.customers);
    ks__gauge(&e, KS__NS "state_bytes",
              "Approximate bytes of in-memory state (customers, indexes, windows).",
              (double)st.state_bytes);
    if (st.clock_ms != INT64_MIN)
        ks__gauge(&e, KS__NS "event_time_lag_seconds",
                  "Wall-clock time minus the engine's window clock (with clock=event, the "
                  "event-time watermark).",
                  (double)(wall_ms - st.clock_ms) / 1000.0);
    const char *lname = KS__NS "consumer_lag";
    ks_expo_family(&e, lname, "gauge",
                   "Messages between the group's committed offset and the end of the partition "
                   "(librdkafka statistics; absent until the partition's first commit).");
    const char *lkeys[] = {"topic", "partition"};
    for (int i = 0; i < nlag; i++) {
        char pnum[16];
        snprintf(pnum, sizeof pnum, "%d", (int)lag[i].partition);
        const char *lvals[] = {lag[i].topic, pnum};
        ks_expo_sample(&e, lname, lkeys, lvals, 2, (double)lag[i].lag);
    }
    free(lag);
    const char *bkeys[] = {"version"};
    const char *bvals[] = {KS_VERSION};
    ks_expo_family(&e, KS__NS "build_info", "gauge", "Always 1; the version as a label.");
    ks_expo_sample(&e, KS__NS "build_info", bkeys, bvals, 1, 1);
    return ks_expo_take(&e, len);
}
