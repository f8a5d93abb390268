/* Every subcommand as users first meet it: `--help` prints its own usage and
 * options and exits 0; an unknown option is named in the message and exits
 * with the command's usage status. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *cmd;
    int usage_status;
    const char *named; /* how the unknown option is named */
} cmds[] = {
    {"run", 1, "unknown flag '--no-such-option'"},
    {"check-config", 1, "unknown flag '--no-such-option'"},
    {"gen", 2, "unrecognized option '--no-such-option'"},
    {"risk-fit", 2, "unrecognized option '--no-such-option'"},
    {"mock-broker", 2, "unrecognized option '--no-such-option'"},
    {"watch", 2, "unrecognized option '--no-such-option'"},
    {"dashboard", 2, "unrecognized option '--no-such-option'"},
};

/* Runs kpistream with args; returns its exit status and its output (stdout
 * and stderr) in *out (caller frees). */
static int run(const char *a1, const char *a2, char **out)
{
    char dir[256], log[300];
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    snprintf(log, sizeof log, "%s/out.log", dir);
    char *argv[] = {(char *)kst_binary(), (char *)a1, (char *)a2, NULL};
    kst_proc p;
    cr_assert_eq(kst_proc_spawn(&p, argv, log), 0);
    int st = -1;
    cr_assert_eq(kst_proc_wait(&p, 20000, &st), 0);
    *out = kst_read_file(log, NULL);
    cr_assert_not_null(*out);
    kst_rmtree(dir);
    return st;
}

Test(cli_help, every_command_has_its_own_help)
{
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char *out;
        cr_assert_eq(run(cmds[i].cmd, "--help", &out), 0, "%s --help", cmds[i].cmd);
        char want[64];
        snprintf(want, sizeof want, "usage: kpistream %s ", cmds[i].cmd);
        cr_assert(strncmp(out, want, strlen(want)) == 0, "%s --help:\n%s", cmds[i].cmd, out);
        cr_assert_not_null(strstr(out, "\noptions:\n"), "%s", out);
        cr_assert_not_null(strstr(out, "  -h, --help "), "%s", out);
        free(out);
        cr_assert_eq(run(cmds[i].cmd, "-h", &out), 0, "%s -h", cmds[i].cmd);
        cr_assert(strncmp(out, want, strlen(want)) == 0, "%s -h:\n%s", cmds[i].cmd, out);
        free(out);
    }
}

Test(cli_help, an_unknown_option_is_named)
{
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char *out;
        int st = run(cmds[i].cmd, "--no-such-option", &out);
        cr_assert_eq(st, cmds[i].usage_status, "%s: status %d\n%s", cmds[i].cmd, st, out);
        cr_assert_not_null(strstr(out, cmds[i].named), "%s:\n%s", cmds[i].cmd, out);
        free(out);
    }
}

Test(cli_help, the_top_level_help_lists_every_command)
{
    char *out;
    cr_assert_eq(run("--help", NULL, &out), 0);
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n  %s ", cmds[i].cmd);
        cr_assert_not_null(strstr(out, want), "%s missing:\n%s", cmds[i].cmd, out);
    }
    free(out);
    cr_assert_eq(run("no-such-command", NULL, &out), 1);
    cr_assert_not_null(strstr(out, "unknown command 'no-such-command'"), "%s", out);
    free(out);
}
