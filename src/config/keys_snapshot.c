/* The partition snapshots' keys (src/snapshot/). */
#include "config/internal.h"

static const ks__key ks__keys[] = {
    {.name = "state_dir", .kind = KS__K_PATH, .off = KS__OFF(state_dir), .def = NULL,
     .doc = "Where `run` keeps partition snapshots, so a restart or a takeover loads the "
            "newest one and replays only the messages after it instead of the whole retained "
            "log ([architecture.md](architecture.md#snapshots-restore-without-replaying-the-whole-"
            "log)). Created if missing (mode 0700); must be writable, or `run` exits 1 naming "
            "it. Files: `<state_dir>/<prefix><topic>.<partition>.snap` and `.snap.prev` (prefix "
            "and topic with bytes other than `A-Za-z0-9._-` as `%XX`, e.g. "
            "`kpi%3Acustomer-events.3.snap`), `.snap.tmp` while one is written. Put it on a "
            "persistent volume of the member (one per replica); about 0.6 KB per customer per "
            "generation, two generations kept. `\"\"` switches snapshots off."},
    {.name = "snapshot_interval", .alias = "snapshot_interval_ms", .kind = KS__K_DUR,
     .off = KS__OFF(snapshot_interval_ms), .min = 1000, .max = 7 * KS__MS_DAY, .def = "5m",
     .doc = "Time between background snapshots (taken right after a flush, by a forked "
            "child). Snapshots are also written after the flush before partitions are revoked "
            "and after the final flush of a stop. Shorter: less to replay after a crash, more "
            "disk writes."},
};

KS__MODULE(snapshot, ks__keys, NULL, NULL, NULL);
