/* Clock reads, in one place so the core stays free of them (the engine is
 * given times; only adapters and commands read clocks). */
#ifndef KPISTREAM_CLOCK_H
#define KPISTREAM_CLOCK_H

#include <stdint.h>

/** Returns the wall clock, epoch milliseconds (UTC). */
int64_t ks_wall_ms(void);

/** Returns a monotonic clock in nanoseconds (for intervals and pacing). */
int64_t ks_mono_ns(void);

#endif
