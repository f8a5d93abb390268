/* libFuzzer target: the environment and command-line layers of the config
 * (ks_config_apply_env, ks_config_apply_flag, ks_config_flag_is_switch), driven
 * the way `kpistream run` drives them (src/app/main.c): the environment on top
 * of the defaults, then the flags in order, each "--name=value" or "--name
 * value" (a switch takes no value), then ks_config_validate().
 *
 * The input is a list of words separated by NUL bytes. Words "KPISTREAM_X=v"
 * set that environment variable (only for this input); the others are the
 * argv after the subcommand. Invariants as in fuzz_config.c: errors are
 * NUL-terminated and name the flag or variable; a valid result prints without
 * secrets and round-trips through the file loader. */
#include "fuzz_config_common.h"

#define MAX_WORDS 48

static const char *const env_names[] = {"KPISTREAM_BROKERS", "KPISTREAM_TOPICS",
                                        "KPISTREAM_GROUP", "KPISTREAM_REDIS",
                                        "KPISTREAM_REDIS_PASSWORD_FILE"};
#define NENV (sizeof env_names / sizeof env_names[0])

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A NUL-terminated copy, split at the NULs. */
    char *buf = malloc(size + 1);
    if (!buf) abort();
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *argv[MAX_WORDS];
    int argc = 0;
    for (size_t i = 0; i <= size && argc < MAX_WORDS;) {
        char *w = buf + i;
        size_t l = strlen(w);
        i += l + 1;
        if (l == 0) continue;
        bool env = false;
        for (size_t e = 0; e < NENV; e++) {
            size_t nl = strlen(env_names[e]);
            if (strncmp(w, env_names[e], nl) == 0 && w[nl] == '=') {
                setenv(env_names[e], w + nl + 1, 1);
                env = true;
            }
        }
        if (!env) argv[argc++] = w;
    }

    ks_config cfg;
    char err[KS_ERRSTR_SIZE] = "";
    if (ks_config_init_defaults(&cfg) != 0) abort();
    int rc = ks_config_apply_env(&cfg, err, sizeof err);
    if (rc != 0 && (rc != KS_ERR_CONFIG || strncmp(err, "environment variable KPISTREAM_", 31) != 0))
        abort();
    for (int i = 0; rc == 0 && i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) break; /* main.c: "unexpected argument" */
        char flag[256];
        const char *value = NULL;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(flag, sizeof flag, "%.*s", (int)(eq - a), a);
            value = eq + 1;
        } else {
            snprintf(flag, sizeof flag, "%s", a);
            if (!ks_config_flag_is_switch(flag)) {
                if (i + 1 >= argc) break;
                value = argv[++i];
            }
        }
        rc = ks_config_apply_flag(&cfg, flag, value, err, sizeof err);
        if (rc != 0) {
            if (rc != KS_ERR_CONFIG && rc != KS_ERR_INVAL && rc != KS_ERR_NOMEM) abort();
            if (memchr(err, '\0', sizeof err) == NULL) abort();
        }
    }
    if (rc == 0 && ks_config_validate(&cfg, err, sizeof err) == 0) fz_check_valid(&cfg);
    ks_config_free(&cfg);
    for (size_t e = 0; e < NENV; e++)
        unsetenv(env_names[e]);
    free(buf);
    return 0;
}
