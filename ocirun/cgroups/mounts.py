"""Where the cgroup hierarchies are: parse /proc/self/mountinfo, never glob /sys.

A hierarchy is named by its controllers as the kernel lists them in the
mount options ("memory", "cpu,cpuacct", "name=systemd"); the cgroup2 one is
named "unified". Those names are also the keys of a manager's `paths`.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ..errors import CgroupError, os_error

DEFAULT_ROOT = "/sys/fs/cgroup"
UNIFIED = "unified"

# Mount options that are not controller names.
_NOT_CONTROLLERS = {"rw", "ro", "noprefix", "xattr", "clone_children", "cpuset_v2_mode", "favordynmods"}


class Hierarchy:
    __slots__ = ("name", "version", "mountpoint", "mount_root")

    def __init__(self, name, version, mountpoint, mount_root="/"):
        self.name = name
        self.version = version  # 1 or 2
        self.mountpoint = mountpoint
        self.mount_root = mount_root  # the hierarchy path seen at mountpoint

    def __repr__(self):
        return f"Hierarchy({self.name!r}, v{self.version}, {self.mountpoint!r}, root={self.mount_root!r})"


class Layout:
    """mode is "unified" (pure v2), "hybrid" (v1 plus a cgroup2 mount) or "legacy" (v1 only)."""

    def __init__(self, mode, root, hierarchies, from_mountinfo=True):
        self.mode = mode
        self.root = root
        self.hierarchies = hierarchies  # in mount order, cgroup2 last
        self.from_mountinfo = from_mountinfo

    def get(self, name):
        for h in self.hierarchies:
            if h.name == name:
                return h
        return None

    def __repr__(self):
        return f"Layout({self.mode!r}, {self.root!r}, {self.hierarchies!r})"


def unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mountinfo(text, root=DEFAULT_ROOT):
    """Cgroup hierarchies mounted at `root` or directly below it, first mount of each wins."""
    root = root.rstrip("/") or "/"
    found = {}
    for line in text.splitlines():
        if " - cgroup" not in line:
            continue
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        mount_root, mountpoint = unescape(fields[3]), unescape(fields[4])
        if mountpoint != root and os.path.dirname(mountpoint) != root:
            continue  # e.g. a container's /sys/fs/cgroup inside its rootfs
        if tail[0] == "cgroup2":
            name, version = UNIFIED, 2
        else:
            opts = tail[2].split(",")
            ctrls = [o for o in opts if o.startswith("name=") or ("=" not in o and o not in _NOT_CONTROLLERS)]
            if not ctrls:
                continue
            name, version = ",".join(ctrls), 1
        if name not in found:
            found[name] = Hierarchy(name, version, mountpoint, mount_root)
    return list(found.values())


def _mode(hierarchies, root):
    v2 = [h for h in hierarchies if h.version == 2]
    v1 = [h for h in hierarchies if h.version == 1]
    if v2 and v2[0].mountpoint == root:
        return "unified", v2
    if v1:
        # v1 first, cgroup2 last: that is the order create/apply/destroy use.
        return ("hybrid" if v2 else "legacy"), v1 + v2
    return None, []


def _from_directory(root):
    """Fallback for an injected root (tests): read the directory, not mountinfo."""
    if os.path.exists(os.path.join(root, "cgroup.controllers")):
        return [Hierarchy(UNIFIED, 2, root)]
    found = []
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    for name in names:
        d = os.path.join(root, name)
        if os.path.islink(d) or not os.path.isdir(d):
            continue
        if os.path.exists(os.path.join(d, "cgroup.controllers")):
            found.append(Hierarchy(UNIFIED, 2, d))
        elif os.path.exists(os.path.join(d, "cgroup.procs")):
            found.append(Hierarchy(name, 1, d))
    return found


def detect_layout(root=DEFAULT_ROOT, mountinfo="/proc/self/mountinfo"):
    """The Layout under `root`. Raises CgroupError when no cgroup filesystem is there."""
    root = os.path.normpath(root)
    try:
        with open(mountinfo) as f:
            text = f.read()
    except OSError as e:
        raise CgroupError(os_error("read", e, mountinfo), errno=e.errno, file=mountinfo) from None
    mode, hierarchies = _mode(parse_mountinfo(text, root), root)
    if mode:
        return Layout(mode, root, hierarchies)
    if root != DEFAULT_ROOT:
        mode, hierarchies = _mode(_from_directory(root), root)
        if mode:
            return Layout(mode, root, hierarchies, from_mountinfo=False)
    raise CgroupError(f"no cgroup filesystem is mounted at {root}")


def own_cgroups(path="/proc/self/cgroup"):
    """This process's cgroup per hierarchy name ("memory", "cpu,cpuacct", "unified")."""
    own = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split(":", 2)
                if len(parts) == 3:
                    own[parts[1] or UNIFIED] = parts[2]
    except OSError:
        pass
    return own


def own_for(own, name):
    """Look `name` up in own_cgroups() output; v1 controller order may differ."""
    if name in own:
        return own[name]
    want = set(name.split(","))
    for key, value in own.items():
        if set(key.split(",")) == want:
            return value
    return None
