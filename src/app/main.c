/* kpistream: command-line entry point. Finds the subcommand and hands it the
 * rest of argv; each subcommand (src/app/cmd_*.c) parses its own options. */
#include "app/cmds.h"

#include "kpistream/config.h"

#include <stdio.h>
#include <string.h>

#ifdef KS_JEMALLOC
/* jemalloc's options, read at its start (MALLOC_CONF in the environment
 * still overrides them). One arena: the threads' caches already keep them
 * off each other's locks, and an arena per CPU held freed pages apart (a
 * 45-day catch-up: peak RSS 370-407 MB, 357-364 MB with one; same speed). */
const char *malloc_conf = "narenas:1";
#endif

static int ks__version_main(int argc, char **argv)
{
    (void)argc, (void)argv;
    printf("kpistream %s\n", KS_VERSION);
    return 0;
}

static const struct {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv);
} ks__cmds[] = {
    {"run", "consume events from Kafka and keep KPIs in Redis", ks_run_main},
    {"check-config", "validate, print the effective config, exit 0 (valid) or 1",
     ks_check_config_main},
    {"gen", "generate a synthetic customer event stream", ks_gen_main},
    {"risk-fit", "fit the churn-risk model on a history of events", ks_risk_fit_main},
    {"mock-broker", "run an in-memory Kafka cluster on 127.0.0.1", ks_mock_broker_main},
    {"watch", "live terminal view of the KPIs in Redis", ks_watch_main},
    {"dashboard", "browser wall dashboard of the KPIs in Redis", ks_dashboard_main},
    {"version", "print the version", ks__version_main},
};

static void ks__usage(FILE *out)
{
    fputs("usage: kpistream <command> [options]\n\ncommands:\n", out);
    for (size_t i = 0; i < sizeof ks__cmds / sizeof *ks__cmds; i++)
        fprintf(out, "  %-14s %s\n", ks__cmds[i].name, ks__cmds[i].summary);
    fputs("\n"
          "Each command's options: kpistream <command> --help.\n"
          "Precedence: flags > KPISTREAM_* environment > config file > defaults.\n"
          "Docs: README.md and docs/ (config.md lists every key).\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        ks__usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < sizeof ks__cmds / sizeof *ks__cmds; i++)
        if (strcmp(cmd, ks__cmds[i].name) == 0)
            return ks__cmds[i].main(argc - 1, argv + 1);
    if (strcmp(cmd, "--version") == 0)
        return ks__version_main(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        ks__usage(stdout);
        return 0;
    }
    fprintf(stderr, "kpistream: unknown command '%s'\n\n", cmd);
    ks__usage(stderr);
    return 1;
}
