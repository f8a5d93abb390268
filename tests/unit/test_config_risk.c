/* The churn-risk keys: risk.weights.<signal>, the level thresholds, the durations and
 * upsell_min_orders_30d; flat through ks_config_set and flags, nested ("risk": {...}) in
 * the file; cross-key rules; the effective-config JSON. */
#include "test_config_helpers.h"

#include <cjson/cJSON.h>

#define MIN 60000LL
#define HOUR (60 * MIN)
#define DAY (24 * HOUR)

static ks_config cfg;
static char err[KS_ERRSTR_SIZE];
static char path[256];

static void setup(void)
{
    err[0] = '\0';
    ks_t_mkdir();
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
}

static void teardown(void)
{
    ks_config_free(&cfg);
    ks_t_rmdir();
}

TestSuite(config_risk, .init = setup, .fini = teardown);

static int load_text(const char *json)
{
    ks_t_write("risk.json", json, path, sizeof path);
    return ks_config_load_file(&cfg, path, err, sizeof err);
}

static int set(const char *key, const char *value)
{
    err[0] = '\0';
    return ks_config_set(&cfg, key, value, err, sizeof err);
}

Test(config_risk, defaults_are_the_risk_modules)
{
    ks_risk_params d;
    ks_risk_params_default(&d);
    for (int i = 0; i < KS_RISK__COUNT; i++)
        cr_expect_eq(cfg.risk.weight[i], d.weight[i], "%s", ks_risk_reason_name(i));
    cr_expect_eq(cfg.risk.high_enter, 70);
    cr_expect_eq(cfg.risk.high_exit, 50);
    cr_expect_eq(cfg.risk.medium_enter, 40);
    cr_expect_eq(cfg.risk.medium_exit, 30);
    cr_expect_eq(cfg.risk.ticket_age_ms, 48 * HOUR);
    cr_expect_eq(cfg.risk.alert_cooldown_ms, DAY);
    cr_expect_eq(cfg.risk.trigger_cooldown_ms, DAY);
    cr_expect_eq(cfg.risk.win_back_ms, 14 * DAY);
    cr_expect_eq(cfg.risk.upsell_min_orders_30d, 3);
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

Test(config_risk, flat_keys_through_set)
{
    const char *names[] = {"recency",    "frequency_drop",   "monetary_drop",
                           "low_csat",   "nps_detractor",    "unresolved_tickets",
                           "complaints", "payment_failures", "downgrade"};
    for (int i = 0; i < 9; i++) {
        char key[64], val[16];
        snprintf(key, sizeof key, "risk.weights.%s", names[i]);
        snprintf(val, sizeof val, "%d.5", i + 1);
        cr_assert_eq(set(key, val), 0, "%s", err);
        int r = ks_risk_reason_from_name(names[i]);
        cr_assert_geq(r, 0);
        cr_expect_float_eq(cfg.risk.weight[r], i + 1.5, 1e-12, "%s", key);
    }
    cr_assert_eq(set("risk.weights.complaints", "0"), 0, "0 switches a signal off: %s", err);
    cr_expect_eq(cfg.risk.weight[KS_RISK_COMPLAINTS], 0.0);
    cr_assert_eq(set("risk.weights.downgrade", "100"), 0, "%s", err);
    cr_assert_eq(set("risk.high_enter", "80"), 0, "%s", err);
    cr_assert_eq(set("risk.high_exit", "55"), 0, "%s", err);
    cr_assert_eq(set("risk.medium_enter", "45"), 0, "%s", err);
    cr_assert_eq(set("risk.medium_exit", "35"), 0, "%s", err);
    cr_assert_eq(set("risk.ticket_age", "72h"), 0, "%s", err);
    cr_assert_eq(set("risk.alert_cooldown", "0"), 0, "0: no cooldown: %s", err);
    cr_assert_eq(set("risk.trigger_cooldown_ms", "3600000"), 0, "%s", err);
    cr_assert_eq(set("risk.win_back", "21d"), 0, "%s", err);
    cr_assert_eq(set("risk.upsell_min_orders_30d", "5"), 0, "%s", err);
    cr_expect_eq(cfg.risk.high_enter, 80);
    cr_expect_eq(cfg.risk.high_exit, 55);
    cr_expect_eq(cfg.risk.medium_enter, 45);
    cr_expect_eq(cfg.risk.medium_exit, 35);
    cr_expect_eq(cfg.risk.ticket_age_ms, 72 * HOUR);
    cr_expect_eq(cfg.risk.alert_cooldown_ms, 0);
    cr_expect_eq(cfg.risk.trigger_cooldown_ms, HOUR);
    cr_expect_eq(cfg.risk.win_back_ms, 21 * DAY);
    cr_expect_eq(cfg.risk.upsell_min_orders_30d, 5);
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
}

Test(config_risk, bad_values_name_the_key_and_leave_it_unchanged)
{
    double before = cfg.risk.weight[KS_RISK_RECENCY];
    cr_assert_eq(set("risk.weights.recency", "-1"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.weights.recency", "0..100", "\"-1\"");
    cr_assert_eq(set("risk.weights.recency", "100.5"), KS_ERR_CONFIG);
    cr_assert_eq(set("risk.weights.recency", "lots"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.weights.recency", "lots");
    cr_expect_eq(cfg.risk.weight[KS_RISK_RECENCY], before);

    cr_assert_eq(set("risk.high_enter", "101"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.high_enter", "1..100");
    cr_assert_eq(set("risk.high_enter", "0"), KS_ERR_CONFIG, "0 would flag everyone");
    cr_assert_eq(set("risk.medium_exit", "7.5"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.medium_exit", "integer");
    cr_assert_eq(set("risk.ticket_age", "1.5h"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.ticket_age", "duration");
    cr_assert_eq(set("risk.ticket_age", "10s"), KS_ERR_CONFIG, "below 1m");
    cr_assert_eq(set("risk.upsell_min_orders_30d", "0"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.upsell_min_orders_30d");
    cr_expect_eq(cfg.risk.high_enter, 70);
    cr_expect_eq(cfg.risk.ticket_age_ms, 48 * HOUR);
}

Test(config_risk, unknown_risk_keys_get_a_suggestion)
{
    cr_assert_eq(set("risk.weights.recncy", "1"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.weights.recncy", "did you mean 'risk.weights.recency'");
    cr_assert_eq(set("risk.weights.cancel", "1"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "unknown key 'risk.weights.cancel'");
    cr_assert_eq(set("risk.high_entr", "1"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "did you mean 'risk.high_enter'");
}

Test(config_risk, nested_object_in_the_file)
{
    cr_assert_eq(load_text("{\"risk\": {\"weights\": {\"recency\": 12.5, \"downgrade\": 0},"
                           " \"high_enter\": 80, \"high_exit\": 60, \"win_back\": \"21d\","
                           " \"ticket_age_ms\": 3600000}}"),
                 0, "%s", err);
    cr_expect_float_eq(cfg.risk.weight[KS_RISK_RECENCY], 12.5, 1e-12);
    cr_expect_eq(cfg.risk.weight[KS_RISK_DOWNGRADE], 0.0);
    cr_expect_eq(cfg.risk.high_enter, 80);
    cr_expect_eq(cfg.risk.high_exit, 60);
    cr_expect_eq(cfg.risk.win_back_ms, 21 * DAY);
    cr_expect_eq(cfg.risk.ticket_age_ms, HOUR);
    /* Keys the file leaves out keep their defaults. */
    ks_risk_params d;
    ks_risk_params_default(&d);
    cr_expect_eq(cfg.risk.weight[KS_RISK_COMPLAINTS], d.weight[KS_RISK_COMPLAINTS]);
    cr_expect_eq(cfg.risk.medium_enter, d.medium_enter);
    /* The flat spelling works in a file too. */
    cr_assert_eq(load_text("{\"risk.medium_enter\": 45}"), 0, "%s", err);
    cr_expect_eq(cfg.risk.medium_enter, 45);
}

Test(config_risk, file_errors_name_the_file_and_the_flat_key)
{
    cr_assert_eq(load_text("{\"risk\": 5}"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.json: risk: must be an object", "got 5");
    cr_assert_eq(load_text("{\"risk\": {\"weights\": [1, 2]}}"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.weights: must be an object", "got an array");
    cr_assert_eq(load_text("{\"risk\": {\"weights\": {\"bogus\": 1}}}"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.json", "unknown key 'risk.weights.bogus'");
    cr_assert_eq(load_text("{\"risk\": {\"weights\": {\"complaints\": \"high\"}}}"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.json: risk.weights.complaints: must be a number 0..100",
                 "got \"high\"");
    cr_assert_eq(load_text("{\"risk\": {\"high_enter\": \"70\"}}"), KS_ERR_CONFIG,
                 "a string is not an integer in a file");
    KS_T_ERR_HAS(err, "risk.high_enter");
    cr_assert_eq(load_text("{\"risk\": {\"win_back\": \"soon\"}}"), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.win_back", "\"soon\"");
}

Test(config_risk, a_key_given_twice_is_an_error)
{
    cr_assert_eq(load_text("{\"risk\": {\"high_enter\": 80}, \"risk.high_enter\": 75}"),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.high_enter: given twice");
    cr_assert_eq(load_text("{\"risk\": {\"ticket_age\": \"1h\", \"ticket_age_ms\": 3600000}}"),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "given twice", "risk.ticket_age");
}

Test(config_risk, cross_key_rules)
{
    struct {
        const char *key, *value, *frag;
    } bad[] = {
        {"risk.high_exit", "71", "risk.high_exit: must be <= risk.high_enter (70), is 71"},
        {"risk.medium_exit", "41", "risk.medium_exit: must be <= risk.medium_enter (40), is 41"},
        {"risk.medium_enter", "70", "risk.medium_enter: must be below risk.high_enter (70)"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ks_config_free(&cfg);
        cr_assert_eq(ks_config_init_defaults(&cfg), 0);
        cr_assert_eq(set(bad[i].key, bad[i].value), 0, "the value alone is in range: %s", err);
        cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG, "%s=%s", bad[i].key,
                     bad[i].value);
        KS_T_ERR_HAS(err, bad[i].frag);
    }
    /* Equal enter and exit is allowed (no hysteresis). */
    ks_config_free(&cfg);
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cr_assert_eq(set("risk.high_exit", "70"), 0);
    cr_assert_eq(set("risk.medium_exit", "40"), 0);
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
    /* The whole start-up sequence applies them too. */
    cr_assert_eq(load_text("{\"risk\": {\"high_enter\": 35}}"), 0, "%s", err);
    ks_config_free(&cfg);
    cr_assert_eq(ks_config_load(&cfg, path, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.");
}

Test(config_risk, validate_rechecks_ranges_written_by_code)
{
    cfg.risk.weight[KS_RISK_NPS_DETRACTOR] = -3;
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.weights.nps_detractor", "0..100");
    cfg.risk.weight[KS_RISK_NPS_DETRACTOR] = 10;
    cfg.risk.win_back_ms = -1;
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "risk.win_back");
}

Test(config_risk, flags)
{
    cr_assert_eq(ks_config_apply_flag(&cfg, "--risk.high-enter", "75", err, sizeof err), 0, "%s",
                 err);
    cr_expect_eq(cfg.risk.high_enter, 75);
    cr_assert_eq(ks_config_apply_flag(&cfg, "--set", "risk.weights.complaints=2", err, sizeof err),
                 0, "%s", err);
    cr_expect_eq(cfg.risk.weight[KS_RISK_COMPLAINTS], 2.0);
    cr_assert_eq(ks_config_apply_flag(&cfg, "--risk.alert-cooldown", "2h", err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(cfg.risk.alert_cooldown_ms, 2 * HOUR);
    cr_assert_eq(ks_config_apply_flag(&cfg, "--risk.high-enter", "x", err, sizeof err),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "--risk.high-enter", "risk.high_enter");
}

Test(config_risk, effective_json_nests_and_round_trips)
{
    cr_assert_eq(set("risk.weights.low_csat", "17.25"), 0, "%s", err);
    cr_assert_eq(set("risk.ticket_age", "90m"), 0, "%s", err);
    cr_assert_eq(set("risk.high_enter", "85"), 0, "%s", err);
    char *js = ks_config_to_json(&cfg);
    cr_assert_not_null(js);
    cJSON *root = cJSON_Parse(js);
    cr_assert_not_null(root);
    const cJSON *risk = cJSON_GetObjectItemCaseSensitive(root, "risk");
    cr_assert(cJSON_IsObject(risk));
    const cJSON *w = cJSON_GetObjectItemCaseSensitive(risk, "weights");
    cr_assert(cJSON_IsObject(w));
    cr_expect_eq(cJSON_GetArraySize(w), 9, "one weight per scored signal, none for cancel");
    cr_expect_null(cJSON_GetObjectItemCaseSensitive(w, "cancel"));
    cr_expect_float_eq(cJSON_GetObjectItemCaseSensitive(w, "low_csat")->valuedouble, 17.25, 1e-12);
    cr_expect_str_eq(cJSON_GetObjectItemCaseSensitive(risk, "ticket_age")->valuestring, "90m");
    cr_expect_eq(cJSON_GetObjectItemCaseSensitive(risk, "high_enter")->valuedouble, 85);
    cr_expect_null(cJSON_GetObjectItemCaseSensitive(root, "risk.high_enter"), "no flat copies");
    cJSON_Delete(root);

    ks_config again;
    cr_assert_eq(ks_config_init_defaults(&again), 0);
    ks_t_write("again.json", js, path, sizeof path);
    cr_assert_eq(ks_config_load_file(&again, path, err, sizeof err), 0, "%s", err);
    cr_expect_float_eq(again.risk.weight[KS_RISK_LOW_CSAT], 17.25, 1e-12);
    cr_expect_eq(again.risk.ticket_age_ms, 90 * MIN);
    cr_expect_eq(again.risk.high_enter, 85);
    char *js2 = ks_config_to_json(&again);
    cr_expect_str_eq(js, js2);
    free(js);
    free(js2);
    ks_config_free(&again);
}

Test(config_risk, shipped_example_holds_every_risk_key_at_its_default)
{
    const char *src = __FILE__;
    const char *cut = strstr(src, "tests/unit/");
    cr_assert_not_null(cut, "unexpected __FILE__ %s", src);
    char p[1024];
    snprintf(p, sizeof p, "%.*sconfig/kpistream.json", (int)(cut - src), src);
    /* Start from values that differ from every risk default, so a risk key the example
     * leaves out or gives a non-default value shows up in the comparison. */
    ks_config fromfile;
    cr_assert_eq(ks_config_init_defaults(&fromfile), 0);
    for (int i = 0; i < KS_RISK__COUNT; i++)
        fromfile.risk.weight[i] = 99;
    fromfile.risk.weight[KS_RISK_CANCEL] = cfg.risk.weight[KS_RISK_CANCEL]; /* not a key */
    fromfile.risk.high_enter = 99;
    fromfile.risk.high_exit = 98;
    fromfile.risk.medium_enter = 97;
    fromfile.risk.medium_exit = 96;
    fromfile.risk.ticket_age_ms = 1;
    fromfile.risk.alert_cooldown_ms = 1;
    fromfile.risk.trigger_cooldown_ms = 1;
    fromfile.risk.win_back_ms = 1;
    fromfile.risk.upsell_min_orders_30d = 99;
    cr_assert_eq(ks_config_load_file(&fromfile, p, err, sizeof err), 0, "%s", err);
    cr_expect_eq(memcmp(&fromfile.risk, &cfg.risk, sizeof cfg.risk), 0,
                 "config/kpistream.json must hold every risk key at its default");
    ks_config_free(&fromfile);
}
