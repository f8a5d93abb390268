/* Where `kpistream gen` writes events: a JSONL file (or stdout) and/or a Kafka
 * topic through a librdkafka producer. Private to src/gen/. */
#ifndef KS__GEN_SINK_H
#define KS__GEN_SINK_H

#include <stddef.h>
#include <stdint.h>

typedef struct ks__gen_sink ks__gen_sink;

/** Opens the outputs: out_path ("-" = stdout, NULL = none) and, if brokers is
 *  not NULL, a producer to topic. Returns NULL and fills errstr on failure.
 *  Caller owns the result; free with ks__gen_sink_close(). */
ks__gen_sink *ks__gen_sink_open(const char *out_path, const char *brokers, const char *topic,
                                char *errstr, size_t errstr_size);

/** Writes one event (a JSONL line; a Kafka message keyed by key). Returns 0, or
 *  KS_ERR_IO / KS_ERR_KAFKA with errstr filled (a failed delivery reported
 *  since the last call also counts as an error). */
int ks__gen_sink_write(ks__gen_sink *s, const char *buf, size_t len, const char *key, size_t keylen,
                       char *errstr, size_t errstr_size);

/** Flushes, waits up to 60 s for Kafka deliveries, and frees s. Returns 0 if
 *  everything was written and delivered, else a negative ks_err with errstr
 *  filled. NULL is ignored (returns 0). */
int ks__gen_sink_close(ks__gen_sink *s, char *errstr, size_t errstr_size);

#endif
