#!/bin/sh
# Run this example bundle once (its rootfs is built on first use).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$here/rootfs/bin/busybox" ] || bash "$here/../mkrootfs.sh" "$here/rootfs" >/dev/null
exec "${OCIRUN:-ocirun}" run --bundle "$here" "${here##*/}-$$"
