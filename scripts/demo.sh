#!/usr/bin/env bash
# The live demo behind `make demo`: everything on this machine, on loopback.
#
#   redis-server (free port)  <- kpistream run <- kpistream mock-broker <- kpistream gen --live
#          |                          |
#          |                  kpistream watch (this terminal)
#          +--> kpistream dashboard (browser: http://127.0.0.1:8080/, URL shown in the watch view)
#
# Ctrl-C stops it all: the EXIT trap stops every process this script started,
# by PID, newest first (generator before pipeline, pipeline before the broker
# and Redis, so the pipeline can flush and commit on its way out), and waits
# for each. Logs stay in .run/.
#
# Environment:
#   DEMO_SECONDS=N   stop by itself after N seconds, print one final summary and
#                    fail unless events reached Redis (a smoke check)
#   DEMO_RATE, DEMO_CUSTOMERS, DEMO_DAYS   generator settings (5000, 5000, 7: a week of
#                    history streams in about half a minute, then live events; keep
#                    DEMO_DAYS <= 29: older history would be rejected as too_old)
#   DEMO_DASHBOARD   listen address of the browser dashboard (default 127.0.0.1:8080;
#                    when 8080 is taken, a free loopback port)
#   KPISTREAM_BIN    binary to run (default build/kpistream)
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${KPISTREAM_BIN:-$ROOT/build/kpistream}
RUN=$ROOT/.run
RATE=${DEMO_RATE:-5000}
CUSTOMERS=${DEMO_CUSTOMERS:-5000}
DAYS=${DEMO_DAYS:-7}
TOPIC=customer-events

say() { printf 'demo: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

[ -x "$BIN" ] || die "$BIN not found: run 'make build' first"
command -v redis-server >/dev/null || die "redis-server not found: run 'make deps'"
mkdir -p "$RUN"

# ---------------------------------------------------------------- processes
PIDS=()   # started processes, in start order
NAMES=()
LOGS=()
WATCH_PID=""
STOPPING=0

# alive PID: running and not a zombie (our own exited children stay visible
# to kill -0 until reaped, so /proc is asked instead).
alive() {
  local st
  st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}

# start NAME LOG CMD...: runs CMD in the background with stdout+stderr to LOG.
start() {
  local name=$1 log=$2
  shift 2
  : >"$log"
  # Own session: a Ctrl-C on the terminal reaches only this script, which then
  # stops the components in order (redis-server would otherwise quit at once,
  # before the pipeline's last flush). setsid execs in place here (a background
  # job is no group leader), so $! is the component's PID.
  setsid "$@" >>"$log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
  LOGS+=("$log")
  say "started $name (pid $!), log $log"
}

# stop_pid PID: SIGTERM, up to 10 s to exit, then SIGKILL; reaps it.
stop_pid() {
  local pid=$1 i
  alive "$pid" || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 100; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then
    say "pid $pid ignored SIGTERM for 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

tail_log() {
  say "----- last lines of $2 ($1) -----"
  tail -n 25 "$2" >&2 2>/dev/null
  say "----- end of $2 -----"
}

cleanup() {
  local rc=$?
  set +e
  trap '' INT TERM
  STOPPING=1
  if [ -n "$WATCH_PID" ]; then
    stop_pid "$WATCH_PID"
    [ -t 1 ] && printf '\n'
  fi
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${PIDS[$i]}"
  done
  [ ${#PIDS[@]} -gt 0 ] && say "stopped everything; logs are in $RUN/"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM # asked to stop: a success; cleanup runs on EXIT

# ---------------------------------------------------------------- helpers
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  # Fallback: a random high port that nothing answers on.
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  return 1
}

redis_ping() { # PORT -> success when it answers PONG
  if command -v redis-cli >/dev/null; then
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
  else
    local line
    exec 3<>"/dev/tcp/127.0.0.1/$1" 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    read -r -t 1 line <&3 || line=""
    exec 3<&- 3>&-
    [ "${line%$'\r'}" = "+PONG" ]
  fi
}

redis_events() { # PORT -> events_processed or empty
  if command -v redis-cli >/dev/null; then
    redis-cli -h 127.0.0.1 -p "$1" hget kpi:meta events_processed 2>/dev/null
  fi
}

# ---------------------------------------------------------------- redis
REDIS_PORT=""
for attempt in 1 2 3 4 5; do
  port=$(free_port) || die "no free loopback port found"
  start redis "$RUN/redis.log" redis-server --port "$port" --bind 127.0.0.1 \
    --save "" --appendonly no --dir "$RUN" --daemonize no
  pid=${PIDS[-1]}
  for ((i = 0; i < 100; i++)); do
    if redis_ping "$port"; then REDIS_PORT=$port; break; fi
    alive "$pid" || break
    sleep 0.1
  done
  [ -n "$REDIS_PORT" ] && break
  if ! alive "$pid" && grep -q "Address already in use" "$RUN/redis.log"; then
    wait "$pid" 2>/dev/null || true
    unset 'PIDS[-1]' 'NAMES[-1]' 'LOGS[-1]'
    say "port $port was taken meanwhile; trying another"
    continue
  fi
  tail_log redis "$RUN/redis.log"
  die "redis-server did not come up on port $port"
done
[ -n "$REDIS_PORT" ] || die "could not start redis-server"
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

# ---------------------------------------------------------------- kafka
BOOTSTRAP_FILE=$RUN/bootstrap.txt
rm -f "$BOOTSTRAP_FILE"
start mock-broker "$RUN/mock-broker.log" "$BIN" mock-broker --bootstrap-file "$BOOTSTRAP_FILE" \
  --topic "$TOPIC:8" --topic "$TOPIC.dlq:1"
pid=${PIDS[-1]}
for ((i = 0; i < 200; i++)); do
  [ -s "$BOOTSTRAP_FILE" ] && break
  alive "$pid" || { tail_log mock-broker "$RUN/mock-broker.log"; die "mock-broker exited"; }
  sleep 0.05
done
[ -s "$BOOTSTRAP_FILE" ] || { tail_log mock-broker "$RUN/mock-broker.log"; die "mock-broker wrote no bootstrap file in 10 s"; }
BROKERS=$(head -n 1 "$BOOTSTRAP_FILE")

cat >"$RUN/demo.env" <<EOF
# written by scripts/demo.sh; valid while the demo runs
KPISTREAM_REDIS=$REDIS_URL
KPISTREAM_BROKERS=$BROKERS
EOF

# ---------------------------------------------------------------- pipeline + generator
# The metrics endpoint on its default port, or a free one when that is taken
# (another demo or pipeline on this machine).
METRICS=127.0.0.1:9464
(exec 3<>/dev/tcp/127.0.0.1/9464) 2>/dev/null && METRICS=127.0.0.1:$(free_port)
# fetch.wait.max.ms 100: the mock broker holds an empty Fetch for the whole
# wait (500 ms by default) even when events arrive meanwhile; Kafka does not.
start pipeline "$RUN/run.log" "$BIN" run --brokers "$BROKERS" --topics "$TOPIC" \
  --redis "$REDIS_URL" --clock wall --metrics-listen "$METRICS" --kafka.fetch.wait.max.ms 100
start generator "$RUN/gen.log" "$BIN" gen --live --rate "$RATE" --customers "$CUSTOMERS" \
  --days "$DAYS" --brokers "$BROKERS" --topic "$TOPIC" --labels "$RUN/labels.csv"

# ---------------------------------------------------------------- dashboard
DASH=${DEMO_DASHBOARD:-}
if [ -z "$DASH" ]; then
  DASH=127.0.0.1:8080
  (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null && DASH=127.0.0.1:$(free_port)
fi
start dashboard "$RUN/dashboard.log" "$BIN" dashboard --redis "$REDIS_URL" --listen "$DASH"
pid=${PIDS[-1]}
for ((i = 0; i < 100; i++)); do
  grep -q "serving http" "$RUN/dashboard.log" 2>/dev/null && break
  alive "$pid" || { tail_log dashboard "$RUN/dashboard.log"; die "dashboard exited"; }
  sleep 0.1
done
DASH_URL="http://$DASH/"

say "redis   $REDIS_URL   (redis-cli -p $REDIS_PORT)"
say "dashboard  $DASH_URL   (open it in a browser)"
say "metrics http://$METRICS/metrics"
say "kafka   $BROKERS   (kcat -b $BROKERS -C -t $TOPIC)"
say "logs    $RUN/{redis,mock-broker,run,gen,dashboard,watch}.log"

# ---------------------------------------------------------------- watch + supervision
# watch runs in the background on this terminal so that this shell can notice
# a component dying; Ctrl-C reaches this shell (background jobs of a script
# ignore SIGINT), whose EXIT trap stops watch and everything else.
if [ -n "${DEMO_SECONDS:-}" ] || [ ! -t 1 ]; then
  "$BIN" watch --redis "$REDIS_URL" --interval-ms 1000 --note "dashboard $DASH_URL" >"$RUN/watch.log" 2>&1 &
  WATCH_PID=$!
  say "watch output goes to $RUN/watch.log (not a terminal, or DEMO_SECONDS set)"
else
  "$BIN" watch --redis "$REDIS_URL" --interval-ms 1000 --note "dashboard $DASH_URL   (open it in a browser)" 2>"$RUN/watch.log" &
  WATCH_PID=$!
fi

start_s=$SECONDS
while :; do
  for ((i = 0; i < ${#PIDS[@]}; i++)); do
    pid=${PIDS[$i]}
    alive "$pid" && continue
    st=0
    wait "$pid" 2>/dev/null || st=$?
    name=${NAMES[$i]}
    if [ "$name" = generator ] && [ "$st" -eq 0 ]; then
      say "generator finished; pipeline keeps running"
      unset 'PIDS[i]' 'NAMES[i]' 'LOGS[i]'
      PIDS=("${PIDS[@]}") NAMES=("${NAMES[@]}") LOGS=("${LOGS[@]}")
      break
    fi
    stop_pid "$WATCH_PID"
    WATCH_PID=""
    [ -t 1 ] && printf '\n'
    tail_log "$name" "${LOGS[$i]}"
    die "$name (pid $pid) exited with status $st"
  done
  if ! alive "$WATCH_PID"; then
    st=0
    wait "$WATCH_PID" 2>/dev/null || st=$?
    WATCH_PID=""
    [ "$st" -eq 0 ] && exit 0
    tail_log watch "$RUN/watch.log"
    die "watch exited with status $st"
  fi
  if [ -n "${DEMO_SECONDS:-}" ] && ((SECONDS - start_s >= DEMO_SECONDS)); then
    stop_pid "$WATCH_PID"
    WATCH_PID=""
    "$BIN" watch --redis "$REDIS_URL" --once || true
    events=$(redis_events "$REDIS_PORT")
    if [ -z "$events" ] || [ "$events" = 0 ]; then
      tail_log pipeline "$RUN/run.log"
      tail_log generator "$RUN/gen.log"
      die "no events reached Redis in ${DEMO_SECONDS}s (events_processed='${events}')"
    fi
    say "smoke check ok: $events events processed in ${DEMO_SECONDS}s; dashboard was at $DASH_URL"
    exit 0
  fi
  sleep 0.5
done
