/* The engine: moves messages through parse -> validate -> dedup -> state,
 * keeps the window clock, and turns the state into Redis commands at flush
 * time. Pure: no Kafka, no Redis, no clock reads (the caller passes wall time),
 * so it is tested directly (tests/unit/test_engine_agg.c; tests/integration/
 * test_engine_flow.c runs its flushes against a real redis-server) and the
 * adapters stay thin.
 */
#ifndef KPISTREAM_ENGINE_H
#define KPISTREAM_ENGINE_H

#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/event.h"
#include "kpistream/risk.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ks_engine ks_engine;

typedef enum ks_verdict { KS_ACCEPTED = 0, KS_DUPLICATE, KS_REJECTED } ks_verdict;

/** Creates an engine for cfg (borrowed; must outlive the engine). Returns NULL
 *  with errstr filled on failure. Caller owns it; free with ks_engine_free(). */
ks_engine *ks_engine_new(const ks_config *cfg, char *errstr, size_t errsize);

/** Frees e and all partition state (NULL is ignored). */
void ks_engine_free(ks_engine *e);

/** Takes ownership of a partition's state (empty). Returns 0, or KS_ERR_NOMEM. */
int ks_engine_assign(ks_engine *e, const char *topic, int32_t partition);

/** Sets what Redis holds for a newly assigned partition from its previous
 *  owner's last flush: the next offset, the flush's token and the partition's
 *  clock then. The partition is replayed from its start up to next_offset to
 *  rebuild its state, and brought to clock_ms; until every partition has
 *  caught up, ks_engine_restoring() is true and nothing may be flushed, and
 *  rejects below the point are not dead-lettered again (ks_engine_is_replay()).
 *  Alerts and triggers raised at day boundaries at or before clock_ms were
 *  sent by that owner and are not sent again. The token must be the one
 *  Redis holds, or our flushes of the partition are refused (fencing).
 *  next_offset < 0: no restore point; token "": none; clock_ms INT64_MIN: none. */
void ks_engine_set_restore_point(ks_engine *e, const char *topic, int32_t partition,
                                 int64_t next_offset, const char *token, int64_t clock_ms);

/** Returns true if another member took over one of our partitions (a flush
 *  found its token changed): our state is stale and the process should leave. */
bool ks_engine_fenced(const ks_engine *e);

/** Sets this process's id in flush tokens (unique per process run). */
void ks_engine_set_member(ks_engine *e, const char *id);

/** Returns true while some assigned partition is still replaying up to its restore point. */
bool ks_engine_restoring(const ks_engine *e);

/** Returns true if offset of that partition is below its restore point (a replay). */
bool ks_engine_is_replay(ks_engine *e, const char *topic, int32_t partition, int64_t offset);

/* Event-time ordered reading (event clock): the source reads next from the
 * partition with the lowest event time, and never from one more than
 * KS_ENGINE_ALIGN_MS ahead of the watermark, so partitions advance together
 * and window series never hold far-future buckets (watermark alignment, as
 * in Flink). Twelve hours: a partition is then read in runs of its events
 * (about 100 in a 45-day catch-up over 128 partitions; 9 at one hour, 50 at
 * six) while its state is in cache; at six hours kpistream spent about a
 * tenth more CPU on that catch-up. Longer spans saved little more and held
 * more future buckets (16 hours: 6 MiB more state than 12, and peak RSS is
 * at its bound; docs/benchmarks.md). What the outputs say does not depend
 * on it (docs/architecture.md). It must stay under the two 40320 s buckets
 * (22.4 hours) of slack the customers' rolling lists keep behind a
 * customer's newest (rolling.c). */
#define KS_ENGINE_ALIGN_MS (12 * 60LL * 60 * 1000)

/** Returns a partition's read priority: its newest event time (INT64_MIN
 *  before any). In wall-clock mode every partition has the same priority. */
int64_t ks_engine_read_order(ks_engine *e, const char *topic, int32_t partition);

/** Returns false if the partition is too far ahead of the watermark to be
 *  read now (event clock only; the partition holding the watermark back is
 *  always readable). */
bool ks_engine_may_read(ks_engine *e, const char *topic, int32_t partition);

/** Drops a partition's state; its share leaves every aggregate. */
void ks_engine_revoke(ks_engine *e, const char *topic, int32_t partition);

/** Processes one message of an assigned partition at offset. Returns the
 *  verdict; on KS_REJECTED *why says why (the caller dead-letters the bytes). */
ks_verdict ks_engine_process(ks_engine *e, const char *topic, int32_t partition, int64_t offset,
                             const char *buf, size_t len, int64_t wall_ms, ks_reject *why);

/** Records that a partition reached (eof=true) or left its end. */
void ks_engine_set_eof(ks_engine *e, const char *topic, int32_t partition, bool eof);

/* Rounds: the source's worker threads apply different partitions at once.
 * Between ks_engine_round_begin() and ks_engine_round_end() (both on the
 * thread that owns the engine, with no worker running), each worker calls
 * only the ks_engine_round_* functions below, each on partitions no other
 * worker touches; the watermark and the window clock hold still and move at
 * the round's end (a partition's outputs do not depend on how its clock
 * steps, pstate.h). Nothing else may be called during a round. */

/** The most workers a round may have (worker numbers 0 .. max - 1). */
#define KS_ENGINE_WORKERS_MAX 4

/** An assigned partition, as the round functions take it. */
typedef struct ks_engine_part ks_engine_part;

/** The partition's handle (NULL if not assigned); valid until the next
 *  assign or revoke. */
ks_engine_part *ks_engine_part_ref(ks_engine *e, const char *topic, int32_t partition);

/** True if a round may begin: two partitions or more, none replaying to its
 *  restore point, and (event clock) a watermark. */
bool ks_engine_round_possible(const ks_engine *e);

void ks_engine_round_begin(ks_engine *e);

/** ks_engine_process() for worker number worker of the round. */
ks_verdict ks_engine_round_process(ks_engine *e, int worker, ks_engine_part *p, int64_t offset,
                                   const char *buf, size_t len, int64_t wall_ms, ks_reject *why);

/** ks_engine_may_read(), against the clock the round began with. */
bool ks_engine_round_may_read(const ks_engine *e, const ks_engine_part *p);

/** ks_engine_part_pending(). */
size_t ks_engine_round_part_pending(const ks_engine_part *p);

/** ks_engine_set_eof(.., true). */
void ks_engine_round_set_eof(ks_engine_part *p);

/** Ends the round: the watermark and the window clock catch up. */
void ks_engine_round_end(ks_engine *e, int64_t wall_ms);

/** Returns the number of assigned partitions. */
int ks_engine_partitions(const ks_engine *e);

/** Returns true if every assigned partition is at its end (and there is one). */
bool ks_engine_all_eof(const ks_engine *e);

/** Recomputes the window clock (wall: wall_ms; event: the watermark) and
 *  advances every partition to it. Returns the clock (INT64_MIN if unknown). */
int64_t ks_engine_tick(ks_engine *e, int64_t wall_ms);

/* Asks whoever keeps the prefix's name registry (run: Redis) whether a new
 * segment ('s') or channel ('c') name of len bytes is tracked: 1 yes, 0 no
 * (the registry is full: every later new name is "other" too). The registry,
 * not the order names reach one process, decides, so every restart and
 * member folds the same names. name is borrowed for the call. */
typedef int (*ks_engine_admit_fn)(void *ctx, char kind, const char *name, uint32_t len);

/** Lets fn decide which new segment and channel names are tracked: run asks
 *  the prefix's registry in Redis. Without it the first names a process sees
 *  are tracked. ctx is borrowed. */
void ks_engine_set_name_admit(ks_engine *e, ks_engine_admit_fn fn, void *ctx);

/** Adds a name the registry holds already (at start, in registration order,
 *  and when the registry turns out full). */
void ks_engine_preload_name(ks_engine *e, char kind, const char *name, size_t len);

/** Returns how many names of kind the registry may hold ("other" apart). */
int ks_engine_name_limit(const ks_engine *e, char kind);

/** Builds into b (cleared first) the read that starts a flush: WATCH of
 *  the group state in Redis and its HGETALL (see src/engine/flush.h). Send it
 *  with ks_redis_sink_read() and pass the HGETALL's reply to
 *  ks_engine_build_flush(). */
void ks_engine_flush_read(const ks_engine *e, ks_batch *b);

/** Builds the flush transaction into b (cleared first) from the group state
 *  just read (strs/lens: the HGETALL's field/value strings; n = 0: none):
 *  dirty customers, alerts and triggers, the group state with each owned
 *  partition's share, token, next offset and clock, and every output derived
 *  from the group's sums (KPI hashes, kpi:meta, HLLs, top-k). Partitions
 *  another member owns now are fenced (ks_engine_fenced()). Returns 0,
 *  KS_ERR_NOMEM, or KS_ERR_RANGE (a group sum would overflow; errstr says
 *  which). Send b as one transaction under the read's WATCH; then call
 *  ks_engine_flush_done() on success, or nothing on failure: the next read
 *  shows whether it went through, and the next build goes on from there. */
int ks_engine_build_flush(ks_engine *e, const char *const *strs, const size_t *lens, size_t n,
                          ks_batch *b, int64_t wall_ms, char *errstr, size_t errsize);

/** Marks the last built flush as written. */
void ks_engine_flush_done(ks_engine *e);

/** The last built flush was sent and its reply is awaited: events processed
 *  from now on go to the next flush. Then ks_engine_flush_done() or
 *  ks_engine_flush_failed(); no other flush is built meanwhile. */
void ks_engine_flush_sent(ks_engine *e);

/** The flush in flight failed: what it carried waits for the next one.
 *  Returns 0 or KS_ERR_NOMEM. */
int ks_engine_flush_failed(ks_engine *e);

/** Returns the customers and notices waiting for the next flush (the run
 *  loop flushes early when they pass a bound, so no flush grows too big).
 *  Partitions replaying to their restore point have none. */
size_t ks_engine_pending(const ks_engine *e);

/** The same for one partition (0 if not assigned); O(1). */
size_t ks_engine_part_pending(ks_engine *e, const char *topic, int32_t partition);

/** Whether the partition is replaying to its restore point: what it reads
 *  makes nothing pending, and no flush is written until it is done, so it
 *  is read whatever the others have pending. */
bool ks_engine_part_replaying(ks_engine *e, const char *topic, int32_t partition);

/** Returns the largest flush built so far, in commands. */
uint64_t ks_engine_max_flush_cmds(const ks_engine *e);

/* A partition's position, for committing offsets after a successful flush. */
typedef struct ks_engine_position {
    const char *topic; /* borrowed from the engine */
    int32_t partition;
    int64_t next_offset; /* -1: nothing consumed yet */
} ks_engine_position;

/** Fills up to max positions of the assigned partitions as of the last built
 *  flush; returns how many there are. */
int ks_engine_positions(const ks_engine *e, ks_engine_position *out, int max);

/* Totals over the assigned partitions. */
typedef struct ks_engine_stats {
    int64_t processed, rejected, duplicates, customers, clock_ms;
} ks_engine_stats;

/** Fills the current totals. */
void ks_engine_stats_get(const ks_engine *e, ks_engine_stats *out);

/* One customer's risk as the engine holds it now (benchmarks, tests). */
typedef struct ks_engine_customer {
    int score;        /* 0-100 */
    int level;        /* ks_risk_level */
    bool churned;
    int64_t last_event_ms;
} ks_engine_customer;

/** Looks a customer up in every assigned partition. Returns true and fills
 *  *out if known. */
bool ks_engine_customer_get(ks_engine *e, const char *id, size_t len, ks_engine_customer *out);

/** Calls fn for every customer of every assigned partition (id borrowed for the call). */
void ks_engine_customers_each(ks_engine *e,
                              void (*fn)(void *ctx, const char *id, size_t len,
                                         const ks_engine_customer *c),
                              void *ctx);

/** Calls fn (NULL: none) at every risk evaluation from now on: each
 *  customer's event and each daily re-scoring (see ks_risk_tap_fn in risk.h;
 *  `kpistream risk-fit` samples through it). ctx is borrowed. */
void ks_engine_set_risk_tap(ks_engine *e, ks_risk_tap_fn fn, void *ctx);

/** Returns approximate bytes of state held (customers, indexes, memories, windows). */
size_t ks_engine_memory(const ks_engine *e);

/* --- partition snapshots (src/engine/engine_snap.c, docs/architecture.md "Snapshots") --- */

/** Names the i-th assigned partition (0 <= i < ks_engine_partitions()); topic
 *  is borrowed from the engine. Returns 0 or KS_ERR_INVAL. */
int ks_engine_partition_at(const ks_engine *e, int i, const char **topic, int32_t *partition);

/** Writes a snapshot of the i-th assigned partition's state, as of now, to fd
 *  (fd stays the caller's). Take it right after a flush was built, so its
 *  offset and clock are the ones that flush stores. Returns 0, KS_ERR_STATE
 *  (the partition replays, is fenced or has read nothing), KS_ERR_IO or
 *  KS_ERR_NOMEM, with errstr filled. */
int ks_engine_snapshot_write(ks_engine *e, int i, int fd, int64_t wall_ms, char *errstr,
                             size_t errsize);

/* What a snapshot covers. */
typedef struct ks_engine_snapshot_info {
    int64_t offset;     /* the next offset after the state (replay starts there) */
    int64_t clock_ms;   /* the partition's clock (INT64_MIN: none) */
    int64_t written_ms; /* wall clock when it was taken */
    int64_t customers;
} ks_engine_snapshot_info;

/** Loads a snapshot (len bytes at buf, borrowed for the call) as the state of
 *  an assigned partition, after ks_engine_set_restore_point(): it must be of
 *  this prefix, group, partition and counting settings, and at or before the
 *  restore point (offset and clock). The partition then replays from the
 *  snapshot's offset (ks_engine_start_offset()). Returns 0, or KS_ERR_PARSE /
 *  KS_ERR_INVAL with why saying why it was not taken (the partition is then
 *  as before, to be replayed from its start). */
int ks_engine_snapshot_load(ks_engine *e, const char *topic, int32_t partition, const void *buf,
                            size_t len, ks_engine_snapshot_info *info, char *why, size_t whysize);

/** Returns the offset to start reading a partition at when its state came
 *  from a snapshot, else -1 (read from its start). */
int64_t ks_engine_start_offset(ks_engine *e, const char *topic, int32_t partition);

/** Returns the messages still to replay over the partitions restoring. */
int64_t ks_engine_restore_remaining(const ks_engine *e);

#endif
