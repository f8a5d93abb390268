/* The KPI formulas' parameters (src/kpi/, and the CSAT/NPS counting in src/state/). */
#include "config/internal.h"

static const ks__key ks__keys[] = {
    {.name = "gross_margin", .kind = KS__K_DOUBLE, .off = KS__OFF(gross_margin), .dmin = 0.0,
     .dmax = 1.0, .def = "0.3",
     .doc = "Gross margin used by the `clv` KPI (to six decimals: `clv` is computed exactly "
            "from it, [kpis.md](kpis.md#known-gaps))."},
    {.name = "min_churn", .kind = KS__K_DOUBLE, .off = KS__OFF(min_churn), .dmin = 0.0,
     .dmax = 1.0, .def = "0.01",
     .doc = "Floor of the churn rate in the `clv` formula, so CLV stays finite when nobody "
            "churns (to six decimals)."},
    {.name = "csat_satisfied_min", .kind = KS__K_INT, .off = KS__OFF(csat_satisfied_min),
     .min = 1, .max = 5, .def = "4", .doc = "Lowest CSAT score counted as satisfied."},
    {.name = "nps_promoter_min", .kind = KS__K_INT, .off = KS__OFF(nps_promoter_min), .min = 0,
     .max = 10, .def = "9", .doc = "Lowest NPS score counted as a promoter."},
    {.name = "nps_detractor_max", .kind = KS__K_INT, .off = KS__OFF(nps_detractor_max),
     .min = 0, .max = 10, .def = "6",
     .doc = "Highest NPS score counted as a detractor. Must be below `nps_promoter_min`."},
};

KS__MODULE(kpi, ks__keys, NULL, NULL, NULL);
