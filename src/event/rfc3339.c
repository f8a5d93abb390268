/* RFC 3339 date-time ("2026-11-23T10:00:00.250+01:00") to epoch milliseconds.
 *
 * Grammar accepted (RFC 3339 section 5.6):
 *   YYYY-MM-DD ("T" | "t" | " ") hh:mm:ss [ "." 1*DIGIT ] ( "Z" | "z" | ("+"|"-") hh:mm )
 * The offset is mandatory: a local time without one is ambiguous. Dates are
 * checked against the calendar (no Feb 30, Feb 29 only in leap years); second
 * 60 (a leap second) is accepted and, as in POSIX time, lands on the next
 * minute's second 0. Fractions beyond milliseconds are truncated. Days from
 * the civil date use Howard Hinnant's days_from_civil algorithm. */
#include "event/event_internal.h"

static bool ks__digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool ks__is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int ks__days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && ks__is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
static int64_t ks__days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool ks_parse_rfc3339(const char *s, size_t len, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec, ms = 0;
    /* "YYYY-MM-DDThh:mm:ss" is 19 bytes, the shortest offset ("Z") one more. */
    if (s == NULL || len < 20) return false;
    if (!ks__digits(s, 4, &y) || s[4] != '-' || !ks__digits(s + 5, 2, &mo) || s[7] != '-' ||
        !ks__digits(s + 8, 2, &d))
        return false;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return false;
    if (!ks__digits(s + 11, 2, &h) || s[13] != ':' || !ks__digits(s + 14, 2, &mi) || s[16] != ':' ||
        !ks__digits(s + 17, 2, &sec))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > ks__days_in_month(y, mo) || h > 23 || mi > 59 || sec > 60)
        return false;

    size_t i = 19;
    if (s[i] == '.') {
        i++;
        size_t start = i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 3) ms = ms * 10 + (s[i] - '0');
            i++;
        }
        size_t nd = i - start;
        if (nd == 0) return false;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    if (i >= len) return false;

    int off_min = 0;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        int oh, om;
        if (len - i < 6 || !ks__digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
            !ks__digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        off_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
        i += 6;
    } else {
        return false;
    }
    if (i != len) return false;

    int64_t days = ks__days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)off_min * 60;
    int64_t t = secs * 1000 + ms;
    if (t < KS__TS_MIN_MS || t > KS__TS_MAX_MS) return false;
    *out_ms = t;
    return true;
}
