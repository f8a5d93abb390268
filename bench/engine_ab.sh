#!/usr/bin/env bash
# Two builds' engine part compared in time, paired: both run at the same
# moment, each pinned to one of the two cores, and the cores are swapped
# every round. Sequential runs of one build on this VM differ by 10-30 %
# with the host's load; two runs side by side meet the same load. And the
# cores are not always equal when both are busy: for minutes at a time the
# process on core 0 ran about 25 % slower than the one on core 1 (alone,
# either core was as fast as the other), so one round's ratio can mislead,
# a swapped pair's less, and the median of several pairs least: the same
# binary against itself gave pairs of 0.98-1.02 in a quiet phase
# (docs/benchmarks.md, "Session of 2026-12-08 (nineteenth)").
#
#   bash bench/engine_ab.sh BENCH_PIPELINE_A BENCH_PIPELINE_B [PAIRS]
#
# For each pair of rounds prints A's and B's mean events/s and B/A; at the
# end the median of the pairs' B/A and their spread. PAIRS defaults to 3
# (6 rounds, about 2 minutes). The stream is the catch-up part's shape
# (EA_CUSTOMERS 50000, EA_DAYS 45, EA_PARTITIONS 128, activity 0.35,
# partitions in runs of 100), one pass per round. Environment for one side
# only: EA_ENV_A, EA_ENV_B (e.g. "BENCH_NO_X=1"). EA_RESULT names another
# RESULT line of bench_pipeline engine to compare (default engine_eps; e.g.
# rebuilt_flush_us_per_customer, which runs the whole engine mode, not only
# its timed pass: about a minute a round). Needs taskset and 2 cores; with
# fewer, says so and exits 0.
set -euo pipefail
A="${1:?usage: engine_ab.sh BENCH_PIPELINE_A BENCH_PIPELINE_B [PAIRS]}"
B="${2:?usage: engine_ab.sh BENCH_PIPELINE_A BENCH_PIPELINE_B [PAIRS]}"
PAIRS="${3:-3}"
for bin in "$A" "$B"; do [ -x "$bin" ] || { echo "engine_ab: $bin not built" >&2; exit 1; }; done
if ! command -v taskset >/dev/null || [ "$(nproc)" -lt 2 ]; then
    echo "engine_ab: needs taskset and 2 cores (have $(nproc)); skipped"
    exit 0
fi
RES="${EA_RESULT:-engine_eps}"
ARGS=(engine --customers "${EA_CUSTOMERS:-50000}" --days "${EA_DAYS:-45}" --activity 0.35
      --partitions "${EA_PARTITIONS:-128}" --read-runs 100 --runs 1)
[ "$RES" = engine_eps ] && ARGS+=(--only engine)
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# One round: A on core ca, B on the other, at once; prints their two values
# of RESULT $RES.
round() {
    local ca=$1 cb=$((1 - $1)) pa pb
    env ${EA_ENV_A:-} taskset -c "$ca" "$A" "${ARGS[@]}" >"$OUT/a" 2>&1 & pa=$!
    env ${EA_ENV_B:-} taskset -c "$cb" "$B" "${ARGS[@]}" >"$OUT/b" 2>&1 & pb=$!
    wait "$pa" || { echo "engine_ab: A failed:" >&2; cat "$OUT/a" >&2; exit 1; }
    wait "$pb" || { echo "engine_ab: B failed:" >&2; cat "$OUT/b" >&2; exit 1; }
    echo "$(awk -v r="$RES" '$1 == "RESULT" && $2 == r { print $3 }' "$OUT/a")" \
         "$(awk -v r="$RES" '$1 == "RESULT" && $2 == r { print $3 }' "$OUT/b")"
}

echo "engine A/B, paired and pinned: A=$A B=$B, $RES (${ARGS[*]})"
RATIOS=()
for p in $(seq 1 "$PAIRS"); do
    read -r a0 b0 < <(round 0)
    read -r a1 b1 < <(round 1)
    [ -n "$a0" ] && [ -n "$b0" ] && [ -n "$a1" ] && [ -n "$b1" ] || { echo "engine_ab: no RESULT line" >&2; exit 1; }
    line="$(awk -v a0="$a0" -v b0="$b0" -v a1="$a1" -v b1="$b1" 'BEGIN {
        a = (a0 + a1) / 2; b = (b0 + b1) / 2
        printf "%.6g %.6g %.4f", a, b, b / a }')"
    read -r am bm r <<<"$line"
    RATIOS+=("$r")
    printf 'pair %d: A %s %s (core 0: %s, core 1: %s), B %s (core 1: %s, core 0: %s), B/A %s\n' \
        "$p" "$am" "$RES" "$a0" "$a1" "$bm" "$b0" "$b1" "$r"
done
printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "B/A median %.4f (%+.1f %%), pairs from %.4f to %.4f\n", m, (m - 1) * 100, v[1], v[NR]
    printf "RESULT engine_ab_ratio %.4f\n", m }'
