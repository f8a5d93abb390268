/* Per-customer rolling fields: exact sparse bucket lists in a pool.
 *
 * Each field follows the window rule of include/kpistream/window.h, with
 * buckets of b = W/60 seconds aligned on the epoch:
 *
 *   field                                          W     b
 *   interactions_7d                                7d    10080 s (2 h 48 min)
 *   interactions_28d                               28d   40320 s = 4 x 10080 s
 *   orders_30d, revenue_30d, complaints_30d,
 *   payment_failures_30d                           30d   43200 s (12 h)
 *   revenue_prev_30d (risk scoring only)           the 60 buckets of 43200 s before
 *
 * At clock c a field sums its buckets n with floor(c/b) - 60 < n <= floor(c/b),
 * as a group window does, so a customer's field is what a window of the group
 * KPIs holding only that customer's events would hold: exact at that
 * granularity, with no rounding and no saturation (counts and money sums in
 * 64 bits, money in micro-units). ks_customer_rolling_at also counts buckets
 * after floor(c/b) (events ahead of the clock: the values the hash settles
 * on); ks_customer_rolling_as_of does not.
 *
 * Two lists per customer, each exact at its width:
 *  - interactions per 10080 s bucket m; the 28-day field adds them up by
 *    40320 s bucket floor(m/4) (floor(floor(t/10080)/4) = floor(t/40320));
 *  - orders, revenue, complaints, payment failures per 43200 s bucket.
 * One width for all would have to divide 10080 and 43200: 1440 s, up to 7
 * times more interaction buckets for a daily-active customer.
 *
 * Layout. A customer's lists are one blob in the partition's pool (ks_roll);
 * the record holds its offset and length. Entries are newest first, so an
 * event of the newest bucket rewrites the first entry only.
 *
 *   blob   | len1 varint | interaction list (len1 bytes) | money list (the rest) |
 *   list   | newest bucket number, zigzag varint | entry | entry | ... |   (empty: no bytes)
 *   entry  | gap:4 x:4 | [gap varint] | [fields] |
 *     gap  bucket number minus the next older entry's (1..15 in the nibble,
 *          0: a varint follows); the oldest entry's gap is not used
 *     x    interactions: count - 1; 15: a varint (count - 16) follows
 *          money: mask of the fields that follow as varints: 1 orders,
 *          2 revenue, 4 complaints, 8 payment failures (0: an emptied bucket)
 *     revenue  zigzag(v / 10^k) << 3 | k, k = decimal trailing zeros of the
 *          micro-units v, at most 6 (whole cents: 2 bytes up to 10.23, 3 up
 *          to 1310.71); k = 7: a varint zigzag(v) follows
 *
 * A daily-active customer's interaction entry is one byte (gap and count
 * under 16); a purchase bucket 4-5 bytes. Blocks come in size classes of 8
 * per power of two (8, 9, ... 15, 16, 18, ... bytes; at most 12.5 % slack),
 * freed blocks go on a free list per class, and the pool is compacted when
 * free blocks exceed a quarter of the bytes in use.
 *
 * Retention. A list keeps the buckets some field can still reach from a
 * clock at most two buckets behind the customer's newest bucket (of either
 * list): interaction buckets whose 40320 s bucket is less than 62 behind the
 * newest's, money buckets less than 122 behind (60 for the 30 days, 60 for
 * the 30 before, 2 of slack: the engine reads a partition at most 12 hours,
 * KS_ENGINE_ALIGN_MS, ahead of its clock, less than two buckets). So an
 * interaction list holds at most 248 buckets and a money list 122, and
 * what is kept depends on the customer's events only.
 * The cut is made when an event moves the newest bucket far enough. A list
 * whose newest bucket is past retention at the clock minus the largest
 * window (no accepted event, so no risk evaluation, is older) is freed: the
 * lists of customers who went silent, without changing any value that can
 * still be asked for.
 *
 * Expiry. A customer is marked dirty (its hash rewritten) whenever one of
 * its buckets leaves the 7, 28 or 30-day window: bucket n of width b leaves
 * at (n + 60) x b. Each customer with lists has one live entry in a min-heap
 * keyed by the next such moment (or, when none is left, the moment its
 * lists can be freed), in units of 1440 s, which divides all three widths.
 * Moving the clock pops the due entries only: the cost follows the buckets
 * that leave, not the number of customers. An event never postpones the
 * next moment (its bucket only adds leave times); when it brings it forward
 * it pushes a new entry, and the stale one is skipped when popped (its key
 * differs from the record's roll_visit). */
#include "state/rolling.h"

#include "kpistream/bigalloc.h"
#include "kpistream/err.h"
#include "state/internal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define KS__B7 10080LL  /* 7d / 60 */
#define KS__B28 40320LL /* 28d / 60 = 4 x KS__B7 */
#define KS__B30 43200LL /* 30d / 60 */
#define KS__UNIT 1440LL /* heap key unit: divides every bucket width above */
#define KS__KEEP28 62   /* 40320 s buckets kept behind the newest (60 + 2 of slack) */
#define KS__KEEP30 122  /* 43200 s buckets kept behind the newest (120 + 2) */
#define KS__ENTRY_MAX 64 /* bytes an entry can take (a money entry: 1 + 10 + 4 x 11) */

static int64_t ks__fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int64_t ks__sadd(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

/* --- varints (LEB128) and zigzag --- */

static size_t ks__put_uv(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)v;
    return n;
}

/* A varint of two bytes or more (s[*i] >= 0x80). Two and three bytes are
 * unrolled: a list's newest bucket number (about 3.6e5 zigzagged) and most
 * revenues take that many, and the loop was a tenth of the lists' decoding. */
static uint64_t ks__get_uv_long(const uint8_t *s, size_t *i)
{
    const uint8_t *p = s + *i;
    uint64_t v = (uint64_t)(p[0] & 0x7F) | (uint64_t)(p[1] & 0x7F) << 7;
    if (!(p[1] & 0x80)) {
        *i += 2;
        return v;
    }
    v |= (uint64_t)(p[2] & 0x7F) << 14;
    if (!(p[2] & 0x80)) {
        *i += 3;
        return v;
    }
    size_t k = *i + 3;
    for (int sh = 21; sh < 64; sh += 7) {
        uint8_t b = s[k++];
        v |= (uint64_t)(b & 0x7F) << sh;
        if (!(b & 0x80))
            break;
    }
    *i = k;
    return v;
}

static inline uint64_t ks__get_uv(const uint8_t *s, size_t *i)
{
    uint8_t b = s[*i];
    if (b < 0x80) {
        (*i)++;
        return b;
    }
    return ks__get_uv_long(s, i);
}

static size_t ks__uv_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint64_t ks__zz(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t ks__unzz(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* --- entries --- */

typedef struct ks__money {
    uint64_t orders, complaints, failures;
    int64_t revenue; /* micro-units */
} ks__money;

static size_t ks__put_gap(uint8_t *o, uint64_t gap, unsigned x)
{
    if (gap >= 1 && gap <= 15) {
        o[0] = (uint8_t)(gap << 4 | x);
        return 1;
    }
    o[0] = (uint8_t)x;
    return 1 + ks__put_uv(o + 1, gap);
}

static inline uint64_t ks__get_gap(const uint8_t *s, size_t *i, unsigned *x)
{
    uint8_t b = s[(*i)++];
    *x = b & 15u;
    return (b >> 4) ? (uint64_t)(b >> 4) : ks__get_uv(s, i);
}

static size_t ks__put_inter(uint8_t *o, uint64_t gap, uint64_t count)
{
    if (count <= 15)
        return ks__put_gap(o, gap, (unsigned)(count - 1));
    size_t n = ks__put_gap(o, gap, 15);
    return n + ks__put_uv(o + n, count - 16);
}

static inline uint64_t ks__get_inter(const uint8_t *s, size_t *i, uint64_t *count)
{
    uint8_t b = s[*i];
    if ((b >> 4) && (b & 15u) != 15u) { /* the usual one-byte entry */
        (*i)++;
        *count = (b & 15u) + 1u;
        return b >> 4;
    }
    unsigned x;
    uint64_t gap = ks__get_gap(s, i, &x);
    *count = x < 15 ? x + 1u : 16 + ks__get_uv(s, i);
    return gap;
}

static const int64_t ks__pow10[7] = {1, 10, 100, 1000, 10000, 100000, 1000000};

static size_t ks__put_revenue(uint8_t *o, int64_t v)
{
    int k = 0;
    while (k < 6 && v % ks__pow10[k + 1] == 0)
        k++;
    uint64_t z = ks__zz(v / ks__pow10[k]);
    if (z >> 61) { /* would not fit beside k: raw */
        o[0] = 7;
        return 1 + ks__put_uv(o + 1, ks__zz(v));
    }
    return ks__put_uv(o, z << 3 | (uint64_t)k);
}

static inline int64_t ks__get_revenue(const uint8_t *s, size_t *i)
{
    uint64_t u = ks__get_uv(s, i);
    unsigned k = (unsigned)(u & 7);
    if (k == 7)
        return ks__unzz(ks__get_uv(s, i));
    return ks__unzz(u >> 3) * ks__pow10[k];
}

static size_t ks__put_money(uint8_t *o, uint64_t gap, const ks__money *m)
{
    unsigned mask = (m->orders ? 1u : 0) | (m->revenue ? 2u : 0) | (m->complaints ? 4u : 0) |
                    (m->failures ? 8u : 0);
    size_t n = ks__put_gap(o, gap, mask);
    if (mask & 1)
        n += ks__put_uv(o + n, m->orders);
    if (mask & 2)
        n += ks__put_revenue(o + n, m->revenue);
    if (mask & 4)
        n += ks__put_uv(o + n, m->complaints);
    if (mask & 8)
        n += ks__put_uv(o + n, m->failures);
    return n;
}

/* (Always inlined: the hot loop of ks__rolling.) */
__attribute__((always_inline)) static inline uint64_t ks__get_money(const uint8_t *s, size_t *i,
                                                                   ks__money *m)
{
    unsigned mask;
    uint64_t gap = ks__get_gap(s, i, &mask);
    memset(m, 0, sizeof *m);
    if (mask & 1)
        m->orders = ks__get_uv(s, i);
    if (mask & 2)
        m->revenue = ks__get_revenue(s, i);
    if (mask & 4)
        m->complaints = ks__get_uv(s, i);
    if (mask & 8)
        m->failures = ks__get_uv(s, i);
    return gap;
}

static inline void ks__skip_uv(const uint8_t *s, size_t *i)
{
    while (s[(*i)++] & 0x80)
        ;
}

/* Steps over a money entry without decoding its fields; returns its gap. */
static inline uint64_t ks__skip_money(const uint8_t *s, size_t *i)
{
    unsigned mask;
    uint64_t gap = ks__get_gap(s, i, &mask);
    if (mask & 1)
        ks__skip_uv(s, i);
    if (mask & 2) {
        if ((s[*i] & 7) == 7 && s[*i] < 0x80) /* the raw form: a second varint */
            (*i)++;
        ks__skip_uv(s, i);
    }
    if (mask & 4)
        ks__skip_uv(s, i);
    if (mask & 8)
        ks__skip_uv(s, i);
    return gap;
}

static void ks__money_add(ks__money *a, const ks__money *b)
{
    a->orders += b->orders;
    a->complaints += b->complaints;
    a->failures += b->failures;
    a->revenue = ks__sadd(a->revenue, b->revenue);
}

/* Reads the entry at s[*i] of a list of the given kind (0 interactions, 1
 * money) into *count or *m; returns its gap. */
static uint64_t ks__get_entry(int kind, const uint8_t *s, size_t *i, uint64_t *count, ks__money *m)
{
    return kind == 0 ? ks__get_inter(s, i, count) : ks__get_money(s, i, m);
}

static size_t ks__put_entry(int kind, uint8_t *o, uint64_t gap, uint64_t count, const ks__money *m)
{
    return kind == 0 ? ks__put_inter(o, gap, count) : ks__put_money(o, gap, m);
}

/* --- one list --- */

/* A customer's blob split in its two lists. */
typedef struct ks__blob {
    const uint8_t *list[2];
    size_t len[2];
} ks__blob;

static void ks__split(const ks_pstate *p, const ks_customer *c, ks__blob *b)
{
    memset(b, 0, sizeof *b);
    if (!c->roll_len)
        return;
    const uint8_t *s = p->roll.buf + c->roll_off;
    size_t i = 0;
    size_t len1 = (size_t)ks__get_uv(s, &i);
    b->list[0] = s + i;
    b->len[0] = len1;
    b->list[1] = s + i + len1;
    b->len[1] = c->roll_len - i - len1;
}

static int64_t ks__newest(const uint8_t *s, size_t len, size_t *i)
{
    *i = 0;
    return len ? ks__unzz(ks__get_uv(s, i)) : INT64_MIN;
}

/* Writes into o the list s (len bytes) with (count, *add) added at bucket n;
 * returns its length. o has room for len + 2 entries + a header. */
static size_t ks__list_add(int kind, const uint8_t *s, size_t len, int64_t n, uint64_t count,
                           const ks__money *add, uint8_t *o)
{
    size_t i, w;
    int64_t top = ks__newest(s, len, &i);
    if (!len || n > top) { /* a new newest bucket: a header and a first entry */
        w = ks__put_uv(o, ks__zz(n));
        w += ks__put_entry(kind, o + w, len ? (uint64_t)(n - top) : 1, count, add);
        if (len) {
            memcpy(o + w, s + i, len - i);
            w += len - i;
        }
        return w;
    }
    int64_t cur = top;
    while (i < len) {
        size_t at = i;
        uint64_t c0 = 0;
        ks__money m0 = {0, 0, 0, 0};
        uint64_t gap = ks__get_entry(kind, s, &i, &c0, &m0);
        bool last = i >= len;
        int64_t next = last ? INT64_MIN : cur - (int64_t)gap;
        if (cur != n && !last && next >= n) {
            cur = next;
            continue;
        }
        memcpy(o, s, at);
        w = at;
        if (cur == n) { /* the bucket exists: add to it */
            c0 += count;
            if (kind)
                ks__money_add(&m0, add);
            w += ks__put_entry(kind, o + w, gap, c0, &m0);
        } else { /* n lies between this entry and the next older one (or after the oldest) */
            w += ks__put_entry(kind, o + w, (uint64_t)(cur - n), c0, &m0);
            w += ks__put_entry(kind, o + w, last ? 1 : (uint64_t)(n - next), count, add);
        }
        memcpy(o + w, s + i, len - i);
        return w + len - i;
    }
    return 0; /* not reached: the loop ends at the oldest entry */
}

/* Writes the moments (seconds) bucket n of a list leaves each of its
 * windows into out; returns how many (the last is the latest). */
static int ks__leaves(int kind, int64_t n, int64_t *out)
{
    if (kind == 0) {
        out[0] = (n + 60) * KS__B7;
        out[1] = (ks__fdiv(n, 4) + 60) * KS__B28;
        return 2;
    }
    out[0] = (n + 60) * KS__B30;
    return 1;
}

/* When a list whose newest bucket is n can be freed: n is past retention
 * at the clock minus keep_s (the largest window). */
static int64_t ks__drop_at(int kind, int64_t n, int64_t keep_s)
{
    return kind == 0 ? (ks__fdiv(n, 4) + KS__KEEP28) * KS__B28 + keep_s
                     : (n + KS__KEEP30) * KS__B30 + keep_s;
}

/* The oldest bucket a list keeps for reference time ref_s is above this. */
static int64_t ks__keep_above(int kind, int64_t ref_s)
{
    if (ref_s == INT64_MIN)
        return INT64_MIN;
    return kind == 0 ? (ks__fdiv(ref_s, KS__B28) - KS__KEEP28) * 4 + 3
                     : ks__fdiv(ref_s, KS__B30) - KS__KEEP30;
}

/* Returns the bytes of list s to keep: up to its first bucket <= above. */
static size_t ks__cut(int kind, const uint8_t *s, size_t len, int64_t above)
{
    size_t i;
    int64_t n = ks__newest(s, len, &i);
    if (!len || n <= above)
        return 0;
    while (i < len) {
        size_t at = i;
        uint64_t count;
        ks__money m;
        uint64_t gap = ks__get_entry(kind, s, &i, &count, &m);
        if (n <= above)
            return at;
        n -= (int64_t)gap;
    }
    return len;
}

/* The oldest bucket of width b still in the window at clock t_s is above
 * this (INT64_MIN: no clock yet, every bucket is above). */
static int64_t ks__lo(int64_t t_s, int64_t b)
{
    return t_s == INT64_MIN ? INT64_MIN : ks__fdiv(t_s, b) - 60;
}

/* The same for the 28-day window, in 10080 s buckets. */
static int64_t ks__lo28(int64_t t_s)
{
    return t_s == INT64_MIN ? INT64_MIN : (ks__fdiv(t_s, KS__B28) - 60) * 4 + 3;
}

/* Walks list s for the clock's move from from_s to to_s: sets *left if a
 * bucket was in a window at from_s and is not at to_s, lowers *next to the
 * moment the oldest bucket still in a window at to_s leaves it. Stops at the
 * first bucket out of every window at from_s (older ones are too). */
static void ks__expiry(int kind, const uint8_t *s, size_t len, int64_t from_s, int64_t to_s,
                       bool *left, int64_t *next)
{
    size_t i;
    int64_t n = ks__newest(s, len, &i);
    int64_t oldest_a = INT64_MAX, oldest_b = INT64_MAX;
    if (kind == 0) {
        int64_t to7 = ks__lo(to_s, KS__B7), from7 = ks__lo(from_s, KS__B7);
        int64_t to28 = ks__lo28(to_s), from28 = ks__lo28(from_s);
        while (i < len) {
            uint64_t count;
            uint64_t gap = ks__get_inter(s, &i, &count);
            if (n > to7)
                oldest_a = n;
            else if (n > from7)
                *left = true;
            if (n > to28)
                oldest_b = n;
            else if (n > from28)
                *left = true;
            else
                break; /* out of the 28d window at from_s, so of the 7d one too */
            n -= (int64_t)gap;
        }
        if (oldest_a != INT64_MAX && (oldest_a + 60) * KS__B7 < *next)
            *next = (oldest_a + 60) * KS__B7;
        if (oldest_b != INT64_MAX && (ks__fdiv(oldest_b, 4) + 60) * KS__B28 < *next)
            *next = (ks__fdiv(oldest_b, 4) + 60) * KS__B28;
        return;
    }
    int64_t to30 = ks__lo(to_s, KS__B30), from30 = ks__lo(from_s, KS__B30);
    while (i < len) {
        uint64_t gap = ks__skip_money(s, &i);
        if (n > to30)
            oldest_a = n;
        else if (n > from30)
            *left = true;
        else
            break;
        n -= (int64_t)gap;
    }
    if (oldest_a != INT64_MAX && (oldest_a + 60) * KS__B30 < *next)
        *next = (oldest_a + 60) * KS__B30;
}

/* --- the pool --- */

static size_t ks__class_size(int cls)
{
    return (size_t)(8 + (cls & 7)) << (cls >> 3);
}

/* The smallest class holding len bytes (KS_ROLL_CLASSES: too large). */
static int ks__class_of(size_t len)
{
    if (len <= 8)
        return 0;
    int shift = 64 - __builtin_clzll((unsigned long long)len) - 4; /* len >> shift in 8..15 */
    size_t m = (len + ((size_t)1 << shift) - 1) >> shift;          /* 8..16 */
    if (m == 16) {
        m = 8;
        shift++;
    }
    int cls = shift * 8 + (int)(m - 8);
    return cls < KS_ROLL_CLASSES ? cls : KS_ROLL_CLASSES;
}

size_t ks__roll_block_size(size_t len)
{
    int cls = ks__class_of(len);
    return cls < KS_ROLL_CLASSES ? ks__class_size(cls) : 0;
}

static void ks__block_free(ks_roll *r, uint32_t off, size_t len)
{
    int cls = ks__class_of(len);
    memcpy(r->buf + off, &r->free_head[cls], sizeof(uint32_t));
    r->free_head[cls] = off + 1;
}

/* Returns the offset of a block for len bytes, or -1. May move r->buf. */
static int64_t ks__block_alloc(ks_roll *r, size_t len)
{
    int cls = ks__class_of(len);
    if (cls >= KS_ROLL_CLASSES)
        return -1;
    if (r->free_head[cls]) {
        uint32_t off = r->free_head[cls] - 1;
        memcpy(&r->free_head[cls], r->buf + off, sizeof(uint32_t));
        return off;
    }
    size_t size = ks__class_size(cls);
    if (r->len + size > UINT32_MAX)
        return -1;
    if (r->len + size > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + size)
            cap += cap / 4;
        uint8_t *nb = ks_big_realloc(r->buf, r->cap, cap);
        if (!nb)
            return -1;
        r->buf = nb;
        r->cap = cap;
    }
    int64_t off = (int64_t)r->len;
    r->len += size;
    return off;
}

static int ks__scratch(ks_roll *r, size_t need)
{
    if (need <= r->capscratch)
        return 0;
    size_t cap = r->capscratch ? r->capscratch : 1024;
    while (cap < need)
        cap *= 2;
    uint8_t *nb = realloc(r->scratch, cap);
    if (!nb)
        return -1;
    r->scratch = nb;
    r->capscratch = cap;
    return 0;
}

/* --- the expiry heap --- */

static void ks__heap_down(uint64_t *h, uint32_t n, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        if (l < n && h[l] < h[m])
            m = l;
        if (l + 1 < n && h[l + 1] < h[m])
            m = l + 1;
        if (m == i)
            return;
        uint64_t t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Rebuilds the heap from the records' roll_visit: drops stale entries. */
static void ks__heap_rebuild(ks_pstate *p)
{
    ks_roll *r = &p->roll;
    uint32_t n = 0;
    for (uint32_t rec = 0; rec < p->ncust && n < r->capheap; rec++)
        if (p->cust[rec].roll_visit)
            r->heap[n++] = (uint64_t)p->cust[rec].roll_visit << 32 | rec;
    r->nheap = n;
    for (uint32_t i = n / 2; i-- > 0;)
        ks__heap_down(r->heap, n, i);
}

static int ks__heap_push(ks_pstate *p, uint32_t key, uint32_t rec)
{
    ks_roll *r = &p->roll;
    if (r->nheap == r->capheap) {
        if (r->nheap > 2 * (uint64_t)p->ncust + 1024) {
            ks__heap_rebuild(p); /* mostly stale: entries pushed before an earlier visit */
        } else {
            uint32_t cap = r->capheap ? r->capheap + r->capheap / 2 : 1024;
            uint64_t *h = ks_big_realloc(r->heap, (size_t)r->capheap * sizeof *h,
                                         (size_t)cap * sizeof *h);
            if (!h)
                return -1;
            r->heap = h;
            r->capheap = cap;
        }
    }
    uint64_t v = (uint64_t)key << 32 | rec;
    uint32_t i = r->nheap++;
    while (i > 0 && r->heap[(i - 1) / 2] > v) {
        r->heap[i] = r->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    r->heap[i] = v;
    return 0;
}

static uint64_t ks__heap_pop(ks_roll *r)
{
    uint64_t top = r->heap[0];
    r->heap[0] = r->heap[--r->nheap];
    ks__heap_down(r->heap, r->nheap, 0);
    return top;
}

/* Heap key of moment t_s: the 1440 s unit at or after it; 0 is "none". */
static uint32_t ks__key(int64_t t_s)
{
    if (t_s == INT64_MAX)
        return 0;
    int64_t k = t_s <= 0 ? 1 : (t_s + KS__UNIT - 1) / KS__UNIT;
    return k > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)k;
}

/* Makes c's next look no later than t_s. */
static int ks__schedule(ks_pstate *p, ks_customer *c, int64_t t_s)
{
    uint32_t key = ks__key(t_s);
    if (!key || (c->roll_visit && c->roll_visit <= key))
        return 0;
    if (ks__heap_push(p, key, (uint32_t)(c - p->cust)) < 0)
        return -1;
    c->roll_visit = key;
    return 0;
}

/* --- storing a customer's lists --- */

static int64_t ks__largest_window_s(const ks_pstate *p)
{
    const ks_config *cfg = p->sh->cfg;
    return cfg->nwindows ? cfg->windows[cfg->nwindows - 1].length_ms / 1000 : 0;
}

/* Retention reference: the start of the customer's newest bucket (of
 * either list); INT64_MIN without buckets. */
static int64_t ks__ref_s(const uint8_t *const list[2], const size_t len[2])
{
    int64_t ref = INT64_MIN;
    for (int k = 0; k < 2; k++) {
        size_t i;
        int64_t n = ks__newest(list[k], len[k], &i);
        if (len[k] && n * (k == 0 ? KS__B7 : KS__B30) > ref)
            ref = n * (k == 0 ? KS__B7 : KS__B30);
    }
    return ref;
}

/* Writes lists (list[k], len[k]) as c's blob. The lists may point into the
 * pool or the scratch buffer's upper half; the blob is assembled in its
 * lower half first (the pool may move). Returns 0 or KS_ERR_NOMEM. */
static int ks__store(ks_pstate *p, ks_customer *c, const uint8_t *const list[2],
                     const size_t len[2])
{
    ks_roll *r = &p->roll;
    size_t total = len[0] || len[1] ? ks__uv_len(len[0]) + len[0] + len[1] : 0;
    uint8_t *o = r->scratch;
    if (total) {
        size_t w = ks__put_uv(o, len[0]);
        for (int k = 0; k < 2; k++)
            if (len[k]) {
                memmove(o + w, list[k], len[k]);
                w += len[k];
            }
    }
    int old_cls = c->roll_len ? ks__class_of(c->roll_len) : -1;
    int new_cls = total ? ks__class_of(total) : -1;
    if (old_cls != new_cls) {
        int64_t off = 0;
        if (total && (off = ks__block_alloc(r, total)) < 0)
            return KS_ERR_NOMEM;
        if (c->roll_len)
            ks__block_free(r, c->roll_off, c->roll_len);
        c->roll_off = (uint32_t)off;
    }
    r->used += total;
    r->used -= c->roll_len;
    c->roll_len = (uint32_t)total;
    if (total)
        memcpy(r->buf + c->roll_off, o, total);
    else
        c->roll_off = 0;
    return 0;
}

int ks__roll_add(ks_pstate *p, ks_customer *c, int64_t ts_ms, const ks_roll_delta *d)
{
    ks_roll *r = &p->roll;
    int64_t t_s = ts_ms / 1000; /* as the engine's windows */
    ks__money add = {(uint64_t)(d->orders > 0 ? d->orders : 0),
                     (uint64_t)(d->complaints > 0 ? d->complaints : 0),
                     (uint64_t)(d->payment_failures > 0 ? d->payment_failures : 0),
                     d->revenue_micro};
    int kind = d->interactions > 0 ? 0 : 1;
    if (kind == 1 && !add.orders && !add.complaints && !add.failures && !add.revenue)
        return 0;
    int64_t n = ks__fdiv(t_s, kind == 0 ? KS__B7 : KS__B30);
    ks__blob b;
    ks__split(p, c, &b);
    const uint8_t *list[2] = {b.list[0], b.list[1]};
    size_t len[2] = {b.len[0], b.len[1]};
    int64_t ref = ks__ref_s(list, len);
    if (n <= ks__keep_above(kind, ref))
        return 0; /* behind what the customer's lists keep: no field can count it */
    /* The upper half of the scratch buffer takes the edited list, the lower
     * half the blob assembled from both lists. */
    size_t half = (size_t)c->roll_len + 2 * KS__ENTRY_MAX + 16;
    if (ks__scratch(r, 2 * half) < 0)
        return KS_ERR_NOMEM;
    uint8_t *edited = r->scratch + half;
    len[kind] = ks__list_add(kind, b.list[kind], b.len[kind], n, (uint64_t)d->interactions, &add,
                             edited);
    list[kind] = edited;
    /* A newer newest bucket may push the other buckets past retention. */
    int64_t nref = ks__ref_s(list, len);
    for (int k = 0; k < 2; k++)
        if (ks__keep_above(k, nref) > ks__keep_above(k, ref))
            len[k] = ks__cut(k, list[k], len[k], ks__keep_above(k, nref));
    int rc = ks__store(p, c, list, len);
    if (rc < 0)
        return rc;
    /* The next look at this customer, if this bucket leaves sooner. */
    int64_t clock_s = p->clock_ms == INT64_MIN ? INT64_MIN : p->clock_ms / 1000;
    int64_t lv[2], when = INT64_MAX;
    int nl = ks__leaves(kind, n, lv);
    for (int j = 0; j < nl; j++)
        if ((clock_s == INT64_MIN || lv[j] > clock_s) && lv[j] < when)
            when = lv[j];
    if (when == INT64_MAX)
        when = ks__drop_at(kind, n, ks__largest_window_s(p));
    return ks__schedule(p, c, when) < 0 ? KS_ERR_NOMEM : 0;
}

/* The heap's look at c at clock to_s (previous clock from_s): dirty if a
 * bucket left a window since from_s; a list whose newest bucket no query
 * can reach any more at this clock is freed; the next look. */
static void ks__visit(ks_pstate *p, ks_customer *c, int64_t from_s, int64_t to_s)
{
    ks__blob b;
    ks__split(p, c, &b);
    const uint8_t *list[2] = {b.list[0], b.list[1]};
    size_t len[2] = {b.len[0], b.len[1]};
    int64_t keep_s = ks__largest_window_s(p);
    int64_t next = INT64_MAX;
    bool left = false, cut = false;
    for (int k = 0; k < 2; k++) {
        if (!len[k])
            continue;
        ks__expiry(k, list[k], len[k], from_s, to_s, &left, &next);
        size_t i;
        int64_t drop = ks__drop_at(k, ks__newest(list[k], len[k], &i), keep_s);
        if (drop <= to_s) {
            len[k] = 0;
            cut = true;
        } else if (drop < next) {
            next = drop;
        }
    }
    if (left)
        ks__mark_dirty(p, c);
    if (cut && (ks__scratch(&p->roll, (size_t)c->roll_len + 16) < 0 ||
                ks__store(p, c, list, len) < 0)) {
        ks__schedule(p, c, to_s + KS__UNIT); /* out of memory: look again later */
        return;
    }
    if (c->roll_len)
        ks__schedule(p, c, next);
}

/* Copies every customer's blob into a new pool, back to back: the free
 * blocks left behind by lists that grew or shrank across size classes go. */
static void ks__compact(ks_pstate *p)
{
    ks_roll *r = &p->roll;
    size_t need = 0;
    for (uint32_t i = 0; i < p->ncust; i++)
        if (p->cust[i].roll_len)
            need += ks__class_size(ks__class_of(p->cust[i].roll_len));
    size_t cap = need + need / 8 + 4096;
    uint8_t *nb = ks_big_alloc(cap);
    if (!nb)
        return; /* keep the fragmented pool */
    size_t off = 0;
    for (uint32_t i = 0; i < p->ncust; i++) {
        ks_customer *c = &p->cust[i];
        if (!c->roll_len)
            continue;
        memcpy(nb + off, r->buf + c->roll_off, c->roll_len);
        c->roll_off = (uint32_t)off;
        off += ks__class_size(ks__class_of(c->roll_len));
    }
    ks_big_free(r->buf);
    r->buf = nb;
    r->len = off;
    r->cap = cap;
    memset(r->free_head, 0, sizeof r->free_head);
    r->compactions++;
}

void ks__roll_advance(ks_pstate *p, int64_t prev_ms, int64_t clock_ms)
{
    ks_roll *r = &p->roll;
    int64_t to_s = clock_ms / 1000;
    int64_t from_s = prev_ms == INT64_MIN ? INT64_MIN : prev_ms / 1000;
    while (r->nheap && (int64_t)(r->heap[0] >> 32) * KS__UNIT <= to_s) {
        uint64_t top = ks__heap_pop(r);
        ks_customer *c = &p->cust[(uint32_t)top];
        /* The next customer's record starts loading while this one is
         * looked at: the records popped are scattered over the partition,
         * and reading each one's visit key was a cache miss in turn. */
        if (r->nheap)
            __builtin_prefetch(&p->cust[(uint32_t)r->heap[0]].roll_visit);
        if (c->roll_visit != (uint32_t)(top >> 32))
            continue; /* stale: a sooner look was scheduled since */
        c->roll_visit = 0;
        ks__visit(p, c, from_s, to_s);
        r->visits++;
    }
    /* Lists grow and shrink across size classes, leaving free blocks other
     * customers may not need: past a quarter of the bytes in use, compact. */
    if (r->len > (64 << 10) && r->len - r->used > r->used / 4)
        ks__compact(p);
}

void ks__roll_free(ks_roll *r)
{
    ks_big_free(r->buf);
    ks_big_free(r->heap);
    free(r->scratch);
    memset(r, 0, sizeof *r);
}

size_t ks__roll_memory(const ks_roll *r)
{
    return r->cap + (size_t)r->capheap * sizeof(uint64_t) + r->capscratch;
}

size_t ks_pstate_rolling_memory(const ks_pstate *p)
{
    return ks__roll_memory(&p->roll);
}

/* --- reading --- */

static void ks__rolling(const ks_pstate *p, const ks_customer *c, int64_t clock_ms, bool as_of,
                        ks_customer_rolling *out)
{
    memset(out, 0, sizeof *out);
    ks__blob b;
    ks__split(p, c, &b);
    int64_t c_s = clock_ms / 1000;
    /* Buckets n with lo < n <= hi count; hi is the clock's bucket if as_of,
     * else unbounded (see state.h). Lists are newest first. */
    int64_t n7 = ks__fdiv(c_s, KS__B7), n28 = ks__fdiv(c_s, KS__B28), n30 = ks__fdiv(c_s, KS__B30);
    int64_t lo7 = n7 - 60, lo28 = (n28 - 60) * 4 + 3; /* in 10080 s buckets */
    int64_t hi7 = as_of ? n7 : INT64_MAX, hi28 = as_of ? n28 * 4 + 3 : INT64_MAX;
    size_t i;
    uint64_t i7 = 0, i28 = 0;
    int64_t m = ks__newest(b.list[0], b.len[0], &i);
    while (i < b.len[0]) {
        uint64_t count;
        uint64_t gap = ks__get_inter(b.list[0], &i, &count);
        if (m <= lo28)
            break; /* out of the 28d window, so of the 7d one: older ones too */
        if (m <= hi28)
            i28 += count;
        if (m > lo7 && m <= hi7)
            i7 += count;
        m -= (int64_t)gap;
    }
    ks__money sum = {0, 0, 0, 0};
    int64_t prev = 0, hi30 = as_of ? n30 : INT64_MAX;
    int64_t j = ks__newest(b.list[1], b.len[1], &i);
    while (i < b.len[1]) {
        ks__money e;
        uint64_t gap = ks__get_money(b.list[1], &i, &e);
        if (j <= n30 - 120)
            break;
        if (j > n30 - 60) {
            if (j <= hi30)
                ks__money_add(&sum, &e);
        } else {
            prev = ks__sadd(prev, e.revenue);
        }
        j -= (int64_t)gap;
    }
    out->interactions_7d = (int64_t)i7;
    out->interactions_28d = (int64_t)i28;
    out->orders_30d = (int64_t)sum.orders;
    out->complaints_30d = (int64_t)sum.complaints;
    out->payment_failures_30d = (int64_t)sum.failures;
    out->revenue_30d_micro = sum.revenue;
    out->revenue_prev_30d_micro = prev;
    out->revenue_30d = (double)sum.revenue / 1e6;
    out->revenue_prev_30d = (double)prev / 1e6;
}

int64_t ks_customer_revenue_30d_as_of(const ks_pstate *p, const ks_customer *c, int64_t at_ms)
{
    /* ks__rolling's money pass alone, stopping at the window's end. */
    ks__blob b;
    ks__split(p, c, &b);
    int64_t n30 = ks__fdiv(at_ms / 1000, KS__B30), sum = 0;
    size_t i;
    int64_t j = ks__newest(b.list[1], b.len[1], &i);
    while (i < b.len[1] && j > n30 - 60) {
        ks__money e;
        uint64_t gap = ks__get_money(b.list[1], &i, &e);
        if (j <= n30)
            sum = ks__sadd(sum, e.revenue);
        j -= (int64_t)gap;
    }
    return sum;
}

void ks_customer_rolling_at(const ks_pstate *p, const ks_customer *c, int64_t clock_ms,
                            ks_customer_rolling *out)
{
    ks__rolling(p, c, clock_ms, false, out);
}

void ks_customer_rolling_as_of(const ks_pstate *p, const ks_customer *c, int64_t at_ms,
                               ks_customer_rolling *out)
{
    ks__rolling(p, c, at_ms, true, out);
}
