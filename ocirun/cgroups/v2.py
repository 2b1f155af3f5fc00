"""cgroup v2: the pure unified layout (the cgroup2 freeze/kill helpers that hybrid
shares live in base.py)."""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import _signal as signal  # not `signal`: it loads enum

from ..errors import CgroupError
from . import freezer
from .base import Manager, try_read, unified_is_frozen, unified_kill, write_file


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
        freezer.freeze(self.paths, self.mode)

    def thaw(self):
        freezer.thaw(self.paths, self.mode)

    def is_frozen(self):
        return unified_is_frozen(self.dir)

    def kill_all(self, sig=signal.SIGKILL):
        if sig == signal.SIGKILL and unified_kill(self.dir):
            return
        super().kill_all(sig)

    def set(self, resources):
        """linux.resources, devices included (an eBPF filter, ebpf.py)."""
        from .resources_v2 import apply

        return apply(self.dir, resources or {})

    def preload(self):
        from . import ebpf, resources_v2  # noqa: F401

    def stats(self):
        """runc's events --stats object (stats.py)."""
        from .stats import stats_v2

        return stats_v2(self.dir)

