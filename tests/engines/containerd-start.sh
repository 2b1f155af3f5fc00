#!/bin/bash
# Start a private containerd under BASE/containerd (config version 2, every
# path below BASE, CRI disabled), detached with setsid; its pid goes to
# BASE/containerd/pid and the socket is BASE/containerd/containerd.sock.
# Waits until the socket answers. Stop it with engines-stop.sh BASE.
set -euo pipefail

die() { echo "containerd-start: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: $0 BASE"
d=$(realpath -m "$1")/containerd
mkdir -p "$d"/{root,state}
sock=$d/containerd.sock

cat >"$d/config.toml" <<CONF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$sock"

[ttrpc]
  address = "$sock.ttrpc"

[debug]
  address = "$d/debug.sock"
CONF

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
