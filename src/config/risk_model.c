/* The churn-risk model file (risk.model; written by `kpistream risk-fit`).
 *
 *   {"kpistream_risk_model": 1, "horizon_days": 30,
 *    "features": [{"name": "silent_days", "weight": 0.41, "mean": 1.2, "scale": 0.8}, ...],
 *    "intercept": -3.2, "calibration": {"method": "platt", "a": 1.02, "b": 0.05},
 *    "thresholds": {"high_enter": 62, "high_exit": 50, "medium_enter": 30, "medium_exit": 22},
 *    "training": {"from_ms": ..., "to_ms": ...}, "metrics": {...}}
 *
 * Every fixed feature must be listed once (in any order), plus at most 16
 * "segment=<name>" ones; anything else is refused with the field named, so a
 * model from a newer kpistream, a truncated file or a hand edit gone wrong
 * stops `run` at start-up instead of scoring nonsense. "metrics" is kept
 * verbatim (it is for people; nothing reads it back).
 */
#include "kpistream/err.h"
#include "kpistream/risk_model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS__MODEL_VERSION 1
#define KS__MODEL_MAX_BYTES (4 << 20)

static ks_risk_model *ks__fail(ks_risk_model *m, cJSON *root, char *errstr, size_t n,
                               const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static ks_risk_model *ks__fail(ks_risk_model *m, cJSON *root, char *errstr, size_t n,
                               const char *fmt, ...)
{
    if (errstr && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, n, fmt, ap);
        va_end(ap);
    }
    ks_risk_model_free(m);
    cJSON_Delete(root);
    return NULL;
}

/* A finite number member; false if absent or not a number. */
static bool ks__num(const cJSON *obj, const char *name, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return false;
    *out = v->valuedouble;
    return true;
}

static bool ks__int(const cJSON *obj, const char *name, int *out)
{
    double v;
    if (!ks__num(obj, name, &v) || v != floor(v) || fabs(v) > 1e9) return false;
    *out = (int)v;
    return true;
}

ks_risk_model *ks_risk_model_parse(const char *text, size_t len, char *errstr, size_t n)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, false);
    if (!root)
        return ks__fail(NULL, NULL, errstr, n, "not valid JSON (near byte %zu)",
                        end && end >= text ? (size_t)(end - text) : (size_t)0);
    if (!cJSON_IsObject(root))
        return ks__fail(NULL, root, errstr, n, "a model file is one JSON object");
    ks_risk_model *m = calloc(1, sizeof *m);
    if (!m) return ks__fail(NULL, root, errstr, n, "out of memory");
    int version;
    if (!ks__int(root, "kpistream_risk_model", &version))
        return ks__fail(m, root, errstr, n,
                        "kpistream_risk_model: missing; is this a model written by kpistream "
                        "risk-fit?");
    if (version != KS__MODEL_VERSION)
        return ks__fail(m, root, errstr, n,
                        "kpistream_risk_model: version %d, this kpistream reads version %d; "
                        "refit with this version's risk-fit",
                        version, KS__MODEL_VERSION);
    if (!ks__num(root, "horizon_days", &m->horizon_days))
        return ks__fail(m, root, errstr, n, "horizon_days: missing or not a number");
    if (!ks__num(root, "intercept", &m->intercept))
        return ks__fail(m, root, errstr, n, "intercept: missing or not a finite number");

    const cJSON *feats = cJSON_GetObjectItemCaseSensitive(root, "features");
    if (!cJSON_IsArray(feats))
        return ks__fail(m, root, errstr, n,
                        "features: missing or not an array of {\"name\", \"weight\", \"mean\", "
                        "\"scale\"}");
    bool have[KS_RF__FIXED] = {false};
    int idx = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, feats)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(f, "name");
        if (!cJSON_IsString(name))
            return ks__fail(m, root, errstr, n, "features[%d].name: missing or not a string", idx);
        int slot = -1;
        for (int k = 0; k < KS_RF__FIXED; k++)
            if (strcmp(name->valuestring, ks_risk_feature_name(k)) == 0) slot = k;
        if (slot >= 0) {
            if (have[slot])
                return ks__fail(m, root, errstr, n, "features[%d].name: \"%s\" is listed twice",
                                idx, name->valuestring);
            have[slot] = true;
        } else if (strncmp(name->valuestring, "segment=", 8) == 0 && name->valuestring[8] &&
                   strlen(name->valuestring + 8) < sizeof m->segment[0]) {
            if (m->nsegments == KS_RISK_MODEL_SEGMENTS)
                return ks__fail(m, root, errstr, n, "features[%d]: more than %d segment features",
                                idx, KS_RISK_MODEL_SEGMENTS);
            for (int k = 0; k < m->nsegments; k++)
                if (strcmp(m->segment[k], name->valuestring + 8) == 0)
                    return ks__fail(m, root, errstr, n,
                                    "features[%d].name: \"%s\" is listed twice", idx,
                                    name->valuestring);
            slot = KS_RF__FIXED + m->nsegments;
            snprintf(m->segment[m->nsegments], sizeof m->segment[0], "%s", name->valuestring + 8);
            m->nsegments++;
        } else {
            return ks__fail(m, root, errstr, n,
                            "features[%d].name: unknown feature \"%.100s\" (a model from a newer "
                            "kpistream? the known ones are in docs/churn-risk.md)",
                            idx, name->valuestring);
        }
        if (!ks__num(f, "weight", &m->weight[slot]))
            return ks__fail(m, root, errstr, n, "features[%d].weight: missing or not a finite number",
                            idx);
        if (!ks__num(f, "mean", &m->mean[slot]))
            return ks__fail(m, root, errstr, n, "features[%d].mean: missing or not a finite number",
                            idx);
        if (!ks__num(f, "scale", &m->scale[slot]) || !(m->scale[slot] > 0))
            return ks__fail(m, root, errstr, n, "features[%d].scale: missing or not a number > 0",
                            idx);
        idx++;
    }
    for (int k = 0; k < KS_RF__FIXED; k++)
        if (!have[k])
            return ks__fail(m, root, errstr, n, "features: \"%s\" is missing (every fixed feature "
                            "must be listed; weight 0 switches one off)",
                            ks_risk_feature_name(k));
    m->nfeatures = KS_RF__FIXED + m->nsegments;
    /* Segment features were appended as read; the slots are in file order,
     * which is the order of m->segment, so nothing to reorder. */

    const cJSON *cal = cJSON_GetObjectItemCaseSensitive(root, "calibration");
    const cJSON *method = cJSON_GetObjectItemCaseSensitive(cal, "method");
    bool platt = cJSON_IsString(method) && !strcmp(method->valuestring, "platt");
    bool iso = cJSON_IsString(method) && !strcmp(method->valuestring, "isotonic");
    if (!cJSON_IsObject(cal) || (!platt && !iso))
        return ks__fail(m, root, errstr, n,
                        "calibration: must be {\"method\": \"platt\", \"a\": number, \"b\": "
                        "number} or {\"method\": \"isotonic\", \"z\": [numbers], \"p\": [numbers]}");
    if (platt && (!ks__num(cal, "a", &m->cal_a) || !ks__num(cal, "b", &m->cal_b)))
        return ks__fail(m, root, errstr, n, "calibration: \"a\" and \"b\" must be finite numbers");
    if (iso) {
        m->cal_a = 1;
        const cJSON *z = cJSON_GetObjectItemCaseSensitive(cal, "z");
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(cal, "p");
        int nz = cJSON_IsArray(z) ? cJSON_GetArraySize(z) : -1;
        if (nz < 2 || nz > KS_RISK_MODEL_KNOTS || !cJSON_IsArray(p) || cJSON_GetArraySize(p) != nz)
            return ks__fail(m, root, errstr, n,
                            "calibration: \"z\" and \"p\" must be arrays of the same length, 2 to %d",
                            KS_RISK_MODEL_KNOTS);
        for (int k = 0; k < nz; k++) {
            const cJSON *zk = cJSON_GetArrayItem(z, k), *pk = cJSON_GetArrayItem(p, k);
            if (!cJSON_IsNumber(zk) || !cJSON_IsNumber(pk))
                return ks__fail(m, root, errstr, n, "calibration.z[%d] / p[%d]: not a number", k, k);
            m->cal_z[k] = zk->valuedouble;
            m->cal_p[k] = pk->valuedouble;
        }
        m->ncal = nz;
    }

    const cJSON *th = cJSON_GetObjectItemCaseSensitive(root, "thresholds");
    if (!cJSON_IsObject(th))
        return ks__fail(m, root, errstr, n, "thresholds: missing or not an object");
    const char *tn[4] = {"high_enter", "high_exit", "medium_enter", "medium_exit"};
    int *tv[4] = {&m->high_enter, &m->high_exit, &m->medium_enter, &m->medium_exit};
    for (int k = 0; k < 4; k++)
        if (!ks__int(th, tn[k], tv[k]))
            return ks__fail(m, root, errstr, n, "thresholds.%s: missing or not an integer score",
                            tn[k]);

    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "training");
    double from = 0, to = 0;
    if (cJSON_IsObject(tr)) {
        ks__num(tr, "from_ms", &from);
        ks__num(tr, "to_ms", &to);
    }
    m->train_from_ms = (int64_t)from;
    m->train_to_ms = (int64_t)to;
    const cJSON *met = cJSON_GetObjectItemCaseSensitive(root, "metrics");
    if (met && !(m->metrics_json = cJSON_PrintUnformatted(met)))
        return ks__fail(m, root, errstr, n, "out of memory");
    char why[256];
    if (ks_risk_model_check(m, why, sizeof why) != 0)
        return ks__fail(m, root, errstr, n, "%s", why);
    cJSON_Delete(root);
    return m;
}

ks_risk_model *ks_risk_model_load(const char *path, char *errstr, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errstr && n) snprintf(errstr, n, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(KS__MODEL_MAX_BYTES + 1);
    size_t got = buf ? fread(buf, 1, KS__MODEL_MAX_BYTES + 1, f) : 0;
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf || rerr || got > KS__MODEL_MAX_BYTES) {
        if (errstr && n)
            snprintf(errstr, n, "%s: %s", path,
                     !buf ? "out of memory"
                     : rerr ? strerror(rerr)
                            : "larger than 4 MiB; is this really a model file?");
        free(buf);
        return NULL;
    }
    char why[512];
    ks_risk_model *m = ks_risk_model_parse(buf, got, why, sizeof why);
    free(buf);
    if (!m && errstr && n) snprintf(errstr, n, "%s: %s", path, why);
    return m;
}

/* cJSON prints 15 significant digits when they are "close enough"; a model
 * must read back bit for bit, so numbers go out with 17 (and are finite:
 * ks_risk_model_check() ran on every model this writes). */
static bool ks__add_num(cJSON *obj, const char *name, double v)
{
    char buf[40];
    if (!isfinite(v)) return false;
    if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, sizeof buf, "%.0f", v);
    else
        snprintf(buf, sizeof buf, "%.17g", v);
    return cJSON_AddRawToObject(obj, name, buf) != NULL;
}

static bool ks__add_item(cJSON *arr, double v)
{
    char buf[40];
    if (!isfinite(v)) return false;
    snprintf(buf, sizeof buf, "%.17g", v);
    cJSON *raw = cJSON_CreateRaw(buf);
    return raw && cJSON_AddItemToArray(arr, raw);
}

char *ks_risk_model_to_json(const ks_risk_model *m)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root && ks__add_num(root, "kpistream_risk_model", KS__MODEL_VERSION) &&
              ks__add_num(root, "horizon_days", m->horizon_days);
    cJSON *feats = ok ? cJSON_AddArrayToObject(root, "features") : NULL;
    ok = ok && feats;
    for (int i = 0; ok && i < m->nfeatures; i++) {
        cJSON *f = cJSON_CreateObject();
        char name[160];
        if (i < KS_RF__FIXED)
            snprintf(name, sizeof name, "%s", ks_risk_feature_name(i));
        else
            snprintf(name, sizeof name, "segment=%s", m->segment[i - KS_RF__FIXED]);
        ok = f && cJSON_AddItemToArray(feats, f) && cJSON_AddStringToObject(f, "name", name) &&
             ks__add_num(f, "weight", m->weight[i]) && ks__add_num(f, "mean", m->mean[i]) &&
             ks__add_num(f, "scale", m->scale[i]);
    }
    ok = ok && ks__add_num(root, "intercept", m->intercept);
    cJSON *cal = ok ? cJSON_AddObjectToObject(root, "calibration") : NULL;
    if (m->ncal >= 2) {
        cJSON *z = NULL, *p = NULL;
        ok = ok && cal && cJSON_AddStringToObject(cal, "method", "isotonic") &&
             (z = cJSON_AddArrayToObject(cal, "z")) && (p = cJSON_AddArrayToObject(cal, "p"));
        for (int k = 0; ok && k < m->ncal; k++)
            ok = ks__add_item(z, m->cal_z[k]) && ks__add_item(p, m->cal_p[k]);
    } else {
        ok = ok && cal && cJSON_AddStringToObject(cal, "method", "platt") &&
             ks__add_num(cal, "a", m->cal_a) && ks__add_num(cal, "b", m->cal_b);
    }
    cJSON *th = ok ? cJSON_AddObjectToObject(root, "thresholds") : NULL;
    ok = ok && th && ks__add_num(th, "high_enter", m->high_enter) &&
         ks__add_num(th, "high_exit", m->high_exit) &&
         ks__add_num(th, "medium_enter", m->medium_enter) &&
         ks__add_num(th, "medium_exit", m->medium_exit);
    cJSON *tr = ok ? cJSON_AddObjectToObject(root, "training") : NULL;
    ok = ok && tr && ks__add_num(tr, "from_ms", (double)m->train_from_ms) &&
         ks__add_num(tr, "to_ms", (double)m->train_to_ms);
    if (ok && m->metrics_json) {
        cJSON *met = cJSON_Parse(m->metrics_json);
        ok = met && cJSON_AddItemToObject(root, "metrics", met);
    }
    char *out = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return out;
}

void ks_risk_model_free(ks_risk_model *m)
{
    if (!m) return;
    free(m->metrics_json);
    free(m);
}
