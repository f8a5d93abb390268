/* libFuzzer target: the Redis URL parser and its mask (src/config/redis_url.c).
 *
 * The input (up to its first NUL) is a --redis / redis_url / KPISTREAM_REDIS
 * value. Invariants:
 *  - on failure *out is untouched and the message is NUL-terminated; on
 *    success host is 1..255 bytes, port 1..65535, db 0..1000000, and user and
 *    password hold no NUL;
 *  - the password never leaks: the error message, the other fields and the
 *    masked URL are the same when the password's text is replaced by 'Q's
 *    (for passwords without %-escapes, whose own errors are about them);
 *  - the masked URL of a valid URL is valid and names the same host, port,
 *    user and db, with password "***" when there was one, and none when it
 *    was empty ("user:@host": nothing to hide, and "***" would read back as
 *    a password);
 *  - ks_redis_url_mask() into a buffer of any size n stays inside it and
 *    NUL-terminates it (n >= 1). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kpistream/config.h"
#include "kpistream/err.h"

/* The password's text as written in url (between the userinfo's first ':'
 * and the last '@'), found as the parser and the mask find it; NULL if the
 * URL has no "user:password@" part. */
static const char *password_text(const char *url, size_t *len)
{
    *len = 0;
    const char *sep = strstr(url, "://");
    if (!sep) return NULL;
    const char *p = sep + 3;
    const char *at = strrchr(p, '@');
    if (!at) return NULL;
    const char *colon = memchr(p, ':', (size_t)(at - p));
    if (!colon) return NULL;
    *len = (size_t)(at - colon - 1);
    return colon + 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = malloc(size + 1);
    if (!url) abort();
    memcpy(url, data, size);
    url[size] = '\0';

    size_t pwlen;
    const char *pw = password_text(url, &pwlen);
    /* The same URL with the password's text replaced by as many 'Q's: without
     * %-escapes (whose errors are about the password) every output must be the
     * same, i.e. none depends on the password. */
    char *other = NULL;
    if (pw && pwlen && memchr(pw, '%', pwlen) == NULL) {
        other = strdup(url);
        if (!other) abort();
        memset(other + (pw - url), 'Q', pwlen);
    }

    ks_redis_url u, sentinel;
    memset(&u, 0x5a, sizeof u);
    memcpy(&sentinel, &u, sizeof u);
    char err[KS_ERRSTR_SIZE];
    memset(err, 'x', sizeof err);
    int rc = ks_redis_url_parse(url, &u, err, sizeof err);
    if (rc != 0) {
        if (rc != KS_ERR_CONFIG) abort();
        if (memcmp(&u, &sentinel, sizeof u) != 0) abort();
        if (memchr(err, '\0', sizeof err) == NULL) abort();
    } else {
        size_t hl = strnlen(u.host, sizeof u.host);
        if (hl == 0 || hl >= sizeof u.host) abort();
        if (u.port < 1 || u.port > 65535 || u.db < 0 || u.db > 1000000) abort();
        if (memchr(u.user, '\0', sizeof u.user) == NULL) abort();
        if (memchr(u.password, '\0', sizeof u.password) == NULL) abort();
    }

    char masked[4096];
    ks_redis_url_mask(url, masked, sizeof masked);
    if (other) {
        ks_redis_url u2;
        char err2[KS_ERRSTR_SIZE], masked2[4096];
        int rc2 = ks_redis_url_parse(other, &u2, err2, sizeof err2);
        if (rc2 != rc || (rc != 0 && strcmp(err, err2) != 0)) abort();
        if (rc == 0 && (strcmp(u.host, u2.host) != 0 || u.port != u2.port || u.db != u2.db ||
                        strcmp(u.user, u2.user) != 0))
            abort();
        ks_redis_url_mask(other, masked2, sizeof masked2);
        if (strcmp(masked, masked2) != 0) abort();
        free(other);
    }
    if (size < 2048) {
        if (rc == 0) {
            ks_redis_url m;
            if (ks_redis_url_parse(masked, &m, err, sizeof err) != 0) abort();
            if (strcmp(m.host, u.host) != 0 || m.port != u.port || m.db != u.db ||
                strcmp(m.user, u.user) != 0)
                abort();
            if (pw && pwlen && strcmp(m.password, "***") != 0) abort();
            if (pw && !pwlen && m.password[0]) abort();
        }
    }
    /* Any output size: ASan guards the exact buffer. */
    size_t n = size ? (size_t)data[0] % 48 + 1 : 1;
    char *small = malloc(n);
    if (!small) abort();
    ks_redis_url_mask(url, small, n);
    if (memchr(small, '\0', n) == NULL) abort();
    free(small);
    free(url);
    return 0;
}
