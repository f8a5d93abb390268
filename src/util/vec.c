/* ks_vec: the growth step of include/kpistream/vec.h. */
#include "kpistream/vec.h"

#include "kpistream/err.h"

#include <stdint.h>
#include <string.h>

#define KS__VEC_MIN_BYTES 256

int ks_vec_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    if (elem == 0 || need > SIZE_MAX / 2 / elem)
        return KS_ERR_NOMEM; /* the doubled size would not fit a size_t */
    size_t ncap = *cap ? *cap : (KS__VEC_MIN_BYTES + elem - 1) / elem;
    while (ncap < need)
        ncap *= 2;
    /* pp points at the caller's `T *`; its representation is that of a void *
     * on every platform we build for, and memcpy keeps the access well-defined. */
    void *p;
    memcpy(&p, pp, sizeof p);
    void *np = realloc(p, ncap * elem);
    if (!np)
        return KS_ERR_NOMEM;
    memcpy(pp, &np, sizeof np);
    *cap = ncap;
    return 0;
}
