/* The option-table helper (cli.h): parsing argv against a command's rows,
 * --help printed from the same rows, and the SIGINT/SIGTERM wait that the
 * long-running commands share. */
#include "app/cli.h"
#include "app/internal.h"

#include "kpistream/config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Help text starts at this column unless an option's left part is longer
 * (then its help starts on the next line). */
#define KS__HELP_COL 24

static const ks_cli_opt ks__help_row = {"help", NULL, "show this help and exit", KS_CLI_BOOL, 0,
                                        0, 0, 'h'};

/* Ends a usage error: the hint, and the command's usage status. */
static int ks__usage_error(const ks_cli_cmd *cmd)
{
    fprintf(stderr, "%s: see 'kpistream %s --help'\n", cmd->prog, cmd->name);
    return cmd->usage_status;
}

static const ks_cli_opt *ks__by_name(const ks_cli_cmd *cmd, const char *name, size_t len)
{
    for (const ks_cli_opt *o = cmd->opts; o && o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    if (len == 4 && strncmp(name, "help", 4) == 0)
        return &ks__help_row;
    return NULL;
}

static const ks_cli_opt *ks__by_letter(const ks_cli_cmd *cmd, char c)
{
    for (const ks_cli_opt *o = cmd->opts; o && o->name; o++)
        if (o->letter && o->letter == c)
            return o;
    return c == 'h' ? &ks__help_row : NULL;
}

/* Stores value into the row's slot, or hands it to the command. Returns
 * KS_CLI_GO or an exit status. */
static int ks__apply(const ks_cli_cmd *cmd, const ks_cli_opt *o, const char *value, void *args)
{
    char *slot = (char *)args + o->off;
    char *end;
    if (o == &ks__help_row) {
        ks_cli_help(cmd, stdout);
        return 0;
    }
    switch (o->type) {
    case KS_CLI_STR:
        *(const char **)slot = value;
        return KS_CLI_GO;
    case KS_CLI_BOOL:
        *(bool *)slot = true;
        return KS_CLI_GO;
    case KS_CLI_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < o->min || v > o->max) {
            fprintf(stderr, "%s: --%s must be an integer %ld..%ld, got \"%s\"\n", cmd->prog,
                    o->name, o->min, o->max, value);
            return cmd->usage_status;
        }
        *(long *)slot = v;
        return KS_CLI_GO;
    }
    case KS_CLI_U64: {
        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end || value[0] == '-') {
            fprintf(stderr, "%s: --%s needs a non-negative integer, got '%s'\n", cmd->prog,
                    o->name, value);
            return cmd->usage_status;
        }
        *(uint64_t *)slot = v;
        return KS_CLI_GO;
    }
    case KS_CLI_DBL: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || v != v) {
            fprintf(stderr, "%s: --%s needs a number, got '%s'\n", cmd->prog, o->name, value);
            return cmd->usage_status;
        }
        *(double *)slot = v;
        return KS_CLI_GO;
    }
    case KS_CLI_CALL: {
        int rc = cmd->call(args, o, value);
        return rc == 0 ? KS_CLI_GO : rc;
    }
    case KS_CLI_PASS: {
        char flag[256];
        snprintf(flag, sizeof flag, "--%s", o->name);
        int rc = cmd->other(args, flag, value);
        return rc == 0 ? KS_CLI_GO : rc;
    }
    }
    return KS_CLI_GO;
}

int ks_cli_parse(const ks_cli_cmd *cmd, int argc, char **argv, void *args)
{
    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break; /* an operand */
        const ks_cli_opt *o;
        const char *value = NULL;
        bool inline_value = false;
        if (a[1] == '-') {
            const char *name = a + 2, *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            if (eq) {
                value = eq + 1;
                inline_value = true;
            }
            o = ks__by_name(cmd, name, len);
            if (!o && cmd->other) {
                /* Not in the table: the command's (run: any config flag). */
                char flag[256];
                snprintf(flag, sizeof flag, "%.*s", (int)(eq ? (size_t)(eq - a) : strlen(a)), a);
                /* Without a value the command says what is wrong: an
                 * unknown option is better named as such. */
                if (!inline_value && cmd->takes_value(flag) && i + 1 < argc)
                    value = argv[++i];
                int rc = cmd->other(args, flag, value);
                if (rc != 0)
                    return rc;
                continue;
            }
            if (!o) {
                fprintf(stderr, "%s: unrecognized option '%.*s'\n", cmd->prog, (int)(len + 2), a);
                return ks__usage_error(cmd);
            }
            if (inline_value && !o->arg) {
                fprintf(stderr, "%s: option '--%s' doesn't allow an argument\n", cmd->prog,
                        o->name);
                return ks__usage_error(cmd);
            }
        } else {
            o = ks__by_letter(cmd, a[1]);
            if (!o) {
                fprintf(stderr, "%s: unrecognized option '-%c'\n", cmd->prog, a[1]);
                return ks__usage_error(cmd);
            }
            if (a[2] != '\0') {
                if (!o->arg) {
                    fprintf(stderr, "%s: option '-%c' takes no value, got '%s'\n", cmd->prog,
                            a[1], a);
                    return ks__usage_error(cmd);
                }
                value = a + 2;
                inline_value = true;
            }
        }
        if (o->arg && !inline_value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "%s: option '%s' requires an argument\n", cmd->prog, a);
                return ks__usage_error(cmd);
            }
            value = argv[++i];
        }
        int rc = ks__apply(cmd, o, value, args);
        if (rc != KS_CLI_GO)
            return rc;
    }
    if (i < argc) {
        /* Masked: a Redis URL given without its option may hold a password. */
        char shown[300];
        fprintf(stderr, "%s: unexpected argument '%s' (options start with --)\n", cmd->prog,
                ks_redis_url_mask(argv[i], shown, sizeof shown));
        return ks__usage_error(cmd);
    }
    return KS_CLI_GO;
}

static void ks__help_row_print(const ks_cli_opt *o, FILE *out)
{
    char left[128];
    int n = o->letter ? snprintf(left, sizeof left, "  -%c, --%s", o->letter, o->name)
                      : snprintf(left, sizeof left, "  --%s", o->name);
    if (o->arg)
        n += snprintf(left + n, sizeof left - (size_t)n, " %s", o->arg);
    fputs(left, out);
    if (n + 2 > KS__HELP_COL)
        fprintf(out, "\n%*s", KS__HELP_COL, "");
    else
        fprintf(out, "%*s", KS__HELP_COL - n, "");
    for (const char *p = o->help; *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        fprintf(out, "%.*s\n", (int)len, p);
        if (!nl)
            break;
        p = nl + 1;
        fprintf(out, "%*s", KS__HELP_COL, "");
    }
}

void ks_cli_help(const ks_cli_cmd *cmd, FILE *out)
{
    fprintf(out, "usage: %s\n", cmd->usage);
    if (cmd->about)
        fprintf(out, "\n%s", cmd->about);
    fputs("\noptions:\n", out);
    for (const ks_cli_opt *o = cmd->opts; o && o->name; o++)
        ks__help_row_print(o, out);
    ks__help_row_print(&ks__help_row, out);
}

/* ---- the readers' Redis options ---- */

void ks_reader_args_init(ks_reader_args *r)
{
    r->redis = getenv("KPISTREAM_REDIS");
    if (!r->redis || !*r->redis)
        r->redis = "redis://127.0.0.1:6379/0";
    r->pwfile = getenv("KPISTREAM_REDIS_PASSWORD_FILE");
    r->prefix = "kpi:";
}

int ks_reader_target(const ks_reader_args *r, const char *prog, ks_redis_url *url)
{
    char err[512];
    if (ks_redis_url_flags(r->redis, r->pwfile, url, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    return 0;
}

/* ---- SIGINT/SIGTERM ---- */

static void ks__stop_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

void ks_cli_block_stop(sigset_t *old)
{
    sigset_t set;
    ks__stop_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, old);
}

int ks_cli_wait_stop(int ms)
{
    sigset_t set;
    ks__stop_set(&set);
    if (ms < 0) {
        int sig = 0;
        while (sigwait(&set, &sig) != 0) {
        }
        return sig;
    }
    struct timespec wait = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    int sig = sigtimedwait(&set, NULL, &wait);
    return sig == SIGINT || sig == SIGTERM ? sig : 0;
}

void ks_cli_unblock(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}
