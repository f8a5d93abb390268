#include "kpistream/err.h"

const char *ks_strerror(int err)
{
    switch (err) {
#define KS__ERR_STR(name, code, msg)                                           \
    case code:                                                                 \
        return msg;
        KS_ERR_MAP(KS__ERR_STR)
#undef KS__ERR_STR
    }
    return "unknown error";
}
