/* ks_event_parse() against hostile input (issue 14): numbers out of range
 * (amount, ts, score), each with its exact reason. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/event.h"

#define MAX_BYTES (64 * 1024)

static ks_event_parser *P;
static ks_event EV;
static ks_reject WHY;

static void setup(void)
{
    P = ks_event_parser_new(MAX_BYTES);
    cr_assert_not_null(P);
}

static void teardown(void)
{
    ks_event_parser_free(P);
}

TestSuite(limits, .init = setup, .fini = teardown);

/* Parses from an exact-size heap copy (ASan sees reads past the end). */
static bool parse_n(const char *json, size_t n)
{
    char *b = malloc(n ? n : 1);
    memcpy(b, json, n);
    bool ok = ks_event_parse(P, b, n, &EV, &WHY);
    free(b);
    return ok;
}

static bool parse(const char *json)
{
    return parse_n(json, strlen(json));
}

static const char *reason(void)
{
    static char r[64];
    return ks_reject_format(&WHY, r, sizeof(r));
}

static void accept(const char *json)
{
    cr_assert(parse(json), "rejected (%s): %s", reason(), json);
}

static void reject_as(const char *json, const char *want)
{
    cr_assert_not(parse(json), "accepted: %s", json);
    cr_assert_str_eq(reason(), want, "for %s", json);
    cr_assert_null(EV.event_id.ptr);
}

#define ENV(type)                                                                                  \
    "{\"event_id\":\"e-1\",\"customer_id\":\"c-1\",\"ts\":1700000000123,\"type\":\"" type "\""
#define TS(v) "{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":" v "}"
#define SIGNUP_WITH(extra)                                                                         \
    "{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1," extra "}"

/* ---------------------------------------------------------------- amount */

/* Every type that reads `amount`, as a message prefix ready for the amount. */
static const char *const amount_types[] = {
    ENV("purchase") ",\"order_id\":\"o\"",
    ENV("refund"),
    ENV("payment_failed"),
    ENV("retention_spend"),
    "{\"event_id\":\"m\",\"type\":\"marketing_spend\",\"ts\":1",
};

static bool parse_amount(const char *prefix, const char *amount)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "%s,\"amount\":%s}", prefix, amount);
    return parse(msg);
}

Test(limits, amount_above_the_maximum_is_bad_value_for_every_type)
{
    static const char *const too_big[] = {
        "1e300",
        "1e10",
        "1000000000.000001",
        "1000000001",
        "9223372036854.775807",
        "1e19",
        "1.7976931348623157e308",
        "1e400", /* inf after strtod */
    };
    for (size_t t = 0; t < sizeof(amount_types) / sizeof(amount_types[0]); t++) {
        for (size_t i = 0; i < sizeof(too_big) / sizeof(too_big[0]); i++) {
            cr_assert_not(parse_amount(amount_types[t], too_big[i]), "%s amount %s accepted",
                          amount_types[t], too_big[i]);
            cr_assert_str_eq(reason(), "bad_value:amount", "%s amount %s", amount_types[t],
                             too_big[i]);
        }
        /* The maximum itself is accepted, written any way. */
        static const char *const at_max[] = {"1e9", "1000000000", "1000000000.000000", "1E+9"};
        for (size_t i = 0; i < sizeof(at_max) / sizeof(at_max[0]); i++) {
            cr_assert(parse_amount(amount_types[t], at_max[i]), "%s amount %s: %s", amount_types[t],
                      at_max[i], reason());
            cr_assert(EV.has_amount);
            cr_assert_eq(EV.amount, KS_EVENT_AMOUNT_MAX);
        }
    }
    cr_assert_eq(KS_EVENT_AMOUNT_MAX, 1e9);
}

Test(limits, negative_and_huge_negative_amounts_are_bad_value)
{
    for (size_t t = 0; t < sizeof(amount_types) / sizeof(amount_types[0]); t++) {
        cr_assert_not(parse_amount(amount_types[t], "-1e300"));
        cr_assert_str_eq(reason(), "bad_value:amount");
        cr_assert_not(parse_amount(amount_types[t], "-1e400"));
        cr_assert_str_eq(reason(), "bad_value:amount");
    }
}

Test(limits, amounts_finer_than_a_micro_unit_are_accepted_as_sent)
{
    /* Rounding to micro-units is the state's job; the parser keeps the value. */
    cr_assert(parse_amount(amount_types[0], "0.0000001"), "%s", reason());
    cr_assert_eq(EV.amount, 0.0000001);
    cr_assert(parse_amount(amount_types[0], "999999999.9999999"), "%s", reason());
    cr_assert_eq(EV.amount, 999999999.9999999);
}

Test(limits, amount_is_checked_in_its_place_and_only_where_read)
{
    /* order_id comes before amount in a purchase. */
    reject_as(ENV("purchase") ",\"amount\":1e300}", "missing_field:order_id");
    /* A type that does not read amount ignores it, however big. */
    accept(ENV("signup") ",\"amount\":1e300}");
    cr_assert_not(EV.has_amount);
    accept(ENV("interaction") ",\"amount\":1e400}");
    cr_assert_not(EV.has_amount);
}

/* ------------------------------------------------------- other numbers */

Test(limits, absurd_timestamps_are_bad_value_ts)
{
    static const char *const bad[] = {
        "1e300",
        "-1e300",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "18446744073709551616",
        "253402300800000", /* 10000-01-01T00:00:00Z */
        "-1",
        "1e400",
        "\"10000-01-01T00:00:00Z\"",
        "\"1969-12-31T23:59:59.999Z\"",
        "\"0000-01-01T00:00:00Z\"",
        "\"9999-12-31T23:59:59.999-00:01\"",
        "\"1970-01-01T00:00:00+00:01\"",
        "\"2023-11-14T22:13:20.Z\"",
        "\"2023-11-14T24:00:00Z\"",
        "\"2023-11-14T22:13:20+24:00\"",
    };
    char msg[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg), TS("%s"), bad[i]);
        reject_as(msg, "bad_value:ts");
    }
    accept(TS("\"1970-01-01T00:00:00Z\""));
    cr_assert_eq(EV.ts_ms, 0);
    accept(TS("\"9999-12-31T23:59:59.999Z\""));
    cr_assert_eq(EV.ts_ms, 253402300799999LL);
}

Test(limits, a_long_fraction_of_a_second_is_truncated)
{
    char msg[2048], ts[1200];
    int k = snprintf(ts, sizeof(ts), "\"2023-11-14T22:13:20.");
    memset(ts + k, '9', 1000);
    snprintf(ts + k + 1000, sizeof(ts) - (size_t)k - 1000, "Z\"");
    snprintf(msg, sizeof(msg), TS("%s"), ts);
    accept(msg);
    cr_assert_eq(EV.ts_ms, 1700000000999LL);
}

Test(limits, absurd_scores_are_bad_value_score)
{
    static const char *const bad[] = {"1e300",      "-1e300",      "1e400",    "-1e400",
                                      "2147483648", "-2147483649", "4.000001", "1e-300"};
    char msg[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg), ENV("survey") ",\"kind\":\"nps\",\"score\":%s}", bad[i]);
        reject_as(msg, "bad_value:score");
    }
}
