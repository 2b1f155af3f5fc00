#!/bin/bash
# Write an OCI image archive for `ctr -n k8s.io images import` to OUT.tar:
# the busybox rootfs (bundles/mkrootfs-tar.sh) as its one layer, a command
# that sleeps forever, and the name NAME (e.g. localhost/ocirun-pause:1). It
# serves as the CRI plugin's sandbox ("pause") image and as the image of the
# test containers (which give their own command): no registry needed.
set -euo pipefail

die() { echo "cri-image: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: $0 OUT.tar NAME"
out=$(realpath -m "$1")
name=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
w=$(mktemp -d)
trap 'rm -rf -- "$w"' EXIT
mkdir -p "$w/blobs/sha256"

blob() { # FILE: move it into blobs/ under its digest; print "DIGEST SIZE"
	local sum size
	sum=$(sha256sum <"$1" | cut -d' ' -f1)
	size=$(stat -c %s "$1")
	mv -f -- "$1" "$w/blobs/sha256/$sum"
	echo "sha256:$sum $size"
}

bash "$here/../../bundles/mkrootfs-tar.sh" "$w/layer"
read -r layer layer_size < <(blob "$w/layer")
arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
printf '{"architecture":"%s","os":"linux","config":{"Cmd":["sleep","2147483647"],"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["%s"]}}' \
	"$arch" "$layer" >"$w/config"
read -r config config_size < <(blob "$w/config")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%s}]}' \
	"$config" "$config_size" "$layer" "$layer_size" >"$w/manifest"
read -r manifest manifest_size < <(blob "$w/manifest")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
	"$manifest" "$manifest_size" "$name" "${name##*:}" >"$w/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
tar -C "$w" --numeric-owner --sort=name -cf "$out.tmp.$$" oci-layout index.json blobs
mv -f -- "$out.tmp.$$" "$out"
