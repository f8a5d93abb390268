/* Operations endpoint of `kpistream run` (CONTRACT.md section 6, docs/operations.md):
 * GET /metrics in the Prometheus text exposition format (version 0.0.4),
 * GET /healthz and GET /readyz, served by libmicrohttpd on a thread of its own.
 *
 * The run loop writes, the HTTP thread reads, and neither waits for the other
 * for long: counters are atomics (ks_metrics_add(), lock-free); gauges, the
 * flush histogram and the consumer-lag table sit behind one mutex that the
 * loop takes for a copy of a few hundred bytes (ks_metrics_set_state()) and the
 * HTTP thread takes while it copies them out, never while it formats or sends.
 * A slow or stuck scraper therefore never slows the consume loop.
 *
 * Every function accepts m == NULL and then does nothing (returns "not
 * ready"), so the loop's hooks need no checks when the endpoint is off.
 */
#ifndef KPISTREAM_METRICS_H
#define KPISTREAM_METRICS_H

#include "kpistream/source.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks_metrics ks_metrics;

/* The plain counters: (enum suffix, metric name without "kpistream_", help).
 * Rejects by reason (kpistream_events_rejected_total{reason}) are counted by
 * ks_metrics_count_poll() from the source's per-code counts. */
#define KS_METRIC_COUNTERS(X)                                                                      \
    X(MESSAGES_CONSUMED, "messages_consumed_total",                                                \
      "Kafka messages handed to the engine, including those replayed to restore state.")           \
    X(EVENTS_ACCEPTED, "events_accepted_total",                                                    \
      "Events accepted and counted into the KPIs (replays of a restore included).")                \
    X(DUPLICATES, "duplicates_total",                                                              \
      "Events dropped because their event_id was already counted.")                                \
    X(FLUSHES, "flushes_total", "Flushes to Redis that succeeded; offsets are committed after each.") \
    X(FLUSH_FAILURES, "flush_failures_total",                                                      \
      "Flush attempts that failed; consumption pauses and the flush is retried with backoff.")     \
    X(REBALANCES, "rebalances_total",                                                              \
      "Consumer-group rebalance events (assignments and revocations) seen by this member.")        \
    X(FENCED_EXITS, "fenced_exits_total",                                                          \
      "Stops because another member took over one of this member's partitions (exit status 4).")

typedef enum ks_metric_counter {
#define KS__METRIC_ENUM(id, name, help) KS_METRIC_##id,
    KS_METRIC_COUNTERS(KS__METRIC_ENUM)
#undef KS__METRIC_ENUM
        KS_METRIC__NCOUNTERS
} ks_metric_counter;

/* Where the process is in its life; /healthz and /readyz read it. */
typedef enum ks_metrics_phase {
    KS_METRICS_STARTING = 0, /* connecting to Redis, claiming the prefix, joining the group */
    KS_METRICS_RUNNING,      /* in the consume loop */
    KS_METRICS_STOPPING,     /* left the loop: final flush, leaving the group */
} ks_metrics_phase;

/* Gauges the run loop copies in from the engine. */
typedef struct ks_metrics_state {
    int partitions;      /* assigned partitions */
    bool restoring;      /* some partition replays to its restore point */
    int64_t state_bytes; /* ks_engine_memory() */
    int64_t customers;   /* customers held over the assigned partitions */
    int64_t clock_ms;    /* the engine's window clock; INT64_MIN: none yet */
    int64_t restore_remaining;     /* messages still to replay over the restoring partitions */
    double restore_seconds;        /* the restore in progress so far, else the last one's */
    int64_t snapshots_written;     /* snapshot writes committed (state_dir) */
    int64_t snapshot_bytes;        /* bytes of the last one */
    double snapshot_write_seconds; /* its duration */
    double snapshot_stall_seconds; /* longest consume-loop stall a snapshot start caused */
} ks_metrics_state;

/* One partition's consumer lag from librdkafka's statistics. */
typedef struct ks_metrics_lag {
    char topic[256];
    int32_t partition;
    int64_t lag; /* messages from the committed offset to the end of the partition */
} ks_metrics_lag;

/* Upper bounds (seconds) of the flush-duration histogram's buckets; +Inf follows. */
#define KS_METRICS_FLUSH_BUCKETS 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
#define KS_METRICS_NFLUSH_BUCKETS 11

/** Creates the metrics and, unless listen is NULL or "", starts the HTTP
 *  server on listen ("host:port", see ks_listen_parse(); the name is resolved
 *  and the first address that binds is used). Returns NULL with errstr filled
 *  ("metrics_listen: cannot listen on 127.0.0.1:9464: Address already in use")
 *  on failure. Caller owns the result; free with ks_metrics_free(). */
ks_metrics *ks_metrics_new(const char *listen, char *errstr, size_t errsize);

/** Stops the server (waiting for its thread and the requests in progress)
 *  and frees m. NULL is ignored. */
void ks_metrics_free(ks_metrics *m);

/** Returns the bound port (the one asked for), or 0 when there is no server. */
int ks_metrics_port(const ks_metrics *m);

/** Adds n to a counter. Lock-free; any thread. */
void ks_metrics_add(ks_metrics *m, ks_metric_counter c, uint64_t n);

/** Adds what one ks_source_poll() did: messages, accepted, duplicates,
 *  rejects by reason code, rebalances. Lock-free. */
void ks_metrics_count_poll(ks_metrics *m, const ks_source_poll_stats *st);

/** Records one flush that was attempted: ok or failed, how long it took
 *  (from its start to its reply), and wall_ms (epoch ms) as the time of the
 *  last success when ok. Counts kpistream_flushes_total or
 *  kpistream_flush_failures_total; /readyz follows the outcome. */
void ks_metrics_flush(ks_metrics *m, bool ok, int64_t duration_ns, int64_t wall_ms);

/** Copies the engine's gauges in (under the mutex; cheap). */
void ks_metrics_set_state(ks_metrics *m, const ks_metrics_state *st);

/** Sets the life phase (see ks_metrics_phase). */
void ks_metrics_set_phase(ks_metrics *m, ks_metrics_phase phase);

/** Replaces the consumer-lag table from one librdkafka statistics JSON
 *  document (json, len bytes, need not be NUL-terminated). m is a ks_metrics:
 *  void * so that it can be given to ks_source_on_stats() as its context. A
 *  document that does not parse leaves the table as it was. */
void ks_metrics_kafka_stats(void *m, const char *json, size_t len);

/** Parses the consumer lag of every partition of a librdkafka statistics JSON
 *  document (topics.<t>.partitions.<p>.consumer_lag) that this client fetches
 *  ("desired") and whose lag is known (>= 0; unknown before the group's
 *  first commit of the partition). Returns the number of entries (0 is
 *  fine) and sets *out, or -1 if json is not a statistics document. Caller
 *  owns *out; free with free(). */
int ks_metrics_parse_kafka_lag(const char *json, size_t len, ks_metrics_lag **out);

/** Writes the whole exposition (every family with HELP and TYPE) as of
 *  wall_ms (epoch ms, for the event-time lag). Returns the text (length in
 *  *len if len is not NULL) or NULL when out of memory. Caller owns the
 *  result; free with free(). */
char *ks_metrics_render(ks_metrics *m, int64_t wall_ms, size_t *len);

/** Returns true if the process is ready (/readyz 200): in its loop, partitions
 *  assigned, no restore in progress and the last flush succeeded (or none was
 *  attempted yet). Otherwise writes the reason ("no partitions assigned") into
 *  why (size n) and returns false. */
bool ks_metrics_ready(ks_metrics *m, char *why, size_t n);

#endif
