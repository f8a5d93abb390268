/* Customer events: the parsed, validated form of one Kafka message.
 *
 * The wire format (JSON) is described in docs/events.md. A ks_event never owns
 * memory: every ks_str points into the parser that produced it and is valid
 * until that parser's next ks_event_parse() call or ks_event_parser_free().
 */
#ifndef KPISTREAM_EVENT_H
#define KPISTREAM_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length limits (bytes, after JSON unescaping) of string fields: identifiers
 * and the segment/channel labels, and the free-text labels (category, product,
 * campaign, interaction action). Every string field must be at least 1 byte. */
#define KS_EVENT_ID_MAX 128
#define KS_EVENT_TEXT_MAX 256

/* Largest accepted `amount`, in the events' money unit (inclusive). Amounts
 * are summed downstream in int64 micro-units (1e-6): 1e9 units is 1e15
 * micro-units, below 2^53 (so the conversion from double is precise to the
 * micro-unit) and 9,223 such amounts short of int64's limit. */
#define KS_EVENT_AMOUNT_MAX 1e9

/* Structural limits of a message: members of the event object (every member,
 * extra fields included), and levels of nested objects/arrays, the event
 * object itself being level 1. */
#define KS_EVENT_FIELDS_MAX 64
#define KS_EVENT_DEPTH_MAX 8

/** A borrowed byte string: not owned, NUL-terminated for convenience. */
typedef struct ks_str {
    const char *ptr; /* NULL when absent */
    uint32_t len;
} ks_str;

#define KS_EVENT_TYPES(X)                                                      \
    X(SIGNUP, "signup")                                                        \
    X(INTERACTION, "interaction")                                              \
    X(PURCHASE, "purchase")                                                    \
    X(REFUND, "refund")                                                        \
    X(SUBSCRIPTION, "subscription")                                            \
    X(PAYMENT_FAILED, "payment_failed")                                        \
    X(TICKET, "ticket")                                                        \
    X(SURVEY, "survey")                                                        \
    X(LEAD, "lead")                                                            \
    X(MARKETING_SPEND, "marketing_spend")                                      \
    X(RETENTION_SPEND, "retention_spend")                                      \
    X(REFERRAL, "referral")

typedef enum ks_event_type {
#define KS__EV_ENUM(name, str) KS_EV_##name,
    KS_EVENT_TYPES(KS__EV_ENUM)
#undef KS__EV_ENUM
        KS_EV__COUNT
} ks_event_type;

/* The `action` of subscription, ticket and lead events. */
typedef enum ks_action {
    KS_ACT_NONE = 0,
    KS_ACT_SUB_START,
    KS_ACT_SUB_RENEW,
    KS_ACT_SUB_UPGRADE,
    KS_ACT_SUB_DOWNGRADE,
    KS_ACT_SUB_CANCEL,
    KS_ACT_TICKET_OPENED,
    KS_ACT_TICKET_RESPONDED,
    KS_ACT_TICKET_RESOLVED,
    KS_ACT_LEAD_CREATED,
    KS_ACT_LEAD_CONVERTED,
} ks_action;

typedef enum ks_survey_kind { KS_SURVEY_NONE = 0, KS_SURVEY_CSAT, KS_SURVEY_NPS } ks_survey_kind;

typedef struct ks_event {
    ks_event_type type;
    int64_t ts_ms;           /* event time, epoch milliseconds (UTC) */
    ks_str event_id;         /* always present */
    ks_str customer_id;      /* absent only for marketing_spend */
    ks_str segment;          /* optional */
    ks_str channel;          /* optional */
    ks_str order_id;         /* purchase (required), refund (optional) */
    ks_str category;         /* purchase, ticket (optional) */
    ks_str product;          /* purchase (optional) */
    ks_str ticket_id;        /* ticket (required) */
    ks_str campaign;         /* marketing_spend (optional) */
    ks_str referred_id;      /* referral (optional) */
    ks_str action_text;      /* interaction: free-form `action` (optional) */
    ks_action action;        /* subscription, ticket (required), lead (required) */
    double amount;           /* purchase/refund (> 0), spends (>= 0), payment_failed (optional) */
    int64_t amount_micro;    /* the same in micro-units (10^-6), exact: rounded half up on the
                                number's decimal text, not on the double (0.0000005 -> 1) */
    bool has_amount;
    bool complaint;          /* ticket opened: `complaint` (default false) */
    ks_survey_kind survey_kind;
    int score;               /* survey: csat 1-5, nps 0-10 */
} ks_event;

/** Returns the wire name of an event type ("purchase"), or "?" if out of range. */
const char *ks_event_type_name(ks_event_type t);

/* Rejection reasons: the `kpistream.error` header value of dead-lettered
 * messages is ks_reject_code_name(code), followed by ":<field>" for the
 * codes that name a field (missing_field, bad_type, bad_value,
 * duplicate_field, too_many_names). The field is always one of the schema's wire names
 * ("event_id", "amount", ...), never bytes of the message, so the set of
 * reason strings is fixed and small. */
#define KS_REJECT_CODES(X)                                                     \
    X(NONE, "none")                                                            \
    X(MALFORMED_JSON, "malformed_json")                                        \
    X(TOO_LARGE, "too_large")                                                  \
    X(BAD_UTF8, "bad_utf8")                                                    \
    X(MISSING_FIELD, "missing_field")                                          \
    X(BAD_TYPE, "bad_type")                                                    \
    X(BAD_VALUE, "bad_value")                                                  \
    X(UNKNOWN_TYPE, "unknown_type")                                            \
    X(FUTURE_TIMESTAMP, "future_timestamp")                                    \
    X(TOO_OLD, "too_old")                                                      \
    X(TOO_DEEP, "too_deep")                                                    \
    X(TOO_MANY_FIELDS, "too_many_fields")                                      \
    X(DUPLICATE_FIELD, "duplicate_field")                                      \
    X(NUL_CHARACTER, "nul_character")                                          \
    X(TOO_MANY_NAMES, "too_many_names")

typedef enum ks_reject_code {
#define KS__REJ_ENUM(name, str) KS_REJECT_##name,
    KS_REJECT_CODES(KS__REJ_ENUM)
#undef KS__REJ_ENUM
        KS_REJECT__COUNT
} ks_reject_code;

typedef struct ks_reject {
    ks_reject_code code;
    char field[32]; /* MISSING_FIELD/BAD_TYPE/BAD_VALUE/DUPLICATE_FIELD/
                       TOO_MANY_NAMES: the field's wire name (a schema name,
                       never message bytes) */
} ks_reject;

/** Returns the reason-code name ("missing_field"); static, never NULL. */
const char *ks_reject_code_name(ks_reject_code code);

/** Writes the full reason ("missing_field:customer_id") into buf; returns buf.
 *  A field that is not one of the schema's names is left out ("bad_value"). */
char *ks_reject_format(const ks_reject *r, char *buf, size_t size);

typedef struct ks_event_parser ks_event_parser;

/** Creates a parser that rejects messages longer than max_bytes with too_large.
 *  Returns NULL on allocation failure. Caller owns it; free with ks_event_parser_free(). */
ks_event_parser *ks_event_parser_new(size_t max_bytes);

/** Frees the parser and invalidates every ks_event it produced. NULL is ignored. */
void ks_event_parser_free(ks_event_parser *p);

/** Parses and validates one message (not NUL-terminated; len bytes).
 *  Returns true and fills *ev, or false and fills *why (and zeroes *ev). Checks
 *  size, UTF-8, JSON syntax and depth, the object's members (count, U+0000,
 *  repeated names), the envelope and each type's fields, in that order, as
 *  documented in docs/events.md; it does not judge the timestamp
 *  against a clock (that is the engine's job: too_old/future). No malloc in
 *  steady state. Not thread-safe: use one parser per thread.
 *  Borrowed: strings in *ev point into p and are valid until the next call on
 *  p or ks_event_parser_free(p); buf is not referenced after the call. */
bool ks_event_parse(ks_event_parser *p, const char *buf, size_t len, ks_event *ev, ks_reject *why);

/** Parses an RFC 3339 timestamp with offset ("2026-11-23T10:00:00.250+01:00")
 *  into epoch ms (fractions truncated to ms). s need not be NUL-terminated.
 *  Returns true on success; false, leaving *out_ms untouched, for bad syntax,
 *  an impossible date, a missing offset, or a time outside 1970..9999 UTC. */
bool ks_parse_rfc3339(const char *s, size_t len, int64_t *out_ms);

/** Returns true if buf[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool ks_utf8_valid(const char *buf, size_t len);

#endif
