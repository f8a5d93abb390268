/* Where and how kpistream's per-customer outputs live in Redis (CONTRACT.md
 * section 4): kpi:customer:<id>, the kpi:risk ranking, the kpi:alerts and
 * kpi:triggers streams with their pub/sub channel, and the ids that make a
 * re-sent notice a no-op. The engine decides *what* to write, in the
 * contract's field names and formatted values; these functions decide the
 * keys and commands, appending them to a flush batch. No I/O.
 *
 * The group's aggregates (window sums, KPI hashes, HLLs, top-k lists) are
 * still encoded in src/engine/flush.c, next to the algorithm that reads them
 * back (docs/architecture.md, "Flush and offsets"). */
#ifndef KPISTREAM_LAYOUT_H
#define KPISTREAM_LAYOUT_H

#include "kpistream/batch.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One field of an output hash or stream entry; strings borrowed. */
typedef struct ks_out_field {
    const char *name;
    const char *value;
    size_t len;
} ks_out_field;

/** HSET <prefix>customer:<id> with the fields given. */
void ks_layout_customer(ks_batch *b, const char *prefix, const char *id, size_t idlen,
                        const ks_out_field *f, int nf);

/* The <prefix>risk ranking's changes of one flush, gathered while the
 * customers are written and sent after them as multi-member ZADDs and ZREMs:
 * one command per customer cost Redis more parsing and dispatch than the
 * sorted-set work itself (a 45-day catch-up: 86 k of them). The ids are
 * borrowed and must stay valid until ks_layout_risks_emit(). */
typedef struct ks_layout_risks {
    const char **id;
    uint32_t *len;
    unsigned *score;
    size_t n, cap;
} ks_layout_risks;

/** Puts the customer in the ranking with score (> 0), or takes them out
 *  (score 0): gathered in r; out of memory, appended to b at once. */
void ks_layout_risk(ks_layout_risks *r, ks_batch *b, const char *prefix, const char *id,
                    size_t idlen, unsigned score);

/** Appends the gathered changes to b and empties r (its arrays are kept). */
void ks_layout_risks_emit(ks_layout_risks *r, ks_batch *b, const char *prefix);

/** Frees r's arrays. */
void ks_layout_risks_free(ks_layout_risks *r);

/* An alert as the contract writes it (every string borrowed). */
typedef struct ks_out_alert {
    const char *alert_id;
    const char *customer;
    size_t customer_len;
    unsigned score;
    const char *reasons; /* comma-separated reason codes */
    const char *clv;     /* formatted money */
    const char *segment; /* "" when unknown */
    int64_t ts_ms;
} ks_out_alert;

/* A marketing trigger (every string borrowed). */
typedef struct ks_out_trigger {
    const char *trigger;
    const char *trigger_id;
    const char *customer;
    size_t customer_len;
    const char *segment;
    int64_t ts_ms;
} ks_out_trigger;

/* A run of notices (alerts and triggers) in a batch: they go out in script
 * calls of several notices each. Between ks_layout_notices_begin() and
 * ks_layout_notices_end() nothing else may be appended to the batch (the
 * open call is its last command). */
typedef struct ks_layout_notices {
    ks_batch *b;        /* borrowed */
    const char *prefix; /* borrowed */
    unsigned n;         /* notices in the open call; 0: none open */
} ks_layout_notices;

/** Starts a run of notices appended to b. */
void ks_layout_notices_begin(ks_layout_notices *nl, ks_batch *b, const char *prefix);

/** Appends the alert to <prefix>alerts and publishes it as JSON on the
 *  <prefix>alerts channel, unless its id was sent before (idempotent). */
void ks_layout_alert(ks_layout_notices *nl, const ks_out_alert *a);

/** Appends the trigger to <prefix>triggers unless its id was sent before. */
void ks_layout_trigger(ks_layout_notices *nl, const ks_out_trigger *t);

/** Ends the run: the batch may take other commands again. */
void ks_layout_notices_end(ks_layout_notices *nl);

/** Forgets the sent-notice ids of the UTC days before keep_from_ms's (whole
 *  days: the ids of keep_from_ms's own day stay). */
void ks_layout_notices_trim(ks_batch *b, const char *prefix, int64_t keep_from_ms);

#endif
