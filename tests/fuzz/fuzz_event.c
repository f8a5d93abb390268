/* libFuzzer target: the event parser and validator (ks_event_parse).
 * Built by the fuzz build (tests/fuzz/README.md: make fuzz, make test).
 *
 * Beyond "no crash" and no ASan/UBSan report, it checks invariants that must
 * hold for any input:
 *  - accept xor a reject code; an accepted event has an event_id and a type;
 *  - every present string is NUL-terminated, 1..limit bytes, valid UTF-8 and
 *    contains no NUL; ts within 1970..9999; amount finite, within 0..1e9;
 *    a survey score in its scale;
 *  - the reason is one of the fixed set of docs/events.md: a code the parser
 *    gives (never future_timestamp/too_old: those are the engine's), with
 *    ":<field>" exactly for the codes that name a field, the field one of the
 *    schema's names, never bytes of the message;
 *  - the same bytes parse to the same result twice in a row (parser reuse);
 *  - the flat fast path (src/event/flat.c) and cJSON, its reference, give
 *    the same verdict, reason and event, byte for byte;
 *  - anything accepted is valid UTF-8.
 * libFuzzer hands the input in a heap buffer of exactly its size, so ASan
 * catches a read past the message's end. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event/event_internal.h"
#include "kpistream/event.h"

/* The schema's field names (docs/events.md): the only words allowed after a
 * reason's colon. */
static const char *const schema_fields[] = {
    "event_id", "type",     "customer_id", "ts",        "segment", "channel",
    "order_id", "amount",   "category",    "product",   "action",  "ticket_id",
    "complaint", "kind",    "score",       "campaign",  "referred_customer_id",
};

static bool is_schema_field(const char *f)
{
    for (size_t i = 0; i < sizeof schema_fields / sizeof schema_fields[0]; i++)
        if (strcmp(f, schema_fields[i]) == 0) return true;
    return false;
}

/* Aborts unless r, formatted as text, is one of the fixed reasons. */
static void check_reason(const ks_reject *r, const char *text)
{
    switch (r->code) {
    case KS_REJECT_MALFORMED_JSON:
    case KS_REJECT_TOO_LARGE:
    case KS_REJECT_BAD_UTF8:
    case KS_REJECT_UNKNOWN_TYPE:
    case KS_REJECT_TOO_DEEP:
    case KS_REJECT_TOO_MANY_FIELDS:
    case KS_REJECT_NUL_CHARACTER:
        if (strcmp(text, ks_reject_code_name(r->code)) != 0) abort();
        return;
    case KS_REJECT_MISSING_FIELD:
    case KS_REJECT_BAD_TYPE:
    case KS_REJECT_BAD_VALUE:
    case KS_REJECT_DUPLICATE_FIELD:
    case KS_REJECT_TOO_MANY_NAMES: {
        const char *name = ks_reject_code_name(r->code);
        size_t nl = strlen(name);
        if (strncmp(text, name, nl) != 0 || text[nl] != ':') abort();
        if (!is_schema_field(text + nl + 1)) abort();
        if (memchr(r->field, '\0', sizeof r->field) == NULL) abort();
        if (strcmp(r->field, text + nl + 1) != 0) abort();
        return;
    }
    default: /* none on a reject, future_timestamp, too_old, out of range */
        abort();
    }
}

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

static bool same_str(ks_str a, ks_str b)
{
    return (a.ptr == NULL) == (b.ptr == NULL) &&
           (a.ptr == NULL || (a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0));
}

static bool same_event(const ks_event *a, const ks_event *b)
{
    return a->type == b->type && a->ts_ms == b->ts_ms && a->action == b->action &&
           memcmp(&a->amount, &b->amount, sizeof a->amount) == 0 &&
           a->amount_micro == b->amount_micro && a->has_amount == b->has_amount &&
           a->complaint == b->complaint && a->survey_kind == b->survey_kind &&
           a->score == b->score && same_str(a->event_id, b->event_id) &&
           same_str(a->customer_id, b->customer_id) && same_str(a->segment, b->segment) &&
           same_str(a->channel, b->channel) && same_str(a->order_id, b->order_id) &&
           same_str(a->category, b->category) && same_str(a->product, b->product) &&
           same_str(a->ticket_id, b->ticket_id) && same_str(a->campaign, b->campaign) &&
           same_str(a->referred_id, b->referred_id) && same_str(a->action_text, b->action_text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ks_event_parser *p, *ref;
    if (p == NULL) {
        p = ks_event_parser_new(1 << 20);
        ref = ks_event_parser_new(1 << 20);
        ks__event_parser_set_flat(ref, false);
    }
    ks_event ev, ev2, evr;
    ks_reject why, why2, whyr;
    bool ok = ks_event_parse(p, (const char *)data, size, &ev, &why);
    if (ok != (why.code == KS_REJECT_NONE)) abort();
    bool okr = ks_event_parse(ref, (const char *)data, size, &evr, &whyr);
    if (okr != ok || whyr.code != why.code || strcmp(whyr.field, why.field) != 0) abort();
    if (ok && !same_event(&ev, &evr)) abort();
    char r1[64], r2[64];
    ks_reject_format(&why, r1, sizeof(r1));
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
        if (ev.has_amount && (!isfinite(ev.amount) || ev.amount < 0 ||
                              ev.amount > KS_EVENT_AMOUNT_MAX))
            abort();
        if (ev.type == KS_EV_SURVEY &&
            !((ev.survey_kind == KS_SURVEY_CSAT && ev.score >= 1 && ev.score <= 5) ||
              (ev.survey_kind == KS_SURVEY_NPS && ev.score >= 0 && ev.score <= 10)))
            abort();
        if (strcmp(r1, "none") != 0) abort();
    } else {
        check_reason(&why, r1);
    }
    bool ok2 = ks_event_parse(p, (const char *)data, size, &ev2, &why2);
    ks_reject_format(&why2, r2, sizeof(r2));
    if (ok2 != ok || strcmp(r1, r2) != 0) abort();
    return 0;
}
