/* Integration-test harness: see harness.h. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Errors                                                              */

static char kst__err[1024];

const char *kst_last_error(void)
{
    return kst__err;
}

__attribute__((format(printf, 1, 2))) static int kst__fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kst__err, sizeof kst__err, fmt, ap);
    va_end(ap);
    fprintf(stderr, "kst: %s\n", kst__err);
    return -1;
}

/* Keeps a message for kst_last_error() without printing it: for answers that
 * are no failure (a condition that does not hold yet, polled in a loop). */
__attribute__((format(printf, 1, 2))) static void kst__note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(kst__err, sizeof kst__err, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ */
/* Time and waiting                                                    */

int64_t kst_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void kst__nap_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int kst_wait_until(int (*cond)(void *ctx), void *ctx, int timeout_ms)
{
    int64_t deadline = kst_now_ms() + timeout_ms;
    int nap = 1;
    for (;;) {
        if (cond(ctx))
            return 0;
        if (kst_now_ms() >= deadline)
            return kst__fail("condition not met within %d ms", timeout_ms);
        kst__nap_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
}

/* ------------------------------------------------------------------ */
/* Files                                                               */

int kst_tmpdir(char *buf, size_t n)
{
    if (n < 20)
        return kst__fail("kst_tmpdir: buffer too small");
    snprintf(buf, n, "/tmp/kst-XXXXXX");
    if (!mkdtemp(buf))
        return kst__fail("mkdtemp %s: %s", buf, strerror(errno));
    return 0;
}

static int kst__rm_cb(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        return kst__fail("remove %s: %s", path, strerror(errno));
    return 0;
}

int kst_rmtree(const char *path)
{
    struct stat st;
    if (!path || !*path || lstat(path, &st) != 0)
        return 0;
    return nftw(path, kst__rm_cb, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

char *kst_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        kst__fail("open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (!buf || rerr) {
        free(buf);
        kst__fail("read %s failed", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

void kst_log_tail(const char *path, int max_lines)
{
    size_t len = 0;
    char *text = kst_read_file(path, &len);
    if (!text)
        return;
    const char *start = text + len;
    int lines = 0;
    /* Walk back over max_lines newlines (a trailing newline does not count). */
    while (start > text) {
        if (start[-1] == '\n' && start != text + len && ++lines >= max_lines)
            break;
        start--;
    }
    fprintf(stderr, "----- last %d lines of %s -----\n%s%s----- end of %s -----\n", max_lines,
            path, start, (len && text[len - 1] != '\n') ? "\n" : "", path);
    free(text);
}

int kst_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kst__fail("socket: %s", strerror(errno));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        int e = errno;
        close(fd);
        return kst__fail("bind 127.0.0.1:0: %s", strerror(e));
    }
    close(fd);
    return ntohs(sa.sin_port);
}

/* ------------------------------------------------------------------ */
/* Processes                                                           */

/* Several `kpistream run` children run at once (scale-out members, ctest
 * -j), and each would bind metrics_listen's default 127.0.0.1:9464: unless
 * argv names metrics_listen itself (--metrics-listen, --set
 * metrics_listen=...), a run gets "--metrics-listen ''" (endpoint off).
 * Returns a copy of argv with it appended (free() it), or NULL to use argv. */
static char **kst__run_argv(char *const argv[])
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strcmp(base, "kpistream") != 0 || !argv[1] || strcmp(argv[1], "run") != 0)
        return NULL;
    size_t n = 0;
    for (; argv[n]; n++)
        if (strstr(argv[n], "metrics-listen") || strstr(argv[n], "metrics_listen"))
            return NULL;
    char **v = calloc(n + 3, sizeof *v);
    if (!v)
        return NULL;
    memcpy(v, argv, n * sizeof *v);
    v[n] = (char *)"--metrics-listen";
    v[n + 1] = (char *)"";
    return v;
}

int kst_proc_spawn(kst_proc *p, char *const argv[], const char *log_path)
{
    memset(p, 0, sizeof *p);
    if (!argv || !argv[0])
        return kst__fail("kst_proc_spawn: empty argv");
    char **run_argv = kst__run_argv(argv);
    if (run_argv)
        argv = run_argv;
    snprintf(p->log_path, sizeof p->log_path, "%s", log_path);
    /* Open everything in the parent, so errors are reported here and the child
     * only does async-signal-safe work between fork and exec (the test process
     * has librdkafka threads). */
    int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        free(run_argv);
        return kst__fail("open log %s: %s", log_path, strerror(errno));
    }
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd < 0) {
        close(logfd);
        free(run_argv);
        return kst__fail("open /dev/null: %s", strerror(errno));
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(logfd);
        close(nullfd);
        free(run_argv);
        return kst__fail("fork: %s", strerror(e));
    }
    if (pid == 0) {
        /* Die with the test process, so a crashed or killed test leaves no
         * redis-server or kpistream behind. Checked against a parent that
         * already died before prctl. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        sigset_t all;
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(nullfd, STDIN_FILENO);
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        execvp(argv[0], argv);
        static const char msg[] = "kst_proc_spawn: exec failed: ";
        const char *es = strerror(errno);
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        w = write(STDERR_FILENO, argv[0], strlen(argv[0]));
        w = write(STDERR_FILENO, ": ", 2);
        w = write(STDERR_FILENO, es, strlen(es));
        w = write(STDERR_FILENO, "\n", 1);
        (void)w;
        _exit(127);
    }
    close(logfd);
    close(nullfd);
    free(run_argv);
    p->pid = pid;
    return 0;
}

static void kst__reaped(kst_proc *p, int st)
{
    p->exited = true;
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 255;
    p->pid = 0;
}

int kst_proc_running(kst_proc *p)
{
    if (p->pid <= 0)
        return 0;
    int st;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid) {
        kst__reaped(p, st);
        return 0;
    }
    if (r < 0 && errno == ECHILD) {
        p->pid = 0;
        p->exited = true;
        p->status = 255;
        return 0;
    }
    return 1;
}

int kst_proc_wait(kst_proc *p, int timeout_ms, int *exit_status)
{
    if (p->exited) {
        if (exit_status)
            *exit_status = p->status;
        return 0;
    }
    if (p->pid <= 0)
        return kst__fail("kst_proc_wait: no process");
    pid_t pid = p->pid;
    int64_t deadline = kst_now_ms() + timeout_ms;
    int nap = 1;
    while (kst_proc_running(p)) {
        if (kst_now_ms() >= deadline)
            return kst__fail("process %d still running after %d ms (log: %s)", (int)pid,
                             timeout_ms, p->log_path);
        kst__nap_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
    if (exit_status)
        *exit_status = p->status;
    return 0;
}

void kst_proc_kill(kst_proc *p, int sig)
{
    if (p->pid > 0 && !p->exited)
        kill(p->pid, sig);
}

int kst_proc_stop(kst_proc *p, int timeout_ms)
{
    if (p->pid <= 0)
        return p->exited ? p->status : -1;
    int status = -1;
    kst_proc_kill(p, SIGTERM);
    if (kst_proc_wait(p, timeout_ms, &status) != 0) {
        kst_proc_kill(p, SIGKILL);
        kst_proc_wait(p, 10000, &status);
    }
    return status;
}

int kst_file_contains(const char *path, const char *needle)
{
    if (access(path, F_OK) != 0)
        return 0;
    char *text = kst_read_file(path, NULL);
    int found = text && strstr(text, needle) != NULL;
    free(text);
    return found;
}

long kst_log_largest_flush(const char *path)
{
    char *text = kst_read_file(path, NULL);
    if (!text)
        return -1;
    const char *at = strstr(text, "largest flush: ");
    long n = at ? strtol(at + strlen("largest flush: "), NULL, 10) : -1;
    free(text);
    return n;
}

typedef struct kst__log_wait {
    const char *path, *needle;
    kst_proc *proc;
    bool found;
} kst__log_wait;

static int kst__log_cond(void *ctx)
{
    kst__log_wait *w = ctx;
    w->found = kst_file_contains(w->path, w->needle);
    return w->found || (w->proc && !kst_proc_running(w->proc));
}

int kst_wait_log(const char *path, const char *needle, kst_proc *p, int timeout_ms)
{
    kst__log_wait w = {path, needle, p, false};
    if (kst_wait_until(kst__log_cond, &w, timeout_ms) != 0)
        return kst__fail("no \"%s\" in %s within %d ms", needle, path, timeout_ms);
    /* It may have written the line just before exiting. */
    if (!w.found && !kst_file_contains(path, needle))
        return kst__fail("no \"%s\" in %s: the process exited with status %d", needle, path,
                         p->status);
    return 0;
}

int kst_kpistream_spawn(kst_proc *p, const char *log_path, const char *const *args,
                        const char *const *more)
{
    const char *bin = kst_binary();
    if (!bin)
        return kst__fail("KS_BINARY is not set");
    size_t n = 1;
    for (const char *const *a = args; a && *a; a++)
        n++;
    for (const char *const *a = more; a && *a; a++)
        n++;
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv)
        return kst__fail("out of memory");
    size_t i = 0;
    argv[i++] = (char *)bin;
    for (const char *const *a = args; a && *a; a++)
        argv[i++] = (char *)*a;
    for (const char *const *a = more; a && *a; a++)
        argv[i++] = (char *)*a;
    int rc = kst_proc_spawn(p, argv, log_path);
    free(argv);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Redis                                                               */

/* Outcome of one start attempt: up, lost the port race, or a hard failure. */
enum { KST__UP = 0, KST__PORT_TAKEN = 1, KST__FAILED = -1 };

/* Returns 1 if the server on r->port answers PING and is our child (checked by
 * process_id, so a foreign server that won the port race is not mistaken for
 * ours). */
static int kst__redis_ready(const kst_redis *r)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return 0;
    }
    redisSetTimeout(c, tv);
    int ok = 0;
    redisReply *rep = redisCommand(c, "PING");
    if (rep && rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0) {
        freeReplyObject(rep);
        rep = redisCommand(c, "INFO server");
        if (rep && rep->type == REDIS_REPLY_STRING) {
            const char *pidline = strstr(rep->str, "process_id:");
            if (pidline && atol(pidline + 11) == (long)r->pid)
                ok = 1;
        }
    }
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return ok;
}

static int kst__redis_spawn_once(kst_redis *r)
{
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    bool persist = (r->flags & KST_REDIS_PERSIST) != 0;
    char *argv[] = {"redis-server",
                    "--port",
                    port,
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    persist ? "yes" : "no",
                    "--appendfsync",
                    "always",
                    "--dir",
                    r->dir,
                    "--daemonize",
                    "no",
                    "--protected-mode",
                    "no",
                    NULL};
    /* Remember where this attempt's output starts, to look for a bind error
     * of this attempt only (the log is appended to across restarts). */
    struct stat st;
    off_t log_start = stat(r->log_path, &st) == 0 ? st.st_size : 0;
    kst_proc proc;
    if (kst_proc_spawn(&proc, argv, r->log_path) != 0)
        return KST__FAILED;
    r->pid = proc.pid;
    int64_t deadline = kst_now_ms() + 15000;
    int nap = 2;
    while (kst_now_ms() < deadline) {
        if (!kst_proc_running(&proc)) {
            r->pid = 0;
            char *text = kst_read_file(r->log_path, NULL);
            int taken = text && (off_t)strlen(text) >= log_start &&
                        (strstr(text + log_start, "Address already in use") != NULL);
            free(text);
            if (taken)
                return KST__PORT_TAKEN;
            kst_log_tail(r->log_path, 20);
            kst__fail("redis-server exited with status %d before answering (log: %s)",
                      proc.status, r->log_path);
            return KST__FAILED;
        }
        if (kst__redis_ready(r))
            return KST__UP;
        kst__nap_ms(nap);
        if (nap < 50)
            nap *= 2;
    }
    kst_proc_stop(&proc, 2000);
    r->pid = 0;
    kst_log_tail(r->log_path, 20);
    return kst__fail("redis-server on port %d did not answer PING within 15 s", r->port);
}

int kst_redis_start_opt(kst_redis *r, int flags)
{
    memset(r, 0, sizeof *r);
    r->flags = flags;
    if (kst_tmpdir(r->dir, sizeof r->dir) != 0)
        return -1;
    snprintf(r->log_path, sizeof r->log_path, "%s/redis.log", r->dir);
    for (int attempt = 0; attempt < 10; attempt++) {
        r->port = kst_free_port();
        if (r->port < 0)
            break;
        int rc = kst__redis_spawn_once(r);
        if (rc == KST__UP) {
            snprintf(r->url, sizeof r->url, "redis://127.0.0.1:%d/0", r->port);
            return 0;
        }
        if (rc == KST__FAILED)
            break;
        /* Lost the race for the port to another process: pick another. */
    }
    int port = r->port;
    kst_rmtree(r->dir);
    memset(r, 0, sizeof *r);
    return kst__fail("could not start redis-server (last port %d)", port);
}

int kst_redis_start(kst_redis *r)
{
    return kst_redis_start_opt(r, 0);
}

int kst_redis_down(kst_redis *r)
{
    if (r->pid <= 0)
        return 0;
    kst_proc p = {.pid = r->pid};
    snprintf(p.log_path, sizeof p.log_path, "%s", r->log_path);
    int st = kst_proc_stop(&p, 5000);
    r->pid = 0;
    /* redis-server exits 0 on SIGTERM after its shutdown (AOF fsync). */
    if (st != 0)
        return kst__fail("redis-server exited with status %d on SIGTERM", st);
    return 0;
}

int kst_redis_up(kst_redis *r)
{
    if (r->pid > 0)
        return 0;
    if (r->port <= 0)
        return kst__fail("kst_redis_up: never started");
    /* The port is ours unless someone grabbed it while we were down; give a
     * lingering socket a few seconds before giving up. */
    int64_t deadline = kst_now_ms() + 5000;
    for (;;) {
        int rc = kst__redis_spawn_once(r);
        if (rc == KST__UP)
            return 0;
        if (rc == KST__FAILED || kst_now_ms() >= deadline)
            return kst__fail("could not restart redis-server on port %d", r->port);
        kst__nap_ms(50);
    }
}

int kst_redis_restart(kst_redis *r)
{
    if (kst_redis_down(r) != 0)
        return -1;
    return kst_redis_up(r);
}

void kst_redis_stop(kst_redis *r)
{
    if (r->pid > 0)
        kst_redis_down(r);
    if (r->dir[0])
        kst_rmtree(r->dir);
    memset(r, 0, sizeof *r);
}

const char *kst_redis_url(const kst_redis *r)
{
    return r->url;
}

redisContext *kst_redis_connect(const kst_redis *r)
{
    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (!c || c->err) {
        kst__fail("connect to redis 127.0.0.1:%d: %s", r->port, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    return c;
}

int kst_redis_hget(redisContext *c, const char *key, const char *field, char *buf, size_t n)
{
    redisReply *rep = redisCommand(c, "HGET %s %s", key, field);
    if (!rep)
        return kst__fail("HGET %s %s: %s", key, field, c->errstr);
    int rc;
    if (rep->type == REDIS_REPLY_NIL) {
        rc = 0;
    } else if (rep->type == REDIS_REPLY_STRING) {
        if (n) {
            size_t m = rep->len < n - 1 ? rep->len : n - 1;
            memcpy(buf, rep->str, m);
            buf[m] = '\0';
        }
        rc = 1;
    } else {
        rc = kst__fail("HGET %s %s: %s", key, field,
                       rep->type == REDIS_REPLY_ERROR ? rep->str : "unexpected reply type");
    }
    freeReplyObject(rep);
    return rc;
}

long long kst_redis_hget_ll(redisContext *c, const char *key, const char *field, long long dflt)
{
    char buf[128];
    if (kst_redis_hget(c, key, field, buf, sizeof buf) != 1)
        return dflt;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end) {
        kst__fail("%s %s: \"%s\" is not an integer", key, field, buf);
        return dflt;
    }
    return v;
}

double kst_redis_hget_d(redisContext *c, const char *key, const char *field, double dflt)
{
    char buf[128];
    if (kst_redis_hget(c, key, field, buf, sizeof buf) != 1)
        return dflt;
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || end == buf || *end) {
        kst__fail("%s %s: \"%s\" is not a number", key, field, buf);
        return dflt;
    }
    return v;
}

int kst_redis_wait_ll_ge(const kst_redis *r, const char *key, const char *field, long long min,
                         int timeout_ms)
{
    int64_t deadline = kst_now_ms() + timeout_ms;
    redisContext *c = NULL;
    char last[128] = "(absent)";
    int nap = 1;
    for (;;) {
        if (!c) {
            struct timeval tv = {.tv_sec = 1, .tv_usec = 0};
            c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
            if (c && c->err) {
                redisFree(c);
                c = NULL;
            }
        }
        if (c) {
            redisReply *rep = redisCommand(c, "HGET %s %s", key, field);
            if (!rep) { /* connection lost: reconnect next round */
                redisFree(c);
                c = NULL;
            } else {
                if (rep->type == REDIS_REPLY_STRING) {
                    snprintf(last, sizeof last, "%s", rep->str);
                    char *end;
                    long long v = strtoll(rep->str, &end, 10);
                    if (end != rep->str && *end == '\0' && v >= min) {
                        freeReplyObject(rep);
                        redisFree(c);
                        return 0;
                    }
                }
                freeReplyObject(rep);
            }
        }
        if (kst_now_ms() >= deadline) {
            if (c)
                redisFree(c);
            return kst__fail("%s %s did not reach %lld within %d ms (last: %s)", key, field, min,
                             timeout_ms, last);
        }
        kst__nap_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
}

/* --- canonical dump --- */

typedef struct kst__sb {
    char *p;
    size_t len, cap;
    bool oom;
} kst__sb;

static void kst__sb_put(kst__sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->oom = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

__attribute__((format(printf, 2, 3))) static void kst__sb_printf(kst__sb *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        kst__sb_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    kst__sb_put(b, big, (size_t)n);
    free(big);
}

typedef struct kst__line {
    char *s;
    size_t n;
} kst__line;

static int kst__line_cmp(const void *a, const void *b)
{
    const kst__line *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->s, y->s, m);
    if (c)
        return c;
    return x->n < y->n ? -1 : x->n > y->n;
}

static bool kst__ignored(const char *const *ignore, const char *s, size_t n)
{
    for (; ignore && *ignore; ignore++) {
        size_t l = strlen(*ignore);
        /* "prefix*" matches every name that starts with prefix. */
        if (l && (*ignore)[l - 1] == '*' && n >= l - 1 && memcmp(*ignore, s, l - 1) == 0)
            return true;
        if (l == n && memcmp(*ignore, s, n) == 0)
            return true;
    }
    return false;
}

/* Appends the sorted lines and frees them. */
static void kst__emit_sorted(kst__sb *b, kst__line *lines, size_t n)
{
    qsort(lines, n, sizeof *lines, kst__line_cmp);
    for (size_t i = 0; i < n; i++) {
        kst__sb_put(b, "  ", 2);
        kst__sb_put(b, lines[i].s, lines[i].n);
        kst__sb_put(b, "\n", 1);
        free(lines[i].s);
    }
}

static kst__line kst__join(const char *a, size_t an, const char *sep, const char *c, size_t cn)
{
    size_t sn = strlen(sep);
    kst__line l = {malloc(an + sn + cn + 1), an + sn + cn};
    if (l.s) {
        memcpy(l.s, a, an);
        memcpy(l.s + an, sep, sn);
        memcpy(l.s + an + sn, c, cn);
        l.s[l.n] = '\0';
    } else {
        l.n = 0;
    }
    return l;
}

static int kst__dump_key(redisContext *c, kst__sb *b, const char *key, size_t keylen,
                         const char *const *ignore)
{
    redisReply *t = redisCommand(c, "TYPE %b", key, keylen);
    if (!t || t->type != REDIS_REPLY_STATUS) {
        if (t)
            freeReplyObject(t);
        return kst__fail("TYPE %.*s failed", (int)keylen, key);
    }
    kst__sb_put(b, key, keylen);
    kst__sb_printf(b, " %s\n", t->str);
    char type[16];
    snprintf(type, sizeof type, "%s", t->str);
    freeReplyObject(t);

    redisReply *rep = NULL;
    if (strcmp(type, "none") == 0) /* expired or deleted since SCAN */
        return 0;
    if (strcmp(type, "hash") == 0)
        rep = redisCommand(c, "HGETALL %b", key, keylen);
    else if (strcmp(type, "zset") == 0)
        rep = redisCommand(c, "ZRANGE %b 0 -1 WITHSCORES", key, keylen);
    else if (strcmp(type, "set") == 0)
        rep = redisCommand(c, "SMEMBERS %b", key, keylen);
    else if (strcmp(type, "list") == 0)
        rep = redisCommand(c, "LRANGE %b 0 -1", key, keylen);
    else if (strcmp(type, "string") == 0)
        rep = redisCommand(c, "GET %b", key, keylen);
    else if (strcmp(type, "stream") == 0)
        rep = redisCommand(c, "XRANGE %b - +", key, keylen);
    else
        return kst__fail("%.*s: unsupported type %s", (int)keylen, key, type);
    if (!rep || rep->type == REDIS_REPLY_ERROR) {
        kst__fail("reading %.*s: %s", (int)keylen, key, rep ? rep->str : c->errstr);
        if (rep)
            freeReplyObject(rep);
        return -1;
    }

    int rc = 0;
    if (strcmp(type, "string") == 0) {
        kst__sb_put(b, "  hex:", 6);
        static const char hex[] = "0123456789abcdef";
        for (size_t i = 0; i < rep->len; i++) {
            unsigned char ch = (unsigned char)rep->str[i];
            char two[2] = {hex[ch >> 4], hex[ch & 15]};
            kst__sb_put(b, two, 2);
        }
        kst__sb_put(b, "\n", 1);
    } else if (strcmp(type, "list") == 0) {
        for (size_t i = 0; i < rep->elements; i++) {
            kst__sb_put(b, "  ", 2);
            kst__sb_put(b, rep->element[i]->str, rep->element[i]->len);
            kst__sb_put(b, "\n", 1);
        }
    } else if (strcmp(type, "stream") == 0) {
        for (size_t i = 0; i < rep->elements; i++) {
            redisReply *entry = rep->element[i];
            if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
                continue;
            redisReply *fv = entry->element[1];
            kst__sb_put(b, " ", 1);
            for (size_t j = 0; j + 1 < fv->elements; j += 2) {
                if (kst__ignored(ignore, fv->element[j]->str, fv->element[j]->len))
                    continue;
                kst__sb_put(b, " ", 1);
                kst__sb_put(b, fv->element[j]->str, fv->element[j]->len);
                kst__sb_put(b, "=", 1);
                kst__sb_put(b, fv->element[j + 1]->str, fv->element[j + 1]->len);
            }
            kst__sb_put(b, "\n", 1);
        }
    } else {
        /* hash, zset, set: unordered in Redis, so sort for a canonical form. */
        bool pairs = strcmp(type, "set") != 0;
        size_t n = pairs ? rep->elements / 2 : rep->elements;
        kst__line *lines = calloc(n ? n : 1, sizeof *lines);
        size_t nl = 0;
        if (!lines) {
            rc = kst__fail("out of memory");
        } else {
            for (size_t i = 0; i < n; i++) {
                redisReply *a = rep->element[pairs ? 2 * i : i];
                if (!pairs) {
                    lines[nl++] = kst__join(a->str, a->len, "", "", 0);
                } else if (strcmp(type, "hash") == 0) {
                    redisReply *v = rep->element[2 * i + 1];
                    if (kst__ignored(ignore, a->str, a->len))
                        continue;
                    lines[nl++] = kst__join(a->str, a->len, "=", v->str, v->len);
                } else {
                    /* Scores re-printed at full precision so "1" and "1.0"
                     * from different writers compare equal. */
                    char score[64];
                    snprintf(score, sizeof score, "%.17g",
                             strtod(rep->element[2 * i + 1]->str, NULL));
                    lines[nl++] = kst__join(a->str, a->len, " ", score, strlen(score));
                }
            }
            kst__emit_sorted(b, lines, nl);
            free(lines);
        }
    }
    freeReplyObject(rep);
    return rc;
}

char *kst_redis_dump(redisContext *c, const char *pattern, const char *const *ignore_fields)
{
    kst__line *keys = NULL;
    size_t nkeys = 0, capkeys = 0;
    char cursor[32] = "0";
    int rc = 0;
    do {
        redisReply *rep = redisCommand(c, "SCAN %s MATCH %s COUNT 1000", cursor, pattern);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
            rc = kst__fail("SCAN %s: %s", pattern,
                           rep && rep->type == REDIS_REPLY_ERROR ? rep->str : c->errstr);
            if (rep)
                freeReplyObject(rep);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        redisReply *arr = rep->element[1];
        for (size_t i = 0; i < arr->elements && rc == 0; i++) {
            if (nkeys == capkeys) {
                size_t nc = capkeys ? capkeys * 2 : 64;
                kst__line *nk = realloc(keys, nc * sizeof *nk);
                if (!nk) {
                    rc = kst__fail("out of memory");
                    break;
                }
                keys = nk;
                capkeys = nc;
            }
            keys[nkeys++] = kst__join(arr->element[i]->str, arr->element[i]->len, "", "", 0);
        }
        freeReplyObject(rep);
    } while (rc == 0 && strcmp(cursor, "0") != 0);

    kst__sb b = {0};
    kst__sb_put(&b, "", 0);
    if (rc == 0) {
        qsort(keys, nkeys, sizeof *keys, kst__line_cmp);
        for (size_t i = 0; i < nkeys && rc == 0; i++) {
            /* SCAN may return a key twice; the sort puts repeats together. */
            if (i > 0 && kst__line_cmp(&keys[i - 1], &keys[i]) == 0)
                continue;
            /* "key:" + name + "" in ignore_fields leaves a whole key out. */
            char whole[512];
            snprintf(whole, sizeof whole, "key:%.*s", (int)keys[i].n, keys[i].s);
            if (kst__ignored(ignore_fields, whole, strlen(whole)))
                continue;
            rc = kst__dump_key(c, &b, keys[i].s, keys[i].n, ignore_fields);
        }
    }
    for (size_t i = 0; i < nkeys; i++)
        free(keys[i].s);
    free(keys);
    if (rc != 0 || b.oom) {
        if (b.oom)
            kst__fail("out of memory");
        free(b.p);
        return NULL;
    }
    return b.p;
}

long long kst_redis_field_ll(const kst_redis *r, const char *key, const char *field,
                             long long dflt)
{
    redisContext *c = kst_redis_connect(r);
    if (!c)
        return dflt;
    long long v = kst_redis_hget_ll(c, key, field, dflt);
    redisFree(c);
    return v;
}

char *kst_redis_dump_kpi(const kst_redis *r)
{
    redisContext *c = kst_redis_connect(r);
    if (!c)
        return NULL;
    /* Left out: a wall-clock stamp, and what depends on how the stream was
     * cut into flushes, not on the events: the token of each partition's
     * last flush, and the per-bucket HLLs (a customer goes into the bucket
     * of their latest event as of each flush; the windows' unions, compared,
     * come out the same), the order names were registered in (which
     * names are tracked shows in the KPI hashes), and the per-minute
     * history (which flush was the first of a wall-clock minute). */
    static const char *const ignore[] = {"updated_at_ms", "tok:*", "key:kpi:agg:h:*",
                                         "key:kpi:agg:names:*", "key:kpi:history", NULL};
    char *d = kst_redis_dump(c, "kpi:*", ignore);
    redisFree(c);
    return d;
}

/* --- comparing dumps --- */

static void kst__free_lines(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* Splits a dump into "key<TAB>item" lines (the key repeated on its items), so
 * both sides can be sorted and merged to list only what differs. The header
 * alone is a line too: a key whose type differs, or that has no items, must
 * show up. Returns NULL when out of memory. */
static char **kst__flat_lines(const char *d, size_t *n)
{
    size_t cap = 1024, k = 0;
    char **v = malloc(cap * sizeof *v);
    char key[512] = "";
    for (const char *p = d; v && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (k == cap) {
            char **nv = realloc(v, (cap *= 2) * sizeof *v);
            if (!nv) {
                kst__free_lines(v, k);
                return NULL;
            }
            v = nv;
        }
        if (*p != ' ') {
            snprintf(key, sizeof key, "%.*s", (int)len, p);
            v[k] = strdup(key);
        } else {
            size_t sz = strlen(key) + len + 2;
            v[k] = malloc(sz);
            if (v[k])
                snprintf(v[k], sz, "%s\t%.*s", key, (int)len, p);
        }
        if (!v[k]) {
            kst__free_lines(v, k);
            return NULL;
        }
        k++;
        p = nl ? nl + 1 : p + len;
    }
    *n = k;
    return v;
}

static int kst__str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Differing items per key family: counted, and printed up to a quota each so
 * that a family with few differences is not hidden behind one with many. */
typedef struct kst__family {
    char name[64];
    size_t want, got; /* items found only in want / only in got */
    size_t shown;
} kst__family;

#define KST__FAMILIES 32

/* Returns the family of a "key<TAB>item" line ("kpi:customer:c42..." ->
 * "kpi:customer", "kpi:global" -> "kpi:global"), added if new; NULL when the
 * table is full. */
static kst__family *kst__family_of(kst__family *f, size_t *nf, const char *line)
{
    size_t n = strcspn(line, ": \t");
    if (line[n] == ':')
        n += 1 + strcspn(line + n + 1, ": \t");
    if (n >= sizeof f->name)
        n = sizeof f->name - 1;
    for (size_t i = 0; i < *nf; i++)
        if (strlen(f[i].name) == n && strncmp(f[i].name, line, n) == 0)
            return &f[i];
    if (*nf == KST__FAMILIES)
        return NULL;
    kst__family *nfam = &f[(*nf)++];
    memset(nfam, 0, sizeof *nfam);
    snprintf(nfam->name, sizeof nfam->name, "%.*s", (int)n, line);
    return nfam;
}

/* Walks the sorted sides in step; for each line found on one side only,
 * counts it (print false) or prints it if its family's quota allows. Returns
 * the number of such lines. */
static size_t kst__walk_diff(char **a, size_t na, char **b, size_t nb, kst__family *fam,
                             size_t *nf, bool print, size_t quota)
{
    size_t i = 0, j = 0, diffs = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
        if (c == 0) {
            i++, j++;
            continue;
        }
        const char *l = c < 0 ? a[i] : b[j];
        kst__family *f = kst__family_of(fam, nf, l);
        diffs++;
        if (!print && f) {
            if (c < 0)
                f->want++;
            else
                f->got++;
        } else if (print && (!f || f->shown++ < quota)) {
            /* HyperLogLog registers are long hex strings: show their start. */
            size_t ll = strlen(l);
            fprintf(stderr, "  %s %.*s%s\n", c < 0 ? "baseline:" : "scenario:",
                    (int)(ll > 200 ? 200 : ll), l, ll > 200 ? "..." : "");
        }
        if (c < 0)
            i++;
        else
            j++;
    }
    return diffs;
}

/* Prints about max lines found on only one side, shared out among the key
 * families, then the counts per family; returns the number of such lines, or
 * -1 when out of memory. */
static long kst__print_diff(const char *want, const char *got, size_t max)
{
    size_t na = 0, nb = 0, nf = 0;
    char **a = kst__flat_lines(want, &na), **b = kst__flat_lines(got, &nb);
    if (!a || !b) {
        kst__free_lines(a, na);
        kst__free_lines(b, nb);
        return -1;
    }
    qsort(a, na, sizeof *a, kst__str_cmp);
    qsort(b, nb, sizeof *b, kst__str_cmp);
    kst__family fam[KST__FAMILIES];
    size_t diffs = kst__walk_diff(a, na, b, nb, fam, &nf, false, 0);
    size_t quota = nf ? max / nf : max;
    if (quota < 4)
        quota = 4;
    kst__walk_diff(a, na, b, nb, fam, &nf, true, quota);
    if (diffs) {
        fprintf(stderr, "  by key family (baseline only / scenario only; at most %zu shown each):",
                quota);
        for (size_t f = 0; f < nf; f++)
            fprintf(stderr, " %s %zu/%zu%s", fam[f].name, fam[f].want, fam[f].got,
                    f + 1 < nf ? "," : "\n");
    }
    kst__free_lines(a, na);
    kst__free_lines(b, nb);
    return (long)diffs;
}

/* The stream entries of one customer ("customer=<id> " items), in dump order,
 * joined with newlines. Returns NULL when out of memory. */
static char *kst__customer_entries(const char *dump, const char *cust)
{
    size_t cap = 1024, len = 0;
    char *out = malloc(cap), needle[160];
    if (!out)
        return NULL;
    out[0] = '\0';
    snprintf(needle, sizeof needle, "customer=%s ", cust);
    for (const char *l = dump; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t ll = e ? (size_t)(e - l) : strlen(l);
        if (memmem(l, ll, needle, strlen(needle))) {
            while (len + ll + 2 > cap) {
                char *no = realloc(out, cap *= 2);
                if (!no) {
                    free(out);
                    return NULL;
                }
                out = no;
            }
            memcpy(out + len, l, ll);
            len += ll;
            out[len++] = '\n';
            out[len] = '\0';
        }
        l = e ? e + 1 : NULL;
    }
    return out;
}

/* Whether every customer's stream entries come in the same order on both
 * sides (given the same multiset of lines). Prints the first one that does
 * not. */
static bool kst__same_per_customer_order(const char *want, const char *got)
{
    bool ok = true;
    for (const char *p = want; ok && (p = strstr(p, "customer=")) != NULL;) {
        char cust[128];
        size_t n = strcspn(p + 9, " \t\n");
        snprintf(cust, sizeof cust, "%.*s", (int)(n < sizeof cust ? n : sizeof cust - 1), p + 9);
        char *a = kst__customer_entries(want, cust), *b = kst__customer_entries(got, cust);
        ok = a && b && strcmp(a, b) == 0;
        if (!ok)
            fprintf(stderr, "  customer %s: entries in another order\n", cust);
        free(a);
        free(b);
        p += 9 + n;
    }
    return ok;
}

int kst_dump_compare(const char *want, const char *got, const char *what, size_t max_lines)
{
    if (!want || !got)
        return kst__fail("%s: no dump to compare", what);
    if (strcmp(want, got) == 0)
        return 0;
    fprintf(stderr, "----- %s: Redis differs from the baseline (key<TAB>item) -----\n", what);
    long n = kst__print_diff(want, got, max_lines);
    if (n < 0)
        return kst__fail("%s: out of memory comparing dumps", what);
    if (n == 0 && kst__same_per_customer_order(want, got)) {
        fprintf(stderr, "  same entries; only the interleaving of different customers' "
                        "(partitions') stream entries differs: accepted\n");
        return 0;
    }
    if (n == 0) {
        /* Same items, different order (stream entries, lists): show where. */
        size_t line = 1, i = 0;
        for (; want[i] && want[i] == got[i]; i++)
            line += want[i] == '\n';
        size_t start = i;
        while (start > 0 && want[start - 1] != '\n')
            start--;
        fprintf(stderr,
                "  same items in another order; first difference at line %zu:\n"
                "  baseline: %.200s\n  scenario: %.200s\n",
                line, want + start, got + start);
    }
    fprintf(stderr, "----- %ld differing lines -----\n", n);
    if (n == 0)
        return kst__fail("%s: Redis holds the baseline's items in another order (printed above)",
                         what);
    return kst__fail("%s: Redis state differs from the baseline in %ld lines (printed above)",
                     what, n);
}

/* ------------------------------------------------------------------ */
/* Kafka                                                               */

static void kst__dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    kst_kafka *k = opaque;
    if (m->err) {
        k->delivery_errors++;
        snprintf(k->last_delivery_error, sizeof k->last_delivery_error, "%s [%d]: %s",
                 rd_kafka_topic_name(m->rkt), (int)m->partition, rd_kafka_err2str(m->err));
    } else {
        k->delivered++;
    }
}

/* Sets one property; returns 0 or -1 with a message. */
static int kst__conf(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        return kst__fail("kafka config %s=%s: %s", name, value, errstr);
    return 0;
}

static rd_kafka_t *kst__new_client(rd_kafka_type_t type, rd_kafka_conf_t *conf)
{
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        kst__fail("rd_kafka_new: %s", errstr);
    }
    return rk;
}

static int kst__producer(kst_kafka *k);

int kst_kafka_start(kst_kafka *k, int nbrokers)
{
    memset(k, 0, sizeof *k);
    if (nbrokers < 1)
        return kst__fail("kst_kafka_start: nbrokers must be >= 1");
    /* The mock cluster lives on a dedicated handle that is otherwise unused, so
     * its lifetime is independent of the clients under test. */
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* log_level 4: hide the notice that this handle has no bootstrap.servers. */
    if (kst__conf(conf, "log.connection.close", "false") != 0 ||
        kst__conf(conf, "log_level", "4") != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    k->mock_rk = kst__new_client(RD_KAFKA_PRODUCER, conf);
    if (!k->mock_rk)
        return -1;
    k->mcluster = rd_kafka_mock_cluster_new(k->mock_rk, nbrokers);
    if (!k->mcluster) {
        kst_kafka_stop(k);
        return kst__fail("rd_kafka_mock_cluster_new(%d) failed", nbrokers);
    }
    snprintf(k->bootstraps, sizeof k->bootstraps, "%s",
             rd_kafka_mock_cluster_bootstraps(k->mcluster));
    if (kst__producer(k) != 0) {
        kst_kafka_stop(k);
        return -1;
    }
    return 0;
}

int kst_kafka_attach(kst_kafka *k, const char *bootstraps)
{
    memset(k, 0, sizeof *k);
    if (!bootstraps || !*bootstraps || strlen(bootstraps) >= sizeof k->bootstraps)
        return kst__fail("kst_kafka_attach: bad bootstrap list");
    snprintf(k->bootstraps, sizeof k->bootstraps, "%s", bootstraps);
    if (kst__producer(k) != 0) {
        kst_kafka_stop(k);
        return -1;
    }
    return 0;
}

/* Creates the real producer on k->bootstraps. Returns 0 or -1. */
static int kst__producer(kst_kafka *k)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kst__conf(conf, "bootstrap.servers", k->bootstraps) != 0 ||
        kst__conf(conf, "linger.ms", "5") != 0 ||
        kst__conf(conf, "message.timeout.ms", "30000") != 0 ||
        kst__conf(conf, "log.connection.close", "false") != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, kst__dr_cb);
    rd_kafka_conf_set_opaque(conf, k); /* k must not move while started */
    k->producer = kst__new_client(RD_KAFKA_PRODUCER, conf);
    return k->producer ? 0 : -1;
}

int kst_kafka_create_topic(kst_kafka *k, const char *topic, int partitions)
{
    if (!k->mcluster)
        return kst__fail("create topic %s: no in-process mock cluster (attached)", topic);
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(k->mcluster, topic, partitions, 1);
    if (err)
        return kst__fail("create topic %s (%d partitions): %s", topic, partitions,
                         rd_kafka_err2str(err));
    return 0;
}

int kst_kafka_produce(kst_kafka *k, const char *topic, int partition, const void *key,
                      size_t keylen, const void *value, size_t len)
{
    int64_t deadline = kst_now_ms() + 30000;
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            k->producer, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_PARTITION(partition < 0 ? RD_KAFKA_PARTITION_UA : partition),
            RD_KAFKA_V_KEY((void *)key, key ? keylen : 0), RD_KAFKA_V_VALUE((void *)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (!err) {
            rd_kafka_poll(k->producer, 0);
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || kst_now_ms() >= deadline)
            return kst__fail("produce to %s [%d]: %s", topic, partition, rd_kafka_err2str(err));
        rd_kafka_poll(k->producer, 50); /* serve delivery reports to make room */
    }
}

/* Finds the string value of "customer_id" in a JSON line (raw bytes between
 * the quotes; escapes are not decoded, which is enough for keying). */
static const char *kst__customer_id(const char *line, size_t n, size_t *idlen)
{
    static const char name[] = "\"customer_id\"";
    const char *end = line + n;
    for (const char *p = line; p && p + sizeof name - 1 <= end;) {
        p = memmem(p, (size_t)(end - p), name, sizeof name - 1);
        if (!p)
            break;
        const char *q = p + sizeof name - 1;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (q < end && *q == ':') {
            q++;
            while (q < end && (*q == ' ' || *q == '\t'))
                q++;
            if (q < end && *q == '"') {
                const char *s = ++q;
                while (q < end && *q != '"') {
                    if (*q == '\\' && q + 1 < end)
                        q++;
                    q++;
                }
                if (q < end) {
                    *idlen = (size_t)(q - s);
                    return s;
                }
            }
            return NULL;
        }
        p = q;
    }
    return NULL;
}

long kst_kafka_produce_jsonl(kst_kafka *k, const char *topic, const char *src)
{
    char *owned = NULL;
    const char *text = src;
    size_t len;
    if (!src)
        return kst__fail("kst_kafka_produce_jsonl: NULL source");
    if (src[0] == '{' || src[0] == '[' || src[0] == ' ' || src[0] == '\n' || src[0] == '\0') {
        len = strlen(src);
    } else {
        owned = kst_read_file(src, &len);
        if (!owned)
            return -1;
        text = owned;
    }
    long count = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *ls = p;
        p = nl ? nl + 1 : end;
        size_t n = (size_t)(le - ls);
        if (n && ls[n - 1] == '\r')
            n--;
        size_t i = 0;
        while (i < n && (ls[i] == ' ' || ls[i] == '\t'))
            i++;
        if (i == n)
            continue; /* blank line */
        size_t idlen = 0;
        const char *id = kst__customer_id(ls, n, &idlen);
        if (kst_kafka_produce(k, topic, -1, id, idlen, ls, n) != 0) {
            free(owned);
            return -1;
        }
        count++;
    }
    free(owned);
    return count;
}

int kst_kafka_flush(kst_kafka *k, int timeout_ms)
{
    rd_kafka_resp_err_t err = rd_kafka_flush(k->producer, timeout_ms);
    if (err)
        return kst__fail("flush: %d messages still undelivered after %d ms",
                         rd_kafka_outq_len(k->producer), timeout_ms);
    if (k->delivery_errors) {
        long n = k->delivery_errors;
        k->delivery_errors = 0;
        return kst__fail("flush: %ld delivery errors, last: %s", n, k->last_delivery_error);
    }
    return 0;
}

static rd_kafka_t *kst__consumer(kst_kafka *k, const char *group)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (kst__conf(conf, "bootstrap.servers", k->bootstraps) != 0 ||
        kst__conf(conf, "group.id", group) != 0 ||
        kst__conf(conf, "enable.auto.commit", "false") != 0 ||
        kst__conf(conf, "enable.auto.offset.store", "false") != 0 ||
        kst__conf(conf, "enable.partition.eof", "true") != 0 ||
        kst__conf(conf, "auto.offset.reset", "earliest") != 0 ||
        kst__conf(conf, "log.connection.close", "false") != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = kst__new_client(RD_KAFKA_CONSUMER, conf);
    if (rk)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

int kst_kafka_partition_count(kst_kafka *k, const char *topic)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->producer, topic, NULL);
    if (!rkt)
        return kst__fail("topic handle %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->producer, 0, rkt, &md, 10000);
    int n = -1;
    if (err) {
        kst__fail("metadata for %s: %s", topic, rd_kafka_err2str(err));
    } else if (md->topic_cnt != 1 || md->topics[0].err) {
        kst__fail("metadata for %s: %s", topic,
                  md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "topic missing");
    } else {
        n = md->topics[0].partition_cnt;
    }
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

int kst_msg_header(const kst_msg *m, const char *name, char *buf, size_t n)
{
    rd_kafka_headers_t *hdrs = NULL;
    if (!m->rkm || rd_kafka_message_headers(m->rkm, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    const void *val = NULL;
    size_t vlen = 0;
    if (rd_kafka_header_get_last(hdrs, name, &val, &vlen) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return 0;
    if (n) {
        size_t c = val ? (vlen < n - 1 ? vlen : n - 1) : 0;
        if (c)
            memcpy(buf, val, c);
        buf[c] = '\0';
    }
    return 1;
}

long kst_kafka_consume_all(kst_kafka *k, const char *topic, int timeout_ms, kst_msg_cb cb,
                           void *ctx)
{
    int nparts = kst_kafka_partition_count(k, topic);
    if (nparts <= 0)
        return -1;
    static unsigned seq;
    char group[64];
    snprintf(group, sizeof group, "kst-reader-%d-%u", (int)getpid(), seq++);
    rd_kafka_t *rk = kst__consumer(k, group);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    for (int p = 0; p < nparts; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    long count = 0;
    bool *eof = calloc((size_t)nparts, sizeof *eof);
    if (err || !eof) {
        count = kst__fail("assign %s: %s", topic, err ? rd_kafka_err2str(err) : "out of memory");
        goto out;
    }
    int at_end = 0;
    int64_t deadline = kst_now_ms() + timeout_ms;
    while (at_end < nparts) {
        if (kst_now_ms() >= deadline) {
            count = kst__fail("consume %s: only %d of %d partitions at end after %d ms", topic,
                              at_end, nparts, timeout_ms);
            goto out;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (!rkm)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (rkm->partition >= 0 && rkm->partition < nparts && !eof[rkm->partition]) {
                eof[rkm->partition] = true;
                at_end++;
            }
        } else if (rkm->err) {
            /* Transport hiccups are retried by librdkafka; report, keep going
             * until the deadline. */
            fprintf(stderr, "kst: consume %s: %s\n", topic, rd_kafka_message_errstr(rkm));
        } else {
            kst_msg m = {.topic = topic,
                         .partition = rkm->partition,
                         .offset = rkm->offset,
                         .key = rkm->key,
                         .key_len = rkm->key_len,
                         .value = rkm->payload,
                         .len = rkm->len,
                         .rkm = rkm};
            count++;
            if (cb && cb(&m, ctx) != 0) {
                rd_kafka_message_destroy(rkm);
                goto out;
            }
        }
        rd_kafka_message_destroy(rkm);
    }
out:
    free(eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return count;
}

int kst_kafka_committed(kst_kafka *k, const char *group, const char *topic, int partitions,
                        int64_t *out_offsets)
{
    rd_kafka_t *rk = kst__consumer(k, group);
    if (!rk)
        return -1;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++)
        rd_kafka_topic_partition_list_add(parts, topic, p);
    int rc = 0;
    rd_kafka_resp_err_t err = rd_kafka_committed(rk, parts, 10000);
    if (err) {
        rc = kst__fail("committed offsets of group %s on %s: %s", group, topic,
                       rd_kafka_err2str(err));
    } else {
        for (int i = 0; i < parts->cnt; i++) {
            if (parts->elems[i].err) {
                rc = kst__fail("committed offset of group %s on %s [%d]: %s", group, topic,
                               (int)parts->elems[i].partition,
                               rd_kafka_err2str(parts->elems[i].err));
                break;
            }
            out_offsets[parts->elems[i].partition] = parts->elems[i].offset;
        }
    }
    rd_kafka_topic_partition_list_destroy(parts);
    /* Never subscribed, so closing leaves no group to leave. */
    rd_kafka_destroy(rk);
    return rc;
}

int kst_kafka_end_offsets(kst_kafka *k, const char *topic, int partitions, int64_t *out_offsets)
{
    for (int p = 0; p < partitions; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(k->producer, topic, p, &lo, &hi, 10000);
        if (err)
            return kst__fail("watermarks of %s [%d]: %s", topic, p, rd_kafka_err2str(err));
        out_offsets[p] = hi;
    }
    return 0;
}

int kst_kafka_committed_to_end(kst_kafka *k, const char *group, const char *topic, int partitions)
{
    int64_t *end = calloc((size_t)partitions * 2, sizeof *end);
    if (!end)
        return kst__fail("out of memory");
    int64_t *com = end + partitions;
    int rc = 1;
    if (kst_kafka_end_offsets(k, topic, partitions, end) != 0 ||
        kst_kafka_committed(k, group, topic, partitions, com) != 0)
        rc = -1;
    for (int p = 0; rc == 1 && p < partitions; p++)
        if (com[p] != end[p]) {
            kst__note("group %s, %s [%d]: committed %lld, end %lld", group, topic, p,
                      (long long)com[p], (long long)end[p]);
            rc = 0;
        }
    free(end);
    return rc;
}

int kst_kafka_set_rtt(kst_kafka *k, int32_t broker_id, int rtt_ms)
{
    if (!k->mcluster)
        return kst__fail("kst_kafka_set_rtt: no mock cluster of ours");
    rd_kafka_resp_err_t err = rd_kafka_mock_broker_set_rtt(k->mcluster, broker_id, rtt_ms);
    if (err)
        return kst__fail("rtt of broker %d: %s", (int)broker_id, rd_kafka_err2str(err));
    return 0;
}

/* Returns the raw value of the string field name in a JSON line (no space
 * after the colon, as our generator writes it), or NULL. */
static const char *kst__json_str(const char *line, size_t n, const char *name, size_t *len)
{
    char pat[64];
    int pl = snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *v = memmem(line, n, pat, (size_t)pl);
    if (!v)
        return NULL;
    v += pl;
    const char *q = memchr(v, '"', n - (size_t)(v - line));
    if (!q)
        return NULL;
    *len = (size_t)(q - v);
    return v;
}

long kst_kafka_produce_keyed(kst_kafka *k, const char *topic, const char *path, int flush_every)
{
    if (flush_every <= 0)
        return kst__fail("kst_kafka_produce_keyed: flush_every must be > 0");
    char *text = kst_read_file(path, NULL);
    if (!text)
        return -1;
    long count = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        size_t kl = 0;
        const char *key = kst__json_str(line, n, "customer_id", &kl);
        if (!key)
            key = kst__json_str(line, n, "campaign", &kl);
        if (!key)
            key = kst__json_str(line, n, "event_id", &kl);
        if (!key) {
            free(text);
            return kst__fail("%s: no key for line %ld", path, count + 1);
        }
        if (kst_kafka_produce(k, topic, -1, key, kl, line, n) != 0 ||
            (++count % flush_every == 0 && kst_kafka_flush(k, 30000) != 0)) {
            free(text);
            return -1;
        }
        line = nl ? nl + 1 : line + n;
    }
    free(text);
    return count;
}

void kst_kafka_stop(kst_kafka *k)
{
    if (k->producer) {
        rd_kafka_flush(k->producer, 5000);
        rd_kafka_destroy(k->producer);
    }
    if (k->mcluster)
        rd_kafka_mock_cluster_destroy(k->mcluster);
    if (k->mock_rk)
        rd_kafka_destroy(k->mock_rk);
    memset(k, 0, sizeof *k);
}

/* ------------------------------------------------------------------ */
/* Generated streams                                                   */

int kst_stream_make(kst_stream *s, const char *dir, const char *const *gen_args, int bad_every)
{
    memset(s, 0, sizeof *s);
    char gen_out[300], log[300];
    snprintf(gen_out, sizeof gen_out, "%s/gen.jsonl", dir);
    snprintf(log, sizeof log, "%s/gen.log", dir);
    const char *const tail[] = {"--out", gen_out, "--quiet", NULL};
    const char **args = NULL;
    size_t n = 0;
    while (gen_args && gen_args[n])
        n++;
    args = calloc(n + 2, sizeof *args);
    if (!args)
        return kst__fail("out of memory");
    args[0] = "gen";
    for (size_t i = 0; i < n; i++)
        args[i + 1] = gen_args[i];
    kst_proc p;
    int rc = kst_kpistream_spawn(&p, log, args, tail);
    free(args);
    if (rc != 0)
        return -1;
    int status = -1;
    if (kst_proc_wait(&p, 60000, &status) != 0) {
        kst_proc_stop(&p, 1000);
        return -1;
    }
    if (status != 0) {
        kst_log_tail(log, 20);
        return kst__fail("kpistream gen exited with %d", status);
    }

    char *text = kst_read_file(gen_out, NULL);
    if (!text)
        return -1;
    snprintf(s->path, sizeof s->path, "%s/ev.jsonl", dir);
    FILE *out = fopen(s->path, "w");
    if (!out) {
        free(text);
        return kst__fail("create %s: %s", s->path, strerror(errno));
    }
    long i = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        fwrite(line, 1, len, out);
        fputc('\n', out);
        s->lines++;
        static const char ty[] = "\"type\":\"";
        char *t = memmem(line, len, ty, sizeof ty - 1);
        if (bad_every > 0 && i++ % bad_every == 100 % bad_every && t) {
            size_t head = (size_t)(t - line) + sizeof ty - 1;
            fwrite(line, 1, head, out);
            fputs("bogus_", out);
            fwrite(line + head, 1, len - head, out);
            fputc('\n', out);
            s->lines++;
            s->bad++;
        }
        line = nl ? nl + 1 : line + len;
    }
    free(text);
    if (fclose(out) != 0)
        return kst__fail("write %s failed", s->path);
    return 0;
}

int kst_redis_register_names(const kst_redis *r, char kind, const char *const *names)
{
    redisContext *c = kst_redis_connect(r);
    if (!c)
        return -1;
    int rc = 0;
    for (int i = 0; names[i] && rc == 0; i++) {
        char key[32];
        snprintf(key, sizeof key, "kpi:agg:names:%c", kind);
        redisReply *x = redisCommand(c, "HSET %s %s %d", key, names[i], i);
        if (!x || x->type == REDIS_REPLY_ERROR) {
            rc = kst__fail("registering %s: %s", names[i], x ? x->str : c->errstr);
        }
        if (x)
            freeReplyObject(x);
    }
    redisFree(c);
    return rc;
}
