/* Duration strings and the windows list built from them. */
#include "test_config_helpers.h"

#include <stdint.h>

#define DAY 86400000LL
#define HOUR 3600000LL
#define MIN 60000LL

Test(config_duration, parses_each_unit)
{
    const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"0", 0},
        {"0ms", 0},
        {"0d", 0},
        {"500ms", 500},
        {"1500", 1500},
        {"1s", 1000},
        {"5m", 5 * MIN},
        {"2h", 2 * HOUR},
        {"30d", 30 * DAY},
        {"007s", 7000},
        {"9223372036854775807", INT64_MAX},
        {"106751991167d", 106751991167LL * DAY},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t v = -1;
        cr_expect_eq(ks_duration_parse(ok[i].s, &v), 0, "\"%s\" should parse", ok[i].s);
        cr_expect_eq(v, ok[i].ms, "\"%s\" -> %lld", ok[i].s, (long long)v);
    }
}

Test(config_duration, rejects_bad_syntax_and_overflow)
{
    const char *syntax[] = {
        "",     "d",  "1x",  "1 h",  " 1h", "1h ", "-1h",  "+1h",
        "1.5h", "1H", "1hh", "1msx", "h1",  "1e3", "0x10", "99999999999999999999x"};
    for (size_t i = 0; i < sizeof syntax / sizeof syntax[0]; i++) {
        int64_t v = 42;
        cr_expect_eq(ks_duration_parse(syntax[i], &v), KS_ERR_PARSE, "\"%s\"", syntax[i]);
        cr_expect_eq(v, 42, "output untouched on error");
    }
    int64_t v;
    cr_expect_eq(ks_duration_parse(NULL, &v), KS_ERR_PARSE);
    const char *overflow[] = {"9223372036854775808", "106751991168d", "99999999999999999999999",
                              "9223372036854776s", "2562047788016h"};
    for (size_t i = 0; i < sizeof overflow / sizeof overflow[0]; i++)
        cr_expect_eq(ks_duration_parse(overflow[i], &v), KS_ERR_RANGE, "\"%s\"", overflow[i]);
}

Test(config_duration, formats_in_the_largest_exact_unit)
{
    char b[32];
    cr_expect_str_eq(ks_duration_format(0, b, sizeof b), "0ms");
    cr_expect_str_eq(ks_duration_format(1500, b, sizeof b), "1500ms");
    cr_expect_str_eq(ks_duration_format(90000, b, sizeof b), "90s");
    cr_expect_str_eq(ks_duration_format(90 * MIN, b, sizeof b), "90m");
    cr_expect_str_eq(ks_duration_format(25 * HOUR, b, sizeof b), "25h");
    cr_expect_str_eq(ks_duration_format(30 * DAY, b, sizeof b), "30d");
    char small[4];
    ks_duration_format(30 * DAY, small, sizeof small);
    cr_expect_str_eq(small, "30d");
    ks_duration_format(1234 * DAY, small, sizeof small);
    cr_expect_str_eq(small, "123", "truncated, still terminated");
}

/* ---- windows ---- */

static ks_config cfg;
static char err[KS_ERRSTR_SIZE];

static void setup(void)
{
    err[0] = '\0';
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
}

static void teardown(void)
{
    ks_config_free(&cfg);
}

TestSuite(config_windows, .init = setup, .fini = teardown);

Test(config_windows, sorted_ascending_keeping_names_as_written)
{
    cr_assert_eq(ks_config_set(&cfg, "windows", "30d, 60m,7d,15m", err, sizeof err), 0, "%s", err);
    cr_assert_eq(cfg.nwindows, 4);
    const char *names[] = {"15m", "60m", "7d", "30d"};
    const int64_t lens[] = {15 * MIN, HOUR, 7 * DAY, 30 * DAY};
    for (int i = 0; i < 4; i++) {
        cr_expect_str_eq(cfg.windows[i].name, names[i]);
        cr_expect_eq(cfg.windows[i].length_ms, lens[i]);
    }
    cr_expect_eq(ks_config_max_window_ms(&cfg), 30 * DAY);
}

Test(config_windows, limits)
{
    cr_assert_eq(ks_config_set(&cfg, "windows", "1m,2m,3m,4m,5m,6m,7m,365d", err, sizeof err), 0,
                 "%s", err);
    cr_expect_eq(cfg.nwindows, 8);
    cr_expect_eq(cfg.windows[7].length_ms, 365 * DAY);
    cr_expect_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);

    const struct {
        const char *v, *frag;
    } bad[] = {
        {"1m,2m,3m,4m,5m,6m,7m,8m,9m", "at most 8 windows"},
        {"1h,1h", "\"1h\" and \"1h\" have the same length"},
        {"1h,60m", "\"1h\" and \"60m\" have the same length"},
        {"90s", "\"90s\" must be a whole number of minutes"},
        {"0m", "\"0m\" must be between 1m and 365d"},
        {"366d", "\"366d\" must be between 1m and 365d"},
        {"3600000", "\"3600000\" is not a duration"},
        {"", "at least one window"},
        {"1h,,2h", "\"\" is not a duration"},
        {"1h,abcdefghijklmnopq", "is not a duration"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cr_expect_eq(ks_config_set(&cfg, "windows", bad[i].v, err, sizeof err), KS_ERR_CONFIG,
                     "windows=%s", bad[i].v);
        KS_T_ERR_HAS(err, "windows", bad[i].frag);
    }
    cr_expect_eq(cfg.nwindows, 8, "failed sets left the windows alone");
}
