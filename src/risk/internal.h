/* Private helpers shared by the files of src/risk/. */
#ifndef KS_RISK_INTERNAL_H
#define KS_RISK_INTERNAL_H

#include "kpistream/risk.h"

/* The nine signal strengths of docs/churn-risk.md into s[KS_RISK__COUNT]
 * (s[KS_RISK_CANCEL] untouched): the hand-weighted score's inputs, and the
 * first nine features of a fitted model. */
void ks__risk_strengths(const ks_risk_input *in, const ks_risk_params *p, double *s);

#endif
