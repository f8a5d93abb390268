/* `kpistream gen` through ks_gen_main(): files written, reproducibility,
 * exit statuses, and live-mode timestamps. No network. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kpistream/gen.h"
#include "repo_file.h"

static int run(int argc, const char **argv)
{
    return ks_gen_main(argc, (char **)argv);
}

static void tmpname(char *buf, size_t n, const char *tag)
{
    snprintf(buf, n, "/tmp/test_gen_cli_%d_%s", (int)getpid(), tag);
}

static char *slurp(const char *path, size_t *len)
{
    return kst_read_file(path, len);
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

Test(gen_cli, writes_limit_lines_and_labels_reproducibly)
{
    char out1[128], out2[128], lab1[128], lab2[128];
    tmpname(out1, sizeof out1, "o1");
    tmpname(out2, sizeof out2, "o2");
    tmpname(lab1, sizeof lab1, "l1");
    tmpname(lab2, sizeof lab2, "l2");
    const char *a1[] = {"gen",
                        "--seed",
                        "9",
                        "--customers",
                        "700",
                        "--days",
                        "20",
                        "--start-ms",
                        "1767225600000",
                        "--limit",
                        "5000",
                        "--out",
                        out1,
                        "--labels",
                        lab1,
                        "--quiet",
                        "--dup-fraction",
                        "0.01"};
    const char *a2[] = {"gen",
                        "--seed",
                        "9",
                        "--customers",
                        "700",
                        "--days",
                        "20",
                        "--start-ms",
                        "1767225600000",
                        "--limit",
                        "5000",
                        "--out",
                        out2,
                        "--labels",
                        lab2,
                        "--quiet",
                        "--dup-fraction",
                        "0.01"};
    cr_assert_eq(run(sizeof a1 / sizeof *a1, a1), 0);
    cr_assert_eq(run(sizeof a2 / sizeof *a2, a2), 0);
    size_t n1, n2, l1, l2;
    char *o1 = slurp(out1, &n1), *o2 = slurp(out2, &n2);
    char *b1 = slurp(lab1, &l1), *b2 = slurp(lab2, &l2);
    cr_assert_eq(count_lines(o1), 5000);
    cr_assert(n1 == n2 && memcmp(o1, o2, n1) == 0, "two identical runs differ");
    cr_assert_eq(count_lines(b1), 701, "labels: header + one row per customer");
    cr_assert(l1 == l2 && memcmp(b1, b2, l1) == 0);
    cr_assert(strncmp(o1, "{\"event_id\":\"e-9-1\",", 20) == 0, "%.60s", o1);
    free(o1);
    free(o2);
    free(b1);
    free(b2);
    unlink(out1);
    unlink(out2);
    unlink(lab1);
    unlink(lab2);
}

Test(gen_cli, usage_errors_exit_2)
{
    const char *bad_opt[] = {"gen", "--no-such-option"};
    const char *half_kafka[] = {"gen", "--brokers", "localhost:9092"};
    const char *bad_num[] = {"gen", "--customers", "lots"};
    const char *bad_frac[] = {"gen", "--churn-fraction", "1.5"};
    const char *bad_rate[] = {"gen", "--rate", "-3"};
    const char *stray[] = {"gen", "extra"};
    cr_assert_eq(run(2, bad_opt), 2);
    cr_assert_eq(run(3, half_kafka), 2);
    cr_assert_eq(run(3, bad_num), 2);
    cr_assert_eq(run(3, bad_frac), 2);
    cr_assert_eq(run(3, bad_rate), 2);
    cr_assert_eq(run(2, stray), 2);
}

Test(gen_cli, unwritable_output_exits_1)
{
    const char *a[] = {"gen", "--customers", "10",    "--days",
                       "1",   "--quiet",     "--out", "/nonexistent-dir/events.jsonl"};
    cr_assert_eq(run(sizeof a / sizeof *a, a), 1);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(gen_cli, live_mode_stamps_within_history_and_now)
{
    char out[128];
    tmpname(out, sizeof out, "live");
    /* 200 customers make a few hundred events in one day of history; the
     * limit leaves well over a thousand for the live phase. */
    const char *a[] = {"gen",    "--customers", "200",  "--days", "1", "--live", "--rate",
                       "200000", "--limit",     "2500", "--out",  out, "--quiet"};
    int64_t before = now_ms();
    cr_assert_eq(run(sizeof a / sizeof *a, a), 0);
    int64_t after = now_ms();
    size_t n;
    char *s = slurp(out, &n);
    cr_assert_eq(count_lines(s), 2500);
    int64_t prev = INT64_MIN, live = 0;
    for (char *p = strstr(s, "\"ts\":"); p; p = strstr(p + 1, "\"ts\":")) {
        int64_t ts = strtoll(p + 5, NULL, 10);
        cr_assert_geq(ts, prev, "ts goes back");
        prev = ts;
        /* History starts one day before the command; nothing is in the future. */
        cr_assert_geq(ts, before - 86400000LL);
        cr_assert_leq(ts, after, "event ts in the future");
        live += ts >= before;
    }
    cr_assert_gt(live, 1000, "only %lld events after the history", (long long)live);
    free(s);
    unlink(out);
}
