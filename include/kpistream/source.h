/* The Kafka source: a high-level consumer in a consumer group feeding the
 * engine, with manual offset commits and a dead-letter producer. Offsets are
 * committed only through ks_source_commit(), which the run loop calls after
 * the Redis flush holding those events succeeded. */
#ifndef KPISTREAM_SOURCE_H
#define KPISTREAM_SOURCE_H

#include "kpistream/config.h"
#include "kpistream/engine.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks_source ks_source;

/* Called from inside ks_source_poll() just before partitions are revoked, so
 * the owner can flush and commit what it holds for them. */
typedef void (*ks_source_revoke_fn)(void *ctx);

/* Called from inside ks_source_poll() for each newly assigned partition:
 * returns the partition's restore point (the next offset stored in Redis with
 * its outputs; -1 if none). The partition is then read from its start. */
typedef int64_t (*ks_source_assign_fn)(void *ctx, const char *topic, int32_t partition);

/** Creates the consumer (subscribed to cfg->topics) and the dead-letter
 *  producer. e is borrowed. Returns NULL with errstr naming the failing
 *  property or step. Caller owns it; free with ks_source_free(). */
ks_source *ks_source_new(const ks_config *cfg, ks_engine *e, ks_source_assign_fn on_assign,
                         ks_source_revoke_fn on_revoke, void *ctx, char *errstr, size_t errsize);

/** Leaves the group (if not yet) and frees everything (NULL is ignored). */
void ks_source_free(ks_source *s);

/* What one poll did. */
typedef struct ks_source_poll_stats {
    int messages, accepted, duplicates, rejected;
    int rejected_by[KS_REJECT__COUNT]; /* rejects by ks_reject_code */
    int rebalances; /* assignments and revocations served since the previous poll */
    bool round;     /* the messages were applied on two threads (a round) */
} ks_source_poll_stats;

/* Called from inside ks_source_poll() with each librdkafka statistics
 * document (JSON, len bytes, borrowed for the call). */
typedef void (*ks_source_stats_fn)(void *ctx, const char *json, size_t len);

/** Passes the consumer's statistics to fn (every statistics.interval.ms:
 *  5000 when cfg->metrics_listen is set, unless kafka.statistics.interval.ms
 *  says otherwise; never when it is 0). */
void ks_source_on_stats(ks_source *s, ks_source_stats_fn fn, void *ctx);

/** Consumes up to batch_size messages, waiting at most timeout_ms, passing
 *  each to the engine and dead-lettering rejects; stops early once the
 *  engine's pending customers and notices (ks_engine_pending) reach
 *  max_pending, and reads none while they are there (SIZE_MAX: no limit).
 *  Serves rebalances. Returns 0 or a negative ks_err on a fatal consumer
 *  error (errstr filled). */
int ks_source_poll(ks_source *s, size_t max_pending, int timeout_ms, int64_t wall_ms,
                   ks_source_poll_stats *st, char *errstr, size_t errsize);

/** Returns the messages left to read in the assigned partitions, as far as
 *  the last fetch responses tell (0 when unknown). Asks no broker. */
int64_t ks_source_lag(ks_source *s);

/** Waits until every dead-letter message produced so far is delivered.
 *  Returns 0, or KS_ERR_KAFKA if some are still pending after timeout_ms. */
int ks_source_dlq_flush(ks_source *s, int timeout_ms);

/** Commits the engine's positions as of its last built flush (sync or async). */
int ks_source_commit(ks_source *s, bool sync, char *errstr, size_t errsize);

/** Pauses (true) or resumes (false) fetching on every assigned partition. */
void ks_source_pause(ks_source *s, bool pause);

/** Closes the consumer: leaves the group cleanly. Idempotent. */
void ks_source_close(ks_source *s);

#endif
