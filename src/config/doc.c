/* docs/config.md's key tables, rendered from the key tables (keys_<module>.c).
 *
 * The docs hold each generated table between two marker lines:
 *
 *   <!-- BEGIN generated: keys ... -->
 *   | key | type | default | env var / flag | meaning |
 *   ...
 *   <!-- END generated: keys -->
 *
 * Section "keys" is every top-level key plus one row per group ("risk");
 * a group's own section (named as the group) lists its keys. The type column
 * comes from the key's kind and range, the default from a config filled by
 * ks_config_init_defaults() (so it is the value the program uses; durations as
 * the row spells them), the flag
 * column from the loader's tables, the meaning from the key's doc string.
 * `make config-doc` (tools/config_doc.c) rewrites the file; the unit test
 * test_config_doc fails when the file and the tables differ.
 */
#include "config/internal.h"

#include "kpistream/err.h"
#include "kpistream/vec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS__BEGIN "<!-- BEGIN generated: "
#define KS__END "<!-- END generated: "

/* A growing string; ok turns false on OOM and stays so. */
typedef struct ks__sb {
    char *s;
    size_t len, cap;
    bool ok;
} ks__sb;

static void ks__sb_add(ks__sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ks__sb_add(ks__sb *b, const char *fmt, ...)
{
    if (!b->ok) return;
    va_list ap;
    va_start(ap, fmt);
    int need = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (need < 0) {
        b->ok = false;
        return;
    }
    if (ks_vec_reserve(b->s, b->cap, b->len + (size_t)need + 1) < 0) {
        b->ok = false;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)need;
}

static char *ks__sb_take(ks__sb *b)
{
    if (b->ok && !b->s) ks__sb_add(b, "%s", "");
    if (!b->ok) {
        free(b->s);
        return NULL;
    }
    return b->s;
}

/* The type column: the kind, with the range the parser enforces. */
static void ks__type_cell(ks__sb *b, const ks__key *k)
{
    char lo[32], hi[32];
    switch (k->kind) {
    case KS__K_STR:
        ks__sb_add(b, "string");
        break;
    case KS__K_TOPIC_OPT:
        ks__sb_add(b, "topic name or `null`");
        break;
    case KS__K_PREFIX:
        ks__sb_add(b, "string, 0–%lld bytes, no spaces or control characters", (long long)k->max);
        break;
    case KS__K_TOPICS:
        ks__sb_add(b, "list of topic names, %lld–%lld", (long long)k->min, (long long)k->max);
        break;
    case KS__K_REDIS_URL:
        ks__sb_add(b, "`redis://[user:password@]host[:port][/db]`");
        break;
    case KS__K_INT:
    case KS__K_INT_MS:
    case KS__K_SIZE:
        ks__sb_add(b, "integer %lld–%lld%s", (long long)k->min, (long long)k->max,
                   k->kind == KS__K_INT_MS ? " (ms)"
                   : k->kind == KS__K_SIZE ? " (bytes)"
                                           : "");
        break;
    case KS__K_DUR:
    case KS__K_DUR_AUTO:
        ks__sb_add(b, "duration %s–%s%s", ks_duration_format(k->min, lo, sizeof lo),
                   ks_duration_format(k->max, hi, sizeof hi),
                   k->kind == KS__K_DUR_AUTO ? ", or `null`" : "");
        break;
    case KS__K_DOUBLE:
        ks__sb_add(b, "number, %g < x ≤ %g", k->dmin, k->dmax);
        break;
    case KS__K_WEIGHT:
        ks__sb_add(b, "number %g–%g", k->dmin, k->dmax);
        break;
    case KS__K_BOOL:
        ks__sb_add(b, "boolean");
        break;
    case KS__K_CLOCK:
        ks__sb_add(b, "`\"wall\"` or `\"event\"`");
        break;
    case KS__K_LOGLEVEL:
        for (int i = 0; i < 4; i++)
            ks__sb_add(b, "%s`\"%s\"`", i == 0 ? "" : i == 3 ? " or " : ", ", ks__log_names[i]);
        break;
    case KS__K_WINDOWS:
        ks__sb_add(b, "list of durations, 1–%d", KS_MAX_WINDOWS);
        break;
    case KS__K_KAFKA:
        ks__sb_add(b, "object");
        break;
    case KS__K_LISTEN:
        ks__sb_add(b, "`\"host:port\"` or `\"\"`");
        break;
    case KS__K_SECRET_FILE:
    case KS__K_MODEL_FILE:
        ks__sb_add(b, "file path or `null`");
        break;
    case KS__K_PATH:
        ks__sb_add(b, "directory path, or `\"\"`/`null`");
        break;
    }
}

/* The default column: the value cfg (filled with the defaults) holds, as JSON. */
static void ks__default_cell(ks__sb *b, const ks__key *k, const ks_config *cfg)
{
    const void *f = (const char *)cfg + k->off;
    const char *s; /* the field of a string kind (a char *; other kinds' fields are not) */
    char buf[32];
    switch (k->kind) {
    case KS__K_STR:
    case KS__K_PREFIX:
    case KS__K_REDIS_URL:
    case KS__K_LISTEN:
        s = *(char *const *)f;
        ks__sb_add(b, "`\"%s\"`", s ? s : "");
        break;
    case KS__K_PATH:
        s = *(char *const *)f;
        ks__sb_add(b, "`\"%s\"`%s", s ? s : "", s && *s ? "" : " (none)");
        break;
    case KS__K_TOPIC_OPT:
    case KS__K_SECRET_FILE:
    case KS__K_MODEL_FILE:
        s = *(char *const *)f;
        if (s)
            ks__sb_add(b, "`\"%s\"`", s);
        else
            ks__sb_add(b, "`null`");
        break;
    case KS__K_TOPICS:
    case KS__K_WINDOWS: {
        int n = k->kind == KS__K_TOPICS ? cfg->ntopics : cfg->nwindows;
        ks__sb_add(b, "`[");
        for (int i = 0; i < n; i++)
            ks__sb_add(b, "%s\"%s\"", i ? ", " : "",
                       k->kind == KS__K_TOPICS ? cfg->topics[i] : cfg->windows[i].name);
        ks__sb_add(b, "]`");
        break;
    }
    case KS__K_KAFKA:
        ks__sb_add(b, "`{%s}`", cfg->nkafka_props ? "..." : "");
        break;
    case KS__K_INT:
    case KS__K_INT_MS:
        ks__sb_add(b, "`%d`", *(const int *)f);
        break;
    case KS__K_SIZE:
        ks__sb_add(b, "`%zu`", *(const size_t *)f);
        break;
    case KS__K_DUR_AUTO:
        if (!cfg->dedup_horizon_explicit) {
            ks__sb_add(b, "`null` = the largest window (`%s`)",
                       ks_duration_format(ks_config_max_window_ms(cfg), buf, sizeof buf));
            break;
        }
        /* fall through */
    case KS__K_DUR:
        /* As the row spells it ("48h"), which is the value: the row went through the parser. */
        ks__sb_add(b, "`\"%s\"`",
                   k->def ? k->def : ks_duration_format(*(const int64_t *)f, buf, sizeof buf));
        break;
    case KS__K_DOUBLE:
    case KS__K_WEIGHT:
        ks__sb_add(b, "`%g`", *(const double *)f);
        break;
    case KS__K_BOOL:
        ks__sb_add(b, "`%s`", *(const bool *)f ? "true" : "false");
        break;
    case KS__K_CLOCK:
        ks__sb_add(b, "`\"%s\"`", cfg->clock == KS_CLOCK_EVENT ? "event" : "wall");
        break;
    case KS__K_LOGLEVEL:
        ks__sb_add(b, "`\"%s\"`",
                   cfg->log_level >= 0 && cfg->log_level < 4 ? ks__log_names[cfg->log_level] : "?");
        break;
    }
}

/* The env var / flag column. */
static void ks__flag_cell(ks__sb *b, const ks__key *k)
{
    if (k->kind == KS__K_KAFKA) {
        ks__sb_add(b, "`--kafka.<property> VALUE`");
        return;
    }
    const char *env = ks__cfg_env_of(k->name);
    if (env) ks__sb_add(b, "`%s`, ", env);
    char flag[128];
    const char *named = ks__cfg_flag_of(k->name);
    snprintf(flag, sizeof flag, "%s", named ? named : k->name);
    for (char *p = flag; *p; p++) {
        if (*p == '_') *p = '-';
    }
    ks__sb_add(b, "`--%s`%s", flag, ks_config_flag_is_switch(flag) ? " (no value)" : "");
}

static void ks__key_row(ks__sb *b, const ks__key *k, const ks_config *defaults)
{
    ks__sb_add(b, "| `%s` | ", k->name);
    ks__type_cell(b, k);
    ks__sb_add(b, " | ");
    ks__default_cell(b, k, defaults);
    ks__sb_add(b, " | ");
    ks__flag_cell(b, k);
    ks__sb_add(b, " | %s |\n", k->doc);
}

char *ks__cfg_doc_table(const char *section)
{
    bool main_table = strcmp(section, "keys") == 0;
    const ks__module *group = NULL;
    for (size_t m = 0; m < ks__cfg_nmodules; m++) {
        const char *g = ks__cfg_modules[m]->group;
        if (g && strcmp(g, section) == 0) group = ks__cfg_modules[m];
    }
    if (!main_table && !group) return NULL;
    ks_config defaults;
    if (ks_config_init_defaults(&defaults) != 0) return NULL;
    ks__sb b = {.ok = true};
    ks__sb_add(&b, "| key | type | default | %s | meaning |\n",
               main_table ? "env var / flag" : "flag");
    ks__sb_add(&b, "| --- | --- | --- | --- | --- |\n");
    for (size_t m = 0; m < ks__cfg_nmodules; m++) {
        const ks__module *mod = ks__cfg_modules[m];
        if (main_table && mod->group) {
            ks__sb_add(
                &b,
                "| `%s` | object | see %s | `--set %s.<key>=VALUE`, `--%s.<key> VALUE` | %s |\n",
                mod->group, mod->group_see, mod->group, mod->group, mod->group_doc);
            continue;
        }
        if (!main_table && mod != group) continue;
        for (size_t i = 0; i < mod->nkeys; i++)
            ks__key_row(&b, &mod->keys[i], &defaults);
    }
    ks_config_free(&defaults);
    return ks__sb_take(&b);
}

char *ks__cfg_doc_update(const char *text)
{
    ks__sb b = {.ok = true};
    const char *p = text;
    const char *begin;
    while ((begin = strstr(p, KS__BEGIN)) != NULL) {
        const char *name = begin + strlen(KS__BEGIN);
        size_t nlen = strcspn(name, " -\n");
        const char *eol = strchr(begin, '\n');
        char end_marker[96];
        snprintf(end_marker, sizeof end_marker, KS__END "%.*s -->", (int)(nlen < 64 ? nlen : 64),
                 name);
        const char *end = eol ? strstr(eol, end_marker) : NULL;
        char section[65];
        snprintf(section, sizeof section, "%.*s", (int)(nlen < 64 ? nlen : 64), name);
        char *table = end ? ks__cfg_doc_table(section) : NULL;
        if (!table) {
            free(b.s);
            return NULL;
        }
        ks__sb_add(&b, "%.*s%s", (int)(eol + 1 - p), p, table);
        free(table);
        p = end;
    }
    ks__sb_add(&b, "%s", p);
    return ks__sb_take(&b);
}
