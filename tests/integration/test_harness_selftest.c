/* Self-test of the integration harness: every helper against the real thing
 * (redis-server, librdkafka mock cluster, child processes), so that a failing
 * integration test can be trusted to point at kpistream, not at the harness. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---------------- redis ---------------- */

Test(harness_redis, start_hget_dump_stop)
{
    kst_redis r;
    cr_assert_eq(kst_redis_start(&r), 0, "%s", kst_last_error());
    cr_assert_gt(r.port, 0);
    char want_url[64];
    snprintf(want_url, sizeof want_url, "redis://127.0.0.1:%d/0", r.port);
    cr_assert_str_eq(kst_redis_url(&r), want_url);

    redisContext *c = kst_redis_connect(&r);
    cr_assert_not_null(c, "%s", kst_last_error());
    freeReplyObject(redisCommand(c, "HSET kpi:global events:1h 42 aov:1h 12.5 updated_at_ms 99"));
    freeReplyObject(redisCommand(c, "HSET kpi:meta b 2 a 1"));
    freeReplyObject(redisCommand(c, "ZADD kpi:risk 80 c2 10.5 c1"));
    freeReplyObject(redisCommand(c, "SET kpi:hll:active:1h %b", "\x01\xff", (size_t)2));
    freeReplyObject(redisCommand(c, "XADD kpi:alerts * customer_id c2 score 80 ts 5"));
    freeReplyObject(redisCommand(c, "SET other:key x"));

    char buf[32];
    cr_assert_eq(kst_redis_hget(c, "kpi:global", "events:1h", buf, sizeof buf), 1);
    cr_assert_str_eq(buf, "42");
    cr_assert_eq(kst_redis_hget(c, "kpi:global", "nope", buf, sizeof buf), 0);
    cr_assert_eq(kst_redis_hget(c, "kpi:absent", "x", buf, sizeof buf), 0);
    cr_assert_eq(kst_redis_hget(c, "kpi:risk", "x", buf, sizeof buf), -1, "wrong type is an error");
    cr_assert_eq(kst_redis_hget_ll(c, "kpi:global", "events:1h", -1), 42);
    cr_assert_eq(kst_redis_hget_ll(c, "kpi:global", "nope", -7), -7);
    cr_assert_float_eq(kst_redis_hget_d(c, "kpi:global", "aov:1h", NAN), 12.5, 1e-12);
    cr_assert(isnan(kst_redis_hget_d(c, "kpi:global", "nope", NAN)));

    const char *ignore[] = {"updated_at_ms", "ts", NULL};
    char *dump = kst_redis_dump(c, "kpi:*", ignore);
    cr_assert_not_null(dump, "%s", kst_last_error());
    const char *want = "kpi:alerts stream\n"
                       "  customer_id=c2 score=80\n"
                       "kpi:global hash\n"
                       "  aov:1h=12.5\n"
                       "  events:1h=42\n"
                       "kpi:hll:active:1h string\n"
                       "  hex:01ff\n"
                       "kpi:meta hash\n"
                       "  a=1\n"
                       "  b=2\n"
                       "kpi:risk zset\n"
                       "  c1 10.5\n"
                       "  c2 80\n";
    cr_assert_str_eq(dump, want);
    free(dump);

    /* Without the ignore list the volatile field is part of the dump. */
    dump = kst_redis_dump(c, "kpi:global", NULL);
    cr_assert_not_null(dump);
    cr_assert_not_null(strstr(dump, "updated_at_ms=99"));
    free(dump);
    redisFree(c);

    pid_t pid = r.pid;
    char dir[256];
    snprintf(dir, sizeof dir, "%s", r.dir);
    cr_assert_gt(pid, 0);
    cr_assert_eq(kill(pid, 0), 0, "server should be running before stop");
    kst_redis_stop(&r);
    errno = 0;
    cr_assert_eq(kill(pid, 0), -1, "redis-server %d still exists after stop", (int)pid);
    cr_assert_eq(errno, ESRCH);
    cr_assert_eq(access(dir, F_OK), -1, "temp dir %s left behind", dir);
    kst_redis_stop(&r); /* idempotent */
}

static int restart_keeps(int flags, char *out, size_t n)
{
    kst_redis r;
    cr_assert_eq(kst_redis_start_opt(&r, flags), 0, "%s", kst_last_error());
    int port = r.port;
    redisContext *c = kst_redis_connect(&r);
    cr_assert_not_null(c);
    freeReplyObject(redisCommand(c, "HSET kpi:meta events_processed 1234"));
    redisFree(c);
    cr_assert_eq(kst_redis_restart(&r), 0, "%s", kst_last_error());
    cr_assert_eq(r.port, port, "restart must keep the port");
    c = kst_redis_connect(&r);
    cr_assert_not_null(c, "%s", kst_last_error());
    int found = kst_redis_hget(c, "kpi:meta", "events_processed", out, n);
    redisFree(c);
    pid_t pid = r.pid;
    kst_redis_stop(&r);
    cr_assert_eq(kill(pid, 0), -1);
    return found;
}

Test(harness_redis, persist_restart_keeps_data)
{
    char buf[32] = "";
    cr_assert_eq(restart_keeps(KST_REDIS_PERSIST, buf, sizeof buf), 1);
    cr_assert_str_eq(buf, "1234");
}

Test(harness_redis, plain_restart_loses_data)
{
    char buf[32] = "";
    cr_assert_eq(restart_keeps(0, buf, sizeof buf), 0, "non-persistent restart kept \"%s\"", buf);
}

Test(harness_redis, outage_down_then_up)
{
    kst_redis r;
    cr_assert_eq(kst_redis_start_opt(&r, KST_REDIS_PERSIST), 0);
    pid_t first = r.pid;
    cr_assert_eq(kst_redis_down(&r), 0);
    cr_assert_eq(r.pid, 0);
    cr_assert_eq(kill(first, 0), -1, "server still alive during outage");
    cr_assert_null(kst_redis_connect(&r), "connect must fail while down");
    cr_assert_eq(kst_redis_up(&r), 0, "%s", kst_last_error());
    redisContext *c = kst_redis_connect(&r);
    cr_assert_not_null(c);
    redisFree(c);
    kst_redis_stop(&r);
}

Test(harness_redis, wait_for_counter)
{
    kst_redis r;
    cr_assert_eq(kst_redis_start(&r), 0);
    cr_assert_eq(kst_redis_wait_ll_ge(&r, "kpi:meta", "events_processed", 1, 30), -1,
                 "absent field cannot satisfy the wait");
    redisContext *c = kst_redis_connect(&r);
    freeReplyObject(redisCommand(c, "HSET kpi:meta events_processed 5"));
    cr_assert_eq(kst_redis_wait_ll_ge(&r, "kpi:meta", "events_processed", 6, 30), -1);
    cr_assert_eq(kst_redis_wait_ll_ge(&r, "kpi:meta", "events_processed", 5, 5000), 0);
    redisFree(c);
    kst_redis_stop(&r);
}

Test(harness_redis, two_instances_get_distinct_ports)
{
    kst_redis a, b;
    cr_assert_eq(kst_redis_start(&a), 0);
    cr_assert_eq(kst_redis_start(&b), 0);
    cr_assert_neq(a.port, b.port);
    kst_redis_stop(&a);
    kst_redis_stop(&b);
}

/* ---------------- kafka ---------------- */

#define NMSG 1000
#define NPART 4

typedef struct seen {
    int count[NMSG];
    int per_partition[NPART];
    int bad;
    char last_bad[256];
} seen;

static int record(const kst_msg *m, void *ctx)
{
    seen *s = ctx;
    int i = -1;
    char val[64] = "", key[64] = "";
    if (m->len < sizeof val)
        memcpy(val, m->value, m->len);
    if (m->key_len < sizeof key)
        memcpy(key, m->key, m->key_len);
    int kn = -1;
    /* value "value-<i>" must come with key "cust-<i % 97>" */
    if (sscanf(val, "value-%d", &i) != 1 || i < 0 || i >= NMSG ||
        sscanf(key, "cust-%d", &kn) != 1 || kn != i % 97 || m->partition < 0 ||
        m->partition >= NPART) {
        s->bad++;
        snprintf(s->last_bad, sizeof s->last_bad, "key=%s value=%s p=%d", key, val,
                 (int)m->partition);
        return 0;
    }
    s->count[i]++;
    s->per_partition[m->partition]++;
    return 0;
}

Test(harness_kafka, produce_consume_1000_over_4_partitions, .timeout = 120)
{
    kst_kafka k;
    cr_assert_eq(kst_kafka_start(&k, 3), 0, "%s", kst_last_error());
    cr_assert_neq(k.bootstraps[0], '\0');
    cr_assert_not_null(strstr(k.bootstraps, "127.0.0.1:"), "bootstraps %s", k.bootstraps);
    cr_assert_eq(kst_kafka_create_topic(&k, "events", NPART), 0);
    cr_assert_eq(kst_kafka_partition_count(&k, "events"), NPART);

    for (int i = 0; i < NMSG; i++) {
        char key[32], val[32];
        int kl = snprintf(key, sizeof key, "cust-%d", i % 97);
        int vl = snprintf(val, sizeof val, "value-%d", i);
        cr_assert_eq(kst_kafka_produce(&k, "events", -1, key, (size_t)kl, val, (size_t)vl), 0);
    }
    cr_assert_eq(kst_kafka_flush(&k, 30000), 0, "%s", kst_last_error());
    cr_assert_eq(k.delivered, NMSG);

    int64_t ends[NPART];
    cr_assert_eq(kst_kafka_end_offsets(&k, "events", NPART, ends), 0);
    int64_t total = 0;
    for (int p = 0; p < NPART; p++)
        total += ends[p];
    cr_assert_eq(total, NMSG);

    seen *s = calloc(1, sizeof *s);
    long n = kst_kafka_consume_all(&k, "events", 30000, record, s);
    cr_assert_eq(n, NMSG, "consumed %ld: %s", n, kst_last_error());
    cr_assert_eq(s->bad, 0, "bad message: %s", s->last_bad);
    for (int i = 0; i < NMSG; i++)
        cr_assert_eq(s->count[i], 1, "message %d seen %d times", i, s->count[i]);
    for (int p = 0; p < NPART; p++) {
        cr_assert_gt(s->per_partition[p], 0, "keyed messages never reached partition %d", p);
        cr_assert_eq(s->per_partition[p], ends[p], "partition %d", p);
    }
    free(s);

    /* Reading again gives the same messages: nothing was committed. */
    cr_assert_eq(kst_kafka_consume_all(&k, "events", 30000, NULL, NULL), NMSG);
    kst_kafka_stop(&k);
    kst_kafka_stop(&k);
}

Test(harness_kafka, empty_topic_reaches_end)
{
    kst_kafka k;
    cr_assert_eq(kst_kafka_start(&k, 1), 0);
    cr_assert_eq(kst_kafka_create_topic(&k, "empty", 3), 0);
    cr_assert_eq(kst_kafka_consume_all(&k, "empty", 20000, NULL, NULL), 0, "%s",
                 kst_last_error());
    kst_kafka_stop(&k);
}

Test(harness_kafka, committed_offsets_of_a_group)
{
    kst_kafka k;
    cr_assert_eq(kst_kafka_start(&k, 1), 0);
    cr_assert_eq(kst_kafka_create_topic(&k, "t", 2), 0);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(kst_kafka_produce(&k, "t", i % 2, NULL, 0, "x", 1), 0);
    cr_assert_eq(kst_kafka_flush(&k, 10000), 0);

    int64_t off[2] = {0, 0};
    cr_assert_eq(kst_kafka_committed(&k, "g1", "t", 2, off), 0, "%s", kst_last_error());
    cr_assert_eq(off[0], RD_KAFKA_OFFSET_INVALID);
    cr_assert_eq(off[1], RD_KAFKA_OFFSET_INVALID);

    /* Commit as a member of g1 would (explicit offsets, synchronous). */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[256];
    cr_assert_eq(rd_kafka_conf_set(conf, "bootstrap.servers", k.bootstraps, errstr, sizeof errstr),
                 RD_KAFKA_CONF_OK);
    cr_assert_eq(rd_kafka_conf_set(conf, "group.id", "g1", errstr, sizeof errstr),
                 RD_KAFKA_CONF_OK);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    cr_assert_not_null(c, "%s", errstr);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(l, "t", 0)->offset = 3;
    rd_kafka_topic_partition_list_add(l, "t", 1)->offset = 5;
    cr_assert_eq(rd_kafka_commit(c, l, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);

    cr_assert_eq(kst_kafka_committed(&k, "g1", "t", 2, off), 0, "%s", kst_last_error());
    cr_assert_eq(off[0], 3);
    cr_assert_eq(off[1], 5);
    /* Another group sees nothing. */
    cr_assert_eq(kst_kafka_committed(&k, "g2", "t", 2, off), 0);
    cr_assert_eq(off[0], RD_KAFKA_OFFSET_INVALID);
    kst_kafka_stop(&k);
}

typedef struct jsonl_seen {
    int n;
    int partition_of_a;
    int same_partition_for_a;
    int keys_ok;
    char err_header[64];
} jsonl_seen;

static int record_jsonl(const kst_msg *m, void *ctx)
{
    jsonl_seen *s = ctx;
    s->n++;
    char key[32] = "";
    if (m->key_len < sizeof key && m->key)
        memcpy(key, m->key, m->key_len);
    if (strstr((const char *)m->value, "\"customer_id\": \"A\"") ||
        memmem(m->value, m->len, "\"customer_id\":\"A\"", 17)) {
        if (strcmp(key, "A") == 0)
            s->keys_ok++;
        if (s->partition_of_a < 0)
            s->partition_of_a = m->partition;
        if (s->partition_of_a == m->partition)
            s->same_partition_for_a++;
    } else if (memmem(m->value, m->len, "marketing_spend", 15)) {
        if (m->key == NULL || m->key_len == 0)
            s->keys_ok++;
    }
    kst_msg_header(m, "kpistream.error", s->err_header, sizeof s->err_header);
    return 0;
}

Test(harness_kafka, jsonl_keyed_by_customer_and_headers)
{
    kst_kafka k;
    cr_assert_eq(kst_kafka_start(&k, 1), 0);
    cr_assert_eq(kst_kafka_create_topic(&k, "ev", 8), 0);
    char dir[256];
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    char path[300];
    snprintf(path, sizeof path, "%s/ev.jsonl", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 20; i++)
        fprintf(f, "{\"event_id\":\"e%d\",\"referred_customer_id\":\"zz\",\"customer_id\":\"A\"}\n",
                i);
    fprintf(f, "\n{\"event_id\":\"m\",\"type\":\"marketing_spend\",\"amount\":5}\n");
    fclose(f);
    cr_assert_eq(kst_kafka_produce_jsonl(&k, "ev", path), 21, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_produce_jsonl(&k, "ev", "{\"customer_id\": \"A\", \"x\": 1}\n\n"), 1);
    cr_assert_eq(kst_kafka_produce_jsonl(&k, "ev", "/nonexistent/file.jsonl"), -1);

    /* A header as the dead-letter producer would set it. */
    cr_assert_eq(rd_kafka_producev(k.producer, RD_KAFKA_V_TOPIC("ev"), RD_KAFKA_V_PARTITION(0),
                                   RD_KAFKA_V_VALUE("bad", 3), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                   RD_KAFKA_V_HEADER("kpistream.error", "malformed_json", -1),
                                   RD_KAFKA_V_END),
                 RD_KAFKA_RESP_ERR_NO_ERROR);
    cr_assert_eq(kst_kafka_flush(&k, 10000), 0);

    jsonl_seen s = {.partition_of_a = -1};
    cr_assert_eq(kst_kafka_consume_all(&k, "ev", 20000, record_jsonl, &s), 23);
    cr_assert_eq(s.n, 23);
    cr_assert_eq(s.same_partition_for_a, 21, "customer A spread over partitions");
    cr_assert_eq(s.keys_ok, 22, "keys: A for customer A, none without customer_id");
    cr_assert_str_eq(s.err_header, "malformed_json");
    kst_rmtree(dir);
    kst_kafka_stop(&k);
}

/* ---------------- processes and waits ---------------- */

Test(harness_proc, exit_status_and_log)
{
    char dir[256];
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    char log[300];
    snprintf(log, sizeof log, "%s/p.log", dir);
    kst_proc p;
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    cr_assert_eq(kst_proc_spawn(&p, argv, log), 0);
    int st = -1;
    cr_assert_eq(kst_proc_wait(&p, 10000, &st), 0);
    cr_assert_eq(st, 3);
    char *text = kst_read_file(log, NULL);
    cr_assert_not_null(text);
    cr_assert_not_null(strstr(text, "out\n"));
    cr_assert_not_null(strstr(text, "err\n"));
    free(text);

    char *bad[] = {"/nonexistent/binary", NULL};
    cr_assert_eq(kst_proc_spawn(&p, bad, log), 0);
    cr_assert_eq(kst_proc_wait(&p, 10000, &st), 0);
    cr_assert_eq(st, 127);
    kst_rmtree(dir);
    cr_assert_eq(access(dir, F_OK), -1);
}

Test(harness_proc, wait_times_out_then_kill)
{
    char log[] = "/dev/null";
    kst_proc p;
    char *argv[] = {"sleep", "30", NULL};
    cr_assert_eq(kst_proc_spawn(&p, argv, log), 0);
    pid_t pid = p.pid;
    int st = -1;
    cr_assert_eq(kst_proc_wait(&p, 50, &st), -1, "sleep 30 cannot be done in 50 ms");
    cr_assert_eq(kst_proc_running(&p), 1);
    kst_proc_kill(&p, SIGTERM);
    cr_assert_eq(kst_proc_wait(&p, 10000, &st), 0);
    cr_assert_eq(st, 128 + SIGTERM);
    cr_assert_eq(kill(pid, 0), -1, "child not reaped");
}

static int count_to_five(void *ctx)
{
    int *n = ctx;
    return ++*n >= 5;
}

static int never(void *ctx)
{
    (void)ctx;
    return 0;
}

Test(harness_wait, until_and_timeout)
{
    int n = 0;
    cr_assert_eq(kst_wait_until(count_to_five, &n, 10000), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(kst_wait_until(never, NULL, 30), -1);
}
