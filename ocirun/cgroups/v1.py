"""cgroup v1 ("legacy"), and "hybrid": v1 controllers plus a controller-less cgroup2 mount.

In hybrid mode the container also joins the cgroup2 hierarchy (runc does the
same), which gives us cgroup.kill and a second freezer.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import _signal as signal  # not `signal`: it loads enum
import time

from ..errors import CgroupError
from .base import (Manager, controllers_of, try_read, unified_is_frozen, unified_kill, unified_set_frozen,
                   write_file)
from .mounts import UNIFIED

FREEZE_TIMEOUT = 5.0


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


def freeze_v1(d, timeout=FREEZE_TIMEOUT):
    """Write FROZEN until freezer.state reads FROZEN.

    A v1 cgroup can stay FREEZING while processes keep forking or joining
    (the kernel's v1 freezer is racy; runc retries the same way). Every so
    often thaw and pause briefly so new arrivals settle, then retry.
    """
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        attempt += 1
        if attempt % 50 == 0:
            write_file(d, "freezer.state", "THAWED")
            time.sleep(0.01)
        write_file(d, "freezer.state", "FROZEN")
        state = (try_read(d, "freezer.state") or "").strip()
        if state == "FROZEN":
            return
        if state != "FREEZING":
            raise CgroupError(f"unexpected freezer state {state!r} in {d}/freezer.state while freezing")
        if time.monotonic() >= deadline:
            try:
                write_file(d, "freezer.state", "THAWED")
            except CgroupError:
                pass
            raise CgroupError(f'unable to freeze {d}: freezer.state still "FREEZING" after {timeout:g}s')
        if attempt % 10 == 0:
            time.sleep(0.001)


def thaw_v1(d, timeout=FREEZE_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        write_file(d, "freezer.state", "THAWED")
        state = (try_read(d, "freezer.state") or "").strip()
        if state == "THAWED":
            return
        if time.monotonic() >= deadline:
            raise CgroupError(f'unable to thaw {d}: freezer.state reads "{state}" (is a parent frozen?)')
        time.sleep(0.001)


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
        freezer = self.path("freezer")
        if not freezer and not self.unified:
            raise CgroupError("cannot freeze: the freezer controller is not mounted")
        # cgroup2 first: a task stopped by the v1 freezer never reaches the
        # cgroup2 freeze point, so the other order waits forever.
        if self.unified:
            unified_set_frozen(self.unified, True)
        if freezer:
            try:
                freeze_v1(freezer)
            except CgroupError:
                if self.unified:
                    unified_set_frozen(self.unified, False)
                raise

    def thaw(self):
        freezer = self.path("freezer")
        if not freezer and not self.unified:
            raise CgroupError("cannot thaw: the freezer controller is not mounted")
        if freezer:
            thaw_v1(freezer)
        if self.unified:
            unified_set_frozen(self.unified, False)

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
