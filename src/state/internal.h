/* Private helpers shared by the files of src/state/. */
#ifndef KS_STATE_INTERNAL_H
#define KS_STATE_INTERNAL_H

#include "state/state.h"

#define KS_DAY_MS 86400000LL

static inline uint16_t ks__sat16(unsigned v)
{
    return (uint16_t)(v > 0xFFFF ? 0xFFFF : v);
}

static inline uint8_t ks__sat8(unsigned v)
{
    return (uint8_t)(v > 0xFF ? 0xFF : v);
}

/* A customer's last touches in one segment or channel (touch.c). */
ks_touch *ks__touch(ks_touches *t, uint32_t rec, unsigned gid, int64_t stale_s);
void ks__touches_free(ks_touches *t);

/* Remembers the names ev gives customer c (names.c). Returns 0 or KS_ERR_NOMEM. */
int ks__names_note(ks_pstate *p, const ks_customer *c, const ks_event *ev);

ks_customer *ks__customer_get(ks_pstate *p, const char *id, uint32_t len, bool *created);
int ks__mark_dirty(ks_pstate *p, ks_customer *c);
/* Builds p's customer index at cap slots (a power of two) from its records,
 * checking each id hash and that no id is there twice (snapshot loads).
 * Returns 0, KS_ERR_NOMEM, or KS_ERR_STATE with *bad the record at fault. */
int ks__index_build(ks_pstate *p, uint32_t cap, uint32_t *bad);
void ks__lru_unlink(ks_pstate *p, ks_customer *c);
void ks__lru_insert(ks_pstate *p, ks_customer *c);
void ks__risk_day(ks_pstate *p, int64_t at_ms);
/* Scores c at the day boundaries after its last event (and after those the
 * clock swept) up to ts_ms; churns c at churn_at_ms (INT64_MIN: none) in
 * its place among them, before a boundary at the same moment. */
void ks_pstate_risk_catch_up(ks_pstate *p, ks_customer *c, int64_t ts_ms, int64_t churn_at_ms);
/* Sets the names table's layout (names.c): before any insert or load. */
void ks_names_layout(ks_u64map *m);
/* Sets p's adv_s and adv_n from its clock (pstate.c). */
void ks__adv_n(ks_pstate *p);
/* Marks c churned at t_ms and counts it (pstate.c). */
void ks__churn(ks_pstate *p, ks_customer *c, int64_t t_ms);

#endif
