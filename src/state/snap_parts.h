/* Each state module's part of a partition snapshot (the files named <module>_snap.c next
 * to the modules; framing in snapshot.h). A save writes the module's part;
 * a load reads it into an object created empty, checking what the module's
 * code relies on, and returns 0, or -1 with the reason in r->why (r bad).
 * Private to src/. */
#ifndef KS_STATE_SNAP_PARTS_H
#define KS_STATE_SNAP_PARTS_H

#include "state/state.h"
#include "state/u64map.h"
#include "kpistream/window.h"
#include "state/rolling.h"
#include "state/snapshot.h"

/* Writes s as it would be once moved to bucket now_n of its owner's clock
 * (INT64_MIN: none), which it may not be yet (pstate.c, ks__win). */
void ks_series_snap_save(ks_snapw *w, const ks_series *s, int64_t now_n);
/** s is overwritten (not reset first); width_s: the bucket width the settings give. */
int ks_series_snap_load(ks_snapr *r, ks_series *s, int64_t width_s);

void ks_u64map_snap_save(ks_snapw *w, const ks_u64map *m);
/** m is initialised (its keep function stays); its table is replaced. */
int ks_u64map_snap_load(ks_snapr *r, ks_u64map *m);

void ks_touches_snap_save(ks_snapw *w, const ks_touches *t);
/** ncust: the partition's customers (every key must name one). */
int ks_touches_snap_load(ks_snapr *r, ks_touches *t, uint32_t ncust);

void ks_roll_snap_save(ks_snapw *w, const ks_pstate *p);
/** Loaded after p's customers, whose roll_off it sets. */
int ks_roll_snap_load(ks_snapr *r, ks_roll *roll, ks_pstate *p);

void ks_customers_snap_save(ks_snapw *w, const ks_pstate *p);
/** p is new (ks_pstate_new); its records, ids and index are replaced. */
int ks_customers_snap_load(ks_snapr *r, ks_pstate *p);

/* Interned names: written by name; a load maps each snapshot id to this
 * process's id (names are interned in the order a process meets them). */
typedef struct ks_intern_map {
    uint8_t seg[KS_SEGMENTS_MAX + 1], ch[KS_CHANNELS_MAX + 1], cat[KS_CATEGORIES_MAX];
    int nseg, nch, ncat; /* names in the snapshot's tables */
    bool identity;       /* every id maps to itself */
} ks_intern_map;

void ks_intern_snap_save(ks_snapw *w, const ks_engine_shared *sh);
/** Interns the snapshot's names into sh (which may ask the name registry)
 *  and fills map. Fails if two names fold into one here. */
int ks_intern_snap_load(ks_snapr *r, ks_engine_shared *sh, ks_intern_map *map);

/** The whole partition state: names, counters and clock, customers,
 *  rolling lists, touches, dedup ids, tickets, window series. */
void ks_pstate_snap_save(ks_snapw *w, const ks_pstate *p);
/** p is new (ks_pstate_new on sh); on failure it must be freed. */
int ks_pstate_snap_load(ks_snapr *r, ks_pstate *p);

#endif
