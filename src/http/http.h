/* A small HTTP server for the read-only endpoints (the metrics endpoint of
 * `run`, the dashboard page): libmicrohttpd with its own polling thread, GET
 * and HEAD only, every response from one handler callback.
 *
 * We bind the listening socket ourselves (ks_listen_socket) and hand it to
 * libmicrohttpd, so a bind failure is reported with its errno ("Address
 * already in use") and the address, which MHD_start_daemon() alone does not
 * give. The only module that includes microhttpd.h. */
#ifndef KS_HTTP_HTTP_H
#define KS_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ks_http ks_http;

/* Who owns a reply's body. */
typedef enum ks_http_mem {
    KS_HTTP_STATIC, /* lives as long as the server (a literal, an embedded file) */
    KS_HTTP_TAKE,   /* malloc'd; the server frees it */
} ks_http_mem;

typedef struct ks_http_reply {
    unsigned status;  /* 200, 404, 503 ... */
    const char *type; /* Content-Type */
    const void *body;
    size_t len;
    ks_http_mem mem;
} ks_http_reply;

/** Answers a GET or HEAD of path (other methods get 405 without a call) by
 *  filling r. Runs on the server's thread. */
typedef void (*ks_http_handler)(void *ctx, const char *path, ks_http_reply *r);

typedef struct ks_http_opts {
    const char *name;           /* prefix of the server's log lines ("dashboard") */
    const char *what;           /* prefix of start errors ("--listen", "metrics_listen") */
    unsigned max_connections;
    unsigned timeout_s;         /* an idle connection is closed after it */
    const char *const *headers; /* extra headers on every response: name, value, ..., NULL */
    /* Non-NULL: when listening on loopback, a request whose Host header does
     * not name 127.0.0.1, localhost or [::1] (with the port) gets 403 with
     * this text, so a web page elsewhere cannot read the endpoint by pointing
     * a DNS name of its own at 127.0.0.1 (DNS rebinding). */
    const char *loopback_only;
} ks_http_opts;

/** Binds listen ("host:port", see ks_listen_parse()) and serves it with fn
 *  and ctx (borrowed until ks_http_stop()). Returns the server, or NULL with
 *  errstr "<o->what>: <why>". Caller owns the result; stop it with
 *  ks_http_stop(). */
ks_http *ks_http_start(const char *listen, const ks_http_opts *o, ks_http_handler fn, void *ctx,
                       char *errstr, size_t errsize);

/** Returns the port the server listens on. */
int ks_http_port(const ks_http *h);

/** A reply of text as text/plain: text itself (KS_HTTP_STATIC), or a copy
 *  of it (KS_HTTP_TAKE: for a buffer of the handler's, which is gone when
 *  the reply is sent; when out of memory the reply is a 500). */
void ks_http_text(ks_http_reply *r, unsigned status, const char *text, ks_http_mem mem);

/** Stops the server (joins its thread, closes the socket) and frees h; NULL
 *  is ignored. */
void ks_http_stop(ks_http *h);

#endif
