/* The KPI table (KS_KPIS in kpistream/kpi.h) against itself and against
 * docs/kpis.md: every KPI has a row in the reference part of the docs (the
 * tables headed "| kpi |" before "## Worked example"), in the section of its
 * kind (a count under "### Counts", money under "### Sums"), and every KPI a
 * "| kpi |" table of the docs names is one the table knows. A row's first
 * cell names its KPIs in backticks, separated by ", ". */
#include "kpistream/kpi.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repo_file.h"

typedef struct problems {
    char msg[4096];
    size_t used;
    int n;
} problems;

static void problem(problems *p, const char *fmt, const char *name, size_t len)
{
    p->n++;
    if (p->used < sizeof p->msg)
        p->used += (size_t)snprintf(p->msg + p->used, sizeof p->msg - p->used, fmt, (int)len, name);
}

/* The kind a reference section's rows must have: COUNT, MONEY, or -1 for
 * "neither" (ratios, durations). */
static int section_kind(const char *heading, size_t len)
{
    if (len >= 10 && strncmp(heading, "### Counts", 10) == 0)
        return KS_KPI_COUNT;
    if (len >= 8 && strncmp(heading, "### Sums", 8) == 0)
        return KS_KPI_MONEY;
    return -1;
}

/* Checks docs against KS_KPIS; returns the problems found. */
static problems doc_problems(const char *docs)
{
    problems p = {.used = 0, .n = 0};
    p.msg[0] = '\0';
    bool listed[KS_KPI__COUNT] = {false};
    bool in_kpi_table = false, reference = true;
    int kind = -1;
    for (const char *line = docs; *line;) {
        size_t len = strcspn(line, "\n");
        if (strncmp(line, "## Worked example", 17) == 0)
            reference = false;
        if (strncmp(line, "### ", 4) == 0 || strncmp(line, "## ", 3) == 0)
            kind = section_kind(line, len);
        if (line[0] != '|') {
            in_kpi_table = false;
        } else if (!in_kpi_table && strncmp(line, "| kpi |", 7) == 0) {
            in_kpi_table = true; /* the header; the separator row follows */
        } else if (in_kpi_table && strncmp(line, "| `", 3) == 0) {
            /* The first cell: `a`, `b`, `c` */
            const char *end = line + strcspn(line + 1, "|") + 1;
            for (const char *q = line + 2; q < end && *q == '`';) {
                const char *close = memchr(q + 1, '`', (size_t)(end - q - 1));
                if (!close)
                    break;
                size_t nl = (size_t)(close - q - 1);
                int k = ks_kpi_find(q + 1, nl);
                if (k < 0) {
                    problem(&p, "docs/kpis.md names a KPI that KS_KPIS does not know: %.*s\n",
                            q + 1, nl);
                } else if (reference) {
                    listed[k] = true;
                    ks_kpi_kind want = ks_kpi_kind_of((ks_kpi)k);
                    bool count_or_money = want == KS_KPI_COUNT || want == KS_KPI_MONEY;
                    if (kind >= 0 ? (int)want != kind : count_or_money)
                        problem(&p, "docs/kpis.md lists %.*s under a section of another kind\n",
                                q + 1, nl);
                }
                q = close + 1;
                if (strncmp(q, ", `", 3) == 0)
                    q += 2;
                else
                    break;
            }
        }
        line += len + (line[len] == '\n');
    }
    for (int k = 0; k < KS_KPI__COUNT; k++)
        if (!listed[k]) {
            const char *name = ks_kpi_name((ks_kpi)k);
            problem(&p, "docs/kpis.md has no row for %.*s (a \"| kpi |\" table before the worked "
                        "example)\n",
                    name, strlen(name));
        }
    return p;
}

Test(kpi_doc, every_kpi_has_its_row_and_every_row_its_kpi)
{
    char *docs = read_repo_file("docs/kpis.md");
    problems p = doc_problems(docs);
    cr_assert_eq(p.n, 0, "%s", p.msg);
    free(docs);
}

/* Replaces the first occurrence of from in text by to; caller frees. */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    cr_assert_not_null(at, "docs/kpis.md no longer has %s; update this test", from);
    size_t head = (size_t)(at - text), fl = strlen(from), tl = strlen(to);
    char *out = malloc(strlen(text) - fl + tl + 1);
    memcpy(out, text, head);
    memcpy(out + head, to, tl);
    strcpy(out + head + tl, at + fl);
    return out;
}

/* docs with from replaced by to must give exactly one problem, saying want. */
static void expect_one_problem(const char *docs, const char *from, const char *to,
                               const char *want)
{
    char *changed = replaced(docs, from, to);
    problems p = doc_problems(changed);
    cr_assert_eq(p.n, 1, "%s", p.msg);
    cr_assert_not_null(strstr(p.msg, want), "%s", p.msg);
    free(changed);
}

/* The check can fail: a dropped row, an unknown name, a row in the wrong
 * section are each caught, naming the KPI. */
Test(kpi_doc, a_missing_unknown_or_misplaced_row_is_caught)
{
    char *docs = read_repo_file("docs/kpis.md");
    expect_one_problem(docs, "| `complaint_rate` |", "| complaint rate |",
                       "no row for complaint_rate");
    expect_one_problem(docs, "| `complaint_rate` |", "| `complaint_rate`, `refund_ratio` |",
                       "does not know: refund_ratio");
    /* One of several names in a cell, the last: the quantiles' row. */
    expect_one_problem(docs, ", `response_time_p99` |", " |", "no row for response_time_p99");
    /* A ratio listed among the counts. */
    expect_one_problem(docs, "| `orders` |", "| `orders`, `aov` |",
                       "lists aov under a section of another kind");
    free(docs);
}

Test(kpi_doc, every_row_of_the_table_has_one_name_and_a_doc_line)
{
    for (int k = 0; k < KS_KPI__COUNT; k++) {
        const char *name = ks_kpi_name((ks_kpi)k), *doc = ks_kpi_doc((ks_kpi)k);
        cr_expect(name[0] && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") == strlen(name),
                  "%s: a field name is lower case, digits and _", name);
        cr_expect_eq(ks_kpi_find(name, strlen(name)), k, "%s: in two rows", name);
        cr_expect(doc && *doc && !strpbrk(doc, "|\n"), "%s: no doc line, or one that breaks", name);
    }
    cr_assert_eq(ks_kpi_find("aov", 3), KS_KPI_AOV);
    cr_assert_eq(ks_kpi_find("aovx", 4), -1);
    cr_assert_eq(ks_kpi_find("ao", 2), -1);
}
