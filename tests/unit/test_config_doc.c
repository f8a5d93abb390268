/* The key tables (src/config/keys_*.c) against themselves and against
 * docs/config.md: every key has a doc string and a default its own parser
 * accepts, no name is in two tables, and the docs' generated key tables are
 * exactly what the tables render (`make config-doc` rewrites them): a key
 * without its row (name, type, default, flag, meaning) fails, and so does a
 * row for a key the tables do not know. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "kpistream/config.h"
#include "kpistream/err.h"
#include "kpistream/risk.h"

#include "repo_file.h"

/* True if line (up to its '\n') appears as a whole line in text. */
static bool has_line(const char *text, const char *line, size_t len)
{
    for (const char *p = text; (p = strstr(p, "\n")) != NULL; p++) {
        if (strncmp(p + 1, line, len) == 0 && (p[1 + len] == '\n' || p[1 + len] == '\0'))
            return true;
    }
    return strncmp(text, line, len) == 0 && (text[len] == '\n' || text[len] == '\0');
}

/* Compares the docs text with the tables; writes the first problems into msg and
 * returns how many table rows differ. A row is "| `<key>` | ...". */
static int doc_problems(const char *docs, char *msg, size_t n)
{
    char *want = ks__cfg_doc_update(docs);
    if (!want) {
        snprintf(msg, n, "docs/config.md: a generated region is not closed or names no section");
        return 1;
    }
    int bad = 0;
    size_t used = 0;
    msg[0] = '\0';
    /* Rows the tables render that the docs lack: a key missing, or its row stale. */
    for (const char *p = want; *p;) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, "| `", 3) == 0 && !has_line(docs, p, len)) {
            bad++;
            if (used < n)
                used += (size_t)snprintf(msg + used, n - used,
                                         "docs/config.md lacks this row (run make config-doc): "
                                         "%.*s\n",
                                         (int)(len > 160 ? 160 : len), p);
        }
        p += len + (p[len] == '\n');
    }
    /* Rows the docs have in a generated region that the tables do not render. */
    for (const char *p = docs; *p;) {
        size_t len = strcspn(p, "\n");
        if (strncmp(p, "| `", 3) == 0 && !has_line(want, p, len)) {
            /* Only rows inside a generated region count: other tables use "| `" too. */
            const char *begin = NULL, *end = NULL;
            for (const char *q = docs; (q = strstr(q, "<!-- BEGIN generated: ")) && q < p; q++)
                begin = q;
            for (const char *q = docs; (q = strstr(q, "<!-- END generated: ")) && q < p; q++)
                end = q;
            if (begin && (!end || end < begin)) {
                bad++;
                if (used < n)
                    used += (size_t)snprintf(msg + used, n - used,
                                             "docs/config.md has a row the tables do not know: "
                                             "%.*s\n",
                                             (int)(len > 160 ? 160 : len), p);
            }
        }
        p += len + (p[len] == '\n');
    }
    if (!bad && strcmp(want, docs) != 0) {
        bad = 1;
        snprintf(msg, n,
                 "docs/config.md: a generated table's header differs (run make config-doc)");
    }
    free(want);
    return bad;
}

Test(config_doc, docs_key_tables_match_the_tables)
{
    char *docs = read_repo_file("docs/config.md");
    char msg[4096];
    int bad = doc_problems(docs, msg, sizeof msg);
    cr_assert_eq(bad, 0, "%s", msg);
    free(docs);
}

Test(config_doc, every_key_has_its_own_row)
{
    char *docs = read_repo_file("docs/config.md");
    for (size_t i = 0, nk = ks__cfg_nkeys(); i < nk; i++) {
        const ks__key *k = ks__cfg_key(i);
        char start[128];
        snprintf(start, sizeof start, "\n| `%s` | ", k->name);
        cr_expect_not_null(strstr(docs, start), "docs/config.md has no row for key %s", k->name);
    }
    free(docs);
}

/* The comparison can fail: a dropped row and an unknown key are both caught, naming
 * the key. */
Test(config_doc, a_missing_or_unknown_row_is_caught)
{
    char *docs = read_repo_file("docs/config.md");
    char msg[4096];

    char *row = strstr(docs, "\n| `top_k` | ");
    cr_assert_not_null(row);
    char *dropped = strdup(docs);
    char *drow = dropped + (row - docs) + 1;
    char *eol = strchr(drow, '\n');
    memmove(drow, eol + 1, strlen(eol + 1) + 1);
    cr_assert_gt(doc_problems(dropped, msg, sizeof msg), 0);
    cr_assert_not_null(strstr(msg, "lacks this row") ? strstr(msg, "`top_k`") : NULL, "%s", msg);
    free(dropped);

    size_t at = (size_t)(row - docs) + 1;
    const char *extra = "| `top_kk` | integer 1–100 | `10` | `--top-kk` | Not a key. |\n";
    char *added = malloc(strlen(docs) + strlen(extra) + 1);
    memcpy(added, docs, at);
    strcpy(added + at, extra);
    strcat(added, docs + at);
    cr_assert_gt(doc_problems(added, msg, sizeof msg), 0);
    cr_assert_not_null(strstr(msg, "do not know: | `top_kk`"), "%s", msg);
    free(added);

    /* A changed default is a stale row too. */
    char *stale = strdup(docs);
    char *d = strstr(stale, "| `top_k` | integer 1–100 | `10` |");
    cr_assert_not_null(d, "top_k's row changed shape; update this test");
    d[strlen("| `top_k` | integer 1–100 | `1")] = '1';
    cr_assert_gt(doc_problems(stale, msg, sizeof msg), 0);
    free(stale);
    free(docs);
}

Test(config_doc, every_key_has_a_doc_string_and_one_name)
{
    size_t nk = ks__cfg_nkeys();
    cr_assert_gt(nk, 50);
    for (size_t i = 0; i < nk; i++) {
        const ks__key *k = ks__cfg_key(i);
        cr_assert_eq(ks__cfg_index(k), i);
        cr_expect(k->doc && *k->doc, "%s: no doc string", k->name);
        cr_expect(k->doc && !strpbrk(k->doc, "|\n"), "%s: doc string breaks the table", k->name);
        cr_expect_eq(ks__cfg_find(k->name), k, "%s: in two tables, or shadowed", k->name);
        if (k->alias) cr_expect_eq(ks__cfg_find(k->alias), k, "%s: alias shadowed", k->alias);
        for (size_t j = 0; j < i; j++) {
            const ks__key *o = ks__cfg_key(j);
            cr_expect(!k->alias || strcmp(k->alias, o->name) != 0, "%s: alias is a key", k->name);
        }
    }
}

/* Each row's default goes through the row's own parser (ks_config_init_defaults);
 * a default the key would refuse makes it fail. */
Test(config_doc, every_default_is_accepted_and_valid)
{
    ks_config cfg;
    char err[KS_ERRSTR_SIZE] = "";
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
    for (size_t i = 0, nk = ks__cfg_nkeys(); i < nk; i++) {
        const ks__key *k = ks__cfg_key(i);
        if (!k->def) continue;
        cr_expect_eq(ks_config_set(&cfg, k->name, k->def, err, sizeof err), 0, "%s=%s: %s", k->name,
                     k->def, err);
    }
    ks_config_free(&cfg);
}

/* The risk rows' defaults and the risk module's own ks_risk_params_default()
 * (used where no config is loaded) must agree. */
Test(config_doc, risk_defaults_agree_with_the_risk_module)
{
    ks_config cfg;
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    ks_risk_params want;
    ks_risk_params_default(&want);
    for (int s = 0; s < KS_RISK__COUNT; s++)
        cr_expect_eq(cfg.risk.weight[s], want.weight[s], "weight %d", s);
    cr_expect_eq(cfg.risk.high_enter, want.high_enter);
    cr_expect_eq(cfg.risk.high_exit, want.high_exit);
    cr_expect_eq(cfg.risk.medium_enter, want.medium_enter);
    cr_expect_eq(cfg.risk.medium_exit, want.medium_exit);
    cr_expect_eq(cfg.risk.ticket_age_ms, want.ticket_age_ms);
    cr_expect_eq(cfg.risk.alert_cooldown_ms, want.alert_cooldown_ms);
    cr_expect_eq(cfg.risk.trigger_cooldown_ms, want.trigger_cooldown_ms);
    cr_expect_eq(cfg.risk.win_back_ms, want.win_back_ms);
    cr_expect_eq(cfg.risk.upsell_min_orders_30d, want.upsell_min_orders_30d);
    cr_expect_null(cfg.risk.model);
    ks_config_free(&cfg);
}
