/* The option-table helper of every subcommand (src/app/cli.c): the syntax it
 * accepts, the messages of a usage error (each naming the option), --help
 * printed from the rows, and run's rows against the config's own flags. */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app/cli.h"
#include "app/cmds.h"
#include "kpistream/config.h"
#include "kpistream/err.h"

typedef struct targs {
    const char *name;
    bool flag;
    long n;
    uint64_t u;
    double d;
    int calls;
    const char *other_name, *other_value;
} targs;

static int t_call(void *args, const ks_cli_opt *o, const char *v)
{
    targs *a = args;
    (void)o;
    a->calls++;
    return strcmp(v, "fail") == 0 ? 7 : 0;
}

static const ks_cli_opt t_opts[] = {
    {"name", "S", "a string", KS_CLI_STR, offsetof(targs, name), 0, 0, 'n'},
    {"flag", NULL, "a switch\nwith a second line", KS_CLI_BOOL, offsetof(targs, flag), 0, 0, 0},
    {"count", "N", "an integer 1..10", KS_CLI_INT, offsetof(targs, n), 1, 10, 0},
    {"big", "N", "a u64", KS_CLI_U64, offsetof(targs, u), 0, 0, 0},
    {"ratio", "X", "a double", KS_CLI_DBL, offsetof(targs, d), 0, 0, 0},
    {"call", "V", "the command's handler", KS_CLI_CALL, 0, 0, 0, 0},
    {"a-very-long-option-name", "VALUE", "help on the next line", KS_CLI_STR, 0, 0, 0, 0},
    KS_CLI_END,
};

static const ks_cli_cmd t_cmd = {
    .name = "tcmd",
    .prog = "tprog",
    .usage = "kpistream tcmd [options]",
    .about = "About the test command.\n",
    .opts = t_opts,
    .call = t_call,
    .usage_status = 2,
};

/* Runs ks_cli_parse on the words (argv[0] "tcmd" added) with stderr captured
 * into err. Returns its result. */
static int parse(const ks_cli_cmd *cmd, targs *a, char *err, size_t n, const char **words)
{
    char *argv[32] = {"tcmd"};
    int argc = 1;
    for (; words[argc - 1]; argc++)
        argv[argc] = (char *)words[argc - 1];
    fflush(stderr);
    FILE *tmp = tmpfile();
    cr_assert_not_null(tmp);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    int rc = ks_cli_parse(cmd, argc, argv, a);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t got = fread(err, 1, n - 1, tmp);
    err[got] = '\0';
    fclose(tmp);
    return rc;
}

#define PARSE(a, err, ...)                                                                      \
    parse(&t_cmd, (a), (err), sizeof(err), (const char *[]){__VA_ARGS__, NULL})

Test(app_cli, values_in_every_spelling)
{
    targs a = {0};
    char err[512];
    cr_assert_eq(PARSE(&a, err, "--name", "x", "--count=3", "--flag", "--big",
                       "18446744073709551615", "--ratio=0.25", "--call", "ok"),
                 KS_CLI_GO, "%s", err);
    cr_assert_str_eq(a.name, "x");
    cr_assert_eq(a.n, 3);
    cr_assert(a.flag);
    cr_assert_eq(a.u, UINT64_MAX);
    cr_assert_float_eq(a.d, 0.25, 1e-12);
    cr_assert_eq(a.calls, 1);
    cr_assert_str_empty(err);

    targs b = {0};
    cr_assert_eq(PARSE(&b, err, "-n", "y"), KS_CLI_GO);
    cr_assert_str_eq(b.name, "y");
    cr_assert_eq(PARSE(&b, err, "-nz", "--name=--w"), KS_CLI_GO);
    cr_assert_str_eq(b.name, "--w", "the last one wins, and a value may start with --");
}

Test(app_cli, double_dash_ends_the_options)
{
    targs a = {0};
    char err[512];
    cr_assert_eq(PARSE(&a, err, "--flag", "--"), KS_CLI_GO);
    cr_assert(a.flag);
    cr_assert_eq(PARSE(&a, err, "--", "--flag"), 2);
    cr_assert(strstr(err, "tprog: unexpected argument '--flag'"), "%s", err);
}

Test(app_cli, usage_errors_name_the_option)
{
    struct {
        const char *words[4];
        const char *msg;
    } cases[] = {
        {{"--nope"}, "tprog: unrecognized option '--nope'\n"},
        {{"--nope=1"}, "tprog: unrecognized option '--nope'\n"},
        {{"-x"}, "tprog: unrecognized option '-x'\n"},
        {{"--name"}, "tprog: option '--name' requires an argument\n"},
        {{"--flag=1"}, "tprog: option '--flag' doesn't allow an argument\n"},
        {{"--count", "11"}, "tprog: --count must be an integer 1..10, got \"11\"\n"},
        {{"--count", "2x"}, "tprog: --count must be an integer 1..10, got \"2x\"\n"},
        {{"--big", "-1"}, "tprog: --big needs a non-negative integer, got '-1'\n"},
        {{"--ratio", "nan"}, "tprog: --ratio needs a number, got 'nan'\n"},
        {{"stray"}, "tprog: unexpected argument 'stray' (options start with --)\n"},
        /* a URL given without its option is shown masked */
        {{"redis://u:secret@h:1/0"}, "tprog: unexpected argument 'redis://u:***@h:1/0'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        targs a = {0};
        char err[512];
        const char **w = cases[i].words;
        int rc = parse(&t_cmd, &a, err, sizeof err, w);
        cr_assert_eq(rc, 2, "%s: %d", w[0], rc);
        cr_assert(strncmp(err, cases[i].msg, strlen(cases[i].msg)) == 0, "%s: got\n%s", w[0], err);
        /* the range and number errors are the value's, the others get the hint */
        bool value_error = i >= 5 && i <= 8;
        cr_assert_eq(strstr(err, "tprog: see 'kpistream tcmd --help'\n") != NULL, !value_error,
                     "%s: %s", w[0], err);
    }
}

Test(app_cli, a_handler_status_ends_the_parse)
{
    targs a = {0};
    char err[512];
    cr_assert_eq(PARSE(&a, err, "--call", "fail", "--flag"), 7);
    cr_assert_eq(a.calls, 1);
    cr_assert_not(a.flag, "nothing after the failing option is applied");
}

static bool t_takes_value(const char *name)
{
    return strcmp(name, "--switchy") != 0;
}

static int t_other(void *args, const char *name, const char *value)
{
    targs *a = args;
    a->other_name = name[2] == 'b' ? "--bad" : "ok";
    a->other_value = value;
    return strcmp(name, "--bad") == 0 ? 1 : 0;
}

Test(app_cli, unlisted_options_go_to_the_command_when_it_takes_them)
{
    ks_cli_cmd cmd = t_cmd;
    cmd.takes_value = t_takes_value;
    cmd.other = t_other;
    targs a = {0};
    char err[512];
    cr_assert_eq(parse(&cmd, &a, err, sizeof err, (const char *[]){"--x", "v", NULL}), KS_CLI_GO);
    cr_assert_str_eq(a.other_value, "v");
    cr_assert_eq(parse(&cmd, &a, err, sizeof err, (const char *[]){"--x=w", NULL}), KS_CLI_GO);
    cr_assert_str_eq(a.other_value, "w");
    cr_assert_eq(parse(&cmd, &a, err, sizeof err, (const char *[]){"--switchy", "--flag", NULL}),
                 KS_CLI_GO);
    cr_assert_null(a.other_value);
    cr_assert(a.flag);
    cr_assert_eq(parse(&cmd, &a, err, sizeof err, (const char *[]){"--bad", "1", NULL}), 1);
    a.other_value = "unset";
    cr_assert_eq(parse(&cmd, &a, err, sizeof err, (const char *[]){"--x", NULL}), KS_CLI_GO);
    cr_assert_null(a.other_value, "a missing value is the command's to report");
}

static char *help_text(const ks_cli_cmd *cmd)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    ks_cli_help(cmd, f);
    fclose(f);
    return text;
}

Test(app_cli, help_lists_every_row_aligned)
{
    char *h = help_text(&t_cmd);
    cr_assert(strncmp(h, "usage: kpistream tcmd [options]\n\nAbout the test command.\n", 56) == 0,
              "%s", h);
    const char *want[] = {
        "  -n, --name S          a string\n",
        "  --flag                a switch\n                        with a second line\n",
        "  --count N             an integer 1..10\n",
        "  --a-very-long-option-name VALUE\n                        help on the next line\n",
        "  -h, --help            show this help and exit\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        cr_assert_not_null(strstr(h, want[i]), "missing:\n%s\nin:\n%s", want[i], h);
    cr_assert(strstr(h, "--ratio X") < strstr(h, "--help"), "--help comes last");
    free(h);

    targs a = {0};
    char err[512];
    fflush(stdout);
    cr_assert_eq(PARSE(&a, err, "--flag", "-h", "--nope"), 0, "--help ends the parse with 0");
}

/* run's rows are handed to the config like any other flag: whether a row
 * takes a value must be what the config says. */
Test(app_cli, run_rows_agree_with_the_config_flags)
{
    int rows = 0;
    for (const ks_cli_opt *o = ks_run_cli.opts; o->name; o++) {
        if (o->type != KS_CLI_PASS || strchr(o->name, '<'))
            continue;
        rows++;
        cr_assert_eq(o->arg == NULL, ks_config_flag_is_switch(o->name), "--%s", o->name);
        ks_config cfg;
        cr_assert_eq(ks_config_init_defaults(&cfg), 0);
        char err[KS_ERRSTR_SIZE] = "";
        ks_config_apply_flag(&cfg, o->name, o->arg ? "x=1" : NULL, err, sizeof err);
        cr_assert_null(strstr(err, "unknown flag"), "--%s: %s", o->name, err);
        ks_config_free(&cfg);
    }
    cr_assert_geq(rows, 9);
}
