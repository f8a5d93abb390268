/* The dashboard's HTTP side: libmicrohttpd with its own polling thread, as
 * the metrics endpoint (src/metrics/http.c).
 *
 *   GET /                 the page (index.html, compiled in)
 *   GET /dashboard.css, /dashboard.js
 *   GET /api/state        the last read of Redis as JSON (ks__dash_state)
 *   GET /healthz          200 "ok"
 *   other paths           404; methods other than GET and HEAD: 405
 *
 * Security: every response carries a Content-Security-Policy that allows
 * only this server's own script and style (no inline script, no other
 * origin), so even a value that slipped past the page's text-only rendering
 * could not run. Listening on loopback (the default), requests must name a
 * loopback Host: a web page elsewhere cannot read the KPIs by pointing a DNS
 * name of its own at 127.0.0.1 (DNS rebinding). */
#include "internal.h"

#include "assets.h"

#include "kpistream/clock.h"
#include "kpistream/config.h"
#include "kpistream/err.h"
#include "kpistream/listen.h"
#include "kpistream/log.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KS__MAX_CONNECTIONS 64
#define KS__CONNECTION_TIMEOUT_S 30

static const char ks__csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                              "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                              "form-action 'none'; frame-ancestors 'none'";

static void ks__mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    ks_warn("dashboard: %s", line);
}

/* Queues body (static, or taken and freed by MHD) with the page's headers. */
static enum MHD_Result ks__send(struct MHD_Connection *c, unsigned status, const char *type,
                                const void *body, size_t len, bool take)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, (void *)body, take ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (take)
            free((void *)body);
        return MHD_NO;
    }
    static const char *const hdr[][2] = {
        {MHD_HTTP_HEADER_CACHE_CONTROL, "no-store"},
        {MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, ks__csp},
        {MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff"},
        {"Referrer-Policy", "no-referrer"},
        {MHD_HTTP_HEADER_X_FRAME_OPTIONS, "DENY"},
    };
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    for (size_t i = 0; i < sizeof hdr / sizeof *hdr; i++)
        MHD_add_response_header(r, hdr[i][0], hdr[i][1]);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result ks__text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return ks__send(c, status, "text/plain; charset=utf-8", text, strlen(text), false);
}

/* Whether host (the Host header) names this server on loopback. */
static bool ks__loopback_host(const char *host, int port)
{
    static const char *const names[] = {"127.0.0.1", "localhost", "[::1]"};
    if (!host)
        return false;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(host, names[i], n) != 0)
            continue;
        if (host[n] == '\0')
            return true;
        char *end;
        if (host[n] == ':' && strtol(host + n + 1, &end, 10) == port && *end == '\0')
            return true;
    }
    return false;
}

static const char *ks__type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (dot && strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    return "text/html; charset=utf-8";
}

static enum MHD_Result ks__handle(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    ks_dash *d = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return ks__text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (d->loopback &&
        !ks__loopback_host(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"), d->port))
        return ks__text(c, MHD_HTTP_FORBIDDEN,
                        "forbidden: this dashboard listens on loopback and answers only "
                        "requests for 127.0.0.1, localhost or [::1]\n");
    if (strcmp(url, "/api/state") == 0) {
        char *json = ks__dash_state(d, ks_wall_ms());
        if (!json)
            return ks__text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
        return ks__send(c, MHD_HTTP_OK, "application/json", json, strlen(json), true);
    }
    if (strcmp(url, "/healthz") == 0)
        return ks__text(c, MHD_HTTP_OK, "ok\n");
    for (const ks_dash_asset *a = ks_dash_assets; a->path; a++)
        if (strcmp(url, a->path) == 0)
            return ks__send(c, MHD_HTTP_OK, ks__type(a->path), a->data, a->len, false);
    return ks__text(c, MHD_HTTP_NOT_FOUND, "not found: the dashboard is at /\n");
}

int ks__dash_http_start(ks_dash *d, const char *listen, char *errstr, size_t errsize)
{
    char host[256], why[KS_ERRSTR_SIZE];
    int port;
    if (ks_listen_parse(listen, host, sizeof host, &port, why, sizeof why) != 0) {
        snprintf(errstr, errsize, "--listen: %s", why);
        return -1;
    }
    int fd = ks_listen_socket(listen, host, port, why, sizeof why);
    if (fd < 0) {
        snprintf(errstr, errsize, "--listen: %s", why);
        return -1;
    }
    d->port = port;
    d->loopback = strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                  strcmp(host, "::1") == 0;
    d->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, ks__handle, d,
        MHD_OPTION_EXTERNAL_LOGGER, ks__mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)KS__MAX_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)KS__CONNECTION_TIMEOUT_S, MHD_OPTION_END);
    if (!d->daemon) {
        close(fd);
        snprintf(errstr, errsize, "--listen: cannot start the HTTP server on %s", listen);
        return -1;
    }
    return 0;
}

void ks__dash_http_stop(ks_dash *d)
{
    if (d->daemon)
        MHD_stop_daemon(d->daemon);
    d->daemon = NULL;
}
