/* ks_config_to_json: the effective config as check-config prints it, walking the
 * key tables in their order. Flat risk keys are nested again ({"risk":
 * {"weights": {...}}}) so the output is a config file the loader takes back;
 * secrets are masked. */
#include "config/internal.h"

#include <stdlib.h>
#include <string.h>

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
    for (size_t i = 0, nk = ks__cfg_nkeys(); i < nk && ok; i++) {
        const ks__key *k = ks__cfg_key(i);
        const void *f = (const char *)cfg + k->off;
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
        case KS__K_DUR_AUTO:
            if (!cfg->dedup_horizon_explicit) {
                v = cJSON_CreateNull(); /* "largest window", and stays so when reloaded */
                break;
            }
            /* fall through */
        case KS__K_DUR:
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
