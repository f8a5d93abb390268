/* `kpistream gen`: options, then the generator (src/gen/) planned and emitted
 * to JSONL and/or Kafka (ks_gen_run(): pacing and live mode), labels and a
 * summary at the end. */
#include "app/cmds.h"

#include "kpistream/clock.h"
#include "kpistream/err.h"
#include "kpistream/gen.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000LL

static volatile sig_atomic_t ks__gen_stop;

static void ks__on_signal(int sig)
{
    (void)sig;
    ks__gen_stop = 1;
}

typedef struct ks__gen_args {
    ks_gen_opts o;
    uint64_t customers;
    bool have_start, live, quiet;
    double rate, live_days;
    uint64_t limit;
    const char *labels, *out, *brokers, *topic;
} ks__gen_args;

/* --start-ms and --population. */
static int ks__gen_option(void *args, const ks_cli_opt *opt, const char *v)
{
    ks__gen_args *a = args;
    if (strcmp(opt->name, "population") == 0) {
        if (strcmp(v, "default") == 0) {
            a->o.population = KS_GEN_POP_DEFAULT;
        } else if (strcmp(v, "sparse") == 0) {
            a->o.population = KS_GEN_POP_SPARSE;
        } else {
            fprintf(stderr, "kpistream gen: --population: expected default or sparse, got '%s'\n",
                    v);
            return 2;
        }
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long ms = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-' || ms > (unsigned long long)INT64_MAX) {
        fprintf(stderr, "kpistream gen: --start-ms needs epoch milliseconds, got '%s'\n", v);
        return 2;
    }
    a->o.start_ms = (int64_t)ms;
    a->have_start = true;
    return 0;
}

#define KS__OPT(name, arg, help, type, field)                                                   \
    {name, arg, help, type, offsetof(ks__gen_args, field), 0, 0, 0}

static const ks_cli_opt ks__opts[] = {
    KS__OPT("seed", "N", "PRNG seed (default 1)", KS_CLI_U64, o.seed),
    KS__OPT("customers", "N", "population size (default 10000)", KS_CLI_U64, customers),
    KS__OPT("days", "D", "days of history (default 30)", KS_CLI_DBL, o.days),
    {"start-ms", "MS", "timeline start, epoch ms (default: now - days)", KS_CLI_CALL, 0, 0, 0, 0},
    KS__OPT("churn-fraction", "F", "share of customers drifting to churn (default 0.10)",
            KS_CLI_DBL, o.churn_fraction),
    KS__OPT("dup-fraction", "F", "share of events re-sent as duplicates (default 0)", KS_CLI_DBL,
            o.dup_fraction),
    KS__OPT("initial-fraction", "F", "share of customers existing at the start (default 0.70)",
            KS_CLI_DBL, o.initial_fraction),
    KS__OPT("activity", "A", "median sessions per customer per day (default 1.0)", KS_CLI_DBL,
            o.activity),
    {"population", "P",
     "customer base: default, or sparse (lighter activity,\nfaster and subtler churn; "
     "docs/generator.md)",
     KS_CLI_CALL, 0, 0, 0, 0},
    KS__OPT("labels", "FILE", "write ground-truth churn labels (CSV) at exit", KS_CLI_STR, labels),
    KS__OPT("limit", "N", "stop after N events (duplicates included)", KS_CLI_U64, limit),
    KS__OPT("out", "FILE|-", "JSON lines to FILE or stdout (default: stdout unless --brokers)",
            KS_CLI_STR, out),
    KS__OPT("brokers", "B", "produce to Kafka (with --topic), key = customer_id", KS_CLI_STR,
            brokers),
    KS__OPT("topic", "T", "the topic to produce to (with --brokers)", KS_CLI_STR, topic),
    KS__OPT("rate", "EPS", "events per second (default 0 = as fast as possible)", KS_CLI_DBL,
            rate),
    KS__OPT("live", NULL, "after the history, keep going with wall-clock times", KS_CLI_BOOL, live),
    KS__OPT("live-days", "D", "simulated days planned beyond the history (default 365)",
            KS_CLI_DBL, live_days),
    KS__OPT("quiet", NULL, "no summary on stderr", KS_CLI_BOOL, quiet),
    KS_CLI_END,
};

static const ks_cli_cmd ks__cli = {
    .name = "gen",
    .prog = "kpistream gen",
    .usage = "kpistream gen [options]",
    .about = "Generates a synthetic customer event stream (docs/generator.md): a seeded\n"
             "population simulated over --days of history, as JSON lines and/or Kafka\n"
             "messages; with --live it goes on in wall-clock time after the history.\n"
             "Exit 0 done, 1 runtime failure (I/O, Kafka delivery), 2 usage error.\n",
    .opts = ks__opts,
    .call = ks__gen_option,
    .usage_status = 2,
};

static void ks__say(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "kpistream gen: %s\n", msg);
}

static void ks__summary(const ks_gen_stats *st, double secs, uint64_t lines)
{
    fprintf(stderr,
            "kpistream gen: %" PRIu64 " events (%" PRIu64 " unique, %" PRIu64
            " duplicates) in %.2f s (%.0f events/s)\n  ",
            lines, st->events, st->duplicates, secs, secs > 0 ? (double)lines / secs : 0.0);
    for (int t = 0; t < KS_EV__COUNT; t++) {
        static const char *const names[] = {
#define KS__CLI_TN(name, str) str,
            KS_EVENT_TYPES(KS__CLI_TN)
#undef KS__CLI_TN
        };
        fprintf(stderr, "%s%s=%" PRIu64, t ? " " : "", names[t], st->by_type[t]);
    }
    fprintf(stderr, "\n  churners labelled: %" PRIu32 "\n", st->churners);
}

int ks_gen_main(int argc, char **argv)
{
    ks__gen_args a = {.live_days = 365};
    ks_gen_opts_init(&a.o);
    a.customers = a.o.customers;
    int rc = ks_cli_parse(&ks__cli, argc, argv, &a);
    if (rc != KS_CLI_GO)
        return rc;
    ks_gen_opts o = a.o;
    o.customers = a.customers > UINT32_MAX ? 0 : (uint32_t)a.customers; /* 0: rejected below */
    if (a.rate < 0) {
        fprintf(stderr, "kpistream gen: --rate must be >= 0\n");
        return 2;
    }
    if (!(a.live_days > 0)) {
        fprintf(stderr, "kpistream gen: --live-days must be > 0\n");
        return 2;
    }
    if ((a.brokers == NULL) != (a.topic == NULL)) {
        fprintf(stderr, "kpistream gen: --brokers and --topic go together\n");
        return 2;
    }
    const char *out = a.out;
    if (!out && !a.brokers)
        out = "-";

    double history_days = o.days;
    char errstr[KS_ERRSTR_SIZE];
    if (ks_gen_opts_validate(&o, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "kpistream gen: %s\n", errstr);
        return 2;
    }
    if (!a.have_start)
        o.start_ms = ks_wall_ms() - (int64_t)(o.days * DAY_MS);
    /* History ends here; in live mode the population is planned beyond it. */
    int64_t history_end = o.start_ms + (int64_t)(history_days * DAY_MS);
    if (a.live)
        o.days += a.live_days;
    if (ks_gen_opts_validate(&o, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "kpistream gen: %s\n", errstr);
        return 2;
    }

    ks_gen *g = ks_gen_new(&o);
    if (!g) {
        fprintf(stderr, "kpistream gen: out of memory planning %" PRIu32 " customers\n",
                o.customers);
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ks__on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    ks_gen_run_opts run = {.out = out,
                           .brokers = a.brokers,
                           .topic = a.topic,
                           .limit = a.limit,
                           .rate = a.rate,
                           .live = a.live,
                           .history_end_ms = history_end,
                           .stop = &ks__gen_stop,
                           .quiet = a.quiet,
                           .say = ks__say};
    uint64_t lines = 0;
    int64_t t0 = ks_mono_ns();
    rc = ks_gen_run(g, &run, &lines);
    if (a.labels) {
        FILE *lf = fopen(a.labels, "w");
        int lr = lf ? ks_gen_write_labels(g, lf) : KS_ERR_IO;
        if (lf && fclose(lf) != 0)
            lr = KS_ERR_IO;
        if (lr != 0) {
            fprintf(stderr, "kpistream gen: cannot write --labels %s: %s\n", a.labels,
                    strerror(errno));
            rc = 1;
        }
    }
    if (!a.quiet) {
        ks_gen_stats st;
        ks_gen_get_stats(g, &st);
        ks__summary(&st, (double)(ks_mono_ns() - t0) / 1e9, lines);
    }
    ks_gen_free(g);
    return rc;
}
