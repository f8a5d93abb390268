/* Redis layout of the per-customer outputs; see include/kpistream/layout.h. */
#include "kpistream/layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* <prefix><name><suffix> into buf (truncated at size: config validation keeps
 * prefixes short, ids are bounded by the parser); returns its length. No
 * printf: this runs per customer per flush. */
static size_t ks__key(char *buf, size_t size, const char *prefix, const char *name,
                      const char *suffix, size_t suffixlen)
{
    size_t pl = strlen(prefix), nl = strlen(name);
    if (pl + nl + suffixlen >= size)
        return 0;
    memcpy(buf, prefix, pl);
    memcpy(buf + pl, name, nl);
    memcpy(buf + pl + nl, suffix, suffixlen);
    buf[pl + nl + suffixlen] = '\0';
    return pl + nl + suffixlen;
}

void ks_layout_customer(ks_batch *b, const char *prefix, const char *id, size_t idlen,
                        const ks_out_field *f, int nf)
{
    char key[320];
    size_t kl = ks__key(key, sizeof key, prefix, "customer:", id, idlen);
    ks_batch_cmd(b);
    ks_batch_str(b, "HSET");
    ks_batch_arg(b, key, kl);
    for (int i = 0; i < nf; i++) {
        ks_batch_str(b, f[i].name);
        ks_batch_arg(b, f[i].value, f[i].len);
    }
}

/* One ZADD (score > 0) or ZREM command for one customer. */
static void ks__risk_one(ks_batch *b, const char *key, size_t kl, const char *id, size_t idlen,
                         unsigned score)
{
    ks_batch_cmd(b);
    if (score > 0) {
        ks_batch_str(b, "ZADD");
        ks_batch_arg(b, key, kl);
        ks_batch_i64(b, score);
    } else {
        ks_batch_str(b, "ZREM");
        ks_batch_arg(b, key, kl);
    }
    ks_batch_arg(b, id, idlen);
}

static size_t ks__risk_key(char *key, size_t size, const char *prefix)
{
    return ks__key(key, size, prefix, "risk", "", 0);
}

void ks_layout_risk(ks_layout_risks *r, ks_batch *b, const char *prefix, const char *id,
                    size_t idlen, unsigned score)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        const char **ids = realloc(r->id, cap * sizeof *ids);
        if (ids)
            r->id = ids;
        uint32_t *lens = ids ? realloc(r->len, cap * sizeof *lens) : NULL;
        if (lens)
            r->len = lens;
        unsigned *scores = lens ? realloc(r->score, cap * sizeof *scores) : NULL;
        if (scores)
            r->score = scores;
        if (!scores) { /* out of memory: this one goes out on its own */
            char key[80];
            ks__risk_one(b, key, ks__risk_key(key, sizeof key, prefix), id, idlen, score);
            return;
        }
        r->cap = cap;
    }
    r->id[r->n] = id;
    r->len[r->n] = (uint32_t)idlen;
    r->score[r->n] = score;
    r->n++;
}

/* Members per command: Redis takes any number; this keeps one command's
 * argument vector (and its reply) small. */
#define KS__RISK_PER_CMD 1000

void ks_layout_risks_emit(ks_layout_risks *r, ks_batch *b, const char *prefix)
{
    char key[80];
    size_t kl = ks__risk_key(key, sizeof key, prefix);
    for (int add = 1; add >= 0; add--) {
        size_t in_cmd = 0;
        for (size_t i = 0; i < r->n; i++) {
            if ((r->score[i] > 0) != add)
                continue;
            if (in_cmd == 0) {
                ks_batch_cmd(b);
                ks_batch_str(b, add ? "ZADD" : "ZREM");
                ks_batch_arg(b, key, kl);
            }
            if (add)
                ks_batch_i64(b, r->score[i]);
            ks_batch_arg(b, r->id[i], r->len[i]);
            if (++in_cmd == KS__RISK_PER_CMD)
                in_cmd = 0;
        }
    }
    r->n = 0;
}

void ks_layout_risks_free(ks_layout_risks *r)
{
    free(r->id);
    free(r->len);
    free(r->score);
    memset(r, 0, sizeof *r);
}

/* Sends each notice only if its id is new: a replay after a crash, or the
 * retry of a flush whose reply was lost, raises an alert or trigger again
 * (same moment, same deterministic id), and this makes sending it
 * idempotent. The ids are kept by the UTC day of their time, a hash a day:
 * <prefix>notices:seen:<day> (day = ms / 86 400 000), field = id; the days
 * that have one are the fields of <prefix>notices:seen:days, so the trim
 * (ks_layout_notices_trim) deletes whole days. A hash, not the sorted set by
 * time it was: a ZADD into a set of a flush's ids and two days more cost
 * 2.7-3.8 us, an HSET 0.5-0.8 (docs/benchmarks.md), and HSET, HDEL, HGETALL
 * and DEL are commands the ACL of docs/security.md already grants. An entry
 * that cannot be added (a stream key of the wrong type) takes its id back
 * out and fails the call, so the flush's retry sends it; left in, it would
 * be skipped for good.
 *
 * One call carries up to KS__NOTICES_PER_CALL notices: one EVAL per notice
 * spent about a third of Redis's time for it starting the script
 * (docs/benchmarks.md). The day hashes' names are made in the script from
 * KEYS[1] (a single Redis, as MULTI across the outputs needs anyway).
 * Upgrades: the previous layout kept the ids in a sorted set under KEYS[1]
 * itself. While it is there (HLEN answers WRONGTYPE: a check the ACL
 * allows, once a call), an id in it counts as sent (ZADD XX INCR 0 reads
 * its score and changes nothing) and is carried over to its day; the trim
 * empties that set by time.
 * KEYS: the seen ids' name, alerts stream, triggers stream. ARGV[1]: the
 * channel; then per notice: id, day, stream (2 alerts, 3 triggers: its KEYS
 * index), json ("" = no publish), n, and the entry's n field/value args. */
static const char ks__notice_script[] =
    "local i, s, last, k = 2, 0, nil, nil "
    "local legacy = type(redis.pcall('HLEN', KEYS[1])) == 'table' "
    "while i <= #ARGV do "
    "local n = tonumber(ARGV[i + 4]) "
    "if ARGV[i + 1] ~= last then "
    "last = ARGV[i + 1] "
    "k = KEYS[1] .. ':' .. last "
    "redis.call('HSET', KEYS[1] .. ':days', last, '1') "
    "end "
    "local old = legacy and redis.call('ZADD', KEYS[1], 'XX', 'INCR', '0', ARGV[i]) "
    "if redis.call('HSET', k, ARGV[i], '1') == 1 and not old then "
    "local r = redis.pcall('XADD', KEYS[tonumber(ARGV[i + 2])], 'MAXLEN', '~', '100000', '*', "
    "unpack(ARGV, i + 5, i + 4 + n)) "
    "if type(r) == 'table' and r.err then redis.call('HDEL', k, ARGV[i]) return r end "
    "if ARGV[i + 3] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[i + 3]) end "
    "s = s + 1 "
    "end "
    "i = i + 5 + n "
    "end "
    "return s";

/* Deletes the day hashes of seen ids before day ARGV[1], and trims the
 * sorted set of ids the previous layout kept under KEYS[1] itself to times
 * from ARGV[2] on (it empties, and so goes, two days of clock after an
 * upgrade). KEYS[1]: the seen ids' name. */
static const char ks__seen_trim_script[] =
    "local idx = KEYS[1] .. ':days' "
    "local t = redis.call('HGETALL', idx) "
    "local keep = tonumber(ARGV[1]) "
    "for j = 1, #t, 2 do "
    "if tonumber(t[j]) < keep then "
    "redis.call('DEL', KEYS[1] .. ':' .. t[j]) "
    "redis.call('HDEL', idx, t[j]) "
    "end "
    "end "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2]) "
    "return 0";

#define KS__DAY_MS 86400000LL

/* The UTC day of ms (floored). */
static int64_t ks__day(int64_t ms)
{
    return ms >= 0 ? ms / KS__DAY_MS : -((-ms + KS__DAY_MS - 1) / KS__DAY_MS);
}

#define KS__NOTICES_PER_CALL 64

void ks_layout_notices_begin(ks_layout_notices *nl, ks_batch *b, const char *prefix)
{
    nl->b = b;
    nl->prefix = prefix;
    nl->n = 0;
}

void ks_layout_notices_end(ks_layout_notices *nl)
{
    nl->n = 0; /* the call is complete as it stands; the next notice opens another */
}

/* Appends one notice to the open call (opening one if none is open or the
 * open one is full): its head, then its stream entry's nf fields. */
static void ks__notice(ks_layout_notices *nl, int stream_key, const char *nid, int64_t at_ms,
                       const char *json, size_t jsonlen, const ks_out_field *f, int nf)
{
    ks_batch *b = nl->b;
    if (nl->n == 0 || nl->n >= KS__NOTICES_PER_CALL) {
        ks_batch_cmd(b);
        ks_batch_str(b, "EVAL");
        ks_batch_str(b, ks__notice_script);
        ks_batch_str(b, "3");
        ks_batch_fmt(b, "%snotices:seen", nl->prefix);
        ks_batch_fmt(b, "%salerts", nl->prefix);
        ks_batch_fmt(b, "%striggers", nl->prefix);
        ks_batch_fmt(b, "%salerts", nl->prefix);
        nl->n = 0;
    }
    nl->n++;
    ks_batch_str(b, nid);
    ks_batch_i64(b, ks__day(at_ms));
    ks_batch_i64(b, stream_key);
    ks_batch_arg(b, json, jsonlen);
    ks_batch_i64(b, 2 * nf);
    for (int i = 0; i < nf; i++) {
        ks_batch_str(b, f[i].name);
        ks_batch_arg(b, f[i].value, f[i].len);
    }
}

/* A field whose value is a C string. */
#define KS__F(name, v) {name, v, strlen(v)}

/* Writes s as a JSON string body (quotes excluded) into out. */
static void ks__json_escape(const char *s, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 7 < size; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch < 0x20) {
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", ch);
        } else {
            out[o++] = (char)ch;
        }
    }
    out[o] = '\0';
}

void ks_layout_alert(ks_layout_notices *nl, const ks_out_alert *a)
{
    /* The alert as JSON for the pub/sub channel. */
    char eid[300], eseg[300], json[1024], list[160];
    ks__json_escape(a->customer, a->customer_len, eid, sizeof eid);
    ks__json_escape(a->segment, strlen(a->segment), eseg, sizeof eseg);
    size_t o = 0;
    list[0] = '\0';
    for (const char *tok = a->reasons; *tok;) {
        const char *comma = strchr(tok, ',');
        size_t l = comma ? (size_t)(comma - tok) : strlen(tok);
        o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%.*s\"", o ? "," : "", (int)l, tok);
        tok += l + (comma ? 1 : 0);
    }
    int jl = snprintf(json, sizeof json,
                      "{\"alert_id\":\"%s\",\"customer\":\"%s\",\"score\":%u,\"level\":\"high\","
                      "\"reasons\":[%s],\"clv\":%s,\"segment\":\"%s\",\"ts\":%lld}",
                      a->alert_id, eid, a->score, list, a->clv, eseg, (long long)a->ts_ms);
    char score[24], ts[24];
    size_t sl = ks_batch_i64_text(score, a->score), tl = ks_batch_i64_text(ts, a->ts_ms);
    ks_out_field f[] = {KS__F("alert_id", a->alert_id), {"customer", a->customer, a->customer_len},
                        {"score", score, sl}, KS__F("level", "high"), KS__F("reasons", a->reasons),
                        KS__F("clv", a->clv), KS__F("segment", a->segment), {"ts", ts, tl}};
    ks__notice(nl, 2, a->alert_id, a->ts_ms, json,
               jl > 0 && (size_t)jl < sizeof json ? (size_t)jl : 0, f, (int)(sizeof f / sizeof *f));
}

void ks_layout_trigger(ks_layout_notices *nl, const ks_out_trigger *t)
{
    char ts[24];
    size_t tl = ks_batch_i64_text(ts, t->ts_ms);
    ks_out_field f[] = {KS__F("trigger", t->trigger), KS__F("trigger_id", t->trigger_id),
                        {"customer", t->customer, t->customer_len}, KS__F("segment", t->segment),
                        {"ts", ts, tl}};
    ks__notice(nl, 3, t->trigger_id, t->ts_ms, "", 0, f, (int)(sizeof f / sizeof *f));
}

void ks_layout_notices_trim(ks_batch *b, const char *prefix, int64_t keep_from_ms)
{
    ks_batch_cmd(b);
    ks_batch_str(b, "EVAL");
    ks_batch_str(b, ks__seen_trim_script);
    ks_batch_str(b, "1");
    ks_batch_fmt(b, "%snotices:seen", prefix);
    ks_batch_i64(b, ks__day(keep_from_ms));
    ks_batch_i64(b, keep_from_ms);
}
