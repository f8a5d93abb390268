/* Every generated event against the wire contract (docs/events.md), parsed
 * with cJSON: envelope fields and types, per-type fields and ranges, all 12
 * types present, time order, unique event_ids, ticket life cycles. */
#include <cJSON.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/gen.h"
#include "kpistream/hash.h"

/* ---- a small string -> record table (test-only; mallocs freely) ---------- */

typedef struct rec {
    char *key;
    int64_t opened, responded, resolved; /* ticket times; INT64_MIN = not seen */
    int count;
    double amount;  /* orders: purchase amount (0 = no purchase seen) */
    char owner[32]; /* orders: customer_id of the purchase */
} rec;

typedef struct table {
    rec *slots;
    size_t cap, len;
} table;

static void table_init(table *t, size_t cap)
{
    t->cap = cap;
    t->len = 0;
    t->slots = calloc(cap, sizeof *t->slots);
    cr_assert_not_null(t->slots);
}

static rec *table_get(table *t, const char *key)
{
    cr_assert_lt(t->len * 2, t->cap, "test table too small");
    size_t n = strlen(key);
    size_t i = (size_t)ks_hash64(key, n, 0) & (t->cap - 1);
    while (t->slots[i].key) {
        if (strcmp(t->slots[i].key, key) == 0) return &t->slots[i];
        i = (i + 1) & (t->cap - 1);
    }
    rec *r = &t->slots[i];
    r->key = strdup(key);
    r->opened = r->responded = r->resolved = INT64_MIN;
    t->len++;
    return r;
}

static void table_free(table *t)
{
    for (size_t i = 0; i < t->cap; i++)
        free(t->slots[i].key);
    free(t->slots);
}

/* ---- field checks ------------------------------------------------------ */

static const char *str_field(const cJSON *o, const char *name, int required, const char *line)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!f) {
        cr_assert(!required, "missing %s in %s", name, line);
        return NULL;
    }
    cr_assert(cJSON_IsString(f), "%s is not a string in %s", name, line);
    size_t n = strlen(f->valuestring);
    cr_assert(n >= 1 && n <= 128, "%s has length %zu in %s", name, n, line);
    return f->valuestring;
}

static double num_field(const cJSON *o, const char *name, int required, const char *line,
                        int *present)
{
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    *present = f != NULL;
    if (!f) {
        cr_assert(!required, "missing %s in %s", name, line);
        return 0;
    }
    cr_assert(cJSON_IsNumber(f), "%s is not a number in %s", name, line);
    return f->valuedouble;
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0) return 1;
    return 0;
}

static const char *const types[] = {
    "signup", "interaction", "purchase", "refund",          "subscription",    "payment_failed",
    "ticket", "survey",      "lead",     "marketing_spend", "retention_spend", "referral"};
static const char *const segments[] = {"consumer", "smb", "midmarket", "enterprise"};
static const char *const channels[] = {"web", "app", "email", "social", "phone", "chat", "store"};
static const char *const sub_actions[] = {"start", "renew", "upgrade", "downgrade", "cancel"};
static const char *const ticket_actions[] = {"opened", "responded", "resolved"};
static const char *const lead_actions[] = {"created", "converted"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(gen, every_event_matches_the_contract, .timeout = 120)
{
    /* 2000 customers x 50 days = a 100k customer-day sample. */
    ks_gen_opts o;
    ks_gen_opts_init(&o);
    o.seed = 77;
    o.customers = 2000;
    o.days = 50;
    o.dup_fraction = 0.01;
    ks_gen *g = ks_gen_new(&o);
    cr_assert_not_null(g);
    const int64_t end = o.start_ms + 50 * 86400000LL;

    table ids, tickets, orders;
    table_init(&ids, 1u << 20);
    table_init(&tickets, 1u << 16);
    table_init(&orders, 1u << 17);
    uint64_t refunds = 0;
    uint64_t type_count[N(types)] = {0};
    uint64_t n = 0, repeats = 0, complaints = 0;
    int64_t last_ts = INT64_MIN;
    static char buf[KS_GEN_MAX_EVENT], prev[KS_GEN_MAX_EVENT];
    prev[0] = '\0';
    size_t len, keylen;
    const char *key;
    int64_t ts;
    int r;
    while ((r = ks_gen_next(g, buf, sizeof buf, &len, &key, &keylen, &ts)) == 1) {
        n++;
        cr_assert_eq(strlen(buf), len);
        cr_assert_geq(ts, last_ts, "ts goes back at event %llu", (unsigned long long)n);
        last_ts = ts;
        cr_assert(ts >= o.start_ms && ts < end);

        cJSON *j = cJSON_ParseWithLength(buf, len);
        cr_assert_not_null(j, "not JSON: %s", buf);
        cr_assert(cJSON_IsObject(j));

        const char *id = str_field(j, "event_id", 1, buf);
        rec *idr = table_get(&ids, id);
        if (idr->count++ > 0) {
            /* Only a deliberate duplicate may repeat an id: byte-identical to the previous event.
             */
            cr_assert_str_eq(buf, prev, "event_id %s reused by a different event", id);
            repeats++;
            cJSON_Delete(j);
            continue;
        }
        memcpy(prev, buf, len + 1);

        const char *type = str_field(j, "type", 1, buf);
        size_t ti = 0;
        while (ti < N(types) && strcmp(types[ti], type) != 0)
            ti++;
        cr_assert_lt(ti, N(types), "unknown type in %s", buf);
        type_count[ti]++;

        const cJSON *jts = cJSON_GetObjectItemCaseSensitive(j, "ts");
        cr_assert(cJSON_IsNumber(jts), "ts not a number: %s", buf);
        cr_assert_eq((int64_t)jts->valuedouble, ts);
        cr_assert_eq(jts->valuedouble, floor(jts->valuedouble), "ts not an integer: %s", buf);

        int is_mkt = strcmp(type, "marketing_spend") == 0;
        const char *cust = str_field(j, "customer_id", !is_mkt, buf);
        if (is_mkt) {
            cr_assert_null(cust, "marketing_spend with a customer_id: %s", buf);
            const char *camp = str_field(j, "campaign", 0, buf);
            cr_assert(camp && keylen == strlen(camp) && memcmp(key, camp, keylen) == 0);
        } else {
            cr_assert(keylen == strlen(cust) && memcmp(key, cust, keylen) == 0,
                      "key is not the customer_id: %s", buf);
            const char *seg = str_field(j, "segment", 0, buf);
            cr_assert(seg && in_list(seg, segments, N(segments)), "segment in %s", buf);
        }
        const char *chan = str_field(j, "channel", 0, buf);
        cr_assert(!chan || in_list(chan, channels, N(channels)), "channel in %s", buf);

        int has;
        double amount = num_field(j, "amount", 0, buf, &has);
        if (strcmp(type, "purchase") == 0) {
            rec *ord = table_get(&orders, str_field(j, "order_id", 1, buf));
            cr_assert_eq(ord->amount, 0, "order_id reused: %s", buf);
            ord->amount = amount;
            snprintf(ord->owner, sizeof ord->owner, "%s", cust);
            str_field(j, "category", 0, buf);
            str_field(j, "product", 0, buf);
            num_field(j, "amount", 1, buf, &has);
            cr_assert_gt(amount, 0, "%s", buf);
        } else if (strcmp(type, "refund") == 0) {
            num_field(j, "amount", 1, buf, &has);
            cr_assert_gt(amount, 0, "%s", buf);
            const char *oid = str_field(j, "order_id", 0, buf);
            if (oid) {
                /* A refund is for an earlier order of the same customer, at most its amount. */
                rec *ord = table_get(&orders, oid);
                cr_assert_gt(ord->amount, 0, "refund of an unknown order: %s", buf);
                cr_assert_str_eq(ord->owner, cust, "refund by another customer: %s", buf);
                cr_assert_leq(amount, ord->amount + 1e-9, "refund above the order: %s", buf);
                refunds++;
            }
        } else if (strcmp(type, "subscription") == 0) {
            const char *a = str_field(j, "action", 1, buf);
            cr_assert(in_list(a, sub_actions, N(sub_actions)), "%s", buf);
        } else if (strcmp(type, "payment_failed") == 0) {
            cr_assert(!has || amount > 0, "%s", buf);
        } else if (strcmp(type, "ticket") == 0) {
            const char *tid = str_field(j, "ticket_id", 1, buf);
            const char *a = str_field(j, "action", 1, buf);
            cr_assert(in_list(a, ticket_actions, N(ticket_actions)), "%s", buf);
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "complaint");
            rec *t = table_get(&tickets, tid);
            if (strcmp(a, "opened") == 0) {
                cr_assert(cJSON_IsBool(c), "opened without a bool complaint: %s", buf);
                complaints += cJSON_IsTrue(c);
                cr_assert_eq(t->opened, INT64_MIN, "ticket %s opened twice", tid);
                t->opened = ts;
            } else if (strcmp(a, "responded") == 0) {
                cr_assert(!c || cJSON_IsBool(c));
                cr_assert_neq(t->opened, INT64_MIN, "responded before opened: %s", buf);
                cr_assert_eq(t->responded, INT64_MIN, "ticket %s responded twice", tid);
                cr_assert_geq(ts, t->opened);
                t->responded = ts;
            } else {
                cr_assert_neq(t->responded, INT64_MIN, "resolved before responded: %s", buf);
                cr_assert_eq(t->resolved, INT64_MIN, "ticket %s resolved twice", tid);
                cr_assert_geq(ts, t->responded);
                t->resolved = ts;
            }
        } else if (strcmp(type, "survey") == 0) {
            const char *kind = str_field(j, "kind", 1, buf);
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "score");
            cr_assert(cJSON_IsNumber(s) && s->valuedouble == floor(s->valuedouble),
                      "score not an integer: %s", buf);
            int sc = s->valueint;
            if (strcmp(kind, "csat") == 0)
                cr_assert(sc >= 1 && sc <= 5, "%s", buf);
            else if (strcmp(kind, "nps") == 0)
                cr_assert(sc >= 0 && sc <= 10, "%s", buf);
            else
                cr_assert_fail("survey kind %s", kind);
        } else if (strcmp(type, "lead") == 0) {
            const char *a = str_field(j, "action", 1, buf);
            cr_assert(in_list(a, lead_actions, N(lead_actions)), "%s", buf);
        } else if (is_mkt || strcmp(type, "retention_spend") == 0) {
            num_field(j, "amount", 1, buf, &has);
            cr_assert_geq(amount, 0, "%s", buf);
        } else if (strcmp(type, "referral") == 0) {
            const char *ref = str_field(j, "referred_customer_id", 0, buf);
            cr_assert(!ref || strcmp(ref, cust) != 0, "self-referral: %s", buf);
        } else if (strcmp(type, "interaction") == 0) {
            str_field(j, "action", 0, buf);
        }
        cJSON_Delete(j);
    }
    cr_assert_eq(r, 0);

    for (size_t i = 0; i < N(types); i++)
        cr_assert_gt(type_count[i], 0, "no %s event in a 100k customer-day sample", types[i]);
    ks_gen_stats st;
    ks_gen_get_stats(g, &st);
    cr_assert_eq(st.duplicates, repeats);
    cr_assert_eq(st.events + st.duplicates, n);
    cr_assert_gt(repeats, 0);
    cr_assert_gt(complaints, 0);
    cr_assert_gt(refunds, 0);
    for (size_t i = 0; i < N(types); i++)
        cr_assert_eq(st.by_type[i], type_count[i], "stats for %s", types[i]);
    /* Most tickets get a response and most responses a resolution. */
    size_t opened = 0, responded = 0, resolved = 0;
    for (size_t i = 0; i < tickets.cap; i++) {
        if (!tickets.slots[i].key) continue;
        opened += tickets.slots[i].opened != INT64_MIN;
        responded += tickets.slots[i].responded != INT64_MIN;
        resolved += tickets.slots[i].resolved != INT64_MIN;
    }
    cr_assert_gt(responded, opened * 8 / 10, "%zu of %zu tickets responded", responded, opened);
    cr_assert_gt(resolved, responded * 8 / 10);
    table_free(&ids);
    table_free(&tickets);
    table_free(&orders);
    ks_gen_free(g);
}
