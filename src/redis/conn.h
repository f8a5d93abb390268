/* A plain hiredis connection for the readers of the Redis output (`watch`,
 * `dashboard`): connect, AUTH, SELECT. The sink has its own (sink.c). */
#ifndef KS_REDIS_CONN_H
#define KS_REDIS_CONN_H

#include "kpistream/config.h"

#include <hiredis/hiredis.h>
#include <stddef.h>

/** Connects to u with timeout_ms for the connect and every command, then
 *  AUTHs (with a password in u) and SELECTs (db other than 0). Returns the
 *  context, or NULL with err saying what failed ("cannot connect to h:p: ...",
 *  "AUTH failed: ...", "SELECT 2 failed: ..."; never the password).
 *  Caller owns the result; free with redisFree(). */
redisContext *ks_redis_conn_open(const ks_redis_url *u, int timeout_ms, char *err, size_t n);

#endif
