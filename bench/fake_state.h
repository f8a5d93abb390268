/* The group state a flush reads back (<prefix>agg:state), kept in memory for
 * benchmarks that build flushes without a Redis: each built flush's HSET and
 * HDEL of the state are applied here, and the next build reads them as if
 * from HGETALL. Without it every flush after the first saw no token of ours
 * and fenced every partition ("another member of the group wrote it"), and
 * nothing after the first flush was counted. Header-only; bench use only. */
#ifndef KS_BENCH_FAKE_STATE_H
#define KS_BENCH_FAKE_STATE_H

#include "kpistream/batch.h"
#include "kpistream/engine.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake_state {
    char **s;       /* field, value, field, value, ... (owned) */
    size_t *l;
    size_t n, cap;
} fake_state;

static void fake_state_free(fake_state *fs)
{
    for (size_t i = 0; i < fs->n; i++)
        free(fs->s[i]);
    free(fs->s);
    free(fs->l);
    memset(fs, 0, sizeof *fs);
}

static char *fake_state_dup(const char *p, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}

static long fake_state_find(const fake_state *fs, const char *f, size_t fl)
{
    for (size_t i = 0; i + 1 < fs->n; i += 2)
        if (fs->l[i] == fl && memcmp(fs->s[i], f, fl) == 0)
            return (long)i;
    return -1;
}

/* Applies the HSET/HDEL of <prefix>agg:state in b (a built flush). */
static void fake_state_apply(fake_state *fs, const ks_batch *b, const char *prefix)
{
    char key[256];
    size_t kl = (size_t)snprintf(key, sizeof key, "%sagg:state", prefix);
    const char **argv = NULL;
    size_t *lens = NULL, cap = 0;
    for (size_t c = 0; c < b->ncmds; c++) {
        size_t to = ks_batch_argc(b, c);
        if (to > cap) {
            cap = to * 2;
            argv = realloc(argv, cap * sizeof *argv);
            lens = realloc(lens, cap * sizeof *lens);
            if (!argv || !lens)
                abort();
        }
        ks_batch_get(b, c, argv, lens, to);
        if (to < 3 || lens[1] != kl || memcmp(argv[1], key, kl) != 0)
            continue;
        bool set = lens[0] == 4 && memcmp(argv[0], "HSET", 4) == 0;
        bool del = lens[0] == 4 && memcmp(argv[0], "HDEL", 4) == 0;
        for (size_t a = 2; (set && a + 1 < to) || (del && a < to); a += set ? 2 : 1) {
            const char *f = argv[a];
            size_t fl = lens[a];
            long at = fake_state_find(fs, f, fl);
            if (del) {
                if (at >= 0) { /* move the last pair into its place */
                    free(fs->s[at]);
                    free(fs->s[at + 1]);
                    fs->s[at] = fs->s[fs->n - 2], fs->l[at] = fs->l[fs->n - 2];
                    fs->s[at + 1] = fs->s[fs->n - 1], fs->l[at + 1] = fs->l[fs->n - 1];
                    fs->n -= 2;
                }
                continue;
            }
            const char *v = argv[a + 1];
            size_t vl = lens[a + 1];
            if (at >= 0) {
                free(fs->s[at + 1]);
                fs->s[at + 1] = fake_state_dup(v, vl), fs->l[at + 1] = vl;
                continue;
            }
            if (fs->n + 2 > fs->cap) {
                fs->cap = fs->cap ? fs->cap * 2 : 256;
                fs->s = realloc(fs->s, fs->cap * sizeof *fs->s);
                fs->l = realloc(fs->l, fs->cap * sizeof *fs->l);
                if (!fs->s || !fs->l)
                    abort();
            }
            fs->s[fs->n] = fake_state_dup(f, fl), fs->l[fs->n++] = fl;
            fs->s[fs->n] = fake_state_dup(v, vl), fs->l[fs->n++] = vl;
        }
    }
    free(argv);
    free(lens);
}

/* Builds a flush from the state as read back, and applies what it writes. */
static int fake_state_build(fake_state *fs, ks_engine *e, ks_batch *b, int64_t wall_ms,
                            const char *prefix)
{
    int rc = ks_engine_build_flush(e, (const char *const *)fs->s, fs->l, fs->n, b, wall_ms, NULL, 0);
    if (rc == 0)
        fake_state_apply(fs, b, prefix);
    return rc;
}

#endif
