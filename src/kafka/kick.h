/* A thread that wakes a partition leader's librdkafka broker thread on
 * request (kick.c says why). Private to src/kafka/. */
#ifndef KS_KAFKA_KICK_H
#define KS_KAFKA_KICK_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

typedef struct ks_kicker ks_kicker;

/** Starts the thread for consumer rk (borrowed: free the kicker before
 *  destroying rk). Returns NULL when out of memory or threads. */
ks_kicker *ks_kicker_new(rd_kafka_t *rk);

/** Asks for a wake-up of the broker leading topic[partition]. Never blocks:
 *  while one is under way, further asks are dropped (one wake-up serves every
 *  partition of that broker). NULL k is ignored. */
void ks_kicker_kick(ks_kicker *k, const char *topic, int32_t partition);

/** Wake-ups sent so far (for the logs). */
uint64_t ks_kicker_count(ks_kicker *k);

/** Stops the thread (waiting for a wake-up under way) and frees k. */
void ks_kicker_free(ks_kicker *k);

#endif
