#!/bin/bash
# Write a tarball of a fresh busybox rootfs (see mkrootfs.sh) to OUT.tar,
# e.g. for `podman import` / `docker import`. Entries are "./..." with
# numeric owners and sorted names so two runs give the same listing.
set -euo pipefail

die() { echo "mkrootfs-tar: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $0 OUT.tar"
out=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp" "$out.tmp.$$"' EXIT

bash "$here/mkrootfs.sh" "$tmp/rootfs"
# Write next to OUT then rename, so a failure never leaves a truncated file.
tar -C "$tmp/rootfs" --numeric-owner --sort=name -cf "$out.tmp.$$" .
mv -f -- "$out.tmp.$$" "$out"
