/* The string interner behind the output path's field ids (src/engine/names.c):
 * dense ids in order of first sight, stable across growth, exact bytes. */
#include "engine/names.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(names, ids_are_dense_stable_and_exact)
{
    ks_names t = {0};
    enum { N = 100000 };
    char buf[64];
    for (int i = 0; i < N; i++) {
        int n = snprintf(buf, sizeof buf, "24h|orders|s:seg-%d", i);
        cr_assert_eq(ks_names_id(&t, buf, (size_t)n), (uint32_t)i, "first sight gets the next id");
    }
    cr_assert_eq(t.n, (uint32_t)N);
    /* Growth moved the table many times: every id still finds its name. */
    for (int i = 0; i < N; i += 997) {
        int n = snprintf(buf, sizeof buf, "24h|orders|s:seg-%d", i);
        cr_assert_eq(ks_names_id(&t, buf, (size_t)n), (uint32_t)i, "a repeat returns its id");
        cr_assert_eq(ks_names_find(&t, buf, (size_t)n), (uint32_t)i);
        cr_assert_str_eq(ks_names_str(&t, (uint32_t)i), buf);
        cr_assert_eq(t.len[i], (uint32_t)n);
    }
    cr_assert_eq(t.n, (uint32_t)N, "repeats add nothing");
    cr_assert_eq(ks_names_find(&t, "24h|orders|s:seg-", 17), KS_NAMES_NONE);
    cr_assert(ks_names_memory(&t) > (size_t)N * 20);
    ks_names_free(&t);
    cr_assert_eq(t.n, 0u);
}

Test(names, names_are_bytes_not_c_strings)
{
    ks_names t = {0};
    /* Producer names may hold any bytes; a prefix is another name. */
    uint32_t a = ks_names_id(&t, "tp|a\0b", 6);
    uint32_t b = ks_names_id(&t, "tp|a\0c", 6);
    uint32_t c = ks_names_id(&t, "tp|a", 4);
    uint32_t d = ks_names_id(&t, "", 0);
    cr_assert(a != b && b != c && a != c && d != a && d != c);
    cr_assert_eq(ks_names_id(&t, "tp|a\0b", 6), a);
    cr_assert_eq(ks_names_find(&t, "", 0), d);
    cr_assert_eq(memcmp(ks_names_str(&t, b), "tp|a\0c", 7), 0, "stored with a NUL after it");
    ks_names_free(&t);
}
