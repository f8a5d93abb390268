#include "engine/topk_window.h"

#include "kpistream/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *ks__topk_new(void *ctx)
{
    char err[128];
    return ks_topk_new(*(size_t *)ctx, err, sizeof err);
}

static void ks__topk_reset(void *t)
{
    ks_topk_reset(t);
}

static void ks__topk_free(void *t)
{
    ks_topk_free(t);
}

int ks_topk_window_init(ks_topk_window *w, int64_t width_s, size_t k, size_t capacity)
{
    char err[128];
    memset(w, 0, sizeof *w);
    w->k = k;
    w->capacity = capacity;
    w->merged = ks_topk_new(capacity, err, sizeof err);
    if (!w->merged)
        return KS_ERR_NOMEM;
    return ks_sring_init(&w->ring, width_s, ks__topk_new, ks__topk_reset, ks__topk_free,
                         &w->capacity);
}

void ks_topk_window_reset(ks_topk_window *w)
{
    ks_sring_free(&w->ring);
    ks_topk_free(w->merged);
    free(w->written);
    free(w->pending);
    memset(w, 0, sizeof *w);
}

void ks_topk_window_add(ks_topk_window *w, const char *item, size_t len, int64_t t_s)
{
    ks_topk *t = ks_sring_at(&w->ring, t_s);
    if (t)
        ks_topk_add(t, item, len, 1);
}

void ks_topk_window_advance(ks_topk_window *w, int64_t clock_s)
{
    ks_sring_advance(&w->ring, clock_s);
}

static void ks__topk_merge_into(void *ctx, void *t)
{
    ks_topk_merge(ctx, t);
}

void ks_topk_window_emit(ks_topk_window *w, ks_batch *b, const char *key, int64_t clock_s)
{
    ks_topk_reset(w->merged);
    ks_sring_each_live(&w->ring, clock_s, ks__topk_merge_into, w->merged);
    ks_topk_entry out[64];
    size_t n = 0;
    ks_topk_list(w->merged, w->k < 64 ? w->k : 64, out, &n);
    /* The list as text, to see whether Redis already has it. */
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += out[i].len + 24;
    free(w->pending);
    w->pending = malloc(cap);
    if (!w->pending)
        return;
    size_t o = 0;
    w->pending[0] = '\0';
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(w->pending + o, cap - o, "%.*s\t%llu\n", (int)out[i].len, out[i].item,
                              (unsigned long long)out[i].count);
    if (w->written && strcmp(w->written, w->pending) == 0)
        return; /* unchanged; the first flush always writes: an earlier run may have left members */
    ks_batch_cmd(b);
    ks_batch_str(b, "DEL");
    ks_batch_str(b, key);
    if (n == 0)
        return;
    ks_batch_cmd(b);
    ks_batch_str(b, "ZADD");
    ks_batch_str(b, key);
    for (size_t i = 0; i < n; i++) {
        ks_batch_fmt(b, "%llu", (unsigned long long)out[i].count);
        ks_batch_arg(b, out[i].item, out[i].len);
    }
}

void ks_topk_window_done(ks_topk_window *w)
{
    if (!w->pending)
        return;
    free(w->written);
    w->written = w->pending;
    w->pending = NULL;
}
