/* Internals of the event module, shared by its files and its unit tests.
 * Nothing here is part of the public API. */
#ifndef KS_EVENT_INTERNAL_H
#define KS_EVENT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpistream/event.h"

/* ---- arena.c: the bump allocator cJSON allocates from during ks_event_parse ----
 *
 * cJSON allocates one node per JSON value and one buffer per string. Routing
 * those through malloc costs ~30 allocations per typical event, so during a
 * parse the cJSON hooks (installed once, process-wide) bump-allocate from the
 * parser's arena instead, and the whole tree is dropped by resetting the arena.
 *
 *   main block (reused)           overflow chunks (only when a message needs more)
 *   +------------------------+     +-------+    +-------+
 *   | used ........ |  free  |     | chunk | -> | chunk | -> NULL
 *   +------------------------+     +-------+    +-------+
 *
 * At reset, overflow chunks are freed and the main block grows to the total
 * that was needed (capped at KS__ARENA_KEEP_MAX), so steady state is one block
 * and zero mallocs per event.
 *
 * The hooks consult a thread-local "current arena" pointer that is set only for
 * the duration of cJSON_ParseWithLengthOpts() inside ks_event_parse(). With no
 * current arena (e.g. the config module parsing its file) they are plain
 * malloc/free, so other cJSON users are unaffected. While an arena is current,
 * free() is a no-op: cJSON only frees nodes of the tree it is building, which
 * all live in the arena.
 *
 * Under AddressSanitizer every allocation is its own malloc'd chunk, so ASan
 * still sees cJSON's reads and writes at allocation granularity. */
#define KS__ARENA_INITIAL (16u * 1024u)
#define KS__ARENA_KEEP_MAX (1u * 1024u * 1024u)

typedef struct ks__arena_chunk ks__arena_chunk;

typedef struct ks__arena {
    unsigned char *base; /* main block */
    size_t cap;
    size_t used;
    ks__arena_chunk *chunks; /* overflow chunks, newest first */
    size_t chunk_bytes;      /* total bytes held in chunks */
    uint64_t allocs;         /* allocations served since creation */
} ks__arena;

/** Initialises an arena with a main block of cap bytes. Returns 0 or KS_ERR_NOMEM. */
int ks__arena_init(ks__arena *a, size_t cap);

/** Frees everything the arena holds. */
void ks__arena_destroy(ks__arena *a);

/** Drops every allocation; frees overflow chunks and regrows the main block. */
void ks__arena_reset(ks__arena *a);

/** Returns size bytes aligned for any type, or NULL when out of memory.
 *  Borrowed: valid until the next ks__arena_reset(). */
void *ks__arena_alloc(ks__arena *a, size_t size);

/** Installs the cJSON hooks (idempotent, thread-safe). */
void ks__json_hooks_install(void);

/** Makes a the current arena of the calling thread (NULL: none); returns the previous one. */
ks__arena *ks__arena_set_current(ks__arena *a);

/* ---- scan.c: the strictness pass that runs before cJSON ----
 *
 * cJSON is lenient where JSON (RFC 8259) is not: it treats every byte <= 0x20
 * as whitespace, copies raw control characters into strings, accepts "+1",
 * ".5", "01" and "1." (it hands the token to strtod), and decodes an invalid
 * \u escape such as "\uZZZZ" as U+0000. One linear pass rejects all of that,
 * validates UTF-8 (a \u escape of a lone UTF-16 surrogate, which stands for
 * no character, counts as invalid UTF-8), measures the nesting depth of the
 * brackets (so that a too-deep message never reaches cJSON's recursion), and
 * notes whether any string contains the escape \u0000 (which cJSON would
 * silently truncate at). */

typedef struct ks__prescan {
    bool has_nul;     /* a \u0000 escape was seen */
    size_t max_depth; /* deepest nesting of [ and { outside strings */
} ks__prescan;

/** Returns KS_REJECT_NONE, KS_REJECT_BAD_UTF8 (any invalid UTF-8 byte anywhere
 *  wins; a lone surrogate escape before any JSON error too) or
 *  KS_REJECT_MALFORMED_JSON; fills *out (meaningful only for KS_REJECT_NONE). */
ks_reject_code ks__json_prescan(const unsigned char *b, size_t n, ks__prescan *out);

/** For the fast path, which does the prescan's checks itself on what it
 *  accepts: b[i] is a string's opening quote; returns the index of its
 *  closing quote if the string holds no backslash and no raw control
 *  character and its bytes are valid UTF-8, else 0. */
size_t ks__json_string_end(const unsigned char *b, size_t n, size_t i);

/** The length of the RFC 8259 number token at p, as the prescan checks it
 *  (not followed by a byte cJSON would read as part of it), or 0. */
size_t ks__json_number_len(const unsigned char *p, size_t n);

/** For a message the prescan and cJSON accepted as an object: finds the first
 *  top-level member whose key or value contains a \u0000 escape. Returns true
 *  and sets *ordinal (0-based position among the object's members) and
 *  *in_key (the escape is in the member's name), or returns false. */
bool ks__json_nul_member(const unsigned char *b, size_t n, size_t *ordinal, bool *in_key);

/* ---- flat.c: the fast path for flat objects (see there) ---- */

struct cJSON;

/* The slot of the member name k[0..len) among the fields ks_event_parse
 * reads, or -1 for any other name (event.c). */
int ks__field_index_n(const char *k, size_t len);

/* At least the number of fields ks_event_parse reads (event.c checks). */
#define KS__FLAT_FIELDS 24

/* What the fast path read of a flat object: per known field, its first
 * member's value as cJSON would have built it (unknown names get no node),
 * and the text of a number value (the amount's micro-units are read from
 * it); the member count; the first known name seen twice. */
typedef struct ks__flat {
    struct cJSON *f[KS__FLAT_FIELDS]; /* &node[i] or NULL */
    struct cJSON *node;               /* [KS__FLAT_FIELDS], the caller's */
    size_t num_off[KS__FLAT_FIELDS], num_len[KS__FLAT_FIELDS];
    size_t count;
    int dup; /* -1: none */
} ks__flat;

/** For any message: true, with *out filled (out->node set by the caller;
 *  the message's copy, where the strings end, allocated in a), if it
 *  is one object of scalar members without any backslash that passes every
 *  check of the prescan; else false (then the prescan and cJSON judge it).
 *  The member-level rules (count, duplicates) are left to the caller, who
 *  judges them as it does for cJSON's tree. Borrowed from a. */
bool ks__flat_parse(ks__arena *a, const unsigned char *b, size_t n, ks__flat *out);

/** Tests: on (the default) lets ks_event_parse take the fast path; off sends
 *  every message through cJSON, the reference the fast path must match. */
void ks__event_parser_set_flat(ks_event_parser *p, bool on);

/* ---- rfc3339.c ---- */

/* Accepted event times, epoch ms: 1970-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z. */
#define KS__TS_MIN_MS INT64_C(0)
#define KS__TS_MAX_MS INT64_C(253402300799999)

/* ---- decimal.c: amounts in micro-units from the number's text ---- */

/** Reads the RFC 8259 number s[0..n) exactly and stores it in micro-units
 *  (10^-6), rounded half up on the decimal value (half away from zero for a
 *  negative one) in *out. Returns false if s is not such a number or the
 *  result exceeds 10^18 micro-units. */
bool ks__decimal_micro(const char *s, size_t n, int64_t *out);

/** Finds the value of the ordinal-th member (from 0) of the top-level object
 *  of the valid JSON b[0..n) and stores its span in *off, *len (no
 *  surrounding whitespace). Returns false if there is no such member. */
bool ks__json_member_value(const unsigned char *b, size_t n, size_t ordinal, size_t *off,
                           size_t *len);

#endif
