#!/usr/bin/env bash
# The engine's instructions per event, counted by callgrind: a figure that
# does not move with the machine's load, unlike events/s (this VM's passes of
# the same build differ by 10-20 %), so a change to the engine can be judged
# by one run of each build. It counts instructions, not time: cache misses
# and divisions cost cycles it does not see (docs/benchmarks.md, "Session of
# 2026-12-07 (sixteenth)", says why it still ranks the work well here).
#
#   bash bench/engine_instructions.sh [BENCH_PIPELINE]
#
# The stream is the catch-up part's shape (45 days, 128 partitions, activity
# 0.35, partitions in runs of 100) with fewer customers, so that callgrind's
# ~40x slowdown stays under a minute. Environment: EI_CUSTOMERS (default
# 5000), EI_DAYS (45), EI_PARTITIONS (128). Needs valgrind (scripts/deps.sh
# bench installs it); without it, says so and exits 0.
set -euo pipefail
BP="${1:-${BENCH_BUILD_DIR:-build}/bench/bench_pipeline}"
C="${EI_CUSTOMERS:-5000}" DAYS="${EI_DAYS:-45}" P="${EI_PARTITIONS:-128}"
if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
    echo "engine instructions: valgrind not installed (bash scripts/deps.sh bench), skipped"
    exit 0
fi
[ -x "$BP" ] || { echo "engine_instructions: $BP not built" >&2; exit 1; }
BP="$(cd "$(dirname "$BP")" && pwd)/$(basename "$BP")"
OUT="$(mktemp -d)"
trap '[ -n "${EI_KEEP:-}" ] && cp "$OUT/incl.txt" "$EI_KEEP"; rm -rf "$OUT"' EXIT
# Only ks_engine_process and what it calls are counted: not the generator,
# not the bench's own loop.
# Run from the scratch directory: from the source tree, callgrind names some
# functions' files both relative and absolute, and splits their costs in two.
(cd "$OUT" && valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" --toggle-collect=ks_engine_process \
    "$BP" engine --customers "$C" --days "$DAYS" --activity 0.35 --partitions "$P" \
    --read-runs 100 --only engine --runs 1 >"$OUT/bench.txt" 2>"$OUT/valgrind.txt")
# Every message handed over: accepted, duplicates and rejected.
EVENTS="$(sed -n 's/.*(\([0-9]*\) accepted, \([0-9]*\) duplicates, \([0-9]*\) rejected.*/\1 \2 \3/p' "$OUT/bench.txt" |
    awk 'NR == 1 { print $1 + $2 + $3 }')"
[ -n "$EVENTS" ] && [ "$EVENTS" -gt 0 ] || { echo "engine_instructions: no event count in the bench output" >&2; cat "$OUT/bench.txt" >&2; exit 1; }
(cd "$OUT" && callgrind_annotate --tree=caller --inclusive=yes --auto=no cg.out 2>/dev/null >incl.txt)
TOTAL="$(awk '/PROGRAM TOTALS/ { gsub(/,/, "", $1); print $1; exit }' "$OUT/incl.txt")"
# inclusive NAME: the instructions of function NAME and all it calls (the
# line of NAME itself, marked "*", in the listing of callers).
inclusive() {
    awk -v f=":$1 " '/^ *[0-9,]+ .*\*  / { line = $0 " " } /^ *[0-9,]+ .*\*  / && index(line, f) {
        gsub(/,/, "", $1); print $1; exit }' "$OUT/incl.txt"
}
printf 'engine instructions per event (callgrind; %s customers, %s days, %s partitions, %s events): %d\n' \
    "$C" "$DAYS" "$P" "$EVENTS" "$((TOTAL / EVENTS))"
echo "  where they go (each row includes what it calls; rows overlap where marked):"
row() { # LABEL FUNCTION
    local v
    v="$(inclusive "$2")"
    [ -n "$v" ] || v=0
    printf '    %-52s %7d  %5.1f %%\n' "$1" "$((v / EVENTS))" "$(awk -v a="$v" -v b="$TOTAL" 'BEGIN { printf "%.1f", 100 * a / b }')"
}
row "parse + validate (ks_event_parse)" ks_event_parse
row "name checks (ks_pstate_names_admit)" ks_pstate_names_admit
row "dedup (ks_pstate_seen)" ks_pstate_seen
row "sketch counts (ks_flusher_record)" ks_flusher_record
row "applying the event (ks_pstate_apply)" ks_pstate_apply
row "  window counts (ks__evc_apply)" ks__evc_apply
row "  last-touch moves (ks__move)" ks__move
row "  channel touches (ks__touch_active)" ks__touch_active
row "  per-customer lists (ks__roll_add)" ks__roll_add
row "clock advances (ks_pstate_advance)" ks_pstate_advance
row "risk scoring, every caller (ks_pstate_risk_update)" ks_pstate_risk_update
row "  of it: rolling sums (ks_customer_rolling_as_of)" ks_customer_rolling_as_of
echo "RESULT engine_instructions_per_event $((TOTAL / EVENTS))"
