#!/usr/bin/env bash
# Issue 3 benchmark: `berth run --rm IMAGE true` against `docker run --rm` (dockerd
# from Debian's docker.io with its own data root), `runc run` on a prepared bundle
# and a bare `unshare` + `chroot`, all in the same run, on the same busybox rootfs.
# Target: berth median <= 15 ms and <= 1/10 of docker's.
# Needs root. Everything stays on this machine; no image is pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-50}
DIR=${BENCH_DIR:-/tmp/berth-bench}
mkdir -p "$DIR"

need=()
for p in busybox-static docker.io containerd runc hyperfine; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi

# The busybox rootfs every contender runs.
r="$DIR/rootfs"
if [ ! -x "$r/bin/busybox" ]; then
  rm -rf "$r"; mkdir -p "$r"/{bin,etc,tmp,proc,sys,dev,root}
  cp /bin/busybox "$r/bin/busybox"
  for c in $("$r/bin/busybox" --list); do [ "$c" = busybox ] || ln -sf busybox "$r/bin/$c"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"; printf 'root:x:0:\n' > "$r/etc/group"
fi
tar -C "$r" -cf "$DIR/busybox.tar" .

cargo build --release --quiet
B="$PWD/target/release/berth"; ROOT="$DIR/berth-root"
rm -rf "$ROOT"; "$B" --root "$ROOT" import "$DIR/busybox.tar" bench/busybox >/dev/null

# dockerd with its own data root, started only if none answers.
if ! docker info >/dev/null 2>&1; then
  [ -S /run/containerd/containerd.sock ] || { (setsid containerd >"$DIR/containerd.log" 2>&1 &); sleep 2; }
  (setsid dockerd --containerd=/run/containerd/containerd.sock --data-root /var/lib/docker-bench >"$DIR/dockerd.log" 2>&1 &)
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi
docker image inspect bench/busybox:latest >/dev/null 2>&1 || docker import "$DIR/busybox.tar" bench/busybox:latest >/dev/null

# runc on a prepared bundle (its default spec, no network namespace setup).
bundle="$DIR/bundle"; rm -rf "$bundle"; mkdir -p "$bundle"
(cd "$bundle" && runc spec && python3 - <<'PY'
import json
s = json.load(open("config.json"))
s["root"] = {"path": "../rootfs", "readonly": True}
s["process"]["terminal"] = False
s["process"]["args"] = ["true"]
json.dump(s, open("config.json", "w"))
PY
)

hyperfine -N --warmup 5 --runs "$RUNS" --export-json "$DIR/start.json" \
  -n berth "$B --root $ROOT run --rm bench/busybox true" \
  -n docker "docker run --rm --network none bench/busybox true" \
  -n runc "runc run --bundle $bundle bench-$$" \
  -n unshare-chroot "unshare --fork --pid --mount --uts --ipc --net chroot $r /bin/true" >/dev/null

python3 - "$DIR/start.json" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: v["median"] * 1000 for k, v in res.items()}
for k, v in med.items():
    print(f"{k:15s} median {v:7.1f} ms   (min {res[k]['min']*1000:6.1f}, max {res[k]['max']*1000:7.1f})")
print(f"berth / docker = 1/{med['docker'] / med['berth']:.1f}   berth / runc = {med['berth'] / med['runc']:.2f}")
PY
