/* Per-partition processing state.
 *
 * A Kafka partition is the unit of state ownership: everything derived from
 * one partition's events (its customers, its dedup memory, its open tickets
 * and its share of every aggregate) lives in one ks_pstate, so a partition can
 * be handed to another process by dropping its ks_pstate here and rebuilding
 * it there. Global, segment and channel KPIs are the sums of the partitions'
 * shares (every aggregate is additive by construction, see window.h).
 *
 * Customer records are fixed-size and live in one growable array, found
 * through an open-addressing index of 32-bit record numbers; ids live in an
 * append-only arena. Nothing is allocated per event.
 */
#ifndef KS_STATE_STATE_H
#define KS_STATE_STATE_H

#include "kpistream/config.h"
#include "kpistream/event.h"
#include "kpistream/risk.h"
#include "kpistream/window.h"
#include "state/u64map.h"

#include <stdbool.h>
#include <stdint.h>

#define KS_CHANNELS_MAX 255     /* channels tracked (ids 0..254; 0xFF = none) */
#define KS_SEGMENTS_MAX 255
#define KS_CATEGORIES_MAX 64    /* categories tracked for cross-sell (bitmask) */
#define KS_NONE 0xFF            /* no segment / no channel */
#define KS_NIL UINT32_MAX       /* no record */

/* Interned names (segments, channels, categories), shared by all partitions so
 * ids agree. Past `max` distinct names, new names map to the id of "other". */
struct ks_intern;

/* Asks whoever keeps the prefix's name registry whether a new name is
 * tracked: the same type as ks_engine_admit_fn of engine.h, through which
 * run passes it in (the compiler rejects the hand-over if the two differ). */
typedef int (*ks_intern_admit_fn)(void *ctx, char kind, const char *name, uint32_t len);

typedef struct ks_intern {
    char names[KS_SEGMENTS_MAX + 1][129];
    uint8_t lens[KS_SEGMENTS_MAX + 1];
    int n;
    int max;
    int last; /* id of the last hit: names repeat in runs */
    char kind;                /* 's' segments, 'c' channels (for admit) */
    ks_intern_admit_fn admit; /* NULL: first come, first tracked (tests, benchmarks) */
    void *admit_ctx;
    bool closed;              /* the registry is full: new names are "other" */
} ks_intern;

/** Initialises an empty table holding at most max names (the last id is "other"). */
void ks_intern_init(ks_intern *t, int max);

/** Returns the id of name (adding it if there is room; "other" once full).
 *  Thread-safe (lookups take no lock; adding one does). */
int ks_intern_id(ks_intern *t, const char *name, uint32_t len);

/** Names in the table, for readers on other threads than the one adding
 *  (inline: the risk input asks at every score). */
static inline int ks_intern_count(const ks_intern *t)
{
    return __atomic_load_n(&t->n, __ATOMIC_ACQUIRE);
}

enum {
    KS_CUST_CHURNED = 1 << 0,
    KS_CUST_DIRTY = 1 << 1,   /* must be written at the next flush */
    KS_CUST_EARLIER = 1 << 2, /* first_seen_ms moved back since its last flush */
    KS_CUST_CANCELLED = 1 << 3, /* churned by a subscription cancel */
    KS_CUST_IN_RISK = 1 << 4,   /* a member of kpi:risk as far as we wrote it */
    KS_CUST_EVENT = 1 << 5,     /* had an event since its last flush (HLLs of active customers) */
    KS_CUST_SEG_OWN = 1 << 6,   /* segment last touches in ks_touches (it moved); else the record's */
};

/* Day boundaries whose revenue percentile a partition keeps: a catch-up
 * scores at most 61 (risk_state.c). */
#define KS_P90_DAYS 64

/* One customer: 128 bytes (checked below). Times in seconds are event
 * times (epoch s); fields are ordered to leave no padding. */
typedef struct ks_customer {
    uint64_t id_hash;
    uint32_t id_off;               /* into the id arena: [len u8][bytes][\0] */
    uint32_t lru_prev, lru_next;   /* activity list, oldest last_event first */
    uint16_t open_tickets;
    uint8_t segment, acq_channel;  /* KS_NONE = none */
    int64_t first_seen_ms;
    int64_t last_event_ms;
    int64_t purchases_micro;       /* lifetime purchase amount (micro-units) */
    int64_t refunds_micro;         /* lifetime refunds (micro-units) */
    uint32_t orders_total;
    uint32_t last_purchase_s, prev_purchase_s;   /* 0 = none */
    uint32_t churned_at_s;         /* the last churn (valid while churned): epoch s ... */
    uint16_t churned_at_ms;        /* ... and ms */
    uint8_t flags;
    uint8_t csat_last;             /* 0 = none */
    uint8_t nps_last;              /* KS_NONE = none */
    uint8_t risk_sent;             /* score last written to kpi:risk (if KS_CUST_IN_RISK) */
    uint64_t categories;           /* bit i: bought category i */
    uint32_t open_since_s;         /* when open_tickets last went from 0 to 1 (0: none open) */
    uint32_t events_total;         /* accepted events, all time (risk: usual gap) */
    uint32_t last_downgrade_s;     /* 0: never */
    uint32_t last_alert_s;         /* event time of the last churn alert (cooldown); 0: never */
    uint16_t trigger_day[4];       /* UTC day each trigger last fired (cooldown); 0: never */
    uint8_t risk_score;            /* 0-100 */
    uint8_t risk_level;            /* ks_risk_level */
    uint16_t risk_top;             /* top reasons: 3 x 4 bits (reason + 1; 0 = none) */
    /* Rolling fields: the customer's bucket lists live in the partition's
     * pool (ks_roll, src/state/rolling.c); the record holds where. */
    uint32_t roll_off;             /* offset of the lists in the pool */
    uint32_t roll_len;             /* their bytes; 0 = none */
    uint32_t roll_visit;           /* expiry heap key (x 1440 s) of the next look; 0 = none */
} ks_customer;

_Static_assert(sizeof(ks_customer) == 128, "ks_customer must stay compact");

/* Group ids: 0 global, 1 + segment id, KS_GID_CHANNEL0 + channel id. */
#define KS_GID_GLOBAL 0
#define KS_GID_SEGMENT0 1
#define KS_GID_CHANNEL0 (1 + 255)

/* One group's series: windows x aggregates. */
typedef struct ks_group {
    ks_series win[KS_MAX_WINDOWS];
    int64_t base;       /* customers known and not churned, all event times */
    bool used;
} ks_group;

/* A customer's latest event, purchase and second-latest purchase in one
 * segment or channel (epoch s; 0 = none): the last touches their distinct
 * counts in that scope are kept by (src/state/touch.c). */
typedef struct ks_touch {
    uint64_t key;        /* (record, group id); 0 empty, 1 deleted */
    uint32_t last_s, purchase_s, prev_purchase_s, pad_;
} ks_touch;

typedef struct ks_touches {
    ks_touch *e;
    size_t cap, used, filled;
} ks_touches;

/* The customers' rolling bucket lists of one partition: a pool of blocks in
 * size classes (8 per power of two from 8 bytes), and a min-heap that finds
 * the customers whose buckets leave a window as the clock moves. */
#define KS_ROLL_CLASSES 100
typedef struct ks_roll {
    uint8_t *buf;          /* the pool; a free block starts with the next free offset + 1 */
    size_t len, cap;       /* carved, allocated */
    uint32_t free_head[KS_ROLL_CLASSES]; /* first free block per class (offset + 1; 0 = none) */
    size_t used;           /* bytes in customers' lists */
    uint64_t *heap;        /* roll_visit << 32 | record number, smallest first */
    uint32_t nheap, capheap;
    uint8_t *scratch;      /* edits are assembled here */
    size_t capscratch;
    uint64_t visits, compactions; /* heap entries handled, pool compactions (stats) */
} ks_roll;

/* One first response to a ticket: counted in the windows of its time. */
typedef struct ks_response {
    int64_t ts_ms;       /* when it was responded */
    uint32_t value_ms;   /* responded - opened (saturated) */
    uint8_t segment;     /* customer's segment at the time (KS_NONE) */
    uint8_t channel;     /* the responded event's own channel (KS_NONE) */
} ks_response;

/* An alert or trigger raised for a customer, waiting for the next flush. */
#define KS_NOTICE_ALERT 0xFF
typedef struct ks_notice {
    uint32_t cust;     /* record number */
    uint8_t kind;      /* KS_NOTICE_ALERT or a ks_trigger */
    uint8_t score;     /* risk score at the time */
    uint16_t top;      /* top reasons (as ks_customer.risk_top) */
    bool timed;        /* raised at a day boundary, not by an event */
    uint8_t segment;   /* the customer's segment at the time (KS_NONE) */
    int64_t at_ms;     /* event time it was raised at */
    double revenue_30d; /* alerts: the customer's revenue_30d as of at_ms (their clv) */
} ks_notice;

typedef struct ks_pstate_meta {
    int64_t processed;  /* accepted unique events */
    int64_t rejected;   /* dead-lettered */
    int64_t duplicates; /* repeats ignored */
} ks_pstate_meta;

typedef struct ks_engine_shared {
    const ks_config *cfg;
    ks_intern segments, channels, categories;
    int social_channel; /* channel id of "social", or -1 until seen */
    ks_risk_tap_fn risk_tap; /* NULL: none (run) */
    void *risk_tap_ctx;
} ks_engine_shared;

/* Where a name stands in a customer's list of one kind (names.c). */
typedef struct ks_names_look {
    int found;       /* slot of the name, or -1 */
    bool found_live; /* ... and it is live */
    int reuse;       /* first slot no longer live, or -1 */
    int n;           /* slots in use */
    int live;        /* live names (the name itself included if found) */
} ks_names_look;

/* What the names admission found for the event it let through, so that the
 * event's application does not hash and look up the same names again. Used
 * only for the same event, names and record and while the lists are
 * unchanged (gen); anything else looks up afresh. */
typedef struct ks_names_hint {
    const void *ev;     /* the event admitted (NULL: none) */
    int64_t ts_ms;
    uint32_t rec, gen;
    uint32_t h[2];      /* name hashes by kind (segment, channel) */
    const char *name[2]; /* ... of these bytes */
    size_t len[2];
    ks_names_look o[2];
} ks_names_hint;

typedef struct ks_pstate {
    ks_engine_shared *sh;  /* borrowed */
    /* customers */
    ks_customer *cust;
    uint32_t ncust, capcust;
    uint64_t *index;       /* hash fragment << 32 | (record number + 1); 0 = empty */
    uint32_t index_cap;    /* power of two */
    /* The last customer ks_pstate_find() found (record + 1, 0: none) and the
     * id it was asked for: the admission check and the event's application
     * look up the same id one after the other. Checked against the record's
     * id bytes before use, so a stale hint costs a lookup, never a mix-up. */
    const char *hint_id;
    uint32_t hint_len, hint_rec;
    char *ids;
    uint32_t ids_len, ids_cap;
    uint32_t lru_head, lru_tail;
    uint32_t *dirty;       /* record numbers with KS_CUST_DIRTY set */
    uint32_t ndirty, capdirty;
    /* memories */
    ks_u64map dedup;       /* event_id hash -> {ts_s, 0} */
    ks_touches touches;    /* (customer, segment or channel) -> last touches */
    ks_u64map names;       /* (customer, kind, slot) -> name hash, last use (names.c) */
    uint32_t names_gen;    /* changes of names (a names hint is valid for one) */
    ks_names_hint nhint;
    ks_u64map tickets;     /* ticket_id hash -> packed {opened_ms, flags, channel, segment} */
    ks_roll roll;          /* customers' rolling bucket lists */
    ks_bpool bpool;        /* spare window buckets of its groups' series */
    ks_response *resp;     /* first responses, drained by the engine after each event */
    uint32_t nresp, capresp;
    ks_notice *notices;    /* alerts and triggers since the last flush */
    uint32_t nnotices, capnotices;
    /* What the flush in flight carries (ks_pstate_flush_sent): taken out of
     * dirty and notices, so events meanwhile start new lists; given back if
     * that flush fails. */
    uint32_t *fdirty;
    uint32_t nfdirty, capfdirty;
    ks_notice *fnotices;
    uint32_t nfnotices, capfnotices;
    /* 90th percentile of customers' revenue_30d as of each recent UTC day
     * boundary (high_value_at_risk), by day number mod KS_P90_DAYS: computed
     * when first asked for, by the day's sweep or an event read ahead of it,
     * so it never depends on which came first. */
    int64_t p90_day[KS_P90_DAYS]; /* day number held, INT64_MIN: none */
    double p90[KS_P90_DAYS];
    bool timed;            /* scoring at a day boundary (notices are marked timed) */
    /* aggregates */
    ks_group global;
    ks_group *segments;    /* [segments.max] */
    ks_group *channels;    /* [channels.max] */
    ks_group *used[1 + KS_SEGMENTS_MAX + KS_CHANNELS_MAX]; /* groups in use, to advance */
    int nused;
    bool replaying;        /* rebuilding from history: its share is in Redis already */
    ks_pstate_meta meta;
    int64_t max_ts_ms;     /* highest event time seen (INT64_MIN: none) */
    int64_t clock_ms;      /* last clock applied by ks_pstate_advance */
    int64_t adv_s;         /* that clock in seconds, once the advance is done ... */
    int64_t adv_n[KS_MAX_WINDOWS]; /* ... and its bucket of each window (INT64_MIN:
                            * none): a series behind it moves when used */
} ks_pstate;

/** Creates the state of one partition. Returns NULL on OOM. Caller owns it;
 *  free with ks_pstate_free(). sh is borrowed and must outlive it. */
ks_pstate *ks_pstate_new(ks_engine_shared *sh);

/** Frees p (NULL is ignored). */
void ks_pstate_free(ks_pstate *p);

/** Returns true if event_id was already counted (and remembers it otherwise). */
bool ks_pstate_seen(ks_pstate *p, const ks_event *ev);

/** Judges whether ev would give its customer more than max_names_per_customer
 *  live `segment` or `channel` names (src/state/names.c says which are live).
 *  Returns true if it may be applied; false with *why set to
 *  too_many_names:<field>. Reads only the customer's own names: the answer
 *  does not depend on the clock, flushes or restarts. Changes nothing. */
bool ks_pstate_names_admit(ks_pstate *p, const ks_event *ev, ks_reject *why);

/** Applies one accepted event. Returns 0 or KS_ERR_NOMEM. */
int ks_pstate_apply(ks_pstate *p, const ks_event *ev);

/** Moves p's clock to clock_ms: churns customers inactive for churn_inactivity,
 *  expires old buckets, marks customers whose rolling fields changed dirty. */
void ks_pstate_advance(ks_pstate *p, int64_t clock_ms);

/** Returns the id of customer c as a NUL-terminated string. Borrowed from p. */
const char *ks_pstate_customer_id(const ks_pstate *p, const ks_customer *c, uint32_t *len);

/** Looks a customer up by id; returns NULL if unknown. Borrowed from p. */
ks_customer *ks_pstate_find(ks_pstate *p, const char *id, uint32_t len);

/* Per-customer rolling values at a clock. Each field follows the window rule
 * of window.h with buckets of W/60: at clock c, buckets n with
 * floor(c/b) - 60 < n <= floor(c/b), b = 10080 s (7d), 40320 s (28d),
 * 43200 s (30d), exact (docs/kpis.md, "Per-customer fields"). */
typedef struct ks_customer_rolling {
    int64_t orders_30d, interactions_7d, interactions_28d, complaints_30d, payment_failures_30d;
    int64_t revenue_30d_micro;      /* net revenue, micro-units */
    int64_t revenue_prev_30d_micro; /* the 60 buckets of 43200 s before those */
    double revenue_30d;             /* the same in the events' unit */
    double revenue_prev_30d;
} ks_customer_rolling;

/** Computes customer c's rolling fields at clock_ms; buckets after the
 *  clock's (events ahead of the clock) are included: the values the hash
 *  settles on. c is one of p's customers. */
void ks_customer_rolling_at(const ks_pstate *p, const ks_customer *c, int64_t clock_ms,
                            ks_customer_rolling *out);

/** The same as of at_ms: buckets after at_ms's do not count (risk scoring at
 *  a moment must not see later events). */
void ks_customer_rolling_as_of(const ks_pstate *p, const ks_customer *c, int64_t at_ms,
                               ks_customer_rolling *out);

/** ks_customer_rolling_as_of's revenue_30d_micro alone (it decodes only
 *  what that needs: the day boundary's revenue decile reads every customer). */
int64_t ks_customer_revenue_30d_as_of(const ks_pstate *p, const ks_customer *c, int64_t at_ms);

/** Returns the bytes p's rolling lists hold (pool, expiry heap). */
size_t ks_pstate_rolling_memory(const ks_pstate *p);

/** Re-scores a customer at at_ms (risk, alerts, time-driven triggers). */
void ks_pstate_risk_update(ks_pstate *p, ks_customer *c, int64_t at_ms);

/** Raises trigger t for c at at_ms if its cooldown allows. */
void ks_pstate_trigger(ks_pstate *p, ks_customer *c, int t, int64_t at_ms);

/** Fills the risk rule inputs of customer c at at_ms. */
void ks_pstate_risk_input(const ks_pstate *p, const ks_customer *c, int64_t at_ms,
                          ks_risk_input *in);

/** Clears the dirty list (after a successful flush). */
void ks_pstate_clear_dirty(ks_pstate *p);

/** A flush carrying the dirty customers and notices was sent: they move to
 *  the in-flight lists; events from now on start new ones. */
void ks_pstate_flush_sent(ks_pstate *p);

/** The flush in flight was written: its lists are done with. */
void ks_pstate_flush_done(ks_pstate *p);

/** The flush in flight failed: its customers are dirty again and its
 *  notices go first in the next flush. Returns 0 or KS_ERR_NOMEM. */
int ks_pstate_flush_failed(ks_pstate *p);

#endif
