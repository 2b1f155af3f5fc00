"""cgroup v2: the pure unified layout, plus the helpers hybrid uses on its cgroup2 mount."""
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import _signal as signal  # not `signal`: it loads enum
import time

from ..errors import CgroupError
from .base import Manager, try_read, write_file

FREEZE_TIMEOUT = 5.0


def events(d):
    """cgroup.events as a dict ({"populated": "1", "frozen": "0"})."""
    text = try_read(d, "cgroup.events") or ""
    return dict(line.split(None, 1) for line in text.splitlines() if " " in line)


def set_frozen(d, frozen, timeout=FREEZE_TIMEOUT):
    """Write cgroup.freeze and wait until cgroup.events reports the new state."""
    want = "1" if frozen else "0"
    write_file(d, "cgroup.freeze", want)
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        ev = events(d)
        if not ev and not os.path.isdir(d):
            raise CgroupError(f"cgroup {d} disappeared while {'freezing' if frozen else 'thawing'}")
        if ev.get("frozen", want).strip() == want:
            return
        if time.monotonic() >= deadline:
            if frozen:
                # Never leave a half-frozen container behind.
                try:
                    write_file(d, "cgroup.freeze", "0")
                except CgroupError:
                    pass
                raise CgroupError(f"unable to freeze {d}: cgroup.events still says frozen 0 after {timeout:g}s")
            raise CgroupError(f"unable to thaw {d}: cgroup.events still says frozen 1 (is a parent frozen?)")
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def is_frozen(d):
    # cgroup.freeze holds what was asked for this cgroup (runc reads the same);
    # a cgroup frozen only through a parent is not "paused" by us.
    text = try_read(d, "cgroup.freeze")
    return bool(text) and text.strip() == "1"


def kill(d):
    """SIGKILL everything in `d` and below through cgroup.kill. False if the kernel lacks it."""
    try:
        write_file(d, "cgroup.kill", "1")
    except CgroupError as e:
        if getattr(e, "errno", None) in (errno.ENOENT, errno.EACCES, errno.EPERM):
            return False  # kernel < 5.14
        raise
    return True


def enable_controllers(mountpoint, d):
    """Enable every available controller in each ancestor's cgroup.subtree_control.

    config-linux.md#unified: the runtime MUST make sure the controllers are
    enabled. Failures are left for the resource writes to report, with a
    clearer message (a busy parent with processes cannot delegate).
    """
    rel = os.path.relpath(d, mountpoint)
    if rel == "." or rel.startswith(".."):
        return
    cur = mountpoint
    for part in rel.split("/"):
        avail = (try_read(cur, "cgroup.controllers") or "").split()
        enabled = set((try_read(cur, "cgroup.subtree_control") or "").split())
        todo = [c for c in avail if c not in enabled]
        if todo:
            try:
                write_file(cur, "cgroup.subtree_control", " ".join("+" + c for c in todo))
            except CgroupError:
                for c in todo:  # one by one: enable what can be
                    try:
                        write_file(cur, "cgroup.subtree_control", "+" + c)
                    except CgroupError:
                        pass
        cur = os.path.join(cur, part)


class V2Manager(Manager):
    mode = "unified"

    @property
    def dir(self):
        return next(iter(self.paths.values()))

    def _prepare(self, name, d):
        enable_controllers(self.root, d)

    def freeze(self):
        set_frozen(self.dir, True)

    def thaw(self):
        set_frozen(self.dir, False)

    def is_frozen(self):
        return is_frozen(self.dir)

    def kill_all(self, sig=signal.SIGKILL):
        if sig == signal.SIGKILL and kill(self.dir):
            return
        super().kill_all(sig)

    def set(self, resources):
        """linux.resources, devices included (an eBPF filter, ebpf.py)."""
        from .resources_v2 import apply

        return apply(self.dir, resources or {})

    def stats(self):
        """runc's events --stats object (stats.py)."""
        from .stats import stats_v2

        return stats_v2(self.dir)

