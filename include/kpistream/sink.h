/* The Redis sink: writes a flush (a ks_batch built by the engine) to Redis as
 * one MULTI/EXEC transaction, so readers never see half a flush and the
 * partitions' offsets always match the outputs stored with them. */
#ifndef KPISTREAM_SINK_H
#define KPISTREAM_SINK_H

#include "kpistream/batch.h"
#include "kpistream/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks_redis_sink ks_redis_sink;

/** Creates a sink for cfg->redis_url (not connected yet). Returns NULL with
 *  errstr filled if the URL is invalid. Caller owns it; free with ks_redis_sink_free(). */
ks_redis_sink *ks_redis_sink_new(const ks_config *cfg, char *errstr, size_t errsize);

/** Frees s and closes its connection (NULL is ignored). */
void ks_redis_sink_free(ks_redis_sink *s);

/** Connects (if needed; with AUTH and SELECT) and checks the server with PING.
 *  Returns 0 or KS_ERR_REDIS with errstr saying what failed. */
int ks_redis_sink_connect(ks_redis_sink *s, char *errstr, size_t errsize);

/** Writes every command of b in one MULTI/EXEC. Returns 0 only if the
 *  transaction committed and no command in it failed; otherwise KS_ERR_REDIS
 *  (the connection is dropped and re-made on the next call). */
int ks_redis_sink_write(ks_redis_sink *s, const ks_batch *b, char *errstr, size_t errsize);

/** Sends b's commands pipelined, without a transaction (a flush's read:
 *  WATCH, then HGETALL). The last command's reply is kept for
 *  ks_redis_sink_reply(). Returns 0, KS_ERR_REDIS (the connection is dropped)
 *  or KS_ERR_NOMEM. */
int ks_redis_sink_read(ks_redis_sink *s, const ks_batch *b, char *errstr, size_t errsize);

/** Like ks_redis_sink_write(), for a transaction that depends on the last
 *  ks_redis_sink_read()'s WATCH: returns KS_ERR_CONFLICT, applying nothing,
 *  if the watched keys changed since (another member flushed) or the
 *  connection that read them was lost. Read again and rebuild. */
int ks_redis_sink_write_watched(ks_redis_sink *s, const ks_batch *b, char *errstr, size_t errsize);

/** Sends b like ks_redis_sink_write_watched() without waiting for its
 *  replies: the caller goes on working and collects the outcome with
 *  ks_redis_sink_finish() (which blocks until it is there; check
 *  ks_redis_sink_ready() to avoid waiting). One transaction at a time.
 *  b is written from where it is, not copied: it is borrowed until
 *  ks_redis_sink_finish() returns, and must not change or be freed before. */
int ks_redis_sink_send_watched(ks_redis_sink *s, const ks_batch *b, char *errstr, size_t errsize);

/** Opens the transaction of the next ks_redis_sink_send_watched(s, b) before
 *  b is built (after ks_redis_sink_read(), whose reply stays readable):
 *  sends MULTI, empties b and makes it hand its commands to the socket while
 *  they are appended (ks_batch_set_drain), so a large flush is not held
 *  whole in memory; Redis queues them until EXEC as usual, and a transaction
 *  never ended is discarded. End it with ks_redis_sink_send_watched(s, b),
 *  or ks_redis_sink_stream_abort() if the build fails. Returns 0 or
 *  KS_ERR_REDIS (the connection is dropped). */
int ks_redis_sink_stream_begin(ks_redis_sink *s, ks_batch *b, char *errstr, size_t errsize);

/** Abandons the transaction ks_redis_sink_stream_begin() opened: the
 *  connection is dropped, so Redis discards what it queued. */
void ks_redis_sink_stream_abort(ks_redis_sink *s, ks_batch *b);

/** Returns true while a sent transaction's replies are awaited. */
bool ks_redis_sink_inflight(const ks_redis_sink *s);

/** Returns true if the transaction in flight has replies to read (or
 *  nothing is in flight): ks_redis_sink_finish() will not wait long. */
bool ks_redis_sink_ready(ks_redis_sink *s);

/** Waits for the replies of the transaction in flight; returns as
 *  ks_redis_sink_write_watched() does. */
int ks_redis_sink_finish(ks_redis_sink *s, char *errstr, size_t errsize);

/** Returns the reply of the last command of the last successful read or write,
 *  flattened to strings (integers as decimal text): *strs and *lens are
 *  borrowed until the next write. */
size_t ks_redis_sink_reply(const ks_redis_sink *s, const char *const **strs, const size_t **lens);

/* What Redis holds for one partition from its previous owner's last flush. */
typedef struct ks_stored_partition {
    int64_t next_offset; /* <prefix>agg:state off:<t>:<p>; -1: none */
    char token[64];      /* tok:<t>:<p>: the flush that wrote it; "": none */
    int64_t clock_ms;    /* pc:<t>:<p>: the partition's clock then; INT64_MIN: none */
} ks_stored_partition;

/** Reads what Redis holds for topic/partition. Returns 0 and fills *out, or
 *  KS_ERR_REDIS. */
int ks_redis_sink_stored_partition(ks_redis_sink *s, const char *topic, int32_t partition,
                                   ks_stored_partition *out, char *errstr, size_t errsize);

/** Checks that the prefix belongs to this consumer group and was counted
 *  with this configuration (config: a description of the settings that
 *  change counts), recording both if the prefix is new. Returns 0,
 *  KS_ERR_CONFIG with errstr naming the mismatch, or KS_ERR_REDIS. */
int ks_redis_sink_claim(ks_redis_sink *s, const char *config, char *errstr, size_t errsize);

/* Receives one name of a registry. */
typedef void (*ks_name_fn)(void *ctx, const char *name, size_t len);

/** Calls each() for the names of the prefix's registry of kind ('s'
 *  segments, 'c' channels), in the order they were registered. Returns 0 or
 *  KS_ERR_REDIS. */
int ks_redis_sink_names(ks_redis_sink *s, char kind, ks_name_fn each, void *ctx, char *errstr,
                        size_t errsize);

/** Registers name in the prefix's registry of kind if it holds fewer than
 *  limit names. Returns 1 if the name is tracked (registered now or
 *  before), 0 if not (the registry is full; each() then gets every
 *  registered name, in order), or KS_ERR_REDIS. */
int ks_redis_sink_admit_name(ks_redis_sink *s, char kind, const char *name, size_t len, int limit,
                             ks_name_fn each, void *ctx, char *errstr, size_t errsize);

#endif
