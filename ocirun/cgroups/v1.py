"""cgroup v1 ("legacy"), and "hybrid": v1 controllers plus a controller-less cgroup2 mount.

In hybrid mode the container also joins the cgroup2 hierarchy (runc does the
same), which gives us cgroup.kill and a second freezer.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import _signal as signal  # not `signal`: it loads enum

from . import freezer
from .base import Manager, controllers_of, try_read, unified_is_frozen, unified_kill, write_file
from .mounts import UNIFIED


def copy_cpuset(d):
    """New v1 cpuset cgroups start with empty cpus/mems, and joining one fails
    with ENOSPC: fill every empty level from its parent, top down."""
    chain = [d]
    while True:
        parent = os.path.dirname(chain[-1])
        if parent == chain[-1] or not os.path.exists(os.path.join(parent, "cpuset.cpus")):
            break  # walked above the cpuset mount
        chain.append(parent)
    chain.reverse()
    for parent, child in zip(chain, chain[1:]):
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (try_read(child, name) or "").strip():
                continue
            value = (try_read(parent, name) or "").strip()
            if value:
                write_file(child, name, value)


def is_frozen_v1(d):
    state = (try_read(d, "freezer.state") or "").strip()
    if state not in ("FROZEN", "FREEZING"):
        return False
    # Frozen only because a parent is: not paused by us (runc reads the same).
    return (try_read(d, "freezer.self_freezing") or "1").strip() != "0"


class V1Manager(Manager):
    mode = "legacy"  # or "hybrid"; load_manager/create_manager set it

    def _prepare(self, name, d):
        if "cpuset" in controllers_of(name):
            copy_cpuset(d)

    @property
    def unified(self):
        return self.paths.get(UNIFIED)

    def freeze(self):
        freezer.freeze(self.paths, self.mode)

    def thaw(self):
        freezer.thaw(self.paths, self.mode)

    def is_frozen(self):
        freezer = self.path("freezer")
        if freezer:
            return is_frozen_v1(freezer)
        return bool(self.unified) and unified_is_frozen(self.unified)

    def kill_all(self, sig=signal.SIGKILL):
        if sig == signal.SIGKILL and self.unified and unified_kill(self.unified):
            # The kill is queued; processes stopped by a freezer only die once thawed.
            if self.is_frozen() or unified_is_frozen(self.unified):
                self.thaw()
            return
        super().kill_all(sig)

    def set(self, resources):
        from .resources_v1 import apply

        return apply(self, resources or {})

    def preload(self):
        from . import devices, resources_v1  # noqa: F401

    def stats(self):
        """runc's events --stats object (stats.py)."""
        from .stats import stats_v1

        return stats_v1(self)
