/* Amounts in micro-units, exactly, from the JSON number's own text.
 *
 * Money is summed in int64 micro-units (10^-6 of the unit). Converting the
 * binary double (llround(amount * 1e6)) misrounds decimal strings that sit on
 * or near a half micro-unit: 0.0000005 is stored as 4.99999999999999977e-07,
 * and 1.0000005 as 1.00000049999999998, so both rounded down. The text is
 * exact, so the conversion reads the digits instead:
 *
 *   text     = -? int (. frac)? ([eE] [+-]? exp)?          (RFC 8259, checked before)
 *   value    = D x 10^scale,  D = the digits of int and frac, scale = exp - |frac|
 *   micro    = D x 10^(scale + 6), rounded half up on the first dropped digit
 *              (the value is exact, so ">= half" is "first dropped digit >= 5")
 *
 * Negative values round half away from zero; the only negative amount that
 * passes validation is -0, which gives 0. */
#include <stdint.h>
#include <string.h>

#include "event/event_internal.h"

#define KS__MICRO_DIGITS 19 /* int64 holds every 18-digit number */

bool ks__decimal_micro(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < n && s[i] == '-') {
        neg = true;
        i++;
    }
    /* The significant digits (leading zeros dropped), at most what matters:
     * the integer part of the micro-units plus one rounding digit. */
    char dig[64];
    size_t nd = 0;         /* digits kept */
    int64_t dropped = 0;   /* significant digits beyond the buffer (all after the kept ones) */
    int64_t scale = 0;     /* value = digits x 10^scale */
    bool any = false, frac = false;
    for (; i < n; i++) {
        char c = s[i];
        if (c == '.' && !frac) {
            frac = true;
            continue;
        }
        if (c < '0' || c > '9')
            break;
        any = true;
        if (frac)
            scale--;
        if (nd == 0 && c == '0')
            continue;
        if (nd < sizeof dig)
            dig[nd++] = c;
        else
            dropped++;
    }
    if (!any)
        return false;
    int64_t exp = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        if (i >= n || s[i] < '0' || s[i] > '9')
            return false;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (exp < 100000)
                exp = exp * 10 + (s[i] - '0'); /* clamped: beyond, 0 or overflow anyway */
        if (eneg)
            exp = -exp;
    }
    if (i != n)
        return false;
    /* Digits dropped from the buffer are less significant than the kept ones:
     * they shift the scale of what is kept. */
    int64_t shift = scale + exp + dropped + 6; /* micro = kept digits x 10^shift */
    int64_t keep = (int64_t)nd + shift;       /* digits of the integer part of micro */
    if (nd == 0 || keep <= 0) {
        /* Below one micro-unit: 0, or 1 if the first digit is at the half. */
        int64_t m = (nd > 0 && keep == 0 && dig[0] >= '5') ? 1 : 0;
        *out = neg ? -m : m;
        return true;
    }
    if (keep > 18)
        return false; /* over 10^18 micro-units: not an amount validation lets through */
    int64_t m = 0;
    for (int64_t k = 0; k < keep; k++)
        m = m * 10 + (k < (int64_t)nd ? dig[k] - '0' : 0);
    if (keep < (int64_t)nd && dig[keep] >= '5')
        m++;
    *out = neg ? -m : m;
    return true;
}
