/* Shared between the dashboard's state (dashboard.c) and its HTTP routes
 * (http.c). */
#ifndef KS_DASHBOARD_INTERNAL_H
#define KS_DASHBOARD_INTERNAL_H

#include "kpistream/dashboard.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct ks_http;

/* What the refresher last read, under mu. The HTTP thread only copies it:
 * a request never waits for Redis, and a hundred open pages cost Redis what
 * one does. */
struct ks_dash {
    pthread_mutex_t mu;
    char *doc;              /* last document read (JSON object), or NULL: never read */
    int64_t doc_ms;         /* wall time of that read */
    char error[512];        /* why the last read failed ("" it worked) */
    int64_t error_since_ms; /* wall time of the first failure of this outage */
    char prefix[128];
    char redis[512];        /* the Redis URL with its password masked */
    int interval_ms;        /* refresh period, also the page's polling period */
    struct ks_http *http;   /* NULL: not serving */
};

/** Renders /api/state from d (under its lock): {"now_ms", "interval_ms",
 *  "prefix", "redis": {"ok", "error", "since_ms", "url"}, "read_ms",
 *  "data": the last document or null}. Caller owns the result; free with
 *  free(). NULL when out of memory. */
char *ks__dash_state(ks_dash *d, int64_t now_ms);

/** Stops the HTTP server, if any. */
void ks__dash_http_stop(ks_dash *d);

#endif
