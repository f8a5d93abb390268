/* Held-out measures of a churn-risk score (docs/churn-risk.md, "Fitted model").
 *
 * AUC by sorting (O(n log n)), ties counted half, so it equals the
 * Mann-Whitney statistic. Precision and recall are taken over integer scores
 * 0-100, the resolution the engine writes, so the curve is one histogram
 * pass and the thresholds it yields are exactly the ones levels compare with.
 */
#include "kpistream/risk_fit.h"

#include "kpistream/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int ks__by_score(const void *a, const void *b, void *keys)
{
    const double *s = keys;
    double x = s[*(const uint32_t *)a], y = s[*(const uint32_t *)b];
    return x < y ? -1 : x > y;
}

double ks_auc(const double *s, const uint8_t *y, const float *w, size_t n)
{
    uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
    if (!idx) return -1;
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)i;
    qsort_r(idx, n, sizeof *idx, ks__by_score, (void *)s);
    /* Ascending: each positive beats every negative below its tie group and
     * half of those inside it. */
    double neg_below = 0, pos_tot = 0, neg_tot = 0, sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double pg = 0, ng = 0;
        while (j < n && s[idx[j]] == s[idx[i]]) {
            double wi = w ? w[idx[j]] : 1.0;
            if (y[idx[j]])
                pg += wi;
            else
                ng += wi;
            j++;
        }
        sum += pg * (neg_below + 0.5 * ng);
        neg_below += ng;
        pos_tot += pg;
        neg_tot += ng;
        i = j;
    }
    free(idx);
    if (!(pos_tot > 0) || !(neg_tot > 0)) return -1;
    return sum / (pos_tot * neg_tot);
}

void ks_pr_curve(const ks_score_hist *h, ks_pr_point out[101])
{
    double pos_all = 0, all = 0;
    for (int s = 0; s <= 100; s++) {
        pos_all += h->pos[s];
        all += h->pos[s] + h->neg[s];
    }
    double tp = 0, fl = 0;
    for (int t = 100; t >= 0; t--) {
        tp += h->pos[t];
        fl += h->pos[t] + h->neg[t];
        out[t].threshold = t;
        out[t].precision = fl > 0 ? tp / fl : 0;
        out[t].recall = pos_all > 0 ? tp / pos_all : 0;
        out[t].flagged = all > 0 ? fl / all : 0;
    }
}

int ks_pr_threshold(const ks_score_hist *h, double target, double min_flagged)
{
    ks_pr_point pr[101];
    ks_pr_curve(h, pr);
    double tp = 0;
    int best = -1;
    /* From the top down: keep the lowest threshold that still reaches the target. */
    for (int t = 100; t >= 1; t--) {
        tp += h->pos[t];
        if (tp >= min_flagged && pr[t].precision >= target) best = t;
    }
    return best;
}

int ks_lead_table_init(ks_lead_table *lt, size_t n)
{
    lt->n = n;
    lt->longest = malloc((n ? n : 1) * 101 * sizeof *lt->longest);
    if (!lt->longest) return KS_ERR_NOMEM;
    for (size_t i = 0; i < n * 101; i++)
        lt->longest[i] = -1;
    return 0;
}

void ks_lead_table_add(ks_lead_table *lt, size_t k, int score, int64_t lead_ms)
{
    if (k >= lt->n || score < 0 || score > 100 || lead_ms < 0) return;
    int64_t *l = &lt->longest[k * 101 + (size_t)score];
    if (lead_ms > *l) *l = lead_ms;
}

static int ks__cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int ks_lead_medians(const ks_lead_table *lt, double median_ms[101], size_t flagged[101])
{
    size_t n = lt->n ? lt->n : 1;
    int64_t *first = malloc(n * sizeof *first), *buf = malloc(n * sizeof *buf);
    if (!first || !buf) {
        free(first), free(buf);
        return KS_ERR_NOMEM;
    }
    /* From the top down, first[k] is the earliest flag at >= t: lowering
     * the threshold can only bring a flag forward. */
    for (size_t k = 0; k < lt->n; k++)
        first[k] = -1;
    for (int t = 100; t >= 0; t--) {
        size_t m = 0;
        for (size_t k = 0; k < lt->n; k++) {
            int64_t l = lt->longest[k * 101 + (size_t)t];
            if (l > first[k]) first[k] = l;
            if (first[k] >= 0) buf[m++] = first[k];
        }
        qsort(buf, m, sizeof *buf, ks__cmp_i64);
        flagged[t] = m;
        median_ms[t] = m ? (double)buf[m / 2] : -1;
    }
    free(first), free(buf);
    return 0;
}

void ks_lead_table_free(ks_lead_table *lt)
{
    free(lt->longest);
    lt->longest = NULL;
    lt->n = 0;
}

int ks_lead_best_threshold(const ks_score_hist *h, const double median_ms[101],
                           const size_t flagged[101], double target, double min_flagged,
                           size_t min_leads)
{
    ks_pr_point pr[101];
    ks_pr_curve(h, pr);
    double tp = 0;
    int best = -1;
    for (int t = 100; t >= 1; t--) {
        tp += h->pos[t];
        if (tp < min_flagged || pr[t].precision < target || median_ms[t] < 0 ||
            flagged[t] < min_leads)
            continue;
        if (best < 0 || median_ms[t] >= median_ms[best]) best = t;
    }
    return best;
}

double ks_calibration(const double *p, const uint8_t *y, const float *w, size_t n,
                      ks_calib_bin bins[10])
{
    memset(bins, 0, 10 * sizeof *bins);
    double all = 0;
    for (size_t i = 0; i < n; i++) {
        int k = (int)(p[i] * 10);
        k = k < 0 ? 0 : k > 9 ? 9 : k;
        double wi = w ? w[i] : 1.0;
        bins[k].predicted += wi * p[i];
        bins[k].observed += y[i] ? wi : 0;
        bins[k].weight += wi;
        all += wi;
    }
    double ece = 0;
    for (int k = 0; k < 10; k++) {
        if (!(bins[k].weight > 0)) continue;
        bins[k].predicted /= bins[k].weight;
        bins[k].observed /= bins[k].weight;
        ece += bins[k].weight * fabs(bins[k].predicted - bins[k].observed);
    }
    return all > 0 ? ece / all : 0;
}

int ks_calibrate_isotonic(const double *z, const double *pre, const uint8_t *y, size_t n,
                          int nbins, double min_count, double *kz, double *kp, int max)
{
    if (nbins < 2 || max < 2) return 0;
    double *sz = calloc((size_t)nbins, sizeof *sz), *sy = calloc((size_t)nbins, sizeof *sy);
    double *cnt = calloc((size_t)nbins, sizeof *cnt), *w = calloc((size_t)max, sizeof *w);
    if (!sz || !sy || !cnt || !w) {
        free(sz), free(sy), free(cnt), free(w);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int b = (int)(pre[i] * nbins);
        b = b < 0 ? 0 : b >= nbins ? nbins - 1 : b;
        sz[b] += z[i];
        sy[b] += y[i] ? 1 : 0;
        cnt[b] += 1;
    }
    /* Points: bins in order, a small bin joining the next; a small tail
     * joins the last point. kz/kp hold sums until the end. */
    int k = 0;
    double gz = 0, gy = 0, gc = 0;
    for (int b = 0; b < nbins; b++) {
        gz += sz[b], gy += sy[b], gc += cnt[b];
        if (gc >= min_count && k < max) {
            kz[k] = gz, kp[k] = gy, w[k] = gc;
            k++;
            gz = gy = gc = 0;
        }
    }
    if (gc > 0 && k > 0) {
        kz[k - 1] += gz, kp[k - 1] += gy, w[k - 1] += gc;
    }
    for (int i = 0; i < k; i++)
        kz[i] /= w[i], kp[i] /= w[i];
    /* Pool adjacent violators: merge while the rate does not rise. */
    int m = 0;
    for (int i = 0; i < k; i++) {
        double pz = kz[i], pp = kp[i], pw = w[i];
        while (m > 0 && kp[m - 1] >= pp) {
            m--;
            pz = (kz[m] * w[m] + pz * pw) / (w[m] + pw);
            pp = (kp[m] * w[m] + pp * pw) / (w[m] + pw);
            pw += w[m];
        }
        kz[m] = pz, kp[m] = pp, w[m] = pw;
        m++;
    }
    free(sz), free(sy), free(cnt), free(w);
    return m >= 2 ? m : 0;
}
