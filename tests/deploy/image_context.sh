#!/usr/bin/env bash
# The container image's build stage (deploy/Dockerfile) without Docker: copies
# exactly what the stage COPYs into an empty directory, runs the stage's build
# command there (the profile-guided build, strip, `kpistream version`), and checks
# that what the runtime stage copies from the repository exists. A build that
# needs a file the image does not get fails here, not in `docker build`
# (it did: CMakeLists.txt added tools/, which the image leaves out).
#
#   bash tests/deploy/image_context.sh [REPO_ROOT]
set -euo pipefail
ROOT="$(cd "${1:-$(dirname "$0")/../..}" && pwd)"
DF="$ROOT/deploy/Dockerfile"
CTX="$(mktemp -d)"
trap 'rm -rf "$CTX"' EXIT

# Stage n of the Dockerfile: its lines from its FROM up to the next FROM.
stage() { awk -v n="$1" '/^FROM /{k++} k==n' "$DF"; }

# COPY lines without --from: sources (relative to the context) then the
# destination (relative to WORKDIR, which the copy directory stands for).
copies() { stage "$1" | awk '/^COPY / && !/--from/ { $1 = ""; print }'; }

ncopy=0
while read -r line; do
    read -r -a args <<<"$line"
    dest="${args[${#args[@]}-1]}"
    for src in "${args[@]:0:${#args[@]}-1}"; do
        [ -e "$ROOT/$src" ] || { echo "FAIL: the build stage copies $src, which the repository lacks" >&2; exit 1; }
        mkdir -p "$CTX/$dest"
        if [ -d "$ROOT/$src" ]; then
            cp -r "$ROOT/$src/." "$CTX/$dest/"
        else
            cp "$ROOT/$src" "$CTX/$dest/"
        fi
        ncopy=$((ncopy + 1))
    done
done < <(copies 1)
[ "$ncopy" -gt 0 ] || { echo "FAIL: no COPY found in the build stage of $DF" >&2; exit 1; }

# The stage's build command: its last RUN (the first installs packages),
# continuation lines joined.
cmd="$(stage 1 | awk '/^RUN / { on = 1; line = "" }
                      on { l = $0; sub(/\\$/, "", l); line = line " " l; if ($0 !~ /\\$/) { on = 0; last = line } }
                      END { sub(/^ *RUN /, "", last); print last }')"
case "$cmd" in *cmake*|*build-pgo.sh*) ;; *) echo "FAIL: the build stage's last RUN builds nothing: $cmd" >&2; exit 1 ;; esac
echo "context: $(cd "$CTX" && ls | tr '\n' ' ')"
echo "build: $cmd"
(cd "$CTX" && bash -c "$cmd")
[ -x "$CTX/build/kpistream" ] || { echo "FAIL: the build stage made no build/kpistream" >&2; exit 1; }

# The runtime stage's copies from the repository (the configuration).
while read -r line; do
    read -r -a args <<<"$line"
    for src in "${args[@]:0:${#args[@]}-1}"; do
        [ -e "$ROOT/$src" ] || { echo "FAIL: the runtime stage copies $src, which the repository lacks" >&2; exit 1; }
    done
done < <(copies 2)
echo "PASS: the image's build stage builds kpistream from its own context"
