/* A partition's state in a snapshot: the modules' parts in a fixed order,
 * each opened by a tag the reader checks.
 *
 *   NAME  interned names (intern_snap.c)
 *   PSTA  meta counts, newest event time, clock, revenue threshold
 *   CUST  customers (customers_snap.c)
 *   ROLL  rolling lists (rolling_snap.c)
 *   TUCH  last touches (touch_snap.c)
 *   DEDU  event ids inside the dedup horizon, TICK tickets, CNAM the
 *         customers' names (names.c) (u64map_snap.c)
 *   GRPS  window series of the global group and of each segment and
 *         channel group in use (series_snap.c), by the snapshot's ids
 *
 * What waits for the next flush (dirty lists, alerts and triggers) is not
 * kept: a restore replays from the snapshot to the offset Redis holds, and
 * that replay's outputs were written by the run that stored them. After a
 * load, ids follow this process's name tables (ks_intern_map). */
#include "kpistream/bigalloc.h"
#include "state/internal.h"
#include "state/snap_parts.h"

#include <stdlib.h>
#include <string.h>

#define KS__GID_MAX (1 + KS_SEGMENTS_MAX + KS_CHANNELS_MAX)

static void ks__group_save(ks_snapw *w, const ks_pstate *p, const ks_group *g)
{
    ks_snapw_i64(w, g->base);
    for (int k = 0; k < p->sh->cfg->nwindows; k++)
        ks_series_snap_save(w, &g->win[k], p->adv_n[k]);
}

static void ks__groups_save(ks_snapw *w, const ks_pstate *p, const ks_group *arr, int max)
{
    uint32_t n = 0;
    for (int i = 0; i < max; i++)
        n += arr[i].used;
    ks_snapw_u32(w, n);
    for (int i = 0; i < max; i++)
        if (arr[i].used) {
            ks_snapw_u32(w, (uint32_t)i);
            ks__group_save(w, p, &arr[i]);
        }
}

void ks_pstate_snap_save(ks_snapw *w, const ks_pstate *p)
{
    const ks_config *cfg = p->sh->cfg;
    ks_snapw_tag(w, "NAME");
    ks_intern_snap_save(w, p->sh);
    ks_snapw_tag(w, "PSTA");
    ks_snapw_i64(w, p->meta.processed);
    ks_snapw_i64(w, p->meta.rejected);
    ks_snapw_i64(w, p->meta.duplicates);
    ks_snapw_i64(w, p->max_ts_ms);
    ks_snapw_i64(w, p->clock_ms);
    /* Once the last day's revenue percentile; recomputed from the records
     * now (risk_state.c), the slot is kept so older snapshots still load. */
    double unused = 0;
    ks_snapw_put(w, &unused, sizeof unused);
    ks_snapw_u32(w, (uint32_t)cfg->nwindows);
    ks_snapw_put(w, p->adv_n, sizeof p->adv_n);
    ks_snapw_tag(w, "CUST");
    ks_customers_snap_save(w, p);
    ks_snapw_tag(w, "ROLL");
    ks_roll_snap_save(w, p);
    ks_snapw_tag(w, "TUCH");
    ks_touches_snap_save(w, &p->touches);
    ks_snapw_tag(w, "DEDU");
    ks_u64map_snap_save(w, &p->dedup);
    ks_snapw_tag(w, "TICK");
    ks_u64map_snap_save(w, &p->tickets);
    ks_snapw_tag(w, "CNAM");
    ks_u64map_snap_save(w, &p->names);
    ks_snapw_tag(w, "GRPS");
    ks_snapw_u32(w, KS_C__COUNT);
    ks__group_save(w, p, &p->global);
    ks__groups_save(w, p, p->segments, p->sh->segments.max);
    ks__groups_save(w, p, p->channels, p->sh->channels.max);
}

/* Every name entry must name a record of the partition and a slot below
 * the limit (names.c's key layout). */
static int ks__names_check(ks_snapr *r, const ks_pstate *p)
{
    const ks_u64map *m = &p->names;
    for (size_t i = 0; i < m->cap; i++) {
        uint64_t k = m->slots[i].key;
        if (k < 2)
            continue;
        uint64_t rec = k >> 7, slot = k & 63;
        if (rec == 0 || rec > p->ncust || (int)slot >= p->sh->cfg->max_names_per_customer) {
            ks_snapr_fail(r, "name entry %zu names no customer or slot", i);
            return -1;
        }
    }
    return 0;
}

/* Loads a group's series into g (reset first if it was in use). */
static int ks__group_load(ks_snapr *r, ks_pstate *p, ks_group *g)
{
    const ks_config *cfg = p->sh->cfg;
    bool was = g->used;
    if (was)
        for (int k = 0; k < KS_MAX_WINDOWS; k++)
            ks_series_reset(&g->win[k]);
    g->base = ks_snapr_i64(r);
    if (!r->bad && (g->base > (1LL << 40) || g->base < -(1LL << 40)))
        ks_snapr_fail(r, "a group's customer base out of range at byte %zu", r->pos);
    if (r->bad) {
        if (was)
            g->used = false; /* its series are reset: ks_pstate_free skips it */
        return -1;
    }
    for (int k = 0; k < cfg->nwindows; k++) {
        int64_t width = cfg->windows[k].length_ms / 1000 / KS_WINDOW_BUCKETS;
        if (ks_series_snap_load(r, &g->win[k], width > 0 ? width : 1) < 0) {
            for (int j = 0; j < k; j++)
                ks_series_reset(&g->win[j]);
            g->used = false; /* ks_pstate_free skips it */
            return -1;
        }
        ks_series_set_pool(&g->win[k], &p->bpool);
    }
    g->used = true;
    if (!was && p->nused < KS__GID_MAX)
        p->used[p->nused++] = g;
    return 0;
}

static int ks__groups_load(ks_snapr *r, ks_pstate *p, ks_group *arr, const uint8_t *map, int nmap,
                           const char *what)
{
    uint32_t n = ks_snapr_u32(r);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        uint32_t id = ks_snapr_u32(r);
        if (r->bad)
            break;
        if (id >= (uint32_t)nmap || arr[map[id]].used) {
            ks_snapr_fail(r, "%s group %u has no name in the snapshot, or twice", what, id);
            break;
        }
        if (ks__group_load(r, p, &arr[map[id]]) < 0)
            break;
    }
    return r->bad ? -1 : 0;
}

static uint8_t ks__map8(const uint8_t *map, int n, uint8_t v, bool *ok)
{
    if (v == KS_NONE)
        return v;
    if (v >= n) {
        *ok = false;
        return KS_NONE;
    }
    return map[v];
}

/* Maps the customers' and tickets' segment, channel and category ids. */
static int ks__remap(ks_snapr *r, ks_pstate *p, const ks_intern_map *m)
{
    bool ok = true;
    for (uint32_t i = 0; i < p->ncust && ok; i++) {
        ks_customer *c = &p->cust[i];
        c->segment = ks__map8(m->seg, m->nseg, c->segment, &ok);
        c->acq_channel = ks__map8(m->ch, m->nch, c->acq_channel, &ok);
        if (c->categories && !m->identity) {
            uint64_t bits = 0;
            for (int b = 0; b < 64; b++)
                if (c->categories >> b & 1)
                    bits |= b < m->ncat ? 1ULL << (m->cat[b] & 63) : 1ULL << b;
            c->categories = bits;
        }
    }
    if (!ok) {
        ks_snapr_fail(r, "a customer's segment or channel id has no name in the snapshot");
        return -1;
    }
    /* Tickets: the channel and segment at opening, 8 bits each at 47 and 55. */
    for (size_t i = 0; i < p->tickets.cap && !m->identity; i++) {
        if (p->tickets.slots[i].key < 2)
            continue;
        uint64_t v = (uint64_t)p->tickets.slots[i].v.a;
        uint8_t ch = ks__map8(m->ch, m->nch, (uint8_t)(v >> 47), &ok);
        uint8_t seg = ks__map8(m->seg, m->nseg, (uint8_t)(v >> 55), &ok);
        v = (v & ((1ULL << 47) - 1)) | (uint64_t)ch << 47 | (uint64_t)seg << 55;
        p->tickets.slots[i].v.a = (int64_t)v;
    }
    if (!ok) {
        ks_snapr_fail(r, "a ticket's segment or channel id has no name in the snapshot");
        return -1;
    }
    return 0;
}

/* Touch keys carry the group id: re-key the table when ids moved. */
static int ks__remap_touches(ks_snapr *r, ks_pstate *p, const ks_intern_map *m)
{
    ks_touches *t = &p->touches;
    if (m->identity || !t->used)
        return 0;
    ks_touches old = *t;
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < old.cap; i++) {
        uint64_t k = old.e[i].key;
        if (k <= 1)
            continue;
        uint32_t rec = (uint32_t)(((k - 2) >> 16) - 1);
        unsigned gid = (unsigned)((k - 2) & 0xFFFF);
        bool ok = true;
        if (gid >= KS_GID_CHANNEL0)
            gid = KS_GID_CHANNEL0 + ks__map8(m->ch, m->nch, (uint8_t)(gid - KS_GID_CHANNEL0), &ok);
        else if (gid >= KS_GID_SEGMENT0)
            gid = KS_GID_SEGMENT0 + ks__map8(m->seg, m->nseg, (uint8_t)(gid - KS_GID_SEGMENT0), &ok);
        ks_touch *n = ok ? ks__touch(t, rec, gid, INT64_MIN) : NULL;
        if (!n) {
            ks_snapr_fail(r, ok ? "out of memory" : "a touch names a group with no name");
            ks_big_free(old.e);
            return -1;
        }
        uint64_t key = n->key;
        *n = old.e[i];
        n->key = key;
    }
    ks_big_free(old.e);
    return 0;
}

int ks_pstate_snap_load(ks_snapr *r, ks_pstate *p)
{
    const ks_config *cfg = p->sh->cfg;
    ks_intern_map map;
    if (!ks_snapr_tag(r, "NAME") || ks_intern_snap_load(r, p->sh, &map) < 0)
        return -1;
    if (!ks_snapr_tag(r, "PSTA"))
        return -1;
    p->meta.processed = ks_snapr_i64(r);
    p->meta.rejected = ks_snapr_i64(r);
    p->meta.duplicates = ks_snapr_i64(r);
    p->max_ts_ms = ks_snapr_i64(r);
    p->clock_ms = ks_snapr_i64(r);
    (void)ks_snapr_take(r, sizeof(double)); /* unused (see save) */
    uint32_t nwin = ks_snapr_u32(r);
    const void *adv = ks_snapr_take(r, sizeof p->adv_n);
    if (r->bad)
        return -1;
    if (nwin != (uint32_t)cfg->nwindows) {
        ks_snapr_fail(r, "%u windows where the settings have %d", nwin, cfg->nwindows);
        return -1;
    }
    (void)adv; /* written as kept; taken from the clock instead (older files had 0s) */
    ks__adv_n(p);
    if (!ks_snapr_tag(r, "CUST") || ks_customers_snap_load(r, p) < 0 ||
        !ks_snapr_tag(r, "ROLL") || ks_roll_snap_load(r, &p->roll, p) < 0 ||
        !ks_snapr_tag(r, "TUCH") || ks_touches_snap_load(r, &p->touches, p->ncust) < 0 ||
        !ks_snapr_tag(r, "DEDU") || ks_u64map_snap_load(r, &p->dedup) < 0 ||
        !ks_snapr_tag(r, "TICK") || ks_u64map_snap_load(r, &p->tickets) < 0 ||
        !ks_snapr_tag(r, "CNAM") || ks_u64map_snap_load(r, &p->names) < 0 ||
        ks__names_check(r, p) < 0 || !ks_snapr_tag(r, "GRPS"))
        return -1;
    uint32_t ncounters = ks_snapr_u32(r);
    if (!r->bad && ncounters != KS_C__COUNT)
        ks_snapr_fail(r, "%u window counters; this build has %d", ncounters, KS_C__COUNT);
    if (r->bad || ks__group_load(r, p, &p->global) < 0 ||
        ks__groups_load(r, p, p->segments, map.seg, map.nseg, "segment") < 0 ||
        ks__groups_load(r, p, p->channels, map.ch, map.nch, "channel") < 0)
        return -1;
    if (ks__remap(r, p, &map) < 0 || ks__remap_touches(r, p, &map) < 0)
        return -1;
    return 0;
}
