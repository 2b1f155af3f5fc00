"""linux.namespaces: the type table, and joining or creating them.

pid and time namespaces apply to children only, so the parent enters them
(unshare or setns) just around the fork of the init, then returns to its
own; the init itself enters the others.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

from ocirun import syscalls as sc
from ocirun.errors import OciError, os_error
from ocirun.sysops import REAL

FLAGS = {
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}
# /proc/PID/ns/<name> for each type.
PROC_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
              "user": "user", "cgroup": "cgroup", "time": "time"}
# The one order namespaces are entered in (runc's): user first, so that it
# owns what follows; mount after the others, as it moves the root; pid and
# time last: they take effect only for children forked after them.
ORDER = ("user", "ipc", "uts", "network", "cgroup", "mount", "pid", "time")
# Entered by the parent around the fork (they take effect for children).
FOR_CHILDREN = ("pid", "time")
# What the init enters itself: not user (userns.stage1 does), not FOR_CHILDREN.
INIT_ENTERS = tuple(t for t in ORDER if t != "user" and t not in FOR_CHILDREN)


class NamespaceSet:
    """What to do per namespace type: entries[type] is ('new', None, index,
    None) or ('join', fd, index, path), index that of linux.namespaces.
    ops: the system calls enter() makes (sysops.py)."""

    def __init__(self, namespaces, ops=REAL):
        self.ops = ops
        self.entries = {}
        for i, ns in enumerate(namespaces or ()):
            t = ns["type"]
            path = ns.get("path")
            if path:
                try:
                    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    self.close()
                    raise OciError(f"linux.namespaces[{i}].path: {os_error('open', e, path)}") from None
                self.entries[t] = ("join", fd, i, path)
                _check_type(fd, t, i, path, self)
            else:
                self.entries[t] = ("new", None, i, None)

    def has_new(self, t):
        e = self.entries.get(t)
        return e is not None and e[0] == "new"

    def has(self, t):
        return t in self.entries

    def enter(self, t):
        e = self.entries.get(t)
        if e is None:
            return
        kind, fd, i, path = e
        try:
            if kind == "join":
                self.ops.setns(fd, FLAGS[t])
            else:
                self.ops.unshare(FLAGS[t])
        except OSError as err:
            what = f"setns into {t} namespace {path}" if kind == "join" else f"unshare {t} namespace"
            raise OciError(f"linux.namespaces[{i}]: {os_error(what, err)}") from None

    def close(self):
        for kind, fd, _i, _p in self.entries.values():
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass


def late_pid_option(ns):
    """For a joined pid namespace: the proc mount option that shows it to an
    init not in it yet ("pidns=/proc/self/fd/N", N the init's copy of the join
    fd), or None (no joined pid namespace, or a kernel before 6.18 without the
    option: then the init is forked into it at once, as before).
    See initproc.enter_pid_late for why."""
    e = ns.entries.get("pid")
    if e is None or e[0] != "join" or not ns.has("mount"):
        return None  # without a mount namespace there is no pivot_root to wait for
    value = f"/proc/self/fd/{e[1]}"
    return f"pidns={value}" if ns.ops.proc_takes_pidns(value) else None


NS_GET_NSTYPE = 0xB703  # ioctl on an nsfs file: its CLONE_NEW* type


def _check_type(fd, t, i, path, ns):
    """`path` must be a namespace file of type `t`: setns() would otherwise
    fail later with a bare EINVAL."""
    import fcntl

    try:
        got = fcntl.ioctl(fd, NS_GET_NSTYPE)
    except OSError:
        got = None  # ENOTTY: not an nsfs file
    if got == FLAGS[t]:
        return
    from ocirun.errors import InvalidSpec

    ns.close()
    kind = next((k for k, v in FLAGS.items() if v == got), None)
    what = f"is a {kind} namespace, not {t}" if kind else "is not a namespace file"
    raise InvalidSpec(f"linux.namespaces[{i}].path", f"{path} {what}")


def own_ns_fd(t):
    return os.open(f"/proc/self/ns/{PROC_NAMES[t]}", os.O_RDONLY | os.O_CLOEXEC)
