/* The dashboard's HTTP routes, served by src/http/ (libmicrohttpd on a
 * thread of its own, as the metrics endpoint):
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
 * name of its own at 127.0.0.1 (DNS rebinding; ks_http_opts.loopback_only). */
#include "internal.h"

#include "assets.h"

#include "http/http.h"
#include "kpistream/clock.h"

#include <stdlib.h>
#include <string.h>

static const char *const ks__headers[] = {
    "Content-Security-Policy",
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options", "nosniff",
    "Referrer-Policy", "no-referrer",
    "X-Frame-Options", "DENY",
    NULL,
};

static const char *ks__type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (dot && strcmp(dot, ".css") == 0)
        return "text/css; charset=utf-8";
    if (dot && strcmp(dot, ".js") == 0)
        return "text/javascript; charset=utf-8";
    return "text/html; charset=utf-8";
}

static void ks__handle(void *ctx, const char *path, ks_http_reply *r)
{
    ks_dash *d = ctx;
    if (strcmp(path, "/api/state") == 0) {
        char *json = ks__dash_state(d, ks_wall_ms());
        if (!json)
            ks_http_text(r, 500, "out of memory\n", KS_HTTP_STATIC);
        else
            *r = (ks_http_reply){200, "application/json", json, strlen(json), KS_HTTP_TAKE};
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        ks_http_text(r, 200, "ok\n", KS_HTTP_STATIC);
        return;
    }
    for (const ks_dash_asset *a = ks_dash_assets; a->path; a++) {
        if (strcmp(path, a->path) == 0) {
            *r = (ks_http_reply){200, ks__type(a->path), a->data, a->len, KS_HTTP_STATIC};
            return;
        }
    }
    ks_http_text(r, 404, "not found: the dashboard is at /\n", KS_HTTP_STATIC);
}

int ks_dash_serve(ks_dash *d, const char *listen, char *errstr, size_t errsize)
{
    static const ks_http_opts opts = {
        .name = "dashboard",
        .what = "--listen",
        .max_connections = 64,
        .timeout_s = 30,
        .headers = ks__headers,
        .loopback_only = "forbidden: this dashboard listens on loopback and answers only "
                         "requests for 127.0.0.1, localhost or [::1]\n",
    };
    d->http = ks_http_start(listen, &opts, ks__handle, d, errstr, errsize);
    return d->http ? 0 : -1;
}

void ks__dash_http_stop(ks_dash *d)
{
    ks_http_stop(d->http);
    d->http = NULL;
}
