/* Chrome DevTools Protocol over a WebSocket (cdp.h). */
#include "cdp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static char cdp__err[512];

const char *cdp_error(void)
{
    return cdp__err;
}

__attribute__((format(printf, 1, 2))) static int cdp__fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cdp__err, sizeof cdp__err, fmt, ap);
    va_end(ap);
    fprintf(stderr, "cdp: %s\n", cdp__err);
    return -1;
}

const char *cdp_find_chromium(void)
{
    static const char *const names[] = {"chromium", "chromium-browser"};
    static char found[600];
    const char *path = getenv("PATH");
    for (size_t i = 0; path && i < sizeof names / sizeof *names; i++)
        for (const char *p = path; *p;) {
            const char *end = strchr(p, ':');
            size_t n = end ? (size_t)(end - p) : strlen(p);
            snprintf(found, sizeof found, "%.*s/%s", (int)n, p, names[i]);
            if (n && access(found, X_OK) == 0)
                return found;
            p += n + (end ? 1 : 0);
        }
    return NULL;
}

static int cdp__connect(int port, int timeout_s)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int cdp__write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int cdp__read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* GET path on the DevTools HTTP port. Returns the body or NULL. Caller frees. */
static char *cdp__http_get(int port, const char *path)
{
    int fd = cdp__connect(port, 5);
    if (fd < 0)
        return NULL;
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path, port);
    size_t len = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    if (!buf || cdp__write_all(fd, req, (size_t)n) < 0) {
        free(buf);
        close(fd);
        return NULL;
    }
    for (ssize_t r; (r = read(fd, buf + len, cap - len - 1)) > 0;) {
        len += (size_t)r;
        if (len + 1 == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
    }
    close(fd);
    buf[len] = '\0';
    char *body = strstr(buf, "\r\n\r\n");
    char *out = body ? strdup(body + 4) : NULL;
    free(buf);
    return out;
}

typedef struct cdp__port_ctx {
    const char *file;
    int port;
} cdp__port_ctx;

static int cdp__port_ready(void *ctx)
{
    cdp__port_ctx *p = ctx;
    if (access(p->file, R_OK) != 0)
        return 0; /* not yet (kst_read_file would say so on every poll) */
    char *text = kst_read_file(p->file, NULL);
    p->port = text && strchr(text, '\n') ? atoi(text) : 0;
    free(text);
    return p->port > 0;
}

int cdp_open(cdp *c, const char *bin, const char *url, const char *dir, const char *log_path,
             int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    snprintf(c->profile, sizeof c->profile, "%s", dir);
    char profile_arg[400];
    snprintf(profile_arg, sizeof profile_arg, "--user-data-dir=%s", dir);
    /* --no-sandbox: the tests run as root in CI containers, where Chromium's
     * sandbox cannot start; the page is our own. */
    char *const argv[] = {(char *)bin, "--headless=new", "--no-sandbox", "--disable-gpu",
                          "--disable-dev-shm-usage", "--no-first-run",
                          "--no-default-browser-check", "--hide-scrollbars", "--mute-audio",
                          "--window-size=1920,1080", "--remote-debugging-port=0", profile_arg,
                          (char *)url, NULL};
    if (kst_proc_spawn(&c->proc, argv, log_path) < 0)
        return cdp__fail("cannot start %s: %s", bin, kst_last_error());
    /* With port 0, Chromium writes the port it chose into the profile. */
    char file[400];
    snprintf(file, sizeof file, "%s/DevToolsActivePort", dir);
    cdp__port_ctx pc = {file, 0};
    if (kst_wait_until(cdp__port_ready, &pc, timeout_ms) < 0)
        return cdp__fail("%s wrote no %s within %d ms (running: %d)", bin, file, timeout_ms,
                         kst_proc_running(&c->proc));
    c->port = pc.port;
    char path[300] = "";
    for (int64_t end = kst_now_ms() + timeout_ms; !path[0] && kst_now_ms() < end;) {
        char *list = cdp__http_get(c->port, "/json/list");
        cJSON *a = list ? cJSON_Parse(list) : NULL;
        const cJSON *t;
        cJSON_ArrayForEach(t, a)
        {
            const cJSON *type = cJSON_GetObjectItem(t, "type");
            const cJSON *ws = cJSON_GetObjectItem(t, "webSocketDebuggerUrl");
            const char *p = cJSON_IsString(ws) ? strstr(ws->valuestring, "/devtools/") : NULL;
            if (cJSON_IsString(type) && strcmp(type->valuestring, "page") == 0 && p) {
                snprintf(path, sizeof path, "%s", p);
                break;
            }
        }
        cJSON_Delete(a);
        free(list);
        if (!path[0])
            usleep(100000);
    }
    if (!path[0])
        return cdp__fail("no page target on DevTools port %d", c->port);
    c->fd = cdp__connect(c->port, 30);
    if (c->fd < 0)
        return cdp__fail("cannot connect to DevTools port %d", c->port);
    char req[600];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: a3N0LWNkcC1rZXktMDAwMQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     path, c->port);
    char head[2048];
    size_t got = 0;
    if (cdp__write_all(c->fd, req, (size_t)n) < 0)
        return cdp__fail("WebSocket handshake: write failed");
    /* Byte by byte up to the blank line: what follows is frames. */
    while (got + 1 < sizeof head && read(c->fd, head + got, 1) == 1) {
        got++;
        if (got >= 4 && memcmp(head + got - 4, "\r\n\r\n", 4) == 0)
            break;
    }
    head[got] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0)
        return cdp__fail("WebSocket handshake refused: %.120s", head);
    return 0;
}

/* Sends one masked text frame. */
static int cdp__send(cdp *c, const char *text)
{
    size_t n = strlen(text);
    unsigned char hdr[14];
    size_t h = 0;
    hdr[h++] = 0x81; /* FIN, text */
    if (n < 126) {
        hdr[h++] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (unsigned char)(n >> 8);
        hdr[h++] = (unsigned char)n;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    static const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    memcpy(hdr + h, mask, 4);
    h += 4;
    unsigned char *body = malloc(n ? n : 1);
    if (!body)
        return -1;
    for (size_t i = 0; i < n; i++)
        body[i] = (unsigned char)text[i] ^ mask[i % 4];
    int rc = cdp__write_all(c->fd, hdr, h) < 0 || cdp__write_all(c->fd, body, n) < 0 ? -1 : 0;
    free(body);
    return rc;
}

/* Reads one message (continuation frames joined; pings and pongs skipped).
 * Returns it NUL-terminated, or NULL. Caller frees. */
static char *cdp__recv(cdp *c)
{
    char *msg = NULL;
    size_t len = 0;
    for (;;) {
        unsigned char h[2];
        if (cdp__read_all(c->fd, h, 2) < 0)
            break;
        uint64_t n = h[1] & 0x7f;
        unsigned char ext[8];
        if (n == 126) {
            if (cdp__read_all(c->fd, ext, 2) < 0)
                break;
            n = (uint64_t)ext[0] << 8 | ext[1];
        } else if (n == 127) {
            if (cdp__read_all(c->fd, ext, 8) < 0)
                break;
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | ext[i];
        }
        int op = h[0] & 0x0f;
        if (op == 0x8 || n > (1u << 30))
            break; /* closed, or nonsense */
        char *nm = realloc(msg, len + n + 1);
        if (!nm || cdp__read_all(c->fd, nm + len, n) < 0) {
            msg = nm ? nm : msg;
            break;
        }
        msg = nm;
        if (op == 0x9 || op == 0xA) /* ping / pong: not part of the message */
            continue;
        len += n;
        if (h[0] & 0x80) {
            msg[len] = '\0';
            return msg;
        }
    }
    free(msg);
    cdp__fail("DevTools connection lost");
    return NULL;
}

cJSON *cdp_call(cdp *c, const char *method, const char *params)
{
    if (c->fd < 0) {
        cdp__fail("not connected");
        return NULL;
    }
    int id = ++c->next_id;
    size_t n = strlen(method) + (params ? strlen(params) : 2) + 64;
    char *req = malloc(n);
    if (!req)
        return NULL;
    snprintf(req, n, "{\"id\":%d,\"method\":\"%s\",\"params\":%s}", id, method,
             params ? params : "{}");
    int sent = cdp__send(c, req);
    free(req);
    if (sent < 0) {
        cdp__fail("%s: send failed", method);
        return NULL;
    }
    for (;;) {
        char *text = cdp__recv(c);
        if (!text)
            return NULL;
        cJSON *m = cJSON_Parse(text);
        free(text);
        const cJSON *mid = cJSON_GetObjectItem(m, "id");
        if (!cJSON_IsNumber(mid) || mid->valueint != id) {
            cJSON_Delete(m); /* an event, or an older reply */
            continue;
        }
        cJSON *res = cJSON_DetachItemFromObject(m, "result");
        if (!res) {
            char *e = cJSON_PrintUnformatted(cJSON_GetObjectItem(m, "error"));
            cdp__fail("%s: %s", method, e ? e : "no result");
            free(e);
        }
        cJSON_Delete(m);
        return res;
    }
}

char *cdp_eval_string(cdp *c, const char *expr)
{
    cJSON *p = cJSON_CreateObject();
    cJSON_AddStringToObject(p, "expression", expr);
    cJSON_AddBoolToObject(p, "returnByValue", 1);
    char *params = cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    cJSON *r = cdp_call(c, "Runtime.evaluate", params);
    free(params);
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "result"), "value");
    char *out = cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
    if (r && !out)
        cdp__fail("evaluating %.80s: no string (exception?)", expr);
    cJSON_Delete(r);
    return out;
}

static int cdp__b64(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

int cdp_screenshot(cdp *c, const char *path)
{
    cJSON *r = cdp_call(c, "Page.captureScreenshot", "{\"format\":\"png\"}");
    const cJSON *d = cJSON_GetObjectItem(r, "data");
    if (!cJSON_IsString(d)) {
        cJSON_Delete(r);
        return cdp__fail("Page.captureScreenshot gave no data");
    }
    const char *s = d->valuestring;
    size_t n = strlen(s), o = 0;
    unsigned char *png = malloc(n / 4 * 3 + 3);
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; png && i < n; i++) {
        int v = cdp__b64(s[i]);
        if (v < 0)
            continue; /* '=' padding */
        acc = acc << 6 | (unsigned)v;
        if ((bits += 6) >= 8) {
            bits -= 8;
            png[o++] = (unsigned char)(acc >> bits);
        }
    }
    cJSON_Delete(r);
    FILE *f = png ? fopen(path, "wb") : NULL;
    int ok = f && fwrite(png, 1, o, f) == o;
    if (f && fclose(f) != 0)
        ok = 0;
    free(png);
    return ok ? 0 : cdp__fail("cannot write %s", path);
}

void cdp_close(cdp *c)
{
    if (c->fd > 0) /* 0: a zeroed struct, never opened */
        close(c->fd);
    c->fd = -1;
    if (c->proc.pid)
        kst_proc_stop(&c->proc, 10000);
}
