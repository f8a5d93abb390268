/* The settings the partition-state tests start from: windows of 1 h, 24 h,
 * 7 d and 30 d, 30 days of churn inactivity and dedup horizon, and the
 * default KPI thresholds and risk parameters. A test changes what it is
 * about afterwards. */
#ifndef KST_STATE_CONFIG_H
#define KST_STATE_CONFIG_H

#include "state/state.h"

#include <string.h>

static inline void kst_state_config(ks_config *cfg)
{
    const int64_t hour = 3600 * 1000LL, day = 24 * hour;
    static const struct {
        const char *name;
        int64_t hours;
    } w[] = {{"1h", 1}, {"24h", 24}, {"7d", 7 * 24}, {"30d", 30 * 24}};
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < 4; i++) {
        strcpy(cfg->windows[i].name, w[i].name);
        cfg->windows[i].length_ms = w[i].hours * hour;
    }
    cfg->nwindows = 4;
    cfg->churn_inactivity_ms = 30 * day;
    cfg->dedup_horizon_ms = 30 * day;
    cfg->max_segments = 64;
    cfg->max_channels = 8;
    cfg->csat_satisfied_min = 4;
    cfg->nps_promoter_min = 9;
    cfg->nps_detractor_max = 6;
    ks_risk_params_default(&cfg->risk);
}

#endif
