/* kpistream configuration: built-in defaults < JSON config file < environment
 * (KPISTREAM_BROKERS, KPISTREAM_REDIS, KPISTREAM_GROUP, KPISTREAM_TOPICS) <
 * command-line flags. Every key is documented in docs/config.md; every error
 * names the key and what is wrong with it.
 */
#ifndef KPISTREAM_CONFIG_H
#define KPISTREAM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kpistream/risk.h"

#define KS_MAX_WINDOWS 8
#define KS_MAX_TOPICS 16
#define KS_MAX_KAFKA_PROPS 64
/* Largest max_names_per_customer: a customer's names of one kind are
 * looked through one by one, so the list stays short (src/state/names.c). */
#define KS_NAMES_PER_CUSTOMER_MAX 64

typedef enum ks_clock_mode { KS_CLOCK_WALL = 0, KS_CLOCK_EVENT = 1 } ks_clock_mode;

typedef struct ks_window_def {
    char name[16];     /* as written in Redis fields: "1h", "24h", "7d", "30d" */
    int64_t length_ms; /* W */
} ks_window_def;

typedef struct ks_kv {
    char *key;   /* librdkafka property name, without the "kafka." prefix */
    char *value;
} ks_kv;

typedef struct ks_config {
    /* Kafka */
    char *brokers;                  /* "host:port,..." (default "localhost:9092") */
    char *topics[KS_MAX_TOPICS];    /* input topics (default {"customer-events"}) */
    int ntopics;
    char *group;                    /* consumer group id (default "kpistream") */
    char *dlq_topic;                /* NULL: "<input topic>.dlq" per input topic */
    ks_kv kafka_props[KS_MAX_KAFKA_PROPS]; /* "kafka.*" pass-through, in file order */
    int nkafka_props;
    int batch_size;                 /* messages per consume batch (default 1000) */
    int threads;                    /* threads applying events (1 or 2; default 2) */
    /* Redis */
    char *redis_url;                /* redis://[user:password@]host:port[/db] (default redis://127.0.0.1:6379/0) */
    char *redis_password_file;      /* file holding the Redis password, or NULL (default) */
    char *redis_password;           /* its contents, read when the key is set; never printed */
    char *prefix;                   /* key prefix (default "kpi:") */
    int flush_interval_ms;          /* default 1000 */
    int flush_max_pending;          /* customers + notices one flush carries (default 100000) */
    int redis_timeout_ms;           /* connect/command timeout (default 2000) */
    int redis_retry_max_ms;         /* cap of the reconnect backoff (default 5000) */
    /* Processing */
    ks_clock_mode clock;            /* default wall */
    bool exit_on_eof;               /* default false */
    ks_window_def windows[KS_MAX_WINDOWS]; /* default 1h, 24h, 7d, 30d; sorted ascending */
    int nwindows;
    int64_t churn_inactivity_ms;    /* default 30d */
    int64_t max_future_skew_ms;     /* default 5 min */
    int64_t dedup_horizon_ms;       /* how long event_ids are remembered (default: largest window) */
    bool dedup_horizon_explicit;    /* false: dedup_horizon_ms follows the largest window when
                                     * windows change; true once the key was set explicitly */
    size_t max_message_bytes;       /* larger messages are too_large (default 65536) */
    int max_segments;               /* distinct segment values tracked (1..254); more map to "other" (default 64) */
    int max_channels;               /* distinct channel values tracked (1..254), "other" besides (default 64) */
    int max_names_per_customer;     /* distinct segment (and channel) names one customer may have
                                     * live (1..KS_NAMES_PER_CUSTOMER_MAX, default 16); an event
                                     * past it is too_many_names (docs/events.md) */
    int top_k;                      /* entries in kpi:top:* (1..100, default 10) */
    /* KPI parameters */
    double gross_margin;            /* CLV margin, 0..1 (default 0.3) */
    double min_churn;               /* CLV churn floor, 0..1 (default 0.01) */
    int csat_satisfied_min;         /* CSAT score counted satisfied (default 4) */
    int nps_promoter_min;           /* default 9 */
    int nps_detractor_max;          /* default 6 */
    /* Logging */
    int log_level;                  /* ks_log_level (default info); "debug","info","warn","error" */
    /* Operations */
    char *metrics_listen;           /* "host:port" of GET /metrics, /healthz, /readyz (default
                                     * "127.0.0.1:9464"); "" or NULL: no endpoint */
    char *state_dir;                /* partition snapshots (docs/architecture.md "Snapshots");
                                     * "" or NULL: none (default) */
    int64_t snapshot_interval_ms;   /* between background snapshots (default 5 min) */
    /* Churn risk: "risk" object in the file, risk.<key> in ks_config_set (docs/churn-risk.md) */
    ks_risk_params risk;            /* default ks_risk_params_default() */
    char *risk_model_path;          /* risk.model: fitted model file, or NULL (hand weights) */
    struct ks_risk_model *risk_model; /* its contents, read when the key is set; risk.model
                                     * points at it. Owned; freed by ks_config_free() */
} ks_config;

/** Fills cfg with the built-in defaults. cfg's previous contents are not freed.
 *  Returns 0, or KS_ERR_NOMEM (cfg is then zeroed).
 *  Caller owns the strings; free with ks_config_free(). */
int ks_config_init_defaults(ks_config *cfg);

/** Applies a JSON config file (one object; keys as in docs/config.md) on top of cfg.
 *  Returns 0; KS_ERR_IO if the file cannot be read ("<path>: cannot open: <strerror>");
 *  KS_ERR_CONFIG with errstr "<path>: <key>: ..." for a bad value, an unknown key (with a
 *  "did you mean" suggestion) or a key given twice, or "<path>:<line>:<col>: JSON syntax
 *  error ..." for bad JSON. Keys are applied in file order and processing stops at the first
 *  error, so on error cfg holds the keys before it (still valid, still the caller's to
 *  free with ks_config_free()). Does not run ks_config_validate(). */
int ks_config_load_file(ks_config *cfg, const char *path, char *errstr, size_t errsize);

/** Applies KPISTREAM_BROKERS, KPISTREAM_TOPICS (comma-separated), KPISTREAM_GROUP,
 *  KPISTREAM_REDIS (-> redis_url) and KPISTREAM_REDIS_PASSWORD_FILE through ks_config_set(); unset or empty variables are
 *  skipped. Returns 0 or KS_ERR_CONFIG with errstr "environment variable <NAME>: <key>: ...".
 *  Strings are copied into cfg. */
int ks_config_apply_env(ks_config *cfg, char *errstr, size_t errsize);

/** Sets one key by its config-file name ("brokers", "clock", "windows", "kafka.security.protocol",
 *  "risk.weights.recency", "risk.high_enter"; risk keys are spelt flat here)
 *  from a string value, as flags do: integers, numbers and booleans are parsed from the text,
 *  topics and windows are comma-separated, an empty dlq_topic means the default. The _ms
 *  spellings of the three durations (churn_inactivity_ms, ...) are accepted too. Returns 0,
 *  or KS_ERR_CONFIG naming the key, the expected type/range and the value seen; the key is
 *  then unchanged. value is copied; cfg keeps owning its strings. */
int ks_config_set(ks_config *cfg, const char *key, const char *value, char *errstr, size_t errsize);

/** Checks every range again (the struct may have been written by code) and the cross-key
 *  rules: windows sorted and distinct, dedup_horizon >= largest window, nps_detractor_max <
 *  nps_promoter_min, dead-letter topic not an input topic, risk.*_exit <= risk.*_enter and
 *  risk.medium_enter < risk.high_enter. Returns 0 or KS_ERR_CONFIG with
 *  errstr naming the key. */
int ks_config_validate(const ks_config *cfg, char *errstr, size_t errsize);

/** Returns the effective config as pretty JSON (two-space indent, no trailing newline), every
 *  key, durations as strings, in a form ks_config_load_file() accepts back. Secrets are
 *  masked as "***": the password in redis_url and kafka properties whose name contains
 *  "password", "secret" or "key.pem"; redis_password_file prints as its path, never the
 *  password. Caller owns it; free with free(). NULL on OOM. */
char *ks_config_to_json(const ks_config *cfg);

/** Returns the largest window length in ms (0 if none). */
int64_t ks_config_max_window_ms(const ks_config *cfg);

/** Frees every string owned by cfg and zeroes it. Safe on a zeroed cfg and twice. */
void ks_config_free(ks_config *cfg);

/** The whole start-up sequence except flags: defaults, then the file at path (skipped when
 *  path is NULL), then the environment, then ks_config_validate(). cfg's previous contents
 *  are not freed. Returns 0, or KS_ERR_CONFIG / KS_ERR_IO / KS_ERR_NOMEM with errstr naming
 *  the file, key and problem; on error cfg is freed and zeroed. On success caller owns the
 *  strings; free with ks_config_free(). */
int ks_config_load(ks_config *cfg, const char *path, char *errstr, size_t errsize);

/** Applies one `kpistream run` flag. flag may be given with or without the leading "--":
 *  brokers, topics, group, redis (= redis_url), prefix, clock, exit-on-eof (value NULL means
 *  true), set (value "key=value", any config key), kafka.<property>, and any other config
 *  key spelt with '-' or '_' (e.g. flush-interval-ms). "config" is the caller's job and is
 *  rejected here. Returns 0 or KS_ERR_CONFIG naming the flag (with a suggestion when the
 *  flag is unknown). Strings are copied; cfg keeps owning its own. */
int ks_config_apply_flag(ks_config *cfg, const char *flag, const char *value, char *errstr,
                         size_t errsize);

/** Returns true if flag (with or without "--") is a switch that takes no value
 *  (only "exit-on-eof"), so a caller's argv parser knows not to consume the next word. */
bool ks_config_flag_is_switch(const char *flag);

/** Parses a duration: "<digits><unit>" with unit ms, s, m, h or d, or bare digits meaning
 *  milliseconds ("30d", "500ms", "1500"). No sign, spaces or fractions. Returns 0, or
 *  KS_ERR_PARSE (bad syntax or unit) / KS_ERR_RANGE (does not fit in int64 ms). */
int ks_duration_parse(const char *s, int64_t *out_ms);

/** Writes ms in the largest unit that divides it exactly ("30d", "90m", "1500ms") into buf,
 *  truncated to n bytes. Returns buf. Borrowed: buf is the caller's. */
char *ks_duration_format(int64_t ms, char *buf, size_t n);

/** Reads a password file (redis_password_file, or a tool's --redis-password-file): a regular
 *  file of 1..255 bytes once trailing newlines ("\n", "\r\n") are stripped, without NUL.
 *  Returns 0 and fills out (n bytes); KS_ERR_IO with errstr "<path>: cannot open: <strerror>"
 *  (or cannot read); KS_ERR_CONFIG with errstr "<path>: <problem>" (not a regular file,
 *  empty, too long, holds a NUL). The contents never appear in errstr. */
int ks_password_file_read(const char *path, char *out, size_t n, char *errstr, size_t errsize);

/** A parsed redis:// URL. */
typedef struct ks_redis_url {
    char host[256];     /* host name or address; IPv6 without the brackets */
    int port;           /* default 6379 */
    char user[128];     /* ACL user; "" when absent (AUTH with password only) */
    char password[256]; /* "" when absent; percent-decoded */
    int db;             /* SELECT index, default 0 */
} ks_redis_url;

/** Parses redis://[user[:password]@]host[:port][/db] (host may be [IPv6]; user and password
 *  may be percent-encoded; "redis://:password@host" gives a password without user). TLS
 *  (rediss://) and unix sockets are not supported. Returns 0, or KS_ERR_CONFIG with errstr
 *  saying what is wrong (the password is never copied into errstr). out is filled only on
 *  success. */
int ks_redis_url_parse(const char *url, ks_redis_url *out, char *errstr, size_t errsize);

/** The Redis target of a reader's flags (`watch`, `dashboard`): url parsed, and the password
 *  read from pwfile when it is given (NULL or "": none; then the URL must hold none). Returns
 *  0, or KS_ERR_CONFIG with errstr naming the flag ("--redis: ...", "--redis-password-file:
 *  ..."; never the password). */
int ks_redis_url_flags(const char *url, const char *pwfile, ks_redis_url *out, char *errstr,
                       size_t errsize);

/** Copies url into out with the password (if any) replaced by "***", for logs and
 *  check-config. Text that does not look like a URL but has an '@' (a mistyped scheme,
 *  "redis:/u:pw@host") is masked up to its last '@' ("***@host"). Returns out.
 *  Borrowed: out is the caller's, truncated to n bytes. */
char *ks_redis_url_mask(const char *url, char *out, size_t n);

/** Where the Redis adapters connect: cfg->redis_url parsed, with the password read from
 *  redis_password_file when that key is set. Returns 0 or KS_ERR_CONFIG (errstr as
 *  ks_redis_url_parse()). */
int ks_config_redis_target(const ks_config *cfg, ks_redis_url *out, char *errstr, size_t errsize);

/** Parses a listen address "host:port" (metrics_listen): host a name, an IPv4 address or an
 *  IPv6 address in brackets ("[::1]:9464"; written without them into host), port 1..65535.
 *  Returns 0, or KS_ERR_CONFIG with errstr saying what is wrong (without the key's name).
 *  host (hostsize bytes) and *port are filled only on success. */
int ks_listen_parse(const char *s, char *host, size_t hostsize, int *port, char *errstr,
                    size_t errsize);

#endif
