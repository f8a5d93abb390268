/* Redis layout of the per-customer outputs; see include/kpistream/layout.h. */
#include "kpistream/layout.h"

#include <stdio.h>
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

void ks_layout_risk(ks_batch *b, const char *prefix, const char *id, size_t idlen, unsigned score)
{
    char key[80];
    size_t kl = ks__key(key, sizeof key, prefix, "risk", "", 0);
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

/* Adds a notice only if its id is new: a replay after a crash can raise an
 * alert or trigger again (same moment, same deterministic id), and this
 * makes sending it idempotent. The ids are kept in <prefix>notices:seen
 * (score = notice time), trimmed by ks_layout_notices_trim().
 * KEYS: seen set, stream. ARGV: id, at_ms, channel, json ("" = no publish),
 * then the stream entry's field/value pairs. */
static const char ks__notice_script[] =
    "if redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1]) == 0 then return 0 end "
    "redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', unpack(ARGV, 5)) "
    "if ARGV[4] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end "
    "return 1";

static void ks__notice_begin(ks_batch *b, const char *prefix, const char *stream, const char *nid,
                             int64_t at_ms, const char *json, size_t jsonlen)
{
    ks_batch_cmd(b);
    ks_batch_str(b, "EVAL");
    ks_batch_str(b, ks__notice_script);
    ks_batch_str(b, "2");
    ks_batch_fmt(b, "%snotices:seen", prefix);
    ks_batch_fmt(b, "%s%s", prefix, stream);
    ks_batch_str(b, nid);
    ks_batch_i64(b, at_ms);
    ks_batch_fmt(b, "%salerts", prefix);
    ks_batch_arg(b, json, jsonlen);
}

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

void ks_layout_alert(ks_batch *b, const char *prefix, const ks_out_alert *a)
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
    ks__notice_begin(b, prefix, "alerts", a->alert_id, a->ts_ms, json,
                     jl > 0 && (size_t)jl < sizeof json ? (size_t)jl : 0);
    ks_batch_str(b, "alert_id");
    ks_batch_str(b, a->alert_id);
    ks_batch_str(b, "customer");
    ks_batch_arg(b, a->customer, a->customer_len);
    ks_batch_str(b, "score");
    ks_batch_i64(b, a->score);
    ks_batch_str(b, "level");
    ks_batch_str(b, "high");
    ks_batch_str(b, "reasons");
    ks_batch_str(b, a->reasons);
    ks_batch_str(b, "clv");
    ks_batch_str(b, a->clv);
    ks_batch_str(b, "segment");
    ks_batch_str(b, a->segment);
    ks_batch_str(b, "ts");
    ks_batch_i64(b, a->ts_ms);
}

void ks_layout_trigger(ks_batch *b, const char *prefix, const ks_out_trigger *t)
{
    ks__notice_begin(b, prefix, "triggers", t->trigger_id, t->ts_ms, "", 0);
    ks_batch_str(b, "trigger");
    ks_batch_str(b, t->trigger);
    ks_batch_str(b, "trigger_id");
    ks_batch_str(b, t->trigger_id);
    ks_batch_str(b, "customer");
    ks_batch_arg(b, t->customer, t->customer_len);
    ks_batch_str(b, "segment");
    ks_batch_str(b, t->segment);
    ks_batch_str(b, "ts");
    ks_batch_i64(b, t->ts_ms);
}

void ks_layout_notices_trim(ks_batch *b, const char *prefix, int64_t keep_from_ms)
{
    ks_batch_cmd(b);
    ks_batch_str(b, "ZREMRANGEBYSCORE");
    ks_batch_fmt(b, "%snotices:seen", prefix);
    ks_batch_str(b, "-inf");
    ks_batch_fmt(b, "(%lld", (long long)keep_from_ms);
}
