/* ks_config_validate: every range again, walking the key tables (the struct may
 * have been written by code rather than parsed), then the rules that involve
 * more than one key. Each message names the key at fault. */
#include "config/internal.h"

#include "kpistream/err.h"
#include "kpistream/log.h"

#include <stdio.h>
#include <string.h>

static const void *ks__cfield(const ks_config *cfg, const ks__key *k)
{
    return (const char *)cfg + k->off;
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
        ks__err(errstr, errsize,
                "redis_password_file: set without its password being read "
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
    for (size_t i = 0, nk = ks__cfg_nkeys(); i < nk; i++) {
        const ks__key *k = ks__cfg_key(i);
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
        case KS__K_DUR_AUTO:
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
                ks__err(errstr, errsize, "%s: must be %g..%g, is %g", k->name, k->dmin, k->dmax, d);
                return KS_ERR_CONFIG;
            }
            continue;
        }
        default:
            continue;
        }
        if (v < k->min || v > k->max) {
            if (k->kind == KS__K_DUR || k->kind == KS__K_DUR_AUTO)
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
