/* Redis sink over hiredis (the only place besides watch.c that includes it). */
#include "kpistream/sink.h"

#include "kpistream/err.h"
#include "kpistream/log.h"
#include "kpistream/vec.h"
#include "redis/tx_reply.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct ks_redis_sink {
    const ks_config *cfg;
    ks_redis_url url;
    int timeout_ms;
    redisContext *c;
    redisReply *last;    /* reply of the batch's last command (kept until the next write) */
    const char **rstr;   /* ... flattened: borrowed from last, or from itext */
    size_t *rlen, nr, caprstr, caprlen;
    size_t *roff;        /* per string: offset of its text in itext (integers), else SIZE_MAX */
    size_t caproff;
    char *itext;         /* decimal text of the reply's integers */
    size_t itlen, itcap;
    bool watching;       /* a read's WATCH holds on this connection */
    size_t inflight;     /* commands of a sent transaction whose replies are awaited (0: none) */
    struct iovec out[3]; /* ... its bytes: MULTI, the batch's (borrowed), EXEC */
    size_t out_len;      /* ... their total */
    size_t sent;         /* ... bytes of it written so far */
    int send_errno;      /* ... the error that stopped writing it (0: none) */
    ks_tx_reply tx;      /* ... what its replies said, read without building them */
    ks_batch *streaming; /* the batch of a transaction opened by stream_begin (borrowed) */
    int stream_errno;    /* ... the error that stopped writing it (0: none) */
};

ks_redis_sink *ks_redis_sink_new(const ks_config *cfg, char *errstr, size_t errsize)
{
    ks_redis_sink *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(errstr, errsize, "redis: out of memory");
        return NULL;
    }
    if (ks_config_redis_target(cfg, &s->url, errstr, errsize) < 0) { /* + redis_password_file */
        free(s);
        return NULL;
    }
    s->cfg = cfg;
    s->timeout_ms = cfg->redis_timeout_ms > 0 ? cfg->redis_timeout_ms : 2000;
    return s;
}

static void ks__drop(ks_redis_sink *s)
{
    if (s->streaming) { /* its MULTI goes with the connection */
        ks_batch_set_drain(s->streaming, 0, NULL, NULL);
        s->streaming = NULL;
    }
    s->tx.rd = NULL; /* its reader goes with the connection */
    if (s->c)
        redisFree(s->c);
    s->c = NULL;
    s->watching = false;
}

void ks_redis_sink_free(ks_redis_sink *s)
{
    if (!s)
        return;
    ks__drop(s);
    if (s->last)
        freeReplyObject(s->last);
    ks_tx_reply_reset(&s->tx);
    free(s->rstr);
    free(s->rlen);
    free(s->roff);
    free(s->itext);
    free(s);
}

/* Runs one command; returns 0 if the reply is not an error. */
static int ks__simple(ks_redis_sink *s, char *errstr, size_t errsize, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(s->c, argc, argv, NULL);
    if (!r) {
        snprintf(errstr, errsize, "redis %s:%d: %s: %s", s->url.host, s->url.port, argv[0],
                 s->c->errstr[0] ? s->c->errstr : "connection lost");
        return KS_ERR_REDIS;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(errstr, errsize, "redis %s:%d: %s failed: %s", s->url.host, s->url.port, argv[0],
                 r->str);
        rc = KS_ERR_REDIS;
    }
    freeReplyObject(r);
    return rc;
}

int ks_redis_sink_connect(ks_redis_sink *s, char *errstr, size_t errsize)
{
    if (s->c)
        return 0;
    struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    s->c = redisConnectWithTimeout(s->url.host, s->url.port, tv);
    if (!s->c || s->c->err) {
        snprintf(errstr, errsize, "redis %s:%d: cannot connect: %s", s->url.host, s->url.port,
                 s->c ? s->c->errstr : "out of memory");
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    redisSetTimeout(s->c, tv);
    int rc = 0;
    if (s->url.password[0]) {
        const char *auth[3] = {"AUTH", s->url.user[0] ? s->url.user : s->url.password,
                               s->url.password};
        rc = ks__simple(s, errstr, errsize, s->url.user[0] ? 3 : 2, auth);
    }
    if (rc == 0 && s->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", s->url.db);
        const char *sel[2] = {"SELECT", db};
        rc = ks__simple(s, errstr, errsize, 2, sel);
    }
    if (rc == 0) {
        const char *ping[1] = {"PING"};
        rc = ks__simple(s, errstr, errsize, 1, ping);
    }
    if (rc < 0)
        ks__drop(s);
    return rc;
}

/* Appends the strings of reply r (nested arrays flattened, integers as
 * their decimal text in a scratch slot) to s->rstr. */
static int ks__flatten(ks_redis_sink *s, redisReply *r)
{
    if (r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++)
            if (ks__flatten(s, r->element[i]) < 0)
                return -1;
        return 0;
    }
    if (ks_vec_reserve(s->rstr, s->caprstr, s->nr + 1) < 0 ||
        ks_vec_reserve(s->rlen, s->caprlen, s->nr + 1) < 0 ||
        ks_vec_reserve(s->roff, s->caproff, s->nr + 1) < 0)
        return -1;
    s->roff[s->nr] = SIZE_MAX;
    if (r->type == REDIS_REPLY_INTEGER) {
        /* hiredis keeps no text for integers: ours, in a buffer reused from
         * write to write (pointers are set once the buffer stops moving). */
        char buf[24];
        int n = snprintf(buf, sizeof buf, "%lld", r->integer);
        if (ks_vec_reserve(s->itext, s->itcap, s->itlen + (size_t)n) < 0)
            return -1;
        memcpy(s->itext + s->itlen, buf, (size_t)n);
        s->roff[s->nr] = s->itlen;
        s->rstr[s->nr] = NULL;
        s->rlen[s->nr] = (size_t)n;
        s->itlen += (size_t)n;
        s->nr++;
        return 0;
    }
    s->rstr[s->nr] = r->str ? r->str : "";
    s->rlen[s->nr] = r->str ? r->len : 0;
    s->nr++;
    return 0;
}

/* Keeps reply r (taken over) as the last command's reply, flattened. */
static int ks__keep(ks_redis_sink *s, redisReply *r, char *errstr, size_t errsize)
{
    s->last = r;
    s->itlen = 0;
    s->nr = 0;
    if (ks__flatten(s, s->last) < 0) {
        snprintf(errstr, errsize, "redis: out of memory reading a reply");
        return KS_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->nr; i++)
        if (s->roff[i] != SIZE_MAX)
            s->rstr[i] = s->itext + s->roff[i];
    return 0;
}

static void ks__forget_last(ks_redis_sink *s)
{
    if (s->last) {
        freeReplyObject(s->last);
        s->last = NULL;
    }
    s->nr = 0;
}

int ks_redis_sink_read(ks_redis_sink *s, const ks_batch *b, char *errstr, size_t errsize)
{
    if (b->failed || b->ncmds == 0) {
        snprintf(errstr, errsize, "redis: read batch incomplete (out of memory)");
        return KS_ERR_NOMEM;
    }
    if (s->streaming)
        ks__drop(s); /* a transaction left open would swallow the read */
    int rc = ks_redis_sink_connect(s, errstr, errsize);
    if (rc < 0)
        return rc;
    ks__forget_last(s);
    /* b holds its commands in the protocol already. */
    if (redisAppendFormattedCommand(s->c, b->buf, b->len) != REDIS_OK)
        goto io_error;
    rc = 0;
    for (size_t i = 0; i < b->ncmds; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->c, (void **)&r) != REDIS_OK)
            goto io_error;
        if (r->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(errstr, errsize, "redis %s:%d: read command %zu failed: %s", s->url.host,
                     s->url.port, i, r->str);
            rc = KS_ERR_REDIS;
        }
        if (i + 1 == b->ncmds && rc == 0)
            rc = ks__keep(s, r, errstr, errsize);
        else
            freeReplyObject(r);
    }
    if (rc < 0)
        ks__drop(s);
    else
        s->watching = true;
    return rc;

io_error:
    snprintf(errstr, errsize, "redis %s:%d: %s", s->url.host, s->url.port,
             s->c->errstr[0] ? s->c->errstr : "connection lost");
    ks__drop(s);
    return KS_ERR_REDIS;
}

/* Takes one reply of the transaction in flight: a placeholder (tx_reply.h
 * records what the sink needs while the reader reads it). */
static void ks__take_reply(ks_redis_sink *s, void *q)
{
    (void)q;
    ks_tx_reply_took(&s->tx);
}

/* Forgets the transaction in flight. */
static void ks__settle(ks_redis_sink *s)
{
    if (!ks_tx_reply_reset(&s->tx))
        ks__drop(s); /* mid-reply: the reader's state is the transaction's */
    s->inflight = 0;
    memset(s->out, 0, sizeof s->out); /* the batch is the caller's again */
    s->out_len = s->sent = 0;
}

/* Writes the rest of the transaction in flight straight to the socket
 * from the batch (handing it to hiredis, or formatting it into a buffer of
 * our own, would copy it once more; hiredis's own output buffer is empty
 * while one is in flight). block: until all is written (bounded by the
 * socket's send timeout), else what the socket takes now. Returns -1 with
 * send_errno set when the connection failed. */
static int ks__push(ks_redis_sink *s, bool block)
{
    while (s->sent < s->out_len && !s->send_errno) {
        struct iovec iov[3];
        size_t skip = s->sent, n = 0;
        for (size_t i = 0; i < 3; i++) {
            if (skip >= s->out[i].iov_len) {
                skip -= s->out[i].iov_len;
                continue;
            }
            iov[n].iov_base = (char *)s->out[i].iov_base + skip;
            iov[n++].iov_len = s->out[i].iov_len - skip;
            skip = 0;
        }
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = n};
        ssize_t w = sendmsg(s->c->fd, &m, MSG_NOSIGNAL | (block ? 0 : MSG_DONTWAIT));
        if (w > 0) {
            s->sent += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && !block && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return 0;
        } else {
            s->send_errno = w < 0 ? errno : EPIPE;
        }
    }
    return s->send_errno ? -1 : 0;
}

static const char ks__multi[] = "*1\r\n$5\r\nMULTI\r\n", ks__exec[] = "*1\r\n$4\r\nEXEC\r\n";

/* Writes as much of the streamed batch's untaken bytes as the socket takes
 * now (its drain). After a failure the rest is dropped: the transaction
 * can no longer commit, and send reports the error. */
static void ks__stream_drain(void *ctx, ks_batch *b)
{
    ks_redis_sink *s = ctx;
    while (b->rpos < b->len && !s->stream_errno) {
        ssize_t w = send(s->c->fd, b->buf + b->rpos, b->len - b->rpos, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0)
            ks_batch_take(b, (size_t)w);
        else if (w < 0 && errno == EINTR)
            continue;
        else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        else
            s->stream_errno = w < 0 ? errno : EPIPE;
    }
    if (s->stream_errno)
        ks_batch_take(b, b->len - b->rpos);
}

/* The batch offers its untaken bytes to the socket each time this many
 * have gathered: about 400 customers, one send() (the socket takes a few MB
 * while Redis reads; 64 KB and 1 MB measured the same). */
#define KS__STREAM_AT (256u * 1024)

int ks_redis_sink_stream_begin(ks_redis_sink *s, ks_batch *b, char *errstr, size_t errsize)
{
    if (s->inflight || s->streaming) {
        snprintf(errstr, errsize, "redis: a transaction is still in flight");
        return KS_ERR_STATE;
    }
    if (!s->c || !s->watching) {
        snprintf(errstr, errsize, "redis %s:%d: connection lost since the group state was read",
                 s->url.host, s->url.port);
        return KS_ERR_CONFLICT;
    }
    /* The read's replies are all in: nothing of ours waits in the socket,
     * and these few bytes fit. */
    ssize_t w;
    do
        w = send(s->c->fd, ks__multi, sizeof ks__multi - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)(sizeof ks__multi - 1)) {
        snprintf(errstr, errsize, "redis %s:%d: sending the flush: %s", s->url.host, s->url.port,
                 w < 0 ? strerror(errno) : "short write");
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    ks_batch_clear(b);
    ks_batch_set_drain(b, KS__STREAM_AT, ks__stream_drain, s);
    s->streaming = b;
    s->stream_errno = 0;
    return 0;
}

void ks_redis_sink_stream_abort(ks_redis_sink *s, ks_batch *b)
{
    if (s->streaming == b)
        ks__drop(s);
}

/* Sends b as one MULTI/EXEC without waiting for the replies. */
static int ks__send(ks_redis_sink *s, const ks_batch *b, bool watched, char *errstr,
                    size_t errsize)
{
    bool streamed = s->streaming && s->streaming == b;
    if (s->streaming && !streamed)
        ks__drop(s); /* another batch's MULTI was left open: abandon it */
    if (streamed) {  /* b's MULTI is open, and part of b sent */
        ks_batch_set_drain(s->streaming, 0, NULL, NULL);
        s->streaming = NULL;
    }
    if (b->failed) {
        if (streamed)
            ks__drop(s); /* Redis discards the part it queued */
        snprintf(errstr, errsize, "redis: flush batch incomplete (out of memory)");
        return KS_ERR_NOMEM;
    }
    if (streamed && s->stream_errno) {
        snprintf(errstr, errsize, "redis %s:%d: sending the flush: %s", s->url.host, s->url.port,
                 strerror(s->stream_errno));
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    if (s->inflight) {
        snprintf(errstr, errsize, "redis: a transaction is still in flight");
        return KS_ERR_STATE;
    }
    if (watched && (!s->c || !s->watching)) {
        /* The connection that read the state is gone, and its WATCH with it:
         * a write now could overwrite another member's. Read again. */
        snprintf(errstr, errsize, "redis %s:%d: connection lost since the group state was read",
                 s->url.host, s->url.port);
        return KS_ERR_CONFLICT;
    }
    int rc = streamed ? 0 : ks_redis_sink_connect(s, errstr, errsize);
    if (rc < 0)
        return rc;
    ks__forget_last(s);
    s->watching = false; /* EXEC ends the WATCH, whatever happens */
    s->send_errno = 0;
    ks__settle(s);
    /* The whole transaction, pipelined at once: b holds its commands in the
     * protocol already, and stays unchanged until the replies are read. */
    /* A streamed batch sent its MULTI and its taken bytes already. */
    s->out[0] = (struct iovec){(void *)ks__multi, streamed ? 0 : sizeof ks__multi - 1};
    s->out[1] = (struct iovec){b->buf + b->rpos, b->len - b->rpos};
    s->out[2] = (struct iovec){(void *)ks__exec, sizeof ks__exec - 1};
    s->out_len = s->out[0].iov_len + s->out[1].iov_len + s->out[2].iov_len;
    s->inflight = b->ncmds;
    ks_tx_reply_begin(&s->tx, s->c->reader, b->ncmds);
    /* As much as the socket takes now; the rest goes out from
     * ks_redis_sink_ready() while the caller goes on consuming. A catch-up
     * flush is tens of MB that Redis reads at its own pace: written in one
     * blocking go, it held the consume loop for as long as Redis took to
     * read it. */
    if (ks__push(s, false) < 0) {
        snprintf(errstr, errsize, "redis %s:%d: sending the flush: %s", s->url.host, s->url.port,
                 strerror(s->send_errno));
        ks__settle(s);
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    return 0;
}

/* Reads the replies of the transaction in flight. */
static int ks__finish(ks_redis_sink *s, char *errstr, size_t errsize)
{
    if (!s->c) {
        ks__settle(s);
        snprintf(errstr, errsize, "redis %s:%d: connection lost", s->url.host, s->url.port);
        return KS_ERR_REDIS;
    }
    /* Redis says nothing while it runs EXEC: a bounded but large catch-up
     * flush takes a second or more on a busy server. Allow 1 ms per 50
     * commands on top of redis_timeout_ms (which stays the silence that
     * means a dead server), so a slow flush is not failed and retried. */
    int64_t wait_ms = s->timeout_ms + (int64_t)(s->inflight / 50);
    struct timeval tv = {(time_t)(wait_ms / 1000), (suseconds_t)((wait_ms % 1000) * 1000)};
    redisSetTimeout(s->c, tv);
    if (ks__push(s, true) < 0) {
        ks__settle(s);
        snprintf(errstr, errsize, "redis %s:%d: sending the flush: %s", s->url.host, s->url.port,
                 s->send_errno == EAGAIN || s->send_errno == EWOULDBLOCK ? "timed out"
                                                                          : strerror(s->send_errno));
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    while (!ks_tx_reply_done(&s->tx)) {
        void *q = NULL;
        if (redisGetReply(s->c, &q) != REDIS_OK)
            goto io_error;
        ks__take_reply(s, q);
    }
    tv = (struct timeval){s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    redisSetTimeout(s->c, tv);
    const ks_tx_reply *t = &s->tx;
    int rc = 0;
    if (t->exec_type == REDIS_REPLY_NIL && !t->first_err[0]) {
        /* WATCH: another member flushed between our read and this EXEC. */
        snprintf(errstr, errsize, "redis %s:%d: the group state changed since it was read",
                 s->url.host, s->url.port);
        rc = KS_ERR_CONFLICT;
    } else if (t->exec_type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errsize, "redis %s:%d: transaction not applied: %s", s->url.host,
                 s->url.port,
                 t->first_err[0] ? t->first_err
                 : t->exec_type == REDIS_REPLY_ERROR ? t->err
                                                     : "EXEC returned nil");
        rc = KS_ERR_REDIS;
    } else if (t->err) {
        /* Some commands may have run: every write of a flush is absolute,
         * so the retry completes it (see flush.h). */
        snprintf(errstr, errsize, "redis %s:%d: command %zu of the flush failed: %s", s->url.host,
                 s->url.port, t->err_at, t->err);
        rc = KS_ERR_REDIS;
    } else if (t->exec_n > 0) {
        /* Keep the last command's reply for ks_redis_sink_reply(). */
        redisReply *last = ks_tx_reply_take_last(&s->tx);
        if (last)
            rc = ks__keep(s, last, errstr, errsize);
    }
    ks__settle(s);
    if (rc < 0 && rc != KS_ERR_CONFLICT)
        ks__drop(s);
    return rc;

io_error:
    snprintf(errstr, errsize, "redis %s:%d: %s", s->url.host, s->url.port,
             s->c->errstr[0] ? s->c->errstr : "connection lost");
    ks__settle(s);
    ks__drop(s);
    return KS_ERR_REDIS;
}

static int ks__write(ks_redis_sink *s, const ks_batch *b, bool watched, char *errstr,
                     size_t errsize)
{
    int rc = ks__send(s, b, watched, errstr, errsize);
    return rc < 0 ? rc : ks__finish(s, errstr, errsize);
}

int ks_redis_sink_send_watched(ks_redis_sink *s, const ks_batch *b, char *errstr, size_t errsize)
{
    return ks__send(s, b, true, errstr, errsize);
}

bool ks_redis_sink_inflight(const ks_redis_sink *s)
{
    return s->inflight > 0;
}

bool ks_redis_sink_ready(ks_redis_sink *s)
{
    if (!s->inflight || !s->c || ks_tx_reply_done(&s->tx))
        return true;
    if (ks__push(s, false) < 0)
        return true; /* finish reports the error */
    /* Read what has arrived without waiting: the QUEUED replies come while
     * Redis reads the transaction, the EXEC reply once it has run it. */
    struct pollfd pfd = {s->c->fd, POLLIN, 0};
    while (!ks_tx_reply_done(&s->tx) && poll(&pfd, 1, 0) > 0) {
        if (redisBufferRead(s->c) != REDIS_OK)
            return true; /* finish reports the error */
        void *q = NULL;
        while (!ks_tx_reply_done(&s->tx)) {
            if (redisGetReplyFromReader(s->c, &q) != REDIS_OK)
                return true;
            if (!q)
                break;
            ks__take_reply(s, q);
        }
    }
    return ks_tx_reply_done(&s->tx);
}

int ks_redis_sink_finish(ks_redis_sink *s, char *errstr, size_t errsize)
{
    if (!s->inflight) {
        snprintf(errstr, errsize, "redis: no transaction in flight");
        return KS_ERR_STATE;
    }
    return ks__finish(s, errstr, errsize);
}

int ks_redis_sink_write(ks_redis_sink *s, const ks_batch *b, char *errstr, size_t errsize)
{
    return ks__write(s, b, false, errstr, errsize);
}

int ks_redis_sink_write_watched(ks_redis_sink *s, const ks_batch *b, char *errstr, size_t errsize)
{
    return ks__write(s, b, true, errstr, errsize);
}

size_t ks_redis_sink_reply(const ks_redis_sink *s, const char *const **strs, const size_t **lens)
{
    *strs = s->rstr;
    *lens = s->rlen;
    return s->nr;
}

int ks_redis_sink_stored_partition(ks_redis_sink *s, const char *topic, int32_t partition,
                                   ks_stored_partition *out, char *errstr, size_t errsize)
{
    int rc = ks_redis_sink_connect(s, errstr, errsize);
    if (rc < 0)
        return rc;
    /* All three from the group state, written together by one HSET. */
    char key[512], f[3][340];
    snprintf(key, sizeof key, "%sagg:state", s->cfg->prefix);
    snprintf(f[0], sizeof f[0], "off:%s:%d", topic, (int)partition);
    snprintf(f[1], sizeof f[1], "tok:%s:%d", topic, (int)partition);
    snprintf(f[2], sizeof f[2], "pc:%s:%d", topic, (int)partition);
    const char *argv[5] = {"HMGET", key, f[0], f[1], f[2]};
    redisReply *r = redisCommandArgv(s->c, 5, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
        snprintf(errstr, errsize, "redis %s:%d: HMGET %s: %s", s->url.host, s->url.port, key,
                 r && r->type == REDIS_REPLY_ERROR ? r->str
                 : r                                ? "unexpected reply"
                 : (s->c->errstr[0] ? s->c->errstr : "connection lost"));
        if (r)
            freeReplyObject(r);
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    const redisReply *o = r->element[0], *t = r->element[1], *c = r->element[2];
    out->next_offset = o->type == REDIS_REPLY_STRING ? strtoll(o->str, NULL, 10) : -1;
    snprintf(out->token, sizeof out->token, "%s", t->type == REDIS_REPLY_STRING ? t->str : "");
    out->clock_ms = c->type == REDIS_REPLY_STRING ? strtoll(c->str, NULL, 10) : INT64_MIN;
    freeReplyObject(r);
    return 0;
}

/* The prefix's owner and counting configuration are recorded by the first
 * member that runs on it; later members must match both. */
static const char ks__claim_script[] =
    "local A = ARGV[1] .. 'agg'\n"
    "local g, c = redis.call('HGET', A, 'group'), redis.call('HGET', A, 'config')\n"
    "if not g then\n"
    "  redis.call('HSET', A, 'group', ARGV[2], 'config', ARGV[3])\n"
    "  return {'', ''}\n"
    "end\n"
    "return {g, c or ''}\n";

int ks_redis_sink_claim(ks_redis_sink *s, const char *config, char *errstr, size_t errsize)
{
    int rc = ks_redis_sink_connect(s, errstr, errsize);
    if (rc < 0)
        return rc;
    const char *argv[6] = {"EVAL", ks__claim_script, "0", s->cfg->prefix, s->cfg->group, config};
    redisReply *r = redisCommandArgv(s->c, 6, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        snprintf(errstr, errsize, "redis %s:%d: reading %sagg: %s", s->url.host, s->url.port,
                 s->cfg->prefix,
                 r && r->type == REDIS_REPLY_ERROR ? r->str
                 : r                                ? "unexpected reply"
                 : (s->c->errstr[0] ? s->c->errstr : "connection lost"));
        if (r)
            freeReplyObject(r);
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    const char *g = r->element[0]->str ? r->element[0]->str : "";
    const char *c = r->element[1]->str ? r->element[1]->str : "";
    rc = 0;
    if (g[0] && strcmp(g, s->cfg->group) != 0) {
        snprintf(errstr, errsize,
                 "prefix '%s' holds the outputs of consumer group '%s', not '%s' (group): "
                 "a second group would add its counts to them; use another prefix, or delete "
                 "the prefix's keys to start over",
                 s->cfg->prefix, g, s->cfg->group);
        rc = KS_ERR_CONFIG;
    } else if (g[0] && strcmp(c, config) != 0) {
        snprintf(errstr, errsize,
                 "prefix '%s' holds outputs counted with another configuration (%s) than this "
                 "one (%s): windows, churn_inactivity, thresholds and name limits must be the "
                 "same in every member and every run; use another prefix to count afresh",
                 s->cfg->prefix, c, config);
        rc = KS_ERR_CONFIG;
    }
    freeReplyObject(r);
    return rc;
}

/* The prefix's name registry (<prefix>agg:names:<kind>: name -> order of
 * registration): a name is tracked if it is registered, or if it can be
 * while fewer than `limit` are. Returns 1 or 0, and on 0 (full) the whole
 * registry, whose names were not all seen here perhaps. */
static const char ks__admit_script[] =
    "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {1} end\n"
    "local n = redis.call('HLEN', KEYS[1])\n"
    "if n < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], n); return {1} end\n"
    "local out = {0}\n"
    "local kv = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #kv, 2 do out[#out + 1] = kv[i]; out[#out + 1] = kv[i + 1] end\n"
    "return out\n";

static const char ks__names_script[] =
    "return redis.call('HGETALL', KEYS[1])\n";

/* Calls each() for the registry's names in order of registration. */
static void ks__names_in_order(const redisReply *r, size_t first, ks_name_fn each, void *ctx)
{
    size_t n = (r->elements - first) / 2;
    for (size_t k = 0; k < n; k++) /* orders are 0..n-1: find each in turn */
        for (size_t i = first; i + 1 < r->elements; i += 2)
            if (r->element[i + 1]->type == REDIS_REPLY_STRING &&
                strtoll(r->element[i + 1]->str, NULL, 10) == (long long)k &&
                r->element[i]->type == REDIS_REPLY_STRING) {
                each(ctx, r->element[i]->str, r->element[i]->len);
                break;
            }
}

int ks_redis_sink_names(ks_redis_sink *s, char kind, ks_name_fn each, void *ctx, char *errstr,
                        size_t errsize)
{
    int rc = ks_redis_sink_connect(s, errstr, errsize);
    if (rc < 0)
        return rc;
    char key[128], k[2] = {kind, 0};
    snprintf(key, sizeof key, "%sagg:names:%s", s->cfg->prefix, k);
    const char *argv[4] = {"EVAL", ks__names_script, "1", key};
    redisReply *r = redisCommandArgv(s->c, 4, argv, NULL);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errsize, "redis %s:%d: reading %s: %s", s->url.host, s->url.port, key,
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "connection lost");
        if (r)
            freeReplyObject(r);
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    ks__names_in_order(r, 0, each, ctx);
    freeReplyObject(r);
    return 0;
}

int ks_redis_sink_admit_name(ks_redis_sink *s, char kind, const char *name, size_t len, int limit,
                             ks_name_fn each, void *ctx, char *errstr, size_t errsize)
{
    int rc = ks_redis_sink_connect(s, errstr, errsize);
    if (rc < 0)
        return rc;
    char key[128], k[2] = {kind, 0}, lim[16];
    snprintf(key, sizeof key, "%sagg:names:%s", s->cfg->prefix, k);
    snprintf(lim, sizeof lim, "%d", limit);
    const char *argv[6] = {"EVAL", ks__admit_script, "1", key, name, lim};
    size_t lens[6] = {4, strlen(ks__admit_script), 1, strlen(key), len, strlen(lim)};
    redisReply *r = redisCommandArgv(s->c, 6, argv, lens);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        snprintf(errstr, errsize, "redis %s:%d: registering a name in %s: %s", s->url.host,
                 s->url.port, key, r && r->type == REDIS_REPLY_ERROR ? r->str : "connection lost");
        if (r)
            freeReplyObject(r);
        ks__drop(s);
        return KS_ERR_REDIS;
    }
    int tracked = r->element[0]->integer == 1;
    if (!tracked)
        ks__names_in_order(r, 1, each, ctx);
    freeReplyObject(r);
    return tracked;
}
