#!/usr/bin/env bash
# Installs the Debian packages kpistream needs to build, test and run the demo,
# but only those missing, so a second run is instant. Needs root (or sudo) only
# when something is missing.
#
#   bash scripts/deps.sh          what `make build`, `make test`, `make fuzz` and `make demo` need
#                                 (clang + libclang-rt-dev: libFuzzer and the sanitizer
#                                 runtimes, only recommended by clang, so named here;
#                                 chromium + fonts-dejavu-core: the dashboard's browser
#                                 test, tests/integration/test_dashboard_browser.c, with
#                                 a font for its screenshot, only recommended by chromium)
#   bash scripts/deps.sh bench    also the Python consumer of bench/run.sh's catch-up part
#                                 and valgrind for its instruction count of the engine
#                                 (bench/engine_instructions.sh); run.sh asks for them when
#                                 those parts run; `make test` never installs or checks these
set -euo pipefail
pkgs=(build-essential cmake pkg-config librdkafka-dev libcjson-dev libhiredis-dev libjemalloc-dev
      libmicrohttpd-dev libcriterion-dev redis-server redis-tools kcat python3 prometheus
      clang libclang-rt-dev chromium fonts-dejavu-core)
if [ "${1:-}" = bench ]; then
  pkgs+=(python3-confluent-kafka python3-redis valgrind)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The redis-server package starts a system instance on :6379, and prometheus
# (promtool and the server for tests/integration/test_metrics_prometheus.c) one
# on :9090; kpistream's demo and tests start their own on free ports and never
# need them.
