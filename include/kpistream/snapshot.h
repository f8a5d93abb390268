/* Partition snapshots on disk (state_dir): written in the background at an
 * interval and when partitions are revoked or the process stops, loaded when
 * a partition is assigned so that only the messages after the snapshot are
 * replayed (docs/architecture.md, "Snapshots"; docs/config.md, state_dir).
 *
 * Writing forks: the child holds a copy-on-write image of the state as of
 * the flush just built and writes every assigned partition to
 * <state_dir>/<prefix><topic>.<partition>.snap.tmp, fsyncs it, and exits;
 * the parent's consume loop stalls only for the fork (short because the
 * state's big arrays are in 2 MiB pages, bigalloc.h; once the child is
 * reaped, a thread restores the 2 MiB pages the parent's writes split
 * meanwhile). The parent renames a
 * temp file over the snapshot (the previous one kept as .prev) only once
 * the flush the snapshot belongs to is known written, so a snapshot on disk
 * is never ahead of the outputs in Redis and a half-written one is never
 * read. */
#ifndef KPISTREAM_SNAPSHOT_H
#define KPISTREAM_SNAPSHOT_H

#include "kpistream/config.h"
#include "kpistream/engine.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct ks_snapshots ks_snapshots;

/** Creates the snapshot store of cfg->state_dir (created if missing).
 *  Returns NULL with errstr "" when state_dir is unset (snapshots off), or
 *  NULL with errstr naming the problem. Caller owns it; free with
 *  ks_snapshots_free(). cfg is borrowed and must outlive it. */
ks_snapshots *ks_snapshots_new(const ks_config *cfg, char *errstr, size_t errsize);

/** Waits for a snapshot being written (and commits it if its flush was
 *  written), then frees s (NULL is ignored). */
void ks_snapshots_free(ks_snapshots *s);

/** A flush was just built and sent, nothing consumed since: if
 *  snapshot_interval has passed since the last snapshot and none is being
 *  written, starts one of every assigned partition in the background. */
void ks_snapshots_after_build(ks_snapshots *s, ks_engine *e, int64_t mono_ms);

/** The flush sent last was written (ok) or failed: a snapshot started with
 *  it is committed when written, or dropped. */
void ks_snapshots_flush_result(ks_snapshots *s, bool ok);

/** A flush just succeeded and nothing was consumed since (revocation, stop):
 *  snapshots every assigned partition now, in the background; wait: and
 *  waits for it. */
void ks_snapshots_now(ks_snapshots *s, ks_engine *e, bool wait);

/** Reaps a finished writer and commits its files if their flush was
 *  written (call once per loop turn). */
void ks_snapshots_poll(ks_snapshots *s);

/** After ks_engine_set_restore_point() of a newly assigned partition: loads
 *  its newest valid snapshot (the current one, else the previous), logging
 *  why any was ignored. Returns true if one was loaded. */
bool ks_snapshots_restore(ks_snapshots *s, ks_engine *e, const char *topic, int32_t partition);

typedef struct ks_snapshots_stats {
    int64_t written;       /* snapshots committed (all partitions of one write count once) */
    int64_t failed;        /* writes that failed or whose flush failed */
    int64_t loaded;        /* partitions restored from a snapshot */
    int64_t ignored;       /* snapshot files ignored on restore (logged why) */
    int64_t last_bytes;    /* bytes of the last committed write (all partitions) */
    double last_write_s;   /* its duration, fork to files synced */
    double last_stall_s;   /* consume-loop stall of the last start (the fork) */
    double max_stall_s;    /* the longest so far */
} ks_snapshots_stats;

/** Fills the counters so far. */
void ks_snapshots_stats_get(const ks_snapshots *s, ks_snapshots_stats *out);

#endif
