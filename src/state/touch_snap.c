/* The last-touch table's part of a snapshot (touch.c): the table as it is.
 *
 *   cap u64 | used u64 | filled u64 | entries (cap x ks_touch)
 *
 * Checked as u64map_snap.c checks its tables, and every key must name a
 * record of the partition and a segment or channel group. */
#include "kpistream/bigalloc.h"
#include "state/snap_parts.h"

#include <stdlib.h>
#include <string.h>

void ks_touches_snap_save(ks_snapw *w, const ks_touches *t)
{
    ks_snapw_u64(w, t->cap);
    ks_snapw_u64(w, t->used);
    ks_snapw_u64(w, t->filled);
    ks_snapw_put(w, t->e, t->cap * sizeof *t->e);
}

int ks_touches_snap_load(ks_snapr *r, ks_touches *t, uint32_t ncust)
{
    uint64_t cap = ks_snapr_u64(r), used = ks_snapr_u64(r), filled = ks_snapr_u64(r);
    if (!r->bad && ((cap && (cap < 2 || (cap & (cap - 1)))) || cap > (1ULL << 32) ||
                    cap > (r->len - r->pos) / sizeof(ks_touch)))
        ks_snapr_fail(r, "touch table of %llu slots at byte %zu", (unsigned long long)cap, r->pos);
    ks_touch *e = cap ? ks_snapr_dup(r, (size_t)cap, sizeof *e) : NULL;
    if (!r->bad && cap) {
        uint64_t live = 0, tomb = 0;
        for (uint64_t i = 0; i < cap && !r->bad; i++) {
            uint64_t k = e[i].key;
            tomb += k == 1;
            if (k <= 1)
                continue;
            live++;
            uint64_t rec = ((k - 2) >> 16), gid = (k - 2) & 0xFFFF;
            if (rec == 0 || rec > ncust || gid >= 1 + KS_SEGMENTS_MAX + KS_CHANNELS_MAX)
                ks_snapr_fail(r, "touch entry %llu names no customer or group", (unsigned long long)i);
        }
        if (!r->bad && (live != used || live + tomb != filled || filled >= cap))
            ks_snapr_fail(r, "touch table counts do not match its slots");
    } else if (!r->bad && (used || filled)) {
        ks_snapr_fail(r, "empty touch table with entries");
    }
    if (r->bad) {
        ks_big_free(e);
        return -1;
    }
    ks_big_free(t->e);
    t->e = e;
    t->cap = (size_t)cap;
    t->used = (size_t)used;
    t->filled = (size_t)filled;
    return 0;
}
