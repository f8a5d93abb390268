/* redis:// URL parsing for the Redis adapter and for config validation, and
 * the password file that keeps the password out of the URL.
 *
 *   redis://[user[:password]@]host[:port][/db]
 *
 * Follows the common client convention (redis-py, Jedis): "user:password@" for
 * ACL users, ":password@" for the legacy requirepass, "user@" for a user with
 * no password. The password is never written into an error message. */
#include "kpistream/config.h"
#include "kpistream/err.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static int ks__hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Percent-decodes [s, s+len) into out (size n). Returns 0, -1 on a bad escape,
 * -2 when it does not fit. */
static int ks__pct_decode(const char *s, size_t len, char *out, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= len) return -1;
            int hi = ks__hexval((unsigned char)s[i + 1]);
            int lo = ks__hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) /* %00 would truncate the C string */
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (o + 1 >= n) return -2;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return 0;
}

/* Parses a non-empty run of digits [s, s+len) into *out, at most max. */
static bool ks__parse_uint(const char *s, size_t len, long max, long *out)
{
    if (len == 0 || len > 10) return false;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
}

#define KS__URL_FORM "redis://[user:password@]host[:port][/db]"

int ks_redis_url_parse(const char *url, ks_redis_url *out, char *errstr, size_t errsize)
{
    static const char scheme[] = "redis://";
    if (!url || strncasecmp(url, scheme, sizeof scheme - 1) != 0) {
        if (url && strncasecmp(url, "rediss://", 9) == 0)
            snprintf(errstr, errsize, "TLS (rediss://) is not supported; use " KS__URL_FORM);
        else if (url && strncasecmp(url, "unix://", 7) == 0)
            snprintf(errstr, errsize, "unix sockets are not supported; use " KS__URL_FORM);
        else
            snprintf(errstr, errsize, "must start with redis:// (" KS__URL_FORM ")");
        return KS_ERR_CONFIG;
    }
    ks_redis_url u;
    memset(&u, 0, sizeof u);
    u.port = 6379;
    const char *p = url + sizeof scheme - 1;

    /* The last '@' ends the userinfo: a path or port never contains one, while an
     * unencoded password might. */
    const char *at = strrchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
        int rc = ks__pct_decode(p, ulen, u.user, sizeof u.user);
        if (rc != 0) {
            snprintf(errstr, errsize, "user %s", rc == -1 ? "has a bad %-escape" : "is too long");
            return KS_ERR_CONFIG;
        }
        if (colon) {
            rc = ks__pct_decode(colon + 1, (size_t)(at - colon - 1), u.password, sizeof u.password);
            if (rc != 0) {
                snprintf(errstr, errsize, "password %s",
                         rc == -1 ? "has a bad %-escape" : "is too long");
                return KS_ERR_CONFIG;
            }
        }
        p = at + 1;
    }

    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) {
            snprintf(errstr, errsize, "IPv6 host has no closing ']'");
            return KS_ERR_CONFIG;
        }
        for (const char *q = host; q < host_end; q++) {
            if (!isxdigit((unsigned char)*q) && *q != ':' && *q != '.') {
                snprintf(errstr, errsize, "bad character '%c' in IPv6 host", *q);
                return KS_ERR_CONFIG;
            }
        }
        p = host_end + 1;
    } else {
        while (*p && *p != ':' && *p != '/')
            p++;
        host_end = p;
        for (const char *q = host; q < host_end; q++) {
            if (!isalnum((unsigned char)*q) && *q != '.' && *q != '-' && *q != '_') {
                snprintf(errstr, errsize, "bad character '%c' in host", *q);
                return KS_ERR_CONFIG;
            }
        }
    }
    size_t hlen = (size_t)(host_end - host);
    if (hlen == 0) {
        snprintf(errstr, errsize, "host is missing (" KS__URL_FORM ")");
        return KS_ERR_CONFIG;
    }
    if (hlen >= sizeof u.host) {
        snprintf(errstr, errsize, "host is longer than %zu bytes", sizeof u.host - 1);
        return KS_ERR_CONFIG;
    }
    memcpy(u.host, host, hlen);

    if (*p == ':') {
        const char *ps = ++p;
        while (*p && *p != '/')
            p++;
        long port;
        if (!ks__parse_uint(ps, (size_t)(p - ps), 65535, &port) || port == 0) {
            snprintf(errstr, errsize, "port must be an integer 1..65535, got \"%.*s\"",
                     (int)(p - ps > 32 ? 32 : p - ps), ps);
            return KS_ERR_CONFIG;
        }
        u.port = (int)port;
    }
    if (*p == '/') {
        const char *ds = ++p;
        size_t dlen = strlen(ds);
        long db;
        if (dlen > 0 && !ks__parse_uint(ds, dlen, 1000000, &db)) {
            snprintf(errstr, errsize, "db must be an integer 0..1000000, got \"%.32s\"", ds);
            return KS_ERR_CONFIG;
        }
        u.db = dlen > 0 ? (int)db : 0;
    } else if (*p != '\0') {
        snprintf(errstr, errsize, "unexpected \"%.32s\" after the host", p);
        return KS_ERR_CONFIG;
    }
    *out = u;
    return 0;
}

char *ks_redis_url_mask(const char *url, char *out, size_t n)
{
    if (n == 0) return out;
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep && url && strrchr(url, '@')) {
        /* Not a URL we can take apart, yet something before an '@' may be a
         * password: show none of it. */
        snprintf(out, n, "***%s", strrchr(url, '@'));
        return out;
    }
    const char *at = sep ? strrchr(sep + 3, '@') : NULL;
    const char *colon = at ? memchr(sep + 3, ':', (size_t)(at - sep - 3)) : NULL;
    /* An empty password ("user:@host") is no secret, and "***" in its place
     * would read back as one: check-config's output, given to kpistream
     * again with redis_password_file, was refused (fuzz_config). */
    if (!colon || colon + 1 == at) {
        snprintf(out, n, "%s", url ? url : "");
        return out;
    }
    snprintf(out, n, "%.*s***%s", (int)(colon + 1 - url), url, at);
    return out;
}

int ks_password_file_read(const char *path, char *out, size_t n, char *errstr, size_t errsize)
{
    /* O_NONBLOCK: a FIFO given by mistake must not hang start-up (it is then
     * refused as not a regular file). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        snprintf(errstr, errsize, "%s: cannot open: %s", path, strerror(errno));
        return KS_ERR_IO;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(errstr, errsize, "%s: not a regular file", path);
        return KS_ERR_CONFIG;
    }
    char buf[512];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, sizeof buf - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            snprintf(errstr, errsize, "%s: cannot read: %s", path, strerror(e));
            return KS_ERR_IO;
        }
        if (r == 0 || (len += (size_t)r) == sizeof buf) break;
    }
    close(fd);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    int rc = 0;
    if (len == 0)
        snprintf(errstr, errsize, "%s: is empty (a password is expected)", path), rc = KS_ERR_CONFIG;
    else if (len >= n || len >= 256)
        snprintf(errstr, errsize, "%s: the password is longer than 255 bytes", path),
            rc = KS_ERR_CONFIG;
    else if (memchr(buf, '\0', len))
        snprintf(errstr, errsize, "%s: holds a NUL byte", path), rc = KS_ERR_CONFIG;
    if (rc == 0) {
        memcpy(out, buf, len);
        out[len] = '\0';
    }
    explicit_bzero(buf, sizeof buf);
    return rc;
}

int ks_config_redis_target(const ks_config *cfg, ks_redis_url *out, char *errstr, size_t errsize)
{
    int rc = ks_redis_url_parse(cfg->redis_url, out, errstr, errsize);
    if (rc == 0 && cfg->redis_password_file && cfg->redis_password) {
        if (strlen(cfg->redis_password) >= sizeof out->password) {
            snprintf(errstr, errsize, "redis_password_file: the password is too long");
            return KS_ERR_CONFIG;
        }
        snprintf(out->password, sizeof out->password, "%s", cfg->redis_password);
    }
    return rc;
}

int ks_redis_url_flags(const char *url, const char *pwfile, ks_redis_url *out, char *errstr,
                       size_t errsize)
{
    char why[KS_ERRSTR_SIZE];
    if (ks_redis_url_parse(url, out, why, sizeof why) != 0) {
        snprintf(errstr, errsize, "--redis: %s", why);
        return KS_ERR_CONFIG;
    }
    if (!pwfile || !*pwfile)
        return 0;
    if (out->password[0]) {
        snprintf(errstr, errsize, "--redis-password-file: the URL has a password too; give "
                                  "the password in one place");
        return KS_ERR_CONFIG;
    }
    if (ks_password_file_read(pwfile, out->password, sizeof out->password, why, sizeof why) != 0) {
        snprintf(errstr, errsize, "--redis-password-file: %s", why);
        return KS_ERR_CONFIG;
    }
    return 0;
}
