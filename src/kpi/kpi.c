/* KPI formulas of CONTRACT.md section 4. Money arrives in micro-units from
 * the window sums (exact integers) and becomes a double only here. */
#include "kpistream/kpi.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    ks_kpi_kind kind;
    const char *doc;
} ks__kpis[] = {
#define KS__KPI_ROW(id, name, kind, formula, doc) {name, KS_KPI_##kind, doc},
    KS_KPIS(KS__KPI_ROW)
#undef KS__KPI_ROW
};

const char *ks_kpi_name(ks_kpi k)
{
    return (unsigned)k < KS_KPI__COUNT ? ks__kpis[k].name : "?";
}

ks_kpi_kind ks_kpi_kind_of(ks_kpi k)
{
    return (unsigned)k < KS_KPI__COUNT ? ks__kpis[k].kind : KS_KPI_COUNT;
}

const char *ks_kpi_doc(ks_kpi k)
{
    return (unsigned)k < KS_KPI__COUNT ? ks__kpis[k].doc : "?";
}

int ks_kpi_find(const char *name, size_t len)
{
    for (int k = 0; k < KS_KPI__COUNT; k++)
        if (strlen(ks__kpis[k].name) == len && memcmp(ks__kpis[k].name, name, len) == 0)
            return k;
    return -1;
}

bool ks_kpi_ratio(double num, double den, double scale, double *out)
{
    if (den == 0)
        return false;
    *out = scale * num / den;
    return true;
}

bool ks_kpi_nps(int64_t promoters, int64_t detractors, int64_t responses, double *out)
{
    /* In double: sums read back from Redis may be anything, and int64
     * subtraction could overflow; counts below 2^53 stay exact. */
    return ks_kpi_ratio((double)promoters - (double)detractors, (double)responses, 100.0, out);
}

bool ks_kpi_retention_rate(int64_t s, int64_t e, int64_t n, double *out)
{
    return ks_kpi_ratio((double)e - (double)n, (double)s, 100.0, out);
}

bool ks_kpi_retention_cost(double retention_spend, int64_t s, int64_t churned, double *out)
{
    return ks_kpi_ratio(retention_spend, (double)s - (double)churned, 1.0, out);
}

bool ks_kpi_clv(double revenue, int64_t active, double churn_rate_pct, bool churn_known,
                const ks_kpi_params *prm, double *out)
{
    if (active == 0)
        return false;
    /* Without a customer base at the window's start the churn rate is
     * unknown; the floor min_churn then stands in for it. */
    double churn = churn_known ? churn_rate_pct / 100.0 : 0.0;
    if (churn < prm->min_churn)
        churn = prm->min_churn;
    if (churn <= 0)
        return false;
    *out = prm->gross_margin * (revenue / (double)active) / churn;
    return true;
}

/* q = num / den rounded half away from zero, in 128 bits; false past int64. */
static bool ks__div128(__int128 num, __int128 den, int64_t *out)
{
    if (den == 0)
        return false;
    if (den < 0) {
        num = -num;
        den = -den;
    }
    __int128 q = (num >= 0 ? num + den / 2 : num - den / 2) / den;
    if (q > INT64_MAX || q < INT64_MIN)
        return false;
    *out = (int64_t)q;
    return true;
}

/* The config's decimals (gross_margin, min_churn) in millionths: they are
 * read as doubles, and six places is what llround recovers exactly. */
static int64_t ks__millionths(double x)
{
    return (int64_t)llround(x * 1e6);
}

bool ks_kpi_clv_hundredths(int64_t revenue_micro, int64_t active, int64_t churned, int64_t base,
                           bool churn_known, const ks_kpi_params *prm, int64_t *out)
{
    if (active <= 0)
        return false;
    /* margin x (revenue / active) / max(churned / base, min_churn), with
     * margin = m / 1e6, revenue = r / 1e6, min_churn = f / 1e6, in
     * hundredths (x 100). The larger churn is chosen by cross-multiplying. */
    __int128 m = ks__millionths(prm->gross_margin), f = ks__millionths(prm->min_churn);
    __int128 r = revenue_micro;
    if (churn_known && base > 0 && churned > 0 && (__int128)churned * 1000000 > f * base)
        return ks__div128(m * r * base * 100, (__int128)1000000000000LL * active * churned, out);
    if (f <= 0)
        return false;
    return ks__div128(m * r * 100, (__int128)1000000 * active * f, out);
}

bool ks_kpi_customer_clv_hundredths(int64_t revenue_micro, unsigned risk_score,
                                    const ks_kpi_params *prm, int64_t *out)
{
    /* margin x revenue_30d / max(risk_score / 100, min_churn), in millionths:
     * risk_score / 100 = risk_score x 10^4 / 1e6. */
    __int128 m = ks__millionths(prm->gross_margin), f = ks__millionths(prm->min_churn);
    __int128 c = (__int128)risk_score * 10000;
    if (c < f)
        c = f;
    if (c <= 0)
        return false;
    return ks__div128(m * revenue_micro * 100, 1000000 * c, out);
}

static void ks__fmt_fixed(long long v, bool cents, char *buf, size_t size);

int64_t ks_kpi_hundredths(int64_t n, int64_t d)
{
    /* q = n * 100 / d rounded half away from zero, in 128 bits. */
    __int128 num = (__int128)n * 100, den = d;
    if (den < 0) {
        num = -num;
        den = -den;
    }
    /* Half away from zero: an exact half needs an even den, and den / 2 is
     * then exactly that half. */
    __int128 q = (num >= 0 ? num + den / 2 : num - den / 2) / den;
    if (q > INT64_MAX)
        return INT64_MAX;
    if (q < INT64_MIN)
        return INT64_MIN;
    return (int64_t)q;
}

/* KPI k is num / den x scale, num and den integers: its exact hundredths. */
static void ks__exact(ks_kpi_values *out, ks_kpi k, int64_t num, int64_t den, int64_t scale)
{
    if (!out->present[k] || den == 0)
        return;
    __int128 n = (__int128)num * scale;
    if (n > INT64_MAX || n < INT64_MIN)
        return; /* beyond: the double stands */
    out->exact[k] = true;
    out->hundredths[k] = ks_kpi_hundredths((int64_t)n, den);
}

/* --- the formulas of KS_KPIS (kpi.h) --- */

/* The FN(f) rows: KPI k of out from in, each setting v, present and, when
 * the value is a ratio of integers, its exact hundredths. */
typedef void ks__kpi_fn(const ks_kpi_input *in, const ks_kpi_params *prm, ks_kpi_values *out,
                        ks_kpi k);

static void ks__kpi_customers(const ks_kpi_input *in, const ks_kpi_params *prm,
                              ks_kpi_values *out, ks_kpi k)
{
    (void)prm;
    out->v[k] = (double)in->base_end;
}

/* Net revenue in micro-units; false when it overflows int64. */
static bool ks__revenue_micro(const int64_t *c, int64_t *out)
{
    return !__builtin_sub_overflow(c[KS_C_M_PURCHASES], c[KS_C_M_REFUNDS], out);
}

static void ks__kpi_revenue(const ks_kpi_input *in, const ks_kpi_params *prm, ks_kpi_values *out,
                            ks_kpi k)
{
    (void)prm;
    const int64_t *c = in->sum.v;
    out->v[k] = ((double)c[KS_C_M_PURCHASES] - (double)c[KS_C_M_REFUNDS]) / 1e6;
    int64_t micro;
    if (ks__revenue_micro(c, &micro))
        ks__exact(out, k, micro, 1000000, 1);
}

static void ks__kpi_nps(const ks_kpi_input *in, const ks_kpi_params *prm, ks_kpi_values *out,
                        ks_kpi k)
{
    (void)prm;
    const int64_t *c = in->sum.v;
    out->present[k] =
        ks_kpi_nps(c[KS_C_NPS_PROMOTERS], c[KS_C_NPS_DETRACTORS], c[KS_C_NPS_RESPONSES], &out->v[k]);
    int64_t pd;
    if (!__builtin_sub_overflow(c[KS_C_NPS_PROMOTERS], c[KS_C_NPS_DETRACTORS], &pd))
        ks__exact(out, k, pd, c[KS_C_NPS_RESPONSES], 100);
}

static void ks__kpi_retention_rate(const ks_kpi_input *in, const ks_kpi_params *prm,
                                   ks_kpi_values *out, ks_kpi k)
{
    (void)prm;
    const int64_t *c = in->sum.v;
    out->present[k] =
        ks_kpi_retention_rate(in->base_start, in->base_end, c[KS_C_NEW_CUSTOMERS], &out->v[k]);
    int64_t en;
    if (!__builtin_sub_overflow(in->base_end, c[KS_C_NEW_CUSTOMERS], &en))
        ks__exact(out, k, en, in->base_start, 100);
}

/* 100 x churned / S, or false when S is 0 (churn_rate; clv reads it too). */
static bool ks__churn_pct(const ks_kpi_input *in, double *out)
{
    return ks_kpi_ratio((double)in->sum.v[KS_C_CHURNED], (double)in->base_start, 100, out);
}

static void ks__kpi_churn_rate(const ks_kpi_input *in, const ks_kpi_params *prm,
                               ks_kpi_values *out, ks_kpi k)
{
    (void)prm;
    out->present[k] = ks__churn_pct(in, &out->v[k]);
    ks__exact(out, k, in->sum.v[KS_C_CHURNED], in->base_start, 100);
}

static void ks__kpi_retention_cost(const ks_kpi_input *in, const ks_kpi_params *prm,
                                   ks_kpi_values *out, ks_kpi k)
{
    (void)prm;
    const int64_t *c = in->sum.v;
    out->present[k] = ks_kpi_retention_cost((double)c[KS_C_M_RETENTION] / 1e6, in->base_start,
                                            c[KS_C_CHURNED], &out->v[k]);
    int64_t sc;
    if (!__builtin_sub_overflow(in->base_start, c[KS_C_CHURNED], &sc) && sc != 0 &&
        sc < INT64_MAX / 1000000 && sc > INT64_MIN / 1000000)
        ks__exact(out, k, c[KS_C_M_RETENTION], sc * 1000000, 1);
}

static void ks__kpi_clv(const ks_kpi_input *in, const ks_kpi_params *prm, ks_kpi_values *out,
                        ks_kpi k)
{
    if (!in->clv_window)
        return;
    const int64_t *c = in->sum.v;
    double revenue = ((double)c[KS_C_M_PURCHASES] - (double)c[KS_C_M_REFUNDS]) / 1e6, churn = 0;
    bool churn_known = ks__churn_pct(in, &churn);
    out->present[k] = ks_kpi_clv(revenue, c[KS_C_D_ACTIVE], churn, churn_known, prm, &out->v[k]);
    int64_t micro, h;
    if (out->present[k] && ks__revenue_micro(c, &micro) &&
        ks_kpi_clv_hundredths(micro, c[KS_C_D_ACTIVE], c[KS_C_CHURNED], in->base_start,
                              churn_known, prm, &h)) {
        out->exact[k] = true;
        out->hundredths[k] = h;
    }
}

/* A row's formula as data: the shapes of KS_KPIS expanded into one struct. */
typedef enum { KS__F_SUM, KS__F_MONEY, KS__F_RATIO, KS__F_PER, KS__F_RT, KS__F_OV, KS__F_FN } ks__fop;

typedef struct ks__formula {
    ks__fop op;
    int a, b;      /* counters (or the quantile's index) */
    int64_t scale; /* RATIO */
    ks__kpi_fn *fn;
} ks__formula;

#define KS__F_SUM(k) {KS__F_SUM, KS_C_##k, 0, 0, NULL}
#define KS__F_MONEY(k) {KS__F_MONEY, KS_C_##k, 0, 0, NULL}
#define KS__F_RATIO(n, d, s) {KS__F_RATIO, KS_C_##n, KS_C_##d, s, NULL}
#define KS__F_PER(m, d) {KS__F_PER, KS_C_##m, KS_C_##d, 0, NULL}
#define KS__F_RESPONSE(i) {KS__F_RT, i, 0, 0, NULL}
#define KS__F_ORDER_VALUE(i) {KS__F_OV, i, 0, 0, NULL}
#define KS__F_FN(f) {KS__F_FN, 0, 0, 0, ks__kpi_##f}

static const ks__formula ks__formulas[KS_KPI__COUNT] = {
#define KS__KPI_FORMULA(id, name, kind, formula, doc) KS__F_##formula,
    KS_KPIS(KS__KPI_FORMULA)
#undef KS__KPI_FORMULA
};

void ks_kpi_compute(const ks_kpi_input *in, const ks_kpi_params *prm, ks_kpi_values *out)
{
    const int64_t *c = in->sum.v;
    /* Counts and money are always present (0 included); the rest when defined. */
    for (int k = 0; k < KS_KPI__COUNT; k++) {
        out->v[k] = 0;
        out->present[k] = ks__kpis[k].kind == KS_KPI_COUNT || ks__kpis[k].kind == KS_KPI_MONEY;
        out->exact[k] = false;
    }
    /* Exact decimal rounding of what is a ratio of integers (contract 5:
     * money rounds half-up on its decimal value, 1.005 -> 1.01). Money is
     * in micro-units: x / 1e6 in hundredths is x / 10^4. */
    for (int k = 0; k < KS_KPI__COUNT; k++) {
        const ks__formula *f = &ks__formulas[k];
        double *v = &out->v[k];
        switch (f->op) {
        case KS__F_SUM:
            *v = (double)c[f->a];
            break;
        case KS__F_MONEY:
            *v = (double)c[f->a] / 1e6;
            ks__exact(out, (ks_kpi)k, c[f->a], 1000000, 1);
            break;
        case KS__F_RATIO:
            out->present[k] = ks_kpi_ratio((double)c[f->a], (double)c[f->b], (double)f->scale, v);
            ks__exact(out, (ks_kpi)k, c[f->a], c[f->b], f->scale);
            break;
        case KS__F_PER:
            out->present[k] = ks_kpi_ratio((double)c[f->a] / 1e6, (double)c[f->b], 1, v);
            if (c[f->b] > 0 && c[f->b] < INT64_MAX / 1000000)
                ks__exact(out, (ks_kpi)k, c[f->a], c[f->b] * 1000000, 1);
            break;
        case KS__F_RT:
            out->present[k] = in->has_response;
            *v = in->response[f->a];
            break;
        case KS__F_OV:
            out->present[k] = in->has_order_value;
            *v = in->order_value[f->a];
            break;
        case KS__F_FN:
            f->fn(in, prm, out, (ks_kpi)k);
            break;
        }
    }
}

char *ks_kpi_format_hundredths(ks_kpi_kind kind, int64_t h, char *buf, size_t size)
{
    if (kind == KS_KPI_COUNT || kind == KS_KPI_DURATION) {
        int64_t q = h / 100, r = h % 100;
        if (r >= 50)
            q++;
        else if (r <= -50)
            q--;
        ks__fmt_fixed(q, false, buf, size);
    } else {
        ks__fmt_fixed(h, true, buf, size);
    }
    return buf;
}

char *ks_kpi_format_value(const ks_kpi_values *v, ks_kpi k, char *buf, size_t size)
{
    if (v->exact[k])
        return ks_kpi_format_hundredths(ks_kpi_kind_of(k), v->hundredths[k], buf, size);
    return ks_kpi_format(ks_kpi_kind_of(k), v->v[k], buf, size);
}

/* Writes v in decimal, a dot and two digits of cents if cents; no printf
 * (customer hashes format millions of values in a catch-up). */
static void ks__fmt_fixed(long long v, bool cents, char *buf, size_t size)
{
    char tmp[32], *p = tmp + sizeof tmp;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    if (cents) {
        *--p = (char)('0' + u % 10);
        u /= 10;
        *--p = (char)('0' + u % 10);
        u /= 10;
        *--p = '.';
    }
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(tmp + sizeof tmp - p);
    if (n >= size)
        n = size ? size - 1 : 0;
    if (size) {
        memcpy(buf, p, n);
        buf[n] = '\0';
    }
}

char *ks_kpi_format(ks_kpi_kind kind, double value, char *buf, size_t size)
{
    /* Beyond 2^53 (or not finite) doubles are not exact integers: printf. */
    bool exact = isfinite(value) && fabs(value) < 9.0e15;
    if (kind == KS_KPI_COUNT || kind == KS_KPI_DURATION) {
        if (exact)
            ks__fmt_fixed(llround(value), false, buf, size);
        else
            snprintf(buf, size, "%lld", (long long)llround(value));
        return buf;
    }
    /* Round half away from zero at the cent, then print exactly 2 decimals.
     * Values come from exact micro-unit sums, so a decimal half (1.005) is
     * stored a hair below it; a relative nudge of 1e-12 puts it back. */
    double c = round(value * 100.0 * (1.0 + 1e-12));
    if (exact && fabs(c) < 9.0e15) {
        ks__fmt_fixed((long long)c, true, buf, size); /* 0 prints "0.00", never "-0.00" */
        return buf;
    }
    double r = c / 100.0;
    if (r == 0)
        r = 0; /* no "-0.00" */
    snprintf(buf, size, "%.2f", r);
    return buf;
}
