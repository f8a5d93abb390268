/* Snapshot files in state_dir: names, committing a finished write, and
 * loading the newest valid snapshot of a partition.
 *
 *   <state_dir>/<prefix><topic>.<partition>.snap       the current snapshot
 *   <state_dir>/<prefix><topic>.<partition>.snap.prev  the one before it
 *   <state_dir>/<prefix><topic>.<partition>.snap.tmp   being written
 *
 * A temp file becomes the current snapshot by rename(2) once it is fsynced
 * and its flush is known written, then the directory is fsynced: a crash at
 * any point leaves a whole current (or previous) snapshot or none, never a
 * half-written one under the name that is read. */
#include "snapshot/internal.h"

#include "kpistream/clock.h"
#include "kpistream/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t ks__esc(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; *s && o + 4 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "%%%02X", c);
    }
    out[o] = '\0';
    return o;
}

void ks__snap_path(const ks_snapshots *s, const char *topic, int32_t partition, char *buf,
                   size_t size)
{
    char p[256], t[800];
    ks__esc(s->cfg->prefix, p, sizeof p);
    ks__esc(topic, t, sizeof t);
    if (snprintf(buf, size, "%s/%s%s.%d.snap", s->dir, p, t, (int)partition) >= (int)size)
        ks_warn("snapshot path of %s[%d] cut at %zu bytes", topic, (int)partition, size);
}

static void ks__sync_dir(const ks_snapshots *s)
{
    int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

void ks__snap_settle(ks_snapshots *s)
{
    if (!s->pending || !s->child_done || s->flush == 0)
        return;
    char tmp[KS__PATH + 8], prev[KS__PATH + 8];
    int64_t bytes = 0;
    int n = 0;
    for (int i = 0; i < s->npaths; i++) {
        snprintf(tmp, sizeof tmp, "%s.tmp", s->paths[i]);
        struct stat sb;
        if (stat(tmp, &sb) < 0)
            continue; /* not written (the partition was restoring, or an error logged) */
        if (s->flush < 0) {
            unlink(tmp);
            continue;
        }
        snprintf(prev, sizeof prev, "%s.prev", s->paths[i]);
        if (rename(s->paths[i], prev) < 0 && errno != ENOENT)
            ks_warn("snapshot: renaming %s to %s: %s", s->paths[i], prev, strerror(errno));
        if (rename(tmp, s->paths[i]) < 0) {
            ks_warn("snapshot: renaming %s to %s: %s; the snapshot before it stays in use", tmp,
                    s->paths[i], strerror(errno));
            continue;
        }
        bytes += sb.st_size;
        n++;
    }
    if (s->flush > 0 && n) {
        ks__sync_dir(s);
        s->st.written++;
        s->st.last_bytes = bytes;
        s->st.last_write_s = s->write_s;
        ks_info("snapshot: %d partition(s), %.1f MiB, written in %.3f s (consume loop stalled "
                "%.2f ms)",
                n, (double)bytes / 1048576.0, s->write_s, s->st.last_stall_s * 1000.0);
    } else if (s->flush < 0 || !s->child_ok) {
        s->st.failed++;
        if (s->flush < 0)
            ks_info("snapshot dropped: the flush it belongs to was not written");
    }
    for (int i = 0; i < s->npaths; i++)
        free(s->paths[i]);
    free(s->paths);
    s->paths = NULL;
    s->npaths = 0;
    s->pending = false;
}

/* Tries one snapshot file. Returns 1 loaded, 0 ignored (logged), -1 none there. */
static int ks__try(ks_snapshots *s, ks_engine *e, const char *topic, int32_t partition,
                   const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT)
            return -1;
        ks_warn("%s[%d]: snapshot %s ignored: %s", topic, (int)partition, path, strerror(err));
        s->st.ignored++;
        return 0;
    }
    struct stat sb;
    void *map = MAP_FAILED;
    char why[512] = "";
    if (fstat(fd, &sb) < 0)
        snprintf(why, sizeof why, "%s", strerror(errno));
    else if (sb.st_size == 0)
        snprintf(why, sizeof why, "empty file");
    else if ((map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        snprintf(why, sizeof why, "mmap: %s", strerror(errno));
    close(fd);
    int64_t t0 = ks_mono_ns();
    ks_engine_snapshot_info info;
    int rc = -1;
    if (map != MAP_FAILED) {
        (void)madvise(map, (size_t)sb.st_size, MADV_SEQUENTIAL | MADV_WILLNEED);
        rc = ks_engine_snapshot_load(e, topic, partition, map, (size_t)sb.st_size, &info, why,
                                     sizeof why);
        munmap(map, (size_t)sb.st_size);
    }
    if (rc < 0) {
        ks_warn("%s[%d]: snapshot %s ignored: %s", topic, (int)partition, path, why);
        s->st.ignored++;
        return 0;
    }
    double secs = (double)(ks_mono_ns() - t0) / 1e9;
    ks_info("%s[%d]: state loaded from snapshot %s: %lld customers at offset %lld in %.3f s "
            "(%.0f customers/s, %.1f MiB, taken %.0f s ago); replaying only the messages after it",
            topic, (int)partition, path, (long long)info.customers, (long long)info.offset, secs,
            secs > 0 ? (double)info.customers / secs : 0.0, (double)sb.st_size / 1048576.0,
            (double)(ks_wall_ms() - info.written_ms) / 1000.0);
    s->st.loaded++;
    return 1;
}

bool ks_snapshots_restore(ks_snapshots *s, ks_engine *e, const char *topic, int32_t partition)
{
    if (!s)
        return false;
    char path[KS__PATH], prev[KS__PATH + 8];
    ks__snap_path(s, topic, partition, path, sizeof path);
    snprintf(prev, sizeof prev, "%s.prev", path);
    int a = ks__try(s, e, topic, partition, path);
    if (a == 1)
        return true;
    int b = ks__try(s, e, topic, partition, prev);
    if (b == 1)
        return true;
    if (a == 0 || b == 0)
        ks_warn("%s[%d]: no usable snapshot; replaying the partition from its first offset",
                topic, (int)partition);
    return false;
}
