/* Group aggregates: every partition's share of the global, segment and
 * channel KPIs, the windowed HLLs and top-k lists, merged in Redis so that
 * several members of one consumer group give the same outputs as one.
 *
 * Each flush hands Redis, per owned partition, what changed since the last
 * flush (counter deltas per window bucket, sketch bucket counts, base and
 * meta deltas), frozen into one block that travels with the partition's next
 * offset and is applied by a Lua script (agg_script.c) only if Redis still
 * holds the token of our previous flush of that partition: a retry after a
 * lost reply is not applied twice, and a member that lost the partition is
 * fenced off. The script moves the window sums to the group clock and
 * returns them; the engine turns them into the KPI hashes (ks_agg_kpis),
 * written only if no other flush came in between.
 */
#ifndef KS_ENGINE_AGG_H
#define KS_ENGINE_AGG_H

#include "kpistream/batch.h"
#include "kpistream/ddsketch.h"
#include "kpistream/hll.h"
#include "kpistream/state.h"

#include <stdbool.h>
#include <stdint.h>

extern const char ks_agg_flush_script[];
extern const char ks_agg_kpi_script[];

/* Group ids of a partition (deltas.h): global, segments, channels. */
#define KS_AGG_GIDS (KS_GID_CHANNEL0 + KS_CHANNELS_MAX)

/* One top-k occurrence or order value waiting for the next flush. */
typedef struct ks_agg_item {
    int64_t t_s;
    double value;    /* order value */
    uint32_t off;    /* item name in the arena */
    uint16_t len;
    char kind;       /* 'p' product, 'c' complaint category, 'v' order value */
} ks_agg_item;

typedef struct ks_agg_part {
    char token[64];        /* token Redis holds for the partition ("" none) */
    char next_token[64];   /* token of the frozen block */
    ks_batch frozen;       /* the block's header and sketch items (one command); valid if has_frozen */
    ks_delta *fdelta;      /* the block's counter deltas (binary until summed) */
    uint32_t nfdelta, capfdelta;
    uint16_t fbase_gid[KS_AGG_GIDS]; /* the block's base deltas: group ids ... */
    int64_t fbase[KS_AGG_GIDS];      /* ... and their changes */
    uint32_t nfbase;
    int64_t fmeta[3];      /* the block's processed, rejected, duplicates */
    bool has_frozen;
    bool fenced;           /* another member owns it now */
    int64_t sent_offset;   /* next offset of the last frozen block (-1 none) */
    int64_t pushed_clock_ms; /* partition clock of the last frozen block */
    ks_pstate_meta pushed; /* meta counts handed over so far */
    ks_agg_item *items;
    uint32_t nitems, capitems;
    char *arena;
    uint32_t alen, acap;
} ks_agg_part;

/* Per-process pending HLLs: idempotent (register max), so any member may
 * send any customer's activity, replays and revoked partitions included. */
typedef struct ks_agg_hll {
    int64_t n;
    ks_hll *h;
} ks_agg_hll;

typedef struct ks_agg_hlls {
    ks_agg_hll *b;
    uint32_t n, cap, last;
} ks_agg_hlls;

/* Arguments of a frozen block before its items: id, expected token, new
 * token, next offset, clock. Items follow, 5 arguments each. */
#define KS_AGG_HEADER 5

/** Frees what ap owns. */
void ks_agg_part_free(ks_agg_part *ap);

/** Records a top-k occurrence (kind 'p'/'c') or an order value (kind 'v'). */
void ks_agg_part_add(ks_agg_part *ap, char kind, int64_t t_s, const char *item, size_t len,
                     double value);

/** Forgets every change not yet handed over: the replay that rebuilt the
 *  partition reproduced what its previous owner already wrote. */
void ks_agg_part_baseline(ks_agg_part *ap, ks_pstate *st);

/** Freezes the partition's changes into ap->frozen (if not frozen already and
 *  anything changed). keysk maps values to DDSketch keys. Returns 0 or
 *  KS_ERR_NOMEM. */
int ks_agg_part_freeze(ks_agg_part *ap, ks_pstate *st, const char *id, int64_t next_offset,
                       const char *token, const ks_ddsketch *keysk);

/** Appends to b (the flush script's call) the n partitions' headers and
 *  their changes summed over them (sum: a scratch map, emptied first; sh
 *  names the groups). Returns 0 or KS_ERR_NOMEM. */
int ks_agg_emit(ks_batch *b, ks_agg_part *const *parts, int n, const ks_engine_shared *sh,
                ks_deltas *sum);

/** Adds customer hash seen at t_s to window w's pending HLL (bucket width
 *  width_s), unless its bucket is behind the window at clock_s. */
void ks_agg_hll_add(ks_agg_hlls *h, int64_t width_s, int64_t clock_s, uint64_t hash, int64_t t_s);

/** Drops pending HLL buckets behind the window at clock_s. */
void ks_agg_hll_advance(ks_agg_hlls *h, int64_t width_s, int64_t clock_s);

/** Empties h (after a successful flush); frees its HLLs. */
void ks_agg_hll_clear(ks_agg_hlls *h);

/* What a flush's script returned, turned into KPI hashes. */
typedef struct ks_agg_result {
    bool applied;            /* the partitions' blocks were applied now */
    int64_t version;
    int64_t group_clock_ms;  /* INT64_MIN: none */
    double churn30;          /* global churn rate of the 30d window, fraction */
    bool has_churn30;
} ks_agg_result;

/** Parses the flush script's reply (strs/lens, n strings), reports through
 *  fence(ctx, id, true) the partitions another member owns now and through
 *  fence(ctx, id, false) those whose block an earlier attempt applied, and builds into b (cleared first) the
 *  KPI hashes' versioned write. Returns 0, KS_ERR_NOMEM, or KS_ERR_INVAL on
 *  a reply that does not parse. */
int ks_agg_kpis(const ks_config *cfg, const char *const *strs, const size_t *lens, size_t n,
                void (*fence)(void *ctx, const char *id, size_t len, bool fenced), void *ctx,
                ks_batch *b, ks_agg_result *out);

#endif
