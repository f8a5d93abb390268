/* `kpistream watch`: a refreshing terminal summary of the Redis output.
 *
 * Each refresh reads a handful of keys (a few ms of Redis time), renders the
 * whole screen into one memory buffer and writes it with a single write, so
 * the terminal never shows a half-drawn frame. events/s is the change of
 * meta.events_processed between two refreshes over the monotonic time between
 * them, i.e. the pipeline's accepted-event throughput as seen from Redis
 * (it moves in steps of the pipeline's flush interval).
 *
 * Signals: SIGINT/SIGTERM are blocked and taken with sigtimedwait(), which is
 * also the wait between refreshes, so Ctrl-C ends the program at once without
 * a handler or a flag.
 */
#include "kpistream/watch.h"

#include "kpistream/config.h"
#include "redis/conn.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KS__W_MAX_WINDOWS 8
#define KS__W_MAX_SEGMENTS 64
#define KS__W_SHOWN_SEGMENTS 12
#define KS__W_COLW 12
#define KS__W_SAMPLES 16
#define KS__W_RATE_SPAN_MS 5000

typedef struct ks__watch {
    ks_redis_url url;
    char url_text[512];
    const char *prefix;
    const char *note; /* --note: a line shown under the title, or NULL */
    int interval_ms;
    bool once;
    bool tty;
    redisContext *c;
    /* events/s: recent (flush time, events_processed) samples, oldest first */
    int64_t sample_t[KS__W_SAMPLES];
    long long sample_ev[KS__W_SAMPLES];
    int nsamples;
} ks__watch;

/* KPI rows of the global table, in display order. */
static const char *const ks__w_kpis[] = {
    "events", "active_customers", "new_customers", "orders", "revenue", "aov",
    "purchase_frequency", "engagement", "csat", "nps", "churn_rate", "complaint_rate",
    "conversion_rate", "clv",
};

static int64_t ks__w_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ks__w_usage(FILE *out)
{
    fputs("usage: kpistream watch --redis URL [--redis-password-file FILE] [--prefix kpi:]\n"
          "                       [--interval-ms 1000] [--once] [--note TEXT]\n"
          "\n"
          "Shows what a running kpistream writes to Redis: throughput and counters\n"
          "(meta), the main KPIs per window, revenue and active customers per segment,\n"
          "the customers most at risk of churning and the latest churn alerts.\n"
          "Missing values show as '-'. Ctrl-C to quit.\n"
          "\n"
          "  --redis URL        redis://[user:password@]host:port[/db]\n"
          "                     (default $KPISTREAM_REDIS, else redis://127.0.0.1:6379/0)\n"
          "  --redis-password-file FILE\n"
          "                     the password, read from FILE (default\n"
          "                     $KPISTREAM_REDIS_PASSWORD_FILE); the URL then has none\n"
          "  --prefix P         key prefix (default kpi:)\n"
          "  --interval-ms N    refresh interval, 100..3600000 (default 1000)\n"
          "  --once             print one summary and exit (plain text, for scripts)\n"
          "  --note TEXT        a line shown under the title (make demo: the dashboard's URL)\n",
          out);
}

/* ---------------- Redis access ---------------- */

static void ks__w_disconnect(ks__watch *w)
{
    if (w->c)
        redisFree(w->c);
    w->c = NULL;
}

/* Connects, authenticates and selects the db. Returns 0, or -1 with a reason
 * in err. */
static int ks__w_connect(ks__watch *w, char *err, size_t n)
{
    w->c = ks_redis_conn_open(&w->url, 2000, err, n);
    return w->c ? 0 : -1;
}

/* Runs a command; on a connection error drops the connection (so the next
 * refresh reconnects) and returns NULL. Error replies are returned as-is. */
__attribute__((format(printf, 2, 3))) static redisReply *ks__w_cmd(ks__watch *w, const char *fmt,
                                                                    ...)
{
    if (!w->c)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(w->c, fmt, ap);
    va_end(ap);
    if (!r)
        ks__w_disconnect(w);
    return r;
}

/* Looks up field in a HGETALL reply. Returns the value or NULL.
 * Borrowed: valid while the reply lives. */
static const char *ks__w_field(const redisReply *h, const char *field)
{
    if (!h || h->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < h->elements; i += 2)
        if (h->element[i]->type == REDIS_REPLY_STRING && strcmp(h->element[i]->str, field) == 0)
            return h->element[i + 1]->str;
    return NULL;
}

/* ---------------- formatting ---------------- */

/* "2026-11-23 11:45:41Z" from epoch ms, or "-". */
static void ks__w_utc(const char *ms_text, char *buf, size_t n)
{
    char *end;
    long long ms = ms_text ? strtoll(ms_text, &end, 10) : 0;
    if (!ms_text || end == ms_text || ms <= 0) {
        snprintf(buf, n, "-");
        return;
    }
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%SZ", &tm);
}

/* Window length in ms from "1h", "24h", "7d", "30d", "15m", "90s"; 0 if not
 * a window name (keeps unknown suffixes out of the column list). */
static int64_t ks__w_window_ms(const char *s)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (end == s || v <= 0)
        return 0;
    if (strcmp(end, "s") == 0)
        return v * 1000;
    if (strcmp(end, "m") == 0)
        return v * 60000;
    if (strcmp(end, "h") == 0)
        return v * 3600000;
    if (strcmp(end, "d") == 0)
        return v * 86400000;
    return 0;
}

/* Collects the windows present in the global hash (from the always-present
 * "events:<w>" counts), sorted by length. Falls back to the defaults. */
static int ks__w_windows(const redisReply *g, char win[][16])
{
    int nw = 0;
    int64_t len[KS__W_MAX_WINDOWS];
    if (g && g->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < g->elements && nw < KS__W_MAX_WINDOWS; i += 2) {
            const char *f = g->element[i]->str;
            if (!f || strncmp(f, "events:", 7) != 0 || strlen(f + 7) >= 16)
                continue;
            int64_t ms = ks__w_window_ms(f + 7);
            if (ms == 0)
                continue;
            int j = nw++;
            while (j > 0 && len[j - 1] > ms) { /* insertion sort, few windows */
                len[j] = len[j - 1];
                memcpy(win[j], win[j - 1], 16);
                j--;
            }
            len[j] = ms;
            snprintf(win[j], 16, "%s", f + 7);
        }
    }
    if (nw == 0) {
        static const char *const defaults[] = {"1h", "24h", "7d", "30d"};
        for (nw = 0; nw < 4; nw++)
            snprintf(win[nw], 16, "%s", defaults[nw]);
    }
    return nw;
}

/* Prints v right-aligned in a column, cut to the column width. */
static void ks__w_cell(FILE *out, const char *v)
{
    if (!v || !*v)
        v = "-";
    fprintf(out, " %*.*s", KS__W_COLW, KS__W_COLW, v);
}

static int ks__w_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---------------- sections ---------------- */

/* events/s from samples taken at the pipeline's flush times (updated_at_ms),
 * not at our refresh times: the counter only moves at flushes, so sampling on
 * our own clock would alias between 0 and twice the rate. Averaged over the
 * last ~5 s of flushes. Without updated_at_ms our monotonic clock is used. */
static void ks__w_rate(ks__watch *w, long long ev, const char *updated, char *out, size_t n)
{
    char *end = NULL;
    int64_t t = updated ? strtoll(updated, &end, 10) : 0;
    if (!updated || end == updated)
        t = ks__w_mono_ms();
    if (w->nsamples > 0 && (ev < w->sample_ev[w->nsamples - 1] ||
                            t < w->sample_t[w->nsamples - 1]))
        w->nsamples = 0; /* counter or clock went back: pipeline restarted or reset */
    if (w->nsamples == 0 || t != w->sample_t[w->nsamples - 1]) {
        if (w->nsamples == KS__W_SAMPLES) {
            memmove(w->sample_t, w->sample_t + 1, sizeof w->sample_t[0] * (KS__W_SAMPLES - 1));
            memmove(w->sample_ev, w->sample_ev + 1, sizeof w->sample_ev[0] * (KS__W_SAMPLES - 1));
            w->nsamples--;
        }
        w->sample_t[w->nsamples] = t;
        w->sample_ev[w->nsamples] = ev;
        w->nsamples++;
    }
    int last = w->nsamples - 1, first = last;
    while (first > 0 && w->sample_t[last] - w->sample_t[first - 1] <= KS__W_RATE_SPAN_MS)
        first--;
    if (first == last && last > 0)
        first = last - 1; /* flushes further apart than the span: use the last two */
    if (first == last)
        return;
    double dt = (double)(w->sample_t[last] - w->sample_t[first]);
    snprintf(out, n, "%.0f", (double)(w->sample_ev[last] - w->sample_ev[first]) * 1000.0 / dt);
}

static void ks__w_meta(ks__watch *w, FILE *out)
{
    redisReply *m = ks__w_cmd(w, "HGETALL %smeta", w->prefix);
    if (!m)
        return;
    bool have = m->type == REDIS_REPLY_ARRAY && m->elements > 0;
    const char *processed = ks__w_field(m, "events_processed");
    char rate[48] = "-";
    if (processed)
        ks__w_rate(w, strtoll(processed, NULL, 10), ks__w_field(m, "updated_at_ms"), rate,
                   sizeof rate);
    const char *upd = ks__w_field(m, "updated_at_ms");
    if (upd) {
        /* A pipeline that stopped flushing leaves its last rate behind; say so. */
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        long long age = (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 -
                        strtoll(upd, NULL, 10);
        if (age > KS__W_RATE_SPAN_MS && age > 3LL * w->interval_ms)
            snprintf(rate, sizeof rate, "0 (no flush for %llds)", age / 1000);
    }
    char clock[32], updated[32];
    ks__w_utc(ks__w_field(m, "clock_ms"), clock, sizeof clock);
    ks__w_utc(ks__w_field(m, "updated_at_ms"), updated, sizeof updated);
    const char *rej = ks__w_field(m, "events_rejected");
    const char *dup = ks__w_field(m, "duplicates");
    fprintf(out, "events processed %-12s rejected %-10s duplicates %-10s events/s %s\n",
            processed ? processed : "-", rej ? rej : "-", dup ? dup : "-", rate);
    fprintf(out, "window clock     %-22s  last flush %s\n", clock, updated);
    if (!have)
        fprintf(out, "(no %smeta yet: is kpistream run writing to this Redis and prefix?)\n",
                w->prefix);
    freeReplyObject(m);
}

static void ks__w_global(ks__watch *w, FILE *out)
{
    redisReply *g = ks__w_cmd(w, "HGETALL %sglobal", w->prefix);
    if (!g)
        return;
    char win[KS__W_MAX_WINDOWS][16];
    int nw = ks__w_windows(g, win);
    fprintf(out, "\n%-20s", "KPI");
    for (int i = 0; i < nw; i++)
        ks__w_cell(out, win[i]);
    fputc('\n', out);
    for (size_t k = 0; k < sizeof ks__w_kpis / sizeof *ks__w_kpis; k++) {
        fprintf(out, "%-20s", ks__w_kpis[k]);
        for (int i = 0; i < nw; i++) {
            char field[192];
            snprintf(field, sizeof field, "%s:%s", ks__w_kpis[k], win[i]);
            ks__w_cell(out, ks__w_field(g, field));
        }
        fputc('\n', out);
    }
    freeReplyObject(g);
}

static void ks__w_segments(ks__watch *w, FILE *out)
{
    char *names[KS__W_MAX_SEGMENTS];
    int n = 0;
    long total = 0;
    size_t plen = strlen(w->prefix) + strlen("segment:");
    char cursor[32] = "0";
    do {
        redisReply *r = ks__w_cmd(w, "SCAN %s MATCH %ssegment:* COUNT 200", cursor, w->prefix);
        if (!r)
            goto out;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            freeReplyObject(r);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            if (!k || strlen(k) <= plen)
                continue;
            bool dup = false; /* SCAN may repeat a key */
            for (int j = 0; j < n && !dup; j++)
                dup = strcmp(names[j], k + plen) == 0;
            if (dup)
                continue;
            total++;
            if (n < KS__W_MAX_SEGMENTS) {
                names[n] = strdup(k + plen);
                if (names[n])
                    n++;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);

    qsort(names, (size_t)n, sizeof *names, ks__w_strcmp);
    fprintf(out, "\n%-20s", "segment");
    ks__w_cell(out, "revenue:24h");
    ks__w_cell(out, "active:24h");
    fputc('\n', out);
    if (n == 0)
        fprintf(out, "%-20s", "-");
    for (int i = 0; i < n && i < KS__W_SHOWN_SEGMENTS; i++) {
        redisReply *r = ks__w_cmd(w, "HMGET %ssegment:%s revenue:24h active_customers:24h",
                                  w->prefix, names[i]);
        if (!r)
            goto out;
        bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2;
        fprintf(out, "%-20.20s", names[i]);
        ks__w_cell(out, ok ? r->element[0]->str : NULL);
        ks__w_cell(out, ok ? r->element[1]->str : NULL);
        fputc('\n', out);
        freeReplyObject(r);
    }
    if (n == 0)
        fputc('\n', out);
    if (total > KS__W_SHOWN_SEGMENTS)
        fprintf(out, "(%ld more segments)\n", total - KS__W_SHOWN_SEGMENTS);
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
}

static void ks__w_risk(ks__watch *w, FILE *out)
{
    redisReply *card = ks__w_cmd(w, "ZCARD %srisk", w->prefix);
    if (!card)
        return;
    if (card->type == REDIS_REPLY_INTEGER)
        fprintf(out, "\nat-risk customers %lld   top 5:\n", card->integer);
    else
        fprintf(out, "\nat-risk customers -   top 5:\n");
    freeReplyObject(card);
    redisReply *top = ks__w_cmd(w, "ZREVRANGE %srisk 0 4 WITHSCORES", w->prefix);
    if (!top)
        return;
    if (top->type != REDIS_REPLY_ARRAY || top->elements == 0)
        fprintf(out, "  -\n");
    for (size_t i = 0; top->type == REDIS_REPLY_ARRAY && i + 1 < top->elements; i += 2) {
        const char *id = top->element[i]->str;
        double score = strtod(top->element[i + 1]->str, NULL);
        redisReply *c =
            ks__w_cmd(w, "HMGET %scustomer:%s risk_level risk_reasons", w->prefix, id);
        bool ok = c && c->type == REDIS_REPLY_ARRAY && c->elements == 2;
        const char *level = ok && c->element[0]->str ? c->element[0]->str : "-";
        const char *why = ok && c->element[1]->str ? c->element[1]->str : "-";
        fprintf(out, "  %-24.24s %6.1f  %-6.6s %.60s\n", id, score, level, why);
        if (c)
            freeReplyObject(c);
        if (!w->c)
            break;
    }
    freeReplyObject(top);
}

static void ks__w_alerts(ks__watch *w, FILE *out)
{
    redisReply *r = ks__w_cmd(w, "XREVRANGE %salerts + - COUNT 5", w->prefix);
    if (!r)
        return;
    fprintf(out, "\nlatest alerts:\n");
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0)
        fprintf(out, "  -\n");
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        /* The entry id's first part is when it was added, in ms. */
        char when[32];
        ks__w_utc(e->element[0]->str, when, sizeof when);
        char line[256];
        size_t used = 0;
        line[0] = '\0';
        redisReply *fv = e->element[1];
        for (size_t j = 0; j + 1 < fv->elements && used < sizeof line - 1; j += 2) {
            int m = snprintf(line + used, sizeof line - used, "%s%s=%s", j ? " " : "",
                             fv->element[j]->str ? fv->element[j]->str : "",
                             fv->element[j + 1]->str ? fv->element[j + 1]->str : "");
            if (m < 0)
                break;
            used += (size_t)m;
        }
        fprintf(out, "  %s  %.100s\n", when, line);
    }
    freeReplyObject(r);
}

/* Renders one frame into a memory buffer. Returns 0, or -1 if Redis could
 * not be read (reason in err). Caller owns *text; free with free(). */
static int ks__w_render(ks__watch *w, char **text, size_t *len, char *err, size_t errn)
{
    FILE *out = open_memstream(text, len);
    if (!out) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    char masked[512];
    ks_redis_url_mask(w->url_text, masked, sizeof masked);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char nowbuf[40], nowms[32];
    snprintf(nowms, sizeof nowms, "%lld", (long long)now.tv_sec * 1000);
    ks__w_utc(nowms, nowbuf, sizeof nowbuf);
    if (w->tty)
        fputs("\x1b[H\x1b[2J", out); /* home + clear, in the same write as the frame */
    else if (!w->once)
        fputc('\n', out); /* blank line between plain blocks */
    fprintf(out, "kpistream watch  %s  prefix %s  %s\n", masked, w->prefix, nowbuf);
    if (w->note)
        fprintf(out, "%s\n", w->note);

    int rc = 0;
    if (!w->c && ks__w_connect(w, err, errn) != 0) {
        fprintf(out, "\nredis: %s (retrying every %d ms)\n", err, w->interval_ms);
        rc = -1;
    } else {
        ks__w_meta(w, out);
        ks__w_global(w, out);
        ks__w_segments(w, out);
        ks__w_risk(w, out);
        ks__w_alerts(w, out);
        if (!w->c) {
            snprintf(err, errn, "connection to %s:%d lost", w->url.host, w->url.port);
            fprintf(out, "\nredis: %s (retrying)\n", err);
            rc = -1;
        }
    }
    if (fclose(out) != 0) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    return rc;
}

static void ks__w_write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(STDOUT_FILENO, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

int ks_watch_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"redis", required_argument, NULL, 'r'},
        {"prefix", required_argument, NULL, 'p'},
        {"interval-ms", required_argument, NULL, 'i'},
        {"redis-password-file", required_argument, NULL, 'f'},
        {"once", no_argument, NULL, 'o'},
        {"note", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    ks__watch w = {.prefix = "kpi:", .interval_ms = 1000};
    const char *url = getenv("KPISTREAM_REDIS");
    const char *pwfile = getenv("KPISTREAM_REDIS_PASSWORD_FILE");
    if (!url || !*url)
        url = "redis://127.0.0.1:6379/0";

    optind = 0; /* full re-initialisation: main may have run getopt already */
    int c;
    while ((c = getopt_long(argc, argv, "+r:p:i:f:on:h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            url = optarg;
            break;
        case 'p':
            w.prefix = optarg;
            break;
        case 'i': {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 100 || v > 3600000) {
                fprintf(stderr, "watch: --interval-ms must be an integer 100..3600000, got \"%s\"\n",
                        optarg);
                return 2;
            }
            w.interval_ms = (int)v;
            break;
        }
        case 'f':
            pwfile = optarg;
            break;
        case 'o':
            w.once = true;
            break;
        case 'n':
            w.note = optarg;
            break;
        case 'h':
            ks__w_usage(stdout);
            return 0;
        default:
            ks__w_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "watch: unexpected argument \"%s\"\n", argv[optind]);
        ks__w_usage(stderr);
        return 2;
    }
    char err[512];
    if (ks_redis_url_flags(url, pwfile, &w.url, err, sizeof err) != 0) {
        fprintf(stderr, "watch: %s\n", err);
        return 2;
    }
    snprintf(w.url_text, sizeof w.url_text, "%s", url);
    w.tty = !w.once && isatty(STDOUT_FILENO);

    sigset_t stop_sigs, old_mask;
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop_sigs, &old_mask);

    int rc = 0;
    for (;;) {
        char *text = NULL;
        size_t len = 0;
        int r = ks__w_render(&w, &text, &len, err, sizeof err);
        if (text)
            ks__w_write_all(text, len);
        free(text);
        if (w.once) {
            if (r != 0) {
                fprintf(stderr, "watch: %s\n", err);
                rc = 1;
            }
            break;
        }
        struct timespec wait = {.tv_sec = w.interval_ms / 1000,
                                .tv_nsec = (long)(w.interval_ms % 1000) * 1000000L};
        int sig = sigtimedwait(&stop_sigs, NULL, &wait);
        if (sig == SIGINT || sig == SIGTERM)
            break;
    }
    ks__w_disconnect(&w);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    return rc;
}
