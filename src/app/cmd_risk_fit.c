/* `kpistream risk-fit`: options, then the job (risk_fit.c: replay the
 * history through the engine, label, fit, calibrate, measure, write the
 * model; docs/churn-risk.md). */
#include "app/cmds.h"
#include "app/internal.h"

#include "kpistream/config.h"
#include "kpistream/err.h"
#include "kpistream/log.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KF_DAY_MS ((int64_t)86400000)

/* What the options fill: the job's settings, and the config. */
typedef struct ks__args {
    ks_risk_fit_opts o;
    ks_config *cfg;
} ks__args;

static int ks__option(void *args, const ks_cli_opt *o, const char *v)
{
    ks__args *a = args;
    ks_risk_fit_opts *ro = &a->o;
    const char *n = o->name;
    char err[KS_ERRSTR_SIZE], *end = NULL;
    if (!strcmp(n, "brokers")) {
        if (ks_config_set(a->cfg, "brokers", v, err, sizeof err) != 0)
            return ks_risk_fit_say("%s", err);
    } else if (!strcmp(n, "from-ms") || !strcmp(n, "to-ms")) {
        long long ms = strtoll(v, &end, 10);
        if (!end || *end || ms < 0)
            return ks_risk_fit_say("--%s: expected epoch milliseconds, got '%s'", n, v);
        *(!strcmp(n, "from-ms") ? &ro->from_ms : &ro->to_ms) = ms;
    } else if (!strcmp(n, "config")) {
        if (ks_config_load_file(a->cfg, v, err, sizeof err) != 0)
            return ks_risk_fit_say("config: %s", err);
    } else if (!strcmp(n, "set")) {
        char kv[1024];
        snprintf(kv, sizeof kv, "%s", v);
        char *eq = strchr(kv, '=');
        if (!eq) return ks_risk_fit_say("--set %s: expected key=value", v);
        *eq = '\0';
        if (ks_config_set(a->cfg, kv, eq + 1, err, sizeof err) != 0)
            return ks_risk_fit_say("%s", err);
    } else if (!strcmp(n, "horizon") || !strcmp(n, "warmup")) {
        int64_t ms;
        if (ks_duration_parse(v, &ms) != 0 || ms <= 0)
            return ks_risk_fit_say("--%s: expected a duration like 30d, got '%s'", n, v);
        *(!strcmp(n, "horizon") ? &ro->horizon_ms : &ro->warmup_ms) = ms;
    } else { /* l2, sample-rate, precision-high, precision-medium */
        double d = strtod(v, &end);
        bool rate = !strcmp(n, "sample-rate"), l2 = !strcmp(n, "l2");
        if (!end || *end || !(d >= 0) || (!l2 && !(d > 0 && d <= 1)))
            return ks_risk_fit_say("--%s: expected a number %s, got '%s'", n,
                                   l2 ? ">= 0" : "in (0, 1]", v);
        *(l2 ? &ro->l2 : rate ? &ro->sample_rate
           : !strcmp(n, "precision-high") ? &ro->target_high
                                          : &ro->target_medium) = d;
    }
    return 0;
}

#define KF_OPT(name, arg, help) {name, arg, help, KS_CLI_CALL, 0, 0, 0, 0}
#define KF_STR(name, arg, help, field)                                                             \
    {                                                                                              \
        name, arg, help, KS_CLI_STR, offsetof(ks__args, o.field), 0, 0, 0                          \
    }

static const ks_cli_opt ks__opts[] = {
    KF_STR("input", "FILE[,FILE...]", "history as JSON lines (- for stdin)", inputs),
    KF_OPT("brokers", "HOST:PORT,...", "read the history from Kafka ..."),
    KF_STR("topic", "T", "... from every partition of topic T", topic),
    KF_OPT("from-ms", "MS", "first message at or after MS (Kafka time; default: the start)"),
    KF_OPT("to-ms", "MS", "up to MS (Kafka time; default: each partition's end)"),
    KF_STR("out", "MODEL.json", "where to write the fitted model (for risk.model)", out),
    KF_OPT("config", "FILE", "config file (windows, churn_inactivity, risk.*)"),
    KF_OPT("set", "key=value", "a config key; repeatable"),
    KF_OPT("horizon", "DURATION", "churn within this horizon is positive (default 30d)"),
    KF_OPT("warmup", "DURATION", "history before the first sample (default 28d)"),
    KF_OPT("l2", "X", "L2 penalty of the fit (default 0.0001)"),
    KF_OPT("precision-high", "P", "target precision of the high level (default 0.8)"),
    KF_OPT("precision-medium", "P", "target precision of the medium level (default 0.5)"),
    KF_OPT("sample-rate", "R", "share of customer-days sampled, (0, 1] (default 1)"),
    {"eval", NULL,
     "only score the history with the configured scorer\n(hand weights or risk.model)", KS_CLI_BOOL,
     offsetof(ks__args, o.eval), 0, 0, 0},
    KS_CLI_END,
};

static const ks_cli_cmd ks__cli = {
    .name = "risk-fit",
    .prog = "kpistream risk-fit",
    .usage = "kpistream risk-fit [--input FILE[,FILE...]]\n"
             "         [--brokers HOST:PORT,... --topic T [--from-ms MS] [--to-ms MS]]\n"
             "         [--out MODEL.json]\n"
             "         [--config FILE] [--set key=value]... [--horizon 30d] [--warmup 28d]\n"
             "         [--l2 0.0001] [--precision-high 0.8] [--precision-medium 0.5]\n"
             "         [--sample-rate 1]\n"
             "       kpistream risk-fit --eval --input FILE [--set risk.model=MODEL.json]",
    .about = "Replays a history of events (JSON lines, - for stdin; and/or a topic range:\n"
             "every partition from the first message at or after --from-ms, Kafka time,\n"
             "to its end or --to-ms; no consumer group, nothing committed) through the engine,\n"
             "labels each customer-day by whether the customer churned within the horizon,\n"
             "fits a logistic model, calibrates it and picks the level thresholds on\n"
             "held-out customers, and writes the model for risk.model. --eval only scores\n"
             "the history with the configured scorer (hand weights or risk.model) and\n"
             "reports the same figures. See docs/churn-risk.md.\n",
    .opts = ks__opts,
    .call = ks__option,
    .usage_status = 2,
};

int ks_risk_fit_main(int argc, char **argv)
{
    ks_log_set_level(KS_LOG_WARN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    ks_config cfg;
    if (ks_config_init_defaults(&cfg) != 0) return ks_risk_fit_say("out of memory");
    ks__args a = {.o = {.horizon_ms = 30 * KF_DAY_MS,
                        .warmup_ms = 28 * KF_DAY_MS,
                        .sample_rate = 1,
                        .l2 = 1e-4,
                        .target_high = 0.8,
                        .target_medium = 0.5},
                  .cfg = &cfg};
    int status = ks_cli_parse(&ks__cli, argc, argv, &a);
    if (status == KS_CLI_GO && !a.o.inputs && !a.o.topic) {
        fputs("kpistream risk-fit: --input or --topic is required\n", stderr);
        ks_cli_help(&ks__cli, stderr);
        status = 2;
    }
    if (status == KS_CLI_GO) status = ks_risk_fit_run(&a.o, &cfg);
    ks_config_free(&cfg);
    return status;
}
