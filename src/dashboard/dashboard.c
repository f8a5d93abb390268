/* The dashboard's state: the last document read from Redis (through
 * src/redis/dash_read.c), or the error of the reads since, and /api/state
 * rendered from it for the HTTP side (http.c). */
#include "internal.h"

#include "kpistream/clock.h"
#include "kpistream/log.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ks_dash *ks_dash_new(const char *prefix, const char *redis, int interval_ms)
{
    ks_dash *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    pthread_mutex_init(&d->mu, NULL);
    d->interval_ms = interval_ms;
    snprintf(d->prefix, sizeof d->prefix, "%s", prefix);
    snprintf(d->redis, sizeof d->redis, "%s", redis);
    return d;
}

void ks_dash_free(ks_dash *d)
{
    if (!d)
        return;
    ks__dash_http_stop(d);
    free(d->doc);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

char *ks__dash_state(ks_dash *d, int64_t now_ms)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "now_ms", (double)now_ms);
    cJSON_AddNumberToObject(o, "interval_ms", d->interval_ms);
    cJSON_AddStringToObject(o, "prefix", d->prefix);
    cJSON *r = cJSON_AddObjectToObject(o, "redis");
    pthread_mutex_lock(&d->mu);
    cJSON_AddBoolToObject(r, "ok", d->error[0] == '\0');
    cJSON_AddStringToObject(r, "error", d->error);
    cJSON_AddNumberToObject(r, "since_ms", (double)d->error_since_ms);
    cJSON_AddStringToObject(r, "url", d->redis);
    cJSON_AddNumberToObject(o, "read_ms", (double)d->doc_ms);
    /* The document is JSON already: spliced in as it is, not parsed again. */
    cJSON_AddItemToObject(o, "data", d->doc ? cJSON_CreateRaw(d->doc) : cJSON_CreateNull());
    char *text = cJSON_PrintUnformatted(o);
    pthread_mutex_unlock(&d->mu);
    cJSON_Delete(o);
    return text;
}

void ks_dash_refresh(ks_dash *d, ks_dash_reader *rd)
{
    char err[512];
    char *doc = ks_dash_reader_read(rd, err, sizeof err);
    int64_t now = ks_wall_ms();
    pthread_mutex_lock(&d->mu);
    if (doc) {
        if (d->error[0])
            ks_info("dashboard: Redis readable again after %.0f s",
                    (double)(now - d->error_since_ms) / 1000.0);
        free(d->doc);
        d->doc = doc;
        d->doc_ms = now;
        d->error[0] = '\0';
        d->error_since_ms = 0;
    } else {
        if (!d->error[0]) {
            d->error_since_ms = now;
            ks_warn("dashboard: cannot read Redis: %s; the page says so and keeps the last "
                    "values; retrying every %d ms",
                    err, d->interval_ms);
        }
        snprintf(d->error, sizeof d->error, "%s", err);
    }
    pthread_mutex_unlock(&d->mu);
}
