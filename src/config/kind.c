/* One value of any kind: parse it, check its range, store it in the config.
 *
 * Values from the file arrive as cJSON items; values from flags, the
 * environment and the key tables' defaults arrive as strings, wrapped in a cJSON
 * string item with from_str set, which lets integer, number and boolean keys
 * parse the text. That keeps one code path per kind. Every error has one shape,
 * "<key>: must be <what>, got <value>", built from the range in the key's row.
 */
#include "config/internal.h"

#include "kpistream/err.h"
#include "kpistream/risk_model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *const ks__log_names[4] = {"debug", "info", "warn", "error"};

static void *ks__field(ks_config *cfg, const ks__key *k)
{
    return (char *)cfg + k->off;
}

/* A short, quoted rendering of the value a user gave, for "got ..." messages. */
const char *ks__describe(const cJSON *v, char *buf, size_t n)
{
    if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring);
        snprintf(buf, n, "\"%.48s%s\"", v->valuestring, len > 48 ? "..." : "");
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
            snprintf(buf, n, "%lld", (long long)d);
        else
            snprintf(buf, n, "%g", d);
    } else if (cJSON_IsBool(v)) {
        snprintf(buf, n, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else if (cJSON_IsNull(v)) {
        snprintf(buf, n, "null");
    } else if (cJSON_IsArray(v)) {
        snprintf(buf, n, "an array");
    } else {
        snprintf(buf, n, "an object");
    }
    return buf;
}

/* "<key>: must be <what>, got <value>" -- the one shape of every value error. */
int ks__bad(char *errstr, size_t n, const char *key, const char *what, const cJSON *v)
{
    char d[80];
    ks__err(errstr, n, "%s: must be %s, got %s", key, what, ks__describe(v, d, sizeof d));
    return KS_ERR_CONFIG;
}

static bool ks__parse_ll(const char *s, long long *out)
{
    if (!s || !*s || (*s != '-' && (*s < '0' || *s > '9'))) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end) return false;
    *out = v;
    return true;
}

/* An integer from a JSON number (which must be integral) or, from flags/env, its text. */
static bool ks__get_int(const cJSON *v, bool from_str, int64_t *out)
{
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!(d >= -9.2e18 && d <= 9.2e18) || d != (double)(int64_t)d) return false;
        *out = (int64_t)d;
        return true;
    }
    long long ll;
    if (from_str && cJSON_IsString(v) && ks__parse_ll(v->valuestring, &ll)) {
        *out = ll;
        return true;
    }
    return false;
}

/* A duration from a string ("30d") or an integer number of milliseconds. */
static bool ks__get_dur(const cJSON *v, int64_t *out)
{
    if (cJSON_IsString(v)) return ks_duration_parse(v->valuestring, out) == 0;
    return ks__get_int(v, false, out) && *out >= 0;
}

static bool ks__get_double(const cJSON *v, bool from_str, double *out)
{
    if (cJSON_IsNumber(v)) {
        *out = v->valuedouble;
        return true;
    }
    if (from_str && cJSON_IsString(v) && *v->valuestring) {
        char *end;
        errno = 0;
        double d = strtod(v->valuestring, &end);
        if (errno || *end || d != d) return false;
        *out = d;
        return true;
    }
    return false;
}

static bool ks__get_bool(const cJSON *v, bool from_str, bool *out)
{
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v);
        return true;
    }
    if (!from_str || !cJSON_IsString(v)) return false;
    static const char *const yes[] = {"true", "1", "yes", "on"};
    static const char *const no[] = {"false", "0", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(v->valuestring, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(v->valuestring, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

int ks__replace_str(char **slot, const char *s, size_t len)
{
    char *copy = strndup(s, len);
    if (!copy) return KS_ERR_NOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

void ks__forget_model(ks_config *cfg)
{
    ks_risk_model_free(cfg->risk_model);
    free(cfg->risk_model_path);
    cfg->risk_model = NULL;
    cfg->risk_model_path = NULL;
    cfg->risk.model = NULL;
}

/* The password is wiped before it is freed, so no copy lingers in the heap. */
void ks__forget_password(ks_config *cfg)
{
    if (cfg->redis_password) explicit_bzero(cfg->redis_password, strlen(cfg->redis_password));
    free(cfg->redis_password);
    free(cfg->redis_password_file);
    cfg->redis_password = NULL;
    cfg->redis_password_file = NULL;
}

/* ---------------------------------------------------------- one key, any kind */

int ks__apply(ks_config *cfg, const ks__key *k, const char *key, const cJSON *v, bool from_str,
              char *errstr, size_t n)
{
    void *f = ks__field(cfg, k);
    char what[160], lo[32], hi[32];
    int64_t i64;
    switch (k->kind) {
    case KS__K_STR:
        if (!cJSON_IsString(v) || !*v->valuestring)
            return ks__bad(errstr, n, key, "a non-empty string", v);
        return ks__replace_str(f, v->valuestring, strlen(v->valuestring));
    case KS__K_TOPIC_OPT: {
        char **slot = f;
        if (cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring)) {
            free(*slot);
            *slot = NULL;
            return 0;
        }
        if (!cJSON_IsString(v)) return ks__bad(errstr, n, key, "a topic name or null", v);
        const char *p = ks__topic_problem(v->valuestring, strlen(v->valuestring));
        if (p) {
            ks__err(errstr, n, "%s: topic \"%.64s\" %s", key, v->valuestring, p);
            return KS_ERR_CONFIG;
        }
        return ks__replace_str(slot, v->valuestring, strlen(v->valuestring));
    }
    case KS__K_PREFIX:
        if (!cJSON_IsString(v)) return ks__bad(errstr, n, key, "a string", v);
        if (strlen(v->valuestring) > (size_t)k->max) {
            snprintf(what, sizeof what, "at most %lld bytes", (long long)k->max);
            return ks__bad(errstr, n, key, what, v);
        }
        for (const char *p = v->valuestring; *p; p++) {
            if ((unsigned char)*p <= ' ' || *p == 0x7f)
                return ks__bad(errstr, n, key, "a string without spaces or control characters", v);
        }
        return ks__replace_str(f, v->valuestring, strlen(v->valuestring));
    case KS__K_TOPICS:
        return ks__set_topics(cfg, key, v, errstr, n);
    case KS__K_REDIS_URL: {
        if (!cJSON_IsString(v))
            return ks__bad(errstr, n, key, "a redis://[user:password@]host[:port][/db] URL", v);
        ks_redis_url u;
        char why[KS_ERRSTR_SIZE], masked[300];
        if (ks_redis_url_parse(v->valuestring, &u, why, sizeof why) != 0) {
            ks__err(errstr, n, "%s: %s (in \"%.200s\")", key, why,
                    ks_redis_url_mask(v->valuestring, masked, sizeof masked));
            return KS_ERR_CONFIG;
        }
        return ks__replace_str(f, v->valuestring, strlen(v->valuestring));
    }
    case KS__K_INT:
    case KS__K_SIZE:
        if (!ks__get_int(v, from_str, &i64) || i64 < k->min || i64 > k->max) {
            snprintf(what, sizeof what, "an integer %lld..%lld", (long long)k->min,
                     (long long)k->max);
            return ks__bad(errstr, n, key, what, v);
        }
        if (k->kind == KS__K_INT)
            *(int *)f = (int)i64;
        else
            *(size_t *)f = (size_t)i64;
        return 0;
    case KS__K_INT_MS:
        if (!ks__get_dur(v, &i64) || i64 < k->min || i64 > k->max) {
            snprintf(what, sizeof what,
                     "an integer %lld..%lld (milliseconds) or a duration such as \"%s\"",
                     (long long)k->min, (long long)k->max,
                     ks_duration_format(k->max, hi, sizeof hi));
            return ks__bad(errstr, n, key, what, v);
        }
        *(int *)f = (int)i64;
        return 0;
    case KS__K_DUR:
    case KS__K_DUR_AUTO:
        /* dedup_horizon: null (or "auto", or "" from a flag) means "follow the largest
         * window", so a file can state every key and still not pin the horizon. */
        if (k->kind == KS__K_DUR_AUTO &&
            (cJSON_IsNull(v) || (cJSON_IsString(v) && (strcmp(v->valuestring, "auto") == 0 ||
                                                       (from_str && !*v->valuestring))))) {
            cfg->dedup_horizon_explicit = false;
            cfg->dedup_horizon_ms = ks_config_max_window_ms(cfg);
            return 0;
        }
        if (!ks__get_dur(v, &i64) || i64 < k->min || i64 > k->max) {
            snprintf(what, sizeof what,
                     "a duration %s..%s (\"<n><unit>\" with unit ms, s, m, h or d, or integer "
                     "milliseconds)",
                     ks_duration_format(k->min, lo, sizeof lo),
                     ks_duration_format(k->max, hi, sizeof hi));
            return ks__bad(errstr, n, key, what, v);
        }
        *(int64_t *)f = i64;
        if (k->kind == KS__K_DUR_AUTO) cfg->dedup_horizon_explicit = true;
        return 0;
    case KS__K_DOUBLE: {
        double d;
        if (!ks__get_double(v, from_str, &d) || !(d > k->dmin && d <= k->dmax)) {
            snprintf(what, sizeof what, "a number > %g and <= %g", k->dmin, k->dmax);
            return ks__bad(errstr, n, key, what, v);
        }
        *(double *)f = d;
        return 0;
    }
    case KS__K_WEIGHT: {
        double d;
        if (!ks__get_double(v, from_str, &d) || !(d >= k->dmin && d <= k->dmax)) {
            snprintf(what, sizeof what, "a number %g..%g", k->dmin, k->dmax);
            return ks__bad(errstr, n, key, what, v);
        }
        *(double *)f = d;
        return 0;
    }
    case KS__K_BOOL: {
        bool b;
        if (!ks__get_bool(v, from_str, &b)) return ks__bad(errstr, n, key, "true or false", v);
        *(bool *)f = b;
        return 0;
    }
    case KS__K_CLOCK:
        if (cJSON_IsString(v) && strcmp(v->valuestring, "wall") == 0)
            cfg->clock = KS_CLOCK_WALL;
        else if (cJSON_IsString(v) && strcmp(v->valuestring, "event") == 0)
            cfg->clock = KS_CLOCK_EVENT;
        else
            return ks__bad(errstr, n, key, "\"wall\" or \"event\"", v);
        return 0;
    case KS__K_LOGLEVEL:
        for (int i = 0; cJSON_IsString(v) && i < 4; i++) {
            if (strcmp(v->valuestring, ks__log_names[i]) == 0) {
                cfg->log_level = i;
                return 0;
            }
        }
        return ks__bad(errstr, n, key, "one of \"debug\", \"info\", \"warn\", \"error\"", v);
    case KS__K_WINDOWS:
        return ks__set_windows(cfg, k, key, v, errstr, n);
    case KS__K_KAFKA:
        if (from_str) {
            ks__err(errstr, n, "%s: set properties one at a time as kafka.<property>=<value>", key);
            return KS_ERR_CONFIG;
        }
        return ks__set_kafka_object(cfg, key, v, errstr, n);
    case KS__K_LISTEN: {
        if (!cJSON_IsString(v)) return ks__bad(errstr, n, key, "\"host:port\" or \"\" (off)", v);
        char host[256], why[KS_ERRSTR_SIZE];
        int port;
        if (*v->valuestring &&
            ks_listen_parse(v->valuestring, host, sizeof host, &port, why, sizeof why) != 0) {
            ks__err(errstr, n, "%s: %s", key, why);
            return KS_ERR_CONFIG;
        }
        return ks__replace_str(f, v->valuestring, strlen(v->valuestring));
    }
    case KS__K_PATH:
        if (cJSON_IsNull(v)) return ks__replace_str(f, "", 0);
        if (!cJSON_IsString(v))
            return ks__bad(errstr, n, key, "a directory path, or \"\" or null (none)", v);
        return ks__replace_str(f, v->valuestring, strlen(v->valuestring));
    case KS__K_SECRET_FILE: {
        /* Read now, so check-config reports a missing or unreadable file; only the path
         * is kept for printing. The one key of this kind is redis_password_file. */
        if (cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring)) {
            ks__forget_password(cfg);
            return 0;
        }
        if (!cJSON_IsString(v)) return ks__bad(errstr, n, key, "a file path or null", v);
        char pw[256], why[KS_ERRSTR_SIZE];
        int rc = ks_password_file_read(v->valuestring, pw, sizeof pw, why, sizeof why);
        if (rc) {
            ks__err(errstr, n, "%s: %s", key, why);
            return rc == KS_ERR_IO ? KS_ERR_CONFIG : rc;
        }
        char *path = strdup(v->valuestring), *copy = strdup(pw);
        explicit_bzero(pw, sizeof pw);
        if (!path || !copy) {
            free(path);
            free(copy);
            return KS_ERR_NOMEM;
        }
        ks__forget_password(cfg);
        cfg->redis_password_file = path;
        cfg->redis_password = copy;
        return 0;
    }
    case KS__K_MODEL_FILE: {
        /* Read now, like the password file: check-config and run refuse a
         * missing or malformed model at start-up, naming the field. */
        if (cJSON_IsNull(v) || (cJSON_IsString(v) && !*v->valuestring)) {
            ks__forget_model(cfg);
            return 0;
        }
        if (!cJSON_IsString(v)) return ks__bad(errstr, n, key, "a model file path or null", v);
        char why[KS_ERRSTR_SIZE];
        ks_risk_model *m = ks_risk_model_load(v->valuestring, why, sizeof why);
        if (!m) {
            ks__err(errstr, n, "%s: %s", key, why);
            return KS_ERR_CONFIG;
        }
        char *path = strdup(v->valuestring);
        if (!path) {
            ks_risk_model_free(m);
            return KS_ERR_NOMEM;
        }
        ks__forget_model(cfg);
        cfg->risk_model_path = path;
        cfg->risk_model = m;
        cfg->risk.model = m;
        return 0;
    }
    }
    return KS_ERR_INVAL;
}
