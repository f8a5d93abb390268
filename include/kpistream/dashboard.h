/* The browser wall dashboard (docs/dashboard.md; `kpistream dashboard`,
 * src/app/cmd_dashboard.c).
 *
 * Serves one page, compiled into the binary, that shows what a running
 * pipeline writes to Redis and refreshes itself. The caller reads Redis
 * every interval (ks_dash_refresh()); the HTTP thread serves copies of the
 * last read, so a request never waits for Redis. When a read fails, the last
 * document is kept and served with the error and since when, so the wall
 * shows "Redis unreachable" over the last numbers it had rather than a blank
 * page. */
#ifndef KPISTREAM_DASHBOARD_H
#define KPISTREAM_DASHBOARD_H

#include "kpistream/dash_read.h"

#include <stddef.h>

typedef struct ks_dash ks_dash;

/** Creates the dashboard's state: prefix and redis (the URL with its password
 *  masked) as the page shows them, interval_ms the page's refresh period.
 *  Strings are copied. Caller owns the result; free with ks_dash_free().
 *  NULL when out of memory. */
ks_dash *ks_dash_new(const char *prefix, const char *redis, int interval_ms);

/** Reads Redis once through rd and keeps the document, or keeps the last one
 *  and records the error (logged once per outage). */
void ks_dash_refresh(ks_dash *d, ks_dash_reader *rd);

/** Serves the page on listen ("host:port") from a thread of its own. Returns
 *  0, or -1 with errstr "--listen: ...". */
int ks_dash_serve(ks_dash *d, const char *listen, char *errstr, size_t errsize);

/** Stops serving (if it did) and frees d; NULL is ignored. */
void ks_dash_free(ks_dash *d);

#endif
