/* Partition snapshots at the state level (src/state/snapshot.c and the
 * <module>_snap.c files): the framing refuses what it must, each module's
 * part comes back as it was, and a partition restored from a snapshot goes
 * on exactly as the original does.
 *
 * A seeded stream of every event type (segment moves, several channels,
 * categories, tickets, surveys, cancels) through the real ks_pstate; events
 * are built as ks_event_parse() leaves them (this module does not link the
 * parser). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kpistream/err.h"
#include "state/state.h"
#include "state/snap_parts.h"
#include "state_config.h"

#define SEC 1000LL
#define HOUR (3600 * SEC)
#define DAY (24 * HOUR)
#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */

static ks_config cfg;

static void cfg_init(void)
{
    kst_state_config(&cfg);
    cfg.churn_inactivity_ms = 5 * DAY;
    cfg.max_segments = 8;
    cfg.max_channels = 4; /* fewer than the stream has: "other" too */
}

static void shared_init(ks_engine_shared *sh)
{
    memset(sh, 0, sizeof *sh);
    sh->cfg = &cfg;
    sh->social_channel = -1;
    ks_intern_init(&sh->segments, cfg.max_segments + 1);
    ks_intern_init(&sh->channels, cfg.max_channels + 1);
    ks_intern_init(&sh->categories, KS_CATEGORIES_MAX);
}

TestSuite(snapshot, .init = cfg_init);

static size_t find_tag(const uint8_t *buf, size_t len, const char *tag);

/* --- a seeded stream --- */

typedef struct gen {
    uint64_t rng;
    int64_t t;
    int n;
    char buf[8][64]; /* strings of the event being built */
} gen;

static uint32_t rnd(gen *g, uint32_t n)
{
    g->rng = g->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(g->rng >> 33) % n;
}

static ks_str sstr(char *b, const char *fmt, int v)
{
    int len = snprintf(b, 64, fmt, v);
    return (ks_str){b, (uint32_t)len};
}

/* Builds the next event (borrowing g's buffers until the next call). */
static ks_event next_event(gen *g)
{
    static const char *const seg[] = {"smb", "enterprise", "mid", "edu"};
    static const char *const ch[] = {"web", "app", "social", "email", "phone", "chat"};
    ks_event ev;
    memset(&ev, 0, sizeof ev);
    g->t += rnd(g, 40) * 60 * SEC;
    ev.ts_ms = g->t - rnd(g, 3) * HOUR; /* a little out of order */
    int c = (int)rnd(g, 150);
    /* Every 20th event repeats the last id: a producer retry. */
    ev.event_id = sstr(g->buf[0], "e%d", g->n % 20 == 19 ? g->n - 1 : g->n);
    g->n++;
    ev.customer_id = sstr(g->buf[1], "c%d", c);
    if (rnd(g, 3) == 0) { /* customers move segment now and then */
        const char *s = seg[(c + (int)rnd(g, 2) * (g->n / 500)) % 4];
        ev.segment = (ks_str){s, (uint32_t)strlen(s)};
    }
    if (rnd(g, 4)) {
        const char *s = ch[rnd(g, 6)];
        ev.channel = (ks_str){s, (uint32_t)strlen(s)};
    }
    switch (rnd(g, 10)) {
    case 0:
        ev.type = KS_EV_SIGNUP;
        break;
    case 1:
    case 2:
        ev.type = KS_EV_PURCHASE;
        ev.order_id = sstr(g->buf[2], "o%d", g->n);
        ev.amount = 1 + rnd(g, 20000) / 100.0;
        ev.has_amount = true;
        ev.category = sstr(g->buf[3], "cat%d", (int)rnd(g, 6));
        ev.product = sstr(g->buf[4], "p%d", (int)rnd(g, 30));
        break;
    case 3:
        ev.type = KS_EV_REFUND;
        ev.amount = 1 + rnd(g, 500) / 100.0;
        ev.has_amount = true;
        break;
    case 4:
        ev.type = KS_EV_TICKET;
        ev.ticket_id = sstr(g->buf[5], "t%d", c * 3 + (int)rnd(g, 3));
        ev.action = (ks_action)(KS_ACT_TICKET_OPENED + rnd(g, 3));
        ev.complaint = rnd(g, 2);
        ev.category = sstr(g->buf[3], "tc%d", (int)rnd(g, 3));
        break;
    case 5:
        ev.type = KS_EV_SURVEY;
        ev.survey_kind = rnd(g, 2) ? KS_SURVEY_CSAT : KS_SURVEY_NPS;
        ev.score = ev.survey_kind == KS_SURVEY_CSAT ? 1 + (int)rnd(g, 5) : (int)rnd(g, 11);
        break;
    case 6:
        ev.type = KS_EV_SUBSCRIPTION;
        ev.action = (ks_action)(KS_ACT_SUB_START + rnd(g, 5));
        break;
    case 7:
        ev.type = KS_EV_PAYMENT_FAILED;
        break;
    case 8:
        ev.type = rnd(g, 2) ? KS_EV_LEAD : KS_EV_MARKETING_SPEND;
        ev.action = rnd(g, 2) ? KS_ACT_LEAD_CREATED : KS_ACT_LEAD_CONVERTED;
        ev.amount = 10;
        ev.has_amount = true;
        if (ev.type == KS_EV_MARKETING_SPEND)
            ev.customer_id = (ks_str){NULL, 0};
        break;
    default:
        ev.type = KS_EV_INTERACTION;
        break;
    }
    return ev;
}

/* n events into p, the clock following the stream an hour behind. */
static void feed(ks_pstate *p, gen *g, int n)
{
    for (int i = 0; i < n; i++) {
        ks_event ev = next_event(g);
        if (ks_pstate_seen(p, &ev))
            continue;
        cr_assert_eq(ks_pstate_apply(p, &ev), 0);
        p->nresp = 0;
        if (i % 50 == 49)
            ks_pstate_advance(p, g->t - HOUR);
    }
}

/* What a load leaves of what waits for a flush: nothing dirty, every
 * customer marked as having had an event. */
static void normalise(ks_pstate *p)
{
    ks_pstate_clear_dirty(p);
    for (uint32_t i = 0; i < p->ncust; i++)
        p->cust[i].flags |= KS_CUST_EVENT;
    p->nnotices = 0;
}

static uint8_t *save(const ks_pstate *p, size_t *len)
{
    ks_snapw w;
    cr_assert_eq(ks_snapw_open_mem(&w), 0);
    ks_pstate_snap_save(&w, p);
    uint8_t *out = NULL;
    cr_assert_eq(ks_snapw_close(&w, &out, len), 0);
    return out;
}

/* Loads buf into a new state on sh; NULL (why filled) if refused. */
static ks_pstate *load(ks_engine_shared *sh, const uint8_t *buf, size_t len, char *why)
{
    ks_snapr r;
    if (ks_snapr_open(&r, buf, len, why, 200) < 0)
        return NULL;
    ks_pstate *p = ks_pstate_new(sh);
    cr_assert_not_null(p);
    if (ks_pstate_snap_load(&r, p) < 0 || (r.pos != r.len && (ks_snapr_fail(&r, "trailing"), 1))) {
        snprintf(why, 200, "%s", r.why);
        ks_pstate_free(p);
        return NULL;
    }
    return p;
}

/* --- framing --- */

Test(snapshot, framing_round_trip_and_refusals)
{
    ks_snapw w;
    cr_assert_eq(ks_snapw_open_mem(&w), 0);
    ks_snapw_tag(&w, "TEST");
    ks_snapw_u32(&w, 7);
    ks_snapw_i64(&w, -5);
    ks_snapw_str(&w, "hello", 5);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ks_snapw_close(&w, &buf, &len), 0);
    cr_assert_eq(len, KS_SNAP_HEADER + 4 + 4 + 8 + 4 + 5);

    char why[200], s[16];
    ks_snapr r;
    cr_assert_eq(ks_snapr_open(&r, buf, len, why, sizeof why), 0, "%s", why);
    cr_expect(ks_snapr_tag(&r, "TEST"));
    cr_expect_eq(ks_snapr_u32(&r), 7);
    cr_expect_eq(ks_snapr_i64(&r), -5);
    cr_expect_eq(ks_snapr_str(&r, s, sizeof s), 5);
    cr_expect_str_eq(s, "hello");
    cr_expect_not(r.bad);
    ks_snapr_u8(&r); /* past the end */
    cr_expect(r.bad);
    cr_expect(strstr(r.why, "truncated"), "%s", r.why);

    /* A byte flipped in the body, the header, a cut, another version. */
    buf[len - 2] ^= 1;
    cr_expect_eq(ks_snapr_open(&r, buf, len, why, sizeof why), KS_ERR_PARSE);
    cr_expect(strstr(why, "body checksum"), "%s", why);
    buf[len - 2] ^= 1;
    buf[20] ^= 1;
    cr_expect_eq(ks_snapr_open(&r, buf, len, why, sizeof why), KS_ERR_PARSE);
    cr_expect(strstr(why, "header checksum"), "%s", why);
    buf[20] ^= 1;
    cr_expect_eq(ks_snapr_open(&r, buf, len - 1, why, sizeof why), KS_ERR_PARSE);
    cr_expect(strstr(why, "truncated"), "%s", why);
    uint32_t v = KS_SNAP_VERSION + 1;
    memcpy(buf + 8, &v, 4);
    ks_snap_reseal(buf, len);
    cr_expect_eq(ks_snapr_open(&r, buf, len, why, sizeof why), KS_ERR_PARSE);
    char want[64];
    snprintf(want, sizeof want, "format version %u; this build reads version %d", v,
             KS_SNAP_VERSION);
    cr_expect(strstr(why, want), "%s", why);
    cr_expect_eq(ks_snapr_open(&r, "KSSNAP", 6, why, sizeof why), KS_ERR_PARSE);
    free(buf);
}

/* The file writer streams in chunks; its bytes and checksum are those of
 * the memory writer, whatever the pieces. */
Test(snapshot, file_writer_matches_memory_writer)
{
    size_t n = 3 * KS_SNAP_CHUNK + 12345;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = (uint8_t)(i * 131 + (i >> 9));
    char path[] = "/tmp/ks-snap-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "xyz", 3), 3); /* the snapshot starts after other bytes */
    ks_snapw wf, wm;
    cr_assert_eq(ks_snapw_open_fd(&wf, fd), 0);
    cr_assert_eq(ks_snapw_open_mem(&wm), 0);
    for (size_t o = 0, k = 1; o < n; o += k, k = k * 7 % 100003 + 1) {
        size_t m = o + k > n ? n - o : k;
        ks_snapw_put(&wf, data + o, m);
        ks_snapw_put(&wm, data + o, m);
    }
    cr_assert_eq(ks_snapw_close(&wf, NULL, NULL), 0);
    uint8_t *mem;
    size_t len;
    cr_assert_eq(ks_snapw_close(&wm, &mem, &len), 0);
    cr_assert_eq(len, n + KS_SNAP_HEADER);
    uint8_t *file = malloc(len + 3);
    cr_assert_eq(pread(fd, file, len + 3, 0), (ssize_t)(len + 3));
    cr_expect_eq(memcmp(file, "xyz", 3), 0);
    cr_expect_eq(memcmp(file + 3, mem, len), 0, "file and memory writers differ");
    char why[200];
    ks_snapr r;
    cr_expect_eq(ks_snapr_open(&r, file + 3, len, why, sizeof why), 0, "%s", why);
    close(fd);
    unlink(path);
    free(file);
    free(mem);
    free(data);
}

/* --- module parts --- */

/* Bytes of s's snapshot part as of bucket now_n (INT64_MIN: as it is). */
static uint8_t *series_bytes(const ks_series *s, int64_t now_n, size_t *len)
{
    ks_snapw w;
    cr_assert_eq(ks_snapw_open_mem(&w), 0);
    ks_series_snap_save(&w, s, now_n);
    uint8_t *buf;
    cr_assert_eq(ks_snapw_close(&w, &buf, len), 0);
    return buf;
}

/* A partition moves a series to its clock only when it next uses it
 * (pstate.c): the file of one left behind is that of the moved one, so a
 * snapshot does not depend on which groups the last events used. */
Test(snapshot, series_saved_as_moved)
{
    for (int64_t at = 40; at <= 400; at += 30) {
        ks_series moved, left;
        ks_series_init(&moved, 60);
        ks_series_init(&left, 60);
        for (int i = 0; i < 200; i += 7)
            for (ks_series *s = &moved; s; s = s == &moved ? &left : NULL) {
                cr_assert_eq(ks_series_add(s, (int64_t)i * 60 + 5, KS_C_EVENTS, i + 1), 0);
                ks_series_move(s, 0, (int64_t)i * 60 + 9, KS_C_D_ACTIVE);
            }
        ks_series_advance(&moved, 20 * 60);
        ks_series_advance(&left, 20 * 60);
        ks_series_advance(&moved, at * 60);
        size_t la, lb, lc;
        uint8_t *a = series_bytes(&moved, INT64_MIN, &la);
        uint8_t *b = series_bytes(&left, at, &lb);
        uint8_t *c = series_bytes(&moved, at, &lc);
        cr_assert_eq(lb, la, "clock bucket %lld", (long long)at);
        cr_expect_eq(memcmp(a, b, la), 0, "clock bucket %lld", (long long)at);
        cr_assert_eq(lc, la);
        cr_expect_eq(memcmp(a, c, la), 0, "a moved series saved again as moved");
        size_t lu;
        uint8_t *u = series_bytes(&left, INT64_MIN, &lu);
        if (at > 80) /* (bucket 0, the first entry, is behind from 60 on) */
            cr_expect(lb < lu, "entries behind the window are left out");
        free(a), free(b), free(c), free(u);
        ks_series_reset(&moved);
        ks_series_reset(&left);
    }
}

Test(snapshot, series_round_trip)
{
    ks_series s, t;
    ks_series_init(&s, 60);
    for (int i = 0; i < 200; i += 3) {
        /* Every counter (a bucket of its own), or only (i % 5) of them
         * (kept in the entry, up to four). */
        int nk = i % 2 ? KS_DISTINCT_FIRST : i % 5;
        for (int k = 0; k < nk; k++)
            cr_assert_eq(ks_series_add(&s, (int64_t)i * 60 + 5, (ks_counter)(k * 7 % KS_DISTINCT_FIRST),
                                       i * 100 + k + 1), 0);
        /* Last-touch counts live in the entry: i moves in, i / 3 out again. */
        for (int j = 0; j < KS_DISTINCT; j++)
            for (int m = 0; m < i + j; m++)
                ks_series_move(&s, 0, (int64_t)i * 60 + 5, (ks_counter)(KS_DISTINCT_FIRST + j));
        for (int m = 0; m < i / 3; m++)
            ks_series_move(&s, (int64_t)i * 60 + 7, (int64_t)(i + 1) * 60 + 1, KS_C_D_ACTIVE);
    }
    ks_series_advance(&s, 150 * 60);
    ks_snapw w;
    cr_assert_eq(ks_snapw_open_mem(&w), 0);
    ks_series_snap_save(&w, &s, INT64_MIN); /* moved already */
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ks_snapw_close(&w, &buf, &len), 0);
    char why[200];
    ks_snapr r;
    cr_assert_eq(ks_snapr_open(&r, buf, len, why, sizeof why), 0);
    cr_assert_eq(ks_series_snap_load(&r, &t, 60), 0, "%s", r.why);
    cr_assert_eq(t.n, s.n);
    cr_expect_eq(t.clock_n, s.clock_n);
    cr_expect_eq(t.nb, s.nb, "as many buckets of their own: the others stay in their entries");
    cr_expect(s.nb > 0 && s.nb < s.n);
    for (uint32_t i = 0; i < s.n; i++) {
        const ks_sbucket *a = &s.e[s.head + i], *b = &t.e[t.head + i];
        cr_expect_eq(b->n, a->n);
        for (int k = 0; k < KS_C__COUNT; k++)
            cr_expect_eq(ks_sbucket_get(b, (ks_counter)k), ks_sbucket_get(a, (ks_counter)k),
                         "bucket %u counter %d", i, k);
        cr_expect_eq(memcmp(b->d, a->d, sizeof a->d), 0, "bucket %u's distinct counts", i);
    }
    ks_bucket ws = {0}, wt = {0};
    ks_series_sum_window(&s, 150 * 60, &ws);
    ks_series_sum_window(&t, 150 * 60, &wt);
    cr_expect_eq(memcmp(&ws, &wt, sizeof ws), 0);
    cr_expect_neq(ws.v[KS_C_D_REPURCHASING], 0);
    ks_series_reset(&t);
    /* Other settings: a window of other buckets. */
    cr_assert_eq(ks_snapr_open(&r, buf, len, why, sizeof why), 0);
    cr_expect_eq(ks_series_snap_load(&r, &t, 120), -1);
    cr_expect(strstr(r.why, "60 s buckets where the settings have 120 s"), "%s", r.why);
    ks_series_reset(&s);
    free(buf);
}

Test(snapshot, u64map_round_trip_and_count_check)
{
    ks_u64map m, n;
    cr_assert_eq(ks_u64map_init(&m, NULL, NULL), 0);
    cr_assert_eq(ks_u64map_init(&n, NULL, NULL), 0);
    bool created;
    for (uint64_t k = 0; k < 5000; k++)
        ks_u64map_put(&m, ks_u64map_key(k * 0x9E3779B97F4A7C15ULL), &created)->a = (int64_t)k;
    for (uint64_t k = 0; k < 5000; k += 7)
        ks_u64map_del(&m, ks_u64map_key(k * 0x9E3779B97F4A7C15ULL));
    ks_snapw w;
    cr_assert_eq(ks_snapw_open_mem(&w), 0);
    ks_u64map_snap_save(&w, &m);
    uint8_t *buf;
    size_t len;
    cr_assert_eq(ks_snapw_close(&w, &buf, &len), 0);
    char why[200];
    ks_snapr r;
    cr_assert_eq(ks_snapr_open(&r, buf, len, why, sizeof why), 0);
    cr_assert_eq(ks_u64map_snap_load(&r, &n), 0, "%s", r.why);
    cr_expect_eq(n.used, m.used);
    for (uint64_t k = 0; k < 5000; k++) {
        ks_u64map_val *v = ks_u64map_get(&n, ks_u64map_key(k * 0x9E3779B97F4A7C15ULL));
        if (k % 7 == 0)
            cr_expect_null(v);
        else
            cr_expect(v && v->a == (int64_t)k);
    }
    /* Counts that do not match the slots are refused (a probe could loop). */
    uint64_t used = m.used + 1;
    memcpy(buf + KS_SNAP_HEADER + 8, &used, 8);
    ks_snap_reseal(buf, len);
    cr_assert_eq(ks_snapr_open(&r, buf, len, why, sizeof why), 0);
    cr_expect_eq(ks_u64map_snap_load(&r, &n), -1);
    cr_expect(strstr(r.why, "counts do not match"), "%s", r.why);
    ks_u64map_reset(&m);
    ks_u64map_reset(&n);
    free(buf);
}

/* --- the whole partition state --- */

/* A partition restored from a snapshot is the original: re-saved it gives
 * the same bytes, and the same events after it keep them equal (rolling
 * lists, touches, tickets, dedup, windows, risk all go on the same way). */
Test(snapshot, pstate_round_trip_and_continuation)
{
    ks_engine_shared sh;
    shared_init(&sh);
    ks_pstate *a = ks_pstate_new(&sh);
    gen g = {.rng = 42, .t = T0};
    feed(a, &g, 6000);
    normalise(a);
    size_t la, lb;
    uint8_t *sa = save(a, &la);
    char why[200];
    ks_pstate *b = load(&sh, sa, la, why);
    cr_assert_not_null(b, "%s", why);
    uint8_t *sb = save(b, &lb);
    cr_assert_eq(lb, la);
    cr_expect_eq(memcmp(sa, sb, la), 0, "re-saved state differs");
    free(sb);
    cr_expect_gt(a->ncust, 100);
    cr_expect_gt(a->touches.used, 0, "the stream moved segments and used channels");
    cr_expect_gt(a->tickets.used, 0);

    gen g2 = g;
    feed(a, &g, 4000);
    feed(b, &g2, 4000);
    ks_pstate_advance(a, g.t + 10 * DAY);
    ks_pstate_advance(b, g2.t + 10 * DAY);
    normalise(a);
    normalise(b);
    free(sa);
    sa = save(a, &la);
    sb = save(b, &lb);
    cr_assert_eq(lb, la);
    size_t at = KS_SNAP_HEADER;
    while (at < la && sa[at] == sb[at])
        at++;
    const char *tags[] = {"NAME", "PSTA", "CUST", "ROLL", "TUCH", "DEDU", "TICK", "GRPS"};
    const char *in = "header";
    for (int i = 0; i < 8; i++)
        if (at < la && find_tag(sa, la, tags[i]) <= at)
            in = tags[i];
    cr_expect_eq(at, la, "the restored state went on differently: byte %zu, in %s (+%zu)", at, in,
                 at - (strcmp(in, "header") ? find_tag(sa, la, in) : 0));
    free(sa);
    free(sb);
    ks_pstate_free(a);
    ks_pstate_free(b);
}

/* Sums of group g's window w at clock_ms. */
static void window_sum(const ks_group *g, int w, int64_t clock_ms, ks_bucket *out)
{
    memset(out, 0, sizeof *out);
    if (g && g->used)
        ks_series_sum_window(&g->win[w], clock_ms / 1000, out);
}

static const ks_group *group_by_name(const ks_pstate *p, const ks_intern *t, ks_group *arr,
                                     const char *name)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0)
            return &arr[i];
    return NULL;
}

/* Another process met the names in another order: the snapshot's ids are
 * mapped by name, and everything counted by name stays equal. */
Test(snapshot, pstate_names_map_to_another_process_ids)
{
    ks_engine_shared sa_sh, sb_sh;
    shared_init(&sa_sh);
    shared_init(&sb_sh);
    /* The second process knows some names already, in another order. */
    ks_intern_id(&sb_sh.channels, "email", 5);
    ks_intern_id(&sb_sh.segments, "edu", 3);
    ks_intern_id(&sb_sh.segments, "mid", 3);
    ks_intern_id(&sb_sh.categories, "cat5", 4);
    ks_pstate *a = ks_pstate_new(&sa_sh);
    gen g = {.rng = 7, .t = T0};
    feed(a, &g, 5000);
    size_t la;
    uint8_t *sa = save(a, &la);
    char why[200];
    ks_pstate *b = load(&sb_sh, sa, la, why);
    cr_assert_not_null(b, "%s", why);
    free(sa);
    gen g2 = g;
    feed(a, &g, 3000);
    feed(b, &g2, 3000);
    int64_t clock = g.t;
    ks_pstate_advance(a, clock);
    ks_pstate_advance(b, clock);
    cr_assert_eq(b->ncust, a->ncust);
    for (uint32_t i = 0; i < a->ncust; i++) {
        const ks_customer *x = &a->cust[i], *y = &b->cust[i];
        cr_expect_eq(x->last_event_ms, y->last_event_ms);
        cr_expect_eq(x->risk_score, y->risk_score);
        cr_expect_eq(x->orders_total, y->orders_total);
        cr_expect_eq(x->open_tickets, y->open_tickets);
        cr_expect_str_eq(x->segment == KS_NONE ? "-" : sa_sh.segments.names[x->segment],
                         y->segment == KS_NONE ? "-" : sb_sh.segments.names[y->segment]);
        cr_expect_str_eq(x->acq_channel == KS_NONE ? "-" : sa_sh.channels.names[x->acq_channel],
                         y->acq_channel == KS_NONE ? "-" : sb_sh.channels.names[y->acq_channel]);
        for (int c = 0; c < sa_sh.categories.n; c++) {
            int d = ks_intern_id(&sb_sh.categories, sa_sh.categories.names[c],
                                 sa_sh.categories.lens[c]);
            cr_expect_eq(x->categories >> c & 1, y->categories >> d & 1);
        }
        ks_customer_rolling rx, ry;
        ks_customer_rolling_at(a, x, clock, &rx);
        ks_customer_rolling_at(b, y, clock, &ry);
        cr_expect_eq(memcmp(&rx, &ry, sizeof rx), 0, "customer %u's rolling fields", i);
    }
    /* Every group by name, every window: counts, sums, distinct customers. */
    for (int kind = 0; kind < 2; kind++) {
        const ks_intern *ta = kind ? &sa_sh.channels : &sa_sh.segments;
        const ks_intern *tb = kind ? &sb_sh.channels : &sb_sh.segments;
        for (int i = 0; i < ta->n; i++) {
            const ks_group *ga = kind ? &a->channels[i] : &a->segments[i];
            const ks_group *gb =
                group_by_name(b, tb, kind ? b->channels : b->segments, ta->names[i]);
            cr_assert_not_null(gb, "%s missing", ta->names[i]);
            cr_expect_eq(ga->base, gb->base, "%s base", ta->names[i]);
            for (int w = 0; w < cfg.nwindows; w++) {
                ks_bucket x, y;
                window_sum(ga, w, clock, &x);
                window_sum(gb, w, clock, &y);
                for (int k = 0; k < KS_C__COUNT; k++)
                    cr_expect_eq(x.v[k], y.v[k], "%s %s %s", ta->names[i], cfg.windows[w].name,
                                 ks_counter_name((ks_counter)k));
            }
        }
    }
    ks_pstate_free(a);
    ks_pstate_free(b);
}

/* Finds a section tag in a snapshot (test helper: tags are unlikely in data). */
static size_t find_tag(const uint8_t *buf, size_t len, const char *tag)
{
    for (size_t i = KS_SNAP_HEADER; i + 4 <= len; i++)
        if (memcmp(buf + i, tag, 4) == 0)
            return i;
    cr_assert_fail("no %s", tag);
    return 0;
}

/* A checksummed snapshot whose structure is wrong is refused naming it,
 * never loaded into tables that would then be read out of bounds. */
Test(snapshot, pstate_structure_checks)
{
    ks_engine_shared sh;
    shared_init(&sh);
    ks_pstate *a = ks_pstate_new(&sh);
    gen g = {.rng = 3, .t = T0};
    feed(a, &g, 2000);
    size_t len;
    uint8_t *s = save(a, &len);
    char why[200];
    size_t cust = find_tag(s, len, "CUST") + 4 + 4; /* the first record */
    uint8_t *copy = malloc(len);

    memcpy(copy, s, len);
    uint32_t off = 0x7FFFFFF0;
    memcpy(copy + cust + offsetof(ks_customer, id_off), &off, 4);
    ks_snap_reseal(copy, len);
    cr_expect_null(load(&sh, copy, len, why));
    cr_expect(strstr(why, "id lies outside"), "%s", why);

    memcpy(copy, s, len);
    uint32_t link = a->ncust + 5;
    memcpy(copy + cust + offsetof(ks_customer, lru_next), &link, 4);
    ks_snap_reseal(copy, len);
    cr_expect_null(load(&sh, copy, len, why));
    cr_expect(strstr(why, "activity"), "%s", why);

    memcpy(copy, s, len);
    copy[cust + offsetof(ks_customer, id_hash)] ^= 1;
    ks_snap_reseal(copy, len);
    cr_expect_null(load(&sh, copy, len, why));
    cr_expect(strstr(why, "does not match its hash"), "%s", why);

    memcpy(copy, s, len);
    memcpy(copy + find_tag(copy, len, "ROLL"), "LLOR", 4);
    ks_snap_reseal(copy, len);
    cr_expect_null(load(&sh, copy, len, why));
    cr_expect(strstr(why, "section ROLL expected"), "%s", why);

    /* Cut short at every section boundary-ish point: refused, never a crash. */
    for (size_t cut = KS_SNAP_HEADER; cut < len; cut += len / 97 + 1) {
        memcpy(copy, s, cut);
        ks_snap_reseal(copy, cut);
        cr_expect_null(load(&sh, copy, cut, why), "cut at %zu loaded", cut);
    }
    free(copy);
    free(s);
    ks_pstate_free(a);
}
