/* The churn-risk model file (src/config/risk_model.c) and the risk.model key:
 * a model written and read back is the same model, and a malformed file is
 * refused with the path, the field and the problem named, so `run` stops at
 * start-up (exit 1) rather than scoring with nonsense. */
#include "test_config_helpers.h"

#include "kpistream/risk_model.h"

#include <math.h>

static char err[KS_ERRSTR_SIZE];
static ks_config cfg;

static void setup(void)
{
    ks_t_mkdir();
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
}

static void teardown(void)
{
    ks_config_free(&cfg);
    ks_t_rmdir();
}

TestSuite(risk_model, .init = setup, .fini = teardown);

static void sample_model(ks_risk_model *m)
{
    memset(m, 0, sizeof *m);
    m->nsegments = 2;
    m->nfeatures = KS_RF__FIXED + 2;
    strcpy(m->segment[0], "smb");
    strcpy(m->segment[1], "enterprise");
    for (int i = 0; i < m->nfeatures; i++) {
        m->weight[i] = 0.1 * (i - 10) + 1.0 / 3.0; /* not short decimals */
        m->mean[i] = i * 0.7071067811865476;
        m->scale[i] = 1.0 + i / 7.0;
    }
    m->intercept = -3.141592653589793;
    m->cal_a = 1.1, m->cal_b = -0.05;
    m->high_enter = 63, m->high_exit = 50, m->medium_enter = 31, m->medium_exit = 23;
    m->horizon_days = 30;
    m->train_from_ms = 1767225600000LL;
    m->train_to_ms = 1777593600000LL;
    m->metrics_json = strdup("{\"auc\":0.91,\"pr\":[[63,0.8,0.4]]}");
}

/* The sample model's JSON with one substring replaced. */
static char *sample_json_with(const char *from, const char *to)
{
    ks_risk_model m;
    sample_model(&m);
    char *json = ks_risk_model_to_json(&m);
    free(m.metrics_json);
    cr_assert_not_null(json);
    if (!from) return json;
    char *at = strstr(json, from);
    cr_assert_not_null(at, "'%s' not in the model JSON", from);
    size_t lf = strlen(from), lt = strlen(to), n = strlen(json);
    char *out = malloc(n - lf + lt + 1);
    memcpy(out, json, (size_t)(at - json));
    memcpy(out + (at - json), to, lt);
    strcpy(out + (at - json) + lt, at + lf);
    free(json);
    return out;
}

Test(risk_model, round_trip_is_exact)
{
    ks_risk_model a;
    sample_model(&a);
    char *json = ks_risk_model_to_json(&a);
    cr_assert_not_null(json);
    ks_risk_model *b = ks_risk_model_parse(json, strlen(json), err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    cr_assert_eq(b->nfeatures, a.nfeatures);
    cr_assert_eq(b->nsegments, 2);
    cr_assert_str_eq(b->segment[1], "enterprise");
    for (int i = 0; i < a.nfeatures; i++) {
        cr_assert(b->weight[i] == a.weight[i], "weight %d: %.17g vs %.17g", i, b->weight[i],
                  a.weight[i]);
        cr_assert(b->mean[i] == a.mean[i] && b->scale[i] == a.scale[i], "feature %d", i);
    }
    cr_assert(b->intercept == a.intercept && b->cal_a == a.cal_a && b->cal_b == a.cal_b);
    cr_assert_eq(b->high_enter, 63);
    cr_assert_eq(b->high_exit, 50);
    cr_assert_eq(b->medium_enter, 31);
    cr_assert_eq(b->medium_exit, 23);
    cr_assert_eq(b->train_from_ms, a.train_from_ms);
    cr_assert_eq(b->train_to_ms, a.train_to_ms);
    cr_assert_str_eq(b->metrics_json, a.metrics_json);
    /* And the second writing is byte for byte the first. */
    char *again = ks_risk_model_to_json(b);
    cr_assert_str_eq(again, json);
    free(again);
    free(json);
    free(a.metrics_json);
    ks_risk_model_free(b);
}

/* Parsing text gives an error mentioning every needle. */
static void refused(char *json, const char *n1, const char *n2)
{
    ks_risk_model *m = ks_risk_model_parse(json, strlen(json), err, sizeof err);
    cr_assert_null(m, "accepted: %s", json);
    cr_assert(strstr(err, n1) && (!n2 || strstr(err, n2)), "error '%s' lacks '%s'/'%s'", err, n1,
              n2 ? n2 : "");
    free(json);
}

Test(risk_model, malformed_files_name_the_problem)
{
    refused(sample_json_with("\"name\":\t\"silent_days\"", "\"name\":\t\"silence\""),
            "unknown feature \"silence\"", "features[");
    refused(sample_json_with("\"name\":\t\"silent_days\"", "\"name\":\t\"silent_gaps\""),
            "\"silent_gaps\" is listed twice", NULL);
    refused(sample_json_with("\"kpistream_risk_model\":\t1", "\"kpistream_risk_model\":\t2"),
            "kpistream_risk_model: version 2", NULL);
    refused(sample_json_with("\"kpistream_risk_model\":\t1,", ""), "kpistream_risk_model: missing",
            NULL);
    refused(sample_json_with("\"high_exit\":\t50", "\"high_exit\":\t70"), "thresholds.high_exit",
            "<= thresholds.high_enter");
    refused(sample_json_with("\"high_enter\":\t63", "\"high_enter\":\t63.5"),
            "thresholds.high_enter", "integer");
    refused(sample_json_with("\"method\":\t\"platt\"", "\"method\":\t\"isotonic\""), "calibration",
            NULL);
    refused(sample_json_with("\"intercept\":", "\"intercep\":"), "intercept: missing", NULL);
}

Test(risk_model, truncated_and_non_json)
{
    char *json = sample_json_with(NULL, NULL);
    json[strlen(json) / 2] = '\0';
    ks_risk_model *m = ks_risk_model_parse(json, strlen(json), err, sizeof err);
    cr_assert_null(m);
    cr_assert(strstr(err, "not valid JSON"), "%s", err);
    free(json);
    m = ks_risk_model_parse("[1,2]", 5, err, sizeof err);
    cr_assert_null(m);
    cr_assert(strstr(err, "one JSON object"), "%s", err);
}

Test(risk_model, missing_feature_and_bad_scale)
{
    ks_risk_model a;
    sample_model(&a);
    a.scale[KS_RF_TENURE_DAYS] = 0;
    char *json = ks_risk_model_to_json(&a);
    free(a.metrics_json);
    refused(json, "features[", ".scale: missing or not a number > 0");
    /* Drop one whole feature object: "usual_gap_days" goes missing. */
    char *j2 = sample_json_with("\"name\":\t\"usual_gap_days\"", "\"name\":\t\"segment=midmarket\"");
    refused(j2, "\"usual_gap_days\" is missing", NULL);
}

Test(risk_model, config_key_loads_or_refuses_with_path)
{
    char path[300];
    char *json = sample_json_with(NULL, NULL);
    ks_t_write("model.json", json, path, sizeof path);
    free(json);
    cr_assert_eq(ks_config_set(&cfg, "risk.model", path, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(cfg.risk.model);
    cr_assert_eq(cfg.risk.model->high_enter, 63);
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
    char *printed = ks_config_to_json(&cfg);
    cr_assert(strstr(printed, "\"model\":"), "%s", printed);
    free(printed);

    char bad[300];
    char *bj = sample_json_with("\"name\":\t\"nps_last\"", "\"name\":\t\"nps_latest\"");
    ks_t_write("bad.json", bj, bad, sizeof bad);
    free(bj);
    cr_assert_eq(ks_config_set(&cfg, "risk.model", bad, err, sizeof err), KS_ERR_CONFIG);
    cr_assert(strstr(err, "risk.model: ") && strstr(err, bad) &&
                  strstr(err, "unknown feature \"nps_latest\""),
              "%s", err);
    cr_assert_not_null(cfg.risk.model, "a refused file leaves the key as it was");

    cr_assert_eq(ks_config_set(&cfg, "risk.model", "/nonexistent/m.json", err, sizeof err),
                 KS_ERR_CONFIG);
    cr_assert(strstr(err, "/nonexistent/m.json: cannot open"), "%s", err);
    cr_assert_eq(ks_config_set(&cfg, "risk.model", "", err, sizeof err), 0);
    cr_assert_null(cfg.risk.model, "an empty value goes back to the hand weights");
}

Test(risk_model, config_file_nested_key)
{
    char mpath[300], cpath[300], text[700];
    char *json = sample_json_with(NULL, NULL);
    ks_t_write("m.json", json, mpath, sizeof mpath);
    free(json);
    snprintf(text, sizeof text, "{\"risk\": {\"model\": \"%s\"}}", mpath);
    ks_t_write("c.json", text, cpath, sizeof cpath);
    cr_assert_eq(ks_config_load_file(&cfg, cpath, err, sizeof err), 0, "%s", err);
    cr_assert_not_null(cfg.risk.model);
}

Test(risk_model, isotonic_round_trip_and_refusal)
{
    ks_risk_model a;
    sample_model(&a);
    a.ncal = 4;
    const double z[] = {-3.3, -1.25, 0.4, 2.0000000000000004}, p[] = {0.01, 0.1, 0.55, 0.97};
    memcpy(a.cal_z, z, sizeof z);
    memcpy(a.cal_p, p, sizeof p);
    char *json = ks_risk_model_to_json(&a);
    cr_assert_not_null(json);
    cr_assert_not_null(strstr(json, "\"isotonic\""));
    ks_risk_model *b = ks_risk_model_parse(json, strlen(json), err, sizeof err);
    cr_assert_not_null(b, "%s", err);
    cr_assert_eq(b->ncal, 4);
    for (int k = 0; k < 4; k++)
        cr_assert(b->cal_z[k] == z[k] && b->cal_p[k] == p[k], "point %d", k);
    ks_risk_model_free(b);
    free(a.metrics_json);
    /* z not increasing: refused, naming calibration.z. */
    char *at = strstr(json, "0.40000000000000002");
    cr_assert_not_null(at, "%s", json);
    memcpy(at, "-5.0000000000000000", 19);
    refused(json, "calibration.z", "strictly increasing");
}
