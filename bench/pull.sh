#!/usr/bin/env bash
# berth pull vs docker pull (and podman pull when installed) of one big image
# from a loopback docker-registry, side by side in the same run.
#
# The image: one layer of ~200 MB unpacked (host shared libraries, which
# compress like a distro rootfs: ~90 MB gzip'd), imported into docker and
# pushed by docker, so the registry holds docker's own gzip layer.
#
# Usage: bench/pull.sh [RUNS]   (root; needs docker.io, docker-registry, hyperfine)
set -euo pipefail
RUNS=${1:-5}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=${BENCH_DIR:-/tmp/berth-bench-pull}
PORT=${BENCH_REGISTRY_PORT:-5055}
IMAGE=127.0.0.1:$PORT/bench/big:latest
BERTH=${BERTH:-$HERE/target/release/berth}
mkdir -p "$WORK"

need=()
for p in docker.io containerd docker-registry hyperfine; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null; fi
[ -x "$BERTH" ] || (cd "$HERE" && cargo build --release)

# dockerd with its own data root, unless one is running.
if ! docker info >/dev/null 2>&1; then
  [ -S /run/containerd/containerd.sock ] || { (setsid containerd >"$WORK/containerd.log" 2>&1 &); sleep 2; }
  (setsid dockerd --containerd=/run/containerd/containerd.sock --data-root /var/lib/docker-bench >"$WORK/dockerd.log" 2>&1 &)
  for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && break; sleep 1; done
fi

# A registry on loopback only, with its own storage.
if ! curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1; then
  mkdir -p "$WORK/registry"
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$WORK/registry/data" "$PORT" >"$WORK/registry/config.yml"
  (setsid docker-registry serve "$WORK/registry/config.yml" >"$WORK/registry/log" 2>&1 &)
  for _ in $(seq 1 20); do curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.5; done
fi

if ! curl -fs "http://127.0.0.1:$PORT/v2/bench/big/manifests/latest" -o /dev/null; then
  python3 - "$WORK/files" <<'PY'
import os, sys
# ~170 MB of shared libraries (they gzip to ~35%) and ~30 MB of already
# compressed files: ~200 MB unpacked, ~90 MB gzip'd, like a distro rootfs.
MB = 1 << 20
def pick(top, want, keep):
    out, total = [], 0
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            if os.path.islink(p) or not os.path.isfile(p) or not keep(f):
                continue
            size = os.path.getsize(p)
            if size > 20 * MB or total + size > want:
                continue
            out.append(p[1:]); total += size
    return out
libs = pick("/usr/lib/x86_64-linux-gnu", 170 * MB, lambda f: True)
packed = pick("/usr", 30 * MB, lambda f: f.endswith((".gz", ".xz", ".zst", ".png", ".jar", ".whl")))
open(sys.argv[1], "w").write("\n".join(sorted(set(libs + packed))) + "\n")
PY
  tar -C / -cf "$WORK/rootfs.tar" -T "$WORK/files"
  docker import "$WORK/rootfs.tar" "$IMAGE" >/dev/null
  docker push -q "$IMAGE" >/dev/null
  docker rmi -f "$IMAGE" >/dev/null
  rm -f "$WORK/rootfs.tar"
fi

blob=$(curl -fs -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  "http://127.0.0.1:$PORT/v2/bench/big/manifests/latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
curl -fs "http://127.0.0.1:$PORT/v2/bench/big/blobs/$blob" -o "$WORK/layer.gz"
echo "layer: $(du -m "$WORK/layer.gz" | cut -f1) MB compressed, $(gzip -dc "$WORK/layer.gz" | wc -c | awk '{print int($1/1048576)}') MB unpacked"

cmds=(
  -n "berth pull" --prepare "rm -rf $WORK/berth-root; sync" "$BERTH --root $WORK/berth-root pull -q $IMAGE"
  -n "docker pull" --prepare "docker rmi -f $IMAGE >/dev/null 2>&1 || true; sync" "docker pull -q $IMAGE"
  -n "gzip -d of the layer" --prepare "sync" "gzip -dc $WORK/layer.gz >/dev/null"
)
if command -v podman >/dev/null; then
  cmds+=(-n "podman pull" --prepare "podman rmi -f $IMAGE >/dev/null 2>&1 || true; sync" "podman pull -q --tls-verify=false $IMAGE")
fi
hyperfine --runs "$RUNS" --export-json "$WORK/pull.json" "${cmds[@]}"
python3 - "$WORK/pull.json" <<'PY'
import json, sys
r = {x["command"]: x["median"] for x in json.load(open(sys.argv[1]))["results"]}
b, d = r["berth pull"], r["docker pull"]
print(f"median: berth {b:.3f} s, docker {d:.3f} s -> berth takes {b/d:.2f} of docker's time (target <= 0.33)")
PY
rm -rf "$WORK/berth-root"
