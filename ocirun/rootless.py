"""Rootless policy (runc's rules), for a runtime run by an ordinary user.

- mode: `--rootless auto|true|false`; auto is on when the effective uid is
  not 0, or when we run inside a user namespace.
- state root: $XDG_RUNTIME_DIR/ocirun when that is set and we are not the
  host's root (a root inside a user namespace counts as a user unless
  $USER says root), else /run/ocirun.
- id maps: written directly when the kernel allows it (one line mapping our
  own id; setgroups is then denied first for the gid map), else through the
  setuid helpers newuidmap/newgidmap, which check /etc/subuid and
  /etc/subgid.
- cgroups: without an explicit linux.cgroupsPath, a hierarchy we cannot
  write is left out; limits that would need it are an error (device rules
  are ignored, as runc does: they cannot work without privilege).

Imports only os at module level: the CLI uses state_root() on every command.
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)

_FULL_MAP = "0 0 4294967295"


def in_user_namespace():
    """True unless /proc/self/uid_map is the initial namespace's identity map."""
    try:
        with open("/proc/self/uid_map") as f:
            return " ".join(f.read().split()) != _FULL_MAP
    except OSError:
        return False


def enabled(flag="auto"):
    """runc's shouldUseRootlessCgroupManager, without systemd (we have none)."""
    value = (flag or "auto").lower()
    if value in ("1", "t", "true"):
        return True
    if value in ("0", "f", "false"):
        return False
    if value != "auto":
        from ocirun.errors import UsageError

        raise UsageError(f'invalid value "{flag}" for flag -rootless: want auto, true or false')
    return os.geteuid() != 0 or in_user_namespace()


def state_root(default="/run/ocirun"):
    """runc's shouldHonorXDGRuntimeDir: where the state lives when --root is not given."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if not xdg:
        return default
    if os.geteuid() != 0 or (in_user_namespace() and os.environ.get("USER") != "root"):
        return os.path.join(xdg, "ocirun")
    return default


# ---- id maps ------------------------------------------------------------

def own_id_map(maps, host_id):
    """Is `maps` exactly one id, container 0 -> host_id (what needs no helper)?"""
    return (len(maps) == 1 and maps[0].get("containerID") == 0
            and maps[0].get("hostID") == host_id and maps[0].get("size") == 1)


def deny_setgroups(gid_maps):
    """runc: an unprivileged user writing its own gid map must deny setgroups first."""
    return os.geteuid() != 0 and own_id_map(gid_maps, os.getegid())


def write_maps(pid, uid_maps, gid_maps):
    """Write the maps of `pid`'s new user namespace as an unprivileged user."""
    from ocirun import fileio, userns
    from ocirun.container import spawn
    from ocirun.errors import os_error

    if deny_setgroups(gid_maps):
        spawn.write_proc_file(f"/proc/{pid}/setgroups", "deny", "config.json: linux.gidMappings")
    for name, maps, key, helper in (("uid_map", uid_maps, "uidMappings", "newuidmap"),
                                    ("gid_map", gid_maps, "gidMappings", "newgidmap")):
        if not maps:
            continue
        try:
            fileio.write_value(f"/proc/{pid}/{name}", userns.map_text(maps))
            continue
        except OSError as e:
            if e.errno != 1:  # EPERM: the kernel wants a privileged writer
                _fail(key, os_error("write", e, f"/proc/{pid}/{name}"))
        _map_with_helper(helper, pid, maps, key)


def _map_with_helper(helper, pid, maps, key):
    import shutil
    import subprocess

    path = shutil.which(helper)
    if path is None:
        _fail(key, f"mapping more than the caller's own id needs {helper} "
                   f"(Debian package uidmap) and a range in /etc/sub{helper[3:6]}")
    args = [path, str(pid)]
    for m in maps:
        args += [str(m["containerID"]), str(m["hostID"]), str(m["size"])]
    p = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    if p.returncode != 0:
        text = " ".join(p.stdout.decode(errors="replace").split()) or f"exit status {p.returncode}"
        _fail(key, f"{helper}: {text}")


def _fail(key, text):
    from ocirun.errors import OciError

    raise OciError(f"config.json: linux.{key}: {text}")


# ---- cgroups ------------------------------------------------------------

# linux.resources key -> the v1 controller its limits need.
_LIMIT_CONTROLLERS = (("memory", "memory"), ("pids", "pids"), ("blockIO", "blkio"),
                      ("hugepageLimits", "hugetlb"), ("rdma", "rdma"), ("unified", "unified"))


def _writable(d):
    """Can we make (or write in) cgroup directory d? Its nearest existing ancestor decides."""
    while not os.path.isdir(d):
        parent = os.path.dirname(d)
        if parent == d:
            return False
        d = parent
    return os.access(d, os.W_OK)


def cgroup_manager(manager, linux):
    """The manager to use rootless: `manager`, or a NoCgroup when no hierarchy
    is writable. An explicit linux.cgroupsPath is used as is (its errors are
    real), as runc does. Limits that need a missing hierarchy: a clear error."""
    if linux.get("cgroupsPath") or all(_writable(d) for d in manager.paths.values()):
        return manager
    res = linux.get("resources") or {}
    wanted = [(k, c) for k, c in _LIMIT_CONTROLLERS if res.get(k)]
    cpu = res.get("cpu") or {}
    if any(v is not None for k, v in cpu.items() if k not in ("cpus", "mems")):
        wanted.append(("cpu", "cpu"))
    if cpu.get("cpus") or cpu.get("mems"):
        wanted.append(("cpu", "cpuset"))
    net = res.get("network") or {}
    if net.get("classID") is not None or net.get("priorities"):
        wanted.append(("network", "net_cls"))
    if wanted:
        from ocirun.errors import OciError

        key, controller = wanted[0]
        raise OciError(f"config.json: linux.resources.{key}: cannot set {controller} limit: "
                       "container could not join or create cgroup (rootless, no writable cgroup)")
    # The container stays in our own cgroups (the parents of the default
    # paths): a `cgroup` mount shows those, read-only, as runc does.
    return NoCgroup({name: os.path.dirname(d) for name, d in manager.paths.items()}, manager.mode)


class NoCgroup:
    """A rootless container without a cgroup: every manager step does nothing;
    the state records no cgroup, so ps/pause/events say so (commands/*).
    `view` has the paths and mode of the cgroups it is in (for the mount)."""

    paths = {}
    created = ()
    mode = None

    def __init__(self, view_paths=None, view_mode=None):
        self.view = _View(view_paths or {}, view_mode)

    def to_dict(self):
        return None

    def create(self):
        pass

    def apply(self, pid):
        pass

    def set(self, resources):
        return ()

    def preload(self):
        pass

    def kill_all(self, sig):
        pass

    def destroy(self):
        pass


class _View:
    def __init__(self, paths, mode):
        self.paths, self.mode = paths, mode


NO_CGROUP = "container has no cgroup (rootless: no writable cgroup on this host)"


def check(linux):
    """runc's rootless EUID checks: a user namespace, with mappings unless joined."""
    from ocirun.errors import OciError

    user = [n for n in linux.get("namespaces") or () if n.get("type") == "user"]
    if not user:
        raise OciError("config.json: linux.namespaces: rootless container requires user namespaces")
    if not user[0].get("path"):
        for key in ("uidMappings", "gidMappings"):
            if not linux.get(key):
                raise OciError(f"config.json: linux.{key}: rootless container requires at least "
                               f"one {key[:3].upper()} mapping")


def pids_in_pidns(init_pid):
    """Without a cgroup: every process in the init's own pid namespace (what
    `ps` lists then), init first; [] when it is gone."""
    try:
        ns = os.stat(f"/proc/{init_pid}/ns/pid").st_ino
    except OSError:
        return []
    out = [init_pid]
    for d in os.listdir("/proc"):
        if d.isdigit() and int(d) != init_pid:
            try:
                if os.stat(f"/proc/{d}/ns/pid").st_ino == ns:
                    out.append(int(d))
            except OSError:
                pass
    return out


# ---- exec ---------------------------------------------------------------

def setgroups_denied(pid):
    """Does /proc/PID/setgroups say deny (a user's one-id gid map)? exec then keeps the groups."""
    try:
        with open(f"/proc/{pid}/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError:
        return False
