#!/usr/bin/env bash
# Issue 7 benchmark: a 20-service stack, berth beside docker-compose (Debian's
# package, on a local dockerd) in the same run, with the same stack file.
#
#   up -d      from nothing (the project is taken down before each run)
#   no-op up   `up -d` again with nothing changed
#   down       of 20 running services that exit on SIGTERM
#
# Targets: up -d <= 1/10 of docker-compose, no-op up <= 20 ms, down <= 0.3 s.
# Figures are medians; report ratios, the machine is shared.
#
# Usage: bench/stack.sh [SERVICES] [RUNS]   (root; installs docker.io,
#   docker-compose, hyperfine and busybox-static when missing)
set -euo pipefail
N=${1:-20}
RUNS=${2:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-/tmp/berth-bench-stack}
ANCHOR_DIR=${ANCHOR_DIR:-/tmp/anchors}
ANCHORS=${ANCHORS:-$HERE/../shared/tools/start-anchors.sh}
BERTH=${BERTH:-$HERE/target/release/berth}
ROOT=$WORK/berth-root
mkdir -p "$WORK"

need=()
for p in busybox-static docker.io containerd docker-compose hyperfine; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[ -x "$BERTH" ] || (cd "$HERE" && cargo build --release)

# dockerd, and bench/busybox:latest in docker (from $ANCHOR_DIR/busybox.tar).
# A socket left by a containerd that is gone would make the anchors script skip
# starting it.
pgrep -x containerd >/dev/null || rm -f /run/containerd/containerd.sock
ANCHOR_DIR=$ANCHOR_DIR bash "$ANCHORS" docker >/dev/null

# The same file for both engines: services that exit on SIGTERM (a shell as PID 1
# ignores it unless it traps it), on the project's default network.
STACK=$WORK/compose.yaml
{
  echo "services:"
  for i in $(seq 1 "$N"); do
    echo "  svc$i:"
    echo "    image: bench/busybox:latest"
    echo "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while :; do sleep 1 & wait; done\"]"
    echo "    environment: [INDEX=$i]"
  done
} >"$STACK"

rm -rf "$ROOT"
"$BERTH" --root "$ROOT" import -c 'CMD ["/bin/sh"]' "$ANCHOR_DIR/busybox.tar" bench/busybox >/dev/null

b="$BERTH --root $ROOT"
bup="$b up -d -p benchstack -f $STACK"
bdown="$b down -p benchstack -f $STACK"
dc="docker-compose -p benchstack -f $STACK"
cleanup() { $bdown >/dev/null 2>&1 || true; $dc down >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup

median() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(" ".join("%.1f" % (x["median"]*1000) for x in r))' "$1"; }
measure() { # NAME BERTH_CMD COMPOSE_CMD BERTH_PREPARE COMPOSE_PREPARE -> "berth_ms compose_ms"
  local out=$WORK/$1.json
  hyperfine -N --runs "$RUNS" --export-json "$out.b" --prepare "$4" -n "berth $1" "$2" >/dev/null
  hyperfine -N --runs 3 --export-json "$out.d" --prepare "$5" -n "docker-compose $1" "$3" >/dev/null
  echo "$(median "$out.b") $(median "$out.d")"
}
row() { # NAME BERTH_MS COMPOSE_MS TARGET
  python3 -c 'import sys
n,b,d,t=sys.argv[1],float(sys.argv[2]),float(sys.argv[3]),sys.argv[4]
print(f"{n:<12} berth {b:8.1f} ms   docker-compose {d:8.1f} ms   ratio {b/d:.3f}   (target {t})")' "$@"
}

echo "== $N services, medians (load: $(cut -d' ' -f1-3 /proc/loadavg)) =="
read -r bu du < <(measure up "$bup" "$dc up -d" "$bdown" "$dc down")
row "up -d" "$bu" "$du" "ratio <= 0.1"
$bup >/dev/null 2>&1; $dc up -d >/dev/null 2>&1
read -r bn dn < <(measure noop "$bup" "$dc up -d" "true" "true")
row "no-op up" "$bn" "$dn" "<= 20 ms"
read -r bd dd < <(measure down "$bdown" "$dc down" "$bup" "$dc up -d")
row "down" "$bd" "$dd" "<= 300 ms"
