/* KPI formulas of CONTRACT.md section 4. Money arrives in micro-units from
 * the window sums (exact integers) and becomes a double only here. */
#include "kpistream/kpi.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    ks_kpi_kind kind;
} ks__kpis[] = {
#define KS__KPI_ROW(name, str, kind) {str, KS_KPI_##kind},
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

void ks_kpi_compute(const ks_kpi_input *in, const ks_kpi_params *prm, ks_kpi_values *out)
{
    const int64_t *c = in->sum.v;
    double *v = out->v;
    bool *ok = out->present;
    for (int k = 0; k < KS_KPI__COUNT; k++) {
        v[k] = 0;
        ok[k] = ks__kpis[k].kind == KS_KPI_COUNT || ks__kpis[k].kind == KS_KPI_MONEY;
    }
    v[KS_KPI_EVENTS] = (double)c[KS_C_EVENTS];
    v[KS_KPI_ACTIVE_CUSTOMERS] = (double)c[KS_C_D_ACTIVE];
    v[KS_KPI_NEW_CUSTOMERS] = (double)c[KS_C_NEW_CUSTOMERS];
    v[KS_KPI_CHURNED_CUSTOMERS] = (double)c[KS_C_CHURNED];
    v[KS_KPI_CUSTOMERS] = (double)in->base_end;
    v[KS_KPI_ORDERS] = (double)c[KS_C_ORDERS];
    v[KS_KPI_PURCHASING_CUSTOMERS] = (double)c[KS_C_D_PURCHASING];
    v[KS_KPI_INTERACTIONS] = (double)c[KS_C_INTERACTIONS];
    v[KS_KPI_SOCIAL_INTERACTIONS] = (double)c[KS_C_SOCIAL];
    v[KS_KPI_COMPLAINTS] = (double)c[KS_C_COMPLAINTS];
    v[KS_KPI_TICKETS] = (double)c[KS_C_TICKETS];
    v[KS_KPI_LEADS] = (double)c[KS_C_LEADS];
    v[KS_KPI_CONVERSIONS] = (double)c[KS_C_CONVERSIONS];
    v[KS_KPI_UPSELLS] = (double)c[KS_C_UPSELLS];
    v[KS_KPI_CROSS_SELLS] = (double)c[KS_C_CROSS_SELLS];
    v[KS_KPI_REFERRALS] = (double)c[KS_C_REFERRALS];
    v[KS_KPI_PAYMENT_FAILURES] = (double)c[KS_C_PAYMENT_FAILURES];
    v[KS_KPI_CSAT_RESPONSES] = (double)c[KS_C_CSAT_RESPONSES];
    v[KS_KPI_NPS_RESPONSES] = (double)c[KS_C_NPS_RESPONSES];
    double purchases = (double)c[KS_C_M_PURCHASES] / 1e6;
    double revenue = ((double)c[KS_C_M_PURCHASES] - (double)c[KS_C_M_REFUNDS]) / 1e6;
    double retention_spend = (double)c[KS_C_M_RETENTION] / 1e6;
    double marketing = (double)c[KS_C_M_MARKETING] / 1e6;
    v[KS_KPI_REVENUE] = revenue;
    v[KS_KPI_REFUNDS] = (double)c[KS_C_M_REFUNDS] / 1e6;
    v[KS_KPI_MARKETING_SPEND] = marketing;
    v[KS_KPI_RETENTION_SPEND] = retention_spend;

    double orders = (double)c[KS_C_ORDERS], buyers = (double)c[KS_C_D_PURCHASING];
    double active = (double)c[KS_C_D_ACTIVE], s = (double)in->base_start;
    ok[KS_KPI_AOV] = ks_kpi_ratio(purchases, orders, 1, &v[KS_KPI_AOV]);
    ok[KS_KPI_PURCHASE_FREQUENCY] = ks_kpi_ratio(orders, buyers, 1, &v[KS_KPI_PURCHASE_FREQUENCY]);
    ok[KS_KPI_REPURCHASE_RATE] =
        ks_kpi_ratio((double)c[KS_C_D_REPURCHASING], buyers, 100, &v[KS_KPI_REPURCHASE_RATE]);
    ok[KS_KPI_CSAT] = ks_kpi_ratio((double)c[KS_C_CSAT_SATISFIED], (double)c[KS_C_CSAT_RESPONSES],
                                   100, &v[KS_KPI_CSAT]);
    ok[KS_KPI_NPS] = ks_kpi_nps(c[KS_C_NPS_PROMOTERS], c[KS_C_NPS_DETRACTORS],
                                c[KS_C_NPS_RESPONSES], &v[KS_KPI_NPS]);
    ok[KS_KPI_RETENTION_RATE] = ks_kpi_retention_rate(in->base_start, in->base_end,
                                                      c[KS_C_NEW_CUSTOMERS], &v[KS_KPI_RETENTION_RATE]);
    ok[KS_KPI_CHURN_RATE] = ks_kpi_ratio((double)c[KS_C_CHURNED], s, 100, &v[KS_KPI_CHURN_RATE]);
    ok[KS_KPI_CAC] = ks_kpi_ratio(marketing, (double)c[KS_C_NEW_CUSTOMERS], 1, &v[KS_KPI_CAC]);
    ok[KS_KPI_RETENTION_COST] = ks_kpi_retention_cost(retention_spend, in->base_start,
                                                      c[KS_C_CHURNED], &v[KS_KPI_RETENTION_COST]);
    ok[KS_KPI_CONVERSION_RATE] = ks_kpi_ratio((double)c[KS_C_CONVERSIONS], (double)c[KS_C_LEADS],
                                              100, &v[KS_KPI_CONVERSION_RATE]);
    ok[KS_KPI_COMPLAINT_RATE] =
        ks_kpi_ratio((double)c[KS_C_COMPLAINTS], active, 100, &v[KS_KPI_COMPLAINT_RATE]);
    ok[KS_KPI_COMPLAINT_RESOLUTION_RATE] =
        ks_kpi_ratio((double)c[KS_C_COMPLAINTS_RESOLVED], (double)c[KS_C_COMPLAINTS], 100,
                     &v[KS_KPI_COMPLAINT_RESOLUTION_RATE]);
    for (int i = 0; i < 3; i++) {
        ok[KS_KPI_RESPONSE_TIME_P50 + i] = in->has_response;
        v[KS_KPI_RESPONSE_TIME_P50 + i] = in->response[i];
    }
    for (int i = 0; i < 3; i++) {
        ok[KS_KPI_ORDER_VALUE_P50 + i] = in->has_order_value;
        v[KS_KPI_ORDER_VALUE_P50 + i] = in->order_value[i];
    }
    ok[KS_KPI_ENGAGEMENT] = ks_kpi_ratio((double)c[KS_C_INTERACTIONS], active, 1, &v[KS_KPI_ENGAGEMENT]);
    ok[KS_KPI_UPSELL_RATE] = ks_kpi_ratio((double)c[KS_C_UPSELLS], active, 100, &v[KS_KPI_UPSELL_RATE]);
    ok[KS_KPI_CROSS_SELL_RATE] =
        ks_kpi_ratio((double)c[KS_C_CROSS_SELLS], orders, 100, &v[KS_KPI_CROSS_SELL_RATE]);
    if (in->clv_window)
        ok[KS_KPI_CLV] = ks_kpi_clv(revenue, c[KS_C_D_ACTIVE], v[KS_KPI_CHURN_RATE],
                                    ok[KS_KPI_CHURN_RATE], prm, &v[KS_KPI_CLV]);
    /* Exact decimal rounding of what is a ratio of integers (contract 5:
     * money rounds half-up on its decimal value, 1.005 -> 1.01). Money is
     * in micro-units: x / 1e6 in hundredths is x / 10^4. */
    memset(out->exact, 0, sizeof out->exact);
    int64_t rev_micro;
    bool rev_ok = !__builtin_sub_overflow(c[KS_C_M_PURCHASES], c[KS_C_M_REFUNDS], &rev_micro);
    if (rev_ok)
        ks__exact(out, KS_KPI_REVENUE, rev_micro, 1000000, 1);
    ks__exact(out, KS_KPI_REFUNDS, c[KS_C_M_REFUNDS], 1000000, 1);
    ks__exact(out, KS_KPI_MARKETING_SPEND, c[KS_C_M_MARKETING], 1000000, 1);
    ks__exact(out, KS_KPI_RETENTION_SPEND, c[KS_C_M_RETENTION], 1000000, 1);
    if (c[KS_C_ORDERS] > 0 && c[KS_C_ORDERS] < INT64_MAX / 1000000)
        ks__exact(out, KS_KPI_AOV, c[KS_C_M_PURCHASES], c[KS_C_ORDERS] * 1000000, 1);
    ks__exact(out, KS_KPI_PURCHASE_FREQUENCY, c[KS_C_ORDERS], c[KS_C_D_PURCHASING], 1);
    ks__exact(out, KS_KPI_REPURCHASE_RATE, c[KS_C_D_REPURCHASING], c[KS_C_D_PURCHASING], 100);
    ks__exact(out, KS_KPI_CSAT, c[KS_C_CSAT_SATISFIED], c[KS_C_CSAT_RESPONSES], 100);
    int64_t pd, en, sc;
    if (!__builtin_sub_overflow(c[KS_C_NPS_PROMOTERS], c[KS_C_NPS_DETRACTORS], &pd))
        ks__exact(out, KS_KPI_NPS, pd, c[KS_C_NPS_RESPONSES], 100);
    if (!__builtin_sub_overflow(in->base_end, c[KS_C_NEW_CUSTOMERS], &en))
        ks__exact(out, KS_KPI_RETENTION_RATE, en, in->base_start, 100);
    ks__exact(out, KS_KPI_CHURN_RATE, c[KS_C_CHURNED], in->base_start, 100);
    int64_t clv_h;
    if (in->clv_window && ok[KS_KPI_CLV] && rev_ok &&
        ks_kpi_clv_hundredths(rev_micro, c[KS_C_D_ACTIVE], c[KS_C_CHURNED], in->base_start,
                              ok[KS_KPI_CHURN_RATE], prm, &clv_h)) {
        out->exact[KS_KPI_CLV] = true;
        out->hundredths[KS_KPI_CLV] = clv_h;
    }
    if (c[KS_C_NEW_CUSTOMERS] > 0 && c[KS_C_NEW_CUSTOMERS] < INT64_MAX / 1000000)
        ks__exact(out, KS_KPI_CAC, c[KS_C_M_MARKETING], c[KS_C_NEW_CUSTOMERS] * 1000000, 1);
    if (!__builtin_sub_overflow(in->base_start, c[KS_C_CHURNED], &sc) && sc != 0 &&
        sc < INT64_MAX / 1000000 && sc > INT64_MIN / 1000000)
        ks__exact(out, KS_KPI_RETENTION_COST, c[KS_C_M_RETENTION], sc * 1000000, 1);
    ks__exact(out, KS_KPI_CONVERSION_RATE, c[KS_C_CONVERSIONS], c[KS_C_LEADS], 100);
    ks__exact(out, KS_KPI_COMPLAINT_RATE, c[KS_C_COMPLAINTS], c[KS_C_D_ACTIVE], 100);
    ks__exact(out, KS_KPI_COMPLAINT_RESOLUTION_RATE, c[KS_C_COMPLAINTS_RESOLVED],
              c[KS_C_COMPLAINTS], 100);
    ks__exact(out, KS_KPI_ENGAGEMENT, c[KS_C_INTERACTIONS], c[KS_C_D_ACTIVE], 1);
    ks__exact(out, KS_KPI_UPSELL_RATE, c[KS_C_UPSELLS], c[KS_C_D_ACTIVE], 100);
    ks__exact(out, KS_KPI_CROSS_SELL_RATE, c[KS_C_CROSS_SELLS], c[KS_C_ORDERS], 100);
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
