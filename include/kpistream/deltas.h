/* Changes to a partition's aggregate buckets since they were last handed to
 * Redis. Group-wide KPIs are sums over every partition of the group, and the
 * partitions are spread over the members of the consumer group: each member
 * adds its partitions' changes (HINCRBY) into shared sums in Redis, in the
 * transaction that stores those partitions' offsets (src/engine/agg.c).
 *
 * A map from (group id, window, bucket number) to a bucket of counter deltas,
 * open addressing over an array; emptied (capacity kept) once handed over.
 */
#ifndef KPISTREAM_DELTAS_H
#define KPISTREAM_DELTAS_H

#include "kpistream/window.h"

#include <stdint.h>

/* Group ids: 0 global, 1 + segment id, KS_GID_CHANNEL0 + channel id. */
#define KS_GID_GLOBAL 0
#define KS_GID_SEGMENT0 1
#define KS_GID_CHANNEL0 (1 + 255)

typedef struct ks_delta {
    int64_t n;      /* bucket number (window.h) */
    uint16_t gid;
    uint8_t w;      /* window index */
    ks_bucket v;
} ks_delta;

typedef struct ks_deltas {
    ks_delta *d;
    uint32_t n, cap;
    uint32_t *slot;   /* index + 1; 0 = empty */
    uint32_t slot_cap; /* power of two, >= 2 * cap */
    uint32_t kept;     /* entries left by the last prune (prunes are amortised) */
    uint32_t gen;      /* bumped when entries move or go (clear, prune): caches of indexes check it */
} ks_deltas;

/** Returns the delta bucket of (gid, w, n), creating it zeroed; NULL on OOM. */
ks_bucket *ks_deltas_at(ks_deltas *m, uint16_t gid, uint8_t w, int64_t n);

/** Drops the deltas of buckets n <= behind[w] (behind their window w), once
 *  the map has doubled since the last prune (amortised O(1) per change). */
void ks_deltas_prune(ks_deltas *m, const int64_t *behind);

/** Empties m, keeping its memory. */
void ks_deltas_clear(ks_deltas *m);

/** Frees m's memory. */
void ks_deltas_free(ks_deltas *m);

#endif
