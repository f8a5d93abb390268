/* UTF-8 validation: ks_utf8_valid() directly and through ks_event_parse(). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/event.h"

/* Copies into an exact-size heap buffer so ASan catches any read past len. */
static bool valid(const char *s, size_t n)
{
    char *b = calloc(1, n ? n : 1);
    memcpy(b, s, n);
    bool ok = ks_utf8_valid(b, n);
    free(b);
    return ok;
}
#define V(lit) valid(lit, sizeof(lit) - 1)

Test(utf8, ascii_and_empty)
{
    cr_assert(V(""));
    cr_assert(V("hello, world \x01\x7f"));
    cr_assert(V("0123456789abcdef0123456789abcdef"));
}

Test(utf8, boundaries_of_each_length_are_valid)
{
    cr_assert(V("\xC2\x80"));                 /* U+0080 */
    cr_assert(V("\xDF\xBF"));                 /* U+07FF */
    cr_assert(V("\xE0\xA0\x80"));             /* U+0800 */
    cr_assert(V("\xED\x9F\xBF"));             /* U+D7FF, last before surrogates */
    cr_assert(V("\xEE\x80\x80"));             /* U+E000, first after surrogates */
    cr_assert(V("\xEF\xBF\xBF"));             /* U+FFFF */
    cr_assert(V("\xF0\x90\x80\x80"));         /* U+10000 */
    cr_assert(V("\xF0\x9F\x98\x80"));         /* U+1F600 emoji */
    cr_assert(V("\xF4\x8F\xBF\xBF"));         /* U+10FFFF */
    cr_assert(V("caf\xC3\xA9 \xE2\x82\xAC")); /* "café €" */
}

Test(utf8, overlong_forms_are_invalid)
{
    cr_assert_not(V("\xC0\xAF")); /* '/' in 2 bytes */
    cr_assert_not(V("\xC1\xBF"));
    cr_assert_not(V("\xE0\x80\xAF"));     /* '/' in 3 bytes */
    cr_assert_not(V("\xE0\x9F\xBF"));     /* U+07FF in 3 bytes */
    cr_assert_not(V("\xF0\x80\x80\xAF")); /* '/' in 4 bytes */
    cr_assert_not(V("\xF0\x8F\xBF\xBF")); /* U+FFFF in 4 bytes */
}

Test(utf8, surrogates_are_invalid)
{
    cr_assert_not(V("\xED\xA0\x80"));             /* U+D800 */
    cr_assert_not(V("\xED\xAF\xBF"));             /* U+DBFF */
    cr_assert_not(V("\xED\xB0\x80"));             /* U+DC00 */
    cr_assert_not(V("\xED\xBF\xBF"));             /* U+DFFF */
    cr_assert_not(V("\xED\xA0\xBD\xED\xB8\x80")); /* CESU-8 pair */
}

Test(utf8, above_u10ffff_and_bad_lead_bytes_are_invalid)
{
    cr_assert_not(V("\xF4\x90\x80\x80")); /* U+110000 */
    cr_assert_not(V("\xF5\x80\x80\x80"));
    cr_assert_not(V("\xF8\x88\x80\x80\x80"));
    cr_assert_not(V("\xFE"));
    cr_assert_not(V("\xFF"));
    cr_assert_not(V("\x80")); /* lone continuation */
    cr_assert_not(V("a\xBF"
                    "b"));
}

Test(utf8, truncated_sequences_are_invalid)
{
    cr_assert_not(V("\xC3"));
    cr_assert_not(V("\xE2\x82"));
    cr_assert_not(V("\xF0\x9F\x98"));
    cr_assert_not(V("\xE2\x28\xA1")); /* second byte not a continuation */
    cr_assert_not(V("\xF0\x9F"
                    "ab"));
    cr_assert_not(V("abc\xC3"));
}

Test(utf8, error_after_long_ascii_run_is_found)
{
    /* Exercises the eight-bytes-at-a-time path before the bad byte. */
    char buf[100];
    memset(buf, 'a', sizeof(buf));
    for (size_t at = 0; at < sizeof(buf); at++) {
        buf[at] = (char)0xC0;
        cr_assert_not(valid(buf, sizeof(buf)), "bad byte at %zu missed", at);
        buf[at] = 'a';
    }
    cr_assert(valid(buf, sizeof(buf)));
}

static const char *reason_of(const char *json, size_t n)
{
    static char out[64];
    ks_event_parser *p = ks_event_parser_new(4096);
    char *b = malloc(n ? n : 1);
    memcpy(b, json, n);
    ks_event ev;
    ks_reject why;
    bool ok = ks_event_parse(p, b, n, &ev, &why);
    free(b);
    if (ok)
        snprintf(out, sizeof(out), "accepted");
    else
        ks_reject_format(&why, out, sizeof(out));
    ks_event_parser_free(p);
    return out;
}
#define R(lit) reason_of(lit, sizeof(lit) - 1)

#define HEAD "{\"event_id\":\"e1\",\"type\":\"signup\",\"ts\":1700000000000,\"customer_id\":"

Test(utf8_parse, valid_four_byte_character_in_a_field_is_kept)
{
    ks_event_parser *p = ks_event_parser_new(4096);
    const char msg[] = HEAD "\"\xF0\x9F\x98\x80-x\"}";
    ks_event ev;
    ks_reject why;
    cr_assert(ks_event_parse(p, msg, sizeof(msg) - 1, &ev, &why));
    cr_assert_eq(ev.customer_id.len, 6);
    cr_assert_eq(memcmp(ev.customer_id.ptr, "\xF0\x9F\x98\x80-x", 6), 0);
    ks_event_parser_free(p);
}

Test(utf8_parse, invalid_utf8_is_rejected_as_bad_utf8)
{
    cr_assert_str_eq(R(HEAD "\"\xC0\xAF\"}"), "bad_utf8");
    cr_assert_str_eq(R(HEAD "\"\xE0\x80\xAF\"}"), "bad_utf8");
    cr_assert_str_eq(R(HEAD "\"\xED\xA0\x80\"}"), "bad_utf8");
    cr_assert_str_eq(R(HEAD "\"\xF4\x90\x80\x80\"}"), "bad_utf8");
    cr_assert_str_eq(R(HEAD "\"ab\xE2\x82\"}"), "bad_utf8");
    cr_assert_str_eq(R(HEAD "\"ab\"}\xE2\x82"), "bad_utf8"); /* truncated at the end */
    cr_assert_str_eq(R("\xFF{}"), "bad_utf8");               /* outside any string */
}

Test(utf8_parse, bad_utf8_wins_over_a_json_error_earlier_in_the_message)
{
    /* The JSON breaks at the first '}' but the UTF-8 breaks later: UTF-8 is
     * checked first, so the reason is bad_utf8. */
    cr_assert_str_eq(R("{\"a\":}, \"b\":\"\xC0\xAF\"}"), "bad_utf8");
    cr_assert_str_eq(R("{\"a\":\"x\x01y\", \"b\":\"\xED\xA0\x80\"}"), "bad_utf8");
    cr_assert_str_eq(R("{\"a\":}, \"b\":\"ok\"}"), "malformed_json");
}
