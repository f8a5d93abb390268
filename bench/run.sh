#!/usr/bin/env bash
# kpistream benchmarks, one run, one summary. Builds nothing: `make bench`
# builds first (or run `make build` yourself). See docs/benchmarks.md.
#
#   bash bench/run.sh
#
# Environment:
#   BENCH_EVENTS         events for the engine and Kafka parts (default 1000000)
#   BENCH_CUSTOMERS      generator population for those events (default 300000)
#   BENCH_MEM_CUSTOMERS  distinct customers for the memory part (default 1000000)
#   BENCH_BUILD_DIR      build directory (default build)
#   BENCH_TIMEOUT        seconds allowed for the end-to-end run (default 600)
#   BENCH_PARTS          which parts to run (default engine,memory,kafka,sketch,risk,restore)
#   BENCH_RISK_CUSTOMERS generator population for the churn-risk quality part (default 100000)
#   BENCH_RISK_DAYS      simulated days for that part (default 60; the first 30 are warm-up)
#   BENCH_RESTORE_CUSTOMERS  customers in the restored partition (default 1000000)
#   BENCH_RESTORE_DAYS   days of events in it (default 7, Kafka's default retention)
#   BENCH_RESTORE_CLOCK  the engine's clock for the replay (default wall, kpistream's default)
#   BENCH_PERF_DIR       if set: `perf record -g` the engine part and the kpistream
#                        run into DIR/engine.data and DIR/run.data (frame pointers
#                        help: configure with -DCMAKE_C_FLAGS=-fno-omit-frame-pointer);
#                        BENCH_PERF_ARGS replaces "-g" (e.g. "-e sched:sched_switch -g")
#
# Starts its own redis-server (free loopback port) and `kpistream mock-broker`
# (64 partitions, plus one for the restore part), and stops both by PID on exit,
# whatever the exit path.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${BENCH_BUILD_DIR:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
N="${BENCH_EVENTS:-1000000}"
C="${BENCH_CUSTOMERS:-300000}"
MEMC="${BENCH_MEM_CUSTOMERS:-1000000}"
TIMEOUT="${BENCH_TIMEOUT:-600}"
TOPIC=bench-events
PARTITIONS=64
PERF_DIR="${BENCH_PERF_DIR:-}"
PARTS=",${BENCH_PARTS:-engine,memory,kafka,sketch,risk,restore},"
RISK_C="${BENCH_RISK_CUSTOMERS:-100000}"
RISK_DAYS="${BENCH_RISK_DAYS:-60}"
RESTORE_C="${BENCH_RESTORE_CUSTOMERS:-1000000}"
RESTORE_DAYS="${BENCH_RESTORE_DAYS:-7}"
RESTORE_CLOCK="${BENCH_RESTORE_CLOCK:-wall}"
part() { [[ "$PARTS" == *",$1,"* ]]; }
# perf_wrap NAME: the command prefix that profiles into $PERF_DIR/NAME.data.
perf_wrap() { [ -z "$PERF_DIR" ] || echo "perf record ${BENCH_PERF_ARGS:--g} -q -o $PERF_DIR/$1.data --"; }
if [ -n "$PERF_DIR" ]; then
    mkdir -p "$PERF_DIR"
    command -v perf >/dev/null || { echo "bench: BENCH_PERF_DIR set but perf not found" >&2; exit 1; }
fi

KS="$BUILD/kpistream"
BP="$BUILD/bench/bench_pipeline"
for f in "$KS" "$BP"; do
    if [ ! -x "$f" ]; then
        echo "bench: $f not found; run 'make build' first (or 'make bench')" >&2
        exit 1
    fi
done
command -v redis-server >/dev/null || { echo "bench: redis-server not in PATH" >&2; exit 1; }
command -v redis-cli >/dev/null || { echo "bench: redis-cli not in PATH" >&2; exit 1; }

TMP="$(mktemp -d /tmp/kpistream-bench.XXXXXX)"
REDIS_PID="" MOCK_PID="" RUN_PID=""

stop_pid() { # stop_pid PID: SIGTERM, up to 10 s, then SIGKILL; reap.
    local pid="$1" i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
}

# stop_tree PID: the wrapper's children first (kpistream under /usr/bin/time or
# perf: neither forwards SIGTERM), then the wrapper itself.
stop_tree() {
    local pid="$1" c
    [ -n "$pid" ] || return 0
    for c in $(pgrep -P "$pid" 2>/dev/null || true); do stop_pid "$c"; done
    stop_pid "$pid"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    stop_tree "$RUN_PID"
    stop_pid "$MOCK_PID"
    stop_pid "$REDIS_PID"
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# wait_for SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

# result FILE NAME: the value of "RESULT NAME v" in FILE (empty if absent).
result() { awk -v k="$2" '$1 == "RESULT" && $2 == k { print $3 }' "$1"; }

section() { printf '\n== %s ==\n' "$1"; }

echo "kpistream bench: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr)"
echo "events N=$N, generator customers=$C, memory test customers=$MEMC, build=$BUILD"

# ---------------------------------------------------------------- redis
redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
for attempt in 1 2 3 4 5; do
    REDIS_PORT=$((20000 + RANDOM % 40000))
    # Connection refused means nobody listens there (a race remains; retried).
    if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then continue; fi
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
        --dir "$TMP" --logfile "$TMP/redis.log" &
    REDIS_PID=$!
    if wait_for 10 redis_ping; then break; fi
    stop_pid "$REDIS_PID"
    REDIS_PID=""
done
[ -n "$REDIS_PID" ] || { echo "bench: could not start redis-server" >&2; exit 1; }
echo "redis-server pid $REDIS_PID on 127.0.0.1:$REDIS_PORT"

# ---------------------------------------------------------------- 1. engine
touch "$TMP/engine.txt" "$TMP/memory.txt" "$TMP/kafka.txt"
if part engine; then
section "1. engine only: parse + validate + dedup + state update, one core"
$(perf_wrap engine) "$BP" engine --events "$N" --customers "$C" | tee "$TMP/engine.txt"
fi

# ---------------------------------------------------------------- 2. memory
if part memory; then
section "2. memory per customer ($MEMC customers, signup + purchase each, 8 partitions)"
"$BP" memory --customers "$MEMC" | tee "$TMP/memory.txt"
fi

# ---------------------------------------------------------------- mock broker
# start_mock: one mock cluster for the Kafka and restore parts (sets BROKERS).
start_mock() {
    [ -z "$MOCK_PID" ] || return 0
    "$KS" mock-broker --topic "$TOPIC:$PARTITIONS" --topic "$TOPIC.dlq:1" --topic bench-restore:1 \
        --bootstrap-file "$TMP/bootstrap" >"$TMP/mock.log" 2>&1 &
    MOCK_PID=$!
    wait_for 20 test -s "$TMP/bootstrap" || { echo "bench: mock-broker did not start" >&2; cat "$TMP/mock.log" >&2; exit 1; }
    BROKERS="$(head -n1 "$TMP/bootstrap")"
    echo "mock-broker pid $MOCK_PID at $BROKERS ($TOPIC: $PARTITIONS partitions, bench-restore: 1)"
}

# ---------------------------------------------------------------- 3. kafka
VERIFY="not run" E2E_EPS="" E2E_SECS="?" E2E_FLUSHES="?" E2E_MIB="?" CPU_LINE=""
if part kafka; then
section "3. Kafka: preload, raw librdkafka consume, kpistream end to end into Redis"
start_mock

"$BP" kafka --brokers "$BROKERS" --topic "$TOPIC" --partitions "$PARTITIONS" \
    --events "$N" --customers "$C" | tee "$TMP/kafka.txt"

# CPU seconds (user+system) a process has used so far, from /proc.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0; }
REDIS_CPU0="$(cpu_s "$REDIS_PID")" MOCK_CPU0="$(cpu_s "$MOCK_PID")"
TIME_WRAP=()
[ -x /usr/bin/time ] && TIME_WRAP=(/usr/bin/time -f "%U %S %e" -o "$TMP/run.time")
GROUP="bench-$$"
echo "kpistream run --group $GROUP --clock event --exit-on-eof ..."
${TIME_WRAP[@]+"${TIME_WRAP[@]}"} $(perf_wrap run) "$KS" run --brokers "$BROKERS" --topics "$TOPIC" --group "$GROUP" \
    --redis "redis://127.0.0.1:$REDIS_PORT" --clock event --exit-on-eof >"$TMP/run.log" 2>&1 &
RUN_PID=$!
deadline=$((SECONDS + TIMEOUT))
while kill -0 "$RUN_PID" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
if kill -0 "$RUN_PID" 2>/dev/null; then
    echo "bench: kpistream run still running after ${TIMEOUT}s; log tail:" >&2
    tail -n 20 "$TMP/run.log" >&2
    exit 1
fi
run_rc=0
wait "$RUN_PID" || run_rc=$?
RUN_PID=""
grep -E 'throughput:|stopped:|error|warn' "$TMP/run.log" | tail -n 8 || true
if [ "$run_rc" -ne 0 ]; then
    echo "bench: kpistream run exited $run_rc; log tail:" >&2
    tail -n 20 "$TMP/run.log" >&2
    exit 1
fi
TP_LINE="$(grep 'throughput:' "$TMP/run.log" | tail -n1)"
REDIS_CPU="$(awk -v a="$(cpu_s "$REDIS_PID")" -v b="$REDIS_CPU0" 'BEGIN { printf "%.1f", a - b }')"
MOCK_CPU="$(awk -v a="$(cpu_s "$MOCK_PID")" -v b="$MOCK_CPU0" 'BEGIN { printf "%.1f", a - b }')"
KS_CPU="?"
[ -s "$TMP/run.time" ] && KS_CPU="$(awk 'END { printf "%.1f (wall %.1f)", $1 + $2, $3 }' "$TMP/run.time")"
CPU_LINE="kpistream $KS_CPU, redis-server $REDIS_CPU, mock-broker $MOCK_CPU"
echo "CPU seconds during the run: $CPU_LINE"
E2E_EPS="$(sed -n 's/.*= \([0-9]*\) messages\/s.*/\1/p' <<<"$TP_LINE")"
E2E_MSGS="$(sed -n 's/.*throughput: \([0-9]*\) messages in.*/\1/p' <<<"$TP_LINE")"
E2E_SECS="$(sed -n 's/.*messages in \([0-9.]*\) s.*/\1/p' <<<"$TP_LINE")"
E2E_MIB="$(sed -n 's/.*state \([0-9.]*\) MiB.*/\1/p' <<<"$TP_LINE")"
E2E_FLUSHES="$(sed -n 's/.*, \([0-9]*\) flushes.*/\1/p' <<<"$TP_LINE")"

# Honesty check: what Redis says was counted.
meta() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" HGET kpi:meta "$1"; }
M_PROC="$(meta events_processed)"
M_DUP="$(meta duplicates)"
M_REJ="$(meta events_rejected)"
CUST_KEYS="$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" --scan --pattern 'kpi:customer:*' | wc -l)"
REDIS_MEM="$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" INFO memory | sed -n 's/^used_memory_human:\(.*\)\r*$/\1/p' | tr -d '\r')"
if [ -n "$M_PROC" ] && [ "$M_PROC" -eq $((N - ${M_DUP:-0})) ] && [ "${M_REJ:-0}" -eq 0 ]; then
    VERIFY="ok: kpi:meta events_processed $M_PROC = N - duplicates ($M_DUP), 0 rejected"
else
    VERIFY="MISMATCH: kpi:meta events_processed=${M_PROC:-absent} duplicates=${M_DUP:-?} rejected=${M_REJ:-?}, N=$N"
fi
echo "redis: $VERIFY; $CUST_KEYS customer hashes; used_memory $REDIS_MEM"
# What the run asked of Redis: calls and time spent inside Redis per command.
REDIS_CMDS="$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" INFO commandstats | tr -d '\r' |
    awk -F'[:=,]' '/^cmdstat_(hset|hdel|multi|exec|pfadd|zadd|xadd|set|del)/ {
        sub(/^cmdstat_/, "", $1); printf "%s%s %s calls %.2f s", sep, $1, $3, $5 / 1e6; sep = "; " }')"
echo "redis commands: $REDIS_CMDS"
[ "$E2E_MSGS" = "$N" ] || echo "bench: note: kpistream consumed $E2E_MSGS messages, N=$N"
fi

# ---------------------------------------------------------------- 4. sketches, parser
if part sketch && [ -x "$BUILD/bench/bench_sketch" ]; then
    section "4. sketches (bench_sketch)"
    "$BUILD/bench/bench_sketch" | tee "$TMP/sketch.txt"
fi
if part sketch && [ -x "$BUILD/bench/bench_event" ]; then
    section "5. event parser micro-benchmark (bench_event, 1 s)"
    "$BUILD/bench/bench_event" 1 | tee "$TMP/event.txt"
fi

# ---------------------------------------------------------------- 6. churn-risk quality
touch "$TMP/risk.txt"
if part risk && [ -x "$BUILD/bench/bench_risk" ]; then
    section "6. churn-risk quality against the generator's labels (bench_risk, $RISK_C customers, $RISK_DAYS days)"
    "$BUILD/bench/bench_risk" --customers "$RISK_C" --days "$RISK_DAYS" | tee "$TMP/risk.txt" | grep -v '^RESULT'
fi

# ---------------------------------------------------------------- 7. restore
touch "$TMP/restore.txt"
if part restore; then
    [ -x "$BUILD/bench/bench_restore" ] || { echo "bench: $BUILD/bench/bench_restore not found" >&2; exit 1; }
    section "7. restore of one partition ($RESTORE_C customers, $RESTORE_DAYS days): engine replay measured, fetch measured on a sample"
    start_mock
    "$BUILD/bench/bench_restore" --customers "$RESTORE_C" --days "$RESTORE_DAYS" --clock "$RESTORE_CLOCK" \
        --brokers "$BROKERS" --topic bench-restore | tee "$TMP/restore.txt"
fi

# ---------------------------------------------------------------- summary
RAW="$(result "$TMP/kafka.txt" raw_eps)"
ENG="$(result "$TMP/engine.txt" engine_eps)"
CJ="$(result "$TMP/engine.txt" cjson_eps)"
PARSE="$(result "$TMP/engine.txt" parse_eps)"
MEMCHR="$(result "$TMP/engine.txt" memchr_eps)"
FLUSH="$(result "$TMP/engine.txt" flush_ms)"
ECUST="$(result "$TMP/engine.txt" customers)"
BPC="$(result "$TMP/memory.txt" mem_bytes_per_customer)"
RPC="$(result "$TMP/memory.txt" rss_bytes_per_customer)"
DPC="$(result "$TMP/memory.txt" mem_dedup_bytes_per_customer)"
RATIO="$(awk -v a="$E2E_EPS" -v b="$RAW" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "?" }')"
fmt() { # 1234567 -> 1,234,567
    local x="$1" out=""
    [ -n "$x" ] || { echo "?"; return; }
    while [ "${#x}" -gt 3 ]; do out=",${x: -3}$out"; x="${x:0:${#x}-3}"; done
    echo "$x$out"
}

section "summary (N=$N events, $ECUST customers; targets from the issue in brackets)"
printf '%-44s: %12s events/s\n' "raw librdkafka consume (baseline)" "$(fmt "$RAW")"
printf '%-44s: %12s events/s   [>= 1,000,000]\n' "kpistream engine (parse+update, 1 core)" "$(fmt "$ENG")"
printf '%-44s: %12s events/s\n' "  ks_event_parse alone (parse+validate)" "$(fmt "$PARSE")"
printf '%-44s: %12s events/s\n' "  stock cJSON parse+delete alone" "$(fmt "$CJ")"
printf '%-44s: %12s events/s\n' "  memchr scan of the bytes (floor)" "$(fmt "$MEMCHR")"
printf '%-44s: %12s ms (all %s customers dirty)\n' "first flush build (engine, no I/O)" "$FLUSH" "$ECUST"
printf '%-44s: %12s events/s   [>= 400,000]  (%s of raw; %s s, %s flushes, state %s MiB)\n' \
    "kpistream end-to-end to Redis" "$(fmt "$E2E_EPS")" "$RATIO" "$E2E_SECS" "$E2E_FLUSHES" "$E2E_MIB"
printf '%-44s: %s\n' "  end-to-end check" "$VERIFY"
printf '%-44s: %s\n' "  CPU seconds during that run" "$CPU_LINE"
printf '%-44s: %12s bytes (engine accounting), %s bytes (RSS)   [<= 256]\n' \
    "memory per customer @$MEMC" "$BPC" "$RPC"
printf '%-44s: %12s bytes of it in the event-id dedup set\n' "" "$DPC"
[ -s "$TMP/sketch.txt" ] && printf '%-44s: %s\n' "sketches" "see section 4"
if [ -s "$TMP/risk.txt" ]; then
    printf '%-44s: recall %s @cancel (medium+high %s), precision %s, median lead %s d   [>= 0.8 / 0.8]\n' \
        "churn risk: high flag vs labels" "$(result "$TMP/risk.txt" recall_high)" \
        "$(result "$TMP/risk.txt" recall_mh)" "$(result "$TMP/risk.txt" precision_high)" \
        "$(result "$TMP/risk.txt" lead_median_days)"
    printf '%-44s: %s alerts in the evaluation period, %s events/s through engine + sampling\n' \
        "" "$(result "$TMP/risk.txt" alerts_period)" "$(fmt "$(result "$TMP/risk.txt" events_per_s)")"
fi
if [ -s "$TMP/restore.txt" ]; then
    r() { result "$TMP/restore.txt" "$1"; }
    printf '%-44s: %12s s replay (measured: %s events, %s events/s, %s customers/s; state %s B/customer; checks %s)\n' \
        "restore $(fmt "$(r restore_customers)") customers, one partition" "$(r replay_s)" \
        "$(fmt "$(r restore_events)")" "$(fmt "$(r replay_eps)")" "$(fmt "$(r replay_cps)")" \
        "$(r restore_bytes_per_customer)" "$(r restore_checks)"
    printf '%-44s: %12s s fetch of %s MB (derived from a measured one-partition consume of %s MB/s) => restore %s-%s s (max-sum)\n' \
        "" "$(r fetch_s)" "$(r restore_mb)" "$(r fetch_mbps)" "$(r restore_low_s)" "$(r restore_high_s)"
fi
exit 0
