/* Listen addresses ("host:port") for the metrics endpoint: syntax only; the
 * name is resolved when the server binds (src/metrics/http.c). */
#include "kpistream/config.h"
#include "kpistream/err.h"

#include <stdio.h>
#include <string.h>

#define KS__EXAMPLES "e.g. \"127.0.0.1:9464\", \"0.0.0.0:9464\" or \"[::1]:9464\""

int ks_listen_parse(const char *s, char *host, size_t hostsize, int *port, char *errstr,
                    size_t errsize)
{
    const char *h = s, *hend, *colon;
    if (!s || !*s) {
        snprintf(errstr, errsize, "must be \"host:port\" (" KS__EXAMPLES "), got \"\"");
        return KS_ERR_CONFIG;
    }
    if (*s == '[') {
        h = s + 1;
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':') {
            snprintf(errstr, errsize,
                     "must be \"[IPv6 address]:port\" with the brackets closed before the "
                     "port, got \"%.64s\"",
                     s);
            return KS_ERR_CONFIG;
        }
        colon = hend + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon) {
            snprintf(errstr, errsize, "must be \"host:port\" (" KS__EXAMPLES "), got \"%.64s\"",
                     s);
            return KS_ERR_CONFIG;
        }
        if (memchr(s, ':', (size_t)(colon - s))) {
            snprintf(errstr, errsize,
                     "an IPv6 address must be written in brackets (\"[::1]:9464\"), got "
                     "\"%.64s\"",
                     s);
            return KS_ERR_CONFIG;
        }
        hend = colon;
    }
    size_t hlen = (size_t)(hend - h);
    if (hlen == 0) {
        snprintf(errstr, errsize,
                 "needs a host before the port (\"0.0.0.0:9464\" listens on every interface), "
                 "got \"%.64s\"",
                 s);
        return KS_ERR_CONFIG;
    }
    if (hlen >= hostsize) {
        snprintf(errstr, errsize, "host is longer than %zu bytes", hostsize - 1);
        return KS_ERR_CONFIG;
    }
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c == 0x7f || c == '/' || c == '[' || c == ']' || c == '@') {
            snprintf(errstr, errsize, "host \"%.*s\" is not a host name or address",
                     (int)(hlen > 64 ? 64 : hlen), h);
            return KS_ERR_CONFIG;
        }
    }
    const char *p = colon + 1;
    size_t plen = strlen(p);
    long v = plen >= 1 && plen <= 5 ? 0 : -1;
    for (size_t i = 0; v >= 0 && i < plen; i++)
        v = p[i] >= '0' && p[i] <= '9' ? v * 10 + (p[i] - '0') : -1;
    if (v < 1 || v > 65535) {
        snprintf(errstr, errsize, "port must be an integer 1..65535, got \"%.64s\"", s);
        return KS_ERR_CONFIG;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (int)v;
    return 0;
}
