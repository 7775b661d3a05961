#!/usr/bin/env bash
# Issue 6 benchmark: bridge networking and published ports, berth beside docker
# in the same run, on this machine only.
#
#  (a) `run --rm busybox true`, median of hyperfine runs, on a bridge network and
#      with --network none: what attaching a container to a bridge costs a start.
#  (b) iperf3 TCP throughput from the host to an iperf3 server in a container:
#      direct to the container's IP, and through a published port (via
#      127.0.0.1, and via the host's own address on its default route).
#
# The iperf3 image is built from the host's own /usr/bin/iperf3 and the
# libraries it links (as bench/pull.sh builds its layer from host libraries),
# imported into both engines.
#
# berth's bridge rows need bridge networking (the net branch); without it they
# print "n/a" and the rest still runs.
#
# Usage: bench/network.sh [RUNS]   (root; needs docker.io, hyperfine, iperf3, busybox-static)
#   IPERF_SECONDS (default 5) per measurement, IPERF_RUNS (default 3) measurements per path.
set -euo pipefail
RUNS=${1:-30}
SECS=${IPERF_SECONDS:-5}
IRUNS=${IPERF_RUNS:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-/tmp/berth-bench-net}
ANCHOR_DIR=${ANCHOR_DIR:-/tmp/anchors}
ANCHORS=${ANCHORS:-$HERE/../shared/tools/start-anchors.sh}
BERTH=${BERTH:-$HERE/target/release/berth}
ROOT=$WORK/berth-root
mkdir -p "$WORK"

need=()
for p in busybox-static docker.io containerd hyperfine iperf3; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
[ -x "$BERTH" ] || (cd "$HERE" && cargo build --release)

# dockerd and bench/busybox:latest (from $ANCHOR_DIR/busybox.tar).
ANCHOR_DIR=$ANCHOR_DIR bash "$ANCHORS" docker >/dev/null

# The iperf3 image: the binary, its libraries and the loader, plus /tmp (iperf3
# -s makes a temp file there) and a passwd.
if [ ! -f "$WORK/iperf3.tar" ]; then
  r="$WORK/iperf3-rootfs"; rm -rf "$r"; mkdir -p "$r"/{tmp,etc,proc,sys,dev}
  chmod 1777 "$r/tmp"
  for f in /usr/bin/iperf3 $(ldd /usr/bin/iperf3 | grep -o '/[^ ]*'); do cp -L --parents "$f" "$r"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  tar -C "$r" -cf "$WORK/iperf3.tar" .
fi
docker image inspect bench/iperf3:latest >/dev/null 2>&1 ||
  docker import -c 'CMD ["/usr/bin/iperf3", "-s"]' "$WORK/iperf3.tar" bench/iperf3:latest >/dev/null

rm -rf "$ROOT"
"$BERTH" --root "$ROOT" import "$ANCHOR_DIR/busybox.tar" bench/busybox >/dev/null
"$BERTH" --root "$ROOT" import -c 'CMD ["/usr/bin/iperf3", "-s"]' "$WORK/iperf3.tar" bench/iperf3 >/dev/null

b() { "$BERTH" --root "$ROOT" "$@"; }
cleanup() {
  docker rm -f bench-iperf3 >/dev/null 2>&1 || true
  b rm -f bench-iperf3 >/dev/null 2>&1 || true
}
trap 'cleanup; rm -rf "$ROOT"' EXIT

bridge=0
if b run --rm --network bridge bench/busybox true >/dev/null 2>&1; then bridge=1; fi
[ $bridge = 1 ] || echo "berth: no bridge networking in this build; berth's bridge rows are n/a"

# (a) start cost of a bridge network.
cmds=(
  -n "berth none" "$BERTH --root $ROOT run --rm --network none bench/busybox true"
  -n "docker none" "docker run --rm --network none bench/busybox true"
  -n "docker bridge" "docker run --rm --network bridge bench/busybox true"
)
[ $bridge = 1 ] && cmds+=(-n "berth bridge" "$BERTH --root $ROOT run --rm --network bridge bench/busybox true")
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/start.json" "${cmds[@]}" >/dev/null
python3 - "$WORK/start.json" <<'PY'
import json, sys
med = {r["command"]: r["median"] * 1000 for r in json.load(open(sys.argv[1]))["results"]}
print("(a) run --rm busybox true, median ms")
print(f"{'':10s} {'none':>8s} {'bridge':>8s} {'bridge cost':>12s}")
for engine in ("berth", "docker"):
    none, bridge = med.get(f"{engine} none"), med.get(f"{engine} bridge")
    cost = f"{bridge - none:+.1f}" if bridge is not None else "n/a"
    print(f"{engine:10s} {none:8.1f} {bridge if bridge is not None else float('nan'):8.1f} {cost:>12s}")
PY

# (b) iperf3 throughput.
host=$(ip -4 -o addr show dev "$(ip -4 route show default | awk '{print $5; exit}')" | awk '{print $4; exit}' | cut -d/ -f1)

# Gbit/s received, median of IPERF_RUNS runs of IPERF_SECONDS each.
throughput() {
  local addr=$1 port=$2 out=()
  for _ in $(seq 1 "$IRUNS"); do
    out+=("$(iperf3 -c "$addr" -p "$port" -t "$SECS" -J 2>/dev/null |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9)' 2>/dev/null || echo nan)")
  done
  printf '%s\n' "${out[@]}" | sort -g | awk '{v[NR]=$1} END {printf "%.2f\n", v[int((NR+1)/2)]}'
}

# Waits for the server, then measures the three paths: "direct lo host".
measure() {
  local ip=$1 port=$2
  for _ in $(seq 1 50); do iperf3 -c "$ip" -p 5201 -t 1 -J >/dev/null 2>&1 && break; sleep 0.2; done
  echo "$(throughput "$ip" 5201) $(throughput 127.0.0.1 "$port") $(throughput "$host" "$port")"
}

# The host's own loopback, for scale.
iperf3 -s -p 5299 >/dev/null 2>&1 &
srv=$!
sleep 0.5
loop=$(throughput 127.0.0.1 5299)
kill "$srv" 2>/dev/null || true

docker run -d --name bench-iperf3 -p 5201 bench/iperf3 >/dev/null
dport=$(docker port bench-iperf3 5201/tcp | head -1 | sed 's/.*://')
dip=$(docker inspect -f '{{.NetworkSettings.IPAddress}}' bench-iperf3)
read -r d_direct d_lo d_host <<<"$(measure "$dip" "$dport")"
docker rm -f bench-iperf3 >/dev/null

b_direct=n/a b_lo=n/a b_host=n/a
if [ $bridge = 1 ]; then
  b run -d --name bench-iperf3 --network bridge -p 5201 bench/iperf3 >/dev/null
  bport=$(b port bench-iperf3 5201/tcp | head -1 | sed 's/.*://')
  bip=$(b inspect -f '{{.NetworkSettings.IPAddress}}' bench-iperf3)
  read -r b_direct b_lo b_host <<<"$(measure "$bip" "$bport")"
  b rm -f bench-iperf3 >/dev/null
fi

echo
echo "(b) iperf3 TCP, host -> container, Gbit/s (median of $IRUNS x ${SECS}s; host loopback: $loop)"
printf '%-28s %10s %10s\n' "" berth docker
printf '%-28s %10s %10s\n' "direct to the container IP" "$b_direct" "$d_direct"
printf '%-28s %10s %10s\n' "published, via 127.0.0.1" "$b_lo" "$d_lo"
printf '%-28s %10s %10s\n' "published, via $host" "$b_host" "$d_host"
echo "(docker's 127.0.0.1 path goes through its userland proxy; berth's is DNAT, like its other paths)"
