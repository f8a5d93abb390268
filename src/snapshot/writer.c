/* Writing snapshots in the background (snapshot.h): a fork per write.
 *
 * The child gets a copy-on-write image of the engine as it was right after a
 * flush was built, writes each assigned partition to a temp file, fsyncs
 * it, and exits with _exit (nothing of the parent's, neither Kafka nor Redis
 * connections nor stdio buffers, is touched). The parent's only cost in the
 * loop is fork() itself: copying the page tables (measured and reported as
 * the stall), one entry per 2 MiB for the state's big arrays (bigalloc.h),
 * then the pages it writes while the child runs are copied (memory cost: at
 * most the state size, in practice the pages the stream touches
 * meanwhile). Each such write splits a 2 MiB page into 4 KiB entries, which
 * the next fork would copy one by one: once the child is reaped, a thread
 * restores them (ks_big_collapse_start). */
#include "snapshot/internal.h"

#include "kpistream/bigalloc.h"
#include "kpistream/clock.h"
#include "kpistream/err.h"
#include "kpistream/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

ks_snapshots *ks_snapshots_new(const ks_config *cfg, char *errstr, size_t errsize)
{
    errstr[0] = '\0';
    if (!cfg->state_dir || !*cfg->state_dir)
        return NULL;
    if (mkdir(cfg->state_dir, 0700) < 0 && errno != EEXIST) {
        snprintf(errstr, errsize, "state_dir %s: cannot create it: %s", cfg->state_dir,
                 strerror(errno));
        return NULL;
    }
    if (access(cfg->state_dir, R_OK | W_OK | X_OK) < 0) {
        snprintf(errstr, errsize, "state_dir %s: %s (snapshots are written and read there)",
                 cfg->state_dir, strerror(errno));
        return NULL;
    }
    ks_snapshots *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errstr, errsize, "snapshots: out of memory");
        return NULL;
    }
    s->cfg = cfg;
    snprintf(s->dir, sizeof s->dir, "%s", cfg->state_dir);
    s->next_due_ms = ks_mono_ns() / 1000000 + cfg->snapshot_interval_ms;
    if (!ks_big_huge())
        ks_warn("snapshots: the state stays in 4 KiB pages (transparent huge pages: %s; 2 MiB "
                "pages need 'madvise' or 'always' and Linux >= 6.1), so each snapshot's fork() "
                "stalls the consume loop longer: ~10 ms per GB of state instead of ~1 ms "
                "(docs/deploy.md)",
                ks_big_thp_mode());
    return s;
}

/* Reaps the child: block or not. */
static void ks__reap(ks_snapshots *s, bool block)
{
    if (!s->child)
        return;
    int status = 0;
    pid_t r;
    do
        r = waitpid(s->child, &status, block ? 0 : WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return;
    s->child = 0;
    s->child_done = true;
    ks_big_collapse_start();
    s->child_ok = r > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    s->write_s = (double)(ks_mono_ns() - s->started_ns) / 1e9;
    if (!s->child_ok)
        ks_warn("snapshot writer %s; the snapshots it wrote are still used",
                r < 0 ? "lost" : WIFSIGNALED(status) ? "killed by a signal" : "reported errors");
    ks__snap_settle(s);
}

void ks_snapshots_poll(ks_snapshots *s)
{
    if (s)
        ks__reap(s, false);
}

void ks_snapshots_free(ks_snapshots *s)
{
    if (!s)
        return;
    ks__reap(s, true);
    if (s->pending && s->flush == 0) {
        s->flush = -1; /* its flush never settled: not known to be in Redis */
        ks__snap_settle(s);
    }
    free(s);
}

void ks_snapshots_flush_result(ks_snapshots *s, bool ok)
{
    if (!s || !s->pending || s->flush != 0)
        return;
    s->flush = ok ? 1 : -1;
    ks__snap_settle(s);
}

/* The child: one temp file per partition. Exit status 1 if any failed. */
static void ks__child(ks_snapshots *s, ks_engine *e, pid_t parent)
{
    /* Die with the parent: an orphan still writing when a supervisor has
     * started the next process would write into the same .tmp as the new
     * writer (O_TRUNC), and a torn file could be renamed into place (the
     * checksum would refuse it, but that snapshot would be lost). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(1);
    int bad = 0;
    int64_t wall = ks_wall_ms();
    for (int i = 0; i < s->npaths; i++) {
        char tmp[KS__PATH + 8], err[KS_ERRSTR_SIZE];
        snprintf(tmp, sizeof tmp, "%s.tmp", s->paths[i]);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            ks_warn("snapshot: %s: %s", tmp, strerror(errno));
            bad = 1;
            continue;
        }
        int rc = ks_engine_snapshot_write(e, i, fd, wall, err, sizeof err);
        if (rc == 0 && fsync(fd) < 0) {
            rc = KS_ERR_IO;
            snprintf(err, sizeof err, "fsync %.400s: %s", tmp, strerror(errno));
        }
        close(fd);
        if (rc < 0) {
            unlink(tmp);
            if (rc != KS_ERR_STATE) { /* restoring or fenced: nothing to write, not an error */
                ks_warn("snapshot: %s", err);
                bad = 1;
            }
        }
    }
    _exit(bad);
}

/* Starts a write of every assigned partition; flush: its flush's outcome
 * if known (1 written), else 0. Returns true if started. */
static bool ks__start(ks_snapshots *s, ks_engine *e, int flush)
{
    int n = ks_engine_partitions(e);
    if (n == 0 || ks_engine_restoring(e))
        return false;
    s->paths = calloc((size_t)n, sizeof *s->paths);
    if (!s->paths)
        return false;
    for (int i = 0; i < n; i++) {
        const char *topic;
        int32_t part;
        char path[KS__PATH];
        if (ks_engine_partition_at(e, i, &topic, &part) < 0)
            break;
        ks__snap_path(s, topic, part, path, sizeof path);
        if (!(s->paths[i] = strdup(path)))
            break;
        s->npaths++;
    }
    s->pending = true;
    s->child_done = s->child_ok = false;
    s->flush = flush;
    s->started_ns = ks_mono_ns();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0)
        ks__child(s, e, parent);
    int64_t stall = ks_mono_ns() - s->started_ns;
    if (pid < 0) {
        ks_warn("snapshot: fork: %s; the next interval tries again", strerror(errno));
        s->flush = -1;
        s->child_done = true;
        ks__snap_settle(s);
        return false;
    }
    s->child = pid;
    s->st.last_stall_s = (double)stall / 1e9;
    if (s->st.last_stall_s > s->st.max_stall_s)
        s->st.max_stall_s = s->st.last_stall_s;
    return true;
}

void ks_snapshots_after_build(ks_snapshots *s, ks_engine *e, int64_t mono_ms)
{
    if (!s)
        return;
    ks__reap(s, false);
    if (s->pending || mono_ms < s->next_due_ms)
        return;
    if (ks__start(s, e, 0))
        s->next_due_ms = mono_ms + s->cfg->snapshot_interval_ms;
}

void ks_snapshots_now(ks_snapshots *s, ks_engine *e, bool wait)
{
    if (!s)
        return;
    /* One write at a time: the one in flight is settled first. */
    ks__reap(s, true);
    if (s->pending && s->flush == 0) {
        s->flush = 1; /* a flush succeeded since: the earlier one's state is in Redis too */
        ks__snap_settle(s);
    }
    if (ks__start(s, e, 1)) {
        s->next_due_ms = ks_mono_ns() / 1000000 + s->cfg->snapshot_interval_ms;
        if (wait)
            ks__reap(s, true);
    }
}

void ks_snapshots_stats_get(const ks_snapshots *s, ks_snapshots_stats *out)
{
    if (s)
        *out = s->st;
    else
        memset(out, 0, sizeof *out);
}
