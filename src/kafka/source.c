/* Kafka source over librdkafka; see include/kpistream/source.h. */
#include "kpistream/source.h"
#include "kpistream/clock.h"

#include "kpistream/err.h"
#include "kpistream/log.h"
#include "kpistream/vec.h"
#include "kafka/kick.h"

#include <librdkafka/rdkafka.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS__MAX_BATCH 10000
#define KS__MAX_POSITIONS 4096

/* A partition's own message queue: reading partitions separately lets the
 * source choose which to read next (event-time order, see engine.h). */
typedef struct ks__pq {
    char *topic;
    int32_t partition;
    rd_kafka_queue_t *q;
    int64_t key; /* read order of the current poll */
    /* Messages taken from q and not handled yet: a fetched batch can span
     * days of a partition's event time, and it is handed to the engine only
     * as far as watermark alignment allows (ks_engine_may_read), so windows
     * never hold the days a partition ran ahead. Owned. */
    rd_kafka_message_t **held;
    int nheld, hpos, capheld;
    int64_t next; /* offset after the last message handled; -1 before one */
    ks_engine_part *ref; /* the engine's handle, resolved for each round */
    uint64_t claim;      /* the last round a reader took it in (atomic) */
} ks__pq;

/* What the readers of one poll may still take, shared (atomic): messages,
 * and pending customers and notices they may add (INT64_MAX: any). */
typedef struct ks__budget {
    int take;
    int64_t room;
    bool bounded; /* room counts (set before the readers start) */
} ks__budget;

/* One reader of a poll: a serial poll has one, a round one per thread
 * (each partition read by one of them, ks__take_pq). */
typedef struct ks__reader {
    struct ks_source *s;
    bool round;
    int worker, nworkers;
    uint64_t round_no;  /* claims partitions for this round */
    ks__budget *b;      /* shared by the poll's readers */
    int64_t wall_ms;
    ks_source_poll_stats st;
    int handled;       /* messages and events taken from its queues */
    int rc;
    char err[256];
} ks__reader;

/* The worker thread of rounds (reader number 1; the polling thread is 0). */
typedef struct ks__worker {
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t asked, done; /* rounds handed over / finished */
    bool quit;
    ks__reader *job;
} ks__worker;

struct ks_source {
    const ks_config *cfg;
    ks_engine *engine;
    rd_kafka_t *consumer;
    rd_kafka_queue_t *queue;
    rd_kafka_t *dlq;
    ks_source_assign_fn on_assign;
    ks_source_revoke_fn on_revoke;
    void *ctx;
    bool user_reset; /* the user set kafka.auto.offset.reset */
    rd_kafka_message_t **msgs;
    ks__pq *pqs; /* one queue per assigned partition */
    int npqs, rot;
    size_t cappqs;
    bool paused, closed;
    int64_t dlq_failed;
    int64_t poll_wall_ms;
    ks_source_stats_fn on_stats;
    void *stats_ctx;
    int rebalances; /* served and not yet reported by ks_source_poll() */
    ks_kicker *kicker; /* NULL: none (out of threads; only slower) */
    int64_t kick_ns;   /* monotonic: the last wake-up asked for */
    int nworkers;      /* readers of a round (cfg->threads; 1: no rounds) */
    uint64_t round_no; /* rounds begun */
    bool busy;         /* the last poll left messages to read: worth a round */
    ks__worker worker;
    pthread_mutex_t mu; /* kick_ns, dead-lettering and dlq_failed during a round */
};

/* librdkafka 2.0 fetches a partition again only when its broker thread
 * wakes (kick.c): ask for a wake-up when a partition that may be read was
 * just drained and has more than KS__KICK_LAG messages left on the broker,
 * at most every 5 ms. A live consumer (a few messages behind, its fetches
 * always in flight) never asks. */
#define KS__KICK_LAG 256
static void ks__kick(ks_source *s, const ks__pq *pq)
{
    int64_t lo, hi, now = ks_mono_ns();
    pthread_mutex_lock(&s->mu);
    bool due = s->kicker && now - s->kick_ns >= 5 * 1000000LL;
    pthread_mutex_unlock(&s->mu);
    if (!due ||
        rd_kafka_get_watermark_offsets(s->consumer, pq->topic, pq->partition, &lo, &hi) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        hi < 0 || pq->next < 0 || hi - pq->next <= KS__KICK_LAG)
        return;
    pthread_mutex_lock(&s->mu);
    s->kick_ns = now;
    pthread_mutex_unlock(&s->mu);
    ks_kicker_kick(s->kicker, pq->topic, pq->partition);
}

static int ks__set(rd_kafka_conf_t *conf, const char *k, const char *v, char *errstr, size_t n)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        snprintf(errstr, n, "kafka.%s: %s", k, err);
        return KS_ERR_CONFIG;
    }
    return 0;
}

/* Applies the user's kafka.* properties (they override our defaults). */
static int ks__user_props(const ks_config *cfg, rd_kafka_conf_t *conf, bool producer,
                          char *errstr, size_t n)
{
    for (int i = 0; i < cfg->nkafka_props; i++) {
        const char *k = cfg->kafka_props[i].key;
        /* Consumer-only properties would only make the producer log warnings. */
        if (producer && (strncmp(k, "group.", 6) == 0 || strstr(k, "offset") ||
                         strncmp(k, "partition.assignment", 20) == 0 ||
                         strncmp(k, "session.", 8) == 0 || strncmp(k, "fetch.", 6) == 0 ||
                         strncmp(k, "enable.", 7) == 0 || strncmp(k, "heartbeat", 9) == 0 ||
                         strncmp(k, "max.poll", 8) == 0 || strncmp(k, "isolation", 9) == 0 ||
                         strncmp(k, "queued.", 7) == 0))
            continue;
        if (ks__set(conf, k, cfg->kafka_props[i].value, errstr, n) < 0)
            return KS_ERR_CONFIG;
    }
    return 0;
}

static void ks__log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        ks_error("kafka %s: %s", fac, buf);
    else if (level <= 5)
        ks_warn("kafka %s: %s", fac, buf);
    else
        ks_debug("kafka %s: %s", fac, buf);
}

static void ks__dlq_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    ks_source *s = opaque;
    if (m->err) {
        s->dlq_failed++;
        ks_error("dead-letter delivery to %s failed: %s (the event stays counted as rejected)",
                 rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
    }
}

static void ks__pq_add(ks_source *s, const char *topic, int32_t partition)
{
    if (ks_vec_reserve(s->pqs, s->cappqs, (size_t)s->npqs + 1) < 0) {
        ks_error("out of memory adding %s[%d]", topic, (int)partition);
        return;
    }
    ks__pq *pq = &s->pqs[s->npqs];
    memset(pq, 0, sizeof *pq);
    pq->topic = strdup(topic);
    pq->partition = partition;
    pq->next = -1;
    pq->q = rd_kafka_queue_get_partition(s->consumer, topic, partition);
    if (!pq->topic || !pq->q) {
        free(pq->topic);
        if (pq->q)
            rd_kafka_queue_destroy(pq->q);
        ks_error("cannot get the queue of %s[%d]", topic, (int)partition);
        return;
    }
    rd_kafka_queue_forward(pq->q, NULL); /* keep its messages in its own queue */
    s->npqs++;
}

static void ks__pq_del(ks_source *s, const char *topic, int32_t partition)
{
    for (int i = 0; i < s->npqs; i++) {
        ks__pq *pq = &s->pqs[i];
        if (pq->partition != partition || strcmp(pq->topic, topic) != 0)
            continue;
        /* Unhandled messages are not lost: their offsets were never
         * committed, so the partition's next owner reads them again. */
        for (int k = pq->hpos; k < pq->nheld; k++)
            rd_kafka_message_destroy(pq->held[k]);
        free(pq->held);
        rd_kafka_queue_destroy(pq->q);
        free(pq->topic);
        s->pqs[i] = s->pqs[--s->npqs];
        return;
    }
}

/* Logs this member's share of the group's partitions after a rebalance
 * (the group's totals are merged in Redis whatever the share). */
static void ks__log_share(ks_source *s)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(s->consumer, &a) != RD_KAFKA_RESP_ERR_NO_ERROR || !a)
        return;
    int owned = a->cnt, total = 0;
    rd_kafka_topic_partition_list_destroy(a);
    for (int i = 0; i < s->cfg->ntopics; i++) {
        rd_kafka_topic_t *t = rd_kafka_topic_new(s->consumer, s->cfg->topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        if (t && rd_kafka_metadata(s->consumer, 0, t, &md, 2000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (md->topic_cnt == 1)
                total += md->topics[0].partition_cnt;
            rd_kafka_metadata_destroy(md);
        }
        if (t)
            rd_kafka_topic_destroy(t);
    }
    if (total > 0)
        ks_info("this member owns %d of %d partitions", owned, total);
}

static int ks__stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    ks_source *s = opaque;
    if (s->on_stats)
        s->on_stats(s->stats_ctx, json, len);
    return 0; /* librdkafka frees json */
}

void ks_source_on_stats(ks_source *s, ks_source_stats_fn fn, void *ctx)
{
    s->on_stats = fn;
    s->stats_ctx = ctx;
}

static void ks__rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    ks_source *s = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    if (parts->cnt > 0)
        s->rebalances++;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; i++) {
            rd_kafka_topic_partition_t *tp = &parts->elems[i];
            if (ks_engine_assign(s->engine, tp->topic, tp->partition) < 0) {
                ks_error("out of memory creating state for %s[%d]", tp->topic, (int)tp->partition);
                continue;
            }
            /* State is rebuilt by replaying the partition from its start up
             * to the offset stored in Redis with its outputs (see
             * docs/reliability.md). Without a stored offset a user's
             * auto.offset.reset is honoured; by default we read from the
             * start too, as the contract asks. */
            int64_t restore = s->on_assign ? s->on_assign(s->ctx, tp->topic, tp->partition) : -1;
            /* A snapshot loaded by on_assign: replay only from its offset. */
            int64_t from = ks_engine_start_offset(s->engine, tp->topic, tp->partition);
            if (from > 0)
                tp->offset = from;
            else if (restore > 0 || !s->user_reset)
                tp->offset = RD_KAFKA_OFFSET_BEGINNING;
            ks_info("assigned %s[%d]%s", tp->topic, (int)tp->partition,
                    restore > 0 ? ", replaying to restore its state" : "");
            if (restore > 0)
                ks_info("  %s[%d]: replaying offsets %lld..%lld", tp->topic, (int)tp->partition,
                        (long long)(from > 0 ? from : 0), (long long)restore - 1);
        }
        for (int i = 0; i < parts->cnt; i++)
            ks__pq_add(s, parts->elems[i].topic, parts->elems[i].partition);
        rd_kafka_error_t *e = NULL;
        if (coop)
            e = rd_kafka_incremental_assign(rk, parts);
        else
            rd_kafka_assign(rk, parts);
        if (e) {
            ks_error("kafka assign: %s", rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
        }
        if (s->paused)
            rd_kafka_pause_partitions(rk, parts);
        ks__log_share(s);
        return;
    }
    /* Revoke (or lost): flush and commit what we hold for these partitions,
     * then drop their state; the next owner continues from the commit. */
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS && !rd_kafka_assignment_lost(rk) && s->on_revoke)
        s->on_revoke(s->ctx);
    for (int i = 0; i < parts->cnt; i++) {
        ks_info("revoked %s[%d]", parts->elems[i].topic, (int)parts->elems[i].partition);
        ks_engine_revoke(s->engine, parts->elems[i].topic, parts->elems[i].partition);
    }
    if (coop) {
        rd_kafka_error_t *e = rd_kafka_incremental_unassign(rk, parts);
        if (e)
            rd_kafka_error_destroy(e);
        for (int i = 0; i < parts->cnt; i++)
            ks__pq_del(s, parts->elems[i].topic, parts->elems[i].partition);
    } else {
        rd_kafka_assign(rk, NULL);
        while (s->npqs)
            ks__pq_del(s, s->pqs[0].topic, s->pqs[0].partition);
    }
}

/* One librdkafka property; value NULL: left unset. */
typedef struct ks__prop {
    const char *key, *value;
} ks__prop;

/* Creates the group consumer (RD_KAFKA_CONSUMER) or the dead-letter producer
 * with props, then the user's kafka.* properties over them, our callbacks and
 * s as opaque. Returns the client, or NULL with errstr filled. */
static rd_kafka_t *ks__client_new(ks_source *s, rd_kafka_type_t type, const ks__prop *props,
                                  size_t nprops, char *errstr, size_t errsize)
{
    bool producer = type == RD_KAFKA_PRODUCER;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < nprops; i++)
        if (props[i].value && ks__set(conf, props[i].key, props[i].value, errstr, errsize))
            goto fail;
    if (ks__user_props(s->cfg, conf, producer, errstr, errsize)) goto fail;
    rd_kafka_conf_set_log_cb(conf, ks__log_cb);
    if (producer) {
        rd_kafka_conf_set_dr_msg_cb(conf, ks__dlq_dr);
    } else {
        rd_kafka_conf_set_rebalance_cb(conf, ks__rebalance);
        rd_kafka_conf_set_stats_cb(conf, ks__stats);
    }
    rd_kafka_conf_set_opaque(conf, s);
    char err[512];
    rd_kafka_t *rk = rd_kafka_new(type, conf, err, sizeof err);
    if (rk) return rk; /* it owns conf now */
    snprintf(errstr, errsize, "kafka %s: %s", producer ? "dead-letter producer" : "consumer", err);
fail:
    rd_kafka_conf_destroy(conf); /* still ours when rd_kafka_new fails */
    return NULL;
}

ks_source *ks_source_new(const ks_config *cfg, ks_engine *e, ks_source_assign_fn on_assign,
                         ks_source_revoke_fn on_revoke, void *ctx, char *errstr, size_t errsize)
{
    ks_source *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errstr, errsize, "kafka: out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->engine = e;
    s->nworkers = cfg->threads > 1 ? 2 : 1; /* (one worker thread besides the poller) */
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->worker.mu, NULL);
    pthread_cond_init(&s->worker.cv, NULL);
    s->on_assign = on_assign;
    s->on_revoke = on_revoke;
    s->ctx = ctx;
    for (int i = 0; i < cfg->nkafka_props; i++)
        if (strcmp(cfg->kafka_props[i].key, "auto.offset.reset") == 0)
            s->user_reset = true;
    int batch = cfg->batch_size > 0 && cfg->batch_size <= KS__MAX_BATCH ? cfg->batch_size : 1000;
    s->msgs = calloc((size_t)batch, sizeof *s->msgs);
    if (!s->msgs) {
        snprintf(errstr, errsize, "kafka: out of memory");
        ks_source_free(s);
        return NULL;
    }

    const ks__prop consumer[] = {
        {"bootstrap.servers", cfg->brokers},
        {"group.id", cfg->group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "cooperative-sticky"},
        {"client.id", "kpistream"},
        /* Prefetch about 256 KB or 1200 messages per partition, not
         * librdkafka's 64 MB / 100000: the engine takes messages only as far
         * as watermark alignment allows, so in a catch-up over many
         * partitions the default queues end up holding the whole topic (at
         * 128 partitions 1 MB each was 270 MB of peak RSS). Not much less
         * either: a partition whose queue is full is not fetched again for
         * a second (librdkafka 2.0's fixed fetch backoff), so the queue must
         * last about that long at the partition's share of the rate. At
         * 1000 messages a 45-day catch-up waited on empty queues for a third
         * of its time (13.1 s; 1200: 10.9 s; docs/benchmarks.md). */
        {"queued.min.messages", "1200"},
        {"queued.max.messages.kbytes", "256"},
        /* With queues this small a partition's end is seen by a fetch that
         * finds nothing, which the broker holds for fetch.wait.max.ms (500
         * by default) when no partition of the request has data: a catch-up
         * that kept up with its fetches spent up to half a second waiting
         * for its last partitions' ends (docs/benchmarks.md). */
        {"fetch.wait.max.ms", "100"},
        /* Consumer lag for the metrics endpoint (src/metrics/kafka_stats.c). */
        {"statistics.interval.ms", cfg->metrics_listen && *cfg->metrics_listen ? "5000" : NULL},
    };
    const ks__prop producer[] = {
        {"bootstrap.servers", cfg->brokers},
        {"message.timeout.ms", "0"}, /* retry until delivered */
        {"enable.idempotence", "true"},
        /* A dead-letter copy is as large as the message it keeps, and a
         * too_large message is larger than max_message_bytes by definition:
         * allow librdkafka's maximum, the broker's topic limit decides. */
        {"message.max.bytes", "1000000000"},
        {"client.id", "kpistream-dlq"},
    };
    s->consumer = ks__client_new(s, RD_KAFKA_CONSUMER, consumer, sizeof consumer / sizeof *consumer,
                                 errstr, errsize);
    if (!s->consumer) {
        ks_source_free(s);
        return NULL;
    }
    rd_kafka_poll_set_consumer(s->consumer);
    s->kicker = ks_kicker_new(s->consumer);
    s->queue = rd_kafka_queue_get_consumer(s->consumer);
    s->dlq = ks__client_new(s, RD_KAFKA_PRODUCER, producer, sizeof producer / sizeof *producer,
                            errstr, errsize);
    if (!s->dlq) {
        ks_source_free(s);
        return NULL;
    }

    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(cfg->ntopics);
    for (int i = 0; i < cfg->ntopics; i++)
        rd_kafka_topic_partition_list_add(topics, cfg->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t rerr = rd_kafka_subscribe(s->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rerr) {
        snprintf(errstr, errsize, "kafka subscribe: %s", rd_kafka_err2str(rerr));
        ks_source_free(s);
        return NULL;
    }
    return s;
}

void ks_source_close(ks_source *s)
{
    if (!s || s->closed || !s->consumer)
        return;
    s->closed = true;
    if (s->kicker)
        ks_debug("kafka: %llu fetch wake-ups sent", (unsigned long long)ks_kicker_count(s->kicker));
    ks_kicker_free(s->kicker); /* it borrows the consumer */
    s->kicker = NULL;
    rd_kafka_consumer_close(s->consumer);
}

static void ks__worker_stop(ks__worker *w);

void ks_source_free(ks_source *s)
{
    if (!s)
        return;
    ks__worker_stop(&s->worker);
    ks_source_close(s);
    while (s->npqs)
        ks__pq_del(s, s->pqs[0].topic, s->pqs[0].partition);
    free(s->pqs);
    if (s->queue)
        rd_kafka_queue_destroy(s->queue);
    if (s->consumer)
        rd_kafka_destroy(s->consumer);
    if (s->dlq) {
        rd_kafka_flush(s->dlq, 5000);
        rd_kafka_destroy(s->dlq);
    }
    free(s->msgs);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->worker.mu);
    pthread_cond_destroy(&s->worker.cv);
    free(s);
}

static void ks__dead_letter_locked(ks_source *s, const rd_kafka_message_t *m, const ks_reject *why);

/* Dead-letters m; callable from either reader of a round. */
static void ks__dead_letter(ks_source *s, const rd_kafka_message_t *m, const ks_reject *why)
{
    pthread_mutex_lock(&s->mu);
    ks__dead_letter_locked(s, m, why);
    pthread_mutex_unlock(&s->mu);
}

static void ks__dead_letter_locked(ks_source *s, const rd_kafka_message_t *m, const ks_reject *why)
{
    char reason[64], topic[300], src[320];
    ks_reject_format(why, reason, sizeof reason);
    const char *in = rd_kafka_topic_name(m->rkt);
    if (s->cfg->dlq_topic)
        snprintf(topic, sizeof topic, "%s", s->cfg->dlq_topic);
    else
        snprintf(topic, sizeof topic, "%s.dlq", in);
    snprintf(src, sizeof src, "%s/%d/%lld", in, (int)m->partition, (long long)m->offset);
    rd_kafka_resp_err_t err;
    for (;;) {
        err = rd_kafka_producev(
            s->dlq, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_HEADER("kpistream.error", reason, -1),
            RD_KAFKA_V_HEADER("kpistream.source", src, -1), RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(s->dlq, 100); /* let deliveries drain, then try again */
    }
    if (err) {
        s->dlq_failed++;
        ks_error("dead-letter %s to %s failed: %s", src, topic, rd_kafka_err2str(err));
    }
}

/* Handles one message (or event) of any queue; pq: the partition queue it
 * came from (NULL: the consumer's queue, serial only). Returns 0 or
 * KS_ERR_KAFKA (with r->err). */
static int ks__handle(ks__reader *r, const ks__pq *pq, rd_kafka_message_t *m)
{
    ks_source *s = r->s;
    const char *topic = rd_kafka_topic_name(m->rkt);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (r->round)
            ks_engine_round_set_eof(pq->ref);
        else
            ks_engine_set_eof(s->engine, topic, m->partition, true);
        return 0;
    }
    if (m->err) {
        /* Transient errors are retried inside librdkafka; fatal ones end the run. */
        if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
            char fe[200];
            rd_kafka_fatal_error(s->consumer, fe, sizeof fe);
            snprintf(r->err, sizeof r->err, "kafka fatal error: %s", fe);
            return KS_ERR_KAFKA;
        }
        ks_warn("kafka: %s", rd_kafka_message_errstr(m));
        return 0;
    }
    r->st.messages++;
    ks_reject why;
    ks_verdict v = r->round ? ks_engine_round_process(s->engine, r->worker, pq->ref, m->offset,
                                                      m->payload, m->len, r->wall_ms, &why)
                            : ks_engine_process(s->engine, topic, m->partition, m->offset,
                                                m->payload, m->len, r->wall_ms, &why);
    if (v == KS_ACCEPTED) {
        r->st.accepted++;
    } else if (v == KS_DUPLICATE) {
        r->st.duplicates++;
    } else {
        r->st.rejected++;
        if (why.code >= 0 && why.code < KS_REJECT__COUNT)
            r->st.rejected_by[why.code]++;
        /* Already dead-lettered by the run that stored these outputs (a
         * round never has a partition replaying). */
        if (r->round || !ks_engine_is_replay(s->engine, topic, m->partition, m->offset))
            ks__dead_letter(s, m, &why);
    }
    return 0;
}

static bool ks__may_read(const ks__reader *r, const ks__pq *pq)
{
    return r->round ? ks_engine_round_may_read(r->s->engine, pq->ref)
                    : ks_engine_may_read(r->s->engine, pq->topic, pq->partition);
}

static int64_t ks__pending(const ks__reader *r, const ks__pq *pq)
{
    if (!r->b->bounded)
        return 0;
    return (int64_t)(r->round ? ks_engine_round_part_pending(pq->ref)
                              : ks_engine_part_pending(r->s->engine, pq->topic, pq->partition));
}

/* Whether reader r may take partition queue pq in this poll: in a round,
 * pass 0 takes only its own (even or odd partition numbers, so a partition
 * stays on one core while both have work), pass 1 any the other has not
 * taken; a partition taken is its reader's for the whole round. */
static bool ks__take_pq(const ks__reader *r, ks__pq *pq, int pass)
{
    if (!r->round)
        return pass == 0;
    if (pass == 0 && (int)((uint32_t)pq->partition % (uint32_t)r->nworkers) != r->worker)
        return false;
    uint64_t prev = __atomic_load_n(&pq->claim, __ATOMIC_RELAXED);
    return prev != r->round_no &&
           __atomic_compare_exchange_n(&pq->claim, &prev, r->round_no, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}

static bool ks__budget_left(const ks__budget *b)
{
    return __atomic_load_n(&b->take, __ATOMIC_RELAXED) > 0;
}

/* Whether the budget's room lets r read partition pq: a partition replaying
 * to its restore point adds nothing pending and must reach it before any
 * flush is written, so room does not hold it back (holding the others while
 * it replays bounds the first flush after a restore). Never in a round (none
 * begins while a partition replays). */
static bool ks__room_for(const ks__reader *r, const ks__pq *pq)
{
    return __atomic_load_n(&r->b->room, __ATOMIC_RELAXED) > 0 ||
           (!r->round && ks_engine_part_replaying(r->s->engine, pq->topic, pq->partition));
}

/* Reads partitions in the sorted order, each as far as alignment allows,
 * until the poll's budget is spent: its messages, or its room's worth of
 * pending customers and notices. */
static void ks__read(ks__reader *r)
{
    ks_source *s = r->s;
    int batch = s->cfg->batch_size > 0 && s->cfg->batch_size <= KS__MAX_BATCH ? s->cfg->batch_size : 1000;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < s->npqs && ks__budget_left(r->b) && r->rc == 0; i++) {
            ks__pq *pq = &s->pqs[i];
            /* Taken first: only its reader looks at a partition's state. */
            if (!ks__take_pq(r, pq, pass) || !ks__room_for(r, pq) || !ks__may_read(r, pq))
                continue;
            if (pq->hpos == pq->nheld) {
                if (pq->capheld < batch) {
                    rd_kafka_message_t **nh = realloc(pq->held, (size_t)batch * sizeof *nh);
                    if (!nh) {
                        snprintf(r->err, sizeof r->err, "kafka consume: out of memory");
                        r->rc = KS_ERR_NOMEM;
                        return;
                    }
                    pq->held = nh;
                    pq->capheld = batch;
                }
                ssize_t got = rd_kafka_consume_batch_queue(pq->q, 0, pq->held, (size_t)batch);
                if (got < 0) {
                    snprintf(r->err, sizeof r->err, "kafka consume: %s",
                             rd_kafka_err2str(rd_kafka_last_error()));
                    r->rc = KS_ERR_KAFKA;
                    return;
                }
                pq->nheld = (int)got;
                pq->hpos = 0;
                if (got < batch) /* its queue is empty now */
                    ks__kick(s, pq);
            }
            /* As far as alignment allows: the first message always (the
             * check above), then while the partition stays within bounds. */
            for (bool first = true; pq->hpos < pq->nheld && ks__budget_left(r->b) &&
                                    (first || (ks__room_for(r, pq) && ks__may_read(r, pq)));
                 first = false) {
                rd_kafka_message_t *m = pq->held[pq->hpos++];
                if (!m->err)
                    pq->next = m->offset + 1;
                __atomic_sub_fetch(&r->b->take, 1, __ATOMIC_RELAXED);
                int64_t before = ks__pending(r, pq);
                if (r->rc == 0)
                    r->rc = ks__handle(r, pq, m);
                int64_t added = ks__pending(r, pq) - before;
                if (added)
                    __atomic_sub_fetch(&r->b->room, added, __ATOMIC_RELAXED);
                rd_kafka_message_destroy(m);
                r->handled++;
            }
        }
}

static void *ks__worker_main(void *arg)
{
    ks__worker *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->quit && w->done == w->asked)
            pthread_cond_wait(&w->cv, &w->mu);
        if (w->quit)
            break;
        ks__reader *job = w->job;
        pthread_mutex_unlock(&w->mu);
        ks__read(job);
        pthread_mutex_lock(&w->mu);
        w->done++;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void ks__worker_stop(ks__worker *w)
{
    if (!w->started)
        return;
    pthread_mutex_lock(&w->mu);
    w->quit = true;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    w->started = false;
}

/* A round: the worker thread reads its partitions while this thread reads
 * the others. False if it cannot run (then the poll reads serially). */
static bool ks__round(ks_source *s, ks__reader *rd, ks__budget *b, int64_t wall_ms)
{
    ks__worker *w = &s->worker;
    if (s->nworkers < 2 || !ks_engine_round_possible(s->engine))
        return false;
    if (!w->started) {
        if (pthread_create(&w->th, NULL, ks__worker_main, w) != 0) {
            ks_warn("kafka: no worker thread (%s); reading on one thread", strerror(errno));
            s->nworkers = 1;
            return false;
        }
        w->started = true;
    }
    for (int i = 0; i < s->npqs; i++)
        if (!(s->pqs[i].ref = ks_engine_part_ref(s->engine, s->pqs[i].topic, s->pqs[i].partition)))
            return false; /* (every queue is an assigned partition's; never in practice) */
    ks_engine_round_begin(s->engine);
    s->round_no++;
    for (int k = 0; k < 2; k++)
        rd[k] = (ks__reader){.s = s, .round = true, .worker = k, .nworkers = 2,
                             .round_no = s->round_no, .b = b, .wall_ms = wall_ms};
    pthread_mutex_lock(&w->mu);
    w->job = &rd[1];
    w->asked++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    ks__read(&rd[0]);
    pthread_mutex_lock(&w->mu);
    while (w->done != w->asked)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
    ks_engine_round_end(s->engine, wall_ms);
    return true;
}

static void ks__stats_add(ks_source_poll_stats *to, const ks_source_poll_stats *from)
{
    to->messages += from->messages;
    to->accepted += from->accepted;
    to->duplicates += from->duplicates;
    to->rejected += from->rejected;
    for (int i = 0; i < KS_REJECT__COUNT; i++)
        to->rejected_by[i] += from->rejected_by[i];
}

/* Sorts the partition queues by key, equal keys kept in their order: the
 * rotation before it makes wall-clock mode (every key equal) round-robin
 * only if the sort is stable, which glibc's qsort no longer is from 2.37.
 * An insertion sort is stable, and linear in practice: from one poll to the
 * next only the partitions just read change their keys. */
static void ks__pq_sort(ks__pq *a, int n)
{
    for (int i = 1; i < n; i++) {
        if (a[i - 1].key <= a[i].key)
            continue;
        ks__pq t = a[i];
        int j = i;
        for (; j > 0 && a[j - 1].key > t.key; j--)
            a[j] = a[j - 1];
        a[j] = t;
    }
}

int ks_source_poll(ks_source *s, size_t max_pending, int timeout_ms, int64_t wall_ms,
                   ks_source_poll_stats *st, char *errstr, size_t errsize)
{
    memset(st, 0, sizeof *st);
    st->rebalances = s->rebalances; /* served during the previous poll */
    s->rebalances = 0;
    int batch = s->cfg->batch_size > 0 && s->cfg->batch_size <= KS__MAX_BATCH ? s->cfg->batch_size : 1000;
    /* Pending customers and notices, kept up to date message by message from
     * the partition read (ks_engine_part_pending is O(1)). */
    size_t pend = max_pending == SIZE_MAX ? 0 : ks_engine_pending(s->engine);
    int64_t room = max_pending == SIZE_MAX ? INT64_MAX
                   : pend < max_pending    ? (int64_t)(max_pending - pend)
                                           : 0;
    int take = room > 0 || ks_engine_restoring(s->engine) ? batch : 0;
    ks__budget budget = {.take = take, .room = room, .bounded = room != INT64_MAX},
               one = {.take = 1, .room = INT64_MAX};
    ks__reader rd[2] = {{.s = s, .b = &budget, .wall_ms = wall_ms}};
    int nrd = 1;
    /* Rebalances, errors and anything not routed to a partition queue. */
    rd_kafka_message_t *cm = rd_kafka_consumer_poll(s->consumer, 0);
    if (cm) {
        ks__reader r0 = {.s = s, .b = &one, .wall_ms = wall_ms};
        int rc = ks__handle(&r0, NULL, cm);
        rd_kafka_message_destroy(cm);
        if (rc < 0) {
            snprintf(errstr, errsize, "%s", r0.err);
            return rc;
        }
        ks__stats_add(st, &r0.st);
    }
    /* Read from the partition furthest behind in event time that may be read
     * (rotating among equals, so wall-clock mode is round-robin). */
    for (int i = 0; i < s->npqs; i++)
        s->pqs[i].key = ks_engine_read_order(s->engine, s->pqs[i].topic, s->pqs[i].partition);
    if (s->npqs > 1) {
        s->rot = (s->rot + 1) % s->npqs;
        ks__pq tmp = s->pqs[0];
        s->pqs[0] = s->pqs[s->rot];
        s->pqs[s->rot] = tmp;
        ks__pq_sort(s->pqs, s->npqs);
    }
    /* Every readable partition in that order, up to a batch in all: one
     * sort per poll was a visible cost when alignment let each partition
     * give only a few messages. While behind, the worker thread and this one
     * read them at once, each partition on one of them (a round,
     * src/engine/engine.h); a live consumer reads all there is at each poll,
     * a few messages, and waking the worker for them would cost more than
     * it saves (docs/architecture.md, Threads). */
    if (take > 0 && s->busy && ks__round(s, rd, &budget, wall_ms)) {
        nrd = 2;
        st->round = true;
    } else if (take > 0) {
        ks__read(&rd[0]);
    }
    int rc = 0, n = 0;
    for (int k = 0; k < nrd; k++) {
        ks__stats_add(st, &rd[k].st);
        n += rd[k].handled;
        if (rd[k].rc < 0 && rc == 0) {
            rc = rd[k].rc;
            snprintf(errstr, errsize, "%s", rd[k].err);
        }
    }
    /* Behind (a catch-up): this poll read messages and left fetched ones
     * unread, held back by the budget or by alignment. */
    s->busy = n > 0 && (budget.take <= 0 || budget.room <= 0);
    for (int i = 0; i < s->npqs && n > 0 && !s->busy; i++)
        s->busy = s->pqs[i].hpos < s->pqs[i].nheld;
    if (n == 0 && !cm) {
        /* Nothing readable (or nothing wanted: a flush's reply is awaited,
         * so wake soon): wait a little on the consumer queue (which also
         * serves rebalances) instead of spinning. */
        int wait = take > 0 ? 10 : 1;
        cm = rd_kafka_consumer_poll(s->consumer, timeout_ms < wait ? timeout_ms : wait);
        if (cm) {
            ks__reader r0 = {.s = s, .b = &one, .wall_ms = wall_ms};
            int hrc = ks__handle(&r0, NULL, cm);
            ks__stats_add(st, &r0.st);
            rd_kafka_message_destroy(cm);
            if (hrc < 0 && rc == 0) {
                rc = hrc;
                snprintf(errstr, errsize, "%s", r0.err);
            }
        }
    }
    rd_kafka_poll(s->dlq, 0); /* serve delivery reports */
    return rc;
}

int64_t ks_source_lag(ks_source *s)
{
    int64_t lag = 0;
    for (int i = 0; i < s->npqs; i++) {
        const ks__pq *pq = &s->pqs[i];
        int64_t lo, hi;
        /* Cached from fetch responses: no request to the broker. */
        if (rd_kafka_get_watermark_offsets(s->consumer, pq->topic, pq->partition, &lo, &hi) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            hi < 0)
            continue;
        int64_t from = pq->next >= 0 ? pq->next : lo;
        if (from >= 0 && hi > from)
            lag += hi - from;
    }
    return lag;
}

int ks_source_dlq_flush(ks_source *s, int timeout_ms)
{
    return rd_kafka_flush(s->dlq, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : KS_ERR_KAFKA;
}

int ks_source_commit(ks_source *s, bool sync, char *errstr, size_t errsize)
{
    static ks_engine_position pos[KS__MAX_POSITIONS];
    int n = ks_engine_positions(s->engine, pos, KS__MAX_POSITIONS);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n > 0 ? n : 1);
    for (int i = 0; i < n; i++)
        if (pos[i].next_offset >= 0)
            rd_kafka_topic_partition_list_add(l, pos[i].topic, pos[i].partition)->offset =
                pos[i].next_offset;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (l->cnt > 0)
        err = rd_kafka_commit(s->consumer, l, sync ? 0 : 1);
    rd_kafka_topic_partition_list_destroy(l);
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        snprintf(errstr, errsize, "kafka commit: %s", rd_kafka_err2str(err));
        return KS_ERR_KAFKA;
    }
    return 0;
}

void ks_source_pause(ks_source *s, bool pause)
{
    if (s->paused == pause)
        return;
    rd_kafka_topic_partition_list_t *a = NULL;
    if (rd_kafka_assignment(s->consumer, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a) {
        if (pause)
            rd_kafka_pause_partitions(s->consumer, a);
        else
            rd_kafka_resume_partitions(s->consumer, a);
        rd_kafka_topic_partition_list_destroy(a);
    }
    s->paused = pause;
}

