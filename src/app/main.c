/* kpistream: command-line entry point. Subcommands dispatch to their modules;
 * this file only parses the command line. */
#include "kpistream/config.h"
#include "kpistream/dashboard.h"
#include "kpistream/err.h"
#include "kpistream/gen.h"
#include "kpistream/log.h"
#include "kpistream/mock_broker.h"
#include "kpistream/risk_fit.h"
#include "kpistream/run.h"
#include "kpistream/watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ks__usage(FILE *out)
{
    fputs("usage: kpistream <command> [options]\n"
          "\n"
          "commands:\n"
          "  run            consume events from Kafka and keep KPIs in Redis\n"
          "                 [--config FILE] [--brokers HOST:PORT,...] [--topics T1,T2] [--group ID]\n"
          "                 [--redis redis://[user:password@]host:port[/db]] [--prefix kpi:]\n"
          "                 [--redis-password-file FILE]\n"
          "                 [--clock wall|event] [--exit-on-eof] [--set key=value]\n"
          "                 [--kafka.<property> value]\n"
          "  check-config   --config FILE [flags as for run]: validate, print the effective\n"
          "                 config, exit 0 (valid) or 1\n"
          "  gen            generate a synthetic customer event stream (see gen --help)\n"
          "  risk-fit       fit the churn-risk model on a history of events (see risk-fit --help)\n"
          "  mock-broker    run an in-memory Kafka cluster on 127.0.0.1 (see mock-broker --help)\n"
          "  watch          live terminal view of the KPIs in Redis (see watch --help)\n"
          "  version        print the version\n"
          "\n"
          "Precedence: flags > KPISTREAM_* environment > config file > defaults.\n"
          "Docs: README.md and docs/ (config.md lists every key).\n",
          out);
}

/* Builds the effective config from argv (after the subcommand). Returns 0 or 1. */
static int ks__load(int argc, char **argv, ks_config *cfg)
{
    char err[KS_ERRSTR_SIZE];
    const char *path = NULL;
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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0) {
            i++;
            continue;
        }
        if (strncmp(a, "--config=", 9) == 0)
            continue;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            ks__usage(stdout);
            exit(0);
        }
        if (strncmp(a, "--", 2) != 0) {
            /* Masked: a URL given without --redis may hold a password. */
            char shown[300];
            fprintf(stderr, "kpistream: unexpected argument '%s' (flags start with --)\n",
                    ks_redis_url_mask(a, shown, sizeof shown));
            return 1;
        }
        char flag[256];
        const char *value = NULL;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(flag, sizeof flag, "%.*s", (int)(eq - a), a);
            value = eq + 1;
        } else {
            snprintf(flag, sizeof flag, "%s", a);
            if (!ks_config_flag_is_switch(flag)) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "kpistream: flag %s needs a value\n", flag);
                    return 1;
                }
                value = argv[++i];
            }
        }
        if (ks_config_apply_flag(cfg, flag, value, err, sizeof err) < 0) {
            fprintf(stderr, "kpistream: %s\n", err);
            return 1;
        }
    }
    if (ks_config_validate(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "kpistream: config error: %s\n", err);
        return 1;
    }
    ks_log_set_level((ks_log_level)cfg->log_level);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        ks__usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "gen") == 0)
        return ks_gen_main(argc - 1, argv + 1);
    if (strcmp(cmd, "risk-fit") == 0)
        return ks_risk_fit_main(argc - 1, argv + 1);
    if (strcmp(cmd, "mock-broker") == 0)
        return ks_mock_broker_main(argc - 1, argv + 1);
    if (strcmp(cmd, "watch") == 0)
        return ks_watch_main(argc - 1, argv + 1);
    if (strcmp(cmd, "dashboard") == 0)
        return ks_dashboard_main(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("kpistream %s\n", KS_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        ks__usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "run") == 0 || strcmp(cmd, "check-config") == 0) {
        ks_config cfg;
        memset(&cfg, 0, sizeof cfg);
        if (ks__load(argc - 1, argv + 1, &cfg) != 0) {
            ks_config_free(&cfg);
            return 1;
        }
        int status = 0;
        if (strcmp(cmd, "check-config") == 0) {
            char *json = ks_config_to_json(&cfg);
            if (json)
                printf("%s\n", json);
            free(json);
        } else {
            status = ks_run(&cfg);
        }
        ks_config_free(&cfg);
        return status;
    }
    fprintf(stderr, "kpistream: unknown command '%s'\n\n", cmd);
    ks__usage(stderr);
    return 1;
}
