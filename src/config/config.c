/* kpistream configuration: defaults < JSON file < KPISTREAM_* environment < flags.
 *
 * Every key lives in one table (ks__keys below: name, kind, struct offset, range),
 * in the manner of librdkafka's and fluent-bit's config maps. The file loader,
 * ks_config_set(), ks_config_validate() and ks_config_to_json() all walk that
 * table, so a key cannot be accepted by one and forgotten by another, and every
 * error message is built from the same name and range the docs show.
 *
 * Values from the file arrive as cJSON items; values from flags and the
 * environment arrive as strings and are wrapped in a cJSON string item with
 * from_str set, which lets integer, number and boolean keys parse the text.
 * That keeps one code path per kind.
 *
 * The churn-risk keys are spelt flat in the table ("risk.weights.recency") and
 * nested in the file ({"risk": {"weights": {"recency": 20}}}); the loader
 * flattens the "risk" object and ks_config_to_json() nests it again, so every
 * other path (set, flags, validate, errors) sees one flat name.
 */
#include "kpistream/config.h"
#include "kpistream/err.h"
#include "kpistream/log.h"
#include "kpistream/risk_model.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define KS__MS_MIN 60000LL
#define KS__MS_DAY 86400000LL
#define KS__MAX_FILE_BYTES (1 << 20) /* a config file is a few KiB; refuse to slurp a log */
#define KS__MAX_PREFIX 64
#define KS__MAX_TOPIC_LEN 249 /* Kafka's own limit */
#define KS__WIN_MAX (365 * KS__MS_DAY)

typedef enum ks__kind {
    KS__K_STR,       /* non-empty string (brokers, group) */
    KS__K_TOPIC_OPT, /* topic name or null (dlq_topic) */
    KS__K_PREFIX,    /* short string, may be empty */
    KS__K_TOPICS,    /* array of topic names or "a,b" */
    KS__K_REDIS_URL, /* redis://... */
    KS__K_INT,       /* int */
    KS__K_INT_MS,    /* int milliseconds: integer or duration string */
    KS__K_SIZE,      /* size_t bytes */
    KS__K_DUR,       /* int64_t milliseconds: duration string or integer */
    KS__K_DOUBLE,    /* double in (dmin, dmax] */
    KS__K_WEIGHT,    /* double in [dmin, dmax] (risk weights: 0 switches a signal off) */
    KS__K_BOOL,
    KS__K_CLOCK,
    KS__K_LOGLEVEL,
    KS__K_WINDOWS,
    KS__K_KAFKA,
    KS__K_LISTEN,    /* "host:port", or "" (off) */
    KS__K_SECRET_FILE, /* path of a file holding a secret, or null / "" (none) */
    KS__K_MODEL_FILE,  /* path of a risk model file, or null / "" (none) */
    KS__K_PATH,      /* a path, or null / "" (none) */
} ks__kind;

typedef struct ks__key {
    const char *name;  /* the config-file key */
    const char *alias; /* the struct field's spelling where it differs (durations) */
    ks__kind kind;
    size_t off;
    int64_t min, max; /* integers, sizes and durations (ms) */
    double dmin, dmax;
} ks__key;

#define KS__OFF(f) offsetof(ks_config, f)

/* Order here is the order of ks_config_to_json() and of docs/config.md. */
static const ks__key ks__keys[] = {
    {"brokers", NULL, KS__K_STR, KS__OFF(brokers), 0, 0, 0, 0},
    {"topics", NULL, KS__K_TOPICS, KS__OFF(topics), 1, KS_MAX_TOPICS, 0, 0},
    {"group", NULL, KS__K_STR, KS__OFF(group), 0, 0, 0, 0},
    {"dlq_topic", NULL, KS__K_TOPIC_OPT, KS__OFF(dlq_topic), 0, 0, 0, 0},
    {"batch_size", NULL, KS__K_INT, KS__OFF(batch_size), 1, 100000, 0, 0},
    {"kafka", NULL, KS__K_KAFKA, KS__OFF(kafka_props), 0, KS_MAX_KAFKA_PROPS, 0, 0},
    {"redis_url", NULL, KS__K_REDIS_URL, KS__OFF(redis_url), 0, 0, 0, 0},
    {"redis_password_file", NULL, KS__K_SECRET_FILE, KS__OFF(redis_password_file), 0, 0, 0, 0},
    {"prefix", NULL, KS__K_PREFIX, KS__OFF(prefix), 0, KS__MAX_PREFIX, 0, 0},
    {"flush_interval_ms", NULL, KS__K_INT_MS, KS__OFF(flush_interval_ms), 10, 60000, 0, 0},
    {"flush_max_pending", NULL, KS__K_INT, KS__OFF(flush_max_pending), 100, 1000000, 0, 0},
    {"redis_timeout_ms", NULL, KS__K_INT_MS, KS__OFF(redis_timeout_ms), 10, 60000, 0, 0},
    {"redis_retry_max_ms", NULL, KS__K_INT_MS, KS__OFF(redis_retry_max_ms), 10, 600000, 0, 0},
    {"clock", NULL, KS__K_CLOCK, KS__OFF(clock), 0, 0, 0, 0},
    {"exit_on_eof", NULL, KS__K_BOOL, KS__OFF(exit_on_eof), 0, 0, 0, 0},
    {"windows", NULL, KS__K_WINDOWS, KS__OFF(windows), KS__MS_MIN, KS__WIN_MAX, 0, 0},
    {"churn_inactivity", "churn_inactivity_ms", KS__K_DUR, KS__OFF(churn_inactivity_ms), KS__MS_MIN,
     3650 * KS__MS_DAY, 0, 0},
    {"max_future_skew", "max_future_skew_ms", KS__K_DUR, KS__OFF(max_future_skew_ms), 0,
     7 * KS__MS_DAY, 0, 0},
    {"dedup_horizon", "dedup_horizon_ms", KS__K_DUR, KS__OFF(dedup_horizon_ms), KS__MS_MIN,
     3650 * KS__MS_DAY, 0, 0},
    {"max_message_bytes", NULL, KS__K_SIZE, KS__OFF(max_message_bytes), 1024, 16 << 20, 0, 0},
    {"max_segments", NULL, KS__K_INT, KS__OFF(max_segments), 1, 254, 0, 0},
    {"max_channels", NULL, KS__K_INT, KS__OFF(max_channels), 1, 254, 0, 0},
    {"max_names_per_customer", NULL, KS__K_INT, KS__OFF(max_names_per_customer), 1,
     KS_NAMES_PER_CUSTOMER_MAX, 0, 0},
    {"top_k", NULL, KS__K_INT, KS__OFF(top_k), 1, 100, 0, 0},
    {"gross_margin", NULL, KS__K_DOUBLE, KS__OFF(gross_margin), 0, 0, 0.0, 1.0},
    {"min_churn", NULL, KS__K_DOUBLE, KS__OFF(min_churn), 0, 0, 0.0, 1.0},
    {"csat_satisfied_min", NULL, KS__K_INT, KS__OFF(csat_satisfied_min), 1, 5, 0, 0},
    {"nps_promoter_min", NULL, KS__K_INT, KS__OFF(nps_promoter_min), 0, 10, 0, 0},
    {"nps_detractor_max", NULL, KS__K_INT, KS__OFF(nps_detractor_max), 0, 10, 0, 0},
    {"log_level", NULL, KS__K_LOGLEVEL, KS__OFF(log_level), 0, 0, 0, 0},
    {"metrics_listen", NULL, KS__K_LISTEN, KS__OFF(metrics_listen), 0, 0, 0, 0},
    {"state_dir", NULL, KS__K_PATH, KS__OFF(state_dir), 0, 0, 0, 0},
    {"snapshot_interval", "snapshot_interval_ms", KS__K_DUR, KS__OFF(snapshot_interval_ms),
     KS__MS_MIN / 60, 7 * KS__MS_DAY, 0, 0},
    /* Churn risk (docs/churn-risk.md). One weight per scored signal; cancel is churn, not
     * a signal, so it has no weight. */
    {"risk.weights.recency", NULL, KS__K_WEIGHT, KS__OFF(risk.weight[KS_RISK_RECENCY]), 0, 0, 0.0,
     100.0},
    {"risk.weights.frequency_drop", NULL, KS__K_WEIGHT,
     KS__OFF(risk.weight[KS_RISK_FREQUENCY_DROP]), 0, 0, 0.0, 100.0},
    {"risk.weights.monetary_drop", NULL, KS__K_WEIGHT, KS__OFF(risk.weight[KS_RISK_MONETARY_DROP]),
     0, 0, 0.0, 100.0},
    {"risk.weights.low_csat", NULL, KS__K_WEIGHT, KS__OFF(risk.weight[KS_RISK_LOW_CSAT]), 0, 0, 0.0,
     100.0},
    {"risk.weights.nps_detractor", NULL, KS__K_WEIGHT, KS__OFF(risk.weight[KS_RISK_NPS_DETRACTOR]),
     0, 0, 0.0, 100.0},
    {"risk.weights.unresolved_tickets", NULL, KS__K_WEIGHT,
     KS__OFF(risk.weight[KS_RISK_UNRESOLVED_TICKETS]), 0, 0, 0.0, 100.0},
    {"risk.weights.complaints", NULL, KS__K_WEIGHT, KS__OFF(risk.weight[KS_RISK_COMPLAINTS]), 0, 0,
     0.0, 100.0},
    {"risk.weights.payment_failures", NULL, KS__K_WEIGHT,
     KS__OFF(risk.weight[KS_RISK_PAYMENT_FAILURES]), 0, 0, 0.0, 100.0},
    {"risk.weights.downgrade", NULL, KS__K_WEIGHT, KS__OFF(risk.weight[KS_RISK_DOWNGRADE]), 0, 0,
     0.0, 100.0},
    {"risk.high_enter", NULL, KS__K_INT, KS__OFF(risk.high_enter), 1, 100, 0, 0},
    {"risk.high_exit", NULL, KS__K_INT, KS__OFF(risk.high_exit), 0, 100, 0, 0},
    {"risk.medium_enter", NULL, KS__K_INT, KS__OFF(risk.medium_enter), 1, 100, 0, 0},
    {"risk.medium_exit", NULL, KS__K_INT, KS__OFF(risk.medium_exit), 0, 100, 0, 0},
    {"risk.ticket_age", "risk.ticket_age_ms", KS__K_DUR, KS__OFF(risk.ticket_age_ms), KS__MS_MIN,
     365 * KS__MS_DAY, 0, 0},
    {"risk.alert_cooldown", "risk.alert_cooldown_ms", KS__K_DUR, KS__OFF(risk.alert_cooldown_ms), 0,
     365 * KS__MS_DAY, 0, 0},
    {"risk.trigger_cooldown", "risk.trigger_cooldown_ms", KS__K_DUR,
     KS__OFF(risk.trigger_cooldown_ms), 0, 365 * KS__MS_DAY, 0, 0},
    {"risk.win_back", "risk.win_back_ms", KS__K_DUR, KS__OFF(risk.win_back_ms), KS__MS_MIN,
     3650 * KS__MS_DAY, 0, 0},
    {"risk.upsell_min_orders_30d", NULL, KS__K_INT, KS__OFF(risk.upsell_min_orders_30d), 1, 100000,
     0, 0},
    {"risk.model", NULL, KS__K_MODEL_FILE, KS__OFF(risk_model_path), 0, 0, 0, 0},
};
#define KS__NKEYS (sizeof ks__keys / sizeof ks__keys[0])

static const char *const ks__log_names[] = {"debug", "info", "warn", "error"};

/* ------------------------------------------------------------------ helpers */

static void ks__err(char *errstr, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ks__err(char *errstr, size_t n, const char *fmt, ...)
{
    if (!errstr || n == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, n, fmt, ap);
    va_end(ap);
}

/* Prepends "prefix: " to the message already in errstr. */
static void ks__err_prefix(char *errstr, size_t n, const char *prefix)
{
    if (!errstr || n == 0) return;
    char tmp[KS_ERRSTR_SIZE];
    snprintf(tmp, sizeof tmp, "%s", errstr);
    snprintf(errstr, n, "%s: %s", prefix, tmp);
}

static void *ks__field(ks_config *cfg, const ks__key *k)
{
    return (char *)cfg + k->off;
}

static const void *ks__cfield(const ks_config *cfg, const ks__key *k)
{
    return (const char *)cfg + k->off;
}

/* A short, quoted rendering of the value a user gave, for "got ..." messages. */
static const char *ks__describe(const cJSON *v, char *buf, size_t n)
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
static int ks__bad(char *errstr, size_t n, const char *key, const char *what, const cJSON *v)
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

static int ks__replace_str(char **slot, const char *s, size_t len)
{
    char *copy = strndup(s, len);
    if (!copy) return KS_ERR_NOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

/* Kafka topic names: 1..249 of [a-zA-Z0-9._-]. Returns NULL or the problem. */
static const char *ks__topic_problem(const char *t, size_t len)
{
    if (len == 0) return "is empty";
    if (len > KS__MAX_TOPIC_LEN) return "is longer than 249 bytes";
    for (size_t i = 0; i < len; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return "has a character Kafka does not allow (only a-z A-Z 0-9 . _ -)";
    }
    if ((len == 1 && t[0] == '.') || (len == 2 && t[0] == '.' && t[1] == '.'))
        return "is not a valid topic name";
    return NULL;
}

/* Edit distance, for "did you mean". Names are short; longer input is cut. */
static size_t ks__levenshtein(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63) la = 63;
    if (lb > 63) lb = 63;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Closest table key to name (with '_' shown as sep), or NULL if none is close. */
static const char *ks__suggest(const char *name)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; i < KS__NKEYS; i++) {
        size_t d = ks__levenshtein(name, ks__keys[i].name);
        if (d < bestd) {
            bestd = d;
            best = ks__keys[i].name;
        }
    }
    size_t len = strlen(name);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    return bestd <= limit && bestd < len ? best : NULL;
}

static int ks__unknown_key(char *errstr, size_t n, const char *key)
{
    const char *s = ks__suggest(key);
    if (s)
        ks__err(errstr, n, "unknown key '%s' (did you mean '%s'?)", key, s);
    else
        ks__err(errstr, n, "unknown key '%s' (see docs/config.md for the keys)", key);
    return KS_ERR_CONFIG;
}

static const ks__key *ks__find_key(const char *name)
{
    for (size_t i = 0; i < KS__NKEYS; i++) {
        if (strcmp(ks__keys[i].name, name) == 0 ||
            (ks__keys[i].alias && strcmp(ks__keys[i].alias, name) == 0))
            return &ks__keys[i];
    }
    return NULL;
}

/* ------------------------------------------------------- list-valued keys */

/* Splits a list value (array of strings, or "a, b" from a flag or file) into
 * [start,len) pairs that point into v's strings. Returns the count, or -1 if v
 * is not a list of strings, -2 if it has more than max items. */
typedef struct ks__span {
    const char *s;
    size_t len;
} ks__span;

static int ks__split_list(const cJSON *v, ks__span *out, int max)
{
    int n = 0;
    if (cJSON_IsString(v)) {
        const char *p = v->valuestring;
        for (;;) {
            const char *comma = strchr(p, ',');
            const char *end = comma ? comma : p + strlen(p);
            while (*p == ' ')
                p++;
            const char *e = end;
            while (e > p && e[-1] == ' ')
                e--;
            if (n == max) return -2;
            out[n].s = p;
            out[n].len = (size_t)(e - p);
            n++;
            if (!comma) break;
            p = comma + 1;
        }
        return n;
    }
    if (!cJSON_IsArray(v)) return -1;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        if (!cJSON_IsString(it)) return -1;
        if (n == max) return -2;
        out[n].s = it->valuestring;
        out[n].len = strlen(it->valuestring);
        n++;
    }
    return n;
}

static int ks__set_topics(ks_config *cfg, const char *key, const cJSON *v, char *errstr, size_t n)
{
    ks__span sp[KS_MAX_TOPICS];
    int cnt = ks__split_list(v, sp, KS_MAX_TOPICS);
    if (cnt == -2) {
        ks__err(errstr, n, "%s: at most %d topics", key, KS_MAX_TOPICS);
        return KS_ERR_CONFIG;
    }
    if (cnt < 0)
        return ks__bad(errstr, n, key, "an array of topic names or a comma-separated string", v);
    if (cnt == 0 || (cnt == 1 && sp[0].len == 0)) {
        ks__err(errstr, n, "%s: at least one topic is required", key);
        return KS_ERR_CONFIG;
    }
    for (int i = 0; i < cnt; i++) {
        const char *p = ks__topic_problem(sp[i].s, sp[i].len);
        if (p) {
            ks__err(errstr, n, "%s: topic \"%.*s\" %s", key, (int)(sp[i].len > 64 ? 64 : sp[i].len),
                    sp[i].s, p);
            return KS_ERR_CONFIG;
        }
        for (int j = 0; j < i; j++) {
            if (sp[j].len == sp[i].len && memcmp(sp[j].s, sp[i].s, sp[i].len) == 0) {
                ks__err(errstr, n, "%s: topic \"%.*s\" is listed twice", key, (int)sp[i].len,
                        sp[i].s);
                return KS_ERR_CONFIG;
            }
        }
    }
    char *copies[KS_MAX_TOPICS] = {0};
    for (int i = 0; i < cnt; i++) {
        copies[i] = strndup(sp[i].s, sp[i].len);
        if (!copies[i]) {
            for (int j = 0; j < i; j++)
                free(copies[j]);
            return KS_ERR_NOMEM;
        }
    }
    for (int i = 0; i < cfg->ntopics; i++)
        free(cfg->topics[i]);
    memset(cfg->topics, 0, sizeof cfg->topics);
    memcpy(cfg->topics, copies, sizeof(char *) * (size_t)cnt);
    cfg->ntopics = cnt;
    return 0;
}

static int ks__cmp_window(const void *a, const void *b)
{
    const ks_window_def *x = a, *y = b;
    return (x->length_ms > y->length_ms) - (x->length_ms < y->length_ms);
}

static int ks__set_windows(ks_config *cfg, const ks__key *k, const char *key, const cJSON *v,
                           char *errstr, size_t n)
{
    ks__span sp[KS_MAX_WINDOWS];
    int cnt = ks__split_list(v, sp, KS_MAX_WINDOWS);
    if (cnt == -2) {
        ks__err(errstr, n, "%s: at most %d windows", key, KS_MAX_WINDOWS);
        return KS_ERR_CONFIG;
    }
    if (cnt < 0)
        return ks__bad(errstr, n, key,
                       "an array of durations like [\"1h\", \"24h\", \"7d\", \"30d\"]", v);
    if (cnt == 0 || (cnt == 1 && sp[0].len == 0)) {
        ks__err(errstr, n, "%s: at least one window is required", key);
        return KS_ERR_CONFIG;
    }
    ks_window_def w[KS_MAX_WINDOWS];
    memset(w, 0, sizeof w);
    char lo[32], hi[32];
    ks_duration_format(k->min, lo, sizeof lo);
    ks_duration_format(k->max, hi, sizeof hi);
    for (int i = 0; i < cnt; i++) {
        int shown = (int)(sp[i].len > 32 ? 32 : sp[i].len);
        if (sp[i].len >= sizeof w[i].name) {
            ks__err(errstr, n, "%s: window \"%.*s\" is not a duration like \"24h\"", key, shown,
                    sp[i].s);
            return KS_ERR_CONFIG;
        }
        memcpy(w[i].name, sp[i].s, sp[i].len);
        int rc = ks_duration_parse(w[i].name, &w[i].length_ms);
        /* A bare number would be read as milliseconds, which no window is: ask for a unit. */
        if (rc == 0 && w[i].name[sp[i].len - 1] >= '0' && w[i].name[sp[i].len - 1] <= '9')
            rc = KS_ERR_PARSE;
        if (rc != 0) {
            ks__err(errstr, n,
                    "%s: window \"%s\" is not a duration like \"24h\" (a number with unit m, h "
                    "or d)",
                    key, w[i].name);
            return KS_ERR_CONFIG;
        }
        if (w[i].length_ms < k->min || w[i].length_ms > k->max) {
            ks__err(errstr, n, "%s: window \"%s\" must be between %s and %s", key, w[i].name, lo,
                    hi);
            return KS_ERR_CONFIG;
        }
        if (w[i].length_ms % KS__MS_MIN != 0) {
            ks__err(errstr, n, "%s: window \"%s\" must be a whole number of minutes", key,
                    w[i].name);
            return KS_ERR_CONFIG;
        }
        for (int j = 0; j < i; j++) {
            if (w[j].length_ms == w[i].length_ms) {
                ks__err(errstr, n, "%s: windows \"%s\" and \"%s\" have the same length", key,
                        w[j].name, w[i].name);
                return KS_ERR_CONFIG;
            }
        }
    }
    /* Lengths are unique, so the order (and each name's place) is fully determined. */
    qsort(w, (size_t)cnt, sizeof w[0], ks__cmp_window);
    memset(cfg->windows, 0, sizeof cfg->windows);
    memcpy(cfg->windows, w, sizeof w[0] * (size_t)cnt);
    cfg->nwindows = cnt;
    if (!cfg->dedup_horizon_explicit) cfg->dedup_horizon_ms = ks_config_max_window_ms(cfg);
    return 0;
}

/* ------------------------------------------------------------ kafka props */

static bool ks__is_secret_prop(const char *name)
{
    return strcasestr(name, "password") || strcasestr(name, "secret") ||
           strcasestr(name, "key.pem");
}

static int ks__set_kafka_prop(ks_config *cfg, const char *prop, const cJSON *v, char *errstr,
                              size_t n)
{
    char key[160];
    snprintf(key, sizeof key, "kafka.%s", prop);
    if (!*prop) {
        ks__err(errstr, n, "kafka: property name is empty");
        return KS_ERR_CONFIG;
    }
    if (strlen(prop) > 128) {
        ks__err(errstr, n, "%.64s...: property name is too long", key);
        return KS_ERR_CONFIG;
    }
    for (const char *p = prop; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            ks__err(errstr, n, "%s: not a librdkafka property name", key);
            return KS_ERR_CONFIG;
        }
    }
    /* These two would silently fight with kpistream's own keys. */
    if (strcmp(prop, "bootstrap.servers") == 0 || strcmp(prop, "metadata.broker.list") == 0) {
        ks__err(errstr, n, "%s: set 'brokers' instead", key);
        return KS_ERR_CONFIG;
    }
    if (strcmp(prop, "group.id") == 0) {
        ks__err(errstr, n, "%s: set 'group' instead", key);
        return KS_ERR_CONFIG;
    }
    char num[64];
    const char *val;
    if (cJSON_IsString(v)) {
        val = v->valuestring;
    } else if (cJSON_IsBool(v)) {
        val = cJSON_IsTrue(v) ? "true" : "false";
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d > -1e15 && d < 1e15 && d == (double)(long long)d)
            snprintf(num, sizeof num, "%lld", (long long)d);
        else
            snprintf(num, sizeof num, "%.17g", d);
        val = num;
    } else {
        return ks__bad(errstr, n, key, "a string, number or boolean", v);
    }
    for (int i = 0; i < cfg->nkafka_props; i++) {
        if (strcmp(cfg->kafka_props[i].key, prop) == 0)
            return ks__replace_str(&cfg->kafka_props[i].value, val, strlen(val));
    }
    if (cfg->nkafka_props == KS_MAX_KAFKA_PROPS) {
        ks__err(errstr, n, "%s: at most %d kafka.* properties", key, KS_MAX_KAFKA_PROPS);
        return KS_ERR_CONFIG;
    }
    ks_kv kv = {strdup(prop), strdup(val)};
    if (!kv.key || !kv.value) {
        free(kv.key);
        free(kv.value);
        return KS_ERR_NOMEM;
    }
    cfg->kafka_props[cfg->nkafka_props++] = kv;
    return 0;
}

static int ks__set_kafka_object(ks_config *cfg, const char *key, const cJSON *v, char *errstr,
                                size_t n)
{
    if (!cJSON_IsObject(v)) return ks__bad(errstr, n, key, "an object of librdkafka properties", v);
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        for (const cJSON *prev = v->child; prev != it; prev = prev->next) {
            if (strcmp(prev->string, it->string) == 0) {
                ks__err(errstr, n, "kafka.%s: given twice", it->string);
                return KS_ERR_CONFIG;
            }
        }
        int rc = ks__set_kafka_prop(cfg, it->string, it, errstr, n);
        if (rc) return rc;
    }
    return 0;
}

/* Drops redis_password_file and the password read from it (wiped first). */
static void ks__forget_model(ks_config *cfg)
{
    ks_risk_model_free(cfg->risk_model);
    free(cfg->risk_model_path);
    cfg->risk_model = NULL;
    cfg->risk_model_path = NULL;
    cfg->risk.model = NULL;
}

static void ks__forget_password(ks_config *cfg)
{
    if (cfg->redis_password) explicit_bzero(cfg->redis_password, strlen(cfg->redis_password));
    free(cfg->redis_password);
    free(cfg->redis_password_file);
    cfg->redis_password = NULL;
    cfg->redis_password_file = NULL;
}

/* ---------------------------------------------------------- one key, any kind */

static int ks__apply(ks_config *cfg, const ks__key *k, const char *key, const cJSON *v,
                     bool from_str, char *errstr, size_t n)
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
        /* dedup_horizon: null (or "auto", or "" from a flag) means "follow the largest
         * window", so a file can state every key and still not pin the horizon. */
        if (k->off == offsetof(ks_config, dedup_horizon_ms) &&
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
        if (k->off == offsetof(ks_config, dedup_horizon_ms)) cfg->dedup_horizon_explicit = true;
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
        if (!cJSON_IsString(v))
            return ks__bad(errstr, n, key, "\"host:port\" or \"\" (off)", v);
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
        if (cJSON_IsNull(v))
            return ks__replace_str(f, "", 0);
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

/* ------------------------------------------------------------- public API */

int ks_config_init_defaults(ks_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->brokers = strdup("localhost:9092");
    cfg->topics[0] = strdup("customer-events");
    cfg->ntopics = 1;
    cfg->group = strdup("kpistream");
    cfg->redis_url = strdup("redis://127.0.0.1:6379/0");
    cfg->prefix = strdup("kpi:");
    cfg->metrics_listen = strdup("127.0.0.1:9464");
    if (!cfg->brokers || !cfg->topics[0] || !cfg->group || !cfg->redis_url || !cfg->prefix ||
        !cfg->metrics_listen) {
        ks_config_free(cfg);
        return KS_ERR_NOMEM;
    }
    cfg->batch_size = 1000;
    cfg->flush_interval_ms = 1000;
    cfg->flush_max_pending = 50000;
    cfg->redis_timeout_ms = 2000;
    cfg->redis_retry_max_ms = 5000;
    cfg->clock = KS_CLOCK_WALL;
    cfg->exit_on_eof = false;
    static const ks_window_def defw[] = {
        {"1h", 3600000LL}, {"24h", KS__MS_DAY}, {"7d", 7 * KS__MS_DAY}, {"30d", 30 * KS__MS_DAY}};
    memcpy(cfg->windows, defw, sizeof defw);
    cfg->nwindows = 4;
    cfg->churn_inactivity_ms = 30 * KS__MS_DAY;
    cfg->max_future_skew_ms = 5 * KS__MS_MIN;
    cfg->dedup_horizon_ms = ks_config_max_window_ms(cfg);
    cfg->dedup_horizon_explicit = false;
    cfg->max_message_bytes = 65536;
    cfg->max_segments = 64;
    cfg->max_channels = 64;
    cfg->max_names_per_customer = 16;
    cfg->top_k = 10;
    cfg->gross_margin = 0.3;
    cfg->min_churn = 0.01;
    cfg->csat_satisfied_min = 4;
    cfg->nps_promoter_min = 9;
    cfg->nps_detractor_max = 6;
    cfg->log_level = KS_LOG_INFO;
    cfg->snapshot_interval_ms = 5 * KS__MS_MIN;
    ks_risk_params_default(&cfg->risk);
    return 0;
}

void ks_config_free(ks_config *cfg)
{
    if (!cfg) return;
    free(cfg->brokers);
    for (int i = 0; i < KS_MAX_TOPICS; i++)
        free(cfg->topics[i]);
    free(cfg->group);
    free(cfg->dlq_topic);
    for (int i = 0; i < cfg->nkafka_props && i < KS_MAX_KAFKA_PROPS; i++) {
        free(cfg->kafka_props[i].key);
        free(cfg->kafka_props[i].value);
    }
    free(cfg->redis_url);
    ks__forget_password(cfg);
    free(cfg->prefix);
    free(cfg->metrics_listen);
    ks__forget_model(cfg);
    free(cfg->state_dir);
    memset(cfg, 0, sizeof *cfg);
}

int64_t ks_config_max_window_ms(const ks_config *cfg)
{
    int64_t m = 0;
    for (int i = 0; i < cfg->nwindows && i < KS_MAX_WINDOWS; i++) {
        if (cfg->windows[i].length_ms > m) m = cfg->windows[i].length_ms;
    }
    return m;
}

int ks_config_set(ks_config *cfg, const char *key, const char *value, char *errstr, size_t errsize)
{
    if (!cfg || !key) {
        ks__err(errstr, errsize, "ks_config_set: no config or key");
        return KS_ERR_INVAL;
    }
    if (!value) {
        ks__err(errstr, errsize, "%s: a value is required", key);
        return KS_ERR_CONFIG;
    }
    cJSON *v = cJSON_CreateString(value);
    if (!v) return KS_ERR_NOMEM;
    int rc;
    const ks__key *k;
    if (strncmp(key, "kafka.", 6) == 0)
        rc = ks__set_kafka_prop(cfg, key + 6, v, errstr, errsize);
    else if ((k = ks__find_key(key)) != NULL)
        rc = ks__apply(cfg, k, key, v, true, errstr, errsize);
    else
        rc = ks__unknown_key(errstr, errsize, key);
    cJSON_Delete(v);
    return rc;
}

/* One table key from the file, once. seen has one flag per table entry. */
static int ks__apply_file_key(ks_config *cfg, const char *key, const cJSON *v, bool *seen,
                              char *errstr, size_t n)
{
    const ks__key *k = ks__find_key(key);
    if (!k) return ks__unknown_key(errstr, n, key);
    if (seen[k - ks__keys]) {
        ks__err(errstr, n, "%s: given twice (the key '%s'%s%s%s)", key, k->name,
                k->alias ? " and its spelling '" : "", k->alias ? k->alias : "",
                k->alias ? "' are the same key" : " appears more than once");
        return KS_ERR_CONFIG;
    }
    seen[k - ks__keys] = true;
    return ks__apply(cfg, k, key, v, false, errstr, n);
}

/* The file's "risk" object: {"weights": {"recency": 20, ...}, "high_enter": 70, ...}.
 * Each member becomes its flat key ("risk.weights.recency", "risk.high_enter"), so errors
 * name the flat key and a flat key given as well counts as given twice. */
static int ks__apply_risk_object(ks_config *cfg, const cJSON *v, bool *seen, char *errstr,
                                 size_t n)
{
    if (!cJSON_IsObject(v))
        return ks__bad(errstr, n, "risk", "an object of churn-risk settings", v);
    char key[160];
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        int rc;
        if (strcmp(it->string, "weights") == 0) {
            if (!cJSON_IsObject(it))
                return ks__bad(errstr, n, "risk.weights",
                               "an object of signal name: points, like {\"recency\": 20}", it);
            const cJSON *w;
            cJSON_ArrayForEach(w, it)
            {
                snprintf(key, sizeof key, "risk.weights.%.128s", w->string);
                rc = ks__apply_file_key(cfg, key, w, seen, errstr, n);
                if (rc) return rc;
            }
            continue;
        }
        snprintf(key, sizeof key, "risk.%.128s", it->string);
        rc = ks__apply_file_key(cfg, key, it, seen, errstr, n);
        if (rc) return rc;
    }
    return 0;
}

/* Reads the whole file into a NUL-terminated buffer. */
static int ks__slurp(const char *path, char **out, size_t *len, char *errstr, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ks__err(errstr, n, "%s: cannot open: %s", path, strerror(errno));
        return KS_ERR_IO;
    }
    char *buf = malloc(KS__MAX_FILE_BYTES + 1);
    if (!buf) {
        fclose(f);
        return KS_ERR_NOMEM;
    }
    size_t got = fread(buf, 1, KS__MAX_FILE_BYTES + 1, f);
    int rerr = ferror(f) ? errno : 0;
    fclose(f);
    if (rerr) {
        free(buf);
        ks__err(errstr, n, "%s: cannot read: %s", path, strerror(rerr));
        return KS_ERR_IO;
    }
    if (got > KS__MAX_FILE_BYTES) {
        free(buf);
        ks__err(errstr, n, "%s: larger than %d bytes; is this really a config file?", path,
                KS__MAX_FILE_BYTES);
        return KS_ERR_CONFIG;
    }
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return 0;
}

static void ks__syntax_error(const char *path, const char *buf, size_t len, const char *at,
                             char *errstr, size_t n)
{
    size_t off = at && at >= buf && at <= buf + len ? (size_t)(at - buf) : 0;
    int line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (buf[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    /* Show what is there, up to the end of the line, so the reader can find it. */
    size_t show = 0;
    while (off + show < len && show < 24 && buf[off + show] != '\n' && buf[off + show] != '\r')
        show++;
    if (off >= len || show == 0)
        ks__err(errstr, n, "%s:%d:%d: JSON syntax error at end of %s", path, line, col,
                off >= len ? "file" : "line");
    else
        ks__err(errstr, n, "%s:%d:%d: JSON syntax error near '%.*s'", path, line, col, (int)show,
                buf + off);
}

int ks_config_load_file(ks_config *cfg, const char *path, char *errstr, size_t errsize)
{
    if (!cfg || !path) {
        ks__err(errstr, errsize, "ks_config_load_file: no config or path");
        return KS_ERR_INVAL;
    }
    char *buf;
    size_t len;
    int rc = ks__slurp(path, &buf, &len, errstr, errsize);
    if (rc) return rc;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        ks__syntax_error(path, buf, len, end, errstr, errsize);
        free(buf);
        return KS_ERR_CONFIG;
    }
    free(buf);
    if (!cJSON_IsObject(root)) {
        char d[80];
        ks__err(errstr, errsize, "%s: must hold one JSON object {...}, got %s", path,
                ks__describe(root, d, sizeof d));
        cJSON_Delete(root);
        return KS_ERR_CONFIG;
    }
    bool seen[KS__NKEYS] = {0};
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        const char *key = it->string;
        if (strncmp(key, "kafka.", 6) == 0)
            rc = ks__set_kafka_prop(cfg, key + 6, it, errstr, errsize);
        else if (strcmp(key, "risk") == 0)
            rc = ks__apply_risk_object(cfg, it, seen, errstr, errsize);
        else
            rc = ks__apply_file_key(cfg, key, it, seen, errstr, errsize);
        if (rc) {
            if (rc == KS_ERR_CONFIG) ks__err_prefix(errstr, errsize, path);
            break;
        }
    }
    cJSON_Delete(root);
    return rc;
}

static const struct {
    const char *env;
    const char *key;
} ks__env[] = {
    {"KPISTREAM_BROKERS", "brokers"},
    {"KPISTREAM_TOPICS", "topics"},
    {"KPISTREAM_GROUP", "group"},
    {"KPISTREAM_REDIS", "redis_url"},
    {"KPISTREAM_REDIS_PASSWORD_FILE", "redis_password_file"},
};

int ks_config_apply_env(ks_config *cfg, char *errstr, size_t errsize)
{
    for (size_t i = 0; i < sizeof ks__env / sizeof ks__env[0]; i++) {
        const char *v = getenv(ks__env[i].env);
        /* Set-but-empty counts as unset, as shells and compose files often leave them so. */
        if (!v || !*v) continue;
        int rc = ks_config_set(cfg, ks__env[i].key, v, errstr, errsize);
        if (rc) {
            char pfx[64];
            snprintf(pfx, sizeof pfx, "environment variable %s", ks__env[i].env);
            ks__err_prefix(errstr, errsize, pfx);
            return rc;
        }
    }
    return 0;
}

int ks_config_validate(const ks_config *cfg, char *errstr, size_t errsize)
{
    char lo[32], hi[32];
    if (!cfg->brokers || !*cfg->brokers) {
        ks__err(errstr, errsize, "brokers: must be a non-empty string");
        return KS_ERR_CONFIG;
    }
    if (!cfg->group || !*cfg->group) {
        ks__err(errstr, errsize, "group: must be a non-empty string");
        return KS_ERR_CONFIG;
    }
    if (cfg->ntopics < 1 || cfg->ntopics > KS_MAX_TOPICS) {
        ks__err(errstr, errsize, "topics: must list 1..%d topics, has %d", KS_MAX_TOPICS,
                cfg->ntopics);
        return KS_ERR_CONFIG;
    }
    for (int i = 0; i < cfg->ntopics; i++) {
        const char *t = cfg->topics[i];
        const char *p = t ? ks__topic_problem(t, strlen(t)) : "is missing";
        if (p) {
            ks__err(errstr, errsize, "topics: topic %d %s", i + 1, p);
            return KS_ERR_CONFIG;
        }
    }
    /* Dead letters must not land in a topic we consume, or each one comes back forever. */
    for (int i = 0; i < cfg->ntopics; i++) {
        for (int j = 0; j < cfg->ntopics; j++) {
            const char *dlq = cfg->dlq_topic;
            char def[KS__MAX_TOPIC_LEN + 8];
            if (!dlq) {
                snprintf(def, sizeof def, "%s.dlq", cfg->topics[j]);
                dlq = def;
            }
            if (strcmp(dlq, cfg->topics[i]) == 0) {
                ks__err(errstr, errsize,
                        "dlq_topic: dead-letter topic \"%s\" is also an input topic; rejected "
                        "events would be consumed again",
                        dlq);
                return KS_ERR_CONFIG;
            }
        }
    }
    char why[KS_ERRSTR_SIZE];
    ks_redis_url u;
    if (!cfg->redis_url || ks_redis_url_parse(cfg->redis_url, &u, why, sizeof why) != 0) {
        ks__err(errstr, errsize, "redis_url: %s", cfg->redis_url ? why : "is missing");
        return KS_ERR_CONFIG;
    }
    if (cfg->redis_password_file && !cfg->redis_password) {
        ks__err(errstr, errsize, "redis_password_file: set without its password being read "
                                 "(set it with ks_config_set)");
        return KS_ERR_CONFIG;
    }
    /* One place for the password: with two, which one is used would be a guess. */
    if (cfg->redis_password_file && u.password[0]) {
        char masked[300];
        ks__err(errstr, errsize,
                "redis_password_file: redis_url has a password too (\"%.200s\"); give the "
                "password in one place",
                ks_redis_url_mask(cfg->redis_url, masked, sizeof masked));
        return KS_ERR_CONFIG;
    }
    if (!cfg->prefix) {
        ks__err(errstr, errsize, "prefix: is missing");
        return KS_ERR_CONFIG;
    }
    /* NULL (a struct filled by code) means off, as "" does. */
    if (cfg->metrics_listen && *cfg->metrics_listen) {
        char host[256];
        int port;
        if (ks_listen_parse(cfg->metrics_listen, host, sizeof host, &port, why, sizeof why) != 0) {
            ks__err(errstr, errsize, "metrics_listen: %s", why);
            return KS_ERR_CONFIG;
        }
    }
    /* Numeric ranges again: the struct may have been filled by code, not by ks_config_set. */
    for (size_t i = 0; i < KS__NKEYS; i++) {
        const ks__key *k = &ks__keys[i];
        const void *f = ks__cfield(cfg, k);
        int64_t v;
        switch (k->kind) {
        case KS__K_INT:
        case KS__K_INT_MS:
            v = *(const int *)f;
            break;
        case KS__K_SIZE:
            v = (int64_t) * (const size_t *)f;
            break;
        case KS__K_DUR:
            v = *(const int64_t *)f;
            break;
        case KS__K_DOUBLE: {
            double d = *(const double *)f;
            if (!(d > k->dmin && d <= k->dmax)) {
                ks__err(errstr, errsize, "%s: must be > %g and <= %g, is %g", k->name, k->dmin,
                        k->dmax, d);
                return KS_ERR_CONFIG;
            }
            continue;
        }
        case KS__K_WEIGHT: {
            double d = *(const double *)f;
            if (!(d >= k->dmin && d <= k->dmax)) {
                ks__err(errstr, errsize, "%s: must be %g..%g, is %g", k->name, k->dmin, k->dmax,
                        d);
                return KS_ERR_CONFIG;
            }
            continue;
        }
        default:
            continue;
        }
        if (v < k->min || v > k->max) {
            if (k->kind == KS__K_DUR)
                ks__err(errstr, errsize, "%s: must be between %s and %s, is %s", k->name,
                        ks_duration_format(k->min, lo, sizeof lo),
                        ks_duration_format(k->max, hi, sizeof hi),
                        ks_duration_format(v, why, sizeof why));
            else
                ks__err(errstr, errsize, "%s: must be %lld..%lld, is %lld", k->name,
                        (long long)k->min, (long long)k->max, (long long)v);
            return KS_ERR_CONFIG;
        }
    }
    if (cfg->clock != KS_CLOCK_WALL && cfg->clock != KS_CLOCK_EVENT) {
        ks__err(errstr, errsize, "clock: must be \"wall\" or \"event\"");
        return KS_ERR_CONFIG;
    }
    if (cfg->log_level < KS_LOG_DEBUG || cfg->log_level > KS_LOG_ERROR) {
        ks__err(errstr, errsize, "log_level: must be one of debug, info, warn, error");
        return KS_ERR_CONFIG;
    }
    if (cfg->nwindows < 1 || cfg->nwindows > KS_MAX_WINDOWS) {
        ks__err(errstr, errsize, "windows: must list 1..%d windows, has %d", KS_MAX_WINDOWS,
                cfg->nwindows);
        return KS_ERR_CONFIG;
    }
    for (int i = 0; i < cfg->nwindows; i++) {
        const ks_window_def *w = &cfg->windows[i];
        if (!w->name[0] || memchr(w->name, '\0', sizeof w->name) == NULL) {
            ks__err(errstr, errsize, "windows: window %d has no name", i + 1);
            return KS_ERR_CONFIG;
        }
        if (w->length_ms < KS__MS_MIN || w->length_ms > KS__WIN_MAX ||
            w->length_ms % KS__MS_MIN != 0) {
            ks__err(errstr, errsize,
                    "windows: window \"%s\" must be a whole number of minutes, 1m..365d", w->name);
            return KS_ERR_CONFIG;
        }
        if (i > 0 && w->length_ms <= cfg->windows[i - 1].length_ms) {
            ks__err(errstr, errsize,
                    "windows: must be sorted by length with no two the same (\"%s\" after "
                    "\"%s\")",
                    w->name, cfg->windows[i - 1].name);
            return KS_ERR_CONFIG;
        }
        for (int j = 0; j < i; j++) {
            if (strcmp(cfg->windows[j].name, w->name) == 0) {
                ks__err(errstr, errsize, "windows: name \"%s\" is used twice", w->name);
                return KS_ERR_CONFIG;
            }
        }
    }
    int64_t maxw = ks_config_max_window_ms(cfg);
    if (cfg->dedup_horizon_ms < maxw) {
        ks__err(errstr, errsize,
                "dedup_horizon: %s is shorter than the largest window (%s); a retried event "
                "older than the horizon but inside the window would be counted twice",
                ks_duration_format(cfg->dedup_horizon_ms, lo, sizeof lo),
                ks_duration_format(maxw, hi, sizeof hi));
        return KS_ERR_CONFIG;
    }
    if (cfg->nps_detractor_max >= cfg->nps_promoter_min) {
        ks__err(errstr, errsize, "nps_detractor_max: must be below nps_promoter_min (%d), is %d",
                cfg->nps_promoter_min, cfg->nps_detractor_max);
        return KS_ERR_CONFIG;
    }
    /* Hysteresis needs each exit at or below its entry, and medium below high, or a
     * level could be entered and left on the same score. */
    const ks_risk_params *r = &cfg->risk;
    if (r->high_exit > r->high_enter) {
        ks__err(errstr, errsize, "risk.high_exit: must be <= risk.high_enter (%d), is %d",
                r->high_enter, r->high_exit);
        return KS_ERR_CONFIG;
    }
    if (r->medium_exit > r->medium_enter) {
        ks__err(errstr, errsize, "risk.medium_exit: must be <= risk.medium_enter (%d), is %d",
                r->medium_enter, r->medium_exit);
        return KS_ERR_CONFIG;
    }
    if (r->medium_enter >= r->high_enter) {
        ks__err(errstr, errsize, "risk.medium_enter: must be below risk.high_enter (%d), is %d",
                r->high_enter, r->medium_enter);
        return KS_ERR_CONFIG;
    }
    if (cfg->nkafka_props < 0 || cfg->nkafka_props > KS_MAX_KAFKA_PROPS) {
        ks__err(errstr, errsize, "kafka: at most %d properties", KS_MAX_KAFKA_PROPS);
        return KS_ERR_CONFIG;
    }
    for (int i = 0; i < cfg->nkafka_props; i++) {
        if (!cfg->kafka_props[i].key || !*cfg->kafka_props[i].key || !cfg->kafka_props[i].value) {
            ks__err(errstr, errsize, "kafka: property %d has no name or value", i + 1);
            return KS_ERR_CONFIG;
        }
    }
    return 0;
}

int ks_config_load(ks_config *cfg, const char *path, char *errstr, size_t errsize)
{
    int rc = ks_config_init_defaults(cfg);
    if (rc) {
        ks__err(errstr, errsize, "config: out of memory");
        return rc;
    }
    if (path) rc = ks_config_load_file(cfg, path, errstr, errsize);
    if (!rc) rc = ks_config_apply_env(cfg, errstr, errsize);
    if (!rc) rc = ks_config_validate(cfg, errstr, errsize);
    if (rc) {
        if (rc == KS_ERR_NOMEM) ks__err(errstr, errsize, "config: out of memory");
        ks_config_free(cfg);
    }
    return rc;
}

/* ------------------------------------------------------------------ flags */

static const struct {
    const char *flag;
    const char *key; /* NULL: special */
} ks__flags[] = {
    {"brokers", "brokers"},         {"topics", "topics"}, {"group", "group"},
    {"redis", "redis_url"},         {"prefix", "prefix"}, {"clock", "clock"},
    {"exit-on-eof", "exit_on_eof"}, {"set", NULL},        {"config", NULL},
};

static const char *ks__flag_name(const char *flag)
{
    return strncmp(flag, "--", 2) == 0 ? flag + 2 : flag;
}

bool ks_config_flag_is_switch(const char *flag)
{
    return flag && strcmp(ks__flag_name(flag), "exit-on-eof") == 0;
}

int ks_config_apply_flag(ks_config *cfg, const char *flag, const char *value, char *errstr,
                         size_t errsize)
{
    if (!cfg || !flag) {
        ks__err(errstr, errsize, "ks_config_apply_flag: no config or flag");
        return KS_ERR_INVAL;
    }
    const char *name = ks__flag_name(flag);
    char key[160];
    const char *shown = name;
    if (strcmp(name, "config") == 0) {
        ks__err(errstr, errsize, "--config: must be handled before the other flags");
        return KS_ERR_INVAL;
    }
    if (strcmp(name, "set") == 0) {
        const char *eq = value ? strchr(value, '=') : NULL;
        if (!eq || eq == value) {
            ks__err(errstr, errsize, "--set: expects key=value, got \"%.64s\"", value ? value : "");
            return KS_ERR_CONFIG;
        }
        snprintf(key, sizeof key, "%.*s", (int)(eq - value), value);
        value = eq + 1;
        shown = "set";
    } else if (strncmp(name, "kafka.", 6) == 0) {
        snprintf(key, sizeof key, "%s", name);
    } else {
        const char *mapped = NULL;
        for (size_t i = 0; i < sizeof ks__flags / sizeof ks__flags[0]; i++) {
            if (ks__flags[i].key && strcmp(ks__flags[i].flag, name) == 0) mapped = ks__flags[i].key;
        }
        if (mapped) {
            snprintf(key, sizeof key, "%s", mapped);
        } else {
            /* Any other config key as a flag: --flush-interval-ms 500. */
            snprintf(key, sizeof key, "%s", name);
            for (char *p = key; *p; p++) {
                if (*p == '-') *p = '_';
            }
            const ks__key *k = ks__find_key(key);
            if (!k || k->kind == KS__K_KAFKA) {
                const char *best = NULL;
                size_t bestd = (size_t)-1;
                for (size_t i = 0; i < sizeof ks__flags / sizeof ks__flags[0]; i++) {
                    size_t d = ks__levenshtein(name, ks__flags[i].flag);
                    if (d < bestd) {
                        bestd = d;
                        best = ks__flags[i].flag;
                    }
                }
                const char *s = ks__suggest(key);
                if (bestd <= 2 && bestd < strlen(name))
                    ks__err(errstr, errsize, "unknown flag '--%s' (did you mean '--%s'?)", name,
                            best);
                else if (s)
                    ks__err(errstr, errsize, "unknown flag '--%s' (did you mean '--%s'?)", name, s);
                else
                    ks__err(errstr, errsize, "unknown flag '--%s'", name);
                return KS_ERR_CONFIG;
            }
        }
    }
    if (!value) {
        if (strcmp(key, "exit_on_eof") == 0) {
            value = "true";
        } else {
            ks__err(errstr, errsize, "--%s: needs a value", shown);
            return KS_ERR_CONFIG;
        }
    }
    int rc = ks_config_set(cfg, key, value, errstr, errsize);
    if (rc) {
        char pfx[80];
        snprintf(pfx, sizeof pfx, "flag --%.64s", shown);
        ks__err_prefix(errstr, errsize, pfx);
    }
    return rc;
}

/* ------------------------------------------------------------------ output */

static char *ks__indent_two_spaces(char *s)
{
    /* cJSON indents with tabs and puts a tab after each ':'; tabs inside strings are
     * escaped, so every raw tab is layout. Two-space indents read better in a terminal,
     * and an empty object prints as {}. */
    size_t tabs = 0, len = 0;
    for (const char *p = s; *p; p++, len++)
        tabs += *p == '\t';
    char *out = malloc(len + tabs + 1);
    if (!out) {
        free(s);
        return NULL;
    }
    char *o = out;
    for (const char *p = s; *p; p++) {
        if (*p == '{' && p[1] == '\n') {
            const char *q = p + 2;
            while (*q == '\t')
                q++;
            if (*q == '}') {
                *o++ = '{';
                *o++ = '}';
                p = q;
                continue;
            }
        }
        if (*p == '\t' && p > s && p[-1] == ':') {
            *o++ = ' ';
        } else if (*p == '\t') {
            *o++ = ' ';
            *o++ = ' ';
        } else {
            *o++ = *p;
        }
    }
    *o = '\0';
    free(s);
    return out;
}

/* The object a key is printed in: root, or for "risk.x" / "risk.weights.x" the nested
 * "risk" / "weights" object (created on first use), with *leaf set to the last part. */
static cJSON *ks__json_parent(cJSON *root, const char **leaf)
{
    if (strncmp(*leaf, "risk.", 5) != 0) return root;
    cJSON *risk = cJSON_GetObjectItemCaseSensitive(root, "risk");
    if (!risk && !(risk = cJSON_AddObjectToObject(root, "risk"))) return NULL;
    *leaf += 5;
    if (strncmp(*leaf, "weights.", 8) != 0) return risk;
    cJSON *w = cJSON_GetObjectItemCaseSensitive(risk, "weights");
    if (!w && !(w = cJSON_AddObjectToObject(risk, "weights"))) return NULL;
    *leaf += 8;
    return w;
}

char *ks_config_to_json(const ks_config *cfg)
{
    cJSON *root = cJSON_CreateObject();
    if (!root) return NULL;
    bool ok = true;
    char buf[512];
    for (size_t i = 0; i < KS__NKEYS && ok; i++) {
        const ks__key *k = &ks__keys[i];
        const void *f = ks__cfield(cfg, k);
        cJSON *v = NULL;
        switch (k->kind) {
        case KS__K_STR:
        case KS__K_PREFIX:
        case KS__K_PATH:
        case KS__K_LISTEN: {
            const char *s = *(char *const *)f;
            v = cJSON_CreateString(s ? s : "");
            break;
        }
        case KS__K_TOPIC_OPT:
        case KS__K_MODEL_FILE:
        case KS__K_SECRET_FILE: {
            const char *s = *(char *const *)f;
            v = s ? cJSON_CreateString(s) : cJSON_CreateNull();
            break;
        }
        case KS__K_REDIS_URL:
            v = cJSON_CreateString(
                ks_redis_url_mask(cfg->redis_url ? cfg->redis_url : "", buf, sizeof buf));
            break;
        case KS__K_TOPICS:
            v = cJSON_CreateArray();
            for (int t = 0; v && t < cfg->ntopics; t++)
                ok = ok && cJSON_AddItemToArray(v, cJSON_CreateString(cfg->topics[t]));
            break;
        case KS__K_WINDOWS:
            v = cJSON_CreateArray();
            for (int w = 0; v && w < cfg->nwindows; w++)
                ok = ok && cJSON_AddItemToArray(v, cJSON_CreateString(cfg->windows[w].name));
            break;
        case KS__K_KAFKA:
            v = cJSON_CreateObject();
            for (int p = 0; v && p < cfg->nkafka_props; p++) {
                const ks_kv *kv = &cfg->kafka_props[p];
                const char *val = ks__is_secret_prop(kv->key) ? "***" : kv->value;
                ok = ok && cJSON_AddStringToObject(v, kv->key, val) != NULL;
            }
            break;
        case KS__K_INT:
        case KS__K_INT_MS:
            v = cJSON_CreateNumber(*(const int *)f);
            break;
        case KS__K_SIZE:
            v = cJSON_CreateNumber((double)*(const size_t *)f);
            break;
        case KS__K_DUR:
            if (k->off == offsetof(ks_config, dedup_horizon_ms) && !cfg->dedup_horizon_explicit)
                v = cJSON_CreateNull(); /* "largest window", and stays so when reloaded */
            else
                v = cJSON_CreateString(ks_duration_format(*(const int64_t *)f, buf, sizeof buf));
            break;
        case KS__K_DOUBLE:
        case KS__K_WEIGHT:
            v = cJSON_CreateNumber(*(const double *)f);
            break;
        case KS__K_BOOL:
            v = cJSON_CreateBool(*(const bool *)f);
            break;
        case KS__K_CLOCK:
            v = cJSON_CreateString(cfg->clock == KS_CLOCK_EVENT ? "event" : "wall");
            break;
        case KS__K_LOGLEVEL:
            v = cJSON_CreateString(
                cfg->log_level >= 0 && cfg->log_level < 4 ? ks__log_names[cfg->log_level] : "info");
            break;
        }
        const char *leaf = k->name;
        cJSON *parent = ks__json_parent(root, &leaf);
        if (!v || !ok || !parent || !cJSON_AddItemToObject(parent, leaf, v)) {
            cJSON_Delete(v);
            ok = false;
        }
    }
    char *s = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return s ? ks__indent_two_spaces(s) : NULL;
}
