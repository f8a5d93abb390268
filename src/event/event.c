/* Event parsing and validation: bytes of one Kafka message -> ks_event.
 *
 * Pipeline, cheapest and most fundamental check first, so the reason reported
 * is the first rule the message breaks:
 *
 *   size > max_bytes ........................ too_large
 *   prescan (UTF-8, JSON strictness) ........ bad_utf8 / malformed_json
 *   bracket depth > KS_EVENT_DEPTH_MAX ...... too_deep
 *   cJSON parse into the parser's arena ..... malformed_json (also: not an
 *                                             object, trailing bytes)
 *   members > KS_EVENT_FIELDS_MAX ........... too_many_fields
 *   \u0000 in a top-level member ............ bad_value:<known field> when in
 *                                             the value of a field we know,
 *                                             else nul_character
 *   a known field name twice ................ duplicate_field:<field>
 *   envelope: event_id, type, customer_id, ts, segment, channel
 *   the type's own fields, in contract order
 *
 * Field lookup is one pass over the top-level members into a slot per known
 * field name. Names are case-sensitive. Members that are not fields of the
 * event's type are ignored without being looked at, so producers can add
 * fields before consumers know them. A JSON null counts as an absent field.
 *
 * Reasons name fields only by the static names of the schema (ks__field_names),
 * never with bytes of the message: a reason is one of a fixed, small set of
 * strings, safe as a Kafka header, a log word or a metric label. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "event/event_internal.h"

struct ks_event_parser {
    size_t max_bytes;
    ks__arena arena;
    /* A tree cJSON allocated outside the arena because someone replaced the
     * hooks (cJSON_InitHooks is process-global); freed at the next parse. */
    cJSON *foreign_root;
    bool no_flat; /* tests: every message through cJSON (flat.c's reference) */
};

void ks__event_parser_set_flat(ks_event_parser *p, bool on)
{
    p->no_flat = !on;
}

/* ---- names ---- */

const char *ks_event_type_name(ks_event_type t)
{
    switch (t) {
#define KS__EV_NAME(name, str)                                                                     \
    case KS_EV_##name:                                                                             \
        return str;
        KS_EVENT_TYPES(KS__EV_NAME)
#undef KS__EV_NAME
    default:
        return "?";
    }
}

const char *ks_reject_code_name(ks_reject_code code)
{
    switch (code) {
#define KS__REJ_NAME(name, str)                                                                    \
    case KS_REJECT_##name:                                                                         \
        return str;
        KS_REJECT_CODES(KS__REJ_NAME)
#undef KS__REJ_NAME
    default:
        return "unknown";
    }
}

static const char *ks__known_field(const char *field, size_t size);

char *ks_reject_format(const ks_reject *r, char *buf, size_t size)
{
    if (buf == NULL || size == 0) return buf;
    const char *name = ks_reject_code_name(r->code);
    bool with_field = r->code == KS_REJECT_MISSING_FIELD || r->code == KS_REJECT_BAD_TYPE ||
                      r->code == KS_REJECT_BAD_VALUE || r->code == KS_REJECT_DUPLICATE_FIELD ||
                      r->code == KS_REJECT_TOO_MANY_NAMES;
    /* Only a schema name is ever written after the colon, whatever r holds. */
    const char *field = with_field ? ks__known_field(r->field, sizeof(r->field)) : NULL;
    if (field != NULL)
        snprintf(buf, size, "%s:%s", name, field);
    else
        snprintf(buf, size, "%s", name);
    return buf;
}

/* ---- parser lifecycle ---- */

ks_event_parser *ks_event_parser_new(size_t max_bytes)
{
    ks__json_hooks_install();
    ks_event_parser *p = calloc(1, sizeof(*p));
    if (p == NULL) return NULL;
    p->max_bytes = max_bytes;
    if (ks__arena_init(&p->arena, KS__ARENA_INITIAL) != 0) {
        free(p);
        return NULL;
    }
    return p;
}

static void ks__release_tree(ks_event_parser *p)
{
    if (p->foreign_root != NULL) {
        cJSON_Delete(p->foreign_root);
        p->foreign_root = NULL;
    }
    ks__arena_reset(&p->arena);
}

void ks_event_parser_free(ks_event_parser *p)
{
    if (p == NULL) return;
    ks__release_tree(p);
    ks__arena_destroy(&p->arena);
    free(p);
}

/* ---- fields ---- */

#define KS__FIELDS(X)                                                                              \
    X(EVENT_ID, "event_id")                                                                        \
    X(TYPE, "type")                                                                                \
    X(CUSTOMER_ID, "customer_id")                                                                  \
    X(TS, "ts")                                                                                    \
    X(SEGMENT, "segment")                                                                          \
    X(CHANNEL, "channel")                                                                          \
    X(ORDER_ID, "order_id")                                                                        \
    X(AMOUNT, "amount")                                                                            \
    X(CATEGORY, "category")                                                                        \
    X(PRODUCT, "product")                                                                          \
    X(ACTION, "action")                                                                            \
    X(TICKET_ID, "ticket_id")                                                                      \
    X(COMPLAINT, "complaint")                                                                      \
    X(KIND, "kind")                                                                                \
    X(SCORE, "score")                                                                              \
    X(CAMPAIGN, "campaign")                                                                        \
    X(REFERRED, "referred_customer_id")

enum {
#define KS__F_ENUM(name, str) F_##name,
    KS__FIELDS(KS__F_ENUM)
#undef KS__F_ENUM
        F__COUNT
};

static const char *const ks__field_names[F__COUNT] = {
#define KS__F_STR(name, str) str,
    KS__FIELDS(KS__F_STR)
#undef KS__F_STR
};

_Static_assert(F__COUNT <= KS__FLAT_FIELDS, "the fast path has a slot per field");

int ks__field_index_n(const char *k, size_t len)
{
    /* By length, then the few names of that length, each compared whole
     * (the fast path knows a name's length: no strcmp call a member). */
#define KS__IS_N(idx, lit) \
    if (memcmp(k, lit, sizeof lit - 1) == 0) return (idx)
    switch (len) {
    case 2:
        KS__IS_N(F_TS, "ts");
        break;
    case 4:
        KS__IS_N(F_TYPE, "type");
        KS__IS_N(F_KIND, "kind");
        break;
    case 5:
        KS__IS_N(F_SCORE, "score");
        break;
    case 6:
        KS__IS_N(F_AMOUNT, "amount");
        KS__IS_N(F_ACTION, "action");
        break;
    case 7:
        KS__IS_N(F_SEGMENT, "segment");
        KS__IS_N(F_CHANNEL, "channel");
        KS__IS_N(F_PRODUCT, "product");
        break;
    case 8:
        KS__IS_N(F_EVENT_ID, "event_id");
        KS__IS_N(F_ORDER_ID, "order_id");
        KS__IS_N(F_CATEGORY, "category");
        KS__IS_N(F_CAMPAIGN, "campaign");
        break;
    case 9:
        KS__IS_N(F_TICKET_ID, "ticket_id");
        KS__IS_N(F_COMPLAINT, "complaint");
        break;
    case 11:
        KS__IS_N(F_CUSTOMER_ID, "customer_id");
        break;
    case 20:
        KS__IS_N(F_REFERRED, "referred_customer_id");
        break;
    default:
        break;
    }
    return -1;
#undef KS__IS_N
}

/* Returns the slot of a member name (a C string), or -1 for names we do not
 * read. */
static int ks__field_index(const char *k)
{
    return ks__field_index_n(k, strlen(k));
}

/* The static wire name equal to field[0..size) (NUL-terminated within it),
 * or NULL. */
static const char *ks__known_field(const char *field, size_t size)
{
    if (memchr(field, '\0', size) == NULL) return NULL;
    int idx = ks__field_index(field);
    return idx >= 0 ? ks__field_names[idx] : NULL;
}

static bool ks__reject(ks_reject *why, ks_reject_code code, int field)
{
    why->code = code;
    why->field[0] = '\0';
    if (field >= 0) snprintf(why->field, sizeof(why->field), "%s", ks__field_names[field]);
    return false;
}

static bool ks__is_absent(const cJSON *it)
{
    return it == NULL || (it->type & 0xFF) == cJSON_NULL;
}

/* Reads a string field into *out (left {NULL,0} when absent and optional). */
static bool ks__get_str(cJSON *const *f, int idx, bool required, size_t max, ks_str *out,
                        ks_reject *why)
{
    const cJSON *it = f[idx];
    if (ks__is_absent(it)) return required ? ks__reject(why, KS_REJECT_MISSING_FIELD, idx) : true;
    if ((it->type & 0xFF) != cJSON_String) return ks__reject(why, KS_REJECT_BAD_TYPE, idx);
    size_t len = strlen(it->valuestring);
    if (len == 0 || len > max) return ks__reject(why, KS_REJECT_BAD_VALUE, idx);
    out->ptr = it->valuestring;
    out->len = (uint32_t)len;
    return true;
}

/* Reads a finite number; *present says whether the field was there. */
static bool ks__get_num(cJSON *const *f, int idx, bool required, double *out, bool *present,
                        ks_reject *why)
{
    const cJSON *it = f[idx];
    *present = false;
    if (ks__is_absent(it)) return required ? ks__reject(why, KS_REJECT_MISSING_FIELD, idx) : true;
    if ((it->type & 0xFF) != cJSON_Number) return ks__reject(why, KS_REJECT_BAD_TYPE, idx);
    /* strtod turns 1e400 into inf. */
    if (!isfinite(it->valuedouble)) return ks__reject(why, KS_REJECT_BAD_VALUE, idx);
    *out = it->valuedouble;
    *present = true;
    return true;
}

/* Reads `amount`: required or not, with a lower bound that is exclusive (> 0)
 * or inclusive (>= 0), and at most KS_EVENT_AMOUNT_MAX, so that no accepted
 * amount can overflow the int64 micro-unit sums it feeds. */
static bool ks__get_amount(cJSON *const *f, bool required, bool positive, ks_event *ev,
                           ks_reject *why)
{
    double v = 0;
    bool present;
    if (!ks__get_num(f, F_AMOUNT, required, &v, &present, why)) return false;
    if (!present) return true;
    if ((positive ? !(v > 0) : !(v >= 0)) || !(v <= KS_EVENT_AMOUNT_MAX))
        return ks__reject(why, KS_REJECT_BAD_VALUE, F_AMOUNT);
    ev->amount = v;
    ev->has_amount = true;
    return true;
}

/* Matches a required string field against a table of accepted words. */
typedef struct {
    const char *word;
    int value;
} word_map;

static bool ks__get_word(cJSON *const *f, int idx, const word_map *map, size_t nmap, int *out,
                         ks_reject *why)
{
    ks_str s = {0};
    if (!ks__get_str(f, idx, true, KS_EVENT_TEXT_MAX, &s, why)) return false;
    for (size_t i = 0; i < nmap; i++) {
        if (strcmp(s.ptr, map[i].word) == 0) {
            *out = map[i].value;
            return true;
        }
    }
    return ks__reject(why, KS_REJECT_BAD_VALUE, idx);
}

static bool ks__get_ts(cJSON *const *f, ks_event *ev, ks_reject *why)
{
    const cJSON *it = f[F_TS];
    if (ks__is_absent(it)) return ks__reject(why, KS_REJECT_MISSING_FIELD, F_TS);
    if ((it->type & 0xFF) == cJSON_Number) {
        double v = it->valuedouble;
        /* An integral number of ms within years 1970..9999. The range test
         * also rejects NaN/inf and makes the int64 conversion exact. */
        if (!(v >= (double)KS__TS_MIN_MS && v <= (double)KS__TS_MAX_MS) || v != floor(v))
            return ks__reject(why, KS_REJECT_BAD_VALUE, F_TS);
        ev->ts_ms = (int64_t)v;
        return true;
    }
    if ((it->type & 0xFF) == cJSON_String) {
        if (!ks_parse_rfc3339(it->valuestring, strlen(it->valuestring), &ev->ts_ms))
            return ks__reject(why, KS_REJECT_BAD_VALUE, F_TS);
        return true;
    }
    return ks__reject(why, KS_REJECT_BAD_TYPE, F_TS);
}

static bool ks__get_type(cJSON *const *f, ks_event *ev, ks_reject *why)
{
    static const char *const names[KS_EV__COUNT] = {
#define KS__EV_STR(name, str) str,
        KS_EVENT_TYPES(KS__EV_STR)
#undef KS__EV_STR
    };
    const cJSON *it = f[F_TYPE];
    if (ks__is_absent(it)) return ks__reject(why, KS_REJECT_MISSING_FIELD, F_TYPE);
    if ((it->type & 0xFF) != cJSON_String) return ks__reject(why, KS_REJECT_BAD_TYPE, F_TYPE);
    /* The first byte narrows the twelve names to at most three. */
    const char *v = it->valuestring;
    for (int t = 0; t < KS_EV__COUNT; t++) {
        if (v[0] == names[t][0] && strcmp(v, names[t]) == 0) {
            ev->type = (ks_event_type)t;
            return true;
        }
    }
    return ks__reject(why, KS_REJECT_UNKNOWN_TYPE, -1);
}

static const word_map ks__sub_actions[] = {
    {"start", KS_ACT_SUB_START},     {"renew", KS_ACT_SUB_RENEW},
    {"upgrade", KS_ACT_SUB_UPGRADE}, {"downgrade", KS_ACT_SUB_DOWNGRADE},
    {"cancel", KS_ACT_SUB_CANCEL},
};
static const word_map ks__ticket_actions[] = {
    {"opened", KS_ACT_TICKET_OPENED},
    {"responded", KS_ACT_TICKET_RESPONDED},
    {"resolved", KS_ACT_TICKET_RESOLVED},
};
static const word_map ks__lead_actions[] = {
    {"created", KS_ACT_LEAD_CREATED},
    {"converted", KS_ACT_LEAD_CONVERTED},
};
static const word_map ks__survey_kinds[] = {
    {"csat", KS_SURVEY_CSAT},
    {"nps", KS_SURVEY_NPS},
};

#define KS__N(a) (sizeof(a) / sizeof((a)[0]))

static bool ks__get_action(cJSON *const *f, const word_map *map, size_t n, ks_event *ev,
                           ks_reject *why)
{
    int v = 0;
    if (!ks__get_word(f, F_ACTION, map, n, &v, why)) return false;
    ev->action = (ks_action)v;
    return true;
}

static bool ks__get_survey(cJSON *const *f, ks_event *ev, ks_reject *why)
{
    int kind = 0;
    if (!ks__get_word(f, F_KIND, ks__survey_kinds, KS__N(ks__survey_kinds), &kind, why))
        return false;
    double v = 0;
    bool present;
    if (!ks__get_num(f, F_SCORE, true, &v, &present, why)) return false;
    int lo = kind == KS_SURVEY_CSAT ? 1 : 0, hi = kind == KS_SURVEY_CSAT ? 5 : 10;
    /* 4 and 4.0 are the same JSON number; 4.5 is not a score. */
    if (v != floor(v) || v < lo || v > hi) return ks__reject(why, KS_REJECT_BAD_VALUE, F_SCORE);
    ev->survey_kind = (ks_survey_kind)kind;
    ev->score = (int)v;
    return true;
}

static bool ks__get_ticket(cJSON *const *f, ks_event *ev, ks_reject *why)
{
    if (!ks__get_str(f, F_TICKET_ID, true, KS_EVENT_ID_MAX, &ev->ticket_id, why) ||
        !ks__get_action(f, ks__ticket_actions, KS__N(ks__ticket_actions), ev, why))
        return false;
    const cJSON *c = f[F_COMPLAINT];
    if (!ks__is_absent(c)) {
        int t = c->type & 0xFF;
        if (t != cJSON_True && t != cJSON_False)
            return ks__reject(why, KS_REJECT_BAD_TYPE, F_COMPLAINT);
        /* A complaint is a property of opening a ticket; on later actions the
         * flag is checked for type but carries no meaning. */
        ev->complaint = t == cJSON_True && ev->action == KS_ACT_TICKET_OPENED;
    }
    return ks__get_str(f, F_CATEGORY, false, KS_EVENT_TEXT_MAX, &ev->category, why);
}

/* The member-level rules, in their documented order: the number of members,
 * U+0000 (has_nul: the prescan saw a \u0000 escape), duplicated field names.
 * Fills f with the member of each known field name. */
static bool ks__members(cJSON *root, const unsigned char *b, size_t len, bool has_nul,
                        cJSON *f[F__COUNT], ks_reject *why)
{
    size_t count = 0;
    int dup = -1;
    for (cJSON *c = root->child; c != NULL; c = c->next) {
        if (++count > KS_EVENT_FIELDS_MAX) return ks__reject(why, KS_REJECT_TOO_MANY_FIELDS, -1);
        int idx = ks__field_index(c->string);
        if (idx < 0) continue;
        if (f[idx] == NULL)
            f[idx] = c;
        else if (dup < 0)
            dup = idx;
    }
    if (has_nul) {
        /* cJSON ends its C strings at the first NUL, so "a\u0000b" would read
         * as "a" (and a key "type\u0000x" as "type"). Refuse rather than
         * guess. A NUL in the value of a field we know names that field; one
         * in a member name, or in an extra member, gets a fixed code: the
         * name is the producer's, and is never echoed. */
        size_t ordinal = 0;
        bool in_key = true;
        int idx = -1;
        if (ks__json_nul_member(b, len, &ordinal, &in_key) && !in_key) {
            const cJSON *c = root->child;
            for (size_t k = 0; c != NULL && k < ordinal; k++)
                c = c->next;
            if (c != NULL) idx = ks__field_index(c->string);
        }
        return idx >= 0 ? ks__reject(why, KS_REJECT_BAD_VALUE, idx)
                        : ks__reject(why, KS_REJECT_NUL_CHARACTER, -1);
    }
    /* Two values for one field: producers' JSON libraries disagree on which
     * one counts (first, last, error), so neither is guessed. */
    if (dup >= 0) return ks__reject(why, KS_REJECT_DUPLICATE_FIELD, dup);
    return true;
}

static bool ks__validate(cJSON *const *f, ks_event *ev, ks_reject *why)
{
    if (!ks__get_str(f, F_EVENT_ID, true, KS_EVENT_ID_MAX, &ev->event_id, why) ||
        !ks__get_type(f, ev, why))
        return false;
    /* Marketing spend belongs to no customer: a customer_id there is ignored
     * like any extra field, so it cannot make the event count for one. */
    if (ev->type != KS_EV_MARKETING_SPEND &&
        !ks__get_str(f, F_CUSTOMER_ID, true, KS_EVENT_ID_MAX, &ev->customer_id, why))
        return false;
    if (!ks__get_ts(f, ev, why) ||
        !ks__get_str(f, F_SEGMENT, false, KS_EVENT_ID_MAX, &ev->segment, why) ||
        !ks__get_str(f, F_CHANNEL, false, KS_EVENT_ID_MAX, &ev->channel, why))
        return false;

    switch (ev->type) {
    case KS_EV_SIGNUP:
        return true;
    case KS_EV_INTERACTION:
        return ks__get_str(f, F_ACTION, false, KS_EVENT_TEXT_MAX, &ev->action_text, why);
    case KS_EV_PURCHASE:
        return ks__get_str(f, F_ORDER_ID, true, KS_EVENT_ID_MAX, &ev->order_id, why) &&
               ks__get_amount(f, true, true, ev, why) &&
               ks__get_str(f, F_CATEGORY, false, KS_EVENT_TEXT_MAX, &ev->category, why) &&
               ks__get_str(f, F_PRODUCT, false, KS_EVENT_TEXT_MAX, &ev->product, why);
    case KS_EV_REFUND:
        return ks__get_amount(f, true, true, ev, why) &&
               ks__get_str(f, F_ORDER_ID, false, KS_EVENT_ID_MAX, &ev->order_id, why);
    case KS_EV_SUBSCRIPTION:
        return ks__get_action(f, ks__sub_actions, KS__N(ks__sub_actions), ev, why);
    case KS_EV_PAYMENT_FAILED:
        return ks__get_amount(f, false, false, ev, why);
    case KS_EV_TICKET:
        return ks__get_ticket(f, ev, why);
    case KS_EV_SURVEY:
        return ks__get_survey(f, ev, why);
    case KS_EV_LEAD:
        return ks__get_action(f, ks__lead_actions, KS__N(ks__lead_actions), ev, why);
    case KS_EV_MARKETING_SPEND:
        return ks__get_amount(f, true, false, ev, why) &&
               ks__get_str(f, F_CAMPAIGN, false, KS_EVENT_TEXT_MAX, &ev->campaign, why);
    case KS_EV_RETENTION_SPEND:
        return ks__get_amount(f, true, false, ev, why);
    case KS_EV_REFERRAL:
        return ks__get_str(f, F_REFERRED, false, KS_EVENT_ID_MAX, &ev->referred_id, why);
    default:
        return ks__reject(why, KS_REJECT_UNKNOWN_TYPE, -1);
    }
}

/* The amount in micro-units from the number's text b[off, off+n) (cJSON keeps
 * only the double). At most KS_EVENT_AMOUNT_MAX once rounded to the
 * micro-unit. */
static bool ks__amount_text(const unsigned char *b, size_t off, size_t n, ks_event *ev)
{
    int64_t m = 0;
    if (!ks__decimal_micro((const char *)b + off, n, &m))
        return false;
    if (m > (int64_t)(KS_EVENT_AMOUNT_MAX * 1e6) || m < 0)
        return false;
    ev->amount_micro = m;
    return true;
}

/* The same for cJSON's tree: the member's position among the root's members
 * finds its text in the message. */
static bool ks__amount_micro(const cJSON *root, const cJSON *item, const unsigned char *b,
                             size_t len, ks_event *ev)
{
    size_t ordinal = 0, off = 0, n = 0;
    for (const cJSON *c = root->child; c != NULL && c != item; c = c->next)
        ordinal++;
    return ks__json_member_value(b, len, ordinal, &off, &n) && ks__amount_text(b, off, n, ev);
}

static bool ks__json_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool ks_event_parse(ks_event_parser *p, const char *buf, size_t len, ks_event *ev, ks_reject *why)
{
    memset(ev, 0, sizeof(*ev));
    why->code = KS_REJECT_NONE;
    why->field[0] = '\0';
    ks__release_tree(p);

    if (len > p->max_bytes) {
        why->code = KS_REJECT_TOO_LARGE;
        return false;
    }
    const unsigned char *b = (const unsigned char *)buf;
    /* A flat object (nearly every event) is read in one pass, without cJSON
     * and without the prescan, whose checks that pass makes itself on all it
     * accepts (flat.c), and without a tree: the member rules are judged on
     * what it counted, as ks__members judges cJSON's tree. Anything else:
     * the prescan, then cJSON. */
    cJSON nodes[KS__FLAT_FIELDS];
    ks__flat fl = {.node = nodes};
    cJSON *f[F__COUNT] = {0};
    cJSON *root = NULL;
    if (!p->no_flat && ks__flat_parse(&p->arena, b, len, &fl)) {
        if (fl.count > KS_EVENT_FIELDS_MAX) return ks__reject(why, KS_REJECT_TOO_MANY_FIELDS, -1);
        if (fl.dup >= 0) return ks__reject(why, KS_REJECT_DUPLICATE_FIELD, fl.dup);
        memcpy(f, fl.f, sizeof f);
    } else {
        ks__prescan pre = {.has_nul = false, .max_depth = 1};
        ks_reject_code rc = ks__json_prescan(b, len, &pre);
        if (rc != KS_REJECT_NONE) {
            why->code = rc;
            return false;
        }
        /* Before cJSON, whose parser recurses once per level. */
        if (pre.max_depth > KS_EVENT_DEPTH_MAX) {
            why->code = KS_REJECT_TOO_DEEP;
            return false;
        }
        /* cJSON's require_null_terminated mode needs a NUL inside the
         * buffer, which a Kafka payload lacks; take the end pointer and
         * check the tail. */
        const char *end = NULL;
        uint64_t allocs = p->arena.allocs;
        ks__arena *prev = ks__arena_set_current(&p->arena);
        root = cJSON_ParseWithLengthOpts(buf, len, &end, 0);
        ks__arena_set_current(prev);
        if (root == NULL) {
            why->code = KS_REJECT_MALFORMED_JSON;
            return false;
        }
        if (p->arena.allocs == allocs) p->foreign_root = root;
        for (const unsigned char *e = (const unsigned char *)end; e < b + len; e++) {
            if (!ks__json_ws(*e)) {
                why->code = KS_REJECT_MALFORMED_JSON;
                return false;
            }
        }
        if ((root->type & 0xFF) != cJSON_Object) {
            why->code = KS_REJECT_MALFORMED_JSON;
            return false;
        }
        if (!ks__members(root, b, len, pre.has_nul, f, why)) return false;
    }
    if (!ks__validate(f, ev, why)) {
        memset(ev, 0, sizeof(*ev));
        return false;
    }
    if (ev->has_amount &&
        !(root ? ks__amount_micro(root, f[F_AMOUNT], b, len, ev)
               : ks__amount_text(b, fl.num_off[F_AMOUNT], fl.num_len[F_AMOUNT], ev))) {
        memset(ev, 0, sizeof(*ev));
        return ks__reject(why, KS_REJECT_BAD_VALUE, F_AMOUNT);
    }
    return true;
}
