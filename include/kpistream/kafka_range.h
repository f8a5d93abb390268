/* Reading a closed range of a Kafka topic into the engine (`kpistream
 * risk-fit --brokers --topic`): every partition from its first message at or
 * after from_ms up to its end as of the call (or its first message at or
 * after to_ms). No consumer group: nothing is committed, no group sees it,
 * no dead letters are written. Partitions are read in the order the engine
 * asks for (lowest read order first), so event-time windows advance together
 * as they do under `run`.
 */
#ifndef KPISTREAM_KAFKA_RANGE_H
#define KPISTREAM_KAFKA_RANGE_H

#include "kpistream/config.h"
#include "kpistream/engine.h"

#include <stddef.h>
#include <stdint.h>

/* One message of the range: hand it to the engine (partition as assigned). */
typedef void (*ks_kafka_range_fn)(void *ctx, const char *topic, int32_t partition, int64_t offset,
                                  const char *buf, size_t len);

/** Assigns every partition of topic to e (ks_engine_assign) and calls fn for
 *  each message of the range, marking each partition at its end
 *  (ks_engine_set_eof). Brokers and kafka.* properties come from cfg. from_ms
 *  <= 0: from the earliest retained message; to_ms <= 0: up to the end.
 *  *messages (may be NULL) receives the count. Returns 0, or KS_ERR_KAFKA /
 *  KS_ERR_NOMEM with errstr naming the step ("kafka range: topic x: no such
 *  topic"). All pointers borrowed. */
int ks_kafka_range_read(const ks_config *cfg, const char *topic, int64_t from_ms, int64_t to_ms,
                        ks_engine *e, ks_kafka_range_fn fn, void *ctx, int64_t *messages,
                        char *errstr, size_t errsize);

#endif
