/* Prometheus text exposition writer; see expo.h. */
#include "metrics/expo.h"

#include "kpistream/vec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ks_expo_init(ks_expo *e)
{
    memset(e, 0, sizeof *e);
}

void ks_expo_reset(ks_expo *e)
{
    free(e->buf);
    memset(e, 0, sizeof *e);
}

char *ks_expo_take(ks_expo *e, size_t *len)
{
    char *s = e->oom ? NULL : e->buf;
    if (s == NULL && !e->oom)
        s = calloc(1, 1); /* an empty exposition is still a text */
    if (len)
        *len = s ? e->len : 0;
    if (e->oom)
        free(e->buf);
    memset(e, 0, sizeof *e);
    return s;
}

/* Makes room for n more bytes and the NUL. Returns false (oom set) if not. */
static bool ks__room(ks_expo *e, size_t n)
{
    if (e->oom)
        return false;
    if (ks_vec_reserve(e->buf, e->cap, e->len + n + 1) < 0) {
        e->oom = true;
        return false;
    }
    return true;
}

static void ks__put(ks_expo *e, const char *s, size_t n)
{
    if (!ks__room(e, n))
        return;
    memcpy(e->buf + e->len, s, n);
    e->len += n;
    e->buf[e->len] = '\0';
}

static void ks__puts(ks_expo *e, const char *s)
{
    ks__put(e, s, strlen(s));
}

/* HELP text escapes backslash and newline (not the double quote). */
static void ks__help(ks_expo *e, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            ks__put(e, "\\\\", 2);
        else if (*s == '\n')
            ks__put(e, "\\n", 2);
        else
            ks__put(e, s, 1);
    }
}

void ks_expo_label_value(ks_expo *e, const char *value)
{
    const char *run = value;
    for (const char *p = value;; p++) {
        const char *esc = *p == '\\' ? "\\\\" : *p == '"' ? "\\\"" : *p == '\n' ? "\\n" : NULL;
        if (!esc && *p)
            continue;
        ks__put(e, run, (size_t)(p - run));
        if (!*p)
            break;
        ks__put(e, esc, 2);
        run = p + 1;
    }
}

char *ks_expo_number(double v, char *buf, size_t n)
{
    if (isnan(v)) {
        snprintf(buf, n, "NaN");
    } else if (isinf(v)) {
        snprintf(buf, n, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, n, "%.0f", v);
    } else {
        /* The shortest of %.15g .. %.17g that reads back to v. */
        for (int prec = 15; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, v);
            if (strtod(buf, NULL) == v)
                break;
        }
    }
    return buf;
}

void ks_expo_family(ks_expo *e, const char *name, const char *type, const char *help)
{
    ks__puts(e, "# HELP ");
    ks__puts(e, name);
    ks__put(e, " ", 1);
    ks__help(e, help);
    ks__puts(e, "\n# TYPE ");
    ks__puts(e, name);
    ks__put(e, " ", 1);
    ks__puts(e, type);
    ks__put(e, "\n", 1);
}

static void ks__labels(ks_expo *e, const char *const *keys, const char *const *values, int n)
{
    if (n <= 0)
        return;
    ks__put(e, "{", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            ks__put(e, ",", 1);
        ks__puts(e, keys[i]);
        ks__put(e, "=\"", 2);
        ks_expo_label_value(e, values[i]);
        ks__put(e, "\"", 1);
    }
    ks__put(e, "}", 1);
}

void ks_expo_sample(ks_expo *e, const char *name, const char *const *keys,
                    const char *const *values, int nlabels, double value)
{
    char num[64];
    ks__puts(e, name);
    ks__labels(e, keys, values, nlabels);
    ks__put(e, " ", 1);
    ks__puts(e, ks_expo_number(value, num, sizeof num));
    ks__put(e, "\n", 1);
}

void ks_expo_sample_u64(ks_expo *e, const char *name, const char *const *keys,
                        const char *const *values, int nlabels, uint64_t value)
{
    char num[32];
    snprintf(num, sizeof num, " %llu\n", (unsigned long long)value);
    ks__puts(e, name);
    ks__labels(e, keys, values, nlabels);
    ks__puts(e, num);
}

void ks_expo_histogram(ks_expo *e, const char *name, const double *bounds, const uint64_t *counts,
                       int nb, double sum)
{
    char series[256], le[64];
    const char *key[] = {"le"};
    const char *val[] = {le};
    uint64_t cum = 0;
    snprintf(series, sizeof series, "%s_bucket", name);
    for (int i = 0; i <= nb; i++) {
        cum += counts[i];
        ks_expo_number(i < nb ? bounds[i] : INFINITY, le, sizeof le);
        ks_expo_sample_u64(e, series, key, val, 1, cum);
    }
    snprintf(series, sizeof series, "%s_sum", name);
    ks_expo_sample(e, series, NULL, NULL, 0, sum);
    snprintf(series, sizeof series, "%s_count", name);
    ks_expo_sample_u64(e, series, NULL, NULL, 0, cum);
}
