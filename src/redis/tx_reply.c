/* Reading a transaction's replies without a redisReply each (see tx_reply.h). */
#include "redis/tx_reply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the reader gets for a reply that is not built: any non-NULL pointer
 * (NULL means out of memory to hiredis, and an unfinished reply to
 * redisGetReply). Never dereferenced, freed as nothing. */
static char ks__elided;
#define KS__ELIDED ((void *)&ks__elided)

/* Where a value being read sits. */
enum { KS__QUEUED, KS__EXEC, KS__ELEMENT, KS__LAST, KS__SKIP, KS__BUILD };

static int ks__where(const ks_tx_reply *t, const redisReadTask *task)
{
    bool in_exec = t->ngot == t->ncmds + 1;
    if (!task->parent)
        return in_exec ? KS__EXEC : KS__QUEUED;
    if (task->parent->parent || !in_exec)
        /* Deeper: inside the last element (built) or inside anything else. */
        return task->parent->obj == KS__ELIDED ? KS__SKIP : KS__BUILD;
    return (size_t)task->idx + 1 == t->exec_n ? KS__LAST : KS__ELEMENT;
}

/* hiredis's function builds the value; for the last element as a reply of
 * its own (its parent, EXEC's array, is not built). */
#define KS__BUILD_WITH(fn, ...)                                                                    \
    do {                                                                                           \
        if (w == KS__BUILD)                                                                        \
            return t->dflt->fn(task, __VA_ARGS__);                                                 \
        redisReadTask own = *task;                                                                 \
        own.parent = NULL;                                                                         \
        return t->last = t->dflt->fn(&own, __VA_ARGS__);                                           \
    } while (0)

/* Keeps the first error text (the sink reports it as it was before). */
static void *ks__error(ks_tx_reply *t, int w, const redisReadTask *task, const char *str,
                       size_t len)
{
    if (w == KS__QUEUED) {
        if (!t->first_err[0])
            snprintf(t->first_err, sizeof t->first_err, "%.*s",
                     (int)(len < sizeof t->first_err ? len : sizeof t->first_err), str);
        return KS__ELIDED;
    }
    if (t->err)
        return KS__ELIDED;
    t->err = malloc(len + 1);
    if (!t->err)
        return NULL; /* the reader fails as hiredis's own would: out of memory */
    memcpy(t->err, str, len);
    t->err[len] = '\0';
    t->err_at = w == KS__EXEC ? SIZE_MAX : (size_t)task->idx;
    return KS__ELIDED;
}

static void *ks__string(const redisReadTask *task, char *str, size_t len)
{
    ks_tx_reply *t = task->privdata;
    int w = ks__where(t, task);
    if (w == KS__SKIP)
        return KS__ELIDED;
    if (w == KS__EXEC)
        t->exec_type = task->type;
    if (task->type == REDIS_REPLY_ERROR && w != KS__BUILD) {
        void *r = ks__error(t, w, task, str, len);
        if (w != KS__LAST || !r)
            return r;
    }
    if (w == KS__BUILD || w == KS__LAST)
        KS__BUILD_WITH(createString, str, len);
    return KS__ELIDED;
}

static void *ks__array(const redisReadTask *task, int elements)
{
    ks_tx_reply *t = task->privdata;
    int w = ks__where(t, task);
    if (w == KS__EXEC) {
        t->exec_type = REDIS_REPLY_ARRAY;
        t->exec_n = (size_t)elements;
    }
    if (w == KS__BUILD || w == KS__LAST)
        KS__BUILD_WITH(createArray, elements);
    return KS__ELIDED;
}

static void *ks__integer(const redisReadTask *task, long long value)
{
    ks_tx_reply *t = task->privdata;
    int w = ks__where(t, task);
    if (w == KS__EXEC)
        t->exec_type = REDIS_REPLY_INTEGER;
    if (w == KS__BUILD || w == KS__LAST)
        KS__BUILD_WITH(createInteger, value);
    return KS__ELIDED;
}

static void *ks__nil(const redisReadTask *task)
{
    ks_tx_reply *t = task->privdata;
    int w = ks__where(t, task);
    if (w == KS__EXEC)
        t->exec_type = REDIS_REPLY_NIL;
    if (w != KS__BUILD && w != KS__LAST)
        return KS__ELIDED;
    if (w == KS__BUILD)
        return t->dflt->createNil(task);
    redisReadTask own = *task;
    own.parent = NULL;
    return t->last = t->dflt->createNil(&own);
}

/* The reader frees only a reply it holds at its root (on a protocol error,
 * or when the connection is freed mid-reply): always a placeholder here.
 * The last element, built, hangs from t, not from the root. */
static void ks__free(void *obj)
{
    if (obj && obj != KS__ELIDED)
        freeReplyObject(obj);
}

static redisReplyObjectFunctions ks__fns = {
    .createString = ks__string,
    .createArray = ks__array,
    .createInteger = ks__integer,
    .createNil = ks__nil,
    .freeObject = ks__free,
};

void ks_tx_reply_begin(ks_tx_reply *t, redisReader *rd, size_t ncmds)
{
    ks_tx_reply_reset(t);
    t->ncmds = ncmds;
    t->rd = rd;
    if (rd->fn != &ks__fns)
        t->dflt = rd->fn;
    rd->fn = &ks__fns;
    rd->privdata = t;
}

/* Gives the reader its own functions back (it holds no reply of ours). */
static void ks__restore(ks_tx_reply *t)
{
    if (t->rd && t->rd->fn == &ks__fns) {
        t->rd->fn = t->dflt;
        t->rd->privdata = NULL;
    }
    t->rd = NULL;
}

bool ks_tx_reply_took(ks_tx_reply *t)
{
    t->ngot++;
    if (!ks_tx_reply_done(t))
        return false;
    ks__restore(t);
    return true;
}

redisReply *ks_tx_reply_take_last(ks_tx_reply *t)
{
    redisReply *r = t->last;
    t->last = NULL;
    return r;
}

bool ks_tx_reply_reset(ks_tx_reply *t)
{
    bool idle = true;
    if (t->rd && t->rd->fn == &ks__fns) {
        /* Mid-transaction: the reader may hold part of a reply, made of
         * placeholders (and of t->last): only dropping the connection
         * ends it. Ours stay in, harmless, until then. */
        idle = false;
    }
    if (t->last)
        freeReplyObject(t->last);
    free(t->err);
    redisReplyObjectFunctions *dflt = t->dflt;
    redisReader *rd = idle ? NULL : t->rd;
    memset(t, 0, sizeof *t);
    t->dflt = dflt;
    t->rd = rd;
    return idle;
}
