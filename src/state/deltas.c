/* Delta buckets keyed by (group, window, bucket): see deltas.h. */
#include "kpistream/deltas.h"

#include <stdlib.h>
#include <string.h>

static uint32_t ks__dhash(uint16_t gid, uint8_t w, int64_t n)
{
    uint64_t x = (uint64_t)n * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)gid << 8 | w) * 0xC2B2AE3D27D4EB4FULL;
    x ^= x >> 29;
    return (uint32_t)(x * 0xBF58476D1CE4E5B9ULL >> 32);
}

static int ks__dgrow(ks_deltas *m)
{
    uint32_t cap = m->cap ? m->cap * 2 : 64;
    ks_delta *d = realloc(m->d, (size_t)cap * sizeof *d);
    if (!d)
        return -1;
    m->d = d;
    m->cap = cap;
    uint32_t scap = cap * 2;
    uint32_t *slot = calloc(scap, sizeof *slot);
    if (!slot)
        return -1;
    free(m->slot);
    m->slot = slot;
    m->slot_cap = scap;
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t h = ks__dhash(m->d[i].gid, m->d[i].w, m->d[i].n) & (scap - 1);
        while (slot[h])
            h = (h + 1) & (scap - 1);
        slot[h] = i + 1;
    }
    return 0;
}

ks_bucket *ks_deltas_at(ks_deltas *m, uint16_t gid, uint8_t w, int64_t n)
{
    if (m->n == m->cap && ks__dgrow(m) < 0)
        return NULL;
    uint32_t h = ks__dhash(gid, w, n) & (m->slot_cap - 1);
    for (;;) {
        uint32_t s = m->slot[h];
        if (!s)
            break;
        ks_delta *d = &m->d[s - 1];
        if (d->n == n && d->gid == gid && d->w == w)
            return &d->v;
        h = (h + 1) & (m->slot_cap - 1);
    }
    ks_delta *d = &m->d[m->n];
    memset(d, 0, sizeof *d);
    d->n = n;
    d->gid = gid;
    d->w = w;
    m->slot[h] = ++m->n;
    return &d->v;
}

void ks_deltas_prune(ks_deltas *m, const int64_t *behind)
{
    /* Amortised: a scan only once the map doubled since the last one. */
    if (m->n < 2 * m->kept)
        return;
    uint32_t j = 0;
    for (uint32_t i = 0; i < m->n; i++)
        if (m->d[i].n > behind[m->d[i].w])
            m->d[j++] = m->d[i];
    m->kept = j > 32 ? j : 32;
    if (j == m->n)
        return;
    m->n = j;
    m->gen++;
    memset(m->slot, 0, (size_t)m->slot_cap * sizeof *m->slot);
    for (uint32_t i = 0; i < m->n; i++) {
        uint32_t h = ks__dhash(m->d[i].gid, m->d[i].w, m->d[i].n) & (m->slot_cap - 1);
        while (m->slot[h])
            h = (h + 1) & (m->slot_cap - 1);
        m->slot[h] = i + 1;
    }
}

void ks_deltas_clear(ks_deltas *m)
{
    if (m->n && m->slot)
        memset(m->slot, 0, (size_t)m->slot_cap * sizeof *m->slot);
    m->n = 0;
    m->kept = 32;
    m->gen++;
}

void ks_deltas_free(ks_deltas *m)
{
    free(m->d);
    free(m->slot);
    memset(m, 0, sizeof *m);
}
