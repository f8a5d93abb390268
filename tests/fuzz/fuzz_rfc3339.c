/* libFuzzer target: RFC 3339 timestamps (ks_parse_rfc3339, src/event/rfc3339.c).
 *
 * Invariants for any input (not NUL-terminated: libFuzzer's buffer is exactly
 * the input, so ASan sees a read past its end):
 *  - on failure *out_ms is untouched;
 *  - on success the time is within 1970-01-01 .. 9999-12-31T23:59:59.999Z;
 *  - differential: an accepted string's fields, read here by position and
 *    converted with the C library's timegm(), give the same milliseconds
 *    (date, time, truncated fraction, offset sign and size; second 60 lands
 *    on the next minute, as timegm() normalises it);
 *  - round trip: the result printed as "YYYY-MM-DDThh:mm:ss.mmmZ" parses back
 *    to the same value. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kpistream/event.h"

static int num(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') abort(); /* accepted, so these must be digits */
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int64_t reference_ms(const char *s, size_t len)
{
    if (len < 20) abort();
    if (s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':') abort();
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') abort();
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = num(s, 4) - 1900;
    tm.tm_mon = num(s + 5, 2) - 1;
    tm.tm_mday = num(s + 8, 2);
    tm.tm_hour = num(s + 11, 2);
    tm.tm_min = num(s + 14, 2);
    tm.tm_sec = num(s + 17, 2);
    size_t i = 19;
    int64_t frac = 0;
    if (s[i] == '.') {
        i++;
        int nd = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (nd < 3) frac = frac * 10 + (s[i] - '0');
            nd++;
            i++;
        }
        if (nd == 0) abort();
        for (; nd < 3; nd++)
            frac *= 10;
    }
    int64_t off_min = 0;
    if (i >= len) abort();
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        if (len - i != 6 || s[i + 3] != ':') abort();
        off_min = num(s + i + 1, 2) * 60 + num(s + i + 4, 2);
        if (s[i] == '-') off_min = -off_min;
        i += 6;
    } else {
        abort();
    }
    if (i != len) abort();
    time_t t = timegm(&tm);
    return (int64_t)t * 1000 + frac - off_min * 60000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    int64_t ms = INT64_C(-42);
    bool ok = ks_parse_rfc3339(s, size, &ms);
    if (!ok) {
        if (ms != INT64_C(-42)) abort();
        return 0;
    }
    if (ms < 0 || ms > INT64_C(253402300799999)) abort();
    if (reference_ms(s, size) != ms) abort();
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) abort();
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     (int)(ms % 1000));
    int64_t back = -1;
    if (!ks_parse_rfc3339(buf, (size_t)n, &back) || back != ms) abort();
    return 0;
}
