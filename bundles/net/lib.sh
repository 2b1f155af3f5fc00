# Shared by bridge-up.sh and bridge-down.sh (sourced, POSIX sh).
# Needs ip (iproute2), nsenter and flock (util-linux), and iptables or nft.

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

die() { echo "${0##*/}: $*" >&2; exit 1; }

# json_get KEY: the string or number value of "KEY" in the state on $state
# (flat values only: enough for id, pid, bundle and annotations).
json_get() {
	printf '%s' "$state" | sed -n "s/.*\"$1\":[[:space:]]*\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# The host end of a container's veth: a checksum of the id fits the 15-byte
# interface name limit whatever the id's length, and both hooks derive it.
veth_name() {
	printf 'ocv%s' "$(printf '%s' "$1" | cksum | cut -d' ' -f1)"
}

check_ifname() {
	case $1 in
	"" | *[!A-Za-z0-9_.-]* | . | ..) die "invalid interface name '$1'" ;;
	esac
	[ ${#1} -le 15 ] || die "interface name '$1' is longer than 15 bytes"
}

# One bridge change at a time, host-wide: an up must not add a port to a
# bridge a down is deleting. The lock is this file (nothing left behind).
lock() {
	exec 9<"$lib"
	command -v flock >/dev/null && flock 9
	return 0
}

# The bridge's subnet, from the route the kernel made for its address.
bridge_subnet() {
	ip -o -4 route show dev "$1" proto kernel scope link | { read -r net _ && echo "$net"; }
}

# MASQUERADE what leaves the subnet through any other interface: one rule per
# bridge, tagged "ocirun:BRIDGE" so it can be found again. nft first: the rules
# live in a table of our own ("ip ocirun"), deleted with the last rule, so
# nothing is left; iptables (which leaves its nat table behind) otherwise.
nat_add() { # SUBNET BRIDGE
	if command -v nft >/dev/null; then
		nft add table ip ocirun
		nft add chain ip ocirun postrouting '{ type nat hook postrouting priority srcnat ; }'
		nft list chain ip ocirun postrouting | grep -qF "\"ocirun:$2\"" ||
			nft add rule ip ocirun postrouting ip saddr "$1" oifname != "$2" masquerade \
				comment "\"ocirun:$2\""
	elif command -v iptables >/dev/null; then
		iptables -w -t nat -C POSTROUTING -s "$1" ! -o "$2" -m comment --comment "ocirun:$2" \
			-j MASQUERADE 2>/dev/null ||
			iptables -w -t nat -A POSTROUTING -s "$1" ! -o "$2" -m comment --comment "ocirun:$2" \
				-j MASQUERADE
	else
		die "neither nft nor iptables found"
	fi
}

# Both kinds are looked for: the rule may predate an nft install.
nat_del() { # BRIDGE
	if command -v nft >/dev/null && nft list table ip ocirun >/dev/null 2>&1; then
		nft -a list chain ip ocirun postrouting |
			sed -n "s/.*comment \"ocirun:$1\" # handle \([0-9]*\)\$/\1/p" |
			while read -r handle; do
				nft delete rule ip ocirun postrouting handle "$handle"
			done
		nft list chain ip ocirun postrouting | grep -q masquerade ||
			nft delete table ip ocirun
	fi
	if command -v iptables >/dev/null && iptables -w -t nat -S POSTROUTING 2>/dev/null | grep -qF "ocirun:$1"; then
		# The rules as -S prints them, -A turned into -D; the bridge name was
		# checked (no quotes or spaces), so eval only sees our own words.
		iptables -w -t nat -S POSTROUTING 2>/dev/null | grep -F -- "ocirun:$1" | grep -- '^-A ' |
			while read -r _ rule; do
				eval "iptables -w -t nat -D $rule"
			done
	fi
	return 0
}
