/* Event parser throughput on one core, for a typical mix of ~200-byte events.
 *
 * Build (links ks_event only; no CMake target on purpose):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/bench_event.c \
 *      build/src/event/libks_event.a build/src/util/libks_util.a -lcjson -lm -o bench_event
 * or add `add_executable(bench_event bench_event.c)` + `target_link_libraries(bench_event
 * PRIVATE ks_event)` to a bench/CMakeLists.txt.
 * Run: ./bench_event [seconds]   (default 2) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kpistream/event.h"

#define NMSG 1024

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Builds message i of a mix close to production: mostly interactions and
 * purchases, some tickets, surveys, subscriptions, a few spends. */
static int make(char *out, size_t cap, int i)
{
    static const char *segs[] = {"smb", "enterprise", "consumer"};
    static const char *chans[] = {"web", "app", "email", "social"};
    const char *seg = segs[i % 3], *ch = chans[i % 4];
    long long ts = 1700000000000LL + (long long)i * 137;
    int r = i % 20;
    if (r < 8)
        return snprintf(out, cap,
                        "{\"event_id\":\"evt-%08d-7f3a9c\",\"type\":\"interaction\","
                        "\"customer_id\":\"cust-%06d\",\"ts\":%lld,\"segment\":\"%s\","
                        "\"channel\":\"%s\",\"action\":\"page_view\",\"page\":\"/pricing\"}",
                        i, i % 50000, ts, seg, ch);
    if (r < 13)
        return snprintf(out, cap,
                        "{\"event_id\":\"evt-%08d-7f3a9c\",\"type\":\"purchase\","
                        "\"customer_id\":\"cust-%06d\",\"ts\":%lld,\"segment\":\"%s\","
                        "\"channel\":\"%s\",\"order_id\":\"ord-%08d\",\"amount\":%d.%02d,"
                        "\"category\":\"electronics\",\"product\":\"sku-%05d\"}",
                        i, i % 50000, ts, seg, ch, i, 10 + i % 490, i % 100, i % 3000);
    if (r < 15)
        return snprintf(out, cap,
                        "{\"event_id\":\"evt-%08d-7f3a9c\",\"type\":\"ticket\","
                        "\"customer_id\":\"cust-%06d\",\"ts\":\"2023-11-14T22:13:20.%03dZ\","
                        "\"channel\":\"chat\",\"ticket_id\":\"tkt-%07d\",\"action\":\"opened\","
                        "\"complaint\":%s,\"category\":\"billing\"}",
                        i, i % 50000, i % 1000, i, i % 2 ? "true" : "false");
    if (r < 17)
        return snprintf(out, cap,
                        "{\"event_id\":\"evt-%08d-7f3a9c\",\"type\":\"survey\","
                        "\"customer_id\":\"cust-%06d\",\"ts\":%lld,\"segment\":\"%s\","
                        "\"kind\":\"%s\",\"score\":%d}",
                        i, i % 50000, ts, seg, i % 2 ? "nps" : "csat", i % 2 ? i % 11 : 1 + i % 5);
    if (r < 19)
        return snprintf(out, cap,
                        "{\"event_id\":\"evt-%08d-7f3a9c\",\"type\":\"subscription\","
                        "\"customer_id\":\"cust-%06d\",\"ts\":%lld,\"segment\":\"%s\","
                        "\"channel\":\"%s\",\"action\":\"renew\",\"plan\":\"pro-annual\"}",
                        i, i % 50000, ts, seg, ch);
    return snprintf(out, cap,
                    "{\"event_id\":\"evt-%08d-7f3a9c\",\"type\":\"marketing_spend\",\"ts\":%lld,"
                    "\"channel\":\"%s\",\"amount\":%d.50,\"campaign\":\"winter-sale-2023\"}",
                    i, ts, ch, 100 + i % 900);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 2.0;
    static char msgs[NMSG][320];
    static size_t lens[NMSG];
    size_t total = 0;
    for (int i = 0; i < NMSG; i++) {
        lens[i] = (size_t)make(msgs[i], sizeof(msgs[i]), i);
        total += lens[i];
    }

    ks_event_parser *p = ks_event_parser_new(1024 * 1024);
    if (p == NULL) return 1;
    ks_event ev;
    ks_reject why;
    for (int i = 0; i < NMSG; i++) {
        if (!ks_event_parse(p, msgs[i], lens[i], &ev, &why)) {
            char r[64];
            fprintf(stderr, "bench message %d rejected (%s): %s\n", i,
                    ks_reject_format(&why, r, sizeof(r)), msgs[i]);
            return 1;
        }
    }

    unsigned long long n = 0, bytes = 0, sink = 0;
    double t0 = now_s(), t1;
    do {
        for (int i = 0; i < NMSG; i++) {
            ks_event_parse(p, msgs[i], lens[i], &ev, &why);
            sink += (unsigned long long)ev.ts_ms + ev.event_id.len;
            bytes += lens[i];
        }
        n += NMSG;
        t1 = now_s();
    } while (t1 - t0 < secs);

    double el = t1 - t0;
    printf("event parse: %.0f events/s, %.1f MB/s, %.0f ns/event, mean %zu bytes/event "
           "(%llu events, sink %llu)\n",
           (double)n / el, (double)bytes / el / 1e6, el * 1e9 / (double)n, total / NMSG, n,
           sink % 10);

    /* The UTF-8 check alone, for scale. */
    t0 = now_s();
    n = 0;
    do {
        for (int i = 0; i < NMSG; i++)
            sink += ks_utf8_valid(msgs[i], lens[i]);
        n += NMSG;
        t1 = now_s();
    } while (t1 - t0 < secs / 4);
    printf("utf8 check:  %.0f messages/s\n", (double)n / (t1 - t0));
    ks_event_parser_free(p);
    return sink == 42 ? 2 : 0;
}
