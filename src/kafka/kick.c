/* Waking librdkafka's broker threads during a catch-up.
 *
 * librdkafka 2.0 stops fetching a partition while its queue holds
 * queued.min.messages or queued.max.messages.kbytes, and decides again only
 * when the broker thread wakes: on a fetch response or another request, or
 * after up to a second. In a catch-up the engine reads partitions in
 * lockstep by event time and alignment holds back the ones ahead, so every
 * queue fills and drains together and no fetch is in flight while they
 * drain: the partition the watermark waits on runs dry and the loop waited
 * for a quarter of a 45-day catch-up (2.2 s of 8, perf sched).
 *
 * A request to the broker wakes its thread, which then fetches every
 * partition that has room. The public API's cheapest request addressed to a
 * partition's leader is ListOffsets (rd_kafka_query_watermark_offsets,
 * answered from the broker's log end; it also refreshes the cached
 * watermarks). It waits for the answer, a round trip, so it runs here, off
 * the consume loop. Pause/resume would also wake the thread but resets the
 * partition's fetch position, and a shorter metadata refresh interval made
 * the group join take 47 s on the mock broker. */
#include "kafka/kick.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ks_kicker {
    rd_kafka_t *rk; /* borrowed */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool want, stop;
    char topic[256]; /* Kafka topic names have at most 249 bytes */
    int32_t partition;
    uint64_t sent;
};

static void *ks__kicker_main(void *arg)
{
    ks_kicker *k = arg;
    pthread_mutex_lock(&k->mu);
    for (;;) {
        while (!k->want && !k->stop)
            pthread_cond_wait(&k->cv, &k->mu);
        if (k->stop)
            break;
        char topic[sizeof k->topic];
        memcpy(topic, k->topic, sizeof topic);
        int32_t partition = k->partition;
        pthread_mutex_unlock(&k->mu);
        int64_t lo, hi;
        /* Only the request matters; its answer (or error) is not used. */
        rd_kafka_query_watermark_offsets(k->rk, topic, partition, &lo, &hi, 1000);
        pthread_mutex_lock(&k->mu);
        k->sent++;
        k->want = false;
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

ks_kicker *ks_kicker_new(rd_kafka_t *rk)
{
    ks_kicker *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->rk = rk;
    if (pthread_mutex_init(&k->mu, NULL) != 0) {
        free(k);
        return NULL;
    }
    if (pthread_cond_init(&k->cv, NULL) != 0) {
        pthread_mutex_destroy(&k->mu);
        free(k);
        return NULL;
    }
    if (pthread_create(&k->thread, NULL, ks__kicker_main, k) != 0) {
        pthread_cond_destroy(&k->cv);
        pthread_mutex_destroy(&k->mu);
        free(k);
        return NULL;
    }
    return k;
}

void ks_kicker_kick(ks_kicker *k, const char *topic, int32_t partition)
{
    if (!k || strlen(topic) >= sizeof k->topic)
        return;
    pthread_mutex_lock(&k->mu);
    if (!k->want) {
        strcpy(k->topic, topic);
        k->partition = partition;
        k->want = true;
        pthread_cond_signal(&k->cv);
    }
    pthread_mutex_unlock(&k->mu);
}

uint64_t ks_kicker_count(ks_kicker *k)
{
    if (!k)
        return 0;
    pthread_mutex_lock(&k->mu);
    uint64_t n = k->sent;
    pthread_mutex_unlock(&k->mu);
    return n;
}

void ks_kicker_free(ks_kicker *k)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
    pthread_join(k->thread, NULL);
    pthread_cond_destroy(&k->cv);
    pthread_mutex_destroy(&k->mu);
    free(k);
}
