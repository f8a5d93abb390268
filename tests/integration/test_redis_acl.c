/* Least privilege in Redis and secrets (issue 14): the real binary, a mock
 * Kafka cluster and private redis-servers with the ACL users of
 * docs/security.md.
 *
 * - `run` as the restricted user (its password from redis_password_file)
 *   writes exactly what a run as the default user writes over the same stream
 *   (whole kpi:* dumps compared), so the user's command list is complete,
 *   scripts included;
 * - a user without one command `run` needs (pfmerge; or eval) makes the run
 *   exit with status 5 within seconds, naming the refused command, instead of
 *   retrying forever;
 * - `watch` works as the read-only users, which cannot write;
 * - no password appears in a run's log, in check-config output or in an
 *   error message;
 * - kafka.sasl.* settings reach librdkafka (the mock cluster has no SASL
 *   handshake, so the handshake itself fails; see docs/security.md) and the
 *   SASL password is not logged.
 * The ACL rules are spelt here exactly as in docs/security.md, and the test
 * checks that the page still holds them. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TOPIC "events"
#define PARTS 4
#define GROUP "acl-group"
#define RUN_TIMEOUT_MS 120000

/* docs/security.md, "Redis ACL users". */
#define KEYS_RUN "resetkeys ~kpi:* resetchannels &kpi:*"
#define RULES_RUN                                                                                  \
    "-@all +ping +select +watch +multi +exec +hgetall +hmget +hget +hset +hdel +del +zadd "       \
    "+zrem +zremrangebyscore +xadd +publish +pfadd +pfmerge +eval +hexists +hlen"
#define KEYS_WATCH "resetkeys %R~kpi:* resetchannels"
#define RULES_WATCH "-@all +ping +select +hgetall +hmget +scan +zcard +zrevrange +xrevrange"
#define KEYS_DASHBOARD "resetkeys %R~kpi:* resetchannels &kpi:*"
#define RULES_DASHBOARD "-@all +@read +@connection +subscribe -@dangerous"

#define RUN_PW "run-Secret-7f3a"
#define WATCH_PW "watch-Secret-91c2"
#define NOPF_PW "nopf-Secret-5d0e"
#define DASH_PW "dash-Secret-44b1"

static struct {
    char dir[256];
    kst_stream st;
    kst_redis redis[2];
    kst_kafka kafka[2];
    kst_proc proc;
    bool finished;
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
}

static void teardown(void)
{
    if (g.proc.pid && !g.proc.exited)
        kst_proc_stop(&g.proc, 5000);
    if (!g.finished && g.proc.log_path[0])
        kst_log_tail(g.proc.log_path, 60);
    for (int i = 0; i < 2; i++) {
        kst_redis_stop(&g.redis[i]);
        kst_kafka_stop(&g.kafka[i]);
    }
    if (g.dir[0])
        kst_rmtree(g.dir);
}

TestSuite(redis_acl, .init = setup, .fini = teardown, .timeout = 300);

/* Runs ACL SETUSER name on >pw <keys> <rules> (each a space-separated list). */
static void acl_setuser(redisContext *c, const char *name, const char *pw, const char *keys,
                        const char *rules)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "ACL SETUSER %s on >%s %s %s", name, pw, keys, rules);
    const char *argv[64];
    int argc = 0;
    for (char *t = strtok(buf, " "); t && argc < 64; t = strtok(NULL, " "))
        argv[argc++] = t;
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    cr_assert_not_null(r, "%s", c->errstr);
    cr_assert_neq(r->type, REDIS_REPLY_ERROR, "ACL SETUSER %s: %s", name, r->str);
    freeReplyObject(r);
}

static void start_redis(int i)
{
    cr_assert_eq(kst_redis_start(&g.redis[i]), 0, "%s", kst_last_error());
}

/* The stream (small: four partitions, a few thousand events, dead letters
 * and duplicates), produced to cluster i. */
static void start_kafka(int i)
{
    if (!g.st.lines) {
        static const char *const gen[] = {"--customers", "150", "--days", "12", "--seed", "14",
                                          "--dup-fraction", "0.01", NULL};
        cr_assert_eq(kst_stream_make(&g.st, g.dir, gen, 311), 0, "%s", kst_last_error());
        cr_assert_gt(g.st.bad, 2);
    }
    cr_assert_eq(kst_kafka_start(&g.kafka[i], 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka[i], TOPIC, PARTS), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka[i], TOPIC ".dlq", 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_produce_keyed(&g.kafka[i], TOPIC, g.st.path, 250), g.st.lines, "%s",
                 kst_last_error());
    cr_assert_eq(kst_kafka_flush(&g.kafka[i], 30000), 0, "%s", kst_last_error());
}

/* Writes text to <dir>/<name>; the path goes to path. */
static void write_file(const char *name, const char *text, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", g.dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Starts `kpistream run` on cluster k with the given --redis URL and more
 * arguments (NULL-terminated, may be NULL); log into <dir>/<tag>.log. */
static void spawn_run(int k, const char *url, const char *tag, const char *const *more)
{
    char log[512];
    snprintf(log, sizeof log, "%s/%s.log", g.dir, tag);
    const char *const argv[] = {"run",         "--brokers",           g.kafka[k].bootstraps,
                                "--topics",    TOPIC,                 "--group",
                                GROUP,         "--redis",             url,
                                "--clock",     "event",               "--exit-on-eof",
                                "--flush-interval-ms", "200",         "--set",
                                "metrics_listen=",                    NULL};
    memset(&g.proc, 0, sizeof g.proc);
    cr_assert_eq(kst_kpistream_spawn(&g.proc, log, argv, more), 0, "%s", kst_last_error());
}

static int wait_status(int timeout_ms)
{
    int st = -1;
    if (kst_proc_wait(&g.proc, timeout_ms, &st) != 0) {
        kst_log_tail(g.proc.log_path, 60);
        cr_assert_fail("kpistream did not exit within %d ms", timeout_ms);
    }
    return st;
}

static void expect_file_lacks(const char *path, const char *secret)
{
    cr_expect_eq(kst_file_contains(path, secret), 0, "%s holds the password %s", path, secret);
}

static long long meta(int i, const char *field)
{
    return kst_redis_field_ll(&g.redis[i], "kpi:meta", field, -1);
}

Test(redis_acl, docs_hold_the_rules_tested_here)
{
    /* __FILE__ is this file's absolute path (CMake compiles with absolute paths). */
    char path[1024];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(path, sizeof path, "%.*s/../../docs/security.md", (int)(slash - __FILE__), __FILE__);
    char *doc = kst_read_file(path, NULL);
    cr_assert_not_null(doc, "%s", kst_last_error());
    const char *want[] = {KEYS_RUN " " RULES_RUN, KEYS_WATCH " " RULES_WATCH,
                          KEYS_DASHBOARD " " RULES_DASHBOARD};
    for (size_t i = 0; i < 3; i++)
        cr_expect_not_null(strstr(doc, want[i]), "docs/security.md lacks \"%s\"", want[i]);
    free(doc);
    g.finished = true;
}

Test(redis_acl, run_as_restricted_user_writes_what_the_default_user_writes)
{
    /* Baseline: default user, no ACL. */
    start_redis(0);
    start_kafka(0);
    spawn_run(0, kst_redis_url(&g.redis[0]), "baseline", NULL);
    cr_assert_eq(wait_status(RUN_TIMEOUT_MS), 0);
    long long processed = meta(0, "events_processed");
    cr_assert_eq(processed + meta(0, "events_rejected") + meta(0, "duplicates"), g.st.lines);
    cr_assert_eq(meta(0, "events_rejected"), g.st.bad);

    /* The restricted user, its password in a file. */
    start_redis(1);
    start_kafka(1);
    redisContext *c = kst_redis_connect(&g.redis[1]);
    cr_assert_not_null(c);
    acl_setuser(c, "kpistream", RUN_PW, KEYS_RUN, RULES_RUN);
    acl_setuser(c, "kpi-watch", WATCH_PW, KEYS_WATCH, RULES_WATCH);
    acl_setuser(c, "kpi-dashboard", DASH_PW, KEYS_DASHBOARD, RULES_DASHBOARD);
    char pwfile[512], url[128];
    write_file("run.pw", RUN_PW "\n", pwfile, sizeof pwfile);
    snprintf(url, sizeof url, "redis://kpistream@127.0.0.1:%d/0", g.redis[1].port);
    const char *const more[] = {"--redis-password-file", pwfile, NULL};
    spawn_run(1, url, "restricted", more);
    int st = wait_status(RUN_TIMEOUT_MS);
    if (st != 0)
        kst_log_tail(g.proc.log_path, 60);
    cr_assert_eq(st, 0, "run as the ACL user exited %d", st);
    cr_assert_eq(kst_file_contains(g.proc.log_path, "NOPERM"), 0, "a command was refused");
    cr_assert_eq(kst_file_contains(g.proc.log_path, "retrying"), 0, "a retry happened");
    expect_file_lacks(g.proc.log_path, RUN_PW);
    cr_assert_eq(meta(1, "events_processed"), processed);
    cr_assert_eq(meta(1, "events_rejected"), g.st.bad);

    /* Same output, byte for byte (alerts, triggers and pub/sub scripts included). */
    char *want = kst_redis_dump_kpi(&g.redis[0]);
    char *got = kst_redis_dump_kpi(&g.redis[1]);
    cr_assert(want && got, "%s", kst_last_error());
    cr_assert_eq(kst_dump_compare(want, got, "ACL user vs default user", 40), 0, "%s",
                 kst_last_error());
    /* Alerts and triggers are written by the notice script (EVAL: ZADD, XADD, PUBLISH). */
    cr_assert(strstr(got, "kpi:alerts stream\n") || strstr(got, "kpi:triggers stream\n"),
              "no notice stream: the script never ran");
    free(want);
    free(got);

    /* The run user cannot reach outside its prefix. */
    redisReply *r = redisCommand(c, "AUTH kpistream %s", RUN_PW);
    cr_assert(r && r->type != REDIS_REPLY_ERROR);
    freeReplyObject(r);
    r = redisCommand(c, "SET other:key 1");
    cr_assert(r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "NOPERM"), "SET outside kpi:*");
    freeReplyObject(r);
    r = redisCommand(c, "FLUSHDB");
    cr_assert(r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "NOPERM"), "FLUSHDB");
    freeReplyObject(r);

    /* The read-only users: watch works, writes are refused. */
    const char *users[][2] = {{"kpi-watch", WATCH_PW}, {"kpi-dashboard", DASH_PW}};
    for (int u = 0; u < 2; u++) {
        char log[512], pw2[512], wurl[128];
        snprintf(log, sizeof log, "%s/watch-%d.log", g.dir, u);
        write_file(u ? "dash.pw" : "watch.pw", users[u][1], pw2, sizeof pw2);
        snprintf(wurl, sizeof wurl, "redis://%s@127.0.0.1:%d/0", users[u][0], g.redis[1].port);
        char *argv[] = {(char *)kst_binary(), "watch", "--redis", wurl, "--redis-password-file",
                        pw2, "--once", NULL};
        kst_proc p;
        cr_assert_eq(kst_proc_spawn(&p, argv, log), 0);
        int ws = -1;
        cr_assert_eq(kst_proc_wait(&p, 20000, &ws), 0);
        if (ws != 0)
            kst_log_tail(log, 30);
        cr_assert_eq(ws, 0, "watch as %s", users[u][0]);
        char n[32];
        snprintf(n, sizeof n, "%lld", processed);
        cr_expect_eq(kst_file_contains(log, n), 1, "watch as %s shows %s events", users[u][0], n);
        expect_file_lacks(log, users[u][1]);
        r = redisCommand(c, "AUTH %s %s", users[u][0], users[u][1]);
        cr_assert(r && r->type != REDIS_REPLY_ERROR);
        freeReplyObject(r);
        r = redisCommand(c, "HSET kpi:meta events_processed 0");
        cr_assert(r && r->type == REDIS_REPLY_ERROR && strstr(r->str, "NOPERM"),
                  "%s may write", users[u][0]);
        freeReplyObject(r);
    }
    redisFree(c);
    g.finished = true;
}

/* A user that lacks one command run needs: exit 5 within seconds, naming the
 * command when Redis does (a command run by a script is refused without its
 * name on Redis 7.0: "The user executing the script can't run this command"). */
static void lacking(const char *cmd, bool in_script)
{
    start_redis(0);
    start_kafka(0);
    redisContext *c = kst_redis_connect(&g.redis[0]);
    cr_assert_not_null(c);
    char rules[512];
    snprintf(rules, sizeof rules, "%s -%s", RULES_RUN, cmd);
    acl_setuser(c, "kpi-lacking", NOPF_PW, KEYS_RUN, rules);
    redisFree(c);
    char url[160];
    /* The password in the URL this time: it must not reach the log either. */
    snprintf(url, sizeof url, "redis://kpi-lacking:%s@127.0.0.1:%d/0", NOPF_PW, g.redis[0].port);
    int64_t t0 = kst_now_ms();
    spawn_run(0, url, "lacking", NULL);
    int st = wait_status(60000);
    int64_t took = kst_now_ms() - t0;
    if (st != 5)
        kst_log_tail(g.proc.log_path, 60);
    cr_assert_eq(st, 5, "exit status %d, not 5 (NOPERM)", st);
    cr_expect_lt(took, 30000, "took %lld ms", (long long)took);
    if (in_script) {
        cr_assert(kst_file_contains(g.proc.log_path, "NOPERM") ||
                      kst_file_contains(g.proc.log_path, "The user executing the script can't"),
                  "no refusal in the log");
        cr_assert_eq(kst_file_contains(g.proc.log_path, "retrying"), 0, "it retried");
    } else {
        char named[64];
        snprintf(named, sizeof named, "'%s' command", cmd);
        cr_assert_eq(kst_file_contains(g.proc.log_path, "NOPERM"), 1);
        cr_assert_eq(kst_file_contains(g.proc.log_path, named), 1, "the log names %s", named);
    }
    cr_assert_eq(kst_file_contains(g.proc.log_path, "stopping: Redis refused"), 1);
    expect_file_lacks(g.proc.log_path, NOPF_PW);
    g.finished = true;
}

Test(redis_acl, run_without_pfmerge_exits_5_naming_it)
{
    lacking("pfmerge", false);
}

Test(redis_acl, run_without_eval_exits_5_naming_it)
{
    lacking("eval", false);
}

/* Commands run only by scripts: the name registry's HEXISTS, the notice
 * script's XADD (inside the flush's MULTI/EXEC). */
Test(redis_acl, run_without_a_script_command_exits_5)
{
    lacking("hexists", true);
}

Test(redis_acl, run_without_xadd_exits_5)
{
    lacking("xadd", true);
}

Test(redis_acl, check_config_and_errors_show_no_password)
{
    char pwfile[512], log[512];
    write_file("pw", "file-Secret-0a9\n", pwfile, sizeof pwfile);
    snprintf(log, sizeof log, "%s/check.log", g.dir);
    const char *const args[] = {"check-config",
                                "--redis",
                                "redis://kpi:url-Secret-11@cache:6379/1",
                                "--kafka.sasl.password",
                                "sasl-Secret-22",
                                "--kafka.ssl.key.password",
                                "key-Secret-33",
                                NULL};
    cr_assert_eq(kst_kpistream_spawn(&g.proc, log, args, NULL), 0);
    cr_assert_eq(wait_status(20000), 0);
    cr_assert_eq(kst_file_contains(log, "redis://kpi:***@cache:6379/1"), 1);
    cr_assert_eq(kst_file_contains(log, "\"sasl.password\": \"***\""), 1);
    expect_file_lacks(log, "url-Secret-11");
    expect_file_lacks(log, "sasl-Secret-22");
    expect_file_lacks(log, "key-Secret-33");

    /* The file's path is shown, not its contents. */
    snprintf(log, sizeof log, "%s/check2.log", g.dir);
    const char *const args2[] = {"check-config", "--redis", "redis://kpi@cache",
                                 "--redis-password-file", pwfile, NULL};
    cr_assert_eq(kst_kpistream_spawn(&g.proc, log, args2, NULL), 0);
    cr_assert_eq(wait_status(20000), 0);
    cr_assert_eq(kst_file_contains(log, pwfile), 1);
    expect_file_lacks(log, "file-Secret-0a9");

    /* Errors: a bad URL, a URL given without --redis, a mistyped scheme. */
    const char *bad[][3] = {{"--redis", "redis://kpi:err-Secret-44@cache:0", NULL},
                            {"redis://kpi:err-Secret-44@cache", NULL, NULL},
                            {"--redis", "redis:/kpi:err-Secret-44@cache", NULL}};
    for (int i = 0; i < 3; i++) {
        snprintf(log, sizeof log, "%s/bad-%d.log", g.dir, i);
        const char *const a[] = {"check-config", bad[i][0], bad[i][1], NULL};
        cr_assert_eq(kst_kpistream_spawn(&g.proc, log, a, NULL), 0);
        cr_assert_eq(wait_status(20000), 1);
        cr_assert_eq(kst_file_contains(log, "@cache"), 1, "the error shows the URL masked");
        expect_file_lacks(log, "err-Secret-44");
    }
    g.finished = true;
}

Test(redis_acl, kafka_sasl_settings_reach_librdkafka)
{
    start_redis(0);
    cr_assert_eq(kst_kafka_start(&g.kafka[0], 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka[0], TOPIC, 1), 0, "%s", kst_last_error());
    const char *const more[] = {"--kafka.security.protocol", "SASL_PLAINTEXT",
                                "--kafka.sasl.mechanism",    "PLAIN",
                                "--kafka.sasl.username",     "kpistream",
                                "--kafka.sasl.password",     "sasl-Secret-66",
                                NULL};
    spawn_run(0, kst_redis_url(&g.redis[0]), "sasl", more);
    cr_assert_eq(kst_wait_log(g.proc.log_path, "SASL Handshake not supported by broker (required "
                                               "by mechanism PLAIN)",
                              &g.proc, 30000),
                 0, "%s", kst_last_error());
    cr_assert_eq(kst_file_contains(g.proc.log_path, "sasl_plaintext://127.0.0.1:"), 1);
    kst_proc_stop(&g.proc, 10000);
    expect_file_lacks(g.proc.log_path, "sasl-Secret-66");
    g.finished = true;
}
