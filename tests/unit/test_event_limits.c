/* ks_event_parse() against hostile input (issue 14): numbers out of range
 * (amount, ts, score) and NULs, each with its exact reason; and reasons that
 * never carry bytes of the message. */
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

/* ---------------------------------------------------------------- NUL */

Test(limits, nul_in_a_known_field_value_names_the_field)
{
    reject_as("{\"event_id\":\"a\\u0000\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "bad_value:event_id");
    reject_as(TS("\"2023-11-14T22:13:20Z\\u0000\""), "bad_value:ts");
    reject_as(ENV("signup") ",\"segment\":[\"\\u0000\"]}", "bad_value:segment");
    /* A NUL in a key nested inside a known field's value is in that value. */
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":{\"a\\u0000\":1}}",
              "bad_value:amount");
    /* Even in a field this type does not read. */
    reject_as(ENV("signup") ",\"amount\":\"\\u0000\"}", "bad_value:amount");
    /* The member's name, decoded, is what is looked up. */
    reject_as("{\"event_id\":\"e\",\"\\u0074ype\":\"sign\\u0000up\",\"customer_id\":\"c\","
              "\"ts\":1}",
              "bad_value:type");
}

Test(limits, nul_in_a_member_name_or_an_extra_member_is_nul_character)
{
    /* Issue 14's example: was bad_value:ty. */
    reject_as("{\"event_id\":\"e\",\"ty\\u0000pe\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "nul_character");
    reject_as("{\"event_id\":\"e\",\"type\\u0000\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "nul_character");
    reject_as("{\"\\u0000event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "nul_character");
    reject_as("{\"\\u0000\":1}", "nul_character");
    reject_as(SIGNUP_WITH("\"note\":\"\\u0000\""), "nul_character");
    reject_as(SIGNUP_WITH("\"x\":{\"y\":[{\"\\u0000\":1}]}"), "nul_character");
    /* An extra member whose name looks like a field, up to an escape. */
    reject_as(SIGNUP_WITH("\"amount\\u00e9\":\"\\u0000\""), "nul_character");
}

Test(limits, the_first_member_with_a_nul_decides)
{
    reject_as(SIGNUP_WITH("\"x\":\"\\u0000\",\"segment\":\"\\u0000\""), "nul_character");
    reject_as(SIGNUP_WITH("\"segment\":\"\\u0000\",\"x\":\"\\u0000\""), "bad_value:segment");
}

/* ----------------------------------------------- reasons carry no bytes */

/* Every reason ks_event_parse can give: the plain codes and the field codes
 * with each of the schema's names. */
static bool is_known_reason(const char *r)
{
    static const char *const plain[] = {"malformed_json", "too_large", "bad_utf8", "unknown_type",
                                        "nul_character"};
    static const char *const with_field[] = {"missing_field", "bad_type", "bad_value"};
    static const char *const fields[] = {"event_id",
                                         "type",
                                         "customer_id",
                                         "ts",
                                         "segment",
                                         "channel",
                                         "order_id",
                                         "amount",
                                         "category",
                                         "product",
                                         "action",
                                         "ticket_id",
                                         "complaint",
                                         "kind",
                                         "score",
                                         "campaign",
                                         "referred_customer_id"};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
        if (strcmp(r, plain[i]) == 0) return true;
    char want[64];
    for (size_t i = 0; i < sizeof(with_field) / sizeof(with_field[0]); i++)
        for (size_t j = 0; j < sizeof(fields) / sizeof(fields[0]); j++) {
            snprintf(want, sizeof(want), "%s:%s", with_field[i], fields[j]);
            if (strcmp(r, want) == 0) return true;
        }
    return false;
}

Test(limits, reasons_are_from_a_fixed_set_whatever_the_keys)
{
    /* Producer-chosen names in every position a reason could pick one up. */
    static const char *const keys[] = {
        "ty\\u0000pe",
        "evil\\u0000",
        "\\u0000",
        "<script>",
        "x:y",
        "\\u00e9v\\u00e9nement",
        "\\ud83d\\ude00",
        "event_id\\u0000",
        "amount\\u0000x",
        "\\\"quoted\\\"",
        "a\\nb",
        "",
        "%s%n",
        "ts ",
        " ts",
    };
    static const char *const values[] = {"\"\\u0000\"", "1e300", "{\"\\u0000\":1}", "null", "\"v\"",
                                         "[]",          "true"};
    char msg[512];
    int n = 0;
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            /* The key in front of the envelope, after it, and alone. */
            const char *fmt[] = {
                "{\"%s\":%s,\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
                "{\"event_id\":\"e\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1,"
                "\"%s\":%s}",
                "{\"%s\":%s}",
            };
            for (size_t f = 0; f < 3; f++) {
                snprintf(msg, sizeof(msg), fmt[f], keys[k], values[v]);
                if (parse(msg)) continue;
                n++;
                cr_assert(is_known_reason(reason()), "reason '%s' for %s", reason(), msg);
            }
        }
    }
    cr_assert_gt(n, 100);
}

Test(limits, reject_format_never_writes_a_field_that_is_not_a_schema_name)
{
    char buf[64];
    ks_reject r = {.code = KS_REJECT_BAD_VALUE};
    strcpy(r.field, "ty");
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "bad_value");
    strcpy(r.field, "amount");
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "bad_value:amount");
    strcpy(r.field, "Amount");
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "bad_value");
    strcpy(r.field, "amount\n");
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "bad_value");
    /* A field with no NUL in its 32 bytes is not read past its end. */
    memset(r.field, 'a', sizeof(r.field));
    r.code = KS_REJECT_MISSING_FIELD;
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "missing_field");
}
