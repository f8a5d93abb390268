/* Config keys one at a time: defaults, ks_config_set() with good and bad values,
 * cross-key validation, run's flags and the effective-config JSON. */
#include "test_config_helpers.h"

#include <cjson/cJSON.h>

#define DAY 86400000LL
#define HOUR 3600000LL
#define MIN 60000LL

static ks_config cfg;
static char err[KS_ERRSTR_SIZE];

static void setup(void)
{
    err[0] = '\0';
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
}

static void teardown(void)
{
    ks_config_free(&cfg);
}

TestSuite(config_keys, .init = setup, .fini = teardown);

Test(config_keys, defaults_match_the_header)
{
    cr_assert_str_eq(cfg.brokers, "localhost:9092");
    cr_assert_eq(cfg.ntopics, 1);
    cr_assert_str_eq(cfg.topics[0], "customer-events");
    cr_assert_str_eq(cfg.group, "kpistream");
    cr_assert_null(cfg.dlq_topic);
    cr_assert_eq(cfg.nkafka_props, 0);
    cr_assert_eq(cfg.batch_size, 1000);
    cr_assert_str_eq(cfg.redis_url, "redis://127.0.0.1:6379/0");
    cr_assert_str_eq(cfg.prefix, "kpi:");
    cr_assert_eq(cfg.flush_interval_ms, 1000);
    cr_assert_eq(cfg.redis_timeout_ms, 2000);
    cr_assert_eq(cfg.redis_retry_max_ms, 5000);
    cr_assert_eq(cfg.clock, KS_CLOCK_WALL);
    cr_assert_eq(cfg.exit_on_eof, false);
    cr_assert_eq(cfg.nwindows, 4);
    const char *names[] = {"1h", "24h", "7d", "30d"};
    const int64_t lens[] = {HOUR, 24 * HOUR, 7 * DAY, 30 * DAY};
    for (int i = 0; i < 4; i++) {
        cr_expect_str_eq(cfg.windows[i].name, names[i]);
        cr_expect_eq(cfg.windows[i].length_ms, lens[i]);
    }
    cr_assert_eq(cfg.churn_inactivity_ms, 30 * DAY);
    cr_assert_eq(cfg.max_future_skew_ms, 5 * MIN);
    cr_assert_eq(cfg.dedup_horizon_ms, 30 * DAY, "default dedup horizon = largest window");
    cr_assert_eq(cfg.dedup_horizon_explicit, false);
    cr_assert_eq(cfg.max_message_bytes, 65536);
    cr_assert_eq(cfg.max_segments, 64);
    cr_assert_eq(cfg.max_channels, 64);
    cr_assert_eq(cfg.max_names_per_customer, 16);
    cr_assert_float_eq(cfg.gross_margin, 0.3, 1e-12);
    cr_assert_float_eq(cfg.min_churn, 0.01, 1e-12);
    cr_assert_eq(cfg.csat_satisfied_min, 4);
    cr_assert_eq(cfg.nps_promoter_min, 9);
    cr_assert_eq(cfg.nps_detractor_max, 6);
    cr_assert_eq(cfg.log_level, 1 /* KS_LOG_INFO */);
    cr_assert_str_eq(cfg.metrics_listen, "127.0.0.1:9464");
    cr_assert_null(cfg.state_dir, "no snapshots unless asked for");
    cr_assert_eq(cfg.snapshot_interval_ms, 5 * MIN);
    cr_assert_eq(ks_config_max_window_ms(&cfg), 30 * DAY);
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

static void set_ok(const char *key, const char *value)
{
    int rc = ks_config_set(&cfg, key, value, err, sizeof err);
    cr_assert_eq(rc, 0, "set %s=%s: %s", key, value, err);
}

Test(config_keys, every_key_accepts_a_good_value)
{
    set_ok("brokers", "k1:9092,k2:9092");
    cr_expect_str_eq(cfg.brokers, "k1:9092,k2:9092");
    set_ok("topics", "orders, clicks,tickets");
    cr_assert_eq(cfg.ntopics, 3);
    cr_expect_str_eq(cfg.topics[0], "orders");
    cr_expect_str_eq(cfg.topics[1], "clicks");
    cr_expect_str_eq(cfg.topics[2], "tickets");
    set_ok("group", "kpi-prod");
    cr_expect_str_eq(cfg.group, "kpi-prod");
    set_ok("dlq_topic", "dead.letters");
    cr_expect_str_eq(cfg.dlq_topic, "dead.letters");
    set_ok("dlq_topic", "");
    cr_expect_null(cfg.dlq_topic, "empty dlq_topic means the per-topic default");
    set_ok("batch_size", "1");
    cr_expect_eq(cfg.batch_size, 1);
    set_ok("batch_size", "100000");
    cr_expect_eq(cfg.batch_size, 100000);
    set_ok("redis_url", "redis://u:p@r.example:7000/3");
    cr_expect_str_eq(cfg.redis_url, "redis://u:p@r.example:7000/3");
    set_ok("prefix", "");
    cr_expect_str_eq(cfg.prefix, "");
    set_ok("prefix", "shop1:kpi:");
    cr_expect_str_eq(cfg.prefix, "shop1:kpi:");
    set_ok("flush_interval_ms", "250");
    cr_expect_eq(cfg.flush_interval_ms, 250);
    set_ok("flush_interval_ms", "2s");
    cr_expect_eq(cfg.flush_interval_ms, 2000);
    set_ok("redis_timeout_ms", "10");
    cr_expect_eq(cfg.redis_timeout_ms, 10);
    set_ok("redis_retry_max_ms", "600000");
    cr_expect_eq(cfg.redis_retry_max_ms, 600000);
    set_ok("clock", "event");
    cr_expect_eq(cfg.clock, KS_CLOCK_EVENT);
    set_ok("clock", "wall");
    cr_expect_eq(cfg.clock, KS_CLOCK_WALL);
    set_ok("exit_on_eof", "true");
    cr_expect(cfg.exit_on_eof);
    set_ok("exit_on_eof", "0");
    cr_expect(!cfg.exit_on_eof);
    set_ok("exit_on_eof", "YES");
    cr_expect(cfg.exit_on_eof);
    set_ok("windows", "15m,1h");
    cr_expect_eq(cfg.nwindows, 2);
    set_ok("churn_inactivity", "14d");
    cr_expect_eq(cfg.churn_inactivity_ms, 14 * DAY);
    set_ok("churn_inactivity_ms", "3600000");
    cr_expect_eq(cfg.churn_inactivity_ms, HOUR);
    set_ok("max_future_skew", "0");
    cr_expect_eq(cfg.max_future_skew_ms, 0);
    set_ok("max_future_skew", "7d");
    cr_expect_eq(cfg.max_future_skew_ms, 7 * DAY);
    set_ok("dedup_horizon", "2h");
    cr_expect_eq(cfg.dedup_horizon_ms, 2 * HOUR);
    cr_expect(cfg.dedup_horizon_explicit);
    set_ok("max_message_bytes", "1024");
    cr_expect_eq(cfg.max_message_bytes, 1024);
    set_ok("max_message_bytes", "16777216");
    cr_expect_eq(cfg.max_message_bytes, 16777216);
    set_ok("max_segments", "254");
    cr_expect_eq(cfg.max_segments, 254);
    set_ok("max_channels", "1");
    cr_expect_eq(cfg.max_channels, 1);
    set_ok("max_names_per_customer", "64");
    cr_expect_eq(cfg.max_names_per_customer, 64);
    set_ok("gross_margin", "1");
    cr_expect_float_eq(cfg.gross_margin, 1.0, 1e-12);
    set_ok("min_churn", "0.05");
    cr_expect_float_eq(cfg.min_churn, 0.05, 1e-12);
    set_ok("csat_satisfied_min", "5");
    cr_expect_eq(cfg.csat_satisfied_min, 5);
    set_ok("nps_promoter_min", "10");
    cr_expect_eq(cfg.nps_promoter_min, 10);
    set_ok("nps_detractor_max", "0");
    cr_expect_eq(cfg.nps_detractor_max, 0);
    set_ok("log_level", "debug");
    cr_expect_eq(cfg.log_level, 0);
    set_ok("log_level", "error");
    cr_expect_eq(cfg.log_level, 3);
    set_ok("kafka.security.protocol", "SASL_SSL");
    cr_assert_eq(cfg.nkafka_props, 1);
    cr_expect_str_eq(cfg.kafka_props[0].key, "security.protocol");
    cr_expect_str_eq(cfg.kafka_props[0].value, "SASL_SSL");
    cr_expect_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

/* Each row: key, bad value, fragments the message must contain. */
static const struct {
    const char *key, *value, *frag1, *frag2;
} bad[] = {
    {"brokers", "", "brokers", "non-empty"},
    {"topics", "", "topics", "at least one"},
    {"topics", "a,,b", "topics", "is empty"},
    {"topics", "a b", "topics", "character Kafka does not allow"},
    {"topics", "x,y,x", "topics", "listed twice"},
    {"topics", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "topics", "at most 16"},
    {"group", "", "group", "non-empty"},
    {"dlq_topic", "bad/topic", "dlq_topic", "character Kafka does not allow"},
    {"batch_size", "0", "batch_size", "1..100000, got \"0\""},
    {"batch_size", "100001", "batch_size", "1..100000"},
    {"batch_size", "12abc", "batch_size", "got \"12abc\""},
    {"batch_size", "99999999999999999999", "batch_size", "an integer"},
    {"redis_url", "http://h:1", "redis_url", "redis://"},
    {"redis_url", "redis://h:0", "redis_url", "port must be an integer 1..65535"},
    {"prefix", "kpi :", "prefix", "spaces"},
    {"prefix", "0123456789012345678901234567890123456789012345678901234567890123456789", "prefix",
     "at most 64"},
    {"flush_interval_ms", "9", "flush_interval_ms", "10..60000"},
    {"flush_interval_ms", "x", "flush_interval_ms", "got \"x\""},
    {"flush_interval_ms", "2m", "flush_interval_ms", "10..60000"},
    {"redis_timeout_ms", "60001", "redis_timeout_ms", "10..60000"},
    {"redis_retry_max_ms", "600001", "redis_retry_max_ms", "10..600000"},
    {"clock", "now", "clock", "\"wall\" or \"event\", got \"now\""},
    {"exit_on_eof", "maybe", "exit_on_eof", "true or false"},
    {"windows", "1x", "windows", "not a duration"},
    {"churn_inactivity", "30s", "churn_inactivity", "1m..3650d"},
    {"churn_inactivity", "-1d", "churn_inactivity", "got \"-1d\""},
    {"churn_inactivity", "3651d", "churn_inactivity", "1m..3650d"},
    {"max_future_skew", "8d", "max_future_skew", "0ms..7d"},
    {"dedup_horizon", "59s", "dedup_horizon", "1m..3650d"},
    {"max_message_bytes", "1023", "max_message_bytes", "1024..16777216"},
    {"max_message_bytes", "16777217", "max_message_bytes", "1024..16777216"},
    {"max_segments", "0", "max_segments", "1..254"},
    {"max_names_per_customer", "0", "max_names_per_customer", "1..64"},
    {"max_names_per_customer", "65", "max_names_per_customer", "1..64"},
    {"max_channels", "255", "max_channels", "1..254"},
    {"top_k", "0", "top_k", "1..100"},
    {"max_segments", "255", "max_segments", "1..254"},
    {"gross_margin", "0", "gross_margin", "> 0 and <= 1"},
    {"gross_margin", "1.5", "gross_margin", "got \"1.5\""},
    {"gross_margin", "abc", "gross_margin", "a number"},
    {"min_churn", "nan", "min_churn", "> 0 and <= 1"},
    {"min_churn", "-0.1", "min_churn", "> 0 and <= 1"},
    {"csat_satisfied_min", "6", "csat_satisfied_min", "1..5"},
    {"csat_satisfied_min", "0", "csat_satisfied_min", "1..5"},
    {"nps_promoter_min", "11", "nps_promoter_min", "0..10"},
    {"nps_detractor_max", "-1", "nps_detractor_max", "0..10"},
    {"log_level", "verbose", "log_level", "\"debug\", \"info\", \"warn\", \"error\""},
    {"metrics_listen", "9464", "metrics_listen", "\"host:port\""},
    {"metrics_listen", ":9464", "metrics_listen", "needs a host"},
    {"metrics_listen", "127.0.0.1:0", "metrics_listen", "1..65535"},
    {"metrics_listen", "127.0.0.1:65536", "metrics_listen", "1..65535"},
    {"metrics_listen", "127.0.0.1:94x", "metrics_listen", "got \"127.0.0.1:94x\""},
    {"metrics_listen", "::1:9464", "metrics_listen", "in brackets"},
    {"metrics_listen", "[::1:9464", "metrics_listen", "brackets closed"},
    {"metrics_listen", "a b:9464", "metrics_listen", "not a host name"},
    {"snapshot_interval", "0", "snapshot_interval", "snapshot_interval"},
    {"snapshot_interval", "8d", "snapshot_interval", "snapshot_interval"},
    {"kafka", "x", "kafka", "kafka.<property>"},
    {"kafka.bootstrap.servers", "h:1", "kafka.bootstrap.servers", "'brokers'"},
    {"kafka.group.id", "g", "kafka.group.id", "'group'"},
    {"kafka.", "x", "kafka", "property name is empty"},
    {"kafka.a b", "x", "kafka.a b", "not a librdkafka property name"},
};

Test(config_keys, every_key_rejects_a_bad_value_naming_the_key)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ks_config c;
        cr_assert_eq(ks_config_init_defaults(&c), 0);
        err[0] = '\0';
        int rc = ks_config_set(&c, bad[i].key, bad[i].value, err, sizeof err);
        cr_expect_eq(rc, KS_ERR_CONFIG, "set %s=%s should fail", bad[i].key, bad[i].value);
        KS_T_ERR_HAS(err, bad[i].frag1, bad[i].frag2);
        /* A rejected value leaves the key as it was. */
        char *before_json, *after_json;
        ks_config d;
        cr_assert_eq(ks_config_init_defaults(&d), 0);
        before_json = ks_config_to_json(&d);
        after_json = ks_config_to_json(&c);
        cr_expect_str_eq(after_json, before_json, "set %s=%s changed the config", bad[i].key,
                         bad[i].value);
        free(before_json);
        free(after_json);
        ks_config_free(&d);
        ks_config_free(&c);
    }
}

Test(config_keys, unknown_key_suggests_the_closest)
{
    cr_assert_eq(ks_config_set(&cfg, "flush_intervl_ms", "5", err, sizeof err), KS_ERR_CONFIG);
    cr_assert_str_eq(err, "unknown key 'flush_intervl_ms' (did you mean 'flush_interval_ms'?)");
    cr_assert_eq(ks_config_set(&cfg, "brokrs", "h:1", err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "'brokrs'", "did you mean 'brokers'");
    cr_assert_eq(ks_config_set(&cfg, "zzzzzzzz", "1", err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "unknown key 'zzzzzzzz'");
    cr_expect(strstr(err, "did you mean") == NULL, "%s", err);
}

Test(config_keys, null_value_is_an_error)
{
    cr_assert_eq(ks_config_set(&cfg, "brokers", NULL, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "brokers", "value is required");
}

Test(config_keys, validate_nps_bounds_cross_rule)
{
    set_ok("nps_detractor_max", "9");
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "nps_detractor_max", "nps_promoter_min (9)", "is 9");
    set_ok("nps_detractor_max", "8");
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

Test(config_keys, dedup_horizon_follows_windows_until_set)
{
    set_ok("windows", "1h,24h");
    cr_expect_eq(cfg.dedup_horizon_ms, 24 * HOUR);
    cr_expect_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
    set_ok("dedup_horizon", "2d");
    set_ok("windows", "1h");
    cr_expect_eq(cfg.dedup_horizon_ms, 2 * DAY, "an explicit horizon is kept");
    set_ok("windows", "7d");
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "dedup_horizon", "2d", "largest window (7d)");
}

Test(config_keys, dedup_horizon_auto_goes_back_to_following_windows)
{
    set_ok("dedup_horizon", "40d");
    set_ok("dedup_horizon", "auto");
    cr_expect(!cfg.dedup_horizon_explicit);
    cr_expect_eq(cfg.dedup_horizon_ms, 30 * DAY);
    set_ok("dedup_horizon", "45d");
    set_ok("dedup_horizon", "");
    cr_expect(!cfg.dedup_horizon_explicit);
    set_ok("windows", "2h");
    cr_expect_eq(cfg.dedup_horizon_ms, 2 * HOUR);
    set_ok("dedup_horizon", "3h");
    char *js = ks_config_to_json(&cfg);
    cr_assert_not_null(js);
    cr_expect(strstr(js, "\"dedup_horizon\": \"3h\"") != NULL, "%s", js);
    free(js);
}

Test(config_keys, dlq_topic_may_not_be_an_input_topic)
{
    set_ok("dlq_topic", "customer-events");
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "dlq_topic", "\"customer-events\"", "input topic");
    set_ok("dlq_topic", "");
    set_ok("topics", "a,a.dlq");
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "dlq_topic", "\"a.dlq\"");
}

Test(config_keys, validate_rechecks_fields_written_by_code)
{
    cfg.batch_size = 0;
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "batch_size", "1..100000", "is 0");
    cfg.batch_size = 10;
    cfg.gross_margin = 0;
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "gross_margin");
    cfg.gross_margin = 0.5;
    cfg.churn_inactivity_ms = 1;
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "churn_inactivity", "1m", "3650d", "is 1ms");
    cfg.churn_inactivity_ms = DAY;
    ks_window_def tmp = cfg.windows[0];
    cfg.windows[0] = cfg.windows[1];
    cfg.windows[1] = tmp;
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "windows", "sorted");
}

Test(config_keys, kafka_props_keep_order_and_last_value_wins)
{
    set_ok("kafka.security.protocol", "SASL_SSL");
    set_ok("kafka.sasl.mechanism", "PLAIN");
    set_ok("kafka.security.protocol", "SSL");
    cr_assert_eq(cfg.nkafka_props, 2);
    cr_expect_str_eq(cfg.kafka_props[0].key, "security.protocol");
    cr_expect_str_eq(cfg.kafka_props[0].value, "SSL");
    cr_expect_str_eq(cfg.kafka_props[1].key, "sasl.mechanism");
    char key[32];
    for (int i = 2; i < KS_MAX_KAFKA_PROPS; i++) {
        snprintf(key, sizeof key, "kafka.x.p%d", i);
        set_ok(key, "1");
    }
    cr_assert_eq(cfg.nkafka_props, KS_MAX_KAFKA_PROPS);
    cr_assert_eq(ks_config_set(&cfg, "kafka.one.too.many", "1", err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "kafka.one.too.many", "at most 64");
    set_ok("kafka.x.p5", "replaced"); /* replacing still works when full */
}

/* ---- flags ---- */

static void flag_ok(const char *flag, const char *value)
{
    int rc = ks_config_apply_flag(&cfg, flag, value, err, sizeof err);
    cr_assert_eq(rc, 0, "%s %s: %s", flag, value ? value : "(none)", err);
}

Test(config_keys, run_flags_map_onto_keys)
{
    flag_ok("--brokers", "b:1");
    cr_expect_str_eq(cfg.brokers, "b:1");
    flag_ok("--topics", "t1,t2");
    cr_expect_eq(cfg.ntopics, 2);
    flag_ok("--group", "g2");
    cr_expect_str_eq(cfg.group, "g2");
    flag_ok("--redis", "redis://r:6390/1");
    cr_expect_str_eq(cfg.redis_url, "redis://r:6390/1");
    flag_ok("--prefix", "x:");
    cr_expect_str_eq(cfg.prefix, "x:");
    flag_ok("--clock", "event");
    cr_expect_eq(cfg.clock, KS_CLOCK_EVENT);
    flag_ok("--exit-on-eof", NULL);
    cr_expect(cfg.exit_on_eof);
    flag_ok("--kafka.security.protocol", "SASL_SSL");
    cr_expect_str_eq(cfg.kafka_props[0].value, "SASL_SSL");
    flag_ok("--set", "batch_size=77");
    cr_expect_eq(cfg.batch_size, 77);
    flag_ok("--flush-interval-ms", "500");
    cr_expect_eq(cfg.flush_interval_ms, 500);
    flag_ok("max-segments", "9");
    cr_expect_eq(cfg.max_segments, 9);
    cr_expect(ks_config_flag_is_switch("--exit-on-eof"));
    cr_expect(!ks_config_flag_is_switch("--brokers"));
}

Test(config_keys, bad_flags_are_named)
{
    cr_assert_eq(ks_config_apply_flag(&cfg, "--brokrs", "x", err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "unknown flag '--brokrs'", "did you mean '--brokers'");
    cr_assert_eq(ks_config_apply_flag(&cfg, "--group", NULL, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "--group", "needs a value");
    cr_assert_eq(ks_config_apply_flag(&cfg, "--redis", "redis://h:99999", err, sizeof err),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "--redis", "redis_url", "port");
    cr_assert_eq(ks_config_apply_flag(&cfg, "--set", "novalue", err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "--set", "key=value");
    cr_assert_eq(ks_config_apply_flag(&cfg, "--set", "batchsize=1", err, sizeof err),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "unknown key 'batchsize'", "'batch_size'");
    cr_assert_neq(ks_config_apply_flag(&cfg, "--config", "f.json", err, sizeof err), 0);
    KS_T_ERR_HAS(err, "--config");
    cr_assert_eq(ks_config_apply_flag(&cfg, "--kafka", "x", err, sizeof err), KS_ERR_CONFIG);
    cr_assert_str_eq(cfg.brokers, "localhost:9092", "failed flags change nothing");
}

/* ---- effective config ---- */

Test(config_keys, to_json_masks_secrets)
{
    set_ok("redis_url", "redis://alice:hunter2@r:6379/0");
    set_ok("kafka.sasl.username", "bob");
    set_ok("kafka.sasl.password", "pa55word");
    set_ok("kafka.ssl.key.password", "keypw");
    set_ok("kafka.sasl.oauthbearer.client.secret", "oauthsecret");
    char *js = ks_config_to_json(&cfg);
    cr_assert_not_null(js);
    cr_expect(strstr(js, "hunter2") == NULL, "%s", js);
    cr_expect(strstr(js, "pa55word") == NULL, "%s", js);
    cr_expect(strstr(js, "keypw") == NULL, "%s", js);
    cr_expect(strstr(js, "oauthsecret") == NULL, "%s", js);
    cJSON *root = cJSON_Parse(js);
    cr_assert_not_null(root, "to_json output must be JSON: %s", js);
    cr_expect_str_eq(cJSON_GetObjectItem(root, "redis_url")->valuestring,
                     "redis://alice:***@r:6379/0");
    const cJSON *k = cJSON_GetObjectItem(root, "kafka");
    cr_expect_str_eq(cJSON_GetObjectItem(k, "sasl.username")->valuestring, "bob");
    cr_expect_str_eq(cJSON_GetObjectItem(k, "sasl.password")->valuestring, "***");
    cr_expect_str_eq(cJSON_GetObjectItem(k, "ssl.key.password")->valuestring, "***");
    cr_expect_str_eq(cJSON_GetObjectItem(k, "sasl.oauthbearer.client.secret")->valuestring, "***");
    cJSON_Delete(root);
    free(js);
    /* Masking is output-only: the config itself still holds the secret. */
    cr_expect_str_eq(cfg.redis_url, "redis://alice:hunter2@r:6379/0");
}

Test(config_keys, to_json_shows_every_key_with_its_value)
{
    set_ok("windows", "60m,7d");
    set_ok("max_future_skew", "90s");
    char *js = ks_config_to_json(&cfg);
    cr_assert_not_null(js);
    cJSON *root = cJSON_Parse(js);
    cr_assert_not_null(root);
    const char *keys[] = {"brokers",
                          "topics",
                          "group",
                          "dlq_topic",
                          "batch_size",
                          "threads",
                          "kafka",
                          "redis_url",
                          "redis_password_file",
                          "prefix",
                          "flush_interval_ms",
                          "flush_max_pending",
                          "redis_timeout_ms",
                          "redis_retry_max_ms",
                          "clock",
                          "exit_on_eof",
                          "windows",
                          "churn_inactivity",
                          "max_future_skew",
                          "dedup_horizon",
                          "max_message_bytes",
                          "max_segments",
                          "max_channels",
                          "max_names_per_customer",
                          "top_k",
                          "gross_margin",
                          "min_churn",
                          "csat_satisfied_min",
                          "nps_promoter_min",
                          "nps_detractor_max",
                          "log_level",
                          "metrics_listen",
                          "state_dir",
                          "snapshot_interval",
                          "risk"};
    size_t nkeys = sizeof keys / sizeof keys[0];
    cr_expect_eq((size_t)cJSON_GetArraySize(root), nkeys);
    for (size_t i = 0; i < nkeys; i++)
        cr_expect_not_null(cJSON_GetObjectItem(root, keys[i]), "missing %s", keys[i]);
    const cJSON *w = cJSON_GetObjectItem(root, "windows");
    cr_expect_str_eq(cJSON_GetArrayItem(w, 0)->valuestring, "60m");
    cr_expect_str_eq(cJSON_GetArrayItem(w, 1)->valuestring, "7d");
    cr_expect_str_eq(cJSON_GetObjectItem(root, "max_future_skew")->valuestring, "90s");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(root, "dedup_horizon")),
              "an automatic horizon prints as null");
    cr_expect_str_eq(cJSON_GetObjectItem(root, "churn_inactivity")->valuestring, "30d");
    cr_expect(cJSON_IsNull(cJSON_GetObjectItem(root, "dlq_topic")));
    cr_expect_eq(cJSON_GetObjectItem(root, "batch_size")->valuedouble, 1000);
    cr_expect_str_eq(cJSON_GetObjectItem(root, "log_level")->valuestring, "info");
    cr_expect_str_eq(cJSON_GetObjectItem(root, "metrics_listen")->valuestring, "127.0.0.1:9464");
    cr_expect(strchr(js, '\t') == NULL, "indented with spaces");
    cJSON_Delete(root);
    free(js);
}

Test(config_keys, metrics_listen_takes_host_port_or_empty)
{
    set_ok("metrics_listen", "0.0.0.0:9464");
    cr_expect_str_eq(cfg.metrics_listen, "0.0.0.0:9464");
    set_ok("metrics_listen", "[::1]:1");
    set_ok("metrics_listen", "kpistream-0.example:65535");
    set_ok("metrics_listen", "");
    cr_expect_str_eq(cfg.metrics_listen, "", "empty switches the endpoint off");
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
    /* As a flag, and the parser itself (the server uses it too). */
    cr_assert_eq(ks_config_apply_flag(&cfg, "--metrics-listen", "127.0.0.1:19464", err, sizeof err),
                 0, "%s", err);
    cr_expect_str_eq(cfg.metrics_listen, "127.0.0.1:19464");
    char host[64];
    int port = 0;
    cr_assert_eq(ks_listen_parse("[::1]:9464", host, sizeof host, &port, err, sizeof err), 0);
    cr_expect_str_eq(host, "::1");
    cr_expect_eq(port, 9464);
    /* A struct written by code is checked again; NULL means off. */
    free(cfg.metrics_listen);
    cfg.metrics_listen = strdup("localhost");
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "metrics_listen:", "\"host:port\"", "localhost");
    free(cfg.metrics_listen);
    cfg.metrics_listen = NULL;
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

Test(config_keys, state_dir_and_snapshot_interval)
{
    set_ok("state_dir", "/var/lib/kpistream");
    cr_expect_str_eq(cfg.state_dir, "/var/lib/kpistream");
    set_ok("snapshot_interval", "30s");
    cr_expect_eq(cfg.snapshot_interval_ms, 30 * 1000);
    cr_assert_eq(ks_config_apply_flag(&cfg, "--state-dir", "/data/kps", err, sizeof err), 0,
                 "%s", err);
    cr_expect_str_eq(cfg.state_dir, "/data/kps");
    cr_assert_eq(ks_config_apply_flag(&cfg, "--snapshot-interval", "2m", err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(cfg.snapshot_interval_ms, 2 * MIN);
    char *js = ks_config_to_json(&cfg);
    cr_expect(strstr(js, "\"state_dir\": \"/data/kps\""), "%s", js);
    cr_expect(strstr(js, "\"snapshot_interval\": \"2m\""), "%s", js);
    free(js);
    set_ok("state_dir", "");
    cr_expect_str_eq(cfg.state_dir, "", "empty: no snapshots");
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}
