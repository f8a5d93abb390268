/* Durations as written in config files and flags: "<digits><unit>", unit one of
 * ms, s, m, h, d, or bare digits meaning milliseconds. Deliberately strict (no
 * sign, spaces, fractions or upper case) so that a typo is an error rather than
 * a silently different window. */
#include "kpistream/config.h"
#include "kpistream/err.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *unit;
    int64_t ms;
} ks__units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};

int ks_duration_parse(const char *s, int64_t *out_ms)
{
    if (!s || *s < '0' || *s > '9') return KS_ERR_PARSE;
    uint64_t n = 0;
    bool overflow = false;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        uint64_t d = (uint64_t)(*p - '0');
        if (n > (UINT64_MAX - d) / 10)
            overflow = true; /* keep scanning so a bad unit still reads as a syntax error */
        else
            n = n * 10 + d;
    }
    int64_t mult = 0;
    if (*p == '\0') {
        mult = 1;
    } else {
        for (size_t i = 0; i < sizeof ks__units / sizeof ks__units[0]; i++) {
            if (strcmp(p, ks__units[i].unit) == 0) {
                mult = ks__units[i].ms;
                break;
            }
        }
    }
    if (mult == 0) return KS_ERR_PARSE;
    if (overflow || n > (uint64_t)(INT64_MAX / mult)) return KS_ERR_RANGE;
    *out_ms = (int64_t)n * mult;
    return 0;
}

char *ks_duration_format(int64_t ms, char *buf, size_t n)
{
    if (n == 0) return buf;
    if (ms != 0) {
        for (size_t i = 0; i < sizeof ks__units / sizeof ks__units[0]; i++) {
            if (ms % ks__units[i].ms == 0) {
                snprintf(buf, n, "%lld%s", (long long)(ms / ks__units[i].ms), ks__units[i].unit);
                return buf;
            }
        }
    }
    snprintf(buf, n, "%lldms", (long long)ms);
    return buf;
}
