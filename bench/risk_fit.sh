#!/usr/bin/env bash
# Churn risk, hand weights vs fitted models (issue 15; docs/churn-risk.md,
# "Fitted model: measured").
#
#   bash bench/risk_fit.sh [CUSTOMERS]      (default 20000; OUT=/tmp/ks_risk_fit)
#
# 1. Two training histories, each from its own seed, 120 days: the default
#    population (seed 11) and the sparse one (seed 12); `kpistream risk-fit`
#    fits a model on each.
# 2. Evaluation on data none of them was fitted on: seeds 1 and 2 of both
#    populations, each scored by the hand weights and by both models (so each
#    model is also judged on the population it was NOT trained on):
#      bench_risk          the real pipeline over 60 days, levels as alerts see
#                          them (precision per customer, recall @cancel, lead);
#      risk-fit --eval     the same scorer over 90 days, per customer-day:
#                          AUC, and churns flagged in the 30 d before them.
# Prints one table; the raw outputs stay in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/kpistream}
BENCH=${BENCH:-build/bench/bench_risk}
N=${1:-20000}
OUT=${OUT:-/tmp/ks_risk_fit}
START=1767225600000
mkdir -p "$OUT"

for pop in default sparse; do
    seed=11; [ "$pop" = sparse ] && seed=12
    "$BIN" gen --seed "$seed" --customers "$N" --days 120 --start-ms "$START" \
        --population "$pop" --quiet --out - |
        "$BIN" risk-fit --input - --out "$OUT/model-$pop.json" >"$OUT/fit-$pop.txt"
    echo "fitted model-$pop: $(grep -E '^thresholds' "$OUT/fit-$pop.txt")"
done

r() { awk -v k="$2" '$1 == "RESULT" && $2 == k { print $3 }' "$1"; }

printf '%-8s %-4s %-14s | %-9s %-10s %-9s %-7s | %-6s %-10s %-9s %-7s\n' population seed scorer \
    prec_high rec@cancel high_30d lead_d AUC prec_cust ep_recall lead_d
for pop in default sparse; do
    for seed in 1 2; do
        for scorer in hand model-default model-sparse; do
            set=()
            [ "$scorer" != hand ] && set=(--set "risk.model=$OUT/$scorer.json")
            b="$OUT/bench-$pop-$seed-$scorer.txt" e="$OUT/eval-$pop-$seed-$scorer.txt"
            "$BENCH" --customers "$N" --days 60 --seed "$seed" --population "$pop" \
                "${set[@]}" >"$b" 2>&1
            "$BIN" gen --seed "$seed" --customers "$N" --days 90 --start-ms "$START" \
                --population "$pop" --quiet --out - |
                "$BIN" risk-fit --eval --input - "${set[@]}" >"$e"
            printf '%-8s %-4s %-14s | %-9s %-10s %-9s %-7s | %-6s %-10s %-9s %-7s\n' "$pop" "$seed" \
                "$scorer" "$(r "$b" precision_high)" "$(r "$b" recall_high)" \
                "$(r "$b" high_before_cancel)" "$(r "$b" lead_median_days)" "$(r "$e" auc)" \
                "$(r "$e" customer_precision_high)" "$(r "$e" episode_recall_high)" \
                "$(r "$e" lead_median_days)"
        done
    done
done
