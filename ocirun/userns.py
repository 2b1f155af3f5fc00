"""User namespaces: id maps, the intermediate process, idmapped-mount userns fds.

With a user namespace the pid (and time) namespace must be owned by it, so
the parent cannot create them for the init as it does otherwise. Instead an
intermediate child (stage 1, as in runc's nsexec) enters the user namespace,
has the parent write its maps, becomes root inside it, enters the pid/time
namespaces, forks the init and exits. It talks on its own channel
(sync.py: create:stage1: maps, maps-done, pid, error); the init it forks
gets the create:init channel, and closes stage 1's at once.
"""
import os

from ocirun import childproc, fileio, sync
from ocirun import syscalls as sc
from ocirun.errors import OciError, describe, os_error


def map_text(mappings):
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def write_maps(pid, uid_mappings, gid_mappings, field="linux"):
    for name, maps in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
        path = f"/proc/{pid}/{name}"
        try:
            fileio.write_value(path, map_text(maps))
        except OSError as e:
            key = "uidMappings" if name == "uid_map" else "gidMappings"
            raise OciError(f"{field}.{key}: {os_error('write', e, path)}") from None


def stage1(plan, chan, init_chan, init_main):
    """The intermediate child: forks the init, which runs init_main(plan,
    init_chan). Never returns."""
    try:
        pid = _enter_and_fork(plan, chan, init_chan, init_main)
        chan.send(sync.PID, pid=pid)
    except BaseException as e:  # noqa: B902 - report anything to the parent
        childproc.fail(chan, e)
    os._exit(0)


def _enter_and_fork(plan, chan, init_chan, init_main):
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    ns = plan.ns
    offsets = (plan.config.get("linux") or {}).get("timeOffsets")
    offsets_fd = None
    if offsets and ns.has_new("time"):
        # Opened while still host root: once in the user namespace our
        # (non-dumpable, so root-owned) /proc/self files are out of reach,
        # and the write is checked against the opener's credentials.
        offsets_fd = _open_time_offsets()
    as_user = os.geteuid() != 0
    ns.enter("user")
    if as_user:
        # Rootless (as runc): the unprivileged parent, or newuidmap on its
        # behalf, can only open our uid_map while we are dumpable.
        sc.prctl(sc.PR_SET_DUMPABLE, 1)
    # Always wait: the parent first puts us in the cgroup (the init
    # inherits it), and writes the maps of a new user namespace.
    chan.send(sync.MAPS)
    chan.expect(sync.MAPS_DONE)
    sc.prctl(sc.PR_SET_DUMPABLE, 0)
    # Root inside the namespace: the rest of the setup needs its caps.
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    for t in ("pid", "time"):
        if t == "pid" and plan.late_pid:
            continue  # the init enters it after its pivot_root (initproc.enter_pid_late)
        ns.enter(t)
        if t == "time" and offsets_fd is not None:
            write_time_offsets(offsets, offsets_fd)
    pid = os.fork()
    if pid == 0:
        chan.close()  # stage 1's channel: the init has its own
        init_main(plan, init_chan)
    init_chan.close()
    return pid


def _open_time_offsets():
    try:
        return os.open("/proc/self/timens_offsets", os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OciError(f"linux.timeOffsets: {describe(e)}") from None


def write_time_offsets(offsets, fd=None):
    """linux.timeOffsets, written before any process enters the time namespace
    (to fd, from _open_time_offsets, if given; it is closed)."""
    if not offsets:
        if fd is not None:
            os.close(fd)
        return
    text = "".join(f"{clock} {o.get('secs', 0)} {o.get('nanosecs', 0)}\n"
                   for clock, o in offsets.items())
    try:
        if fd is None:
            fd = _open_time_offsets()
        os.write(fd, text.encode())
    except OSError as e:
        raise OciError(f"linux.timeOffsets: {describe(e)}") from None
    finally:
        if fd is not None:
            os.close(fd)


def idmap_fd(uid_mappings, gid_mappings):
    """An fd of a fresh user namespace with these maps, for mount_setattr(MOUNT_ATTR_IDMAP).
    A short-lived child owns the namespace; the fd keeps it alive after the child exits."""
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            os.close(w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.read(r, 1)  # until the parent has taken the fd
        finally:
            os._exit(0)
    os.close(r)
    try:
        # The child must have unshared before its ns is opened: poll for it.
        own = os.stat("/proc/self/ns/user").st_ino
        for _ in range(2000):
            if os.stat(f"/proc/{pid}/ns/user").st_ino != own:
                break
            os.sched_yield()
        write_maps(pid, uid_mappings, gid_mappings, "mounts[].idmap")
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(w)
        os.waitpid(pid, 0)
