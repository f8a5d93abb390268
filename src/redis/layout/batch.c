#include "kpistream/batch.h"

#include "kpistream/vec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ks_batch_init(ks_batch *b)
{
    memset(b, 0, sizeof *b);
}

void ks_batch_reset(ks_batch *b)
{
    free(b->arena);
    free(b->argoff);
    free(b->arglen);
    free(b->cmdstart);
    memset(b, 0, sizeof *b);
}

void ks_batch_clear(ks_batch *b)
{
    b->len = b->nargs = b->ncmds = 0;
    b->failed = 0;
}

void ks_batch_cmd(ks_batch *b)
{
    if (b->failed || ks_vec_reserve(b->cmdstart, b->capcmds, b->ncmds + 1)) {
        b->failed = 1;
        return;
    }
    b->cmdstart[b->ncmds++] = b->nargs;
}

void ks_batch_arg(ks_batch *b, const char *s, size_t len)
{
    size_t cap = b->capargs; /* argoff and arglen grow alike from one capacity */
    if (b->failed || ks_vec_reserve(b->arena, b->cap, b->len + len + 1) ||
        ks_vec_reserve(b->argoff, cap, b->nargs + 1) ||
        ks_vec_reserve(b->arglen, b->capargs, b->nargs + 1)) {
        b->failed = 1;
        return;
    }
    memcpy(b->arena + b->len, s, len);
    b->arena[b->len + len] = '\0';
    b->argoff[b->nargs] = b->len;
    b->arglen[b->nargs] = len;
    b->nargs++;
    b->len += len + 1;
}

void ks_batch_str(ks_batch *b, const char *s)
{
    ks_batch_arg(b, s, strlen(s));
}

void ks_batch_fmt(ks_batch *b, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    ks_batch_arg(b, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

size_t ks_batch_get(const ks_batch *b, size_t i, const char **argv, size_t *lens, size_t max)
{
    size_t from = b->cmdstart[i];
    size_t to = i + 1 < b->ncmds ? b->cmdstart[i + 1] : b->nargs;
    size_t n = 0;
    for (size_t a = from; a < to && n < max; a++, n++) {
        argv[n] = b->arena + b->argoff[a];
        lens[n] = b->arglen[a];
    }
    return n;
}

size_t ks_batch_i64_text(char *out, int64_t v)
{
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    size_t n = (size_t)(buf + sizeof buf - p);
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

void ks_batch_i64(ks_batch *b, int64_t v)
{
    char buf[24];
    ks_batch_arg(b, buf, ks_batch_i64_text(buf, v));
}
