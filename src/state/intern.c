/* Name interning for segments, channels and categories. Bounded on purpose:
 * these names become Redis keys and hash fields, so a producer sending garbage
 * values must not be able to create unbounded keys; past `max` names every new
 * name is counted under "other". Linear search: max is small (<= 255) and
 * lookups hit the first few names almost always. */
#include "kpistream/state.h"

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

int ks_intern_id(ks_intern *t, const char *name, uint32_t len)
{
    if (len > 128)
        len = 128;
    for (int i = 0; i < t->n; i++)
        if (strncmp(t->names[i], name, len) == 0 && t->names[i][len] == '\0')
            return i;
    if (t->n < t->max - 1 || (len == 5 && memcmp(name, "other", 5) == 0 && t->n < t->max)) {
        memcpy(t->names[t->n], name, len);
        t->names[t->n][len] = '\0';
        return t->n++;
    }
    /* Full: the last id is reserved for "other". */
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->names[i], "other") == 0)
            return i;
    strcpy(t->names[t->n], "other");
    return t->n++;
}
