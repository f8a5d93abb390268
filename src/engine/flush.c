/* The output path (flush.h): shares, the group state and what derives from
 * its sums. Field names of <prefix>agg:state ("S"):
 *
 *   <window>|<counter>|<dim>    sum of a window counter (window.h)
 *   <window>|base_end|<dim>     customers at the window's end
 *   <window>|rt:<key>|<dim>     first-response DDSketch bucket count
 *   <window>|ov:<key>|g         order-value DDSketch bucket count
 *   <window>|tp|<item>          products bought (top-k)
 *   <window>|tc|<item>          complaint categories (top-k)
 *   meta|<name>                 events_processed, events_rejected, duplicates
 *   dim|<dim>                   1: the dim has a KPI hash (kept current)
 *   clock_ms                    the group clock: highest any member flushed
 *   hmax:<window>               highest HLL bucket written
 *   tok:<t>:<p>, off:<t>:<p>, pc:<t>:<p>  a partition's token, next offset, clock
 *
 * A dim is "g", "s:<segment>" or "c:<channel>". Sums that reach 0 are
 * deleted, so the hash depends on the events, not on how flushes were cut. */
#include "engine/flush.h"

#include "kpistream/batch.h"
#include "kpistream/err.h"
#include "kpistream/hash.h"
#include "kpistream/kpi.h"
#include "kpistream/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    KS_FK_OTHER,
    KS_FK_CTR,
    KS_FK_BASE_END,
    KS_FK_RT,
    KS_FK_OV,
    KS_FK_TP,
    KS_FK_TC,
    KS_FK_META,
    KS_FK_DIM,
    KS_FK_BOOK, /* clock, hmax, tokens, offsets, clocks: not sums */
};

typedef struct ks_fdesc {
    uint8_t kind;
    uint8_t w;
    uint16_t k;       /* counter, or meta index */
    uint32_t dim;     /* dim id */
    int64_t key;      /* DDSketch key */
    uint32_t item;    /* offset of the item name in the field name */
} ks_fdesc;

static const char *const ks__meta_names[3] = {"events_processed", "events_rejected", "duplicates"};

static int64_t ks__fdiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t ks__width_s(const ks_config *cfg, int w)
{
    int64_t x = cfg->windows[w].length_ms / 1000 / KS_WINDOW_BUCKETS;
    return x > 0 ? x : 1;
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

/* --- shares --- */

static int ks__share_reserve(ks_share *s, uint32_t n)
{
    if (n <= s->cap)
        return 0;
    uint32_t cap = s->cap ? s->cap : 64;
    while (cap < n)
        cap *= 2;
    ks_share_ent *ne = realloc(s->e, (size_t)cap * sizeof *ne);
    if (!ne)
        return KS_ERR_NOMEM;
    s->e = ne;
    s->cap = cap;
    return 0;
}

void ks_fpart_init(ks_fpart *fp)
{
    memset(fp, 0, sizeof *fp);
    fp->sent_offset = fp->try_offset = -1;
    fp->sent_clock = fp->try_clock = INT64_MIN;
    fp->xs_init = ks_u64map_init(&fp->xs, NULL, NULL) == 0;
}

void ks_fpart_free(ks_fpart *fp)
{
    free(fp->confirmed.e);
    free(fp->attempt.e);
    if (fp->xs_init)
        ks_u64map_reset(&fp->xs);
    memset(fp, 0, sizeof *fp);
}

size_t ks_fpart_memory(const ks_fpart *fp)
{
    return ((size_t)fp->confirmed.cap + fp->attempt.cap) * sizeof(ks_share_ent) +
           fp->xs.cap * sizeof(ks_u64map_slot);
}

/* --- names --- */

static int ks__window_of(const ks_config *cfg, const char *s, size_t len)
{
    for (int w = 0; w < cfg->nwindows; w++)
        if (strlen(cfg->windows[w].name) == len && memcmp(cfg->windows[w].name, s, len) == 0)
            return w;
    return -1;
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

static int ks__grow_fields(ks_flusher *f)
{
    uint32_t n = f->fields.n;
    if (n > f->capdesc) {
        uint32_t cap = f->capdesc ? f->capdesc : 1024;
        while (cap < n)
            cap *= 2;
        ks_fdesc *nd = realloc(f->desc, (size_t)cap * sizeof *nd);
        if (!nd)
            return KS_ERR_NOMEM;
        f->desc = nd;
        f->capdesc = cap;
    }
    if (n > f->capf) {
        uint32_t cap = f->capf ? f->capf : 1024;
        while (cap < n)
            cap *= 2;
        int64_t *a = realloc(f->sum, (size_t)cap * sizeof *a);
        if (!a)
            return KS_ERR_NOMEM;
        f->sum = a;
        int64_t *b = realloc(f->cur, (size_t)cap * sizeof *b);
        if (!b)
            return KS_ERR_NOMEM;
        f->cur = b;
        int64_t *c = realloc(f->next, (size_t)cap * sizeof *c);
        if (!c)
            return KS_ERR_NOMEM;
        f->next = c;
        uint32_t *s = realloc(f->stamp, (size_t)cap * sizeof *s);
        if (!s)
            return KS_ERR_NOMEM;
        f->stamp = s;
        for (uint32_t i = f->capf; i < cap; i++) {
            f->sum[i] = f->cur[i] = f->next[i] = 0;
            f->stamp[i] = 0;
        }
        f->capf = cap;
    }
    return 0;
}

static uint32_t ks__dim_id(ks_flusher *f, const char *name, size_t len)
{
    uint32_t d = ks_names_id(&f->dims, name, len);
    if (d == KS_NAMES_NONE)
        return d;
    if (f->dims.n > f->capdim) {
        uint32_t cap = f->capdim ? f->capdim * 2 : 32;
        while (cap < f->dims.n)
            cap *= 2;
        void *nd = realloc(f->dim_fid, (size_t)cap * sizeof *f->dim_fid);
        if (!nd)
            return KS_NAMES_NONE;
        f->dim_fid = nd;
        memset(&f->dim_fid[f->capdim], 0, (size_t)(cap - f->capdim) * sizeof *f->dim_fid);
        f->capdim = cap;
    }
    return d;
}

/* Interns a field of S and works out what it is. */
static uint32_t ks__field(ks_flusher *f, const char *s, size_t len)
{
    uint32_t before = f->fields.n;
    uint32_t id = ks_names_id(&f->fields, s, len);
    if (id == KS_NAMES_NONE || id < before)
        return id;
    if (ks__grow_fields(f) < 0)
        return KS_NAMES_NONE;
    ks_fdesc *d = &f->desc[id];
    memset(d, 0, sizeof *d);
    d->kind = KS_FK_OTHER;
    const char *bar = memchr(s, '|', len);
    if (!bar) {
        d->kind = KS_FK_BOOK;
        return id;
    }
    size_t hl = (size_t)(bar - s);
    const char *rest = bar + 1;
    size_t rl = len - hl - 1;
    if (hl == 4 && memcmp(s, "meta", 4) == 0) {
        for (int k = 0; k < 3; k++)
            if (strlen(ks__meta_names[k]) == rl && memcmp(ks__meta_names[k], rest, rl) == 0) {
                d->kind = KS_FK_META;
                d->k = (uint16_t)k;
            }
        return id;
    }
    if (hl == 3 && memcmp(s, "dim", 3) == 0) {
        d->dim = ks__dim_id(f, rest, rl);
        d->kind = d->dim == KS_NAMES_NONE ? KS_FK_OTHER : KS_FK_DIM;
        return id;
    }
    int w = ks__window_of(f->cfg, s, hl);
    if (w < 0)
        return id;
    d->w = (uint8_t)w;
    if (rl >= 3 && (memcmp(rest, "tp|", 3) == 0 || memcmp(rest, "tc|", 3) == 0)) {
        d->kind = rest[1] == 'p' ? KS_FK_TP : KS_FK_TC;
        d->item = (uint32_t)(hl + 4);
        return id;
    }
    const char *bar2 = memchr(rest, '|', rl);
    if (!bar2)
        return id;
    size_t wl = (size_t)(bar2 - rest);
    const char *dim = bar2 + 1;
    size_t dl = rl - wl - 1;
    uint32_t did = ks__dim_id(f, dim, dl);
    if (did == KS_NAMES_NONE)
        return KS_NAMES_NONE;
    d->dim = did;
    if (wl > 3 && (memcmp(rest, "rt:", 3) == 0 || memcmp(rest, "ov:", 3) == 0)) {
        d->key = rest[3] == 'z' ? KS_DDSKETCH_ZERO_KEY : ks__ll(rest + 3, wl - 3);
        /* Keys of real values stay within a few ten thousands (1e300 is key
         * 34 541 at alpha 1 %); anything else came from someone else's
         * writes to the prefix and would overflow the sketch's index: left
         * out of the KPIs. */
        if (d->key != KS_DDSKETCH_ZERO_KEY && (d->key > 1000000 || d->key < -1000000))
            return id;
        d->kind = rest[0] == 'r' ? KS_FK_RT : KS_FK_OV;
        return id;
    }
    if (wl == 8 && memcmp(rest, "base_end", 8) == 0) {
        d->kind = KS_FK_BASE_END;
        return id;
    }
    int k = ks__counter_of(rest, wl);
    if (k >= 0) {
        d->kind = KS_FK_CTR;
        d->k = (uint16_t)k;
    }
    return id;
}

static uint32_t ks__fieldf(ks_flusher *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uint32_t ks__fieldf(ks_flusher *f, const char *fmt, ...)
{
    char buf[640];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf)
        return KS_NAMES_NONE;
    return ks__field(f, buf, (size_t)n);
}

/* The dim of an engine group id (state.h): "g", "s:<name>", "c:<name>". */
static uint32_t ks__gid_dim(ks_flusher *f, unsigned gid)
{
    if (gid >= f->ngid) {
        uint32_t cap = f->ngid ? f->ngid : 64;
        while (cap <= gid)
            cap *= 2;
        uint32_t *ng = realloc(f->gid_dim, (size_t)cap * sizeof *ng);
        if (!ng)
            return KS_NAMES_NONE;
        memset(ng + f->ngid, 0, (size_t)(cap - f->ngid) * sizeof *ng);
        f->gid_dim = ng;
        f->ngid = cap;
    }
    if (f->gid_dim[gid])
        return f->gid_dim[gid] - 1;
    char buf[160];
    int n;
    if (gid == KS_GID_GLOBAL)
        n = snprintf(buf, sizeof buf, "g");
    else if (gid < KS_GID_CHANNEL0)
        n = snprintf(buf, sizeof buf, "s:%s", f->sh->segments.names[gid - KS_GID_SEGMENT0]);
    else
        n = snprintf(buf, sizeof buf, "c:%s", f->sh->channels.names[gid - KS_GID_CHANNEL0]);
    uint32_t d = ks__dim_id(f, buf, (size_t)n);
    if (d != KS_NAMES_NONE)
        f->gid_dim[gid] = d + 1;
    return d;
}

/* Field id of counter k (KS_C__COUNT: base_end) of window w, dim d. */
static uint32_t ks__ctr_fid(ks_flusher *f, uint32_t d, int w, int k)
{
    uint32_t *slot = &f->dim_fid[d][w][k];
    if (*slot)
        return *slot - 1;
    uint32_t id = ks__fieldf(f, "%s|%s|%s", f->cfg->windows[w].name,
                             k == KS_C__COUNT ? "base_end" : ks_counter_name((ks_counter)k),
                             ks_names_str(&f->dims, d));
    if (id != KS_NAMES_NONE)
        f->dim_fid[d][w][k] = id + 1;
    return id;
}

static uint32_t ks__x_fid(ks_flusher *f, uint32_t xid, int w)
{
    uint32_t *slot = &f->xfid[xid][w];
    if (*slot)
        return *slot - 1;
    uint32_t id = ks__fieldf(f, "%s|%s", f->cfg->windows[w].name, ks_names_str(&f->xnames, xid));
    if (id != KS_NAMES_NONE)
        *slot = id + 1;
    return id;
}

static uint32_t ks__xid(ks_flusher *f, const char *s, size_t len)
{
    uint32_t x = ks_names_id(&f->xnames, s, len);
    if (x == KS_NAMES_NONE)
        return x;
    if (f->xnames.n > f->capx) {
        uint32_t cap = f->capx ? f->capx * 2 : 256;
        while (cap < f->xnames.n)
            cap *= 2;
        void *nx = realloc(f->xfid, (size_t)cap * sizeof *f->xfid);
        if (!nx)
            return KS_NAMES_NONE;
        f->xfid = nx;
        memset(&f->xfid[f->capx], 0, (size_t)(cap - f->capx) * sizeof *f->xfid);
        f->capx = cap;
    }
    return x;
}

/* --- init --- */

int ks_flusher_init(ks_flusher *f, const ks_config *cfg, const ks_engine_shared *sh,
                    const ks_ddsketch *keysk)
{
    memset(f, 0, sizeof *f);
    if (pthread_mutex_init(&f->rec_mu, NULL) != 0)
        return KS_ERR_NOMEM;
    f->cfg = cfg;
    f->sh = sh;
    f->keysk = keysk;
    f->group_clock_ms = INT64_MIN;
    f->first = true;
    for (int w = 0; w < KS_MAX_WINDOWS; w++)
        f->hmax[w] = INT64_MIN;
    for (int k = 0; k < 3; k++)
        if ((f->meta_fid[k] = ks__fieldf(f, "meta|%s", ks__meta_names[k])) == KS_NAMES_NONE)
            return KS_ERR_NOMEM;
    if ((f->clock_fid = ks__field(f, "clock_ms", 8)) == KS_NAMES_NONE)
        return KS_ERR_NOMEM;
    for (int w = 0; w < cfg->nwindows; w++)
        if ((f->hmax_fid[w] = ks__fieldf(f, "hmax:%s", cfg->windows[w].name)) == KS_NAMES_NONE)
            return KS_ERR_NOMEM;
    return 0;
}

void ks_flusher_free(ks_flusher *f)
{
    ks_names_free(&f->fields);
    ks_names_free(&f->dims);
    ks_names_free(&f->xnames);
    free(f->desc);
    free(f->gid_dim);
    free(f->dim_fid);
    free(f->xfid);
    free(f->sum);
    free(f->cur);
    free(f->next);
    free(f->stamp);
    free(f->touched);
    pthread_mutex_destroy(&f->rec_mu);
    memset(f, 0, sizeof *f);
}

size_t ks_flusher_memory(const ks_flusher *f)
{
    return ks_names_memory(&f->fields) + ks_names_memory(&f->dims) +
           ks_names_memory(&f->xnames) + (size_t)f->capdesc * sizeof(ks_fdesc) +
           (size_t)f->capf * (3 * sizeof(int64_t) + sizeof(uint32_t)) +
           (size_t)f->capdim * sizeof *f->dim_fid + (size_t)f->capx * sizeof *f->xfid +
           (size_t)f->captouched * 2 * sizeof(uint32_t);
}

/* --- recording sketch items --- */

/* (xid + 1, window, bucket) in one map key: 24 + 3 + 37 bits, multiplied
 * by an odd constant so the map (which takes keys as hashes) spreads them;
 * the product is undone with the constant's inverse modulo 2^64. */
#define KS__XBITS 37
#define KS__XMUL 0x9E3779B97F4A7C15ULL

/* KS__XMUL's inverse modulo 2^64. As a literal: gcc left the Newton loop
 * that computed it (6 steps) inside the flush's pass over every count. */
#define KS__XINV 0xF1DE83E19937733DULL
_Static_assert((uint64_t)(KS__XMUL * KS__XINV) == 1, "KS__XINV is KS__XMUL's inverse mod 2^64");

static uint64_t ks__xkey(uint32_t xid, int w, int64_t n)
{
    return (((uint64_t)(xid + 1) << 40) | ((uint64_t)w << KS__XBITS) |
            ((uint64_t)n & ((1ULL << KS__XBITS) - 1))) *
           KS__XMUL;
}

static void ks__xunkey(uint64_t key, uint32_t *xid, int *w, int64_t *n)
{
    key *= KS__XINV;
    *xid = (uint32_t)(key >> 40) - 1;
    *w = (int)((key >> KS__XBITS) & 7);
    int64_t v = (int64_t)(key & ((1ULL << KS__XBITS) - 1));
    if (v & (1LL << (KS__XBITS - 1)))
        v -= 1LL << KS__XBITS; /* sign */
    *n = v;
}

/* Whether bucket n of window w is behind the window at a partition's clock
 * (INT64_MIN: none yet), which only moves on: a count there counts nowhere
 * again (the flush deletes those). */
static bool ks__x_behind(const ks_config *cfg, int w, int64_t n, int64_t clock_ms)
{
    return clock_ms != INT64_MIN &&
           n <= ks__fdiv(clock_ms / 1000, ks__width_s(cfg, w)) - KS_WINDOW_BUCKETS;
}

/* The map's rebuild predicate: between two flushes of a catch-up, days of
 * event time apart, the short windows' counts left their windows by the
 * thousand, and the table grew to hold them until the flush took them out. */
static bool ks__xs_keep(uint64_t key, const ks_u64map_val *v, void *ctx)
{
    (void)v;
    const ks_fpart *fp = ctx;
    uint32_t xid;
    int w;
    int64_t n;
    ks__xunkey(key, &xid, &w, &n);
    return w >= fp->xs_cfg->nwindows || !ks__x_behind(fp->xs_cfg, w, n, fp->xs_clock_ms);
}

static void ks__xadd(ks_flusher *f, ks_fpart *fp, const ks_pstate *st, uint32_t xid, int64_t t_s)
{
    if (xid == KS_NAMES_NONE || xid >= (1u << 24) - 1 || !fp->xs_init)
        return;
    /* Set at each call, not at init: the fpart moves with the engine's
     * partition array. */
    fp->xs.keep = ks__xs_keep;
    fp->xs.keep_ctx = fp;
    fp->xs_cfg = f->cfg;
    fp->xs_clock_ms = st->clock_ms;
    for (int w = 0; w < f->cfg->nwindows; w++) {
        int64_t n = ks__fdiv(t_s, ks__width_s(f->cfg, w));
        if (ks__x_behind(f->cfg, w, n, st->clock_ms))
            continue;
        bool created;
        uint64_t key = ks__xkey(xid, w, n);
        if (key < 2)
            continue; /* the map's reserved keys: one in 2^63, never in practice */
        ks_u64map_val *v = ks_u64map_put(&fp->xs, key, &created);
        if (v)
            v->a++;
    }
}

/* Appends len bytes of s at buf[at] (buf holds cap bytes; the callers size
 * it for their longest key); returns the new length. */
static size_t ks__kcat(char *buf, size_t at, size_t cap, const char *s, size_t len)
{
    if (len > cap - at)
        len = cap - at;
    memcpy(buf + at, s, len);
    return at + len;
}

/* The item's id; f's names are shared by the worker threads. */
static uint32_t ks__xid_locked(ks_flusher *f, const char *s, size_t len)
{
    pthread_mutex_lock(&f->rec_mu);
    uint32_t x = ks__xid(f, s, len);
    pthread_mutex_unlock(&f->rec_mu);
    return x;
}

void ks_flusher_record(ks_flusher *f, ks_fpart *fp, const ks_pstate *st, ks_xkind kind,
                       int64_t t_s, double value, const char *item, size_t len, const int *gids)
{
    /* Keys built without printf: a purchase records one or two of them, a
     * first response up to three, and snprintf was 2 % of the engine. */
    char buf[640];
    size_t n;
    if (kind == KS_X_TP || kind == KS_X_TC) {
        n = ks__kcat(buf, 0, sizeof buf, kind == KS_X_TP ? "tp|" : "tc|", 3);
        n = ks__kcat(buf, n, sizeof buf, item, len > 512 ? 512 : len);
        ks__xadd(f, fp, st, ks__xid_locked(f, buf, n), t_s);
        return;
    }
    int64_t key = ks_ddsketch_key(f->keysk, value);
    char k[24] = "z";
    size_t kl = key == KS_DDSKETCH_ZERO_KEY ? 1 : ks_batch_i64_text(k, key);
    if (kind == KS_X_OV) {
        n = ks__kcat(buf, 0, sizeof buf, "ov:", 3);
        n = ks__kcat(buf, n, sizeof buf, k, kl);
        n = ks__kcat(buf, n, sizeof buf, "|g", 2);
        ks__xadd(f, fp, st, ks__xid_locked(f, buf, n), t_s);
        return;
    }
    for (int i = 0; i < 3; i++) {
        if (gids[i] < 0)
            continue;
        uint32_t x = KS_NAMES_NONE;
        pthread_mutex_lock(&f->rec_mu);
        uint32_t d = ks__gid_dim(f, (unsigned)gids[i]);
        if (d != KS_NAMES_NONE) {
            const char *dim = ks_names_str(&f->dims, d);
            n = ks__kcat(buf, 0, sizeof buf, "rt:", 3);
            n = ks__kcat(buf, n, sizeof buf, k, kl);
            n = ks__kcat(buf, n, sizeof buf, "|", 1);
            n = ks__kcat(buf, n, sizeof buf, dim, strlen(dim));
            x = ks__xid(f, buf, n);
        }
        pthread_mutex_unlock(&f->rec_mu);
        if (d != KS_NAMES_NONE)
            ks__xadd(f, fp, st, x, t_s);
    }
}

/* --- computing a share --- */

static int ks__put(ks_flusher *f, uint32_t fid, int64_t v)
{
    if (fid == KS_NAMES_NONE)
        return KS_ERR_NOMEM;
    if (v == 0)
        return 0;
    if (f->stamp[fid] != f->pass) {
        if (f->ntouched == f->captouched) {
            uint32_t cap = f->captouched ? f->captouched * 2 : 4096;
            /* The second half is the sort's scratch (ks__sort_fids). */
            uint32_t *nt = realloc(f->touched, (size_t)cap * 2 * sizeof *nt);
            if (!nt)
                return KS_ERR_NOMEM;
            f->touched = nt;
            f->captouched = cap;
        }
        f->stamp[fid] = f->pass;
        f->cur[fid] = 0;
        f->touched[f->ntouched++] = fid;
    }
    f->cur[fid] += v;
    return 0;
}

/* Sorts a[0..n) ascending by radix (a byte a pass, only as many passes as
 * the largest id needs), using tmp[0..n). A share touches about a thousand
 * fields per partition and flush; qsort's calls through a comparator were
 * most of the sorting in a catch-up's profile. */
static void ks__sort_fids(uint32_t *a, uint32_t *tmp, uint32_t n)
{
    uint32_t any = 0;
    for (uint32_t i = 0; i < n; i++)
        any |= a[i];
    uint32_t *src = a, *dst = tmp;
    for (int shift = 0; shift < 32 && (any >> shift) != 0; shift += 8) {
        uint32_t pos[256] = {0};
        for (uint32_t i = 0; i < n; i++)
            pos[(src[i] >> shift) & 255]++;
        for (uint32_t d = 0, at = 0; d < 256; d++) {
            uint32_t c = pos[d];
            pos[d] = at;
            at += c;
        }
        for (uint32_t i = 0; i < n; i++)
            dst[pos[(src[i] >> shift) & 255]++] = src[i];
        uint32_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, (size_t)n * sizeof *a);
}

static unsigned ks__group_gid(const ks_pstate *st, const ks_group *g)
{
    if (g == &st->global)
        return KS_GID_GLOBAL;
    if (g >= st->segments && g < st->segments + st->sh->segments.max)
        return (unsigned)(KS_GID_SEGMENT0 + (g - st->segments));
    return (unsigned)(KS_GID_CHANNEL0 + (g - st->channels));
}

/* Computes st's share now into out (sorted by field id). */
static int ks__share(ks_flusher *f, ks_fpart *fp, ks_pstate *st, ks_share *out)
{
    const ks_config *cfg = f->cfg;
    f->pass++;
    if (f->pass == 0) { /* wrapped: no stale stamp may match */
        memset(f->stamp, 0, (size_t)f->capf * sizeof *f->stamp);
        f->pass = 1;
    }
    f->ntouched = 0;
    int rc = 0;
    for (int k = 0; k < 3 && rc == 0; k++) {
        int64_t v = k == 0 ? st->meta.processed : k == 1 ? st->meta.rejected : st->meta.duplicates;
        rc = ks__put(f, f->meta_fid[k], v);
    }
    if (st->clock_ms != INT64_MIN) {
        int64_t clock_s = st->clock_ms / 1000;
        for (int i = 0; i < st->nused && rc == 0; i++) {
            ks_group *g = st->used[i];
            if (!g->used)
                continue;
            uint32_t d = ks__gid_dim(f, ks__group_gid(st, g));
            if (d == KS_NAMES_NONE)
                return KS_ERR_NOMEM;
            for (int w = 0; w < cfg->nwindows && rc == 0; w++) {
                ks_bucket s;
                memset(&s, 0, sizeof s);
                ks_series_sum_window(&g->win[w], clock_s, &s);
                for (int k = 0; k < KS_C__COUNT && rc == 0; k++)
                    if (s.v[k])
                        rc = ks__put(f, ks__ctr_fid(f, d, w, k), s.v[k]);
                if (rc == 0)
                    rc = ks__put(f, ks__ctr_fid(f, d, w, KS_C__COUNT),
                                 g->base - ks_series_future_count(&g->win[w], clock_s,
                                                                  KS_C_BASE_DELTA));
            }
        }
        if (fp->xs_init) {
            int64_t nc[KS_MAX_WINDOWS];
            for (int w = 0; w < cfg->nwindows; w++)
                nc[w] = ks__fdiv(clock_s, ks__width_s(cfg, w));
            ks_u64map *m = &fp->xs;
            for (size_t i = 0; i < m->cap && rc == 0; i++) {
                if (m->slots[i].key < 2)
                    continue;
                uint32_t xid;
                int w;
                int64_t n;
                ks__xunkey(m->slots[i].key, &xid, &w, &n);
                if (n <= nc[w] - KS_WINDOW_BUCKETS)
                    ks_u64map_del(m, m->slots[i].key); /* left the window for good */
                else if (n <= nc[w])
                    rc = ks__put(f, ks__x_fid(f, xid, w), m->slots[i].v.a);
            }
        }
    }
    if (rc < 0)
        return rc;
    if (f->ntouched)
        ks__sort_fids(f->touched, f->touched + f->captouched, f->ntouched);
    if (ks__share_reserve(out, f->ntouched) < 0)
        return KS_ERR_NOMEM;
    out->n = 0;
    for (uint32_t i = 0; i < f->ntouched; i++) {
        uint32_t fid = f->touched[i];
        if (f->cur[fid])
            out->e[out->n++] = (ks_share_ent){fid, f->cur[fid]};
    }
    return 0;
}

int ks_flusher_baseline(ks_flusher *f, ks_fpart *fp, ks_pstate *st, int64_t next_offset)
{
    int rc = ks__share(f, fp, st, &fp->confirmed);
    fp->sent_offset = next_offset;
    fp->sent_clock = st->clock_ms;
    fp->try_token[0] = '\0';
    fp->in_try = false;
    return rc;
}

/* --- reading the group state --- */

void ks_flusher_read_cmds(const ks_flusher *f, ks_batch *b)
{
    ks_batch_cmd(b);
    ks_batch_str(b, "WATCH");
    ks_batch_fmt(b, "%sagg:state", f->cfg->prefix);
    ks_batch_cmd(b);
    ks_batch_str(b, "HGETALL");
    ks_batch_fmt(b, "%sagg:state", f->cfg->prefix);
}

static void ks__swap(ks_share *a, ks_share *b)
{
    ks_share t = *a;
    *a = *b;
    *b = t;
}

/* The attempt in flight went through: it is what Redis holds. */
static void ks__confirm(ks_fpart *fp)
{
    ks__swap(&fp->confirmed, &fp->attempt);
    snprintf(fp->token, sizeof fp->token, "%s", fp->try_token);
    fp->try_token[0] = '\0';
    fp->sent_offset = fp->try_offset;
    fp->sent_clock = fp->try_clock;
    fp->in_try = false;
}

/* Adds a to *s, or fails on overflow. */
static int ks__add_checked(int64_t *s, int64_t a)
{
    return __builtin_add_overflow(*s, a, s) ? KS_ERR_RANGE : 0;
}

int ks_flusher_prepare(ks_flusher *f, const char *const *s, const size_t *l, size_t n,
                       ks_flush_view *parts, int nparts, int64_t clock_ms, const char *member,
                       uint64_t *seq, void (*fence)(void *ctx, int i), void *ctx,
                       ks_flush_info *out, char *errstr, size_t errsize)
{
    const ks_config *cfg = f->cfg;
    memset(out, 0, sizeof *out);
    /* The sums as Redis holds them. */
    memset(f->sum, 0, (size_t)f->capf * sizeof *f->sum);
    int64_t gclock = INT64_MIN;
    for (int w = 0; w < KS_MAX_WINDOWS; w++)
        f->hmax[w] = INT64_MIN;
    char held[nparts > 0 ? nparts : 1][64];
    for (int i = 0; i < nparts; i++)
        held[i][0] = '\0';
    for (size_t i = 0; i + 1 < n; i += 2) {
        if (l[i] > 4 && memcmp(s[i], "tok:", 4) == 0) {
            for (int p = 0; p < nparts; p++)
                if (strlen(parts[p].id) == l[i] - 4 && memcmp(parts[p].id, s[i] + 4, l[i] - 4) == 0)
                    snprintf(held[p], sizeof held[p], "%.*s", (int)(l[i + 1] < 63 ? l[i + 1] : 63),
                             s[i + 1]);
            continue;
        }
        if ((l[i] > 4 && memcmp(s[i], "off:", 4) == 0) || (l[i] > 3 && memcmp(s[i], "pc:", 3) == 0))
            continue;
        uint32_t fid = ks__field(f, s[i], l[i]);
        if (fid == KS_NAMES_NONE)
            return KS_ERR_NOMEM;
        int64_t v = ks__ll(s[i + 1], l[i + 1]);
        f->sum[fid] = v;
        if (fid == f->clock_fid)
            gclock = v;
        for (int w = 0; w < cfg->nwindows; w++)
            if (fid == f->hmax_fid[w])
                f->hmax[w] = v;
    }
    /* Tokens: ours, our last attempt's (it went through; its reply was
     * lost), or another member's (fenced). */
    for (int i = 0; i < nparts; i++) {
        ks_fpart *fp = parts[i].fp;
        fp->ok = false;
        fp->in_try = false;
        if (fp->fenced || parts[i].st->replaying)
            continue;
        if (fp->try_token[0] && strcmp(held[i], fp->try_token) == 0)
            ks__confirm(fp);
        if (strcmp(held[i], fp->token) != 0) {
            fp->fenced = true;
            fence(ctx, i);
            continue;
        }
        fp->ok = true;
    }
    /* The group clock after this flush. */
    int64_t g = gclock;
    if (clock_ms != INT64_MIN && clock_ms > g)
        g = clock_ms;
    out->group_clock_ms = g;
    f->group_clock_ms = g;
    /* Shares: what changed since Redis took each partition's last one. */
    memcpy(f->next, f->sum, (size_t)f->fields.n * sizeof *f->next);
    for (int i = 0; i < nparts; i++) {
        ks_fpart *fp = parts[i].fp;
        if (!fp->ok)
            continue;
        int rc = ks__share(f, fp, parts[i].st, &fp->attempt);
        if (rc < 0)
            return rc;
        if (f->capf < f->fields.n) /* new fields: next must cover them */
            return KS_ERR_NOMEM;
        bool changed = false;
        const ks_share *a = &fp->attempt, *c = &fp->confirmed;
        uint32_t x = 0, y = 0;
        while (x < a->n || y < c->n) {
            uint32_t fid;
            int64_t d;
            if (y >= c->n || (x < a->n && a->e[x].fid < c->e[y].fid)) {
                fid = a->e[x].fid;
                d = a->e[x++].v;
            } else if (x >= a->n || c->e[y].fid < a->e[x].fid) {
                fid = c->e[y].fid;
                d = -c->e[y++].v;
            } else {
                fid = a->e[x].fid;
                if (__builtin_sub_overflow(a->e[x].v, c->e[y].v, &d))
                    goto overflow;
                x++;
                y++;
            }
            if (d == 0)
                continue;
            changed = true;
            if (ks__add_checked(&f->next[fid], d) < 0) {
            overflow:
                snprintf(errstr, errsize,
                         "the group sum of %s would overflow 64 bits: not written (values out of "
                         "the documented range reached the state)",
                         ks_names_str(&f->fields, fid));
                return KS_ERR_RANGE;
            }
            uint8_t k = f->desc[fid].kind;
            if (k == KS_FK_TP || k == KS_FK_TC)
                f->top_dirty[f->desc[fid].w] = true;
        }
        int64_t pc = parts[i].st->clock_ms;
        if (changed || parts[i].next_offset != fp->sent_offset || pc != fp->sent_clock) {
            fp->in_try = true;
            fp->try_offset = parts[i].next_offset;
            fp->try_clock = pc;
            snprintf(fp->try_token, sizeof fp->try_token, "%s:%llu", member,
                     (unsigned long long)++*seq);
        }
    }
    /* The 30-day churn rate of the global hash, for the customers' clv. */
    uint32_t gd = ks_names_find(&f->dims, "g", 1);
    for (int w = 0; w < cfg->nwindows && gd != KS_NAMES_NONE; w++) {
        if (strcmp(cfg->windows[w].name, "30d") != 0)
            continue;
        uint32_t cf = f->dim_fid[gd][w][KS_C_CHURNED], bf = f->dim_fid[gd][w][KS_C__COUNT],
                 df = f->dim_fid[gd][w][KS_C_BASE_DELTA];
        int64_t churned = cf ? f->next[cf - 1] : 0, end = bf ? f->next[bf - 1] : 0,
                delta = df ? f->next[df - 1] : 0;
        int64_t start = end - delta;
        out->has_churn30 = true;
        out->churn30 = start > 0 ? (double)churned / (double)start : 0.0;
    }
    return 0;
}

/* --- writing --- */

/* Appends a field (and the caller its value), starting a new command every
 * `chunk` fields (0: never; the group state is one HSET, applied whole). */
typedef struct ks__hset {
    ks_batch *b;
    const char *key;
    const char *cmd;
    int n;
    int chunk;
} ks__hset;

static void ks__hs_field(ks__hset *h, const char *f, size_t fl)
{
    if (h->n == 0 || (h->chunk && h->n % h->chunk == 0)) {
        ks_batch_cmd(h->b);
        ks_batch_str(h->b, h->cmd);
        ks_batch_str(h->b, h->key);
    }
    h->n++;
    ks_batch_arg(h->b, f, fl);
}

typedef struct ks__dimacc {
    ks_bucket win[KS_MAX_WINDOWS];
    int64_t base_end[KS_MAX_WINDOWS];
    ks_ddsketch *rt[KS_MAX_WINDOWS], *ov[KS_MAX_WINDOWS];
    bool listed;
} ks__dimacc;

static int ks__sketch_add(ks_ddsketch **sk, int64_t key, int64_t v)
{
    /* A count beyond 2^48 (or below 1) was not written by a flush. */
    if (v <= 0 || v > (1LL << 48))
        return 0;
    if (!*sk) {
        char err[64];
        *sk = ks_ddsketch_new(KS_DDSKETCH_DEFAULT_ALPHA, 0, err, sizeof err);
        if (!*sk)
            return KS_ERR_NOMEM;
    }
    ks_ddsketch_add_key(*sk, key, (uint64_t)v);
    return 0;
}

/* The KPI hash of one dim: every KPI of every window; absent ratios HDELeted. */
static void ks__kpi_hash(ks_batch *b, const ks_config *cfg, const char *key, const ks__dimacc *a,
                         int kind)
{
    ks_kpi_params prm = {cfg->gross_margin, cfg->min_churn};
    static const double q[3] = {0.50, 0.90, 0.99};
    ks__hset set = {b, key, "HSET", 0, 512}, del = {b, key, "HDEL", 0, 512};
    char val[32], name[96];
    /* HDELs after the HSETs: collect them first. */
    bool absent[KS_MAX_WINDOWS][KS_KPI__COUNT];
    for (int w = 0; w < cfg->nwindows; w++) {
        ks_kpi_input in;
        memset(&in, 0, sizeof in);
        in.sum = a->win[w];
        in.base_end = a->base_end[w];
        /* Sums come back from Redis, which a user with write access to the
         * prefix can fill with anything: saturate rather than overflow. */
        if (__builtin_sub_overflow(in.base_end, a->win[w].v[KS_C_BASE_DELTA], &in.base_start))
            in.base_start = in.base_end < 0 ? INT64_MIN : INT64_MAX;
        in.clv_window = strcmp(cfg->windows[w].name, "30d") == 0;
        for (int i = 0; i < 3 && a->rt[w]; i++)
            in.has_response = ks_ddsketch_quantile(a->rt[w], q[i], &in.response[i]);
        for (int i = 0; i < 3 && kind == 0 && a->ov[w]; i++)
            in.has_order_value = ks_ddsketch_quantile(a->ov[w], q[i], &in.order_value[i]);
        ks_kpi_values v;
        ks_kpi_compute(&in, &prm, &v);
        for (int k = 0; k < KS_KPI__COUNT; k++) {
            absent[w][k] = !v.present[k];
            if (!v.present[k])
                continue;
            int nl = snprintf(name, sizeof name, "%s:%s", ks_kpi_name((ks_kpi)k), cfg->windows[w].name);
            ks__hs_field(&set, name, (size_t)nl);
            ks_kpi_format_value(&v, (ks_kpi)k, val, sizeof val);
            ks_batch_str(b, val);
        }
    }
    for (int w = 0; w < cfg->nwindows; w++)
        for (int k = 0; k < KS_KPI__COUNT; k++)
            if (absent[w][k]) {
                int nl = snprintf(name, sizeof name, "%s:%s", ks_kpi_name((ks_kpi)k),
                                  cfg->windows[w].name);
                ks__hs_field(&del, name, (size_t)nl);
            }
}

typedef struct ks__topit {
    int64_t count;
    const char *name;
    uint32_t len;
} ks__topit;

static int ks__top_cmp(const void *x, const void *y)
{
    const ks__topit *a = x, *b = y;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    /* Ties: reverse byte order, as Redis's ZREVRANGE lists equal scores. */
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->name, b->name, n);
    if (c)
        return -c;
    return a->len > b->len ? -1 : a->len < b->len;
}

/* At most this many expired HLL buckets are deleted per window and flush. */
#define KS__HLL_DEL_MAX 10000

/* A customer to add to the HLLs: its latest event's time, where it is. */
typedef struct ks__hcust {
    int64_t t_s;
    uint32_t part, cust;
} ks__hcust;

/* A customer to add to the HLL of one window's bucket n. */
typedef struct ks__hadd {
    int64_t n;
    uint32_t part, cust;
} ks__hadd;

static int ks__hadd_cmp(const void *x, const void *y)
{
    const ks__hadd *a = x, *b = y;
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    if (a->part != b->part)
        return a->part < b->part ? -1 : 1;
    return a->cust < b->cust ? -1 : a->cust > b->cust;
}

/* Buckets a window's entries may span for ks__hadd_window's counting sort:
 * a window plus what partitions read ahead of the clock, in practice. */
#define KS__HADD_SPAN 65536

/* Fills v with the customers of hc whose bucket of width `width` is after
 * `behind`, ordered by bucket, equal buckets in hc's order: a counting sort
 * (a qsort over every changed customer and window was 2.6 % of a live run's
 * CPU), or qsort when the buckets span more than KS__HADD_SPAN (cnt has
 * KS__HADD_SPAN + 1 entries). One window at a time, from one compact list:
 * a catch-up's largest flush held 19 MB of (window, bucket) entries for
 * every window at once, and peak RSS is reached there. Returns the count. */
static size_t ks__hadd_window(const ks__hcust *hc, size_t nh, int64_t width, int64_t behind,
                              ks__hadd *v, uint32_t *cnt)
{
    size_t nv = 0;
    int64_t mn = INT64_MAX, mx = INT64_MIN, span;
    for (size_t i = 0; i < nh; i++) {
        int64_t n = ks__fdiv(hc[i].t_s, width);
        if (n <= behind)
            continue; /* behind the group's window: counts nowhere */
        mn = n < mn ? n : mn;
        mx = n > mx ? n : mx;
        nv++;
    }
    if (nv == 0)
        return 0;
    if (__builtin_sub_overflow(mx, mn, &span) || span >= KS__HADD_SPAN) {
        size_t k = 0;
        for (size_t i = 0; i < nh; i++) {
            int64_t n = ks__fdiv(hc[i].t_s, width);
            if (n > behind)
                v[k++] = (ks__hadd){n, hc[i].part, hc[i].cust};
        }
        qsort(v, nv, sizeof *v, ks__hadd_cmp);
        return nv;
    }
    memset(cnt, 0, ((size_t)span + 2) * sizeof *cnt);
    for (size_t i = 0; i < nh; i++) {
        int64_t n = ks__fdiv(hc[i].t_s, width);
        if (n > behind)
            cnt[n - mn + 1]++;
    }
    for (int64_t k = 0; k <= span; k++)
        cnt[k + 1] += cnt[k];
    for (size_t i = 0; i < nh; i++) {
        int64_t n = ks__fdiv(hc[i].t_s, width);
        if (n > behind)
            v[cnt[n - mn]++] = (ks__hadd){n, hc[i].part, hc[i].cust};
    }
    return nv;
}

static void ks__hll(ks_flusher *f, ks_flush_view *parts, int nparts, ks_batch *b, int64_t old_g,
                    bool all)
{
    const ks_config *cfg = f->cfg;
    int64_t g = f->group_clock_ms;
    if (g == INT64_MIN)
        return;
    size_t cap = 0;
    for (int i = 0; i < nparts; i++)
        if (parts[i].fp->ok)
            cap += parts[i].st->ndirty;
    ks__hcust *hc = cap ? malloc(cap * sizeof *hc) : NULL;
    ks__hadd *v = cap ? malloc(cap * sizeof *v) : NULL;
    uint32_t *bcnt = cap ? malloc((KS__HADD_SPAN + 1) * sizeof *bcnt) : NULL;
    if (cap && (!hc || !v || !bcnt)) {
        free(hc);
        free(v);
        free(bcnt);
        b->failed = 1;
        return;
    }
    size_t nh = 0;
    for (int i = 0; i < nparts; i++) {
        ks_pstate *st = parts[i].st;
        if (!parts[i].fp->ok)
            continue;
        for (uint32_t d = 0; d < st->ndirty; d++) {
            ks_customer *c = &st->cust[st->dirty[d]];
            /* Only customers with an event since their last flush: a
             * customer dirty because a day boundary moved their rolling
             * fields is in the bucket of their latest event already. After
             * a lost flush (all) every dirty customer goes again. */
            if (!(c->flags & KS_CUST_EVENT) && !all)
                continue;
            c->flags &= (uint8_t)~KS_CUST_EVENT;
            hc[nh++] = (ks__hcust){c->last_event_ms / 1000, (uint32_t)i, st->dirty[d]};
        }
    }
    int64_t newmax[KS_MAX_WINDOWS];
    for (int w = 0; w < cfg->nwindows; w++) {
        newmax[w] = f->hmax[w];
        int64_t width = ks__width_s(cfg, w);
        size_t nv = ks__hadd_window(hc, nh, width, ks__fdiv(g / 1000, width) - KS_WINDOW_BUCKETS,
                                    v, bcnt);
        for (size_t i = 0; i < nv;) {
            size_t j = i;
            while (j < nv && j - i < 1000 && v[j].n == v[i].n) {
                if (j == i) {
                    ks_batch_cmd(b);
                    ks_batch_str(b, "PFADD");
                    ks_batch_fmt(b, "%sagg:h:%s:%lld", cfg->prefix, cfg->windows[w].name,
                                 (long long)v[i].n);
                }
                uint32_t idlen;
                const ks_pstate *st = parts[v[j].part].st;
                const char *id = ks_pstate_customer_id(st, &st->cust[v[j].cust], &idlen);
                ks_batch_arg(b, id, idlen);
                j++;
            }
            if (v[i].n > newmax[w])
                newmax[w] = v[i].n;
            i = j;
        }
    }
    free(hc);
    free(bcnt);
    free(v);
    for (int w = 0; w < cfg->nwindows; w++) {
        int64_t width = ks__width_s(cfg, w);
        int64_t nn = ks__fdiv(g / 1000, width);
        /* Buckets that left the window: (old - 60, new - 60], only up to the
         * highest ever written (so a jump of months costs nothing). */
        if (old_g != INT64_MIN && f->hmax[w] != INT64_MIN) {
            int64_t lo = ks__fdiv(old_g / 1000, width) - KS_WINDOW_BUCKETS + 1;
            int64_t hi = nn - KS_WINDOW_BUCKETS;
            if (hi > f->hmax[w])
                hi = f->hmax[w];
            /* Consistent state keeps this to about a window plus the buckets
             * ahead of the clock; a group state written by someone else must
             * not turn it into billions of DELs. */
            if (hi > lo && hi - lo > KS__HLL_DEL_MAX) {
                ks_warn("flush: the group clock in %sagg:state is %lld buckets of %s behind; "
                        "deleting only the last %d HLL buckets",
                        cfg->prefix, (long long)(hi - lo), cfg->windows[w].name, KS__HLL_DEL_MAX);
                lo = hi - KS__HLL_DEL_MAX;
            }
            int cnt = 0;
            for (int64_t x = lo; x <= hi; x++) {
                if (cnt++ % 256 == 0) {
                    ks_batch_cmd(b);
                    ks_batch_str(b, "DEL");
                }
                ks_batch_fmt(b, "%sagg:h:%s:%lld", cfg->prefix, cfg->windows[w].name, (long long)x);
            }
        }
        if (newmax[w] != f->hmax[w]) {
            char num[24];
            snprintf(num, sizeof num, "%lld", (long long)newmax[w]);
            ks_batch_cmd(b);
            ks_batch_str(b, "HSET");
            ks_batch_fmt(b, "%sagg:state", cfg->prefix);
            ks_batch_fmt(b, "hmax:%s", cfg->windows[w].name);
            ks_batch_str(b, num);
            f->hmax[w] = newmax[w];
        }
        /* The window's HLL: a union of its buckets (missing ones are empty). */
        ks_batch_cmd(b);
        ks_batch_str(b, "DEL");
        ks_batch_fmt(b, "%shll:active:%s", cfg->prefix, cfg->windows[w].name);
        ks_batch_cmd(b);
        ks_batch_str(b, "PFMERGE");
        ks_batch_fmt(b, "%shll:active:%s", cfg->prefix, cfg->windows[w].name);
        for (int64_t x = nn - KS_WINDOW_BUCKETS + 1; x <= nn; x++)
            ks_batch_fmt(b, "%sagg:h:%s:%lld", cfg->prefix, cfg->windows[w].name, (long long)x);
    }
}

int ks_flusher_emit(ks_flusher *f, ks_flush_view *parts, int nparts, ks_batch *b, int64_t wall_ms,
                    bool all_hll)
{
    const ks_config *cfg = f->cfg;
    const char *P = cfg->prefix;
    char key[512], num[32];
    snprintf(key, sizeof key, "%sagg:state", P);
    /* The group state, in one HSET: sums, dims, clock, the partitions'
     * tokens, offsets and clocks. One command is applied whole or not. */
    ks__hset set = {b, key, "HSET", 0, 0};
    int64_t old_g = INT64_MIN;
    if (f->sum[f->clock_fid])
        old_g = f->sum[f->clock_fid];
    int ndel = 0;
    for (uint32_t fid = 0; fid < f->fields.n; fid++) {
        uint8_t k = f->desc[fid].kind;
        if (k == KS_FK_BOOK || f->next[fid] == f->sum[fid])
            continue;
        if (f->next[fid] == 0) {
            ndel++;
            continue;
        }
        ks__hs_field(&set, ks_names_str(&f->fields, fid), f->fields.len[fid]);
        ks_batch_i64(b, f->next[fid]);
    }
    /* Dims with sums get a KPI hash, kept current from then on. */
    bool *has_dim = calloc(f->dims.n ? f->dims.n : 1, sizeof *has_dim);
    if (!has_dim)
        return KS_ERR_NOMEM;
    for (uint32_t fid = 0; fid < f->fields.n; fid++) {
        const ks_fdesc *d = &f->desc[fid];
        if (d->kind == KS_FK_DIM && f->sum[fid])
            has_dim[d->dim] = true;
    }
    for (uint32_t fid = 0; fid < f->fields.n; fid++) {
        const ks_fdesc *d = &f->desc[fid];
        if ((d->kind == KS_FK_CTR || d->kind == KS_FK_BASE_END) && f->next[fid] && !has_dim[d->dim]) {
            has_dim[d->dim] = true;
            char dn[256];
            int dl = snprintf(dn, sizeof dn, "dim|%s", ks_names_str(&f->dims, d->dim));
            if (dl > 0 && (size_t)dl < sizeof dn) {
                ks__hs_field(&set, dn, (size_t)dl);
                ks_batch_str(b, "1");
            }
        }
    }
    if (f->group_clock_ms != INT64_MIN && f->group_clock_ms != old_g) {
        ks__hs_field(&set, "clock_ms", 8);
        ks_batch_i64(b, f->group_clock_ms);
    }
    char fb[400];
    for (int i = 0; i < nparts; i++) {
        const ks_fpart *fp = parts[i].fp;
        if (!fp->in_try)
            continue;
        int n = snprintf(fb, sizeof fb, "tok:%s", parts[i].id);
        ks__hs_field(&set, fb, (size_t)n);
        ks_batch_str(b, fp->try_token);
        if (fp->try_offset >= 0) {
            n = snprintf(fb, sizeof fb, "off:%s", parts[i].id);
            ks__hs_field(&set, fb, (size_t)n);
            ks_batch_i64(b, fp->try_offset);
        }
        if (fp->try_clock != INT64_MIN) {
            n = snprintf(fb, sizeof fb, "pc:%s", parts[i].id);
            ks__hs_field(&set, fb, (size_t)n);
            ks_batch_i64(b, fp->try_clock);
        }
    }
    /* Sums that reached 0 go; a failure here would only leave a "0". */
    if (ndel) {
        ks_batch_cmd(b);
        ks_batch_str(b, "HDEL");
        ks_batch_str(b, key);
        for (uint32_t fid = 0; fid < f->fields.n; fid++)
            if (f->desc[fid].kind != KS_FK_BOOK && f->next[fid] == 0 && f->sum[fid] != 0)
                ks_batch_arg(b, ks_names_str(&f->fields, fid), f->fields.len[fid]);
    }
    /* The offsets per group, as before (readers, tools); restore reads the state. */
    ks__hset off = {b, key, "HSET", 0, 512};
    char okey[512];
    snprintf(okey, sizeof okey, "%soffsets:%s", P, cfg->group);
    off.key = okey;
    for (int i = 0; i < nparts; i++)
        if (parts[i].fp->in_try && parts[i].fp->try_offset >= 0) {
            ks__hs_field(&off, parts[i].id, strlen(parts[i].id));
            ks_batch_i64(b, parts[i].fp->try_offset);
        }
    ks__hll(f, parts, nparts, b, old_g, all_hll);
    /* kpi:meta */
    ks_batch_cmd(b);
    ks_batch_str(b, "HSET");
    ks_batch_fmt(b, "%smeta", P);
    for (int k = 0; k < 3; k++) {
        ks_batch_str(b, ks__meta_names[k]);
        ks_batch_i64(b, f->next[f->meta_fid[k]]);
    }
    if (f->group_clock_ms != INT64_MIN) {
        ks_batch_str(b, "clock_ms");
        ks_batch_i64(b, f->group_clock_ms);
    }
    ks_batch_str(b, "updated_at_ms");
    snprintf(num, sizeof num, "%lld", (long long)wall_ms);
    ks_batch_str(b, num);
    ks_batch_str(b, "version");
    ks_batch_str(b, KS_VERSION);
    /* KPI hashes of every dim, from the sums after this flush. */
    ks__dimacc *acc = calloc(f->dims.n ? f->dims.n : 1, sizeof *acc);
    int rc = acc ? 0 : KS_ERR_NOMEM;
    for (uint32_t fid = 0; fid < f->fields.n && rc == 0; fid++) {
        const ks_fdesc *d = &f->desc[fid];
        int64_t v = f->next[fid];
        if (!v)
            continue;
        switch (d->kind) {
        case KS_FK_CTR:
            acc[d->dim].win[d->w].v[d->k] = v;
            break;
        case KS_FK_BASE_END:
            acc[d->dim].base_end[d->w] = v;
            break;
        case KS_FK_RT:
            rc = ks__sketch_add(&acc[d->dim].rt[d->w], d->key, v);
            break;
        case KS_FK_OV:
            rc = ks__sketch_add(&acc[d->dim].ov[d->w], d->key, v);
            break;
        default:
            break;
        }
    }
    for (uint32_t d = 0; d < f->dims.n && rc == 0; d++) {
        if (!has_dim[d])
            continue;
        const char *name = ks_names_str(&f->dims, d);
        int kind = name[0] == 'g' ? 0 : name[0] == 's' ? 1 : 2;
        if (kind == 0)
            snprintf(key, sizeof key, "%sglobal", P);
        else
            snprintf(key, sizeof key, "%s%s:%s", P, kind == 1 ? "segment" : "channel", name + 2);
        ks__kpi_hash(b, cfg, key, &acc[d], kind);
    }
    for (uint32_t d = 0; acc && d < f->dims.n; d++)
        for (int w = 0; w < KS_MAX_WINDOWS; w++) {
            ks_ddsketch_free(acc[d].rt[w]);
            ks_ddsketch_free(acc[d].ov[w]);
        }
    free(acc);
    free(has_dim);
    if (rc < 0)
        return rc;
    /* Top-k lists of the windows whose item counts changed. */
    int k = cfg->top_k > 0 ? cfg->top_k : 10;
    for (int w = 0; w < cfg->nwindows; w++) {
        if (!f->top_dirty[w] && !f->first)
            continue;
        for (int kind = KS_FK_TP; kind <= KS_FK_TC; kind++) {
            size_t nt = 0, capt = 64;
            ks__topit *t = malloc(capt * sizeof *t);
            if (!t)
                return KS_ERR_NOMEM;
            for (uint32_t fid = 0; fid < f->fields.n; fid++) {
                const ks_fdesc *d = &f->desc[fid];
                if (d->kind != kind || d->w != w || f->next[fid] <= 0)
                    continue;
                if (nt == capt) {
                    ks__topit *nt2 = realloc(t, (capt *= 2) * sizeof *t);
                    if (!nt2) {
                        free(t);
                        return KS_ERR_NOMEM;
                    }
                    t = nt2;
                }
                t[nt++] = (ks__topit){f->next[fid], ks_names_str(&f->fields, fid) + d->item,
                                      f->fields.len[fid] - d->item};
            }
            if (nt)
                qsort(t, nt, sizeof *t, ks__top_cmp);
            snprintf(key, sizeof key, "%stop:%s:%s", P, kind == KS_FK_TP ? "product" : "complaint_category",
                     cfg->windows[w].name);
            ks_batch_cmd(b);
            ks_batch_str(b, "DEL");
            ks_batch_str(b, key);
            if (nt) {
                ks_batch_cmd(b);
                ks_batch_str(b, "ZADD");
                ks_batch_str(b, key);
                for (size_t i = 0; i < nt && i < (size_t)k; i++) {
                    ks_batch_i64(b, t[i].count);
                    ks_batch_arg(b, t[i].name, t[i].len);
                }
            }
            free(t);
        }
    }
    if (b->ncmds > f->max_cmds)
        f->max_cmds = b->ncmds;
    return b->failed ? KS_ERR_NOMEM : 0;
}

void ks_flusher_done(ks_flusher *f, ks_flush_view *parts, int nparts)
{
    for (int i = 0; i < nparts; i++)
        if (parts[i].fp->in_try)
            ks__confirm(parts[i].fp);
    f->first = false;
    for (int w = 0; w < KS_MAX_WINDOWS; w++)
        f->top_dirty[w] = false;
}

/* --- sketch counts by name (partition snapshots, engine_snap.c) --- */

uint32_t ks_flusher_xname_id(ks_flusher *f, const char *name, size_t len)
{
    return ks__xid(f, name, len);
}

uint64_t ks_flusher_xkey(uint32_t xid, int w, int64_t n)
{
    return ks__xkey(xid, w, n);
}

void ks_flusher_xunkey(uint64_t key, uint32_t *xid, int *w, int64_t *n)
{
    ks__xunkey(key, xid, w, n);
}
