/* The routes of the metrics endpoint, served by src/http/ (libmicrohttpd on a
 * thread of its own, so requests are answered beside the consume loop, never
 * in it):
 *
 *   GET /metrics   200, text/plain; version=0.0.4 (ks_metrics_render())
 *   GET /healthz   200 "ok" until the run loop has ended, then 503 "stopping"
 *   GET /readyz    200 "ready", or 503 "not ready: <reason>" (ks_metrics_ready())
 *   other paths    404; methods other than GET and HEAD: 405 */
#include "metrics/internal.h"

#include "http/http.h"
#include "kpistream/clock.h"
#include "kpistream/log.h"

#include <stdio.h>
#include <string.h>

static void ks__handle(void *ctx, const char *path, ks_http_reply *r)
{
    ks_metrics *m = ctx;
    if (strcmp(path, "/metrics") == 0) {
        size_t len;
        char *text = ks_metrics_render(m, ks_wall_ms(), &len);
        if (!text)
            ks_http_text(r, 500, "out of memory\n", KS_HTTP_STATIC);
        else
            *r = (ks_http_reply){200, "text/plain; version=0.0.4; charset=utf-8", text, len,
                                 KS_HTTP_TAKE};
    } else if (strcmp(path, "/healthz") == 0) {
        pthread_mutex_lock(&m->mu);
        bool stopping = m->phase == KS_METRICS_STOPPING;
        pthread_mutex_unlock(&m->mu);
        if (stopping)
            ks_http_text(r, 503, "stopping\n", KS_HTTP_STATIC);
        else
            ks_http_text(r, 200, "ok\n", KS_HTTP_STATIC);
    } else if (strcmp(path, "/readyz") == 0) {
        char why[200], body[240];
        if (ks_metrics_ready(m, why, sizeof why)) {
            ks_http_text(r, 200, "ready\n", KS_HTTP_STATIC);
        } else {
            snprintf(body, sizeof body, "not ready: %s\n", why);
            ks_http_text(r, 503, body, KS_HTTP_TAKE); /* a copy: body is ours */
        }
    } else {
        ks_http_text(r, 404, "not found: try /metrics, /healthz or /readyz\n", KS_HTTP_STATIC);
    }
}

int ks__metrics_http_start(ks_metrics *m, const char *listen, char *errstr, size_t errsize)
{
    /* name, what, connections, idle timeout (s); no extra headers, any Host */
    static const ks_http_opts opts = {"metrics endpoint", "metrics_listen", 32, 10, NULL, NULL};
    m->http = ks_http_start(listen, &opts, ks__handle, m, errstr, errsize);
    if (!m->http)
        return -1;
    ks_info("metrics: http://%s/metrics, /healthz, /readyz", listen);
    return 0;
}

void ks__metrics_http_stop(ks_metrics *m)
{
    ks_http_stop(m->http);
    m->http = NULL;
}
