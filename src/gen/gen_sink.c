/* Event outputs of `kpistream gen`: JSONL and a librdkafka producer.
 *
 * The producer is tuned for throughput (linger, large batches) and for a
 * clean story on failure: the delivery-report callback counts failures and
 * keeps the first error, the write path reports it on the next call, and
 * close waits for every outstanding message so the exit status says whether
 * all of them arrived.
 */
#include "gen/gen_sink.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/err.h"

#define KS__SINK_FLUSH_MS 45000

struct ks__gen_sink {
    FILE *f;
    int f_is_stdout;
    char *out_path;
    rd_kafka_t *rk;
    char *topic;
    uint64_t produced, failed;
    char first_error[256];
};

static void ks__dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ks__gen_sink *s = opaque;
    if (m->err) {
        if (s->failed++ == 0)
            snprintf(s->first_error, sizeof s->first_error, "%s", rd_kafka_err2str(m->err));
    }
}

static int ks__conf_set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr,
                        size_t errstr_size)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, errstr_size, "Kafka setting %s=%s: %s", k, v, err);
        return KS_ERR_KAFKA;
    }
    return 0;
}

static int ks__open_kafka(ks__gen_sink *s, const char *brokers, char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const kv[][2] = {
        {"client.id", "kpistream-gen"},
        {"linger.ms", "50"},
        {"batch.num.messages", "10000"},
        {"queue.buffering.max.messages", "500000"},
        {"queue.buffering.max.kbytes", "1048576"},
        {"message.timeout.ms", "30000"},
        {"compression.codec", "lz4"},
        /* Kafka-level retries must not add duplicates we did not ask for. */
        {"enable.idempotence", "true"},
    };
    if (ks__conf_set(conf, "bootstrap.servers", brokers, errstr, errstr_size) != 0) goto fail;
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (ks__conf_set(conf, kv[i][0], kv[i][1], errstr, errstr_size) != 0) goto fail;
    rd_kafka_conf_set_dr_msg_cb(conf, ks__dr_cb);
    rd_kafka_conf_set_opaque(conf, s);
    char err[256];
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!s->rk) {
        snprintf(errstr, errstr_size, "cannot create Kafka producer: %s", err);
        goto fail; /* rd_kafka_new() frees conf only on success */
    }
    return 0;
fail:
    rd_kafka_conf_destroy(conf);
    return KS_ERR_KAFKA;
}

ks__gen_sink *ks__gen_sink_open(const char *out_path, const char *brokers, const char *topic,
                                char *errstr, size_t errstr_size)
{
    ks__gen_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errstr, errstr_size, "out of memory");
        return NULL;
    }
    if (out_path) {
        if (strcmp(out_path, "-") == 0) {
            s->f = stdout;
            s->f_is_stdout = 1;
        } else {
            s->f = fopen(out_path, "w");
            if (!s->f) {
                snprintf(errstr, errstr_size, "cannot open --out %s: %s", out_path,
                         strerror(errno));
                free(s);
                return NULL;
            }
        }
        s->out_path = strdup(out_path);
        /* Full buffering in large blocks: one write(2) per ~1 MiB of events. */
        setvbuf(s->f, NULL, _IOFBF, 1 << 20);
    }
    if (brokers) {
        s->topic = strdup(topic);
        if (ks__open_kafka(s, brokers, errstr, errstr_size) != 0) {
            char ignored[8];
            ks__gen_sink_close(s, ignored, sizeof ignored);
            return NULL;
        }
    }
    return s;
}

static int ks__kafka_failed(ks__gen_sink *s, char *errstr, size_t errstr_size)
{
    snprintf(errstr, errstr_size, "delivery to Kafka topic %s failed for %llu message(s): %s",
             s->topic, (unsigned long long)s->failed, s->first_error);
    return KS_ERR_KAFKA;
}

int ks__gen_sink_write(ks__gen_sink *s, const char *buf, size_t len, const char *key, size_t keylen,
                       char *errstr, size_t errstr_size)
{
    if (s->f) {
        if (fwrite(buf, 1, len, s->f) != len || putc('\n', s->f) == EOF) {
            snprintf(errstr, errstr_size, "writing %s: %s", s->out_path, strerror(errno));
            return KS_ERR_IO;
        }
    }
    if (!s->rk) return 0;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            s->rk, RD_KAFKA_V_TOPIC(s->topic), RD_KAFKA_V_KEY((void *)key, keylen),
            RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            snprintf(errstr, errstr_size, "producing to Kafka topic %s: %s", s->topic,
                     rd_kafka_err2str(err));
            return KS_ERR_KAFKA;
        }
        /* Local queue full: serve delivery reports until there is room. */
        rd_kafka_poll(s->rk, 100);
        if (s->failed) return ks__kafka_failed(s, errstr, errstr_size);
    }
    if ((++s->produced & 1023) == 0) rd_kafka_poll(s->rk, 0);
    return s->failed ? ks__kafka_failed(s, errstr, errstr_size) : 0;
}

int ks__gen_sink_close(ks__gen_sink *s, char *errstr, size_t errstr_size)
{
    if (!s) return 0;
    int rc = 0;
    if (s->f) {
        int bad = fflush(s->f) != 0 || ferror(s->f);
        if (!s->f_is_stdout && fclose(s->f) != 0) bad = 1;
        if (bad) {
            snprintf(errstr, errstr_size, "writing %s failed", s->out_path);
            rc = KS_ERR_IO;
        }
    }
    if (s->rk) {
        rd_kafka_flush(s->rk, KS__SINK_FLUSH_MS);
        int left = rd_kafka_outq_len(s->rk);
        if (rc == 0 && s->failed) {
            rc = ks__kafka_failed(s, errstr, errstr_size);
        } else if (rc == 0 && left > 0) {
            snprintf(errstr, errstr_size,
                     "%d message(s) to Kafka topic %s not delivered within %d s", left, s->topic,
                     KS__SINK_FLUSH_MS / 1000);
            rc = KS_ERR_KAFKA;
        }
        rd_kafka_destroy(s->rk);
    }
    free(s->out_path);
    free(s->topic);
    free(s);
    return rc;
}
