/* A prefix holds one consumer group's sums, counted one way: a second group
 * on it, or a member with other counting settings, would add to those sums
 * and corrupt them silently. kpistream must refuse to start instead, name
 * the mismatch, exit 1, and leave the outputs as they were. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kst_redis redis;
static kst_kafka kafka;
static char dir[256];

static void setup(void)
{
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_start(&redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&kafka, "events", 2), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&kafka, "events.dlq", 1), 0, "%s", kst_last_error());
    for (int i = 0; i < 20; i++) {
        char ev[256], key[16];
        snprintf(key, sizeof key, "c%d", i % 5);
        snprintf(ev, sizeof ev,
                 "{\"event_id\":\"e%d\",\"type\":\"interaction\",\"customer_id\":\"%s\","
                 "\"ts\":%lld,\"channel\":\"web\"}",
                 i, key, 1795000000000LL + i * 1000);
        cr_assert_eq(kst_kafka_produce(&kafka, "events", i % 2, key, strlen(key), ev, strlen(ev)), 0,
                     "%s", kst_last_error());
    }
    cr_assert_eq(kst_kafka_flush(&kafka, 10000), 0, "%s", kst_last_error());
}

static void teardown(void)
{
    kst_redis_stop(&redis);
    kst_kafka_stop(&kafka);
    if (dir[0])
        kst_rmtree(dir);
}

TestSuite(prefix_claim, .init = setup, .fini = teardown, .timeout = 120);

/* Runs kpistream to the end of the topic; returns its exit status and the log. */
static int run(const char *group, const char *windows, const char *log_name, char **log)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, log_name);
    /* clang-format off */
    char *argv[] = {(char *)kst_binary(), "run",
                    "--brokers", kafka.bootstraps, "--topics", "events", "--group", (char *)group,
                    "--redis", (char *)kst_redis_url(&redis), "--clock", "event", "--exit-on-eof",
                    "--windows", (char *)windows,
                    "--kafka.session.timeout.ms", "6000", NULL};
    /* clang-format on */
    kst_proc p;
    memset(&p, 0, sizeof p);
    cr_assert_eq(kst_proc_spawn(&p, argv, path), 0, "%s", kst_last_error());
    int status = -1;
    cr_assert_eq(kst_proc_wait(&p, 60000, &status), 0, "kpistream did not exit within 60 s");
    *log = kst_read_file(path, NULL);
    cr_assert_not_null(*log);
    return status;
}

Test(prefix_claim, second_group_and_other_windows_are_refused)
{
    char *log;
    cr_assert_eq(run("owner", "1h,24h", "first.log", &log), 0, "%s", log);
    redisContext *c = kst_redis_connect(&redis);
    cr_assert_not_null(c);
    long long n = kst_redis_hget_ll(c, "kpi:meta", "events_processed", -1);
    cr_assert_eq(n, 20, "events_processed %lld; log:\n%s", n, log);
    free(log);
    char *before = kst_redis_dump(c, "kpi:*", NULL);
    cr_assert_not_null(before);

    cr_assert_eq(run("intruder", "1h,24h", "second.log", &log), 1, "%s", log);
    cr_assert_not_null(strstr(log, "holds the outputs of consumer group 'owner', not 'intruder'"),
                       "%s", log);
    free(log);

    cr_assert_eq(run("owner", "1h,7d", "third.log", &log), 1, "%s", log);
    cr_assert_not_null(strstr(log, "another configuration"), "%s", log);
    cr_assert_not_null(strstr(log, "windows=1h,24h"), "names what the prefix holds: %s", log);
    free(log);

    /* Nothing was added to the owner's outputs. */
    char *after = kst_redis_dump(c, "kpi:*", NULL);
    cr_assert_not_null(after);
    cr_assert_str_eq(after, before);
    free(before);
    free(after);

    /* The owner itself, unchanged, runs on. */
    cr_assert_eq(run("owner", "1h,24h", "fourth.log", &log), 0, "%s", log);
    free(log);
    cr_assert_eq(kst_redis_hget_ll(c, "kpi:meta", "events_processed", -1), 20);
    redisFree(c);
}
