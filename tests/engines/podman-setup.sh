#!/bin/bash
# Write a private podman configuration under BASE/podman for RUNTIME (an
# executable named `ocirun`, which podman's runtime_supports_json matches by
# basename) and print the environment that selects it, one VAR=value a line:
#   eval "$(tests/engines/podman-setup.sh /tmp/eng /path/to/ocirun | sed 's/^/export /')"
# Settings and why (README.md, "Engines"): no systemd
# (cgroupfs, file events), no CAP_SYS_RESOURCE (ulimits within the hard
# nofile limit), no network (netns none), storage apart from the host's.
set -euo pipefail

die() { echo "podman-setup: $*" >&2; exit 1; }
[ $# -ge 2 ] || die "usage: $0 BASE RUNTIME [NAME]"
base=$(realpath -m "$1")
rt=$2
name=${3:-$(basename "$rt")}
[ -x "$rt" ] || die "$rt is not executable"

d=$base/podman
mkdir -p "$d"/{graph,run,tmp,volumes}

cat >"$d/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$d/events.log"
lock_type = "file"
tmp_dir = "$d/tmp"
static_dir = "$d/graph/libpod"
volume_path = "$d/volumes"
runtime = "$name"
runtime_supports_json = ["crun", "runc", "kata", "krun", "$name"]
infra_image = "localhost/none"

[engine.runtimes]
$name = ["$rt"]
CONF

cat >"$d/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$d/run"
graphroot = "$d/graph"
CONF

echo "CONTAINERS_CONF=$d/containers.conf"
echo "CONTAINERS_STORAGE_CONF=$d/storage.conf"
echo "CONTAINERS_REGISTRIES_CONF=/dev/null"
