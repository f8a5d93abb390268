/* `kpistream run`: the streaming job (consume -> engine -> flush to Redis ->
 * commit), and `kpistream check-config`. */
#ifndef KS_APP_RUN_H
#define KS_APP_RUN_H

#include "kpistream/config.h"

/** Runs the job with cfg until SIGINT/SIGTERM (or, with exit_on_eof, until
 *  every assigned partition is consumed, flushed and committed). Returns the
 *  process exit status: 0 clean stop, 1 configuration or start-up error,
 *  2 fatal runtime error, 3 stopped without a final flush (Redis unreachable). */
int ks_run(const ks_config *cfg);

#endif
