/* RFC 3339 timestamps: expected values come from timegm(), not from the code
 * under test. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kpistream/event.h"

static int64_t utc_ms(int y, int mo, int d, int h, int mi, int s, int ms)
{
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* Parses from an exact-size heap copy (not NUL-terminated) so ASan catches
 * any read past the end. */
static bool parse(const char *s, int64_t *out)
{
    size_t n = strlen(s);
    char *b = malloc(n ? n : 1);
    memcpy(b, s, n);
    bool ok = ks_parse_rfc3339(b, n, out);
    free(b);
    return ok;
}

static void ok_eq(const char *s, int64_t want)
{
    int64_t got = -1;
    cr_assert(parse(s, &got), "'%s' rejected", s);
    cr_assert_eq(got, want, "'%s': got %lld want %lld", s, (long long)got, (long long)want);
}

static void bad(const char *s)
{
    int64_t got = 12345;
    cr_assert_not(parse(s, &got), "'%s' accepted", s);
    cr_assert_eq(got, 12345, "'%s': output written on failure", s);
}

Test(rfc3339, utc_z)
{
    ok_eq("1970-01-01T00:00:00Z", 0);
    ok_eq("2026-11-23T10:00:00Z", utc_ms(2026, 11, 23, 10, 0, 0, 0));
    ok_eq("2026-11-23t10:00:00z", utc_ms(2026, 11, 23, 10, 0, 0, 0));
    ok_eq("2026-11-23 10:00:00Z", utc_ms(2026, 11, 23, 10, 0, 0, 0));
}

Test(rfc3339, positive_and_negative_offsets)
{
    ok_eq("2026-11-23T10:00:00+01:00", utc_ms(2026, 11, 23, 9, 0, 0, 0));
    ok_eq("2026-11-23T10:00:00-05:30", utc_ms(2026, 11, 23, 15, 30, 0, 0));
    ok_eq("2026-11-23T10:00:00+00:00", utc_ms(2026, 11, 23, 10, 0, 0, 0));
    ok_eq("2026-11-23T10:00:00-00:00", utc_ms(2026, 11, 23, 10, 0, 0, 0));
    ok_eq("2026-12-31T23:30:00-01:00", utc_ms(2027, 1, 1, 0, 30, 0, 0)); /* crosses a year */
    ok_eq("2026-03-01T00:30:00+01:00", utc_ms(2026, 2, 28, 23, 30, 0, 0));
}

Test(rfc3339, fractional_seconds)
{
    ok_eq("2026-11-23T10:00:00.250+01:00", utc_ms(2026, 11, 23, 9, 0, 0, 250));
    ok_eq("2026-11-23T10:00:00.5Z", utc_ms(2026, 11, 23, 10, 0, 0, 500));
    ok_eq("2026-11-23T10:00:00.05Z", utc_ms(2026, 11, 23, 10, 0, 0, 50));
    ok_eq("2026-11-23T10:00:00.123456789Z", utc_ms(2026, 11, 23, 10, 0, 0, 123)); /* truncated */
    ok_eq("2026-11-23T10:00:00.999999Z", utc_ms(2026, 11, 23, 10, 0, 0, 999));
    bad("2026-11-23T10:00:00.Z");
    bad("2026-11-23T10:00:00,5Z");
}

Test(rfc3339, calendar_is_checked)
{
    ok_eq("2024-02-29T12:00:00Z", utc_ms(2024, 2, 29, 12, 0, 0, 0));
    ok_eq("2000-02-29T00:00:00Z", utc_ms(2000, 2, 29, 0, 0, 0, 0));
    bad("2023-02-29T12:00:00Z");
    bad("1900-02-29T12:00:00Z");
    bad("2026-02-30T00:00:00Z");
    bad("2026-04-31T00:00:00Z");
    bad("2026-13-01T00:00:00Z");
    bad("2026-00-10T00:00:00Z");
    bad("2026-01-00T00:00:00Z");
    bad("2026-01-01T24:00:00Z");
    bad("2026-01-01T23:60:00Z");
    bad("2026-01-01T23:59:61Z");
    bad("2026-01-01T10:00:00+24:00");
    bad("2026-01-01T10:00:00+01:60");
}

Test(rfc3339, leap_second_lands_on_the_next_minute)
{
    ok_eq("2016-12-31T23:59:60Z", utc_ms(2017, 1, 1, 0, 0, 0, 0));
}

Test(rfc3339, offset_is_mandatory_and_syntax_is_exact)
{
    bad("2026-11-23T10:00:00");
    bad("2026-11-23T10:00:00.250");
    bad("2026-11-23");
    bad("2026-11-23T10:00Z");
    bad("2026-11-23T10:00:00+0100");
    bad("2026-11-23T10:00:00+01");
    bad("2026-11-23T10:00:00+1:00");
    bad("2026-11-23T10:00:00Zjunk");
    bad("2026-11-23T10:00:00Z ");
    bad(" 2026-11-23T10:00:00Z");
    bad("2026-11-23X10:00:00Z");
    bad("26-11-23T10:00:00Z");
    bad("2026-1-23T10:00:00Z");
    bad("2026/11/23T10:00:00Z");
    bad("");
    bad("not a time");
}

Test(rfc3339, range_is_1970_to_9999)
{
    bad("1969-12-31T23:59:59Z");
    ok_eq("1969-12-31T23:00:00-02:00", 3600 * 1000);
    ok_eq("9999-12-31T23:59:59.999Z", utc_ms(9999, 12, 31, 23, 59, 59, 999));
    bad("9999-12-31T23:59:59.999-00:01");
}

Test(rfc3339, length_bounds_the_input)
{
    int64_t got = 0;
    const char s[] = "2026-11-23T10:00:00Zjunk";
    cr_assert(ks_parse_rfc3339(s, 20, &got));
    cr_assert_eq(got, utc_ms(2026, 11, 23, 10, 0, 0, 0));
    cr_assert_not(ks_parse_rfc3339(s, 19, &got));
}
