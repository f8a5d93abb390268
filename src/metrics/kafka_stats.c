/* Consumer lag from librdkafka's statistics (statistics.interval.ms; the JSON
 * is documented in librdkafka's STATISTICS.md):
 *
 *   { "type": "consumer", ...,
 *     "topics": { "<topic>": { "partitions": {
 *         "<p>": { "partition": 0, "desired": true, "consumer_lag": 17, ... },
 *         "-1":  { "partition": -1, ... }            <- internal UA partition
 *   } } } }
 *
 * consumer_lag is the partition's end (high watermark, or last stable offset
 * under read_committed) minus the group's committed offset: librdkafka
 * computes it in the client from the last fetch and commit, so no request to
 * the brokers is needed. It is -1 until both are known. Partitions the client
 * knows of but does not fetch (not assigned here) have "desired": false. */
#include "kpistream/metrics.h"
#include "kpistream/vec.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Topic, then partition: a stable order for the exposition. */
static int ks__lag_cmp(const void *a, const void *b)
{
    const ks_metrics_lag *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

int ks_metrics_parse_kafka_lag(const char *json, size_t len, ks_metrics_lag **out)
{
    *out = NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return -1;
    const cJSON *topics = cJSON_GetObjectItemCaseSensitive(root, "topics");
    if (!cJSON_IsObject(topics)) {
        cJSON_Delete(root);
        return -1;
    }
    size_t n = 0, cap = 0;
    ks_metrics_lag *v = NULL;
    const cJSON *t;
    cJSON_ArrayForEach(t, topics)
    {
        const cJSON *parts = cJSON_GetObjectItemCaseSensitive(t, "partitions");
        const cJSON *p;
        cJSON_ArrayForEach(p, parts)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(p, "partition");
            const cJSON *lag = cJSON_GetObjectItemCaseSensitive(p, "consumer_lag");
            const cJSON *desired = cJSON_GetObjectItemCaseSensitive(p, "desired");
            if (!cJSON_IsNumber(id) || id->valuedouble < 0 || id->valuedouble > INT32_MAX ||
                !cJSON_IsNumber(lag) || lag->valuedouble < 0 || !cJSON_IsTrue(desired) ||
                !t->string)
                continue;
            ks_metrics_lag *l = ks_vec_push(v, n, cap);
            if (!l)
                break; /* a shorter table; the next document tries again */
            snprintf(l->topic, sizeof l->topic, "%s", t->string);
            l->partition = (int32_t)id->valuedouble;
            l->lag = (int64_t)lag->valuedouble;
        }
    }
    cJSON_Delete(root);
    if (n > 1)
        qsort(v, n, sizeof *v, ks__lag_cmp);
    *out = v;
    return (int)n;
}
