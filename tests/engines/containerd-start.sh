#!/bin/bash
# Start a private containerd under BASE/containerd (config version 2, every
# path below BASE, CRI disabled), detached with setsid; its pid goes to
# BASE/containerd/pid and the socket is BASE/containerd/containerd.sock.
# Waits until the socket answers. Stop it with engines-stop.sh BASE.
#
# --cri OCIRUN enables the CRI plugin (what the kubelet talks to, on the same
# socket) with runtime handlers "ocirun" (OCIRUN) and "runc", both through
# the runc.v2 shim with their own state roots; the sandbox image
# localhost/ocirun-pause:1 (import one made by cri-image.sh into namespace
# k8s.io); CNI from /usr/lib/cni with a bridge + host-local network on bridge
# ocirun-cri0, 10.88.212.0/24 (addresses kept under BASE); no oomScoreAdj
# beyond the caller's (restrict_oom_score_adj: no CAP_SYS_RESOURCE here);
# network namespaces under BASE, not /var/run/netns.
set -euo pipefail

die() { echo "containerd-start: $*" >&2; exit 1; }
[ $# -eq 1 ] || [ $# -eq 3 ] && [ "${2:---cri}" = --cri ] || die "usage: $0 BASE [--cri OCIRUN]"
d=$(realpath -m "$1")/containerd
ocirun=${3:-}
mkdir -p "$d"/{root,state}
sock=$d/containerd.sock
disabled='disabled_plugins = ["io.containerd.grpc.v1.cri"]'
[ -z "$ocirun" ] || disabled=

cat >"$d/config.toml" <<CONF
version = 2
root = "$d/root"
state = "$d/state"
$disabled

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  address = "$d/debug.sock"
CONF

if [ -n "$ocirun" ]; then
	[ -x "$ocirun" ] || die "$ocirun is not executable"
	runc=$(command -v runc) || die "runc not installed"
	mkdir -p "$d/cni/conf" "$d/cni/ipam"
	cri='plugins."io.containerd.grpc.v1.cri"'
	cat >>"$d/config.toml" <<CONF

[$cri]
  sandbox_image = "localhost/ocirun-pause:1"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [$cri.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "ocirun"
    [$cri.containerd.runtimes.ocirun]
      runtime_type = "io.containerd.runc.v2"
      [$cri.containerd.runtimes.ocirun.options]
        BinaryName = "$ocirun"
        Root = "$d/ocirun-root"
    [$cri.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [$cri.containerd.runtimes.runc.options]
        BinaryName = "$runc"
        Root = "$d/runc-root"
  [$cri.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni/conf"
CONF
	cat >"$d/cni/conf/10-ocirun-cri.conflist" <<CONF
{
  "cniVersion": "0.4.0",
  "name": "ocirun-cri",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "ocirun-cri0",
      "isGateway": true,
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "$d/cni/ipam",
        "ranges": [[{"subnet": "10.88.212.0/24"}]]
      }
    }
  ]
}
CONF
fi

if [ -s "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then
	die "already running (pid $(cat "$d/pid"))"
fi
setsid containerd --config "$d/config.toml" </dev/null >"$d/log" 2>&1 &
echo $! >"$d/pid"
for _ in $(seq 300); do
	if ctr --address "$sock" version >/dev/null 2>&1; then
		echo "$sock"
		exit 0
	fi
	kill -0 "$(cat "$d/pid")" 2>/dev/null || { tail -n 20 "$d/log" >&2; die "containerd exited"; }
	sleep 0.05
done
tail -n 20 "$d/log" >&2
die "containerd did not answer on $sock"
