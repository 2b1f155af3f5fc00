"""Cgroup management (cgroupfs only; there is no systemd driver).

    m = create_manager(spec_linux.get("cgroupsPath"), container_id)
    m.create(); m.set(resources); m.apply(pid)     # create
    state["cgroup"] = m.to_dict()                  # record what was made
    load_manager(state["cgroup"]).destroy()        # delete

Importing this package reads nothing and imports nothing: `state` (through
saved_frozen) pays for no submodule (mounts alone is ~0.15 ms); detection
happens on call.
"""


def create_manager(cgroups_path, container_id, *, root=None, mountinfo="/proc/self/mountinfo", own=None):
    """A manager for the container's cgroup (nothing is created until create()/apply()).

    cgroups_path is linux.cgroupsPath (None/"" → "<id>" below our own cgroup,
    as runc). Raises InvalidSpec for a bad path, CgroupError when no cgroup
    filesystem is mounted. `own` overrides /proc/self/cgroup (tests).
    """
    from .mounts import DEFAULT_ROOT, detect_layout
    from .paths import resolve

    layout = detect_layout(DEFAULT_ROOT if root is None else root, mountinfo)
    paths = resolve(layout, cgroups_path, container_id, own)
    if layout.mode == "unified":
        from .v2 import V2Manager as cls
    else:
        from .v1 import V1Manager as cls
    m = cls(paths, (), layout.root)
    m.mode = layout.mode
    return m


def saved_frozen(saved):
    """Does the freezer of a saved manager dict (state["cgroup"]) say frozen? None when unreadable.

    One small read and no further imports: `state` uses it to confirm a
    container recorded as paused is still frozen.
    """
    paths = (saved or {}).get("paths") or {}
    for name, d in paths.items():
        if "freezer" in name.split(","):
            text = _read(d + "/freezer.state")
            return None if text is None else text.strip() in ("FROZEN", "FREEZING")
    from .mounts import UNIFIED  # pure v2 only: on v1 and hybrid hosts the freezer answered

    if paths.get(UNIFIED):
        text = _read(paths[UNIFIED] + "/cgroup.freeze")
        return None if text is None else text.strip() == "1"
    return None


def _read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def load_manager(d):
    """The manager a state file recorded (Manager.to_dict()); CgroupError for a garbled one.

    The v1/v2 choice lives here, above both, so that base.py never imports them.
    """
    mode, paths = saved_layout(d)
    if mode == "unified":
        from .v2 import V2Manager as cls
    else:
        from .v1 import V1Manager as cls
    m = cls(paths, d.get("created", ()), d.get("root"))
    m.mode = mode
    return m


def saved_layout(d):
    """(mode, paths) of a saved manager dict; CgroupError for a garbled one."""
    from ..errors import CgroupError

    try:
        mode, paths = d["mode"], d["paths"]
    except (KeyError, TypeError):
        raise CgroupError(f"invalid saved cgroup state: {d!r}") from None
    if mode not in ("unified", "hybrid", "legacy"):
        raise CgroupError(f"invalid saved cgroup mode {mode!r}")
    return mode, paths


def freeze_saved(d):
    """Freeze the cgroup of a saved manager dict (pause): freezer.py, not the manager."""
    from . import freezer

    freezer.freeze(*reversed(saved_layout(d)))


def thaw_saved(d):
    from . import freezer

    freezer.thaw(*reversed(saved_layout(d)))
