/* `kpistream dashboard`: command line, and the refresher that reads Redis.
 *
 * One thread reads Redis every interval (src/redis/dash_read.c) and keeps
 * the document; the HTTP thread (http.c) serves copies of it. When a read
 * fails, the last document is kept and served with the error and since when,
 * so the wall shows "Redis unreachable" over the last numbers it had rather
 * than a blank page. Stopping: SIGINT/SIGTERM are blocked and taken with
 * sigtimedwait(), which is also the wait between reads (as in `watch`). */
#include "kpistream/dashboard.h"

#include "internal.h"

#include "kpistream/clock.h"
#include "kpistream/config.h"
#include "kpistream/dash_read.h"
#include "kpistream/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void ks__usage(FILE *out)
{
    fputs("usage: kpistream dashboard --redis URL [--redis-password-file FILE] [--prefix kpi:]\n"
          "                           [--listen 127.0.0.1:8080] [--interval-ms 1000]\n"
          "\n"
          "Serves the browser wall dashboard of what a running kpistream writes to\n"
          "Redis: KPI tiles per window with the last hour as sparklines, segment and\n"
          "channel tables, the customers most at risk, the latest alerts and\n"
          "triggers. The page refreshes itself; open http://<listen>/ in a browser.\n"
          "Read-only against Redis (docs/security.md: the kpi-watch ACL user).\n"
          "\n"
          "  --redis URL        redis://[user:password@]host:port[/db]\n"
          "                     (default $KPISTREAM_REDIS, else redis://127.0.0.1:6379/0)\n"
          "  --redis-password-file FILE\n"
          "                     the password, read from FILE (default\n"
          "                     $KPISTREAM_REDIS_PASSWORD_FILE); the URL then has none\n"
          "  --prefix P         key prefix (default kpi:)\n"
          "  --listen HOST:PORT where to serve the page (default 127.0.0.1:8080; loopback\n"
          "                     only unless an address such as 0.0.0.0:8080 is given)\n"
          "  --interval-ms N    how often Redis is read and the page refreshed,\n"
          "                     250..2000 (default 1000)\n",
          out);
}

char *ks__dash_state(ks_dash *d, int64_t now_ms)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "now_ms", (double)now_ms);
    cJSON_AddNumberToObject(o, "interval_ms", d->interval_ms);
    cJSON_AddStringToObject(o, "prefix", d->prefix);
    cJSON *r = cJSON_AddObjectToObject(o, "redis");
    pthread_mutex_lock(&d->mu);
    cJSON_AddBoolToObject(r, "ok", d->error[0] == '\0');
    cJSON_AddStringToObject(r, "error", d->error);
    cJSON_AddNumberToObject(r, "since_ms", (double)d->error_since_ms);
    cJSON_AddStringToObject(r, "url", d->redis);
    cJSON_AddNumberToObject(o, "read_ms", (double)d->doc_ms);
    /* The document is JSON already: spliced in as it is, not parsed again. */
    cJSON_AddItemToObject(o, "data", d->doc ? cJSON_CreateRaw(d->doc) : cJSON_CreateNull());
    char *text = cJSON_PrintUnformatted(o);
    pthread_mutex_unlock(&d->mu);
    cJSON_Delete(o);
    return text;
}

/* One read of Redis into d. */
static void ks__refresh(ks_dash *d, ks_dash_reader *rd)
{
    char err[512];
    char *doc = ks_dash_reader_read(rd, err, sizeof err);
    int64_t now = ks_wall_ms();
    pthread_mutex_lock(&d->mu);
    if (doc) {
        if (d->error[0])
            ks_info("dashboard: Redis readable again after %.0f s",
                    (double)(now - d->error_since_ms) / 1000.0);
        free(d->doc);
        d->doc = doc;
        d->doc_ms = now;
        d->error[0] = '\0';
        d->error_since_ms = 0;
    } else {
        if (!d->error[0]) {
            d->error_since_ms = now;
            ks_warn("dashboard: cannot read Redis: %s; the page says so and keeps the last "
                    "values; retrying every %d ms",
                    err, d->interval_ms);
        }
        snprintf(d->error, sizeof d->error, "%s", err);
    }
    pthread_mutex_unlock(&d->mu);
}

int ks_dashboard_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"redis", required_argument, NULL, 'r'},
        {"prefix", required_argument, NULL, 'p'},
        {"listen", required_argument, NULL, 'l'},
        {"interval-ms", required_argument, NULL, 'i'},
        {"redis-password-file", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *url = getenv("KPISTREAM_REDIS");
    const char *pwfile = getenv("KPISTREAM_REDIS_PASSWORD_FILE");
    const char *prefix = "kpi:", *listen = "127.0.0.1:8080";
    int interval = 1000;
    if (!url || !*url)
        url = "redis://127.0.0.1:6379/0";
    optind = 0; /* full re-initialisation: main may have run getopt already */
    int c;
    while ((c = getopt_long(argc, argv, "+r:p:l:i:f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            url = optarg;
            break;
        case 'p':
            prefix = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case 'i': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 250 || v > 2000) {
                fprintf(stderr, "dashboard: --interval-ms must be an integer 250..2000, got "
                                "\"%s\"\n", optarg);
                return 2;
            }
            interval = (int)v;
            break;
        }
        case 'f':
            pwfile = optarg;
            break;
        case 'h':
            ks__usage(stdout);
            return 0;
        default:
            ks__usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dashboard: unexpected argument \"%s\"\n", argv[optind]);
        ks__usage(stderr);
        return 2;
    }
    if (!*prefix || strlen(prefix) >= 100) {
        fprintf(stderr, "dashboard: --prefix must be 1..99 bytes\n");
        return 2;
    }
    char err[512];
    ks_redis_url target;
    if (ks_redis_url_flags(url, pwfile, &target, err, sizeof err) != 0) {
        fprintf(stderr, "dashboard: %s\n", err);
        return 2;
    }

    char lhost[256];
    int lport;
    if (ks_listen_parse(listen, lhost, sizeof lhost, &lport, err, sizeof err) != 0) {
        fprintf(stderr, "dashboard: --listen: %s\n", err); /* before any Redis read */
        return 2;
    }

    ks_dash d;
    memset(&d, 0, sizeof d);
    pthread_mutex_init(&d.mu, NULL);
    d.interval_ms = interval;
    snprintf(d.prefix, sizeof d.prefix, "%s", prefix);
    ks_redis_url_mask(url, d.redis, sizeof d.redis);
    ks_dash_reader *rd = ks_dash_reader_new(&target, prefix);
    if (!rd) {
        fprintf(stderr, "dashboard: out of memory\n");
        return 1;
    }
    /* Blocked before the HTTP thread starts, so it inherits the mask and the
     * signals come to sigtimedwait() below. */
    sigset_t stop_sigs, old_mask;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_mask);
    int rc = 0;
    ks__refresh(&d, rd); /* the first page load already has data */
    if (ks__dash_http_start(&d, listen, err, sizeof err) != 0) {
        fprintf(stderr, "dashboard: %s\n", err);
        rc = 1;
        goto out;
    }
    ks_info("dashboard: serving http://%s/ (Redis %s, prefix %s, refresh %d ms)", listen,
            d.redis, d.prefix, d.interval_ms);
    for (;;) {
        struct timespec wait = {.tv_sec = interval / 1000,
                                .tv_nsec = (long)(interval % 1000) * 1000000L};
        int sig = sigtimedwait(&stop_sigs, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM)
            break;
        ks__refresh(&d, rd);
    }
    ks_info("dashboard: stopped");
    ks__dash_http_stop(&d);
out:
    ks_dash_reader_free(rd);
    free(d.doc);
    pthread_mutex_destroy(&d.mu);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}
