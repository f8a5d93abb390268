/* A throwaway Kafka cluster for demos and manual tests (`kpistream
 * mock-broker`, src/app/cmd_mock_broker.c).
 *
 * Runs librdkafka's built-in mock cluster (real Kafka protocol on loopback
 * ports, data in memory) so the demo and kcat need no JVM or Kafka install.
 * Not a broker for real data: everything is lost on exit, and librdkafka 2.0.2
 * keeps only the newest ~5 MB of each partition.
 */
#ifndef KPISTREAM_MOCK_BROKER_H
#define KPISTREAM_MOCK_BROKER_H

#include <stddef.h>

#define KS_MOCK_MAX_BROKERS 16
#define KS_MOCK_MAX_PARTITIONS 1024

typedef struct ks_mock_broker ks_mock_broker;

typedef struct ks_mock_topic {
    char name[250]; /* Kafka's limit is 249 characters */
    int partitions; /* 1..KS_MOCK_MAX_PARTITIONS */
} ks_mock_topic;

/** Starts a cluster of nbrokers (1..KS_MOCK_MAX_BROKERS) on 127.0.0.1 with
 *  kernel-chosen ports and creates the topics (replication min(nbrokers, 3)).
 *  librdkafka starts threads here: block the signals they must not take
 *  first. Returns the cluster, or NULL with errstr saying what failed.
 *  Caller owns the result; free with ks_mock_broker_free(). */
ks_mock_broker *ks_mock_broker_new(int nbrokers, const ks_mock_topic *topics, int ntopics,
                                   char *errstr, size_t errsize);

/** Returns the bootstrap list ("127.0.0.1:port,..."). Borrowed: valid until
 *  ks_mock_broker_free(). */
const char *ks_mock_broker_bootstraps(const ks_mock_broker *m);

/** Stops the cluster and frees m; NULL is ignored. */
void ks_mock_broker_free(ks_mock_broker *m);

#endif
