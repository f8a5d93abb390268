#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz/ for a while, one after another
# (`make fuzz FUZZ_SECONDS=N`, default 600 s each). Needs the fuzz build
# (`make build-fuzz`, clang). New inputs go to build-fuzz/tests/fuzz/work_<t>/,
# crashes to build-fuzz/tests/fuzz/crash_<t>-*; the seeds in the repo are only
# read. Prints each target's last stats line and exits non-zero if one failed.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
dir=build-fuzz/tests/fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do t=${f#tests/fuzz/fuzz_}; targets+=("${t%.c}"); done
fi
failed=()
for t in "${targets[@]}"; do
  bin=$dir/fuzz_$t
  [ -x "$bin" ] || { echo "fuzz: $bin missing (make build-fuzz)" >&2; exit 2; }
  mkdir -p "$dir/work_$t"
  dict=()
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
  log=$dir/fuzz_$t.log
  echo "fuzz: $t for ${secs}s (log $log)"
  extra=()
  # FUZZ_FORK=1: fuzz in a child process and keep going past findings (each is
  # still written as an artifact), to collect several in one long run; open
  # findings that stop every run at once are masked (tests/fuzz/README.md).
  if [ -n "${FUZZ_FORK:-}" ]; then
    extra=(-fork=1 -ignore_timeouts=1 -ignore_crashes=1 -ignore_ooms=1)
    export KS_FUZZ_MASK_OLD_CLOCK=1
  fi
  maxlen=8192
  [ "$t" = snapshot ] && maxlen=131072 # two 1024-slot tables at least (as tests/fuzz/CMakeLists.txt)
  "$bin" "${extra[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$maxlen" \
    -print_final_stats=1 "${dict[@]}" -artifact_prefix="$dir/crash_$t-" \
    "$dir/work_$t" "tests/fuzz/corpus_$t" >"$log" 2>&1
  rc=$?
  grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1
  grep -E 'stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" | tr '\n' ' '
  echo
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
  fi
done
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
