/* A string interner: names (fields of the group state, dims, sketch items)
 * to dense 32-bit ids, so shares and sums are arrays and maps of integers
 * and each name is formatted and hashed once per process, not per flush.
 * Names are never removed: their number is bounded by the configured
 * windows, dims, sketch keys and the distinct top-k items seen. */
#ifndef KS_ENGINE_NAMES_H
#define KS_ENGINE_NAMES_H

#include <stddef.h>
#include <stdint.h>

#define KS_NAMES_NONE UINT32_MAX

typedef struct ks_names {
    char *arena;          /* names, NUL-terminated; owned */
    size_t alen, acap;
    uint32_t *off;        /* [n] offset of name i in arena */
    uint32_t *len;        /* [n] its length */
    uint32_t n, cap;
    uint32_t *slot;       /* open addressing: id + 1; 0 = empty */
    uint32_t scap;        /* power of two, >= 2 * cap */
} ks_names;

/** Returns the id of name (adding it if new), or KS_NAMES_NONE when out of memory. */
uint32_t ks_names_id(ks_names *t, const char *name, size_t len);

/** Returns the id of name if present, else KS_NAMES_NONE. */
uint32_t ks_names_find(const ks_names *t, const char *name, size_t len);

/** Returns name id (NUL-terminated, borrowed until the next insert). */
static inline const char *ks_names_str(const ks_names *t, uint32_t id)
{
    return t->arena + t->off[id];
}

/** Frees t's memory (t may be reused after). */
void ks_names_free(ks_names *t);

/** Bytes held by t. */
size_t ks_names_memory(const ks_names *t);

#endif
