#!/usr/bin/env bash
# A profile-guided (gcc) build of kpistream in DIR, the release build:
#   1. build the engine benchmark instrumented (KS_PGO=generate);
#   2. run it on a generated stream, which records the profile;
#   3. build again in the same directory with that profile (KS_PGO=use).
#
#   bash scripts/build-pgo.sh DIR [cmake arguments...]
#
# Environment: PGO_TARGETS (the targets of step 3; default all), PGO_JOBS
# (default nproc). The training stream is not the benchmarks' (20 000
# customers, 30 days, 64 partitions; bench/run.sh measures 50 000, 45 days,
# 128): a profile records which branches are taken and which functions are
# hot, and is meant to hold for streams of other shapes.
set -euo pipefail
DIR="${1:?usage: build-pgo.sh DIR [cmake arguments...]}"
shift
JOBS="${PGO_JOBS:-$(nproc)}"
PROFILE="$(mkdir -p "$DIR" && cd "$DIR" && pwd)/pgo-profile"

cmake -S . -B "$DIR" -DKS_PGO=generate "-DKS_PGO_DIR=$PROFILE" "$@" >/dev/null
cmake --build "$DIR" --target bench_pipeline -j "$JOBS"
rm -rf "$PROFILE"
echo "build-pgo: training run (engine benchmark, 20000 customers, 30 days, 64 partitions)"
out="$("$DIR/bench/bench_pipeline" engine --customers 20000 --days 30 --activity 0.35 --partitions 64 \
    --read-runs 100 --only engine --runs 1)" || { echo "build-pgo: the training run failed" >&2; exit 1; }
grep -E "ks_engine_process" <<<"$out" || true
[ -d "$PROFILE" ] || { echo "build-pgo: the training run wrote no profile to $PROFILE" >&2; exit 1; }

cmake -S . -B "$DIR" -DKS_PGO=use "-DKS_PGO_DIR=$PROFILE" "$@" >/dev/null
if [ -n "${PGO_TARGETS:-}" ]; then
    for t in $PGO_TARGETS; do cmake --build "$DIR" --target "$t" -j "$JOBS"; done
else
    cmake --build "$DIR" -j "$JOBS"
fi
