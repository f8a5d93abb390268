/* Interned names' part of a snapshot (intern.c): the segment, channel and
 * category tables by name, in id order.
 *
 *   3 x ( n u32 | n x name (u32 length + bytes) )
 *
 * Ids are a process's own (the order it met the names), so a load maps the
 * snapshot's ids to this process's by name. */
#include "state/snap_parts.h"

#include <string.h>

static void ks__save(ks_snapw *w, const ks_intern *t)
{
    ks_snapw_u32(w, (uint32_t)t->n);
    for (int i = 0; i < t->n; i++)
        ks_snapw_str(w, t->names[i], t->lens[i]);
}

void ks_intern_snap_save(ks_snapw *w, const ks_engine_shared *sh)
{
    ks__save(w, &sh->segments);
    ks__save(w, &sh->channels);
    ks__save(w, &sh->categories);
}

/* Maps one table; one_to_one: two names may not share an id here. */
static int ks__load(ks_snapr *r, ks_intern *t, uint8_t *map, int *nmap, int max, bool one_to_one,
                    const char *what, bool *identity)
{
    uint32_t n = ks_snapr_u32(r);
    if (!r->bad && n > (uint32_t)max)
        ks_snapr_fail(r, "%u %s names where %d are tracked here (other settings)", n, what, max);
    bool taken[KS_SEGMENTS_MAX + 1] = {false};
    char name[130];
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        size_t len = ks_snapr_str(r, name, sizeof name);
        if (r->bad)
            break;
        int id = ks_intern_id(t, name, (uint32_t)len);
        if (one_to_one && taken[id]) {
            ks_snapr_fail(r, "%s '%s' folds into '%s' here (the name registry differs)", what,
                          name, t->names[id]);
            break;
        }
        taken[id] = true;
        map[i] = (uint8_t)id;
        if (id != (int)i)
            *identity = false;
    }
    *nmap = (int)n;
    return r->bad ? -1 : 0;
}

int ks_intern_snap_load(ks_snapr *r, ks_engine_shared *sh, ks_intern_map *map)
{
    memset(map, 0, sizeof *map);
    map->identity = true;
    if (ks__load(r, &sh->segments, map->seg, &map->nseg, sh->segments.max, true, "segment",
                 &map->identity) < 0 ||
        ks__load(r, &sh->channels, map->ch, &map->nch, sh->channels.max, true, "channel",
                 &map->identity) < 0 ||
        ks__load(r, &sh->categories, map->cat, &map->ncat, KS_CATEGORIES_MAX, false, "category",
                 &map->identity) < 0)
        return -1;
    for (int i = 0; i < map->nch && sh->social_channel < 0; i++)
        if (strcmp(sh->channels.names[map->ch[i]], "social") == 0)
            sh->social_channel = map->ch[i];
    return 0;
}
