#!/usr/bin/env bash
# Builds the image the example stacks use, berth-examples/busybox:latest, from the
# host's static busybox (Debian: apt-get install busybox-static), offline.
# Usage: examples/make-image.sh [BERTH] [--root DIR]   (run as root)
set -euo pipefail
BERTH=${1:-$(dirname "$0")/../target/release/berth}
shift || true
[ -x /bin/busybox ] || { echo "no /bin/busybox: apt-get install busybox-static" >&2; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
r="$work/rootfs"
mkdir -p "$r"/{bin,etc,tmp,root,proc,sys,dev,srv/www,data}
cp /bin/busybox "$r/bin/busybox"
for applet in $("$r/bin/busybox" --list); do [ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
chmod 1777 "$r/tmp"
tar -C "$r" -cf "$work/rootfs.tar" .
"$BERTH" "$@" import -c 'CMD ["sh"]' -m "busybox from the host" "$work/rootfs.tar" berth-examples/busybox:latest
