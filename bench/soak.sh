#!/usr/bin/env bash
# Issue 8 soak: 1,000 cycles of run -d / exec / stop / rm beside a long-lived
# container, and 100 cycles of up -d / down of a 10-service stack. Afterwards
# nothing may be left (mounts, cgroups, veths, firewall rules, processes), the
# long-lived monitor has the same file descriptors, and the store has the same
# files. The checks are tests/soak.rs's, run here with the long counts on a
# release build; CI runs the same test with short counts.
#
# Usage: bench/soak.sh [CYCLES] [STACK_CYCLES]   (root; needs busybox-static)
set -euo pipefail
cd "$(dirname "$0")/.."
dpkg -s busybox-static >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq busybox-static >/dev/null; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
BERTH_SOAK_CYCLES=${1:-1000} BERTH_SOAK_STACK_CYCLES=${2:-100} \
  setsid cargo test --release --test soak -- --nocapture --test-threads=1 2>&1 |
  grep -E '^soak:|^test |test result'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
