/* The cJSON allocation hooks and the parser arena: other cJSON users (the
 * config module) keep working, a replaced hook set is survived, allocations
 * are aligned, and parsers on different threads do not interfere. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event/event_internal.h"
#include "kpistream/event.h"

static const char EVENT[] = "{\"event_id\":\"e-1\",\"type\":\"purchase\",\"customer_id\":\"c-1\","
                            "\"ts\":1700000000000,\"order_id\":\"o-1\",\"amount\":10.5}";

static void parse_ok(ks_event_parser *p)
{
    ks_event ev;
    ks_reject why;
    cr_assert(ks_event_parse(p, EVENT, sizeof(EVENT) - 1, &ev, &why));
    cr_assert_str_eq(ev.order_id.ptr, "o-1");
    cr_assert_float_eq(ev.amount, 10.5, 0);
}

Test(hooks, cjson_outside_a_parse_uses_malloc)
{
    /* A tree from before the hooks were installed, and one from after, are
     * both freed with free() (ASan flags a mismatch or a leak). */
    cJSON *before = cJSON_Parse("{\"brokers\":\"localhost:9092\",\"n\":[1,2,3]}");
    cr_assert_not_null(before);
    ks_event_parser *p = ks_event_parser_new(4096);
    cJSON *after = cJSON_Parse("{\"redis\":\"redis://localhost:6379\"}");
    cr_assert_not_null(after);
    parse_ok(p);
    char *out = cJSON_PrintUnformatted(before);
    cr_assert_str_eq(out, "{\"brokers\":\"localhost:9092\",\"n\":[1,2,3]}");
    cJSON_free(out);
    parse_ok(p);
    cr_assert_str_eq(cJSON_GetObjectItemCaseSensitive(after, "redis")->valuestring,
                     "redis://localhost:6379");
    cJSON_Delete(before);
    cJSON_Delete(after);
    ks_event_parser_free(p);
}

static long counted_live;

static void *counting_malloc(size_t n)
{
    counted_live++;
    return malloc(n);
}

static void counting_free(void *p)
{
    if (p != NULL) counted_live--;
    free(p);
}

Test(hooks, replaced_hooks_still_parse_and_do_not_leak)
{
    /* Someone replaces the process-wide hooks: the parser notices that its
     * arena was bypassed and frees the malloc'd tree itself at the next parse
     * (or when freed). Counting hooks make a leak visible without LSan. */
    ks_event_parser *p = ks_event_parser_new(4096);
    cJSON_Hooks h = {.malloc_fn = counting_malloc, .free_fn = counting_free};
    cJSON_InitHooks(&h);
    /* A flat event takes the fast path, which allocates from the arena
     * only, never through the hooks. */
    parse_ok(p);
    cr_assert_eq(counted_live, 0, "the flat path allocated through cJSON's hooks");
    /* The hooks matter to the cJSON path: send everything there. */
    ks__event_parser_set_flat(p, false);
    for (int i = 0; i < 100; i++)
        parse_ok(p);
    cr_assert_gt(counted_live, 0, "the last tree is alive while its strings are borrowed");
    ks_event ev;
    ks_reject why;
    cr_assert_not(ks_event_parse(p, "{\"a\":", 5, &ev, &why));
    cr_assert_eq(why.code, KS_REJECT_MALFORMED_JSON);
    parse_ok(p);
    ks_event_parser_free(p);
    cr_assert_eq(counted_live, 0, "%ld cJSON allocations leaked", counted_live);
}

Test(arena, allocations_are_aligned_distinct_and_survive_growth)
{
    ks__arena a;
    cr_assert_eq(ks__arena_init(&a, 1024), 0);
    for (int round = 0; round < 3; round++) {
        unsigned char *ptrs[200];
        for (int i = 0; i < 200; i++) {
            size_t sz = (size_t)(i % 37) + 1;
            ptrs[i] = ks__arena_alloc(&a, sz);
            cr_assert_not_null(ptrs[i]);
            cr_assert_eq((uintptr_t)ptrs[i] % alignof(max_align_t), 0);
            memset(ptrs[i], i, sz);
        }
        /* Nothing overlapped: every block still holds its own byte. */
        for (int i = 0; i < 200; i++) {
            size_t sz = (size_t)(i % 37) + 1;
            for (size_t k = 0; k < sz; k++)
                cr_assert_eq(ptrs[i][k], (unsigned char)i);
        }
        void *big = ks__arena_alloc(&a, 100000);
        cr_assert_not_null(big);
        memset(big, 0xAB, 100000);
        ks__arena_reset(&a);
    }
    ks__arena_destroy(&a);
}

Test(arena, main_block_grows_to_what_a_message_needed)
{
    ks__arena a;
    cr_assert_eq(ks__arena_init(&a, 1024), 0);
    if (a.cap == 0) {
        ks__arena_destroy(&a);
        cr_skip_test("sanitizer build: one malloc per allocation by design");
    }
    for (int i = 0; i < 10; i++)
        ks__arena_alloc(&a, 512);
    cr_assert_not_null(a.chunks);
    ks__arena_reset(&a);
    cr_assert_null(a.chunks);
    cr_assert_geq(a.cap, 10 * 512);
    for (int i = 0; i < 10; i++)
        ks__arena_alloc(&a, 512);
    cr_assert_null(a.chunks, "the same load now fits in the main block");
    ks__arena_destroy(&a);
}

typedef struct {
    int id;
    int ok;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    ks_event_parser *p = ks_event_parser_new(4096);
    char msg[256], want[64];
    for (int i = 0; i < 20000; i++) {
        int n = snprintf(msg, sizeof(msg),
                         "{\"event_id\":\"t%d-e%d\",\"type\":\"refund\",\"customer_id\":\"t%d\","
                         "\"ts\":%d,\"amount\":%d}",
                         w->id, i, w->id, i, i + 1);
        ks_event ev;
        ks_reject why;
        if (!ks_event_parse(p, msg, (size_t)n, &ev, &why)) break;
        snprintf(want, sizeof(want), "t%d-e%d", w->id, i);
        if (strcmp(ev.event_id.ptr, want) != 0 || ev.ts_ms != i || ev.amount != i + 1) break;
        w->ok++;
    }
    ks_event_parser_free(p);
    return NULL;
}

Test(threads, one_parser_per_thread)
{
    pthread_t th[4];
    worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (worker){.id = i, .ok = 0};
        cr_assert_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(w[i].ok, 20000, "thread %d stopped at %d", i, w[i].ok);
    }
}
