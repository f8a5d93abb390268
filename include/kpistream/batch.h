/* A batch of Redis commands built by the engine and sent by the Redis sink.
 * Keeps the engine free of any Redis client: commands are argv vectors of
 * byte strings stored in one growable arena, reused from flush to flush. */
#ifndef KPISTREAM_BATCH_H
#define KPISTREAM_BATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct ks_batch {
    char *arena;
    size_t len, cap;
    size_t *argoff;   /* offset of each argument in arena */
    size_t *arglen;
    size_t nargs, capargs;
    size_t *cmdstart; /* index of each command's first argument */
    size_t ncmds, capcmds;
    int failed;       /* set on out-of-memory; the batch must not be sent */
} ks_batch;

/** Initialises an empty batch. Release with ks_batch_reset(). */
void ks_batch_init(ks_batch *b);

/** Frees the batch's memory. */
void ks_batch_reset(ks_batch *b);

/** Empties the batch, keeping its memory. */
void ks_batch_clear(ks_batch *b);

/** Starts a new command. */
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

/** Appends a printf-formatted argument. */
void ks_batch_fmt(ks_batch *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Returns the number of arguments of command i and fills argv/lens
 *  (pointers borrowed from b, valid until the next change to b). */
size_t ks_batch_get(const ks_batch *b, size_t i, const char **argv, size_t *lens, size_t max);

#endif
