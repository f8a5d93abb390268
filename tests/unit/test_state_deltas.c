/* The delta map: one bucket per (group, window, bucket number), summed in
 * place; pruning drops exactly the buckets behind their window. */
#include "kpistream/deltas.h"

#include <criterion/criterion.h>

Test(deltas, same_key_same_bucket_and_keys_are_distinct)
{
    ks_deltas m = {0};
    ks_bucket *a = ks_deltas_at(&m, 3, 1, 1000);
    cr_assert_not_null(a);
    a->v[KS_C_EVENTS] += 2;
    /* Growing past the first capacity must keep every bucket findable. */
    for (int i = 0; i < 5000; i++) {
        ks_bucket *b = ks_deltas_at(&m, (uint16_t)(i % 7), (uint8_t)(i % 4), 2000 + i);
        cr_assert_not_null(b);
        b->v[KS_C_ORDERS] += i;
    }
    cr_assert_eq(ks_deltas_at(&m, 3, 1, 1000)->v[KS_C_EVENTS], 2);
    cr_assert_eq(ks_deltas_at(&m, 3, 1, 1000)->v[KS_C_ORDERS], 0);
    for (int i = 0; i < 5000; i++)
        cr_assert_eq(ks_deltas_at(&m, (uint16_t)(i % 7), (uint8_t)(i % 4), 2000 + i)->v[KS_C_ORDERS],
                     i, "bucket %d", i);
    cr_assert_eq(m.n, 5001);
    /* Same bucket number, other group or window: other buckets. */
    cr_assert_eq(ks_deltas_at(&m, 4, 1, 1000)->v[KS_C_EVENTS], 0);
    cr_assert_eq(ks_deltas_at(&m, 3, 2, 1000)->v[KS_C_EVENTS], 0);
    ks_deltas_clear(&m);
    cr_assert_eq(m.n, 0);
    cr_assert_eq(ks_deltas_at(&m, 3, 1, 1000)->v[KS_C_EVENTS], 0, "cleared");
    ks_deltas_free(&m);
}

Test(deltas, prune_drops_exactly_the_buckets_behind_their_window)
{
    ks_deltas m = {0};
    /* window 0: buckets 0..99; window 1: buckets 0..99 */
    for (int w = 0; w < 2; w++)
        for (int n = 0; n < 100; n++)
            ks_deltas_at(&m, 0, (uint8_t)w, n)->v[KS_C_EVENTS] = 100 * w + n + 1;
    int64_t behind[2] = {49, 89}; /* window 0 keeps 50..99, window 1 keeps 90..99 */
    ks_deltas_prune(&m, behind);
    cr_assert_eq(m.n, 60);
    for (uint32_t i = 0; i < m.n; i++)
        cr_assert_gt(m.d[i].n, behind[m.d[i].w]);
    /* Survivors are still found (the index was rebuilt) with their values. */
    for (int n = 50; n < 100; n++)
        cr_assert_eq(ks_deltas_at(&m, 0, 0, n)->v[KS_C_EVENTS], n + 1);
    for (int n = 90; n < 100; n++)
        cr_assert_eq(ks_deltas_at(&m, 0, 1, n)->v[KS_C_EVENTS], 100 + n + 1);
    cr_assert_eq(m.n, 60, "lookups of survivors create nothing");
    ks_deltas_free(&m);
}
