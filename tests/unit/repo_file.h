/* Reads a file of the repository (path relative to its root) for tests that
 * check code tables against the docs, and any file for the others. The root is found from this test's own
 * __FILE__, so the test runs from any build directory. Returns a malloc'd,
 * NUL-terminated copy (the caller frees it); fails the test if unreadable. */
#ifndef KS_TEST_REPO_FILE_H
#define KS_TEST_REPO_FILE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads the file at path whole: a malloc'd, NUL-terminated copy (the caller
 * frees it), its length in *len if len is not NULL; fails the test if
 * unreadable. */
static inline char *kst_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

static inline char *read_repo_file(const char *rel)
{
    const char *src = __FILE__;
    const char *cut = strstr(src, "tests/unit/");
    cr_assert_not_null(cut, "unexpected __FILE__ %s", src);
    char path[1024];
    snprintf(path, sizeof path, "%.*s%s", (int)(cut - src), src, rel);
    return kst_read_file(path, NULL);
}

#endif
