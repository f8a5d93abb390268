/* Name interning for segments, channels and categories. Bounded on purpose:
 * these names become Redis keys and hash fields, so a producer sending garbage
 * values must not be able to create unbounded keys; past `max` names every new
 * name is counted under "other". With an admit callback, the prefix's
 * registry decides which names are tracked (state.h). Linear search: max is
 * small (<= 255) and lookups hit the first few names almost always.
 *
 * Safe to call from the engine's worker threads at once (src/kafka/source.c
 * splits partitions between them): a name, once in the table, never moves,
 * and `n` is published after its bytes, so lookups take no lock. Adding a
 * name (and asking the registry) is serialised by one process-wide lock,
 * recursive because the registry's answer may preload names (run.c). */
#include "state/state.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t ks__mu = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;

void ks_intern_init(ks_intern *t, int max)
{
    memset(t, 0, sizeof *t);
    if (max < 2)
        max = 2;
    if (max > KS_SEGMENTS_MAX)
        max = KS_SEGMENTS_MAX;
    t->max = max;
}

static bool ks__is(const ks_intern *t, int i, const char *name, uint32_t len)
{
    return t->lens[i] == len && t->names[i][0] == name[0] && memcmp(t->names[i], name, len) == 0;
}

/* The id of name among the first n names, or -1. */
static int ks__lookup(ks_intern *t, int n, const char *name, uint32_t len)
{
    int last = __atomic_load_n(&t->last, __ATOMIC_RELAXED);
    if (last < n && ks__is(t, last, name, len))
        return last;
    for (int i = 0; i < n; i++)
        if (ks__is(t, i, name, len)) {
            __atomic_store_n(&t->last, i, __ATOMIC_RELAXED);
            return i;
        }
    return -1;
}

/* Appends name as the next id (its bytes first, then the count). */
static int ks__append(ks_intern *t, const char *name, uint32_t len)
{
    int id = t->n;
    memcpy(t->names[id], name, len);
    t->names[id][len] = '\0';
    t->lens[id] = (uint8_t)len;
    __atomic_store_n(&t->n, id + 1, __ATOMIC_RELEASE);
    return id;
}

static int ks__add(ks_intern *t, const char *name, uint32_t len)
{
    /* Another thread may have added it since the lookup without the lock. */
    int id = ks__lookup(t, t->n, name, len);
    if (id >= 0)
        return id;
    bool other = len == 5 && memcmp(name, "other", 5) == 0;
    if (!other && t->n < t->max - 1 && t->admit) {
        if (t->closed || t->admit(t->admit_ctx, t->kind, name, len) != 1) {
            t->closed = true; /* a registry never shrinks: full stays full */
            goto fold;
        }
        /* The registry's answer may have preloaded it (recursively). */
        if ((id = ks__lookup(t, t->n, name, len)) >= 0)
            return id;
    }
    if (t->n < t->max - 1 || (other && t->n < t->max))
        return ks__append(t, name, len);
fold:
    /* Full: the last id is reserved for "other". */
    if ((id = ks__lookup(t, t->n, "other", 5)) >= 0)
        return id;
    return ks__append(t, "other", 5);
}

int ks_intern_id(ks_intern *t, const char *name, uint32_t len)
{
    if (len > 128)
        len = 128;
    if (len == 0)
        name = "";
    int id = ks__lookup(t, __atomic_load_n(&t->n, __ATOMIC_ACQUIRE), name, len);
    if (id >= 0)
        return id;
    pthread_mutex_lock(&ks__mu);
    id = ks__add(t, name, len);
    pthread_mutex_unlock(&ks__mu);
    return id;
}
