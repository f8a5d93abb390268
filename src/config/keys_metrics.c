/* The operations endpoint's key (src/metrics/). */
#include "config/internal.h"

static const ks__key ks__keys[] = {
    {.name = "metrics_listen", .kind = KS__K_LISTEN, .off = KS__OFF(metrics_listen),
     .def = "127.0.0.1:9464",
     .doc = "Where `run` serves `GET /metrics` (Prometheus), `/healthz` and `/readyz` "
            "([operations.md](operations.md)). Host: a name, an IPv4 address, or an IPv6 "
            "address in brackets (`\"[::1]:9464\"`); `\"0.0.0.0:9464\"` listens on every "
            "interface (needed for Kubernetes probes and scrapes). `\"\"` switches the endpoint "
            "off. If the address cannot be bound, `run` exits 1 naming this key and the "
            "address."},
};

KS__MODULE(metrics, ks__keys, NULL, NULL, NULL);
