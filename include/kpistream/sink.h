/* The Redis sink: writes a flush (a ks_batch built by the engine) to Redis as
 * one MULTI/EXEC transaction, so readers never see half a flush and the
 * partitions' offsets always match the outputs stored with them. */
#ifndef KPISTREAM_SINK_H
#define KPISTREAM_SINK_H

#include "kpistream/batch.h"
#include "kpistream/config.h"

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

/** Reads the next offset stored for topic/partition by the consumer group's
 *  last flush (hash <prefix>offsets:<group>). Returns 0 and sets *out (-1 if
 *  none stored), or KS_ERR_REDIS. */
int ks_redis_sink_stored_offset(ks_redis_sink *s, const char *topic, int32_t partition,
                                int64_t *out, char *errstr, size_t errsize);

/** Reads kpi:meta clock_ms (the clock of the outputs in Redis). Returns 0
 *  and sets *out (INT64_MIN if none), or KS_ERR_REDIS. */
int ks_redis_sink_stored_clock(ks_redis_sink *s, int64_t *out, char *errstr, size_t errsize);

#endif
