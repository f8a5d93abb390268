/* The KPI history behind the dashboard's sparklines: <prefix>history, a
 * capped stream with one snapshot of the main KPIs per wall-clock minute
 * (docs/redis.md, "KPI history"). `run` adds it to the first flush of each
 * minute; the dashboard reads it (src/redis/dash_read.c). */
#ifndef KPISTREAM_HISTORY_H
#define KPISTREAM_HISTORY_H

#include "kpistream/batch.h"
#include "kpistream/config.h"

#include <stdint.h>

/** Minutes of history kept (the stream's MAXLEN): one day. */
#define KS_HISTORY_MINUTES 1440

/** Appends to b (a flush's transaction, after its <prefix>global HSET) one
 *  EVAL that copies the history's KPIs of every window from <prefix>global,
 *  and events_processed and clock_ms from <prefix>meta, into an entry of
 *  <prefix>history with id <minute of wall_ms, in ms>-0. A minute that has
 *  its entry already (a retried flush, another member of the group) is left
 *  as it is: the script is a no-op then, never an error. */
void ks_history_append(ks_batch *b, const ks_config *cfg, int64_t wall_ms);

#endif
