/* The subcommands of `kpistream` (src/app/cmd_*.c), each an entry point
 * main.c dispatches to: argv[0] is the subcommand's name, the result is the
 * process exit status. Each parses its options with cli.h; the tables are
 * here so tests can check them against the config's flags. */
#ifndef KS_APP_CMDS_H
#define KS_APP_CMDS_H

#include "app/cli.h"

int ks_run_main(int argc, char **argv);          /* cmd_run.c */
int ks_check_config_main(int argc, char **argv); /* cmd_check_config.c */
int ks_gen_main(int argc, char **argv);          /* cmd_gen.c (also in kpistream/gen.h) */
int ks_risk_fit_main(int argc, char **argv);     /* cmd_risk_fit.c */
int ks_mock_broker_main(int argc, char **argv);  /* cmd_mock_broker.c */
int ks_watch_main(int argc, char **argv);        /* cmd_watch.c */
int ks_dashboard_main(int argc, char **argv);    /* cmd_dashboard.c */

/** The options of run and check-config: --config, then the config's flags. */
extern const ks_cli_cmd ks_run_cli, ks_check_config_cli;

#endif
