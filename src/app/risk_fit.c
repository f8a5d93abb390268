/* `kpistream risk-fit`: learn the churn-risk score from the stream's own
 * history (issue 15; docs/churn-risk.md, "Fitted model").
 *
 *   history (JSON lines) --> ks_engine (event clock, one partition)
 *        every risk evaluation --tap--> per-customer churn moments
 *        every daily re-scoring --tap--> a sample: (customer, day, features)
 *   end of history --> labels --> split by customer --> fit, calibrate,
 *   choose thresholds (validation) --> measure (test) --> model JSON
 *
 * Labels need no outside truth: a sample of customer c at day boundary t is
 * positive if c cancels in (t, t+H], or c's last event before a silence of
 * churn_inactivity or more falls in (t - churn_inactivity, t+H] (the silence
 * has begun or begins within H, and the engine has not yet called it churn).
 * A sample whose label the history cannot tell yet (t+H past its end, or a
 * silence still running at its end) is dropped, never guessed.
 *
 * The inputs are the engine's own (ks_engine_set_risk_tap()), so what is
 * fitted is what `run` scores. Customers, not samples, are split (60 % fit,
 * 20 % validation: calibration and thresholds, 20 % test: every figure
 * reported), so no customer's days are on both sides.
 *
 * The command's options are cmd_risk_fit.c.
 */
#include "app/internal.h"

#include "kpistream/config.h"
#include "kpistream/engine.h"
#include "kpistream/err.h"
#include "kpistream/hash.h"
#include "kpistream/kafka_range.h"
#include "kpistream/log.h"
#include "kpistream/risk_fit.h"
#include "kpistream/risk_model.h"
#include "state/u64map.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KF_TOPIC "replay"
#define KF_WALL_MS 4102444800000LL /* 2100-01-01: no history is in its future */
#define KF_DAY_MS ((int64_t)86400000)
#define KF_STRIDE KS_RISK_MODEL_MAXF
#define KF_SPLIT_SEED 0x6b70692d73706c74ULL /* "kpi-splt": fixed, so splits repeat */

enum { KF_TRAIN = 0, KF_VALID = 1, KF_TEST = 2 };

typedef struct ks__cust {
    uint64_t hash;
    int64_t last_ev;  /* last event time seen at an event evaluation (0: none) */
    bool cancelled;   /* churned by a cancel, as last evaluated */
    uint8_t split;
} ks__cust;

typedef struct ks__churn {
    uint32_t cust;
    uint8_t silent;
    int64_t at_ms;    /* cancel time, or the last event before the silence */
} ks__churn;

typedef struct ks__fit {
    /* options */
    int64_t horizon_ms, warmup_ms, inactivity_ms;
    double sample_rate, l2, target_high, target_medium;
    bool eval_only;   /* --eval: score with the configured scorer, no fit */
    const ks_risk_params *rp;
    /* customers */
    ks_u64map idx;    /* id hash -> customer number + 1 */
    ks__cust *c;
    uint32_t nc, capc;
    ks__churn *ch;
    size_t nch, capch;
    /* segments seen (first 16, for the segment features) */
    char seg[KS_RISK_MODEL_SEGMENTS][129];
    int nseg;
    /* samples */
    float *x;         /* [n][KF_STRIDE] */
    uint32_t *scust;
    int64_t *st;
    uint8_t *sseg;    /* segment number, 255: none or past 16 */
    uint8_t *engine_score; /* the score the engine computed (hand weights, or --eval's model) */
    size_t ns, caps;
    int64_t first_ms, last_ms;
    bool oom;
} ks__fit;

static void ks__vsay(const char *fmt, va_list ap)
{
    fputs("kpistream risk-fit: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

int ks_risk_fit_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ks__vsay(fmt, ap);
    va_end(ap);
    return 1;
}

static void ks__fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void ks__fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ks__vsay(fmt, ap);
    va_end(ap);
    exit(1);
}

static void *ks__grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t n = *cap ? *cap * 2 : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(p, n * elem);
    if (!q) ks__fail("out of memory (%zu samples); pass --sample-rate below 1", need);
    *cap = n;
    return q;
}

static uint32_t ks__customer(ks__fit *f, const char *id, size_t len)
{
    uint64_t h = ks_hash64(id, len, 0);
    bool created;
    ks_u64map_val *v = ks_u64map_put(&f->idx, ks_u64map_key(h), &created);
    if (!v) ks__fail("out of memory (%u customers)", f->nc);
    if (!created) return (uint32_t)(v->a - 1);
    size_t cap = f->capc;
    f->c = ks__grow(f->c, &cap, (size_t)f->nc + 1, sizeof *f->c);
    f->capc = (uint32_t)cap;
    ks__cust *c = &f->c[f->nc];
    memset(c, 0, sizeof *c);
    c->hash = h;
    uint64_t s = ks_mix64(h ^ KF_SPLIT_SEED) % 100;
    c->split = s < 60 ? KF_TRAIN : s < 80 ? KF_VALID : KF_TEST;
    v->a = (int64_t)f->nc + 1;
    return f->nc++;
}

static void ks__churn_add(ks__fit *f, uint32_t cust, int64_t at, bool silent)
{
    f->ch = ks__grow(f->ch, &f->capch, f->nch + 1, sizeof *f->ch);
    f->ch[f->nch++] = (ks__churn){cust, silent, at};
}

static int ks__segment(ks__fit *f, const ks_risk_input *in)
{
    if (!in->segment) return 255;
    for (int k = 0; k < f->nseg; k++)
        if (strlen(f->seg[k]) == in->segment_len && !memcmp(f->seg[k], in->segment, in->segment_len))
            return k;
    if (f->nseg == KS_RISK_MODEL_SEGMENTS || in->segment_len >= sizeof f->seg[0]) return 255;
    memcpy(f->seg[f->nseg], in->segment, in->segment_len);
    f->seg[f->nseg][in->segment_len] = '\0';
    return f->nseg++;
}

/* The engine's tap: churn moments from event evaluations, samples from the
 * daily re-scoring. */
static void ks__tap(void *ctx, const char *id, size_t len, const ks_risk_input *in,
                    const ks_risk_result *res, bool timed)
{
    ks__fit *f = ctx;
    uint32_t ci = ks__customer(f, id, len);
    ks__cust *c = &f->c[ci];
    if (!timed) {
        if (in->clock_ms < f->first_ms) f->first_ms = in->clock_ms;
        if (in->clock_ms > f->last_ms) f->last_ms = in->clock_ms;
        /* A silence of churn_inactivity or more ended by this event was a churn
         * (unless it followed a cancel, which was the churn). */
        if (c->last_ev && !c->cancelled && in->last_event_ms - c->last_ev >= f->inactivity_ms)
            ks__churn_add(f, ci, c->last_ev, true);
        if (in->cancelled && !c->cancelled) ks__churn_add(f, ci, in->clock_ms, false);
        c->cancelled = in->cancelled;
        c->last_ev = in->last_event_ms;
        return;
    }
    if (in->churned || in->clock_ms < f->first_ms + f->warmup_ms) return;
    if (f->sample_rate < 1) {
        uint64_t h = ks_mix64(c->hash ^ (uint64_t)(in->clock_ms / KF_DAY_MS));
        if ((double)(h >> 11) / 9007199254740992.0 >= f->sample_rate) return;
    }
    size_t cap = f->caps;
    if (f->ns + 1 > cap) {
        f->scust = ks__grow(f->scust, &cap, f->ns + 1, sizeof *f->scust);
        cap = f->caps;
        f->st = ks__grow(f->st, &cap, f->ns + 1, sizeof *f->st);
        cap = f->caps;
        f->sseg = ks__grow(f->sseg, &cap, f->ns + 1, 1);
        cap = f->caps;
        f->engine_score = ks__grow(f->engine_score, &cap, f->ns + 1, 1);
        if (!f->eval_only) {
            cap = f->caps;
            f->x = ks__grow(f->x, &cap, f->ns + 1, sizeof(float) * KF_STRIDE);
        }
        f->caps = cap;
    }
    size_t i = f->ns++;
    f->scust[i] = ci;
    f->st[i] = in->clock_ms;
    f->sseg[i] = (uint8_t)ks__segment(f, in);
    f->engine_score[i] = (uint8_t)res->score;
    if (!f->eval_only) {
        double x[KS_RISK_MODEL_MAXF];
        ks_risk_features(in, f->rp, NULL, x);
        for (int k = 0; k < KS_RF__FIXED; k++)
            f->x[i * KF_STRIDE + (size_t)k] = (float)x[k];
    }
}

static int ks__cmp_churn(const void *a, const void *b)
{
    const ks__churn *x = a, *y = b;
    if (x->cust != y->cust) return x->cust < y->cust ? -1 : 1;
    return x->at_ms < y->at_ms ? -1 : x->at_ms > y->at_ms;
}

static int ks__cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Feeds one JSON-lines file through the engine. */
static void ks__replay(ks_engine *e, const char *path, int64_t *offset, uint64_t *rejected)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!in) ks__fail("%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, in)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0) continue;
        ks_reject why;
        if (ks_engine_process(e, KF_TOPIC, 0, (*offset)++, line, (size_t)n, KF_WALL_MS, &why) ==
            KS_REJECTED)
            ++*rejected;
        if (*offset % 1000 == 0) ks_engine_tick(e, KF_WALL_MS);
    }
    if (ferror(in)) ks__fail("%s: read error: %s", path, strerror(errno));
    free(line);
    if (in != stdin) fclose(in);
}

/* One message of a topic range into the engine. */
typedef struct ks__feed {
    ks_engine *e;
    uint64_t rejected, n;
} ks__feed;

static void ks__feed_msg(void *ctx, const char *topic, int32_t partition, int64_t offset,
                         const char *buf, size_t len)
{
    ks__feed *fd = ctx;
    ks_reject why;
    if (ks_engine_process(fd->e, topic, partition, offset, buf, len, KF_WALL_MS, &why) ==
        KS_REJECTED)
        fd->rejected++;
    if (++fd->n % 1000 == 0) ks_engine_tick(fd->e, KF_WALL_MS);
}

/* Label of sample i: 1, 0, or -1 (the history cannot tell yet). */
static int ks__label(const ks__fit *f, size_t i, const size_t *first, const size_t *count)
{
    uint32_t ci = f->scust[i];
    int64_t t = f->st[i];
    for (size_t k = first[ci]; k < first[ci] + count[ci]; k++) {
        const ks__churn *m = &f->ch[k];
        int64_t lo = m->silent ? t - f->inactivity_ms : t;
        if (m->at_ms > lo && m->at_ms <= t + f->horizon_ms) return 1;
    }
    if (t + f->horizon_ms > f->last_ms) return -1;
    /* A silence still running at the end that began by t+H may yet be a churn. */
    const ks__cust *c = &f->c[ci];
    if (!c->cancelled && f->last_ms - c->last_ev < f->inactivity_ms &&
        c->last_ev <= t + f->horizon_ms)
        return -1;
    return 0;
}

/* Figures at one threshold on the rows of split `which`: sample precision and
 * recall, the share of churn episodes flagged in the H before the churn, and
 * the median lead of those. */
typedef struct ks__at {
    int threshold;
    double precision, recall, flagged, episode_recall, lead_median_days;
    double customer_precision, customer_recall; /* per customer and period (ks__unit_hist) */
    size_t episodes;
    size_t leads;     /* flagged cancels the median lead is of */
} ks__at;

static void ks__unit_hist(const ks__fit *f, const uint8_t *score, const int8_t *label, int which,
                          ks_score_hist *h);

static ks__at ks__at_threshold(const ks__fit *f, const uint8_t *score, const int8_t *label,
                               int which, int thr, const size_t *first, const size_t *count)
{
    ks__at a = {.threshold = thr};
    double tp = 0, fp = 0, pos = 0, all = 0;
    for (size_t i = 0; i < f->ns; i++) {
        if (label[i] < 0 || f->c[f->scust[i]].split != which) continue;
        all++;
        pos += label[i];
        if (score[i] >= thr) {
            tp += label[i];
            fp += !label[i];
        }
    }
    ks_score_hist uh;
    ks_pr_point upr[101];
    ks__unit_hist(f, score, label, which, &uh);
    ks_pr_curve(&uh, upr);
    a.customer_precision = upr[thr].precision;
    a.customer_recall = upr[thr].recall;
    a.precision = tp + fp > 0 ? tp / (tp + fp) : 0;
    a.recall = pos > 0 ? tp / pos : 0;
    a.flagged = all > 0 ? (tp + fp) / all : 0;
    /* Episodes: churn moments with a full horizon of samples before them.
     * ff[k]: the earliest sample at or above thr in [at - H, at), or for a
     * silence [at - H, at + churn_inactivity): before the engine calls it
     * churn, while a win-back can still reach them. Lead is counted for
     * cancels only (a silence has no moment the customer announces). */
    int64_t *lead = calloc(f->nch ? f->nch : 1, sizeof *lead);
    int64_t *ff = malloc((f->nch ? f->nch : 1) * sizeof *ff);
    if (!lead || !ff) ks__fail("out of memory");
    for (size_t k = 0; k < f->nch; k++)
        ff[k] = INT64_MAX;
    for (size_t i = 0; i < f->ns; i++) {
        uint32_t ci = f->scust[i];
        if (f->c[ci].split != which || score[i] < thr) continue;
        for (size_t k = first[ci]; k < first[ci] + count[ci]; k++)
            if (f->st[i] >= f->ch[k].at_ms - f->horizon_ms &&
                f->st[i] < f->ch[k].at_ms + (f->ch[k].silent ? f->inactivity_ms : 0) &&
                f->st[i] < ff[k])
                ff[k] = f->st[i];
    }
    size_t ep = 0, hit = 0, nlead = 0;
    for (size_t k = 0; k < f->nch; k++) {
        if (f->c[f->ch[k].cust].split != which) continue;
        if (f->ch[k].at_ms - f->horizon_ms < f->first_ms + f->warmup_ms) continue;
        ep++;
        if (ff[k] == INT64_MAX) continue;
        hit++;
        if (!f->ch[k].silent) lead[nlead++] = f->ch[k].at_ms - ff[k];
    }
    qsort(lead, nlead, sizeof *lead, ks__cmp_i64);
    a.episodes = ep;
    a.episode_recall = ep ? (double)hit / (double)ep : 0;
    a.lead_median_days = nlead ? (double)lead[nlead / 2] / KF_DAY_MS : 0;
    a.leads = nlead;
    free(lead);
    free(ff);
    return a;
}

/* The lead ceiling on split `which`: among thresholds whose precision per
 * customer and period reaches `target` with 20 right flags (as `high` is
 * chosen), the one whose flagged cancels have the longest median lead, the
 * lead as ks__at_threshold() counts it (first flag in the H before a cancel),
 * a median of KF_MIN_LEADS cancels at least. Also the most precise threshold
 * whose median lead (of as many) is >= lead_days, to say what a lead target
 * costs. -1 where none qualifies. */
#define KF_MIN_LEADS 50
typedef struct ks__lead {
    int best;     /* longest median lead at precision >= target */
    double best_days;
    int at_lead;  /* most precise threshold with median lead >= lead_days */
    double at_lead_precision;
} ks__lead;

static ks__lead ks__lead_ceiling(const ks__fit *f, const uint8_t *score, const int8_t *label,
                                 int which, const size_t *first, const size_t *count, double target,
                                 double lead_days)
{
    ks_lead_table lt;
    if (ks_lead_table_init(&lt, f->nch) != 0) ks__fail("out of memory");
    for (size_t i = 0; i < f->ns; i++) {
        uint32_t ci = f->scust[i];
        if (f->c[ci].split != which) continue;
        for (size_t k = first[ci]; k < first[ci] + count[ci]; k++) {
            const ks__churn *m = &f->ch[k];
            if (m->silent || m->at_ms - f->horizon_ms < f->first_ms + f->warmup_ms) continue;
            if (f->st[i] >= m->at_ms - f->horizon_ms && f->st[i] < m->at_ms)
                ks_lead_table_add(&lt, k, score[i], m->at_ms - f->st[i]);
        }
    }
    double med[101];
    size_t flagged[101];
    if (ks_lead_medians(&lt, med, flagged) != 0) ks__fail("out of memory");
    ks_lead_table_free(&lt);
    ks_score_hist uh;
    ks__unit_hist(f, score, label, which, &uh);
    ks__lead r = {.best = ks_lead_best_threshold(&uh, med, flagged, target, 20, KF_MIN_LEADS),
                  .at_lead = -1};
    r.best_days = r.best > 0 ? med[r.best] / KF_DAY_MS : 0;
    ks_pr_point pr[101];
    ks_pr_curve(&uh, pr);
    double tp = 0;
    for (int t = 100; t >= 1; t--) {
        tp += uh.pos[t];
        if (tp >= 20 && flagged[t] >= KF_MIN_LEADS && med[t] >= lead_days * KF_DAY_MS &&
            (r.at_lead < 0 || pr[t].precision > r.at_lead_precision))
            r.at_lead = t, r.at_lead_precision = pr[t].precision;
    }
    return r;
}

static void ks__hist(const ks__fit *f, const uint8_t *score, const int8_t *label, int which,
                     ks_score_hist *h)
{
    memset(h, 0, sizeof *h);
    for (size_t i = 0; i < f->ns; i++) {
        if (label[i] < 0 || f->c[f->scust[i]].split != which) continue;
        if (label[i])
            h->pos[score[i]]++;
        else
            h->neg[score[i]]++;
    }
}

/* The customer view the alerts give (and bench_risk measures): per customer
 * and horizon-long period, was the score ever >= t (flagged), and was it so
 * on a day the customer was about to churn (right)? Written as a histogram
 * that ks_pr_curve() and ks_pr_threshold() read: pos[s] counts periods whose
 * best score on a churn day is s, pos[s] + neg[s] periods whose best score is
 * s (a bin may go negative; every sum from the top down is a true count). */
static void ks__unit_hist(const ks__fit *f, const uint8_t *score, const int8_t *label, int which,
                          ks_score_hist *h)
{
    memset(h, 0, sizeof *h);
    ks_u64map units;
    if (ks_u64map_init(&units, NULL, NULL) != 0) ks__fail("out of memory");
    int64_t from = f->first_ms + f->warmup_ms;
    for (size_t i = 0; i < f->ns; i++) {
        if (label[i] < 0 || f->c[f->scust[i]].split != which) continue;
        uint64_t block = (uint64_t)((f->st[i] - from) / f->horizon_ms);
        bool created;
        ks_u64map_val *v =
            ks_u64map_put(&units, ks_u64map_key(((uint64_t)f->scust[i] << 20) | (block & 0xFFFFF)), &created);
        if (!v) ks__fail("out of memory");
        /* a: best score + 1 (bits 0-7), best score on a churn day + 1 (bits 8-15). */
        int64_t all = v->a & 0xFF, pos = (v->a >> 8) & 0xFF;
        if (score[i] + 1 > all) all = score[i] + 1;
        if (label[i] && score[i] + 1 > pos) pos = score[i] + 1;
        v->a = all | pos << 8;
    }
    for (size_t k = 0; k < units.cap; k++) {
        if (units.slots[k].key < 2) continue;
        int64_t all = units.slots[k].v.a & 0xFF, pos = (units.slots[k].v.a >> 8) & 0xFF;
        h->neg[all - 1] += 1;
        if (pos) {
            h->pos[pos - 1] += 1;
            h->neg[pos - 1] -= 1;
        }
    }
    ks_u64map_reset(&units);
}

/* AUC of integer scores on one split (ties half), from the histogram. */
static double ks__auc_hist(const ks_score_hist *h)
{
    double neg_below = 0, sum = 0, P = 0, N = 0;
    for (int s = 0; s <= 100; s++) {
        sum += h->pos[s] * (neg_below + 0.5 * h->neg[s]);
        neg_below += h->neg[s];
        P += h->pos[s];
        N += h->neg[s];
    }
    return P > 0 && N > 0 ? sum / (P * N) : -1;
}

/* Appends printf output to a growing string. */
typedef struct ks__buf {
    char *s;
    size_t len, cap;
} ks__buf;

static void ks__bprintf(ks__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ks__bprintf(ks__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    b->s = ks__grow(b->s, &b->cap, b->len + (size_t)n + 1, 1);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void ks__at_json(ks__buf *b, const char *name, const ks__at *a)
{
    ks__bprintf(b,
                "\"%s\":{\"threshold\":%d,\"precision\":%.4f,\"recall\":%.4f,\"flagged\":%.5f,"
                "\"customer_precision\":%.4f,\"customer_recall\":%.4f,"
                "\"episode_recall\":%.4f,\"episodes\":%zu,\"median_lead_days\":%.2f,\"leads\":%zu}",
                name, a->threshold, a->precision, a->recall, a->flagged, a->customer_precision,
                a->customer_recall, a->episode_recall, a->episodes, a->lead_median_days, a->leads);
}

static void ks__at_print(const char *who, const char *name, const ks__at *a)
{
    printf("  %-6s %-6s >= %3d: customer-days precision %.3f recall %.3f (%.2f %% flagged); "
           "customers per period precision %.3f recall %.3f; churns flagged in the horizon "
           "before: %.3f of %zu, median lead %.1f d (of %zu cancels)\n",
           who, name, a->threshold, a->precision, a->recall, 100 * a->flagged,
           a->customer_precision, a->customer_recall, a->episode_recall, a->episodes,
           a->lead_median_days, a->leads);
}

/* Frees what the job holds in f and returns status (every way out of
 * ks_risk_fit_run but ks__fail's exit, so sanitizer builds see no leak). */
static int ks__done(ks__fit *f, int status)
{
    free(f->x), free(f->scust), free(f->st), free(f->sseg), free(f->engine_score);
    free(f->c), free(f->ch);
    ks_u64map_reset(&f->idx);
    return status;
}

int ks_risk_fit_run(const ks_risk_fit_opts *o, ks_config *cfg)
{
    char err[KS_ERRSTR_SIZE];
    ks__fit f;
    memset(&f, 0, sizeof f);
    f.horizon_ms = o->horizon_ms;
    f.warmup_ms = o->warmup_ms;
    f.sample_rate = o->sample_rate;
    f.l2 = o->l2;
    f.target_high = o->target_high;
    f.target_medium = o->target_medium;
    f.eval_only = o->eval;
    const char *inputs = o->inputs, *out = o->out, *topic = o->topic;
    int64_t from_ms = o->from_ms, to_ms = o->to_ms;
    if (!f.eval_only && !out) ks__fail("--out MODEL.json is required (or --eval to only measure)");
    if (!f.eval_only && cfg->risk.model)
        ks__fail("risk.model is set: the fit samples the engine's inputs with the hand weights; "
                 "drop risk.model (or use --eval to measure that model)");
    if (ks_config_validate(cfg, err, sizeof err) != 0) ks__fail("config: %s", err);
    cfg->clock = KS_CLOCK_EVENT; /* replays are judged by event time */
    f.inactivity_ms = cfg->churn_inactivity_ms;
    f.rp = &cfg->risk;
    f.first_ms = INT64_MAX;
    f.last_ms = INT64_MIN;
    if (ks_u64map_init(&f.idx, NULL, NULL) != 0) ks__fail("out of memory");

    /* 1. Replay. */
    ks_engine *e = ks_engine_new(cfg, err, sizeof err);
    if (!e) ks__fail("%s", err);
    ks_engine_set_risk_tap(e, ks__tap, &f);
    int64_t offset = 0;
    uint64_t rejected = 0;
    if (inputs) {
        if (ks_engine_assign(e, KF_TOPIC, 0) != 0) ks__fail("out of memory");
        char *list = strdup(inputs);
        if (!list) ks__fail("out of memory");
        for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save))
            ks__replay(e, p, &offset, &rejected);
        free(list);
        ks_engine_set_eof(e, KF_TOPIC, 0, true);
    }
    if (topic) {
        ks__feed fd = {e, 0, 0};
        int64_t got = 0;
        if (ks_kafka_range_read(cfg, topic, from_ms, to_ms, e, ks__feed_msg, &fd, &got, err,
                                sizeof err) != 0)
            ks__fail("%s", err);
        if (got == 0)
            ks__fail("topic %s: no messages in the range (an empty or auto-created topic?)", topic);
        offset += got;
        rejected += fd.rejected;
    }
    ks_engine_tick(e, KF_WALL_MS);
    ks_engine_free(e);
    if (f.ns == 0)
        ks__fail("no samples: the history (%" PRId64 " lines) is shorter than the warm-up (%" PRId64
                 " d) or holds no customers",
                 offset, f.warmup_ms / KF_DAY_MS);

    /* 2. Churn moments, and silences running at the end long enough to count. */
    for (uint32_t ci = 0; ci < f.nc; ci++) {
        ks__cust *c = &f.c[ci];
        if (c->last_ev && !c->cancelled && f.last_ms - c->last_ev >= f.inactivity_ms)
            ks__churn_add(&f, ci, c->last_ev, true);
    }
    qsort(f.ch, f.nch, sizeof *f.ch, ks__cmp_churn);
    size_t *first = calloc(f.nc, sizeof *first), *count = calloc(f.nc, sizeof *count);
    int8_t *label = malloc(f.ns);
    if (!first || !count || !label) ks__fail("out of memory");
    for (size_t k = f.nch; k-- > 0;) {
        first[f.ch[k].cust] = k;
        count[f.ch[k].cust]++;
    }
    size_t nlab[3] = {0}, npos[3] = {0}, unknown = 0;
    for (size_t i = 0; i < f.ns; i++) {
        label[i] = (int8_t)ks__label(&f, i, first, count);
        if (label[i] < 0) {
            unknown++;
            continue;
        }
        int s = f.c[f.scust[i]].split;
        nlab[s]++;
        npos[s] += (size_t)label[i];
    }
    printf("history: %" PRId64 " events (%" PRIu64 " rejected), %u customers, %zu churns "
           "(cancel or silence >= %" PRId64 " d), days %.1f\n",
           offset, rejected, f.nc, f.nch, f.inactivity_ms / KF_DAY_MS,
           (double)(f.last_ms - f.first_ms) / KF_DAY_MS);
    printf("samples (customer-days after a %" PRId64 " d warm-up, horizon %" PRId64
           " d): %zu labelled, %zu not yet knowable; positives: fit %zu/%zu, validation %zu/%zu, "
           "test %zu/%zu\n",
           f.warmup_ms / KF_DAY_MS, f.horizon_ms / KF_DAY_MS, f.ns - unknown, unknown, npos[0],
           nlab[0], npos[1], nlab[1], npos[2], nlab[2]);

    ks_score_hist hh;
    ks__hist(&f, f.engine_score, label, KF_TEST, &hh);
    double engine_auc = ks__auc_hist(&hh);
    if (f.eval_only) {
        /* Measure the configured scorer on every labelled customer. */
        for (uint32_t ci = 0; ci < f.nc; ci++)
            f.c[ci].split = KF_TEST;
        ks__hist(&f, f.engine_score, label, KF_TEST, &hh);
        const ks_risk_params *rp = &cfg->risk;
        int hi = rp->model ? rp->model->high_enter : rp->high_enter;
        int me = rp->model ? rp->model->medium_enter : rp->medium_enter;
        ks__at ah = ks__at_threshold(&f, f.engine_score, label, KF_TEST, hi, first, count);
        ks__at am = ks__at_threshold(&f, f.engine_score, label, KF_TEST, me, first, count);
        const char *who = rp->model ? "model" : "hand";
        printf("%s scorer on all customers: AUC %.4f\n", who, ks__auc_hist(&hh));
        ks__at_print(who, "high", &ah);
        ks__at_print(who, "medium", &am);
        printf("RESULT auc %.4f\nRESULT precision_high %.4f\nRESULT recall_high %.4f\n"
               "RESULT customer_precision_high %.4f\nRESULT episode_recall_high %.4f\n"
               "RESULT lead_median_days %.2f\n",
               ks__auc_hist(&hh), ah.precision, ah.recall, ah.customer_precision, ah.episode_recall,
               ah.lead_median_days);
        free(first), free(count), free(label);
        return ks__done(&f, 0);
    }

    /* 3. The design matrix: fixed features plus one column per segment. */
    int d = KS_RF__FIXED + f.nseg;
    for (size_t i = 0; i < f.ns; i++) {
        float *dst = f.x + i * (size_t)d, *src = f.x + i * KF_STRIDE;
        memmove(dst, src, sizeof(float) * KS_RF__FIXED); /* dst <= src: forward is safe */
        for (int k = 0; k < f.nseg; k++)
            dst[KS_RF__FIXED + k] = f.sseg[i] == k;
    }
    uint32_t *rows[3];
    size_t nrows[3] = {0};
    for (int s = 0; s < 3; s++) {
        rows[s] = malloc((nlab[s] ? nlab[s] : 1) * sizeof *rows[s]);
        if (!rows[s]) ks__fail("out of memory");
    }
    uint8_t *y = malloc(f.ns);
    if (!y) ks__fail("out of memory");
    for (size_t i = 0; i < f.ns; i++) {
        y[i] = label[i] > 0;
        if (label[i] >= 0) {
            int s = f.c[f.scust[i]].split;
            rows[s][nrows[s]++] = (uint32_t)i;
        }
    }

    /* 4. Fit. */
    double mean[KS_RISK_MODEL_MAXF], scale[KS_RISK_MODEL_MAXF], weight[KS_RISK_MODEL_MAXF];
    ks_logit lg = {.d = d, .mean = mean, .scale = scale, .weight = weight};
    int rc = ks_logit_fit(f.x, y, NULL, f.ns, rows[KF_TRAIN], nrows[KF_TRAIN], f.l2, 50, 1e-6, &lg);
    if (rc == KS_ERR_INVAL)
        ks__fail("the fit split has %s: a longer history (or more customers) is needed",
                 npos[KF_TRAIN] ? "no customer who stayed" : "no churn within the horizon");
    if (rc) ks__fail("fit failed: %s", ks_strerror(rc));
    printf("fit: %d features, %d Newton steps%s, log-loss %.4f\n", d, lg.iterations,
           lg.converged ? "" : " (not converged)", lg.loss);

    /* 5. Calibration on the validation customers: Platt, p = 1/(1+e^-(a z + b)). */
    float *zf = malloc(f.ns * sizeof *zf);
    if (!zf) ks__fail("out of memory");
    for (size_t i = 0; i < f.ns; i++)
        zf[i] = (float)ks_logit_z(&lg, f.x + i * (size_t)d);
    double cm, cs, cw;
    ks_logit cal = {.d = 1, .mean = &cm, .scale = &cs, .weight = &cw};
    if (ks_logit_fit(zf, y, NULL, f.ns, rows[KF_VALID], nrows[KF_VALID], 0, 50, 1e-9, &cal) != 0)
        ks__fail("the validation split has only one class: a longer history is needed");
    double ca = cw / cs, cb = cal.intercept - cw * cm / cs;
    if (!(ca > 0)) ks__fail("calibration found no signal on validation customers (slope %g)", ca);

    ks_risk_model *m = calloc(1, sizeof *m);
    if (!m) ks__fail("out of memory");
    m->nsegments = f.nseg;
    m->nfeatures = d;
    for (int k = 0; k < f.nseg; k++)
        memcpy(m->segment[k], f.seg[k], sizeof m->segment[k]);
    for (int j = 0; j < d; j++) {
        m->weight[j] = weight[j];
        m->mean[j] = mean[j];
        m->scale[j] = scale[j];
    }
    m->intercept = lg.intercept;
    m->cal_a = ca;
    m->cal_b = cb;
    /* Isotonic on top: Platt is one sigmoid, and the few high scores weigh
     * little in its fit, so it runs low where the thresholds are. */
    {
        size_t nv = nrows[KF_VALID];
        double *vz = malloc((nv ? nv : 1) * sizeof *vz), *vp = malloc((nv ? nv : 1) * sizeof *vp);
        uint8_t *vy = malloc(nv ? nv : 1);
        if (!vz || !vp || !vy) ks__fail("out of memory");
        for (size_t k = 0; k < nv; k++) {
            size_t i = rows[KF_VALID][k];
            vz[k] = zf[i];
            vp[k] = 1.0 / (1.0 + exp(-(ca * zf[i] + cb)));
            vy[k] = y[i];
        }
        m->ncal = ks_calibrate_isotonic(vz, vp, vy, nv, 40, 200, m->cal_z, m->cal_p,
                                        KS_RISK_MODEL_KNOTS);
        free(vz), free(vp), free(vy);
    }
    m->horizon_days = (double)f.horizon_ms / KF_DAY_MS;
    m->train_from_ms = f.first_ms;
    m->train_to_ms = f.last_ms;

    double *prob = malloc(f.ns * sizeof *prob);
    uint8_t *score = malloc(f.ns);
    if (!prob || !score) ks__fail("out of memory");
    for (size_t i = 0; i < f.ns; i++) {
        prob[i] = ks_risk_model_calibrate(m, zf[i]);
        double r = floor(100 * prob[i] + 0.5);
        score[i] = (uint8_t)(r > 100 ? 100 : r < 0 ? 0 : r);
    }

    /* 6. Thresholds on the validation customers: the lowest score reaching
     * each target precision (most recall at it), with 20 right flags at
     * least. Precision is counted as alerts are read: per customer and
     * horizon-long period, flagged at some day, right if on a day within
     * the horizon before their churn. */
    ks_score_hist hv;
    ks__unit_hist(&f, score, label, KF_VALID, &hv);
    int high = ks_pr_threshold(&hv, f.target_high, 20);
    bool high_reached = high > 0;
    if (!high_reached) {
        /* Not reachable: the most precise threshold that flags 20 churn-days. */
        ks_pr_point pr[101];
        ks_pr_curve(&hv, pr);
        double best = -1, tp = 0;
        for (int t = 100; t >= 1; t--) {
            tp += hv.pos[t];
            if (tp >= 20 && pr[t].precision > best) best = pr[t].precision, high = t;
        }
        if (high <= 1) high = 50;
        fprintf(stderr, "kpistream risk-fit: no threshold reaches precision %.2f on validation "
                "customers; high uses the most precise one (%d)\n", f.target_high, high);
    }
    if (high < 2) high = 2;
    int medium = ks_pr_threshold(&hv, f.target_medium, 20);
    if (medium < 1 || medium >= high) medium = high / 2 > 0 ? high / 2 : 1;
    m->high_enter = high;
    m->medium_enter = medium;
    /* Hysteresis as the hand thresholds have it (70/50, 40/30): leave a band
     * below each entry so a score wobbling around it does not flap. */
    int hb = high / 5 > 5 ? high / 5 : 5, mb = medium / 4 > 3 ? medium / 4 : 3;
    m->high_exit = high - hb > medium ? high - hb : medium;
    m->medium_exit = medium - mb > 0 ? medium - mb : 0;

    /* 7. The test customers: everything reported. */
    uint8_t *yt = malloc(nrows[KF_TEST] ? nrows[KF_TEST] : 1);
    double *pt = malloc((nrows[KF_TEST] ? nrows[KF_TEST] : 1) * sizeof *pt);
    if (!yt || !pt) ks__fail("out of memory");
    for (size_t k = 0; k < nrows[KF_TEST]; k++) {
        yt[k] = y[rows[KF_TEST][k]];
        pt[k] = prob[rows[KF_TEST][k]];
    }
    double auc = ks_auc(pt, yt, NULL, nrows[KF_TEST]);
    ks_calib_bin bins[10];
    double ece = ks_calibration(pt, yt, NULL, nrows[KF_TEST], bins);
    ks_score_hist ht;
    ks__hist(&f, score, label, KF_TEST, &ht);
    ks_pr_point pr[101];
    ks_pr_curve(&ht, pr);
    ks__at th = ks__at_threshold(&f, score, label, KF_TEST, m->high_enter, first, count);
    ks__at tm = ks__at_threshold(&f, score, label, KF_TEST, m->medium_enter, first, count);
    const ks_risk_params *rp = &cfg->risk;
    ks__at eh = ks__at_threshold(&f, f.engine_score, label, KF_TEST, rp->high_enter, first, count);
    /* The ceiling: the same model judged on the customers it was fitted on
     * (hindsight), at the threshold reaching the target there. */
    ks_score_hist hf;
    ks__unit_hist(&f, score, label, KF_TRAIN, &hf);
    int ceil_t = ks_pr_threshold(&hf, f.target_high, 20);
    ks__at ce = ks__at_threshold(&f, score, label, KF_TRAIN, ceil_t > 0 ? ceil_t : m->high_enter,
                                 first, count);
    ks__hist(&f, score, label, KF_TRAIN, &hf);
    double fit_auc = ks__auc_hist(&hf);
    /* The lead's ceiling, on the same customers: the fitted `high`, and the
     * threshold with the longest median lead at the target precision. */
    ks__at cf = ks__at_threshold(&f, score, label, KF_TRAIN, m->high_enter, first, count);
    ks__lead cl = ks__lead_ceiling(&f, score, label, KF_TRAIN, first, count, f.target_high, 7);
    ks__at cfl = ks__at_threshold(&f, score, label, KF_TRAIN, cl.best > 0 ? cl.best : m->high_enter,
                                  first, count);

    ks__buf b = {0};
    ks__bprintf(&b,
                "{\"test\":{\"customers_share\":0.2,\"samples\":%zu,\"positives\":%zu,"
                "\"auc\":%.4f,\"hand_weights_auc\":%.4f,\"calibration_error\":%.4f,",
                nrows[KF_TEST], npos[KF_TEST], auc, engine_auc, ece);
    ks__at_json(&b, "high", &th);
    ks__bprintf(&b, ",");
    ks__at_json(&b, "medium", &tm);
    ks__bprintf(&b, ",");
    ks__at_json(&b, "hand_weights_high", &eh);
    ks__bprintf(&b, ",\"fit_split_auc\":%.4f,", fit_auc);
    ks__at_json(&b, "fit_split_high", &ce);
    ks__bprintf(&b, ",");
    ks__at_json(&b, "fit_split_at_high", &cf);
    if (cl.best > 0) {
        ks__bprintf(&b, ",");
        ks__at_json(&b, "fit_split_lead_ceiling", &cfl);
    }
    if (cl.at_lead > 0)
        ks__bprintf(&b, ",\"fit_split_lead_7d\":{\"threshold\":%d,\"customer_precision\":%.4f}",
                    cl.at_lead, cl.at_lead_precision);
    ks__bprintf(&b, ",\"calibration\":[");
    for (int k = 0, first_bin = 1; k < 10; k++) {
        if (!(bins[k].weight > 0)) continue;
        ks__bprintf(&b, "%s{\"predicted\":%.4f,\"observed\":%.4f,\"samples\":%.0f}",
                    first_bin ? "" : ",", bins[k].predicted, bins[k].observed, bins[k].weight);
        first_bin = 0;
    }
    ks__bprintf(&b, "],\"pr_curve\":[");
    for (int t = 5; t <= 100; t += 5)
        ks__bprintf(&b, "%s{\"threshold\":%d,\"precision\":%.4f,\"recall\":%.4f,\"flagged\":%.5f}",
                    t == 5 ? "" : ",", t, pr[t].precision, pr[t].recall, pr[t].flagged);
    ks__bprintf(&b,
                "]},\"targets\":{\"precision_high\":%.3f,\"precision_high_reached\":%s,"
                "\"precision_medium\":%.3f},\"fit\":{\"samples\":%zu,\"positives\":%zu,"
                "\"l2\":%g,\"newton_steps\":%d,\"converged\":%s},\"validation\":{\"samples\":%zu,"
                "\"positives\":%zu},\"customers\":%u,\"churns\":%zu,\"events\":%" PRId64 "}",
                f.target_high, high_reached ? "true" : "false", f.target_medium, nrows[KF_TRAIN],
                npos[KF_TRAIN], f.l2, lg.iterations, lg.converged ? "true" : "false",
                nrows[KF_VALID], npos[KF_VALID], f.nc, f.nch, offset);
    m->metrics_json = b.s;
    char why[256];
    if (ks_risk_model_check(m, why, sizeof why) != 0)
        ks__fail("the fitted model is invalid: %s", why);

    printf("test customers (%zu customer-days, %zu churn-days): AUC %.4f (hand weights %.4f), "
           "calibration error %.4f\n",
           nrows[KF_TEST], npos[KF_TEST], auc, engine_auc, ece);
    printf("  precision-recall (score >= t): ");
    for (int t = 10; t <= 90; t += 10)
        printf("%d: %.2f/%.2f  ", t, pr[t].precision, pr[t].recall);
    printf("\n");
    ks__at_print("model", "high", &th);
    ks__at_print("model", "medium", &tm);
    ks__at_print("hand", "high", &eh);
    printf("  ceiling (the fit customers themselves, hindsight): AUC %.4f\n", fit_auc);
    ks__at_print("fit", "high", &ce);
    ks__at_print("fit", "fitted", &cf);
    if (cl.best > 0) {
        printf("  lead ceiling (fit customers, any threshold at precision >= %.2f, a median of "
               "%d cancels or more): median lead %.1f d at >= %d\n",
               f.target_high, KF_MIN_LEADS, cl.best_days, cl.best);
        ks__at_print("fit", "lead", &cfl);
    } else {
        printf("  lead ceiling: no threshold reaches precision %.2f with 20 right flags and "
               "%d flagged cancels on the fit customers\n",
               f.target_high, KF_MIN_LEADS);
    }
    if (cl.at_lead > 0)
        printf("  median lead >= 7 d on the fit customers: at most precision %.3f (>= %d)\n",
               cl.at_lead_precision, cl.at_lead);
    else
        printf("  median lead >= 7 d on the fit customers: at no threshold with 20 right flags "
               "and %d flagged cancels\n",
               KF_MIN_LEADS);
    printf("  calibration (predicted -> observed):");
    for (int k = 0; k < 10; k++)
        if (bins[k].weight > 0) printf(" %.2f->%.2f", bins[k].predicted, bins[k].observed);
    printf("\nthresholds: high %d/%d, medium %d/%d (targets: precision %.2f%s, %.2f)\n",
           m->high_enter, m->high_exit, m->medium_enter, m->medium_exit, f.target_high,
           high_reached ? "" : " NOT reached", f.target_medium);
    printf("RESULT auc %.4f\nRESULT hand_auc %.4f\nRESULT precision_high %.4f\n"
           "RESULT recall_high %.4f\nRESULT customer_precision_high %.4f\n"
           "RESULT episode_recall_high %.4f\nRESULT lead_median_days %.2f\nRESULT high_enter %d\n"
           "RESULT ceiling_lead_median_days %.2f\nRESULT ceiling_lead_threshold %d\n"
           "RESULT ceiling_precision_at_lead_7d %.4f\n",
           auc, engine_auc, th.precision, th.recall, th.customer_precision, th.episode_recall,
           th.lead_median_days, m->high_enter, cl.best_days, cl.best,
           cl.at_lead > 0 ? cl.at_lead_precision : 0);

    char *json = ks_risk_model_to_json(m);
    if (!json) ks__fail("out of memory");
    FILE *mf = fopen(out, "w");
    if (!mf || fputs(json, mf) < 0 || fputc('\n', mf) == EOF || fclose(mf) != 0)
        ks__fail("%s: cannot write: %s", out, strerror(errno));
    printf("model written to %s (use it with risk.model)\n", out);
    free(json);
    ks_risk_model_free(m);
    free(yt), free(pt), free(prob), free(score), free(zf), free(y);
    for (int s = 0; s < 3; s++)
        free(rows[s]);
    free(first), free(count), free(label);
    return ks__done(&f, 0);
}
