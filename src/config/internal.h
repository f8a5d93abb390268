/* The config module's private types, shared by its files. Private to src/config/.
 *
 * Every key is a row of a key table (ks__key: name, kind, struct field, range,
 * default, doc), in the manner of fluent-bit's config_map. Each module that
 * reads the config owns one table, in src/config/keys_<module>.c; the
 * machinery that walks them is here:
 *
 *   keys.c       the tables in order (ks__cfg_modules), lookup, "did you
 *                mean", defaults (ks_config_init_defaults) and ks_config_free
 *   kind.c       one value of any kind: parse, range-check, store (ks__apply)
 *   kind_list.c  the list and object kinds: topics, windows, kafka.* properties
 *   load.c       the layers: file, environment, ks_config_set, flags
 *   validate.c   ks_config_validate: ranges again plus the cross-key rules
 *   json.c       ks_config_to_json (check-config)
 *   doc.c        docs/config.md's key tables, rendered from the tables
 *
 * The tables live in src/config/ rather than in each module's folder because
 * every such module links ks_config: a table in src/kafka/ would make
 * ks_config depend on ks_kafka, a cycle (docs/architecture.md, "Modules").
 */
#ifndef KS_CONFIG_INTERNAL_H
#define KS_CONFIG_INTERNAL_H

#include "kpistream/config.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KS__MS_MIN 60000LL
#define KS__MS_DAY 86400000LL
#define KS__MAX_TOPIC_LEN 249 /* Kafka's own limit */
#define KS__WIN_MAX (365 * KS__MS_DAY)

typedef enum ks__kind {
    KS__K_STR,       /* non-empty string (brokers, group) */
    KS__K_TOPIC_OPT, /* topic name or null (dlq_topic) */
    KS__K_PREFIX,    /* short string, may be empty; max = its longest */
    KS__K_TOPICS,    /* array of topic names or "a,b"; min..max topics */
    KS__K_REDIS_URL, /* redis://... */
    KS__K_INT,       /* int */
    KS__K_INT_MS,    /* int milliseconds: integer or duration string */
    KS__K_SIZE,      /* size_t bytes */
    KS__K_DUR,       /* int64_t milliseconds: duration string or integer */
    KS__K_DUR_AUTO,  /* as KS__K_DUR, or null / "auto": the largest window (dedup_horizon) */
    KS__K_DOUBLE,    /* double in (dmin, dmax] */
    KS__K_WEIGHT,    /* double in [dmin, dmax] (risk weights: 0 switches a signal off) */
    KS__K_BOOL,
    KS__K_CLOCK,
    KS__K_LOGLEVEL,
    KS__K_WINDOWS,     /* list of windows, each min..max ms */
    KS__K_KAFKA,       /* object of librdkafka properties */
    KS__K_LISTEN,      /* "host:port", or "" (off) */
    KS__K_SECRET_FILE, /* path of a file holding a secret, or null / "" (none) */
    KS__K_MODEL_FILE,  /* path of a risk model file, or null / "" (none) */
    KS__K_PATH,        /* a path, or null / "" (none) */
} ks__kind;

typedef struct ks__key {
    const char *name;  /* the config-file key, flat ("risk.weights.recency") */
    const char *alias; /* the struct field's spelling where it differs (durations) */
    ks__kind kind;
    size_t off;        /* of the field in ks_config */
    int64_t min, max;  /* integers, sizes and durations (ms); counts of lists */
    double dmin, dmax; /* numbers */
    const char *def;   /* the default, spelt as a flag would give it (applied by
                        * ks_config_init_defaults); NULL: the field stays zero */
    const char *doc;   /* what the key does: the "meaning" column of docs/config.md */
} ks__key;

#define KS__OFF(f) offsetof(ks_config, f)

/* One module's keys (src/config/keys_<module>.c). */
typedef struct ks__module {
    const char *name; /* the module that reads them ("kafka" -> src/kafka/) */
    const ks__key *keys;
    size_t nkeys;
    const char *group;     /* the file object the keys nest in ("risk"), or NULL: top level */
    const char *group_see; /* docs: the link to the group's own table */
    const char *group_doc; /* docs: the group's row in the main key table */
} ks__module;

#define KS__MODULE(mname, table, grp, gsee, gdoc)                                                  \
    const ks__module ks__cfg_##mname = {#mname, table, sizeof table / sizeof table[0],             \
                                        grp,    gsee,  gdoc}

extern const ks__module ks__cfg_kafka, ks__cfg_redis, ks__cfg_engine, ks__cfg_kpi, ks__cfg_log,
    ks__cfg_metrics, ks__cfg_snapshot, ks__cfg_risk;

/* ------------------------------------------------------------------ keys.c */

/* Every module's table, in the order of ks_config_to_json() and docs/config.md. */
extern const ks__module *const ks__cfg_modules[];
extern const size_t ks__cfg_nmodules;

/* The number of keys over all tables, and the i-th (0 <= i < ks__cfg_nkeys()). */
size_t ks__cfg_nkeys(void);
const ks__key *ks__cfg_key(size_t i);

/* The position of k (a row of one of the tables) in ks__cfg_key() order. */
size_t ks__cfg_index(const ks__key *k);

/* The key named name (or its alias), or NULL. */
const ks__key *ks__cfg_find(const char *name);

/* Edit distance of two short names (each cut at 63 bytes), for "did you mean". */
size_t ks__levenshtein(const char *a, const char *b);

/* The key closest to name, or NULL if none is close. */
const char *ks__cfg_suggest(const char *name);

/* "unknown key '<key>' (did you mean ...)". Returns KS_ERR_CONFIG. */
int ks__cfg_unknown_key(char *errstr, size_t n, const char *key);

/* printf into errstr (n bytes; nothing if errstr is NULL or n is 0). */
void ks__err(char *errstr, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to the message already in errstr. */
void ks__err_prefix(char *errstr, size_t n, const char *prefix);

/* ------------------------------------------------------------------ kind.c */

/* Applies value v to key k (spelt key in messages): checks the kind and range and
 * stores it in cfg. from_str: v is a string from a flag or the environment, so
 * integer, number and boolean kinds parse its text. Returns 0, KS_ERR_CONFIG with
 * "<key>: must be <what>, got <value>" (the field unchanged), or KS_ERR_NOMEM. */
int ks__apply(ks_config *cfg, const ks__key *k, const char *key, const cJSON *v, bool from_str,
              char *errstr, size_t n);

/* "<key>: must be <what>, got <value>" -- the one shape of every value error.
 * Returns KS_ERR_CONFIG. */
int ks__bad(char *errstr, size_t n, const char *key, const char *what, const cJSON *v);

/* A short, quoted rendering of a value a user gave, for "got ..." messages. Returns buf. */
const char *ks__describe(const cJSON *v, char *buf, size_t n);

/* Replaces *slot (owned) by a copy of s[0..len). Returns 0 or KS_ERR_NOMEM (slot unchanged). */
int ks__replace_str(char **slot, const char *s, size_t len);

/* Drop redis_password_file and its password (wiped first) / risk.model and the model. */
void ks__forget_password(ks_config *cfg);
void ks__forget_model(ks_config *cfg);

/* log_level's names, by ks_log_level. */
extern const char *const ks__log_names[4];

/* ------------------------------------------------------------- kind_list.c */

int ks__set_topics(ks_config *cfg, const char *key, const cJSON *v, char *errstr, size_t n);
int ks__set_windows(ks_config *cfg, const ks__key *k, const char *key, const cJSON *v, char *errstr,
                    size_t n);

/* One librdkafka property (prop without "kafka."), added or replaced. */
int ks__set_kafka_prop(ks_config *cfg, const char *prop, const cJSON *v, char *errstr, size_t n);

/* The file's "kafka" object, property by property, in file order. */
int ks__set_kafka_object(ks_config *cfg, const char *key, const cJSON *v, char *errstr, size_t n);

/* NULL if t[0..len) is a valid Kafka topic name, else what is wrong with it. */
const char *ks__topic_problem(const char *t, size_t len);

/* True for a kafka property whose value is masked when printed. */
bool ks__is_secret_prop(const char *name);

/* ------------------------------------------------------------------ load.c */

/* The `run` flag that sets key when it is not the key spelt with '-' ("redis" for
 * redis_url), or NULL. */
const char *ks__cfg_flag_of(const char *key);

/* The environment variable that sets key, or NULL. */
const char *ks__cfg_env_of(const char *key);

/* ------------------------------------------------------------------- doc.c */

/* Returns text with every generated region of docs/config.md ("<!-- BEGIN
 * generated: <section> ... -->" up to "<!-- END generated: <section> -->")
 * rewritten from the tables, or NULL on OOM or when a region is not closed.
 * Caller owns it; free with free(). */
char *ks__cfg_doc_update(const char *text);

/* The key table of one section ("keys": every top-level key, one row per group;
 * "risk": the keys of group "risk"), as markdown lines. NULL on OOM or an unknown
 * section. Caller owns it; free with free(). */
char *ks__cfg_doc_table(const char *section);

#endif
