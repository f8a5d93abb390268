/* Large state blocks in 2 MiB pages (bigalloc.h says why).
 *
 * A block allocated at n >= 2 MiB (or grown past 16 MiB) is its own
 * anonymous mapping, 2 MiB-aligned, advised MADV_HUGEPAGE (transparent huge
 * pages in `madvise` mode, Debian's default, back only advised ranges). The
 * data starts at the mapping's first byte, so a pointer that is not 2 MiB-
 * aligned is malloc's, and one that is aligned is looked up in a small table
 * of the mappings (tens per partition; only growth and frees look). Growth
 * moves the pages with mremap rather than copying them, as glibc's realloc
 * does for its own mappings.
 *
 *   2 MiB-aligned
 *   v
 *   |  2 MiB page  |  2 MiB page  | ... |  2 MiB page  | 4K 4K 4K |
 *   |<------------------ mapping: n rounded up to 4 KiB ---------->|
 *
 * Cost in memory: a 2 MiB page is resident whole once touched, so an array
 * filling up towards its capacity holds up to 2 MiB it does not use yet;
 * hence arrays that grow become mappings from 16 MiB on (<= 1/8 more), and
 * a mapping's last, partial 2 MiB stays in 4 KiB pages. Tables allocated at
 * their size (hash tables) are used all over and lose nothing.
 *
 * After a fork, every 2 MiB page the parent writes while the child lives is
 * split into 4 KiB entries (the kernel copies 4 KiB on a write fault), and
 * the next fork would copy them one by one: ks_big_collapse_start() has a
 * thread put them back together (MADV_COLLAPSE) once the child is gone. */
#include "kpistream/bigalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define KS__HUGE ((size_t)2 << 20)
#define KS__GROW_MIN ((size_t)16 << 20) /* ks_big_realloc: a malloc block moves to a mapping */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; glibc 2.36's headers lack it */
#endif

#if defined(__SANITIZE_ADDRESS__)
#define KS__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KS__ASAN 1
#endif
#endif

typedef struct ks__map {
    void *p;
    size_t len;
} ks__map;

static pthread_mutex_t ks__mu = PTHREAD_MUTEX_INITIALIZER;
static ks__map *ks__maps;
static size_t ks__nmaps, ks__capmaps;

/* The collapse thread (ks_big_collapse_start): passes asked for and done,
 * under ks__mu; ks__cv wakes the thread and the waiters. */
static pthread_cond_t ks__cv = PTHREAD_COND_INITIALIZER;
static uint64_t ks__asked, ks__done;
static bool ks__thread, ks__no_collapse;
static ks_big_collapse_stats ks__cst;

static pthread_once_t ks__once = PTHREAD_ONCE_INIT;
static const char *ks__mode = "unknown";
static bool ks__use_maps;

/* Whether the kernel has MADV_COLLAPSE (Linux 6.1), tried on one 2 MiB
 * page. Without it the 2 MiB pages a snapshot's copy-on-write splits stay
 * split (khugepaged mends a few MB per 10 s), and a fork of split 2 MiB
 * pages costs more than one of 4 KiB pages (measured 5.6 against 2.0 ms at
 * 0.26 GB): then huge pages are not worth it. */
#ifndef KS__ASAN
static bool ks__can_collapse(void)
{
    uint8_t *raw = mmap(NULL, 2 * KS__HUGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return false;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + KS__HUGE - 1) & ~(uintptr_t)(KS__HUGE - 1));
    memset(p, 1, KS__HUGE);
    bool ok = madvise(p, KS__HUGE, MADV_COLLAPSE) == 0 || errno != EINVAL;
    munmap(raw, 2 * KS__HUGE);
    return ok;
}
#endif

static void ks__init(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "";
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    /* The mode in use is the one in brackets: "always [madvise] never". */
    if (strstr(line, "[always]"))
        ks__mode = "always";
    else if (strstr(line, "[madvise]"))
        ks__mode = "madvise";
    else if (strstr(line, "[never]"))
        ks__mode = "never";
#ifdef KS__ASAN
    ks__use_maps = false; /* ASan checks the bounds of malloc's blocks only */
#else
    ks__use_maps = (strcmp(ks__mode, "always") == 0 || strcmp(ks__mode, "madvise") == 0) &&
                   ks__can_collapse();
#endif
}

const char *ks_big_thp_mode(void)
{
    pthread_once(&ks__once, ks__init);
    return ks__mode;
}

bool ks_big_huge(void)
{
    pthread_once(&ks__once, ks__init);
    return ks__use_maps;
}

static bool ks__mapped(size_t n)
{
    return n >= KS__HUGE && ks_big_huge();
}

/* A mapping ends at the block's last 4 KiB page: a 2 MiB range only partly
 * inside it is left to 4 KiB pages, not filled up to 2 MiB. */
static size_t ks__round(size_t n)
{
    return (n + 4095) & ~(size_t)4095;
}

/* Index of p in the table, or -1. Called locked. */
static ptrdiff_t ks__find(const void *p)
{
    for (size_t i = 0; i < ks__nmaps; i++)
        if (ks__maps[i].p == p)
            return (ptrdiff_t)i;
    return -1;
}

/* Records a mapping; false (nothing recorded) when out of memory. */
static bool ks__remember(void *p, size_t len)
{
    pthread_mutex_lock(&ks__mu);
    if (ks__nmaps == ks__capmaps) {
        size_t cap = ks__capmaps ? ks__capmaps * 2 : 64;
        ks__map *m = realloc(ks__maps, cap * sizeof *m);
        if (!m) {
            pthread_mutex_unlock(&ks__mu);
            return false;
        }
        ks__maps = m;
        ks__capmaps = cap;
    }
    ks__maps[ks__nmaps++] = (ks__map){p, len};
    pthread_mutex_unlock(&ks__mu);
    return true;
}

/* Removes p from the table; returns its length, or 0 if p is not a mapping
 * of ours (malloc's). */
static size_t ks__forget(void *p)
{
    if ((uintptr_t)p & (KS__HUGE - 1))
        return 0;
    pthread_mutex_lock(&ks__mu);
    ptrdiff_t i = ks__find(p);
    size_t len = 0;
    if (i >= 0) {
        len = ks__maps[i].len;
        ks__maps[i] = ks__maps[--ks__nmaps];
    }
    pthread_mutex_unlock(&ks__mu);
    return len;
}

/* A fresh 2 MiB-aligned mapping of len (a multiple of 2 MiB) bytes,
 * advised huge, not recorded; NULL if the kernel refuses. */
static void *ks__map_new(size_t len)
{
    uint8_t *raw = mmap(NULL, len + KS__HUGE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    uint8_t *p = (uint8_t *)(((uintptr_t)raw + KS__HUGE - 1) & ~(uintptr_t)(KS__HUGE - 1));
    if (p > raw)
        munmap(raw, (size_t)(p - raw));
    if (p + len < raw + len + KS__HUGE)
        munmap(p + len, (size_t)(raw + len + KS__HUGE - (p + len)));
    /* Only a hint: without THP in the kernel it fails and the block keeps
     * 4 KiB pages. */
    (void)madvise(p, len, MADV_HUGEPAGE);
    return p;
}

static void *ks__alloc(size_t n)
{
    size_t len = ks__round(n);
    void *p = ks__map_new(len);
    if (p && !ks__remember(p, len)) {
        munmap(p, len);
        p = NULL;
    }
    return p;
}

/* A block below the mapping size: malloc's, but on a cache line. At
 * malloc's 16 bytes (a block of 128 KiB or more is its own mapping with a
 * 16-byte header) every 128-byte customer record straddled three lines
 * instead of two, and a 64-byte one two instead of one. */
static void *ks__small(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 64, n ? n : 1) == 0 ? p : NULL;
}

void *ks_big_alloc(size_t n)
{
    return ks__mapped(n) ? ks__alloc(n) : ks__small(n);
}

void *ks_big_calloc(size_t n)
{
    if (ks__mapped(n))
        return ks__alloc(n);
    void *p = ks__small(n);
    if (p)
        memset(p, 0, n);
    return p;
}

/* Grows mapping i of the table to hold n bytes; returns its address, or
 * NULL with it left as it was. Called locked: the entry is updated in
 * place. */
static void *ks__grow(size_t i, size_t n)
{
    void *p = ks__maps[i].p;
    size_t len = ks__maps[i].len, need = ks__round(n);
    if (need <= len)
        return p; /* shrinking keeps the mapping: blocks here only grow */
    /* In place if the address space after it is free, else into a new
     * aligned mapping, moving the page tables (no copy). */
    void *q = mremap(p, len, need, 0);
    if (q == MAP_FAILED) {
        if (!(q = ks__map_new(need)))
            return NULL;
        if (mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, q) == MAP_FAILED) {
            memcpy(q, p, len);
            munmap(p, len);
        }
    }
    (void)madvise(q, need, MADV_HUGEPAGE);
    ks__maps[i] = (ks__map){q, need};
    return q;
}

void *ks_big_realloc(void *p, size_t old_n, size_t n)
{
    if (!p)
        return ks_big_alloc(n);
    if (!((uintptr_t)p & (KS__HUGE - 1))) {
        pthread_mutex_lock(&ks__mu);
        ptrdiff_t i = ks__find(p);
        void *q = i >= 0 ? ks__grow((size_t)i, n) : NULL;
        pthread_mutex_unlock(&ks__mu);
        if (i >= 0)
            return q;
    }
    /* malloc's */
    /* An array that grows is used up to the end it had, so the 2 MiB range
     * it is filling is resident whole (up to 2 MiB unused): arrays become
     * mappings only where that is small beside them. */
    void *q;
    if (n < KS__GROW_MIN)
        q = ks__small(n);
    else if (!ks_big_huge())
        return realloc(p, n); /* glibc moves its own mapping's pages (mremap), no copy;
                               * the block is then at malloc's 16 bytes */
    else
        q = ks__alloc(n);
    if (!q)
        return NULL;
    memcpy(q, p, old_n < n ? old_n : n);
    free(p);
    return q;
}

void ks_big_free(void *p)
{
    if (!p)
        return;
    size_t len = ks__forget(p);
    if (len)
        munmap(p, len);
    else
        free(p);
}

/* A fork() waits for the table's lock, so that a child never inherits it
 * held by the collapse thread (which the child does not have). */
static void ks__atfork_lock(void)
{
    pthread_mutex_lock(&ks__mu);
}

static void ks__atfork_unlock(void)
{
    pthread_mutex_unlock(&ks__mu);
}

static int64_t ks__now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Collapses the range at p if every page of it is resident: a range partly
 * untouched (the unused end of an array) would be filled with zeros.
 * Returns 1 if collapsed (or already one page), else 0: left as it is, e.g.
 * EINVAL for the range across the end of a block moved by its growth and
 * the mapping after it, which can only have 4 KiB pages. Called unlocked:
 * the range may have been freed meanwhile, then the calls fail harmlessly
 * (MADV_COLLAPSE itself was checked by ks__can_collapse). */
static int ks__collapse(uint8_t *p)
{
    unsigned char vec[KS__HUGE / 4096];
    if (mincore(p, KS__HUGE, vec) < 0)
        return 0;
    for (size_t i = 0; i < sizeof vec; i++)
        if (!(vec[i] & 1))
            return 0;
    /* Already one 2 MiB page: returns at once. Split: copied into a new one
     * (~0.3 ms; more when the kernel compacts memory to find one, which is
     * why this runs on a thread of its own: the loop only waits if it
     * faults on that range during the copy). ENOMEM/EAGAIN: left split. */
    return madvise(p, KS__HUGE, MADV_COLLAPSE) == 0;
}

/* One pass over the table's ranges; the lock is held only to read the next
 * one. A table changed meanwhile (a block freed or moved) makes the pass
 * skip or repeat a few ranges: a missed one is merely copied entry by entry
 * by the next fork. */
static void ks__pass(uint64_t pass)
{
    int64_t t0 = ks__now_ns();
    size_t i = 0, off = 0;
    int64_t ranges = 0, collapsed = 0;
    for (;;) {
        pthread_mutex_lock(&ks__mu);
        while (i < ks__nmaps && off + KS__HUGE > ks__maps[i].len) /* whole ranges only */
            i++, off = 0;
        bool more = i < ks__nmaps && ks__asked == pass;
        uint8_t *p = more ? (uint8_t *)ks__maps[i].p + off : NULL;
        pthread_mutex_unlock(&ks__mu);
        if (!more)
            break;
        off += KS__HUGE;
        ranges++;
        int64_t c0 = ks__now_ns();
        collapsed += ks__collapse(p);
        int64_t took = ks__now_ns() - c0;
        if (took > 20000) {
            /* A copy was made, holding the process's mmap lock (the loop's
             * page faults wait) and a core: pause as long, so that the
             * loop gets at least every other slice of a pass. */
            struct timespec ts = {(time_t)(took / 1000000000), (long)(took % 1000000000)};
            nanosleep(&ts, NULL);
        }
    }
    pthread_mutex_lock(&ks__mu);
    ks__cst.passes++;
    ks__cst.ranges += ranges;
    ks__cst.collapsed += collapsed;
    ks__cst.last_pass_s = (double)(ks__now_ns() - t0) / 1e9;
    ks__done = pass;
    pthread_cond_broadcast(&ks__cv);
    pthread_mutex_unlock(&ks__mu);
}

static void *ks__collapser(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&ks__mu);
    for (;;) {
        while (ks__asked == ks__done)
            pthread_cond_wait(&ks__cv, &ks__mu);
        uint64_t pass = ks__asked;
        pthread_mutex_unlock(&ks__mu);
        ks__pass(pass);
        pthread_mutex_lock(&ks__mu);
    }
    return NULL;
}

void ks_big_collapse_start(void)
{
    if (!ks_big_huge())
        return;
    pthread_mutex_lock(&ks__mu);
    if (!ks__no_collapse && !ks__thread) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        ks__thread = pthread_create(&t, &at, ks__collapser, NULL) == 0 &&
                     pthread_atfork(ks__atfork_lock, ks__atfork_unlock, ks__atfork_unlock) == 0;
        pthread_attr_destroy(&at);
        ks__no_collapse = !ks__thread;
    }
    if (!ks__no_collapse) {
        ks__asked++; /* a pass in progress gives way to this one */
        pthread_cond_broadcast(&ks__cv);
    }
    pthread_mutex_unlock(&ks__mu);
}

void ks_big_collapse_wait(void)
{
    pthread_mutex_lock(&ks__mu);
    while (ks__thread && ks__done != ks__asked && !ks__no_collapse)
        pthread_cond_wait(&ks__cv, &ks__mu);
    pthread_mutex_unlock(&ks__mu);
}

void ks_big_collapse_stats_get(ks_big_collapse_stats *out)
{
    pthread_mutex_lock(&ks__mu);
    *out = ks__cst;
    pthread_mutex_unlock(&ks__mu);
}
