/* The key tables as one list: order, lookup, "did you mean", and the defaults.
 *
 * Each module's table is in keys_<module>.c (internal.h says why there); this
 * file strings them together in the order ks_config_to_json() prints and
 * docs/config.md lists them, so the loader, ks_config_validate(), the JSON
 * dump and the docs all walk the same rows. */
#include "config/internal.h"

#include "kpistream/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ks__module *const ks__cfg_modules[] = {
    &ks__cfg_kafka, &ks__cfg_redis,   &ks__cfg_engine,   &ks__cfg_kpi,
    &ks__cfg_log,   &ks__cfg_metrics, &ks__cfg_snapshot, &ks__cfg_risk,
};
const size_t ks__cfg_nmodules = sizeof ks__cfg_modules / sizeof ks__cfg_modules[0];

size_t ks__cfg_nkeys(void)
{
    size_t n = 0;
    for (size_t m = 0; m < ks__cfg_nmodules; m++)
        n += ks__cfg_modules[m]->nkeys;
    return n;
}

const ks__key *ks__cfg_key(size_t i)
{
    for (size_t m = 0; m < ks__cfg_nmodules; m++) {
        if (i < ks__cfg_modules[m]->nkeys) return &ks__cfg_modules[m]->keys[i];
        i -= ks__cfg_modules[m]->nkeys;
    }
    return NULL;
}

size_t ks__cfg_index(const ks__key *k)
{
    size_t base = 0;
    for (size_t m = 0; m < ks__cfg_nmodules; m++) {
        const ks__module *mod = ks__cfg_modules[m];
        if (k >= mod->keys && k < mod->keys + mod->nkeys) return base + (size_t)(k - mod->keys);
        base += mod->nkeys;
    }
    return base; /* not a row: one past the end */
}

const ks__key *ks__cfg_find(const char *name)
{
    for (size_t m = 0; m < ks__cfg_nmodules; m++) {
        const ks__module *mod = ks__cfg_modules[m];
        for (size_t i = 0; i < mod->nkeys; i++) {
            const ks__key *k = &mod->keys[i];
            if (strcmp(k->name, name) == 0 || (k->alias && strcmp(k->alias, name) == 0)) return k;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- messages */

void ks__err(char *errstr, size_t n, const char *fmt, ...)
{
    if (!errstr || n == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, n, fmt, ap);
    va_end(ap);
}

void ks__err_prefix(char *errstr, size_t n, const char *prefix)
{
    if (!errstr || n == 0) return;
    char tmp[KS_ERRSTR_SIZE];
    snprintf(tmp, sizeof tmp, "%s", errstr);
    snprintf(errstr, n, "%s: %s", prefix, tmp);
}

size_t ks__levenshtein(const char *a, const char *b)
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

const char *ks__cfg_suggest(const char *name)
{
    const char *best = NULL;
    size_t bestd = (size_t)-1;
    for (size_t i = 0, nk = ks__cfg_nkeys(); i < nk; i++) {
        const char *cand = ks__cfg_key(i)->name;
        size_t d = ks__levenshtein(name, cand);
        if (d < bestd) {
            bestd = d;
            best = cand;
        }
    }
    size_t len = strlen(name);
    size_t limit = len / 3 > 2 ? len / 3 : 2;
    return bestd <= limit && bestd < len ? best : NULL;
}

int ks__cfg_unknown_key(char *errstr, size_t n, const char *key)
{
    const char *s = ks__cfg_suggest(key);
    if (s)
        ks__err(errstr, n, "unknown key '%s' (did you mean '%s'?)", key, s);
    else
        ks__err(errstr, n, "unknown key '%s' (see docs/config.md for the keys)", key);
    return KS_ERR_CONFIG;
}

/* ------------------------------------------------------------ lifecycle */

int ks_config_init_defaults(ks_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    /* Each default goes through the parser a flag's value takes, so a default
     * cannot be something the key itself would refuse. */
    char why[KS_ERRSTR_SIZE];
    for (size_t i = 0, nk = ks__cfg_nkeys(); i < nk; i++) {
        const ks__key *k = ks__cfg_key(i);
        if (!k->def) continue;
        cJSON *v = cJSON_CreateString(k->def);
        int rc = v ? ks__apply(cfg, k, k->name, v, true, why, sizeof why) : KS_ERR_NOMEM;
        cJSON_Delete(v);
        if (rc) {
            ks_config_free(cfg);
            return rc == KS_ERR_NOMEM ? rc : KS_ERR_INVAL; /* a bad row in a key table */
        }
    }
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
