#!/bin/bash
# Undo containerd-start.sh / dockerd-start.sh / podman-setup.sh under BASE,
# for the PARTs named (docker, containerd, podman; default: all three, in
# that order): stop dockerd and containerd by their recorded pids (TERM,
# then KILL after 10 s), kill the shims containerd left (their shim.pid
# files), then unmount everything still mounted below BASE/PART, deepest
# first. Never looks processes up by name. Safe to run twice.
set -uo pipefail

[ $# -ge 1 ] || { echo "usage: $0 BASE [docker|containerd|podman]..." >&2; exit 2; }
base=$(realpath -m "$1")
shift
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(docker containerd podman)

stop_pid() { # FILE: TERM the pid it names, KILL it after 10 s
	local f=$1 pid
	[ -s "$f" ] || return 0
	pid=$(cat "$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 0
	kill -TERM "$pid" 2>/dev/null || { rm -f "$f"; return 0; }
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null && sleep 0.1
	rm -f "$f"
}

mounts_below() { # DIR: mount points at or below DIR, deepest first
	awk -v b="$1" '$5 == b || index($5, b "/") == 1 { print length($5) " " $5 }' /proc/self/mountinfo |
		sort -rn | cut -d' ' -f2-
}

unmount_below() { # DIR
	local m
	for _ in 1 2 3; do
		mapfile -t mnts < <(mounts_below "$1")
		[ ${#mnts[@]} -eq 0 ] && return 0
		for m in "${mnts[@]}"; do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
	done
	mapfile -t mnts < <(mounts_below "$1")
	[ ${#mnts[@]} -eq 0 ] && return 0
	printf 'engines-stop: still mounted: %s\n' "${mnts[@]}" >&2
	return 1
}

rc=0
for part in "${parts[@]}"; do
	case $part in
	docker)
		stop_pid "$base/docker/pid"
		;;
	containerd)
		stop_pid "$base/containerd/pid"
		# A shim outlives containerd while its task lives: its pid is on record.
		if [ -d "$base/containerd/state" ]; then
			while IFS= read -r -d '' f; do
				stop_pid "$f"
			done < <(find "$base/containerd/state" -name shim.pid -print0 2>/dev/null)
		fi
		;;
	podman) ;;
	*) echo "engines-stop: unknown part $part" >&2; exit 2 ;;
	esac
	unmount_below "$base/$part" || rc=1
done
exit $rc
