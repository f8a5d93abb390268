/* The dashboard's read of Redis (include/kpistream/dash_read.h).
 *
 * Two pipelined round trips per read, whatever the number of rows:
 *
 *   1. HGETALL meta, global, agg:names:s, agg:names:c; ZCARD + ZREVRANGE risk;
 *      XREVRANGE alerts, triggers, history
 *   2. HMGET of the table columns of every segment and channel named in 1
 *      (and "other"), HMGET of each at-risk customer's level and reasons
 *
 * The segment and channel names come from the prefix's name registries, not
 * from SCAN: a SCAN walks the whole keyspace (every customer hash) on each
 * refresh. The document:
 *
 *   {"meta":{..}, "global":{"<kpi>:<w>":"..",..},
 *    "segments":[{"name":"smb","kpis":{..}},..], "channels":[..],
 *    "risk":{"count":N,"top":[{"customer":"..","score":"..","level":"..",
 *            "reasons":"..","segment":".."},..]},
 *    "alerts":[{"id":"<ms>-<n>","f":{..}},..]   newest first
 *    "triggers":[..]                           newest first
 *    "history":[{"id":"<minute ms>-0","f":{..}},..]  oldest first }
 */
#include "kpistream/dash_read.h"

#include "kpistream/kpi.h"

#include "redis/conn.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ks_dash_reader {
    ks_redis_url url;
    char prefix[128];
    redisContext *c;
};

/* The columns of the segment and channel tables, per window (named by the
 * KPI table, kpistream/kpi.h: a KPI renamed or gone does not compile). */
static const ks_kpi ks__table_kpis[] = {
    KS_KPI_EVENTS, KS_KPI_ACTIVE_CUSTOMERS, KS_KPI_REVENUE,
    KS_KPI_AOV,    KS_KPI_CHURN_RATE,       KS_KPI_CSAT,
};
#define KS__NTABLE (sizeof ks__table_kpis / sizeof *ks__table_kpis)

ks_dash_reader *ks_dash_reader_new(const ks_redis_url *url, const char *prefix)
{
    ks_dash_reader *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->url = *url;
    snprintf(r->prefix, sizeof r->prefix, "%s", prefix);
    return r;
}

void ks_dash_reader_free(ks_dash_reader *r)
{
    if (!r)
        return;
    if (r->c)
        redisFree(r->c);
    free(r);
}

/* ---------------- replies to JSON ---------------- */

/* A string of reply e, or NULL (nil, or not a string). Borrowed. */
static const char *ks__str(const redisReply *e)
{
    return e && (e->type == REDIS_REPLY_STRING || e->type == REDIS_REPLY_STATUS) ? e->str : NULL;
}

/* ks__str(e), or "" for a nil. Borrowed. */
static const char *ks__or(const redisReply *e)
{
    const char *s = ks__str(e);
    return s ? s : "";
}

/* {"field":"value",..} of a flat field/value array (HGETALL, a stream entry). */
static cJSON *ks__object(const redisReply *h)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && h && h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        const char *f = ks__str(h->element[i]), *v = ks__str(h->element[i + 1]);
        if (f && v)
            cJSON_AddStringToObject(o, f, v);
    }
    return o;
}

/* [{"id":..,"f":{..}},..] of an XREVRANGE reply, newest first or (oldest)
 * reversed. */
static cJSON *ks__entries(const redisReply *x, bool oldest_first)
{
    cJSON *a = cJSON_CreateArray();
    size_t n = x && x->type == REDIS_REPLY_ARRAY ? x->elements : 0;
    for (size_t k = 0; a && k < n; k++) {
        const redisReply *e = x->element[oldest_first ? n - 1 - k : k];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || !ks__str(e->element[0]))
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddStringToObject(o, "id", e->element[0]->str);
        cJSON_AddItemToObject(o, "f", ks__object(e->element[1]));
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

/* ---------------- reading ---------------- */

/* Reads n pipelined replies into out[]. Returns 0, or -1 with err (the
 * connection is then unusable). Error replies are kept: the caller decides. */
static int ks__replies(ks_dash_reader *r, redisReply **out, size_t n, char *err, size_t errsize)
{
    for (size_t i = 0; i < n; i++) {
        if (redisGetReply(r->c, (void **)&out[i]) != REDIS_OK) {
            snprintf(err, errsize, "reading from %s:%d: %s", r->url.host, r->url.port,
                     r->c->errstr[0] ? r->c->errstr : "connection lost");
            out[i] = NULL;
            return -1;
        }
    }
    return 0;
}

/* The first error reply among rs (a refused command, a wrong type), or NULL. */
static const redisReply *ks__first_error(redisReply *const *rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rs[i] && rs[i]->type == REDIS_REPLY_ERROR)
            return rs[i];
    return NULL;
}

static void ks__free_all(redisReply **rs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (rs[i])
            freeReplyObject(rs[i]);
}

/* Appends the table rows of kind ("segment", "channel") to arr from the
 * HMGET replies hm[0..n), one per name: a row whose hash does not exist
 * (every field nil: "other" before anything overflowed) is left out. */
static void ks__rows(cJSON *arr, const char *const *names, redisReply *const *hm, size_t n,
                     const char (*fields)[192], size_t nfields)
{
    for (size_t i = 0; i < n; i++) {
        const redisReply *h = hm[i];
        if (!h || h->type != REDIS_REPLY_ARRAY || h->elements != nfields)
            continue;
        cJSON *k = cJSON_CreateObject(), *row = cJSON_CreateObject();
        bool any = false;
        for (size_t j = 0; k && j < nfields; j++)
            if (ks__str(h->element[j])) {
                cJSON_AddStringToObject(k, fields[j], h->element[j]->str);
                any = true;
            }
        if (!any || !row) {
            cJSON_Delete(k);
            cJSON_Delete(row);
            continue;
        }
        cJSON_AddStringToObject(row, "name", names[i]);
        cJSON_AddItemToObject(row, "kpis", k);
        cJSON_AddItemToArray(arr, row);
    }
}

/* Names of a registry's HGETALL (name -> order), in order of registration,
 * plus "other" (where names past the limit count). Returns how many; the
 * strings are borrowed from the reply. */
static size_t ks__names(const redisReply *h, const char **out, size_t max)
{
    size_t n = 0;
    bool other = false;
    size_t pairs = h && h->type == REDIS_REPLY_ARRAY ? h->elements / 2 : 0;
    for (size_t k = 0; k < pairs && n + 1 < max; k++) /* orders are 0..pairs-1 */
        for (size_t i = 0; i < pairs; i++) {
            const char *name = ks__str(h->element[2 * i]);
            const char *ord = ks__str(h->element[2 * i + 1]);
            if (name && ord && strtoull(ord, NULL, 10) == k) {
                out[n++] = name;
                other |= strcmp(name, "other") == 0;
                break;
            }
        }
    if (!other && n < max)
        out[n++] = "other";
    return n;
}

char *ks_dash_reader_read(ks_dash_reader *r, char *err, size_t errsize)
{
    if (!r->c && !(r->c = ks_redis_conn_open(&r->url, 2000, err, errsize)))
        return NULL;
    const char *P = r->prefix;
    enum { META, GLOBAL, NAMES_S, NAMES_C, RISK_N, RISK, ALERTS, TRIGGERS, HISTORY, N1 };
    redisReply *a[N1] = {0};
    redisAppendCommand(r->c, "HGETALL %smeta", P);
    redisAppendCommand(r->c, "HGETALL %sglobal", P);
    redisAppendCommand(r->c, "HGETALL %sagg:names:s", P);
    redisAppendCommand(r->c, "HGETALL %sagg:names:c", P);
    redisAppendCommand(r->c, "ZCARD %srisk", P);
    redisAppendCommand(r->c, "ZREVRANGE %srisk 0 %d WITHSCORES", P, KS_DASH_RISK_ROWS - 1);
    redisAppendCommand(r->c, "XREVRANGE %salerts + - COUNT %d", P, KS_DASH_NOTICE_ROWS);
    redisAppendCommand(r->c, "XREVRANGE %striggers + - COUNT %d", P, KS_DASH_NOTICE_ROWS);
    redisAppendCommand(r->c, "XREVRANGE %shistory + - COUNT %d", P, KS_DASH_HISTORY_ROWS);
    char *text = NULL;
    redisReply **b = NULL;
    const char **names = NULL;
    size_t nb = 0;
    if (ks__replies(r, a, N1, err, errsize) < 0)
        goto drop;
    const redisReply *bad = ks__first_error(a, N1);
    if (bad) {
        snprintf(err, errsize, "%s:%d refused a read: %s", r->url.host, r->url.port, bad->str);
        goto drop;
    }

    /* Round 2: the table rows and the at-risk customers. */
    char(*fields)[192] = NULL;
    size_t nwin = 0;
    char win[KS_MAX_WINDOWS][16];
    for (size_t i = 0; i + 1 < a[GLOBAL]->elements && nwin < KS_MAX_WINDOWS; i += 2) {
        const char *f = ks__str(a[GLOBAL]->element[i]);
        if (f && strncmp(f, "events:", 7) == 0 && strlen(f + 7) < sizeof win[0])
            snprintf(win[nwin++], sizeof win[0], "%s", f + 7);
    }
    size_t nfields = nwin * KS__NTABLE;
    fields = calloc(nfields ? nfields : 1, sizeof *fields);
    names = calloc(2 * KS_DASH_MAX_NAMES, sizeof *names);
    b = calloc(2 * KS_DASH_MAX_NAMES + KS_DASH_RISK_ROWS, sizeof *b);
    if (!fields || !names || !b) {
        snprintf(err, errsize, "out of memory");
        free(fields);
        goto drop;
    }
    for (size_t w = 0; w < nwin; w++)
        for (size_t k = 0; k < KS__NTABLE; k++)
            snprintf(fields[w * KS__NTABLE + k], sizeof fields[0], "%s:%s",
                     ks_kpi_name(ks__table_kpis[k]), win[w]);
    /* No window in global yet (nothing flushed): no table to read. */
    size_t ns = nfields ? ks__names(a[NAMES_S], names, KS_DASH_MAX_NAMES) : 0;
    size_t nc = nfields ? ks__names(a[NAMES_C], names + ns, KS_DASH_MAX_NAMES) : 0;
    size_t nrisk = a[RISK]->elements / 2;
    const char **argv = malloc((2 + (nfields > 2 ? nfields : 2)) * sizeof *argv);
    char key[600];
    for (size_t i = 0; argv && i < ns + nc; i++) {
        snprintf(key, sizeof key, "%s%s:%s", P, i < ns ? "segment" : "channel", names[i]);
        argv[0] = "HMGET";
        argv[1] = key;
        for (size_t j = 0; j < nfields; j++)
            argv[2 + j] = fields[j];
        redisAppendCommandArgv(r->c, (int)(2 + nfields), argv, NULL);
        nb++;
    }
    for (size_t i = 0; argv && i < nrisk; i++) {
        const redisReply *id = a[RISK]->element[2 * i];
        snprintf(key, sizeof key, "%scustomer:", P);
        size_t kl = strlen(key);
        /* Ids are bytes: the key is built with their length, not as C text. */
        const char *hv[5] = {"HMGET", key, "risk_level", "risk_reasons", "segment"};
        size_t hl[5] = {5, 0, 10, 12, 7};
        char *k2 = malloc(kl + id->len + 1);
        if (!k2)
            break;
        memcpy(k2, key, kl);
        memcpy(k2 + kl, id->str, id->len);
        hv[1] = k2;
        hl[1] = kl + id->len;
        redisAppendCommandArgv(r->c, 5, hv, hl);
        free(k2);
        nb++;
    }
    free(argv);
    if (nb != ns + nc + nrisk) {
        snprintf(err, errsize, "out of memory");
        free(fields);
        ks__free_all(b, nb); /* nothing read yet: the connection is dropped below */
        nb = 0;
        goto drop;
    }
    if (ks__replies(r, b, nb, err, errsize) < 0) {
        free(fields);
        goto drop;
    }
    bad = ks__first_error(b, nb);
    if (bad) {
        snprintf(err, errsize, "%s:%d refused a read: %s", r->url.host, r->url.port, bad->str);
        free(fields);
        goto drop;
    }

    cJSON *doc = cJSON_CreateObject();
    cJSON_AddItemToObject(doc, "meta", ks__object(a[META]));
    cJSON_AddItemToObject(doc, "global", ks__object(a[GLOBAL]));
    cJSON *segs = cJSON_AddArrayToObject(doc, "segments");
    cJSON *chans = cJSON_AddArrayToObject(doc, "channels");
    ks__rows(segs, names, b, ns, (const char(*)[192])fields, nfields);
    ks__rows(chans, names + ns, b + ns, nc, (const char(*)[192])fields, nfields);
    free(fields);
    cJSON *risk = cJSON_AddObjectToObject(doc, "risk");
    cJSON_AddNumberToObject(risk, "count", (double)a[RISK_N]->integer);
    cJSON *top = cJSON_AddArrayToObject(risk, "top");
    for (size_t i = 0; top && i < nrisk; i++) {
        const redisReply *h = b[ns + nc + i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "customer", a[RISK]->element[2 * i]->str);
        cJSON_AddStringToObject(o, "score", ks__or(a[RISK]->element[2 * i + 1]));
        static const char *const cf[3] = {"level", "reasons", "segment"};
        for (size_t j = 0; j < 3 && h->elements == 3; j++)
            cJSON_AddStringToObject(o, cf[j], ks__or(h->element[j]));
        cJSON_AddItemToArray(top, o);
    }
    cJSON_AddItemToObject(doc, "alerts", ks__entries(a[ALERTS], false));
    cJSON_AddItemToObject(doc, "triggers", ks__entries(a[TRIGGERS], false));
    cJSON_AddItemToObject(doc, "history", ks__entries(a[HISTORY], true));
    text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    if (!text)
        snprintf(err, errsize, "out of memory");
    ks__free_all(a, N1);
    ks__free_all(b, nb);
    free(b);
    free(names);
    return text;

drop:
    ks__free_all(a, N1);
    ks__free_all(b, nb);
    free(b);
    free(names);
    redisFree(r->c);
    r->c = NULL;
    return NULL;
}
