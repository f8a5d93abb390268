/* String interner (names.h). */
#include "engine/names.h"

#include "kpistream/hash.h"

#include <stdlib.h>
#include <string.h>

static uint32_t ks__slot_of(const ks_names *t, const char *s, size_t len, uint64_t h)
{
    uint32_t mask = t->scap - 1, i = (uint32_t)(h ^ (h >> 32)) & mask;
    while (t->slot[i]) {
        uint32_t id = t->slot[i] - 1;
        if (t->len[id] == len && memcmp(t->arena + t->off[id], s, len) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

uint32_t ks_names_find(const ks_names *t, const char *name, size_t len)
{
    if (!t->scap)
        return KS_NAMES_NONE;
    uint32_t i = ks__slot_of(t, name, len, ks_hash64(name, len, 0x6e616d6573ULL));
    return t->slot[i] ? t->slot[i] - 1 : KS_NAMES_NONE;
}

static int ks__grow(ks_names *t)
{
    uint32_t cap = t->cap ? t->cap * 2 : 256;
    uint32_t *no = realloc(t->off, cap * sizeof *no);
    if (!no)
        return -1;
    t->off = no;
    uint32_t *nl = realloc(t->len, cap * sizeof *nl);
    if (!nl)
        return -1;
    t->len = nl;
    uint32_t scap = cap * 2;
    uint32_t *ns = calloc(scap, sizeof *ns);
    if (!ns)
        return -1;
    free(t->slot);
    t->slot = ns;
    t->scap = scap;
    t->cap = cap;
    for (uint32_t id = 0; id < t->n; id++) {
        const char *s = t->arena + t->off[id];
        uint32_t i = ks__slot_of(t, s, t->len[id], ks_hash64(s, t->len[id], 0x6e616d6573ULL));
        t->slot[i] = id + 1;
    }
    return 0;
}

uint32_t ks_names_id(ks_names *t, const char *name, size_t len)
{
    if (len > UINT32_MAX / 2)
        return KS_NAMES_NONE;
    uint64_t h = ks_hash64(name, len, 0x6e616d6573ULL);
    if (t->scap) {
        uint32_t i = ks__slot_of(t, name, len, h);
        if (t->slot[i])
            return t->slot[i] - 1;
    }
    if (t->n == t->cap && ks__grow(t) < 0)
        return KS_NAMES_NONE;
    if (t->alen + len + 1 > t->acap) {
        size_t cap = t->acap ? t->acap : 1 << 14;
        while (cap < t->alen + len + 1)
            cap *= 2;
        if (cap > UINT32_MAX)
            return KS_NAMES_NONE;
        char *na = realloc(t->arena, cap);
        if (!na)
            return KS_NAMES_NONE;
        t->arena = na;
        t->acap = cap;
    }
    uint32_t id = t->n++;
    t->off[id] = (uint32_t)t->alen;
    t->len[id] = (uint32_t)len;
    memcpy(t->arena + t->alen, name, len);
    t->arena[t->alen + len] = '\0';
    t->alen += len + 1;
    t->slot[ks__slot_of(t, name, len, h)] = id + 1;
    return id;
}

void ks_names_free(ks_names *t)
{
    free(t->arena);
    free(t->off);
    free(t->len);
    free(t->slot);
    memset(t, 0, sizeof *t);
}

size_t ks_names_memory(const ks_names *t)
{
    return t->acap + (size_t)t->cap * 2 * sizeof(uint32_t) + (size_t)t->scap * sizeof(uint32_t);
}
