/* `kpistream dashboard`: options, then the refresher loop of the browser
 * wall dashboard (src/dashboard/: the page and its HTTP routes; src/redis/
 * dash_read.c: the reads). SIGINT/SIGTERM are blocked before the HTTP
 * thread starts and taken with sigtimedwait(), which is also the wait
 * between reads (as in watch). */
#include "app/cmds.h"
#include "app/internal.h"

#include "kpistream/config.h"
#include "kpistream/dash_read.h"
#include "kpistream/dashboard.h"
#include "kpistream/log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ks__dash_args {
    ks_reader_args r;
    const char *listen;
    long interval_ms;
} ks__dash_args;

static const ks_cli_opt ks__opts[] = {
    KS_READER_OPTS(ks__dash_args, r),
    {"listen", "HOST:PORT",
     "where to serve the page (default 127.0.0.1:8080; loopback\n"
     "only unless an address such as 0.0.0.0:8080 is given)",
     KS_CLI_STR, offsetof(ks__dash_args, listen), 0, 0, 'l'},
    {"interval-ms", "N",
     "how often Redis is read and the page refreshed,\n250..2000 (default 1000)",
     KS_CLI_INT, offsetof(ks__dash_args, interval_ms), 250, 2000, 'i'},
    KS_CLI_END,
};

static const ks_cli_cmd ks__cli = {
    .name = "dashboard",
    .prog = "dashboard",
    .usage = "kpistream dashboard --redis URL [--redis-password-file FILE] [--prefix kpi:]\n"
             "                           [--listen 127.0.0.1:8080] [--interval-ms 1000]",
    .about = "Serves the browser wall dashboard of what a running kpistream writes to\n"
             "Redis: KPI tiles per window with the last hour as sparklines, segment and\n"
             "channel tables, the customers most at risk, the latest alerts and\n"
             "triggers. The page refreshes itself; open http://<listen>/ in a browser.\n"
             "Read-only against Redis (docs/security.md: the kpi-watch ACL user).\n"
             "Runs until SIGINT/SIGTERM: exit 0 stopped, 1 cannot listen, 2 usage error.\n",
    .opts = ks__opts,
    .usage_status = 2,
};

int ks_dashboard_main(int argc, char **argv)
{
    ks__dash_args a = {.listen = "127.0.0.1:8080", .interval_ms = 1000};
    ks_reader_args_init(&a.r);
    int rc = ks_cli_parse(&ks__cli, argc, argv, &a);
    if (rc != KS_CLI_GO)
        return rc;
    if (!*a.r.prefix || strlen(a.r.prefix) >= 100) {
        fprintf(stderr, "dashboard: --prefix must be 1..99 bytes\n");
        return 2;
    }
    char err[512];
    ks_redis_url target;
    if (ks_reader_target(&a.r, "dashboard", &target) != 0)
        return 2;
    char lhost[256];
    int lport;
    if (ks_listen_parse(a.listen, lhost, sizeof lhost, &lport, err, sizeof err) != 0) {
        fprintf(stderr, "dashboard: --listen: %s\n", err); /* before any Redis read */
        return 2;
    }

    char masked[512];
    ks_redis_url_mask(a.r.redis, masked, sizeof masked);
    ks_dash *d = ks_dash_new(a.r.prefix, masked, (int)a.interval_ms);
    ks_dash_reader *rd = ks_dash_reader_new(&target, a.r.prefix);
    if (!d || !rd) {
        fprintf(stderr, "dashboard: out of memory\n");
        ks_dash_reader_free(rd);
        ks_dash_free(d);
        return 1;
    }
    /* Blocked before the HTTP thread starts, so it inherits the mask. */
    sigset_t old_mask;
    ks_cli_block_stop(&old_mask);
    rc = 0;
    ks_dash_refresh(d, rd); /* the first page load already has data */
    if (ks_dash_serve(d, a.listen, err, sizeof err) != 0) {
        fprintf(stderr, "dashboard: %s\n", err);
        rc = 1;
    } else {
        ks_info("dashboard: serving http://%s/ (Redis %s, prefix %s, refresh %ld ms)", a.listen,
                masked, a.r.prefix, a.interval_ms);
        while (ks_cli_wait_stop((int)a.interval_ms) == 0)
            ks_dash_refresh(d, rd);
        ks_info("dashboard: stopped");
    }
    ks_dash_free(d);
    ks_dash_reader_free(rd);
    ks_cli_unblock(&old_mask);
    return rc;
}
