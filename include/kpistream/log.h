/* Minimal leveled logging to stderr: one line per message, with a UTC
 * timestamp and level, so operators can grep it and log shippers parse it. */
#ifndef KPISTREAM_LOG_H
#define KPISTREAM_LOG_H

typedef enum { KS_LOG_DEBUG, KS_LOG_INFO, KS_LOG_WARN, KS_LOG_ERROR } ks_log_level;

/** Sets the minimum level printed (default KS_LOG_INFO). */
void ks_log_set_level(ks_log_level level);

/** Prints one line at level if it is at or above the minimum. */
void ks_log(ks_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ks_debug(...) ks_log(KS_LOG_DEBUG, __VA_ARGS__)
#define ks_info(...) ks_log(KS_LOG_INFO, __VA_ARGS__)
#define ks_warn(...) ks_log(KS_LOG_WARN, __VA_ARGS__)
#define ks_error(...) ks_log(KS_LOG_ERROR, __VA_ARGS__)

#endif
