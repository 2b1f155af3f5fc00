#!/bin/sh
# createRuntime hook: Docker's "bridge" network for one container.
#
#   bridge-up.sh [-b BRIDGE] [-g GATEWAY/PREFIX] [-a ADDRESS/PREFIX] [-i IFNAME]
#
# Reads the container state (JSON) on stdin. Creates BRIDGE (default ocirun0)
# with GATEWAY (default 10.88.77.1/24) if missing, plus a MASQUERADE rule for
# its subnet; adds a veth pair whose host end is a port of BRIDGE and whose
# other end is IFNAME (default eth0) in the container's network namespace,
# with ADDRESS (default: the annotation ocirun.net.address) and a default
# route via GATEWAY. It does not enable net.ipv4.ip_forward (a host-wide
# setting): do that yourself for traffic beyond the host.
# bridge-down.sh (poststop, same options) undoes it.
set -eu
lib=$(dirname "$0")/lib.sh
. "$lib"

bridge=ocirun0 gateway=10.88.77.1/24 address= ifname=eth0
while getopts b:g:a:i: opt; do
	case $opt in
	b) bridge=$OPTARG ;;
	g) gateway=$OPTARG ;;
	a) address=$OPTARG ;;
	i) ifname=$OPTARG ;;
	*) die "usage: $0 [-b BRIDGE] [-g GATEWAY/PREFIX] [-a ADDRESS/PREFIX] [-i IFNAME]" ;;
	esac
done
check_ifname "$bridge"
check_ifname "$ifname"

state=$(cat)
pid=$(json_get pid)
id=$(json_get id)
[ -n "$address" ] || address=$(json_get ocirun.net.address)
[ -n "$pid" ] && [ "$pid" != 0 ] || die "no container pid in the state on stdin"
[ -n "$address" ] || die "no address: pass -a ADDRESS/PREFIX or set the annotation ocirun.net.address"
veth=$(veth_name "$id")
in_ns() { nsenter --net="/proc/$pid/ns/net" "$@"; }

lock
if ! ip link show "$bridge" >/dev/null 2>&1; then
	ip link add "$bridge" type bridge
	ip addr add "$gateway" dev "$bridge"
	ip link set "$bridge" up
fi
subnet=$(bridge_subnet "$bridge")
[ -n "$subnet" ] || die "bridge $bridge has no IPv4 subnet"
nat_add "$subnet" "$bridge"

# The container end is made in its namespace directly: nothing named
# IFNAME ever appears on the host, and a taken name fails before any change.
ip link add "$veth" type veth peer name "$ifname" netns "$pid"
ip link set "$veth" master "$bridge" up
in_ns ip addr add "$address" dev "$ifname"
in_ns ip link set "$ifname" up
in_ns ip route add default via "${gateway%/*}" dev "$ifname"
