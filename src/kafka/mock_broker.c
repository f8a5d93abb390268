/* librdkafka's mock cluster (kpistream/mock_broker.h).
 *
 * The mock cluster is created on an otherwise idle producer handle; its
 * brokers listen on 127.0.0.1 with kernel-chosen ports and speak the real
 * Kafka protocol, so kpistream, kcat and any other client can use the
 * bootstrap list. Topics are created up front because the mock would
 * otherwise auto-create them with its own default partition count on the
 * first metadata request.
 */
#include "kpistream/mock_broker.h"

#include "kpistream/log.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>

struct ks_mock_broker {
    rd_kafka_t *rk; /* owns the cluster; never connects anywhere */
    rd_kafka_mock_cluster_t *cluster;
};

ks_mock_broker *ks_mock_broker_new(int nbrokers, const ks_mock_topic *topics, int ntopics,
                                   char *errstr, size_t errsize)
{
    ks_mock_broker *m = calloc(1, sizeof *m);
    if (!m) {
        snprintf(errstr, errsize, "out of memory");
        return NULL;
    }
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* This handle never connects anywhere, so its "no bootstrap.servers"
     * notice (level 5) is noise. */
    if (rd_kafka_conf_set(conf, "log_level", "4", why, sizeof why) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log.connection.close", "false", why, sizeof why) !=
            RD_KAFKA_CONF_OK) {
        snprintf(errstr, errsize, "%s", why);
        rd_kafka_conf_destroy(conf);
        free(m);
        return NULL;
    }
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!m->rk) {
        snprintf(errstr, errsize, "rd_kafka_new: %s", why);
        rd_kafka_conf_destroy(conf);
        free(m);
        return NULL;
    }
    m->cluster = rd_kafka_mock_cluster_new(m->rk, nbrokers);
    if (!m->cluster) {
        snprintf(errstr, errsize, "could not create a mock cluster of %d brokers", nbrokers);
        ks_mock_broker_free(m);
        return NULL;
    }
    for (int i = 0; i < ntopics; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
            m->cluster, topics[i].name, topics[i].partitions, nbrokers < 3 ? nbrokers : 3);
        if (err) {
            snprintf(errstr, errsize, "create topic %s: %s", topics[i].name,
                     rd_kafka_err2str(err));
            ks_mock_broker_free(m);
            return NULL;
        }
        ks_info("mock-broker: topic %s with %d partitions", topics[i].name,
                topics[i].partitions);
    }
    return m;
}

const char *ks_mock_broker_bootstraps(const ks_mock_broker *m)
{
    return rd_kafka_mock_cluster_bootstraps(m->cluster);
}

void ks_mock_broker_free(ks_mock_broker *m)
{
    if (!m)
        return;
    if (m->cluster)
        rd_kafka_mock_cluster_destroy(m->cluster);
    rd_kafka_destroy(m->rk);
    free(m);
}
