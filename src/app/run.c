/* The run loop. One thread: poll a batch from Kafka into the engine, move the
 * clock, and every flush_interval_ms write the changes to Redis in one
 * transaction and then commit the offsets they include. A failed write pauses
 * consumption (backpressure, state kept) and is retried with backoff. */
#include "app/run.h"

#include "kpistream/clock.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "kpistream/history.h"
#include "kpistream/log.h"
#include "kpistream/metrics.h"
#include "kpistream/sink.h"
#include "kpistream/snapshot.h"
#include "kpistream/source.h"

#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t ks__stop;

/* Exit status once Redis refused a command for lack of permission (an ACL
 * user without it): no retry can succeed, so the run stops at once instead of
 * retrying forever (docs/config.md, "Exit status of run"). */
#define KS_EXIT_NOPERM 5
static volatile sig_atomic_t ks__noperm_seen;

/* Returns true, logs once and tells the run to stop, if err holds Redis's
 * refusal for lack of permission (the sink's messages carry Redis's text):
 * NOPERM, or inside a script on Redis 7.0 "The user executing the script
 * can't run this command" (or access a key, or publish), which does not name
 * the command. */
static bool ks__noperm(const char *err)
{
    bool script = strstr(err, "The user executing the script can't") != NULL;
    if (!script && !strstr(err, "NOPERM"))
        return false;
    if (!ks__noperm_seen)
        ks_error("stopping: Redis refused a command for lack of permission: %s; grant it to "
                 "this user (docs/security.md lists what run needs%s) and start again", err,
                 script ? "; for a script, Redis's ACL LOG names the command" : "");
    ks__noperm_seen = 1;
    ks__stop = 1;
    return true;
}

static void ks__on_signal(int sig)
{
    (void)sig;
    ks__stop = 1;
}

static int64_t ks__wall_ms(void)
{
    return ks_wall_ms();
}

static int64_t ks__mono_ms(void)
{
    return ks_mono_ns() / 1000000;
}

typedef struct ks__run {
    const ks_config *cfg;
    ks_engine *engine;
    ks_redis_sink *sink;
    ks_redis_sink *names;  /* the name registry's own connection (a flush may be in flight on sink) */
    ks_source *source;
    ks_batch batch;
    bool outage;          /* the last flush failed */
    int backoff_ms;
    int64_t next_flush;   /* monotonic ms */
    int64_t flushes, failures;
    int64_t first_msg_ms;  /* monotonic time of the first message (0: none yet) */
    int64_t last_msg_ms;   /* ... and of the latest */
    int64_t eof_ms;        /* --exit-on-eof: when every partition was first at its end (0: not yet) */
    int64_t eof_wait_ms;   /* ... then how long the flush in flight took to settle */
    int64_t messages;
    int64_t polls, rounds;      /* polls that read messages; of them, on two threads */
    int64_t restore_started_ms; /* monotonic; 0: not restoring */
    int64_t restore_from_messages;
    int64_t progress_at;        /* monotonic: next progress line */
    int64_t progress_messages;  /* messages at the last progress line */
    int64_t flush_sent_ms;      /* monotonic: when the flush in flight was sent */
    char preload_kind;          /* kind of the names ks__preload receives */
    ks_metrics *metrics;        /* /metrics, /healthz, /readyz (docs/operations.md) */
    int64_t flush_start_ns;     /* monotonic: when the flush in flight started */
    int64_t history_minute;     /* wall minute (ms) whose history entry a flush carried (0: none) */
    int64_t metrics_at;         /* monotonic ms: next copy of the engine's gauges */
    int64_t lag;                /* messages left to read, as of lag_at */
    int64_t lag_at;             /* monotonic ms: next look at the lag */
    bool catchup;               /* lag >= KS_CATCHUP_LAG: flush by size, not by time */
    int64_t flush_begun_ms;     /* monotonic: start of the latest flush sent */
    int64_t lag_messages;       /* messages read when lag was taken */
    int64_t sent_at_messages;   /* messages read when the flush in flight was sent */
    int64_t read_in_flight;     /* messages read while the last flush written was in flight */
    size_t largest_flush;       /* most customers and notices waiting when a flush began */
    ks_snapshots *snaps;        /* partition snapshots in state_dir; NULL: off */
    double restore_s;           /* duration of the last restore (metrics) */
} ks__run;

/* A consumer this many messages behind is catching up: nobody reads its
 * outputs for freshness, and flushing every flush_interval_ms rewrote every
 * customer dozens of times (a 45-day backfill: 55 flushes, 1.3 M customer
 * writes for 50 k customers). It then flushes when flush_max_pending wait
 * or KS_CATCHUP_FLUSH_MS passed, which also bounds the work a crash repeats. */
#define KS_CATCHUP_LAG 100000
#define KS_CATCHUP_FLUSH_MS 10000

/* The tail of a catch-up: less is left to read than was read while the
 * last flush was written. Waiting for flush_max_pending there left the
 * catch-up's end with a full flush still being written after the last
 * message, then the final one (45-day backfill: 0.73 s + 0.34 s of Redis
 * with the reading done). Flushing as soon as Redis is free instead keeps
 * the flushes written while the rest is read, each carrying what came in
 * during the one before, so the final flush is small. Only after a flush
 * that overlapped at least KS_CATCHUP_LAG messages: a live stream's flushes
 * overlap a few hundred, and keep flush_interval_ms. */
static bool ks__catchup_tail(const ks__run *r)
{
    int64_t left = r->lag - (r->messages - r->lag_messages);
    return r->read_in_flight >= KS_CATCHUP_LAG && left > 0 && left <= r->read_in_flight;
}

/* Interval of the progress line. */
#define KS_PROGRESS_MS 5000

/* One info line: messages/s since the last one, the event clock, state,
 * flushes; so a long catch-up or restore is never silent. */
static void ks__progress(ks__run *r, int64_t now)
{
    int64_t n = r->messages - r->progress_messages;
    r->progress_messages = r->messages;
    if (n == 0 && !ks_engine_restoring(r->engine))
        return;
    ks_engine_stats st;
    ks_engine_stats_get(r->engine, &st);
    char clock[40] = "none";
    if (st.clock_ms != INT64_MIN) {
        time_t t = (time_t)(st.clock_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(clock, sizeof clock, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    (void)now;
    double rate = (double)n * 1000.0 / KS_PROGRESS_MS;
    char eta[32] = "";
    if (r->lag > 0 && rate > 0)
        snprintf(eta, sizeof eta, ", ETA %.0f s", (double)r->lag / rate);
    ks_info("progress: %.0f messages/s, %lld messages, lag %lld%s, clock %s, %lld customers, "
            "state %.1f MiB, %lld flushes%s%s",
            rate, (long long)r->messages, (long long)r->lag, eta, clock, (long long)st.customers,
            (double)ks_engine_memory(r->engine) / 1048576.0, (long long)r->flushes,
            r->catchup ? ", catching up" : "", ks_engine_restoring(r->engine) ? ", restoring" : "");
}

/* A flush failed: pause consumption (the group session stays alive) and
 * let the caller retry with backoff; everything stays pending. */
static int ks__flush_failed(ks__run *r, int rc, const char *err)
{
    ks_metrics_flush(r->metrics, false, ks_mono_ns() - r->flush_start_ns, 0);
    r->history_minute = 0; /* the next flush carries the snapshot again */
    if (ks__noperm(err))
        return rc;
    r->failures++;
    if (!r->outage)
        ks_error("flush failed, pausing consumption and retrying: %s", err);
    r->outage = true;
    ks_source_pause(r->source, true);
    return rc;
}

/* Reads the group state under WATCH, builds the flush from it and sends it
 * without waiting for the reply (see src/engine/flush.h). *sent: whether a
 * flush is now in flight (nothing is sent without partitions or while one
 * replays). */
static int ks__flush_send(ks__run *r, bool *sent, char *err, size_t errsize)
{
    int64_t wall = ks__wall_ms();
    *sent = false;
    ks_engine_tick(r->engine, wall);
    /* Without partitions (joining the group) there is nothing of ours to
     * write: an empty flush would zero kpi:meta for everyone. While a
     * partition replays to its restore point the aggregates are incomplete:
     * writing them would move dashboards backwards. */
    if (ks_engine_partitions(r->engine) == 0 || ks_engine_restoring(r->engine))
        return 0;
    if (r->restore_started_ms) {
        double secs = (double)(ks__mono_ms() - r->restore_started_ms) / 1000.0;
        ks_engine_stats st;
        ks_engine_stats_get(r->engine, &st);
        ks_info("state restored: %lld messages read while replaying, %lld customers, in %.3f s "
                "(%.0f messages/s)",
                (long long)(r->messages - r->restore_from_messages), (long long)st.customers, secs,
                secs > 0 ? (double)(r->messages - r->restore_from_messages) / secs : 0.0);
        r->restore_started_ms = 0;
        r->restore_s = secs;
    }
    r->flush_start_ns = ks_mono_ns();
    size_t carried = ks_engine_pending(r->engine);
    if (carried > r->largest_flush)
        r->largest_flush = carried;
    ks_debug("flush: %zu customers and notices, %lld messages read, lag %lld%s", carried,
             (long long)r->messages, (long long)r->lag, r->catchup ? ", catching up" : "");
    /* Rejected messages are part of the offsets being committed: their
     * dead-letter copies must be delivered first. */
    if (ks_source_dlq_flush(r->source, r->cfg->redis_timeout_ms) < 0) {
        snprintf(err, errsize, "dead-letter messages still in flight; flush postponed");
        return KS_ERR_KAFKA;
    }
    int rc;
    for (int tries = 0;; tries++) {
        ks_engine_flush_read(r->engine, &r->batch);
        rc = ks_redis_sink_read(r->sink, &r->batch, err, errsize);
        /* The transaction's commands go to Redis while they are built. */
        bool streaming = false;
        if (rc == 0)
            streaming = (rc = ks_redis_sink_stream_begin(r->sink, &r->batch, err, errsize)) == 0;
        if (rc == 0) {
            const char *const *strs;
            const size_t *lens;
            size_t n = ks_redis_sink_reply(r->sink, &strs, &lens);
            rc = ks_engine_build_flush(r->engine, strs, lens, n, &r->batch, wall, err, errsize);
        }
        /* The first flush of each minute also snapshots the KPIs (kpi:history). */
        if (rc == 0 && wall - wall % 60000 != r->history_minute) {
            ks_history_append(&r->batch, r->cfg, wall);
            r->history_minute = wall - wall % 60000;
        }
        if (rc == 0)
            rc = ks_redis_sink_send_watched(r->sink, &r->batch, err, errsize);
        else if (streaming)
            ks_redis_sink_stream_abort(r->sink, &r->batch);
        if (rc != KS_ERR_CONFLICT || tries >= 50)
            break;
    }
    if (rc < 0)
        return rc;
    ks_engine_flush_sent(r->engine);
    r->flush_sent_ms = ks__mono_ms();
    r->sent_at_messages = r->messages;
    *sent = true;
    /* Nothing consumed since the build: a snapshot now has its offsets. */
    ks_snapshots_after_build(r->snaps, r->engine, r->flush_sent_ms);
    return 0;
}

/* Waits for the flush in flight and settles it: on success the offsets it
 * carried are committed. Returns 0, KS_ERR_CONFLICT (another member flushed
 * between our read and EXEC: nothing applied, build again), or the error. */
static int ks__flush_collect(ks__run *r, bool sync_commit)
{
    char err[KS_ERRSTR_SIZE];
    int rc = ks_redis_sink_finish(r->sink, err, sizeof err);
    ks_snapshots_flush_result(r->snaps, rc == 0);
    if (rc < 0) {
        if (ks_engine_flush_failed(r->engine) < 0)
            ks_error("out of memory taking back a failed flush");
        return rc == KS_ERR_CONFLICT ? rc : ks__flush_failed(r, rc, err);
    }
    ks_engine_flush_done(r->engine);
    r->flushes++;
    r->read_in_flight = r->messages - r->sent_at_messages;
    ks_debug("flush %lld written in %.3f s", (long long)r->flushes,
             (double)(ks_mono_ns() - r->flush_start_ns) / 1e9);
    ks_metrics_flush(r->metrics, true, ks_mono_ns() - r->flush_start_ns, ks__wall_ms());
    if (r->outage) {
        ks_info("flush succeeded again after %lld failed attempts; resuming", (long long)r->failures);
        r->outage = false;
        r->failures = 0;
        ks_source_pause(r->source, false);
    }
    if (ks_source_commit(r->source, sync_commit, err, sizeof err) < 0)
        ks_warn("%s (the next commit covers it)", err); /* Redis holds the offsets too */
    return 0;
}

/* Starts a flush while consumption goes on (the run loop collects it).
 * Returns 0 or the error (the flush failed before it was sent). */
static int ks__flush_start(ks__run *r)
{
    char err[KS_ERRSTR_SIZE];
    bool sent;
    int rc = ks__flush_send(r, &sent, err, sizeof err);
    if (rc == KS_ERR_KAFKA) {
        ks_warn("%s", err);
        return rc;
    }
    return rc < 0 ? ks__flush_failed(r, rc, err) : 0;
}

/* Copies the engine's gauges to the metrics endpoint, at most every 250 ms
 * (ks_engine_memory() walks every window of every partition). */
static void ks__metrics_update(ks__run *r, int64_t now)
{
    if (now < r->metrics_at)
        return;
    r->metrics_at = now + 250;
    ks_engine_stats st;
    ks_engine_stats_get(r->engine, &st);
    ks_metrics_state ms = {.partitions = ks_engine_partitions(r->engine),
                           .restoring = ks_engine_restoring(r->engine),
                           .state_bytes = (int64_t)ks_engine_memory(r->engine),
                           .customers = st.customers,
                           .clock_ms = st.clock_ms};
    ms.restore_remaining = ks_engine_restore_remaining(r->engine);
    ms.restore_seconds = r->restore_started_ms ? (double)(now - r->restore_started_ms) / 1000.0
                                               : r->restore_s;
    ks_snapshots_stats ss;
    ks_snapshots_stats_get(r->snaps, &ss);
    ms.snapshots_written = ss.written;
    ms.snapshot_bytes = ss.last_bytes;
    ms.snapshot_write_seconds = ss.last_write_s;
    ms.snapshot_stall_seconds = ss.max_stall_s;
    ks_metrics_set_state(r->metrics, &ms);
}

/* Writes the engine's changes to Redis and commits the offsets they
 * include, waiting for it: a flush in flight is settled first. Returns 0 on
 * success. */
static int ks__flush(ks__run *r, bool sync_commit)
{
    char err[KS_ERRSTR_SIZE];
    int rc;
    if (ks_redis_sink_inflight(r->sink))
        (void)ks__flush_collect(r, sync_commit); /* the flush below covers a failure */
    for (int tries = 0;; tries++) {
        bool sent;
        rc = ks__flush_send(r, &sent, err, sizeof err);
        if (rc == KS_ERR_KAFKA) {
            ks_warn("%s", err);
            return rc;
        }
        if (rc < 0)
            return ks__flush_failed(r, rc, err);
        if (!sent)
            return 0;
        rc = ks__flush_collect(r, sync_commit);
        if (rc != KS_ERR_CONFLICT)
            return rc;
        if (tries >= 50)
            return ks__flush_failed(r, rc, "the group state kept changing (50 attempts)");
    }
}

/* A registered name, into the engine's table (r->preload_kind says which). */
static void ks__preload(void *ctx, const char *name, size_t len)
{
    ks__run *r = ctx;
    ks_engine_preload_name(r->engine, r->preload_kind, name, len);
}

/* A name this process has not seen: the registry decides whether it is
 * tracked, waiting for Redis if it must (a wrong guess would fold a name
 * differently from the other members and restarts). */
static int ks__admit(void *ctx, char kind, const char *name, uint32_t len)
{
    ks__run *r = ctx;
    char err[KS_ERRSTR_SIZE];
    int backoff = 100;
    for (;;) {
        r->preload_kind = kind;
        int rc = ks_redis_sink_admit_name(r->names, kind, name, len,
                                          ks_engine_name_limit(r->engine, kind), ks__preload, r,
                                          err, sizeof err);
        if (rc >= 0)
            return rc;
        if (ks__noperm(err) || ks__stop) /* the final flush fails too: nothing is committed */
            return 0;
        ks_warn("%s; retrying in %d ms", err, backoff);
        struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > r->cfg->redis_retry_max_ms ? r->cfg->redis_retry_max_ms : backoff * 2;
    }
}

/* Restore point of a newly assigned partition: waits for Redis, because
 * without it we cannot know which outputs already exist. */
static int64_t ks__on_assign(void *ctx, const char *topic, int32_t partition)
{
    ks__run *r = ctx;
    char err[KS_ERRSTR_SIZE];
    ks_stored_partition sp;
    int backoff = 100;
    /* The connection carries one thing at a time: settle a flush in flight
     * first (a failure is retried by the next flush). */
    if (ks_redis_sink_inflight(r->sink))
        (void)ks__flush_collect(r, false);
    while (ks_redis_sink_stored_partition(r->sink, topic, partition, &sp, err, sizeof err) < 0) {
        if (ks__noperm(err) || ks__stop)
            return -1;
        ks_warn("%s; retrying in %d ms", err, backoff);
        struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > r->cfg->redis_retry_max_ms ? r->cfg->redis_retry_max_ms : backoff * 2;
    }
    int64_t off = sp.next_offset;
    ks_engine_set_restore_point(r->engine, topic, partition, off, sp.token, sp.clock_ms);
    if (off > 0)
        ks_snapshots_restore(r->snaps, r->engine, topic, partition);
    if (off > 0 && !r->restore_started_ms) {
        r->restore_started_ms = ks__mono_ms();
        r->restore_from_messages = r->messages;
    }
    return off;
}

static void ks__on_revoke(void *ctx)
{
    ks__run *r = ctx;
    if (ks__flush(r, true) < 0)
        ks_warn("could not flush before revocation; the next owner re-reads from the last commit");
    else
        ks_snapshots_now(r->snaps, r->engine, false); /* the next owner starts from it */
}

/* The settings that change what is counted, as one comparable string. */
static void ks__counting_desc(const ks_config *cfg, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "clock=%s;windows=",
                                cfg->clock == KS_CLOCK_EVENT ? "event" : "wall");
    for (int w = 0; w < cfg->nwindows && n < size; w++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", w ? "," : "", cfg->windows[w].name);
    if (n < size)
        snprintf(buf + n, size - n,
                 ";churn_inactivity_ms=%lld;csat_satisfied_min=%d;nps=%d/%d;max_segments=%d;"
                 "max_channels=%d",
                 (long long)cfg->churn_inactivity_ms, cfg->csat_satisfied_min,
                 cfg->nps_promoter_min, cfg->nps_detractor_max, cfg->max_segments,
                 cfg->max_channels);
}

int ks_run(const ks_config *cfg)
{
    char err[KS_ERRSTR_SIZE] = "";
    ks__run r;
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    ks_batch_init(&r.batch);
    int status = 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ks__on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A write to a Redis that just went away must fail with EPIPE (and be
     * retried), not kill the process. */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ign, NULL);
    /* For glibc's malloc only (the sanitizer builds, or KS_JEMALLOC=OFF):
     * the kpistream program links jemalloc (CMakeLists.txt), which glibc's
     * mallopt does not reach. One arena for every thread, set before
     * librdkafka starts its own: the consume loop frees each message the
     * broker thread allocated, and with an arena per thread the freed space
     * sat in the broker thread's arena (45-day catch-up: peak RSS 396 -> 375
     * MB; docs/benchmarks.md). */
    mallopt(M_ARENA_MAX, 1);

    /* First, so /healthz answers while we wait for Redis, and a port in use
     * is an error at once. */
    r.metrics = ks_metrics_new(cfg->metrics_listen, err, sizeof err);
    if (!r.metrics)
        goto out;
    r.engine = ks_engine_new(cfg, err, sizeof err);
    if (!r.engine)
        goto out;
    r.sink = ks_redis_sink_new(cfg, err, sizeof err);
    if (!r.sink)
        goto out;
    /* Wait for Redis before consuming anything: there is nowhere to put results. */
    int backoff = 100;
    while (!ks__stop && ks_redis_sink_connect(r.sink, err, sizeof err) < 0) {
        if (ks__noperm(err))
            break;
        ks_warn("%s; retrying in %d ms", err, backoff);
        struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > cfg->redis_retry_max_ms ? cfg->redis_retry_max_ms : backoff * 2;
    }
    if (ks__stop) {
        status = ks__noperm_seen ? KS_EXIT_NOPERM : 0;
        goto out;
    }
    /* The prefix's sums are one group's, counted one way: refuse to add to
     * another group's, or to mix configurations (docs/redis.md). */
    char desc[512];
    ks__counting_desc(cfg, desc, sizeof desc);
    for (;;) {
        int crc = ks_redis_sink_claim(r.sink, desc, err, sizeof err);
        if (crc == 0)
            break;
        if (ks__noperm(err)) {
            status = KS_EXIT_NOPERM;
            goto out;
        }
        if (crc != KS_ERR_REDIS || ks__stop)
            goto out; /* the message names the mismatch; exit 1 */
        ks_warn("%s; retrying in %d ms", err, backoff);
        struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        backoff = backoff * 2 > cfg->redis_retry_max_ms ? cfg->redis_retry_max_ms : backoff * 2;
    }
    /* The names the prefix tracks, in the order they were registered:
     * every member and restart folds the same names (ks__admit). */
    r.names = ks_redis_sink_new(cfg, err, sizeof err);
    if (!r.names)
        goto out;
    for (int k = 0; k < 2; k++) {
        char kind = k ? 'c' : 's';
        r.preload_kind = kind;
        while (ks_redis_sink_names(r.names, kind, ks__preload, &r, err, sizeof err) < 0) {
            if (ks__noperm(err)) {
                status = KS_EXIT_NOPERM;
                goto out;
            }
            if (ks__stop)
                goto out;
            ks_warn("%s; retrying in %d ms", err, backoff);
            struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            backoff = backoff * 2 > cfg->redis_retry_max_ms ? cfg->redis_retry_max_ms : backoff * 2;
        }
    }
    ks_engine_set_name_admit(r.engine, ks__admit, &r);
    err[0] = '\0';
    char member[40];
    snprintf(member, sizeof member, "%x%llx", (unsigned)getpid(),
             (unsigned long long)(ks_wall_ms() * 1000003 ^ ks_mono_ns()));
    ks_engine_set_member(r.engine, member);
    r.snaps = ks_snapshots_new(cfg, err, sizeof err);
    if (!r.snaps && err[0])
        goto out;
    r.source = ks_source_new(cfg, r.engine, ks__on_assign, ks__on_revoke, &r, err, sizeof err);
    if (!r.source)
        goto out;
    ks_source_on_stats(r.source, ks_metrics_kafka_stats, r.metrics);
    ks_info("kpistream %s running: brokers=%s group=%s clock=%s flush every %d ms", KS_VERSION,
            cfg->brokers, cfg->group, cfg->clock == KS_CLOCK_EVENT ? "event" : "wall",
            cfg->flush_interval_ms);

    r.next_flush = ks__mono_ms() + cfg->flush_interval_ms;
    r.progress_at = ks__mono_ms() + KS_PROGRESS_MS;
    r.backoff_ms = 100;
    status = 0;
    ks_metrics_set_phase(r.metrics, KS_METRICS_RUNNING);
    while (!ks__stop) {
        ks_source_poll_stats st;
        /* flush_max_pending bounds what one flush carries: reading stops
         * once that many customers and notices wait, until the flush in
         * flight is collected and the next one takes them. A partition
         * replaying to its restore point makes nothing pending and is read
         * regardless; the others wait with the rest, since nothing is
         * written until every replay is done. */
        size_t maxp = (size_t)cfg->flush_max_pending;
        if (ks_source_poll(r.source, maxp, 100,
                           ks__wall_ms(), &st, err, sizeof err) < 0) {
            ks_error("%s", err);
            status = 2;
            break;
        }
        if (ks_engine_fenced(r.engine)) {
            /* Another member wrote one of our partitions (we were cut off
             * from the group, or Redis lost its data): our state for it is
             * stale. Leave; a restart rejoins and rebuilds from Redis. */
            ks_error("stopping: a partition of ours was taken over (see above); restart to rejoin");
            status = 4;
            ks_metrics_add(r.metrics, KS_METRIC_FENCED_EXITS, 1);
            break;
        }
        if (st.messages) {
            r.last_msg_ms = ks__mono_ms();
            if (!r.first_msg_ms)
                r.first_msg_ms = r.last_msg_ms;
        }
        r.messages += st.messages;
        r.polls += st.messages > 0;
        r.rounds += st.round && st.messages > 0;
        ks_metrics_count_poll(r.metrics, &st);
        ks_snapshots_poll(r.snaps);
        ks_engine_tick(r.engine, ks__wall_ms());
        bool eof = cfg->exit_on_eof && ks_engine_all_eof(r.engine);
        int64_t now = ks__mono_ms();
        ks__metrics_update(&r, now);
        /* A catch-up fills a flush interval with days of events: flush as
         * soon as flush_max_pending customers and notices wait, so no
         * transaction grows large enough to time out. */
        bool full = !r.outage && ks_engine_pending(r.engine) >= maxp;
        if (now >= r.lag_at) {
            r.lag = ks_source_lag(r.source);
            r.lag_messages = r.messages;
            r.catchup = r.lag >= KS_CATCHUP_LAG;
            r.lag_at = now + 500;
        }
        if (now >= r.progress_at) {
            ks__progress(&r, now);
            r.progress_at = now + KS_PROGRESS_MS;
        }
        /* A flush in flight is collected once its reply is there (or it
         * took longer than redis_timeout_ms: then waiting gives the error). */
        if (ks_redis_sink_inflight(r.sink) &&
            (ks_redis_sink_ready(r.sink) || now - r.flush_sent_ms > cfg->redis_timeout_ms)) {
            int crc = ks__flush_collect(&r, false);
            if (crc == KS_ERR_CONFLICT)
                crc = ks__flush(&r, false);
            if (crc < 0) {
                r.next_flush = now + r.backoff_ms;
                r.backoff_ms = r.backoff_ms * 2 > cfg->redis_retry_max_ms ? cfg->redis_retry_max_ms
                                                                          : r.backoff_ms * 2;
            } else {
                r.backoff_ms = 100;
            }
        }
        bool due = (now >= r.next_flush &&
                    (!r.catchup || now - r.flush_begun_ms >= KS_CATCHUP_FLUSH_MS)) ||
                   (!r.outage && ks__catchup_tail(&r) && ks_engine_pending(r.engine) > 0);
        if (!eof && (due || full) && !ks_redis_sink_inflight(r.sink)) {
            /* The flush goes out while consumption continues; its reply is
             * collected above, its offsets committed then. */
            r.flush_begun_ms = now;
            if (ks__flush_start(&r) == 0) {
                r.next_flush = now + cfg->flush_interval_ms;
            } else {
                r.next_flush = now + r.backoff_ms;
                r.backoff_ms = r.backoff_ms * 2 > cfg->redis_retry_max_ms ? cfg->redis_retry_max_ms
                                                                          : r.backoff_ms * 2;
            }
        } else if (eof) {
            if (!r.eof_ms) {
                r.eof_ms = now;
                if (ks_redis_sink_inflight(r.sink))
                    (void)ks__flush_collect(&r, false); /* (a failure: the flush below covers it) */
                r.eof_wait_ms = ks__mono_ms() - now;
            }
            if (ks__flush(&r, eof) == 0) {
                r.backoff_ms = 100;
                r.next_flush = now + cfg->flush_interval_ms;
                if (eof && ks_engine_all_eof(r.engine)) {
                    ks_info("every assigned partition is consumed, flushed and committed; exiting");
                    ks_snapshots_now(r.snaps, r.engine, true);
                    break;
                }
            } else {
                r.next_flush = now + r.backoff_ms;
                r.backoff_ms = r.backoff_ms * 2 > cfg->redis_retry_max_ms ? cfg->redis_retry_max_ms
                                                                          : r.backoff_ms * 2;
            }
        }
    }
    ks_metrics_set_phase(r.metrics, KS_METRICS_STOPPING);
    if (ks__noperm_seen) {
        status = KS_EXIT_NOPERM; /* no flush can succeed; logged where it was refused */
    } else if (ks__stop) {
        /* Graceful stop: one last flush and a synchronous commit. */
        int tries = 0;
        while (ks__flush(&r, true) < 0 && ++tries < 5) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (tries >= 5) {
            ks_error("stopping without a final flush: Redis unreachable; uncommitted events "
                     "will be consumed again on restart");
            status = 3;
        } else {
            ks_snapshots_now(r.snaps, r.engine, true); /* the restart starts from it */
        }
    }
    ks_engine_stats s;
    ks_engine_stats_get(r.engine, &s);
    ks_info("stopped: %lld events processed, %lld rejected, %lld duplicates, %lld customers",
            (long long)s.processed, (long long)s.rejected, (long long)s.duplicates,
            (long long)s.customers);
    if (r.first_msg_ms) {
        /* From the first message to the last successful flush and commit:
         * what the benchmark reads as end-to-end throughput. */
        double secs = (double)(ks__mono_ms() - r.first_msg_ms) / 1000.0;
        ks_info("throughput: %lld messages in %.3f s = %.0f messages/s (first message to "
                "final flush), %lld flushes, state %.1f MiB; %lld of %lld polls on two threads",
                (long long)r.messages, secs, secs > 0 ? (double)r.messages / secs : 0.0,
                (long long)r.flushes, (double)ks_engine_memory(r.engine) / 1048576.0,
                (long long)r.rounds, (long long)r.polls);
        ks_info("largest flush: %zu customers and notices (flush_max_pending %d), %llu commands",
                r.largest_flush, cfg->flush_max_pending,
                (unsigned long long)ks_engine_max_flush_cmds(r.engine));
        /* Where the end of a catch-up goes: after the last message, the
         * flush in flight is waited for, then the final one is sent. */
        if (r.eof_ms)
            ks_info("end: last message %.3f s after the first; every partition at its end "
                    "%.3f s later; then %lld ms for the flush in flight and %lld ms for the "
                    "final flush and commit",
                    (double)(r.last_msg_ms - r.first_msg_ms) / 1000.0,
                    (double)(r.eof_ms - r.last_msg_ms) / 1000.0, (long long)r.eof_wait_ms,
                    (long long)(ks__mono_ms() - r.eof_ms - r.eof_wait_ms));
    }
    ks_source_close(r.source);
out:
    if (status == 1 && err[0])
        ks_error("%s", err);
    ks_source_free(r.source);
    ks_snapshots_free(r.snaps);
    ks_metrics_free(r.metrics);
    ks_redis_sink_free(r.sink);
    ks_redis_sink_free(r.names);
    ks_engine_free(r.engine);
    ks_batch_reset(&r.batch);
    return status;
}
