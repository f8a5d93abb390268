/* libFuzzer target: the engine's reader of what Redis holds, i.e. the reply
 * of the flush's HGETALL of <prefix>agg:state (group sums, each partition's
 * token, next offset and clock, the group clock, the highest HLL bucket per
 * window) as ks_engine_build_flush() takes it (src/engine/flush.c,
 * ks_flusher_prepare). Redis is trusted less than our own memory: a user with
 * write access to the prefix, a restore from an old dump or another version
 * can put anything there.
 *
 * The sink's own reply reader (src/redis/sink.c: hiredis's parser, then a
 * static flattening of the redisReply tree) is not a target: it is hiredis
 * code plus a walk over hiredis objects, not separable from a connection
 * without changing sink.c. This target takes the flattened strings, which is
 * what our code parses.
 *
 * Each input: a fresh engine (event clock, one partition) fed a fixed handful
 * of events, then two flushes built from the input's reply: its lines are the
 * HGETALL's field/value strings. Invariants: a result of 0, KS_ERR_NOMEM or
 * KS_ERR_RANGE (a sum would overflow: refused, with a message); no crash,
 * sanitizer report, leak, or run past libFuzzer's -timeout (a hostile clock
 * or bucket number must not make the flush loop for ages).
 *
 * Open finding (README.md): a group clock_ms far behind the events makes the
 * flush loop over every HLL bucket in between. With KS_FUZZ_MASK_OLD_CLOCK=1
 * in the environment, inputs whose clock_ms is more than 400 days before the
 * events are skipped, so a long run explores the rest instead of stopping
 * there. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "kpistream/log.h"

#define T0 1794996000000LL
#define WALL (T0 + 400LL * 86400000LL)
#define MAX_STRS 4096

static const char *const events[] = {
    "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1794996000000,"
    "\"segment\":\"smb\",\"channel\":\"web\"}",
    "{\"event_id\":\"e2\",\"type\":\"purchase\",\"customer_id\":\"c1\",\"ts\":1794996060000,"
    "\"order_id\":\"o1\",\"amount\":12.5,\"product\":\"p1\"}",
    "{\"event_id\":\"e3\",\"type\":\"ticket\",\"customer_id\":\"c2\",\"ts\":1794996120000,"
    "\"ticket_id\":\"t1\",\"action\":\"opened\",\"complaint\":true,\"category\":\"billing\"}",
    "{\"event_id\":\"e4\",\"type\":\"ticket\",\"customer_id\":\"c2\",\"ts\":1794996180000,"
    "\"ticket_id\":\"t1\",\"action\":\"responded\"}",
    "{\"event_id\":\"e5\",\"type\":\"survey\",\"customer_id\":\"c1\",\"ts\":1794996240000,"
    "\"kind\":\"nps\",\"score\":3}",
    "{\"event_id\":\"e6\",\"type\":\"marketing_spend\",\"ts\":1794996300000,\"amount\":100}",
    "{\"event_id\":\"e7\",\"type\":\"subscription\",\"customer_id\":\"c3\",\"ts\":1794996360000,"
    "\"action\":\"cancel\"}",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ks_config cfg;
    static bool init;
    if (!init) {
        if (ks_config_init_defaults(&cfg) != 0) abort();
        cfg.clock = KS_CLOCK_EVENT;
        /* Fencing is logged at every input that takes the partition: silence. */
        ks_log_set_level((ks_log_level)(KS_LOG_ERROR + 1));
        init = true;
    }
    /* The reply: one string per line. */
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    static const char *strs[MAX_STRS];
    static size_t lens[MAX_STRS];
    size_t n = 0;
    for (size_t i = 0; i <= size && n < MAX_STRS;) {
        const char *nl = memchr(buf + i, '\n', size - i);
        size_t l = nl ? (size_t)(nl - (buf + i)) : size - i;
        strs[n] = buf + i;
        lens[n++] = l;
        buf[i + l] = '\0';
        i += l + 1;
        if (!nl) break;
    }

    static int mask = -1;
    if (mask < 0) mask = getenv("KS_FUZZ_MASK_OLD_CLOCK") != NULL;
    for (size_t i = 0; mask && i + 1 < n; i += 2) {
        /* as flush.c reads values: strtoll of at most 31 bytes */
        if (lens[i] == 8 && memcmp(strs[i], "clock_ms", 8) == 0) {
            char v[32];
            snprintf(v, sizeof v, "%.*s", (int)(lens[i + 1] < 31 ? lens[i + 1] : 31), strs[i + 1]);
            if (strtoll(v, NULL, 10) < T0 - 400LL * 86400000LL) {
                free(buf);
                return 0;
            }
        }
    }

    char err[KS_ERRSTR_SIZE];
    ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
    if (!e) abort();
    ks_engine_set_member(e, "fuzz");
    if (ks_engine_assign(e, "t", 0) != 0) abort();
    ks_engine_set_restore_point(e, "t", 0, -1, "", INT64_MIN);
    for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
        ks_reject why;
        ks_engine_process(e, "t", 0, (int64_t)i, events[i], strlen(events[i]), WALL, &why);
    }
    ks_engine_set_eof(e, "t", 0, true);
    ks_batch b;
    ks_batch_init(&b);
    for (int round = 0; round < 2; round++) {
        ks_engine_tick(e, WALL);
        ks_engine_flush_read(e, &b);
        int rc = ks_engine_build_flush(e, strs, lens, n, &b, WALL, err, sizeof err);
        if (rc != 0 && rc != KS_ERR_NOMEM && rc != KS_ERR_RANGE) abort();
        if (rc != 0 || ks_engine_fenced(e)) break;
        ks_engine_flush_done(e);
    }
    ks_batch_reset(&b);
    ks_engine_free(e);
    free(buf);
    return 0;
}
