/* Shared between the dashboard's refresher (dashboard.c) and its HTTP side
 * (http.c). */
#ifndef KS_DASHBOARD_INTERNAL_H
#define KS_DASHBOARD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* What the refresher last read, under mu. The HTTP thread only copies it:
 * a request never waits for Redis, and a hundred open pages cost Redis what
 * one does. */
typedef struct ks_dash {
    pthread_mutex_t mu;
    char *doc;              /* last document read (JSON object), or NULL: never read */
    int64_t doc_ms;         /* wall time of that read */
    char error[512];        /* why the last read failed ("" it worked) */
    int64_t error_since_ms; /* wall time of the first failure of this outage */
    char prefix[128];
    char redis[512];        /* the Redis URL with its password masked */
    int interval_ms;        /* refresh period, also the page's polling period */
    bool loopback;          /* listening on loopback only: Host header checked */
    int port;
    struct MHD_Daemon *daemon;
} ks_dash;

/** Renders /api/state from d (under its lock): {"now_ms", "interval_ms",
 *  "prefix", "redis": {"ok", "error", "since_ms", "url"}, "read_ms",
 *  "data": the last document or null}. Caller owns the result; free with
 *  free(). NULL when out of memory. */
char *ks__dash_state(ks_dash *d, int64_t now_ms);

/** Starts the HTTP server on listen ("host:port"). Returns 0, or -1 with
 *  errstr filled. */
int ks__dash_http_start(ks_dash *d, const char *listen, char *errstr, size_t errsize);

/** Stops it (joins its thread). */
void ks__dash_http_stop(ks_dash *d);

#endif
