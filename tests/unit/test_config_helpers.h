/* Shared by the test_config_*.c files: a private temp dir per test and small
 * assertion helpers for error messages. */
#ifndef KS_TEST_CONFIG_HELPERS_H
#define KS_TEST_CONFIG_HELPERS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kpistream/config.h"
#include "kpistream/err.h"

static char ks_t_dir[64] __attribute__((unused));

static inline void ks_t_mkdir(void)
{
    snprintf(ks_t_dir, sizeof ks_t_dir, "/tmp/ks_config_test_XXXXXX");
    cr_assert_not_null(mkdtemp(ks_t_dir), "mkdtemp failed");
}

static inline void ks_t_rmdir(void)
{
    DIR *d = opendir(ks_t_dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", ks_t_dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(ks_t_dir);
}

/* Writes text to <tmpdir>/<name>; the path goes into path (n bytes) and is returned. */
static inline const char *ks_t_write(const char *name, const char *text, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", ks_t_dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Asserts that errstr contains each of the given fragments. */
#define KS_T_ERR_HAS(errstr, ...)                                                                  \
    do {                                                                                           \
        const char *ks_t_frags[] = {__VA_ARGS__};                                                  \
        for (size_t ks_t_i = 0; ks_t_i < sizeof ks_t_frags / sizeof ks_t_frags[0]; ks_t_i++)       \
            cr_expect(strstr((errstr), ks_t_frags[ks_t_i]) != NULL,                                \
                      "error \"%s\" should contain \"%s\"", (errstr), ks_t_frags[ks_t_i]);         \
    } while (0)

#endif
