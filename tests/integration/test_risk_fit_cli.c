/* `kpistream risk-fit` as users run it (issue 15): a generated history in, a
 * model out that check-config and run accept through risk.model; a model file
 * gone wrong stops run and check-config with exit 1 and the field named. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* Runs argv to completion with output to log; returns the exit status. */
static int run_logged(char *const argv[], const char *log)
{
    kst_proc p;
    cr_assert_eq(kst_proc_spawn(&p, argv, log), 0);
    int status = -1;
    cr_assert_eq(kst_proc_wait(&p, 120000, &status), 0, "%s did not finish", argv[1]);
    return status;
}

static char dir[256];

static void path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", dir, name);
}

/* Writes a generated history of customers x days (from 2026-01-01) to hist. */
static void gen_history(const char *seed, const char *customers, const char *days,
                        const char *hist)
{
    char log[300];
    path(log, sizeof log, "gen.log");
    char *gen[] = {(char *)kst_binary(), "gen", "--seed", (char *)seed, "--customers",
                   (char *)customers, "--days", (char *)days, "--start-ms", "1767225600000",
                   "--quiet", "--out", (char *)hist, NULL};
    cr_assert_eq(run_logged(gen, log), 0);
}

Test(risk_fit, fits_a_history_and_run_loads_or_refuses_the_model, .timeout = 180)
{
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    char hist[300], model[300], log[300], bad[300], setm[340], setb[340];
    path(hist, sizeof hist, "history.jsonl");
    path(model, sizeof model, "model.json");
    path(log, sizeof log, "out.log");
    path(bad, sizeof bad, "bad.json");
    const char *bin = kst_binary();

    /* 72 days of 2 000 customers: after the 28-day warm-up, 14 days of
     * customer-days whose 30-day future the history holds. */
    gen_history("5", "2000", "72", hist);
    char *fit[] = {(char *)bin, "risk-fit", "--input", hist, "--out", model, NULL};
    int st = run_logged(fit, log);
    if (st != 0) kst_log_tail(log, 30);
    cr_assert_eq(st, 0);
    cr_assert(kst_file_contains(log, "test customers"), "no held-out report");
    cr_assert(kst_file_contains(log, "RESULT auc 0."), "no AUC");
    char *text = kst_read_file(model, NULL);
    cr_assert_not_null(text);
    cr_assert_not_null(strstr(text, "\"kpistream_risk_model\":"));
    cr_assert_not_null(strstr(text, "\"thresholds\""));
    cr_assert_not_null(strstr(text, "\"segment=consumer\""));

    snprintf(setm, sizeof setm, "risk.model=%s", model);
    char *check[] = {(char *)bin, "check-config", "--set", setm, NULL};
    path(log, sizeof log, "check.log"); /* one log per command: logs are appended to */
    cr_assert_eq(run_logged(check, log), 0);
    cr_assert(kst_file_contains(log, model), "check-config does not print the model path");

    /* The same model with a feature renamed: refused, naming it. */
    char *at = strstr(text, "\"silent_days\"");
    cr_assert_not_null(at);
    memcpy(at, "\"silent_dayz\"", 13);
    FILE *f = fopen(bad, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    free(text);
    snprintf(setb, sizeof setb, "risk.model=%s", bad);
    char *runbad[] = {(char *)bin, "run", "--set", setb, "--brokers", "127.0.0.1:1", NULL};
    path(log, sizeof log, "runbad.log");
    cr_assert_eq(run_logged(runbad, log), 1);
    cr_assert(kst_file_contains(log, "risk.model") &&
                  kst_file_contains(log, "unknown feature \"silent_dayz\""),
              "run's error does not name the problem");
    char *checkbad[] = {(char *)bin, "check-config", "--set", setb, NULL};
    cr_assert_eq(run_logged(checkbad, log), 1);

    /* --eval measures that model on the history without fitting. */
    char *eval[] = {(char *)bin, "risk-fit", "--eval", "--input", hist, "--set", setm, NULL};
    path(log, sizeof log, "eval.log");
    cr_assert_eq(run_logged(eval, log), 0);
    cr_assert(kst_file_contains(log, "model scorer on all customers: AUC"), "no --eval report");
    kst_rmtree(dir);
}

Test(risk_fit, usage_errors)
{
    const char *bin = kst_binary();
    char log[300];
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    path(log, sizeof log, "out.log");
    char *none[] = {(char *)bin, "risk-fit", NULL};
    cr_assert_eq(run_logged(none, log), 2);
    char *unknown[] = {(char *)bin, "risk-fit", "--input", "x", "--bogus", "1", NULL};
    cr_assert_eq(run_logged(unknown, log), 2);
    char *noout[] = {(char *)bin, "risk-fit", "--input", "/nonexistent.jsonl", NULL};
    path(log, sizeof log, "noout.log");
    cr_assert_eq(run_logged(noout, log), 1);
    cr_assert(kst_file_contains(log, "--out"), "the error does not say --out is needed");
    char *missing[] = {(char *)bin, "risk-fit", "--input", "/nonexistent.jsonl", "--out",
                       "/tmp/x.json", NULL};
    path(log, sizeof log, "missing.log");
    cr_assert_eq(run_logged(missing, log), 1);
    cr_assert(kst_file_contains(log, "/nonexistent.jsonl: cannot open"), "no path in the error");
    kst_rmtree(dir);
}

Test(risk_fit, reads_a_topic_range_without_a_group, .timeout = 180)
{
    cr_assert_eq(kst_tmpdir(dir, sizeof dir), 0);
    char hist[300], model[300], log2[300];
    path(hist, sizeof hist, "history.jsonl");
    path(model, sizeof model, "model.json");
    path(log2, sizeof log2, "fit.log");
    const char *bin = kst_binary();
    /* Small enough for the mock cluster's ~5 MB a partition. */
    gen_history("9", "600", "64", hist);
    kst_kafka k;
    cr_assert_eq(kst_kafka_start(&k, 1), 0, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_create_topic(&k, "hist", 3), 0, "%s", kst_last_error());
    long lines = kst_kafka_produce_keyed(&k, "hist", hist, 250);
    cr_assert_gt(lines, 10000, "%s", kst_last_error());
    cr_assert_eq(kst_kafka_flush(&k, 30000), 0, "%s", kst_last_error());

    char *fit[] = {(char *)bin, "risk-fit", "--brokers", k.bootstraps, "--topic", "hist",
                   "--out", model, NULL};
    int st = run_logged(fit, log2);
    if (st != 0) kst_log_tail(log2, 30);
    cr_assert_eq(st, 0);
    char want[64];
    snprintf(want, sizeof want, "history: %ld events (0 rejected)", lines);
    cr_assert(kst_file_contains(log2, want), "every message of the topic is read once: %s", want);
    cr_assert(kst_file_contains(log2, "RESULT auc 0."), "no AUC");
    char *text = kst_read_file(model, NULL);
    cr_assert_not_null(text);
    free(text);

    char *nosuch[] = {(char *)bin, "risk-fit", "--brokers", k.bootstraps, "--topic", "nosuch",
                      "--out", model, NULL};
    /* (--from-ms/--to-ms are not exercised here: the mock cluster does not
     * look offsets up by time.) */
    path(log2, sizeof log2, "nosuch.log");
    cr_assert_eq(run_logged(nosuch, log2), 1);
    cr_assert(kst_file_contains(log2, "topic nosuch"), "the error does not name it");
    kst_kafka_stop(&k);
    kst_rmtree(dir);
}
