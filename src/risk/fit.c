/* Weighted L2-regularised logistic regression by Newton's method (IRLS).
 *
 * The problem is small in features (a few dozen) and large in rows (a
 * customer-day each, millions), so every step is one pass over the rows that
 * accumulates the gradient and the (d+1) x (d+1) Hessian, then a Cholesky
 * solve. Newton converges in about ten steps where gradient descent would
 * need thousands of passes; with an L2 penalty the Hessian is positive
 * definite, so the solve cannot fail and separable data still has a finite
 * optimum. Features are standardised first (mean 0, variance 1 over the
 * fitted rows) so that one penalty suits them all and the weights are
 * comparable: weight_j is the change in log-odds per standard deviation.
 *
 * Memory: O(d^2) doubles besides the caller's rows; the rows are read, never
 * copied. Step halving keeps each step from increasing the objective.
 */
#include "kpistream/risk_fit.h"

#include "kpistream/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double ks__log1pexp(double u)
{
    return u > 30 ? u : log1p(exp(u));
}

/* Penalised mean log-loss of coefficients b (d weights, then the intercept). */
static double ks__loss(const float *x, const uint8_t *y, const float *w, const uint32_t *rows,
                       size_t nrows, const ks_logit *m, const double *b, double l2)
{
    int d = m->d;
    double sum = 0, wsum = 0;
    for (size_t k = 0; k < nrows; k++) {
        size_t i = rows ? rows[k] : k;
        const float *r = x + i * (size_t)d;
        double z = b[d];
        for (int j = 0; j < d; j++)
            z += b[j] * ((double)r[j] - m->mean[j]) / m->scale[j];
        double wi = w ? w[i] : 1.0;
        /* -log p for y=1 is log(1+e^-z); -log(1-p) for y=0 is log(1+e^z). */
        sum += wi * ks__log1pexp(y[i] ? -z : z);
        wsum += wi;
    }
    double pen = 0;
    for (int j = 0; j < d; j++)
        pen += b[j] * b[j];
    return sum / wsum + 0.5 * l2 * pen;
}

/* Solves A x = g in place (g becomes x) for symmetric positive definite A
 * (n x n, row-major, destroyed). Returns 0, or -1 if A is not positive definite. */
static int ks__cholesky_solve(double *a, double *g, int n)
{
    for (int j = 0; j < n; j++) {
        double s = a[j * n + j];
        for (int k = 0; k < j; k++)
            s -= a[j * n + k] * a[j * n + k];
        if (!(s > 0)) return -1;
        a[j * n + j] = sqrt(s);
        for (int i = j + 1; i < n; i++) {
            double t = a[i * n + j];
            for (int k = 0; k < j; k++)
                t -= a[i * n + k] * a[j * n + k];
            a[i * n + j] = t / a[j * n + j];
        }
    }
    for (int i = 0; i < n; i++) { /* L y = g */
        double t = g[i];
        for (int k = 0; k < i; k++)
            t -= a[i * n + k] * g[k];
        g[i] = t / a[i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) { /* L^T x = y */
        double t = g[i];
        for (int k = i + 1; k < n; k++)
            t -= a[k * n + i] * g[k];
        g[i] = t / a[i * n + i];
    }
    return 0;
}

int ks_logit_fit(const float *x, const uint8_t *y, const float *w, size_t n, const uint32_t *rows,
                 size_t nrows, double l2, int max_iter, double tol, ks_logit *m)
{
    int d = m->d;
    if (!rows) nrows = n;
    if (nrows == 0 || d < 0) return KS_ERR_INVAL;
    /* Standardisation and the class balance. */
    double wsum = 0, wpos = 0;
    for (int j = 0; j < d; j++)
        m->mean[j] = m->scale[j] = 0;
    for (size_t k = 0; k < nrows; k++) {
        size_t i = rows ? rows[k] : k;
        double wi = w ? w[i] : 1.0;
        wsum += wi;
        wpos += y[i] ? wi : 0;
        for (int j = 0; j < d; j++)
            m->mean[j] += wi * x[i * (size_t)d + j];
    }
    if (!(wpos > 0) || !(wpos < wsum)) return KS_ERR_INVAL;
    for (int j = 0; j < d; j++)
        m->mean[j] /= wsum;
    for (size_t k = 0; k < nrows; k++) {
        size_t i = rows ? rows[k] : k;
        double wi = w ? w[i] : 1.0;
        for (int j = 0; j < d; j++) {
            double v = x[i * (size_t)d + j] - m->mean[j];
            m->scale[j] += wi * v * v;
        }
    }
    for (int j = 0; j < d; j++) {
        double sd = sqrt(m->scale[j] / wsum);
        m->scale[j] = sd > 1e-9 ? sd : 1.0; /* constant: its weight stays 0 under the penalty */
    }

    int nb = d + 1;
    double *b = calloc((size_t)nb, sizeof *b), *g = calloc((size_t)nb, sizeof *g);
    double *h = calloc((size_t)nb * (size_t)nb, sizeof *h), *nbv = calloc((size_t)nb, sizeof *nbv);
    double *xs = calloc((size_t)nb, sizeof *xs);
    if (!b || !g || !h || !nbv || !xs) {
        free(b), free(g), free(h), free(nbv), free(xs);
        return KS_ERR_NOMEM;
    }
    b[d] = log(wpos / (wsum - wpos)); /* start at the base rate */
    double loss = ks__loss(x, y, w, rows, nrows, m, b, l2);
    m->converged = false;
    m->iterations = 0;
    for (int it = 0; it < max_iter; it++) {
        memset(g, 0, (size_t)nb * sizeof *g);
        memset(h, 0, (size_t)nb * (size_t)nb * sizeof *h);
        for (size_t k = 0; k < nrows; k++) {
            size_t i = rows ? rows[k] : k;
            const float *r = x + i * (size_t)d;
            double z = b[d];
            for (int j = 0; j < d; j++) {
                xs[j] = ((double)r[j] - m->mean[j]) / m->scale[j];
                z += b[j] * xs[j];
            }
            xs[d] = 1.0;
            double p = 1.0 / (1.0 + exp(-z)), wi = w ? w[i] : 1.0;
            double gi = wi * (p - (y[i] ? 1.0 : 0.0)), hi = wi * p * (1.0 - p);
            for (int a = 0; a < nb; a++) {
                g[a] += gi * xs[a];
                double ha = hi * xs[a];
                double *row = h + (size_t)a * (size_t)nb;
                for (int c = 0; c <= a; c++)
                    row[c] += ha * xs[c];
            }
        }
        for (int a = 0; a < nb; a++) {
            g[a] /= wsum;
            for (int c = 0; c <= a; c++) {
                h[(size_t)a * (size_t)nb + (size_t)c] /= wsum;
                h[(size_t)c * (size_t)nb + (size_t)a] = h[(size_t)a * (size_t)nb + (size_t)c];
            }
        }
        for (int j = 0; j < d; j++) {
            g[j] += l2 * b[j];
            h[(size_t)j * (size_t)nb + (size_t)j] += l2;
        }
        h[(size_t)d * (size_t)nb + (size_t)d] += 1e-12; /* the intercept on separable data */
        if (ks__cholesky_solve(h, g, nb) != 0) break;
        /* g is now the Newton step; halve it until the objective does not rise. */
        double t = 1.0, next = loss;
        for (int half = 0; half < 30; half++, t *= 0.5) {
            for (int a = 0; a < nb; a++)
                nbv[a] = b[a] - t * g[a];
            next = ks__loss(x, y, w, rows, nrows, m, nbv, l2);
            if (next <= loss + 1e-15) break;
        }
        double moved = 0;
        for (int a = 0; a < nb; a++) {
            double dlt = fabs(nbv[a] - b[a]);
            if (dlt > moved) moved = dlt;
            b[a] = nbv[a];
        }
        m->iterations = it + 1;
        loss = next;
        if (moved <= tol) {
            m->converged = true;
            break;
        }
    }
    for (int j = 0; j < d; j++)
        m->weight[j] = b[j];
    m->intercept = b[d];
    m->loss = loss;
    free(b), free(g), free(h), free(nbv), free(xs);
    return 0;
}

double ks_logit_z(const ks_logit *m, const float *row)
{
    double z = m->intercept;
    for (int j = 0; j < m->d; j++)
        z += m->weight[j] * ((double)row[j] - m->mean[j]) / m->scale[j];
    return z;
}
