/* Secrets in the configuration (issue 14): the Redis password read from
 * redis_password_file, and no password in check-config output (ks_config_to_json)
 * or in error messages, whichever layer the secret came from. */
#include "test_config_helpers.h"

#include <sys/stat.h>

static char err[KS_ERRSTR_SIZE];
static ks_config cfg;

static void setup(void)
{
    ks_t_mkdir();
    cr_assert_eq(ks_config_init_defaults(&cfg), 0);
    unsetenv("KPISTREAM_REDIS");
    unsetenv("KPISTREAM_REDIS_PASSWORD_FILE");
}

static void teardown(void)
{
    ks_config_free(&cfg);
    unsetenv("KPISTREAM_REDIS");
    unsetenv("KPISTREAM_REDIS_PASSWORD_FILE");
    ks_t_rmdir();
}

TestSuite(config_secrets, .init = setup, .fini = teardown);

Test(config_secrets, password_file_read_with_trailing_newline_stripped)
{
    char path[256];
    ks_t_write("pw", "S3cr3t-from-file\n", path, sizeof path);
    cr_assert_eq(ks_config_set(&cfg, "redis_url", "redis://kpi@127.0.0.1:6390/2", err, sizeof err),
                 0, "%s", err);
    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), 0, "%s", err);
    ks_redis_url u;
    cr_assert_eq(ks_config_redis_target(&cfg, &u, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(u.user, "kpi");
    cr_expect_str_eq(u.password, "S3cr3t-from-file");
    cr_expect_str_eq(u.host, "127.0.0.1");
    cr_expect_eq(u.port, 6390);
    cr_expect_eq(u.db, 2);

    /* \r\n (a file written on Windows) and several newlines: all stripped; inner
     * spaces kept. */
    ks_t_write("pw2", "p w\r\n\n", path, sizeof path);
    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks_config_redis_target(&cfg, &u, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(u.password, "p w");

    /* Without the key: the URL's own password (none here). */
    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", "", err, sizeof err), 0, "%s", err);
    cr_expect_null(cfg.redis_password_file);
    cr_assert_eq(ks_config_redis_target(&cfg, &u, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(u.password, "");
}

Test(config_secrets, password_file_errors_name_key_and_path)
{
    char path[256], missing[300];
    snprintf(missing, sizeof missing, "%s/nope", ks_t_dir);
    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", missing, err, sizeof err),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "redis_password_file: ", missing, "cannot open", "No such file");

    ks_t_write("empty", "\n", path, sizeof path);
    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", path, err, sizeof err),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "redis_password_file: ", path, "empty");

    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", ks_t_dir, err, sizeof err),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "redis_password_file: ", ks_t_dir, "not a regular file");

    char big[400];
    memset(big, 'x', 300);
    big[300] = '\0';
    ks_t_write("big", big, path, sizeof path);
    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", path, err, sizeof err),
                 KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "redis_password_file: ", path, "longer than 255");
    cr_expect_null(strstr(err, "xxxxxxxx"), "the contents are never shown: %s", err);

    /* Unreadable for this user (skipped as root, who reads anything). */
    if (geteuid() != 0) {
        ks_t_write("locked", "pw", path, sizeof path);
        chmod(path, 0);
        cr_assert_eq(ks_config_set(&cfg, "redis_password_file", path, err, sizeof err),
                     KS_ERR_CONFIG);
        KS_T_ERR_HAS(err, "redis_password_file: ", path, "cannot open", "Permission denied");
    }
    /* A failed set leaves the key as it was. */
    cr_expect_null(cfg.redis_password_file);
    cr_expect_null(cfg.redis_password);
}

Test(config_secrets, password_file_from_config_file_and_environment)
{
    char pw[256], file[256], text[600];
    ks_t_write("pw", "from-file-pw\n", pw, sizeof pw);
    snprintf(text, sizeof text,
             "{\"redis_url\": \"redis://kpi@cache:6379/0\", \"redis_password_file\": \"%s\"}", pw);
    ks_t_write("c.json", text, file, sizeof file);
    cr_assert_eq(ks_config_load_file(&cfg, file, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(cfg.redis_password, "from-file-pw");

    /* A missing file in the config file: the config file, the key and the path. */
    snprintf(text, sizeof text, "{\"redis_password_file\": \"%s/missing\"}", ks_t_dir);
    ks_t_write("bad.json", text, file, sizeof file);
    cr_assert_eq(ks_config_load_file(&cfg, file, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, file, ": redis_password_file: ", "/missing: cannot open");

    ks_config_free(&cfg);
    ks_t_write("pw2", "env-pw", pw, sizeof pw);
    setenv("KPISTREAM_REDIS_PASSWORD_FILE", pw, 1);
    cr_assert_eq(ks_config_load(&cfg, NULL, err, sizeof err), 0, "%s", err);
    cr_expect_str_eq(cfg.redis_password_file, pw);
    cr_expect_str_eq(cfg.redis_password, "env-pw");
    /* As a flag, spelt with '-'. */
    ks_t_write("pw3", "flag-pw", pw, sizeof pw);
    cr_assert_eq(ks_config_apply_flag(&cfg, "--redis-password-file", pw, err, sizeof err), 0, "%s",
                 err);
    cr_expect_str_eq(cfg.redis_password, "flag-pw");
}

Test(config_secrets, password_in_url_and_file_is_an_error)
{
    char path[256];
    ks_t_write("pw", "one", path, sizeof path);
    cr_assert_eq(ks_config_set(&cfg, "redis_url", "redis://kpi:two-secret@cache", err, sizeof err),
                 0);
    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", path, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ks_config_validate(&cfg, err, sizeof err), KS_ERR_CONFIG);
    KS_T_ERR_HAS(err, "redis_password_file", "one place", "redis://kpi:***@cache");
    cr_expect_null(strstr(err, "two-secret"), "%s", err);
}

Test(config_secrets, check_config_output_shows_no_secret)
{
    char path[256];
    ks_t_write("pw", "file-secret-1", path, sizeof path);
    cr_assert_eq(ks_config_set(&cfg, "redis_url", "redis://kpi:url-secret-2@cache:6379/1", err,
                               sizeof err),
                 0);
    cr_assert_eq(ks_config_set(&cfg, "kafka.sasl.password", "sasl-secret-3", err, sizeof err), 0);
    cr_assert_eq(ks_config_set(&cfg, "kafka.ssl.key.password", "key-secret-4", err, sizeof err),
                 0);
    cr_assert_eq(ks_config_set(&cfg, "kafka.sasl.oauthbearer.client.secret", "oauth-secret-5",
                               err, sizeof err),
                 0);
    cr_assert_eq(ks_config_set(&cfg, "kafka.sasl.username", "visible-user", err, sizeof err), 0);
    char *json = ks_config_to_json(&cfg);
    cr_assert_not_null(json);
    const char *secrets[] = {"url-secret-2", "sasl-secret-3", "key-secret-4", "oauth-secret-5"};
    for (size_t i = 0; i < 4; i++)
        cr_expect_null(strstr(json, secrets[i]), "%s printed:\n%s", secrets[i], json);
    cr_expect_not_null(strstr(json, "\"redis_url\": \"redis://kpi:***@cache:6379/1\""), "%s", json);
    cr_expect_not_null(strstr(json, "\"sasl.password\": \"***\""), "%s", json);
    cr_expect_not_null(strstr(json, "\"visible-user\""), "%s", json);
    cr_expect_not_null(strstr(json, "\"redis_password_file\": null"), "%s", json);
    free(json);

    /* With the password in a file: the path is printed, never the contents. */
    cr_assert_eq(ks_config_set(&cfg, "redis_url", "redis://kpi@cache:6379/1", err, sizeof err), 0);
    cr_assert_eq(ks_config_set(&cfg, "redis_password_file", path, err, sizeof err), 0, "%s", err);
    json = ks_config_to_json(&cfg);
    cr_assert_not_null(json);
    cr_expect_null(strstr(json, "file-secret-1"), "%s", json);
    char want[400];
    snprintf(want, sizeof want, "\"redis_password_file\": \"%s\"", path);
    cr_expect_not_null(strstr(json, want), "%s", json);
    free(json);
}

Test(config_secrets, error_messages_mask_the_password)
{
    /* A bad URL from any layer is shown masked. */
    cr_assert_eq(ks_config_set(&cfg, "redis_url", "redis://kpi:pw-in-bad-url@cache:99999", err,
                               sizeof err),
                 KS_ERR_CONFIG);
    cr_expect_null(strstr(err, "pw-in-bad-url"), "%s", err);
    KS_T_ERR_HAS(err, "redis://kpi:***@cache:99999");
    /* A mistyped scheme is no URL the mask can take apart: everything before the last '@'
     * is hidden. */
    cr_assert_eq(ks_config_set(&cfg, "redis_url", "redis:/kpi:pw-typo@cache", err, sizeof err),
                 KS_ERR_CONFIG);
    cr_expect_null(strstr(err, "pw-typo"), "%s", err);
    KS_T_ERR_HAS(err, "***@cache");
    setenv("KPISTREAM_REDIS", "redis://:pw-env@cache/x", 1);
    cr_assert_eq(ks_config_apply_env(&cfg, err, sizeof err), KS_ERR_CONFIG);
    cr_expect_null(strstr(err, "pw-env"), "%s", err);
    KS_T_ERR_HAS(err, "KPISTREAM_REDIS", "redis://:***@cache/x");
    char out[64];
    cr_expect_str_eq(ks_redis_url_mask("redis:/u:p@h", out, sizeof out), "***@h");
    cr_expect_str_eq(ks_redis_url_mask("no-at-sign", out, sizeof out), "no-at-sign");
}
