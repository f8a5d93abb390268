/* The per-minute KPI snapshots of <prefix>history (include/kpistream/history.h).
 *
 * Written from inside the flush's MULTI/EXEC by a script that reads the
 * values the same transaction has just written, so a snapshot is always one
 * flush's KPIs, whichever member of the group wrote it, and costs the flush
 * one command a minute. The entry id is the minute itself: XADD refuses an id
 * not above the stream's last one, which makes the first writer of a minute
 * win and every later attempt (a retry, another member, a wall clock behind
 * the others) a no-op. Only the commands `run`'s ACL user has already (EVAL,
 * HMGET, XADD) are used. */
#include "kpistream/history.h"

#include "kpistream/kpi.h"

#include <stdio.h>

/* The KPIs snapshotted, in every window (named by the KPI table,
 * kpistream/kpi.h: a KPI renamed or gone does not compile). The dashboard's
 * tiles (src/dashboard/dashboard.js) show these. */
static const ks_kpi ks__history_kpis[] = {
    KS_KPI_EVENTS,         KS_KPI_ACTIVE_CUSTOMERS, KS_KPI_REVENUE,        KS_KPI_AOV,
    KS_KPI_CSAT,           KS_KPI_NPS,              KS_KPI_CHURN_RATE,     KS_KPI_RETENTION_RATE,
    KS_KPI_COMPLAINT_RATE, KS_KPI_RESPONSE_TIME_P90,
};

/* KEYS: global, meta, history. ARGV: entry id, MAXLEN, then the fields.
 * Absent ratios are left out of the entry, as they are of the hash. The
 * pcall'd XADD swallows only the id refusal; any other error (a wrong type,
 * a refused command) fails the flush and names itself. */
static const char ks__history_script[] =
    "local f = {}\n"
    "for i = 3, #ARGV do f[#f + 1] = ARGV[i] end\n"
    "local v = redis.call('HMGET', KEYS[1], unpack(f))\n"
    "local m = redis.call('HMGET', KEYS[2], 'events_processed', 'clock_ms')\n"
    "local e = {'events_processed', m[1] or '0', 'clock_ms', m[2] or '0'}\n"
    "for i = 1, #f do if v[i] then e[#e + 1] = f[i]; e[#e + 1] = v[i] end end\n"
    "local r = redis.pcall('XADD', KEYS[3], 'MAXLEN', ARGV[2], ARGV[1], unpack(e))\n"
    "if type(r) == 'table' and r.err then\n"
    "  if string.find(r.err, 'equal or smaller', 1, true) then return 0 end\n"
    "  return r\n"
    "end\n"
    "return 1\n";

void ks_history_append(ks_batch *b, const ks_config *cfg, int64_t wall_ms)
{
    const char *P = cfg->prefix;
    ks_batch_cmd(b);
    ks_batch_str(b, "EVAL");
    ks_batch_str(b, ks__history_script);
    ks_batch_str(b, "3");
    ks_batch_fmt(b, "%sglobal", P);
    ks_batch_fmt(b, "%smeta", P);
    ks_batch_fmt(b, "%shistory", P);
    ks_batch_fmt(b, "%lld-0", (long long)(wall_ms - wall_ms % 60000));
    ks_batch_i64(b, KS_HISTORY_MINUTES);
    for (int w = 0; w < cfg->nwindows; w++)
        for (size_t k = 0; k < sizeof ks__history_kpis / sizeof *ks__history_kpis; k++)
            ks_batch_fmt(b, "%s:%s", ks_kpi_name(ks__history_kpis[k]), cfg->windows[w].name);
}
