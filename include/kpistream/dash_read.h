/* The dashboard's view of Redis: one read of the contract's keys turned into
 * the JSON document the page renders (docs/dashboard.md, "/api/state").
 *
 * Read-only: HGETALL, HMGET, ZCARD, ZREVRANGE, XREVRANGE (and AUTH, SELECT),
 * the commands of the `kpi-watch` ACL user of docs/security.md. Values are
 * passed through as Redis holds them (decimal strings, producer-chosen ids and
 * reasons): the page shows them as text, never as markup. */
#ifndef KPISTREAM_DASH_READ_H
#define KPISTREAM_DASH_READ_H

#include "kpistream/config.h"

#include <stddef.h>

typedef struct ks_dash_reader ks_dash_reader;

/** Rows of each list in the document. */
#define KS_DASH_RISK_ROWS 10
#define KS_DASH_NOTICE_ROWS 12
#define KS_DASH_HISTORY_ROWS 61 /* an hour of minutes, both ends */
#define KS_DASH_MAX_NAMES 256   /* segment / channel rows at most */

/** Creates a reader of prefix's keys at url (copied; not connected yet).
 *  Caller owns the result; free with ks_dash_reader_free(). NULL only when
 *  out of memory. */
ks_dash_reader *ks_dash_reader_new(const ks_redis_url *url, const char *prefix);

/** Frees r and closes its connection (NULL is ignored). */
void ks_dash_reader_free(ks_dash_reader *r);

/** Reads meta, global, the segment and channel hashes named by the prefix's
 *  name registries, the top of the risk ranking with each customer's level
 *  and reasons, the latest alerts and triggers, and the last hour of
 *  history, connecting first if needed. Returns the JSON object text, or NULL
 *  with err saying why (Redis unreachable, a command refused: the connection
 *  is dropped and re-made next time). Caller owns the result; free with
 *  free(). */
char *ks_dash_reader_read(ks_dash_reader *r, char *err, size_t errsize);

#endif
