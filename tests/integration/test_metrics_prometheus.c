/* The operations endpoint of `kpistream run` against real parts: the binary
 * with its metrics_listen on a free loopback port, a librdkafka mock cluster,
 * a private redis-server, Debian's promtool, and a real Prometheus server
 * scraping kpistream every second (storage in a temp dir).
 *
 *   1. N valid events, 3 malformed ones and 2 retries of earlier event_ids;
 *      /metrics reaches events_accepted_total N (and the rejects by reason,
 *      the duplicates, the consumer lag of both partitions at 0), /readyz 200.
 *   2. `promtool check metrics` accepts the exposition (format and naming
 *      lint), and `promtool check rules` / `test rules` the shipped alerts.
 *   3. Prometheus, started here with those alerting rules loaded, scrapes it:
 *      its HTTP API answers kpistream_events_accepted_total == N, and every
 *      query of deploy/grafana/kpistream-dashboard.json runs and has data.
 *   4. Redis stopped: /readyz 503 naming the failed flush, /healthz still 200,
 *      flush failures counted, Prometheus sees kpistream_ready 0; Redis back
 *      on the same port with its data (append-only file): /readyz 200.
 *   5. A second run on the same metrics port exits 1 naming metrics_listen
 *      and the address.
 *
 * Every wait polls a condition with a deadline (kst_wait_until). Every child
 * (kpistream, prometheus, redis-server) is stopped by its PID in the
 * teardown, which also runs when an assertion failed. Without promtool or
 * prometheus in PATH the test fails and says which Debian package to install. */
#include "harness.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TOPIC "ev"
#define N 300
#define WAIT_MS 60000

static struct {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc run, prom, second;
    int port, prom_port;
    bool passed;
} g;

static void setup(void)
{
    memset(&g, 0, sizeof g);
}

static void teardown(void)
{
    if (!g.passed) {
        if (g.run.log_path[0])
            kst_log_tail(g.run.log_path, 40);
        if (g.prom.log_path[0])
            kst_log_tail(g.prom.log_path, 20);
    }
    if (g.run.pid)
        kst_proc_stop(&g.run, 10000);
    if (g.prom.pid)
        kst_proc_stop(&g.prom, 10000);
    if (g.second.pid)
        kst_proc_stop(&g.second, 5000);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    if (g.dir[0])
        kst_rmtree(g.dir);
}

TestSuite(metrics_prometheus, .init = setup, .fini = teardown, .timeout = 280);

/* ------------------------------------------------------------------ */
/* A small HTTP/1.0 client                                              */

typedef struct http_reply {
    int status;  /* 0: no answer */
    char *body;  /* owned; NUL-terminated */
    char *head;  /* owned; status line and headers */
} http_reply;

static void http_free(http_reply *r)
{
    free(r->body);
    free(r->head);
    memset(r, 0, sizeof *r);
}

/* GET (or another method) http://127.0.0.1:port<path>; the server closes the
 * connection after the reply (HTTP/1.0). Returns 0, or -1 if nothing came
 * back (connection refused, timeout). */
static int http_request(int port, const char *method, const char *path, http_reply *out)
{
    memset(out, 0, sizeof *out);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    char req[1024];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", method, path,
                     port);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0, cap = 8192;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (!sep || sscanf(buf, "HTTP/%*s %d", &out->status) != 1) {
        free(buf);
        return -1;
    }
    out->head = strndup(buf, (size_t)(sep - buf));
    out->body = strdup(sep + 4);
    free(buf);
    return 0;
}

static int http_get(int port, const char *path, http_reply *out)
{
    return http_request(port, "GET", path, out);
}

/* Value of the sample line "<series> <value>" in an exposition, or -1. */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p;) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return -1;
}

/* ------------------------------------------------------------------ */
/* Conditions for kst_wait_until                                       */

typedef struct want {
    int port;
    const char *path;
    int status;         /* wanted HTTP status */
    const char *series; /* with value, for /metrics */
    double value;
    const char *series2; /* optional second sample to equal value2 */
    double value2;
} want;

static int cond_http(void *ctx)
{
    want *w = ctx;
    http_reply r;
    if (http_get(w->port, w->path, &r) != 0)
        return 0;
    int ok = r.status == w->status;
    if (ok && w->series)
        ok = sample(r.body, w->series) == w->value;
    if (ok && w->series2)
        ok = sample(r.body, w->series2) == w->value2;
    http_free(&r);
    return ok;
}

/* Runs an instant query (any PromQL, URL-encoded here). Returns the parsed
 * reply if Prometheus answered 200 with status "success", else NULL (with the
 * body in *errbody if given, to free). Caller owns the result; cJSON_Delete(). */
static cJSON *prom_api(int port, const char *query, char **errbody)
{
    char path[4096];
    size_t n = (size_t)snprintf(path, sizeof path, "/api/v1/query?query=");
    for (const unsigned char *q = (const unsigned char *)query; *q && n + 4 < sizeof path; q++) {
        if ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
            *q == '_' || *q == '.' || *q == '-' || *q == '~')
            path[n++] = (char)*q;
        else
            n += (size_t)snprintf(path + n, sizeof path - n, "%%%02X", *q);
    }
    path[n] = '\0';
    http_reply r;
    if (errbody)
        *errbody = NULL;
    if (http_get(port, path, &r) != 0)
        return NULL;
    cJSON *root = r.status == 200 ? cJSON_Parse(r.body) : NULL;
    const cJSON *st = cJSON_GetObjectItem(root, "status");
    if (!cJSON_IsString(st) || strcmp(st->valuestring, "success") != 0) {
        cJSON_Delete(root);
        root = NULL;
        if (errbody) {
            *errbody = r.body;
            r.body = NULL;
        }
    }
    http_free(&r);
    return root;
}

/* Prometheus's instant query result: the single sample's value, or -1. */
static double prom_query(int port, const char *query)
{
    double v = -1;
    cJSON *root = prom_api(port, query, NULL);
    const cJSON *res = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "data"), "result");
    if (cJSON_GetArraySize(res) == 1) {
        const cJSON *val = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(res, 0),
                                                                  "value"),
                                              1);
        if (cJSON_IsString(val))
            v = strtod(val->valuestring, NULL);
    }
    cJSON_Delete(root);
    return v;
}

/* Replaces every from in s (size n) by to. */
static void replace_all(char *s, size_t n, const char *from, const char *to)
{
    char out[4096];
    size_t o = 0, fl = strlen(from), tl = strlen(to);
    for (const char *p = s; *p && o + tl + 1 < sizeof out;) {
        if (strncmp(p, from, fl) == 0) {
            memcpy(out + o, to, tl);
            o += tl;
            p += fl;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    snprintf(s, n, "%s", out);
}

/* Runs one dashboard query with Grafana's variables filled in; fails the
 * test if Prometheus refuses it, or if it returns no series (unless it
 * filters with "> 0", which may legitimately leave nothing). */
static void check_dashboard_expr(const char *where, const char *expr)
{
    char q[4096];
    snprintf(q, sizeof q, "%s", expr);
    replace_all(q, sizeof q, "$__rate_interval", "10s");
    replace_all(q, sizeof q, "$__range", "1m");
    replace_all(q, sizeof q, "$job", ".*");
    replace_all(q, sizeof q, "$instance", ".*");
    char *err = NULL;
    cJSON *root = prom_api(g.prom_port, q, &err);
    cr_expect_not_null(root, "%s: Prometheus refused %s: %s", where, q, err ? err : "no answer");
    free(err);
    const cJSON *res = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "data"), "result");
    size_t len = strlen(q);
    bool filtered = len > 4 && strcmp(q + len - 4, " > 0") == 0;
    if (root && !filtered)
        cr_expect_gt(cJSON_GetArraySize(res), 0, "%s: no series from %s", where, q);
    cJSON_Delete(root);
}

/* Every query of the shipped Grafana dashboard, against the live Prometheus. */
static void check_dashboard(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/deploy/grafana/kpistream-dashboard.json", KS_SOURCE_DIR);
    char *text = kst_read_file(path, NULL);
    cr_assert_not_null(text, "%s", kst_last_error());
    cJSON *d = cJSON_Parse(text);
    free(text);
    cr_assert_not_null(d, "%s is not JSON", path);
    int n = 0;
    const cJSON *panel, *t, *a;
    cJSON_ArrayForEach(panel, cJSON_GetObjectItem(d, "panels"))
    {
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(panel, "targets"))
        {
            const cJSON *e = cJSON_GetObjectItem(t, "expr");
            cr_assert(cJSON_IsString(e));
            check_dashboard_expr(cJSON_GetObjectItem(panel, "title")->valuestring, e->valuestring);
            n++;
        }
    }
    cJSON_ArrayForEach(a, cJSON_GetObjectItem(cJSON_GetObjectItem(d, "annotations"), "list"))
    {
        const cJSON *e = cJSON_GetObjectItem(a, "expr");
        if (cJSON_IsString(e))
            check_dashboard_expr("annotation", e->valuestring);
    }
    cJSON_Delete(d);
    cr_expect_gt(n, 15, "only %d dashboard queries", n);
    fprintf(stderr, "dashboard: %d queries answered by Prometheus\n", n);
}

typedef struct prom_want {
    const char *query;
    double value;
    double last;
} prom_want;

static int cond_prom(void *ctx)
{
    prom_want *w = ctx;
    w->last = prom_query(g.prom_port, w->query);
    return w->last == w->value || !kst_proc_running(&g.prom);
}

/* ------------------------------------------------------------------ */
/* Tools                                                               */

/* Fails the test unless name is an executable in PATH. */
static void need_tool(const char *name)
{
    const char *path = getenv("PATH");
    char buf[1024];
    for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        snprintf(buf, sizeof buf, "%.*s/%s", (int)len, p, name);
        if (access(buf, X_OK) == 0)
            return;
        p += len + (colon ? 1 : 0);
    }
    cr_assert_fail("'%s' not found in PATH: install the Debian package 'prometheus' "
                   "(bash scripts/deps.sh does); this test needs a real Prometheus",
                   name);
}

/* Runs a shell command line to completion; returns its exit status (output
 * in <dir>/<log>). */
static int sh(const char *cmd, const char *log)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", g.dir, log);
    char *argv[] = {"sh", "-c", (char *)cmd, NULL};
    kst_proc p;
    cr_assert_eq(kst_proc_spawn(&p, argv, path), 0, "%s", kst_last_error());
    int status = -1;
    if (kst_proc_wait(&p, 60000, &status) != 0) {
        kst_proc_stop(&p, 1000);
        cr_assert_fail("'%s' did not finish within 60 s", cmd);
    }
    if (status != 0)
        kst_log_tail(path, 40);
    return status;
}

static char *read_log(const char *path)
{
    char *s = kst_read_file(path, NULL);
    cr_assert_not_null(s, "%s", kst_last_error());
    return s;
}

/* ------------------------------------------------------------------ */

static void produce(void)
{
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC, 2), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC ".dlq", 1), 0, "%s", kst_last_error());
    long long now = (long long)time(NULL) * 1000;
    char ev[512], key[16];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "c%d", i % 20);
        snprintf(ev, sizeof ev,
                 "{\"event_id\":\"e%d\",\"type\":\"purchase\",\"customer_id\":\"%s\","
                 "\"ts\":%lld,\"order_id\":\"o%d\",\"amount\":%d.5,\"channel\":\"web\"}",
                 i, key, now - 60000 + i * 10, i, 1 + i % 50);
        cr_assert_eq(kst_kafka_produce(&g.kafka, TOPIC, i % 2, key, strlen(key), ev, strlen(ev)),
                     0, "%s", kst_last_error());
    }
    /* Two producer retries (same event_id, same partition as the original)
     * and three messages that are not JSON. */
    for (int i = 0; i < 2; i++) {
        snprintf(key, sizeof key, "c%d", i % 20);
        snprintf(ev, sizeof ev,
                 "{\"event_id\":\"e%d\",\"type\":\"purchase\",\"customer_id\":\"%s\","
                 "\"ts\":%lld,\"order_id\":\"o%d\",\"amount\":%d.5,\"channel\":\"web\"}",
                 i, key, now - 60000 + i * 10, i, 1 + i % 50);
        cr_assert_eq(kst_kafka_produce(&g.kafka, TOPIC, i % 2, key, strlen(key), ev, strlen(ev)),
                     0, "%s", kst_last_error());
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(kst_kafka_produce(&g.kafka, TOPIC, i % 2, "x", 1, "{not json", 9), 0, "%s",
                     kst_last_error());
    cr_assert_eq(kst_kafka_flush(&g.kafka, 30000), 0, "%s", kst_last_error());
}

static void spawn_run(kst_proc *p, const char *log_name, int port)
{
    char listen[64], log[512];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/%s", g.dir, log_name);
    const char *const argv[] = {"run",
                                "--brokers", g.kafka.bootstraps,
                                "--topics", TOPIC,
                                "--group", "metrics",
                                "--redis", kst_redis_url(&g.redis),
                                "--metrics-listen", listen,
                                "--flush-interval-ms", "200",
                                "--redis-timeout-ms", "1000",
                                "--redis-retry-max-ms", "500",
                                "--kafka.statistics.interval.ms", "1000",
                                "--kafka.session.timeout.ms", "6000",
                                NULL};
    cr_assert_eq(kst_kpistream_spawn(p, log, argv, NULL), 0, "%s", kst_last_error());
}

static void start_prometheus(void)
{
    char cfg[512], data[512], listen[64], cfgarg[600], dataarg[600], listenarg[100];
    snprintf(cfg, sizeof cfg, "%s/prometheus.yml", g.dir);
    snprintf(data, sizeof data, "%s/prom-data", g.dir);
    FILE *f = fopen(cfg, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "global:\n"
            "  scrape_interval: 1s\n"
            "  scrape_timeout: 1s\n"
            "  evaluation_interval: 1s\n"
            "rule_files:\n"
            "  - %s/deploy/prometheus/alerts.yml\n"
            "scrape_configs:\n"
            "  - job_name: kpistream\n"
            "    static_configs:\n"
            "      - targets: ['127.0.0.1:%d']\n",
            KS_SOURCE_DIR, g.port);
    fclose(f);
    g.prom_port = kst_free_port();
    cr_assert_gt(g.prom_port, 0, "%s", kst_last_error());
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g.prom_port);
    snprintf(cfgarg, sizeof cfgarg, "--config.file=%s", cfg);
    snprintf(dataarg, sizeof dataarg, "--storage.tsdb.path=%s", data);
    snprintf(listenarg, sizeof listenarg, "--web.listen-address=%s", listen);
    char log[512];
    snprintf(log, sizeof log, "%s/prometheus.log", g.dir);
    char *argv[] = {"prometheus", cfgarg, dataarg, listenarg, "--log.level=warn", NULL};
    cr_assert_eq(kst_proc_spawn(&g.prom, argv, log), 0, "%s", kst_last_error());
    want ready = {.port = g.prom_port, .path = "/-/ready", .status = 200};
    cr_assert_eq(kst_wait_until(cond_http, &ready, WAIT_MS), 0,
                 "prometheus did not become ready on %s (running: %d)", listen,
                 kst_proc_running(&g.prom));
}

Test(metrics_prometheus, scraped_by_prometheus_ready_follows_redis)
{
    need_tool("promtool");
    need_tool("prometheus");
    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0, "%s", kst_last_error());
    /* Persistent, so that the outage below loses nothing (a Redis that
     * comes back empty is a takeover: kpistream is fenced and exits 4). */
    cr_assert_eq(kst_redis_start_opt(&g.redis, KST_REDIS_PERSIST), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    produce();
    g.port = kst_free_port();
    cr_assert_gt(g.port, 0, "%s", kst_last_error());
    spawn_run(&g.run, "run.log", g.port);

    /* 1. Everything consumed, counted and flushed. */
    want all = {.port = g.port,
                .path = "/metrics",
                .status = 200,
                .series = "kpistream_events_accepted_total",
                .value = N,
                .series2 = "kpistream_flush_failures_total",
                .value2 = 0};
    cr_assert_eq(kst_wait_until(cond_http, &all, WAIT_MS), 0,
                 "kpistream_events_accepted_total did not reach %d", N);
    want ready = {.port = g.port, .path = "/readyz", .status = 200};
    cr_assert_eq(kst_wait_until(cond_http, &ready, WAIT_MS), 0, "/readyz never 200");
    /* Consumer lag from librdkafka's statistics (every 1 s here): 0 on both
     * partitions once the offsets of everything are committed. */
    want lag = {.port = g.port,
                .path = "/metrics",
                .status = 200,
                .series = "kpistream_consumer_lag{topic=\"ev\",partition=\"0\"}",
                .value = 0,
                .series2 = "kpistream_consumer_lag{topic=\"ev\",partition=\"1\"}",
                .value2 = 0};
    cr_assert_eq(kst_wait_until(cond_http, &lag, WAIT_MS), 0,
                 "consumer lag of both partitions never 0");

    http_reply r;
    cr_assert_eq(http_get(g.port, "/metrics", &r), 0);
    cr_expect(strstr(r.head, "text/plain; version=0.0.4") != NULL, "%s", r.head);
    const char *m = r.body;
    cr_expect_eq(sample(m, "kpistream_messages_consumed_total"), N + 5);
    cr_expect_eq(sample(m, "kpistream_duplicates_total"), 2);
    cr_expect_eq(sample(m, "kpistream_events_rejected_total{reason=\"malformed_json\"}"), 3);
    cr_expect_eq(sample(m, "kpistream_events_rejected_total{reason=\"too_old\"}"), 0);
    cr_expect_eq(sample(m, "kpistream_partitions_assigned"), 2);
    cr_expect_eq(sample(m, "kpistream_restoring"), 0);
    cr_expect_eq(sample(m, "kpistream_ready"), 1);
    cr_expect_eq(sample(m, "kpistream_customers"), 20);
    cr_expect_gt(sample(m, "kpistream_state_bytes"), 0);
    cr_expect_geq(sample(m, "kpistream_rebalances_total"), 1);
    cr_expect_gt(sample(m, "kpistream_flushes_total"), 0);
    cr_expect_eq(sample(m, "kpistream_flush_duration_seconds_count"),
                 sample(m, "kpistream_flushes_total"));
    cr_expect_eq(sample(m, "kpistream_flush_duration_seconds_bucket{le=\"+Inf\"}"),
                 sample(m, "kpistream_flush_duration_seconds_count"));
    cr_expect_gt(sample(m, "kpistream_last_flush_success_timestamp_seconds"),
                 (double)time(NULL) - 60);
    double etl = sample(m, "kpistream_event_time_lag_seconds");
    cr_expect(etl >= 0 && etl < 30, "event-time lag %g s with the wall clock", etl);
    cr_expect(strstr(m, "# TYPE kpistream_flush_duration_seconds histogram") != NULL);

    /* 2. promtool on the exposition and on the shipped rules. */
    char path[512], cmd[1400];
    snprintf(path, sizeof path, "%s/metrics.txt", g.dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(m, f);
    fclose(f);
    http_free(&r);
    snprintf(cmd, sizeof cmd, "promtool check metrics < %s", path);
    cr_assert_eq(sh(cmd, "promtool-metrics.log"), 0, "promtool check metrics failed (above)");
    snprintf(cmd, sizeof cmd,
             "promtool check rules %s/deploy/prometheus/alerts.yml && "
             "promtool test rules %s/deploy/prometheus/alerts_test.yml",
             KS_SOURCE_DIR, KS_SOURCE_DIR);
    cr_assert_eq(sh(cmd, "promtool-rules.log"), 0, "promtool check/test rules failed (above)");

    /* Other paths and methods. */
    cr_assert_eq(http_get(g.port, "/healthz", &r), 0);
    cr_expect_eq(r.status, 200);
    cr_expect_str_eq(r.body, "ok\n");
    http_free(&r);
    cr_assert_eq(http_get(g.port, "/nope", &r), 0);
    cr_expect_eq(r.status, 404);
    http_free(&r);
    cr_assert_eq(http_request(g.port, "POST", "/metrics", &r), 0);
    cr_expect_eq(r.status, 405);
    http_free(&r);

    /* 3. A real Prometheus scrapes it every second, with the alerts loaded. */
    start_prometheus();
    prom_want pw = {.query = "kpistream_events_accepted_total", .value = N};
    int rc = kst_wait_until(cond_prom, &pw, WAIT_MS);
    cr_assert(kst_proc_running(&g.prom), "prometheus exited (log above)");
    cr_assert_eq(rc, 0, "Prometheus's kpistream_events_accepted_total is %g, not %d", pw.last, N);
    prom_want up = {.query = "up", .value = 1};
    cr_assert_eq(kst_wait_until(cond_prom, &up, WAIT_MS), 0, "up is %g", up.last);
    /* The dashboard's queries, once rate() has two samples in its window. */
    prom_want rated = {.query = "count(rate(kpistream_flushes_total[10s]))", .value = 1};
    cr_assert_eq(kst_wait_until(cond_prom, &rated, WAIT_MS), 0, "no rate() yet (%g)", rated.last);
    check_dashboard();
    http_reply rules;
    cr_assert_eq(http_get(g.prom_port, "/api/v1/rules", &rules), 0);
    cr_expect(strstr(rules.body, "KpistreamNotReady") != NULL, "alert rules not loaded: %.300s",
              rules.body);
    http_free(&rules);

    /* 4. Redis away: not ready (the flush fails), but alive; back: ready. */
    cr_assert_eq(kst_redis_down(&g.redis), 0, "%s", kst_last_error());
    want unready = {.port = g.port, .path = "/readyz", .status = 503};
    cr_assert_eq(kst_wait_until(cond_http, &unready, WAIT_MS), 0,
                 "/readyz stayed 200 with Redis stopped");
    cr_assert_eq(http_get(g.port, "/readyz", &r), 0);
    cr_expect(strstr(r.body, "not ready: the last flush to Redis failed") != NULL, "%s", r.body);
    http_free(&r);
    cr_assert_eq(http_get(g.port, "/healthz", &r), 0);
    cr_expect_eq(r.status, 200, "alive during the outage");
    http_free(&r);
    cr_assert_eq(http_get(g.port, "/metrics", &r), 0);
    cr_expect_gt(sample(r.body, "kpistream_flush_failures_total"), 0);
    cr_expect_eq(sample(r.body, "kpistream_ready"), 0);
    http_free(&r);
    prom_want notready = {.query = "kpistream_ready", .value = 0};
    cr_expect_eq(kst_wait_until(cond_prom, &notready, WAIT_MS), 0,
                 "Prometheus never saw kpistream_ready 0 (last %g)", notready.last);
    cr_assert_eq(kst_redis_up(&g.redis), 0, "%s", kst_last_error());
    cr_assert_eq(kst_wait_until(cond_http, &ready, WAIT_MS), 0,
                 "/readyz not 200 again after Redis came back");

    /* 5. The metrics port is taken: a second run exits 1 at once, naming the
     * key and the address. */
    spawn_run(&g.second, "second.log", g.port);
    int status = -1;
    if (kst_proc_wait(&g.second, 30000, &status) != 0)
        kst_proc_stop(&g.second, 1000);
    char *log = read_log(g.second.log_path);
    char needle[80];
    snprintf(needle, sizeof needle, "metrics_listen: cannot listen on 127.0.0.1:%d", g.port);
    cr_expect_eq(status, 1, "second run exited %d:\n%s", status, log);
    cr_expect(strstr(log, needle) != NULL, "no '%s' in:\n%s", needle, log);
    cr_expect(strstr(log, "Address already in use") != NULL, "%s", log);
    free(log);

    /* A clean stop: exit 0. */
    status = kst_proc_stop(&g.run, 20000);
    cr_expect_eq(status, 0, "kpistream run exited %d on SIGTERM", status);
    g.passed = true;
}
