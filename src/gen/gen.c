/* Synthetic customer population and event scheduler.
 *
 * Model (docs/generator.md has the full table of parameters):
 *   - N customers, planned up front: segment, preferred channel, favourite
 *     category, happiness in [0,1], a base activity rate drawn from a lognormal
 *     (sigma 0.9: a heavy tail of very active customers), a join time (before
 *     the timeline for existing customers, uniform over it for new ones), a
 *     subscription plan or none, and for churners a drift start and a churn
 *     time.
 *   - Each customer has one pending "activity" timer: a non-homogeneous
 *     Poisson process (daily and weekly cycle, decline while drifting) sampled
 *     by thinning (Lewis & Shedler 1979). An activity picks one event type from
 *     weights that depend on segment, happiness and drift level.
 *   - Follow-ups (ticket response/resolution, refunds, renewals, lead
 *     conversions, post-contact surveys, retention credits, referrals,
 *     cancellations, marketing spend) are timers too.
 *   - All timers live in one binary min-heap ordered by (time, sequence), so
 *     events come out in non-decreasing time and ties keep insertion order,
 *     which keeps the output deterministic.
 *
 * Memory: one 64-byte record per customer plus the heap (2-4 entries per
 * customer, 40 bytes each); both are allocated at ks_gen_new() and the heap
 * only grows by doubling, so steady state does no allocation per event.
 *
 * Rendering is split: when a timer fires, the event's "head" (event_id, type,
 * customer_id) and "tail" (everything after ts) are written; ts is inserted
 * when the event is handed out, so ks_gen_peek_ts() can look ahead and the
 * CLI's live mode can stamp wall-clock times (ks_gen_stamp()).
 */
#include "kpistream/gen.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen/gen_rng.h"
#include "kpistream/err.h"
#include "kpistream/hash.h"
#include "kpistream/vec.h"

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL
#define NO_CUST UINT32_MAX

/* ---- static model tables ------------------------------------------------ */

enum { SEG_CONSUMER, SEG_SMB, SEG_MID, SEG_ENT, SEG_N };
static const char *const ks__seg_name[SEG_N] = {"consumer", "smb", "midmarket", "enterprise"};
static const double ks__seg_share[SEG_N] = {0.55, 0.25, 0.13, 0.07};
static const double ks__seg_activity[SEG_N] = {1.0, 1.2, 1.5, 1.9};
static const double ks__seg_spend[SEG_N] = {1.0, 3.0, 8.0, 20.0};
static const double ks__seg_purchase[SEG_N] = {1.0, 0.9, 0.8, 0.7};
static const double ks__seg_lead[SEG_N] = {0.5, 1.5, 2.0, 2.5};
static const double ks__seg_social[SEG_N] = {0.12, 0.05, 0.03, 0.02};
static const double ks__seg_sub_prob[SEG_N] = {0.35, 0.65, 0.85, 0.95};
static const double ks__seg_plan_price[SEG_N][3] = {
    {9.99, 19.99, 39.99}, {49, 99, 199}, {299, 599, 1199}, {1999, 3999, 7999}};
static const double ks__seg_resp_hours[SEG_N] = {4.0, 3.0, 1.5, 0.6};
static const double ks__seg_retention_amt[SEG_N] = {10, 40, 150, 600};

enum { CH_WEB, CH_APP, CH_EMAIL, CH_SOCIAL, CH_PHONE, CH_CHAT, CH_STORE, CH_N };
static const char *const ks__chan_name[CH_N] = {"web",   "app",  "email", "social",
                                                "phone", "chat", "store"};
static const double ks__chan_pref[SEG_N][CH_N] = {{35, 40, 0, 10, 0, 0, 15},
                                                  {55, 10, 10, 0, 10, 15, 0},
                                                  {55, 5, 10, 0, 15, 15, 0},
                                                  {50, 5, 10, 0, 20, 15, 0}};
static const double ks__chan_acquire[CH_N] = {40, 20, 10, 15, 5, 0, 10};

/* Interaction actions per channel; email and social have their own lists. */
static const char *const ks__act_web[] = {"page_view", "search", "login", "click"};
static const char *const ks__act_app[] = {"app_open", "page_view", "search", "push_open"};
static const char *const ks__act_email[] = {"email_open", "email_open", "email_click"};
static const char *const ks__act_social[] = {"like", "share", "comment", "follow"};

#define NCAT 8
#define NPROD 30
static const char *const ks__cat_name[NCAT] = {"electronics", "home",  "apparel", "beauty",
                                               "sports",      "books", "grocery", "toys"};
static const double ks__cat_price[NCAT] = {180, 60, 45, 25, 55, 15, 30, 28};

static const char *const ks__complaint_cat[] = {"billing", "delivery", "quality", "support",
                                                "pricing"};
static const double ks__complaint_w[] = {30, 25, 25, 15, 5};
static const double ks__complaint_w_drift[] = {40, 10, 15, 25, 10};
static const char *const ks__ticket_cat[] = {"question", "account", "technical"};

static const struct {
    const char *name;
    int chan;
    double share;
} ks__campaigns[] = {{"search-brand", CH_WEB, 0.25},       {"social-prospecting", CH_SOCIAL, 0.25},
                     {"email-newsletter", CH_EMAIL, 0.05}, {"display-retargeting", CH_WEB, 0.15},
                     {"affiliate", CH_WEB, 0.15},          {"app-install", CH_APP, 0.15}};
#define NCAMPAIGN (sizeof ks__campaigns / sizeof ks__campaigns[0])

/* Target acquisition cost used to size the marketing budget. */
#define TARGET_CAC 60.0

/* ---- state ---------------------------------------------------------------- */

enum {
    F_CHURNER = 1,    /* labelled churner */
    F_CANCEL = 2,     /* churner who cancels (else goes silent) */
    F_SUBSCRIBER = 4, /* has or will take a subscription at signup */
    F_CHURN_DONE = 8, /* the churn timer fired; churn_emit_ms is final */
    F_DRIFT_MAP = 16  /* drift_emit_ms holds a stamped time */
};

typedef struct cust {
    int64_t join_ms;       /* signup; before start_ms for existing customers */
    int64_t drift_ms;      /* churners: drift start (simulated); INT64_MAX otherwise */
    int64_t churn_ms;      /* churners: cancel or silence (simulated); INT64_MAX otherwise */
    int64_t last_emit_ms;  /* ts of the last event handed out, INT64_MIN if none */
    int64_t drift_emit_ms; /* drift start as emitted (only when stamping) */
    int64_t churn_emit_ms; /* cancel ts or last event ts, once known */
    float rate;            /* base sessions per day */
    float happy;           /* 0..1, drives scores and complaints */
    uint8_t seg, chan, fav_cat, tier, flags;
} cust;

enum kind {
    K_SIGNUP,
    K_ACTIVITY,
    K_SUB_START,
    K_SUB_UP,
    K_RENEW,
    K_TICKET_RESP,
    K_TICKET_RESOLVE,
    K_REFUND,
    K_CSAT,
    K_LEAD_CONVERT,
    K_RETENTION,
    K_REFERRAL,
    K_MARKETING,
    K_CHURN
};

typedef struct ks__ent {
    int64_t ts;
    uint64_t seq; /* insertion order: deterministic tie-break */
    uint64_t a;   /* kind-specific: ticket/order number, campaign, referred customer */
    uint32_t cust;
    uint32_t b; /* kind-specific: flags, amount in cents */
    uint32_t kind;
} ks__ent;

struct ks_gen {
    ks_gen_opts o;
    int64_t end_ms;
    ks__rng rng;     /* the model */
    ks__rng dup_rng; /* duplicates only, so dup_fraction leaves the model untouched */
    cust *c;
    uint32_t n;
    uint32_t churners;
    ks__ent *heap;
    size_t heap_len, heap_cap;
    uint64_t seq, event_no, order_no, ticket_no;
    double cat_cdf[NCAT], prod_cdf[NPROD];
    /* Population model (ks_gen_opts.population): how churners fade. */
    double fade;       /* activity x (1 - fade sqrt(drift)) */
    double happy_drop; /* effective happiness - happy_drop x drift */
    double mkt_daily;
    int64_t stamp;
    int err;

    /* The prepared event (have_ev) and the last one handed out (out). */
    int have_ev, dup_ready;
    uint32_t ev_cust;
    int ev_type, ev_cancel;
    int64_t ev_sim_ts;
    const char *ev_key;
    char head[160], tail[KS_GEN_MAX_EVENT - 200];
    size_t head_len, tail_len;
    char key[48];
    size_t keylen;
    char out[KS_GEN_MAX_EVENT];
    size_t out_len;
    int64_t out_ts;
    ks_gen_stats st;
};

/* ---- small helpers --------------------------------------------------------- */

static size_t ks__pick(ks__rng *r, const double *w, size_t n)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += w[i];
    double x = ks__u01(r) * total;
    for (size_t i = 0; i < n; i++) {
        if (x < w[i]) return i;
        x -= w[i];
    }
    return n - 1;
}

static size_t ks__pick_cdf(ks__rng *r, const double *cdf, size_t n)
{
    double x = ks__u01(r);
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (x < cdf[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static void ks__zipf_cdf(double *cdf, size_t n, double s)
{
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += 1.0 / pow((double)(i + 1), s);
    double acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc += 1.0 / pow((double)(i + 1), s) / total;
        cdf[i] = acc;
    }
    cdf[n - 1] = 1.0;
}

static double ks__clamp(double x, double lo, double hi)
{
    return x < lo ? lo : x > hi ? hi : x;
}

/* Drift level in [0,1]: 0 before the drift start, rising linearly to 1 at churn. */
static double ks__drift(const cust *c, int64_t t)
{
    if (t < c->drift_ms) return 0.0;
    if (c->churn_ms <= c->drift_ms) return 1.0;
    return ks__clamp((double)(t - c->drift_ms) / (double)(c->churn_ms - c->drift_ms), 0.0, 1.0);
}

static double ks__happy_eff(const ks_gen *g, const cust *c, double d)
{
    return ks__clamp(c->happy - g->happy_drop * d, 0.0, 1.0);
}

/* ---- heap ------------------------------------------------------------------ */

static int ks__ent_less(const ks__ent *x, const ks__ent *y)
{
    return x->ts < y->ts || (x->ts == y->ts && x->seq < y->seq);
}

static void ks__push(ks_gen *g, int64_t ts, uint32_t kind, uint32_t ci, uint64_t a, uint32_t b)
{
    if (ts >= g->end_ms || g->err) return; /* beyond the timeline: it would never fire */
    if (ks_vec_reserve(g->heap, g->heap_cap, g->heap_len + 1) < 0) {
        g->err = KS_ERR_NOMEM;
        return;
    }
    ks__ent e = {.ts = ts, .seq = g->seq++, .cust = ci, .a = a, .b = b, .kind = kind};
    size_t i = g->heap_len++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ks__ent_less(&e, &g->heap[p])) break;
        g->heap[i] = g->heap[p];
        i = p;
    }
    g->heap[i] = e;
}

static ks__ent ks__pop(ks_gen *g)
{
    ks__ent top = g->heap[0];
    ks__ent last = g->heap[--g->heap_len];
    size_t i = 0, n = g->heap_len;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= n) break;
        size_t m = (l + 1 < n && ks__ent_less(&g->heap[l + 1], &g->heap[l])) ? l + 1 : l;
        if (!ks__ent_less(&g->heap[m], &last)) break;
        g->heap[i] = g->heap[m];
        i = m;
    }
    if (n > 0) g->heap[i] = last;
    return top;
}

/* ---- rendering ------------------------------------------------------------- */

static void ks__tail_add(ks_gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ks__tail_add(ks_gen *g, const char *fmt, ...)
{
    size_t room = sizeof g->tail - g->tail_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(g->tail + g->tail_len, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room)
        g->err = KS_ERR_STATE; /* cannot happen with our bounded fields */
    else
        g->tail_len += (size_t)n;
}

/* Writes the head and the start of the tail; ci == NO_CUST for marketing_spend. */
static void ks__begin(ks_gen *g, ks_event_type type, uint32_t ci, int64_t ts, int chan)
{
    static const char *const type_name[] = {
#define KS__GEN_TN(name, str) str,
        KS_EVENT_TYPES(KS__GEN_TN)
#undef KS__GEN_TN
    };
    g->ev_type = (int)type;
    g->ev_cust = ci;
    g->ev_sim_ts = ts;
    g->ev_cancel = 0;
    uint64_t no = ++g->event_no;
    int n;
    if (ci != NO_CUST) {
        n = snprintf(g->key, sizeof g->key, "c-%06" PRIu32, ci + 1);
        g->keylen = (size_t)n;
        g->ev_key = g->key;
        n = snprintf(g->head, sizeof g->head,
                     "{\"event_id\":\"e-%" PRIu64 "-%" PRIu64
                     "\",\"type\":\"%s\",\"customer_id\":\"%s\"",
                     g->o.seed, no, type_name[type], g->key);
    } else {
        n = snprintf(g->head, sizeof g->head,
                     "{\"event_id\":\"e-%" PRIu64 "-%" PRIu64 "\",\"type\":\"%s\"", g->o.seed, no,
                     type_name[type]);
    }
    g->head_len = (size_t)n;
    g->tail_len = 0;
    if (ci != NO_CUST) ks__tail_add(g, ",\"segment\":\"%s\"", ks__seg_name[g->c[ci].seg]);
    ks__tail_add(g, ",\"channel\":\"%s\"", ks__chan_name[chan]);
    g->have_ev = 1;
}

static void ks__tail_amount(ks_gen *g, const char *field, int64_t cents)
{
    ks__tail_add(g, ",\"%s\":%" PRId64 ".%02" PRId64, field, cents / 100, cents % 100);
}

static void ks__finish(ks_gen *g)
{
    ks__tail_add(g, "}");
}

/* ---- activity timer ------------------------------------------------------ */

/* Thinning bound: the largest product of the daily and weekly factors. */
#define RATE_MAX_MULT (1.6 * 1.15)

static double ks__rate_mult(const ks_gen *g, const cust *c, int64_t t)
{
    int64_t tod = ((t % DAY_MS) + DAY_MS) % DAY_MS;
    double hour = (double)tod / (double)HOUR_MS;
    /* Daily cycle peaking mid-afternoon UTC, trough at night. */
    double daily = 1.0 + 0.6 * sin(6.283185307179586 * (hour - 8.0) / 24.0);
    /* 1970-01-01 was a Thursday: day index + 4 mod 7 gives 0 = Sunday. */
    int64_t day = t >= 0 ? t / DAY_MS : (t - DAY_MS + 1) / DAY_MS;
    int dow = (int)(((day + 4) % 7 + 7) % 7);
    double weekly = 1.0;
    if (dow == 0 || dow == 6) weekly = c->seg == SEG_CONSUMER ? 1.15 : 0.6;
    /* Drifting customers fade early (sqrt) and keep a trickle of activity. */
    return daily * weekly * (1.0 - g->fade * sqrt(ks__drift(c, t)));
}

static void ks__schedule_activity(ks_gen *g, uint32_t ci, int64_t from)
{
    cust *c = &g->c[ci];
    double mean_gap = (double)DAY_MS / ((double)c->rate * RATE_MAX_MULT);
    int64_t t = from;
    for (;;) {
        t += (int64_t)ks__exp(&g->rng, mean_gap);
        if (t >= g->end_ms || t >= c->churn_ms) return;
        if (ks__u01(&g->rng) * RATE_MAX_MULT < ks__rate_mult(g, c, t)) {
            ks__push(g, t, K_ACTIVITY, ci, 0, 0);
            return;
        }
    }
}

/* ---- event builders -------------------------------------------------------- */

static int ks__purchase_channel(ks_gen *g, const cust *c)
{
    if (c->chan == CH_EMAIL || c->chan == CH_SOCIAL)
        return ks__chance(&g->rng, 0.6) ? CH_WEB : CH_APP;
    return c->chan;
}

static int ks__contact_channel(ks_gen *g, const cust *c)
{
    if (c->chan == CH_PHONE || c->chan == CH_CHAT || c->chan == CH_EMAIL || c->chan == CH_WEB)
        return c->chan;
    static const int alt[] = {CH_CHAT, CH_EMAIL, CH_PHONE, CH_WEB};
    return alt[ks__below(&g->rng, 4)];
}

static int64_t ks__price_cents(ks_gen *g, const cust *c, int cat, int prod)
{
    /* A fixed price level per product, derived from its identity, not the PRNG. */
    uint64_t hsh = ks_mix64(((uint64_t)cat << 8) | (uint64_t)prod);
    double level = 0.5 + 1.5 * (double)(hsh >> 11) * 0x1.0p-53;
    double p = ks__cat_price[cat] * level * ks__seg_spend[c->seg] * ks__lognorm(&g->rng, 1.0, 0.35);
    int64_t cents = (int64_t)llround(p * 100.0);
    return cents < 50 ? 50 : cents;
}

static void ks__ev_interaction(ks_gen *g, uint32_t ci, int64_t t)
{
    cust *c = &g->c[ci];
    double u = ks__u01(&g->rng);
    int chan;
    const char *action;
    if (u < 0.12) {
        chan = CH_EMAIL;
    } else if (u < 0.12 + ks__seg_social[c->seg]) {
        chan = CH_SOCIAL;
    } else if (c->chan == CH_EMAIL || c->chan == CH_SOCIAL) {
        chan = CH_WEB;
    } else {
        chan = c->chan;
    }
    switch (chan) {
    case CH_EMAIL:
        action = ks__act_email[ks__below(&g->rng, 3)];
        break;
    case CH_SOCIAL:
        action = ks__act_social[ks__below(&g->rng, 4)];
        break;
    case CH_APP:
        action = ks__act_app[ks__below(&g->rng, 4)];
        break;
    case CH_PHONE:
        action = "call";
        break;
    case CH_CHAT:
        action = "chat_message";
        break;
    case CH_STORE:
        action = "store_visit";
        break;
    default:
        action = ks__act_web[ks__below(&g->rng, 4)];
        break;
    }
    ks__begin(g, KS_EV_INTERACTION, ci, t, chan);
    ks__tail_add(g, ",\"action\":\"%s\"", action);
    ks__finish(g);
}

static void ks__ev_purchase(ks_gen *g, uint32_t ci, int64_t t, double d, double h)
{
    cust *c = &g->c[ci];
    int cat = ks__chance(&g->rng, 0.55) ? c->fav_cat : (int)ks__pick_cdf(&g->rng, g->cat_cdf, NCAT);
    int prod = (int)ks__pick_cdf(&g->rng, g->prod_cdf, NPROD);
    int64_t cents = ks__price_cents(g, c, cat, prod);
    uint64_t order = ++g->order_no;
    ks__begin(g, KS_EV_PURCHASE, ci, t, ks__purchase_channel(g, c));
    ks__tail_add(g, ",\"order_id\":\"o-%" PRIu64 "-%" PRIu64 "\"", g->o.seed, order);
    ks__tail_amount(g, "amount", cents);
    ks__tail_add(g, ",\"category\":\"%s\",\"product\":\"%s-%03d\"", ks__cat_name[cat],
                 ks__cat_name[cat], prod + 1);
    ks__finish(g);
    if (ks__chance(&g->rng, 0.03 + 0.08 * d + 0.05 * (1.0 - h))) {
        int64_t refund = ks__chance(&g->rng, 0.7)
                             ? cents
                             : (int64_t)((double)cents * ks__unif(&g->rng, 0.2, 0.8));
        if (refund < 1) refund = 1;
        ks__push(g, t + (int64_t)ks__unif(&g->rng, 2.0 * DAY_MS, 20.0 * DAY_MS), K_REFUND, ci,
                 order, (uint32_t)(refund > UINT32_MAX ? UINT32_MAX : refund));
    }
    if (ks__chance(&g->rng, 0.08))
        ks__push(g, t + (int64_t)ks__unif(&g->rng, DAY_MS, 5.0 * DAY_MS), K_CSAT, ci, 0, 0);
}

static void ks__schedule_retention(ks_gen *g, uint32_t ci, int64_t t, double p)
{
    if (ks__chance(&g->rng, p))
        ks__push(g, t + (int64_t)ks__unif(&g->rng, HOUR_MS, 48.0 * HOUR_MS), K_RETENTION, ci, 0, 0);
}

static void ks__ev_ticket_opened(ks_gen *g, uint32_t ci, int64_t t, double d, double h)
{
    cust *c = &g->c[ci];
    uint64_t tno = ++g->ticket_no;
    int complaint = ks__chance(&g->rng, 0.15 + 0.55 * (1.0 - h));
    const char *cat;
    if (complaint) {
        double w[5];
        for (int i = 0; i < 5; i++)
            w[i] = (1.0 - d) * ks__complaint_w[i] + d * ks__complaint_w_drift[i];
        cat = ks__complaint_cat[ks__pick(&g->rng, w, 5)];
    } else {
        cat = ks__ticket_cat[ks__below(&g->rng, 3)];
    }
    int chan = ks__contact_channel(g, c);
    ks__begin(g, KS_EV_TICKET, ci, t, chan);
    ks__tail_add(g,
                 ",\"ticket_id\":\"t-%" PRIu64 "-%" PRIu64
                 "\",\"action\":\"opened\",\"complaint\":%s,\"category\":\"%s\"",
                 g->o.seed, tno, complaint ? "true" : "false", cat);
    ks__finish(g);
    if (ks__chance(&g->rng, 0.97)) {
        double med = ks__seg_resp_hours[c->seg] * (1.0 + 1.5 * d) * (double)HOUR_MS;
        int64_t delay = (int64_t)ks__clamp(ks__lognorm(&g->rng, med, 0.9), MIN_MS, 7.0 * DAY_MS);
        ks__push(g, t + delay, K_TICKET_RESP, ci, tno, (uint32_t)complaint | ((uint32_t)chan << 1));
    }
    if (complaint) ks__schedule_retention(g, ci, t, 0.3);
}

static void ks__ev_ticket_followup(ks_gen *g, const ks__ent *e, int resolved)
{
    int chan = (int)(e->b >> 1);
    ks__begin(g, KS_EV_TICKET, e->cust, e->ts, chan);
    ks__tail_add(g, ",\"ticket_id\":\"t-%" PRIu64 "-%" PRIu64 "\",\"action\":\"%s\"", g->o.seed,
                 e->a, resolved ? "resolved" : "responded");
    ks__finish(g);
    if (!resolved && ks__chance(&g->rng, 0.95)) {
        int64_t delay = (int64_t)ks__clamp(ks__lognorm(&g->rng, 16.0 * HOUR_MS, 0.8), 5.0 * MIN_MS,
                                           14.0 * DAY_MS);
        ks__push(g, e->ts + delay, K_TICKET_RESOLVE, e->cust, e->a, e->b);
    } else if (resolved && ks__chance(&g->rng, 0.35)) {
        ks__push(g, e->ts + (int64_t)ks__unif(&g->rng, 10.0 * MIN_MS, DAY_MS), K_CSAT, e->cust, 0,
                 e->b & 1);
    }
}

static void ks__ev_survey(ks_gen *g, uint32_t ci, int64_t t, int nps, int after_complaint)
{
    cust *c = &g->c[ci];
    double h = ks__happy_eff(g, c, ks__drift(c, t));
    int score;
    if (nps)
        score = (int)ks__clamp(round(10.0 * h + 0.8 + 1.3 * ks__norm(&g->rng)), 0, 10);
    else
        score = (int)ks__clamp(
            round(1.0 + 4.0 * h - 0.8 * after_complaint + 0.6 * ks__norm(&g->rng)), 1, 5);
    ks__begin(g, KS_EV_SURVEY, ci, t, ks__chance(&g->rng, 0.6) ? CH_EMAIL : CH_APP);
    ks__tail_add(g, ",\"kind\":\"%s\",\"score\":%d", nps ? "nps" : "csat", score);
    ks__finish(g);
}

static void ks__ev_subscription(ks_gen *g, uint32_t ci, int64_t t, const char *action)
{
    cust *c = &g->c[ci];
    ks__begin(g, KS_EV_SUBSCRIPTION, ci, t, c->chan == CH_STORE ? CH_WEB : c->chan);
    ks__tail_add(g, ",\"action\":\"%s\"", action);
    ks__finish(g);
}

static int64_t ks__plan_cents(const cust *c)
{
    int tier = c->tier ? c->tier : 1;
    return (int64_t)llround(ks__seg_plan_price[c->seg][tier - 1] * 100.0);
}

/* Starts a subscription or upgrades one; returns 0 if already at the top tier. */
static int ks__sub_up(ks_gen *g, uint32_t ci, int64_t t)
{
    cust *c = &g->c[ci];
    if (c->tier == 0) {
        c->tier = (uint8_t)(c->seg == SEG_CONSUMER ? 1 : 1 + ks__below(&g->rng, 2));
        c->flags |= F_SUBSCRIBER;
        ks__ev_subscription(g, ci, t, "start");
        ks__push(g, t + 30 * DAY_MS, K_RENEW, ci, 0, 0);
        return 1;
    }
    if (c->tier >= 3) return 0;
    c->tier++;
    ks__ev_subscription(g, ci, t, "upgrade");
    return 1;
}

static void ks__ev_retention(ks_gen *g, uint32_t ci, int64_t t)
{
    cust *c = &g->c[ci];
    int64_t cents =
        (int64_t)llround(ks__seg_retention_amt[c->seg] * ks__lognorm(&g->rng, 1.0, 0.5) * 100.0);
    ks__begin(g, KS_EV_RETENTION_SPEND, ci, t, ks__chance(&g->rng, 0.7) ? CH_EMAIL : CH_PHONE);
    ks__tail_amount(g, "amount", cents);
    ks__finish(g);
}

/* One session of customer ci at t: pick what happens from the weighted mix. */
static int ks__ev_activity(ks_gen *g, uint32_t ci, int64_t t)
{
    enum { A_INTER, A_PURCH, A_TICKET, A_NPS, A_LEAD, A_UP, A_DOWN, A_DECLINE, A_N };
    cust *c = &g->c[ci];
    double d = ks__drift(c, t), h = ks__happy_eff(g, c, d);
    double w[A_N];
    w[A_INTER] = 62.0 * (1.0 - 0.4 * d);
    w[A_PURCH] = 14.0 * ks__seg_purchase[c->seg] * (1.0 - 0.7 * d);
    w[A_TICKET] = 2.5 * (1.0 + 4.0 * d) * (1.5 - h);
    w[A_NPS] = 1.5;
    w[A_LEAD] = ks__seg_lead[c->seg] * (1.0 - 0.5 * d);
    w[A_UP] = c->tier < 3 ? (c->tier == 0 ? 0.5 : 0.6) * h * (1.0 - d) : 0.0;
    w[A_DOWN] = c->tier > 1 ? 0.25 * (1.0 + 10.0 * d) : 0.0;
    w[A_DECLINE] = 0.3 * (1.0 + 6.0 * d);
    switch (ks__pick(&g->rng, w, A_N)) {
    case A_PURCH:
        ks__ev_purchase(g, ci, t, d, h);
        break;
    case A_TICKET:
        ks__ev_ticket_opened(g, ci, t, d, h);
        break;
    case A_NPS:
        ks__ev_survey(g, ci, t, 1, 0);
        break;
    case A_LEAD:
        ks__begin(g, KS_EV_LEAD, ci, t, ks__contact_channel(g, c));
        ks__tail_add(g, ",\"action\":\"created\"");
        ks__finish(g);
        if (ks__chance(&g->rng, 0.15 + 0.3 * h * (1.0 - d)))
            ks__push(g, t + (int64_t)ks__unif(&g->rng, DAY_MS, 14.0 * DAY_MS), K_LEAD_CONVERT, ci,
                     0, 0);
        break;
    case A_UP:
        if (!ks__sub_up(g, ci, t)) ks__ev_interaction(g, ci, t);
        break;
    case A_DOWN:
        c->tier--;
        ks__ev_subscription(g, ci, t, "downgrade");
        ks__schedule_retention(g, ci, t, 0.4);
        break;
    case A_DECLINE: {
        int cat = c->fav_cat;
        int64_t cents = ks__price_cents(g, c, cat, (int)ks__pick_cdf(&g->rng, g->prod_cdf, NPROD));
        ks__begin(g, KS_EV_PAYMENT_FAILED, ci, t, ks__purchase_channel(g, c));
        ks__tail_amount(g, "amount", cents);
        ks__finish(g);
        ks__schedule_retention(g, ci, t, 0.15);
        break;
    }
    default:
        ks__ev_interaction(g, ci, t);
        break;
    }
    return 1;
}

/* Fires one timer. Returns 1 if it prepared an event, 0 if not, <0 on error. */
static int ks__fire(ks_gen *g, const ks__ent *e)
{
    if (e->kind == K_MARKETING) {
        const int k = (int)e->a;
        double amount = g->mkt_daily / 4.0 * ks__campaigns[k].share * ks__unif(&g->rng, 0.7, 1.3);
        ks__begin(g, KS_EV_MARKETING_SPEND, NO_CUST, e->ts, ks__campaigns[k].chan);
        g->ev_key = ks__campaigns[k].name;
        g->keylen = strlen(ks__campaigns[k].name);
        ks__tail_amount(g, "amount", (int64_t)llround(amount * 100.0));
        ks__tail_add(g, ",\"campaign\":\"%s\"", ks__campaigns[k].name);
        ks__finish(g);
        ks__push(g, e->ts + 6 * HOUR_MS, K_MARKETING, NO_CUST, e->a, 0);
        return 1;
    }
    uint32_t ci = e->cust;
    cust *c = &g->c[ci];
    /* Churned customers are silent: nothing of theirs fires at or after churn. */
    if (e->kind != K_CHURN && e->ts >= c->churn_ms) return 0;
    switch (e->kind) {
    case K_SIGNUP:
        ks__begin(g, KS_EV_SIGNUP, ci, e->ts, (int)ks__pick(&g->rng, ks__chan_acquire, CH_N));
        ks__finish(g);
        ks__schedule_activity(g, ci, e->ts);
        if (c->flags & F_SUBSCRIBER)
            ks__push(g, e->ts + (int64_t)ks__unif(&g->rng, MIN_MS, 2.0 * DAY_MS), K_SUB_START, ci,
                     0, 0);
        return 1;
    case K_ACTIVITY:
        ks__schedule_activity(g, ci, e->ts);
        return ks__ev_activity(g, ci, e->ts);
    case K_SUB_START:
        if (c->tier != 0) return 0;
        return ks__sub_up(g, ci, e->ts);
    case K_SUB_UP:
        return ks__sub_up(g, ci, e->ts);
    case K_RENEW: {
        double d = ks__drift(c, e->ts);
        if (ks__chance(&g->rng, 0.02 + 0.4 * d)) {
            ks__begin(g, KS_EV_PAYMENT_FAILED, ci, e->ts, c->chan == CH_STORE ? CH_WEB : c->chan);
            ks__tail_amount(g, "amount", ks__plan_cents(c));
            ks__finish(g);
            ks__push(g, e->ts + (int64_t)ks__unif(&g->rng, DAY_MS, 3.0 * DAY_MS), K_RENEW, ci, 0,
                     0);
            ks__schedule_retention(g, ci, e->ts, 0.25);
        } else {
            ks__ev_subscription(g, ci, e->ts, "renew");
            ks__push(g, e->ts + 30 * DAY_MS, K_RENEW, ci, 0, 0);
        }
        return 1;
    }
    case K_TICKET_RESP:
        ks__ev_ticket_followup(g, e, 0);
        return 1;
    case K_TICKET_RESOLVE:
        ks__ev_ticket_followup(g, e, 1);
        return 1;
    case K_REFUND:
        ks__begin(g, KS_EV_REFUND, ci, e->ts, ks__purchase_channel(g, c));
        ks__tail_amount(g, "amount", (int64_t)e->b);
        ks__tail_add(g, ",\"order_id\":\"o-%" PRIu64 "-%" PRIu64 "\"", g->o.seed, e->a);
        ks__finish(g);
        return 1;
    case K_CSAT:
        ks__ev_survey(g, ci, e->ts, 0, (int)e->b);
        return 1;
    case K_LEAD_CONVERT:
        ks__begin(g, KS_EV_LEAD, ci, e->ts, ks__contact_channel(g, c));
        ks__tail_add(g, ",\"action\":\"converted\"");
        ks__finish(g);
        if (ks__chance(&g->rng, 0.5))
            ks__push(g, e->ts + (int64_t)ks__unif(&g->rng, MIN_MS, 2.0 * HOUR_MS), K_SUB_UP, ci, 0,
                     0);
        return 1;
    case K_RETENTION:
        ks__ev_retention(g, ci, e->ts);
        return 1;
    case K_REFERRAL:
        ks__begin(g, KS_EV_REFERRAL, ci, e->ts, ks__chance(&g->rng, 0.5) ? CH_SOCIAL : CH_EMAIL);
        ks__tail_add(g, ",\"referred_customer_id\":\"c-%06" PRIu64 "\"", e->a + 1);
        ks__finish(g);
        return 1;
    case K_CHURN:
        c->flags |= F_CHURN_DONE;
        if ((c->flags & F_CANCEL) && c->tier > 0) {
            ks__ev_subscription(g, ci, e->ts, "cancel");
            g->ev_cancel = 1;
            return 1;
        }
        /* Silent churn: the label's churn time is the last event handed out. */
        c->flags &= (uint8_t)~F_CANCEL;
        c->churn_emit_ms = c->last_emit_ms != INT64_MIN ? c->last_emit_ms : c->churn_ms;
        return 0;
    }
    return 0;
}

/* Fires timers until one prepares an event. Returns 1, 0 at the end, <0 on error. */
static int ks__prepare(ks_gen *g)
{
    while (!g->err && g->heap_len > 0 && g->heap[0].ts < g->end_ms) {
        ks__ent e = ks__pop(g);
        int r = ks__fire(g, &e);
        if (g->err) break;
        if (r) return r;
    }
    return g->err ? g->err : 0;
}

/* ---- population planning --------------------------------------------------- */

static void ks__plan_population(ks_gen *g)
{
    const ks_gen_opts *o = &g->o;
    int64_t start = o->start_ms, span = g->end_ms - start;
    uint32_t eligible = 0, joiners = 0;
    /* A drift needs room: churners come from customers with at least 14 days
     * on the timeline (half of it if the timeline is shorter than 28 days). */
    int64_t min_life = span < 28 * DAY_MS ? span / 2 : 14 * DAY_MS;

    for (uint32_t i = 0; i < g->n; i++) {
        cust *c = &g->c[i];
        c->seg = (uint8_t)ks__pick(&g->rng, ks__seg_share, SEG_N);
        c->chan = (uint8_t)ks__pick(&g->rng, ks__chan_pref[c->seg], CH_N);
        c->fav_cat = (uint8_t)ks__pick_cdf(&g->rng, g->cat_cdf, NCAT);
        /* The sparse population: half the activity, more spread between customers. */
        bool sparse = o->population == KS_GEN_POP_SPARSE;
        double rate =
            ks__lognorm(&g->rng, o->activity * ks__seg_activity[c->seg] * (sparse ? 0.5 : 1.0),
                        sparse ? 1.1 : 0.9);
        c->rate = (float)(rate < 0.15 * o->activity ? 0.15 * o->activity : rate);
        c->happy = (float)ks__clamp(0.72 + 0.14 * ks__norm(&g->rng), 0.05, 0.99);
        if (ks__chance(&g->rng, o->initial_fraction)) {
            c->join_ms = start - (int64_t)ks__unif(&g->rng, DAY_MS, 730.0 * DAY_MS);
        } else {
            c->join_ms = start + (int64_t)(ks__u01(&g->rng) * (double)span);
            joiners++;
        }
        if (ks__chance(&g->rng, ks__seg_sub_prob[c->seg])) c->flags |= F_SUBSCRIBER;
        c->drift_ms = c->churn_ms = INT64_MAX;
        c->last_emit_ms = c->drift_emit_ms = c->churn_emit_ms = INT64_MIN;
        int64_t life_start = c->join_ms > start ? c->join_ms : start;
        if (g->end_ms - life_start >= min_life) eligible++;
    }

    /* Churners only among eligible customers, at a rate that makes the
     * population-wide share o->churn_fraction. */
    double p = eligible ? ks__clamp(o->churn_fraction * (double)g->n / eligible, 0.0, 1.0) : 0.0;
    for (uint32_t i = 0; i < g->n; i++) {
        cust *c = &g->c[i];
        int64_t ls = c->join_ms > start ? c->join_ms : start, life = g->end_ms - ls;
        if (life < min_life || !ks__chance(&g->rng, p)) continue;
        c->flags |= F_CHURNER;
        g->churners++;
        int64_t at = (int64_t)((double)life * ks__unif(&g->rng, 0.4, 1.0));
        c->churn_ms = ls + at;
        bool sparse = o->population == KS_GEN_POP_SPARSE;
        double dur = sparse ? ks__lognorm(&g->rng, 10.0 * DAY_MS, 0.6)
                            : ks__lognorm(&g->rng, 21.0 * DAY_MS, 0.35);
        /* Sparse: three churners in ten leave abruptly (a competitor's offer, a
         * move): one to three days of drift, nothing much to see before. */
        if (sparse && ks__chance(&g->rng, 0.3)) dur = ks__unif(&g->rng, 1.0, 3.0) * DAY_MS;
        dur = ks__clamp(dur, fmin(sparse ? 1.0 * DAY_MS : 3.0 * DAY_MS, 0.5 * (double)at),
                        0.75 * (double)at);
        c->drift_ms = c->churn_ms - (int64_t)dur;
        c->happy = (float)ks__clamp(c->happy - 0.08, 0.05, 0.99);
        if (ks__chance(&g->rng, sparse ? 0.45 : 0.75)) c->flags |= F_CANCEL | F_SUBSCRIBER;
    }

    for (uint32_t i = 0; i < g->n; i++) {
        cust *c = &g->c[i];
        if (c->join_ms >= start) {
            ks__push(g, c->join_ms, K_SIGNUP, i, 0, 0);
        } else {
            ks__schedule_activity(g, i, start);
            if (c->flags & F_SUBSCRIBER) {
                static const double tier_w[3] = {60, 30, 10};
                c->tier = (uint8_t)(1 + ks__pick(&g->rng, tier_w, 3));
                ks__push(g, start + (int64_t)ks__unif(&g->rng, 0, 30.0 * DAY_MS), K_RENEW, i, 0, 0);
            }
        }
        if (c->flags & F_CHURNER) ks__push(g, c->churn_ms, K_CHURN, i, 0, 0);
    }

    /* Referrals: some new customers were referred by a happy existing one, who
     * reports it shortly before the signup. */
    for (uint32_t j = 0; j < g->n; j++) {
        const cust *cj = &g->c[j];
        if (cj->join_ms < start || !ks__chance(&g->rng, 0.12)) continue;
        for (int tries = 0; tries < 8; tries++) {
            uint32_t r = ks__below(&g->rng, g->n);
            const cust *cr = &g->c[r];
            int64_t ts = cj->join_ms - (int64_t)ks__unif(&g->rng, HOUR_MS, 3.0 * DAY_MS);
            if (r == j || cr->happy < 0.6 || cr->join_ms > ts - DAY_MS || ts < start ||
                ts >= cr->churn_ms)
                continue;
            ks__push(g, ts, K_REFERRAL, r, j, 0);
            break;
        }
    }

    g->mkt_daily = (double)joiners / (span / (double)DAY_MS) * TARGET_CAC + 50.0;
    for (uint32_t k = 0; k < NCAMPAIGN; k++)
        ks__push(g, start + (int64_t)k * 7 * MIN_MS, K_MARKETING, NO_CUST, k, 0);
}

/* ---- public API ------------------------------------------------------------ */

void ks_gen_opts_init(ks_gen_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->customers = 10000;
    o->days = 30;
    o->start_ms = 1767225600000LL; /* 2026-01-01T00:00:00Z */
    o->churn_fraction = 0.10;
    o->dup_fraction = 0.0;
    o->initial_fraction = 0.70;
    o->activity = 1.0;
}

int ks_gen_opts_validate(const ks_gen_opts *o, char *errstr, size_t errstr_size)
{
    const char *why = NULL;
    if (!o)
        why = "options are NULL";
    else if (o->customers == 0 || o->customers > 100000000u)
        why = "customers must be between 1 and 100000000";
    else if (!(o->days > 0 && o->days <= 36500))
        why = "days must be > 0 and at most 36500";
    else if (o->start_ms < 0 || o->start_ms > 253402300799000LL - (int64_t)(o->days * DAY_MS))
        why = "start_ms must be >= 0 and the timeline must end before year 10000";
    else if (!(o->churn_fraction >= 0 && o->churn_fraction <= 1))
        why = "churn_fraction must be in [0, 1]";
    else if (!(o->dup_fraction >= 0 && o->dup_fraction <= 0.5))
        why = "dup_fraction must be in [0, 0.5]";
    else if (!(o->initial_fraction >= 0 && o->initial_fraction <= 1))
        why = "initial_fraction must be in [0, 1]";
    else if (!(o->activity > 0 && o->activity <= 10000))
        why = "activity must be > 0 and at most 10000 sessions per day";
    else if (o->population != KS_GEN_POP_DEFAULT && o->population != KS_GEN_POP_SPARSE)
        why = "population must be default or sparse";
    if (!why) return 0;
    if (errstr && errstr_size) snprintf(errstr, errstr_size, "generator: %s", why);
    return KS_ERR_INVAL;
}

ks_gen *ks_gen_new(const ks_gen_opts *o)
{
    if (ks_gen_opts_validate(o, NULL, 0) != 0) return NULL;
    ks_gen *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    g->o = *o;
    bool sparse = o->population == KS_GEN_POP_SPARSE;
    g->fade = sparse ? 0.75 : 0.9;         /* sparse churners keep more activity ... */
    g->happy_drop = sparse ? 0.35 : 0.55;  /* ... and sour less: subtler to see */
    g->n = o->customers;
    g->end_ms = o->start_ms + (int64_t)llround(o->days * (double)DAY_MS);
    g->stamp = KS_GEN_NO_STAMP;
    ks__rng_seed(&g->rng, o->seed);
    ks__rng_seed(&g->dup_rng, o->seed ^ 0x6475706c69636174ULL);
    ks__zipf_cdf(g->cat_cdf, NCAT, 0.8);
    ks__zipf_cdf(g->prod_cdf, NPROD, 1.1);
    g->c = calloc(g->n, sizeof *g->c);
    g->heap_cap = (size_t)g->n * 3 + 64;
    g->heap = malloc(g->heap_cap * sizeof *g->heap);
    if (!g->c || !g->heap) {
        ks_gen_free(g);
        return NULL;
    }
    ks__plan_population(g);
    if (g->err) {
        ks_gen_free(g);
        return NULL;
    }
    return g;
}

int64_t ks_gen_peek_ts(ks_gen *g)
{
    if (g->dup_ready) return g->out_ts;
    if (!g->have_ev && ks__prepare(g) <= 0) return INT64_MAX;
    return g->ev_sim_ts;
}

void ks_gen_stamp(ks_gen *g, int64_t ts_ms)
{
    g->stamp = ts_ms;
}

/* Records what labels need from an event that was just handed out. */
static void ks__account(ks_gen *g)
{
    g->st.events++;
    g->st.by_type[g->ev_type]++;
    g->st.sim_ms = g->ev_sim_ts;
    if (g->ev_cust == NO_CUST) return;
    cust *c = &g->c[g->ev_cust];
    c->last_emit_ms = g->out_ts;
    if (g->ev_cancel) c->churn_emit_ms = g->out_ts;
    if (g->stamp != KS_GEN_NO_STAMP && (c->flags & F_CHURNER) && !(c->flags & F_DRIFT_MAP) &&
        g->ev_sim_ts >= c->drift_ms) {
        c->drift_emit_ms = g->out_ts;
        c->flags |= F_DRIFT_MAP;
    }
}

int ks_gen_next(ks_gen *g, char *buf, size_t cap, size_t *len, const char **key, size_t *keylen,
                int64_t *ts_ms)
{
    if (!g || !buf || !len || !key || !keylen || !ts_ms) return KS_ERR_INVAL;
    int dup = g->dup_ready;
    if (!dup) {
        if (!g->have_ev) {
            int r = ks__prepare(g);
            if (r <= 0) return r;
        }
        int64_t ts = g->stamp != KS_GEN_NO_STAMP ? g->stamp : g->ev_sim_ts;
        int n = snprintf(g->out, sizeof g->out, "%.*s,\"ts\":%" PRId64 "%.*s", (int)g->head_len,
                         g->head, ts, (int)g->tail_len, g->tail);
        if (n < 0 || (size_t)n >= sizeof g->out) return KS_ERR_STATE;
        g->out_len = (size_t)n;
        g->out_ts = ts;
    }
    if (cap <= g->out_len) return KS_ERR_FULL; /* nothing consumed: the caller may retry */
    memcpy(buf, g->out, g->out_len + 1);
    *len = g->out_len;
    *key = g->ev_key;
    *keylen = g->keylen;
    *ts_ms = g->out_ts;
    if (dup) {
        g->dup_ready = 0;
        g->st.duplicates++;
        return 1;
    }
    g->have_ev = 0;
    ks__account(g);
    if (g->o.dup_fraction > 0 && ks__u01(&g->dup_rng) < g->o.dup_fraction) g->dup_ready = 1;
    return 1;
}

void ks_gen_get_stats(const ks_gen *g, ks_gen_stats *out)
{
    *out = g->st;
    out->churners = g->churners;
}

int ks_gen_write_labels(ks_gen *g, FILE *f)
{
    if (fputs("customer_id,churner,drift_start_ms,churn_ms,churn_kind\n", f) < 0) return KS_ERR_IO;
    for (uint32_t i = 0; i < g->n; i++) {
        const cust *c = &g->c[i];
        int r;
        if (!(c->flags & F_CHURNER)) {
            r = fprintf(f, "c-%06" PRIu32 ",0,,,\n", i + 1);
        } else {
            int64_t drift_ms = (c->flags & F_DRIFT_MAP) ? c->drift_emit_ms : c->drift_ms;
            int64_t churn = c->churn_emit_ms != INT64_MIN ? c->churn_emit_ms : c->churn_ms;
            /* A silent churner whose last event predates the planned drift
             * (a rare, quiet customer) drifted, as far as data shows, at it. */
            if (drift_ms > churn) drift_ms = churn;
            /* Before the churn timer fires this is the plan; ks__fire() clears
             * F_CANCEL if the customer has no subscription left to cancel. */
            int cancel = (c->flags & F_CANCEL) != 0;
            r = fprintf(f, "c-%06" PRIu32 ",1,%" PRId64 ",%" PRId64 ",%s\n", i + 1, drift_ms, churn,
                        cancel ? "cancel" : "silent");
        }
        if (r < 0) return KS_ERR_IO;
    }
    return fflush(f) == 0 ? 0 : KS_ERR_IO;
}

void ks_gen_free(ks_gen *g)
{
    if (!g) return;
    free(g->c);
    free(g->heap);
    free(g);
}
