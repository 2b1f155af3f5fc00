"""restore: a new container (same or new id) from a checkpoint (runc's flags).

As runc: the container is made like `create` (state, cgroups of its own),
then CRIU restores the processes into it. The `criu swrk` child is put into
the new cgroups first, and cg_root maps the dumped cgroups onto them. CRIU
needs the root to be a mount point whose parent is not overmounted: the
rootfs is bind-mounted on a new empty directory (never inside the state dir:
a recursive removal there would go through the bind into the rootfs), in a
mount namespace private to this process, so nothing of it can leak to the
host or outlive us; it is unmounted before any cleanup. NOTIFY
messages: setup-namespaces runs the prestart/createRuntime hooks,
post-restore records the new init (pid and start time), orphan-pts-master
sends the new pty master to --console-socket.
"""
import os

from ocirun import SPEC_VERSION
from ocirun import state as st
from ocirun.errors import ContainerNotFound, OciError, UsageError


def run(opts, args, logger):
    from ocirun import cgroups
    from ocirun.container import create, spawn
    from ocirun.criu import plan, swrk

    plan.refuse(opts, ("lazy-pages",), "CRIU's lazy migration (userfaultfd page server) is not driven")
    criu = swrk.find(opts.get("criu") or "criu")
    crit = plan.common_opts(opts, "restore.log")
    cid = st.validate_id(args[0])
    image, work = plan.image_dirs(opts, create=False)
    config, bundle, rootfs = create.load(opts.get("bundle"), warn=create.spec_warner(logger))
    if "process" not in config:
        raise OciError("config.json: process: process property must not be empty")
    descriptors = _descriptors(image)
    if (config["process"].get("terminal") and not opts.get("console-socket")):
        raise UsageError("--console-socket: needed to restore a container with a terminal")
    store = st.Store(opts["root"])
    _remove_stopped(store, cid, logger)
    detach = opts.get("detach")
    if not detach and not opts.get("no-subreaper"):
        from ocirun import syscalls as sc

        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)

    linux = config.get("linux") or {}
    manager = cgroups.create_manager(linux.get("cgroupsPath"), cid)
    data = _initial_state(config, cid, bundle, rootfs, manager, linux)
    container, lock = store.new(cid, data)
    root = None
    fds = []
    restored = {}
    try:
        from ocirun import fastjson as json

        st.write_atomic(os.path.join(container.dir, "config.json"), json.dumps(config).encode())
        plan.make_mountpoints(config, bundle, rootfs)
        # The fds after the unshare: CRIU mounts its cgroup yard in the work
        # dir, which fails on a dir of another mount namespace (EINVAL).
        root = _private_root(rootfs, (config.get("root") or {}).get("readonly"))
        _fill_criu_opts(crit, opts, config, bundle, (image, work, root), manager, descriptors, fds)
        _restore(criu, crit, fds, container, manager, (config, opts, work), restored, logger)
        if not restored.get("pid"):
            raise OciError("restore: criu did not report the restored process")
        data["status"] = st.RUNNING
        container.save()
        if opts.get("pid-file"):
            spawn.write_pid_file(opts["pid-file"], restored["pid"])
    except BaseException:
        _unmount(root)
        create.abort(container, manager, restored.get("pid"), restored.get("hooks"), logger)
        raise
    finally:
        _unmount(root)
        for fd in fds:
            os.close(fd)
        os.close(lock)
    if detach:
        return 0
    return _wait(store, cid, restored["pid"], logger)


def _initial_state(config, cid, bundle, rootfs, manager, linux):
    """state.json while CRIU works (status "creating"), as `create` writes it."""
    from ocirun.container import create

    return {
        "ociVersion": config.get("ociVersion", SPEC_VERSION), "id": cid, "status": st.CREATING,
        "bundle": bundle, "rootfs": rootfs, "created": create.now_rfc3339(), "owner": "",
        "annotations": config.get("annotations") or {}, "hooks": config.get("hooks") or {},
        "cgroup": dict(manager.to_dict(), created=create.missing_cgroup_dirs(manager)),
        "pidns": create.has_new_namespace(linux, "pid"),
    }


def _fill_criu_opts(crit, opts, config, bundle, dirs, manager, descriptors, fds):
    """The rest of CRIU's restore options; every fd opened is appended to `fds` (ours to close)."""
    from ocirun.container import create
    from ocirun.criu import plan

    image, work, root = dirs
    fds += [plan.open_dir(image), plan.open_dir(work)]
    crit.update(images_dir_fd=fds[0], work_dir_fd=fds[1], root=root, rst_sibling=True,
                evasive_devices=True)
    if opts.get("lsm-profile"):
        crit["lsm_profile"] = opts["lsm-profile"]
    if opts.get("lsm-mount-context"):
        crit["lsm_mount_context"] = opts["lsm-mount-context"]
    cgroup_dirs = [(name, d) for name, _t, _o, d in create.cgroup_mounts(manager)]
    crit["ext_mnt"] = [{"key": k, "val": v} for k, v in
                       plan.external_mounts(config, bundle, cgroup_dirs)] + plan.masked_restore(config)
    # runc's rule: only pipes are handed over; files are reopened by path.
    crit["inherit_fd"] = [{"key": d, "fd": i} for i, d in enumerate(descriptors)
                          if "pipe:" in d]
    for _t, path, _cname, key in plan.external_ns(config, crit.get("empty_ns")):
        fd = os.open(path, os.O_RDONLY)
        fds.append(fd)
        crit["inherit_fd"].append({"key": key, "fd": fd})


def _restore(criu, crit, fds, container, manager, how, restored, logger):
    """Start `criu swrk` in the container's new cgroups and have it restore; NOTIFY fills `restored`."""
    from ocirun.cgroups.defaults import with_default_devices
    from ocirun.criu import swrk, wire

    config, opts, work = how
    linux = config.get("linux") or {}
    proc = swrk.Criu(criu, pass_fds=fds, stdio=(0, 1, 2))
    try:
        manager.create()
        container.data["cgroup"] = manager.to_dict()
        container.save()
        manager.apply(proc.pid)
        for w in manager.set(with_default_devices(linux.get("resources"), linux.get("devices"))) or ():
            logger.warning(w)
        crit["cg_root"] = _cgroup_roots(proc.pid)
        notify = _Notify(container, config, opts, restored)
        proc.call(wire.RESTORE, crit, notify=notify, what="restore",
                  log=os.path.join(work, "restore.log"))
    finally:
        proc.close()


class _Notify:
    """CRIU's NOTIFY messages during a restore (see the module docstring)."""

    def __init__(self, container, config, opts, restored):
        self.c, self.config, self.opts, self.restored = container, config, opts, restored

    def __call__(self, script, pid, fds):
        if script == "setup-namespaces":
            h = self.config.get("hooks") or {}
            if h.get("prestart") or h.get("createRuntime"):
                from ocirun import hooks

                self.restored["hooks"] = True
                state = dict(self.c.spec_state(), pid=pid, status=st.CREATED)
                hooks.run_hooks(h.get("prestart") or [], state, "prestart")
                hooks.run_hooks(h.get("createRuntime") or [], state, "createRuntime")
        elif script == "post-restore":
            self.restored["pid"] = pid
            self.c.data["pid"] = pid
            self.c.data["pidStartTime"] = st.proc_start_time(pid)
            self.c.save()
        elif script == "orphan-pts-master":
            if not fds:
                raise OciError("restore: criu sent no pty master")
            _send_master(self.opts.get("console-socket"), fds[0])


def _send_master(path, master):
    if not path:
        raise UsageError("--console-socket: needed to restore a container with a terminal")
    import socket

    from ocirun.container import spawn

    sock = socket.socket(fileno=spawn.connect_console(path))
    try:
        socket.send_fds(sock, [b"/dev/ptmx"], [master])
    finally:
        sock.close()


def _descriptors(image):
    from ocirun import fastjson as json
    from ocirun.criu.plan import DESCRIPTORS

    path = os.path.join(image, DESCRIPTORS)
    try:
        with open(path, "rb") as f:
            out = json.loads(f.read())
    except FileNotFoundError:
        raise UsageError(f"--image-path {image}: no checkpoint there ({DESCRIPTORS} missing)") from None
    except ValueError as e:
        raise OciError(f"{path}: {e}") from None
    if not isinstance(out, list) or not all(isinstance(d, str) for d in out):
        raise OciError(f"{path}: not a list of strings")
    return out


def _remove_stopped(store, cid, logger):
    """A stopped container (e.g. the checkpointed one) gives its id up, as if
    deleted first; a live one keeps it."""
    try:
        c = store.load(cid)
    except ContainerNotFound:
        return
    if c.status() == st.STOPPED and c.data.get("checkpointed"):
        from ocirun.container import delete

        delete.destroy(c, False, logger)


def _private_root(rootfs, readonly):
    """Bind the rootfs on a new directory in a new mount namespace of this
    process (host mounts seen as slaves: nothing propagates back). CRIU
    makes the container's root mount from this one: read-only if the
    config's root is."""
    from ocirun import syscalls as sc

    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
    root = f"/tmp/ocirun-criu-root.{os.getpid()}"  # our pid: no other live restore has it
    try:
        os.rmdir(root)  # an empty one left by a restore killed with this pid
    except OSError:
        pass
    os.mkdir(root, 0o700)
    try:
        sc.mount(rootfs, root, None, sc.MS_BIND | sc.MS_REC)
    except BaseException:
        os.rmdir(root)
        raise
    sc.mount(None, root, None, sc.MS_REC | sc.MS_PRIVATE)
    if readonly:
        sc.mount(None, root, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
    return root


def _unmount(root):
    """Unmount and remove the (then empty) directory: rmdir, never rm -r."""
    from ocirun import syscalls as sc

    if root is None or not os.path.isdir(root):
        return
    try:
        sc.umount2(root, sc.MNT_DETACH)
    except OSError:
        pass
    try:
        os.rmdir(root)
    except OSError:
        pass


def _cgroup_roots(pid):
    """cg_root for each hierarchy: the dumped cgroups map onto those criu is in
    (the container's new ones). v2 and named hierarchies included."""
    out = []
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _id, ctrls, path = line.rstrip("\n").split(":", 2)
            out.append({"ctrl": ctrls, "path": path} if ctrls else {"path": path})
    # The default (no ctrl) last: CRIU takes the first match.
    return sorted(out, key=lambda r: "ctrl" not in r)


def _wait(store, cid, pid, logger):
    """Not detached: like `run`, wait for the init (forwarding signals) and delete."""
    from ocirun.container import run as run_lib

    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        pidfd = None
    if pidfd is not None:
        run_lib.forward_signals(pidfd)
    try:
        return run_lib.wait_init(pid)
    finally:
        run_lib.cleanup(store, cid, logger)
