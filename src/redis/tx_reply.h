/* What a MULTI/EXEC transaction's replies said, read without building them.
 *
 * A catch-up flush is one transaction of ~70 k commands: Redis answers
 * +OK, one +QUEUED per command, then EXEC's array of one result per
 * command. hiredis's default reader malloc's a redisReply for each of them
 * (and each element), which the sink only looked at for errors and freed.
 * While a transaction's replies are read, ks_tx_reply_begin() puts reply
 * functions of its own in the connection's reader: they record what the
 * sink decides from (the first error, EXEC's shape) and hand the reader a
 * placeholder instead of an object. Only the EXEC array's last element, the
 * one ks_redis_sink_reply() hands out, is still built by hiredis's own
 * functions.
 *
 *   reply #     RESP                what is kept
 *   0           +OK   (MULTI)       \ first error text (first_err)
 *   1..n        +QUEUED ...         /
 *   n+1         *n (EXEC)           exec_type, exec_n; EXEC's own error
 *                 :1 $.. *.. -ERR   first failing element: err_at, err
 *                 last element      a redisReply (last)
 *
 * Internal to src/redis/ (it includes hiredis). */
#ifndef KS_REDIS_TX_REPLY_H
#define KS_REDIS_TX_REPLY_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ks_tx_reply {
    size_t ncmds;          /* commands between MULTI and EXEC */
    size_t ngot;           /* replies read whole so far (MULTI, QUEUEDs, EXEC) */
    char first_err[256];   /* first error among MULTI's and the QUEUED replies ("": none) */
    int exec_type;         /* REDIS_REPLY_* of EXEC's reply (0: not begun) */
    size_t exec_n;         /* ... elements, if an array */
    char *err;             /* EXEC's own error text, or its first failing element's (NULL: none) */
    size_t err_at;         /* ... that element's index */
    redisReply *last;      /* EXEC's last element, built by hiredis (NULL: none or not read) */
    redisReplyObjectFunctions *dflt; /* the reader's own functions, while ours are in */
    redisReader *rd;       /* the reader ours are in (NULL: none) */
} ks_tx_reply;

/** Puts t's reply functions into rd for a transaction of ncmds commands:
 *  every reply rd returns from now on is a placeholder, until the EXEC
 *  reply (ks_tx_reply_done()). rd must hold no partial reply. t must stay
 *  where it is until ks_tx_reply_reset(). */
void ks_tx_reply_begin(ks_tx_reply *t, redisReader *rd, size_t ncmds);

/** Counts one reply that rd returned whole. Returns true when it was the
 *  EXEC reply: rd has its own functions back. */
bool ks_tx_reply_took(ks_tx_reply *t);

/** Returns true once the EXEC reply has been read whole. */
static inline bool ks_tx_reply_done(const ks_tx_reply *t)
{
    return t->ngot >= t->ncmds + 2;
}

/** Takes the EXEC array's last element out of t: the caller owns it and
 *  frees it with freeReplyObject(). NULL if there is none. */
redisReply *ks_tx_reply_take_last(ks_tx_reply *t);

/** Frees what t holds and forgets the transaction. If t's functions are
 *  still in the reader (the replies were not all read), returns false: the
 *  reader's state is ours, and its connection must be dropped (the reader
 *  can still be freed: its placeholders free as nothing). */
bool ks_tx_reply_reset(ks_tx_reply *t);

#endif
