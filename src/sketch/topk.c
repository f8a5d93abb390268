/* Top-k heavy hitters: Space-Saving.
 *
 * Algorithm: A. Metwally, D. Agrawal, A. El Abbadi, "Efficient Computation of
 * Frequent and Top-k Elements in Data Streams", ICDT 2005, with weighted updates.
 * m counters monitor m items. Adding c to a monitored item adds c to its counter.
 * Adding c to an unmonitored item when all m counters are taken evicts the item with
 * the smallest counter min, and the newcomer takes that counter as min + c with
 * error = min (it may have occurred up to min times while unmonitored).
 *
 * Error bound (N = total weight added): the counters always sum to at most N, so the
 * smallest is <= N/m, and for every item x with true count f(x):
 *   - monitored:   f(x) <= count(x) <= f(x) + error(x),  error(x) <= N/m
 *   - unmonitored: f(x) <= min counter <= N/m
 * hence every item with f(x) > N/m is monitored.
 *
 * Merging (Agarwal, Cormode, Huang, Phillips, Wei, Yi, "Mergeable Summaries", PODS
 * 2012, which shows MG/Space-Saving summaries merge with the same error; the concrete
 * rule is the parallel Space-Saving merge of Cafaro, Pulimeno, Tempesta, 2016): every
 * item of either summary gets count = c_A + c_B and error = e_A + e_B, where an item
 * missing from a summary counts that summary's minimum counter if it is full (an
 * upper bound on its true count there) and 0 if it is not (then it truly never
 * occurred); the m largest are kept. Afterwards, with N = N_A + N_B:
 *   - count >= f and count - f <= error <= min_A + min_B <= N_A/m + N_B/m = N/m;
 *   - any m of the combined counts sum to at most N_A + N_B (each side contributes at
 *     most its own m counters), so the new minimum is <= N/m; a dropped item's true
 *     count is <= its combined count <= the new minimum, and an item in neither has
 *     true count <= min_A + min_B <= the new minimum.
 * So the guarantees above keep holding, with N the total over everything merged, for
 * any sequence of adds and merges. The summary is not subtractable: a sliding window
 * is built by merging the summaries of its live buckets.
 *
 * Memory layout (three arrays allocated once, in ks_topk_new()):
 *
 *   slots[m]  (arena; 160 bytes each)          index[2^b >= 2m]  (open addressing,
 *   +-------+-------+------+-----+----+------+  linear probing, backward-shift delete)
 *   | count | error | hash | pos | len| item |  +----+----+----+----+----+
 *   +-------+-------+------+-----+----+------+  | 3  | -  | 0  | -  | 1  |  slot numbers
 *   | ...                                    |  +----+----+----+----+----+
 *                                              heap[m]: slot numbers, min-heap by count;
 *                                              slots[s].pos = s's place in heap
 *
 * Why this one: for weighted string streams it has the best error per counter of the
 * counter-based algorithms (better in practice than Misra-Gries and far better than
 * Count-Min plus a heap, which also needs the items stored), its counts are
 * overestimates with a per-item error, it merges, and with a fixed arena an add never
 * allocates. Items are kept inline (<= 128 bytes) so a lookup touches one slot.
 */
#include "kpistream/topk.h"

#include "kpistream/err.h"
#include "kpistream/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPK_SEED 0x746f706b5f6b7321ULL
#define EMPTY UINT32_MAX

typedef struct slot {
    uint64_t count;
    uint64_t error;
    uint64_t hash;
    uint32_t pos; /* position in heap[] */
    uint8_t len;
    char item[KS_TOPK_ITEM_MAX];
} slot;

struct ks_topk {
    size_t m;
    size_t size; /* slots in use: slots[0..size) */
    uint64_t total;
    slot *slots;
    uint32_t *heap;
    uint32_t *index;
    size_t index_mask;
    uint8_t *mark; /* merge scratch: src slot numbers already combined */
};

ks_topk *ks_topk_new(size_t capacity, char *errstr, size_t errsize)
{
    if (capacity < 1 || capacity > KS_TOPK_MAX_CAPACITY) {
        snprintf(errstr, errsize, "topk: capacity must be in [1, %u], got %zu",
                 KS_TOPK_MAX_CAPACITY, capacity);
        return NULL;
    }
    ks_topk *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    size_t isize = 4;
    while (isize < 2 * capacity)
        isize *= 2;
    t->m = capacity;
    t->index_mask = isize - 1;
    t->slots = calloc(capacity, sizeof *t->slots);
    t->heap = calloc(capacity, sizeof *t->heap);
    t->index = malloc(isize * sizeof *t->index);
    t->mark = calloc(capacity, 1);
    if (!t->slots || !t->heap || !t->index || !t->mark) goto oom;
    memset(t->index, 0xff, isize * sizeof *t->index);
    return t;
oom:
    ks_topk_free(t);
    snprintf(errstr, errsize, "topk: out of memory for %zu counters", capacity);
    return NULL;
}

void ks_topk_free(ks_topk *t)
{
    if (!t) return;
    free(t->slots);
    free(t->heap);
    free(t->index);
    free(t->mark);
    free(t);
}

void ks_topk_reset(ks_topk *t)
{
    t->size = 0;
    t->total = 0;
    memset(t->index, 0xff, (t->index_mask + 1) * sizeof *t->index);
}

/* ---- min-heap of slot numbers by count ---- */

static void ks__heap_swap(ks_topk *t, size_t a, size_t b)
{
    uint32_t sa = t->heap[a], sb = t->heap[b];
    t->heap[a] = sb;
    t->heap[b] = sa;
    t->slots[sb].pos = (uint32_t)a;
    t->slots[sa].pos = (uint32_t)b;
}

static void ks__sift_down(ks_topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, min = i;
        if (l < t->size && t->slots[t->heap[l]].count < t->slots[t->heap[min]].count) min = l;
        if (r < t->size && t->slots[t->heap[r]].count < t->slots[t->heap[min]].count) min = r;
        if (min == i) return;
        ks__heap_swap(t, i, min);
        i = min;
    }
}

static void ks__sift_up(ks_topk *t, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (t->slots[t->heap[p]].count <= t->slots[t->heap[i]].count) return;
        ks__heap_swap(t, i, p);
        i = p;
    }
}

/* ---- hash index ---- */

static size_t ks__find_pos(const ks_topk *t, const void *p, size_t len, uint64_t h)
{
    size_t i = h & t->index_mask;
    while (t->index[i] != EMPTY) {
        const slot *s = &t->slots[t->index[i]];
        if (s->hash == h && s->len == len && memcmp(s->item, p, len) == 0) return i;
        i = (i + 1) & t->index_mask;
    }
    return i; /* the empty position where it would go */
}

static void ks__index_insert(ks_topk *t, uint32_t sn)
{
    size_t i = t->slots[sn].hash & t->index_mask;
    while (t->index[i] != EMPTY)
        i = (i + 1) & t->index_mask;
    t->index[i] = sn;
}

/* Removes slot sn from the index, shifting later entries of the probe run back so
 * that no tombstones are needed (the table stays at most half full). */
static void ks__index_remove(ks_topk *t, uint32_t sn)
{
    size_t mask = t->index_mask;
    size_t i = t->slots[sn].hash & mask;
    while (t->index[i] != sn)
        i = (i + 1) & mask;
    t->index[i] = EMPTY;
    for (size_t j = (i + 1) & mask; t->index[j] != EMPTY; j = (j + 1) & mask) {
        size_t home = t->slots[t->index[j]].hash & mask;
        /* Move j into the hole i unless its home lies cyclically in (i, j]. */
        bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            t->index[i] = t->index[j];
            t->index[j] = EMPTY;
            i = j;
        }
    }
}

/* Puts a new item into slot sn (which must not be indexed) with the given counts. */
static void ks__fill_slot(ks_topk *t, uint32_t sn, const void *p, size_t len, uint64_t h,
                          uint64_t count, uint64_t error)
{
    slot *s = &t->slots[sn];
    s->count = count;
    s->error = error;
    s->hash = h;
    s->len = (uint8_t)len;
    if (len) memcpy(s->item, p, len);
    ks__index_insert(t, sn);
}

static uint64_t ks__min_count(const ks_topk *t)
{
    return t->size ? t->slots[t->heap[0]].count : 0;
}

bool ks_topk_add(ks_topk *t, const void *p, size_t len, uint64_t count)
{
    if (len > KS_TOPK_ITEM_MAX) return false;
    if (count == 0) return true;
    t->total += count;
    uint64_t h = ks_hash64(p, len, TOPK_SEED);
    size_t i = ks__find_pos(t, p, len, h);
    if (t->index[i] != EMPTY) {
        slot *s = &t->slots[t->index[i]];
        s->count += count;
        ks__sift_down(t, s->pos);
        return true;
    }
    if (t->size < t->m) {
        uint32_t sn = (uint32_t)t->size++;
        t->heap[sn] = sn;
        t->slots[sn].pos = sn;
        ks__fill_slot(t, sn, p, len, h, count, 0);
        ks__sift_up(t, sn);
        return true;
    }
    /* Full: the newcomer takes over the smallest counter. */
    uint32_t sn = t->heap[0];
    uint64_t min = t->slots[sn].count;
    ks__index_remove(t, sn);
    ks__fill_slot(t, sn, p, len, h, min + count, min);
    ks__sift_down(t, 0);
    return true;
}

static void ks__to_entry(const slot *s, ks_topk_entry *e)
{
    e->item = s->item;
    e->len = s->len;
    e->count = s->count;
    e->error = s->error;
}

bool ks_topk_get(const ks_topk *t, const void *p, size_t len, ks_topk_entry *e)
{
    if (len > KS_TOPK_ITEM_MAX) return false;
    size_t i = ks__find_pos(t, p, len, ks_hash64(p, len, TOPK_SEED));
    if (t->index[i] == EMPTY) return false;
    ks__to_entry(&t->slots[t->index[i]], e);
    return true;
}

/* Report order: count descending, then error ascending (the more certain first), then
 * item bytes, so that equal summaries list identically. Returns > 0 if a ranks first. */
static int ks__rank_cmp(const ks_topk_entry *a, const ks_topk_entry *b)
{
    if (a->count != b->count) return a->count > b->count ? 1 : -1;
    if (a->error != b->error) return a->error < b->error ? 1 : -1;
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->item, b->item, n);
    if (c != 0) return c < 0 ? 1 : -1;
    return a->len == b->len ? 0 : (a->len < b->len ? 1 : -1);
}

/* out[0..n) as a heap whose root is the entry that ranks last. */
static void ks__out_sift_down(ks_topk_entry *out, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ks__rank_cmp(&out[l], &out[w]) < 0) w = l;
        if (r < n && ks__rank_cmp(&out[r], &out[w]) < 0) w = r;
        if (w == i) return;
        ks_topk_entry tmp = out[i];
        out[i] = out[w];
        out[w] = tmp;
        i = w;
    }
}

void ks_topk_list(const ks_topk *t, size_t k, ks_topk_entry *out, size_t *n)
{
    size_t cnt = 0;
    if (k > 0) {
        for (size_t s = 0; s < t->size; s++) {
            ks_topk_entry e;
            ks__to_entry(&t->slots[s], &e);
            if (cnt < k) {
                /* sift up the new entry */
                size_t i = cnt++;
                out[i] = e;
                while (i > 0 && ks__rank_cmp(&out[i], &out[(i - 1) / 2]) < 0) {
                    ks_topk_entry tmp = out[i];
                    out[i] = out[(i - 1) / 2];
                    out[(i - 1) / 2] = tmp;
                    i = (i - 1) / 2;
                }
            } else if (ks__rank_cmp(&e, &out[0]) > 0) {
                out[0] = e;
                ks__out_sift_down(out, cnt, 0);
            }
        }
        /* Heap sort: moving the last-ranked root to the end leaves out[] best-first. */
        for (size_t end = cnt; end > 1; end--) {
            ks_topk_entry tmp = out[0];
            out[0] = out[end - 1];
            out[end - 1] = tmp;
            ks__out_sift_down(out, end - 1, 0);
        }
    }
    *n = cnt;
}

int ks_topk_merge(ks_topk *dst, const ks_topk *src)
{
    if (dst->m != src->m) return KS_ERR_INVAL;
    /* Minimum counter of a full summary: what an item it does not hold may have had. */
    uint64_t min_dst = dst->size == dst->m ? ks__min_count(dst) : 0;
    uint64_t min_src = src->size == src->m ? ks__min_count(src) : 0;
    size_t src_size = src->size; /* src may be dst itself */

    memset(dst->mark, 0, dst->m);
    for (size_t s = 0; s < dst->size; s++) {
        slot *d = &dst->slots[s];
        size_t i = ks__find_pos(src, d->item, d->len, d->hash);
        if (src->index[i] != EMPTY) {
            const slot *o = &src->slots[src->index[i]];
            dst->mark[src->index[i]] = 1;
            d->count += o->count;
            d->error += o->error;
        } else {
            d->count += min_src;
            d->error += min_src;
        }
    }
    /* Counts changed in place: rebuild the heap. */
    for (size_t i = dst->size / 2; i-- > 0;)
        ks__sift_down(dst, i);

    /* Items only in src: keep the m largest combined counts. */
    for (size_t s = 0; s < src_size; s++) {
        if (dst->mark[s]) continue;
        const slot *o = &src->slots[s];
        uint64_t c = o->count + min_dst, e = o->error + min_dst;
        if (dst->size < dst->m) {
            uint32_t sn = (uint32_t)dst->size++;
            dst->heap[sn] = sn;
            dst->slots[sn].pos = sn;
            ks__fill_slot(dst, sn, o->item, o->len, o->hash, c, e);
            ks__sift_up(dst, sn);
        } else if (c > ks__min_count(dst)) {
            uint32_t sn = dst->heap[0];
            ks__index_remove(dst, sn);
            ks__fill_slot(dst, sn, o->item, o->len, o->hash, c, e);
            ks__sift_down(dst, 0);
        }
    }
    dst->total += src->total;
    return 0;
}

uint64_t ks_topk_total(const ks_topk *t)
{
    return t->total;
}

size_t ks_topk_size(const ks_topk *t)
{
    return t->size;
}

size_t ks_topk_capacity(const ks_topk *t)
{
    return t->m;
}

uint64_t ks_topk_error_bound(const ks_topk *t)
{
    return (t->total + t->m - 1) / t->m;
}

size_t ks_topk_memory(const ks_topk *t)
{
    return sizeof *t + t->m * (sizeof *t->slots + sizeof *t->heap + 1) +
           (t->index_mask + 1) * sizeof *t->index;
}
