/* `kpistream dashboard`: the browser wall dashboard (docs/dashboard.md).
 *
 * Serves one page, compiled into the binary, that shows what a running
 * pipeline writes to Redis and refreshes itself every second. Read-only
 * against Redis; listens on loopback unless told otherwise. */
#ifndef KPISTREAM_DASHBOARD_H
#define KPISTREAM_DASHBOARD_H

/** Entry point of `kpistream dashboard --redis URL [--redis-password-file FILE]
 *  [--prefix kpi:] [--listen 127.0.0.1:8080] [--interval-ms 1000]` (argv[0] is
 *  the subcommand name). Runs until SIGINT/SIGTERM. Returns the process exit
 *  code: 0 when stopped, 1 if it cannot listen, 2 on a usage error. An
 *  unreachable Redis is not an error: the page says so, and reads are retried. */
int ks_dashboard_main(int argc, char **argv);

#endif
