/* Snapshot framing: header, checksum, and the bounds-checked cursors (see
 * snapshot.h for the layout). */
#include "state/snapshot.h"

#include "kpistream/bigalloc.h"
#include "kpistream/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char ks__magic[8] = {'K', 'S', 'S', 'N', 'A', 'P', '\r', '\n'};
#define KS__BOM 0x01020304u

/* --- checksum: xxHash64's lanes (P1..P5 are its primes) --- */

#define KS__P1 0x9E3779B185EBCA87ULL
#define KS__P2 0xC2B2AE3D27D4EB4FULL
#define KS__P3 0x165667B19E3779F9ULL
#define KS__P4 0x85EBCA77C2B2AE63ULL
#define KS__P5 0x27D4EB2F165667C5ULL

static inline uint64_t ks__rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t ks__round(uint64_t acc, uint64_t in)
{
    return ks__rotl(acc + in * KS__P2, 31) * KS__P1;
}

static void ks__lanes_init(uint64_t lane[4])
{
    lane[0] = KS__P1 + KS__P2;
    lane[1] = KS__P2;
    lane[2] = 0;
    lane[3] = (uint64_t)0 - KS__P1;
}

static void ks__lanes_blocks(uint64_t lane[4], const uint8_t *p, size_t nblocks)
{
    uint64_t a = lane[0], b = lane[1], c = lane[2], d = lane[3];
    for (size_t i = 0; i < nblocks; i++, p += 32) {
        uint64_t w[4];
        memcpy(w, p, 32);
        a = ks__round(a, w[0]);
        b = ks__round(b, w[1]);
        c = ks__round(c, w[2]);
        d = ks__round(d, w[3]);
    }
    lane[0] = a, lane[1] = b, lane[2] = c, lane[3] = d;
}

static uint64_t ks__lanes_final(const uint64_t lane[4], const uint8_t *tail, size_t ntail,
                                uint64_t total)
{
    uint64_t h = ks__rotl(lane[0], 1) + ks__rotl(lane[1], 7) + ks__rotl(lane[2], 12) +
                 ks__rotl(lane[3], 18);
    for (int i = 0; i < 4; i++)
        h = (h ^ ks__round(0, lane[i])) * KS__P1 + KS__P4;
    h += total;
    size_t i = 0;
    for (; i + 8 <= ntail; i += 8) {
        uint64_t w;
        memcpy(&w, tail + i, 8);
        h = ks__rotl(h ^ ks__round(0, w), 27) * KS__P1 + KS__P4;
    }
    for (; i < ntail; i++)
        h = ks__rotl(h ^ (tail[i] * KS__P5), 11) * KS__P1;
    h ^= h >> 33;
    h *= KS__P2;
    h ^= h >> 29;
    h *= KS__P3;
    return h ^ (h >> 32);
}

uint64_t ks_snap_sum(const void *p, size_t len)
{
    uint64_t lane[4];
    ks__lanes_init(lane);
    ks__lanes_blocks(lane, p, len / 32);
    return ks__lanes_final(lane, (const uint8_t *)p + len / 32 * 32, len % 32, len);
}

/* --- writer --- */

static int ks__open(ks_snapw *w, int fd, size_t cap)
{
    memset(w, 0, sizeof *w);
    w->fd = fd;
    w->cap = cap;
    w->buf = malloc(cap);
    if (!w->buf)
        return w->err = KS_ERR_NOMEM;
    ks__lanes_init(w->lane);
    /* Room for the header, filled in by ks_snapw_close. */
    memset(w->buf, 0, KS_SNAP_HEADER);
    w->len = KS_SNAP_HEADER;
    return 0;
}

int ks_snapw_open_fd(ks_snapw *w, int fd)
{
    return ks__open(w, fd, KS_SNAP_CHUNK);
}

int ks_snapw_open_mem(ks_snapw *w)
{
    return ks__open(w, -1, 1 << 16);
}

static void ks__hash(ks_snapw *w, const uint8_t *p, size_t n)
{
    w->body += n;
    if (w->ntail) {
        size_t k = 32 - w->ntail < n ? 32 - w->ntail : n;
        memcpy(w->tail + w->ntail, p, k);
        w->ntail += k;
        p += k;
        n -= k;
        if (w->ntail < 32)
            return;
        ks__lanes_blocks(w->lane, w->tail, 1);
        w->ntail = 0;
    }
    ks__lanes_blocks(w->lane, p, n / 32);
    memcpy(w->tail, p + n / 32 * 32, n % 32);
    w->ntail = n % 32;
}

static void ks__drain(ks_snapw *w)
{
    for (size_t o = 0; o < w->len && !w->err;) {
        ssize_t k = write(w->fd, w->buf + o, w->len - o);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            w->err = KS_ERR_IO;
        else
            o += (size_t)k;
    }
    w->len = 0;
}

void ks_snapw_put(ks_snapw *w, const void *p, size_t n)
{
    if (w->err || n == 0)
        return;
    ks__hash(w, p, n);
    const uint8_t *s = p;
    while (n) {
        if (w->len == w->cap) {
            if (w->fd >= 0) {
                ks__drain(w);
                if (w->err)
                    return;
            } else {
                size_t cap = w->cap * 2;
                uint8_t *nb = realloc(w->buf, cap);
                if (!nb) {
                    w->err = KS_ERR_NOMEM;
                    return;
                }
                w->buf = nb;
                w->cap = cap;
            }
        }
        size_t k = w->cap - w->len < n ? w->cap - w->len : n;
        memcpy(w->buf + w->len, s, k);
        w->len += k;
        s += k;
        n -= k;
    }
}

void ks_snapw_str(ks_snapw *w, const char *s, size_t len)
{
    ks_snapw_u32(w, (uint32_t)len);
    ks_snapw_put(w, s, len);
}

static void ks__header(uint8_t h[KS_SNAP_HEADER], uint64_t body, uint64_t sum)
{
    uint32_t version = KS_SNAP_VERSION, bom = KS__BOM;
    memset(h, 0, KS_SNAP_HEADER);
    memcpy(h, ks__magic, 8);
    memcpy(h + 8, &version, 4);
    memcpy(h + 12, &bom, 4);
    memcpy(h + 16, &body, 8);
    memcpy(h + 24, &sum, 8);
    uint64_t hs = ks_snap_sum(h, 32);
    memcpy(h + 32, &hs, 8);
}

int ks_snapw_close(ks_snapw *w, uint8_t **out, size_t *outlen)
{
    uint8_t h[KS_SNAP_HEADER];
    ks__header(h, w->body, ks__lanes_final(w->lane, w->tail, w->ntail, w->body));
    int err = w->err;
    if (!err && w->fd >= 0) {
        /* The header goes where the snapshot started: body bytes before
         * the first drain still sit behind it in the staging buffer. */
        off_t start = lseek(w->fd, 0, SEEK_CUR) - (off_t)(w->body + KS_SNAP_HEADER - w->len);
        ks__drain(w);
        if (!w->err && pwrite(w->fd, h, sizeof h, start) != (ssize_t)sizeof h)
            w->err = KS_ERR_IO;
        err = w->err;
    } else if (!err) {
        memcpy(w->buf, h, sizeof h);
        *out = w->buf;
        *outlen = w->len;
        w->buf = NULL;
    }
    free(w->buf);
    w->buf = NULL;
    return err;
}

/* --- reader --- */

void ks_snapr_fail(ks_snapr *r, const char *fmt, ...)
{
    if (r->bad)
        return;
    r->bad = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

int ks_snapr_open(ks_snapr *r, const void *buf, size_t len, char *why, size_t whysize)
{
    memset(r, 0, sizeof *r);
    const uint8_t *h = buf;
    uint32_t version, bom;
    uint64_t body, sum, hs;
    if (len < KS_SNAP_HEADER || memcmp(h, ks__magic, 8) != 0) {
        snprintf(why, whysize, "not a kpistream snapshot (no header)");
        return KS_ERR_PARSE;
    }
    memcpy(&version, h + 8, 4);
    memcpy(&bom, h + 12, 4);
    memcpy(&body, h + 16, 8);
    memcpy(&sum, h + 24, 8);
    memcpy(&hs, h + 32, 8);
    if (ks_snap_sum(h, 32) != hs) {
        snprintf(why, whysize, "header checksum mismatch (corrupt)");
        return KS_ERR_PARSE;
    }
    if (bom != KS__BOM) {
        snprintf(why, whysize, "written on a machine of another byte order");
        return KS_ERR_PARSE;
    }
    if (version != KS_SNAP_VERSION) {
        snprintf(why, whysize, "format version %u; this build reads version %d", version,
                 KS_SNAP_VERSION);
        return KS_ERR_PARSE;
    }
    if (body != len - KS_SNAP_HEADER) {
        snprintf(why, whysize, "truncated or padded: the header says %llu body bytes, the file "
                 "has %zu", (unsigned long long)body, len - KS_SNAP_HEADER);
        return KS_ERR_PARSE;
    }
    if (ks_snap_sum(h + KS_SNAP_HEADER, (size_t)body) != sum) {
        snprintf(why, whysize, "body checksum mismatch (corrupt)");
        return KS_ERR_PARSE;
    }
    r->p = h;
    r->len = len;
    r->pos = KS_SNAP_HEADER;
    return 0;
}

const void *ks_snapr_take(ks_snapr *r, size_t n)
{
    if (r->bad)
        return NULL;
    if (n > r->len - r->pos) {
        ks_snapr_fail(r, "truncated: %zu bytes wanted at byte %zu of %zu", n, r->pos, r->len);
        return NULL;
    }
    const void *p = r->p + r->pos;
    r->pos += n;
    return p;
}

#define KS__READ(name, type)                                                   \
    type name(ks_snapr *r)                                                     \
    {                                                                          \
        type v = 0;                                                            \
        const void *p = ks_snapr_take(r, sizeof v);                            \
        if (p)                                                                 \
            memcpy(&v, p, sizeof v);                                           \
        return v;                                                              \
    }
KS__READ(ks_snapr_u8, uint8_t)
KS__READ(ks_snapr_u32, uint32_t)
KS__READ(ks_snapr_u64, uint64_t)
KS__READ(ks_snapr_i64, int64_t)
#undef KS__READ

size_t ks_snapr_str(ks_snapr *r, char *buf, size_t max)
{
    uint32_t n = ks_snapr_u32(r);
    buf[0] = '\0';
    if (r->bad)
        return 0;
    if (n >= max) {
        ks_snapr_fail(r, "a string of %u bytes at byte %zu (at most %zu)", n, r->pos, max - 1);
        return 0;
    }
    const void *p = ks_snapr_take(r, n);
    if (!p)
        return 0;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return n;
}

bool ks_snapr_tag(ks_snapr *r, const char tag[4])
{
    size_t at = r->pos;
    const char *p = ks_snapr_take(r, 4);
    if (p && memcmp(p, tag, 4) != 0)
        ks_snapr_fail(r, "section %.4s expected at byte %zu", tag, at);
    return !r->bad;
}

void *ks_snapr_dup(ks_snapr *r, size_t n, size_t elem)
{
    if (r->bad)
        return NULL;
    if (elem && n > (r->len - r->pos) / elem) {
        ks_snapr_fail(r, "truncated: %zu elements of %zu bytes at byte %zu", n, elem, r->pos);
        return NULL;
    }
    void *d = ks_big_alloc(n ? n * elem : 1); /* the big arrays of the state */
    if (!d) {
        ks_snapr_fail(r, "out of memory (%zu bytes)", n * elem);
        return NULL;
    }
    memcpy(d, ks_snapr_take(r, n * elem), n * elem);
    return d;
}

void ks_snap_reseal(uint8_t *buf, size_t len)
{
    uint64_t body = len - KS_SNAP_HEADER;
    uint64_t sum = ks_snap_sum(buf + KS_SNAP_HEADER, (size_t)body), hs;
    memcpy(buf + 16, &body, 8);
    memcpy(buf + 24, &sum, 8);
    hs = ks_snap_sum(buf, 32);
    memcpy(buf + 32, &hs, 8);
}
