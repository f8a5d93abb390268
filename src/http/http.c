/* The HTTP server of http.h over libmicrohttpd (MHD_USE_AUTO_INTERNAL_THREAD:
 * epoll or poll on a thread of its own), so requests are served beside the
 * caller's loop, never in it. */
#include "http/http.h"

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

struct ks_http {
    struct MHD_Daemon *daemon;
    ks_http_opts o;
    ks_http_handler fn;
    void *ctx;
    int port;
    bool loopback; /* listening on loopback: Host checked when o.loopback_only */
};

static void ks__log(void *cls, const char *fmt, va_list ap)
{
    const ks_http *h = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    ks_warn("%s: %s", h->o.name, line);
}

void ks_http_text(ks_http_reply *r, unsigned status, const char *text, ks_http_mem mem)
{
    if (mem == KS_HTTP_TAKE && !(text = strdup(text))) {
        status = 500;
        text = "out of memory\n";
        mem = KS_HTTP_STATIC;
    }
    *r = (ks_http_reply){status, "text/plain; charset=utf-8", text, strlen(text), mem};
}

static enum MHD_Result ks__send(const ks_http *h, struct MHD_Connection *c,
                                const ks_http_reply *rep)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        rep->len, (void *)rep->body,
        rep->mem == KS_HTTP_TAKE ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (rep->mem == KS_HTTP_TAKE)
            free((void *)rep->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep->type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (const char *const *hd = h->o.headers; hd && hd[0]; hd += 2)
        MHD_add_response_header(r, hd[0], hd[1]);
    if (rep->status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, rep->status, r);
    MHD_destroy_response(r);
    return ret;
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

static enum MHD_Result ks__handle(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    ks_http *h = cls;
    (void)version, (void)upload_data, (void)upload_data_size, (void)con_cls;
    ks_http_reply r;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        ks_http_text(&r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", KS_HTTP_STATIC);
    else if (h->o.loopback_only && h->loopback &&
             !ks__loopback_host(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host"), h->port))
        ks_http_text(&r, MHD_HTTP_FORBIDDEN, h->o.loopback_only, KS_HTTP_STATIC);
    else
        h->fn(h->ctx, url, &r);
    return ks__send(h, c, &r);
}

ks_http *ks_http_start(const char *listen, const ks_http_opts *o, ks_http_handler fn, void *ctx,
                       char *errstr, size_t errsize)
{
    char host[256], why[KS_ERRSTR_SIZE];
    int port;
    if (ks_listen_parse(listen, host, sizeof host, &port, why, sizeof why) != 0) {
        snprintf(errstr, errsize, "%s: %s", o->what, why);
        return NULL;
    }
    ks_http *h = calloc(1, sizeof *h);
    if (!h) {
        snprintf(errstr, errsize, "%s: out of memory", o->what);
        return NULL;
    }
    *h = (ks_http){.o = *o, .fn = fn, .ctx = ctx, .port = port};
    h->loopback = strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                  strcmp(host, "::1") == 0;
    int fd = ks_listen_socket(listen, host, port, why, sizeof why);
    if (fd < 0) {
        snprintf(errstr, errsize, "%s: %s", o->what, why);
        free(h);
        return NULL;
    }
    /* The logger first: options before it would log through MHD's own. */
    h->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, ks__handle, h,
        MHD_OPTION_EXTERNAL_LOGGER, ks__log, h, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_CONNECTION_LIMIT, o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
        o->timeout_s, MHD_OPTION_END);
    if (!h->daemon) {
        close(fd);
        snprintf(errstr, errsize, "%s: cannot start the HTTP server on %s", o->what, listen);
        free(h);
        return NULL;
    }
    return h;
}

int ks_http_port(const ks_http *h)
{
    return h->port;
}

void ks_http_stop(ks_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->daemon); /* joins its thread; closes the listening socket */
    free(h);
}
