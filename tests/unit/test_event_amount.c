/* Amounts in micro-units from the JSON number's decimal text (issue 14):
 * rounded half up on the exact decimal value, never on the binary double
 * (llround(amount * 1e6) gave 0 for 0.0000005 and 1000000 for 1.0000005). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "event/event_internal.h"
#include "kpistream/event.h"

static ks_event_parser *P;
static ks_event EV;
static ks_reject WHY;

static void setup(void)
{
    P = ks_event_parser_new(64 * 1024);
    cr_assert_not_null(P);
}

static void teardown(void)
{
    ks_event_parser_free(P);
}

TestSuite(amount, .init = setup, .fini = teardown);

/* Parses a purchase (or another type) with "amount": <text>; returns success. */
static bool parse_amount(const char *type, const char *text)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "{\"event_id\":\"e1\",\"type\":\"%s\",\"customer_id\":\"c1\",\"ts\":1700000000000,"
                     "\"order_id\":\"o1\",\"amount\": %s ,\"category\":\"x\"}",
                     type, text);
    cr_assert(n > 0 && (size_t)n < sizeof buf);
    return ks_event_parse(P, buf, (size_t)n, &EV, &WHY);
}

static int64_t micro_of(const char *type, const char *text)
{
    cr_assert(parse_amount(type, text), "%s %s rejected", type, text);
    cr_assert(EV.has_amount);
    return EV.amount_micro;
}

Test(amount, decimal_text_rounds_half_up_exactly)
{
    static const struct {
        const char *text;
        int64_t micro;
    } cases[] = {
        {"19.99", 19990000},
        {"0.0000005", 1},          /* exactly half a micro-unit: up */
        {"0.00000049999999999999", 0},
        {"1.0000005", 1000001},    /* the double is 1.00000049999999998 */
        {"123456789.1234565", 123456789123457},
        {"0.0000015", 2},
        {"1e9", 1000000000000000},
        {"1E9", 1000000000000000},
        {"1000000000", 1000000000000000},
        {"1E-7", 0},
        {"5e-7", 1},
        {"4.9e-7", 0},
        {"0.1", 100000},
        {"0.50", 500000},
        {"1.005", 1005000},
        {"12.345678", 12345678},
        {"0.000000500000000000000000000000000000000000000000000000000000000000001", 1},
        {"2.5E+2", 250000000},
        {"100", 100000000},
        {"0.0000000000000000000000000000001", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_expect_eq(micro_of("purchase", cases[i].text), cases[i].micro, "%s -> %lld, want %lld",
                     cases[i].text, (long long)EV.amount_micro, (long long)cases[i].micro);
}

Test(amount, zero_and_negative_zero_where_zero_is_allowed)
{
    cr_expect_eq(micro_of("marketing_spend", "0"), 0);
    cr_expect_eq(micro_of("marketing_spend", "-0"), 0);
    cr_expect_eq(micro_of("retention_spend", "-0.0"), 0);
    cr_expect_eq(micro_of("marketing_spend", "0e5"), 0);
    /* -0 is not > 0: a purchase of -0 is refused like one of 0. */
    cr_expect_not(parse_amount("purchase", "-0"));
    cr_expect_eq(WHY.code, KS_REJECT_BAD_VALUE);
    cr_expect_str_eq(WHY.field, "amount");
}

Test(amount, limit_of_1e9)
{
    /* A hair above 1e9 that the double rounds to 1e9 is 1e9 to the micro-unit. */
    cr_expect(parse_amount("purchase", "1000000000.00000001"));
    cr_expect_eq(EV.amount_micro, 1000000000000000);
    cr_expect_not(parse_amount("purchase", "1000000000.0000005")); /* above it */
    cr_expect_eq(WHY.code, KS_REJECT_BAD_VALUE);
    cr_expect_not(parse_amount("purchase", "1e10"));
    cr_expect_not(parse_amount("purchase", "1e400"));
}

Test(amount, found_wherever_the_member_is)
{
    const char *msg = "{ \"amount\" :\t7.0000005\n, \"event_id\":\"e\",\"type\":\"refund\","
                      "\"customer_id\":\"c\",\"meta\":{\"amount\":1},\"ts\":1}";
    cr_assert(ks_event_parse(P, msg, strlen(msg), &EV, &WHY), "%d %s", WHY.code, WHY.field);
    cr_expect_eq(EV.amount_micro, 7000001);
    const char *esc = "{\"event_id\":\"e\",\"x\":[1,{\"a\":\"}\"}],\"type\":\"refund\","
                      "\"customer_id\":\"c\",\"ts\":1,\"\\u0061mount\":0.0000025}";
    cr_assert(ks_event_parse(P, esc, strlen(esc), &EV, &WHY), "%d %s", WHY.code, WHY.field);
    cr_expect_eq(EV.amount_micro, 3);
}

Test(amount, decimal_reader_edges)
{
    int64_t m = -1;
    cr_expect(ks__decimal_micro("0", 1, &m) && m == 0);
    cr_expect(ks__decimal_micro("-1.5", 4, &m) && m == -1500000);
    cr_expect(ks__decimal_micro("-0.0000005", 10, &m) && m == -1); /* half away from zero */
    cr_expect(ks__decimal_micro("999999999999.999999", 19, &m) && m == 999999999999999999);
    cr_expect_not(ks__decimal_micro("1e13", 4, &m)); /* 10^19 micro-units */
    cr_expect_not(ks__decimal_micro("", 0, &m));
    cr_expect_not(ks__decimal_micro("1e", 2, &m));
    cr_expect_not(ks__decimal_micro("1x", 2, &m));
    cr_expect(ks__decimal_micro("1e-99999999999999", 17, &m) && m == 0);
}

/* Every amount with at most six decimals gives what llround gave (the
 * double is within a micro-unit's half of it up to 1e9): nothing changes
 * for ordinary money. */
Test(amount, six_decimals_agree_with_the_double)
{
    unsigned x = 12345;
    for (int i = 0; i < 20000; i++) {
        x = x * 1103515245u + 12345u;
        long long units = (long long)(x % 1000000000u);
        x = x * 1103515245u + 12345u;
        int frac = (int)(x % 1000000u);
        char text[64];
        snprintf(text, sizeof text, "%lld.%06d", units, frac);
        if (units == 0 && frac == 0) continue;
        int64_t want = llround(strtod(text, NULL) * 1e6);
        cr_assert_eq(micro_of("purchase", text), want, "%s", text);
    }
}
