/* Partition snapshots at the engine's level: what ties a partition's state
 * to the outputs in Redis (docs/architecture.md, "Snapshots").
 *
 *   META  prefix, group, topic, partition, next offset, partition clock,
 *         written at (wall ms), customers, the counting settings
 *   ...   the partition state (src/state/pstate_snap.c)
 *   XSKT  sketch and top-k bucket counts, grouped by item name (ks__xs_save)
 *   END!
 *
 * A snapshot is taken right after a flush was built, so its offset and
 * clock are those the flush stores with the partition's share. A restore
 * loads it only if Redis holds a restore point at or after it (offset and
 * clock): it then replays from the snapshot's offset to that point, as a
 * restore from the first offset would have from there, and finishes as
 * today (ks__restore_finish). Anything else falls back to that replay. */
#include "engine/internal.h"
#include "state/snap_parts.h"

#include "kpistream/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The settings that change a partition's state, as "key=value;" pairs: a
 * snapshot counted with others is not loaded. */
static void ks__settings(const ks_config *cfg, char *buf, size_t size)
{
    size_t n = 0;
#define KS__ADD(...)                                                           \
    do {                                                                       \
        if (n < size)                                                          \
            n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__);             \
    } while (0)
    KS__ADD("clock=%s;windows=", cfg->clock == KS_CLOCK_EVENT ? "event" : "wall");
    for (int w = 0; w < cfg->nwindows; w++)
        KS__ADD("%s%s:%lld", w ? "," : "", cfg->windows[w].name,
                (long long)cfg->windows[w].length_ms);
    KS__ADD(";churn_inactivity_ms=%lld;dedup_horizon_ms=%lld;max_future_skew_ms=%lld",
            (long long)cfg->churn_inactivity_ms, (long long)cfg->dedup_horizon_ms,
            (long long)cfg->max_future_skew_ms);
    KS__ADD(";max_message_bytes=%zu;max_segments=%d;max_channels=%d", cfg->max_message_bytes,
            cfg->max_segments, cfg->max_channels);
    KS__ADD(";max_names_per_customer=%d", cfg->max_names_per_customer);
    KS__ADD(";csat_satisfied_min=%d;nps_promoter_min=%d;nps_detractor_max=%d",
            cfg->csat_satisfied_min, cfg->nps_promoter_min, cfg->nps_detractor_max);
    const ks_risk_params *r = &cfg->risk;
    KS__ADD(";risk.weights=");
    for (int i = 0; i < KS_RISK__COUNT; i++)
        KS__ADD("%s%.17g", i ? "," : "", r->weight[i]);
    KS__ADD(";risk.levels=%d/%d/%d/%d;risk.ticket_age_ms=%lld;risk.alert_cooldown_ms=%lld",
            r->high_enter, r->high_exit, r->medium_enter, r->medium_exit,
            (long long)r->ticket_age_ms, (long long)r->alert_cooldown_ms);
    KS__ADD(";risk.trigger_cooldown_ms=%lld;risk.win_back_ms=%lld;risk.upsell_min_orders_30d=%d",
            (long long)r->trigger_cooldown_ms, (long long)r->win_back_ms,
            r->upsell_min_orders_30d);
#undef KS__ADD
}

/* Names the first setting that differs between two ks__settings strings. */
static void ks__settings_diff(const char *was, const char *now, char *out, size_t size)
{
    while (*was || *now) {
        size_t a = strcspn(was, ";"), b = strcspn(now, ";");
        if (a != b || memcmp(was, now, a) != 0) {
            snprintf(out, size, "%.*s (now %.*s)", (int)a, was, (int)b, now);
            return;
        }
        was += a + (was[a] == ';');
        now += b + (now[b] == ';');
    }
    snprintf(out, size, "?");
}

int ks_engine_partition_at(const ks_engine *e, int i, const char **topic, int32_t *partition)
{
    if (i < 0 || i >= e->nparts)
        return KS_ERR_INVAL;
    *topic = e->parts[i].topic;
    *partition = e->parts[i].partition;
    return 0;
}

/* One sketch count, by its item's name id. */
typedef struct ks__xent {
    uint32_t xid;
    uint8_t w;
    int64_t n, v;
} ks__xent;

static int ks__xent_cmp(const void *a, const void *b)
{
    const ks__xent *x = a, *y = b;
    return x->xid < y->xid ? -1 : x->xid > y->xid;
}

/* XSKT: the partition's sketch and top-k bucket counts grouped by item name,
 * each name once:
 *   names u32 | entries u64 | names x ( name | count u32 | count x ( window u8 | bucket i64 | value i64 ) ) */
static int ks__xs_save(const ks_engine *e, ks_snapw *w, const ks_fpart *fp)
{
    const ks_u64map *xs = &fp->xs;
    size_t n = fp->xs_init ? xs->used : 0, k = 0;
    ks__xent *v = malloc((n ? n : 1) * sizeof *v);
    if (!v)
        return KS_ERR_NOMEM;
    for (size_t i = 0; n && i < xs->cap; i++) {
        if (xs->slots[i].key < 2 || k == n)
            continue;
        int win;
        ks_flusher_xunkey(xs->slots[i].key, &v[k].xid, &win, &v[k].n);
        v[k].w = (uint8_t)win;
        v[k++].v = xs->slots[i].v.a;
    }
    qsort(v, k, sizeof *v, ks__xent_cmp);
    uint32_t names = 0;
    for (size_t i = 0; i < k; i++)
        names += i == 0 || v[i].xid != v[i - 1].xid;
    ks_snapw_u32(w, names);
    ks_snapw_u64(w, k);
    for (size_t i = 0; i < k;) {
        size_t j = i;
        while (j < k && v[j].xid == v[i].xid)
            j++;
        const char *name = ks_names_str(&e->fl.xnames, v[i].xid);
        ks_snapw_str(w, name, e->fl.xnames.len[v[i].xid]);
        ks_snapw_u32(w, (uint32_t)(j - i));
        for (; i < j; i++) {
            ks_snapw_u8(w, v[i].w);
            ks_snapw_i64(w, v[i].n);
            ks_snapw_i64(w, v[i].v);
        }
    }
    free(v);
    return 0;
}

int ks_engine_snapshot_write(ks_engine *e, int i, int fd, int64_t wall_ms, char *errstr,
                             size_t errsize)
{
    if (i < 0 || i >= e->nparts)
        return KS_ERR_INVAL;
    ks__part *p = &e->parts[i];
    if (p->st->replaying || p->fl.fenced || p->next_offset <= 0) {
        snprintf(errstr, errsize, "%s[%d]: %s; no snapshot", p->topic, (int)p->partition,
                 p->st->replaying ? "still restoring" : p->fl.fenced ? "fenced" : "nothing read");
        return KS_ERR_STATE;
    }
    char settings[1024];
    ks__settings(e->cfg, settings, sizeof settings);
    ks_snapw w;
    if (ks_snapw_open_fd(&w, fd) < 0) {
        snprintf(errstr, errsize, "snapshot of %s[%d]: out of memory", p->topic, (int)p->partition);
        return KS_ERR_NOMEM;
    }
    ks_snapw_tag(&w, "META");
    ks_snapw_str(&w, e->cfg->prefix, strlen(e->cfg->prefix));
    ks_snapw_str(&w, e->cfg->group, strlen(e->cfg->group));
    ks_snapw_str(&w, p->topic, strlen(p->topic));
    ks_snapw_u32(&w, (uint32_t)p->partition);
    ks_snapw_i64(&w, p->next_offset);
    ks_snapw_i64(&w, p->st->clock_ms);
    ks_snapw_i64(&w, wall_ms);
    ks_snapw_u64(&w, p->st->ncust);
    ks_snapw_str(&w, settings, strlen(settings));
    ks_pstate_snap_save(&w, p->st);
    ks_snapw_tag(&w, "XSKT");
    int rc = ks__xs_save(e, &w, &p->fl);
    ks_snapw_tag(&w, "END!");
    if (rc == 0)
        rc = ks_snapw_close(&w, NULL, NULL);
    else
        (void)ks_snapw_close(&w, NULL, NULL);
    if (rc < 0)
        snprintf(errstr, errsize, "snapshot of %s[%d]: %s", p->topic, (int)p->partition,
                 ks_strerror(rc));
    return rc;
}

/* Reads META and checks it against this process and the restore point. */
static int ks__meta(ks_engine *e, ks_snapr *r, const ks__part *p, ks_engine_snapshot_info *info)
{
    char prefix[256], group[256], topic[256], settings[1024], now[1024], diff[600];
    if (!ks_snapr_tag(r, "META"))
        return -1;
    ks_snapr_str(r, prefix, sizeof prefix);
    ks_snapr_str(r, group, sizeof group);
    ks_snapr_str(r, topic, sizeof topic);
    int32_t partition = (int32_t)ks_snapr_u32(r);
    info->offset = ks_snapr_i64(r);
    info->clock_ms = ks_snapr_i64(r);
    info->written_ms = ks_snapr_i64(r);
    info->customers = (int64_t)ks_snapr_u64(r);
    ks_snapr_str(r, settings, sizeof settings);
    if (r->bad)
        return -1;
    ks__settings(e->cfg, now, sizeof now);
    if (strcmp(prefix, e->cfg->prefix) != 0 || strcmp(group, e->cfg->group) != 0)
        ks_snapr_fail(r, "written for prefix '%s' and group '%s'", prefix, group);
    else if (strcmp(topic, p->topic) != 0 || partition != p->partition)
        ks_snapr_fail(r, "a snapshot of %s[%d]", topic, (int)partition);
    else if (strcmp(settings, now) != 0) {
        ks__settings_diff(settings, now, diff, sizeof diff);
        ks_snapr_fail(r, "counted with other settings: %s", diff);
    } else if (p->restore_until <= 0)
        ks_snapr_fail(r, "Redis holds no restore point for the partition (its outputs start "
                         "from nothing)");
    else if (info->offset <= 0 || info->offset > p->restore_until)
        ks_snapr_fail(r, "it covers offsets below %lld, Redis's outputs those below %lld",
                      (long long)info->offset, (long long)p->restore_until);
    else if (info->clock_ms != INT64_MIN &&
             (p->restore_clock == INT64_MIN || info->clock_ms > p->restore_clock))
        ks_snapr_fail(r, "its clock %lld is ahead of the one Redis's outputs were written at",
                      (long long)info->clock_ms);
    return r->bad ? -1 : 0;
}

static int ks__xs_load(ks_engine *e, ks_snapr *r, ks_u64map *xs)
{
    if (!ks_snapr_tag(r, "XSKT"))
        return -1;
    uint32_t names = ks_snapr_u32(r);
    uint64_t total = ks_snapr_u64(r), seen = 0;
    if (!r->bad && total > (r->len - r->pos) / 17) /* an entry takes 17 bytes */
        ks_snapr_fail(r, "%llu sketch counts in %zu bytes", (unsigned long long)total,
                      r->len - r->pos);
    if (!r->bad && ks_u64map_reserve(xs, (size_t)total) < 0)
        ks_snapr_fail(r, "out of memory");
    char name[700];
    for (uint32_t k = 0; k < names && !r->bad; k++) {
        size_t len = ks_snapr_str(r, name, sizeof name);
        uint32_t count = ks_snapr_u32(r);
        if (r->bad)
            break;
        uint32_t xid = ks_flusher_xname_id(&e->fl, name, len);
        if (xid == KS_NAMES_NONE || xid >= (1u << 24) - 1 || count > total - seen) {
            ks_snapr_fail(r, "sketch item %u: no room for its name or counts", k);
            break;
        }
        seen += count;
        for (uint32_t i = 0; i < count && !r->bad; i++) {
            uint8_t win = ks_snapr_u8(r);
            int64_t b = ks_snapr_i64(r), v = ks_snapr_i64(r);
            if (!r->bad && (win >= e->cfg->nwindows || v < 0 || v > (1LL << 48)))
                ks_snapr_fail(r, "a sketch count of window %u, value %lld", win, (long long)v);
            uint64_t key = ks_flusher_xkey(xid, win, b);
            bool created;
            ks_u64map_val *slot = r->bad || key < 2 ? NULL : ks_u64map_put(xs, key, &created);
            if (slot)
                slot->a = v;
            else if (!r->bad && key >= 2)
                ks_snapr_fail(r, "out of memory");
        }
    }
    if (!r->bad && seen != total)
        ks_snapr_fail(r, "%llu sketch counts where %llu were announced",
                      (unsigned long long)seen, (unsigned long long)total);
    return r->bad ? -1 : 0;
}

int ks_engine_snapshot_load(ks_engine *e, const char *topic, int32_t partition, const void *buf,
                            size_t len, ks_engine_snapshot_info *info, char *why, size_t whysize)
{
    memset(info, 0, sizeof *info);
    ks__part *p = NULL;
    for (int i = 0; i < e->nparts && !p; i++)
        if (e->parts[i].partition == partition && strcmp(e->parts[i].topic, topic) == 0)
            p = &e->parts[i];
    if (!p) {
        snprintf(why, whysize, "%s[%d] is not assigned", topic, (int)partition);
        return KS_ERR_INVAL;
    }
    ks_snapr r;
    if (ks_snapr_open(&r, buf, len, why, whysize) < 0)
        return KS_ERR_PARSE;
    ks_pstate *st = NULL;
    ks_u64map xs;
    bool xs_init = false;
    if (ks__meta(e, &r, p, info) == 0) {
        st = ks_pstate_new(&e->sh);
        xs_init = ks_u64map_init(&xs, NULL, NULL) == 0;
        if (!st || !xs_init)
            ks_snapr_fail(&r, "out of memory");
        else if (ks_pstate_snap_load(&r, st) == 0 && ks__xs_load(e, &r, &xs) == 0 &&
                 ks_snapr_tag(&r, "END!") && r.pos != r.len)
            ks_snapr_fail(&r, "%zu bytes after the end", r.len - r.pos);
    }
    if (r.bad) {
        snprintf(why, whysize, "%s", r.why);
        ks_pstate_free(st);
        if (xs_init)
            ks_u64map_reset(&xs);
        return KS_ERR_PARSE;
    }
    /* Take it in place of the empty state; the replay goes on from its offset. */
    ks_pstate_free(p->st);
    p->st = st;
    ks_out_forget(p); /* its records are other ones now */
    if (p->fl.xs_init)
        ks_u64map_reset(&p->fl.xs);
    p->fl.xs = xs;
    p->fl.xs_init = true;
    p->next_offset = p->built_offset = info->offset;
    p->want_clock = st->clock_ms;
    p->eof = false;
    p->from_snapshot = true;
    st->replaying = true;
    return 0;
}

int64_t ks_engine_start_offset(ks_engine *e, const char *topic, int32_t partition)
{
    for (int i = 0; i < e->nparts; i++)
        if (e->parts[i].partition == partition && strcmp(e->parts[i].topic, topic) == 0)
            return e->parts[i].from_snapshot ? e->parts[i].next_offset : -1;
    return -1;
}

int64_t ks_engine_restore_remaining(const ks_engine *e)
{
    int64_t n = 0;
    for (int i = 0; i < e->nparts; i++) {
        const ks__part *p = &e->parts[i];
        if (p->st->replaying && p->restore_until > 0)
            n += p->restore_until - (p->next_offset > 0 ? p->next_offset : 0);
    }
    return n;
}
