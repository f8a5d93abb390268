/* Integration-test harness: real parts on loopback, no mocks of our own code.
 *
 * - kst_redis: a private redis-server child on a free 127.0.0.1 port, in its own
 *   temp dir, killed by the kernel if the test process dies (PR_SET_PDEATHSIG).
 * - kst_kafka: an in-process librdkafka mock cluster (real Kafka protocol on
 *   loopback sockets) plus a real producer connected to its bootstraps, and
 *   fresh consumers to read topics back and read a group's committed offsets.
 * - kst_proc: child processes (e.g. the kpistream binary) with logs to a file.
 * - kst_wait_until: condition polling with a deadline instead of fixed sleeps.
 * - kst_stream, kst_dump_compare: a generated stream produced the same way to
 *   every cluster, and whole-output comparison of two runs (kpi:* dumps).
 *
 * Every function that can fail returns -1 (or NULL) and prints one line
 * "kst: <what failed>" to stderr; the same text is kept in kst_last_error().
 * Nothing here calls exit(), so a failing helper shows up as a failed
 * assertion in the test that called it, not as a vanished test process.
 *
 * Not thread-safe: one test (one Criterion worker process) uses it at a time;
 * tests run with --jobs 1 and ctest runs separate test binaries in parallel,
 * which is safe because every resource (port, dir) is private to its process.
 */
#ifndef KST_HARNESS_H
#define KST_HARNESS_H

#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>

/** Returns the message of the last harness failure ("" if none). Borrowed:
 *  valid until the next harness call. */
const char *kst_last_error(void);

/* ------------------------------------------------------------------ */
/* Temp dirs and files                                                 */

/** Creates a fresh directory /tmp/kst-XXXXXX and writes its path into buf.
 *  Returns 0 or -1. Caller owns the directory; remove it with kst_rmtree(). */
int kst_tmpdir(char *buf, size_t n);

/** Removes path recursively (files, dirs, symlinks not followed). Missing path is
 *  not an error. Returns 0 or -1. */
int kst_rmtree(const char *path);

/** Reads a whole file. Returns a NUL-terminated buffer (length in *len if len)
 *  or NULL. Caller owns the result; free with free(). */
char *kst_read_file(const char *path, size_t *len);

/** Prints the last max_lines lines of a log file to stderr, framed with its
 *  name (for failure diagnostics). */
void kst_log_tail(const char *path, int max_lines);

/** Returns a loopback TCP port that was free a moment ago (bind 127.0.0.1:0,
 *  read the port, close), or -1. Callers must cope with losing the race. */
int kst_free_port(void);

/* ------------------------------------------------------------------ */
/* Condition waits                                                     */

/** Returns monotonic time in milliseconds. */
int64_t kst_now_ms(void);

/** Polls cond(ctx) (first at once, then with naps growing from 1 to 20 ms)
 *  until it returns non-zero or timeout_ms passes. Returns 0 when the condition
 *  held, -1 on timeout (with a message). */
int kst_wait_until(int (*cond)(void *ctx), void *ctx, int timeout_ms);

/* ------------------------------------------------------------------ */
/* Child processes                                                     */

typedef struct kst_proc {
    pid_t pid;          /* 0 when not started or already reaped */
    int status;         /* exit status once reaped: code, or 128+signal */
    bool exited;        /* reaped */
    char log_path[512]; /* stdout+stderr of the child */
} kst_proc;

/** Starts argv[0] (searched in PATH if it has no '/') with argv, stdin from
 *  /dev/null, stdout+stderr appended to log_path (created). The child gets
 *  SIGKILL if the test process dies. Returns 0 or -1 (exec failures show up as
 *  exit status 127 with the reason in the log). A `kpistream run` gets
 *  "--metrics-listen ''" appended (its endpoint off: several runs at once would
 *  share the default port) unless argv names metrics_listen itself. */
int kst_proc_spawn(kst_proc *p, char *const argv[], const char *log_path);

/** Waits up to timeout_ms for the child to exit (polling waitpid). Returns 0
 *  and sets *exit_status (if non-NULL) to the exit code, or 128+signal if it
 *  was killed; returns -1 on timeout (child left running) or error. */
int kst_proc_wait(kst_proc *p, int timeout_ms, int *exit_status);

/** Sends sig to the child if it is still running (not yet reaped). */
void kst_proc_kill(kst_proc *p, int sig);

/** Returns 1 if the child is still running, 0 if it exited (reaps it). */
int kst_proc_running(kst_proc *p);

/** SIGTERM, wait up to timeout_ms, then SIGKILL and reap. Returns the exit
 *  status as kst_proc_wait() reports it (-1 if nothing was running). */
int kst_proc_stop(kst_proc *p, int timeout_ms);

/** Returns 1 if the file at path exists and contains needle, else 0. */
int kst_file_contains(const char *path, const char *needle);

/** A run's own report of its largest flush, from its log at path ("largest
 *  flush: N customers and notices ..."): N, or -1 if the line is missing. */
long kst_log_largest_flush(const char *path);

/** Waits up to timeout_ms until the file at path contains needle (e.g. a line
 *  of a child's log). If p is non-NULL, stops early when that child exits
 *  without having written it. Returns 0 when found, -1 otherwise (timeout or
 *  exit, with a message). */
int kst_wait_log(const char *path, const char *needle, kst_proc *p, int timeout_ms);

/** Returns the path of the kpistream binary under test: $KS_BINARY from the
 *  environment if set, else the build's KS_BINARY definition, else NULL.
 *  Borrowed: static string. */
static inline const char *kst_binary(void)
{
    const char *env = getenv("KS_BINARY");
    if (env && *env)
        return env;
#ifdef KS_BINARY
    return KS_BINARY;
#else
    return NULL;
#endif
}

/** Starts the kpistream binary (kst_binary()) with the arguments args then
 *  more (each a NULL-terminated list; more may be NULL), output to log_path,
 *  as kst_proc_spawn(). Returns 0 or -1. */
int kst_kpistream_spawn(kst_proc *p, const char *log_path, const char *const *args,
                        const char *const *more);

/* ------------------------------------------------------------------ */
/* Redis                                                               */

enum {
    /* Append-only file in the instance's dir (appendfsync always), so that
     * kst_redis_restart()/kst_redis_down()+kst_redis_up() keep the data. */
    KST_REDIS_PERSIST = 1 << 0,
};

typedef struct kst_redis {
    pid_t pid;          /* running redis-server, 0 when down */
    int port;
    int flags;          /* KST_REDIS_* given to kst_redis_start_opt() */
    char dir[256];      /* private working dir (data + log) */
    char log_path[300]; /* redis-server stdout/stderr */
    char url[64];       /* "redis://127.0.0.1:<port>/0" */
} kst_redis;

/** Starts a private redis-server on a free loopback port (retrying with a new
 *  port if the bind race is lost) and waits until it answers PING. No
 *  persistence. Returns 0 or -1. Stop with kst_redis_stop(). */
int kst_redis_start(kst_redis *r);

/** As kst_redis_start() with KST_REDIS_* flags. */
int kst_redis_start_opt(kst_redis *r, int flags);

/** Stops the server (SIGTERM, then SIGKILL after 5 s) but keeps port and dir:
 *  an outage. Returns 0 or -1. */
int kst_redis_down(kst_redis *r);

/** Starts the server again on the same port and dir after kst_redis_down()
 *  (waits for the port to be free and for PING). Returns 0 or -1. */
int kst_redis_up(kst_redis *r);

/** kst_redis_down() then kst_redis_up(); with KST_REDIS_PERSIST the data
 *  survives. Returns 0 or -1. */
int kst_redis_restart(kst_redis *r);

/** Stops the server if running and removes its dir. Safe to call twice and on
 *  a zeroed struct. */
void kst_redis_stop(kst_redis *r);

/** Returns "redis://127.0.0.1:<port>/0". Borrowed: valid while r lives. */
const char *kst_redis_url(const kst_redis *r);

/** Connects (2 s timeout) to the instance. Returns a context or NULL.
 *  Caller owns the result; free with redisFree(). */
redisContext *kst_redis_connect(const kst_redis *r);

/** Registers names, in order, as the prefix "kpi:"'s tracked names of kind
 *  ('s' segments, 'c' channels): what an operator does to choose them before
 *  the first run (docs/kpis.md, names). Returns 0 or -1. */
int kst_redis_register_names(const kst_redis *r, char kind, const char *const *names);

/** HGET key field into buf (NUL-terminated, truncated to n-1). Returns 1 if
 *  found, 0 if the key or field is absent, -1 on error (also a wrong type). */
int kst_redis_hget(redisContext *c, const char *key, const char *field, char *buf, size_t n);

/** HGET parsed as an integer. Returns dflt if absent, unparsable or on error
 *  (the last two with a message). */
long long kst_redis_hget_ll(redisContext *c, const char *key, const char *field, long long dflt);

/** HGET parsed as a double. Returns dflt (e.g. NAN) if absent, unparsable or on
 *  error. */
double kst_redis_hget_d(redisContext *c, const char *key, const char *field, double dflt);

/** Waits until HGET key field parses as an integer >= min (e.g. kpi:meta
 *  events_processed reaching the number of events sent), on a connection of its
 *  own that survives an outage. Returns 0, or -1 on timeout with the last value
 *  seen in the message. */
int kst_redis_wait_ll_ge(const kst_redis *r, const char *key, const char *field, long long min,
                         int timeout_ms);

/** Dumps every key matching pattern (SCAN MATCH) as canonical text, for
 *  whole-state equality between two runs. Keys sorted; per key one header line
 *  "<key> <type>" then one indented line per item:
 *    hash:   "  <field>=<value>"        fields sorted
 *    zset:   "  <member> <score %.17g>" sorted by member
 *    set:    "  <member>"               sorted
 *    list:   "  <value>"                in order
 *    string: "  hex:<bytes as hex>"
 *    stream: "  <f>=<v> <f>=<v> ..."     entries in order, ids left out
 *  Hash and stream fields whose name is in ignore_fields (NULL-terminated list,
 *  may be NULL) are left out, and so are keys listed there as "key:<name>". Returns the text or NULL.
 *  Caller owns the result; free with free(). */
char *kst_redis_dump(redisContext *c, const char *pattern, const char *const *ignore_fields);

/** kst_redis_hget_ll() on a connection of its own (opened and closed here).
 *  Returns dflt if absent, unparsable, or if Redis cannot be reached. */
long long kst_redis_field_ll(const kst_redis *r, const char *key, const char *field,
                             long long dflt);

/** kst_redis_dump() of every kpi:* key but kpi:history, leaving out the wall-clock stamp
 *  updated_at_ms (of kpi:meta): the whole output of a run, for comparing two
 *  runs over the same data. Returns the text or NULL.
 *  Caller owns the result; free with free(). */
char *kst_redis_dump_kpi(const kst_redis *r);

/** Compares two kst_redis_dump() texts, want being the reference (the
 *  "baseline"). Returns 0 if they are equal, or if they hold the same lines and
 *  differ only in how the stream entries of different customers
 *  ("customer=<id>" items; different partitions) interleave, each customer's
 *  own entries being in the same order (that interleaving is no guarantee).
 *  Otherwise prints to stderr, headed by what: about max_lines of the items
 *  found on one side only, shared out among key families (the key up to its
 *  second ':', e.g. kpi:customer), as "baseline: key<TAB>item" / "scenario:
 *  key<TAB>item", then the number of such items per family; and returns -1
 *  with "<what>: ... N lines" as the message. */
int kst_dump_compare(const char *want, const char *got, const char *what, size_t max_lines);

/* ------------------------------------------------------------------ */
/* Kafka                                                               */

typedef struct kst_kafka {
    rd_kafka_t *mock_rk;                /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mcluster;
    rd_kafka_t *producer;               /* real producer on the bootstraps */
    char bootstraps[512];               /* "127.0.0.1:port,..." */
    long delivered;                     /* successful delivery reports so far */
    long delivery_errors;               /* failed delivery reports since the last flush */
    char last_delivery_error[256];
} kst_kafka;

/** A consumed message. Borrowed: valid during the callback only. */
typedef struct kst_msg {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t key_len;
    const void *value;
    size_t len;
    const rd_kafka_message_t *rkm; /* for headers, timestamps */
} kst_msg;

/** Copies the value of header name (last one wins) into buf, NUL-terminated.
 *  Returns 1 if present, 0 if not. */
int kst_msg_header(const kst_msg *m, const char *name, char *buf, size_t n);

/** Per-message callback; return non-zero to stop consuming early. */
typedef int (*kst_msg_cb)(const kst_msg *m, void *ctx);

/** Starts a mock cluster with nbrokers brokers on loopback and a producer on
 *  its bootstraps. Create topics before producing: the mock cluster would
 *  otherwise auto-create them with its default partition count.
 *  Note (librdkafka 2.0.2 mock): each partition keeps only its newest ~5 MB /
 *  100000 message sets; older data is dropped (log start moves). Returns 0 or -1.
 *  Stop with kst_kafka_stop(). */
int kst_kafka_start(kst_kafka *k, int nbrokers);

/** Like kst_kafka_start() but for an existing cluster (e.g. a `kpistream
 *  mock-broker` child): only the producer is created; kst_kafka_create_topic()
 *  is not available. Returns 0 or -1. Stop with kst_kafka_stop(). */
int kst_kafka_attach(kst_kafka *k, const char *bootstraps);

/** Creates topic with partitions partitions (replication 1). Returns 0 or -1. */
int kst_kafka_create_topic(kst_kafka *k, const char *topic, int partitions);

/** Enqueues one message (copied). partition -1 lets the default partitioner
 *  hash the key. Returns 0 or -1 (waits for queue space if the queue is full). */
int kst_kafka_produce(kst_kafka *k, const char *topic, int partition, const void *key,
                      size_t keylen, const void *value, size_t len);

/** Produces one message per non-empty line, keyed by the line's "customer_id"
 *  string value if present (else no key). src is inline text if it starts with
 *  '{', '[', a space or a newline, otherwise a path to a file. Returns the
 *  number of messages enqueued or -1. Call kst_kafka_flush() afterwards. */
long kst_kafka_produce_jsonl(kst_kafka *k, const char *topic, const char *src);

/** Waits up to timeout_ms for every enqueued message to be delivered. Returns 0
 *  if all were delivered without error since the last flush, else -1. */
int kst_kafka_flush(kst_kafka *k, int timeout_ms);

/** Reads topic from the beginning with a fresh consumer (all partitions
 *  assigned, no group membership, nothing committed) until every partition
 *  reaches its end, calling cb for each message. Returns the number of
 *  messages passed to cb, or -1 on error or if the end was not reached within
 *  timeout_ms. */
long kst_kafka_consume_all(kst_kafka *k, const char *topic, int timeout_ms, kst_msg_cb cb,
                           void *ctx);

/** Reads the committed offsets of group for partitions 0..partitions-1 of
 *  topic into out_offsets (-1001 = RD_KAFKA_OFFSET_INVALID when nothing is
 *  committed). Uses a consumer with that group.id that never joins the group,
 *  so a running member is not disturbed. Returns 0 or -1. */
int kst_kafka_committed(kst_kafka *k, const char *group, const char *topic, int partitions,
                        int64_t *out_offsets);

/** Reads the high watermarks (end offsets) of partitions 0..partitions-1.
 *  Returns 0 or -1. */
int kst_kafka_end_offsets(kst_kafka *k, const char *topic, int partitions, int64_t *out_offsets);

/** Returns 1 if group has committed the end offset of every partition
 *  0..partitions-1 of topic, 0 if not (the first partition behind is in
 *  kst_last_error(), not printed: meant for polling), -1 on error. */
int kst_kafka_committed_to_end(kst_kafka *k, const char *group, const char *topic, int partitions);

/** Delays every request to broker broker_id of the mock cluster by rtt_ms (0:
 *  no delay). With bounded message sets (see kst_kafka_produce_keyed()) this
 *  paces a consumer: the mock broker returns one message set per partition per
 *  fetch. Not for kst_kafka_attach(). Returns 0 or -1. */
int kst_kafka_set_rtt(kst_kafka *k, int32_t broker_id, int rtt_ms);

/** Produces the JSON lines of the file at path to topic, as `kpistream gen
 *  --brokers` would: keyed by "customer_id", else by "campaign" (marketing
 *  spend), else by "event_id"; a line with none of them is an error. Unlike
 *  kst_kafka_produce_jsonl() every line gets a key, so which partition it lands
 *  in is a pure function of the line and two clusters can be compared. Waits
 *  for delivery every flush_every messages (> 0), which bounds the message
 *  sets. Returns the number of messages produced, or -1. */
long kst_kafka_produce_keyed(kst_kafka *k, const char *topic, const char *path, int flush_every);

/** Returns the number of partitions of topic, or -1. */
int kst_kafka_partition_count(kst_kafka *k, const char *topic);

/** Destroys the producer and the mock cluster. Safe on a zeroed struct and twice. */
void kst_kafka_stop(kst_kafka *k);

/* ------------------------------------------------------------------ */
/* Generated streams                                                   */

typedef struct kst_stream {
    char path[300]; /* the JSON lines to produce */
    long lines;     /* messages in it */
    long bad;       /* of which with an unknown type (dead-lettered) */
} kst_stream;

/** Writes a realistic stream into dir: `kpistream gen <gen_args> --out
 *  <dir>/gen.jsonl --quiet` (gen_args a NULL-terminated list, e.g. customers,
 *  days, seed), then <dir>/ev.jsonl with every generated line and, if
 *  bad_every > 0, after line i (from 0) where i % bad_every == 100 % bad_every
 *  a copy with its type made unknown ("bogus_<type>"): a rejected event right
 *  after a real one, in the same partition since the key is kept. Returns 0 or
 *  -1. */
int kst_stream_make(kst_stream *s, const char *dir, const char *const *gen_args, int bad_every);

#endif
