/* Private to src/snapshot/: the store's state, shared by its files. */
#ifndef KS_SNAPSHOT_INTERNAL_H
#define KS_SNAPSHOT_INTERNAL_H

#include "kpistream/snapshot.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define KS__PATH 4096

struct ks_snapshots {
    const ks_config *cfg;
    char dir[KS__PATH];
    /* The write in progress or waiting to be committed. */
    pid_t child;            /* 0: none running */
    bool pending;           /* a write's files are not committed or dropped yet */
    bool child_ok;          /* the child exited (and wrote what it could) */
    bool child_done;
    int flush;              /* the write's flush: 0 not settled, 1 written, -1 failed */
    int64_t started_ns;     /* monotonic: the fork */
    double write_s;         /* fork to the child's exit */
    char **paths;           /* snapshot paths of the write's partitions */
    int npaths;
    int64_t next_due_ms;    /* monotonic: the next interval snapshot */
    ks_snapshots_stats st;
};

/** Fills buf with the snapshot path of a partition: <dir>/<prefix><topic>.<partition>.snap,
 *  prefix and topic with bytes other than [A-Za-z0-9._-] as %XX. */
void ks__snap_path(const ks_snapshots *s, const char *topic, int32_t partition, char *buf,
                   size_t size);

/** Commits (renames the temp files of) or drops the pending write, by its
 *  flush's outcome. */
void ks__snap_settle(ks_snapshots *s);

#endif
