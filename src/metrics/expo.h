/* The Prometheus text exposition format, version 0.0.4 (what every Prometheus
 * scrapes; https://prometheus.io/docs/instrumenting/exposition_formats/),
 * written into a growing buffer. Small on purpose: no Prometheus client
 * library for C is packaged in Debian, and kpistream needs only this much.
 *
 *   # HELP kpistream_flushes_total Flushes to Redis that succeeded ...   <- help: \ and newline escaped
 *   # TYPE kpistream_flushes_total counter
 *   kpistream_flushes_total 42
 *   # HELP kpistream_consumer_lag ...
 *   # TYPE kpistream_consumer_lag gauge
 *   kpistream_consumer_lag{topic="ev",partition="0"} 17          <- label values: \ " newline escaped
 *   # TYPE kpistream_flush_duration_seconds histogram
 *   kpistream_flush_duration_seconds_bucket{le="0.005"} 3        <- cumulative counts
 *   ...
 *   kpistream_flush_duration_seconds_bucket{le="+Inf"} 9         <- = _count
 *   kpistream_flush_duration_seconds_sum 0.412
 *   kpistream_flush_duration_seconds_count 9
 *
 * Each family's HELP and TYPE come once, before its samples, and a family's
 * samples are contiguous, as the format requires. Values are printed
 * exactly: integers as integers, other numbers as the shortest decimal that
 * reads back to the same double, and +Inf, -Inf and NaN in the format's
 * spelling. Private to src/metrics/ (and its unit test). */
#ifndef KS_METRICS_EXPO_H
#define KS_METRICS_EXPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ks_expo {
    char *buf; /* NUL-terminated while !oom; owned */
    size_t len, cap;
    bool oom; /* an append failed: the text is incomplete, discard it */
} ks_expo;

/** Starts an empty buffer (no allocation yet). */
void ks_expo_init(ks_expo *e);

/** Frees the buffer. */
void ks_expo_reset(ks_expo *e);

/** Takes the text out (len in *len if len); e is empty afterwards. Returns
 *  NULL if an append failed. Caller owns the result; free with free(). */
char *ks_expo_take(ks_expo *e, size_t *len);

/** Appends "# HELP <name> <help>\n# TYPE <name> <type>\n"; type is "counter",
 *  "gauge" or "histogram". */
void ks_expo_family(ks_expo *e, const char *name, const char *type, const char *help);

/** Appends one sample line: name, then labels if nlabels > 0 (keys[i] =
 *  "values[i]", values escaped), then value. */
void ks_expo_sample(ks_expo *e, const char *name, const char *const *keys,
                    const char *const *values, int nlabels, double value);

/** As ks_expo_sample() for an integer value (exact above 2^53). */
void ks_expo_sample_u64(ks_expo *e, const char *name, const char *const *keys,
                        const char *const *values, int nlabels, uint64_t value);

/** Appends a histogram's samples (after its ks_expo_family()): one
 *  name_bucket{le=...} per bound in bounds (ascending, nb of them) and one
 *  for +Inf, with cumulative counts from counts (per bucket, not cumulative:
 *  nb + 1 entries, the last for values above every bound), then name_sum and
 *  name_count (= the +Inf bucket). */
void ks_expo_histogram(ks_expo *e, const char *name, const double *bounds, const uint64_t *counts,
                       int nb, double sum);

/** Appends value escaped for a label value: backslash, double quote and
 *  newline as \\, \" and \n; everything else as is. */
void ks_expo_label_value(ks_expo *e, const char *value);

/** Writes v into buf (size n >= 32) as the format spells a value: "+Inf",
 *  "-Inf", "NaN", or the shortest decimal that reads back to v. Returns buf. */
char *ks_expo_number(double v, char *buf, size_t n);

#endif
