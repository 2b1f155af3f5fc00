"""The cgroup manager shared by v1 and v2: directories, joining, pids, kill, destroy; and the
cgroup2 freeze/kill files both drive (v1 on a hybrid host). Imports neither v1 nor v2.

A manager is a dict {hierarchy name: directory} plus the list of directories
it created itself, so that delete removes exactly those (and whatever the
container created below them) and never a parent someone else made.
"""
import errno
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import _signal as signal  # not `signal`: it loads enum
import time

from ..errors import CgroupError, describe
from .files import try_read, write_file  # noqa: F401 - re-exported (resources, stats, oom...)

PROCS = "cgroup.procs"
DESTROY_TIMEOUT = 3.0  # seconds to wait for dying processes to leave a cgroup


def read_procs(directory):
    text = try_read(directory, PROCS)
    return [int(x) for x in text.split()] if text else []


def controllers_of(name):
    """Controllers of a hierarchy name: "cpu,cpuacct" → ("cpu", "cpuacct"); "unified" → ()."""
    from .mounts import UNIFIED

    return () if name == UNIFIED else tuple(name.split(","))


class Manager:
    """Use cgroups.create_manager() to make one, cgroups.load_manager() to reload one from a state file."""

    mode = None  # "unified", "hybrid" or "legacy"; set by subclasses

    def __init__(self, paths, created=(), root=None):
        from .mounts import DEFAULT_ROOT

        self.paths = dict(paths)  # hierarchy name -> directory
        self.created = list(created)  # directories we made, parents before children
        self.root = root or DEFAULT_ROOT

    # -- persistence -------------------------------------------------------

    def to_dict(self):
        return {"mode": self.mode, "root": self.root, "paths": dict(self.paths), "created": list(self.created)}

    def __repr__(self):
        return f"{type(self).__name__}({self.mode!r}, {self.paths!r})"

    # -- lookups -----------------------------------------------------------

    def path(self, controller):
        """Directory of the hierarchy holding `controller` ("memory", "name=systemd", "unified"), or None."""
        if controller in self.paths:
            return self.paths[controller]
        for name, d in self.paths.items():
            if controller in controllers_of(name):
                return d
        return None

    def primary(self):
        """The directory pids() reads: devices in v1 (as runc does), the only one in v2."""
        for c in ("devices", "freezer", "pids", "memory"):
            d = self.path(c)
            if d:
                return d
        return next(iter(self.paths.values()))

    def exists(self):
        return all(os.path.isdir(d) for d in self.paths.values())

    # -- creation and joining ----------------------------------------------

    def create(self):
        """mkdir -p every hierarchy's directory, remembering the ones made here."""
        made = []
        try:
            for name, d in self.paths.items():
                made.extend(self._mkdirs(d))
                self._prepare(name, d)
        except CgroupError:
            for d in reversed(made):
                _rmdir_quiet(d)
            raise
        self.created.extend(d for d in made if d not in self.created)

    def _mkdirs(self, d):
        # A parent can vanish under us when another container's delete removes
        # the (then empty) parent it had made: recompute and retry.
        for attempt in range(5):
            try:
                return _mkdir_chain(d)
            except FileNotFoundError:
                if attempt == 4:
                    raise CgroupError(f"failed to create cgroup {d}: parent kept disappearing") from None

    def _prepare(self, name, d):
        """Per-hierarchy setup after mkdir (cpuset copy, v2 controller enabling)."""

    def apply(self, pid):
        """Move `pid` into every hierarchy (mkdir first if create() has not run)."""
        if not self.exists():
            self.create()
        self.join(pid)

    def join(self, pid):
        """Write `pid` into cgroup.procs of every hierarchy; never creates directories (exec)."""
        for d in self.paths.values():
            write_procs(d, pid)


    # -- processes -----------------------------------------------------------

    def pids(self):
        """Every process in the container's cgroup and its sub-cgroups."""
        top = self.primary()
        seen, out = set(), []
        for dirpath, _dirs, _files in os.walk(top):
            for pid in read_procs(dirpath):
                if pid not in seen:
                    seen.add(pid)
                    out.append(pid)
        return out

    def check_fit(self, for_create=True):
        """runtime-spec config-linux.md#control-groups: refuse a non-empty (create) or frozen cgroup."""
        if for_create:
            busy = self.pids()
            if busy:
                raise CgroupError(f"container's cgroup {self.primary()} is not empty: {len(busy)} process(es) found")
        if self.is_frozen():
            raise CgroupError(f"container's cgroup {self.primary()} is unexpectedly frozen")

    def kill_all(self, sig=signal.SIGKILL):
        """Send `sig` to every process in the cgroup: freeze, signal each, thaw."""
        frozen = self._freeze_quietly()
        try:
            _signal_each(self.pids(), sig)
        finally:
            if frozen:
                self.thaw()

    def _freeze_quietly(self):
        try:
            self.freeze()
            return True
        except CgroupError:
            return False  # no freezer or cgroup gone: signal without the freeze

    # Subclasses: freeze(), thaw(), is_frozen(), set(resources).

    def freeze(self):
        raise NotImplementedError

    def thaw(self):
        raise NotImplementedError

    def is_frozen(self):
        raise NotImplementedError

    def set(self, resources):
        raise NotImplementedError

    def preload(self):
        """Import what set() will use. create calls it before it forks the
        init: after a fork each first write to a shared page (an import's
        refcounts and allocations) is a copy-on-write fault (~1 ms)."""
        raise NotImplementedError

    # -- removal -------------------------------------------------------------

    def destroy(self, timeout=DESTROY_TIMEOUT):
        """rmdir what create() made, children first; retry while processes die; gone is fine."""
        leaves = set(self.paths.values())
        deadline = time.monotonic() + timeout
        failed = []
        for d in sorted(self.created, key=lambda p: p.count("/"), reverse=True):
            if d in leaves:
                err = _remove_tree(d, deadline)
            else:
                # A parent we made: others may have put their cgroups in it
                # since, so only try the directory itself and let it be if busy.
                err = _rmdir_parent(d)
            if err:
                failed.append(err)
        if failed:
            self.created = [d for d in self.created if os.path.isdir(d)]
            raise CgroupError(failed[0])
        self.created = []


# -- cgroup2 files: a v2 manager's only hierarchy, a hybrid v1 manager's second one --

def unified_is_frozen(d):
    # cgroup.freeze holds what was asked for this cgroup (runc reads the same);
    # a cgroup frozen only through a parent is not "paused" by us.
    text = try_read(d, "cgroup.freeze")
    return bool(text) and text.strip() == "1"


def unified_kill(d):
    """SIGKILL everything in `d` and below through cgroup.kill. False if the kernel lacks it."""
    try:
        write_file(d, "cgroup.kill", "1")
    except CgroupError as e:
        if e.errno in (errno.ENOENT, errno.EACCES, errno.EPERM):
            return False  # kernel < 5.14
        raise
    return True


def write_procs(d, pid):
    # EINVAL can mean the task is still TASK_NEW (just forked): retry briefly.
    for attempt in range(5):
        try:
            write_file(d, PROCS, pid)
            return
        except CgroupError as e:
            if e.errno != errno.EINVAL or attempt == 4:
                raise
            time.sleep(0.02)


def _mkdir_chain(d):
    """mkdir every missing level down to `d`; return the ones made here, top first."""
    missing = []
    cur = d
    while not os.path.isdir(cur):
        missing.append(cur)
        parent = os.path.dirname(cur)
        if parent == cur:
            break
        cur = parent
    made = []
    for p in reversed(missing):
        try:
            os.mkdir(p, 0o755)
        except FileExistsError:
            continue  # someone else made it meanwhile: not ours
        except OSError as e:
            for q in reversed(made):
                _rmdir_quiet(q)
            if isinstance(e, FileNotFoundError):
                raise
            raise CgroupError(f"failed to create cgroup {p}: {describe(e)}") from None
        made.append(p)
    return made


def _signal_each(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _rmdir_quiet(d):
    try:
        os.rmdir(d)
    except OSError:
        pass


def _rmdir_parent(d):
    try:
        os.rmdir(d)
    except OSError as e:
        if e.errno not in (errno.ENOENT, errno.EBUSY, errno.ENOTEMPTY):
            return f"failed to remove cgroup {d}: {describe(e)}"
    return None


def _remove_tree(top, deadline):
    """rmdir `top` and every sub-cgroup below it, deepest first. Returns an error text or None."""
    try:
        os.rmdir(top)  # the usual case (no sub-cgroup, nobody left): no stat, no walk
        return None
    except FileNotFoundError:
        return None
    except OSError:
        pass  # sub-cgroups, processes still leaving, not a directory: below
    if not os.path.isdir(top):
        return None
    subdirs = []
    for dirpath, dirs, _files in os.walk(top):
        subdirs.extend(os.path.join(dirpath, x) for x in dirs)
    for d in sorted(subdirs, key=lambda p: p.count("/"), reverse=True) + [top]:
        delay = 0.005
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as e:
                if e.errno not in (errno.EBUSY, errno.ENOTEMPTY, errno.EAGAIN):
                    return f"failed to remove cgroup {d}: {describe(e)}"
                if time.monotonic() >= deadline:
                    left = len(read_procs(d))
                    return f"failed to remove cgroup {d}: {describe(e)} ({left} process(es) still in it)"
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
    return None
