/* Listening TCP sockets for the HTTP endpoints (`run`'s metrics, the
 * dashboard). Bound here rather than by libmicrohttpd so that a failure is
 * reported with its errno and the address. */
#ifndef KPISTREAM_LISTEN_H
#define KPISTREAM_LISTEN_H

#include <stddef.h>

/** Binds and listens on the first address of host:port that works (IPv6
 *  sockets v6-only, SO_REUSEADDR, close-on-exec). addr: the address as the
 *  user wrote it, for the message. Returns the socket, or -1 with errstr
 *  filled ("cannot resolve \"h\": ..." or "cannot listen on <addr>: ...").
 *  Caller owns the socket. */
int ks_listen_socket(const char *addr, const char *host, int port, char *errstr, size_t errsize);

#endif
