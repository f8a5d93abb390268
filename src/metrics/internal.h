/* The metrics object, shared by metrics.c (values, exposition, readiness) and
 * http.c (the routes of its HTTP server, src/http/). Private to src/metrics/. */
#ifndef KS_METRICS_INTERNAL_H
#define KS_METRICS_INTERNAL_H

#include "kpistream/event.h"
#include "kpistream/metrics.h"

#include <pthread.h>
#include <stdatomic.h>

struct ks_http;

struct ks_metrics {
    /* Written by the run loop, read by the HTTP thread; relaxed atomics: each
     * counter is monotonic on its own and no reader needs two to agree. */
    _Atomic uint64_t counters[KS_METRIC__NCOUNTERS];
    _Atomic uint64_t rejected[KS_REJECT__COUNT];

    pthread_mutex_t mu; /* guards what follows, held only to copy */
    ks_metrics_state st;
    ks_metrics_phase phase;
    bool flush_failed;   /* the last attempted flush failed */
    int64_t last_ok_ms;  /* epoch ms of the last successful flush; 0: none */
    uint64_t hist[KS_METRICS_NFLUSH_BUCKETS + 1]; /* per bucket, last = above 10 s */
    double hist_sum;     /* seconds */
    ks_metrics_lag *lag; /* owned; from the latest statistics document */
    int nlag;

    struct ks_http *http; /* NULL: no server */
};

/** Binds listen and starts the server on m. Returns 0, or -1 with errstr
 *  naming metrics_listen and the address. */
int ks__metrics_http_start(ks_metrics *m, const char *listen, char *errstr, size_t errsize);

/** Stops the server, if any. */
void ks__metrics_http_stop(ks_metrics *m);

#endif
