/* ks_event_parse() against hostile input (issue 14): the documented limits
 * (amount, string lengths, members, depth, size), duplicate field names,
 * NULs, invalid UTF-8 and lone surrogates, each with its exact reason; and
 * reasons that never carry bytes of the message. */
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

/* -------------------------------------------------------- string lengths */

/* One string field of a type, its message prefix and its limit. */
static const struct {
    const char *prefix; /* message up to the field, without the closing brace */
    const char *field;
    size_t max;
} strings[] = {
    {"{\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1", "event_id", KS_EVENT_ID_MAX},
    {"{\"event_id\":\"e\",\"type\":\"signup\",\"ts\":1", "customer_id", KS_EVENT_ID_MAX},
    {ENV("signup"), "segment", KS_EVENT_ID_MAX},
    {ENV("signup"), "channel", KS_EVENT_ID_MAX},
    {ENV("purchase") ",\"amount\":1", "order_id", KS_EVENT_ID_MAX},
    {ENV("refund") ",\"amount\":1", "order_id", KS_EVENT_ID_MAX},
    {ENV("ticket") ",\"action\":\"opened\"", "ticket_id", KS_EVENT_ID_MAX},
    {ENV("referral"), "referred_customer_id", KS_EVENT_ID_MAX},
    {ENV("purchase") ",\"order_id\":\"o\",\"amount\":1", "category", KS_EVENT_TEXT_MAX},
    {ENV("purchase") ",\"order_id\":\"o\",\"amount\":1", "product", KS_EVENT_TEXT_MAX},
    {ENV("ticket") ",\"ticket_id\":\"t\",\"action\":\"opened\"", "category", KS_EVENT_TEXT_MAX},
    {"{\"event_id\":\"m\",\"type\":\"marketing_spend\",\"ts\":1,\"amount\":1", "campaign",
     KS_EVENT_TEXT_MAX},
    {ENV("interaction"), "action", KS_EVENT_TEXT_MAX},
};

static bool parse_string_field(size_t i, size_t len, char fill)
{
    size_t cap = strlen(strings[i].prefix) + len + 64;
    char *msg = malloc(cap), *v = malloc(len + 1);
    memset(v, fill, len);
    v[len] = '\0';
    snprintf(msg, cap, "%s,\"%s\":\"%s\"}", strings[i].prefix, strings[i].field, v);
    bool ok = parse(msg);
    free(v);
    free(msg);
    return ok;
}

Test(limits, every_string_field_has_its_length_limit)
{
    cr_assert_eq(KS_EVENT_ID_MAX, 128);
    cr_assert_eq(KS_EVENT_TEXT_MAX, 256);
    char want[64];
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        snprintf(want, sizeof(want), "bad_value:%s", strings[i].field);
        cr_assert(parse_string_field(i, strings[i].max, 'x'), "%s of %zu bytes: %s",
                  strings[i].field, strings[i].max, reason());
        cr_assert(parse_string_field(i, 1, 'x'), "%s of 1 byte: %s", strings[i].field, reason());
        cr_assert_not(parse_string_field(i, strings[i].max + 1, 'x'), "%s of %zu bytes",
                      strings[i].field, strings[i].max + 1);
        cr_assert_str_eq(reason(), want);
        cr_assert_not(parse_string_field(i, 60000, 'x'));
        cr_assert_str_eq(reason(), want);
        cr_assert_not(parse_string_field(i, 0, 'x'));
        cr_assert_str_eq(reason(), want);
    }
}

Test(limits, word_fields_longer_than_any_word_are_bad_value)
{
    char msg[1024], w[400];
    memset(w, 'a', 300);
    w[300] = '\0';
    snprintf(msg, sizeof(msg), ENV("subscription") ",\"action\":\"%s\"}", w);
    reject_as(msg, "bad_value:action");
    snprintf(msg, sizeof(msg), ENV("survey") ",\"kind\":\"%s\",\"score\":1}", w);
    reject_as(msg, "bad_value:kind");
    snprintf(msg, sizeof(msg), ENV("%s") "}", w);
    reject_as(msg, "unknown_type");
}

/* ------------------------------------------------------------ members */

/* A signup with n members in all: the four of the envelope and n - 4 extras. */
static char *signup_with_members(size_t n, const char *nested)
{
    size_t cap = 64 + n * 16 + (nested ? strlen(nested) : 0);
    char *msg = malloc(cap);
    size_t k = (size_t)snprintf(msg, cap,
                                "{\"event_id\":\"e\",\"type\":\"signup\","
                                "\"customer_id\":\"c\",\"ts\":1");
    for (size_t i = 4; i < n; i++)
        k += (size_t)snprintf(msg + k, cap - k, ",\"x%zu\":%zu", i, i);
    if (nested) k += (size_t)snprintf(msg + k, cap - k, ",%s", nested);
    snprintf(msg + k, cap - k, "}");
    return msg;
}

Test(limits, at_most_64_members_extras_included)
{
    cr_assert_eq(KS_EVENT_FIELDS_MAX, 64);
    char *msg = signup_with_members(KS_EVENT_FIELDS_MAX, NULL);
    accept(msg);
    free(msg);
    msg = signup_with_members(KS_EVENT_FIELDS_MAX + 1, NULL);
    reject_as(msg, "too_many_fields");
    free(msg);
    msg = signup_with_members(3000, NULL);
    reject_as(msg, "too_many_fields");
    free(msg);
    /* Null members count too: they are members. */
    char *nulls = malloc(2048);
    size_t k = (size_t)sprintf(nulls, "{\"event_id\":\"e\",\"type\":\"signup\","
                                      "\"customer_id\":\"c\",\"ts\":1");
    for (int i = 0; i < 61; i++)
        k += (size_t)sprintf(nulls + k, ",\"n%d\":null", i);
    sprintf(nulls + k, "}");
    reject_as(nulls, "too_many_fields");
    free(nulls);
}

Test(limits, members_of_nested_objects_do_not_count)
{
    char nested[4096] = "\"meta\":{";
    size_t k = strlen(nested);
    for (int i = 0; i < 200; i++)
        k += (size_t)sprintf(nested + k, "%s\"m%d\":%d", i ? "," : "", i, i);
    strcpy(nested + k, "}");
    char *msg = signup_with_members(KS_EVENT_FIELDS_MAX - 1, nested);
    accept(msg);
    free(msg);
    /* A long array is one member. */
    accept(SIGNUP_WITH("\"list\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,"
                       "24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,"
                       "48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64,65,66,67,68,69,70]"));
}

Test(limits, too_many_fields_comes_before_the_envelope)
{
    /* 65 members, none of them event_id. */
    char msg[4096];
    size_t k = (size_t)sprintf(msg, "{\"a\":0");
    for (int i = 1; i < 65; i++)
        k += (size_t)sprintf(msg + k, ",\"a%d\":0", i);
    strcpy(msg + k, "}");
    reject_as(msg, "too_many_fields");
}

/* --------------------------------------------------------------- depth */

/* A signup with an extra member nested `levels` deep in all (the event object
 * is level 1); open brackets come from `opens`, cycled. */
static char *nested_signup(size_t levels, const char *opens)
{
    size_t cap = 128 + 8 * levels;
    char *msg = malloc(cap);
    size_t k = (size_t)sprintf(msg, SIGNUP_WITH("\"x\":"));
    k -= 1; /* drop SIGNUP_WITH's closing brace */
    char *stack = malloc(levels + 1);
    size_t nopen = 0, no = strlen(opens);
    for (size_t l = 1; l < levels; l++) {
        char o = opens[(l - 1) % no];
        if (nopen > 0 && stack[nopen - 1] == '{') {
            memcpy(msg + k, "\"k\":", 4);
            k += 4;
        }
        msg[k++] = o;
        stack[nopen++] = o;
    }
    if (nopen > 0 && stack[nopen - 1] == '{') {
        memcpy(msg + k, "\"k\":", 4);
        k += 4;
    }
    msg[k++] = '1';
    while (nopen > 0)
        msg[k++] = stack[--nopen] == '{' ? '}' : ']';
    msg[k++] = '}';
    msg[k] = '\0';
    free(stack);
    return msg;
}

Test(limits, at_most_8_levels_of_nesting)
{
    cr_assert_eq(KS_EVENT_DEPTH_MAX, 8);
    static const char *const shapes[] = {"[", "{", "[{", "{["};
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        char *msg = nested_signup(KS_EVENT_DEPTH_MAX, shapes[s]);
        accept(msg);
        free(msg);
        msg = nested_signup(KS_EVENT_DEPTH_MAX + 1, shapes[s]);
        reject_as(msg, "too_deep");
        free(msg);
        msg = nested_signup(5000, shapes[s]);
        reject_as(msg, "too_deep");
        free(msg);
    }
    /* The depth that counts is the deepest point, not the number of brackets. */
    accept(SIGNUP_WITH("\"a\":[[[[[[1]]]]]],\"b\":{\"c\":[[[[[1]]]]]},\"d\":[[],[[]],[[[]]]]"));
}

Test(limits, brackets_inside_strings_are_not_nesting)
{
    accept(SIGNUP_WITH("\"x\":\"[[[[[[[[[[{{{{{{{{{{\",\"y\":\"\\\"[[[[[[[[[[\""));
}

Test(limits, depth_is_judged_after_utf8_and_tokens_but_before_the_grammar)
{
    /* Too deep and invalid UTF-8 later on: bad_utf8. */
    reject_as(SIGNUP_WITH("\"x\":[[[[[[[[[[1]]]]]]]]]],\"y\":\"\xC0\xAF\""), "bad_utf8");
    /* Too deep and a bad number later on: malformed_json. */
    reject_as(SIGNUP_WITH("\"x\":[[[[[[[[[[1]]]]]]]]]],\"y\":01"), "malformed_json");
    /* Too deep and never closed, or with a missing comma: too_deep. */
    reject_as("{\"x\":[[[[[[[[[[", "too_deep");
    reject_as(SIGNUP_WITH("\"x\":[[[[[[[[[[1]]]]]]]]]] \"y\":1"), "too_deep");
    /* A deep top-level array is too deep before it is not an object. */
    reject_as("[[[[[[[[[]]]]]]]]]", "too_deep");
    reject_as("[[[[[[[[]]]]]]]]", "malformed_json");
    /* Closing brackets without openers never make it deep (cJSON rejects). */
    reject_as("{}]]]]]]]]]]]]]]]]]]]", "malformed_json");
}

Test(limits, too_large_wins_over_every_other_limit)
{
    char *msg = nested_signup(MAX_BYTES, "[");
    cr_assert_gt(strlen(msg), (size_t)MAX_BYTES);
    reject_as(msg, "too_large");
    free(msg);
}

/* --------------------------------------------------------- duplicates */

Test(limits, a_known_field_name_twice_is_duplicate_field)
{
    reject_as("{\"event_id\":\"e\",\"type\":\"signup\",\"type\":\"signup\",\"customer_id\":\"c\","
              "\"ts\":1}",
              "duplicate_field:type");
    reject_as(TS("1,\"ts\":2"), "duplicate_field:ts");
    reject_as(TS("1,\"ts\":null"), "duplicate_field:ts");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":1,\"amount\":1e300}",
              "duplicate_field:amount");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":1e300,\"amount\":1}",
              "duplicate_field:amount");
    reject_as(ENV("referral") ",\"referred_customer_id\":\"a\",\"referred_customer_id\":\"b\"}",
              "duplicate_field:referred_customer_id");
    /* Also for fields the type does not read. */
    reject_as(ENV("signup") ",\"amount\":1,\"amount\":2}", "duplicate_field:amount");
    reject_as("{\"event_id\":\"m\",\"type\":\"marketing_spend\",\"ts\":1,\"amount\":1,"
              "\"customer_id\":\"a\",\"customer_id\":\"b\"}",
              "duplicate_field:customer_id");
    /* A name spelled with escapes is the same name. */
    reject_as(ENV("signup") ",\"\\u0074ype\":\"signup\"}", "duplicate_field:type");
}

Test(limits, the_first_duplicate_in_message_order_is_named)
{
    reject_as("{\"event_id\":\"e\",\"ts\":1,\"type\":\"signup\",\"ts\":2,\"event_id\":\"f\","
              "\"customer_id\":\"c\"}",
              "duplicate_field:ts");
}

Test(limits, duplicate_field_comes_before_the_envelope)
{
    reject_as("{\"type\":\"signup\",\"type\":\"signup\"}", "duplicate_field:type");
    reject_as("{\"event_id\":\"\",\"channel\":\"a\",\"channel\":\"b\"}", "duplicate_field:channel");
}

Test(limits, other_duplicates_are_left_alone)
{
    /* Names kpistream does not read, and names in nested objects. */
    accept(SIGNUP_WITH("\"x\":1,\"x\":2,\"meta\":{\"a\":1,\"a\":2,\"ts\":3,\"ts\":4}"));
    /* Names differing in case are different names. */
    accept(SIGNUP_WITH("\"Type\":\"x\",\"TS\":5"));
    cr_assert_eq(EV.type, KS_EV_SIGNUP);
    cr_assert_eq(EV.ts_ms, 1);
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

Test(limits, member_rules_come_in_their_documented_order)
{
    /* too_many_fields, then NUL, then duplicates. */
    char msg[4096];
    size_t k = (size_t)sprintf(msg, "{\"n\":\"\\u0000\",\"ts\":1,\"ts\":2");
    for (int i = 0; i < 63; i++)
        k += (size_t)sprintf(msg + k, ",\"a%d\":0", i);
    strcpy(msg + k, "}");
    reject_as(msg, "too_many_fields");
    reject_as("{\"ts\":1,\"ts\":2,\"n\":\"\\u0000\"}", "nul_character");
    /* A NUL key would otherwise read as a duplicate "type". */
    reject_as("{\"event_id\":\"e\",\"type\":\"signup\",\"type\\u0000x\":\"nope\","
              "\"customer_id\":\"c\",\"ts\":1}",
              "nul_character");
}

/* ------------------------------------------------- UTF-8 and surrogates */

Test(limits, invalid_utf8_anywhere_is_bad_utf8)
{
    static const char *const bad[] = {
        "\xC0\xAF",         /* overlong '/' */
        "\xE0\x80\xAF",     /* overlong */
        "\xED\xA0\x80",     /* raw surrogate U+D800 */
        "\xED\xBF\xBF",     /* raw surrogate U+DFFF */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xFF",
        "\x80",
        "\xE2\x82", /* truncated */
    };
    char msg[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg),
                 "{\"event_id\":\"a%sb\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
                 bad[i]);
        reject_as(msg, "bad_utf8");
        snprintf(msg, sizeof(msg), SIGNUP_WITH("\"k%s\":1"), bad[i]);
        reject_as(msg, "bad_utf8");
        snprintf(msg, sizeof(msg), SIGNUP_WITH("\"x\":{\"y\":[\"%s\"]}"), bad[i]);
        reject_as(msg, "bad_utf8");
    }
}

Test(limits, lone_surrogate_escapes_are_bad_utf8)
{
    static const char *const bad[] = {
        "\\ud800",          "\\uDBFF",        "\\udc00",        "\\uDFFF",      "a\\ud800b",
        "\\ud800\\u0041",   "\\ud800\\ud800", "\\udc00\\ud800", "\\ud83d\\n",   "\\ude00\\ud83d",
        "\\ud800\\\\udc00", "x\\ud83d",       "\\ud800\\uZZZZ", "\\ud800\\u00",
    };
    char msg[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(msg, sizeof(msg),
                 "{\"event_id\":\"%s\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
                 bad[i]);
        reject_as(msg, "bad_utf8");
        /* In a name and in an extra member's nested value alike. */
        snprintf(msg, sizeof(msg), SIGNUP_WITH("\"%s\":1"), bad[i]);
        reject_as(msg, "bad_utf8");
        snprintf(msg, sizeof(msg), SIGNUP_WITH("\"x\":[{\"y\":\"%s\"}]"), bad[i]);
        reject_as(msg, "bad_utf8");
    }
}

Test(limits, surrogate_pairs_are_one_character)
{
    accept("{\"event_id\":\"\\ud800\\udc00|\\uDBFF\\uDFFF|\\uD83D\\uDE00\",\"type\":\"signup\","
           "\"customer_id\":\"c\",\"ts\":1}");
    cr_assert_eq(EV.event_id.len, 14);
    cr_assert_eq(memcmp(EV.event_id.ptr, "\xF0\x90\x80\x80|\xF4\x8F\xBF\xBF|\xF0\x9F\x98\x80", 14),
                 0);
    /* Escapes next to surrogates that are not surrogates themselves. */
    accept("{\"event_id\":\"\\ud7ff\\ue000\\ud83d\\ude00\\u0041\",\"type\":\"signup\","
           "\"customer_id\":\"c\",\"ts\":1}");
    cr_assert_eq(EV.event_id.len, 3 + 3 + 4 + 1);
}

Test(limits, a_lone_surrogate_after_a_json_error_is_malformed_json)
{
    /* Past a JSON error the string boundaries are unknown, so escapes there
     * are not read (raw bytes still are: see invalid_utf8_anywhere). */
    reject_as("{\"event_id\":01,\"x\":\"\\ud800\"}", "malformed_json");
    reject_as("{\"x\":\"\\ud800\",\"event_id\":01}", "bad_utf8");
}

/* ----------------------------------------------- reasons carry no bytes */

/* Every reason ks_event_parse can give: the plain codes and the field codes
 * with each of the schema's names. */
static bool is_known_reason(const char *r)
{
    static const char *const plain[] = {"malformed_json", "too_large", "bad_utf8",
                                        "unknown_type",   "too_deep",  "too_many_fields",
                                        "nul_character"};
    static const char *const with_field[] = {"missing_field", "bad_type", "bad_value",
                                             "duplicate_field"};
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
    r.code = KS_REJECT_DUPLICATE_FIELD;
    strcpy(r.field, "referred_customer_id");
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)),
                     "duplicate_field:referred_customer_id");
}
