/* kpistream error codes.
 *
 * Functions that can fail return 0 on success or a negative ks_err code, and
 * (where the caller needs to tell an operator what went wrong) fill a caller
 * buffer with a sentence that names the thing at fault. Codes and their
 * descriptions come from one X-macro table so they cannot drift apart.
 */
#ifndef KPISTREAM_ERR_H
#define KPISTREAM_ERR_H

#include <stddef.h>

#define KS_ERR_MAP(X)                                                          \
    X(OK, 0, "success")                                                        \
    X(NOMEM, -1, "out of memory")                                              \
    X(INVAL, -2, "invalid argument")                                           \
    X(CONFIG, -3, "invalid configuration")                                     \
    X(IO, -4, "I/O error")                                                     \
    X(PARSE, -5, "parse error")                                                \
    X(KAFKA, -6, "Kafka error")                                                \
    X(REDIS, -7, "Redis error")                                                \
    X(FULL, -8, "capacity exhausted")                                          \
    X(NOTFOUND, -9, "not found")                                               \
    X(RANGE, -10, "value out of range")                                        \
    X(STATE, -11, "inconsistent state")                                        \
    X(CONFLICT, -12, "changed by another writer meanwhile")

typedef enum ks_err {
#define KS__ERR_ENUM(name, code, msg) KS_ERR_##name = (code),
    KS_ERR_MAP(KS__ERR_ENUM)
#undef KS__ERR_ENUM
} ks_err;

/** Returns a static description of err; never NULL. */
const char *ks_strerror(int err);

/** Size of the error-message buffers passed to functions that can fail. */
#define KS_ERRSTR_SIZE 512

#endif
