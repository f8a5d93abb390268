/* `kpistream run`: the options of the streaming job and the effective config
 * they give; the job itself is run.c. check-config (cmd_check_config.c)
 * shares the options and the loading.
 *
 * The config's flags are its keys (src/config/, docs/config.md): the rows
 * below list the common ones for --help, and every other `--key value` goes
 * to the config too, which names an unknown one and suggests the nearest. */
#include "app/cmds.h"
#include "app/internal.h"
#include "app/run.h"

#include "kpistream/config.h"
#include "kpistream/err.h"
#include "kpistream/log.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* The argument struct of run's rows: the config being built. */
typedef struct ks__run_args {
    ks_config *cfg;
} ks__run_args;

static bool ks__takes_value(const char *flag)
{
    return !ks_config_flag_is_switch(flag);
}

static int ks__flag(void *args, const char *flag, const char *value)
{
    ks__run_args *a = args;
    char err[KS_ERRSTR_SIZE];
    if (ks_config_apply_flag(a->cfg, flag, value, err, sizeof err) < 0) {
        fprintf(stderr, "kpistream: %s\n", err);
        return 1;
    }
    return 0;
}

/* --config was read before the other flags (ks_run_load). */
static int ks__call(void *args, const ks_cli_opt *opt, const char *value)
{
    (void)args, (void)opt, (void)value;
    return 0;
}

#define KS__PASS(name, arg, help) {name, arg, help, KS_CLI_PASS, 0, 0, 0, 0}

static const ks_cli_opt ks__run_opts[] = {
    {"config", "FILE", "config file (JSON; docs/config.md), read first", KS_CLI_CALL, 0, 0, 0, 0},
    KS__PASS("brokers", "HOST:PORT,...", "Kafka bootstrap servers"),
    KS__PASS("topics", "T1,T2", "topics to consume"),
    KS__PASS("group", "ID", "consumer group"),
    KS__PASS("redis", "URL", "redis://[user:password@]host:port[/db]"),
    KS__PASS("redis-password-file", "FILE", "the Redis password, read from FILE"),
    KS__PASS("prefix", "P", "Redis key prefix (default kpi:)"),
    KS__PASS("clock", "wall|event", "what drives the windows (default wall)"),
    KS__PASS("exit-on-eof", NULL, "flush, commit and exit 0 once every partition is consumed"),
    KS__PASS("set", "key=value", "any config key; repeatable"),
    KS__PASS("kafka.<property>", "VALUE", "a librdkafka property"),
    KS_CLI_END,
};

#define KS__RUN_ABOUT                                                                         \
    "Any other config key is a flag too, with '-' or '_': --flush-interval-ms 500.\n"         \
    "Precedence: flags > KPISTREAM_* environment > config file > defaults.\n"

/* What run and check-config share: the rows, and their handling. */
#define KS__RUN_CLI                                                                             \
    .prog = "kpistream", .opts = ks__run_opts, .call = ks__call, .takes_value = ks__takes_value, \
    .other = ks__flag, .usage_status = 1

const ks_cli_cmd ks_run_cli = {
    KS__RUN_CLI,
    .name = "run",
    .usage = "kpistream run [--config FILE] [--brokers HOST:PORT,...] [--topics T1,T2]\n"
             "                     [--group ID] [--redis URL] [--prefix kpi:]\n"
             "                     [--clock wall|event] [--exit-on-eof] [--set key=value]...\n"
             "                     [--kafka.<property> VALUE]",
    .about = "Consumes events from Kafka and keeps the KPIs in Redis until SIGINT/SIGTERM:\n"
             "exit 0 stopped, 1 configuration or start-up error, 2 fatal runtime error,\n"
             "3 stopped without a final flush (docs/operations.md).\n" KS__RUN_ABOUT,
};

const ks_cli_cmd ks_check_config_cli = {
    KS__RUN_CLI,
    .name = "check-config",
    .usage = "kpistream check-config --config FILE [options as for run]",
    .about = "Validates the config (file, environment, flags) and prints the effective\n"
             "config as JSON with secrets masked: exit 0 valid, 1 not.\n" KS__RUN_ABOUT,
};

int ks_run_load(const ks_cli_cmd *cli, int argc, char **argv, ks_config *cfg)
{
    char err[KS_ERRSTR_SIZE];
    const char *path = NULL;
    /* The file first, whatever its place among the flags: flags override it. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    if (ks_config_load(cfg, path, err, sizeof err) < 0) {
        fprintf(stderr, "kpistream: config error: %s\n", err);
        return 1;
    }
    ks__run_args a = {cfg};
    int rc = ks_cli_parse(cli, argc, argv, &a);
    if (rc != KS_CLI_GO)
        return rc;
    if (ks_config_validate(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "kpistream: config error: %s\n", err);
        return 1;
    }
    ks_log_set_level((ks_log_level)cfg->log_level);
    return KS_CLI_GO;
}

int ks_run_main(int argc, char **argv)
{
    ks_config cfg;
    memset(&cfg, 0, sizeof cfg);
    int rc = ks_run_load(&ks_run_cli, argc, argv, &cfg);
    if (rc == KS_CLI_GO)
        rc = ks_run(&cfg);
    ks_config_free(&cfg);
    return rc;
}
