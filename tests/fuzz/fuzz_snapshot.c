/* libFuzzer target: the reader of partition snapshots (src/state/snapshot.c,
 * the <module>_snap.c parts, src/engine/engine_snap.c). Snapshots come from
 * a file in state_dir: a disk, a volume, an operator's copy; they are read
 * before anything else is known about them.
 *
 * Each input is a snapshot file. Its header's checksums are recomputed
 * first (ks_snap_reseal), so mutations reach the sections instead of
 * stopping at the checksum: the target checks that every structure a
 * snapshot can hold is either refused with a reason or loaded into a state
 * the engine then uses safely. A fresh engine (event clock, partition t[0],
 * a restore point after any snapshot) loads it; if taken, the restore is
 * finished, a handful of events is applied and two flushes are built.
 * Invariants: ks_engine_snapshot_load returns 0 or KS_ERR_PARSE with a
 * reason; the flushes build with 0, KS_ERR_NOMEM or KS_ERR_RANGE; no crash,
 * sanitizer report, leak or timeout.
 *
 * Seeds (corpus_snapshot/) are real snapshots of that engine fed these
 * events: KS_FUZZ_SNAPSHOT_SEEDS=<dir> writes them and exits. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kpistream/batch.h"
#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "kpistream/log.h"
#include "state/snapshot.h"

#define T0 1794996000000LL
#define WALL (T0 + 400LL * 86400000LL)

static const char *const events[] = {
    "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1794996000000,"
    "\"segment\":\"smb\",\"channel\":\"web\"}",
    "{\"event_id\":\"e2\",\"type\":\"purchase\",\"customer_id\":\"c1\",\"ts\":1794996060000,"
    "\"order_id\":\"o1\",\"amount\":12.5,\"product\":\"p1\",\"category\":\"shoes\"}",
    "{\"event_id\":\"e3\",\"type\":\"ticket\",\"customer_id\":\"c2\",\"ts\":1794996120000,"
    "\"ticket_id\":\"t1\",\"action\":\"opened\",\"complaint\":true,\"category\":\"billing\"}",
    "{\"event_id\":\"e4\",\"type\":\"ticket\",\"customer_id\":\"c2\",\"ts\":1794996180000,"
    "\"ticket_id\":\"t1\",\"action\":\"responded\",\"segment\":\"ent\"}",
    "{\"event_id\":\"e5\",\"type\":\"survey\",\"customer_id\":\"c1\",\"ts\":1794996240000,"
    "\"kind\":\"nps\",\"score\":3,\"segment\":\"ent\"}",
    "{\"event_id\":\"e6\",\"type\":\"marketing_spend\",\"ts\":1794996300000,\"amount\":100}",
    "{\"event_id\":\"e7\",\"type\":\"subscription\",\"customer_id\":\"c3\",\"ts\":1794996360000,"
    "\"action\":\"cancel\",\"channel\":\"app\"}",
    "{\"event_id\":\"e8\",\"type\":\"interaction\",\"customer_id\":\"c3\",\"ts\":1794999960000,"
    "\"channel\":\"social\"}",
};
#define NEV (sizeof events / sizeof events[0])

static ks_config cfg;

/* Feeds events[from..to) at offsets base + i. */
static void feed(ks_engine *e, size_t from, size_t to, int64_t base)
{
    for (size_t i = from; i < to; i++) {
        ks_reject why;
        ks_engine_process(e, "t", 0, base + (int64_t)i, events[i], strlen(events[i]), WALL, &why);
    }
}

/* Writes seeds: snapshots after 3, 5 and all events. */
static void write_seeds(const char *dir)
{
    static const size_t after[] = {3, 5, NEV};
    for (size_t k = 0; k < 3; k++) {
        char err[KS_ERRSTR_SIZE], path[512];
        ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
        if (!e || ks_engine_assign(e, "t", 0) != 0) abort();
        feed(e, 0, after[k], 0);
        ks_engine_set_eof(e, "t", 0, true);
        ks_engine_tick(e, WALL);
        ks_engine_customer c;
        ks_engine_customer_get(e, "c1", 2, &c); /* the partition at its clock, as a flush does */
        snprintf(path, sizeof path, "%s/seed_after_%zu_events", dir, after[k]);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || ks_engine_snapshot_write(e, 0, fd, T0, err, sizeof err) != 0) abort();
        close(fd);
        ks_engine_free(e);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (ks_config_init_defaults(&cfg) != 0) abort();
    cfg.clock = KS_CLOCK_EVENT;
    ks_log_set_level((ks_log_level)(KS_LOG_ERROR + 1));
    const char *seeds = getenv("KS_FUZZ_SNAPSHOT_SEEDS");
    if (seeds) {
        write_seeds(seeds);
        exit(0);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    if (size >= KS_SNAP_HEADER)
        ks_snap_reseal(buf, size);
    char err[KS_ERRSTR_SIZE], why[512];
    ks_engine *e = ks_engine_new(&cfg, err, sizeof err);
    if (!e) abort();
    ks_engine_set_member(e, "fuzz");
    if (ks_engine_assign(e, "t", 0) != 0) abort();
    ks_engine_set_restore_point(e, "t", 0, 1LL << 40, "", WALL);
    ks_engine_snapshot_info info;
    int rc = ks_engine_snapshot_load(e, "t", 0, buf, size, &info, why, sizeof why);
    if (getenv("KS_FUZZ_SNAPSHOT_VERBOSE")) /* what a seed reaches: loaded, or refused why */
        fprintf(stderr, "fuzz_snapshot: %s%s\n", rc == 0 ? "loaded" : "refused: ", rc == 0 ? "" : why);
    if (rc != 0 && (rc != KS_ERR_PARSE || !why[0])) abort();
    if (rc == 0) {
        /* The log ends before the restore point: the restore finishes
         * there; then new events and two flushes use the loaded state. */
        ks_engine_set_eof(e, "t", 0, true);
        ks_engine_tick(e, WALL);
        feed(e, 0, NEV, info.offset);
        ks_batch b;
        ks_batch_init(&b);
        for (int round = 0; round < 2; round++) {
            ks_engine_tick(e, WALL + round * 86400000LL);
            ks_engine_flush_read(e, &b);
            int frc = ks_engine_build_flush(e, NULL, NULL, 0, &b, WALL, err, sizeof err);
            if (frc != 0 && frc != KS_ERR_NOMEM && frc != KS_ERR_RANGE) abort();
            if (frc != 0)
                break;
            ks_engine_flush_done(e);
        }
        ks_batch_reset(&b);
    }
    ks_engine_free(e);
    free(buf);
    return 0;
}
