/* The layers over the defaults: the JSON file, the KPISTREAM_* environment and
 * the `run` flags, each applied key by key through the key tables (ks__apply).
 *
 * The churn-risk keys are spelt flat in the tables ("risk.weights.recency") and
 * nested in the file ({"risk": {"weights": {"recency": 20}}}); the loader
 * flattens the "risk" object, so every other path (set, flags, validate,
 * errors) sees one flat name.
 */
#include "config/internal.h"

#include "kpistream/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS__MAX_FILE_BYTES (1 << 20) /* a config file is a few KiB; refuse to slurp a log */

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
    else if ((k = ks__cfg_find(key)) != NULL)
        rc = ks__apply(cfg, k, key, v, true, errstr, errsize);
    else
        rc = ks__cfg_unknown_key(errstr, errsize, key);
    cJSON_Delete(v);
    return rc;
}

/* One table key from the file, once. seen has one flag per table entry. */
static int ks__apply_file_key(ks_config *cfg, const char *key, const cJSON *v, bool *seen,
                              char *errstr, size_t n)
{
    const ks__key *k = ks__cfg_find(key);
    if (!k) return ks__cfg_unknown_key(errstr, n, key);
    size_t at = ks__cfg_index(k);
    if (seen[at]) {
        ks__err(errstr, n, "%s: given twice (the key '%s'%s%s%s)", key, k->name,
                k->alias ? " and its spelling '" : "", k->alias ? k->alias : "",
                k->alias ? "' are the same key" : " appears more than once");
        return KS_ERR_CONFIG;
    }
    seen[at] = true;
    return ks__apply(cfg, k, key, v, false, errstr, n);
}

/* The file's "risk" object: {"weights": {"recency": 20, ...}, "high_enter": 70, ...}.
 * Each member becomes its flat key ("risk.weights.recency", "risk.high_enter"), so errors
 * name the flat key and a flat key given as well counts as given twice. */
static int ks__apply_risk_object(ks_config *cfg, const cJSON *v, bool *seen, char *errstr, size_t n)
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
    bool *seen = calloc(ks__cfg_nkeys(), sizeof *seen);
    if (!seen) {
        cJSON_Delete(root);
        return KS_ERR_NOMEM;
    }
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
    free(seen);
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
            const ks__key *k = ks__cfg_find(key);
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
                const char *s = ks__cfg_suggest(key);
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

/* ------------------------------------------------- for docs/config.md (doc.c) */

const char *ks__cfg_flag_of(const char *key)
{
    for (size_t i = 0; i < sizeof ks__flags / sizeof ks__flags[0]; i++) {
        if (ks__flags[i].key && strcmp(ks__flags[i].key, key) == 0) return ks__flags[i].flag;
    }
    return NULL;
}

const char *ks__cfg_env_of(const char *key)
{
    for (size_t i = 0; i < sizeof ks__env / sizeof ks__env[0]; i++) {
        if (strcmp(ks__env[i].key, key) == 0) return ks__env[i].env;
    }
    return NULL;
}
