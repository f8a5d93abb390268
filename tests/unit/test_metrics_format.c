/* The Prometheus text exposition of the metrics endpoint: escaping, HELP and
 * TYPE, histogram buckets, the whole /metrics text from the public API,
 * readiness, and consumer lag from a librdkafka statistics document. No
 * network: the server is not started (listen ""). */
#include "metrics/expo.h"

#include "kpistream/metrics.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *take(ks_expo *e)
{
    char *s = ks_expo_take(e, NULL);
    cr_assert_not_null(s);
    return s;
}

Test(metrics_format, label_values_escape_backslash_quote_and_newline)
{
    ks_expo e;
    ks_expo_init(&e);
    const char *keys[] = {"topic", "partition"};
    const char *vals[] = {"a\\b\"c\nd", "7"};
    ks_expo_sample(&e, "x_lag", keys, vals, 2, 3);
    char *s = take(&e);
    cr_expect_str_eq(s, "x_lag{topic=\"a\\\\b\\\"c\\nd\",partition=\"7\"} 3\n");
    free(s);
    /* Nothing else is touched: UTF-8, tabs, braces. */
    ks_expo_init(&e);
    ks_expo_label_value(&e, "é\t{}=,");
    s = take(&e);
    cr_expect_str_eq(s, "é\t{}=,");
    free(s);
}

Test(metrics_format, help_escapes_backslash_and_newline_but_not_quotes)
{
    ks_expo e;
    ks_expo_init(&e);
    ks_expo_family(&e, "x_total", "counter", "a \"b\" c\\d\ne");
    char *s = take(&e);
    cr_expect_str_eq(s, "# HELP x_total a \"b\" c\\\\d\\ne\n# TYPE x_total counter\n");
    free(s);
}

Test(metrics_format, numbers_as_the_format_spells_them)
{
    char b[64];
    cr_expect_str_eq(ks_expo_number(42, b, sizeof b), "42");
    cr_expect_str_eq(ks_expo_number(-3, b, sizeof b), "-3");
    cr_expect_str_eq(ks_expo_number(0.005, b, sizeof b), "0.005");
    cr_expect_str_eq(ks_expo_number(2.5, b, sizeof b), "2.5");
    cr_expect_str_eq(ks_expo_number(0.1 + 0.2, b, sizeof b), "0.30000000000000004");
    cr_expect_str_eq(ks_expo_number(1e20, b, sizeof b), "1e+20");
    cr_expect_str_eq(ks_expo_number(INFINITY, b, sizeof b), "+Inf");
    cr_expect_str_eq(ks_expo_number(-INFINITY, b, sizeof b), "-Inf");
    cr_expect_str_eq(ks_expo_number(NAN, b, sizeof b), "NaN");
    ks_expo e;
    ks_expo_init(&e);
    ks_expo_sample_u64(&e, "big_total", NULL, NULL, 0, 18446744073709551615ULL);
    char *s = take(&e);
    cr_expect_str_eq(s, "big_total 18446744073709551615\n");
    free(s);
}

Test(metrics_format, histogram_buckets_are_cumulative_and_count_is_inf)
{
    const double bounds[] = {0.01, 0.1, 1};
    const uint64_t counts[] = {2, 0, 3, 1}; /* last: above 1 */
    ks_expo e;
    ks_expo_init(&e);
    ks_expo_family(&e, "d_seconds", "histogram", "h");
    ks_expo_histogram(&e, "d_seconds", bounds, counts, 3, 4.25);
    char *s = take(&e);
    cr_expect_str_eq(s, "# HELP d_seconds h\n"
                        "# TYPE d_seconds histogram\n"
                        "d_seconds_bucket{le=\"0.01\"} 2\n"
                        "d_seconds_bucket{le=\"0.1\"} 2\n"
                        "d_seconds_bucket{le=\"1\"} 5\n"
                        "d_seconds_bucket{le=\"+Inf\"} 6\n"
                        "d_seconds_sum 4.25\n"
                        "d_seconds_count 6\n");
    free(s);
}

/* ---------------------------------------------------------- the whole text */

static ks_metrics *m;

static void setup(void)
{
    char err[256] = "";
    m = ks_metrics_new("", err, sizeof err);
    cr_assert_not_null(m, "%s", err);
    cr_assert_eq(ks_metrics_port(m), 0, "no server with an empty listen");
}

static void teardown(void)
{
    ks_metrics_free(m);
}

/* Returns the value of the line starting with series + " " in text. */
static double value_of(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    cr_assert_fail("no sample %s in:\n%s", series, text);
    return NAN;
}

/* Every family's HELP comes right before its TYPE, once, before its samples,
 * and every sample belongs to the family announced last. */
static void check_families(const char *text)
{
    char family[128] = "";
    char seen[64][128];
    int nseen = 0;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        cr_assert_not_null(eol, "every line ends with a newline");
        size_t len = (size_t)(eol - p);
        if (strncmp(p, "# HELP ", 7) == 0) {
            const char *name = p + 7;
            size_t nl = strcspn(name, " ");
            snprintf(family, sizeof family, "%.*s", (int)nl, name);
            for (int i = 0; i < nseen; i++)
                cr_expect_str_neq(seen[i], family, "family %s announced twice", family);
            cr_assert_lt(nseen, 64);
            snprintf(seen[nseen++], sizeof seen[0], "%s", family);
            const char *type = eol + 1;
            char want[160];
            snprintf(want, sizeof want, "# TYPE %s ", family);
            cr_expect(strncmp(type, want, strlen(want)) == 0, "TYPE right after HELP of %s",
                      family);
        } else if (strncmp(p, "# TYPE ", 7) != 0) {
            cr_expect(family[0] && strncmp(p, family, strlen(family)) == 0,
                      "sample '%.*s' outside its family (%s)", (int)len, p, family);
            cr_expect(strncmp(p, "kpistream_", 10) == 0, "prefix on '%.*s'", (int)len, p);
        }
        p = eol + 1;
    }
}

Test(metrics_format, render_has_every_family_with_help_and_type, .init = setup, .fini = teardown)
{
    ks_source_poll_stats st;
    memset(&st, 0, sizeof st);
    st.messages = 10;
    st.accepted = 6;
    st.duplicates = 1;
    st.rejected = 3;
    st.rejected_by[KS_REJECT_MALFORMED_JSON] = 2;
    st.rejected_by[KS_REJECT_BAD_VALUE] = 1;
    st.rebalances = 2;
    ks_metrics_count_poll(m, &st);
    ks_metrics_count_poll(m, &st);
    ks_metrics_add(m, KS_METRIC_FENCED_EXITS, 1);
    ks_metrics_flush(m, true, 3000000, 1700000000500LL);    /* 3 ms */
    ks_metrics_flush(m, false, 200000000, 1700000001000LL); /* 200 ms */
    ks_metrics_flush(m, true, 20000000000LL, 1700000002000LL); /* 20 s: above every bound */
    ks_metrics_state gs = {.partitions = 4, .restoring = false, .state_bytes = 123456,
                           .customers = 77, .clock_ms = 1700000000000LL};
    ks_metrics_set_state(m, &gs);
    size_t len = 0;
    char *text = ks_metrics_render(m, 1700000002500LL, &len);
    cr_assert_not_null(text);
    cr_expect_eq(len, strlen(text));
    check_families(text);

    cr_expect_eq(value_of(text, "kpistream_messages_consumed_total"), 20);
    cr_expect_eq(value_of(text, "kpistream_events_accepted_total"), 12);
    cr_expect_eq(value_of(text, "kpistream_duplicates_total"), 2);
    cr_expect_eq(value_of(text, "kpistream_rebalances_total"), 4);
    cr_expect_eq(value_of(text, "kpistream_fenced_exits_total"), 1);
    cr_expect_eq(value_of(text, "kpistream_events_rejected_total{reason=\"malformed_json\"}"), 4);
    cr_expect_eq(value_of(text, "kpistream_events_rejected_total{reason=\"bad_value\"}"), 2);
    cr_expect_eq(value_of(text, "kpistream_events_rejected_total{reason=\"too_large\"}"), 0,
                 "every known reason is there from the start");
    cr_expect(strstr(text, "reason=\"none\"") == NULL);
    cr_expect_eq(value_of(text, "kpistream_flushes_total"), 2);
    cr_expect_eq(value_of(text, "kpistream_flush_failures_total"), 1);
    cr_expect_eq(value_of(text, "kpistream_flush_duration_seconds_bucket{le=\"0.005\"}"), 1);
    cr_expect_eq(value_of(text, "kpistream_flush_duration_seconds_bucket{le=\"0.25\"}"), 2);
    cr_expect_eq(value_of(text, "kpistream_flush_duration_seconds_bucket{le=\"10\"}"), 2);
    cr_expect_eq(value_of(text, "kpistream_flush_duration_seconds_bucket{le=\"+Inf\"}"), 3);
    cr_expect_eq(value_of(text, "kpistream_flush_duration_seconds_count"), 3);
    cr_expect_float_eq(value_of(text, "kpistream_flush_duration_seconds_sum"), 20.203, 1e-9);
    cr_expect(strstr(text, "# TYPE kpistream_flush_duration_seconds histogram\n"));
    cr_expect(strstr(text, "# TYPE kpistream_flushes_total counter\n"));
    cr_expect(strstr(text, "# TYPE kpistream_consumer_lag gauge\n"));
    cr_expect_float_eq(value_of(text, "kpistream_last_flush_success_timestamp_seconds"),
                       1700000002.0, 1e-6);
    cr_expect_eq(value_of(text, "kpistream_partitions_assigned"), 4);
    cr_expect_eq(value_of(text, "kpistream_restoring"), 0);
    cr_expect_eq(value_of(text, "kpistream_customers"), 77);
    cr_expect_eq(value_of(text, "kpistream_state_bytes"), 123456);
    cr_expect_float_eq(value_of(text, "kpistream_event_time_lag_seconds"), 2.5, 1e-9);
    cr_expect_eq(value_of(text, "kpistream_ready"), 0, "still starting");
    free(text);
}

Test(metrics_format, ready_needs_loop_partitions_no_restore_and_a_good_flush, .init = setup,
     .fini = teardown)
{
    char why[200];
    cr_expect_not(ks_metrics_ready(m, why, sizeof why));
    cr_expect(strstr(why, "starting"), "%s", why);
    ks_metrics_set_phase(m, KS_METRICS_RUNNING);
    cr_expect_not(ks_metrics_ready(m, why, sizeof why));
    cr_expect_str_eq(why, "no partitions assigned");
    ks_metrics_state gs = {.partitions = 2, .restoring = true, .clock_ms = INT64_MIN};
    ks_metrics_set_state(m, &gs);
    cr_expect_not(ks_metrics_ready(m, why, sizeof why));
    cr_expect(strstr(why, "restoring"), "%s", why);
    gs.restoring = false;
    ks_metrics_set_state(m, &gs);
    cr_expect(ks_metrics_ready(m, why, sizeof why), "no flush yet is not a failure");
    ks_metrics_flush(m, false, 1000, 0);
    cr_expect_not(ks_metrics_ready(m, why, sizeof why));
    cr_expect(strstr(why, "last flush"), "%s", why);
    ks_metrics_flush(m, true, 1000, 1000);
    cr_expect(ks_metrics_ready(m, why, sizeof why));
    char *text = ks_metrics_render(m, 0, NULL);
    cr_expect_eq(value_of(text, "kpistream_ready"), 1);
    cr_expect(strstr(text, "kpistream_event_time_lag_seconds") == NULL,
              "no event-time lag before the clock is known");
    free(text);
    ks_metrics_set_phase(m, KS_METRICS_STOPPING);
    cr_expect_not(ks_metrics_ready(m, why, sizeof why));
}

/* Trimmed from a librdkafka 2.0 consumer's statistics. */
static const char stats_json[] =
    "{\"name\":\"kpistream#consumer-1\",\"type\":\"consumer\",\"ts\":1,"
    "\"topics\":{"
    " \"ev\":{\"topic\":\"ev\",\"partitions\":{"
    "  \"1\":{\"partition\":1,\"desired\":true,\"hi_offset\":50,\"committed_offset\":45,"
    "\"consumer_lag\":5},"
    "  \"0\":{\"partition\":0,\"desired\":true,\"hi_offset\":20,\"committed_offset\":-1001,"
    "\"consumer_lag\":-1},"
    "  \"2\":{\"partition\":2,\"desired\":false,\"consumer_lag\":9},"
    "  \"-1\":{\"partition\":-1,\"desired\":false,\"consumer_lag\":-1}}},"
    " \"a\\\"b\":{\"topic\":\"a\\\"b\",\"partitions\":{"
    "  \"3\":{\"partition\":3,\"desired\":true,\"consumer_lag\":0}}}}}";

Test(metrics_format, consumer_lag_from_librdkafka_statistics, .init = setup, .fini = teardown)
{
    ks_metrics_lag *lag;
    int n = ks_metrics_parse_kafka_lag(stats_json, strlen(stats_json), &lag);
    cr_assert_eq(n, 2, "desired partitions with a known lag only");
    cr_expect_str_eq(lag[0].topic, "a\"b");
    cr_expect_eq(lag[0].partition, 3);
    cr_expect_eq(lag[0].lag, 0);
    cr_expect_str_eq(lag[1].topic, "ev");
    cr_expect_eq(lag[1].partition, 1);
    cr_expect_eq(lag[1].lag, 5);
    free(lag);
    cr_expect_eq(ks_metrics_parse_kafka_lag("{\"ts\":1", 7, &lag), -1);
    cr_expect_eq(ks_metrics_parse_kafka_lag("[]", 2, &lag), -1);

    ks_metrics_kafka_stats(m, stats_json, strlen(stats_json));
    ks_metrics_kafka_stats(m, "not json", 8); /* keeps the table */
    char *text = ks_metrics_render(m, 0, NULL);
    cr_expect_eq(value_of(text, "kpistream_consumer_lag{topic=\"ev\",partition=\"1\"}"), 5);
    cr_expect_eq(value_of(text, "kpistream_consumer_lag{topic=\"a\\\"b\",partition=\"3\"}"), 0);
    cr_expect(strstr(text, "partition=\"0\"") == NULL);
    check_families(text);
    free(text);
}

Test(metrics_format, null_metrics_are_a_no_op)
{
    ks_source_poll_stats st;
    memset(&st, 0, sizeof st);
    ks_metrics_count_poll(NULL, &st);
    ks_metrics_add(NULL, KS_METRIC_FLUSHES, 1);
    ks_metrics_flush(NULL, true, 1, 1);
    ks_metrics_set_phase(NULL, KS_METRICS_RUNNING);
    ks_metrics_kafka_stats(NULL, "{}", 2);
    cr_expect_null(ks_metrics_render(NULL, 0, NULL));
    cr_expect_not(ks_metrics_ready(NULL, NULL, 0));
    ks_metrics_free(NULL);
}
