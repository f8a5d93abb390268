/* ks_batch: the commands it holds are, byte for byte, what hiredis's
 * redisFormatCommandArgv makes of them (the bytes the sink sends to Redis
 * used to be formatted that way from the arguments), and ks_batch_get gives
 * the arguments back.
 *
 * Random commands cover empty arguments, every byte value (CR, LF and NUL
 * inside arguments), long arguments and argument counts around the
 * header's digit changes (9/10, 99/100, 999/1000), built with each of the
 * appending calls.
 *
 * The test is linked with -Wl,--wrap=realloc (tests/CMakeLists.txt): a
 * failing allocation marks the batch failed and leaves whole commands. */
#include <criterion/criterion.h>

#include "kpistream/batch.h"
#include "xorshift.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_realloc(void *p, size_t n);
void *__wrap_realloc(void *p, size_t n);

static int fail_after = -1; /* < 0: never fail */

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_after == 0)
        return NULL;
    if (fail_after > 0)
        fail_after--;
    return __real_realloc(p, n);
}

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint64_t next(void)
{
    return kst_xorshift(&rng);
}

/* The expected stream: each command formatted by hiredis, concatenated. */
typedef struct {
    char *s;
    size_t len, cap;
} text;

static void text_add(text *t, const char *s, size_t n)
{
    if (t->len + n > t->cap) {
        t->cap = (t->len + n) * 2;
        t->s = realloc(t->s, t->cap);
        cr_assert_not_null(t->s);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
}

/* One command of argc arguments, appended to b and formatted by hiredis
 * into want; args[]/lens[] keep the arguments for the read-back. */
static void one_command(ks_batch *b, text *want, size_t argc, char **args, size_t *lens)
{
    ks_batch_cmd(b);
    for (size_t a = 0; a < argc; a++) {
        char *s = args[a];
        size_t n;
        switch (next() % 6) {
        case 0: /* empty */
            n = 0;
            ks_batch_arg(b, s, 0);
            break;
        case 1: { /* an integer, through ks_batch_i64 */
            int64_t v = (int64_t)next();
            if (next() % 2)
                v %= 1000;
            n = (size_t)snprintf(s, 64, "%" PRId64, v);
            ks_batch_i64(b, v);
            break;
        }
        case 2: { /* a formatted string, through ks_batch_fmt */
            unsigned u = (unsigned)(next() % 100000);
            n = (size_t)snprintf(s, 64, "k:%u:%s", u, "x");
            ks_batch_fmt(b, "k:%u:%s", u, "x");
            break;
        }
        case 3: /* NUL-terminated text, through ks_batch_str */
            n = 1 + next() % 40;
            for (size_t i = 0; i < n; i++)
                s[i] = (char)('a' + next() % 26);
            s[n] = '\0';
            ks_batch_str(b, s);
            break;
        case 4: /* long, any bytes */
            n = next() % 3 == 0 ? 70000 : 100 + next() % 4000;
            for (size_t i = 0; i < n; i++)
                s[i] = (char)next();
            ks_batch_arg(b, s, n);
            break;
        default: /* short, any bytes, CR/LF/NUL likely */
            n = 1 + next() % 12;
            for (size_t i = 0; i < n; i++) {
                static const char hard[] = {'\r', '\n', '\0', '$', '*', '9'};
                s[i] = next() % 2 ? hard[next() % sizeof hard] : (char)next();
            }
            ks_batch_arg(b, s, n);
            break;
        }
        lens[a] = n;
    }
    char *out = NULL;
    int n = redisFormatCommandArgv(&out, (int)argc, (const char **)args, lens);
    cr_assert_gt(n, 0);
    text_add(want, out, (size_t)n);
    redisFreeCommand(out);
}

static size_t pick_argc(void)
{
    static const size_t edges[] = {1, 2, 9, 10, 11, 46, 99, 100, 101, 200, 999, 1000, 1001};
    return next() % 2 ? edges[next() % (sizeof edges / sizeof *edges)] : 1 + next() % 60;
}

/* Room for one command's arguments as written (args, lens) and as read
 * back (got, glens). */
enum { MAXARGS = 1001 };
typedef struct {
    char **args;
    size_t *lens;
    const char **got;
    size_t *glens;
} scratch;

static scratch scratch_new(void)
{
    scratch x = {calloc(MAXARGS, sizeof *x.args), calloc(MAXARGS, sizeof *x.lens),
                 calloc(MAXARGS, sizeof *x.got), calloc(MAXARGS, sizeof *x.glens)};
    cr_assert(x.args && x.lens && x.got && x.glens);
    /* Long arguments are rare (case 4 one time in 18): room for all. */
    for (size_t a = 0; a < MAXARGS; a++)
        cr_assert_not_null(x.args[a] = malloc(70001));
    return x;
}

static void scratch_free(scratch *x)
{
    for (size_t a = 0; a < MAXARGS; a++)
        free(x->args[a]);
    free(x->args);
    free(x->lens);
    free(x->got);
    free(x->glens);
}

Test(batch, matches_hiredis_and_reads_back)
{
    enum { NCMDS = 300 };
    scratch x = scratch_new();
    ks_batch b;
    ks_batch_init(&b);
    for (int round = 0; round < 2; round++) { /* the second reuses the memory */
        ks_batch_clear(&b);
        text want = {0};
        size_t nargs = 0;
        for (size_t c = 0; c < NCMDS; c++) {
            size_t argc = pick_argc();
            one_command(&b, &want, argc, x.args, x.lens);
            nargs += argc;
            /* Read back at once, while x.args[] still holds this command. */
            cr_assert_eq(ks_batch_argc(&b, c), argc);
            cr_assert_eq(ks_batch_get(&b, c, x.got, x.glens, MAXARGS), argc);
            for (size_t a = 0; a < argc; a++) {
                cr_assert_eq(x.glens[a], x.lens[a], "command %zu argument %zu", c, a);
                cr_assert(memcmp(x.got[a], x.args[a], x.lens[a]) == 0, "command %zu argument %zu",
                          c, a);
            }
            /* max bounds what is filled. */
            cr_assert_eq(ks_batch_get(&b, c, x.got, x.glens, 1), 1);
            cr_assert_eq(x.glens[0], x.lens[0]);
        }
        cr_assert_not(b.failed);
        cr_assert_eq(b.ncmds, NCMDS);
        cr_assert_eq(b.nargs, nargs);
        cr_assert_eq(b.len, want.len, "%zu bytes, hiredis %zu", b.len, want.len);
        cr_assert(memcmp(b.buf, want.s, want.len) == 0);
        free(want.s);
    }
    ks_batch_reset(&b);
    scratch_free(&x);
}

/* A drain that takes a random part of what is offered (all, none, or a
 * prefix of any length), appending it to got. */
typedef struct {
    text got;
    int calls;
    bool all; /* take everything */
} drain_ctx;

static void take_some(void *ctx, ks_batch *b)
{
    drain_ctx *d = ctx;
    d->calls++;
    size_t avail = b->len - b->rpos;
    size_t n = d->all              ? avail
               : next() % 4 == 0   ? 0
               : next() % 3 == 0   ? avail
                                   : next() % (avail + 1);
    text_add(&d->got, b->buf + b->rpos, n);
    ks_batch_take(b, n);
}

Test(batch, a_drained_batch_hands_over_the_same_bytes_in_order)
{
    enum { NCMDS = 400 };
    scratch x = scratch_new();
    for (int all = 0; all < 2; all++) {
        ks_batch b;
        ks_batch_init(&b);
        drain_ctx d = {.all = all};
        ks_batch_set_drain(&b, 4096, take_some, &d);
        text want = {0};
        size_t largest = 0;
        for (size_t c = 0; c < NCMDS; c++) {
            size_t before = want.len, argc = pick_argc();
            one_command(&b, &want, argc, x.args, x.lens);
            if (want.len - before > largest)
                largest = want.len - before;
            /* The newest command is whole and untaken: it reads back. */
            cr_assert_eq(ks_batch_get(&b, c, x.got, x.glens, MAXARGS), argc, "command %zu", c);
            for (size_t a = 0; a < argc; a++)
                cr_assert(x.glens[a] == x.lens[a] && memcmp(x.got[a], x.args[a], x.lens[a]) == 0,
                          "command %zu argument %zu", c, a);
        }
        cr_assert_not(b.failed);
        cr_assert_gt(d.calls, 10, "the drain was offered the bytes (%d calls)", d.calls);
        cr_assert_gt(b.base, 0, "taken bytes were dropped from the buffer");
        /* A taken command is gone. */
        cr_assert_eq(ks_batch_argc(&b, 0), 0);
        /* What the drain took, then the rest, is the whole stream. */
        text_add(&d.got, b.buf + b.rpos, b.len - b.rpos);
        cr_assert_eq(d.got.len, want.len);
        cr_assert(memcmp(d.got.s, want.s, want.len) == 0, "the bytes differ");
        cr_assert_eq(b.base + b.len, want.len);
        if (all) /* a reader that keeps up: the buffer holds about one command */
            cr_assert_lt(b.cap, 4 * (largest + 4096), "cap %zu for %zu bytes", b.cap, want.len);
        /* A clear starts over and keeps the drain. */
        ks_batch_clear(&b);
        cr_assert_eq(b.base + b.len + b.rpos, 0);
        cr_assert_eq(b.drain, take_some);
        ks_batch_reset(&b);
        free(want.s);
        free(d.got.s);
    }
    scratch_free(&x);
}

Test(batch, command_without_arguments_and_arguments_without_command)
{
    ks_batch b;
    ks_batch_init(&b);
    ks_batch_str(&b, "dropped"); /* before any command: nowhere to go */
    cr_assert_eq(b.len, 0);
    ks_batch_cmd(&b);
    ks_batch_cmd(&b);
    ks_batch_str(&b, "PING");
    static const char want[] = "*0\r\n*1\r\n$4\r\nPING\r\n";
    cr_assert_eq(b.len, sizeof want - 1);
    cr_assert(memcmp(b.buf, want, b.len) == 0);
    const char *argv[2];
    size_t lens[2];
    cr_assert_eq(ks_batch_get(&b, 0, argv, lens, 2), 0);
    cr_assert_eq(ks_batch_get(&b, 1, argv, lens, 2), 1);
    cr_assert_eq(lens[0], 4);
    cr_assert(memcmp(argv[0], "PING", 4) == 0);
    ks_batch_reset(&b);
}

Test(batch, fmt_truncates_and_integers_are_exact)
{
    ks_batch b;
    ks_batch_init(&b);
    ks_batch_cmd(&b);
    char big[700];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ks_batch_fmt(&b, "%s", big);
    ks_batch_i64(&b, INT64_MIN);
    ks_batch_i64(&b, INT64_MAX);
    ks_batch_i64(&b, 0);
    const char *argv[4];
    size_t lens[4];
    cr_assert_eq(ks_batch_get(&b, 0, argv, lens, 4), 4);
    cr_assert_eq(lens[0], 511);
    cr_assert_eq(lens[1], 20);
    cr_assert(memcmp(argv[1], "-9223372036854775808", 20) == 0);
    cr_assert(memcmp(argv[2], "9223372036854775807", 19) == 0);
    cr_assert(lens[3] == 1 && argv[3][0] == '0');
    ks_batch_reset(&b);
}

Test(batch, out_of_memory_fails_the_batch_and_keeps_whole_commands)
{
    ks_batch b;
    ks_batch_init(&b);
    ks_batch_cmd(&b);
    ks_batch_str(&b, "GET");
    ks_batch_str(&b, "k");
    size_t len = b.len;
    fail_after = 0; /* the next growth fails */
    ks_batch_cmd(&b);
    char big[4096];
    memset(big, 'v', sizeof big);
    for (int i = 0; i < 64 && !b.failed; i++)
        ks_batch_arg(&b, big, sizeof big);
    fail_after = -1;
    cr_assert(b.failed, "a failed growth must mark the batch failed");
    ks_batch_str(&b, "ignored"); /* nothing is appended after a failure */
    ks_batch_cmd(&b);
    /* The first command is intact and the one being built is readable. */
    cr_assert_geq(b.len, len);
    cr_assert(memcmp(b.buf, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", len) == 0);
    const char *argv[70];
    size_t lens[70];
    for (size_t c = 0; c < b.ncmds; c++)
        cr_assert_leq(ks_batch_get(&b, c, argv, lens, 70), 64);
    /* clear makes it usable again */
    ks_batch_clear(&b);
    cr_assert_not(b.failed);
    ks_batch_cmd(&b);
    ks_batch_str(&b, "PING");
    cr_assert_eq(b.len, 14);
    ks_batch_reset(&b);
}
