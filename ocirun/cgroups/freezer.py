"""Freeze and thaw a container's cgroup from its saved manager dict
(state["cgroup"]: mode and paths), without loading the manager: pause and
resume use this alone; the v1 and v2 managers delegate here too.

v1 (and hybrid): the freezer controller's freezer.state; on a hybrid host
also the controller-less cgroup2 hierarchy's cgroup.freeze. v2: cgroup.freeze.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import time

from ..errors import CgroupError
from .files import try_read, write_file

UNIFIED = "unified"  # mounts.UNIFIED (mounts is not loaded here: a unit test checks they agree)
FREEZE_TIMEOUT = 5.0  # seconds for a freeze or thaw to settle


def freeze(paths, mode):
    """Freeze the cgroup of a manager with these paths and mode."""
    freezer, unified = _dirs(paths, mode, "freeze")
    # cgroup2 first: a task stopped by the v1 freezer never reaches the
    # cgroup2 freeze point, so the other order waits forever.
    if unified:
        unified_set_frozen(unified, True)
    if freezer:
        try:
            freeze_v1(freezer)
        except CgroupError:
            if unified:
                unified_set_frozen(unified, False)
            raise


def thaw(paths, mode):
    freezer, unified = _dirs(paths, mode, "thaw")
    if freezer:
        thaw_v1(freezer)
    if unified:
        unified_set_frozen(unified, False)


def _dirs(paths, mode, verb):
    """(v1 freezer directory or None, cgroup2 directory or None)."""
    if mode == "unified":  # a v2 host (hybrid and legacy are v1)
        return None, next(iter(paths.values()))
    freezer, unified = freezer_dir(paths), paths.get(UNIFIED)
    if not freezer and not unified:
        raise CgroupError(f"cannot {verb}: the freezer controller is not mounted")
    return freezer, unified


def freezer_dir(paths):
    """The v1 freezer hierarchy's directory (Manager.path("freezer")), or None."""
    if "freezer" in paths:
        return paths["freezer"]
    for name, d in paths.items():
        if name != UNIFIED and "freezer" in name.split(","):
            return d
    return None


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


# -- cgroup2 files: a v2 manager's only hierarchy, a hybrid v1 manager's second one --

def unified_events(d):
    """cgroup.events as a dict ({"populated": "1", "frozen": "0"})."""
    text = try_read(d, "cgroup.events") or ""
    return dict(line.split(None, 1) for line in text.splitlines() if " " in line)


def unified_set_frozen(d, frozen, timeout=FREEZE_TIMEOUT):
    """Write cgroup.freeze and wait until cgroup.events reports the new state."""
    want = "1" if frozen else "0"
    write_file(d, "cgroup.freeze", want)
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        ev = unified_events(d)
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
