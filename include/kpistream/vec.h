/* Growable arrays without a container type: the array stays a plain `T *p`
 * with a count and a `size_t` capacity in the caller's struct (or locals), so
 * code indexes p[i] as before and only the growing is shared.
 *
 *     ks_customer *v = NULL; size_t n = 0, cap = 0;
 *     ks_customer *slot = ks_vec_push(v, n, cap);   // NULL: out of memory
 *     ...
 *     ks_vec_free(v, n, cap);
 *
 * Growth: to at least the size asked, doubling, from 256 bytes' worth (one
 * element at least). On failure nothing changes (p, n and cap stay valid).
 * Ownership: the caller owns p; release it with ks_vec_free() or free().
 * The macros evaluate their arguments more than once: pass plain lvalues. */
#ifndef KPISTREAM_VEC_H
#define KPISTREAM_VEC_H

#include <stddef.h>
#include <stdlib.h>

/** Grows the array at *pp (a `T **` passed as void *) of *cap elements of
 *  elem bytes to hold need elements. Returns 0 or KS_ERR_NOMEM (allocation
 *  failed or the size overflows; *pp and *cap untouched). Use ks_vec_reserve(). */
int ks_vec_grow(void *pp, size_t *cap, size_t need, size_t elem);

/** Makes room for need elements in p (capacity cap, a size_t). Returns 0 or KS_ERR_NOMEM. */
#define ks_vec_reserve(p, cap, need)                                                               \
    ((size_t)(need) <= (cap) ? 0 : ks_vec_grow(&(p), &(cap), (size_t)(need), sizeof *(p)))

/** Appends one element: returns its slot p[n] (n incremented; contents
 *  undefined), or NULL on out of memory (nothing changed). */
#define ks_vec_push(p, n, cap) (ks_vec_reserve(p, cap, (size_t)(n) + 1) < 0 ? NULL : &(p)[(n)++])

/** Frees p and empties the array. */
#define ks_vec_free(p, n, cap) (free(p), (p) = NULL, (n) = 0, (cap) = 0)

#endif
