#!/usr/bin/env bash
# Issue 2 benchmarks: `berth plan` on a generated 1,000-service stack (target: at
# most 50 ms) and `berth config` over every corpus file (target: at most 1 s in all).
# docker compose, when installed, runs the same inputs in the same run as the anchor.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null; }
cargo build --release --quiet
B=$PWD/target/release/berth
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
python3 bench/gen-stack.py 1000 > "$work/compose.yaml"

echo "== berth plan, 1,000 services (empty state) =="
hyperfine --warmup 3 --runs 20 -N --ignore-failure \
  "$B --root $work/root plan -f $work/compose.yaml" --export-json "$work/plan.json" >/dev/null
python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f'berth plan: median {r[\"median\"]*1000:.1f} ms (mean {r[\"mean\"]*1000:.1f} ms)')" "$work/plan.json"

anchor=""
if docker compose version >/dev/null 2>&1; then anchor="docker compose"; elif command -v docker-compose >/dev/null; then anchor="docker-compose"; fi
if [ -n "$anchor" ]; then
  hyperfine --warmup 1 --runs 5 -N --ignore-failure "$anchor -f $work/compose.yaml config -q" --export-json "$work/anchor.json" >/dev/null
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f'anchor ($0) config -q: median {r[\"median\"]*1000:.1f} ms')" "$work/anchor.json"
fi

echo "== berth config over every corpus file =="
corpus=${BERTH_CORPUS:-../shared/corpus}
mapfile -d '' files < <(find "$corpus" \( -name '*.yaml' -o -name '*.yml' \) -not -path '*/expected-*' -print0)
start=$(date +%s%N)
for f in "${files[@]}"; do (cd "$(dirname "$f")" && HOME=/root "$B" --root "$work/root" config -q -f "$f" >/dev/null 2>&1) || true; done
end=$(date +%s%N)
echo "berth config: ${#files[@]} files in $(( (end - start) / 1000000 )) ms total"
if [ -n "$anchor" ]; then
  start=$(date +%s%N)
  for f in "${files[@]}"; do (cd "$(dirname "$f")" && $anchor -f "$f" config -q >/dev/null 2>&1) || true; done
  end=$(date +%s%N)
  echo "anchor ($anchor) config: ${#files[@]} files in $(( (end - start) / 1000000 )) ms total"
fi
