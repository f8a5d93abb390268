/* The logger's key (src/util/log.c). */
#include "config/internal.h"

static const ks__key ks__keys[] = {
    {.name = "log_level", .kind = KS__K_LOGLEVEL, .off = KS__OFF(log_level), .def = "info",
     .doc = "Least severe log line written to stderr."},
};

KS__MODULE(log, ks__keys, NULL, NULL, NULL);
