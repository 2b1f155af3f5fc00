"""create: load and check the bundle, claim the id, fork the init into its
namespaces and cgroup, run the runtime-namespace hooks, and record the
container as created (commands/create.py and run.py call create()).

Data flows one way: config -> spawn.Plan (everything the init needs,
computed here, before the fork, while imports are still safe) ->
initproc.main. A failure at any step kills the init, removes the cgroup and
the state directory, runs poststop hooks if the hooks phase had begun, and
re-raises (abort).

Process tree (docs/architecture.md; the messages are sync.py's):
    ocirun create ──fork── init                      (no user namespace)
    ocirun create ──fork── stage 1 ──fork── init     (a user namespace: userns.stage1)
"""
from ocirun import fastos as os  # not `os`: ~0.9 ms of start-up (fastos.py)
import time

from ocirun import SPEC_VERSION
from ocirun import state as st
from ocirun.container import spawn
from ocirun.errors import OciError, describe, os_error
from ocirun.sysops import REAL


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
    create will do. Returns (spawn.Security, cgroup manager)."""
    from ocirun import cgroups

    if "process" not in config:
        raise OciError("config.json: process: process property must not be empty")
    linux = config.get("linux") or {}
    if os.geteuid() != 0:
        from ocirun import rootless

        rootless.check(linux)  # runc checks a user's config whatever --rootless says
    sec = spawn.security(config["process"], linux, logger)
    if linux.get("personality"):
        from ocirun import procattrs

        procattrs.personality_value(linux["personality"])
    return sec, cgroups.create_manager(linux.get("cgroupsPath"), cid)


def create(cid, opts, store, logger, config=None, bundle=None, rootfs_dir=None):
    """Returns the created Container; its init is blocked on exec.fifo."""
    if config is None:
        config, bundle, rootfs_dir = load(opts.get("bundle"), warn=spec_warner(logger))
    st.validate_id(cid)
    sec, manager = preflight(config, cid, logger)
    return _Creation(cid, opts, store, logger, config, bundle, rootfs_dir, sec, manager).run()


class _Creation:
    """One create, step by step; what abort must undo is kept on it."""

    ops = REAL  # the system calls of the rootfs and namespaces (sysops.py)

    def __init__(self, cid, opts, store, logger, config, bundle, rootfs_dir, sec, manager):
        _import_for_init(config["process"])
        self.cid, self.opts, self.logger, self.sec = cid, opts, logger, sec
        self.linux = config.get("linux") or {}
        self.bundle, self.rootfs = bundle, rootfs_dir
        self.saved_config = config  # what exec and update read later: without LISTEN_*
        listen = listen_fds()
        self.preserve = spawn.check_preserved_fds(opts.get("preserve-fds"), listen)
        if listen:
            # systemd socket activation, as runc: fds 3.. go to the container first
            # (before --preserve-fds ones), and it is told so.
            self.preserve += listen
            proc = config["process"]
            proc = dict(proc, env=list(proc.get("env") or []) + [f"LISTEN_FDS={listen}", "LISTEN_PID=1"])
            config = dict(config, process=proc)
        self.config, self.proc = config, config["process"]
        from ocirun import rootless

        self.rootless = rootless if rootless.enabled(opts.get("rootless_mode")) else None
        if self.rootless is not None:
            manager = rootless.cgroup_manager(manager, self.linux)
        self.manager = manager
        if os.path.isdir(os.path.join(store.root, cid)):
            # Before check_fit: a taken id is "already exists", not its busy cgroup.
            raise st.ContainerExists(cid)
        check_fit(manager)
        self.data = self._record()
        self.store = store
        self.pid = self.relay_fd = self.ns = self.init_chan = None
        self.hooks_began = False
        self.fds = []

    def _record(self):
        """The state record, saved before anything is made."""
        config, linux, manager = self.config, self.linux, self.manager
        data = {
            "ociVersion": config.get("ociVersion", SPEC_VERSION), "id": self.cid, "status": st.CREATING,
            "bundle": self.bundle, "rootfs": self.rootfs, "created": now_rfc3339(), "owner": "",
            "annotations": config.get("annotations") or {}, "hooks": config.get("hooks") or {},
            # The directories create() is about to make are recorded before it
            # runs: delete --force after a SIGKILLed create then removes them.
            "cgroup": manager.paths and dict(manager.to_dict(), created=missing_cgroup_dirs(manager)) or None,
            "pidns": has_new_namespace(linux, "pid"),
        }
        if not any(n.get("type") == "mount" for n in linux.get("namespaces") or ()):
            # The init mounts on the host: what is there now stays (hostmounts.py).
            from ocirun import hostmounts

            data["hostMounts"] = hostmounts.snapshot(self.rootfs)
        return data

    def run(self):
        self.container, lock = self.store.new(self.cid, self.data)
        try:
            plan = self._prepare()
            self._spawn(plan, lock)
            self._serve()
            self.data["status"] = st.CREATED
            self.container.save()
            if self.opts.get("pid-file"):
                spawn.write_pid_file(self.opts["pid-file"], self.pid)
        except BaseException:
            if self.relay_fd is not None:
                os.close(self.relay_fd)
            abort(self.container, self.manager, self.pid, self.hooks_began, self.logger)
            raise
        finally:
            for fd in self.fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            if self.init_chan is not None:
                self.init_chan.close()
            if self.ns is not None:
                self.ns.close()
            os.close(lock)
        self.container.relay_fd = self.relay_fd
        return self.container

    def _prepare(self):
        """Every fd the init takes, the cgroup, the saved config: the Plan."""
        from ocirun import fastjson as json
        from ocirun import initproc, namespaces

        config, linux, fds = self.config, self.linux, self.fds
        fifo = os.path.join(self.container.dir, st.FIFO)
        os.mkfifo(fifo, 0o600)
        fifo_fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
        fds.append(fifo_fd)
        exec_fd, console_fd, self.relay_fd = spawn.open_process_fds(
            self.proc, self.sec, self.opts.get("console-socket"), self.opts.get("_relay"), OciError, fds)
        ns = self.ns = namespaces.NamespaceSet(linux.get("namespaces"), self.ops)
        late_pid = namespaces.late_pid_option(ns)
        idmap_fds = _idmap_fds(config, linux, self.bundle, fds, self.ops)
        # With a user namespace, bind sources and device nodes are prepared
        # as host root (rootless: nobody can; the init binds by path).
        staged = ns.has("user") and self.rootless is None
        bind_fds = _bind_source_fds(config, self.bundle, fds, idmap_fds) if staged else {}
        dev_fds = {}
        if staged and not initproc.dev_bound(config.get("mounts") or []):
            from ocirun import rootfs

            dev_fds = rootfs.staged_devices(linux.get("devices") or [], _to_host(linux.get("uidMappings")),
                                            _to_host(linux.get("gidMappings")), self.ops)
            fds += dev_fds.values()
        manager = self.manager
        manager.create()
        self.data["cgroup"] = manager.to_dict()
        check_fit(manager)  # made under a frozen parent: the init would hang
        self.container.save()
        # exec and update read the config from here (the bundle may change).
        st.write_atomic(os.path.join(self.container.dir, "config.json"), json.dumps(self.saved_config).encode())
        data, h = self.data, config.get("hooks") or {}
        hook_state = {"ociVersion": data["ociVersion"], "id": self.cid, "status": st.CREATING,
                      "pid": 0, "bundle": self.bundle, "annotations": data["annotations"]}
        rootless = self.rootless
        return spawn.Plan(
            config=config, proc=self.proc, state=hook_state, security=self.sec, exec_fd=exec_fd,
            console_fd=console_fd, console_mount=True, preserve_fds=self.preserve,
            setgroups_deny=rootless is not None and rootless.deny_setgroups(linux.get("gidMappings") or []),
            id=self.cid, bundle=self.bundle, rootfs=self.rootfs, ns=ns, fifo_fd=fifo_fd,
            no_pivot=bool(self.opts.get("no-pivot")), no_new_keyring=bool(self.opts.get("no-new-keyring")),
            # the "hooks" stop is also where linux.netDevices are moved in
            runtime_hooks=bool(h.get("prestart") or h.get("createRuntime") or linux.get("netDevices")),
            mount_ctx={"cgroup_mounts": cgroup_mounts(getattr(manager, "view", manager)),
                       "cgroupns": ns.has_new("cgroup"), "idmap_fds": idmap_fds, "bind_fds": bind_fds,
                       "dev_fds": dev_fds, "mount_label": linux.get("mountLabel"), "proc_pidns": late_pid},
            late_pid=late_pid is not None,
            bind_devices=rootless is not None,  # mknod needs the host's root (runc: rootless binds)
            run_hooks=_container_hooks(h), ops=self.ops,
        )

    def _spawn(self, plan, lock):
        """Fork the init (through stage 1 with a user namespace), put it in
        its cgroup with its limits, record its pid, and tell it to go."""
        from ocirun import sync

        ns, linux, rootless = plan.ns, self.linux, self.rootless
        # Before the fork, as every import: after it, each is ~1 ms dearer
        # (copy-on-write of the pages it writes, while the init lives on).
        from ocirun.cgroups.defaults import with_default_devices

        resources = with_default_devices(linux.get("resources"), linux.get("devices"))
        self.manager.preload()
        self.init_chan, init_child = sync.pair("container init")
        close_in_child = (lock, self.init_chan.rfd, self.init_chan.wfd, self.relay_fd)
        # Root in a user namespace (rootless podman) cannot setns back to its
        # own pid namespace after creating one: an intermediate forks the init.
        staged = ns.has("user") or (rootless is not None and os.geteuid() == 0)
        try:
            if staged:
                pid = self._spawn_staged(plan, init_child, close_in_child)
            else:
                pid = _fork_init(ns, plan, init_child, close_in_child, skip=("pid",) if plan.late_pid else ())
                self.pid = pid
        finally:
            init_child.close()
        # Recorded at once: delete --force after a SIGKILLed create finds the init.
        self._record_pid(pid)
        if not staged:
            self.manager.apply(pid)
        for w in self.manager.set(resources) or ():
            self.logger.warning(w)
        spawn.set_oom_score_adj(pid, self.proc)
        plan.state["pid"] = pid
        self.init_chan.send(sync.GO, pid=pid)
        self.plan = plan

    def _spawn_staged(self, plan, init_child, close_in_child):
        from ocirun import initproc, sync, userns

        chan, child = sync.pair("container init (stage 1)", "container init exited unexpectedly")
        try:
            stage1 = spawn.fork(lambda: userns.stage1(plan, child, init_child, initproc.main),
                                close_in_child + (chan.rfd, chan.wfd))
            child.close()
            self.manager.apply(stage1)
            self.pid = _run_stage1(chan, stage1, plan.ns, self.linux, self.rootless)
            return self.pid
        finally:
            child.close()
            chan.close()

    def _record_pid(self, pid):
        self.pid = self.data["pid"] = pid
        self.data["pidStartTime"] = st.proc_start_time(pid)
        self.container.save()

    def _serve(self):
        """Answer the init until it is ready: hooks (once, if it has any),
        pid (once, if it joins a pid namespace late), ready."""
        from ocirun import sync

        plan, chan, h = self.plan, self.init_chan, self.config.get("hooks") or {}
        hook_state = plan.state
        wanted = {sync.READY} | ({sync.HOOKS} if plan.runtime_hooks else set()) \
            | ({sync.PID} if plan.late_pid else set())
        while True:
            try:
                msg = chan.expect(*sorted(wanted), logger=self.logger)
            except sync.RemoteError as e:
                # A createContainer hook failed: poststop still runs (runtime.md#lifecycle step 5).
                self.hooks_began = self.hooks_began or e.hook
                raise
            wanted.discard(msg["t"])
            if msg["t"] == sync.READY:
                return
            if msg["t"] == sync.HOOKS:
                if self.linux.get("netDevices"):
                    from ocirun import netdev

                    netdev.move_all(self.linux["netDevices"], self.pid)
                self.hooks_began = True
                from ocirun import hooks

                hooks.run_hooks(h.get("prestart") or [], hook_state, "prestart")
                hooks.run_hooks(h.get("createRuntime") or [], hook_state, "createRuntime")
                chan.send(sync.HOOKS_DONE)
            else:
                # The init forked into a joined pid namespace (initproc.enter_pid_late).
                spawn.reap(self.pid)  # the init's first process: ours, or ours as a subreaper
                self._record_pid(msg["pid"])
                hook_state["pid"] = self.pid
                chan.send(sync.GO, pid=self.pid)


def _container_hooks(h):
    """hooks.run_hooks for the init if it has hooks to run in the container
    (createContainer, startContainer), else None: hooks.py (with select and
    the signal table) is then never loaded."""
    if not (h.get("createContainer") or h.get("startContainer")):
        return None
    from ocirun import hooks

    return hooks.run_hooks


def _import_for_init(proc):
    """Everything the init will use, imported now: it can import nothing
    (hooks: see _container_hooks)."""
    from ocirun import fastjson as json  # noqa: F401
    from ocirun import capabilities, cgroups, childproc, initproc, lsm, namespaces, sync  # noqa: F401
    import _socket  # noqa: F401 - initproc.loopback_up uses it
    import fcntl  # noqa: F401
    if proc.get("terminal"):
        import socket  # noqa: F401 - childproc.setup_terminal
        import struct  # noqa: F401


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
        if int(os.getenv("LISTEN_PID", "")) != os.getpid():
            return 0
        return max(0, int(os.getenv("LISTEN_FDS", "")))
    except ValueError:
        return 0


def _idmap_fds(config, linux, bundle, fds, ops=REAL):
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
            out[i] = rootfs.idmapped_tree(src, ns_fd, spec, ops)
        except OSError as e:
            raise OciError(f"mounts[{i}]: {os_error('idmap mount', e, src)}") from None
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
                           f"{describe(e)}") from None
        fds.append(out[i])
    return out


def spec_warner(logger):
    def warn(path, message):
        # One line per problem: capabilities.masks reports the capability
        # entries itself (it also knows which ones this kernel lacks).
        if not path.startswith("process.capabilities."):
            logger.warning(f"config.json: {path}: {message}" if path else f"config.json: {message}")
    return warn


def missing_cgroup_dirs(manager):
    """The cgroup directories (with missing parents, top first) that do not exist yet."""
    out = []
    for d in manager.paths.values():
        chain = []
        while not os.path.isdir(d) and os.path.dirname(d) != d:
            chain.append(d)
            d = os.path.dirname(d)
        out.extend(x for x in reversed(chain) if x not in out)
    return out


def has_new_namespace(linux, t):
    """Does the config create (not join) a namespace of type t?"""
    return any(n.get("type") == t and not n.get("path") for n in linux.get("namespaces") or ())


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
        from ocirun import initproc

        return spawn.fork(lambda: initproc.main(plan, init_chan), close_in_child + tuple(restore.values()))
    finally:
        if restore:
            from ocirun import syscalls as sc

            for t, fd in restore.items():
                sc.setns(fd, namespaces.FLAGS[t])
                os.close(fd)


def _run_stage1(chan, stage1, ns, linux, rootless=None):
    """Serve the intermediate (userns.stage1): write the maps, learn the init's pid."""
    from ocirun import sync, userns

    try:
        chan.expect(sync.MAPS)
        if ns.has_new("user"):
            # A user's maps may need newuidmap/newgidmap (rootless.py).
            write = rootless.write_maps if rootless and os.geteuid() != 0 else userns.write_maps
            write(stage1, linux.get("uidMappings") or [], linux.get("gidMappings") or [])
        chan.send(sync.MAPS_DONE)
        return chan.expect(sync.PID)["pid"]
    except BaseException:
        os.kill(stage1, 9)  # it waits for maps-done: never reap it blocked
        raise
    finally:
        os.waitpid(stage1, 0)


def abort(container, manager, pid, hooks_began, logger):
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
    from ocirun.container.delete import release_host_mounts

    release_host_mounts(container.data, logger)
    st.remove_dir(container.dir)
    if hooks_began:
        from ocirun import hooks

        state = container.spec_state()
        state["status"] = st.STOPPED
        hooks.run_hooks(container.data.get("hooks", {}).get("poststop") or [], state, "poststop")
