/* The browser wall dashboard end to end, in a real browser: headless
 * Chromium driven over the DevTools protocol (cdp.c) loads `kpistream
 * dashboard`, which reads a private redis-server fed by the real pipeline
 * (in-process librdkafka mock cluster -> `kpistream run --clock wall`).
 *
 *   1. A few customers' events from the last 20 minutes; the dashboard runs
 *      as the read-only `kpi-watch` ACL user of docs/security.md (the rule
 *      spelt as there). Every tile of the 24h window shows the value Redis
 *      holds (data-raw = the hash field, text formatted, revenue as Redis
 *      writes it since it is below 1000), and the status says LIVE.
 *   2. A customer whose id is markup (<script>, <img onerror>) is at medium
 *      risk: the risk table shows the id as text; no element of it exists,
 *      no script of it ran (the title and a flag it would set are unchanged).
 *   3. The same customer drifts into high risk: the alert written to
 *      kpi:alerts appears in the page without a reload (a marker set in the
 *      page at the start is still there), marked as new, id as text.
 *   4. Screenshot (artifacts/dashboard.png in the build dir), then the
 *      pipeline stops: STALE within 10 s + a poll; then Redis stops: REDIS
 *      UNREACHABLE (artifacts/dashboard-redis-down.png).
 *
 * Every wait polls a condition with a deadline. The teardown stops Chromium,
 * the dashboard, the pipeline and redis-server by PID, also on failure.
 * Skipped, saying why, only when Chromium is not installed or cannot start
 * here, unless KS_REQUIRE_BROWSER or CI is set (then that is a failure). */
#include "cdp.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>

#define TOPIC "ev"
#define WAIT_MS 60000
#define EVIL "<script>document.title='pwned'</script><img src=x onerror=\"document.body.dataset.pwned=1\">"
#define TITLE "kpistream dashboard"
/* docs/security.md, "Redis ACL users", with a password: the test checks the
 * page still holds the rule it uses. */
#define WATCH_RULE "resetkeys %R~kpi:* resetchannels -@all +ping +select +hgetall +hmget +scan +zcard +zrevrange +xrevrange"

static struct {
    char dir[256];
    kst_redis redis;
    kst_kafka kafka;
    kst_proc run, dash;
    cdp browser;
    int dash_port;
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
            kst_log_tail(g.run.log_path, 30);
        if (g.dash.log_path[0])
            kst_log_tail(g.dash.log_path, 30);
        if (g.browser.proc.log_path[0])
            kst_log_tail(g.browser.proc.log_path, 15);
    }
    cdp_close(&g.browser);
    if (g.dash.pid)
        kst_proc_stop(&g.dash, 10000);
    if (g.run.pid)
        kst_proc_stop(&g.run, 10000);
    kst_redis_stop(&g.redis);
    kst_kafka_stop(&g.kafka);
    if (g.dir[0])
        kst_rmtree(g.dir);
}

TestSuite(dashboard_browser, .init = setup, .fini = teardown, .timeout = 280);

/* ------------------------------------------------------------------ */
/* Events                                                              */

static char *g_lines; /* JSON lines being built */
static size_t g_len, g_cap;

__attribute__((format(printf, 1, 2))) static void ev(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (g_len + (size_t)n + 2 > g_cap) {
        g_cap = (g_cap + (size_t)n + 2) * 2;
        g_lines = realloc(g_lines, g_cap);
    }
    memcpy(g_lines + g_len, line, (size_t)n);
    g_len += (size_t)n;
    g_lines[g_len++] = '\n';
    g_lines[g_len] = '\0';
}

static int g_seq;

/* Common envelope: event id, type, customer, ts; then the rest. */
#define EV(type, cust, ts, rest, ...) \
    ev("{\"event_id\":\"e%d\",\"type\":\"" type "\",\"customer_id\":\"%s\",\"ts\":%lld" rest "}", \
       ++g_seq, cust, (long long)(ts), ##__VA_ARGS__)

/* The evil id as a JSON string body (quotes escaped). */
static const char *evil_json(void)
{
    static char out[256];
    size_t o = 0;
    for (const char *p = EVIL; *p && o + 3 < sizeof out; p++) {
        if (*p == '"' || *p == '\\')
            out[o++] = '\\';
        out[o++] = *p;
    }
    out[o] = '\0';
    return out;
}

static long produce(void)
{
    long n = kst_kafka_produce_jsonl(&g.kafka, TOPIC, g_lines);
    cr_assert_geq(n, 1, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_flush(&g.kafka, 30000), 0, "%s", kst_last_error());
    g_len = 0;
    return n;
}

/* ------------------------------------------------------------------ */
/* Page conditions                                                     */

/* Evaluates expr (a string) in the page. Caller frees. */
static char *page(const char *expr)
{
    return cdp_eval_string(&g.browser, expr);
}

typedef struct tiles_ctx {
    char last[4096]; /* the last mismatch, for the failure message */
} tiles_ctx;

static const char *const g_tile_kpis[] = {
    "active_customers", "revenue", "aov", "csat", "nps", "churn_rate", "retention_rate",
    "complaint_rate", "response_time_p90", NULL,
};

/* Every tile of the 24h window shows what kpi:global holds, and LIVE. */
static int cond_tiles(void *ctx)
{
    tiles_ctx *t = ctx;
    char *json = page("JSON.stringify({state: document.getElementById('status').dataset.state,"
                      " tiles: [...document.querySelectorAll('.tile .value')].map(e =>"
                      " [e.dataset.field || '', e.dataset.raw || '', e.textContent])})");
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    free(json);
    redisContext *c = kst_redis_connect(&g.redis);
    int ok = o && c;
    const cJSON *st = cJSON_GetObjectItem(o, "state");
    if (ok && (!cJSON_IsString(st) || strcmp(st->valuestring, "live") != 0)) {
        snprintf(t->last, sizeof t->last, "status %s, not live",
                 cJSON_IsString(st) ? st->valuestring : "?");
        ok = 0;
    }
    for (int k = 0; ok && g_tile_kpis[k]; k++) {
        char field[64], want[64] = "";
        snprintf(field, sizeof field, "%s:24h", g_tile_kpis[k]);
        int have = kst_redis_hget(c, "kpi:global", field, want, sizeof want);
        const cJSON *row, *found = NULL;
        cJSON_ArrayForEach(row, cJSON_GetObjectItem(o, "tiles"))
        {
            if (strcmp(cJSON_GetArrayItem(row, 0)->valuestring, field) == 0)
                found = row;
        }
        const char *raw = found ? cJSON_GetArrayItem(found, 1)->valuestring : "(no tile)";
        const char *text = found ? cJSON_GetArrayItem(found, 2)->valuestring : "";
        bool good = found && strcmp(raw, have == 1 ? want : "") == 0 &&
                    (have != 1 || strcmp(text, "–") != 0);
        /* Money below 1000 is shown as Redis writes it (2 decimals). */
        if (good && strcmp(g_tile_kpis[k], "revenue") == 0)
            good = strcmp(text, want) == 0;
        if (!good) {
            snprintf(t->last, sizeof t->last, "tile %s shows raw '%s' text '%s'; Redis has '%s'",
                     field, raw, text, have == 1 ? want : "(absent)");
            ok = 0;
        }
    }
    if (c)
        redisFree(c);
    cJSON_Delete(o);
    return ok;
}

typedef struct text_ctx {
    const char *expr; /* gives a string */
    const char *want; /* ... equal to this */
    char last[1024];
} text_ctx;

static int cond_text(void *ctx)
{
    text_ctx *t = ctx;
    char *s = page(t->expr);
    snprintf(t->last, sizeof t->last, "%s", s ? s : "(no answer)");
    int ok = s && strcmp(s, t->want) == 0;
    free(s);
    return ok;
}

static void wait_text(const char *expr, const char *want, int timeout_ms, const char *what)
{
    text_ctx t = {expr, want, ""};
    if (kst_wait_until(cond_text, &t, timeout_ms) != 0)
        cr_assert_fail("%s: page gives '%s', want '%s'", what, t.last, want);
}

static void artifact(const char *name, char *path, size_t n)
{
    mkdir(KS_ARTIFACT_DIR, 0755);
    snprintf(path, n, "%s/%s", KS_ARTIFACT_DIR, name);
    cr_assert_eq(cdp_screenshot(&g.browser, path), 0, "%s", cdp_error());
    fprintf(stderr, "dashboard_browser: screenshot %s\n", path);
}

static bool browser_required(void)
{
    const char *a = getenv("KS_REQUIRE_BROWSER"), *b = getenv("CI");
    return (a && *a && strcmp(a, "0") != 0) || (b && *b && strcmp(b, "false") != 0);
}

/* ------------------------------------------------------------------ */

Test(dashboard_browser, tiles_escaping_live_alert_stale_and_outage)
{
    const char *chromium = cdp_find_chromium();
    if (!chromium) {
        cr_assert(!browser_required(), "chromium not found in PATH (Debian package chromium; "
                                       "scripts/deps.sh installs it)");
        cr_skip_test("chromium not found in PATH: install Debian's chromium (scripts/deps.sh) "
                     "to run the browser test");
    }
    char *doc = kst_read_file(KS_SOURCE_DIR "/docs/security.md", NULL);
    cr_assert(doc && strstr(doc, "ACL SETUSER kpi-watch on >WATCH-PASSWORD " WATCH_RULE),
              "docs/security.md no longer holds the kpi-watch rule this test uses");
    free(doc);

    cr_assert_eq(kst_tmpdir(g.dir, sizeof g.dir), 0);
    cr_assert_eq(kst_redis_start_opt(&g.redis, 0), 0, "%s", kst_last_error());
    redisContext *rc = kst_redis_connect(&g.redis);
    cr_assert_not_null(rc);
    /* As argv: the rule's "%R~" would be a format directive to redisCommand. */
    char rule[] = "ACL SETUSER kpi-watch on >watchpw " WATCH_RULE;
    const char *argv[32];
    int argc = 0;
    for (char *tok = strtok(rule, " "); tok && argc < 32; tok = strtok(NULL, " "))
        argv[argc++] = tok;
    redisReply *r = redisCommandArgv(rc, argc, argv, NULL);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s", r ? r->str : "no reply");
    freeReplyObject(r);
    cr_assert_eq(kst_kafka_start(&g.kafka, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC, 2), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&g.kafka, TOPIC ".dlq", 1), 0, "%s", kst_last_error());

    /* 1. Four customers and the evil one, in the last 20 minutes. */
    int64_t now;
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    }
    int64_t t0 = now - 20 * 60000;
    static const char *const cust[4] = {"c-ada", "c-bob", "c-cy", "c-dee"};
    static const char *const seg[4] = {"smb", "enterprise", "smb", "midmarket"};
    static const char *const chan[4] = {"web", "app", "email", "web"};
    static const char *const amount[4] = {"120.50", "80.25", "45", "99.99"};
    static const int csat[4] = {5, 4, 2, 5}, nps[4] = {10, 9, 3, 8};
    for (int i = 0; i < 4; i++) {
        int64_t t = t0 + i * 1000;
        EV("signup", cust[i], t, ",\"segment\":\"%s\",\"channel\":\"%s\"", seg[i], chan[i]);
        EV("interaction", cust[i], t + 10000, ",\"channel\":\"%s\",\"action\":\"view\"", chan[i]);
        EV("purchase", cust[i], t + 20000, ",\"channel\":\"%s\",\"order_id\":\"o%d\",\"amount\":%s",
           chan[i], i, amount[i]);
        EV("survey", cust[i], t + 30000, ",\"kind\":\"csat\",\"score\":%d", csat[i]);
        EV("survey", cust[i], t + 40000, ",\"kind\":\"nps\",\"score\":%d", nps[i]);
        EV("ticket", cust[i], t + 50000, ",\"ticket_id\":\"t%d\",\"action\":\"opened\",\"complaint\":%s",
           i, i == 2 ? "true" : "false");
        EV("ticket", cust[i], t + 50000 + (i + 1) * 45000, ",\"ticket_id\":\"t%d\",\"action\":\"responded\"", i);
    }
    /* 2. The evil id: NPS 0 and CSAT 1 make it medium (25 + 15 = 40). */
    const char *evil = evil_json();
    int64_t te = now - 15 * 60000;
    EV("signup", evil, te, ",\"segment\":\"smb\",\"channel\":\"web\"");
    EV("interaction", evil, te + 60000, ",\"channel\":\"web\"");
    EV("survey", evil, te + 120000, ",\"kind\":\"nps\",\"score\":0");
    EV("survey", evil, te + 121000, ",\"kind\":\"csat\",\"score\":1");
    long sent = produce();

    char log[400], url[128];
    snprintf(log, sizeof log, "%s/run.log", g.dir);
    const char *run_args[] = {"run", "--brokers", g.kafka.bootstraps, "--topics", TOPIC,
                              "--group", "dash", "--redis", kst_redis_url(&g.redis),
                              "--clock", "wall", NULL};
    cr_assert_eq(kst_kpistream_spawn(&g.run, log, run_args, NULL), 0, "%s", kst_last_error());
    cr_assert_eq(kst_redis_wait_ll_ge(&g.redis, "kpi:meta", "events_processed", sent, WAIT_MS), 0,
                 "%s", kst_last_error());

    /* The dashboard, as the read-only user. */
    g.dash_port = kst_free_port();
    char listen[64], redis_url[128];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g.dash_port);
    snprintf(redis_url, sizeof redis_url, "redis://kpi-watch:watchpw@127.0.0.1:%d/0", g.redis.port);
    snprintf(log, sizeof log, "%s/dashboard.log", g.dir);
    const char *dash_args[] = {"dashboard", "--redis", redis_url, "--listen", listen, NULL};
    cr_assert_eq(kst_kpistream_spawn(&g.dash, log, dash_args, NULL), 0, "%s", kst_last_error());
    cr_assert_eq(kst_wait_log(log, "serving http://", &g.dash, WAIT_MS), 0, "%s", kst_last_error());

    /* The browser. */
    char profile[300], blog[300];
    snprintf(profile, sizeof profile, "%s/chromium", g.dir);
    snprintf(blog, sizeof blog, "%s/chromium.log", g.dir);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/?window=24h", g.dash_port);
    if (cdp_open(&g.browser, chromium, url, profile, blog, 60000) != 0) {
        kst_log_tail(blog, 20);
        cr_assert(!browser_required(), "chromium cannot run here: %s", cdp_error());
        cr_skip_test("chromium is installed but cannot run here (%s); its log is above",
                     cdp_error());
    }
    cJSON_Delete(cdp_call(&g.browser, "Emulation.setDeviceMetricsOverride",
                          "{\"width\":1920,\"height\":1080,\"deviceScaleFactor\":1,\"mobile\":false}"));
    wait_text("document.readyState === 'complete' && document.getElementById('tiles').children.length"
              " ? 'ready' : 'loading'", "ready", WAIT_MS, "page load");
    free(page("window.__ks_marker = 'same-page'"));

    tiles_ctx tc = {""};
    if (kst_wait_until(cond_tiles, &tc, WAIT_MS) != 0)
        cr_assert_fail("tiles never matched Redis: %s", tc.last);
    long long hist = 0;
    r = redisCommand(rc, "XLEN kpi:history");
    if (r && r->type == REDIS_REPLY_INTEGER)
        hist = r->integer;
    freeReplyObject(r);
    cr_expect_geq(hist, 1, "run wrote no kpi:history snapshot");

    /* 2. The evil id in the risk table, as text. */
    char expr[1024];
    wait_text("[...document.querySelectorAll('#risk td.customer')].map(e => e.textContent)"
              ".includes(" "'" "<script>document.title=\\'pwned\\'</script><img src=x "
              "onerror=\"document.body.dataset.pwned=1\">'" ") ? 'shown' : 'absent'",
              "shown", WAIT_MS, "evil id in the risk table");
    snprintf(expr, sizeof expr,
             "JSON.stringify([document.title, document.body.dataset.pwned || '',"
             " document.querySelectorAll('img').length, document.scripts.length,"
             " document.querySelectorAll('#risk script, #alerts script, #triggers script').length])");
    char *facts = page(expr);
    cr_assert_str_eq(facts, "[\"" TITLE "\",\"\",0,1,0]",
                     "markup in a customer id was interpreted: [title, pwned, imgs, scripts, "
                     "injected scripts] = %s", facts ? facts : "?");
    free(facts);
    wait_text("document.querySelectorAll('#alerts li[data-id]').length + ''", "0", 5000,
              "no alert before the drift");

    /* 3. The drift: two payment failures, a downgrade, a complaint: 71, high. */
    int64_t td = now - 5 * 60000;
    EV("payment_failed", evil, td, ",\"amount\":20");
    EV("payment_failed", evil, td + 1000, ",\"amount\":20");
    EV("subscription", evil, td + 2000, ",\"action\":\"downgrade\"");
    EV("ticket", evil, td + 3000, ",\"ticket_id\":\"tx\",\"action\":\"opened\",\"complaint\":true");
    sent += produce();
    cr_assert_eq(kst_redis_wait_ll_ge(&g.redis, "kpi:meta", "events_processed", sent, WAIT_MS), 0,
                 "%s", kst_last_error());
    wait_text("(() => { const li = document.querySelector('#alerts li[data-id]');"
              " return li ? li.querySelector('.who').textContent : ''; })()",
              "<script>document.title='pwned'</script><img src=x "
              "onerror=\"document.body.dataset.pwned=1\">",
              WAIT_MS, "the new alert in the page");
    wait_text("window.__ks_marker || 'reloaded'", "same-page", 1000, "no reload");
    wait_text("document.querySelector('#alerts li[data-id]').classList.contains('new') ? 'new' : 'old'",
              "new", 1000, "the alert is marked new");
    facts = page(expr);
    cr_assert_str_eq(facts, "[\"" TITLE "\",\"\",0,1,0]", "after the alert: %s", facts ? facts : "?");
    free(facts);

    /* 4. The artefact, then stale, then Redis down. Let events/s show. */
    wait_text("document.querySelector('#tile-events_per_s .value').dataset.raw !== '' ? 'y' : 'n'",
              "y", WAIT_MS, "events/s");
    char shot[400];
    artifact("dashboard.png", shot, sizeof shot);
    cr_assert_eq(kst_proc_stop(&g.run, 20000), 0, "run did not stop cleanly");
    wait_text("document.getElementById('status').dataset.state", "stale", 30000, "stale indicator");
    cr_assert_eq(kst_redis_down(&g.redis), 0, "%s", kst_last_error());
    wait_text("document.getElementById('status').dataset.state", "redis-down", 30000,
              "Redis-unreachable indicator");
    artifact("dashboard-redis-down.png", shot, sizeof shot);
    redisFree(rc);
    free(g_lines);
    g.passed = true;
}
