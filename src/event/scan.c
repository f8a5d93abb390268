/* UTF-8 validation and the JSON strictness pass that runs before cJSON.
 *
 * UTF-8 follows the Unicode well-formed byte sequences table (Unicode 15,
 * table 3-7), which rules out overlong forms, UTF-16 surrogates (U+D800..DFFF)
 * and code points above U+10FFFF by restricting the second byte:
 *
 *   U+0000..007F     00..7F
 *   U+0080..07FF     C2..DF 80..BF
 *   U+0800..0FFF     E0     A0..BF 80..BF
 *   U+1000..CFFF     E1..EC 80..BF 80..BF
 *   U+D000..D7FF     ED     80..9F 80..BF
 *   U+E000..FFFF     EE..EF 80..BF 80..BF
 *   U+10000..3FFFF   F0     90..BF 80..BF 80..BF
 *   U+40000..FFFFF   F1..F3 80..BF 80..BF 80..BF
 *   U+100000..10FFFF F4     80..8F 80..BF 80..BF
 *
 * The JSON pass tracks only "inside a string or not" and the bracket depth;
 * whether brackets match, commas and literals are left to cJSON, which is
 * strict about them. */
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "event/event_internal.h"

/* Length of the valid multi-byte sequence starting at p (p[0] >= 0x80), or 0. */
static size_t ks__utf8_seq(const unsigned char *p, size_t rem)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (rem < len) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80) return 0;
    return len;
}

bool ks_utf8_valid(const char *buf, size_t len)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = 0;
    while (i < len) {
        /* ASCII fast path, eight bytes at a time. */
        while (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (w & UINT64_C(0x8080808080808080)) break;
            i += 8;
        }
        if (i >= len) break;
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = ks__utf8_seq(p + i, len - i);
        if (l == 0) return false;
        i += l;
    }
    return true;
}

/* Bytes that end the fast skip inside a string: quote, backslash, control
 * characters (must be escaped in JSON) and non-ASCII (must be valid UTF-8). */
static bool ks__str_special(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

/* Non-zero iff one of the eight bytes of w is ks__str_special(): the classic
 * "has a zero byte" / "has a byte less than n" bit tricks (exact as to
 * whether any byte matches, which is all that is used). */
static uint64_t ks__special_mask(uint64_t w)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), high = UINT64_C(0x8080808080808080);
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    uint64_t has_q = (q - ones) & ~q;
    uint64_t has_bs = (bs - ones) & ~bs;
    uint64_t has_ctl = (w - ones * 0x20) & ~w;
    return (has_q | has_bs | has_ctl | w) & high;
}

static bool ks__is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool ks__is_hex(unsigned char c)
{
    return ks__is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Length of the RFC 8259 number at p, or 0 if it is not one:
 *   -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
 * It must also not be followed by a byte cJSON would take as part of a number
 * ([0-9+-.eE]), so cJSON reads exactly the token validated here. */
size_t ks__json_number_len(const unsigned char *p, size_t n)
{
    size_t i = 0;
    if (i < n && p[i] == '-') i++;
    if (i >= n || !ks__is_digit(p[i])) return 0;
    if (p[i] == '0') {
        i++;
    } else {
        while (i < n && ks__is_digit(p[i]))
            i++;
    }
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n || !ks__is_digit(p[i])) return 0;
        while (i < n && ks__is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        if (i >= n || !ks__is_digit(p[i])) return 0;
        while (i < n && ks__is_digit(p[i]))
            i++;
    }
    if (i < n && (ks__is_digit(p[i]) || p[i] == '+' || p[i] == '-' || p[i] == '.' || p[i] == 'e' ||
                  p[i] == 'E'))
        return 0;
    return i;
}

/* Value of the four hex digits at p (already checked with ks__is_hex). */
static unsigned ks__hex4(const unsigned char *p)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        unsigned char c = p[k];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
}

static bool ks__is_u_escape(const unsigned char *p, size_t n)
{
    return n >= 6 && p[0] == '\\' && p[1] == 'u' && ks__is_hex(p[2]) && ks__is_hex(p[3]) &&
           ks__is_hex(p[4]) && ks__is_hex(p[5]);
}

/* Length of the escape sequence at p (p[0] == '\\'), or 0 if it is not a JSON
 * escape. Sets *nul for \u0000. A \u escape of a UTF-16 high surrogate
 * (D800-DBFF) must be followed at once by one of a low surrogate (DC00-DFFF):
 * the pair is one character and 12 bytes. A high surrogate without its low
 * half, or a low one alone, stands for no character: it sets *lone (and
 * counts as a 6-byte escape). */
static size_t ks__escape_len(const unsigned char *p, size_t n, bool *nul, bool *lone)
{
    if (n < 2) return 0;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return 2;
    case 'u': {
        if (!ks__is_u_escape(p, n)) return 0;
        unsigned v = ks__hex4(p + 2);
        if (v == 0) *nul = true;
        if (v >= 0xDC00 && v <= 0xDFFF) {
            *lone = true;
        } else if (v >= 0xD800 && v <= 0xDBFF) {
            if (ks__is_u_escape(p + 6, n - 6)) {
                unsigned lo = ks__hex4(p + 8);
                if (lo >= 0xDC00 && lo <= 0xDFFF) return 12;
            }
            *lone = true;
        }
        return 6;
    }
    default:
        return 0;
    }
}

/* Index of the first ks__str_special() byte at or after b[i] inside a
 * string, or n: sixteen bytes at a time with SSE2 (x86-64 always has it;
 * most strings of an event are shorter, so one step finds the closing quote
 * where the eight-byte loop took two or three), else eight at a time while
 * none is special, then byte by byte to find the one that is. */
static size_t ks__str_skip(const unsigned char *b, size_t n, size_t i)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    while (i + 16 <= n) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        /* Signed: bytes >= 0x80 are negative, so below 0x20 too. */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        unsigned bits = (unsigned)_mm_movemask_epi8(m);
        if (bits != 0)
            return i + (size_t)__builtin_ctz(bits);
        i += 16;
    }
#endif
    while (i + 8 <= n) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        uint64_t m = ks__special_mask(w);
        if (m != 0) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* The lowest flagged byte is always a true match (false
             * positives only sit above a true one). */
            i += (size_t)__builtin_ctzll(m) >> 3;
#endif
            break;
        }
        i += 8;
    }
    while (i < n && !ks__str_special(b[i]))
        i++;
    return i;
}

size_t ks__json_string_end(const unsigned char *b, size_t n, size_t i)
{
    size_t j = i + 1;
    for (;;) {
        j = ks__str_skip(b, n, j);
        if (j >= n)
            return 0; /* unterminated */
        if (b[j] == '"')
            return j;
        if (b[j] < 0x80)
            return 0; /* a backslash or a control character */
        size_t l = ks__utf8_seq(b + j, n - j);
        if (l == 0)
            return 0;
        j += l;
    }
}

ks_reject_code ks__json_prescan(const unsigned char *b, size_t n, ks__prescan *out)
{
    size_t i = 0, depth = 0, max_depth = 0;
    bool in_str = false, has_nul = false;
    /* RFC 8259 lets parsers ignore a leading byte order mark; cJSON does. */
    if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) i = 3;
    while (i < n) {
        if (in_str) {
            i = ks__str_skip(b, n, i);
            if (i >= n) break;
            unsigned char c = b[i];
            if (c == '"') {
                in_str = false;
                i++;
            } else if (c == '\\') {
                bool lone = false;
                size_t l = ks__escape_len(b + i, n - i, &has_nul, &lone);
                if (l == 0) goto bad_json;
                /* A string that cannot be written in UTF-8: an encoding error
                 * of the producer, like a raw surrogate (ED A0 80). */
                if (lone) return KS_REJECT_BAD_UTF8;
                i += l;
            } else if (c < 0x20) {
                goto bad_json;
            } else {
                size_t l = ks__utf8_seq(b + i, n - i);
                if (l == 0) return KS_REJECT_BAD_UTF8;
                i += l;
            }
            continue;
        }
        unsigned char c = b[i];
        switch (c) {
        case ' ':
        case '\t':
        case '\n':
        case '\r':
        case ':':
        case ',':
            i++;
            break;
        case '{':
        case '[':
            /* Depth only: whether the brackets match is cJSON's to check. */
            if (++depth > max_depth) max_depth = depth;
            i++;
            break;
        case '}':
        case ']':
            if (depth > 0) depth--;
            i++;
            break;
        case '"':
            in_str = true;
            i++;
            break;
        case '-':
        case '0':
        case '1':
        case '2':
        case '3':
        case '4':
        case '5':
        case '6':
        case '7':
        case '8':
        case '9': {
            size_t l = ks__json_number_len(b + i, n - i);
            if (l == 0) goto bad_json;
            i += l;
            break;
        }
        default:
            /* Letters of true/false/null; cJSON checks the words. */
            if (c >= 'a' && c <= 'z') {
                i++;
                break;
            }
            goto bad_json;
        }
    }
    if (in_str) goto bad_json;
    out->has_nul = has_nul;
    out->max_depth = max_depth;
    return KS_REJECT_NONE;

bad_json:
    /* A UTF-8 error anywhere takes precedence over a JSON error. */
    return ks_utf8_valid((const char *)b + i, n - i) ? KS_REJECT_MALFORMED_JSON
                                                     : KS_REJECT_BAD_UTF8;
}

/* Skips the string starting at b[i] == '"'; returns the index after the
 * closing quote and ors \u0000 escapes into *nul. Input is known-valid JSON. */
static size_t ks__skip_string(const unsigned char *b, size_t n, size_t i, bool *nul)
{
    i++;
    while (i < n && b[i] != '"') {
        if (b[i] == '\\') {
            bool lone = false;
            size_t l = ks__escape_len(b + i, n - i, nul, &lone);
            i += l > 0 ? l : 1;
        } else {
            i++;
        }
    }
    return i < n ? i + 1 : n;
}

static size_t ks__skip_ws(const unsigned char *b, size_t n, size_t i)
{
    while (i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'))
        i++;
    return i;
}

/* One member of the top-level object, as ks__member_read finds it. */
typedef struct ks__member {
    size_t off, len; /* the value's span, surrounding whitespace excluded */
    bool key_nul;    /* a \u0000 escape in the key ... */
    bool val_nul;    /* ... in the value */
} ks__member;

/* Returns the index after the top-level object's '{' (a UTF-8 BOM and
 * whitespace before it skipped), or 0 if b does not open with an object. */
static size_t ks__root_open(const unsigned char *b, size_t n)
{
    size_t i = 0;
    if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) i = 3;
    i = ks__skip_ws(b, n, i);
    return i < n && b[i] == '{' ? i + 1 : 0;
}

/* Reads the member that starts at b[*i] (after the '{' or the previous
 * member's ','): key, ':', and the value up to the ',' or '}' that ends it,
 * where *i is left. Returns false if no member starts there. Input is
 * known-valid JSON: the value is skipped by its strings and nesting only. */
static bool ks__member_read(const unsigned char *b, size_t n, size_t *i, ks__member *m)
{
    size_t j = ks__skip_ws(b, n, *i);
    if (j >= n || b[j] != '"') return false;
    m->key_nul = m->val_nul = false;
    j = ks__skip_string(b, n, j, &m->key_nul);
    j = ks__skip_ws(b, n, j);
    if (j >= n || b[j] != ':') return false;
    j = ks__skip_ws(b, n, j + 1);
    size_t last = j; /* after the value's last non-space byte */
    m->off = j;
    int depth = 0;
    while (j < n) {
        unsigned char c = b[j];
        if (c == '"') {
            j = ks__skip_string(b, n, j, &m->val_nul);
            last = j;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) break;
            depth--;
        } else if (c == ',' && depth == 0) {
            break;
        }
        j++;
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') last = j;
    }
    m->len = last - m->off;
    *i = j;
    return true;
}

bool ks__json_nul_member(const unsigned char *b, size_t n, size_t *ordinal, bool *in_key)
{
    size_t i = ks__root_open(b, n);
    ks__member m;
    for (size_t k = 0; i && ks__member_read(b, n, &i, &m); k++) {
        if (m.key_nul || m.val_nul) {
            /* Only the position: the caller names the member from the parsed
             * tree, so no byte of the message ends up in a reason. */
            *ordinal = k;
            *in_key = m.key_nul;
            return true;
        }
        if (i >= n || b[i] != ',') return false;
        i++;
    }
    return false;
}

bool ks__json_member_value(const unsigned char *b, size_t n, size_t ordinal, size_t *off,
                           size_t *len)
{
    size_t i = ks__root_open(b, n);
    ks__member m;
    for (size_t k = 0; i && ks__member_read(b, n, &i, &m); k++) {
        if (k == ordinal) {
            *off = m.off;
            *len = m.len;
            return true;
        }
        if (i >= n || b[i] != ',') return false;
        i++;
    }
    return false;
}
