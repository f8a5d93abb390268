/* Distinct names per customer: the limit max_names_per_customer (state.h).
 *
 * Producers choose `segment` and `channel` freely, and every distinct one a
 * customer uses gets its own last-touch entry (touch.c) and its own share of
 * that scope's counts. One customer cycling names would otherwise occupy up
 * to max_segments + max_channels entries (and keep making new names for the
 * registry); the limit bounds what one customer's events can take.
 *
 * What is counted: a customer's names of one kind *live as of the event's
 * time* T, i.e. used by one of their accepted events at a time after
 * T - (largest window). Older touches count in no window any more (the same
 * rule touch.c uses to drop them), so a long-lived customer who changes
 * channel now and then is never refused. The decision reads only this list,
 * which only the customer's own accepted events write, in partition order:
 * it does not depend on the clock, on when touch.c's table is rebuilt, on
 * flushes, or on a restart (a replay, or a snapshot that carries the lists,
 * reaches the same decisions). Raw names are counted, not the interned ids,
 * so names folded into "other" count too and the registry plays no part.
 *
 * Layout: one u64map entry per (customer, kind, slot), slots 0..n-1 used
 * without holes, n <= the limit:
 *
 *   key   = (record + 1) << 7 | kind << 6 | slot          (never 0 or 1)
 *   value = name hash (32 bits) << 32 | latest event time using it (epoch s)
 *
 * A new name takes the first slot whose name is no longer live, else the next
 * free one. Most customers use one name of a kind, found at slot 0 in one
 * lookup. A 32-bit hash collision merges two names of one customer: it can
 * only under-count, never refuse a customer wrongly. */
#include "kpistream/err.h"
#include "kpistream/hash.h"
#include "state/state.h"
#include "state/internal.h"

#include <string.h>

#define KS__NAME_SEED 0x6e616d6573ULL /* "names" */

enum { KS__N_SEGMENT = 0, KS__N_CHANNEL = 1 };

#define KS__SLOT_BITS 6
_Static_assert(KS_NAMES_PER_CUSTOMER_MAX <= 1 << KS__SLOT_BITS, "a slot fits its bits");

static uint64_t ks__nkey(uint32_t rec, int kind, int slot)
{
    return ((uint64_t)rec + 1) << (KS__SLOT_BITS + 1) | (uint64_t)kind << KS__SLOT_BITS |
           (uint64_t)slot;
}

void ks_names_layout(ks_u64map *m)
{
    /* A customer's slots of one kind side by side: ks__nfind reads them in
     * order up to the first absent one, one cold line per slot when each
     * was hashed apart (the third most missed-on line of a catch-up). */
    ks_u64map_set_runs(m, KS__SLOT_BITS);
}

static void ks__nfind(ks_pstate *p, uint32_t rec, int kind, uint32_t h, int64_t dead_s,
                      ks_names_look *o)
{
    *o = (ks_names_look){.found = -1, .reuse = -1};
    for (int i = 0; i < KS_NAMES_PER_CUSTOMER_MAX; i++) {
        const ks_u64map_val *v = ks_u64map_get(&p->names, ks__nkey(rec, kind, i));
        if (!v)
            break;
        o->n = i + 1;
        uint64_t a = (uint64_t)v->a;
        bool live = (int64_t)(uint32_t)a > dead_s;
        o->live += live;
        if ((uint32_t)(a >> 32) == h) {
            o->found = i;
            o->found_live = live;
        }
        else if (!live && o->reuse < 0)
            o->reuse = i;
    }
}

/* Event time of ev in seconds, clamped to what a slot holds. */
static int64_t ks__ev_s(const ks_event *ev)
{
    int64_t t = ev->ts_ms / 1000;
    return t < 0 ? 0 : t > UINT32_MAX ? UINT32_MAX : t;
}

/* Names older than this are not live as of ev (the largest window before it). */
static int64_t ks__dead_s(const ks_pstate *p, const ks_event *ev)
{
    const ks_config *cfg = p->sh->cfg;
    int64_t w = cfg->nwindows ? cfg->windows[cfg->nwindows - 1].length_ms / 1000 : 0;
    return ks__ev_s(ev) - w;
}

static uint32_t ks__nhash(int kind, const ks_str *s)
{
    return (uint32_t)(ks_hash64(s->ptr, s->len, KS__NAME_SEED + (uint64_t)kind) >> 32);
}

bool ks_pstate_names_admit(ks_pstate *p, const ks_event *ev, ks_reject *why)
{
    p->nhint.ev = NULL;
    if (!ev->customer_id.ptr || (!ev->segment.ptr && !ev->channel.ptr))
        return true;
    ks_customer *c = ks_pstate_find(p, ev->customer_id.ptr, ev->customer_id.len);
    if (!c)
        return true; /* a first event brings one name of each kind */
    const ks_str *names[2] = {&ev->segment, &ev->channel};
    static const char *const field[2] = {"segment", "channel"};
    int64_t dead_s = ks__dead_s(p, ev);
    ks_names_hint *hint = &p->nhint;
    for (int k = 0; k < 2; k++) {
        hint->name[k] = NULL;
        if (!names[k]->ptr)
            continue;
        ks_names_look *o = &hint->o[k];
        hint->h[k] = ks__nhash(k, names[k]);
        hint->name[k] = names[k]->ptr;
        hint->len[k] = names[k]->len;
        ks__nfind(p, (uint32_t)(c - p->cust), k, hint->h[k], dead_s, o);
        /* A name no longer live comes back as a new one would. */
        if (!o->found_live && o->live >= p->sh->cfg->max_names_per_customer) {
            why->code = KS_REJECT_TOO_MANY_NAMES;
            memset(why->field, 0, sizeof why->field);
            strcpy(why->field, field[k]);
            return false;
        }
    }
    hint->ev = ev;
    hint->ts_ms = ev->ts_ms;
    hint->rec = (uint32_t)(c - p->cust);
    hint->gen = p->names_gen;
    return true;
}

int ks__names_note(ks_pstate *p, const ks_customer *c, const ks_event *ev)
{
    const ks_str *names[2] = {&ev->segment, &ev->channel};
    int64_t t_s = ks__ev_s(ev), dead_s = ks__dead_s(p, ev);
    uint32_t rec = (uint32_t)(c - p->cust);
    const ks_names_hint *hint = &p->nhint;
    bool hinted = hint->ev == ev && hint->ts_ms == ev->ts_ms && hint->rec == rec &&
                  hint->gen == p->names_gen;
    for (int k = 0; k < 2 && hinted; k++)
        hinted = !names[k]->ptr || (hint->name[k] == names[k]->ptr && hint->len[k] == names[k]->len);
    p->nhint.ev = NULL;
    for (int k = 0; k < 2; k++) {
        if (!names[k]->ptr)
            continue;
        uint32_t h;
        ks_names_look o;
        if (hinted) {
            h = hint->h[k];
            o = hint->o[k];
        } else {
            h = ks__nhash(k, names[k]);
            ks__nfind(p, rec, k, h, dead_s, &o);
        }
        int slot = o.found >= 0 ? o.found : o.reuse >= 0 ? o.reuse : o.n;
        /* Full of live names: only an event that skipped the admission
         * check (tests applying events directly) gets here; it is counted
         * but not remembered, so the list keeps its bound. */
        if (slot >= p->sh->cfg->max_names_per_customer || slot >= KS_NAMES_PER_CUSTOMER_MAX)
            continue;
        bool created = false;
        ks_u64map_val *v = ks_u64map_put(&p->names, ks__nkey(rec, k, slot), &created);
        if (!v)
            return KS_ERR_NOMEM;
        p->names_gen++;
        uint32_t last = o.found >= 0 ? (uint32_t)(uint64_t)v->a : 0;
        if (o.found < 0 || t_s > (int64_t)last)
            last = (uint32_t)t_s;
        v->a = (int64_t)((uint64_t)h << 32 | last);
    }
    return 0;
}
