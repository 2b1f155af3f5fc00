#!/bin/sh
# Run this example bundle once: a veth pair ocnd0/ocnd0p is made on the host,
# ocnd0 (MTU 1400, 10.88.78.2/24) goes into the container as eth1, per
# linux.netDevices. When the container ends its network namespace goes, and
# the veth with it; ocnd0p is removed here in case it was not.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$here/rootfs/bin/busybox" ] || bash "$here/../mkrootfs.sh" "$here/rootfs" >/dev/null
ip link add ocnd0 type veth peer name ocnd0p
trap 'ip link del ocnd0p 2>/dev/null || true' EXIT
ip link set ocnd0 mtu 1400
ip addr add 10.88.78.2/24 dev ocnd0
"${OCIRUN:-ocirun}" run --bundle "$here" "net-netdevice-$$"
