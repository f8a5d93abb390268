/* Name interning for segments, channels and categories. Bounded on purpose:
 * these names become Redis keys and hash fields, so a producer sending garbage
 * values must not be able to create unbounded keys; past `max` names every new
 * name is counted under "other". With an admit callback, the prefix's
 * registry decides which names are tracked (state.h). Linear search: max is
 * small (<= 255) and lookups hit the first few names almost always. */
#include "state/state.h"

#include <string.h>

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

int ks_intern_id(ks_intern *t, const char *name, uint32_t len)
{
    if (len > 128)
        len = 128;
    if (len == 0)
        name = "";
    if (t->last < t->n && ks__is(t, t->last, name, len))
        return t->last;
    for (int i = 0; i < t->n; i++)
        if (ks__is(t, i, name, len))
            return t->last = i;
    bool other = len == 5 && memcmp(name, "other", 5) == 0;
    if (!other && t->n < t->max - 1 && t->admit) {
        if (t->closed || t->admit(t->admit_ctx, t->kind, name, len) != 1) {
            t->closed = true; /* a registry never shrinks: full stays full */
            goto fold;
        }
    }
    if (t->n < t->max - 1 || (other && t->n < t->max)) {
        memcpy(t->names[t->n], name, len);
        t->names[t->n][len] = '\0';
        t->lens[t->n] = (uint8_t)len;
        return t->n++;
    }
fold:
    /* Full: the last id is reserved for "other". */
    for (int i = 0; i < t->n; i++)
        if (ks__is(t, i, "other", 5))
            return i;
    strcpy(t->names[t->n], "other");
    t->lens[t->n] = 5;
    return t->n++;
}
