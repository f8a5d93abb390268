/* Emitting a planned stream (ks_gen_run(), the loop of `kpistream gen`):
 * pacing, live mode, and the outputs of gen_sink.c.
 *
 * Live mode (docs/generator.md): the caller plans the history plus
 * `--live-days` beyond it. History (simulated times up to history_end_ms) is
 * emitted as fast as the rate allows with its own times. After that every
 * event is stamped with the wall clock at emission (ks_gen_stamp()), so it
 * always lies within [now - days, now] for a consumer using --clock wall, and
 * the simulation runs on at whatever speed the rate gives (rate 0: simulated
 * time advances 1:1 with the wall clock).
 */
#include "gen/gen_sink.h"
#include "kpistream/clock.h"
#include "kpistream/err.h"
#include "kpistream/gen.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

__attribute__((format(printf, 2, 3))) static void ks__say(const ks_gen_run_opts *o,
                                                          const char *fmt, ...)
{
    if (!o->say)
        return;
    char msg[KS_ERRSTR_SIZE + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    o->say(o->ctx, msg);
}

/* Sleeps until the monotonic clock reaches until_ns (or a signal arrives). */
static void ks__sleep_until(int64_t until_ns)
{
    int64_t d = until_ns - ks_mono_ns();
    if (d <= 0)
        return;
    struct timespec ts = {.tv_sec = d / 1000000000LL, .tv_nsec = d % 1000000000LL};
    nanosleep(&ts, NULL); /* EINTR ends it early; the loop re-checks the stop flag */
}

int ks_gen_run(ks_gen *g, const ks_gen_run_opts *o, uint64_t *lines)
{
    char errstr[KS_ERRSTR_SIZE];
    *lines = 0;
    ks__gen_sink *sink = ks__gen_sink_open(o->out, o->brokers, o->topic, errstr, sizeof errstr);
    if (!sink) {
        ks__say(o, "%s", errstr);
        return 1;
    }
    int rc = 0;
    uint64_t paced = 0;
    int64_t pace0 = ks_mono_ns(), live0 = 0, last_ts = INT64_MIN;
    int in_live = 0;
    char buf[KS_GEN_MAX_EVENT];
    while (!*o->stop && (o->limit == 0 || *lines < o->limit)) {
        int64_t sim = ks_gen_peek_ts(g);
        if (sim == INT64_MAX)
            break;
        if (o->live && !in_live && sim >= o->history_end_ms) {
            in_live = 1;
            live0 = ks_mono_ns();
            pace0 = live0;
            paced = 0;
            if (!o->quiet)
                ks__say(o, "history done (%" PRIu64 " events), live now", *lines);
        }
        if (o->rate > 0) {
            ks__sleep_until(pace0 + (int64_t)((double)paced * 1e9 / o->rate));
            paced++;
        } else if (in_live) {
            /* No rate: simulated time runs at wall-clock speed. */
            ks__sleep_until(live0 + (sim - o->history_end_ms) * 1000000LL);
        }
        if (*o->stop)
            break;
        if (in_live) {
            int64_t now = ks_wall_ms();
            last_ts = now > last_ts ? now : last_ts;
            ks_gen_stamp(g, last_ts);
        }
        size_t len, keylen;
        const char *key;
        int64_t ts;
        int r = ks_gen_next(g, buf, sizeof buf, &len, &key, &keylen, &ts);
        if (r == 0)
            break;
        if (r < 0) {
            ks__say(o, "generator failed: %s", ks_strerror(r));
            rc = 1;
            break;
        }
        if (ks__gen_sink_write(sink, buf, len, key, keylen, errstr, sizeof errstr) != 0) {
            ks__say(o, "%s", errstr);
            rc = 1;
            break;
        }
        ++*lines;
        last_ts = ts > last_ts ? ts : last_ts; /* live stamps never go below it */
    }
    if (ks__gen_sink_close(sink, errstr, sizeof errstr) != 0) {
        ks__say(o, "%s", errstr);
        rc = 1;
    }
    return rc;
}
