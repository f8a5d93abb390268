/* ks_event_parse(): every event type, every envelope and per-type rule, and
 * every rejection reason with its exact header string. */
#include <criterion/criterion.h>
#include <math.h>
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

TestSuite(event, .init = setup, .fini = teardown);

/* Parses from an exact-size heap copy that is freed before returning: ASan
 * catches reads past len, and the event must not point into the input. */
static bool parse_n(const char *json, size_t n)
{
    char *b = malloc(n ? n : 1);
    memcpy(b, json, n);
    bool ok = ks_event_parse(P, b, n, &EV, &WHY);
    memset(b, '#', n);
    free(b);
    return ok;
}

static bool parse(const char *json)
{
    return parse_n(json, strlen(json));
}

static void accept(const char *json)
{
    char r[64];
    cr_assert(parse(json), "rejected (%s): %s", ks_reject_format(&WHY, r, sizeof(r)), json);
    cr_assert_eq(WHY.code, KS_REJECT_NONE);
}

static void reject_as(const char *json, const char *reason)
{
    char r[64];
    cr_assert_not(parse(json), "accepted: %s", json);
    cr_assert_str_eq(ks_reject_format(&WHY, r, sizeof(r)), reason, "for %s", json);
    /* A rejected parse leaves no half-filled event behind. */
    cr_assert_null(EV.event_id.ptr);
}

static void str_eq(ks_str s, const char *want)
{
    cr_assert_not_null(s.ptr, "expected '%s', field absent", want);
    cr_assert_eq(s.len, strlen(want), "len %u, want '%s'", s.len, want);
    cr_assert_eq(memcmp(s.ptr, want, s.len), 0, "want '%s'", want);
    cr_assert_eq(s.ptr[s.len], '\0', "not NUL-terminated");
}

static void absent(ks_str s)
{
    cr_assert_null(s.ptr);
    cr_assert_eq(s.len, 0);
}

/* Envelope prefix shared by many cases. */
#define ENV(type)                                                                                  \
    "{\"event_id\":\"e-1\",\"customer_id\":\"c-1\",\"ts\":1700000000123,\"type\":\"" type "\""

/* ------------------------------------------------------------------ valid */

Test(event, signup_with_every_envelope_field)
{
    accept("{\"event_id\":\"evt-001\",\"type\":\"signup\",\"customer_id\":\"cust-42\","
           "\"ts\":1700000000123,\"segment\":\"smb\",\"channel\":\"web\"}");
    cr_assert_eq(EV.type, KS_EV_SIGNUP);
    str_eq(EV.event_id, "evt-001");
    str_eq(EV.customer_id, "cust-42");
    cr_assert_eq(EV.ts_ms, 1700000000123LL);
    str_eq(EV.segment, "smb");
    str_eq(EV.channel, "web");
    absent(EV.order_id);
    absent(EV.category);
    absent(EV.product);
    absent(EV.ticket_id);
    absent(EV.campaign);
    absent(EV.referred_id);
    absent(EV.action_text);
    cr_assert_eq(EV.action, KS_ACT_NONE);
    cr_assert_not(EV.has_amount);
    cr_assert_not(EV.complaint);
    cr_assert_eq(EV.survey_kind, KS_SURVEY_NONE);
}

Test(event, signup_minimal_has_no_optional_fields)
{
    accept(ENV("signup") "}");
    str_eq(EV.event_id, "e-1");
    str_eq(EV.customer_id, "c-1");
    absent(EV.segment);
    absent(EV.channel);
}

Test(event, interaction_with_and_without_action)
{
    accept(ENV("interaction") ",\"action\":\"like\",\"channel\":\"social\"}");
    cr_assert_eq(EV.type, KS_EV_INTERACTION);
    str_eq(EV.action_text, "like");
    str_eq(EV.channel, "social");
    cr_assert_eq(EV.action, KS_ACT_NONE);
    accept(ENV("interaction") "}");
    absent(EV.action_text);
}

Test(event, purchase_with_every_field)
{
    accept(ENV("purchase") ",\"order_id\":\"o-9\",\"amount\":19.99,\"category\":\"books\","
                           "\"product\":\"sku-1\",\"segment\":\"enterprise\",\"channel\":\"app\"}");
    cr_assert_eq(EV.type, KS_EV_PURCHASE);
    str_eq(EV.order_id, "o-9");
    cr_assert(EV.has_amount);
    cr_assert_float_eq(EV.amount, 19.99, 1e-12);
    str_eq(EV.category, "books");
    str_eq(EV.product, "sku-1");
    str_eq(EV.segment, "enterprise");
    str_eq(EV.channel, "app");
}

Test(event, purchase_minimal)
{
    accept(ENV("purchase") ",\"order_id\":\"o-9\",\"amount\":1}");
    cr_assert_float_eq(EV.amount, 1.0, 0);
    absent(EV.category);
    absent(EV.product);
}

Test(event, refund_with_and_without_order)
{
    accept(ENV("refund") ",\"amount\":5.5,\"order_id\":\"o-9\"}");
    cr_assert_eq(EV.type, KS_EV_REFUND);
    cr_assert_float_eq(EV.amount, 5.5, 0);
    cr_assert(EV.has_amount);
    str_eq(EV.order_id, "o-9");
    accept(ENV("refund") ",\"amount\":2e1}");
    cr_assert_float_eq(EV.amount, 20.0, 0);
    absent(EV.order_id);
}

Test(event, subscription_every_action)
{
    static const struct {
        const char *word;
        ks_action act;
    } cases[] = {{"start", KS_ACT_SUB_START},
                 {"renew", KS_ACT_SUB_RENEW},
                 {"upgrade", KS_ACT_SUB_UPGRADE},
                 {"downgrade", KS_ACT_SUB_DOWNGRADE},
                 {"cancel", KS_ACT_SUB_CANCEL}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char msg[256];
        snprintf(msg, sizeof(msg), ENV("subscription") ",\"action\":\"%s\"}", cases[i].word);
        accept(msg);
        cr_assert_eq(EV.type, KS_EV_SUBSCRIPTION);
        cr_assert_eq(EV.action, cases[i].act, "%s", cases[i].word);
        absent(EV.action_text);
    }
}

Test(event, payment_failed_amount_is_optional_and_may_be_zero)
{
    accept(ENV("payment_failed") "}");
    cr_assert_eq(EV.type, KS_EV_PAYMENT_FAILED);
    cr_assert_not(EV.has_amount);
    accept(ENV("payment_failed") ",\"amount\":0}");
    cr_assert(EV.has_amount);
    cr_assert_float_eq(EV.amount, 0.0, 0);
    accept(ENV("payment_failed") ",\"amount\":49.5}");
    cr_assert_float_eq(EV.amount, 49.5, 0);
}

Test(event, ticket_opened_with_complaint_and_category)
{
    accept(ENV("ticket") ",\"ticket_id\":\"t-7\",\"action\":\"opened\",\"complaint\":true,"
                         "\"category\":\"billing\"}");
    cr_assert_eq(EV.type, KS_EV_TICKET);
    str_eq(EV.ticket_id, "t-7");
    cr_assert_eq(EV.action, KS_ACT_TICKET_OPENED);
    cr_assert(EV.complaint);
    str_eq(EV.category, "billing");
}

Test(event, ticket_complaint_defaults_to_false)
{
    accept(ENV("ticket") ",\"ticket_id\":\"t-7\",\"action\":\"opened\"}");
    cr_assert_not(EV.complaint);
    accept(ENV("ticket") ",\"ticket_id\":\"t-7\",\"action\":\"opened\",\"complaint\":false}");
    cr_assert_not(EV.complaint);
    absent(EV.category);
}

Test(event, ticket_responded_and_resolved)
{
    accept(ENV("ticket") ",\"ticket_id\":\"t-7\",\"action\":\"responded\"}");
    cr_assert_eq(EV.action, KS_ACT_TICKET_RESPONDED);
    /* The complaint flag belongs to the opening; on other actions it is
     * type-checked but not reported. */
    accept(ENV("ticket") ",\"ticket_id\":\"t-7\",\"action\":\"resolved\",\"complaint\":true}");
    cr_assert_eq(EV.action, KS_ACT_TICKET_RESOLVED);
    cr_assert_not(EV.complaint);
}

Test(event, survey_csat_and_nps_bounds)
{
    accept(ENV("survey") ",\"kind\":\"csat\",\"score\":1}");
    cr_assert_eq(EV.type, KS_EV_SURVEY);
    cr_assert_eq(EV.survey_kind, KS_SURVEY_CSAT);
    cr_assert_eq(EV.score, 1);
    accept(ENV("survey") ",\"kind\":\"csat\",\"score\":5}");
    cr_assert_eq(EV.score, 5);
    accept(ENV("survey") ",\"kind\":\"nps\",\"score\":0}");
    cr_assert_eq(EV.survey_kind, KS_SURVEY_NPS);
    cr_assert_eq(EV.score, 0);
    accept(ENV("survey") ",\"kind\":\"nps\",\"score\":10}");
    cr_assert_eq(EV.score, 10);
    /* 4.0 is the same JSON number as 4. */
    accept(ENV("survey") ",\"kind\":\"csat\",\"score\":4.0}");
    cr_assert_eq(EV.score, 4);
}

Test(event, lead_created_and_converted)
{
    accept(ENV("lead") ",\"action\":\"created\"}");
    cr_assert_eq(EV.type, KS_EV_LEAD);
    cr_assert_eq(EV.action, KS_ACT_LEAD_CREATED);
    accept(ENV("lead") ",\"action\":\"converted\"}");
    cr_assert_eq(EV.action, KS_ACT_LEAD_CONVERTED);
}

Test(event, marketing_spend_needs_no_customer)
{
    accept("{\"event_id\":\"m-1\",\"type\":\"marketing_spend\",\"ts\":1700000000000,"
           "\"amount\":250.75,\"campaign\":\"black-friday\",\"channel\":\"email\"}");
    cr_assert_eq(EV.type, KS_EV_MARKETING_SPEND);
    str_eq(EV.event_id, "m-1");
    absent(EV.customer_id);
    cr_assert(EV.has_amount);
    cr_assert_float_eq(EV.amount, 250.75, 0);
    str_eq(EV.campaign, "black-friday");
    str_eq(EV.channel, "email");
    accept("{\"event_id\":\"m-2\",\"type\":\"marketing_spend\",\"ts\":1700000000000,\"amount\":0}");
    cr_assert_float_eq(EV.amount, 0.0, 0);
    absent(EV.campaign);
}

Test(event, marketing_spend_ignores_a_customer_id)
{
    accept(ENV("marketing_spend") ",\"amount\":3}");
    absent(EV.customer_id);
    /* Ignored means not even type-checked. */
    accept("{\"event_id\":\"m-1\",\"type\":\"marketing_spend\",\"ts\":1,\"amount\":3,"
           "\"customer_id\":42}");
    absent(EV.customer_id);
}

Test(event, retention_spend)
{
    accept(ENV("retention_spend") ",\"amount\":12.5}");
    cr_assert_eq(EV.type, KS_EV_RETENTION_SPEND);
    str_eq(EV.customer_id, "c-1");
    cr_assert_float_eq(EV.amount, 12.5, 0);
    accept(ENV("retention_spend") ",\"amount\":0}");
    cr_assert(EV.has_amount);
}

Test(event, referral_with_and_without_referred_customer)
{
    accept(ENV("referral") ",\"referred_customer_id\":\"c-2\"}");
    cr_assert_eq(EV.type, KS_EV_REFERRAL);
    str_eq(EV.referred_id, "c-2");
    accept(ENV("referral") "}");
    absent(EV.referred_id);
}

Test(event, fields_of_other_types_are_not_read)
{
    /* amount/order_id mean nothing on a signup: ignored, even when invalid. */
    accept(ENV("signup") ",\"amount\":-5,\"order_id\":7,\"action\":[]}");
    cr_assert_not(EV.has_amount);
    absent(EV.order_id);
    absent(EV.action_text);
}

/* --------------------------------------------------------------- envelope */

Test(event, event_id_rules)
{
    reject_as("{\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}", "missing_field:event_id");
    reject_as("{\"event_id\":null,\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "missing_field:event_id");
    reject_as("{\"event_id\":17,\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "bad_type:event_id");
    reject_as("{\"event_id\":[\"a\"],\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "bad_type:event_id");
    reject_as("{\"event_id\":\"\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "bad_value:event_id");
}

static void id_of_len(char *msg, size_t cap, const char *field, size_t n)
{
    char id[300];
    memset(id, 'x', n);
    id[n] = '\0';
    if (strcmp(field, "event_id") == 0)
        snprintf(msg, cap,
                 "{\"event_id\":\"%s\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}", id);
    else
        snprintf(msg, cap,
                 "{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"%s\",\"ts\":1}", id);
}

Test(event, id_length_limit_is_128_bytes)
{
    char msg[512];
    id_of_len(msg, sizeof(msg), "event_id", 128);
    accept(msg);
    cr_assert_eq(EV.event_id.len, 128);
    id_of_len(msg, sizeof(msg), "event_id", 129);
    reject_as(msg, "bad_value:event_id");
    id_of_len(msg, sizeof(msg), "customer_id", 128);
    accept(msg);
    cr_assert_eq(EV.customer_id.len, 128);
    id_of_len(msg, sizeof(msg), "customer_id", 129);
    reject_as(msg, "bad_value:customer_id");
}

Test(event, id_length_counts_bytes_after_unescaping)
{
    /* 64 x "\u00e9" is 384 bytes of JSON but 128 bytes of UTF-8. */
    char msg[1024], id[400] = "";
    for (int i = 0; i < 64; i++)
        strcat(id, "\\u00e9");
    snprintf(msg, sizeof(msg),
             "{\"event_id\":\"%s\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}", id);
    accept(msg);
    cr_assert_eq(EV.event_id.len, 128);
    cr_assert_eq(memcmp(EV.event_id.ptr, "\xC3\xA9", 2), 0);
}

Test(event, type_rules)
{
    reject_as("{\"event_id\":\"e\",\"customer_id\":\"c\",\"ts\":1}", "missing_field:type");
    reject_as("{\"event_id\":\"e\",\"type\":3,\"customer_id\":\"c\",\"ts\":1}", "bad_type:type");
    reject_as("{\"event_id\":\"e\",\"type\":\"login\",\"customer_id\":\"c\",\"ts\":1}",
              "unknown_type");
    reject_as("{\"event_id\":\"e\",\"type\":\"Purchase\",\"customer_id\":\"c\",\"ts\":1}",
              "unknown_type");
    reject_as("{\"event_id\":\"e\",\"type\":\"\",\"customer_id\":\"c\",\"ts\":1}", "unknown_type");
}

Test(event, every_type_name_is_accepted_by_its_wire_name)
{
    for (int t = 0; t < KS_EV__COUNT; t++) {
        const char *name = ks_event_type_name((ks_event_type)t);
        char msg[256];
        snprintf(msg, sizeof(msg), "{\"event_id\":\"e\",\"type\":\"%s\",\"ts\":1}", name);
        /* Parsing may fail on the type's own fields, never on unknown_type. */
        parse(msg);
        if (WHY.code == KS_REJECT_NONE)
            cr_assert_eq(EV.type, (ks_event_type)t);
        else
            cr_assert_neq(WHY.code, KS_REJECT_UNKNOWN_TYPE, "%s", name);
    }
    cr_assert_str_eq(ks_event_type_name(KS_EV_PURCHASE), "purchase");
    cr_assert_str_eq(ks_event_type_name(KS_EV_MARKETING_SPEND), "marketing_spend");
    cr_assert_str_eq(ks_event_type_name(KS_EV__COUNT), "?");
}

Test(event, customer_id_rules)
{
    reject_as("{\"event_id\":\"e\",\"type\":\"signup\",\"ts\":1}", "missing_field:customer_id");
    reject_as("{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":12,\"ts\":1}",
              "bad_type:customer_id");
    reject_as("{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"\",\"ts\":1}",
              "bad_value:customer_id");
    reject_as("{\"event_id\":\"e\",\"type\":\"retention_spend\",\"ts\":1,\"amount\":1}",
              "missing_field:customer_id");
    reject_as("{\"event_id\":\"e\",\"type\":\"referral\",\"ts\":1}", "missing_field:customer_id");
}

#define TS(v) "{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":" v "}"

Test(event, ts_integer_epoch_ms)
{
    accept(TS("0"));
    cr_assert_eq(EV.ts_ms, 0);
    accept(TS("1700000000000"));
    cr_assert_eq(EV.ts_ms, 1700000000000LL);
    accept(TS("1.7e12"));
    cr_assert_eq(EV.ts_ms, 1700000000000LL);
    accept(TS("1700000000000.0"));
    cr_assert_eq(EV.ts_ms, 1700000000000LL);
    accept(TS("253402300799999")); /* 9999-12-31T23:59:59.999Z */
    cr_assert_eq(EV.ts_ms, 253402300799999LL);
}

Test(event, ts_number_rejections)
{
    reject_as("{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\"}", "missing_field:ts");
    reject_as(TS("null"), "missing_field:ts");
    reject_as(TS("1700000000000.5"), "bad_value:ts");
    reject_as(TS("-1"), "bad_value:ts");
    reject_as(TS("253402300800000"), "bad_value:ts");
    reject_as(TS("1e400"), "bad_value:ts");
    reject_as(TS("-1e400"), "bad_value:ts");
    reject_as(TS("true"), "bad_type:ts");
    reject_as(TS("{}"), "bad_type:ts");
    reject_as(TS("[1]"), "bad_type:ts");
}

Test(event, ts_rfc3339_strings)
{
    accept(TS("\"2023-11-14T22:13:20.123Z\""));
    cr_assert_eq(EV.ts_ms, 1700000000123LL);
    accept(TS("\"2023-11-14T23:13:20.123+01:00\""));
    cr_assert_eq(EV.ts_ms, 1700000000123LL);
    accept(TS("\"2023-11-14T16:43:20-05:30\""));
    cr_assert_eq(EV.ts_ms, 1700000000000LL);
    reject_as(TS("\"2023-11-14T22:13:20\""), "bad_value:ts");  /* no offset */
    reject_as(TS("\"2023-02-30T00:00:00Z\""), "bad_value:ts"); /* Feb 30 */
    reject_as(TS("\"1700000000000\""), "bad_value:ts");        /* digits in a string */
    reject_as(TS("\"\""), "bad_value:ts");
    reject_as(TS("\"yesterday\""), "bad_value:ts");
}

#define SEG(v) "{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1," v "}"

Test(event, segment_and_channel_rules)
{
    reject_as(SEG("\"segment\":5"), "bad_type:segment");
    reject_as(SEG("\"segment\":true"), "bad_type:segment");
    reject_as(SEG("\"segment\":\"\""), "bad_value:segment");
    reject_as(SEG("\"channel\":{}"), "bad_type:channel");
    reject_as(SEG("\"channel\":\"\""), "bad_value:channel");
    accept(SEG("\"segment\":null,\"channel\":null"));
    absent(EV.segment);
    absent(EV.channel);
    accept(SEG("\"channel\":\"carrier-pigeon\""));
    str_eq(EV.channel, "carrier-pigeon");
}

Test(event, envelope_is_checked_in_order)
{
    /* Several faults at once: the first rule in the documented order wins. */
    reject_as("{\"ts\":\"x\"}", "missing_field:event_id");
    reject_as("{\"event_id\":\"e\",\"ts\":\"x\"}", "missing_field:type");
    reject_as("{\"event_id\":\"e\",\"type\":\"nope\",\"ts\":\"x\"}", "unknown_type");
    reject_as("{\"event_id\":\"e\",\"type\":\"signup\",\"ts\":\"x\"}", "missing_field:customer_id");
    reject_as("{\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":\"x\","
              "\"segment\":1}",
              "bad_value:ts");
    reject_as("{\"event_id\":\"e\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1,"
              "\"segment\":1}",
              "bad_type:segment");
    reject_as("{\"event_id\":\"e\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1,"
              "\"channel\":1}",
              "bad_type:channel");
}

/* --------------------------------------------------------------- per type */

Test(event, purchase_rules)
{
    reject_as(ENV("purchase") ",\"amount\":1}", "missing_field:order_id");
    reject_as(ENV("purchase") ",\"order_id\":5,\"amount\":1}", "bad_type:order_id");
    reject_as(ENV("purchase") ",\"order_id\":\"\",\"amount\":1}", "bad_value:order_id");
    reject_as(ENV("purchase") ",\"order_id\":\"o\"}", "missing_field:amount");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":\"10\"}", "bad_type:amount");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":0}", "bad_value:amount");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":-0}", "bad_value:amount");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":-3}", "bad_value:amount");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":1e400}", "bad_value:amount");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":1,\"category\":3}",
              "bad_type:category");
    reject_as(ENV("purchase") ",\"order_id\":\"o\",\"amount\":1,\"product\":\"\"}",
              "bad_value:product");
}

Test(event, text_fields_allow_256_bytes)
{
    char msg[1024], txt[300];
    memset(txt, 'p', 256);
    txt[256] = '\0';
    snprintf(msg, sizeof(msg),
             ENV("purchase") ",\"order_id\":\"o\",\"amount\":1,\"product\":\"%s\"}", txt);
    accept(msg);
    cr_assert_eq(EV.product.len, 256);
    txt[256] = 'p';
    txt[257] = '\0';
    snprintf(msg, sizeof(msg),
             ENV("purchase") ",\"order_id\":\"o\",\"amount\":1,\"product\":\"%s\"}", txt);
    reject_as(msg, "bad_value:product");
}

Test(event, refund_rules)
{
    reject_as(ENV("refund") "}", "missing_field:amount");
    reject_as(ENV("refund") ",\"amount\":0}", "bad_value:amount");
    reject_as(ENV("refund") ",\"amount\":true}", "bad_type:amount");
    reject_as(ENV("refund") ",\"amount\":1,\"order_id\":1}", "bad_type:order_id");
}

Test(event, subscription_rules)
{
    reject_as(ENV("subscription") "}", "missing_field:action");
    reject_as(ENV("subscription") ",\"action\":\"pause\"}", "bad_value:action");
    reject_as(ENV("subscription") ",\"action\":\"Cancel\"}", "bad_value:action");
    reject_as(ENV("subscription") ",\"action\":1}", "bad_type:action");
}

Test(event, payment_failed_rules)
{
    reject_as(ENV("payment_failed") ",\"amount\":-0.01}", "bad_value:amount");
    reject_as(ENV("payment_failed") ",\"amount\":\"x\"}", "bad_type:amount");
}

Test(event, ticket_rules)
{
    reject_as(ENV("ticket") ",\"action\":\"opened\"}", "missing_field:ticket_id");
    reject_as(ENV("ticket") ",\"ticket_id\":9,\"action\":\"opened\"}", "bad_type:ticket_id");
    reject_as(ENV("ticket") ",\"ticket_id\":\"t\"}", "missing_field:action");
    reject_as(ENV("ticket") ",\"ticket_id\":\"t\",\"action\":\"closed\"}", "bad_value:action");
    reject_as(ENV("ticket") ",\"ticket_id\":\"t\",\"action\":\"opened\",\"complaint\":\"yes\"}",
              "bad_type:complaint");
    reject_as(ENV("ticket") ",\"ticket_id\":\"t\",\"action\":\"opened\",\"complaint\":1}",
              "bad_type:complaint");
    reject_as(ENV("ticket") ",\"ticket_id\":\"t\",\"action\":\"opened\",\"category\":[]}",
              "bad_type:category");
}

Test(event, survey_rules)
{
    reject_as(ENV("survey") ",\"score\":3}", "missing_field:kind");
    reject_as(ENV("survey") ",\"kind\":1,\"score\":3}", "bad_type:kind");
    reject_as(ENV("survey") ",\"kind\":\"ces\",\"score\":3}", "bad_value:kind");
    reject_as(ENV("survey") ",\"kind\":\"csat\"}", "missing_field:score");
    reject_as(ENV("survey") ",\"kind\":\"csat\",\"score\":\"5\"}", "bad_type:score");
    reject_as(ENV("survey") ",\"kind\":\"csat\",\"score\":0}", "bad_value:score");
    reject_as(ENV("survey") ",\"kind\":\"csat\",\"score\":6}", "bad_value:score");
    reject_as(ENV("survey") ",\"kind\":\"csat\",\"score\":4.5}", "bad_value:score");
    reject_as(ENV("survey") ",\"kind\":\"nps\",\"score\":-1}", "bad_value:score");
    reject_as(ENV("survey") ",\"kind\":\"nps\",\"score\":11}", "bad_value:score");
    reject_as(ENV("survey") ",\"kind\":\"nps\",\"score\":1e400}", "bad_value:score");
}

Test(event, lead_rules)
{
    reject_as(ENV("lead") "}", "missing_field:action");
    reject_as(ENV("lead") ",\"action\":\"qualified\"}", "bad_value:action");
    reject_as(ENV("lead") ",\"action\":null}", "missing_field:action");
}

Test(event, marketing_spend_rules)
{
    reject_as("{\"event_id\":\"m\",\"type\":\"marketing_spend\",\"ts\":1}", "missing_field:amount");
    reject_as("{\"event_id\":\"m\",\"type\":\"marketing_spend\",\"ts\":1,\"amount\":-1}",
              "bad_value:amount");
    reject_as("{\"event_id\":\"m\",\"type\":\"marketing_spend\",\"ts\":1,\"amount\":1,"
              "\"campaign\":7}",
              "bad_type:campaign");
}

Test(event, retention_spend_rules)
{
    reject_as(ENV("retention_spend") "}", "missing_field:amount");
    reject_as(ENV("retention_spend") ",\"amount\":-2}", "bad_value:amount");
}

Test(event, referral_and_interaction_rules)
{
    reject_as(ENV("referral") ",\"referred_customer_id\":1}", "bad_type:referred_customer_id");
    reject_as(ENV("referral") ",\"referred_customer_id\":\"\"}", "bad_value:referred_customer_id");
    reject_as(ENV("interaction") ",\"action\":5}", "bad_type:action");
    reject_as(ENV("interaction") ",\"action\":\"\"}", "bad_value:action");
}

/* ------------------------------------------------------------ JSON level */

Test(event, malformed_json)
{
    reject_as("", "malformed_json");
    reject_as("   ", "malformed_json");
    reject_as("{", "malformed_json");
    reject_as("{\"event_id\":\"e\"", "malformed_json");
    reject_as("{\"event_id\":\"e}", "malformed_json");
    reject_as("{'event_id':'e'}", "malformed_json");
    reject_as("{\"a\":1,}", "malformed_json");
    reject_as("{\"a\" 1}", "malformed_json");
    reject_as("{\"a\":tru}", "malformed_json");
    reject_as("{\"a\":NaN}", "malformed_json");
    reject_as("{\"a\":Infinity}", "malformed_json");
    reject_as("{\"a\":1} // c", "malformed_json");
    reject_as("{/*c*/}", "malformed_json");
}

Test(event, top_level_must_be_an_object)
{
    reject_as("[]", "malformed_json");
    reject_as("[{\"event_id\":\"e\"}]", "malformed_json");
    reject_as("\"signup\"", "malformed_json");
    reject_as("42", "malformed_json");
    reject_as("null", "malformed_json");
    reject_as("true", "malformed_json");
}

Test(event, trailing_bytes_are_rejected_but_whitespace_is_fine)
{
    reject_as(ENV("signup") "} x", "malformed_json");
    reject_as(ENV("signup") "}{}", "malformed_json");
    reject_as(ENV("signup") "},", "malformed_json");
    accept(" \t\r\n" ENV("signup") "} \n\t\r ");
}

Test(event, numbers_must_follow_the_json_grammar)
{
    /* cJSON would take these (it hands the token to strtod); JSON does not. */
    reject_as(TS("+1"), "malformed_json");
    reject_as(TS("01"), "malformed_json");
    reject_as(TS("1."), "malformed_json");
    reject_as(TS(".5"), "malformed_json");
    reject_as(TS("-"), "malformed_json");
    reject_as(TS("1e"), "malformed_json");
    reject_as(TS("1e+"), "malformed_json");
    reject_as(TS("0x10"), "malformed_json");
    reject_as(TS("1.2.3"), "malformed_json");
    accept(TS("0"));
    accept(TS("1E3"));
    cr_assert_eq(EV.ts_ms, 1000);
    accept(TS("12e2"));
    cr_assert_eq(EV.ts_ms, 1200);
    reject_as(TS("12e-10"), "bad_value:ts");
}

Test(event, control_characters_must_be_escaped)
{
    reject_as("{\"event_id\":\"a\x01\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "malformed_json");
    reject_as("{\"event_id\":\"a\tb\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "malformed_json");
    reject_as("{\"event_id\":\"a\nb\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "malformed_json");
    reject_as("{\x01\"event_id\":\"a\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "malformed_json");
    accept("{\"event_id\":\"a\\tb\\n\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}");
    str_eq(EV.event_id, "a\tb\n");
}

Test(event, raw_nul_byte_is_malformed)
{
    static const char msg[] = ENV("signup") "}\0garbage";
    cr_assert_not(parse_n(msg, sizeof(msg) - 1));
    cr_assert_eq(WHY.code, KS_REJECT_MALFORMED_JSON);
    static const char msg2[] =
        "{\"event_id\":\"a\0b\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}";
    cr_assert_not(parse_n(msg2, sizeof(msg2) - 1));
    cr_assert_eq(WHY.code, KS_REJECT_MALFORMED_JSON);
}

Test(event, escapes_are_decoded)
{
    accept("{\"event_id\":\"\\u00e9\\\"\\\\\\/\\ud83d\\ude00\",\"type\":\"signup\","
           "\"customer_id\":\"c\",\"ts\":1}");
    str_eq(EV.event_id, "\xC3\xA9\"\\/\xF0\x9F\x98\x80");
}

Test(event, invalid_escapes_are_malformed)
{
    reject_as("{\"event_id\":\"\\x41\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "malformed_json");
    /* cJSON alone decodes a bad \u escape as U+0000. */
    reject_as("{\"event_id\":\"\\uZZZZ\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "malformed_json");
    reject_as("{\"event_id\":\"\\u12\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "malformed_json");
    /* Lone surrogate escapes stand for no character: bad_utf8, see
     * test_event_limits.c. */
    reject_as("{\"event_id\":\"\\ud800\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "bad_utf8");
    reject_as("{\"event_id\":\"\\udc00x\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "bad_utf8");
}

Test(event, nul_escape_is_rejected_naming_only_known_fields)
{
    reject_as("{\"event_id\":\"ab\\u0000cd\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "bad_value:event_id");
    /* An extra member's name is the producer's: not echoed. */
    reject_as(ENV("signup") ",\"note\":{\"x\":[\"\\u0000\"]}}", "nul_character");
    /* In a key: cJSON would read "type\u0000x" as "type"; the key is not
     * "type", and is not echoed either. */
    reject_as("{\"event_id\":\"e\",\"type\\u0000x\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "nul_character");
    /* An escaped backslash followed by "u0000" is not a NUL. */
    accept("{\"event_id\":\"a\\\\u0000\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}");
    str_eq(EV.event_id, "a\\u0000");
}

Test(event, byte_order_mark_is_ignored)
{
    accept("\xEF\xBB\xBF" ENV("signup") "}");
    str_eq(EV.event_id, "e-1");
}

Test(event, deep_nesting_is_rejected_without_crashing)
{
    size_t depth = 20000; /* 40 KB, under max_bytes, far over the limit and cJSON's 1000 */
    size_t n = 2 * depth + 64;
    char *msg = malloc(n);
    size_t k = (size_t)sprintf(msg, "{\"x\":");
    for (size_t i = 0; i < depth; i++)
        msg[k++] = '[';
    for (size_t i = 0; i < depth; i++)
        msg[k++] = ']';
    msg[k++] = '}';
    msg[k] = '\0';
    cr_assert_not(parse_n(msg, k));
    cr_assert_eq(WHY.code, KS_REJECT_TOO_DEEP);
    free(msg);
}

Test(event, moderate_nesting_in_an_extra_field_is_ignored)
{
    /* The event object and 7 arrays: 8 levels, the limit. */
    char msg[4096];
    size_t k = (size_t)sprintf(msg, ENV("signup") ",\"x\":");
    for (int i = 0; i < KS_EVENT_DEPTH_MAX - 1; i++)
        msg[k++] = '[';
    for (int i = 0; i < KS_EVENT_DEPTH_MAX - 1; i++)
        msg[k++] = ']';
    msg[k++] = '}';
    msg[k] = '\0';
    accept(msg);
    str_eq(EV.event_id, "e-1");
}

/* ------------------------------------------------------------ size limit */

Test(event, one_megabyte_message_is_too_large)
{
    size_t n = 1024 * 1024;
    char *msg = malloc(n);
    memset(msg, ' ', n);
    memcpy(msg, ENV("signup") "}", strlen(ENV("signup") "}"));
    cr_assert_not(parse_n(msg, n));
    cr_assert_eq(WHY.code, KS_REJECT_TOO_LARGE);
    char r[64];
    cr_assert_str_eq(ks_reject_format(&WHY, r, sizeof(r)), "too_large");
    free(msg);
}

Test(event, size_limit_is_inclusive_and_checked_before_utf8)
{
    char *msg = malloc(MAX_BYTES + 1);
    size_t head = strlen(ENV("signup") "}");
    memcpy(msg, ENV("signup") "}", head);
    memset(msg + head, ' ', MAX_BYTES + 1 - head);
    cr_assert(parse_n(msg, MAX_BYTES), "a message of exactly max_bytes is accepted");
    msg[MAX_BYTES] = (char)0xFF; /* invalid UTF-8, but over the limit first */
    cr_assert_not(parse_n(msg, MAX_BYTES + 1));
    cr_assert_eq(WHY.code, KS_REJECT_TOO_LARGE);
    free(msg);
}

/* ------------------------------------------------------ keys and reuse */

Test(event, duplicate_known_keys_are_rejected)
{
    /* More cases in test_event_limits.c. */
    reject_as("{\"event_id\":\"first\",\"event_id\":\"second\",\"type\":\"signup\","
              "\"type\":\"bogus\",\"customer_id\":\"c\",\"ts\":1}",
              "duplicate_field:event_id");
    /* Even when the first is null (absent). */
    reject_as("{\"event_id\":null,\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\","
              "\"ts\":1}",
              "duplicate_field:event_id");
}

Test(event, names_are_case_sensitive)
{
    reject_as("{\"Event_ID\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}",
              "missing_field:event_id");
}

Test(event, unknown_fields_are_ignored)
{
    accept("{\"schema\":2,\"event_id\":\"e\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1,"
           "\"meta\":{\"a\":[1,2,{\"b\":null}],\"c\":\"d\"},\"flag\":false,\"n\":null,"
           "\"\":\"empty key\",\"tsx\":\"x\",\"t\":1,\"c\":2,\"ca\":3,\"amountx\":\"y\"}");
    str_eq(EV.event_id, "e");
    cr_assert_eq(EV.ts_ms, 1);
}

Test(event, parser_is_reusable_and_strings_are_current)
{
    char msg[512];
    for (int i = 0; i < 5000; i++) {
        if (i % 7 == 3) {
            reject_as("{\"event_id\":\"e\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1}",
                      "missing_field:order_id");
            continue;
        }
        snprintf(
            msg, sizeof(msg),
            "{\"event_id\":\"evt-%d\",\"type\":\"purchase\",\"customer_id\":\"cust-%d\","
            "\"ts\":%d,\"order_id\":\"ord-%d\",\"amount\":%d.25,\"pad\":\"%.*s\"}",
            i, i % 97, 1000 + i, i, i + 1, i % 300,
            "................................"
            "................................................................................"
            "................................................................................"
            "................................................................................"
            "................................................................................");
        accept(msg);
        char want[64];
        snprintf(want, sizeof(want), "evt-%d", i);
        str_eq(EV.event_id, want);
        snprintf(want, sizeof(want), "cust-%d", i % 97);
        str_eq(EV.customer_id, want);
        snprintf(want, sizeof(want), "ord-%d", i);
        str_eq(EV.order_id, want);
        cr_assert_eq(EV.ts_ms, 1000 + i);
        cr_assert_float_eq(EV.amount, i + 1.25, 0);
    }
}

Test(event, big_messages_grow_the_arena_and_small_ones_still_work)
{
    size_t n = 60000;
    char *big = malloc(n + 1);
    size_t k = (size_t)sprintf(big, ENV("signup") ",\"list\":[");
    while (k + 10 < n) {
        memcpy(big + k, "1,", 2);
        k += 2;
    }
    memcpy(big + k, "1]}", 3);
    k += 3;
    for (int round = 0; round < 3; round++) {
        cr_assert(parse_n(big, k));
        str_eq(EV.customer_id, "c-1");
        accept(ENV("lead") ",\"action\":\"converted\"}");
        cr_assert_eq(EV.action, KS_ACT_LEAD_CONVERTED);
        str_eq(EV.event_id, "e-1");
    }
    free(big);
}

/* ----------------------------------------------------------- formatting */

Test(event, reject_format_every_code)
{
    char buf[64];
    ks_reject r = {.code = KS_REJECT_MISSING_FIELD};
    strcpy(r.field, "customer_id");
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "missing_field:customer_id");
    r.code = KS_REJECT_BAD_TYPE;
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "bad_type:customer_id");
    r.code = KS_REJECT_BAD_VALUE;
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "bad_value:customer_id");
    r.code = KS_REJECT_DUPLICATE_FIELD;
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "duplicate_field:customer_id");
    /* Codes without a field ignore whatever is in field. */
    static const struct {
        ks_reject_code c;
        const char *s;
    } plain[] = {{KS_REJECT_NONE, "none"},
                 {KS_REJECT_MALFORMED_JSON, "malformed_json"},
                 {KS_REJECT_TOO_LARGE, "too_large"},
                 {KS_REJECT_BAD_UTF8, "bad_utf8"},
                 {KS_REJECT_UNKNOWN_TYPE, "unknown_type"},
                 {KS_REJECT_FUTURE_TIMESTAMP, "future_timestamp"},
                 {KS_REJECT_TOO_OLD, "too_old"},
                 {KS_REJECT_TOO_DEEP, "too_deep"},
                 {KS_REJECT_TOO_MANY_FIELDS, "too_many_fields"},
                 {KS_REJECT_NUL_CHARACTER, "nul_character"}};
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        r.code = plain[i].c;
        cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), plain[i].s);
        cr_assert_str_eq(ks_reject_code_name(plain[i].c), plain[i].s);
    }
    cr_assert_str_eq(ks_reject_code_name(KS_REJECT__COUNT), "unknown");
}

Test(event, reject_format_truncates_to_the_buffer)
{
    char buf[8];
    ks_reject r = {.code = KS_REJECT_MISSING_FIELD};
    strcpy(r.field, "customer_id");
    cr_assert_str_eq(ks_reject_format(&r, buf, sizeof(buf)), "missing");
}

Test(event, free_null_is_harmless)
{
    ks_event_parser_free(NULL);
}

/* The strictness pass reads string content eight bytes at a time; a special
 * byte must be found at every offset of a long string. */
Test(event, special_bytes_found_at_every_offset_of_a_long_string)
{
    char id[120], msg[400];
    for (size_t at = 0; at < 100; at++) {
        memset(id, 'a', 100);
        id[100] = '\0';
        id[at] = '\x1f';
        snprintf(msg, sizeof(msg),
                 "{\"event_id\":\"%s\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}", id);
        reject_as(msg, "malformed_json");
        id[at] = (char)0xC0;
        snprintf(msg, sizeof(msg),
                 "{\"event_id\":\"%s\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}", id);
        reject_as(msg, "bad_utf8");
        /* An escaped quote at that offset must not end the string early. */
        memset(id, 'a', 100);
        memcpy(id + at, "\\\"", 2);
        id[at + 2 > 100 ? at + 2 : 100] = '\0';
        snprintf(msg, sizeof(msg),
                 "{\"event_id\":\"%s\",\"type\":\"signup\",\"customer_id\":\"c\",\"ts\":1}", id);
        accept(msg);
        cr_assert_eq(EV.event_id.ptr[at], '"');
        cr_assert_eq(EV.event_id.len, (at + 2 > 100 ? at + 2 : 100) - 1);
    }
}

Test(event, long_numbers_are_read_whole)
{
    /* Upstream cJSON copies at most 63 characters of a number; the packaged
     * 1.7.15 reads it whole. Either way a valid number must not be cut. */
    char digits[120], msg[256];
    memset(digits, '0', 100);
    digits[0] = '1';
    digits[1] = '.';
    digits[100] = '\0';
    snprintf(msg, sizeof(msg), TS("%s"), digits);
    accept(msg);
    cr_assert_eq(EV.ts_ms, 1);
    digits[1] = '0'; /* 1 followed by 99 zeros: far out of range */
    snprintf(msg, sizeof(msg), TS("%s"), digits);
    reject_as(msg, "bad_value:ts");
}
