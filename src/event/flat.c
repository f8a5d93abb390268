/* The flat fast path: a message that is one JSON object whose members are
 * all scalars, with no backslash anywhere, read straight into the nodes
 * cJSON itself would build for the fields ks_event_parse reads.
 *
 * Nearly every event is such an object (a dozen string and number members),
 * and cJSON_ParseWithLengthOpts was a third of the engine's instructions on
 * it: a node and a string buffer per value from the allocator hooks, a byte
 * loop per string, its own number scanner. Here the message is copied once
 * into the parser's arena, each string ends in place (its closing quote
 * becomes the NUL), and each known field's first value goes into a node of
 * the caller's array; there is no tree: the member count and the first name
 * seen twice are counted here, for the member rules ks__members applies to
 * cJSON's tree (building and walking one was 13 % of the parse). Every
 * rule after that (validation, amounts) is unchanged and reads the same
 * nodes.
 *
 * It runs first, in place of the prescan: on everything it accepts it makes
 * the prescan's checks itself (each string valid UTF-8 without raw control
 * characters, ks__json_string_end; each number of RFC 8259's grammar,
 * ks__json_number_len; only ASCII structure outside them), so a message it
 * reads is one the prescan passes, at depth 1 and without \u0000; the
 * prescan was a tenth of the engine's instructions. It gives up, returning
 * false so that the prescan and cJSON handle the message as before (and
 * their verdict stands), on anything it does not handle exactly as cJSON
 * would: a byte order mark, a nested object or array, a backslash (escapes,
 * and so \u0000), a control character or invalid UTF-8 in a string, a
 * number of 64 characters or more (cJSON versions differ on those) or
 * outside the grammar, a word other than true/false/null, or any token out
 * of place. tests/unit/test_event_flat.c and tests/fuzz/fuzz_event.c check
 * that both ways agree on every input. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event/event_internal.h"

static bool ks__flat_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static size_t ks__flat_skip_ws(const unsigned char *b, size_t n, size_t i)
{
    while (i < n && ks__flat_ws(b[i]))
        i++;
    return i;
}

/* The string whose opening quote is at b[i] (c is b's copy): ends it in
 * place in c and returns the index after its closing quote, or 0 if it
 * holds a backslash or a control character, is not valid UTF-8 or is
 * unterminated (the prescan then says which). */
static size_t ks__flat_string(char *c, const unsigned char *b, size_t n, size_t i)
{
    size_t end = ks__json_string_end(b, n, i);
    if (end == 0)
        return 0;
    c[end] = '\0';
    return end + 1;
}

/* Clinger's fast path: a token of at most 15 digits and no exponent is
 * m / 10^k with m and 10^k exact doubles (k <= 15), and one IEEE division
 * rounds correctly, so it is the double strtod returns. Timestamps and
 * amounts are such tokens; strtod took 5 % of the engine on them. */
static bool ks__flat_exact(const char *s, size_t n, double *out)
{
    static const double pow10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    size_t p = s[0] == '-' ? 1 : 0;
    uint64_t m = 0;
    int digits = 0, frac = -1;
    for (; p < n; p++) {
        if (s[p] == '.' && frac < 0) {
            frac = 0;
        } else if (s[p] >= '0' && s[p] <= '9' && digits < 15) {
            m = m * 10 + (uint64_t)(s[p] - '0');
            digits++;
            frac += frac >= 0;
        } else {
            return false; /* an exponent, or too many digits: strtod */
        }
    }
    if (digits == 0)
        return false;
    double d = (double)m;
    if (frac > 0)
        d /= pow10[frac];
    *out = s[0] == '-' ? -d : d;
    return true;
}

/* A number token at c[i], as cJSON reads it: strtod over the token (of the
 * prescan's grammar, checked here), valueint saturated like cJSON's. Returns
 * the index after it, or 0 to give up. */
static size_t ks__flat_number(char *c, const unsigned char *b, size_t n, size_t i, cJSON *it)
{
    /* The prescan's grammar (RFC 8259, nothing number-like after it). */
    size_t j = i + ks__json_number_len(b + i, n - i);
    if (j == i || j - i >= 64 || j >= n)
        return 0;
    double d;
    if (!ks__flat_exact(c + i, j - i, &d)) {
        char save = c[j];
        c[j] = '\0';
        char *end = NULL;
        d = strtod(c + i, &end);
        c[j] = save;
        if (end != c + j)
            return 0;
    }
    it->type = cJSON_Number;
    it->valuedouble = d;
    it->valueint = d >= INT_MAX ? INT_MAX : d <= (double)INT_MIN ? INT_MIN : (int)d;
    return j;
}

/* A scalar value at c[i] into it; returns the index after it, or 0. */
static size_t ks__flat_value(char *c, const unsigned char *b, size_t n, size_t i, cJSON *it)
{
    static const struct {
        const char *word;
        size_t len;
        int type;
    } words[] = {{"true", 4, cJSON_True}, {"false", 5, cJSON_False}, {"null", 4, cJSON_NULL}};
    unsigned char ch = (unsigned char)c[i];
    if (ch == '"') {
        size_t e = ks__flat_string(c, b, n, i);
        if (e == 0)
            return 0;
        it->type = cJSON_String;
        it->valuestring = c + i + 1;
        return e;
    }
    if (ch == '-' || (ch >= '0' && ch <= '9'))
        return ks__flat_number(c, b, n, i, it);
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        if (n - i >= words[w].len && memcmp(c + i, words[w].word, words[w].len) == 0) {
            it->type = words[w].type;
            return i + words[w].len; /* ("truex": the caller finds no ',' or '}') */
        }
    }
    return 0; /* '{', '[' or anything else: cJSON's */
}

bool ks__flat_parse(ks__arena *a, const unsigned char *b, size_t n, ks__flat *out)
{
    memset(out->f, 0, sizeof out->f);
    out->count = 0;
    out->dup = -1;
    if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF)
        return false;
    size_t i = ks__flat_skip_ws(b, n, 0);
    if (i >= n || b[i] != '{')
        return false;
    /* The copy the strings end in; one byte more keeps the last one's NUL
     * inside it whatever the message ends with. */
    char *c = ks__arena_alloc(a, n + 1);
    if (c == NULL)
        return false;
    memcpy(c, b, n);
    c[n] = '\0';
    i = ks__flat_skip_ws(b, n, i + 1);
    if (i < n && c[i] == '}')
        return ks__flat_skip_ws(b, n, i + 1) == n;
    for (;;) {
        if (i >= n || c[i] != '"')
            return false;
        size_t e = ks__flat_string(c, b, n, i);
        if (e == 0)
            return false;
        /* The name's slot, by its length and bytes: a name with a NUL
         * cannot get here (no backslash), so this is the C string's match. */
        int idx = ks__field_index_n(c + i + 1, e - 1 - (i + 1));
        const char *name = c + i + 1;
        i = ks__flat_skip_ws(b, n, e);
        if (i >= n || c[i] != ':')
            return false;
        i = ks__flat_skip_ws(b, n, i + 1);
        size_t v = i;
        /* A field's first member gets its node; any other member's value
         * is still read (and so checked) into a scratch one. */
        cJSON scratch, *it = &scratch;
        if (idx >= 0 && out->f[idx] == NULL)
            it = &out->node[idx];
        else if (idx >= 0 && out->dup < 0)
            out->dup = idx;
        memset(it, 0, sizeof *it);
        it->string = (char *)name;
        if (i >= n || (i = ks__flat_value(c, b, n, i, it)) == 0)
            return false;
        if (it != &scratch) {
            out->f[idx] = it;
            out->num_off[idx] = v;
            out->num_len[idx] = it->type == cJSON_Number ? i - v : 0;
        }
        out->count++;
        i = ks__flat_skip_ws(b, n, i);
        if (i < n && c[i] == ',') {
            i = ks__flat_skip_ws(b, n, i + 1);
            continue;
        }
        if (i < n && c[i] == '}') {
            i++;
            break;
        }
        return false;
    }
    /* Only whitespace may follow; anything else is cJSON's to report. */
    return ks__flat_skip_ws(b, n, i) == n;
}
