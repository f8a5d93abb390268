/* Group aggregates: freezing a partition's changes into a flush block, the
 * pending HLLs, and the KPI hashes from the sums Redis returns (agg.h). */
#include "engine/agg.h"

#include "kpistream/err.h"
#include "kpistream/hash.h"
#include "kpistream/kpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t ks__fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void ks_agg_part_free(ks_agg_part *ap)
{
    ks_batch_reset(&ap->frozen);
    free(ap->fdelta);
    free(ap->items);
    free(ap->arena);
}

void ks_agg_part_add(ks_agg_part *ap, char kind, int64_t t_s, const char *item, size_t len,
                     double value)
{
    if (len > UINT16_MAX)
        len = UINT16_MAX;
    if (ap->nitems == ap->capitems) {
        uint32_t cap = ap->capitems ? ap->capitems * 2 : 256;
        ks_agg_item *ni = realloc(ap->items, (size_t)cap * sizeof *ni);
        if (!ni)
            return; /* out of memory: a sketch count less, not a crash */
        ap->items = ni;
        ap->capitems = cap;
    }
    if (ap->alen + len > ap->acap) {
        uint32_t cap = ap->acap ? ap->acap : 4096;
        while (cap < ap->alen + len)
            cap *= 2;
        char *na = realloc(ap->arena, cap);
        if (!na)
            return;
        ap->arena = na;
        ap->acap = cap;
    }
    ks_agg_item *it = &ap->items[ap->nitems++];
    it->t_s = t_s;
    it->value = value;
    it->off = ap->alen;
    it->len = (uint16_t)len;
    it->kind = kind;
    if (len)
        memcpy(ap->arena + ap->alen, item, len);
    ap->alen += (uint32_t)len;
}

static void ks__forget(ks_agg_part *ap, ks_pstate *st)
{
    ks_deltas_clear(&st->deltas);
    for (int i = 0; i < st->nused; i++)
        st->used[i]->dbase = 0;
    st->nresp = 0;
    ap->nitems = 0;
    ap->alen = 0;
    ap->pushed = st->meta;
}

void ks_agg_part_baseline(ks_agg_part *ap, ks_pstate *st)
{
    ks__forget(ap, st);
    st->deltas_lost = false;
}

/* --- freezing --- */

/* A dim's name in Redis: "g", "s:<segment>" or "c:<channel>". */
static int ks__dim_sh(const ks_engine_shared *sh, unsigned gid, char *buf, size_t size)
{
    if (gid == KS_GID_GLOBAL)
        return snprintf(buf, size, "g");
    if (gid < KS_GID_CHANNEL0)
        return snprintf(buf, size, "s:%s", sh->segments.names[gid - KS_GID_SEGMENT0]);
    return snprintf(buf, size, "c:%s", sh->channels.names[gid - KS_GID_CHANNEL0]);
}

static unsigned ks__group_gid(const ks_pstate *st, const ks_group *g)
{
    if (g == &st->global)
        return KS_GID_GLOBAL;
    if (g >= st->segments && g < st->segments + st->sh->segments.max)
        return (unsigned)(KS_GID_SEGMENT0 + (g - st->segments));
    return (unsigned)(KS_GID_CHANNEL0 + (g - st->channels));
}

/* A sketch count to send: summed over equal (op, window, bucket, field). */
typedef struct ks__cnt {
    char op[3];
    uint8_t w;
    int64_t n;
    const char *field;
    uint32_t len;
} ks__cnt;

static int ks__cnt_cmp(const void *a, const void *b)
{
    const ks__cnt *x = a, *y = b;
    int c = strcmp(x->op, y->op);
    if (c)
        return c;
    if (x->w != y->w)
        return x->w < y->w ? -1 : 1;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return memcmp(x->field, y->field, x->len);
}

static void ks__item5(ks_batch *b, const char *op, int w, int64_t n, const char *f, size_t flen,
                      int64_t d)
{
    ks_batch_str(b, op);
    if (w > 0) {
        ks_batch_i64(b, w);
        ks_batch_i64(b, n);
    } else {
        ks_batch_arg(b, "", 0);
        ks_batch_arg(b, "", 0);
    }
    ks_batch_arg(b, f, flen);
    ks_batch_i64(b, d);
}

/* Sketch items (response times, order values, top-k) as summed counts. */
static int ks__sketch_items(ks_agg_part *ap, ks_pstate *st, const ks_ddsketch *keysk,
                            ks_batch *b, size_t *count)
{
    const ks_config *cfg = st->sh->cfg;
    int nw = cfg->nwindows;
    size_t cap = ((size_t)st->nresp * 3 + ap->nitems) * (size_t)nw;
    if (cap == 0)
        return 0;
    ks__cnt *v = malloc(cap * sizeof *v);
    /* Field texts of response times and order values: "rt:<key>|<dim>". */
    size_t tcap = ((size_t)st->nresp * 3 + ap->nitems) * 192 + 1, tlen = 0;
    char *text = malloc(tcap);
    if (!v || !text) {
        free(v);
        free(text);
        return KS_ERR_NOMEM;
    }
    size_t nv = 0;
    char dim[160];
    /* Buckets behind their window at the partition's clock count nowhere
     * (the group clock is at least ours): not sent. */
    int64_t lo[KS_MAX_WINDOWS];
    int64_t clock_s = st->clock_ms == INT64_MIN ? INT64_MIN : st->clock_ms / 1000;
    for (int w = 0; w < nw; w++)
        lo[w] = clock_s == INT64_MIN ? INT64_MIN
                                     : ks__fdiv(clock_s, cfg->windows[w].length_ms / 1000 /
                                                             KS_WINDOW_BUCKETS) - KS_WINDOW_BUCKETS;
    for (uint32_t r = 0; r < st->nresp; r++) {
        const ks_response *x = &st->resp[r];
        int64_t key = ks_ddsketch_key(keysk, (double)x->value_ms);
        char k[24];
        if (key == KS_DDSKETCH_ZERO_KEY)
            snprintf(k, sizeof k, "z");
        else
            snprintf(k, sizeof k, "%lld", (long long)key);
        unsigned gids[3] = {KS_GID_GLOBAL, x->segment != KS_NONE ? KS_GID_SEGMENT0 + x->segment : 0,
                            x->channel != KS_NONE ? KS_GID_CHANNEL0 + x->channel : 0};
        for (int d = 0; d < 3; d++) {
            if (d > 0 && gids[d] == 0)
                continue;
            ks__dim_sh(st->sh, gids[d], dim, sizeof dim);
            char *f = text + tlen;
            int fl = snprintf(f, tcap - tlen, "rt:%s|%s", k, dim);
            if (fl < 0 || (size_t)fl >= tcap - tlen)
                continue;
            tlen += (size_t)fl + 1;
            for (int w = 0; w < nw; w++) {
                int64_t width_s = cfg->windows[w].length_ms / 1000 / KS_WINDOW_BUCKETS;
                int64_t n = ks__fdiv(x->ts_ms / 1000, width_s);
                if (n > lo[w])
                    v[nv++] = (ks__cnt){"c", (uint8_t)(w + 1), n, f, (uint32_t)fl};
            }
        }
    }
    for (uint32_t i = 0; i < ap->nitems; i++) {
        const ks_agg_item *it = &ap->items[i];
        const char *f = ap->arena + it->off;
        uint32_t fl = it->len;
        const char *op = it->kind == 'p' ? "tp" : it->kind == 'c' ? "tc" : "c";
        if (it->kind == 'v') {
            int64_t key = ks_ddsketch_key(keysk, it->value);
            char *t = text + tlen;
            int n = key == KS_DDSKETCH_ZERO_KEY ? snprintf(t, tcap - tlen, "ov:z|g")
                                                : snprintf(t, tcap - tlen, "ov:%lld|g", (long long)key);
            if (n < 0 || (size_t)n >= tcap - tlen)
                continue;
            tlen += (size_t)n + 1;
            f = t;
            fl = (uint32_t)n;
        }
        for (int w = 0; w < nw; w++) {
            int64_t width_s = cfg->windows[w].length_ms / 1000 / KS_WINDOW_BUCKETS;
            int64_t n = ks__fdiv(it->t_s, width_s);
            if (n <= lo[w])
                continue;
            ks__cnt *c = &v[nv++];
            snprintf(c->op, sizeof c->op, "%s", op);
            c->w = (uint8_t)(w + 1);
            c->n = n;
            c->field = f;
            c->len = fl;
        }
    }
    qsort(v, nv, sizeof *v, ks__cnt_cmp);
    for (size_t i = 0; i < nv;) {
        size_t j = i + 1;
        while (j < nv && ks__cnt_cmp(&v[i], &v[j]) == 0)
            j++;
        ks__item5(b, v[i].op, v[i].w, v[i].n, v[i].field, v[i].len, (int64_t)(j - i));
        (*count)++;
        i = j;
    }
    free(v);
    free(text);
    return 0;
}

int ks_agg_part_freeze(ks_agg_part *ap, ks_pstate *st, const char *id, int64_t next_offset,
                       const char *token, const ks_ddsketch *keysk)
{
    if (ap->has_frozen || ap->fenced)
        return 0;
    /* Counters, base and meta stay binary until the blocks are summed
     * (ks_agg_emit); sketch counts are keyed by text and go as items. */
    ks_batch *b = &ap->frozen;
    ks_batch_clear(b);
    ks_batch_cmd(b);
    ks_batch_str(b, id);
    ks_batch_str(b, ap->token);
    ks_batch_str(b, token);
    if (next_offset >= 0)
        ks_batch_i64(b, next_offset);
    else
        ks_batch_arg(b, "", 0);
    ks_batch_i64(b, st->clock_ms == INT64_MIN ? 0 : st->clock_ms);
    size_t count = 0;
    if (ks__sketch_items(ap, st, keysk, b, &count) < 0 || b->failed)
        return KS_ERR_NOMEM;
    ap->nfdelta = 0;
    if (st->deltas.n > ap->capfdelta) {
        ks_delta *nd = realloc(ap->fdelta, (size_t)st->deltas.n * sizeof *nd);
        if (!nd)
            return KS_ERR_NOMEM;
        ap->fdelta = nd;
        ap->capfdelta = st->deltas.n;
    }
    if (st->deltas.n)
        memcpy(ap->fdelta, st->deltas.d, (size_t)st->deltas.n * sizeof *ap->fdelta);
    ap->nfdelta = st->deltas.n;
    ap->nfbase = 0;
    for (int i = 0; i < st->nused && ap->nfbase < KS_AGG_GIDS; i++)
        if (st->used[i]->dbase) {
            ap->fbase_gid[ap->nfbase] = (uint16_t)ks__group_gid(st, st->used[i]);
            ap->fbase[ap->nfbase++] = st->used[i]->dbase;
        }
    ap->fmeta[0] = st->meta.processed - ap->pushed.processed;
    ap->fmeta[1] = st->meta.rejected - ap->pushed.rejected;
    ap->fmeta[2] = st->meta.duplicates - ap->pushed.duplicates;
    bool any = count || ap->nfdelta || ap->nfbase || ap->fmeta[0] || ap->fmeta[1] || ap->fmeta[2];
    if (!any && next_offset == ap->sent_offset && st->clock_ms == ap->pushed_clock_ms)
        return 0; /* nothing new for Redis */
    snprintf(ap->next_token, sizeof ap->next_token, "%s", token);
    ap->has_frozen = true;
    ap->sent_offset = next_offset;
    ap->pushed_clock_ms = st->clock_ms;
    ks__forget(ap, st);
    return 0;
}

/* One item of a frozen block, pointing into the block's arena. */
typedef struct ks__it {
    const char *a[4];
    size_t l[4];
    int64_t d;
} ks__it;

static int ks__it_cmp(const void *x, const void *y)
{
    const ks__it *p = x, *q = y;
    for (int k = 0; k < 4; k++) {
        size_t n = p->l[k] < q->l[k] ? p->l[k] : q->l[k];
        int c = memcmp(p->a[k], q->a[k], n);
        if (c)
            return c;
        if (p->l[k] != q->l[k])
            return p->l[k] < q->l[k] ? -1 : 1;
    }
    return 0;
}

int ks_agg_emit(ks_batch *b, ks_agg_part *const *parts, int n, const ks_engine_shared *sh,
                ks_deltas *sum)
{
    ks_batch_i64(b, n);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const ks_batch *f = &parts[i]->frozen;
        for (size_t a = 0; a < KS_AGG_HEADER && a < f->nargs; a++)
            ks_batch_arg(b, f->arena + f->argoff[a], f->arglen[a]);
        total += (f->nargs - KS_AGG_HEADER) / 5;
    }
    /* Counters, base and meta: summed in binary over the partitions (64
     * partitions touch the same buckets), formatted once. */
    ks_deltas_clear(sum);
    int64_t base[KS_AGG_GIDS] = {0}, meta[3] = {0};
    for (int i = 0; i < n; i++) {
        const ks_agg_part *ap = parts[i];
        for (uint32_t j = 0; j < ap->nfdelta; j++) {
            const ks_delta *d = &ap->fdelta[j];
            ks_bucket *t = ks_deltas_at(sum, d->gid, d->w, d->n);
            if (!t)
                return KS_ERR_NOMEM;
            for (int k = 0; k < KS_C__COUNT; k++)
                t->v[k] += d->v.v[k];
        }
        for (uint32_t j = 0; j < ap->nfbase; j++)
            base[ap->fbase_gid[j]] += ap->fbase[j];
        for (int k = 0; k < 3; k++)
            meta[k] += ap->fmeta[k];
    }
    /* Sketch counts: summed through a hash table of first occurrences. */
    ks__it *v = total ? malloc(total * sizeof *v) : NULL;
    if (total && !v)
        return KS_ERR_NOMEM;
    size_t nv = 0;
    for (int i = 0; i < n; i++) {
        const ks_batch *f = &parts[i]->frozen;
        for (size_t a = KS_AGG_HEADER; a + 5 <= f->nargs; a += 5) {
            ks__it *it = &v[nv++];
            for (int k = 0; k < 4; k++) {
                it->a[k] = f->arena + f->argoff[a + (size_t)k];
                it->l[k] = f->arglen[a + (size_t)k];
            }
            char num[32];
            size_t dl = f->arglen[a + 4] < sizeof num - 1 ? f->arglen[a + 4] : sizeof num - 1;
            memcpy(num, f->arena + f->argoff[a + 4], dl);
            num[dl] = '\0';
            it->d = strtoll(num, NULL, 10);
        }
    }
    /* Sum equal items through a hash table of first occurrences. */
    size_t cap = 16;
    while (cap < 2 * nv)
        cap *= 2;
    uint32_t *slot = calloc(cap, sizeof *slot);
    if (!slot) {
        free(v);
        return KS_ERR_NOMEM;
    }
    size_t out = 0;
    for (size_t i = 0; i < nv; i++) {
        uint64_t h = 0x6b7069737472656dULL;
        for (int k = 0; k < 4; k++)
            h = ks_hash64(v[i].a[k], v[i].l[k], h + (uint64_t)k);
        size_t j = (size_t)(h ^ h >> 29) & (cap - 1);
        while (slot[j] && ks__it_cmp(&v[slot[j] - 1], &v[i]) != 0)
            j = (j + 1) & (cap - 1);
        if (slot[j]) {
            v[slot[j] - 1].d += v[i].d;
        } else {
            v[out] = v[i];
            slot[j] = (uint32_t)++out;
        }
    }
    free(slot);
    size_t kept = 0;
    for (size_t i = 0; i < out; i++)
        if (v[i].d != 0)
            v[kept++] = v[i];
    out = kept;
    size_t count = out;
    for (uint32_t j = 0; j < sum->n; j++)
        for (int k = 0; k < KS_C__COUNT; k++)
            count += sum->d[j].v.v[k] != 0;
    for (int g = 0; g < KS_AGG_GIDS; g++)
        count += base[g] != 0;
    for (int k = 0; k < 3; k++)
        count += meta[k] != 0;
    ks_batch_i64(b, (int64_t)count);
    char f[224], dim[160];
    for (uint32_t j = 0; j < sum->n; j++) {
        const ks_delta *d = &sum->d[j];
        ks__dim_sh(sh, d->gid, dim, sizeof dim);
        for (int k = 0; k < KS_C__COUNT; k++) {
            if (!d->v.v[k])
                continue;
            int fl = snprintf(f, sizeof f, "%s|%s", ks_counter_name((ks_counter)k), dim);
            ks__item5(b, "c", d->w + 1, d->n, f, (size_t)fl, d->v.v[k]);
        }
    }
    for (int g = 0; g < KS_AGG_GIDS; g++)
        if (base[g]) {
            int dl = ks__dim_sh(sh, (unsigned)g, dim, sizeof dim);
            ks__item5(b, "b", 0, 0, dim, (size_t)dl, base[g]);
        }
    static const char *const mname[3] = {"events_processed", "events_rejected", "duplicates"};
    for (int k = 0; k < 3; k++)
        if (meta[k])
            ks__item5(b, "m", 0, 0, mname[k], strlen(mname[k]), meta[k]);
    for (size_t i = 0; i < out; i++) {
        for (int k = 0; k < 4; k++)
            ks_batch_arg(b, v[i].a[k], v[i].l[k]);
        ks_batch_i64(b, v[i].d);
    }
    free(v);
    return b->failed ? KS_ERR_NOMEM : 0;
}

/* --- pending HLLs --- */

void ks_agg_hll_add(ks_agg_hlls *h, int64_t width_s, int64_t clock_s, uint64_t hash, int64_t t_s)
{
    int64_t n = ks__fdiv(t_s, width_s);
    if (clock_s != INT64_MIN && n <= ks__fdiv(clock_s, width_s) - KS_WINDOW_BUCKETS)
        return; /* behind the window: counts nowhere */
    ks_agg_hll *b = NULL;
    if (h->last < h->n && h->b[h->last].n == n)
        b = &h->b[h->last];
    for (uint32_t i = 0; !b && i < h->n; i++)
        if (h->b[i].n == n) {
            b = &h->b[i];
            h->last = i;
        }
    if (!b) {
        if (h->n == h->cap) {
            uint32_t cap = h->cap ? h->cap * 2 : 8;
            ks_agg_hll *nb = realloc(h->b, (size_t)cap * sizeof *nb);
            if (!nb)
                return;
            h->b = nb;
            h->cap = cap;
        }
        ks_hll *x = malloc(sizeof *x);
        if (!x)
            return;
        ks_hll_init(x);
        h->last = h->n;
        b = &h->b[h->n++];
        b->n = n;
        b->h = x;
    }
    ks_hll_add_hash(b->h, hash);
}

void ks_agg_hll_advance(ks_agg_hlls *h, int64_t width_s, int64_t clock_s)
{
    int64_t lo = ks__fdiv(clock_s, width_s) - KS_WINDOW_BUCKETS;
    uint32_t j = 0;
    for (uint32_t i = 0; i < h->n; i++) {
        if (h->b[i].n <= lo)
            free(h->b[i].h);
        else
            h->b[j++] = h->b[i];
    }
    h->n = j;
    h->last = 0;
}

void ks_agg_hll_clear(ks_agg_hlls *h)
{
    for (uint32_t i = 0; i < h->n; i++)
        free(h->b[i].h);
    h->n = h->last = 0;
}

/* --- KPI hashes from the sums --- */

typedef struct ks__dimacc {
    char name[160];
    size_t len;
    ks_bucket win[KS_MAX_WINDOWS], fut[KS_MAX_WINDOWS];
    int64_t base;
    ks_ddsketch *rt[KS_MAX_WINDOWS], *ov[KS_MAX_WINDOWS];
} ks__dimacc;

typedef struct ks__dims {
    ks__dimacc *d;
    size_t n, cap;
} ks__dims;

static ks__dimacc *ks__dim_get(ks__dims *t, const char *name, size_t len)
{
    if (len >= sizeof t->d[0].name)
        return NULL;
    for (size_t i = 0; i < t->n; i++)
        if (t->d[i].len == len && memcmp(t->d[i].name, name, len) == 0)
            return &t->d[i];
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        ks__dimacc *nd = realloc(t->d, cap * sizeof *nd);
        if (!nd)
            return NULL;
        t->d = nd;
        t->cap = cap;
    }
    ks__dimacc *a = &t->d[t->n++];
    memset(a, 0, sizeof *a);
    memcpy(a->name, name, len);
    a->len = len;
    return a;
}

static int ks__counter_of(const char *s, size_t len)
{
    for (int k = 0; k < KS_C__COUNT; k++) {
        const char *name = ks_counter_name((ks_counter)k);
        if (strlen(name) == len && memcmp(name, s, len) == 0)
            return k;
    }
    return -1;
}

static int64_t ks__ll(const char *s, size_t len)
{
    char buf[32];
    if (len >= sizeof buf)
        len = sizeof buf - 1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return strtoll(buf, NULL, 10);
}

/* Adds one "<what>|<dim>" = value of window w (fut: ahead of the clock). */
static int ks__take(ks__dims *t, int w, bool fut, const char *f, size_t flen, int64_t value)
{
    const char *bar = memchr(f, '|', flen);
    if (!bar)
        return 0;
    ks__dimacc *a = ks__dim_get(t, bar + 1, flen - (size_t)(bar + 1 - f));
    if (!a)
        return KS_ERR_NOMEM;
    size_t wl = (size_t)(bar - f);
    if (wl > 3 && (memcmp(f, "rt:", 3) == 0 || memcmp(f, "ov:", 3) == 0)) {
        if (fut || value <= 0)
            return 0; /* sketches are read for the window only */
        ks_ddsketch **sk = f[0] == 'r' ? &a->rt[w] : &a->ov[w];
        if (!*sk) {
            char err[64];
            *sk = ks_ddsketch_new(KS_DDSKETCH_DEFAULT_ALPHA, 0, err, sizeof err);
            if (!*sk)
                return KS_ERR_NOMEM;
        }
        int64_t key = f[3] == 'z' ? KS_DDSKETCH_ZERO_KEY : ks__ll(f + 3, wl - 3);
        ks_ddsketch_add_key(*sk, key, (uint64_t)value);
        return 0;
    }
    int k = ks__counter_of(f, wl);
    if (k >= 0)
        (fut ? a->fut : a->win)[w].v[k] += value;
    return 0;
}

static void ks__hash_fields(ks_batch *b, const char *key, const ks__dimacc *a, int kind,
                            const ks_config *cfg, ks_agg_result *res)
{
    ks_kpi_params prm = {cfg->gross_margin, cfg->min_churn};
    static const double q[3] = {0.50, 0.90, 0.99};
    char vals[KS_MAX_WINDOWS][KS_KPI__COUNT][32];
    bool present[KS_MAX_WINDOWS][KS_KPI__COUNT];
    int nset = 0, ndel = 0;
    for (int w = 0; w < cfg->nwindows; w++) {
        ks_kpi_input in;
        memset(&in, 0, sizeof in);
        in.sum = a->win[w];
        in.base_end = a->base - a->fut[w].v[KS_C_BASE_DELTA];
        in.base_start = in.base_end - a->win[w].v[KS_C_BASE_DELTA];
        in.clv_window = strcmp(cfg->windows[w].name, "30d") == 0;
        for (int i = 0; i < 3 && a->rt[w]; i++)
            in.has_response = ks_ddsketch_quantile(a->rt[w], q[i], &in.response[i]);
        for (int i = 0; i < 3 && kind == 0 && a->ov[w]; i++)
            in.has_order_value = ks_ddsketch_quantile(a->ov[w], q[i], &in.order_value[i]);
        ks_kpi_values v;
        ks_kpi_compute(&in, &prm, &v);
        /* Channel hashes: "customers with >= 2 purchases" would need a second
         * purchase time per customer and channel, which the compact record
         * does not keep; the ratio is left out rather than written wrong. */
        if (kind == 2)
            v.present[KS_KPI_REPURCHASE_RATE] = false;
        if (kind == 0 && in.clv_window) {
            res->has_churn30 = true;
            res->churn30 = v.present[KS_KPI_CHURN_RATE] ? v.v[KS_KPI_CHURN_RATE] / 100.0 : 0.0;
        }
        for (int k = 0; k < KS_KPI__COUNT; k++) {
            present[w][k] = v.present[k];
            if (v.present[k]) {
                ks_kpi_format(ks_kpi_kind_of((ks_kpi)k), v.v[k], vals[w][k], sizeof vals[w][k]);
                nset++;
            } else {
                ndel++;
            }
        }
    }
    ks_batch_str(b, key);
    ks_batch_i64(b, nset);
    for (int w = 0; w < cfg->nwindows; w++)
        for (int k = 0; k < KS_KPI__COUNT; k++)
            if (present[w][k]) {
                ks_batch_fmt(b, "%s:%s", ks_kpi_name((ks_kpi)k), cfg->windows[w].name);
                ks_batch_str(b, vals[w][k]);
            }
    ks_batch_i64(b, ndel);
    for (int w = 0; w < cfg->nwindows; w++)
        for (int k = 0; k < KS_KPI__COUNT; k++)
            if (!present[w][k])
                ks_batch_fmt(b, "%s:%s", ks_kpi_name((ks_kpi)k), cfg->windows[w].name);
}

int ks_agg_kpis(const ks_config *cfg, const char *const *s, const size_t *l, size_t n,
                void (*fence)(void *ctx, const char *id, size_t len, bool fenced), void *ctx,
                ks_batch *b, ks_agg_result *out)
{
    memset(out, 0, sizeof *out);
    out->group_clock_ms = INT64_MIN;
    ks_batch_clear(b);
    size_t i = 0;
#define KS__NEED(k)                                                                                \
    do {                                                                                           \
        if (i + (k) > n)                                                                           \
            goto bad;                                                                              \
    } while (0)
    KS__NEED(2);
    out->applied = l[i] == 7 && memcmp(s[i], "applied", 7) == 0;
    i++;
    int64_t nf = ks__ll(s[i], l[i]);
    i++;
    KS__NEED((size_t)nf + 1);
    for (int64_t f = 0; f < nf; f++, i++)
        fence(ctx, s[i], l[i], true);
    int64_t nd = ks__ll(s[i], l[i]);
    i++;
    KS__NEED((size_t)nd);
    for (int64_t f = 0; f < nd; f++, i++)
        fence(ctx, s[i], l[i], false);
    KS__NEED(2);
    out->version = ks__ll(s[i], l[i]);
    i++;
    if (l[i])
        out->group_clock_ms = ks__ll(s[i], l[i]);
    i++;
    ks__dims t = {0};
    int rc = 0;
    for (int w = 0; w < cfg->nwindows && rc == 0; w++)
        for (int fut = 0; fut < 2 && rc == 0; fut++) {
            KS__NEED(1);
            int64_t m = ks__ll(s[i], l[i]);
            i++;
            KS__NEED((size_t)m);
            for (int64_t j = 0; j + 1 < m && rc == 0; j += 2)
                rc = ks__take(&t, w, fut, s[i + j], l[i + j], ks__ll(s[i + j + 1], l[i + j + 1]));
            i += (size_t)m;
        }
    if (rc == 0 && i < n) {
        int64_t m = ks__ll(s[i], l[i]);
        i++;
        for (int64_t j = 0; j + 1 < m && i + (size_t)j + 1 < n && rc == 0; j += 2) {
            ks__dimacc *a = ks__dim_get(&t, s[i + j], l[i + j]);
            if (a)
                a->base = ks__ll(s[i + j + 1], l[i + j + 1]);
            else
                rc = KS_ERR_NOMEM;
        }
        i += (size_t)m;
    }
    if (rc == 0 && i < n) { /* dims ever written: their hashes stay current */
        int64_t m = ks__ll(s[i], l[i]);
        i++;
        for (int64_t j = 0; j < m && i + (size_t)j < n && rc == 0; j++)
            if (!ks__dim_get(&t, s[i + j], l[i + j]))
                rc = KS_ERR_NOMEM;
    }
    if (rc == 0) {
        ks_batch_cmd(b);
        ks_batch_str(b, "EVAL");
        ks_batch_str(b, ks_agg_kpi_script);
        ks_batch_str(b, "0");
        ks_batch_str(b, cfg->prefix);
        ks_batch_i64(b, out->version);
        char key[512];
        for (size_t d = 0; d < t.n; d++) {
            const ks__dimacc *a = &t.d[d];
            int kind = a->name[0] == 'g' ? 0 : a->name[0] == 's' ? 1 : 2;
            if (kind == 0)
                snprintf(key, sizeof key, "%sglobal", cfg->prefix);
            else
                snprintf(key, sizeof key, "%s%s:%.*s", cfg->prefix, kind == 1 ? "segment" : "channel",
                         (int)a->len - 2, a->name + 2);
            ks__hash_fields(b, key, a, kind, cfg, out);
        }
        if (b->failed)
            rc = KS_ERR_NOMEM;
    }
    for (size_t d = 0; d < t.n; d++)
        for (int w = 0; w < KS_MAX_WINDOWS; w++) {
            ks_ddsketch_free(t.d[d].rt[w]);
            ks_ddsketch_free(t.d[d].ov[w]);
        }
    free(t.d);
    return rc;
bad:
    return KS_ERR_INVAL;
#undef KS__NEED
}
