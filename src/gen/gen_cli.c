/* `kpistream gen`: run the generator to JSONL and/or Kafka, with optional
 * pacing and a live mode.
 *
 * Live mode (docs/generator.md): the library plans `--days` of history plus
 * `--live-days` beyond it. History (simulated times up to start + days, which
 * by default is the moment the command started) is emitted as fast as --rate
 * allows with its own times. After that every event is stamped with the wall
 * clock at emission (ks_gen_stamp()), so it always lies within [now - days,
 * now] for a consumer using --clock wall, and the simulation runs on at
 * whatever speed --rate gives (--rate 0: simulated time advances 1:1 with
 * the wall clock).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen/gen_sink.h"
#include "kpistream/err.h"
#include "kpistream/clock.h"
#include "kpistream/gen.h"

#define DAY_MS 86400000LL

static volatile sig_atomic_t ks__gen_stop;

static void on_signal(int sig)
{
    (void)sig;
    ks__gen_stop = 1;
}


/* Sleeps until the monotonic clock reaches until_ns (or a signal arrives). */
static void sleep_until(int64_t until_ns)
{
    int64_t d = until_ns - ks_mono_ns();
    if (d <= 0) return;
    struct timespec ts = {.tv_sec = d / 1000000000LL, .tv_nsec = d % 1000000000LL};
    nanosleep(&ts, NULL); /* EINTR ends it early; the loop re-checks the stop flag */
}

static void usage(FILE *f)
{
    fputs("usage: kpistream gen [options]\n"
          "  --seed N             PRNG seed (default 1)\n"
          "  --customers N        population size (default 10000)\n"
          "  --days D             days of history (default 30)\n"
          "  --start-ms MS        timeline start, epoch ms (default: now - days)\n"
          "  --churn-fraction F   share of customers drifting to churn (default 0.10)\n"
          "  --dup-fraction F     share of events re-sent as duplicates (default 0)\n"
          "  --initial-fraction F share of customers existing at the start (default 0.70)\n"
          "  --activity A         median sessions per customer per day (default 1.0)\n"
          "  --population P       customer base: default, or sparse (lighter activity,\n"
          "                       faster and subtler churn; docs/generator.md)\n"
          "  --labels FILE        write ground-truth churn labels (CSV) at exit\n"
          "  --limit N            stop after N events (duplicates included)\n"
          "  --out FILE|-         JSON lines to FILE or stdout (default: stdout unless --brokers)\n"
          "  --brokers B --topic T  produce to Kafka, key = customer_id\n"
          "  --rate EPS           events per second (default 0 = as fast as possible)\n"
          "  --live               after the history, keep going with wall-clock times\n"
          "  --live-days D        simulated days planned beyond the history (default 365)\n"
          "  --quiet              no summary on stderr\n",
          f);
}

static int parse_u64(const char *name, const char *v, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') {
        fprintf(stderr, "kpistream gen: %s needs a non-negative integer, got '%s'\n", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_dbl(const char *name, const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || x != x) {
        fprintf(stderr, "kpistream gen: %s needs a number, got '%s'\n", name, v);
        return -1;
    }
    *out = x;
    return 0;
}

static void summary(const ks_gen_stats *st, double secs, uint64_t lines)
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
    enum {
        O_SEED = 256,
        O_CUSTOMERS,
        O_DAYS,
        O_START,
        O_CHURN,
        O_DUP,
        O_INITIAL,
        O_ACTIVITY,
        O_POPULATION,
        O_LABELS,
        O_LIMIT,
        O_OUT,
        O_BROKERS,
        O_TOPIC,
        O_RATE,
        O_LIVE,
        O_LIVE_DAYS,
        O_QUIET,
        O_HELP
    };
    static const struct option longopts[] = {
        {"seed", required_argument, NULL, O_SEED},
        {"customers", required_argument, NULL, O_CUSTOMERS},
        {"days", required_argument, NULL, O_DAYS},
        {"start-ms", required_argument, NULL, O_START},
        {"churn-fraction", required_argument, NULL, O_CHURN},
        {"dup-fraction", required_argument, NULL, O_DUP},
        {"initial-fraction", required_argument, NULL, O_INITIAL},
        {"activity", required_argument, NULL, O_ACTIVITY},
        {"population", required_argument, NULL, O_POPULATION},
        {"labels", required_argument, NULL, O_LABELS},
        {"limit", required_argument, NULL, O_LIMIT},
        {"out", required_argument, NULL, O_OUT},
        {"brokers", required_argument, NULL, O_BROKERS},
        {"topic", required_argument, NULL, O_TOPIC},
        {"rate", required_argument, NULL, O_RATE},
        {"live", no_argument, NULL, O_LIVE},
        {"live-days", required_argument, NULL, O_LIVE_DAYS},
        {"quiet", no_argument, NULL, O_QUIET},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0}};

    ks_gen_opts o;
    ks_gen_opts_init(&o);
    int have_start = 0, live = 0, quiet = 0;
    uint64_t u = 0, limit = 0;
    double rate = 0, live_days = 365;
    const char *labels = NULL, *out = NULL, *brokers = NULL, *topic = NULL;

    optind = 0; /* glibc: full re-initialisation, in case getopt ran before */
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        int bad = 0;
        switch (ch) {
        case O_SEED:
            bad = parse_u64("--seed", optarg, &o.seed);
            break;
        case O_CUSTOMERS:
            bad = parse_u64("--customers", optarg, &u);
            if (!bad && u > UINT32_MAX) u = 0; /* rejected by validation below */
            o.customers = (uint32_t)u;
            break;
        case O_DAYS:
            bad = parse_dbl("--days", optarg, &o.days);
            break;
        case O_START:
            bad = parse_u64("--start-ms", optarg, &u);
            if (!bad && u > (uint64_t)INT64_MAX) bad = -1;
            o.start_ms = (int64_t)u;
            have_start = 1;
            break;
        case O_CHURN:
            bad = parse_dbl("--churn-fraction", optarg, &o.churn_fraction);
            break;
        case O_DUP:
            bad = parse_dbl("--dup-fraction", optarg, &o.dup_fraction);
            break;
        case O_INITIAL:
            bad = parse_dbl("--initial-fraction", optarg, &o.initial_fraction);
            break;
        case O_ACTIVITY:
            bad = parse_dbl("--activity", optarg, &o.activity);
            break;
        case O_POPULATION:
            if (strcmp(optarg, "default") == 0) {
                o.population = KS_GEN_POP_DEFAULT;
            } else if (strcmp(optarg, "sparse") == 0) {
                o.population = KS_GEN_POP_SPARSE;
            } else {
                fprintf(stderr, "kpistream gen: --population: expected default or sparse, got '%s'\n",
                        optarg);
                bad = -1;
            }
            break;
        case O_LABELS:
            labels = optarg;
            break;
        case O_LIMIT:
            bad = parse_u64("--limit", optarg, &limit);
            break;
        case O_OUT:
            out = optarg;
            break;
        case O_BROKERS:
            brokers = optarg;
            break;
        case O_TOPIC:
            topic = optarg;
            break;
        case O_RATE:
            bad = parse_dbl("--rate", optarg, &rate);
            if (!bad && rate < 0) {
                fprintf(stderr, "kpistream gen: --rate must be >= 0\n");
                bad = -1;
            }
            break;
        case O_LIVE:
            live = 1;
            break;
        case O_LIVE_DAYS:
            bad = parse_dbl("--live-days", optarg, &live_days);
            if (!bad && !(live_days > 0)) {
                fprintf(stderr, "kpistream gen: --live-days must be > 0\n");
                bad = -1;
            }
            break;
        case O_QUIET:
            quiet = 1;
            break;
        case O_HELP:
            usage(stdout);
            return 0;
        default: /* getopt_long() has printed what is wrong */
            fputs("kpistream gen: see 'kpistream gen --help'\n", stderr);
            return 2;
        }
        if (bad) return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "kpistream gen: unexpected argument '%s'; see 'kpistream gen --help'\n",
                argv[optind]);
        return 2;
    }
    if ((brokers == NULL) != (topic == NULL)) {
        fprintf(stderr, "kpistream gen: --brokers and --topic go together\n");
        return 2;
    }
    if (!out && !brokers) out = "-";

    double history_days = o.days;
    char errstr[KS_ERRSTR_SIZE];
    if (ks_gen_opts_validate(&o, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "kpistream gen: %s\n", errstr);
        return 2;
    }
    if (!have_start) o.start_ms = ks_wall_ms() - (int64_t)(o.days * DAY_MS);
    /* History ends here; in live mode the population is planned beyond it. */
    int64_t history_end = o.start_ms + (int64_t)(history_days * DAY_MS);
    if (live) o.days += live_days;
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
    ks__gen_sink *sink = ks__gen_sink_open(out, brokers, topic, errstr, sizeof errstr);
    if (!sink) {
        fprintf(stderr, "kpistream gen: %s\n", errstr);
        ks_gen_free(g);
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int rc = 0;
    uint64_t lines = 0, paced = 0;
    int64_t t0 = ks_mono_ns(), pace0 = t0, live0 = 0, last_ts = INT64_MIN;
    int in_live = 0;
    char buf[KS_GEN_MAX_EVENT];
    while (!ks__gen_stop && (limit == 0 || lines < limit)) {
        int64_t sim = ks_gen_peek_ts(g);
        if (sim == INT64_MAX) break;
        if (live && !in_live && sim >= history_end) {
            in_live = 1;
            live0 = ks_mono_ns();
            pace0 = live0;
            paced = 0;
            if (!quiet)
                fprintf(stderr, "kpistream gen: history done (%" PRIu64 " events), live now\n",
                        lines);
        }
        if (rate > 0) {
            sleep_until(pace0 + (int64_t)((double)paced * 1e9 / rate));
            paced++;
        } else if (in_live) {
            /* No rate: simulated time runs at wall-clock speed. */
            sleep_until(live0 + (sim - history_end) * 1000000LL);
        }
        if (ks__gen_stop) break;
        if (in_live) {
            int64_t now = ks_wall_ms();
            last_ts = now > last_ts ? now : last_ts;
            ks_gen_stamp(g, last_ts);
        }
        size_t len, keylen;
        const char *key;
        int64_t ts;
        int r = ks_gen_next(g, buf, sizeof buf, &len, &key, &keylen, &ts);
        if (r == 0) break;
        if (r < 0) {
            fprintf(stderr, "kpistream gen: generator failed: %s\n", ks_strerror(r));
            rc = 1;
            break;
        }
        if (ks__gen_sink_write(sink, buf, len, key, keylen, errstr, sizeof errstr) != 0) {
            fprintf(stderr, "kpistream gen: %s\n", errstr);
            rc = 1;
            break;
        }
        lines++;
        last_ts = ts > last_ts ? ts : last_ts; /* live stamps never go below it */
    }
    if (ks__gen_sink_close(sink, errstr, sizeof errstr) != 0) {
        fprintf(stderr, "kpistream gen: %s\n", errstr);
        rc = 1;
    }
    if (labels) {
        FILE *lf = fopen(labels, "w");
        int lr = lf ? ks_gen_write_labels(g, lf) : KS_ERR_IO;
        if (lf && fclose(lf) != 0) lr = KS_ERR_IO;
        if (lr != 0) {
            fprintf(stderr, "kpistream gen: cannot write --labels %s: %s\n", labels,
                    strerror(errno));
            rc = 1;
        }
    }
    if (!quiet) {
        ks_gen_stats st;
        ks_gen_get_stats(g, &st);
        summary(&st, (double)(ks_mono_ns() - t0) / 1e9, lines);
    }
    ks_gen_free(g);
    return rc;
}
