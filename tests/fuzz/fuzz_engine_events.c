/* libFuzzer target: a stream of producer messages through the engine
 * (ks_engine_process: parse, validate, dedup, clock checks, per-customer
 * state, windows, sketches, risk) and the flush built from it.
 *
 * fuzz_event covers the parser alone; this one covers what valid but hostile
 * events do downstream: extreme amounts and times within the documented
 * ranges, many segments and channels, duplicate ids, out-of-order times.
 * The input is the messages, one per line (the first byte of a line picks
 * the partition 0..3), fed to a fresh engine on the event clock, then one
 * flush built as against an empty Redis.
 *
 * Invariants: every message gets a verdict and the engine's counts add up to
 * the messages fed; a flush builds with 0 or KS_ERR_RANGE (a sum that would
 * overflow, refused); no crash, sanitizer report, leak or timeout. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "kpistream/log.h"

#define WALL 1900000000000LL /* 2030: events up to then are not in the future */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ks_config cfg;
    static bool init;
    if (!init) {
        if (ks_config_init_defaults(&cfg) != 0) abort();
        cfg.clock = KS_CLOCK_EVENT;
        cfg.max_segments = 4; /* reach "other" quickly */
        cfg.max_channels = 2;
        ks_log_set_level((ks_log_level)(KS_LOG_ERROR + 1));
        init = true;
    }
    char err[KS_ERRSTR_SIZE];
    ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
    if (!e) abort();
    ks_engine_set_member(e, "fuzz");
    for (int p = 0; p < 4; p++) {
        if (ks_engine_assign(e, "t", p) != 0) abort();
        ks_engine_set_restore_point(e, "t", p, -1, "", INT64_MIN);
    }
    int64_t offsets[4] = {0};
    long long fed = 0, verdicts[3] = {0};
    const char *s = (const char *)data;
    for (size_t i = 0; i < size;) {
        const char *nl = memchr(s + i, '\n', size - i);
        size_t l = nl ? (size_t)(nl - (s + i)) : size - i;
        if (l > 0) {
            int p = (unsigned char)s[i] % 4;
            ks_reject why;
            ks_verdict v = ks_engine_process(e, "t", p, offsets[p]++, s + i + 1, l - 1, WALL, &why);
            if (v != KS_ACCEPTED && v != KS_DUPLICATE && v != KS_REJECTED) abort();
            verdicts[v]++;
            fed++;
        }
        i += l + 1;
    }
    ks_engine_stats st;
    ks_engine_stats_get(e, &st);
    if (st.processed != verdicts[KS_ACCEPTED] || st.duplicates != verdicts[KS_DUPLICATE] ||
        st.rejected != verdicts[KS_REJECTED] || st.processed + st.duplicates + st.rejected != fed)
        abort();
    for (int p = 0; p < 4; p++)
        ks_engine_set_eof(e, "t", p, true);
    ks_batch b;
    ks_batch_init(&b);
    ks_engine_tick(e, WALL);
    ks_engine_flush_read(e, &b);
    int rc = ks_engine_build_flush(e, NULL, NULL, 0, &b, WALL, err, sizeof err);
    if (rc != 0 && rc != KS_ERR_RANGE) abort();
    ks_batch_reset(&b);
    ks_engine_free(e);
    return 0;
}
