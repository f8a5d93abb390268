/* libFuzzer target: the config file loader. The input is the text of a config
 * file, applied on top of the defaults as `kpistream run --config FILE` does
 * (ks_config_load_file), then ks_config_validate().
 *
 * Invariants: every error is a KS_ERR_CONFIG that names the file (or I/O /
 * out of memory), a NUL-terminated message; a failed load leaves a config
 * that ks_config_free() frees (ASan: no leak, no double free); a valid config
 * prints (check-config) without secrets and round-trips through the loader
 * (fuzz_config_common.h). */
#include "fuzz_config_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ks_config cfg;
    char err[KS_ERRSTR_SIZE];
    if (ks_config_init_defaults(&cfg) != 0) abort();
    err[0] = '\0';
    int rc = fz_load_text(&cfg, (const char *)data, size, err, sizeof err);
    if (rc != 0 && rc != KS_ERR_CONFIG && rc != KS_ERR_IO && rc != KS_ERR_NOMEM) abort();
    if (rc != 0 && memchr(err, '\0', sizeof err) == NULL) abort();
    if (rc == 0 && ks_config_validate(&cfg, err, sizeof err) == 0) fz_check_valid(&cfg);
    ks_config_free(&cfg);
    return 0;
}
