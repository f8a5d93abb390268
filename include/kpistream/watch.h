/* `kpistream watch`: a live terminal summary of what kpistream writes to Redis.
 *
 * Read-only: it only reads the keys of the Redis contract (meta, global KPIs,
 * segments, risk, alerts), so it can watch any running pipeline, and a key
 * that is missing (pipeline not started yet, feature not enabled) shows "-".
 */
#ifndef KPISTREAM_WATCH_H
#define KPISTREAM_WATCH_H

/** Entry point of `kpistream watch --redis URL [--prefix kpi:] [--interval-ms 1000]
 *  [--once]` (argv[0] is the subcommand name). Redraws the summary every interval
 *  (ANSI clear + redraw on a terminal; plain blocks one after another when stdout
 *  is not a terminal or with --once). A lost Redis connection is shown and retried.
 *  Returns the process exit code: 0 after SIGINT/SIGTERM or after one --once
 *  block, 1 if --once cannot read Redis, 2 on a usage error. */
int ks_watch_main(int argc, char **argv);

#endif
