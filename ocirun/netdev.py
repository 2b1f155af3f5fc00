"""linux.netDevices (config-linux.md#network-devices): move host interfaces
into the container's network namespace, over rtnetlink (no `ip` binary).

Per device, from the parent, after the init has entered its namespaces and
before any hook or the container process runs:
  1. look the device up on the host, and note its permanent global addresses
     (the kernel drops every address when a device changes namespace; MTU and
     MAC survive the move by themselves);
  2. refuse a name already taken in the container (unless it is a "%d"
     template, which the kernel numbers);
  3. one RTM_NEWLINK with IFLA_NET_NS_FD + IFLA_IFNAME: move and rename;
  4. in the container's namespace: put the addresses back, set the link up.
The device is never moved back: it goes when its namespace goes (the spec
forbids the runtime to manage it after the move).
"""
import errno
import os
import socket
import struct

from ocirun.errors import OciError, describe, os_error

# rtnetlink message types, flags and attributes (linux/rtnetlink.h, if_link.h, if_addr.h)
RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR, RTM_GETADDR = 20, 22
NLMSG_ERROR, NLMSG_DONE = 2, 3
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
NLM_F_DUMP_INTR = 0x10
IFLA_IFNAME, IFLA_NET_NS_FD = 3, 28
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS, IFA_RT_PRIORITY = 1, 2, 4, 8, 9
IFA_F_PERMANENT = 0x80
# ifa flags the kernel accepts on RTM_NEWADDR (the rest are state it reports):
# NODAD HOMEADDRESS MANAGETEMPADDR NOPREFIXROUTE MCAUTOJOIN STABLE_PRIVACY
IFA_SETTABLE = 0x02 | 0x10 | 0x100 | 0x200 | 0x400 | 0x800
RT_SCOPE_UNIVERSE = 0
IFF_UP = 0x1

NLMSGHDR = struct.Struct("=IHHII")   # len, type, flags, seq, pid
IFINFOMSG = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTATTR = struct.Struct("=HH")        # len, type


class Link:
    """One interface as RTM_NEWLINK reports it."""

    def __init__(self, index, flags, attrs):
        self.index = index
        self.flags = flags
        self.name = attrs.get(IFLA_IFNAME, b"").rstrip(b"\0").decode(errors="replace")


class Address:
    """One address as RTM_NEWADDR reports it; `attrs` are re-sent as they are."""

    def __init__(self, family, prefixlen, flags, scope, index, attrs):
        self.family, self.prefixlen, self.scope, self.index = family, prefixlen, scope, index
        # IFA_FLAGS (32 bits) supersedes the 8-bit ifa_flags when present
        self.flags = struct.unpack("=I", attrs[IFA_FLAGS])[0] if IFA_FLAGS in attrs else flags
        self.attrs = attrs

    def text(self):
        raw = self.attrs.get(IFA_LOCAL) or self.attrs.get(IFA_ADDRESS) or b""
        return f"{socket.inet_ntop(self.family, raw)}/{self.prefixlen}" if raw else "?"


class Netlink:
    """A NETLINK_ROUTE socket in the network namespace it was opened in."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self):
        self.sock.close()

    def request(self, mtype, flags, body):
        """Send one request; returns the reply messages [(type, payload)].
        A netlink error is raised as OSError(errno)."""
        self.seq += 1
        seq = self.seq
        self.sock.send(NLMSGHDR.pack(NLMSGHDR.size + len(body), mtype, NLM_F_REQUEST | flags, seq, 0) + body)
        out = []
        while True:
            data = self.sock.recv(1 << 16)
            off = 0
            while off + NLMSGHDR.size <= len(data):
                length, t, mflags, mseq, _pid = NLMSGHDR.unpack_from(data, off)
                if length < NLMSGHDR.size:
                    raise OSError(errno.EPROTO, "short netlink message")
                payload = data[off + NLMSGHDR.size:off + length]
                off += _align(length)
                if mseq != seq:
                    continue
                if t == NLMSG_ERROR:
                    code = struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(-code, describe(code))
                    return out  # the ACK
                if t == NLMSG_DONE:
                    if mflags & NLM_F_DUMP_INTR:
                        raise InterruptedError(errno.EINTR, "netlink dump interrupted")
                    return out
                out.append((t, payload))
                if not (flags & NLM_F_DUMP) and not (flags & NLM_F_ACK):
                    return out

    def dump(self, mtype, body):
        for _ in range(10):  # a dump interrupted by a concurrent change is retried
            try:
                return self.request(mtype, NLM_F_DUMP, body)
            except InterruptedError:
                continue
        return self.request(mtype, NLM_F_DUMP, body)

    # -- links ------------------------------------------------------------------

    def link(self, name):
        """The Link called `name`, or None."""
        try:
            msgs = self.request(RTM_GETLINK, 0, IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
                                + _attr(IFLA_IFNAME, name.encode() + b"\0"))
        except OSError as e:
            if e.errno in (errno.ENODEV, errno.ENOENT):
                return None
            raise
        return next((_parse_link(p) for t, p in msgs if t == RTM_NEWLINK), None)

    def links(self):
        return [_parse_link(p) for t, p in self.dump(RTM_GETLINK, IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0))
                if t == RTM_NEWLINK]

    def set_link(self, index, flags=0, change=0, *attrs):
        body = IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, flags, change) + b"".join(attrs)
        self.request(RTM_NEWLINK, NLM_F_ACK, body)

    # -- addresses --------------------------------------------------------------

    def addresses(self, index):
        out = []
        for t, p in self.dump(RTM_GETADDR, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)):
            if t != RTM_NEWADDR:
                continue
            family, plen, flags, scope, idx = IFADDRMSG.unpack_from(p)
            if idx == index:
                out.append(Address(family, plen, flags, scope, idx, _parse_attrs(p[IFADDRMSG.size:])))
        return out

    def add_address(self, index, a):
        attrs = [_attr(k, a.attrs[k]) for k in (IFA_LOCAL, IFA_ADDRESS, IFA_BROADCAST, IFA_RT_PRIORITY)
                 if k in a.attrs]
        flags = a.flags & IFA_SETTABLE
        attrs.append(_attr(IFA_FLAGS, struct.pack("=I", flags)))
        body = IFADDRMSG.pack(a.family, a.prefixlen, flags & 0xFF, a.scope, index) + b"".join(attrs)
        self.request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, body)


def _align(n):
    return (n + 3) & ~3


def _attr(t, value):
    n = RTATTR.size + len(value)
    return RTATTR.pack(n, t) + value + b"\0" * (_align(n) - n)


def _parse_attrs(data):
    attrs = {}
    off = 0
    while off + RTATTR.size <= len(data):
        n, t = RTATTR.unpack_from(data, off)
        if n < RTATTR.size:
            break
        attrs.setdefault(t & 0x3FFF, data[off + RTATTR.size:off + n])  # strip NLA_F_NESTED/NET_BYTEORDER
        off += _align(n)
    return attrs


def _parse_link(payload):
    _family, _type, index, flags, _change = IFINFOMSG.unpack_from(payload)
    return Link(index, flags, _parse_attrs(payload[IFINFOMSG.size:]))


def _in_netns(ns_fd, fn):
    """fn() with this thread in the network namespace ns_fd, then back."""
    from ocirun import syscalls as sc

    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(ns_fd, sc.CLONE_NEWNET)
        try:
            return fn()
        finally:
            sc.setns(own, sc.CLONE_NEWNET)
    finally:
        os.close(own)


def _field(host_name, sub=None):
    from ocirun.spec.validate import _key

    base = _key("linux.netDevices", host_name)
    return f"{base}.{sub}" if sub else base


def move_all(devices, pid):
    """Move each linux.netDevices entry {host name: {"name"?: new name}} into
    the network namespace of process `pid`, renamed, with its permanent global
    addresses, and up. Raises InvalidSpec naming linux.netDevices.<name> for a
    missing device or a name taken in the container, OciError otherwise."""
    if not devices:
        return
    from ocirun.errors import InvalidSpec

    try:
        ns_fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise _error("linux.netDevices", f"open /proc/{pid}/ns/net", e) from None
    host = inner = None
    try:
        host = Netlink()
        inner = _in_netns(ns_fd, Netlink)
        # Every device is checked before the first one moves.
        todo = []
        for host_name, dev in devices.items():
            new = (dev or {}).get("name") or host_name
            link = host.link(host_name)
            if link is None:
                raise InvalidSpec(_field(host_name), f"network device {host_name!r} does not exist on the host")
            if "%" not in new and inner.link(new) is not None:
                where = _field(host_name, "name") if (dev or {}).get("name") else _field(host_name)
                raise InvalidSpec(where, f"network device {new!r} already exists in the container's "
                                         "network namespace")
            todo.append((host_name, link, new))
        for host_name, link, new in todo:
            move(host, inner, ns_fd, host_name, link, new)
    finally:
        for s in (host, inner):
            if s is not None:
                s.close()
        os.close(ns_fd)


def move(host, inner, ns_fd, host_name, link, new):
    """Move `link` (seen through `host`) into ns_fd as `new`; `inner` is a
    socket in that namespace. Returns the Link as it is there."""
    keep = [a for a in host.addresses(link.index)
            if a.flags & IFA_F_PERMANENT and a.scope == RT_SCOPE_UNIVERSE]
    before = {ln.index for ln in inner.links()}
    try:
        host.set_link(link.index, 0, 0, _attr(IFLA_NET_NS_FD, struct.pack("=i", ns_fd)),
                      _attr(IFLA_IFNAME, new.encode() + b"\0"))
    except OSError as e:
        raise _error(_field(host_name), f"move {host_name} into the container as {new}", e) from None
    # The index survives the move unless it is taken there; a "%d" name is
    # only known afterwards: the moved link is the one that was not there.
    moved = [ln for ln in inner.links() if ln.index not in before]
    if len(moved) != 1:
        raise OciError(f"{_field(host_name)}: moved, but cannot find it in the container's network namespace")
    moved = moved[0]
    for a in keep:
        try:
            inner.add_address(moved.index, a)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise _error(_field(host_name), f"add address {a.text()} to {moved.name}", e) from None
    try:
        inner.set_link(moved.index, IFF_UP, IFF_UP)
    except OSError as e:
        raise _error(_field(host_name), f"set {moved.name} up", e) from None
    return moved


def _error(field, what, e):
    return OciError(f"{field}: {os_error(what, e)}")
