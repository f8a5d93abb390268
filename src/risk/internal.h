/* Private helpers shared by the files of src/risk/. */
#ifndef KS_RISK_INTERNAL_H
#define KS_RISK_INTERNAL_H

#include "kpistream/risk.h"

/* The nine signal strengths of docs/churn-risk.md into s[KS_RISK__COUNT]
 * (s[KS_RISK_CANCEL] untouched): the hand-weighted score's inputs, and the
 * first nine features of a fitted model. */
void ks__risk_strengths(const ks_risk_input *in, const ks_risk_params *p, double *s);

/* out->top[0..2] and out->ntop: the reason codes with the largest positive
 * contrib[code] (KS_RISK_CANCEL excluded), the lower code first on ties. */
void ks__risk_top3(const double *contrib, ks_risk_result *out);

/* Clears *out to score 0, level low; if the customer has churned, fills the
 * churned result (reason "cancel" for a cancel, none for inactivity) and
 * returns true. */
bool ks__risk_churned(const ks_risk_input *in, ks_risk_result *out);

#endif
