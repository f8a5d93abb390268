/* Shared between the subcommands of src/app/. */
#ifndef KS_APP_INTERNAL_H
#define KS_APP_INTERNAL_H

#include "app/cli.h"
#include "kpistream/config.h"

#include <stdbool.h>
#include <stdint.h>

/** The effective config of run or check-config: defaults, the --config file,
 *  the environment, then argv's flags in order (cli's rows and every other
 *  config flag), then validation; sets the log level. Returns KS_CLI_GO, or
 *  the exit status after printing why (0 after --help). cfg must be zeroed;
 *  the caller frees it with ks_config_free() either way. */
int ks_run_load(const ks_cli_cmd *cli, int argc, char **argv, ks_config *cfg);

/* What `kpistream risk-fit`'s options set (cmd_risk_fit.c) for the job
 * (risk_fit.c). */
typedef struct ks_risk_fit_opts {
    const char *inputs, *out, *topic; /* JSON-lines files (comma-separated), model, topic */
    int64_t from_ms, to_ms;           /* the topic range, Kafka time (0: start / end) */
    int64_t horizon_ms, warmup_ms;
    double sample_rate, l2, target_high, target_medium;
    bool eval; /* only score with the configured scorer */
} ks_risk_fit_opts;

/** Replays the history of o through the engine with cfg (validated here; the
 *  clock set to event time), fits, calibrates and measures the model, prints
 *  the figures and writes the model to o->out (or, with o->eval, only
 *  measures). Returns the exit status 0; on a failure prints
 *  "kpistream risk-fit: <why>" and exits 1. cfg stays the caller's. */
int ks_risk_fit_run(const ks_risk_fit_opts *o, ks_config *cfg);

/** Prints "kpistream risk-fit: <fmt ...>" on stderr. Returns 1 (the exit
 *  status of a failure). */
int ks_risk_fit_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The Redis options of the readers of the output (watch, dashboard). */
typedef struct ks_reader_args {
    const char *redis, *pwfile, *prefix;
} ks_reader_args;

/** Their rows, for a command whose argument struct `type` holds a
 *  ks_reader_args as `member`. */
#define KS_READER_OPTS(type, member)                                                            \
    {"redis", "URL",                                                                            \
     "redis://[user:password@]host:port[/db]\n"                                                 \
     "(default $KPISTREAM_REDIS, else redis://127.0.0.1:6379/0)",                               \
     KS_CLI_STR, offsetof(type, member.redis), 0, 0, 'r'},                                      \
        {"redis-password-file", "FILE",                                                         \
         "the password, read from FILE (default\n"                                              \
         "$KPISTREAM_REDIS_PASSWORD_FILE); the URL then has none",                              \
         KS_CLI_STR, offsetof(type, member.pwfile), 0, 0, 'f'},                                 \
        {"prefix", "P", "key prefix (default kpi:)", KS_CLI_STR, offsetof(type, member.prefix), \
         0, 0, 'p'}

/** Fills r with the defaults: $KPISTREAM_REDIS (else redis://127.0.0.1:6379/0),
 *  $KPISTREAM_REDIS_PASSWORD_FILE, prefix kpi:. */
void ks_reader_args_init(ks_reader_args *r);

/** Parses r's URL and password file into url. Returns 0, or -1 after printing
 *  "<prog>: <why>" (naming the option). */
int ks_reader_target(const ks_reader_args *r, const char *prog, ks_redis_url *url);

#endif
