/* `kpistream mock-broker`: librdkafka's mock cluster as a standalone process.
 *
 * The mock cluster is created on an otherwise idle producer handle; its
 * brokers listen on 127.0.0.1 with kernel-chosen ports and speak the real
 * Kafka protocol, so kpistream, kcat and any other client can use the printed
 * bootstrap list. Topics are created up front because the mock would
 * otherwise auto-create them with its own default partition count on the
 * first metadata request.
 *
 * Shutdown: SIGINT/SIGTERM are blocked before librdkafka starts its threads
 * (threads inherit the mask) and the main thread takes them with sigwait(),
 * so no handler runs in an arbitrary thread and no flag polling is needed.
 */
#include "kpistream/mock_broker.h"

#include "kpistream/log.h"

#include <errno.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KS__MOCK_MAX_TOPICS 32
#define KS__MOCK_MAX_BROKERS 16
#define KS__MOCK_MAX_PARTITIONS 1024

typedef struct ks__mock_topic {
    char name[250]; /* Kafka's limit is 249 characters */
    int partitions;
} ks__mock_topic;

static void ks__mock_usage(FILE *out)
{
    fputs("usage: kpistream mock-broker [--brokers N] [--topic NAME:PARTITIONS]...\n"
          "                             [--bootstrap-file PATH]\n"
          "\n"
          "Runs an in-memory Kafka cluster (librdkafka mock) on 127.0.0.1 for demos\n"
          "and manual tests, prints its bootstrap servers on stdout and serves until\n"
          "SIGINT/SIGTERM. Data lives in memory only; each partition keeps its newest\n"
          "~5 MB.\n"
          "\n"
          "  --brokers N               number of brokers, 1..16 (default 1)\n"
          "  --topic NAME:PARTITIONS   create a topic; repeatable (default\n"
          "                            customer-events:8 and customer-events.dlq:1)\n"
          "  --bootstrap-file PATH     also write the bootstrap list to PATH (atomically,\n"
          "                            so a reader never sees half of it); removed on exit\n",
          out);
}

/* Parses "name:partitions". Returns 0 or -1 with a message on stderr. */
static int ks__mock_parse_topic(const char *arg, ks__mock_topic *t)
{
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg) {
        fprintf(stderr, "mock-broker: --topic %s: expected NAME:PARTITIONS\n", arg);
        return -1;
    }
    size_t len = (size_t)(colon - arg);
    if (len >= sizeof t->name) {
        fprintf(stderr, "mock-broker: --topic %s: name longer than 249 characters\n", arg);
        return -1;
    }
    char *end;
    errno = 0;
    long n = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || n < 1 || n > KS__MOCK_MAX_PARTITIONS) {
        fprintf(stderr, "mock-broker: --topic %s: partitions must be an integer 1..%d\n", arg,
                KS__MOCK_MAX_PARTITIONS);
        return -1;
    }
    memcpy(t->name, arg, len);
    t->name[len] = '\0';
    t->partitions = (int)n;
    return 0;
}

/* Writes text to path via a temporary file in the same directory and
 * rename(), so a reader polling for path never sees a partial line. */
static int ks__mock_write_atomic(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        fprintf(stderr, "mock-broker: --bootstrap-file path too long\n");
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "mock-broker: cannot write %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    int ok = fputs(text, f) >= 0 && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        fprintf(stderr, "mock-broker: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int ks_mock_broker_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ks__mock_topic topics[KS__MOCK_MAX_TOPICS];
    int ntopics = 0;
    int nbrokers = 1;
    const char *bootstrap_file = NULL;

    optind = 0; /* full re-initialisation: main may have run getopt already */
    int c;
    while ((c = getopt_long(argc, argv, "+b:t:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b': {
            char *end;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || n < 1 || n > KS__MOCK_MAX_BROKERS) {
                fprintf(stderr, "mock-broker: --brokers must be an integer 1..%d, got \"%s\"\n",
                        KS__MOCK_MAX_BROKERS, optarg);
                return 2;
            }
            nbrokers = (int)n;
            break;
        }
        case 't':
            if (ntopics == KS__MOCK_MAX_TOPICS) {
                fprintf(stderr, "mock-broker: at most %d --topic options\n", KS__MOCK_MAX_TOPICS);
                return 2;
            }
            if (ks__mock_parse_topic(optarg, &topics[ntopics]) != 0)
                return 2;
            ntopics++;
            break;
        case 'f':
            bootstrap_file = optarg;
            break;
        case 'h':
            ks__mock_usage(stdout);
            return 0;
        default:
            ks__mock_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mock-broker: unexpected argument \"%s\"\n", argv[optind]);
        ks__mock_usage(stderr);
        return 2;
    }
    if (ntopics == 0) {
        ks__mock_parse_topic("customer-events:8", &topics[ntopics++]);
        ks__mock_parse_topic("customer-events.dlq:1", &topics[ntopics++]);
    }

    /* Block before librdkafka creates threads, so they inherit the mask and
     * only sigwait() below sees these signals. */
    sigset_t stop_sigs, old_mask;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_mask);

    int rc = 1;
    rd_kafka_mock_cluster_t *mcluster = NULL;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* This handle only owns the cluster; it never connects anywhere, so its
     * "no bootstrap.servers" notice (level 5) is noise. */
    if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof errstr) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log.connection.close", "false", errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "mock-broker: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "mock-broker: rd_kafka_new: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    mcluster = rd_kafka_mock_cluster_new(rk, nbrokers);
    if (!mcluster) {
        fprintf(stderr, "mock-broker: could not create a mock cluster of %d brokers\n", nbrokers);
        goto out_rk;
    }
    for (int i = 0; i < ntopics; i++) {
        rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(
            mcluster, topics[i].name, topics[i].partitions, nbrokers < 3 ? nbrokers : 3);
        if (err) {
            fprintf(stderr, "mock-broker: create topic %s: %s\n", topics[i].name,
                    rd_kafka_err2str(err));
            goto out_cluster;
        }
        ks_info("mock-broker: topic %s with %d partitions", topics[i].name,
                topics[i].partitions);
    }

    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
    if (bootstrap_file && ks__mock_write_atomic(bootstrap_file, bootstraps) != 0)
        goto out_cluster;
    printf("%s\n", bootstraps);
    fflush(stdout);
    ks_info("mock-broker: %d broker(s) at %s; SIGINT/SIGTERM to stop", nbrokers, bootstraps);

    int sig = 0;
    while (sigwait(&stop_sigs, &sig) != 0) {
    }
    ks_info("mock-broker: %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    if (bootstrap_file)
        unlink(bootstrap_file);
    rc = 0;

out_cluster:
    rd_kafka_mock_cluster_destroy(mcluster);
out_rk:
    rd_kafka_destroy(rk);
out:
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}
