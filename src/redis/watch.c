/* The reads of `kpistream watch` (kpistream/watch.h): a handful of keys per
 * refresh, a few ms of Redis time, copied out of hiredis's replies so the
 * terminal view (src/app/cmd_watch.c) never sees hiredis. */
#include "kpistream/watch.h"

#include "redis/conn.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KS__W_MAX_SEGMENTS 64 /* names collected, sorted, the first shown */

struct ks_watch_reader {
    ks_redis_url url;
    char *prefix;
    redisContext *c;
};

ks_watch_reader *ks_watch_reader_new(const ks_redis_url *url, const char *prefix)
{
    ks_watch_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->url = *url;
    r->prefix = strdup(prefix);
    if (!r->prefix) {
        free(r);
        return NULL;
    }
    return r;
}

static void ks__disconnect(ks_watch_reader *r)
{
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
}

void ks_watch_reader_free(ks_watch_reader *r)
{
    if (!r)
        return;
    ks__disconnect(r);
    free(r->prefix);
    free(r);
}

/* Runs a command; on a connection error drops the connection (so the next
 * read reconnects) and returns NULL. Error replies are returned as-is. */
__attribute__((format(printf, 2, 3))) static redisReply *ks__cmd(ks_watch_reader *r,
                                                                  const char *fmt, ...)
{
    if (!r->c)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *rep = redisvCommand(r->c, fmt, ap);
    va_end(ap);
    if (!rep)
        ks__disconnect(r);
    return rep;
}

/* strdup of a reply element's string, NULL for nil or a non-string. */
static char *ks__dup(const redisReply *e)
{
    return e && e->str && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS)
               ? strdup(e->str)
               : NULL;
}

static void ks__hash(ks_watch_reader *r, const char *key, ks_watch_hash *h)
{
    redisReply *rep = ks__cmd(r, "HGETALL %s%s", r->prefix, key);
    if (!rep)
        return;
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements >= 2) {
        h->kv = calloc(rep->elements, sizeof *h->kv);
        for (size_t i = 0; h->kv && i + 1 < rep->elements; i += 2) {
            h->kv[2 * h->n] = ks__dup(rep->element[i]);
            h->kv[2 * h->n + 1] = ks__dup(rep->element[i + 1]);
            h->n++;
        }
    }
    freeReplyObject(rep);
}

const char *ks_watch_field(const ks_watch_hash *h, const char *field)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->kv[2 * i] && strcmp(h->kv[2 * i], field) == 0)
            return h->kv[2 * i + 1];
    return NULL;
}

static int ks__strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ks__segments(ks_watch_reader *r, ks_watch_view *v)
{
    char *names[KS__W_MAX_SEGMENTS];
    int n = 0;
    size_t plen = strlen(r->prefix) + strlen("segment:");
    char cursor[32] = "0";
    do {
        redisReply *rep =
            ks__cmd(r, "SCAN %s MATCH %ssegment:* COUNT 200", cursor, r->prefix);
        if (!rep)
            goto out;
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            freeReplyObject(rep);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        redisReply *keys = rep->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *k = keys->element[i]->str;
            if (!k || strlen(k) <= plen)
                continue;
            bool dup = false; /* SCAN may repeat a key */
            for (int j = 0; j < n && !dup; j++)
                dup = strcmp(names[j], k + plen) == 0;
            if (dup)
                continue;
            v->seg_total++;
            if (n < KS__W_MAX_SEGMENTS) {
                names[n] = strdup(k + plen);
                if (names[n])
                    n++;
            }
        }
        freeReplyObject(rep);
    } while (strcmp(cursor, "0") != 0);

    qsort(names, (size_t)n, sizeof *names, ks__strcmp);
    for (int i = 0; i < n && v->nseg < KS_WATCH_SEGMENTS; i++) {
        redisReply *rep = ks__cmd(r, "HMGET %ssegment:%s revenue:24h active_customers:24h",
                                  r->prefix, names[i]);
        if (!rep)
            goto out;
        bool ok = rep->type == REDIS_REPLY_ARRAY && rep->elements == 2;
        size_t s = v->nseg++;
        v->seg[s].name = names[i];
        names[i] = NULL; /* now v's */
        v->seg[s].revenue_24h = ok ? ks__dup(rep->element[0]) : NULL;
        v->seg[s].active_24h = ok ? ks__dup(rep->element[1]) : NULL;
        freeReplyObject(rep);
    }
out:
    for (int i = 0; i < n; i++)
        free(names[i]);
}

static void ks__risk(ks_watch_reader *r, ks_watch_view *v)
{
    redisReply *card = ks__cmd(r, "ZCARD %srisk", r->prefix);
    if (!card)
        return;
    v->at_risk = card->type == REDIS_REPLY_INTEGER ? card->integer : -1;
    freeReplyObject(card);
    redisReply *top = ks__cmd(r, "ZREVRANGE %srisk 0 %d WITHSCORES", r->prefix, KS_WATCH_TOP - 1);
    if (!top)
        return;
    for (size_t i = 0; top->type == REDIS_REPLY_ARRAY && i + 1 < top->elements &&
                       v->nrisk < KS_WATCH_TOP;
         i += 2) {
        const char *id = top->element[i]->str;
        redisReply *c = ks__cmd(r, "HMGET %scustomer:%s risk_level risk_reasons", r->prefix, id);
        bool ok = c && c->type == REDIS_REPLY_ARRAY && c->elements == 2;
        size_t k = v->nrisk++;
        v->risk[k].id = strdup(id ? id : "");
        v->risk[k].score = strtod(top->element[i + 1]->str, NULL);
        v->risk[k].level = ok ? ks__dup(c->element[0]) : NULL;
        v->risk[k].reasons = ok ? ks__dup(c->element[1]) : NULL;
        if (c)
            freeReplyObject(c);
        if (!r->c)
            break;
    }
    freeReplyObject(top);
}

static void ks__alerts(ks_watch_reader *r, ks_watch_view *v)
{
    redisReply *rep = ks__cmd(r, "XREVRANGE %salerts + - COUNT %d", r->prefix, KS_WATCH_TOP);
    if (!rep)
        return;
    for (size_t i = 0;
         rep->type == REDIS_REPLY_ARRAY && i < rep->elements && v->nalert < KS_WATCH_TOP; i++) {
        redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        char line[256];
        size_t used = 0;
        line[0] = '\0';
        redisReply *fv = e->element[1];
        for (size_t j = 0; j + 1 < fv->elements && used < sizeof line - 1; j += 2) {
            int m = snprintf(line + used, sizeof line - used, "%s%s=%s", j ? " " : "",
                             fv->element[j]->str ? fv->element[j]->str : "",
                             fv->element[j + 1]->str ? fv->element[j + 1]->str : "");
            if (m < 0)
                break;
            used += (size_t)m;
        }
        size_t k = v->nalert++;
        v->alert[k].id = ks__dup(e->element[0]);
        v->alert[k].text = strdup(line);
    }
    freeReplyObject(rep);
}

int ks_watch_read(ks_watch_reader *r, ks_watch_view *v, char *err, size_t errsize)
{
    ks_watch_view_reset(v);
    v->at_risk = -1;
    if (!r->c) {
        r->c = ks_redis_conn_open(&r->url, 2000, err, errsize);
        if (!r->c)
            return KS_WATCH_UNREACHABLE;
    }
    ks__hash(r, "meta", &v->meta);
    ks__hash(r, "global", &v->global);
    ks__segments(r, v);
    ks__risk(r, v);
    ks__alerts(r, v);
    if (!r->c) {
        snprintf(err, errsize, "connection to %s:%d lost", r->url.host, r->url.port);
        return KS_WATCH_LOST;
    }
    return 0;
}

static void ks__hash_free(ks_watch_hash *h)
{
    for (size_t i = 0; i < 2 * h->n; i++)
        free(h->kv[i]);
    free(h->kv);
}

void ks_watch_view_reset(ks_watch_view *v)
{
    ks__hash_free(&v->meta);
    ks__hash_free(&v->global);
    for (size_t i = 0; i < v->nseg; i++)
        free(v->seg[i].name), free(v->seg[i].revenue_24h), free(v->seg[i].active_24h);
    for (size_t i = 0; i < v->nrisk; i++)
        free(v->risk[i].id), free(v->risk[i].level), free(v->risk[i].reasons);
    for (size_t i = 0; i < v->nalert; i++)
        free(v->alert[i].id), free(v->alert[i].text);
    memset(v, 0, sizeof *v);
}
