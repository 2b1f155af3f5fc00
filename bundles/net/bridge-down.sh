#!/bin/sh
# poststop hook: undo bridge-up.sh for one container (same options; only -b
# matters). Deletes the host end of its veth (the other end goes with it);
# once BRIDGE has no port left, deletes BRIDGE and its MASQUERADE rule.
# Safe to run twice or after a failed bridge-up.sh.
set -eu
lib=$(dirname "$0")/lib.sh
. "$lib"

bridge=ocirun0
while getopts b:g:a:i: opt; do
	case $opt in
	b) bridge=$OPTARG ;;
	g | a | i) ;;
	*) die "usage: $0 [-b BRIDGE]" ;;
	esac
done
check_ifname "$bridge"

state=$(cat)
id=$(json_get id)
[ -n "$id" ] || die "no container id in the state on stdin"
veth=$(veth_name "$id")

lock
ip link del "$veth" 2>/dev/null || true
if ! ip link show "$bridge" >/dev/null 2>&1; then
	nat_del "$bridge"
elif [ -z "$(ip -o link show master "$bridge")" ]; then
	nat_del "$bridge"
	ip link del "$bridge"
fi
