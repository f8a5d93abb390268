#include "engine/quantile_window.h"

#include "kpistream/err.h"

#include <string.h>

#define KS__ALPHA 0.01
#define KS__MAX_BUCKETS 2048

static void *ks__dd_new(void *ctx)
{
    (void)ctx;
    char err[128];
    return ks_ddsketch_new(KS__ALPHA, KS__MAX_BUCKETS, err, sizeof err);
}

static void ks__dd_reset(void *s)
{
    ks_ddsketch_reset(s);
}

static void ks__dd_free(void *s)
{
    ks_ddsketch_free(s);
}

int ks_quantile_window_init(ks_quantile_window *w, int64_t width_s)
{
    memset(w, 0, sizeof *w);
    w->merged = ks__dd_new(NULL);
    if (!w->merged)
        return KS_ERR_NOMEM;
    return ks_sring_init(&w->ring, width_s, ks__dd_new, ks__dd_reset, ks__dd_free, NULL);
}

void ks_quantile_window_reset(ks_quantile_window *w)
{
    ks_sring_free(&w->ring);
    ks_ddsketch_free(w->merged);
    memset(w, 0, sizeof *w);
}

void ks_quantile_window_add(ks_quantile_window *w, double v, int64_t t_s)
{
    ks_ddsketch *s = ks_sring_at(&w->ring, t_s);
    if (s)
        ks_ddsketch_add(s, v);
}

void ks_quantile_window_advance(ks_quantile_window *w, int64_t clock_s)
{
    ks_sring_advance(&w->ring, clock_s);
}

static void ks__dd_merge_into(void *ctx, void *s)
{
    ks_ddsketch_merge(ctx, s);
}

bool ks_quantile_window_get(ks_quantile_window *w, int64_t clock_s, const double *q, int n,
                            double *out)
{
    ks_ddsketch_reset(w->merged);
    ks_sring_each_live(&w->ring, clock_s, ks__dd_merge_into, w->merged);
    for (int i = 0; i < n; i++)
        if (!ks_ddsketch_quantile(w->merged, q[i], &out[i]))
            return false;
    return true;
}
