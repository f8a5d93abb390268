/* Per-customer rolling bucket lists (rolling.c): what src/state/ records
 * into them and how the partition's clock expires them. Private to
 * src/state/. */
#ifndef KS_STATE_ROLLING_H
#define KS_STATE_ROLLING_H

#include "state/state.h"

#include <stddef.h>
#include <stdint.h>

/* What one event adds to its customer's rolling fields. */
typedef struct ks_roll_delta {
    int64_t interactions;
    int64_t orders;
    int64_t revenue_micro; /* purchases add, refunds subtract */
    int64_t complaints;
    int64_t payment_failures;
} ks_roll_delta;

/** Adds d to customer c's buckets of event time ts_ms. Returns 0, or
 *  KS_ERR_NOMEM (the event is then missing from c's rolling fields only). */
int ks__roll_add(ks_pstate *p, ks_customer *c, int64_t ts_ms, const ks_roll_delta *d);

/** The clock moved from prev_ms (INT64_MIN: none) to clock_ms: marks dirty
 *  every customer with a bucket that left the 7, 28 or 30-day window in
 *  between, and drops buckets no query can reach any more. Costs one heap
 *  pop per (customer, moment something of theirs leaves). */
void ks__roll_advance(ks_pstate *p, int64_t prev_ms, int64_t clock_ms);

/** Returns the size of the pool block a list of len bytes takes (0: too long). */
size_t ks__roll_block_size(size_t len);

/** Frees the pool and the expiry heap of p's rolling lists. */
void ks__roll_free(ks_roll *r);

/** Bytes the pool holds (arena, heap, scratch: allocated capacity). */
size_t ks__roll_memory(const ks_roll *r);

#endif
