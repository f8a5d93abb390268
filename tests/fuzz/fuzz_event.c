/* libFuzzer harness for the event parser. Not built by CMake or run in CI.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *       tests/fuzz/fuzz_event.c src/event/{event,arena,scan,rfc3339}.c \
 *       src/util/{err,hash,log}.c -lcjson -lm -o fuzz_event
 *   ./fuzz_event -max_len=4096 tests/fuzz/corpus_event
 *
 * Beyond "no crash", it checks invariants that must hold for any input:
 *  - accept xor a reject code; an accepted event has an event_id and a type;
 *  - every present string is NUL-terminated, 1..limit bytes, valid UTF-8 and
 *    contains no NUL;
 *  - the same bytes parse to the same result twice in a row (parser reuse);
 *  - anything accepted is valid UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kpistream/event.h"

static void check_str(ks_str s, uint32_t max)
{
    if (s.ptr == NULL) {
        if (s.len != 0) abort();
        return;
    }
    if (s.len == 0 || s.len > max || s.ptr[s.len] != '\0' || memchr(s.ptr, 0, s.len) != NULL ||
        !ks_utf8_valid(s.ptr, s.len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ks_event_parser *p;
    if (p == NULL) p = ks_event_parser_new(1 << 20);
    ks_event ev, ev2;
    ks_reject why, why2;
    bool ok = ks_event_parse(p, (const char *)data, size, &ev, &why);
    if (ok != (why.code == KS_REJECT_NONE)) abort();
    if (ok) {
        if (ev.event_id.ptr == NULL || ev.type >= KS_EV__COUNT) abort();
        if (!ks_utf8_valid((const char *)data, size)) abort();
        check_str(ev.event_id, KS_EVENT_ID_MAX);
        check_str(ev.customer_id, KS_EVENT_ID_MAX);
        check_str(ev.segment, KS_EVENT_ID_MAX);
        check_str(ev.channel, KS_EVENT_ID_MAX);
        check_str(ev.order_id, KS_EVENT_ID_MAX);
        check_str(ev.ticket_id, KS_EVENT_ID_MAX);
        check_str(ev.referred_id, KS_EVENT_ID_MAX);
        check_str(ev.category, KS_EVENT_TEXT_MAX);
        check_str(ev.product, KS_EVENT_TEXT_MAX);
        check_str(ev.campaign, KS_EVENT_TEXT_MAX);
        check_str(ev.action_text, KS_EVENT_TEXT_MAX);
        if (ev.type != KS_EV_MARKETING_SPEND && ev.customer_id.ptr == NULL) abort();
        if (ev.ts_ms < 0 || ev.ts_ms > INT64_C(253402300799999)) abort();
    }
    char r1[64], r2[64];
    ks_reject_format(&why, r1, sizeof(r1));
    bool ok2 = ks_event_parse(p, (const char *)data, size, &ev2, &why2);
    ks_reject_format(&why2, r2, sizeof(r2));
    if (ok2 != ok || strcmp(r1, r2) != 0) abort();
    return 0;
}
