/* The list and object kinds: topics, windows, and the kafka.* properties.
 *
 * A list comes as a JSON array of strings or as one comma-separated string
 * (from a flag, the environment, a default, or the file); both are split into
 * spans first, so the checks below see one shape. */
#include "config/internal.h"

#include "kpistream/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kafka topic names: 1..249 of [a-zA-Z0-9._-]. Returns NULL or the problem. */
const char *ks__topic_problem(const char *t, size_t len)
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

int ks__set_topics(ks_config *cfg, const char *key, const cJSON *v, char *errstr, size_t n)
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

int ks__set_windows(ks_config *cfg, const ks__key *k, const char *key, const cJSON *v, char *errstr,
                    size_t n)
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

bool ks__is_secret_prop(const char *name)
{
    return strcasestr(name, "password") || strcasestr(name, "secret") ||
           strcasestr(name, "key.pem");
}

int ks__set_kafka_prop(ks_config *cfg, const char *prop, const cJSON *v, char *errstr, size_t n)
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

int ks__set_kafka_object(ks_config *cfg, const char *key, const cJSON *v, char *errstr, size_t n)
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
