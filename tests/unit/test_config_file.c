/* Config files: every key from JSON, type errors, unknown keys, syntax errors with
 * line:col, missing files, the environment and flag layers, and the shipped example. */
#include "test_config_helpers.h"

#include <errno.h>

#define DAY 86400000LL
#define HOUR 3600000LL

static ks_config cfg;
static char err[KS_ERRSTR_SIZE];
static char path[512];

static void setup(void)
{
    ks_t_mkdir();
    err[0] = '\0';
    unsetenv("KPISTREAM_BROKERS");
    unsetenv("KPISTREAM_REDIS");
    unsetenv("KPISTREAM_GROUP");
    unsetenv("KPISTREAM_TOPICS");
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
}

static void teardown(void)
{
    ks_config_free(&cfg);
    ks_t_rmdir();
}

TestSuite(config_file, .init = setup, .fini = teardown);

static int load_text(const char *text)
{
    ks_t_write("c.json", text, path, sizeof path);
    err[0] = '\0';
    return ks_config_load_file(&cfg, path, err, sizeof err);
}

Test(config_file, every_key_from_json)
{
    int rc =
        load_text("{\n"
                  "  \"brokers\": \"k1:9092\",\n"
                  "  \"topics\": [\"orders\", \"tickets\"],\n"
                  "  \"group\": \"g1\",\n"
                  "  \"dlq_topic\": \"dead\",\n"
                  "  \"batch_size\": 500,\n"
                  "  \"kafka\": {\"security.protocol\": \"SASL_SSL\", \"fetch.wait.max.ms\": 50,\n"
                  "            \"enable.partition.eof\": true, \"x.ratio\": 0.5},\n"
                  "  \"kafka.sasl.mechanism\": \"PLAIN\",\n"
                  "  \"redis_url\": \"redis://r1:6380/2\",\n"
                  "  \"prefix\": \"p:\",\n"
                  "  \"flush_interval_ms\": 200,\n"
                  "  \"redis_timeout_ms\": \"3s\",\n"
                  "  \"redis_retry_max_ms\": 9000,\n"
                  "  \"clock\": \"event\",\n"
                  "  \"exit_on_eof\": true,\n"
                  "  \"windows\": [\"30d\", \"1h\", \"60d\"],\n"
                  "  \"churn_inactivity\": \"14d\",\n"
                  "  \"max_future_skew\": 60000,\n"
                  "  \"dedup_horizon_ms\": 5184000000,\n"
                  "  \"max_message_bytes\": 2048,\n"
                  "  \"max_segments\": 10,\n"
                  "  \"max_channels\": 4,\n"
                  "  \"gross_margin\": 0.5,\n"
                  "  \"min_churn\": 0.02,\n"
                  "  \"csat_satisfied_min\": 3,\n"
                  "  \"nps_promoter_min\": 8,\n"
                  "  \"nps_detractor_max\": 5,\n"
                  "  \"log_level\": \"warn\"\n"
                  "}\n");
    cr_assert_eq(rc, 0, "%s", err);
    cr_expect_str_eq(cfg.brokers, "k1:9092");
    cr_assert_eq(cfg.ntopics, 2);
    cr_expect_str_eq(cfg.topics[1], "tickets");
    cr_expect_str_eq(cfg.group, "g1");
    cr_expect_str_eq(cfg.dlq_topic, "dead");
    cr_expect_eq(cfg.batch_size, 500);
    cr_assert_eq(cfg.nkafka_props, 5);
    const char *pk[] = {"security.protocol", "fetch.wait.max.ms", "enable.partition.eof", "x.ratio",
                        "sasl.mechanism"};
    const char *pv[] = {"SASL_SSL", "50", "true", "0.5", "PLAIN"};
    for (int i = 0; i < 5; i++) {
        cr_expect_str_eq(cfg.kafka_props[i].key, pk[i]);
        cr_expect_str_eq(cfg.kafka_props[i].value, pv[i]);
    }
    cr_expect_str_eq(cfg.redis_url, "redis://r1:6380/2");
    cr_expect_str_eq(cfg.prefix, "p:");
    cr_expect_eq(cfg.flush_interval_ms, 200);
    cr_expect_eq(cfg.redis_timeout_ms, 3000);
    cr_expect_eq(cfg.redis_retry_max_ms, 9000);
    cr_expect_eq(cfg.clock, KS_CLOCK_EVENT);
    cr_expect(cfg.exit_on_eof);
    cr_assert_eq(cfg.nwindows, 3);
    cr_expect_str_eq(cfg.windows[0].name, "1h");
    cr_expect_str_eq(cfg.windows[1].name, "30d");
    cr_expect_str_eq(cfg.windows[2].name, "60d");
    cr_expect_eq(cfg.windows[2].length_ms, 60 * DAY);
    cr_expect_eq(cfg.churn_inactivity_ms, 14 * DAY);
    cr_expect_eq(cfg.max_future_skew_ms, 60000);
    cr_expect_eq(cfg.dedup_horizon_ms, 60 * DAY);
    cr_expect_eq(cfg.max_message_bytes, 2048);
    cr_expect_eq(cfg.max_segments, 10);
    cr_expect_eq(cfg.max_channels, 4);
    cr_expect_float_eq(cfg.gross_margin, 0.5, 1e-12);
    cr_expect_float_eq(cfg.min_churn, 0.02, 1e-12);
    cr_expect_eq(cfg.csat_satisfied_min, 3);
    cr_expect_eq(cfg.nps_promoter_min, 8);
    cr_expect_eq(cfg.nps_detractor_max, 5);
    cr_expect_eq(cfg.log_level, 2);
    cr_expect_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

Test(config_file, null_dedup_horizon_follows_windows)
{
    cr_assert_eq(load_text("{\"dedup_horizon\": null, \"windows\": [\"1h\", \"90d\"]}"), 0, "%s",
                 err);
    cr_expect(!cfg.dedup_horizon_explicit);
    cr_expect_eq(cfg.dedup_horizon_ms, 90 * DAY);
    cr_expect_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

Test(config_file, topics_and_windows_as_comma_separated_strings)
{
    cr_assert_eq(load_text("{\"topics\": \"a, b\", \"windows\": \"24h,1h\"}"), 0, "%s", err);
    cr_assert_eq(cfg.ntopics, 2);
    cr_expect_str_eq(cfg.topics[0], "a");
    cr_expect_str_eq(cfg.topics[1], "b");
    cr_assert_eq(cfg.nwindows, 2);
    cr_expect_str_eq(cfg.windows[0].name, "1h");
    cr_expect_eq(cfg.dedup_horizon_ms, 24 * HOUR);
}

/* Wrong JSON types: the message names the key, what it wanted and what it got. */
static const struct {
    const char *json, *frag1, *frag2, *frag3;
} wrong[] = {
    {"{\"batch_size\": \"1000\"}", "batch_size", "an integer 1..100000", "got \"1000\""},
    {"{\"batch_size\": 10.5}", "batch_size", "an integer", "got 10.5"},
    {"{\"batch_size\": 0}", "batch_size", "1..100000", "got 0"},
    {"{\"exit_on_eof\": \"true\"}", "exit_on_eof", "true or false", "got \"true\""},
    {"{\"exit_on_eof\": 1}", "exit_on_eof", "true or false", "got 1"},
    {"{\"topics\": 5}", "topics", "array of topic names", "got 5"},
    {"{\"topics\": [\"a\", 1]}", "topics", "array of topic names", "got an array"},
    {"{\"topics\": []}", "topics", "at least one", ""},
    {"{\"windows\": [1]}", "windows", "array of durations", "got an array"},
    {"{\"windows\": {}}", "windows", "array of durations", "got an object"},
    {"{\"kafka\": []}", "kafka", "an object of librdkafka properties", "got an array"},
    {"{\"kafka\": {\"acks\": null}}", "kafka.acks", "a string, number or boolean", "got null"},
    {"{\"kafka\": {\"acks\": \"1\", \"acks\": \"all\"}}", "kafka.acks", "given twice", ""},
    {"{\"kafka.group.id\": \"x\"}", "kafka.group.id", "'group'", ""},
    {"{\"gross_margin\": \"0.3\"}", "gross_margin", "a number > 0 and <= 1", "got \"0.3\""},
    {"{\"gross_margin\": 0}", "gross_margin", "> 0", "got 0"},
    {"{\"dlq_topic\": 3}", "dlq_topic", "a topic name or null", "got 3"},
    {"{\"clock\": 1}", "clock", "\"wall\" or \"event\"", "got 1"},
    {"{\"brokers\": null}", "brokers", "a non-empty string", "got null"},
    {"{\"redis_url\": \"localhost:6379\"}", "redis_url", "redis://", "localhost:6379"},
    {"{\"churn_inactivity\": 0}", "churn_inactivity", "1m..3650d", "got 0"},
    {"{\"churn_inactivity\": 1e30}", "churn_inactivity", "1m..3650d", "got 1e+30"},
    {"{\"max_future_skew\": -1}", "max_future_skew", "0ms..7d", "got -1"},
    {"{\"max_future_skew\": \"5 min\"}", "max_future_skew", "duration", "got \"5 min\""},
    {"{\"max_message_bytes\": 100}", "max_message_bytes", "1024..16777216", "got 100"},
    {"{\"log_level\": 2}", "log_level", "\"debug\"", "got 2"},
    {"{\"batch_size\": 1, \"batch_size\": 2}", "batch_size", "given twice", ""},
    {"{\"dedup_horizon\": \"40d\", \"dedup_horizon_ms\": 1}", "dedup_horizon_ms", "given twice",
     "same key"},
};

Test(config_file, wrong_types_and_ranges_name_key_expectation_and_value)
{
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        ks_config_free(&cfg);
        cr_assert_eq(ks_config_init_defaults(&cfg), 0);
        int rc = load_text(wrong[i].json);
        cr_expect_eq(rc, KS_ERR_CONFIG, "%s should be rejected", wrong[i].json);
        KS_T_ERR_HAS(err, path, wrong[i].frag1, wrong[i].frag2, wrong[i].frag3);
    }
}

Test(config_file, unknown_key_with_suggestion)
{
    cr_assert_eq(load_text("{\"flush_intervl_ms\": 500}"), KS_ERR_CONFIG);
    char want[700];
    snprintf(want, sizeof want,
             "%s: unknown key 'flush_intervl_ms' (did you mean 'flush_interval_ms'?)", path);
    cr_expect_str_eq(err, want);
    cr_assert_eq(load_text("{\"kafak\": {}}"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "'kafak'", "did you mean 'kafka'");
    cr_assert_eq(load_text("{\"churn_inactivity_days\": 3}"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "unknown key 'churn_inactivity_days'");
}

Test(config_file, syntax_error_gives_line_and_column)
{
    /* Line 3 misses its ':'; the parser stops at the value "g", column 11. */
    cr_assert_eq(load_text("{\n  \"brokers\": \"a\",\n  \"group\" \"g\"\n}\n"), KS_ERR_CONFIG);
    char want[600];
    snprintf(want, sizeof want, "%s:3:11: JSON syntax error", path);
    cr_expect(strncmp(err, want, strlen(want)) == 0, "got \"%s\", want prefix \"%s\"", err, want);
    KS_T_ERR_HAS(err, "near '\"g\"'");

    /* A bad literal on line 2: "tru" starts at column 18. */
    cr_assert_eq(load_text("{\n  \"exit_on_eof\": tru\n}"), KS_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:2:18:", path);
    cr_expect(strncmp(err, want, strlen(want)) == 0, "got \"%s\", want prefix \"%s\"", err, want);

    cr_assert_eq(load_text(""), KS_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:1:1: JSON syntax error at end of file", path);
    cr_expect_str_eq(err, want);

    cr_assert_eq(load_text("{\"a\": 1} trailing"), KS_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:1:", path);
    KS_T_ERR_HAS(err, want, "JSON syntax error");
}

Test(config_file, not_an_object)
{
    cr_assert_eq(load_text("[1, 2]"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, path, "one JSON object", "got an array");
}

Test(config_file, missing_file_is_io_error_with_path_and_reason)
{
    snprintf(path, sizeof path, "%s/nope.json", ks_t_dir);
    int rc = ks_config_load_file(&cfg, path, err, sizeof err);
    cr_assert_eq(rc, KS_ERR_IO);
    KS_T_ERR_HAS(err, path, strerror(ENOENT));
}

Test(config_file, env_overrides_file_and_flags_override_env)
{
    ks_t_write("c.json",
               "{\"brokers\": \"file:1\", \"group\": \"file-g\", \"topics\": [\"file-t\"],"
               " \"redis_url\": \"redis://file:1\", \"batch_size\": 7}",
               path, sizeof path);
    setenv("KPISTREAM_BROKERS", "env:1", 1);
    setenv("KPISTREAM_TOPICS", "env-a, env-b", 1);
    setenv("KPISTREAM_REDIS", "redis://env:2/1", 1);
    setenv("KPISTREAM_GROUP", "", 1); /* empty: ignored */
    ks_config_free(&cfg);
    cr_assert_eq(ks_config_load(&cfg, path, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(cfg.brokers, "env:1");
    cr_expect_str_eq(cfg.group, "file-g");
    cr_assert_eq(cfg.ntopics, 2);
    cr_expect_str_eq(cfg.topics[0], "env-a");
    cr_expect_str_eq(cfg.topics[1], "env-b");
    cr_expect_str_eq(cfg.redis_url, "redis://env:2/1");
    cr_expect_eq(cfg.batch_size, 7, "keys without env var keep the file's value");

    cr_assert_eq(ks_config_apply_flag(&cfg, "--brokers", "flag:1", err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks_config_set(&cfg, "redis_url", "redis://flag:3", err, sizeof err), 0);
    cr_expect_str_eq(cfg.brokers, "flag:1");
    cr_expect_str_eq(cfg.redis_url, "redis://flag:3");
    cr_expect_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

Test(config_file, bad_env_var_is_named)
{
    setenv("KPISTREAM_REDIS", "redis://h:70000", 1);
    ks_config_free(&cfg);
    cr_assert_eq(ks_config_load(&cfg, NULL, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "KPISTREAM_REDIS", "redis_url", "port");
    cr_expect_null(cfg.brokers, "on error ks_config_load frees cfg");
}

Test(config_file, load_runs_validation)
{
    ks_t_write("c.json", "{\"nps_promoter_min\": 5}", path, sizeof path);
    ks_config_free(&cfg);
    cr_assert_eq(ks_config_load(&cfg, path, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "nps_detractor_max", "nps_promoter_min (5)");
    ks_config_free(&cfg); /* harmless after a failed load */
    cr_assert_eq(ks_config_load(&cfg, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(cfg.brokers, "localhost:9092");
}

/* The path of the repository's config/ folder, found from this source file's path. */
static void repo_file(const char *rel, char *out, size_t n)
{
    const char *src = __FILE__;
    const char *cut = strstr(src, "tests/unit/");
    cr_assert_not_null(cut, "unexpected __FILE__ %s", src);
    snprintf(out, n, "%.*s%s", (int)(cut - src), src, rel);
}

Test(config_file, shipped_example_holds_every_key_at_its_default)
{
    char p[1024];
    repo_file("config/kpistream.json", p, sizeof p);
    ks_config fromfile;
    cr_assert_eq(ks_config_init_defaults(&fromfile), 0);
    /* Load the example on top of values that differ from every default, so a key that
     * the example leaves out or gives a non-default value shows up below. */
    ks_config_set(&fromfile, "brokers", "x:1", err, sizeof err);
    ks_config_set(&fromfile, "batch_size", "3", err, sizeof err);
    ks_config_set(&fromfile, "windows", "2h", err, sizeof err);
    ks_config_set(&fromfile, "gross_margin", "0.9", err, sizeof err);
    ks_config_set(&fromfile, "clock", "event", err, sizeof err);
    cr_assert_eq(ks_config_load_file(&fromfile, p, err, sizeof err), 0, "%s", err);
    char *a = ks_config_to_json(&fromfile);
    char *b = ks_config_to_json(&cfg);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_expect_str_eq(a, b);
    free(a);
    free(b);
    ks_config_free(&fromfile);
}

Test(config_file, demo_config_is_valid_if_present)
{
    char p[1024];
    repo_file("config/demo.json", p, sizeof p);
    if (access(p, R_OK) != 0) cr_skip_test("no config/demo.json");
    ks_config_free(&cfg);
    cr_assert_eq(ks_config_load(&cfg, p, err, sizeof err), 0, "%s", err);
}

Test(config_file, effective_config_round_trips)
{
    cr_assert_eq(load_text("{\"windows\": [\"60m\", \"7d\"], \"kafka\": {\"acks\": \"all\"},"
                           " \"max_future_skew\": \"90s\", \"dedup_horizon\": \"8d\","
                           " \"gross_margin\": 0.123456789, \"dlq_topic\": \"dlq\"}"),
                 0, "%s", err);
    char *first = ks_config_to_json(&cfg);
    cr_assert_not_null(first);
    ks_config again;
    cr_assert_eq(ks_config_init_defaults(&again), 0);
    ks_t_write("again.json", first, path, sizeof path);
    cr_assert_eq(ks_config_load_file(&again, path, err, sizeof err), 0, "%s", err);
    char *second = ks_config_to_json(&again);
    cr_expect_str_eq(second, first);
    cr_expect(again.dedup_horizon_explicit);
    free(first);
    free(second);
    ks_config_free(&again);
}
