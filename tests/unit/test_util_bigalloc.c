/* ks_big_*: the state's big blocks (include/kpistream/bigalloc.h). */
#include "kpistream/bigalloc.h"

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i += 4093)
        p[i] = (uint8_t)(seed + i / 4093);
    p[n - 1] = (uint8_t)(seed ^ 0x5a);
}

static bool same(const uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i += 4093)
        if (p[i] != (uint8_t)(seed + i / 4093))
            return false;
    return p[n - 1] == (uint8_t)(seed ^ 0x5a);
}

/* The smaps flag that says the kernel may back p's mapping with huge pages. */
static int thp_eligible(const void *p)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool in = false;
    int v = -1;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && sscanf(line, "THPeligible: %d", &v) == 1)
            break;
    }
    if (f)
        fclose(f);
    return v;
}

Test(bigalloc, calloc_is_zeroed_small_and_big)
{
    size_t sizes[] = {2, 4096, 2 * MIB - 1, 2 * MIB, 5 * MIB + 123};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint8_t *p = ks_big_calloc(sizes[k]);
        cr_assert_not_null(p);
        for (size_t i = 0; i < sizes[k]; i += 511)
            cr_assert_eq(p[i], 0, "byte %zu of %zu", i, sizes[k]);
        cr_assert_eq(p[sizes[k] - 1], 0);
        fill(p, sizes[k], (uint8_t)k);
        cr_assert(same(p, sizes[k], (uint8_t)k));
        ks_big_free(p);
    }
    ks_big_free(NULL);
}

Test(bigalloc, realloc_keeps_contents_across_sizes_and_kinds)
{
    /* malloc's, then across the 2 MiB line, then growing a mapping. */
    size_t n = 100000;
    uint8_t *p = ks_big_realloc(NULL, 0, n);
    cr_assert_not_null(p);
    fill(p, n, 7);
    size_t steps[] = {1 * MIB, 3 * MIB, 3 * MIB + 4096, 17 * MIB, 40 * MIB};
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        uint8_t *q = ks_big_realloc(p, n, steps[k]);
        cr_assert_not_null(q);
        cr_assert(same(q, n, 7), "contents lost growing %zu -> %zu", n, steps[k]);
        p = q;
        n = steps[k];
        fill(p, n, 7);
    }
    /* Shrinking keeps the first bytes. */
    uint8_t *q = ks_big_realloc(p, n, 3 * MIB);
    cr_assert_not_null(q);
    for (size_t i = 0; i < 3 * MIB; i += 4093)
        cr_assert_eq(q[i], (uint8_t)(7 + i / 4093));
    ks_big_free(q);
}

Test(bigalloc, blocks_below_the_mapping_size_start_on_a_cache_line)
{
    /* 128 KiB and more is glibc's own mapping, 16 bytes past a page. */
    size_t sizes[] = {24, 100, 4096, 128 * 1024, 200 * 1024, MIB};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint8_t *a = ks_big_alloc(sizes[k]), *c = ks_big_calloc(sizes[k]);
        cr_assert(a && c);
        cr_assert_eq((uintptr_t)a % 64, 0, "ks_big_alloc(%zu) at %p", sizes[k], (void *)a);
        cr_assert_eq((uintptr_t)c % 64, 0, "ks_big_calloc(%zu) at %p", sizes[k], (void *)c);
        fill(a, sizes[k], 5);
        uint8_t *g = ks_big_realloc(a, sizes[k], sizes[k] * 3 / 2 + 16);
        cr_assert_not_null(g);
        cr_assert_eq((uintptr_t)g % 64, 0, "ks_big_realloc to %zu at %p", sizes[k] * 3 / 2 + 16,
                     (void *)g);
        cr_assert(same(g, sizes[k], 5), "contents lost growing %zu", sizes[k]);
        ks_big_free(g);
        ks_big_free(c);
    }
}

Test(bigalloc, frees_and_grows_malloc_blocks)
{
    uint8_t *m = malloc(1000);
    cr_assert_not_null(m);
    fill(m, 1000, 3);
    uint8_t *q = ks_big_realloc(m, 1000, 4 * MIB); /* malloc's block into a big one */
    cr_assert_not_null(q);
    cr_assert(same(q, 1000, 3));
    ks_big_free(q);
    ks_big_free(malloc(64)); /* malloc's block: ks_big_free takes it */
}

Test(bigalloc, big_blocks_are_aligned_and_advised_huge)
{
    if (!ks_big_huge())
        cr_skip_test("2 MiB mappings off here (THP %s, or a sanitizer build)", ks_big_thp_mode());
    uint8_t *p = ks_big_alloc(6 * MIB + 1);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % (2 * MIB), 0);
    p[0] = 1;
    cr_assert_eq(thp_eligible(p), 1, "the mapping is not advised MADV_HUGEPAGE");
    uint8_t *q = ks_big_realloc(p, 6 * MIB + 1, 64 * MIB); /* moved or grown in place */
    cr_assert_eq((uintptr_t)q % (2 * MIB), 0);
    cr_assert_eq(q[0], 1);
    q[63 * MIB] = 2;
    cr_assert_eq(thp_eligible(q + 63 * MIB), 1, "the grown part is not advised");
    ks_big_free(q);
    uint8_t *s = ks_big_alloc(2 * MIB - 1); /* under 2 MiB: malloc's */
    cr_assert_neq((uintptr_t)s % (2 * MIB), 0);
    ks_big_free(s);
}

/* A fork whose child checks the bytes, the parent writing meanwhile (the
 * 2 MiB pages split), then a collapse pass. */
static void fork_write_collapse(uint8_t *p, size_t used, uint8_t seed)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(same(p, used, seed) ? 0 : 1);
    cr_assert(pid > 0);
    for (size_t i = 0; i < used; i += 64 * 1024)
        p[i + 1] ^= 0xff;
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child saw other bytes");
    ks_big_collapse_start();
    ks_big_collapse_wait();
    for (size_t i = 0; i < used; i += 64 * 1024)
        p[i + 1] ^= 0xff;
    cr_assert(same(p, used, seed), "a collapse changed the contents");
}

Test(bigalloc, collapse_after_a_fork_keeps_contents_and_leaves_untouched_ranges)
{
    if (!ks_big_huge())
        cr_skip_test("2 MiB mappings off here (THP %s, or a sanitizer build)", ks_big_thp_mode());
    size_t n = 16 * MIB, used = 10 * MIB; /* the last 6 MiB never touched */
    uint8_t *p = ks_big_alloc(n);
    cr_assert_not_null(p);
    fill(p, used, 11);
    ks_big_collapse_stats before, after;
    ks_big_collapse_stats_get(&before);
    fork_write_collapse(p, used, 11);
    ks_big_collapse_stats_get(&after);
    cr_assert_eq(after.passes, before.passes + 1);
    cr_assert_geq(after.ranges - before.ranges, (int64_t)(n / (2 * MIB)));
    unsigned char vec[6 * MIB / 4096];
    cr_assert_eq(mincore(p + used, n - used, vec), 0);
    for (size_t i = 0; i < sizeof vec; i++)
        cr_assert_eq(vec[i] & 1, 0, "untouched page %zu made resident by the collapse", i);

    /* Grown (in place or moved, to an end that is no 2 MiB boundary), then
     * again: every pass runs, whatever the ranges it could not collapse. */
    uint8_t *q = ks_big_realloc(p, n, 37 * MIB + 4096);
    cr_assert_not_null(q);
    cr_assert(same(q, used, 11));
    fill(q, 37 * MIB + 4096, 12);
    fork_write_collapse(q, 37 * MIB + 4096, 12);
    fork_write_collapse(q, 37 * MIB + 4096, 12);
    ks_big_collapse_stats_get(&after);
    cr_assert_eq(after.passes, before.passes + 3);
    ks_big_free(q);
}
