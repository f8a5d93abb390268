/* The HTTP side of the metrics endpoint: libmicrohttpd with its own polling
 * thread (MHD_USE_AUTO_INTERNAL_THREAD: epoll or poll), so requests are
 * served beside the consume loop, never in it. The only file that includes
 * microhttpd.h.
 *
 *   GET /metrics   200, text/plain; version=0.0.4 (ks_metrics_render())
 *   GET /healthz   200 "ok" until the run loop has ended, then 503 "stopping"
 *   GET /readyz    200 "ready", or 503 "not ready: <reason>" (ks_metrics_ready())
 *   other paths    404; methods other than GET and HEAD: 405
 *
 * We bind the listening socket ourselves and hand it to libmicrohttpd, so a
 * bind failure is reported with its errno ("Address already in use") and the
 * address, which MHD_start_daemon() alone does not give. */
#include "metrics/internal.h"

#include "kpistream/clock.h"
#include "kpistream/config.h"
#include "kpistream/err.h"
#include "kpistream/listen.h"
#include "kpistream/log.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KS__MAX_CONNECTIONS 32
#define KS__CONNECTION_TIMEOUT_S 10

static void ks__mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    ks_warn("metrics endpoint: %s", line);
}

/* Queues a response with body (copied or taken) and content type. */
static enum MHD_Result ks__reply(struct MHD_Connection *c, unsigned status, const char *type,
                                 char *body, size_t len, bool take)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (take)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ks__text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return ks__reply(c, status, "text/plain; charset=utf-8", (char *)text, strlen(text), false);
}

static enum MHD_Result ks__handle(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    ks_metrics *m = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return ks__text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (strcmp(url, "/metrics") == 0) {
        size_t len;
        char *text = ks_metrics_render(m, ks_wall_ms(), &len);
        if (!text)
            return ks__text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return ks__reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text, len,
                         true);
    }
    if (strcmp(url, "/healthz") == 0) {
        pthread_mutex_lock(&m->mu);
        bool stopping = m->phase == KS_METRICS_STOPPING;
        pthread_mutex_unlock(&m->mu);
        return stopping ? ks__text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "stopping\n")
                        : ks__text(c, MHD_HTTP_OK, "ok\n");
    }
    if (strcmp(url, "/readyz") == 0) {
        char why[200], body[240];
        if (ks_metrics_ready(m, why, sizeof why))
            return ks__text(c, MHD_HTTP_OK, "ready\n");
        snprintf(body, sizeof body, "not ready: %s\n", why);
        return ks__text(c, MHD_HTTP_SERVICE_UNAVAILABLE, body);
    }
    return ks__text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz or /readyz\n");
}

int ks__metrics_http_start(ks_metrics *m, const char *listen, char *errstr, size_t errsize)
{
    char host[256], why[KS_ERRSTR_SIZE];
    int port;
    if (ks_listen_parse(listen, host, sizeof host, &port, why, sizeof why) != 0) {
        snprintf(errstr, errsize, "metrics_listen: %s", why);
        return -1;
    }
    int fd = ks_listen_socket(listen, host, port, why, sizeof why);
    if (fd < 0) {
        snprintf(errstr, errsize, "metrics_listen: %s", why);
        return -1;
    }
    /* The logger first: options before it would log through MHD's own. */
    m->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, ks__handle, m,
        MHD_OPTION_EXTERNAL_LOGGER, ks__mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)KS__MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)KS__CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (!m->daemon) {
        close(fd);
        snprintf(errstr, errsize, "metrics_listen: cannot start the HTTP server on %s", listen);
        return -1;
    }
    m->port = port;
    ks_info("metrics: http://%s/metrics, /healthz, /readyz", listen);
    return 0;
}

void ks__metrics_http_stop(ks_metrics *m)
{
    if (!m->daemon)
        return;
    MHD_stop_daemon(m->daemon); /* joins its thread; closes the listening socket */
    m->daemon = NULL;
}
