/* The engine's keys (src/engine/, src/state/, src/event/): clock, windows, what
 * is accepted, and the bounded name tables. */
#include "config/internal.h"

static const ks__key ks__keys[] = {
    {.name = "clock", .kind = KS__K_CLOCK, .off = KS__OFF(clock), .def = "wall",
     .doc = "What drives the windows: the wall clock (live use) or the event-time watermark "
            "(replays and tests, deterministic)."},
    {.name = "exit_on_eof", .kind = KS__K_BOOL, .off = KS__OFF(exit_on_eof), .def = "false",
     .doc = "Flush, commit and exit 0 once every assigned partition is at its end."},
    /* Before dedup_horizon: its default follows the largest window. */
    {.name = "windows", .kind = KS__K_WINDOWS, .off = KS__OFF(windows), .min = KS__MS_MIN,
     .max = KS__WIN_MAX, .def = "1h,24h,7d,30d", .doc = "KPI windows. See [Windows](#windows)."},
    {.name = "churn_inactivity", .alias = "churn_inactivity_ms", .kind = KS__K_DUR,
     .off = KS__OFF(churn_inactivity_ms), .min = KS__MS_MIN, .max = 3650 * KS__MS_DAY,
     .def = "30d", .doc = "A customer with no event for this long counts as churned."},
    {.name = "max_future_skew", .alias = "max_future_skew_ms", .kind = KS__K_DUR,
     .off = KS__OFF(max_future_skew_ms), .min = 0, .max = 7 * KS__MS_DAY, .def = "5m",
     .doc = "Events more than this far ahead of the wall clock are rejected as "
            "`future_timestamp`. `0`: any event from the future is rejected."},
    {.name = "dedup_horizon", .alias = "dedup_horizon_ms", .kind = KS__K_DUR_AUTO,
     .off = KS__OFF(dedup_horizon_ms), .min = KS__MS_MIN, .max = 3650 * KS__MS_DAY,
     .def = "auto",
     .doc = "How long `event_id`s are remembered to drop producer retries. Must be at least "
            "the largest window. `null` (or `\"auto\"`; `\"\"` from a flag) follows the largest "
            "window. See [Windows](#windows)."},
    {.name = "max_message_bytes", .kind = KS__K_SIZE, .off = KS__OFF(max_message_bytes),
     .min = 1024, .max = 16 << 20, .def = "65536",
     .doc = "Larger Kafka messages are rejected as `too_large`."},
    {.name = "max_segments", .kind = KS__K_INT, .off = KS__OFF(max_segments), .min = 1,
     .max = 254, .def = "64",
     .doc = "Distinct `segment` values tracked; further values are counted under `other` (a "
            "hash of its own besides). Which ones, the prefix's registry decides "
            "([kpis.md](kpis.md#which-names-are-tracked))."},
    {.name = "max_channels", .kind = KS__K_INT, .off = KS__OFF(max_channels), .min = 1,
     .max = 254, .def = "64",
     .doc = "Distinct `channel` values tracked; further values are counted under `other` (a "
            "hash of its own besides). Which ones, the prefix's registry decides "
            "([kpis.md](kpis.md#which-names-are-tracked))."},
    {.name = "max_names_per_customer", .kind = KS__K_INT, .off = KS__OFF(max_names_per_customer),
     .min = 1, .max = KS_NAMES_PER_CUSTOMER_MAX, .def = "16",
     .doc = "Distinct `segment` names, and separately `channel` names, one customer may have "
            "live: used by one of their events within the largest window before an event's "
            "time. An event bringing one more is rejected as `too_many_names:segment` / "
            "`too_many_names:channel` ([events.md](events.md#limits)). Decided from the "
            "customer's own events only, so replays and restores reject the same events."},
    {.name = "top_k", .kind = KS__K_INT, .off = KS__OFF(top_k), .min = 1, .max = 100,
     .def = "10",
     .doc = "Entries in `kpi:top:product:<window>` and `kpi:top:complaint_category:<window>` "
            "(exact counts per window bucket, summed in Redis; the `top_k` highest are "
            "written)."},
};

KS__MODULE(engine, ks__keys, NULL, NULL, NULL);
