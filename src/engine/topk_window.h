/* Top-k per window (Space-Saving summaries, src/sketch/topk.c): one summary
 * per bucket in a sketch ring (sketch_ring.h), merged over the window's 60
 * buckets at flush and written as the sorted set kpi:top:<what>:<window>
 * (member = item, score = estimated count).
 *
 * Kept per process: every partition's events are added once while the
 * process owns it, and a restart rebuilds everything by replay. (A partition
 * revoked and later re-assigned to the same running process would be counted
 * again until its events leave the window; that needs several group members,
 * which kpistream does not support yet.) Memory: m = 10k counters of ~176
 * bytes per used bucket (17.6 KB for k = 10), about 60-120 buckets a window.
 */
#ifndef KS_ENGINE_TOPK_WINDOW_H
#define KS_ENGINE_TOPK_WINDOW_H

#include "engine/sketch_ring.h"
#include "kpistream/batch.h"
#include "kpistream/topk.h"

#include <stddef.h>

typedef struct ks_topk_window {
    ks_sring ring;                  /* of ks_topk */
    ks_topk *merged;                /* scratch for the window's union */
    size_t k, capacity;
    char *written;                  /* what Redis has: "item\tcount\n"...; owned */
    char *pending;
} ks_topk_window;

/** Initialises w (k items reported, summaries of capacity counters). Returns 0 or KS_ERR_NOMEM. */
int ks_topk_window_init(ks_topk_window *w, int64_t width_s, size_t k, size_t capacity);

/** Frees everything w owns. */
void ks_topk_window_reset(ks_topk_window *w);

/** Counts one occurrence of item at t_s. */
void ks_topk_window_add(ks_topk_window *w, const char *item, size_t len, int64_t t_s);

/** Moves the window clock (buckets that left it are emptied). */
void ks_topk_window_advance(ks_topk_window *w, int64_t clock_s);

/** Appends DEL + ZADD for key to b if the window's top-k at clock_s changed
 *  since the last ks_topk_window_done(). */
void ks_topk_window_emit(ks_topk_window *w, ks_batch *b, const char *key, int64_t clock_s);

/** Records that the last emitted list was written. */
void ks_topk_window_done(ks_topk_window *w);

#endif
