#!/usr/bin/env bash
# Issue 5 benchmarks: monitor memory (PSS) with 20 running containers, `ps -a` with
# 500 containers, and `logs` of a 100 MB log, with docker's shim and plain `cat`
# as anchors in the same run (and, for logs, the disk itself: the file read with
# O_DIRECT). Targets: PSS <= 800 kB per container, ps <= 50 ms, logs at disk
# speed. Needs root. BENCH_ONLY=logs runs only the logs part.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${BENCH_DIR:-/tmp/berth-bench-lifecycle}
mkdir -p "$DIR"
for p in busybox-static hyperfine; do dpkg -s "$p" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$p" >/dev/null; }; done
r="$DIR/rootfs"
if [ ! -x "$r/bin/busybox" ]; then
  rm -rf "$r"; mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev}
  cp /bin/busybox "$r/bin/busybox"
  for c in $("$r/bin/busybox" --list); do [ "$c" = busybox ] || ln -sf busybox "$r/bin/$c"; done
fi
tar -C "$r" -cf "$DIR/busybox.tar" .
cargo build --release --quiet
B="$PWD/target/release/berth"; ROOT="$DIR/root"
cleanup() { "$B" --root "$ROOT" rm -f $("$B" --root "$ROOT" ps -aq) >/dev/null 2>&1 || true; }
trap cleanup EXIT
rm -rf "$ROOT"; "$B" --root "$ROOT" import -c 'CMD ["sh"]' "$DIR/busybox.tar" bb >/dev/null

pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup"; }

if [ "${BENCH_ONLY:-}" != logs ]; then
echo "== monitor PSS, 20 running containers =="
for _ in $(seq 1 20); do "$B" --root "$ROOT" run -d bb sleep 600 >/dev/null; done
sleep 1
total=0; max=0
for id in $("$B" --root "$ROOT" ps -q --no-trunc); do
  m=$("$B" --root "$ROOT" inspect -f '{{.State.Pid}}' "$id"); m=$(awk '{print $4}' "/proc/$m/stat")
  k=$(pss "$m"); total=$((total + k)); [ "$k" -gt "$max" ] && max=$k
done
echo "berth monitor: mean $((total / 20)) kB, max $max kB (target <= 800 kB)"
if docker info >/dev/null 2>&1 && docker image inspect bench/busybox:latest >/dev/null 2>&1; then
  for _ in $(seq 1 20); do docker run -d --network none bench/busybox:latest sleep 600 >/dev/null; done
  sleep 1; t=0; n=0
  for p in $(pgrep -f containerd-shim); do t=$((t + $(pss "$p"))); n=$((n + 1)); done
  [ "$n" -gt 0 ] && echo "containerd-shim (anchor): mean $((t / n)) kB over $n shims"
  docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true
fi
cleanup

echo "== ps -a with 500 containers =="
for i in $(seq 1 500); do "$B" --root "$ROOT" create bb true >/dev/null; done
hyperfine -N --warmup 3 --runs 20 "$B --root $ROOT ps -a" --export-json "$DIR/ps.json" >/dev/null
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f'berth ps -a (500): median {r[\"median\"]*1000:.1f} ms (target <= 50 ms)')" "$DIR/ps.json"
cleanup
fi

echo "== logs of a 100 MB log =="
"$B" --root "$ROOT" run --name chatty bb sh -c 'yes "a line of container output, sixty-something bytes long......." | head -c 104857600' >/dev/null
id=$("$B" --root "$ROOT" inspect -f '{{.Id}}' chatty); log="$ROOT/containers/$id/$id-json.log"
echo "log file: $(( $(stat -c %s "$log") / 1048576 )) MiB of json-file"
# Warm: the log in the page cache. Cold: dropped before each run, read from disk.
# Timing on a shared machine is noisy: medians, with the load average printed.
logs_bench() { # name, extra hyperfine options...
  local name=$1; shift
  hyperfine -N "$@" --runs 15 -n "berth logs" "$B --root $ROOT logs chatty" -n "cat (disk speed)" "cat $log" \
    --export-json "$DIR/logs-$name.json" --output null >/dev/null
  python3 - "$DIR/logs-$name.json" "$name" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
print(f"{sys.argv[2]}: berth logs {r['berth logs']*1000:.0f} ms   cat {r['cat (disk speed)']*1000:.0f} ms   ratio {r['berth logs']/r['cat (disk speed)']:.2f}x")
PY
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
logs_bench warm --warmup 1
logs_bench cold --prepare 'sh -c "sync; echo 3 > /proc/sys/vm/drop_caches"'
# The disk itself: the same file read with O_DIRECT, past the page cache.
hyperfine -N --warmup 1 --runs 5 -n disk "dd if=$log of=/dev/null bs=4M iflag=direct" \
  --export-json "$DIR/logs-disk.json" --output null >/dev/null
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f'disk (O_DIRECT read of the log): {r[\"median\"]*1000:.0f} ms')" "$DIR/logs-disk.json"
if docker info >/dev/null 2>&1 && docker image inspect bench/busybox:latest >/dev/null 2>&1; then
  docker rm -f chatty >/dev/null 2>&1 || true
  docker run --name chatty bench/busybox:latest sh -c 'yes "a line of container output, sixty-something bytes long......." | head -c 104857600' >/dev/null
  hyperfine -N --warmup 1 --runs 5 -n "docker logs" "docker logs chatty" --export-json "$DIR/logs-docker.json" --output null >/dev/null
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f'docker logs (anchor, warm): {r[\"median\"]*1000:.0f} ms')" "$DIR/logs-docker.json"
  docker rm -f chatty >/dev/null
fi
