/* Synthetic customer-event generator.
 *
 * A seeded population of customers (segments, preferred channels, heavy-tailed
 * activity, subscriptions, tickets, surveys, purchases...) is simulated over a
 * timeline of `days` starting at `start_ms`. Events come out one at a time as
 * JSON objects in the wire format of docs/events.md, in non-decreasing event
 * time, each with a unique event_id. A configurable fraction of customers
 * drifts toward churn; the ground truth is available as a CSV label file.
 *
 * Determinism: the same options (seed included) give byte-identical output on
 * the same build. Nothing here reads the wall clock; see ks_gen_stamp() for
 * how the CLI's live mode re-times events.
 *
 * The model and its parameters are described in docs/generator.md.
 */
#ifndef KPISTREAM_GEN_H
#define KPISTREAM_GEN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kpistream/event.h"

/** Largest event the generator renders, NUL included; a buffer of this size
 *  always suffices for ks_gen_next(). */
#define KS_GEN_MAX_EVENT 1024

/** Value for ks_gen_stamp() that turns stamping off. */
#define KS_GEN_NO_STAMP INT64_MIN

typedef struct ks_gen_opts {
    uint64_t seed;           /* PRNG seed; part of every event_id. Default 1 */
    uint32_t customers;      /* population size (existing + joining). Default 10000 */
    double days;             /* simulated timeline length in days (> 0). Default 30 */
    int64_t start_ms;        /* timeline start, epoch ms. Default 2026-01-01T00:00:00Z */
    double churn_fraction;   /* share of customers that drift to churn, [0,1]. Default 0.10 */
    double dup_fraction;     /* share of events re-emitted as producer-retry duplicates,
                                [0,0.5]. Default 0 */
    double initial_fraction; /* share of customers already signed up at start_ms, [0,1].
                                Default 0.70; the rest sign up uniformly over the timeline */
    double activity;         /* median sessions per customer per day (> 0). Default 1.0 */
    int population;          /* KS_GEN_POP_DEFAULT, or KS_GEN_POP_SPARSE: a second customer
                                base to test churn models on data they were not tuned on
                                (docs/generator.md, "Population models") */
} ks_gen_opts;

enum { KS_GEN_POP_DEFAULT = 0, KS_GEN_POP_SPARSE = 1 };

/** Per-run counters. Duplicates are not included in events or by_type. */
typedef struct ks_gen_stats {
    uint64_t events;                /* unique events emitted */
    uint64_t duplicates;            /* deliberate producer-retry repeats emitted */
    uint64_t by_type[KS_EV__COUNT]; /* unique events per ks_event_type */
    uint32_t churners;              /* customers labelled churner 1 */
    int64_t sim_ms;                 /* simulated time of the last event emitted */
} ks_gen_stats;

typedef struct ks_gen ks_gen;

/** Fills *o with the defaults listed in ks_gen_opts. o is borrowed. */
void ks_gen_opts_init(ks_gen_opts *o);

/** Checks every option. Returns 0, or KS_ERR_INVAL and writes a sentence naming
 *  the offending option into errstr (if errstr_size > 0). Both are borrowed. */
int ks_gen_opts_validate(const ks_gen_opts *o, char *errstr, size_t errstr_size);

/** Creates a generator and plans its whole population (O(customers) memory,
 *  about 100 bytes per customer). Returns NULL if the options do not pass
 *  ks_gen_opts_validate() or memory runs out. o is copied.
 *  Caller owns the result; free with ks_gen_free(). */
ks_gen *ks_gen_new(const ks_gen_opts *o);

/** Produces the next event: cap bytes at buf receive the JSON object (not
 *  newline-terminated) and a NUL, *len its length without the NUL, *key and *keylen
 *  the Kafka key (the customer_id; the campaign for marketing_spend), *ts_ms its
 *  event time. Returns 1 for an event, 0 at the end of the timeline (and on
 *  every later call), KS_ERR_FULL if cap <= the event's length (the event is
 *  kept and returned by the next call), KS_ERR_INVAL on NULL arguments.
 *  *key is borrowed: valid until the next ks_gen_next() or ks_gen_free(). */
int ks_gen_next(ks_gen *g, char *buf, size_t cap, size_t *len, const char **key, size_t *keylen,
                int64_t *ts_ms);

/** Returns the simulated time of the event the next ks_gen_next() call will
 *  render, or INT64_MAX at the end of the timeline. Does not consume it
 *  (it may run the model ahead by one event). Allocates nothing. */
int64_t ks_gen_peek_ts(ks_gen *g);

/** Makes the following events carry ts = ts_ms instead of their simulated
 *  time, until called again (KS_GEN_NO_STAMP restores simulated times). The
 *  model keeps running on simulated time; only the rendered/returned ts and the
 *  label times derived from emitted events change. The caller keeps ts_ms
 *  non-decreasing. Used by the CLI's --live mode. */
void ks_gen_stamp(ks_gen *g, int64_t ts_ms);

/** Copies the counters into *out (borrowed; the caller's struct). */
void ks_gen_get_stats(const ks_gen *g, ks_gen_stats *out);

/** Writes the ground-truth labels as CSV: a header line
 *  `customer_id,churner,drift_start_ms,churn_ms,churn_kind`, then one row per
 *  customer (the three churn columns empty for non-churners). Times are as
 *  emitted once the stream has passed them, planned simulated times otherwise
 *  (docs/generator.md). Returns 0, or KS_ERR_IO if writing to f fails. f is
 *  borrowed and not closed. */
int ks_gen_write_labels(ks_gen *g, FILE *f);

/** Frees g and everything it owns; borrowed keys become invalid. NULL is ignored. */
void ks_gen_free(ks_gen *g);

/* ---- emitting a stream (the loop of `kpistream gen`) ---- */

typedef struct ks_gen_run_opts {
    const char *out;     /* JSON lines to this file, "-" for stdout, or NULL */
    const char *brokers; /* produce to topic on these brokers (key = customer_id), or NULL */
    const char *topic;
    uint64_t limit;      /* stop after this many events, duplicates included (0: no limit) */
    double rate;         /* events per second (0: as fast as possible) */
    /* Live mode: events simulated at or after history_end_ms are stamped with
     * the wall clock at emission (ks_gen_stamp()); without a rate, simulated
     * time then runs 1:1 with the wall clock. */
    bool live;
    int64_t history_end_ms;
    volatile sig_atomic_t *stop; /* set (by a signal handler): stop after the current event */
    bool quiet;                  /* no notes; errors are still said */
    /* Called with a note ("history done ..., live now") or an error, or NULL. */
    void (*say)(void *ctx, const char *msg);
    void *ctx;
} ks_gen_run_opts;

/** Emits g's events to o's outputs until the timeline ends, o->limit events
 *  or *o->stop, then flushes and closes them. *lines receives the events
 *  written. Returns 0, or 1 after saying what failed (opening, writing,
 *  delivering, the generator). g and o are borrowed. */
int ks_gen_run(ks_gen *g, const ks_gen_run_opts *o, uint64_t *lines);

/** `kpistream gen ...` entry point (argv[0] = "gen"; src/app/cmd_gen.c, in
 *  ks_app). Returns the process exit status: 0 success, 1 runtime failure
 *  (I/O, Kafka delivery), 2 usage error. argv is borrowed. */
int ks_gen_main(int argc, char **argv);

#endif
