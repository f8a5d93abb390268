/* The open-addressing map of src/state/u64map.c against a plain array:
 * random inserts, lookups and deletes over a small key space, so keys come
 * back after their deletion (tombstones reused), runs collide and the table
 * rebuilds many times. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/u64map.h"
#include "xorshift.h"

enum { NKEYS = 3000, NOPS = 200000 };

/* The reference: whether key i is in the map, and its payload. */
typedef struct ref {
    bool in[NKEYS];
    int64_t v[NKEYS];
    size_t n;
} ref;

/* Keys are hashes in real use; these cluster on purpose: consecutive
 * multiples of a large power of two share their low bits. */
static uint64_t key_of(int i)
{
    return ((uint64_t)(i + 1) << 40) | 2u;
}

/* Keys in families of eight that differ in their low 6 bits, as the names
 * table's (customer, kind, slot) keys (src/state/names.c). */
static uint64_t family_key_of(int i)
{
    return ((uint64_t)(i / 8 + 1) << 7) | (uint64_t)(i % 8);
}

static uint64_t (*key_fn)(int) = key_of;

static void check_all(ks_u64map *m, const ref *r)
{
    cr_assert_eq(m->used, r->n, "live entries %zu, want %zu", m->used, r->n);
    for (int i = 0; i < NKEYS; i++) {
        ks_u64map_val *v = ks_u64map_get(m, key_fn(i));
        cr_assert_eq(v != NULL, r->in[i], "key %d present %d, want %d", i, v != NULL, r->in[i]);
        if (v)
            cr_assert_eq(v->a, r->v[i], "key %d holds %lld, want %lld", i, (long long)v->a,
                         (long long)r->v[i]);
    }
}

static void random_ops(unsigned run_bits)
{
    ks_u64map m;
    cr_assert_eq(ks_u64map_init(&m, NULL, NULL), 0);
    ks_u64map_set_runs(&m, run_bits);
    static ref r;
    memset(&r, 0, sizeof r);
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (int op = 0; op < NOPS; op++) {
        uint64_t x = kst_xorshift(&s);
        /* A key space that grows, then stays: the map grows and churns. */
        int span = op < NOPS / 4 ? 1 + (int)((int64_t)op * NKEYS / (NOPS / 4)) : NKEYS;
        int i = (int)((x >> 8) % (uint64_t)span);
        if ((x & 3) == 0) {
            ks_u64map_del(&m, key_fn(i));
            if (r.in[i])
                r.n--;
            r.in[i] = false;
        } else {
            bool created;
            ks_u64map_val *v = ks_u64map_put(&m, key_fn(i), &created);
            cr_assert_not_null(v);
            cr_assert_eq(created, !r.in[i], "op %d key %d: created %d", op, i, created);
            if (created) {
                cr_assert_eq(v->a, 0, "a new entry's payload is zeroed");
                r.in[i] = true;
                r.n++;
                r.v[i] = 0;
            }
            v->a += (int64_t)(x >> 40);
            r.v[i] += (int64_t)(x >> 40);
        }
        if (op % 20000 == 0)
            check_all(&m, &r);
    }
    check_all(&m, &r);
    cr_assert_leq(m.filled * 4, m.cap * 3, "load bound kept");
    ks_u64map_reset(&m);
}

Test(u64map, random_puts_and_deletes_match_a_plain_array)
{
    key_fn = key_of;
    random_ops(0);
}

Test(u64map, families_placed_in_runs_match_a_plain_array)
{
    key_fn = family_key_of;
    random_ops(6);
}

/* The slot holding key (present). */
static size_t slot_index(ks_u64map *m, uint64_t key)
{
    const char *v = (const char *)ks_u64map_get(m, key);
    cr_assert_not_null(v);
    return (size_t)(v - (const char *)m->slots) / sizeof *m->slots;
}

/* Fraction of 2 000 families of four keys whose keys sit in consecutive
 * slots, inserted into one table laid out with run_bits. */
static double together(unsigned run_bits)
{
    ks_u64map m;
    cr_assert_eq(ks_u64map_init(&m, NULL, NULL), 0);
    ks_u64map_set_runs(&m, run_bits);
    cr_assert_eq(ks_u64map_reserve(&m, 8000), 0);
    int n = 0;
    for (int f = 0; f < 2000; f++)
        for (int s = 0; s < 4; s++) {
            bool created;
            cr_assert_not_null(ks_u64map_put(&m, family_key_of(f * 8 + s), &created));
        }
    for (int f = 0; f < 2000; f++) {
        bool in_run = true;
        for (int s = 1; s < 4; s++) {
            size_t a = slot_index(&m, family_key_of(f * 8 + s - 1)),
                   b = slot_index(&m, family_key_of(f * 8 + s));
            in_run &= b == ((a + 1) & (m.cap - 1));
        }
        n += in_run;
    }
    ks_u64map_reset(&m);
    return n / 2000.0;
}

/* What the layout is for: a walk over one family reads one or two lines. */
Test(u64map, a_family_sits_in_consecutive_slots)
{
    double runs = together(6), hashed = together(0);
    fprintf(stderr, "families in consecutive slots: %.3f with runs, %.3f hashed apart\n", runs,
            hashed);
    cr_expect_geq(runs, 0.6, "families in consecutive slots with runs: %.3f", runs);
    cr_expect_leq(hashed, 0.01, "families in consecutive slots hashed apart: %.3f", hashed);
}

/* The keep predicate of a rebuild drops entries: a key the map lost must
 * be one the predicate rejects, and one it still holds keeps its payload. */
static bool keep_even_payloads(uint64_t key, const ks_u64map_val *v, void *ctx)
{
    (void)key;
    (void)ctx;
    return (v->a & 1) == 0;
}

Test(u64map, a_rebuild_drops_only_what_keep_rejects)
{
    ks_u64map m;
    cr_assert_eq(ks_u64map_init(&m, keep_even_payloads, NULL), 0);
    static ref r;
    memset(&r, 0, sizeof r);
    uint64_t s = 12345;
    size_t lost = 0;
    for (int op = 0; op < NOPS; op++) {
        uint64_t x = kst_xorshift(&s);
        int i = (int)((x >> 8) % NKEYS);
        bool created;
        ks_u64map_val *v = ks_u64map_put(&m, key_of(i), &created);
        cr_assert_not_null(v);
        if (created && r.in[i]) {
            /* Dropped by a rebuild since: only an odd payload may be. */
            cr_assert_eq(r.v[i] & 1, 1, "key %d with payload %lld was dropped", i,
                         (long long)r.v[i]);
            lost++;
        } else if (!created) {
            cr_assert(r.in[i], "key %d was never inserted", i);
            cr_assert_eq(v->a, r.v[i]);
        }
        if (created)
            r.v[i] = 0;
        r.in[i] = true;
        v->a = (int64_t)(x >> 33);
        r.v[i] = v->a;
    }
    cr_assert_gt(lost, 0, "rebuilds ran and dropped something");
    ks_u64map_reset(&m);
}

/* The dedup set's pattern (src/state/pstate.c): each key's payload is the
 * time it came, and a rebuild drops what is older than a horizon. The live
 * count levels off, so after growing the table keeps its size and rebuilds
 * clean it in place; every key inside the horizon must stay found (a lost
 * one would count a duplicate twice) and every key past it may go. Half the
 * keys come in families of 16 whose slots run on (run_bits), so clusters are
 * long and some wrap past the table's end. */
static int64_t horizon_floor;

static bool keep_recent(uint64_t key, const ks_u64map_val *v, void *ctx)
{
    (void)key;
    (void)ctx;
    return v->a >= horizon_floor;
}

Test(u64map, a_rebuild_in_place_keeps_every_recent_key_found)
{
    enum { N = 60000, HORIZON = 5000 };
    static uint64_t keys[N];
    ks_u64map m;
    cr_assert_eq(ks_u64map_init(&m, keep_recent, NULL), 0);
    ks_u64map_set_runs(&m, 4);
    uint64_t s = 777;
    size_t rebuilds_in_place = 0, wrapped = 0, repeats = 0, last_cap = 0, last_filled = 0;
    for (int t = 0; t < N;) {
        uint64_t x = kst_xorshift(&s);
        horizon_floor = t - HORIZON;
        bool created;
        if ((x & 7) == 0 && t > 1) {
            /* A repeat of a key inside the horizon: found, payload kept. */
            int k = t - 1 - (int)((x >> 8) % (uint64_t)(t < HORIZON ? t - 1 : HORIZON - 1));
            ks_u64map_val *v = ks_u64map_put(&m, keys[k], &created);
            cr_assert_not_null(v);
            cr_assert(!created, "key %d (%#llx), inside the horizon at %d, was lost", k,
                      (unsigned long long)keys[k], t);
            cr_assert_eq(v->a, k);
            repeats++;
            continue;
        }
        /* A new key: the next of the previous one's family, or a new family. */
        keys[t] = (x & 2) && t > 0 && (keys[t - 1] & 15) < 15 ? keys[t - 1] + 1
                                                               : (x | 32) & ~15ULL;
        ks_u64map_val *v = ks_u64map_put(&m, keys[t], &created);
        cr_assert_not_null(v);
        cr_assert(created, "key %d is new", t);
        v->a = t;
        if (m.cap == last_cap && m.filled < last_filled)
            rebuilds_in_place++;
        last_cap = m.cap;
        last_filled = m.filled;
        if (m.slots[m.cap - 1].key > 1 && m.slots[0].key > 1)
            wrapped++;
        t++;
        if (t % 1000 == 0)
            for (int k = t - HORIZON > 0 ? t - HORIZON : 0; k < t; k++)
                cr_assert_not_null(ks_u64map_get(&m, keys[k]), "key %d lost at %d", k, t);
    }
    cr_assert_gt(repeats, 1000);
    cr_assert_gt(rebuilds_in_place, 5, "in-place rebuilds ran (%zu)", rebuilds_in_place);
    cr_assert_gt(wrapped, 0, "some cluster wrapped past the table's end");
    cr_assert_leq(m.cap, 4 * HORIZON, "the table stopped growing (cap %zu)", m.cap);
    ks_u64map_reset(&m);
}
