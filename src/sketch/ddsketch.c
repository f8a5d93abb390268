/* DDSketch: relative-error quantiles.
 *
 * Algorithm: C. Masson, J. E. Rim, H. K. Lee, "DDSketch: A Fast and Fully-Mergeable
 * Quantile Sketch with Relative-Error Guarantees", PVLDB 12(12), 2019.
 *
 * With gamma = (1 + alpha) / (1 - alpha), a value v > 0 goes to bucket
 * i = ceil(log_gamma(v)), i.e. gamma^(i-1) < v <= gamma^i, and a bucket answers with
 * 2 gamma^i / (gamma + 1), which is within a factor (1 +/- alpha) of every value in
 * it. A quantile query walks the buckets in index order to the one holding the
 * element of rank floor(q (n - 1)) (the paper's definition of the q-quantile), so:
 *
 *   Error bound: |answer - x_q| <= alpha * x_q for every q, every input, as long as
 *   the sketch has not collapsed (Theorem 2 of the paper). Values in
 *   [0, KS_DDSKETCH_MIN_VALUE) and negative values are kept in a separate zero
 *   counter and answered as 0 (exact).
 *
 * Bounded memory (the paper's "collapsing lowest buckets" variant): the buckets in
 * use span at most max_buckets consecutive indices. When a value would widen the span
 * past that, every bucket below hi - max_buckets + 1 is folded into that bucket.
 * Quantiles whose element lies above the folded bucket keep the alpha bound; the
 * lowest ones get too large an answer. At alpha = 1% and 2048 buckets the span covers
 * a ratio of gamma^2048 ~ 10^17 between the smallest and largest value, so for
 * response times (1 ms .. days) it never collapses.
 *
 * Merging adds bucket counts. Folding depends only on the largest index ever seen and
 * max_buckets (a value lands in bucket max(i, hi_final - max_buckets + 1)), so the
 * result does not depend on the order of adds and merges: merging sketches with the
 * same alpha and max_buckets gives exactly the sketch of the union. Subtraction
 * removes counts of a sketch merged in before, which is how window rings drop an
 * expired bucket.
 *
 * Memory layout (heap, one allocation for the struct and one for the buckets):
 *
 *   struct ks_ddsketch                 bins[] (cap counters, cap a power of two
 *   +---------------------+            <= max_buckets, doubling as the span grows)
 *   | alpha, gamma, ...   |            +------+------+-----+------+------+------+
 *   | zero_count, count   |   bins --> |  0   | c_lo | ... | c_hi |  0   |  0   |
 *   | base, lo, hi, cap   |            +------+------+-----+------+------+------+
 *   +---------------------+            index: base  lo          hi    base+cap-1
 *
 * bins[k] counts bucket index base + k; [lo, hi] is the non-empty range. When a new
 * index falls outside [base, base + cap) the live range is moved (or the array grown)
 * so that it is centred again; moves are amortised by the doubling.
 *
 * Why this one: response times and order values are heavy-tailed, so a relative-error
 * guarantee is what a p99 needs (a rank-error sketch like t-digest or KLL can return
 * a value several times off in the tail). DDSketch is also exactly mergeable and
 * subtractable, which the window rings need, and costs 8 bytes per bucket.
 */
#include "kpistream/ddsketch.h"

#include "kpistream/err.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DD_INITIAL_CAP 64

struct ks_ddsketch {
    double alpha;
    double gamma;
    double inv_log_gamma; /* 1 / ln(gamma) */
    double log_gamma;     /* ln(gamma) */
    size_t max_buckets;
    uint64_t zero_count; /* values < KS_DDSKETCH_MIN_VALUE, negatives included */
    uint64_t count;      /* all values, zero bucket included */
    uint64_t *bins;
    size_t cap;
    int64_t base;   /* bucket index of bins[0] */
    int64_t lo, hi; /* non-empty index range; meaningful only when count > zero_count */
    bool collapsed;
};

static bool ks__has_bins(const ks_ddsketch *s)
{
    return s->count > s->zero_count;
}

ks_ddsketch *ks_ddsketch_new(double alpha, size_t max_buckets, char *errstr, size_t errsize)
{
    if (alpha == 0) alpha = KS_DDSKETCH_DEFAULT_ALPHA;
    if (max_buckets == 0) max_buckets = KS_DDSKETCH_DEFAULT_MAX_BUCKETS;
    if (!(alpha >= KS_DDSKETCH_MIN_ALPHA && alpha <= KS_DDSKETCH_MAX_ALPHA)) {
        snprintf(errstr, errsize, "ddsketch: alpha must be in [%g, %g], got %g",
                 KS_DDSKETCH_MIN_ALPHA, KS_DDSKETCH_MAX_ALPHA, alpha);
        return NULL;
    }
    if (max_buckets < 8 || max_buckets > ((size_t)1 << 24)) {
        snprintf(errstr, errsize, "ddsketch: max_buckets must be in [8, %zu], got %zu",
                 (size_t)1 << 24, max_buckets);
        return NULL;
    }
    ks_ddsketch *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errstr, errsize, "ddsketch: out of memory");
        return NULL;
    }
    s->alpha = alpha;
    s->gamma = (1 + alpha) / (1 - alpha);
    s->log_gamma = log(s->gamma);
    s->inv_log_gamma = 1.0 / s->log_gamma;
    s->max_buckets = max_buckets;
    s->cap = max_buckets < DD_INITIAL_CAP ? max_buckets : DD_INITIAL_CAP;
    s->bins = calloc(s->cap, sizeof *s->bins);
    if (!s->bins) {
        free(s);
        snprintf(errstr, errsize, "ddsketch: out of memory");
        return NULL;
    }
    return s;
}

void ks_ddsketch_free(ks_ddsketch *s)
{
    if (!s) return;
    free(s->bins);
    free(s);
}

void ks_ddsketch_reset(ks_ddsketch *s)
{
    memset(s->bins, 0, s->cap * sizeof *s->bins);
    s->zero_count = 0;
    s->count = 0;
    s->base = s->lo = s->hi = 0;
    s->collapsed = false;
}

static int64_t ks__index_of(const ks_ddsketch *s, double v)
{
    return (int64_t)ceil(log(v) * s->inv_log_gamma);
}

static double ks__value_of(const ks_ddsketch *s, int64_t i)
{
    return 2.0 * exp((double)i * s->log_gamma) / (s->gamma + 1.0);
}

/* Grows the array to new_cap counters, keeping the live range [lo, hi] centred.
 * Returns false (array unchanged) when out of memory. */
static bool ks__grow(ks_ddsketch *s, size_t new_cap)
{
    uint64_t *nb = calloc(new_cap, sizeof *nb);
    if (!nb) return false;
    if (ks__has_bins(s)) {
        int64_t span = s->hi - s->lo + 1;
        int64_t nbase = s->lo - ((int64_t)new_cap - span) / 2;
        memcpy(nb + (s->lo - nbase), s->bins + (s->lo - s->base), (size_t)span * sizeof *nb);
        s->base = nbase;
    }
    free(s->bins);
    s->bins = nb;
    s->cap = new_cap;
    return true;
}

/* Moves the live data [from, s->hi] so that [lo2, hi2] fits in the array, centred.
 * Requires hi2 - lo2 + 1 <= cap. */
static void ks__recenter(ks_ddsketch *s, int64_t from, int64_t lo2, int64_t hi2)
{
    int64_t cap = (int64_t)s->cap;
    int64_t nbase = lo2 - (cap - (hi2 - lo2 + 1)) / 2;
    if (ks__has_bins(s) && from <= s->hi) {
        int64_t n = s->hi - from + 1;
        int64_t src = from - s->base, dst = from - nbase;
        memmove(s->bins + dst, s->bins + src, (size_t)n * sizeof *s->bins);
        memset(s->bins, 0, (size_t)dst * sizeof *s->bins);
        memset(s->bins + dst + n, 0, (size_t)(cap - dst - n) * sizeof *s->bins);
    } else {
        memset(s->bins, 0, s->cap * sizeof *s->bins);
    }
    s->base = nbase;
}

/* Makes room for bucket index k and returns the index the count must go to: k itself,
 * or the lowest kept bucket when k (or older buckets) fall off the bounded range. */
static int64_t ks__prepare(ks_ddsketch *s, int64_t k)
{
    if (!ks__has_bins(s)) {
        /* Everything in the array is zero: just place k in the middle. */
        s->base = k - (int64_t)s->cap / 2;
        s->lo = s->hi = k;
        return k;
    }
    if (k >= s->lo && k <= s->hi) return k;
    int64_t lo2 = k < s->lo ? k : s->lo;
    int64_t hi2 = k > s->hi ? k : s->hi;
    int64_t span = hi2 - lo2 + 1;
    int64_t maxb = (int64_t)s->max_buckets;

    if (span > (int64_t)s->cap && s->cap < s->max_buckets) {
        size_t want = s->cap;
        while ((int64_t)want < span && want < s->max_buckets)
            want *= 2;
        if (want > s->max_buckets) want = s->max_buckets;
        if (!ks__grow(s, want))
            s->max_buckets = s->cap; /* out of memory: stop growing, collapse instead */
        maxb = (int64_t)s->max_buckets;
    }

    uint64_t folded = 0;
    int64_t keep_from = s->lo; /* first old index that survives unfolded */
    int64_t floor_idx = 0;
    if (span > maxb) {
        floor_idx = hi2 - maxb + 1;
        int64_t end = s->hi < floor_idx - 1 ? s->hi : floor_idx - 1;
        for (int64_t i = s->lo; i <= end; i++) {
            folded += s->bins[i - s->base];
            s->bins[i - s->base] = 0;
        }
        keep_from = floor_idx > s->lo ? floor_idx : s->lo;
        if (k < floor_idx) k = floor_idx;
        lo2 = floor_idx;
        s->collapsed = true;
    }
    if (lo2 < s->base || hi2 >= s->base + (int64_t)s->cap) ks__recenter(s, keep_from, lo2, hi2);
    if (folded) s->bins[floor_idx - s->base] += folded;
    s->lo = lo2;
    s->hi = hi2;
    return k;
}

static void ks__add_bin(ks_ddsketch *s, int64_t k, uint64_t n)
{
    k = ks__prepare(s, k);
    s->bins[k - s->base] += n;
    s->count += n;
}

bool ks_ddsketch_add_n(ks_ddsketch *s, double v, uint64_t n)
{
    if (!isfinite(v)) return false;
    if (n == 0) return true;
    if (v < KS_DDSKETCH_MIN_VALUE) {
        s->zero_count += n;
        s->count += n;
        return true;
    }
    ks__add_bin(s, ks__index_of(s, v), n);
    return true;
}

bool ks_ddsketch_add(ks_ddsketch *s, double v)
{
    return ks_ddsketch_add_n(s, v, 1);
}

int64_t ks_ddsketch_key(const ks_ddsketch *s, double v)
{
    return v < KS_DDSKETCH_MIN_VALUE ? KS_DDSKETCH_ZERO_KEY : ks__index_of(s, v);
}

void ks_ddsketch_add_key(ks_ddsketch *s, int64_t k, uint64_t n)
{
    if (n == 0)
        return;
    if (k == KS_DDSKETCH_ZERO_KEY) {
        s->zero_count += n;
        s->count += n;
        return;
    }
    ks__add_bin(s, k, n);
}

uint64_t ks_ddsketch_count(const ks_ddsketch *s)
{
    return s->count;
}

bool ks_ddsketch_quantile(const ks_ddsketch *s, double q, double *out)
{
    if (s->count == 0 || !(q >= 0 && q <= 1)) return false;
    uint64_t rank = (uint64_t)floor(q * (double)(s->count - 1));
    if (rank >= s->count) /* guards against rounding for huge counts */
        rank = s->count - 1;
    if (rank < s->zero_count) {
        *out = 0;
        return true;
    }
    uint64_t seen = s->zero_count;
    for (int64_t i = s->lo; i <= s->hi; i++) {
        seen += s->bins[i - s->base];
        if (seen > rank) {
            *out = ks__value_of(s, i);
            return true;
        }
    }
    *out = ks__value_of(s, s->hi); /* unreachable while counts are consistent */
    return true;
}

int ks_ddsketch_merge(ks_ddsketch *dst, const ks_ddsketch *src)
{
    if (dst->gamma != src->gamma) return KS_ERR_INVAL;
    dst->zero_count += src->zero_count;
    dst->count += src->zero_count;
    if (!ks__has_bins(src)) return 0;
    /* Highest first, so that dst's range reaches its final top at once and folding
     * (if any) happens in one pass. */
    for (int64_t i = src->hi; i >= src->lo; i--) {
        uint64_t c = src->bins[i - src->base];
        if (c) ks__add_bin(dst, i, c);
    }
    if (src->collapsed) dst->collapsed = true;
    return 0;
}

/* Where dst keeps src's bucket i: itself, or dst's lowest bucket if dst folded it. */
static bool ks__sub_target(const ks_ddsketch *dst, int64_t i, int64_t *j)
{
    if (!ks__has_bins(dst) || i > dst->hi) return false;
    if (i < dst->lo) {
        if (!dst->collapsed) return false;
        i = dst->lo;
    }
    *j = i;
    return true;
}

int ks_ddsketch_sub(ks_ddsketch *dst, const ks_ddsketch *src)
{
    if (dst->gamma != src->gamma) return KS_ERR_INVAL;
    if (src->zero_count > dst->zero_count || src->count > dst->count) return KS_ERR_RANGE;
    /* Check everything first so that dst is unchanged on error. Buckets below dst's
     * lowest one all land on that one, so their need is summed. */
    uint64_t need_low = 0;
    if (ks__has_bins(src)) {
        for (int64_t i = src->lo; i <= src->hi; i++) {
            uint64_t c = src->bins[i - src->base];
            int64_t j;
            if (!c) continue;
            if (!ks__sub_target(dst, i, &j)) return KS_ERR_RANGE;
            if (j == dst->lo)
                need_low += c;
            else if (dst->bins[j - dst->base] < c)
                return KS_ERR_RANGE;
        }
        if (need_low > dst->bins[dst->lo - dst->base]) return KS_ERR_RANGE;
        for (int64_t i = src->lo; i <= src->hi; i++) {
            uint64_t c = src->bins[i - src->base];
            int64_t j;
            if (c && ks__sub_target(dst, i, &j)) dst->bins[j - dst->base] -= c;
        }
    }
    dst->zero_count -= src->zero_count;
    dst->count -= src->count;
    if (!ks__has_bins(dst)) {
        /* Nothing folded survives in an empty array. */
        dst->collapsed = false;
        dst->lo = dst->hi = dst->base;
        return 0;
    }
    while (dst->bins[dst->lo - dst->base] == 0)
        dst->lo++;
    while (dst->bins[dst->hi - dst->base] == 0)
        dst->hi--;
    return 0;
}

bool ks_ddsketch_collapsed(const ks_ddsketch *s)
{
    return s->collapsed;
}

double ks_ddsketch_alpha(const ks_ddsketch *s)
{
    return s->alpha;
}

size_t ks_ddsketch_memory(const ks_ddsketch *s)
{
    return sizeof *s + s->cap * sizeof *s->bins;
}
