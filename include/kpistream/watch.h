/* What `kpistream watch` shows, read from Redis (src/redis/watch.c); the
 * terminal view itself is src/app/cmd_watch.c.
 *
 * Read-only: it only reads the keys of the Redis contract (meta, global KPIs,
 * segments, risk, alerts), so it can watch any running pipeline; a key that
 * is missing (pipeline not started yet, feature not enabled) reads as empty.
 */
#ifndef KPISTREAM_WATCH_H
#define KPISTREAM_WATCH_H

#include "kpistream/config.h"

#include <stddef.h>

#define KS_WATCH_SEGMENTS 12 /* segment rows read (the first by name) */
#define KS_WATCH_TOP 5       /* rows of the risk ranking and of the alerts */

/* ks_watch_read() results besides 0. */
#define KS_WATCH_UNREACHABLE (-1) /* could not connect (or AUTH/SELECT failed) */
#define KS_WATCH_LOST (-2)        /* the connection broke during the read */

/* A hash as HGETALL gives it: kv[2i] a field, kv[2i + 1] its value. */
typedef struct ks_watch_hash {
    size_t n; /* pairs */
    char **kv;
} ks_watch_hash;

typedef struct ks_watch_view {
    ks_watch_hash meta, global; /* empty when the key is missing or unreadable */
    struct {
        char *name, *revenue_24h, *active_24h; /* values NULL when missing */
    } seg[KS_WATCH_SEGMENTS];
    size_t nseg;
    long seg_total;            /* segment hashes found */
    long long at_risk;         /* members of the risk ranking, -1 when unreadable */
    struct {
        char *id, *level, *reasons; /* level and reasons NULL when missing */
        double score;
    } risk[KS_WATCH_TOP];
    size_t nrisk;
    struct {
        char *id;   /* the stream entry id ("<ms>-<seq>") */
        char *text; /* its fields as "f=v f=v", at most 255 bytes */
    } alert[KS_WATCH_TOP];
    size_t nalert;
} ks_watch_view;

typedef struct ks_watch_reader ks_watch_reader;

/** Creates a reader of prefix's keys at url (copied; connects at the first
 *  read). Caller owns the result; free with ks_watch_reader_free(). NULL only
 *  when out of memory. */
ks_watch_reader *ks_watch_reader_new(const ks_redis_url *url, const char *prefix);

/** Frees r and closes its connection (NULL is ignored). */
void ks_watch_reader_free(ks_watch_reader *r);

/** Reads meta, global, the segments (SCAN), the top of the risk ranking with
 *  each customer's level and reasons, and the latest alerts into v (reset
 *  first), connecting first if needed. Returns 0, KS_WATCH_UNREACHABLE or
 *  KS_WATCH_LOST with err saying why (the next read reconnects). v's strings
 *  are owned by v; free with ks_watch_view_reset(). */
int ks_watch_read(ks_watch_reader *r, ks_watch_view *v, char *err, size_t errsize);

/** Frees what v holds and zeroes it. */
void ks_watch_view_reset(ks_watch_view *v);

/** Returns field's value in h, or NULL. Borrowed: valid while h is. */
const char *ks_watch_field(const ks_watch_hash *h, const char *field);

#endif
