/* The flat fast path (src/event/flat.c) against cJSON, its reference: every
 * input must give the same verdict, the same reason and, when accepted, the
 * same event, byte for byte. Inputs: generated events of both population
 * models, hand-written edge cases, and those events mutated at random
 * (escapes, nesting, odd numbers and words, whitespace, duplicates, cuts),
 * so the comparison does not depend on what our generator writes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "event/event_internal.h"
#include "kpistream/event.h"
#include "kpistream/gen.h"
#include "xorshift.h"

typedef struct pair {
    ks_event_parser *fast, *ref;
    long flat_ok, compared;
} pair;

static void pair_init(pair *pp)
{
    memset(pp, 0, sizeof *pp);
    pp->fast = ks_event_parser_new(4096);
    pp->ref = ks_event_parser_new(4096);
    cr_assert(pp->fast && pp->ref);
    ks__event_parser_set_flat(pp->ref, false);
}

static void pair_free(pair *pp)
{
    ks_event_parser_free(pp->fast);
    ks_event_parser_free(pp->ref);
}

static void same_str(const ks_str *a, const ks_str *b, const char *what, const char *in, size_t n)
{
    cr_assert_eq(a->ptr == NULL, b->ptr == NULL, "%s present on one path only: %.*s", what,
                 (int)n, in);
    if (a->ptr == NULL)
        return;
    cr_assert(a->len == b->len && memcmp(a->ptr, b->ptr, a->len) == 0, "%s differs: %.*s", what,
              (int)n, in);
}

/* Parses in with both paths and fails the test on any difference. */
static void compare(pair *pp, const char *in, size_t n)
{
    ks_event a, b;
    ks_reject ra, rb;
    bool oka = ks_event_parse(pp->fast, in, n, &a, &ra);
    bool okb = ks_event_parse(pp->ref, in, n, &b, &rb);
    pp->compared++;
    cr_assert_eq(oka, okb, "verdicts differ (fast %d, cJSON %d; reasons %d/%d): %.*s", oka, okb,
                 ra.code, rb.code, (int)n, in);
    cr_assert_eq(ra.code, rb.code, "reasons differ (%d vs %d): %.*s", ra.code, rb.code, (int)n, in);
    cr_assert_str_eq(ra.field, rb.field, "reason fields differ: %.*s", (int)n, in);
    if (!oka)
        return;
    pp->flat_ok++;
    cr_assert_eq(a.type, b.type);
    cr_assert_eq(a.ts_ms, b.ts_ms, "ts: %.*s", (int)n, in);
    cr_assert_eq(a.action, b.action);
    cr_assert_eq(memcmp(&a.amount, &b.amount, sizeof a.amount), 0, "amount: %.*s", (int)n, in);
    cr_assert_eq(a.amount_micro, b.amount_micro, "amount_micro: %.*s", (int)n, in);
    cr_assert_eq(a.has_amount, b.has_amount);
    cr_assert_eq(a.complaint, b.complaint);
    cr_assert_eq(a.survey_kind, b.survey_kind);
    cr_assert_eq(a.score, b.score);
    same_str(&a.event_id, &b.event_id, "event_id", in, n);
    same_str(&a.customer_id, &b.customer_id, "customer_id", in, n);
    same_str(&a.segment, &b.segment, "segment", in, n);
    same_str(&a.channel, &b.channel, "channel", in, n);
    same_str(&a.order_id, &b.order_id, "order_id", in, n);
    same_str(&a.category, &b.category, "category", in, n);
    same_str(&a.product, &b.product, "product", in, n);
    same_str(&a.ticket_id, &b.ticket_id, "ticket_id", in, n);
    same_str(&a.campaign, &b.campaign, "campaign", in, n);
    same_str(&a.referred_id, &b.referred_id, "referred_id", in, n);
    same_str(&a.action_text, &b.action_text, "action_text", in, n);
}

static void compare_str(pair *pp, const char *s)
{
    compare(pp, s, strlen(s));
}

Test(flat, hand_written_edges_agree_with_cjson)
{
    static const char *const cases[] = {
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1767225600000}",
        " \t\r\n{ \"event_id\" : \"e1\" , \"type\" : \"signup\" , \"customer_id\" : \"c1\" , "
        "\"ts\" : \"2026-01-01T00:00:00Z\" } \n",
        "\xEF\xBB\xBF{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1}",
        "{\"event_id\":\"e\\u0031\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1}",
        "{\"event_id\":\"e1\",\"typ\\u0065\":\"signup\",\"customer_id\":\"c1\",\"ts\":1}",
        "{\"event_id\":\"e1\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1,\"order_id\":\"o\","
        "\"amount\":1.0000005}",
        "{\"event_id\":\"e1\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1,\"order_id\":\"o\","
        "\"amount\":12.5e-1}",
        "{\"event_id\":\"e1\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1,\"order_id\":\"o\","
        "\"amount\":1.00000000000000000000000000000000000000000000000000000000000000000001}",
        "{\"event_id\":\"e1\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1,\"order_id\":\"o\","
        "\"amount\":1-2}",
        "{\"event_id\":\"e1\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1,\"order_id\":\"o\","
        "\"amount\":-0}",
        "{\"event_id\":\"e1\",\"type\":\"purchase\",\"customer_id\":\"c\",\"ts\":1e3,\"order_id\":\"o\","
        "\"amount\":1E400}",
        "{\"event_id\":\"e1\",\"type\":\"ticket\",\"customer_id\":\"c\",\"ts\":1,\"ticket_id\":\"t\","
        "\"action\":\"opened\",\"complaint\":true}",
        "{\"event_id\":\"e1\",\"type\":\"ticket\",\"customer_id\":\"c\",\"ts\":1,\"ticket_id\":\"t\","
        "\"action\":\"opened\",\"complaint\":tru}",
        "{\"event_id\":\"e1\",\"type\":\"ticket\",\"customer_id\":\"c\",\"ts\":1,\"ticket_id\":\"t\","
        "\"action\":\"opened\",\"complaint\":truex}",
        "{\"event_id\":\"e1\",\"type\":\"ticket\",\"customer_id\":\"c\",\"ts\":1,\"ticket_id\":\"t\","
        "\"action\":\"opened\",\"complaint\":null,\"category\":null}",
        "{\"event_id\":\"e1\",\"type\":\"survey\",\"customer_id\":\"c\",\"ts\":1,\"kind\":\"nps\","
        "\"score\":4.0}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1,\"x\":{\"y\":1}}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1,\"x\":[1,2]}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1}x",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1}}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1,}",
        "{\"event_id\":\"e1\" \"type\":\"signup\"}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1",
        "{\"event_id\":\"\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1}",
        "{\"\":\"\",\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1}",
        "{\"event_id\":\"é€𝄞\",\"type\":\"signup\",\"customer_id\":\"ü\",\"segment\":\"日本\",\"ts\":1}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":01}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":+1}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":1.}",
        "{\"event_id\":\"e1\",\"type\":\"signup\",\"customer_id\":\"c1\",\"ts\":true}",
        "[{\"event_id\":\"e1\"}]",
        "\"just a string\"",
        "{}",
        "{ }",
        "",
        "   ",
        "{\"a\":nul}",
        "{\"a\":null }",
        "{\"a\":\"\\\"\"}",
    };
    pair pp;
    pair_init(&pp);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        compare_str(&pp, cases[i]);
    /* A number of 63 characters and one of 64 (cJSON's scanner stops
     * there), and one right at the end of the message. */
    char buf[256];
    for (int digits = 60; digits <= 66; digits++) {
        int n = snprintf(buf, sizeof buf,
                         "{\"event_id\":\"e\",\"type\":\"retention_spend\",\"customer_id\":\"c\","
                         "\"ts\":1,\"amount\":1.%0*d}",
                         digits - 2, 5);
        compare(&pp, buf, (size_t)n);
    }
    compare_str(&pp, "{\"a\":1");
    cr_assert_gt(pp.flat_ok, 10, "the cases should include accepted events");
    pair_free(&pp);
}

static uint64_t rng_next(uint64_t *s);

/* Numbers of every shape the fast path converts itself (up to 15 digits,
 * a fraction, a sign) and some it hands to strtod: the amounts (and so the
 * doubles) must be the same on both paths, bit for bit. */
/* The member names of the event schema (../shared/CONTRACT.md, section 1),
 * as the fast path matches them by length and bytes: each has a slot of its
 * own, and a name one byte off (shorter, longer, another byte, another case)
 * has none. Both paths match names with this function, so the comparisons
 * below would not see a slip in it; the parse tests would, field by field. */
Test(flat, field_names_match_whole_and_only_whole)
{
    static const char *const names[] = {"event_id", "type",      "customer_id", "ts",
                                        "segment",  "channel",   "order_id",    "amount",
                                        "category", "product",   "action",      "ticket_id",
                                        "complaint", "kind",     "score",       "campaign",
                                        "referred_customer_id"};
    size_t n = sizeof names / sizeof names[0];
    bool seen[KS__FLAT_FIELDS] = {false};
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        int idx = ks__field_index_n(names[i], len);
        cr_assert(idx >= 0 && idx < KS__FLAT_FIELDS, "%s has a slot", names[i]);
        cr_assert(!seen[idx], "%s has a slot of its own", names[i]);
        seen[idx] = true;
        char buf[32];
        cr_assert_eq(ks__field_index_n(names[i], len - 1), -1, "%s cut by one", names[i]);
        snprintf(buf, sizeof buf, "%sx", names[i]);
        cr_assert_eq(ks__field_index_n(buf, len + 1), -1, "%s", buf);
        for (size_t at = 0; at < len; at++) {
            memcpy(buf, names[i], len + 1);
            buf[at] = buf[at] == '_' ? 'x' : (char)(buf[at] - 32); /* upper case, or '_' -> 'x' */
            cr_assert_eq(ks__field_index_n(buf, len), -1, "%s", buf);
        }
    }
    cr_assert_eq(ks__field_index_n("", 0), -1);
}

Test(flat, numbers_convert_as_strtod_does)
{
    pair pp;
    pair_init(&pp);
    uint64_t s = 12345;
    char num[64], buf[256];
    for (int t = 0; t < 200000; t++) {
        int digits = 1 + (int)(rng_next(&s) % 18), point = (int)(rng_next(&s) % (digits + 1));
        size_t o = 0;
        if (rng_next(&s) % 8 == 0)
            num[o++] = '-';
        for (int d = 0; d < digits; d++) {
            if (d == point && d > 0)
                num[o++] = '.';
            num[o++] = (char)('0' + (d == 0 && digits > 1 && point != 1 ? 1 + rng_next(&s) % 9
                                                                      : rng_next(&s) % 10));
        }
        if (rng_next(&s) % 16 == 0)
            o += (size_t)snprintf(num + o, sizeof num - o, "e%d", (int)(rng_next(&s) % 9) - 4);
        num[o] = '\0';
        int n = snprintf(buf, sizeof buf,
                         "{\"event_id\":\"e\",\"type\":\"marketing_spend\",\"ts\":%s,"
                         "\"amount\":%s}",
                         t % 2 ? "1767225600000" : "1767225600000.5", num);
        compare(&pp, buf, (size_t)n);
    }
    cr_assert_gt(pp.flat_ok, 20000, "accepted: %ld", pp.flat_ok);
    pair_free(&pp);
}

static uint64_t rng_next(uint64_t *s)
{
    return kst_xorshift(s);
}

/* One random edit of e[0..n) into out; returns the new length. */
static size_t mutate(const char *e, size_t n, uint64_t *s, char *out, size_t cap)
{
    static const char *const inserts[] = {
        "\\u0041", "\\\"",   "\\n",     " ",      "\t",     "{\"k\":1}", "[1]",   "1e5",  "-0.5",
        "true",    "false",  "null",    "nul",    "\"x\"",  ",",         ":",     "}",    "{",
        "é",       "\"a\":", "\"ts\":", "1E+2",   "0.0000005", "00",     "9999999999999999999999",
        "\xEF\xBB\xBF", "\"type\":\"signup\",", "\"amount\":1,", "\"amount\":\"1\",",
    };
    size_t at = n ? (size_t)(rng_next(s) % n) : 0, o = 0;
    switch (rng_next(s) % 4) {
    case 0: { /* insert a token */
        const char *t = inserts[rng_next(s) % (sizeof inserts / sizeof inserts[0])];
        size_t tl = strlen(t);
        if (n + tl >= cap)
            return 0;
        memcpy(out, e, at);
        memcpy(out + at, t, tl);
        memcpy(out + at + tl, e + at, n - at);
        return n + tl;
    }
    case 1: /* delete a run */
        o = at;
        memcpy(out, e, at);
        at += 1 + rng_next(s) % 4;
        if (at > n)
            at = n;
        memcpy(out + o, e + at, n - at);
        return o + n - at;
    case 2: /* replace one byte with a JSON-ish one */
        memcpy(out, e, n);
        out[at] = "\"{}[],:0123456789eE.-+ \\tfnu\x7f"[rng_next(s) % 30];
        return n;
    default: /* cut the message short */
        memcpy(out, e, at);
        return at;
    }
}

static void generated(uint64_t seed, int population, long mutants_per_event)
{
    ks_gen_opts o;
    ks_gen_opts_init(&o);
    o.seed = seed;
    o.customers = 300;
    o.days = 20;
    o.population = population;
    o.dup_fraction = 0.02;
    ks_gen *g = ks_gen_new(&o);
    cr_assert_not_null(g);
    pair pp;
    pair_init(&pp);
    char ev[KS_GEN_MAX_EVENT], mut[KS_GEN_MAX_EVENT + 64];
    size_t len;
    const char *key;
    size_t keylen;
    int64_t ts;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    long events = 0;
    while (ks_gen_next(g, ev, sizeof ev, &len, &key, &keylen, &ts) == 1 && events < 20000) {
        events++;
        compare(&pp, ev, len);
        for (long m = 0; m < mutants_per_event; m++) {
            size_t ml = mutate(ev, len, &s, mut, sizeof mut);
            compare(&pp, mut, ml);
        }
    }
    cr_assert_gt(events, 1000);
    /* Most generated events are accepted (and so compared field by field). */
    cr_assert_gt(pp.flat_ok, events / 2, "%ld of %ld accepted", pp.flat_ok, pp.compared);
    ks_gen_free(g);
    pair_free(&pp);
}

/* A byte-at-a-time reference for ks__json_string_end: the index of the
 * closing quote of the string opening at b[i], or 0 (backslash, control
 * character, invalid UTF-8, unterminated). */
static size_t ref_string_end(const unsigned char *b, size_t n, size_t i)
{
    for (size_t j = i + 1; j < n;) {
        if (b[j] == '"')
            return j;
        if (b[j] == '\\' || b[j] < 0x20)
            return 0;
        if (b[j] < 0x80) {
            j++;
            continue;
        }
        size_t l = b[j] >= 0xF0 ? 4 : b[j] >= 0xE0 ? 3 : 2;
        if (j + l > n || !ks_utf8_valid((const char *)b + j, l))
            return 0;
        j += l;
    }
    return 0;
}

/* The skip to a string's next special byte reads 16 or 8 bytes at a time:
 * every special byte at every offset from the string's start, in buffers
 * that end at every offset after it, must be found where a byte loop finds
 * it. */
Test(flat, string_end_finds_each_special_byte_at_every_offset)
{
    static const unsigned char specials[][3] = {
        {'"', 0, 0},    {'\\', 0, 0}, {0x01, 0, 0},   {0x1F, 0, 0}, {0x00, 0, 0},
        {0x80, 0, 0},   {0xFF, 0, 0},   {0xC3, 0xA9, 0}, {0xE2, 0x82, 0xAC}, {0xC3, 0x28, 0},
        {0x7F, 0, 0},   {' ', 0, 0},
    };
    unsigned char buf[80];
    long checked = 0;
    for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
        size_t sl = specials[s][1] == 0 ? 1 : specials[s][2] == 0 ? 2 : 3;
        for (size_t at = 1; at < 40; at++) {
            for (size_t tail = 0; tail < 24; tail++) {
                memset(buf, 'a', sizeof buf);
                buf[0] = '"';
                memcpy(buf + at, specials[s], sl);
                size_t n = at + sl + tail;
                if (tail > 0)
                    buf[n - 1] = '"'; /* a closing quote at the very end */
                size_t got = ks__json_string_end(buf, n, 0), want = ref_string_end(buf, n, 0);
                cr_assert_eq(got, want, "special %zu at %zu, length %zu: %zu, want %zu", s, at, n,
                             got, want);
                checked++;
            }
        }
    }
    cr_assert_gt(checked, 10000);
}

Test(flat, generated_events_and_mutants_agree_default_population)
{
    generated(3, KS_GEN_POP_DEFAULT, 6);
}

Test(flat, generated_events_and_mutants_agree_sparse_population)
{
    generated(17, KS_GEN_POP_SPARSE, 6);
}
