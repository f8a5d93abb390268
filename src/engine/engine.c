/* The engine: partitions, the window clock, validation against the clock,
 * dedup, and the flush builder. See include/kpistream/engine.h. */
#include "kpistream/engine.h"

#include "engine/flush.h"
#include "engine/internal.h"

#include "kpistream/err.h"
#include "kpistream/layout.h"
#include "kpistream/hash.h"
#include "kpistream/kpi.h"
#include "kpistream/log.h"
#include "kpistream/risk.h"
#include "state/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ks_engine *ks_engine_new(const ks_config *cfg, char *errstr, size_t errsize)
{
    ks_engine *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(errstr, errsize, "engine: out of memory");
        return NULL;
    }
    e->cfg = cfg;
    e->sh.cfg = cfg;
    e->sh.social_channel = -1;
    /* max_segments / max_channels names are tracked, and "other" besides
     * (contract 5: at least 64 by default). */
    ks_intern_init(&e->sh.segments, cfg->max_segments + 1);
    ks_intern_init(&e->sh.channels, cfg->max_channels + 1);
    ks_intern_init(&e->sh.categories, KS_CATEGORIES_MAX);
    e->clock_ms = e->vclock_ms = e->group_clock_ms = INT64_MIN;
    e->last_hit = -1;
    e->max_window_ms = cfg->nwindows ? cfg->windows[cfg->nwindows - 1].length_ms : 0;
    e->min_bucket_ms = cfg->nwindows ? cfg->windows[0].length_ms / KS_WINDOW_BUCKETS : 60000;
    for (int w = 0; w < KS_ENGINE_WORKERS_MAX; w++)
        if (!(e->parsers[w] = ks_event_parser_new(cfg->max_message_bytes)))
            break;
    e->parser = e->parsers[0];
    e->keysk = ks_ddsketch_new(KS_DDSKETCH_DEFAULT_ALPHA, 0, errstr, errsize);
    /* Flush tokens start with a member id; the run loop sets a random one
     * (ks_engine_set_member), this default serves tests. */
    uintptr_t self = (uintptr_t)e;
    snprintf(e->member, sizeof e->member, "%016llx",
             (unsigned long long)ks_hash64(&self, sizeof self, 0x6b70697374726561ULL));
    if (!e->parsers[KS_ENGINE_WORKERS_MAX - 1] || !e->keysk ||
        ks_flusher_init(&e->fl, cfg, &e->sh, e->keysk) < 0) {
        snprintf(errstr, errsize, "engine: out of memory");
        ks_engine_free(e);
        return NULL;
    }
    return e;
}

void ks_engine_free(ks_engine *e)
{
    if (!e)
        return;
    for (int i = 0; i < e->nparts; i++) {
        ks_pstate_free(e->parts[i].st);
        ks_fpart_free(&e->parts[i].fl);
        ks_out_forget(&e->parts[i]);
        free(e->parts[i].topic);
    }
    free(e->parts);
    free(e->pnum);
    free(e->phint);
    ks_flusher_free(&e->fl);
    ks_layout_risks_free(&e->risks);
    ks_ddsketch_free(e->keysk);
    for (int w = 0; w < KS_ENGINE_WORKERS_MAX; w++)
        ks_event_parser_free(e->parsers[w]);
    free(e);
}

static int64_t ks__watermark(const ks_engine *e);
static int64_t ks__tick(ks_engine *e, int64_t wall_ms);

/* Partition numbers up to this get a lookup hint. */
#define KS__PHINT_MAX 65536

static ks__part *ks__find(ks_engine *e, const char *topic, int32_t partition)
{
    if (e->last_hit >= 0 && e->last_hit < e->nparts) {
        ks__part *p = &e->parts[e->last_hit];
        if (p->partition == partition && strcmp(p->topic, topic) == 0)
            return p;
    }
    /* Where this partition number was found last (messages of 128
     * partitions interleave, and a scan was 2 % of the engine's work). */
    bool hinted = partition >= 0 && partition < e->nphint;
    if (hinted) {
        int i = e->phint[partition] - 1;
        if (i >= 0 && i < e->nparts && e->pnum[i] == partition &&
            strcmp(e->parts[i].topic, topic) == 0) {
            e->last_hit = i;
            return &e->parts[i];
        }
    }
    for (int i = 0; i < e->nparts; i++)
        if (e->pnum[i] == partition && strcmp(e->parts[i].topic, topic) == 0) {
            e->last_hit = i;
            if (hinted)
                e->phint[partition] = i + 1;
            return &e->parts[i];
        }
    return NULL;
}

/* Brings a partition to the clock its last tick gave it. Ticks only record
 * that clock (O(1) per partition); moving the state there (windows, churns,
 * day boundaries) waits until the partition's next event or the next flush.
 * Advancing in one step or several gives the same state (pstate.h), and
 * each partition still moves before its own next event exactly as far as it
 * would have at the tick, so the order of its events and clock moves holds. */
static void ks__catch_up(ks__part *p)
{
    if (p->want_clock != INT64_MIN && p->want_clock > p->st->clock_ms)
        ks_pstate_advance(p->st, p->want_clock);
}

static void ks__catch_up_all(ks_engine *e)
{
    for (int i = 0; i < e->nparts; i++)
        ks__catch_up(&e->parts[i]);
}

int ks_engine_assign(ks_engine *e, const char *topic, int32_t partition)
{
    if (ks__find(e, topic, partition))
        return 0;
    if (e->nparts == e->capparts) {
        int cap = e->capparts ? e->capparts * 2 : 16;
        ks__part *np = realloc(e->parts, (size_t)cap * sizeof *np);
        if (!np)
            return KS_ERR_NOMEM;
        e->parts = np;
        int32_t *nn = realloc(e->pnum, (size_t)cap * sizeof *nn);
        if (!nn)
            return KS_ERR_NOMEM; /* (parts is larger than needed: harmless) */
        e->pnum = nn;
        e->capparts = cap;
    }
    ks__part *p = &e->parts[e->nparts];
    memset(p, 0, sizeof *p);
    p->topic = strdup(topic);
    p->partition = partition;
    p->st = ks_pstate_new(&e->sh);
    p->next_offset = p->built_offset = p->restore_until = -1;
    p->restore_clock = p->notice_floor_ms = p->want_clock = INT64_MIN;
    ks_fpart_init(&p->fl);
    if (!p->topic || !p->st || !p->fl.xs_init) {
        ks_fpart_free(&p->fl);
        free(p->topic);
        ks_pstate_free(p->st);
        return KS_ERR_NOMEM;
    }
    e->pnum[e->nparts++] = partition;
    if (partition >= e->nphint && partition < KS__PHINT_MAX) {
        /* (out of memory: no hint for it, lookups scan) */
        int n = partition < 64 ? 64 : partition + 1 + partition / 2;
        if (n > KS__PHINT_MAX)
            n = KS__PHINT_MAX;
        int *h = realloc(e->phint, (size_t)n * sizeof *h);
        if (h) {
            memset(h + e->nphint, 0, (size_t)(n - e->nphint) * sizeof *h);
            e->phint = h;
            e->nphint = n;
        }
    }
    /* Redis may hold this partition's customers in kpi:risk from an earlier
     * owner or run; our membership flags start empty: ZREM what drops to 0. */
    e->risk_uncertain = true;
    return 0;
}

void ks_engine_revoke(ks_engine *e, const char *topic, int32_t partition)
{
    ks__part *p = ks__find(e, topic, partition);
    if (!p)
        return;
    e->gone.processed += p->st->meta.processed;
    e->gone.rejected += p->st->meta.rejected;
    e->gone.duplicates += p->st->meta.duplicates;
    ks_pstate_free(p->st);
    ks_fpart_free(&p->fl);
    ks_out_forget(p);
    free(p->topic);
    e->pnum[p - e->parts] = e->pnum[e->nparts - 1];
    *p = e->parts[--e->nparts];
    e->last_hit = -1;
}

/* The replay has rebuilt the partition up to its restore point: bring it to
 * the clock of the flush that wrote its share into Redis, and forget what the
 * replay changed (that share is in Redis already). From here on changes are
 * recorded for the next flush. */
static void ks__restore_finish(ks_engine *e, ks__part *p)
{
    if (!p->st->replaying)
        return;
    if (p->restore_clock != INT64_MIN)
        ks_pstate_advance(p->st, p->restore_clock);
    p->st->replaying = false;
    if (ks_flusher_baseline(&e->fl, &p->fl, p->st, p->next_offset) < 0) {
        /* Without the baseline every later difference would be wrong. */
        ks_error("%s[%d]: out of memory taking over the partition's share; not written",
                 p->topic, (int)p->partition);
        p->fl.fenced = true;
    }
    /* The customers' hashes in Redis are what the replay rebuilt: the flush
     * that stored this restore point wrote every customer dirty then. So
     * nothing replayed needs writing again (a partition of a million
     * customers would otherwise make the next flush write them all), and a
     * customer with a score above 0 is in kpi:risk, as that flush left it. */
    for (uint32_t r = 0; r < p->st->ncust; r++)
        if (p->st->cust[r].risk_score > 0) {
            p->st->cust[r].flags |= KS_CUST_IN_RISK;
            p->st->cust[r].risk_sent = p->st->cust[r].risk_score;
        }
    ks_pstate_clear_dirty(p->st);
    ks_out_forget(p); /* (nothing written yet; said for the reader) */
    /* Day-boundary notices up to the stored clock were sent by the run whose
     * outputs were restored (ks_out_notices would skip them): dropped now,
     * so they do not count against flush_max_pending (a long replay raises
     * thousands). */
    uint32_t keep = 0;
    for (uint32_t i = 0; i < p->st->nnotices; i++) {
        const ks_notice *n = &p->st->notices[i];
        if (!(n->timed && n->at_ms <= p->notice_floor_ms))
            p->st->notices[keep++] = *n;
    }
    p->st->nnotices = keep;
    /* The next tick moves it on, as far as its own events allow. */
}

/* Finishes the restores whose replay reached its point. */
static void ks__settle(ks_engine *e)
{
    for (int i = 0; i < e->nparts; i++) {
        ks__part *p = &e->parts[i];
        if (p->st->replaying && (p->restore_until <= 0 || p->next_offset >= p->restore_until))
            ks__restore_finish(e, p);
    }
}

/* One message of partition p, parsed with parser. Outside a round (round =
 * false) the watermark and the window clock follow each message; inside one
 * (ks_engine_round_begin) they stay where the round began, except that the
 * partition's own progress counts towards its validation clock as it would
 * alone, and other partitions are left alone: threads apply different
 * partitions at once. */
static ks_verdict ks__process(ks_engine *e, ks__part *p, ks_event_parser *parser, bool round,
                              int64_t offset, const char *buf, size_t len, int64_t wall_ms,
                              ks_reject *why)
{
    if (p->st->replaying && offset >= p->restore_until)
        ks__restore_finish(e, p); /* (never in a round: none begins while one replays) */
    p->next_offset = offset + 1;
    p->eof = false;
    ks_event ev;
    if (!ks_event_parse(parser, buf, len, &ev, why)) {
        p->st->meta.rejected++;
        return KS_REJECTED;
    }
    memset(why->field, 0, sizeof why->field);
    if (ev.ts_ms > wall_ms + e->cfg->max_future_skew_ms) {
        why->code = KS_REJECT_FUTURE_TIMESTAMP;
        p->st->meta.rejected++;
        return KS_REJECTED;
    }
    /* Older than the largest window against the clock: it could not count
     * in any window. In event mode the clock is the watermark as of this
     * message, which never runs ahead of this partition's own time. */
    int64_t clock = e->cfg->clock == KS_CLOCK_WALL ? wall_ms : e->vclock_ms;
    if (round && e->cfg->clock == KS_CLOCK_EVENT) {
        /* The watermark with this partition where it is now and the others
         * where the round found them. */
        int64_t others = p == e->round_min_part ? e->round_min2 : e->round_min;
        int64_t wm = p->st->max_ts_ms > others ? others : p->st->max_ts_ms;
        if (wm != INT64_MAX && wm > clock)
            clock = wm;
    }
    /* A lagging partition is judged by its own time; one without any yet
     * (just assigned, replaying from its start while this member's other
     * partitions are weeks ahead) by none: its first event starts its time.
     * Judged by the others' watermark, a partition taken over in a stream
     * longer than the largest window lost its oldest events as too_old,
     * and the new owner's customers differed from a straight run's. */
    if (e->cfg->clock == KS_CLOCK_EVENT && p->st->max_ts_ms < clock)
        clock = p->st->max_ts_ms;
    if (clock != INT64_MIN && ev.ts_ms <= clock - e->max_window_ms) {
        why->code = KS_REJECT_TOO_OLD;
        p->st->meta.rejected++;
        return KS_REJECTED;
    }
    /* Judged before dedup, so a rejected event leaves no trace: a retry of
     * it is judged again, not taken for a duplicate. A repeat of an accepted
     * event passes (its names are the customer's, live as of its time). */
    if (!ks_pstate_names_admit(p->st, &ev, why)) {
        p->st->meta.rejected++;
        return KS_REJECTED;
    }
    if (ks_pstate_seen(p->st, &ev)) {
        p->st->meta.duplicates++;
        return KS_DUPLICATE;
    }
    /* The event raises its partition's time first, so the clock has moved
     * (and the rings have advanced) before the event is added: an event
     * weeks after the previous one does not stretch the rings over the gap.
     * The watermark can only rise when the partition holding it (or one
     * without data yet) moves; then recompute it, O(partitions). */
    int64_t old_max = p->st->max_ts_ms;
    if (e->cfg->clock == KS_CLOCK_EVENT && ev.ts_ms > old_max) {
        p->st->max_ts_ms = ev.ts_ms;
        /* (In a round the watermark moves at the round's end.) */
        if (!round && (e->vclock_ms == INT64_MIN || old_max <= e->vclock_ms)) {
            int64_t wm = ks__watermark(e);
            if (wm > e->vclock_ms)
                e->vclock_ms = wm;
            /* Move the window clock as soon as the watermark has crossed a
             * bucket of the smallest window, not only between batches. */
            if (e->clock_ms == INT64_MIN || e->vclock_ms >= e->clock_ms + e->min_bucket_ms)
                ks__tick(e, wall_ms);
        }
    }
    ks__catch_up(p);
    /* Sketch inputs, replayed events included: a replay rebuilds the
     * partition's share, sketches and top-k counts too. */
    int64_t t_s = ev.ts_ms / 1000;
    if (ev.type == KS_EV_PURCHASE) {
        ks_flusher_record(&e->fl, &p->fl, p->st, KS_X_OV, t_s, ev.amount, NULL, 0, NULL);
        if (ev.product.ptr)
            ks_flusher_record(&e->fl, &p->fl, p->st, KS_X_TP, t_s, 0, ev.product.ptr,
                              ev.product.len, NULL);
    } else if (ev.type == KS_EV_TICKET && ev.action == KS_ACT_TICKET_OPENED && ev.complaint &&
               ev.category.ptr) {
        ks_flusher_record(&e->fl, &p->fl, p->st, KS_X_TC, t_s, 0, ev.category.ptr,
                          ev.category.len, NULL);
    }
    uint32_t notices_before = p->st->nnotices;
    if (ks_pstate_apply(p->st, &ev) < 0) {
        /* Out of memory mid-event: the partition state is no longer trusted. */
        why->code = KS_REJECT_NONE;
        return KS_REJECTED;
    }
    /* First responses to tickets: response-time sketches of their dims. */
    for (uint32_t r = 0; r < p->st->nresp; r++) {
        const ks_response *x = &p->st->resp[r];
        int gids[3] = {KS_GID_GLOBAL,
                       x->segment != KS_NONE ? KS_GID_SEGMENT0 + x->segment : -1,
                       x->channel != KS_NONE ? KS_GID_CHANNEL0 + x->channel : -1};
        ks_flusher_record(&e->fl, &p->fl, p->st, KS_X_RT, x->ts_ms / 1000, (double)x->value_ms,
                          NULL, 0, gids);
    }
    p->st->nresp = 0;
    /* Alerts and triggers raised by a replayed event were sent by the run
     * that stored these outputs (with the same ids): not again. Notices
     * already pending (day boundaries) are judged by the notice floor. */
    if (offset < p->restore_until)
        p->st->nnotices = notices_before;
    return KS_ACCEPTED;
}

ks_verdict ks_engine_process(ks_engine *e, const char *topic, int32_t partition, int64_t offset,
                             const char *buf, size_t len, int64_t wall_ms, ks_reject *why)
{
    ks__part *p = ks__find(e, topic, partition);
    if (!p) {
        /* librdkafka only delivers assigned partitions; adopt it rather than lose data. */
        if (ks_engine_assign(e, topic, partition) < 0 || !(p = ks__find(e, topic, partition))) {
            why->code = KS_REJECT_NONE;
            return KS_REJECTED;
        }
    }
    return ks__process(e, p, e->parser, false, offset, buf, len, wall_ms, why);
}

/* --- rounds: partitions applied by several threads at once --- */

ks_engine_part *ks_engine_part_ref(ks_engine *e, const char *topic, int32_t partition)
{
    return ks__find(e, topic, partition);
}

bool ks_engine_round_possible(const ks_engine *e)
{
    /* Before the first watermark, which partitions may be read depends on
     * all of them (ks_engine_may_read): one at a time. */
    if (e->nparts < 2 || (e->cfg->clock == KS_CLOCK_EVENT && e->clock_ms == INT64_MIN))
        return false;
    for (int i = 0; i < e->nparts; i++)
        if (e->parts[i].st->replaying)
            return false;
    return true;
}

void ks_engine_round_begin(ks_engine *e)
{
    /* The lowest and second-lowest newest-event time of partitions with
     * unread data (the watermark without any one of them). */
    e->round_min = e->round_min2 = INT64_MAX;
    e->round_min_part = NULL;
    for (int i = 0; i < e->nparts; i++) {
        ks__part *p = &e->parts[i];
        if (p->eof)
            continue;
        int64_t t = p->st->max_ts_ms;
        if (t < e->round_min) {
            e->round_min2 = e->round_min;
            e->round_min = t;
            e->round_min_part = p;
        } else if (t < e->round_min2) {
            e->round_min2 = t;
        }
    }
}

ks_verdict ks_engine_round_process(ks_engine *e, int worker, ks_engine_part *p, int64_t offset,
                                   const char *buf, size_t len, int64_t wall_ms, ks_reject *why)
{
    return ks__process(e, p, e->parsers[worker], true, offset, buf, len, wall_ms, why);
}

bool ks_engine_round_may_read(const ks_engine *e, const ks_engine_part *p)
{
    if (e->cfg->clock != KS_CLOCK_EVENT || p->st->max_ts_ms == INT64_MIN)
        return true;
    if (e->clock_ms == INT64_MIN)
        return false; /* (no round begins before the first watermark) */
    return p->st->max_ts_ms <= e->clock_ms + KS_ENGINE_ALIGN_MS;
}

/* What partition p has waiting for the next flush. A partition replaying to
 * its restore point has nothing: its changes are in Redis already, and its
 * restore drops them (ks__restore_finish). */
static size_t ks__pending(const ks__part *p)
{
    return p->st->replaying ? 0 : (size_t)p->st->ndirty + p->st->nnotices;
}

size_t ks_engine_round_part_pending(const ks_engine_part *p)
{
    return ks__pending(p);
}

void ks_engine_round_set_eof(ks_engine_part *p)
{
    p->eof = true;
    p->restore_until = -1; /* (nothing replays in a round) */
}

void ks_engine_round_end(ks_engine *e, int64_t wall_ms)
{
    if (e->cfg->clock != KS_CLOCK_EVENT)
        return;
    int64_t wm = ks__watermark(e);
    if (wm > e->vclock_ms)
        e->vclock_ms = wm;
    if (e->vclock_ms != INT64_MIN &&
        (e->clock_ms == INT64_MIN || e->vclock_ms >= e->clock_ms + e->min_bucket_ms))
        ks__tick(e, wall_ms);
}

void ks_engine_set_eof(ks_engine *e, const char *topic, int32_t partition, bool eof)
{
    ks__part *p = ks__find(e, topic, partition);
    if (!p)
        return;
    p->eof = eof;
    /* At the end before the restore point: the log is shorter than what Redis
     * remembers (topic re-created); nothing more to replay. */
    if (eof) {
        if (p->st->replaying)
            ks__restore_finish(e, p);
        p->restore_until = -1;
    }
}

void ks_engine_set_restore_point(ks_engine *e, const char *topic, int32_t partition,
                                 int64_t next_offset, const char *token, int64_t clock_ms)
{
    ks__part *p = ks__find(e, topic, partition);
    if (!p)
        return;
    p->restore_until = next_offset > 0 ? next_offset : -1;
    snprintf(p->fl.token, sizeof p->fl.token, "%s", token ? token : "");
    p->restore_clock = p->notice_floor_ms = clock_ms;
    p->st->replaying = p->restore_until > 0;
}

static bool ks__part_restoring(const ks__part *p)
{
    return p->restore_until > 0 && p->next_offset < p->restore_until;
}

bool ks_engine_fenced(const ks_engine *e)
{
    for (int i = 0; i < e->nparts; i++)
        if (e->parts[i].fl.fenced)
            return true;
    return false;
}

void ks_engine_set_name_admit(ks_engine *e, ks_engine_admit_fn fn, void *ctx)
{
    e->sh.segments.kind = 's';
    e->sh.channels.kind = 'c';
    e->sh.segments.admit = e->sh.channels.admit = fn;
    e->sh.segments.admit_ctx = e->sh.channels.admit_ctx = ctx;
}

void ks_engine_preload_name(ks_engine *e, char kind, const char *name, size_t len)
{
    ks_intern *t = kind == 's' ? &e->sh.segments : &e->sh.channels;
    ks_intern_admit_fn fn = t->admit;
    t->admit = NULL; /* registered already */
    if (len <= 128 && (t->n < t->max - 1))
        (void)ks_intern_id(t, name, (uint32_t)len);
    t->admit = fn;
}

int ks_engine_name_limit(const ks_engine *e, char kind)
{
    return (kind == 's' ? e->sh.segments.max : e->sh.channels.max) - 1;
}

void ks_engine_set_member(ks_engine *e, const char *id)
{
    snprintf(e->member, sizeof e->member, "%s", id);
}

bool ks_engine_restoring(const ks_engine *e)
{
    for (int i = 0; i < e->nparts; i++)
        if (ks__part_restoring(&e->parts[i]))
            return true;
    return false;
}

bool ks_engine_is_replay(ks_engine *e, const char *topic, int32_t partition, int64_t offset)
{
    ks__part *p = ks__find(e, topic, partition);
    return p && offset < p->restore_until;
}

int64_t ks_engine_read_order(ks_engine *e, const char *topic, int32_t partition)
{
    ks__part *p = ks__find(e, topic, partition);
    if (!p || e->cfg->clock != KS_CLOCK_EVENT)
        return 0;
    return p->st->max_ts_ms;
}

bool ks_engine_may_read(ks_engine *e, const char *topic, int32_t partition)
{
    ks__part *p = ks__find(e, topic, partition);
    if (!p || e->cfg->clock != KS_CLOCK_EVENT || p->st->max_ts_ms == INT64_MIN)
        return true;
    /* Before any watermark, partitions that have data wait for those that
     * have none yet: they are what the clock will start from. */
    if (e->clock_ms == INT64_MIN) {
        for (int i = 0; i < e->nparts; i++)
            if (!e->parts[i].eof && e->parts[i].st->max_ts_ms == INT64_MIN)
                return false;
        return true;
    }
    return ks_engine_round_may_read(e, p);
}

int ks_engine_partitions(const ks_engine *e)
{
    return e->nparts;
}

bool ks_engine_all_eof(const ks_engine *e)
{
    if (e->nparts == 0)
        return false;
    for (int i = 0; i < e->nparts; i++)
        if (!e->parts[i].eof)
            return false;
    return true;
}

/* Watermark: the lowest newest-event-time over partitions that still have
 * unread data; a partition with unread data and no event yet holds the clock
 * (INT64_MIN). Once all are at their end: the highest seen. */
static int64_t ks__watermark(const ks_engine *e)
{
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    bool pending = false;
    for (int i = 0; i < e->nparts; i++) {
        const ks__part *p = &e->parts[i];
        if (p->st->max_ts_ms > hi)
            hi = p->st->max_ts_ms;
        if (p->eof)
            continue;
        pending = true;
        if (p->st->max_ts_ms < lo)
            lo = p->st->max_ts_ms;
    }
    return pending ? lo : hi;
}

static int64_t ks__tick(ks_engine *e, int64_t wall_ms)
{
    int64_t clock = e->cfg->clock == KS_CLOCK_WALL ? wall_ms : ks__watermark(e);
    /* With nothing left to read, follow the group: other members' partitions
     * may be ahead, and ours must reach the clock the outputs are at. */
    if (e->cfg->clock == KS_CLOCK_EVENT && e->group_clock_ms > clock && ks_engine_all_eof(e))
        clock = e->group_clock_ms;
    if (clock < e->vclock_ms)
        clock = e->vclock_ms;
    if (e->cfg->clock == KS_CLOCK_EVENT)
        e->vclock_ms = clock;
    if (clock != INT64_MIN && (e->clock_ms == INT64_MIN || clock > e->clock_ms))
        e->clock_ms = clock;
    if (e->clock_ms == INT64_MIN)
        return e->clock_ms;
    /* Each partition follows the clock, but one with unread data never runs
     * ahead of its own newest event: a partition that lags (just assigned to
     * a member whose other partitions are ahead, or replaying) is never
     * judged by another partition's time, as the contract says of the
     * watermark; its day boundaries and churns happen in the same order
     * relative to its events as in a single process. A replaying partition
     * also stops at the clock its share in Redis was written at
     * (ks__restore_finish). Notices raised here are timed (day boundaries):
     * whether the run that stored the outputs sent them is decided by that
     * clock (the notice floor), not by offsets. */
    for (int i = 0; i < e->nparts; i++) {
        ks__part *p = &e->parts[i];
        int64_t c = e->clock_ms;
        if (e->cfg->clock == KS_CLOCK_EVENT && (!p->eof || p->st->replaying) &&
            c > p->st->max_ts_ms)
            c = p->st->max_ts_ms;
        if (p->st->replaying && p->restore_clock != INT64_MIN && c > p->restore_clock)
            c = p->restore_clock;
        if (c != INT64_MIN && c > p->want_clock)
            p->want_clock = c;
    }
    return e->clock_ms;
}

int64_t ks_engine_tick(ks_engine *e, int64_t wall_ms)
{
    /* Between messages only: inside ks_engine_process() the message being
     * processed already counts in next_offset but is not applied yet. */
    ks__settle(e);
    return ks__tick(e, wall_ms);
}

/* --- flush --- */

/* The owned partitions as the output path sees them. ids: scratch for their
 * "<topic>:<partition>" names. Returns how many. */
static int ks__views(ks_engine *e, ks_flush_view *v, char (*ids)[320])
{
    for (int i = 0; i < e->nparts; i++) {
        ks__part *p = &e->parts[i];
        snprintf(ids[i], sizeof ids[i], "%s:%d", p->topic, (int)p->partition);
        v[i] = (ks_flush_view){&p->fl, p->st, ids[i], p->next_offset};
    }
    return e->nparts;
}

static void ks__fence(void *ctx, int i)
{
    ks_engine *e = ctx;
    ks__part *p = &e->parts[i];
    ks_error("%s:%d: another member of the group wrote it since our last flush; "
             "its state here is stale and is no longer written",
             p->topic, (int)p->partition);
}

void ks_engine_flush_read(const ks_engine *e, ks_batch *b)
{
    ks_batch_clear(b);
    ks_flusher_read_cmds(&e->fl, b);
}

int ks_engine_build_flush(ks_engine *e, const char *const *strs, const size_t *lens, size_t n,
                          ks_batch *b, int64_t wall_ms, char *errstr, size_t errsize)
{
    const ks_config *cfg = e->cfg;
    ks_batch_clear(b);
    ks__settle(e);
    if (e->unconfirmed)
        e->risk_uncertain = true;
    e->unconfirmed = true;
    ks__catch_up_all(e);
    int64_t clock = e->clock_ms;
    if (clock == INT64_MIN) { /* event mode before the first watermark */
        for (int i = 0; i < e->nparts; i++)
            if (e->parts[i].st->max_ts_ms > clock)
                clock = e->parts[i].st->max_ts_ms;
    }
    int np = e->nparts;
    ks_flush_view *views = malloc((size_t)(np ? np : 1) * sizeof *views);
    char (*ids)[320] = malloc((size_t)(np ? np : 1) * sizeof *ids);
    if (!views || !ids) {
        free(views);
        free(ids);
        snprintf(errstr, errsize, "building the flush: out of memory");
        return KS_ERR_NOMEM;
    }
    ks__views(e, views, ids);
    ks_flush_info info;
    int rc = ks_flusher_prepare(&e->fl, strs, lens, n, views, np, clock, e->member, &e->seq,
                                ks__fence, e, &info, errstr, errsize);
    if (rc == 0) {
        if (info.group_clock_ms != INT64_MIN && info.group_clock_ms > e->group_clock_ms)
            e->group_clock_ms = info.group_clock_ms;
        if (info.has_churn30)
            e->churn30 = info.churn30;
        if (clock != INT64_MIN) {
            for (int i = 0; i < np; i++) {
                ks__part *p = &e->parts[i];
                if (!p->fl.ok)
                    continue;
                ks_pstate *st = p->st;
                for (uint32_t d = 0; d < st->ndirty; d++)
                    ks_out_customer(e, b, p, &st->cust[st->dirty[d]], clock, e->risk_uncertain);
            }
            ks_layout_risks_emit(&e->risks, b, cfg->prefix);
            /* Every partition's notices after the customers, in partition
             * order: they share script calls. */
            ks_layout_notices nl;
            ks_layout_notices_begin(&nl, b, cfg->prefix);
            for (int i = 0; i < np; i++)
                if (e->parts[i].fl.ok)
                    ks_out_notices(e, &nl, e->parts[i].st, e->parts[i].notice_floor_ms);
            ks_layout_notices_end(&nl);
            /* The seen ids are what make a re-sent notice a no-op: keep every
             * id this flush sends (a retry re-sends them, even after the
             * clock ran days ahead of them in a catch-up), and two days of the
             * rest. */
            int64_t keep_from = clock - 2 * 86400000LL;
            for (int i = 0; i < np; i++)
                for (uint32_t k = 0; k < e->parts[i].st->nnotices; k++)
                    if (e->parts[i].st->notices[k].at_ms < keep_from)
                        keep_from = e->parts[i].st->notices[k].at_ms;
            ks_layout_notices_trim(b, cfg->prefix, keep_from);
        }
        rc = ks_flusher_emit(&e->fl, views, np, b, wall_ms, e->risk_uncertain);
        if (rc == 0 && b->failed)
            rc = KS_ERR_NOMEM;
        if (rc < 0 && rc != KS_ERR_RANGE)
            snprintf(errstr, errsize, "building the flush: %s", ks_strerror(rc));
    }
    free(views);
    free(ids);
    return rc;
}

void ks_engine_flush_done(ks_engine *e)
{
    e->unconfirmed = e->risk_uncertain = false;
    int np = e->nparts;
    ks_flush_view *views = malloc((size_t)(np ? np : 1) * sizeof *views);
    char (*ids)[320] = malloc((size_t)(np ? np : 1) * sizeof *ids);
    if (views && ids) {
        ks__views(e, views, ids);
        ks_flusher_done(&e->fl, views, np);
    }
    free(views);
    free(ids);
    for (int i = 0; i < e->nparts; i++) {
        ks__part *p = &e->parts[i];
        if (!p->fl.ok)
            continue;
        if (e->sent) {
            ks_pstate_flush_done(p->st);
        } else {
            ks_pstate_clear_dirty(p->st);
            p->st->nnotices = 0;
        }
        p->built_offset = p->fl.sent_offset;
    }
    e->sent = false;
}

void ks_engine_flush_sent(ks_engine *e)
{
    for (int i = 0; i < e->nparts; i++)
        if (e->parts[i].fl.ok)
            ks_pstate_flush_sent(e->parts[i].st);
    e->sent = true;
}

int ks_engine_flush_failed(ks_engine *e)
{
    int rc = 0;
    if (e->sent)
        for (int i = 0; i < e->nparts; i++)
            if (e->parts[i].fl.ok && ks_pstate_flush_failed(e->parts[i].st) < 0)
                rc = KS_ERR_NOMEM;
    e->sent = false;
    return rc;
}

size_t ks_engine_part_pending(ks_engine *e, const char *topic, int32_t partition)
{
    ks__part *p = ks__find(e, topic, partition);
    return p ? ks__pending(p) : 0;
}

bool ks_engine_part_replaying(ks_engine *e, const char *topic, int32_t partition)
{
    ks__part *p = ks__find(e, topic, partition);
    return p && ks__part_restoring(p);
}

size_t ks_engine_pending(const ks_engine *e)
{
    size_t n = 0;
    for (int i = 0; i < e->nparts; i++)
        n += ks__pending(&e->parts[i]);
    return n;
}

uint64_t ks_engine_max_flush_cmds(const ks_engine *e)
{
    return e->fl.max_cmds;
}

int ks_engine_positions(const ks_engine *e, ks_engine_position *out, int max)
{
    int n = 0;
    for (int i = 0; i < e->nparts && n < max; i++) {
        out[n].topic = e->parts[i].topic;
        out[n].partition = e->parts[i].partition;
        out[n].next_offset = e->parts[i].fl.fenced ? -1 : e->parts[i].built_offset;
        n++;
    }
    return n;
}

void ks_engine_stats_get(const ks_engine *e, ks_engine_stats *out)
{
    memset(out, 0, sizeof *out);
    out->processed = e->gone.processed;
    out->rejected = e->gone.rejected;
    out->duplicates = e->gone.duplicates;
    for (int i = 0; i < e->nparts; i++) {
        const ks_pstate *st = e->parts[i].st;
        out->processed += st->meta.processed;
        out->rejected += st->meta.rejected;
        out->duplicates += st->meta.duplicates;
        out->customers += st->ncust;
    }
    out->clock_ms = e->clock_ms;
}

size_t ks_engine_memory(const ks_engine *e)
{
    size_t total = sizeof *e + ks_flusher_memory(&e->fl);
    for (int i = 0; i < e->nparts; i++) {
        const ks_pstate *st = e->parts[i].st;
        total += ks_fpart_memory(&e->parts[i].fl);
        total += ks_out_memory(&e->parts[i]);
        total += st->touches.cap * sizeof(ks_touch);
        total += ks_pstate_rolling_memory(st);
        total += sizeof *st + (size_t)st->capcust * sizeof(ks_customer) +
                 (size_t)st->index_cap * sizeof(uint64_t) + st->ids_cap +
                 (size_t)st->capdirty * sizeof(uint32_t) +
                 (st->dedup.cap + st->tickets.cap + st->names.cap) *
                     sizeof(ks_u64map_slot);
        const ks_group *gs[1] = {&st->global};
        for (int k = 0; k < 1 + st->sh->segments.max + st->sh->channels.max; k++) {
            const ks_group *g = k == 0 ? gs[0]
                                : k <= st->sh->segments.max
                                    ? &st->segments[k - 1]
                                    : &st->channels[k - 1 - st->sh->segments.max];
            if (!g->used)
                continue;
            for (int w = 0; w < e->cfg->nwindows; w++)
                total += ks_series_memory(&g->win[w]);
        }
        total += ks_bpool_memory(&st->bpool);
    }
    return total;
}

static void ks__customer_view(const ks_customer *c, ks_engine_customer *out)
{
    out->score = c->risk_score;
    out->level = c->risk_level;
    out->churned = (c->flags & KS_CUST_CHURNED) != 0;
    out->last_event_ms = c->last_event_ms;
}

bool ks_engine_customer_get(ks_engine *e, const char *id, size_t len, ks_engine_customer *out)
{
    ks__catch_up_all(e);
    for (int i = 0; i < e->nparts; i++) {
        const ks_customer *c = ks_pstate_find(e->parts[i].st, id, (uint32_t)len);
        if (c) {
            ks__customer_view(c, out);
            return true;
        }
    }
    return false;
}

void ks_engine_set_risk_tap(ks_engine *e, ks_risk_tap_fn fn, void *ctx)
{
    e->sh.risk_tap = fn;
    e->sh.risk_tap_ctx = ctx;
}

void ks_engine_customers_each(ks_engine *e,
                              void (*fn)(void *ctx, const char *id, size_t len,
                                         const ks_engine_customer *c),
                              void *ctx)
{
    ks__catch_up_all(e);
    for (int i = 0; i < e->nparts; i++) {
        const ks_pstate *st = e->parts[i].st;
        for (uint32_t r = 0; r < st->ncust; r++) {
            uint32_t len;
            const char *id = ks_pstate_customer_id(st, &st->cust[r], &len);
            ks_engine_customer v;
            ks__customer_view(&st->cust[r], &v);
            fn(ctx, id, len, &v);
        }
    }
}
