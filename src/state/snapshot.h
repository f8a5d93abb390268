/* Partition snapshots: the byte format's framing and the cursors each state
 * module writes and reads its own part with (docs/architecture.md,
 * "Snapshots"). Private to src/.
 *
 * A snapshot is one partition's state at one offset. Every integer is
 * little-endian as the machine holds it (a byte-order mark refuses a file
 * from another kind of machine); the body is checksummed as a whole, so a
 * torn or flipped file is refused before any section is looked at.
 *
 *   offset  size  field
 *   0       8     magic "KSSNAP\r\n" (\r\n: a text-mode copy is refused)
 *   8       4     format version, KS_SNAP_VERSION
 *   12      4     byte-order mark 0x01020304
 *   16      8     body length
 *   24      8     body checksum (ks_snap_sum of the body)
 *   32      8     header checksum (ks_snap_sum of bytes 0..31)
 *   40      ...   body: sections in a fixed order, each opened by a 4-byte tag
 *                 ("META", "NAME", "CUST", ...) that the reader checks
 *
 * Sections hold what each module writes (see <module>_snap.c): sizes first,
 * then raw arrays where the in-memory layout is the format (customer
 * records, hash tables), so loading is mostly memcpy. KS_SNAP_VERSION goes
 * up whenever any of that changes: a snapshot of another version is
 * ignored, never half-understood.
 *
 * The checksum (ks_snap_sum) is four interleaved multiply-rotate lanes over
 * 32-byte blocks, as xxHash64's: it catches corruption, not forgery; who
 * can write the snapshots can falsify the state (docs/security.md).
 */
#ifndef KS_STATE_SNAPSHOT_H
#define KS_STATE_SNAPSHOT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS_SNAP_VERSION 3 /* 3: the names table places a customer's slots together */
#define KS_SNAP_HEADER 40
#define KS_SNAP_CHUNK (1u << 20) /* writer staging: bytes per write(2) */

/* Writer: to a file descriptor (streamed in KS_SNAP_CHUNK pieces) or to
 * memory (tests, fuzz seeds). The header is written last, in place. */
typedef struct ks_snapw {
    int fd;             /* -1: memory */
    uint8_t *buf;       /* staging (fd) or the whole snapshot (memory) */
    size_t len, cap;
    uint64_t body;      /* body bytes so far */
    uint64_t lane[4];   /* checksum state */
    uint8_t tail[32];   /* bytes of an unfinished 32-byte block */
    size_t ntail;
    int err;            /* first error (KS_ERR_NOMEM, KS_ERR_IO) */
} ks_snapw;

/** Starts a snapshot written to fd (from its current position). Returns 0
 *  or KS_ERR_NOMEM. fd stays the caller's. */
int ks_snapw_open_fd(ks_snapw *w, int fd);

/** Starts a snapshot kept in memory. Returns 0 or KS_ERR_NOMEM. */
int ks_snapw_open_mem(ks_snapw *w);

/** Appends n bytes (errors are sticky and reported by ks_snapw_close). */
void ks_snapw_put(ks_snapw *w, const void *p, size_t n);

static inline void ks_snapw_u8(ks_snapw *w, uint8_t v) { ks_snapw_put(w, &v, 1); }
static inline void ks_snapw_u32(ks_snapw *w, uint32_t v) { ks_snapw_put(w, &v, 4); }
static inline void ks_snapw_u64(ks_snapw *w, uint64_t v) { ks_snapw_put(w, &v, 8); }
static inline void ks_snapw_i64(ks_snapw *w, int64_t v) { ks_snapw_put(w, &v, 8); }
static inline void ks_snapw_tag(ks_snapw *w, const char tag[4]) { ks_snapw_put(w, tag, 4); }

/** Appends a string as u32 length + bytes. */
void ks_snapw_str(ks_snapw *w, const char *s, size_t len);

/** Finishes the snapshot: writes the header (fd: with pwrite at the
 *  position the snapshot started). Memory mode: *out and *outlen get the bytes
 *  (caller owns *out; free with free()). Returns 0, KS_ERR_IO or
 *  KS_ERR_NOMEM; frees the writer's memory either way. */
int ks_snapw_close(ks_snapw *w, uint8_t **out, size_t *outlen);

/* Reader over a snapshot held in memory (read or mapped). Every read is
 * bounds-checked; the first failure sticks, with a reason naming the byte. */
typedef struct ks_snapr {
    const uint8_t *p;
    size_t len, pos;
    bool bad;
    char why[200];
} ks_snapr;

/** Checks the header and checksums of buf (len bytes) and positions r at the
 *  body. Returns 0, or KS_ERR_PARSE with why saying what is wrong ("format
 *  version 2; this build reads 1", "checksum mismatch", ...). buf is
 *  borrowed and must outlive r. */
int ks_snapr_open(ks_snapr *r, const void *buf, size_t len, char *why, size_t whysize);

/** Marks r bad with a reason (the first one sticks). */
void ks_snapr_fail(ks_snapr *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Returns a pointer to the next n bytes and moves past them, or NULL (r bad). */
const void *ks_snapr_take(ks_snapr *r, size_t n);

uint8_t ks_snapr_u8(ks_snapr *r);
uint32_t ks_snapr_u32(ks_snapr *r);
uint64_t ks_snapr_u64(ks_snapr *r);
int64_t ks_snapr_i64(ks_snapr *r);

/** Reads a string written by ks_snapw_str into buf (NUL-terminated); a
 *  string of max bytes or more marks r bad. Returns its length. */
size_t ks_snapr_str(ks_snapr *r, char *buf, size_t max);

/** Checks that the next 4 bytes are tag (r bad otherwise). */
bool ks_snapr_tag(ks_snapr *r, const char tag[4]);

/** Copies the next n elements of size elem into a new array (n may be 0:
 *  returns a 1-element allocation). Returns NULL if r is bad, the bytes are
 *  not there, or out of memory (r bad). Caller owns the result; free it
 *  with ks_big_free() (bigalloc.h: it is one of the state's big arrays). */
void *ks_snapr_dup(ks_snapr *r, size_t n, size_t elem);

/** The checksum of the format (see above). */
uint64_t ks_snap_sum(const void *p, size_t len);

/** Recomputes the header's checksums of a snapshot in place (fuzzing: lets
 *  mutated inputs reach the sections). len must be at least KS_SNAP_HEADER. */
void ks_snap_reseal(uint8_t *buf, size_t len);

#endif
