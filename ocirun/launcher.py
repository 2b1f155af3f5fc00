"""`create`, parent side: load and check the bundle, claim the id, fork the
init into its namespaces and cgroup, run the runtime-namespace hooks, and
record the container as created.

Data flows one way: config -> Plan (everything the init needs, computed
here, before the fork, while imports are still safe) -> initproc.main.
A failure at any step kills the init, removes the cgroup and the state
directory, runs poststop hooks if the hooks phase had begun, and re-raises.
"""
import os
import time

from ocirun import SPEC_VERSION
from ocirun import state as st
from ocirun.errors import OciError

EXEC_HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ocirun-exec")


class Plan:
    """What the init needs; built before fork (see initproc)."""

    def __init__(self, **kw):
        self.__dict__.update(kw)


def load(bundle, warn=None):
    """config.json -> (config, absolute bundle path, rootfs), fully validated.
    warn(path, message) gets the spec's warnings (see spec.validate.check)."""
    from ocirun.spec import fastschema, loader, validate

    config, bundle = loader.load_bundle(bundle or ".")
    if not fastschema.is_valid(config):
        # Only a failure pays for jsonschema, which names the field and rule.
        from ocirun.spec import schema

        schema.validate_config(config)
        raise OciError("config.json: invalid (the schema validators disagree: please report)")
    validate.check(config, bundle, warn=warn)
    from ocirun import lsm

    lsm.check(config)
    return config, bundle, loader.rootfs_path(config, bundle)


def now_rfc3339():
    # Go's RFC3339Nano as runc prints it: trailing zeros of the fraction dropped.
    ns = time.time_ns()
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + \
        (f".{frac}" if frac else "") + "Z"


def check_preserved_fds(value, listen=0):
    """--preserve-fds N: a number, and fds 3..3+N-1 all open now, before we
    open any fd of our own (else ours would be handed to the container)."""
    from ocirun.errors import UsageError

    try:
        n = int(value or 0)
    except ValueError:
        raise UsageError(f'invalid value "{value}" for flag -preserve-fds: parse error') from None
    if n < 0:
        raise UsageError(f'invalid value "{value}" for flag -preserve-fds: must not be negative')
    for i in range(n + listen):
        try:
            os.fstat(3 + i)
        except OSError as e:
            raise OciError(f"unable to stat preserved-fd {3 + i} (of {n + listen}): "
                           f"{os.strerror(e.errno).lower()}") from None
    return n


def exec_memfd():
    """A sealed, unwritable in-memory copy of ocirun-exec (see initproc)."""
    import fcntl

    with open(EXEC_HELPER, "rb") as f:
        data = f.read()
    fd = os.memfd_create("ocirun-exec", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK
                | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd


def connect_console(path):
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
    except OSError as e:
        s.close()
        raise OciError(f"--console-socket {path}: connect: {os.strerror(e.errno).lower()}") from None
    return s.detach()


def cgroup_mounts(manager):
    """(name, fstype, mount options, host directory) per hierarchy, for a `cgroup` mount."""
    out = []
    for name, d in manager.paths.items():
        if name == "unified" or manager.mode == "unified":
            out.append(("unified" if manager.mode != "unified" else "", "cgroup2", None, d))
        elif name.startswith("name="):
            out.append((name[5:], "cgroup", f"none,{name}", d))
        else:
            out.append((name, "cgroup", name, d))
    return out


def preflight(config, cid, logger):
    """Every check create makes before it touches the system, on a loaded
    config (see load): `validate` runs exactly this too, so it says what
    create will do. Returns what create goes on with."""
    from ocirun import capabilities, cgroups

    if "process" not in config:
        raise OciError("config.json: process: process property must not be empty")
    linux = config.get("linux") or {}
    if os.geteuid() != 0:
        from ocirun import rootless

        rootless.check(linux)  # runc checks a user's config whatever --rootless says
    proc = config["process"]
    last_cap = capabilities.prepare()
    caps = capabilities.masks(proc.get("capabilities"), last_cap, warn=logger.warning,
                              held=capabilities.held(linux))
    capabilities.check(caps)
    seccomp = None
    if linux.get("seccomp"):
        from ocirun import seccomp as seccomp_mod

        seccomp = seccomp_mod.prepare(linux["seccomp"], proc, warn=logger.debug)
    if linux.get("personality"):
        from ocirun import procattrs

        procattrs.personality_value(linux["personality"])
    manager = cgroups.create_manager(linux.get("cgroupsPath"), cid)
    return Plan(last_cap=last_cap, caps=caps, seccomp=seccomp, manager=manager)


def create(cid, opts, store, logger, config=None, bundle=None, rootfs_dir=None):
    """Returns the created Container; its init is blocked on exec.fifo."""
    if config is None:
        config, bundle, rootfs_dir = load(opts.get("bundle"), warn=spec_warner(logger))
    st.validate_id(cid)
    pre = preflight(config, cid, logger)
    linux = config.get("linux") or {}

    # Everything the init will use is imported now (it imports nothing).
    from ocirun import fastjson as json
    from ocirun import capabilities, cgroups, hooks, initproc, lsm, namespaces, sync  # noqa: F401

    proc = config["process"]
    last_cap, caps, manager = pre.last_cap, pre.caps, pre.manager
    import _socket  # noqa: F401 - initproc.loopback_up uses it
    import fcntl  # noqa: F401
    if proc.get("terminal"):
        import socket  # noqa: F401 - initproc.setup_terminal
        import struct  # noqa: F401
    listen = listen_fds()
    preserve = check_preserved_fds(opts.get("preserve-fds"), listen)
    saved_config = config  # what exec and update read later: without the line below
    if listen:
        # systemd socket activation, as runc: fds 3.. go to the container first
        # (before --preserve-fds ones), and it is told so.
        preserve += listen
        proc = dict(proc, env=list(proc.get("env") or []) + [f"LISTEN_FDS={listen}", "LISTEN_PID=1"])
        config = dict(config, process=proc)
    seccomp = pre.seccomp
    from ocirun import rootless

    if not rootless.enabled(opts.get("rootless_mode")):
        rootless = None
    else:
        manager = rootless.cgroup_manager(manager, linux)
    if os.path.isdir(os.path.join(store.root, cid)):
        # Before check_fit: a taken id is "already exists", not its busy cgroup.
        raise st.ContainerExists(cid)
    check_fit(manager)

    annotations = config.get("annotations") or {}
    data = {
        "ociVersion": config.get("ociVersion", SPEC_VERSION), "id": cid, "status": st.CREATING,
        "bundle": bundle, "rootfs": rootfs_dir, "created": now_rfc3339(), "owner": "",
        "annotations": annotations, "hooks": config.get("hooks") or {},
        # The directories create() is about to make are recorded before it
        # runs: delete --force after a SIGKILLed create then removes them.
        "cgroup": manager.paths and dict(manager.to_dict(), created=_missing_dirs(manager)) or None,
        "pidns": _has_new(linux, "pid"),
    }
    if not any(n.get("type") == "mount" for n in linux.get("namespaces") or ()):
        # The init mounts on the host: what is there now stays (hostmounts.py).
        from ocirun import hostmounts

        data["hostMounts"] = hostmounts.snapshot(rootfs_dir)
    container, lock = store.new(cid, data)
    ns = pid = relay_fd = None
    hooks_began = False
    fds = []
    try:
        fifo = os.path.join(container.dir, st.FIFO)
        os.mkfifo(fifo, 0o600)
        fifo_fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
        fds.append(fifo_fd)
        exec_fd = exec_memfd()
        fds.append(exec_fd)
        console_fd = relay_fd = None
        if proc.get("terminal"):
            if opts.get("console-socket"):
                console_fd = connect_console(opts["console-socket"])
            elif opts.get("_relay"):
                from ocirun import console

                relay_fd, console_fd = console.pair()
            else:
                raise OciError("cannot allocate tty if ocirun will detach without setting console socket")
            fds.append(console_fd)
        if seccomp is not None and seccomp.connect_listener() is not None:
            fds.append(seccomp.listener_fd)  # the init keeps its own copy
        ns = namespaces.Plan(linux.get("namespaces"))
        late_pid = namespaces.late_pid_option(ns)
        idmap_fds = _idmap_fds(config, linux, bundle, fds)
        # With a user namespace, bind sources and device nodes are prepared
        # as host root (rootless: nobody can; the init binds by path).
        staged = ns.has("user") and rootless is None
        bind_fds = _bind_source_fds(config, bundle, fds, idmap_fds) if staged else {}
        dev_fds = {}
        if staged and not initproc._dev_bound(config.get("mounts") or []):
            from ocirun import rootfs

            dev_fds = rootfs.staged_devices(linux.get("devices") or [],
                                            _to_host(linux.get("uidMappings")), _to_host(linux.get("gidMappings")))
            fds += dev_fds.values()
        manager.create()
        data["cgroup"] = manager.to_dict()
        check_fit(manager)  # made under a frozen parent: the init would hang
        container.save()
        # exec and update read the config from here (the bundle may change).
        st.write_atomic(os.path.join(container.dir, "config.json"), json.dumps(saved_config).encode())
        hook_state = {"ociVersion": data["ociVersion"], "id": cid, "status": st.CREATING,
                      "pid": 0, "bundle": bundle, "annotations": annotations}
        h = config.get("hooks") or {}
        plan = Plan(
            id=cid, config=config, bundle=bundle, rootfs=rootfs_dir, ns=ns,
            state=hook_state, caps=caps, last_cap=last_cap, fifo_fd=fifo_fd, exec_fd=exec_fd,
            console_fd=console_fd, preserve_fds=preserve, no_pivot=bool(opts.get("no-pivot")),
            no_new_keyring=bool(opts.get("no-new-keyring")), seccomp=seccomp,
            # the "hooks" stop is also where linux.netDevices are moved in
            runtime_hooks=bool(h.get("prestart") or h.get("createRuntime") or linux.get("netDevices")),
            mount_ctx={"cgroup_mounts": cgroup_mounts(getattr(manager, "view", manager)),
                       "cgroupns": ns.has_new("cgroup"), "idmap_fds": idmap_fds, "bind_fds": bind_fds,
                       "dev_fds": dev_fds,
                       "mount_label": linux.get("mountLabel"), "proc_pidns": late_pid},
            late_pid=late_pid is not None,
            env=None, exe=None, console_mount=True,
            setgroups_deny=rootless is not None and rootless.deny_setgroups(linux.get("gidMappings") or []),
            bind_devices=rootless is not None,  # mknod needs the host's root (runc: rootless binds)
        )
        parent_r, parent_w, init_r, init_w = sync.pair()
        chan = sync.Channel(parent_r, parent_w)
        fds += [parent_r, parent_w, init_r, init_w]
        plan.initproc = initproc
        init_chan = sync.Channel(init_r, init_w)
        close_in_child = (lock, parent_r, parent_w) + ((relay_fd,) if relay_fd is not None else ())
        # Root in a user namespace (rootless podman) cannot setns back to its
        # own pid namespace after creating one: an intermediate forks the init.
        staged = ns.has("user") or (rootless is not None and os.geteuid() == 0)
        if staged:
            from ocirun import userns

            stage1 = _fork(lambda: userns.stage1(plan, init_chan), close_in_child)
        else:
            pid = _fork_init(ns, plan, init_chan, close_in_child, skip=("pid",) if plan.late_pid else ())
        for fd in (init_r, init_w):
            os.close(fd)
            fds.remove(fd)

        if staged:
            manager.apply(stage1)
            pid = _run_stage1(chan, stage1, ns, linux, rootless)
        # Recorded at once: delete --force after a SIGKILLed create finds the init.
        data["pid"] = pid
        data["pidStartTime"] = st.proc_start_time(pid)
        container.save()
        if not staged:
            manager.apply(pid)
        from ocirun.cgroups.defaults import with_default_devices

        for w in manager.set(with_default_devices(linux.get("resources"), linux.get("devices"))) or ():
            logger.warning(w)
        if "oomScoreAdj" in proc:
            _write(f"/proc/{pid}/oom_score_adj", str(proc["oomScoreAdj"]), "process.oomScoreAdj")
        hook_state["pid"] = pid
        chan.send("go", pid=pid)
        while True:
            try:
                msg = chan.next("container init exited unexpectedly", logger)
            except sync.RemoteError as e:
                # A createContainer hook failed: poststop still runs (runtime.md#lifecycle step 5).
                hooks_began = hooks_began or e.hook
                raise
            if msg["t"] == "hooks":
                if linux.get("netDevices"):
                    from ocirun import netdev

                    netdev.move_all(linux["netDevices"], pid)
                hooks_began = True
                hooks.run_hooks(h.get("prestart") or [], hook_state, "prestart")
                hooks.run_hooks(h.get("createRuntime") or [], hook_state, "createRuntime")
                chan.send("hooks-done")
            elif msg["t"] == "pid":
                # The init forked into a joined pid namespace (initproc.enter_pid_late).
                _reap(pid)
                pid = hook_state["pid"] = data["pid"] = msg["pid"]
                data["pidStartTime"] = st.proc_start_time(pid)
                container.save()
                chan.send("go", pid=pid)
            elif msg["t"] == "ready":
                break
        data["status"] = st.CREATED
        container.save()
        if opts.get("pid-file"):
            write_pid_file(opts["pid-file"], pid)
    except BaseException:
        if relay_fd is not None:
            os.close(relay_fd)
        _abort(container, manager, pid, hooks_began, logger)
        raise
    finally:
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if ns is not None:
            ns.close()
        os.close(lock)
    container.relay_fd = relay_fd
    return container


def check_fit(manager):
    """config-linux.md#control-groups: a create into a non-empty or frozen
    cgroup MUST fail: its processes are another container's, and delete
    --force of ours would kill them (or the init would hang frozen)."""
    from ocirun.cgroups import saved_frozen

    if not any(os.path.isdir(d) for d in manager.paths.values()):
        return
    manager.check_fit(for_create=True)
    if saved_frozen(manager.to_dict()):
        from ocirun.errors import CgroupError

        raise CgroupError(f"container's cgroup {manager.primary()} is frozen (by a parent cgroup)")


def listen_fds():
    """$LISTEN_FDS when $LISTEN_PID is us (sd_listen_fds' rule), else 0."""
    try:
        if int(os.environ.get("LISTEN_PID", "")) != os.getpid():
            return 0
        return max(0, int(os.environ.get("LISTEN_FDS", "")))
    except ValueError:
        return 0


def _idmap_fds(config, linux, bundle, fds):
    """{mount index: fd of a detached, idmapped clone of its source} for
    idmapped mounts (config.md: idmap/ridmap); each fd is also added to fds."""
    out = {}
    for i, m in enumerate(config.get("mounts") or ()):
        opts = m.get("options") or ()
        if not (m.get("uidMappings") or "idmap" in opts or "ridmap" in opts):
            continue
        uid = m.get("uidMappings") or linux.get("uidMappings")
        gid = m.get("gidMappings") or linux.get("gidMappings")
        if not uid or not gid:
            raise OciError(f"config.json: mounts[{i}]: idmapped mount needs uidMappings and "
                           "gidMappings (on the mount or of the container's user namespace)")
        from ocirun import mountopts, rootfs, userns

        spec = mountopts.parse_mount(m)
        src = spec.source if spec.source.startswith("/") else os.path.join(bundle, spec.source)
        ns_fd = userns.idmap_fd(uid, gid)
        try:
            out[i] = rootfs.idmapped_tree(src, ns_fd, spec)
        except OSError as e:
            raise OciError(f"mounts[{i}]: idmap mount {src}: {os.strerror(e.errno).lower()}") from None
        finally:
            os.close(ns_fd)
        fds.append(out[i])
    return out


def _to_host(mappings):
    """id in the container -> id on the host (unmapped or no maps: unchanged)."""
    def to_host(i):
        for m in mappings or ():
            if m["containerID"] <= i < m["containerID"] + m["size"]:
                return m["hostID"] + i - m["containerID"]
        return i
    return to_host


def _bind_source_fds(config, bundle, fds, skip):
    """{mount index: fd of a detached clone of its source} for every bind,
    made here as host root: inside the user namespace the init could not
    reach a source under a directory only host root may search (and a mount
    of the host's namespace cannot be bound from another one; a detached
    clone can be attached). Symlinks are followed on the host, as runc does;
    each fd is also added to fds."""
    from ocirun import mountopts
    from ocirun import syscalls as sc

    out = {}
    for i, m in enumerate(config.get("mounts") or ()):
        if i in skip or m.get("type") == "cgroup":
            continue
        spec = mountopts.parse_mount(m)
        if not spec.is_bind:
            continue
        src = spec.source if spec.source.startswith("/") else os.path.join(bundle, spec.source)
        try:
            out[i] = sc.open_tree(-100, src, sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC
                                  | (sc.AT_RECURSIVE if spec.recursive else 0))
        except OSError as e:
            raise OciError(f"mounts[{i}]: mount {m.get('source')} to {m.get('destination')}: "
                           f"{os.strerror(e.errno).lower()}") from None
        fds.append(out[i])
    return out


def spec_warner(logger):
    def warn(path, message):
        # One line per problem: capabilities.masks reports the capability
        # entries itself (it also knows which ones this kernel lacks).
        if not path.startswith("process.capabilities."):
            logger.warning(f"config.json: {path}: {message}" if path else f"config.json: {message}")
    return warn


def _missing_dirs(manager):
    """The cgroup directories (with missing parents, top first) that do not exist yet."""
    out = []
    for d in manager.paths.values():
        chain = []
        while not os.path.isdir(d) and os.path.dirname(d) != d:
            chain.append(d)
            d = os.path.dirname(d)
        out.extend(x for x in reversed(chain) if x not in out)
    return out


def _has_new(linux, t):
    return any(n.get("type") == t and not n.get("path") for n in linux.get("namespaces") or ())


def _fork(child, close_in_child):
    pid = os.fork()
    if pid == 0:
        # The lock fd especially: a copy in the init would hold the flock.
        for fd in close_in_child:
            os.close(fd)
        child()
        os._exit(1)
    return pid


def _fork_init(ns, plan, init_chan, close_in_child, skip=()):
    """Fork the init inside the pid (and time) namespace, then return the
    parent to its own: unshare(NEWPID) only affects children."""
    from ocirun import namespaces

    restore = {}
    try:
        for t in namespaces.FOR_CHILDREN:
            if ns.has(t) and t not in skip:
                restore[t] = namespaces.own_ns_fd(t)
                ns.enter(t)
                if t == "time" and ns.has_new("time"):
                    from ocirun import userns

                    userns.write_time_offsets((plan.config.get("linux") or {}).get("timeOffsets"))
        # The init closes our namespace fds at once (issue 10 item 3): in a
        # joined pid namespace others could reach them through /proc.
        return _fork(lambda: plan.initproc.main(plan, init_chan), close_in_child + tuple(restore.values()))
    finally:
        if restore:
            from ocirun import syscalls as sc

            for t, fd in restore.items():
                sc.setns(fd, namespaces.FLAGS[t])
                os.close(fd)


def _run_stage1(chan, stage1, ns, linux, rootless=None):
    """Serve the intermediate (userns.stage1): write the maps, learn the init's pid."""
    from ocirun import userns

    try:
        while True:
            msg = chan.next("container init exited unexpectedly")
            if msg["t"] == "maps":
                if ns.has_new("user"):
                    # A user's maps may need newuidmap/newgidmap (rootless.py).
                    write = rootless.write_maps if rootless and os.geteuid() != 0 else userns.write_maps
                    write(stage1, linux.get("uidMappings") or [], linux.get("gidMappings") or [])
                chan.send("maps-done")
            elif msg["t"] == "pid":
                return msg["pid"]
    except BaseException:
        os.kill(stage1, 9)  # it waits for maps-done: never reap it blocked
        raise
    finally:
        os.waitpid(stage1, 0)


def _reap(pid):
    """Wait for the init's first process, ours (or ours as a subreaper) or not."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _write(path, value, field):
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as e:
        raise OciError(f"{field}: write {value} to {path}: {os.strerror(e.errno).lower()}") from None


def write_pid_file(path, pid):
    """Decimal pid, no newline (containerd parses it strictly), written atomically."""
    path = os.path.abspath(path)
    d, name = os.path.split(path)
    tmp = os.path.join(d, f".{name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_SYNC, 0o644)
    try:
        os.write(fd, str(pid).encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def release_host_mounts(data, logger):
    """Remove the mounts a container without a mount namespace made on the host."""
    if data.get("hostMounts"):
        from ocirun import hostmounts

        left = hostmounts.release(data["hostMounts"])
        if left:
            logger.warning(f"mounts left on the host: {', '.join(left)}")


def _abort(container, manager, pid, hooks_began, logger):
    """Undo a failed create: nothing may be left behind."""
    import _signal as signal

    if pid:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    try:
        manager.kill_all(signal.SIGKILL)
    except Exception:  # noqa: BLE001 - best effort: destroy reports what is left
        pass
    try:
        manager.destroy()
    except OciError as e:
        logger.warning(str(e))
    release_host_mounts(container.data, logger)
    st.remove_dir(container.dir)
    if hooks_began:
        from ocirun import hooks

        state = container.spec_state()
        state["status"] = st.STOPPED
        hooks.run_hooks(container.data.get("hooks", {}).get("poststop") or [], state, "poststop")
