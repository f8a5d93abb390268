/* `kpistream mock-broker`: librdkafka's mock cluster (src/kafka/
 * mock_broker.c) as a standalone process: options, the bootstrap file, and
 * serving until a signal.
 *
 * Shutdown: SIGINT/SIGTERM are blocked before librdkafka starts its threads
 * (threads inherit the mask) and the main thread takes them with sigwait(),
 * so no handler runs in an arbitrary thread and no flag polling is needed.
 */
#include "app/cmds.h"

#include "kpistream/log.h"
#include "kpistream/mock_broker.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KS__MOCK_MAX_TOPICS 32

typedef struct ks__mock_args {
    long nbrokers;
    const char *bootstrap_file;
    ks_mock_topic topics[KS__MOCK_MAX_TOPICS];
    int ntopics;
} ks__mock_args;

/* Parses "name:partitions". Returns 0 or -1 with a message on stderr. */
static int ks__parse_topic(const char *arg, ks_mock_topic *t)
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
    if (errno || end == colon + 1 || *end || n < 1 || n > KS_MOCK_MAX_PARTITIONS) {
        fprintf(stderr, "mock-broker: --topic %s: partitions must be an integer 1..%d\n", arg,
                KS_MOCK_MAX_PARTITIONS);
        return -1;
    }
    memcpy(t->name, arg, len);
    t->name[len] = '\0';
    t->partitions = (int)n;
    return 0;
}

/* --topic, repeatable. */
static int ks__topic(void *args, const ks_cli_opt *opt, const char *value)
{
    ks__mock_args *a = args;
    (void)opt;
    if (a->ntopics == KS__MOCK_MAX_TOPICS) {
        fprintf(stderr, "mock-broker: at most %d --topic options\n", KS__MOCK_MAX_TOPICS);
        return 2;
    }
    if (ks__parse_topic(value, &a->topics[a->ntopics]) != 0)
        return 2;
    a->ntopics++;
    return 0;
}

static const ks_cli_opt ks__opts[] = {
    {"brokers", "N", "number of brokers, 1..16 (default 1)", KS_CLI_INT,
     offsetof(ks__mock_args, nbrokers), 1, KS_MOCK_MAX_BROKERS, 'b'},
    {"topic", "NAME:PARTITIONS",
     "create a topic; repeatable (default\ncustomer-events:8 and customer-events.dlq:1)",
     KS_CLI_CALL, 0, 0, 0, 't'},
    {"bootstrap-file", "PATH",
     "also write the bootstrap list to PATH (atomically,\nso a reader never sees half of it); "
     "removed on exit",
     KS_CLI_STR, offsetof(ks__mock_args, bootstrap_file), 0, 0, 'f'},
    KS_CLI_END,
};

static const ks_cli_cmd ks__cli = {
    .name = "mock-broker",
    .prog = "mock-broker",
    .usage = "kpistream mock-broker [--brokers N] [--topic NAME:PARTITIONS]...\n"
             "                             [--bootstrap-file PATH]",
    .about = "Runs an in-memory Kafka cluster (librdkafka mock) on 127.0.0.1 for demos\n"
             "and manual tests, prints its bootstrap servers on stdout and serves until\n"
             "SIGINT/SIGTERM. Data lives in memory only; each partition keeps its newest\n"
             "~5 MB. Exit 0 after a signal, 1 if the cluster cannot be created, 2 on a\n"
             "usage error.\n",
    .opts = ks__opts,
    .call = ks__topic,
    .usage_status = 2,
};

/* Writes text to path via a temporary file in the same directory and
 * rename(), so a reader polling for path never sees a partial line. */
static int ks__write_atomic(const char *path, const char *text)
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
    ks__mock_args a = {.nbrokers = 1};
    int rc = ks_cli_parse(&ks__cli, argc, argv, &a);
    if (rc != KS_CLI_GO)
        return rc;
    if (a.ntopics == 0) {
        ks__parse_topic("customer-events:8", &a.topics[a.ntopics++]);
        ks__parse_topic("customer-events.dlq:1", &a.topics[a.ntopics++]);
    }

    /* Blocked before librdkafka creates threads, so they inherit the mask and
     * only the wait below sees these signals. */
    sigset_t old_mask;
    ks_cli_block_stop(&old_mask);
    char err[512];
    ks_mock_broker *m = ks_mock_broker_new((int)a.nbrokers, a.topics, a.ntopics, err, sizeof err);
    if (!m) {
        fprintf(stderr, "mock-broker: %s\n", err);
        ks_cli_unblock(&old_mask);
        return 1;
    }
    rc = 1;
    const char *bootstraps = ks_mock_broker_bootstraps(m);
    if (!a.bootstrap_file || ks__write_atomic(a.bootstrap_file, bootstraps) == 0) {
        printf("%s\n", bootstraps);
        fflush(stdout);
        ks_info("mock-broker: %ld broker(s) at %s; SIGINT/SIGTERM to stop", a.nbrokers,
                bootstraps);
        int sig = ks_cli_wait_stop(-1);
        ks_info("mock-broker: %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
        if (a.bootstrap_file)
            unlink(a.bootstrap_file);
        rc = 0;
    }
    ks_mock_broker_free(m);
    ks_cli_unblock(&old_mask);
    return rc;
}
