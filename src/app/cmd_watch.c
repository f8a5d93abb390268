/* `kpistream watch`: a refreshing terminal summary of the Redis output.
 *
 * Each refresh reads a handful of keys (src/redis/watch.c), renders the whole
 * screen into one memory buffer and writes it with a single write, so the
 * terminal never shows a half-drawn frame. events/s is the change of
 * meta.events_processed between two refreshes over the time between them,
 * i.e. the pipeline's accepted-event throughput as seen from Redis (it moves
 * in steps of the pipeline's flush interval).
 *
 * Signals: SIGINT/SIGTERM are blocked and taken with sigtimedwait(), which is
 * also the wait between refreshes, so Ctrl-C ends the program at once without
 * a handler or a flag.
 */
#include "app/cmds.h"
#include "app/internal.h"

#include "kpistream/clock.h"
#include "kpistream/config.h"
#include "kpistream/watch.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KS__W_MAX_WINDOWS 8
#define KS__W_COLW 12
#define KS__W_SAMPLES 16
#define KS__W_RATE_SPAN_MS 5000

typedef struct ks__watch_args {
    ks_reader_args r;
    const char *note;
    long interval_ms;
    bool once;
} ks__watch_args;

typedef struct ks__watch {
    const char *url_text; /* as given, shown masked */
    const char *prefix;
    const char *note; /* --note: a line shown under the title, or NULL */
    int interval_ms;
    bool once;
    bool tty;
    /* events/s: recent (flush time, events_processed) samples, oldest first */
    int64_t sample_t[KS__W_SAMPLES];
    long long sample_ev[KS__W_SAMPLES];
    int nsamples;
} ks__watch;

#define KS__OPT(name, letter, arg, help, type, field)                                           \
    {name, arg, help, type, offsetof(ks__watch_args, field), 0, 0, letter}

static const ks_cli_opt ks__opts[] = {
    KS_READER_OPTS(ks__watch_args, r),
    {"interval-ms", "N", "refresh interval, 100..3600000 (default 1000)", KS_CLI_INT,
     offsetof(ks__watch_args, interval_ms), 100, 3600000, 'i'},
    KS__OPT("once", 'o', NULL, "print one summary and exit (plain text, for scripts)", KS_CLI_BOOL,
            once),
    KS__OPT("note", 'n', "TEXT", "a line shown under the title (make demo: the dashboard's URL)",
            KS_CLI_STR, note),
    KS_CLI_END,
};

static const ks_cli_cmd ks__cli = {
    .name = "watch",
    .prog = "watch",
    .usage = "kpistream watch --redis URL [--redis-password-file FILE] [--prefix kpi:]\n"
             "                       [--interval-ms 1000] [--once] [--note TEXT]",
    .about = "Shows what a running kpistream writes to Redis: throughput and counters\n"
             "(meta), the main KPIs per window, revenue and active customers per segment,\n"
             "the customers most at risk of churning and the latest churn alerts.\n"
             "Missing values show as '-'. Ctrl-C to quit. Exit 0 after SIGINT/SIGTERM\n"
             "or one --once summary, 1 if --once cannot read Redis, 2 on a usage error.\n",
    .opts = ks__opts,
    .usage_status = 2,
};

/* KPI rows of the global table, in display order. */
static const char *const ks__w_kpis[] = {
    "events", "active_customers", "new_customers", "orders", "revenue", "aov",
    "purchase_frequency", "engagement", "csat", "nps", "churn_rate", "complaint_rate",
    "conversion_rate", "clv",
};

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
static int ks__w_windows(const ks_watch_hash *g, char win[][16])
{
    int nw = 0;
    int64_t len[KS__W_MAX_WINDOWS];
    for (size_t i = 0; i < g->n && nw < KS__W_MAX_WINDOWS; i++) {
        const char *f = g->kv[2 * i];
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
        t = ks_mono_ns() / 1000000;
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

static void ks__w_meta(ks__watch *w, const ks_watch_view *v, FILE *out)
{
    const ks_watch_hash *m = &v->meta;
    const char *processed = ks_watch_field(m, "events_processed");
    const char *upd = ks_watch_field(m, "updated_at_ms");
    char rate[48] = "-";
    if (processed)
        ks__w_rate(w, strtoll(processed, NULL, 10), upd, rate, sizeof rate);
    if (upd) {
        /* A pipeline that stopped flushing leaves its last rate behind; say so. */
        long long age = (long long)ks_wall_ms() - strtoll(upd, NULL, 10);
        if (age > KS__W_RATE_SPAN_MS && age > 3LL * w->interval_ms)
            snprintf(rate, sizeof rate, "0 (no flush for %llds)", age / 1000);
    }
    char clock[32], updated[32];
    ks__w_utc(ks_watch_field(m, "clock_ms"), clock, sizeof clock);
    ks__w_utc(upd, updated, sizeof updated);
    const char *rej = ks_watch_field(m, "events_rejected");
    const char *dup = ks_watch_field(m, "duplicates");
    fprintf(out, "events processed %-12s rejected %-10s duplicates %-10s events/s %s\n",
            processed ? processed : "-", rej ? rej : "-", dup ? dup : "-", rate);
    fprintf(out, "window clock     %-22s  last flush %s\n", clock, updated);
    if (m->n == 0)
        fprintf(out, "(no %smeta yet: is kpistream run writing to this Redis and prefix?)\n",
                w->prefix);
}

static void ks__w_global(const ks_watch_view *v, FILE *out)
{
    char win[KS__W_MAX_WINDOWS][16];
    int nw = ks__w_windows(&v->global, win);
    fprintf(out, "\n%-20s", "KPI");
    for (int i = 0; i < nw; i++)
        ks__w_cell(out, win[i]);
    fputc('\n', out);
    for (size_t k = 0; k < sizeof ks__w_kpis / sizeof *ks__w_kpis; k++) {
        fprintf(out, "%-20s", ks__w_kpis[k]);
        for (int i = 0; i < nw; i++) {
            char field[192];
            snprintf(field, sizeof field, "%s:%s", ks__w_kpis[k], win[i]);
            ks__w_cell(out, ks_watch_field(&v->global, field));
        }
        fputc('\n', out);
    }
}

static void ks__w_segments(const ks_watch_view *v, FILE *out)
{
    fprintf(out, "\n%-20s", "segment");
    ks__w_cell(out, "revenue:24h");
    ks__w_cell(out, "active:24h");
    fputc('\n', out);
    if (v->nseg == 0)
        fprintf(out, "%-20s\n", "-");
    for (size_t i = 0; i < v->nseg; i++) {
        fprintf(out, "%-20.20s", v->seg[i].name);
        ks__w_cell(out, v->seg[i].revenue_24h);
        ks__w_cell(out, v->seg[i].active_24h);
        fputc('\n', out);
    }
    if (v->seg_total > KS_WATCH_SEGMENTS)
        fprintf(out, "(%ld more segments)\n", v->seg_total - KS_WATCH_SEGMENTS);
}

static void ks__w_risk(const ks_watch_view *v, FILE *out)
{
    if (v->at_risk >= 0)
        fprintf(out, "\nat-risk customers %lld   top %d:\n", v->at_risk, KS_WATCH_TOP);
    else
        fprintf(out, "\nat-risk customers -   top %d:\n", KS_WATCH_TOP);
    if (v->nrisk == 0)
        fprintf(out, "  -\n");
    for (size_t i = 0; i < v->nrisk; i++)
        fprintf(out, "  %-24.24s %6.1f  %-6.6s %.60s\n", v->risk[i].id, v->risk[i].score,
                v->risk[i].level ? v->risk[i].level : "-",
                v->risk[i].reasons ? v->risk[i].reasons : "-");
}

static void ks__w_alerts(const ks_watch_view *v, FILE *out)
{
    fprintf(out, "\nlatest alerts:\n");
    if (v->nalert == 0)
        fprintf(out, "  -\n");
    for (size_t i = 0; i < v->nalert; i++) {
        /* The entry id's first part is when it was added, in ms. */
        char when[32];
        ks__w_utc(v->alert[i].id, when, sizeof when);
        fprintf(out, "  %s  %.100s\n", when, v->alert[i].text ? v->alert[i].text : "");
    }
}

/* Reads Redis and renders one frame into a memory buffer. Returns 0, or -1
 * if Redis could not be read (reason in err). Caller owns *text; free with
 * free(). */
static int ks__w_frame(ks__watch *w, ks_watch_reader *rd, char **text, size_t *len, char *err,
                       size_t errn)
{
    ks_watch_view v;
    memset(&v, 0, sizeof v);
    int r = ks_watch_read(rd, &v, err, errn);
    FILE *out = open_memstream(text, len);
    if (!out) {
        ks_watch_view_reset(&v);
        snprintf(err, errn, "out of memory");
        return -1;
    }
    char masked[512], nowms[32], nowbuf[40];
    ks_redis_url_mask(w->url_text, masked, sizeof masked);
    snprintf(nowms, sizeof nowms, "%lld", (long long)(ks_wall_ms() / 1000 * 1000));
    ks__w_utc(nowms, nowbuf, sizeof nowbuf);
    if (w->tty)
        fputs("\x1b[H\x1b[2J", out); /* home + clear, in the same write as the frame */
    else if (!w->once)
        fputc('\n', out); /* blank line between plain blocks */
    fprintf(out, "kpistream watch  %s  prefix %s  %s\n", masked, w->prefix, nowbuf);
    if (w->note)
        fprintf(out, "%s\n", w->note);
    if (r == KS_WATCH_UNREACHABLE) {
        fprintf(out, "\nredis: %s (retrying every %d ms)\n", err, w->interval_ms);
    } else if (r == KS_WATCH_LOST) {
        fprintf(out, "\nredis: %s (retrying)\n", err);
    } else {
        ks__w_meta(w, &v, out);
        ks__w_global(&v, out);
        ks__w_segments(&v, out);
        ks__w_risk(&v, out);
        ks__w_alerts(&v, out);
    }
    ks_watch_view_reset(&v);
    if (fclose(out) != 0) {
        snprintf(err, errn, "out of memory");
        return -1;
    }
    return r == 0 ? 0 : -1;
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
    ks__watch_args a = {.interval_ms = 1000};
    ks_reader_args_init(&a.r);
    int rc = ks_cli_parse(&ks__cli, argc, argv, &a);
    if (rc != KS_CLI_GO)
        return rc;
    ks_redis_url url;
    if (ks_reader_target(&a.r, "watch", &url) != 0)
        return 2;
    ks__watch w = {.url_text = a.r.redis,
                   .prefix = a.r.prefix,
                   .note = a.note,
                   .interval_ms = (int)a.interval_ms,
                   .once = a.once,
                   .tty = !a.once && isatty(STDOUT_FILENO)};
    ks_watch_reader *rd = ks_watch_reader_new(&url, a.r.prefix);
    if (!rd) {
        fprintf(stderr, "watch: out of memory\n");
        return 1;
    }
    sigset_t old_mask;
    ks_cli_block_stop(&old_mask);
    rc = 0;
    char err[512];
    for (;;) {
        char *text = NULL;
        size_t len = 0;
        int r = ks__w_frame(&w, rd, &text, &len, err, sizeof err);
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
        if (ks_cli_wait_stop(w.interval_ms) != 0)
            break;
    }
    ks_watch_reader_free(rd);
    ks_cli_unblock(&old_mask);
    return rc;
}
