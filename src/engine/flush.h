/* The output path: how a partition's share of the group's aggregates leaves
 * the engine (see docs/architecture.md, "Flush and offsets").
 *
 * A partition's *share* is a set of absolute values at its own clock: the
 * sums of its window buckets per (window, counter, dim), the DDSketch bucket
 * counts and top-k item counts inside each window, the customers at each
 * window's end, and its meta counts. Redis keeps the group's sums of those
 * shares in one hash (<prefix>agg:state) together with each partition's
 * token, next offset and clock.
 *
 * A flush reads that hash under WATCH, checks each owned partition's token
 * (ours: go on; the token of our previous attempt: that attempt went through
 * and only its reply was lost; anything else: another member owns it now,
 * fenced), and adds to the sums the difference between each partition's
 * share now and the share Redis holds for it. Every value it writes is
 * absolute, the group state in one HSET: a transaction that fails at any
 * command is either not applied at all or completed by the next attempt,
 * which finds its token and goes on from there. Nothing is an increment that
 * a retry could apply twice. The flush's cost grows with the customers it
 * writes and the owned partitions x dims, never with the buckets or days the
 * stream crossed.
 */
#ifndef KS_ENGINE_FLUSH_H
#define KS_ENGINE_FLUSH_H

#include "engine/names.h"

#include "kpistream/batch.h"
#include "kpistream/ddsketch.h"
#include "state/state.h"
#include "state/u64map.h"

#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>

/* One value of a share: field id (names.h) and value. Kept sorted by fid. */
typedef struct ks_share_ent {
    uint32_t fid;
    int64_t v;
} __attribute__((packed)) ks_share_ent;

typedef struct ks_share {
    ks_share_ent *e;
    uint32_t n, cap;
} ks_share;

/* A partition's side of the output path. */
typedef struct ks_fpart {
    char token[64];      /* token Redis holds for the partition ("" none) */
    char try_token[64];  /* token of the attempt in flight ("" none) */
    ks_share confirmed;  /* the share Redis holds for the partition */
    ks_share attempt;    /* the share of the attempt in flight */
    int64_t try_offset, try_clock;
    int64_t sent_offset, sent_clock; /* as Redis holds them (-1 / INT64_MIN: none) */
    ks_u64map xs;        /* sketch and top-k bucket counts: (xid, window, bucket) -> count */
    const ks_config *xs_cfg; /* for xs's rebuild predicate: the windows */
    int64_t xs_clock_ms; /* and the partition's clock (INT64_MIN none) */
    bool xs_init;
    bool in_try;         /* its share, offset and token are in the attempt */
    bool ok;             /* the last read found it ours */
    bool fenced;         /* another member owns it now */
} ks_fpart;

/* The engine's side: names and scratch shared by every partition. */
typedef struct ks_flusher {
    pthread_mutex_t rec_mu; /* the names below, from ks_flusher_record's threads */
    const ks_config *cfg;
    const ks_engine_shared *sh;
    const ks_ddsketch *keysk;
    ks_names fields;     /* field names of <prefix>agg:state */
    struct ks_fdesc *desc; /* [fields.n] what each field is */
    uint32_t capdesc;
    ks_names dims;       /* "g", "s:<segment>", "c:<channel>" */
    uint32_t *gid_dim;   /* engine group id -> dim id + 1 (0: not yet) */
    uint32_t ngid;
    uint32_t (*dim_fid)[KS_MAX_WINDOWS][KS_C__COUNT + 1]; /* [dims] counter fids (+1; 0 unset); [C__COUNT] = base_end */
    uint32_t capdim;
    ks_names xnames;     /* window-less sketch / top-k names */
    uint32_t (*xfid)[KS_MAX_WINDOWS]; /* [xnames] fid + 1 per window (0 unset) */
    uint32_t capx;
    int64_t *sum, *cur, *next; /* [fields] group sums read, scratch share, sums to write */
    uint32_t *stamp;     /* [fields] last partition pass that touched cur */
    uint32_t capf, pass;
    uint32_t *touched;
    uint32_t ntouched, captouched;
    int64_t group_clock_ms; /* read from Redis (INT64_MIN none) */
    int64_t hmax[KS_MAX_WINDOWS]; /* highest HLL bucket written per window (INT64_MIN none) */
    uint32_t meta_fid[3], clock_fid, hmax_fid[KS_MAX_WINDOWS];
    bool first;          /* no flush written by this process yet */
    bool top_dirty[KS_MAX_WINDOWS];
    uint64_t max_cmds;   /* largest flush so far, in commands (tests, benchmarks) */
} ks_flusher;

/** Initialises f. Returns 0 or KS_ERR_NOMEM. */
int ks_flusher_init(ks_flusher *f, const ks_config *cfg, const ks_engine_shared *sh,
                    const ks_ddsketch *keysk);

/** Frees what f owns. */
void ks_flusher_free(ks_flusher *f);

/** Initialises / frees a partition's side. */
void ks_fpart_init(ks_fpart *fp);
void ks_fpart_free(ks_fpart *fp);

/* Kinds of sketch items recorded per partition. */
typedef enum ks_xkind {
    KS_X_RT,  /* a first response time (ms), global + segment + channel */
    KS_X_OV,  /* an order value, global */
    KS_X_TP,  /* a product bought */
    KS_X_TC,  /* a complaint category */
} ks_xkind;

/** Records one sketch item of a partition at event time t_s: value (RT, OV)
 *  or item name (TP, TC); gids: the dims of an RT (engine group ids, up to 3,
 *  negative = none). Replayed events are recorded too: they rebuild the
 *  share. Callable for different partitions (fp, st) from several threads at
 *  once, while no flush is built. */
void ks_flusher_record(ks_flusher *f, ks_fpart *fp, const ks_pstate *st, ks_xkind kind,
                       int64_t t_s, double value, const char *item, size_t len, const int *gids);

/** Sets fp's confirmed share to st's share now: the replay that rebuilt the
 *  partition reproduced what its previous owner wrote. Returns 0 or
 *  KS_ERR_NOMEM. */
int ks_flusher_baseline(ks_flusher *f, ks_fpart *fp, ks_pstate *st, int64_t next_offset);

/** Bytes held by f and by one partition's side. */
size_t ks_flusher_memory(const ks_flusher *f);
size_t ks_fpart_memory(const ks_fpart *fp);


/* One owned partition as the flush sees it. */
typedef struct ks_flush_view {
    ks_fpart *fp;
    ks_pstate *st;
    const char *id;       /* "<topic>:<partition>" */
    int64_t next_offset;  /* -1: nothing consumed */
} ks_flush_view;

/* What the read of the group state told. */
typedef struct ks_flush_info {
    int64_t group_clock_ms; /* the group clock after this flush (INT64_MIN none) */
    double churn30;         /* global churn rate of the 30d window, fraction */
    bool has_churn30;
} ks_flush_info;

/** Appends the read of the group state to b: WATCH, then HGETALL (the
 *  reply ks_flusher_prepare() takes). */
void ks_flusher_read_cmds(const ks_flusher *f, ks_batch *b);

/** Takes the group state read (field/value strings of the HGETALL; n = 0:
 *  none), settles each partition's token (fence(ctx, i) for a partition
 *  another member owns now), computes each partition's share and the new
 *  group sums. clock_ms: this member's window clock. token_of(i) gives a
 *  new token for partition i's attempt. Returns 0, KS_ERR_NOMEM, or
 *  KS_ERR_RANGE (a sum would overflow; errstr says which). */
int ks_flusher_prepare(ks_flusher *f, const char *const *strs, const size_t *lens, size_t n,
                       ks_flush_view *parts, int nparts, int64_t clock_ms, const char *member,
                       uint64_t *seq, void (*fence)(void *ctx, int i), void *ctx,
                       ks_flush_info *out, char *errstr, size_t errsize);

/** Appends the group state's write and the outputs derived from the sums
 *  (kpi:meta, the KPI hashes, HLLs, top-k lists, offsets) to b. The HLLs
 *  get the dirty customers with an event since their last flush, or every
 *  dirty customer if all_hll (an earlier flush may have been lost). */
int ks_flusher_emit(ks_flusher *f, ks_flush_view *parts, int nparts, ks_batch *b, int64_t wall_ms,
                    bool all_hll);

/** The transaction went through: the attempt is what Redis holds now. */
void ks_flusher_done(ks_flusher *f, ks_flush_view *parts, int nparts);

/* A partition's sketch counts (ks_fpart.xs) are keyed by (name id, window,
 * bucket); name ids are this process's own, so snapshots keep the names. */

/** Returns the id of a sketch item name (adding it), or KS_NAMES_NONE. */
uint32_t ks_flusher_xname_id(ks_flusher *f, const char *name, size_t len);

/** Returns the xs key of (name id, window, bucket), and back. */
uint64_t ks_flusher_xkey(uint32_t xid, int w, int64_t n);
void ks_flusher_xunkey(uint64_t key, uint32_t *xid, int *w, int64_t *n);

#endif
