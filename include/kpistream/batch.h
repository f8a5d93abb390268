/* A batch of Redis commands built by the engine and sent by the Redis sink.
 * Keeps the engine free of any Redis client: the commands are encoded in the
 * Redis protocol (RESP) as they are appended, back to back in one growable
 * buffer reused from flush to flush, so the sink sends the buffer as it is
 * (no per-argument pass, no second copy) and a flush holds its commands once. */
#ifndef KPISTREAM_BATCH_H
#define KPISTREAM_BATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct ks_batch ks_batch;
/* Takes a prefix of the batch's untaken bytes (ks_batch_take); see
 * ks_batch_set_drain(). */
typedef void ks_batch_drain_fn(void *ctx, ks_batch *b);

struct ks_batch {
    char *buf;        /* the commands in RESP: *<argc>\r\n then $<len>\r\n<arg>\r\n each */
    size_t len, cap;
    size_t *cmdoff;   /* offset of each command's *<argc> header, counted from the
                       * batch's first byte: buf[0] is byte number base */
    size_t ncmds, capcmds;
    size_t hdr;       /* offset of the last digit of the last command's <argc> */
    size_t nargs;     /* arguments of all commands (statistics) */
    int failed;       /* set on out-of-memory; the batch must not be sent */
    /* Streaming (ks_batch_set_drain): buf[0 .. rpos) is taken (sent), and
     * base bytes taken earlier are gone from buf. Both 0 without a drain. */
    size_t rpos, base;
    size_t drain_at;
    ks_batch_drain_fn *drain;
    void *drain_ctx;
};

/** Initialises an empty batch. Release with ks_batch_reset(). */
void ks_batch_init(ks_batch *b);

/** Frees the batch's memory. */
void ks_batch_reset(ks_batch *b);

/** Empties the batch, keeping its memory and its drain. */
void ks_batch_clear(ks_batch *b);

/** Makes b call fn(ctx, b) when a command starts while at least `at` bytes
 *  of whole commands are untaken (buf + rpos .. buf + len): fn takes what it
 *  can with ks_batch_take(), so a large batch is held only until its reader
 *  (the Redis socket) takes it. fn NULL: no drain. ctx is borrowed. */
void ks_batch_set_drain(ks_batch *b, size_t at, ks_batch_drain_fn *fn, void *ctx);

/** Marks n more bytes taken (n <= len - rpos). The taken prefix may be
 *  dropped from buf (base grows): pointers into buf do not survive it. */
void ks_batch_take(ks_batch *b, size_t n);

/** Starts a new command (arguments appended before the first are dropped). */
void ks_batch_cmd(ks_batch *b);

/** Appends one argument (len bytes, copied) to the current command. */
void ks_batch_arg(ks_batch *b, const char *s, size_t len);

/** Appends a NUL-terminated argument. */
void ks_batch_str(ks_batch *b, const char *s);

/** Appends a decimal integer argument (faster than ks_batch_fmt). */
void ks_batch_i64(ks_batch *b, int64_t v);

/** Writes v in decimal, NUL-terminated, at out (24 bytes); returns its
 *  length. No printf: flushes format millions of these. */
size_t ks_batch_i64_text(char *out, int64_t v);

/** Appends a printf-formatted argument (truncated to 511 bytes). */
void ks_batch_fmt(ks_batch *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Returns the number of arguments of command i (0 once it is taken). */
size_t ks_batch_argc(const ks_batch *b, size_t i);

/** Decodes command i: returns its number of arguments (at most max) and
 *  fills argv/lens with the first ones (pointers borrowed from b, valid until
 *  the next change to b; each argument is followed by "\r\n", not a NUL).
 *  Not for hot paths: it parses the command's RESP. */
size_t ks_batch_get(const ks_batch *b, size_t i, const char **argv, size_t *lens, size_t max);

#endif
