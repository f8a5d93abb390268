/* Held-out measures of a churn-risk score (docs/churn-risk.md, "Fitted model").
 *
 * AUC by sorting (O(n log n)), ties counted half, so it equals the
 * Mann-Whitney statistic. Precision and recall are taken over integer scores
 * 0-100, the resolution the engine writes, so the curve is one histogram
 * pass and the thresholds it yields are exactly the ones levels compare with.
 */
#include "kpistream/risk_fit.h"

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
