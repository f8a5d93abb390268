/* ks_tx_reply (src/redis/tx_reply.c): reading a transaction's replies
 * without a redisReply each concludes what reading them as redisReply trees
 * concluded (what src/redis/sink.c did before): the first MULTI/QUEUED
 * error, EXEC's shape (nil, error, array of n), its first failing element
 * and that element's text, and the last element as a redisReply.
 *
 * Crafted replies (all QUEUED, an error while queueing, a nil EXEC, errors
 * inside EXEC, nested arrays, a 100 k-element EXEC) go through both, fed to
 * the reader whole and in pieces of 1, 2, 3, 7 and 1000 bytes. */
#include <criterion/criterion.h>

#include "redis/tx_reply.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the sink concludes from a transaction's replies. */
typedef struct {
    char first_err[256];
    int exec_type;
    size_t exec_n;
    bool failed;     /* an error: EXEC's own or an element's */
    size_t err_at;   /* SIZE_MAX: EXEC's own */
    char err[4096];
    redisReply *last;
} verdict;

/* The old way: every reply a redisReply, looked at, freed. */
static void old_way(const char *resp, size_t len, size_t ncmds, verdict *v)
{
    memset(v, 0, sizeof *v);
    redisReader *rd = redisReaderCreate();
    cr_assert_eq(redisReaderFeed(rd, resp, len), REDIS_OK);
    for (size_t k = 0; k < ncmds + 2; k++) {
        void *p = NULL;
        cr_assert_eq(redisReaderGetReply(rd, &p), REDIS_OK);
        cr_assert_not_null(p, "reply %zu missing", k);
        redisReply *q = p;
        if (k < ncmds + 1) {
            if (q->type == REDIS_REPLY_ERROR && !v->first_err[0])
                snprintf(v->first_err, sizeof v->first_err, "%s", q->str);
            freeReplyObject(q);
            continue;
        }
        v->exec_type = q->type;
        if (q->type == REDIS_REPLY_ERROR) {
            v->failed = true;
            v->err_at = SIZE_MAX;
            snprintf(v->err, sizeof v->err, "%s", q->str);
        } else if (q->type == REDIS_REPLY_ARRAY) {
            v->exec_n = q->elements;
            for (size_t i = 0; i < q->elements && !v->failed; i++)
                if (q->element[i]->type == REDIS_REPLY_ERROR) {
                    v->failed = true;
                    v->err_at = i;
                    snprintf(v->err, sizeof v->err, "%s", q->element[i]->str);
                }
            if (q->elements > 0) {
                v->last = q->element[q->elements - 1];
                q->element[q->elements - 1] = NULL;
            }
        }
        freeReplyObject(q);
    }
    redisReaderFree(rd);
}

/* The new way, fed `piece` bytes at a time (0: all at once). Afterwards
 * the reader must build replies again: a +PONG after EXEC comes back as a
 * redisReply. */
static void new_way(const char *resp, size_t len, size_t ncmds, size_t piece, verdict *v)
{
    memset(v, 0, sizeof *v);
    redisReader *rd = redisReaderCreate();
    ks_tx_reply t;
    memset(&t, 0, sizeof t);
    ks_tx_reply_begin(&t, rd, ncmds);
    size_t fed = 0, got = 0;
    while (!ks_tx_reply_done(&t)) {
        void *p = NULL;
        cr_assert_eq(redisReaderGetReply(rd, &p), REDIS_OK, "%s", rd->errstr);
        if (p) {
            got++;
            ks_tx_reply_took(&t);
            continue;
        }
        cr_assert_lt(fed, len, "ran out of input after %zu replies", got);
        size_t n = piece && len - fed > piece ? piece : len - fed;
        cr_assert_eq(redisReaderFeed(rd, resp + fed, n), REDIS_OK);
        fed += n;
    }
    cr_assert_eq(got, ncmds + 2);
    snprintf(v->first_err, sizeof v->first_err, "%s", t.first_err);
    v->exec_type = t.exec_type;
    v->exec_n = t.exec_type == REDIS_REPLY_ARRAY ? t.exec_n : 0;
    if (t.err) {
        v->failed = true;
        v->err_at = t.err_at;
        snprintf(v->err, sizeof v->err, "%s", t.err);
    }
    v->last = ks_tx_reply_take_last(&t);
    cr_assert(ks_tx_reply_reset(&t), "the reader still has the transaction's functions");

    void *p = NULL;
    cr_assert_eq(redisReaderFeed(rd, "+PONG\r\n", 7), REDIS_OK);
    cr_assert_eq(redisReaderGetReply(rd, &p), REDIS_OK);
    redisReply *pong = p;
    cr_assert(pong && pong->type == REDIS_REPLY_STATUS && !strcmp(pong->str, "PONG"));
    freeReplyObject(pong);
    redisReaderFree(rd);
}

static void same_tree(const redisReply *a, const redisReply *b)
{
    cr_assert((a == NULL) == (b == NULL), "one last element is missing");
    if (!a)
        return;
    cr_assert_eq(a->type, b->type);
    cr_assert_eq(a->integer, b->integer);
    cr_assert_eq(a->len, b->len);
    cr_assert((a->str == NULL) == (b->str == NULL));
    if (a->str)
        cr_assert_eq(memcmp(a->str, b->str, a->len), 0);
    cr_assert_eq(a->elements, b->elements);
    for (size_t i = 0; i < a->elements; i++)
        same_tree(a->element[i], b->element[i]);
}

static void check(const char *resp, size_t len, size_t ncmds)
{
    verdict o;
    old_way(resp, len, ncmds, &o);
    static const size_t pieces[] = {0, 1, 2, 3, 7, 1000};
    for (size_t k = 0; k < sizeof pieces / sizeof *pieces; k++) {
        if (pieces[k] == 1 && len > 200000)
            continue; /* byte by byte: the large case is quadratic in hiredis's buffer */
        verdict n;
        new_way(resp, len, ncmds, pieces[k], &n);
        cr_assert_str_eq(n.first_err, o.first_err, "piece %zu", pieces[k]);
        cr_assert_eq(n.exec_type, o.exec_type, "piece %zu", pieces[k]);
        cr_assert_eq(n.exec_n, o.exec_n, "piece %zu", pieces[k]);
        cr_assert_eq(n.failed, o.failed, "piece %zu", pieces[k]);
        if (o.failed) {
            cr_assert_eq(n.err_at, o.err_at, "piece %zu", pieces[k]);
            cr_assert_str_eq(n.err, o.err, "piece %zu", pieces[k]);
        }
        same_tree(n.last, o.last);
        if (n.last)
            freeReplyObject(n.last);
    }
    if (o.last)
        freeReplyObject(o.last);
}

#define CHECK(resp, ncmds) check(resp, sizeof resp - 1, ncmds)

Test(redis_tx_reply, all_queued_integers)
{
    CHECK("+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n:1\r\n:0\r\n:42\r\n", 3);
}

Test(redis_tx_reply, last_element_kept_as_a_tree)
{
    /* The read's HGETALL-like last reply, strings, nil and a nested error. */
    CHECK("+OK\r\n+QUEUED\r\n+QUEUED\r\n"
          "*2\r\n$5\r\nhello\r\n*5\r\n$1\r\na\r\n$0\r\n\r\n$-1\r\n*2\r\n:7\r\n-ERR deep\r\n:-3\r\n",
          2);
}

Test(redis_tx_reply, error_while_queueing)
{
    CHECK("+OK\r\n+QUEUED\r\n-ERR unknown command 'NOPE'\r\n+QUEUED\r\n-ERR second\r\n"
          "-EXECABORT Transaction discarded because of previous errors.\r\n",
          4);
}

Test(redis_tx_reply, nil_exec)
{
    CHECK("+OK\r\n+QUEUED\r\n+QUEUED\r\n*-1\r\n", 2);
    CHECK("+OK\r\n+QUEUED\r\n$-1\r\n", 1);
}

Test(redis_tx_reply, nil_exec_after_a_queueing_error)
{
    CHECK("+OK\r\n-ERR queue full\r\n*-1\r\n", 1);
}

Test(redis_tx_reply, errors_inside_exec)
{
    /* The first failing element is reported, not the later ones, nor an
     * error nested in an element. */
    CHECK("+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
          "*4\r\n*1\r\n-ERR nested\r\n:1\r\n"
          "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
          "-ERR later\r\n",
          4);
    /* The failing element is the last one (still kept as a tree). */
    CHECK("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n-ERR last one\r\n", 2);
}

Test(redis_tx_reply, odd_exec_replies)
{
    CHECK("+OK\r\n+QUEUED\r\n+OK\r\n", 1);       /* a status */
    CHECK("+OK\r\n+QUEUED\r\n:5\r\n", 1);        /* an integer */
    CHECK("+OK\r\n*0\r\n", 0);                   /* an empty transaction */
    CHECK("+OK\r\n*1\r\n:1\r\n*1\r\n:2\r\n", 1); /* an array where QUEUED was */
}

Test(redis_tx_reply, long_error_text_cut_like_before)
{
    char resp[2000];
    char text[700];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    int n = snprintf(resp, sizeof resp, "+OK\r\n-ERR %s\r\n*-1\r\n", text);
    check(resp, (size_t)n, 1);
    n = snprintf(resp, sizeof resp, "+OK\r\n+QUEUED\r\n*1\r\n-ERR %s\r\n", text);
    check(resp, (size_t)n, 1);
}

Test(redis_tx_reply, large_exec)
{
    /* A catch-up flush's size: 100 k commands of every reply kind, the
     * last an EVAL's array. */
    enum { N = 100000 };
    size_t cap = (size_t)N * 40 + 1000, len = 0;
    char *resp = malloc(cap);
    cr_assert_not_null(resp);
    len += (size_t)snprintf(resp + len, cap - len, "+OK\r\n");
    for (int i = 0; i < N; i++)
        len += (size_t)snprintf(resp + len, cap - len, "+QUEUED\r\n");
    len += (size_t)snprintf(resp + len, cap - len, "*%d\r\n", N);
    for (int i = 0; i < N - 1; i++) {
        if (i % 3 == 0)
            len += (size_t)snprintf(resp + len, cap - len, ":%d\r\n", i);
        else if (i % 3 == 1)
            len += (size_t)snprintf(resp + len, cap - len, "$13\r\n1794996000000\r\n");
        else
            len += (size_t)snprintf(resp + len, cap - len, "*2\r\n:1\r\n$-1\r\n");
    }
    len += (size_t)snprintf(resp + len, cap - len, "*2\r\n$2\r\nok\r\n:99\r\n");
    check(resp, len, N);
    free(resp);
}

Test(redis_tx_reply, dropped_mid_reply)
{
    /* A connection lost inside the EXEC array: the reader holds part of a
     * reply made of placeholders and of the last element; freeing both
     * leaks nothing and touches nothing freed (ASan build). */
    static const char resp[] = "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:1\r\n*3\r\n$1\r\na\r\n";
    redisReader *rd = redisReaderCreate();
    ks_tx_reply t;
    memset(&t, 0, sizeof t);
    ks_tx_reply_begin(&t, rd, 2);
    cr_assert_eq(redisReaderFeed(rd, resp, sizeof resp - 1), REDIS_OK);
    for (;;) {
        void *p = NULL;
        cr_assert_eq(redisReaderGetReply(rd, &p), REDIS_OK);
        if (!p)
            break;
        cr_assert_not(ks_tx_reply_took(&t));
    }
    cr_assert_eq(t.ngot, 3);
    cr_assert_eq(t.exec_n, 2);
    cr_assert_not_null(t.last, "the last element is being built");
    cr_assert_not(ks_tx_reply_reset(&t), "mid-reply: the connection must go");
    redisReaderFree(rd);
}
