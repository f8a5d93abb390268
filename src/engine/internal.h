/* The engine's private types, shared by engine.c and engine_snap.c
 * (snapshots of a partition's state). Private to src/engine/. */
#ifndef KS_ENGINE_INTERNAL_H
#define KS_ENGINE_INTERNAL_H

#include "engine/flush.h"

#include "kpistream/engine.h"
#include "kpistream/event.h"
#include "kpistream/layout.h"
#include "state/state.h"

/* What the last flush built wrote into one customer's hash, for the fields
 * that are not sent on a flag (out_customer.c). Money in hundredths,
 * counts saturated (a value at the limit is always sent). 36 bytes. */
typedef struct ks_csent {
    int32_t revenue_30d_c, clv_c, revenue_total_c;
    uint32_t orders_total;
    uint16_t n[5]; /* orders_30d, interactions_7d, interactions_28d, complaints_30d, payment_failures_30d */
    uint16_t open_tickets, risk_top;
    uint8_t segment, csat_last, nps_last, risk_score, risk_level;
    uint8_t state; /* 0: nothing written (send every field); 1 active, 2 churned */
} ks_csent;

typedef struct ks_engine_part {
    char *topic;
    int32_t partition;
    ks_pstate *st;
    int64_t next_offset;  /* after the last message seen; -1 none */
    int64_t built_offset; /* next_offset when the last flush was built */
    int64_t restore_until; /* replaying below this offset; -1 none */
    int64_t restore_clock; /* the partition's clock in the flush that wrote Redis's share */
    int64_t notice_floor_ms; /* timed notices at or before it were sent already */
    bool eof;
    int64_t want_clock;    /* the clock the last tick gave it, applied lazily (ks__catch_up) */
    ks_fpart fl;           /* its side of the output path (flush.h) */
    bool from_snapshot;    /* its state was loaded from a snapshot (engine_snap.c) */
    ks_csent *sent;        /* [capsent] by record number (out_customer.c) */
    uint32_t capsent;
} ks__part;

struct ks_engine {
    const ks_config *cfg;
    ks_engine_shared sh;
    ks_event_parser *parser; /* parsers[0] */
    ks_event_parser *parsers[KS_ENGINE_WORKERS_MAX]; /* one per worker of a round */
    /* Where the round in progress found the watermark (ks_engine_round_begin). */
    int64_t round_min, round_min2;
    const ks__part *round_min_part;
    ks__part *parts;
    int32_t *pnum; /* [capparts]: parts[i].partition, side by side: a lookup
                    * scans these, not a cache line of ks__part each */
    int *phint;    /* [nphint]: by partition number, 1 + the index a lookup last
                    * found it at (checked before use: a hint, never stale-trusted) */
    int nparts, capparts, nphint;
    int last_hit;
    int64_t clock_ms;  /* the window clock, applied to every partition at ticks */
    int64_t vclock_ms; /* the validation clock: the watermark, kept per message */
    int64_t max_window_ms;
    int64_t min_bucket_ms; /* bucket width of the smallest window */
    ks_pstate_meta gone; /* meta of revoked partitions (for the logs; Redis keeps their shares) */
    ks_ddsketch *keysk;                 /* maps values to DDSketch bucket keys */
    ks_flusher fl;                      /* the output path (flush.h) */
    ks_layout_risks risks;              /* a flush's kpi:risk changes, sent after its customers */
    char member[24];                    /* random id of this process: flush tokens */
    uint64_t seq;                       /* flushes frozen so far */
    int64_t group_clock_ms;             /* the group clock Redis returned last (INT64_MIN) */
    double churn30;                     /* global churn rate of the 30d window, as a fraction */
    bool unconfirmed;                   /* a flush was built and not confirmed written */
    bool sent;                          /* the built flush was sent and is in flight */
    bool risk_uncertain;                /* so kpi:risk and the customer hashes may differ
                                         * from what we remember writing: write them whole */
};

/* A flush's outputs per customer (out_customer.c). */
/* Appends customer c's changed hash fields (all of them if whole) and
 * ranking change to b, as of clock_ms, and remembers what it wrote. */
void ks_out_customer(ks_engine *e, ks_batch *b, ks__part *p, ks_customer *c, int64_t clock_ms,
                     bool whole);
/* Appends st's alerts and triggers, but the timed ones at or before floor_ms. */
void ks_out_notices(ks_engine *e, ks_layout_notices *nl, const ks_pstate *st, int64_t floor_ms);
/* Forgets what p's customers' hashes hold: each is written whole next. */
void ks_out_forget(ks__part *p);
size_t ks_out_memory(const ks__part *p);

#endif
