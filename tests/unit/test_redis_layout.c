/* ks_layout_risk / ks_layout_risks_emit: a flush's changes of the at-risk
 * ranking leave as multi-member ZADDs and ZREMs, and they say exactly what
 * one command per customer said: every customer once, in the command of its
 * kind, with its score, nothing else. Checked against the list given, over
 * random mixes and sizes around the per-command limit. */
#include <criterion/criterion.h>

#include "kpistream/batch.h"
#include "kpistream/layout.h"
#include "xorshift.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 2600

static char ids[MAXN][16];
static unsigned scores[MAXN];

/* What the batch's commands say, member by member: seen[i] is 1 + the score
 * given for customer i in a ZADD, or -1 for a ZREM (0: absent). */
static void decode(const ks_batch *b, int n, long *seen, size_t *largest)
{
    memset(seen, 0, (size_t)n * sizeof *seen);
    *largest = 0;
    for (size_t c = 0; c < b->ncmds; c++) {
        size_t argc = ks_batch_argc(b, c);
        const char **argv = malloc(argc * sizeof *argv);
        size_t *lens = malloc(argc * sizeof *lens);
        cr_assert(argv && lens);
        cr_assert_eq(ks_batch_get(b, c, argv, lens, argc), argc);
        cr_assert(argc >= 3);
        cr_assert(lens[1] == 6 && memcmp(argv[1], "p:risk", 6) == 0, "command %zu: key", c);
        bool add = lens[0] == 4 && memcmp(argv[0], "ZADD", 4) == 0;
        cr_assert(add || (lens[0] == 4 && memcmp(argv[0], "ZREM", 4) == 0), "command %zu", c);
        size_t step = add ? 2 : 1, members = (argc - 2) / step;
        cr_assert_eq((argc - 2) % step, 0);
        if (members > *largest)
            *largest = members;
        for (size_t a = 2; a < argc; a += step) {
            long score = 0;
            if (add) {
                char num[24];
                cr_assert(lens[a] < sizeof num);
                memcpy(num, argv[a], lens[a]);
                num[lens[a]] = '\0';
                score = strtol(num, NULL, 10);
            }
            const char *m = argv[a + step - 1];
            size_t ml = lens[a + step - 1];
            int i = -1;
            cr_assert(ml > 2 && sscanf(m, "c-%d", &i) == 1 && i >= 0 && i < n,
                      "member %.*s", (int)ml, m);
            cr_assert_eq(seen[i], 0, "customer %d twice", i);
            seen[i] = add ? 1 + score : -1;
        }
        free(argv);
        free(lens);
    }
}

Test(layout, gathered_risk_changes_say_what_one_command_each_said)
{
    uint64_t rng = 0x2545F4914F6CDD1Du;
    static const int sizes[] = {0, 1, 2, 999, 1000, 1001, 1999, 2000, 2001, MAXN};
    static long seen[MAXN];
    ks_layout_risks r = {0};
    for (int trial = 0; trial < 40; trial++) {
        int n = trial < 10 ? sizes[trial] : (int)(kst_xorshift(&rng) % MAXN);
        /* Mixes from all removals to all additions. */
        unsigned zero_pct = (unsigned)(kst_xorshift(&rng) % 101);
        ks_batch b;
        ks_batch_init(&b);
        for (int i = 0; i < n; i++) {
            snprintf(ids[i], sizeof ids[i], "c-%d", i);
            scores[i] = kst_xorshift(&rng) % 100 < zero_pct ? 0 : 1 + (unsigned)(kst_xorshift(&rng) % 100);
            ks_layout_risk(&r, &b, "p:", ids[i], strlen(ids[i]), scores[i]);
        }
        cr_assert_eq(b.ncmds, 0, "nothing is written before the emit");
        ks_layout_risks_emit(&r, &b, "p:");
        cr_assert_eq(r.n, 0);
        cr_assert_eq(b.failed, 0);
        size_t largest;
        decode(&b, n, seen, &largest);
        int adds = 0;
        for (int i = 0; i < n; i++) {
            long want = scores[i] ? 1 + (long)scores[i] : -1;
            cr_assert_eq(seen[i], want, "trial %d customer %d: %ld, want %ld", trial, i, seen[i], want);
            adds += scores[i] > 0;
        }
        cr_assert(largest <= 1000, "a command of %zu members", largest);
        /* Whole commands of 1000, then the rest, for each kind. */
        size_t want_cmds = (size_t)(adds + 999) / 1000 + (size_t)(n - adds + 999) / 1000;
        cr_assert_eq(b.ncmds, want_cmds, "trial %d: %zu commands for %d adds, %d removals", trial,
                     b.ncmds, adds, n - adds);
        ks_batch_reset(&b);
    }
    ks_layout_risks_free(&r);
}
