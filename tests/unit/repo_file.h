/* Reads a file of the repository (path relative to its root) for tests that
 * check code tables against the docs. The root is found from this test's own
 * __FILE__, so the test runs from any build directory. Returns a malloc'd,
 * NUL-terminated copy (the caller frees it); fails the test if unreadable. */
#ifndef KS_TEST_REPO_FILE_H
#define KS_TEST_REPO_FILE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *read_repo_file(const char *rel)
{
    const char *src = __FILE__;
    const char *cut = strstr(src, "tests/unit/");
    cr_assert_not_null(cut, "unexpected __FILE__ %s", src);
    char path[1024];
    snprintf(path, sizeof path, "%.*s%s", (int)(cut - src), src, rel);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    cr_assert_not_null(buf);
    cr_assert_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

#endif
