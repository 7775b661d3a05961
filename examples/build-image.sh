#!/usr/bin/env bash
# Builds the image the example stacks use, berth-examples/busybox:latest, from the
# host's static busybox (Debian: apt-get install busybox-static), offline.
# Idempotent: an existing image is kept (pass --force to build it again).
#
# Usage: examples/build-image.sh [--force] [--berth PATH] [--root DIR]   (run as root)
# BERTH: --berth, else $BERTH, else `berth` on PATH, else target/{release,debug}/berth.
set -euo pipefail
IMAGE=berth-examples/busybox:latest
here=$(cd "$(dirname "$0")" && pwd)
force=0
root_args=()
berth=${BERTH:-}
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        --berth) berth=$2; shift ;;
        --root) root_args=(--root "$2"); shift ;;
        *) echo "usage: $0 [--force] [--berth PATH] [--root DIR]" >&2; exit 1 ;;
    esac
    shift
done
if [ -z "$berth" ]; then
    for candidate in "$(command -v berth || true)" "$here/../target/release/berth" "$here/../target/debug/berth"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then berth=$candidate; break; fi
    done
fi
[ -n "$berth" ] || { echo "no berth binary: cargo build --release, or pass --berth PATH" >&2; exit 1; }
busybox=$(command -v busybox || true)
[ -x /bin/busybox ] && busybox=/bin/busybox
[ -n "$busybox" ] || { echo "no busybox: apt-get install busybox-static" >&2; exit 1; }
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked' && ldd "$busybox" >/dev/null 2>&1; then
    echo "$busybox is dynamically linked: apt-get install busybox-static" >&2; exit 1
fi

if [ "$force" = 0 ] && [ -n "$("$berth" "${root_args[@]}" images -q "$IMAGE" 2>/dev/null)" ]; then
    echo "$IMAGE already exists (--force to build it again)"
    exit 0
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
r="$work/rootfs"
mkdir -p "$r"/{bin,etc,tmp,root,proc,sys,dev,srv/www,data}
cp "$busybox" "$r/bin/busybox"
for applet in $("$r/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$r/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$r/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$r/etc/group"
chmod 1777 "$r/tmp"
# Fixed owner and times, so building twice gives the same layer.
tar -C "$r" --owner=0 --group=0 --numeric-owner --mtime=@0 --sort=name -cf "$work/rootfs.tar" .
"$berth" "${root_args[@]}" import -c 'CMD ["sh"]' -m "busybox from the host" "$work/rootfs.tar" "$IMAGE"
