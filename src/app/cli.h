/* The option-table helper every `kpistream` subcommand is built on.
 *
 * A command declares its options once, as rows of a table (name, the value's
 * placeholder or none for a switch, help text, and where the value goes: a
 * slot in the command's own argument struct, or the command's handler).
 * ks_cli_parse() reads argv against the table and ks_cli_help() prints
 * `--help` from the same rows, so the help cannot miss or misname an option.
 * The rows live in static const tables, as fluent-bit's config_map does.
 *
 * Syntax, the same for every command: `--name value`, `--name=value`,
 * `--switch`, a row's short alias `-X value` / `-Xvalue`, `-h` / `--help`,
 * and `--` ending the options. A command takes no operands. */
#ifndef KS_APP_CLI_H
#define KS_APP_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/** Returned by ks_cli_parse() when the command should go on. */
#define KS_CLI_GO (-1)

/* Where a row's value goes. */
typedef enum ks_cli_type {
    KS_CLI_STR,  /* const char * at off: the value, borrowed from argv */
    KS_CLI_BOOL, /* bool at off, set to true (a switch) */
    KS_CLI_INT,  /* long at off: an integer in [min, max] */
    KS_CLI_U64,  /* uint64_t at off: a non-negative integer */
    KS_CLI_DBL,  /* double at off: a number */
    KS_CLI_CALL, /* the command's call(args, row, value) */
    KS_CLI_PASS, /* the command's other(args, "--name", value), as an unlisted option */
} ks_cli_type;

typedef struct ks_cli_opt {
    const char *name; /* long name without "--"; NULL ends the table */
    const char *arg;  /* the value's placeholder in --help ("N", "FILE"); NULL: a switch */
    const char *help; /* help text; each '\n' starts an aligned continuation line */
    ks_cli_type type;
    size_t off;       /* offset of the slot in the command's argument struct */
    long min, max;    /* KS_CLI_INT: the accepted range */
    char letter;      /* short alias (-X), or 0 */
} ks_cli_opt;

/** Ends a table of rows. */
#define KS_CLI_END {NULL, NULL, NULL, 0, 0, 0, 0, 0}

typedef struct ks_cli_cmd {
    const char *name;  /* the subcommand, as typed ("mock-broker") */
    const char *prog;  /* prefix of its messages ("mock-broker", "kpistream gen") */
    const char *usage; /* synopsis after "usage: " (lines after the first indented by the caller) */
    const char *about; /* text between the synopsis and the options, or NULL */
    const ks_cli_opt *opts;
    /* KS_CLI_CALL rows: returns 0, or the process exit status after printing why. */
    int (*call)(void *args, const ks_cli_opt *opt, const char *value);
    /* Options that are not in the table (NULL: they are an error): whether one
     * takes a value, and what it does (0, or the exit status after printing why;
     * value is NULL when a value was due but argv ended). */
    bool (*takes_value)(const char *name);
    int (*other)(void *args, const char *name, const char *value);
    int usage_status;  /* exit status of a usage error (2; run and check-config: 1) */
} ks_cli_cmd;

/** Parses argv[1..argc) (argv[0] is the subcommand) into args, row by row in
 *  argv order. Returns KS_CLI_GO to go on; 0 after printing --help on stdout;
 *  or cmd->usage_status (or a handler's status) after printing on stderr what
 *  is wrong, naming the option, and "see 'kpistream <name> --help'". */
int ks_cli_parse(const ks_cli_cmd *cmd, int argc, char **argv, void *args);

/** Prints cmd's help: synopsis, about, and one aligned line (or more) per row,
 *  `-h, --help` last. */
void ks_cli_help(const ks_cli_cmd *cmd, FILE *out);

/* ---- stopping on SIGINT/SIGTERM without a handler ---- */

/** Blocks SIGINT and SIGTERM in the calling thread (threads it creates later
 *  inherit the mask), so only ks_cli_wait_stop() takes them. old receives the
 *  mask to restore with ks_cli_unblock(). */
void ks_cli_block_stop(sigset_t *old);

/** Waits up to ms milliseconds (ms < 0: for ever) for SIGINT or SIGTERM.
 *  Returns the signal, or 0 when the time ran out. */
int ks_cli_wait_stop(int ms);

/** Restores the mask ks_cli_block_stop() saved. */
void ks_cli_unblock(const sigset_t *old);

#endif
