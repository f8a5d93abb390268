/* The baseline of the catch-up part of `make bench` (docs/benchmarks.md): a
 * bare librdkafka *group* consumer that only counts messages.
 *
 *   bench_bare_consumer --brokers B --topic T --group G [--expect N]
 *       subscribes T with group G (default assignment strategy, no commits,
 *       auto.offset.reset=earliest), reads batches of up to 1000 messages from
 *       the consumer queue and counts them until every assigned partition is
 *       at its end (enable.partition.eof), then leaves the group and exits.
 *       Measured from outside as a whole process (/usr/bin/time), so the group
 *       join is included; it also prints its own split (join, read).
 *
 *   bench_bare_consumer --watermarks --brokers B --topic T [--expect N]
 *       queries every partition's low and high watermark and prints their
 *       sums; with --expect, exits 1 unless every low watermark is 0 and the
 *       high watermarks sum to N (the mock cluster keeps only ~5 MB of a
 *       partition and drops older messages).
 *
 * Output: human lines, plus "RESULT name value" lines for bench/run.sh.
 * Exit status 0 on success, 1 on an error or a count different from --expect. */
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1000

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_bare_consumer --brokers B --topic T --group G [--expect N]\n"
                    "       bench_bare_consumer --watermarks --brokers B --topic T [--expect N]\n");
    exit(2);
}

static rd_kafka_conf_t *base_conf(const char *brokers)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bench_bare_consumer: %s\n", err);
        exit(1);
    }
    return conf;
}

/* Number of partitions of topic (or -1). */
static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int n = -1;
    for (int attempt = 0; attempt < 20 && n < 0; attempt++) {
        if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            n = md->topics[0].partition_cnt;
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_topic_destroy(rkt);
    return n;
}

static int watermarks(const char *brokers, const char *topic, int64_t expect)
{
    char err[512];
    rd_kafka_conf_t *conf = base_conf(brokers);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_bare_consumer: %s\n", err);
        return 1;
    }
    int np = partitions_of(rk, topic);
    if (np <= 0) {
        fprintf(stderr, "bench_bare_consumer: no metadata for topic %s\n", topic);
        rd_kafka_destroy(rk);
        return 1;
    }
    int64_t sum_high = 0, sum_low = 0, max_low = 0, min_high = INT64_MAX, max_high = 0;
    int failed = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo = -1, hi = -1;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "bench_bare_consumer: watermarks of %s[%d]: %s\n", topic, p,
                    rd_kafka_err2str(e));
            failed++;
            continue;
        }
        sum_high += hi;
        sum_low += lo;
        if (lo > max_low)
            max_low = lo;
        if (hi < min_high)
            min_high = hi;
        if (hi > max_high)
            max_high = hi;
    }
    rd_kafka_destroy(rk);
    printf("watermarks of %s: %d partitions, end offsets sum %" PRId64 " (per partition %" PRId64
           "-%" PRId64 "), low watermarks sum %" PRId64 " (max %" PRId64 ")%s\n",
           topic, np, sum_high, min_high == INT64_MAX ? 0 : min_high, max_high, sum_low, max_low,
           failed ? ", some partitions not answered" : "");
    printf("RESULT wm_partitions %d\nRESULT wm_high_sum %" PRId64 "\nRESULT wm_low_sum %" PRId64 "\n",
           np, sum_high, sum_low);
    if (failed)
        return 1;
    if (expect >= 0 && (sum_low != 0 || sum_high != expect)) {
        printf("watermarks: MISMATCH: expected end offsets summing to %" PRId64
               " with every low watermark 0\n", expect);
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- consume */

typedef struct {
    int assigned;      /* partitions currently assigned */
    int most;          /* the most ever assigned at once */
    bool *at_eof;      /* by partition number */
    int neof;          /* assigned partitions at their end */
    int cap;
    double assigned_at;
} state;

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    state *s = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        s->assigned = parts->cnt;
        if (s->assigned > s->most)
            s->most = s->assigned;
        s->neof = 0;
        for (int i = 0; i < s->cap; i++)
            s->at_eof[i] = false;
        if (s->assigned_at == 0)
            s->assigned_at = mono_s();
    } else {
        rd_kafka_assign(rk, NULL);
        s->assigned = 0;
        s->neof = 0;
    }
}

static void mark(state *s, int32_t p, bool eof)
{
    if (p < 0 || p >= s->cap)
        return;
    if (s->at_eof[p] != eof) {
        s->at_eof[p] = eof;
        s->neof += eof ? 1 : -1;
    }
}

static int consume(const char *brokers, const char *topic, const char *group, int64_t expect)
{
    char err[512];
    double t0 = mono_s();
    state s;
    memset(&s, 0, sizeof s);
    s.cap = 1 << 16;
    s.at_eof = calloc((size_t)s.cap, sizeof *s.at_eof);
    rd_kafka_message_t **msgs = malloc(BATCH * sizeof *msgs);
    if (!s.at_eof || !msgs)
        return 1;

    rd_kafka_conf_t *conf = base_conf(brokers);
    if (rd_kafka_conf_set(conf, "group.id", group, err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "client.id", "bench-bare-consumer", err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "bench_bare_consumer: %s\n", err);
        return 1;
    }
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, &s);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "bench_bare_consumer: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        fprintf(stderr, "bench_bare_consumer: subscribe %s: %s\n", topic, rd_kafka_err2str(e));
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);

    int64_t count = 0, bytes = 0, errors = 0;
    double first = 0, last = 0;
    while (!stop && !(s.assigned > 0 && s.neof >= s.assigned)) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, BATCH);
        if (n < 0) {
            fprintf(stderr, "bench_bare_consumer: consume: %s\n", rd_kafka_err2str(rd_kafka_last_error()));
            break;
        }
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                mark(&s, m->partition, true);
            } else if (m->err) {
                if (errors++ < 10)
                    fprintf(stderr, "bench_bare_consumer: %s\n", rd_kafka_message_errstr(m));
            } else {
                if (!count)
                    first = mono_s();
                count++;
                last = mono_s();
                bytes += (int64_t)m->len + (int64_t)m->key_len;
                mark(&s, m->partition, false);
            }
            rd_kafka_message_destroy(m);
        }
    }
    double t_read = mono_s();
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    double t_end = mono_s();
    free(s.at_eof);
    free(msgs);

    double read_s = count ? last - first : 0;
    printf("bare group consumer: %" PRId64 " messages (%.1f MB) from %d partitions; "
           "subscribe to first message %.3f s, first to last message %.3f s (%.0f messages/s), "
           "last message to every partition at its end %.3f s, close %.3f s, total %.3f s\n",
           count, (double)bytes / 1e6, s.most, count ? first - t0 : 0.0, read_s,
           read_s > 0 ? (double)count / read_s : 0.0, count ? t_read - last : 0.0, t_end - t_read,
           t_end - t0);
    printf("RESULT bare_messages %" PRId64 "\nRESULT bare_join_s %.3f\nRESULT bare_read_s %.3f\n",
           count, count ? first - t0 : 0.0, read_s);
    if (stop || errors)
        return 1;
    if (expect >= 0 && count != expect) {
        printf("bare group consumer: MISMATCH: %" PRId64 " messages, expected %" PRId64 "\n", count,
               expect);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *brokers = NULL, *topic = NULL, *group = NULL;
    int64_t expect = -1;
    bool wm = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--watermarks") == 0)
            wm = true;
        else if (i + 1 < argc && strcmp(a, "--brokers") == 0)
            brokers = argv[++i];
        else if (i + 1 < argc && strcmp(a, "--topic") == 0)
            topic = argv[++i];
        else if (i + 1 < argc && strcmp(a, "--group") == 0)
            group = argv[++i];
        else if (i + 1 < argc && strcmp(a, "--expect") == 0)
            expect = strtoll(argv[++i], NULL, 10);
        else
            usage();
    }
    if (!brokers || !topic || (!wm && !group))
        usage();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return wm ? watermarks(brokers, topic, expect) : consume(brokers, topic, group, expect);
}
