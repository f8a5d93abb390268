/* The helper subcommands as users run them: `kpistream mock-broker` as a child
 * process used by a real producer and consumer, and `kpistream watch` against
 * a private redis-server holding contract-shaped keys. */
#include "harness.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct file_has {
    const char *path;
    const char *needle; /* NULL: any non-empty content */
} file_has;

static int file_has_cond(void *ctx)
{
    file_has *f = ctx;
    size_t len = 0;
    if (access(f->path, F_OK) != 0) /* not yet: keep kst_read_file from complaining */
        return 0;
    char *text = kst_read_file(f->path, &len);
    int ok = text && len > 0 && (!f->needle || strstr(text, f->needle));
    free(text);
    return ok;
}

static int count_cb(const kst_msg *m, void *ctx)
{
    int *n = ctx;
    if (m->len == 8 && memcmp(m->value, "payload-", 8) == 0)
        ++*n;
    return 0;
}

Test(mock_broker, serves_producer_and_consumer_then_exits_on_sigterm, .timeout = 120)
{
    char dir[256], bs[300], log[300];
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    snprintf(bs, sizeof bs, "%s/bootstrap.txt", dir);
    snprintf(log, sizeof log, "%s/mock.log", dir);
    char *argv[] = {(char *)kst_binary(), "mock-broker", "--brokers", "2", "--topic", "t1:3",
                    "--topic", "t2:1", "--bootstrap-file", bs, NULL};
    kst_proc p;
    cr_assert_eq(kst_proc_spawn(&p, argv, log), 0);
    file_has fh = {bs, "\n"};
    if (kst_wait_until(file_has_cond, &fh, 20000) != 0) {
        kst_log_tail(log, 30);
        cr_assert_fail("no bootstrap file");
    }
    char *boot = kst_read_file(bs, NULL);
    cr_assert_not_null(boot);
    boot[strcspn(boot, "\n")] = '\0';
    cr_assert_not_null(strstr(boot, "127.0.0.1:"), "bootstraps \"%s\"", boot);
    cr_assert_not_null(strchr(boot, ','), "two brokers expected in \"%s\"", boot);
    /* The same line went to stdout. */
    char *out = kst_read_file(log, NULL);
    cr_assert_not_null(out);
    cr_assert_not_null(strstr(out, boot));
    free(out);

    kst_kafka k;
    cr_assert_eq(kst_kafka_attach(&k, boot), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_partition_count(&k, "t1"), 3);
    cr_assert_eq(kst_kafka_partition_count(&k, "t2"), 1);
    cr_assert_eq(kst_kafka_create_topic(&k, "x", 1), -1, "attached: no mock-internal API");
    for (int i = 0; i < 100; i++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "c%d", i % 13);
        cr_assert_eq(kst_kafka_produce(&k, "t1", -1, key, (size_t)kl, "payload-", 8), 0);
    }
    cr_assert_eq(kst_kafka_flush(&k, 20000), 0, "%s", kst_last_error());
    int n = 0;
    cr_assert_eq(kst_kafka_consume_all(&k, "t1", 30000, count_cb, &n), 100);
    cr_assert_eq(n, 100);
    kst_kafka_stop(&k);
    free(boot);

    kst_proc_kill(&p, SIGTERM);
    int st = -1;
    cr_assert_eq(kst_proc_wait(&p, 20000, &st), 0, "mock-broker ignored SIGTERM");
    if (st != 0)
        kst_log_tail(log, 30);
    cr_assert_eq(st, 0);
    cr_assert_eq(access(bs, F_OK), -1, "bootstrap file left behind after exit");
    kst_rmtree(dir);
}

static int run_status(char *const argv[])
{
    kst_proc p;
    cr_assert_eq(kst_proc_spawn(&p, argv, "/dev/null"), 0);
    int st = -1;
    cr_assert_eq(kst_proc_wait(&p, 20000, &st), 0);
    return st;
}

Test(mock_broker, usage_errors_exit_2)
{
    const char *bin = kst_binary();
    char *bad_topic[] = {(char *)bin, "mock-broker", "--topic", "nopartitions", NULL};
    char *bad_count[] = {(char *)bin, "mock-broker", "--brokers", "0", NULL};
    char *extra[] = {(char *)bin, "mock-broker", "stray", NULL};
    cr_assert_eq(run_status(bad_topic), 2);
    cr_assert_eq(run_status(bad_count), 2);
    cr_assert_eq(run_status(extra), 2);
    char *help[] = {(char *)bin, "mock-broker", "--help", NULL};
    cr_assert_eq(run_status(help), 0);
}

/* ---------------- watch ---------------- */

static int64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    cr_assert_not_null(r, "%s", c->errstr);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "%s", r->str);
    freeReplyObject(r);
}

/* Returns the line of text starting with prefix (copied into buf), or NULL. */
static const char *line_of(const char *text, const char *prefix, char *buf, size_t n)
{
    for (const char *p = text; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            snprintf(buf, n, "%.*s", (int)len, p);
            return buf;
        }
        p = nl ? nl + 1 : NULL;
    }
    return NULL;
}

Test(watch, once_shows_contract_keys_and_dashes, .timeout = 60)
{
    kst_redis r;
    cr_assert_eq(kst_redis_start(&r), 0);
    redisContext *c = kst_redis_connect(&r);
    cr_assert_not_null(c);
    /* db 2 and prefix t: to check both are honoured */
    cmd(c, "SELECT 2");
    cmd(c, "HSET t:meta events_processed 4242 events_rejected 17 duplicates 5");
    cmd(c, "HSET t:global events:1h 11 events:30d 4242 revenue:30d 999.50 clv:30d 77.25 "
           "aov:1h 9.75");
    cmd(c, "HSET t:segment:smb revenue:24h 123.40 active_customers:24h 31");
    cmd(c, "HSET t:segment:enterprise revenue:24h 555 active_customers:24h 4");
    cmd(c, "ZADD t:risk 12 low-guy 88.5 top-guy 40 mid-guy");
    cmd(c, "HSET t:customer:top-guy risk_level high risk_reasons inactivity,payment_failures");
    cmd(c, "XADD t:alerts * customer_id top-guy score 88.5");
    /* other prefix / db must not leak in */
    cmd(c, "HSET kpi:meta events_processed 1");
    redisFree(c);

    char dir[256], log[300], url[96];
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    snprintf(log, sizeof log, "%s/watch.log", dir);
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/2", r.port);
    char *argv[] = {(char *)kst_binary(), "watch", "--redis", url, "--prefix", "t:", "--once",
                    NULL};
    kst_proc p;
    cr_assert_eq(kst_proc_spawn(&p, argv, log), 0);
    int st = -1;
    cr_assert_eq(kst_proc_wait(&p, 20000, &st), 0);
    cr_assert_eq(st, 0);
    char *text = kst_read_file(log, NULL);
    cr_assert_not_null(text);

    char line[512];
    cr_assert_not_null(line_of(text, "events processed", line, sizeof line), "%s", text);
    cr_assert_not_null(strstr(line, "4242"), "%s", line);
    cr_assert_not_null(strstr(line, "rejected 17"), "%s", line);
    cr_assert_not_null(strstr(line, "duplicates 5"), "%s", line);

    /* header row lists the windows found, shortest first */
    cr_assert_not_null(line_of(text, "KPI ", line, sizeof line), "%s", text);
    cr_assert_lt(strstr(line, "1h") - line, strstr(line, "30d") - line);
    cr_assert_null(strstr(line, "24h"), "no 24h data, no 24h column: %s", line);

    cr_assert_not_null(line_of(text, "events   ", line, sizeof line), "%s", text);
    cr_assert_not_null(strstr(line, "11"));
    cr_assert_not_null(strstr(line, "4242"));
    cr_assert_not_null(line_of(text, "clv", line, sizeof line));
    cr_assert_not_null(strstr(line, "77.25"));
    cr_assert_not_null(strstr(line, "-"), "clv has no 1h value: %s", line);
    cr_assert_not_null(line_of(text, "complaint_rate", line, sizeof line));
    char k1[32], a[32], b[32];
    cr_assert_eq(sscanf(line, "%31s %31s %31s", k1, a, b), 3, "%s", line);
    cr_assert_str_eq(a, "-");
    cr_assert_str_eq(b, "-");

    cr_assert_not_null(line_of(text, "smb", line, sizeof line), "%s", text);
    cr_assert_not_null(strstr(line, "123.40"));
    cr_assert_not_null(strstr(line, "31"));
    cr_assert_not_null(line_of(text, "enterprise", line, sizeof line));
    cr_assert_not_null(strstr(line, "555"));

    cr_assert_not_null(line_of(text, "at-risk customers 3", line, sizeof line), "%s", text);
    const char *top = strstr(text, "top-guy"), *mid = strstr(text, "mid-guy"),
               *low = strstr(text, "low-guy");
    cr_assert(top && mid && low, "%s", text);
    cr_assert(top < mid && mid < low, "risk not ordered by score:\n%s", text);
    cr_assert_not_null(strstr(text, "inactivity,payment_failures"));
    cr_assert_not_null(strstr(text, "customer_id=top-guy score=88.5"), "%s", text);
    free(text);
    kst_rmtree(dir);
    kst_redis_stop(&r);
}

Test(watch, once_fails_without_redis)
{
    int port = kst_free_port();
    cr_assert_gt(port, 0);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", port);
    char *argv[] = {(char *)kst_binary(), "watch", "--redis", url, "--once", NULL};
    cr_assert_eq(run_status(argv), 1);
    char *bad[] = {(char *)kst_binary(), "watch", "--redis", "http://x", "--once", NULL};
    cr_assert_eq(run_status(bad), 2);
}

Test(watch, rate_from_flush_samples_and_sigint, .timeout = 60)
{
    kst_redis r;
    cr_assert_eq(kst_redis_start(&r), 0);
    redisContext *c = kst_redis_connect(&r);
    cr_assert_not_null(c);
    int64_t t0 = wall_ms() - 2000;
    cmd(c, "HSET kpi:meta events_processed 1000 updated_at_ms %lld", (long long)t0);

    char dir[256], log[300];
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    snprintf(log, sizeof log, "%s/watch.log", dir);
    char *argv[] = {(char *)kst_binary(), "watch", "--redis", (char *)kst_redis_url(&r),
                    "--interval-ms", "100", NULL};
    kst_proc p;
    cr_assert_eq(kst_proc_spawn(&p, argv, log), 0);
    file_has first = {log, "events processed 1000"};
    cr_assert_eq(kst_wait_until(file_has_cond, &first, 20000), 0);
    /* A flush 2 s (of pipeline time) later with 2000 more events: 1000/s. */
    cmd(c, "HSET kpi:meta events_processed 3000 updated_at_ms %lld", (long long)(t0 + 2000));
    file_has rate = {log, "events/s 1000\n"};
    if (kst_wait_until(file_has_cond, &rate, 20000) != 0) {
        kst_log_tail(log, 40);
        cr_assert_fail("no events/s 1000");
    }
    kst_proc_kill(&p, SIGINT);
    int st = -1;
    cr_assert_eq(kst_proc_wait(&p, 10000, &st), 0);
    cr_assert_eq(st, 0);
    redisFree(c);
    kst_rmtree(dir);
    kst_redis_stop(&r);
}
