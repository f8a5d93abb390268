/* The Redis output's keys (src/redis/, and the flush pacing of src/app/run.c). */
#include "config/internal.h"

static const ks__key ks__keys[] = {
    {.name = "redis_url", .kind = KS__K_REDIS_URL, .off = KS__OFF(redis_url),
     .def = "redis://127.0.0.1:6379/0",
     .doc = "Where KPIs are written. Port defaults to 6379, db to 0. See [Redis "
            "URL](#redis-url)."},
    {.name = "redis_password_file", .kind = KS__K_SECRET_FILE, .off = KS__OFF(redis_password_file),
     .def = NULL,
     .doc = "The Redis password, read from this file (trailing newlines stripped), so that it "
            "is in no URL, process list or environment. The URL then gives no password "
            "(`redis://kpi@cache:6379`: user `kpi`; `redis://cache`: `requirepass`). Read when "
            "the key is applied: `check-config` reports a missing or unreadable file naming the "
            "key and the path, and prints the path, never the contents. See "
            "[Secrets](#secrets)."},
    {.name = "prefix", .kind = KS__K_PREFIX, .off = KS__OFF(prefix), .max = 64, .def = "kpi:",
     .doc = "Prefix of every Redis key written (`kpi:global`, `kpi:meta`, ...)."},
    {.name = "flush_interval_ms", .kind = KS__K_INT_MS, .off = KS__OFF(flush_interval_ms),
     .min = 10, .max = 60000, .def = "1000",
     .doc = "How often KPIs are written to Redis and offsets committed."},
    {.name = "flush_max_pending", .kind = KS__K_INT, .off = KS__OFF(flush_max_pending),
     .min = 100, .max = 1000000, .def = "100000",
     .doc = "The most changed customers and notices one flush carries: reading pauses when "
            "this many wait and a flush starts at once; a catch-up flushes by this size rather "
            "than every `flush_interval_ms` ([architecture.md](architecture.md#the-run-loop)). "
            "Each is about 650 bytes of Redis commands, streamed to Redis while the flush is "
            "built: what the batch holds is what Redis has not read yet."},
    {.name = "redis_timeout_ms", .kind = KS__K_INT_MS, .off = KS__OFF(redis_timeout_ms),
     .min = 10, .max = 60000, .def = "2000", .doc = "Redis connect and command timeout."},
    {.name = "redis_retry_max_ms", .kind = KS__K_INT_MS, .off = KS__OFF(redis_retry_max_ms),
     .min = 10, .max = 600000, .def = "5000",
     .doc = "Cap of the exponential back-off between Redis reconnect attempts."},
};

KS__MODULE(redis, ks__keys, NULL, NULL, NULL);
