/* A closed range of a topic, read without a consumer group (kafka_range.h).
 *
 * The end of each partition is fixed when the read starts (its high
 * watermark, or the offset of to_ms), so a live topic still gives a finite,
 * repeatable range. Each partition has its own queue; the partition the
 * engine wants next (lowest ks_engine_read_order among those it may read) is
 * read a short batch at a time, as the run loop's source does.
 */
#include "kpistream/kafka_range.h"

#include "kpistream/err.h"
#include "kpistream/log.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS__RANGE_BATCH 200
#define KS__RANGE_TIMEOUT_MS 5000
#define KS__RANGE_STALL_MS 30000 /* no message from a partition short of its end */

typedef struct ks__rpart {
    rd_kafka_queue_t *q;
    int64_t end;  /* first offset not read */
    int64_t next; /* next offset expected */
    bool done;
    int stalled_ms;
} ks__rpart;

static int ks__fail(char *errstr, size_t n, const char *topic, const char *what, const char *why)
{
    if (errstr && n) snprintf(errstr, n, "kafka range: topic %s: %s: %s", topic, what, why);
    return KS_ERR_KAFKA;
}

/* Offset of the first message at or after ms (-1: none, i.e. the end). */
static int64_t ks__offset_at(rd_kafka_t *rk, const char *topic, int32_t p, int64_t ms)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, p)->offset = ms;
    int64_t off = -1;
    if (rd_kafka_offsets_for_times(rk, l, KS__RANGE_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        l->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        off = l->elems[0].offset;
    rd_kafka_topic_partition_list_destroy(l);
    return off;
}

int ks_kafka_range_read(const ks_config *cfg, const char *topic, int64_t from_ms, int64_t to_ms,
                        ks_engine *e, ks_kafka_range_fn fn, void *ctx, int64_t *messages,
                        char *errstr, size_t n)
{
    char err[512];
    if (messages) *messages = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err) ||
        rd_kafka_conf_set(conf, "client.id", "kpistream-risk-fit", err, sizeof err) ||
        /* assign() wants a group id; with assign (not subscribe) and no commits
         * the group is never joined and its offsets never written. */
        rd_kafka_conf_set(conf, "group.id", "kpistream-risk-fit", err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.offset.store", "false", err, sizeof err)) {
        rd_kafka_conf_destroy(conf);
        return ks__fail(errstr, n, topic, "configuration", err);
    }
    for (int i = 0; i < cfg->nkafka_props; i++)
        if (rd_kafka_conf_set(conf, cfg->kafka_props[i].key, cfg->kafka_props[i].value, err,
                              sizeof err) != RD_KAFKA_CONF_OK) {
            rd_kafka_conf_destroy(conf);
            char what[300];
            snprintf(what, sizeof what, "kafka.%s", cfg->kafka_props[i].key);
            return ks__fail(errstr, n, topic, what, err);
        }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) return ks__fail(errstr, n, topic, "consumer", err);

    int rc = 0;
    ks__rpart *parts = NULL;
    int np = 0;
    rd_kafka_topic_partition_list_t *assign = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t me = t ? rd_kafka_metadata(rk, 0, t, &md, 10000) : RD_KAFKA_RESP_ERR__FAIL;
    if (me != RD_KAFKA_RESP_ERR_NO_ERROR || !md || md->topic_cnt != 1 || md->topics[0].err) {
        rc = ks__fail(errstr, n, topic, "metadata",
                      me != RD_KAFKA_RESP_ERR_NO_ERROR ? rd_kafka_err2str(me)
                      : md && md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err)
                                                 : "no such topic");
        goto out;
    }
    np = md->topics[0].partition_cnt;
    if (np <= 0) {
        rc = ks__fail(errstr, n, topic, "metadata", "no partitions (no such topic?)");
        goto out;
    }
    parts = calloc((size_t)(np ? np : 1), sizeof *parts);
    assign = rd_kafka_topic_partition_list_new(np ? np : 1);
    if (!parts || !assign) {
        rc = KS_ERR_NOMEM;
        goto out;
    }
    for (int p = 0; p < np; p++) {
        int32_t id = md->topics[0].partitions[p].id;
        int64_t lo, hi;
        rd_kafka_resp_err_t we =
            rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi, KS__RANGE_TIMEOUT_MS);
        if (we != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = ks__fail(errstr, n, topic, "watermarks", rd_kafka_err2str(we));
            goto out;
        }
        int64_t start = lo, end = hi;
        if (from_ms > 0) {
            int64_t o = ks__offset_at(rk, topic, id, from_ms);
            start = o < 0 ? hi : o;
        }
        if (to_ms > 0) {
            int64_t o = ks__offset_at(rk, topic, id, to_ms);
            if (o >= 0 && o < end) end = o;
        }
        if (ks_engine_assign(e, topic, id) != 0) {
            rc = KS_ERR_NOMEM;
            goto out;
        }
        parts[p].end = end;
        parts[p].next = start;
        parts[p].done = start >= end;
        if (parts[p].done) {
            ks_engine_set_eof(e, topic, id, true);
            continue;
        }
        rd_kafka_topic_partition_list_add(assign, topic, id)->offset = start;
    }
    /* The queues before the assignment: a message fetched in between would
     * land on the consumer's main queue and be missed. */
    for (int p = 0; p < np; p++) {
        if (parts[p].done) continue;
        parts[p].q = rd_kafka_queue_get_partition(rk, topic, md->topics[0].partitions[p].id);
        if (!parts[p].q) {
            rc = ks__fail(errstr, n, topic, "partition queue", "unavailable");
            goto out;
        }
        rd_kafka_queue_forward(parts[p].q, NULL); /* its messages stay in its own queue */
    }
    rd_kafka_resp_err_t ae = assign->cnt ? rd_kafka_assign(rk, assign) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (ae != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc = ks__fail(errstr, n, topic, "assign", rd_kafka_err2str(ae));
        goto out;
    }
    for (;;) {
        /* The partition the engine wants next: lowest read order, readable first. */
        int best = -1;
        bool best_may = false;
        int64_t best_order = INT64_MAX;
        for (int p = 0; p < np; p++) {
            if (parts[p].done) continue;
            int32_t id = md->topics[0].partitions[p].id;
            bool may = ks_engine_may_read(e, topic, id);
            int64_t order = ks_engine_read_order(e, topic, id);
            if (best < 0 || (may && !best_may) || (may == best_may && order < best_order))
                best = p, best_may = may, best_order = order;
        }
        if (best < 0) break;
        ks__rpart *rp = &parts[best];
        int32_t id = md->topics[0].partitions[best].id;
        rd_kafka_message_t *msgs[KS__RANGE_BATCH];
        ssize_t got = rd_kafka_consume_batch_queue(rp->q, 200, msgs, KS__RANGE_BATCH);
        if (got <= 0) {
            rp->stalled_ms += 200;
            if (rp->stalled_ms >= KS__RANGE_STALL_MS) {
                char why[160];
                snprintf(why, sizeof why, "no message for %d s before offset %lld (its end)",
                         KS__RANGE_STALL_MS / 1000, (long long)rp->end);
                char what[64];
                snprintf(what, sizeof what, "partition %d", (int)id);
                rc = ks__fail(errstr, n, topic, what, why);
                goto out;
            }
            continue;
        }
        rp->stalled_ms = 0;
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = msgs[i];
            if (!rp->done && m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                if (m->offset >= rp->end) rp->done = true;
            } else if (!rp->done && m->err) {
                char what[64];
                snprintf(what, sizeof what, "partition %d", (int)id);
                rc = ks__fail(errstr, n, topic, what, rd_kafka_message_errstr(m));
                for (ssize_t k = i; k < got; k++)
                    rd_kafka_message_destroy(msgs[k]);
                goto out;
            } else if (!rp->done && m->offset < rp->end) {
                fn(ctx, topic, id, m->offset, m->payload, m->len);
                if (messages) ++*messages;
                rp->next = m->offset + 1;
                if (rp->next >= rp->end) rp->done = true;
            } else {
                rp->done = true;
            }
            rd_kafka_message_destroy(m);
        }
        if (rp->done) ks_engine_set_eof(e, topic, id, true);
    }
out:
    for (int p = 0; parts && p < np; p++)
        if (parts[p].q) rd_kafka_queue_destroy(parts[p].q);
    free(parts);
    if (assign) rd_kafka_topic_partition_list_destroy(assign);
    if (md) rd_kafka_metadata_destroy(md);
    if (t) rd_kafka_topic_destroy(t);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
