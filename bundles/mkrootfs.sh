#!/bin/bash
# Build a minimal busybox root filesystem in DIR (created if missing).
#
# Uses Debian's busybox-static (/bin/busybox, override with $BUSYBOX): the
# binary is copied (not linked) so the rootfs works without any host
# library, and every applet gets a relative symlink in bin/ so the rootfs
# stays valid wherever DIR is moved or bind-mounted. Safe to re-run: only
# missing or wrong pieces are (re)created.
set -euo pipefail

die() { echo "mkrootfs: $*" >&2; exit 1; }

[ $# -eq 1 ] && [ -n "$1" ] || die "usage: $0 DIR"
dir=$1
src=${BUSYBOX:-/bin/busybox}

[ -x "$src" ] || die "$src not found: install busybox-static (apt-get install busybox-static)"
# A dynamic busybox (Debian's 'busybox' package) would need the host's libc
# inside the container; ldd exits non-zero for static binaries.
if command -v ldd >/dev/null && ldd "$src" >/dev/null 2>&1; then
	die "$src is dynamically linked: install busybox-static (apt-get install busybox-static)"
fi

mkdir -p "$dir"
cd "$dir"
mkdir -p bin dev proc sys etc root var run tmp home/user
chmod 1777 tmp
chmod 700 root
chown 1000:1000 home/user 2>/dev/null || true

# Copy via a temp file and rename: never rewrite a binary that a running
# container may be executing (ETXTBSY), and never leave a half-written one.
if ! cmp -s "$src" bin/busybox; then
	cp "$src" bin/.busybox.tmp
	chmod 755 bin/.busybox.tmp
	mv -f bin/.busybox.tmp bin/busybox
fi

# Applets: only (re)create links that are missing or point elsewhere
# ([[ -ef ]] is a shell builtin), so a re-run costs almost nothing.
missing=()
for applet in $(bin/busybox --list); do
	[ "$applet" = busybox ] && continue
	[[ bin/$applet -ef bin/busybox && -L bin/$applet ]] && continue
	# A real directory in the way (symlinks and files perl unlinks itself).
	[[ -d bin/$applet && ! -L bin/$applet ]] && rm -rf -- "bin/$applet"
	missing+=("$applet")
done
if [ ${#missing[@]} -gt 0 ]; then
	# One `ln` process per applet takes most of a second; perl (essential on
	# Debian) makes them all in one process. Fall back to ln without it.
	if command -v perl >/dev/null; then
		perl -e 'chdir "bin" or die "bin: $!\n";
			for (@ARGV) { unlink $_; symlink("busybox", $_) or die "bin/$_: $!\n" }' \
			-- "${missing[@]}"
	else
		for applet in "${missing[@]}"; do
			ln -sfn busybox "bin/$applet"
		done
	fi
fi

# write_if_changed FILE MODE: content on stdin.
write_if_changed() {
	local content
	content=$(cat)
	if [ ! -f "$1" ] || [ "$(<"$1")" != "$content" ]; then
		if [ -n "$content" ]; then
			printf '%s\n' "$content" >"$1"
		else
			: >"$1"
		fi
	fi
	chmod "$2" "$1"
}

write_if_changed etc/passwd 644 <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD

write_if_changed etc/group 644 <<'GROUP'
root:x:0:
users:x:100:user
user:x:1000:
nobody:x:65534:
GROUP

write_if_changed etc/hostname 644 <<<"ocirun"
write_if_changed etc/resolv.conf 644 </dev/null
