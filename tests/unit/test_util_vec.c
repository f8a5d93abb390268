/* ks_vec: growth keeps the elements, a failed allocation changes nothing,
 * free empties.
 *
 * The test is linked with -Wl,--wrap=realloc (tests/CMakeLists.txt), so
 * ks_vec_grow's realloc comes here first: fail_after counts the reallocs
 * still allowed, and the next one fails as an exhausted heap would. */
#include <criterion/criterion.h>

#include "kpistream/err.h"
#include "kpistream/vec.h"

#include <stdint.h>
#include <stdlib.h>

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static int fail_after = -1; /* < 0: never fail */
static int reallocs;

void *__wrap_realloc(void *p, size_t n)
{
    reallocs++;
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return __real_realloc(p, n);
}

static void reset_hooks(void)
{
    fail_after = -1;
    reallocs = 0;
}

TestSuite(util_vec, .init = reset_hooks);

Test(util_vec, push_grows_by_doubling_and_keeps_elements)
{
    uint32_t *v = NULL;
    size_t n = 0, cap = 0;
    for (uint32_t i = 0; i < 10000; i++) {
        uint32_t *slot = ks_vec_push(v, n, cap);
        cr_assert_not_null(slot);
        *slot = i * 7;
    }
    cr_assert_eq(n, 10000);
    cr_assert_geq(cap, n);
    cr_assert_lt(cap, 2 * n, "doubling overshoots by less than 2x: cap %zu", cap);
    /* 256 bytes = 64 elements first, then doubling to 16384: 9 reallocs. */
    cr_assert_eq(reallocs, 9, "reallocs %d", reallocs);
    for (uint32_t i = 0; i < 10000; i++)
        cr_assert_eq(v[i], i * 7);
    ks_vec_free(v, n, cap);
    cr_assert_null(v);
    cr_assert_eq(n, 0);
    cr_assert_eq(cap, 0);
}

Test(util_vec, first_capacity_is_256_bytes_or_one_element)
{
    char *b = NULL;
    size_t cap = 0;
    cr_assert_eq(ks_vec_reserve(b, cap, 1), 0);
    cr_assert_eq(cap, 256);
    free(b);

    struct big {
        char x[1000];
    } *g = NULL;
    size_t gcap = 0;
    cr_assert_eq(ks_vec_reserve(g, gcap, 1), 0);
    cr_assert_eq(gcap, 1);
    cr_assert_eq(ks_vec_reserve(g, gcap, 5), 0);
    cr_assert_eq(gcap, 8);
    free(g);
}

Test(util_vec, reserve_within_capacity_does_not_allocate)
{
    int *v = NULL;
    size_t cap = 0;
    cr_assert_eq(ks_vec_reserve(v, cap, 100), 0);
    int before = reallocs;
    int *keep = v;
    cr_assert_eq(ks_vec_reserve(v, cap, cap), 0);
    cr_assert_eq(reallocs, before);
    cr_assert_eq(v, keep);
    free(v);
}

Test(util_vec, failed_allocation_leaves_the_array_as_it_was)
{
    uint64_t *v = NULL;
    size_t n = 0, cap = 0;
    for (uint64_t i = 0; i < 32; i++)
        *ks_vec_push(v, n, cap) = i; /* 32 fit the first 256 bytes */
    size_t cap0 = cap;
    uint64_t *p0 = v;
    fail_after = 0;
    cr_assert_null(ks_vec_push(v, n, cap));
    cr_assert_eq(ks_vec_reserve(v, cap, 1000), KS_ERR_NOMEM);
    cr_assert_eq(n, 32);
    cr_assert_eq(cap, cap0);
    cr_assert_eq(v, p0);
    for (uint64_t i = 0; i < 32; i++)
        cr_assert_eq(v[i], i);
    fail_after = -1; /* the heap recovers: the same array grows on */
    cr_assert_not_null(ks_vec_push(v, n, cap));
    cr_assert_eq(n, 33);
    ks_vec_free(v, n, cap);
}

Test(util_vec, size_overflow_is_out_of_memory_without_allocating)
{
    uint64_t *v = NULL;
    size_t cap = 0;
    cr_assert_eq(ks_vec_reserve(v, cap, SIZE_MAX / sizeof *v), KS_ERR_NOMEM);
    cr_assert_eq(ks_vec_reserve(v, cap, SIZE_MAX / 2 / sizeof *v + 1), KS_ERR_NOMEM);
    cr_assert_eq(reallocs, 0);
    cr_assert_null(v);
    cr_assert_eq(cap, 0);
}
