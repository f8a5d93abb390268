/* redis:// URL parsing and masking. */
#include "test_config_helpers.h"

static char err[KS_ERRSTR_SIZE];

static ks_redis_url parse_ok(const char *url)
{
    ks_redis_url u;
    memset(&u, 0x5a, sizeof u);
    int rc = ks_redis_url_parse(url, &u, err, sizeof err);
    cr_assert_eq(rc, 0, "%s: %s", url, err);
    return u;
}

Test(config_redis_url, host_port_db)
{
    ks_redis_url u = parse_ok("redis://127.0.0.1:6379/0");
    cr_expect_str_eq(u.host, "127.0.0.1");
    cr_expect_eq(u.port, 6379);
    cr_expect_eq(u.db, 0);
    cr_expect_str_eq(u.user, "");
    cr_expect_str_eq(u.password, "");

    u = parse_ok("redis://cache.internal");
    cr_expect_str_eq(u.host, "cache.internal");
    cr_expect_eq(u.port, 6379, "default port");
    cr_expect_eq(u.db, 0);

    u = parse_ok("redis://h/");
    cr_expect_eq(u.db, 0);
    u = parse_ok("redis://h/15");
    cr_expect_eq(u.port, 6379);
    cr_expect_eq(u.db, 15);
    u = parse_ok("REDIS://h:1");
    cr_expect_eq(u.port, 1);
    u = parse_ok("redis://h:65535/3");
    cr_expect_eq(u.port, 65535);
    cr_expect_eq(u.db, 3);
    u = parse_ok("redis://[::1]:6390/2");
    cr_expect_str_eq(u.host, "::1");
    cr_expect_eq(u.port, 6390);
    cr_expect_eq(u.db, 2);
}

Test(config_redis_url, credentials)
{
    ks_redis_url u = parse_ok("redis://:s3cret@h:6380/2");
    cr_expect_str_eq(u.user, "");
    cr_expect_str_eq(u.password, "s3cret");
    cr_expect_eq(u.port, 6380);
    cr_expect_eq(u.db, 2);

    u = parse_ok("redis://alice:p%40ss%3Aw@h");
    cr_expect_str_eq(u.user, "alice");
    cr_expect_str_eq(u.password, "p@ss:w");
    cr_expect_str_eq(u.host, "h");

    u = parse_ok("redis://alice@h:7000");
    cr_expect_str_eq(u.user, "alice");
    cr_expect_str_eq(u.password, "");
    cr_expect_eq(u.port, 7000);

    u = parse_ok("redis://bob:p@ss@h:1/1");
    cr_expect_str_eq(u.user, "bob");
    cr_expect_str_eq(u.password, "p@ss", "the last '@' ends the userinfo");
    cr_expect_str_eq(u.host, "h");
}

Test(config_redis_url, rejects_bad_urls)
{
    const struct {
        const char *url, *frag;
    } bad[] = {
        {"redis://h:0", "port must be an integer 1..65535, got \"0\""},
        {"redis://h:65536", "port must be an integer 1..65535, got \"65536\""},
        {"redis://h:abc", "port"},
        {"redis://h:", "port"},
        {"redis://h:-1", "port"},
        {"redis://h:6379/x", "db must be an integer"},
        {"redis://h:6379/-1", "db must be an integer"},
        {"redis://:6379", "host is missing"},
        {"redis://", "host is missing"},
        {"redis://u:p@", "host is missing"},
        {"http://h:1", "must start with redis://"},
        {"h:6379", "must start with redis://"},
        {"", "must start with redis://"},
        {"rediss://h:6379", "TLS"},
        {"unix:///tmp/redis.sock", "unix sockets"},
        {"redis://ho st:1", "bad character ' ' in host"},
        {"redis://[::1:6379", "no closing ']'"},
        {"redis://[::1]x", "unexpected"},
        {"redis://u:%zz@h", "password has a bad %-escape"},
        {"redis://u:%00@h", "password has a bad %-escape"},
        {"redis://u%4@h", "user has a bad %-escape"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ks_redis_url u;
        err[0] = '\0';
        cr_expect_eq(ks_redis_url_parse(bad[i].url, &u, err, sizeof err), KS_ERR_CONFIG, "%s",
                     bad[i].url);
        KS_T_ERR_HAS(err, bad[i].frag);
    }
    ks_redis_url u;
    cr_expect_eq(ks_redis_url_parse(NULL, &u, err, sizeof err), KS_ERR_CONFIG);
}

Test(config_redis_url, errors_never_show_the_password)
{
    ks_redis_url u;
    cr_assert_neq(ks_redis_url_parse("redis://u:topsecret@h:99999", &u, err, sizeof err), 0);
    cr_expect(strstr(err, "topsecret") == NULL, "%s", err);
    ks_config cfg;
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    cr_assert_eq(ks_config_set(&cfg, "redis_url", "redis://u:topsecret@h:99999", err, sizeof err),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "redis_url", "port", "redis://u:***@h:99999");
    cr_expect(strstr(err, "topsecret") == NULL, "%s", err);
    ks_config_free(&cfg);
}

Test(config_redis_url, mask)
{
    char b[128];
    cr_expect_str_eq(ks_redis_url_mask("redis://u:pw@h:1/0", b, sizeof b), "redis://u:***@h:1/0");
    cr_expect_str_eq(ks_redis_url_mask("redis://:pw@h", b, sizeof b), "redis://:***@h");
    cr_expect_str_eq(ks_redis_url_mask("redis://u:p@w@h", b, sizeof b), "redis://u:***@h");
    cr_expect_str_eq(ks_redis_url_mask("redis://h:1", b, sizeof b), "redis://h:1");
    cr_expect_str_eq(ks_redis_url_mask("redis://u@h", b, sizeof b), "redis://u@h");
    /* No password to hide: kept as given, so the masked URL means the same. */
    cr_expect_str_eq(ks_redis_url_mask("redis://u:@h/0", b, sizeof b), "redis://u:@h/0");
    char tiny[12];
    ks_redis_url_mask("redis://u:secretpw@h", tiny, sizeof tiny);
    cr_expect(strstr(tiny, "secret") == NULL, "%s", tiny);
}
