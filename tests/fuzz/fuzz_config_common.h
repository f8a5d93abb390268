/* Shared by fuzz_config.c and fuzz_config_args.c: loading config text through
 * the real file loader (ks_config_load_file() reads a path, so the text goes
 * to an in-memory file reached as /proc/self/fd/N), and the invariants every
 * successfully validated configuration must meet. */
#ifndef KS_FUZZ_CONFIG_COMMON_H
#define KS_FUZZ_CONFIG_COMMON_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kpistream/config.h"
#include "kpistream/err.h"

/* Applies text as a config file on top of cfg. Returns ks_config_load_file()'s result. */
static int fz_load_text(ks_config *cfg, const char *text, size_t len, char *err, size_t n)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_config", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0) abort();
    if (len && pwrite(fd, text, len, 0) != (ssize_t)len) abort();
    int rc = ks_config_load_file(cfg, path, err, n);
    /* Every error names the file (or is an out-of-memory / I/O one). */
    if (rc == KS_ERR_CONFIG && strncmp(err, path, strlen(path)) != 0) abort();
    return rc;
}

static bool fz_secret_name(const char *name)
{
    return strcasestr(name, "password") || strcasestr(name, "secret") ||
           strcasestr(name, "key.pem");
}

/* For a configuration that passed ks_config_validate():
 *  - ks_config_to_json() shows no secret: the redis_url password is "***",
 *    and so is every kafka property named like a secret;
 *  - the printed JSON is a config file the loader takes back, valid, and it
 *    prints the same again (the check-config round trip of docs/config.md). */
static void fz_check_valid(const ks_config *cfg)
{
    char *json = ks_config_to_json(cfg);
    if (!json) abort();
    cJSON *root = cJSON_Parse(json);
    if (!root) abort();
    const cJSON *url = cJSON_GetObjectItemCaseSensitive(root, "redis_url");
    if (!cJSON_IsString(url)) abort();
    ks_redis_url u, shown;
    char why[KS_ERRSTR_SIZE];
    if (ks_redis_url_parse(cfg->redis_url, &u, why, sizeof why) != 0) abort();
    if (ks_redis_url_parse(url->valuestring, &shown, why, sizeof why) != 0) abort();
    if (strcmp(shown.host, u.host) != 0 || shown.port != u.port || shown.db != u.db ||
        strcmp(shown.user, u.user) != 0)
        abort();
    if (u.password[0] && strcmp(shown.password, "***") != 0) abort();
    const cJSON *kafka = cJSON_GetObjectItemCaseSensitive(root, "kafka");
    if (!cJSON_IsObject(kafka)) abort();
    for (int i = 0; i < cfg->nkafka_props; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(kafka, cfg->kafka_props[i].key);
        if (!cJSON_IsString(v)) abort();
        if (fz_secret_name(cfg->kafka_props[i].key) && strcmp(v->valuestring, "***") != 0)
            abort();
    }
    cJSON_Delete(root);

    ks_config again;
    char err[KS_ERRSTR_SIZE];
    if (ks_config_init_defaults(&again) != 0) abort();
    if (fz_load_text(&again, json, strlen(json), err, sizeof err) != 0) {
        fprintf(stderr, "check-config output not loadable: %s\n%s\n", err, json);
        abort();
    }
    if (ks_config_validate(&again, err, sizeof err) != 0) {
        fprintf(stderr, "check-config output not valid: %s\n%s\n", err, json);
        abort();
    }
    char *json2 = ks_config_to_json(&again);
    if (!json2) abort();
    if (strcmp(json, json2) != 0) {
        fprintf(stderr, "round trip differs:\n%s\n---\n%s\n", json, json2);
        abort();
    }
    free(json2);
    ks_config_free(&again);
    free(json);
}

#endif
