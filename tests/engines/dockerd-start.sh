#!/bin/bash
# Start a private dockerd under BASE/docker with RUNTIME added as runtime
# NAME (default: the basename) and made the default runtime, both in its
# daemon.json (as README.md tells users), on the containerd that
# containerd-start.sh started under BASE. Its own data-root, exec-root,
# pidfile, socket and config; no networking, no iptables.
# Prints the socket (use DOCKER_HOST=unix://SOCK) once it answers; the pid is
# in BASE/docker/pid. Stop it with engines-stop.sh BASE.
set -euo pipefail

die() { echo "dockerd-start: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 BASE RUNTIME [NAME]"
base=$(realpath -m "$1")
rt=$2
name=${3:-$(basename "$rt")}
d=$base/docker
csock=$base/containerd/containerd.sock
[ -S "$csock" ] || die "no containerd socket at $csock (run containerd-start.sh $base first)"
command -v dockerd >/dev/null || die "dockerd not installed (apt-get install docker.io)"
docker=/usr/bin/docker
[ -x "$docker" ] || docker=$(command -v docker)
mkdir -p "$d"/{data,exec,config}
sock=$d/docker.sock
printf '{"runtimes": {"%s": {"path": "%s"}}, "default-runtime": "%s"}\n' "$name" "$rt" "$name" >"$d/daemon.json"

if [ -s "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then
	die "already running (pid $(cat "$d/pid"))"
fi
setsid dockerd --config-file "$d/daemon.json" --data-root "$d/data" --exec-root "$d/exec" \
	--pidfile "$d/dockerd.pid" -H "unix://$sock" --containerd "$csock" \
	--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
	--userland-proxy=false --storage-driver overlay2 \
	</dev/null >"$d/log" 2>&1 &
echo $! >"$d/pid"
for _ in $(seq 400); do
	if DOCKER_CONFIG=$d/config "$docker" -H "unix://$sock" version >/dev/null 2>&1; then
		echo "$sock"
		exit 0
	fi
	kill -0 "$(cat "$d/pid")" 2>/dev/null || { tail -n 20 "$d/log" >&2; die "dockerd exited"; }
	sleep 0.05
done
tail -n 20 "$d/log" >&2
die "dockerd did not answer on $sock"
