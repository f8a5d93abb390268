/* ks_batch: Redis commands encoded in RESP as they are appended. */
#include "kpistream/batch.h"

#include "kpistream/vec.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room an argument takes besides its bytes: "$", up to 20 digits, two CRLFs,
 * and one byte for its command's header growing a digit (ks__count_carry). */
#define KS__ARG_ROOM 26

void ks_batch_init(ks_batch *b)
{
    memset(b, 0, sizeof *b);
}

void ks_batch_reset(ks_batch *b)
{
    free(b->buf);
    free(b->cmdoff);
    memset(b, 0, sizeof *b);
}

void ks_batch_clear(ks_batch *b)
{
    b->len = b->ncmds = b->nargs = 0;
    b->rpos = b->base = 0;
    b->failed = 0;
}

void ks_batch_set_drain(ks_batch *b, size_t at, ks_batch_drain_fn *fn, void *ctx)
{
    b->drain_at = at;
    b->drain = fn;
    b->drain_ctx = ctx;
}

/* Taken bytes are dropped from buf (the rest moved to its start) once they
 * are at least this many and at least a quarter of the untaken ones: a
 * reader slower than the writer leaves a backlog, which must not keep the
 * taken bytes before it, and each byte taken pays for moving at most four. */
#define KS__DROP_MIN (256u * 1024)

void ks_batch_take(ks_batch *b, size_t n)
{
    b->rpos += n;
    size_t k = b->rpos;
    if (k < b->len && (k < KS__DROP_MIN || k < (b->len - k) / 4))
        return;
    if (k < b->len)
        memmove(b->buf, b->buf + k, b->len - k);
    b->base += k;
    b->len -= k;
    b->hdr = b->hdr >= k ? b->hdr - k : 0;
    b->rpos = 0;
}

void ks_batch_cmd(ks_batch *b)
{
    /* Between commands: everything before is whole. */
    if (b->drain && !b->failed && b->len - b->rpos >= b->drain_at)
        b->drain(b->drain_ctx, b);
    if (b->failed || ks_vec_reserve(b->cmdoff, b->capcmds, b->ncmds + 1) ||
        ks_vec_reserve(b->buf, b->cap, b->len + 4)) {
        b->failed = 1;
        return;
    }
    /* RESP wants the argument count first, and it is known only when the
     * command ends: the header counts up as arguments come (ks_batch_arg). */
    b->cmdoff[b->ncmds++] = b->base + b->len;
    memcpy(b->buf + b->len, "*0\r\n", 4);
    b->hdr = b->len + 1;
    b->len += 4;
}

/* Counts one more argument in the current command's *<argc> header whose
 * last digit is a 9: a decimal carry in place. At 9, 99, ... the header
 * grows a digit and the command's arguments so far move up one byte (room
 * reserved by the caller); once per command for most, as a customer's HSET
 * has 46 arguments. Redis refuses leading zeros, so no fixed-width header. */
static void ks__count_carry(ks_batch *b)
{
    char *h = b->buf + (b->cmdoff[b->ncmds - 1] - b->base) + 1, *d = b->buf + b->hdr + 1;
    while (d > h && d[-1] == '9')
        *--d = '0';
    if (d > h) {
        d[-1]++;
        return;
    }
    memmove(h + 1, h, (size_t)(b->buf + b->len - h));
    h[0] = '1';
    b->len++;
    b->hdr++;
}

/* Writes v in decimal at p; returns the end. */
static char *ks__decimal(char *p, size_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *p++ = tmp[--n];
    return p;
}

/* Runs once per argument of every flush (millions): the length's common
 * one- and two-digit cases are written without a loop. */
void ks_batch_arg(ks_batch *b, const char *s, size_t len)
{
    if (b->failed || b->ncmds == 0)
        return;
    if (len > SIZE_MAX / 2 - b->len || ks_vec_reserve(b->buf, b->cap, b->len + len + KS__ARG_ROOM)) {
        b->failed = 1;
        return;
    }
    if (b->buf[b->hdr] != '9')
        b->buf[b->hdr]++;
    else
        ks__count_carry(b);
    char *p = b->buf + b->len;
    if (len < 10) {
        p[0] = '$', p[1] = (char)('0' + len), p[2] = '\r', p[3] = '\n';
        p += 4;
    } else if (len < 100) {
        p[0] = '$', p[1] = (char)('0' + len / 10), p[2] = (char)('0' + len % 10);
        p[3] = '\r', p[4] = '\n';
        p += 5;
    } else {
        *p++ = '$';
        p = ks__decimal(p, len);
        *p++ = '\r';
        *p++ = '\n';
    }
    if (len)
        memcpy(p, s, len);
    p += len;
    p[0] = '\r', p[1] = '\n';
    b->len = (size_t)(p + 2 - b->buf);
    b->nargs++;
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

/* Reads the decimal number at *pp up to its CRLF; moves *pp past the CRLF. */
static size_t ks__number(const char **pp)
{
    const char *p = *pp;
    size_t v = 0;
    while (*p != '\r')
        v = v * 10 + (size_t)(*p++ - '0');
    *pp = p + 2;
    return v;
}

size_t ks_batch_argc(const ks_batch *b, size_t i)
{
    if (b->cmdoff[i] < b->base + b->rpos)
        return 0;
    const char *p = b->buf + (b->cmdoff[i] - b->base) + 1;
    return ks__number(&p);
}

size_t ks_batch_get(const ks_batch *b, size_t i, const char **argv, size_t *lens, size_t max)
{
    if (b->cmdoff[i] < b->base + b->rpos)
        return 0;
    const char *p = b->buf + (b->cmdoff[i] - b->base) + 1;
    size_t argc = ks__number(&p), n = 0;
    for (; n < argc && n < max; n++) {
        p++; /* '$' */
        lens[n] = ks__number(&p);
        argv[n] = p;
        p += lens[n] + 2;
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
