#!/bin/sh
# Docker's "container" network: start first/ (its own network, uts and ipc
# namespaces, sleeping), then run this bundle in those namespaces: the
# /proc/0/ns/... paths in config.json are filled in with the first
# container's pid, in a copy. The first container is deleted at the end.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
oci=${OCIRUN:-ocirun}
[ -x "$here/rootfs/bin/busybox" ] || bash "$here/../mkrootfs.sh" "$here/rootfs" >/dev/null
first=net-joined-first-$$
tmp=$(mktemp -d)
trap '"$oci" delete --force "$first" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$oci" run --detach --bundle "$here/first" "$first" </dev/null
pid=$("$oci" state "$first" | sed -n 's/.*"pid":[[:space:]]*\([0-9][0-9]*\).*/\1/p')
sed -e "s#/proc/0/ns/#/proc/$pid/ns/#" -e "s#\"path\": \"rootfs\"#\"path\": \"$here/rootfs\"#" \
	"$here/config.json" >"$tmp/config.json"
"$oci" run --bundle "$tmp" "net-joined-$$"
